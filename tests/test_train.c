/* Training: AdamW steps lower the loss and learn a batch by heart; a checkpoint saves and loads
 * every bit; a non-finite gradient is named and a NaN loss stops the run; 1 and 2 threads train to
 * the same bits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "model.h"
#include "model_fixtures.h"
#include "optim.h"
#include "tests.h"
#include "train.h"
#include "util.h"

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

/* The rate a step used is the schedule's: the peak at the first step without warm-up, lr_min
 * (--lr-end times the peak) once the cosine is over, to the bit, 0 included. */
START_TEST(test_schedule_ends_at_lr_min) {
    ModelConfig c = {.vocab = 20, .d_model = 16, .heads = 2, .d_ff = 32, .layers = 1, .max_len = 8, .causal = true,
                     .norm = NORM_PRE, .pos = POS_LEARNED, .act = ACT_GELU, .tied = true};
    const double ends[] = {0.0, 2e-4};
    for (int e = 0; e < 2; e++) {
        Model m;
        model_init(&m, &c, 2, 5);
        int ids[16], tg[16];
        fixed_batch(ids, tg, 2, 8, c.vocab);
        AdamW o;
        adamw_init(&o, m.n_params, 0.9f, 0.95f, 1e-8f, 0.1f);
        const Schedule s = {.steps = 4, .warmup = 0, .lr = 1e-3, .clip = 1.0, .lr_min = ends[e]};
        StepReport r;
        train_step_report(&m, &o, ids, tg, 2, 8, 1, &s, &r);
        ck_assert_double_eq(r.lr, (float)1e-3);
        for (long step = 2; step <= 6; step++) train_step_report(&m, &o, ids, tg, 2, 8, step, &s, &r);
        ck_assert_double_eq(r.lr, (float)ends[e]);
        adamw_free(&o);
        model_free(&m);
    }
}
END_TEST

/* Save, load: the same configuration, vocabulary, parameters, moments and state, bit for bit. */
START_TEST(test_checkpoint_round_trip) {
    ModelConfig c = tiny_config(1 | 2 | 4);
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
    TrainState ts = {.steps_done = 42};
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
    ModelConfig c = tiny_config(1);
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
    ModelConfig c = tiny_config(1);
    Model m;
    model_init(&m, &c, 1, 5);
    int ids[6], tg[6];
    fixed_batch(ids, tg, 1, 6, c.vocab);
    for (size_t i = 0; i < m.n_params; i++) m.param_mem[i] = NAN;
    AdamW o;
    adamw_init(&o, m.n_params, 0.9f, 0.95f, 1e-8f, 0.0f);
    const Schedule sched = {.steps = 10, .warmup = 0, .lr = 1e-3, .clip = 1.0, .lr_min = 1e-4};
    /* train_step's one line ("training diverged ...") is the expected outcome: keep it out of the report */
    ck_assert_ptr_nonnull(freopen("/dev/null", "w", stderr));
    train_step(&m, &o, ids, tg, 1, 6, 1, &sched);
    ck_abort_msg("train_step returned on a NaN loss");
}
END_TEST

#ifdef _OPENMP
#include <omp.h>
#endif

/* AdamW over segments (one parallel region for a model's tensors): every value is the update's
 * formula with its own segment's decay, at its own offset of the state, on 1 and 2 threads; the
 * segments are a tiny one, an empty one and one large enough to be split between threads. */
START_TEST(test_adamw_segments) {
    enum { N = 70000 };
    const size_t off[3] = {0, 5, 5}, cnt[3] = {5, 0, N - 5};
    const bool decay[3] = {true, false, false};
    for (int threads = 1; threads <= 2; threads++) {
#ifdef _OPENMP
        const int saved = omp_get_max_threads();
        omp_set_num_threads(threads);
#endif
        float *p = xmalloc(sizeof(float) * N), *g = xmalloc(sizeof(float) * N), *want = xmalloc(sizeof(float) * N);
        for (int i = 0; i < N; i++) p[i] = (float)((i % 17) - 8) * 0.125f, g[i] = (float)((i % 13) - 6) * 0.01f;
        AdamW o;
        adamw_init(&o, N, 0.9f, 0.95f, 1e-8f, 0.1f);
        adamw_begin_step(&o);
        const float lr = 1e-2f, c1 = 1.0f - 0.9f, c2 = 1.0f - 0.95f; /* the bias corrections at step 1 */
        for (int s = 0; s < 3; s++)
            for (size_t i = off[s]; i < off[s] + cnt[s]; i++) {
                const float m = (1.0f - 0.9f) * g[i], v = (1.0f - 0.95f) * g[i] * g[i];
                want[i] = p[i] - lr * ((m / c1) / (sqrtf(v / c2) + 1e-8f) + (decay[s] ? 0.1f : 0.0f) * p[i]);
            }
        AdamSegment seg[3];
        for (int s = 0; s < 3; s++) seg[s] = (AdamSegment){p + off[s], g + off[s], off[s], cnt[s], decay[s]};
        adamw_update_segments(&o, seg, 3, lr);
        for (int i = 0; i < N; i++) ck_assert_msg(fabsf(p[i] - want[i]) <= 1e-6f * fabsf(want[i]) + 1e-9f, "value %d", i);
        ck_assert_float_eq(o.m[3], (1.0f - 0.9f) * g[3]); /* the state at the segment's offset */
        adamw_free(&o), free(p), free(g), free(want);
#ifdef _OPENMP
        omp_set_num_threads(saved);
#endif
    }
}
END_TEST

/* Training steps on 1 and on 2 threads end in the same bits: the matmul splits rows of C or its
 * panels, the heads run whole on one thread each, elementwise loops split rows, layer norm's
 * parameter gradients split columns, AdamW splits every tensor, and every sum is taken in one
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
            const Schedule sch = {.steps = 10, .warmup = 0, .lr = 1e-3, .clip = 1.0, .lr_min = 1e-4};
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
    tcase_add_test(tc, test_schedule_ends_at_lr_min);
    tcase_add_test(tc, test_checkpoint_round_trip);
    tcase_add_test(tc, test_nonfinite_gradient_named);
    tcase_add_exit_test(tc, test_nan_loss_exits, 1);
    tcase_add_test(tc, test_threads_same_bits);
    tcase_add_test(tc, test_adamw_segments);
    suite_add_tcase(s, tc);
    return s;
}
