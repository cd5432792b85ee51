/* ch13_interpretability: inside the trained model, find the head that carries the agreement and
 * prove it. Source document §1 (its closing paragraph counts the models' poor interpretability
 * among the challenges of training them) and §2.2.2 (the heads that are taken apart here). The
 * language is ours, so we know exactly what the model must compute: the closer at the end of a
 * sentence agrees with its first word (the marker), any number of characters earlier (chapter 1,
 * section 7; chapter 10, section 5).
 *
 *   read     A[l.h][q, k]                          where does each head look from the closer's position?
 *   ablate   heads_l[:, h] <- 0, or its mean       what breaks without head l.h?
 *   patch    run "xa ..." with one activation copied from "zo ...": how much of "ze" comes back?
 *   lens     logits_s = LN_f(x_s) W_out            at which site does the answer first appear?
 *
 * The hooks (common/probe.h) read and overwrite activations inside model_forward; the tests in
 * tests/test_probe.c prove that patching a run with its own values changes no bit, and that
 * ablating every head of a layer equals removing its attention.
 *
 * Run: make ch13 && ./ch13_interpretability                 train chapter 10's GPT (~25 s), then look
 *      ./ch13_interpretability --load gpt.ckpt              a checkpoint of chapter 10 (characters)
 *      ./ch13_interpretability --seed 7                     another model: another circuit?        */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "dataset.h"
#include "options.h"
#include "plot.h"
#include "print.h"
#include "probe.h"
#include "train.h"
#include "util.h"

#define CHAPTER "ch13_interpretability"

/* The validation sentences that fit in the context, one per row of T tokens:
 *   ids  </s> c_0 c_1 ... c_{n-2} </s> ...     targets  c_0 c_1 ... c_{n-1} -1 ...
 * (c_{n-1} is the line's </s>). The closer's first letter c_pos is predicted at row position pos,
 * from the space before it; the marker is at positions 1 and 2. */
typedef struct {
    int n, T;
    int *ids, *targets; /* (n, T) */
    int *pos, *len, *cls; /* prediction position, tokens in the row, the marker's class */
    double floor_nats;  /* the true process's cross-entropy per token over these sentences */
} EvalSet;

typedef struct {
    double acc, loss;
} Score;

typedef struct {
    /* flags */
    CliCommon common;
    DatasetFlags data_flags;
    ModelFlags mf;         /* chapter 10's model and training flags (common/options.h) */
    TrainFlags tf;
    long long sentences, pairs;
    const char *load;
    CliOption *opts;
    int n_opts;
    /* state */
    Dataset data;
    ModelConfig cfg;
    Model model;
    Checkpoint ck;
    bool loaded;
    long trained_steps;
    int cand[SYNTH_CLASSES]; /* the four closers' first letters */
    EvalSet ev;
    int example;             /* the sentence shown in sections 2 and 4 */
    char (*label)[8];        /* a printable label per vocabulary id */
    Probe probe;
    ProbeRecord rec;
    Plotter plot;
    /* results the summary reads */
    Score intact;
    Tensor marker_w;          /* (L, H) attention weight on the marker from the closer's position */
    Tensor zero_acc, mean_acc, zero_loss, mean_loss; /* (L, H + 1): column H = the whole layer */
    Tensor head_patch;        /* (L, H) recovery when one head is patched at every position */
    double chance;
} Chapter;

/* ==== tools of every section ==== */

static const char *tok_label(const Chapter *ch, int id) { return ch->label[id]; }

/* Rows first .. first+B-1 of the evaluation set into the model (with the probe's edits, if any);
 * returns B, and the mean loss over their tokens in *loss (if not NULL). */
static int forward_rows(Chapter *ch, int first, double *loss) {
    const int B = first + ch->model.max_batch <= ch->ev.n ? ch->model.max_batch : ch->ev.n - first, T = ch->ev.T;
    const double l = model_forward(&ch->model, ch->ev.ids + (size_t)first * T, ch->ev.targets + (size_t)first * T, B, T);
    if (loss) *loss = l;
    return B;
}

/* The class a row of probabilities or logits ranks first among the four closers. */
static int closer_choice(const Chapter *ch, const float *p) {
    int best = 0;
    for (int c = 1; c < SYNTH_CLASSES; c++)
        if (p[ch->cand[c]] > p[ch->cand[best]]) best = c;
    return best;
}

/* Agreement accuracy and mean cross-entropy per token over the evaluation set, with whatever edits
 * the probe holds. */
static Score score_set(Chapter *ch) {
    double right = 0, nats = 0, tokens = 0;
    for (int first = 0; first < ch->ev.n;) {
        double loss;
        const int B = forward_rows(ch, first, &loss);
        long counted = 0;
        for (int b = 0; b < B; b++) {
            const int i = first + b;
            right += closer_choice(ch, tensor_at(&ch->model.logits, b * ch->ev.T + ch->ev.pos[i], 0)) == ch->ev.cls[i];
            counted += ch->ev.len[i];
        }
        nats += loss * (double)counted;
        tokens += (double)counted;
        first += B;
    }
    return (Score){right / ch->ev.n, nats / tokens};
}

/* "L1.H2" */
static void head_name(char *buf, size_t size, int l, int h) { snprintf(buf, size, "L%d.H%d", l, h); }

/* ==== 1. The model ==== */

static void build_eval_set(Chapter *ch) {
    Dataset *d = &ch->data;
    EvalSet *e = &ch->ev;
    const int T = ch->cfg.max_len;
    e->T = T;
    e->ids = xmalloc(sizeof(int) * (size_t)ch->sentences * (size_t)T);
    e->targets = xmalloc(sizeof(int) * (size_t)ch->sentences * (size_t)T);
    e->pos = xmalloc(sizeof(int) * (size_t)ch->sentences), e->len = xmalloc(sizeof(int) * (size_t)ch->sentences);
    e->cls = xmalloc(sizeof(int) * (size_t)ch->sentences);
    double nats = 0, tokens = 0;
    int skipped = 0;
    for (int i = 0; i < d->n_val && e->n < ch->sentences; i++) {
        const long s0 = d->val_line_start[i];
        const int n = (int)(d->val_line_start[i + 1] - s0);
        int pos, gap;
        dataset_closer(d, i, &pos, &gap);
        if (n > T) { skipped++; continue; }
        int *ids = e->ids + (size_t)e->n * T, *tg = e->targets + (size_t)e->n * T;
        for (int t = 0; t < T; t++) {
            ids[t] = t == 0 ? VOCAB_EOS : t < n ? d->val.id[s0 + t - 1] : VOCAB_EOS;
            tg[t] = t < n ? d->val.id[s0 + t] : -1;
        }
        e->pos[e->n] = pos, e->len[e->n] = n, e->cls[e->n] = d->synth.cls[d->val_synth_index[i]];
        nats -= d->synth.logp[d->val_synth_index[i]], tokens += n;
        e->n++;
    }
    e->floor_nats = nats / tokens;
    printf("  The evaluation set: the first %d validation sentences that fit in %d tokens (%d longer ones\n"
           "  skipped), each in its own row after a </s>; the true process gives them %.4f nats per token\n",
           e->n, T, skipped, e->floor_nats);
    /* the example: the first sentence whose closer comes 10 to 15 characters in */
    ch->example = 0;
    for (int i = 0; i < e->n; i++)
        if (e->pos[i] >= 10 && e->pos[i] <= 15) { ch->example = i; break; }
}

static void train_model(Chapter *ch) {
    const int B = (int)ch->tf.batch, T = ch->cfg.max_len;
    long n_ext;
    int *ext = token_stream_with_eos(&ch->data.train, &n_ext);
    if (n_ext <= T + 1) die(EXIT_RUNTIME, "the training text has %ld tokens, too few for windows of --context %d", n_ext, T);
    AdamW opt;
    adamw_init(&opt, ch->model.n_params, 0.9f, 0.95f, 1e-8f, (float)ch->tf.weight_decay);
    Rng rng;
    rng_seed(&rng, (uint64_t)ch->common.seed, 10); /* chapter 10's data stream: the same windows */
    int *ids = xmalloc(sizeof(int) * (size_t)B * (size_t)T), *tg = xmalloc(sizeof(int) * (size_t)B * (size_t)T);
    const Schedule sched = options_schedule(&ch->tf);
    const long every = ch->tf.eval_every;
    double running = 0;
    long count = 0;
    printf("  %lld steps of %d random windows of %d characters (AdamW, warm-up, cosine; chapter 10's loop):\n",
           ch->tf.steps, B, T);
    for (long s = 1; s <= ch->tf.steps; s++) {
        for (int b = 0; b < B; b++) { /* a random window: T inputs and the T tokens after them */
            const long start = (long)rng_below(&rng, (uint32_t)(n_ext - T));
            memcpy(ids + b * T, ext + start, sizeof(int) * (size_t)T), memcpy(tg + b * T, ext + start + 1, sizeof(int) * (size_t)T);
        }
        running += train_step(&ch->model, &opt, ids, tg, B, T, s, &sched), count++;
        if (s % every == 0 || s == ch->tf.steps)
            printf("    step %6ld   training loss %.4f (mean since the last line)\n", s, running / (double)count), running = 0, count = 0;
    }
    fflush(stdout);
    ch->trained_steps = ch->tf.steps;
    free(ids), free(tg), free(ext);
    adamw_free(&opt);
}

/* The data, the model (loaded or initialised), the labels and the probe. */
static void setup(Chapter *ch) {
    if (ch->load) {
        checkpoint_load(&ch->ck, ch->load);
        printf("  (the corpus is generated as chapter 10's with this --seed and --lines; the checkpoint's\n"
               "  vocabulary must match it)\n");
        if (!ch->ck.cfg.causal || ch->ck.level != LEVEL_CHAR)
            die(EXIT_RUNTIME, "%s is not a character-level GPT of chapter 10 (causal, --level char)", ch->load);
        ch->loaded = true;
    }
    dataset_load(&ch->data, &ch->data_flags, (uint64_t)ch->common.seed, false, stdout);
    if (ch->loaded) {
        bool same = ch->data.vocab.size == ch->ck.vocab.size;
        for (int i = 0; same && i < ch->data.vocab.size; i++) same = strcmp(ch->data.vocab.word[i], ch->ck.vocab.word[i]) == 0;
        if (!same) die(EXIT_RUNTIME, "%s was trained on another vocabulary than this corpus gives", ch->load);
        options_check_checkpoint(&ch->mf, ch->opts, ch->n_opts, &ch->ck.cfg, ch->load);
        ch->cfg = ch->ck.cfg;
    } else {
        ch->cfg = options_config(&ch->mf, ch->data.vocab.size, true);
    }
    if (ch->cfg.max_len < 16 || ch->cfg.max_len > 256) /* flags were checked in main: a checkpoint's */
        die(EXIT_RUNTIME, "%s has a context of %d characters; this chapter needs 16 to 256", ch->load, ch->cfg.max_len);
    model_init(&ch->model, &ch->cfg, (int)ch->tf.batch, (uint64_t)ch->common.seed);
    if (ch->loaded) memcpy(ch->model.param_mem, ch->ck.params, sizeof(float) * ch->ck.n_params);
    dataset_closer_ids(&ch->data, ch->cand);
    ch->label = xmalloc(sizeof *ch->label * (size_t)ch->cfg.vocab);
    for (int v = 0; v < ch->cfg.vocab; v++) {
        const char *w = ch->data.vocab.word[v];
        snprintf(ch->label[v], sizeof ch->label[v], "%s", v == VOCAB_EOS ? "</s>" : strcmp(w, " ") == 0 ? "_" : w);
    }
    probe_init(&ch->probe, &ch->model);
    probe_record_init(&ch->rec, &ch->model);
}

static void section_1_model(Chapter *ch) {
    print_section(stdout, 1, "The model: chapter 10's GPT on the synthetic language");
    setup(ch);
    const ModelConfig *c = &ch->cfg;
    printf("\n  The model: %d blocks of %d heads, d_model %d, d_ff %d, context %d characters, %zu parameters;\n"
           "  %s, %s positions, %s, output tied to the token embedding.\n", c->layers, c->heads, c->d_model, c->d_ff, c->max_len,
           ch->model.n_params, c->norm == NORM_PRE ? "pre-norm" : "post-norm", c->pos == POS_LEARNED ? "learned" : "sinusoidal",
           c->act == ACT_GELU ? "GELU" : "ReLU");
    if (ch->loaded) printf("  Loaded from %s (%ld training steps).\n", ch->load, ch->ck.train.steps_done);
    else train_model(ch);
    putchar('\n');
    build_eval_set(ch);
    ch->intact = score_set(ch);
    ch->chance = 1.0 / SYNTH_CLASSES;
    printf("\n  On them: the closer agrees with the marker (the right one of the four ranked first) in %.1f%%;\n"
           "  cross-entropy %.4f nats per token (the floor: %.4f). Chance at the closer: 1/%d = %.0f%%.\n",
           100 * ch->intact.acc, ch->intact.loss, ch->ev.floor_nats, SYNTH_CLASSES, 100 * ch->chance);
}

/* ==== 2. Attention, read ==== */

/* Labels of the first n tokens of evaluation row i. */
static const char **row_labels(const Chapter *ch, int i, int n) {
    const char **lab = xmalloc(sizeof(char *) * (size_t)n);
    for (int t = 0; t < n; t++) lab[t] = tok_label(ch, ch->ev.ids[(size_t)i * ch->ev.T + t]);
    return lab;
}

static void attention_example(Chapter *ch, int best_l, int best_h) {
    const int i = ch->example, q = ch->ev.pos[i], n = q + 1, L = ch->cfg.layers, H = ch->cfg.heads;
    model_forward(&ch->model, ch->ev.ids + (size_t)i * ch->ev.T, NULL, 1, n);
    const char **lab = row_labels(ch, i, n);
    char name[32], title[160];
    head_name(name, sizeof name, best_l, best_h);
    Tensor rows = tensor_new(L * H, n);
    const char **head_lab = xmalloc(sizeof(char *) * (size_t)(L * H));
    char (*hn)[32] = xmalloc(sizeof *hn * (size_t)(L * H));
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) {
            head_name(hn[l * H + h], sizeof hn[0], l, h), head_lab[l * H + h] = hn[l * H + h];
            memcpy(tensor_at(&rows, l * H + h, 0), tensor_at(&ch->model.cache[l].attn.weights[h], q, 0), sizeof(float) * (size_t)n);
        }
    printf("\n  Example (sentence %d; '_' is a space): the closer's row of every head, A[q = %d, k]\n", i, q);
    PrintOpts o = print_defaults();
    o.precision = 2, o.max_cols = 24, o.row_labels = head_lab, o.col_labels = lab, o.color = print_color_wanted();
    print_matrix(stdout, "A[l.h][q, :]", &rows, &o);
    const Tensor *A = &ch->model.cache[best_l].attn.weights[best_h];
    printf("\n  The head that looks hardest at the marker, %s, every row of it on that sentence (query x key):\n", name);
    o.row_labels = lab;
    snprintf(title, sizeof title, "A[%s]", name);
    print_matrix(stdout, title, A, &o);
    snprintf(title, sizeof title, "head %s, every row", name);
    HeatPanel panels[2] = {{"example_head", title, A, lab, lab, "key (looked at)", "query (looking)", HEAT_WEIGHTS},
                           {"example_rows", "every head, the closer's row", &rows, head_lab, lab, "key", "head", HEAT_WEIGHTS}};
    plot_heatmaps(&ch->plot, "attention_example", "Attention on one sentence", panels, 2);
    tensor_free(&rows), free(lab), free(head_lab), free(hn);
}

static void section_2_attention(Chapter *ch) {
    print_section(stdout, 2, "Attention, read: who looks at the marker from the closer's position?");
    const int L = ch->cfg.layers, H = ch->cfg.heads;
    printf("  For each head and sentence: A[q, 1] + A[q, 2], the weight that the row q predicting the closer\n"
           "  puts on the marker's two letters, against the mean weight on one of the other q - 1 positions.\n\n");
    ch->marker_w = tensor_new(L, H);
    Tensor other = tensor_new(L, H);
    for (int first = 0; first < ch->ev.n;) {
        const int B = forward_rows(ch, first, NULL);
        for (int b = 0; b < B; b++) {
            const int q = ch->ev.pos[first + b];
            for (int l = 0; l < L; l++)
                for (int h = 0; h < H; h++) {
                    const float *a = tensor_at(&ch->model.cache[l].attn.weights[b * H + h], q, 0);
                    const double w = (double)a[1] + a[2];
                    *tensor_at(&ch->marker_w, l, h) += (float)(w / ch->ev.n);
                    *tensor_at(&other, l, h) += (float)((1 - w) / (q - 1) / ch->ev.n);
                }
        }
        first += B;
    }
    int bl = 0, bh = 0;
    printf("  %-7s %14s %16s %8s\n", "head", "on the marker", "on another (mean)", "ratio");
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) {
            char name[32];
            head_name(name, sizeof name, l, h);
            const double w = *tensor_at(&ch->marker_w, l, h), o = *tensor_at(&other, l, h);
            printf("  %-7s %14.3f %16.3f %8.1f\n", name, w, o, w / 2 / o);
            if (w > *tensor_at(&ch->marker_w, bl, bh)) bl = l, bh = h;
        }
    HeatPanel p = {"marker_weight", "weight on the marker from the closer's position", &ch->marker_w, NULL, NULL,
                   "head", "layer", HEAT_WEIGHTS};
    putchar('\n');
    plot_heatmaps(&ch->plot, "marker_attention", "Attention to the first word", &p, 1);
    attention_example(ch, bl, bh);
    char note[400], name[32];
    head_name(name, sizeof name, bl, bh);
    const double w = *tensor_at(&ch->marker_w, bl, bh);
    snprintf(note, sizeof note, "Notice: head %s puts %.0f%% of its weight on the marker's two letters, %.0f times "
             "what it gives another position on average%s. That is where it looks, not yet proof that the "
             "answer travels through it: sections 3 and 4 test that.", name, 100 * w,
             w / 2 / *tensor_at(&other, bl, bh), w > 0.5 ? "" : " (less than half: no head looks there mostly)");
    print_note(stdout, note);
    tensor_free(&other);
}

/* ==== 3. Ablation ==== */

/* The mean of every layer's head outputs over the real tokens of the evaluation set: (L, C). */
static Tensor head_means(Chapter *ch) {
    const int L = ch->cfg.layers, C = ch->cfg.d_model, T = ch->ev.T;
    Tensor mean = tensor_new(L, C);
    double *sum = xcalloc((size_t)L * C, sizeof(double)), count = 0;
    probe_record(&ch->probe, &ch->rec);
    for (int first = 0; first < ch->ev.n;) {
        const int B = forward_rows(ch, first, NULL);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < ch->ev.len[first + b]; t++, count++)
                for (int l = 0; l < L; l++)
                    for (int k = 0; k < C; k++) sum[l * C + k] += *tensor_at(&ch->rec.heads[l], b * T + t, k);
        first += B;
    }
    probe_record(&ch->probe, NULL);
    for (int i = 0; i < L * C; i++) mean.data[i] = (float)(sum[i] / count);
    free(sum);
    return mean;
}

static void section_3_ablation(Chapter *ch) {
    print_section(stdout, 3, "Ablation: take one head out and measure");
    const int L = ch->cfg.layers, H = ch->cfg.heads;
    printf("  heads[l][:, h] <- 0 (zero-ablation), or <- its mean over the evaluation set's tokens\n"
           "  (mean-ablation: the head still adds its average, but nothing that depends on the sentence).\n"
           "  \"all\" does it to every head of the layer. Accuracy: the agreement; loss: nats per token.\n\n");
    Tensor mean = head_means(ch);
    Tensor *out[4] = {&ch->zero_acc, &ch->zero_loss, &ch->mean_acc, &ch->mean_loss};
    for (int i = 0; i < 4; i++) *out[i] = tensor_new(L, H + 1);
    printf("  %-7s %10s %12s %12s %12s %12s\n", "head", "on marker", "zero: acc", "zero: loss", "mean: acc", "mean: loss");
    printf("  %-7s %10s %11.1f%% %12.4f %11.1f%% %12.4f\n", "none", "", 100 * ch->intact.acc, ch->intact.loss,
           100 * ch->intact.acc, ch->intact.loss);
    const int n = L * (H + 1);
    double *za = xmalloc(sizeof(double) * (size_t)n), *ma = xmalloc(sizeof(double) * (size_t)n);
    double *base = xmalloc(sizeof(double) * (size_t)n), *chance = xmalloc(sizeof(double) * (size_t)n);
    double *zl = xmalloc(sizeof(double) * (size_t)n), *ml = xmalloc(sizeof(double) * (size_t)n);
    double *base_l = xmalloc(sizeof(double) * (size_t)n), *floor_l = xmalloc(sizeof(double) * (size_t)n);
    const char **labels = xmalloc(sizeof(char *) * (size_t)n);
    char (*names)[32] = xmalloc(sizeof *names * (size_t)n);
    for (int l = 0; l < L; l++)
        for (int h = 0; h <= H; h++) {
            const int j = l * (H + 1) + h;
            if (h < H) head_name(names[j], sizeof names[j], l, h);
            else snprintf(names[j], sizeof names[j], "L%d all", l);
            labels[j] = names[j];
            Score s[2];
            const Tensor row = tensor_row(&mean, l); /* lives until the edits are cleared */
            for (int kind = 0; kind < 2; kind++) { /* zero, then mean */
                probe_clear(&ch->probe);
                for (int k = h < H ? h : 0; k < (h < H ? h + 1 : H); k++)
                    probe_add(&ch->probe, (ProbeEdit){HOOK_HEADS, l, k, -1, kind ? PROBE_ROW : PROBE_ZERO, kind ? &row : NULL});
                s[kind] = score_set(ch);
            }
            probe_clear(&ch->probe);
            *tensor_at(&ch->zero_acc, l, h) = (float)s[0].acc, *tensor_at(&ch->zero_loss, l, h) = (float)s[0].loss;
            *tensor_at(&ch->mean_acc, l, h) = (float)s[1].acc, *tensor_at(&ch->mean_loss, l, h) = (float)s[1].loss;
            char w[32] = "";
            if (h < H) snprintf(w, sizeof w, "%.3f", *tensor_at(&ch->marker_w, l, h));
            printf("  %-7s %10s %11.1f%% %12.4f %11.1f%% %12.4f\n", names[j], w, 100 * s[0].acc, s[0].loss,
                   100 * s[1].acc, s[1].loss);
            za[j] = 100 * s[0].acc, ma[j] = 100 * s[1].acc, base[j] = 100 * ch->intact.acc, chance[j] = 100 * ch->chance;
            zl[j] = s[0].loss, ml[j] = s[1].loss, base_l[j] = ch->intact.loss, floor_l[j] = ch->ev.floor_nats;
        }
    putchar('\n');
    LineSeries series[4] = {{"zero-ablated", za, false}, {"mean-ablated", ma, false},
                            {"intact model", base, true}, {"chance", chance, true}};
    plot_bars(&ch->plot, "ablation", "Agreement accuracy with one head (or one layer's heads) taken out",
              "closer right (%)", labels, n, series, 4);
    LineSeries loss_series[4] = {{"zero-ablated", zl, false}, {"mean-ablated", ml, false},
                                 {"intact model", base_l, true}, {"floor (the true process)", floor_l, true}};
    plot_bars(&ch->plot, "ablation_loss", "Validation loss with one head (or one layer's heads) taken out",
              "cross-entropy (nats per token)", labels, n, loss_series, 4);
    /* which single heads matter (by zero-ablation), and where the attention-read favourite ranks */
    int worst_l = 0, worst_h = 0, matter = 0, watched_l = 0, watched_h = 0;
    const double span = ch->intact.acc - ch->chance;
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) {
            const double a = *tensor_at(&ch->zero_acc, l, h);
            if (a < *tensor_at(&ch->zero_acc, worst_l, worst_h)) worst_l = l, worst_h = h;
            matter += ch->intact.acc - a > 0.1 * span;
            if (*tensor_at(&ch->marker_w, l, h) > *tensor_at(&ch->marker_w, watched_l, watched_h)) watched_l = l, watched_h = h;
        }
    int rank = 1; /* of the watched head, by accuracy without it (1 = costliest) */
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) rank += *tensor_at(&ch->zero_acc, l, h) < *tensor_at(&ch->zero_acc, watched_l, watched_h);
    char note[800], wn[32], an[32], tail[400];
    head_name(wn, sizeof wn, worst_l, worst_h), head_name(an, sizeof an, watched_l, watched_h);
    if (rank == 1)
        snprintf(tail, sizeof tail, "It is also the head that looks hardest at the marker: here attention weight pointed "
                 "at the head that matters.");
    else
        snprintf(tail, sizeof tail, "The head that looks hardest at the marker, %s, ranks %d of %d by cost (%.1f%% without "
                 "it); %s gives the marker %.0f%% of its weight, so reading attention alone would have missed it.",
                 an, rank, L * H, 100 * *tensor_at(&ch->zero_acc, watched_l, watched_h), wn,
                 100 * *tensor_at(&ch->marker_w, worst_l, worst_h));
    snprintf(note, sizeof note,
             "Notice: %d of the %d heads cost more than a tenth of the way from %.1f%% to chance when taken out; "
             "the costliest, %s, leaves %.1f%% zero-ablated and %.1f%% mean-ablated. %s",
             matter, L * H, 100 * ch->intact.acc, wn, 100 * *tensor_at(&ch->zero_acc, worst_l, worst_h),
             100 * *tensor_at(&ch->mean_acc, worst_l, worst_h), tail);
    print_note(stdout, note);
    free(za), free(ma), free(base), free(chance), free(zl), free(ml), free(base_l), free(floor_l), free(labels), free(names);
    tensor_free(&mean);
}

/* ==== 4. Activation patching ==== */

/* A pair: the sentence, and the same sentence with another marker (so another closer is right). */
typedef struct {
    int i, T, cls, other;
    int ids[2][256]; /* clean, corrupted */
} Pair;

/* The logit of the clean closer minus the corrupted one's at the prediction position, with the
 * probe's edits, on ids. */
static double logit_diff(Chapter *ch, const Pair *p, const int *ids) {
    model_forward(&ch->model, ids, NULL, 1, p->T);
    const float *z = tensor_at(&ch->model.logits, p->T - 1, 0);
    return (double)z[ch->cand[p->cls]] - z[ch->cand[p->other]];
}

/* The marker's two tokens of each class, read from the evaluation set. */
static void marker_tokens(const Chapter *ch, int mk[SYNTH_CLASSES][2]) {
    for (int c = 0; c < SYNTH_CLASSES; c++) mk[c][0] = -1;
    for (int i = 0; i < ch->ev.n; i++) {
        const int *ids = ch->ev.ids + (size_t)i * ch->ev.T;
        mk[ch->ev.cls[i]][0] = ids[1], mk[ch->ev.cls[i]][1] = ids[2];
    }
    for (int c = 0; c < SYNTH_CLASSES; c++)
        if (mk[c][0] < 0) die(EXIT_RUNTIME, "no evaluation sentence of class %d: use more --sentences", c);
}

static void make_pair(const Chapter *ch, Pair *p, int i, int mk[SYNTH_CLASSES][2], Rng *rng) {
    p->i = i, p->T = ch->ev.pos[i] + 1, p->cls = ch->ev.cls[i];
    p->other = (p->cls + 1 + (int)rng_below(rng, SYNTH_CLASSES - 1)) % SYNTH_CLASSES;
    for (int t = 0; t < p->T; t++) p->ids[0][t] = p->ids[1][t] = ch->ev.ids[(size_t)i * ch->ev.T + t];
    p->ids[1][1] = mk[p->other][0], p->ids[1][2] = mk[p->other][1];
}

/* The residual stream's sites in order: x_0, mid_0, x_1, mid_1, ..., x_L (2L + 1). */
static void site_of(int s, HookSite *site, int *layer) {
    *site = s % 2 == 0 ? HOOK_RESID : HOOK_MID, *layer = s / 2;
}

static void site_name(char *buf, size_t size, int s) {
    if (s % 2 == 0) snprintf(buf, size, s == 0 ? "x0 (embed)" : "x%d", s / 2);
    else snprintf(buf, size, "mid%d", s / 2);
}

/* Recovery of each site x position on the example pair: (2L + 1, T). */
static void patch_example(Chapter *ch, const Pair *p) {
    const int S = 2 * ch->cfg.layers + 1;
    probe_record(&ch->probe, &ch->rec);
    const double clean = logit_diff(ch, p, p->ids[0]);
    probe_record(&ch->probe, NULL);
    const double corrupt = logit_diff(ch, p, p->ids[1]);
    Tensor rec = tensor_new(S, p->T);
    for (int s = 0; s < S; s++)
        for (int t = 0; t < p->T; t++) {
            HookSite site;
            int layer;
            site_of(s, &site, &layer);
            probe_clear(&ch->probe);
            probe_add(&ch->probe, (ProbeEdit){site, layer, -1, t, PROBE_COPY, probe_site(&ch->rec, site, layer)});
            *tensor_at(&rec, s, t) = (float)((logit_diff(ch, p, p->ids[1]) - corrupt) / (clean - corrupt));
        }
    probe_clear(&ch->probe);
    const char **lab = row_labels(ch, p->i, p->T);
    const char **sl = xmalloc(sizeof(char *) * (size_t)S);
    char (*sn)[32] = xmalloc(sizeof *sn * (size_t)S);
    for (int s = 0; s < S; s++) site_name(sn[s], sizeof sn[s], s), sl[s] = sn[s];
    char *clean_text = corpus_decode(&ch->data.vocab, p->ids[0] + 1, p->T - 1, LEVEL_CHAR);
    printf("\n  The example: \"%s\" (closer %s) against the same with marker '%s%s' (closer %s);\n"
           "  logit difference clean %.2f, corrupted %.2f. Recovery, one site and position patched:\n",
           clean_text, synth_closer(p->cls), tok_label(ch, p->ids[1][1]), tok_label(ch, p->ids[1][2]),
           synth_closer(p->other), clean, corrupt);
    PrintOpts o = print_defaults();
    o.precision = 2, o.max_cols = 24, o.row_labels = sl, o.col_labels = lab, o.color = print_color_wanted();
    print_matrix(stdout, "recovery[site, position]", &rec, &o);
    Tensor by_pos = tensor_new(p->T, S); /* drawn transposed: a row per token leaves room for the numbers */
    for (int s = 0; s < S; s++)
        for (int t = 0; t < p->T; t++) *tensor_at(&by_pos, t, s) = *tensor_at(&rec, s, t);
    HeatPanel panel = {"patch_positions", "recovery: position x site", &by_pos, lab, sl, "site", "position patched", HEAT_SIGNED};
    plot_heatmaps(&ch->plot, "patch_residual", "Patching the residual stream, one position at a time", &panel, 1);
    free(clean_text), free(lab), free(sl), free(sn), tensor_free(&rec), tensor_free(&by_pos);
}

static void section_4_patching(Chapter *ch) {
    print_section(stdout, 4, "Activation patching: copy one activation from the clean run into the corrupted one");
    const int L = ch->cfg.layers, H = ch->cfg.heads, S = 2 * L + 1, n = (int)(ch->pairs < ch->ev.n ? ch->pairs : ch->ev.n);
    printf("  clean: a sentence; corrupted: the same with another marker. d = logit(clean closer) - logit(the\n"
           "  corrupted one's) at the closer's position. Patching an activation of the clean run into the\n"
           "  corrupted run gives d_patched; recovery = sum (d_patched - d_corrupt) / sum (d_clean - d_corrupt)\n"
           "  over %d pairs: 1 = the clean answer is back whole, 0 = nothing came back.\n", n);
    int mk[SYNTH_CLASSES][2];
    marker_tokens(ch, mk);
    Rng rng;
    rng_seed(&rng, (uint64_t)ch->common.seed, 13);
    Pair *p = xmalloc(sizeof(Pair));
    make_pair(ch, p, ch->example, mk, &rng);
    patch_example(ch, p);
    /* over all pairs: groups of positions per site, and each head (every position, or the last only) */
    enum { G_MARKER, G_BODY, G_LAST, N_GROUPS };
    Tensor groups = tensor_new(S, N_GROUPS), heads_all = tensor_new(L, H), heads_last = tensor_new(L, H);
    double *num = xcalloc((size_t)(S * N_GROUPS + 2 * L * H), sizeof(double)), den = 0;
    for (int k = 0; k < n; k++) {
        make_pair(ch, p, k, mk, &rng);
        probe_clear(&ch->probe);
        probe_record(&ch->probe, &ch->rec);
        const double clean = logit_diff(ch, p, p->ids[0]);
        probe_record(&ch->probe, NULL);
        const double corrupt = logit_diff(ch, p, p->ids[1]);
        den += clean - corrupt;
        for (int s = 0; s < S; s++)
            for (int g = 0; g < N_GROUPS; g++) {
                HookSite site;
                int layer;
                site_of(s, &site, &layer);
                probe_clear(&ch->probe);
                for (int t = 0; t < p->T; t++) {
                    const int gt = t == 1 || t == 2 ? G_MARKER : t == p->T - 1 ? G_LAST : G_BODY;
                    if (gt == g) probe_add(&ch->probe, (ProbeEdit){site, layer, -1, t, PROBE_COPY, probe_site(&ch->rec, site, layer)});
                }
                num[s * N_GROUPS + g] += logit_diff(ch, p, p->ids[1]) - corrupt;
            }
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++)
                for (int last = 0; last < 2; last++) {
                    probe_clear(&ch->probe);
                    probe_add(&ch->probe, (ProbeEdit){HOOK_HEADS, l, h, last ? p->T - 1 : -1, PROBE_COPY, &ch->rec.heads[l]});
                    num[S * N_GROUPS + last * L * H + l * H + h] += logit_diff(ch, p, p->ids[1]) - corrupt;
                }
    }
    probe_clear(&ch->probe);
    for (int i = 0; i < S * N_GROUPS; i++) groups.data[i] = (float)(num[i] / den);
    for (int i = 0; i < L * H; i++) heads_all.data[i] = (float)(num[S * N_GROUPS + i] / den);
    for (int i = 0; i < L * H; i++) heads_last.data[i] = (float)(num[S * N_GROUPS + L * H + i] / den);
    const char *gl[N_GROUPS] = {"marker", "body", "closer's pos"};
    const char **sl = xmalloc(sizeof(char *) * (size_t)S);
    char (*sn)[32] = xmalloc(sizeof *sn * (size_t)S);
    for (int s = 0; s < S; s++) site_name(sn[s], sizeof sn[s], s), sl[s] = sn[s];
    printf("\n  Over all %d pairs: each site patched at a group of positions (the marker's two letters,\n"
           "  every position between it and the closer's, or the closer's position alone):\n", n);
    PrintOpts o = print_defaults();
    o.precision = 2, o.row_labels = sl, o.col_labels = gl, o.color = print_color_wanted();
    print_matrix(stdout, "recovery[site, group]", &groups, &o);
    printf("\n  Each head's output patched, at every position and at the closer's position only:\n");
    o.row_labels = NULL, o.col_labels = NULL;
    print_matrix(stdout, "recovery[layer, head], every position", &heads_all, &o);
    print_matrix(stdout, "recovery[layer, head], closer's position only", &heads_last, &o);
    HeatPanel panels[3] = {{"patch_groups", "residual stream: site x positions", &groups, sl, gl, "positions patched", "site", HEAT_SIGNED},
                           {"patch_heads_all", "one head, every position", &heads_all, NULL, NULL, "head", "layer", HEAT_SIGNED},
                           {"patch_heads_last", "one head, closer's position only", &heads_last, NULL, NULL, "head", "layer", HEAT_SIGNED}};
    plot_heatmaps(&ch->plot, "patching", "Activation patching: how much of the clean answer comes back", panels, 3);
    /* where the information is: the last site at which the marker alone still restores most of it,
     * and the first at which the closer's position alone does */
    int last_marker = -1, first_last = -1;
    for (int s = 0; s < S; s++) {
        if (*tensor_at(&groups, s, G_MARKER) > 0.5) last_marker = s;
        if (first_last < 0 && *tensor_at(&groups, s, G_LAST) > 0.5) first_last = s;
    }
    int bl = 0, bh = 0;
    for (int i = 0; i < L * H; i++)
        if (heads_all.data[i] > heads_all.data[bl * H + bh]) bl = i / H, bh = i % H;
    ch->head_patch = heads_all;
    char note[700], a[32], b[32], hn[32], where[64] = "between them";
    site_name(a, sizeof a, last_marker < 0 ? 0 : last_marker), site_name(b, sizeof b, first_last < 0 ? S - 1 : first_last);
    head_name(hn, sizeof hn, bl, bh);
    if (first_last == last_marker + 1 && first_last % 2 == 1) /* x_l -> mid_l: block l's attention moved it */
        snprintf(where, sizeof where, "in block %d's attention", first_last / 2);
    if (last_marker >= 0 && first_last >= 0)
        snprintf(note, sizeof note, "Notice: the answer sits at the marker up to %s (patching the marker there restores "
                 "%.0f%%) and at the closer's position from %s on (%.0f%%): it moves from one to the other %s. Of the "
                 "heads, %s alone restores the most, %.0f%% (%.0f%% patched at the closer's position only).",
                 a, 100 * *tensor_at(&groups, last_marker, G_MARKER), b, 100 * *tensor_at(&groups, first_last, G_LAST), where, hn,
                 100 * heads_all.data[bl * H + bh], 100 * heads_last.data[bl * H + bh]);
    else
        snprintf(note, sizeof note, "Notice: no single group of positions restores more than half of the answer at "
                 "every site (marker best at %s, closer's position best at %s); of the heads, %s restores the most, %.0f%%.",
                 a, b, hn, 100 * heads_all.data[bl * H + bh]);
    print_note(stdout, note);
    free(num), free(sl), free(sn), free(p);
    tensor_free(&groups), tensor_free(&heads_last);
}

/* ==== 5. The logit lens ==== */

static void section_5_lens(Chapter *ch) {
    print_section(stdout, 5, "The logit lens: read the residual stream as if it were the last layer");
    const int L = ch->cfg.layers, S = 2 * L + 1, V = ch->cfg.vocab, T = ch->ev.T;
    printf("  logits_s = LN_f(x_s) W_out at the closer's position, for each site s of the residual stream:\n"
           "  (1, C) -> (1, V). Is the right closer first among the four, first among all V = %d outputs (<s>\n"
           "  included), and with what probability? At the last site this is the model's own output.\n\n", V);
    double *among4 = xcalloc((size_t)S, sizeof(double)), *top = xcalloc((size_t)S, sizeof(double));
    double *prob = xcalloc((size_t)S, sizeof(double));
    Tensor logits = tensor_new(ch->model.max_batch * T, V);
    probe_record(&ch->probe, &ch->rec);
    for (int first = 0; first < ch->ev.n;) {
        const int B = forward_rows(ch, first, NULL);
        for (int s = 0; s < S; s++) {
            HookSite site;
            int layer;
            site_of(s, &site, &layer);
            Tensor lg = tensor_view(&logits, 0, 0, B * T, V);
            probe_lens(&ch->model, &lg, probe_site(&ch->rec, site, layer));
            for (int b = 0; b < B; b++) {
                const int i = first + b, right = ch->cand[ch->ev.cls[i]];
                const float *z = tensor_at(&lg, b * T + ch->ev.pos[i], 0);
                among4[s] += closer_choice(ch, z) == ch->ev.cls[i];
                double mx = -INFINITY, sum = 0;
                int best = 0;
                for (int v = 0; v < V; v++)
                    if (z[v] > mx) mx = z[v], best = v;
                for (int v = 0; v < V; v++) sum += exp((double)z[v] - mx);
                top[s] += best == right;
                prob[s] += exp((double)z[right] - mx) / sum;
            }
        }
        first += B;
    }
    probe_record(&ch->probe, NULL);
    const char **sl = xmalloc(sizeof(char *) * (size_t)S);
    char (*sn)[32] = xmalloc(sizeof *sn * (size_t)S);
    double *chance = xmalloc(sizeof(double) * (size_t)S);
    printf("  %-11s %18s %18s %14s\n", "site", "first of the four", "first of them all", "p(right)");
    for (int s = 0; s < S; s++) {
        among4[s] *= 100.0 / ch->ev.n, top[s] *= 100.0 / ch->ev.n, prob[s] *= 100.0 / ch->ev.n, chance[s] = 100 * ch->chance;
        site_name(sn[s], sizeof sn[s], s), sl[s] = sn[s];
        printf("  %-11s %17.1f%% %17.1f%% %13.1f%%\n", sn[s], among4[s], top[s], prob[s]);
    }
    /* the first site with 90% of the output's margin over chance, and the best one before it */
    const double c = 100 * ch->chance;
    int first_site = S - 1;
    for (int s = S - 1; s >= 0; s--)
        if (among4[s] - c >= 0.9 * (among4[S - 1] - c)) first_site = s;
    double before = -1;
    for (int s = 0; s < first_site; s++) before = fmax(before, among4[s]);
    printf("\nlens_last_accuracy: %.6f\n", among4[S - 1] / 100);
    LineSeries series[4] = {{"right closer first of the four", among4, false}, {"right closer first of all tokens", top, false},
                            {"mean probability of the right closer", prob, false}, {"chance among the four", chance, true}};
    plot_bars(&ch->plot, "logit_lens", "The logit lens at the closer's position", "% of sentences (probability: %)", sl, S,
              series, 4);
    char note[400];
    if (among4[S - 1] > 50) {
        char a[32];
        site_name(a, sizeof a, first_site);
        char rest[160];
        if (before < 0) snprintf(rest, sizeof rest, "it is there from the start");
        else if (before <= c + 5) snprintf(rest, sizeof rest, "every earlier site is at chance (at most %.1f%%)", before);
        else snprintf(rest, sizeof rest, "earlier sites hold part of it (at most %.1f%%)", before);
        snprintf(note, sizeof note, "Notice: at the closer's position the lens finds the answer from %s on (the right "
                 "closer first of the four in %.1f%% of sentences; %.1f%% at the output, %.0f%% by chance); %s.",
                 a, among4[first_site], among4[S - 1], c, rest);
    } else {
        snprintf(note, sizeof note, "Notice: at no site does the lens rank the right closer first in most sentences "
                 "(%.1f%% at the output): the model has not learned the agreement well enough to find it.", among4[S - 1]);
    }
    print_note(stdout, note);
    free(among4), free(top), free(prob), free(chance), free(sl), free(sn);
    tensor_free(&logits);
}

/* ==== 6. Summary ==== */

/* The head with the largest (sign +1) or smallest (sign -1) value of t (L, H), other than (xl, xh). */
static void extreme_head(const Tensor *t, int sign, int xl, int xh, int *bl, int *bh) {
    *bl = -1, *bh = -1;
    for (int l = 0; l < t->rows; l++)
        for (int h = 0; h < t->cols; h++)
            if ((l != xl || h != xh) && (*bl < 0 || sign * (*tensor_at(t, l, h) - *tensor_at(t, *bl, *bh)) > 0)) *bl = l, *bh = h;
}

static void section_6_summary(Chapter *ch) {
    print_section(stdout, 6, "Summary: the circuit in one sentence");
    const int L = ch->cfg.layers, H = ch->cfg.heads;
    Tensor zero = tensor_view(&ch->zero_acc, 0, 0, L, H); /* single heads only */
    int cl, chh, nl, nh, bl, bh; /* the carrier (best patch), the costliest to remove, a backup */
    extreme_head(&ch->head_patch, +1, -1, -1, &cl, &chh);
    extreme_head(&zero, -1, -1, -1, &nl, &nh);
    /* the backup: of the other heads that bring back at least 5%, the one that looks hardest at the marker */
    bl = -1, bh = -1;
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++)
            if ((l != cl || h != chh) && *tensor_at(&ch->head_patch, l, h) >= 0.05 &&
                (bl < 0 || *tensor_at(&ch->marker_w, l, h) > *tensor_at(&ch->marker_w, bl, bh)))
                bl = l, bh = h;
    const double base = ch->intact.acc, span = base - ch->chance, patch = *tensor_at(&ch->head_patch, cl, chh);
    const double without = *tensor_at(&zero, cl, chh);
    const bool learned = span > 0.2, single = learned && patch >= 0.5 && base - without >= 0.25 * span;
    char c_name[32], n_name[32], b_name[32], text[1600];
    head_name(c_name, sizeof c_name, cl, chh), head_name(n_name, sizeof n_name, nl, nh);
    int len = 0;
    if (!learned)
        len = snprintf(text, sizeof text, "The model gets the agreement right in only %.1f%% of sentences (chance %.0f%%): "
                       "there is no circuit to find yet; train longer (--steps).", 100 * base, 100 * ch->chance);
    else if (single)
        len = snprintf(text, sizeof text, "Head %s copies the first word's identity to the closer's position: from there "
                       "it gives the marker %.0f%% of its attention; copied alone from a clean run into a corrupted one it "
                       "brings back %.0f%% of the clean answer, and without it the agreement falls from %.1f%% to %.1f%% "
                       "(%.1f%% mean-ablated); chance is %.0f%%.", c_name, 100 * *tensor_at(&ch->marker_w, cl, chh),
                       100 * patch, 100 * base, 100 * without, 100 * *tensor_at(&ch->mean_acc, cl, chh), 100 * ch->chance);
    else
        len = snprintf(text, sizeof text, "No single head carries the agreement alone: the one whose output brings back the "
                       "most when patched, %s, brings back %.0f%% of the clean answer, and without it the agreement is "
                       "%.1f%% (from %.1f%%; chance %.0f%%).", c_name, 100 * patch, 100 * without, 100 * base, 100 * ch->chance);
    /* a head needed for the lookup that does not carry its result */
    const double n_patch = *tensor_at(&ch->head_patch, nl, nh), n_without = *tensor_at(&zero, nl, nh);
    if (learned && (nl != cl || nh != chh) && base - n_without >= 0.25 * span)
        len += snprintf(text + len, sizeof text - (size_t)len, " Head %s is needed too (without it %.1f%%) but %s: patched "
                        "alone it brings back %.0f%%%s.", n_name, 100 * n_without,
                        n_patch < 0.1 ? "carries no identity of its own" : "carries only part of it", 100 * n_patch,
                        n_patch < 0.1 ? "; what it adds does not depend on which marker came, so it helps the lookup "
                                        "happen rather than carrying its result" : "");
    /* a partial backup: another head that looks at the marker and brings some of the answer back */
    if (learned && bl >= 0) head_name(b_name, sizeof b_name, bl, bh);
    if (learned && bl >= 0 && *tensor_at(&ch->marker_w, bl, bh) >= 0.25)
        len += snprintf(text + len, sizeof text - (size_t)len, " Head %s also looks at the marker (%.0f%%) and brings back "
                        "%.0f%%: a partial backup%s%s%s.", b_name, 100 * *tensor_at(&ch->marker_w, bl, bh),
                        100 * *tensor_at(&ch->head_patch, bl, bh), without > ch->chance + 0.1 * span ? ", one reason why taking out " : "",
                        without > ch->chance + 0.1 * span ? c_name : "", without > ch->chance + 0.1 * span ? " leaves more than chance" : "");
    print_wrapped(stdout, 2, text);
    printf("  whole layers zero-ablated:");
    for (int l = 0; l < L; l++) printf(" L%d %.1f%%%s", l, 100 * *tensor_at(&ch->zero_acc, l, H), l + 1 < L ? "," : "\n");
    printf("\nagreement_accuracy: %.6f\nchance: %.6f\nvalidation_loss: %.6f\ncircuit_head: %s\nsingle_head: %s\n"
           "ablated_accuracy: %.6f\npatch_recovery: %.6f\n", base, ch->chance, ch->intact.loss, c_name, single ? "yes" : "no",
           without, patch);
}

/* ==== main ==== */

static void teardown(Chapter *ch) {
    probe_detach(&ch->probe);
    probe_record_free(&ch->rec);
    Tensor *t[] = {&ch->marker_w, &ch->zero_acc, &ch->mean_acc, &ch->zero_loss, &ch->mean_loss, &ch->head_patch};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) tensor_free(t[i]);
    free(ch->ev.ids), free(ch->ev.targets), free(ch->ev.pos), free(ch->ev.len), free(ch->ev.cls), free(ch->label);
    model_free(&ch->model);
    if (ch->loaded) checkpoint_free(&ch->ck);
    dataset_free(&ch->data);
}

int main(int argc, char **argv) {
    Chapter ch;
    memset(&ch, 0, sizeof ch);
    ch.common = cli_common_defaults();
    ch.data_flags = dataset_flags_default();
    ch.mf = options_model_defaults(), ch.tf = options_train_defaults(); /* chapter 10's */
    ch.sentences = 1000, ch.pairs = 100;
    CliOption opts[OPTIONS_N_MODEL + OPTIONS_N_TRAIN + 4];
    int n = options_model(opts, &ch.mf);
    n += options_train(opts + n, &ch.tf);
    for (int i = 0; i < n; i++)
        if (strcmp(opts[i].name, "--eval-every") == 0) opts[i].help = "steps between the training-loss lines";
    opts[n++] = cli_int("--lines", &ch.data_flags.lines, 100, 2000000, "N", "lines of the synthetic language to generate");
    opts[n++] = cli_string("--load", &ch.load, "FILE", "a checkpoint of chapter 10 (character level) instead of training");
    opts[n++] = cli_int("--sentences", &ch.sentences, 16, 100000, "N", "validation sentences to measure on");
    opts[n++] = cli_int("--pairs", &ch.pairs, 1, 10000, "N", "sentence pairs to patch between");
    ch.opts = opts, ch.n_opts = n;
    CliSpec spec = {CHAPTER, "Inside chapter 10's GPT: attention, ablation, activation patching and the logit lens\n"
                             "find the head that carries the agreement between a sentence's first word and its closer.",
                    opts, n};
    cli_parse(&spec, &ch.common, argc, argv);
    if (!ch.load) options_check_heads(&ch.mf);
    if (!ch.load && (ch.mf.context < 16 || ch.mf.context > 256))
        die(EXIT_USAGE, "--context: %lld; this chapter needs 16 to 256 characters", ch.mf.context);
    static const char *const training[] = {"--steps", "--lr", "--warmup", "--lr-end", "--weight-decay", "--clip", "--eval-every"};
    for (size_t i = 0; ch.load && i < sizeof training / sizeof training[0]; i++)
        if (options_given(opts, n, training[i]))
            die(EXIT_USAGE, "%s: a loaded model is analysed as it is (chapter 10 resumes training)", training[i]);
    plot_init(&ch.plot, &ch.common, CHAPTER, stdout);
    printf("Chapter 13: inside the trained model: the head that carries the agreement\n");
    section_1_model(&ch);
    probe_attach(&ch.probe); /* after training: the probe watches only the analysis */
    section_2_attention(&ch);
    section_3_ablation(&ch);
    section_4_patching(&ch);
    section_5_lens(&ch);
    section_6_summary(&ch);
    teardown(&ch);
    return 0;
}
