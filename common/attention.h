/* attention: the mask and single-head scaled dot-product attention (source document §3.1, §4.1,
 * §4.2). Multi-head attention with its backward pass builds on this in a later chapter. */
#ifndef ATTENTION_H
#define ATTENTION_H

#include <stdbool.h>

#include "rng.h"
#include "tensor.h"

typedef enum {
    MASK_CAUSAL,        /* M[i][j] = -inf where j > i: query i sees keys 0..i (the correct mask) */
    MASK_SOURCE_ERRATUM /* M[i][j] = -inf where i > j: the formula printed in §4.2, the transpose */
} MaskKind;

/* Fill M (T, T) with 0 where query i may look at key j and -inf where it may not. */
void attention_mask(Tensor *M, MaskKind kind);

/* Single-head attention, keeping its intermediate matrices for the reader:
 *   scores  = Q K^T / sqrt(d_k) (+ M)    (T, d_k) x (d_k, T) -> (T, T)
 *   weights = softmax(scores) by rows    (T, T), each row sums to 1
 *   out     = weights V                  (T, T) x (T, d_v) -> (T, d_v)
 * mask may be NULL (every query sees every key). Adding M after the scaling gives the same bits as
 * the source's (Q K^T + M) / sqrt(d_k), because M holds only 0 and -inf. Returns the softmax status:
 * anything but SOFTMAX_OK means some row had nothing to look at (*bad_row says which). */
SoftmaxStatus attention_forward(Tensor *out, Tensor *scores, Tensor *weights, const Tensor *Q,
                                const Tensor *K, const Tensor *V, const Tensor *mask, int *bad_row);

/* Backward of attention_forward, accumulating: given dout (T, d_v) and the forward's weights,
 *   dV += A^T dout;  dA = dout V^T;  dS = A * (dA - rowsum(dA * A));  dQ += dS K / sqrt(d_k);
 *   dK += dS^T Q / sqrt(d_k). Masked entries have A = 0, so no gradient reaches them. */
void attention_backward(Tensor *dQ, Tensor *dK, Tensor *dV, const Tensor *dout, const Tensor *Q,
                        const Tensor *K, const Tensor *V, const Tensor *weights);

/* The same two computations for one head of a Transformer, with the causal mask or none, in
 * blocks of query rows: only the visible part of the scores is computed (the masked part's weights
 * are written as exact zeros), no (T, T) scores are kept, and the backward pass works in one block
 * of rows. causal needs T == T_kv. Unlike attention_backward, the backward pass STORES dQ, dK and dV
 * (it computes each whole; multi-head attention gives every head its own columns). Equal to
 * attention_forward/backward up to rounding; tests/test_attention.c compares them. */
SoftmaxStatus attention_head_forward(Tensor *out, Tensor *weights, const Tensor *Q, const Tensor *K,
                                     const Tensor *V, bool causal, int *bad_row);
void attention_head_backward(Tensor *dQ, Tensor *dK, Tensor *dV, const Tensor *dout, const Tensor *Q,
                             const Tensor *K, const Tensor *V, const Tensor *weights, bool causal);

/* ==== multi-head self-attention (§2.2.2) ====
 *   q = x W^Q + b^Q, k = x W^K + b^K, v = x W^V + b^V          (T, C) x (C, C) -> (T, C)
 *   head_h = attention(q[:, h], k[:, h], v[:, h])               columns h*C/H .. (h+1)*C/H - 1
 *   out = concat(head_1 .. head_H) W^O + b^O                    (T, C) x (C, C) -> (T, C)
 * Head h is a column view of q, k and v: splitting into heads copies nothing. */
typedef struct {
    Tensor Wq, Wk, Wv, Wo; /* (C, C) */
    Tensor bq, bk, bv, bo; /* (1, C) */
} MhaParams;

/* A hook on the forward pass, for looking inside a trained model (common/probe.h sets it): when a
 * cache's hook is not NULL, the forward pass calls hook->fn with an activation it has just computed,
 * (B T, C), which the hook may read or overwrite in place before the pass goes on. The sites:
 *   HOOK_HEADS  layer l: the heads' outputs side by side (MhaCache.concat), before W^O
 *   HOOK_MID    layer l: the residual stream after the attention sublayer (BlockCache.mid)
 *   HOOK_RESID  layer l = 0 .. L: the residual stream entering block l (x_0 the embeddings, x_L the
 *               last block's output)
 * NULL (the default, and always while training) costs one test per block. */
typedef enum { HOOK_HEADS, HOOK_MID, HOOK_RESID } HookSite;
typedef struct ForwardHook ForwardHook;
struct ForwardHook {
    void (*fn)(ForwardHook *self, HookSite site, int layer, Tensor *act);
};

/* What the forward pass keeps for the backward pass (and for the reader). Self-attention has
 * T_kv = T; cross-attention (a decoder attending to an encoder's output) has queries from one
 * sequence (T rows) and keys and values from another (T_kv rows). */
typedef struct {
    int B, T, T_kv, C, H; /* B sequences, each attending on its own */
    bool causal;
    Tensor q;         /* (B T, C), sequence b in rows b T .. b T + T - 1 */
    Tensor k, v;      /* (B T_kv, C) */
    Tensor *weights;  /* B H tensors (T, T_kv), index b H + h: softmax rows (0 where masked) */
    Tensor concat;    /* (B T, C): the heads side by side */
    Tensor dconcat, dq, dk, dv; /* the backward pass's workspace: (B T, C) and (B T_kv, C) */
    int cap;          /* entries allocated in weights */
    ForwardHook *hook; /* NULL, or called at HOOK_HEADS (and by the block at HOOK_MID) */
    int layer;         /* this attention's layer, passed to the hook */
} MhaCache;

/* Weights from N(0, std^2), biases 0. */
void mha_params_init(MhaParams *p, int C, Rng *rng, float std);
void mha_params_zero_like(MhaParams *g, int C); /* zero-filled, for gradients */
/* The tensors carved from an arena (NULL: each allocated), zero-filled. */
void mha_params_layout(MhaParams *p, int C, Arena *a);
void mha_params_free(MhaParams *p);
/* The parameter tensors in a fixed order (Wq, Wk, Wv, Wo, bq, bk, bv, bo). */
Tensor *mha_param(MhaParams *p, int i);
enum { MHA_N_PARAMS = 8 };

/* Self-attention over T positions (dies with a message if C is not a multiple of H). */
void mha_cache_init(MhaCache *c, int T, int C, int H, bool causal);
/* Cross-attention: T queries against T_kv keys and values, never masked. */
void mha_cache_init_cross(MhaCache *c, int T, int T_kv, int C, int H);
/* For B sequences at once, with its tensors carved from an arena (NULL: each allocated); the cache
 * must start zero-filled (weights and hook NULL), and keeps its hook when laid out again. Laying
 * out a cache again with no more sequences times heads reuses its arrays of head tensors. The
 * linear maps then run over all B T rows in one product; attention runs per sequence. */
void mha_cache_layout(MhaCache *c, int B, int T, int T_kv, int C, int H, bool causal, Arena *a);
/* The same with the backward pass's workspace (dconcat, dq, dk, dv) from `work`, the rest from
 * `keep` (see block_cache_place in block.h). */
void mha_cache_layout_shared(MhaCache *c, int B, int T, int T_kv, int C, int H, bool causal, Arena *keep, Arena *work);
void mha_cache_free(MhaCache *c);

/* Self-attention: out (B T, C) from x (B T, C). */
void mha_forward(Tensor *out, MhaCache *c, const MhaParams *p, const Tensor *x);
/* dx (T, C) += ..., grads += ... (dx may be NULL). */
void mha_backward(Tensor *dx, MhaParams *grads, const Tensor *dout, MhaCache *c, const MhaParams *p,
                  const Tensor *x);
/* Cross-attention: queries from xq (T, C), keys and values from xkv (T_kv, C). */
void mha_forward_cross(Tensor *out, MhaCache *c, const MhaParams *p, const Tensor *xq, const Tensor *xkv);
void mha_backward_cross(Tensor *dxq, Tensor *dxkv, MhaParams *grads, const Tensor *dout, MhaCache *c,
                        const MhaParams *p, const Tensor *xq, const Tensor *xkv);

#endif
