/* Running a chapter binary from a test, as a reader would, and reading what it printed.
 * Shared by tests/test_chapters.c (every chapter at once) and tests/test_chNN.c (one chapter each).
 * The binaries are where make put them: $NOTEBOOK_BINDIR, else the current folder (the repository
 * root, from which the runner is started). */
#ifndef CHAPTER_RUN_H
#define CHAPTER_RUN_H

#include <stdbool.h>
#include <sys/types.h>

#include <check.h>

typedef struct {
    int status; /* exit status, or 128 + signal */
    char *out, *err;
} Run;

/* A bad command line and the text its one-line message must contain. */
typedef struct {
    const char *args[3];
    const char *message;
} Bad;

/* Run ./<program> with the given arguments (NULL-terminated, NULL for none), capturing both
 * outputs; run_free releases them. */
Run run(const char *program, const char *const *args);
void run_free(Run *r);

/* Run <chapter> with its quick flags (quick_args), then --no-plot, then `extra` (NULL-terminated). */
Run run_quick(const char *chapter, const char *const *extra);

/* Flags that keep the training chapters short where a test does not need their defaults
 * (NULL-terminated; NULL for a chapter that is quick already). */
const char *const *quick_args(const char *chapter);

/* <chapter> with b's arguments: exit 2, stdout empty, one line on stderr that starts with the
 * chapter's name and contains b->message. */
void check_bad(const char *chapter, const Bad *b);

/* Start ./<program> with stdout and stderr going to files; returns its pid. */
pid_t spawn(const char *program, const char *const *args, const char *out, const char *err);

/* The value after "\n<key>: " in a chapter's key: value summary (the test fails if there is none). */
double summary_value(const char *out, const char *key);

int count_lines(const char *s);
/* The whole file (NUL-terminated, *len bytes when len is not NULL), or NULL if it cannot be opened. */
char *read_all(const char *path, long *len);
void write_file(const char *path, const char *data, long len);
/* Remove a test's temporary folder and everything in it (made readable first). */
void remove_dir(const char *dir);
void sleep_ms(int ms);

/* <chapter> with args: exit 0, every string of must (NULL-terminated) in its output, no "MISMATCH". */
void check_prints(const char *chapter, const char *const *args, const char *const *must);

/* What every chapter must do (tests/test_chapters.c), added to a chapter's own test case: its
 * default run, the same bytes for the same flags, --help, the shared bad arguments, the bad-input
 * matrix. Also sets the case's timeout for whole programs. */
void every_chapter_tests(TCase *tc, const char *chapter);

/* The attention chapters' bad arguments (tests/test_ch03.c), shared by chapters 3 and 4. */
extern const Bad bad_attention[];
extern const int n_bad_attention;

#endif
