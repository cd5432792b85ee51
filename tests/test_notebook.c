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

/* The page as its reader sees the chapter's output: no style, no code cells (their source holds
 * numbers of its own), every tag a space. */
static char *output_text(const char *page) {
    char *text = malloc(strlen(page) + 1);
    ck_assert_ptr_nonnull(text);
    size_t k = 0;
    for (const char *p = page; *p;) {
        const char *end = NULL;
        if (strncmp(p, "<style>", 7) == 0) end = strstr(p, "</style>");
        else if (strncmp(p, "<details", 8) == 0) end = strstr(p, "</details>");
        else if (*p == '<') end = p;
        if (!end) {
            text[k++] = *p++;
            continue;
        }
        p = strchr(end, '>');
        ck_assert_ptr_nonnull(p);
        p++;
        text[k++] = ' ';
    }
    text[k] = '\0';
    return text;
}

/* The next place at or after from where number stands whole (no digit just before or after it), or
 * NULL. */
static const char *find_number(const char *from, const char *number) {
    const size_t n = strlen(number);
    for (const char *p = strstr(from, number); p; p = strstr(p + 1, number)) {
        const bool alone_before = p == from || !isdigit((unsigned char)p[-1]);
        if (alone_before && !isdigit((unsigned char)p[n])) return p;
    }
    return NULL;
}

/* Each number of the terminal run (a run of digits, with its point, fraction and exponent) is in
 * the page's output text, whole, and in the same order. */
static void check_numbers(const char *terminal, const char *page, const char *name) {
    char *text = output_text(page);
    const char *at = text;
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
        const char *found = find_number(at, number);
        ck_assert_msg(found, "%s: the terminal prints %s (its number %d), the page's output does not after %.60s",
                      name, number, numbers + 1, at);
        at = found + strlen(number);
        numbers++;
        p += n;
    }
    ck_assert_msg(numbers > 20, "%s: only %d numbers printed", name, numbers);
    free(text);
}

START_TEST(test_notebook_pages) {
    char dir[] = "/tmp/llm-notebook-web-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    /* the binaries through a folder of links without chapter 14's: its row must say why it has no
     * page, as on a machine without MPI (and the index takes its style from the first page made) */
    const char *bindir = getenv("NOTEBOOK_BINDIR");
    const char *bin = bindir && *bindir ? bindir : ".";
    char cmd[9000], real[4096] = ""; /* real: bin from the root, for the links */
    if (bin[0] != '/') ck_assert_ptr_nonnull(getcwd(real, sizeof real - 1));
    const size_t at = strlen(real);
    snprintf(real + at, sizeof real - at, "%s%s", at ? "/" : "", bin);
    snprintf(cmd, sizeof cmd, "mkdir %s/bin && ln -s %s/%s %s/%s %s/bin/", dir, real, chapters[0], real, chapters[1],
             dir);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
    /* links planted where the pages go (and where an older script put its temporary file) must be
     * replaced, never written through: the file they point at keeps its bytes */
    snprintf(cmd, sizeof cmd, "printf keep > %s/victim && ln -s %s/victim %s/%s.html && ln -s %s/victim %s/%s.html.tmp",
             dir, dir, dir, chapters[0], dir, dir, chapters[0]);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
    snprintf(cmd, sizeof cmd, "sh tests/notebook/make-notebook.sh %s %s/bin ch14_data_parallel %s %s 2> %s/log", dir,
             dir, chapters[0], chapters[1], dir);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
    char victim[600];
    snprintf(victim, sizeof victim, "%s/victim", dir);
    long vlen = 0;
    char *kept = read_all(victim, &vlen);
    ck_assert_msg(kept && vlen == 4 && memcmp(kept, "keep", 4) == 0, "the page was written through a planted link");
    free(kept);
    struct stat st;
    snprintf(victim, sizeof victim, "%s/%s.html", dir, chapters[0]);
    ck_assert_msg(lstat(victim, &st) == 0 && S_ISREG(st.st_mode), "%s is not a file of its own", victim);
    /* and no temporary file is left behind */
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s | grep '^\\.')\"", dir);
    ck_assert_msg(system(cmd) == 0, "a temporary file was left in %s", dir);

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
            ck_assert_ptr_nonnull(strstr(page, "<tr><td>ch14_data_parallel</td>"));
            ck_assert_ptr_nonnull(strstr(page, "not on this notebook: it runs on MPI"));
            ck_assert_ptr_null(strstr(page, "href=\"ch14_data_parallel.html\""));
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

/* A code cell is the function that printed its section: by number and title when two functions
 * print the same number (chapter 12's two tasks), by title when the number is a variable (chapter
 * 9's encoder sections). */
START_TEST(test_code_cell_is_the_printing_function) {
    char dir[] = "/tmp/llm-notebook-cells-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    static const char source[] =
        "static void task_of_files(void) {\n    print_section(stdout, 1, \"The task: which file?\");\n}\n\n"
        "/* the default task */\nstatic void task_of_grammar(void) {\n"
        "    print_section(stdout, 1, \"The task: is it grammatical?\");\n}\n\n"
        "static void encoder(int section, int post) {\n"
        "    print_section(stdout, section, post ? \"Encoder block, post-norm\"\n"
        "                                        : \"Encoder block, pre-norm\");\n}\n";
    static const char page[] = "<section id=\"s1\"><h2>1. The task: is it grammatical?</h2><!--cell 1-->\n"
                               "</section><section id=\"s2\"><h2>2. Encoder block, post-norm</h2><!--cell 2-->\n"
                               "</section><section id=\"s3\"><h2>3. Encoder block, pre-norm</h2><!--cell 3-->\n";
    char src[128], in[128], out[128], cmd[600];
    snprintf(src, sizeof src, "%s/ch.c", dir), snprintf(in, sizeof in, "%s/in.html", dir);
    snprintf(out, sizeof out, "%s/out.html", dir);
    write_file(src, source, (long)strlen(source));
    write_file(in, page, (long)strlen(page));
    snprintf(cmd, sizeof cmd, "awk -v link=ch.c -v prefix=x/ -v src=ch.c -f tests/notebook/cells.awk %s - < %s > %s",
             src, in, out);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
    long len = 0;
    char *cells = read_all(out, &len);
    ck_assert_ptr_nonnull(cells);
    ck_assert_int_eq(count(cells, "<details class=\"cell\">"), 3);
    ck_assert_ptr_null(strstr(cells, "task_of_files"));
    ck_assert_ptr_nonnull(strstr(cells, "<code>task_of_grammar</code>, <a href=\"ch.c\">ch.c:6</a>"));
    ck_assert_ptr_nonnull(strstr(cells, "/* the default task */\nstatic void task_of_grammar"));
    ck_assert_int_eq(count(cells, "<code>encoder</code>, <a href=\"ch.c\">ch.c:10</a>"), 2);
    free(cells);
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
    tcase_add_test(tc, test_code_cell_is_the_printing_function);
    tcase_add_test(tc, test_terminal_has_no_markup);
    suite_add_tcase(s, tc);
    return s;
}
