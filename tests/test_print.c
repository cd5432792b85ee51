/* The matrix printer: the exact text, worked out by hand, for small matrices. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "print.h"
#include "tests.h"

/* Print into memory and return the text (free it). */
static char *render(const char *label, const Tensor *m, const PrintOpts *o) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    print_matrix(f, label, m, o);
    fclose(f);
    return buf;
}

/* Column widths: the widest of the label and the values; -inf spelled out; an exact 0 as "0". */
START_TEST(test_small_matrix) {
    Tensor m = tensor_new(2, 3);
    const float v[] = {1, -INFINITY, 0, 0.5f, 2.25f, -1};
    for (int i = 0; i < 6; i++) m.data[i] = v[i];
    PrintOpts o = print_defaults();
    o.precision = 2;
    char *text = render("M", &m, &o);
    ck_assert_str_eq(text, "M  (2 x 3)\n"
                           "        0     1      2\n"
                           "0    1.00  -inf      0\n"
                           "1    0.50  2.25  -1.00\n");
    free(text);
    tensor_free(&m);
}
END_TEST

/* 5 x 5 shown at most 2 x 2: the first and the last row and column around "...". */
START_TEST(test_elision) {
    Tensor m = tensor_new(5, 5);
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 5; c++) *tensor_at(&m, r, c) = (float)(10 * r + c);
    PrintOpts o = print_defaults();
    o.precision = 0;
    o.max_rows = o.max_cols = 2;
    char *text = render("E", &m, &o);
    ck_assert_str_eq(text, "E  (5 x 5)\n"
                           "       0  ...    4\n"
                           "0      0  ...    4\n"
                           "...  ...  ...  ...\n"
                           "4     40  ...   44\n");
    free(text);
    tensor_free(&m);
}
END_TEST

/* Token labels, including a wide (Chinese) one that takes two columns per character. */
START_TEST(test_labels) {
    Tensor m = tensor_new(2, 2);
    const float v[] = {0.125f, 1, -0.5f, 0};
    for (int i = 0; i < 4; i++) m.data[i] = v[i];
    static const char *const words[] = {"猫", "sat"};
    PrintOpts o = print_defaults();
    o.row_labels = words;
    o.col_labels = words;
    char *text = render("A", &m, &o);
    ck_assert_str_eq(text, "A  (2 x 2)\n"
                           "         猫    sat\n"
                           "猫    0.125  1.000\n"
                           "sat  -0.500      0\n");
    free(text);
    ck_assert_int_eq(print_display_width("猫sat"), 5);
    tensor_free(&m);
}
END_TEST

START_TEST(test_color_shading_only_on_request) {
    Tensor m = tensor_new(1, 2);
    m.data[1] = 1.0f;
    PrintOpts o = print_defaults();
    char *plain = render("C", &m, &o);
    ck_assert_ptr_null(strchr(plain, '\x1b'));
    o.color = true;
    char *shaded = render("C", &m, &o);
    ck_assert_ptr_nonnull(strstr(shaded, "\x1b[48;5;232m")); /* the minimum: darkest grey */
    ck_assert_ptr_nonnull(strstr(shaded, "\x1b[48;5;255m")); /* the maximum: lightest */
    free(plain);
    free(shaded);
    tensor_free(&m);
}
END_TEST

START_TEST(test_wrapped) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    print_wrapped(f, 2, "aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp");
    fclose(f);
    ck_assert_str_eq(buf, "  aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo\n"
                          "  pppp\n");
    free(buf);
}
END_TEST

Suite *print_suite(void) {
    Suite *s = suite_create("print");
    TCase *tc = tcase_create("matrix");
    tcase_add_test(tc, test_small_matrix);
    tcase_add_test(tc, test_elision);
    tcase_add_test(tc, test_labels);
    tcase_add_test(tc, test_color_shading_only_on_request);
    tcase_add_test(tc, test_wrapped);
    suite_add_tcase(s, tc);
    return s;
}
