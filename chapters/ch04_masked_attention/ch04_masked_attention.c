/* ch04_masked_attention: causal (masked) self-attention, source document §4.2.
 *
 *   A = softmax(Q K^T / sqrt(d_k) + M),   M[i][j] = 0 where j <= i, -inf where j > i
 *   Z = A V
 *
 * A decoder predicts word i+1 from words 0..i, so row i of the attention may not look at keys
 * j > i. The mask adds -inf to those scores; exp(-inf) = 0, so their weights are exactly 0 and
 * nothing from the future reaches row i. Section 6 proves it bit for bit. Section 7 runs the
 * formula printed in §4.2, which hides i > j instead (the transpose of the mask its own text
 * describes), and shows that it lets every position see the future.
 *
 * Run: make ch04 && ./ch04_masked_attention [--sentence "..."] [--tokens N] [--d-model D] [--d-k K]
 *                                           [--seed S] [--precision P] [--no-plot]              */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "cli.h"
#include "demo.h"
#include "plot.h"
#include "print.h"
#include "tensor.h"
#include "util.h"

#define CHAPTER "ch04_masked_attention"

typedef struct {
    AttnDemo demo;     /* the sentence, X, W^Q, W^K, W^V, Q, K, V */
    Tensor M;          /* (T, T) the causal mask */
    Tensor S;          /* (T, T) scaled scores plus the mask */
    Tensor A;          /* (T, T) weights */
    Tensor Z;          /* (T, d_k) output */
    Tensor M_src;      /* (T, T) the mask as §4.2's formula writes it */
    Tensor A_src;      /* (T, T) weights under it */
    Tensor D, D_src, D_none; /* (T, T) which output rows change when word j changes */
    PrintOpts po;      /* rows labelled by the words */
    PrintOpts pw;      /* rows and columns labelled by the words */
    Plotter plot;
} Chapter;

/* Count the entries above the diagonal of W (T, T) that are exactly zero. */
static int zeros_above_diagonal(const Tensor *W) {
    int n = 0;
    for (int i = 0; i < W->rows; i++)
        for (int j = i + 1; j < W->cols; j++) n += *tensor_at(W, i, j) == 0.0f;
    return n;
}

static int zeros_below_diagonal(const Tensor *W) {
    int n = 0;
    for (int i = 0; i < W->rows; i++)
        for (int j = 0; j < i; j++) n += *tensor_at(W, i, j) == 0.0f;
    return n;
}

/* ---- 1. The example: queries, keys and values as in chapter 3 ---- */
static void section_example(Chapter *ch) {
    const AttnDemo *d = &ch->demo;
    print_section(stdout, 1, "The example: Q, K, V of the sentence (as in chapter 3)");
    printf("  Q = X W^Q, K = X W^K, V = X W^V     (T, d_model) x (d_model, d_k) -> (T, d_k) = (%d, %d)\n\n",
           d->T, d->d_k);
    print_matrix(stdout, "Q", &d->Q, &ch->po);
    putchar('\n');
    print_matrix(stdout, "K", &d->K, &ch->po);
    putchar('\n');
    print_matrix(stdout, "V", &d->V, &ch->po);
}

/* ---- 2. The mask M ---- */
static void section_mask(Chapter *ch) {
    const int T = ch->demo.T;
    print_section(stdout, 2, "The mask M: row i may look at columns 0..i only");
    printf("  M[i][j] = 0     where j <= i   (the word itself and the words before it)\n"
           "  M[i][j] = -inf  where j >  i   (the future)                (T, T) = (%d, %d)\n\n",
           T, T);
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) *tensor_at(&ch->M, i, j) = j > i ? -INFINITY : 0.0f;
    print_matrix(stdout, "M", &ch->M, &ch->pw);
    Tensor lib = tensor_new(T, T);
    attention_mask(&lib, MASK_CAUSAL);
    printf("\n  The library's attention_mask(MASK_CAUSAL) builds the same matrix: %s.\n",
           memcmp(lib.data, ch->M.data, sizeof(float) * (size_t)T * (size_t)T) == 0 ? "identical bits"
                                                                                 : "DIFFERENT");
    tensor_free(&lib);
    print_note(stdout, "Notice: the -inf entries fill the upper triangle, above the diagonal. The diagonal "
                  "itself is 0: a word may attend to itself.");
}

/* ---- 3. Scores plus the mask ---- */
static void section_scores(Chapter *ch) {
    const AttnDemo *d = &ch->demo;
    const int T = d->T;
    const float inv = 1.0f / sqrtf((float)d->d_k);
    print_section(stdout, 3, "Masked scores: S = Q K^T / sqrt(d_k) + M");
    printf("  (T, d_k) x (d_k, T) -> (T, T); then every hidden entry becomes -inf\n\n");
    Tensor QK = tensor_new(T, T);
    tensor_matmul_bt(&QK, &d->Q, &d->K); /* Q K^T without a transposed copy of K */
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++)
            *tensor_at(&ch->S, i, j) = *tensor_at(&QK, i, j) * inv + *tensor_at(&ch->M, i, j);
    print_matrix(stdout, "S = Q K^T / sqrt(d_k) + M", &ch->S, &ch->pw);

    /* The source writes (Q K^T + M) / sqrt(d_k): the mask inside the division. */
    Tensor S2 = tensor_new(T, T);
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++)
            *tensor_at(&S2, i, j) = (*tensor_at(&QK, i, j) + *tensor_at(&ch->M, i, j)) * inv;
    printf("\n  §4.2 writes (Q K^T + M) / sqrt(d_k), with M inside the division. Computed that way the\n"
           "  matrix is %s: adding 0 changes nothing and -inf / sqrt(d_k) is still -inf.\n",
           memcmp(S2.data, ch->S.data, sizeof(float) * (size_t)T * (size_t)T) == 0
               ? "bit-for-bit the same"
               : "DIFFERENT");
    tensor_free(&QK);
    tensor_free(&S2);
}

/* ---- 4. Softmax: the hidden entries get exactly zero weight ---- */
static void section_weights(Chapter *ch) {
    const int T = ch->demo.T;
    print_section(stdout, 4, "Weights: A = softmax(S), row by row");
    printf("  A[i][j] = exp(S[i][j] - m_i) / sum_j' exp(S[i][j'] - m_i);  exp(-inf) = 0 exactly\n\n");
    int bad = -1;
    SoftmaxStatus st = tensor_softmax_rows(&ch->A, &ch->S, &bad);
    if (st != SOFTMAX_OK) die(EXIT_RUNTIME, "softmax row %d: %s", bad, softmax_status_text(st));
    print_matrix(stdout, "A = softmax(S)", &ch->A, &ch->pw);
    printf("\n  Entries above the diagonal that are exactly 0: %d of %d.\n", zeros_above_diagonal(&ch->A),
           T * (T - 1) / 2);
    printf("  Row 0 can only see itself: A[0][0] = %.9g%s.\n", (double)*tensor_at(&ch->A, 0, 0),
           *tensor_at(&ch->A, 0, 0) == 1.0f ? ", exactly" : ", not exactly 1");
    print_note(stdout, "Notice: row i spreads its weight over words 0..i only, so the last row is the only "
                  "one that sees the whole sentence. An exact 0 prints as \"0\", not \"0.000\": it is "
                  "not small, it is nothing.");
}

/* ---- 5. The output ---- */
static void section_output(Chapter *ch) {
    const AttnDemo *d = &ch->demo;
    print_section(stdout, 5, "Output: Z = A V");
    printf("  Z[i] = sum_{j <= i} A[i][j] V[j]     (T, T) x (T, d_k) -> (T, d_k) = (%d, %d)\n\n", d->T, d->d_k);
    tensor_matmul(&ch->Z, &ch->A, &d->V);
    print_matrix(stdout, "Z = A V", &ch->Z, &ch->po);
    printf("\n  Row 0 of Z is row 0 of V, bit for bit: %s (its only weight is exactly 1).\n",
           tensor_rows_identical(&ch->Z, &d->V, 0) ? "yes" : "no");
}

/* Change word `j`'s embedding and report, row by row, how much each output changed with and without
 * the given mask. Returns the number of rows before j that changed under the mask. */
static int leak_table(const Chapter *ch, const Tensor *mask, const char *mask_name) {
    const AttnDemo *d = &ch->demo;
    const int T = d->T, j = T - 1;
    Tensor X = tensor_new(T, d->d_model);
    Tensor Z0 = tensor_new(T, d->d_k), Z1 = tensor_new(T, d->d_k);
    Tensor U0 = tensor_new(T, d->d_k), U1 = tensor_new(T, d->d_k);
    tensor_copy(&X, &d->X);
    demo_changed_word(tensor_at(&X, j, 0), d, j); /* the last word becomes a different word */
    demo_attend(&Z0, d, &d->X, mask);
    demo_attend(&Z1, d, &X, mask);
    demo_attend(&U0, d, &d->X, NULL);
    demo_attend(&U1, d, &X, NULL);
    printf("  %-12s  %-28s  %s\n", "output row", mask_name, "no mask");
    printf("  %-12s  %-28s  %s\n", "", "max |change|  same bits?", "max |change|  same bits?");
    int leaks = 0;
    for (int i = 0; i < T; i++) {
        Tensor a = tensor_row(&Z0, i), b = tensor_row(&Z1, i), u = tensor_row(&U0, i), v = tensor_row(&U1, i);
        bool same = tensor_rows_identical(&Z0, &Z1, i), same_u = tensor_rows_identical(&U0, &U1, i);
        if (i < j && !same) leaks++;
        char label[64];
        snprintf(label, sizeof label, "%d %s", i, d->tokens[i]);
        printf("  %-12s  %12.3g  %-13s  %12.3g  %s\n", label, tensor_max_abs_diff(&a, &b),
               same ? "yes" : "no", tensor_max_abs_diff(&u, &v), same_u ? "yes" : "no");
    }
    tensor_free(&X);
    tensor_free(&Z0), tensor_free(&Z1), tensor_free(&U0), tensor_free(&U1);
    return leaks;
}

/* ---- 6. Proof that nothing leaks from the future ---- */
static void section_no_leak(Chapter *ch) {
    const AttnDemo *d = &ch->demo;
    const int T = d->T;
    print_section(stdout, 6, "Proof that nothing leaks: change the last word");
    printf("  Replace the embedding of the last word ('%s') by a different random vector, recompute\n"
           "  everything, and compare each output row with the one before, with and without M.\n\n",
           d->tokens[T - 1]);
    int leaks = leak_table(ch, &ch->M, "causal mask M");
    printf("\n  With the mask, rows 0..%d are bit-for-bit unchanged: %s. Without it, every row moves.\n",
           T - 2, leaks == 0 ? "yes" : "NO");
    printf("\n  The same test for every word j at once: D[i][j] = 1 when output row i changes as word j\n"
           "  changes.\n\n");
    demo_influence(&ch->D, d, &ch->M);
    demo_influence(&ch->D_none, d, NULL);
    PrintOpts po = ch->pw;
    po.precision = 0;
    print_matrix(stdout, "D with the causal mask (rows: outputs, columns: changed word)", &ch->D, &po);
    const int above = T * (T - 1) / 2 - zeros_above_diagonal(&ch->D); /* outputs moved by a later word */
    if (above == 0)
        print_note(stdout, "Notice: D is lower-triangular: output i depends on words 0..i and on nothing after "
                           "them. That is what lets a decoder be trained on all positions of a sentence at "
                           "once without seeing the answers.");
    else {
        char note[200];
        snprintf(note, sizeof note, "Notice: D has %d ones above the diagonal: some output depends on a later "
                 "word, so this mask leaks the future.", above);
        print_note(stdout, note);
    }
}

/* ---- 7. The source's formula, run ---- */
static void section_erratum(Chapter *ch) {
    const AttnDemo *d = &ch->demo;
    const int T = d->T;
    print_section(stdout, 7, "Erratum: the mask formula printed in §4.2");
    print_wrapped(stdout, 2,
                  "The text of §4.2 says to set the upper triangle, diagonal excluded, to -inf: the "
                  "mask of section 2. Its formula then says M[i][j] = 0 where i <= j and -inf where "
                  "i > j, which hides the lower triangle, the past, and keeps the future. Here it is, "
                  "run through the same steps:");
    putchar('\n');
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) *tensor_at(&ch->M_src, i, j) = i > j ? -INFINITY : 0.0f;
    print_matrix(stdout, "M' as printed in §4.2", &ch->M_src, &ch->pw);
    Tensor S = tensor_new(T, T), Z = tensor_new(T, d->d_k);
    int bad = -1;
    SoftmaxStatus st = attention_forward(&Z, &S, &ch->A_src, &d->Q, &d->K, &d->V, &ch->M_src, &bad);
    if (st != SOFTMAX_OK) die(EXIT_RUNTIME, "softmax row %d: %s", bad, softmax_status_text(st));
    putchar('\n');
    print_matrix(stdout, "A' = softmax(Q K^T / sqrt(d_k) + M')", &ch->A_src, &ch->pw);
    printf("\n  Entries below the diagonal that are exactly 0: %d of %d; the last row sees only itself.\n\n",
           zeros_below_diagonal(&ch->A_src), T * (T - 1) / 2);
    int leaks = leak_table(ch, &ch->M_src, "mask M' of §4.2");
    printf("\n  Rows 0..%d that changed when only the last word changed: %d of %d. The future leaks.\n\n",
           T - 2, leaks, T - 1);
    demo_influence(&ch->D_src, d, &ch->M_src);
    PrintOpts po = ch->pw;
    po.precision = 0;
    print_matrix(stdout, "D with the mask M' of §4.2", &ch->D_src, &po);
    if (zeros_below_diagonal(&ch->D_src) == T * (T - 1) / 2)
        print_note(stdout, "Notice: D is now upper-triangular: output i depends on words i..T-1, on everything "
                           "it is supposed to predict and on nothing before it. A language model trained this "
                           "way would learn to copy the next word, and fail as soon as it had to generate. The "
                           "fix is the transpose: -inf where j > i.");
    else {
        char note[300];
        snprintf(note, sizeof note, "Notice: D is not upper-triangular here; %d of the %d earlier outputs still "
                 "moved when only the last word changed%s. The fix is the transpose: -inf where j > i.", leaks, T - 1,
                 leaks ? ": the mask of §4.2 leaks the future" : "");
        print_note(stdout, note);
    }
    tensor_free(&S);
    tensor_free(&Z);
}

/* ---- 8. The library's masked attention ---- */
static void section_library(Chapter *ch) {
    const AttnDemo *d = &ch->demo;
    const int T = d->T;
    print_section(stdout, 8, "The same computation through common/attention.c");
    Tensor M = tensor_new(T, T), S = tensor_new(T, T), A = tensor_new(T, T), Z = tensor_new(T, d->d_k);
    attention_mask(&M, MASK_CAUSAL);
    int bad = -1;
    SoftmaxStatus st = attention_forward(&Z, &S, &A, &d->Q, &d->K, &d->V, &M, &bad);
    if (st != SOFTMAX_OK) die(EXIT_RUNTIME, "softmax row %d: %s", bad, softmax_status_text(st));
    printf("  attention_forward(Q, K, V, M) against sections 3 to 5, largest absolute difference:\n"
           "    scores S  %.3g\n    weights A %.3g\n    output Z  %.3g\n",
           tensor_max_abs_diff(&S, &ch->S), tensor_max_abs_diff(&A, &ch->A), tensor_max_abs_diff(&Z, &ch->Z));
    tensor_free(&M), tensor_free(&S), tensor_free(&A), tensor_free(&Z);
}

/* ---- 9. Figures ---- */
static void section_figures(Chapter *ch) {
    print_section(stdout, 9, "Figures");
    const char *const *w = (const char *const *)ch->demo.tokens;
    const char *key = "key j (attended to)", *query = "query i";
    HeatPanel masks[2] = {
        {"mask_causal", "correct: -inf where j > i", &ch->M, w, w, key, query, HEAT_MASK},
        {"mask_source", "§4.2 formula: -inf where i > j", &ch->M_src, w, w, key, query, HEAT_MASK},
    };
    plot_heatmaps(&ch->plot, "masks", "The mask M, correct and as printed in §4.2", masks, 2);
    HeatPanel weights[2] = {
        {"weights_causal", "A with the correct mask", &ch->A, w, w, key, query, HEAT_WEIGHTS},
        {"weights_source", "A with the §4.2 formula", &ch->A_src, w, w, key, query, HEAT_WEIGHTS},
    };
    plot_heatmaps(&ch->plot, "weights", "Attention weights under each mask", weights, 2);
    const char *changed = "changed word j";
    HeatPanel leak[3] = {
        {"influence_none", "no mask", &ch->D_none, w, w, changed, "output row i", HEAT_BINARY},
        {"influence_causal", "correct mask", &ch->D, w, w, changed, "output row i", HEAT_BINARY},
        {"influence_source", "§4.2 formula", &ch->D_src, w, w, changed, "output row i", HEAT_BINARY},
    };
    plot_heatmaps(&ch->plot, "influence", "Does output row i change when word j changes?", leak, 3);
    if (!ch->plot.enabled) printf("  (--no-plot: no figures written)\n");
}

int main(int argc, char **argv) {
    DemoFlags flags = demo_flags_default();
    CliCommon common = cli_common_defaults();
    CliOption opts[DEMO_N_OPTIONS];
    demo_cli_options(opts, &flags, true);
    CliSpec spec = {CHAPTER, "Causal (masked) self-attention (source document §4.2): the mask, the proof that\n"
                             "nothing leaks from the future, and the source's transposed mask run beside it.",
                    opts, DEMO_N_OPTIONS};
    cli_parse(&spec, &common, argc, argv);

    Chapter ch;
    memset(&ch, 0, sizeof ch);
    demo_build(&ch.demo, &flags, (uint64_t)common.seed);
    const int T = ch.demo.T;
    Tensor *square[] = {&ch.M, &ch.S, &ch.A, &ch.M_src, &ch.A_src, &ch.D, &ch.D_src, &ch.D_none};
    for (size_t i = 0; i < sizeof square / sizeof square[0]; i++) *square[i] = tensor_new(T, T);
    ch.Z = tensor_new(T, ch.demo.d_k);
    ch.po = print_defaults();
    ch.po.precision = (int)common.precision;
    ch.po.color = print_color_wanted();
    ch.po.row_labels = (const char *const *)ch.demo.tokens;
    ch.pw = ch.po;
    ch.pw.col_labels = (const char *const *)ch.demo.tokens;
    plot_init(&ch.plot, &common, CHAPTER, stdout);

    printf("Chapter 4: masked self-attention (source document §4.2)\n\n  sentence: ");
    for (int t = 0; t < T; t++) printf("%s%s", t ? " " : "", ch.demo.tokens[t]);
    printf("   (T = %d words)\n  d_model = %d, d_k = d_v = %d, seed = %lld\n", T, ch.demo.d_model,
           ch.demo.d_k, common.seed);

    section_example(&ch);
    section_mask(&ch);
    section_scores(&ch);
    section_weights(&ch);
    section_output(&ch);
    section_no_leak(&ch);
    section_erratum(&ch);
    section_library(&ch);
    section_figures(&ch);

    for (size_t i = 0; i < sizeof square / sizeof square[0]; i++) tensor_free(square[i]);
    tensor_free(&ch.Z);
    demo_free(&ch.demo);
    return 0;
}
