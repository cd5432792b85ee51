/* gemm: the fast matrix product (see gemm.h for its layers and its contract). */
#include "gemm.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

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

/* Rows n .. n + 7 of B (the same panel: NR is a multiple of 8): for each k, their eight values are
 * eight neighbours in the panel, written together, rather than eight stores NR floats apart. */
static void pack_bt_rows8(float *Bp, const Tensor *B, int k0, int kc, int n) {
    const float *src[8];
    for (int r = 0; r < 8; r++) src[r] = tensor_at(B, n + r, k0);
    float *dst = Bp + (size_t)(n / NR) * NR * kc + n % NR;
    for (int k = 0; k < kc; k++, dst += NR) {
        const float v[8] = {src[0][k], src[1][k], src[2][k], src[3][k], src[4][k], src[5][k], src[6][k], src[7][k]};
        memcpy(dst, v, sizeof v);
    }
}

/* The rows of B a packing step reads, one after another (by eights where B is transposed). */
static void pack_b_step(float *Bp, const Tensor *B, bool tb, int k0, int kc, int N, int r) {
    if (!tb) pack_b_row(Bp, B, k0, kc, N, r);
    else if (r * 8 + 8 <= N) pack_bt_rows8(Bp, B, k0, kc, r * 8);
    else
        for (int n = r * 8; n < N; n++) pack_bt_row(Bp, B, k0, kc, n);
}

static void pack_b(float *Bp, const Tensor *B, bool tb, int k0, int kc, int N) {
    if (N % NR) memset(Bp + (size_t)(N / NR) * NR * kc, 0, sizeof(float) * NR * (size_t)kc); /* the last panel's padding */
    const int steps = tb ? (N + 7) / 8 : kc; /* each independent of the others */
    /* no parallel region unless threads are worth it: entering one costs a system call even when
     * its `if` clause is false (docs/performance.md) */
    if (worth_threads((double)kc * N)) {
#pragma omp parallel for schedule(static)
        for (int r = 0; r < steps; r++) pack_b_step(Bp, B, tb, k0, kc, N, r);
    } else
        for (int r = 0; r < steps; r++) pack_b_step(Bp, B, tb, k0, kc, N, r);
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
 * (init: NR values, the same for every row: zeros, or a bias). Row k of Bp starts k * bs floats in:
 * bs = NR in a packed panel, B's stride when B is read in place. Row r of A is read at a[r][k * ks]:
 * from a packed panel (a[r] = Ap + r, ks = MR) or straight from the matrix: a[r] = its row, ks = 1,
 * or, for A^T, a[r] = its column r, ks = A's stride.
 * Rows past mr point at a valid row too; their sums are computed and never stored. The twelve
 * accumulators are named variables, not an array, so that the compiler keeps them in registers. */
static void kernel(int kc, const float *const a[MR], ptrdiff_t ks, const float *Bp, ptrdiff_t bs, float *C, int ldc,
                   int mr, int nr, const float *init) {
    vf c0a = {0}, c0b = {0}, c1a = {0}, c1b = {0}, c2a = {0}, c2b = {0};
    vf c3a = {0}, c3b = {0}, c4a = {0}, c4b = {0}, c5a = {0}, c5b = {0};
    const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4], *a5 = a[5];
    for (int k = 0; k < kc; k++, Bp += bs) {
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
    const float *Bp;      /* op(B)'s rows k0 .. k0 + kc - 1, packed, or B itself from row k0 */
    ptrdiff_t bs, ps;     /* floats from one row of a panel to the next, and from one panel to the next */
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
             * on the first panel its rows of A (on later panels they are in L2); rows six at a time
             * are too short a stream for the hardware's prefetcher to find */
            for (int r = 0; r < MR && i + MR + r < mc; r++) {
                const float *c = tensor_at(C, top + MR + r, j);
                __builtin_prefetch(c, 1);
                if (s->N - j > 16) __builtin_prefetch(c + 16, 1);
                if (p == 0 && !s->ta)
                    for (int k = 0; k < kc; k += 16) __builtin_prefetch(tensor_at(A, top + MR + r, k0 + k));
            }
            kernel(ke - kb, a, packed ? MR : s->ta ? A->stride : 1, s->Bp + p * s->ps + kb * s->bs, s->bs, tensor_at(C, top, j),
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

/* No products (K = 0): C becomes init (zeros when NULL), or stays when accumulating. */
static void no_products(Tensor *C, bool accumulate, const float *init, BlockStep then) {
    const int M = C->rows, N = C->cols;
    if (!accumulate)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) *tensor_at(C, i, j) = init ? init[j] : 0.0f;
    if (then.fn) then.fn(then.ctx, C, 0, 0, M, N);
}

/* One k block (B already packed in s->Bp): op(B)'s column sums when asked for (panel by panel, each
 * by one thread), then the row blocks. Threads take row blocks when there is enough work; else no
 * parallel region at all (see pack_b). */
static inline void run_k_block(const KBlock *s, float *colsums, int n_blocks, int threads) {
    const int M = s->C->rows, N = s->N, kc = s->kc, n_panels = s->n_panels;
    const float *Bp = s->Bp;
    if ((double)M * N * kc > 4e6 && n_blocks > 1 && threads > 1) {
#pragma omp parallel
        {
            if (colsums) {
#pragma omp for schedule(static) nowait
                for (int p = 0; p < n_panels; p++) panel_colsums(colsums, Bp, p, kc, N);
            }
#pragma omp for schedule(static)
            for (int ib = 0; ib < n_blocks; ib++) row_block(s, ib);
        }
    } else {
        for (int p = 0; colsums && p < n_panels; p++) panel_colsums(colsums, Bp, p, kc, N);
        for (int ib = 0; ib < n_blocks; ib++) row_block(s, ib);
    }
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
    if (K == 0) {
        no_products(C, accumulate, init, then);
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
    /* B is read in place, not packed, when its panels need no padding or transposing and all of it
     * fits in L1 with room to spare (16 KiB): a packed copy would cost as much as the product saves
     * (a 64 x 64 x 64 product, attention's A V and dS K) */
    const bool in_place = !tb && N % NR == 0 && (double)K * N <= 4096 && !colsums;
    float *Bp = in_place ? NULL : xmalloc(sizeof(float) * (size_t)n_panels * NR * (size_t)(K < KC ? K : KC));
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
        if (!in_place) pack_b(Bp, B, tb, k0, kc, N);
        const bool first = k0 == 0 && !accumulate;
        const KBlock s = {C, A, ta, in_place ? tensor_at(B, k0, 0) : Bp, in_place ? B->stride : NR,
                          in_place ? NR : (ptrdiff_t)NR * kc, k0, kc, N, n_panels, block,
                          !first ? NULL : bias ? bias : zeros, bias != NULL, tri, k0 + kc == K ? then : NOTHING};
        run_k_block(&s, colsums, n_blocks, threads);
    }
    free(Bp);
    free(bias);
}

void gemm(Tensor *C, const Tensor *A, const Tensor *B, GemmOptions o) {
    const bool accumulate = o.flags & GEMM_ACCUMULATE;
    CHECK(!o.bias || (!accumulate && o.bias->rows == 1 && o.bias->cols == C->cols), "bias (%d, %d) for output (%d, %d)%s",
          o.bias ? o.bias->rows : 0, o.bias ? o.bias->cols : 0, C->rows, C->cols, accumulate ? " with GEMM_ACCUMULATE" : "");
    CHECK(!o.colsums || (o.colsums->rows == 1 && o.colsums->cols == C->cols), "column sums (%d, %d) for output (%d, %d)",
          o.colsums ? o.colsums->rows : 0, o.colsums ? o.colsums->cols : 0, C->rows, C->cols);
    matmul(C, A, o.flags & GEMM_TRANS_A, B, o.flags & GEMM_TRANS_B, accumulate, o.bias ? o.bias->data : NULL, o.tri,
           o.then, o.colsums ? o.colsums->data : NULL);
}
