/* Small models for the tests (see model_fixtures.h). */
#include "model_fixtures.h"

#include <string.h>

ModelConfig tiny_config(int variant) {
    ModelConfig c = {.vocab = 11, .d_model = 8, .heads = 2, .d_ff = 12, .layers = 2, .max_len = 6};
    c.causal = variant & 1;
    c.norm = (variant & 2) ? NORM_PRE : NORM_POST;
    c.pos = (variant & 4) ? POS_LEARNED : POS_SINUSOIDAL;
    c.tied = variant & 8;
    c.act = (variant & 16) ? ACT_RELU : ACT_GELU;
    return c;
}

void randomize_params(Model *m, Rng *rng) {
    for (int i = 0; i < m->n_tensors; i++) {
        Tensor *t = m->tensors[i].param;
        tensor_randn(t, rng, 0.3f);
        if (strstr(m->tensors[i].name, ".g"))
            for (int k = 0; k < t->cols; k++) t->data[k] += 1.0f;
    }
}
