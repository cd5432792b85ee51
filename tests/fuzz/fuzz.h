/* fuzz: what the fuzz targets share. Each target is one function, LLVMFuzzerTestOneInput, that
 * feeds arbitrary bytes to one parser of outside input and checks the promises the parser makes;
 * a broken promise aborts, which libFuzzer reports as a crash and saves the input.
 *
 * Built two ways (see the Makefile):
 *   make fuzz   with clang's libFuzzer (and ASan + UBSan), which invents inputs for a bounded time;
 *   make test   with replay.c's main, which runs the target on every saved input under
 *               tests/fuzz/regress/<target>/ (inputs that once crashed) and tests/fuzz/seeds/<target>/. */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                          \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "fuzz check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);       \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

#endif
