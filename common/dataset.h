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
    int level;               /* --level: LEVEL_CHAR or LEVEL_WORD */
    long long lines;         /* --lines: synthetic lines to generate */
    const Vocab *vocab;      /* not a flag: when set (a checkpoint's), both splits are encoded with
                                this vocabulary, which never grows; what it lacks becomes <unk> */
} DatasetFlags;

enum { DATASET_N_OPTIONS = 4 };
DatasetFlags dataset_flags_default(void);
int dataset_cli_options(CliOption out[DATASET_N_OPTIONS], DatasetFlags *f);

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
 * language's full grammar is printed too. Exits with status 1 on a bad file (see corpus.h). */
void dataset_load(Dataset *d, const DatasetFlags *f, uint64_t seed, bool grammar, FILE *out);
void dataset_free(Dataset *d);
const char *level_name(int level);

/* ==== the long-range agreement of the synthetic language, as a test of models ====
 * On validation line i, the closer's first token stands at position pos (counted from the line's
 * first token); the gap is the distance from the last token that reveals the class (the marker's
 * second letter at the char level, the marker word at the word level) to it. A model of order n
 * can see the class exactly when gap <= n - 1. Gaps are reported in the bins below. */
enum { GAP_BINS = 12 };
int gap_bin(int gap);
void gap_label(int bin, char *buf, size_t size);
double gap_center(int bin); /* an x position for plots */
/* Position of the closer in validation line i and its gap; false without the synthetic split. */
bool dataset_closer(const Dataset *d, int val_line, int *pos, int *gap);
/* The token ids of the four possible closers (letters or words, by level), in class order. Exits
 * with status 1 if one never occurs in training. */
void dataset_closer_ids(const Dataset *d, int ids[SYNTH_CLASSES]);

#endif
