/* generate: the key/value cache and the one-token step (see generate.h). */
#include "generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "util.h"

void kv_init(KvCache *kv, const Model *m) {
    const ModelConfig *c = &m->cfg;
    CHECK(c->causal, "a key/value cache needs a causal model");
    memset(kv, 0, sizeof *kv);
    kv->layers = c->layers, kv->max_len = c->max_len, kv->C = c->d_model;
    kv->k = xmalloc(sizeof(Tensor) * (size_t)c->layers);
    kv->v = xmalloc(sizeof(Tensor) * (size_t)c->layers);
    for (int l = 0; l < c->layers; l++) kv->k[l] = tensor_new(c->max_len, c->d_model), kv->v[l] = tensor_new(c->max_len, c->d_model);
    kv->x = tensor_new(1, c->d_model);
    block_row_init(&kv->row, c->d_model, c->d_ff, c->max_len);
    kv->logits = tensor_new(1, c->vocab);
}

void kv_free(KvCache *kv) {
    for (int l = 0; l < kv->layers; l++) tensor_free(&kv->k[l]), tensor_free(&kv->v[l]);
    free(kv->k), free(kv->v);
    tensor_free(&kv->x), tensor_free(&kv->logits);
    block_row_free(&kv->row);
    memset(kv, 0, sizeof *kv);
}

void model_step(Model *m, KvCache *kv, int token) {
    const ModelConfig *c = &m->cfg;
    const int t = kv->len, C = c->d_model;
    CHECK(t < kv->max_len && token >= 0 && token < c->vocab, "model_step: position %d, token %d", t, token);
    /* x = wte[token] * s + position t, as in model_forward */
    const Tensor *pos = c->pos == POS_LEARNED ? &m->params.wpe : &m->pe;
    const float scale = c->pos == POS_SINUSOIDAL ? sqrtf((float)C) : 1.0f;
    for (int k = 0; k < C; k++) kv->x.data[k] = *tensor_at(&m->params.wte, token, k) * scale + *tensor_at(pos, t, k);
    for (int l = 0; l < c->layers; l++)
        block_step(&kv->x, &kv->row, &m->params.block[l], &kv->k[l], &kv->v[l], t, c->heads, c->norm, c->act);
    /* the final norm (pre-norm) and the output projection, as in model_forward */
    if (c->norm == NORM_PRE)
        layernorm_forward(&kv->x, &kv->row.mean, &kv->row.rstd, &kv->x, &m->params.lnf_g, &m->params.lnf_b, BLOCK_LN_EPS);
    if (c->tied) gemm(&kv->logits, &kv->x, &m->params.wte, (GemmOptions){.flags = GEMM_TRANS_B}); /* (1, C) x (C, V) */
    else gemm(&kv->logits, &kv->x, &m->params.lm_head, (GemmOptions){0});
    kv->len++;
}
