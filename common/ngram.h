/* ngram: counting n-grams (n <= 6) in a hash table, and the four estimators of chapter 1.
 *
 * One count table serves every order 1..max_order at once; a model of order n reads it through
 * ngram_prob(..., n, ...). Conventions (those of the KenLM toolkit: lmplz to estimate, query to
 * score):
 *   - each line is a sentence; <s> starts every context and is never predicted; one </s> ends each
 *     line and is predicted; contexts are cut at <s> (no context reaches into the previous line);
 *   - the vocabulary V that a model predicts over is every training type plus </s> and <unk>
 *     (|V| = vocabulary size - 1: all ids except <s>); a token never seen in training is scored as
 *     <unk>, whose count is 0, so it gets only the mass that smoothing reserves;
 *   - MLE        p(w|h) = c(hw) / c(h.)                  (c: raw counts; unseen context: shorter h)
 *   - add-k      p(w|h) = (c(hw) + k) / (c(h.) + k |V|)  (unseen context: shorter h)
 *   - KN and modified KN (interpolated, Chen & Goodman):
 *       p(w|h) = max(a(hw) - D(a(hw)), 0) / sum_w' a(hw') + gamma(h) p(w|h')
 *     where h' drops the oldest word of h, and the lowest order interpolates with 1/|V|. a() is the
 *     adjusted count: the raw count at the model's highest order and for n-grams that start with
 *     <s>, otherwise the number of distinct words seen to the left, N1+(. g). gamma(h) gives back
 *     exactly the mass the discounts took: KN: D N1+(h.) / sum a;
 *     modified KN: (D1 N1(h.) + D2 N2(h.) + D3 N3+(h.)) / sum a, with Nj(h.) the number of words
 *     whose adjusted count after h is j (3+: at least 3). A context never seen falls back to h'.
 *   - Discounts per order from the count-of-counts n_j of adjusted counts (raw at the top order):
 *     Y = n1 / (n1 + 2 n2); KN: D = Y; modified KN: D_j = j - (j+1) Y n_{j+1} / n_j, j = 1, 2, 3.
 *     When one cannot be estimated (a count-of-counts is 0, or D_j falls outside [0, j], as on
 *     small corpora), the order falls back to D = 0.5, 1, 1.5 (KN: 0.5) and says so.        */
#ifndef NGRAM_H
#define NGRAM_H

#include <stdbool.h>
#include <stdint.h>

#include "corpus.h"
#include "rng.h"

#define NGRAM_MAX_ORDER 6

typedef enum { SMOOTH_MLE, SMOOTH_ADDK, SMOOTH_KN, SMOOTH_MKN, N_SMOOTHING } Smoothing;
extern const char *const smoothing_name[N_SMOOTHING]; /* "mle", "addk", "kn", "mkn" */

/* One n-gram g (ids[0..len), oldest first) with its counts, and its statistics as a context h. */
typedef struct {
    uint32_t ids[NGRAM_MAX_ORDER];
    uint8_t len;
    uint32_t count;      /* c(g): raw count */
    uint32_t left;       /* N1+(. g): distinct words seen right before g */
    uint32_t followers;  /* N1+(g .): distinct words seen right after g */
    uint32_t sum_raw;    /* sum_w c(g w) */
    uint32_t sum_adj;    /* sum_w a(g w), with lower-order adjusted counts */
    uint32_t n_raw[3];   /* followers w with c(g w) = 1, 2, >= 3 */
    uint32_t n_adj[3];   /* the same for the adjusted counts */
} NgramEntry;

typedef struct {
    NgramEntry *slot;   /* open addressing; len == 0xff marks an empty slot */
    uint64_t n_slots, used;
    int max_order;
    int vocab_size;     /* ids 0..vocab_size-1; |V| = vocab_size - 1 (no <s>) */
    NgramEntry root;    /* the empty context: its followers are the unigrams */
    uint64_t distinct[NGRAM_MAX_ORDER + 1];   /* distinct n-grams per order */
    uint64_t coc_raw[NGRAM_MAX_ORDER + 1][5]; /* count-of-counts n_1..n_4 of raw counts per order */
    uint64_t coc_adj[NGRAM_MAX_ORDER + 1][5]; /* the same of adjusted counts */
    /* Discounts [top][order][j]: top = 1 for the highest order of a model (raw counts). */
    double mkn[2][NGRAM_MAX_ORDER + 1][4];    /* [.][.][0] = 0, then D1, D2, D3+ */
    double kn[2][NGRAM_MAX_ORDER + 1];
    bool mkn_fallback[2][NGRAM_MAX_ORDER + 1], kn_fallback[2][NGRAM_MAX_ORDER + 1];
    double add_k;
} NgramModel;

/* Count every n-gram of order 1..max_order in the training stream, then derive the adjusted counts,
 * context statistics and discounts. vocab_size is the vocabulary's size after training. */
void ngram_build(NgramModel *m, const TokenStream *train, int vocab_size, int max_order, double add_k);
void ngram_free(NgramModel *m);

/* The entry of ids[0..len) or NULL. */
const NgramEntry *ngram_find(const NgramModel *m, const uint32_t *ids, int len);

/* p(w | context) under a model of order n (1..max_order) with the given smoothing. context holds
 * the preceding tokens of the sentence, oldest first, starting with <s>; only the last n-1 are
 * used. */
double ngram_prob(const NgramModel *m, Smoothing s, int n, const uint32_t *context, int context_len, int w);

/* Sample one line from the model of order n: start after <s>, draw each token from p(w | context)
 * (never <s>), stop at </s> or after max_tokens tokens. With exact_length, </s> is never drawn (its
 * probability is given to the others in proportion) and exactly max_tokens tokens are drawn, for a
 * sample as long as another model's. Writes the tokens (without <s> and </s>) to out, which holds
 * max_tokens ids, and returns their number. */
int ngram_sample(const NgramModel *m, Smoothing s, int n, Rng *rng, int max_tokens, bool exact_length, int *out);

/* The same after a prompt: the prompt's tokens (prompt_len of them; a </s> among them ends a line,
 * and the next starts after <s>) are read as the context, then up to max_tokens are drawn after it.
 * Writes only the drawn tokens to out and returns their number. ngram_sample is this without a
 * prompt. */
int ngram_continue(const NgramModel *m, Smoothing s, int n, Rng *rng, const int *prompt, int prompt_len, int max_tokens,
                   bool exact_length, int *out);

/* Perplexity of a token stream: every token of every line, </s> included, is scored. */
typedef struct {
    double log10_sum;        /* sum of log10 p over all scored tokens */
    long tokens;             /* tokens scored, </s> included */
    long oov;                /* tokens scored as <unk> */
    double log10_sum_no_oov; /* the same sum without the <unk> terms */
    long zero;               /* tokens given probability 0 (MLE) */
    double ppl, ppl_no_oov;  /* 10^(-sum / N); infinite when a probability was 0 */
} NgramScore;

NgramScore ngram_score(const NgramModel *m, Smoothing s, int n, const TokenStream *text);

#endif
