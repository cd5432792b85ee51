/* The README and docs/: the README stays a table of contents (at most 15 KB), every relative link
 * in README.md and every page under docs/ points at a file that exists, and each table is one block
 * (a blank line inside a Markdown table ends it, and the rows after it render as text). Run from
 * the repository root. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapter_run.h"
#include "tests.h"

enum { MAX_PAGES = 64, PAGE_NAME = 264 }; /* "docs/", a file name (at most 255 bytes), the NUL */

static int by_name(const void *a, const void *b) { return strcmp(a, b); }

/* README.md, then every page docs/NAME.md in name order; returns how many. A page added to docs/ is
 * checked without a change here. */
static int list_pages(char pages[MAX_PAGES][PAGE_NAME]) {
    int n = 0;
    snprintf(pages[n++], PAGE_NAME, "README.md");
    DIR *d = opendir("docs");
    ck_assert_msg(d != NULL, "no docs/ directory (run from the repository root)");
    const int first = n;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        const size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 3, ".md") != 0) continue;
        ck_assert_msg(n < MAX_PAGES && len + 6 < PAGE_NAME, "too many pages, or docs/%s too long a name", e->d_name);
        snprintf(pages[n++], PAGE_NAME, "docs/%s", e->d_name);
    }
    closedir(d);
    qsort(pages[first], (size_t)(n - first), PAGE_NAME, by_name);
    return n;
}

/* The list holds the pages the README's links name: a listing that found nothing would make the
 * checks below pass by checking nothing. */
START_TEST(test_pages_found) {
    char pages[MAX_PAGES][PAGE_NAME];
    const int n = list_pages(pages);
    const char *const must[] = {"docs/model.md", "docs/checkpoint.md", "docs/ngram.md", "docs/results.md",
                                "docs/performance.md"};
    for (size_t m = 0; m < sizeof must / sizeof must[0]; m++) {
        bool found = false;
        for (int i = 0; i < n; i++) found |= strcmp(pages[i], must[m]) == 0;
        ck_assert_msg(found, "%s was not listed", must[m]);
    }
}
END_TEST

START_TEST(test_readme_size) {
    long len = 0;
    char *text = read_all("README.md", &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_msg(len <= 15 * 1024, "README.md is %ld bytes, more than 15 KB: move reference material to docs/", len);
    free(text);
}
END_TEST

/* Every link "](target)" that is not a URL or an anchor names a file, relative to the page. */
static void check_links(const char *page) {
    char *text = read_all(page, NULL);
    ck_assert_msg(text != NULL, "%s is missing", page);
    const char *slash = strrchr(page, '/');
    const int dir_len = slash ? (int)(slash - page + 1) : 0;
    for (const char *p = text; (p = strstr(p, "](")) != NULL; p++) {
        const char *start = p + 2, *end = strchr(start, ')');
        if (!end || strncmp(start, "http", 4) == 0 || *start == '#') continue;
        char path[512];
        snprintf(path, sizeof path, "%.*s%.*s", dir_len, page, (int)(end - start), start);
        char *hash = strchr(path, '#');
        if (hash) *hash = '\0';
        ck_assert_msg(access(path, F_OK) == 0, "%s links to %s, which does not exist", page, path);
    }
    free(text);
}

START_TEST(test_links_exist) {
    char pages[MAX_PAGES][PAGE_NAME];
    const int n = list_pages(pages);
    for (int i = 0; i < n; i++) check_links(pages[i]);
}
END_TEST

/* A table's rows follow one another: after a table row, a blank line and then another table row
 * means the table was cut in two. */
static void check_tables(const char *page) {
    char *text = read_all(page, NULL);
    ck_assert_msg(text != NULL, "%s is missing", page);
    int line = 1;
    for (const char *p = text; *p; p++)
        if (*p == '\n') {
            line++;
            const bool row_ends = p > text && p[-1] == '|';
            ck_assert_msg(!(row_ends && p[1] == '\n' && p[2] == '|'), "%s: a blank line cuts a table at line %d",
                          page, line);
        }
    free(text);
}

START_TEST(test_tables_whole) {
    char pages[MAX_PAGES][PAGE_NAME];
    const int n = list_pages(pages);
    for (int i = 0; i < n; i++) check_tables(pages[i]);
}
END_TEST

Suite *docs_suite(void) {
    Suite *s = suite_create("docs");
    TCase *tc = tcase_create("pages");
    tcase_add_test(tc, test_readme_size);
    tcase_add_test(tc, test_pages_found);
    tcase_add_test(tc, test_links_exist);
    tcase_add_test(tc, test_tables_whole);
    suite_add_tcase(s, tc);
    return s;
}
