/* Chapter 9 (the Transformer block): its options and the checks it prints. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapter_run.h"
#include "tests.h"

static const char chapter[] = "ch09_transformer_block";

/* Bad arguments of this chapter only, and what the one-line message must contain. */
static const Bad bad[] = {
    {{"--heads", "3"}, "--heads: 3 does not divide --d-model 16"},
    {{"--target", "one"}, "--target: needs 2 to 64 words, got 1"},
    {{"--layers", "0"}, "--layers: 0 is out of range"},
};

START_TEST(test_bad_arguments) {
    check_bad(chapter, &bad[_i]);
}
END_TEST

/* What the chapter prints as its checks must come out as checked. */
START_TEST(test_prints_its_checks) {
    check_prints(chapter, (const char *[]){"--no-plot", NULL},
                 (const char *[]){"every backward pass agrees", "5 of 5 (causal)", "formula 6688, allocated 6688", NULL});
    check_prints(chapter, (const char *[]){"--no-plot", "--heads", "4", "--target", "x y z w", NULL},
                 (const char *[]){"every backward pass agrees", "(4, 16)", NULL});
}
END_TEST

Suite *ch09_suite(void) {
    Suite *s = suite_create("ch09");
    TCase *tc = tcase_create("ch09");
    every_chapter_tests(tc, chapter);
    tcase_add_loop_test(tc, test_bad_arguments, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, test_prints_its_checks);
    suite_add_tcase(s, tc);
    return s;
}
