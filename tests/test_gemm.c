/* The fast product (gemm) against the definition (tensor_matmul) and against a slow double-precision
 * reference, in every form it offers: transposes, accumulation, bias, triangles, a step on each
 * finished block of rows, column sums, threads. */
#include <math.h>
#include <stdlib.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "gemm.h"
#include "tests.h"

static Tensor from(int rows, int cols, const float *v) {
    Tensor t = tensor_new(rows, cols);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) *tensor_at(&t, r, c) = v[r * cols + c];
    return t;
}

static void assert_equals(const Tensor *t, const float *v) {
    for (int r = 0; r < t->rows; r++)
        for (int c = 0; c < t->cols; c++)
            ck_assert_msg(*tensor_at(t, r, c) == v[r * t->cols + c], "(%d, %d): got %g, want %g", r, c,
                          (double)*tensor_at(t, r, c), (double)v[r * t->cols + c]);
}

/* op(X) read in place: A = [[1,2,3],[4,5,6]], A^T A and A^T S^T worked out by hand. */
START_TEST(test_transposes_by_hand) {
    Tensor A = from(2, 3, (const float[]){1, 2, 3, 4, 5, 6}), AtA = tensor_new(3, 3);
    gemm(&AtA, &A, &A, (GemmOptions){.flags = GEMM_TRANS_A}); /* A^T A */
    assert_equals(&AtA, (const float[]){17, 22, 27, 22, 29, 36, 27, 36, 45});
    Tensor S = from(2, 2, (const float[]){1, 2, 3, 4}), D = tensor_new(3, 2);
    gemm(&D, &A, &S, (GemmOptions){.flags = GEMM_TRANS_A | GEMM_TRANS_B}); /* A^T S^T */
    assert_equals(&D, (const float[]){9, 19, 12, 26, 15, 33});
    tensor_free(&A), tensor_free(&AtA), tensor_free(&S), tensor_free(&D);
}
END_TEST

/* Up to K = 256 (one block of k) gemm adds each element's terms in the definition's order, from 0:
 * the same bits as tensor_matmul and tensor_matmul_bt, on sizes that cut its tiles (6 rows, 16 or
 * 32 columns) and blocks (120 rows), B read both ways. So the chapters that call the definition
 * print what the fast form would. */
START_TEST(test_equals_definition) {
    Rng rng;
    rng_seed(&rng, 5, 9);
    /* the last two: B small enough to be read in place, unpacked (with B^T it is packed) */
    const int sizes[][3] = {{1, 1, 1}, {7, 5, 3}, {37, 64, 33}, {131, 256, 70}, {64, 64, 64}, {50, 100, 32}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int tb = 0; tb < 2; tb++) {
            const int M = sizes[s][0], K = sizes[s][1], N = sizes[s][2];
            Tensor A = tensor_new(M, K), B = tb ? tensor_new(N, K) : tensor_new(K, N);
            Tensor plain = tensor_new(M, N), fast = tensor_new(M, N);
            tensor_randn(&A, &rng, 1.0f), tensor_randn(&B, &rng, 1.0f);
            if (tb) tensor_matmul_bt(&plain, &A, &B);
            else tensor_matmul(&plain, &A, &B);
            gemm(&fast, &A, &B, (GemmOptions){.flags = tb ? GEMM_TRANS_B : 0});
            for (int r = 0; r < M; r++)
                ck_assert_msg(tensor_rows_identical(&plain, &fast, r), "%d x %d x %d%s: row %d differs", M, K, N,
                              tb ? " (B^T)" : "", r);
            tensor_free(&A), tensor_free(&B), tensor_free(&plain), tensor_free(&fast);
        }
}
END_TEST

/* Every transpose combination against a plain triple loop in double, on odd sizes, in the three
 * ways of storing: C = op(A) op(B) over a C full of NaN (the products must be stored, never added
 * to what was there), C += op(A) op(B) over a C of known values, and C = A B + bias.
 * Tolerance: float accumulation of K products errs by at most about K * 2^-24 * sum_k |a b|, that is
 * 6e-8 K sum_k |a b|; the test allows 1e-5 sum_k |a b|, times K/64 past K = 64 (1.6e-7 K): room to
 * spare. The starting value (the old C or the bias) is one more term of the sum. */
START_TEST(test_against_reference) {
    Rng rng;
    rng_seed(&rng, 3, 11);
    /* 1 x 1, primes, and sizes across the kernel's blocks: rows past MC = 120 and not a multiple
     * of MR = 6, depth past KC = 256, columns not a multiple of NR (16 or 32); one panel of B
     * (where A^T is read in place, not packed) with depth past KC */
    const int sizes[][3] = {{1, 1, 1}, {3, 5, 7}, {16, 37, 9}, {33, 8, 17}, {131, 263, 33}, {7, 300, 130}, {13, 520, 65},
                            {125, 301, 14}, {29, 31, 64}}; /* the last: op(B) = B read in place */
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int form = 0; form < 4; form++)
            for (int store = 0; store < 3; store++) {
                const int M = sizes[s][0], K = sizes[s][1], N = sizes[s][2];
                const bool ta = form & 1, tb = form & 2;
                const unsigned ops = (ta ? GEMM_TRANS_A : 0) | (tb ? GEMM_TRANS_B : 0);
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
                if (store == 0) gemm(&C, &A, &B, (GemmOptions){.flags = ops});
                else if (store == 1) gemm(&C, &A, &B, (GemmOptions){.flags = ops | GEMM_ACCUMULATE});
                else gemm(&C, &A, &B, (GemmOptions){.bias = &bias});
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
START_TEST(test_triangles) {
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
                    const GemmOptions o = {.flags = (acc ? GEMM_ACCUMULATE : 0) | (ta ? GEMM_TRANS_A : 0),
                                           .tri = {(TriangleKind)kind, off}};
                    gemm(&C, &A, &B, o);
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

/* With threads, the kernel splits the rows of C (a tall product) or its panels of columns (fewer
 * rows than columns: a weight gradient), each thread packing what it reads; each element is still
 * summed by one thread in the same order, so 1 and 2 threads give the same bits, in every transpose
 * form, and so do op(B)'s column sums taken on the way. */
START_TEST(test_threads_same_bits) {
#ifdef _OPENMP
    Rng rng;
    rng_seed(&rng, 21, 21);
    const int shapes[2][3] = {{600, 300, 200}, {70, 600, 300}}; /* rows split; panels split (K past KC) */
    for (int sh = 0; sh < 2; sh++)
        for (int form = 0; form < 4; form++) {
            const int M = shapes[sh][0], K = shapes[sh][1], N = shapes[sh][2];
            const bool ta = form & 1, tb = form & 2;
            Tensor A = ta ? tensor_new(K, M) : tensor_new(M, K), B = tb ? tensor_new(N, K) : tensor_new(K, N);
            Tensor C[2] = {tensor_new(M, N), tensor_new(M, N)}, sums[2] = {tensor_new(1, N), tensor_new(1, N)};
            tensor_randn(&A, &rng, 1.0f);
            tensor_randn(&B, &rng, 1.0f);
            const int saved = omp_get_max_threads();
            for (int t = 0; t < 2; t++) {
                omp_set_num_threads(t + 1);
                gemm(&C[t], &A, &B, (GemmOptions){.flags = (ta ? GEMM_TRANS_A : 0) | (tb ? GEMM_TRANS_B : 0), .colsums = &sums[t]});
            }
            omp_set_num_threads(saved);
            for (int r = 0; r < M; r++) ck_assert(tensor_rows_identical(&C[0], &C[1], r));
            ck_assert(tensor_rows_identical(&sums[0], &sums[1], 0));
            tensor_free(&A), tensor_free(&B);
            for (int t = 0; t < 2; t++) tensor_free(&C[t]), tensor_free(&sums[t]);
        }
#endif
}
END_TEST

/* gemm_two computes two products at once, each on its own share of the threads: each must be the
 * same bits as gemm alone (on one thread), column sums and bias included, whatever the thread count
 * (1, 2 and 3) and whichever product comes first. The pairs are a linear layer's backward pass, dx =
 * dy W^T (+ a bias, in the even cases) and dW += x^T dy2 with db += dy2's column sums, sized so that
 * every case is worth threads: equal work (1 + 1, and 1 + 2 or 2 + 1 threads); the weight gradient
 * with four fifths of it (at 3 threads its two threads split it by panels); nearly all of it in dx
 * (two of three threads split dx by rows); and a weight gradient with no sums at all (T2 = 0: an
 * empty product, which leaves dW and db as they were and gets no thread). */
START_TEST(test_two_products) {
    Rng rng;
    rng_seed(&rng, 23, 5);
    /* T, C_in, C_out, and the second product's length of sums T2 */
    const int cases[][4] = {{600, 70, 300, 600}, {600, 70, 300, 2400}, {1300, 45, 200, 1}, {1300, 64, 64, 0}};
    for (int cs = 0; cs < 4; cs++)
        for (int threads = 1; threads <= 3; threads++) {
            const int T = cases[cs][0], Ci = cases[cs][1], Co = cases[cs][2], T2 = cases[cs][3];
            Tensor dy = tensor_new(T, Co), W = tensor_new(Ci, Co), bias = tensor_new(1, Ci);
            Tensor x = tensor_new(T2 > 0 ? T2 : 1, Ci), dy2 = tensor_new(T2 > 0 ? T2 : 1, Co);
            Tensor dx[2] = {tensor_new(T, Ci), tensor_new(T, Ci)}, dW[2] = {tensor_new(Ci, Co), tensor_new(Ci, Co)};
            Tensor db[2] = {tensor_new(1, Co), tensor_new(1, Co)};
            Tensor *all[] = {&dy, &W, &bias, &x, &dy2, &dx[0], &dx[1], &dW[0], &dW[1], &db[0], &db[1]};
            for (size_t t = 0; t < sizeof all / sizeof all[0]; t++) tensor_randn(all[t], &rng, 1.0f);
            tensor_copy(&dW[1], &dW[0]), tensor_copy(&db[1], &db[0]);
            /* no sums: x and dy2 seen with no rows (a view cannot have none; the fields can) */
            const Tensor x_used = T2 > 0 ? x : (Tensor){x.data, 0, Ci, x.stride, false};
            const Tensor dy2_used = T2 > 0 ? dy2 : (Tensor){dy2.data, 0, Co, dy2.stride, false};
            const GemmCall a = {&dx[1], &dy, &W, {.flags = GEMM_TRANS_B, .bias = cs % 2 ? NULL : &bias}};
            const GemmCall b = {&dW[1], &x_used, &dy2_used, {.flags = GEMM_TRANS_A | GEMM_ACCUMULATE, .colsums = &db[1]}};
#ifdef _OPENMP
            const int saved = omp_get_max_threads();
            omp_set_num_threads(1);
#endif
            gemm(&dx[0], &dy, &W, a.o);
            gemm(&dW[0], &x_used, &dy2_used, (GemmOptions){.flags = b.o.flags, .colsums = &db[0]});
#ifdef _OPENMP
            omp_set_num_threads(threads);
#endif
            if (threads == 2) gemm_two(b, a); /* the weight gradient first */
            else gemm_two(a, b);
#ifdef _OPENMP
            omp_set_num_threads(saved);
#endif
            for (int r = 0; r < T; r++) ck_assert_msg(tensor_rows_identical(&dx[0], &dx[1], r), "case %d, %d threads: dx row %d", cs, threads, r);
            for (int r = 0; r < Ci; r++) ck_assert_msg(tensor_rows_identical(&dW[0], &dW[1], r), "case %d, %d threads: dW row %d", cs, threads, r);
            ck_assert_msg(tensor_rows_identical(&db[0], &db[1], 0), "case %d, %d threads: db", cs, threads);
            for (size_t t = 0; t < sizeof all / sizeof all[0]; t++) tensor_free(all[t]);
        }
}
END_TEST

/* A BlockStep sees each element of C exactly once, after its whole sum: with K = 300 past KC = 256
 * the sums are built in two k blocks, and a step run after the first would see partial sums. The
 * step copies what it sees and counts its visits; C itself must be what gemm without the step (with the
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

START_TEST(test_block_step) {
    Rng rng;
    rng_seed(&rng, 8, 13);
    const int M = 131, K = 300, N = 45;
    for (int form = 0; form < 4; form++)
        for (int threads = 1; threads <= 2; threads++) {
            const bool ta = form & 1, tb = form & 2;
            const unsigned ops = (ta ? GEMM_TRANS_A : 0) | (tb ? GEMM_TRANS_B : 0);
#ifdef _OPENMP
            const int saved = omp_get_max_threads();
            omp_set_num_threads(threads);
#endif
            Tensor A = ta ? tensor_new(K, M) : tensor_new(M, K), B = tb ? tensor_new(N, K) : tensor_new(K, N);
            Tensor bias = tensor_new(1, N), C = tensor_new(M, N), ref = tensor_new(M, N);
            Tensor seen = tensor_new(M, N), visits = tensor_new(M, N);
            tensor_randn(&A, &rng, 1.0f), tensor_randn(&B, &rng, 1.0f), tensor_randn(&bias, &rng, 1.0f);
            gemm(&ref, &A, &B, (GemmOptions){.flags = ops});
            tensor_fill(&C, NAN); /* every element must be stored */
            const Watch w = {&seen, &visits};
            gemm(&C, &A, &B, (GemmOptions){.flags = ops, .then = {watch_block, &w}});
            for (int r = 0; r < M; r++) {
                ck_assert(tensor_rows_identical(&C, &ref, r));
                ck_assert(tensor_rows_identical(&seen, &C, r));
                for (int c = 0; c < N; c++) ck_assert_float_eq(*tensor_at(&visits, r, c), 1.0f);
            }
            if (!ta && !tb) { /* with the bias: the same as the bias alone */
                tensor_fill(&visits, 0.0f);
                gemm(&ref, &A, &B, (GemmOptions){.bias = &bias});
                gemm(&C, &A, &B, (GemmOptions){.flags = ops, .bias = &bias, .then = {watch_block, &w}});
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
START_TEST(test_colsums) {
    Rng rng;
    rng_seed(&rng, 6, 17);
    const int shapes[][3] = {{19, 300, 45}, {130, 300, 200}};
    for (int run = 0; run < 8; run++) {
        const int M = shapes[run / 4 % 2][0], K = shapes[run / 4 % 2][1], N = shapes[run / 4 % 2][2];
        const bool ta = run & 1, tb = run & 2;
        const unsigned ops = (ta ? GEMM_TRANS_A : 0) | (tb ? GEMM_TRANS_B : 0);
        Tensor A = ta ? tensor_new(K, M) : tensor_new(M, K), B = tb ? tensor_new(N, K) : tensor_new(K, N);
        Tensor ref = tensor_new(M, N), sums = tensor_new(1, N), want = tensor_new(1, N);
        tensor_randn(&A, &rng, 1.0f), tensor_randn(&B, &rng, 1.0f), tensor_randn(&sums, &rng, 1.0f);
        tensor_copy(&want, &sums);
        for (int k = 0; k < K; k++)
            for (int j = 0; j < N; j++) want.data[j] += tb ? *tensor_at(&B, j, k) : *tensor_at(&B, k, j);
        gemm(&ref, &A, &B, (GemmOptions){.flags = ops | GEMM_ACCUMULATE});
        for (int threads = 1; threads <= 2; threads++) {
            Tensor C2 = tensor_new(M, N), sums2 = tensor_new(1, N);
            tensor_copy(&sums2, &sums);
#ifdef _OPENMP
            const int saved = omp_get_max_threads();
            omp_set_num_threads(threads);
#endif
            gemm(&C2, &A, &B, (GemmOptions){.flags = ops | GEMM_ACCUMULATE, .colsums = &sums2});
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

Suite *gemm_suite(void) {
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("gemm");
    tcase_add_test(tc, test_transposes_by_hand);
    tcase_add_test(tc, test_equals_definition);
    tcase_add_test(tc, test_against_reference);
    tcase_add_test(tc, test_triangles);
    tcase_add_test(tc, test_threads_same_bits);
    tcase_add_test(tc, test_two_products);
    tcase_add_test(tc, test_block_step);
    tcase_add_test(tc, test_colsums);
    suite_add_tcase(s, tc);
    return s;
}
