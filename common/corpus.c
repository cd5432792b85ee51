/* corpus: files, lines, tokens, vocabulary (see corpus.h). */
#include "corpus.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "util.h"

/* ==== files ==== */

char *corpus_read_file(const char *path, size_t *len) {
    size_t n;
    char *buf = util_read_file(path, UTIL_MAX_FILE_BYTES, &n, NULL);
    char problem[128];
    if (!corpus_text_ok(buf, n, problem, sizeof problem)) die(EXIT_RUNTIME, "%s %s", path, problem);
    if (len) *len = n;
    return buf;
}

bool corpus_text_ok(const char *text, size_t n, char *problem, size_t size) {
    if (n == 0) {
        snprintf(problem, size, "is empty");
        return false;
    }
    const char *nul = memchr(text, '\0', n);
    if (nul) {
        snprintf(problem, size, "holds a NUL byte at offset %ld: not a text file", (long)(nul - text));
        return false;
    }
    const long bad = util_utf8_invalid_at(text, n);
    if (bad >= 0) {
        snprintf(problem, size, "is not valid UTF-8: bad byte at offset %ld", bad);
        return false;
    }
    return true;
}

/* ==== lines ==== */

static bool line_has_text(const char *line);

void lines_split(Lines *out, const char *text) {
    memset(out, 0, sizeof *out);
    out->buffer = xstrdup(text);
    int cap = 64;
    out->line = xmalloc(sizeof(char *) * (size_t)cap);
    for (char *p = out->buffer; *p;) {
        char *end = strchr(p, '\n');
        char *next = end ? end + 1 : p + strlen(p);
        if (end) *end = '\0';
        size_t len = strlen(p);
        if (len > 0 && p[len - 1] == '\r') p[--len] = '\0';
        if (line_has_text(p)) { /* keep lines with something visible */
            if (out->n == cap) {
                cap *= 2;
                char **bigger = realloc(out->line, sizeof(char *) * (size_t)cap);
                if (!bigger) die(EXIT_RUNTIME, "out of memory splitting lines");
                out->line = bigger;
            }
            out->line[out->n++] = p;
        }
        p = next;
    }
}

void lines_free(Lines *l) {
    if (!l) return;
    free(l->buffer);
    free(l->line);
    memset(l, 0, sizeof *l);
}

void corpus_split(const Lines *all, char ***train, int *n_train, char ***val, int *n_val) {
    *train = xmalloc(sizeof(char *) * (size_t)(all->n + 1));
    *val = xmalloc(sizeof(char *) * (size_t)(all->n / 10 + 1));
    *n_train = *n_val = 0;
    for (int i = 0; i < all->n; i++) {
        if (i % 10 == 9) (*val)[(*n_val)++] = all->line[i];
        else (*train)[(*n_train)++] = all->line[i];
    }
}

/* ==== tokens ==== */

/* Decode one code point at s; returns its length in bytes. Text is validated as UTF-8 where it
 * enters (files, command-line text), but a broken sequence here still never reads past the NUL:
 * a lead byte without its continuation bytes is one byte, U+FFFD. */
static int decode_utf8(const unsigned char *s, unsigned *cp) {
    if (s[0] < 0x80) { *cp = s[0]; return 1; }
    const int len = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 1;
    bool whole = len > 1; /* a continuation byte cannot start a code point */
    for (int k = 1; k < len && whole; k++) whole = (s[k] & 0xC0) == 0x80; /* a NUL stops here too */
    if (!whole) {
        *cp = 0xFFFD;
        return 1;
    }
    if (len == 2) { *cp = ((s[0] & 0x1Fu) << 6) | (s[1] & 0x3Fu); return 2; }
    if (len == 3) { *cp = ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu); return 3; }
    *cp = ((s[0] & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
    return 4;
}

/* Code points that stand alone as word-level tokens: CJK ideographs, kana, Hangul syllables, and
 * CJK, full-width and general punctuation. */
static bool is_standalone(unsigned cp) {
    return (cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x2E80 && cp <= 0x9FFF) ||
           (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
           (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFFEF) ||
           (cp >= 0x20000 && cp <= 0x3FFFF);
}

static bool is_space(unsigned cp) { return cp == ' ' || cp == '\t' || cp == '\r' || cp == '\f' || cp == '\v' || cp == 0xA0 || cp == 0x3000; }

/* A line holds text when one of its code points is not a space (ASCII blanks, U+00A0 and U+3000
 * included: a line of ideographic spaces has no token at the word level and nothing to learn). */
static bool line_has_text(const char *line) {
    for (const unsigned char *p = (const unsigned char *)line; *p;) {
        unsigned cp;
        p += decode_utf8(p, &cp);
        if (!is_space(cp)) return true;
    }
    return false;
}

static bool is_word_char(unsigned cp) {
    if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '\'';
    return !is_standalone(cp) && !is_space(cp);
}

static void push_token(char ***tokens, int *n, int *cap, const char *s, size_t len, bool lower) {
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        char **bigger = realloc(*tokens, sizeof(char *) * (size_t)*cap);
        if (!bigger) die(EXIT_RUNTIME, "out of memory tokenising");
        *tokens = bigger;
    }
    char *t = xmalloc(len + 1);
    for (size_t i = 0; i < len; i++) t[i] = (lower && s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
    t[len] = '\0';
    (*tokens)[(*n)++] = t;
}

int tokenize_line(const char *line, TokenLevel level, char ***tokens) {
    CHECK(level != LEVEL_BPE, "tokenize_line: the BPE level needs its merges (corpus_encode_text)");
    *tokens = NULL;
    int n = 0, cap = 0;
    const unsigned char *p = (const unsigned char *)line;
    while (*p) {
        unsigned cp;
        int len = decode_utf8(p, &cp);
        if (level == LEVEL_CHAR) {
            push_token(tokens, &n, &cap, (const char *)p, (size_t)len, false);
            p += len;
        } else if (is_space(cp)) {
            p += len;
        } else if (is_word_char(cp)) {
            const unsigned char *start = p;
            while (*p) {
                int l = decode_utf8(p, &cp);
                if (!is_word_char(cp)) break;
                p += l;
            }
            push_token(tokens, &n, &cap, (const char *)start, (size_t)(p - start), true);
        } else {
            push_token(tokens, &n, &cap, (const char *)p, (size_t)len, false);
            p += len;
        }
    }
    return n;
}

void tokens_free(char **tokens, int n) {
    for (int i = 0; i < n; i++) free(tokens[i]);
    free(tokens);
}

/* ==== vocabulary ==== */

static void vocab_rehash(Vocab *v, int n_slots) {
    free(v->slot);
    v->n_slots = n_slots;
    v->slot = xmalloc(sizeof(int) * (size_t)n_slots);
    for (int i = 0; i < n_slots; i++) v->slot[i] = -1;
    for (int id = 0; id < v->size; id++) {
        size_t h = (size_t)rng_hash_string(v->word[id]) & (size_t)(n_slots - 1);
        while (v->slot[h] >= 0) h = (h + 1) & (size_t)(n_slots - 1);
        v->slot[h] = id;
    }
}

void vocab_init(Vocab *v) {
    memset(v, 0, sizeof *v);
    v->cap = 64;
    v->word = xmalloc(sizeof(char *) * (size_t)v->cap);
    vocab_rehash(v, 256);
    vocab_add(v, "<unk>");
    vocab_add(v, "<s>");
    vocab_add(v, "</s>");
}

void vocab_init_bpe(Vocab *v, const Bpe *b) {
    vocab_init(v);
    v->bpe = xmalloc(sizeof *v->bpe);
    bpe_prefix(v->bpe, b, b->n_merges); /* a copy */
    for (int t = 0; t < bpe_vocab_size(b); t++) {
        char *name = bpe_token_name(b, t);
        const int id = vocab_add(v, name);
        CHECK(id == 3 + t, "vocab_init_bpe: token %d's name '%s' is not distinct", t, name);
        free(name);
    }
}

void vocab_free(Vocab *v) {
    if (!v) return;
    if (v->bpe) bpe_free(v->bpe), free(v->bpe);
    for (int i = 0; i < v->size; i++) free(v->word[i]);
    free(v->word);
    free(v->slot);
    memset(v, 0, sizeof *v);
}

int vocab_find(const Vocab *v, const char *word) {
    size_t h = (size_t)rng_hash_string(word) & (size_t)(v->n_slots - 1);
    while (v->slot[h] >= 0) {
        if (strcmp(v->word[v->slot[h]], word) == 0) return v->slot[h];
        h = (h + 1) & (size_t)(v->n_slots - 1);
    }
    return -1;
}

int vocab_add(Vocab *v, const char *word) {
    int id = vocab_find(v, word);
    if (id >= 0) return id;
    if (v->size == v->cap) {
        v->cap *= 2;
        char **bigger = realloc(v->word, sizeof(char *) * (size_t)v->cap);
        if (!bigger) die(EXIT_RUNTIME, "out of memory growing the vocabulary");
        v->word = bigger;
    }
    v->word[v->size++] = xstrdup(word);
    if (2 * v->size > v->n_slots) vocab_rehash(v, 2 * v->n_slots);
    else {
        size_t h = (size_t)rng_hash_string(word) & (size_t)(v->n_slots - 1);
        while (v->slot[h] >= 0) h = (h + 1) & (size_t)(v->n_slots - 1);
        v->slot[h] = v->size - 1;
    }
    return v->size - 1;
}

/* ==== encoding ==== */

/* One line's BPE ids (3 + token) into out (room for strlen(line) ids); returns the count. */
static long corpus_bpe_line(const Vocab *v, const char *line, int *out) {
    CHECK(v->bpe, "corpus: the BPE level without merges");
    const size_t n = strlen(line);
    int32_t *tok = xmalloc(sizeof(int32_t) * (n ? n : 1));
    const size_t k = bpe_encode(v->bpe, (const uint8_t *)line, n, tok);
    for (size_t i = 0; i < k; i++) out[i] = 3 + tok[i];
    free(tok);
    return (long)k;
}

/* The BPE level: each line's bytes with the vocabulary's merges, then </s>. */
static void encode_bpe(TokenStream *out, const Vocab *v, char *const *lines, int n) {
    CHECK(v->bpe, "corpus_encode: the BPE level without merges");
    long total = 0;
    for (int i = 0; i < n; i++) total += (long)strlen(lines[i]) + 1;
    memset(out, 0, sizeof *out);
    out->id = xmalloc(sizeof(int) * (size_t)(total + 1));
    for (int i = 0; i < n; i++) {
        const long k = corpus_bpe_line(v, lines[i], out->id + out->n);
        out->n += k;
        out->id[out->n++] = VOCAB_EOS;
        out->n_lines++;
    }
}

void corpus_encode(TokenStream *out, Vocab *v, char *const *lines, int n, TokenLevel level, bool grow) {
    if (level == LEVEL_BPE) {
        encode_bpe(out, v, lines, n);
        return;
    }
    memset(out, 0, sizeof *out);
    long cap = 1024;
    out->id = xmalloc(sizeof(int) * (size_t)cap);
    for (int i = 0; i < n; i++) {
        char **tok;
        int k = tokenize_line(lines[i], level, &tok);
        if (out->n + k + 1 > cap) {
            while (out->n + k + 1 > cap) cap *= 2;
            int *bigger = realloc(out->id, sizeof(int) * (size_t)cap);
            if (!bigger) die(EXIT_RUNTIME, "out of memory encoding the corpus");
            out->id = bigger;
        }
        for (int t = 0; t < k; t++) {
            /* No token can spell <unk>, <s> or </s>: '<' and '>' are tokens of their own. */
            int id = grow ? vocab_add(v, tok[t]) : vocab_find(v, tok[t]);
            if (id < 0) {
                id = VOCAB_UNK;
                out->n_oov++;
            }
            out->id[out->n++] = id;
        }
        out->id[out->n++] = VOCAB_EOS;
        out->n_lines++;
        tokens_free(tok, k);
    }
}

void token_stream_free(TokenStream *s) {
    if (!s) return;
    free(s->id);
    memset(s, 0, sizeof *s);
}

int *token_stream_with_eos(const TokenStream *s, long *n) {
    int *ext = xmalloc(sizeof(int) * (size_t)(s->n + 1));
    ext[0] = VOCAB_EOS;
    memcpy(ext + 1, s->id, sizeof(int) * (size_t)s->n);
    *n = s->n + 1;
    return ext;
}

long corpus_encode_text(const Vocab *v, const char *text, TokenLevel level, int **ids) {
    if (level == LEVEL_BPE) {
        *ids = xmalloc(sizeof(int) * (strlen(text) + 1));
        return corpus_bpe_line(v, text, *ids);
    }
    char **tok;
    const int k = tokenize_line(text, level, &tok);
    *ids = xmalloc(sizeof(int) * (size_t)(k + 1));
    for (int i = 0; i < k; i++) {
        const int id = vocab_find(v, tok[i]);
        (*ids)[i] = id < 0 ? VOCAB_UNK : id;
    }
    tokens_free(tok, k);
    return k;
}

/* The BPE level: the bytes of every token (a line end for </s>, other ids by name); *len their
 * count. Free the result. */
static uint8_t *bpe_bytes(const Vocab *v, const int *ids, long n, size_t *len) {
    size_t cap = 256;
    uint8_t *bytes = xmalloc(cap);
    const int V = bpe_vocab_size(v->bpe);
    *len = 0;
    for (long i = 0; i < n; i++) {
        size_t k;
        const uint8_t *s = ids[i] == VOCAB_EOS ? (const uint8_t *)"\n"
                           : ids[i] >= 3 && ids[i] < 3 + V ? bpe_token(v->bpe, ids[i] - 3, &k)
                                                            : (const uint8_t *)v->word[ids[i]];
        if (ids[i] == VOCAB_EOS || ids[i] < 3 || ids[i] >= 3 + V) k = strlen((const char *)s);
        if (*len + k > cap) {
            while (*len + k > cap) cap *= 2;
            uint8_t *bigger = realloc(bytes, cap);
            if (!bigger) die(EXIT_RUNTIME, "out of memory decoding");
            bytes = bigger;
        }
        memcpy(bytes + *len, s, k);
        *len += k;
    }
    return bytes;
}

static char *decode_bpe(const Vocab *v, const int *ids, long n) {
    size_t len;
    uint8_t *bytes = bpe_bytes(v, ids, n, &len);
    char *text = bpe_escape_text(bytes, len);
    free(bytes);
    return text;
}

long corpus_print_whole(FILE *out, const Vocab *v, const int *ids, long n, bool all) {
    size_t len;
    uint8_t *bytes = bpe_bytes(v, ids, n, &len);
    const bool whole = all || bpe_complete_prefix(bytes, len) == len;
    if (whole) {
        char *text = bpe_escape_text(bytes, len);
        fputs(text, out);
        free(text);
    }
    free(bytes);
    return whole ? n : 0;
}

char *corpus_decode(const Vocab *v, const int *ids, long n, TokenLevel level) {
    if (level == LEVEL_BPE) return decode_bpe(v, ids, n);
    size_t cap = 256, len = 0;
    char *out = xmalloc(cap);
    bool line_start = true;
    for (long i = 0; i < n; i++) {
        const char *w = ids[i] == VOCAB_EOS ? "\n" : v->word[ids[i]];
        size_t wl = strlen(w);
        if (len + wl + 2 > cap) {
            while (len + wl + 2 > cap) cap *= 2;
            char *bigger = realloc(out, cap);
            if (!bigger) die(EXIT_RUNTIME, "out of memory decoding");
            out = bigger;
        }
        if (level == LEVEL_WORD && !line_start && ids[i] != VOCAB_EOS) out[len++] = ' ';
        memcpy(out + len, w, wl);
        len += wl;
        line_start = ids[i] == VOCAB_EOS;
    }
    out[len] = '\0';
    return out;
}
