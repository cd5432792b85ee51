/* Chapter 2 (the neural language model): its options and the checks it prints. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <math.h>

#include "chapter_run.h"
#include "tests.h"

static const char chapter[] = "ch02_neural_lm";

/* Bad arguments of this chapter only, and what the one-line message must contain. */
static const Bad bad[] = {
    {{"--context", "9"}, "--context: 9 is out of range; expected a whole number from 1 to 8"},
    {{"--lr", "0"}, "--lr: 0 is out of range"},
    {{"--act", "sigmoid"}, "--act: 'sigmoid' is not one of tanh|relu"},
    {{"--batch", "5000"}, "--batch: 5000 is out of range"},
};

START_TEST(test_bad_arguments) {
    check_bad(chapter, &bad[_i]);
}
END_TEST

/* Chapter 2, small and fast: the untrained loss is ln |V|, the backward pass agrees, a step
 * downhill lowers the loss, training beats the untrained model. */
START_TEST(test_ch02_checks) {
    Run r = run("ch02_neural_lm", (const char *[]){"--no-plot", "--steps", "300", "--eval-every", "100", "--lines", "2000", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "the backward pass agrees"));
    const char *p = strstr(r.out, "before training: validation loss ");
    ck_assert_ptr_nonnull(p);
    double initial = strtod(p + strlen("before training: validation loss "), NULL);
    p = strstr(p, "(ln |V| = ");
    ck_assert_ptr_nonnull(p);
    double lnv = strtod(p + strlen("(ln |V| = "), NULL);
    ck_assert_double_eq_tol(initial, lnv, 0.05);
    p = strstr(r.out, "on the same 8 examples: loss ");
    ck_assert_ptr_nonnull(p);
    char *end;
    double a = strtod(p + strlen("on the same 8 examples: loss "), &end);
    double b = strtod(end + strlen(" ->"), NULL);
    ck_assert_msg(b < a, "a gradient step went from %g to %g", a, b);
    double val = summary_value(r.out, "validation_perplexity");
    ck_assert_double_lt(log(val), initial);
    run_free(&r);
}
END_TEST

Suite *ch02_suite(void) {
    Suite *s = suite_create("ch02");
    TCase *tc = tcase_create("ch02");
    every_chapter_tests(tc, chapter);
    tcase_add_loop_test(tc, test_bad_arguments, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, test_ch02_checks);
    suite_add_tcase(s, tc);
    return s;
}
