/* ch08_feed_forward_residual: the feed-forward network and the residual connection, source
 * document §3.2 and §3.4.
 *
 *   FFN(x) = act(x W1 + b1) W2 + b2        (T, d) -> (T, d_ff) -> (T, d); act = ReLU (source) or GELU
 *   post-norm (the source, the 2017 Transformer):  y = LN(x + F(x))
 *   pre-norm  (GPT-2 and later):                   y = x + F(LN(x))
 *
 * The FFN is computed step by step and checked against the library; ReLU and GELU are compared;
 * then the experiment that explains why residual connections and the placement of the norm matter:
 * the gradient that reaches each layer of a deep random stack, with no residual, post-norm and
 * pre-norm.
 *
 * Run: make ch08 && ./ch08_feed_forward_residual [--d-model D] [--d-ff F] [--tokens T] [--layers L]
 *                                                [--seed S] [--no-plot]                            */
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

#define CHAPTER "ch08_feed_forward_residual"

typedef struct {
    int T, D, F, L;
    Tensor x;         /* (T, D) the input tokens */
    FfnParams ffn;    /* one FFN for sections 1-3 */
    PrintOpts po;
    Plotter plot;
    uint64_t seed;
} Chapter;

static double frobenius(const Tensor *t) {
    double s = 0;
    for (int r = 0; r < t->rows; r++)
        for (int c = 0; c < t->cols; c++) s += (double)*tensor_at(t, r, c) * *tensor_at(t, r, c);
    return sqrt(s);
}

/* ---- 1. The feed-forward network, step by step ---- */
static void section_ffn(Chapter *ch) {
    const int T = ch->T, D = ch->D, F = ch->F;
    print_section(stdout, 1, "The feed-forward network, one token at a time");
    printf("  h = x W1 + b1    (T, d) x (d, d_ff) -> (T, d_ff) = (%d, %d) x (%d, %d) -> (%d, %d)\n"
           "  a = ReLU(h) = max(0, h)\n"
           "  out = a W2 + b2  (T, d_ff) x (d_ff, d) -> (T, d) = (%d, %d)\n\n", T, D, D, F, T, F, T, D);
    Tensor h = tensor_new(T, F), a = tensor_new(T, F), out = tensor_new(T, D);
    for (int t = 0; t < T; t++) { /* every token goes through the same two layers, independently */
        for (int j = 0; j < F; j++) {
            float s = ch->ffn.b1.data[j];
            for (int i = 0; i < D; i++) s += *tensor_at(&ch->x, t, i) * *tensor_at(&ch->ffn.W1, i, j);
            *tensor_at(&h, t, j) = s;
            *tensor_at(&a, t, j) = s > 0 ? s : 0.0f;
        }
        for (int i = 0; i < D; i++) {
            float s = ch->ffn.b2.data[i];
            for (int j = 0; j < F; j++) s += *tensor_at(&a, t, j) * *tensor_at(&ch->ffn.W2, j, i);
            *tensor_at(&out, t, i) = s;
        }
    }
    print_matrix(stdout, "x", &ch->x, &ch->po);
    putchar('\n');
    print_matrix(stdout, "a = ReLU(x W1 + b1)", &a, &ch->po);
    int zeros = 0;
    for (int i = 0; i < T * F; i++) zeros += a.data[i] == 0.0f;
    printf("\n  %d of the %d hidden values are exactly 0 (%.0f%%): ReLU switches those units off.\n\n", zeros,
           T * F, 100.0 * zeros / (T * F));
    print_matrix(stdout, "FFN(x) = a W2 + b2", &out, &ch->po);
    FfnCache c;
    ffn_cache_init(&c, T, F);
    Tensor lib = tensor_new(T, D);
    ffn_forward(&lib, &c, &ch->ffn, &ch->x, ACT_RELU);
    printf("\n  common/layers.c ffn_forward against these loops: largest difference %.3g\n", tensor_max_abs_diff(&lib, &out));
    print_note(stdout, "Notice: the FFN never mixes tokens: row t of the output depends on row t of the "
                       "input only. Attention moves information between positions; the FFN transforms "
                       "each position, in a space d_ff/d times wider.");
    ffn_cache_free(&c);
    tensor_free(&h), tensor_free(&a), tensor_free(&out), tensor_free(&lib);
}

/* ---- 2. ReLU and GELU ---- */
static void section_activations(Chapter *ch) {
    print_section(stdout, 2, "ReLU (the source) and GELU (GPT, BERT)");
    printf("  ReLU(x) = max(0, x);  GELU(x) = x Phi(x) ~ 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))\n\n");
    enum { NP = 81 };
    Tensor xs = tensor_new(1, NP), r = tensor_new(1, NP), g = tensor_new(1, NP), dr = tensor_new(1, NP), dg = tensor_new(1, NP);
    Tensor ones = tensor_new(1, NP);
    tensor_fill(&ones, 1.0f);
    for (int i = 0; i < NP; i++) xs.data[i] = -4.0f + 0.1f * (float)i;
    relu_forward(&r, &xs);
    gelu_forward(&g, &xs);
    relu_backward(&dr, &ones, &xs); /* with dout = 1 the backward pass returns the derivative */
    gelu_backward(&dg, &ones, &xs);
    printf("  %6s %8s %8s %10s %10s\n", "x", "ReLU", "GELU", "ReLU'", "GELU'");
    for (int i = 10; i < NP - 10; i += 10)
        printf("  %6.1f %8.4f %8.4f %10.4f %10.4f\n", (double)xs.data[i], (double)r.data[i], (double)g.data[i],
               (double)dr.data[i], (double)dg.data[i]);
    print_note(stdout, "Notice: GELU is smooth, lets a little of a negative input through (its minimum "
                       "is about -0.17 near x = -0.75), and has a nonzero gradient there, so a unit that "
                       "went negative can still learn back. ReLU's gradient is exactly 0 for every "
                       "negative input.");
    putchar('\n');
    double x[NP], y[4][NP];
    for (int i = 0; i < NP; i++) x[i] = xs.data[i], y[0][i] = r.data[i], y[1][i] = g.data[i], y[2][i] = dr.data[i], y[3][i] = dg.data[i];
    LineSeries s[4] = {{"ReLU", y[0], false}, {"GELU", y[1], false}, {"ReLU'", y[2], false}, {"GELU'", y[3], false}};
    LineAxes ax = {"x", "value", false, false};
    plot_lines(&ch->plot, "activations", "ReLU and GELU, and their derivatives", &ax, x, NP, s, 4);
    tensor_free(&xs), tensor_free(&r), tensor_free(&g), tensor_free(&dr), tensor_free(&dg), tensor_free(&ones);
}

/* ---- 3. The residual connection and the place of the norm ---- */

static void row_spread(const Tensor *t, double *mean_std) {
    double s = 0;
    for (int r = 0; r < t->rows; r++) {
        double m = 0, v = 0;
        for (int c = 0; c < t->cols; c++) m += *tensor_at(t, r, c);
        m /= t->cols;
        for (int c = 0; c < t->cols; c++) v += pow(*tensor_at(t, r, c) - m, 2);
        s += sqrt(v / t->cols);
    }
    *mean_std = s / t->rows;
}

static void section_residual(Chapter *ch) {
    const int T = ch->T, D = ch->D;
    print_section(stdout, 3, "Residual connection: y = x + F(x), and where the norm goes");
    printf("  post-norm (§3.4, the 2017 Transformer):  y = LN(x + F(x))\n"
           "  pre-norm  (GPT-2 and later):              y = x + F(LN(x))\n\n");
    Tensor f = tensor_new(T, D), s = tensor_new(T, D), post = tensor_new(T, D), pre = tensor_new(T, D), n = tensor_new(T, D);
    Tensor mean = tensor_new(T, 1), rstd = tensor_new(T, 1), g = tensor_new(1, D), b = tensor_new(1, D);
    tensor_fill(&g, 1.0f);
    FfnCache c;
    ffn_cache_init(&c, T, ch->F);
    ffn_forward(&f, &c, &ch->ffn, &ch->x, ACT_GELU);
    tensor_add(&s, &ch->x, &f);
    layernorm_forward(&post, &mean, &rstd, &s, &g, &b, 1e-5f);
    layernorm_forward(&n, &mean, &rstd, &ch->x, &g, &b, 1e-5f);
    ffn_forward(&f, &c, &ch->ffn, &n, ACT_GELU);
    tensor_add(&pre, &ch->x, &f);
    double sx, spost, spre;
    row_spread(&ch->x, &sx), row_spread(&post, &spost), row_spread(&pre, &spre);
    printf("  mean over tokens of each row's standard deviation:\n    x %.3f   post-norm y %.3f   pre-norm y %.3f\n",
           sx, spost, spre);
    char note[500];
    snprintf(note, sizeof note,
             "Notice: the residual path carries x through unchanged and F only adds a correction. Post-norm "
             "puts a norm on that path after every block (its spread: %.3f); pre-norm keeps the path clean "
             "(norm only on the way into F), so the stream's spread %s from block to block (here %.3f to %.3f "
             "in one block) and a final norm is applied at the end.",
             spost, spre > sx ? "grows" : "changes", sx, spre);
    print_note(stdout, note);
    ffn_cache_free(&c);
    Tensor *all[] = {&f, &s, &post, &pre, &n, &mean, &rstd, &g, &b};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tensor_free(all[i]);
}

/* ---- 4. The experiment: gradients through a deep stack ---- */

typedef enum { V_NONE, V_POST, V_PRE, N_VARIANTS } Variant;
static const char *const variant_name[N_VARIANTS] = {"no residual: F(x)", "post-norm: LN(x + F(x))",
                                                     "pre-norm: x + F(LN(x))"};

typedef struct {
    int T, D, F, L;
    FfnParams *p;           /* L layers */
    FfnCache *c;            /* L layers */
    Tensor *in, *fin, *f, *s, *out; /* per layer: input, FFN input, FFN output, sum, output (T, D) */
    Tensor *mean, *rstd;    /* per layer (T, 1) */
    Tensor g, b;            /* LN gamma = 1, beta = 0, shared (not trained here) */
    Tensor final_mean, final_rstd, final; /* pre-norm's last LN */
} Stack;

static void stack_init(Stack *st, int T, int D, int F, int L, Rng *rng) {
    memset(st, 0, sizeof *st);
    st->T = T, st->D = D, st->F = F, st->L = L;
    st->p = xmalloc(sizeof(FfnParams) * (size_t)L), st->c = xmalloc(sizeof(FfnCache) * (size_t)L);
    Tensor **per[] = {&st->in, &st->fin, &st->f, &st->s, &st->out, &st->mean, &st->rstd};
    for (size_t k = 0; k < sizeof per / sizeof per[0]; k++) *per[k] = xmalloc(sizeof(Tensor) * (size_t)(L + 1));
    for (int l = 0; l < L; l++) {
        ffn_params_init(&st->p[l], D, F, rng);
        ffn_cache_init(&st->c[l], T, F);
        st->in[l] = tensor_new(T, D), st->fin[l] = tensor_new(T, D), st->f[l] = tensor_new(T, D);
        st->s[l] = tensor_new(T, D), st->out[l] = tensor_new(T, D);
        st->mean[l] = tensor_new(T, 1), st->rstd[l] = tensor_new(T, 1);
    }
    st->g = tensor_new(1, D), st->b = tensor_new(1, D);
    tensor_fill(&st->g, 1.0f);
    st->final_mean = tensor_new(T, 1), st->final_rstd = tensor_new(T, 1), st->final = tensor_new(T, D);
}

static void stack_free(Stack *st) {
    for (int l = 0; l < st->L; l++) {
        ffn_params_free(&st->p[l]);
        ffn_cache_free(&st->c[l]);
        Tensor *all[] = {&st->in[l], &st->fin[l], &st->f[l], &st->s[l], &st->out[l], &st->mean[l], &st->rstd[l]};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tensor_free(all[i]);
    }
    free(st->p), free(st->c);
    free(st->in), free(st->fin), free(st->f), free(st->s), free(st->out), free(st->mean), free(st->rstd);
    tensor_free(&st->g), tensor_free(&st->b), tensor_free(&st->final_mean), tensor_free(&st->final_rstd), tensor_free(&st->final);
}

/* Run the stack; returns the output (T, D) tensor (owned by the stack). */
static const Tensor *stack_forward(Stack *st, const Tensor *x, Variant v) {
    const Tensor *cur = x;
    for (int l = 0; l < st->L; l++) {
        tensor_copy(&st->in[l], cur);
        if (v == V_PRE) layernorm_forward(&st->fin[l], &st->mean[l], &st->rstd[l], &st->in[l], &st->g, &st->b, 1e-5f);
        else tensor_copy(&st->fin[l], &st->in[l]);
        ffn_forward(&st->f[l], &st->c[l], &st->p[l], &st->fin[l], ACT_GELU);
        if (v == V_NONE) tensor_copy(&st->s[l], &st->f[l]);
        else tensor_add(&st->s[l], &st->in[l], &st->f[l]);
        if (v != V_POST) tensor_copy(&st->out[l], &st->s[l]);
        else layernorm_forward(&st->out[l], &st->mean[l], &st->rstd[l], &st->s[l], &st->g, &st->b, 1e-5f);
        cur = &st->out[l];
    }
    if (v != V_PRE) return cur;
    layernorm_forward(&st->final, &st->final_mean, &st->final_rstd, cur, &st->g, &st->b, 1e-5f);
    return &st->final;
}

/* Backward from dout. grad_norm[l] = ||dL/d(input of block l)|| (NULL: not wanted); dx (NULL: not
 * wanted) += dL/d(stack input); grads (NULL or L zeroed FfnParams) += each block's weight gradients. */
static void stack_backward(Stack *st, const Tensor *dout, Variant v, double *grad_norm, Tensor *dx, FfnParams *grads) {
    const int T = st->T, D = st->D;
    Tensor d = tensor_new(T, D), ds = tensor_new(T, D), dfin = tensor_new(T, D), din = tensor_new(T, D);
    FfnParams scratch;
    ffn_params_init(&scratch, D, st->F, NULL);
    if (v == V_PRE) layernorm_backward(&d, NULL, NULL, dout, &st->out[st->L - 1], &st->final_mean, &st->final_rstd, &st->g);
    else tensor_copy(&d, dout);
    for (int l = st->L - 1; l >= 0; l--) {
        tensor_fill(&ds, 0.0f), tensor_fill(&dfin, 0.0f), tensor_fill(&din, 0.0f);
        if (v != V_POST) tensor_copy(&ds, &d); /* out = s */
        else layernorm_backward(&ds, NULL, NULL, &d, &st->s[l], &st->mean[l], &st->rstd[l], &st->g);
        if (v != V_NONE) tensor_add(&din, &din, &ds); /* s = in + f: the residual path passes ds on */
        ffn_backward(&dfin, grads ? &grads[l] : &scratch, &ds, &st->c[l], &st->p[l], &st->fin[l], ACT_GELU);
        if (v == V_PRE) layernorm_backward(&din, NULL, NULL, &dfin, &st->in[l], &st->mean[l], &st->rstd[l], &st->g);
        else tensor_add(&din, &din, &dfin);
        if (grad_norm) grad_norm[l] = frobenius(&din);
        tensor_copy(&d, &din);
    }
    if (dx) tensor_add(dx, dx, &d);
    ffn_params_free(&scratch);
    tensor_free(&d), tensor_free(&ds), tensor_free(&dfin), tensor_free(&din);
}

/* gnuplot tics for a log axis from lo to hi: one at each power of ten, labelled 10⁻⁶ (with Unicode
 * superscripts: the terminal draws no markup) instead of 0.0000010. */
static void pow10_tics(char *buf, size_t size, double lo, double hi) {
    static const char *const sup[10] = {"⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"};
    int len = snprintf(buf, size, "set ytics (");
    const int e0 = (int)floor(log10(lo)), e1 = (int)ceil(log10(hi));
    for (int e = e0; e <= e1 && len < (int)size - 40; e++) {
        len += snprintf(buf + len, size - (size_t)len, "%s\"10%s", e > e0 ? ", " : "", e < 0 ? "⁻" : "");
        char digits[16];
        snprintf(digits, sizeof digits, "%d", abs(e));
        for (const char *d = digits; *d; d++) len += snprintf(buf + len, size - (size_t)len, "%s", sup[*d - '0']);
        len += snprintf(buf + len, size - (size_t)len, "\" 1e%d", e);
    }
    snprintf(buf + len, size - (size_t)len, ")\nset mytics 10\nset yrange [1e%d:1e%d]", e0, e1);
}

static void section_depth(Chapter *ch) {
    const int L = ch->L;
    print_section(stdout, 4, "Experiment: the gradient reaching each layer of a deep stack");
    printf("  %d blocks, each an FFN (d = %d, d_ff = %d, GELU) with fresh random weights, in three\n"
           "  arrangements; the loss is sum(output * R) for a fixed random R. Printed: ||dL/dx_l||, the\n"
           "  gradient arriving at the input of block l (block 0 is the first, the farthest from the loss).\n\n",
           L, ch->D, ch->F);
    double *norm[N_VARIANTS], *x = xmalloc(sizeof(double) * (size_t)L);
    Rng rng;
    rng_seed(&rng, ch->seed, 80);
    Tensor R = tensor_new(ch->T, ch->D);
    tensor_randn(&R, &rng, 1.0f);
    for (int v = 0; v < N_VARIANTS; v++) {
        Rng wrng; /* the same weights for every arrangement */
        rng_seed(&wrng, ch->seed, 81);
        Stack st;
        stack_init(&st, ch->T, ch->D, ch->F, L, &wrng);
        norm[v] = xmalloc(sizeof(double) * (size_t)L);
        stack_forward(&st, &ch->x, (Variant)v);
        stack_backward(&st, &R, (Variant)v, norm[v], NULL, NULL);
        stack_free(&st);
    }
    printf("  %6s", "block");
    for (int v = 0; v < N_VARIANTS; v++) printf(" %24s", variant_name[v]);
    printf("\n");
    for (int l = 0; l < L; l++) {
        x[l] = l;
        if (l < 3 || l >= L - 3 || l % 4 == 0) {
            printf("  %6d", l);
            for (int v = 0; v < N_VARIANTS; v++) printf(" %24.4g", norm[v][l]);
            printf("\n");
        }
    }
    printf("\n  ratio of the gradient at block 0 to the gradient at block %d:\n", L - 1);
    for (int v = 0; v < N_VARIANTS; v++) printf("    %-26s %.3g\n", variant_name[v], norm[v][0] / norm[v][L - 1]);
    /* The average factor per block by which the gradient changes on its way down. */
    double per_block[N_VARIANTS];
    for (int v = 0; v < N_VARIANTS; v++) per_block[v] = pow(norm[v][0] / norm[v][L - 1], 1.0 / (L - 1));
    char note[900];
    snprintf(note, sizeof note,
             "Notice: without the residual, every block multiplies the gradient by its Jacobian, here "
             "by %.3f per block on average, so after %d blocks it is %.3g times what it was: the first "
             "blocks %s. With a residual the path x -> x + F(x) has Jacobian I + dF/dx: the identity "
             "carries the gradient down whatever F does. Post-norm rescales it at each norm (a net "
             "factor of %.3f per block here); pre-norm keeps the identity path free of norms, so the "
             "gradient changes only by what each block's branch adds (a net factor of %.3f per block "
             "here). This is the source's remark that residuals help gradients propagate (§3.4), measured.",
             per_block[V_NONE], L - 1, norm[V_NONE][0] / norm[V_NONE][L - 1],
             norm[V_NONE][0] < norm[V_NONE][L - 1] ? "hardly learn at all (vanishing gradient)" : "get an exploding gradient",
             per_block[V_POST], per_block[V_PRE]);
    print_note(stdout, note);
    putchar('\n');
    LineSeries s[N_VARIANTS];
    for (int v = 0; v < N_VARIANTS; v++) s[v] = (LineSeries){variant_name[v], norm[v], false};
    double lo = INFINITY, hi = 0;
    for (int v = 0; v < N_VARIANTS; v++)
        for (int l = 0; l < L; l++)
            if (norm[v][l] > 0 && isfinite(norm[v][l])) lo = fmin(lo, norm[v][l]), hi = fmax(hi, norm[v][l]);
    char tics[1200];
    pow10_tics(tics, sizeof tics, lo, hi);
    LinePanel chart = {"Gradient reaching each block of a deep stack",
                       {"block l (0 = first, farthest from the loss)", "||dL/dx_l|| (log scale)", false, true},
                       tics, x, L, s, NULL, N_VARIANTS};
    plot_line_chart(&ch->plot, "gradient_depth", &chart);
    for (int v = 0; v < N_VARIANTS; v++) free(norm[v]);
    free(x);
    tensor_free(&R);
}

/* ---- 5. Gradient checks ---- */
typedef struct {
    Stack *st;
    Tensor *x, *R;
    Variant v;
} LossCtx;

typedef struct {
    FfnCache *c;
    FfnParams *p;
    Tensor *x, *out, *R;
} FfnReluCtx;

static double relu_loss(void *v) {
    FfnReluCtx *l = v;
    ffn_forward(l->out, l->c, l->p, l->x, ACT_RELU);
    return tensor_dot(l->out, l->R);
}

static double stack_loss(void *p) {
    LossCtx *l = p;
    const Tensor *out = stack_forward(l->st, l->x, l->v);
    return tensor_dot(out, l->R);
}

static void section_gradcheck(Chapter *ch) {
    const int T = ch->T, D = ch->D, F = ch->F;
    print_section(stdout, 5, "The backward passes, checked by finite differences");
    printf("  A stack of 2 blocks in each arrangement, L = sum(output * R), every gradient compared with\n"
           "  (L(p + h) - L(p - h)) / 2h, h = %g (the error measure is in common/gradcheck.h).\n\n", GRADCHECK_STEP);
    Rng rng;
    rng_seed(&rng, ch->seed, 90);
    Tensor R = tensor_new(T, D), x = tensor_new(T, D), dx = tensor_new(T, D);
    tensor_randn(&R, &rng, 1.0f);
    tensor_copy(&x, &ch->x);
    double worst = 0;
    printf("  %-26s %10s %16s\n", "arrangement", "checked", "largest error");
    for (int v = 0; v < N_VARIANTS; v++) {
        Rng wrng;
        rng_seed(&wrng, ch->seed, 91);
        Stack st;
        stack_init(&st, T, D, F, 2, &wrng);
        for (int l = 0; l < 2; l++) tensor_randn(&st.p[l].b1, &wrng, 0.1f), tensor_randn(&st.p[l].b2, &wrng, 0.1f);
        FfnParams g[2];
        ffn_params_init(&g[0], D, F, NULL), ffn_params_init(&g[1], D, F, NULL);
        tensor_fill(&dx, 0.0f);
        stack_forward(&st, &x, (Variant)v);
        stack_backward(&st, &R, (Variant)v, NULL, &dx, g);
        LossCtx l = {&st, &x, &R, (Variant)v};
        GradPair pairs[9] = {{"x", &x, &dx}};
        int n = 1;
        for (int b = 0; b < 2; b++) {
            pairs[n++] = (GradPair){"W1", &st.p[b].W1, &g[b].W1};
            pairs[n++] = (GradPair){"b1", &st.p[b].b1, &g[b].b1};
            pairs[n++] = (GradPair){"W2", &st.p[b].W2, &g[b].W2};
            pairs[n++] = (GradPair){"b2", &st.p[b].b2, &g[b].b2};
        }
        GradResult r = gradcheck(stack_loss, &l, pairs, n, 24, false, &rng);
        printf("  %-26s %10d %16.2e%s\n", variant_name[v], r.checked, r.max_error, r.kinks ? " (kinks skipped)" : "");
        worst = fmax(worst, r.max_error);
        ffn_params_free(&g[0]), ffn_params_free(&g[1]);
        stack_free(&st);
    }
    /* The ReLU network alone: its kink at 0 is where finite differences cannot follow. */
    FfnCache c;
    ffn_cache_init(&c, T, F);
    FfnParams g;
    ffn_params_init(&g, D, F, NULL);
    tensor_fill(&dx, 0.0f);
    Tensor out = tensor_new(T, D);
    ffn_forward(&out, &c, &ch->ffn, &x, ACT_RELU);
    ffn_backward(&dx, &g, &R, &c, &ch->ffn, &x, ACT_RELU);
    printf("  (the ReLU FFN of section 1: ");
    FfnReluCtx rc = {&c, &ch->ffn, &x, &out, &R};
    GradPair rp[3] = {{"x", &x, &dx}, {"W1", &ch->ffn.W1, &g.W1}, {"W2", &ch->ffn.W2, &g.W2}};
    GradResult r = gradcheck(relu_loss, &rc, rp, 3, 48, true, &rng);
    printf("%d checked, %d at a kink skipped, largest error %.2e)\n", r.checked, r.kinks, r.max_error);
    worst = fmax(worst, r.max_error);
    printf("\n  Largest error %.2e (tolerance %g): %s.\n", worst, GRADCHECK_TOL,
           worst < GRADCHECK_TOL ? "the backward passes agree" : "MISMATCH");
    ffn_cache_free(&c), ffn_params_free(&g);
    tensor_free(&R), tensor_free(&x), tensor_free(&dx), tensor_free(&out);
}

int main(int argc, char **argv) {
    CliCommon common = cli_common_defaults();
    long long d_model = 16, d_ff = 64, tokens = 6, layers = 24;
    CliOption opts[] = {
        cli_int("--d-model", &d_model, 2, 1024, "D", "width of the token vectors"),
        cli_int("--d-ff", &d_ff, 1, 8192, "F", "width of the FFN's hidden layer"),
        cli_int("--tokens", &tokens, 1, 512, "T", "tokens (rows) in the input"),
        cli_int("--layers", &layers, 2, 1000, "L", "blocks in the depth experiment"),
    };
    CliSpec spec = {CHAPTER, "The feed-forward network and the residual connection (source document §3.2, §3.4):\n"
                             "ReLU and GELU, post-norm and pre-norm, and the gradient through a deep stack.",
                    opts, 4};
    cli_parse(&spec, &common, argc, argv);

    Chapter ch;
    memset(&ch, 0, sizeof ch);
    ch.T = (int)tokens, ch.D = (int)d_model, ch.F = (int)d_ff, ch.L = (int)layers, ch.seed = (uint64_t)common.seed;
    Rng rng;
    rng_seed(&rng, ch.seed, 8);
    ch.x = tensor_new(ch.T, ch.D);
    tensor_randn(&ch.x, &rng, 1.0f);
    ffn_params_init(&ch.ffn, ch.D, ch.F, &rng);
    tensor_randn(&ch.ffn.b1, &rng, 0.1f);
    tensor_randn(&ch.ffn.b2, &rng, 0.1f);
    ch.po = print_defaults();
    ch.po.precision = (int)common.precision;
    ch.po.color = print_color_wanted();
    plot_init(&ch.plot, &common, CHAPTER, stdout);

    printf("Chapter 8: the feed-forward network and the residual connection (source document §3.2, §3.4)\n\n");
    printf("  T = %d tokens, d = %d, d_ff = %d, %d blocks in the depth experiment, seed = %lld\n", ch.T, ch.D,
           ch.F, ch.L, common.seed);
    section_ffn(&ch);
    section_activations(&ch);
    section_residual(&ch);
    section_depth(&ch);
    section_gradcheck(&ch);

    tensor_free(&ch.x);
    ffn_params_free(&ch.ffn);
    return 0;
}
