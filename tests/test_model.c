/* The stacked model: its parameter count against the formula, gradients against finite differences
 * in every variant, the causal property, and a block-level gradient check for both norm placements. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gradcheck.h"
#include "model.h"
#include "model_fixtures.h"
#include "tests.h"
#include "util.h"

/* V = 11, C = 8, d_ff = 12, L = 2, max_len = 6, learned positions, pre-norm, untied:
 *   wte 88 + wpe 48 + 2 blocks x (4*64 + 4*8 attention, 2*8*12 + 12 + 8 FFN, 4*8 norms = 532)
 *   + final norm 16 + lm_head 88 = 1304. */
START_TEST(test_param_count) {
    ModelConfig c = tiny_config(2 | 4);
    ck_assert_int_eq(model_param_count(&c), 1304);
    Model m;
    model_init(&m, &c, 2, 1);
    ck_assert_uint_eq(m.n_params, 1304);
    size_t sum = 0;
    for (int i = 0; i < m.n_tensors; i++) sum += (size_t)m.tensors[i].param->rows * (size_t)m.tensors[i].param->cols;
    ck_assert_uint_eq(sum, m.n_params); /* the named views tile the one allocation */
    model_free(&m);
    c.tied = true, c.pos = POS_SINUSOIDAL, c.norm = NORM_POST;
    ck_assert_int_eq(model_param_count(&c), 88 + 2 * 532);
}
END_TEST

typedef struct {
    Model *m;
    const int *ids, *targets;
    int B, T;
} LossCtx;

static double model_loss(void *p) {
    LossCtx *l = p;
    return model_forward(l->m, l->ids, l->targets, l->B, l->T);
}


/* The analytic gradients of the loss in l against finite differences, every tensor sampled. */
static GradResult check_gradients(Model *m, LossCtx *l, bool kinks, Rng *rng) {
    model_zero_grad(m);
    model_loss(l);
    model_backward(m);
    GradPair *pairs = xmalloc(sizeof(GradPair) * (size_t)m->n_tensors);
    for (int i = 0; i < m->n_tensors; i++) pairs[i] = (GradPair){m->tensors[i].name, m->tensors[i].param, m->tensors[i].grad};
    GradResult r = gradcheck(model_loss, l, pairs, m->n_tensors, 6, kinks, rng);
    free(pairs);
    return r;
}

/* Every parameter tensor, sampled, in all 32 variants (causal, norm, positions, tying, activation).
 * The weights are drawn larger than GPT-2's 0.02 so that the gradients are of ordinary size. */
START_TEST(test_model_gradients) {
    ModelConfig c = tiny_config(_i);
    Model m;
    model_init(&m, &c, 2, 7);
    Rng rng;
    rng_seed(&rng, 100 + (uint64_t)_i, 1);
    randomize_params(&m, &rng);
    const int ids[12] = {1, 5, 3, 9, 0, 2, 10, 4, 4, 7, 6, 8};
    const int targets[12] = {5, 3, 9, 0, 2, -1, 4, 4, 7, 6, 8, 1};
    LossCtx l = {&m, ids, targets, 2, 6};
    GradResult r = check_gradients(&m, &l, c.act == ACT_RELU, &rng);
    ck_assert_msg(r.checked > 100, "only %d elements checked", r.checked);
    ck_assert_msg(r.max_error < GRADCHECK_TOL, "variant %d: largest error %.3g in %s", _i, r.max_error, r.worst);
    model_free(&m);
}
END_TEST

/* Causal: the logits at position t keep every bit when any token after t changes; bidirectional:
 * they change. */
START_TEST(test_causal_logits) {
    for (int causal = 0; causal < 2; causal++) {
        ModelConfig c = tiny_config(causal | 2);
        Model m;
        model_init(&m, &c, 1, 3);
        int ids[6] = {1, 2, 3, 4, 5, 6};
        model_forward(&m, ids, NULL, 1, 6);
        Tensor before = tensor_new(6, c.vocab);
        tensor_copy(&before, &m.logits);
        ids[4] = 9; /* change position 4 */
        model_forward(&m, ids, NULL, 1, 6);
        for (int t = 0; t < 4; t++) {
            bool same = tensor_rows_identical(&before, &m.logits, t);
            ck_assert_msg(causal ? same : !same, "causal=%d: position %d %s", causal, t, same ? "unchanged" : "changed");
        }
        ck_assert(!tensor_rows_identical(&before, &m.logits, 4));
        tensor_free(&before);
        model_free(&m);
    }
}
END_TEST

/* A shorter batch after a longer one reuses the same memory with new views and gives the same
 * result as a model that only ever saw the short shape. */
START_TEST(test_shapes_reuse_memory) {
    ModelConfig c = tiny_config(1 | 2);
    Model a, b;
    model_init(&a, &c, 2, 5);
    model_init(&b, &c, 2, 5);
    const int ids[6] = {3, 1, 4, 1, 5, 9}, targets[6] = {1, 4, 1, 5, 9, 2};
    model_forward(&a, ids, targets, 2, 3);
    double la = model_forward(&a, ids, targets, 1, 4);
    double lb = model_forward(&b, ids, targets, 1, 4);
    ck_assert_double_eq(la, lb);
    model_free(&a);
    model_free(&b);
}
END_TEST

/* The masked-LM loss (most targets -1) of a bidirectional model, against finite differences. */
START_TEST(test_masked_model_gradients) {
    ModelConfig c = tiny_config(2 | 4);
    Model m;
    model_init(&m, &c, 2, 8);
    Rng rng;
    rng_seed(&rng, 77, 1);
    randomize_params(&m, &rng);
    const int ids[12] = {10, 5, 10, 9, 0, 2, 10, 4, 4, 7, 10, 8}; /* 10 plays [MASK] */
    const int targets[12] = {1, -1, 3, -1, -1, -1, 6, -1, -1, -1, 2, -1};
    LossCtx l = {&m, ids, targets, 2, 6};
    GradResult r = check_gradients(&m, &l, false, &rng);
    ck_assert_msg(r.max_error < GRADCHECK_TOL, "largest error %.3g in %s", r.max_error, r.worst);
    model_free(&m);
}
END_TEST

/* Weight decay, as docs/model.md states it: the blocks' matrices and an untied output matrix decay;
 * the token and position embeddings, biases, gains and betas do not. */
START_TEST(test_decay_flags) {
    ModelConfig c = tiny_config(2 | 4); /* pre-norm, learned positions, untied: every kind of tensor */
    Model m;
    model_init(&m, &c, 1, 1);
    const char *const decays[] = {"Wq", "Wk", "Wv", "Wo", "W1", "W2", "lm_head"};
    int n_decay = 0;
    for (int i = 0; i < m.n_tensors; i++) {
        bool want = false;
        for (size_t k = 0; k < sizeof decays / sizeof decays[0]; k++) want = want || strstr(m.tensors[i].name, decays[k]);
        ck_assert_msg(m.tensors[i].decay == want, "%s: decay %d", m.tensors[i].name, m.tensors[i].decay);
        n_decay += want;
    }
    ck_assert_int_eq(n_decay, 6 * c.layers + 1);
    model_free(&m);
}
END_TEST

/* Initialisation, as docs/model.md states it, so that another framework can draw the same weights:
 * one PCG32 stream rng_seed(seed, 0x6d6f64656c); each weight std * (float)rng_normal, tensor by
 * tensor in memory order, row by row: wte and lm_head 0.02, wpe 0.01, a block's Wq, Wk, Wv and W1
 * 0.02, its Wo and W2 0.02 / sqrt(2L); gains 1 and every other tensor 0, drawing nothing. The same
 * bits, every element. */
START_TEST(test_init_draws) {
    ModelConfig c = tiny_config(2 | 4); /* pre-norm, learned positions, untied: every kind of tensor */
    Model m;
    model_init(&m, &c, 1, 42);
    Rng rng;
    rng_seed(&rng, 42, 0x6d6f64656cULL);
    const float proj = 0.02f / sqrtf(2.0f * (float)c.layers);
    int drawn = 0;
    for (int i = 0; i < m.n_tensors; i++) {
        const char *name = m.tensors[i].name;
        const Tensor *t = m.tensors[i].param;
        const bool projection = strstr(name, ".Wo") || strstr(name, ".W2");
        const bool random = projection || strstr(name, ".W") || !strcmp(name, "wte") || !strcmp(name, "wpe") ||
                            !strcmp(name, "lm_head");
        const float std = projection ? proj : !strcmp(name, "wpe") ? 0.01f : 0.02f;
        const float fixed = strstr(name, ".g") ? 1.0f : 0.0f;
        for (int r = 0; r < t->rows; r++)
            for (int k = 0; k < t->cols; k++) {
                const float want = random ? std * (float)rng_normal(&rng) : fixed;
                ck_assert_msg(*tensor_at(t, r, k) == want, "%s[%d][%d] = %g, want %g", name, r, k, *tensor_at(t, r, k), want);
            }
        drawn += random;
    }
    ck_assert_int_eq(drawn, 3 + 6 * c.layers);
    model_free(&m);
}
END_TEST

Suite *model_suite(void) {
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("stack");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_param_count);
    tcase_add_test(tc, test_decay_flags);
    tcase_add_test(tc, test_init_draws);
    tcase_add_loop_test(tc, test_model_gradients, 0, 32);
    tcase_add_test(tc, test_causal_logits);
    tcase_add_test(tc, test_masked_model_gradients);
    tcase_add_test(tc, test_shapes_reuse_memory);
    suite_add_tcase(s, tc);
    return s;
}
