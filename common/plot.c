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

/* A file written under a temporary name and renamed into place by atomic_close. */
typedef struct {
    FILE *f;
    char path[1200], tmp[1210];
} AtomicFile;

static void atomic_open(AtomicFile *a, const char *dir, const char *name, const char *ext) {
    snprintf(a->path, sizeof a->path, "%s/%s%s", dir, name, ext);
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp", a->path);
    a->f = fopen(a->tmp, "w");
    if (!a->f) die(EXIT_RUNTIME, "cannot write %s: %s", a->tmp, strerror(errno));
}

static void atomic_close(AtomicFile *a) {
    bool ok = !ferror(a->f);
    ok = (fclose(a->f) == 0) && ok;
    if (!ok) {
        remove(a->tmp);
        die(EXIT_RUNTIME, "error while writing %s", a->tmp);
    }
    if (rename(a->tmp, a->path) != 0)
        die(EXIT_RUNTIME, "cannot rename %s to %s: %s", a->tmp, a->path, strerror(errno));
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

/* HTML mode: draw NAME.svg too (gnuplot's svg terminal), and show it on the page with the PNG as
 * its fallback (alone, if the SVG could not be drawn). */
static void render_svg(Plotter *p, const char *name, const char *png) {
    char setting[400], svg[1200], tmp[1210];
    snprintf(setting, sizeof setting, "svgplot=1; outfile='%s.svg.tmp'", name);
    snprintf(svg, sizeof svg, "%s/%s.svg", p->dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", svg);
    bool ok = run_gnuplot(p, name, setting) && rename(tmp, svg) == 0;
    if (!ok) remove(tmp);
    print_html_figure(p->out, ok ? svg : NULL, png, name);
}

/* Draw NAME.png from NAME.gp (via NAME.png.tmp), and report the figure on the chapter's output. */
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
    char setting[400], png[1200], tmp[1210];
    snprintf(setting, sizeof setting, "outfile='%s.png.tmp'", name);
    snprintf(png, sizeof png, "%s/%s.png", p->dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", png);
    if (run_gnuplot(p, name, setting) && rename(tmp, png) == 0) {
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
        double m = 0;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                float v = *tensor_at(h->m, r, c);
                if (isfinite(v) && fabs(v) > m) m = fabs(v);
            }
        if (m == 0) m = 1;
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

void plot_heatmaps(Plotter *p, const char *name, const char *title, const HeatPanel *panels, int n) {
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
    for (int i = 0; i < n; i++) write_heat_panel(a.f, &panels[i]);
    fputs("unset multiplot\n", a.f);
    atomic_close(&a);
    render(p, name, false); /* the terminal already shows these matrices, shaded */
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
    fputs("plot ", f);
    for (int s = 0, b = 0; s < n_series; s++) {
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
                : series[s].reference ? "lines dt 2 lw 2 lc rgb '#555555'"
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
    if (!p->enabled) return;
    make_dirs(p->dir);
    AtomicFile d;
    atomic_open(&d, p->dir, name, ".dat");
    fprintf(d.f, "# x y, one point per line (the labels are in %s.gp)\n", name);
    for (int i = 0; i < n; i++) fprintf(d.f, "%.9g %.9g\n", x[i], y[i]);
    atomic_close(&d);
    AtomicFile a;
    atomic_open(&a, p->dir, name, ".gp");
    script_header(a.f, p, name, 900, 720);
    fputs("set title ", a.f);
    put_quoted(a.f, title);
    fputs("\nset xlabel ", a.f);
    put_quoted(a.f, xlabel);
    fputs("\nset ylabel ", a.f);
    put_quoted(a.f, ylabel);
    fputs("\nset grid\nunset key\nset offsets graph 0.08, graph 0.08, graph 0.08, graph 0.08\n", a.f);
    for (int i = 0; i < n; i++) {
        fprintf(a.f, "set label %d ", i + 1);
        put_quoted(a.f, labels[i]);
        fprintf(a.f, " at %.9g,%.9g offset 0.6,0.4 front\n", x[i], y[i]);
    }
    fprintf(a.f, "plot '%s.dat' using 1:2 with points pt 7 ps 1.2 lc rgb '#3182bd'\n", name);
    atomic_close(&a);
    render(p, name, false);
}
