/* Running a chapter binary from a test: see chapter_run.h. */
#include "chapter_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *slurp(FILE *f) {
    fflush(f);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

static void binary_path(char *path, size_t size, const char *program) {
    const char *dir = getenv("NOTEBOOK_BINDIR"); /* where make put the binaries ("." normally) */
    snprintf(path, size, "%s/%s", dir && *dir ? dir : ".", program);
}

Run run(const char *program, const char *const *args) {
    char path[512];
    binary_path(path, sizeof path, program);
    ck_assert_msg(access(path, X_OK) == 0, "%s is not built (run the tests through make test)", path);
    const char *argv[64] = {path};
    int argc = 1;
    for (; args && args[argc - 1] && argc < 63; argc++) argv[argc] = args[argc - 1];
    argv[argc] = NULL;
    FILE *out = tmpfile(), *err = tmpfile();
    ck_assert(out && err);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fileno(out), STDOUT_FILENO);
        dup2(fileno(err), STDERR_FILENO);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    fseek(out, 0, SEEK_END);
    fseek(err, 0, SEEK_END);
    Run r = {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), slurp(out), slurp(err)};
    return r;
}

void run_free(Run *r) {
    free(r->out);
    free(r->err);
}

const char *const *quick_args(const char *chapter) {
    static const char *const ch00[] = {"--lines", "3000", "--vocab-size", "600", NULL};
    static const char *const ch02[] = {"--steps", "100", "--eval-every", "50", "--lines", "2000", NULL};
    static const char *const ch10[] = {"--steps", "20", "--eval-every", "10", "--sample", "2", "--lines", "1000",
                                       "--layers", "1", "--d-model", "16", "--heads", "2", "--context", "16", NULL};
    static const char *const ch11[] = {"--steps", "20", "--eval-every", "10", "--lines", "1000", "--layers", "1",
                                       "--d-model", "16", "--heads", "2", "--context", "16", NULL};
    static const char *const ch12[] = {"--pretrain-steps", "20", "--ft-steps", "5", "--seeds", "1", "--lines", "1000", NULL};
    if (strcmp(chapter, "ch00_tokenization") == 0) return ch00;
    if (strcmp(chapter, "ch02_neural_lm") == 0) return ch02;
    if (strcmp(chapter, "ch10_gpt_pretraining") == 0) return ch10;
    if (strcmp(chapter, "ch11_masked_lm") == 0) return ch11;
    if (strcmp(chapter, "ch12_fine_tuning") == 0) return ch12;
    return NULL;
}

Run run_quick(const char *chapter, const char *const *extra) {
    const char *args[64];
    int n = 0;
    const char *const *quick = quick_args(chapter);
    for (int i = 0; quick && quick[i]; i++) args[n++] = quick[i];
    args[n++] = "--no-plot";
    for (int i = 0; extra && extra[i] && n < 63; i++) args[n++] = extra[i];
    args[n] = NULL;
    return run(chapter, args);
}

void check_bad(const char *chapter, const Bad *b) {
    const char *args[4] = {b->args[0], b->args[1], b->args[2], NULL};
    Run r = run(chapter, args);
    ck_assert_msg(r.status == 2, "%s %s: exit %d, want 2", chapter, b->args[0], r.status);
    ck_assert_msg(strncmp(r.err, chapter, strlen(chapter)) == 0, "stderr: %s", r.err);
    ck_assert_msg(strstr(r.err, b->message) != NULL, "%s: got \"%s\", want \"%s\"", chapter, r.err, b->message);
    ck_assert_int_eq(count_lines(r.err), 1);
    ck_assert_str_eq(r.out, "");
    run_free(&r);
}

pid_t spawn(const char *program, const char *const *args, const char *out, const char *err) {
    char path[512];
    binary_path(path, sizeof path, program);
    const char *argv[64] = {path};
    int argc = 1;
    for (; args[argc - 1] && argc < 63; argc++) argv[argc] = args[argc - 1];
    argv[argc] = NULL;
    fflush(NULL);
    const pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (!freopen(out, "w", stdout) || !freopen(err, "w", stderr)) _exit(126);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

double summary_value(const char *out, const char *key) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\n%s: ", key);
    const char *p = strstr(out, pattern);
    ck_assert_msg(p != NULL, "no '%s:' line in the summary", key);
    return strtod(p + strlen(pattern), NULL);
}

int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

char *read_all(const char *path, long *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq((long)fread(buf, 1, (size_t)n, f), n);
    buf[n] = '\0';
    fclose(f);
    if (len) *len = n;
    return buf;
}

void write_file(const char *path, const char *data, long len) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, (size_t)len, f), (size_t)len);
    fclose(f);
}

void remove_dir(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s' && rm -rf '%s'", dir, dir);
    ck_assert_int_eq(system(cmd), 0);
}

void sleep_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}
