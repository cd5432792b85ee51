/* The probe of common/probe.c (chapter 13's hooks): watching changes nothing; patching a run with
 * its own values changes nothing bit for bit; patching with another run's values moves exactly
 * what it should; ablating every head of a layer equals removing that layer's attention; the logit
 * lens at the last layer is the model's output. (Chapter 13 itself: tests/test_ch13.c.)
 * Every comparison here is of bits (memcmp), not within a tolerance, except against the slow lens. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"
#include "tests.h"
#include "util.h"

enum { B = 2, T = 7 };

/* A small causal model with weights of size 0.3 (GPT-2's 0.02 would make every head's part in the
 * output tiny) and nonzero biases: variant bit 0 picks pre-norm, bit 1 learned positions. */
static void tiny_model(Model *m, int variant) {
    ModelConfig c = {.vocab = 13, .d_model = 12, .heads = 3, .d_ff = 16, .layers = 2, .max_len = T, .causal = true,
                     .norm = (variant & 1) ? NORM_PRE : NORM_POST, .pos = (variant & 2) ? POS_LEARNED : POS_SINUSOIDAL,
                     .act = ACT_GELU, .tied = true};
    model_init(m, &c, B, 7);
    Rng rng;
    rng_seed(&rng, 99, 1);
    for (int i = 0; i < m->n_tensors; i++) {
        Tensor *t = m->tensors[i].param;
        tensor_randn(t, &rng, 0.3f);
        if (strstr(m->tensors[i].name, ".g"))
            for (int k = 0; k < t->cols; k++) t->data[k] += 1.0f;
    }
}

static void ids_for(int *ids, uint64_t seed, int V) {
    Rng rng;
    rng_seed(&rng, seed, 2);
    for (int i = 0; i < B * T; i++) ids[i] = (int)rng_below(&rng, (uint32_t)V);
}

static bool same_bits(const Tensor *a, const Tensor *b) {
    if (a->rows != b->rows || a->cols != b->cols) return false;
    for (int r = 0; r < a->rows; r++)
        if (memcmp(tensor_at(a, r, 0), tensor_at(b, r, 0), sizeof(float) * (size_t)a->cols) != 0) return false;
    return true;
}

/* A forward pass's logits, copied out. */
static Tensor logits_of(Model *m, const int *ids) {
    model_forward(m, ids, NULL, B, T);
    Tensor out = tensor_new(B * T, m->cfg.vocab);
    tensor_copy(&out, &m->logits);
    return out;
}

/* Recording every site leaves the output as it was, and records the model's own residual stream. */
START_TEST(test_watching_changes_nothing) {
    Model m;
    tiny_model(&m, _i);
    int ids[B * T];
    ids_for(ids, 1, m.cfg.vocab);
    Tensor plain = logits_of(&m, ids);
    Probe p;
    ProbeRecord rec;
    probe_init(&p, &m);
    probe_record_init(&rec, &m);
    probe_attach(&p);
    probe_record(&p, &rec);
    Tensor watched = logits_of(&m, ids);
    ck_assert(same_bits(&plain, &watched));
    for (int l = 0; l <= m.cfg.layers; l++) ck_assert(same_bits(&rec.resid[l], &m.x[l]));
    for (int l = 0; l < m.cfg.layers; l++) {
        ck_assert(same_bits(&rec.heads[l], &m.cache[l].attn.concat));
        ck_assert(same_bits(&rec.mid[l], &m.cache[l].mid));
    }
    probe_detach(&p);
    tensor_free(&plain), tensor_free(&watched);
    probe_record_free(&rec), model_free(&m);
}
END_TEST

/* Patching every site, every head, every position with the run's own recorded values: the same
 * bits. Then each site alone with another input's values (which must change the output, or this
 * test could not fail), and the last residual stream patched whole: the other run's logits exactly. */
START_TEST(test_patch_own_values) {
    Model m;
    tiny_model(&m, _i);
    const int L = m.cfg.layers, H = m.cfg.heads;
    int ids[B * T], other[B * T];
    ids_for(ids, 3, m.cfg.vocab), ids_for(other, 4, m.cfg.vocab);
    Probe p;
    ProbeRecord own, theirs;
    probe_init(&p, &m);
    probe_record_init(&own, &m), probe_record_init(&theirs, &m);
    probe_attach(&p);
    probe_record(&p, &theirs);
    Tensor other_logits = logits_of(&m, other);
    probe_record(&p, &own);
    Tensor clean = logits_of(&m, ids);
    probe_record(&p, NULL);
    for (int l = 0; l <= L; l++) {
        probe_add(&p, (ProbeEdit){HOOK_RESID, l, -1, -1, PROBE_COPY, &own.resid[l]});
        if (l == L) continue;
        for (int h = 0; h < H; h++) probe_add(&p, (ProbeEdit){HOOK_HEADS, l, h, -1, PROBE_COPY, &own.heads[l]});
        for (int t = 0; t < T; t++) probe_add(&p, (ProbeEdit){HOOK_MID, l, -1, t, PROBE_COPY, &own.mid[l]});
    }
    Tensor patched = logits_of(&m, ids);
    ck_assert(same_bits(&clean, &patched));
    tensor_free(&patched);
    /* one site at a time from the other run: the output moves */
    for (int site = HOOK_HEADS; site <= HOOK_RESID; site++)
        for (int l = 0; l < L; l++) {
            probe_clear(&p);
            probe_add(&p, (ProbeEdit){(HookSite)site, l, -1, -1, PROBE_COPY, probe_site(&theirs, (HookSite)site, l)});
            Tensor moved = logits_of(&m, ids);
            ck_assert(!same_bits(&clean, &moved));
            tensor_free(&moved);
        }
    probe_clear(&p);
    probe_add(&p, (ProbeEdit){HOOK_RESID, L, -1, -1, PROBE_COPY, &theirs.resid[L]});
    Tensor swapped = logits_of(&m, ids);
    ck_assert(same_bits(&other_logits, &swapped));
    probe_detach(&p);
    tensor_free(&swapped), tensor_free(&clean), tensor_free(&other_logits);
    probe_record_free(&own), probe_record_free(&theirs), model_free(&m);
}
END_TEST

/* Zero-ablating every head of layer l gives the bits of the same model with that layer's W^O zeroed
 * (then its attention adds only the bias b^O, to every position alike); with b^O zeroed too, the
 * residual stream after the attention sublayer is the one before it, bit for bit (pre-norm: the
 * sublayer added exact zeros). One head alone changes the output. */
START_TEST(test_ablate_layer_is_removing_attention) {
    for (int l = 0; l < 2; l++) {
        Model m, cut;
        tiny_model(&m, _i), tiny_model(&cut, _i);
        const int H = m.cfg.heads;
        int ids[B * T];
        ids_for(ids, 5, m.cfg.vocab);
        tensor_fill(&cut.params.block[l].attn.Wo, 0.0f);
        Tensor removed = logits_of(&cut, ids), clean = logits_of(&m, ids);
        Probe p;
        probe_init(&p, &m);
        probe_attach(&p);
        probe_add(&p, (ProbeEdit){HOOK_HEADS, l, 0, -1, PROBE_ZERO, NULL});
        Tensor one = logits_of(&m, ids);
        ck_assert(!same_bits(&clean, &one));
        for (int h = 1; h < H; h++) probe_add(&p, (ProbeEdit){HOOK_HEADS, l, h, -1, PROBE_ZERO, NULL});
        Tensor all = logits_of(&m, ids);
        ck_assert(same_bits(&removed, &all));
        if (m.cfg.norm == NORM_PRE) {
            ProbeRecord rec;
            probe_record_init(&rec, &m);
            tensor_fill(&m.params.block[l].attn.bo, 0.0f);
            probe_record(&p, &rec);
            model_forward(&m, ids, NULL, B, T);
            ck_assert(same_bits(&rec.mid[l], &rec.resid[l]));
            probe_record_free(&rec);
        }
        probe_detach(&p);
        tensor_free(&removed), tensor_free(&clean), tensor_free(&one), tensor_free(&all);
        model_free(&m), model_free(&cut);
    }
}
END_TEST

/* PROBE_ROW writes row 0 of its source into one head's columns at one position of every sequence,
 * and nowhere else. */
START_TEST(test_row_edit_touches_its_cells) {
    Model m;
    tiny_model(&m, 1);
    const int C = m.cfg.d_model, hs = C / m.cfg.heads, head = 1, pos = 4;
    int ids[B * T];
    ids_for(ids, 6, m.cfg.vocab);
    Probe p;
    ProbeRecord before, after;
    probe_init(&p, &m);
    probe_record_init(&before, &m), probe_record_init(&after, &m);
    probe_attach(&p);
    probe_record(&p, &before);
    model_forward(&m, ids, NULL, B, T);
    Tensor mean = tensor_new(1, C);
    for (int k = 0; k < C; k++) mean.data[k] = 0.25f * (float)k - 1.0f;
    probe_add(&p, (ProbeEdit){HOOK_HEADS, 0, head, pos, PROBE_ROW, &mean});
    probe_record(&p, &after);
    model_forward(&m, ids, NULL, B, T);
    for (int r = 0; r < B * T; r++)
        for (int k = 0; k < C; k++) {
            const bool edited = r % T == pos && k / hs == head;
            const float want = edited ? mean.data[k] : *tensor_at(&before.heads[0], r, k);
            ck_assert_msg(*tensor_at(&after.heads[0], r, k) == want, "row %d column %d", r, k);
        }
    probe_detach(&p);
    tensor_free(&mean), probe_record_free(&before), probe_record_free(&after), model_free(&m);
}
END_TEST

/* The lens at x_L is the model's output bit for bit; at x_0 it matches a slow computation in double
 * (LN_f with eps 1e-5, then the tied W_out = wte^T) to 1e-4: float rounding over C = 12 terms of
 * size about 1 is near 1e-6, and a wrong norm or matrix is off by far more. */
START_TEST(test_lens) {
    Model m;
    tiny_model(&m, _i);
    const int C = m.cfg.d_model, V = m.cfg.vocab, L = m.cfg.layers;
    int ids[B * T];
    ids_for(ids, 8, V);
    model_forward(&m, ids, NULL, B, T);
    Tensor lens = tensor_new(B * T, V);
    probe_lens(&m, &lens, &m.x[L]);
    ck_assert(same_bits(&lens, &m.logits));
    probe_lens(&m, &lens, &m.x[0]);
    for (int r = 0; r < B * T; r++) {
        const float *x = tensor_at(&m.x[0], r, 0);
        double mu = 0, var = 0, xn[64];
        for (int k = 0; k < C; k++) mu += x[k] / (double)C;
        for (int k = 0; k < C; k++) var += (x[k] - mu) * (x[k] - mu) / (double)C;
        for (int k = 0; k < C; k++)
            xn[k] = m.cfg.norm == NORM_PRE ? (x[k] - mu) / sqrt(var + 1e-5) * m.params.lnf_g.data[k] + m.params.lnf_b.data[k] : x[k];
        for (int v = 0; v < V; v++) {
            double z = 0;
            for (int k = 0; k < C; k++) z += xn[k] * *tensor_at(&m.params.wte, v, k);
            ck_assert_double_eq_tol(*tensor_at(&lens, r, v), z, 1e-4);
        }
    }
    tensor_free(&lens), model_free(&m);
}
END_TEST

Suite *probe_suite(void) {
    Suite *s = suite_create("probe");
    TCase *tc = tcase_create("hooks");
    tcase_add_loop_test(tc, test_watching_changes_nothing, 0, 4);
    tcase_add_loop_test(tc, test_patch_own_values, 0, 4);
    tcase_add_loop_test(tc, test_ablate_layer_is_removing_attention, 0, 4);
    tcase_add_test(tc, test_row_edit_touches_its_cells);
    tcase_add_loop_test(tc, test_lens, 0, 4);
    suite_add_tcase(s, tc);
    return s;
}
