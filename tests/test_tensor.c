/* Tensor operations against hand-computed values and against a slow double-precision reference. */
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

/* A = [[1,2,3],[4,5,6]]: the four forms of the product, each worked out by hand. */
START_TEST(test_matmul_by_hand) {
    const float a_v[] = {1, 2, 3, 4, 5, 6};
    Tensor A = from(2, 3, a_v);
    Tensor B = from(3, 2, (const float[]){7, 8, 9, 10, 11, 12});
    Tensor C = tensor_new(2, 2);
    tensor_matmul(&C, &A, false, &B, false); /* A B */
    assert_equals(&C, 2, 2, (const float[]){58, 64, 139, 154});

    Tensor AtA = tensor_new(3, 3);
    tensor_matmul(&AtA, &A, true, &A, false); /* A^T A */
    assert_equals(&AtA, 3, 3, (const float[]){17, 22, 27, 22, 29, 36, 27, 36, 45});

    Tensor Bt = from(2, 3, (const float[]){1, 0, -1, 2, 1, 0});
    tensor_matmul(&C, &A, false, &Bt, true); /* A B^T: rows of A dotted with rows of B */
    assert_equals(&C, 2, 2, (const float[]){-2, 4, -2, 13});

    Tensor S = from(2, 2, (const float[]){1, 2, 3, 4});
    Tensor D = tensor_new(3, 2);
    tensor_matmul(&D, &A, true, &S, true); /* A^T S^T */
    assert_equals(&D, 3, 2, (const float[]){9, 19, 12, 26, 15, 33});
    tensor_free(&A), tensor_free(&B), tensor_free(&C), tensor_free(&AtA), tensor_free(&Bt);
    tensor_free(&S), tensor_free(&D);
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
 * dense copies of them, bit for bit: the kernel reads through the stride, nothing else changes. */
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
    tensor_matmul(&s_view, &qh, false, &kh, true);
    tensor_matmul(&s_dense, &qd, false, &kd, true);
    for (int r = 0; r < 5; r++) ck_assert(tensor_rows_identical(&s_view, &s_dense, r));
    ck_assert(*tensor_at(&big, 0, 0) == 0.0f && *tensor_at(&big, 6, 8) == 0.0f); /* untouched */
    tensor_free(&Q), tensor_free(&K), tensor_free(&qd), tensor_free(&kd), tensor_free(&big);
    tensor_free(&s_dense);
}
END_TEST

/* Every transpose combination against a plain triple loop in double, on odd sizes, in the three
 * ways of storing: C = op(A) op(B) over a C full of NaN (the products must be stored, never added
 * to what was there), C += op(A) op(B) over a C of known values, and C = A B + bias.
 * Tolerance: float accumulation of K products errs by at most about K * 2^-24 * sum_k |a b|, that is
 * 6e-8 K sum_k |a b|; the test allows 1e-5 sum_k |a b|, times K/64 past K = 64 (1.6e-7 K): room to
 * spare. The starting value (the old C or the bias) is one more term of the sum. */
START_TEST(test_matmul_against_reference) {
    Rng rng;
    rng_seed(&rng, 3, 11);
    /* 1 x 1, primes, and sizes across the kernel's blocks: rows past MC = 120 and not a multiple
     * of MR = 6, depth past KC = 256, columns not a multiple of NR (16 or 32); one panel of B
     * (where A^T is read in place, not packed) with depth past KC */
    const int sizes[][3] = {{1, 1, 1}, {3, 5, 7}, {16, 37, 9}, {33, 8, 17}, {131, 263, 33}, {7, 300, 130}, {13, 520, 65},
                            {125, 301, 14}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int form = 0; form < 4; form++)
            for (int store = 0; store < 3; store++) {
                const int M = sizes[s][0], K = sizes[s][1], N = sizes[s][2];
                const bool ta = form & 1, tb = form & 2;
                if (store == 2 && (ta || tb)) continue; /* the bias form is A B + bias only */
                Tensor A = ta ? tensor_new(K, M) : tensor_new(M, K);
                Tensor B = tb ? tensor_new(N, K) : tensor_new(K, N);
                Tensor C = tensor_new(M, N), C0 = tensor_new(M, N), bias = tensor_new(1, N);
                tensor_randn(&A, &rng, 1.0f);
                tensor_randn(&B, &rng, 1.0f);
                tensor_randn(&bias, &rng, 1.0f);
                if (store == 1) tensor_randn(&C0, &rng, 1.0f);
                if (store == 0) tensor_fill(&C, NAN);
                else tensor_copy(&C, &C0);
                if (store == 0) tensor_matmul(&C, &A, ta, &B, tb);
                else if (store == 1) tensor_matmul_acc(&C, &A, ta, &B, tb);
                else tensor_matmul_bias(&C, &A, &B, &bias);
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        double ref = store == 1 ? *tensor_at(&C0, i, j) : store == 2 ? bias.data[j] : 0.0;
                        double mag = fabs(ref);
                        for (int k = 0; k < K; k++) {
                            double a = ta ? *tensor_at(&A, k, i) : *tensor_at(&A, i, k);
                            double b = tb ? *tensor_at(&B, j, k) : *tensor_at(&B, k, j);
                            ref += a * b;
                            mag += fabs(a * b);
                        }
                        ck_assert_msg(fabs(*tensor_at(&C, i, j) - ref) <= 1e-5 * mag * (K > 64 ? K / 64.0 : 1.0) + 1e-30,
                                      "%dx%dx%d form %d store %d (%d,%d): %g vs %g", M, K, N, form, store, i, j,
                                      (double)*tensor_at(&C, i, j), ref);
                    }
                tensor_free(&A), tensor_free(&B), tensor_free(&C), tensor_free(&C0), tensor_free(&bias);
            }
}
END_TEST

/* The triangular products against the plain triple loop: op(A) with exact zeros on one side of a
 * diagonal (TRI_A_LOWER, TRI_A_UPPER), or only C's lower part wanted (TRI_C_LOWER), for several
 * offsets, both forms of A, storing and accumulating, with a depth past KC = 256 and sizes that
 * cut tiles (6 rows, 16 or 32 columns) across the diagonal. Tolerance as in the test above. */
START_TEST(test_matmul_triangles) {
    Rng rng;
    rng_seed(&rng, 8, 2);
    const int sizes[][3] = {{37, 41, 29}, {70, 300, 45}, {64, 64, 32}};
    const int offsets[] = {0, -13, 20};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int kind = TRI_C_LOWER; kind <= TRI_A_UPPER; kind++)
            for (size_t o = 0; o < sizeof offsets / sizeof offsets[0]; o++)
                for (int form = 0; form < 4; form++) {
                    const int M = sizes[s][0], K = sizes[s][1], N = sizes[s][2], off = offsets[o];
                    const bool ta = form & 1, acc = form & 2;
                    Tensor A = ta ? tensor_new(K, M) : tensor_new(M, K), B = tensor_new(K, N);
                    Tensor C = tensor_new(M, N), C0 = tensor_new(M, N);
                    tensor_randn(&A, &rng, 1.0f), tensor_randn(&B, &rng, 1.0f), tensor_randn(&C0, &rng, 1.0f);
                    for (int i = 0; i < M; i++)
                        for (int k = 0; k < K; k++) {
                            const bool zero = (kind == TRI_A_LOWER && k > i + off) || (kind == TRI_A_UPPER && k < i + off);
                            if (zero) *(ta ? tensor_at(&A, k, i) : tensor_at(&A, i, k)) = 0.0f;
                        }
                    tensor_copy(&C, &C0);
                    tensor_matmul_tri(&C, &A, ta, &B, false, acc, (Triangle){(TriangleKind)kind, off});
                    for (int i = 0; i < M; i++)
                        for (int j = 0; j < N; j++) {
                            if (kind == TRI_C_LOWER && j > i + off) continue; /* not wanted */
                            double ref = acc ? *tensor_at(&C0, i, j) : 0.0, mag = fabs(ref);
                            for (int k = 0; k < K; k++) {
                                const double a = ta ? *tensor_at(&A, k, i) : *tensor_at(&A, i, k);
                                ref += a * *tensor_at(&B, k, j);
                                mag += fabs(a * *tensor_at(&B, k, j));
                            }
                            ck_assert_msg(fabs(*tensor_at(&C, i, j) - ref) <= 1e-5 * mag * (K > 64 ? K / 64.0 : 1.0) + 1e-30,
                                          "%dx%dx%d kind %d offset %d form %d (%d,%d): %g vs %g", M, K, N, kind, off, form,
                                          i, j, (double)*tensor_at(&C, i, j), ref);
                        }
                    tensor_free(&A), tensor_free(&B), tensor_free(&C), tensor_free(&C0);
                }
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

#ifdef _OPENMP
#include <omp.h>
#endif

/* The kernel splits the rows of C between threads; each element is still summed by one thread in
 * the same order, so 1 and 2 threads give the same bits. */
START_TEST(test_matmul_threads_same_bits) {
#ifdef _OPENMP
    Rng rng;
    rng_seed(&rng, 21, 21);
    Tensor A = tensor_new(600, 300), B = tensor_new(300, 200), C1 = tensor_new(600, 200), C2 = tensor_new(600, 200);
    tensor_randn(&A, &rng, 1.0f);
    tensor_randn(&B, &rng, 1.0f);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    tensor_matmul(&C1, &A, false, &B, false);
    omp_set_num_threads(2);
    tensor_matmul(&C2, &A, false, &B, false);
    omp_set_num_threads(saved);
    for (int r = 0; r < 600; r++) ck_assert(tensor_rows_identical(&C1, &C2, r));
    tensor_free(&A), tensor_free(&B), tensor_free(&C1), tensor_free(&C2);
#endif
}
END_TEST

/* A BlockStep sees each element of C exactly once, after its whole sum: with K = 300 past KC = 256
 * the sums are built in two k blocks, and a step run after the first would see partial sums. The
 * step copies what it sees and counts its visits; C itself must be what tensor_matmul (with the
 * bias) gives, bit for bit, in every transpose form and with both thread counts. */
typedef struct {
    Tensor *seen, *visits;
} Watch;

static void watch_block(const void *ctx, Tensor *C, int r0, int c0, int rows, int cols) {
    const Watch *w = ctx;
    for (int r = r0; r < r0 + rows; r++)
        for (int c = c0; c < c0 + cols; c++) {
            *tensor_at(w->seen, r, c) = *tensor_at(C, r, c);
            *tensor_at(w->visits, r, c) += 1.0f;
        }
}

START_TEST(test_matmul_block_step) {
    Rng rng;
    rng_seed(&rng, 8, 13);
    const int M = 131, K = 300, N = 45;
    for (int form = 0; form < 4; form++)
        for (int threads = 1; threads <= 2; threads++) {
            const bool ta = form & 1, tb = form & 2;
#ifdef _OPENMP
            const int saved = omp_get_max_threads();
            omp_set_num_threads(threads);
#endif
            Tensor A = ta ? tensor_new(K, M) : tensor_new(M, K), B = tb ? tensor_new(N, K) : tensor_new(K, N);
            Tensor bias = tensor_new(1, N), C = tensor_new(M, N), ref = tensor_new(M, N);
            Tensor seen = tensor_new(M, N), visits = tensor_new(M, N);
            tensor_randn(&A, &rng, 1.0f), tensor_randn(&B, &rng, 1.0f), tensor_randn(&bias, &rng, 1.0f);
            tensor_matmul(&ref, &A, ta, &B, tb);
            tensor_fill(&C, NAN); /* every element must be stored */
            const Watch w = {&seen, &visits};
            tensor_matmul_then(&C, &A, ta, &B, tb, NULL, (BlockStep){watch_block, &w});
            for (int r = 0; r < M; r++) {
                ck_assert(tensor_rows_identical(&C, &ref, r));
                ck_assert(tensor_rows_identical(&seen, &C, r));
                for (int c = 0; c < N; c++) ck_assert_float_eq(*tensor_at(&visits, r, c), 1.0f);
            }
            if (!ta && !tb) { /* with the bias: the same as tensor_matmul_bias */
                tensor_fill(&visits, 0.0f);
                tensor_matmul_bias(&ref, &A, &B, &bias);
                tensor_matmul_then(&C, &A, ta, &B, tb, &bias, (BlockStep){watch_block, &w});
                for (int r = 0; r < M; r++) {
                    ck_assert(tensor_rows_identical(&C, &ref, r));
                    ck_assert(tensor_rows_identical(&seen, &C, r));
                    for (int c = 0; c < N; c++) ck_assert_float_eq(*tensor_at(&visits, r, c), 1.0f);
                }
            }
#ifdef _OPENMP
            omp_set_num_threads(saved);
#endif
            Tensor *all[] = {&A, &B, &bias, &C, &ref, &seen, &visits};
            for (size_t t = 0; t < sizeof all / sizeof all[0]; t++) tensor_free(all[t]);
        }
}
END_TEST

/* The column sums that ride along with a product (a bias gradient) are the plain loop's, bit for bit:
 * the same rows added in the same order, in every transpose form, past KC and NR, added to what
 * was there; on 1 and 2 threads, the larger shape large enough for the threaded path. */
START_TEST(test_matmul_colsums) {
    Rng rng;
    rng_seed(&rng, 6, 17);
    const int shapes[][3] = {{19, 300, 45}, {130, 300, 200}};
    for (int run = 0; run < 8; run++) {
        const int M = shapes[run / 4 % 2][0], K = shapes[run / 4 % 2][1], N = shapes[run / 4 % 2][2];
        const bool ta = run & 1, tb = run & 2;
        Tensor A = ta ? tensor_new(K, M) : tensor_new(M, K), B = tb ? tensor_new(N, K) : tensor_new(K, N);
        Tensor ref = tensor_new(M, N), sums = tensor_new(1, N), want = tensor_new(1, N);
        tensor_randn(&A, &rng, 1.0f), tensor_randn(&B, &rng, 1.0f), tensor_randn(&sums, &rng, 1.0f);
        tensor_copy(&want, &sums);
        for (int k = 0; k < K; k++)
            for (int j = 0; j < N; j++) want.data[j] += tb ? *tensor_at(&B, j, k) : *tensor_at(&B, k, j);
        tensor_matmul_acc(&ref, &A, ta, &B, tb);
        for (int threads = 1; threads <= 2; threads++) {
            Tensor C2 = tensor_new(M, N), sums2 = tensor_new(1, N);
            tensor_copy(&sums2, &sums);
#ifdef _OPENMP
            const int saved = omp_get_max_threads();
            omp_set_num_threads(threads);
#endif
            tensor_matmul_acc_colsums(&C2, &A, ta, &B, tb, &sums2);
#ifdef _OPENMP
            omp_set_num_threads(saved);
#endif
            ck_assert_msg(tensor_rows_identical(&sums2, &want, 0), "%d x %d x %d form %d, %d threads", M, K, N, run % 4, threads);
            for (int r = 0; r < M; r++) ck_assert(tensor_rows_identical(&C2, &ref, r));
            tensor_free(&C2), tensor_free(&sums2);
        }
        Tensor *all[] = {&A, &B, &ref, &sums, &want};
        for (size_t t = 0; t < sizeof all / sizeof all[0]; t++) tensor_free(all[t]);
    }
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
    tcase_add_test(tc, test_matmul_against_reference);
    tcase_add_test(tc, test_matmul_triangles);
    tcase_add_test(tc, test_max_abs_diff);
    tcase_add_test(tc, test_pca_by_hand);
    tcase_add_test(tc, test_matmul_threads_same_bits);
    tcase_add_test(tc, test_matmul_block_step);
    tcase_add_test(tc, test_matmul_colsums);
    suite_add_tcase(s, tc);
    return s;
}
