/* The fine-tuning head: its probabilities sum to 1 and its gradients, and the body's through it,
 * agree with finite differences, for both poolings. */
#include <stdlib.h>

#include "classifier.h"
#include "gradcheck.h"
#include "model_fixtures.h"
#include "tests.h"
#include "util.h"

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


/* The classifier's loss and gradients (head and body) against finite differences, for both
 * poolings; the head's output is a distribution over its K classes. */
START_TEST(test_classifier_gradients) {
    ModelConfig c = tiny_config(_i == 0 ? (1 | 2) : (2 | 4)); /* causal with POOL_LAST, bidirectional with POOL_MEAN */
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


Suite *classifier_suite(void) {
    Suite *s = suite_create("classifier");
    TCase *tc = tcase_create("head");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_classifier_gradients, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
