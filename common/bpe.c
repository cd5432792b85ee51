/* bpe: byte-level byte-pair encoding. See bpe.h for the conventions (chunks, overlapping pair
 * counts, the tie-break rule, the merge table's file format). */
#include "bpe.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpe_unicode.h"
#include "util.h"

/* Refuse tables whose tokens would spell more bytes than this in all (a table of merges can double
 * a token's length with every line). */
#define BPE_MAX_TOTAL_BYTES (1L << 28)
#define EMPTY_KEY UINT64_MAX

static bool fail(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool fail(char *err, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (err && size) vsnprintf(err, size, fmt, ap);
    va_end(ap);
    return false;
}

static uint64_t pair_key(int32_t left, int32_t right) { return (uint64_t)(uint32_t)left << 32 | (uint32_t)right; }
/* splitmix64's finaliser: every bit of the key moves every bit of the slot (a plain multiply would
 * leave the low bits of the slot blind to the left token, which sits in the key's high half) */
static size_t hash64(uint64_t k) {
    k = (k ^ (k >> 30)) * 0xBF58476D1CE4E5B9ull;
    k = (k ^ (k >> 27)) * 0x94D049BB133111EBull;
    return (size_t)(k ^ (k >> 31));
}

/* ==== the table: merges, token bytes, and the pair -> rank lookup ==== */

static int32_t rank_of(const Bpe *b, int32_t left, int32_t right) {
    if (b->n_slots == 0) return -1;
    const uint64_t k = pair_key(left, right);
    for (size_t s = hash64(k) & (b->n_slots - 1);; s = (s + 1) & (b->n_slots - 1)) {
        if (b->pair_key[s] == k) return b->pair_rank[s];
        if (b->pair_key[s] == EMPTY_KEY) return -1;
    }
}

/* The length in bytes of every token (len, BPE_BYTES + n_merges entries) and their sum; false when
 * a merge names a token not made before it or the sum passes BPE_MAX_TOTAL_BYTES. */
static bool token_lengths(int64_t *len, int64_t *total, const int32_t (*merge)[2], int n_merges, char *err,
                          size_t err_size) {
    *total = 0;
    for (int t = 0; t < BPE_BYTES; t++) len[t] = 1, (*total)++;
    for (int k = 0; k < n_merges; k++) {
        for (int side = 0; side < 2; side++) {
            const int32_t id = merge[k][side];
            if (id < 0 || id >= BPE_BYTES + k)
                return fail(err, err_size, "merge %d names token %ld, which is not defined yet (ids 0..%d are)", k,
                            (long)id, BPE_BYTES + k - 1);
        }
        len[BPE_BYTES + k] = len[merge[k][0]] + len[merge[k][1]];
        *total += len[BPE_BYTES + k];
        if (*total > BPE_MAX_TOTAL_BYTES)
            return fail(err, err_size, "merge %d: the tokens would spell more than %ld bytes in all", k,
                        (long)BPE_MAX_TOTAL_BYTES);
    }
    return true;
}

/* The pair -> rank lookup of b (pair_key, pair_rank); false when a merge repeats an earlier one
 * (the caller frees what was allocated). */
static bool index_pairs(Bpe *b, const int32_t (*merge)[2], int n_merges, char *err, size_t err_size) {
    b->n_slots = 16;
    while (b->n_slots < 2 * (size_t)n_merges + 2) b->n_slots *= 2;
    b->pair_key = xmalloc(sizeof(uint64_t) * b->n_slots);
    b->pair_rank = xmalloc(sizeof(int32_t) * b->n_slots);
    for (size_t s = 0; s < b->n_slots; s++) b->pair_key[s] = EMPTY_KEY;
    for (int k = 0; k < n_merges; k++) {
        const uint64_t key = pair_key(merge[k][0], merge[k][1]);
        size_t s = hash64(key) & (b->n_slots - 1);
        while (b->pair_key[s] != EMPTY_KEY && b->pair_key[s] != key) s = (s + 1) & (b->n_slots - 1);
        if (b->pair_key[s] == key)
            return fail(err, err_size, "merge %d repeats merge %d (tokens %ld and %ld)", k, (int)b->pair_rank[s],
                        (long)merge[k][0], (long)merge[k][1]);
        b->pair_key[s] = key;
        b->pair_rank[s] = k;
    }
    return true;
}

/* The bytes of every token of b, one after another (b->bytes, total of them), and where each
 * starts (b->offset); a merged token is its left token's bytes then its right token's. */
static void spell_tokens(Bpe *b, const int64_t *len, int64_t total) {
    const int V = bpe_vocab_size(b);
    b->offset = xmalloc(sizeof(int32_t) * (size_t)(V + 1));
    b->bytes = xmalloc((size_t)total);
    int64_t at = 0;
    for (int t = 0; t < V; t++) {
        b->offset[t] = (int32_t)at;
        if (t < BPE_BYTES) {
            b->bytes[at] = (uint8_t)t;
        } else {
            const int32_t l = b->merge[t - BPE_BYTES][0], r = b->merge[t - BPE_BYTES][1];
            memcpy(b->bytes + at, b->bytes + b->offset[l], (size_t)len[l]);
            memcpy(b->bytes + at + len[l], b->bytes + b->offset[r], (size_t)len[r]);
        }
        at += len[t];
    }
    b->offset[V] = (int32_t)at;
}

bool bpe_build(Bpe *b, const int32_t (*merge)[2], int n_merges, char *err, size_t err_size) {
    memset(b, 0, sizeof *b);
    if (n_merges < 0 || n_merges > BPE_MAX_MERGES)
        return fail(err, err_size, "%d merges: a table holds 0..%d", n_merges, BPE_MAX_MERGES);
    /* every merge names two tokens made before it; the lengths they spell must stay bounded */
    int64_t *len = xmalloc(sizeof(int64_t) * (size_t)(BPE_BYTES + n_merges));
    int64_t total;
    if (!token_lengths(len, &total, merge, n_merges, err, err_size)) {
        free(len);
        return false;
    }
    if (!index_pairs(b, merge, n_merges, err, err_size)) {
        free(len);
        bpe_free(b);
        return false;
    }
    b->n_merges = n_merges;
    b->merge = xmalloc(sizeof(int32_t[2]) * (size_t)(n_merges ? n_merges : 1));
    if (n_merges) memcpy(b->merge, merge, sizeof(int32_t[2]) * (size_t)n_merges);
    spell_tokens(b, len, total);
    free(len);
    return true;
}

void bpe_free(Bpe *b) {
    free(b->merge);
    free(b->offset);
    free(b->bytes);
    free(b->pair_key);
    free(b->pair_rank);
    free(b->ext_id);
    memset(b, 0, sizeof *b);
}

int bpe_vocab_size(const Bpe *b) { return BPE_BYTES + b->n_merges; }

const uint8_t *bpe_token(const Bpe *b, int t, size_t *len) {
    CHECK(t >= 0 && t < bpe_vocab_size(b), "token %d outside 0..%d", t, bpe_vocab_size(b) - 1);
    *len = (size_t)(b->offset[t + 1] - b->offset[t]);
    return b->bytes + b->offset[t];
}

/* A build from merges the trainer made itself: cannot fail. */
static void build_trusted(Bpe *out, const int32_t (*merge)[2], int n) {
    char err[160];
    CHECK(bpe_build(out, merge, n, err, sizeof err), "a trained table is inconsistent: %s", err);
}

void bpe_prefix(Bpe *out, const Bpe *b, int n_merges) {
    CHECK(n_merges >= 0 && n_merges <= b->n_merges, "prefix of %d merges out of %d", n_merges, b->n_merges);
    build_trusted(out, (const int32_t(*)[2])b->merge, n_merges);
}

/* ==== training, the definition: count every pair, merge the best, repeat ==== */

BpeChunk *bpe_chunk_lines(const uint8_t *text, size_t n, int *n_chunks) {
    int count = 0;
    for (size_t i = 0; i < n; i++) count += text[i] == '\n';
    BpeChunk *c = xmalloc(sizeof(BpeChunk) * (size_t)(count + 1));
    int k = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && text[j] != '\n') j++;
        if (j > i) c[k++] = (BpeChunk){text + i, j - i};
        i = j + 1;
    }
    *n_chunks = k;
    return c;
}

int32_t *bpe_chunks_to_seq(const BpeChunk *chunks, int n_chunks, long *n) {
    long total = 0;
    for (int c = 0; c < n_chunks; c++) total += (long)chunks[c].n + 1;
    int32_t *seq = xmalloc(sizeof(int32_t) * (size_t)(total ? total : 1));
    long at = 0;
    for (int c = 0; c < n_chunks; c++) {
        if (c) seq[at++] = -1;
        for (size_t i = 0; i < chunks[c].n; i++) seq[at++] = chunks[c].s[i];
    }
    *n = at;
    return seq;
}

/* The tie-break rule as an order: higher count first, then smaller left id, then smaller right id. */
static int pair_order(const BpePairCount *x, const BpePairCount *y) {
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    if (x->left != y->left) return x->left < y->left ? -1 : 1;
    return (x->right > y->right) - (x->right < y->right);
}
static int cmp_pair_count(const void *a, const void *b) { return pair_order(a, b); }
static int cmp_u64(const void *a, const void *b) {
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int bpe_pair_counts(const int32_t *seq, long n, BpePairCount **pairs) {
    uint64_t *keys = xmalloc(sizeof(uint64_t) * (size_t)(n > 0 ? n : 1));
    long m = 0;
    for (long i = 0; i + 1 < n; i++)
        if (seq[i] >= 0 && seq[i + 1] >= 0) keys[m++] = pair_key(seq[i], seq[i + 1]);
    qsort(keys, (size_t)m, sizeof(uint64_t), cmp_u64);
    BpePairCount *p = xmalloc(sizeof(BpePairCount) * (size_t)(m > 0 ? m : 1));
    int np = 0;
    for (long i = 0; i < m;) {
        long j = i;
        while (j < m && keys[j] == keys[i]) j++;
        p[np++] = (BpePairCount){(int32_t)(keys[i] >> 32), (int32_t)(keys[i] & 0xffffffffu), j - i};
        i = j;
    }
    free(keys);
    qsort(p, (size_t)np, sizeof(BpePairCount), cmp_pair_count);
    *pairs = p;
    return np;
}

long bpe_merge_seq(int32_t *seq, long n, int32_t left, int32_t right, int32_t z) {
    long w = 0;
    for (long i = 0; i < n; i++) {
        if (i + 1 < n && seq[i] == left && seq[i + 1] == right) {
            seq[w++] = z;
            i++;
        } else {
            seq[w++] = seq[i];
        }
    }
    return w;
}

static void check_vocab_size(int vocab_size) {
    CHECK(vocab_size >= BPE_BYTES && vocab_size <= BPE_MAX_VOCAB, "vocabulary size %d outside %d..%d", vocab_size,
          BPE_BYTES, BPE_MAX_VOCAB);
}

void bpe_train_plain(Bpe *out, const BpeChunk *chunks, int n_chunks, int vocab_size) {
    check_vocab_size(vocab_size);
    long n;
    int32_t *seq = bpe_chunks_to_seq(chunks, n_chunks, &n);
    int32_t(*merge)[2] = xmalloc(sizeof(int32_t[2]) * (size_t)(vocab_size - BPE_BYTES + 1));
    int k = 0;
    while (BPE_BYTES + k < vocab_size) {
        BpePairCount *p;
        const int np = bpe_pair_counts(seq, n, &p);
        const bool go = np > 0 && p[0].count >= 2;
        if (go) {
            merge[k][0] = p[0].left, merge[k][1] = p[0].right;
            n = bpe_merge_seq(seq, n, p[0].left, p[0].right, BPE_BYTES + k);
            k++;
        }
        free(p);
        if (!go) break;
    }
    build_trusted(out, (const int32_t(*)[2])merge, k);
    free(merge);
    free(seq);
}

/* ==== training, fast: the same merges with incremental pair counts ====
 * The text is a linked list of tokens (next/prev indices, -1 at a chunk's ends). Each distinct pair
 * keeps its count and the list of positions (left node) where it was ever created; a max-heap holds
 * (count, pair) entries ordered by the tie-break rule. Entries go stale when counts fall: a popped
 * entry whose count is no longer the pair's is pushed back with the current count. Counts of old
 * pairs only ever fall; the pairs a merge creates all contain the new token, and are pushed once,
 * after that merge, with their final count. So the top entry, once current, is the true best. */

typedef struct {
    int32_t left, right;
    long count;
    int32_t *pos;
    int n_pos, cap_pos;
} TrainPair;

typedef struct {
    int32_t *tok;           /* (n) the token at each position; -1 between chunks and once merged away */
    int32_t *next, *prev;   /* (n) the neighbouring positions within a chunk, -1 at its ends */
    long n;
    TrainPair *pair;
    int n_pairs, cap_pairs;
    uint64_t *key;   /* open addressing: pair key -> index into pair */
    int32_t *index;
    size_t n_slots;
    struct HeapEntry {
        long count;
        int32_t pair;
    } *heap;
    long n_heap, cap_heap;
    int32_t *made;          /* the pairs created by the current merge (some more than once) */
    int n_made, cap_made;
} Trainer;

static void trainer_grow_table(Trainer *t) {
    const size_t old = t->n_slots;
    uint64_t *ok = t->key;
    int32_t *oi = t->index;
    t->n_slots = old ? 2 * old : 1024;
    t->key = xmalloc(sizeof(uint64_t) * t->n_slots);
    t->index = xmalloc(sizeof(int32_t) * t->n_slots);
    for (size_t s = 0; s < t->n_slots; s++) t->key[s] = EMPTY_KEY;
    for (size_t s = 0; s < old; s++) {
        if (ok[s] == EMPTY_KEY) continue;
        size_t d = hash64(ok[s]) & (t->n_slots - 1);
        while (t->key[d] != EMPTY_KEY) d = (d + 1) & (t->n_slots - 1);
        t->key[d] = ok[s], t->index[d] = oi[s];
    }
    free(ok);
    free(oi);
}

/* The index of pair (left, right), created with count 0 when new. */
static int32_t trainer_pair(Trainer *t, int32_t left, int32_t right) {
    if (2 * (size_t)(t->n_pairs + 1) > t->n_slots) trainer_grow_table(t);
    const uint64_t k = pair_key(left, right);
    size_t s = hash64(k) & (t->n_slots - 1);
    while (t->key[s] != EMPTY_KEY) {
        if (t->key[s] == k) return t->index[s];
        s = (s + 1) & (t->n_slots - 1);
    }
    if (t->n_pairs == t->cap_pairs) {
        t->cap_pairs = t->cap_pairs ? 2 * t->cap_pairs : 1024;
        TrainPair *np = xmalloc(sizeof(TrainPair) * (size_t)t->cap_pairs);
        if (t->n_pairs) memcpy(np, t->pair, sizeof(TrainPair) * (size_t)t->n_pairs);
        free(t->pair);
        t->pair = np;
    }
    t->key[s] = k;
    t->index[s] = t->n_pairs;
    t->pair[t->n_pairs] = (TrainPair){left, right, 0, NULL, 0, 0};
    return t->n_pairs++;
}

static void pair_add_position(TrainPair *p, int32_t pos) {
    if (p->n_pos == p->cap_pos) {
        p->cap_pos = p->cap_pos ? 2 * p->cap_pos : 4;
        int32_t *np = xmalloc(sizeof(int32_t) * (size_t)p->cap_pos);
        if (p->n_pos) memcpy(np, p->pos, sizeof(int32_t) * (size_t)p->n_pos);
        free(p->pos);
        p->pos = np;
    }
    p->pos[p->n_pos++] = pos;
}

/* true when heap entry x must sit above y */
static bool heap_above(const Trainer *t, const struct HeapEntry *x, const struct HeapEntry *y) {
    const BpePairCount a = {t->pair[x->pair].left, t->pair[x->pair].right, x->count};
    const BpePairCount b = {t->pair[y->pair].left, t->pair[y->pair].right, y->count};
    return pair_order(&a, &b) < 0;
}

static void heap_push(Trainer *t, int32_t pair, long count) {
    if (t->n_heap == t->cap_heap) {
        t->cap_heap = t->cap_heap ? 2 * t->cap_heap : 1024;
        struct HeapEntry *nh = xmalloc(sizeof *nh * (size_t)t->cap_heap);
        if (t->n_heap) memcpy(nh, t->heap, sizeof *nh * (size_t)t->n_heap);
        free(t->heap);
        t->heap = nh;
    }
    long i = t->n_heap++;
    t->heap[i] = (struct HeapEntry){count, pair};
    while (i > 0 && heap_above(t, &t->heap[i], &t->heap[(i - 1) / 2])) {
        const struct HeapEntry tmp = t->heap[i];
        t->heap[i] = t->heap[(i - 1) / 2], t->heap[(i - 1) / 2] = tmp;
        i = (i - 1) / 2;
    }
}

static struct HeapEntry heap_pop(Trainer *t) {
    const struct HeapEntry top = t->heap[0];
    t->heap[0] = t->heap[--t->n_heap];
    for (long i = 0;;) {
        long best = i;
        const long l = 2 * i + 1, r = l + 1;
        if (l < t->n_heap && heap_above(t, &t->heap[l], &t->heap[best])) best = l;
        if (r < t->n_heap && heap_above(t, &t->heap[r], &t->heap[best])) best = r;
        if (best == i) break;
        const struct HeapEntry tmp = t->heap[i];
        t->heap[i] = t->heap[best], t->heap[best] = tmp;
        i = best;
    }
    return top;
}

static int cmp_i32(const void *a, const void *b) {
    const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The text of the chunks as a linked list (tok, next, prev). */
static void trainer_text(Trainer *t, const BpeChunk *chunks, int n_chunks) {
    long n;
    int32_t *tok = bpe_chunks_to_seq(chunks, n_chunks, &n);
    CHECK(n < INT32_MAX, "a training text of %ld bytes is beyond the 2^31 this trainer indexes", n);
    int32_t *next = xmalloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    int32_t *prev = xmalloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    for (long i = 0; i < n; i++) {
        next[i] = i + 1 < n && tok[i] >= 0 && tok[i + 1] >= 0 ? (int32_t)(i + 1) : -1;
        prev[i] = i > 0 && tok[i] >= 0 && tok[i - 1] >= 0 ? (int32_t)(i - 1) : -1;
    }
    t->tok = tok, t->next = next, t->prev = prev, t->n = n;
}

/* Count every pair of neighbours with its positions, and heap the pairs that occur twice or more. */
static void trainer_count_pairs(Trainer *t) {
    for (long i = 0; i < t->n; i++) {
        if (t->next[i] < 0) continue;
        const int32_t p = trainer_pair(t, t->tok[i], t->tok[t->next[i]]);
        t->pair[p].count++;
        pair_add_position(&t->pair[p], (int32_t)i);
    }
    for (int32_t p = 0; p < t->n_pairs; p++)
        if (t->pair[p].count >= 2) heap_push(t, p, t->pair[p].count);
}

/* Note that the current merge created pair p. */
static void trainer_note_made(Trainer *t, int32_t p) {
    if (t->n_made == t->cap_made) {
        t->cap_made = t->cap_made ? 2 * t->cap_made : 64;
        int32_t *nm = xmalloc(sizeof(int32_t) * (size_t)t->cap_made);
        if (t->n_made) memcpy(nm, t->made, sizeof(int32_t) * (size_t)t->n_made);
        free(t->made);
        t->made = nm;
    }
    t->made[t->n_made++] = p;
}

/* Merge one occurrence of pair, at positions i and next[i], into token z: the pairs it overlapped
 * lose a count, and the pairs z now makes with its neighbours gain one. */
static void trainer_merge_at(Trainer *t, int32_t pair, int32_t i, int32_t z) {
    const int32_t a = t->pair[pair].left, b = t->pair[pair].right;
    const int32_t j = t->next[i], pi = t->prev[i], nj = t->next[j];
    /* (the index is looked up before t->pair is read: a lookup may move the array) */
    if (pi >= 0) {
        const int32_t q_left = trainer_pair(t, t->tok[pi], a);
        t->pair[q_left].count--;
    }
    t->pair[pair].count--;
    if (nj >= 0) {
        const int32_t q_right = trainer_pair(t, b, t->tok[nj]);
        t->pair[q_right].count--;
    }
    t->tok[i] = z, t->tok[j] = -1;
    t->next[i] = nj;
    if (nj >= 0) t->prev[nj] = i;
    for (int side = 0; side < 2; side++) {
        const int32_t at = side == 0 ? pi : i;
        if (at < 0 || t->next[at] < 0) continue;
        const int32_t np = trainer_pair(t, t->tok[at], t->tok[t->next[at]]);
        t->pair[np].count++;
        pair_add_position(&t->pair[np], at);
        trainer_note_made(t, np);
    }
}

/* Merge every occurrence of pair into token z, noting the pairs this creates. */
static void trainer_merge(Trainer *t, int32_t pair, int32_t z) {
    const int32_t a = t->pair[pair].left, b = t->pair[pair].right;
    /* the positions, left to right, so that overlaps ("aaa") merge the way a rescan does */
    int32_t *pos = t->pair[pair].pos;
    const int n_pos = t->pair[pair].n_pos;
    t->pair[pair].pos = NULL, t->pair[pair].n_pos = t->pair[pair].cap_pos = 0;
    qsort(pos, (size_t)n_pos, sizeof(int32_t), cmp_i32);
    t->n_made = 0;
    for (int q = 0; q < n_pos; q++) {
        const int32_t i = pos[q], j = t->next[i];
        if (t->tok[i] != a || j < 0 || t->tok[j] != b) continue; /* gone, or no longer this pair */
        trainer_merge_at(t, pair, i, z);
    }
    free(pos);
    CHECK(t->pair[pair].count == 0, "pair (%d, %d) still counted %ld times after its merge", a, b,
          t->pair[pair].count);
}

/* Push each pair the last merge created once (it may be noted several times), if it occurs twice
 * or more. */
static void trainer_push_made(Trainer *t) {
    qsort(t->made, (size_t)t->n_made, sizeof(int32_t), cmp_i32);
    for (int q = 0; q < t->n_made; q++)
        if ((q == 0 || t->made[q] != t->made[q - 1]) && t->pair[t->made[q]].count >= 2)
            heap_push(t, t->made[q], t->pair[t->made[q]].count);
}

/* Free everything the trainer holds. */
static void trainer_free(Trainer *t) {
    free(t->made);
    for (int p = 0; p < t->n_pairs; p++) free(t->pair[p].pos);
    free(t->pair);
    free(t->key);
    free(t->index);
    free(t->heap);
    free(t->tok);
    free(t->next);
    free(t->prev);
}

void bpe_train(Bpe *out, const BpeChunk *chunks, int n_chunks, int vocab_size) {
    check_vocab_size(vocab_size);
    Trainer t;
    memset(&t, 0, sizeof t);
    trainer_text(&t, chunks, n_chunks);
    trainer_count_pairs(&t);
    int32_t(*merge)[2] = xmalloc(sizeof(int32_t[2]) * (size_t)(vocab_size - BPE_BYTES + 1));
    int k = 0;
    while (BPE_BYTES + k < vocab_size && t.n_heap > 0) {
        const struct HeapEntry e = heap_pop(&t);
        const long now = t.pair[e.pair].count;
        if (now != e.count) { /* stale: its count fell since it was pushed */
            if (now >= 2) heap_push(&t, e.pair, now);
            continue;
        }
        merge[k][0] = t.pair[e.pair].left, merge[k][1] = t.pair[e.pair].right;
        trainer_merge(&t, e.pair, BPE_BYTES + k);
        k++;
        trainer_push_made(&t);
    }
    build_trusted(out, (const int32_t(*)[2])merge, k);
    free(merge);
    trainer_free(&t);
}

/* ==== encoding and decoding ==== */

size_t bpe_encode_plain(const Bpe *b, const uint8_t *s, size_t n, int32_t *out) {
    for (size_t i = 0; i < n; i++) out[i] = s[i];
    long m = (long)n;
    for (int k = 0; k < b->n_merges; k++) m = bpe_merge_seq(out, m, b->merge[k][0], b->merge[k][1], BPE_BYTES + k);
    return (size_t)m;
}

/* Fast: a min-heap of (rank, position) over the chunk's adjacent pairs, each packed in one integer
 * (rank in the high bits), so the lowest rank comes first and, within a rank, the leftmost. A merge
 * makes a token newer than every pair it could form, so each rank's positions are all handled before
 * the next rank's: the same as applying the merges one after another. */
static void heap_up(uint64_t *h, size_t i) {
    while (i > 0 && h[i] < h[(i - 1) / 2]) {
        const uint64_t x = h[i];
        h[i] = h[(i - 1) / 2], h[(i - 1) / 2] = x;
        i = (i - 1) / 2;
    }
}
static void heap_down(uint64_t *h, size_t n, size_t i) {
    for (;;) {
        size_t m = i;
        const size_t l = 2 * i + 1, r = l + 1;
        if (l < n && h[l] < h[m]) m = l;
        if (r < n && h[r] < h[m]) m = r;
        if (m == i) return;
        const uint64_t x = h[i];
        h[i] = h[m], h[m] = x;
        i = m;
    }
}

enum { POS_BITS = 40, SHORT_CHUNK = 128 };

/* Short chunks (most lines, every pre-token): the tokens and the rank of each adjacent pair in two
 * arrays; find the lowest rank (the leftmost on a tie), merge, close the gap, and look up only the
 * two pairs the new token forms. Quadratic in the length, but with no allocation and no hashing
 * beyond those two lookups, faster than the heap below for short chunks. */
static size_t encode_short(const Bpe *b, const uint8_t *s, size_t n, int32_t *out) {
    int32_t rank[SHORT_CHUNK];
    for (size_t i = 0; i < n; i++) out[i] = s[i];
    for (size_t i = 0; i + 1 < n; i++) {
        const int32_t r = rank_of(b, out[i], out[i + 1]);
        rank[i] = r >= 0 ? r : INT32_MAX;
    }
    size_t m = n;
    while (m > 1) {
        size_t best = 0;
        for (size_t i = 1; i + 1 < m; i++)
            if (rank[i] < rank[best]) best = i;
        if (rank[best] == INT32_MAX) break;
        out[best] = BPE_BYTES + rank[best];
        memmove(out + best + 1, out + best + 2, sizeof(int32_t) * (m - best - 2));
        if (best + 3 < m) memmove(rank + best + 1, rank + best + 2, sizeof(int32_t) * (m - best - 3));
        m--;
        for (size_t i = best > 0 ? best - 1 : 0; i <= best && i + 1 < m; i++) {
            const int32_t r = rank_of(b, out[i], out[i + 1]);
            rank[i] = r >= 0 ? r : INT32_MAX;
        }
    }
    return m;
}

size_t bpe_encode(const Bpe *b, const uint8_t *s, size_t n, int32_t *out) {
    if (n < 2 || b->n_merges == 0) {
        for (size_t i = 0; i < n; i++) out[i] = s[i];
        return n;
    }
    if (n <= SHORT_CHUNK) return encode_short(b, s, n, out);
    CHECK(n < (1ull << POS_BITS), "a chunk of %zu bytes is too long to encode", n);
    /* out doubles as the token array; next/prev as indices (n < 2^40 fits in int64) */
    int64_t *next = xmalloc(sizeof(int64_t) * n), *prev = xmalloc(sizeof(int64_t) * n);
    /* the heap starts with at most n - 1 pairs, and each of the at most n - 1 merges adds two */
    uint64_t *heap = xmalloc(sizeof(uint64_t) * 3 * n);
    size_t nh = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = s[i];
        next[i] = i + 1 < n ? (int64_t)i + 1 : -1;
        prev[i] = (int64_t)i - 1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        const int32_t r = rank_of(b, s[i], s[i + 1]);
        if (r >= 0) heap[nh++] = (uint64_t)r << POS_BITS | i;
    }
    for (size_t i = nh / 2; i-- > 0;) heap_down(heap, nh, i);
    while (nh > 0) {
        const uint64_t top = heap[0];
        heap[0] = heap[--nh];
        heap_down(heap, nh, 0);
        const int32_t r = (int32_t)(top >> POS_BITS);
        const int64_t i = (int64_t)(top & ((1ull << POS_BITS) - 1)), j = next[i];
        if (out[i] != b->merge[r][0] || j < 0 || out[j] != b->merge[r][1]) continue; /* stale */
        out[i] = BPE_BYTES + r;
        out[j] = -1;
        next[i] = next[j];
        if (next[j] >= 0) prev[next[j]] = i;
        /* the two pairs the new token forms: with its left neighbour and with its right one */
        if (prev[i] >= 0) {
            const int32_t rl = rank_of(b, out[prev[i]], out[i]);
            if (rl >= 0) heap[nh] = (uint64_t)rl << POS_BITS | (uint64_t)prev[i], heap_up(heap, nh++);
        }
        if (next[i] >= 0) {
            const int32_t rr = rank_of(b, out[i], out[next[i]]);
            if (rr >= 0) heap[nh] = (uint64_t)rr << POS_BITS | (uint64_t)i, heap_up(heap, nh++);
        }
    }
    size_t m = 0;
    for (int64_t i = 0; i >= 0; i = next[i]) out[m++] = out[i];
    free(next);
    free(prev);
    free(heap);
    return m;
}

size_t bpe_decoded_size(const Bpe *b, const int32_t *ids, size_t n) {
    size_t total = 0, len;
    for (size_t i = 0; i < n; i++) bpe_token(b, ids[i], &len), total += len;
    return total;
}

size_t bpe_decode(const Bpe *b, const int32_t *ids, size_t n, uint8_t *out) {
    size_t at = 0, len;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *t = bpe_token(b, ids[i], &len);
        memcpy(out + at, t, len);
        at += len;
    }
    return at;
}

/* The code point at s[0..n) and its length in bytes, or 0 when no valid UTF-8 character starts
 * there (overlong forms, surrogates and values above U+10FFFF are invalid). */
static int utf8_char(const uint8_t *s, size_t n, uint32_t *cp) {
    const uint8_t c = s[0];
    if (c < 0x80) return *cp = c, 1;
    int len;
    uint32_t v, min;
    if ((c & 0xE0) == 0xC0) len = 2, v = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) len = 3, v = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) len = 4, v = c & 0x07, min = 0x10000;
    else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

/* The escape of bpe_escape (show = true) and bpe_escape_text (show = false). */
static char *escape(const uint8_t *s, size_t n, bool show) {
    char *out = xmalloc(6 * n + 1), *w = out;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        const int len = utf8_char(s + i, n - i, &cp);
        const bool space = len == 1 && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t');
        if (show && len == 1 && s[i] == ' ') w += sprintf(w, "\xe2\x90\xa3"); /* U+2423, a visible space */
        else if (show && len == 1 && s[i] == '\n') w += sprintf(w, "\\n");
        else if (show && len == 1 && s[i] == '\t') w += sprintf(w, "\\t");
        else if (show && len == 1 && s[i] == '\\') w += sprintf(w, "\\\\");
        else if (show && len == 3 && cp == 0x2423) w += sprintf(w, "\\u2423"); /* the visible space itself */
        else if (len == 0 || (len == 1 && !space && (s[i] < 0x20 || s[i] == 0x7F))) w += sprintf(w, "\\x%02X", s[i]);
        else memcpy(w, s + i, (size_t)len), w += len;
        i += len ? (size_t)len : 1;
    }
    *w = '\0';
    return out;
}

char *bpe_escape(const uint8_t *s, size_t n) { return escape(s, n, true); }

char *bpe_escape_text(const uint8_t *s, size_t n) { return escape(s, n, false); }

char *bpe_token_name(const Bpe *b, int t) {
    size_t n;
    const uint8_t *s = bpe_token(b, t, &n);
    char *name = escape(s, n, true);
    const size_t len = strlen(name);
    const bool bracketed = len >= 2 && ((name[0] == '<' && name[len - 1] == '>') || (name[0] == '[' && name[len - 1] == ']'));
    if (!bracketed) return name;
    char *safe = xmalloc(len + 4); /* "\x3C" or "\x5B" in place of the first character */
    sprintf(safe, "\\x%02X%s", (unsigned char)name[0], name + 1);
    free(name);
    return safe;
}

size_t bpe_complete_prefix(const uint8_t *s, size_t n) {
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        const uint8_t c = s[n - back];
        if ((c & 0xC0) == 0x80) continue; /* a continuation byte: look further back */
        const size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
        return need > back ? n - back : n;
    }
    return n;
}

/* ==== the merge table as text ==== */

static const char MAGIC[] = "bpe-merges 1\n";

char *bpe_serialise(const Bpe *b, size_t *len) {
    char *out = xmalloc(32 + 16 * (size_t)b->n_merges), *w = out;
    w += sprintf(w, "%s%d\n", MAGIC, b->n_merges);
    for (int k = 0; k < b->n_merges; k++) w += sprintf(w, "%ld %ld\n", (long)b->merge[k][0], (long)b->merge[k][1]);
    *len = (size_t)(w - out);
    return out;
}

/* A decimal number of at most 9 digits, without leading zeros (one spelling per table), at
 * text[*at] and ended by `end`; false if there is none. */
static bool parse_number(const char *text, size_t n, size_t *at, char end, long *v) {
    size_t i = *at;
    if (i + 1 < n && text[i] == '0' && text[i + 1] >= '0' && text[i + 1] <= '9') return false;
    long x = 0;
    while (i < n && text[i] >= '0' && text[i] <= '9' && i - *at < 9) x = 10 * x + (text[i++] - '0');
    if (i == *at || i >= n || text[i] != end) return false;
    *at = i + 1;
    *v = x;
    return true;
}

bool bpe_parse(Bpe *out, const char *text, size_t n, char *err, size_t err_size) {
    memset(out, 0, sizeof *out);
    const size_t ml = sizeof MAGIC - 1;
    if (n < ml || memcmp(text, MAGIC, ml) != 0)
        return fail(err, err_size, "line 1: not a merge table (it must start with \"bpe-merges 1\")");
    size_t at = ml;
    long count;
    if (!parse_number(text, n, &at, '\n', &count))
        return fail(err, err_size, "line 2: expected the number of merges and a line end");
    if (count > BPE_MAX_MERGES)
        return fail(err, err_size, "line 2: %ld merges: a table holds 0..%d", count, BPE_MAX_MERGES);
    int32_t(*merge)[2] = xmalloc(sizeof(int32_t[2]) * (size_t)(count ? count : 1));
    for (long k = 0; k < count; k++) {
        long l, r;
        if (!parse_number(text, n, &at, ' ', &l) || !parse_number(text, n, &at, '\n', &r)) {
            free(merge);
            return fail(err, err_size, "line %ld: expected merge %ld as two token ids and a line end", k + 3, k);
        }
        if (l >= BPE_MAX_VOCAB || r >= BPE_MAX_VOCAB) {
            free(merge);
            return fail(err, err_size, "line %ld: token id %ld out of range 0..%d", k + 3, l > r ? l : r,
                        BPE_MAX_VOCAB - 1);
        }
        merge[k][0] = (int32_t)l, merge[k][1] = (int32_t)r;
    }
    if (at != n) {
        free(merge);
        return fail(err, err_size, "line %ld: text after the last of the %ld merges", count + 3, count);
    }
    const bool ok = bpe_build(out, (const int32_t(*)[2])merge, (int)count, err, err_size);
    free(merge);
    return ok;
}

/* ==== GPT-2's published tokenizer ==== */

/* GPT-2 writes each byte as one printable character: the printable bytes '!'..'~', 0xA1..0xAC and
 * 0xAE..0xFF as themselves, the other 68 bytes, in order, as U+0100, U+0101, ... */
static void gpt2_byte_chars(uint32_t byte_to_cp[256]) {
    int extra = 0;
    for (int c = 0; c < 256; c++) {
        const bool printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE);
        byte_to_cp[c] = printable ? (uint32_t)c : (uint32_t)(256 + extra++);
    }
}

/* A token string (UTF-8 of GPT-2's byte characters) to the bytes it stands for; false when a
 * character is not one of them. out has room for n bytes. */
static bool gpt2_string_bytes(const uint8_t *s, size_t n, const int16_t *cp_to_byte, uint8_t *out, size_t *len) {
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        const int l = utf8_char(s + i, n - i, &cp);
        if (l == 0 || cp >= 324 || cp_to_byte[cp] < 0) return false;
        out[m++] = (uint8_t)cp_to_byte[cp];
        i += (size_t)l;
    }
    *len = m;
    return true;
}

/* Byte strings -> token id, for the loader. */
typedef struct {
    const Bpe *b;
    const uint8_t *bytes;    /* token t's bytes: bytes + off[t] */
    const int32_t *off;
    int32_t *slot;           /* token id, or -1 */
    size_t n_slots;
} StringIndex;

static size_t hash_bytes(const uint8_t *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29));
}

static int32_t index_find(const StringIndex *x, const uint8_t *s, size_t n, size_t *slot) {
    size_t i = hash_bytes(s, n) & (x->n_slots - 1);
    for (;; i = (i + 1) & (x->n_slots - 1)) {
        const int32_t t = x->slot[i];
        if (t < 0) break;
        if ((size_t)(x->off[t + 1] - x->off[t]) == n && memcmp(x->bytes + x->off[t], s, n) == 0) break;
    }
    if (slot) *slot = i;
    return x->slot[i];
}

/* A minimal reader of encoder.json: one object of "string": integer members. */
typedef struct {
    const char *s;
    size_t n, at;
} Json;

static void json_space(Json *j) {
    while (j->at < j->n && (j->s[j->at] == ' ' || j->s[j->at] == '\n' || j->s[j->at] == '\r' || j->s[j->at] == '\t'))
        j->at++;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool json_hex4(Json *j, uint32_t *v) {
    if (j->at + 4 > j->n) return false;
    *v = 0;
    for (int i = 0; i < 4; i++) {
        const int d = hex_digit(j->s[j->at + (size_t)i]);
        if (d < 0) return false;
        *v = *v << 4 | (uint32_t)d;
    }
    j->at += 4;
    return true;
}

static size_t put_utf8(uint8_t *w, uint32_t cp) {
    if (cp < 0x80) return w[0] = (uint8_t)cp, 1;
    if (cp < 0x800) return w[0] = (uint8_t)(0xC0 | cp >> 6), w[1] = (uint8_t)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000)
        return w[0] = (uint8_t)(0xE0 | cp >> 12), w[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)),
               w[2] = (uint8_t)(0x80 | (cp & 0x3F)), 3;
    return w[0] = (uint8_t)(0xF0 | cp >> 18), w[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F)),
           w[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)), w[3] = (uint8_t)(0x80 | (cp & 0x3F)), 4;
}

/* A JSON string at j (after its opening quote) as UTF-8 into out (room for the rest of the text). */
static bool json_string(Json *j, uint8_t *out, size_t *len) {
    size_t m = 0;
    while (j->at < j->n) {
        const unsigned char c = (unsigned char)j->s[j->at++];
        if (c == '"') return *len = m, true;
        if (c < 0x20) return false;
        if (c != '\\') {
            out[m++] = c;
            continue;
        }
        if (j->at >= j->n) return false;
        const char e = j->s[j->at++];
        const char *plain = strchr("\"\\/bfnrt", e);
        if (e != '\0' && plain && e != 'u') {
            static const char map[] = "\"\\/\b\f\n\r\t";
            out[m++] = (uint8_t)map[plain - "\"\\/bfnrt"];
            continue;
        }
        uint32_t cp, lo;
        if (e != 'u' || !json_hex4(j, &cp)) return false;
        if (cp >= 0xD800 && cp <= 0xDBFF) { /* a surrogate pair */
            if (j->at + 2 > j->n || j->s[j->at] != '\\' || j->s[j->at + 1] != 'u') return false;
            j->at += 2;
            if (!json_hex4(j, &lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return false;
        }
        m += put_utf8(out + m, cp);
    }
    return false;
}

/* The token byte strings made so far while reading vocab.bpe, indexed for lookup. */
typedef struct {
    StringIndex x; /* x.bytes is bytes, x.off is off */
    uint8_t *bytes;
    int32_t *off;  /* token t's bytes: bytes + off[t] .. bytes + off[t + 1] */
    size_t n_bytes, cap_bytes;
} MadeTokens;

/* The 256 one-byte tokens, with room for max_merges more (n bytes of text to start with). */
static void made_init(MadeTokens *t, size_t max_merges, size_t n) {
    t->cap_bytes = 256 + n, t->n_bytes = 256;
    t->bytes = xmalloc(t->cap_bytes);
    t->off = xmalloc(sizeof(int32_t) * (BPE_BYTES + max_merges + 1));
    for (int c = 0; c < 256; c++) t->bytes[c] = (uint8_t)c, t->off[c] = c;
    t->off[256] = 256;
    size_t n_slots = 1024;
    while (n_slots < 2 * (BPE_BYTES + max_merges)) n_slots *= 2;
    t->x = (StringIndex){NULL, t->bytes, t->off, xmalloc(sizeof(int32_t) * n_slots), n_slots};
    for (size_t s = 0; s < t->x.n_slots; s++) t->x.slot[s] = -1;
    size_t slot;
    for (int c = 0; c < 256; c++) index_find(&t->x, t->bytes + c, 1, &slot), t->x.slot[slot] = c;
}

/* Token z = token a's bytes then token b's; false when that string is already a token. */
static bool made_add(MadeTokens *t, int32_t z, int32_t a, int32_t b) {
    const size_t l0 = (size_t)(t->off[a + 1] - t->off[a]), l1 = (size_t)(t->off[b + 1] - t->off[b]);
    while (t->n_bytes + l0 + l1 > t->cap_bytes) {
        t->cap_bytes *= 2;
        uint8_t *nb = xmalloc(t->cap_bytes);
        memcpy(nb, t->bytes, t->n_bytes);
        free(t->bytes);
        t->x.bytes = t->bytes = nb;
    }
    memcpy(t->bytes + t->n_bytes, t->bytes + t->off[a], l0);
    memcpy(t->bytes + t->n_bytes + l0, t->bytes + t->off[b], l1);
    t->off[z] = (int32_t)t->n_bytes;
    t->off[z + 1] = (int32_t)(t->n_bytes + l0 + l1);
    size_t slot;
    if (index_find(&t->x, t->bytes + t->n_bytes, l0 + l1, &slot) >= 0) return false;
    t->x.slot[slot] = z;
    t->n_bytes += l0 + l1;
    return true;
}

/* Frees what made_init allocated. */
static void made_free(MadeTokens *t) {
    free(t->bytes);
    free(t->off);
    free(t->x.slot);
}

/* The ids of the two tokens that line `line` of vocab.bpe (l, len bytes) names as merge k, both
 * already made; false with err set. part: room for len bytes. */
static bool merge_pair(const MadeTokens *t, const char *l, size_t len, long line, int k, size_t max_merges,
                       const int16_t *cp_to_byte, uint8_t *part, int32_t id[2], char *err, size_t err_size) {
    const char *sp = memchr(l, ' ', len);
    if (!sp || sp == l || sp == l + len - 1 || memchr(sp + 1, ' ', (size_t)(l + len - sp - 1)))
        return fail(err, err_size, "vocab.bpe line %ld: expected two tokens separated by one space", line);
    if ((size_t)k == max_merges)
        return fail(err, err_size, "vocab.bpe line %ld: more than %d merges", line, BPE_MAX_MERGES);
    size_t plen[2];
    const char *piece[2] = {l, sp + 1};
    const size_t pn[2] = {(size_t)(sp - l), (size_t)(l + len - sp - 1)};
    for (int side = 0; side < 2; side++) {
        if (!gpt2_string_bytes((const uint8_t *)piece[side], pn[side], cp_to_byte, part, &plen[side]))
            return fail(err, err_size, "vocab.bpe line %ld: a character that stands for no byte", line);
        if ((id[side] = index_find(&t->x, part, plen[side], NULL)) < 0)
            return fail(err, err_size, "vocab.bpe line %ld: merge %d names a token not defined yet", line, k);
    }
    return true;
}

/* vocab.bpe (n bytes) -> the merges it lists, in order, each as the pair of token ids it joins. */
static bool gpt2_merges(int32_t (**merge)[2], int *n_merges, const char *bpe, size_t n, const int16_t *cp_to_byte,
                        char *err, size_t err_size) {
    size_t lines = 1;
    for (size_t i = 0; i < n; i++) lines += bpe[i] == '\n';
    const size_t max_merges = lines < BPE_MAX_MERGES ? lines : BPE_MAX_MERGES;
    MadeTokens made;
    made_init(&made, max_merges, n);
    int32_t(*m)[2] = xmalloc(sizeof(int32_t[2]) * max_merges);
    int k = 0;
    bool ok = true;
    size_t at = 0;
    long line = 0;
    uint8_t *part = xmalloc(n + 1);
    while (at < n && ok) {
        size_t end = at;
        while (end < n && bpe[end] != '\n') end++;
        line++;
        const size_t len = end - at;
        const char *l = bpe + at;
        at = end + 1;
        if (len == 0 || (line == 1 && len >= 8 && memcmp(l, "#version", 8) == 0)) continue;
        int32_t id[2];
        ok = merge_pair(&made, l, len, line, k, max_merges, cp_to_byte, part, id, err, err_size);
        if (ok && !made_add(&made, BPE_BYTES + k, id[0], id[1]))
            ok = fail(err, err_size, "vocab.bpe line %ld: merge %d makes a token that already exists", line, k);
        if (!ok) break;
        m[k][0] = id[0], m[k][1] = id[1];
        k++;
    }
    free(part);
    made_free(&made);
    if (!ok) {
        free(m);
        return false;
    }
    *merge = m;
    *n_merges = k;
    return true;
}

/* GPT-2's table from the character that stands for a byte (a code point below 324) to that byte,
 * -1 for characters that stand for none. */
static void gpt2_cp_to_byte(int16_t cp_to_byte[324]) {
    uint32_t byte_to_cp[256];
    gpt2_byte_chars(byte_to_cp);
    for (int c = 0; c < 324; c++) cp_to_byte[c] = -1;
    for (int c = 0; c < 256; c++) cp_to_byte[byte_to_cp[c]] = (int16_t)c;
}

/* Every token of b indexed by its bytes (the caller frees the returned index's slot). */
static StringIndex token_index(const Bpe *b) {
    const int V = bpe_vocab_size(b);
    StringIndex x = {b, b->bytes, b->offset, NULL, 1};
    while (x.n_slots < 4 * (size_t)V) x.n_slots *= 2;
    x.slot = xmalloc(sizeof(int32_t) * x.n_slots);
    for (size_t s = 0; s < x.n_slots; s++) x.slot[s] = -1;
    size_t slot;
    for (int t = 0; t < V; t++) {
        size_t len;
        const uint8_t *tb = bpe_token(b, t, &len);
        index_find(&x, tb, len, &slot);
        x.slot[slot] = t;
    }
    return x;
}

/* One "key": id member of encoder.json at j: the key as UTF-8 into key (room for the rest of the
 * text) and its id of at most 8 digits; false with err set. */
static bool json_member(Json *j, uint8_t *key, size_t *klen, long *id, char *err, size_t err_size) {
    if (j->at >= j->n || j->s[j->at++] != '"' || !json_string(j, key, klen))
        return fail(err, err_size, "encoder.json: a bad string near byte %zu", j->at);
    json_space(j);
    if (j->at >= j->n || j->s[j->at++] != ':') return fail(err, err_size, "encoder.json: expected ':' at byte %zu", j->at);
    json_space(j);
    *id = 0;
    size_t i = j->at;
    while (i < j->n && j->s[i] >= '0' && j->s[i] <= '9' && i - j->at < 8) *id = 10 * *id + (j->s[i++] - '0');
    if (i == j->at || (i < j->n && j->s[i] >= '0' && j->s[i] <= '9'))
        return fail(err, err_size, "encoder.json: expected an id of at most 8 digits at byte %zu", j->at);
    j->at = i;
    json_space(j);
    return true;
}

/* Reads encoder.json's object at j into out->ext_id (tokens found through x) and out->n_ext;
 * keys spelled in no byte characters, or naming no token made by merges, are skipped. */
static bool encoder_ids(Bpe *out, Json *j, const StringIndex *x, const int16_t *cp_to_byte, char *err, size_t err_size) {
    uint8_t *key = xmalloc(j->n + 1), *kb = xmalloc(j->n + 1);
    bool ok = true;
    json_space(j);
    if (j->at >= j->n || j->s[j->at++] != '{') ok = fail(err, err_size, "encoder.json: not a JSON object");
    json_space(j);
    bool first = true;
    while (ok && j->at < j->n && j->s[j->at] != '}') {
        if (!first) {
            if (j->s[j->at++] != ',') { ok = fail(err, err_size, "encoder.json: expected ',' at byte %zu", j->at - 1); break; }
            json_space(j);
        }
        first = false;
        size_t klen = 0, blen;
        long id = 0;
        if (!(ok = json_member(j, key, &klen, &id, err, err_size))) break;
        if (!gpt2_string_bytes(key, klen, cp_to_byte, kb, &blen)) continue; /* not spelled in byte characters */
        const int32_t t = index_find(x, kb, blen, NULL);
        if (t < 0) continue; /* a special token such as <|endoftext|>: never made by merges */
        if (out->ext_id[t] >= 0 && out->ext_id[t] != id) {
            ok = fail(err, err_size, "encoder.json: token %d has two ids, %ld and %ld", t, (long)out->ext_id[t], id);
            break;
        }
        out->ext_id[t] = (int32_t)id;
        if (id + 1 > out->n_ext) out->n_ext = (int)id + 1;
    }
    if (ok && (j->at >= j->n || j->s[j->at] != '}')) ok = fail(err, err_size, "encoder.json: the object never closes");
    free(key);
    free(kb);
    return ok;
}

/* True when every one of out's V tokens got an id from encoder.json; else false with err set. */
static bool every_token_has_id(const Bpe *out, int V, char *err, size_t err_size) {
    for (int t = 0; t < V; t++) {
        if (out->ext_id[t] >= 0) continue;
        if (t < BPE_BYTES) return fail(err, err_size, "encoder.json has no id for token %d (the byte 0x%02X)", t, t);
        return fail(err, err_size, "encoder.json has no id for token %d (made by merge %d)", t, t - BPE_BYTES);
    }
    return true;
}

bool bpe_gpt2_parse(Bpe *out, const char *encoder_json, size_t n_json, const char *vocab_bpe, size_t n_bpe,
                    char *err, size_t err_size) {
    memset(out, 0, sizeof *out);
    int16_t cp_to_byte[324];
    gpt2_cp_to_byte(cp_to_byte);
    int32_t(*merge)[2];
    int n_merges;
    if (!gpt2_merges(&merge, &n_merges, vocab_bpe, n_bpe, cp_to_byte, err, err_size)) return false;
    const bool built = bpe_build(out, (const int32_t(*)[2])merge, n_merges, err, err_size);
    free(merge);
    if (!built) return false;

    const int V = bpe_vocab_size(out);
    const StringIndex x = token_index(out);
    out->ext_id = xmalloc(sizeof(int32_t) * (size_t)V);
    for (int t = 0; t < V; t++) out->ext_id[t] = -1;
    Json j = {encoder_json, n_json, 0};
    const bool ok = encoder_ids(out, &j, &x, cp_to_byte, err, err_size) && every_token_has_id(out, V, err, err_size);
    free(x.slot);
    if (!ok) bpe_free(out);
    return ok;
}

/* ---- GPT-2's pre-tokenizer: its regular expression, alternative by alternative ---- */

enum { CLASS_LETTER, CLASS_NUMBER, CLASS_SPACE, CLASS_OTHER };

static bool in_ranges(const uint32_t (*r)[2], size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        const size_t mid = (lo + hi) / 2;
        if (cp < r[mid][0]) hi = mid;
        else if (cp > r[mid][1]) lo = mid + 1;
        else return true;
    }
    return false;
}

/* The class of the character at s[i] and its length (an invalid byte: CLASS_OTHER, length 1). */
static int char_class(const uint8_t *s, size_t n, size_t i, size_t *len) {
    uint32_t cp;
    const int l = utf8_char(s + i, n - i, &cp);
    *len = l ? (size_t)l : 1;
    if (l == 0) return CLASS_OTHER;
    if (cp < 0x80) { /* the common case without a table */
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') return CLASS_LETTER;
        if (cp >= '0' && cp <= '9') return CLASS_NUMBER;
        if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D)) return CLASS_SPACE;
        return CLASS_OTHER;
    }
#define IN(t) in_ranges(t, sizeof t / sizeof t[0], cp)
    if (IN(bpe_letter_ranges)) return CLASS_LETTER;
    if (IN(bpe_number_ranges)) return CLASS_NUMBER;
    if (IN(bpe_space_ranges)) return CLASS_SPACE;
#undef IN
    return CLASS_OTHER;
}

/* The end of a run of characters of class c (or, for CLASS_OTHER, of neither letters, numbers nor
 * space) starting at i. */
static size_t run_end(const uint8_t *s, size_t n, size_t i, int c) {
    size_t len;
    while (i < n && char_class(s, n, i, &len) == c) i += len;
    return i;
}

size_t bpe_gpt2_pretoken_end(const uint8_t *s, size_t n, size_t i) {
    /* 's|'t|'re|'ve|'m|'ll|'d */
    if (s[i] == '\'' && i + 1 < n) {
        static const char *const tail[] = {"s", "t", "re", "ve", "m", "ll", "d"};
        for (int k = 0; k < 7; k++) {
            const size_t l = strlen(tail[k]);
            if (i + 1 + l <= n && memcmp(s + i + 1, tail[k], l) == 0) return i + 1 + l;
        }
    }
    /* ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+': an optional space, then a run of one class */
    size_t len;
    const size_t body = s[i] == ' ' && i + 1 < n ? i + 1 : i;
    const int c = char_class(s, n, body, &len);
    if (c != CLASS_SPACE) return run_end(s, n, body, c);
    /* '\s+(?!\S)|\s+': a run of white space; when something else follows, all but the last of it
     * (which then starts the next pre-token), unless the run is one character long */
    const size_t end = run_end(s, n, i, CLASS_SPACE);
    if (end == n) return end;
    size_t last = i, at = i;
    while (at < end) last = at, char_class(s, n, at, &len), at += len;
    return last > i ? last : end;
}

size_t bpe_gpt2_encode(const Bpe *b, const uint8_t *s, size_t n, int32_t *out) {
    CHECK(b->ext_id != NULL, "bpe_gpt2_encode needs a table loaded by bpe_gpt2_parse");
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        const size_t end = bpe_gpt2_pretoken_end(s, n, i);
        const size_t k = bpe_encode(b, s + i, end - i, out + m);
        for (size_t q = m; q < m + k; q++) out[q] = b->ext_id[out[q]];
        m += k;
        i = end;
    }
    return m;
}
