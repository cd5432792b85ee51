/* tensor: the matrix type and its operations (see tensor.h). */
#include "tensor.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ==== allocation and views ==== */

Tensor tensor_new(int rows, int cols) {
    CHECK(rows >= 1 && cols >= 1, "tensor_new(%d, %d): sizes must be positive", rows, cols);
    Tensor t = {0};
    t.data = xcalloc((size_t)rows * (size_t)cols, sizeof(float));
    t.rows = rows;
    t.cols = cols;
    t.stride = cols;
    t.owner = true;
    return t;
}

Tensor arena_take(Arena *a, int rows, int cols) {
    if (!a) return tensor_new(rows, cols);
    CHECK(rows >= 1 && cols >= 1, "arena_take(%d, %d): sizes must be positive", rows, cols);
    Tensor t = {a->base ? a->base + a->used : NULL, rows, cols, cols, false};
    a->used += (size_t)rows * (size_t)cols;
    return t;
}

void tensor_free(Tensor *t) {
    if (!t) return;
    if (t->owner) free(t->data);
    memset(t, 0, sizeof *t);
}

Tensor tensor_view(const Tensor *t, int r0, int c0, int rows, int cols) {
    CHECK(r0 >= 0 && c0 >= 0 && rows >= 1 && cols >= 1 && r0 + rows <= t->rows &&
              c0 + cols <= t->cols,
          "view (%d, %d) at (%d, %d) does not fit in a (%d, %d) tensor", rows, cols, r0, c0,
          t->rows, t->cols);
    Tensor v = {tensor_at(t, r0, c0), rows, cols, t->stride, false};
    return v;
}

Tensor tensor_row(const Tensor *t, int r) { return tensor_view(t, r, 0, 1, t->cols); }

bool tensor_same_shape(const Tensor *a, const Tensor *b) {
    return a->rows == b->rows && a->cols == b->cols;
}

#define CHECK_SAME_SHAPE(a, b)                                                                    \
    CHECK(tensor_same_shape(a, b), "shape (%d, %d) does not match (%d, %d)", (a)->rows, (a)->cols, \
          (b)->rows, (b)->cols)

/* ==== elementwise ==== */

void tensor_fill(Tensor *t, float value) {
#pragma omp parallel for schedule(static) if (worth_threads((double)t->rows * t->cols))
    for (int r = 0; r < t->rows; r++) {
        float *row = tensor_at(t, r, 0);
        for (int c = 0; c < t->cols; c++) row[c] = value;
    }
}

void tensor_copy(Tensor *dst, const Tensor *src) {
    CHECK_SAME_SHAPE(dst, src);
#pragma omp parallel for schedule(static) if (worth_threads((double)dst->rows * dst->cols))
    for (int r = 0; r < dst->rows; r++)
        memmove(tensor_at(dst, r, 0), tensor_at(src, r, 0), (size_t)dst->cols * sizeof(float));
}

void tensor_add(Tensor *out, const Tensor *a, const Tensor *b) {
    CHECK_SAME_SHAPE(out, a);
    CHECK_SAME_SHAPE(out, b);
#pragma omp parallel for schedule(static) if (worth_threads((double)out->rows * out->cols))
    for (int r = 0; r < out->rows; r++) {
        float *o = tensor_at(out, r, 0);
        const float *x = tensor_at(a, r, 0), *y = tensor_at(b, r, 0);
        for (int c = 0; c < out->cols; c++) o[c] = x[c] + y[c];
    }
}

void tensor_scale(Tensor *out, const Tensor *a, float s) {
    CHECK_SAME_SHAPE(out, a);
#pragma omp parallel for schedule(static) if (worth_threads((double)out->rows * out->cols))
    for (int r = 0; r < out->rows; r++) {
        float *o = tensor_at(out, r, 0);
        const float *x = tensor_at(a, r, 0);
        for (int c = 0; c < out->cols; c++) o[c] = s * x[c];
    }
}

void tensor_randn(Tensor *t, Rng *rng, float stddev) {
    for (int r = 0; r < t->rows; r++)
        for (int c = 0; c < t->cols; c++) *tensor_at(t, r, c) = stddev * (float)rng_normal(rng);
}

/* ==== the matrix product, by its definition ====
 * C[i][j] = sum_k A[i][k] B[k][j]: row i of A dotted with column j of B, the terms added in order
 * k = 0, 1, ... to a sum that starts at 0. The loops run i, k, j (row i of C gathers the rows of B,
 * each scaled by one entry of A), which adds the same terms in the same order as the i, j, k loops
 * of the formula and reads B row by row. The model's products use gemm.c, which computes the same
 * sums in the same order (for K up to 256), only in tiles, packed panels and threads;
 * tests/test_gemm.c checks that the two agree. */

bool tensors_overlap(const Tensor *a, const Tensor *b) {
    uintptr_t a0 = (uintptr_t)a->data, a1 = (uintptr_t)tensor_at(a, a->rows - 1, a->cols);
    uintptr_t b0 = (uintptr_t)b->data, b1 = (uintptr_t)tensor_at(b, b->rows - 1, b->cols);
    return a0 < b1 && b0 < a1;
}

void tensor_matmul(Tensor *C, const Tensor *A, const Tensor *B) {
    CHECK(A->cols == B->rows && C->rows == A->rows && C->cols == B->cols,
          "matmul: A is (%d, %d), B is (%d, %d), C is (%d, %d)", A->rows, A->cols, B->rows, B->cols, C->rows, C->cols);
    CHECK(!tensors_overlap(C, A) && !tensors_overlap(C, B), "matmul: C overlaps an operand");
    for (int i = 0; i < C->rows; i++) {
        float *c = tensor_at(C, i, 0); /* row i of C: the sum over k of A[i][k] times row k of B */
        for (int j = 0; j < C->cols; j++) c[j] = 0.0f;
        for (int k = 0; k < A->cols; k++) {
            const float a = *tensor_at(A, i, k);
            const float *b = tensor_at(B, k, 0);
            for (int j = 0; j < C->cols; j++) c[j] += a * b[j];
        }
    }
}

void tensor_matmul_bt(Tensor *C, const Tensor *A, const Tensor *B) {
    CHECK(A->cols == B->cols && C->rows == A->rows && C->cols == B->rows,
          "matmul: A is (%d, %d), B^T is (%d, %d), C is (%d, %d)", A->rows, A->cols, B->cols, B->rows, C->rows, C->cols);
    CHECK(!tensors_overlap(C, A) && !tensors_overlap(C, B), "matmul: C overlaps an operand");
    for (int i = 0; i < C->rows; i++) {
        float *c = tensor_at(C, i, 0);
        for (int j = 0; j < C->cols; j++) c[j] = 0.0f;
        for (int k = 0; k < A->cols; k++) {
            const float a = *tensor_at(A, i, k);
            for (int j = 0; j < C->cols; j++) c[j] += a * *tensor_at(B, j, k);
        }
    }
}

/* ==== softmax ==== */

SoftmaxStatus tensor_softmax_rows(Tensor *out, const Tensor *x, int *bad_row) {
    CHECK_SAME_SHAPE(out, x);
    SoftmaxStatus status = SOFTMAX_OK;
    const int n = x->cols; /* a local, so that the stores to out cannot change the bound: the loops vectorise */
    for (int r = 0; r < x->rows; r++) {
        const float *in = tensor_at(x, r, 0);
        float *o = tensor_at(out, r, 0);
        float max = -INFINITY;
        int bad = 0; /* a NaN (x != x) or +inf anywhere */
#pragma omp simd reduction(max : max) reduction(| : bad)
        for (int c = 0; c < n; c++) {
            const float v = in[c];
            bad |= (v != v) | (v == INFINITY);
            max = v > max ? v : max;
        }
        const bool finite = !bad;
        if (!finite || max == -INFINITY) {
            if (status == SOFTMAX_OK) {
                status = finite ? SOFTMAX_ALL_MASKED : SOFTMAX_NOT_FINITE;
                if (bad_row) *bad_row = r;
            }
            for (int c = 0; c < n; c++) o[c] = NAN; /* never mistaken for a distribution */
            continue;
        }
        /* exp(-inf - max) = exp(-inf) = 0 exactly, so masked entries contribute nothing. The
           exponentials and their sum (in double, in vector lanes) are one vectorised loop. */
        double sum = 0.0;
#pragma omp simd reduction(+ : sum)
        for (int c = 0; c < n; c++) {
            o[c] = exp_nonpositive(in[c] - max);
            sum += o[c];
        }
        const float inv = (float)(1.0 / sum); /* sum >= 1: the max entry contributes exp(0) */
        for (int c = 0; c < n; c++) o[c] *= inv;
    }
    return status;
}

const char *softmax_status_text(SoftmaxStatus s) {
    switch (s) {
    case SOFTMAX_OK: return "ok";
    case SOFTMAX_ALL_MASKED: return "every entry of the row is -inf (a position that may look at nothing)";
    case SOFTMAX_NOT_FINITE: return "the row holds NaN or +inf";
    }
    return "unknown softmax status";
}

/* ==== comparisons ==== */

double tensor_dot(const Tensor *a, const Tensor *b) {
    CHECK_SAME_SHAPE(a, b);
    double s = 0;
    for (int r = 0; r < a->rows; r++) {
        const float *x = tensor_at(a, r, 0), *y = tensor_at(b, r, 0);
        for (int c = 0; c < a->cols; c++) s += (double)x[c] * y[c];
    }
    return s;
}

double tensor_max_abs_diff(const Tensor *a, const Tensor *b) {
    CHECK_SAME_SHAPE(a, b);
    double worst = 0.0;
    for (int r = 0; r < a->rows; r++)
        for (int c = 0; c < a->cols; c++) {
            float x = *tensor_at(a, r, c), y = *tensor_at(b, r, c);
            if (x == y) continue; /* also equal infinities, whose difference would be NaN */
            double d = fabs((double)x - (double)y);
            if (isnan(d)) return NAN;
            if (d > worst) worst = d;
        }
    return worst;
}

bool tensor_rows_identical(const Tensor *a, const Tensor *b, int r) {
    CHECK(a->cols == b->cols && r >= 0 && r < a->rows && r < b->rows, "row %d cannot be compared", r);
    return memcmp(tensor_at(a, r, 0), tensor_at(b, r, 0), (size_t)a->cols * sizeof(float)) == 0;
}

/* ==== principal components ==== */

void tensor_pca2(Tensor *proj, double var[2], const Tensor *X) {
    const int n = X->rows, d = X->cols;
    CHECK(proj->rows == n && proj->cols == 2 && n >= 1, "pca shapes");
    double *mean = xcalloc((size_t)d, sizeof(double)), *cov = xcalloc((size_t)d * (size_t)d, sizeof(double));
    double *vec = xmalloc(sizeof(double) * (size_t)d * 2), *w = xmalloc(sizeof(double) * (size_t)d);
    for (int r = 0; r < n; r++)
        for (int c = 0; c < d; c++) mean[c] += *tensor_at(X, r, c) / (double)n;
    for (int r = 0; r < n; r++) /* cov = (1/n) sum_r (x_r - mean)(x_r - mean)^T */
        for (int a = 0; a < d; a++)
            for (int b = 0; b < d; b++)
                cov[a * d + b] += (*tensor_at(X, r, a) - mean[a]) * (*tensor_at(X, r, b) - mean[b]) / (double)n;
    for (int k = 0; k < 2; k++) {
        double *u = vec + (size_t)k * d;
        for (int c = 0; c < d; c++) u[c] = 1.0 + 0.01 * c; /* a fixed start, not orthogonal to anything in practice */
        double lambda = 0;
        for (int it = 0; it < 1000; it++) {
            for (int a = 0; a < d; a++) {
                w[a] = 0;
                for (int b = 0; b < d; b++) w[a] += cov[a * d + b] * u[b];
            }
            if (k == 1) { /* stay orthogonal to the first direction (deflation) */
                double dot = 0;
                for (int c = 0; c < d; c++) dot += w[c] * vec[c];
                for (int c = 0; c < d; c++) w[c] -= dot * vec[c];
            }
            double norm = 0;
            for (int c = 0; c < d; c++) norm += w[c] * w[c];
            norm = sqrt(norm);
            if (norm == 0) break; /* no variance left in this direction */
            for (int c = 0; c < d; c++) u[c] = w[c] / norm;
            lambda = norm;
        }
        int big = 0;
        for (int c = 1; c < d; c++)
            if (fabs(u[c]) > fabs(u[big])) big = c;
        if (u[big] < 0)
            for (int c = 0; c < d; c++) u[c] = -u[c];
        var[k] = lambda;
        for (int r = 0; r < n; r++) {
            double s = 0;
            for (int c = 0; c < d; c++) s += (*tensor_at(X, r, c) - mean[c]) * u[c];
            *tensor_at(proj, r, k) = (float)s;
        }
    }
    free(mean), free(cov), free(vec), free(w);
}
