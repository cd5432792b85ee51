/* print: matrices, section headers and wrapped notes (see print.h). */
#include "print.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

PrintOpts print_defaults(void) {
    PrintOpts o = {.precision = 3, .max_rows = 16, .max_cols = 12, .color = false,
                   .row_labels = NULL, .col_labels = NULL};
    return o;
}

bool print_color_wanted(void) {
    const char *no_color = getenv("NO_COLOR");
    return isatty(STDOUT_FILENO) && !(no_color && *no_color);
}

/* ==== text widths ==== */

static bool is_wide(unsigned cp) {
    return (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
           (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
           (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
           (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x20000 && cp <= 0x3FFFD);
}

int print_display_width(const char *s) {
    int width = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned cp = *p;
        int extra = 0;
        if (cp >= 0xF0) { cp &= 0x07; extra = 3; }
        else if (cp >= 0xE0) { cp &= 0x0F; extra = 2; }
        else if (cp >= 0xC0) { cp &= 0x1F; extra = 1; }
        p++;
        for (int i = 0; i < extra && (*p & 0xC0) == 0x80; i++, p++) cp = (cp << 6) | (*p & 0x3F);
        width += is_wide(cp) ? 2 : 1;
    }
    return width;
}

static void pad(FILE *f, int n) {
    for (int i = 0; i < n; i++) fputc(' ', f);
}

/* ==== matrices ==== */

static void format_value(char *buf, size_t size, float v, int precision) {
    if (isnan(v)) snprintf(buf, size, "nan");
    else if (isinf(v)) snprintf(buf, size, v < 0 ? "-inf" : "inf");
    else if (v == 0.0f) snprintf(buf, size, "0");
    else snprintf(buf, size, "%.*f", precision, (double)v);
}

/* Which indices of 0..n-1 are shown: all, or the first and last `max / 2` (the gap marked by -1). */
static int shown_indices(int n, int max, int *idx) {
    if (n <= max) {
        for (int i = 0; i < n; i++) idx[i] = i;
        return n;
    }
    int half = max / 2, k = 0;
    for (int i = 0; i < half; i++) idx[k++] = i;
    idx[k++] = -1;
    for (int i = n - half; i < n; i++) idx[k++] = i;
    return k;
}

/* Shade 0..1 as a grey background (232 = black ... 255 = white), with a readable text colour. */
static void shade_on(FILE *f, double t) {
    int grey = 232 + (int)lround(t * 23.0);
    fprintf(f, "\x1b[48;5;%dm\x1b[38;5;%dm", grey, grey >= 244 ? 16 : 231);
}

/* The text of row or column i: its label, "..." for an elided stretch (i < 0), else its index
 * (written into buf). */
static const char *index_text(char *buf, size_t size, const char *const *labels, int i) {
    if (i < 0) return "...";
    if (labels) return labels[i];
    snprintf(buf, size, "%d", i);
    return buf;
}

/* What print_matrix lays out: the shown rows and columns (-1 for "..."), the widths of the label
 * column and of each shown column, and the range of the shown finite values (for shading). */
typedef struct {
    int *ri, *ci, nr, nc;
    int label_w, *col_w;
    double lo, hi;
} Layout;

static Layout layout_matrix(const Tensor *m, const PrintOpts *o) {
    Layout L = {0};
    char buf[64];
    L.ri = xmalloc(sizeof(int) * (size_t)(m->rows < o->max_rows ? m->rows : o->max_rows + 1));
    L.ci = xmalloc(sizeof(int) * (size_t)(m->cols < o->max_cols ? m->cols : o->max_cols + 1));
    L.nr = shown_indices(m->rows, o->max_rows, L.ri);
    L.nc = shown_indices(m->cols, o->max_cols, L.ci);
    L.label_w = 3; /* room for "..." */
    for (int k = 0; k < L.nr; k++) {
        const int w = print_display_width(index_text(buf, sizeof buf, o->row_labels, L.ri[k]));
        if (L.ri[k] >= 0 && w > L.label_w) L.label_w = w;
    }
    L.col_w = xmalloc(sizeof(int) * (size_t)L.nc);
    L.lo = INFINITY, L.hi = -INFINITY;
    for (int j = 0; j < L.nc; j++) {
        const int c = L.ci[j];
        L.col_w[j] = 3;
        if (c < 0) continue;
        int w = print_display_width(index_text(buf, sizeof buf, o->col_labels, c));
        if (w > L.col_w[j]) L.col_w[j] = w;
        for (int k = 0; k < L.nr; k++) {
            if (L.ri[k] < 0) continue;
            const float v = *tensor_at(m, L.ri[k], c);
            w = (int)strlen((format_value(buf, sizeof buf, v, o->precision), buf));
            if (w > L.col_w[j]) L.col_w[j] = w;
            if (isfinite(v)) L.lo = v < L.lo ? v : L.lo, L.hi = v > L.hi ? v : L.hi;
        }
    }
    return L;
}

/* Row k of the layout: its label, then each shown value right-aligned in its column. */
static void print_row(FILE *f, const Layout *L, int k, const Tensor *m, const PrintOpts *o) {
    char buf[64];
    const char *s = index_text(buf, sizeof buf, o->row_labels, L->ri[k]);
    fputs(s, f);
    pad(f, L->label_w - print_display_width(s));
    for (int j = 0; j < L->nc; j++) {
        if (L->ri[k] < 0 || L->ci[j] < 0) {
            pad(f, 2 + L->col_w[j] - 3);
            fputs("...", f);
            continue;
        }
        const float v = *tensor_at(m, L->ri[k], L->ci[j]);
        format_value(buf, sizeof buf, v, o->precision);
        pad(f, 2);
        const bool shaded = o->color && isfinite(v);
        if (shaded) shade_on(f, L->hi > L->lo ? ((double)v - L->lo) / (L->hi - L->lo) : 0.5);
        pad(f, L->col_w[j] - (int)strlen(buf));
        fputs(buf, f);
        if (shaded) fputs("\x1b[0m", f);
    }
    fputc('\n', f);
}

void print_matrix(FILE *f, const char *label, const Tensor *m, const PrintOpts *o) {
    CHECK(o->max_rows >= 2 && o->max_cols >= 2, "print_matrix: max_rows and max_cols must be >= 2");
    Layout L = layout_matrix(m, o);
    char buf[64];
    fprintf(f, "%s  (%d x %d)\n", label, m->rows, m->cols);
    pad(f, L.label_w);
    for (int j = 0; j < L.nc; j++) { /* the column labels */
        const char *s = index_text(buf, sizeof buf, o->col_labels, L.ci[j]);
        pad(f, 2 + L.col_w[j] - print_display_width(s));
        fputs(s, f);
    }
    fputc('\n', f);
    for (int k = 0; k < L.nr; k++) print_row(f, &L, k, m, o);
    free(L.col_w), free(L.ri), free(L.ci);
}

/* ==== prose ==== */

void print_section(FILE *f, int number, const char *title) {
    static const char rule[] =
        "------------------------------------------------------------------------------";
    fprintf(f, "\n%s\n%d. %s\n%s\n", rule, number, title, rule);
}

void print_wrapped(FILE *f, int indent, const char *text) {
    const int width = 78;
    int col = 0;
    const char *p = text;
    while (*p) {
        if (*p == '\n') { /* an explicit line break */
            fputc('\n', f);
            col = 0;
            p++;
            continue;
        }
        if (*p == ' ') {
            p++;
            continue;
        }
        size_t len = strcspn(p, " \n");
        char word[256];
        size_t n = len < sizeof word - 1 ? len : sizeof word - 1;
        memcpy(word, p, n);
        word[n] = '\0';
        int w = print_display_width(word);
        if (col > 0 && col + 1 + w > width) {
            fputc('\n', f);
            col = 0;
        }
        if (col == 0) {
            pad(f, indent);
            col = indent;
        } else {
            fputc(' ', f);
            col++;
        }
        fwrite(p, 1, len, f);
        col += w;
        p += len;
    }
    if (col > 0) fputc('\n', f);
}

void print_note(FILE *f, const char *text) {
    fputc('\n', f);
    print_wrapped(f, 2, text);
}

void print_padded(FILE *f, const char *s, int width) {
    fputs(s, f);
    pad(f, width - print_display_width(s));
}
