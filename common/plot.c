/* plot: data files, gnuplot scripts and PNGs (see plot.h). */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "print.h"
#include "util.h"

/* ==== files ==== */

/* mkdir -p: create every missing folder of path. */
static void make_dirs(const char *path) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                die(EXIT_RUNTIME, "cannot create folder %s: %s", buf, strerror(errno));
            struct stat st;
            if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
                die(EXIT_RUNTIME, "cannot use %s as a folder for figures: it is not a folder", buf);
            *p = saved;
            if (saved == '\0') break;
        }
    }
}

/* A file written under a temporary name (util_make_temp's: unique, never a planted link) and renamed
 * into place by atomic_close. */
typedef struct {
    FILE *f;
    char path[1200], tmp[1220];
} AtomicFile;

static void atomic_open(AtomicFile *a, const char *dir, const char *name, const char *ext) {
    snprintf(a->path, sizeof a->path, "%s/%s%s", dir, name, ext);
    const int fd = util_make_temp(a->tmp, sizeof a->tmp, a->path);
    a->f = fd < 0 ? NULL : fdopen(fd, "w");
    if (!a->f) {
        const int e = errno;
        if (fd >= 0) close(fd), unlink(a->tmp);
        die(EXIT_RUNTIME, "cannot write %s: %s", a->path, strerror(e));
    }
}

static void atomic_close(AtomicFile *a) {
    bool ok = !ferror(a->f);
    ok = (fclose(a->f) == 0) && ok;
    if (!ok) {
        remove(a->tmp);
        die(EXIT_RUNTIME, "error while writing %s", a->tmp);
    }
    if (rename(a->tmp, a->path) != 0) {
        const int e = errno;
        remove(a->tmp);
        die(EXIT_RUNTIME, "cannot rename %s to %s: %s", a->tmp, a->path, strerror(e));
    }
}

static bool gnuplot_on_path(void) {
    const char *path = getenv("PATH");
    if (!path) return false;
    char buf[2048];
    while (*path) {
        size_t len = strcspn(path, ":");
        snprintf(buf, sizeof buf, "%.*s/gnuplot", (int)len, path);
        if (len > 0 && access(buf, X_OK) == 0) return true;
        path += len;
        if (*path == ':') path++;
    }
    return false;
}

void plot_init(Plotter *p, const CliCommon *common, const char *chapter, FILE *out) {
    memset(p, 0, sizeof *p);
    if (snprintf(p->dir, sizeof p->dir, "%s/%s", common->figures, chapter) >= (int)sizeof p->dir)
        die(EXIT_USAGE, "--figures: the folder name is too long (at most 900 characters)");
    p->enabled = !common->no_plot;
    p->text = common->text_plot;
    p->have_gnuplot = gnuplot_on_path();
    p->out = out;
    if (common->html) print_html_begin(chapter);
}

/* ==== running gnuplot ==== */

/* Run `gnuplot -e SETTING NAME.gp` inside the figure folder; true when it exited 0. */
static bool run_gnuplot(const Plotter *p, const char *name, const char *setting) {
    char script[300];
    snprintf(script, sizeof script, "%s.gp", name);
    fflush(NULL); /* the child inherits our buffers' file descriptors, not their contents */
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        if (chdir(p->dir) != 0) _exit(127);
        execlp("gnuplot", "gnuplot", "-e", setting, script, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* gnuplot's settings (`before`, then outfile) to draw `path` through a new temporary file beside it
 * (util_make_temp's; its name in tmp), named relative to the figures folder, where gnuplot runs. */
static bool gnuplot_output(char *setting, size_t size, const char *before, char *tmp, size_t tmp_size, const char *path) {
    tmp[0] = '\0';
    const int fd = util_make_temp(tmp, tmp_size, path);
    if (fd < 0) return false;
    close(fd);
    snprintf(setting, size, "%soutfile='%s'", before, strrchr(tmp, '/') + 1);
    return true;
}

/* HTML mode: draw NAME.svg too (gnuplot's svg terminal), and show it on the page with the PNG as
 * its fallback (alone, if the SVG could not be drawn). */
static void render_svg(Plotter *p, const char *name, const char *png) {
    char setting[1300], svg[1200], tmp[1220];
    snprintf(svg, sizeof svg, "%s/%s.svg", p->dir, name);
    bool ok = gnuplot_output(setting, sizeof setting, "svgplot=1; ", tmp, sizeof tmp, svg) && run_gnuplot(p, name, setting) &&
              rename(tmp, svg) == 0;
    if (!ok) remove(tmp);
    print_html_figure(p->out, ok ? svg : NULL, png, name);
}

/* Draw NAME.png from NAME.gp (via a new NAME.png.tmp-XXXXXX), and report the figure on the chapter's output. */
static void render(Plotter *p, const char *name, bool text_version) {
    if (!p->have_gnuplot) {
        fprintf(p->out, "  figure data: %s/%s.gp (and its .dat files)\n", p->dir, name);
        if (!p->told_missing) {
            fprintf(p->out,
                    "  (gnuplot is not installed, so no PNG was drawn. Install it with\n"
                    "   'sudo apt-get install gnuplot-nox', then run 'make figures', or\n"
                    "   'gnuplot %s.gp' inside %s/)\n",
                    name, p->dir);
            p->told_missing = true;
        }
        return;
    }
    char setting[1300], png[1200], tmp[1220];
    snprintf(png, sizeof png, "%s/%s.png", p->dir, name);
    if (gnuplot_output(setting, sizeof setting, "", tmp, sizeof tmp, png) && run_gnuplot(p, name, setting) &&
        rename(tmp, png) == 0) {
        if (print_html_enabled()) render_svg(p, name, png);
        else fprintf(p->out, "  figure: %s\n", png);
    } else {
        remove(tmp);
        fprintf(stderr, "%s: warning: gnuplot could not draw %s/%s.gp; its data is kept\n",
                util_program(), p->dir, name);
    }
    if (text_version && p->text) {
        fprintf(p->out, "\n");
        if (!run_gnuplot(p, name, "textplot=1"))
            fprintf(stderr, "%s: warning: gnuplot could not draw %s.gp as text\n", util_program(), name);
    }
}

/* ==== scripts ==== */

/* A gnuplot single-quoted string: a quote inside is written twice. */
static void put_quoted(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

static void script_header(FILE *f, const Plotter *p, const char *name, int width, int height) {
    fprintf(f, "# %s/%s.gp: written by the chapter's program; edit and rerun here with\n", p->dir, name);
    fprintf(f, "#   gnuplot %s.gp\n", name);
    fprintf(f, "if (!exists(\"outfile\")) outfile = '%s.png'\n", name);
    fprintf(f, "if (exists(\"textplot\")) {\n  set terminal dumb size 100,30\n  set output\n} else {\n");
    fprintf(f, "  if (exists(\"svgplot\")) {\n    set terminal svg size %d,%d noenhanced font 'Sans,10' background '#ffffff'\n"
               "  } else {\n    set terminal pngcairo size %d,%d noenhanced font 'Sans,10'\n  }\n  set output outfile\n}\n",
            width, height, width, height);
}

static void put_tics(FILE *f, const char *axis, const char *const *labels, int n) {
    if (!labels) {
        if (n <= 24) fprintf(f, "set %stics 1\n", axis);
        else fprintf(f, "set %stics autofreq\n", axis);
        return;
    }
    fprintf(f, "set %stics (", axis);
    for (int i = 0; i < n; i++) {
        if (i) fputs(", ", f);
        put_quoted(f, labels[i]);
        fprintf(f, " %d", i);
    }
    fprintf(f, ")%s\n", axis[0] == 'x' ? " rotate by 45 right" : "");
}

static void write_matrix_dat(const Plotter *p, const HeatPanel *h) {
    AtomicFile a;
    atomic_open(&a, p->dir, h->key, ".dat");
    fprintf(a.f, "# %s: %d rows x %d columns, one row per line\n", h->title, h->m->rows, h->m->cols);
    for (int r = 0; r < h->m->rows; r++) {
        for (int c = 0; c < h->m->cols; c++) {
            float v = *tensor_at(h->m, r, c);
            if (c) fputc(' ', a.f);
            if (isinf(v)) fputs(v < 0 ? "-inf" : "inf", a.f);
            else if (isnan(v)) fputs("nan", a.f);
            else fprintf(a.f, "%.9g", (double)v);
        }
        fputc('\n', a.f);
    }
    atomic_close(&a);
}

/* The largest finite |value| of a matrix (1 when there is none, or it is 0): a colour scale's end. */
static double largest_abs(const Tensor *t) {
    double m = 0;
    for (int r = 0; r < t->rows; r++)
        for (int c = 0; c < t->cols; c++) {
            const float v = *tensor_at(t, r, c);
            if (isfinite(v) && fabs(v) > m) m = fabs(v);
        }
    return m > 0 ? m : 1;
}

static void write_heat_panel(FILE *f, const HeatPanel *h) {
    const int rows = h->m->rows, cols = h->m->cols;
    /* square cells when the matrix is square (attention weights); otherwise fill the panel */
    fputs(rows == cols ? "set size ratio -1\n" : "set size noratio\n", f);
    fputs("set title ", f);
    put_quoted(f, h->title);
    fputs("\nset xlabel ", f);
    put_quoted(f, h->xlabel ? h->xlabel : "column");
    fputs("\nset ylabel ", f);
    put_quoted(f, h->ylabel ? h->ylabel : "row");
    fprintf(f, "\nset xrange [-0.5:%d.5]\nset yrange [%d.5:-0.5]\n", cols - 1, rows - 1);
    put_tics(f, "x", h->col_labels, cols);
    put_tics(f, "y", h->row_labels, rows);
    const char *value = "($3)", *label = "(sprintf('%.2f', $3))";
    switch (h->style) {
    case HEAT_SIGNED: {
        const double m = largest_abs(h->m);
        fputs("set palette defined (-1 '#2166ac', 0 '#f7f7f7', 1 '#b2182b')\n", f);
        fprintf(f, "set cbrange [%.9g:%.9g]\nset cbtics auto\n", -m, m);
        value = "(abs($3) < 1e38 ? $3 : NaN)";
        label = "(abs($3) < 1e38 ? sprintf('%.2f', $3) : '-inf')";
        break;
    }
    case HEAT_WEIGHTS:
        fputs("set palette defined (0 '#ffffff', 1 '#3182bd')\nset cbrange [0:1]\nset cbtics auto\n", f);
        label = "($3 == 0 ? '' : sprintf('%.2f', $3))"; /* an exact 0 (a masked cell) stays blank, as in the text */
        break;
    case HEAT_SCALED: /* the scale ends at the largest weight, so that small ones differ in colour */
        fprintf(f, "set palette defined (0 '#ffffff', 1 '#2171b5')\nset cbrange [0:%.9g]\nset cbtics auto\n",
                largest_abs(h->m));
        break;
    case HEAT_MASK:
        fputs("set palette defined (0 '#ffffff', 0.5 '#ffffff', 0.5 '#969696', 1 '#969696')\n"
              "set cbrange [0:1]\nset cbtics ('0' 0.25, '-inf' 0.75)\n", f);
        value = "($3 < -1e38 ? 1 : 0)";
        label = "($3 < -1e38 ? '-inf' : '0')";
        break;
    case HEAT_BINARY:
        fputs("set palette defined (0 '#ffffff', 0.5 '#ffffff', 0.5 '#fb6a4a', 1 '#fb6a4a')\n"
              "set cbrange [0:1]\nset cbtics ('no' 0.25, 'yes' 0.75)\n", f);
        label = "($3 > 0.5 ? 'yes' : 'no')";
        break;
    }
    fprintf(f, "plot '%s.dat' matrix using 1:2:%s with image notitle", h->key, value);
    if (rows <= 12 && cols <= 12)
        fprintf(f, ", \\\n     '%s.dat' matrix using 1:2:%s with labels notitle", h->key, label);
    fputc('\n', f);
}

/* plot_heatmaps, with row mark_row of every panel framed in red when it is >= 0. */
static void heat_figure(Plotter *p, const char *name, const char *title, const HeatPanel *panels, int n, int mark_row) {
    if (!p->enabled) return;
    make_dirs(p->dir);
    for (int i = 0; i < n; i++) write_matrix_dat(p, &panels[i]);
    AtomicFile a;
    atomic_open(&a, p->dir, name, ".gp");
    script_header(a.f, p, name, 560 * n, 560);
    fputs("unset key\nset tics nomirror out scale 0.5\n", a.f);
    fprintf(a.f, "set multiplot layout 1,%d title ", n);
    put_quoted(a.f, title);
    fputc('\n', a.f);
    fputs("set tmargin 5\n", a.f); /* keeps the panels' titles clear of the figure's */
    for (int i = 0; i < n; i++) {
        if (mark_row >= 0)
            fprintf(a.f, "set object 1 rect from -0.5,%g to %g,%g fs empty border lc rgb '#d62728' lw 3 front\n",
                    mark_row - 0.5, panels[i].m->cols - 0.5, mark_row + 0.5);
        write_heat_panel(a.f, &panels[i]);
    }
    fputs("unset multiplot\n", a.f);
    atomic_close(&a);
    render(p, name, false); /* the terminal already shows these matrices, shaded */
}

void plot_heatmaps(Plotter *p, const char *name, const char *title, const HeatPanel *panels, int n) {
    heat_figure(p, name, title, panels, n, -1);
}

void plot_heatmap_marked(Plotter *p, const char *name, const char *title, const HeatPanel *panel, int mark_row) {
    heat_figure(p, name, title, panel, 1, mark_row);
}

/* With lo and hi (one array per series, NULL for none), each point also carries an error bar from
 * lo to hi: the .dat file gets the two extra columns after the series' y. */
static void write_lines_dat(const Plotter *p, const char *key, const double *x, int n_points, const LineSeries *series,
                            const double *const *lo, const double *const *hi, int n_series) {
    AtomicFile d;
    atomic_open(&d, p->dir, key, ".dat");
    fprintf(d.f, "# x");
    for (int s = 0; s < n_series; s++) {
        fprintf(d.f, " | %s", series[s].title);
        if (lo && lo[s]) fprintf(d.f, " (y, low, high)");
    }
    fputc('\n', d.f);
    for (int i = 0; i < n_points; i++) {
        fprintf(d.f, "%.9g", x[i]);
        for (int s = 0; s < n_series; s++) {
            fprintf(d.f, " %.9g", series[s].y[i]);
            if (lo && lo[s]) fprintf(d.f, " %.9g %.9g", lo[s][i], hi[s][i]);
        }
        fputc('\n', d.f);
    }
    atomic_close(&d);
}

/* The axes and the plot command of one line chart whose data is KEY.dat. */
static void put_lines_plot(FILE *f, const char *key, const char *title, const LineAxes *axes, const char *settings,
                           const LineSeries *series, const char *const *with, const double *const *lo, int n_series) {
    fputs("set title ", f);
    put_quoted(f, title);
    fputs("\nset xlabel ", f);
    put_quoted(f, axes->xlabel);
    fputs("\nset ylabel ", f);
    put_quoted(f, axes->ylabel);
    fputs("\nset grid\nset key outside right top box\n", f);
    if (axes->logx) fputs("set logscale x 2\n", f);
    if (axes->logy) fputs("set logscale y 10\n", f);
    if (settings) fprintf(f, "%s\n", settings);
    int col = 2, n_bars = 0; /* the column of series s's y; how many series have bars */
    for (int s = 0; s < n_series; s++) n_bars += lo && lo[s];
    if (n_bars) fputs("set offsets graph 0.04, graph 0.04, 0, 0\n", f);
    /* reference levels in the order given: each its own dash pattern and shade, so the legend
     * tells them apart */
    static const char *const reference_style[] = {"lines dt 2 lw 2 lc rgb '#555555'", "lines dt 3 lw 2.5 lc rgb '#000000'",
                                                  "lines dt 4 lw 2 lc rgb '#8c564b'", "lines dt 5 lw 2 lc rgb '#999999'"};
    fputs("plot ", f);
    for (int s = 0, b = 0, r = 0; s < n_series; s++) {
        const bool bars = lo && lo[s];
        /* bars at the same x would hide each other: each series with bars is nudged sideways a little */
        const double nudge = bars ? 0.06 * (b++ - 0.5 * (n_bars - 1)) : 0;
        fprintf(f, "%s'%s.dat' using ", s ? ", \\\n     " : "", key);
        if (nudge == 0) fputs("1", f);
        else if (axes->logx) fprintf(f, "($1*2**(%g))", nudge);
        else fprintf(f, "($1+(%g))", nudge);
        fprintf(f, ":%d", col);
        if (bars) fprintf(f, ":%d:%d", col + 1, col + 2);
        fprintf(f, " with %s title ",
                with && with[s]       ? with[s]
                : series[s].reference ? reference_style[r++ % 4]
                : bars                ? "yerrorlines lw 2"
                                      : "linespoints lw 2");
        put_quoted(f, series[s].title);
        col += bars ? 3 : 1;
    }
    fputc('\n', f);
}

static void lines_figure(Plotter *p, const char *name, const char *title, const LineAxes *axes, const char *settings,
                         const double *x, int n_points, const LineSeries *series, const char *const *with,
                         const double *const *lo, const double *const *hi, int n_series) {
    if (!p->enabled) return;
    make_dirs(p->dir);
    write_lines_dat(p, name, x, n_points, series, lo, hi, n_series);
    AtomicFile a;
    atomic_open(&a, p->dir, name, ".gp");
    script_header(a.f, p, name, 960, 540);
    put_lines_plot(a.f, name, title, axes, settings, series, with, lo, n_series);
    atomic_close(&a);
    render(p, name, true);
}

void plot_line_chart(Plotter *p, const char *name, const LinePanel *c) {
    lines_figure(p, name, c->title, &c->axes, c->settings, c->x, c->n_points, c->series, c->with, NULL, NULL,
                 c->n_series);
}

void plot_line_panels(Plotter *p, const char *name, const char *title, const LinePanel *panels, int n) {
    if (!p->enabled) return;
    make_dirs(p->dir);
    AtomicFile a;
    atomic_open(&a, p->dir, name, ".gp");
    script_header(a.f, p, name, 640 * n, 540);
    fprintf(a.f, "set multiplot layout 1,%d title ", n);
    put_quoted(a.f, title);
    fputs("\nset tmargin 4\nset key inside top right box opaque\n", a.f);
    for (int i = 0; i < n; i++) {
        char key[160];
        snprintf(key, sizeof key, "%s_%d", name, i + 1);
        write_lines_dat(p, key, panels[i].x, panels[i].n_points, panels[i].series, NULL, NULL, panels[i].n_series);
        fputs("reset\nset tmargin 4\n", a.f);
        put_lines_plot(a.f, key, panels[i].title, &panels[i].axes, panels[i].settings, panels[i].series, panels[i].with,
                       NULL, panels[i].n_series);
    }
    fputs("unset multiplot\n", a.f);
    atomic_close(&a);
    render(p, name, false);
}

void plot_lines(Plotter *p, const char *name, const char *title, const LineAxes *axes,
                const double *x, int n_points, const LineSeries *series, int n_series) {
    lines_figure(p, name, title, axes, NULL, x, n_points, series, NULL, NULL, NULL, n_series);
}

void plot_lines_spread(Plotter *p, const char *name, const char *title, const LineAxes *axes, const double *x,
                       int n_points, const LineSeries *series, const double *const *lo, const double *const *hi,
                       int n_series) {
    lines_figure(p, name, title, axes, NULL, x, n_points, series, NULL, lo, hi, n_series);
}

void plot_bars(Plotter *p, const char *name, const char *title, const char *ylabel, const char *const *labels,
               int n, const LineSeries *series, int n_series) {
    if (!p->enabled) return;
    make_dirs(p->dir);
    AtomicFile d;
    atomic_open(&d, p->dir, name, ".dat");
    fprintf(d.f, "# category");
    for (int s = 0; s < n_series; s++) fprintf(d.f, " | %s", series[s].title);
    fputc('\n', d.f);
    for (int i = 0; i < n; i++) {
        fprintf(d.f, "%d", i);
        for (int s = 0; s < n_series; s++) fprintf(d.f, " %.9g", series[s].y[i]);
        fputc('\n', d.f);
    }
    atomic_close(&d);
    int n_bars = 0;
    for (int s = 0; s < n_series; s++) n_bars += !series[s].reference;
    const double width = 0.8 / (n_bars > 0 ? n_bars : 1);
    AtomicFile a;
    atomic_open(&a, p->dir, name, ".gp");
    script_header(a.f, p, name, 960, 540);
    fputs("set title ", a.f);
    put_quoted(a.f, title);
    fputs("\nset ylabel ", a.f);
    put_quoted(a.f, ylabel);
    fprintf(a.f, "\nset grid ytics\nset key outside right top box\nset xrange [-0.6:%d.6]\n", n - 1);
    fprintf(a.f, "set boxwidth %.9g\nset style fill solid 0.8 border -1\n", width);
    put_tics(a.f, "x", labels, n);
    fputs("plot ", a.f);
    for (int s = 0, b = 0; s < n_series; s++) {
        fprintf(a.f, "%s'%s.dat' using ", s ? ", \\\n     " : "", name);
        if (series[s].reference) fprintf(a.f, "1:%d with lines dt 2 lw 2 title ", s + 2);
        else fprintf(a.f, "($1+(%.9g)):%d with boxes title ", (b++ - 0.5 * (n_bars - 1)) * width, s + 2);
        put_quoted(a.f, series[s].title);
    }
    fputc('\n', a.f);
    atomic_close(&a);
    render(p, name, false);
}

void plot_diagram(Plotter *p, const char *name, const char *title, const DiagramBox *boxes, int n_boxes,
                  const DiagramArrow *arrows, int n_arrows, int width, int height) {
    if (!p->enabled) return;
    make_dirs(p->dir);
    AtomicFile a;
    atomic_open(&a, p->dir, name, ".gp");
    script_header(a.f, p, name, width, height);
    fputs("unset border\nunset tics\nunset key\nset xrange [0:100]\nset yrange [0:100]\n"
          "set lmargin 1\nset rmargin 1\nset bmargin 1\nset tmargin 3\nset title ", a.f);
    put_quoted(a.f, title);
    fputc('\n', a.f);
    for (int i = 0; i < n_boxes; i++) {
        const DiagramBox *b = &boxes[i];
        if (b->color)
            fprintf(a.f, "set object %d rect from %g,%g to %g,%g fc rgb '%s' fs solid 1.0 border lc rgb '#333333'\n",
                    i + 1, b->x1, b->y1, b->x2, b->y2, b->color);
        else
            fprintf(a.f, "set object %d rect from %g,%g to %g,%g fs empty border lc rgb '#777777' dt 2 back\n", i + 1,
                    b->x1, b->y1, b->x2, b->y2);
        fprintf(a.f, "set label %d ", i + 1);
        put_quoted(a.f, b->label);
        if (b->color) fprintf(a.f, " at %g,%g center front\n", (b->x1 + b->x2) / 2, (b->y1 + b->y2) / 2);
        else fprintf(a.f, " at %g,%g left front textcolor rgb '#555555'\n", b->x1 + 1, b->y2 - 2);
    }
    for (int i = 0; i < n_arrows; i++)
        fprintf(a.f, "set arrow %d from %g,%g to %g,%g %s lw 1.5 lc rgb '#333333'%s front\n", i + 1, arrows[i].x1,
                arrows[i].y1, arrows[i].x2, arrows[i].y2, arrows[i].no_head ? "nohead" : "head filled size 1.5,20",
                arrows[i].dashed ? " dt 2" : "");
    fputs("plot NaN notitle\n", a.f);
    atomic_close(&a);
    render(p, name, false);
}

void plot_labeled_points(Plotter *p, const char *name, const char *title, const char *xlabel, const char *ylabel,
                         const double *x, const double *y, const char *const *labels, int n) {
    int *group = xcalloc((size_t)(n > 0 ? n : 1), sizeof(int));
    const char *const one[1] = {"point"};
    plot_labeled_groups(p, name, title, xlabel, ylabel, x, y, labels, group, one, 1, n);
    free(group);
}

/* ==== labelled points in groups, the labels placed apart ==== */

/* The canvas and the plot area inside it (fractions of the canvas), fixed so that a point's pixel
 * position is known here and the labels can be placed where they overlap nothing. */
enum { GROUPS_W = 960, GROUPS_H = 720, LABEL_CHAR_PX = 7, LABEL_H_PX = 14, MARK_PX = 6 };
static const double area_l = 0.08, area_r = 0.80, area_b = 0.09, area_t = 0.92;

typedef struct {
    double x0, x1, y0, y1; /* a box in pixels, y upwards */
} Box;

/* Terminal columns of a UTF-8 label: East Asian characters (3- and 4-byte) count 2. */
static int label_columns(const char *s) {
    int w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80) w += *p >= 0xE1 ? 2 : 1;
    return w;
}

static double overlap(const Box *a, const Box *b) {
    const double w = fmin(a->x1, b->x1) - fmax(a->x0, b->x0), h = fmin(a->y1, b->y1) - fmax(a->y0, b->y0);
    return w > 0 && h > 0 ? w * h : 0;
}

/* Where label i's box goes, around its point (px, py): eight directions, nearest ring first; the
 * box covering the least of the labels placed so far, the points and the outside is kept. Returns
 * the ring (0: next to the point; more: pushed away, to be joined by a line). */
static int place_label(Box *out, double px, double py, double w, const Box *placed, int n_placed,
                       const double *pts, int n_pts, const Box *area) {
    static const double dir[8][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}, {1, 1}, {-1, 1}, {1, -1}, {-1, -1}};
    const double h = LABEL_H_PX;
    double best = INFINITY;
    int best_ring = 0;
    for (int ring = 0; ring < 5 && best > 0; ring++)
        for (int d = 0; d < 8; d++) {
            const double gap = MARK_PX + 1 + ring * 12.0;
            /* the box's centre: beside the point by gap plus half the box in the direction d */
            const double cx = px + dir[d][0] * (gap + w / 2), cy = py + dir[d][1] * (gap * 0.6 + h / 2);
            Box b = {cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2};
            double cost = (b.x1 - b.x0) * (b.y1 - b.y0) - overlap(&b, area); /* outside the plot area */
            cost *= 4;
            for (int i = 0; i < n_placed; i++) cost += overlap(&b, &placed[i]);
            for (int i = 0; i < n_pts; i++) {
                const Box m = {pts[2 * i] - MARK_PX, pts[2 * i] + MARK_PX, pts[2 * i + 1] - MARK_PX, pts[2 * i + 1] + MARK_PX};
                cost += overlap(&b, &m);
            }
            if (cost < best) best = cost, *out = b, best_ring = ring;
        }
    return best_ring;
}

/* Every label's box (pixels) and whether it was pushed away from its point; the points' pixel
 * positions in px. The most crowded points choose first. */
static void place_labels(Box *box, bool *pushed, double *px, const double *range, const double *x,
                         const double *y, const char *const *labels, int n) {
    const Box area = {area_l * GROUPS_W, area_r * GROUPS_W, area_b * GROUPS_H, area_t * GROUPS_H};
    for (int i = 0; i < n; i++) {
        px[2 * i] = area.x0 + (x[i] - range[0]) / (range[1] - range[0]) * (area.x1 - area.x0);
        px[2 * i + 1] = area.y0 + (y[i] - range[2]) / (range[3] - range[2]) * (area.y1 - area.y0);
    }
    int *order = xmalloc(sizeof(int) * (size_t)n), *crowd = xcalloc((size_t)n, sizeof(int));
    for (int i = 0; i < n; i++) {
        order[i] = i;
        for (int j = 0; j < n; j++) crowd[i] += j != i && hypot(px[2 * i] - px[2 * j], px[2 * i + 1] - px[2 * j + 1]) < 40;
    }
    for (int i = 1; i < n; i++) /* insertion sort: most crowded first, ties by index */
        for (int j = i; j > 0 && crowd[order[j]] > crowd[order[j - 1]]; j--) {
            const int t = order[j];
            order[j] = order[j - 1], order[j - 1] = t;
        }
    Box *placed = xmalloc(sizeof(Box) * (size_t)n);
    for (int k = 0; k < n; k++) {
        const int i = order[k];
        const double w = label_columns(labels[i]) * LABEL_CHAR_PX + 2;
        pushed[i] = place_label(&placed[k], px[2 * i], px[2 * i + 1], w, placed, k, px, n, &area) > 0;
        box[i] = placed[k];
    }
    free(order), free(crowd), free(placed);
}

/* A pixel position of the plot area back in data coordinates (axis 0: x, 1: y). */
static double to_data(const double *range, double pixel, int axis) {
    const double lo = axis ? area_b * GROUPS_H : area_l * GROUPS_W;
    const double size = axis ? (area_t - area_b) * GROUPS_H : (area_r - area_l) * GROUPS_W;
    return range[2 * axis] + (pixel - lo) / size * (range[2 * axis + 1] - range[2 * axis]);
}

/* One `set label` per point at its box, in its group's colour, and a thin grey line to each label
 * that had to move away from its point (to the nearest point of the box's edge). */
static void write_group_labels(FILE *f, const Box *box, const bool *pushed, const double *px, const double *range,
                               const char *const *labels, const int *group, const char *const *color, int n) {
    for (int i = 0; i < n; i++) {
        const Box *b = &box[i];
        fprintf(f, "set label %d ", i + 1);
        put_quoted(f, labels[i]);
        fprintf(f, " at %.9g,%.9g left front textcolor rgb '%s'\n", to_data(range, b->x0 + 1, 0),
                to_data(range, (b->y0 + b->y1) / 2, 1), color[group[i] % 8]);
        if (!pushed[i]) continue;
        const double ex = fmin(fmax(px[2 * i], b->x0), b->x1), ey = fmin(fmax(px[2 * i + 1], b->y0), b->y1);
        fprintf(f, "set arrow from %.9g,%.9g to %.9g,%.9g nohead lw 0.5 lc rgb '#999999' back\n",
                to_data(range, px[2 * i], 0), to_data(range, px[2 * i + 1], 1), to_data(range, ex, 0),
                to_data(range, ey, 1));
    }
}

void plot_labeled_groups(Plotter *p, const char *name, const char *title, const char *xlabel, const char *ylabel,
                         const double *x, const double *y, const char *const *labels, const int *group,
                         const char *const *group_names, int n_groups, int n) {
    static const char *const color[8] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                         "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
    if (!p->enabled || n < 1) return;
    make_dirs(p->dir);
    double range[4] = {x[0], x[0], y[0], y[0]}; /* x0 x1 y0 y1, then padded by 6% each side */
    for (int i = 0; i < n; i++)
        range[0] = fmin(range[0], x[i]), range[1] = fmax(range[1], x[i]), range[2] = fmin(range[2], y[i]),
        range[3] = fmax(range[3], y[i]);
    for (int a = 0; a < 4; a += 2) {
        const double pad = 0.06 * (range[a + 1] - range[a]) + 1e-9;
        range[a] -= pad, range[a + 1] += pad;
    }
    Box *box = xmalloc(sizeof(Box) * (size_t)n);
    bool *pushed = xmalloc(sizeof(bool) * (size_t)n);
    double *px = xmalloc(sizeof(double) * 2 * (size_t)n); /* each point's pixel position */
    place_labels(box, pushed, px, range, x, y, labels, n);
    AtomicFile d;
    atomic_open(&d, p->dir, name, ".dat");
    fprintf(d.f, "# x y group, one point per line (the labels and the groups' names are in %s.gp)\n", name);
    for (int i = 0; i < n; i++) fprintf(d.f, "%.9g %.9g %d\n", x[i], y[i], group[i]);
    atomic_close(&d);
    AtomicFile a;
    atomic_open(&a, p->dir, name, ".gp");
    script_header(a.f, p, name, GROUPS_W, GROUPS_H);
    fputs("set title ", a.f);
    put_quoted(a.f, title);
    fputs("\nset xlabel ", a.f);
    put_quoted(a.f, xlabel);
    fputs("\nset ylabel ", a.f);
    put_quoted(a.f, ylabel);
    fprintf(a.f, "\nset grid\nset lmargin at screen %g\nset rmargin at screen %g\nset bmargin at screen %g\n"
            "set tmargin at screen %g\nset xrange [%.9g:%.9g]\nset yrange [%.9g:%.9g]\n"
            "%s\n", area_l, area_r, area_b, area_t, range[0], range[1], range[2], range[3],
            n_groups > 1 ? "set key at screen 0.99, screen 0.92 right top box title 'class'" : "unset key");
    write_group_labels(a.f, box, pushed, px, range, labels, group, color, n);
    fputs("plot ", a.f);
    for (int g = 0; g < n_groups; g++) {
        fprintf(a.f, "%s'%s.dat' using 1:($3 == %d ? $2 : NaN) with points pt 7 ps 1.2 lc rgb '%s' title ",
                g ? ", \\\n     " : "", name, g, color[g % 8]);
        put_quoted(a.f, group_names[g]);
    }
    fputc('\n', a.f);
    atomic_close(&a);
    render(p, name, false);
    free(box), free(pushed), free(px);
}
