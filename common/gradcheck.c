/* gradcheck: central differences against analytic gradients (see gradcheck.h). */
#include "gradcheck.h"

#include <math.h>

GradResult gradcheck(GradLoss loss, void *ctx, const GradPair *pairs, int n_pairs, int per_tensor, bool kinks,
                     Rng *rng) {
    GradResult r = {0.0, "", 0, 0};
    /* With kinks, a smaller step: fewer kinks fall within reach (the noise, about 1e-7 / h for these
     * losses, stays small). */
    const double h = kinks ? GRADCHECK_STEP / 5 : GRADCHECK_STEP;
    const double base = loss(ctx);
    for (int p = 0; p < n_pairs; p++) {
        Tensor *t = pairs[p].param;
        const int n = t->rows * t->cols;
        const int count = n < per_tensor ? n : per_tensor;
        for (int s = 0; s < count; s++) {
            const int idx = n <= per_tensor ? s : (int)rng_below(rng, (uint32_t)n);
            float *v = tensor_at(t, idx / t->cols, idx % t->cols);
            const float saved = *v;
            double left_loss = 0, right_loss = 0;
            /* central differences at h and h/2, each with the step float rounding really took */
            double diff[2], step = 0;
            for (int k = 0; k < 2; k++) {
                const float hk = (float)(k == 0 ? h : h / 2);
                *v = saved + hk;
                const double plus = loss(ctx);
                *v = saved - hk;
                const double minus = loss(ctx);
                *v = saved;
                const double sk = ((double)(saved + hk) - (double)(saved - hk)) / 2;
                diff[k] = (plus - minus) / (2 * sk);
                if (k == 0) {
                    step = sk;
                    left_loss = minus;
                    right_loss = plus;
                }
            }
            /* Richardson: D(h) = f' + c h^2 + O(h^4), so (4 D(h/2) - D(h)) / 3 = f' + O(h^4). */
            const double numerical = (4 * diff[1] - diff[0]) / 3;
            const double left = (base - left_loss) / step, right = (right_loss - base) / step;
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
