/* attention: masks and single-head attention (see attention.h). */
#include "attention.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "layers.h"
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
    gemm(scores, Q, K, (GemmOptions){.flags = GEMM_TRANS_B});     /* (T, d_k) x (d_k, T) -> (T, T) */
    tensor_scale(scores, scores, 1.0f / sqrtf((float)Q->cols));   /* S / sqrt(d_k) */
    if (mask) tensor_add(scores, scores, mask);                   /* + M: hidden entries become -inf */
    SoftmaxStatus st = tensor_softmax_rows(weights, scores, bad_row); /* (T, T) */
    gemm(out, weights, V, (GemmOptions){0});                      /* (T, T) x (T, d_v) -> (T, d_v) */
    return st;
}

void attention_backward(Tensor *dQ, Tensor *dK, Tensor *dV, const Tensor *dout, const Tensor *Q,
                        const Tensor *K, const Tensor *V, const Tensor *A) {
    const int T = A->rows, Tk = A->cols; /* Tk = T for self-attention */
    const float scale = 1.0f / sqrtf((float)Q->cols);
    Tensor dA = tensor_new(T, Tk);
    /* out = A V:  dA = dout V^T (T, d_v) x (d_v, Tk);  dV += A^T dout (Tk, T) x (T, d_v) */
    gemm(&dA, dout, V, (GemmOptions){.flags = GEMM_TRANS_B});
    gemm(dV, A, dout, (GemmOptions){.flags = GEMM_ACCUMULATE | GEMM_TRANS_A});
    /* A = softmax(S) by rows: dS_ij = A_ij (dA_ij - sum_k dA_ik A_ik)  (dS overwrites dA) */
    for (int i = 0; i < T; i++) {
        float *da = tensor_at(&dA, i, 0);
        const float *a = tensor_at(A, i, 0);
        double dot = 0;
        for (int j = 0; j < Tk; j++) dot += (double)da[j] * a[j];
        for (int j = 0; j < Tk; j++) da[j] = a[j] * (da[j] - (float)dot);
    }
    /* S = Q K^T * scale (+ M, a constant):  dQ += dS K scale;  dK += dS^T Q scale */
    tensor_scale(&dA, &dA, scale);
    gemm(dQ, &dA, K, (GemmOptions){.flags = GEMM_ACCUMULATE}); /* (T, Tk) x (Tk, d_k) */
    gemm(dK, &dA, Q, (GemmOptions){.flags = GEMM_ACCUMULATE | GEMM_TRANS_A}); /* (Tk, T) x (T, d_k) */
    tensor_free(&dA);
}

/* ==== one head, the form multi-head attention runs ====
 * The same arithmetic as attention_forward and attention_backward with the causal mask or none,
 * through the matmul kernel's triangular products. With the causal mask, query row i sees keys
 * 0 .. i: gemm's triangular products skip the tiles right of the diagonal, and the sums over the zero
 * weights there. So the masked half of the scores, whose weights are exactly 0, is (up to tiles
 * straddling the diagonal) never computed. Each row's scores are scaled, cut at its own last
 * visible key and softmaxed in place in the weights. Nothing of size T x T is made besides the
 * weights themselves: the backward pass works on ROWS query rows at a time, in one block of
 * ROWS x T_kv (a block of rows r0 .. r0 + ROWS - 1 needs keys up to r0 + ROWS - 1 only). */
enum { ROWS = 64 };

/* The loops over a row's visible entries run on to a multiple of LANES (within the row), with the
 * entries past the visible ones selected to 0: rows of 1 .. T entries would otherwise end in up to
 * 15 scalar steps, each as slow as a whole vector step (they took most of the softmax's time). */
enum { LANES = 16 };
static int padded(int seen, int width) {
    const int p = (seen + LANES - 1) / LANES * LANES;
    return p < width ? p : width;
}

/* LANES floats as one value (the GCC and Clang vector extension: one AVX-512 register, or several
 * narrower ones), and as many 32-bit integers, for masks. */
typedef float lanes_f __attribute__((vector_size(LANES * sizeof(float))));
typedef int32_t lanes_i __attribute__((vector_size(LANES * sizeof(int32_t))));
_Static_assert(LANES == 16, "the lane numbers below are written out for 16 lanes");

/* Scale the row's first p scores, set those from `seen` on to -inf, and return the row's max. The
 * max is kept per lane in a vector and the lanes are compared in a short tree at the end, because
 * an `omp simd reduction(max)` ends every short row in a slow scalar epilogue. A NaN is never the
 * max (x > max is false): it reaches the sum. */
static float scale_and_max(float *s, int seen, int p, float scale) {
    const lanes_i lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const lanes_f neg_inf = (lanes_f){0} - INFINITY;
    lanes_f max = neg_inf;
    int j = 0;
    for (; j + LANES <= p; j += LANES) {
        lanes_f x;
        memcpy(&x, s + j, sizeof x);
        x *= scale;
        const lanes_i visible = lane + j < seen; /* all ones where visible; past seen: anything, even unset */
        x = (lanes_f)((visible & (lanes_i)x) | (~visible & (lanes_i)neg_inf));
        memcpy(s + j, &x, sizeof x);
        const lanes_i bigger = x > max;
        max = (lanes_f)((bigger & (lanes_i)x) | (~bigger & (lanes_i)max));
    }
    float m[LANES];
    memcpy(m, &max, sizeof m);
    for (; j < p; j++) { /* a row that ends short of a whole vector (T not a multiple of LANES) */
        const float v = j < seen ? s[j] * scale : -INFINITY;
        s[j] = v;
        m[0] = v > m[0] ? v : m[0];
    }
    for (int w = LANES / 2; w >= 1; w /= 2)
        for (int l = 0; l < w; l++) m[l] = m[l + w] > m[l] ? m[l + w] : m[l];
    return m[0];
}

/* sum_j d[j] a[j] in double over j < seen, for a row whose entries past seen may be anything (they
 * are selected away): in vector lanes with a tree at the end, for the same reason as above. */
typedef float half_f __attribute__((vector_size(LANES / 2 * sizeof(float))));
typedef double half_d __attribute__((vector_size(LANES / 2 * sizeof(double))));

static double visible_dot(const float *d, const float *a, int seen, int p) {
    const lanes_i lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    half_d lo = {0}, hi = {0};
    int j = 0;
    for (; j + LANES <= p; j += LANES) {
        lanes_f x, y;
        memcpy(&x, d + j, sizeof x), memcpy(&y, a + j, sizeof y);
        x = (lanes_f)((lane + j < seen) & (lanes_i)x); /* 0.0f (all bits clear) past seen */
        half_f x0, x1, y0, y1;
        memcpy(&x0, &x, sizeof x0), memcpy(&x1, (char *)&x + sizeof x0, sizeof x1);
        memcpy(&y0, &y, sizeof y0), memcpy(&y1, (char *)&y + sizeof y0, sizeof y1);
        lo += __builtin_convertvector(x0, half_d) * __builtin_convertvector(y0, half_d);
        hi += __builtin_convertvector(x1, half_d) * __builtin_convertvector(y1, half_d);
    }
    double t[LANES / 2];
    lo += hi;
    memcpy(t, &lo, sizeof t);
    for (; j < p; j++) t[0] += j < seen ? (double)d[j] * a[j] : 0.0; /* a row short of a whole vector */
    for (int w = LANES / 4; w >= 1; w /= 2)
        for (int l = 0; l < w; l++) t[l] += t[l + w];
    return t[0];
}

/* Row i of the weights: s = its scores, of which the first `seen` are visible. Scale them, softmax
 * the visible part in place (as tensor_softmax_rows does: less the max, exponentials summed in
 * double), write exact zeros over the rest of the row (up to `width`). A row holding NaN or +inf,
 * or only -inf, becomes NaN; the status says which. */
static SoftmaxStatus softmax_visible(float *s, int seen, int width, float scale) {
    const int p = padded(seen, width);
    const float max = scale_and_max(s, seen, p, scale);
    double sum = 0.0; /* >= 1 (the max entry contributes exp(0)), or NaN */
    if (max > -INFINITY) {
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < p; j++) {
            const float e = exp_nonpositive(s[j] - max); /* exp(-inf) = 0: the padding adds nothing */
            s[j] = e;
            sum += e;
        }
    }
    /* only -inf visible (the max is -inf), or a NaN or +inf among them (exp(NaN) or exp(inf - inf)
     * made the sum NaN): no distribution, and nothing that could be mistaken for one */
    if (!(max > -INFINITY) || sum != sum) {
        bool nan = sum != sum;
        for (int j = 0; j < seen; j++) nan |= s[j] != s[j]; /* a row of NaN has the max -inf too */
        for (int j = 0; j < width; j++) s[j] = j < seen ? NAN : 0.0f;
        return nan ? SOFTMAX_NOT_FINITE : SOFTMAX_ALL_MASKED;
    }
    const float inv = (float)(1.0 / sum);
#pragma omp simd
    for (int j = 0; j < p; j++) s[j] *= inv;
    for (int j = p; j < width; j++) s[j] = 0.0f; /* masked: weight exactly 0 */
    return SOFTMAX_OK;
}

SoftmaxStatus attention_head_forward(Tensor *out, Tensor *weights, const Tensor *Q, const Tensor *K,
                                     const Tensor *V, bool causal, int *bad_row) {
    const int T = Q->rows, Tk = K->rows, dk = Q->cols, dv = V->cols;
    CHECK(K->cols == dk && V->rows == Tk && weights->rows == T && weights->cols == Tk && out->rows == T &&
              out->cols == dv && (!causal || T == Tk),
          "attention head: Q (%d, %d), K (%d, %d), V (%d, %d), weights (%d, %d), out (%d, %d)%s", T, dk, Tk,
          K->cols, V->rows, dv, weights->rows, weights->cols, out->rows, out->cols, causal ? ", causal" : "");
    const float scale = 1.0f / sqrtf((float)dk);
    /* all the rows at once (the forward pass needs no workspace): query i sees key j for j <= i */
    const Triangle seen = {causal ? TRI_C_LOWER : TRI_NONE, 0}, zeros_after = {causal ? TRI_A_LOWER : TRI_NONE, 0};
    gemm(weights, Q, K, (GemmOptions){.flags = GEMM_TRANS_B, .tri = seen}); /* (T, d_k) x (d_k, T_kv): Q K^T */
    SoftmaxStatus status = SOFTMAX_OK;
    for (int i = 0; i < T; i++) {
        const SoftmaxStatus st = softmax_visible(tensor_at(weights, i, 0), causal ? i + 1 : Tk, Tk, scale);
        if (st != SOFTMAX_OK && status == SOFTMAX_OK) {
            status = st;
            if (bad_row) *bad_row = i;
        }
    }
    gemm(out, weights, V, (GemmOptions){.tri = zeros_after}); /* (T, T_kv) x (T_kv, d_v): A V */
    return status;
}

void attention_head_backward(Tensor *dQ, Tensor *dK, Tensor *dV, const Tensor *dout, const Tensor *Q,
                             const Tensor *K, const Tensor *V, const Tensor *weights, bool causal) {
    const int T = Q->rows, Tk = K->rows, dk = Q->cols, dv = V->cols;
    const float scale = 1.0f / sqrtf((float)dk);
    Tensor ds = tensor_new(ROWS < T ? ROWS : T, Tk); /* one block of dA, then dS */
    /* the blocks from the last: the first one done sees every key, so it stores dK and dV whole
     * and the others add to them; each block's rows of dQ are its own */
    const int last = (T - 1) / ROWS * ROWS;
    for (int r0 = last; r0 >= 0; r0 -= ROWS) {
        const int rows = T - r0 < ROWS ? T - r0 : ROWS, n = causal ? r0 + rows : Tk;
        const bool add = r0 != last;
        /* block row i sees key j for j <= i + r0; in the transposed products, key row j is seen by
         * block rows i >= j - r0 */
        const Triangle seen = {causal ? TRI_C_LOWER : TRI_NONE, r0}, zeros_after = {causal ? TRI_A_LOWER : TRI_NONE, r0};
        const Triangle zeros_before = {causal ? TRI_A_UPPER : TRI_NONE, -r0};
        Tensor qb = tensor_view(Q, r0, 0, rows, dk), kb = tensor_view(K, 0, 0, n, dk), vb = tensor_view(V, 0, 0, n, dv);
        Tensor ab = tensor_view(weights, r0, 0, rows, n), gb = tensor_view(dout, r0, 0, rows, dv);
        Tensor dqb = tensor_view(dQ, r0, 0, rows, dk), dkb = tensor_view(dK, 0, 0, n, dk), dvb = tensor_view(dV, 0, 0, n, dv);
        Tensor dsb = tensor_view(&ds, 0, 0, rows, n);
        /* out = A V:  dA = dout V^T;  dV = A^T dout */
        gemm(&dsb, &gb, &vb, (GemmOptions){.flags = GEMM_TRANS_B, .tri = seen}); /* (rows, d_v) x (d_v, n) */
        gemm(&dvb, &ab, &gb, (GemmOptions){.flags = (add ? GEMM_ACCUMULATE : 0) | GEMM_TRANS_A, .tri = zeros_before}); /* (n, rows) x (rows, d_v) */
        /* A = softmax(S) by rows:  dS_ij = A_ij (dA_ij - sum_k dA_ik A_ik), times the scale of
         * S = Q K^T scale; masked entries get exact zeros (dA there was not computed) */
        for (int i = 0; i < rows; i++) {
            const int m = causal ? r0 + i + 1 : Tk; /* the keys row i sees */
            float *d = tensor_at(&dsb, i, 0);
            const float *a = tensor_at(&ab, i, 0);
            const int p = padded(m, n); /* past m, d was not computed: selected away */
            const double sum = visible_dot(d, a, m, p);
#pragma omp simd
            for (int j = 0; j < p; j++) d[j] = j < m ? a[j] * (d[j] - (float)sum) * scale : 0.0f;
            for (int j = p; j < n; j++) d[j] = 0.0f;
        }
        gemm(&dqb, &dsb, &kb, (GemmOptions){.tri = zeros_after}); /* dQ = dS K:   (rows, n) x (n, d_k) */
        gemm(&dkb, &dsb, &qb, (GemmOptions){.flags = (add ? GEMM_ACCUMULATE : 0) | GEMM_TRANS_A, .tri = zeros_before}); /* dK = dS^T Q: (n, rows) x (rows, d_k) */
    }
    tensor_free(&ds);
}

/* ==== multi-head attention ==== */

Tensor *mha_param(MhaParams *p, int i) {
    Tensor *all[MHA_N_PARAMS] = {&p->Wq, &p->Wk, &p->Wv, &p->Wo, &p->bq, &p->bk, &p->bv, &p->bo};
    return all[i];
}

void mha_params_layout(MhaParams *p, int C, Arena *a) {
    for (int i = 0; i < MHA_N_PARAMS; i++) *mha_param(p, i) = i < 4 ? arena_take(a, C, C) : arena_take(a, 1, C);
}

void mha_params_zero_like(MhaParams *g, int C) { mha_params_layout(g, C, NULL); }

void mha_params_init(MhaParams *p, int C, Rng *rng, float std) {
    mha_params_zero_like(p, C);
    for (int i = 0; i < 4; i++) tensor_randn(mha_param(p, i), rng, std);
}

void mha_params_free(MhaParams *p) {
    for (int i = 0; i < MHA_N_PARAMS; i++) tensor_free(mha_param(p, i));
}

void mha_cache_layout(MhaCache *c, int B, int T, int T_kv, int C, int H, bool causal, Arena *a) {
    mha_cache_layout_shared(c, B, T, T_kv, C, H, causal, a, a);
}

void mha_cache_layout_shared(MhaCache *c, int B, int T, int T_kv, int C, int H, bool causal, Arena *keep, Arena *work) {
    if (H < 1 || C % H != 0) die(EXIT_USAGE, "%d heads do not divide the width %d", H, C);
    if (c->weights == NULL || c->cap < B * H) {
        free(c->weights);
        c->weights = xmalloc(sizeof(Tensor) * (size_t)(B * H));
        c->cap = B * H;
    }
    c->B = B, c->T = T, c->T_kv = T_kv, c->C = C, c->H = H, c->causal = causal;
    c->q = arena_take(keep, B * T, C), c->k = arena_take(keep, B * T_kv, C), c->v = arena_take(keep, B * T_kv, C);
    c->concat = arena_take(keep, B * T, C);
    c->dconcat = arena_take(work, B * T, C), c->dq = arena_take(work, B * T, C);
    c->dk = arena_take(work, B * T_kv, C), c->dv = arena_take(work, B * T_kv, C);
    for (int i = 0; i < B * H; i++) c->weights[i] = arena_take(keep, T, T_kv);
}

void mha_cache_init(MhaCache *c, int T, int C, int H, bool causal) {
    c->weights = NULL, c->hook = NULL;
    mha_cache_layout(c, 1, T, T, C, H, causal, NULL);
}

void mha_cache_init_cross(MhaCache *c, int T, int T_kv, int C, int H) {
    c->weights = NULL, c->hook = NULL;
    mha_cache_layout(c, 1, T, T_kv, C, H, false, NULL);
}

void mha_cache_free(MhaCache *c) {
    tensor_free(&c->q), tensor_free(&c->k), tensor_free(&c->v), tensor_free(&c->concat);
    tensor_free(&c->dconcat), tensor_free(&c->dq), tensor_free(&c->dk), tensor_free(&c->dv);
    for (int i = 0; i < c->B * c->H; i++) tensor_free(&c->weights[i]);
    free(c->weights);
}

/* Worth starting threads for: the heads' work in multiply-adds, against OpenMP's cost of waking
 * them (a few microseconds). Heads are independent, each done whole by one thread in the same
 * order, so the thread count changes no bit. */
#ifdef _OPENMP /* (used only in the pragmas: a build without OpenMP would warn that it is unused) */
static bool heads_in_parallel(const MhaCache *c) {
    return (double)c->B * c->H * c->T * c->T_kv * (c->C / c->H) > 2e6;
}
#endif

void mha_forward_cross(Tensor *out, MhaCache *c, const MhaParams *p, const Tensor *xq, const Tensor *xkv) {
    const int T = c->T, Tk = c->T_kv, hs = c->C / c->H, n_heads = c->B * c->H;
    linear_forward(&c->q, xq, &p->Wq, &p->bq);  /* (B T, C) x (C, C) -> (B T, C): all sequences at once */
    linear_forward(&c->k, xkv, &p->Wk, &p->bk); /* (B T_kv, C) x (C, C) -> (B T_kv, C) */
    linear_forward(&c->v, xkv, &p->Wv, &p->bv);
#pragma omp parallel for schedule(static) if (heads_in_parallel(c))
    for (int bh = 0; bh < n_heads; bh++) {
        const int b = bh / c->H, h = bh % c->H;
        /* sequence b, head h: rows of sequence b, columns h*hs .. h*hs + hs - 1 */
        Tensor qh = tensor_view(&c->q, b * T, h * hs, T, hs), kh = tensor_view(&c->k, b * Tk, h * hs, Tk, hs);
        Tensor vh = tensor_view(&c->v, b * Tk, h * hs, Tk, hs), oh = tensor_view(&c->concat, b * T, h * hs, T, hs);
        /* Every row sees at least one key (the mask is the count of visible keys, never a -inf
           score), so a failed softmax means the scores themselves overflowed or hold NaN: the
           model diverged (or a loaded checkpoint holds huge weights). The head's output becomes
           NaN, so that the loss does and the training loop or the chapter names it. */
        if (attention_head_forward(&oh, &c->weights[bh], &qh, &kh, &vh, c->causal, NULL) != SOFTMAX_OK)
            tensor_fill(&oh, NAN);
    }
    if (c->hook) c->hook->fn(c->hook, HOOK_HEADS, c->layer, &c->concat);
    linear_forward(out, &c->concat, &p->Wo, &p->bo); /* (B T, C) x (C, C) -> (B T, C) */
}

void mha_backward_cross(Tensor *dxq, Tensor *dxkv, MhaParams *g, const Tensor *dout, MhaCache *c,
                        const MhaParams *p, const Tensor *xq, const Tensor *xkv) {
    const int T = c->T, Tk = c->T_kv, C = c->C, hs = C / c->H, n_heads = c->B * c->H;
    Tensor *dconcat = &c->dconcat, *dq = &c->dq, *dk = &c->dk, *dv = &c->dv;
    /* out = concat W^O + b^O: dconcat = dout W^O^T (stored: the workspace is this function's own) */
    gemm_two((GemmCall){dconcat, dout, &p->Wo, {.flags = GEMM_TRANS_B}}, /* (B T, C) x (C, C) */
             (GemmCall){&g->Wo, &c->concat, dout, {.flags = GEMM_ACCUMULATE | GEMM_TRANS_A, .colsums = &g->bo}});
    /* each head writes its own columns of dq, dk and dv whole */
#pragma omp parallel for schedule(static) if (heads_in_parallel(c))
    for (int bh = 0; bh < n_heads; bh++) {
        const int b = bh / c->H, h = bh % c->H;
        Tensor qh = tensor_view(&c->q, b * T, h * hs, T, hs), kh = tensor_view(&c->k, b * Tk, h * hs, Tk, hs);
        Tensor vh = tensor_view(&c->v, b * Tk, h * hs, Tk, hs), doh = tensor_view(dconcat, b * T, h * hs, T, hs);
        Tensor dqh = tensor_view(dq, b * T, h * hs, T, hs), dkh = tensor_view(dk, b * Tk, h * hs, Tk, hs);
        Tensor dvh = tensor_view(dv, b * Tk, h * hs, Tk, hs);
        attention_head_backward(&dqh, &dkh, &dvh, &doh, &qh, &kh, &vh, &c->weights[bh], c->causal);
    }
    linear_backward(dxq, &g->Wq, &g->bq, dq, xq, &p->Wq);   /* q = xq W^Q + b^Q */
    linear_backward(dxkv, &g->Wk, &g->bk, dk, xkv, &p->Wk); /* k, v from xkv */
    linear_backward(dxkv, &g->Wv, &g->bv, dv, xkv, &p->Wv);
}

void mha_forward(Tensor *out, MhaCache *c, const MhaParams *p, const Tensor *x) { mha_forward_cross(out, c, p, x, x); }

void mha_backward(Tensor *dx, MhaParams *g, const Tensor *dout, MhaCache *c, const MhaParams *p,
                  const Tensor *x) {
    mha_backward_cross(dx, dx, g, dout, c, p, x, x);
}
