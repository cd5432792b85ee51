/* Reading numbers and paragraphs back from a chapter's output and its figure scripts (readback.h). */
#include "readback.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chapter_run.h"

/* The start of section n's header line ("\nN. ") in out; fails the test when there is none. */
const char *section_start(const char *out, int n) {
    char head[16];
    snprintf(head, sizeof head, "\n%d. ", n);
    const char *p = strstr(out, head);
    ck_assert_msg(p != NULL, "no section %d in the output", n);
    return p + 1;
}

/* The numbers on the line that starts with `key` (after spaces) following `label` in s; returns how
 * many it read (at most max). */
int numbers_after(const char *s, const char *label, const char *key, double *v, int max) {
    const char *p = strstr(s, label);
    ck_assert_msg(p != NULL, "no \"%s\" in the output", label);
    p = strstr(p + strlen(label), key);
    ck_assert_msg(p != NULL, "no \"%s\" after \"%s\"", key, label);
    p += strlen(key);
    int n = 0;
    for (char *end; n < max; p = end) {
        while (*p == ' ') p++;
        if (*p == '\n' || !*p) break;
        v[n] = strtod(p, &end);
        if (end == p) break;
        n++;
    }
    return n;
}

/* A copy of the paragraph that starts at s (up to a blank line; the caller frees) with every run of
 * spaces and line breaks made one space: a wrapped paragraph as one line. */
char *flatten(const char *s) {
    ck_assert_ptr_nonnull(s);
    char *flat = malloc(strlen(s) + 1), *d = flat;
    ck_assert_ptr_nonnull(flat);
    for (; *s && !(s[0] == '\n' && s[1] == '\n'); s++) {
        const bool space = *s == ' ' || *s == '\n';
        if (space && d > flat && d[-1] == ' ') continue;
        *d++ = space ? ' ' : *s;
    }
    *d = '\0';
    return flat;
}

/* The text of <dir>/<chapter>/<file> (the caller frees), NUL-terminated. */
char *figure_file(const char *dir, const char *chapter, const char *file) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s/%s", dir, chapter, file);
    char *text = read_all(path, NULL);
    ck_assert_msg(text != NULL, "no %s", path);
    return text;
}

int count_of(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p++) n++;
    return n;
}
