/* classifier: the fine-tuning head on top of the model (see classifier.h). */
#include "classifier.h"

#include <math.h>
#include <stdlib.h>

#include "util.h"

static void pooled(const Model *m, Pooling pool, float *h) {
    const int T = m->T, C = m->cfg.d_model;
    for (int k = 0; k < C; k++) {
        if (pool == POOL_LAST) {
            h[k] = *tensor_at(&m->xf, T - 1, k);
            continue;
        }
        double s = 0;
        for (int t = 0; t < T; t++) s += *tensor_at(&m->xf, t, k);
        h[k] = (float)(s / T);
    }
}

double classify_forward(Model *m, const Head *h, const int *ids, int T, Pooling pool, int label, float *probs) {
    model_forward(m, ids, NULL, 1, T);
    const int C = m->cfg.d_model, K = h->W.cols;
    float *x = xmalloc(sizeof(float) * (size_t)C);
    pooled(m, pool, x);
    double mx = -INFINITY;
    for (int j = 0; j < K; j++) { /* logits = x W + b */
        double z = h->b.data[j];
        for (int k = 0; k < C; k++) z += (double)x[k] * *tensor_at(&h->W, k, j);
        probs[j] = (float)z;
        mx = fmax(mx, z);
    }
    double sum = 0;
    for (int j = 0; j < K; j++) sum += exp(probs[j] - mx);
    const double log_sum = log(sum) + mx, loss = label >= 0 ? log_sum - probs[label] : 0.0;
    for (int j = 0; j < K; j++) probs[j] = (float)exp(probs[j] - log_sum);
    free(x);
    return loss;
}

void classify_backward(Model *m, const Head *h, Head *g, Pooling pool, int label, const float *probs, bool frozen) {
    const int T = m->T, C = m->cfg.d_model, K = h->W.cols;
    float *x = xmalloc(sizeof(float) * (size_t)C), *dx = xcalloc((size_t)C, sizeof(float));
    pooled(m, pool, x);
    for (int j = 0; j < K; j++) {
        const float dz = probs[j] - (j == label ? 1.0f : 0.0f); /* d(-ln p[label]) / d logit_j */
        g->b.data[j] += dz;
        for (int k = 0; k < C; k++) {
            *tensor_at(&g->W, k, j) += x[k] * dz;     /* logits = x W + b */
            dx[k] += dz * *tensor_at(&h->W, k, j);
        }
    }
    if (!frozen) {
        Tensor dxf = tensor_view(&m->dxf, 0, 0, T, C);
        tensor_fill(&dxf, 0.0f);
        for (int t = 0; t < T; t++) {
            if (pool == POOL_LAST && t != T - 1) continue;
            for (int k = 0; k < C; k++) *tensor_at(&dxf, t, k) = pool == POOL_LAST ? dx[k] : dx[k] / (float)T;
        }
        model_backward_hidden(m, &dxf);
    }
    free(x), free(dx);
}
