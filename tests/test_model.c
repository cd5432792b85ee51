/* The stacked model: its parameter count against the formula, gradients against finite differences
 * in every variant, the causal property, and a block-level gradient check for both norm placements. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gradcheck.h"
#include "model.h"
#include "tests.h"
#include "util.h"

static ModelConfig tiny(int variant) {
    ModelConfig c = {.vocab = 11, .d_model = 8, .heads = 2, .d_ff = 12, .layers = 2, .max_len = 6};
    c.causal = variant & 1;
    c.norm = (variant & 2) ? NORM_PRE : NORM_POST;
    c.pos = (variant & 4) ? POS_LEARNED : POS_SINUSOIDAL;
    c.tied = variant & 8;
    c.act = (variant & 16) ? ACT_RELU : ACT_GELU;
    return c;
}

/* V = 11, C = 8, d_ff = 12, L = 2, max_len = 6, learned positions, pre-norm, untied:
 *   wte 88 + wpe 48 + 2 blocks x (4*64 + 4*8 attention, 2*8*12 + 12 + 8 FFN, 4*8 norms = 532)
 *   + final norm 16 + lm_head 88 = 1304. */
START_TEST(test_param_count) {
    ModelConfig c = tiny(2 | 4);
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

/* Weights of size 0.3 (larger than GPT-2's 0.02, so that gradients are of ordinary size), layer-norm
 * gains around 1. */
static void randomize_params(Model *m, Rng *rng) {
    for (int i = 0; i < m->n_tensors; i++) {
        Tensor *t = m->tensors[i].param;
        tensor_randn(t, rng, 0.3f);
        if (strstr(m->tensors[i].name, ".g"))
            for (int k = 0; k < t->cols; k++) t->data[k] += 1.0f;
    }
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
    ModelConfig c = tiny(_i);
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
        ModelConfig c = tiny(causal | 2);
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
    ModelConfig c = tiny(1 | 2);
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
    ModelConfig c = tiny(2 | 4);
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

/* The classifier's loss and gradients (head and body) against finite differences, for both
 * poolings; the head's output is a distribution over its K classes. */
typedef struct {
    Model *m;
    Head *h;
    const int *ids;
    int T, label;
    Pooling pool;
    float probs[3];
} ClassCtx;

static double class_loss(void *p) {
    ClassCtx *c = p;
    return classify_forward(c->m, c->h, c->ids, c->T, c->pool, c->label, c->probs);
}

START_TEST(test_classifier_gradients) {
    ModelConfig c = tiny(_i == 0 ? (1 | 2) : (2 | 4)); /* causal with POOL_LAST, bidirectional with POOL_MEAN */
    Model m;
    model_init(&m, &c, 1, 5);
    Rng rng;
    rng_seed(&rng, 31 + (uint64_t)_i, 2);
    randomize_params(&m, &rng);
    Head h = {tensor_new(c.d_model, 3), tensor_new(1, 3)}, g = {tensor_new(c.d_model, 3), tensor_new(1, 3)};
    tensor_randn(&h.W, &rng, 0.5f), tensor_randn(&h.b, &rng, 0.5f);
    const int ids[5] = {3, 9, 1, 4, 7};
    ClassCtx cc = {&m, &h, ids, 5, 2, _i == 0 ? POOL_LAST : POOL_MEAN, {0}};
    class_loss(&cc);
    ck_assert_float_eq_tol(cc.probs[0] + cc.probs[1] + cc.probs[2], 1.0f, 1e-6f);
    model_zero_grad(&m);
    classify_backward(&m, &h, &g, cc.pool, cc.label, cc.probs, false);
    GradPair *pairs = xmalloc(sizeof(GradPair) * (size_t)(m.n_tensors + 2));
    int n = 0;
    pairs[n++] = (GradPair){"head.W", &h.W, &g.W};
    pairs[n++] = (GradPair){"head.b", &h.b, &g.b};
    for (int i = 0; i < m.n_tensors; i++) pairs[n++] = (GradPair){m.tensors[i].name, m.tensors[i].param, m.tensors[i].grad};
    GradResult r = gradcheck(class_loss, &cc, pairs, n, 6, false, &rng);
    ck_assert_msg(r.max_error < GRADCHECK_TOL, "largest error %.3g in %s", r.max_error, r.worst);
    free(pairs);
    tensor_free(&h.W), tensor_free(&h.b), tensor_free(&g.W), tensor_free(&g.b);
    model_free(&m);
}
END_TEST

Suite *model_suite(void) {
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("stack");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_param_count);
    tcase_add_loop_test(tc, test_model_gradients, 0, 32);
    tcase_add_test(tc, test_causal_logits);
    tcase_add_test(tc, test_masked_model_gradients);
    tcase_add_loop_test(tc, test_classifier_gradients, 0, 2);
    tcase_add_test(tc, test_shapes_reuse_memory);
    suite_add_tcase(s, tc);
    return s;
}

/* ==== training, checkpoints, the key/value cache ==== */

#include "checkpoint.h"
#include "optim.h"
#include "train.h"

static void fixed_batch(int *ids, int *targets, int B, int T, int V) {
    Rng r;
    rng_seed(&r, 3, 3);
    for (int i = 0; i < B * T; i++) ids[i] = 3 + (int)rng_below(&r, (uint32_t)(V - 3));
    for (int i = 0; i < B * T; i++) targets[i] = i % T == T - 1 ? -1 : ids[i + 1];
}

/* At GPT-2's initialisation the logits are nearly equal: the loss is close to ln V. One AdamW
 * step on a batch lowers the loss on that batch; 150 steps learn it almost by heart. */
START_TEST(test_training_steps) {
    ModelConfig c = {.vocab = 20, .d_model = 32, .heads = 4, .d_ff = 64, .layers = 2, .max_len = 16, .causal = true,
                     .norm = NORM_PRE, .pos = POS_LEARNED, .act = ACT_GELU, .tied = true};
    Model m;
    model_init(&m, &c, 4, 11);
    int ids[64], tg[64];
    fixed_batch(ids, tg, 4, 16, c.vocab);
    const double first = model_forward(&m, ids, tg, 4, 16);
    ck_assert_double_eq_tol(first, log(20.0), 0.05);
    AdamW o;
    adamw_init(&o, m.n_params, 0.9f, 0.95f, 1e-8f, 0.0f);
    double loss = first;
    for (int s = 0; s < 150; s++) {
        model_forward(&m, ids, tg, 4, 16);
        model_zero_grad(&m);
        model_backward(&m);
        adamw_begin_step(&o);
        adamw_update(&o, m.param_mem, m.grad_mem, 0, m.n_params, 3e-3f, false);
        const double after = model_forward(&m, ids, tg, 4, 16);
        if (s == 0) ck_assert_msg(after < first, "one step: %g -> %g", first, after);
        loss = after;
    }
    ck_assert_msg(loss < 0.05, "after 150 steps on one batch the loss is still %g", loss);
    adamw_free(&o);
    model_free(&m);
}
END_TEST

/* Generation with the key/value cache gives the logits of a full forward pass over the prefix, in
 * every causal variant (post/pre-norm, sinusoidal/learned, ReLU/GELU, tied or not). */
START_TEST(test_kv_cache_matches_forward) {
    ModelConfig c = tiny(1 | (_i << 1));
    Model m;
    model_init(&m, &c, 1, 9);
    Rng rng;
    rng_seed(&rng, 4, 4);
    for (int i = 0; i < m.n_tensors; i++) tensor_randn(m.tensors[i].param, &rng, 0.3f);
    KvCache kv;
    kv_init(&kv, &m);
    int ids[6] = {2, 7, 7, 1, 10, 3};
    for (int t = 0; t < 6; t++) {
        model_step(&m, &kv, ids[t]);
        model_forward(&m, ids, NULL, 1, t + 1);
        Tensor full = tensor_row(&m.logits, t), step = tensor_row(&kv.logits, 0);
        ck_assert_msg(tensor_max_abs_diff(&full, &step) < 1e-5, "variant %d position %d: %g", _i, t,
                      tensor_max_abs_diff(&full, &step));
    }
    kv_free(&kv);
    model_free(&m);
}
END_TEST

/* Save, load: the same configuration, vocabulary, parameters, moments and state, bit for bit. */
START_TEST(test_checkpoint_round_trip) {
    ModelConfig c = tiny(1 | 2 | 4);
    Model m;
    model_init(&m, &c, 1, 5);
    Vocab v;
    vocab_init(&v);
    const char *words[] = {"a", "b", "猫", "c d", "e", "f", "g", "h"};
    for (int i = 0; i < 8; i++) vocab_add(&v, words[i]);
    ck_assert_int_eq(v.size, c.vocab);
    AdamW o;
    adamw_init(&o, m.n_params, 0.9f, 0.95f, 1e-8f, 0.1f);
    Rng r;
    rng_seed(&r, 1, 2);
    for (size_t i = 0; i < m.n_params; i++) o.m[i] = rng_uniform(&r), o.v[i] = rng_uniform(&r);
    o.step = 17;
    TrainState ts = {42, {0}};
    rng_seed(&ts.data_rng, 9, 9);
    char path[] = "/tmp/llm-notebook-ckpt-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    checkpoint_save(path, &m, &v, LEVEL_WORD, &o, &ts);
    Checkpoint ck;
    checkpoint_load(&ck, path);
    const ModelConfig *k = &ck.cfg;
    ck_assert(k->vocab == c.vocab && k->d_model == c.d_model && k->heads == c.heads && k->d_ff == c.d_ff &&
              k->layers == c.layers && k->max_len == c.max_len && k->causal == c.causal && k->norm == c.norm &&
              k->pos == c.pos && k->act == c.act && k->tied == c.tied);
    ck_assert_int_eq(ck.level, LEVEL_WORD);
    ck_assert_int_eq(ck.vocab.size, v.size);
    for (int i = 0; i < v.size; i++) ck_assert_str_eq(ck.vocab.word[i], v.word[i]);
    ck_assert(memcmp(ck.params, m.param_mem, sizeof(float) * m.n_params) == 0);
    ck_assert(memcmp(ck.adam_m, o.m, sizeof(float) * m.n_params) == 0);
    ck_assert(memcmp(ck.adam_v, o.v, sizeof(float) * m.n_params) == 0);
    ck_assert_int_eq(ck.adam_step, 17);
    ck_assert_int_eq(ck.train.steps_done, 42);
    ck_assert(ck.train.data_rng.state == ts.data_rng.state && ck.train.data_rng.inc == ts.data_rng.inc);
    checkpoint_free(&ck);
    remove(path);
    adamw_free(&o);
    vocab_free(&v);
    model_free(&m);
}
END_TEST

/* A NaN or an infinity in a gradient is found, and named: training stops on it before an update. */
START_TEST(test_nonfinite_gradient_named) {
    ModelConfig c = tiny(1);
    Model m;
    model_init(&m, &c, 1, 5);
    model_zero_grad(&m);
    long k = -1;
    ck_assert_ptr_null(model_nonfinite_grad(&m, &k));
    m.tensors[3].grad->data[2] = INFINITY;
    m.tensors[5].grad->data[0] = NAN; /* a later tensor: the first one in memory order is named */
    const ModelTensor *t = model_nonfinite_grad(&m, &k);
    ck_assert_ptr_eq(t, &m.tensors[3]);
    ck_assert_int_eq(k, 2);
    ck_assert_str_eq(t->name, m.tensors[3].name);
    model_free(&m);
}
END_TEST

/* A NaN loss stops training with status 1 (Check runs this test in a child and wants that exit). */
START_TEST(test_nan_loss_exits) {
    ModelConfig c = tiny(1);
    Model m;
    model_init(&m, &c, 1, 5);
    int ids[6], tg[6];
    fixed_batch(ids, tg, 1, 6, c.vocab);
    for (size_t i = 0; i < m.n_params; i++) m.param_mem[i] = NAN;
    AdamW o;
    adamw_init(&o, m.n_params, 0.9f, 0.95f, 1e-8f, 0.0f);
    const Schedule sched = {10, 0, 1e-3, 1.0};
    /* train_step's one line ("training diverged ...") is the expected outcome: keep it out of the report */
    ck_assert_ptr_nonnull(freopen("/dev/null", "w", stderr));
    train_step(&m, &o, ids, tg, 1, 6, 1, &sched);
    ck_abort_msg("train_step returned on a NaN loss");
}
END_TEST

#ifdef _OPENMP
#include <omp.h>
#endif

/* Training steps on 1 and on 2 threads end in the same bits: the matmul splits rows of C, the
 * heads run whole on one thread each, elementwise loops split rows, and every sum is taken in one
 * fixed order whatever the thread count. The model is large enough that every parallel loop does
 * split (more than 32 K floats per pass, heads' work above 2e6 multiply-adds), pre-norm and
 * post-norm. */
START_TEST(test_threads_same_bits) {
#ifdef _OPENMP
    const int saved = omp_get_max_threads();
    for (int norm = 0; norm < 2; norm++) {
        ModelConfig c = {.vocab = 64, .d_model = 64, .heads = 4, .d_ff = 256, .layers = 2, .max_len = 64, .causal = true,
                         .norm = norm ? NORM_PRE : NORM_POST, .pos = POS_LEARNED, .act = ACT_GELU, .tied = true};
        const int B = 8, T = 64;
        int ids[8 * 64], tg[8 * 64];
        for (int i = 0; i < B * T; i++) ids[i] = (i * 7 + 3) % 64, tg[i] = (i * 5 + 1) % 64;
        Model m[2];
        double loss[2];
        for (int k = 0; k < 2; k++) {
            omp_set_num_threads(k + 1);
            model_init(&m[k], &c, B, 4);
            AdamW opt;
            adamw_init(&opt, m[k].n_params, 0.9f, 0.95f, 1e-8f, 0.1f);
            const Schedule sch = {10, 0, 1e-3, 1.0};
            for (int step = 1; step <= 3; step++) loss[k] = train_step(&m[k], &opt, ids, tg, B, T, step, &sch);
            adamw_free(&opt);
        }
        omp_set_num_threads(saved);
        ck_assert(loss[0] == loss[1]);
        ck_assert(memcmp(m[0].param_mem, m[1].param_mem, sizeof(float) * m[0].n_params) == 0);
        ck_assert(memcmp(m[0].grad_mem, m[1].grad_mem, sizeof(float) * m[0].n_params) == 0);
        model_free(&m[0]), model_free(&m[1]);
    }
#endif
}
END_TEST

Suite *training_suite(void) {
    Suite *s = suite_create("training");
    TCase *tc = tcase_create("gpt");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_training_steps);
    tcase_add_loop_test(tc, test_kv_cache_matches_forward, 0, 16);
    tcase_add_test(tc, test_checkpoint_round_trip);
    tcase_add_test(tc, test_nonfinite_gradient_named);
    tcase_add_exit_test(tc, test_nan_loss_exits, 1);
    tcase_add_test(tc, test_threads_same_bits);
    suite_add_tcase(s, tc);
    return s;
}
