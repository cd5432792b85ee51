/* Chapter 13 (interpretability), run small: its six sections, the same bytes for the same flags,
 * its lens agreeing with its own accuracy, a chapter 10 checkpoint loaded, bad arguments and bad
 * checkpoints refused. Its default run (about 30 s of CPU time, mostly training) is left to
 * `make figures`; the hooks it stands on are tested in tests/test_probe.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapter_run.h"
#include "tests.h"

static const char chapter[] = "ch13_interpretability";

#define QUICK "--steps", "60", "--lines", "1500", "--sentences", "64", "--pairs", "8", "--d-model", "16", "--heads", "2", \
              "--context", "32", "--no-plot"

START_TEST(test_ch13_quick_run) {
    Run a = run(chapter, (const char *[]){QUICK, NULL}), b = run(chapter, (const char *[]){QUICK, NULL});
    Run c = run(chapter, (const char *[]){QUICK, "--seed", "7", NULL});
    ck_assert_msg(a.status == 0, "exit %d: %s", a.status, a.err);
    ck_assert_str_eq(a.err, "");
    ck_assert_str_eq(a.out, b.out); /* deterministic for a seed */
    ck_assert_int_eq(c.status, 0);
    ck_assert_str_ne(a.out, c.out);
    for (int s = 1; s <= 6; s++) {
        char head[16];
        snprintf(head, sizeof head, "\n%d. ", s);
        ck_assert_msg(strstr(a.out, head) != NULL, "section %d missing", s);
    }
    ck_assert_int_ge(count_lines(a.out), 100);
    const double acc = summary_value(a.out, "agreement_accuracy"), chance = summary_value(a.out, "chance");
    ck_assert(acc >= 0 && acc <= 1);
    ck_assert_double_eq_tol(chance, 0.25, 1e-12);
    /* the lens at the last site is the model's output: the same accuracy among the closers */
    ck_assert_double_eq_tol(summary_value(a.out, "lens_last_accuracy"), acc, 1e-12);
    /* the summary's numbers are the tables': the named head's zero-ablated accuracy in section 3's
     * row (printed to 0.1%), and every row of the strongest head printed in section 2 */
    const char *name = strstr(a.out, "\ncircuit_head: "), *sec3 = strstr(a.out, "\n3. ");
    ck_assert_ptr_nonnull(name);
    ck_assert_ptr_nonnull(sec3);
    char head[16], row[32];
    ck_assert_int_eq(sscanf(name, "\ncircuit_head: %15s", head), 1);
    snprintf(row, sizeof row, "\n  %s ", head);
    const char *line = strstr(sec3, row);
    double on_marker, zero_acc;
    ck_assert_ptr_nonnull(line);
    ck_assert_int_eq(sscanf(line, " %*s %lf %lf%%", &on_marker, &zero_acc), 2);
    ck_assert_double_eq_tol(zero_acc / 100, summary_value(a.out, "ablated_accuracy"), 0.0005 + 1e-9);
    ck_assert_ptr_nonnull(strstr(a.out, "every row of it on that sentence (query x key):\nA[L"));
    run_free(&a), run_free(&b), run_free(&c);
}
END_TEST

START_TEST(test_ch13_loads_chapter_10) {
    char dir[] = "/tmp/llm-notebook-ch13-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char ckpt[256], text[256];
    snprintf(ckpt, sizeof ckpt, "%s/gpt.ckpt", dir), snprintf(text, sizeof text, "%s/text.txt", dir);
    Run r = run_quick("ch10_gpt_pretraining", (const char *[]){"--save", ckpt, NULL});
    ck_assert_msg(r.status == 0, "chapter 10 exited %d: %s", r.status, r.err);
    run_free(&r);
    /* chapter 10's quick run used --lines 1000: the same corpus gives the same vocabulary */
    r = run(chapter, (const char *[]){"--load", ckpt, "--lines", "1000", "--sentences", "32", "--pairs", "4", "--no-plot", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "Loaded from"));
    ck_assert_ptr_nonnull(strstr(r.out, "\n6. "));
    run_free(&r);
    write_file(text, "zo ba ze.\n", 10);
    r = run(chapter, (const char *[]){"--load", text, "--no-plot", NULL});
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "wrong magic"));
    ck_assert_int_eq(count_lines(r.err), 1);
    run_free(&r);
    r = run(chapter, (const char *[]){"--load", "/nonexistent/gpt.ckpt", "--no-plot", NULL});
    ck_assert_int_eq(r.status, 1);
    ck_assert_int_eq(count_lines(r.err), 1);
    run_free(&r);
    remove_dir(dir);
}
END_TEST

static const Bad bad[] = {
    {{"--pairs", "0"}, "--pairs: 0 is out of range"},
    {{"--sentences", "8"}, "--sentences: 8 is out of range"},
    {{"--heads", "3"}, "--heads: 3 does not divide --d-model 64"},
    {{"--context", "8"}, "--context: 8; this chapter needs 16 to 256 characters"},
    {{"--steps", "-1"}, "--steps: -1 is out of range"},
    {{"--load", "x.ckpt", "--steps"}, "--steps: missing value"},
    {{"--corpus", "x.txt"}, "unknown option '--corpus'"},
};

START_TEST(test_ch13_bad_arguments) {
    check_bad(chapter, &bad[_i]);
}
END_TEST

/* Every training flag is refused with --load (the model is analysed as it is), before the file is read. */
START_TEST(test_ch13_load_refuses_training_flags) {
    static const char *const flags[][2] = {{"--steps", "10"}, {"--lr", "0.01"}, {"--warmup", "5"}, {"--lr-end", "0.5"},
                                           {"--weight-decay", "0"}, {"--clip", "2"}, {"--eval-every", "7"}};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        Run r = run(chapter, (const char *[]){"--load", "/nonexistent/gpt.ckpt", flags[i][0], flags[i][1], NULL});
        char want[64];
        snprintf(want, sizeof want, "%s: a loaded model is analysed as it is", flags[i][0]);
        ck_assert_msg(r.status == 2, "%s: exit %d", flags[i][0], r.status);
        ck_assert_msg(strstr(r.err, want) != NULL, "%s: %s", flags[i][0], r.err);
        ck_assert_int_eq(count_lines(r.err), 1);
        run_free(&r);
    }
}
END_TEST

START_TEST(test_ch13_help) {
    Run r = run(chapter, (const char *[]){"--help", NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "--load"));
    run_free(&r);
}
END_TEST

Suite *ch13_suite(void) {
    Suite *s = suite_create("ch13");
    TCase *tc = tcase_create("ch13");
    tcase_set_timeout(tc, 600); /* whole programs, far slower under a sanitizer */
    tcase_add_test(tc, test_ch13_quick_run);
    tcase_add_test(tc, test_ch13_loads_chapter_10);
    tcase_add_loop_test(tc, test_ch13_bad_arguments, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, test_ch13_load_refuses_training_flags);
    tcase_add_test(tc, test_ch13_help);
    suite_add_tcase(s, tc);
    return s;
}
