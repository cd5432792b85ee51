/* train: one optimisation step of a model, shared by the pre-training chapters.
 *
 *   forward with targets -> loss;  backward;  clip the gradients to a global norm;
 *   AdamW on every tensor, with weight decay on matrices only, at the scheduled learning rate
 *   (linear warm-up, then a cosine down to a tenth of the peak). */
#ifndef TRAIN_H
#define TRAIN_H

#include "model.h"
#include "optim.h"

typedef struct {
    long steps, warmup;
    double lr, clip;
} Schedule;

/* Step number `step` (1-based) on B sequences of T tokens; returns the loss before the update.
 * Exits with status 1 and a message naming the step if the loss is not finite. */
double train_step(Model *m, AdamW *opt, const int *ids, const int *targets, int B, int T, long step, const Schedule *s);

#endif
