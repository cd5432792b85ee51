/* Reading a chapter's output back: its sections, the numbers on a labelled line, a wrapped paragraph
 * as one line, and the files its figures left. Used by the tests that check a printed line against
 * the numbers it summarises (tests/test_chNN.c, tests/test_figures.c). Each fails the test (Check)
 * when what it looks for is missing. */
#ifndef READBACK_H
#define READBACK_H

#include <check.h>

/* The start of section n's header line ("\nN. ") in out. */
const char *section_start(const char *out, int n);

/* The numbers on the line that starts with `key` (after spaces) following `label` in s; returns how
 * many it read (at most max). */
int numbers_after(const char *s, const char *label, const char *key, double *v, int max);

/* A copy of the paragraph that starts at s (up to a blank line; the caller frees) with every run of
 * spaces and line breaks made one space: a wrapped paragraph as one line. */
char *flatten(const char *s);

/* The text of <dir>/<chapter>/<file> (the caller frees), NUL-terminated. */
char *figure_file(const char *dir, const char *chapter, const char *file);

/* How many times needle occurs in s. */
int count_of(const char *s, const char *needle);

#endif
