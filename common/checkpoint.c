/* checkpoint: the binary format described in checkpoint.h. */
#include "checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static const char MAGIC[8] = {'L', 'L', 'M', 'N', 'B', 'C', 'K', 'P'};

/* ==== a growing byte buffer, written little-endian ==== */

typedef struct {
    unsigned char *data;
    size_t len, cap;
} Buf;

static void put(Buf *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        while (b->len + n > b->cap) b->cap = b->cap ? 2 * b->cap : 4096;
        unsigned char *bigger = realloc(b->data, b->cap);
        if (!bigger) die(EXIT_RUNTIME, "out of memory writing a checkpoint");
        b->data = bigger;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
}

static void put_u64(Buf *b, uint64_t v) {
    unsigned char x[8];
    for (int i = 0; i < 8; i++) x[i] = (unsigned char)(v >> (8 * i));
    put(b, x, 8);
}

static void put_u32(Buf *b, uint32_t v) {
    unsigned char x[4];
    for (int i = 0; i < 4; i++) x[i] = (unsigned char)(v >> (8 * i));
    put(b, x, 4);
}

static void put_f32s(Buf *b, const float *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        put_u32(b, u);
    }
}

static uint64_t fnv1a(const unsigned char *p, size_t n) {
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

void checkpoint_save(const char *path, const Model *m, const Vocab *vocab, TokenLevel level, const AdamW *opt,
                     const TrainState *ts) {
    const ModelConfig *c = &m->cfg;
    Buf b = {0};
    put(&b, MAGIC, 8);
    put_u32(&b, CHECKPOINT_VERSION);
    const int32_t cfg[11] = {c->vocab, c->d_model, c->heads, c->d_ff, c->layers, c->max_len, c->causal,
                             c->norm == NORM_PRE, c->pos == POS_LEARNED, c->act == ACT_GELU, c->tied};
    for (int i = 0; i < 11; i++) put_u32(&b, (uint32_t)cfg[i]);
    put_u32(&b, (uint32_t)(level == LEVEL_WORD));
    put_u32(&b, (uint32_t)vocab->size);
    for (int i = 0; i < vocab->size; i++) {
        const uint32_t len = (uint32_t)strlen(vocab->word[i]);
        put_u32(&b, len);
        put(&b, vocab->word[i], len);
    }
    put_u64(&b, m->n_params);
    put_f32s(&b, m->param_mem, m->n_params);
    put_u64(&b, (uint64_t)(opt ? opt->step : 0));
    put_u64(&b, (uint64_t)(ts ? ts->steps_done : 0));
    put_u64(&b, ts ? ts->data_rng.state : 0);
    put_u64(&b, ts ? ts->data_rng.inc : 0);
    if (opt) {
        put_f32s(&b, opt->m, m->n_params);
        put_f32s(&b, opt->v, m->n_params);
    } else {
        float *zeros = xcalloc(m->n_params, sizeof(float));
        put_f32s(&b, zeros, m->n_params);
        put_f32s(&b, zeros, m->n_params);
        free(zeros);
    }
    put_u64(&b, fnv1a(b.data, b.len));

    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) die(EXIT_USAGE, "--save: the file name is too long");
    FILE *f = fopen(tmp, "wb");
    if (!f) die(EXIT_RUNTIME, "cannot write %s: %s", tmp, strerror(errno));
    bool ok = fwrite(b.data, 1, b.len, f) == b.len;
    ok = fflush(f) == 0 && ok;
    ok = fsync(fileno(f)) == 0 && ok; /* on the disk before the rename makes it the checkpoint */
    ok = fclose(f) == 0 && ok;
    free(b.data);
    if (!ok) {
        remove(tmp);
        die(EXIT_RUNTIME, "error while writing %s (disk full?); %s is unchanged", tmp, path);
    }
    if (rename(tmp, path) != 0) die(EXIT_RUNTIME, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
}

/* ==== reading ==== */

typedef struct {
    const unsigned char *p;
    size_t len, pos;
    const char *path;
} Reader;

static void need(Reader *r, size_t n, const char *what) {
    if (r->len - r->pos < n)
        die(EXIT_RUNTIME, "%s: truncated checkpoint (ends inside %s at byte %zu of %zu)", r->path, what, r->pos, r->len);
}

static uint32_t get_u32(Reader *r, const char *what) {
    need(r, 4, what);
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)r->p[r->pos + i] << (8 * i);
    r->pos += 4;
    return v;
}

static uint64_t get_u64(Reader *r, const char *what) {
    need(r, 8, what);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)r->p[r->pos + i] << (8 * i);
    r->pos += 8;
    return v;
}

static float *get_f32s(Reader *r, size_t n, const char *what) {
    if (n > (r->len - r->pos) / 4) need(r, SIZE_MAX, what);
    float *v = xmalloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        uint32_t u = get_u32(r, what);
        memcpy(&v[i], &u, 4);
    }
    return v;
}

void checkpoint_load(Checkpoint *ck, const char *path) {
    memset(ck, 0, sizeof *ck);
    FILE *f = fopen(path, "rb");
    if (!f) die(EXIT_RUNTIME, "cannot read checkpoint %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    unsigned char *data = xmalloc(cap);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            unsigned char *bigger = realloc(data, cap);
            if (!bigger) die(EXIT_RUNTIME, "out of memory reading %s", path);
            data = bigger;
        }
        size_t got = fread(data + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    const bool failed = ferror(f);
    fclose(f);
    if (failed) die(EXIT_RUNTIME, "cannot read checkpoint %s: read error", path);
    Reader r = {data, len, 0, path};
    if (len < 8 || memcmp(data, MAGIC, 8) != 0) die(EXIT_RUNTIME, "%s is not a checkpoint of this project (wrong magic)", path);
    r.pos = 8;
    const uint32_t version = get_u32(&r, "the version");
    if (version != CHECKPOINT_VERSION)
        die(EXIT_RUNTIME, "%s: checkpoint version %u, but this program reads version %d", path, version, CHECKPOINT_VERSION);
    /* the checksum first: everything after this point can trust its bytes */
    if (len < r.pos + 8) need(&r, 8, "the checksum");
    uint64_t stored = 0;
    for (int i = 0; i < 8; i++) stored |= (uint64_t)data[len - 8 + i] << (8 * i);
    int32_t cfg[11];
    for (int i = 0; i < 11; i++) cfg[i] = (int32_t)get_u32(&r, "the configuration");
    ModelConfig *c = &ck->cfg;
    *c = (ModelConfig){.vocab = cfg[0], .d_model = cfg[1], .heads = cfg[2], .d_ff = cfg[3], .layers = cfg[4],
                       .max_len = cfg[5], .causal = cfg[6] != 0, .norm = cfg[7] ? NORM_PRE : NORM_POST,
                       .pos = cfg[8] ? POS_LEARNED : POS_SINUSOIDAL, .act = cfg[9] ? ACT_GELU : ACT_RELU,
                       .tied = cfg[10] != 0};
    const char *err = model_config_error(c);
    if (err || c->vocab > 10000000 || c->d_model > 65536 || c->d_ff > 1 << 20 || c->layers > 1024 || c->max_len > 1 << 20)
        die(EXIT_RUNTIME, "%s: invalid model configuration in the checkpoint (%s)", path, err ? err : "sizes too large");
    if (fnv1a(data, len - 8) != stored) die(EXIT_RUNTIME, "%s: checksum mismatch: the checkpoint is corrupted", path);
    ck->level = get_u32(&r, "the token level") ? LEVEL_WORD : LEVEL_CHAR;
    const uint32_t n_words = get_u32(&r, "the vocabulary size");
    if ((int)n_words != c->vocab) die(EXIT_RUNTIME, "%s: %u words in the vocabulary but vocab = %d", path, n_words, c->vocab);
    vocab_init(&ck->vocab);
    for (uint32_t i = 0; i < n_words; i++) {
        const uint32_t wl = get_u32(&r, "the vocabulary");
        need(&r, wl, "the vocabulary");
        char *w = xmalloc(wl + 1);
        memcpy(w, data + r.pos, wl);
        w[wl] = '\0';
        r.pos += wl;
        const int id = vocab_add(&ck->vocab, w);
        if (id != (int)i) die(EXIT_RUNTIME, "%s: vocabulary entry %u ('%s') is a duplicate or out of order", path, i, w);
        free(w);
    }
    ck->n_params = get_u64(&r, "the parameter count");
    if ((long)ck->n_params != model_param_count(c))
        die(EXIT_RUNTIME, "%s: %zu parameters stored, but the configuration needs %ld", path, ck->n_params, model_param_count(c));
    ck->params = get_f32s(&r, ck->n_params, "the parameters");
    ck->adam_step = (long)get_u64(&r, "the optimiser step");
    ck->train.steps_done = (long)get_u64(&r, "the training step");
    ck->train.data_rng.state = get_u64(&r, "the data generator");
    ck->train.data_rng.inc = get_u64(&r, "the data generator");
    ck->adam_m = get_f32s(&r, ck->n_params, "the optimiser moments");
    ck->adam_v = get_f32s(&r, ck->n_params, "the optimiser moments");
    if (r.pos + 8 != len) die(EXIT_RUNTIME, "%s: %zu unexpected bytes before the checksum", path, len - 8 - r.pos);
    free(data);
}

void checkpoint_free(Checkpoint *ck) {
    if (!ck) return;
    vocab_free(&ck->vocab);
    free(ck->params), free(ck->adam_m), free(ck->adam_v);
    memset(ck, 0, sizeof *ck);
}
