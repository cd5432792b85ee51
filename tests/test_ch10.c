/* Chapter 10 (GPT pre-training): its options; checkpoints resume bit for bit and bad ones are
 * refused; Ctrl-C saves; a kill during a save leaves the older checkpoint whole; and every line of
 * the notebook agrees with the numbers it summarises (vocabulary counts, samples written to </s>,
 * Notices chosen by the result, the schedule, AdamW and clipping, the chain rule, bits per
 * character, the §4.2 leak, attention on the marker, --eval per line); --new-text continues a
 * checkpoint on another text in its vocabulary; on Chinese text, the verse form is measured. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "chapter_run.h"
#include "checkpoint.h"
#include "readback.h"
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

/* Files a and c, 20 steps at once and 10 steps, saved, loaded, 10 more: the same parameters,
 * moments and sampler state. All 20 steps lie in the 100-step warm-up, where the rate does not
 * depend on the schedule's total. The stored schedules differ (20, and 10 extended: a resumed run
 * continues its stored schedule; tests/test_reliability.c shows a run stopped by Ctrl-C and
 * resumed ending in the same bits as one never stopped). */
static void check_resumed_equals_straight(const char *da, long la, const char *dc, long lc) {
    Checkpoint ka, kc;
    char e[256];
    ck_assert(checkpoint_parse(&ka, (const unsigned char *)da, (size_t)la, e, sizeof e));
    ck_assert(checkpoint_parse(&kc, (const unsigned char *)dc, (size_t)lc, e, sizeof e));
    const size_t bytes = sizeof(float) * ka.n_params;
    ck_assert_msg(ka.n_params == kc.n_params && memcmp(ka.params, kc.params, bytes) == 0 &&
                      memcmp(ka.adam_m, kc.adam_m, bytes) == 0 && memcmp(ka.adam_v, kc.adam_v, bytes) == 0 &&
                      ka.train.data_rng.state == kc.train.data_rng.state,
                  "resumed training differs from training straight through");
    ck_assert(ka.train.schedule.steps == 20 && kc.train.schedule.steps == 10);
    checkpoint_free(&ka), checkpoint_free(&kc);
}

/* The loaded model a generates (the same text twice) and evaluates the file `text`. */
static void check_loaded_model_runs(const char *a, const char *text) {
    Run g1 = run(chapter, (const char *[]){"--load", a, "--generate", "60", "--prompt", "zo", NULL});
    Run g2 = run(chapter, (const char *[]){"--load", a, "--generate", "60", "--prompt", "zo", NULL});
    ck_assert_msg(g1.status == 0, "exit %d: %s", g1.status, g1.err);
    ck_assert_int_gt((int)strlen(g1.out), 40);
    ck_assert_str_eq(g1.out, g2.out);
    run_free(&g1), run_free(&g2);
    /* with --corpus, the best n-gram of that text continues the same prompt after the GPT */
    const char twelve[] = "zo ba ze.\nxa o pel xe.\nzo ba ze.\nqi pel qe.\nzo ba ze.\nxa o pel xe.\n"
                          "zo ba ze.\nqi pel qe.\nzo ba ze.\nxa o pel xe.\nzo ba ze.\nqi pel qe.\n"; /* a split needs 10 */
    write_file(text, twelve, (long)strlen(twelve));
    g1 = run(chapter, (const char *[]){"--load", a, "--generate", "30", "--prompt", "zo", "--corpus", text, NULL});
    ck_assert_msg(g1.status == 0, "exit %d: %s", g1.status, g1.err);
    const char *ng = strstr(g1.out, "The best n-gram of");
    ck_assert_msg(ng && strstr(ng, "prompt, 30 tokens:\n\nzo"), "%s", g1.out);
    run_free(&g1);
    write_file(text, "zo ba ze.\nxa o pel xe.\n", 23);
    Run r = run(chapter, (const char *[]){"--load", a, "--eval", text, NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "2 lines, 23 tokens (0 not in the vocabulary), loss "));
    run_free(&r);
}

/* Bad checkpoints made from a's bytes da (la of them) and written to `bad`, and the text file
 * loaded as one: each refused with one line on stderr, exit 1. */
static void check_bad_checkpoints(const char *da, long la, const char *bad, const char *text) {
    Run r;
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
}

/* A checkpoint of another shape or vocabulary than the flags or the corpus: exit 2 for a flag,
 * 1 for a corpus. */
static void check_mismatched_flags(const char *a, const char *text) {
    Run r = run_quick(chapter, (const char *[]){"--steps", "20", "--load", a, "--d-model", "32", NULL});
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "--d-model: 32, but the checkpoint"));
    run_free(&r);
    r = run_quick(chapter, (const char *[]){"--steps", "20", "--load", a, "--level", "word", NULL});
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "--level: word, but the checkpoint"));
    run_free(&r);
    r = run_quick(chapter, (const char *[]){"--load", a, "--generate", "3", "--level", "word", NULL}); /* not ignored */
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "--level: word, but the checkpoint"));
    run_free(&r);
    r = run_quick(chapter, (const char *[]){"--steps", "20", "--load", a, "--lr-end", "0", NULL}); /* stored: a tenth */
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "--lr-end: 0, but the checkpoint"));
    run_free(&r);
    r = run_quick(chapter, (const char *[]){"--steps", "20", "--load", a, "--corpus", text, "--val-file", text, NULL});
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "another vocabulary"));
    run_free(&r);
}

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
    check_resumed_equals_straight(da, la, dc, lc);
    check_loaded_model_runs(a, text);
    check_bad_checkpoints(da, la, bad, text);
    check_mismatched_flags(a, text);
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

/* Whether dir holds a file whose name starts with prefix (a save's "FILE.tmp-XXXXXX"). */
static bool has_file_starting(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    bool found = false;
    for (struct dirent *e; d && !found && (e = readdir(d)) != NULL;) found = strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d) closedir(d);
    return found;
}

/* SIGKILL while chapter 10 writes its checkpoint over an older one (a 38 MB file, so the write takes
 * a while): the moment FILE.tmp-XXXXXX appears the process dies; the older checkpoint is still whole,
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
        seen = has_file_starting(dir, "big.ckpt.tmp-");
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
    if (has_file_starting(dir, "big.ckpt.tmp-")) { /* killed before the rename: the old file, untouched */
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

/* Chapter 10, section 2: the model's vocabulary is section 1's |V| plus <s>, and the untrained loss
 * is compared with ln of the model's vocabulary (what its softmax covers), each count saying why. */
START_TEST(test_ch10_vocabulary_counts) {
    Run r = run_quick(chapter, (const char *[]){"--steps", "1", "--sample", "0", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    const char *p = strstr(r.out, "= |V| = ");
    ck_assert_ptr_nonnull(p);
    const int V = atoi(p + strlen("= |V| = "));
    p = strstr(r.out, "\n  vocabulary ");
    ck_assert_ptr_nonnull(p);
    const int rows = atoi(p + strlen("\n  vocabulary "));
    ck_assert_int_eq(rows, V + 1);
    char want[96];
    snprintf(want, sizeof want, "(vocabulary %d = the |V| = %d of section 1 + <s>", rows, V);
    ck_assert_msg(strstr(r.out, want) != NULL, "no \"%s\"", want);
    snprintf(want, sizeof want, "(ln %d = ", rows);
    p = strstr(r.out, want);
    ck_assert_msg(p != NULL, "no \"%s\"", want);
    ck_assert_double_eq_tol(strtod(p + strlen(want), NULL), log(rows), 6e-5);
    p = strstr(r.out, "gives <s>, never the answer, a mean probability of ");
    ck_assert_ptr_nonnull(p);
    const double bos = strtod(p + strlen("gives <s>, never the answer, a mean probability of "), NULL);
    ck_assert(bos > 0 && bos < 1.0 / rows); /* trained one step: already below uniform */
    run_free(&r);
}
END_TEST

/* Chapter 10, section 6: a sample is written until </s> (the window slides past the context of 16
 * tokens), never cut at the context and counted as a failure. Every line shorter than the context
 * needs no mark; a longer one is marked [slid]; only lines that ended are judged. */
START_TEST(test_ch10_samples_slide) {
    Run r = run_quick(chapter, (const char *[]){"--sample", "12", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    const char *p = strstr(r.out, "slid].\n\n");
    ck_assert_ptr_nonnull(p);
    p += strlen("slid].\n\n");
    int lines = 0, ended = 0, slid = 0;
    while (strncmp(p, "    ", 4) == 0) {
        const char *eol = strchr(p, '\n');
        ck_assert_ptr_nonnull(eol);
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)(eol - p - 4), p + 4);
        const bool mark_slid = strstr(line, "   [slid]") != NULL, cut = strstr(line, "   [no </s>") != NULL;
        char *mark = strstr(line, "   [");
        if (mark) *mark = '\0';
        int chars = (int)strlen(line); /* the synthetic language is ASCII: one token per byte, but <unk> */
        for (const char *u = strstr(line, "<unk>"); u; u = strstr(u + 1, "<unk>")) chars -= 4;
        ck_assert_msg(mark_slid == (chars + 1 > 16), "line \"%s\" (%d characters) %s", line, chars,
                      mark_slid ? "marked [slid] though it fits" : "not marked [slid] though longer than the context");
        lines++, ended += !cut, slid += mark_slid && !cut;
        p = eol + 1;
    }
    ck_assert_int_eq(lines, 12);
    /* with these flags and seed some lines of the barely trained model outgrow the context: lines cut
     * at the context, as they once were, could not */
    ck_assert_int_gt(slid, 0);
    char want[64];
    snprintf(want, sizeof want, "\n  %d of 12 lines ended with </s>; of those, ", ended);
    ck_assert_msg(strstr(r.out, want) != NULL, "no \"%s\"", want);
    if (slid) {
        snprintf(want, sizeof want, "\n  %d of them grew longer than the context", slid);
        ck_assert_msg(strstr(r.out, want) != NULL, "no \"%s\"", want);
    }
    run_free(&r);
}
END_TEST

/* Chapter 10, section 4: the Notice follows the numbers. Training text "aaaaaaab" and validation text
 * "bbbbbbba": the more the model learns its training text the worse it does on validation, so the
 * validation loss rises while the training loss falls, and the Notice must say it over-fits; whether
 * it beat the n-gram must match the summary's two losses. */
START_TEST(test_ch10_notice_by_result) {
    char dir[] = "/tmp/llm-notebook-notice-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char tr[256], va[256], text[2000] = "";
    snprintf(tr, sizeof tr, "%s/train.txt", dir), snprintf(va, sizeof va, "%s/val.txt", dir);
    for (int i = 0; i < 200; i++) strcat(text, "aaaaaaab\n");
    write_file(tr, text, (long)strlen(text));
    write_file(va, "bbbbbbba\nbbbbbbba\nbbbbbbba\n", 27);
    Run r = run(chapter, (const char *[]){"--corpus", tr, "--val-file", va, "--steps", "60", "--eval-every", "20",
                                                          "--context", "16", "--d-model", "16", "--heads", "2", "--layers",
                                                          "1", "--sample", "0", "--no-plot", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "Notice: the GPT"));
    char *note = flatten(strstr(r.out, "Notice: the GPT"));
    ck_assert_msg(strstr(note, "the model over-fits") != NULL, "%s", note);
    const double gpt = summary_value(r.out, "validation_loss"), ngram = summary_value(r.out, "ngram_loss");
    ck_assert_msg((strstr(note, "Notice: the GPT could not beat") != NULL) == (gpt > 1.005 * ngram), "%g against %g", gpt, ngram);
    free(note);
    run_free(&r);
    /* the synthetic language: the Notice names the floor and the side of the n-gram the numbers say */
    r = run_quick(chapter, (const char *[]){"--sample", "0", NULL});
    ck_assert_int_eq(r.status, 0);
    const char *side = summary_value(r.out, "validation_loss") < summary_value(r.out, "ngram_loss") ? "below the best n-gram"
                                                                                                    : "above the best n-gram";
    ck_assert_ptr_nonnull(strstr(r.out, "Notice: the GPT is "));
    char *flat = flatten(strstr(r.out, "Notice: the GPT is "));
    ck_assert_msg(strstr(flat, side) != NULL, "no \"%s\" in \"%s\"", side, flat);
    free(flat);
    ck_assert_ptr_nonnull(strstr(r.out, "Notice: the GPT is "));
    run_free(&r);
    remove_dir(dir);
}
END_TEST

/* Chapter 10, sections 3 and 4: every learning rate printed is the formula's (recomputed here in
 * double, independently of common/optim.c), and the AdamW table's update by the equations is the
 * library's; clipping leaves the norm at min(norm, clip). */
START_TEST(test_ch10_schedule_and_adamw) {
    Run r = run_quick(chapter, (const char *[]){"--warmup", "5", "--sample", "0", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    const char *p = strstr(r.out, "    step t        s        lr(s)\n");
    ck_assert_ptr_nonnull(p);
    p = strchr(p, '\n') + 1;
    long t, s;
    double lr;
    int rows = 0;
    const double hi = 3e-3, lo = 3e-4, W = 5, S = 20, pi = 3.14159265358979323846;
    while (sscanf(p, " %ld %ld %lf", &t, &s, &lr) == 3) {
        ck_assert_int_eq(s, t - 1);
        const double want = s < W ? hi * (double)(s + 1) / W : lo + (hi - lo) * 0.5 * (1 + cos(pi * ((double)s - W) / (S - W)));
        ck_assert_double_eq_tol(lr, want, 5e-6 * want + 1e-7 * hi); /* printed to 6 digits; the rate is a float */
        rows++;
        p = strchr(p, '\n') + 1;
    }
    ck_assert_int_ge(rows, 5);
    /* clipping: the norm after is the norm before, capped at --clip 1 */
    for (int k = 1; k <= 2; k++) {
        char want[32];
        snprintf(want, sizeof want, "    step %d: ||g|| = ", k);
        p = strstr(r.out, want);
        ck_assert_ptr_nonnull(p);
        const double before = strtod(p + strlen(want), NULL);
        p = strstr(p, "after (recomputed): ");
        ck_assert_ptr_nonnull(p);
        ck_assert_double_eq_tol(strtod(p + strlen("after (recomputed): "), NULL), fmin(before, 1.0), 2e-4);
    }
    /* AdamW: m_1 = (1 - b1) g, and the equations give the library's parameter */
    double g1, g2, m1, eq1, eq2, code1, code2;
    p = strstr(r.out, "g (after clipping)");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(sscanf(p + strlen("g (after clipping)"), "%lf %lf", &g1, &g2), 2);
    p = strstr(r.out, "\n    m_t  "); /* the row, not the equation "m_t = ..." */
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(sscanf(p + strlen("\n    m_t  "), "%lf", &m1), 1);
    ck_assert_double_eq_tol(m1, 0.1 * g1, 1e-6 * fabs(g1));
    p = strstr(r.out, "p_t by the equations (double)");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(sscanf(p + strlen("p_t by the equations (double)"), "%lf %lf", &eq1, &eq2), 2);
    p = strstr(r.out, "p_t by AdamW's code (float)");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(sscanf(p + strlen("p_t by AdamW's code (float)"), "%lf %lf", &code1, &code2), 2);
    ck_assert_double_eq_tol(eq1, code1, 1e-6 * fabs(code1) + 1e-9); /* float rounding of one step */
    ck_assert_double_eq_tol(eq2, code2, 1e-6 * fabs(code2) + 1e-9);
    run_free(&r);
}
END_TEST

/* Chapter 10, section 7: the printed factors multiply to the printed probability of the line (up to
 * their 4-decimal rounding), which equals the line scored in one call; section 6 and the summary give
 * bits per character = nats per token x tokens / characters / ln 2 (at the char level, one token a
 * character, line ends included, so simply nats / ln 2). */
START_TEST(test_ch10_chain_rule_and_bits) {
    Run r = run_quick(chapter, (const char *[]){"--sample", "0", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    const char *p = strstr(r.out, "GPT P(w_i | w_<i)");
    ck_assert_ptr_nonnull(p);
    p = strchr(p, '\n') + 1;
    int i;
    double gpt, ng, sum = 0, slack = 0;
    int rows = 0;
    while (sscanf(p, " %d", &i) == 1) { /* "    i  'w'   P_gpt   P_ngram": the token may be a space */
        const char *eol = strchr(p, '\n');
        ck_assert_int_eq(sscanf(eol - 34, "%lf %lf", &gpt, &ng), 2);
        sum += log(gpt), slack += 5e-5 / gpt, rows++;
        p = eol + 1;
    }
    ck_assert_int_ge(rows, 9);
    double lp, again;
    ck_assert_int_eq(sscanf(p, " ln P(line) %lf", &lp), 1);
    ck_assert_double_eq_tol(sum, lp, slack + 1e-4);
    ck_assert_ptr_nonnull(strstr(r.out, "Notice: multiplying"));
    char *flat = flatten(strstr(r.out, "Notice: multiplying"));
    p = strstr(flat, "factors gives ln P = ");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(sscanf(p, "factors gives ln P = %*f (%lf computed again", &again), 1);
    ck_assert_double_eq_tol(again, lp, 1e-4);
    free(flat);
    const double loss = summary_value(r.out, "validation_loss"), bpc = summary_value(r.out, "validation_bits_per_char");
    ck_assert_double_eq_tol(bpc, loss / log(2.0), 1e-5 * bpc);
    run_free(&r);
    /* words: a token is several characters */
    r = run_quick(chapter, (const char *[]){"--level", "word", "--sample", "0", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    p = strstr(r.out, "line end included: ");
    ck_assert_ptr_nonnull(p);
    double chars, tokens;
    ck_assert_int_eq(sscanf(p, "line end included: %lf characters in %lf word tokens", &chars, &tokens), 2);
    ck_assert_double_gt(chars, 2 * tokens);
    ck_assert_double_eq_tol(summary_value(r.out, "validation_bits_per_char"),
                            summary_value(r.out, "validation_loss") * tokens / chars / log(2.0), 1e-5);
    run_free(&r);
}
END_TEST

/* Chapter 10, section 11: §4.2's mask trained for 300 steps on a small model (d_model 32, rate 0.01): the training loss falls
 * below the true floor, which no honest model can do, while predicting from the past is worse than
 * the causal model; the Notice says so (and says the opposite only when the numbers do). */
START_TEST(test_ch10_leak) {
    Run r = run_quick(chapter, (const char *[]){"--steps", "300", "--eval-every", "300", "--sample", "0", "--d-model", "32", "--lr", "0.01", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    const char *p = strstr(r.out, "training loss, mean of the last 50 steps");
    ck_assert_ptr_nonnull(p);
    const double last = strtod(p + strlen("training loss, mean of the last 50 steps"), NULL);
    p = strstr(r.out, "predicting from the past (as when generating)");
    ck_assert_ptr_nonnull(p);
    const double blind = strtod(p + strlen("predicting from the past (as when generating)"), NULL);
    const double floor = summary_value(r.out, "true_loss"), gpt = summary_value(r.out, "validation_loss");
    ck_assert_double_lt(last, 0.5 * floor);
    ck_assert_double_gt(blind, gpt);
    ck_assert_ptr_nonnull(strstr(r.out, "Notice: the training loss fell"));
    char *flat = flatten(strstr(r.out, "Notice: the training loss fell"));
    ck_assert_ptr_nonnull(strstr(flat, "the model reads the answer"));
    free(flat);
    run_free(&r);
}
END_TEST

/* Chapter 10, section 9 and --eval: the attention table has a row per block and head, and the Notice
 * follows the largest weight on the marker; --eval scores every line, with the closer column for
 * lines of the synthetic language only, and bits per character from the same numbers. */
START_TEST(test_ch10_attention_and_eval) {
    char dir[] = "/tmp/llm-notebook-eval-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char ck[256], text[256];
    snprintf(ck, sizeof ck, "%s/m.ckpt", dir), snprintf(text, sizeof text, "%s/t.txt", dir);
    Run r = run_quick(chapter, (const char *[]){"--sample", "0", "--layers", "2", "--save", ck, NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    const char *p = strstr(r.out, "most weight on position\n");
    ck_assert_ptr_nonnull(p);
    p += strlen("most weight on position\n");
    int l, h, rows = 0;
    double w, best = 0;
    while (sscanf(p, " %d %d %lf", &l, &h, &w) == 3) {
        best = fmax(best, w), rows++;
        p = strchr(p, '\n') + 1;
    }
    ck_assert_int_eq(rows, 2 * 2); /* 2 blocks x 2 heads */
    p = strstr(section_start(r.out, 9), "Notice: ");
    ck_assert_ptr_nonnull(p);
    char *flat = flatten(p);
    ck_assert_ptr_nonnull(strstr(flat, best >= 0.3 ? "of its attention on the marker" : "no head puts more than"));
    free(flat);
    run_free(&r);
    write_file(text, "zo ba ze.\nhello\nxa o pel qe.\nzo ba tak ti horo a brin ze.\n", 58);
    r = run(chapter, (const char *[]){"--load", ck, "--eval", text, NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    int line;
    long tokens;
    double nats, bpc;
    char pick[8], agrees[8];
    p = strstr(r.out, "  zo ba ze.\n");
    ck_assert_ptr_nonnull(p);
    while (p > r.out && p[-1] != '\n') p--;
    ck_assert_int_eq(sscanf(p, " %d %ld %lf %lf %7s %7s", &line, &tokens, &nats, &bpc, pick, agrees), 6);
    ck_assert_int_eq(line, 1);
    ck_assert_int_eq(tokens, 9);
    ck_assert_double_eq_tol(bpc, nats / log(2.0) / 10, 1e-4); /* 9 characters and the line end */
    ck_assert(strcmp(agrees, "yes") == 0 || strcmp(agrees, "no") == 0);
    ck_assert_int_eq((strcmp(agrees, "yes") == 0), pick[0] == 'z');
    p = strstr(r.out, "  hello\n");
    ck_assert_ptr_nonnull(p);
    while (p > r.out && p[-1] != '\n') p--;
    ck_assert_int_eq(sscanf(p, " %d %ld %lf %lf %7s", &line, &tokens, &nats, &bpc, pick), 5);
    ck_assert_str_eq(pick, "hello"); /* no closer column */
    ck_assert_ptr_nonnull(strstr(r.out, "4 lines, 58 tokens (0 not in the vocabulary), loss "));
    /* the last line (28 characters) is longer than the context of 16: its closer is judged blind */
    ck_assert_ptr_nonnull(strstr(r.out, "(1 of those lines are longer than the context of 16 tokens"));
    p = strstr(r.out, "the model prefers the one that agrees with the marker in ");
    ck_assert_ptr_nonnull(p);
    int agreed, judged;
    ck_assert_int_eq(sscanf(p, "the model prefers the one that agrees with the marker in %d of %d lines", &agreed, &judged), 2);
    ck_assert_int_eq(judged, 3);
    ck_assert(agreed >= 0 && agreed <= 3);
    run_free(&r);
    remove_dir(dir);
}
END_TEST

/* Chapter 10's figures, as files: the loss figure tells its two references apart (red dashes, black
 * dots) and has a zoomed panel with a y range around them; the learning-rate data are the schedule
 * (step 1: lr / W); --timing writes the median times. gnuplot need not be installed. */
START_TEST(test_ch10_figures) {
    char dir[] = "/tmp/llm-notebook-fig10-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    const char *args[48];
    int n = 0;
    const char *const *quick = quick_args(chapter);
    for (int i = 0; quick[i]; i++) args[n++] = quick[i];
    const char *extra[] = {"--warmup", "5", "--sample", "0", "--timing", "--figures", dir, NULL};
    for (int i = 0; extra[i]; i++) args[n++] = extra[i];
    args[n] = NULL;
    Run r = run(chapter, args);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    char *gp = figure_file(dir, chapter, "loss.gp");
    ck_assert_ptr_nonnull(strstr(gp, "dt 2 lw 2 lc rgb '#d62728'"));
    ck_assert_ptr_nonnull(strstr(gp, "dt 3 lw 3 lc rgb '#000000'"));
    ck_assert_ptr_nonnull(strstr(gp, "set yrange ["));
    free(gp);
    char *lr = figure_file(dir, chapter, "lr.dat");
    const char *p = lr;
    while (*p == '#') p = strchr(p, '\n') + 1;
    double t, rate, low;
    ck_assert_int_eq(sscanf(p, "%lf %lf %lf", &t, &rate, &low), 3);
    ck_assert_double_eq(t, 1);
    ck_assert_double_eq_tol(rate, 3e-3 / 5, 1e-9);
    ck_assert_double_eq_tol(low, 3e-4, 1e-9);
    free(lr);
    char *gt = figure_file(dir, chapter, "generation_time.gp");
    ck_assert_ptr_nonnull(strstr(gt, "median of 9"));
    free(gt);
    ck_assert_ptr_nonnull(strstr(r.out, "the median of 9 measurements"));
    run_free(&r);
    remove_dir(dir);
}
END_TEST

/* --new-text: --load on a corpus of another vocabulary is refused without it; with it the text is
 * encoded in the checkpoint's vocabulary (its unknown characters counted as <unk>, as many as the
 * test counts), the run starts from the checkpoint's weights (its first loss far below a fresh
 * model's), counts its own steps, and saves a checkpoint with the same vocabulary. A bad
 * combination is one line, exit 2. */
/* The two texts of test_ch10_new_text: the first, and a second with a character the first lacks
 * ('诗'), whose lines holding it are counted in *unk_train and *unk_val (every tenth line is
 * validation). */
static void write_two_texts(const char *first_text, const char *text, long *unk_train, long *unk_val) {
    char body[4000] = "";
    *unk_train = *unk_val = 0;
    for (int i = 0; i < 100; i++) strcat(body, i % 2 ? "xa o pel xe.\n" : "zo ba ze.\n");
    write_file(first_text, body, (long)strlen(body));
    body[0] = '\0';
    for (int i = 0; i < 60; i++) {
        const bool odd = i % 3 == 0;
        strcat(body, odd ? "zo ba ze. 诗\n" : "xa o pel xe.\n");
        if (odd) *(i % 10 == 9 ? unk_val : unk_train) += 1;
    }
    write_file(text, body, (long)strlen(body));
}

/* The checkpoint b, trained 10 steps on the new text from a's weights: a's vocabulary, and a
 * schedule of its own (10 steps, all done). */
static void check_new_text_checkpoint(const char *a, const char *b) {
    long la, lb;
    char *da = read_all(a, &la), *db = read_all(b, &lb), e[256];
    ck_assert(da && db);
    Checkpoint ka, kb;
    ck_assert(checkpoint_parse(&ka, (const unsigned char *)da, (size_t)la, e, sizeof e));
    ck_assert(checkpoint_parse(&kb, (const unsigned char *)db, (size_t)lb, e, sizeof e));
    ck_assert_int_eq(ka.vocab.size, kb.vocab.size);
    for (int i = 0; i < ka.vocab.size; i++) ck_assert_str_eq(ka.vocab.word[i], kb.vocab.word[i]);
    ck_assert_int_eq(kb.train.steps_done, 10);
    ck_assert_int_eq(kb.train.schedule.steps, 10);
    checkpoint_free(&ka), checkpoint_free(&kb);
    free(da), free(db);
}

/* --new-text without --load, or with --generate: one line, exit 2. */
static void check_new_text_refused(const char *a) {
    Run r;
    const char *const bad_runs[][6] = {{"--new-text", "--steps", "5", NULL},
                                      {"--new-text", "--load", a, "--generate", "5", NULL}};
    const char *const says[] = {"--new-text continues a trained model on another text: it needs --load", "--new-text trains on --corpus"};
    for (int i = 0; i < 2; i++) {
        r = run(chapter, bad_runs[i]);
        ck_assert_msg(r.status == 2, "case %d: exit %d", i, r.status);
        ck_assert_msg(strstr(r.err, says[i]) != NULL, "case %d: \"%s\"", i, r.err);
        ck_assert_int_eq(count_lines(r.err), 1);
        ck_assert_str_eq(r.out, "");
        run_free(&r);
    }
}

START_TEST(test_ch10_new_text) {
    char dir[] = "/tmp/llm-notebook-newtext-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char a[256], b[256], first_text[256], text[256];
    snprintf(a, sizeof a, "%s/a.ckpt", dir), snprintf(b, sizeof b, "%s/b.ckpt", dir);
    snprintf(first_text, sizeof first_text, "%s/first.txt", dir), snprintf(text, sizeof text, "%s/text.txt", dir);
    long unk_train, unk_val;
    write_two_texts(first_text, text, &unk_train, &unk_val);
    Run r = run_quick(chapter, (const char *[]){"--corpus", first_text, "--steps", "100", "--lr", "0.01", "--warmup", "5",
                                                "--sample", "0", "--save", a, NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    const char *p = strstr(r.out, "\n  vocabulary ");
    ck_assert_ptr_nonnull(p);
    const int rows = atoi(p + strlen("\n  vocabulary "));
    run_free(&r);
    const char *base[] = {"--load", a, "--corpus", text, "--steps", "10", "--eval-every", "5", "--batch", "4", "--sample", "0",
                          "--no-plot"};
    /* without --new-text: refused, and the message names the way */
    const char *args[24];
    int n = 0;
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++) args[n++] = base[i];
    args[n] = NULL;
    r = run(chapter, args);
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "another vocabulary"));
    ck_assert_ptr_nonnull(strstr(r.err, "--new-text"));
    ck_assert_int_eq(count_lines(r.err), 1);
    run_free(&r);
    /* with it */
    args[n++] = "--new-text", args[n++] = "--save", args[n++] = b, args[n] = NULL;
    r = run(chapter, args);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    char want[160];
    snprintf(want, sizeof want, "\n  vocabulary %d, ", rows);
    ck_assert_msg(strstr(r.out, want) != NULL, "no \"%s\"", want);
    ck_assert_ptr_nonnull(strstr(r.out, "the vocabulary is the checkpoint's"));
    snprintf(want, sizeof want, "tokens, %ld of them not in the vocabulary (<unk>)\n  validation:", unk_train);
    ck_assert_msg(strstr(r.out, want) != NULL, "no \"%s\"", want);
    snprintf(want, sizeof want, "tokens, %ld of them not in the vocabulary (<unk>)\n  vocabulary:", unk_val);
    ck_assert_msg(strstr(r.out, want) != NULL, "no \"%s\"", want);
    ck_assert_ptr_nonnull(strstr(r.out, "--new-text: a new run, from the weights of"));
    const char *key = "with the checkpoint's weights, before any step on this text: loss ";
    p = strstr(r.out, key);
    ck_assert_ptr_nonnull(p);
    const double first = strtod(p + strlen(key), NULL);
    ck_assert_msg(first < log(rows) - 0.5, "first loss %g: not the trained weights (ln %d = %g)", first, rows, log(rows));
    ck_assert_double_eq(summary_value(r.out, "steps"), 10);
    run_free(&r);
    check_new_text_checkpoint(a, b);
    check_new_text_refused(a);
    remove_dir(dir);
}
END_TEST

/* A value printed in the verse table: the number in column `col` (0: GPT) of the row `label`. */
static double verse_cell(const char *out, const char *label, int col) {
    const char *p = strstr(out, label);
    ck_assert_msg(p != NULL, "no row \"%s\"", label);
    p += strlen(label);
    double v = 0;
    for (int i = 0; i <= col; i++) v = strtod(p, (char **)&p), p += *p == '%';
    return v;
}

/* On Chinese text, section 10 measures the verse form: the validation column is what this test
 * counts in the validation lines (every 10th), the summary agrees with the table, and the n-gram
 * sampled is the best one, named as in section 6. On the synthetic language there is no such table. */
START_TEST(test_ch10_verse_form) {
    char dir[] = "/tmp/llm-notebook-verse-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256], body[20000] = "";
    snprintf(path, sizeof path, "%s/poems.txt", dir);
    static const char *const han[] = {"春", "山", "月", "花", "风", "水", "云", "夜", "人", "江", "雨", "归"};
    uint32_t x = 7;
    long verses = 0, regular = 0, chars = 0, unseen = 0;
    for (int i = 0; i < 80; i++) {
        const int len = i % 4 == 3 ? 4 : i % 4 == 1 ? 7 : 5; /* one line in four has verses of 4 */
        char line[256] = "";
        for (int v = 0; v < 2; v++) {
            for (int k = 0; k < len; k++) {
                x = x * 1103515245u + 12345u;
                strcat(line, i == 29 && k == 0 ? "龍" : han[(x >> 16) % 12]); /* 龍: only in validation */
            }
            strcat(line, v == 0 ? "，" : "。");
        }
        if (i % 10 == 9) verses += 2, regular += len != 4 ? 2 : 0, chars += 2 * len + 2, unseen += i == 29 ? 2 : 0;
        strcat(body, line), strcat(body, "\n");
    }
    write_file(path, body, (long)strlen(body));
    Run r = run_quick(chapter, (const char *[]){"--corpus", path, "--sample", "2", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "The form of the verse (the text is Chinese)"));
    ck_assert_double_eq_tol(verse_cell(r.out, "\n    verses ", 2), (double)verses, 1e-9);
    ck_assert_double_eq_tol(verse_cell(r.out, "\n    verses of 5 or 7 characters", 2), 100.0 * regular / verses, 0.051);
    ck_assert_double_eq_tol(verse_cell(r.out, "\n    characters ", 2), (double)chars, 1e-9);
    ck_assert_double_eq_tol(verse_cell(r.out, "never seen in the training text", 2), 100.0 * unseen / chars, 0.051);
    ck_assert_double_eq_tol(summary_value(r.out, "verses_5_or_7_validation"), (double)regular / verses, 1e-3);
    for (int col = 0; col < 2; col++) {
        const char *who = col == 0 ? "gpt" : "ngram";
        char key[64];
        snprintf(key, sizeof key, "verses_5_or_7_%s", who);
        ck_assert_double_eq_tol(100 * summary_value(r.out, key), verse_cell(r.out, "\n    verses of 5 or 7 characters", col), 0.051);
        snprintf(key, sizeof key, "unseen_chars_%s", who);
        ck_assert_double_eq_tol(100 * summary_value(r.out, key), verse_cell(r.out, "never seen in the training text", col), 0.051);
    }
    ck_assert_double_eq_tol(verse_cell(r.out, "validation loss (nats per character)", 0), summary_value(r.out, "validation_loss"), 1e-4);
    ck_assert_double_eq_tol(verse_cell(r.out, "validation loss (nats per character)", 1), summary_value(r.out, "ngram_loss"), 1e-4);
    /* the n-gram beside the samples is section 6's best, by name */
    const char *p = strstr(r.out, "best n-gram (n = ");
    ck_assert_ptr_nonnull(p);
    const int order = atoi(p + strlen("best n-gram (n = "));
    const bool mkn = strncmp(strchr(p, ',') + 2, "mkn)", 4) == 0;
    char want[160];
    snprintf(want, sizeof want, "best n-gram, the one that\n  predicts the validation text best: n = %d, %s.\n", order,
             mkn ? "modified Kneser-Ney" : "Kneser-Ney");
    ck_assert_msg(strstr(r.out, want) != NULL, "no \"%s\"", want);
    run_free(&r);
    r = run_quick(chapter, (const char *[]){"--sample", "0", NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_null(strstr(r.out, "The form of the verse"));
    ck_assert_ptr_null(strstr(r.out, "verses_5_or_7"));
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
    tcase_add_test(tc, test_ch10_vocabulary_counts);
    tcase_add_test(tc, test_ch10_samples_slide);
    tcase_add_test(tc, test_ch10_notice_by_result);
    tcase_add_test(tc, test_ch10_schedule_and_adamw);
    tcase_add_test(tc, test_ch10_chain_rule_and_bits);
    tcase_add_test(tc, test_ch10_leak);
    tcase_add_test(tc, test_ch10_attention_and_eval);
    tcase_add_test(tc, test_ch10_figures);
    tcase_add_test(tc, test_ch10_new_text);
    tcase_add_test(tc, test_ch10_verse_form);
    suite_add_tcase(s, tc);
    return s;
}
