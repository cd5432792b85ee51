/* checkpoint: saving and loading a model with its vocabulary and its optimiser state.
 *
 * File format, version 1. Every number is little-endian; "i32" is a signed 32-bit integer, "u32",
 * "u64", "i64" likewise, "f32" an IEEE-754 single.
 *
 *   offset  size        field
 *   0       8           magic: the bytes "LLMNBCKP"
 *   8       u32         version: 1
 *   12      11 x i32    configuration: vocab, d_model, heads, d_ff, layers, max_len,
 *                       causal (0/1), norm (0 post, 1 pre), pos (0 sinusoidal, 1 learned),
 *                       act (0 ReLU, 1 GELU), tied (0/1)
 *   56      i32         token level: 0 characters, 1 words
 *   60      i32         n_words, the vocabulary size (= vocab above)
 *   64      ...         n_words entries: u32 byte length, then the word's UTF-8 bytes (id order;
 *                       ids 0, 1, 2 are "<unk>", "<s>", "</s>")
 *   ...     u64         n_params
 *   ...     n_params f32    the parameters, tensor after tensor in this order: wte (V x C);
 *                       wpe (max_len x C, learned positions only); for each block 0..L-1:
 *                       ln1.g, ln1.b (C), attn.Wq, Wk, Wv, Wo (C x C), attn.bq, bk, bv, bo (C),
 *                       ln2.g, ln2.b (C), ffn.W1 (C x d_ff), ffn.b1 (d_ff), ffn.W2 (d_ff x C),
 *                       ffn.b2 (C); lnf.g, lnf.b (C, pre-norm only); lm_head (C x V, untied only).
 *                       Matrices row by row; a matrix (in x out) maps x -> x W.
 *   ...     i64         AdamW's step count t (0: never trained)
 *   ...     i64         training steps done
 *   ...     2 x u64     the training data sampler's generator state (PCG32 state, increment)
 *   ...     n_params f32    AdamW's first moments m, same order as the parameters
 *   ...     n_params f32    AdamW's second moments v
 *   ...     u64         checksum: FNV-1a (64-bit) of every byte before it
 *
 * Saving writes FILE.tmp, flushes it to the disk, then renames it over FILE: a crash in the middle
 * leaves the previous checkpoint whole. Loading checks the size, magic, version, configuration,
 * vocabulary, parameter count and checksum, and exits with status 1 and one line naming the
 * problem on any mismatch. */
#ifndef CHECKPOINT_H
#define CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corpus.h"
#include "model.h"
#include "optim.h"

#define CHECKPOINT_VERSION 1

typedef struct {
    long steps_done;
    Rng data_rng;
} TrainState;

/* Write model (parameters), vocab, level, optimiser and training state to path, atomically. opt may
 * be NULL (no moments yet: zeros are written). Exits with status 1 if the file cannot be written. */
void checkpoint_save(const char *path, const Model *m, const Vocab *vocab, TokenLevel level, const AdamW *opt,
                     const TrainState *ts);

/* Read path: fills cfg, vocab (initialised here), level, and the parameter and optimiser arrays
 * (allocated here, n_params floats each: params, adam_m, adam_v), the AdamW step and the training
 * state. Exits with status 1 and a clear message on any problem. */
typedef struct {
    ModelConfig cfg;
    Vocab vocab;
    TokenLevel level;
    size_t n_params;
    float *params, *adam_m, *adam_v;
    long adam_step;
    TrainState train;
} Checkpoint;

void checkpoint_load(Checkpoint *ck, const char *path);
/* The same checks on bytes in memory, without exiting: true and ck filled, or false with ck empty
 * and the problem in err (one line, without the file name). checkpoint_load is this plus the file. */
bool checkpoint_parse(Checkpoint *ck, const unsigned char *data, size_t len, char *err, size_t err_size);
/* FNV-1a (64-bit) of n bytes: the checksum stored at the end of every checkpoint. */
uint64_t checkpoint_checksum(const unsigned char *p, size_t n);
void checkpoint_free(Checkpoint *ck);

#endif
