/* fuzz_bpe: the merge-table parser and GPT-2's vocabulary loader on arbitrary bytes.
 *
 * Promises checked:
 *   - a table is accepted or refused with a one-line reason, never half-built;
 *   - an accepted table names only tokens made before each merge, and serialising it gives back
 *     exactly the bytes parsed (the format has one spelling per table);
 *   - with an accepted table, encoding the input itself (any bytes) uses only ids of the
 *     vocabulary, agrees with applying the merges one at a time, and decodes back to every byte;
 *   - GPT-2's loader, fed the input cut in two at its first NUL byte (encoder.json, vocab.bpe),
 *     accepts or refuses with a one-line reason; when it accepts, every token has a published id
 *     and encoding the input through the pre-tokenizer gives ids below n_ext. */
#include <stdbool.h>
#include <string.h>

#include "bpe.h"
#include "fuzz.h"

static void check_table(const Bpe *b, const uint8_t *data, size_t size) {
    for (int k = 0; k < b->n_merges; k++)
        FUZZ_CHECK(b->merge[k][0] >= 0 && b->merge[k][0] < BPE_BYTES + k && b->merge[k][1] >= 0 &&
                   b->merge[k][1] < BPE_BYTES + k);
    int32_t *ids = malloc(sizeof(int32_t) * (size + 1)), *plain = malloc(sizeof(int32_t) * (size + 1));
    FUZZ_CHECK(ids && plain);
    const size_t m = bpe_encode(b, data, size, ids);
    FUZZ_CHECK(m <= size);
    for (size_t i = 0; i < m; i++) FUZZ_CHECK(ids[i] >= 0 && ids[i] < bpe_vocab_size(b));
    if (b->n_merges * size < 4000000) { /* the plain encoder is slow: only where it is quick */
        FUZZ_CHECK(bpe_encode_plain(b, data, size, plain) == m);
        FUZZ_CHECK(memcmp(ids, plain, sizeof(int32_t) * m) == 0);
    }
    FUZZ_CHECK(bpe_decoded_size(b, ids, m) == size);
    uint8_t *back = malloc(size + 1);
    FUZZ_CHECK(back != NULL);
    FUZZ_CHECK(bpe_decode(b, ids, m, back) == size && memcmp(back, data, size) == 0);
    free(back), free(ids), free(plain);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256] = "";
    Bpe b;
    if (bpe_parse(&b, (const char *)data, size, err, sizeof err)) {
        size_t len;
        char *text = bpe_serialise(&b, &len);
        FUZZ_CHECK(len == size && memcmp(text, data, size) == 0);
        free(text);
        check_table(&b, data, size);
        bpe_free(&b);
    } else {
        FUZZ_CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
        FUZZ_CHECK(b.merge == NULL && b.bytes == NULL);
    }
    const uint8_t *nul = memchr(data, 0, size);
    if (nul) {
        const size_t nj = (size_t)(nul - data);
        err[0] = '\0';
        if (bpe_gpt2_parse(&b, (const char *)data, nj, (const char *)nul + 1, size - nj - 1, err, sizeof err)) {
            for (int t = 0; t < bpe_vocab_size(&b); t++) FUZZ_CHECK(b.ext_id[t] >= 0 && b.ext_id[t] < b.n_ext);
            int32_t *ids = malloc(sizeof(int32_t) * (size + 1));
            FUZZ_CHECK(ids != NULL);
            const size_t m = bpe_gpt2_encode(&b, data, size, ids);
            FUZZ_CHECK(m <= size);
            for (size_t i = 0; i < m; i++) FUZZ_CHECK(ids[i] >= 0 && ids[i] < b.n_ext);
            free(ids);
            bpe_free(&b);
        } else {
            FUZZ_CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
        }
    }
    /* the pre-tokenizer alone: every byte lands in exactly one pre-token */
    for (size_t i = 0; i < size;) {
        const size_t e = bpe_gpt2_pretoken_end(data, size, i);
        FUZZ_CHECK(e > i && e <= size);
        i = e;
    }
    return 0;
}
