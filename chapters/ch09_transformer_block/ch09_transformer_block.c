/* ch09_transformer_block: the whole Transformer, source document §2.2 (its diagram) and §3.
 *
 *   encoder block:  self-attention -> add & norm -> feed-forward -> add & norm
 *   decoder block:  masked self-attention -> add & norm -> cross-attention (queries from the
 *                   decoder, keys and values from the encoder's output) -> add & norm
 *                   -> feed-forward -> add & norm
 *   post-norm (the source): y = LN(x + F(x));  pre-norm (GPT-2 and later): y = x + F(LN(x))
 *
 * This program follows one short sequence through each block, printing what every sublayer does to
 * the numbers; counts the parameters of each part next to its formula; prints and draws the
 * source's diagram corrected; checks the gradients of whole blocks; and runs the stacked model of
 * common/model.c, which chapters 10 and 11 train, and a small encoder-decoder end to end.
 *
 * Run: make ch09 && ./ch09_transformer_block [--sentence "..."] [--target "..."] [--d-model C]
 *                                            [--heads H] [--d-ff F] [--layers N] [--seed S]       */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "cli.h"
#include "demo.h"
#include "gradcheck.h"
#include "model.h"
#include "plot.h"
#include "print.h"
#include "util.h"

#define CHAPTER "ch09_transformer_block"
#define LN_EPS 1e-5f

/* Everything the sections share: the flags, then what the sections build. */
typedef struct {
    /* flags */
    DemoFlags flags;     /* the source sentence's (--sentence, --tokens, --d-model) */
    CliCommon common;
    long long heads, d_ff, layers;
    const char *target;  /* --target: the decoder's sentence */
    CliOption opts[DEMO_N_OPTIONS + 4]; /* kept: flags.tokens_option points into them */
    /* state */
    AttnDemo src;        /* the source sentence: words and embeddings */
    AttnDemo tgt;        /* the target sentence for the decoder */
    int C, H, F, N;
    Tensor Xs, Xt;       /* (T_src, C), (T_tgt, C): embeddings + positions */
    PrintOpts po;
    Plotter plot;
    uint64_t seed;
    /* the toy vocabulary: the distinct words of the source in order of first appearance (the first
     * n_src of them), then the target's words not in the source (n_words in all); not owned */
    const char *words[2 * DEMO_MAX_TOKENS];
    int n_src, n_words;
} Chapter;

/* The id of word w in the toy vocabulary, or -1. */
static int word_id(const Chapter *ch, const char *w) {
    for (int i = 0; i < ch->n_words; i++)
        if (strcmp(ch->words[i], w) == 0) return i;
    return -1;
}

/* Add the words of d that are not yet in the toy vocabulary. */
static void add_words(Chapter *ch, const AttnDemo *d) {
    for (int t = 0; t < d->T; t++)
        if (word_id(ch, d->tokens[t]) < 0) ch->words[ch->n_words++] = d->tokens[t];
}

/* ---- the journey: shape and per-position statistics after each step ---- */
/* mean and standard deviation of row r of t over its features */
static void row_stats(const Tensor *t, int r, double *mean, double *std) {
    double m = 0, v = 0;
    for (int c = 0; c < t->cols; c++) m += *tensor_at(t, r, c);
    m /= t->cols;
    for (int c = 0; c < t->cols; c++) v += pow(*tensor_at(t, r, c) - m, 2);
    *mean = m, *std = sqrt(v / t->cols);
}

static void journey(const char *stage, const Tensor *t) {
    printf("  %-44s (%d, %d)\n    mean", stage, t->rows, t->cols);
    double m, s;
    for (int r = 0; r < t->rows && r < 10; r++) {
        row_stats(t, r, &m, &s);
        printf(" %+6.2f", fabs(m) < 5e-3 ? 0.0 : m);
    }
    printf("%s\n    std ", t->rows > 10 ? " ..." : "");
    for (int r = 0; r < t->rows && r < 10; r++) {
        row_stats(t, r, &m, &s);
        printf(" %6.2f", s);
    }
    printf("%s\n", t->rows > 10 ? " ..." : "");
}

/* how many rows of `after` have a larger standard deviation than the same row of `before` */
static int rows_wider(const Tensor *after, const Tensor *before) {
    int n = 0;
    for (int r = 0; r < after->rows; r++) {
        double m, sa, sb;
        row_stats(after, r, &m, &sa), row_stats(before, r, &m, &sb);
        n += sa > sb;
    }
    return n;
}

/* the smallest and largest per-row standard deviation of t */
static void std_range(const Tensor *t, double *lo, double *hi) {
    *lo = INFINITY, *hi = 0;
    for (int r = 0; r < t->rows; r++) {
        double m, s;
        row_stats(t, r, &m, &s);
        *lo = fmin(*lo, s), *hi = fmax(*hi, s);
    }
}

/* ==== the decoder block (only this chapter builds one; the models of chapters 10-11 do not) ==== */

typedef struct {
    Tensor ln1_g, ln1_b; MhaParams self;  /* masked self-attention */
    Tensor ln2_g, ln2_b; MhaParams cross; /* attention over the encoder's output */
    Tensor ln3_g, ln3_b; FfnParams ffn;
} DecParams;

typedef struct {
    MhaCache self, cross;
    FfnCache ffn;
    Tensor y, a1, att1, s1, m1, a2, att2, s2, m2, f_in, f, s3; /* (T, C) */
    Tensor mean[3], rstd[3];                                   /* (T, 1) */
} DecCache;

enum { DEC_N_TENSORS = 6 + 2 * MHA_N_PARAMS + 4 };

static Tensor *dec_tensor(DecParams *p, int i, const char **name) {
    static const char *const names[DEC_N_TENSORS] = {
        "ln1.g", "ln1.b", "self.Wq", "self.Wk", "self.Wv", "self.Wo", "self.bq", "self.bk", "self.bv", "self.bo",
        "ln2.g", "ln2.b", "cross.Wq", "cross.Wk", "cross.Wv", "cross.Wo", "cross.bq", "cross.bk", "cross.bv",
        "cross.bo", "ln3.g", "ln3.b", "ffn.W1", "ffn.b1", "ffn.W2", "ffn.b2"};
    Tensor *all[DEC_N_TENSORS] = {&p->ln1_g, &p->ln1_b};
    for (int k = 0; k < MHA_N_PARAMS; k++) all[2 + k] = mha_param(&p->self, k), all[12 + k] = mha_param(&p->cross, k);
    all[10] = &p->ln2_g, all[11] = &p->ln2_b, all[20] = &p->ln3_g, all[21] = &p->ln3_b;
    all[22] = &p->ffn.W1, all[23] = &p->ffn.b1, all[24] = &p->ffn.W2, all[25] = &p->ffn.b2;
    if (name) *name = names[i];
    return all[i];
}

static void dec_params_init(DecParams *p, int C, int F, Rng *rng, float std) {
    p->ln1_g = tensor_new(1, C), p->ln1_b = tensor_new(1, C), p->ln2_g = tensor_new(1, C), p->ln2_b = tensor_new(1, C);
    p->ln3_g = tensor_new(1, C), p->ln3_b = tensor_new(1, C);
    mha_params_layout(&p->self, C, NULL), mha_params_layout(&p->cross, C, NULL);
    ffn_params_layout(&p->ffn, C, F, NULL);
    for (int i = 0; i < DEC_N_TENSORS; i++) {
        const char *name;
        Tensor *t = dec_tensor(p, i, &name);
        if (!rng) continue;
        if (strstr(name, ".g")) tensor_fill(t, 1.0f);
        else if (t->rows > 1) tensor_randn(t, rng, std);
    }
}

static void dec_params_free(DecParams *p) {
    for (int i = 0; i < DEC_N_TENSORS; i++) tensor_free(dec_tensor(p, i, NULL));
}

static void dec_cache_init(DecCache *c, int T, int T_src, int C, int H, int F) {
    mha_cache_init(&c->self, T, C, H, true);
    mha_cache_init_cross(&c->cross, T, T_src, C, H);
    ffn_cache_init(&c->ffn, T, F);
    Tensor *all[] = {&c->y, &c->a1, &c->att1, &c->s1, &c->m1, &c->a2, &c->att2, &c->s2, &c->m2, &c->f_in, &c->f, &c->s3};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) *all[i] = tensor_new(T, C);
    for (int k = 0; k < 3; k++) c->mean[k] = tensor_new(T, 1), c->rstd[k] = tensor_new(T, 1);
}

static void dec_cache_free(DecCache *c) {
    mha_cache_free(&c->self), mha_cache_free(&c->cross), ffn_cache_free(&c->ffn);
    Tensor *all[] = {&c->y, &c->a1, &c->att1, &c->s1, &c->m1, &c->a2, &c->att2, &c->s2, &c->m2, &c->f_in, &c->f, &c->s3};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tensor_free(all[i]);
    for (int k = 0; k < 3; k++) tensor_free(&c->mean[k]), tensor_free(&c->rstd[k]);
}

/* y (T, C) the decoder's input, mem (T_src, C) the encoder's output. With `show`, prints the journey. */
static void dec_forward(Tensor *out, DecCache *c, const DecParams *p, const Tensor *y, const Tensor *mem,
                        NormPlacement norm, bool show) {
    const bool pre = norm == NORM_PRE;
    tensor_copy(&c->y, y);
    /* sublayer 1: masked self-attention */
    if (pre) layernorm_forward(&c->a1, &c->mean[0], &c->rstd[0], y, &p->ln1_g, &p->ln1_b, LN_EPS);
    else tensor_copy(&c->a1, y);
    mha_forward(&c->att1, &c->self, &p->self, &c->a1);
    tensor_add(&c->s1, y, &c->att1);
    if (!pre) layernorm_forward(&c->m1, &c->mean[0], &c->rstd[0], &c->s1, &p->ln1_g, &p->ln1_b, LN_EPS);
    else tensor_copy(&c->m1, &c->s1);
    /* sublayer 2: cross-attention, queries from here, keys and values from the encoder */
    if (pre) layernorm_forward(&c->a2, &c->mean[1], &c->rstd[1], &c->m1, &p->ln2_g, &p->ln2_b, LN_EPS);
    else tensor_copy(&c->a2, &c->m1);
    mha_forward_cross(&c->att2, &c->cross, &p->cross, &c->a2, mem);
    tensor_add(&c->s2, &c->m1, &c->att2);
    if (!pre) layernorm_forward(&c->m2, &c->mean[1], &c->rstd[1], &c->s2, &p->ln2_g, &p->ln2_b, LN_EPS);
    else tensor_copy(&c->m2, &c->s2);
    /* sublayer 3: feed-forward */
    if (pre) layernorm_forward(&c->f_in, &c->mean[2], &c->rstd[2], &c->m2, &p->ln3_g, &p->ln3_b, LN_EPS);
    else tensor_copy(&c->f_in, &c->m2);
    ffn_forward(&c->f, &c->ffn, &p->ffn, &c->f_in, ACT_GELU);
    tensor_add(&c->s3, &c->m2, &c->f);
    if (!pre) layernorm_forward(out, &c->mean[2], &c->rstd[2], &c->s3, &p->ln3_g, &p->ln3_b, LN_EPS);
    else tensor_copy(out, &c->s3);
    if (!show) return;
    journey("y: target embeddings + positions", y);
    journey("masked self-attention(y)", &c->att1);
    journey("add & norm: LN1(y + attention)", &c->m1);
    journey("cross-attention(., encoder output)", &c->att2);
    journey("add & norm: LN2(. + cross-attention)", &c->m2);
    journey("feed-forward", &c->f);
    journey("add & norm: LN3(. + FFN) = block output", out);
}

static void dec_backward(Tensor *dy, Tensor *dmem, DecParams *g, const Tensor *dout, DecCache *c,
                         const DecParams *p, const Tensor *mem, NormPlacement norm) {
    const bool pre = norm == NORM_PRE;
    const int T = c->y.rows, C = c->y.cols;
    Tensor ds3 = tensor_new(T, C), dm2 = tensor_new(T, C), dfin = tensor_new(T, C), ds2 = tensor_new(T, C);
    Tensor dm1 = tensor_new(T, C), da2 = tensor_new(T, C), ds1 = tensor_new(T, C), da1 = tensor_new(T, C);
    /* out = LN3(s3) or s3;  s3 = m2 + f;  f_in = LN3(m2) or m2 */
    if (!pre) layernorm_backward(&ds3, &g->ln3_g, &g->ln3_b, dout, &c->s3, &c->mean[2], &c->rstd[2], &p->ln3_g);
    else tensor_copy(&ds3, dout);
    tensor_copy(&dm2, &ds3);
    ffn_backward(&dfin, &g->ffn, &ds3, &c->ffn, &p->ffn, &c->f_in, ACT_GELU);
    if (pre) layernorm_backward(&dm2, &g->ln3_g, &g->ln3_b, &dfin, &c->m2, &c->mean[2], &c->rstd[2], &p->ln3_g);
    else tensor_add(&dm2, &dm2, &dfin);
    /* m2 = LN2(s2) or s2;  s2 = m1 + cross(a2, mem);  a2 = LN2(m1) or m1 */
    if (!pre) layernorm_backward(&ds2, &g->ln2_g, &g->ln2_b, &dm2, &c->s2, &c->mean[1], &c->rstd[1], &p->ln2_g);
    else tensor_copy(&ds2, &dm2);
    tensor_copy(&dm1, &ds2);
    mha_backward_cross(&da2, dmem, &g->cross, &ds2, &c->cross, &p->cross, &c->a2, mem);
    if (pre) layernorm_backward(&dm1, &g->ln2_g, &g->ln2_b, &da2, &c->m1, &c->mean[1], &c->rstd[1], &p->ln2_g);
    else tensor_add(&dm1, &dm1, &da2);
    /* m1 = LN1(s1) or s1;  s1 = y + self(a1);  a1 = LN1(y) or y */
    if (!pre) layernorm_backward(&ds1, &g->ln1_g, &g->ln1_b, &dm1, &c->s1, &c->mean[0], &c->rstd[0], &p->ln1_g);
    else tensor_copy(&ds1, &dm1);
    tensor_add(dy, dy, &ds1);
    mha_backward(&da1, &g->self, &ds1, &c->self, &p->self, &c->a1);
    if (pre) layernorm_backward(dy, &g->ln1_g, &g->ln1_b, &da1, &c->y, &c->mean[0], &c->rstd[0], &p->ln1_g);
    else tensor_add(dy, dy, &da1);
    Tensor *all[] = {&ds3, &dm2, &dfin, &ds2, &dm1, &da2, &ds1, &da1};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tensor_free(all[i]);
}

/* ---- 1. The input ---- */
static void section_input(Chapter *ch) {
    print_section(stdout, 1, "The input: embeddings plus positions");
    printf("  x = embedding(word) + PE(position)     (T, C) = (%d, %d); PE is chapter 6's sinusoidal table\n\n",
           ch->src.T, ch->C);
    print_matrix(stdout, "x", &ch->Xs, &ch->po);
}

/* ---- 2. and 3. The encoder block, post-norm and pre-norm ---- */
static void encoder_journey(Chapter *ch, NormPlacement norm, int section) {
    const int T = ch->src.T, C = ch->C;
    print_section(stdout, section, norm == NORM_POST ? "Encoder block, post-norm (the source's): y = LN(x + F(x))"
                                                     : "Encoder block, pre-norm (GPT-2's): y = x + F(LN(x))");
    printf("  After each step: the shape, then each position's mean and standard deviation over its\n"
           "  %d features.\n\n", C);
    Rng rng;
    rng_seed(&rng, ch->seed, 91);
    BlockParams p;
    block_params_layout(&p, C, ch->F, NULL);
    block_params_randomize(&p, &rng, 1.0f / sqrtf((float)C), 1.0f / sqrtf((float)ch->F));
    BlockCache c;
    memset(&c, 0, sizeof c);
    block_cache_layout(&c, 1, T, C, ch->H, ch->F, false, NULL);
    Tensor out = tensor_new(T, C);
    block_forward(&out, &c, &p, &ch->Xs, norm, ACT_GELU);
    journey("x: embeddings + positions", &ch->Xs);
    if (norm == NORM_POST) {
        journey("self-attention(x)", &c.att);
        journey("x + attention (the residual)", &c.s1);
        journey("LN1(x + attention)", &c.mid);
        journey("feed-forward", &c.f);
        journey(". + FFN (the residual)", &c.s2);
        journey("LN2(. + FFN) = block output", &out);
        const int w1 = rows_wider(&c.s1, &ch->Xs), w2 = rows_wider(&c.s2, &c.mid);
        char note[400];
        snprintf(note, sizeof note,
                 "Notice: a residual sum can widen or narrow a position's spread (x + attention is wider "
                 "than x at %d of %d positions; . + FFN wider than its input at %d of %d), and each norm "
                 "puts every position back to mean 0 and standard deviation 1: the block's output has "
                 "the same scale whatever happened inside.", w1, T, w2, T);
        print_note(stdout, note);
    } else {
        journey("LN1(x): the attention's input", &c.a_in);
        journey("self-attention(LN1(x))", &c.att);
        journey("x + attention (the residual stream)", &c.mid); /* pre-norm's first sum lives in mid */
        journey("LN2(.): the FFN's input", &c.f_in);
        journey("feed-forward", &c.f);
        journey(". + FFN = block output", &out);
        double in_lo, in_hi, out_lo, out_hi;
        std_range(&ch->Xs, &in_lo, &in_hi), std_range(&out, &out_lo, &out_hi);
        char note[400];
        snprintf(note, sizeof note,
                 "Notice: the norms act only on the way into each sublayer; the residual stream itself is "
                 "never normalised (its standard deviation per position is %.2f to %.2f at the input, "
                 "%.2f to %.2f at the output), so a stack of pre-norm blocks ends with one final layer "
                 "norm.", in_lo, in_hi, out_lo, out_hi);
        print_note(stdout, note);
    }
    tensor_free(&out);
    block_cache_free(&c);
    block_params_free(&p);
}

/* ---- 4. The decoder block ---- */
static void section_decoder(Chapter *ch) {
    const int Ts = ch->src.T, Tt = ch->tgt.T, C = ch->C;
    print_section(stdout, 4, "Decoder block, post-norm: masked self-attention, cross-attention, feed-forward");
    printf("  The decoder reads the target so far (T_tgt = %d) and the encoder's output (T_src = %d).\n"
           "  Cross-attention: Q = y W^Q (T_tgt, C), K = mem W^K and V = mem W^V (T_src, C), so its\n"
           "  weights are (T_tgt, T_src): each target position looks over the whole source.\n\n", Tt, Ts);
    Rng rng;
    rng_seed(&rng, ch->seed, 92);
    /* the encoder's output: one post-norm encoder block over the source */
    BlockParams ep;
    block_params_layout(&ep, C, ch->F, NULL);
    block_params_randomize(&ep, &rng, 1.0f / sqrtf((float)C), 1.0f / sqrtf((float)ch->F));
    BlockCache ec;
    memset(&ec, 0, sizeof ec);
    block_cache_layout(&ec, 1, Ts, C, ch->H, ch->F, false, NULL);
    Tensor mem = tensor_new(Ts, C), out = tensor_new(Tt, C);
    block_forward(&mem, &ec, &ep, &ch->Xs, NORM_POST, ACT_GELU);
    DecParams dp;
    dec_params_init(&dp, C, ch->F, &rng, 1.0f / sqrtf((float)C));
    DecCache dc;
    dec_cache_init(&dc, Tt, Ts, C, ch->H, ch->F);
    dec_forward(&out, &dc, &dp, &ch->Xt, &mem, NORM_POST, true);
    PrintOpts pw = ch->po;
    pw.row_labels = (const char *const *)ch->tgt.tokens;
    pw.col_labels = (const char *const *)ch->src.tokens;
    printf("\n");
    print_matrix(stdout, "cross-attention weights of head 0 (rows: target, columns: source)", &dc.cross.weights[0], &pw);
    PrintOpts ps = pw;
    ps.col_labels = ps.row_labels;
    printf("\n");
    print_matrix(stdout, "masked self-attention weights of head 0 (target over target)", &dc.self.weights[0], &ps);
    print_note(stdout, "Notice: the self-attention is lower-triangular (chapter 4's mask: the decoder may "
                       "not see the target words it is about to predict), while the cross-attention is "
                       "full: every source word is known.");
    HeatPanel panels[2] = {
        {"decoder_self", "masked self-attention (target x target)", &dc.self.weights[0], ps.row_labels, ps.col_labels,
         "target position (key)", "target position (query)", HEAT_WEIGHTS},
        {"decoder_cross", "cross-attention (target x source)", &dc.cross.weights[0], pw.row_labels, pw.col_labels,
         "source word (key, value)", "target position (query)", HEAT_WEIGHTS},
    };
    putchar('\n');
    plot_heatmaps(&ch->plot, "decoder_attention", "The decoder's two attentions (head 0, random weights)", panels, 2);
    tensor_free(&mem), tensor_free(&out);
    dec_cache_free(&dc), dec_params_free(&dp), block_cache_free(&ec), block_params_free(&ep);
}

/* ---- 5. Parameters ---- */
static void section_parameters(Chapter *ch, const ModelConfig *gpt) {
    const long C = ch->C, F = ch->F, V = gpt->vocab;
    print_section(stdout, 5, "Parameters of each part");
    printf("  With d_model = %ld, h = %d, d_ff = %ld (h changes nothing: chapter 5), vocabulary V = %ld:\n\n", C, ch->H, F, V);
    /* counted from tensors actually allocated, next to the formula */
    BlockParams bp;
    block_params_layout(&bp, (int)C, (int)F, NULL);
    long attn = 0, ffn = 0, norms = 0;
    for (int i = 0; i < BLOCK_N_TENSORS; i++) {
        const char *name;
        Tensor *t = block_tensor(&bp, i, &name);
        long n = (long)t->rows * t->cols;
        if (strncmp(name, "attn", 4) == 0) attn += n;
        else if (strncmp(name, "ffn", 3) == 0) ffn += n;
        else norms += n;
    }
    block_params_free(&bp);
    DecParams dp;
    dec_params_init(&dp, (int)C, (int)F, NULL, 0);
    long dec = 0;
    for (int i = 0; i < DEC_N_TENSORS; i++) dec += (long)dec_tensor(&dp, i, NULL)->rows * dec_tensor(&dp, i, NULL)->cols;
    dec_params_free(&dp);
    printf("  %-34s %-30s %10s %10s\n", "part", "formula", "formula", "counted");
    printf("  %-34s %-30s %10ld %10ld\n", "token embedding", "V C", V * C, V * C);
    printf("  %-34s %-30s %10ld %10ld\n", "multi-head attention", "4 C^2 + 4 C", 4 * C * C + 4 * C, attn);
    printf("  %-34s %-30s %10ld %10ld\n", "feed-forward", "2 C d_ff + d_ff + C", 2 * C * F + F + C, ffn);
    printf("  %-34s %-30s %10ld %10ld\n", "two layer norms (gamma, beta)", "2 x 2 C", 4 * C, norms);
    printf("  %-34s %-30s %10ld %10ld\n", "encoder block", "sum of the three above", block_param_count((int)C, (int)F),
           attn + ffn + norms);
    printf("  %-34s %-30s %10ld %10ld\n", "decoder block", "2 attentions + FFN + 3 norms",
           2 * (4 * C * C + 4 * C) + 2 * C * F + F + C + 6 * C, dec);
    Tensor head = tensor_new((int)C, (int)V);
    printf("  %-34s %-30s %10ld %10ld\n", "output projection (untied)", "C V", C * V, (long)head.rows * head.cols);
    tensor_free(&head);
    Model m;
    model_init(&m, gpt, 1, ch->seed);
    printf("\n  The stacked model of common/model.c for chapter 10 (L = %d, %s, %s positions, tied\n"
           "  output): formula %ld, allocated %zu.\n", gpt->layers, gpt->norm == NORM_PRE ? "pre-norm" : "post-norm",
           gpt->pos == POS_LEARNED ? "learned" : "sinusoidal", model_param_count(gpt), m.n_params);
    model_free(&m);
    print_note(stdout, "Notice: attention and feed-forward dominate, and both grow with C^2; with "
                       "d_ff = 4C the FFN holds twice the attention's parameters.");
}

/* ---- 6. The diagram, corrected ---- */
static void section_diagram(Chapter *ch) {
    print_section(stdout, 6, "Erratum: the source's diagram (§2.2), corrected");
    print_wrapped(stdout, 2,
                  "The diagram in §2.2 has three problems. (1) Arrows run from the last Add&Norm of each "
                  "stack back into its attention, as if a block looped on itself; they stand for "
                  "stacking N blocks, the output of one being the input of the next. (2) The decoder "
                  "ends at its last Add&Norm; a language model still needs the output projection to the "
                  "vocabulary and the softmax. (3) The encoder's first attention feeds the decoder's "
                  "second attention; in fact the encoder's final output, after all N blocks, feeds the "
                  "cross-attention of every decoder block, as its keys and values. (Its decoder "
                  "self-attention is also not marked as masked.) The corrected data flow:");
    printf("\n"
           "  source tokens -> token embedding + positional encoding\n"
           "    -> encoder block 1 .. N, each:  self-attention -> add & norm -> feed-forward -> add & norm\n"
           "    -> encoder output (memory, T_src x C)\n"
           "  target tokens so far (shifted right) -> token embedding + positional encoding\n"
           "    -> decoder block 1 .. N, each:  MASKED self-attention -> add & norm\n"
           "                                     -> cross-attention (Q: decoder; K, V: memory) -> add & norm\n"
           "                                     -> feed-forward -> add & norm\n"
           "    -> linear (C -> V) -> softmax -> probabilities of the next target token\n"
           "  (GPT keeps only the decoder side without cross-attention; BERT only the encoder side.)\n\n");
    const char *enc = "#dbe9f6", *dec = "#fde0c5", *io = "#e5f5e0";
    DiagramBox boxes[] = {
        {8, 3, 42, 9, "source tokens", io},
        {8, 12, 42, 18, "embedding + positional encoding", io},
        {4, 21, 46, 65, "encoder block (x N: each output feeds the next)", NULL},
        {8, 24, 42, 30, "multi-head self-attention", enc},
        {8, 33, 42, 38, "add & norm", enc},
        {8, 44, 42, 50, "feed-forward", enc},
        {8, 53, 42, 58, "add & norm", enc},
        {8, 69, 42, 75, "encoder output (memory)", io},
        {58, 3, 94, 9, "target tokens so far", io},
        {58, 12, 94, 18, "embedding + positional encoding", io},
        {54, 21, 98, 79, "decoder block (x N)", NULL},
        {58, 24, 94, 30, "MASKED multi-head self-attention", dec},
        {58, 33, 94, 38, "add & norm", dec},
        {58, 42, 94, 48, "cross-attention: Q here, K and V from memory", dec},
        {58, 51, 94, 56, "add & norm", dec},
        {58, 60, 94, 66, "feed-forward", dec},
        {58, 69, 94, 74, "add & norm", dec},
        {58, 83, 94, 89, "linear: d_model -> vocabulary", io},
        {58, 92, 94, 98, "softmax: next-token probabilities", io},
    };
    DiagramArrow arrows[] = {
        {25, 9, 25, 12, false, false}, {25, 18, 25, 24, false, false}, {25, 30, 25, 33, false, false}, {25, 38, 25, 44, false, false},
        {25, 50, 25, 53, false, false}, {25, 58, 25, 69, false, false},
        {25, 20, 6, 20, true, true}, {6, 20, 6, 35.5, true, true}, {6, 35.5, 8, 35.5, true, false}, /* residual */
        {25, 41, 6, 41, true, true}, {6, 41, 6, 55.5, true, true}, {6, 55.5, 8, 55.5, true, false}, /* residual */
        {76, 9, 76, 12, false, false}, {76, 18, 76, 24, false, false}, {76, 30, 76, 33, false, false}, {76, 38, 76, 42, false, false},
        {76, 48, 76, 51, false, false}, {76, 56, 76, 60, false, false}, {76, 66, 76, 69, false, false}, {76, 74, 76, 83, false, false},
        {76, 89, 76, 92, false, false},
        {42, 72, 50, 72, false, true}, {50, 72, 50, 45, false, true}, {50, 45, 58, 45, false, false}, /* memory */
        {76, 20, 96, 20, true, true}, {96, 20, 96, 35.5, true, true}, {96, 35.5, 94, 35.5, true, false}, /* residual */
        {76, 40, 96, 40, true, true}, {96, 40, 96, 53.5, true, true}, {96, 53.5, 94, 53.5, true, false}, /* residual */
        {76, 58, 96, 58, true, true}, {96, 58, 96, 71.5, true, true}, {96, 71.5, 94, 71.5, true, false}, /* residual */
    };
    plot_diagram(&ch->plot, "diagram", "The Transformer of §2.2, corrected", boxes, (int)(sizeof boxes / sizeof boxes[0]),
                 arrows, (int)(sizeof arrows / sizeof arrows[0]), 1000, 900);
}

/* ---- 7. Whole-block gradient checks ---- */
typedef struct {
    bool decoder;
    NormPlacement norm;
    BlockParams *bp;
    BlockCache *bc;
    DecParams *dp;
    DecCache *dc;
    Tensor *x, *mem, *out, *R;
} BlockLoss;

static double block_loss(void *v) {
    BlockLoss *l = v;
    if (l->decoder) dec_forward(l->out, l->dc, l->dp, l->x, l->mem, l->norm, false);
    else block_forward(l->out, l->bc, l->bp, l->x, l->norm, ACT_GELU);
    return tensor_dot(l->out, l->R);
}

static void section_gradcheck(Chapter *ch) {
    const int Ts = ch->src.T, Tt = ch->tgt.T, C = ch->C, F = ch->F;
    print_section(stdout, 7, "Whole-block gradient checks");
    printf("  Every parameter tensor and the input (for the decoder also the encoder output it attends\n"
           "  to), sampled, against finite differences (common/gradcheck.h), L = sum(out * R):\n\n");
    printf("  %-28s %10s %16s\n", "block", "checked", "largest error");
    double worst = 0;
    for (int kind = 0; kind < 4; kind++) {
        const bool decoder = kind >= 2;
        const NormPlacement norm = kind % 2 ? NORM_PRE : NORM_POST;
        Rng rng;
        rng_seed(&rng, ch->seed, 93 + (uint64_t)kind);
        const int T = decoder ? Tt : Ts;
        Tensor x = tensor_new(T, C), mem = tensor_new(Ts, C), out = tensor_new(T, C), R = tensor_new(T, C);
        Tensor dx = tensor_new(T, C), dmem = tensor_new(Ts, C);
        tensor_copy(&x, decoder ? &ch->Xt : &ch->Xs);
        tensor_randn(&mem, &rng, 1.0f);
        tensor_randn(&R, &rng, 1.0f);
        BlockParams bp, bg;
        BlockCache bc;
        DecParams dp, dg;
        DecCache dc;
        memset(&bc, 0, sizeof bc);
        GradPair pairs[DEC_N_TENSORS + 2];
        int n = 0;
        BlockLoss l = {decoder, norm, &bp, &bc, &dp, &dc, &x, &mem, &out, &R};
        if (!decoder) {
            block_params_layout(&bp, C, F, NULL), block_params_layout(&bg, C, F, NULL);
            /* weights at the usual 1/sqrt(fan-in) scale, biases and norm parameters nonzero */
            for (int i = 0; i < BLOCK_N_TENSORS; i++) {
                const char *name;
                Tensor *t = block_tensor(&bp, i, &name);
                tensor_randn(t, &rng, t->rows > 1 ? 1.0f / sqrtf((float)t->rows) : 0.2f);
                if (strstr(name, ".g")) for (int k = 0; k < t->cols; k++) t->data[k] += 1.0f;
            }
            block_cache_layout(&bc, 1, T, C, ch->H, F, false, NULL);
            block_loss(&l);
            block_backward(&dx, &bg, &R, &bc, &bp, norm, ACT_GELU);
            pairs[n++] = (GradPair){"x", &x, &dx};
            for (int i = 0; i < BLOCK_N_TENSORS; i++) {
                const char *name;
                Tensor *t = block_tensor(&bp, i, &name);
                pairs[n++] = (GradPair){name, t, block_tensor(&bg, i, NULL)};
            }
        } else {
            dec_params_init(&dp, C, F, &rng, 0.3f), dec_params_init(&dg, C, F, NULL, 0);
            for (int i = 0; i < DEC_N_TENSORS; i++) {
                const char *name;
                Tensor *t = dec_tensor(&dp, i, &name);
                tensor_randn(t, &rng, t->rows > 1 ? 1.0f / sqrtf((float)t->rows) : 0.2f);
                if (strstr(name, ".g")) for (int k = 0; k < t->cols; k++) t->data[k] += 1.0f;
            }
            dec_cache_init(&dc, T, Ts, C, ch->H, F);
            block_loss(&l);
            dec_backward(&dx, &dmem, &dg, &R, &dc, &dp, &mem, norm);
            pairs[n++] = (GradPair){"y", &x, &dx};
            pairs[n++] = (GradPair){"memory", &mem, &dmem};
            for (int i = 0; i < DEC_N_TENSORS; i++) {
                const char *name;
                Tensor *t = dec_tensor(&dp, i, &name);
                pairs[n++] = (GradPair){name, t, dec_tensor(&dg, i, NULL)};
            }
        }
        GradResult r = gradcheck(block_loss, &l, pairs, n, 12, false, &rng);
        char label[48];
        snprintf(label, sizeof label, "%s, %s", decoder ? "decoder" : "encoder", norm == NORM_PRE ? "pre-norm" : "post-norm");
        printf("  %-28s %10d %16.2e   (worst: %s)\n", label, r.checked, r.max_error, r.worst);
        worst = fmax(worst, r.max_error);
        if (!decoder) block_params_free(&bp), block_params_free(&bg), block_cache_free(&bc);
        else dec_params_free(&dp), dec_params_free(&dg), dec_cache_free(&dc);
        tensor_free(&x), tensor_free(&mem), tensor_free(&out), tensor_free(&R), tensor_free(&dx), tensor_free(&dmem);
    }
    printf("\n  Largest error %.2e (tolerance %g): %s.\n", worst, GRADCHECK_TOL,
           worst < GRADCHECK_TOL ? "every backward pass agrees" : "MISMATCH");
}

/* ---- 8. The model of common/model.c ---- */
static void section_model(Chapter *ch, const ModelConfig *cfg) {
    print_section(stdout, 8, "The stacked model that chapters 10 and 11 train");
    const int T = ch->src.T;
    printf("  common/model.c: token embedding + positions -> %d blocks -> %s -> output projection ->\n"
           "  softmax, with one forward (logits and loss) and one backward. A toy vocabulary: the\n"
           "  %d distinct words of the sentence,", cfg->layers, cfg->norm == NORM_PRE ? "final layer norm" : "(no final norm)",
           cfg->vocab);
    for (int i = 0; i < cfg->vocab && i < 12; i++) printf(" %s", ch->words[i]);
    if (cfg->vocab > 12) printf(" ...");
    printf(" (V = %d).\n\n", cfg->vocab);
    Model m;
    model_init(&m, cfg, 1, ch->seed);
    int ids[DEMO_MAX_TOKENS], targets[DEMO_MAX_TOKENS];
    for (int t = 0; t < T; t++) ids[t] = word_id(ch, ch->src.tokens[t]); /* < n_src: source words come first */
    for (int t = 0; t < T; t++) targets[t] = t + 1 < T ? ids[t + 1] : -1;
    double loss = model_forward(&m, ids, targets, 1, T);
    printf("  next-word loss of the untrained model: %.4f nats (ln V = %.4f: a uniform guess)\n", loss, log(cfg->vocab));
    Tensor before = tensor_new(T, cfg->vocab);
    tensor_copy(&before, &m.logits);
    ids[T - 1] = (ids[T - 1] + 1) % cfg->vocab; /* another word: main asks for 2 distinct ones */
    model_forward(&m, ids, targets, 1, T);
    int same = 0;
    for (int t = 0; t < T - 1; t++) same += tensor_rows_identical(&before, &m.logits, t);
    printf("  change the last word (to %s): logits at positions 0..%d that keep every bit: %d of %d (%s)\n",
           ch->words[ids[T - 1]], T - 2, same, T - 1, same == T - 1 ? "causal" : "NOT causal");
    tensor_free(&before);
    model_free(&m);
}

/* ---- 9. An encoder-decoder, end to end ---- */
static void section_end_to_end(Chapter *ch) {
    const int Ts = ch->src.T, Tt = ch->tgt.T, C = ch->C, F = ch->F, N = ch->N, V = ch->n_words;
    print_section(stdout, 9, "An encoder-decoder, end to end (untrained)");
    printf("  N = %d encoder blocks over the source, N = %d decoder blocks over the target, every decoder\n"
           "  block attending to the final encoder output; then linear (C -> V) and softmax over a toy\n"
           "  vocabulary of the %d distinct source and target words (V = %d).\n\n", N, N, V, V);
    Rng rng;
    rng_seed(&rng, ch->seed, 99);
    BlockParams *ep = xmalloc(sizeof(BlockParams) * (size_t)N);
    BlockCache *ec = xcalloc((size_t)N, sizeof(BlockCache));
    DecParams *dp = xmalloc(sizeof(DecParams) * (size_t)N);
    DecCache *dc = xmalloc(sizeof(DecCache) * (size_t)N);
    Tensor h = tensor_new(Ts, C), h2 = tensor_new(Ts, C), y = tensor_new(Tt, C), y2 = tensor_new(Tt, C);
    tensor_copy(&h, &ch->Xs);
    for (int n = 0; n < N; n++) {
        block_params_layout(&ep[n], C, F, NULL);
        block_params_randomize(&ep[n], &rng, 1.0f / sqrtf((float)C), 1.0f / sqrtf((float)F));
        block_cache_layout(&ec[n], 1, Ts, C, ch->H, F, false, NULL);
        block_forward(&h2, &ec[n], &ep[n], &h, NORM_POST, ACT_GELU);
        tensor_copy(&h, &h2);
    }
    tensor_copy(&y, &ch->Xt);
    for (int n = 0; n < N; n++) {
        dec_params_init(&dp[n], C, F, &rng, 1.0f / sqrtf((float)C));
        dec_cache_init(&dc[n], Tt, Ts, C, ch->H, F);
        dec_forward(&y2, &dc[n], &dp[n], &y, &h, NORM_POST, false);
        tensor_copy(&y, &y2);
    }
    Tensor Wout = tensor_new(C, V), logits = tensor_new(Tt, V), probs = tensor_new(Tt, V);
    tensor_randn(&Wout, &rng, 1.0f / sqrtf((float)C));
    tensor_matmul(&logits, &y, &Wout);
    tensor_softmax_rows(&probs, &logits, NULL);
    PrintOpts po = ch->po;
    po.row_labels = (const char *const *)ch->tgt.tokens;
    po.col_labels = ch->words;
    print_matrix(stdout, "P(next word | target so far, source)", &probs, &po);
    double worst = 0;
    for (int t = 0; t < Tt; t++) {
        double s = 0;
        for (int v = 0; v < V; v++) s += *tensor_at(&probs, t, v);
        worst = fmax(worst, fabs(s - 1));
    }
    double top = 0;
    for (int i = 0; i < Tt * V; i++) top = fmax(top, probs.data[i]);
    printf("\n  Each row is a distribution over the %d words (largest |sum - 1| = %.1e). The weights are\n"
           "  random, so the preferences (up to %.3f here) mean nothing yet; chapter 10 trains the\n"
           "  decoder-only half of this picture.\n", V, worst, top);
    for (int n = 0; n < N; n++) block_params_free(&ep[n]), block_cache_free(&ec[n]), dec_params_free(&dp[n]), dec_cache_free(&dc[n]);
    free(ep), free(ec), free(dp), free(dc);
    tensor_free(&h), tensor_free(&h2), tensor_free(&y), tensor_free(&y2), tensor_free(&Wout), tensor_free(&logits), tensor_free(&probs);
}

static int count_words(const char *text) {
    int n = 0;
    for (const char *p = text; *p;) {
        p += strspn(p, " \t\r\n");
        size_t len = strcspn(p, " \t\r\n");
        if (!len) break;
        n++;
        p += len;
    }
    return n;
}

/* embeddings + positions of a sentence */
static void embed(Tensor *X, const AttnDemo *d) {
    *X = tensor_new(d->T, d->d_model);
    posenc_sinusoidal(X);
    tensor_add(X, X, &d->X);
}

/* ==== the flags and the shared state ==== */

/* The defaults, the option table (the example's, then this chapter's own), parsing and the check
 * that needs two flags. */
static void parse_flags(Chapter *ch, int argc, char **argv) {
    memset(ch, 0, sizeof *ch);
    ch->flags = demo_flags_default();
    ch->flags.d_model = 16;
    ch->common = cli_common_defaults();
    ch->heads = 2, ch->d_ff = 64, ch->layers = 2;
    ch->target = "a cat sat";
    CliOption *o = ch->opts;
    int n = demo_cli_options(o, &ch->flags, false);
    o[n++] = cli_string("--target", &ch->target, "TEXT", "the decoder's sentence (words separated by spaces)");
    o[n++] = cli_int("--heads", &ch->heads, 1, 64, "H", "attention heads (must divide --d-model)");
    o[n++] = cli_int("--d-ff", &ch->d_ff, 1, 8192, "F", "width of the FFN's hidden layer");
    o[n++] = cli_int("--layers", &ch->layers, 1, 64, "N", "blocks in the stacks of sections 8 and 9");
    CliSpec spec = {CHAPTER, "The full Transformer block (source document §2.2): encoder and decoder blocks, post-\n"
                             "and pre-norm, parameter counts, the corrected diagram, gradient checks, the model.",
                    o, n};
    cli_parse(&spec, &ch->common, argc, argv);
    if (ch->flags.d_model % ch->heads)
        die(EXIT_USAGE, "--heads: %lld does not divide --d-model %lld; choose a divisor of %lld", ch->heads,
            ch->flags.d_model, ch->flags.d_model);
}

/* The decoder's sentence: all the words of --target, checked here so that a problem is reported
 * as --target's; the other settings are the source's. */
static void build_target(Chapter *ch) {
    DemoFlags tf = ch->flags;
    const int n_target = count_words(ch->target);
    if (util_utf8_invalid_at(ch->target, strlen(ch->target)) >= 0) die(EXIT_USAGE, "--target: not valid UTF-8");
    if (n_target < 2 || n_target > DEMO_MAX_TOKENS)
        die(EXIT_USAGE, "--target: needs 2 to %d words, got %d", DEMO_MAX_TOKENS, n_target);
    tf.sentence = ch->target;
    tf.tokens = n_target;
    tf.tokens_option = NULL;
    demo_build(&ch->tgt, &tf, (uint64_t)ch->common.seed);
}

/* The two sentences and their embeddings, the sizes, the print and plot settings, and the toy
 * vocabulary (the source's words first). */
static void build_chapter(Chapter *ch) {
    ch->flags.d_k = ch->flags.d_model;
    demo_build(&ch->src, &ch->flags, (uint64_t)ch->common.seed);
    build_target(ch);
    ch->C = (int)ch->flags.d_model, ch->H = (int)ch->heads, ch->F = (int)ch->d_ff, ch->N = (int)ch->layers;
    ch->seed = (uint64_t)ch->common.seed;
    embed(&ch->Xs, &ch->src);
    embed(&ch->Xt, &ch->tgt);
    ch->po = print_defaults();
    ch->po.precision = (int)ch->common.precision;
    ch->po.color = print_color_wanted();
    ch->po.row_labels = (const char *const *)ch->src.tokens;
    plot_init(&ch->plot, &ch->common, CHAPTER, stdout);
    add_words(ch, &ch->src);
    ch->n_src = ch->n_words;
    if (ch->n_src < 2) die(EXIT_USAGE, "--sentence: needs 2 or more distinct words (the vocabulary of section 8), got 1");
    add_words(ch, &ch->tgt);
}

/* The GPT of sections 5 and 8: the chapter's sizes over the source's words, pre-norm and causal. */
static ModelConfig gpt_config(const Chapter *ch) {
    return (ModelConfig){.vocab = ch->n_src, .d_model = ch->C, .heads = ch->H, .d_ff = ch->F, .layers = ch->N,
                         .max_len = 64, .causal = true, .norm = NORM_PRE, .pos = POS_SINUSOIDAL, .act = ACT_GELU,
                         .tied = true};
}

/* The title, the two sentences and the sizes. */
static void print_title(const Chapter *ch) {
    printf("Chapter 9: the Transformer block (source document §2.2)\n\n  source: ");
    for (int t = 0; t < ch->src.T; t++) printf("%s%s", t ? " " : "", ch->src.tokens[t]);
    printf("   target: ");
    for (int t = 0; t < ch->tgt.T; t++) printf("%s%s", t ? " " : "", ch->tgt.tokens[t]);
    printf("\n  d_model = %d, h = %d, d_ff = %d, N = %d, seed = %lld\n", ch->C, ch->H, ch->F, ch->N,
           ch->common.seed);
}

/* Free what build_chapter made. */
static void free_chapter(Chapter *ch) {
    tensor_free(&ch->Xs), tensor_free(&ch->Xt);
    demo_free(&ch->src), demo_free(&ch->tgt);
}

int main(int argc, char **argv) {
    Chapter ch;
    parse_flags(&ch, argc, argv);
    build_chapter(&ch);
    const ModelConfig gpt = gpt_config(&ch);

    print_title(&ch);
    section_input(&ch);
    encoder_journey(&ch, NORM_POST, 2);
    encoder_journey(&ch, NORM_PRE, 3);
    section_decoder(&ch);
    section_parameters(&ch, &gpt);
    section_diagram(&ch);
    section_gradcheck(&ch);
    section_model(&ch, &gpt);
    section_end_to_end(&ch);

    free_chapter(&ch);
    return 0;
}
