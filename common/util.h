/* util: the error exits and the one checked allocator that every module uses.
 *
 * Exit statuses, the same in every program of the project:
 *   0  success
 *   1  a runtime failure (a file that cannot be read or written, a NaN, out of memory)
 *   2  a usage error (an unknown flag, a value that is not a number or out of range)
 * Every message goes to stderr as one line that starts with the program's name.     */
#ifndef UTIL_H
#define UTIL_H

#include <stddef.h>

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

/* The name used in messages ("ch04_masked_attention: ..."). Set once by cli_parse; the only
 * process-wide setting in the library, and it changes no result. */
void util_set_program(const char *name);
const char *util_program(void);

/* Print "program: message" on stderr and exit with `status`. */
_Noreturn void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A broken promise between two parts of the code (a shape mismatch, say): a bug, not a bad input.
 * Prints where and why, then aborts so that a debugger or sanitizer shows the stack. */
#define CHECK(cond, ...)                                                                         \
    do {                                                                                         \
        if (!(cond)) util_internal_error(__FILE__, __LINE__, __VA_ARGS__);                       \
    } while (0)
_Noreturn void util_internal_error(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The checked allocator: never returns NULL. On failure it exits with status 1 and says how much
 * was asked for. xcalloc checks count * size for overflow and zero-fills. Free with free(). */
void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
char *xstrdup(const char *s);

/* The offset of the first byte of s[0..n) that is not part of valid UTF-8 (overlong forms,
 * surrogates and code points above U+10FFFF are invalid), or -1 when all of it is valid. */
long util_utf8_invalid_at(const char *s, size_t n);

/* The machine's physical memory in bytes, or 0 when it cannot be known. */
double util_physical_memory(void);

#endif
