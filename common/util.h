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

/* ==== files the user names ====
 * Every file a program reads goes through util_read_file, every file it keeps through
 * util_write_file, and every --save target is checked by util_check_output before any work starts.
 * A failure is one line naming the file, and exit status 1 (2 for util_check_output: a bad flag). */

/* The largest file util_read_file reads (1 GiB): far above any corpus or checkpoint here. */
#define UTIL_MAX_FILE_BYTES ((size_t)1 << 30)

/* The whole of a regular file, NUL-terminated (the NUL is not counted in *len), allocated here.
 * Refused without blocking or reading: a missing or unreadable file, a directory, a FIFO, a device
 * (/dev/zero, /dev/urandom) or any other non-regular file, and a file larger than max_bytes. `what`
 * names the file's role in messages ("checkpoint", "corpus"): "cannot read checkpoint F: ...". */
char *util_read_file(const char *path, size_t max_bytes, size_t *len, const char *what);

/* Check, before any work, that `path` (the value of `flag`) can become a file this program writes:
 * not empty, its folder exists and is writable, and it is either absent or a regular file (not a
 * directory, a symbolic link, a device or a FIFO). Exits with status 2 and one line otherwise. */
void util_check_output(const char *flag, const char *path);

/* Write data[0..len) to path atomically: into a new, exclusively created temporary file in the
 * same folder, named "<path>.tmp-XXXXXX" (a leftover one is recognisable and never reused: each
 * save makes a fresh name), flushed to the disk, then renamed over path. SIGINT, SIGTERM and SIGHUP
 * wait until the rename is done, so Ctrl-C cannot leave half a file. A target that exists and is
 * not a regular file (a device, a symbolic link, a directory) is refused; on every failure the
 * temporary file is removed and path is unchanged. Exits with status 1 and one line on failure. */
void util_write_file(const char *path, const void *data, size_t len);

/* A new temporary file beside path, "<path>.tmp-XXXXXX" (tmp receives the name; size is its room),
 * created exclusively (never a planted file or link), with the permissions the umask gives a new
 * file. Returns its open descriptor, or -1 with errno set. */
int util_make_temp(char *tmp, size_t size, const char *path);

#endif
