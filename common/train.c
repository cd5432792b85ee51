/* train: the optimisation step (see train.h). */
#include "train.h"

#include <math.h>
#include <stdlib.h>

#include "corpus.h"
#include "util.h"

double train_step(Model *m, AdamW *opt, const int *ids, const int *targets, int B, int T, long step, const Schedule *s) {
    return train_step_report(m, opt, ids, targets, B, T, step, s, NULL);
}

double train_step_report(Model *m, AdamW *opt, const int *ids, const int *targets, int B, int T, long step,
                         const Schedule *s, StepReport *r) {
    const double loss = model_forward(m, ids, targets, B, T);
    if (!isfinite(loss))
        die(EXIT_RUNTIME, "training diverged: the loss is %g at step %ld; try a lower --lr (now %g)", loss, step, s->lr);
    model_zero_grad(m);
    model_backward(m);
    const double norm = grad_clip(m->grad_mem, m->n_params, s->clip);
    if (!isfinite(norm)) { /* stop before the update, so the parameters stay as they were */
        long k = 0;
        const ModelTensor *t = model_nonfinite_grad(m, &k);
        die(EXIT_RUNTIME, "training diverged: the gradient of %s holds %g (element %ld) at step %ld; try a lower --lr (now %g)",
            t ? t->name : "a tensor", t ? t->grad->data[k] : norm, k, step, s->lr);
    }
    adamw_begin_step(opt);
    const float lr = lr_schedule(step - 1, s->warmup, s->steps, (float)s->lr, (float)s->lr_min);
    AdamSegment *seg = xmalloc(sizeof *seg * (size_t)m->n_tensors);
    for (int i = 0; i < m->n_tensors; i++) { /* each tensor: its place in the flat arrays, and its decay */
        const ModelTensor *t = &m->tensors[i];
        seg[i] = (AdamSegment){t->param->data, t->grad->data, (size_t)(t->param->data - m->param_mem),
                               (size_t)t->param->rows * t->param->cols, t->decay};
    }
    adamw_update_segments(opt, seg, m->n_tensors, lr);
    free(seg);
    if (r) r->loss = loss, r->grad_norm = norm, r->lr = lr;
    return loss;
}

void mlm_corrupt(int *ids, int *targets, int *kind, int n, double rate, int mask_id, int V, bool all_positions, Rng *rng) {
    for (int i = 0; i < n; i++) {
        const int orig = ids[i];
        kind[i] = MLM_KEEP;
        if (orig != VOCAB_EOS && rng_uniform(rng) < rate) {
            const float u = rng_uniform(rng);
            if (u < 0.8f) kind[i] = MLM_MASK, ids[i] = mask_id;
            else if (u < 0.9f) kind[i] = MLM_RANDOM, ids[i] = 3 + (int)rng_below(rng, (uint32_t)(V - 4));
            else kind[i] = MLM_SAME;
        }
        targets[i] = (kind[i] != MLM_KEEP || all_positions) ? orig : -1;
    }
}
