/* Chapter 1 (n-gram models): its options, its file errors, its summary, the word level on a file. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapter_run.h"
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

Suite *ch01_suite(void) {
    Suite *s = suite_create("ch01");
    TCase *tc = tcase_create("ch01");
    every_chapter_tests(tc, chapter);
    tcase_add_loop_test(tc, test_bad_arguments, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, test_bad_files);
    tcase_add_test(tc, test_ch01_summary);
    tcase_add_test(tc, test_ch01_word_level_file);
    suite_add_tcase(s, tc);
    return s;
}
