/* ch06_positional_encoding: where a token stands, source document §2.2.3 and §4.3.
 *
 *   PE(pos, 2i) = sin(pos / 10000^(2i/d)),   PE(pos, 2i+1) = cos(pos / 10000^(2i/d))
 *
 * Attention by itself does not know the order of its inputs (section 5 proves it), so the model
 * adds a position vector to each token's embedding. This program builds the sinusoidal table,
 * shows the two properties that make it useful (a shift by k positions is one fixed rotation for
 * every pos; the dot product of two positions depends only on their distance), and compares it
 * with a learned table, which has no row past the length it was trained for.
 *
 * Run: make ch06 && ./ch06_positional_encoding [--positions N] [--d-model D] [--max-len L]
 *                                              [--sentence "..."] [--tokens N] [--seed S]        */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "cli.h"
#include "demo.h"
#include "layers.h"
#include "plot.h"
#include "print.h"
#include "util.h"

#define CHAPTER "ch06_positional_encoding"

typedef struct {
    int N, D, L;      /* positions in the table, width, learned table length */
    Tensor PE;        /* (N, D) */
    AttnDemo demo;    /* the sentence for the permutation test, X (T, D) */
    PrintOpts po;
    Plotter plot;
    uint64_t seed;
} Chapter;

static double omega(int i2, int D) { return 1.0 / pow(10000.0, (double)i2 / D); } /* frequency of pair 2i */

/* ---- 1. The table ---- */
static void section_table(Chapter *ch) {
    print_section(stdout, 1, "The sinusoidal table");
    printf("  PE[pos][2i] = sin(pos * w_i), PE[pos][2i+1] = cos(pos * w_i), w_i = 1 / 10000^(2i/d)\n"
           "  (N, d) = (%d, %d): row pos is added to the embedding of the token at position pos.\n\n", ch->N, ch->D);
    for (int pos = 0; pos < ch->N; pos++)
        for (int c = 0; c < ch->D; c++) {
            const double a = pos * omega(c - c % 2, ch->D);
            *tensor_at(&ch->PE, pos, c) = (float)(c % 2 == 0 ? sin(a) : cos(a));
        }
    print_matrix(stdout, "PE", &ch->PE, &ch->po);
    printf("\n  Wavelength of each pair (positions per full turn, 2 pi / w_i):\n   ");
    for (int i2 = 0; i2 < ch->D; i2 += 2) printf(" %.1f", 6.283185307179586 / omega(i2, ch->D));
    printf("\n");
    print_note(stdout, "Notice: the first columns turn fast (a wavelength of 6.3 positions), the last "
                       "ones so slowly that they change little over the whole table. Together they "
                       "give every position a distinct pattern, like the digits of a clock with many "
                       "hands.");
    Tensor lib = tensor_new(ch->N, ch->D);
    posenc_sinusoidal(&lib);
    printf("\n  common/layers.c posenc_sinusoidal against this loop: largest difference %.3g.\n",
           tensor_max_abs_diff(&lib, &ch->PE));
    tensor_free(&lib);
    putchar('\n');
    HeatPanel panel = {"table", "PE[pos][dim]", &ch->PE, NULL, NULL, "dimension", "position", HEAT_SIGNED};
    plot_heatmaps(&ch->plot, "table", "The sinusoidal positional encoding", &panel, 1);
    /* the columns as functions of a real position, sampled 8 times per position; the table's rows (whole
     * positions, every 8th sample) are marked */
    enum { SUB = 8 };
    const int n_x = (ch->N - 1) * SUB + 1;
    double *x = xmalloc(sizeof(double) * (size_t)n_x), *y[4];
    static const char *const names[4] = {"dim 0 (sin, fastest)", "dim 1 (cos, fastest)", "dim 4 (sin)", "dim 8 (sin)"};
    const int dims[4] = {0, 1, 4, 8};
    LineSeries s[4];
    const char *with[4];
    int ns = 0;
    for (int i = 0; i < n_x; i++) x[i] = (double)i / SUB;
    for (int k = 0; k < 4; k++) {
        if (dims[k] >= ch->D) continue;
        y[ns] = xmalloc(sizeof(double) * (size_t)n_x);
        const double w = omega(dims[k] - dims[k] % 2, ch->D);
        for (int i = 0; i < n_x; i++) y[ns][i] = dims[k] % 2 ? cos(x[i] * w) : sin(x[i] * w);
        s[ns] = (LineSeries){names[k], y[ns], false};
        with[ns] = "linespoints lw 2 pi 8 pt 7 ps 0.9"; /* a mark at every whole position */
        ns++;
    }
    LinePanel chart = {"A few columns of the table: sinusoids of falling frequency (dots: the table's rows)",
                       {"position", "PE value", false, false},
                       "set key outside right top box\nset xrange [0:*]\nset offsets 0, 0.5, 0, 0",
                       x, n_x, s, with, ns};
    plot_line_chart(&ch->plot, "dimensions", &chart);
    for (int k = 0; k < ns; k++) free(y[k]);
    free(x);
}

/* ---- 2. A shift is a rotation ---- */

/* R_k (D, D): for each pair, [s c] -> [s cos b + c sin b, -s sin b + c cos b] with b = k w_i, the
 * angle-addition formulas; a row vector times R_k. An odd last column (a lone sine) has no partner
 * and is left out of the identity (its row and column stay 0). */
static void rotation(Tensor *R, int k, int D) {
    tensor_fill(R, 0.0f);
    for (int i2 = 0; i2 + 1 < D; i2 += 2) {
        const double b = k * omega(i2, D);
        *tensor_at(R, i2, i2) = (float)cos(b);
        *tensor_at(R, i2, i2 + 1) = (float)-sin(b);
        *tensor_at(R, i2 + 1, i2) = (float)sin(b);
        *tensor_at(R, i2 + 1, i2 + 1) = (float)cos(b);
    }
}

static void section_rotation(Chapter *ch) {
    print_section(stdout, 2, "Moving k positions is one fixed linear map");
    printf("  sin(a + b) = sin a cos b + cos a sin b,  cos(a + b) = cos a cos b - sin a sin b, so\n"
           "  PE(pos + k) = PE(pos) R_k, with R_k block-diagonal: a 2x2 rotation by k w_i per pair,\n"
           "  the same matrix for every pos.\n\n");
    Tensor R = tensor_new(ch->D, ch->D);
    rotation(&R, 1, ch->D);
    PrintOpts po = ch->po;
    po.row_labels = po.col_labels = NULL;
    const int corner = ch->D < 6 ? ch->D : 6;
    Tensor top = tensor_view(&R, 0, 0, corner, corner);
    print_matrix(stdout, "R_1, its top-left corner (the first three pairs)", &top, &po);
    printf("\n  %6s %14s %28s\n", "k", "positions", "max |PE(pos) R_k - PE(pos+k)|");
    const int ks[] = {1, 2, 5, 10, 20};
    for (size_t j = 0; j < sizeof ks / sizeof ks[0]; j++) {
        const int k = ks[j], n = ch->N - k;
        if (n < 1) break;
        rotation(&R, k, ch->D);
        Tensor from = tensor_view(&ch->PE, 0, 0, n, ch->D), to = tensor_view(&ch->PE, k, 0, n, ch->D);
        Tensor pred = tensor_new(n, ch->D);
        tensor_matmul(&pred, &from, &R); /* (n, D) x (D, D) */
        if (ch->D % 2) /* the lone last sine is not a rotation pair: compare the pairs only */
            for (int p = 0; p < n; p++) *tensor_at(&pred, p, ch->D - 1) = *tensor_at(&to, p, ch->D - 1);
        printf("  %6d %8d..%-5d %28.2e\n", k, 0, n - 1, tensor_max_abs_diff(&pred, &to));
        tensor_free(&pred);
    }
    tensor_free(&R);
    print_note(stdout, "Notice: float rounding only. Because the map from pos to pos + k does not depend "
                       "on pos, a model can learn to attend \"k tokens back\" with one linear map, "
                       "anywhere in the sequence: relative positions are easy to express.");
}

/* ---- 3. Dot products depend only on the distance ---- */

/* PE(p) . PE(p + d) against d for a few starting positions p (marks, from the table G), over the
 * closed form sum_i cos(d w_i) drawn between whole distances too: the marks of every p fall on the
 * one curve, and the curve's ripples come from the fast pairs. */
static void dot_figure(Chapter *ch, const Tensor *G) {
    enum { SUB = 8, N_P = 3 };
    const int N = ch->N, n_x = (N - 1) * SUB + 1;
    const int ps[N_P] = {0, N / 4, N / 2};
    double *x = xmalloc(sizeof(double) * (size_t)n_x), *y[N_P + 1];
    for (int k = 0; k <= N_P; k++) y[k] = xmalloc(sizeof(double) * (size_t)n_x);
    for (int i = 0; i < n_x; i++) {
        x[i] = (double)i / SUB;
        y[0][i] = 0;
        for (int c = 0; c + 1 < ch->D; c += 2) y[0][i] += cos(x[i] * omega(c, ch->D)); /* the pairs' sum */
        for (int k = 0; k < N_P; k++) {
            const int d = i / SUB;
            y[k + 1][i] = i % SUB == 0 && ps[k] + d < N ? *tensor_at(G, ps[k], ps[k] + d) : NAN;
        }
    }
    char names[N_P][48];
    LineSeries s[N_P + 1] = {{"sum_i cos(d w_i), any real d", y[0], false}};
    const char *with[N_P + 1] = {"lines lw 2 lc rgb '#555555'", "points pt 6 ps 2.2 lw 2", "points pt 2 ps 1.4 lw 2",
                                 "points pt 1 ps 1.4 lw 2"};
    for (int k = 0; k < N_P; k++) {
        snprintf(names[k], sizeof names[k], "PE(%d) . PE(%d + d)", ps[k], ps[k]);
        s[k + 1] = (LineSeries){names[k], y[k + 1], false};
    }
    char title[160];
    snprintf(title, sizeof title, "Similarity of two positions depends on their distance only (at d = 0: %.4g)",
             *tensor_at(G, 0, 0));
    char settings[160];
    snprintf(settings, sizeof settings, "set key outside right top box\nset xrange [0:%d]%s", N - 1,
             ch->D % 2 ? "\n# an odd width: the closed form leaves out the lone sine" : "");
    LinePanel chart = {title, {"distance d between the two positions", "dot product", false, false}, settings,
                       x, n_x, s, with, N_P + 1};
    plot_line_chart(&ch->plot, "dot_product", &chart);
    for (int k = 0; k <= N_P; k++) free(y[k]);
    free(x);
}
static void section_dot(Chapter *ch) {
    print_section(stdout, 3, "PE(p) . PE(q) depends only on |p - q|");
    printf("  PE(p) . PE(q) = sum_i [sin(p w_i) sin(q w_i) + cos(p w_i) cos(q w_i)] = sum_i cos((p - q) w_i)\n\n");
    const int N = ch->N;
    Tensor G = tensor_new(N, N);
    tensor_matmul_bt(&G, &ch->PE, &ch->PE); /* (N, D) x (D, N): every pair of positions */
    printf("  %7s %12s %12s %14s\n", "|p - q|", "min over p", "max over p", "sum cos(d w_i)");
    double *x = xmalloc(sizeof(double) * (size_t)N), *y = xmalloc(sizeof(double) * (size_t)N);
    double worst = 0;
    for (int d = 0; d < N; d++) {
        double lo = INFINITY, hi = -INFINITY;
        for (int p = 0; p + d < N; p++) {
            lo = fmin(lo, *tensor_at(&G, p, p + d));
            hi = fmax(hi, *tensor_at(&G, p, p + d));
            lo = fmin(lo, *tensor_at(&G, p + d, p)); /* and the other direction: |p - q| */
            hi = fmax(hi, *tensor_at(&G, p + d, p));
        }
        double closed = 0;
        for (int c = 0; c + 1 < ch->D; c += 2) closed += cos(d * omega(c, ch->D));
        if (ch->D % 2) closed = NAN; /* a lone sine breaks the pairing; no closed form printed */
        worst = fmax(worst, hi - lo);
        x[d] = d;
        y[d] = *tensor_at(&G, 0, d);
        if (d < 8 || d % 8 == 0 || d == N - 1) printf("  %7d %12.5f %12.5f %14.5f\n", d, lo, hi, closed);
    }
    printf("\n  Largest spread over p for one distance: %.2e%s.\n", worst,
           ch->D % 2 ? " (an odd width leaves one unpaired sine column, which breaks the identity)" : " (float rounding)");
    print_note(stdout, "Notice: the dot product is largest at distance 0, where it is d/2, and for any "
                       "distance it is the same wherever the pair sits: the table encodes distance, not "
                       "just place.");
    putchar('\n');
    dot_figure(ch, &G);
    HeatPanel panel = {"gram", "PE(p) . PE(q)", &G, NULL, NULL, "position q", "position p", HEAT_SIGNED};
    plot_heatmaps(&ch->plot, "gram", "Dot products of all pairs of positions: constant along diagonals", &panel, 1);
    free(x), free(y);
    tensor_free(&G);
}

/* ---- 4. Without positions, attention ignores order ---- */

/* out = attention(X W^Q, X W^K, X W^V) with the example's weights. */
static void attend(Tensor *out, const AttnDemo *d, const Tensor *X) { demo_attend(out, d, X, NULL); }

static void section_permutation(Chapter *ch) {
    const AttnDemo *d = &ch->demo;
    const int T = d->T, D = ch->D;
    print_section(stdout, 4, "Without positions, attention does not see order");
    printf("  Reverse the sentence: row t of the new input is row T-1-t of the old. Without positions,\n"
           "  the outputs are the old outputs reversed (permutation equivariance): attention sees a set.\n\n");
    Tensor X2 = tensor_new(T, D), out = tensor_new(T, D), out2 = tensor_new(T, D), back = tensor_new(T, D);
    for (int t = 0; t < T; t++) {
        Tensor dst = tensor_row(&X2, t), src = tensor_row(&d->X, T - 1 - t);
        tensor_copy(&dst, &src);
    }
    attend(&out, d, &d->X);
    attend(&out2, d, &X2);
    for (int t = 0; t < T; t++) {
        Tensor dst = tensor_row(&back, t), src = tensor_row(&out2, T - 1 - t);
        tensor_copy(&dst, &src);
    }
    const double without = tensor_max_abs_diff(&back, &out);
    /* Now add the positions: the same word at another place is a different vector. */
    Tensor P = tensor_view(&ch->PE, 0, 0, T, D);
    Tensor Xp = tensor_new(T, D), X2p = tensor_new(T, D);
    tensor_add(&Xp, &d->X, &P);
    tensor_add(&X2p, &X2, &P);
    attend(&out, d, &Xp);
    attend(&out2, d, &X2p);
    for (int t = 0; t < T; t++) {
        Tensor dst = tensor_row(&back, t), src = tensor_row(&out2, T - 1 - t);
        tensor_copy(&dst, &src);
    }
    const double with = tensor_max_abs_diff(&back, &out);
    printf("  max |reverse(attention(reversed X)) - attention(X)|\n");
    printf("    X alone:   %.3g   (float rounding: the sums run in another order)\n", without);
    printf("    X + PE:    %.3g\n", with);
    print_note(stdout, "Notice: without positions, \"dog bites man\" and \"man bites dog\" give the same "
                       "vectors, only in another order. Adding PE makes each output depend on where its "
                       "word stands.");
    tensor_free(&X2), tensor_free(&out), tensor_free(&out2), tensor_free(&back), tensor_free(&Xp), tensor_free(&X2p);
}

/* ---- 5. Learned positions ---- */
static void section_learned(Chapter *ch) {
    print_section(stdout, 5, "Learned positional embeddings (§4.3.2), and their limit");
    printf("  Instead of a formula, a parameter table P (L, d) = (%d, %d), learned like the token\n"
           "  embeddings: %d parameters against 0 for the formula. Position pos adds row P[pos].\n\n",
           ch->L, ch->D, ch->L * ch->D);
    Rng rng;
    rng_seed(&rng, ch->seed, 60);
    Tensor P = tensor_new(ch->L, ch->D);
    tensor_randn(&P, &rng, 0.02f); /* GPT-2's initial scale; training would shape it */
    const int asks[] = {0, ch->L - 1, ch->L, 2 * ch->L, 1000};
    printf("  %9s  %-34s %s\n", "position", "learned table", "sinusoidal formula");
    for (size_t i = 0; i < sizeof asks / sizeof asks[0]; i++) {
        const int pos = asks[i];
        char left[64];
        if (pos < ch->L) snprintf(left, sizeof left, "row %d: %+.3f %+.3f ...", pos, (double)*tensor_at(&P, pos, 0),
                                  (double)*tensor_at(&P, pos, 1));
        else snprintf(left, sizeof left, "no row (only 0..%d exist)", ch->L - 1);
        Tensor one = tensor_new(pos + 1, ch->D);
        posenc_sinusoidal(&one);
        printf("  %9d  %-34s %+.3f %+.3f ...\n", pos, left, (double)*tensor_at(&one, pos, 0), (double)*tensor_at(&one, pos, 1));
        tensor_free(&one);
    }
    print_note(stdout, "Notice: what the source leaves out: a learned table simply has no row for a "
                       "position past the longest sequence it was trained on, so such a model cannot "
                       "take a longer input at all, while the formula gives a vector for any position "
                       "(whether a model trained on short inputs uses it well is another matter).");
    tensor_free(&P);
}

int main(int argc, char **argv) {
    DemoFlags flags = demo_flags_default();
    flags.d_model = 16;
    CliCommon common = cli_common_defaults();
    long long positions = 32, max_len = 24;
    CliOption opts[DEMO_N_OPTIONS + 2];
    int n = demo_cli_options(opts, &flags, false);
    opts[n++] = cli_int("--positions", &positions, 2, 4096, "N", "rows of the sinusoidal table");
    opts[n++] = cli_int("--max-len", &max_len, 1, 4096, "L", "rows of the learned table");
    CliSpec spec = {CHAPTER, "Positional encoding (source document §2.2.3, §4.3): the sinusoidal table, shifts as\n"
                             "rotations, distance in dot products, order blindness without it, learned tables.",
                    opts, n};
    cli_parse(&spec, &common, argc, argv);

    Chapter ch;
    memset(&ch, 0, sizeof ch);
    flags.d_k = flags.d_model;
    demo_build(&ch.demo, &flags, (uint64_t)common.seed);
    if (ch.demo.T > positions)
        die(EXIT_USAGE, "--positions: %lld is fewer than the %d words of the sentence", positions, ch.demo.T);
    ch.N = (int)positions, ch.D = (int)flags.d_model, ch.L = (int)max_len, ch.seed = (uint64_t)common.seed;
    ch.PE = tensor_new(ch.N, ch.D);
    ch.po = print_defaults();
    ch.po.precision = (int)common.precision;
    ch.po.color = print_color_wanted();
    plot_init(&ch.plot, &common, CHAPTER, stdout);

    printf("Chapter 6: positional encoding (source document §2.2.3 and §4.3)\n\n");
    printf("  %d positions, d_model = %d, learned table of %d rows, seed = %lld\n", ch.N, ch.D, ch.L, common.seed);
    section_table(&ch);
    section_rotation(&ch);
    section_dot(&ch);
    section_permutation(&ch);
    section_learned(&ch);

    tensor_free(&ch.PE);
    demo_free(&ch.demo);
    return 0;
}
