/* checkpoint: saving and loading a model with its vocabulary, its optimiser state and, from
 * version 2 on, its learning-rate schedule and loss history.
 *
 * File format, version 2 (version 1 is the same without the sections). Every number is
 * little-endian; "i32" is a signed 32-bit integer, "u32", "u64", "i64" likewise, "f32" and "f64"
 * IEEE-754 singles and doubles.
 *
 *   offset  size        field
 *   0       8           magic: the bytes "LLMNBCKP"
 *   8       u32         version: 2 (1 is still read)
 *   12      11 x i32    configuration: vocab, d_model, heads, d_ff, layers, max_len,
 *                       causal (0/1), norm (0 post, 1 pre), pos (0 sinusoidal, 1 learned),
 *                       act (0 ReLU, 1 GELU), tied (0/1)
 *   56      i32         token level: 0 characters, 1 words, 2 byte-level BPE (section "BPEM")
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
 *   ...     sections    version 2 only: zero or more, each a 4-byte ASCII tag, a u64 length n and
 *                       n bytes. A tag that starts with a capital letter is required: a reader that
 *                       does not know it refuses the file; a lower-case one is optional and skipped
 *                       by a reader that does not know it. A tag appears at most once. Known:
 *                       "schd" (40 bytes): the learning-rate schedule the run trains with:
 *                           f64 peak rate, i64 warm-up steps, i64 total steps (where the cosine
 *                           reaches its final rate), f64 gradient clipping norm, f64 the final
 *                           rate (0 .. the peak; a tenth of it unless --lr-end says otherwise);
 *                       "loss" (20 + 24 n bytes): the loss history, u32 n, then n points of
 *                           i64 step, f64 training loss, f64 validation loss (nats per token),
 *                           steps increasing, none beyond the steps done; then the steps after
 *                           the last point: f64 their summed training loss, i64 their count (so
 *                           that a resumed run's next point averages the same steps).
 *                       "BPEM" (required, token level 2 only): the BPE merges, bpe_serialise's
 *                           text (common/bpe.h); the vocabulary's ids 3 .. 3 + V - 1 must be
 *                           bpe_token_name of the V tokens they make (entries after them, such as
 *                           [MASK], are the chapter's); the parsed merges are kept in vocab.bpe.
 *                       A new kind of data is a new tag: older files still load, and an older
 *                       program refuses a file it cannot use correctly.
 *   ...     u64         checksum: FNV-1a (64-bit) of every byte before it
 *
 * Saving writes a fresh "FILE.tmp-XXXXXX" (util_write_file), flushes it to the disk, then renames
 * it over FILE: a crash in the middle leaves the previous checkpoint whole, and a leftover
 * temporary file is recognisable by its name. Loading reads only a regular file
 * (util_read_file) and checks the size, magic, version, checksum, configuration (each size within
 * what a chapter trains), vocabulary, parameter count, every parameter and moment finite (naming
 * the tensor otherwise), AdamW's step and the steps done within 0..CHECKPOINT_MAX_STEPS, and the
 * sections; it exits with status 1 and one line naming the problem on any of them. */
#ifndef CHECKPOINT_H
#define CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "corpus.h"
#include "model.h"
#include "optim.h"
#include "train.h"

#define CHECKPOINT_VERSION 2

/* The largest configuration a checkpoint may hold: the largest any chapter's flags can make. A
 * file asking for more is a bad file, not a reason to allocate gigabytes. */
enum {
    CHECKPOINT_MAX_VOCAB = 10000000,
    CHECKPOINT_MAX_D_MODEL = 2048,
    CHECKPOINT_MAX_HEADS = 64,
    CHECKPOINT_MAX_D_FF = 16384,
    CHECKPOINT_MAX_LAYERS = 64,
    CHECKPOINT_MAX_LEN = 4096,
    CHECKPOINT_MAX_STEPS = 1000000000
};

/* One row of the loss table: the mean training loss since the previous row, and the validation
 * loss, after `step` steps (step 0: at initialisation). */
typedef struct {
    long step;
    double train, val;
} LossPoint;

typedef struct {
    long steps_done;
    Rng data_rng;
    bool has_schedule;  /* false for a version 1 file and for a model saved without training */
    Schedule schedule;  /* steps = the total the cosine decays over, warmup, lr = the peak, clip */
    LossPoint *history; /* n_history points; when saving the caller's, when loaded the checkpoint's */
    int n_history;
    double running_loss; /* the training losses of the steps after the last point, summed */
    long running_steps;  /* and how many they are */
} TrainState;

/* Write model (parameters), vocab, level, optimiser and training state to path, atomically. opt may
 * be NULL (no moments yet: zeros are written), ts too (no training: no sections). Exits with
 * status 1 if the file cannot be written. */
void checkpoint_save(const char *path, const Model *m, const Vocab *vocab, TokenLevel level, const AdamW *opt,
                     const TrainState *ts);

/* Read path: fills cfg, vocab (initialised here), level, and the parameter and optimiser arrays
 * (allocated here, n_params floats each: params, adam_m, adam_v), the AdamW step and the training
 * state (its history allocated here). Exits with status 1 and a clear message on any problem. */
typedef struct {
    unsigned version;
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
/* The bytes checkpoint_save writes (allocated here; *len set), for tests and tools. */
unsigned char *checkpoint_serialize(const Model *m, const Vocab *vocab, TokenLevel level, const AdamW *opt,
                                    const TrainState *ts, size_t *len);
/* FNV-1a (64-bit) of n bytes: the checksum stored at the end of every checkpoint. */
uint64_t checkpoint_checksum(const unsigned char *p, size_t n);
void checkpoint_free(Checkpoint *ck);

/* The learning-rate schedule a run that loaded ck trains with, and the step it stops at in *stop.
 * flags: the schedule the command line describes (steps = --steps); opts: the chapter's options,
 * to see which flags were given. With a stored schedule (version 2): --lr, --warmup and --clip
 * given with other values than the stored ones are a usage error (exit 2); without --steps the run
 * goes on to the stored total; the stored schedule continues exactly, beyond its total at its
 * final rate. Without one (version 1, or a model saved untrained): the flags' schedule. note
 * receives what the chapter should print about it (lines ending in '\n', or nothing). */
Schedule checkpoint_schedule(const Checkpoint *ck, const char *path, Schedule flags, const CliOption *opts, int n_opts,
                             long *stop, char *note, size_t note_size);

#endif
