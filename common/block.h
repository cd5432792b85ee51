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

/* Layer norm's epsilon in every block and in the model's final norm: var + eps under the root. */
#define BLOCK_LN_EPS 1e-5f

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
    Tensor x;                  /* (T, C) the block's input (or a view of where the caller keeps it) */
    Tensor a_in, att, s1, mid; /* (T, C) attention input and output, first sum, FFN residual input */
    Tensor f_in, f, s2;        /* (T, C) FFN input and output, second sum (s1, s2: post-norm only;
                                  pre-norm writes its sums straight into mid and the output). The
                                  inputs a_in = LN1(x) and f_in = LN2(mid) are pre-norm's only: the
                                  backward pass computes them again (post-norm reads x and mid) */
    Tensor mean1, rstd1, mean2, rstd2; /* (T, 1) the two norms' statistics */
    Tensor ds2, dmid, dfin, ds1, dain; /* (T, C) the backward pass's workspace, allocated once */
} BlockCache;

/* Where a cache's tensors come from (block_cache_place). `keep`: what the backward pass reads, one
 * set per block (x, s1, mid, s2, the statistics, attention's q, k, v, weights and heads, the FFN's
 * h). `work`: what lives within one pass of one block only (the sublayers' inputs and outputs
 * around their residual sums, the FFN's activation, every gradient workspace): a model lays every
 * block's work over the same floats, since its blocks run one at a time. `input`: NULL, or the
 * tensor where the caller will keep the block's input (a model's residual stream), which the
 * cache then uses in place of a copy. */
typedef struct {
    Arena *keep, *work;
    const Tensor *input;
} BlockPlace;

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
/* The same, each tensor from where `at` says (block_cache_layout is {a, a, NULL}). */
void block_cache_place(BlockCache *c, int B, int T, int C, int H, int d_ff, bool causal, BlockPlace at);
/* Free what block_cache_layout allocated: with a NULL arena every tensor, with an arena only the
 * array of attention heads (the tensors are the arena's views). */
void block_cache_free(BlockCache *c);

void block_forward(Tensor *out, BlockCache *c, const BlockParams *p, const Tensor *x, NormPlacement norm,
                   Activation act);
/* dx += dL/dx, g += dL/dparams, given dout = dL/dout. */
void block_backward(Tensor *dx, BlockParams *g, const Tensor *dout, BlockCache *c, const BlockParams *p,
                    NormPlacement norm, Activation act);

/* ---- one new row: the block step, for generation with a key/value cache ----
 * block_forward over a causal sequence computes row t from rows 0 .. t only, and the only thing it
 * needs of the earlier rows is their keys and values in each head. So a sequence can be extended
 * one row at a time: block_step runs the same arithmetic as block_forward for the one new row t,
 * reading the earlier rows' keys and values from K and V (max_len, C) and appending its own as
 * row t. tests/test_generate.c checks it against block_forward's rows through the whole model. */
typedef struct {
    Tensor a, q, att, concat, s1, f_in, f; /* (1, C): attention input, query, attention output,
                                              heads side by side, first sum, FFN input and output */
    Tensor dadh, act;                      /* (1, d_ff): act'(h) (unused here), act(h) */
    Tensor mean, rstd;                     /* (1, 1): a norm's statistics */
    Tensor scores, weights;                /* (1, max_len): one head's scores and softmax weights */
} BlockRow;

void block_row_init(BlockRow *r, int C, int d_ff, int max_len);
void block_row_free(BlockRow *r);
/* x (1, C): row t's input, replaced by the block's output for it. K, V (max_len, C): rows 0 .. t-1
 * hold the earlier rows' keys and values (all heads side by side); row t is written. */
void block_step(Tensor *x, BlockRow *r, const BlockParams *p, Tensor *K, Tensor *V, int t, int heads,
                NormPlacement norm, Activation act);

/* Parameters of one block: 4C^2 + 4C (attention) + 2 C d_ff + d_ff + C (FFN) + 4C (two norms). */
long block_param_count(int C, int d_ff);

#endif
