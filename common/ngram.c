/* ngram: counts, adjusted counts, discounts and the estimators (see ngram.h). */
#include "ngram.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

const char *const smoothing_name[N_SMOOTHING] = {"mle", "addk", "kn", "mkn"};

#define EMPTY 0xff

/* ==== the hash table ==== */

static uint64_t hash_ids(const uint32_t *ids, int len) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)len;
    for (int i = 0; i < len; i++) {
        h ^= ids[i];
        h *= 0xff51afd7ed558ccdULL; /* a multiply-xorshift mix per id */
        h ^= h >> 32;
    }
    return h;
}

static NgramEntry *lookup(const NgramModel *m, const uint32_t *ids, int len) {
    uint64_t mask = m->n_slots - 1, i = hash_ids(ids, len) & mask;
    for (;;) {
        NgramEntry *e = &m->slot[i];
        if (e->len == EMPTY) return e;
        if (e->len == len && memcmp(e->ids, ids, sizeof(uint32_t) * (size_t)len) == 0) return e;
        i = (i + 1) & mask;
    }
}

static void grow(NgramModel *m) {
    NgramEntry *old = m->slot;
    uint64_t old_n = m->n_slots;
    m->n_slots *= 2;
    m->slot = xmalloc(sizeof(NgramEntry) * m->n_slots);
    for (uint64_t i = 0; i < m->n_slots; i++) m->slot[i].len = EMPTY;
    for (uint64_t i = 0; i < old_n; i++)
        if (old[i].len != EMPTY) *lookup(m, old[i].ids, old[i].len) = old[i];
    free(old);
}

static NgramEntry *find_or_add(NgramModel *m, const uint32_t *ids, int len) {
    if (10 * (m->used + 1) > 7 * m->n_slots) grow(m); /* keep the load under 0.7 */
    NgramEntry *e = lookup(m, ids, len);
    if (e->len == EMPTY) {
        memset(e, 0, sizeof *e);
        memcpy(e->ids, ids, sizeof(uint32_t) * (size_t)len);
        e->len = (uint8_t)len;
        m->used++;
    }
    return e;
}

const NgramEntry *ngram_find(const NgramModel *m, const uint32_t *ids, int len) {
    if (len == 0) return &m->root;
    const NgramEntry *e = lookup(m, ids, len);
    return e->len == EMPTY ? NULL : e;
}

/* ==== building ==== */

/* Adjusted count of g for the lower orders: raw when g starts with <s>, else distinct left words. */
static uint32_t adjusted(const NgramEntry *g) { return g->ids[0] == VOCAB_BOS ? g->count : g->left; }

static void add_stats(NgramEntry *h, uint32_t raw, uint32_t adj) {
    h->followers++;
    h->sum_raw += raw;
    h->n_raw[(raw >= 3 ? 3 : raw) - 1]++;
    h->sum_adj += adj;
    if (adj > 0) h->n_adj[(adj >= 3 ? 3 : adj) - 1]++;
}

/* Chen & Goodman's estimates from count-of-counts n[1..4]; false when they cannot be used. */
static bool estimate_discounts(const uint64_t n[5], double mkn[4], double *kn, bool *kn_ok) {
    double y = (n[1] + 2.0 * n[2]) > 0 ? n[1] / (n[1] + 2.0 * n[2]) : NAN;
    *kn_ok = n[1] > 0 && n[2] > 0 && y > 0 && y < 1;
    *kn = *kn_ok ? y : 0.5;
    mkn[0] = 0;
    bool ok = n[1] > 0 && n[2] > 0 && n[3] > 0;
    for (int j = 1; j <= 3 && ok; j++) {
        mkn[j] = j - (j + 1) * y * (double)n[j + 1] / (double)n[j];
        if (!(mkn[j] >= 0 && mkn[j] <= j)) ok = false;
    }
    if (!ok) mkn[1] = 0.5, mkn[2] = 1.0, mkn[3] = 1.5;
    return ok;
}

void ngram_build(NgramModel *m, const TokenStream *train, int vocab_size, int max_order, double add_k) {
    CHECK(max_order >= 1 && max_order <= NGRAM_MAX_ORDER, "order %d", max_order);
    memset(m, 0, sizeof *m);
    m->max_order = max_order;
    m->vocab_size = vocab_size;
    m->add_k = add_k;
    m->n_slots = 1 << 16;
    m->slot = xmalloc(sizeof(NgramEntry) * m->n_slots);
    for (uint64_t i = 0; i < m->n_slots; i++) m->slot[i].len = EMPTY;

    /* 1. Raw counts: for every predicted token s[i] (i >= 1) of "<s> w1 .. wm </s>", every n-gram
     *    s[i-k+1..i] that does not reach before <s>. */
    uint32_t sent[4096 + 2];
    int len = 0;
    sent[len++] = VOCAB_BOS;
    for (long t = 0; t < train->n; t++) {
        if (len == (int)(sizeof sent / sizeof sent[0])) /* a very long line: keep its last part */
            memmove(sent + 1, sent + 1 + 2048, sizeof(uint32_t) * (size_t)(len - 1 - 2048)), len -= 2048;
        sent[len++] = (uint32_t)train->id[t];
        const int i = len - 1;
        for (int k = 1; k <= max_order && i - k + 1 >= 0; k++) find_or_add(m, sent + i - k + 1, k)->count++;
        if (train->id[t] == VOCAB_EOS) len = 1;
    }
    /* The context "<s>" is not itself counted (it is never predicted) but must exist. */
    const uint32_t bos = VOCAB_BOS;
    find_or_add(m, &bos, 1);

    /* 2. Distinct left neighbours: each distinct n-gram x g adds one to g's. */
    for (uint64_t i = 0; i < m->n_slots; i++) {
        NgramEntry *e = &m->slot[i];
        if (e->len == EMPTY || e->len < 2 || e->count == 0) continue;
        lookup(m, e->ids + 1, e->len - 1)->left++;
    }
    /* 3. Context statistics and count-of-counts. Every prefix exists already (step 1 counted it,
     *    or it is "<s>"), so the table does not grow while it is walked. */
    for (uint64_t i = 0; i < m->n_slots; i++) {
        NgramEntry *e = &m->slot[i];
        if (e->len == EMPTY || e->count == 0) continue;
        NgramEntry *h = e->len == 1 ? &m->root : lookup(m, e->ids, e->len - 1);
        uint32_t a = adjusted(e);
        add_stats(h, e->count, a);
        m->distinct[e->len]++;
        if (e->count <= 4) m->coc_raw[e->len][e->count]++;
        if (a >= 1 && a <= 4) m->coc_adj[e->len][a]++;
    }
    /* 4. Discounts per order, for its two roles. */
    for (int k = 1; k <= max_order; k++)
        for (int top = 0; top < 2; top++) {
            bool kn_ok;
            m->mkn_fallback[top][k] = !estimate_discounts(top ? m->coc_raw[k] : m->coc_adj[k], m->mkn[top][k],
                                                          &m->kn[top][k], &kn_ok);
            m->kn_fallback[top][k] = !kn_ok;
        }
}

void ngram_free(NgramModel *m) {
    if (!m) return;
    free(m->slot);
    memset(m, 0, sizeof *m);
}

/* ==== probabilities ==== */

/* The longest suffix of the context (at most max_len words) that was seen as a context. */
static int longest_seen_context(const NgramModel *m, const uint32_t *ctx, int ctx_len, int max_len) {
    int L = ctx_len < max_len ? ctx_len : max_len;
    for (; L > 0; L--) {
        const NgramEntry *h = ngram_find(m, ctx + ctx_len - L, L);
        if (h && h->sum_raw > 0) break;
    }
    return L;
}

static uint32_t count_of(const NgramModel *m, const uint32_t *h, int hl, int w) {
    uint32_t ids[NGRAM_MAX_ORDER];
    memcpy(ids, h, sizeof(uint32_t) * (size_t)hl);
    ids[hl] = (uint32_t)w;
    const NgramEntry *e = ngram_find(m, ids, hl + 1);
    return e ? e->count : 0;
}

double ngram_prob(const NgramModel *m, Smoothing s, int n, const uint32_t *ctx, int ctx_len, int w) {
    CHECK(n >= 1 && n <= m->max_order, "order %d of a model counted to order %d", n, m->max_order);
    const double V = m->vocab_size - 1; /* every id but <s> */
    if (s == SMOOTH_MLE || s == SMOOTH_ADDK) {
        int L = longest_seen_context(m, ctx, ctx_len, n - 1);
        const uint32_t *h = ctx + ctx_len - L;
        double c = count_of(m, h, L, w), total = ngram_find(m, h, L)->sum_raw;
        if (s == SMOOTH_MLE) return total > 0 ? c / total : 0.0;
        return (c + m->add_k) / (total + m->add_k * V);
    }
    /* Interpolated (modified) Kneser-Ney, from the lowest order up. */
    double p = 1.0 / V;
    const int L_max = ctx_len < n - 1 ? ctx_len : n - 1;
    for (int L = 0; L <= L_max; L++) { /* context length L: order L + 1 */
        const int k = L + 1, top = k == n;
        const uint32_t *h = ctx + ctx_len - L;
        const NgramEntry *he = ngram_find(m, h, L);
        if (!he || he->sum_raw == 0) break; /* unseen context: stay with the shorter one */
        /* The top order and contexts starting with <s> use raw counts. */
        const bool raw = top || (L > 0 && h[0] == VOCAB_BOS);
        const double S = raw ? he->sum_raw : he->sum_adj;
        if (S == 0) break;
        uint32_t ids[NGRAM_MAX_ORDER];
        memcpy(ids, h, sizeof(uint32_t) * (size_t)L);
        ids[L] = (uint32_t)w;
        const NgramEntry *g = ngram_find(m, ids, L + 1);
        const double a = !g ? 0 : raw ? g->count : adjusted(g);
        const uint32_t *nj = raw ? he->n_raw : he->n_adj;
        double discount, gamma;
        if (s == SMOOTH_KN) {
            const double D = m->kn[top][k];
            discount = a > 0 ? D : 0;
            gamma = D * (double)(nj[0] + nj[1] + nj[2]) / S;
        } else {
            const double *D = m->mkn[top][k];
            discount = D[a >= 3 ? 3 : (int)a];
            gamma = (D[1] * nj[0] + D[2] * nj[1] + D[3] * nj[2]) / S;
        }
        p = fmax(a - discount, 0.0) / S + gamma * p;
    }
    return p;
}

NgramScore ngram_score(const NgramModel *m, Smoothing s, int n, const TokenStream *text) {
    NgramScore r = {0};
    uint32_t sent[4096 + 2];
    int len = 0;
    sent[len++] = VOCAB_BOS;
    for (long t = 0; t < text->n; t++) {
        if (len == (int)(sizeof sent / sizeof sent[0]))
            memmove(sent + 1, sent + 1 + 2048, sizeof(uint32_t) * (size_t)(len - 1 - 2048)), len -= 2048;
        const int w = text->id[t];
        const double p = ngram_prob(m, s, n, sent, len, w);
        const double lp = p > 0 ? log10(p) : -INFINITY;
        r.tokens++;
        if (p <= 0) r.zero++;
        r.log10_sum += lp;
        if (w == VOCAB_UNK) r.oov++;
        else r.log10_sum_no_oov += lp;
        sent[len++] = (uint32_t)w;
        if (w == VOCAB_EOS) len = 1;
    }
    r.ppl = pow(10.0, -r.log10_sum / (double)r.tokens);
    r.ppl_no_oov = r.tokens > r.oov ? pow(10.0, -r.log10_sum_no_oov / (double)(r.tokens - r.oov)) : NAN;
    return r;
}

int ngram_continue(const NgramModel *m, Smoothing s, int n, Rng *rng, const int *prompt, int prompt_len, int max_tokens,
                   bool exact_length, int *out) {
    const int V = m->vocab_size;
    double *p = xmalloc(sizeof(double) * (size_t)V);
    uint32_t ctx[NGRAM_MAX_ORDER]; /* <s> then the last tokens, oldest first: at most n - 1 are used */
    int cl = 0, len = 0;
    ctx[cl++] = VOCAB_BOS;
    for (int i = 0; i < prompt_len + max_tokens; i++) {
        int w;
        if (i < prompt_len) {
            w = prompt[i]; /* the prompt's own token: read, not drawn */
        } else {
            double total = 0;
            for (int k = 0; k < V; k++)
                total += p[k] = k == VOCAB_BOS || (exact_length && k == VOCAB_EOS) ? 0 : ngram_prob(m, s, n, ctx, cl, k);
            const double u = rng_uniform(rng) * total;
            double acc = 0;
            w = V - 1;
            for (int k = 0; k < V; k++) {
                acc += p[k];
                if (u < acc) { w = k; break; }
            }
            if (w == VOCAB_EOS) break;
            out[len++] = w;
        }
        if (w == VOCAB_EOS) { /* a line of the prompt ended: the next starts after <s> */
            cl = 0, ctx[cl++] = VOCAB_BOS;
            continue;
        }
        if (cl == NGRAM_MAX_ORDER) memmove(ctx, ctx + 1, sizeof(uint32_t) * (NGRAM_MAX_ORDER - 1)), cl--;
        ctx[cl++] = (uint32_t)w;
    }
    free(p);
    return len;
}

int ngram_sample(const NgramModel *m, Smoothing s, int n, Rng *rng, int max_tokens, bool exact_length, int *out) {
    return ngram_continue(m, s, n, rng, NULL, 0, max_tokens, exact_length, out);
}
