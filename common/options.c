/* options: the model and training flags (see options.h). */
#include "options.h"

#include <string.h>

#include "util.h"

ModelFlags options_model_defaults(void) {
    return (ModelFlags){.layers = 2, .heads = 4, .d_model = 64, .d_ff = 0, .context = 64, .norm = 1, .pos = 0, .act = 1};
}

TrainFlags options_train_defaults(void) {
    return (TrainFlags){.batch = 16, .steps = 2500, .warmup = 100, .eval_every = 500, .lr = 3e-3, .weight_decay = 0.1,
                        .clip = 1.0, .lr_end = 0.1};
}

int options_model(CliOption *out, ModelFlags *f) {
    int n = 0;
    out[n++] = cli_int("--layers", &f->layers, 1, 64, "L", "Transformer blocks");
    out[n++] = cli_int("--heads", &f->heads, 1, 64, "H", "attention heads (must divide --d-model)");
    out[n++] = cli_int("--d-model", &f->d_model, 4, 2048, "C", "width of the residual stream");
    out[n++] = cli_int("--d-ff", &f->d_ff, 0, 16384, "F", "hidden width of the FFN (0: 4 x d-model)");
    out[n++] = cli_int("--context", &f->context, 2, 4096, "T", "tokens the model sees (the window length)");
    out[n++] = cli_choice("--norm", &f->norm, "post|pre", "layer norm placement (the source: post)");
    out[n++] = cli_choice("--pos", &f->pos, "sin|learned", "positional encoding");
    out[n++] = cli_choice("--act", &f->act, "relu|gelu", "FFN activation (the source: relu)");
    return n;
}

int options_train(CliOption *out, TrainFlags *f) {
    int n = 0;
    out[n++] = cli_int("--batch", &f->batch, 1, 1024, "B", "windows per training step");
    out[n++] = cli_int("--steps", &f->steps, 0, 10000000, "S", "training steps (in total, when resuming)");
    out[n++] = cli_real("--lr", &f->lr, 1e-7, 1.0, "LR", "peak learning rate");
    out[n++] = cli_int("--warmup", &f->warmup, 0, 1000000, "S", "warm-up steps");
    out[n++] = cli_real("--lr-end", &f->lr_end, 0, 1.0, "F", "where the cosine ends, as a fraction of the peak rate");
    out[n++] = cli_real("--weight-decay", &f->weight_decay, 0, 10, "WD", "AdamW's decoupled weight decay (block matrices, untied head)");
    out[n++] = cli_real("--clip", &f->clip, 1e-6, 1e6, "G", "largest global gradient norm");
    out[n++] = cli_int("--eval-every", &f->eval_every, 1, 10000000, "S", "steps between validation losses");
    return n;
}

bool options_given(const CliOption *opts, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(opts[i].name, name) == 0) return opts[i].seen;
    return false;
}

void options_check_heads(const ModelFlags *f) {
    if (f->d_model % f->heads) die(EXIT_USAGE, "--heads: %lld does not divide --d-model %lld", f->heads, f->d_model);
}

ModelConfig options_config(const ModelFlags *f, int vocab, bool causal) {
    return (ModelConfig){.vocab = vocab, .d_model = (int)f->d_model, .heads = (int)f->heads,
                         .d_ff = (int)(f->d_ff ? f->d_ff : 4 * f->d_model), .layers = (int)f->layers,
                         .max_len = (int)f->context, .causal = causal, .norm = f->norm ? NORM_PRE : NORM_POST,
                         .pos = f->pos ? POS_LEARNED : POS_SINUSOIDAL, .act = f->act ? ACT_GELU : ACT_RELU, .tied = true};
}

void options_check_checkpoint(const ModelFlags *f, const CliOption *opts, int n, const ModelConfig *have,
                              const char *path) {
    const struct { const char *flag; long long value; int have; } sizes[] = {
        {"--layers", f->layers, have->layers}, {"--heads", f->heads, have->heads}, {"--d-model", f->d_model, have->d_model},
        {"--d-ff", f->d_ff, have->d_ff},       {"--context", f->context, have->max_len}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (options_given(opts, n, sizes[i].flag) && sizes[i].value != sizes[i].have)
            die(EXIT_USAGE, "%s: %lld, but the checkpoint %s was trained with %d", sizes[i].flag, sizes[i].value, path,
                sizes[i].have);
    if ((options_given(opts, n, "--norm") && (f->norm == 1) != (have->norm == NORM_PRE)) ||
        (options_given(opts, n, "--pos") && (f->pos == 1) != (have->pos == POS_LEARNED)) ||
        (options_given(opts, n, "--act") && (f->act == 1) != (have->act == ACT_GELU)))
        die(EXIT_USAGE, "--norm, --pos or --act differ from the checkpoint %s", path);
}

Schedule options_schedule(const TrainFlags *f) {
    return (Schedule){.steps = f->steps, .warmup = f->warmup, .lr = f->lr, .clip = f->clip, .lr_min = f->lr * f->lr_end};
}
