/* dataset: the corpus every training chapter starts from, loaded the same way everywhere, so that
 * chapter 1's n-grams, chapter 2's neural model and chapter 10's GPT are compared on the same
 * tokens: the synthetic language (default) or a UTF-8 file, the train/validation split, the
 * vocabulary, the encoded token streams, and, on the synthetic language, the true entropy floor. */
#ifndef DATASET_H
#define DATASET_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "corpus.h"
#include "synth.h"

typedef struct {
    const char *corpus_path; /* --corpus, NULL for the synthetic language */
    const char *val_path;    /* --val-file */
    int level;               /* --level: LEVEL_CHAR, LEVEL_WORD or LEVEL_BPE */
    long long lines;         /* --lines: synthetic lines to generate */
    long long vocab_size;    /* --vocab-size: BPE tokens to train (256 bytes + merges), LEVEL_BPE only */
    const Bpe *merges;       /* not a flag: a checkpoint's merges, used instead of training (--load) */
} DatasetFlags;

enum { DATASET_N_OPTIONS = 5, DATASET_BPE_VOCAB = 512 };
DatasetFlags dataset_flags_default(void);
int dataset_cli_options(CliOption out[DATASET_N_OPTIONS], DatasetFlags *f);
/* After parsing: exit 2 when --vocab-size is given without --level bpe. */
void dataset_check_flags(const DatasetFlags *f, const CliOption *opts, int n_opts);
/* --load: the level a checkpoint was trained at (exit 2 when --level says another, or --vocab-size
 * another BPE size), and at the BPE level its merges (v->bpe, which must outlive the dataset's
 * loading) to encode the text with instead of training new ones. */
void dataset_flags_from_checkpoint(DatasetFlags *f, const CliOption *opts, int n_opts, TokenLevel level, const Vocab *v,
                                   const char *path);

typedef struct {
    bool synthetic;
    SynthCorpus synth;
    Lines all, val_file;
    char **train_lines, **val_lines; /* pointers into all / val_file */
    int n_train, n_val;
    bool split_arrays;               /* train_lines and val_lines were allocated by the split */
    int *val_synth_index;            /* validation line -> synthetic line (synthetic split only) */
    TokenLevel level;
    Vocab vocab;
    TokenStream train, val;
    double floor_nats;               /* true cross-entropy per validation token; NAN if unknown */
    long *val_line_start;            /* n_val + 1 offsets into val: line i is [start[i], start[i+1]) */
} Dataset;

/* Load or generate, split and encode, printing what was done to out. With `grammar`, the synthetic
 * language's full grammar is printed too. At the BPE level the merges are trained on the training
 * lines (each line a chunk) to f->vocab_size tokens, or taken from f->merges. Exits with status 1
 * on a bad file (see corpus.h). */
void dataset_load(Dataset *d, const DatasetFlags *f, uint64_t seed, bool grammar, FILE *out);
void dataset_free(Dataset *d);
/* The BPE level's vocabulary (vocab_init_bpe): f->merges when given, else merges trained on the
 * lines (each line a chunk, so no token spans a line end) to f->vocab_size tokens; says which. */
void dataset_bpe_vocab(Vocab *v, char *const *lines, int n, const DatasetFlags *f, FILE *out);
const char *level_name(int level);
/* Bytes of the validation text, one per line end included: what bits per byte divide by. */
double dataset_val_bytes(const Dataset *d);
/* Bits per byte of a loss of `nats` per validation token: the validation text's total nats over
 * its bytes, in base 2; the yardstick that compares token levels fairly. */
double dataset_bits_per_byte(const Dataset *d, double nats);

/* ==== the long-range agreement of the synthetic language, as a test of models ====
 * On validation line i, the closer's first token stands at position pos (counted from the line's
 * first token); the gap is the distance from the last token that reveals the class (the marker's
 * second letter at the char level, the marker word at the word level) to it. A model of order n
 * can see the class exactly when gap <= n - 1. Gaps are reported in the bins below. */
enum { GAP_BINS = 12 };
int gap_bin(int gap);
void gap_label(int bin, char *buf, size_t size);
double gap_center(int bin); /* an x position for plots */
/* Whether the closers can be found by token position: the synthetic split at the char or word level
 * (a BPE token may hold part of a marker or a closer with its neighbours). */
bool dataset_has_closers(const Dataset *d);
/* Position of the closer in validation line i and its gap; false without dataset_has_closers. */
bool dataset_closer(const Dataset *d, int val_line, int *pos, int *gap);
/* The token ids of the four possible closers (letters or words, by level), in class order. Exits
 * with status 1 if one never occurs in training. */
void dataset_closer_ids(const Dataset *d, int ids[SYNTH_CLASSES]);

#endif
