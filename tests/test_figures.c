/* The figures of the chapters say what their sections say: the scripts the chapters write carry it. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapter_run.h"
#include "readback.h"
#include "tests.h"

/* The figures of chapters 1, 4, 6, 7, 8 and 9 say what their sections say: their scripts (written
 * with gnuplot hidden from PATH, so no PNG is drawn and the test stays fast) carry the fixes. */
START_TEST(test_figure_scripts) {
    char dir[] = "/tmp/llm-notebook-figs-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char *path = strdup(getenv("PATH") ? getenv("PATH") : "");
    setenv("PATH", "/nonexistent", 1);
    const char *const chapters_drawn[] = {"ch01_ngram", "ch04_masked_attention", "ch06_positional_encoding",
                                          "ch07_layer_norm", "ch08_feed_forward_residual", "ch09_transformer_block"};
    for (size_t i = 0; i < sizeof chapters_drawn / sizeof chapters_drawn[0]; i++) {
        Run r = run(chapters_drawn[i], (const char *[]){"--figures", dir, NULL});
        ck_assert_msg(r.status == 0, "%s: exit %d: %s", chapters_drawn[i], r.status, r.err);
        run_free(&r);
    }
    setenv("PATH", path, 1);
    free(path);
    /* ch01: MLE drawn so that KN cannot hide it, a whole view and a zoom near the floor */
    char *s = figure_file(dir, "ch01_ngram", "perplexity.gp");
    ck_assert_ptr_nonnull(strstr(s, "set multiplot layout 1,2"));
    ck_assert_int_eq(count_of(s, "using 1:2 with linespoints lw 2 dt 2 pt 6 ps 2.5 title 'mle'"), 2);
    ck_assert_ptr_nonnull(strstr(s, "MLE is infinite from n = 4 on"));
    ck_assert_ptr_nonnull(strstr(s, "zoom: n = 3..6, linear axis"));
    free(s);
    /* ch04: exact zeros (the masked cells) are not labelled */
    s = figure_file(dir, "ch04_masked_attention", "weights.gp");
    ck_assert_int_eq(count_of(s, "($3 == 0 ? '' : sprintf('%.2f', $3))"), 2);
    free(s);
    /* ch06: the columns sampled between positions, 8 samples per position, whole positions marked */
    s = figure_file(dir, "ch06_positional_encoding", "dimensions.dat");
    ck_assert_int_eq(count_lines(s), 1 + 31 * 8 + 1); /* a header, positions 0..31 in steps of 1/8 */
    free(s);
    s = figure_file(dir, "ch06_positional_encoding", "dimensions.gp");
    ck_assert_int_eq(count_of(s, "pi 8"), 4);
    free(s);
    s = figure_file(dir, "ch06_positional_encoding", "dot_product.gp");
    ck_assert_ptr_nonnull(strstr(s, "'PE(8) . PE(8 + d)'"));
    ck_assert_ptr_nonnull(strstr(s, "'PE(16) . PE(16 + d)'"));
    free(s);
    /* ch07: the one-token change of section 3, and titles kept apart */
    s = figure_file(dir, "ch07_layer_norm", "one_token.gp");
    ck_assert_int_eq(count_of(s, "'yes' 0.75"), 2);
    free(s);
    s = figure_file(dir, "ch07_layer_norm", "one_token_batch_norm.dat");
    ck_assert_int_eq(count_of(s, " 0"), 0); /* batch norm: every output moved */
    free(s);
    s = figure_file(dir, "ch07_layer_norm", "norms.gp");
    ck_assert_ptr_nonnull(strstr(s, "set tmargin 5"));
    free(s);
    /* ch08: powers of ten on the log axis */
    s = figure_file(dir, "ch08_feed_forward_residual", "gradient_depth.gp");
    ck_assert_ptr_nonnull(strstr(s, "\"10⁻⁶\" 1e-6"));
    ck_assert_ptr_nonnull(strstr(s, "\"10²\" 1e2"));
    free(s);
    /* ch09: the decoder's three residual connections, like the encoder's two */
    s = figure_file(dir, "ch09_transformer_block", "diagram.gp");
    ck_assert_int_eq(count_of(s, "nohead lw 1.5 lc rgb '#333333' dt 2"), 2 * (2 + 3));
    free(s);
    remove_dir(dir);
}
END_TEST

Suite *figures_suite(void) {
    Suite *s = suite_create("figures");
    TCase *tc = tcase_create("figures");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_figure_scripts);
    suite_add_tcase(s, tc);
    return s;
}
