/* fuzz_checkpoint: the checkpoint reader on arbitrary bytes and on mutations of a valid checkpoint.
 *
 * The first byte chooses the mode: when it is odd, the rest gets a correct checksum written over
 * its last 8 bytes before parsing, so that mutations reach the fields behind the checksum test
 * instead of all stopping there. Promises checked: the parser returns, never exits or crashes; a
 * refusal comes with a one-line reason and leaves nothing allocated; an accepted checkpoint is
 * consistent (vocabulary size, parameter count, every word found under its own id). */
#include <stdbool.h>
#include <string.h>

#include "checkpoint.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const size_t n = size - 1;
    unsigned char *buf = malloc(n ? n : 1);
    FUZZ_CHECK(buf != NULL);
    memcpy(buf, data + 1, n);
    if ((data[0] & 1) && n >= 8) {
        const uint64_t h = checkpoint_checksum(buf, n - 8);
        for (int i = 0; i < 8; i++) buf[n - 8 + i] = (unsigned char)(h >> (8 * i));
    }
    Checkpoint ck;
    char err[256] = "";
    if (checkpoint_parse(&ck, buf, n, err, sizeof err)) {
        FUZZ_CHECK(ck.vocab.size == ck.cfg.vocab);
        FUZZ_CHECK((long)ck.n_params == model_param_count(&ck.cfg));
        FUZZ_CHECK(ck.params && ck.adam_m && ck.adam_v);
        FUZZ_CHECK(model_config_error(&ck.cfg) == NULL);
        for (int id = 0; id < ck.vocab.size; id++) FUZZ_CHECK(vocab_find(&ck.vocab, ck.vocab.word[id]) == id);
        checkpoint_free(&ck);
    } else {
        FUZZ_CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
        FUZZ_CHECK(ck.params == NULL && ck.adam_m == NULL && ck.adam_v == NULL && ck.vocab.word == NULL);
    }
    free(buf);
    return 0;
}
