/* gemm: the fast matrix product, C = op(A) op(B) (+ C), and what rides on it.
 *
 * tensor_matmul (tensor.h) is the definition, a triple loop; this is the same product computed the
 * way fast BLAS libraries compute it, and tests/test_gemm.c checks the two agree. It is built in
 * four layers:
 *
 *  1. Packing. A block of op(B) (KC = 256 rows, all N columns) is copied into panels NR columns wide
 *     (two vector registers: 32 floats with AVX-512, 16 with AVX), each stored k by k, edges padded
 *     with zeros, so that the kernel reads it strictly sequentially whatever B's stride or transpose.
 *     op(A) is read in place: six rows of A at a time, or for A^T six neighbours in each row of A.
 *  2. The micro-kernel: a tile of up to 6 rows x NR columns of C is kept in 12 vector registers for
 *     the whole k loop; each step broadcasts one value of A per row and multiplies it into the two
 *     vectors of B's panel. At the end the tile is added to C, or, for the first block of k, stored
 *     (plus the bias, if any): C is never cleared in a separate pass.
 *  3. Blocking: a B panel (KC x NR) stays in L1 while every row tile of a row block of C (at most
 *     MC = 120 rows) passes over it; the block's rows of A stay in L2. (When a whole block of B fits
 *     in L1, each tile passes over all its panels instead.) With OpenMP, each thread computes its
 *     own part of C, from the first block of k to the last, packing what it reads: a share of the
 *     rows, or of the panels when C has fewer rows than columns (a weight gradient).
 *  4. What rides on a product, so that it needs no pass over memory of its own: a BlockStep run on
 *     each finished row block of C while it is still in L2 (the feed-forward network's
 *     activation), and op(B)'s column sums taken from its packed copy (a bias gradient).
 *
 * Each element's sum is taken in one fixed order (k ascending within a block of KC, the blocks in
 * order), whatever the thread count: results are the same bits run after run. For K <= KC that is
 * the definition's order exactly, so the two agree bit for bit there.
 *
 * Shapes: op(A) is (M, K), op(B) is (K, N), C is (M, N); C must not overlap A or B. */
#ifndef GEMM_H
#define GEMM_H

#include "tensor.h"

/* How the operands are read and the result stored; combine with |. */
enum {
    GEMM_TRANS_A = 1,    /* op(A) = A^T, read in place (no transposed copy is made) */
    GEMM_TRANS_B = 2,    /* op(B) = B^T, likewise */
    GEMM_ACCUMULATE = 4  /* C += op(A) op(B) (every backward pass: gradients accumulate) */
};

/* A step run on each finished block of rows of C while the block is still in the cache (L2):
 * fn(ctx, C, r0, c0, rows, cols) may read and rewrite C[r0 .. r0 + rows)[c0 .. c0 + cols), or write
 * the same block of another tensor. It runs once per block (at most 120 rows, every column), after
 * the last product of its sums, on the thread that computed it. */
typedef struct {
    void (*fn)(const void *ctx, Tensor *C, int r0, int c0, int rows, int cols);
    const void *ctx;
} BlockStep;

/* Products with a triangle of zeros, as causal attention has (keys after the query are masked):
 *   TRI_C_LOWER: only C[i][j] with j <= i + offset is wanted; the rest of C may be left unwritten
 *   TRI_A_LOWER: op(A)[i][k] = 0 for k > i + offset, so the sums stop there
 *   TRI_A_UPPER: op(A)[i][k] = 0 for k < i + offset, so the sums start there
 * The skipping is per tile of six rows: zeros inside a tile that straddles the diagonal are still
 * multiplied, so they must be exact zeros in A (and B finite there). */
typedef enum { TRI_NONE, TRI_C_LOWER, TRI_A_LOWER, TRI_A_UPPER } TriangleKind;
typedef struct {
    TriangleKind kind;
    int offset;
} Triangle;

/* Everything optional about one product; (GemmOptions){0} is the plain C = A B. */
typedef struct {
    unsigned flags;        /* GEMM_TRANS_A | GEMM_TRANS_B | GEMM_ACCUMULATE */
    const Tensor *bias;    /* (1, N) added to every row as the products are stored (the first term of
                              each sum), or NULL; not with GEMM_ACCUMULATE */
    Triangle tri;          /* zeros the product may skip, {TRI_NONE} for none */
    BlockStep then;        /* run on each finished block of rows, {NULL} for none */
    Tensor *colsums;       /* (1, N) += the column sums of op(B), added row by row in order, or NULL */
} GemmOptions;

/* C = op(A) op(B) (+ bias), or C += op(A) op(B), with the options above. */
void gemm(Tensor *C, const Tensor *A, const Tensor *B, GemmOptions o);

/* One call of gemm, as a value. */
typedef struct {
    Tensor *C;
    const Tensor *A, *B;
    GemmOptions o;
} GemmCall;

/* Two independent products at once, each the same bits as gemm(C, A, B, o) alone: with n threads
 * the first product gets a share of them in proportion to its work and the second the rest, so
 * that each runs on threads of its own rather than every product being split n ways (a weight
 * gradient, few rows over long sums, is split less well than its input's gradient is; together
 * they keep both cores busy). Neither product may write what the other reads or writes (checked
 * for C, A, B, the bias and the column sums; a BlockStep's own tensors are the caller's to keep
 * apart). */
void gemm_two(GemmCall first, GemmCall second);

#endif
