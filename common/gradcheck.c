/* gradcheck: central differences against analytic gradients (see gradcheck.h). */
#include "gradcheck.h"

#include <math.h>

GradResult gradcheck(GradLoss loss, void *ctx, const GradPair *pairs, int n_pairs, int per_tensor, bool kinks,
                     Rng *rng) {
    GradResult r = {0.0, "", 0, 0};
    const double h = GRADCHECK_STEP;
    const double base = loss(ctx);
    for (int p = 0; p < n_pairs; p++) {
        Tensor *t = pairs[p].param;
        const int n = t->rows * t->cols;
        const int count = n < per_tensor ? n : per_tensor;
        for (int s = 0; s < count; s++) {
            const int idx = n <= per_tensor ? s : (int)rng_below(rng, (uint32_t)n);
            float *v = tensor_at(t, idx / t->cols, idx % t->cols);
            const float saved = *v;
            *v = saved + (float)h;
            const double plus = loss(ctx);
            *v = saved - (float)h;
            const double minus = loss(ctx);
            *v = saved;
            /* the step actually taken, after float rounding of saved +- h */
            const double step = ((double)(saved + (float)h) - (double)(saved - (float)h)) / 2;
            const double numerical = (plus - minus) / (2 * step);
            const double left = (base - minus) / step, right = (plus - base) / step;
            const double scale = fmax(fmax(fabs(left), fabs(right)), GRADCHECK_FLOOR);
            if (kinks && fabs(left - right) > 5e-3 * scale) { /* a kink: the one-sided slopes disagree */
                r.kinks++;
                continue;
            }
            const double analytic = *tensor_at(pairs[p].grad, idx / t->cols, idx % t->cols);
            const double err = fabs(analytic - numerical) / fmax(fmax(fabs(analytic), fabs(numerical)), GRADCHECK_FLOOR);
            r.checked++;
            if (err > r.max_error || isnan(err)) {
                r.max_error = isnan(err) ? INFINITY : err;
                r.worst = pairs[p].name;
            }
        }
    }
    return r;
}
