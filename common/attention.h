/* attention: the mask and single-head scaled dot-product attention (source document §3.1, §4.1,
 * §4.2). Multi-head attention with its backward pass builds on this in a later chapter. */
#ifndef ATTENTION_H
#define ATTENTION_H

#include "tensor.h"

typedef enum {
    MASK_CAUSAL,        /* M[i][j] = -inf where j > i: query i sees keys 0..i (the correct mask) */
    MASK_SOURCE_ERRATUM /* M[i][j] = -inf where i > j: the formula printed in §4.2, the transpose */
} MaskKind;

/* Fill M (T, T) with 0 where query i may look at key j and -inf where it may not. */
void attention_mask(Tensor *M, MaskKind kind);

/* Single-head attention, keeping its intermediate matrices for the reader:
 *   scores  = Q K^T / sqrt(d_k) (+ M)    (T, d_k) x (d_k, T) -> (T, T)
 *   weights = softmax(scores) by rows    (T, T), each row sums to 1
 *   out     = weights V                  (T, T) x (T, d_v) -> (T, d_v)
 * mask may be NULL (every query sees every key). Adding M after the scaling gives the same bits as
 * the source's (Q K^T + M) / sqrt(d_k), because M holds only 0 and -inf. Returns the softmax status:
 * anything but SOFTMAX_OK means some row had nothing to look at (*bad_row says which). */
SoftmaxStatus attention_forward(Tensor *out, Tensor *scores, Tensor *weights, const Tensor *Q,
                                const Tensor *K, const Tensor *V, const Tensor *mask, int *bad_row);

#endif
