/* classifier: a head that turns the model into a sequence classifier (fine-tuning, chapter 12),
 * source document §2.4.
 *
 *   h = the final hidden state of the last position (POOL_LAST: what a causal model has read
 *       everything by) or the mean over all positions (POOL_MEAN: for a bidirectional model)
 *   p = softmax(h W + b)           (1, C) x (C, K) -> (1, K);  loss = -ln p[label]
 *
 * The head's W and b are the caller's (a Head of tensors it allocates and frees); the body is a
 * Model (model.h), run on one sequence at a time. */
#ifndef CLASSIFIER_H
#define CLASSIFIER_H

#include "model.h"

typedef enum { POOL_LAST, POOL_MEAN } Pooling;

typedef struct {
    Tensor W, b; /* (C, K), (1, K) */
} Head;

/* One sequence ids[0..T) through the model and the head: fills probs (K), returns -ln probs[label]
 * (0 when label is -1). */
double classify_forward(Model *m, const Head *h, const int *ids, int T, Pooling pool, int label, float *probs);
/* After classify_forward: adds dL/dW, dL/db into g and, unless frozen, the body's gradients into
 * m->grads. */
void classify_backward(Model *m, const Head *h, Head *g, Pooling pool, int label, const float *probs, bool frozen);

#endif
