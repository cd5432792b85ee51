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
 * Run: make ch01 && ./ch01_ngram [--corpus FILE] [--val-file FILE] [--level char|word] [--order N]
 *                                [--smoothing mle|addk|kn|mkn] [--k K] [--sample N] [--lines N]   */
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
    print_note(stdout, "Notice: the number of possible n-grams explodes with n while the number "
                       "seen grows roughly linearly: most long n-grams are never seen, which is the "
                       "problem every smoothing method must solve.");
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
    print_note(stdout, "Notice: a discount is an absolute amount taken from every count and handed to "
                       "the shorter context. Modified KN lets n-grams seen once, twice and three or more "
                       "times lose different amounts, each estimated from how many n-grams were seen "
                       "1, 2, 3 and 4 times.");
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
    for (int c = 0; c < found; c++) {
        const NgramEntry *e = ngram_find(&ch->model, ctx[c], len[c]);
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
            for (int s = 0; s < N_SMOOTHING; s++)
                printf(" %9.5f", ngram_prob(&ch->model, (Smoothing)s, n, ctx[c], len[c], best));
            putchar('\n');
            p[best] = -1;
        }
    }
    free(p);
    print_note(stdout, "Notice: MLE gives every unseen continuation exactly 0; add-k takes mass from "
                       "frequent events and spreads it evenly over |V|; the Kneser-Ney estimators take "
                       "less and hand it to the shorter context, which knows which tokens are likely.");
}

/* ---- 5. Perplexity ---- */
static void section_perplexity(Chapter *ch, NgramScore score[MAX_N + 1][N_SMOOTHING]) {
    print_section(stdout, 5, "Perplexity on the validation split");
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
    int best_n = 1, best_s = 0;
    for (int n = 1; n <= MAX_N; n++)
        for (int s = 0; s < N_SMOOTHING; s++)
            if (score[n][s].ppl < score[best_n][best_s].ppl) best_n = n, best_s = s;
    long zeros = score[MAX_N][SMOOTH_MLE].zero;
    char note[600];
    int len = snprintf(note, sizeof note,
                       "Notice: the best is %s at n = %d, perplexity %.4f. MLE gives %ld validation tokens "
                       "probability 0 at n = %d, hence an infinite perplexity: a model that has never seen "
                       "something calls it impossible.",
                       smoothing_name[best_s], best_n, score[best_n][best_s].ppl, zeros, MAX_N);
    if (ch->data.val_synth_index)
        snprintf(note + len, sizeof note - (size_t)len, " The true process scores %.4f: the gap is what "
                 "n-grams cannot learn.", exp(ch->data.floor_nats));
    print_note(stdout, note);
    putchar('\n');
    LineSeries series[N_SMOOTHING + 1];
    int ns = 0;
    for (int s = 0; s < N_SMOOTHING; s++) series[ns++] = (LineSeries){smoothing_name[s], y[s], false};
    if (ch->data.val_synth_index) series[ns++] = (LineSeries){"true process (the floor)", floor_line, true};
    LineAxes ax = {"n (order of the model)", "validation perplexity (log scale)", false, true};
    plot_lines(&ch->plot, "perplexity", "Validation perplexity against n (MLE: missing where infinite)", &ax, x,
               MAX_N, series, ns);
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
static void section_long_range(Chapter *ch) {
    print_section(stdout, 7, "The long-range dependency: what n-grams cannot see");
    if (!ch->data.val_synth_index) {
        printf("  This experiment needs the synthetic language (run without --corpus and --val-file).\n");
        return;
    }
    printf("  Every sentence ends with the closer that agrees with its first word (zo..ze, xa..xe,\n"
           "  qi..qe, vu..ve). At the closer's first %s, the true process knows which of the four it\n"
           "  is. A model of order n sees only the last n-1 tokens: once the gap (tokens from the last\n"
           "  one that gives the class away to the closer) is larger than n-1, it cannot know. Accuracy = how often the model ranks the right closer\n"
           "  first among the four (%s smoothing). Chance is 25%%.\n\n",
           ch->flags.level == LEVEL_CHAR ? "letter" : "word", smoothing_name[ch->smoothing]);
    int cand[SYNTH_CLASSES]; /* the four candidate tokens */
    dataset_closer_ids(&ch->data, cand);
    long right[MAX_N + 1][GAP_BINS] = {{0}}, seen[GAP_BINS] = {0};
    long local_right[MAX_N + 1] = {0}, local_total = 0;
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
            right[n][bin] += best == ch->data.synth.cls[s];
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
    print_note(stdout, "Notice: where the gap is at most n-1 the model sees the marker and is right; "
                       "beyond that it is at chance, however much data it has, while one token away it "
                       "is nearly always right. This is the source's claim about n-grams (§1.1.1), "
                       "measured. Attention (chapter 3) looks at every earlier token at once.");
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
        if (ch->data.synthetic && ch->flags.level == LEVEL_CHAR) {
            double lp = synth_score_line(text);
            grammatical += isfinite(lp);
            /* agreement alone: the first letter of the first and the last word */
            const char *last = strrchr(text, ' ');
            if (last && strchr("zxqv", text[0]) && last[1] == text[0]) agree++;
        }
        free(text);
    }
    if (ch->data.synthetic && ch->flags.level == LEVEL_CHAR && ch->sample > 0)
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
