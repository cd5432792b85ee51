/* checkpoint: the binary format described in checkpoint.h. */
#include "checkpoint.h"

#include <math.h>
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

static void put_f64(Buf *b, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    put_u64(b, u);
}

/* A version-2 section: its tag, its length, then what `body` holds. */
static void put_section(Buf *b, const char tag[4], const Buf *body) {
    put(b, tag, 4);
    put_u64(b, body->len);
    if (body->len) put(b, body->data, body->len);
}

unsigned char *checkpoint_serialize(const Model *m, const Vocab *vocab, TokenLevel level, const AdamW *opt,
                                    const TrainState *ts, size_t *len) {
    const ModelConfig *c = &m->cfg;
    Buf b = {0};
    put(&b, MAGIC, 8);
    put_u32(&b, CHECKPOINT_VERSION);
    const int32_t cfg[11] = {c->vocab, c->d_model, c->heads, c->d_ff, c->layers, c->max_len, c->causal,
                             c->norm == NORM_PRE, c->pos == POS_LEARNED, c->act == ACT_GELU, c->tied};
    for (int i = 0; i < 11; i++) put_u32(&b, (uint32_t)cfg[i]);
    put_u32(&b, (uint32_t)level);
    put_u32(&b, (uint32_t)vocab->size);
    for (int i = 0; i < vocab->size; i++) {
        const uint32_t wl = (uint32_t)strlen(vocab->word[i]);
        put_u32(&b, wl);
        put(&b, vocab->word[i], wl);
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
    if (ts && ts->has_schedule) {
        Buf s = {0};
        put_f64(&s, ts->schedule.lr);
        put_u64(&s, (uint64_t)ts->schedule.warmup);
        put_u64(&s, (uint64_t)ts->schedule.steps);
        put_f64(&s, ts->schedule.clip);
        put_f64(&s, ts->schedule.lr_min); /* where the cosine ends (train.h) */
        put_section(&b, "schd", &s);
        free(s.data);
    }
    if (ts && (ts->n_history > 0 || ts->running_steps > 0)) {
        Buf s = {0};
        put_u32(&s, (uint32_t)ts->n_history);
        for (int i = 0; i < ts->n_history; i++) {
            put_u64(&s, (uint64_t)ts->history[i].step);
            put_f64(&s, ts->history[i].train);
            put_f64(&s, ts->history[i].val);
        }
        put_f64(&s, ts->running_loss);
        put_u64(&s, (uint64_t)ts->running_steps);
        put_section(&b, "loss", &s);
        free(s.data);
    }
    if (level == LEVEL_BPE) { /* required: without its merges no token can be decoded */
        CHECK(vocab->bpe, "checkpoint_serialize: the BPE level without merges");
        size_t n;
        char *text = bpe_serialise(vocab->bpe, &n);
        const Buf s = {(unsigned char *)text, n, n};
        put_section(&b, "BPEM", &s);
        free(text);
    }
    put_u64(&b, checkpoint_checksum(b.data, b.len));
    *len = b.len;
    return b.data;
}

void checkpoint_save(const char *path, const Model *m, const Vocab *vocab, TokenLevel level, const AdamW *opt,
                     const TrainState *ts) {
    size_t len;
    unsigned char *data = checkpoint_serialize(m, vocab, level, opt, ts, &len);
    util_write_file(path, data, len);
    free(data);
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

static double get_f64(Reader *r, const char *what) {
    const uint64_t u = get_u64(r, what);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

/* The name of the parameter tensor that holds flat element k, in the file's order (see
 * checkpoint.h), and k's index inside it. */
static void tensor_of(const ModelConfig *c, size_t k, char *name, size_t size, size_t *elem) {
    const size_t C = (size_t)c->d_model, V = (size_t)c->vocab;
    size_t at = 0;
#define SPAN(label, n)                                                                            \
    do {                                                                                          \
        if (k < at + (n)) {                                                                       \
            snprintf(name, size, "%s", label);                                                    \
            *elem = k - at;                                                                       \
            return;                                                                               \
        }                                                                                         \
        at += (n);                                                                                \
    } while (0)
    SPAN("wte", V * C);
    if (c->pos == POS_LEARNED) SPAN("wpe", (size_t)c->max_len * C);
    BlockParams bp;
    Arena count = {NULL, 0}; /* only the shapes and names of one block's tensors */
    block_params_layout(&bp, c->d_model, c->d_ff, &count);
    for (int l = 0; l < c->layers; l++)
        for (int i = 0; i < BLOCK_N_TENSORS; i++) {
            const char *part;
            const Tensor *t = block_tensor(&bp, i, &part);
            char label[64];
            snprintf(label, sizeof label, "block%d.%s", l, part);
            SPAN(label, (size_t)t->rows * (size_t)t->cols);
        }
    if (c->norm == NORM_PRE) {
        SPAN("lnf.g", C);
        SPAN("lnf.b", C);
    }
    SPAN("lm_head", C * V);
#undef SPAN
    snprintf(name, size, "?");
    *elem = k;
}

/* The first element of v[0..n) that is not finite (or negative, with nonneg), naming its tensor. */
static bool check_finite(Reader *r, const ModelConfig *c, const float *v, size_t n, bool nonneg, const char *what) {
    if (r->failed || !v) return false;
    for (size_t k = 0; k < n; k++)
        if (!isfinite(v[k]) || (nonneg && v[k] < 0)) {
            char name[64];
            size_t e;
            tensor_of(c, k, name, sizeof name, &e);
            return fail(r, "%s of %s holds %g at element %zu: the checkpoint is unusable", what, name, (double)v[k], e);
        }
    return true;
}

/* Each configuration field within what a chapter can train; false with the field named. */
static bool check_config(Reader *r, const int32_t cfg[11]) {
    static const char *const field[11] = {"vocab", "d_model", "heads", "d_ff", "layers", "max_len",
                                          "causal", "norm", "pos", "act", "tied"};
    static const int32_t lo[11] = {3, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0};
    static const int32_t hi[11] = {CHECKPOINT_MAX_VOCAB, CHECKPOINT_MAX_D_MODEL, CHECKPOINT_MAX_HEADS,
                                   CHECKPOINT_MAX_D_FF, CHECKPOINT_MAX_LAYERS, CHECKPOINT_MAX_LEN, 1, 1, 1, 1, 1};
    for (int i = 0; i < 11; i++)
        if (cfg[i] < lo[i] || cfg[i] > hi[i])
            return fail(r, "invalid model configuration in the checkpoint: %s is %d, outside %d..%d%s", field[i], cfg[i],
                        lo[i], hi[i], i == 0 ? " (there are three special tokens: <unk>, <s>, </s>)" : "");
    if (cfg[1] % cfg[2] != 0)
        return fail(r, "invalid model configuration in the checkpoint: heads %d do not divide d_model %d", cfg[2], cfg[1]);
    return true;
}

/* One section's header: its four-byte tag and byte count, which must fit before the checksum. */
static bool read_section_header(Reader *r, char tag[5], uint64_t *n) {
    if (r->len - 8 - r->pos < 12) return fail(r, "truncated checkpoint (a section header at byte %zu)", r->pos);
    memcpy(tag, r->p + r->pos, 4);
    for (int i = 0; i < 4; i++)
        if (!(tag[i] >= '!' && tag[i] <= '~')) /* a tag is four printable ASCII characters */
            return fail(r, "invalid section tag at byte %zu (byte %d is 0x%02x, not printable ASCII)", r->pos, i,
                        (unsigned char)tag[i]);
    r->pos += 4;
    *n = get_u64(r, "a section");
    if (*n > r->len - 8 - r->pos)
        return fail(r, "truncated checkpoint (section '%.4s' of %llu bytes at byte %zu)", tag, (unsigned long long)*n,
                    r->pos);
    return true;
}

/* Section 'schd' of n bytes: the learning-rate schedule; false only when its size is wrong. */
static bool read_schedule(Reader *r, Checkpoint *ck, uint64_t n) {
    Schedule *s = &ck->train.schedule;
    if (n != 40) return fail(r, "section 'schd' has %llu bytes, not 40", (unsigned long long)n);
    s->lr = get_f64(r, "the schedule");
    s->warmup = (long)get_u64(r, "the schedule");
    s->steps = (long)get_u64(r, "the schedule");
    s->clip = get_f64(r, "the schedule");
    const double final = get_f64(r, "the schedule");
    if (!(s->lr > 0 && s->lr <= 1) || !(s->clip > 0 && s->clip <= 1e6) || s->warmup < 0 ||
        s->warmup > CHECKPOINT_MAX_STEPS || s->steps < 1 || s->steps > CHECKPOINT_MAX_STEPS)
        fail(r, "invalid schedule: peak rate %g, warm-up %ld, total %ld steps, clipping %g", s->lr, s->warmup, s->steps,
             s->clip);
    else if (!(final >= 0 && final <= s->lr))
        fail(r, "invalid schedule: it ends at the rate %g, outside 0 .. the peak %g", final, s->lr);
    else
        s->lr_min = final;
    ck->train.has_schedule = true;
    return true;
}

/* The count loss points of section 'loss', each after the last and no later than the steps done. */
static void read_loss_points(Reader *r, Checkpoint *ck, uint32_t count) {
    ck->train.history = xmalloc(sizeof(LossPoint) * (count ? count : 1));
    ck->train.n_history = (int)count;
    for (uint32_t i = 0; i < count && !r->failed; i++) {
        LossPoint *q = &ck->train.history[i];
        q->step = (long)get_u64(r, "the loss history");
        q->train = get_f64(r, "the loss history");
        q->val = get_f64(r, "the loss history");
        if (q->step < 0 || q->step > ck->train.steps_done || (i > 0 && q->step <= q[-1].step) || !isfinite(q->train) ||
            !isfinite(q->val))
            fail(r, "loss history point %u (step %ld, losses %g and %g) is out of order or not finite", i, q->step,
                 q->train, q->val);
    }
}

/* Section 'loss' of n bytes: the loss history and the running average since its last point; false
 * only when its size does not match its count. */
static bool read_loss_history(Reader *r, Checkpoint *ck, uint64_t n) {
    const uint32_t count = get_u32(r, "the loss history");
    if ((uint64_t)count * 24 + 20 != n)
        return fail(r, "section 'loss' has %llu bytes for %u points", (unsigned long long)n, count);
    read_loss_points(r, ck, count);
    ck->train.running_loss = get_f64(r, "the loss history");
    ck->train.running_steps = (long)get_u64(r, "the loss history");
    const long last = count ? ck->train.history[count - 1].step : 0;
    if (!r->failed && (!isfinite(ck->train.running_loss) || ck->train.running_steps < 0 ||
                       ck->train.running_steps > ck->train.steps_done - last))
        fail(r, "the loss history's last %ld steps (after step %ld) do not fit the %ld steps done",
             ck->train.running_steps, last, ck->train.steps_done);
    return true;
}

/* Section 'BPEM' of n bytes: the BPE merges (bpe_serialise's text), kept in ck->vocab.bpe. */
static bool read_merges(Reader *r, Checkpoint *ck, uint64_t n) {
    char err[160];
    Bpe *b = xmalloc(sizeof *b);
    if (!bpe_parse(b, (const char *)r->p + r->pos, (size_t)n, err, sizeof err)) {
        free(b);
        return fail(r, "section 'BPEM' (the BPE merges): %s", err);
    }
    ck->vocab.bpe = b;
    return true;
}

/* A BPE checkpoint's merges must be there and agree with its vocabulary: ids 3 .. 3 + V - 1 name the
 * V tokens the merges make (entries after them, a [MASK], are the chapter's). */
static void check_merges(Reader *r, Checkpoint *ck) {
    const Bpe *b = ck->vocab.bpe;
    if (ck->level != LEVEL_BPE) {
        if (b) fail(r, "section 'BPEM' (BPE merges) in a checkpoint of %s tokens", ck->level == LEVEL_CHAR ? "character" : "word");
        return;
    }
    if (!b) {
        fail(r, "token level 2 (BPE) without its merges (section 'BPEM')");
        return;
    }
    const int V = bpe_vocab_size(b);
    if (ck->vocab.size < 3 + V) {
        fail(r, "%d merges make %d BPE tokens, but the vocabulary has %d words", b->n_merges, V, ck->vocab.size);
        return;
    }
    for (int t = 0; t < V && !r->failed; t++) {
        char *name = bpe_token_name(b, t);
        if (strcmp(name, ck->vocab.word[3 + t]) != 0)
            fail(r, "vocabulary entry %d is '%.40s', but the merges make token %d '%.40s'", 3 + t, ck->vocab.word[3 + t], t,
                 name);
        free(name);
    }
}

/* The version-2 sections, from r->pos to the checksum. */
static void read_sections(Reader *r, Checkpoint *ck) {
    bool seen_schd = false, seen_loss = false, seen_bpem = false;
    while (!r->failed && r->pos + 8 < r->len) {
        char tag[5] = {0};
        uint64_t n = 0;
        if (!read_section_header(r, tag, &n)) return;
        const size_t end = r->pos + (size_t)n;
        bool *seen = strcmp(tag, "schd") == 0   ? &seen_schd
                     : strcmp(tag, "loss") == 0 ? &seen_loss
                     : strcmp(tag, "BPEM") == 0 ? &seen_bpem
                                                : NULL;
        if (seen && *seen) {
            fail(r, "section '%s' appears twice", tag);
            return;
        }
        if (seen == &seen_schd) {
            if (!read_schedule(r, ck, n)) return;
        } else if (seen == &seen_loss) {
            if (!read_loss_history(r, ck, n)) return;
        } else if (seen == &seen_bpem) {
            if (!read_merges(r, ck, n)) return;
        } else if (tag[0] >= 'A' && tag[0] <= 'Z') {
            fail(r, "the checkpoint needs section '%.4s', which this program does not know (a newer program wrote it)",
                 tag);
            return;
        }
        if (seen) *seen = true;
        r->pos = end; /* an optional section this program does not know is skipped */
    }
}

/* The magic and a version this program reads, kept in ck->version. */
static bool read_magic_version(Reader *r, Checkpoint *ck) {
    if (r->len < 8 || memcmp(r->p, MAGIC, 8) != 0) return fail(r, "not a checkpoint of this project (wrong magic)");
    r->pos = 8;
    const uint32_t version = get_u32(r, "the version");
    if (r->failed) return false;
    if (version != 1 && version != CHECKPOINT_VERSION)
        return fail(r, "checkpoint version %u, but this program reads versions 1 and %d", version, CHECKPOINT_VERSION);
    ck->version = version;
    return true;
}

/* The configuration, read only once the checksum over the whole file matches, into ck->cfg. */
static bool read_config(Reader *r, Checkpoint *ck) {
    /* the checksum first: everything after this point can trust its bytes */
    if (r->len < r->pos + 8 && !need(r, 8, "the checksum")) return false;
    uint64_t stored = 0;
    for (int i = 0; i < 8; i++) stored |= (uint64_t)r->p[r->len - 8 + i] << (8 * i);
    int32_t cfg[11];
    for (int i = 0; i < 11; i++) cfg[i] = (int32_t)get_u32(r, "the configuration");
    if (r->failed) return false;
    if (checkpoint_checksum(r->p, r->len - 8) != stored) return fail(r, "checksum mismatch: the checkpoint is corrupted");
    if (!check_config(r, cfg)) return false;
    ModelConfig *c = &ck->cfg;
    *c = (ModelConfig){.vocab = cfg[0], .d_model = cfg[1], .heads = cfg[2], .d_ff = cfg[3], .layers = cfg[4],
                       .max_len = cfg[5], .causal = cfg[6] != 0, .norm = cfg[7] ? NORM_PRE : NORM_POST,
                       .pos = cfg[8] ? POS_LEARNED : POS_SINUSOIDAL, .act = cfg[9] ? ACT_GELU : ACT_RELU,
                       .tied = cfg[10] != 0};
    const char *cerr = model_config_error(c);
    if (cerr) return fail(r, "invalid model configuration in the checkpoint (%s)", cerr);
    return true;
}

/* The token level and the vocabulary's size, which must equal the configuration's vocab. */
static bool read_level_and_size(Reader *r, Checkpoint *ck, uint32_t *n_words) {
    const uint32_t level = get_u32(r, "the token level");
    if (!r->failed && level > 2)
        return fail(r, "token level %u, but 0 (characters), 1 (words) and 2 (BPE) are the only ones", level);
    ck->level = (TokenLevel)level;
    *n_words = get_u32(r, "the vocabulary size");
    if (r->failed) return false;
    if ((int64_t)*n_words != ck->cfg.vocab)
        return fail(r, "%u words in the vocabulary but vocab = %d", *n_words, ck->cfg.vocab);
    return true;
}

/* The n_words vocabulary entries, each non-empty UTF-8 text, new, and given the id of its place. */
static void read_vocabulary(Reader *r, Checkpoint *ck, uint32_t n_words) {
    vocab_init(&ck->vocab);
    for (uint32_t i = 0; i < n_words; i++) {
        const uint32_t wl = get_u32(r, "the vocabulary");
        if (!need(r, wl, "the vocabulary")) break;
        char *w = xmalloc((size_t)wl + 1);
        memcpy(w, r->p + r->pos, wl);
        w[wl] = '\0';
        r->pos += wl;
        const bool text = wl > 0 && strlen(w) == wl && util_utf8_invalid_at(w, wl) < 0;
        const int id = text ? vocab_add(&ck->vocab, w) : -1;
        if (id != (int)i) fail(r, "vocabulary entry %u is empty, not UTF-8 text, a duplicate or out of order", i);
        free(w);
        if (r->failed) break;
    }
}

/* The parameter count, which the configuration fixes, and the finite parameters themselves. */
static void read_params(Reader *r, Checkpoint *ck) {
    ck->n_params = get_u64(r, "the parameter count");
    if (!r->failed && (int64_t)ck->n_params != (int64_t)model_param_count(&ck->cfg))
        fail(r, "%zu parameters stored, but the configuration needs %ld", ck->n_params, model_param_count(&ck->cfg));
    ck->params = get_f32s(r, ck->n_params, "the parameters");
    check_finite(r, &ck->cfg, ck->params, ck->n_params, false, "the parameter");
}

/* AdamW's step, the training steps done and the data sampler's state, each one this program writes. */
static void read_progress(Reader *r, Checkpoint *ck) {
    const int64_t adam_step = (int64_t)get_u64(r, "the optimiser step");
    const int64_t steps_done = (int64_t)get_u64(r, "the training step");
    ck->train.data_rng.state = get_u64(r, "the data generator");
    ck->train.data_rng.inc = get_u64(r, "the data generator");
    if (!r->failed && (adam_step < 0 || adam_step > CHECKPOINT_MAX_STEPS || steps_done < 0 || steps_done > CHECKPOINT_MAX_STEPS))
        fail(r, "AdamW's step %lld or the steps done %lld outside 0..%d", (long long)adam_step, (long long)steps_done,
             CHECKPOINT_MAX_STEPS);
    if (!r->failed && steps_done > 0 && (ck->train.data_rng.inc & 1) == 0)
        fail(r, "the data sampler's increment is even: not a state this program writes");
    ck->adam_step = (long)adam_step;
    ck->train.steps_done = (long)steps_done;
}

/* AdamW's two moments, finite, the second also non-negative. */
static void read_moments(Reader *r, Checkpoint *ck) {
    ck->adam_m = get_f32s(r, ck->n_params, "the optimiser moments");
    ck->adam_v = get_f32s(r, ck->n_params, "the optimiser moments");
    check_finite(r, &ck->cfg, ck->adam_m, ck->n_params, false, "AdamW's first moment");
    check_finite(r, &ck->cfg, ck->adam_v, ck->n_params, true, "AdamW's second moment");
}

bool checkpoint_parse(Checkpoint *ck, const unsigned char *data, size_t len, char *err, size_t err_size) {
    memset(ck, 0, sizeof *ck);
    Reader r = {data, len, 0, err, err_size, false};
    uint32_t n_words = 0;
    /* nothing is allocated until the vocabulary, so these failures need no freeing */
    if (!read_magic_version(&r, ck) || !read_config(&r, ck) || !read_level_and_size(&r, ck, &n_words)) return false;
    read_vocabulary(&r, ck, n_words);
    read_params(&r, ck);
    read_progress(&r, ck);
    read_moments(&r, ck);
    if (!r.failed && ck->version >= 2) read_sections(&r, ck);
    if (!r.failed) check_merges(&r, ck);
    if (!r.failed && r.pos + 8 > len) fail(&r, "truncated checkpoint (the moments run into the checksum)");
    if (!r.failed && r.pos + 8 < len) fail(&r, "%zu unexpected bytes before the checksum", len - 8 - r.pos);
    if (r.failed) {
        checkpoint_free(ck);
        return false;
    }
    return true;
}

void checkpoint_load(Checkpoint *ck, const char *path) {
    size_t len;
    /* 4 x 10^7 parameters (three arrays of floats) is beyond every chapter's largest model */
    unsigned char *data = (unsigned char *)util_read_file(path, UTIL_MAX_FILE_BYTES, &len, "checkpoint");
    char err[256];
    const bool ok = checkpoint_parse(ck, data, len, err, sizeof err);
    free(data);
    if (!ok) die(EXIT_RUNTIME, "%s: %s", path, err);
    /* A configuration within the limits can still be beyond this machine: its parameters with
     * their gradients and moments, and one sequence's attention weights (heads x max_len^2 per
     * block), at the least. Such a file is refused here, before any of it is allocated. */
    const ModelConfig c = ck->cfg;
    const double need = 4.0 * (4.0 * (double)ck->n_params + (double)c.layers * c.heads * (double)c.max_len * c.max_len);
    const double have = util_physical_memory();
    if (have > 0 && need > have) {
        checkpoint_free(ck);
        die(EXIT_RUNTIME, "%s: its model (layers %d, heads %d, max_len %d) would need at least %.1f GiB for one sequence, "
                          "more than this machine's %.1f GiB",
            path, c.layers, c.heads, c.max_len, need / (1 << 30), have / (1 << 30));
    }
}

/* The value of a number option, and whether it was given. */
static bool given(const CliOption *opts, int n, const char *name, double *value) {
    for (int i = 0; i < n; i++)
        if (strcmp(opts[i].name, name) == 0) {
            if (value) *value = opts[i].kind == CLI_INT ? (double)*(const long long *)opts[i].value : *(const double *)opts[i].value;
            return opts[i].seen;
        }
    return false;
}

Schedule checkpoint_schedule(const Checkpoint *ck, const char *path, Schedule flags, const CliOption *opts, int n_opts,
                             long *stop, char *note, size_t note_size) {
    const TrainState *t = &ck->train;
    *stop = flags.steps;
    note[0] = '\0';
    if (!t->has_schedule) {
        if (t->steps_done > 0)
            snprintf(note, note_size,
                     "  %s holds no learning-rate schedule (version %u): the schedule is built from the flags, a\n"
                     "  warm-up of %ld steps and a cosine to step %ld, which continues the earlier run exactly only\n"
                     "  if it used the same --steps, --warmup and --lr.\n",
                     path, ck->version, flags.warmup, flags.steps);
        return flags;
    }
    const Schedule s = t->schedule;
    const struct {
        const char *flag;
        double have;
    } fixed[] = {{"--lr", s.lr}, {"--warmup", (double)s.warmup}, {"--clip", s.clip}, {"--lr-end", s.lr_min / s.lr}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        double v;
        if (given(opts, n_opts, fixed[i].flag, &v) && fabs(v - fixed[i].have) > 1e-12 * fabs(fixed[i].have))
            die(EXIT_USAGE, "%s: %g, but the checkpoint %s trains with %g: a resumed run continues its stored schedule",
                fixed[i].flag, v, path, fixed[i].have);
    }
    if (!given(opts, n_opts, "--steps", NULL)) *stop = s.steps;
    int n = snprintf(note, note_size, "  the stored schedule continues: peak rate %g, warm-up %ld steps, cosine down to %g at step %ld",
                     s.lr, s.warmup, s.lr_min, s.steps);
    if (*stop > s.steps && *stop > t->steps_done && n > 0 && (size_t)n < note_size)
        n += snprintf(note + n, note_size - (size_t)n,
                      ";\n  steps %ld to %ld go beyond it and run at its final rate %g (a run of %ld steps from the start\n"
                      "  would have decayed over all of them: this is a longer run, not the same one)",
                      (s.steps > t->steps_done ? s.steps : t->steps_done) + 1, *stop, s.lr_min, *stop);
    if (n > 0 && (size_t)n < note_size) snprintf(note + n, note_size - (size_t)n, ".\n");
    return s;
}

void checkpoint_free(Checkpoint *ck) {
    if (!ck) return;
    vocab_free(&ck->vocab);
    free(ck->params), free(ck->adam_m), free(ck->adam_v), free(ck->train.history);
    memset(ck, 0, sizeof *ck);
}
