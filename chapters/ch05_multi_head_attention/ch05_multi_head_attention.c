/* ch05_multi_head_attention: multi-head self-attention, source document §2.2.2 and §3.1.
 *
 *   Q = X W^Q, K = X W^K, V = X W^V                   (T, C) x (C, C) -> (T, C)
 *   head_h = softmax(Q_h K_h^T / sqrt(C/H)) V_h         Q_h: columns h*C/H .. (h+1)*C/H - 1 of Q
 *   MultiHead(X) = Concat(head_1 .. head_H) W^O         (T, C) x (C, C) -> (T, C)
 *
 * H heads each attend in their own C/H-dimensional subspace, so each can look at different
 * positions for different reasons. This program computes every step with plain loops, checks the
 * library's mha_forward against it, shows that one head is exactly chapter 3's attention and that
 * the parameter count does not depend on H, and checks mha_backward by finite differences.
 *
 * Run: make ch05 && ./ch05_multi_head_attention [--heads H] [--causal] [--d-model C] [--tokens N]
 *                                               [--sentence "..."] [--seed S] [--no-plot]        */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "cli.h"
#include "demo.h"
#include "gradcheck.h"
#include "plot.h"
#include "print.h"
#include "util.h"

#define CHAPTER "ch05_multi_head_attention"
#define MAX_HEADS 16

typedef struct {
    AttnDemo demo;           /* the sentence and its embeddings X (T, C) */
    int T, C, H, hs;         /* hs = C / H, the width of one head */
    bool causal;
    MhaParams p;             /* W^Q, W^K, W^V, W^O (C, C); biases 0 here */
    Tensor Q, K, V;          /* (T, C) */
    Tensor A[MAX_HEADS];     /* (T, T) each head's weights */
    Tensor concat, out;      /* (T, C) */
    Tensor mask;             /* (T, T) */
    PrintOpts po, pw;
    Plotter plot;
    uint64_t seed;
} Chapter;

/* ---- 1. The input and the projections ---- */
static void section_projections(Chapter *ch) {
    print_section(stdout, 1, "Queries, keys and values for all heads at once");
    printf("  X (T, C) = (%d, %d): one embedding row per word. W^Q, W^K, W^V, W^O are (C, C),\n"
           "  drawn from N(0, 1/C). Q = X W^Q, K = X W^K, V = X W^V    (T, C) x (C, C) -> (T, C)\n\n",
           ch->T, ch->C);
    print_matrix(stdout, "X", &ch->demo.X, &ch->po);
    tensor_matmul(&ch->Q, &ch->demo.X, &ch->p.Wq);
    tensor_matmul(&ch->K, &ch->demo.X, &ch->p.Wk);
    tensor_matmul(&ch->V, &ch->demo.X, &ch->p.Wv);
    putchar('\n');
    print_matrix(stdout, "Q = X W^Q", &ch->Q, &ch->po);
    char note[300];
    snprintf(note, sizeof note,
             "Notice: nothing is split yet. With H = %d heads, head h simply owns %d of the %d "
             "columns of Q, K and V: columns h*%d .. h*%d + %d.",
             ch->H, ch->hs, ch->C, ch->hs, ch->hs, ch->hs - 1);
    print_note(stdout, note);
}

/* ---- 2. Each head: its slice, its weights, its output ---- */

/* Head h computed with plain loops: scores of each query against every key, a stable softmax,
 * then the weighted sum of the value rows. Writes A_h and the head's columns of concat. */
static void compute_head(Chapter *ch, int h) {
    const int T = ch->T, hs = ch->hs;
    const float scale = 1.0f / sqrtf((float)hs);
    Tensor qh = tensor_view(&ch->Q, 0, h * hs, T, hs), kh = tensor_view(&ch->K, 0, h * hs, T, hs);
    Tensor vh = tensor_view(&ch->V, 0, h * hs, T, hs), oh = tensor_view(&ch->concat, 0, h * hs, T, hs);
    Tensor *A = &ch->A[h];
    for (int i = 0; i < T; i++) {
        float m = -INFINITY;
        for (int j = 0; j < T; j++) {
            float s = 0.0f;
            for (int c = 0; c < hs; c++) s += *tensor_at(&qh, i, c) * *tensor_at(&kh, j, c);
            s = s * scale + (ch->causal && j > i ? -INFINITY : 0.0f);
            *tensor_at(A, i, j) = s;
            m = fmaxf(m, s);
        }
        float total = 0.0f;
        for (int j = 0; j < T; j++) total += *tensor_at(A, i, j) = expf(*tensor_at(A, i, j) - m);
        for (int j = 0; j < T; j++) *tensor_at(A, i, j) /= total;
        for (int c = 0; c < hs; c++) {
            float z = 0.0f;
            for (int j = 0; j < T; j++) z += *tensor_at(A, i, j) * *tensor_at(&vh, j, c);
            *tensor_at(&oh, i, c) = z;
        }
    }
}

static void section_heads(Chapter *ch) {
    const int T = ch->T, hs = ch->hs, shown = ch->H < 4 ? ch->H : 4;
    print_section(stdout, 2, "Each head attends in its own subspace");
    printf("  S_h = Q_h K_h^T / sqrt(%d)%s,  A_h = softmax(S_h),  head_h = A_h V_h    (T, %d) -> (T, %d)\n",
           hs, ch->causal ? " + M (causal)" : "", hs, hs);
    for (int h = 0; h < ch->H; h++) compute_head(ch, h);
    for (int h = 0; h < shown; h++) {
        char label[80];
        printf("\n  Head %d (columns %d..%d)\n\n", h, h * hs, h * hs + hs - 1);
        snprintf(label, sizeof label, "A_%d = softmax(Q_%d K_%d^T / sqrt(%d)%s)", h, h, h, hs, ch->causal ? " + M" : "");
        print_matrix(stdout, label, &ch->A[h], &ch->pw);
        putchar('\n');
        Tensor oh = tensor_view(&ch->concat, 0, h * hs, T, hs);
        snprintf(label, sizeof label, "head_%d = A_%d V_%d", h, h, h);
        print_matrix(stdout, label, &oh, &ch->po);
    }
    if (ch->H > shown) printf("\n  (heads %d..%d are computed the same way; not printed)\n", shown, ch->H - 1);
    printf("\n  Where each word looks most, per head:\n    %-10s", "word");
    for (int h = 0; h < shown; h++) printf(" head %-5d", h);
    printf("\n");
    for (int i = 0; i < T; i++) {
        printf("    ");
        print_padded(stdout, ch->demo.tokens[i], 10);
        for (int h = 0; h < shown; h++) {
            int best = 0;
            for (int j = 1; j < T; j++)
                if (*tensor_at(&ch->A[h], i, j) > *tensor_at(&ch->A[h], i, best)) best = j;
            printf(" ");
            print_padded(stdout, ch->demo.tokens[best], 10);
        }
        printf("\n");
    }
    if (ch->H > 1)
        print_note(stdout, "Notice: the heads see the same words through different projections, so their "
                           "weights differ: one input, several patterns of attention at once.");
}

/* ---- 3. Concatenate, then mix with W^O ---- */
static void section_output(Chapter *ch) {
    print_section(stdout, 3, "Concatenate the heads, then W^O");
    printf("  Concat(head_0 .. head_%d) is (T, %d x %d) = (%d, %d); out = Concat W^O    (T, C) x (C, C)\n\n",
           ch->H - 1, ch->H, ch->hs, ch->T, ch->C);
    print_matrix(stdout, "Concat(heads)", &ch->concat, &ch->po);
    tensor_matmul(&ch->out, &ch->concat, &ch->p.Wo);
    putchar('\n');
    print_matrix(stdout, "out = Concat W^O", &ch->out, &ch->po);
    print_note(stdout, "Notice: the concatenation only places the heads side by side; W^O is what lets "
                       "every output feature combine what all heads found.");
}

/* ---- 4. The library's version ---- */
static void section_library(Chapter *ch) {
    print_section(stdout, 4, "The same computation through common/attention.c: mha_forward");
    MhaCache c;
    mha_cache_init(&c, ch->T, ch->C, ch->H, ch->causal);
    Tensor out = tensor_new(ch->T, ch->C);
    mha_forward(&out, &c, &ch->p, &ch->demo.X);
    double worst_a = 0;
    for (int h = 0; h < ch->H; h++) worst_a = fmax(worst_a, tensor_max_abs_diff(&c.weights[h], &ch->A[h]));
    printf("  largest absolute difference from the loops above:\n    weights  %.3g\n    concat   %.3g\n"
           "    out      %.3g\n  (float rounding only; later chapters call mha_forward)\n",
           worst_a, tensor_max_abs_diff(&c.concat, &ch->concat), tensor_max_abs_diff(&out, &ch->out));
    tensor_free(&out);
    mha_cache_free(&c);
}

/* ---- 5. One head is chapter 3's attention ---- */
static void section_one_head(Chapter *ch) {
    print_section(stdout, 5, "H = 1 is exactly the single-head attention of chapter 3");
    MhaCache c;
    mha_cache_init(&c, ch->T, ch->C, 1, ch->causal);
    Tensor out = tensor_new(ch->T, ch->C);
    mha_forward(&out, &c, &ch->p, &ch->demo.X);
    Tensor z = tensor_new(ch->T, ch->C), s = tensor_new(ch->T, ch->T), a = tensor_new(ch->T, ch->T);
    attention_forward(&z, &s, &a, &ch->Q, &ch->K, &ch->V, ch->causal ? &ch->mask : NULL, NULL);
    bool same = true;
    for (int t = 0; t < ch->T; t++) same &= tensor_rows_identical(&z, &c.concat, t);
    printf("  With one head of width C = %d, the head's output equals attention(Q, K, V) of chapter 3\n"
           "  (common/attention.c, attention_forward) bit for bit: %s. Multi-head attention with H = 1\n"
           "  is single-head attention followed by one extra linear map, W^O.\n",
           ch->C, same ? "yes" : "NO");
    tensor_free(&out), tensor_free(&z), tensor_free(&s), tensor_free(&a);
    mha_cache_free(&c);
}

/* ---- 6. The parameter count does not depend on H ---- */
static void section_parameters(Chapter *ch) {
    print_section(stdout, 6, "Parameters: the same for every number of heads");
    printf("  W^Q, W^K, W^V, W^O are (C, C) whatever H is; H only decides how their columns are\n"
           "  grouped. Counted from the allocated tensors (weights and biases), C = %d:\n\n", ch->C);
    printf("  %6s %10s %12s %12s\n", "heads", "head width", "parameters", "4C^2 + 4C");
    for (int H = 1; H <= ch->C && H <= 64; H *= 2) {
        if (ch->C % H) continue;
        MhaParams p;
        mha_params_zero_like(&p, ch->C);
        long n = 0;
        for (int i = 0; i < MHA_N_PARAMS; i++) n += (long)mha_param(&p, i)->rows * mha_param(&p, i)->cols;
        printf("  %6d %10d %12ld %12ld\n", H, ch->C / H, n, 4L * ch->C * ch->C + 4L * ch->C);
        mha_params_free(&p);
    }
    print_note(stdout, "Notice: more heads cost no parameters, only more, smaller attention matrices "
                       "(H of them, each T x T): the cost moves from parameters to activations.");
}

/* ---- 7. The backward pass, checked ---- */
typedef struct {
    MhaParams *p;
    MhaCache *c;
    Tensor *x, *out, *R;
} LossCtx;

static double mha_loss(void *v) {
    LossCtx *l = v;
    mha_forward(l->out, l->c, l->p, l->x);
    return tensor_dot(l->out, l->R);
}

static void section_gradcheck(Chapter *ch) {
    print_section(stdout, 7, "The backward pass, checked by finite differences");
    printf("  L = sum(out * R) for a fixed random R; mha_backward gives dL/dx and dL/dW for every\n"
           "  weight and bias; each is compared with (L(p + h) - L(p - h)) / 2h, h = %g.\n\n", GRADCHECK_STEP);
    Rng rng;
    rng_seed(&rng, ch->seed, 70);
    MhaCache c;
    mha_cache_init(&c, ch->T, ch->C, ch->H, ch->causal);
    Tensor x = tensor_new(ch->T, ch->C), out = tensor_new(ch->T, ch->C), R = tensor_new(ch->T, ch->C);
    tensor_copy(&x, &ch->demo.X);
    tensor_randn(&R, &rng, 1.0f);
    MhaParams p, g;
    mha_params_init(&p, ch->C, &rng, 1.0f / sqrtf((float)ch->C));
    for (int i = 4; i < MHA_N_PARAMS; i++) tensor_randn(mha_param(&p, i), &rng, 0.1f); /* nonzero biases */
    mha_params_zero_like(&g, ch->C);
    LossCtx l = {&p, &c, &x, &out, &R};
    mha_loss(&l);
    Tensor dx = tensor_new(ch->T, ch->C);
    mha_backward(&dx, &g, &R, &c, &p, &x);
    static const char *const names[MHA_N_PARAMS] = {"W^Q", "W^K", "W^V", "W^O", "b^Q", "b^K", "b^V", "b^O"};
    printf("  %-6s %10s %16s\n", "tensor", "checked", "largest error");
    GradPair all = {"x", &x, &dx};
    GradResult r = gradcheck(mha_loss, &l, &all, 1, 64, false, &rng);
    printf("  %-6s %10d %16.2e\n", "x", r.checked, r.max_error);
    double worst = r.max_error;
    for (int i = 0; i < MHA_N_PARAMS; i++) {
        GradPair pair = {names[i], mha_param(&p, i), mha_param(&g, i)};
        r = gradcheck(mha_loss, &l, &pair, 1, 64, false, &rng);
        printf("  %-6s %10d %16.2e\n", names[i], r.checked, r.max_error);
        worst = fmax(worst, r.max_error);
    }
    printf("\n  Largest error %.2e (tolerance %g; the error measure is in common/gradcheck.h): %s.\n", worst,
           GRADCHECK_TOL, worst < GRADCHECK_TOL ? "the backward pass agrees" : "MISMATCH");
    tensor_free(&x), tensor_free(&out), tensor_free(&R), tensor_free(&dx);
    mha_params_free(&p), mha_params_free(&g);
    mha_cache_free(&c);
}

/* ---- 8. Figures ---- */
static void section_figures(Chapter *ch) {
    print_section(stdout, 8, "Figures");
    const char *const *w = (const char *const *)ch->demo.tokens;
    HeatPanel panels[MAX_HEADS];
    char keys[MAX_HEADS][16], titles[MAX_HEADS][32];
    for (int h = 0; h < ch->H; h++) {
        snprintf(keys[h], sizeof keys[h], "head%d", h);
        snprintf(titles[h], sizeof titles[h], "head %d", h);
        panels[h] = (HeatPanel){keys[h], titles[h], &ch->A[h], w, w, "key", "query", HEAT_WEIGHTS};
    }
    char title[96];
    snprintf(title, sizeof title, "Attention weights of each of the %d heads%s", ch->H, ch->causal ? " (causal)" : "");
    plot_heatmaps(&ch->plot, "heads", title, panels, ch->H);
    if (!ch->plot.enabled) printf("  (--no-plot: no figures written)\n");
}

int main(int argc, char **argv) {
    DemoFlags flags = demo_flags_default();
    CliCommon common = cli_common_defaults();
    long long heads = 2;
    bool causal = false;
    CliOption opts[DEMO_N_OPTIONS + 2];
    int n = demo_cli_options(opts, &flags, false);
    opts[n++] = cli_int("--heads", &heads, 1, MAX_HEADS, "H", "number of heads (must divide --d-model)");
    opts[n++] = cli_flag("--causal", &causal, "mask the future (chapter 4's mask) in every head");
    CliSpec spec = {CHAPTER, "Multi-head self-attention step by step (source document §2.2.2): heads as column\n"
                             "slices, concatenation, W^O; H = 1 is chapter 3's attention; the backward pass checked.",
                    opts, n};
    cli_parse(&spec, &common, argc, argv);
    if (flags.d_model % heads != 0)
        die(EXIT_USAGE, "--heads: %lld does not divide --d-model %lld; choose a divisor of %lld", heads,
            flags.d_model, flags.d_model);

    Chapter ch;
    memset(&ch, 0, sizeof ch);
    flags.d_k = flags.d_model;
    demo_build(&ch.demo, &flags, (uint64_t)common.seed);
    ch.T = ch.demo.T, ch.C = (int)flags.d_model, ch.H = (int)heads, ch.hs = ch.C / ch.H;
    ch.causal = causal;
    ch.seed = (uint64_t)common.seed;
    Rng rng;
    rng_seed(&rng, ch.seed, 50);
    mha_params_init(&ch.p, ch.C, &rng, 1.0f / sqrtf((float)ch.C)); /* biases stay 0 */
    ch.Q = tensor_new(ch.T, ch.C), ch.K = tensor_new(ch.T, ch.C), ch.V = tensor_new(ch.T, ch.C);
    ch.concat = tensor_new(ch.T, ch.C), ch.out = tensor_new(ch.T, ch.C), ch.mask = tensor_new(ch.T, ch.T);
    attention_mask(&ch.mask, MASK_CAUSAL);
    for (int h = 0; h < ch.H; h++) ch.A[h] = tensor_new(ch.T, ch.T);
    ch.po = print_defaults();
    ch.po.precision = (int)common.precision;
    ch.po.color = print_color_wanted();
    ch.po.row_labels = (const char *const *)ch.demo.tokens;
    ch.pw = ch.po;
    ch.pw.col_labels = ch.po.row_labels;
    plot_init(&ch.plot, &common, CHAPTER, stdout);

    printf("Chapter 5: multi-head attention (source document §2.2.2)\n\n  sentence: ");
    for (int t = 0; t < ch.T; t++) printf("%s%s", t ? " " : "", ch.demo.tokens[t]);
    printf("   (T = %d words)\n  C = d_model = %d, H = %d heads of width %d, %s, seed = %lld\n", ch.T, ch.C,
           ch.H, ch.hs, ch.causal ? "causal" : "not causal", common.seed);

    section_projections(&ch);
    section_heads(&ch);
    section_output(&ch);
    section_library(&ch);
    section_one_head(&ch);
    section_parameters(&ch);
    section_gradcheck(&ch);
    section_figures(&ch);

    for (int h = 0; h < ch.H; h++) tensor_free(&ch.A[h]);
    Tensor *all[] = {&ch.Q, &ch.K, &ch.V, &ch.concat, &ch.out, &ch.mask};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tensor_free(all[i]);
    mha_params_free(&ch.p);
    demo_free(&ch.demo);
    return 0;
}
