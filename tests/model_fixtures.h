/* Small models for the tests of the model and of what is built on it. */
#ifndef MODEL_FIXTURES_H
#define MODEL_FIXTURES_H

#include "model.h"

/* V = 11, C = 8, H = 2, d_ff = 12, L = 2, max_len = 6; the variant's bits choose: 1 causal,
 * 2 pre-norm, 4 learned positions, 8 tied output, 16 ReLU (else GELU). */
ModelConfig tiny_config(int variant);
/* Weights of size 0.3 (larger than GPT-2's 0.02, so that gradients are of ordinary size), layer-norm
 * gains around 1. */
void randomize_params(Model *m, Rng *rng);

#endif
