/* Generation with the key/value cache: model_step (each block's block_step on one new row) gives
 * the logits of a full forward pass over the prefix. */
#include "generate.h"
#include "model_fixtures.h"
#include "tests.h"

/* Generation with the key/value cache gives the logits of a full forward pass over the prefix, in
 * every causal variant (post/pre-norm, sinusoidal/learned, ReLU/GELU, tied or not). */
START_TEST(test_kv_cache_matches_forward) {
    ModelConfig c = tiny_config(1 | (_i << 1));
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


Suite *generate_suite(void) {
    Suite *s = suite_create("generate");
    TCase *tc = tcase_create("kv-cache");
    tcase_add_loop_test(tc, test_kv_cache_matches_forward, 0, 16);
    suite_add_tcase(s, tc);
    return s;
}
