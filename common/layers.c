/* layers: forward and backward passes (see layers.h). */
#include "layers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "util.h"

/* ==== linear ==== */

void linear_forward(Tensor *out, const Tensor *x, const Tensor *W, const Tensor *b) {
    /* (T, C_in) x (C_in, C_out) -> (T, C_out), each row starting from b */
    if (b) gemm(out, x, W, (GemmOptions){.bias = b});
    else gemm(out, x, W, (GemmOptions){0});
}

void linear_backward(Tensor *dx, Tensor *dW, Tensor *db, const Tensor *dout, const Tensor *x, const Tensor *W) {
    /* y = x W + b, so dL/dx = dL/dy W^T, dL/dW = x^T dL/dy, dL/db = sum over rows of dL/dy. */
    const GemmCall to_dx = {dx, dout, W, {.flags = GEMM_ACCUMULATE | GEMM_TRANS_B}}; /* (T, C_out) x (C_out, C_in) */
    const GemmCall to_dW = {dW, x, dout, {.flags = GEMM_ACCUMULATE | GEMM_TRANS_A, .colsums = db}}; /* (C_in, T) x (T, C_out), and db */
    if (dx && dW) {
        gemm_two(to_dx, to_dW); /* as much work each: half of the threads each */
        return;
    }
    if (dx) gemm(dx, dout, W, to_dx.o);
    if (dW) gemm(dW, x, dout, to_dW.o);
    else if (db)
        for (int t = 0; t < dout->rows; t++) {
            const float *g = tensor_at(dout, t, 0);
            for (int c = 0; c < dout->cols; c++) db->data[c] += g[c];
        }
}

/* ==== activations ==== */

void relu_forward(Tensor *out, const Tensor *x) {
    CHECK(tensor_same_shape(out, x), "relu shapes");
    for (int t = 0; t < x->rows; t++)
        for (int c = 0; c < x->cols; c++) {
            float v = *tensor_at(x, t, c);
            *tensor_at(out, t, c) = v > 0 ? v : 0.0f;
        }
}

void relu_backward(Tensor *dx, const Tensor *dout, const Tensor *x) {
    /* max(0, x) has slope 1 where x > 0 and 0 elsewhere (0 taken at the kink x = 0). */
    for (int t = 0; t < x->rows; t++)
        for (int c = 0; c < x->cols; c++)
            if (*tensor_at(x, t, c) > 0) *tensor_at(dx, t, c) += *tensor_at(dout, t, c);
}

void tanh_forward(Tensor *out, const Tensor *x) {
    CHECK(tensor_same_shape(out, x), "tanh shapes");
    for (int t = 0; t < x->rows; t++)
        for (int c = 0; c < x->cols; c++) *tensor_at(out, t, c) = tanhf(*tensor_at(x, t, c));
}

void tanh_backward(Tensor *dx, const Tensor *dout, const Tensor *y) {
    /* d tanh(x) / dx = 1 - tanh^2(x) = 1 - y^2 */
    for (int t = 0; t < y->rows; t++)
        for (int c = 0; c < y->cols; c++) {
            const float v = *tensor_at(y, t, c);
            *tensor_at(dx, t, c) += (1.0f - v * v) * *tensor_at(dout, t, c);
        }
}

#define GELU_K 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_A 0.044715f

/* tanh(u) for GELU, from one exponential: with e = exp(-2|u|), tanh|u| = (1 - e) / (1 + e). Its
 * absolute error is about 1e-7 (the cancellation in 1 - e costs relative accuracy only where tanh
 * is tiny, and GELU uses 1 + tanh); built on exp_nonpositive, the GELU loops vectorise, which
 * with tanhf they did not. */
static inline float gelu_tanh(float u) {
    const float e = exp_nonpositive(-2.0f * fabsf(u));
    return copysignf((1.0f - e) / (1.0f + e), u);
}

/* g'(x) = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) k (1 + 3 a x^2), given th = tanh u: the slope
 * of g(x) = 0.5 x (1 + tanh u), u = k (x + a x^3). */
static inline float gelu_slope(float v, float th) {
    return 0.5f * (1.0f + th) + 0.5f * v * (1.0f - th * th) * GELU_K * (1.0f + 3.0f * GELU_A * v * v);
}

void gelu_forward(Tensor *out, const Tensor *x) {
    CHECK(tensor_same_shape(out, x), "gelu shapes");
    for (int t = 0; t < x->rows; t++)
        for (int c = 0; c < x->cols; c++) {
            float v = *tensor_at(x, t, c);
            float u = GELU_K * (v + GELU_A * v * v * v);
            *tensor_at(out, t, c) = 0.5f * v * (1.0f + gelu_tanh(u));
        }
}

void gelu_backward(Tensor *dx, const Tensor *dout, const Tensor *x) {
    for (int t = 0; t < x->rows; t++)
        for (int c = 0; c < x->cols; c++) {
            float v = *tensor_at(x, t, c);
            float th = gelu_tanh(GELU_K * (v + GELU_A * v * v * v));
            *tensor_at(dx, t, c) += gelu_slope(v, th) * *tensor_at(dout, t, c);
        }
}

/* ==== layer norm ==== */

/* One row of the output from its statistics, the one expression both functions below use (so that
 * the compiler contracts it into the same multiply-adds in both): ((x - mean) rstd) gamma + beta */
static inline void layernorm_row_out(float *o, const float *xt, float m, float r, const float *gamma, const float *beta,
                                     int C) {
    for (int c = 0; c < C; c++) o[c] = ((xt[c] - m) * r) * gamma[c] + beta[c];
}

void layernorm_forward(Tensor *out, Tensor *mean, Tensor *rstd, const Tensor *x, const Tensor *gamma,
                       const Tensor *beta, float eps) {
    const int C = x->cols;
    CHECK(tensor_same_shape(out, x) && gamma->cols == C && beta->cols == C, "layernorm shapes");
#pragma omp parallel for schedule(static) if (worth_threads((double)x->rows * C))
    for (int t = 0; t < x->rows; t++) {
        const float *xt = tensor_at(x, t, 0);
        double m = 0, v = 0; /* the sums in double, in vector lanes (omp simd: a fixed order, run to run) */
#pragma omp simd reduction(+ : m)
        for (int c = 0; c < C; c++) m += xt[c];
        m /= C;                                       /* mean_t = (1/C) sum_c x[t][c] */
#pragma omp simd reduction(+ : v)
        for (int c = 0; c < C; c++) v += (xt[c] - m) * (xt[c] - m);
        v /= C;                                       /* var_t = (1/C) sum_c (x - mean)^2, biased */
        const float r = (float)(1.0 / sqrt(v + eps)); /* rstd_t = 1 / sqrt(var_t + eps) */
        layernorm_row_out(tensor_at(out, t, 0), xt, (float)m, r, gamma->data, beta->data, C);
        *tensor_at(mean, t, 0) = (float)m;
        *tensor_at(rstd, t, 0) = r;
    }
}

void layernorm_apply(Tensor *out, const Tensor *mean, const Tensor *rstd, const Tensor *x, const Tensor *gamma,
                     const Tensor *beta) {
    const int C = x->cols;
    CHECK(tensor_same_shape(out, x) && gamma->cols == C && beta->cols == C && mean->rows == x->rows &&
              rstd->rows == x->rows, "layernorm shapes");
#pragma omp parallel for schedule(static) if (worth_threads((double)x->rows * C))
    for (int t = 0; t < x->rows; t++)
        layernorm_row_out(tensor_at(out, t, 0), tensor_at(x, t, 0), *tensor_at(mean, t, 0), *tensor_at(rstd, t, 0),
                          gamma->data, beta->data, C);
}

/* dgamma and dbeta, columns c0 .. c0 + width - 1 (fewer at the last columns; width <= LN_GROUP):
 * sums over the rows, in row order, in local sums (kept in registers; summed in place, they were
 * stored and reloaded on every row). */
enum { LN_GROUP = 128 };
static void layernorm_param_grads(Tensor *dgamma, Tensor *dbeta, const Tensor *dout, const Tensor *x, const Tensor *mean,
                                  const Tensor *rstd, int c0, int width) {
    const int w = x->cols - c0 < width ? x->cols - c0 : width;
    float sg[LN_GROUP] = {0}, sb[LN_GROUP] = {0};
    if (dgamma) memcpy(sg, dgamma->data + c0, sizeof(float) * (size_t)w);
    if (dbeta) memcpy(sb, dbeta->data + c0, sizeof(float) * (size_t)w);
    for (int t = 0; t < x->rows; t++) {
        const float *xt = tensor_at(x, t, c0), *g = tensor_at(dout, t, c0);
        const float m = *tensor_at(mean, t, 0), r = *tensor_at(rstd, t, 0);
        for (int c = 0; c < w; c++) {
            sb[c] += g[c];
            sg[c] += g[c] * ((xt[c] - m) * r);
        }
    }
    if (dgamma) memcpy(dgamma->data + c0, sg, sizeof(float) * (size_t)w);
    if (dbeta) memcpy(dbeta->data + c0, sb, sizeof(float) * (size_t)w);
}

/* Row t of dx: each row on its own, so rows can go to different threads. gam is a local, so that
 * the compiler knows the stores to dx do not change it, and vectorises the loop. */
static void layernorm_dx_row(Tensor *dx, const Tensor *dout, const Tensor *x, const Tensor *mean, const Tensor *rstd,
                             const float *gam, int t) {
    const int C = x->cols;
    const float *xt = tensor_at(x, t, 0), *g = tensor_at(dout, t, 0);
    const float m = *tensor_at(mean, t, 0), r = *tensor_at(rstd, t, 0);
    double mean_d = 0, mean_dx = 0; /* in double, in vector lanes (a fixed order, run to run) */
#pragma omp simd reduction(+ : mean_d, mean_dx)
    for (int c = 0; c < C; c++) {
        const float xhat = (xt[c] - m) * r, dxhat = g[c] * gam[c];
        mean_d += dxhat;
        mean_dx += dxhat * xhat;
    }
    mean_d /= C;
    mean_dx /= C;
    float *d = tensor_at(dx, t, 0);
    for (int c = 0; c < C; c++) {
        const float xhat = (xt[c] - m) * r, dxhat = g[c] * gam[c];
        d[c] += r * (dxhat - (float)mean_d - xhat * (float)mean_dx);
    }
}

void layernorm_backward(Tensor *dx, Tensor *dgamma, Tensor *dbeta, const Tensor *dout, const Tensor *x,
                        const Tensor *mean, const Tensor *rstd, const Tensor *gamma) {
    /* With xhat = (x - mean) r and y = gamma xhat + beta:
     *   dbeta += dy,  dgamma += dy xhat,  dxhat = dy gamma.
     * mean and r depend on every x[c] of the row: d mean / dx_c = 1/C and
     * d r / dx_c = -r^3 (x_c - mean) / C. Collecting the three paths gives
     *   dx = r (dxhat - mean_c(dxhat) - xhat mean_c(dxhat xhat)). */
    const int C = x->cols, rows = dx ? x->rows : 0;
    const float *gam = gamma->data;
    /* threads take groups of columns of dgamma and dbeta (each column still summed in row order),
     * then rows of dx, in one region without waiting between the two; a group is as wide as a
     * thread's share of the columns (a multiple of 16), at most LN_GROUP */
    const bool threaded = worth_threads((double)x->rows * C);
    const int share = (C + threads_available() - 1) / threads_available(), width_wanted = (share + 15) / 16 * 16;
    const int width = threaded && width_wanted < LN_GROUP ? width_wanted : LN_GROUP;
    const int groups = dgamma || dbeta ? (C + width - 1) / width : 0;
    if (threaded) {
#pragma omp parallel
        {
#pragma omp for schedule(static) nowait
            for (int i = 0; i < groups; i++) layernorm_param_grads(dgamma, dbeta, dout, x, mean, rstd, i * width, width);
#pragma omp for schedule(static)
            for (int t = 0; t < rows; t++) layernorm_dx_row(dx, dout, x, mean, rstd, gam, t);
        }
    } else {
        for (int i = 0; i < groups; i++) layernorm_param_grads(dgamma, dbeta, dout, x, mean, rstd, i * width, width);
        for (int t = 0; t < rows; t++) layernorm_dx_row(dx, dout, x, mean, rstd, gam, t);
    }
}

/* ==== cross-entropy ==== */

double crossentropy_forward(Tensor *probs, const Tensor *logits, const int *targets) {
    CHECK(tensor_same_shape(probs, logits), "cross-entropy shapes");
    const int rows = logits->rows, V = logits->cols;
    for (int t = 0; t < rows; t++) CHECK(targets[t] < V, "target %d of %d classes", targets[t], V);
    double *row_loss = xmalloc(sizeof(double) * (size_t)rows); /* summed in row order below */
#pragma omp parallel for schedule(static) if (worth_threads((double)rows * V))
    for (int t = 0; t < rows; t++) {
        const float *z = tensor_at(logits, t, 0);
        float *p = tensor_at(probs, t, 0);
        float m = -INFINITY;
#pragma omp simd reduction(max : m)
        for (int v = 0; v < V; v++) m = z[v] > m ? z[v] : m; /* a NaN is not the max: it reaches the sum below */
        /* p = exp(z - m) / sum: the exponentials of values <= 0 (vectorised, see tensor.h), their
         * sum in double; a NaN or an infinity in z makes the sum, and so the loss, NaN */
        double sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int v = 0; v < V; v++) {
            p[v] = exp_nonpositive(z[v] - m);
            sum += p[v];
        }
        const double log_sum = log(sum);
        const float inv = (float)(1.0 / sum);
        for (int v = 0; v < V; v++) p[v] *= inv;
        /* -log p[target] = -(z_target - m - log sum exp(z - m)), exact even where p underflows */
        row_loss[t] = targets[t] < 0 ? 0.0 : -((double)z[targets[t]] - m - log_sum);
    }
    double total = 0;
    int counted = 0;
    for (int t = 0; t < rows; t++)
        if (targets[t] >= 0) total += row_loss[t], counted++;
    free(row_loss);
    return counted ? total / counted : 0.0;
}

void crossentropy_backward(Tensor *dlogits, const Tensor *probs, const int *targets, float dloss) {
    /* L = -(1/N) sum_t log softmax(z_t)[y_t]; dL/dz_t = (softmax(z_t) - onehot(y_t)) / N. */
    int counted = 0;
    for (int t = 0; t < probs->rows; t++) counted += targets[t] >= 0;
    if (counted == 0) return;
    const float scale = dloss / (float)counted;
#pragma omp parallel for schedule(static) if (worth_threads((double)probs->rows * probs->cols))
    for (int t = 0; t < probs->rows; t++) {
        if (targets[t] < 0) continue;
        const float *p = tensor_at(probs, t, 0);
        float *d = tensor_at(dlogits, t, 0);
        for (int v = 0; v < probs->cols; v++) d[v] += scale * (p[v] - (v == targets[t] ? 1.0f : 0.0f));
    }
}

/* ==== embedding ==== */

void embedding_forward(Tensor *out, const Tensor *table, const int *ids) {
    CHECK(out->cols == table->cols, "embedding widths %d and %d", out->cols, table->cols);
    for (int t = 0; t < out->rows; t++) {
        CHECK(ids[t] >= 0 && ids[t] < table->rows, "token id %d outside 0..%d", ids[t], table->rows - 1);
        memcpy(tensor_at(out, t, 0), tensor_at(table, ids[t], 0), sizeof(float) * (size_t)out->cols); /* a row */
    }
}

void embedding_backward(Tensor *dtable, const Tensor *dout, const int *ids) {
    /* out[t] = table[ids[t]]: the gradient of a table row is the sum of dout over the rows that
     * looked it up. */
    for (int t = 0; t < dout->rows; t++) {
        float *d = tensor_at(dtable, ids[t], 0);
        const float *g = tensor_at(dout, t, 0);
        for (int c = 0; c < dout->cols; c++) d[c] += g[c];
    }
}

/* ==== feed-forward network ==== */

void ffn_params_layout(FfnParams *p, int d, int d_ff, Arena *a) {
    p->W1 = arena_take(a, d, d_ff), p->b1 = arena_take(a, 1, d_ff);
    p->W2 = arena_take(a, d_ff, d), p->b2 = arena_take(a, 1, d);
}

void ffn_cache_layout_shared(FfnCache *c, int T, int d_ff, Arena *keep, Arena *work) {
    c->h = arena_take(keep, T, d_ff);
    c->a = arena_take(work, T, d_ff);
    c->h_is_slope = false;
}

void ffn_cache_layout(FfnCache *c, int T, int d_ff, Arena *a) { ffn_cache_layout_shared(c, T, d_ff, a, a); }

void ffn_params_init(FfnParams *p, int d, int d_ff, Rng *rng) {
    ffn_params_layout(p, d, d_ff, NULL);
    if (!rng) return;
    tensor_randn(&p->W1, rng, 1.0f / sqrtf((float)d));
    tensor_randn(&p->W2, rng, 1.0f / sqrtf((float)d_ff));
}

void ffn_params_free(FfnParams *p) {
    tensor_free(&p->W1), tensor_free(&p->b1), tensor_free(&p->W2), tensor_free(&p->b2);
}

void ffn_cache_init(FfnCache *c, int T, int d_ff) { ffn_cache_layout(c, T, d_ff, NULL); }

void ffn_cache_free(FfnCache *c) {
    tensor_free(&c->h);
    tensor_free(&c->a);
}

/* out = row + out, for every row of out: a bias (1, C) added to each of T rows. */
static void add_row(Tensor *out, const Tensor *row) {
    CHECK(row->rows == 1 && row->cols == out->cols, "bias (%d, %d) for rows of %d", row->rows, row->cols, out->cols);
    for (int t = 0; t < out->rows; t++)
        for (int c = 0; c < out->cols; c++) *tensor_at(out, t, c) = row->data[c] + *tensor_at(out, t, c);
}

void ffn_forward_plain(Tensor *out, Tensor *h, Tensor *a, const FfnParams *p, const Tensor *x, Activation act) {
    tensor_matmul(h, x, &p->W1); /* h = x W1 + b1   (T, d) x (d, d_ff) -> (T, d_ff) */
    add_row(h, &p->b1);
    if (act == ACT_RELU) relu_forward(a, h); /* a = act(h)   (T, d_ff) */
    else gelu_forward(a, h);
    tensor_matmul(out, a, &p->W2); /* out = a W2 + b2   (T, d_ff) x (d_ff, d) -> (T, d) */
    add_row(out, &p->b2);
}

/* The fused form the model runs. a = act(h), and act'(h) when asked for, for a block of rows of h
 * that the product has just finished (a BlockStep, see gemm.h): the block is still in L2, so the
 * activation makes no pass over memory of its own. act'(h), all the backward pass needs of h, is
 * written over h. */
typedef struct {
    Tensor *a;
    Activation act;
    bool slope; /* also write act'(h) over h */
} ActivateRows;

static void activate_rows(const void *ctx, Tensor *h, int r0, int c0, int rows, int cols) {
    const ActivateRows *t = ctx;
    const bool slope = t->slope;
    for (int r = r0; r < r0 + rows; r++) {
        float *x = tensor_at(h, r, c0), *o = tensor_at(t->a, r, c0);
        if (t->act == ACT_RELU)
            for (int k = 0; k < cols; k++) {
                const float v = x[k];
                o[k] = v > 0 ? v : 0.0f;
                if (slope) x[k] = v > 0 ? 1.0f : 0.0f; /* relu_backward's slope: 0 at the kink */
            }
        else if (slope)
#pragma omp simd
            for (int k = 0; k < cols; k++) {
                const float v = x[k], th = gelu_tanh(GELU_K * (v + GELU_A * v * v * v));
                o[k] = 0.5f * v * (1.0f + th);
                x[k] = gelu_slope(v, th);
            }
        else /* the same a, from the same expression */
#pragma omp simd
            for (int k = 0; k < cols; k++) {
                const float v = x[k], th = gelu_tanh(GELU_K * (v + GELU_A * v * v * v));
                o[k] = 0.5f * v * (1.0f + th);
            }
    }
}

static void times_dadh(const void *dadh, Tensor *d, int r0, int c0, int rows, int cols) { /* d *= act'(h) */
    for (int r = r0; r < r0 + rows; r++) {
        const float *s = tensor_at(dadh, r, c0);
        float *g = tensor_at(d, r, c0);
        for (int k = 0; k < cols; k++) g[k] *= s[k];
    }
}

void ffn_hidden(Tensor *dadh, Tensor *a, const FfnParams *p, const Tensor *x, Activation act) {
    CHECK(tensor_same_shape(dadh, a), "ffn: dadh (%d, %d), a (%d, %d)", dadh->rows, dadh->cols, a->rows, a->cols);
    const ActivateRows step = {a, act, true};
    /* h = x W1 + b1 (T, d) x (d, d_ff) -> (T, d_ff), written into dadh, then a = act(h), dadh = act'(h) */
    gemm(dadh, x, &p->W1, (GemmOptions){.bias = &p->b1, .then = {activate_rows, &step}});
}

void ffn_forward(Tensor *out, FfnCache *c, const FfnParams *p, const Tensor *x, Activation act) {
    const ActivateRows step = {&c->a, act, false};
    /* h = x W1 + b1 (T, d) x (d, d_ff) -> (T, d_ff), kept; a = act(h) as each block of rows is done */
    gemm(&c->h, x, &p->W1, (GemmOptions){.bias = &p->b1, .then = {activate_rows, &step}});
    c->act = act, c->h_is_slope = false;
    linear_forward(out, &c->a, &p->W2, &p->b2); /* (T, d_ff) -> (T, d) */
}

void ffn_backward(Tensor *dx, FfnParams *g, const Tensor *dout, FfnCache *c, const FfnParams *p,
                  const Tensor *x, Activation act) {
    CHECK(act == c->act, "ffn_backward: the forward pass ran another activation");
    CHECK(!c->h_is_slope, "ffn_backward: a second backward pass after one forward pass (h is gone)");
    /* a = act(h) again (the forward's may have been overwritten since), and act'(h) over h: the
     * same values as the forward pass's, from the same expressions */
    const ActivateRows step = {&c->a, act, true};
    Tensor *h = &c->h;
#pragma omp parallel for schedule(static) if (worth_threads((double)h->rows * h->cols))
    for (int r = 0; r < h->rows; r++) activate_rows(&step, h, r, 0, 1, h->cols);
    c->h_is_slope = true;
    /* out = a W2 + b2: dW2 += a^T dout and db2 first, then a is free for da = dout W2^T; as each
     * block of its rows is finished, a = act(h): dh = da act'(h), in place */
    linear_backward(NULL, &g->W2, &g->b2, dout, &c->a, &p->W2);
    Tensor *dh = &c->a;
    gemm(dh, dout, &p->W2, (GemmOptions){.flags = GEMM_TRANS_B, .then = {times_dadh, h}}); /* (T, C) x (C, d_ff) */
    linear_backward(dx, &g->W1, &g->b1, dh, x, &p->W1); /* h = x W1 + b1 */
}

/* ==== positional encoding ==== */

void posenc_sinusoidal(Tensor *PE) {
    const int C = PE->cols;
    for (int pos = 0; pos < PE->rows; pos++)
        for (int c = 0; c < C; c++) {
            const int i2 = c - (c % 2); /* 2i: the pair's even index */
            const double angle = pos / pow(10000.0, (double)i2 / C);
            *tensor_at(PE, pos, c) = (float)(c % 2 == 0 ? sin(angle) : cos(angle));
        }
}
