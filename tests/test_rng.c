/* The generator: PCG32 as published, and the draws built on it. */
#include <math.h>
#include <stdlib.h>

#include "rng.h"
#include "tests.h"

/* The first outputs of the reference PCG32 program (pcg32-demo) for seed 42, stream 54: a pinned
 * stream, so any change to the algorithm or its seeding is caught. */
START_TEST(test_reference_stream) {
    const uint32_t want[] = {0xa15c02b7u, 0x7b47f409u, 0xba1d3330u, 0x83d2f293u, 0xbfa4784bu, 0xcbed606eu};
    Rng rng;
    rng_seed(&rng, 42, 54);
    for (int i = 0; i < 6; i++) ck_assert_msg(rng_u32(&rng) == want[i], "output %d", i);
}
END_TEST

START_TEST(test_same_seed_same_stream) {
    Rng a, b, c;
    rng_seed(&a, 123, 1);
    rng_seed(&b, 123, 1);
    rng_seed(&c, 124, 1);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = rng_u32(&a);
        ck_assert_uint_eq(x, rng_u32(&b));
        differ += x != rng_u32(&c);
    }
    ck_assert_int_gt(differ, 990);
}
END_TEST

START_TEST(test_uniform_and_below) {
    Rng rng;
    rng_seed(&rng, 5, 5);
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) {
        float u = rng_uniform(&rng);
        ck_assert(u >= 0.0f && u < 1.0f);
        uint32_t k = rng_below(&rng, 7);
        ck_assert_uint_lt(k, 7);
        counts[k]++;
    }
    /* each count is Binomial(70000, 1/7): mean 10000, sd 92; 600 is 6.5 sd */
    for (int k = 0; k < 7; k++) ck_assert_int_lt(abs(counts[k] - 10000), 600);
}
END_TEST

/* 200000 normal draws: the mean has sd 1/sqrt(n) = 0.0022 and the variance sd sqrt(2/n) = 0.0032;
 * 0.015 is over 4.5 of either. The stream is fixed, so this is deterministic. */
START_TEST(test_normal_moments) {
    Rng rng;
    rng_seed(&rng, 9, 9);
    double sum = 0, sum2 = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double z = rng_normal(&rng);
        ck_assert(isfinite(z));
        sum += z;
        sum2 += z * z;
    }
    ck_assert_double_eq_tol(sum / n, 0.0, 0.015);
    ck_assert_double_eq_tol(sum2 / n - (sum / n) * (sum / n), 1.0, 0.015);
}
END_TEST

START_TEST(test_hash_string) {
    ck_assert_uint_eq(rng_hash_string(""), 14695981039346656037ULL); /* FNV-1a offset basis */
    ck_assert_uint_eq(rng_hash_string("a"), 0xaf63dc4c8601ec8cULL);  /* published FNV-1a("a") */
    ck_assert(rng_hash_string("the") != rng_hash_string("cat"));
}
END_TEST

Suite *rng_suite(void) {
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("pcg32");
    tcase_add_test(tc, test_reference_stream);
    tcase_add_test(tc, test_same_seed_same_stream);
    tcase_add_test(tc, test_uniform_and_below);
    tcase_add_test(tc, test_normal_moments);
    tcase_add_test(tc, test_hash_string);
    suite_add_tcase(s, tc);
    return s;
}
