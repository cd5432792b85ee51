/* model: the stacked Transformer (see model.h). */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "util.h"

const char *model_config_error(const ModelConfig *c) {
    if (c->vocab < 2) return "the vocabulary needs at least 2 tokens";
    if (c->d_model < 1 || c->heads < 1 || c->d_ff < 1 || c->layers < 1 || c->max_len < 1) return "every size must be positive";
    if (c->d_model % c->heads != 0) return "the number of heads must divide d_model";
    return NULL;
}

long model_param_count(const ModelConfig *c) {
    const long C = c->d_model, V = c->vocab;
    long n = V * C + c->layers * block_param_count(c->d_model, c->d_ff);
    if (c->pos == POS_LEARNED) n += (long)c->max_len * C;
    if (c->norm == NORM_PRE) n += 2 * C;
    if (!c->tied) n += C * V;
    return n;
}

/* ==== layout ==== */

static void layout_params(ModelParams *p, const ModelConfig *c, Arena *a) {
    p->wte = arena_take(a, c->vocab, c->d_model);
    if (c->pos == POS_LEARNED) p->wpe = arena_take(a, c->max_len, c->d_model);
    for (int l = 0; l < c->layers; l++) block_params_layout(&p->block[l], c->d_model, c->d_ff, a);
    if (c->norm == NORM_PRE) p->lnf_g = arena_take(a, 1, c->d_model), p->lnf_b = arena_take(a, 1, c->d_model);
    if (!c->tied) p->lm_head = arena_take(a, c->d_model, c->vocab);
}

/* The activations: what the backward pass reads is kept per block; what lives within one block's
 * pass only (BlockPlace's `work`), and the output layer's gradients dlogits and dxf (dead before the
 * first block's backward pass), lie over one region shared by all (docs/performance.md, "Memory").
 * Block l's input is the residual stream x[l] itself, not a copy. */
static void layout_acts(Model *m, int B, int T, Arena *a) {
    const ModelConfig *c = &m->cfg;
    const int C = c->d_model, BT = B * T;
    m->pe = arena_take(a, c->max_len, C); /* first: the same place for every shape */
    for (int l = 0; l <= c->layers; l++) m->x[l] = arena_take(a, BT, C);
    /* the shared region's size: one block's work (counted on block 0's cache, laid out for real
     * below), or the output layer's two gradients if they are larger */
    Arena keep_count = {NULL, 0}, work_count = {NULL, 0};
    block_cache_place(&m->cache[0], B, T, C, c->heads, c->d_ff, c->causal, (BlockPlace){&keep_count, &work_count, &m->x[0]});
    const size_t head_work = (size_t)BT * (size_t)(c->vocab + C), work_floats = work_count.used > head_work ? work_count.used : head_work;
    Arena work = {a->base ? a->base + a->used : NULL, 0};
    a->used += work_floats;
    for (int l = 0; l < c->layers; l++) {
        work.used = 0; /* every block's work from the region's start */
        block_cache_place(&m->cache[l], B, T, C, c->heads, c->d_ff, c->causal, (BlockPlace){a, &work, &m->x[l]});
    }
    work.used = 0;
    m->dlogits = arena_take(&work, BT, c->vocab), m->dxf = arena_take(&work, BT, C);
    m->xf = arena_take(a, BT, C), m->lnf_mean = arena_take(a, BT, 1), m->lnf_rstd = arena_take(a, BT, 1);
    m->logits = arena_take(a, BT, c->vocab), m->probs = arena_take(a, BT, c->vocab);
    m->dx_a = arena_take(a, BT, C), m->dx_b = arena_take(a, BT, C);
    m->B = B, m->T = T;
}

/* Lay the activation views out for B sequences of T tokens inside the one allocation. The
 * sinusoidal table comes first in it whatever the shape, so it is computed once (model_init). */
static void use_shape(Model *m, int B, int T) {
    if (m->B == B && m->T == T) return;
    Arena a = {m->act_mem, 0};
    layout_acts(m, B, T, &a);
}

static void list_tensors(Model *m) {
    const ModelConfig *c = &m->cfg;
    const int max = 5 + BLOCK_N_TENSORS * c->layers; /* wte, wpe, the blocks, lnf.g, lnf.b, lm_head */
    m->tensors = xmalloc(sizeof(ModelTensor) * (size_t)max);
    m->names = xmalloc(sizeof *m->names * (size_t)max);
    int n = 0;
#define ADD(label, P, G, DECAY)                                                                   \
    do {                                                                                          \
        snprintf(m->names[n], sizeof m->names[n], "%s", label);                                   \
        m->tensors[n] = (ModelTensor){m->names[n], (P), (G), (DECAY)};                            \
        n++;                                                                                      \
    } while (0)
    ADD("wte", &m->params.wte, &m->grads.wte, false);
    if (c->pos == POS_LEARNED) ADD("wpe", &m->params.wpe, &m->grads.wpe, false);
    for (int l = 0; l < c->layers; l++)
        for (int i = 0; i < BLOCK_N_TENSORS; i++) {
            const char *name;
            Tensor *p = block_tensor(&m->params.block[l], i, &name), *g = block_tensor(&m->grads.block[l], i, NULL);
            char label[48];
            snprintf(label, sizeof label, "block%d.%s", l, name);
            ADD(label, p, g, p->rows > 1); /* matrices decay; gains and biases (one row) do not */
        }
    if (c->norm == NORM_PRE) {
        ADD("lnf.g", &m->params.lnf_g, &m->grads.lnf_g, false);
        ADD("lnf.b", &m->params.lnf_b, &m->grads.lnf_b, false);
    }
    if (!c->tied) ADD("lm_head", &m->params.lm_head, &m->grads.lm_head, true);
#undef ADD
    m->n_tensors = n;
}

void model_init(Model *m, const ModelConfig *cfg, int max_batch, uint64_t seed) {
    const char *err = model_config_error(cfg);
    CHECK(err == NULL, "model configuration: %s", err);
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    const ModelConfig *c = &m->cfg;
    m->params.block = xcalloc((size_t)c->layers, sizeof(BlockParams));
    m->grads.block = xcalloc((size_t)c->layers, sizeof(BlockParams));
    Arena count = {NULL, 0};
    layout_params(&m->params, c, &count);
    m->n_params = count.used;
    CHECK((long)m->n_params == model_param_count(c), "layout %zu != formula %ld", m->n_params, model_param_count(c));
    m->max_batch = max_batch;
    m->x = xmalloc(sizeof(Tensor) * (size_t)(c->layers + 1));
    m->cache = xcalloc((size_t)c->layers, sizeof(BlockCache));
    Arena acount = {NULL, 0};
    layout_acts(m, max_batch, c->max_len, &acount);
    m->act_floats = acount.used;
    /* Refuse a size the machine cannot hold before allocating any of it: parameters, gradients,
     * AdamW's two moments, and the activations (each block's attention weights among them). */
    const double need = 4.0 * (4.0 * (double)m->n_params + (double)m->act_floats);
    const double have = util_physical_memory();
    if (have > 0 && need > have)
        die(EXIT_USAGE, "this model would need %.1f GiB of memory (%zu parameters, activations for %d x %d tokens), "
                        "more than this machine's %.1f GiB: make it or the batch smaller",
            need / (1 << 30), m->n_params, max_batch, c->max_len, have / (1 << 30));
    m->param_mem = xcalloc(m->n_params, sizeof(float));
    m->grad_mem = xcalloc(m->n_params, sizeof(float));
    Arena pa = {m->param_mem, 0}, ga = {m->grad_mem, 0};
    layout_params(&m->params, c, &pa);
    layout_params(&m->grads, c, &ga);
    list_tensors(m);

    Rng rng;
    rng_seed(&rng, seed, 0x6d6f64656cULL);
    const float std = 0.02f, proj = 0.02f / sqrtf(2.0f * (float)c->layers);
    tensor_randn(&m->params.wte, &rng, std);
    if (c->pos == POS_LEARNED) tensor_randn(&m->params.wpe, &rng, 0.01f);
    for (int l = 0; l < c->layers; l++) block_params_randomize(&m->params.block[l], &rng, std, proj);
    if (c->norm == NORM_PRE) tensor_fill(&m->params.lnf_g, 1.0f);
    if (!c->tied) tensor_randn(&m->params.lm_head, &rng, std);

    m->act_mem = xcalloc(m->act_floats, sizeof(float));
    m->ids = xmalloc(sizeof(int) * (size_t)max_batch * (size_t)c->max_len);
    m->targets = xmalloc(sizeof(int) * (size_t)max_batch * (size_t)c->max_len);
    m->B = m->T = -1;
    use_shape(m, max_batch, c->max_len);
    posenc_sinusoidal(&m->pe);
}

void model_free(Model *m) {
    if (!m) return;
    for (int i = 0; i < m->cfg.layers; i++) block_cache_free(&m->cache[i]); /* the heads' arrays; the tensors are views */
    free(m->cache), free(m->x), free(m->act_mem);
    free(m->params.block), free(m->grads.block), free(m->param_mem), free(m->grad_mem);
    free(m->tensors), free(m->names), free(m->ids), free(m->targets);
    memset(m, 0, sizeof *m);
}

/* ==== forward ==== */

double model_forward(Model *m, const int *ids, const int *targets, int B, int T) {
    const ModelConfig *c = &m->cfg;
    CHECK(B >= 1 && B <= m->max_batch && T >= 1 && T <= c->max_len, "batch %d x %d exceeds %d x %d", B, T,
          m->max_batch, c->max_len);
    use_shape(m, B, T);
    const int BT = B * T;
    memcpy(m->ids, ids, sizeof(int) * (size_t)BT);
    m->have_targets = targets != NULL;
    for (int i = 0; i < BT; i++) m->targets[i] = targets ? targets[i] : -1;

    /* x_0 = wte[ids] * s + position, s = sqrt(C) with the sinusoidal table (as in the 2017
     * Transformer: the table's rows have norm sqrt(C/2), and embeddings drawn at GPT-2's 0.02 would
     * drown in it), s = 1 with learned positions (GPT-2: both are learned at the same scale) */
    embedding_forward(&m->x[0], &m->params.wte, m->ids);
    if (c->pos == POS_SINUSOIDAL) tensor_scale(&m->x[0], &m->x[0], sqrtf((float)c->d_model));
    const Tensor *pos = c->pos == POS_LEARNED ? &m->params.wpe : &m->pe;
    for (int b = 0; b < B; b++) {
        Tensor xb = tensor_view(&m->x[0], b * T, 0, T, c->d_model), pb = tensor_view(pos, 0, 0, T, c->d_model);
        tensor_add(&xb, &xb, &pb);
    }
    /* the blocks, over the whole batch (attention inside each sequence) */
    if (m->hook) m->hook->fn(m->hook, HOOK_RESID, 0, &m->x[0]);
    for (int l = 0; l < c->layers; l++) {
        block_forward(&m->x[l + 1], &m->cache[l], &m->params.block[l], &m->x[l], c->norm, c->act);
        if (m->hook) m->hook->fn(m->hook, HOOK_RESID, l + 1, &m->x[l + 1]);
    }
    /* final norm and output projection */
    if (c->norm == NORM_PRE) layernorm_forward(&m->xf, &m->lnf_mean, &m->lnf_rstd, &m->x[c->layers], &m->params.lnf_g, &m->params.lnf_b, BLOCK_LN_EPS);
    else tensor_copy(&m->xf, &m->x[c->layers]);
    if (c->tied) gemm(&m->logits, &m->xf, &m->params.wte, (GemmOptions){.flags = GEMM_TRANS_B}); /* (BT, C) x (C, V) */
    else gemm(&m->logits, &m->xf, &m->params.lm_head, (GemmOptions){0});
    return crossentropy_forward(&m->probs, &m->logits, m->targets);
}

void model_zero_grad(Model *m) {
    const size_t n = m->n_params;
    if (!worth_threads((double)n)) {
        memset(m->grad_mem, 0, sizeof(float) * n);
        return;
    }
#pragma omp parallel /* each thread clears its share (on one thread alone, it showed in 2-thread profiles) */
    {
        size_t a, b;
        thread_share(n, &a, &b);
        memset(m->grad_mem + a, 0, sizeof(float) * (b - a));
    }
}

/* ==== backward ==== */

void model_backward(Model *m) {
    const ModelConfig *c = &m->cfg;
    tensor_fill(&m->dlogits, 0.0f);
    crossentropy_backward(&m->dlogits, &m->probs, m->targets, 1.0f);
    /* logits = xf W_out */
    if (c->tied) /* the two products side by side, as a linear layer's (layers.c) */
        gemm_two((GemmCall){&m->dxf, &m->dlogits, &m->params.wte, {0}}, /* (BT, V) x (V, C) */
                 (GemmCall){&m->grads.wte, &m->dlogits, &m->xf, {.flags = GEMM_ACCUMULATE | GEMM_TRANS_A}}); /* (V, BT) x (BT, C) */
    else {
        tensor_fill(&m->dxf, 0.0f);
        linear_backward(&m->dxf, &m->grads.lm_head, NULL, &m->dlogits, &m->xf, &m->params.lm_head);
    }
    model_backward_hidden(m, &m->dxf);
}

void model_backward_hidden(Model *m, const Tensor *dxf) {
    const ModelConfig *c = &m->cfg;
    const int B = m->B, T = m->T, C = c->d_model;
    /* final norm */
    Tensor *d = &m->dx_a, *dprev = &m->dx_b;
    tensor_fill(d, 0.0f);
    if (c->norm == NORM_PRE)
        layernorm_backward(d, &m->grads.lnf_g, &m->grads.lnf_b, dxf, &m->x[c->layers], &m->lnf_mean, &m->lnf_rstd, &m->params.lnf_g);
    else tensor_copy(d, dxf);
    /* the blocks, last to first */
    for (int l = c->layers - 1; l >= 0; l--) {
        tensor_fill(dprev, 0.0f);
        block_backward(dprev, &m->grads.block[l], d, &m->cache[l], &m->params.block[l], c->norm, c->act);
        if (m->backward_hook) m->backward_hook->fn(m->backward_hook, l); /* block l's gradients are final */
        Tensor *t = d;
        d = dprev, dprev = t;
    }
    /* x_0 = wte[ids] * s + position */
    if (c->pos == POS_SINUSOIDAL) tensor_scale(d, d, sqrtf((float)C));
    embedding_backward(&m->grads.wte, d, m->ids);
    if (c->pos == POS_LEARNED)
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                float *g = tensor_at(&m->grads.wpe, t, 0);
                const float *src = tensor_at(d, b * T + t, 0);
                for (int k = 0; k < C; k++) g[k] += src[k];
            }
}

const ModelTensor *model_nonfinite_grad(const Model *m, long *element) {
    for (int i = 0; i < m->n_tensors; i++) {
        const Tensor *g = m->tensors[i].grad;
        for (long k = 0; k < (long)g->rows * g->cols; k++)
            if (!isfinite(g->data[k])) {
                *element = k;
                return &m->tensors[i];
            }
    }
    return NULL;
}
