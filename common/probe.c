/* probe: record, ablate and patch activations inside the forward pass (see probe.h). */
#include "probe.h"

#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "gemm.h"
#include "layers.h"
#include "util.h"

/* ==== recordings ==== */

void probe_record_init(ProbeRecord *r, const Model *m) {
    const int L = m->cfg.layers, C = m->cfg.d_model, rows = m->max_batch * m->cfg.max_len;
    memset(r, 0, sizeof *r);
    r->layers = L, r->C = C, r->rows_cap = rows;
    r->heads = xcalloc((size_t)L, sizeof(Tensor));
    r->mid = xcalloc((size_t)L, sizeof(Tensor));
    r->resid = xcalloc((size_t)L + 1, sizeof(Tensor));
    r->mem = xcalloc((size_t)(3 * L + 1) * (size_t)rows * (size_t)C, sizeof(float));
    Arena a = {r->mem, 0};
    for (int l = 0; l < L; l++) r->heads[l] = arena_take(&a, rows, C), r->mid[l] = arena_take(&a, rows, C);
    for (int l = 0; l <= L; l++) r->resid[l] = arena_take(&a, rows, C);
}

void probe_record_free(ProbeRecord *r) {
    if (!r) return;
    free(r->heads), free(r->mid), free(r->resid), free(r->mem);
    memset(r, 0, sizeof *r);
}

Tensor *probe_site(ProbeRecord *r, HookSite site, int layer) {
    return site == HOOK_HEADS ? &r->heads[layer] : site == HOOK_MID ? &r->mid[layer] : &r->resid[layer];
}

/* ==== the hook ==== */

/* Apply one edit to act (B T, C) of a pass over sequences of T tokens. */
static void apply(const ProbeEdit *e, Tensor *act, int T, int H) {
    const int C = act->cols, hs = C / H;
    const int c0 = e->head < 0 ? 0 : e->head * hs, nc = e->head < 0 ? C : hs;
    for (int r = 0; r < act->rows; r++) {
        if (e->pos >= 0 && r % T != e->pos) continue;
        float *dst = tensor_at(act, r, c0);
        if (e->kind == PROBE_ZERO) memset(dst, 0, sizeof(float) * (size_t)nc);
        else memcpy(dst, tensor_at(e->src, e->kind == PROBE_ROW ? 0 : r, c0), sizeof(float) * (size_t)nc);
    }
}

static void on_forward(ForwardHook *self, HookSite site, int layer, Tensor *act) {
    Probe *p = (Probe *)self; /* hook is the first member */
    for (int i = 0; i < p->n_edits; i++) {
        const ProbeEdit *e = &p->edit[i];
        if (e->site != site || e->layer != layer) continue;
        if (e->kind == PROBE_COPY)
            CHECK(e->src->rows >= act->rows, "probe: patching %d rows from a recording of %d", act->rows, e->src->rows);
        apply(e, act, p->m->T, p->m->cfg.heads);
    }
    if (p->rec) {
        Tensor *dst = probe_site(p->rec, site, layer);
        CHECK(act->rows <= p->rec->rows_cap && act->cols == p->rec->C, "probe: a recording of %d x %d rows", p->rec->rows_cap, p->rec->C);
        *dst = (Tensor){.data = dst->data, .rows = act->rows, .cols = act->cols, .stride = act->cols};
        tensor_copy(dst, act);
    }
}

/* ==== the probe ==== */

void probe_init(Probe *p, Model *m) {
    memset(p, 0, sizeof *p);
    p->hook.fn = on_forward;
    p->m = m;
}

void probe_attach(Probe *p) {
    p->m->hook = &p->hook;
    for (int l = 0; l < p->m->cfg.layers; l++) p->m->cache[l].attn.hook = &p->hook, p->m->cache[l].attn.layer = l;
}

void probe_detach(Probe *p) {
    p->m->hook = NULL;
    for (int l = 0; l < p->m->cfg.layers; l++) p->m->cache[l].attn.hook = NULL;
}

void probe_record(Probe *p, ProbeRecord *r) { p->rec = r; }

void probe_add(Probe *p, ProbeEdit e) {
    const ModelConfig *c = &p->m->cfg;
    CHECK(p->n_edits < PROBE_MAX_EDITS, "probe: more than %d edits", PROBE_MAX_EDITS);
    CHECK(e.layer >= 0 && e.layer < c->layers + (e.site == HOOK_RESID), "probe: layer %d of %d", e.layer, c->layers);
    CHECK(e.head >= -1 && e.head < c->heads && (e.head < 0 || e.site == HOOK_HEADS), "probe: head %d at this site", e.head);
    CHECK(e.pos >= -1 && e.pos < c->max_len, "probe: position %d of %d", e.pos, c->max_len);
    CHECK(e.kind == PROBE_ZERO || (e.src && e.src->cols == c->d_model), "probe: an edit without values of width %d",
          c->d_model);
    p->edit[p->n_edits++] = e;
}

void probe_clear(Probe *p) { p->n_edits = 0; }

/* ==== the logit lens ==== */

void probe_lens(const Model *m, Tensor *logits, const Tensor *x) {
    const ModelConfig *c = &m->cfg;
    CHECK(x->cols == c->d_model && logits->rows == x->rows && logits->cols == c->vocab, "probe_lens: shapes");
    Tensor xf = tensor_new(x->rows, c->d_model), mean = tensor_new(x->rows, 1), rstd = tensor_new(x->rows, 1);
    if (c->norm == NORM_PRE) layernorm_forward(&xf, &mean, &rstd, x, &m->params.lnf_g, &m->params.lnf_b, BLOCK_LN_EPS); /* the final norm uses the blocks' eps */
    else tensor_copy(&xf, x);
    if (c->tied) gemm(logits, &xf, &m->params.wte, (GemmOptions){.flags = GEMM_TRANS_B}); /* (N, C) x (C, V) */
    else gemm(logits, &xf, &m->params.lm_head, (GemmOptions){0});
    tensor_free(&xf), tensor_free(&mean), tensor_free(&rstd);
}
