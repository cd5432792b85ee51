/* The figures' scripts: labelled points whose labels stay apart, reference levels a legend can tell
 * apart, a fixed y range. The scripts are read back as text; gnuplot is not needed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plot.h"
#include "rng.h"
#include "tests.h"

/* A plotter writing into a new temporary folder (figures/<chapter> inside it), drawing nothing. */
static Plotter test_plotter(char *dir) {
    ck_assert_ptr_nonnull(mkdtemp(dir));
    CliCommon common = cli_common_defaults();
    common.figures = dir;
    Plotter p;
    plot_init(&p, &common, "t", stdout);
    p.have_gnuplot = false;
    p.out = fopen("/dev/null", "w");
    return p;
}

static void done(Plotter *p, const char *dir) {
    fclose(p->out);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static char *script(const Plotter *p, const char *name) {
    char path[1300];
    snprintf(path, sizeof path, "%s/%s.gp", p->dir, name);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(s);
    s[fread(s, 1, (size_t)n, f)] = '\0';
    fclose(f);
    return s;
}

static double after(const char *s, const char *key) {
    const char *p = strstr(s, key);
    ck_assert_msg(p != NULL, "no '%s' in the script", key);
    return strtod(p + strlen(key), NULL);
}

/* 60 points scattered at random, some in a tight cluster: every label, read back from the script
 * and measured the way the figure's font draws it (7 pixels a character, 14 high, the canvas and the
 * plot area the script sets), covers no other label and no point (a point is drawn 6 pixels around
 * its position). Labels next to their own point may touch it, not cover it. */
START_TEST(test_labels_apart) {
    char dir[] = "/tmp/llm-notebook-plot-XXXXXX";
    Plotter p = test_plotter(dir);
    enum { N = 60 };
    double x[N], y[N];
    int group[N];
    char text[N][16];
    const char *labels[N];
    Rng rng;
    rng_seed(&rng, 5, 1);
    for (int i = 0; i < N; i++) {
        const bool cluster = i < 12; /* a dozen points within a tenth of the range */
        x[i] = cluster ? 0.5 + 0.1 * rng_uniform(&rng) : rng_uniform(&rng);
        y[i] = cluster ? 0.5 + 0.1 * rng_uniform(&rng) : rng_uniform(&rng);
        group[i] = i % 3;
        snprintf(text[i], sizeof text[i], "%.*s%d", 1 + i % 5, "wordy", i);
        labels[i] = text[i];
    }
    const char *const names[3] = {"a", "b", "c"};
    plot_labeled_groups(&p, "pts", "title", "x", "y", x, y, labels, group, names, 3, N);
    char *s = script(&p, "pts");
    const char *size = strstr(s, "pngcairo size ");
    int W, H;
    ck_assert_int_eq(sscanf(size, "pngcairo size %d,%d", &W, &H), 2);
    const double l = after(s, "set lmargin at screen "), r = after(s, "set rmargin at screen ");
    const double b = after(s, "set bmargin at screen "), t = after(s, "set tmargin at screen ");
    double x0, x1, y0, y1;
    ck_assert_int_eq(sscanf(strstr(s, "set xrange ["), "set xrange [%lf:%lf]", &x0, &x1), 2);
    ck_assert_int_eq(sscanf(strstr(s, "set yrange ["), "set yrange [%lf:%lf]", &y0, &y1), 2);
    double box[N][4], pt[N][2];
    for (int i = 0; i < N; i++) {
        pt[i][0] = W * (l + (x[i] - x0) / (x1 - x0) * (r - l));
        pt[i][1] = H * (b + (y[i] - y0) / (y1 - y0) * (t - b));
        char key[64];
        snprintf(key, sizeof key, "set label %d '%s' at ", i + 1, labels[i]);
        const char *at = strstr(s, key);
        ck_assert_msg(at != NULL, "no label %d", i + 1);
        double lx, ly;
        ck_assert_int_eq(sscanf(at + strlen(key), "%lf,%lf", &lx, &ly), 2);
        const double px = W * (l + (lx - x0) / (x1 - x0) * (r - l)), py = H * (b + (ly - y0) / (y1 - y0) * (t - b));
        box[i][0] = px, box[i][1] = px + 7.0 * (double)strlen(labels[i]), box[i][2] = py - 7, box[i][3] = py + 7;
        ck_assert_msg(box[i][0] >= W * l - 1 && box[i][1] <= W * r + 3 && box[i][2] >= H * b - 1 && box[i][3] <= H * t + 1,
                      "label %s outside the plot area", labels[i]);
    }
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) {
            const double w = fmin(box[i][1], box[j][1]) - fmax(box[i][0], box[j][0]);
            const double h = fmin(box[i][3], box[j][3]) - fmax(box[i][2], box[j][2]);
            ck_assert_msg(i == j || w <= 0.5 || h <= 0.5, "labels %s and %s overlap", labels[i], labels[j]);
            const double pw = fmin(box[i][1], pt[j][0] + 6) - fmax(box[i][0], pt[j][0] - 6);
            const double ph = fmin(box[i][3], pt[j][1] + 6) - fmax(box[i][2], pt[j][1] - 6);
            ck_assert_msg(pw <= 1.5 || ph <= 1.5, "label %s covers point %s", labels[i], labels[j]);
        }
    }
    ck_assert_ptr_nonnull(strstr(s, "title 'a'"));
    ck_assert_ptr_nonnull(strstr(s, "$3 == 2 ? $2 : NaN"));
    free(s);
    done(&p, dir);
}
END_TEST

/* Two reference levels in one figure: two different dash patterns and colours. */
START_TEST(test_reference_lines) {
    char dir[] = "/tmp/llm-notebook-plot-XXXXXX";
    Plotter p = test_plotter(dir);
    const double x[2] = {0, 1}, a[2] = {3, 2}, f1[2] = {1.5, 1.5}, f2[2] = {1, 1};
    LineSeries series[3] = {{"model", a, false}, {"n-gram", f1, true}, {"floor", f2, true}};
    LineAxes ax = {"step", "loss", false, false};
    const LinePanel chart = {"t", ax, "set yrange [0.9:2.5]", x, 2, series, NULL, 3};
    plot_line_chart(&p, "loss", &chart);
    char *s = script(&p, "loss");
    ck_assert_ptr_nonnull(strstr(s, "set yrange [0.9:2.5]"));
    const char *one = strstr(s, "title 'n-gram'"), *two = strstr(s, "title 'floor'");
    ck_assert_ptr_nonnull(one);
    ck_assert_ptr_nonnull(two);
    const char *w1 = one, *w2 = two;
    while (strncmp(w1, " with ", 6) != 0) w1--; /* the style just before each title */
    while (strncmp(w2, " with ", 6) != 0) w2--;
    ck_assert_msg(strncmp(w1, w2, (size_t)(one - w1)) != 0, "both reference lines drawn as %.*s", (int)(one - w1), w1);
    free(s);
    plot_lines(&p, "plain", "t", &ax, x, 2, series, 3);
    s = script(&p, "plain");
    ck_assert_ptr_null(strstr(s, "set yrange"));
    free(s);
    done(&p, dir);
}
END_TEST

/* One heatmap with a framed row: the frame covers exactly that row, and the colour scale ends at the
 * largest weight, so that weights of 0.1 to 0.3 do not all look pale. */
START_TEST(test_marked_heatmap) {
    char dir[] = "/tmp/llm-notebook-plot-XXXXXX";
    Plotter p = test_plotter(dir);
    Tensor A = tensor_new(3, 3);
    const float w[9] = {0.2f, 0.3f, 0.5f, 0.1f, 0.45f, 0.45f, 0.3f, 0.3f, 0.4f};
    for (int i = 0; i < 9; i++) A.data[i] = w[i];
    const char *const labels[3] = {"a", "_", "c"};
    const HeatPanel panel = {"m", "row 1 framed", &A, labels, labels, "key", "query", HEAT_SCALED};
    plot_heatmap_marked(&p, "marked", "title", &panel, 1);
    char *s = script(&p, "marked");
    ck_assert_ptr_nonnull(strstr(s, "set multiplot layout 1,1"));
    ck_assert_ptr_nonnull(strstr(s, "set object 1 rect from -0.5,0.5 to 2.5,1.5"));
    ck_assert_ptr_nonnull(strstr(s, "set cbrange [0:0.5]"));
    free(s);
    plot_heatmaps(&p, "plain", "title", &panel, 1);
    s = script(&p, "plain");
    ck_assert_ptr_null(strstr(s, "set object"));
    free(s);
    tensor_free(&A);
    done(&p, dir);
}
END_TEST

/* A figure's files are written through new, unique temporary names: links planted at the names a
 * figure used to pass through (NAME.gp.tmp, NAME.dat.tmp, NAME.png.tmp) are never followed, so the
 * file they point to keeps its bytes, and no temporary file is left behind. With gnuplot installed
 * the PNG is drawn too (through its own temporary name). */
START_TEST(test_planted_links_not_followed) {
    char dir[] = "/tmp/llm-notebook-plot-XXXXXX";
    Plotter p = test_plotter(dir);
    p.have_gnuplot = access("/usr/bin/gnuplot", X_OK) == 0 || access("/usr/local/bin/gnuplot", X_OK) == 0;
    char victim[1300], link[1400];
    snprintf(victim, sizeof victim, "%s/victim", dir);
    FILE *v = fopen(victim, "w");
    ck_assert_ptr_nonnull(v);
    fputs("keep me", v);
    fclose(v);
    const char *const ends[] = {".gp.tmp", ".dat.tmp", ".png.tmp"};
    char cmd[1500];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p.dir); /* the chapter's folder, made by the first figure otherwise */
    ck_assert_int_eq(system(cmd), 0);
    for (int i = 0; i < 3; i++) {
        snprintf(link, sizeof link, "%s/bars%s", p.dir, ends[i]);
        ck_assert_int_eq(symlink(victim, link), 0);
    }
    const char *labels[] = {"a", "b"};
    double y[] = {1, 2};
    const LineSeries s[1] = {{"y", y, false}};
    plot_bars(&p, "bars", "t", "y", labels, 2, s, 1);
    v = fopen(victim, "r");
    char got[32] = "";
    ck_assert_ptr_nonnull(fgets(got, sizeof got, v));
    fclose(v);
    ck_assert_str_eq(got, "keep me");
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q 'tmp-'", p.dir); /* a leftover temporary file */
    ck_assert_int_ne(system(cmd), 0);
    if (p.have_gnuplot) {
        snprintf(link, sizeof link, "%s/bars.png", p.dir);
        ck_assert_int_eq(access(link, R_OK), 0);
    }
    done(&p, dir);
}
END_TEST

Suite *plot_suite(void) {
    Suite *s = suite_create("plot");
    TCase *tc = tcase_create("scripts");
    tcase_add_test(tc, test_labels_apart);
    tcase_add_test(tc, test_reference_lines);
    tcase_add_test(tc, test_marked_heatmap);
    tcase_add_test(tc, test_planted_links_not_followed);
    suite_add_tcase(s, tc);
    return s;
}
