/* Chapter 12 (fine-tuning): its options, the frozen body, wrong checkpoints, the file task, and its
 * output shown section by section as the run goes. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <sys/wait.h>

#include <math.h>

#include "chapter_run.h"
#include "readback.h"
#include "tests.h"

static const char chapter[] = "ch12_fine_tuning";

/* Bad arguments of this chapter only, and what the one-line message must contain. */
static const Bad bad[] = {
    {{"--seeds", "0"}, "--seeds: 0 is out of range; expected a whole number from 1 to 10"},
    {{"--seeds", "11"}, "--seeds: 11 is out of range"},
    {{"--ft-steps", "0"}, "--ft-steps: 0 is out of range"},
    {{"--corpus", "x.txt"}, "unknown option '--corpus'"},
    {{"--class-a", "x.txt"}, "--class-a needs --class-b too"},
    {{"--class-b", "x.txt"}, "--class-b needs --class-a too"},
};

START_TEST(test_bad_arguments) {
    check_bad(chapter, &bad[_i]);
}
END_TEST

/* Section 2: the pre-trained decoder's validation loss is not below section 1's floor (the
 * synthetic language only: real text has no known floor). */
static void check_ch12_floor(const char *out) {
    const char *p = strstr(out, "    decoder, every next token:");
    ck_assert_ptr_nonnull(p);
    const double decoder_loss = strtod(p + strlen("    decoder, every next token:"), NULL);
    if (!strstr(out, "This is the floor")) return;
    const char *f = strstr(out, "split that is ");
    const double floor1 = strtod(f + strlen("split that is "), NULL);
    f = strstr(out, "The true process (section 1's floor): ");
    ck_assert_ptr_nonnull(f);
    ck_assert_double_eq_tol(strtod(f + strlen("The true process (section 1's floor): "), NULL), floor1, 1e-4);
    ck_assert_msg(decoder_loss >= floor1 - 1e-3, "validation loss %g below the floor %g", decoder_loss, floor1);
}

/* Section 4, the table of model k (0 the decoder, 1 the encoder) found from p: the verdict under
 * it names the labels the pre-trained model needs to clear the bar and what scratch needs.
 * Returns where the table's rows end (the next table is looked for from there). */
static const char *check_ch12_labels(const char *p, double bar, int k) {
    p = strstr(p, "seeds: mean (min .. max)\n");
    ck_assert_ptr_nonnull(p);
    p = strchr(p, '\n') + 1;
    p = strchr(p, '\n') + 1; /* the column headings */
    int sizes[8], n = 0;
    double pre[8], scratch[8], lo, hi;
    while (n < 8 && sscanf(p, " %d %lf%% (%lf .. %lf) %lf%%", &sizes[n], &pre[n], &lo, &hi, &scratch[n]) == 5) {
        n++;
        p = strchr(p, '\n') + 1;
    }
    ck_assert_int_ge(n, 1);
    const char *end = strstr(p, "\n\n");
    char verdict[400];
    snprintf(verdict, sizeof verdict, "%.*s", (int)(end - p), p);
    int first = 0;
    bool close = false;
    for (; first < n && pre[first] <= bar; first++) close |= fabs(pre[first] - bar) < 0.1;
    if (first < n) close |= fabs(pre[first] - bar) < 0.1;
    if (close) return p;
    if (first == n) {
        ck_assert_msg(strstr(verdict, "no number of labels tried clears the bar"), "kind %d: %s", k, verdict);
        return p;
    }
    int s = 0;
    for (; s < n && scratch[s] < pre[first]; s++) close |= fabs(scratch[s] - pre[first]) < 0.1;
    if (s < n) close |= fabs(scratch[s] - pre[first]) < 0.1;
    if (close) return p;
    const char *want = s == n ? "labels stay below the" : sizes[s] > sizes[first] ? "labels reach the" : "already reach";
    ck_assert_msg(strstr(verdict, want), "kind %d: expected '%s' in: %s", k, want, verdict);
    char reached[64];
    snprintf(reached, sizeof reached, "%.1f%% that the pre-trained model", pre[first]);
    ck_assert_msg(strstr(verdict, reached), "kind %d: expected '%s' in: %s", k, reached, verdict);
    return p;
}

/* Section 5: frozen against everything trained, by section 4's noise margin, for both models. */
static void check_ch12_frozen(const char *out, double margin) {
    static const char *const said[3] = {"the frozen body does better", "could not tell the two apart",
                                        "training everything does better"};
    int v[2];
    const char *p = strstr(out, "Freezing the body");
    for (int k = 0; k < 2; k++) {
        p = strstr(p, "frozen body ");
        double frozen, full;
        ck_assert_int_eq(sscanf(p, "frozen body %lf%%, everything trained %lf%%", &frozen, &full), 2);
        p++;
        if (fabs(fabs(full - frozen) - margin) < 0.15) return; /* too close to the margin to check */
        v[k] = full - frozen > margin ? 2 : frozen - full > margin ? 0 : 1;
    }
    p = strstr(p, "Notice: ");
    ck_assert_ptr_nonnull(p);
    char *note = flatten(p);
    char want[200];
    if (v[0] == v[1]) snprintf(want, sizeof want, "for both models %s%s", v[0] == 1 ? "this run " : "", said[v[0]]);
    else snprintf(want, sizeof want, "for the decoder %s%s, for the encoder %s%s", v[0] == 1 ? "this run " : "", said[v[0]],
                  v[1] == 1 ? "this run " : "", said[v[1]]);
    ck_assert_msg(strstr(note, want), "expected '%s' in: %s", want, note);
    free(note);
}

/* Chapter 12's conclusions, recomputed from the numbers it printed (to their printed precision: a
 * number within 0.1 of what it is compared with is too close to check), so that every sentence
 * that states a result is the one its numbers choose:
 *   section 2: the pre-trained decoder's validation loss is not below the floor of section 1;
 *   section 4: the labels the pre-trained model needs to clear the bar, and what scratch needs;
 *   section 5: frozen against everything trained, by the noise margin of section 4. */
static void check_ch12_conclusions(const char *out) {
    check_ch12_floor(out);
    const char *p = strstr(out, "(at most\n  ");
    ck_assert_ptr_nonnull(p);
    const double margin = strtod(p + strlen("(at most\n  "), NULL);
    p = strstr(p, "the bar is ");
    const double bar = strtod(p + strlen("the bar is "), NULL);
    for (int k = 0; k < 2; k++) p = check_ch12_labels(p, bar, k);
    check_ch12_frozen(out, margin);
}

/* Chapter 12: the frozen body keeps every bit; the conclusions follow the numbers; checkpoints of
 * the wrong kind or vocabulary are refused with one line and exit 1. */
START_TEST(test_ch12_checks) {
    char dir[] = "/tmp/llm-notebook-ft-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char mlm[256], gpt[256];
    snprintf(mlm, sizeof mlm, "%s/mlm.ckpt", dir), snprintf(gpt, sizeof gpt, "%s/gpt.ckpt", dir);
    Run r = run_quick(chapter, NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    const char *p = strstr(r.out, "kept every bit: yes");
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(strstr(p + 1, "kept every bit: yes")); /* both models */
    ck_assert_ptr_null(strstr(r.out, "kept every bit: NO"));
    ck_assert_ptr_nonnull(strstr(r.out, "\nencoder_scratch: "));
    /* a swapped closer keeps the sentence's length: the length rule is near chance */
    p = strstr(r.out, "length): ");
    ck_assert_ptr_nonnull(p);
    const double by_length = strtod(p + 9, NULL);
    ck_assert_msg(by_length > 30 && by_length < 70, "length rule %g%%", by_length);
    check_ch12_conclusions(r.out);
    run_free(&r);
    /* a masked LM where a decoder is wanted; a character-level GPT where words are wanted */
    r = run_quick("ch11_masked_lm", (const char *[]){"--save", mlm, NULL});
    ck_assert_int_eq(r.status, 0);
    run_free(&r);
    r = run(chapter, (const char *[]){"--load-decoder", mlm, "--lines", "1000", "--no-plot", NULL});
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "holds a bidirectional (masked LM) model, but --load-decoder needs a causal one"));
    ck_assert_int_eq(count_lines(r.err), 1);
    run_free(&r);
    r = run_quick("ch10_gpt_pretraining", (const char *[]){"--steps", "2", "--save", gpt, NULL});
    ck_assert_int_eq(r.status, 0);
    run_free(&r);
    r = run(chapter, (const char *[]){"--load-decoder", gpt, "--lines", "1000", "--no-plot", NULL});
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "another vocabulary"));
    run_free(&r);
    remove_dir(dir);
}
END_TEST

/* Chapter 12's file task on two small files: the balanced examples, the length rule (here the
 * lengths alone tell the files apart), and the file errors. */
START_TEST(test_ch12_file_task) {
    char dir[] = "/tmp/llm-notebook-files12-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char a[256], b[256], few[256];
    snprintf(a, sizeof a, "%s/fish.txt", dir), snprintf(b, sizeof b, "%s/birds.txt", dir);
    snprintf(few, sizeof few, "%s/few.txt", dir);
    FILE *f = fopen(a, "w");
    for (int i = 0; i < 40; i++) fprintf(f, "red fish swims %d\n", i % 7); /* 4 words: 36 train, 4 validate */
    fclose(f);
    f = fopen(b, "w");
    for (int i = 0; i < 25; i++) fprintf(f, "blue bird sings high up %d\n", i % 5); /* 6 words: 23 train, 2 validate */
    fclose(f);
    f = fopen(few, "w");
    fputs("one line\ntwo lines\n", f);
    fclose(f);
    const char *const *quick = quick_args("ch12_fine_tuning");
    const char *args[40];
    int n = 0;
    for (int i = 0; quick[i]; i++)
        if (strcmp(quick[i], "--lines") == 0) i++; /* not with files */
        else args[n++] = quick[i];
    args[n++] = "--no-plot", args[n++] = "--class-a", args[n++] = a, args[n++] = "--class-b", args[n++] = b;
    args[n] = NULL;
    Run r = run(chapter, args);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "which file does the line come from?"));
    ck_assert_ptr_nonnull(strstr(r.out, "label 0 = fish.txt"));
    ck_assert_ptr_nonnull(strstr(r.out, "label 1 = birds.txt"));
    ck_assert_ptr_nonnull(strstr(r.out, "46 labelled training")); /* 23 of each, the smaller file's count */
    ck_assert_ptr_nonnull(strstr(r.out, "lines, 4 for validation"));
    ck_assert_ptr_nonnull(strstr(r.out, "length): 100.0% on validation"));
    ck_assert_ptr_nonnull(strstr(r.out, "\nlabels: 16 46\n"));
    ck_assert_ptr_null(strstr(r.out, "floor")); /* the true process is known for the synthetic language only */
    check_ch12_conclusions(r.out);
    run_free(&r);
    /* --lines belongs to the synthetic language */
    args[n++] = "--lines", args[n++] = "1000", args[n] = NULL;
    r = run(chapter, args);
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "--lines: applies to the synthetic language only"));
    run_free(&r);
    r = run(chapter, (const char *[]){"--class-a", a, "--class-b", few, NULL});
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "has 2 lines with text: the task needs at least 10"));
    ck_assert_int_eq(count_lines(r.err), 1);
    run_free(&r);
    r = run(chapter, (const char *[]){"--class-a", dir, "--class-b", b, NULL});
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "it is a directory"));
    run_free(&r);
    remove_dir(dir);
}
END_TEST

/* Chapter 12 flushes each section as it ends (issue 18: a long run on real text printed nothing
 * until the end): while pre-training runs for a very long time, sections 1's text and section 2's
 * heading are already in the output file. The process is killed, not left to finish. */
START_TEST(test_ch12_shows_progress) {
    char dir[] = "/tmp/llm-notebook-flush12-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char out[256], err[256];
    snprintf(out, sizeof out, "%s/out", dir), snprintf(err, sizeof err, "%s/err", dir);
    const pid_t pid = spawn(chapter, (const char *[]){"--pretrain-steps", "1000000", "--lines", "1000", "--no-plot", NULL},
                            out, err);
    bool shown = false; /* wait (up to 5 minutes, for slow sanitizer builds) for section 2's heading */
    for (int i = 0; i < 3000 && !shown; i++) {
        char *text = read_all(out, NULL);
        shown = text && strstr(text, "A rule that sees only the length") && strstr(text, "2. Pre-training");
        free(text);
        if (!shown) sleep_ms(100);
    }
    kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    ck_assert_msg(shown, "sections 1 and 2 never reached the output while pre-training ran");
    remove_dir(dir);
}
END_TEST

Suite *ch12_suite(void) {
    Suite *s = suite_create("ch12");
    TCase *tc = tcase_create("ch12");
    every_chapter_tests(tc, chapter);
    tcase_add_loop_test(tc, test_bad_arguments, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, test_ch12_checks);
    tcase_add_test(tc, test_ch12_file_task);
    tcase_add_test(tc, test_ch12_shows_progress);
    suite_add_tcase(s, tc);
    return s;
}
