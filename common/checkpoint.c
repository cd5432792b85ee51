/* checkpoint: the binary format described in checkpoint.h. */
#include "checkpoint.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
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

uint64_t checkpoint_checksum(const unsigned char *p, size_t n) {
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
    put_u64(&b, checkpoint_checksum(b.data, b.len));

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

/* The parser never exits: the first problem is written to r->err and every later read returns
 * zeros, so a caller checks once per group of fields. It is what the fuzzer drives. */
typedef struct {
    const unsigned char *p;
    size_t len, pos;
    char *err;
    size_t err_size;
    bool failed;
} Reader;

static bool fail(Reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(Reader *r, const char *fmt, ...) {
    if (!r->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, r->err_size, fmt, ap);
        va_end(ap);
        r->failed = true;
    }
    return false;
}

static bool need(Reader *r, size_t n, const char *what) {
    if (r->failed) return false;
    if (r->len - r->pos < n)
        return fail(r, "truncated checkpoint (ends inside %s at byte %zu of %zu)", what, r->pos, r->len);
    return true;
}

static uint32_t get_u32(Reader *r, const char *what) {
    if (!need(r, 4, what)) return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)r->p[r->pos + i] << (8 * i);
    r->pos += 4;
    return v;
}

static uint64_t get_u64(Reader *r, const char *what) {
    if (!need(r, 8, what)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)r->p[r->pos + i] << (8 * i);
    r->pos += 8;
    return v;
}

/* n floats, allocated only once the bytes are known to be there; NULL after a failure. */
static float *get_f32s(Reader *r, size_t n, const char *what) {
    if (r->failed) return NULL;
    if (n > (r->len - r->pos) / 4) {
        need(r, SIZE_MAX, what);
        return NULL;
    }
    float *v = xmalloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        uint32_t u = get_u32(r, what);
        memcpy(&v[i], &u, 4);
    }
    return v;
}

bool checkpoint_parse(Checkpoint *ck, const unsigned char *data, size_t len, char *err, size_t err_size) {
    memset(ck, 0, sizeof *ck);
    Reader r = {data, len, 0, err, err_size, false};
    if (len < 8 || memcmp(data, MAGIC, 8) != 0) return fail(&r, "not a checkpoint of this project (wrong magic)");
    r.pos = 8;
    const uint32_t version = get_u32(&r, "the version");
    if (r.failed) return false;
    if (version != CHECKPOINT_VERSION)
        return fail(&r, "checkpoint version %u, but this program reads version %d", version, CHECKPOINT_VERSION);
    /* the checksum first: everything after this point can trust its bytes */
    if (len < r.pos + 8 && !need(&r, 8, "the checksum")) return false;
    uint64_t stored = 0;
    for (int i = 0; i < 8; i++) stored |= (uint64_t)data[len - 8 + i] << (8 * i);
    int32_t cfg[11];
    for (int i = 0; i < 11; i++) cfg[i] = (int32_t)get_u32(&r, "the configuration");
    if (r.failed) return false;
    ModelConfig *c = &ck->cfg;
    *c = (ModelConfig){.vocab = cfg[0], .d_model = cfg[1], .heads = cfg[2], .d_ff = cfg[3], .layers = cfg[4],
                       .max_len = cfg[5], .causal = cfg[6] != 0, .norm = cfg[7] ? NORM_PRE : NORM_POST,
                       .pos = cfg[8] ? POS_LEARNED : POS_SINUSOIDAL, .act = cfg[9] ? ACT_GELU : ACT_RELU,
                       .tied = cfg[10] != 0};
    const char *cerr = model_config_error(c);
    if (cerr || c->vocab > 10000000 || c->d_model > 65536 || c->d_ff > 1 << 20 || c->layers > 1024 ||
        c->max_len > 1 << 20)
        return fail(&r, "invalid model configuration in the checkpoint (%s)", cerr ? cerr : "sizes too large");
    if (checkpoint_checksum(data, len - 8) != stored) return fail(&r, "checksum mismatch: the checkpoint is corrupted");
    ck->level = get_u32(&r, "the token level") ? LEVEL_WORD : LEVEL_CHAR;
    const uint32_t n_words = get_u32(&r, "the vocabulary size");
    if (r.failed) return false;
    if ((int64_t)n_words != c->vocab) return fail(&r, "%u words in the vocabulary but vocab = %d", n_words, c->vocab);
    vocab_init(&ck->vocab);
    for (uint32_t i = 0; i < n_words; i++) {
        const uint32_t wl = get_u32(&r, "the vocabulary");
        if (!need(&r, wl, "the vocabulary")) break;
        char *w = xmalloc((size_t)wl + 1);
        memcpy(w, data + r.pos, wl);
        w[wl] = '\0';
        r.pos += wl;
        const int id = strlen(w) == wl ? vocab_add(&ck->vocab, w) : -1;
        if (id != (int)i) fail(&r, "vocabulary entry %u is a NUL-holding, duplicate or out-of-order word", i);
        free(w);
        if (r.failed) break;
    }
    ck->n_params = get_u64(&r, "the parameter count");
    if (!r.failed && (int64_t)ck->n_params != (int64_t)model_param_count(c))
        fail(&r, "%zu parameters stored, but the configuration needs %ld", ck->n_params, model_param_count(c));
    ck->params = get_f32s(&r, ck->n_params, "the parameters");
    ck->adam_step = (long)get_u64(&r, "the optimiser step");
    ck->train.steps_done = (long)get_u64(&r, "the training step");
    ck->train.data_rng.state = get_u64(&r, "the data generator");
    ck->train.data_rng.inc = get_u64(&r, "the data generator");
    ck->adam_m = get_f32s(&r, ck->n_params, "the optimiser moments");
    ck->adam_v = get_f32s(&r, ck->n_params, "the optimiser moments");
    if (!r.failed && r.pos + 8 != len) fail(&r, "%zu unexpected bytes before the checksum", len - 8 - r.pos);
    if (r.failed) {
        checkpoint_free(ck);
        return false;
    }
    return true;
}

void checkpoint_load(Checkpoint *ck, const char *path) {
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
    char err[256];
    const bool ok = checkpoint_parse(ck, data, len, err, sizeof err);
    free(data);
    if (!ok) die(EXIT_RUNTIME, "%s: %s", path, err);
}

void checkpoint_free(Checkpoint *ck) {
    if (!ck) return;
    vocab_free(&ck->vocab);
    free(ck->params), free(ck->adam_m), free(ck->adam_v);
    memset(ck, 0, sizeof *ck);
}
