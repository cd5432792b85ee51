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

/* ==== matrix product ====
 * C = op(A) op(B) (+ C), computed the way fast BLAS libraries do it, in three layers and a fourth:
 *
 *  1. Packing. A block of op(B) (KC rows, all N columns) is copied into panels NR columns wide
 *     (two vector registers: 32 floats with AVX-512, 16 with AVX), each stored k by k:
 *     Bp[k][0..NR), edges padded with zeros, so that the kernel reads it strictly sequentially
 *     whatever B's stride or transpose. op(A) = A is read in place: six rows at a time, each row
 *     sequential. op(A) = A^T would be read down columns, so when several panels of B will read
 *     it, a block of it (MC rows, KC columns) is first copied into panels MR = 6 rows tall:
 *     Ap[k][0..5] (with one panel it is read in place). Both copies read their source
 *     row by row, left to right, and scatter each row into the panels: sequential reads are what
 *     the memory system is good at.
 *  2. The micro-kernel: a 6 x NR tile of C is kept in 12 vector registers for the whole k loop;
 *     each step broadcasts one value of A's panel and multiplies it into the two vectors of B's
 *     panel: 12 fused multiply-adds per 8 loads. At the end the tile is added to C, or, for the
 *     first block of k, stored (over zeros or a bias row): C is never cleared in a separate pass.
 *  3. Blocking: KC = 256 keeps a B panel (256 x 32 floats, 32 KiB) in L1 while every row tile of
 *     the block (MC = 120 rows, 20 tiles) passes over it; the A block (120 x 256, 120 KiB) stays
 *     in L2.
 *  4. What rides on a product, so that it needs no pass over memory of its own: after the last
 *     block of k, a BlockStep (when given) runs on each finished row block of C while it is still
 *     in L2; and each packed block of op(B) gives its column sums (when asked for).
 * The order of the additions is fixed (k ascending, blocks in order), so results are the same
 * run after run; with OpenMP, threads take different row blocks of C, which changes nothing. */

/* One vector register of floats: 16 with AVX-512 (64 bytes), else 8 (32 bytes: one AVX register,
 * or two SSE registers on a portable build). */
#ifdef __AVX512F__
#define VW 16
#else
#define VW 8
#endif
typedef float vf __attribute__((vector_size(VW * sizeof(float))));

#define MR 6
#define NR (2 * VW)
#define KC 256
#define MC 120

static bool tensors_overlap(const Tensor *a, const Tensor *b) {
    uintptr_t a0 = (uintptr_t)a->data, a1 = (uintptr_t)tensor_at(a, a->rows - 1, a->cols);
    uintptr_t b0 = (uintptr_t)b->data, b1 = (uintptr_t)tensor_at(b, b->rows - 1, b->cols);
    return a0 < b1 && b0 < a1;
}

/* Bp: for each panel of NR columns starting at j, kc rows of NR values (zero beyond N).
 * op(B)[k][j] is B[k][j] (rows read left to right) or, transposed, B[j][k]: then B's rows are read
 * whole, each into one column of the panel, so that the reads stay sequential. */
static void pack_b_row(float *Bp, const Tensor *B, int k0, int kc, int N, int k) { /* row k of B, cut into the panels */
    const int full = N / NR, w = N % NR; /* whole panels, and the width of the last one if partial */
    const float *src = tensor_at(B, k0 + k, 0);
    float *dst = Bp + (size_t)k * NR;
    for (int p = 0; p < full; p++, src += NR, dst += (size_t)NR * kc) memcpy(dst, src, sizeof(float) * NR);
    if (w) memcpy(dst, src, sizeof(float) * (size_t)w);
}

static void pack_bt_row(float *Bp, const Tensor *B, int k0, int kc, int n) { /* row n of B: column n of op(B) */
    const float *src = tensor_at(B, n, k0);
    float *dst = Bp + (size_t)(n / NR) * NR * kc + n % NR; /* down one column of its panel */
    for (int k = 0; k < kc; k++) dst[(size_t)k * NR] = src[k];
}

static void pack_b(float *Bp, const Tensor *B, bool tb, int k0, int kc, int N) {
    if (N % NR) memset(Bp + (size_t)(N / NR) * NR * kc, 0, sizeof(float) * NR * (size_t)kc); /* the last panel's padding */
    const int rows = tb ? N : kc; /* the rows of B read, each independent of the others */
    /* threads only when worth it: libgomp enters a parallel region even when its `if` clause is
     * false, and makes a system call (a futex wake) as it leaves: thousands of small products a
     * training step would pay that for nothing */
    if (worth_threads((double)kc * N)) {
#pragma omp parallel for schedule(static)
        for (int r = 0; r < rows; r++) tb ? pack_bt_row(Bp, B, k0, kc, r) : pack_b_row(Bp, B, k0, kc, N, r);
    } else
        for (int r = 0; r < rows; r++) tb ? pack_bt_row(Bp, B, k0, kc, r) : pack_b_row(Bp, B, k0, kc, N, r);
}

/* Ap: for each panel of MR rows of op(A) = A^T starting at i, kc columns of MR values (zero beyond
 * the block). op(A)[i][k] is A[k][i]: row k of A is read left to right across the block and cut
 * into the panels, so that the reads stay sequential. */
static void pack_at(float *Ap, const Tensor *A, int i0, int mc, int k0, int kc) {
    const int panels = (mc + MR - 1) / MR, h = mc - (panels - 1) * MR; /* h: rows of the last panel */
    for (int k = 0; k < kc; k++) {
        const float *src = tensor_at(A, k0 + k, i0);
        float *dst = Ap + (size_t)k * MR;
        for (int p = 0; p < panels - 1; p++, src += MR, dst += (size_t)MR * kc) memcpy(dst, src, sizeof(float) * MR);
        for (int r = 0; r < MR; r++) dst[r] = r < h ? src[r] : 0.0f;
    }
}

/* C[0..mr)[0..nr) += A (MR x kc) times Bp (kc x NR), or, when init is given, C = init + that
 * (init: NR values, the same for every row: zeros, or a bias). Row r of A is read at a[r][k * ks]:
 * from a packed panel (a[r] = Ap + r, ks = MR) or straight from the matrix: a[r] = its row, ks = 1,
 * or, for A^T, a[r] = its column r, ks = A's stride.
 * Rows past mr point at a valid row too; their sums are computed and never stored. The twelve
 * accumulators are named variables, not an array, so that the compiler keeps them in registers. */
static void kernel(int kc, const float *const a[MR], ptrdiff_t ks, const float *Bp, float *C, int ldc, int mr,
                   int nr, const float *init) {
    vf c0a = {0}, c0b = {0}, c1a = {0}, c1b = {0}, c2a = {0}, c2b = {0};
    vf c3a = {0}, c3b = {0}, c4a = {0}, c4b = {0}, c5a = {0}, c5b = {0};
    const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4], *a5 = a[5];
    for (int k = 0; k < kc; k++, Bp += NR) {
        vf b0, b1;
        __builtin_memcpy(&b0, Bp, sizeof b0);
        __builtin_memcpy(&b1, Bp + VW, sizeof b1);
        const ptrdiff_t at = k * ks;
        /* row r of the tile: broadcast A's value, multiply into both halves of B's row */
#define ROW(ar, ca, cb) do { const float av = ar[at]; ca += av * b0; cb += av * b1; } while (0)
        ROW(a0, c0a, c0b); ROW(a1, c1a, c1b); ROW(a2, c2a, c2b);
        ROW(a3, c3a, c3b); ROW(a4, c4a, c4b); ROW(a5, c5a, c5b);
#undef ROW
    }
    const vf acc[MR][2] = {{c0a, c0b}, {c1a, c1b}, {c2a, c2b}, {c3a, c3b}, {c4a, c4b}, {c5a, c5b}};
    for (int r = 0; r < mr; r++) {
        float *c = C + (size_t)r * (size_t)ldc;
        const float *base = init ? init : c; /* what the tile's sums are added to */
        if (nr == NR) { /* a full row of the tile: two vectors */
            vf lo, hi;
            __builtin_memcpy(&lo, base, sizeof lo);
            __builtin_memcpy(&hi, base + VW, sizeof hi);
            lo += acc[r][0], hi += acc[r][1];
            __builtin_memcpy(c, &lo, sizeof lo);
            __builtin_memcpy(c + VW, &hi, sizeof hi);
            continue;
        }
        float row[NR];
        __builtin_memcpy(row, &acc[r][0], sizeof acc[r][0]);
        __builtin_memcpy(row + VW, &acc[r][1], sizeof acc[r][1]);
        for (int j = 0; j < nr; j++) c[j] = base[j] + row[j];
    }
}

static const BlockStep NOTHING = {NULL, NULL};

/* What the row blocks of one k block share. */
typedef struct {
    Tensor *C;
    const Tensor *A;
    bool ta;
    const float *Bp;      /* op(B)'s rows k0 .. k0 + kc - 1, packed */
    int k0, kc, N, n_panels;
    int block;            /* rows per row block */
    const float *init;    /* the first k block starts from this, else NULL: add to C */
    bool init_is_row;     /* init is a bias of N values (padded), not one panel of zeros */
    Triangle tri;
    BlockStep then;        /* run on the row block when this is the last k block (fn NULL: none) */
} KBlock;

/* Row block ib of C (rows ib * block ..) over one k block. */
static void row_block(const KBlock *s, int ib) {
    const Tensor *A = s->A, *C = s->C;
    const int M = C->rows, i0 = ib * s->block, mc = M - i0 < s->block ? M - i0 : s->block, kc = s->kc, k0 = s->k0;
    const Triangle tri = s->tri;
    /* op(A) = A is read in place, row by row. op(A) = A^T is packed first when more than one panel
     * of B will read it: in place, a tile's six values at each k are six neighbours in one row of
     * A, and each k moves on to another row. With a single panel (attention's products with d_k
     * columns) A^T is read once either way, and packing would only add a copy. */
    const bool packed = s->ta && s->n_panels > 1;
    float *Ap = packed ? xmalloc(sizeof(float) * (size_t)((mc + MR - 1) / MR * MR) * (size_t)kc) : NULL;
    if (packed) pack_at(Ap, A, i0, mc, k0, kc);
    /* each panel of B (kc x NR, in L1) is used by every row tile of the block in turn */
    for (int p = 0; p < s->n_panels; p++) {
        const int j = p * NR;
        for (int i = 0; i < mc; i += MR) {
            const int mr = mc - i < MR ? mc - i : MR, top = i0 + i; /* the tile's rows: top .. top + mr - 1 */
            /* the products k0 + kb .. k0 + ke - 1 of this block are the ones the tile needs */
            int kb = 0, ke = kc;
            if (tri.kind == TRI_C_LOWER && j > top + mr - 1 + tri.offset) continue; /* right of the diagonal */
            if (tri.kind == TRI_A_LOWER) ke = top + mr + tri.offset - k0; /* op(A)[i][k] = 0 past k = i + offset */
            if (tri.kind == TRI_A_UPPER) kb = top + tri.offset - k0;      /* ... before k = i + offset */
            ke = ke < 0 ? 0 : ke > kc ? kc : ke;
            kb = kb < 0 ? 0 : kb > ke ? ke : kb;
            if (kb == ke && !s->init) continue; /* nothing to add (the first block still stores init) */
            const float *a[MR]; /* row r of the tile: op(A)[top + r][k0 + kb + k] at a[r][k * ks] */
            for (int r = 0; r < MR; r++) {
                const int row = top + (r < mr ? r : 0); /* rows past mr repeat the first */
                a[r] = packed ? Ap + (size_t)i * kc + r + (size_t)kb * MR
                     : s->ta ? tensor_at(A, k0 + kb, row) : tensor_at(A, row, k0 + kb);
            }
            /* ask for the next tile's rows while this one computes: its part of C (to be written), and
             * on the first panel its rows of A (on later panels they are in L2). Rows 6 at a time are
             * too short a stream for the hardware's prefetcher to find (1-2% of a training step, run side by side). */
            for (int r = 0; r < MR && i + MR + r < mc; r++) {
                const float *c = tensor_at(C, top + MR + r, j);
                __builtin_prefetch(c, 1);
                if (s->N - j > 16) __builtin_prefetch(c + 16, 1);
                if (p == 0 && !s->ta)
                    for (int k = 0; k < kc; k += 16) __builtin_prefetch(tensor_at(A, top + MR + r, k0 + k));
            }
            kernel(ke - kb, a, packed ? MR : s->ta ? A->stride : 1, s->Bp + (size_t)p * NR * kc + (size_t)kb * NR, tensor_at(C, top, j),
                   C->stride, mr, s->N - j < NR ? s->N - j : NR, s->init && s->init_is_row ? s->init + j : s->init);
        }
    }
    free(Ap);
    /* the block's rows are finished when this was the last k block: they are still in L2 */
    if (s->then.fn) s->then.fn(s->then.ctx, s->C, i0, 0, mc, s->N);
}

/* colsums[j] += the sum of column j of panel p of Bp (kc rows), read from the packed copy while it
 * is in cache, row by row as a plain loop over op(B) would add them. */
static void panel_colsums(float *colsums, const float *Bp, int p, int kc, int N) {
    const float *row = Bp + (size_t)p * NR * kc;
    const int w = N - p * NR < NR ? N - p * NR : NR; /* past w, the panel's padding: zeros */
    float sum[NR] = {0}; /* a local, kept in registers (the output could alias the panel) */
    memcpy(sum, colsums + p * NR, sizeof(float) * (size_t)w);
    for (int k = 0; k < kc; k++, row += NR)
        for (int c = 0; c < NR; c++) sum[c] += row[c];
    memcpy(colsums + p * NR, sum, sizeof(float) * (size_t)w);
}

/* C = op(A) op(B) + init (init: NULL for zeros, else a row of N values added to every row), or,
 * when accumulate, C += op(A) op(B). C is never zeroed separately: the first block of k stores.
 * tri says which tiles or products can be skipped (see tensor.h); skipping is per 6-row tile, so a
 * tile that straddles the diagonal is computed whole. */
static void matmul(Tensor *C, const Tensor *A, bool ta, const Tensor *B, bool tb, bool accumulate, const float *init,
                   Triangle tri, BlockStep then, float *colsums) {
    const int M = ta ? A->cols : A->rows, K = ta ? A->rows : A->cols;
    const int KB = tb ? B->cols : B->rows, N = tb ? B->rows : B->cols;
    CHECK(K == KB && C->rows == M && C->cols == N,
          "matmul: op(A) is (%d, %d), op(B) is (%d, %d), C is (%d, %d)", M, K, KB, N, C->rows,
          C->cols);
    CHECK(!tensors_overlap(C, A) && !tensors_overlap(C, B), "matmul: C overlaps an operand");
    if (M == 0 || N == 0) return;
    if (K == 0) { /* no products: C is init (or stays, when accumulating) */
        if (!accumulate)
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) *tensor_at(C, i, j) = init ? init[j] : 0.0f;
        if (then.fn) then.fn(then.ctx, C, 0, 0, M, N);
        return;
    }
    const int n_panels = (N + NR - 1) / NR;
    /* the first k block starts from init: zeros (one panel's worth, used for every panel) or the
     * bias, copied and padded to whole panels */
    static const float zeros[NR];
    float *bias = NULL;
    if (!accumulate && init) {
        bias = xcalloc((size_t)n_panels * NR, sizeof(float));
        memcpy(bias, init, sizeof(float) * (size_t)N);
    }
    float *Bp = xmalloc(sizeof(float) * (size_t)n_panels * NR * (size_t)(K < KC ? K : KC));
    /* row blocks of at most MC rows, as even as whole tiles allow (128 rows: 66 + 62, not 120 + 8),
     * and as many as a multiple of the threads (512 rows on 2 threads: 6 blocks, 270 + 242 rows
     * each, not 5 blocks split 3 + 2), so that threads taking blocks get equal shares. How the
     * rows are cut changes no sum. */
    const int threads = threads_available();
    const int fewest = (M + MC - 1) / MC, wanted = threads > 1 ? (fewest + threads - 1) / threads * threads : fewest;
    const int share = (M + wanted - 1) / wanted; /* M over that many blocks */
    const int block = (share + MR - 1) / MR * MR, n_blocks = (M + block - 1) / block; /* block <= MC */
    for (int k0 = 0; k0 < K; k0 += KC) {
        const int kc = K - k0 < KC ? K - k0 : KC;
        pack_b(Bp, B, tb, k0, kc, N);
        const bool first = k0 == 0 && !accumulate;
        const KBlock s = {C, A, ta, Bp, k0, kc, N, n_panels, block, !first ? NULL : bias ? bias : zeros, bias != NULL, tri,
                          k0 + kc == K ? then : NOTHING};
        /* threads take row blocks when there is enough work; else no parallel region at all (see
         * pack_b) */
        /* op(B)'s column sums when asked for (panel by panel, each by one thread), then the row blocks */
        if ((double)M * N * kc > 4e6 && n_blocks > 1 && threads > 1) {
#pragma omp parallel
            {
                if (colsums) {
#pragma omp for schedule(static) nowait
                    for (int p = 0; p < n_panels; p++) panel_colsums(colsums, Bp, p, kc, N);
                }
#pragma omp for schedule(static)
                for (int ib = 0; ib < n_blocks; ib++) row_block(&s, ib);
            }
        } else {
            for (int p = 0; colsums && p < n_panels; p++) panel_colsums(colsums, Bp, p, kc, N);
            for (int ib = 0; ib < n_blocks; ib++) row_block(&s, ib);
        }
    }
    free(Bp);
    free(bias);
}

static const Triangle FULL = {TRI_NONE, 0};

void tensor_matmul(Tensor *C, const Tensor *A, bool ta, const Tensor *B, bool tb) {
    matmul(C, A, ta, B, tb, false, NULL, FULL, NOTHING, NULL);
}

void tensor_matmul_acc(Tensor *C, const Tensor *A, bool ta, const Tensor *B, bool tb) {
    matmul(C, A, ta, B, tb, true, NULL, FULL, NOTHING, NULL);
}

void tensor_matmul_acc_colsums(Tensor *C, const Tensor *A, bool ta, const Tensor *B, bool tb, Tensor *sums) {
    CHECK(sums->rows == 1 && sums->cols == C->cols, "column sums (%d, %d) for output (%d, %d)", sums->rows, sums->cols,
          C->rows, C->cols);
    matmul(C, A, ta, B, tb, true, NULL, FULL, NOTHING, sums->data);
}

void tensor_matmul_tri(Tensor *C, const Tensor *A, bool ta, const Tensor *B, bool tb, bool accumulate, Triangle tri) {
    matmul(C, A, ta, B, tb, accumulate, NULL, tri, NOTHING, NULL);
}

void tensor_matmul_bias(Tensor *C, const Tensor *A, const Tensor *B, const Tensor *bias) {
    tensor_matmul_then(C, A, false, B, false, bias, NOTHING);
}

void tensor_matmul_then(Tensor *C, const Tensor *A, bool ta, const Tensor *B, bool tb, const Tensor *bias, BlockStep then) {
    CHECK(!bias || (bias->rows == 1 && bias->cols == C->cols), "bias (%d, %d) for output (%d, %d)", bias->rows,
          bias->cols, C->rows, C->cols);
    matmul(C, A, ta, B, tb, false, bias ? bias->data : NULL, FULL, then, NULL);
}

/* ==== softmax ==== */

SoftmaxStatus tensor_softmax_rows(Tensor *out, const Tensor *x, int *bad_row) {
    CHECK_SAME_SHAPE(out, x);
    SoftmaxStatus status = SOFTMAX_OK;
    const int n = x->cols; /* a local: read through x inside the loops, the bound stopped their vectorising */
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
