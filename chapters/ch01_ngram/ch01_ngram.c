/* ch01_ngram: the n-gram language model, source document §1.1.1 and §2.1.1.
 *
 *   P(w_1 .. w_m) = prod_i P(w_i | w_1 .. w_{i-1})  ~=  prod_i P(w_i | w_{i-n+1} .. w_{i-1})
 *
 * An n-gram model keeps only the last n-1 words of the history and estimates each conditional
 * probability from counts. This chapter counts n-grams up to n = 6, estimates with maximum
 * likelihood, add-k, Kneser-Ney and modified Kneser-Ney (the smoothing real toolkits use), measures
 * perplexity on held-out text, and tests the source's claim that n-grams cannot capture long-range
 * dependencies on a synthetic language built with one. Later chapters compare against it.
 *
 * Run: make ch01 && ./ch01_ngram [--corpus FILE] [--val-file FILE] [--level char|word|bpe] [--order N]
 *                                [--smoothing mle|addk|kn|mkn] [--k K] [--sample N] [--lines N]
 *                                [--vocab-size N (with --level bpe)]                              */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "corpus.h"
#include "dataset.h"
#include "ngram.h"
#include "plot.h"
#include "print.h"
#include "rng.h"
#include "synth.h"
#include "util.h"

#define CHAPTER "ch01_ngram"
#define MAX_N NGRAM_MAX_ORDER

typedef struct {
    /* flags */
    DatasetFlags flags;
    int smoothing;
    long long order, sample;
    double k;
    CliCommon common;
    /* data */
    Dataset data;         /* corpus, split, vocabulary, token streams, true floor */
    NgramModel model;
    Plotter plot;
} Chapter;

/* A token for printing: spaces, newlines and the markers shown visibly. */
static const char *show(const Vocab *v, int id) {
    const char *w = v->word[id];
    if (strcmp(w, " ") == 0) return "\xe2\x90\xa3"; /* U+2423 OPEN BOX: a visible space */
    if (strcmp(w, "\t") == 0) return "\\t";
    return w;
}

/* ---- 1. The corpus ---- */
static void section_corpus(Chapter *ch) {
    print_section(stdout, 1, "The corpus, its split, its vocabulary");
    dataset_load(&ch->data, &ch->flags, (uint64_t)ch->common.seed, true, stdout);
}

/* ---- 2. Counting ---- */
static void section_counting(Chapter *ch) {
    print_section(stdout, 2, "Counting n-grams");
    printf("  c(w_1 .. w_n) = how often the n tokens occur in a row in training (contexts start at <s>).\n\n");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ngram_build(&ch->model, &ch->data.train, ch->data.vocab.size, MAX_N, ch->k);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("  %5s  %12s  %14s\n", "n", "distinct", "possible |V|^n");
    for (int n = 1; n <= MAX_N; n++)
        printf("  %5d  %12llu  %14.3g\n", n, (unsigned long long)ch->model.distinct[n],
               pow(ch->data.vocab.size - 1, n));
    printf("\n  Counted orders 1..%d in one pass over %ld tokens.\n", MAX_N, ch->data.train.n);
    (void)secs; /* the time varies from run to run; the benchmark reports it, not this output */
    const int V = ch->data.vocab.size - 1;
    const double seen_share = (double)ch->model.distinct[MAX_N] / pow(V, MAX_N);
    char note[500];
    snprintf(note, sizeof note,
             "Notice: the possible n-grams multiply by |V| = %d at each n (%.3g at n = %d), while the n-grams "
             "seen cannot outnumber the %ld token positions of training: at n = %d it holds %llu of them, "
             "%.1e of those possible. Most long n-grams are never seen, which is the problem every smoothing "
             "method must solve.", V, pow(V, MAX_N), MAX_N, ch->data.train.n, MAX_N,
             (unsigned long long)ch->model.distinct[MAX_N], seen_share);
    print_note(stdout, note);
}

/* ---- 3. Discounts ---- */
static void section_discounts(Chapter *ch) {
    const NgramModel *m = &ch->model;
    const int n = (int)ch->order;
    print_section(stdout, 3, "Smoothing: the discounts of Kneser-Ney");
    printf("  MLE         p(w|h) = c(hw) / c(h.)\n"
           "  add-k       p(w|h) = (c(hw) + k) / (c(h.) + k|V|)                        k = %g\n"
           "  KN, MKN     p(w|h) = max(a(hw) - D, 0) / sum_w a(hw) + gamma(h) p(w|h')\n"
           "              a = raw count at the top order and after <s>, else the number of distinct\n"
           "              words seen before the n-gram; gamma(h) hands the discounted mass to p(w|h').\n\n",
           ch->k);
    printf("  Discounts of the order-%d model (n_j: n-grams with count j; a = adjusted counts):\n\n", n);
    printf("  %5s %6s  %8s %8s %8s %8s  %6s  %6s %6s %6s\n", "order", "counts", "n1", "n2", "n3", "n4",
           "KN D", "D1", "D2", "D3+");
    for (int k = 1; k <= n; k++) {
        const int top = k == n;
        const uint64_t *c = top ? m->coc_raw[k] : m->coc_adj[k];
        printf("  %5d %6s  %8llu %8llu %8llu %8llu  %6.3f%s %6.3f %6.3f %6.3f%s\n", k, top ? "raw" : "a",
               (unsigned long long)c[1], (unsigned long long)c[2], (unsigned long long)c[3],
               (unsigned long long)c[4], m->kn[top][k], m->kn_fallback[top][k] ? "*" : " ", m->mkn[top][k][1],
               m->mkn[top][k][2], m->mkn[top][k][3], m->mkn_fallback[top][k] ? "*" : "");
        if (m->mkn_fallback[top][k] || m->kn_fallback[top][k])
            fprintf(stderr, "%s: warning: order %d: Kneser-Ney discounts cannot be estimated from these "
                    "counts (a count-of-counts is 0 or a discount is out of range); using D = 0.5, 1, 1.5 "
                    "(KN 0.5)\n", util_program(), k);
    }
    bool any = false;
    for (int k = 1; k <= n; k++) any |= m->mkn_fallback[k == n][k] || m->kn_fallback[k == n][k];
    if (any) printf("\n  * could not be estimated from these counts: the fallback D = 0.5, 1, 1.5 (KN: 0.5).\n");
    char note[400];
    snprintf(note, sizeof note,
             "Notice: a discount is an absolute amount taken from every count and handed to the shorter "
             "context. Modified KN lets n-grams seen once, twice and three or more times lose different "
             "amounts, each estimated from how many n-grams were seen 1, 2, 3 and 4 times%s.",
             any ? " (except in the rows marked *)" : "");
    print_note(stdout, note);
}

/* ---- 4. What the models predict ---- */

/* Three contexts to look at: <s> (a sentence start), the validation context of n-1 tokens that is
 * most frequent in training, and the first one never seen in training. Returns how many (<= 3). */
static int pick_contexts(const Chapter *ch, int n, uint32_t ctx[3][MAX_N], int len[3]) {
    int found = 0;
    uint32_t best_count = 0;
    uint32_t sent[MAX_N];
    int sl = 0;
    sent[sl++] = VOCAB_BOS;
    int best = -1, unseen = -1;
    uint32_t cand[2][MAX_N];
    int cand_len[2] = {0, 0};
    for (long t = 0; t < ch->data.val.n; t++) {
        int L = sl < n - 1 ? sl : n - 1;
        const NgramEntry *e = L > 0 ? ngram_find(&ch->model, sent + sl - L, L) : NULL;
        if (L == n - 1 && L > 0 && e && e->sum_raw > best_count) {
            best_count = e->sum_raw;
            memcpy(cand[0], sent + sl - L, sizeof(uint32_t) * (size_t)L);
            cand_len[0] = L;
            best = 1;
        }
        if (L == n - 1 && L > 0 && (!e || e->sum_raw == 0) && unseen < 0) {
            memcpy(cand[1], sent + sl - L, sizeof(uint32_t) * (size_t)L);
            cand_len[1] = L;
            unseen = 1;
        }
        /* slide the window of the last n-1 tokens */
        if (sl == MAX_N) memmove(sent, sent + 1, sizeof(uint32_t) * (MAX_N - 1)), sl--;
        sent[sl++] = (uint32_t)ch->data.val.id[t];
        if (ch->data.val.id[t] == VOCAB_EOS) sl = 0, sent[sl++] = VOCAB_BOS;
    }
    /* the start of a sentence, "<s>" alone; the most frequent full-length context; an unseen one */
    ctx[found][0] = VOCAB_BOS, len[found++] = 1;
    if (best > 0) memcpy(ctx[found], cand[0], sizeof cand[0]), len[found++] = cand_len[0];
    if (unseen > 0) memcpy(ctx[found], cand[1], sizeof cand[1]), len[found++] = cand_len[1];
    return found;
}

static void section_predictions(Chapter *ch) {
    const int n = (int)ch->order, V = ch->data.vocab.size;
    print_section(stdout, 4, "What each estimator predicts after a few contexts");
    printf("  Order %d. For each context h: c(h.) = how often h was followed by anything in training;\n"
           "  then the 5 likeliest next tokens under modified KN, with their counts c(hw) and each\n"
           "  estimator's probability.\n", n);
    uint32_t ctx[3][MAX_N];
    int len[3];
    int found = pick_contexts(ch, n, ctx, len);
    double *p = xmalloc(sizeof(double) * (size_t)V);
    /* for the notice: the first row printed (the likeliest token after <s>), the first row with
     * c(hw) = 0 after a seen context, whether an unseen context was shown */
    double top[N_SMOOTHING], zero[N_SMOOTHING];
    int top_w = -1, zero_w = -1;
    bool unseen_shown = false, unseen_mle = false; /* and a row of it with MLE > 0 */
    for (int c = 0; c < found; c++) {
        const NgramEntry *e = ngram_find(&ch->model, ctx[c], len[c]);
        unseen_shown |= !e || e->sum_raw == 0;
        printf("\n  h = \"");
        for (int i = 0; i < len[c]; i++) printf("%s%s", i && ch->flags.level == LEVEL_WORD ? " " : "", show(&ch->data.vocab, (int)ctx[c][i]));
        printf("\"   c(h.) = %u%s\n", e ? e->sum_raw : 0,
               (!e || e->sum_raw == 0) ? "  (never seen in training: every estimator must back off)" : "");
        for (int w = 0; w < V; w++) p[w] = w == VOCAB_BOS ? -1 : ngram_prob(&ch->model, SMOOTH_MKN, n, ctx[c], len[c], w);
        printf("    %-10s %8s %9s %9s %9s %9s\n", "next", "c(hw)", "MLE", "add-k", "KN", "MKN");

        for (int r = 0; r < 5; r++) {
            int best = -1;
            for (int w = 0; w < V; w++)
                if (p[w] >= 0 && (best < 0 || p[w] > p[best])) best = w;
            if (best < 0) break;
            uint32_t ids[MAX_N + 1];
            memcpy(ids, ctx[c], sizeof(uint32_t) * (size_t)len[c]);
            ids[len[c]] = (uint32_t)best;
            const NgramEntry *g = ngram_find(&ch->model, ids, len[c] + 1);
            printf("    ");
            print_padded(stdout, show(&ch->data.vocab, best), 10);
            printf(" %8u", g ? g->count : 0);
            const bool first = top_w < 0, first_zero = zero_w < 0 && e && e->sum_raw > 0 && !(g && g->count);
            for (int s = 0; s < N_SMOOTHING; s++) {
                const double q = ngram_prob(&ch->model, (Smoothing)s, n, ctx[c], len[c], best);
                printf(" %9.5f", q);
                if (first) top[s] = q, top_w = best;
                if (first_zero) zero[s] = q, zero_w = best;
                if (s == SMOOTH_MLE && q > 0 && (!e || e->sum_raw == 0)) unseen_mle = true;
            }
            putchar('\n');
            p[best] = -1;
        }
    }
    free(p);
    char note[1000];
    int nl = snprintf(note, sizeof note, "Notice:");
    if (zero_w >= 0)
        nl += snprintf(note + nl, sizeof note - (size_t)nl,
                       " after a context seen in training, MLE gives a token never seen after it %s%.5g (%s "
                       "above), add-k %.5f, KN %.5f, MKN %.5f.", zero[SMOOTH_MLE] == 0 ? "exactly " : "",
                       zero[SMOOTH_MLE], show(&ch->data.vocab, zero_w), zero[SMOOTH_ADDK], zero[SMOOTH_KN], zero[SMOOTH_MKN]);
    if (top_w >= 0)
        nl += snprintf(note + nl, sizeof note - (size_t)nl,
                       " From the likeliest token after <s> (%s, MLE %.5f) add-k takes %.5f, spread evenly over "
                       "|V|; KN takes %.5f and MKN %.5f, handed to the shorter context, which knows which tokens "
                       "are likely.", show(&ch->data.vocab, top_w), top[SMOOTH_MLE], top[SMOOTH_MLE] - top[SMOOTH_ADDK],
                       top[SMOOTH_MLE] - top[SMOOTH_KN], top[SMOOTH_MLE] - top[SMOOTH_MKN]);
    if (unseen_shown)
        snprintf(note + nl, sizeof note - (size_t)nl,
                 " After a context never seen, MLE and add-k here use the longest shorter context that was "
                 "seen%s, and KN and MKN stop their sum at the last seen one.",
                 unseen_mle ? " (so c(hw) = 0 yet MLE > 0)" : "");
    print_note(stdout, note);
}

/* ---- 5. The chain rule and perplexity ---- */

/* ln P(line i of the validation split) under the chapter's model, by the chain rule: the sum of
 * ln P(w_t | <s> w_1 .. w_{t-1}) over the line's tokens, </s> included. With `show`, prints one row
 * per factor. */
static double line_log_prob(const Chapter *ch, int i, bool show_rows) {
    const long start = ch->data.val_line_start[i], end = ch->data.val_line_start[i + 1];
    const int n = (int)ch->order;
    uint32_t *ctx = xmalloc(sizeof(uint32_t) * (size_t)(end - start + 1));
    int cl = 0;
    ctx[cl++] = VOCAB_BOS;
    double lp = 0;
    for (long t = start; t < end; t++) {
        const int w = ch->data.val.id[t];
        const double p = ngram_prob(&ch->model, (Smoothing)ch->smoothing, n, ctx, cl, w);
        lp += log(p);
        if (show_rows) {
            char hist[256];
            int hl = 0;
            const int from = cl - (n - 1) > 0 ? cl - (n - 1) : 0; /* the last n-1 tokens: what the model sees */
            for (int k = from; k < cl && hl < (int)sizeof hist - 16; k++)
                hl += snprintf(hist + hl, sizeof hist - (size_t)hl, "%s%s", k > from && ch->flags.level == LEVEL_WORD ? " " : "",
                               ctx[k] == VOCAB_BOS ? "<s>" : show(&ch->data.vocab, (int)ctx[k]));
            printf("  %3ld  ", t - start + 1);
            print_padded(stdout, show(&ch->data.vocab, w), 8);
            print_padded(stdout, hist, 26);
            printf(" %10.5f %9.4f %13.4e\n", p, log(p), exp(lp));
        }
        ctx[cl++] = (uint32_t)w;
    }
    free(ctx);
    return lp;
}

/* The chain rule on one short validation line, factor by factor, then on every line: the mean of
 * -ln P per token is the log of the perplexity. Returns that perplexity. */
static double chain_rule(const Chapter *ch) {
    const int n = (int)ch->order;
    printf("  The chain rule: P(w_1 .. w_m) = P(w_1) P(w_2 | w_1) ... P(w_m | w_1 .. w_m-1)\n"
           "                                = prod_i P(w_i | w_<i)\n"
           "  exactly, for any sequence; an order-%d model replaces each history w_<i by its last %d\n"
           "  tokens. One validation line, with %s smoothing:\n\n",
           n, n - 1, smoothing_name[ch->smoothing]);
    /* the first line of three words (a marker, one word, a closer), else the shortest of the first 50 */
    int pick = -1, shortest = 0;
    for (int i = 0; i < ch->data.n_val && pick < 0; i++) {
        int words = 1;
        for (const char *c = ch->data.val_lines[i]; *c; c++) words += *c == ' ';
        if (words == 3) pick = i;
        if (i < 50 && ch->data.val_line_start[i + 1] - ch->data.val_line_start[i] <
                          ch->data.val_line_start[shortest + 1] - ch->data.val_line_start[shortest])
            shortest = i;
    }
    if (pick < 0) pick = shortest;
    printf("  %3s  %-8s%-26s %10s %9s %13s\n", "i", "w_i", "history the model sees", "P(w_i|.)", "ln P", "product");
    const double lp = line_log_prob(ch, pick, true);
    const long m = ch->data.val_line_start[pick + 1] - ch->data.val_line_start[pick];
    printf("\n  P(\"%s\") = the product of its %ld factors = %.4e (ln P = %.4f)\n", ch->data.val_lines[pick], m,
           exp(lp), lp);
    if (ch->data.val_synth_index) {
        const double true_lp = ch->data.synth.logp[ch->data.val_synth_index[pick]];
        printf("  The generator's own probability of it: %.4e (ln P = %.4f); the model's is %.2f times that.\n",
               exp(true_lp), true_lp, exp(lp - true_lp));
    }
    double total = 0;
    for (int i = 0; i < ch->data.n_val; i++) total += line_log_prob(ch, i, false);
    const double ppl = exp(-total / (double)ch->data.val.n);
    printf("\n  Over all %d validation lines: sum of ln P(line) = %.1f over N = %ld tokens, and\n"
           "  exp(-(sum)/N) = %.4f: perplexity is the chain rule's product, taken per token.\n\n",
           ch->data.n_val, total, ch->data.val.n, ppl);
    return ppl;
}

/* Two panels: every n on a log axis, and a zoom on a linear axis over the orders whose best
 * perplexity is within 1.5 times the floor (or 2..MAX_N without a floor), so that the gap to the
 * floor is visible. MLE, drawn under KN where both are finite, gets large open circles; where it is
 * infinite it has no point, and the title says from which n. */
static void perplexity_figure(Chapter *ch, const double *x, double y[N_SMOOTHING][MAX_N], const double *floor_line) {
    const bool has_floor = ch->data.val_synth_index != NULL;
    LineSeries series[N_SMOOTHING + 1];
    const char *with[N_SMOOTHING + 1] = {"linespoints lw 2 dt 2 pt 6 ps 2.5"}; /* MLE: open circles */
    int ns = 0;
    for (int s = 0; s < N_SMOOTHING; s++) series[ns++] = (LineSeries){smoothing_name[s], y[s], false};
    if (has_floor) series[ns++] = (LineSeries){"true process (the floor)", floor_line, true};
    int first_inf = 0;
    for (int n = MAX_N; n >= 1 && isnan(y[SMOOTH_MLE][n - 1]); n--) first_inf = n;
    char title[200];
    if (first_inf) snprintf(title, sizeof title, "Validation perplexity against n (MLE is infinite from n = %d on)", first_inf);
    else snprintf(title, sizeof title, "Validation perplexity against n");
    /* the zoom: from the first n whose best smoothed perplexity is near the floor */
    int from = 2;
    double top = 0, bottom = INFINITY;
    for (int n = 2; n <= MAX_N && has_floor; n++) {
        const double best = fmin(y[SMOOTH_KN][n - 1], y[SMOOTH_MKN][n - 1]);
        if (best > 1.5 * floor_line[0]) from = n + 1;
    }
    if (from > MAX_N - 1) from = MAX_N - 1;
    for (int n = from; n <= MAX_N; n++)
        for (int s = SMOOTH_KN; s <= SMOOTH_MKN; s++) top = fmax(top, y[s][n - 1]), bottom = fmin(bottom, y[s][n - 1]);
    if (has_floor) bottom = fmin(bottom, floor_line[0]);
    double hi = has_floor ? floor_line[0] : INFINITY, lo = hi; /* the whole view's range */
    for (int s = 0; s < N_SMOOTHING; s++)
        for (int n = 1; n <= MAX_N; n++)
            if (isfinite(y[s][n - 1])) hi = isfinite(hi) ? fmax(hi, y[s][n - 1]) : y[s][n - 1], lo = fmin(lo, y[s][n - 1]);
    char whole[300], zoom[200], ztitle[160];
    snprintf(whole, sizeof whole,
             "set xtics 1\nset yrange [%.9g:%.9g]\nset ytics (1, 1.5, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 200, "
             "500, 1000)\nset key inside top right box opaque", 0.85 * lo, 1.25 * hi);
    snprintf(zoom, sizeof zoom, "set yrange [%.9g:%.9g]\nset xrange [%d:%d]\nset xtics 1\nunset key",
             bottom - 0.1 * (top - bottom), top + 0.25 * (top - bottom), from, MAX_N);
    snprintf(ztitle, sizeof ztitle, "zoom: n = %d..%d, linear axis%s", from, MAX_N,
             has_floor ? " (the gap to the floor: what n-grams cannot learn)" : "");
    LinePanel panels[2] = {
        {"every n (log scale)", {"n (order of the model)", "validation perplexity (log scale)", false, true},
         whole, x, MAX_N, series, with, ns},
        {ztitle, {"n (order of the model)", "validation perplexity", false, false}, zoom, x, MAX_N, series, with, ns},
    };
    plot_line_panels(&ch->plot, "perplexity", title, panels, 2);
}

static void section_perplexity(Chapter *ch, NgramScore score[MAX_N + 1][N_SMOOTHING]) {
    print_section(stdout, 5, "The chain rule, and perplexity on the validation split");
    const double chain_ppl = chain_rule(ch);
    printf("  perplexity = 10^(-(1/N) sum_i log10 p(w_i | h_i)), over all N validation tokens (</s> too).\n"
           "  Lower is better; a uniform guess over |V| = %d tokens scores %d.\n"
           "  Conventions (KenLM's): <s> starts each line's context and is never scored; the </s> that\n"
           "  ends each line is; a token unseen in training is scored as <unk> (count 0), and the table\n"
           "  without OOV drops those terms but keeps the tokens in later contexts.\n\n",
           ch->data.vocab.size - 1, ch->data.vocab.size - 1);
    printf("  %3s", "n");
    for (int s = 0; s < N_SMOOTHING; s++) printf(" %12s", smoothing_name[s]);
    printf("\n");
    double x[MAX_N], y[N_SMOOTHING][MAX_N], floor_line[MAX_N];
    for (int n = 1; n <= MAX_N; n++) {
        printf("  %3d", n);
        for (int s = 0; s < N_SMOOTHING; s++) {
            score[n][s] = ngram_score(&ch->model, (Smoothing)s, n, &ch->data.val);
            if (isinf(score[n][s].ppl)) printf(" %12s", "inf");
            else printf(" %12.4f", score[n][s].ppl);
            y[s][n - 1] = isinf(score[n][s].ppl) ? NAN : score[n][s].ppl;
        }
        x[n - 1] = n;
        floor_line[n - 1] = exp(ch->data.floor_nats);
        printf("\n");
    }
    if (ch->data.val.n_oov > 0) {
        printf("\n  Without the %ld out-of-vocabulary tokens (their terms dropped, their positions kept):\n\n  %3s", ch->data.val.n_oov, "n");
        for (int s = 0; s < N_SMOOTHING; s++) printf(" %12s", smoothing_name[s]);
        printf("\n");
        for (int n = 1; n <= MAX_N; n++) {
            printf("  %3d", n);
            for (int s = 0; s < N_SMOOTHING; s++) printf(" %12.4f", score[n][s].ppl_no_oov);
            printf("\n");
        }
    }
    printf("\n  The table's %s at n = %lld (scored token by token by ngram_score): %.4f; the chain rule's\n"
           "  product over the lines above: %.4f.\n", smoothing_name[ch->smoothing], ch->order,
           score[ch->order][ch->smoothing].ppl, chain_ppl);
    int best_n = 1, best_s = 0;
    for (int n = 1; n <= MAX_N; n++)
        for (int s = 0; s < N_SMOOTHING; s++)
            if (score[n][s].ppl < score[best_n][best_s].ppl) best_n = n, best_s = s;
    long zeros = score[MAX_N][SMOOTH_MLE].zero;
    char note[600];
    int len = snprintf(note, sizeof note, "Notice: the best is %s at n = %d, perplexity %.4f.", smoothing_name[best_s],
                       best_n, score[best_n][best_s].ppl);
    if (zeros > 0)
        len += snprintf(note + len, sizeof note - (size_t)len,
                        " MLE gives %ld validation tokens probability 0 at n = %d, hence an infinite perplexity: "
                        "a model that has never seen something calls it impossible.", zeros, MAX_N);
    else
        len += snprintf(note + len, sizeof note - (size_t)len,
                        " MLE gives no validation token probability 0, even at n = %d: training saw every "
                        "n-gram it needed.", MAX_N);
    if (ch->data.val_synth_index)
        snprintf(note + len, sizeof note - (size_t)len, " The true process scores %.4f: the gap is what "
                 "n-grams cannot learn.", exp(ch->data.floor_nats));
    print_note(stdout, note);
    putchar('\n');
    perplexity_figure(ch, x, y, floor_line);
}

/* ---- 6. Sparsity ---- */
static void section_sparsity(Chapter *ch) {
    print_section(stdout, 6, "Sparsity: validation n-grams never seen in training");
    printf("  For each n, the share of the n-grams ending at a validation token (cut at <s>) whose\n"
           "  count in training is 0.\n\n  %3s %10s %10s %8s\n", "n", "n-grams", "unseen", "share");
    double x[MAX_N], share[MAX_N];
    for (int n = 1; n <= MAX_N; n++) {
        long total = 0, unseen = 0;
        uint32_t sent[MAX_N + 1];
        int sl = 0;
        sent[sl++] = VOCAB_BOS;
        for (long t = 0; t < ch->data.val.n; t++) {
            if (sl == MAX_N + 1) memmove(sent, sent + 1, sizeof(uint32_t) * MAX_N), sl--;
            sent[sl++] = (uint32_t)ch->data.val.id[t];
            if (sl >= n) {
                const NgramEntry *e = ngram_find(&ch->model, sent + sl - n, n);
                total++;
                unseen += !e || e->count == 0;
            }
            if (ch->data.val.id[t] == VOCAB_EOS) sl = 0, sent[sl++] = VOCAB_BOS;
        }
        x[n - 1] = n;
        share[n - 1] = total ? (double)unseen / (double)total : 0;
        printf("  %3d %10ld %10ld %7.2f%%\n", n, total, unseen, 100 * share[n - 1]);
    }
    putchar('\n');
    LineSeries s = {"unseen share", share, false};
    LineAxes ax = {"n", "share of validation n-grams unseen in training", false, false};
    plot_lines(&ch->plot, "sparsity", "Sparsity: the longer the n-gram, the likelier it is new", &ax, x, MAX_N, &s, 1);
}

/* ---- 7. The long-range dependency ---- */

/* The notice of section 7, chosen by the tallies: accuracy in reach (split by whether the model saw
 * the context in training), accuracy beyond reach against chance (1 in 4; "at chance" = within three
 * standard errors of it), and whether the difference shows the source's claim. */
static void long_range_note(const long reach_right[2], const long reach_total[2], long beyond_right,
                            long beyond_total, int worst_n, int worst_bin, double worst_acc, double local_lo,
                            double local_hi) {
    const double chance = 1.0 / SYNTH_CLASSES;
    const long in_total = reach_total[0] + reach_total[1];
    const double p_in = in_total ? (double)(reach_right[0] + reach_right[1]) / (double)in_total : 0;
    const double p_out = beyond_total ? (double)beyond_right / (double)beyond_total : 0;
    const double se_out = beyond_total ? sqrt(chance * (1 - chance) / (double)beyond_total) : 0;
    const double se_in = in_total ? sqrt(fmax(p_in * (1 - p_in), 1e-12) / (double)in_total) : 0;
    const bool at_chance = beyond_total > 0 && fabs(p_out - chance) <= 3 * se_out;
    char note[1200];
    int len = 0;
    if (in_total == 0) {
        len = snprintf(note, sizeof note, "Notice: no validation sentence has its marker within the model's reach");
    } else {
        len = snprintf(note, sizeof note,
                       "Notice: where the gap is at most n-1 the context holds the marker, and the model ranks "
                       "the right closer first in %.0f%% of those %ld cases (a case: one sentence at one n)", 100 * p_in,
                       in_total);
        if (reach_total[0] > 0 && reach_total[1] > 0)
            len += snprintf(note + len, sizeof note - (size_t)len,
                            ": %.0f%% of the %ld whose context of n-1 tokens it saw in training, %.0f%% of the %ld "
                            "it did not see, where it backs off to a shorter context that has lost the marker",
                            100.0 * (double)reach_right[1] / (double)reach_total[1], reach_total[1],
                            100.0 * (double)reach_right[0] / (double)reach_total[0], reach_total[0]);
        else if (reach_total[0] == 0)
            len += snprintf(note + len, sizeof note - (size_t)len, ", and it saw every such context in training");
        if (worst_bin >= 0 && worst_acc < 100 * p_in - 0.5) {
            char label[32];
            gap_label(worst_bin, label, sizeof label);
            len += snprintf(note + len, sizeof note - (size_t)len, "; its worst cell is %.0f%% at gap %s, n = %d",
                            worst_acc, label, worst_n);
        }
    }
    if (beyond_total == 0)
        len += snprintf(note + len, sizeof note - (size_t)len, ". No sentence has a gap beyond n-1.");
    else if (at_chance)
        len += snprintf(note + len, sizeof note - (size_t)len,
                        ". Beyond n-1 it is at chance (%.1f%% of %ld cases; chance 25%%), however much data it has",
                        100 * p_out, beyond_total);
    else
        len += snprintf(note + len, sizeof note - (size_t)len,
                        ". Beyond n-1 it is right in %.1f%% of %ld cases, which is not chance (25%% +- %.1f%%, "
                        "three standard errors)", 100 * p_out, beyond_total, 300 * se_out);
    if (local_hi - local_lo < 0.5)
        len += snprintf(note + len, sizeof note - (size_t)len, "; one token away it is right in %.0f%% of the cases.",
                        local_lo);
    else
        len += snprintf(note + len, sizeof note - (size_t)len,
                        "; one token away it is right in %.0f%% to %.0f%% of the cases.", local_lo, local_hi);
    const bool shown = at_chance && in_total > 0 && p_in - p_out > 3 * sqrt(se_in * se_in + se_out * se_out);
    snprintf(note + len, sizeof note - (size_t)len, "%s",
             shown ? " This is the source's claim about n-grams (§1.1.1), measured. Attention (chapter 3) "
                     "looks at every earlier token at once."
                   : " This run could not show the source's claim about n-grams (§1.1.1): the accuracy "
                     "in reach and beyond it do not differ as the claim says.");
    print_note(stdout, note);
}
static void section_long_range(Chapter *ch) {
    print_section(stdout, 7, "The long-range dependency: what n-grams cannot see");
    if (!dataset_has_closers(&ch->data)) {
        printf("  This experiment needs the synthetic language (run without --corpus and --val-file) at the\n"
               "  char or word level (a BPE token can hold a closer with its neighbours).\n");
        return;
    }
    printf("  Every sentence ends with the closer that agrees with its first word (zo..ze, xa..xe,\n"
           "  qi..qe, vu..ve). At the closer's first %s, the true process knows which of the four it\n"
           "  is. A model of order n sees only the last n-1 tokens: once the gap (tokens from the last\n"
           "  one that gives the class away to the closer) is larger than n-1, it cannot know.\n"
           "  Accuracy = how often the model ranks the right closer first among the four (%s\n"
           "  smoothing). Chance is 25%%.\n\n",
           ch->flags.level == LEVEL_CHAR ? "letter" : "word", smoothing_name[ch->smoothing]);
    int cand[SYNTH_CLASSES]; /* the four candidate tokens */
    dataset_closer_ids(&ch->data, cand);
    long right[MAX_N + 1][GAP_BINS] = {{0}}, seen[GAP_BINS] = {0};
    long local_right[MAX_N + 1] = {0}, local_total = 0;
    /* the notice's tallies: cases whose marker is within the model's n-1 tokens ("in reach"), split by
     * whether that context of n-1 tokens was seen in training ([1]) or not ([0]); the cases beyond */
    long reach_right[2] = {0}, reach_total[2] = {0}, beyond_right = 0, beyond_total = 0;
    long bin_reach[MAX_N + 1][GAP_BINS] = {{0}}; /* cases of each cell that are in reach */
    for (int i = 0; i < ch->data.n_val; i++) {
        const int s = ch->data.val_synth_index[i];
        const long start = ch->data.val_line_start[i];
        int pos, gap;
        dataset_closer(&ch->data, i, &pos, &gap);
        const int bin = gap_bin(gap);
        seen[bin]++;
        uint32_t ctx[4096 + 1];
        int cl = 0;
        ctx[cl++] = VOCAB_BOS;
        for (long t = start; t < start + pos && cl < 4096; t++) ctx[cl++] = (uint32_t)ch->data.val.id[t];
        for (int n = 2; n <= MAX_N; n++) {
            int best = 0;
            double bp = -1;
            for (int c = 0; c < SYNTH_CLASSES; c++) {
                double p = ngram_prob(&ch->model, (Smoothing)ch->smoothing, n, ctx, cl, cand[c]);
                if (p > bp) bp = p, best = c;
            }
            const bool ok = best == ch->data.synth.cls[s];
            right[n][bin] += ok;
            if (gap <= n - 1) {
                const int L = cl < n - 1 ? cl : n - 1;
                const NgramEntry *h = ngram_find(&ch->model, ctx + cl - L, L);
                const int was_seen = h && h->sum_raw > 0;
                reach_right[was_seen] += ok, reach_total[was_seen]++;
                bin_reach[n][bin]++;
            } else {
                beyond_right += ok, beyond_total++;
            }
            /* local: the token right after the closer's first one, from everything before it */
            ctx[cl] = (uint32_t)ch->data.val.id[start + pos];
            const int next = ch->data.val.id[start + pos + 1];
            int arg = -1;
            double ap = -1;
            for (int w = 0; w < ch->data.vocab.size; w++) {
                if (w == VOCAB_BOS) continue;
                double p = ngram_prob(&ch->model, (Smoothing)ch->smoothing, n, ctx, cl + 1, w);
                if (p > ap) ap = p, arg = w;
            }
            local_right[n] += arg == next;
        }
        local_total++;
    }
    printf("  %9s %8s", "gap", "cases");
    for (int n = 2; n <= MAX_N; n++) printf("   n=%d", n);
    printf("\n");
    double x[GAP_BINS], acc[MAX_N + 1][GAP_BINS], chance[GAP_BINS];
    int nx = 0;
    for (int b = 0; b < GAP_BINS; b++) {
        if (seen[b] == 0) continue;
        char label[32];
        gap_label(b, label, sizeof label);
        printf("  %9s %8ld", label, seen[b]);
        for (int n = 2; n <= MAX_N; n++) {
            acc[n][nx] = 100.0 * (double)right[n][b] / (double)seen[b];
            printf(" %4.0f%%", acc[n][nx]);
        }
        x[nx] = gap_center(b);
        chance[nx] = 100.0 / SYNTH_CLASSES;
        nx++;
        printf("\n");
    }
    printf("\n  The local prediction next to it (the %s after the closer's first %s, one token away):\n   ",
           ch->flags.level == LEVEL_CHAR ? "letter" : "token", ch->flags.level == LEVEL_CHAR ? "letter" : "word");
    for (int n = 2; n <= MAX_N; n++) printf(" n=%d: %.0f%%", n, 100.0 * (double)local_right[n] / (double)local_total);
    printf("\n");
    /* the worst cell whose cases are all in reach, and the lowest local accuracy */
    int worst_n = 0, worst_bin = -1;
    for (int n = 2; n <= MAX_N; n++)
        for (int b = 0; b < GAP_BINS; b++)
            if (seen[b] > 0 && bin_reach[n][b] == seen[b] &&
                (worst_bin < 0 || right[n][b] * seen[worst_bin] < right[worst_n][worst_bin] * seen[b]))
                worst_n = n, worst_bin = b;
    double local_lo = 100, local_hi = 0;
    for (int n = 2; n <= MAX_N; n++) {
        const double a = 100.0 * (double)local_right[n] / (double)local_total;
        local_lo = fmin(local_lo, a), local_hi = fmax(local_hi, a);
    }
    long_range_note(reach_right, reach_total, beyond_right, beyond_total, worst_n, worst_bin,
                    worst_bin >= 0 ? 100.0 * (double)right[worst_n][worst_bin] / (double)seen[worst_bin] : 0, local_lo,
                    local_hi);
    putchar('\n');
    LineSeries series[MAX_N];
    char names[MAX_N][16];
    int ns = 0;
    for (int n = 2; n <= MAX_N; n++) {
        snprintf(names[ns], sizeof names[ns], "n = %d", n);
        series[ns] = (LineSeries){names[ns], acc[n], false};
        ns++;
    }
    series[ns++] = (LineSeries){"chance (1 in 4)", chance, true};
    LineAxes ax = {"gap between marker and closer (tokens)", "closer predicted right (%)", false, false};
    plot_lines(&ch->plot, "long_range", "The agreement an n-gram cannot see past n-1 tokens", &ax, x, nx, series, ns);
}

/* ---- 8. Sampling ---- */
static void section_sample(Chapter *ch) {
    const int n = (int)ch->order;
    print_section(stdout, 8, "Text sampled from the model");
    printf("  Order %d, %s: start from <s>, draw each token from p(w | last %d tokens), stop at </s>.\n\n", n,
           smoothing_name[ch->smoothing], n - 1);
    Rng rng;
    rng_seed(&rng, (uint64_t)ch->common.seed, 8);
    int grammatical = 0, agree = 0, ids[399];
    for (long i = 0; i < ch->sample; i++) {
        const int len = ngram_sample(&ch->model, (Smoothing)ch->smoothing, n, &rng, 399, false, ids);
        char *text = corpus_decode(&ch->data.vocab, ids, len, (TokenLevel)ch->flags.level);
        printf("    %s\n", text);
        if (ch->data.synthetic && ch->flags.level != LEVEL_WORD) { /* the text as written */
            double lp = synth_score_line(text);
            grammatical += isfinite(lp);
            /* agreement alone: the first letter of the first and the last word */
            const char *last = strrchr(text, ' ');
            if (last && strchr("zxqv", text[0]) && last[1] == text[0]) agree++;
        }
        free(text);
    }
    if (ch->data.synthetic && ch->flags.level != LEVEL_WORD && ch->sample > 0)
        printf("\n  Sentences of the language (the grammar parses them): %d of %lld; closer agrees with the\n"
               "  marker: %d of %lld (25%% by chance).\n", grammatical, ch->sample, agree, ch->sample);
}

/* ---- 9. Summary ---- */
static void section_summary(Chapter *ch, NgramScore score[MAX_N + 1][N_SMOOTHING]) {
    print_section(stdout, 9, "Summary");
    const NgramScore *s = &score[ch->order][ch->smoothing];
    printf("corpus: %s\n", ch->data.synthetic ? "synthetic" : ch->flags.corpus_path);
    printf("level: %s\n", level_name(ch->flags.level));
    printf("order: %lld\n", ch->order);
    printf("smoothing: %s\n", smoothing_name[ch->smoothing]);
    printf("tokens: %ld\n", ch->data.train.n);
    printf("types: %d\n", ch->data.vocab.size - 1);
    printf("validation_tokens: %ld\n", ch->data.val.n);
    printf("validation_oov: %ld\n", ch->data.val.n_oov);
    printf("perplexity: %.6g\n", s->ppl);
    printf("perplexity_without_oov: %.6g\n", s->ppl_no_oov);
    /* the fair yardstick across token levels: ln(perplexity) nats per token, over the bytes */
    printf("bits_per_byte: %.6g\n", dataset_bits_per_byte(&ch->data, log(s->ppl)));
    if (ch->data.val_synth_index) printf("true_perplexity: %.6g\n", exp(ch->data.floor_nats));
}

int main(int argc, char **argv) {
    Chapter ch;
    memset(&ch, 0, sizeof ch);
    ch.common = cli_common_defaults();
    ch.flags = dataset_flags_default();
    ch.order = 5;
    ch.smoothing = SMOOTH_MKN;
    ch.k = 1.0;
    ch.sample = 5;
    CliOption opts[DATASET_N_OPTIONS + 4];
    int n = dataset_cli_options(opts, &ch.flags);
    opts[n++] = cli_int("--order", &ch.order, 1, MAX_N, "N", "the model's n for the examples, samples and summary");
    opts[n++] = cli_choice("--smoothing", &ch.smoothing, "mle|addk|kn|mkn", "estimator for the examples and summary");
    opts[n++] = cli_real("--k", &ch.k, 1e-6, 1000, "K", "the k of add-k smoothing");
    opts[n++] = cli_int("--sample", &ch.sample, 0, 1000, "N", "sentences to sample from the model");
    CliSpec spec = {CHAPTER, "The n-gram language model (source document §1.1.1, §2.1.1): counts, MLE, add-k,\n"
                             "Kneser-Ney, modified Kneser-Ney, perplexity, sparsity, and the long-range\n"
                             "dependency that n-grams cannot capture.",
                    opts, n};
    cli_parse(&spec, &ch.common, argc, argv);
    dataset_check_flags(&ch.flags, opts, n);
    plot_init(&ch.plot, &ch.common, CHAPTER, stdout);

    printf("Chapter 1: the n-gram language model (source document §1.1.1 and §2.1.1)\n");
    section_corpus(&ch);
    section_counting(&ch);
    section_discounts(&ch);
    section_predictions(&ch);
    NgramScore score[MAX_N + 1][N_SMOOTHING];
    section_perplexity(&ch, score);
    section_sparsity(&ch);
    section_long_range(&ch);
    section_sample(&ch);
    section_summary(&ch, score);

    ngram_free(&ch.model);
    dataset_free(&ch.data);
    return 0;
}
