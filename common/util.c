/* util: error exits and the checked allocator (see util.h). */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *program_name = "llm-notebook";

void util_set_program(const char *name) {
    if (name && *name) program_name = name;
}

const char *util_program(void) { return program_name; }

void die(int status, const char *fmt, ...) {
    fflush(stdout); /* what was printed so far comes before the error */
    fprintf(stderr, "%s: ", program_name);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(status);
}

void util_internal_error(const char *file, int line, const char *fmt, ...) {
    fflush(stdout);
    fprintf(stderr, "%s: internal error at %s:%d: ", program_name, file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

void *xmalloc(size_t size) {
    void *p = malloc(size ? size : 1);
    if (!p) die(EXIT_RUNTIME, "out of memory: could not allocate %zu bytes", size);
    return p;
}

void *xcalloc(size_t count, size_t size) {
    if (size != 0 && count > SIZE_MAX / size)
        die(EXIT_RUNTIME, "out of memory: %zu x %zu bytes does not fit in memory", count, size);
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) die(EXIT_RUNTIME, "out of memory: could not allocate %zu x %zu bytes", count, size);
    return p;
}

char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

long util_utf8_invalid_at(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t len;
        unsigned cp, min;
        if (c < 0x80) { i++; continue; }
        else if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return (long)i;
        if (i + len > n) return (long)i;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80) return (long)i;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return (long)i;
        i += len;
    }
    return -1;
}

double util_physical_memory(void) {
    const long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (double)pages * (double)size : 0.0;
}

/* ==== files the user names ==== */

char *util_read_file(const char *path, size_t max_bytes, size_t *len, const char *what) {
    const char *sp = what && *what ? " " : "";
    what = what ? what : "";
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever */
    const int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) die(EXIT_RUNTIME, "cannot read %s%s%s: %s", what, sp, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) die(EXIT_RUNTIME, "cannot read %s%s%s: %s", what, sp, path, strerror(errno));
    if (S_ISDIR(st.st_mode)) die(EXIT_RUNTIME, "cannot read %s%s%s: it is a directory", what, sp, path);
    if (!S_ISREG(st.st_mode))
        die(EXIT_RUNTIME, "cannot read %s%s%s: it is not a regular file (a FIFO, a device or a socket)", what, sp, path);
    if ((uintmax_t)st.st_size > (uintmax_t)max_bytes)
        die(EXIT_RUNTIME, "cannot read %s%s%s: it holds %jd bytes, more than the %zu this program reads", what, sp,
            path, (intmax_t)st.st_size, max_bytes);
    /* the size from fstat, plus one byte to notice a file that grows while it is read */
    const size_t want = (size_t)st.st_size + 1;
    char *buf = xmalloc(want + 1);
    size_t n = 0;
    while (n < want) {
        const ssize_t got = read(fd, buf + n, want - n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) die(EXIT_RUNTIME, "cannot read %s%s%s: %s", what, sp, path, strerror(errno));
        if (got == 0) break;
        n += (size_t)got;
    }
    close(fd);
    if (n > (size_t)st.st_size) die(EXIT_RUNTIME, "cannot read %s%s%s: it changed while it was read", what, sp, path);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

/* The folder part of path ("." when it has none) in buf. */
static void folder_of(const char *path, char *buf, size_t size) {
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(buf, size, ".");
    else if (slash == path) snprintf(buf, size, "/");
    else snprintf(buf, size, "%.*s", (int)(slash - path), path);
}

void util_check_output(const char *flag, const char *path) {
    if (!path || !*path) die(EXIT_USAGE, "%s: an empty file name; expected the name of a file to write", flag);
    if (path[strlen(path) - 1] == '/') die(EXIT_USAGE, "%s: %s names a folder; expected the name of a file to write", flag, path);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (S_ISLNK(st.st_mode))
            die(EXIT_USAGE, "%s: %s is a symbolic link; give the file it points to, or a new name", flag, path);
        if (S_ISDIR(st.st_mode)) die(EXIT_USAGE, "%s: %s is a directory; expected the name of a file to write", flag, path);
        if (!S_ISREG(st.st_mode))
            die(EXIT_USAGE, "%s: %s is not a regular file (a device, a FIFO or a socket); it will not be replaced", flag, path);
    } else if (errno != ENOENT) {
        die(EXIT_USAGE, "%s: cannot use %s: %s", flag, path, strerror(errno));
    }
    /* the folder must take a new file: make one there, exclusively, and remove it */
    char dir[4096], probe[4200];
    folder_of(path, dir, sizeof dir);
    snprintf(probe, sizeof probe, "%s/.write-test-XXXXXX", dir);
    const int fd = mkstemp(probe);
    if (fd < 0) die(EXIT_USAGE, "%s: cannot create a file in the folder %s: %s", flag, dir, strerror(errno));
    close(fd);
    unlink(probe);
}

int util_make_temp(char *tmp, size_t size, const char *path) {
    if (snprintf(tmp, size, "%s.tmp-XXXXXX", path) >= (int)size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    const int fd = mkstemp(tmp); /* a new name, created exclusively: never a planted file or link */
    if (fd < 0) return -1;
    const mode_t mask = umask(0); /* mkstemp makes the file 0600; give it the usual 0666 - umask */
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    return fd;
}

void util_write_file(const char *path, const void *data, size_t len) {
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
        die(EXIT_RUNTIME, "will not replace %s: it is not a regular file (a link, a folder or a device)", path);
    char tmp[4200];
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT), sigaddset(&stop, SIGTERM), sigaddset(&stop, SIGHUP);
    sigprocmask(SIG_BLOCK, &stop, &old);
    const int fd = util_make_temp(tmp, sizeof tmp, path);
    if (fd < 0) {
        const int e = errno;
        sigprocmask(SIG_SETMASK, &old, NULL);
        die(EXIT_RUNTIME, "cannot write %s: %s", path, strerror(e));
    }
    const unsigned char *p = data;
    size_t done = 0;
    int e = 0;
    while (done < len && !e) {
        const ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) e = w < 0 ? errno : EIO;
        else done += (size_t)w;
    }
    if (!e && fsync(fd) != 0) e = errno; /* on the disk before the rename makes it the file */
    if (close(fd) != 0 && !e) e = errno;
    if (!e && rename(tmp, path) != 0) e = errno;
    if (e) {
        unlink(tmp);
        sigprocmask(SIG_SETMASK, &old, NULL);
        die(EXIT_RUNTIME, "cannot write %s: %s; %s is unchanged", path, strerror(e), path);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
}
