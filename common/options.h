/* options: one table of the model and training flags, shared by the chapters that train a
 * Transformer (chapter 10's GPT, chapter 11's masked LM).
 *
 * A chapter keeps a ModelFlags and a TrainFlags, fills them with the defaults below (and changes
 * the ones it wants different), appends options_model() and options_train() to its own CliOption
 * table, parses, then turns the flags into a ModelConfig and a Schedule. When the model comes from
 * a checkpoint, options_check_checkpoint() refuses a size or architecture flag that disagrees with
 * it (exit 2, one line naming the flag). Nothing here allocates. */
#ifndef OPTIONS_H
#define OPTIONS_H

#include <stdbool.h>

#include "cli.h"
#include "model.h"
#include "train.h"

typedef struct {
    long long layers, heads, d_model, d_ff, context; /* --layers, --heads, --d-model, --d-ff (0: 4 d_model), --context */
    int norm, pos, act;                              /* --norm post|pre, --pos sin|learned, --act relu|gelu */
} ModelFlags;

typedef struct {
    long long batch, steps, warmup, eval_every;      /* --batch, --steps, --warmup, --eval-every */
    double lr, weight_decay, clip, lr_end;           /* --lr, --weight-decay, --clip, --lr-end */
} TrainFlags;

enum { OPTIONS_N_MODEL = 8, OPTIONS_N_TRAIN = 8 };

/* 2 blocks, 4 heads, d_model 64, d_ff 4 d_model, context 64, pre-norm, sinusoidal, GELU. */
ModelFlags options_model_defaults(void);
/* batch 16, 2500 steps, 100 warm-up, validation every 500, lr 3e-3, weight decay 0.1, clip 1. */
TrainFlags options_train_defaults(void);

/* Write the table entries into out (OPTIONS_N_MODEL / OPTIONS_N_TRAIN of them); returns how many. */
int options_model(CliOption *out, ModelFlags *f);
int options_train(CliOption *out, TrainFlags *f);

/* Whether the option `name` ("--heads") of a parsed table was given on the command line. */
bool options_given(const CliOption *opts, int n, const char *name);

/* Exit 2 naming --heads and --d-model when the heads do not divide the width. */
void options_check_heads(const ModelFlags *f);
/* The configuration the flags describe, for a vocabulary of `vocab` rows. */
ModelConfig options_config(const ModelFlags *f, int vocab, bool causal);
/* Exit 2 naming the first flag given in opts that disagrees with a checkpoint's configuration. */
void options_check_checkpoint(const ModelFlags *f, const CliOption *opts, int n, const ModelConfig *have,
                              const char *path);
/* The learning-rate schedule and clipping the flags describe. */
Schedule options_schedule(const TrainFlags *f);

#endif
