/* attention: masks and single-head attention (see attention.h). */
#include "attention.h"

#include <math.h>

#include "util.h"

void attention_mask(Tensor *M, MaskKind kind) {
    CHECK(M->rows == M->cols, "a mask is square, got (%d, %d)", M->rows, M->cols);
    for (int i = 0; i < M->rows; i++)
        for (int j = 0; j < M->cols; j++) {
            bool hidden = kind == MASK_CAUSAL ? j > i : i > j;
            *tensor_at(M, i, j) = hidden ? -INFINITY : 0.0f;
        }
}

SoftmaxStatus attention_forward(Tensor *out, Tensor *scores, Tensor *weights, const Tensor *Q,
                                const Tensor *K, const Tensor *V, const Tensor *mask, int *bad_row) {
    CHECK(Q->cols == K->cols && K->rows == V->rows, "attention: Q (%d, %d), K (%d, %d), V (%d, %d)",
          Q->rows, Q->cols, K->rows, K->cols, V->rows, V->cols);
    tensor_matmul(scores, Q, false, K, true);                     /* (T, d_k) x (d_k, T) -> (T, T) */
    tensor_scale(scores, scores, 1.0f / sqrtf((float)Q->cols));   /* S / sqrt(d_k) */
    if (mask) tensor_add(scores, scores, mask);                   /* + M: hidden entries become -inf */
    SoftmaxStatus st = tensor_softmax_rows(weights, scores, bad_row); /* (T, T) */
    tensor_matmul(out, weights, false, V, false);                 /* (T, T) x (T, d_v) -> (T, d_v) */
    return st;
}
