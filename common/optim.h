/* optim: AdamW (Loshchilov & Hutter), the optimiser of every training chapter.
 *
 * For each parameter p with gradient g, at step t = 1, 2, ...:
 *   m = b1 m + (1 - b1) g            first moment (a running mean of the gradient)
 *   v = b2 v + (1 - b2) g^2          second moment (a running mean of its square)
 *   mhat = m / (1 - b1^t),  vhat = v / (1 - b2^t)      bias correction: m and v start at 0
 *   p -= lr (mhat / (sqrt(vhat) + eps) + wd p)          weight decay decoupled from the gradient,
 *                                                       applied only where `decay` is set        */
#ifndef OPTIM_H
#define OPTIM_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    float beta1, beta2, eps, weight_decay;
    long step;        /* t, incremented by adamw_begin_step */
    float *m, *v;     /* one entry per parameter */
    size_t n;
} AdamW;

void adamw_init(AdamW *o, size_t n, float beta1, float beta2, float eps, float weight_decay);
void adamw_free(AdamW *o);
/* Start step t + 1 (the bias corrections use it). */
void adamw_begin_step(AdamW *o);
/* Update params[0..count) from grads; `offset` is their position in the optimiser's state. */
void adamw_update(AdamW *o, float *params, const float *grads, size_t offset, size_t count, float lr, bool decay);
/* One tensor's part of an update: count parameters and their gradients, at `offset` in the
 * optimiser's state, with weight decay or without. */
typedef struct {
    float *params;
    const float *grads;
    size_t offset, count;
    bool decay;
} AdamSegment;
/* adamw_update over n segments (a model's tensors, each with its own decay) in one parallel region:
 * each thread takes its share of every segment, so that small tensors do not run on one thread
 * while the others wait. Every value is updated alone, so the split changes no bit. */
void adamw_update_segments(AdamW *o, const AdamSegment *seg, int n, float lr);

/* The global L2 norm of a gradient array, and scaling it down to at most max_norm (clipping).
 * Returns the norm before clipping. */
double grad_clip(float *grads, size_t n, double max_norm);

/* Learning rate at a step: linear warm-up over `warmup` steps, then cosine decay to lr_min at
 * `total`. */
float lr_schedule(long step, long warmup, long total, float lr_max, float lr_min);

#endif
