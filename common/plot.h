/* plot: figures as data plus a gnuplot script, drawn to PNG when gnuplot is installed.
 *
 * Every figure NAME of a chapter becomes, under <figures>/<chapter>/:
 *   NAME.gp    a gnuplot script that a reader can edit and rerun there: `gnuplot NAME.gp`
 *   *.dat      its data: whitespace-separated numbers at full float precision ("%.9g"), one matrix
 *              row (or one x value with its y values) per line, '#' comment lines naming columns
 *   NAME.png   drawn by running the script, when gnuplot is on the PATH
 * Every file is written to a temporary name and renamed, so a figure is never left half-written.
 * Without gnuplot, the program still runs and says once how to get the pictures. gnuplot is never
 * required. A heatmap puts row 0 at the top, like the printed matrix.                            */
#ifndef PLOT_H
#define PLOT_H

#include <stdbool.h>
#include <stdio.h>

#include "cli.h"
#include "tensor.h"

typedef struct {
    char dir[1024];     /* <figures>/<chapter> */
    bool enabled;       /* false with --no-plot */
    bool text;          /* --text-plot: line plots are drawn in the terminal too */
    bool have_gnuplot;
    bool told_missing;  /* the "install gnuplot" hint is printed once */
    FILE *out;          /* where "figure: ..." lines go (the chapter's stdout) */
} Plotter;

void plot_init(Plotter *p, const CliCommon *common, const char *chapter, FILE *out);

typedef enum {
    HEAT_SIGNED,  /* diverging colours, symmetric around 0; -inf cells left blank */
    HEAT_WEIGHTS, /* 0..1 (attention weights, probabilities) */
    HEAT_MASK,    /* two colours: 0 (may look) and -inf (hidden) */
    HEAT_BINARY,  /* two colours: 0 (no) and 1 (yes) */
    HEAT_SCALED   /* 0..the largest value: weights that are all small still differ in colour */
} HeatStyle;

typedef struct {
    const char *key;   /* its data file is <key>.dat */
    const char *title;
    const Tensor *m;
    const char *const *row_labels; /* NULL: numbers */
    const char *const *col_labels;
    const char *xlabel, *ylabel;
    HeatStyle style;
} HeatPanel;

/* One figure NAME.png with n heatmaps side by side. Cells show their values when the matrix is at
 * most 12 x 12. */
void plot_heatmaps(Plotter *p, const char *name, const char *title, const HeatPanel *panels, int n);
/* One heatmap NAME.png with row mark_row framed in red (the row the text is about; < 0: none). */
void plot_heatmap_marked(Plotter *p, const char *name, const char *title, const HeatPanel *panel, int mark_row);

typedef struct {
    const char *title;
    const double *y;  /* one value per x; NaN leaves a gap */
    bool reference;   /* a reference level (a floor, chance): a dashed line, each reference its own pattern */
} LineSeries;

typedef struct {
    const char *xlabel, *ylabel;
    bool logx; /* base-2 log scale */
    bool logy; /* base-10 log scale */
} LineAxes;

/* One figure NAME.png: every series against x, with a legend. */
void plot_lines(Plotter *p, const char *name, const char *title, const LineAxes *axes,
                const double *x, int n_points, const LineSeries *series, int n_series);
/* The same, with a spread around each point drawn as an error bar from lo[s][i] to hi[s][i] (the
 * smallest and largest over seeds, say); lo[s] = NULL leaves series s without bars. */
void plot_lines_spread(Plotter *p, const char *name, const char *title, const LineAxes *axes, const double *x,
                       int n_points, const LineSeries *series, const double *const *lo, const double *const *hi,
                       int n_series);

/* Grouped bars: n categories along x, each labelled (labels[i]); every series that is not a
 * reference gives one bar per category, side by side; a reference series (chance, an intact model)
 * is drawn as a dashed line across the categories. */
void plot_bars(Plotter *p, const char *name, const char *title, const char *ylabel, const char *const *labels,
               int n, const LineSeries *series, int n_series);

/* A line chart with more say over its looks: `settings` (NULL for none) are gnuplot commands run
 * before the plot (a range, a tic format), and with[s] (with = NULL, or with[s] = NULL, for the
 * default) is series s's gnuplot style after "with" ("lines lw 2", "points pt 6 ps 2"). */
typedef struct {
    const char *title;
    LineAxes axes;
    const char *settings;
    const double *x;
    int n_points;
    const LineSeries *series;
    const char *const *with;
    int n_series;
} LinePanel;
void plot_line_chart(Plotter *p, const char *name, const LinePanel *chart);
/* Line charts side by side in one figure NAME.png (a whole view and a zoom, say), under one title;
 * panel i's data goes to NAME_<i+1>.dat. */
void plot_line_panels(Plotter *p, const char *name, const char *title, const LinePanel *panels, int n);

/* Points (x[i], y[i]) each with a text label (a word next to its embedding, say), labels placed
 * apart as below. The numbers go to NAME.dat, the labels into the script. */
void plot_labeled_points(Plotter *p, const char *name, const char *title, const char *xlabel, const char *ylabel,
                         const double *x, const double *y, const char *const *labels, int n);
/* The same coloured by group: point i belongs to group[i] (0 .. n_groups-1, named in the legend by
 * group_names). Each label is placed next to its point where it covers no other label and no point,
 * as far as that can be done (tried around the point, nearest first); a label that had to move away
 * is joined to its point by a thin line. */
void plot_labeled_groups(Plotter *p, const char *name, const char *title, const char *xlabel, const char *ylabel,
                         const double *x, const double *y, const char *const *labels, const int *group,
                         const char *const *group_names, int n_groups, int n);

/* A drawing of boxes and arrows on a 100 x 100 canvas (a data-flow diagram). Boxes are filled
 * with `color` ("#dbe9f6") and labelled in their centre; a frame is a dashed outline labelled at
 * its top-left corner. Only NAME.gp and NAME.png are written: a diagram has no data. */
typedef struct {
    double x1, y1, x2, y2;
    const char *label;
    const char *color; /* fill; NULL for a frame */
} DiagramBox;

typedef struct {
    double x1, y1, x2, y2;
    bool dashed;
    bool no_head; /* a segment of a bent arrow */
} DiagramArrow;

void plot_diagram(Plotter *p, const char *name, const char *title, const DiagramBox *boxes, int n_boxes,
                  const DiagramArrow *arrows, int n_arrows, int width, int height);

#endif
