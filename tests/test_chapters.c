/* What every chapter binary must do, run as a reader would: run with its defaults (exit 0, nothing
 * on stderr), print the same bytes twice with the same flags and other bytes with another seed,
 * answer --help, refuse the bad arguments every chapter shares (exit 2, one line on stderr naming the
 * problem), and refuse every bad value its --help implies (the bad-input matrix). Each chapter's
 * suite (tests/test_chNN.c) adds these for itself with every_chapter_tests, beside its own checks. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chapter_run.h"
#include "tests.h"

static const char *const chapters[] = {"ch00_tokenization",
                                       "ch01_ngram",
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

START_TEST(test_defaults_run) {
    Run r = run(chapters[_i], NULL);
    ck_assert_msg(r.status == 0, "%s exited %d: %s", chapters[_i], r.status, r.err);
    ck_assert_msg(r.err[0] == '\0', "%s wrote to stderr: %s", chapters[_i], r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "1. "));
    ck_assert_int_gt(count_lines(r.out), 50);
    run_free(&r);
}
END_TEST

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

/* Bad arguments every chapter shares, and what the one-line message must contain. */
static const Bad bad_common[] = {
    {{"--frobnicate"}, "unknown option '--frobnicate'"},
    {{"--seed", "abc"}, "--seed: 'abc' is not a whole number"},
    {{"--seed", "-1"}, "--seed: -1 is out of range"},
    {{"--precision", "12"}, "--precision: 12 is out of range"},
    {{"--no-plot=yes"}, "--no-plot takes no value"},
    {{"--figures"}, "--figures: missing value"},
    {{"extra"}, "unexpected argument 'extra'"},
};
enum { N_COMMON_BAD = sizeof bad_common / sizeof bad_common[0] };

START_TEST(test_bad_common_arguments) {
    check_bad(chapters[_i / N_COMMON_BAD], &bad_common[_i % N_COMMON_BAD]);
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

/* The files a FILE option must refuse, made in dir: one missing, one empty, one binary, one the
 * user may not read (NULL when running as root, who reads anything). */
typedef struct {
    char missing[256], empty[256], binary[256], locked[256];
} BadFiles;

static void make_bad_files(BadFiles *b, const char *dir) {
    snprintf(b->missing, sizeof b->missing, "%s/missing.txt", dir), snprintf(b->empty, sizeof b->empty, "%s/empty.txt", dir);
    snprintf(b->binary, sizeof b->binary, "%s/binary.bin", dir), snprintf(b->locked, sizeof b->locked, "%s/locked.txt", dir);
    FILE *f = fopen(b->empty, "w");
    fclose(f);
    f = fopen(b->binary, "wb");
    fwrite("\x7f" "ELF\0\1\2\3\xff\xfe", 1, 10, f);
    fclose(f);
    f = fopen(b->locked, "w");
    fputs("some text\n", f);
    fclose(f);
    chmod(b->locked, 0);
}

/* A number option `name` whose help line `text` gives its range lo_text .. dots + 2: a missing
 * value, a word, a value too large to parse, the values just outside the range, and (for a whole
 * number) a fraction, (for a real one) NaN, each refused. Returns how many cases ran. */
static int refuse_numbers(const char *chapter, const char *name, const char *text, const char *dots) {
    int cases = 0;
    char value[64], want[160];
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
    return cases;
}

/* A file option `name`: each bad file refused with one line (1: the file is unusable, naming it;
 * 2: the option needs another one first), and a missing value. Returns how many cases ran. */
static int refuse_files(const char *chapter, const char *name, const BadFiles *b, const char *dir) {
    int cases = 0;
    const char *bad[] = {b->missing, b->empty, dir, b->binary, geteuid() == 0 ? NULL : b->locked};
    for (int k = 0; k < 5; k++) {
        if (!bad[k]) continue;
        Run r = run(chapter, (const char *[]){name, bad[k], "--no-plot", NULL});
        const bool named = r.status == 1 && strstr(r.err, bad[k]) != NULL;
        const bool usage = r.status == 2 && strstr(r.err, name) != NULL;
        ck_assert_msg((named || usage) && count_lines(r.err) == 1, "%s %s %s: exit %d, stderr \"%s\"", chapter,
                      name, bad[k], r.status, r.err);
        run_free(&r), cases++;
    }
    expect_refusal(chapter, (const char *[]){name, NULL}, 2, name, "missing value"), cases++;
    return cases;
}

START_TEST(test_bad_input_matrix) {
    const char *chapter = chapters[_i];
    Run help = run(chapter, (const char *[]){"--help", NULL});
    ck_assert_int_eq(help.status, 0);
    char dir[] = "/tmp/llm-notebook-matrix-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    BadFiles files;
    make_bad_files(&files, dir);
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
        const char *dots = strstr(text, ".."), *paren = strstr(text, " (default ");
        if (meta[0] == '\0') { /* a flag */
            char value[64];
            snprintf(value, sizeof value, "%s=1", name);
            expect_refusal(chapter, (const char *[]){value, NULL}, 2, name, "takes no value"), cases++;
        } else if (dots && paren && dots < paren) { /* a number with its range */
            cases += refuse_numbers(chapter, name, text, dots);
        } else if (strchr(text, '|') && paren) { /* a choice */
            expect_refusal(chapter, (const char *[]){name, "no-such-word", NULL}, 2, name, "is not one of"), cases++;
            expect_refusal(chapter, (const char *[]){name, NULL}, 2, name, "missing value"), cases++;
        } else if (strcmp(meta, "FILE") == 0 && strcmp(name, "--save") != 0) { /* a file to read */
            cases += refuse_files(chapter, name, &files, dir);
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

void check_prints(const char *chapter, const char *const *args, const char *const *must) {
    Run r = run(chapter, args);
    ck_assert_msg(r.status == 0, "%s: exit %d: %s", chapter, r.status, r.err);
    for (int k = 0; must[k]; k++)
        ck_assert_msg(strstr(r.out, must[k]) != NULL, "%s: no \"%s\" in its output", chapter, must[k]);
    ck_assert_ptr_null(strstr(r.out, "MISMATCH"));
    run_free(&r);
}

void every_chapter_tests(TCase *tc, const char *chapter) {
    int k = 0;
    while (k < N_CHAPTERS && strcmp(chapters[k], chapter) != 0) k++;
    if (k == N_CHAPTERS) {
        fprintf(stderr, "every_chapter_tests: %s is not in tests/test_chapters.c's list\n", chapter);
        exit(EXIT_FAILURE);
    }
    tcase_set_timeout(tc, 1200); /* whole programs: the default runs of chapters 10 to 12 take a while, far longer under a sanitizer */
    tcase_add_loop_test(tc, test_defaults_run, k, k + 1);
    tcase_add_loop_test(tc, test_same_flags_same_bytes, k, k + 1);
    tcase_add_loop_test(tc, test_help, k, k + 1);
    tcase_add_loop_test(tc, test_bad_common_arguments, k * N_COMMON_BAD, (k + 1) * N_COMMON_BAD);
    tcase_add_loop_test(tc, test_bad_input_matrix, k, k + 1);
}
