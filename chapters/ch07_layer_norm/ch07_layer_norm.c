/* ch07_layer_norm: layer normalisation, source document §3.3 and §4.4.
 *
 *   LN(x) = gamma * (x - mean) / sqrt(var + eps) + beta,   mean and var over the C features of ONE row
 *
 * Each row (one token's vector) is standardised on its own, then scaled and shifted by learned
 * gamma and beta. The source describes it as standardising "each feature dimension of each
 * sample separately", which is the axis of batch normalisation: section 4 computes both on the same
 * batch and shows the difference, including the one that matters most (batch norm mixes rows).
 *
 * Run: make ch07 && ./ch07_layer_norm [--rows N] [--features C] [--eps E] [--seed S] [--no-plot]  */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gradcheck.h"
#include "layers.h"
#include "plot.h"
#include "print.h"
#include "util.h"

#define CHAPTER "ch07_layer_norm"

typedef struct {
    int N, C;
    float eps;
    Tensor X;             /* (N, C) the batch: N token vectors */
    Tensor gamma, beta;   /* (1, C) */
    Tensor stats;         /* (N, 2) mean and variance of each row */
    Tensor xhat, Y;       /* (N, C) standardised rows; gamma * xhat + beta */
    Tensor B;             /* (N, C) batch norm of X */
    PrintOpts po;
    Plotter plot;
    uint64_t seed;
} Chapter;

/* Layer norm of every row, with plain loops: the chapter's own version. */
static void layer_norm(Tensor *out, Tensor *stats, const Tensor *x, const Tensor *gamma, const Tensor *beta, float eps) {
    for (int r = 0; r < x->rows; r++) {
        double mean = 0, var = 0;
        for (int c = 0; c < x->cols; c++) mean += *tensor_at(x, r, c);
        mean /= x->cols;
        for (int c = 0; c < x->cols; c++) var += pow(*tensor_at(x, r, c) - mean, 2);
        var /= x->cols;
        const float rstd = (float)(1.0 / sqrt(var + eps));
        for (int c = 0; c < x->cols; c++)
            *tensor_at(out, r, c) = ((*tensor_at(x, r, c) - (float)mean) * rstd) * gamma->data[c] + beta->data[c];
        if (stats) *tensor_at(stats, r, 0) = (float)mean, *tensor_at(stats, r, 1) = (float)var;
    }
}

/* Batch norm without its learned scale: each COLUMN standardised over the rows of the batch. */
static void batch_norm(Tensor *out, const Tensor *x, float eps) {
    for (int c = 0; c < x->cols; c++) {
        double mean = 0, var = 0;
        for (int r = 0; r < x->rows; r++) mean += *tensor_at(x, r, c);
        mean /= x->rows;
        for (int r = 0; r < x->rows; r++) var += pow(*tensor_at(x, r, c) - mean, 2);
        var /= x->rows;
        const float rstd = (float)(1.0 / sqrt(var + eps));
        for (int r = 0; r < x->rows; r++) *tensor_at(out, r, c) = (*tensor_at(x, r, c) - (float)mean) * rstd;
    }
}

/* Mean and standard deviation of each row (axis 0) or column (axis 1) of t, as printable rows. */
static void print_axis_stats(const char *label, const Tensor *t, int axis) {
    const int n = axis == 0 ? t->rows : t->cols, m = axis == 0 ? t->cols : t->rows;
    printf("  %s\n    %-8s", label, axis == 0 ? "row" : "column");
    for (int i = 0; i < n && i < 12; i++) printf(" %7d", i);
    printf("%s\n    %-8s", n > 12 ? "  ..." : "", "mean");
    for (int i = 0; i < n && i < 12; i++) {
        double s = 0;
        for (int j = 0; j < m; j++) s += axis == 0 ? *tensor_at(t, i, j) : *tensor_at(t, j, i);
        const double mean = s / m;
        printf(" %7.3f", fabs(mean) < 5e-4 ? 0.0 : mean); /* no "-0.000" for a rounding-size mean */
    }
    printf("\n    %-8s", "std");
    for (int i = 0; i < n && i < 12; i++) {
        double s = 0, s2 = 0;
        for (int j = 0; j < m; j++) {
            double v = axis == 0 ? *tensor_at(t, i, j) : *tensor_at(t, j, i);
            s += v, s2 += v * v;
        }
        printf(" %7.3f", sqrt(fmax(0.0, s2 / m - (s / m) * (s / m))));
    }
    printf("\n");
}

/* ---- 1. The batch ---- */
static void section_input(Chapter *ch) {
    print_section(stdout, 1, "A batch of token vectors");
    printf("  X (N, C) = (%d, %d): N rows, one per token; row r has its own offset and spread, as\n"
           "  activations deep in a network drift.\n\n", ch->N, ch->C);
    print_matrix(stdout, "X", &ch->X, &ch->po);
    putchar('\n');
    print_axis_stats("statistics of each row of X:", &ch->X, 0);
}

/* ---- 2. Layer norm, step by step ---- */
static void section_layernorm(Chapter *ch) {
    print_section(stdout, 2, "Layer norm, one row at a time");
    printf("  mean_r = (1/C) sum_c X[r][c];  var_r = (1/C) sum_c (X[r][c] - mean_r)^2   (divided by C, not C-1)\n"
           "  xhat[r][c] = (X[r][c] - mean_r) / sqrt(var_r + eps),  eps = %g\n\n", (double)ch->eps);
    Tensor ones = tensor_new(1, ch->C), zeros = tensor_new(1, ch->C);
    tensor_fill(&ones, 1.0f);
    layer_norm(&ch->xhat, &ch->stats, &ch->X, &ones, &zeros, ch->eps);
    PrintOpts ps = ch->po;
    static const char *const cols[] = {"mean", "var"};
    ps.col_labels = cols;
    print_matrix(stdout, "per-row statistics", &ch->stats, &ps);
    putchar('\n');
    print_matrix(stdout, "xhat = (X - mean) / sqrt(var + eps)", &ch->xhat, &ch->po);
    putchar('\n');
    print_axis_stats("statistics of each row of xhat:", &ch->xhat, 0);
    printf("\n  y = gamma * xhat + beta, with learned gamma and beta (C,) (here random, as if trained):\n\n");
    print_matrix(stdout, "gamma", &ch->gamma, &ch->po);
    print_matrix(stdout, "beta", &ch->beta, &ch->po);
    layer_norm(&ch->Y, NULL, &ch->X, &ch->gamma, &ch->beta, ch->eps);
    putchar('\n');
    print_matrix(stdout, "LN(X) = gamma * xhat + beta", &ch->Y, &ch->po);
    print_note(stdout, "Notice: after standardising, every row has mean 0 and standard deviation 1 "
                       "(just under 1: eps is added to the variance). gamma and beta then let the "
                       "model choose the scale and offset of each feature again, so nothing is lost.");
    tensor_free(&ones), tensor_free(&zeros);
}

/* ---- 3. The source's description is batch norm ---- */
static void section_batchnorm(Chapter *ch) {
    const int N = ch->N, C = ch->C;
    print_section(stdout, 3, "Erratum: the source's description is batch norm's axis");
    print_wrapped(stdout, 2,
                  "§3.3 says layer normalisation standardises each feature dimension of each sample "
                  "separately. Standardising a feature (a column) needs statistics over many samples: "
                  "that is batch normalisation, which averages down each column of the batch. Layer "
                  "norm averages across each row. Both on the same X, without gamma and beta:");
    putchar('\n');
    batch_norm(&ch->B, &ch->X, ch->eps);
    print_matrix(stdout, "BN(X): each column standardised over the N rows", &ch->B, &ch->po);
    putchar('\n');
    print_axis_stats("statistics of each column of BN(X):", &ch->B, 1);
    print_axis_stats("statistics of each row of BN(X):", &ch->B, 0);
    printf("\n  max |LN(X) - BN(X)| (both without gamma, beta) = %.3f\n", tensor_max_abs_diff(&ch->xhat, &ch->B));

    /* The difference that matters: change one row and see which outputs move. */
    Tensor X2 = tensor_new(N, C), L2 = tensor_new(N, C), B2 = tensor_new(N, C), ones = tensor_new(1, C), zeros = tensor_new(1, C);
    tensor_fill(&ones, 1.0f);
    tensor_copy(&X2, &ch->X);
    for (int c = 0; c < C; c++) *tensor_at(&X2, 0, c) *= 5.0f; /* another token in row 0 */
    layer_norm(&L2, NULL, &X2, &ones, &zeros, ch->eps);
    batch_norm(&B2, &X2, ch->eps);
    int ln_same = 0, bn_same = 0;
    for (int r = 1; r < N; r++) ln_same += tensor_rows_identical(&L2, &ch->xhat, r), bn_same += tensor_rows_identical(&B2, &ch->B, r);
    printf("\n  Multiply row 0 of X by 5 and normalise again. Rows 1..%d that keep every bit:\n"
           "    layer norm  %d of %d\n    batch norm  %d of %d\n", N - 1, ln_same, N - 1, bn_same, N - 1);
    print_note(stdout, "Notice: with batch norm a token's output depends on the other tokens in the "
                       "batch (and on the batch size, and training differs from inference, which needs "
                       "running averages). Layer norm treats each token alone: the same result at any "
                       "batch size, for one token at a time when generating text. That is why "
                       "Transformers use it.");
    /* the figure: which outputs changed at all (any bit), cell by cell */
    Tensor dL = tensor_new(N, C), dB = tensor_new(N, C);
    for (int i = 0; i < N * C; i++)
        dL.data[i] = L2.data[i] != ch->xhat.data[i], dB.data[i] = B2.data[i] != ch->B.data[i];
    HeatPanel panels[2] = {
        {"one_token_layer_norm", "layer norm: LN(X') differs from LN(X)?", &dL, NULL, NULL, "feature", "token (row)",
         HEAT_BINARY},
        {"one_token_batch_norm", "batch norm: BN(X') differs from BN(X)?", &dB, NULL, NULL, "feature", "token (row)",
         HEAT_BINARY},
    };
    putchar('\n');
    plot_heatmaps(&ch->plot, "one_token", "X' = X with row 0 multiplied by 5: which outputs change (any bit)", panels, 2);
    tensor_free(&dL), tensor_free(&dB);
    tensor_free(&X2), tensor_free(&L2), tensor_free(&B2), tensor_free(&ones), tensor_free(&zeros);
}

/* ---- 4. Invariance and epsilon ---- */
static void section_invariance(Chapter *ch) {
    const int N = ch->N, C = ch->C;
    print_section(stdout, 4, "What layer norm ignores, and what eps is for");
    Tensor X2 = tensor_new(N, C), Y2 = tensor_new(N, C), ones = tensor_new(1, C), zeros = tensor_new(1, C);
    tensor_fill(&ones, 1.0f);
    printf("  Scale and shift each row, x -> a_r x + b_r (a_r = r + 2, b_r = 3 - r), then normalise:\n");
    for (int r = 0; r < N; r++)
        for (int c = 0; c < C; c++) *tensor_at(&X2, r, c) = (float)(r + 2) * *tensor_at(&ch->X, r, c) + (float)(3 - r);
    layer_norm(&Y2, NULL, &X2, &ones, &zeros, ch->eps);
    printf("    max |LN(a x + b) - LN(x)| = %.2e  (not exactly 0 only because eps does not scale with a^2)\n",
           tensor_max_abs_diff(&Y2, &ch->xhat));

    printf("\n  A constant row has variance 0: (x - mean) / sqrt(0 + eps) = 0 / sqrt(eps) = 0.\n");
    Tensor row = tensor_new(1, C), out = tensor_new(1, C);
    tensor_fill(&row, 3.0f);
    const float epss[] = {ch->eps, 0.0f};
    for (int k = 0; k < 2; k++) {
        layer_norm(&out, NULL, &row, &ones, &zeros, epss[k]);
        if (isnan(out.data[0])) printf("    row of 3s, eps = %-6g -> nan nan ...  (0 * 1/sqrt(0) = 0 * inf)\n", (double)epss[k]);
        else printf("    row of 3s, eps = %-6g -> %.3f %.3f ...\n", (double)epss[k], (double)out.data[0], (double)out.data[1]);
    }
    printf("  A nearly constant row (3 plus noise of size 1e-4):\n");
    Rng rng;
    rng_seed(&rng, ch->seed, 71);
    for (int c = 0; c < C; c++) row.data[c] = 3.0f + 1e-4f * (float)rng_normal(&rng);
    const float more[] = {0.0f, ch->eps, 1e-3f};
    for (int k = 0; k < 3; k++) {
        layer_norm(&out, NULL, &row, &ones, &zeros, more[k]);
        double m = 0;
        for (int c = 0; c < C; c++) m = fmax(m, fabs(out.data[c]));
        printf("    eps = %-6g -> largest |output| %.3f\n", (double)more[k], m);
    }
    print_note(stdout, "Notice: without eps a constant row gives NaN and a nearly constant one has its "
                       "noise blown up to unit size; eps bounds the amplification by 1/sqrt(eps).");
    tensor_free(&X2), tensor_free(&Y2), tensor_free(&ones), tensor_free(&zeros), tensor_free(&row), tensor_free(&out);
}

/* ---- 5. The library's forward and backward ---- */
typedef struct {
    Tensor *x, *g, *b, *out, *mean, *rstd, *R;
    float eps;
} LossCtx;

static double ln_loss(void *v) {
    LossCtx *l = v;
    layernorm_forward(l->out, l->mean, l->rstd, l->x, l->g, l->b, l->eps);
    return tensor_dot(l->out, l->R);
}

static void section_backward(Chapter *ch) {
    const int N = ch->N, C = ch->C;
    print_section(stdout, 5, "The library's layer norm and its backward pass");
    Tensor out = tensor_new(N, C), mean = tensor_new(N, 1), rstd = tensor_new(N, 1);
    layernorm_forward(&out, &mean, &rstd, &ch->X, &ch->gamma, &ch->beta, ch->eps);
    printf("  common/layers.c layernorm_forward against section 2: largest difference %.3g\n\n",
           tensor_max_abs_diff(&out, &ch->Y));
    printf("  With xhat = (x - mean) r, r = 1/sqrt(var + eps), y = gamma xhat + beta:\n"
           "    dbeta  = sum over rows of dy\n"
           "    dgamma = sum over rows of dy * xhat\n"
           "    dxhat  = dy * gamma\n"
           "    dx     = r (dxhat - mean_c(dxhat) - xhat mean_c(dxhat * xhat))\n"
           "  The last line collects three paths: x itself, the mean (d mean/dx_c = 1/C) and r\n"
           "  (d r/dx_c = -r^3 (x_c - mean)/C).\n\n");
    Rng rng;
    rng_seed(&rng, ch->seed, 72);
    Tensor R = tensor_new(N, C), x = tensor_new(N, C), dx = tensor_new(N, C), dg = tensor_new(1, C), db = tensor_new(1, C);
    tensor_randn(&R, &rng, 1.0f);
    tensor_copy(&x, &ch->X);
    LossCtx l = {&x, &ch->gamma, &ch->beta, &out, &mean, &rstd, &R, ch->eps};
    ln_loss(&l);
    layernorm_backward(&dx, &dg, &db, &R, &x, &mean, &rstd, &ch->gamma);
    GradPair pairs[3] = {{"x", &x, &dx}, {"gamma", &ch->gamma, &dg}, {"beta", &ch->beta, &db}};
    printf("  Finite differences (L = sum(y * R), h = %g):\n", GRADCHECK_STEP);
    double worst = 0;
    for (int i = 0; i < 3; i++) {
        GradResult r = gradcheck(ln_loss, &l, &pairs[i], 1, 200, false, &rng);
        printf("    %-6s %4d elements, largest error %.2e\n", pairs[i].name, r.checked, r.max_error);
        worst = fmax(worst, r.max_error);
    }
    printf("  Largest error %.2e (tolerance %g): %s.\n", worst, GRADCHECK_TOL,
           worst < GRADCHECK_TOL ? "the backward pass agrees" : "MISMATCH");
    tensor_free(&out), tensor_free(&mean), tensor_free(&rstd), tensor_free(&R), tensor_free(&x);
    tensor_free(&dx), tensor_free(&dg), tensor_free(&db);
}

/* ---- 6. Figures ---- */
static void section_figures(Chapter *ch) {
    print_section(stdout, 6, "Figures");
    HeatPanel panels[3] = {
        {"x", "X", &ch->X, NULL, NULL, "feature", "token (row)", HEAT_SIGNED},
        {"layer_norm", "layer norm: each row standardised", &ch->xhat, NULL, NULL, "feature", "token (row)", HEAT_SIGNED},
        {"batch_norm", "batch norm: each column standardised", &ch->B, NULL, NULL, "feature", "token (row)", HEAT_SIGNED},
    };
    plot_heatmaps(&ch->plot, "norms", "The same batch, normalised along rows and along columns", panels, 3);
    if (!ch->plot.enabled) printf("  (--no-plot: no figures written)\n");
}

int main(int argc, char **argv) {
    CliCommon common = cli_common_defaults();
    long long rows = 6, features = 8;
    double eps = 1e-5;
    CliOption opts[] = {
        cli_int("--rows", &rows, 2, 4096, "N", "tokens in the batch"),
        cli_int("--features", &features, 2, 4096, "C", "features per token"),
        cli_real("--eps", &eps, 1e-12, 1.0, "E", "the epsilon added to the variance"),
    };
    CliSpec spec = {CHAPTER, "Layer normalisation (source document §3.3, §4.4): per-row statistics, gamma and beta,\n"
                             "the source's batch-norm description run beside it, invariances, eps, the backward pass.",
                    opts, 3};
    cli_parse(&spec, &common, argc, argv);

    Chapter ch;
    memset(&ch, 0, sizeof ch);
    ch.N = (int)rows, ch.C = (int)features, ch.eps = (float)eps, ch.seed = (uint64_t)common.seed;
    Rng rng;
    rng_seed(&rng, ch.seed, 7);
    ch.X = tensor_new(ch.N, ch.C);
    for (int r = 0; r < ch.N; r++) /* row r: offset 2 (r - N/2), spread 0.5 (r + 1) */
        for (int c = 0; c < ch.C; c++)
            *tensor_at(&ch.X, r, c) = (float)(2.0 * (r - ch.N / 2) + 0.5 * (r + 1) * rng_normal(&rng));
    ch.gamma = tensor_new(1, ch.C), ch.beta = tensor_new(1, ch.C);
    for (int c = 0; c < ch.C; c++) ch.gamma.data[c] = (float)(1.0 + 0.5 * rng_normal(&rng)), ch.beta.data[c] = (float)(0.3 * rng_normal(&rng));
    ch.stats = tensor_new(ch.N, 2), ch.xhat = tensor_new(ch.N, ch.C), ch.Y = tensor_new(ch.N, ch.C), ch.B = tensor_new(ch.N, ch.C);
    ch.po = print_defaults();
    ch.po.precision = (int)common.precision;
    ch.po.color = print_color_wanted();
    plot_init(&ch.plot, &common, CHAPTER, stdout);

    printf("Chapter 7: layer normalisation (source document §3.3 and §4.4)\n\n");
    printf("  N = %d tokens, C = %d features, eps = %g, seed = %lld\n", ch.N, ch.C, (double)ch.eps, common.seed);
    section_input(&ch);
    section_layernorm(&ch);
    section_batchnorm(&ch);
    section_invariance(&ch);
    section_backward(&ch);
    section_figures(&ch);

    Tensor *all[] = {&ch.X, &ch.gamma, &ch.beta, &ch.stats, &ch.xhat, &ch.Y, &ch.B};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tensor_free(all[i]);
    return 0;
}
