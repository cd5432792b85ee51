/* Chapter 3 (self-attention): the attention chapters' options, its own sizes, its conclusions. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapter_run.h"
#include "readback.h"
#include "tests.h"

static const char chapter[] = "ch03_self_attention";

/* Bad arguments of the attention chapters (3 and 4, which share their options). */
const Bad bad_attention[] = {
    {{"--tokens", "5x"}, "--tokens: '5x' is not a whole number"},
    {{"--tokens", "-1"}, "--tokens: -1 is out of range; expected a whole number from 2 to 64"},
    {{"--tokens", "100000000"}, "--tokens: 100000000 is out of range"},
    {{"--tokens"}, "--tokens: missing value"},
    {{"--tokens", "40"}, "--tokens: 40 is more than the 17 words of the sentence"},
    {{"--d-k", "0"}, "--d-k: 0 is out of range; expected a whole number from 1 to 1024"},
    {{"--d-model", "1e3"}, "--d-model: '1e3' is not a whole number"},
    {{"--sentence", "alone"}, "--sentence: needs at least 2 words, got 1"},
    {{"--sentence", "bad \xff\xfe bytes"}, "--sentence: not valid UTF-8 at byte 4"},
};
const int n_bad_attention = sizeof bad_attention / sizeof bad_attention[0];

START_TEST(test_bad_arguments) {
    check_bad(chapter, &bad_attention[_i]);
}
END_TEST

/* The chapters' own sizes: --trials and --keys of ch03. */
START_TEST(test_ch03_experiment_flags) {
    Run r = run("ch03_self_attention", (const char *[]){"--trials", "0", NULL});
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "--trials: 0 is out of range; expected a whole number from 1 to 100000"));
    run_free(&r);
    r = run("ch03_self_attention", (const char *[]){"--keys", "1", NULL});
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "--keys: 1 is out of range"));
    run_free(&r);
}
END_TEST

/* What the chapters conclude, computed at run time, must come out as the text says. */
START_TEST(test_ch03_conclusions) {
    Run r = run("ch03_self_attention", (const char *[]){"--no-plot", NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "rows 0 and 4 are both 'the' and are identical (same bits)"));
    ck_assert_ptr_nonnull(strstr(r.out, "Every row sums to 1"));
    ck_assert_ptr_null(strstr(r.out, "nan"));
    run_free(&r);
    r = run("ch03_self_attention", (const char *[]){"--no-plot", "--sentence", "一 只 猫 坐 在 垫子 上", NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "(T = 7 words)"));
    run_free(&r);
}
END_TEST

/* ch03 section 10: the traced steps and work are those of the formulas, worked by hand: the
 * recurrence takes X W_x (T d^2 multiply-adds) then T steps, each (1, d) x (d, d) after the first;
 * attention takes Q, K, V (3 T d^2), S and Z (T^2 d each) in 4 steps at any T. */
START_TEST(test_ch03_recurrence) {
    Run r = run("ch03_self_attention", (const char *[]){"--no-plot", NULL});
    ck_assert_int_eq(r.status, 0);
    const char *sec = section_start(r.out, 10);
    const char *row = strstr(sec, "attn / rnn\n");
    ck_assert_msg(row != NULL, "ch03 has no recurrence table");
    row += 11;
    const double d = 64;
    int rows = 0;
    for (; *row == ' '; row = strchr(row, '\n') + 1, rows++) {
        double T, rs, rw, as, aw, ratio;
        ck_assert_int_eq(sscanf(row, "%lf %lf %lf %lf %lf %lf", &T, &rs, &rw, &as, &aw, &ratio), 6);
        const double rnn = T * d * d + (T - 1) * d * d, att = 3 * T * d * d + 2 * T * T * d;
        ck_assert_double_eq(rs, T + 1);
        ck_assert_double_eq(as, 4);
        ck_assert_double_eq_tol(rw / (rnn / (T + 1)), 1, 0.01); /* printed to 3 figures */
        ck_assert_double_eq_tol(aw / (att / 4), 1, 0.01);
        ck_assert_double_eq_tol(ratio, att / rnn, 0.006);
    }
    ck_assert_int_eq(rows, 4);
    char *note = flatten(strstr(sec, "Notice:"));
    ck_assert_msg(strstr(note, "the recurrence needs 257 steps at T = 256") && strstr(note, "product of 4096 multiply-adds") &&
                      strstr(note, "needs 64 times fewer steps"),
                  "ch03 section 10's notice: %s", note);
    free(note);
    run_free(&r);
}
END_TEST

Suite *ch03_suite(void) {
    Suite *s = suite_create("ch03");
    TCase *tc = tcase_create("ch03");
    every_chapter_tests(tc, chapter);
    tcase_add_loop_test(tc, test_bad_arguments, 0, n_bad_attention);
    tcase_add_test(tc, test_ch03_experiment_flags);
    tcase_add_test(tc, test_ch03_conclusions);
    tcase_add_test(tc, test_ch03_recurrence);
    suite_add_tcase(s, tc);
    return s;
}
