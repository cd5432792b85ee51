/* The layers: forward passes against hand-computed values, backward passes against finite
 * differences (common/gradcheck.c states the step and the tolerance, and why). Every check uses
 * the loss L = sum(out * R) with a fixed random R, so that every output element matters. */
#include <math.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "attention.h"
#include "block.h"
#include "gradcheck.h"
#include "layers.h"
#include "tests.h"

static Tensor randn(int rows, int cols, Rng *rng, float std) {
    Tensor t = tensor_new(rows, cols);
    tensor_randn(&t, rng, std);
    return t;
}

static void assert_checked(GradResult r) {
    ck_assert_msg(r.checked > 0, "nothing was checked");
    ck_assert_msg(r.max_error < GRADCHECK_TOL, "largest gradient error %.3g in %s", r.max_error, r.worst);
}

/* ---- forward values by hand ---- */

START_TEST(test_linear_by_hand) {
    Tensor x = tensor_new(1, 2), W = tensor_new(2, 3), b = tensor_new(1, 3), y = tensor_new(1, 3);
    const float xv[] = {1, 2}, Wv[] = {1, 0, -1, 2, 3, 4}, bv[] = {0.5f, 0, -1};
    memcpy(x.data, xv, sizeof xv), memcpy(W.data, Wv, sizeof Wv), memcpy(b.data, bv, sizeof bv);
    linear_forward(&y, &x, &W, &b); /* [1*1 + 2*2, 1*0 + 2*3, -1 + 8] + b */
    ck_assert(y.data[0] == 5.5f && y.data[1] == 6.0f && y.data[2] == 6.0f);
    tensor_free(&x), tensor_free(&W), tensor_free(&b), tensor_free(&y);
}
END_TEST

/* Any of linear_backward's three gradients may be NULL: each one asked for is the same, bit for
 * bit, as when all three are (the gradient check below checks the values of all three), whichever
 * others are left out, and they add to what was there. */
START_TEST(test_linear_backward_any_subset) {
    Rng rng;
    rng_seed(&rng, 12, 3);
    const int T = 40, I = 24, O = 36;
    Tensor x = tensor_new(T, I), W = tensor_new(I, O), dy = tensor_new(T, O);
    Tensor want[3] = {tensor_new(T, I), tensor_new(I, O), tensor_new(1, O)}, got[3] = {tensor_new(T, I), tensor_new(I, O), tensor_new(1, O)};
    tensor_randn(&x, &rng, 1.0f), tensor_randn(&W, &rng, 1.0f), tensor_randn(&dy, &rng, 1.0f);
    for (int i = 0; i < 3; i++) tensor_randn(&want[i], &rng, 1.0f); /* what the gradients add to */
    Tensor start[3] = {tensor_new(T, I), tensor_new(I, O), tensor_new(1, O)};
    for (int i = 0; i < 3; i++) tensor_copy(&start[i], &want[i]);
    linear_backward(&want[0], &want[1], &want[2], &dy, &x, &W);
    for (int mask = 0; mask < 8; mask++) {
        for (int i = 0; i < 3; i++) tensor_copy(&got[i], &start[i]);
        linear_backward(mask & 1 ? &got[0] : NULL, mask & 2 ? &got[1] : NULL, mask & 4 ? &got[2] : NULL, &dy, &x, &W);
        for (int i = 0; i < 3; i++) {
            const Tensor *expect = mask >> i & 1 ? &want[i] : &start[i]; /* left out: untouched */
            for (int r = 0; r < got[i].rows; r++)
                ck_assert_msg(tensor_rows_identical(&got[i], expect, r), "gradients %d: gradient %d, row %d", mask, i, r);
        }
    }
    for (int i = 0; i < 3; i++) tensor_free(&want[i]), tensor_free(&got[i]), tensor_free(&start[i]);
    tensor_free(&x), tensor_free(&W), tensor_free(&dy);
}
END_TEST

START_TEST(test_activations_by_hand) {
    Tensor x = tensor_new(1, 3), y = tensor_new(1, 3);
    x.data[0] = -1, x.data[1] = 0, x.data[2] = 1;
    relu_forward(&y, &x);
    ck_assert(y.data[0] == 0 && y.data[1] == 0 && y.data[2] == 1);
    gelu_forward(&y, &x);
    /* 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))) at x = +-1: tanh(0.7978846 * 1.044715) */
    const double t = tanh(0.7978845608028654 * 1.044715);
    ck_assert_float_eq_tol(y.data[2], (float)(0.5 * (1 + t)), 1e-6f);
    ck_assert_float_eq_tol(y.data[0], (float)(-0.5 * (1 - t)), 1e-6f);
    ck_assert(y.data[1] == 0.0f);
    tensor_free(&x), tensor_free(&y);
}
END_TEST

/* Row [1, 2, 3, 4]: mean 2.5, variance 1.25; row [5, 5, 5, 5]: variance 0, output = beta. */
START_TEST(test_layernorm_by_hand) {
    Tensor x = tensor_new(2, 4), y = tensor_new(2, 4), m = tensor_new(2, 1), r = tensor_new(2, 1);
    Tensor g = tensor_new(1, 4), b = tensor_new(1, 4);
    for (int c = 0; c < 4; c++) x.data[c] = (float)(c + 1), x.data[4 + c] = 5, g.data[c] = 2, b.data[c] = 0.5f;
    layernorm_forward(&y, &m, &r, &x, &g, &b, 1e-5f);
    ck_assert_float_eq_tol(m.data[0], 2.5f, 1e-7f);
    ck_assert_float_eq_tol(r.data[0], (float)(1 / sqrt(1.25 + 1e-5)), 1e-6f);
    for (int c = 0; c < 4; c++) {
        ck_assert_float_eq_tol(y.data[c], (float)(2 * (c + 1 - 2.5) / sqrt(1.25 + 1e-5) + 0.5), 1e-5f);
        ck_assert_float_eq_tol(y.data[4 + c], 0.5f, 1e-7f);
    }
    tensor_free(&x), tensor_free(&y), tensor_free(&m), tensor_free(&r), tensor_free(&g), tensor_free(&b);
}
END_TEST

/* The backward pass makes a layer norm's output again from the kept mean and rstd (layernorm_apply):
 * it must be the forward's output bit for bit, rows of 128 (whole vectors) and of 37 (a tail), on
 * one thread and on two (300 x 128 is large enough for the threaded path), and in place. */
START_TEST(test_layernorm_apply_is_forward) {
    Rng rng;
    rng_seed(&rng, 31, 7);
    const int widths[] = {128, 37};
    for (int w = 0; w < 2; w++)
        for (int threads = 1; threads <= 2; threads++) {
            const int T = 300, C = widths[w];
            Tensor x = tensor_new(T, C), y = tensor_new(T, C), again = tensor_new(T, C), m = tensor_new(T, 1), r = tensor_new(T, 1);
            Tensor g = tensor_new(1, C), b = tensor_new(1, C);
            tensor_randn(&x, &rng, 3.0f), tensor_randn(&g, &rng, 1.0f), tensor_randn(&b, &rng, 1.0f);
            for (int c = 0; c < C; c++) *tensor_at(&x, 0, c) += 1000.0f; /* a row far from zero: the mean matters */
#ifdef _OPENMP
            const int saved = omp_get_max_threads();
            omp_set_num_threads(threads);
#endif
            layernorm_forward(&y, &m, &r, &x, &g, &b, 1e-5f);
            layernorm_apply(&again, &m, &r, &x, &g, &b);
            for (int t = 0; t < T; t++) ck_assert_msg(tensor_rows_identical(&y, &again, t), "C %d, %d threads: row %d", C, threads, t);
            layernorm_apply(&x, &m, &r, &x, &g, &b); /* in place */
#ifdef _OPENMP
            omp_set_num_threads(saved);
#endif
            for (int t = 0; t < T; t++) ck_assert(tensor_rows_identical(&y, &x, t));
            Tensor *all[] = {&x, &y, &again, &m, &r, &g, &b};
            for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tensor_free(all[i]);
        }
}
END_TEST

/* logits (0, ln 3): p = (1/4, 3/4); target 1: loss -ln 0.75; a second row is ignored (-1). */
START_TEST(test_crossentropy_by_hand) {
    Tensor z = tensor_new(2, 2), p = tensor_new(2, 2), d = tensor_new(2, 2);
    z.data[1] = logf(3.0f);
    z.data[2] = 100, z.data[3] = -100;
    const int targets[] = {1, -1};
    double loss = crossentropy_forward(&p, &z, targets);
    ck_assert_double_eq_tol(loss, -log(0.75), 1e-7);
    crossentropy_backward(&d, &p, targets, 1.0f);
    ck_assert_float_eq_tol(d.data[0], 0.25f, 1e-7f);
    ck_assert_float_eq_tol(d.data[1], -0.25f, 1e-7f);
    ck_assert(d.data[2] == 0.0f && d.data[3] == 0.0f);
    /* a target whose probability underflows still gets its exact loss: -log p = 200 */
    const int far[] = {-1, 1};
    ck_assert_double_eq_tol(crossentropy_forward(&p, &z, far), 200.0, 1e-4);
    tensor_free(&z), tensor_free(&p), tensor_free(&d);
}
END_TEST

/* The masked loss looks only at the rows with a target: changing the logits of the other rows
 * changes neither the loss nor any gradient. */
START_TEST(test_masked_loss_ignores_unchosen_rows) {
    Rng rng;
    rng_seed(&rng, 12, 12);
    Tensor z = randn(6, 5, &rng, 2.0f), p = tensor_new(6, 5), d1 = tensor_new(6, 5), d2 = tensor_new(6, 5);
    const int targets[6] = {-1, 3, -1, -1, 0, -1};
    const double a = crossentropy_forward(&p, &z, targets);
    crossentropy_backward(&d1, &p, targets, 1.0f);
    for (int c = 0; c < 5; c++) *tensor_at(&z, 0, c) += 7.0f, *tensor_at(&z, 3, c) -= 3.0f * (float)c;
    const double b = crossentropy_forward(&p, &z, targets);
    crossentropy_backward(&d2, &p, targets, 1.0f);
    ck_assert(a == b);
    for (int i = 0; i < 30; i++) ck_assert(d1.data[i] == d2.data[i]);
    for (int c = 0; c < 5; c++) ck_assert(*tensor_at(&d1, 0, c) == 0.0f && *tensor_at(&d1, 5, c) == 0.0f);
    tensor_free(&z), tensor_free(&p), tensor_free(&d1), tensor_free(&d2);
}
END_TEST

START_TEST(test_posenc_by_hand) {
    Tensor pe = tensor_new(3, 6);
    posenc_sinusoidal(&pe);
    ck_assert(*tensor_at(&pe, 0, 0) == 0.0f && *tensor_at(&pe, 0, 1) == 1.0f);
    ck_assert_float_eq_tol(*tensor_at(&pe, 1, 0), (float)sin(1.0), 1e-7f);
    ck_assert_float_eq_tol(*tensor_at(&pe, 1, 1), (float)cos(1.0), 1e-7f);
    ck_assert_float_eq_tol(*tensor_at(&pe, 2, 2), (float)sin(2 / pow(10000.0, 2.0 / 6)), 1e-7f);
    ck_assert_float_eq_tol(*tensor_at(&pe, 2, 5), (float)cos(2 / pow(10000.0, 4.0 / 6)), 1e-7f);
    tensor_free(&pe);
}
END_TEST

/* PE(p) . PE(q) = sum_i cos((p - q) w_i), and each pair of PE(p + k) is PE(p)'s pair rotated by
 * k w_i. Float tables, so agreement to 1e-5 (16 terms of size 1, each rounded at 6e-8). */
START_TEST(test_posenc_identities) {
    const int N = 40, D = 16;
    Tensor pe = tensor_new(N, D);
    posenc_sinusoidal(&pe);
    for (int p = 0; p < N; p++)
        for (int q = 0; q < N; q++) {
            double dot = 0, closed = 0;
            for (int c = 0; c < D; c++) dot += (double)*tensor_at(&pe, p, c) * *tensor_at(&pe, q, c);
            for (int i2 = 0; i2 < D; i2 += 2) closed += cos((p - q) / pow(10000.0, (double)i2 / D));
            ck_assert_double_eq_tol(dot, closed, 1e-5);
        }
    for (int k = 1; k < 10; k++)
        for (int p = 0; p + k < N; p++)
            for (int i2 = 0; i2 < D; i2 += 2) {
                const double b = k / pow(10000.0, (double)i2 / D);
                const double s = *tensor_at(&pe, p, i2), c = *tensor_at(&pe, p, i2 + 1);
                ck_assert_double_eq_tol(s * cos(b) + c * sin(b), *tensor_at(&pe, p + k, i2), 1e-6);
                ck_assert_double_eq_tol(c * cos(b) - s * sin(b), *tensor_at(&pe, p + k, i2 + 1), 1e-6);
            }
    tensor_free(&pe);
}
END_TEST

/* Attention without a mask is permutation-equivariant: permuting the rows of Q, K, V permutes the
 * output rows the same way (up to the rounding of sums taken in another order). */
START_TEST(test_attention_permutation_equivariance) {
    Rng rng;
    rng_seed(&rng, 8, 8);
    const int T = 7, d = 4, perm[7] = {3, 6, 0, 5, 1, 4, 2};
    Tensor Q = randn(T, d, &rng, 1.0f), K = randn(T, d, &rng, 1.0f), V = randn(T, d, &rng, 1.0f);
    Tensor Qp = tensor_new(T, d), Kp = tensor_new(T, d), Vp = tensor_new(T, d);
    for (int t = 0; t < T; t++) {
        Tensor a = tensor_row(&Qp, t), b = tensor_row(&Q, perm[t]);
        tensor_copy(&a, &b);
        a = tensor_row(&Kp, t), b = tensor_row(&K, perm[t]);
        tensor_copy(&a, &b);
        a = tensor_row(&Vp, t), b = tensor_row(&V, perm[t]);
        tensor_copy(&a, &b);
    }
    Tensor Z = tensor_new(T, d), Zp = tensor_new(T, d), S = tensor_new(T, T), A = tensor_new(T, T);
    attention_forward(&Z, &S, &A, &Q, &K, &V, NULL, NULL);
    attention_forward(&Zp, &S, &A, &Qp, &Kp, &Vp, NULL, NULL);
    for (int t = 0; t < T; t++)
        for (int c = 0; c < d; c++) ck_assert_float_eq_tol(*tensor_at(&Zp, t, c), *tensor_at(&Z, perm[t], c), 1e-6f);
    Tensor *all[] = {&Q, &K, &V, &Qp, &Kp, &Vp, &Z, &Zp, &S, &A};
    for (int i = 0; i < 10; i++) tensor_free(all[i]);
}
END_TEST

/* ---- backward passes by finite differences ---- */

typedef struct {
    int kind; /* which layer */
    Tensor x, W, b, g, beta, R, out, mean, rstd, probs;
    int ids[6];
} Ctx;

enum { K_LINEAR, K_RELU, K_GELU, K_LAYERNORM, K_CROSSENTROPY, K_EMBEDDING };

static double ctx_loss(void *p) {
    Ctx *c = p;
    switch (c->kind) {
    case K_LINEAR: linear_forward(&c->out, &c->x, &c->W, &c->b); break;
    case K_RELU: relu_forward(&c->out, &c->x); break;
    case K_GELU: gelu_forward(&c->out, &c->x); break;
    case K_LAYERNORM: layernorm_forward(&c->out, &c->mean, &c->rstd, &c->x, &c->g, &c->beta, 1e-5f); break;
    case K_CROSSENTROPY: return crossentropy_forward(&c->probs, &c->x, c->ids);
    case K_EMBEDDING: embedding_forward(&c->out, &c->W, c->ids); break;
    }
    return tensor_dot(&c->out, &c->R);
}

static void ctx_free(Ctx *c) {
    Tensor *all[] = {&c->x, &c->W, &c->b, &c->g, &c->beta, &c->R, &c->out, &c->mean, &c->rstd, &c->probs};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tensor_free(all[i]);
}

START_TEST(test_layer_gradients) {
    const int kind = _i;
    Rng rng;
    rng_seed(&rng, 100 + (uint64_t)kind, 1);
    Ctx c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    const int T = 6, C = 5, O = 4;
    c.x = randn(T, C, &rng, 1.0f);
    c.W = randn(kind == K_EMBEDDING ? 7 : C, O, &rng, 0.5f);
    c.b = randn(1, O, &rng, 0.5f);
    c.g = randn(1, C, &rng, 1.0f);
    c.beta = randn(1, C, &rng, 1.0f);
    const int out_cols = (kind == K_LINEAR || kind == K_EMBEDDING) ? O : C;
    c.R = randn(T, out_cols, &rng, 1.0f);
    c.out = tensor_new(T, out_cols);
    c.mean = tensor_new(T, 1), c.rstd = tensor_new(T, 1), c.probs = tensor_new(T, C);
    const int ids[6] = {3, 0, 3, 6, 1, 3}; /* row 3 of the table is used three times */
    const int targets[6] = {0, 4, -1, 2, 2, 1};
    memcpy(c.ids, kind == K_CROSSENTROPY ? targets : ids, sizeof ids);
    if (kind == K_RELU) /* keep inputs away from the kink at 0 by more than the step */
        for (int i = 0; i < T * C; i++) c.x.data[i] += c.x.data[i] >= 0 ? 0.05f : -0.05f;

    /* analytic gradients */
    ctx_loss(&c);
    Tensor dx = tensor_new(T, C), dW = tensor_new(c.W.rows, O), db = tensor_new(1, O);
    Tensor dg = tensor_new(1, C), dbeta = tensor_new(1, C);
    switch (kind) {
    case K_LINEAR: linear_backward(&dx, &dW, &db, &c.R, &c.x, &c.W); break;
    case K_RELU: relu_backward(&dx, &c.R, &c.x); break;
    case K_GELU: gelu_backward(&dx, &c.R, &c.x); break;
    case K_LAYERNORM: layernorm_backward(&dx, &dg, &dbeta, &c.R, &c.x, &c.mean, &c.rstd, &c.g); break;
    case K_CROSSENTROPY: crossentropy_backward(&dx, &c.probs, c.ids, 1.0f); break;
    case K_EMBEDDING: embedding_backward(&dW, &c.R, c.ids); break;
    }
    GradPair pairs[3];
    int n = 0;
    if (kind != K_EMBEDDING) pairs[n++] = (GradPair){"x", &c.x, &dx};
    if (kind == K_LINEAR || kind == K_EMBEDDING) pairs[n++] = (GradPair){"W", &c.W, &dW};
    if (kind == K_LINEAR) pairs[n++] = (GradPair){"b", &c.b, &db};
    if (kind == K_LAYERNORM) pairs[n++] = (GradPair){"gamma", &c.g, &dg}, pairs[n++] = (GradPair){"beta", &c.beta, &dbeta};
    assert_checked(gradcheck(ctx_loss, &c, pairs, n, 1000, kind == K_RELU, &rng));
    tensor_free(&dx), tensor_free(&dW), tensor_free(&db), tensor_free(&dg), tensor_free(&dbeta);
    ctx_free(&c);
}
END_TEST

/* The checker itself must fail a wrong gradient: here the true one with one element doubled. */
START_TEST(test_gradcheck_catches_a_wrong_gradient) {
    Rng rng;
    rng_seed(&rng, 5, 5);
    Ctx c;
    memset(&c, 0, sizeof c);
    c.kind = K_GELU;
    c.x = randn(3, 3, &rng, 1.0f), c.R = randn(3, 3, &rng, 1.0f), c.out = tensor_new(3, 3);
    Tensor dx = tensor_new(3, 3);
    gelu_backward(&dx, &c.R, &c.x);
    dx.data[4] *= 2.0f;
    GradPair pair = {"x", &c.x, &dx};
    GradResult r = gradcheck(ctx_loss, &c, &pair, 1, 100, false, &rng);
    ck_assert_msg(r.max_error > 0.2, "a doubled gradient element gave only %.3g", r.max_error);
    tensor_free(&dx);
    ctx_free(&c);
}
END_TEST

/* ---- attention ---- */

typedef struct {
    Tensor x, R, out;
    MhaParams p;
    MhaCache cache;
} MhaCtx;

static double mha_loss(void *p) {
    MhaCtx *c = p;
    mha_forward(&c->out, &c->cache, &c->p, &c->x);
    return tensor_dot(&c->out, &c->R);
}

/* Loop index: bit 0 = causal, bits 1.. = heads 1, 2, 4. */
START_TEST(test_mha_gradients) {
    const bool causal = _i & 1;
    const int H = 1 << (_i >> 1), T = 5, C = 8;
    Rng rng;
    rng_seed(&rng, 42 + (uint64_t)_i, 3);
    MhaCtx c;
    c.x = randn(T, C, &rng, 1.0f), c.R = randn(T, C, &rng, 1.0f), c.out = tensor_new(T, C);
    mha_params_init(&c.p, C, &rng, 0.4f);
    for (int i = 4; i < MHA_N_PARAMS; i++) tensor_randn(mha_param(&c.p, i), &rng, 0.1f);
    mha_cache_init(&c.cache, T, C, H, causal);
    mha_loss(&c);
    MhaParams g;
    mha_params_zero_like(&g, C);
    Tensor dx = tensor_new(T, C);
    mha_backward(&dx, &g, &c.R, &c.cache, &c.p, &c.x);
    static const char *const names[MHA_N_PARAMS] = {"Wq", "Wk", "Wv", "Wo", "bq", "bk", "bv", "bo"};
    GradPair pairs[MHA_N_PARAMS + 1];
    pairs[0] = (GradPair){"x", &c.x, &dx};
    for (int i = 0; i < MHA_N_PARAMS; i++) pairs[i + 1] = (GradPair){names[i], mha_param(&c.p, i), mha_param(&g, i)};
    assert_checked(gradcheck(mha_loss, &c, pairs, MHA_N_PARAMS + 1, 40, false, &rng));
    tensor_free(&dx), tensor_free(&c.x), tensor_free(&c.R), tensor_free(&c.out);
    mha_params_free(&c.p), mha_params_free(&g);
    mha_cache_free(&c.cache);
}
END_TEST

/* One head of width C is exactly the single-head attention of chapter 3 on q, k, v. */
START_TEST(test_one_head_is_single_head_attention) {
    Rng rng;
    rng_seed(&rng, 1, 2);
    const int T = 6, C = 4;
    Tensor x = randn(T, C, &rng, 1.0f), out = tensor_new(T, C);
    MhaParams p;
    mha_params_init(&p, C, &rng, 0.5f);
    MhaCache c;
    mha_cache_init(&c, T, C, 1, true);
    mha_forward(&out, &c, &p, &x);
    Tensor z = tensor_new(T, C), s = tensor_new(T, T), a = tensor_new(T, T), m = tensor_new(T, T);
    attention_mask(&m, MASK_CAUSAL);
    attention_forward(&z, &s, &a, &c.q, &c.k, &c.v, &m, NULL);
    for (int t = 0; t < T; t++) ck_assert(tensor_rows_identical(&z, &c.concat, t));
    tensor_free(&x), tensor_free(&out), tensor_free(&z), tensor_free(&s), tensor_free(&a), tensor_free(&m);
    mha_params_free(&p);
    mha_cache_free(&c);
}
END_TEST

/* The fused feed-forward network (the product's block step activates h while it is in the cache,
 * keeping only act'(h)) computes what its definition does, step by step with the plain product:
 * the same bits, for both activations, on rows that span several of the product's row blocks
 * (130 > 120) and a d_ff that is no multiple of its tiles. */
START_TEST(test_ffn_fused_is_plain) {
    Rng rng;
    rng_seed(&rng, 4, 4);
    const int T = 130, d = 24, d_ff = 50;
    for (int act = ACT_RELU; act <= ACT_GELU; act++) {
        FfnParams p;
        ffn_params_init(&p, d, d_ff, &rng);
        tensor_randn(&p.b1, &rng, 0.5f), tensor_randn(&p.b2, &rng, 0.5f);
        Tensor x = randn(T, d, &rng, 1.0f), fused = tensor_new(T, d), plain = tensor_new(T, d);
        Tensor h = tensor_new(T, d_ff), a = tensor_new(T, d_ff);
        FfnCache c;
        ffn_cache_init(&c, T, d_ff);
        ffn_forward(&fused, &c, &p, &x, (Activation)act);
        ffn_forward_plain(&plain, &h, &a, &p, &x, (Activation)act);
        for (int t = 0; t < T; t++) {
            ck_assert_msg(tensor_rows_identical(&fused, &plain, t), "activation %d: row %d of out differs", act, t);
            ck_assert_msg(tensor_rows_identical(&c.a, &a, t), "activation %d: row %d of a differs", act, t);
        }
        ffn_cache_free(&c), ffn_params_free(&p);
        tensor_free(&x), tensor_free(&fused), tensor_free(&plain), tensor_free(&h), tensor_free(&a);
    }
}
END_TEST

/* A block's backward pass reads nothing of its `work` tensors (block.h): a model lays every
 * block's work over the same memory, so by the time block l runs backward, block l+1 has written
 * over them. Two caches run the same forward pass; one has its work filled with NaN in between;
 * both backward passes must give the same bits, for both norm placements and both activations. */
START_TEST(test_block_backward_needs_no_work) {
    Rng rng;
    rng_seed(&rng, 8, 8);
    const int T = 9, C = 12, H = 3, F = 20;
    for (int variant = 0; variant < 4; variant++) {
        const NormPlacement norm = variant & 1 ? NORM_PRE : NORM_POST;
        const Activation act = variant & 2 ? ACT_GELU : ACT_RELU;
        BlockParams p, g[2];
        block_params_layout(&p, C, F, NULL);
        for (int i = 0; i < BLOCK_N_TENSORS; i++) tensor_randn(block_tensor(&p, i, NULL), &rng, 0.4f);
        Tensor x = randn(T, C, &rng, 1.0f), R = randn(T, C, &rng, 1.0f), out = tensor_new(T, C), dx[2];
        BlockCache c[2];
        for (int k = 0; k < 2; k++) {
            memset(&c[k], 0, sizeof c[k]);
            block_cache_layout(&c[k], 1, T, C, H, F, true, NULL);
            block_params_layout(&g[k], C, F, NULL);
            dx[k] = tensor_new(T, C);
            block_forward(&out, &c[k], &p, &x, norm, act);
        }
        Tensor *work[] = {&c[1].a_in, &c[1].att, &c[1].f_in, &c[1].f, &c[1].ffn.a, &c[1].ds2, &c[1].dmid, &c[1].dfin,
                          &c[1].ds1, &c[1].dain, &c[1].attn.dconcat, &c[1].attn.dq, &c[1].attn.dk, &c[1].attn.dv};
        for (size_t i = 0; i < sizeof work / sizeof work[0]; i++) tensor_fill(work[i], NAN);
        for (int k = 0; k < 2; k++) block_backward(&dx[k], &g[k], &R, &c[k], &p, norm, act);
        for (int t = 0; t < T; t++) ck_assert_msg(tensor_rows_identical(&dx[0], &dx[1], t), "variant %d: dx row %d", variant, t);
        for (int i = 0; i < BLOCK_N_TENSORS; i++) {
            const char *name;
            const Tensor *a = block_tensor(&g[0], i, &name), *b = block_tensor(&g[1], i, NULL);
            for (int r = 0; r < a->rows; r++) ck_assert_msg(tensor_rows_identical(a, b, r), "variant %d: %s row %d", variant, name, r);
        }
        for (int k = 0; k < 2; k++) block_cache_free(&c[k]), block_params_free(&g[k]), tensor_free(&dx[k]);
        block_params_free(&p), tensor_free(&x), tensor_free(&R), tensor_free(&out);
    }
}
END_TEST

Suite *layers_suite(void) {
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("forward_backward");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_linear_by_hand);
    tcase_add_test(tc, test_linear_backward_any_subset);
    tcase_add_test(tc, test_block_backward_needs_no_work);
    tcase_add_test(tc, test_activations_by_hand);
    tcase_add_test(tc, test_layernorm_by_hand);
    tcase_add_test(tc, test_layernorm_apply_is_forward);
    tcase_add_test(tc, test_crossentropy_by_hand);
    tcase_add_test(tc, test_posenc_by_hand);
    tcase_add_test(tc, test_masked_loss_ignores_unchosen_rows);
    tcase_add_test(tc, test_posenc_identities);
    tcase_add_test(tc, test_attention_permutation_equivariance);
    tcase_add_loop_test(tc, test_layer_gradients, K_LINEAR, K_EMBEDDING + 1);
    tcase_add_test(tc, test_gradcheck_catches_a_wrong_gradient);
    tcase_add_loop_test(tc, test_mha_gradients, 0, 6);
    tcase_add_test(tc, test_one_head_is_single_head_attention);
    tcase_add_test(tc, test_ffn_fused_is_plain);
    suite_add_tcase(s, tc);
    return s;
}
