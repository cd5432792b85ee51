/* Every chapter binary, run as a reader would: with its defaults (exit 0), twice with the same flags
 * (the same bytes), with bad arguments (exit 2, one line on stderr naming the problem), and with
 * checks of the conclusions it prints. Run from the repository root, where `make` puts the binaries. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests.h"

static const char *const chapters[] = {"ch01_ngram",
                                       "ch02_neural_lm",
                                       "ch03_self_attention",
                                       "ch04_masked_attention",
                                       "ch05_multi_head_attention",
                                       "ch06_positional_encoding",
                                       "ch07_layer_norm",
                                       "ch08_feed_forward_residual",
                                       "ch09_transformer_block",
                                       "ch10_gpt_pretraining",
                                       "ch11_masked_lm",
                                       "ch12_fine_tuning"};
enum { N_CHAPTERS = sizeof chapters / sizeof chapters[0] };

typedef struct {
    int status; /* exit status, or 128 + signal */
    char *out, *err;
} Run;

static char *slurp(FILE *f) {
    fflush(f);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

/* Run ./<program> with the given arguments (NULL-terminated), capturing both outputs. */
static Run run(const char *program, const char *const *args) {
    char path[512];
    const char *dir = getenv("NOTEBOOK_BINDIR"); /* where make put the binaries ("." normally) */
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : ".", program);
    ck_assert_msg(access(path, X_OK) == 0, "%s is not built (run the tests through make test)", path);
    const char *argv[64] = {path};
    int argc = 1;
    for (; args && args[argc - 1] && argc < 63; argc++) argv[argc] = args[argc - 1];
    argv[argc] = NULL;
    FILE *out = tmpfile(), *err = tmpfile();
    ck_assert(out && err);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fileno(out), STDOUT_FILENO);
        dup2(fileno(err), STDERR_FILENO);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    fseek(out, 0, SEEK_END);
    fseek(err, 0, SEEK_END);
    Run r = {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), slurp(out), slurp(err)};
    return r;
}

static void run_free(Run *r) {
    free(r->out);
    free(r->err);
}

/* Remove a test's temporary folder and everything in it (made readable first). */
static void remove_dir(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s' && rm -rf '%s'", dir, dir);
    ck_assert_int_eq(system(cmd), 0);
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* The paragraph that starts at p (up to a blank line), its lines joined with one space. */
static void unwrap_paragraph(const char *p, char *out, size_t cap) {
    size_t n = 0;
    for (const char *q = p; *q && !(q[0] == '\n' && q[1] == '\n') && n + 1 < cap; q++)
        if (*q == '\n') {
            out[n++] = ' ';
            while (q[1] == ' ') q++;
        } else out[n++] = *q;
    out[n] = 0;
}

START_TEST(test_defaults_run) {
    Run r = run(chapters[_i], NULL);
    ck_assert_msg(r.status == 0, "%s exited %d: %s", chapters[_i], r.status, r.err);
    ck_assert_msg(r.err[0] == '\0', "%s wrote to stderr: %s", chapters[_i], r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "1. "));
    ck_assert_int_gt(count_lines(r.out), 50);
    run_free(&r);
}
END_TEST

/* Flags that keep the training chapters short where the test does not need their defaults. */
static const char *const *quick_args(const char *chapter) {
    static const char *const ch02[] = {"--steps", "100", "--eval-every", "50", "--lines", "2000", NULL};
    static const char *const ch10[] = {"--steps", "20", "--eval-every", "10", "--sample", "2", "--lines", "1000",
                                       "--layers", "1", "--d-model", "16", "--heads", "2", "--context", "16", NULL};
    if (strcmp(chapter, "ch02_neural_lm") == 0) return ch02;
    static const char *const ch11[] = {"--steps", "20", "--eval-every", "10", "--lines", "1000", "--layers", "1",
                                       "--d-model", "16", "--heads", "2", "--context", "16", NULL};
    if (strcmp(chapter, "ch10_gpt_pretraining") == 0) return ch10;
    static const char *const ch12[] = {"--pretrain-steps", "20", "--ft-steps", "5", "--seeds", "1", "--lines", "1000", NULL};
    if (strcmp(chapter, "ch11_masked_lm") == 0) return ch11;
    if (strcmp(chapter, "ch12_fine_tuning") == 0) return ch12;
    return NULL;
}

START_TEST(test_same_flags_same_bytes) {
    const char *args[32] = {"--no-plot", "--seed", "7"}, *other[32] = {"--no-plot"};
    int n = 3, k = 1;
    const char *const *quick = quick_args(chapters[_i]);
    for (int i = 0; quick && quick[i]; i++) args[n++] = quick[i], other[k++] = quick[i];
    args[n] = NULL, other[k] = NULL;
    Run a = run(chapters[_i], args), b = run(chapters[_i], args), c = run(chapters[_i], other);
    ck_assert_msg(a.status == 0, "%s exited %d: %s", chapters[_i], a.status, a.err);
    ck_assert_msg(strcmp(a.out, b.out) == 0, "%s: two runs with the same flags differ", chapters[_i]);
    ck_assert_msg(strcmp(a.out, c.out) != 0, "%s: another seed printed the same bytes", chapters[_i]);
    run_free(&a), run_free(&b), run_free(&c);
}
END_TEST

START_TEST(test_help) {
    Run r = run(chapters[_i], (const char *[]){"--help", NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "usage: ./"));
    ck_assert_ptr_nonnull(strstr(r.out, "--seed"));
    ck_assert_str_eq(r.err, "");
    run_free(&r);
}
END_TEST

/* Bad arguments, and what the one-line message must contain: first those every chapter shares,
 * then the attention chapters' (ch03, ch04), then chapter 1's. */
typedef struct {
    const char *args[3];
    const char *message;
} Bad;

static const Bad bad_common[] = {
    {{"--frobnicate"}, "unknown option '--frobnicate'"},
    {{"--seed", "abc"}, "--seed: 'abc' is not a whole number"},
    {{"--seed", "-1"}, "--seed: -1 is out of range"},
    {{"--precision", "12"}, "--precision: 12 is out of range"},
    {{"--no-plot=yes"}, "--no-plot takes no value"},
    {{"--figures"}, "--figures: missing value"},
    {{"extra"}, "unexpected argument 'extra'"},
};
static const Bad bad_attention[] = {
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
static const Bad bad_ngram[] = {
    {{"--order", "0"}, "--order: 0 is out of range; expected a whole number from 1 to 6"},
    {{"--order", "7"}, "--order: 7 is out of range"},
    {{"--smoothing", "witten-bell"}, "--smoothing: 'witten-bell' is not one of mle|addk|kn|mkn"},
    {{"--level", "byte"}, "--level: 'byte' is not one of char|word"},
    {{"--k", "0"}, "--k: 0 is out of range"},
    {{"--k", "nan"}, "--k: 'nan' is not a number"},
    {{"--lines", "5"}, "--lines: 5 is out of range"},
    {{"--sample", "-2"}, "--sample: -2 is out of range"},
};
/* Chapter-specific ones, with the chapter they are for. */
static const struct {
    const char *chapter;
    Bad bad;
} bad_specific[] = {
    {"ch05_multi_head_attention", {{"--heads", "3"}, "--heads: 3 does not divide --d-model 8"}},
    {"ch05_multi_head_attention", {{"--heads", "0"}, "--heads: 0 is out of range; expected a whole number from 1 to 16"}},
    {"ch05_multi_head_attention", {{"--d-k", "4"}, "unknown option '--d-k'"}},
    {"ch05_multi_head_attention", {{"--causal=1"}, "--causal takes no value"}},
    {"ch06_positional_encoding", {{"--positions", "1"}, "--positions: 1 is out of range"}},
    {"ch06_positional_encoding", {{"--positions", "3"}, "--positions: 3 is fewer than the 6 words of the sentence"}},
    {"ch06_positional_encoding", {{"--max-len", "0"}, "--max-len: 0 is out of range"}},
    {"ch07_layer_norm", {{"--eps", "0"}, "--eps: 0 is out of range; expected a number from 1e-12 to 1"}},
    {"ch07_layer_norm", {{"--rows", "1"}, "--rows: 1 is out of range"}},
    {"ch07_layer_norm", {{"--features", "x"}, "--features: 'x' is not a whole number"}},
    {"ch08_feed_forward_residual", {{"--layers", "1"}, "--layers: 1 is out of range"}},
    {"ch08_feed_forward_residual", {{"--d-ff", "0"}, "--d-ff: 0 is out of range"}},
    {"ch08_feed_forward_residual", {{"--tokens", "99999"}, "--tokens: 99999 is out of range"}},
    {"ch02_neural_lm", {{"--context", "9"}, "--context: 9 is out of range; expected a whole number from 1 to 8"}},
    {"ch02_neural_lm", {{"--lr", "0"}, "--lr: 0 is out of range"}},
    {"ch02_neural_lm", {{"--act", "sigmoid"}, "--act: 'sigmoid' is not one of tanh|relu"}},
    {"ch02_neural_lm", {{"--batch", "5000"}, "--batch: 5000 is out of range"}},
    {"ch10_gpt_pretraining", {{"--context", "1"}, "--context: 1 is out of range"}},
    {"ch10_gpt_pretraining", {{"--heads", "3"}, "--heads: 3 does not divide --d-model 64"}},
    {"ch10_gpt_pretraining", {{"--norm", "mid"}, "--norm: 'mid' is not one of post|pre"}},
    {"ch10_gpt_pretraining", {{"--eval", "x.txt"}, "--eval and --generate need --load FILE"}},
    {"ch10_gpt_pretraining", {{"--top-p", "0"}, "--top-p: 0 is out of range"}},
    {"ch10_gpt_pretraining", {{"--temperature", "-1"}, "--temperature: -1 is out of range"}},
    {"ch11_masked_lm", {{"--mask-rate", "0"}, "--mask-rate: 0 is out of range"}},
    {"ch11_masked_lm", {{"--mask-rate", "1"}, "--mask-rate: 1 is out of range"}},
    {"ch11_masked_lm", {{"--heads", "5"}, "--heads: 5 does not divide --d-model 64"}},
    {"ch12_fine_tuning", {{"--seeds", "0"}, "--seeds: 0 is out of range; expected a whole number from 1 to 10"}},
    {"ch12_fine_tuning", {{"--seeds", "11"}, "--seeds: 11 is out of range"}},
    {"ch12_fine_tuning", {{"--ft-steps", "0"}, "--ft-steps: 0 is out of range"}},
    {"ch12_fine_tuning", {{"--corpus", "x.txt"}, "unknown option '--corpus'"}},
    {"ch12_fine_tuning", {{"--class-a", "x.txt"}, "--class-a needs --class-b too"}},
    {"ch12_fine_tuning", {{"--class-b", "x.txt"}, "--class-b needs --class-a too"}},
    {"ch09_transformer_block", {{"--heads", "3"}, "--heads: 3 does not divide --d-model 16"}},
    {"ch09_transformer_block", {{"--target", "one"}, "--target: needs 2 to 64 words, got 1"}},
    {"ch09_transformer_block", {{"--layers", "0"}, "--layers: 0 is out of range"}},
};
enum { N_COMMON_BAD = sizeof bad_common / sizeof bad_common[0] };

static void check_bad(const char *chapter, const Bad *b) {
    const char *args[4] = {b->args[0], b->args[1], b->args[2], NULL};
    Run r = run(chapter, args);
    ck_assert_msg(r.status == 2, "%s %s: exit %d, want 2", chapter, b->args[0], r.status);
    ck_assert_msg(strncmp(r.err, chapter, strlen(chapter)) == 0, "stderr: %s", r.err);
    ck_assert_msg(strstr(r.err, b->message) != NULL, "%s: got \"%s\", want \"%s\"", chapter, r.err, b->message);
    ck_assert_int_eq(count_lines(r.err), 1);
    ck_assert_str_eq(r.out, "");
    run_free(&r);
}

START_TEST(test_bad_common_arguments) {
    check_bad(chapters[_i / N_COMMON_BAD], &bad_common[_i % N_COMMON_BAD]);
}
END_TEST

START_TEST(test_bad_attention_arguments) {
    const char *const attention[] = {"ch03_self_attention", "ch04_masked_attention"};
    const int n = sizeof bad_attention / sizeof bad_attention[0];
    check_bad(attention[_i / n], &bad_attention[_i % n]);
}
END_TEST

START_TEST(test_bad_specific_arguments) {
    check_bad(bad_specific[_i].chapter, &bad_specific[_i].bad);
}
END_TEST

START_TEST(test_bad_ngram_arguments) {
    check_bad("ch01_ngram", &bad_ngram[_i]);
}
END_TEST

/* ==== the bad-input matrix, generated from each chapter's --help ====
 * Every option line of --help ("  --name META  help, lo..hi (default d)", or ": a|b|c" for a
 * choice) gives the cases: a number option gets a non-number, no value, values below and above its
 * range, a huge value, a negative and zero where they are out of range; a choice a word not in its
 * list; a flag a value; a FILE to read a missing file, an empty one, a folder, binary data (and no
 * read permission when not run as root). Each must give exit status 2 (1 for a file that cannot be
 * used) and one line on stderr that names the option (or the file); usage errors also say what is
 * expected. A new chapter or option joins the matrix by existing. */
typedef struct {
    int runs, failures;
} MatrixCount;

static void expect_refusal(const char *chapter, const char *const *args, int want_status, const char *must1,
                           const char *must2) {
    Run r = run(chapter, args);
    bool ok = r.status == want_status && count_lines(r.err) == 1 && strncmp(r.err, chapter, strlen(chapter)) == 0;
    ok = ok && (!must1 || strstr(r.err, must1)) && (!must2 || strstr(r.err, must2));
    if (want_status == 2) ok = ok && r.out[0] == '\0';
    ck_assert_msg(ok, "%s %s %s: exit %d (want %d), stderr \"%s\" (want \"%s\" and \"%s\")", chapter, args[0],
                  args[1] ? args[1] : "", r.status, want_status, r.err, must1 ? must1 : "", must2 ? must2 : "");
    run_free(&r);
}

START_TEST(test_bad_input_matrix) {
    const char *chapter = chapters[_i];
    Run help = run(chapter, (const char *[]){"--help", NULL});
    ck_assert_int_eq(help.status, 0);
    char dir[] = "/tmp/llm-notebook-matrix-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char missing[256], empty[256], binary[256], locked[256];
    snprintf(missing, sizeof missing, "%s/missing.txt", dir), snprintf(empty, sizeof empty, "%s/empty.txt", dir);
    snprintf(binary, sizeof binary, "%s/binary.bin", dir), snprintf(locked, sizeof locked, "%s/locked.txt", dir);
    FILE *f = fopen(empty, "w");
    fclose(f);
    f = fopen(binary, "wb");
    fwrite("\x7f" "ELF\0\1\2\3\xff\xfe", 1, 10, f);
    fclose(f);
    f = fopen(locked, "w");
    fputs("some text\n", f);
    fclose(f);
    chmod(locked, 0);
    const bool root = geteuid() == 0; /* root reads anything: no permission case */
    int options = 0, cases = 0;
    for (char *line = help.out; (line = strstr(line, "\n  --")) != NULL;) {
        line += 3; /* at the option's name, without its dashes' leading spaces */
        char name[64], meta[32] = "";
        const char *end = strchr(line, '\n');
        char text[512];
        snprintf(text, sizeof text, "%.*s", (int)(end ? end - line : (long)strlen(line)), line);
        ck_assert_int_eq(sscanf(text, "%63s", name), 1);
        const char *after = text + strlen(name);
        if (after[0] == ' ' && after[1] != ' ') sscanf(after, "%31s", meta);
        if (strcmp(name, "--help") == 0) continue;
        options++;
        char value[64], want[160];
        const char *dots = strstr(text, ".."), *paren = strstr(text, " (default ");
        if (meta[0] == '\0') { /* a flag */
            snprintf(value, sizeof value, "%s=1", name);
            expect_refusal(chapter, (const char *[]){value, NULL}, 2, name, "takes no value"), cases++;
        } else if (dots && paren && dots < paren) { /* a number with its range */
            const char *lo_text = dots;
            while (lo_text > text && lo_text[-1] != ' ') lo_text--;
            const double lo = strtod(lo_text, NULL), hi = strtod(dots + 2, NULL);
            expect_refusal(chapter, (const char *[]){name, NULL}, 2, name, "missing value"), cases++;
            Run r = run(chapter, (const char *[]){name, "x1", NULL}); /* the message tells the kind */
            const bool whole = strstr(r.err, "is not a whole number") != NULL;
            ck_assert_msg(r.status == 2 && (whole || strstr(r.err, "is not a number")), "%s %s x1: %s", chapter, name, r.err);
            run_free(&r), cases++;
            snprintf(want, sizeof want, "%s: ", name);
            const char *huge = whole ? "99999999999999999999999" : "1e999";
            expect_refusal(chapter, (const char *[]){name, huge, NULL}, 2, want, "is out of range; expected"), cases++;
            if (whole) {
                const long long ilo = strtoll(lo_text, NULL, 10), ihi = strtoll(dots + 2, NULL, 10);
                if (ihi < 9223372036854775807LL) {
                    snprintf(value, sizeof value, "%lld", ihi + 1);
                    expect_refusal(chapter, (const char *[]){name, value, NULL}, 2, want, "is out of range"), cases++;
                }
                snprintf(value, sizeof value, "%lld", ilo - 1);
                expect_refusal(chapter, (const char *[]){name, value, NULL}, 2, want, "is out of range"), cases++;
                if (ilo > -1) expect_refusal(chapter, (const char *[]){name, "-1", NULL}, 2, want, "is out of range"), cases++;
                if (ilo > 0) expect_refusal(chapter, (const char *[]){name, "0", NULL}, 2, want, "is out of range"), cases++;
                expect_refusal(chapter, (const char *[]){name, "1.5", NULL}, 2, want, "is not a whole number"), cases++;
            } else {
                snprintf(value, sizeof value, "%.17g", hi * 2 + 1);
                expect_refusal(chapter, (const char *[]){name, value, NULL}, 2, want, "is out of range"), cases++;
                snprintf(value, sizeof value, "%.17g", lo > 0 ? lo / 2 : lo - 1);
                expect_refusal(chapter, (const char *[]){name, value, NULL}, 2, want, "is out of range"), cases++;
                if (lo > -1) expect_refusal(chapter, (const char *[]){name, "-1", NULL}, 2, want, "is out of range"), cases++;
                if (lo > 0) expect_refusal(chapter, (const char *[]){name, "0", NULL}, 2, want, "is out of range"), cases++;
                expect_refusal(chapter, (const char *[]){name, "nan", NULL}, 2, want, "is not a number"), cases++;
            }
        } else if (strchr(text, '|') && paren) { /* a choice */
            expect_refusal(chapter, (const char *[]){name, "no-such-word", NULL}, 2, name, "is not one of"), cases++;
            expect_refusal(chapter, (const char *[]){name, NULL}, 2, name, "missing value"), cases++;
        } else if (strcmp(meta, "FILE") == 0 && strcmp(name, "--save") != 0) { /* a file to read */
            const char *bad[] = {missing, empty, dir, binary, root ? NULL : locked};
            for (int k = 0; k < 5; k++) {
                if (!bad[k]) continue;
                Run r = run(chapter, (const char *[]){name, bad[k], "--no-plot", NULL});
                /* 1: the file is unusable, naming it; 2: the option needs another one first */
                const bool named = r.status == 1 && strstr(r.err, bad[k]) != NULL;
                const bool usage = r.status == 2 && strstr(r.err, name) != NULL;
                ck_assert_msg((named || usage) && count_lines(r.err) == 1, "%s %s %s: exit %d, stderr \"%s\"", chapter,
                              name, bad[k], r.status, r.err);
                run_free(&r), cases++;
            }
            expect_refusal(chapter, (const char *[]){name, NULL}, 2, name, "missing value"), cases++;
        } else { /* a free string (a sentence, a prompt, a folder): only a missing value is wrong */
            expect_refusal(chapter, (const char *[]){name, NULL}, 2, name, "missing value"), cases++;
        }
    }
    ck_assert_int_gt(options, 5);
    ck_assert_int_gt(cases, 3 * options);
    run_free(&help);
    remove_dir(dir);
}
END_TEST

/* Bad files are runtime errors: exit 1 and one line naming the file and the problem. */
START_TEST(test_bad_files) {
    char dir[] = "/tmp/llm-notebook-files-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char empty[256], invalid[256], binary[256], missing[256], blank[256];
    snprintf(empty, sizeof empty, "%s/empty.txt", dir);
    snprintf(invalid, sizeof invalid, "%s/latin1.txt", dir);
    snprintf(binary, sizeof binary, "%s/binary.bin", dir);
    snprintf(missing, sizeof missing, "%s/missing.txt", dir);
    snprintf(blank, sizeof blank, "%s/blank.txt", dir);
    FILE *f = fopen(empty, "w");
    fclose(f);
    f = fopen(invalid, "w");
    fputs("caf\xe9 au lait\n", f); /* Latin-1, not UTF-8: the bad byte is at offset 3 */
    fclose(f);
    f = fopen(binary, "wb");
    fwrite("ab\0cd", 1, 5, f);
    fclose(f);
    f = fopen(blank, "w");
    fputs("\n   \n\n", f);
    fclose(f);
    const struct {
        const char *flag, *path, *message;
    } cases[] = {
        {"--corpus", missing, "No such file or directory"},
        {"--corpus", empty, "is empty"},
        {"--corpus", invalid, "is not valid UTF-8: bad byte at offset 3"},
        {"--corpus", binary, "NUL byte at offset 2"},
        {"--corpus", dir, "it is a directory"},
        {"--corpus", blank, "has no line with text in it"},
        {"--val-file", missing, "No such file or directory"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Run r = run("ch01_ngram", (const char *[]){cases[i].flag, cases[i].path, "--no-plot", NULL});
        ck_assert_msg(r.status == 1, "%s %s: exit %d", cases[i].flag, cases[i].path, r.status);
        ck_assert_msg(strstr(r.err, cases[i].message) != NULL, "got \"%s\", want \"%s\"", r.err, cases[i].message);
        ck_assert_int_eq(count_lines(r.err), 1);
        run_free(&r);
    }
    remove_dir(dir);
}
END_TEST

/* Chapter 1's summary: key: value lines a script can read, with the n-gram above the true floor. */
static double summary_value(const char *out, const char *key) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\n%s: ", key);
    const char *p = strstr(out, pattern);
    ck_assert_msg(p != NULL, "no '%s:' line in the summary", key);
    return strtod(p + strlen(pattern), NULL);
}

START_TEST(test_ch01_summary) {
    Run r = run("ch01_ngram", (const char *[]){"--no-plot", "--lines", "3000", NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "\ncorpus: synthetic\nlevel: char\norder: 5\nsmoothing: mkn\n"));
    const double ppl = summary_value(r.out, "perplexity"), floor = summary_value(r.out, "true_perplexity");
    const double types = summary_value(r.out, "types");
    ck_assert_msg(ppl > floor && ppl < types, "perplexity %g, floor %g, |V| %g", ppl, floor, types);
    ck_assert_double_eq(summary_value(r.out, "validation_oov"), 0);
    run_free(&r);
}
END_TEST

/* Word level on a text file, with a separate validation file holding an unseen word. */
START_TEST(test_ch01_word_level_file) {
    char dir[] = "/tmp/llm-notebook-words-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char train[256], val[256];
    snprintf(train, sizeof train, "%s/train.txt", dir);
    snprintf(val, sizeof val, "%s/val.txt", dir);
    FILE *f = fopen(train, "w");
    for (int i = 0; i < 50; i++) fprintf(f, "The cat sat on the mat.\nA dog sat on a log!\n");
    fclose(f);
    f = fopen(val, "w");
    fputs("the dog sat on the zebra.\n", f);
    fclose(f);
    Run r = run("ch01_ngram", (const char *[]){"--corpus", train, "--val-file", val, "--level", "word",
                                              "--order", "3", "--no-plot", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "\nlevel: word\norder: 3\n"));
    ck_assert_double_eq(summary_value(r.out, "validation_oov"), 1); /* zebra */
    ck_assert_double_eq(summary_value(r.out, "validation_tokens"), 8); /* 6 words, '.', </s> */
    ck_assert_ptr_nonnull(strstr(r.out, "needs the synthetic language"));
    run_free(&r);
    remove_dir(dir);
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

START_TEST(test_ch04_conclusions) {
    Run r = run("ch04_masked_attention", (const char *[]){"--no-plot", NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "Entries above the diagonal that are exactly 0: 15 of 15."));
    ck_assert_ptr_nonnull(strstr(r.out, "With the mask, rows 0..4 are bit-for-bit unchanged: yes."));
    ck_assert_ptr_nonnull(strstr(r.out, "Rows 0..4 that changed when only the last word changed: 5 of 5."));
    ck_assert_ptr_nonnull(strstr(r.out, "matrix is bit-for-bit the same"));
    ck_assert_ptr_null(strstr(r.out, "DIFFERENT"));
    run_free(&r);
    r = run("ch04_masked_attention", (const char *[]){"--no-plot", "--tokens", "17", NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "With the mask, rows 0..15 are bit-for-bit unchanged: yes."));
    run_free(&r);
}
END_TEST

/* --figures DIR: the data and scripts land there; a file in the way is a runtime error (exit 1). */
START_TEST(test_figures_folder) {
    char dir[] = "/tmp/llm-notebook-figures-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    Run r = run("ch04_masked_attention", (const char *[]){"--figures", dir, NULL});
    ck_assert_int_eq(r.status, 0);
    const char *files[] = {"masks.gp", "mask_causal.dat", "mask_source.dat", "weights.gp", "influence.gp"};
    char path[512];
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/ch04_masked_attention/%s", dir, files[i]);
        ck_assert_msg(access(path, R_OK) == 0, "%s was not written", path);
    }
    snprintf(path, sizeof path, "%s/ch04_masked_attention/mask_causal.dat", dir);
    FILE *f = fopen(path, "r");
    char line[256];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f)); /* the comment line */
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_str_eq(line, "0 -inf -inf -inf -inf -inf\n");
    fclose(f);
    run_free(&r);

    snprintf(path, sizeof path, "%s/not-a-folder", dir);
    f = fopen(path, "w");
    fclose(f);
    r = run("ch04_masked_attention", (const char *[]){"--figures", path, NULL});
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "not-a-folder"));
    ck_assert_int_eq(count_lines(r.err), 1);
    run_free(&r);
    remove_dir(dir);
}
END_TEST

/* Chapter 2, small and fast: the untrained loss is ln |V|, the backward pass agrees, a step
 * downhill lowers the loss, training beats the untrained model. The tables' V is the |V| of
 * section 1 plus <s>, said where it is printed, and the parameter count follows from the shapes. */
START_TEST(test_ch02_checks) {
    Run r = run("ch02_neural_lm", (const char *[]){"--no-plot", "--steps", "300", "--eval-every", "100", "--lines", "2000", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    const char *v = strstr(r.out, "|V| = ");
    ck_assert_ptr_nonnull(v);
    const long predicted = strtol(v + strlen("|V| = "), NULL, 10);
    int rows, D, ND, H, ND2, H2, V2;
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
    ck_assert_int_eq(sscanf(v, "  parameters: %d", &ND2), 1);
    ck_assert_int_eq(ND2, rows * D + ND * H + H + H * rows + rows);
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
    /* section 6's Notice is the one the class agreement of the nearest neighbours chooses */
    p = strstr(r.out, "words the grammar gives a class");
    ck_assert_ptr_nonnull(p);
    double share, chance, margin;
    ck_assert_int_eq(sscanf(strchr(p, '\n'), " %lf%% have as nearest neighbour", &share), 1);
    p = strstr(p, "share it ");
    ck_assert_int_eq(sscanf(p, "share it %lf%% of the time (two standard errors: %lf points)", &chance, &margin), 2);
    char note[600];
    unwrap_paragraph(strstr(p, "Notice: "), note, sizeof note);
    if (fabs(share - chance - margin) > 1.5) /* printed to whole points: closer than that cannot be checked */
        ck_assert_msg(strstr(note, share > chance + margin ? "words of one class end up with similar embeddings"
                                                           : "could not show"), "%g%% against %g%% + %g: %s", share,
                      chance, margin, note);
    run_free(&r);
}
END_TEST

/* Chapter 10: checkpoints resume bit for bit, bad checkpoints are refused, the loaded model
 * generates and evaluates. A tiny model keeps it quick. */
static Run run10(const char *const *extra) {
    const char *args[48];
    int n = 0;
    const char *const *quick = quick_args("ch10_gpt_pretraining");
    for (int i = 0; quick[i]; i++) args[n++] = quick[i];
    args[n++] = "--no-plot";
    for (int i = 0; extra[i]; i++) args[n++] = extra[i];
    args[n] = NULL;
    return run("ch10_gpt_pretraining", args);
}

static char *slurp_file(const char *path, long *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)*len + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)*len, f), (size_t)*len);
    fclose(f);
    return buf;
}

static void write_file(const char *path, const char *data, long len) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, (size_t)len, f), (size_t)len);
    fclose(f);
}

START_TEST(test_ch10_checkpoints) {
    char dir[] = "/tmp/llm-notebook-ckpt-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char a[256], b[256], c[256], bad[256], text[256];
    snprintf(a, sizeof a, "%s/a.ckpt", dir), snprintf(b, sizeof b, "%s/b.ckpt", dir);
    snprintf(c, sizeof c, "%s/c.ckpt", dir), snprintf(bad, sizeof bad, "%s/bad.ckpt", dir);
    snprintf(text, sizeof text, "%s/text.txt", dir);
    /* 20 steps at once, against 10 steps, save, load, 10 more */
    Run r = run10((const char *[]){"--steps", "20", "--save", a, NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "at random initialisation: loss "));
    run_free(&r);
    r = run10((const char *[]){"--steps", "10", "--save", b, NULL});
    ck_assert_int_eq(r.status, 0);
    run_free(&r);
    r = run10((const char *[]){"--steps", "20", "--load", b, "--save", c, NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "loaded from"));
    run_free(&r);
    long la, lc;
    char *da = slurp_file(a, &la), *dc = slurp_file(c, &lc);
    ck_assert_int_eq(la, lc);
    ck_assert_msg(memcmp(da, dc, (size_t)la) == 0, "resumed training differs from training straight through");
    /* the loaded model generates (the same text twice) and evaluates a file */
    Run g1 = run("ch10_gpt_pretraining", (const char *[]){"--load", a, "--generate", "60", "--prompt", "zo", NULL});
    Run g2 = run("ch10_gpt_pretraining", (const char *[]){"--load", a, "--generate", "60", "--prompt", "zo", NULL});
    ck_assert_msg(g1.status == 0, "exit %d: %s", g1.status, g1.err);
    ck_assert_int_gt((int)strlen(g1.out), 40);
    ck_assert_str_eq(g1.out, g2.out);
    run_free(&g1), run_free(&g2);
    write_file(text, "zo ba ze.\nxa o pel xe.\n", 23);
    r = run("ch10_gpt_pretraining", (const char *[]){"--load", a, "--eval", text, NULL});
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
        r = run("ch10_gpt_pretraining", (const char *[]){"--load", bad, "--generate", "5", NULL});
        ck_assert_msg(r.status == 1, "case %zu: exit %d", i, r.status);
        const bool ok = strstr(r.err, cases[i].message) != NULL || (i == 0 && strstr(r.err, "checksum mismatch"));
        ck_assert_msg(ok, "case %zu: \"%s\"", i, r.err);
        ck_assert_int_eq(count_lines(r.err), 1);
        run_free(&r);
    }
    r = run("ch10_gpt_pretraining", (const char *[]){"--load", text, "--generate", "5", NULL});
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "wrong magic"));
    run_free(&r);
    /* a checkpoint of another shape or vocabulary than the flags or the corpus */
    r = run10((const char *[]){"--steps", "20", "--load", a, "--d-model", "32", NULL});
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "--d-model: 32, but the checkpoint"));
    run_free(&r);
    r = run10((const char *[]){"--steps", "20", "--load", a, "--level", "word", NULL});
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "--level: word, but the checkpoint"));
    run_free(&r);
    r = run10((const char *[]){"--steps", "20", "--load", a, "--corpus", text, "--val-file", text, NULL});
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "another vocabulary"));
    run_free(&r);
    free(da), free(dc);
    remove_dir(dir);
}
END_TEST

/* Chapter 11: the corruption's proportions over 409,600 positions (100 windows of 4096 training
 * tokens; the </s> tokens, about a sixth at the word level, are never chosen). Chosen has
 * probability 0.15: over n >= 300,000 positions its standard deviation is at most
 * sqrt(0.15 0.85 / 300000) = 0.065 percentage points, so 0.4 is six of them. Of the >= 45,000 chosen,
 * [MASK] (0.8) has sd 0.19 points, random and unchanged (0.1) 0.14: tolerances 1.2 and 0.9. The
 * generator is fixed, so the test is deterministic; the tolerances say it would pass for any seed
 * with overwhelming probability. Also: [MASK] is in the vocabulary and never a filled-in word. */
START_TEST(test_ch11_corruption_and_checks) {
    const char *args[32];
    int n = 0;
    const char *const *quick = quick_args("ch11_masked_lm");
    for (int i = 0; quick[i]; i++) args[n++] = quick[i];
    args[n++] = "--no-plot", args[n] = NULL;
    Run r = run("ch11_masked_lm", args);
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
    /* every |V| printed is section 1's; the model's rows are |V| + 2, and the line says which two */
    const char *v = strstr(r.out, "|V| = ");
    ck_assert_ptr_nonnull(v);
    const long V = strtol(v + strlen("|V| = "), NULL, 10);
    for (const char *q = strstr(r.out, "|V|"); q; q = strstr(q + 1, "|V|")) {
        const char *num = q + strcspn(q, "0123456789\n");
        if (*num != '\n' && num - q < 16) ck_assert_msg(strtol(num, NULL, 10) == V, "|V| is %ld, then %.20s", V, q);
    }
    v = strstr(r.out, "[MASK] joins the vocabulary as id ");
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(strtol(v + strlen("[MASK] joins the vocabulary as id "), NULL, 10), V + 1);
    char rows[96];
    snprintf(rows, sizeof rows, "has %ld rows: the %ld tokens of |V|, [MASK], and <s>", V + 2, V);
    ck_assert_msg(strstr(r.out, rows) != NULL, "the rows of the model's tables are not explained");
    p = strstr(r.out, "by hand: sum ");
    ck_assert_ptr_nonnull(p);
    p = strstr(p, "difference ");
    ck_assert_double_lt(strtod(p + strlen("difference "), NULL), 1e-5);
    /* section 5's Notice is the one the last accuracies and the noise margin choose */
    p = strstr(r.out, "Always guessing the most frequent token");
    ck_assert_ptr_nonnull(p);
    const char *row = p;
    while (row > r.out && !(row[-1] == '\n' && row[0] == '\n')) row--; /* back to the blank line after the table */
    row--;
    while (row > r.out && row[-1] != '\n') row--; /* the table's last row */
    double step, mlm_loss, mlm, dae_loss, dae, margin;
    ck_assert_int_eq(sscanf(row, " %lf %lf %lf%% %lf %lf%%", &step, &mlm_loss, &mlm, &dae_loss, &dae), 5);
    p = strstr(p, "positions: at most ");
    ck_assert_ptr_nonnull(p);
    margin = strtod(p + strlen("positions: at most "), NULL);
    p = strstr(p, "Notice: ");
    ck_assert_ptr_nonnull(p);
    const char *want = mlm - dae > margin ? "where the answer is in the input"
                       : dae - mlm > margin ? "could not show the masked LM's" : "could not tell them apart";
    char note[600];
    unwrap_paragraph(p, note, sizeof note);
    ck_assert_msg(fabs(fabs(mlm - dae) - margin) < 0.15 || strstr(note, want), "MLM %g%%, denoiser %g%%, margin %g: "
                  "expected '%s' in: %s", mlm, dae, margin, want, note);
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
    const char *args[40];
    int n = 0;
    const char *const *quick = quick_args("ch11_masked_lm");
    for (int i = 0; quick[i]; i++) args[n++] = quick[i];
    args[n++] = "--no-plot", args[n++] = "--save", args[n++] = mlm, args[n] = NULL;
    Run r = run("ch11_masked_lm", args);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    run_free(&r);
    r = run("ch11_masked_lm", (const char *[]){"--load", mlm, "--lines", "1000", "--no-plot", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "the masked LM comes from the checkpoint"));
    run_free(&r);
    r = run("ch10_gpt_pretraining", (const char *[]){"--load", mlm, "--generate", "5", NULL});
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "holds a bidirectional model"));
    run_free(&r);
    r = run10((const char *[]){"--steps", "2", "--save", gpt, NULL});
    ck_assert_int_eq(r.status, 0);
    run_free(&r);
    r = run("ch11_masked_lm", (const char *[]){"--load", gpt, "--lines", "1000", "--no-plot", NULL});
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "holds a causal (GPT) model"));
    run_free(&r);
    remove_dir(dir);
}
END_TEST

/* Chapter 12's conclusions, recomputed from the numbers it printed (to their printed precision: a
 * number within 0.1 of what it is compared with is too close to check), so that every sentence
 * that states a result is the one its numbers choose:
 *   section 2: the pre-trained decoder's validation loss is not below the floor of section 1;
 *   section 4: the labels the pre-trained model needs to clear the bar, and what scratch needs;
 *   section 5: frozen against everything trained, by the noise margin of section 4. */
static void check_ch12_conclusions(const char *out) {
    const char *p = strstr(out, "    decoder, every next token:");
    ck_assert_ptr_nonnull(p);
    const double decoder_loss = strtod(p + strlen("    decoder, every next token:"), NULL);
    p = strstr(out, "This is the floor");
    if (p) { /* the synthetic language: section 1's floor, then section 2's comparison with it */
        const char *f = strstr(out, "split that is ");
        const double floor1 = strtod(f + strlen("split that is "), NULL);
        f = strstr(out, "The true process (section 1's floor): ");
        ck_assert_ptr_nonnull(f);
        ck_assert_double_eq_tol(strtod(f + strlen("The true process (section 1's floor): "), NULL), floor1, 1e-4);
        ck_assert_msg(decoder_loss >= floor1 - 1e-3, "validation loss %g below the floor %g", decoder_loss, floor1);
    }
    p = strstr(out, "(at most\n  ");
    ck_assert_ptr_nonnull(p);
    const double margin = strtod(p + strlen("(at most\n  "), NULL);
    p = strstr(p, "the bar is ");
    const double bar = strtod(p + strlen("the bar is "), NULL);
    for (int k = 0; k < 2; k++) {
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
        if (close) continue;
        if (first == n) {
            ck_assert_msg(strstr(verdict, "no number of labels tried clears the bar"), "kind %d: %s", k, verdict);
            continue;
        }
        int s = 0;
        for (; s < n && scratch[s] < pre[first]; s++) close |= fabs(scratch[s] - pre[first]) < 0.1;
        if (s < n) close |= fabs(scratch[s] - pre[first]) < 0.1;
        if (close) continue;
        const char *want = s == n ? "labels stay below the" : sizes[s] > sizes[first] ? "labels reach the" : "already reach";
        ck_assert_msg(strstr(verdict, want), "kind %d: expected '%s' in: %s", k, want, verdict);
        char reached[64];
        snprintf(reached, sizeof reached, "%.1f%% that the pre-trained model", pre[first]);
        ck_assert_msg(strstr(verdict, reached), "kind %d: expected '%s' in: %s", k, reached, verdict);
    }
    static const char *const said[3] = {"the frozen body does better", "could not tell the two apart",
                                        "training everything does better"};
    int v[2];
    p = strstr(out, "Freezing the body");
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
    char note[600];
    unwrap_paragraph(p, note, sizeof note);
    char want[200];
    if (v[0] == v[1]) snprintf(want, sizeof want, "for both models %s%s", v[0] == 1 ? "this run " : "", said[v[0]]);
    else snprintf(want, sizeof want, "for the decoder %s%s, for the encoder %s%s", v[0] == 1 ? "this run " : "", said[v[0]],
                  v[1] == 1 ? "this run " : "", said[v[1]]);
    ck_assert_msg(strstr(note, want), "expected '%s' in: %s", want, note);
}

/* Chapter 12: the frozen body keeps every bit; the conclusions follow the numbers; checkpoints of
 * the wrong kind or vocabulary are refused with one line and exit 1. */
START_TEST(test_ch12_checks) {
    char dir[] = "/tmp/llm-notebook-ft-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char mlm[256], gpt[256];
    snprintf(mlm, sizeof mlm, "%s/mlm.ckpt", dir), snprintf(gpt, sizeof gpt, "%s/gpt.ckpt", dir);
    const char *args[40];
    int n = 0;
    const char *const *quick = quick_args("ch12_fine_tuning");
    for (int i = 0; quick[i]; i++) args[n++] = quick[i];
    args[n++] = "--no-plot", args[n] = NULL;
    Run r = run("ch12_fine_tuning", args);
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
    const char *const *q11 = quick_args("ch11_masked_lm");
    const char *a11[40];
    n = 0;
    for (int i = 0; q11[i]; i++) a11[n++] = q11[i];
    a11[n++] = "--no-plot", a11[n++] = "--save", a11[n++] = mlm, a11[n] = NULL;
    r = run("ch11_masked_lm", a11);
    ck_assert_int_eq(r.status, 0);
    run_free(&r);
    r = run("ch12_fine_tuning", (const char *[]){"--load-decoder", mlm, "--lines", "1000", "--no-plot", NULL});
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "holds a bidirectional (masked LM) model, but --load-decoder needs a causal one"));
    ck_assert_int_eq(count_lines(r.err), 1);
    run_free(&r);
    r = run10((const char *[]){"--steps", "2", "--save", gpt, NULL});
    ck_assert_int_eq(r.status, 0);
    run_free(&r);
    r = run("ch12_fine_tuning", (const char *[]){"--load-decoder", gpt, "--lines", "1000", "--no-plot", NULL});
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
    Run r = run("ch12_fine_tuning", args);
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
    r = run("ch12_fine_tuning", args);
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "--lines: applies to the synthetic language only"));
    run_free(&r);
    r = run("ch12_fine_tuning", (const char *[]){"--class-a", a, "--class-b", few, NULL});
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "has 2 lines with text: the task needs at least 10"));
    ck_assert_int_eq(count_lines(r.err), 1);
    run_free(&r);
    r = run("ch12_fine_tuning", (const char *[]){"--class-a", dir, "--class-b", b, NULL});
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "it is a directory"));
    run_free(&r);
    remove_dir(dir);
}
END_TEST

/* ==== long runs: Ctrl-C and a kill during a save ==== */

/* Start ./<program> with stdout and stderr going to files; returns its pid. */
static pid_t spawn(const char *program, const char *const *args, const char *out, const char *err) {
    char path[512];
    const char *dir = getenv("NOTEBOOK_BINDIR");
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : ".", program);
    const char *argv[64] = {path};
    int argc = 1;
    for (; args[argc - 1] && argc < 63; argc++) argv[argc] = args[argc - 1];
    argv[argc] = NULL;
    fflush(NULL);
    const pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (!freopen(out, "w", stdout) || !freopen(err, "w", stderr)) _exit(126);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static char *read_all(const char *path, long *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq((long)fread(buf, 1, (size_t)n, f), n);
    buf[n] = '\0';
    fclose(f);
    if (len) *len = n;
    return buf;
}

static void sleep_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Ctrl-C during chapter 10's training: the step finishes, the checkpoint is saved, the exit status
 * is 130, and the checkpoint resumes at the step the message names. */
START_TEST(test_ch10_interrupt_saves) {
    char dir[] = "/tmp/llm-notebook-int-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char ckpt[256], out[256], err[256];
    snprintf(ckpt, sizeof ckpt, "%s/run.ckpt", dir), snprintf(out, sizeof out, "%s/out", dir);
    snprintf(err, sizeof err, "%s/err", dir);
    const pid_t pid = spawn("ch10_gpt_pretraining",
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
    Run r = run("ch10_gpt_pretraining", first);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    run_free(&r);
    long len0;
    char *before = read_all(ckpt, &len0);
    ck_assert_int_gt(len0, 30000000);
    const char *again[32] = {"--load", ckpt, "--steps", "2"};
    n = 4;
    for (int i = 0; i < 9; i++) again[n++] = common[i];
    again[n] = NULL;
    const pid_t pid = spawn("ch10_gpt_pretraining", again, out, err);
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
    r = run("ch10_gpt_pretraining", (const char *[]){"--load", ckpt, "--generate", "5", NULL});
    ck_assert_msg(r.status == 0, "the checkpoint no longer loads: %s", r.err);
    run_free(&r);
    remove_dir(dir);
}
END_TEST

/* Chapters 5 to 8: what they print as their checks must come out as checked. */
START_TEST(test_layer_chapter_conclusions) {
    const struct {
        const char *chapter;
        const char *args[8]; /* NULL-terminated */
        const char *must[4];
    } cases[] = {
        {"ch05_multi_head_attention", {"--no-plot"}, {"bit for bit: yes", "the backward pass agrees", "       8          1          288          288"}},
        {"ch05_multi_head_attention", {"--no-plot", "--heads", "4", "--causal"}, {"bit for bit: yes", "the backward pass agrees", "A_3 = softmax"}},
        {"ch06_positional_encoding", {"--no-plot"}, {"posenc_sinusoidal against this loop: largest difference 0.", "(float rounding)"}},
        {"ch07_layer_norm", {"--no-plot"}, {"layer norm  5 of 5", "batch norm  0 of 5", "the backward pass agrees", "eps = 0      -> nan nan"}},
        {"ch08_feed_forward_residual", {"--no-plot"}, {"the backward passes agree", "vanishing"}},
        {"ch09_transformer_block", {"--no-plot"}, {"every backward pass agrees", "5 of 5 (causal)", "formula 6688, allocated 6688"}},
        {"ch09_transformer_block", {"--no-plot", "--heads", "4", "--target", "x y z w"}, {"every backward pass agrees", "(4, 16)"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Run r = run(cases[i].chapter, cases[i].args);
        ck_assert_msg(r.status == 0, "%s: exit %d: %s", cases[i].chapter, r.status, r.err);
        for (int k = 0; k < 4 && cases[i].must[k]; k++)
            ck_assert_msg(strstr(r.out, cases[i].must[k]) != NULL, "%s: no \"%s\" in its output", cases[i].chapter,
                          cases[i].must[k]);
        ck_assert_ptr_null(strstr(r.out, "MISMATCH"));
        run_free(&r);
    }
    /* ch06: attention without positions is permutation-equivariant up to rounding, with them not */
    Run r = run("ch06_positional_encoding", (const char *[]){"--no-plot", NULL});
    const char *a = strstr(r.out, "X alone:"), *b = strstr(r.out, "X + PE:");
    ck_assert(a && b);
    ck_assert_double_lt(strtod(a + 8, NULL), 1e-5);
    ck_assert_double_gt(strtod(b + 7, NULL), 0.05);
    run_free(&r);
}
END_TEST

Suite *chapters_suite(void) {
    Suite *s = suite_create("chapters");
    TCase *tc = tcase_create("binaries");
    tcase_set_timeout(tc, 1200); /* whole programs: chapter 10 trains for about 2 minutes, far longer under a sanitizer */
    tcase_add_loop_test(tc, test_defaults_run, 0, N_CHAPTERS);
    tcase_add_loop_test(tc, test_same_flags_same_bytes, 0, N_CHAPTERS);
    tcase_add_loop_test(tc, test_help, 0, N_CHAPTERS);
    tcase_add_loop_test(tc, test_bad_common_arguments, 0, N_CHAPTERS * N_COMMON_BAD);
    tcase_add_loop_test(tc, test_bad_attention_arguments, 0, 2 * (int)(sizeof bad_attention / sizeof bad_attention[0]));
    tcase_add_loop_test(tc, test_bad_ngram_arguments, 0, (int)(sizeof bad_ngram / sizeof bad_ngram[0]));
    tcase_add_loop_test(tc, test_bad_specific_arguments, 0, (int)(sizeof bad_specific / sizeof bad_specific[0]));
    tcase_add_test(tc, test_bad_files);
    tcase_add_test(tc, test_layer_chapter_conclusions);
    tcase_add_test(tc, test_ch02_checks);
    tcase_add_test(tc, test_ch10_checkpoints);
    tcase_add_test(tc, test_ch11_corruption_and_checks);
    tcase_add_test(tc, test_ch11_checkpoint_kinds);
    tcase_add_test(tc, test_ch12_checks);
    tcase_add_test(tc, test_ch12_file_task);
    tcase_add_test(tc, test_ch10_interrupt_saves);
    tcase_add_test(tc, test_ch10_kill_during_save);
    tcase_add_test(tc, test_ch01_summary);
    tcase_add_test(tc, test_ch01_word_level_file);
    tcase_add_test(tc, test_ch03_experiment_flags);
    tcase_add_test(tc, test_ch03_conclusions);
    tcase_add_test(tc, test_ch04_conclusions);
    tcase_add_test(tc, test_figures_folder);
    suite_add_tcase(s, tc);
    TCase *matrix = tcase_create("matrix"); /* alone: CK_RUN_CASE=matrix */
    tcase_set_timeout(matrix, 1200);
    tcase_add_loop_test(matrix, test_bad_input_matrix, 0, N_CHAPTERS);
    suite_add_tcase(s, matrix);
    return s;
}
