/* Chapter 11 (the masked language model): its options, the corruption's proportions, its checkpoints. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <math.h>

#include "chapter_run.h"
#include "readback.h"
#include "tests.h"

static const char chapter[] = "ch11_masked_lm";

/* Bad arguments of this chapter only, and what the one-line message must contain. */
static const Bad bad[] = {
    {{"--mask-rate", "0"}, "--mask-rate: 0 is out of range"},
    {{"--mask-rate", "1"}, "--mask-rate: 1 is out of range"},
    {{"--heads", "5"}, "--heads: 5 does not divide --d-model 64"},
    {{"--steps", "0"}, "--steps: 0 is out of range; expected a whole number from 1"},
    {{"--pos", "rope"}, "--pos: 'rope' is not one of sin|learned"},
};

START_TEST(test_bad_arguments) {
    check_bad(chapter, &bad[_i]);
}
END_TEST

/* Every |V| printed is section 1's; the model's rows are |V| + 2, and the line says which two. */
static void check_ch11_vocabulary(const char *out) {
    const char *v = strstr(out, "|V| = ");
    ck_assert_ptr_nonnull(v);
    const long V = strtol(v + strlen("|V| = "), NULL, 10);
    for (const char *q = strstr(out, "|V|"); q; q = strstr(q + 1, "|V|")) {
        const char *num = q + strcspn(q, "0123456789\n");
        if (*num != '\n' && num - q < 16) ck_assert_msg(strtol(num, NULL, 10) == V, "|V| is %ld, then %.20s", V, q);
    }
    v = strstr(out, "[MASK] joins the vocabulary as id ");
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(strtol(v + strlen("[MASK] joins the vocabulary as id "), NULL, 10), V + 1);
    char rows[96];
    snprintf(rows, sizeof rows, "has %ld rows: the %ld tokens of |V|, [MASK], and <s>", V + 2, V);
    ck_assert_msg(strstr(out, rows) != NULL, "the rows of the model's tables are not explained");
}

/* Section 5's Notice is the one the last accuracies and the noise margin choose. */
static void check_ch11_section5(const char *out) {
    const char *p = strstr(out, "Always guessing the most frequent token");
    ck_assert_ptr_nonnull(p);
    const char *row = p;
    while (row > out && !(row[-1] == '\n' && row[0] == '\n')) row--; /* back to the blank line after the table */
    row--;
    while (row > out && row[-1] != '\n') row--; /* the table's last row */
    double step, mlm_loss, mlm, dae_loss, dae, margin;
    ck_assert_int_eq(sscanf(row, " %lf %lf %lf%% %lf %lf%%", &step, &mlm_loss, &mlm, &dae_loss, &dae), 5);
    p = strstr(p, "positions: at most ");
    ck_assert_ptr_nonnull(p);
    margin = strtod(p + strlen("positions: at most "), NULL);
    p = strstr(p, "Notice: ");
    ck_assert_ptr_nonnull(p);
    const char *want = mlm - dae > margin ? "where the answer is in the input"
                       : dae - mlm > margin ? "could not show the masked LM's" : "could not tell them apart";
    char *note = flatten(p);
    ck_assert_msg(fabs(fabs(mlm - dae) - margin) < 0.15 || strstr(note, want), "MLM %g%%, denoiser %g%%, margin %g: "
                  "expected '%s' in: %s", mlm, dae, margin, want, note);
    free(note);
}

/* Section 7: the Notice names a token of the largest weight in the row printed (ties at the
 * printed precision are either). */
static void check_ch11_section7(const char *out) {
    const char *p = strstr(out, "over the line's tokens:\n");
    ck_assert_ptr_nonnull(p);
    p += strlen("over the line's tokens:\n");
    char tokens[32][64];
    double weight[32], best_w = -1;
    int n_tok = 0, used, blank_at = -1;
    while (n_tok < 32 && *p != '\n' && sscanf(p, " %63s %lf%n", tokens[n_tok], &weight[n_tok], &used) == 2) {
        if (strcmp(tokens[n_tok], "_") == 0 && blank_at < 0) blank_at = n_tok; /* its own weight does not count */
        else best_w = fmax(best_w, weight[n_tok]);
        n_tok++, p += used;
    }
    char *note = flatten(strstr(p, "Notice: "));
    char named[64];
    double named_w;
    ck_assert_int_eq(sscanf(strstr(note, "largest weight, "), "largest weight, %lf, is on '%63[^']'", &named_w, named), 2);
    ck_assert_double_eq_tol(named_w, best_w, 1e-9);
    bool found = false;
    for (int j = 0; j < n_tok; j++) found |= j != blank_at && strcmp(tokens[j], named) == 0 && weight[j] == best_w;
    ck_assert_msg(found, "'%s' does not carry the largest weight %.2f in the row", named, best_w);
    free(note);
}

/* Chapter 11: the corruption's proportions over 409,600 positions (100 windows of 4096 training
 * tokens; the </s> tokens, about a sixth at the word level, are never chosen). Chosen has
 * probability 0.15: over n >= 300,000 positions its standard deviation is at most
 * sqrt(0.15 0.85 / 300000) = 0.065 percentage points, so 0.4 is six of them. Of the >= 45,000 chosen,
 * [MASK] (0.8) has sd 0.19 points, random and unchanged (0.1) 0.14: tolerances 1.2 and 0.9. The
 * generator is fixed, so the test is deterministic; the tolerances say it would pass for any seed
 * with overwhelming probability. Also: [MASK] is in the vocabulary and never a filled-in word. */
START_TEST(test_ch11_corruption_and_checks) {
    Run r = run_quick(chapter, NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    const char *p = strstr(r.out, "at the rate 0.15: chosen ");
    ck_assert_ptr_nonnull(p);
    double chosen, mask, rnd, same;
    ck_assert_int_eq(sscanf(p, "at the rate 0.15: chosen %lf%%; of the chosen, [MASK] %lf%%, random %lf%%,\n  unchanged %lf%%",
                            &chosen, &mask, &rnd, &same), 4);
    ck_assert_double_eq_tol(chosen, 15.0, 0.4);
    ck_assert_double_eq_tol(mask, 80.0, 1.2);
    ck_assert_double_eq_tol(rnd, 10.0, 0.9);
    ck_assert_double_eq_tol(same, 10.0, 0.9);
    p = strstr(r.out, "by hand: sum ");
    ck_assert_ptr_nonnull(p);
    p = strstr(p, "difference ");
    ck_assert_double_lt(strtod(p + strlen("difference "), NULL), 1e-5);
    check_ch11_vocabulary(r.out);
    check_ch11_section5(r.out);
    check_ch11_section7(r.out);
    p = strstr(r.out, "blank at position 0:");
    ck_assert_ptr_nonnull(p);
    const char *end = strchr(p, '\n');
    for (const char *q = p + strlen("blank at position 0:"); q < end; q++) ck_assert_msg(*q != '_', "[MASK] offered as a fill");
    run_free(&r);
}
END_TEST

/* A masked LM's checkpoint loads back into chapter 11 and is refused by chapter 10 (and the
 * other way round): one line, exit 1, never a crash. */
START_TEST(test_ch11_checkpoint_kinds) {
    char dir[] = "/tmp/llm-notebook-mlm-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char mlm[256], gpt[256];
    snprintf(mlm, sizeof mlm, "%s/mlm.ckpt", dir), snprintf(gpt, sizeof gpt, "%s/gpt.ckpt", dir);
    Run r = run_quick(chapter, (const char *[]){"--save", mlm, NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    run_free(&r);
    r = run(chapter, (const char *[]){"--load", mlm, "--lines", "1000", "--no-plot", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "the masked LM comes from the checkpoint"));
    run_free(&r);
    /* a size, level or architecture flag that the checkpoint contradicts: exit 2, naming the flag */
    static const char *const contradict[][3] = {{"--d-model", "32", "--d-model: 32, but the checkpoint"},
                                                {"--context", "32", "--context: 32, but the checkpoint"},
                                                {"--level", "char", "--level: char, but the checkpoint"},
                                                {"--pos", "sin", "--norm, --pos or --act differ"}};
    for (int i = 0; i < 4; i++) {
        r = run(chapter, (const char *[]){"--load", mlm, "--lines", "1000", "--no-plot", contradict[i][0],
                                          contradict[i][1], NULL});
        ck_assert_int_eq(r.status, 2);
        ck_assert_msg(strstr(r.err, contradict[i][2]) && count_lines(r.err) == 1, "%s %s: %s", contradict[i][0],
                      contradict[i][1], r.err);
        ck_assert_str_eq(r.out, "");
        run_free(&r);
    }
    r = run("ch10_gpt_pretraining", (const char *[]){"--load", mlm, "--generate", "5", NULL});
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "holds a bidirectional model"));
    run_free(&r);
    r = run_quick("ch10_gpt_pretraining", (const char *[]){"--steps", "2", "--save", gpt, NULL});
    ck_assert_int_eq(r.status, 0);
    run_free(&r);
    r = run(chapter, (const char *[]){"--load", gpt, "--lines", "1000", "--no-plot", NULL});
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "holds a causal (GPT) model"));
    run_free(&r);
    remove_dir(dir);
}
END_TEST

Suite *ch11_suite(void) {
    Suite *s = suite_create("ch11");
    TCase *tc = tcase_create("ch11");
    every_chapter_tests(tc, chapter);
    tcase_add_loop_test(tc, test_bad_arguments, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, test_ch11_corruption_and_checks);
    tcase_add_test(tc, test_ch11_checkpoint_kinds);
    suite_add_tcase(s, tc);
    return s;
}
