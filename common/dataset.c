/* dataset: corpus loading shared by the training chapters (see dataset.h). */
#include "dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

const char *level_name(int level) { return level == LEVEL_CHAR ? "char" : "word"; }

DatasetFlags dataset_flags_default(void) {
    DatasetFlags f = {NULL, NULL, LEVEL_CHAR, 20000, NULL};
    return f;
}

int dataset_cli_options(CliOption out[DATASET_N_OPTIONS], DatasetFlags *f) {
    out[0] = cli_string("--corpus", &f->corpus_path, "FILE", "UTF-8 text, one sentence per line (default: the synthetic language)");
    out[1] = cli_string("--val-file", &f->val_path, "FILE", "held-out text (default: every 10th line of the corpus)");
    out[2] = cli_choice("--level", &f->level, "char|word", "tokens: Unicode characters or words");
    out[3] = cli_int("--lines", &f->lines, 100, 2000000, "N", "lines of the synthetic language to generate");
    return DATASET_N_OPTIONS;
}

/* The text: generated (the synthetic language, its grammar printed when asked) or read from
 * --corpus. The caller frees it. */
static char *dataset_text(Dataset *d, const DatasetFlags *f, uint64_t seed, bool grammar, FILE *out) {
    char *text;
    if (d->synthetic) {
        fprintf(out, "  No --corpus given: the built-in synthetic language (common/synth.c), %lld lines from seed %llu.\n",
                f->lines, (unsigned long long)seed);
        if (grammar) {
            fputc('\n', out);
            synth_describe(out);
        }
        synth_generate(&d->synth, (int)f->lines, seed);
        text = synth_text(&d->synth);
    } else {
        size_t len;
        text = corpus_read_file(f->corpus_path, &len);
        fprintf(out, "  corpus: %s (%zu bytes)\n", f->corpus_path, len);
    }
    return text;
}

/* Training and validation lines: --val-file, or every 10th line of the corpus. */
static void dataset_split(Dataset *d, const DatasetFlags *f, FILE *out) {
    if (f->val_path) {
        char *vt = corpus_read_file(f->val_path, NULL);
        lines_split(&d->val_file, vt);
        free(vt);
        if (d->val_file.n == 0) die(EXIT_RUNTIME, "%s has no line with text in it", f->val_path);
        d->train_lines = d->all.line, d->n_train = d->all.n;
        d->val_lines = d->val_file.line, d->n_val = d->val_file.n;
        fprintf(out, "\n  Split: every line of the corpus trains; validation is %s.\n", f->val_path);
    } else {
        corpus_split(&d->all, &d->train_lines, &d->n_train, &d->val_lines, &d->n_val);
        d->split_arrays = true;
        if (d->n_val == 0)
            die(EXIT_RUNTIME, "%s has %d lines: the validation split (every 10th line) needs at least 10; give --val-file",
                f->corpus_path ? f->corpus_path : "the corpus", d->all.n);
        fprintf(out, "\n  Split: line i goes to validation when i %% 10 == 9, else to training.\n");
        if (d->synthetic) { /* blank lines never occur in the generated text, so indices match */
            d->val_synth_index = xmalloc(sizeof(int) * (size_t)d->n_val);
            for (int i = 0; i < d->n_val; i++) d->val_synth_index[i] = 10 * i + 9;
        }
    }
}

/* Tokens of both splits, the vocabulary (built from the training lines, or the one given), and
 * where each validation line starts. */
static void dataset_encode(Dataset *d, const Vocab *given, FILE *out) {
    fprintf(out, "\n  First lines of the training text:\n");
    for (int i = 0; i < 5 && i < d->n_train; i++) fprintf(out, "    %.74s\n", d->train_lines[i]);

    vocab_init(&d->vocab);
    for (int i = VOCAB_EOS + 1; given && i < given->size; i++) vocab_add(&d->vocab, given->word[i]);
    CHECK(!given || d->vocab.size == given->size, "dataset: the given vocabulary has a word twice");
    corpus_encode(&d->train, &d->vocab, d->train_lines, d->n_train, d->level, !given);
    corpus_encode(&d->val, &d->vocab, d->val_lines, d->n_val, d->level, false);
    fprintf(out, "\n  level: %s tokens; each line ends with </s>, which is a token to predict.\n", level_name(d->level));
    if (given) {
        fprintf(out, "  the vocabulary is the checkpoint's, not this text's; what it lacks is encoded as <unk>:\n");
        fprintf(out, "  training:   %6d lines, %9ld tokens, %ld of them not in the vocabulary (<unk>)\n", d->n_train,
                d->train.n, d->train.n_oov);
        fprintf(out, "  validation: %6d lines, %9ld tokens, %ld of them not in the vocabulary (<unk>)\n", d->n_val,
                d->val.n, d->val.n_oov);
    } else {
        fprintf(out, "  training:   %6d lines, %9ld tokens\n", d->n_train, d->train.n);
        fprintf(out, "  validation: %6d lines, %9ld tokens, %ld of them never seen in training (<unk>)\n", d->n_val,
                d->val.n, d->val.n_oov);
    }
    fprintf(out, "  vocabulary: %d types + </s> + <unk> = |V| = %d (what a model predicts over)\n", d->vocab.size - 3,
            d->vocab.size - 1);
    d->val_line_start = xmalloc(sizeof(long) * (size_t)(d->n_val + 1));
    int line = 0;
    d->val_line_start[0] = 0;
    for (long t = 0; t < d->val.n; t++)
        if (d->val.id[t] == VOCAB_EOS) d->val_line_start[++line] = t + 1;
}

/* The synthetic language's true cross-entropy over the validation split: the floor. */
static void dataset_floor(Dataset *d, FILE *out) {
    if (!d->val_synth_index) return;
    double nats = 0;
    for (int i = 0; i < d->n_val; i++) nats -= d->synth.logp[d->val_synth_index[i]];
    d->floor_nats = nats / (double)d->val.n;
    fprintf(out, "\n  The generator knows the probability of every line it wrote. Over the validation\n"
                 "  split that is %.4f nats = %.4f bits per token: perplexity %.4f. This is the floor:\n"
                 "  no model of this language can have a lower perplexity on average.\n",
            d->floor_nats, d->floor_nats / log(2.0), exp(d->floor_nats));
}

void dataset_load(Dataset *d, const DatasetFlags *f, uint64_t seed, bool grammar, FILE *out) {
    memset(d, 0, sizeof *d);
    d->synthetic = f->corpus_path == NULL;
    d->level = (TokenLevel)f->level;
    d->floor_nats = NAN;
    char *text = dataset_text(d, f, seed, grammar, out);
    lines_split(&d->all, text);
    free(text);
    if (d->all.n == 0) die(EXIT_RUNTIME, "%s has no line with text in it", f->corpus_path);
    dataset_split(d, f, out);
    dataset_encode(d, f->vocab, out);
    dataset_floor(d, out);
}

void dataset_free(Dataset *d) {
    if (!d) return;
    token_stream_free(&d->train);
    token_stream_free(&d->val);
    vocab_free(&d->vocab);
    if (d->split_arrays) free(d->train_lines), free(d->val_lines);
    free(d->val_synth_index);
    free(d->val_line_start);
    lines_free(&d->all);
    lines_free(&d->val_file);
    synth_free(&d->synth);
    memset(d, 0, sizeof *d);
}

/* ==== the long-range agreement ==== */

static const int gap_lo[GAP_BINS] = {1, 2, 3, 4, 5, 6, 7, 8, 10, 13, 17, 25};
static const int gap_hi[GAP_BINS] = {1, 2, 3, 4, 5, 6, 7, 9, 12, 16, 24, 1 << 30};

int gap_bin(int gap) {
    int bin = 0;
    while (bin < GAP_BINS - 1 && gap > gap_hi[bin]) bin++;
    return bin;
}

void gap_label(int bin, char *buf, size_t size) {
    if (gap_lo[bin] == gap_hi[bin]) snprintf(buf, size, "%d", gap_lo[bin]);
    else if (bin == GAP_BINS - 1) snprintf(buf, size, "%d+", gap_lo[bin]);
    else snprintf(buf, size, "%d-%d", gap_lo[bin], gap_hi[bin]);
}

double gap_center(int bin) { return bin == GAP_BINS - 1 ? gap_lo[bin] : 0.5 * (gap_lo[bin] + gap_hi[bin]); }

bool dataset_closer(const Dataset *d, int val_line, int *pos, int *gap) {
    if (!d->val_synth_index) return false;
    const int s = d->val_synth_index[val_line];
    *pos = d->level == LEVEL_CHAR ? d->synth.closer_pos[s] : 1 + d->synth.body_words[s];
    /* each marker's second letter is unique, so at the char level the class is known one token in */
    *gap = d->level == LEVEL_CHAR ? *pos - 1 : *pos;
    return true;
}

void dataset_closer_ids(const Dataset *d, int ids[SYNTH_CLASSES]) {
    for (int c = 0; c < SYNTH_CLASSES; c++) {
        char tok[8];
        if (d->level == LEVEL_CHAR) snprintf(tok, sizeof tok, "%c", synth_closer_letters()[c]);
        else snprintf(tok, sizeof tok, "%s", synth_closer(c));
        ids[c] = vocab_find(&d->vocab, tok);
        if (ids[c] < 0) die(EXIT_RUNTIME, "the closer '%s' never occurs in training: use more --lines", tok);
    }
}
