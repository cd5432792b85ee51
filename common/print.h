/* print: how the chapters show their work on the terminal.
 *
 * print_matrix draws a matrix under a label with its shape, row and column labels (token strings
 * where there are tokens), right-aligned columns, -inf spelled out, and an exact 0 printed as "0" so
 * that a weight of exactly zero stands apart from one that merely rounds to 0.000. A matrix larger
 * than max_rows x max_cols shows its first and last rows and columns around a "..." line or column.
 * With color set, each finite cell is shaded by its value (ANSI 256-colour grey ramp). */
#ifndef PRINT_H
#define PRINT_H

#include <stdbool.h>
#include <stdio.h>

#include "tensor.h"

typedef struct {
    int precision;                  /* digits after the decimal point */
    int max_rows, max_cols;         /* beyond these the middle is elided; at least 2 each */
    bool color;                     /* ANSI heat shading */
    const char *const *row_labels;  /* one per row, or NULL for the row numbers */
    const char *const *col_labels;  /* one per column, or NULL for the column numbers */
} PrintOpts;

/* precision 3, at most 16 x 12 shown, no colour, numbered rows and columns. */
PrintOpts print_defaults(void);

/* Colour is used only when stdout is a terminal and the NO_COLOR variable is unset. */
bool print_color_wanted(void);

void print_matrix(FILE *f, const char *label, const Tensor *m, const PrintOpts *o);

/* A numbered section header: a rule, "N. title", a rule. */
void print_section(FILE *f, int number, const char *title);
/* Text wrapped at 78 columns, each line indented by `indent` spaces, then a newline. */
void print_wrapped(FILE *f, int indent, const char *text);

/* A blank line, then text wrapped at 78 columns and indented by 2: the "Notice: ..." after a step. */
void print_note(FILE *f, const char *text);

/* s, then spaces up to `width` terminal columns (printf's %-10s counts bytes, not columns). */
void print_padded(FILE *f, const char *s, int width);

/* Terminal columns that a UTF-8 string occupies (East Asian wide characters count 2). */
int print_display_width(const char *s);

/* ==== HTML mode (--html; docs/notebook.md) ====
 * print_html_begin sends everything the program writes to stdout from then on into a temporary
 * file, and at exit turns it into one self-contained HTML page on the real stdout: the functions
 * above then write markup (a section is a <section> with an <h2> and an <!--cell N--> comment where
 * tests/notebook puts the code that printed it; a matrix is a <table> shaded like the terminal; a
 * note is a call-out), every other line is escaped into <pre> blocks, and a line that starts with
 * "Notice:" opens a call-out too. plot_init calls it when --html is given; nothing else changes,
 * and without it the terminal output is the same bytes. title names the page. */
void print_html_begin(const char *title);
bool print_html_enabled(void);
/* HTML mode: a figure, shown as svg (a path, or NULL when there is none) with png as the fallback. */
void print_html_figure(FILE *f, const char *svg, const char *png, const char *caption);

#endif
