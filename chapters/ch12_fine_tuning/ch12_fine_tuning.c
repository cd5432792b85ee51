/* ch12_fine_tuning: pre-train, then fine-tune, source document §2.1.3.
 *
 *   pre-training:  a language model learns from unlabelled text (chapter 10's GPT, chapter 11's
 *                  masked LM);
 *   fine-tuning:   a small head on top, p(label | sentence) = softmax(h W + b), trained with the
 *                  body on a few labelled examples.
 * The source says this "greatly reduces the dependence on labelled data". Here it is measured: the
 * accuracy on a task against the number of labels, pre-trained against the same model trained from
 * random weights with the same budget, over several seeds; and freezing the body against training
 * everything.
 *
 * Two tasks:
 *   - by default, with labels for free: is a sentence of the synthetic language grammatical?
 *     Negatives are real sentences whose closer was swapped for another class's, breaking the
 *     long-range agreement;
 *   - with --class-a and --class-b, real text: which of two files does a line come from (Tang
 *     poems against Song poems from Debian's fortunes-zh, say; the README has the commands).
 *
 * Sections, in the order they print (main, at the end, is the table of contents):
 *   1 the task   2 pre-training   3 the heads   4 accuracy against the number of labels
 *   5 freezing the body   6 summary
 *
 * Run: make ch12 && ./ch12_fine_tuning [--pretrain-steps S] [--ft-steps S] [--seeds N]
 *                                      [--class-a FILE --class-b FILE]
 *                                      [--load-decoder FILE] [--load-encoder FILE]             */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "dataset.h"
#include "classifier.h"
#include "interrupt.h"
#include "model.h"
#include "optim.h"
#include "options.h"
#include "plot.h"
#include "print.h"
#include "progress.h"
#include "train.h"
#include "util.h"

#define CHAPTER "ch12_fine_tuning"
#define MAX_SEEDS 10
#define N_SIZES 5
#define MASK_RATE 0.15 /* the encoder's pre-training corruption, as in chapter 11 */

typedef struct {
    int *ids, n, label; /* </s> then the sentence's tokens; the label: 1 grammatical, 0 not, or the file */
    const char *text;   /* the line as read (file task); NULL on the synthetic language */
} Example;

enum { DECODER, ENCODER, N_KINDS };
static const char *const kind_name[N_KINDS] = {"decoder (GPT, last position)", "encoder (masked LM, mean)"};

/* Everything the sections share: the flags, then what the sections build. */
typedef struct {
    /* flags */
    DatasetFlags data_flags;
    CliCommon common;
    long long pretrain_steps, ft_steps, seeds;
    double ft_lr;
    const char *load[N_KINDS];
    const char *class_path[2];   /* --class-a, --class-b: the file task */
    const char *unlabelled_path; /* --unlabelled: more pre-training text for the file task */
    bool files;                  /* the file task (--class-a and --class-b) */
    /* state */
    Lines class_lines[2], unlabelled;
    Dataset data;
    int mask_id, V0;             /* V0: the vocabulary without [MASK] */
    Bpe merges;                  /* --level bpe with --load-*: the checkpoint's merges encode the text */
    Example *train, *val;
    int n_train, n_val;
    ModelConfig cfg[N_KINDS];
    TrainFlags pretraining;      /* batch, warm-up, learning rate, weight decay and clipping of pre-training */
    float *pretrained[N_KINDS];  /* the pre-trained parameters */
    size_t n_params[N_KINDS];
    double by_length;            /* the length rule's validation accuracy (section 1) */
    double margin, bar;          /* two standard errors of a validation accuracy; what a model must clear */
    int sizes[N_SIZES], n_sizes; /* the numbers of labels tried (section 4) */
    double mean[N_KINDS][2][N_SIZES], lo[N_KINDS][2][N_SIZES], hi[N_KINDS][2][N_SIZES]; /* [kind][pre-trained, scratch] */
    Plotter plot;
} Chapter;

/* ==== the flags ==== */

/* --level bpe with --load-decoder or --load-encoder: the text is encoded with that checkpoint's
 * merges (a copy), so that its vocabulary is this task's; a checkpoint of another level is refused
 * when its vocabulary is compared (section 2). */
static void merges_from_checkpoint(Chapter *ch, const CliOption *opts, int n) {
    dataset_check_flags(&ch->data_flags, opts, n);
    const char *path = ch->load[DECODER] ? ch->load[DECODER] : ch->load[ENCODER];
    if (!path || ch->data_flags.level != LEVEL_BPE) return;
    Checkpoint ck;
    checkpoint_load(&ck, path);
    if (ck.level == LEVEL_BPE) {
        dataset_flags_from_checkpoint(&ch->data_flags, opts, n, ck.level, &ck.vocab, path);
        bpe_prefix(&ch->merges, ck.vocab.bpe, ck.vocab.bpe->n_merges);
        ch->data_flags.merges = &ch->merges;
    }
    checkpoint_free(&ck);
}

static void parse_flags(Chapter *ch, int argc, char **argv) {
    memset(ch, 0, sizeof *ch);
    ch->common = cli_common_defaults();
    ch->data_flags = dataset_flags_default();
    ch->data_flags.level = LEVEL_WORD;
    ch->pretrain_steps = 600, ch->ft_steps = 100, ch->seeds = 3, ch->ft_lr = 1e-3;
    CliOption opts[13], data_opts[DATASET_N_OPTIONS];
    int n = 0;
    dataset_cli_options(data_opts, &ch->data_flags);
    for (int i = 0; i < DATASET_N_OPTIONS; i++) /* the token level and BPE size; the text is the task's */
        if (strcmp(data_opts[i].name, "--level") == 0 || strcmp(data_opts[i].name, "--vocab-size") == 0) opts[n++] = data_opts[i];
    opts[n++] = cli_int("--lines", &ch->data_flags.lines, 1000, 2000000, "N", "lines of the synthetic language");
    const int lines_flag = n - 1;
    opts[n++] = cli_string("--class-a", &ch->class_path[0], "FILE", "lines of label 0 (with --class-b: the file task)");
    opts[n++] = cli_string("--class-b", &ch->class_path[1], "FILE", "lines of label 1 (with --class-a)");
    opts[n++] = cli_string("--unlabelled", &ch->unlabelled_path, "FILE", "more pre-training text (with --class-a/-b)");
    opts[n++] = cli_int("--pretrain-steps", &ch->pretrain_steps, 1, 1000000, "S", "pre-training steps of each model");
    opts[n++] = cli_int("--ft-steps", &ch->ft_steps, 1, 100000, "S", "fine-tuning steps (16 labelled sentences each)");
    opts[n++] = cli_int("--seeds", &ch->seeds, 1, MAX_SEEDS, "N", "fine-tuning runs per setting");
    opts[n++] = cli_real("--ft-lr", &ch->ft_lr, 1e-7, 1.0, "LR", "fine-tuning learning rate");
    opts[n++] = cli_string("--load-decoder", &ch->load[DECODER], "FILE", "chapter 10's checkpoint (same --level) instead of pre-training");
    opts[n++] = cli_string("--load-encoder", &ch->load[ENCODER], "FILE", "chapter 11's checkpoint (same --level) instead of pre-training");
    CliSpec spec = {CHAPTER, "Pre-train, then fine-tune (source document §2.1.3): accuracy against the number of\n"
                             "labels, pre-trained against from scratch, frozen body against full fine-tuning.",
                    opts, n};
    cli_parse(&spec, &ch->common, argc, argv);
    merges_from_checkpoint(ch, opts, n);
    interrupt_watch(); /* Ctrl-C: stop after the step in progress (exit 130) */
    ch->files = ch->class_path[0] || ch->class_path[1];
    if (ch->files && !(ch->class_path[0] && ch->class_path[1]))
        die(EXIT_USAGE, "%s needs %s too: the file task tells the lines of two files apart",
            ch->class_path[0] ? "--class-a" : "--class-b", ch->class_path[0] ? "--class-b" : "--class-a");
    if (ch->unlabelled_path && !ch->files)
        die(EXIT_USAGE, "--unlabelled: adds pre-training text to the file task; give --class-a and --class-b too");
    if (ch->files && opts[lines_flag].seen)
        die(EXIT_USAGE, "--lines: applies to the synthetic language only; with --class-a/--class-b the lines are the files'");
    plot_init(&ch->plot, &ch->common, CHAPTER, stdout);
    /* the bodies pre-trained here: chapter 10's default model with learned positions (chapter 11's),
     * trained with chapter 10's defaults; the vocabulary is filled in once the text is read */
    ModelFlags body = options_model_defaults();
    body.pos = 1;
    for (int k = 0; k < N_KINDS; k++) ch->cfg[k] = options_config(&body, 0, k == DECODER);
    ch->pretraining = options_train_defaults();
}

/* ==== 1. The task ==== */

static int closer_id(const Chapter *ch, int cls) { return vocab_find(&ch->data.vocab, synth_closer(cls)); }

/* Characters or BPE tokens: the closer's letter swapped in the text ("... ze." becomes "... xe.",
 * class + 1 + draw), and the text encoded again (BPE tokens around it may change). */
static void swap_closer_text(const Chapter *ch, Example *e, int draw) {
    char *text = corpus_decode(&ch->data.vocab, e->ids + 1, e->n - 1, ch->data.level);
    const size_t n = strlen(text);
    const char *letters = synth_closer_letters(), *at = n >= 3 ? strchr(letters, text[n - 3]) : NULL;
    if (at && *at) text[n - 3] = letters[((int)(at - letters) + 1 + draw) % SYNTH_CLASSES];
    int *ids;
    long k = corpus_encode_text(&ch->data.vocab, text, ch->data.level, &ids);
    if (k + 1 > ch->cfg[DECODER].max_len) k = ch->cfg[DECODER].max_len - 1;
    free(e->ids);
    e->n = (int)k + 1;
    e->ids = xmalloc(sizeof(int) * (size_t)e->n);
    e->ids[0] = VOCAB_EOS;
    memcpy(e->ids + 1, ids, sizeof(int) * (size_t)k);
    free(ids), free(text);
}

/* Examples from lines: each sentence, and with probability 1/2 its closer swapped for another. */
static Example *make_examples(const Chapter *ch, const TokenStream *s, int n_lines, int max, int *count, uint64_t seed) {
    Example *ex = xmalloc(sizeof(Example) * (size_t)max);
    Rng rng;
    rng_seed(&rng, seed, 120);
    int n = 0;
    long start = 0;
    for (int i = 0; i < n_lines && n < max; i++) {
        long end = start;
        while (s->id[end] != VOCAB_EOS) end++;
        const int len = (int)(end - start);
        if (len + 1 <= ch->cfg[DECODER].max_len && len >= 2) {
            Example *e = &ex[n++];
            e->n = len + 1;
            e->ids = xmalloc(sizeof(int) * (size_t)e->n);
            e->ids[0] = VOCAB_EOS;
            memcpy(e->ids + 1, s->id + start, sizeof(int) * (size_t)len);
            e->label = rng_uniform(&rng) < 0.5f;
            if (!e->label && ch->data.level != LEVEL_WORD) {
                swap_closer_text(ch, e, (int)rng_below(&rng, SYNTH_CLASSES - 1));
            } else if (!e->label) { /* the closer is the word before the full stop */
                int cls = 0;
                for (int c = 0; c < SYNTH_CLASSES; c++) cls = e->ids[e->n - 2] == closer_id(ch, c) ? c : cls;
                e->ids[e->n - 2] = closer_id(ch, (cls + 1 + (int)rng_below(&rng, SYNTH_CLASSES - 1)) % SYNTH_CLASSES);
            }
        }
        start = end + 1;
    }
    *count = n;
    return ex;
}

/* The file task's example from one line: </s>, then the line's tokens, cut to the model's length. */
static Example line_example(Chapter *ch, char *line, int label, int *cut) {
    TokenStream s;
    corpus_encode(&s, &ch->data.vocab, &line, 1, ch->data.level, false);
    const long len = s.n - 1; /* without the closing </s> */
    const int keep = len + 1 > ch->cfg[DECODER].max_len ? ch->cfg[DECODER].max_len - 1 : (int)len;
    *cut += keep < len;
    Example e = {xmalloc(sizeof(int) * (size_t)(keep + 1)), keep + 1, label, line};
    e.ids[0] = VOCAB_EOS;
    memcpy(e.ids + 1, s.id, sizeof(int) * (size_t)keep);
    token_stream_free(&s);
    return e;
}

/* Balanced examples from the two files' lines: each file's lines in a random order, then
 * alternately one of A and one of B, as many pairs as the smaller file (and max) allows, so that any
 * first N examples are half of each. */
static Example *file_examples(Chapter *ch, char **lines[2], const int n[2], int max, int *count, int *cut, uint64_t seed) {
    Rng rng;
    rng_seed(&rng, seed, 123);
    int *order[2];
    for (int c = 0; c < 2; c++) {
        order[c] = xmalloc(sizeof(int) * (size_t)n[c]);
        for (int i = 0; i < n[c]; i++) order[c][i] = i;
        for (int i = n[c] - 1; i > 0; i--) { /* Fisher-Yates */
            const int j = (int)rng_below(&rng, (uint32_t)i + 1), t = order[c][i];
            order[c][i] = order[c][j], order[c][j] = t;
        }
    }
    int pairs = n[0] < n[1] ? n[0] : n[1];
    if (pairs > max / 2) pairs = max / 2;
    Example *ex = xmalloc(sizeof(Example) * (size_t)(2 * pairs + 1));
    for (int i = 0; i < pairs; i++)
        for (int c = 0; c < 2; c++) ex[2 * i + c] = line_example(ch, lines[c][order[c][i]], c, cut);
    free(order[0]), free(order[1]);
    *count = 2 * pairs;
    return ex;
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The file task's corpus: each file split by the corpus rule (every 10th line to validation); the
 * vocabulary and the pre-training text are the training lines of both files, their labels unused,
 * and every line of --unlabelled when given. */
static void load_files(Chapter *ch) {
    Dataset *d = &ch->data;
    memset(d, 0, sizeof *d);
    d->level = (TokenLevel)ch->data_flags.level;
    d->floor_nats = NAN; /* known for the synthetic language only */
    char **tr[2], **va[2];
    int n_tr[2], n_va[2];
    for (int c = 0; c < 2; c++) {
        size_t bytes;
        char *text = corpus_read_file(ch->class_path[c], &bytes);
        lines_split(&ch->class_lines[c], text);
        free(text);
        const int n = ch->class_lines[c].n;
        if (n < 10)
            die(EXIT_RUNTIME, "%s has %d line%s with text: the task needs at least 10 (every 10th validates)",
                ch->class_path[c], n, n == 1 ? "" : "s");
        corpus_split(&ch->class_lines[c], &tr[c], &n_tr[c], &va[c], &n_va[c]);
        printf("  label %d = %-20s %6d lines (%zu bytes): %d train, %d validate\n", c, base_name(ch->class_path[c]), n,
               bytes, n_tr[c], n_va[c]);
    }
    int n_more = 0;
    if (ch->unlabelled_path) {
        size_t bytes;
        char *text = corpus_read_file(ch->unlabelled_path, &bytes);
        lines_split(&ch->unlabelled, text);
        free(text);
        n_more = ch->unlabelled.n;
        if (n_more == 0) die(EXIT_RUNTIME, "%s has no line with text in it", ch->unlabelled_path);
        printf("  unlabelled: %-20s %6d lines (%zu bytes): pre-training only\n", base_name(ch->unlabelled_path),
               n_more, bytes);
    }
    const int n_all = n_tr[0] + n_tr[1] + n_more;
    char **all = xmalloc(sizeof(char *) * (size_t)n_all);
    memcpy(all, tr[0], sizeof(char *) * (size_t)n_tr[0]);
    memcpy(all + n_tr[0], tr[1], sizeof(char *) * (size_t)n_tr[1]);
    if (n_more) memcpy(all + n_tr[0] + n_tr[1], ch->unlabelled.line, sizeof(char *) * (size_t)n_more);
    if (d->level == LEVEL_BPE) dataset_bpe_vocab(&d->vocab, all, n_all, &ch->data_flags, stdout);
    else vocab_init(&d->vocab);
    corpus_encode(&d->train, &d->vocab, all, n_all, d->level, true);
    free(all);
    printf("  %s; vocabulary from the pre-training text: |V| = %d;\n",
           d->level == LEVEL_WORD ? "word tokens (every CJK character is one)" : d->level == LEVEL_CHAR ? "characters" : "BPE tokens",
           d->vocab.size - 1);
    printf("  pre-training text: the training lines of both files%s, %ld tokens, without labels.\n",
           n_more ? " and the unlabelled file" : "", d->train.n);
    const int n_va_all = n_va[0] + n_va[1]; /* section 2 scores the pre-trained bodies on these */
    char **va_all = xmalloc(sizeof(char *) * (size_t)n_va_all);
    memcpy(va_all, va[0], sizeof(char *) * (size_t)n_va[0]);
    memcpy(va_all + n_va[0], va[1], sizeof(char *) * (size_t)n_va[1]);
    corpus_encode(&d->val, &d->vocab, va_all, n_va_all, d->level, false);
    free(va_all);
    int cut = 0;
    ch->train = file_examples(ch, tr, n_tr, 4096, &ch->n_train, &cut, (uint64_t)ch->common.seed);
    ch->val = file_examples(ch, va, n_va, 1000, &ch->n_val, &cut, (uint64_t)ch->common.seed + 1);
    if (cut) printf("  %d line%s longer than %d tokens %s cut to %d.\n", cut, cut == 1 ? "" : "s",
                    ch->cfg[DECODER].max_len - 1, cut == 1 ? "was" : "were", ch->cfg[DECODER].max_len - 1);
    for (int c = 0; c < 2; c++) free(tr[c]), free(va[c]);
}

/* A rule that sees only the length: the majority label among training examples of the same length
 * (of all of them for a length never seen), scored on validation. Whatever beats it used the words. */
static double length_baseline(const Chapter *ch) {
    const int L = ch->cfg[DECODER].max_len + 1;
    int *count = calloc((size_t)L * 2, sizeof(int)), all[2] = {0, 0};
    if (!count) die(EXIT_RUNTIME, "out of memory");
    for (int i = 0; i < ch->n_train; i++) count[ch->train[i].n * 2 + ch->train[i].label]++, all[ch->train[i].label]++;
    int right = 0;
    for (int i = 0; i < ch->n_val; i++) {
        const int *c = count + ch->val[i].n * 2;
        const int guess = c[0] + c[1] ? c[1] > c[0] : all[1] > all[0];
        right += guess == ch->val[i].label;
    }
    free(count);
    return (double)right / ch->n_val;
}

/* The file task: which of two files does a line come from? */
static void task_of_files(Chapter *ch) {
    print_section(stdout, 1, "The task: which file does the line come from?");
    load_files(ch);
    if (ch->data.train.n <= ch->cfg[DECODER].max_len)
        die(EXIT_RUNTIME, "the training lines of %s and %s hold %ld tokens: pre-training needs more than %d",
            ch->class_path[0], ch->class_path[1], ch->data.train.n, ch->cfg[DECODER].max_len);
    printf("\n  Label 0 or 1: the file the line was read from. The larger file's lines are drawn down to\n"
           "  the smaller's count, so that each label is half of the examples. %d labelled training\n"
           "  lines, %d for validation. Examples:\n\n", ch->n_train, ch->n_val);
    for (int i = 0; i < 4 && i < ch->n_train; i++) printf("    %d  %.80s\n", ch->train[i].label, ch->train[i].text);
}

/* The default task: is a sentence of the synthetic language grammatical? */
static void task_of_grammar(Chapter *ch) {
    print_section(stdout, 1, "The task: is the sentence grammatical?");
    dataset_load(&ch->data, &ch->data_flags, (uint64_t)ch->common.seed, false, stdout);
    ch->train = make_examples(ch, &ch->data.train, ch->data.n_train, 4096, &ch->n_train, (uint64_t)ch->common.seed);
    ch->val = make_examples(ch, &ch->data.val, ch->data.n_val, 600, &ch->n_val, (uint64_t)ch->common.seed + 1);
    printf("\n  Label 1: a sentence as generated. Label 0: the same sentence with its closer swapped for\n"
           "  another class's, so that it no longer agrees with the marker at the start (chapter 1's\n"
           "  long-range dependency). Half of each. %d labelled training sentences at most, %d for\n"
           "  validation. Examples:\n\n", ch->n_train, ch->n_val);
    for (int i = 0; i < 4 && i < ch->n_train; i++) {
        char *text = corpus_decode(&ch->data.vocab, ch->train[i].ids + 1, ch->train[i].n - 1, ch->data.level);
        printf("    %d  %s\n", ch->train[i].label, text);
        free(text);
    }
}

/* The task, its labelled examples, [MASK] for the encoder, and the length rule to beat. */
static void section_1_task(Chapter *ch) {
    if (ch->files) task_of_files(ch);
    else task_of_grammar(ch);
    if (ch->n_train < 16 || ch->n_val < 2)
        die(EXIT_RUNTIME, "only %d labelled training and %d validation examples: the experiment needs 16 and 2",
            ch->n_train, ch->n_val);
    ch->V0 = ch->data.vocab.size;
    ch->mask_id = vocab_add(&ch->data.vocab, "[MASK]");
    ch->cfg[DECODER].vocab = ch->V0, ch->cfg[ENCODER].vocab = ch->V0 + 1;
    ch->by_length = length_baseline(ch);
    printf("\n  A rule that sees only the length (the majority label among training examples of the same\n"
           "  length): %.1f%% on validation. Anything above it used the words.\n", 100 * ch->by_length);
}

/* ==== 2. Pre-training ==== */

/* Chapter 10's or chapter 11's objective on windows of the training text, for `steps` steps. */
static void pretrain(Chapter *ch, int kind, Model *m) {
    const int B = (int)ch->pretraining.batch, T = m->cfg.max_len;
    long n_ext;
    int *ext = token_stream_with_eos(&ch->data.train, &n_ext);
    int *ids = xmalloc(sizeof(int) * (size_t)B * T), *tg = xmalloc(sizeof(int) * (size_t)B * T), *kd = xmalloc(sizeof(int) * (size_t)B * T);
    AdamW opt;
    adamw_init(&opt, m->n_params, 0.9f, 0.95f, 1e-8f, (float)ch->pretraining.weight_decay);
    Rng rng;
    rng_seed(&rng, (uint64_t)ch->common.seed, 121 + (uint64_t)kind);
    TrainFlags steps = ch->pretraining;
    steps.steps = ch->pretrain_steps;
    const Schedule s = options_schedule(&steps);
    Progress prog;
    progress_start(&prog, ch->pretrain_steps);
    for (long step = 1; step <= ch->pretrain_steps; step++) {
        interrupt_exit_if_requested("while pre-training, after step %ld of %lld; nothing saved", step - 1, ch->pretrain_steps);
        for (int b = 0; b < B; b++) {
            const long start = (long)rng_below(&rng, (uint32_t)(n_ext - T));
            memcpy(ids + b * T, ext + start, sizeof(int) * (size_t)T);
            if (kind == DECODER) memcpy(tg + b * T, ext + start + 1, sizeof(int) * (size_t)T);
            else mlm_corrupt(ids + b * T, tg + b * T, kd + b * T, T, MASK_RATE, ch->mask_id, ch->V0 + 1, false, &rng);
        }
        const double loss = train_step(m, &opt, ids, tg, B, T, step, &s);
        progress_update(&prog, step, loss, (double)B * T);
    }
    progress_end(&prog);
    printf("  %-30s %lld steps of %d windows\n", kind_name[kind], ch->pretrain_steps, B);
    adamw_free(&opt);
    free(ext), free(ids), free(tg), free(kd);
}

/* With --load-<kind>: the checkpoint's parameters; else pre-training a new model here. Checkpoints
 * are all read (and checked) before any pre-training starts, so a bad file is reported at once. */
static void load_or_pretrain(Chapter *ch, int kind) {
    if (ch->load[kind]) {
        Checkpoint ck;
        checkpoint_load(&ck, ch->load[kind]);
        const bool want_causal = kind == DECODER;
        if (ck.cfg.causal != want_causal)
            die(EXIT_RUNTIME, "%s holds a %s model, but --load-%s needs a %s one", ch->load[kind],
                ck.cfg.causal ? "causal (GPT)" : "bidirectional (masked LM)", kind == DECODER ? "decoder" : "encoder",
                want_causal ? "causal" : "bidirectional");
        const int want_v = kind == DECODER ? ch->V0 : ch->V0 + 1;
        bool same = ck.vocab.size == want_v && ck.level == ch->data.level;
        for (int i = 0; same && i < want_v; i++) same = strcmp(ck.vocab.word[i], ch->data.vocab.word[i]) == 0;
        if (!same) die(EXIT_RUNTIME, "%s was trained on another vocabulary than this task's words", ch->load[kind]);
        int longest = 0; /* every example must fit in the loaded model's context */
        for (int i = 0; i < ch->n_train + ch->n_val; i++) {
            const Example *e = i < ch->n_train ? &ch->train[i] : &ch->val[i - ch->n_train];
            longest = e->n > longest ? e->n : longest;
        }
        if (longest > ck.cfg.max_len)
            die(EXIT_RUNTIME, "%s has a context of %d tokens, but this task's examples have up to %d: give a checkpoint "
                              "trained with --context %d or more", ch->load[kind], ck.cfg.max_len, longest, longest);
        ch->cfg[kind] = ck.cfg;
        ch->n_params[kind] = ck.n_params;
        ch->pretrained[kind] = xmalloc(sizeof(float) * ck.n_params);
        memcpy(ch->pretrained[kind], ck.params, sizeof(float) * ck.n_params);
        printf("  %-30s loaded from %s\n", kind_name[kind], ch->load[kind]);
        checkpoint_free(&ck);
    } else {
        Model m;
        model_init(&m, &ch->cfg[kind], (int)ch->pretraining.batch, (uint64_t)ch->common.seed + (uint64_t)kind);
        pretrain(ch, kind, &m);
        ch->n_params[kind] = m.n_params;
        ch->pretrained[kind] = xmalloc(sizeof(float) * m.n_params);
        memcpy(ch->pretrained[kind], m.param_mem, sizeof(float) * m.n_params);
        model_free(&m);
    }
}

/* What a pre-trained body learned, on the validation lines, each line alone after a </s> as
 * fine-tuning shows it, in nats per predicted token: the decoder predicts every token of the line and
 * its </s> (the tokens section 1's floor is measured on); the encoder the chosen 15% of the line's
 * tokens, corrupted by a fixed generator. *context_free gets the loss on the same tokens of a model
 * without context: each token's add-one frequency in the pre-training text. *lines: lines scored. */
static double validation_loss(const Chapter *ch, int kind, double *context_free, int *lines) {
    Model m;
    model_init(&m, &ch->cfg[kind], 1, 0);
    memcpy(m.param_mem, ch->pretrained[kind], sizeof(float) * m.n_params);
    const int T = m.cfg.max_len, V = ch->V0 - 1; /* the tokens a model predicts: not <s> */
    long *count = xcalloc((size_t)ch->V0, sizeof(long));
    for (long i = 0; i < ch->data.train.n; i++) count[ch->data.train.id[i]]++;
    int *ids = xmalloc(sizeof(int) * (size_t)T), *tg = xmalloc(sizeof(int) * (size_t)T), *kd = xmalloc(sizeof(int) * (size_t)T);
    Rng rng;
    rng_seed(&rng, 1234, 124); /* the same corruption for every run and every encoder */
    double total = 0, free_total = 0;
    long scored = 0;
    *lines = 0;
    for (long start = 0; start < ch->data.val.n; (*lines)++) {
        long end = start;
        while (ch->data.val.id[end] != VOCAB_EOS) end++;
        /* </s> w_1 .. w_n </s>, cut to the model's length: the decoder reads all but the last token and
         * predicts all but the first; the encoder reads them all and predicts the chosen ones */
        const int n = (int)(end - start) + 2 - (kind == DECODER), len = n < T ? n : T;
        ids[0] = VOCAB_EOS;
        memcpy(ids + 1, ch->data.val.id + start, sizeof(int) * (size_t)(len - 1));
        if (kind == DECODER) memcpy(tg, ch->data.val.id + start, sizeof(int) * (size_t)len);
        else mlm_corrupt(ids, tg, kd, len, MASK_RATE, ch->mask_id, ch->V0 + 1, false, &rng);
        long here = 0;
        for (int t = 0; t < len; t++)
            if (tg[t] >= 0) here++, free_total -= log((count[tg[t]] + 1.0) / ((double)ch->data.train.n + V));
        if (here) total += model_forward(&m, ids, tg, 1, len) * (double)here, scored += here;
        start = end + 1;
    }
    free(ids), free(tg), free(kd), free(count);
    model_free(&m);
    *context_free = free_total / (double)scored;
    return total / (double)scored;
}

static void section_2_pretrain(Chapter *ch) {
    print_section(stdout, 2, "Pre-training on the unlabelled text (no labels used)");
    if (!ch->load[DECODER] || !ch->load[ENCODER])
        printf("  No checkpoint given for %s: pre-training small ones here first (%d blocks, d_model %d).\n\n",
               !ch->load[DECODER] && !ch->load[ENCODER] ? "either model" : "one model", ch->cfg[DECODER].layers,
               ch->cfg[DECODER].d_model);
    for (int pass = 0; pass < 2; pass++) /* the checkpoints first, then pre-training */
        for (int k = 0; k < N_KINDS; k++)
            if ((ch->load[k] != NULL) == (pass == 0)) load_or_pretrain(ch, k);
    double loss[N_KINDS], context_free[N_KINDS];
    int lines = 0;
    for (int k = 0; k < N_KINDS; k++) loss[k] = validation_loss(ch, k, &context_free[k], &lines);
    printf("\n  What the bodies learned, on the %d validation lines (each alone after a </s>, as\n"
           "  fine-tuning shows it), in nats per predicted token:\n", lines);
    printf("    %-36s %8.4f   (without context, token frequencies: %.4f)\n", "decoder, every next token:",
           loss[DECODER], context_free[DECODER]);
    printf("    %-36s %8.4f   (without context, token frequencies: %.4f)\n", "encoder, the chosen 15% of tokens:",
           loss[ENCODER], context_free[ENCODER]);
    if (!isnan(ch->data.floor_nats))
        printf("  The true process (section 1's floor): %.4f nats per token, which no left-to-right model beats\n"
               "  on average; the decoder is %.1f%% %s it. The encoder reads both sides: the floor does not\n"
               "  bound it.\n", ch->data.floor_nats, 100 * fabs(loss[DECODER] / ch->data.floor_nats - 1),
               loss[DECODER] >= ch->data.floor_nats ? "above" : "below");
}

/* ==== 3. The heads ==== */

static void section_3_heads(const Chapter *ch) {
    print_section(stdout, 3, "The heads");
    printf("  decoder: h = the final hidden state at the last position, the only one that has read the\n"
           "           whole sentence in a causal model;\n"
           "  encoder: h = the mean of the final hidden states over the positions: every position has seen\n"
           "           the whole sentence, and this encoder was never trained to gather it into one [CLS]\n"
           "           position;\n"
           "  p(label) = softmax(h W + b), W (%d, 2). Fine-tuning: %lld steps of 16 labelled examples drawn\n"
           "  from the first N, AdamW at %g, the head and the body together (unless frozen).\n",
           ch->cfg[DECODER].d_model, ch->ft_steps, ch->ft_lr);
}

/* ==== 4. Accuracy against the number of labels ==== */

/* Accuracy on the validation examples. */
static double accuracy(Model *m, const Head *h, Pooling pool, const Example *ex, int n) {
    int right = 0;
    for (int i = 0; i < n; i++) {
        float p[2];
        classify_forward(m, h, ex[i].ids, ex[i].n, pool, -1, p);
        right += (p[1] > p[0]) == (ex[i].label == 1);
    }
    return (double)right / n;
}

/* Fine-tune one model (pre-trained or not) on the first n_labels training examples; returns the
 * validation accuracy. With `frozen`, only the head learns; *body_same reports whether the body's
 * parameters kept every bit. */
static double fine_tune(Chapter *ch, int kind, bool pretrained, int n_labels, int seed, bool frozen, bool *body_same) {
    Model m;
    model_init(&m, &ch->cfg[kind], 1, (uint64_t)seed * 7919 + (uint64_t)kind);
    if (pretrained) memcpy(m.param_mem, ch->pretrained[kind], sizeof(float) * m.n_params);
    float *before = NULL;
    if (body_same) {
        before = xmalloc(sizeof(float) * m.n_params);
        memcpy(before, m.param_mem, sizeof(float) * m.n_params);
    }
    const int C = m.cfg.d_model;
    Head h = {tensor_new(C, 2), tensor_new(1, 2)}, g = {tensor_new(C, 2), tensor_new(1, 2)};
    Rng rng;
    rng_seed(&rng, (uint64_t)seed, 122);
    tensor_randn(&h.W, &rng, 1.0f / sqrtf((float)C));
    AdamW body, head;
    adamw_init(&body, m.n_params, 0.9f, 0.999f, 1e-8f, 0.0f);
    adamw_init(&head, (size_t)C * 2 + 2, 0.9f, 0.999f, 1e-8f, 0.0f);
    const Pooling pool = kind == DECODER ? POOL_LAST : POOL_MEAN;
    const int B = 16;
    for (long s = 0; s < ch->ft_steps; s++) {
        interrupt_exit_if_requested("while fine-tuning, after step %ld of %lld; nothing saved", s, ch->ft_steps);
        model_zero_grad(&m);
        tensor_fill(&g.W, 0.0f), tensor_fill(&g.b, 0.0f);
        for (int b = 0; b < B; b++) {
            const Example *e = &ch->train[rng_below(&rng, (uint32_t)n_labels)];
            float p[2];
            classify_forward(&m, &h, e->ids, e->n, pool, e->label, p);
            classify_backward(&m, &h, &g, pool, e->label, p, frozen);
        }
        for (size_t i = 0; i < m.n_params; i++) m.grad_mem[i] /= B; /* the mean over the batch */
        for (int i = 0; i < C * 2; i++) g.W.data[i] /= B;
        g.b.data[0] /= B, g.b.data[1] /= B;
        adamw_begin_step(&head);
        adamw_update(&head, h.W.data, g.W.data, 0, (size_t)C * 2, (float)ch->ft_lr, false);
        adamw_update(&head, h.b.data, g.b.data, (size_t)C * 2, 2, (float)ch->ft_lr, false);
        if (!frozen) {
            adamw_begin_step(&body);
            adamw_update(&body, m.param_mem, m.grad_mem, 0, m.n_params, (float)ch->ft_lr, false);
        }
    }
    const double acc = accuracy(&m, &h, pool, ch->val, ch->n_val);
    if (body_same) {
        *body_same = memcmp(before, m.param_mem, sizeof(float) * m.n_params) == 0;
        free(before);
    }
    adamw_free(&body), adamw_free(&head);
    tensor_free(&h.W), tensor_free(&h.b), tensor_free(&g.W), tensor_free(&g.b);
    model_free(&m);
    return acc;
}

/* What one model kind's table shows, chosen by its numbers: the fewest labels with which the
 * pre-trained model clears the bar, and how many the same model from scratch needs to do as well.
 * Returns whether the table shows that pre-training saved labels. */
static bool labels_verdict(const Chapter *ch, int k) {
    const double (*mean)[N_SIZES] = ch->mean[k]; /* [0] pre-trained, [1] from scratch */
    int p = 0;
    while (p < ch->n_sizes && mean[0][p] <= ch->bar) p++;
    if (p == ch->n_sizes) {
        printf("    Pre-trained, no number of labels tried clears the bar of %.1f%%: this run could not show\n"
               "    that pre-training helps here.\n", 100 * ch->bar);
        return false;
    }
    int s = 0;
    while (s < ch->n_sizes && mean[1][s] < mean[0][p]) s++;
    if (s == ch->n_sizes) {
        printf("    From scratch, even %d labels stay below the %.1f%% that the pre-trained model reaches with %d.\n",
               ch->sizes[ch->n_sizes - 1], 100 * mean[0][p], ch->sizes[p]);
        return true;
    }
    if (ch->sizes[s] > ch->sizes[p]) {
        printf("    From scratch, %d labels reach the %.1f%% that the pre-trained model reaches with %d: %g times\n"
               "    as many.\n", ch->sizes[s], 100 * mean[0][p], ch->sizes[p], (double)ch->sizes[s] / ch->sizes[p]);
        return true;
    }
    printf("    From scratch, %d labels already reach the %.1f%% that the pre-trained model needs %d for: this\n"
           "    run could not show that pre-training saves labels.\n", ch->sizes[s], 100 * mean[0][p], ch->sizes[p]);
    return false;
}

/* One model kind's table: each number of labels, pre-trained and from scratch, over the seeds. */
static bool labels_table(Chapter *ch, int k) {
    printf("  %s, validation accuracy over %lld seeds: mean (min .. max)\n", kind_name[k], ch->seeds);
    printf("    %8s %26s %26s\n", "labels", "pre-trained", "from scratch");
    for (int si = 0; si < ch->n_sizes; si++) {
        for (int pre = 0; pre < 2; pre++) {
            double s = 0, mn = 1, mx = 0;
            for (long seed = 1; seed <= ch->seeds; seed++) {
                const double a = fine_tune(ch, k, pre == 0, ch->sizes[si], (int)seed, false, NULL);
                s += a, mn = fmin(mn, a), mx = fmax(mx, a);
            }
            ch->mean[k][pre][si] = s / (double)ch->seeds, ch->lo[k][pre][si] = mn, ch->hi[k][pre][si] = mx;
        }
        printf("    %8d %11.1f%% (%4.1f .. %4.1f) %11.1f%% (%4.1f .. %4.1f)\n", ch->sizes[si], 100 * ch->mean[k][0][si],
               100 * ch->lo[k][0][si], 100 * ch->hi[k][0][si], 100 * ch->mean[k][1][si], 100 * ch->lo[k][1][si],
               100 * ch->hi[k][1][si]);
    }
    return labels_verdict(ch, k);
}

/* figures/ch12_fine_tuning/labels.png: the four curves with their spreads, and the length rule. */
static void plot_labels(Chapter *ch) {
    const int n = ch->n_sizes;
    double x[N_SIZES], ys[4][N_SIZES], ylo[4][N_SIZES], yhi[4][N_SIZES], rule[N_SIZES];
    for (int si = 0; si < n; si++) {
        x[si] = ch->sizes[si], rule[si] = 100 * ch->by_length;
        for (int k = 0; k < N_KINDS; k++)
            for (int pre = 0; pre < 2; pre++)
                ys[2 * k + pre][si] = 100 * ch->mean[k][pre][si], ylo[2 * k + pre][si] = 100 * ch->lo[k][pre][si],
                              yhi[2 * k + pre][si] = 100 * ch->hi[k][pre][si];
    }
    const double *const los[5] = {ylo[0], ylo[1], ylo[2], ylo[3], NULL};
    const double *const his[5] = {yhi[0], yhi[1], yhi[2], yhi[3], NULL};
    LineSeries s[5] = {{"decoder, pre-trained", ys[0], false}, {"decoder, from scratch", ys[1], false},
                       {"encoder, pre-trained", ys[2], false}, {"encoder, from scratch", ys[3], false},
                       {"the length rule (section 1)", rule, true}};
    LineAxes ax = {"labelled examples (log scale)", "validation accuracy (%): mean, bars from min to max over seeds",
                   true, false};
    plot_lines_spread(&ch->plot, "labels", "Fine-tuning: accuracy against the number of labels", &ax, x, n, s, los, his, 5);
}

static void section_4_labels(Chapter *ch) {
    print_section(stdout, 4, "Accuracy against the number of labels");
    /* 16, 64, 256, 1024 labels, as far as the examples go; then all of them if that stopped short */
    static const int tried[N_SIZES - 1] = {16, 64, 256, 1024};
    int n = 0;
    while (n < N_SIZES - 1 && tried[n] <= ch->n_train) ch->sizes[n] = tried[n], n++;
    if (n < N_SIZES - 1 && ch->sizes[n - 1] < ch->n_train) ch->sizes[n++] = ch->n_train;
    ch->n_sizes = n;
    /* an accuracy over n_val examples has a standard error of at most 0.5 / sqrt(n_val) */
    ch->margin = 1.0 / sqrt((double)ch->n_val);
    ch->bar = fmax(0.5, ch->by_length) + ch->margin;
    printf("  A model shows that it read the words when it clears the better of chance (50%%) and the length\n"
           "  rule (%.1f%%) by two standard errors of an accuracy over %d validation examples (at most\n"
           "  %.1f points): the bar is %.1f%%.\n\n", 100 * ch->by_length, ch->n_val, 100 * ch->margin, 100 * ch->bar);
    bool saved[N_KINDS];
    for (int k = 0; k < N_KINDS; k++) {
        if (k) putchar('\n');
        saved[k] = labels_table(ch, k);
    }
    if (saved[DECODER] && saved[ENCODER])
        print_note(stdout, "Notice: pre-trained, both models clear the bar with fewer labels than the same models "
                           "need from scratch: the unlabelled text did part of the task's work.");
    else if (saved[DECODER] || saved[ENCODER]) {
        char note[300];
        snprintf(note, sizeof note, "Notice: pre-training saved labels for the %s; for the %s this run could not "
                 "show it.", saved[DECODER] ? "decoder" : "encoder", saved[DECODER] ? "encoder" : "decoder");
        print_note(stdout, note);
    } else
        print_note(stdout, "Notice: this run could not show that pre-training saves labels, for either model.");
    plot_labels(ch);
}

/* ==== 5. Freezing the body ==== */

/* What the frozen body's and the trained body's accuracies say, chosen by the difference: more
 * than the noise margin either way, or too close to tell. Returns 1 when training everything won,
 * -1 when the frozen body did, 0 when they cannot be told apart. */
static int frozen_verdict(const Chapter *ch, double frozen, double full) {
    return full - frozen > ch->margin ? 1 : frozen - full > ch->margin ? -1 : 0;
}

static void section_5_frozen(Chapter *ch) {
    print_section(stdout, 5, "Freezing the body: only the head learns");
    const int nl = ch->n_sizes >= 3 ? ch->sizes[2] : ch->sizes[ch->n_sizes - 1];
    int verdict[N_KINDS];
    for (int k = 0; k < N_KINDS; k++) {
        bool same = true, one;
        double frozen = 0, full = 0;
        for (long seed = 1; seed <= ch->seeds; seed++) {
            frozen += fine_tune(ch, k, true, nl, (int)seed, true, &one) / (double)ch->seeds;
            same &= one;
            full += fine_tune(ch, k, true, nl, (int)seed, false, NULL) / (double)ch->seeds;
        }
        printf("  %-30s %d labels: frozen body %.1f%%, everything trained %.1f%%\n"
               "  %-30s (the frozen body's weights kept every bit: %s)\n", kind_name[k], nl, 100 * frozen, 100 * full,
               "", same ? "yes" : "NO");
        verdict[k] = frozen_verdict(ch, frozen, full);
    }
    static const char *const said[3] = {"the frozen body does better", "this run could not tell the two apart",
                                        "training everything does better"};
    char note[400];
    if (verdict[DECODER] == verdict[ENCODER])
        snprintf(note, sizeof note, "Notice: for both models %s (a difference of more than %.1f points counts).",
                 said[verdict[DECODER] + 1], 100 * ch->margin);
    else
        snprintf(note, sizeof note, "Notice: for the decoder %s, for the encoder %s (a difference of more than %.1f "
                 "points counts).", said[verdict[DECODER] + 1], said[verdict[ENCODER] + 1], 100 * ch->margin);
    if (verdict[DECODER] == 1 || verdict[ENCODER] == 1)
        snprintf(note + strlen(note), sizeof note - strlen(note), " A frozen body can only offer what pre-training "
                 "put into its last hidden state; training everything lets the task reshape it.");
    print_note(stdout, note);
}

/* ==== 6. Summary ==== */

static void section_6_summary(const Chapter *ch) {
    print_section(stdout, 6, "Summary");
    printf("labels: %d", ch->sizes[0]);
    for (int si = 1; si < ch->n_sizes; si++) printf(" %d", ch->sizes[si]);
    printf("\n");
    for (int k = 0; k < N_KINDS; k++) {
        printf("%s_pretrained:", k == DECODER ? "decoder" : "encoder");
        for (int si = 0; si < ch->n_sizes; si++) printf(" %.4f", ch->mean[k][0][si]);
        printf("\n%s_scratch:", k == DECODER ? "decoder" : "encoder");
        for (int si = 0; si < ch->n_sizes; si++) printf(" %.4f", ch->mean[k][1][si]);
        printf("\n");
    }
}

/* Whoever allocates frees: everything the sections made. */
static void chapter_free(Chapter *ch) {
    for (int i = 0; i < ch->n_train; i++) free(ch->train[i].ids);
    for (int i = 0; i < ch->n_val; i++) free(ch->val[i].ids);
    free(ch->train), free(ch->val);
    for (int k = 0; k < N_KINDS; k++) free(ch->pretrained[k]);
    dataset_free(&ch->data);
    bpe_free(&ch->merges);
    lines_free(&ch->class_lines[0]), lines_free(&ch->class_lines[1]), lines_free(&ch->unlabelled);
}

/* ==== the table of contents ==== */

int main(int argc, char **argv) {
    Chapter ch;
    parse_flags(&ch, argc, argv);

    printf("Chapter 12: pre-training, then fine-tuning (source document §2.1.3)\n");
    section_1_task(&ch);
    section_2_pretrain(&ch);
    section_3_heads(&ch);
    section_4_labels(&ch);
    section_5_frozen(&ch);
    section_6_summary(&ch);

    chapter_free(&ch);
    return 0;
}
