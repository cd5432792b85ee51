/* Chapter 5 (multi-head attention): its options and the checks it prints. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapter_run.h"
#include "tests.h"

static const char chapter[] = "ch05_multi_head_attention";

/* Bad arguments of this chapter only, and what the one-line message must contain. */
static const Bad bad[] = {
    {{"--heads", "3"}, "--heads: 3 does not divide --d-model 8"},
    {{"--heads", "0"}, "--heads: 0 is out of range; expected a whole number from 1 to 16"},
    {{"--d-k", "4"}, "unknown option '--d-k'"},
    {{"--causal=1"}, "--causal takes no value"},
};

START_TEST(test_bad_arguments) {
    check_bad(chapter, &bad[_i]);
}
END_TEST

/* What the chapter prints as its checks must come out as checked. */
START_TEST(test_prints_its_checks) {
    check_prints(chapter, (const char *[]){"--no-plot", NULL},
                 (const char *[]){"bit for bit: yes", "the backward pass agrees", "       8          1          288          288", NULL});
    check_prints(chapter, (const char *[]){"--no-plot", "--heads", "4", "--causal", NULL},
                 (const char *[]){"bit for bit: yes", "the backward pass agrees", "A_3 = softmax", NULL});
}
END_TEST

Suite *ch05_suite(void) {
    Suite *s = suite_create("ch05");
    TCase *tc = tcase_create("ch05");
    every_chapter_tests(tc, chapter);
    tcase_add_loop_test(tc, test_bad_arguments, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, test_prints_its_checks);
    suite_add_tcase(s, tc);
    return s;
}
