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
/* An empty asm that the compiler must assume reads and writes x in a vector register: it keeps x
 * there instead of folding the load that made it into every instruction that uses it (see tile).
 * Only where a vf fits one register (AVX and AVX-512); a portable build goes without. */
#if defined(__AVX__)
#define KEEP_IN_REGISTER(x) __asm__("" : "+v"(x))
#else
#define KEEP_IN_REGISTER(x) ((void)0)
#endif

#define MR 6
#define NR (2 * VW)
#define KC 256
#define MC 120


/* Bp: for each panel of NR columns of op(B) from column j0 (a multiple of NR) to j1, kc rows of NR
 * values (zero beyond j1). op(B)[k][j] is B[k][j] (rows read left to right) or, transposed,
 * B[j][k]: then B's rows are read whole, each into one column of the panel, so that the reads stay
 * sequential. */
static void pack_b_row(float *Bp, const Tensor *B, int k0, int kc, int j0, int j1, int k) { /* row k of B, cut into the panels */
    const int full = (j1 - j0) / NR, w = (j1 - j0) % NR; /* whole panels, and the width of the last one if partial */
    const float *src = tensor_at(B, k0 + k, j0);
    float *dst = Bp + (size_t)k * NR;
    for (int p = 0; p < full; p++, src += NR, dst += (size_t)NR * kc) memcpy(dst, src, sizeof(float) * NR);
    if (w) memcpy(dst, src, sizeof(float) * (size_t)w);
}

static void pack_bt_row(float *Bp, const Tensor *B, int k0, int kc, int j0, int n) { /* row n of B: column n of op(B) */
    const float *src = tensor_at(B, n, k0);
    float *dst = Bp + (size_t)((n - j0) / NR) * NR * kc + (n - j0) % NR; /* down one column of its panel */
    for (int k = 0; k < kc; k++) dst[(size_t)k * NR] = src[k];
}

/* Rows n .. n + 7 of B (the same panel: NR is a multiple of 8): for each k, their eight values are
 * eight neighbours in the panel, written together, rather than eight stores NR floats apart. */
static void pack_bt_rows8(float *Bp, const Tensor *B, int k0, int kc, int j0, int n) {
    const float *src[8];
    for (int r = 0; r < 8; r++) src[r] = tensor_at(B, n + r, k0);
    float *dst = Bp + (size_t)((n - j0) / NR) * NR * kc + (n - j0) % NR;
    for (int k = 0; k < kc; k++, dst += NR) {
        const float v[8] = {src[0][k], src[1][k], src[2][k], src[3][k], src[4][k], src[5][k], src[6][k], src[7][k]};
        memcpy(dst, v, sizeof v);
    }
}

static void pack_b(float *Bp, const Tensor *B, bool tb, int k0, int kc, int j0, int j1) {
    const int n = j1 - j0;
    if (n % NR) memset(Bp + (size_t)(n / NR) * NR * kc, 0, sizeof(float) * NR * (size_t)kc); /* the last panel's padding */
    if (!tb)
        for (int k = 0; k < kc; k++) pack_b_row(Bp, B, k0, kc, j0, j1, k);
    else {
        int r = j0;
        for (; r + 8 <= j1; r += 8) pack_bt_rows8(Bp, B, k0, kc, j0, r);
        for (; r < j1; r++) pack_bt_row(Bp, B, k0, kc, j0, r);
    }
}

/* How the kernel stores its tile: C += tile (a later block of k, or GEMM_ACCUMULATE), C = tile (the
 * first block of k), or C = bias + tile (the first block, with a bias: one row of NR values). */
typedef enum { TILE_ADD, TILE_SET, TILE_BIAS } TileStore;

/* Row r of the tile, (ca, cb), into c: w columns (w = NR: two whole vectors). */
static inline void store_row(float *c, vf ca, vf cb, int w, TileStore how, const float *bias) {
    if (w == NR) {
        if (how != TILE_SET) { /* what the sums are added to: C itself, or the bias */
            const float *base = how == TILE_ADD ? c : bias;
            vf lo, hi;
            __builtin_memcpy(&lo, base, sizeof lo);
            __builtin_memcpy(&hi, base + VW, sizeof hi);
            ca += lo, cb += hi;
        }
        __builtin_memcpy(c, &ca, sizeof ca);
        __builtin_memcpy(c + VW, &cb, sizeof cb);
        return;
    }
    float row[NR];
    __builtin_memcpy(row, &ca, sizeof ca);
    __builtin_memcpy(row + VW, &cb, sizeof cb);
    for (int j = 0; j < w; j++) c[j] = how == TILE_SET ? row[j] : (how == TILE_ADD ? c[j] : bias[j]) + row[j];
}

/* C[0..rows)[0..nr) (+)= A (rows x kc) times Bp (kc x NR), stored as `how` says. Row k of Bp
 * starts k * bs floats in: bs = NR in a packed panel, B's stride when B is read in place. A's value
 * for row r and step k is a[r * rs + k * ks]: along A's rows (rs = A's stride, ks = 1), or, where
 * op(A) = A^T, down its columns: the tile's six values at each k side by side in one row of A
 * (rs = 1, ks = A's stride).
 * `rows` is a constant wherever this is inlined (see kernel), so that a tile of fewer than MR rows
 * does only its own rows' work. The accumulators are named variables, not an array, so that the
 * compiler keeps them in registers. */
static inline __attribute__((always_inline)) void tile(const int rows, int kc, const float *a, ptrdiff_t rs,
                                                       ptrdiff_t ks, const float *Bp, ptrdiff_t bs, float *C, int ldc,
                                                       int nr, TileStore how, const float *bias) {
    vf c0a = {0}, c0b = {0}, c1a = {0}, c1b = {0}, c2a = {0}, c2b = {0};
    vf c3a = {0}, c3b = {0}, c4a = {0}, c4b = {0}, c5a = {0}, c5b = {0};
    vf b0, b1;
    /* B's row k into b0, b1, kept in registers: with fewer rows gcc would otherwise fold the two
     * loads into every multiply-add, loading B's row once per row of the tile */
#define LOAD_B() do { __builtin_memcpy(&b0, Bp, sizeof b0); __builtin_memcpy(&b1, Bp + VW, sizeof b1); \
                      KEEP_IN_REGISTER(b0); KEEP_IN_REGISTER(b1); } while (0)
    /* row r of the tile: broadcast A's value av, multiply into both halves of B's row */
#define ROW(r, av, ca, cb) do { if (rows > r) { const float v = (av); ca += v * b0; cb += v * b1; } } while (0)
#define ROWS(a0, a1, a2, a3, a4, a5) do { ROW(0, a0, c0a, c0b); ROW(1, a1, c1a, c1b); ROW(2, a2, c2a, c2b); \
                                          ROW(3, a3, c3a, c3b); ROW(4, a4, c4a, c4b); ROW(5, a5, c5a, c5b); } while (0)
    if (ks == 1) { /* A's rows, one pointer each (rows past `rows` point at the first and are not read) */
        const float *a0 = a, *a1 = rows > 1 ? a + rs : a, *a2 = rows > 2 ? a + 2 * rs : a;
        const float *a3 = rows > 3 ? a + 3 * rs : a, *a4 = rows > 4 ? a + 4 * rs : a, *a5 = rows > 5 ? a + 5 * rs : a;
        for (int k = 0; k < kc; k++, Bp += bs) {
            LOAD_B();
            ROWS(a0[k], a1[k], a2[k], a3[k], a4[k], a5[k]);
        }
    } else /* A^T: the six values of each k side by side (rs = 1), one pointer moved on by ks */
        for (int k = 0; k < kc; k++, Bp += bs, a += ks) {
            LOAD_B();
            ROWS(a[0], a[1], a[2], a[3], a[4], a[5]);
        }
#undef ROWS
#undef ROW
#undef LOAD_B
    store_row(C, c0a, c0b, nr, how, bias);
    if (rows > 1) store_row(C + (size_t)ldc, c1a, c1b, nr, how, bias);
    if (rows > 2) store_row(C + 2 * (size_t)ldc, c2a, c2b, nr, how, bias);
    if (rows > 3) store_row(C + 3 * (size_t)ldc, c3a, c3b, nr, how, bias);
    if (rows > 4) store_row(C + 4 * (size_t)ldc, c4a, c4b, nr, how, bias);
    if (rows > 5) store_row(C + 5 * (size_t)ldc, c5a, c5b, nr, how, bias);
}

/* The micro-kernel: a tile of mr (1 .. MR) rows, each row count compiled on its own. */
static void kernel(int mr, int kc, const float *a, ptrdiff_t rs, ptrdiff_t ks, const float *Bp, ptrdiff_t bs, float *C,
                   int ldc, int nr, TileStore how, const float *bias) {
    switch (mr) {
    case 6: tile(6, kc, a, rs, ks, Bp, bs, C, ldc, nr, how, bias); break;
    case 5: tile(5, kc, a, rs, ks, Bp, bs, C, ldc, nr, how, bias); break;
    case 4: tile(4, kc, a, rs, ks, Bp, bs, C, ldc, nr, how, bias); break;
    case 3: tile(3, kc, a, rs, ks, Bp, bs, C, ldc, nr, how, bias); break;
    case 2: tile(2, kc, a, rs, ks, Bp, bs, C, ldc, nr, how, bias); break;
    default: tile(1, kc, a, rs, ks, Bp, bs, C, ldc, nr, how, bias); break;
    }
}

/* What every part of one product shares. */
typedef struct {
    Tensor *C;
    const Tensor *A, *B;
    bool ta, tb, in_place; /* in_place: op(B) = B is read where it is, not packed */
    int K, N;
    TileStore first;       /* how the first block of k stores: TILE_SET, TILE_BIAS, or TILE_ADD (accumulating) */
    const float *bias;     /* TILE_BIAS: the bias, padded to whole panels */
    Triangle tri;
    BlockStep then;        /* run on each row block after the last block of k (fn NULL: none) */
    float *colsums;        /* op(B)'s column sums are added here, or NULL */
} Product;

/* One block of k of one part of the product: op(B)'s rows k0 .. k0 + kc - 1, panels p0 .. p1 - 1. */
typedef struct {
    const Product *s;
    const float *Bp;       /* panel p0's rows, packed, or B itself from row k0 */
    ptrdiff_t bs, ps;      /* floats from one row of a panel to the next, and from one panel to the next */
    int k0, kc, p0, p1;
    TileStore how;
} KBlock;

/* One tile of a row block: rows i0 + i .. (at most MR), panel p of B, over one block of k; fetch:
 * ask for the next tile's rows. */
static void block_tile(const KBlock *kb, int i0, int mc, int i, int p, bool fetch) {
    const Product *s = kb->s;
    const Tensor *A = s->A, *C = s->C;
    const int kc = kb->kc, k0 = kb->k0, j = p * NR;
    const int mr = mc - i < MR ? mc - i : MR, top = i0 + i; /* the tile's rows: top .. top + mr - 1 */
    const Triangle tri = s->tri;
    /* the products k0 + kbeg .. k0 + kend - 1 of this block are the ones the tile needs */
    int kbeg = 0, kend = kc;
    if (tri.kind == TRI_C_LOWER && j > top + mr - 1 + tri.offset) return; /* right of the diagonal */
    if (tri.kind == TRI_A_LOWER) kend = top + mr + tri.offset - k0; /* op(A)[i][k] = 0 past k = i + offset */
    if (tri.kind == TRI_A_UPPER) kbeg = top + tri.offset - k0;      /* ... before k = i + offset */
    kend = kend < 0 ? 0 : kend > kc ? kc : kend;
    kbeg = kbeg < 0 ? 0 : kbeg > kend ? kend : kbeg;
    if (kbeg == kend && kb->how == TILE_ADD) return; /* nothing to add (a first block still stores) */
    /* op(A)[top + r][k0 + kbeg + k] is at a[r * rs + k * ks] (see tile): op(A) = A and A^T are both
     * read in place. For A^T the tile's six values at each k are neighbours in one row of A, read
     * through one pointer; a packed copy of A^T cost more than it saved (docs/performance.md). */
    const float *a = s->ta ? tensor_at(A, k0 + kbeg, top) : tensor_at(A, top, k0 + kbeg);
    const ptrdiff_t rs = s->ta ? 1 : A->stride, ks = s->ta ? A->stride : 1;
    /* ask for the next tile's rows while this one computes: its part of C (to be written), and on
     * the first panel its rows of A (on later panels they are in cache); rows six at a time are too
     * short a stream for the hardware's prefetcher to find */
    for (int r = 0; fetch && r < MR && i + MR + r < mc; r++) {
        const float *c = tensor_at(C, top + MR + r, j);
        __builtin_prefetch(c, 1);
        if (s->N - j > 16) __builtin_prefetch(c + 16, 1);
        if (p == kb->p0 && !s->ta)
            for (int k = 0; k < kc; k += 16) __builtin_prefetch(tensor_at(A, top + MR + r, k0 + k));
    }
    kernel(mr, kend - kbeg, a, rs, ks, kb->Bp + (p - kb->p0) * kb->ps + kbeg * kb->bs, kb->bs,
           tensor_at(C, top, j), C->stride, s->N - j < NR ? s->N - j : NR, kb->how, s->bias ? s->bias + j : NULL);
}

/* Rows i0 .. i0 + mc - 1 of C (a row block: at most MC rows) over one block of k. */
static void row_block(const KBlock *kb, int i0, int mc, bool last) {
    const Product *s = kb->s;
    const int kc = kb->kc, p0 = kb->p0, p1 = kb->p1;
    if ((double)kc * (p1 - p0) * NR <= 4096) {
        /* all of this block of B fits in L1 (16 KiB): each tile of rows passes over every panel, so
         * that A and C stream through once while B stays (the other order keeps A, B and C in L1
         * together, which for a 64 x 64 x 64 product is all of L1). When the block's A fits in L1
         * as well, nothing needs asking for ahead. */
        const bool fetch = (double)mc * kc > 4096;
        for (int i = 0; i < mc; i += MR)
            for (int p = p0; p < p1; p++) block_tile(kb, i0, mc, i, p, fetch);
    } else /* each panel of B (kc x NR, in L1) is used by every row tile of the block in turn */
        for (int p = p0; p < p1; p++)
            for (int i = 0; i < mc; i += MR) block_tile(kb, i0, mc, i, p, true);
    /* the block's rows are finished when this was the last k block: they are still in L2 */
    if (last && s->then.fn) s->then.fn(s->then.ctx, s->C, i0, 0, mc, s->N);
}

/* colsums[j ..] += the sums of the columns of one packed panel (kc rows), read from the packed copy
 * while it is in cache, row by row as a plain loop over op(B) would add them. */
static void panel_colsums(float *colsums, const float *panel, int j, int kc, int N) {
    const int w = N - j < NR ? N - j : NR; /* past w, the panel's padding: zeros */
    float sum[NR] = {0}; /* a local, kept in registers (the output could alias the panel) */
    memcpy(sum, colsums + j, sizeof(float) * (size_t)w);
    for (int k = 0; k < kc; k++, panel += NR)
        for (int c = 0; c < NR; c++) sum[c] += panel[c];
    memcpy(colsums + j, sum, sizeof(float) * (size_t)w);
}

/* No products (K = 0): C becomes init (zeros when NULL), or stays when accumulating. */
static void no_products(Tensor *C, bool accumulate, const float *init, BlockStep then) {
    const int M = C->rows, N = C->cols;
    if (!accumulate)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) *tensor_at(C, i, j) = init ? init[j] : 0.0f;
    if (then.fn) then.fn(then.ctx, C, 0, 0, M, N);
}

/* Rows r0 .. r1 - 1 and panels p0 .. p1 - 1 of C, over every block of k: one thread's share of the
 * product, or all of it. The part packs the panels of op(B) it reads itself, into Bp (room for
 * p1 - p0 panels of KC rows), so that parts never wait for one another. */
static void product_part(const Product *s, int r0, int r1, int p0, int p1, float *Bp) {
    const int rows = r1 - r0, N = s->N, K = s->K;
    if (rows <= 0 || p1 <= p0) return;
    /* row blocks of at most MC rows, as even as whole tiles allow (128 rows: 66 + 62, not 120 + 8) */
    const int n_blocks = (rows + MC - 1) / MC, share = (rows + n_blocks - 1) / n_blocks;
    const int block = (share + MR - 1) / MR * MR; /* at most MC, a multiple of MR */
    const int j0 = p0 * NR, j1 = p1 * NR < N ? p1 * NR : N;
    for (int k0 = 0; k0 < K; k0 += KC) {
        const int kc = K - k0 < KC ? K - k0 : KC;
        if (!s->in_place) pack_b(Bp, s->B, s->tb, k0, kc, j0, j1);
        if (s->colsums && r0 == 0) /* the part with the first rows adds its panels' column sums */
            for (int p = p0; p < p1; p++) panel_colsums(s->colsums, Bp + (size_t)(p - p0) * NR * kc, p * NR, kc, N);
        const KBlock kb = {s, s->in_place ? tensor_at(s->B, k0, 0) + j0 : Bp, s->in_place ? s->B->stride : NR,
                           s->in_place ? NR : (ptrdiff_t)NR * kc, k0, kc, p0, p1, k0 == 0 ? s->first : TILE_ADD};
        for (int i0 = r0; i0 < r1; i0 += block) row_block(&kb, i0, r1 - i0 < block ? r1 - i0 : block, k0 + kc == K);
    }
}

/* Thread t of n: its part of the product (with its own packing buffer). The rows are split, in whole
 * tiles, or, when there are fewer rows than columns and no step runs on whole rows, the panels: a
 * weight gradient (C x N) has few rows and long sums, and its panels divide evenly. Either way each
 * element is summed by one thread in the same order, so the split changes no bit. */
static void thread_part(const Product *s, int t, int n) {
    const int M = s->C->rows, n_panels = (s->N + NR - 1) / NR;
    int r0 = 0, r1 = M, p0 = 0, p1 = n_panels;
    if (n > 1 && !s->then.fn && M <= s->N && n_panels >= n) {
        p0 = (int)((long)n_panels * t / n), p1 = (int)((long)n_panels * (t + 1) / n);
    } else if (n > 1) {
        const int tiles = (M + MR - 1) / MR;
        r0 = (int)((long)tiles * t / n) * MR, r1 = (int)((long)tiles * (t + 1) / n) * MR;
        r1 = r1 < M ? r1 : M;
    }
    const int K = s->K;
    float *Bp = s->in_place ? NULL : xmalloc(sizeof(float) * (size_t)(p1 - p0) * NR * (size_t)(K < KC ? K : KC));
    product_part(s, r0, r1, p0, p1, Bp);
    free(Bp);
}

/* A product ready to run: its description, and the padded bias it owns (freed by its caller). */
typedef struct {
    Product s;
    float *bias;
    bool empty; /* nothing to compute: M or N is 0, or K is 0 and C was set already */
} Prepared;

/* One call of gemm made ready to run: the options and shapes checked, the bias padded. The product
 * is C = op(A) op(B) + bias (zeros when there is none), or, accumulating, C += op(A) op(B); C is
 * never zeroed separately: the first block of k stores. tri says which tiles or products can be
 * skipped (see gemm.h); skipping is per 6-row tile, so a tile that straddles the diagonal is
 * computed whole. A product with no sums (K = 0) is finished here: C set to the bias (or left, when
 * accumulating) and the BlockStep run; it and a product with no rows or columns come back empty. */
static Prepared prepare(GemmCall g) {
    const GemmOptions o = g.o;
    Tensor *C = g.C;
    const Tensor *A = g.A, *B = g.B;
    const bool accumulate = o.flags & GEMM_ACCUMULATE, ta = o.flags & GEMM_TRANS_A, tb = o.flags & GEMM_TRANS_B;
    CHECK(!o.bias || (!accumulate && o.bias->rows == 1 && o.bias->cols == C->cols), "bias (%d, %d) for output (%d, %d)%s",
          o.bias ? o.bias->rows : 0, o.bias ? o.bias->cols : 0, C->rows, C->cols, accumulate ? " with GEMM_ACCUMULATE" : "");
    CHECK(!o.colsums || (o.colsums->rows == 1 && o.colsums->cols == C->cols), "column sums (%d, %d) for output (%d, %d)",
          o.colsums ? o.colsums->rows : 0, o.colsums ? o.colsums->cols : 0, C->rows, C->cols);
    const int M = ta ? A->cols : A->rows, K = ta ? A->rows : A->cols;
    const int KB = tb ? B->cols : B->rows, N = tb ? B->rows : B->cols;
    CHECK(K == KB && C->rows == M && C->cols == N,
          "matmul: op(A) is (%d, %d), op(B) is (%d, %d), C is (%d, %d)", M, K, KB, N, C->rows,
          C->cols);
    CHECK(!tensors_overlap(C, A) && !tensors_overlap(C, B), "matmul: C overlaps an operand");
    const float *init = o.bias ? o.bias->data : NULL;
    float *colsums = o.colsums ? o.colsums->data : NULL;
    Prepared p = {.empty = true};
    if (M == 0 || N == 0) return p;
    if (K == 0) {
        no_products(C, accumulate, init, o.then);
        return p;
    }
    /* the first k block starts from the bias, copied and padded to whole panels */
    const int n_panels = (N + NR - 1) / NR;
    if (!accumulate && init) {
        p.bias = xcalloc((size_t)n_panels * NR, sizeof(float));
        memcpy(p.bias, init, sizeof(float) * (size_t)N);
    }
    /* B is read in place, not packed, when its panels need no padding or transposing and all of it
     * fits in L1 with room to spare (16 KiB): a packed copy would cost as much as the product saves
     * (a 64 x 64 x 64 product, attention's A V and dS K) */
    const bool in_place = !tb && N % NR == 0 && (double)K * N <= 4096 && !colsums;
    p.s = (Product){C, A, B, ta, tb, in_place, K, N, accumulate ? TILE_ADD : p.bias ? TILE_BIAS : TILE_SET,
                    p.bias, o.tri, o.then, colsums};
    p.empty = false;
    return p;
}

/* The product's multiply-adds: what decides whether threads are worth waking */
static double work(const Prepared *p) { return p->empty ? 0.0 : (double)p->s.C->rows * p->s.N * p->s.K; }

/* Thread t of n's part of a prepared product (none when it is empty) */
static void run_part(const Prepared *p, int t, int n) {
    if (!p->empty) thread_part(&p->s, t, n);
}

void gemm(Tensor *C, const Tensor *A, const Tensor *B, GemmOptions o) {
    const Prepared p = prepare((GemmCall){C, A, B, o});
    /* threads only when the work is worth waking them: no parallel region at all otherwise (entering
     * one costs a system call even when its `if` clause is false: docs/performance.md) */
    if (work(&p) > 4e6 && threads_available() > 1) {
#pragma omp parallel
        run_part(&p, thread_index(), thread_count());
    } else
        run_part(&p, 0, 1);
    free(p.bias);
}

/* Does a write to X reach what the other product reads or writes? */
static bool touches(const Tensor *X, GemmCall g) {
    return tensors_overlap(X, g.C) || tensors_overlap(X, g.A) || tensors_overlap(X, g.B) ||
           (g.o.bias && tensors_overlap(X, g.o.bias)) || (g.o.colsums && tensors_overlap(X, g.o.colsums));
}

void gemm_two(GemmCall first, GemmCall second) {
    CHECK(!touches(first.C, second) && !(first.o.colsums && touches(first.o.colsums, second)) &&
              !touches(second.C, first) && !(second.o.colsums && touches(second.o.colsums, first)),
          "gemm_two: one product writes what the other reads or writes");
    const Prepared p1 = prepare(first), p2 = prepare(second);
    const double w1 = work(&p1), w2 = work(&p2);
    if (w1 + w2 > 4e6 && threads_available() > 1) {
        /* each element is still summed by one thread in gemm's order, so the bits are gemm's */
#pragma omp parallel
        {
            const int t = thread_index(), n = thread_count();
            if (n == 1) { /* the region got one thread only */
                run_part(&p1, 0, 1);
                run_part(&p2, 0, 1);
            } else {
                /* threads [0, n1) for the first, the rest for the second: in proportion to the
                 * work, a product with any work keeping at least one (an empty one gets none) */
                int n1 = (int)(n * w1 / (w1 + w2) + 0.5);
                if (w1 > 0 && n1 < 1) n1 = 1;
                if (w2 > 0 && n1 > n - 1) n1 = n - 1;
                if (t < n1) run_part(&p1, t, n1);
                else run_part(&p2, t - n1, n - n1);
            }
        }
    } else {
        run_part(&p1, 0, 1);
        run_part(&p2, 0, 1);
    }
    free(p1.bias), free(p2.bias);
}
