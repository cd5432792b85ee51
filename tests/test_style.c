/* The house's shape, measured (issue 17): no function in common/ over 60 lines, and every
 * chapter's main at most 60 lines, a table of contents that calls the numbered sections.
 *
 * A function's length counts the lines from its opening brace to its closing brace, both
 * included (the signature's line, when the brace ends it, as house style writes it). Comments,
 * string and character literals are blanked first, so that a brace inside them is not counted; a
 * brace at the top level opens a function when the last thing before it is the ')' of a parameter
 * list (a struct, an enum or an initialiser's brace follows a name or '='). Run from the
 * repository root. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chapter_run.h"
#include "tests.h"

enum { MAX_LINES = 60, NAME_LEN = 64 };

/* Every comment, string and character literal of s replaced by spaces, newlines kept. In place. */
static void blank_comments(char *s) {
    for (char *p = s; *p;) {
        if (p[0] == '/' && p[1] == '*') {
            char *end = strstr(p + 2, "*/");
            end = end ? end + 2 : p + strlen(p);
            for (; p < end; p++)
                if (*p != '\n') *p = ' ';
        } else if (p[0] == '/' && p[1] == '/') {
            for (; *p && *p != '\n'; p++) *p = ' ';
        } else if (*p == '"' || *p == '\'') {
            const char quote = *p++;
            for (; *p && *p != quote && *p != '\n'; p++) {
                if (*p == '\\' && p[1]) *p++ = ' ';
                *p = ' ';
            }
            if (*p == quote) p++;
        } else {
            p++;
        }
    }
}

typedef struct {
    char name[NAME_LEN];
    int first, lines; /* the line of the opening brace (from 1), and the length */
} Function;

/* The name before the parameter list that ends just before `close` (a ')'), or "" if none. */
static void function_name(const char *text, const char *close, char name[NAME_LEN]) {
    int depth = 0;
    const char *p = close;
    for (; p > text; p--) {
        if (*p == ')') depth++;
        if (*p == '(' && --depth == 0) break;
    }
    while (p > text && (p[-1] == ' ' || p[-1] == '\n' || p[-1] == '\t')) p--;
    const char *end = p;
    while (p > text && (p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z') || (p[-1] >= 'A' && p[-1] <= 'Z') ||
                        (p[-1] >= '0' && p[-1] <= '9')))
        p--;
    snprintf(name, NAME_LEN, "%.*s", (int)(end - p), p);
}

/* The top-level functions of a blanked text, into out (at most max); returns how many. */
static int find_functions(const char *text, Function *out, int max) {
    int n = 0, depth = 0, line = 1;
    for (const char *p = text; *p; p++) {
        if (*p == '\n') line++;
        if (*p == '#' && depth == 0) /* a directive, continued lines too: a macro's braces are not functions */
            while (p[1] && !(p[1] == '\n' && p[0] != '\\'))
                if (*++p == '\n') line++;
        if (*p == '{' && depth++ == 0) {
            const char *q = p;
            while (q > text && (q[-1] == ' ' || q[-1] == '\n' || q[-1] == '\t')) q--;
            if (q > text && q[-1] == ')' && n < max) {
                function_name(text, q - 1, out[n].name);
                out[n].first = line, out[n].lines = -1;
                n++;
            }
        } else if (*p == '}' && --depth == 0 && n > 0 && out[n - 1].lines < 0) {
            out[n - 1].lines = line - out[n - 1].first + 1;
        }
    }
    return n;
}

/* The functions of a file, read and blanked; returns how many (0 if unreadable). */
static int file_functions(const char *path, Function *out, int max) {
    char *text = read_all(path, NULL);
    ck_assert_msg(text != NULL, "cannot read %s (run from the repository root)", path);
    blank_comments(text);
    const int n = find_functions(text, out, max);
    free(text);
    return n;
}

/* The measure itself, on a text whose answer is known: braces in a comment, a string and a
 * character are not counted, a struct and an initialiser are not functions. */
START_TEST(test_measure_by_hand) {
    char text[] = "struct S { int a; };\n"                      /* 1 */
                  "static const int t[] = {1, 2};\n"            /* 2 */
                  "static int f(int x) { /* { */\n"             /* 3: f opens */
                  "    const char *s = \"}}\"; char c = '{';\n" /* 4 */
                  "    if (x) { return 1; }\n"                  /* 5 */
                  "    return s[0] + c; // }\n"                 /* 6 */
                  "}\n"                                         /* 7: f closes, 5 lines */
                  "int main(void)\n"                            /* 8 */
                  "{\n"                                         /* 9: main opens */
                  "    return f(0);\n"                          /* 10 */
                  "}\n";                                        /* 11: 3 lines */
    blank_comments(text);
    Function fn[4];
    ck_assert_int_eq(find_functions(text, fn, 4), 2);
    ck_assert_str_eq(fn[0].name, "f");
    ck_assert_int_eq(fn[0].first, 3);
    ck_assert_int_eq(fn[0].lines, 5);
    ck_assert_str_eq(fn[1].name, "main");
    ck_assert_int_eq(fn[1].lines, 3);
}
END_TEST

enum { MAX_FUNCTIONS = 512 };

START_TEST(test_common_functions_short) {
    DIR *d = opendir("common");
    ck_assert_msg(d != NULL, "no common/ (run from the repository root)");
    Function *fn = malloc(sizeof(Function) * MAX_FUNCTIONS);
    int total = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        const size_t len = strlen(e->d_name);
        if (len < 3 || e->d_name[len - 2] != '.' || (e->d_name[len - 1] != 'c' && e->d_name[len - 1] != 'h')) continue;
        char path[300];
        snprintf(path, sizeof path, "common/%s", e->d_name);
        const int n = file_functions(path, fn, MAX_FUNCTIONS);
        ck_assert_msg(n < MAX_FUNCTIONS, "%s: more functions than this test counts", path);
        for (int i = 0; i < n; i++)
            ck_assert_msg(fn[i].lines <= MAX_LINES, "%s:%d: %s is %d lines, more than %d: split it by idea", path,
                          fn[i].first, fn[i].name, fn[i].lines, MAX_LINES);
        total += n;
    }
    closedir(d);
    free(fn);
    ck_assert_msg(total > 100, "only %d functions found in common/: the measure is broken", total);
}
END_TEST

START_TEST(test_chapter_mains_short) {
    DIR *d = opendir("chapters");
    ck_assert_msg(d != NULL, "no chapters/ (run from the repository root)");
    Function *fn = malloc(sizeof(Function) * MAX_FUNCTIONS);
    int chapters = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strncmp(e->d_name, "ch", 2) != 0) continue;
        char path[600];
        snprintf(path, sizeof path, "chapters/%s/%s.c", e->d_name, e->d_name);
        const int n = file_functions(path, fn, MAX_FUNCTIONS);
        int mains = 0;
        for (int i = 0; i < n; i++) {
            if (strcmp(fn[i].name, "main") != 0) continue;
            mains++;
            ck_assert_msg(fn[i].lines <= MAX_LINES, "%s:%d: main is %d lines, more than %d: move its work into sections",
                          path, fn[i].first, fn[i].lines, MAX_LINES);
        }
        ck_assert_msg(mains == 1, "%s: %d functions named main found", path, mains);
        chapters++;
    }
    closedir(d);
    free(fn);
    ck_assert_msg(chapters >= 15, "only %d chapters found", chapters);
}
END_TEST

Suite *style_suite(void) {
    Suite *s = suite_create("style");
    TCase *tc = tcase_create("lengths");
    tcase_add_test(tc, test_measure_by_hand);
    tcase_add_test(tc, test_common_functions_short);
    tcase_add_test(tc, test_chapter_mains_short);
    suite_add_tcase(s, tc);
    return s;
}
