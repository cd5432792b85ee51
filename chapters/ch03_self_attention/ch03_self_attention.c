/* ch03_self_attention: scaled dot-product self-attention, step by step (source document §3.1, §4.1).
 *
 *   Q = X W^Q,  K = X W^K,  V = X W^V              (T, d_model) x (d_model, d_k) -> (T, d_k)
 *   A = softmax(Q K^T / sqrt(d_k))   row by row     (T, d_k) x (d_k, T) -> (T, T)
 *   Z = A V                                         (T, T) x (T, d_k) -> (T, d_k)
 *
 * Each numbered section below prints one step under its equation; the step is computed here with
 * plain loops, so the code reads like the formula, and section 8 checks it against the library's
 * attention_forward that later chapters use. Section 9 measures why the scores are divided by
 * sqrt(d_k); section 10 counts why attention replaced recurrent networks (§1.1.3): the steps that
 * must wait for each other.
 *
 * Run: make ch03 && ./ch03_self_attention [--sentence "..."] [--tokens N] [--d-model D] [--d-k K]
 *                                         [--trials N] [--keys N] [--seed S] [--no-plot]         */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "cli.h"
#include "demo.h"
#include "plot.h"
#include "print.h"
#include "rng.h"
#include "tensor.h"
#include "util.h"

#define CHAPTER "ch03_self_attention"

typedef struct {
    AttnDemo demo;  /* the sentence, X, W^Q, W^K, W^V, Q, K, V */
    Tensor scores;  /* (T, T) Q K^T, then divided by sqrt(d_k) */
    Tensor weights; /* (T, T) softmax of the scaled scores */
    Tensor Z;       /* (T, d_k) weights x V */
    PrintOpts po;   /* rows labelled by the words */
    Plotter plot;
    long long trials, keys; /* the scaling experiment's size */
} Chapter;

/* ---- 1. The input: one embedding row per word ---- */
static void section_input(Chapter *ch) {
    const AttnDemo *d = &ch->demo;
    print_section(stdout, 1, "The input X: one embedding vector per word");
    printf("  X  (T, d_model) = (%d, %d): row t is the embedding of word t.\n\n", d->T, d->d_model);
    print_matrix(stdout, "X", &d->X, &ch->po);
    /* Find a repeated word, if any, and show that its rows are the same bits. */
    for (int i = 0; i < d->T; i++)
        for (int j = i + 1; j < d->T; j++)
            if (strcmp(d->tokens[i], d->tokens[j]) == 0) {
                char note[256];
                snprintf(note, sizeof note,
                         "Notice: rows %d and %d are both '%s' and are identical (%s). An embedding "
                         "depends on the word only, not on where it stands: attention alone cannot "
                         "tell the two apart (chapter 6 adds positions).",
                         i, j, d->tokens[i],
                         memcmp(tensor_at(&d->X, i, 0), tensor_at(&d->X, j, 0),
                                sizeof(float) * (size_t)d->d_model) == 0
                             ? "same bits"
                             : "NOT the same bits");
                print_note(stdout, note);
                return;
            }
}

/* ---- 2. The learned projections W^Q, W^K, W^V ---- */
static void section_weights(Chapter *ch) {
    const AttnDemo *d = &ch->demo;
    print_section(stdout, 2, "The projections W^Q, W^K, W^V");
    printf("  Each is (d_model, d_k) = (%d, %d), drawn from N(0, 1/d_model) as a model would start.\n"
           "  Training (chapter 10) would change them; here they stay random.\n\n",
           d->d_model, d->d_k);
    PrintOpts po = print_defaults();
    po.precision = ch->po.precision;
    po.color = ch->po.color;
    print_matrix(stdout, "W^Q", &d->Wq, &po);
    putchar('\n');
    print_matrix(stdout, "W^K", &d->Wk, &po);
    putchar('\n');
    print_matrix(stdout, "W^V", &d->Wv, &po);
}

/* ---- 3. Queries, keys and values ---- */
static void section_qkv(Chapter *ch) {
    const AttnDemo *d = &ch->demo;
    print_section(stdout, 3, "Queries, keys, values: Q = X W^Q, K = X W^K, V = X W^V");
    printf("  (T, d_model) x (d_model, d_k) -> (T, d_k) = (%d, %d), three times.\n\n", d->T, d->d_k);
    print_matrix(stdout, "Q = X W^Q", &d->Q, &ch->po);
    putchar('\n');
    print_matrix(stdout, "K = X W^K", &d->K, &ch->po);
    putchar('\n');
    print_matrix(stdout, "V = X W^V", &d->V, &ch->po);
    print_note(stdout, "Notice: the same word gives the same row in all three. Row t of Q asks \"what am "
                  "I looking for\", row t of K says \"what I offer\", row t of V is what word t "
                  "hands over when it is attended to.");
}

/* ---- 4. Scores: every query against every key ---- */
static void section_scores(Chapter *ch) {
    const AttnDemo *d = &ch->demo;
    print_section(stdout, 4, "Scores: Q K^T, every query against every key");
    printf("  (Q K^T)[i][j] = sum_c Q[i][c] K[j][c]     (T, d_k) x (d_k, T) -> (T, T) = (%d, %d)\n\n",
           d->T, d->T);
    /* The dot product of query i with key j, written as the sum it is. */
    for (int i = 0; i < d->T; i++)
        for (int j = 0; j < d->T; j++) {
            float s = 0.0f;
            for (int c = 0; c < d->d_k; c++) s += *tensor_at(&d->Q, i, c) * *tensor_at(&d->K, j, c);
            *tensor_at(&ch->scores, i, j) = s;
        }
    PrintOpts po = ch->po;
    po.col_labels = (const char *const *)d->tokens;
    print_matrix(stdout, "Q K^T   (rows: queries, columns: keys)", &ch->scores, &po);
    double sum2 = 0;
    for (int i = 0; i < d->T; i++)
        for (int j = 0; j < d->T; j++) sum2 += pow(*tensor_at(&ch->scores, i, j), 2);
    char note[320];
    snprintf(note, sizeof note,
             "Notice: the scores spread with d_k. Their root mean square here is %.3f; for random "
             "unit-variance vectors it grows like sqrt(d_k) = %.3f, because a dot product adds up "
             "d_k products.",
             sqrt(sum2 / ((double)d->T * d->T)), sqrt((double)d->d_k));
    print_note(stdout, note);
}

/* ---- 5. Scaling by 1/sqrt(d_k) ---- */
static void section_scale(Chapter *ch) {
    const AttnDemo *d = &ch->demo;
    const float inv = 1.0f / sqrtf((float)d->d_k);
    print_section(stdout, 5, "Scaling: S = Q K^T / sqrt(d_k)");
    printf("  sqrt(d_k) = sqrt(%d) = %.4f, so every score is multiplied by %.4f.\n\n", d->d_k,
           sqrt((double)d->d_k), (double)inv);
    for (int i = 0; i < d->T; i++)
        for (int j = 0; j < d->T; j++) *tensor_at(&ch->scores, i, j) *= inv;
    PrintOpts po = ch->po;
    po.col_labels = (const char *const *)d->tokens;
    print_matrix(stdout, "S = Q K^T / sqrt(d_k)", &ch->scores, &po);
    print_note(stdout, "Notice: the order within each row is unchanged; only the spread shrinks back "
                  "to about 1, whatever d_k is (section 9 shows what happens without it).");
}

/* ---- 6. Softmax: each row becomes a probability distribution ---- */
static void section_softmax(Chapter *ch) {
    const AttnDemo *d = &ch->demo;
    const int T = d->T;
    print_section(stdout, 6, "Weights: A = softmax(S), row by row");
    printf("  A[i][j] = exp(S[i][j] - m_i) / sum_j' exp(S[i][j'] - m_i),  m_i = max_j S[i][j]\n"
           "  (subtracting the row maximum changes nothing mathematically and keeps exp from "
           "overflowing)\n\n");
    Tensor sums = tensor_new(T, 1);
    for (int i = 0; i < T; i++) {
        float m = -INFINITY;
        for (int j = 0; j < T; j++) m = fmaxf(m, *tensor_at(&ch->scores, i, j));
        float total = 0.0f;
        for (int j = 0; j < T; j++) {
            float e = expf(*tensor_at(&ch->scores, i, j) - m);
            *tensor_at(&ch->weights, i, j) = e;
            total += e;
        }
        float row_sum = 0.0f;
        for (int j = 0; j < T; j++) {
            *tensor_at(&ch->weights, i, j) /= total;
            row_sum += *tensor_at(&ch->weights, i, j);
        }
        *tensor_at(&sums, i, 0) = row_sum;
    }
    PrintOpts po = ch->po;
    po.col_labels = (const char *const *)d->tokens;
    print_matrix(stdout, "A = softmax(S)", &ch->weights, &po);
    putchar('\n');
    PrintOpts ps = ch->po;
    ps.precision = 7;
    static const char *const sum_label[] = {"sum_j A[i][j]"};
    ps.col_labels = sum_label;
    print_matrix(stdout, "each row's sum", &sums, &ps);
    putchar('\n');
    double worst = 0;
    for (int i = 0; i < T; i++) worst = fmax(worst, fabs(*tensor_at(&sums, i, 0) - 1.0));
    printf("  Every row sums to 1 up to float rounding (largest |sum - 1| = %.2g).\n", worst);
    printf("  Where each word looks most:\n");
    for (int i = 0; i < T; i++) {
        int best = 0;
        for (int j = 1; j < T; j++)
            if (*tensor_at(&ch->weights, i, j) > *tensor_at(&ch->weights, i, best)) best = j;
        printf("    %-12s -> %-12s (%.*f)\n", d->tokens[i], d->tokens[best], ch->po.precision,
               (double)*tensor_at(&ch->weights, i, best));
    }
    tensor_free(&sums);
}

/* ---- 7. The output: a weighted average of the value rows ---- */
static void section_output(Chapter *ch) {
    const AttnDemo *d = &ch->demo;
    print_section(stdout, 7, "Output: Z = A V");
    printf("  Z[i] = sum_j A[i][j] V[j]      (T, T) x (T, d_k) -> (T, d_k) = (%d, %d)\n\n", d->T, d->d_k);
    for (int i = 0; i < d->T; i++)
        for (int c = 0; c < d->d_k; c++) {
            float z = 0.0f;
            for (int j = 0; j < d->T; j++) z += *tensor_at(&ch->weights, i, j) * *tensor_at(&d->V, j, c);
            *tensor_at(&ch->Z, i, c) = z;
        }
    print_matrix(stdout, "Z = A V", &ch->Z, &ch->po);
    print_note(stdout, "Notice: each output row is a blend of all the value rows, mixed in the "
                  "proportions of its row of A. Every word now carries information from every "
                  "other word, in one matrix product, with no recurrence.");
}

/* ---- 8. The same through the library ---- */
static void section_library(Chapter *ch) {
    const AttnDemo *d = &ch->demo;
    print_section(stdout, 8, "The same computation through common/attention.c");
    Tensor Z = tensor_new(d->T, d->d_k), S = tensor_new(d->T, d->T), A = tensor_new(d->T, d->T);
    int bad = -1;
    SoftmaxStatus st = attention_forward(&Z, &S, &A, &d->Q, &d->K, &d->V, NULL, &bad);
    if (st != SOFTMAX_OK) die(EXIT_RUNTIME, "attention row %d: %s", bad, softmax_status_text(st));
    printf("  attention_forward(Q, K, V) against the loops above, largest absolute difference:\n");
    printf("    scores S  %.3g\n    weights A %.3g\n    output Z  %.3g\n",
           tensor_max_abs_diff(&S, &ch->scores), tensor_max_abs_diff(&A, &ch->weights),
           tensor_max_abs_diff(&Z, &ch->Z));
    printf("  (float rounding only: the library adds up each softmax row in double, the loops above\n"
           "   in float.) Later chapters call the library version.\n");
    tensor_free(&Z);
    tensor_free(&S);
    tensor_free(&A);
}

/* ---- 9. Why divide by sqrt(d_k)? An experiment ---- */

/* Entropy (nats), largest weight, and Frobenius norm of the softmax Jacobian dA/dS for one row of
 * scores s[0..n). The Jacobian is J = diag(a) - a a^T, so
 *   ||J||_F^2 = sum_i a_i^2 - 2 sum_i a_i^3 + (sum_i a_i^2)^2;
 * it goes to 0 as the row saturates (one weight near 1): then almost no gradient flows back. */
static void softmax_stats(const double *s, int n, double *entropy, double *max_w, double *jac) {
    double m = -INFINITY, z = 0, h = 0, a2 = 0, a3 = 0, top = 0;
    for (int i = 0; i < n; i++) m = fmax(m, s[i]);
    for (int i = 0; i < n; i++) z += exp(s[i] - m);
    for (int i = 0; i < n; i++) {
        double a = exp(s[i] - m) / z;
        if (a > 0) h -= a * log(a);
        a2 += a * a;
        a3 += a * a * a;
        top = fmax(top, a);
    }
    *entropy = h;
    *max_w = top;
    *jac = sqrt(fmax(0.0, a2 - 2 * a3 + a2 * a2));
}

static void section_scaling(Chapter *ch) {
    enum { N_DK = 9 };
    const int n_keys = (int)ch->keys, trials = (int)ch->trials;
    print_section(stdout, 9, "Experiment: why divide by sqrt(d_k)?");
    printf("  For each d_k: %d queries, each against %d keys, all entries drawn from N(0, 1).\n"
           "  A dot product of such vectors has variance d_k. We compare softmax(q.k) with\n"
           "  softmax(q.k / sqrt(d_k)), averaging over the queries:\n"
           "    H     entropy of the weights in nats (uniform over %d keys: ln %d = %.3f)\n"
           "    max   the largest weight (1 means all attention on one key)\n"
           "    |J|   Frobenius norm of the softmax Jacobian dA/dS: how much gradient gets through\n\n",
           trials, n_keys, n_keys, n_keys, log(n_keys));
    double dk[N_DK], h_raw[N_DK], h_scl[N_DK], m_raw[N_DK], m_scl[N_DK], j_raw[N_DK], j_scl[N_DK];
    double *q = xmalloc(sizeof(double) * 1024), *k = xmalloc(sizeof(double) * 1024);
    double *s_raw = xmalloc(sizeof(double) * (size_t)n_keys), *s_scl = xmalloc(sizeof(double) * (size_t)n_keys);
    Rng rng;
    rng_seed(&rng, ch->demo.seed, 9); /* stream 9: this experiment */
    printf("  %6s  %8s  %8s %8s  %7s %7s  %8s %8s\n", "d_k", "std(q.k)", "H raw", "H scaled",
           "max raw", "max scl", "|J| raw", "|J| scl");
    for (int e = 0; e < N_DK; e++) {
        const int d = 4 << e; /* 4, 8, ..., 1024 */
        double sums[6] = {0}, var = 0;
        for (int t = 0; t < trials; t++) {
            for (int c = 0; c < d; c++) q[c] = rng_normal(&rng);
            for (int j = 0; j < n_keys; j++) {
                double dot = 0;
                for (int c = 0; c < d; c++) {
                    k[c] = rng_normal(&rng);
                    dot += q[c] * k[c];
                }
                s_raw[j] = dot;
                s_scl[j] = dot / sqrt((double)d);
                var += dot * dot;
            }
            double hv, mv, jv;
            softmax_stats(s_raw, n_keys, &hv, &mv, &jv);
            sums[0] += hv, sums[2] += mv, sums[4] += jv;
            softmax_stats(s_scl, n_keys, &hv, &mv, &jv);
            sums[1] += hv, sums[3] += mv, sums[5] += jv;
        }
        dk[e] = d;
        h_raw[e] = sums[0] / trials, h_scl[e] = sums[1] / trials;
        m_raw[e] = sums[2] / trials, m_scl[e] = sums[3] / trials;
        j_raw[e] = sums[4] / trials, j_scl[e] = sums[5] / trials;
        printf("  %6d  %8.2f  %8.3f %8.3f  %7.3f %7.3f  %8.4f %8.4f\n", d,
               sqrt(var / ((double)trials * n_keys)), h_raw[e], h_scl[e], m_raw[e], m_scl[e], j_raw[e],
               j_scl[e]);
    }
    free(q), free(k), free(s_raw), free(s_scl);
    /* How far the scaled statistics wander from their value at d_k = 4, as a fraction. */
    double drift = 0;
    for (int e = 1; e < N_DK; e++) {
        drift = fmax(drift, fabs(h_scl[e] / h_scl[0] - 1));
        drift = fmax(drift, fabs(m_scl[e] / m_scl[0] - 1));
        drift = fmax(drift, fabs(j_scl[e] / j_scl[0] - 1));
    }
    char note[700];
    snprintf(note, sizeof note,
             "Notice: without the scaling, the spread of the scores grows like sqrt(d_k); at d_k = "
             "%d the softmax puts %.0f%% of the weight on one key on average, its entropy falls "
             "from %.2f to %.2f nats, and the gradient through it shrinks %.1f-fold. With the "
             "scaling, all three stay within %.0f%% of their values at d_k = 4. This is the "
             "source's reason for the division (§4.1: it keeps the gradients stable), measured.",
             (int)dk[N_DK - 1], 100 * m_raw[N_DK - 1], h_raw[0], h_raw[N_DK - 1],
             j_raw[N_DK - 1] > 0 ? j_raw[0] / j_raw[N_DK - 1] : INFINITY, 100 * drift);
    print_note(stdout, note);

    ch->plot.out = stdout;
    LineAxes ax = {"d_k (log scale)", "mean entropy of a row of A (nats)", true, false};
    double ceiling[N_DK];
    for (int e = 0; e < N_DK; e++) ceiling[e] = log(n_keys);
    LineSeries h[3] = {{"softmax(q.k / sqrt(d_k))", h_scl, false}, {"softmax(q.k), unscaled", h_raw, false},
                       {"uniform weights: ln(keys)", ceiling, true}};
    putchar('\n');
    plot_lines(&ch->plot, "scaling_entropy", "Attention entropy against d_k, with and without 1/sqrt(d_k)",
               &ax, dk, N_DK, h, 3);
    LineAxes am = {"d_k (log scale)", "mean largest weight in a row of A", true, false};
    LineSeries m[2] = {{"softmax(q.k / sqrt(d_k))", m_scl, false}, {"softmax(q.k), unscaled", m_raw, false}};
    plot_lines(&ch->plot, "scaling_max_weight", "How peaked the weights are against d_k", &am, dk, N_DK,
               m, 2);
    LineAxes aj = {"d_k (log scale)", "mean Frobenius norm of dA/dS", true, false};
    LineSeries j[2] = {{"softmax(q.k / sqrt(d_k))", j_scl, false}, {"softmax(q.k), unscaled", j_raw, false}};
    plot_lines(&ch->plot, "scaling_gradient", "Gradient through the softmax against d_k", &aj, dk, N_DK,
               j, 2);
}

/* ---- 10. Why attention replaced recurrence: the chain of steps that must wait ---- */

/* The critical path of a computation, traced while it runs: every operation is given a level, one
 * more than the highest level among its inputs (inputs given from outside are level 0), and its
 * multiply-adds are added to that level's work. Operations on the same level depend on none of
 * each other, so they could all run at once; the number of levels is the least number of steps any
 * number of processors needs. */
enum { TRACE_MAX_LEVELS = 4096 };
typedef struct {
    double work[TRACE_MAX_LEVELS + 1]; /* multiply-adds at each level */
    int levels;                        /* the highest level used */
} Trace;

/* Record one operation on inputs of levels a and b doing `macs` multiply-adds; returns its level. */
static int trace_op(Trace *tr, int a, int b, double macs) {
    const int level = (a > b ? a : b) + 1;
    CHECK(level <= TRACE_MAX_LEVELS, "trace deeper than %d levels", TRACE_MAX_LEVELS);
    tr->work[level] += macs;
    if (level > tr->levels) tr->levels = level;
    return level;
}

/* A recurrent layer over X (T, d): h_t = tanh(h_{t-1} W_h + x_t W_x), h_{-1} = 0. The input term
 * X W_x is one product for all t; the recurrence is T products of (1, d) x (d, d), each needing h_{t-1}. */
static void rnn_traced(Tensor *H, Trace *tr, const Tensor *X, const Tensor *Wx, const Tensor *Wh) {
    const int T = X->rows, d = X->cols;
    Tensor XW = tensor_new(T, d);
    tensor_matmul(&XW, X, Wx); /* (T, d) x (d, d) -> (T, d) */
    const int xw_level = trace_op(tr, 0, 0, (double)T * d * d);
    int h_level = 0;
    for (int t = 0; t < T; t++) {
        float *h = tensor_at(H, t, 0);
        const float *xw = tensor_at(&XW, t, 0), *prev = t ? tensor_at(H, t - 1, 0) : NULL;
        for (int c = 0; c < d; c++) { /* h_t[c] = tanh(sum_k h_t-1[k] W_h[k][c] + (x_t W_x)[c]) */
            float a = xw[c];
            for (int k = 0; prev && k < d; k++) a += prev[k] * *tensor_at(Wh, k, c);
            h[c] = tanhf(a);
        }
        h_level = trace_op(tr, h_level, xw_level, t == 0 ? 0 : (double)d * d);
    }
    tensor_free(&XW);
}

/* Self-attention over X (T, d) with projections W (d, d): the same products as sections 3 to 7. */
static void attention_traced(Tensor *Z, Trace *tr, const Tensor *X, const Tensor *Wq, const Tensor *Wk,
                             const Tensor *Wv) {
    const int T = X->rows, d = X->cols;
    Tensor Q = tensor_new(T, d), K = tensor_new(T, d), V = tensor_new(T, d), S = tensor_new(T, T), A = tensor_new(T, T);
    tensor_matmul(&Q, X, Wq); /* (T, d) x (d, d) -> (T, d), and K, V alike: one level */
    tensor_matmul(&K, X, Wk);
    tensor_matmul(&V, X, Wv);
    const int q = trace_op(tr, 0, 0, (double)T * d * d), k = trace_op(tr, 0, 0, (double)T * d * d);
    const int v = trace_op(tr, 0, 0, (double)T * d * d);
    tensor_matmul_bt(&S, &Q, &K); /* (T, d) x (d, T) -> (T, T) */
    tensor_scale(&S, &S, 1.0f / sqrtf((float)d));
    const int s = trace_op(tr, q, k, (double)T * T * d);
    int bad;
    if (tensor_softmax_rows(&A, &S, &bad) != SOFTMAX_OK) die(EXIT_RUNTIME, "attention row %d is not finite", bad);
    const int a = trace_op(tr, s, 0, 0); /* exponentials and sums, counted as no multiply-adds */
    tensor_matmul(Z, &A, &V); /* (T, T) x (T, d) -> (T, d) */
    trace_op(tr, a, v, (double)T * T * d);
    tensor_free(&Q), tensor_free(&K), tensor_free(&V), tensor_free(&S), tensor_free(&A);
}

static double trace_total(const Trace *tr) {
    double w = 0;
    for (int l = 1; l <= tr->levels; l++) w += tr->work[l];
    return w;
}

static void section_recurrence(Chapter *ch) {
    enum { N_T = 4, D = 64 };
    const int Ts[N_T] = {8, 32, 128, 256};
    print_section(stdout, 10, "Experiment: why attention replaced recurrence (§1.1.3)");
    printf("  A recurrent network reads the sequence one position at a time:\n"
           "    h_t = tanh(h_t-1 W_h + x_t W_x)       (1, d) x (d, d) -> (1, d), for t = 1 .. T in order\n"
           "  Self-attention computes every position at once:\n"
           "    Q, K, V = X W  ->  S = Q K^T / sqrt(d)  ->  A = softmax(S)  ->  Z = A V\n"
           "  Both run here on the same random X (T, d), d = %d, and each operation is traced as it\n"
           "  runs: its level is one more than its inputs' highest, so operations on one level could\n"
           "  all run at once, and the number of levels (steps) is the least time any number of\n"
           "  processors needs. Work = multiply-adds.\n\n", D);
    printf("  %6s  %16s %14s  %16s %14s  %12s\n", "T", "recurrent: steps", "work per step", "attention: steps",
           "work per step", "total work,");
    printf("  %6s  %16s %14s  %16s %14s  %12s\n", "", "", "(mean)", "", "(mean)", "attn / rnn");
    Rng rng;
    rng_seed(&rng, ch->demo.seed, 10); /* stream 10: this experiment */
    Tensor W[5];
    for (int i = 0; i < 5; i++) W[i] = tensor_new(D, D), tensor_randn(&W[i], &rng, 1.0f / sqrtf((float)D));
    int rnn_steps[N_T], att_steps[N_T];
    double rnn_last_work = 0, att_step_work = 0, ratio = 0;
    for (int e = 0; e < N_T; e++) {
        const int T = Ts[e];
        Tensor X = tensor_new(T, D), H = tensor_new(T, D), Z = tensor_new(T, D);
        tensor_randn(&X, &rng, 1.0f);
        Trace rt = {{0}, 0}, at = {{0}, 0};
        rnn_traced(&H, &rt, &X, &W[0], &W[1]);
        attention_traced(&Z, &at, &X, &W[2], &W[3], &W[4]);
        rnn_steps[e] = rt.levels, att_steps[e] = at.levels;
        rnn_last_work = rt.work[rt.levels], att_step_work = trace_total(&at) / at.levels;
        ratio = trace_total(&at) / trace_total(&rt);
        printf("  %6d  %16d %14.3g  %16d %14.3g  %12.2f\n", T, rt.levels, trace_total(&rt) / rt.levels, at.levels,
               att_step_work, ratio);
        tensor_free(&X), tensor_free(&H), tensor_free(&Z);
    }
    for (int i = 0; i < 5; i++) tensor_free(&W[i]);
    const int T = Ts[N_T - 1];
    const bool rnn_grows = rnn_steps[N_T - 1] > rnn_steps[0], att_flat = att_steps[N_T - 1] == att_steps[0];
    char note[800];
    if (rnn_grows && att_flat)
        snprintf(note, sizeof note,
                 "Notice: the recurrence needs %d steps at T = %d, one more for every position, because "
                 "step t waits for h_t-1; after the first (X W_x, all positions at once), each step is one "
                 "(1, d) x (d, d) product of %.0f multiply-adds, so processors beyond that many sit idle. "
                 "Attention needs %d steps at every T, with %.3g multiply-adds per step at T = %d to share "
                 "among processors. It does %.2f times the recurrence's total work there (S is T x T), yet "
                 "needs %.0f times fewer steps: the source's reason for dropping the RNN (§1.1.3, far better "
                 "parallel computation), counted.",
                 rnn_steps[N_T - 1], T, rnn_last_work, att_steps[N_T - 1], att_step_work, T, ratio,
                 (double)rnn_steps[N_T - 1] / att_steps[N_T - 1]);
    else
        snprintf(note, sizeof note,
                 "Notice: this run could not show the source's claim (§1.1.3): the recurrence's steps went "
                 "from %d to %d and attention's from %d to %d as T grew.", rnn_steps[0], rnn_steps[N_T - 1],
                 att_steps[0], att_steps[N_T - 1]);
    print_note(stdout, note);
}

/* ---- 11. Heatmaps of the scores and the weights ---- */
static void section_figures(Chapter *ch) {
    const AttnDemo *d = &ch->demo;
    print_section(stdout, 11, "Figures");
    const char *const *w = (const char *const *)d->tokens;
    HeatPanel panels[2] = {
        {"scores", "S = Q K^T / sqrt(d_k)", &ch->scores, w, w, "key (attended to)", "query", HEAT_SIGNED},
        {"weights", "A = softmax(S): each row sums to 1", &ch->weights, w, w, "key (attended to)", "query",
         HEAT_WEIGHTS},
    };
    plot_heatmaps(&ch->plot, "attention", "Self-attention on the example sentence", panels, 2);
    if (!ch->plot.enabled) printf("  (--no-plot: no figures written)\n");
}

int main(int argc, char **argv) {
    DemoFlags flags = demo_flags_default();
    CliCommon common = cli_common_defaults();
    Chapter ch = {.trials = 500, .keys = 16};
    CliOption opts[DEMO_N_OPTIONS + 2];
    demo_cli_options(opts, &flags, true);
    opts[DEMO_N_OPTIONS] = cli_int("--trials", &ch.trials, 1, 100000, "N", "queries per d_k in the scaling experiment");
    opts[DEMO_N_OPTIONS + 1] = cli_int("--keys", &ch.keys, 2, 4096, "N", "keys per query in the scaling experiment");
    CliSpec spec = {CHAPTER, "Self-attention step by step: Q, K, V, scores, scaling, softmax, output\n"
                             "(source document §3.1, §4.1), and an experiment on the 1/sqrt(d_k) scaling.",
                    opts, DEMO_N_OPTIONS + 2};
    cli_parse(&spec, &common, argc, argv);

    demo_build(&ch.demo, &flags, (uint64_t)common.seed);
    ch.scores = tensor_new(ch.demo.T, ch.demo.T);
    ch.weights = tensor_new(ch.demo.T, ch.demo.T);
    ch.Z = tensor_new(ch.demo.T, ch.demo.d_k);
    ch.po = print_defaults();
    ch.po.precision = (int)common.precision;
    ch.po.color = print_color_wanted();
    ch.po.row_labels = (const char *const *)ch.demo.tokens;
    plot_init(&ch.plot, &common, CHAPTER, stdout);

    printf("Chapter 3: self-attention, step by step (source document §3.1 and §4.1)\n\n");
    printf("  sentence: ");
    for (int t = 0; t < ch.demo.T; t++) printf("%s%s", t ? " " : "", ch.demo.tokens[t]);
    printf("   (T = %d words)\n  d_model = %d, d_k = d_v = %d, seed = %lld\n", ch.demo.T,
           ch.demo.d_model, ch.demo.d_k, common.seed);

    section_input(&ch);
    section_weights(&ch);
    section_qkv(&ch);
    section_scores(&ch);
    section_scale(&ch);
    section_softmax(&ch);
    section_output(&ch);
    section_library(&ch);
    section_scaling(&ch);
    section_recurrence(&ch);
    section_figures(&ch);

    tensor_free(&ch.scores);
    tensor_free(&ch.weights);
    tensor_free(&ch.Z);
    demo_free(&ch.demo);
    return 0;
}
