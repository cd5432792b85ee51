/* Chapter 9 (the Transformer block): its options and the checks it prints. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapter_run.h"
#include "readback.h"
#include "tests.h"

static const char chapter[] = "ch09_transformer_block";

/* Bad arguments of this chapter only, and what the one-line message must contain. */
static const Bad bad[] = {
    {{"--heads", "3"}, "--heads: 3 does not divide --d-model 16"},
    {{"--target", "one"}, "--target: needs 2 to 64 words, got 1"},
    {{"--layers", "0"}, "--layers: 0 is out of range"},
    {{"--sentence", "a a"}, "--sentence: needs 2 or more distinct words"},
};

START_TEST(test_bad_arguments) {
    check_bad(chapter, &bad[_i]);
}
END_TEST

/* What the chapter prints as its checks must come out as checked. */
START_TEST(test_prints_its_checks) {
    check_prints(chapter, (const char *[]){"--no-plot", NULL},
                 (const char *[]){"every backward pass agrees", "5 of 5 (causal)", "formula 6672, allocated 6672", NULL});
    check_prints(chapter, (const char *[]){"--no-plot", "--heads", "4", "--target", "x y z w", NULL},
                 (const char *[]){"every backward pass agrees", "(4, 16)", NULL});
}
END_TEST

/* ch09's toy vocabularies hold each word once: section 8's V is the number of distinct words of the
 * source (ln V printed next to the loss), section 9's columns are the distinct words of source and
 * target, none twice. */
START_TEST(test_ch09_vocabularies) {
    Run r = run("ch09_transformer_block", (const char *[]){"--no-plot", "--sentence", "the cat sat on the mat",
                                                          "--target", "a cat sat", NULL});
    ck_assert_int_eq(r.status, 0);
    const char *lnv = strstr(section_start(r.out, 8), "(ln V = ");
    ck_assert_ptr_nonnull(lnv);
    ck_assert_double_eq_tol(strtod(lnv + 8, NULL), log(5.0), 1e-4); /* the cat sat on mat */
    const char *m = strstr(section_start(r.out, 9), "(3 x ");
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(atoi(m + 5), 6); /* the cat sat on mat a */
    const char *head = strchr(m, '\n') + 1;
    char cols[8][16];
    int n = sscanf(head, " %15s %15s %15s %15s %15s %15s %15s", cols[0], cols[1], cols[2], cols[3], cols[4], cols[5],
                   cols[6]);
    ck_assert_int_eq(n, 7); /* six columns, then the first row's label */
    const char *want[] = {"the", "cat", "sat", "on", "mat", "a"};
    for (int i = 0; i < 6; i++) ck_assert_str_eq(cols[i], want[i]);
    run_free(&r);
}
END_TEST

/* ch09 sections 2 and 3: each residual sum is what the two rows above it add up to (means add
 * exactly; the printed values are rounded to 0.01 each, so 0.015 covers three roundings). */
START_TEST(test_ch09_journeys) {
    Run r = run("ch09_transformer_block", (const char *[]){"--no-plot", NULL});
    ck_assert_int_eq(r.status, 0);
    const char *post = section_start(r.out, 2), *pre = section_start(r.out, 3);
    double x[8], att[8], sum[8], ffn[8], out[8]; /* means */
    int T = numbers_after(pre, "x: embeddings + positions", "mean", x, 8);
    ck_assert_int_eq(T, 6);
    ck_assert_int_eq(numbers_after(pre, "self-attention(LN1(x))", "mean", att, 8), T);
    ck_assert_int_eq(numbers_after(pre, "x + attention (the residual stream)", "mean", sum, 8), T);
    ck_assert_int_eq(numbers_after(pre, "feed-forward", "mean", ffn, 8), T);
    ck_assert_int_eq(numbers_after(pre, ". + FFN = block output", "mean", out, 8), T);
    for (int t = 0; t < T; t++) {
        ck_assert_double_eq_tol(sum[t], x[t] + att[t], 0.015);
        ck_assert_double_eq_tol(out[t], sum[t] + ffn[t], 0.015);
    }
    double sx[8], ss1[8], sln[8], ss2[8]; /* standard deviations */
    numbers_after(post, "x: embeddings + positions", "std ", sx, 8);
    numbers_after(post, "x + attention (the residual)", "std ", ss1, 8);
    numbers_after(post, "LN1(x + attention)", "std ", sln, 8);
    numbers_after(post, ". + FFN (the residual)", "std ", ss2, 8);
    int w1 = 0, w2 = 0;
    for (int t = 0; t < T; t++) w1 += ss1[t] > sx[t], w2 += ss2[t] > sln[t];
    char note[128];
    snprintf(note, sizeof note, "wider than x at %d of %d positions; . + FFN wider than its input at %d of %d", w1, T,
             w2, T);
    char *flat = flatten(strstr(post, "Notice:"));
    ck_assert_msg(strstr(flat, note) != NULL, "ch09 section 2's notice does not say \"%s\"", note);
    free(flat);
    run_free(&r);
}
END_TEST

Suite *ch09_suite(void) {
    Suite *s = suite_create("ch09");
    TCase *tc = tcase_create("ch09");
    every_chapter_tests(tc, chapter);
    tcase_add_loop_test(tc, test_bad_arguments, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, test_prints_its_checks);
    tcase_add_test(tc, test_ch09_vocabularies);
    tcase_add_test(tc, test_ch09_journeys);
    suite_add_tcase(s, tc);
    return s;
}
