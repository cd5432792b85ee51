/* model: a stack of Transformer blocks with embeddings and an output projection: the GPT of
 * chapter 10 (causal) and the BERT-style encoder of chapter 11 (bidirectional).
 *
 *   x_0 = wte[ids] s + position        (B*T, C)   token embedding plus sinusoidal or learned position;
 *                                                 s = sqrt(C) with the sinusoidal table, else 1
 *   x_l+1 = block_l(x_l)               per sequence (T, C), l = 0 .. L-1
 *   xf = LN_f(x_L) (pre-norm) or x_L   (B*T, C)
 *   logits = xf W_out                  (B*T, C) x (C, V); W_out = wte^T when tied
 *   loss = mean cross-entropy over the targets that are not -1
 *
 * Parameters, gradients and activations each live in one allocation carved into named views
 * (see Arena in tensor.h): optimizers walk one flat array, checkpoints write one block.
 * Above this module: classifier.h (a fine-tuning head), generate.h (one token at a time with a
 * key/value cache), train.h (one optimisation step), checkpoint.h (the file format).            */
#ifndef MODEL_H
#define MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "block.h"

typedef enum { POS_SINUSOIDAL, POS_LEARNED } PosKind;

/* Called by the backward pass as soon as block `layer`'s gradients are final (layer = L-1 down to
 * 0), while the blocks before it are still to run: a data-parallel trainer (chapter 14) starts
 * combining them across processes meanwhile. The hook may read and change that block's gradients
 * (m->grads.block[layer]) and nothing else of the model. NULL (the default) costs one test per block. */
typedef struct BackwardHook BackwardHook;
struct BackwardHook {
    void (*fn)(BackwardHook *self, int layer);
};

typedef struct {
    int vocab;        /* V */
    int d_model;      /* C */
    int heads;        /* H, divides C */
    int d_ff;         /* hidden width of the FFN */
    int layers;       /* L */
    int max_len;      /* longest sequence (rows of the learned position table) */
    bool causal;      /* true: each position sees only itself and the past (GPT) */
    NormPlacement norm;
    PosKind pos;
    Activation act;
    bool tied;        /* output projection = token embedding transposed */
} ModelConfig;

typedef struct {
    Tensor wte;          /* (V, C) */
    Tensor wpe;          /* (max_len, C), learned positions only */
    BlockParams *block;  /* L */
    Tensor lnf_g, lnf_b; /* (1, C), pre-norm only */
    Tensor lm_head;      /* (C, V), untied only */
} ModelParams;

typedef struct {
    const char *name;    /* "block3.attn.Wq" */
    Tensor *param, *grad;
    bool decay;          /* weight decay applies: the blocks' matrices and an untied output matrix;
                            not the embeddings (wte, wpe), biases, gains or betas */
} ModelTensor;

typedef struct {
    ModelConfig cfg;
    ModelParams params, grads; /* the parameters and their gradients: named views into the two blocks below */
    float *param_mem, *grad_mem; /* (n_params) each: every parameter, then every gradient, in one allocation */
    size_t n_params;             /* model_param_count(&cfg) */
    ModelTensor *tensors;        /* (n_tensors): every parameter tensor with its gradient, in memory order */
    int n_tensors;
    char (*names)[48];           /* (n_tensors): the tensors' names, which tensors[i].name points at */
    /* activations, for up to max_batch sequences of max_len tokens, laid out for the last (B, T) */
    int max_batch, B, T;
    float *act_mem;              /* (act_floats): every activation below, in one allocation */
    size_t act_floats;
    Tensor pe;                   /* (max_len, C): the sinusoidal table (a constant, not a parameter) */
    Tensor *x;                   /* L + 1 tensors (B T, C): the residual stream into and out of each block */
    BlockCache *cache;           /* L: what each block's forward keeps for its backward, whole batch */
    Tensor xf;                   /* (B T, C): the final hidden states, LN_f(x_L) (pre-norm) or x_L */
    Tensor lnf_mean, lnf_rstd;   /* (B T, 1): the final norm's statistics (pre-norm) */
    Tensor logits, probs;        /* (B T, V): xf W_out, and its softmax by rows */
    Tensor dx_a, dx_b;           /* (B T, C): the residual stream's gradient, block to block (two in turn) */
    Tensor dxf;                  /* (B T, C): dL/dxf (over the blocks' shared workspace: dead once they start) */
    Tensor dlogits;              /* (B T, V): dL/dlogits (likewise) */
    int *ids, *targets;          /* (B T): copies of the last forward's inputs (-1: a position not scored) */
    bool have_targets;           /* the last forward was given targets */
    ForwardHook *hook;           /* NULL, or called at HOOK_RESID by model_forward (see attention.h; set by
                                    probe_attach, which also sets each block's) */
    BackwardHook *backward_hook; /* NULL, or called by the backward pass after each block (see above) */
} Model;

/* Check a configuration; returns NULL or a message naming what is wrong. */
const char *model_config_error(const ModelConfig *cfg);
/* Parameters for a configuration, from its formula. */
long model_param_count(const ModelConfig *cfg);

/* Allocate and initialise (GPT-2's scheme: N(0, 0.02), projections into the residual stream
 * N(0, 0.02 / sqrt(2L)), gammas 1, biases 0) from seed; activations for max_batch sequences. */
void model_init(Model *m, const ModelConfig *cfg, int max_batch, uint64_t seed);
void model_free(Model *m);

/* Forward B sequences of T tokens (ids: B*T, row-major by sequence). targets (B*T, -1 = not
 * scored) may be NULL; then the loss is 0 and only m->probs and m->logits are filled.
 * Returns the mean cross-entropy in nats. */
double model_forward(Model *m, const int *ids, const int *targets, int B, int T);
void model_zero_grad(Model *m);
/* The first tensor (in memory order) whose gradient holds a NaN or an infinity, with the element
 * in *element; NULL when every gradient is finite. */
const ModelTensor *model_nonfinite_grad(const Model *m, long *element);
/* Gradients of the last forward's loss, added into m->grads (call model_zero_grad first). */
void model_backward(Model *m);
/* Gradients from dL/dxf (B*T, C), the final hidden states m->xf of the last forward, added into
 * m->grads: for a head other than the language model's (a classifier, say). */
void model_backward_hidden(Model *m, const Tensor *dxf);

#endif
