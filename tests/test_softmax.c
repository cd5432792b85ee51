/* The row-wise softmax: a distribution per row, stable for large logits, exact zeros for -inf,
 * and an error (never NaN passed off as weights) for a row with nothing to look at. */
#include <math.h>
#include <signal.h>
#include <stdio.h>

#include "tensor.h"
#include "tests.h"

START_TEST(test_hand_values) {
    /* softmax(0, ln 3) = (1, 3) / 4 */
    Tensor x = tensor_new(1, 2), p = tensor_new(1, 2);
    *tensor_at(&x, 0, 1) = logf(3.0f);
    ck_assert_int_eq(tensor_softmax_rows(&p, &x, NULL), SOFTMAX_OK);
    ck_assert_float_eq_tol(*tensor_at(&p, 0, 0), 0.25f, 1e-7f);
    ck_assert_float_eq_tol(*tensor_at(&p, 0, 1), 0.75f, 1e-7f);
    tensor_free(&x), tensor_free(&p);
}
END_TEST

/* Random rows sum to 1: each of the n weights is rounded once (relative 2^-24) and the sum of the
 * n = 50 terms adds at most n rounding errors, so 50 * 6e-8 = 3e-6 bounds |sum - 1|. */
START_TEST(test_rows_sum_to_one) {
    Rng rng;
    rng_seed(&rng, 1, 1);
    Tensor x = tensor_new(20, 50), p = tensor_new(20, 50);
    tensor_randn(&x, &rng, 5.0f);
    ck_assert_int_eq(tensor_softmax_rows(&p, &x, NULL), SOFTMAX_OK);
    for (int r = 0; r < 20; r++) {
        double sum = 0;
        for (int c = 0; c < 50; c++) {
            ck_assert(*tensor_at(&p, r, c) >= 0.0f && *tensor_at(&p, r, c) <= 1.0f);
            sum += *tensor_at(&p, r, c);
        }
        ck_assert_double_eq_tol(sum, 1.0, 3e-6);
    }
    tensor_free(&x), tensor_free(&p);
}
END_TEST

/* Logits of +-1e4 would overflow exp(); after subtracting the row maximum they cannot. */
START_TEST(test_stable_for_large_logits) {
    Tensor x = tensor_new(2, 3), p = tensor_new(2, 3);
    const float v[] = {1e4f, 1e4f - 1.0f, -1e4f, -1e4f, -1e4f, -1e4f};
    for (int i = 0; i < 6; i++) x.data[i] = v[i];
    ck_assert_int_eq(tensor_softmax_rows(&p, &x, NULL), SOFTMAX_OK);
    const double e = exp(-1.0);
    ck_assert_float_eq_tol(*tensor_at(&p, 0, 0), (float)(1 / (1 + e)), 1e-6f);
    ck_assert_float_eq_tol(*tensor_at(&p, 0, 1), (float)(e / (1 + e)), 1e-6f);
    ck_assert(*tensor_at(&p, 0, 2) == 0.0f); /* exp(-2e4) underflows to exactly 0 */
    for (int c = 0; c < 3; c++) ck_assert_float_eq_tol(*tensor_at(&p, 1, c), 1.0f / 3, 1e-7f);
    tensor_free(&x), tensor_free(&p);
}
END_TEST

START_TEST(test_minus_inf_gives_exact_zero) {
    Tensor x = tensor_new(1, 4), p = tensor_new(1, 4);
    const float v[] = {0.3f, -INFINITY, -2.0f, -INFINITY};
    for (int i = 0; i < 4; i++) x.data[i] = v[i];
    ck_assert_int_eq(tensor_softmax_rows(&p, &x, NULL), SOFTMAX_OK);
    ck_assert(p.data[1] == 0.0f && !signbit(p.data[1]));
    ck_assert(p.data[3] == 0.0f);
    ck_assert_float_eq_tol(p.data[0] + p.data[2], 1.0f, 1e-7f);
    ck_assert_float_eq_tol(p.data[0], (float)(1 / (1 + exp(-2.3))), 1e-7f);
    /* in place: out may alias x */
    ck_assert_int_eq(tensor_softmax_rows(&x, &x, NULL), SOFTMAX_OK);
    for (int i = 0; i < 4; i++) ck_assert(x.data[i] == p.data[i]);
    tensor_free(&x), tensor_free(&p);
}
END_TEST

START_TEST(test_all_masked_row_is_an_error) {
    Tensor x = tensor_new(3, 2), p = tensor_new(3, 2);
    *tensor_at(&x, 1, 0) = -INFINITY;
    *tensor_at(&x, 1, 1) = -INFINITY;
    int bad = -1;
    ck_assert_int_eq(tensor_softmax_rows(&p, &x, &bad), SOFTMAX_ALL_MASKED);
    ck_assert_int_eq(bad, 1);
    /* the other rows are still computed, the bad one is not passed off as weights */
    ck_assert_float_eq_tol(*tensor_at(&p, 0, 0), 0.5f, 1e-7f);
    ck_assert_float_eq_tol(*tensor_at(&p, 2, 1), 0.5f, 1e-7f);
    ck_assert(isnan(*tensor_at(&p, 1, 0)));
    ck_assert_str_ne(softmax_status_text(SOFTMAX_ALL_MASKED), "ok");
    tensor_free(&x), tensor_free(&p);
}
END_TEST

START_TEST(test_nan_row_is_an_error) {
    Tensor x = tensor_new(2, 2), p = tensor_new(2, 2);
    *tensor_at(&x, 1, 1) = NAN;
    int bad = -1;
    ck_assert_int_eq(tensor_softmax_rows(&p, &x, &bad), SOFTMAX_NOT_FINITE);
    ck_assert_int_eq(bad, 1);
    *tensor_at(&x, 1, 1) = INFINITY;
    ck_assert_int_eq(tensor_softmax_rows(&p, &x, &bad), SOFTMAX_NOT_FINITE);
    tensor_free(&x), tensor_free(&p);
}
END_TEST

/* The abort tests run in a child process of their own (Check forks each test), so the expected
 * "internal error" message is sent to /dev/null there without touching the other tests' output. */
static void quiet_stderr(void) { ck_assert_ptr_nonnull(freopen("/dev/null", "w", stderr)); }

/* A shape mismatch is a bug in the caller: it aborts with a message rather than read past a row. */
/* The vectorisable exponential the softmax and GELU use, against exp in double on a dense grid of
 * [-87, 0]: within 2 float ulps (2^-24 relative each; libm's expf is within 1). Measured: 1.24 ulps
 * with fused multiply-adds (-march=native), 1.63 without (the portable build). Exact at the ends
 * that matter: exp(0) = 1, exp(-inf) = 0. */
START_TEST(test_exp_nonpositive) {
    double worst = 0;
    for (int i = 0; i <= 870000; i++) {
        const float x = -87.0f * (float)i / 870000.0f;
        const double want = exp((double)x);
        const double rel = fabs((double)exp_nonpositive(x) - want) / want;
        if (rel > worst) worst = rel;
    }
    ck_assert_msg(worst < 2 * 0x1p-24, "largest relative error %g", worst);
    ck_assert_float_eq(exp_nonpositive(0.0f), 1.0f);
    ck_assert_float_eq(exp_nonpositive(-INFINITY), 0.0f);
    ck_assert_float_eq(exp_nonpositive(-1000.0f), 0.0f);
    ck_assert(isnan(exp_nonpositive(NAN)));
}
END_TEST

START_TEST(test_shape_mismatch_aborts) {
    quiet_stderr();
    Tensor x = tensor_new(2, 3), p = tensor_new(3, 2);
    tensor_softmax_rows(&p, &x, NULL);
}
END_TEST

START_TEST(test_matmul_shape_mismatch_aborts) {
    quiet_stderr();
    Tensor a = tensor_new(2, 3), b = tensor_new(2, 3), c = tensor_new(2, 2);
    tensor_matmul(&c, &a, &b); /* (2,3) x (2,3): inner sizes differ */
}
END_TEST

Suite *softmax_suite(void) {
    Suite *s = suite_create("softmax");
    TCase *tc = tcase_create("rows");
    tcase_add_test(tc, test_hand_values);
    tcase_add_test(tc, test_rows_sum_to_one);
    tcase_add_test(tc, test_exp_nonpositive);
    tcase_add_test(tc, test_stable_for_large_logits);
    tcase_add_test(tc, test_minus_inf_gives_exact_zero);
    tcase_add_test(tc, test_all_masked_row_is_an_error);
    tcase_add_test(tc, test_nan_row_is_an_error);
    tcase_add_test_raise_signal(tc, test_shape_mismatch_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, test_matmul_shape_mismatch_aborts, SIGABRT);
    suite_add_tcase(s, tc);
    return s;
}
