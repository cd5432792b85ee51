/* bpe: byte-level byte-pair encoding (BPE), the tokenizer of GPT-2 and most models since.
 *
 * The alphabet is the 256 byte values, so any byte string, invalid UTF-8 and NUL bytes included,
 * has an encoding and nothing is ever unknown. Training starts from the bytes of a text and
 * repeatedly merges the most frequent adjacent pair of tokens into a new token, until the vocabulary
 * has the size asked for. The result is the list of merges: merge k joins tokens (left, right) into
 * token 256 + k. Ids 0..255 are the bytes themselves.
 *
 * Conventions:
 *   - a text is trained on and encoded as chunks (lines, or pre-tokens): no pair spans two chunks;
 *   - the count of a pair is the number of places where its two tokens stand side by side
 *     (overlaps counted: "aaa" holds the pair (a, a) twice); a merge replaces its pair from left
 *     to right, so "aaa" becomes [aa, a];
 *   - tie-break rule: among the pairs with the highest count, the one with the smaller left id wins,
 *     then the one with the smaller right id. Training stops early when no pair occurs twice;
 *   - encoding applies the merges in the order they were learned (a merge of rank k only ever
 *     names tokens made before it, so this equals GPT-2's "merge the lowest-ranked pair present");
 *   - decoding concatenates each token's bytes: decode(encode(x)) == x for every byte string.
 *
 * Two trainers: bpe_train_plain rescans every pair after each merge (the definition, slow);
 * bpe_train keeps the pair counts up to date incrementally with a priority queue (fast). The tests
 * prove they learn the same merges. Likewise bpe_encode_plain and bpe_encode.
 *
 * The merge table as a text file (bpe_serialise, bpe_parse):
 *     bpe-merges 1
 *     N                 the number of merges, 0..65280
 *     L R               N lines: merge k makes token 256 + k from tokens L and R (< 256 + k)
 * A table that names a token not yet defined, an id out of range, or the same pair twice is refused.
 *
 * GPT-2's published tokenizer (encoder.json and vocab.bpe) loads into the same structure with its
 * own id numbering (ext_id), and bpe_gpt2_pretokenize cuts a text the way GPT-2's regular expression
 * does. Every function that fails on outside input says why in err and returns false; none exits. */
#ifndef BPE_H
#define BPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { BPE_BYTES = 256, BPE_MAX_VOCAB = 65536, BPE_MAX_MERGES = BPE_MAX_VOCAB - BPE_BYTES };

typedef struct {
    int n_merges;
    int32_t (*merge)[2];   /* (n_merges, 2): merge[k] = {left, right}, makes token 256 + k */
    int32_t *offset;       /* (vocab + 1): token t's bytes are bytes[offset[t] .. offset[t + 1]) */
    uint8_t *bytes;
    uint64_t *pair_key;    /* hash table: (left << 32 | right) -> rank, UINT64_MAX where empty */
    int32_t *pair_rank;
    size_t n_slots;
    int32_t *ext_id;       /* (vocab): the id a published vocabulary gives each token, or NULL */
    int n_ext;             /* ids 0..n_ext-1 exist in the published vocabulary (GPT-2: 50257) */
} Bpe;

/* A chunk of a text: no pair spans two chunks. */
typedef struct {
    const uint8_t *s;
    size_t n;
} BpeChunk;

/* Build from a merge list (copied), checking it: false with the reason in err when a merge names
 * an id < 0 or not yet defined, repeats an earlier pair, or there are more than BPE_MAX_MERGES.
 * n_merges = 0 gives the byte tokenizer. On failure nothing needs freeing. */
bool bpe_build(Bpe *b, const int32_t (*merge)[2], int n_merges, char *err, size_t err_size);
void bpe_free(Bpe *b); /* safe on a zeroed Bpe */
int bpe_vocab_size(const Bpe *b);
/* The bytes of token t (0 <= t < vocab) and their count. */
const uint8_t *bpe_token(const Bpe *b, int t, size_t *len);

/* ==== training ==== */

/* The chunks of a text: its lines, without their '\n'; empty lines are skipped. Free the array. */
BpeChunk *bpe_chunk_lines(const uint8_t *text, size_t n, int *n_chunks);

/* Pair counts of a token sequence, the definition: seq holds the chunks' tokens with -1 between
 * chunks. Writes every distinct pair with its count, sorted by the tie-break rule (most frequent
 * first), into *pairs (left, right, count triples; free it) and returns how many. */
typedef struct {
    int32_t left, right;
    long count;
} BpePairCount;
int bpe_pair_counts(const int32_t *seq, long n, BpePairCount **pairs);
/* Replace every (left, right) in seq by token z, left to right; returns the new length. */
long bpe_merge_seq(int32_t *seq, long n, int32_t left, int32_t right, int32_t z);
/* The chunks as bytes with -1 between them (free it); *n gets the length. */
int32_t *bpe_chunks_to_seq(const BpeChunk *chunks, int n_chunks, long *n);

/* Train to vocab_size (256..65536) tokens, rescanning all pairs after every merge. Slow: for tests
 * and small texts. The result may be smaller when no pair occurs twice any more. */
void bpe_train_plain(Bpe *out, const BpeChunk *chunks, int n_chunks, int vocab_size);
/* The same merges, with the pair counts updated incrementally (a position list per pair and a
 * max-heap with lazy deletion): time grows with the text, not with text x merges. */
void bpe_train(Bpe *out, const BpeChunk *chunks, int n_chunks, int vocab_size);
/* The first n_merges merges of b (a smaller vocabulary of the same training run). */
void bpe_prefix(Bpe *out, const Bpe *b, int n_merges);

/* ==== encoding and decoding ==== */

/* Encode n bytes as one chunk into out (room for n ids); returns the number of ids. */
size_t bpe_encode(const Bpe *b, const uint8_t *s, size_t n, int32_t *out);
/* The same, applying every merge in turn to the whole chunk: the definition, slow. */
size_t bpe_encode_plain(const Bpe *b, const uint8_t *s, size_t n, int32_t *out);
/* The bytes of ids[0..n) into out (room for bpe_decoded_size bytes); returns the byte count. An id
 * outside 0..vocab-1 is a bug of the caller (CHECK); otherwise decoding cannot fail. */
size_t bpe_decoded_size(const Bpe *b, const int32_t *ids, size_t n);
size_t bpe_decode(const Bpe *b, const int32_t *ids, size_t n, uint8_t *out);
/* Bytes shown for a reader: valid UTF-8 as it is, except '\n', '\t', '\\' and a space shown as
 * "\n", "\t", "\\" and U+2423; every byte that is not part of a whole character (a token that ends
 * mid-character, invalid UTF-8) and every other control byte as "\xNN"; the character U+2423 itself
 * as "\u2423", so that two byte strings never look the same. Owned, NUL-terminated. */
char *bpe_escape(const uint8_t *s, size_t n);
/* Bytes shown as text (generated text, a decoded line): the same, but spaces, '\n', '\t' and '\\'
 * as they are; only bytes that are not part of a whole character and control bytes as "\xNN". */
char *bpe_escape_text(const uint8_t *s, size_t n);
/* Token t's name in a vocabulary: bpe_escape of its bytes, distinct for every token; a name that
 * would look like a special token ("<s>", "[MASK]": starting with '<' or '[' and ending with '>' or
 * ']') has its first character written as "\x3C" or "\x5B", so no token can be taken for one. */
char *bpe_token_name(const Bpe *b, int t);
/* The length of the longest prefix of s[0..n) that does not end inside a character: n, or less
 * when the last 1..3 bytes begin a multi-byte UTF-8 character whose other bytes have not come yet
 * (text printed as tokens are generated holds them back until the character is whole). */
size_t bpe_complete_prefix(const uint8_t *s, size_t n);

/* ==== the merge table as text ==== */
char *bpe_serialise(const Bpe *b, size_t *len);  /* owned, NUL-terminated */
bool bpe_parse(Bpe *out, const char *text, size_t n, char *err, size_t err_size);

/* ==== GPT-2's published tokenizer ==== */

/* Load from the texts of encoder.json (token string -> id) and vocab.bpe (the merges, in rank
 * order, after a "#version" line). Token strings spell bytes with GPT-2's byte-to-character
 * table. Every merge's two parts must already be tokens and every token must have an id. */
bool bpe_gpt2_parse(Bpe *out, const char *encoder_json, size_t n_json, const char *vocab_bpe, size_t n_bpe,
                    char *err, size_t err_size);
/* The end of the pre-token that starts at byte i of s[0..n) (i < n), by GPT-2's rule:
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * with the letter, number and white-space classes of bpe_unicode.h. A byte that is not part of
 * valid UTF-8 counts as one "other symbol" character. */
size_t bpe_gpt2_pretoken_end(const uint8_t *s, size_t n, size_t i);
/* Encode a whole text GPT-2's way (pre-tokens, then BPE in each), writing published ids to out
 * (room for n); returns the count. b must come from bpe_gpt2_parse. */
size_t bpe_gpt2_encode(const Bpe *b, const uint8_t *s, size_t n, int32_t *out);

#endif
