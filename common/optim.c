/* optim: AdamW, clipping and the learning-rate schedule (see optim.h). */
#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor.h"
#include "util.h"

void adamw_init(AdamW *o, size_t n, float beta1, float beta2, float eps, float weight_decay) {
    memset(o, 0, sizeof *o);
    o->beta1 = beta1, o->beta2 = beta2, o->eps = eps, o->weight_decay = weight_decay;
    o->m = xcalloc(n, sizeof(float));
    o->v = xcalloc(n, sizeof(float));
    o->n = n;
}

void adamw_free(AdamW *o) {
    if (!o) return;
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}

void adamw_begin_step(AdamW *o) { o->step++; }

/* Values i0 .. i1 - 1 of one segment (see optim.h for the update). */
static void adamw_range(const AdamW *o, AdamSegment seg, size_t i0, size_t i1, float lr) {
    const float c1 = 1.0f - powf(o->beta1, (float)o->step), c2 = 1.0f - powf(o->beta2, (float)o->step);
    float *m = o->m + seg.offset, *v = o->v + seg.offset, *p = seg.params;
    const float *g = seg.grads;
    const float wd = seg.decay ? o->weight_decay : 0.0f;
    /* locals, not o->...: the stores to m, v and p could (for all the compiler knows) change a
     * float inside *o, so it would reload them on every element and not vectorise the loop */
    const float b1 = o->beta1, b2 = o->beta2, eps = o->eps;
    for (size_t i = i0; i < i1; i++) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        const float mhat = m[i] / c1, vhat = v[i] / c2;
        p[i] -= lr * (mhat / (sqrtf(vhat) + eps) + wd * p[i]);
    }
}

void adamw_update_segments(AdamW *o, const AdamSegment *seg, int n, float lr) {
    size_t total = 0;
    for (int s = 0; s < n; s++) {
        CHECK(seg[s].offset + seg[s].count <= o->n && o->step >= 1, "adamw_update outside its state or before a step");
        total += seg[s].count;
    }
    if (worth_threads((double)total)) {
#pragma omp parallel
        for (int s = 0; s < n; s++) {
            size_t a, b;
            thread_share(seg[s].count, &a, &b);
            adamw_range(o, seg[s], a, b, lr);
        }
    } else
        for (int s = 0; s < n; s++) adamw_range(o, seg[s], 0, seg[s].count, lr);
}

void adamw_update(AdamW *o, float *p, const float *g, size_t offset, size_t count, float lr, bool decay) {
    const AdamSegment seg = {p, g, offset, count, decay};
    adamw_update_segments(o, &seg, 1, lr);
}

double grad_clip(float *g, size_t n, double max_norm) {
    double s = 0; /* in vector lanes: a fixed order for a given build */
#pragma omp simd reduction(+ : s)
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    const double norm = sqrt(s);
    if (norm > max_norm && norm > 0) {
        const float scale = (float)(max_norm / norm);
#pragma omp parallel for schedule(static) if (worth_threads((double)n))
        for (size_t i = 0; i < n; i++) g[i] *= scale;
    }
    return norm;
}

float lr_schedule(long step, long warmup, long total, float lr_max, float lr_min) {
    if (warmup > 0 && step < warmup) return lr_max * (float)(step + 1) / (float)warmup;
    if (step >= total) return lr_min;
    const double progress = total > warmup ? (double)(step - warmup) / (double)(total - warmup) : 1.0;
    return lr_min + (lr_max - lr_min) * (float)(0.5 * (1.0 + cos(3.14159265358979323846 * progress)));
}
