/* dataset: corpus loading shared by the training chapters (see dataset.h). */
#include "dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

const char *level_name(int level) { return level == LEVEL_CHAR ? "char" : "word"; }

DatasetFlags dataset_flags_default(void) {
    DatasetFlags f = {NULL, NULL, LEVEL_CHAR, 20000};
    return f;
}

int dataset_cli_options(CliOption out[DATASET_N_OPTIONS], DatasetFlags *f) {
    out[0] = cli_string("--corpus", &f->corpus_path, "FILE", "UTF-8 text, one sentence per line (default: the synthetic language)");
    out[1] = cli_string("--val-file", &f->val_path, "FILE", "held-out text (default: every 10th line of the corpus)");
    out[2] = cli_choice("--level", &f->level, "char|word", "tokens: Unicode characters or words");
    out[3] = cli_int("--lines", &f->lines, 100, 2000000, "N", "lines of the synthetic language to generate");
    return DATASET_N_OPTIONS;
}

void dataset_load(Dataset *d, const DatasetFlags *f, uint64_t seed, bool grammar, FILE *out) {
    memset(d, 0, sizeof *d);
    d->synthetic = f->corpus_path == NULL;
    d->level = (TokenLevel)f->level;
    d->floor_nats = NAN;
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
    lines_split(&d->all, text);
    free(text);
    if (d->all.n == 0) die(EXIT_RUNTIME, "%s has no line with text in it", f->corpus_path);

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
    fprintf(out, "\n  First lines of the training text:\n");
    for (int i = 0; i < 5 && i < d->n_train; i++) fprintf(out, "    %.74s\n", d->train_lines[i]);

    vocab_init(&d->vocab);
    corpus_encode(&d->train, &d->vocab, d->train_lines, d->n_train, d->level, true);
    corpus_encode(&d->val, &d->vocab, d->val_lines, d->n_val, d->level, false);
    fprintf(out, "\n  level: %s tokens; each line ends with </s>, which is a token to predict.\n", level_name(d->level));
    fprintf(out, "  training:   %6d lines, %9ld tokens\n", d->n_train, d->train.n);
    fprintf(out, "  validation: %6d lines, %9ld tokens, %ld of them never seen in training (<unk>)\n", d->n_val,
            d->val.n, d->val.n_oov);
    fprintf(out, "  vocabulary: %d types + </s> + <unk> = |V| = %d (what a model predicts over)\n", d->vocab.size - 3,
            d->vocab.size - 1);
    if (d->val_synth_index) {
        double nats = 0;
        for (int i = 0; i < d->n_val; i++) nats -= d->synth.logp[d->val_synth_index[i]];
        d->floor_nats = nats / (double)d->val.n;
        fprintf(out, "\n  The generator knows the probability of every line it wrote. Over the validation\n"
                     "  split that is %.4f nats = %.4f bits per token: perplexity %.4f. This is the floor:\n"
                     "  no model of this language can have a lower perplexity on average.\n",
                d->floor_nats, d->floor_nats / log(2.0), exp(d->floor_nats));
    }
}

void dataset_free(Dataset *d) {
    if (!d) return;
    token_stream_free(&d->train);
    token_stream_free(&d->val);
    vocab_free(&d->vocab);
    if (d->split_arrays) free(d->train_lines), free(d->val_lines);
    free(d->val_synth_index);
    lines_free(&d->all);
    lines_free(&d->val_file);
    synth_free(&d->synth);
    memset(d, 0, sizeof *d);
}
