/* block: one Transformer block, forward and backward (see block.h). */
#include "block.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void block_params_layout(BlockParams *p, int C, int d_ff, Arena *a) {
    p->ln1_g = arena_take(a, 1, C), p->ln1_b = arena_take(a, 1, C);
    mha_params_layout(&p->attn, C, a);
    p->ln2_g = arena_take(a, 1, C), p->ln2_b = arena_take(a, 1, C);
    ffn_params_layout(&p->ffn, C, d_ff, a);
}

void block_params_randomize(BlockParams *p, Rng *rng, float std, float proj_std) {
    tensor_fill(&p->ln1_g, 1.0f), tensor_fill(&p->ln2_g, 1.0f);
    tensor_fill(&p->ln1_b, 0.0f), tensor_fill(&p->ln2_b, 0.0f);
    tensor_randn(&p->attn.Wq, rng, std), tensor_randn(&p->attn.Wk, rng, std), tensor_randn(&p->attn.Wv, rng, std);
    tensor_randn(&p->attn.Wo, rng, proj_std);
    tensor_fill(&p->attn.bq, 0.0f), tensor_fill(&p->attn.bk, 0.0f), tensor_fill(&p->attn.bv, 0.0f);
    tensor_fill(&p->attn.bo, 0.0f);
    tensor_randn(&p->ffn.W1, rng, std), tensor_randn(&p->ffn.W2, rng, proj_std);
    tensor_fill(&p->ffn.b1, 0.0f), tensor_fill(&p->ffn.b2, 0.0f);
}

void block_params_free(BlockParams *p) {
    for (int i = 0; i < BLOCK_N_TENSORS; i++) tensor_free(block_tensor(p, i, NULL));
}

Tensor *block_tensor(BlockParams *p, int i, const char **name) {
    static const char *const names[BLOCK_N_TENSORS] = {
        "ln1.g", "ln1.b", "attn.Wq", "attn.Wk", "attn.Wv", "attn.Wo", "attn.bq", "attn.bk",
        "attn.bv", "attn.bo", "ln2.g", "ln2.b", "ffn.W1", "ffn.b1", "ffn.W2", "ffn.b2"};
    Tensor *all[BLOCK_N_TENSORS] = {&p->ln1_g, &p->ln1_b, &p->attn.Wq, &p->attn.Wk, &p->attn.Wv, &p->attn.Wo,
                                    &p->attn.bq, &p->attn.bk, &p->attn.bv, &p->attn.bo, &p->ln2_g, &p->ln2_b,
                                    &p->ffn.W1, &p->ffn.b1, &p->ffn.W2, &p->ffn.b2};
    if (name) *name = names[i];
    return all[i];
}

long block_param_count(int C, int d_ff) {
    return 4L * C * C + 4L * C + 2L * C * d_ff + d_ff + C + 4L * C;
}

void block_cache_place(BlockCache *c, int B, int T, int C, int H, int d_ff, bool causal, BlockPlace at) {
    mha_cache_layout_shared(&c->attn, B, T, T, C, H, causal, at.keep, at.work);
    ffn_cache_layout_shared(&c->ffn, B * T, d_ff, at.keep, at.work);
    if (at.input) {
        CHECK(at.input->rows == B * T && at.input->cols == C, "block input (%d, %d) for %d x %d rows of %d", at.input->rows,
              at.input->cols, B, T, C);
        c->x = *at.input;
        c->x.owner = false;
    } else {
        c->x = arena_take(at.keep, B * T, C);
    }
    Tensor *tc[] = {&c->a_in, &c->att, &c->s1, &c->mid, &c->f_in, &c->f, &c->s2, &c->ds2, &c->dmid, &c->dfin, &c->ds1, &c->dain};
    const bool kept[] = {false, false, true, true, false, false, true, false, false, false, false, false};
    for (size_t i = 0; i < sizeof tc / sizeof tc[0]; i++) *tc[i] = arena_take(kept[i] ? at.keep : at.work, B * T, C);
    Tensor *t1[] = {&c->mean1, &c->rstd1, &c->mean2, &c->rstd2};
    for (size_t i = 0; i < sizeof t1 / sizeof t1[0]; i++) *t1[i] = arena_take(at.keep, B * T, 1);
}

void block_cache_layout(BlockCache *c, int B, int T, int C, int H, int d_ff, bool causal, Arena *a) {
    block_cache_place(c, B, T, C, H, d_ff, causal, (BlockPlace){a, a, NULL});
}

void block_cache_free(BlockCache *c) {
    mha_cache_free(&c->attn);
    ffn_cache_free(&c->ffn);
    Tensor *all[] = {&c->x, &c->a_in, &c->att, &c->s1, &c->mid, &c->f_in, &c->f, &c->s2,
                     &c->mean1, &c->rstd1, &c->mean2, &c->rstd2, &c->ds2, &c->dmid, &c->dfin, &c->ds1, &c->dain};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tensor_free(all[i]);
}

void block_forward(Tensor *out, BlockCache *c, const BlockParams *p, const Tensor *x, NormPlacement norm,
                   Activation act) {
    if (c->x.data != x->data) tensor_copy(&c->x, x); /* (a model's cache holds its input in place) */
    /* the attention's input: LN1(x) (pre), x itself (post) */
    if (norm == NORM_PRE) layernorm_forward(&c->a_in, &c->mean1, &c->rstd1, x, &p->ln1_g, &p->ln1_b, BLOCK_LN_EPS);
    mha_forward(&c->att, &c->attn, &p->attn, norm == NORM_PRE ? &c->a_in : &c->x);  /* (T, C) -> (T, C) */
    /* residual 1: s1 = x + att, then mid = LN1(s1) (post); pre-norm's mid is s1 itself, written
     * there directly (s1 is kept only for post-norm's backward pass) */
    if (norm == NORM_POST) {
        tensor_add(&c->s1, x, &c->att);
        layernorm_forward(&c->mid, &c->mean1, &c->rstd1, &c->s1, &p->ln1_g, &p->ln1_b, BLOCK_LN_EPS);
    } else {
        tensor_add(&c->mid, x, &c->att);
    }
    if (c->attn.hook) c->attn.hook->fn(c->attn.hook, HOOK_MID, c->attn.layer, &c->mid);
    /* the FFN's input: LN2(mid) (pre), mid itself (post) */
    if (norm == NORM_PRE) layernorm_forward(&c->f_in, &c->mean2, &c->rstd2, &c->mid, &p->ln2_g, &p->ln2_b, BLOCK_LN_EPS);
    ffn_forward(&c->f, &c->ffn, &p->ffn, norm == NORM_PRE ? &c->f_in : &c->mid, act); /* (T, C) -> (T, d_ff) -> (T, C) */
    /* residual 2: s2 = mid + f, then out = LN2(s2) (post), or out = s2 written directly (pre) */
    if (norm == NORM_POST) {
        tensor_add(&c->s2, &c->mid, &c->f);
        layernorm_forward(out, &c->mean2, &c->rstd2, &c->s2, &p->ln2_g, &p->ln2_b, BLOCK_LN_EPS);
    } else {
        tensor_add(out, &c->mid, &c->f);
    }
}

void block_backward(Tensor *dx, BlockParams *g, const Tensor *dout, BlockCache *c, const BlockParams *p,
                    NormPlacement norm, Activation act) {
    /* Where a step is the identity (the norms of the other placement), its gradient is the incoming
     * one itself: ds2 = dout and ds1 = dmid are then the same tensors, not copies. The buffers that
     * a backward pass adds into are zeroed first. */
    Tensor ds2 = *dout, ds1, dmid = c->dmid, dfin = c->dfin, dain = c->dain;
    /* out = LN2(s2) (post) or s2 (pre) */
    if (norm == NORM_POST) {
        ds2 = c->ds2;
        tensor_fill(&ds2, 0.0f);
        layernorm_backward(&ds2, &g->ln2_g, &g->ln2_b, dout, &c->s2, &c->mean2, &c->rstd2, &p->ln2_g);
    }
    /* s2 = mid + f: both branches receive ds2. The FFN's input f_in = LN2(mid) was not kept (it
     * may share its memory with other blocks'): made again from mid and the kept mean and rstd,
     * the same bits */
    tensor_copy(&dmid, &ds2);
    tensor_fill(&dfin, 0.0f);
    if (norm == NORM_PRE) layernorm_apply(&c->f_in, &c->mean2, &c->rstd2, &c->mid, &p->ln2_g, &p->ln2_b);
    ffn_backward(&dfin, &g->ffn, &ds2, &c->ffn, &p->ffn, norm == NORM_PRE ? &c->f_in : &c->mid, act);
    /* f_in = LN2(mid) (pre) or mid (post) */
    if (norm == NORM_PRE) layernorm_backward(&dmid, &g->ln2_g, &g->ln2_b, &dfin, &c->mid, &c->mean2, &c->rstd2, &p->ln2_g);
    else tensor_add(&dmid, &dmid, &dfin);
    /* mid = LN1(s1) (post) or s1 (pre) */
    ds1 = dmid;
    if (norm == NORM_POST) {
        ds1 = c->ds1;
        tensor_fill(&ds1, 0.0f);
        layernorm_backward(&ds1, &g->ln1_g, &g->ln1_b, &dmid, &c->s1, &c->mean1, &c->rstd1, &p->ln1_g);
    }
    /* s1 = x + att: x receives ds1 directly, and through attention */
    tensor_add(dx, dx, &ds1);
    tensor_fill(&dain, 0.0f);
    if (norm == NORM_PRE) layernorm_apply(&c->a_in, &c->mean1, &c->rstd1, &c->x, &p->ln1_g, &p->ln1_b);
    mha_backward(&dain, &g->attn, &ds1, &c->attn, &p->attn, norm == NORM_PRE ? &c->a_in : &c->x);
    /* a_in = LN1(x) (pre) or x (post) */
    if (norm == NORM_PRE) layernorm_backward(dx, &g->ln1_g, &g->ln1_b, &dain, &c->x, &c->mean1, &c->rstd1, &p->ln1_g);
    else tensor_add(dx, dx, &dain);
}

/* ==== one new row (the key/value cache's step) ==== */

void block_row_init(BlockRow *r, int C, int d_ff, int max_len) {
    Tensor *rows[] = {&r->a, &r->q, &r->att, &r->concat, &r->s1, &r->f_in, &r->f};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) *rows[i] = tensor_new(1, C);
    r->dadh = tensor_new(1, d_ff), r->act = tensor_new(1, d_ff);
    r->mean = tensor_new(1, 1), r->rstd = tensor_new(1, 1);
    r->scores = tensor_new(1, max_len), r->weights = tensor_new(1, max_len);
}

void block_row_free(BlockRow *r) {
    Tensor *all[] = {&r->a, &r->q, &r->att, &r->concat, &r->s1, &r->f_in, &r->f, &r->dadh, &r->act,
                     &r->mean, &r->rstd, &r->scores, &r->weights};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tensor_free(all[i]);
}

/* Attention for row t: its query against keys 0 .. t (nothing to mask: no later row exists yet). */
static void attend_row(BlockRow *r, const MhaParams *p, Tensor *K, Tensor *V, int t, int heads) {
    const int hs = r->q.cols / heads;
    Tensor krow = tensor_row(K, t), vrow = tensor_row(V, t);
    linear_forward(&r->q, &r->a, &p->Wq, &p->bq); /* (1, C) x (C, C) */
    linear_forward(&krow, &r->a, &p->Wk, &p->bk); /* this row's key and value join the cache */
    linear_forward(&vrow, &r->a, &p->Wv, &p->bv);
    for (int h = 0; h < heads; h++) {
        Tensor qh = tensor_view(&r->q, 0, h * hs, 1, hs), kh = tensor_view(K, 0, h * hs, t + 1, hs);
        Tensor vh = tensor_view(V, 0, h * hs, t + 1, hs), oh = tensor_view(&r->concat, 0, h * hs, 1, hs);
        Tensor sc = tensor_view(&r->scores, 0, 0, 1, t + 1), w = tensor_view(&r->weights, 0, 0, 1, t + 1);
        attention_forward(&oh, &sc, &w, &qh, &kh, &vh, NULL, NULL); /* (1, hs) x (hs, t+1) ... -> (1, hs) */
    }
    linear_forward(&r->att, &r->concat, &p->Wo, &p->bo);
}

void block_step(Tensor *x, BlockRow *r, const BlockParams *p, Tensor *K, Tensor *V, int t, int heads,
                NormPlacement norm, Activation act) {
    const bool pre = norm == NORM_PRE;
    if (pre) layernorm_forward(&r->a, &r->mean, &r->rstd, x, &p->ln1_g, &p->ln1_b, BLOCK_LN_EPS);
    else tensor_copy(&r->a, x);
    attend_row(r, &p->attn, K, V, t, heads);
    tensor_add(&r->s1, x, &r->att); /* s1 = x + att; post-norm: mid = LN1(s1), written over s1 */
    if (!pre) layernorm_forward(&r->s1, &r->mean, &r->rstd, &r->s1, &p->ln1_g, &p->ln1_b, BLOCK_LN_EPS);
    const Tensor *mid = &r->s1;
    if (pre) layernorm_forward(&r->f_in, &r->mean, &r->rstd, mid, &p->ln2_g, &p->ln2_b, BLOCK_LN_EPS);
    else tensor_copy(&r->f_in, mid);
    ffn_hidden(&r->dadh, &r->act, &p->ffn, &r->f_in, act); /* (1, C) -> (1, d_ff) */
    linear_forward(&r->f, &r->act, &p->ffn.W2, &p->ffn.b2);  /* (1, d_ff) -> (1, C) */
    tensor_add(x, mid, &r->f); /* s2 = mid + f; post-norm: out = LN2(s2) */
    if (!pre) layernorm_forward(x, &r->mean, &r->rstd, x, &p->ln2_g, &p->ln2_b, BLOCK_LN_EPS);
}
