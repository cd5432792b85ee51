/* Chapter 2 (the neural language model): its options and the checks it prints. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <math.h>

#include "chapter_run.h"
#include "readback.h"
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
 * downhill lowers the loss, training beats the untrained model. The tables' V is the |V| of
 * section 1 plus <s>, said where it is printed, and the parameter count follows from the shapes.
 * Section 6's Notice is the one its numbers choose. */
START_TEST(test_ch02_checks) {
    Run r = run("ch02_neural_lm", (const char *[]){"--no-plot", "--steps", "300", "--eval-every", "100", "--lines", "2000", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    const char *v = strstr(r.out, "|V| = ");
    ck_assert_ptr_nonnull(v);
    const long predicted = strtol(v + strlen("|V| = "), NULL, 10);
    int rows, D, ND, H, params, H2, V2;
    v = strstr(r.out, "  E   (V, D)     = (");
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(sscanf(v, "  E   (V, D)     = (%d, %d)", &rows, &D), 2);
    ck_assert_int_eq(rows, predicted + 1);
    char because[64];
    snprintf(because, sizeof because, "V = |V| + 1 = %d: the %ld tokens of |V|", rows, predicted);
    ck_assert_msg(strstr(r.out, because) && strstr(r.out, "and <s>, which fills the context"), "V = %d unexplained", rows);
    v = strstr(r.out, "  W1  (N D, H)   = (");
    ck_assert_int_eq(sscanf(v, "  W1  (N D, H)   = (%d, %d)", &ND, &H), 2);
    v = strstr(r.out, "  W2  (H, V)     = (");
    ck_assert_int_eq(sscanf(v, "  W2  (H, V)     = (%d, %d)", &H2, &V2), 2);
    ck_assert_int_eq(H2, H);
    ck_assert_int_eq(V2, rows);
    v = strstr(r.out, "  parameters: ");
    ck_assert_int_eq(sscanf(v, "  parameters: %d", &params), 1);
    ck_assert_int_eq(params, rows * D + ND * H + H + H * rows + rows);
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
    /* section 6: the class agreement of the nearest neighbours against chance chooses the Notice */
    p = strstr(r.out, "words the grammar gives a class");
    ck_assert_ptr_nonnull(p);
    double share, chance, margin;
    ck_assert_int_eq(sscanf(strchr(p, '\n'), " %lf%% have as nearest neighbour", &share), 1);
    p = strstr(p, "share it ");
    ck_assert_int_eq(sscanf(p, "share it %lf%% of the time (two standard errors: %lf points)", &chance, &margin), 2);
    char *note = flatten(strstr(p, "Notice: "));
    if (fabs(share - chance - margin) > 1.5) /* printed to whole points: closer than that cannot be checked */
        ck_assert_msg(strstr(note, share > chance + margin ? "words of one class end up with similar embeddings"
                                                           : "could not show"), "%g%% against %g%% + %g: %s", share,
                      chance, margin, note);
    free(note);
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
