/* fuzz_corpus: the text corpus loader's checks and the two tokenizers on arbitrary bytes.
 *
 * Promises checked:
 *   - bytes that are not text (empty, a NUL byte, invalid UTF-8) are refused with a one-line reason;
 *   - text splits into lines, and the split rule sends every line to exactly one side;
 *   - at both levels, encoding with a growing vocabulary leaves nothing unknown, every id is in the
 *     vocabulary and every line ends with exactly one </s>;
 *   - characters: decoding gives back every line exactly;
 *   - words: a line's tokens joined by spaces, as decoding prints them, split into the same tokens. */
#include <stdbool.h>
#include <string.h>

#include "corpus.h"
#include "fuzz.h"

static void check_level(const Lines *lines, TokenLevel level) {
    Vocab v;
    vocab_init(&v);
    TokenStream s;
    corpus_encode(&s, &v, lines->line, lines->n, level, true);
    FUZZ_CHECK(s.n_lines == lines->n);
    FUZZ_CHECK(s.n_oov == 0);
    long eos = 0;
    for (long t = 0; t < s.n; t++) {
        FUZZ_CHECK(s.id[t] >= 0 && s.id[t] < v.size && s.id[t] != VOCAB_BOS);
        eos += s.id[t] == VOCAB_EOS;
    }
    FUZZ_CHECK(eos == lines->n && (s.n == 0 || s.id[s.n - 1] == VOCAB_EOS));
    char *text = corpus_decode(&v, s.id, s.n, level);
    if (level == LEVEL_CHAR) {
        const char *p = text;
        for (int i = 0; i < lines->n; i++) {
            const size_t len = strlen(lines->line[i]);
            FUZZ_CHECK(strncmp(p, lines->line[i], len) == 0 && p[len] == '\n');
            p += len + 1;
        }
        FUZZ_CHECK(*p == '\0');
    } else {
        /* each line's tokens joined by spaces (what decoding prints) split into the same tokens */
        for (int i = 0; i < lines->n; i++) {
            char **a, **b;
            const int na = tokenize_line(lines->line[i], level, &a);
            size_t len = 1;
            for (int k = 0; k < na; k++) len += strlen(a[k]) + 1;
            char *joined = malloc(len), *p = joined;
            FUZZ_CHECK(joined != NULL);
            for (int k = 0; k < na; k++) p += sprintf(p, k ? " %s" : "%s", a[k]);
            *p = '\0';
            const int nb = tokenize_line(joined, level, &b);
            FUZZ_CHECK(na == nb);
            for (int k = 0; k < na; k++) FUZZ_CHECK(a[k][0] != '\0' && strcmp(a[k], b[k]) == 0);
            tokens_free(a, na), tokens_free(b, nb);
            free(joined);
        }
    }
    free(text);
    for (int id = 3; id < v.size; id++) FUZZ_CHECK(vocab_find(&v, v.word[id]) == id);
    token_stream_free(&s);
    vocab_free(&v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    char problem[128] = "";
    if (!corpus_text_ok(text, size, problem, sizeof problem)) {
        FUZZ_CHECK(problem[0] != '\0' && strchr(problem, '\n') == NULL);
        free(text);
        return 0;
    }
    Lines lines;
    lines_split(&lines, text);
    for (int i = 0; i < lines.n; i++) FUZZ_CHECK(lines.line[i][0] != '\0' && strchr(lines.line[i], '\n') == NULL);
    char **train, **val;
    int n_train, n_val;
    corpus_split(&lines, &train, &n_train, &val, &n_val);
    FUZZ_CHECK(n_train + n_val == lines.n && n_val == lines.n / 10);
    free(train), free(val);
    check_level(&lines, LEVEL_CHAR);
    check_level(&lines, LEVEL_WORD);
    lines_free(&lines);
    free(text);
    return 0;
}
