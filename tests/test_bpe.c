/* Byte-level BPE: the fast trainer and encoder against the plain ones (rescan per merge, one merge
 * at a time over the whole text) on random texts, a training run worked by hand, the round trip
 * over random bytes and real text, the merge table's parser and its refusals, GPT-2's
 * pre-tokenizer on cases worked from its regular expression. Chapter 0, which runs them as a
 * program (GPT-2's ids against the npm package's own encoder too), is tested in test_ch00.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "rng.h"
#include "synth.h"
#include "tests.h"

/* Random text over an alphabet of `k` letters (small alphabets make long runs and overlaps such
 * as "aaaa"), cut into chunks at random. */
static uint8_t *random_text(Rng *r, size_t n, int k, bool any_byte) {
    uint8_t *s = malloc(n);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < n; i++)
        s[i] = any_byte ? (uint8_t)rng_below(r, 256) : (uint8_t)('a' + rng_below(r, (uint32_t)k));
    return s;
}

static BpeChunk *random_chunks(Rng *r, const uint8_t *s, size_t n, int *n_chunks) {
    BpeChunk *c = malloc(sizeof(BpeChunk) * (n + 1));
    ck_assert_ptr_nonnull(c);
    int m = 0;
    for (size_t i = 0; i < n;) {
        /* mostly short chunks, some beyond the 128 bytes where the encoder switches method */
        size_t len = 1 + rng_below(r, rng_below(r, 8) == 0 ? 400 : 40);
        if (len > n - i) len = n - i;
        c[m++] = (BpeChunk){s + i, len};
        i += len;
    }
    *n_chunks = m;
    return c;
}

static void assert_same_merges(const Bpe *a, const Bpe *b) {
    ck_assert_int_eq(a->n_merges, b->n_merges);
    for (int k = 0; k < a->n_merges; k++)
        ck_assert_msg(a->merge[k][0] == b->merge[k][0] && a->merge[k][1] == b->merge[k][1],
                      "merge %d: (%d, %d) against (%d, %d)", k, a->merge[k][0], a->merge[k][1], b->merge[k][0],
                      b->merge[k][1]);
}

START_TEST(test_hand_worked_training) {
    /* "aaabdaaabac": (a,a) is there 4 times (overlaps counted) and wins; the text becomes
     * Z a b d Z a b a c. Then (Z,a) and (a,b) are both there twice: the smaller left id, 'a', wins.
     * Then Z Y d Z Y a c: (Z,Y) twice. Then no pair occurs twice: training stops at 3 merges. */
    const char *text = "aaabdaaabac";
    BpeChunk c = {(const uint8_t *)text, strlen(text)};
    const int32_t want[3][2] = {{'a', 'a'}, {'a', 'b'}, {256, 257}};
    for (int fast = 0; fast < 2; fast++) {
        Bpe b;
        (fast ? bpe_train : bpe_train_plain)(&b, &c, 1, 1000);
        ck_assert_int_eq(b.n_merges, 3);
        for (int k = 0; k < 3; k++) ck_assert(b.merge[k][0] == want[k][0] && b.merge[k][1] == want[k][1]);
        int32_t ids[16];
        const size_t n = bpe_encode(&b, c.s, c.n, ids);
        const int32_t enc[] = {258, 'd', 258, 'a', 'c'};
        ck_assert_uint_eq(n, 5);
        for (int i = 0; i < 5; i++) ck_assert_int_eq(ids[i], enc[i]);
        size_t len;
        const uint8_t *t = bpe_token(&b, 258, &len);
        ck_assert(len == 4 && memcmp(t, "aaab", 4) == 0);
        bpe_free(&b);
    }
    /* pair counts: the definition, with overlaps, sorted by the tie-break rule */
    const int32_t seq[] = {'a', 'a', 'a', -1, 'a', 'a', 'b'};
    BpePairCount *p;
    const int np = bpe_pair_counts(seq, 7, &p);
    ck_assert_int_eq(np, 2);
    ck_assert(p[0].left == 'a' && p[0].right == 'a' && p[0].count == 3);
    ck_assert(p[1].left == 'a' && p[1].right == 'b' && p[1].count == 1);
    free(p);
}
END_TEST

START_TEST(test_fast_training_equals_plain) {
    Rng r;
    rng_seed(&r, 19, 1);
    for (int trial = 0; trial < 40; trial++) {
        const size_t n = 200 + rng_below(&r, 3000);
        const int k = 2 + (int)rng_below(&r, 6);
        const bool any = trial % 5 == 4;
        uint8_t *s = random_text(&r, n, k, any);
        int nc;
        BpeChunk *c = random_chunks(&r, s, n, &nc);
        const int vocab = 256 + 1 + (int)rng_below(&r, 200);
        Bpe slow, fast;
        bpe_train_plain(&slow, c, nc, vocab);
        bpe_train(&fast, c, nc, vocab);
        assert_same_merges(&slow, &fast);
        ck_assert_int_le(bpe_vocab_size(&fast), vocab);
        /* the fast encoder gives what one merge after another gives, chunk by chunk */
        int32_t *a = malloc(sizeof(int32_t) * n), *b = malloc(sizeof(int32_t) * n);
        for (int q = 0; q < nc; q++) {
            const size_t na = bpe_encode(&fast, c[q].s, c[q].n, a), nb = bpe_encode_plain(&fast, c[q].s, c[q].n, b);
            ck_assert_uint_eq(na, nb);
            ck_assert(memcmp(a, b, sizeof(int32_t) * na) == 0);
        }
        free(a), free(b);
        bpe_free(&slow), bpe_free(&fast);
        free(c), free(s);
    }
}
END_TEST

START_TEST(test_training_on_real_text) {
    SynthCorpus sc;
    synth_generate(&sc, 300, 3);
    char *text = synth_text(&sc);
    const size_t n = strlen(text);
    int nc;
    BpeChunk *c = bpe_chunk_lines((const uint8_t *)text, n, &nc);
    ck_assert_int_eq(nc, 300);
    Bpe slow, fast;
    bpe_train_plain(&slow, c, nc, 500);
    bpe_train(&fast, c, nc, 500);
    assert_same_merges(&slow, &fast);
    ck_assert_int_eq(fast.n_merges, 500 - 256);
    /* a prefix of the merges is the tokenizer trained to the smaller size */
    Bpe small, pre;
    bpe_train(&small, c, nc, 300);
    bpe_prefix(&pre, &fast, 300 - 256);
    assert_same_merges(&small, &pre);
    bpe_free(&small), bpe_free(&pre);
    /* the round trip over every line, and the encoding is shorter than the bytes */
    int32_t *ids = malloc(sizeof(int32_t) * n);
    uint8_t *back = malloc(n);
    size_t total_ids = 0, total_bytes = 0;
    for (int q = 0; q < nc; q++) {
        const size_t m = bpe_encode(&fast, c[q].s, c[q].n, ids);
        ck_assert_uint_eq(bpe_decoded_size(&fast, ids, m), c[q].n);
        ck_assert_uint_eq(bpe_decode(&fast, ids, m, back), c[q].n);
        ck_assert(memcmp(back, c[q].s, c[q].n) == 0);
        total_ids += m, total_bytes += c[q].n;
    }
    ck_assert_uint_lt(2 * total_ids, total_bytes);
    free(ids), free(back), free(c), free(text);
    bpe_free(&slow), bpe_free(&fast);
    synth_free(&sc);
}
END_TEST

START_TEST(test_round_trip_random_bytes) {
    /* a tokenizer trained on English and Chinese, applied to bytes it never saw: NUL, invalid
     * UTF-8, everything. Nothing is unknown and nothing is lost. */
    const char *train = "the cat sat on the mat. the dog sat on the log.\n一只猫坐在垫子上。一只狗坐在木头上。\n";
    int nc;
    BpeChunk *c = bpe_chunk_lines((const uint8_t *)train, strlen(train), &nc);
    Bpe b;
    bpe_train(&b, c, nc, 300);
    ck_assert_int_gt(b.n_merges, 10);
    Rng r;
    rng_seed(&r, 7, 2);
    for (int trial = 0; trial < 200; trial++) {
        const size_t n = rng_below(&r, 300);
        uint8_t *s = random_text(&r, n ? n : 1, 0, true);
        if (trial % 3 == 0)
            for (size_t i = 0; i + 3 < n; i += 4) memcpy(s + i, "the ", 4); /* some known pairs too */
        int32_t *ids = malloc(sizeof(int32_t) * (n ? n : 1));
        uint8_t *back = malloc(n ? n : 1);
        const size_t m = bpe_encode(&b, s, n, ids);
        for (size_t i = 0; i < m; i++) ck_assert(ids[i] >= 0 && ids[i] < bpe_vocab_size(&b));
        ck_assert_uint_eq(bpe_decode(&b, ids, m, back), n);
        ck_assert(n == 0 || memcmp(back, s, n) == 0);
        free(s), free(ids), free(back);
    }
    bpe_free(&b);
    free(c);
}
END_TEST

START_TEST(test_escape) {
    /* "é" is C3 A9: a token holding only its first byte ends mid-character */
    char *e = bpe_escape((const uint8_t *)"a\xc3", 2);
    ck_assert_str_eq(e, "a\\xC3");
    free(e);
    e = bpe_escape((const uint8_t *)"\xc3\xa9 \n\\\x00猫", 9);
    ck_assert_str_eq(e, "é\xe2\x90\xa3\\n\\\\\\x00猫");
    free(e);
}
END_TEST

START_TEST(test_serialise_parse) {
    const char *text = "low lower lowest newer newest wider\n";
    int nc;
    BpeChunk *c = bpe_chunk_lines((const uint8_t *)text, strlen(text), &nc);
    Bpe b, back;
    bpe_train(&b, c, nc, 280);
    size_t len;
    char *s = bpe_serialise(&b, &len);
    char err[200];
    ck_assert_msg(bpe_parse(&back, s, len, err, sizeof err), "%s", err);
    assert_same_merges(&b, &back);
    for (int t = 0; t < bpe_vocab_size(&b); t++) {
        size_t l1, l2;
        const uint8_t *x = bpe_token(&b, t, &l1), *y = bpe_token(&back, t, &l2);
        ck_assert(l1 == l2 && memcmp(x, y, l1) == 0);
    }
    free(s);
    bpe_free(&b), bpe_free(&back), free(c);
}
END_TEST

static void expect_refusal(const char *table, const char *must) {
    Bpe b;
    char err[200] = "";
    ck_assert_msg(!bpe_parse(&b, table, strlen(table), err, sizeof err), "accepted: %s", table);
    ck_assert_msg(strstr(err, must) != NULL, "the message \"%s\" lacks \"%s\"", err, must);
    ck_assert_ptr_null(strchr(err, '\n'));
}

START_TEST(test_parser_refusals) {
    expect_refusal("", "not a merge table");
    expect_refusal("bpe-merges 2\n0\n", "not a merge table");
    expect_refusal("bpe-merges 1\n", "number of merges");
    expect_refusal("bpe-merges 1\nx\n", "number of merges");
    expect_refusal("bpe-merges 1\n1\n97 256\n", "not defined yet");         /* names itself */
    expect_refusal("bpe-merges 1\n2\n97 98\n257 97\n", "not defined yet");  /* names a later one */
    expect_refusal("bpe-merges 1\n1\n97 70000\n", "out of range");
    expect_refusal("bpe-merges 1\n1\n-1 97\n", "two token ids");
    expect_refusal("bpe-merges 1\n2\n97 98\n97 98\n", "repeats merge 0");
    expect_refusal("bpe-merges 1\n2\n97 98\n", "merge 1");                  /* a line missing */
    expect_refusal("bpe-merges 1\n1\n97 98\n99 100\n", "text after");
    expect_refusal("bpe-merges 1\n1\n97  98\n", "two token ids");
    expect_refusal("bpe-merges 1\n99999\n", "a table holds");
    /* a chain that doubles a token's length on every line is refused before it is spelled out */
    char *big = malloc(40 * 16 + 64), *w = big;
    w += sprintf(w, "bpe-merges 1\n40\n97 97\n");
    for (int k = 1; k < 40; k++) w += sprintf(w, "%d %d\n", 255 + k, 255 + k);
    expect_refusal(big, "more than");
    free(big);
    /* the empty table is the byte tokenizer */
    Bpe b;
    char err[100];
    ck_assert(bpe_parse(&b, "bpe-merges 1\n0\n", 15, err, sizeof err));
    ck_assert_int_eq(bpe_vocab_size(&b), 256);
    bpe_free(&b);
}
END_TEST

/* The pre-tokens of a text, joined by '|'. */
static void pretokens(const char *s, char *out) {
    const size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        const size_t e = bpe_gpt2_pretoken_end((const uint8_t *)s, n, i);
        ck_assert_uint_gt(e, i);
        if (i) *out++ = '|';
        memcpy(out, s + i, e - i);
        out += e - i;
        i = e;
    }
    *out = '\0';
}

START_TEST(test_gpt2_pretokenizer) {
    /* worked from the regular expression by hand */
    static const char *const cases[][2] = {
        {"Hello world", "Hello| world"},
        {"I'm here, they'll see; it's 2024!", "I|'m| here|,| they|'ll| see|;| it|'s| 2024|!"},
        {"a  b", "a| | b"},                  /* the run of spaces leaves its last one to the word */
        {"a \n\nb", "a| \n|\n|b"},           /* ... and so does a run ending in a newline */
        {"end   ", "end|   "},               /* white space at the end stays whole */
        {"x\ty", "x|\t|y"},
        {" 'sup", " '|sup"},                 /* a space before a quote joins the symbols */
        {"'S", "'|S"},                       /* contractions are lower-case only */
        {"abc123def", "abc|123|def"},
        {"...!? ok", "...!?| ok"},
        {"猫坐在垫子上。", "猫坐在垫子上|。"},  /* CJK ideographs are letters, 。 a symbol */
        {"héllo wörld", "héllo| wörld"},
        {"Ⅻ ½", "Ⅻ| ½"},                     /* letter numbers and fractions are numbers */
        {"a\xff\xfe b", "a|\xff\xfe| b"},    /* invalid bytes: other symbols, one byte each */
    };
    char got[256];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        pretokens(cases[k][0], got);
        ck_assert_msg(strcmp(got, cases[k][1]) == 0, "\"%s\": got \"%s\", want \"%s\"", cases[k][0], got, cases[k][1]);
    }
}
END_TEST

START_TEST(test_gpt2_loader) {
    /* a tiny vocabulary in GPT-2's spelling: Ġ (U+0120) is the space byte */
    const char *vocab = "#version: 0.2\nĠ t\nĠt h\na b\n";
    char json[8192], *w = json;
    uint32_t cp[256];
    int extra = 0;
    for (int c = 0; c < 256; c++) {
        const bool printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE;
        cp[c] = printable ? (uint32_t)c : (uint32_t)(256 + extra++);
    }
    w += sprintf(w, "{");
    for (int c = 0; c < 256; c++) { /* ids in reverse byte order, escaped as \uXXXX */
        w += sprintf(w, "%s\"\\u%04x\": %d", c ? ", " : "", (unsigned)cp[c], 255 - c);
    }
    w += sprintf(w, ", \"\\u0120t\": 256, \"\\u0120th\": 257, \"ab\": 258, \"<|endoftext|>\": 259}");
    Bpe b;
    char err[200];
    ck_assert_msg(bpe_gpt2_parse(&b, json, strlen(json), vocab, strlen(vocab), err, sizeof err), "%s", err);
    ck_assert_int_eq(b.n_merges, 3);
    ck_assert_int_eq(b.n_ext, 259); /* <|endoftext|> is no merge: not a token of the table */
    int32_t ids[32];
    const char *text = "the thab";
    const size_t n = bpe_gpt2_encode(&b, (const uint8_t *)text, strlen(text), ids);
    /* pre-tokens "the", " thab": t h e (bytes), then Ġth a b -> 257 258 */
    const int32_t want[] = {255 - 't', 255 - 'h', 255 - 'e', 257, 258};
    ck_assert_uint_eq(n, 5);
    for (int i = 0; i < 5; i++) ck_assert_int_eq(ids[i], want[i]);
    bpe_free(&b);
    /* refusals: a merge naming a token not made yet, a token with no id */
    ck_assert(!bpe_gpt2_parse(&b, json, strlen(json), "#version: 0.2\nĠth e\n", 21, err, sizeof err));
    ck_assert(strstr(err, "not defined yet") != NULL);
    ck_assert(!bpe_gpt2_parse(&b, json, strlen(json), "#version: 0.2\nx y\n", 18, err, sizeof err));
    ck_assert(strstr(err, "no id") != NULL);
    ck_assert(!bpe_gpt2_parse(&b, "{\"a\": ", 6, vocab, strlen(vocab), err, sizeof err));
}
END_TEST

Suite *bpe_suite(void) {
    Suite *s = suite_create("bpe");
    TCase *tc = tcase_create("bpe");
    tcase_add_test(tc, test_hand_worked_training);
    tcase_add_test(tc, test_fast_training_equals_plain);
    tcase_add_test(tc, test_training_on_real_text);
    tcase_add_test(tc, test_round_trip_random_bytes);
    tcase_add_test(tc, test_escape);
    tcase_add_test(tc, test_serialise_parse);
    tcase_add_test(tc, test_parser_refusals);
    tcase_add_test(tc, test_gpt2_pretokenizer);
    tcase_add_test(tc, test_gpt2_loader);
    suite_add_tcase(s, tc);
    return s;
}

