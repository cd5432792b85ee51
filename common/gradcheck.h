/* gradcheck: compare analytic gradients with central finite differences.
 *
 *   D(h) = (L(p + h) - L(p - h)) / (2 h),   numerical dL/dp = (4 D(h/2) - D(h)) / 3
 *
 * D(h) is the central difference; its error is c h^2 + O(h^4), so the Richardson combination of
 * D(h) and D(h/2) cancels the h^2 term (measured: it matters for a whole model with weights of
 * size 0.3, where D(1e-2) alone was off by 3% on some embedding gradients).
 *
 * The step and the tolerance, and why: the forward passes run in float (relative rounding
 * 2^-24 = 6e-8). A loss built from a whole block (about 100 outputs, each through chains of float
 * products, norms and exponentials) carries a rounding noise of about 1e-5, so a difference
 * quotient has an error of about 1e-5 / h; with the h^2 term cancelled, the truncation error is
 * O(h^4). So the step is large: h = 3e-2 (measured on chapter 9's blocks: largest error 6e-2 at
 * h = 1e-3, 1.6e-2 at 3e-3, 5e-3 at 1e-2, 1.7e-3 at 3e-2, falling as 1/h: noise, not a bug). The
 * error of each element is
 *   |analytic - numerical| / max(|analytic|, |numerical|, 0.1),
 * relative for gradients of ordinary size, and absolute (times 10) for gradients below 0.1, where
 * a relative error would only measure that noise. A correct backward pass stays below about 2e-3;
 * a wrong one (a missing term, a transposed product, a doubled element) gives errors of order 0.1
 * to 1. The tests demand 1e-2.
 * A function with kinks (ReLU at 0) is piecewise linear: where a perturbation of +-h crosses a
 * kink, the left and right slopes differ and the central difference is meaningless. With
 * `kinks` set, the step is h/5 (fewer kinks within reach), and an element whose one-sided slopes
 * differ by more than 0.5% is skipped and counted
 * (on a linear piece they agree up to rounding; an undetected kink below that threshold moves the
 * central difference by under 0.25%, far inside the tolerance). Smooth functions (GELU, softmax,
 * layer norm) are checked with `kinks` unset, since their slopes legitimately differ by h f''.    */
#ifndef GRADCHECK_H
#define GRADCHECK_H

#include <stdbool.h>

#include "rng.h"
#include "tensor.h"

#define GRADCHECK_STEP 3e-2
#define GRADCHECK_FLOOR 0.1
#define GRADCHECK_TOL 1e-2

/* Recompute the forward pass from the current parameters and return the scalar loss. */
typedef double (*GradLoss)(void *ctx);

typedef struct {
    const char *name;
    Tensor *param;       /* perturbed in place, then restored */
    const Tensor *grad;  /* the analytic gradient, already computed */
} GradPair;

typedef struct {
    double max_error;    /* the largest error over the checked elements */
    const char *worst;   /* the name of the tensor it came from */
    int checked, kinks;  /* elements compared, elements skipped at a kink */
} GradResult;

/* Check up to `per_tensor` elements of each tensor (all when it has fewer; otherwise a random
 * sample drawn with rng). */
GradResult gradcheck(GradLoss loss, void *ctx, const GradPair *pairs, int n_pairs, int per_tensor, bool kinks,
                     Rng *rng);

#endif
