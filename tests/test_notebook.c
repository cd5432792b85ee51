/* The notebook as a web page (tests/notebook/make-notebook.sh, --html in common/print.c and plot.c):
 * built for two quick chapters into a temporary folder, then every page checked: every tag closed
 * in order, every file it points at present, nothing fetched from the network, under 2 MB, a code
 * cell for every section, and every number the chapter prints on the terminal somewhere on its page. */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chapter_run.h"
#include "tests.h"

static const char *const chapters[] = {"ch04_masked_attention", "ch07_layer_norm"};
enum { N_CHAPTERS = 2, MAX_DEPTH = 256 };

static bool is_void(const char *name, size_t n) {
    static const char *const v[] = {"meta", "link", "img", "br", "source", "hr", "input", "wbr"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (strlen(v[i]) == n && strncmp(v[i], name, n) == 0) return true;
    return false;
}

/* Every element closed, in order: NULL when the page is well-formed, else what is wrong. */
static const char *tag_balance(const char *page, char *why, size_t size) {
    const char *stack[MAX_DEPTH];
    size_t len[MAX_DEPTH];
    int depth = 0;
    for (const char *p = strchr(page, '<'); p; p = strchr(p + 1, '<')) {
        if (strncmp(p, "<!--", 4) == 0) {
            p = strstr(p, "-->");
            if (!p) return "a comment is not closed";
            continue;
        }
        if (p[1] == '!') continue; /* <!DOCTYPE html> */
        bool closing = p[1] == '/';
        const char *name = p + 1 + closing;
        size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789");
        if (n == 0) {
            snprintf(why, size, "a bare '<' at byte %ld", (long)(p - page));
            return why;
        }
        if (!strchr(name + n, '>')) return "a tag is not closed by '>'";
        if (closing) {
            if (depth == 0 || len[depth - 1] != n || strncmp(stack[depth - 1], name, n) != 0) {
                snprintf(why, size, "</%.*s> at byte %ld closes <%.*s>", (int)n, name, (long)(p - page),
                         depth ? (int)len[depth - 1] : 0, depth ? stack[depth - 1] : "");
                return why;
            }
            depth--;
        } else if (!is_void(name, n)) {
            if (depth == MAX_DEPTH) return "elements nested too deep";
            stack[depth] = name;
            len[depth++] = n;
        }
    }
    if (depth) {
        snprintf(why, size, "<%.*s> is never closed", (int)len[depth - 1], stack[depth - 1]);
        return why;
    }
    return NULL;
}

/* Every src, srcset and href names a file under dir (or a place on the page); none is on the web. */
static void check_references(const char *dir, const char *page, const char *name) {
    static const char *const attrs[] = {" src=\"", " srcset=\"", " href=\""};
    int checked = 0;
    for (int a = 0; a < 3; a++) {
        for (const char *p = strstr(page, attrs[a]); p; p = strstr(p + 1, attrs[a])) {
            const char *v = p + strlen(attrs[a]);
            size_t n = strcspn(v, "\"#");
            ck_assert_msg(strncmp(v, "http", 4) != 0 && strncmp(v, "//", 2) != 0, "%s: %.*s is on the network",
                          name, (int)n, v);
            if (n == 0) continue;
            char path[2048];
            snprintf(path, sizeof path, "%s/%.*s", dir, (int)n, v);
            struct stat st;
            ck_assert_msg(stat(path, &st) == 0 && st.st_size > 0, "%s points at %s, which is missing or empty",
                          name, path);
            checked++;
        }
    }
    ck_assert_msg(checked > 0, "%s points at nothing", name);
    ck_assert_msg(!strstr(page, "<script") && !strstr(page, "@import") && !strstr(page, "url("),
                  "%s loads a script or a style", name);
}

static int count(const char *s, const char *what) {
    int n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what)) n++;
    return n;
}

/* Each number of the terminal run (a run of digits, with its point, fraction and exponent) is on
 * the page. */
static void check_numbers(const char *terminal, const char *page, const char *name) {
    int numbers = 0;
    for (const char *p = terminal; *p;) {
        if (!isdigit((unsigned char)*p)) {
            p++;
            continue;
        }
        size_t n = strspn(p, "0123456789.");
        if ((p[n] == 'e' || p[n] == 'E') && (p[n + 1] == '-' || p[n + 1] == '+') && isdigit((unsigned char)p[n + 2]))
            n += 2 + strspn(p + n + 2, "0123456789");
        while (n > 1 && p[n - 1] == '.') n--;
        char number[64];
        snprintf(number, sizeof number, "%.*s", (int)(n < 63 ? n : 63), p);
        ck_assert_msg(strstr(page, number), "%s: the terminal prints %s, the page does not", name, number);
        numbers++;
        p += n;
    }
    ck_assert_msg(numbers > 20, "%s: only %d numbers printed", name, numbers);
}

START_TEST(test_notebook_pages) {
    char dir[] = "/tmp/llm-notebook-web-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    const char *bindir = getenv("NOTEBOOK_BINDIR");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sh tests/notebook/make-notebook.sh %s %s %s %s 2> %s/log", dir,
             bindir && *bindir ? bindir : ".", chapters[0], chapters[1], dir);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);

    char path[600], why[200];
    for (int i = -1; i < N_CHAPTERS; i++) {
        const char *name = i < 0 ? "index" : chapters[i];
        snprintf(path, sizeof path, "%s/%s.html", dir, name);
        long len = 0;
        char *page = read_all(path, &len);
        ck_assert_msg(page != NULL, "%s was not written", path);
        ck_assert_msg(len < 2 * 1024 * 1024, "%s is %ld bytes, over 2 MB", path, len);
        ck_assert_msg(strncmp(page, "<!DOCTYPE html>", 15) == 0, "%s has no doctype", path);
        const char *bad = tag_balance(page, why, sizeof why);
        ck_assert_msg(bad == NULL, "%s: %s", path, bad);
        check_references(dir, page, path);
        ck_assert_ptr_nonnull(strstr(page, "prefers-color-scheme:dark"));
        ck_assert_ptr_nonnull(strstr(page, "@media print"));
        if (i < 0) {
            for (int c = 0; c < N_CHAPTERS; c++) {
                snprintf(path, sizeof path, "href=\"%s.html\"", chapters[c]);
                ck_assert_msg(strstr(page, path), "the index has no link to %s", chapters[c]);
            }
        } else {
            /* a code cell for every section, with the function that printed it */
            int sections = count(page, "<h2>"), cells = count(page, "<details class=\"cell\">");
            ck_assert_msg(sections >= 5 && cells == sections, "%s: %d sections, %d code cells", name, sections,
                          cells);
            ck_assert_ptr_nonnull(strstr(page, "print_section(stdout, 1,"));
            ck_assert_ptr_nonnull(strstr(page, "<table class=\"matrix\">"));
            ck_assert_ptr_nonnull(strstr(page, "<p class=\"note\">Notice:"));
            ck_assert_ptr_nonnull(strstr(page, "style=\"background:#"));
            Run r = run(chapters[i], (const char *[]){"--no-plot", NULL});
            ck_assert_int_eq(r.status, 0);
            check_numbers(r.out, page, name);
            run_free(&r);
        }
        free(page);
    }
    remove_dir(dir);
}
END_TEST

/* Without --html nothing of the page leaks into the terminal output. */
START_TEST(test_terminal_has_no_markup) {
    Run r = run("ch07_layer_norm", (const char *[]){"--no-plot", NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_null(strchr(r.out, '\x01'));
    ck_assert_ptr_null(strstr(r.out, "<h2>"));
    ck_assert_ptr_null(strstr(r.out, "<table"));
    run_free(&r);
}
END_TEST

Suite *notebook_suite(void) {
    Suite *s = suite_create("notebook");
    TCase *tc = tcase_create("pages");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_notebook_pages);
    tcase_add_test(tc, test_terminal_has_no_markup);
    suite_add_tcase(s, tc);
    return s;
}
