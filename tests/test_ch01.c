/* Chapter 1 (n-gram models): its options, its file errors, its summary, the word level on a file. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapter_run.h"
#include "readback.h"
#include "tests.h"

static const char chapter[] = "ch01_ngram";

/* Bad arguments of this chapter only, and what the one-line message must contain. */
static const Bad bad[] = {
    {{"--order", "0"}, "--order: 0 is out of range; expected a whole number from 1 to 6"},
    {{"--order", "7"}, "--order: 7 is out of range"},
    {{"--smoothing", "witten-bell"}, "--smoothing: 'witten-bell' is not one of mle|addk|kn|mkn"},
    {{"--level", "byte"}, "--level: 'byte' is not one of char|word"},
    {{"--k", "0"}, "--k: 0 is out of range"},
    {{"--k", "nan"}, "--k: 'nan' is not a number"},
    {{"--lines", "5"}, "--lines: 5 is out of range"},
    {{"--sample", "-2"}, "--sample: -2 is out of range"},
};

START_TEST(test_bad_arguments) {
    check_bad(chapter, &bad[_i]);
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
        Run r = run(chapter, (const char *[]){cases[i].flag, cases[i].path, "--no-plot", NULL});
        ck_assert_msg(r.status == 1, "%s %s: exit %d", cases[i].flag, cases[i].path, r.status);
        ck_assert_msg(strstr(r.err, cases[i].message) != NULL, "got \"%s\", want \"%s\"", r.err, cases[i].message);
        ck_assert_int_eq(count_lines(r.err), 1);
        run_free(&r);
    }
    remove_dir(dir);
}
END_TEST

/* Chapter 1's summary: key: value lines a script can read, with the n-gram above the true floor. */
START_TEST(test_ch01_summary) {
    Run r = run(chapter, (const char *[]){"--no-plot", "--lines", "3000", NULL});
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
    Run r = run(chapter, (const char *[]){"--corpus", train, "--val-file", val, "--level", "word",
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

/* ch01 at the word level: the notice of section 7 states what its table shows (cases in reach of
 * the model's n-1 tokens, their accuracy, the worst such cell, the accuracy beyond), and the
 * notices of sections 2 and 4 quote their tables. The table's percentages are rounded to 1%, so
 * pooled accuracies agree within 1%. */
/* Section 7's notice states what its table shows. */
static void check_ch01_section7(const char *out) {
    const char *sec7 = section_start(out, 7);
    const char *row = strstr(sec7, "n=6\n");
    ck_assert_ptr_nonnull(row);
    row += 4;
    long in_cases = 0, out_cases = 0;
    double in_right = 0, out_right = 0, worst = 101;
    while (*row == ' ') {
        char label[16];
        long cases;
        int used;
        ck_assert_int_eq(sscanf(row, "%15s %ld%n", label, &cases, &used), 2);
        const char *q = row + used;
        for (int n = 2; n <= 6; n++) {
            double pct;
            ck_assert_int_eq(sscanf(q, " %lf%%%n", &pct, &used), 1);
            q += used;
            char *end;
            const long gap = strtol(label, &end, 10);
            if (*end == '\0' && gap <= n - 1) in_cases += cases, in_right += pct * cases, worst = fmin(worst, pct);
            else out_cases += cases, out_right += pct * cases;
        }
        row = strchr(row, '\n') + 1;
    }
    char *note = flatten(strstr(sec7, "Notice:"));
    double said_in, said_out;
    long said_n, said_m;
    const char *p = strstr(note, "ranks the right closer first in ");
    ck_assert_msg(p != NULL, "section 7's notice gives no accuracy in reach: %s", note);
    ck_assert_int_eq(sscanf(p, "ranks the right closer first in %lf%% of those %ld cases", &said_in, &said_n), 2);
    ck_assert_int_eq(said_n, in_cases);
    ck_assert_double_eq_tol(said_in, in_right / (double)in_cases, 1.0);
    p = strstr(note, "its worst cell is ");
    ck_assert_msg(p != NULL, "the notice names no worst cell: %s", note);
    ck_assert_double_eq_tol(strtod(p + 18, NULL), worst, 1e-9);
    p = strstr(note, "Beyond n-1 it is at chance (");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(sscanf(p, "Beyond n-1 it is at chance (%lf%% of %ld cases", &said_out, &said_m), 2);
    ck_assert_int_eq(said_m, out_cases);
    ck_assert_double_eq_tol(said_out, out_right / (double)out_cases, 1.0);
    free(note);
}

/* Sections 2 and 4: the notices quote their tables (the count at n = 6; the token with its
 * probabilities). */
static void check_ch01_sections_2_4(const char *out) {
    const char *sec2 = section_start(out, 2);
    double distinct6 = 0;
    ck_assert_int_eq(numbers_after(sec2, "\n      6 ", "", &distinct6, 1), 1);
    char *note = flatten(strstr(sec2, "Notice:"));
    char want[64];
    snprintf(want, sizeof want, "at n = 6 it holds %.0f of them", distinct6);
    ck_assert_msg(strstr(note, want) != NULL, "section 2's notice does not say \"%s\": %s", want, note);
    free(note);
    /* section 4: the token the notice quotes has those probabilities in the table */
    const char *sec4 = section_start(out, 4);
    note = flatten(strstr(sec4, "Notice:"));
    const char *p = strstr(note, "exactly 0 (");
    ck_assert_msg(p != NULL, "section 4's notice quotes no token: %s", note);
    char token[32], line[96];
    double addk;
    ck_assert_int_eq(sscanf(p, "exactly 0 (%31s above), add-k %lf", token, &addk), 2);
    snprintf(line, sizeof line, "\n    %-10s %8d   0.00000 %9.5f", token, 0, addk);
    ck_assert_msg(strstr(sec4, line) != NULL, "no row \"%s\" in section 4", line + 1);
    free(note);
}

START_TEST(test_ch01_notices) {
    Run r = run("ch01_ngram", (const char *[]){"--no-plot", "--level", "word", NULL});
    ck_assert_int_eq(r.status, 0);
    check_ch01_section7(r.out);
    check_ch01_sections_2_4(r.out);
    run_free(&r);
}
END_TEST

/* ch01 section 5: the chain rule's table multiplies out to the sentence probability it prints, and
 * its product over every validation line is the perplexity that ngram_score computes token by
 * token. The factors are printed to 5 decimals (a relative error of at most 3e-4 each for the
 * smallest here, about 0.017), so the product agrees within 0.5%. */
START_TEST(test_ch01_chain_rule) {
    Run r = run("ch01_ngram", (const char *[]){"--no-plot", NULL});
    ck_assert_int_eq(r.status, 0);
    const char *sec5 = section_start(r.out, 5);
    const char *row = strstr(sec5, "product\n");
    ck_assert_msg(row != NULL, "section 5 has no chain-rule table");
    row += 8;
    double product = 1, last = 0;
    int factors = 0;
    for (; *row == ' '; row = strchr(row, '\n') + 1) {
        /* the last three numbers of the row: P, ln P, running product */
        const char *eol = strchr(row, '\n');
        const char *q = eol;
        for (int k = 0; k < 3; k++) {
            while (q > row && q[-1] != ' ') q--;
            if (k < 2) q--;
            while (q > row && q[-1] == ' ') q--;
        }
        double p, lnp;
        ck_assert_int_eq(sscanf(q, "%lf %lf %lf", &p, &lnp, &last), 3);
        product *= p;
        factors++;
    }
    ck_assert_int_ge(factors, 3);
    ck_assert_double_eq_tol(product / last, 1.0, 5e-3);
    const char *said = strstr(sec5, "the product of its ");
    ck_assert_ptr_nonnull(said);
    int n_said;
    double p_said;
    ck_assert_int_eq(sscanf(said, "the product of its %d factors = %lf", &n_said, &p_said), 2);
    ck_assert_int_eq(n_said, factors);
    ck_assert_double_eq_tol(p_said / last, 1.0, 1e-4);
    char *flat = flatten(strstr(sec5, "The table's mkn at n = 5"));
    double table, chain;
    ck_assert_int_eq(sscanf(flat, "The table's mkn at n = 5 (scored token by token by ngram_score): %lf; the chain "
                                  "rule's product over the lines above: %lf.", &table, &chain), 2);
    ck_assert_double_eq_tol(table, chain, 1e-4);
    ck_assert_double_eq_tol(table, summary_value(r.out, "perplexity"), 1e-4);
    free(flat);
    run_free(&r);
}
END_TEST

Suite *ch01_suite(void) {
    Suite *s = suite_create("ch01");
    TCase *tc = tcase_create("ch01");
    every_chapter_tests(tc, chapter);
    tcase_add_loop_test(tc, test_bad_arguments, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, test_bad_files);
    tcase_add_test(tc, test_ch01_summary);
    tcase_add_test(tc, test_ch01_word_level_file);
    tcase_add_test(tc, test_ch01_notices);
    tcase_add_test(tc, test_ch01_chain_rule);
    suite_add_tcase(s, tc);
    return s;
}
