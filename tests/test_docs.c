/* The README and docs/: the README stays a table of contents (at most 15 KB), every relative link
 * in README.md and the pages under docs/ points at a file that exists, and each table is one block (a blank
 * line inside a Markdown table ends it, and the rows after it render as text). Run from the
 * repository root. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapter_run.h"
#include "tests.h"

static const char *const pages[] = {"README.md", "docs/model.md", "docs/checkpoint.md", "docs/ngram.md",
                                    "docs/results.md", "docs/performance.md"};
enum { N_PAGES = sizeof pages / sizeof pages[0] };

START_TEST(test_readme_size) {
    long len = 0;
    char *text = read_all("README.md", &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_msg(len <= 15 * 1024, "README.md is %ld bytes, more than 15 KB: move reference material to docs/", len);
    free(text);
}
END_TEST

/* Every link "](target)" that is not a URL or an anchor names a file, relative to the page. */
START_TEST(test_links_exist) {
    char *text = read_all(pages[_i], NULL);
    ck_assert_msg(text != NULL, "%s is missing", pages[_i]);
    const char *slash = strrchr(pages[_i], '/');
    const int dir_len = slash ? (int)(slash - pages[_i] + 1) : 0;
    for (const char *p = text; (p = strstr(p, "](")) != NULL; p++) {
        const char *start = p + 2, *end = strchr(start, ')');
        if (!end || strncmp(start, "http", 4) == 0 || *start == '#') continue;
        char path[512];
        snprintf(path, sizeof path, "%.*s%.*s", dir_len, pages[_i], (int)(end - start), start);
        char *hash = strchr(path, '#');
        if (hash) *hash = '\0';
        ck_assert_msg(access(path, F_OK) == 0, "%s links to %s, which does not exist", pages[_i], path);
    }
    free(text);
}
END_TEST

/* A table's rows follow one another: after a table row, a blank line and then another table row
 * means the table was cut in two. */
START_TEST(test_tables_whole) {
    char *text = read_all(pages[_i], NULL);
    ck_assert_ptr_nonnull(text);
    int line = 1;
    for (const char *p = text; *p; p++)
        if (*p == '\n') {
            line++;
            const bool row_ends = p > text && p[-1] == '|';
            ck_assert_msg(!(row_ends && p[1] == '\n' && p[2] == '|'), "%s: a blank line cuts a table at line %d",
                          pages[_i], line);
        }
    free(text);
}
END_TEST

Suite *docs_suite(void) {
    Suite *s = suite_create("docs");
    TCase *tc = tcase_create("pages");
    tcase_add_test(tc, test_readme_size);
    tcase_add_loop_test(tc, test_links_exist, 0, N_PAGES);
    tcase_add_loop_test(tc, test_tables_whole, 0, N_PAGES);
    suite_add_tcase(s, tc);
    return s;
}
