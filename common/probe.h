/* probe: look inside a trained model's forward pass (chapter 13): record the activations at every
 * hook site, overwrite some of them (ablate a head, patch a position with another run's values),
 * and read any layer's residual stream through the output layer (the logit lens).
 *
 * The sites (attention.h, HookSite), each (B T, C) for a forward pass of B sequences of T tokens:
 *   HOOK_HEADS, l   the H heads' outputs side by side, head h in columns h C/H .. (h+1) C/H - 1,
 *                   before W^O: so head h adds  heads[:, h] W^O[h C/H .., :]  to the residual stream
 *   HOOK_MID, l     the residual stream after block l's attention sublayer
 *   HOOK_RESID, l   the residual stream entering block l (l = 0 .. L; x_L feeds the final norm)
 * An edit replaces the values of one site at one position (or all) in every sequence, in one head's
 * columns (or all), before the forward pass goes on:
 *   PROBE_ZERO   with 0               (zero-ablation; the bias b^O of W^O belongs to no head, so
 *                                      zeroing every head of a layer leaves its attention adding b^O)
 *   PROBE_ROW    with row 0 of src    (mean-ablation: src holds the mean over a data set)
 *   PROBE_COPY   with the same rows of src, a recording of another run of the same shape (patching)
 * Edits act in the order they were added; a recording (probe_record) holds the values after them.
 *
 * Nothing here changes the model; with no probe attached, the forward pass pays one pointer test
 * per hook site. Typical use:
 *   Probe p; probe_init(&p, m); probe_attach(&p);
 *   probe_record(&p, &clean); model_forward(m, clean_ids, NULL, 1, T);            record a run
 *   probe_record(&p, NULL); probe_add(&p, (ProbeEdit){HOOK_HEADS, 1, 2, -1, PROBE_COPY, &clean.heads[1]});
 *   model_forward(m, corrupt_ids, NULL, 1, T);                                  patch head 1.2 in
 *   probe_clear(&p); probe_detach(&p); probe_free(&p);                                               */
#ifndef PROBE_H
#define PROBE_H

#include "model.h"

enum { PROBE_MAX_EDITS = 64 };

typedef enum { PROBE_ZERO, PROBE_ROW, PROBE_COPY } ProbeKind;

typedef struct {
    HookSite site;
    int layer;         /* 0 .. L-1 (HOOK_RESID: 0 .. L) */
    int head;          /* HOOK_HEADS only: one head's columns; -1: every column */
    int pos;           /* one position of every sequence; -1: every position */
    ProbeKind kind;
    const Tensor *src; /* PROBE_ROW: (1, C) or more rows (row 0 is used); PROBE_COPY: (B T, C) */
} ProbeEdit;

/* Every site's activations of one forward pass: heads and mid for each of the L layers, resid for
 * L + 1. Sized for the model's largest batch; after a pass of B x T tokens, the tensors are views of
 * B T rows. */
typedef struct {
    int layers;
    Tensor *heads, *mid, *resid; /* L, L, L + 1 tensors (B T, C) */
    float *mem;
    int rows_cap, C;
} ProbeRecord;

void probe_record_init(ProbeRecord *r, const Model *m);
void probe_record_free(ProbeRecord *r);
/* The recorded tensor of one site: &r->heads[layer], &r->mid[layer] or &r->resid[layer]. */
Tensor *probe_site(ProbeRecord *r, HookSite site, int layer);

typedef struct {
    ForwardHook hook;  /* first member: the forward pass calls through it */
    Model *m;
    ProbeEdit edit[PROBE_MAX_EDITS];
    int n_edits;
    ProbeRecord *rec;  /* NULL: nothing recorded */
} Probe;

void probe_init(Probe *p, Model *m);
/* Hook the probe into m's forward pass (every block and the model), or unhook it. */
void probe_attach(Probe *p);
void probe_detach(Probe *p);
/* Record every site of the following forward passes into r (NULL: stop recording). */
void probe_record(Probe *p, ProbeRecord *r);
/* Add an edit (dies with a message on a site, layer, head or position out of range, or on a
 * missing or mis-shaped src); remove them all. */
void probe_add(Probe *p, ProbeEdit e);
void probe_clear(Probe *p);

/* The logit lens: the residual stream x (N, C), taken at any site, through the model's own final
 * stage, LN_f (pre-norm; post-norm has none) then W_out:  logits = LN_f(x) W_out   (N, C) -> (N, V).
 * For x = x_L this is the model's output, bit for bit. logits is allocated by the caller. */
void probe_lens(const Model *m, Tensor *logits, const Tensor *x);

#endif
