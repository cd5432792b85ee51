/* print: matrices, section headers and wrapped notes (see print.h). */
#include "print.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* HTML mode (print_html_begin, at the end): a line of stdout that starts with this byte is markup,
 * copied to the page as is; every other line is program text, escaped. */
#define HTML_MARK '\x01'

static struct {
    bool on;
    bool in_section;  /* a <section> is open */
    int saved_fd;     /* the real stdout */
    FILE *tmp;        /* what stdout holds until exit */
    char title[256];
} html;

PrintOpts print_defaults(void) {
    PrintOpts o = {.precision = 3, .max_rows = 16, .max_cols = 12, .color = false,
                   .row_labels = NULL, .col_labels = NULL};
    return o;
}

bool print_color_wanted(void) {
    const char *no_color = getenv("NO_COLOR");
    return !html.on && isatty(STDOUT_FILENO) && !(no_color && *no_color);
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

/* ==== HTML mode: state and escaping (the page itself is made at exit, below) ==== */

bool print_html_enabled(void) { return html.on; }

static void put_escaped(FILE *f, const char *s, size_t n) {
    for (size_t i = 0; i < n && s[i]; i++) {
        switch (s[i]) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\n': fputs("<br>", f); break;
        case HTML_MARK: break;
        default: fputc(s[i], f);
        }
    }
}

/* Paragraph text: escaped, runs of spaces kept as one (the browser wraps). */
static void html_paragraph(FILE *f, const char *cls, const char *text) {
    while (*text == ' ') text++;
    fprintf(f, "%c<p class=\"%s\">", HTML_MARK, cls);
    put_escaped(f, text, strlen(text));
    fputs("</p>\n", f);
}

void print_html_figure(FILE *f, const char *svg, const char *png, const char *caption) {
    fprintf(f, "%c<figure><picture>", HTML_MARK);
    if (svg) {
        fputs("<source srcset=\"", f);
        put_escaped(f, svg, strlen(svg));
        fputs("\" type=\"image/svg+xml\">", f);
    }
    fputs("<img src=\"", f);
    put_escaped(f, png, strlen(png));
    fputs("\" alt=\"", f);
    put_escaped(f, caption, strlen(caption));
    fputs("\" loading=\"lazy\"></picture><figcaption>", f);
    put_escaped(f, caption, strlen(caption));
    fputs("</figcaption></figure>\n", f);
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

/* The same grey as shade_on, as CSS: xterm's grey ramp is 8 + 10 k for colour 232 + k. */
static void html_shade(FILE *f, double t) {
    int k = (int)lround(t * 23.0), level = 8 + 10 * k;
    fprintf(f, " style=\"background:#%02x%02x%02x;color:%s\"", level, level, level, k >= 12 ? "#000" : "#fff");
}

/* HTML mode: the layout as a <table>, the same labels, values and shading as the terminal. */
static void html_matrix(FILE *f, const char *label, const Layout *L, const Tensor *m, const PrintOpts *o) {
    char buf[64];
    fprintf(f, "%c<table class=\"matrix\"><caption>", HTML_MARK);
    put_escaped(f, label, strlen(label));
    fprintf(f, " (%d x %d)</caption>\n%c<tr><th></th>", m->rows, m->cols, HTML_MARK);
    for (int j = 0; j < L->nc; j++) {
        const char *s = index_text(buf, sizeof buf, o->col_labels, L->ci[j]);
        fputs("<th>", f);
        put_escaped(f, s, strlen(s));
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    for (int k = 0; k < L->nr; k++) {
        const char *s = index_text(buf, sizeof buf, o->row_labels, L->ri[k]);
        fprintf(f, "%c<tr><th>", HTML_MARK);
        put_escaped(f, s, strlen(s));
        fputs("</th>", f);
        for (int j = 0; j < L->nc; j++) {
            if (L->ri[k] < 0 || L->ci[j] < 0) {
                fputs("<td class=\"gap\">...</td>", f);
                continue;
            }
            const float v = *tensor_at(m, L->ri[k], L->ci[j]);
            format_value(buf, sizeof buf, v, o->precision);
            fputs("<td", f);
            if (isfinite(v)) html_shade(f, L->hi > L->lo ? ((double)v - L->lo) / (L->hi - L->lo) : 0.5);
            fprintf(f, ">%s</td>", buf);
        }
        fputs("</tr>\n", f);
    }
    fprintf(f, "%c</table>\n", HTML_MARK);
}

void print_matrix(FILE *f, const char *label, const Tensor *m, const PrintOpts *o) {
    CHECK(o->max_rows >= 2 && o->max_cols >= 2, "print_matrix: max_rows and max_cols must be >= 2");
    Layout L = layout_matrix(m, o);
    char buf[64];
    if (html.on) {
        html_matrix(f, label, &L, m, o);
        free(L.col_w), free(L.ri), free(L.ci);
        return;
    }
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
    if (html.on) {
        fprintf(f, "%c%s<section id=\"s%d\"><h2>%d. ", HTML_MARK, html.in_section ? "</section>" : "", number,
                number);
        put_escaped(f, title, strlen(title));
        fprintf(f, "</h2><!--cell %d-->\n", number);
        html.in_section = true;
        return;
    }
    fprintf(f, "\n%s\n%d. %s\n%s\n", rule, number, title, rule);
}

void print_wrapped(FILE *f, int indent, const char *text) {
    if (html.on) {
        html_paragraph(f, strncmp(text, "Notice:", 7) == 0 ? "note" : "text", text);
        return;
    }
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
    if (html.on) {
        html_paragraph(f, "note", text);
        return;
    }
    fputc('\n', f);
    print_wrapped(f, 2, text);
}

void print_padded(FILE *f, const char *s, int width) {
    fputs(s, f);
    pad(f, width - print_display_width(s));
}

/* ==== HTML mode: the page ==== */

/* The page's only style: light by default, dark when the reader's system is, plain on paper. */
static const char html_style[] =
    ":root{--fg:#1d1f21;--bg:#fdfdfc;--muted:#5c6166;--rule:#d8d8d4;--code:#f3f2ee;--note:#fff6d6;"
    "--noteb:#d9a400;--link:#0b57a4}\n"
    "@media (prefers-color-scheme:dark){:root{--fg:#e3e3e0;--bg:#17191c;--muted:#9aa0a6;--rule:#3a3d42;"
    "--code:#22252a;--note:#332b12;--noteb:#c89b1a;--link:#8ab8f0}}\n"
    "body{margin:0 auto;max-width:62rem;padding:1rem 1.5rem 4rem;color:var(--fg);background:var(--bg);"
    "font:16px/1.5 system-ui,sans-serif}\n"
    "a{color:var(--link)}nav{font-size:.9rem;color:var(--muted)}\n"
    "h1{font-size:1.6rem;margin:.5rem 0 1rem}h2{font-size:1.2rem;margin:2.2rem 0 .6rem;padding-top:.6rem;"
    "border-top:1px solid var(--rule)}\n"
    "pre,code,table.matrix{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:.85rem}\n"
    "pre{margin:.6rem 0;white-space:pre;overflow-x:auto}\n"
    "pre.src{background:var(--code);padding:.6rem .8rem;border-radius:4px}\n"
    "details.cell{margin:.4rem 0 .8rem;font-size:.9rem}details.cell summary{cursor:pointer;color:var(--muted)}\n"
    "p.text{white-space:pre-line;margin:.6rem 0}\n"
    "p.note{background:var(--note);border-left:4px solid var(--noteb);padding:.5rem .8rem;margin:.8rem 0}\n"
    "table.matrix{border-collapse:collapse;margin:.6rem 0;display:block;overflow-x:auto}\n"
    "table.matrix caption{text-align:left;font-weight:600;padding:.2rem 0;white-space:nowrap}\n"
    "table.matrix th{font-weight:normal;color:var(--muted);padding:.1rem .4rem;text-align:right}\n"
    "table.matrix td{padding:.1rem .45rem;text-align:right}td.gap{color:var(--muted)}\n"
    "figure{margin:1rem 0}figure img{max-width:100%;height:auto;background:#fff}\n"
    "figcaption{font-size:.85rem;color:var(--muted)}\n"
    "table.toc{border-collapse:collapse}table.toc td,table.toc th{border-bottom:1px solid var(--rule);"
    "padding:.35rem .6rem;text-align:left;vertical-align:top}td.absent{color:var(--muted)}\n"
    "@media print{nav,details.cell{display:none}body{max-width:none;color:#000;background:#fff}"
    "h2{break-after:avoid}table.matrix,figure,p.note{break-inside:avoid}a{color:#000}"
    "p.note{background:none;border-left:3px solid #000}}\n";

/* The page's head (title and style), up to and including the <h1>. */
static void html_head(FILE *out) {
    fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                 "<meta name=\"color-scheme\" content=\"light dark\">\n<title>");
    put_escaped(out, html.title, strlen(html.title));
    fprintf(out, "</title>\n<style>\n%s</style>\n</head>\n<body>\n"
                 "<nav><a href=\"index.html\">The notebook: every chapter</a></nav>\n<main>\n<h1>",
            html_style);
    put_escaped(out, html.title, strlen(html.title));
    fputs("</h1>\n", out);
}

/* Where html_line is: between blocks, inside a <pre>, or inside a note paragraph. */
typedef struct {
    enum { IN_TEXT, IN_PRE, IN_NOTE } state;
    int blanks; /* blank lines held back inside a <pre>: dropped at its end */
} PageState;

/* Close the open <pre> or note, if any. */
static void html_close(FILE *out, const PageState *page) {
    if (page->state == IN_PRE) fputs("</pre>\n", out);
    if (page->state == IN_NOTE) fputs("</p>\n", out);
}

/* One printed line (len bytes, no newline) to the page: a marked line goes out as HTML, a
 * "Notice:" line opens a note that runs to the next blank line, anything else is preformatted. */
static void html_line(FILE *out, PageState *page, const char *line, size_t len) {
    const char *t = line + strspn(line, " ");
    bool blank = *t == '\0';
    if (line[0] == HTML_MARK || strncmp(t, "Notice:", 7) == 0) {
        html_close(out, page);
        page->state = IN_TEXT;
        page->blanks = 0;
        if (line[0] == HTML_MARK) {
            fprintf(out, "%s\n", line + 1);
            return;
        }
        fputs("<p class=\"note\">", out);
        put_escaped(out, t, strlen(t));
        page->state = IN_NOTE;
    } else if (page->state == IN_NOTE) {
        if (blank) {
            fputs("</p>\n", out);
            page->state = IN_TEXT;
        } else {
            fputc(' ', out);
            put_escaped(out, t, strlen(t));
        }
    } else if (blank) {
        if (page->state == IN_PRE) page->blanks++;
    } else {
        if (page->state == IN_TEXT) fputs("<pre>", out);
        for (; page->blanks > 0; page->blanks--) fputc('\n', out);
        if (page->state == IN_PRE) fputc('\n', out);
        page->state = IN_PRE;
        put_escaped(out, line, len);
    }
}

/* The page's body: every line the program printed to html.tmp, in order. */
static void html_body(FILE *out) {
    PageState page = {IN_TEXT, 0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    rewind(html.tmp);
    while ((len = getline(&line, &cap, html.tmp)) > 0) {
        if (line[len - 1] == '\n') line[--len] = '\0';
        html_line(out, &page, line, (size_t)len);
    }
    free(line);
    html_close(out, &page);
}

/* Copy what the program printed (in html.tmp) to the real stdout as a page. */
static void html_end(void) {
    fflush(stdout);
    if (dup2(html.saved_fd, STDOUT_FILENO) < 0) return;
    close(html.saved_fd);
    html.on = false;
    FILE *out = stdout;
    html_head(out);
    html_body(out);
    fclose(html.tmp);
    fprintf(out, "%s</main>\n</body>\n</html>\n", html.in_section ? "</section>\n" : "");
    fflush(out);
}

void print_html_begin(const char *title) {
    if (html.on) return;
    fflush(stdout);
    html.tmp = tmpfile();
    if (!html.tmp) die(EXIT_RUNTIME, "--html: cannot create a temporary file: %s", strerror(errno));
    html.saved_fd = dup(STDOUT_FILENO);
    if (html.saved_fd < 0 || dup2(fileno(html.tmp), STDOUT_FILENO) < 0)
        die(EXIT_RUNTIME, "--html: cannot redirect the output: %s", strerror(errno));
    snprintf(html.title, sizeof html.title, "%s", title);
    html.on = true;
    atexit(html_end);
}
