/* block: one Transformer block (source document §2.2, §3.1-§3.4): self-attention and the
 * feed-forward network, each sublayer wrapped in a residual connection and a layer norm.
 *
 *   post-norm (the source, the 2017 Transformer):      pre-norm (GPT-2 and later):
 *     s1  = x + MHA(x)                                   s1  = x + MHA(LN1(x))
 *     mid = LN1(s1)                                      mid = s1
 *     s2  = mid + FFN(mid)                               s2  = mid + FFN(LN2(mid))
 *     out = LN2(s2)                                      out = s2
 * All tensors of one sequence are (T, C); the FFN's hidden layer is (T, d_ff). */
#ifndef BLOCK_H
#define BLOCK_H

#include "attention.h"
#include "layers.h"

typedef enum { NORM_POST, NORM_PRE } NormPlacement;

typedef struct {
    Tensor ln1_g, ln1_b; /* (1, C) */
    MhaParams attn;      /* W (C, C), b (1, C) */
    Tensor ln2_g, ln2_b; /* (1, C) */
    FfnParams ffn;       /* W1 (C, d_ff), b1 (1, d_ff), W2 (d_ff, C), b2 (1, C) */
} BlockParams;

enum { BLOCK_N_TENSORS = 16 };

/* What the forward pass keeps, for B sequences of T tokens: every (T, C) below is (B T, C), the
 * sequences one after another; only the attention looks inside each sequence. */
typedef struct {
    MhaCache attn;
    FfnCache ffn;
    Tensor x;                  /* (T, C) the block's input */
    Tensor a_in, att, s1, mid; /* (T, C) attention input and output, first sum, FFN residual input */
    Tensor f_in, f, s2;        /* (T, C) FFN input and output, second sum (s1, s2: post-norm only;
                                  pre-norm writes its sums straight into mid and the output) */
    Tensor mean1, rstd1, mean2, rstd2; /* (T, 1) the two norms' statistics */
    Tensor ds2, dmid, dfin, ds1, dain; /* (T, C) the backward pass's workspace, allocated once */
} BlockCache;

/* Carve the parameters from an arena (NULL: each allocated), zero-filled; then gammas are 1. */
void block_params_layout(BlockParams *p, int C, int d_ff, Arena *a);
/* GPT-2's initialisation: weights N(0, std^2), the two projections back into the residual stream
 * (W^O and W2) N(0, proj_std^2), biases 0, gammas 1, betas 0. */
void block_params_randomize(BlockParams *p, Rng *rng, float std, float proj_std);
void block_params_free(BlockParams *p);
/* The 16 tensors in a fixed order, with their names ("ln1.g", "attn.Wq", ...). */
Tensor *block_tensor(BlockParams *p, int i, const char **name);

/* For B sequences of T tokens (NULL arena: each tensor allocated). A cache laid out again reuses
 * its arrays of attention heads. */
void block_cache_layout(BlockCache *c, int B, int T, int C, int H, int d_ff, bool causal, Arena *a);
void block_cache_free(BlockCache *c); /* for caches laid out with a NULL arena */

void block_forward(Tensor *out, BlockCache *c, const BlockParams *p, const Tensor *x, NormPlacement norm,
                   Activation act);
/* dx += dL/dx, g += dL/dparams, given dout = dL/dout. */
void block_backward(Tensor *dx, BlockParams *g, const Tensor *dout, BlockCache *c, const BlockParams *p,
                    NormPlacement norm, Activation act);

/* Parameters of one block: 4C^2 + 4C (attention) + 2 C d_ff + d_ff + C (FFN) + 4C (two norms). */
long block_param_count(int C, int d_ff);

#endif
