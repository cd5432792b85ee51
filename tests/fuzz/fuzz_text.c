/* fuzz_text: text from the command line (--prompt, --blanks, --sentence) through the option parser
 * and into the tokenizers, as the chapters use it.
 *
 * The first byte chooses the option (and the token level); the rest is its value, cut at the first
 * NUL as an argument is. Promises checked: the parser accepts exactly the values that are valid
 * UTF-8 (the same check as a text file's) and refuses the others with a one-line message naming the
 * option; an accepted value tokenises at both levels into non-empty, valid UTF-8 tokens (at the
 * character level they spell the value again, byte for byte), which encode against a vocabulary
 * and decode without reading outside the value (ASan watches the tokenizer: a lead byte at the end
 * of an argument once made it read the next argument's bytes). */
#include <stdbool.h>
#include <string.h>

#include "cli.h"
#include "corpus.h"
#include "fuzz.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    /* the value in a buffer of its own exact size, so that ASan sees any read past its NUL */
    const size_t len = strnlen((const char *)data + 1, size - 1);
    char *value = malloc(len + 1);
    FUZZ_CHECK(value != NULL);
    memcpy(value, data + 1, len);
    value[len] = '\0';
    static const char *const names[3] = {"--prompt", "--blanks", "--sentence"};
    const char *texts[3] = {"", "", ""};
    CliOption opts[3];
    for (int i = 0; i < 3; i++) opts[i] = cli_string(names[i], &texts[i], "TEXT", "text to read");
    CliSpec spec = {"fuzz_text", "command-line text", opts, 3};
    CliCommon common = cli_common_defaults();
    const int which = data[0] % 3;
    char *argv[] = {"fuzz_text", (char *)names[which], value, NULL};
    char err[512] = "";
    const CliResult r = cli_parse_args(&spec, &common, 3, argv, err, sizeof err);
    const bool utf8 = util_utf8_invalid_at(value, len) < 0;
    FUZZ_CHECK(r != CLI_HELP);
    FUZZ_CHECK((r == CLI_PARSED) == utf8);
    if (r == CLI_ERROR) {
        FUZZ_CHECK(err[0] != '\0' && strchr(err, '\n') == NULL && strstr(err, names[which]) == err);
        free(value);
        return 0;
    }
    FUZZ_CHECK(texts[which] == value);
    Vocab v;
    vocab_init(&v);
    for (int level = LEVEL_CHAR; level <= LEVEL_WORD; level++) {
        char **tok;
        const int n = tokenize_line(value, (TokenLevel)level, &tok);
        size_t spelled = 0;
        for (int k = 0; k < n; k++) {
            const size_t tl = strlen(tok[k]);
            FUZZ_CHECK(tl > 0 && util_utf8_invalid_at(tok[k], tl) < 0);
            if (level == LEVEL_CHAR) FUZZ_CHECK(memcmp(value + spelled, tok[k], tl) == 0);
            spelled += tl;
        }
        if (level == LEVEL_CHAR) FUZZ_CHECK(spelled == len);
        /* as a prompt: encoded with a vocabulary (grown here from the first half of the tokens) */
        for (int k = 0; k < n / 2; k++) vocab_add(&v, tok[k]);
        TokenStream s;
        corpus_encode(&s, &v, &value, 1, (TokenLevel)level, false);
        FUZZ_CHECK(s.n == n + 1 && s.id[n] == VOCAB_EOS);
        char *back = corpus_decode(&v, s.id, s.n, (TokenLevel)level);
        FUZZ_CHECK(util_utf8_invalid_at(back, strlen(back)) < 0);
        free(back);
        token_stream_free(&s);
        tokens_free(tok, n);
    }
    vocab_free(&v);
    free(value);
    return 0;
}
