/* The mask and single-head attention: hand-computed values, the mask's shape, and the no-leak
 * property, which the correct mask has and the formula printed in §4.2 does not. */
#include <math.h>

#include "attention.h"
#include "demo.h"
#include "tests.h"

START_TEST(test_mask_shape) {
    Tensor M = tensor_new(5, 5), E = tensor_new(5, 5);
    attention_mask(&M, MASK_CAUSAL);
    attention_mask(&E, MASK_SOURCE_ERRATUM);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++) {
            float m = *tensor_at(&M, i, j), e = *tensor_at(&E, i, j);
            ck_assert_msg(j > i ? m == -INFINITY : (m == 0.0f && !signbit(m)), "M[%d][%d] = %g", i, j, (double)m);
            ck_assert(e == *tensor_at(&M, j, i)); /* the erratum is the transpose */
        }
    tensor_free(&M), tensor_free(&E);
}
END_TEST

/* Q = K = I (2x2), V = [[1,2],[3,4]], d_k = 2: the scores are I / sqrt(2), so row 0's weights are
 * (a, 1 - a) with a = 1 / (1 + exp(-1/sqrt(2))), and Z[0] = a V[0] + (1 - a) V[1]. */
START_TEST(test_attention_by_hand) {
    Tensor Q = tensor_new(2, 2), V = tensor_new(2, 2), Z = tensor_new(2, 2);
    Tensor S = tensor_new(2, 2), A = tensor_new(2, 2), M = tensor_new(2, 2);
    *tensor_at(&Q, 0, 0) = *tensor_at(&Q, 1, 1) = 1.0f;
    const float v[] = {1, 2, 3, 4};
    for (int i = 0; i < 4; i++) V.data[i] = v[i];
    ck_assert_int_eq(attention_forward(&Z, &S, &A, &Q, &Q, &V, NULL, NULL), SOFTMAX_OK);
    const double a = 1 / (1 + exp(-1 / sqrt(2.0)));
    ck_assert_float_eq_tol(*tensor_at(&S, 0, 0), (float)(1 / sqrt(2.0)), 1e-7f);
    ck_assert_float_eq_tol(*tensor_at(&A, 0, 0), (float)a, 1e-7f);
    ck_assert_float_eq_tol(*tensor_at(&A, 1, 1), (float)a, 1e-7f);
    ck_assert_float_eq_tol(*tensor_at(&Z, 0, 0), (float)(a * 1 + (1 - a) * 3), 1e-6f);
    ck_assert_float_eq_tol(*tensor_at(&Z, 1, 1), (float)((1 - a) * 2 + a * 4), 1e-6f);
    /* causal: row 0 sees only itself, so Z[0] = V[0] exactly */
    attention_mask(&M, MASK_CAUSAL);
    ck_assert_int_eq(attention_forward(&Z, &S, &A, &Q, &Q, &V, &M, NULL), SOFTMAX_OK);
    ck_assert(*tensor_at(&A, 0, 1) == 0.0f && *tensor_at(&A, 0, 0) == 1.0f);
    ck_assert(*tensor_at(&Z, 0, 0) == 1.0f && *tensor_at(&Z, 0, 1) == 2.0f);
    Tensor *all[] = {&Q, &V, &Z, &S, &A, &M};
    for (int i = 0; i < 6; i++) tensor_free(all[i]);
}
END_TEST

static void build_demo(AttnDemo *d, int tokens) {
    DemoFlags f = demo_flags_default();
    f.tokens = tokens;
    demo_build(d, &f, 42);
}

/* Change the last word: under the causal mask rows 0..T-2 keep their exact bits. */
START_TEST(test_no_leak_with_causal_mask) {
    AttnDemo d;
    build_demo(&d, 7);
    Tensor M = tensor_new(d.T, d.T), X = tensor_new(d.T, d.d_model);
    Tensor Z0 = tensor_new(d.T, d.d_k), Z1 = tensor_new(d.T, d.d_k);
    attention_mask(&M, MASK_CAUSAL);
    tensor_copy(&X, &d.X);
    demo_changed_word(tensor_at(&X, d.T - 1, 0), &d, d.T - 1);
    demo_attend(&Z0, &d, &d.X, &M);
    demo_attend(&Z1, &d, &X, &M);
    for (int i = 0; i < d.T - 1; i++) ck_assert_msg(tensor_rows_identical(&Z0, &Z1, i), "row %d leaked", i);
    ck_assert(!tensor_rows_identical(&Z0, &Z1, d.T - 1)); /* the test can see a change */
    tensor_free(&M), tensor_free(&X), tensor_free(&Z0), tensor_free(&Z1);
    demo_free(&d);
}
END_TEST

/* The influence matrix: lower-triangular (ones on and below the diagonal) for the causal mask;
 * the §4.2 formula lets rows depend on later words, and no mask makes everything depend on all. */
START_TEST(test_influence_matrices) {
    AttnDemo d;
    build_demo(&d, 6);
    const int T = d.T;
    Tensor M = tensor_new(T, T), E = tensor_new(T, T), D = tensor_new(T, T);
    attention_mask(&M, MASK_CAUSAL);
    attention_mask(&E, MASK_SOURCE_ERRATUM);
    demo_influence(&D, &d, &M);
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) ck_assert_msg(*tensor_at(&D, i, j) == (j <= i ? 1.0f : 0.0f), "D[%d][%d]", i, j);
    demo_influence(&D, &d, &E);
    int leaks = 0;
    for (int i = 0; i < T; i++)
        for (int j = i + 1; j < T; j++) leaks += *tensor_at(&D, i, j) != 0.0f;
    ck_assert_int_eq(leaks, T * (T - 1) / 2); /* every future word reaches every earlier row */
    demo_influence(&D, &d, NULL);
    for (int i = 0; i < T * T; i++) ck_assert(D.data[i] == 1.0f);
    tensor_free(&M), tensor_free(&E), tensor_free(&D);
    demo_free(&d);
}
END_TEST

/* The fused per-head attention that the Transformer runs against the step-by-step attention_forward
 * and attention_backward (with the mask tensor, or none), on random inputs: self-attention with the
 * causal mask (T = 150: blocks of 64 query rows, the last one partial) and cross-attention with none
 * (T = 97 queries, T_kv = 45 keys), d_k = 16.
 * Tolerance: the two compute the same sums in another order. Scores are sums of 16 products of
 * N(0, 1) values scaled by 1/4, so |s| is a few units and each differs by a few float ulps
 * (1e-6); a weight's relative change is about the same; outputs are weighted means of values of
 * size ~1 and gradients sums of at most 150 terms whose weights sum to 1: 1e-4 absolute (plus
 * relative) leaves a factor of ten or more. The masked
 * weights must be exact zeros. */
START_TEST(test_head_fused_matches_reference) {
    Rng rng;
    rng_seed(&rng, 5, 9);
    for (int cross = 0; cross < 2; cross++) {
        const int T = cross ? 97 : 150, Tk = cross ? 45 : 150, dk = 16;
        Tensor Q = tensor_new(T, dk), K = tensor_new(Tk, dk), V = tensor_new(Tk, dk), G = tensor_new(T, dk);
        tensor_randn(&Q, &rng, 1.0f), tensor_randn(&K, &rng, 1.0f), tensor_randn(&V, &rng, 1.0f);
        tensor_randn(&G, &rng, 1.0f);
        Tensor M = tensor_new(T, T), S = tensor_new(T, Tk), A = tensor_new(T, Tk), O = tensor_new(T, dk);
        Tensor A2 = tensor_new(T, Tk), O2 = tensor_new(T, dk);
        attention_mask(&M, MASK_CAUSAL);
        ck_assert_int_eq(attention_forward(&O, &S, &A, &Q, &K, &V, cross ? NULL : &M, NULL), SOFTMAX_OK);
        tensor_fill(&A2, NAN), tensor_fill(&O2, NAN); /* everything must be written */
        ck_assert_int_eq(attention_head_forward(&O2, &A2, &Q, &K, &V, !cross, NULL), SOFTMAX_OK);
        for (int i = 0; i < T; i++)
            for (int j = 0; j < Tk; j++) {
                const float ref = *tensor_at(&A, i, j), got = *tensor_at(&A2, i, j);
                if (!cross && j > i) ck_assert_msg(got == 0.0f, "masked weight (%d,%d) = %g", i, j, (double)got);
                else ck_assert_msg(fabsf(got - ref) <= 1e-4f * (1 + fabsf(ref)), "weight (%d,%d) %g vs %g", i, j, (double)got, (double)ref);
            }
        ck_assert_double_le(tensor_max_abs_diff(&O, &O2), 1e-4);
        /* backward: the reference adds into zeros, the fused one stores over NaN (every element
         * must be written) */
        Tensor dQ = tensor_new(T, dk), dK = tensor_new(Tk, dk), dV = tensor_new(Tk, dk);
        Tensor dQ2 = tensor_new(T, dk), dK2 = tensor_new(Tk, dk), dV2 = tensor_new(Tk, dk);
        tensor_fill(&dQ2, NAN), tensor_fill(&dK2, NAN), tensor_fill(&dV2, NAN);
        attention_backward(&dQ, &dK, &dV, &G, &Q, &K, &V, &A);
        attention_head_backward(&dQ2, &dK2, &dV2, &G, &Q, &K, &V, &A2, !cross);
        ck_assert_double_le(tensor_max_abs_diff(&dQ, &dQ2), 1e-4);
        ck_assert_double_le(tensor_max_abs_diff(&dK, &dK2), 1e-4);
        ck_assert_double_le(tensor_max_abs_diff(&dV, &dV2), 1e-4);
        Tensor *all[] = {&Q, &K, &V, &G, &M, &S, &A, &O, &A2, &O2, &dQ, &dK, &dV, &dQ2, &dK2, &dV2};
        for (size_t t = 0; t < sizeof all / sizeof all[0]; t++) tensor_free(all[t]);
    }
}
END_TEST

/* A NaN in one query row: the fused head reports it with the row's index, as the reference does;
 * likewise a row whose scores are all -inf, or +inf. */
START_TEST(test_head_fused_reports_bad_row) {
    Tensor Q = tensor_new(4, 2), K = tensor_new(4, 2), V = tensor_new(4, 2), A = tensor_new(4, 4), O = tensor_new(4, 2);
    tensor_fill(&K, 1.0f), tensor_fill(&V, 1.0f);
    *tensor_at(&Q, 2, 1) = NAN;
    int bad = -1;
    ck_assert_int_eq(attention_head_forward(&O, &A, &Q, &K, &V, true, &bad), SOFTMAX_NOT_FINITE);
    ck_assert_int_eq(bad, 2);
    ck_assert(isnan(*tensor_at(&A, 2, 0)));
    ck_assert_float_eq(*tensor_at(&A, 1, 0), 0.5f); /* the other rows are fine */
    /* scores of -inf only (no distribution) and of +inf (inf - inf in the softmax) */
    *tensor_at(&Q, 2, 1) = 0.0f;
    *tensor_at(&Q, 3, 0) = -INFINITY, *tensor_at(&Q, 3, 1) = -INFINITY;
    ck_assert_int_eq(attention_head_forward(&O, &A, &Q, &K, &V, true, &bad), SOFTMAX_ALL_MASKED);
    ck_assert_int_eq(bad, 3);
    ck_assert(isnan(*tensor_at(&A, 3, 3)));
    *tensor_at(&Q, 3, 0) = INFINITY, *tensor_at(&Q, 3, 1) = INFINITY;
    ck_assert_int_eq(attention_head_forward(&O, &A, &Q, &K, &V, true, &bad), SOFTMAX_NOT_FINITE);
    ck_assert_int_eq(bad, 3);
    tensor_free(&Q), tensor_free(&K), tensor_free(&V), tensor_free(&A), tensor_free(&O);
}
END_TEST

START_TEST(test_demo_same_word_same_embedding) {
    AttnDemo d;
    build_demo(&d, 6); /* "the cat sat on the mat": words 0 and 4 are both "the" */
    ck_assert_str_eq(d.tokens[0], "the");
    ck_assert_str_eq(d.tokens[4], "the");
    Tensor r0 = tensor_row(&d.X, 0), r4 = tensor_row(&d.X, 4);
    ck_assert_double_eq(tensor_max_abs_diff(&r0, &r4), 0.0);
    Tensor r1 = tensor_row(&d.X, 1);
    ck_assert(tensor_max_abs_diff(&r0, &r1) > 0.0);
    demo_free(&d);
}
END_TEST

Suite *attention_suite(void) {
    Suite *s = suite_create("attention");
    TCase *tc = tcase_create("mask");
    tcase_add_test(tc, test_mask_shape);
    tcase_add_test(tc, test_attention_by_hand);
    tcase_add_test(tc, test_no_leak_with_causal_mask);
    tcase_add_test(tc, test_influence_matrices);
    tcase_add_test(tc, test_demo_same_word_same_embedding);
    tcase_add_test(tc, test_head_fused_matches_reference);
    tcase_add_test(tc, test_head_fused_reports_bad_row);
    suite_add_tcase(s, tc);
    return s;
}
