/* Tensor operations against hand-computed values; the product by its definition. The fast product
 * (gemm) has its own tests in tests/test_gemm.c. */
#include <math.h>
#include <stdlib.h>

#include "tensor.h"
#include "tests.h"

static Tensor from(int rows, int cols, const float *v) {
    Tensor t = tensor_new(rows, cols);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) *tensor_at(&t, r, c) = v[r * cols + c];
    return t;
}

static void assert_equals(const Tensor *t, int rows, int cols, const float *v) {
    ck_assert_int_eq(t->rows, rows);
    ck_assert_int_eq(t->cols, cols);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            ck_assert_msg(*tensor_at(t, r, c) == v[r * cols + c], "(%d, %d): got %g, want %g", r, c,
                          (double)*tensor_at(t, r, c), (double)v[r * cols + c]);
}

START_TEST(test_new_is_zero_and_dense) {
    Tensor t = tensor_new(3, 4);
    ck_assert_int_eq(t.stride, 4);
    for (int i = 0; i < 12; i++) ck_assert(t.data[i] == 0.0f);
    tensor_free(&t);
    ck_assert_ptr_null(t.data);
    tensor_free(&t); /* freeing an emptied tensor is harmless */
}
END_TEST

START_TEST(test_fill_copy_add_scale) {
    const float a_v[] = {1, 2, 3, 4, 5, 6}, b_v[] = {0.5f, -1, 2, 0, 10, -6};
    Tensor a = from(2, 3, a_v), b = from(2, 3, b_v), out = tensor_new(2, 3);
    tensor_add(&out, &a, &b);
    assert_equals(&out, 2, 3, (const float[]){1.5f, 1, 5, 4, 15, 0});
    tensor_scale(&out, &a, -2.0f);
    assert_equals(&out, 2, 3, (const float[]){-2, -4, -6, -8, -10, -12});
    tensor_add(&out, &out, &a); /* the output may alias an input */
    assert_equals(&out, 2, 3, (const float[]){-1, -2, -3, -4, -5, -6});
    tensor_copy(&out, &b);
    assert_equals(&out, 2, 3, b_v);
    tensor_fill(&out, 0.25f);
    assert_equals(&out, 2, 3, (const float[]){0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f});
    tensor_free(&a), tensor_free(&b), tensor_free(&out);
}
END_TEST

/* A = [[1,2,3],[4,5,6]]: the definition's two forms, each worked out by hand. */
START_TEST(test_matmul_by_hand) {
    Tensor A = from(2, 3, (const float[]){1, 2, 3, 4, 5, 6});
    Tensor B = from(3, 2, (const float[]){7, 8, 9, 10, 11, 12});
    Tensor C = tensor_new(2, 2);
    tensor_matmul(&C, &A, &B); /* A B */
    assert_equals(&C, 2, 2, (const float[]){58, 64, 139, 154});
    Tensor Bt = from(2, 3, (const float[]){1, 0, -1, 2, 1, 0});
    tensor_matmul_bt(&C, &A, &Bt); /* A B^T: rows of A dotted with rows of B */
    assert_equals(&C, 2, 2, (const float[]){-2, 4, -2, 13});
    tensor_free(&A), tensor_free(&B), tensor_free(&C), tensor_free(&Bt);
}
END_TEST

START_TEST(test_views_share_memory) {
    Tensor t = tensor_new(4, 5);
    for (int i = 0; i < 20; i++) t.data[i] = (float)i;
    Tensor v = tensor_view(&t, 1, 2, 2, 3); /* rows 1..2, columns 2..4 */
    ck_assert_int_eq(v.stride, 5);
    ck_assert(*tensor_at(&v, 0, 0) == 7.0f && *tensor_at(&v, 1, 2) == 14.0f);
    tensor_fill(&v, -1.0f);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 5; c++) {
            bool inside = r >= 1 && r <= 2 && c >= 2;
            ck_assert(*tensor_at(&t, r, c) == (inside ? -1.0f : (float)(r * 5 + c)));
        }
    Tensor row = tensor_row(&t, 3);
    ck_assert(row.rows == 1 && row.cols == 5 && *tensor_at(&row, 0, 4) == 19.0f);
    tensor_free(&v); /* a view owns nothing: the parent stays valid */
    ck_assert(*tensor_at(&t, 3, 4) == 19.0f);
    tensor_free(&t);
}
END_TEST

/* A product whose operands are strided views (one "head" of wider matrices) equals the product of
 * dense copies of them, bit for bit: the loops read through the stride, nothing else changes. */
START_TEST(test_matmul_through_views) {
    Rng rng;
    rng_seed(&rng, 7, 7);
    Tensor Q = tensor_new(5, 8), K = tensor_new(5, 8);
    tensor_randn(&Q, &rng, 1.0f);
    tensor_randn(&K, &rng, 1.0f);
    Tensor qh = tensor_view(&Q, 0, 4, 5, 4), kh = tensor_view(&K, 0, 4, 5, 4); /* head 1 of 2 */
    Tensor qd = tensor_new(5, 4), kd = tensor_new(5, 4);
    tensor_copy(&qd, &qh);
    tensor_copy(&kd, &kh);
    Tensor big = tensor_new(7, 9); /* the output is a view too */
    Tensor s_view = tensor_view(&big, 1, 2, 5, 5), s_dense = tensor_new(5, 5);
    tensor_matmul_bt(&s_view, &qh, &kh);
    tensor_matmul_bt(&s_dense, &qd, &kd);
    for (int r = 0; r < 5; r++) ck_assert(tensor_rows_identical(&s_view, &s_dense, r));
    ck_assert(*tensor_at(&big, 0, 0) == 0.0f && *tensor_at(&big, 6, 8) == 0.0f); /* untouched */
    tensor_free(&Q), tensor_free(&K), tensor_free(&qd), tensor_free(&kd), tensor_free(&big);
    tensor_free(&s_dense);
}
END_TEST



START_TEST(test_max_abs_diff) {
    Tensor a = from(1, 3, (const float[]){1, -INFINITY, 3});
    Tensor b = from(1, 3, (const float[]){1.5f, -INFINITY, 2});
    ck_assert_double_eq(tensor_max_abs_diff(&a, &b), 1.0); /* equal infinities differ by nothing */
    *tensor_at(&b, 0, 1) = 0.0f;
    ck_assert(isinf(tensor_max_abs_diff(&a, &b)));
    tensor_free(&a), tensor_free(&b);
}
END_TEST

/* Points (3, 0), (-3, 0), (0, 1), (0, -1): mean 0, covariance diag(18/4, 2/4) = diag(4.5, 0.5), so
 * the components are the axes and the projections are the points themselves. */
START_TEST(test_pca_by_hand) {
    Tensor X = from(4, 2, (const float[]){3, 0, -3, 0, 0, 1, 0, -1}), P = tensor_new(4, 2);
    double var[2];
    tensor_pca2(&P, var, &X);
    ck_assert_double_eq_tol(var[0], 4.5, 1e-9);
    ck_assert_double_eq_tol(var[1], 0.5, 1e-9);
    for (int i = 0; i < 8; i++) ck_assert_float_eq_tol(P.data[i], X.data[i], 1e-6f);
    /* rotated by 45 degrees and shifted: the same variances */
    const float c = 0.70710678f;
    Tensor Y = from(4, 2, (const float[]){3 * c + 5, 3 * c - 1, -3 * c + 5, -3 * c - 1, -c + 5, c - 1, c + 5, -c - 1});
    tensor_pca2(&P, var, &Y);
    ck_assert_double_eq_tol(var[0], 4.5, 1e-5);
    ck_assert_double_eq_tol(var[1], 0.5, 1e-5);
    ck_assert_float_eq_tol(fabsf(P.data[0]), 3.0f, 1e-5f);
    tensor_free(&X), tensor_free(&P), tensor_free(&Y);
}
END_TEST




Suite *tensor_suite(void) {
    Suite *s = suite_create("tensor");
    TCase *tc = tcase_create("ops");
    tcase_add_test(tc, test_new_is_zero_and_dense);
    tcase_add_test(tc, test_fill_copy_add_scale);
    tcase_add_test(tc, test_matmul_by_hand);
    tcase_add_test(tc, test_views_share_memory);
    tcase_add_test(tc, test_matmul_through_views);
    tcase_add_test(tc, test_max_abs_diff);
    tcase_add_test(tc, test_pca_by_hand);
    suite_add_tcase(s, tc);
    return s;
}
