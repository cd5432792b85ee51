/* tensor: a 2-D float matrix with an explicit shape and a row stride.
 *
 * Element (r, c) lives at data[r * stride + c]: row-major, the last index fastest. A dense tensor has
 * stride == cols. A view (tensor_view) points into another tensor's memory with the parent's stride,
 * so one head's columns of Q, or one sequence's rows of a batch, are tensors without a copy. A view
 * never owns memory: free the parent, not the view. tensor_free(view) is harmless.
 *
 * Operations write into an output the caller allocated; shapes are checked and a mismatch is a bug
 * (CHECK aborts with both shapes). Elementwise operations allow the output to alias an input.   */
#ifndef TENSOR_H
#define TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "rng.h"

typedef struct {
    float *data;
    int rows, cols;
    int stride; /* floats from one row to the next; >= cols */
    bool owner; /* true when tensor_new allocated data */
} Tensor;

/* A new (rows, cols) tensor, zero-filled, from the checked allocator. rows, cols >= 1. */
Tensor tensor_new(int rows, int cols);
/* Free what tensor_new allocated and empty the struct. Safe on views and on an emptied tensor. */
void tensor_free(Tensor *t);
/* The (rows, cols) block of t whose top-left corner is (r0, c0). Shares t's memory. */
Tensor tensor_view(const Tensor *t, int r0, int c0, int rows, int cols);
/* Row r as a (1, cols) view. */
Tensor tensor_row(const Tensor *t, int r);

/* An arena: one allocation carved into many tensors ("named views"), so that all parameters, or
 * all gradients, or all activations of a model are one block of memory. Used in two passes: first
 * with base == NULL, which only counts (`used` grows, tensors get no data), then with base pointing
 * at `used` zeroed floats, which hands out the same tensors in the same order. arena_take with a
 * NULL arena allocates an ordinary owning tensor instead, so the same layout code serves both. */
typedef struct {
    float *base;
    size_t used;
} Arena;

Tensor arena_take(Arena *a, int rows, int cols);

static inline float *tensor_at(const Tensor *t, int r, int c) {
    return t->data + (size_t)r * (size_t)t->stride + (size_t)c;
}

bool tensor_same_shape(const Tensor *a, const Tensor *b);

void tensor_fill(Tensor *t, float value);
void tensor_copy(Tensor *dst, const Tensor *src);
/* out = a + b */
void tensor_add(Tensor *out, const Tensor *a, const Tensor *b);
/* out = s * a */
void tensor_scale(Tensor *out, const Tensor *a, float s);
/* Every element drawn from N(0, stddev^2), row by row. */
void tensor_randn(Tensor *t, Rng *rng, float stddev);

/* The threads a new OpenMP region may use (OMP_NUM_THREADS): 1 inside a region (a nested one
 * would run on one thread anyway, after the cost of entering it) and in a build without OpenMP. */
static inline int threads_available(void) {
#ifdef _OPENMP
    return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
    return 1;
#endif
}

/* This thread's number in its OpenMP team, and the team's size (0 and 1 outside a region). */
static inline int thread_index(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}
static inline int thread_count(void) {
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

/* This thread's share of n items, [*begin, *end): the team's threads take consecutive, nearly
 * equal shares (outside a region, all of it). */
static inline void thread_share(size_t n, size_t *begin, size_t *end) {
    const size_t t = (size_t)thread_index(), nt = (size_t)thread_count();
    *begin = n * t / nt, *end = n * (t + 1) / nt;
}

/* Whether a loop over this many floats is worth OpenMP's threads: waking them costs a few
 * microseconds, a pass over 32 K floats takes about that long. Elementwise loops split by rows or
 * elements, and every element is still computed by one thread in the same way, so the thread count
 * changes no bit. */
static inline bool worth_threads(double floats) { return floats >= 32768.0 && threads_available() > 1; }

/* C = A B, by the definition: C[i][j] = sum_k A[i][k] B[k][j], a triple loop. Shapes: A (M, K),
 * B (K, N), C (M, N); C must not overlap A or B. The fast form of the same product, with
 * transposes, accumulation, a bias and the rest, is gemm (gemm.h). */
void tensor_matmul(Tensor *C, const Tensor *A, const Tensor *B);
/* C = A B^T: C[i][j] = sum_k A[i][k] B[j][k], row i of A dotted with row j of B (Q K^T), with no
 * transposed copy. Shapes: A (M, K), B (N, K), C (M, N). */
void tensor_matmul_bt(Tensor *C, const Tensor *A, const Tensor *B);
/* Whether the memory of a and b overlaps. */
bool tensors_overlap(const Tensor *a, const Tensor *b);

typedef enum {
    SOFTMAX_OK = 0,
    SOFTMAX_ALL_MASKED, /* a row whose entries are all -inf: no distribution exists */
    SOFTMAX_NOT_FINITE  /* a row holding NaN or +inf */
} SoftmaxStatus;

/* Row-wise softmax, out[r][c] = exp(x[r][c] - max_r) / sum_c' exp(x[r][c'] - max_r).
 * Subtracting the row's largest entry makes every exponent <= 0, so nothing overflows. An entry of
 * -inf gives exp(-inf) = 0 exactly: a masked position gets a weight of exactly 0. A row that is all
 * -inf (or holds NaN or +inf) is not computed: the status says why and *bad_row (if not NULL) which
 * row; out's other rows are still computed. out may alias x. */
SoftmaxStatus tensor_softmax_rows(Tensor *out, const Tensor *x, int *bad_row);

/* exp(x) for x <= 0 (softmax's x - max, GELU's -2|u|), written so that the compiler vectorises the
 * loops that call it: no library call, no branch, no conversion. x = n ln 2 + r with |r| <= ln(2)/2;
 * n is rounded by adding 1.5 * 2^23, after which it sits in the float's low bits; exp(r) is its
 * Taylor polynomial to r^7 (truncation error below 2e-9 relative); 2^n is written into the
 * exponent bits. Within about 2 float ulps of expf; exp(-inf) = 0 exactly, as is everything below
 * -87 (where expf itself turns subnormal); NaN stays NaN. */
static inline float exp_nonpositive(float x) {
    union { float f; uint32_t u; } m = {.f = x * 1.44269504f + 12582912.0f}; /* x / ln 2, rounded */
    const float n = m.f - 12582912.0f;
    const float r = (x - n * 0.693145752f) - n * 1.42860677e-06f; /* ln 2 in two parts */
    const float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 +
                    r * (1.0f / 720 + r * (1.0f / 5040)))))));
    union { uint32_t u; float f; } two_n = {.u = (m.u - 0x4B400000u + 127u) << 23};
    /* below -87, every bit is cleared (0.0f): a mask, not `x < -87 ? 0 : ...`, which compilers may
     * turn into a branch, and a loop with a branch is not vectorised */
    union { float f; uint32_t u; } e = {.f = p * two_n.f};
    e.u &= -(uint32_t)!(x < -87.0f);
    return e.f;
}

const char *softmax_status_text(SoftmaxStatus s);

/* sum of a * b over all elements, accumulated in double (the loss L = sum(out * R) of the gradient
 * checks). */
double tensor_dot(const Tensor *a, const Tensor *b);

/* max |a - b| over all elements (NaN if either holds NaN where the other does not match). */
double tensor_max_abs_diff(const Tensor *a, const Tensor *b);
/* True when rows r of a and b hold the same bits (the test for "nothing leaked"). */
bool tensor_rows_identical(const Tensor *a, const Tensor *b, int r);

/* Principal components: the two directions of largest variance of the rows of X (n, d), found by
 * power iteration on the covariance (population: divided by n) with deflation. proj (n, 2) gets
 * each centred row's coordinates along them; var[0] >= var[1] the variances along them (the
 * eigenvalues). Each direction's sign is fixed so that its largest component is positive. */
void tensor_pca2(Tensor *proj, double var[2], const Tensor *X);

#endif
