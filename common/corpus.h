/* corpus: text in, token ids out. Reading a UTF-8 file, splitting it into lines (one sentence per
 * line), tokenising at the character or the word level, a vocabulary with <unk>, <s> and </s>, and
 * the train/validation split.
 *
 * Conventions (the same as the n-gram toolkits):
 *   - a line is a sentence; empty and all-blank lines are skipped (blank: ASCII whitespace, U+00A0
 *     and U+3000, the spaces the word level separates on); a trailing '\r' is dropped;
 *   - char level: every Unicode code point is a token, spaces included (Chinese works unchanged);
 *   - word level: ASCII letters are lower-cased; a word is a run of letters, digits, apostrophes
 *     and non-ASCII letters; every other visible ASCII character is a token of its own, and so is
 *     every CJK character and CJK or full-width punctuation mark; whitespace only separates;
 *   - BPE level (byte-level byte-pair encoding, common/bpe.h): a line's bytes encoded with the
 *     vocabulary's merges; token t of the BPE vocabulary has id 3 + t and bpe_token_name(t) as its
 *     word; every byte is a token, so nothing is <unk>, and decoding gives back the bytes;
 *   - the vocabulary is built from the training lines only; ids 0, 1, 2 are <unk>, <s>, </s>, then
 *     the training types in order of first appearance (char and word levels: a token not in it is
 *     encoded as <unk>) or the BPE tokens;
 *   - an encoded line is its tokens followed by </s>; <s> is never stored (a model puts it in
 *     front of each line's context);
 *   - the split: line i (counting non-empty lines from 0) goes to validation when i % 10 == 9,
 *     to training otherwise; with a validation file, all lines of the corpus train.       */
#ifndef CORPUS_H
#define CORPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "bpe.h"

typedef enum { LEVEL_CHAR, LEVEL_WORD, LEVEL_BPE } TokenLevel;

enum { VOCAB_UNK = 0, VOCAB_BOS = 1, VOCAB_EOS = 2 };

/* The whole file as a NUL-terminated string (read by util_read_file). Exits with status 1 and one
 * line naming the file and the problem when it is missing, unreadable, a directory, not a regular
 * file (a FIFO or a device: never waited on or read without end), larger than 1 GiB, empty, holds a
 * NUL byte, or is not valid UTF-8 (with the byte offset). Free with free(). */
char *corpus_read_file(const char *path, size_t *len);
/* The checks of corpus_read_file on n bytes in memory, without exiting: true when they are text,
 * else false with the problem in `problem` ("is empty", "is not valid UTF-8: bad byte at offset 3"). */
bool corpus_text_ok(const char *text, size_t n, char *problem, size_t size);

/* Lines of a text: pointers into one owned copy. */
typedef struct {
    char *buffer;  /* owned */
    char **line;   /* line[i] points into buffer */
    int n;
} Lines;

void lines_split(Lines *out, const char *text);
void lines_free(Lines *l);

/* Tokens of one line as owned strings at the char or word level; returns the count (0 for a line of
 * spaces at word level). The BPE level needs the merges: corpus_encode_text. */
int tokenize_line(const char *line, TokenLevel level, char ***tokens);
void tokens_free(char **tokens, int n);

typedef struct {
    char **word;    /* word[id], owned */
    int size, cap;
    int *slot;      /* hash table of ids, -1 where empty */
    int n_slots;
    Bpe *bpe;       /* BPE level only: the merges (owned); ids 3 .. 3 + bpe_vocab_size - 1 */
} Vocab;

void vocab_init(Vocab *v);  /* with <unk>, <s>, </s> */
/* The BPE level's vocabulary: <unk>, <s>, </s>, then every token of b by its name (a copy of b is
 * kept in v->bpe). */
void vocab_init_bpe(Vocab *v, const Bpe *b);
void vocab_free(Vocab *v);
int vocab_find(const Vocab *v, const char *word); /* -1 when absent */
int vocab_add(Vocab *v, const char *word);        /* the id, new or existing */

/* Encoded lines: each line's ids followed by VOCAB_EOS, all lines back to back. */
typedef struct {
    int *id;
    long n;
    int n_lines;
    long n_oov;     /* tokens encoded as <unk> because they were not in the vocabulary */
} TokenStream;

/* Encode `lines`; with `grow`, new tokens join the vocabulary (training), otherwise they become <unk>. */
void corpus_encode(TokenStream *out, Vocab *v, char *const *lines, int n, TokenLevel level, bool grow);
void token_stream_free(TokenStream *s);
/* The ids of one line of text (no </s>) at any level, unknown tokens as <unk>; returns the count
 * and sets *ids (free it). */
long corpus_encode_text(const Vocab *v, const char *text, TokenLevel level, int **ids);
/* A copy of the stream's ids with one </s> in front (free it): the first line then follows a </s>
 * like every other, which is how the Transformer chapters cut windows from a stream. */
int *token_stream_with_eos(const TokenStream *s, long *n);

/* Text of ids[0..n): concatenated (char level) or space-separated (word level); </s> becomes '\n'.
 * BPE level: the tokens' bytes, shown by bpe_escape_text (a byte that is not part of a whole
 * character, from a token that ends mid-character, as "\xNN"); other ids by their names. */
char *corpus_decode(const Vocab *v, const int *ids, long n, TokenLevel level);

/* Generated BPE tokens printed as they come: ids[0..n) (the tokens not printed yet) decoded and
 * printed when their bytes end on a whole character, or always with `all` (the end); returns how
 * many were printed (n or 0), so a character cut between two tokens prints whole once both are in. */
long corpus_print_whole(FILE *out, const Vocab *v, const int *ids, long n, bool all);

/* The split rule above, as pointer arrays into `all` (no copies). Free the arrays with free(). */
void corpus_split(const Lines *all, char ***train, int *n_train, char ***val, int *n_val);

#endif
