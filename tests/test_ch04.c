/* Chapter 4 (masked attention): the attention chapters' options, its conclusions, --figures. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapter_run.h"
#include "tests.h"

static const char chapter[] = "ch04_masked_attention";

START_TEST(test_bad_arguments) {
    check_bad(chapter, &bad_attention[_i]);
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

Suite *ch04_suite(void) {
    Suite *s = suite_create("ch04");
    TCase *tc = tcase_create("ch04");
    every_chapter_tests(tc, chapter);
    tcase_add_loop_test(tc, test_bad_arguments, 0, n_bad_attention);
    tcase_add_test(tc, test_ch04_conclusions);
    tcase_add_test(tc, test_figures_folder);
    suite_add_tcase(s, tc);
    return s;
}
