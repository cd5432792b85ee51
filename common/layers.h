/* layers: the pieces of a Transformer, each a forward/backward pair (source document §3.2-§3.5).
 *
 * Shapes are in the comments: x (T, C) means T rows (positions) of C features. Forward functions
 * write their output (the first argument); backward functions ADD into the gradients they are
 * given (dx += ..., dW += ...), so the caller zeroes gradients once per step and contributions from
 * several paths (a residual, say) simply sum. The derivation of each backward pass is written next to
 * the forward line it differentiates.                                                             */
#ifndef LAYERS_H
#define LAYERS_H

#include <stdbool.h>

#include "tensor.h"

/* ---- linear: y = x W + b ---- */
/* out (T, C_out) = x (T, C_in) W (C_in, C_out) + b (1, C_out); b may be NULL. */
void linear_forward(Tensor *out, const Tensor *x, const Tensor *W, const Tensor *b);
/* dx += dout W^T; dW += x^T dout; db += column sums of dout. Any gradient may be NULL (not needed). */
void linear_backward(Tensor *dx, Tensor *dW, Tensor *db, const Tensor *dout, const Tensor *x, const Tensor *W);

/* ---- activations, elementwise ---- */
void relu_forward(Tensor *out, const Tensor *x);
void relu_backward(Tensor *dx, const Tensor *dout, const Tensor *x);
/* tanh, the hidden activation of Bengio et al.'s neural language model */
void tanh_forward(Tensor *out, const Tensor *x);
/* dx += dout (1 - tanh^2 x), computed from the forward's output y = tanh x. */
void tanh_backward(Tensor *dx, const Tensor *dout, const Tensor *y);
/* GELU, the tanh form used by GPT-2 and BERT: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
void gelu_forward(Tensor *out, const Tensor *x);
void gelu_backward(Tensor *dx, const Tensor *dout, const Tensor *x);

/* ---- layer norm, over the features of each row ---- */
/* out[t] = gamma * (x[t] - mean_t) / sqrt(var_t + eps) + beta; mean (T, 1) and rstd (T, 1) =
 * 1 / sqrt(var_t + eps) are kept for the backward pass. gamma, beta (1, C). */
void layernorm_forward(Tensor *out, Tensor *mean, Tensor *rstd, const Tensor *x, const Tensor *gamma,
                       const Tensor *beta, float eps);
/* The same out from the mean and rstd layernorm_forward kept, without computing them again: the
 * same bits (a backward pass that did not keep out makes it again this way). */
void layernorm_apply(Tensor *out, const Tensor *mean, const Tensor *rstd, const Tensor *x, const Tensor *gamma,
                     const Tensor *beta);
void layernorm_backward(Tensor *dx, Tensor *dgamma, Tensor *dbeta, const Tensor *dout, const Tensor *x,
                        const Tensor *mean, const Tensor *rstd, const Tensor *gamma);

/* ---- softmax cross-entropy ---- */
/* probs (T, V) = softmax(logits) by rows; returns the mean over the counted rows of
 * -log probs[t][target[t]]; a target of -1 is not counted (masked-LM positions not chosen). */
double crossentropy_forward(Tensor *probs, const Tensor *logits, const int *targets);
/* dlogits[t] += (probs[t] - onehot(target[t])) * dloss / n_counted; ignored rows get nothing. */
void crossentropy_backward(Tensor *dlogits, const Tensor *probs, const int *targets, float dloss);

/* ---- embedding lookup ---- */
/* out[t] = table[ids[t]]: out (T, C), table (V, C). */
void embedding_forward(Tensor *out, const Tensor *table, const int *ids);
/* dtable[ids[t]] += dout[t]: a row used twice collects both gradients. */
void embedding_backward(Tensor *dtable, const Tensor *dout, const int *ids);

/* ---- the position-wise feed-forward network (§3.2) ----
 *   h = x W1 + b1 (T, d) x (d, d_ff) -> (T, d_ff);  a = act(h);  out = a W2 + b2 (T, d_ff) x (d_ff, d) -> (T, d) */
typedef enum { ACT_RELU, ACT_GELU } Activation;
typedef struct {
    Tensor W1, b1; /* (d, d_ff), (1, d_ff) */
    Tensor W2, b2; /* (d_ff, d), (1, d) */
} FfnParams;
typedef struct {
    Tensor h;      /* (T, d_ff): h = x W1 + b1, kept by the forward pass; the backward pass computes
                      a = act(h) again from it and writes the slope act'(h) over it */
    Tensor a;      /* (T, d_ff): act(h), then the backward pass's workspace (da, then dh in place).
                      Only one pass needs it at a time, so a model lays every block's out over the
                      same memory (docs/performance.md, "Memory") */
    Activation act; /* the forward pass's */
    bool h_is_slope; /* the backward pass ran since the last forward: h holds act'(h) */
} FfnCache;

/* W1 from N(0, 1/d), W2 from N(0, 1/d_ff), biases 0 (rng NULL: all zero, for gradients). */
void ffn_params_init(FfnParams *p, int d, int d_ff, Rng *rng);
/* The tensors carved from an arena (NULL: each allocated), zero-filled. */
void ffn_params_layout(FfnParams *p, int d, int d_ff, Arena *a);
void ffn_cache_layout(FfnCache *c, int T, int d_ff, Arena *a);
/* The same with h from `keep` and a from `work` (see block_cache_place in block.h). */
void ffn_cache_layout_shared(FfnCache *c, int T, int d_ff, Arena *keep, Arena *work);
void ffn_params_free(FfnParams *p);
void ffn_cache_init(FfnCache *c, int T, int d_ff);
void ffn_cache_free(FfnCache *c);
/* The definition, step by step: h = x W1 + b1, a = act(h), out = a W2 + b2, with the plain
 * tensor_matmul; h and a (T, d_ff) are the caller's. Not what the model runs (ffn_forward), and
 * tests/test_layers.c checks that the two agree. */
void ffn_forward_plain(Tensor *out, Tensor *h, Tensor *a, const FfnParams *p, const Tensor *x, Activation act);
/* The fused form the model runs: the same out, keeping in c what ffn_backward needs (h). */
void ffn_forward(Tensor *out, FfnCache *c, const FfnParams *p, const Tensor *x, Activation act);
/* Its first half: a = act(h) and dadh = act'(h) for h = x W1 + b1, both (T, d_ff). The product
 * writes h into dadh; each block of rows is then activated and overwritten by its slope while it
 * is still in the cache (the same values as relu_forward and gelu_forward, with no pass of their own). */
void ffn_hidden(Tensor *dadh, Tensor *a, const FfnParams *p, const Tensor *x, Activation act);
/* Once per forward pass: it replaces the kept h by the slope act'(h). */
void ffn_backward(Tensor *dx, FfnParams *g, const Tensor *dout, FfnCache *c, const FfnParams *p,
                  const Tensor *x, Activation act);

/* ---- positional encoding (§4.3.1) ---- */
/* PE (T, C): PE[pos][2i] = sin(pos / 10000^(2i/C)), PE[pos][2i+1] = cos(pos / 10000^(2i/C)),
 * computed in double and rounded once. C may be odd (the last column is a sine). */
void posenc_sinusoidal(Tensor *PE);

#endif
