/* Chapter 7 (layer norm): its options and the checks it prints. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapter_run.h"
#include "tests.h"

static const char chapter[] = "ch07_layer_norm";

/* Bad arguments of this chapter only, and what the one-line message must contain. */
static const Bad bad[] = {
    {{"--eps", "0"}, "--eps: 0 is out of range; expected a number from 1e-12 to 1"},
    {{"--rows", "1"}, "--rows: 1 is out of range"},
    {{"--features", "x"}, "--features: 'x' is not a whole number"},
};

START_TEST(test_bad_arguments) {
    check_bad(chapter, &bad[_i]);
}
END_TEST

/* What the chapter prints as its checks must come out as checked. */
START_TEST(test_prints_its_checks) {
    check_prints(chapter, (const char *[]){"--no-plot", NULL},
                 (const char *[]){"layer norm  5 of 5", "batch norm  0 of 5", "the backward pass agrees", "eps = 0      -> nan nan", NULL});
}
END_TEST

Suite *ch07_suite(void) {
    Suite *s = suite_create("ch07");
    TCase *tc = tcase_create("ch07");
    every_chapter_tests(tc, chapter);
    tcase_add_loop_test(tc, test_bad_arguments, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, test_prints_its_checks);
    suite_add_tcase(s, tc);
    return s;
}
