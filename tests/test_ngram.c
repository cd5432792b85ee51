/* The n-gram estimators: distributions that sum to 1, and probabilities and perplexities worked out
 * by hand on tiny corpora (the arithmetic is in the comments). */
#include <math.h>
#include <stdlib.h>

#include "corpus.h"
#include "ngram.h"
#include "synth.h"
#include "tests.h"

typedef struct {
    Vocab v;
    TokenStream train;
    NgramModel m;
} Tiny;

static void tiny_build(Tiny *t, const char *const *lines, int n, int order) {
    vocab_init(&t->v);
    corpus_encode(&t->train, &t->v, (char *const *)lines, n, LEVEL_WORD, true);
    ngram_build(&t->m, &t->train, t->v.size, order, 1.0);
}

static void tiny_free(Tiny *t) {
    ngram_free(&t->m);
    token_stream_free(&t->train);
    vocab_free(&t->v);
}

static uint32_t id(const Tiny *t, const char *w) { return (uint32_t)vocab_find(&t->v, w); }

/* The bigram corpus:  "a b", "a b", "a c", "b a b".
 * Bigram counts: <s> a 3, <s> b 1, a b 3, a c 1, b </s> 3, c </s> 1, b a 1.
 * |V| = {<unk>, </s>, a, b, c} = 5. */
static const char *const bigram_lines[] = {"a b", "a b", "a c", "b a b"};

START_TEST(test_mle_and_addk_by_hand) {
    Tiny t;
    tiny_build(&t, bigram_lines, 4, 2);
    const uint32_t s[] = {VOCAB_BOS}, a[] = {VOCAB_BOS, id(&t, "a")};
    /* MLE: p(a|<s>) = 3/4, p(b|a) = 3/4; add-1: (3+1)/(4+5) = 4/9 */
    ck_assert_double_eq_tol(ngram_prob(&t.m, SMOOTH_MLE, 2, s, 1, (int)id(&t, "a")), 0.75, 1e-12);
    ck_assert_double_eq_tol(ngram_prob(&t.m, SMOOTH_MLE, 2, a, 2, (int)id(&t, "b")), 0.75, 1e-12);
    ck_assert_double_eq(ngram_prob(&t.m, SMOOTH_MLE, 2, a, 2, (int)id(&t, "a")), 0.0);
    ck_assert_double_eq_tol(ngram_prob(&t.m, SMOOTH_ADDK, 2, a, 2, (int)id(&t, "b")), 4.0 / 9, 1e-12);
    ck_assert_double_eq_tol(ngram_prob(&t.m, SMOOTH_ADDK, 2, a, 2, (int)id(&t, "a")), 1.0 / 9, 1e-12);
    /* unigram MLE: a 4, b 4, c 1, </s> 4 of 13 */
    ck_assert_double_eq_tol(ngram_prob(&t.m, SMOOTH_MLE, 1, s, 1, (int)id(&t, "c")), 1.0 / 13, 1e-12);
    /* Perplexity of "a b": every token has p = 3/4 (MLE) or 4/9 (add-1) */
    Vocab *v = &t.v;
    TokenStream val;
    const char *const val_lines[] = {"a b"};
    corpus_encode(&val, v, (char *const *)val_lines, 1, LEVEL_WORD, false);
    NgramScore r = ngram_score(&t.m, SMOOTH_MLE, 2, &val);
    ck_assert_int_eq(r.tokens, 3);
    ck_assert_double_eq_tol(r.ppl, 4.0 / 3, 1e-12);
    r = ngram_score(&t.m, SMOOTH_ADDK, 2, &val);
    ck_assert_double_eq_tol(r.ppl, 9.0 / 4, 1e-12);
    token_stream_free(&val);
    tiny_free(&t);
}
END_TEST

/* KN on the bigram corpus.
 * Top order (raw bigram counts 3,1,3,1,3,1,1): n1 = 4, n2 = 0, so Y = 1 cannot be used: the
 * fallback D = 0.5. Unigrams use adjusted counts, the number of distinct left words:
 * a {<s>, b} = 2, b {<s>, a} = 2, c {a} = 1, </s> {b, c} = 2; sum 7; n1 = 1, n2 = 3, so
 * D = 1 / (1 + 6) = 1/7 and gamma = (1/7) * 4 / 7 = 4/49:
 *   p1(a) = (2 - 1/7)/7 + (4/49)/5 = 69/245,  p1(c) = 34/245,  p1(<unk>) = 4/245.
 * Bigrams: context a: S = 4, two followers, gamma = 0.5 * 2 / 4 = 1/4:
 *   p(b|a) = (3 - 0.5)/4 + (1/4)(69/245) = 0.625 + 69/980. */
START_TEST(test_kn_by_hand) {
    Tiny t;
    tiny_build(&t, bigram_lines, 4, 2);
    ck_assert(t.m.kn_fallback[1][2]);
    ck_assert_double_eq(t.m.kn[1][2], 0.5);
    ck_assert(!t.m.kn_fallback[0][1]);
    ck_assert_double_eq_tol(t.m.kn[0][1], 1.0 / 7, 1e-12);
    const uint32_t a[] = {VOCAB_BOS, id(&t, "a")};
    const double p1a = 69.0 / 245;
    ck_assert_double_eq_tol(ngram_prob(&t.m, SMOOTH_KN, 2, a, 2, (int)id(&t, "b")), 0.625 + 0.25 * p1a, 1e-12);
    ck_assert_double_eq_tol(ngram_prob(&t.m, SMOOTH_KN, 2, a, 2, (int)id(&t, "a")), 0.25 * p1a, 1e-12);
    ck_assert_double_eq_tol(ngram_prob(&t.m, SMOOTH_KN, 2, a, 2, VOCAB_UNK), 0.25 * 4.0 / 245, 1e-12);
    /* "a d": a | <s> = 0.625 + 69/980; d is <unk> after a: (1/4)(4/245); </s> after the unseen
     * context <unk> backs off to the unigram: 69/245. With the OOV term dropped, two terms remain. */
    TokenStream val;
    const char *const val_lines[] = {"a d"};
    corpus_encode(&val, &t.v, (char *const *)val_lines, 1, LEVEL_WORD, false);
    ck_assert_int_eq(val.n_oov, 1);
    NgramScore r = ngram_score(&t.m, SMOOTH_KN, 2, &val);
    const double pa = 0.625 + 69.0 / 980, punk = 0.25 * 4.0 / 245, pend = 69.0 / 245;
    ck_assert_int_eq(r.tokens, 3);
    ck_assert_int_eq(r.oov, 1);
    ck_assert_double_eq_tol(r.ppl, pow(pa * punk * pend, -1.0 / 3), 1e-9);
    ck_assert_double_eq_tol(r.ppl_no_oov, pow(pa * pend, -1.0 / 2), 1e-9);
    token_stream_free(&val);
    tiny_free(&t);
}
END_TEST

/* Modified KN on the bigram corpus: both orders fall back to D = 0.5, 1, 1.5 (bigrams: n2 = 0;
 * unigram adjusted counts: n3 = 0).
 * Unigrams: S = 7, gamma = (0.5*1 + 1*3)/7 = 1/2: p1(a) = (2 - 1)/7 + 0.5/5 = 1/7 + 1/10.
 * Bigrams, context a (b: 3, c: 1): gamma = (0.5*1 + 1.5*1)/4 = 1/2:
 *   p(b|a) = (3 - 1.5)/4 + 0.5 p1(b) = 0.375 + 0.5 (1/7 + 1/10). The same for a|<s> and </s>|b,
 * so the perplexity of "a b" is 1 / that. */
START_TEST(test_mkn_fallback_by_hand) {
    Tiny t;
    tiny_build(&t, bigram_lines, 4, 2);
    ck_assert(t.m.mkn_fallback[1][2] && t.m.mkn_fallback[0][1]);
    ck_assert_double_eq(t.m.mkn[1][2][1], 0.5);
    ck_assert_double_eq(t.m.mkn[1][2][2], 1.0);
    ck_assert_double_eq(t.m.mkn[1][2][3], 1.5);
    const double p = 0.375 + 0.5 * (1.0 / 7 + 0.1);
    const uint32_t a[] = {VOCAB_BOS, id(&t, "a")};
    ck_assert_double_eq_tol(ngram_prob(&t.m, SMOOTH_MKN, 2, a, 2, (int)id(&t, "b")), p, 1e-12);
    TokenStream val;
    const char *const val_lines[] = {"a b"};
    corpus_encode(&val, &t.v, (char *const *)val_lines, 1, LEVEL_WORD, false);
    ck_assert_double_eq_tol(ngram_score(&t.m, SMOOTH_MKN, 2, &val).ppl, 1 / p, 1e-9);
    token_stream_free(&val);
    tiny_free(&t);
}
END_TEST

/* Unigram counts u 1, v 1, w 2, y 3, z 4, </s> 1 (one line): n1 = 3, n2 = 1, n3 = 1, n4 = 1.
 *   Y = 3/5; D1 = 1 - 2 Y (1/3) = 0.6; D2 = 2 - 3 Y (1/1) = 0.2; D3 = 3 - 4 Y (1/1) = 0.6.
 * S = 12, |V| = 7, gamma = (0.6*3 + 0.2*1 + 0.6*2)/12 = 3.2/12:
 *   p(z) = (4 - 0.6)/12 + gamma/7,  p(w) = (2 - 0.2)/12 + gamma/7,  p(<unk>) = gamma/7.
 * KN: D = Y = 0.6, gamma = 0.6 * 6/12: p(z) = 3.4/12 + 0.3/7. */
START_TEST(test_mkn_discounts_by_hand) {
    Tiny t;
    const char *const lines[] = {"u v w w y y y z z z z"};
    tiny_build(&t, lines, 1, 1);
    ck_assert(!t.m.mkn_fallback[1][1]);
    ck_assert_double_eq_tol(t.m.mkn[1][1][1], 0.6, 1e-12);
    ck_assert_double_eq_tol(t.m.mkn[1][1][2], 0.2, 1e-12);
    ck_assert_double_eq_tol(t.m.mkn[1][1][3], 0.6, 1e-12);
    const uint32_t s[] = {VOCAB_BOS};
    const double g = 3.2 / 12;
    ck_assert_double_eq_tol(ngram_prob(&t.m, SMOOTH_MKN, 1, s, 1, (int)id(&t, "z")), 3.4 / 12 + g / 7, 1e-12);
    ck_assert_double_eq_tol(ngram_prob(&t.m, SMOOTH_MKN, 1, s, 1, (int)id(&t, "w")), 1.8 / 12 + g / 7, 1e-12);
    ck_assert_double_eq_tol(ngram_prob(&t.m, SMOOTH_MKN, 1, s, 1, VOCAB_UNK), g / 7, 1e-12);
    ck_assert_double_eq_tol(ngram_prob(&t.m, SMOOTH_KN, 1, s, 1, (int)id(&t, "z")), 3.4 / 12 + 0.3 / 7, 1e-12);
    tiny_free(&t);
}
END_TEST

/* A model that gives every token 1/|V| has perplexity |V|: add-k with k so large that the counts
 * (at most 13 here) change p by under 1e-10 relative. */
START_TEST(test_uniform_perplexity_is_vocabulary_size) {
    Tiny t;
    vocab_init(&t.v);
    corpus_encode(&t.train, &t.v, (char *const *)bigram_lines, 4, LEVEL_WORD, true);
    ngram_build(&t.m, &t.train, t.v.size, 3, 1e12);
    NgramScore r = ngram_score(&t.m, SMOOTH_ADDK, 3, &t.train);
    ck_assert_double_eq_tol(r.ppl, 5.0, 1e-8);
    tiny_free(&t);
}
END_TEST

/* Every estimator, every order, seen and unseen contexts: sum over V of p(w|h) is 1. Summing |V|
 * doubles each within 1e-16 relative leaves far less than the 1e-9 allowed. */
START_TEST(test_distributions_sum_to_one) {
    SynthCorpus c;
    synth_generate(&c, 300, 3);
    Tiny t;
    vocab_init(&t.v);
    corpus_encode(&t.train, &t.v, c.line, c.n, LEVEL_CHAR, true);
    ngram_build(&t.m, &t.train, t.v.size, 6, 0.5);
    const uint32_t z = id(&t, "z"), o = id(&t, "o"), sp = id(&t, " "), q = id(&t, "q");
    const uint32_t contexts[][6] = {
        {VOCAB_BOS, z, o, sp, z, 0},          /* seen: "zo z" */
        {VOCAB_BOS, q, q, q, q, q},           /* never seen beyond "<s> q" */
        {VOCAB_BOS, VOCAB_UNK, sp, 0, 0, 0},  /* with an unknown word */
        {VOCAB_BOS, 0, 0, 0, 0, 0},
    };
    const int lens[] = {5, 6, 3, 1};
    for (int s = 0; s < N_SMOOTHING; s++)
        for (int n = 1; n <= 6; n++)
            for (int h = 0; h < 4; h++) {
                double sum = 0;
                for (int w = 0; w < t.v.size; w++)
                    if (w != VOCAB_BOS) sum += ngram_prob(&t.m, (Smoothing)s, n, contexts[h], lens[h], w);
                ck_assert_msg(fabs(sum - 1) < 1e-9, "%s n=%d context %d: sum %.12f", smoothing_name[s], n, h, sum);
            }
    tiny_free(&t);
    synth_free(&c);
}
END_TEST

/* Sampling after a prompt reads the prompt as the context: after "x p" the trigram model draws q,
 * after "y p" r, in well over 70% of draws (each line seen 6 times; MKN keeps some mass for the
 * bigram p -> q, r, a coin, and without the prompt the draw would be x or y). A </s> in the
 * prompt starts a new line. Without a prompt it is ngram_sample, draw for draw. */
START_TEST(test_continue_reads_the_prompt) {
    const char *lines[12];
    for (int i = 0; i < 12; i++) lines[i] = i % 2 ? "y p r" : "x p q";
    Tiny t;
    tiny_build(&t, lines, 12, 3);
    const int x = (int)id(&t, "x"), y = (int)id(&t, "y"), p = (int)id(&t, "p"), q = (int)id(&t, "q"), r = (int)id(&t, "r");
    const int after_x[] = {x, p}, after_y[] = {VOCAB_EOS, x, p, q, VOCAB_EOS, y, p};
    Rng rng;
    rng_seed(&rng, 7, 0);
    const int line_done[] = {x, p, q, VOCAB_EOS}; /* a new line: x or y as after <s> (q </s> is an unseen context) */
    int qs = 0, rs = 0, starts = 0;
    for (int i = 0; i < 200; i++) {
        int out[1];
        ck_assert_int_eq(ngram_continue(&t.m, SMOOTH_MKN, 3, &rng, after_x, 2, 1, true, out), 1);
        qs += out[0] == q;
        ck_assert_int_eq(ngram_continue(&t.m, SMOOTH_MKN, 3, &rng, after_y, 7, 1, true, out), 1);
        rs += out[0] == r;
        ck_assert_int_eq(ngram_continue(&t.m, SMOOTH_MKN, 3, &rng, line_done, 4, 1, true, out), 1);
        starts += out[0] == x || out[0] == y;
    }
    ck_assert_msg(qs > 140 && rs > 140 && starts > 150, "q after x p: %d of 200, r after y p: %d, x or y after </s>: %d", qs,
                  rs, starts);
    Rng a, b;
    rng_seed(&a, 3, 1), rng_seed(&b, 3, 1);
    int sa[20], sb[20];
    const int na = ngram_sample(&t.m, SMOOTH_MKN, 3, &a, 20, false, sa), nb = ngram_continue(&t.m, SMOOTH_MKN, 3, &b, NULL, 0, 20, false, sb);
    ck_assert_int_eq(na, nb);
    for (int i = 0; i < na; i++) ck_assert_int_eq(sa[i], sb[i]);
    tiny_free(&t);
}
END_TEST

Suite *ngram_suite(void) {
    Suite *s = suite_create("ngram");
    TCase *tc = tcase_create("estimators");
    tcase_add_test(tc, test_mle_and_addk_by_hand);
    tcase_add_test(tc, test_kn_by_hand);
    tcase_add_test(tc, test_mkn_fallback_by_hand);
    tcase_add_test(tc, test_mkn_discounts_by_hand);
    tcase_add_test(tc, test_uniform_perplexity_is_vocabulary_size);
    tcase_add_test(tc, test_distributions_sum_to_one);
    tcase_add_test(tc, test_continue_reads_the_prompt);
    suite_add_tcase(s, tc);
    return s;
}
