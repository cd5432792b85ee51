/* generate: running a causal model one token at a time with a key/value cache (chapter 10).
 *
 * Generating token by token, each new position needs the keys and values of all earlier positions
 * at every layer. Recomputing them costs O(T) per layer per new token for the projections alone
 * (O(T^2) for the whole text); keeping them costs memory and makes each new token O(T) in the
 * attention only. model_step feeds one token at position kv->len through every block's step
 * (block_step, block.h) and leaves its logits in kv->logits: the same arithmetic as model_forward
 * on the whole prefix, row for row. */
#ifndef GENERATE_H
#define GENERATE_H

#include "model.h"

typedef struct {
    int layers, max_len, C, len; /* len: the positions fed so far (the next one's index) */
    Tensor *k, *v;               /* layers tensors (max_len, C): the cached keys and values */
    Tensor x;                    /* (1, C): the new row's residual stream, block to block */
    BlockRow row;                /* one block step's workspace, shared by the layers */
    Tensor logits;               /* (1, V): the last token's next-token logits */
} KvCache;

/* A cache for m (causal only), empty (len 0). kv_free releases what kv_init allocated. */
void kv_init(KvCache *kv, const Model *m);
void kv_free(KvCache *kv);
/* Process `token` at position kv->len (< max_len); logits (1, V) in kv->logits. */
void model_step(Model *m, KvCache *kv, int token);

#endif
