/* Chapter 10 (GPT pre-training): its options; checkpoints resume bit for bit and bad ones are
 * refused; Ctrl-C saves; a kill during a save leaves the older checkpoint whole. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "chapter_run.h"
#include "tests.h"

static const char chapter[] = "ch10_gpt_pretraining";

/* Bad arguments of this chapter only, and what the one-line message must contain. */
static const Bad bad[] = {
    {{"--context", "1"}, "--context: 1 is out of range"},
    {{"--heads", "3"}, "--heads: 3 does not divide --d-model 64"},
    {{"--norm", "mid"}, "--norm: 'mid' is not one of post|pre"},
    {{"--eval", "x.txt"}, "--eval and --generate need --load FILE"},
    {{"--top-p", "0"}, "--top-p: 0 is out of range"},
    {{"--temperature", "-1"}, "--temperature: -1 is out of range"},
};

START_TEST(test_bad_arguments) {
    check_bad(chapter, &bad[_i]);
}
END_TEST

START_TEST(test_ch10_checkpoints) {
    char dir[] = "/tmp/llm-notebook-ckpt-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char a[256], b[256], c[256], bad[256], text[256];
    snprintf(a, sizeof a, "%s/a.ckpt", dir), snprintf(b, sizeof b, "%s/b.ckpt", dir);
    snprintf(c, sizeof c, "%s/c.ckpt", dir), snprintf(bad, sizeof bad, "%s/bad.ckpt", dir);
    snprintf(text, sizeof text, "%s/text.txt", dir);
    /* 20 steps at once, against 10 steps, save, load, 10 more */
    Run r = run_quick(chapter, (const char *[]){"--steps", "20", "--save", a, NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "at random initialisation: loss "));
    run_free(&r);
    r = run_quick(chapter, (const char *[]){"--steps", "10", "--save", b, NULL});
    ck_assert_int_eq(r.status, 0);
    run_free(&r);
    r = run_quick(chapter, (const char *[]){"--steps", "20", "--load", b, "--save", c, NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "loaded from"));
    run_free(&r);
    long la, lc;
    char *da = read_all(a, &la), *dc = read_all(c, &lc);
    ck_assert(da && dc);
    ck_assert_int_eq(la, lc);
    ck_assert_msg(memcmp(da, dc, (size_t)la) == 0, "resumed training differs from training straight through");
    /* the loaded model generates (the same text twice) and evaluates a file */
    Run g1 = run(chapter, (const char *[]){"--load", a, "--generate", "60", "--prompt", "zo", NULL});
    Run g2 = run(chapter, (const char *[]){"--load", a, "--generate", "60", "--prompt", "zo", NULL});
    ck_assert_msg(g1.status == 0, "exit %d: %s", g1.status, g1.err);
    ck_assert_int_gt((int)strlen(g1.out), 40);
    ck_assert_str_eq(g1.out, g2.out);
    run_free(&g1), run_free(&g2);
    write_file(text, "zo ba ze.\nxa o pel xe.\n", 23);
    r = run(chapter, (const char *[]){"--load", a, "--eval", text, NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "2 lines, 23 tokens (0 not in the vocabulary), loss "));
    run_free(&r);
    /* bad checkpoints: each one line on stderr, exit 1 */
    struct {
        long keep;      /* bytes kept (-1: all) */
        long flip;      /* byte to change (-1: none) */
        const char *message;
    } cases[] = {
        {la / 2, -1, "truncated checkpoint"},  /* the checksum check comes first for a cut file ... */
        {-1, la / 2, "checksum mismatch"},
        {-1, 0, "wrong magic"},
        {-1, 8, "checkpoint version"},
        {7, -1, "wrong magic"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *copy = malloc((size_t)la);
        memcpy(copy, da, (size_t)la);
        if (cases[i].flip >= 0) copy[cases[i].flip] ^= 0x5a;
        write_file(bad, copy, cases[i].keep >= 0 ? cases[i].keep : la);
        free(copy);
        r = run(chapter, (const char *[]){"--load", bad, "--generate", "5", NULL});
        ck_assert_msg(r.status == 1, "case %zu: exit %d", i, r.status);
        const bool ok = strstr(r.err, cases[i].message) != NULL || (i == 0 && strstr(r.err, "checksum mismatch"));
        ck_assert_msg(ok, "case %zu: \"%s\"", i, r.err);
        ck_assert_int_eq(count_lines(r.err), 1);
        run_free(&r);
    }
    r = run(chapter, (const char *[]){"--load", text, "--generate", "5", NULL});
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "wrong magic"));
    run_free(&r);
    /* a checkpoint of another shape or vocabulary than the flags or the corpus */
    r = run_quick(chapter, (const char *[]){"--steps", "20", "--load", a, "--d-model", "32", NULL});
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "--d-model: 32, but the checkpoint"));
    run_free(&r);
    r = run_quick(chapter, (const char *[]){"--steps", "20", "--load", a, "--level", "word", NULL});
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "--level: word, but the checkpoint"));
    run_free(&r);
    r = run_quick(chapter, (const char *[]){"--steps", "20", "--load", a, "--corpus", text, "--val-file", text, NULL});
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "another vocabulary"));
    run_free(&r);
    free(da), free(dc);
    remove_dir(dir);
}
END_TEST

/* Ctrl-C during chapter 10's training: the step finishes, the checkpoint is saved, the exit status
 * is 130, and the checkpoint resumes at the step the message names. */
START_TEST(test_ch10_interrupt_saves) {
    char dir[] = "/tmp/llm-notebook-int-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char ckpt[256], out[256], err[256];
    snprintf(ckpt, sizeof ckpt, "%s/run.ckpt", dir), snprintf(out, sizeof out, "%s/out", dir);
    snprintf(err, sizeof err, "%s/err", dir);
    const pid_t pid = spawn(chapter,
                            (const char *[]){"--steps", "1000000", "--eval-every", "100000", "--lines", "1000", "--layers",
                                             "1", "--d-model", "16", "--heads", "2", "--context", "16", "--no-plot",
                                             "--save", ckpt, NULL},
                            out, err);
    bool training = false; /* wait (up to 5 minutes, for slow sanitizer builds) for the training table */
    for (int i = 0; i < 3000 && !training; i++) {
        char *text = read_all(out, NULL);
        training = text && strstr(text, "train loss");
        free(text);
        if (!training) sleep_ms(100);
    }
    ck_assert_msg(training, "training never started");
    sleep_ms(300);
    kill(pid, SIGINT);
    int st = 0;
    waitpid(pid, &st, 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 130, "status %d", st);
    char *msg = read_all(err, NULL);
    const char *p = strstr(msg, "interrupted after step ");
    ck_assert_msg(p != NULL, "stderr: %s", msg);
    ck_assert_int_eq(count_lines(msg), 1);
    const long step = strtol(p + strlen("interrupted after step "), NULL, 10);
    ck_assert_int_gt(step, 0);
    free(msg);
    char steps[32];
    snprintf(steps, sizeof steps, "%ld", step);
    Run r = run("ch10_gpt_pretraining",
                (const char *[]){"--load", ckpt, "--steps", steps, "--lines", "1000", "--sample", "0", "--no-plot", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    char want[128];
    snprintf(want, sizeof want, "the checkpoint has done %ld of --steps %ld", step, step);
    ck_assert_msg(strstr(r.out, want) != NULL, "no \"%s\" in the output", want);
    run_free(&r);
    remove_dir(dir);
}
END_TEST

/* SIGKILL while chapter 10 writes its checkpoint over an older one (a 38 MB file, so the write takes
 * a while): the moment FILE.tmp appears the process dies; the older checkpoint is still whole,
 * byte for byte, and loads. */
START_TEST(test_ch10_kill_during_save) {
    char dir[] = "/tmp/llm-notebook-kill-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char ckpt[256], tmp[300], out[256], err[256];
    snprintf(ckpt, sizeof ckpt, "%s/big.ckpt", dir), snprintf(tmp, sizeof tmp, "%s.tmp", ckpt);
    snprintf(out, sizeof out, "%s/out", dir), snprintf(err, sizeof err, "%s/err", dir);
    const char *common[] = {"--sample", "0", "--lines", "200", "--eval-every", "1", "--no-plot", "--save", ckpt};
    const char *first[32] = {"--d-model", "256", "--layers", "4", "--heads", "4", "--context", "16", "--batch", "1",
                             "--steps", "1"};
    int n = 12;
    for (int i = 0; i < 9; i++) first[n++] = common[i];
    first[n] = NULL;
    Run r = run(chapter, first);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    run_free(&r);
    long len0;
    char *before = read_all(ckpt, &len0);
    ck_assert_int_gt(len0, 30000000);
    const char *again[32] = {"--load", ckpt, "--steps", "2"};
    n = 4;
    for (int i = 0; i < 9; i++) again[n++] = common[i];
    again[n] = NULL;
    const pid_t pid = spawn(chapter, again, out, err);
    bool seen = false;
    for (long i = 0; i < 3000000 && !seen; i++) { /* up to about 5 minutes */
        seen = access(tmp, F_OK) == 0;
        if (seen) kill(pid, SIGKILL);
        else if (waitpid(pid, NULL, WNOHANG) == pid) break; /* finished without our seeing the save */
        else nanosleep(&(struct timespec){0, 100000L}, NULL);
    }
    ck_assert_msg(seen, "never saw %s appear", tmp);
    int st = 0;
    waitpid(pid, &st, 0);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    long len1;
    char *after = read_all(ckpt, &len1);
    ck_assert_ptr_nonnull(after);
    if (access(tmp, F_OK) == 0) { /* killed before the rename: the old file, untouched */
        ck_assert_int_eq(len1, len0);
        ck_assert(memcmp(before, after, (size_t)len0) == 0);
    }
    free(before), free(after);
    r = run(chapter, (const char *[]){"--load", ckpt, "--generate", "5", NULL});
    ck_assert_msg(r.status == 0, "the checkpoint no longer loads: %s", r.err);
    run_free(&r);
    remove_dir(dir);
}
END_TEST

Suite *ch10_suite(void) {
    Suite *s = suite_create("ch10");
    TCase *tc = tcase_create("ch10");
    every_chapter_tests(tc, chapter);
    tcase_add_loop_test(tc, test_bad_arguments, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, test_ch10_checkpoints);
    tcase_add_test(tc, test_ch10_interrupt_saves);
    tcase_add_test(tc, test_ch10_kill_during_save);
    suite_add_tcase(s, tc);
    return s;
}
