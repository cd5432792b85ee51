/* Chapter 8 (feed-forward and residual): its options and the checks it prints. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapter_run.h"
#include "tests.h"

static const char chapter[] = "ch08_feed_forward_residual";

/* Bad arguments of this chapter only, and what the one-line message must contain. */
static const Bad bad[] = {
    {{"--layers", "1"}, "--layers: 1 is out of range"},
    {{"--d-ff", "0"}, "--d-ff: 0 is out of range"},
    {{"--tokens", "99999"}, "--tokens: 99999 is out of range"},
};

START_TEST(test_bad_arguments) {
    check_bad(chapter, &bad[_i]);
}
END_TEST

/* What the chapter prints as its checks must come out as checked. */
START_TEST(test_prints_its_checks) {
    check_prints(chapter, (const char *[]){"--no-plot", NULL},
                 (const char *[]){"the backward passes agree", "vanishing", NULL});
}
END_TEST

Suite *ch08_suite(void) {
    Suite *s = suite_create("ch08");
    TCase *tc = tcase_create("ch08");
    every_chapter_tests(tc, chapter);
    tcase_add_loop_test(tc, test_bad_arguments, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, test_prints_its_checks);
    suite_add_tcase(s, tc);
    return s;
}
