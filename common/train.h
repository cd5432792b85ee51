/* train: one optimisation step of a model, shared by the pre-training chapters.
 *
 *   forward with targets -> loss;  backward;  clip the gradients to a global norm;
 *   AdamW on every tensor, with weight decay on the blocks' matrices and an untied head only (not on
 *   the embeddings, gains or biases), at the scheduled learning rate (linear warm-up, then a cosine down to lr_min: a tenth of the peak
 *   unless --lr-end says otherwise). */
#ifndef TRAIN_H
#define TRAIN_H

#include "model.h"
#include "optim.h"

typedef struct {
    long steps, warmup; /* the cosine reaches its end at step `steps`, after `warmup` steps of warm-up */
    double lr, clip;    /* the peak rate, and the largest global gradient norm */
    double lr_min;      /* the rate the cosine ends at (0 .. lr; --lr-end times lr, a tenth by default) */
} Schedule;

/* Step number `step` (1-based) on B sequences of T tokens; returns the loss before the update.
 * Exits with status 1 and a message naming the step if the loss is not finite, or naming the step
 * and the first tensor whose gradient is not, before any parameter changes. */
double train_step(Model *m, AdamW *opt, const int *ids, const int *targets, int B, int T, long step, const Schedule *s);

/* What one step did, for a reader: the loss before the update, the gradient's global norm before
 * clipping (after it, the norm is min(grad_norm, clip)) and the learning rate the schedule gave. */
typedef struct {
    double loss, grad_norm, lr;
} StepReport;
/* train_step, also filling *r (which may be NULL). After it m->grad_mem holds the clipped gradient. */
double train_step_report(Model *m, AdamW *opt, const int *ids, const int *targets, int B, int T, long step,
                         const Schedule *s, StepReport *r);

/* The masked-LM corruption (chapter 11): each position is chosen with probability `rate` (</s>
 * never); a chosen one becomes mask_id with probability 0.8, a random real token (ids 3 .. V-2,
 * not <unk>, <s>, </s> or [MASK]) with 0.1, and stays with 0.1. kind[i] records 0 (not chosen),
 * 1 ([MASK]), 2 (random), 3 (unchanged); targets[i] is the original token where chosen (every
 * position when all_positions: the denoising variant), -1 elsewhere. */
enum { MLM_KEEP = 0, MLM_MASK = 1, MLM_RANDOM = 2, MLM_SAME = 3 };
void mlm_corrupt(int *ids, int *targets, int *kind, int n, double rate, int mask_id, int V, bool all_positions, Rng *rng);

#endif
