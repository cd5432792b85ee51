/* Chapter 8 (feed-forward and residual): its options and the checks it prints. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapter_run.h"
#include "readback.h"
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

/* Section 3's notice quotes the spreads printed above it and says "grows" only when pre-norm's is
 * larger than x's; section 4's does not say that nothing rescales a gradient that changes. */
START_TEST(test_residual_notices) {
    Run r = run(chapter, (const char *[]){"--no-plot", NULL});
    ck_assert_int_eq(r.status, 0);
    const char *sec3 = section_start(r.out, 3);
    double x, post, pre;
    const char *line = strstr(sec3, "\n    x ");
    ck_assert_ptr_nonnull(line);
    ck_assert_int_eq(sscanf(line, " x %lf post-norm y %lf pre-norm y %lf", &x, &post, &pre), 3);
    char *note = flatten(strstr(sec3, "Notice:"));
    char want[160];
    snprintf(want, sizeof want, "spread %s from block to block (here %.3f to %.3f in one block)", pre > x ? "grows" : "changes",
             x, pre);
    ck_assert_msg(strstr(note, want) != NULL, "section 3's notice does not say \"%s\": %s", want, note);
    free(note);
    note = flatten(strstr(section_start(r.out, 4), "Notice:"));
    ck_assert_ptr_null(strstr(note, "nothing rescales"));
    free(note);
    run_free(&r);
}
END_TEST

Suite *ch08_suite(void) {
    Suite *s = suite_create("ch08");
    TCase *tc = tcase_create("ch08");
    every_chapter_tests(tc, chapter);
    tcase_add_loop_test(tc, test_bad_arguments, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, test_prints_its_checks);
    tcase_add_test(tc, test_residual_notices);
    suite_add_tcase(s, tc);
    return s;
}
