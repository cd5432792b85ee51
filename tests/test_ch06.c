/* Chapter 6 (positional encoding): its options, the checks it prints, order made visible. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapter_run.h"
#include "tests.h"

static const char chapter[] = "ch06_positional_encoding";

/* Bad arguments of this chapter only, and what the one-line message must contain. */
static const Bad bad[] = {
    {{"--positions", "1"}, "--positions: 1 is out of range"},
    {{"--positions", "3"}, "--positions: 3 is fewer than the 6 words of the sentence"},
    {{"--max-len", "0"}, "--max-len: 0 is out of range"},
};

START_TEST(test_bad_arguments) {
    check_bad(chapter, &bad[_i]);
}
END_TEST

/* What the chapter prints as its checks must come out as checked. */
START_TEST(test_prints_its_checks) {
    check_prints(chapter, (const char *[]){"--no-plot", NULL},
                 (const char *[]){"posenc_sinusoidal against this loop: largest difference 0.", "(float rounding)", NULL});
}
END_TEST

/* Attention without positions is permutation-equivariant up to rounding, with them not. */
START_TEST(test_ch06_permutation) {
    Run r = run(chapter, (const char *[]){"--no-plot", NULL});
    const char *a = strstr(r.out, "X alone:"), *b = strstr(r.out, "X + PE:");
    ck_assert(a && b);
    ck_assert_double_lt(strtod(a + 8, NULL), 1e-5);
    ck_assert_double_gt(strtod(b + 7, NULL), 0.05);
    run_free(&r);
}
END_TEST

Suite *ch06_suite(void) {
    Suite *s = suite_create("ch06");
    TCase *tc = tcase_create("ch06");
    every_chapter_tests(tc, chapter);
    tcase_add_loop_test(tc, test_bad_arguments, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, test_prints_its_checks);
    tcase_add_test(tc, test_ch06_permutation);
    suite_add_tcase(s, tc);
    return s;
}
