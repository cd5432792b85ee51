/* Reliability: the defects a hostile user found (issue 24), each as a reproducer, and the
 * checkpoint's version 2 (the schedule and the loss history, issue 18).
 *
 * Library-level cases run the code in a child process when it is meant to exit (or could hang:
 * a FIFO), with a time limit and a memory limit, and check the exit status and the one line on
 * stderr. Chapter-level cases run the binaries with tiny sizes. Crafted checkpoints are made here:
 * a real one from checkpoint_serialize, a field changed, the checksum written again. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include "chapter_run.h"
#include "checkpoint.h"
#include "cli.h"
#include "corpus.h"
#include "tests.h"
#include "util.h"

/* ==== running code that exits ==== */

static char *read_back(FILE *f) {
    fflush(f);
    const long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    buf[fread(buf, 1, (size_t)n, f)] = '\0';
    fclose(f);
    return buf;
}

/* In a child with stdout and stderr captured, at most `seconds` and 512 MiB of address space:
 * either fn(arg) (program == NULL) or ./program args. With pending_sigint the child starts with
 * a Ctrl-C waiting behind a blocked SIGINT, which reaches the program once it watches for it
 * (interrupt_watch): a Ctrl-C at a known moment, without racing the program. */
static Run run_child(void (*fn)(const void *), const void *arg, const char *program, const char *const *args,
                         int seconds, bool pending_sigint) {
    FILE *out = tmpfile(), *err = tmpfile();
    ck_assert(out && err);
    fflush(NULL);
    const pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fileno(out), STDOUT_FILENO), dup2(fileno(err), STDERR_FILENO);
        alarm((unsigned)seconds);
#ifndef __SANITIZE_ADDRESS__ /* AddressSanitizer reserves terabytes of address space */
        struct rlimit lim = {(rlim_t)512 << 20, (rlim_t)512 << 20};
        if (!program) setrlimit(RLIMIT_AS, &lim);
#endif
        if (pending_sigint) {
            sigset_t s;
            sigemptyset(&s), sigaddset(&s, SIGINT);
            sigprocmask(SIG_BLOCK, &s, NULL);
            raise(SIGINT);
        }
        if (!program) {
            util_set_program("test");
            fn(arg);
            fflush(NULL);
            _exit(0);
        }
        char path[512];
        const char *dir = getenv("NOTEBOOK_BINDIR");
        snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : ".", program);
        const char *argv[64] = {path};
        int argc = 1;
        for (; args && args[argc - 1] && argc < 63; argc++) argv[argc] = args[argc - 1];
        argv[argc] = NULL;
        execv(path, (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    fseek(out, 0, SEEK_END), fseek(err, 0, SEEK_END);
    Run o = {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), read_back(out), read_back(err)};
    return o;
}

static Run run_fn(void (*fn)(const void *), const void *arg) { return run_child(fn, arg, NULL, NULL, 10, false); }

/* ./program args: at most 120 s (sanitizer builds are slow). */
static Run run_program(const char *program, const char *const *args) {
    return run_child(NULL, NULL, program, args, 120, false);
}

/* The outcome must be `status` with one line on stderr holding `must` (and `also`, when given). */
static void expect(const Run *o, int status, const char *must, const char *also) {
    ck_assert_msg(o->status == status && count_lines(o->err) == 1 && strstr(o->err, must) &&
                      (!also || strstr(o->err, also)),
                  "exit %d (want %d), stderr \"%s\" (want \"%s\"%s%s)", o->status, status, o->err, must,
                  also ? " and " : "", also ? also : "");
}

/* A fresh folder under /tmp, removed by remove_dir (chapter_run.h). */
static void make_dir(char *dir) {
    strcpy(dir, "/tmp/llm-notebook-rel-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* Files in dir whose names start with prefix. */
static int files_starting(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* ==== defect 2 and the minor ones: the command line ==== */

typedef struct {
    const char *prompt, *file, *figures_unused;
    double rate;
    CliOption opts[3];
    CliSpec spec;
    CliCommon common;
    char err[512];
} CliFixture;

static CliResult parse2(CliFixture *f, const char *flag, const char *value) {
    memset(f, 0, sizeof *f);
    f->prompt = "", f->file = NULL, f->rate = 0.5;
    f->opts[0] = cli_string("--prompt", &f->prompt, "TEXT", "text");
    f->opts[1] = cli_string("--load", &f->file, "FILE", "a file");
    f->opts[2] = cli_real("--rate", &f->rate, 0, 100, "R", "a rate");
    f->spec = (CliSpec){"prog", "test", f->opts, 3};
    f->common = cli_common_defaults();
    const char *argv[] = {"prog", flag, value, NULL};
    return cli_parse_args(&f->spec, &f->common, 3, (char **)argv, f->err, sizeof f->err);
}

START_TEST(test_cli_text_is_utf8) {
    CliFixture f;
    ck_assert_int_eq(parse2(&f, "--prompt", "zo \xe4"), CLI_ERROR); /* a lead byte at the very end */
    ck_assert_ptr_nonnull(strstr(f.err, "--prompt: not valid UTF-8 at byte 3 (0xe4)"));
    ck_assert_int_eq(parse2(&f, "--prompt", "caf\xe9 au lait"), CLI_ERROR);
    ck_assert_int_eq(parse2(&f, "--prompt", "\xed\xa0\x80"), CLI_ERROR); /* a surrogate */
    ck_assert_int_eq(parse2(&f, "--prompt", "一 只 猫 zo"), CLI_PARSED);
    ck_assert_str_eq(f.prompt, "一 只 猫 zo");
    ck_assert_int_eq(parse2(&f, "--load", "caf\xe9.ckpt"), CLI_PARSED); /* a path is any bytes */
    ck_assert_int_eq(parse2(&f, "--load", ""), CLI_ERROR);
    ck_assert_ptr_nonnull(strstr(f.err, "--load: an empty name"));
    ck_assert_int_eq(parse2(&f, "--figures", ""), CLI_ERROR); /* '' would have meant the root folder */
    ck_assert_ptr_nonnull(strstr(f.err, "--figures: an empty name; expected a folder name"));
}
END_TEST

START_TEST(test_cli_decimal_only) {
    CliFixture f;
    const char *refused[] = {"0x10", "0X1p3", "inf", "infinity", "nan", "1e", ".", "+", "1.5x", "--1"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        ck_assert_msg(parse2(&f, "--rate", refused[i]) == CLI_ERROR, "'%s' accepted", refused[i]);
        ck_assert_ptr_nonnull(strstr(f.err, "is not a number"));
    }
    const struct {
        const char *text;
        double v;
    } good[] = {{"16", 16}, {"1.5", 1.5}, {".5", 0.5}, {"5.", 5}, {"1e-3", 1e-3}, {"+2.5E1", 25}, {"0", 0}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ck_assert_msg(parse2(&f, "--rate", good[i].text) == CLI_PARSED, "'%s': %s", good[i].text, f.err);
        ck_assert_double_eq(f.rate, good[i].v);
    }
}
END_TEST

/* The tokenizer on a broken sequence at the end of a string stops at the NUL (it used to read on
 * into the next argument): four tokens, the last the lone byte. */
START_TEST(test_tokenizer_stops_at_nul) {
    char *s = malloc(5);
    memcpy(s, "zo \xe4", 5);
    char **tok;
    int n = tokenize_line(s, LEVEL_CHAR, &tok);
    ck_assert_int_eq(n, 4);
    ck_assert_str_eq(tok[3], "\xe4");
    tokens_free(tok, n);
    ck_assert_int_eq((n = tokenize_line(s, LEVEL_WORD, &tok)), 2); /* "zo" and the byte, alone */
    tokens_free(tok, n);
    free(s);
}
END_TEST

/* ==== defect 16: lines of Unicode spaces are no text ==== */

START_TEST(test_unicode_blank_lines) {
    Lines l;
    lines_split(&l, "\xc2\xa0\xc2\xa0\n\xe3\x80\x80 \xe3\x80\x80\n \t\n zo ze\n\xe3\x80\x80x\n");
    ck_assert_int_eq(l.n, 2);
    ck_assert_str_eq(l.line[0], " zo ze");
    lines_free(&l);
}
END_TEST

/* ==== defects 8 and 9: FIFOs and endless devices ==== */

static void read_corpus(const void *path) { free(corpus_read_file(path, NULL)); }

static void read_checkpoint(const void *path) {
    Checkpoint ck;
    checkpoint_load(&ck, path);
    checkpoint_free(&ck);
}

START_TEST(test_no_fifo_or_device_is_read) {
    char dir[64], fifo[128];
    make_dir(dir);
    snprintf(fifo, sizeof fifo, "%s/pipe", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    Run o = run_fn(read_corpus, fifo); /* used to wait for a writer forever */
    expect(&o, 1, fifo, "not a regular file");
    run_free(&o);
    o = run_fn(read_checkpoint, fifo);
    expect(&o, 1, "cannot read checkpoint", "not a regular file");
    run_free(&o);
    const char *endless[] = {"/dev/zero", "/dev/urandom"}; /* used to be read until memory ran out */
    for (int i = 0; i < 2; i++) {
        if (access(endless[i], R_OK) != 0) continue;
        o = run_fn(read_corpus, endless[i]);
        expect(&o, 1, endless[i], "not a regular file");
        run_free(&o);
        o = run_fn(read_checkpoint, endless[i]);
        expect(&o, 1, endless[i], "not a regular file");
        run_free(&o);
    }
    remove_dir(dir);
}
END_TEST

/* ==== crafted checkpoints (defects 5, 6, 7, 15) ==== */

static const ModelConfig tiny_cfg = {.vocab = 8, .d_model = 8, .heads = 2, .d_ff = 16, .layers = 1, .max_len = 8,
                                     .causal = true, .norm = NORM_PRE, .pos = POS_SINUSOIDAL, .act = ACT_GELU,
                                     .tied = true};

typedef struct {
    unsigned char *data;
    size_t len;
    size_t after_params; /* offset of AdamW's step */
    size_t params;       /* offset of the first parameter */
} Crafted;

/* A real checkpoint of a tiny model trained for 3 steps, with a schedule and a loss history. */
static Crafted crafted(const ModelConfig *c) {
    Model m;
    model_init(&m, c, 1, 7);
    Vocab v;
    vocab_init(&v);
    for (int i = 3; i < c->vocab; i++) {
        char w[16];
        snprintf(w, sizeof w, "w%d", i);
        vocab_add(&v, w);
    }
    AdamW o;
    adamw_init(&o, m.n_params, 0.9f, 0.95f, 1e-8f, 0.1f);
    o.step = 3;
    LossPoint h[2] = {{0, 2.1, 2.0}, {3, 1.9, 1.8}};
    TrainState ts = {.steps_done = 3, .has_schedule = true, .schedule = {.steps = 10, .warmup = 2, .lr = 1e-3, .clip = 1.0, .lr_min = 2.5e-4}, .history = h, .n_history = 2};
    rng_seed(&ts.data_rng, 1, 10);
    Crafted k = {0};
    k.data = checkpoint_serialize(&m, &v, LEVEL_CHAR, &o, &ts, &k.len);
    k.params = 64 + 8;
    for (int i = 0; i < v.size; i++) k.params += 4 + strlen(v.word[i]);
    k.after_params = k.params + 4 * m.n_params;
    adamw_free(&o), vocab_free(&v), model_free(&m);
    return k;
}

static void put32(Crafted *k, size_t off, uint32_t v) {
    for (int i = 0; i < 4; i++) k->data[off + i] = (unsigned char)(v >> (8 * i));
}

static void put64(Crafted *k, size_t off, uint64_t v) {
    for (int i = 0; i < 8; i++) k->data[off + i] = (unsigned char)(v >> (8 * i));
}

static void reseal(Crafted *k) { put64(k, k->len - 8, checkpoint_checksum(k->data, k->len - 8)); }

/* Parse must refuse with a message holding `must`. */
static void refused(Crafted *k, const char *must) {
    reseal(k);
    Checkpoint ck;
    char err[256] = "";
    const bool ok = checkpoint_parse(&ck, k->data, k->len, err, sizeof err);
    if (ok) checkpoint_free(&ck);
    ck_assert_msg(!ok, "accepted a checkpoint that should fail with \"%s\"", must);
    ck_assert_msg(strstr(err, must) != NULL, "got \"%s\", want \"%s\"", err, must);
    free(k->data);
}

START_TEST(test_crafted_checkpoints_refused) {
    Crafted k = crafted(&tiny_cfg);
    put32(&k, 12, 2); /* vocab 2: fewer than the three special tokens (aborted on --generate) */
    put32(&k, 60, 2);
    refused(&k, "vocab is 2, outside 3..");
    k = crafted(&tiny_cfg);
    put64(&k, k.after_params, (uint64_t)-1); /* AdamW's step -1 (aborted on resume) */
    refused(&k, "AdamW's step -1");
    k = crafted(&tiny_cfg);
    put64(&k, k.after_params, (uint64_t)INT64_MAX); /* overflowed on the next step */
    refused(&k, "AdamW's step 9223372036854775807");
    k = crafted(&tiny_cfg);
    put64(&k, k.after_params + 8, (uint64_t)-5);
    refused(&k, "steps done -5");
    k = crafted(&tiny_cfg);
    put32(&k, 12 + 5 * 4, 8192); /* max_len 8192 with sinusoidal positions: 45 KB asking for 9 GB */
    refused(&k, "max_len is 8192, outside 1..4096");
    k = crafted(&tiny_cfg);
    put32(&k, 12 + 6 * 4, 2); /* causal must be 0 or 1 */
    refused(&k, "causal is 2");
    k = crafted(&tiny_cfg);
    /* a NaN in block 0's W^Q: wte (8 x 8), ln1.g, ln1.b (8 each), then Wq; its element 5 */
    put32(&k, k.params + 4 * (64 + 16 + 5), 0x7fc00000u);
    refused(&k, "the parameter of block0.attn.Wq holds nan at element 5");
    k = crafted(&tiny_cfg);
    put32(&k, k.params + 4 * 3, 0x7f800000u); /* +inf in wte */
    refused(&k, "the parameter of wte holds inf at element 3");
    k = crafted(&tiny_cfg);
    const size_t n_params = (k.after_params - k.params) / 4;
    put32(&k, k.after_params + 32 + 4 * n_params + 4 * 2, 0xbf800000u); /* -1 as a second moment */
    refused(&k, "AdamW's second moment of wte holds -1 at element 2");
    k = crafted(&tiny_cfg);
    put32(&k, 56, 7); /* a token level that does not exist */
    refused(&k, "token level 7");
}
END_TEST

/* Within every limit, yet beyond this machine: 64 blocks of 64 heads over 4096 positions need
 * 275 GB of attention weights for one sequence. Refused at load, exit 1, before any allocation
 * (it used to be a usage error, exit 2, advising smaller flags). The model is described by hand:
 * building it would be what the check prevents. */
static void load_path(const void *path) {
    Checkpoint ck;
    checkpoint_load(&ck, path);
    checkpoint_free(&ck);
}

START_TEST(test_checkpoint_too_large_for_the_machine) {
    const ModelConfig c = {.vocab = 4, .d_model = 64, .heads = 64, .d_ff = 1, .layers = 64, .max_len = 4096,
                           .causal = true, .norm = NORM_PRE, .pos = POS_SINUSOIDAL, .act = ACT_RELU, .tied = true};
    if (util_physical_memory() > 2.5e11) return; /* a machine that would hold it */
    Model m;
    memset(&m, 0, sizeof m);
    m.cfg = c, m.n_params = (size_t)model_param_count(&c);
    m.param_mem = calloc(m.n_params, sizeof(float));
    Vocab v;
    vocab_init(&v);
    vocab_add(&v, "a");
    size_t len;
    unsigned char *bytes = checkpoint_serialize(&m, &v, LEVEL_CHAR, NULL, NULL, &len);
    char dir[64], path[128];
    make_dir(dir);
    snprintf(path, sizeof path, "%s/huge.ckpt", dir);
    FILE *f = fopen(path, "wb");
    ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
    fclose(f);
    Run o = run_fn(load_path, path);
    expect(&o, 1, "(layers 64, heads 64, max_len 4096) would need at least", "more than this machine's");
    run_free(&o);
    remove_dir(dir);
    free(bytes), free(m.param_mem);
    vocab_free(&v);
}
END_TEST

/* Version 2's sections: the schedule and the history come back; an unknown optional section is
 * skipped, an unknown required one refused; a version 1 file (no sections) still loads. */
START_TEST(test_checkpoint_v2_sections) {
    Crafted k = crafted(&tiny_cfg);
    Checkpoint ck;
    char err[256] = "";
    ck_assert_msg(checkpoint_parse(&ck, k.data, k.len, err, sizeof err), "%s", err);
    ck_assert_int_eq(ck.version, 2);
    ck_assert(ck.train.has_schedule);
    ck_assert_int_eq(ck.train.schedule.steps, 10);
    ck_assert_int_eq(ck.train.schedule.warmup, 2);
    ck_assert_double_eq(ck.train.schedule.lr, 1e-3);
    ck_assert_double_eq(ck.train.schedule.clip, 1.0);
    ck_assert_double_eq(ck.train.schedule.lr_min, 2.5e-4); /* --lr-end 0.25: the final rate, to the bit */
    ck_assert_int_eq(ck.train.n_history, 2);
    ck_assert_int_eq(ck.train.history[1].step, 3);
    ck_assert_double_eq(ck.train.history[1].val, 1.8);
    checkpoint_free(&ck);
    const size_t n_params = (k.after_params - k.params) / 4;
    const size_t sections = k.after_params + 32 + 8 * n_params; /* after the two moments */
    /* an optional section a later program might write, inserted first: skipped */
    Crafted more = {malloc(k.len + 15), k.len + 15, k.after_params, k.params};
    memcpy(more.data, k.data, sections);
    memcpy(more.data + sections, "bpem\3\0\0\0\0\0\0\0abc", 15);
    memcpy(more.data + sections + 15, k.data + sections, k.len - sections);
    reseal(&more);
    ck_assert_msg(checkpoint_parse(&ck, more.data, more.len, err, sizeof err), "%s", err);
    ck_assert(ck.train.has_schedule && ck.train.n_history == 2);
    checkpoint_free(&ck);
    more.data[sections] = 'B'; /* the same section, required: an older program must refuse */
    refused(&more, "needs section 'Bpem'");
    /* the history with its steps out of order */
    Crafted bad = {malloc(k.len), k.len, k.after_params, k.params};
    memcpy(bad.data, k.data, k.len);
    const size_t loss = sections + 12 + 40 + 12 + 4; /* schd header and body, loss header, count */
    ck_assert_int_eq(k.len, loss + 2 * 24 + 16 + 8);
    put64(&bad, loss + 24, 0);
    refused(&bad, "loss history point 1");
    /* a schedule that ends above its peak rate (its last f64, just before the loss section) */
    bad.data = malloc(k.len);
    memcpy(bad.data, k.data, k.len);
    const double above = 2e-3;
    memcpy(bad.data + sections + 12 + 32, &above, 8);
    reseal(&bad);
    refused(&bad, "invalid schedule: it ends at the rate 0.002, outside 0 .. the peak 0.001");
    /* version 1: the same file without its sections */
    Crafted v1 = {malloc(sections + 8), sections + 8, k.after_params, k.params};
    memcpy(v1.data, k.data, sections);
    put32(&v1, 8, 1);
    reseal(&v1);
    ck_assert_msg(checkpoint_parse(&ck, v1.data, v1.len, err, sizeof err), "%s", err);
    ck_assert_int_eq(ck.version, 1);
    ck_assert(!ck.train.has_schedule && ck.train.n_history == 0);
    ck_assert_int_eq(ck.train.steps_done, 3);
    checkpoint_free(&ck);
    free(v1.data);
    put32(&k, 8, 3);
    refused(&k, "checkpoint version 3, but this program reads versions 1 and 2");
}
END_TEST

/* ==== defects 3, 11, 12 and the minor one: where a checkpoint is written ==== */

static Model save_model;
static Vocab save_vocab;

static void save_to(const void *path) { checkpoint_save(path, &save_model, &save_vocab, LEVEL_CHAR, NULL, NULL); }

static void check_output(const void *path) { util_check_output("--save", path); }

/* Defect 12: a link planted where the temporary file used to go is never followed. */
static void check_planted_link(const char *path, const char *victim, const char *planted) {
    write_text(victim, "keep me\n");
    ck_assert_int_eq(symlink(victim, planted), 0);
    Run o = run_fn(save_to, path);
    ck_assert_msg(o.status == 0, "%s", o.err);
    run_free(&o);
    long n;
    FILE *f = fopen(victim, "r");
    char text[32] = "";
    n = (long)fread(text, 1, sizeof text - 1, f);
    fclose(f);
    ck_assert_int_eq(n, 8);
    ck_assert_str_eq(text, "keep me\n");
    Checkpoint ck;
    checkpoint_load(&ck, path);
    checkpoint_free(&ck);
}

/* Defect 11: a failed rename (onto a folder) leaves no temporary file. */
static void check_failed_rename(const char *dir, const char *sub) {
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    Run o = run_fn(save_to, sub);
    expect(&o, 1, sub, "not a regular file");
    run_free(&o);
    ck_assert_int_eq(files_starting(dir, "sub.tmp"), 0);
}

/* Defect 3: a FIFO (or a device, as root) is not replaced; nor a symbolic link (minor). */
static void check_special_files_kept(const char *dir, const char *path, const char *fifo, const char *link) {
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(symlink(path, link), 0);
    const char *kept[] = {fifo, link};
    for (int i = 0; i < 2; i++) {
        Run o = run_fn(save_to, kept[i]);
        expect(&o, 1, kept[i], "not a regular file");
        run_free(&o);
        struct stat st;
        ck_assert_int_eq(lstat(kept[i], &st), 0);
        ck_assert(i == 0 ? S_ISFIFO(st.st_mode) : S_ISLNK(st.st_mode));
    }
    ck_assert_int_eq(files_starting(dir, "fifo.tmp") + files_starting(dir, "link.ckpt.tmp"), 0);
}

/* Defect 13: the same targets, and a missing folder and '', refused before any work; an existing
 * regular file and a new name pass the check, which leaves nothing behind. */
static void check_refused_before_work(const char *dir, const char *path, const char *sub, const char *fifo,
                                      const char *link, const char *missing) {
    Run o;
    const struct {
        const char *path, *message;
    } before[] = {{"", "an empty file name"},      {sub, "is a directory"}, {fifo, "is not a regular file"},
                  {link, "is a symbolic link"},    {missing, "cannot create a file in the folder"},
                  {"/dev/null", "is not a regular file"}};
    for (size_t i = 0; i < sizeof before / sizeof before[0]; i++) {
        o = run_fn(check_output, before[i].path);
        expect(&o, 2, "--save: ", before[i].message);
        run_free(&o);
    }
    o = run_fn(check_output, path); /* an existing regular file, and a new name, are fine */
    ck_assert_int_eq(o.status, 0);
    run_free(&o);
    char fresh[160];
    snprintf(fresh, sizeof fresh, "%s/new.ckpt", dir);
    o = run_fn(check_output, fresh);
    ck_assert_int_eq(o.status, 0);
    ck_assert_int_eq(access(fresh, F_OK), -1); /* nothing left behind by the check */
    ck_assert_int_eq(files_starting(dir, ".write-test"), 0);
    run_free(&o);
}

START_TEST(test_save_targets) {
    model_init(&save_model, &tiny_cfg, 1, 3);
    vocab_init(&save_vocab);
    for (int i = 3; i < tiny_cfg.vocab; i++) vocab_add(&save_vocab, (const char[]){(char)('a' + i), 0});
    char dir[64], path[128], victim[128], planted[160], fifo[128], link[128], sub[128], missing[160];
    make_dir(dir);
    snprintf(path, sizeof path, "%s/model.ckpt", dir), snprintf(victim, sizeof victim, "%s/victim.txt", dir);
    snprintf(planted, sizeof planted, "%s.tmp", path), snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    snprintf(link, sizeof link, "%s/link.ckpt", dir), snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(missing, sizeof missing, "%s/no/such/folder/x.ckpt", dir);
    check_planted_link(path, victim, planted);
    check_failed_rename(dir, sub);
    check_special_files_kept(dir, path, fifo, link);
    check_refused_before_work(dir, path, sub, fifo, link, missing);
    remove_dir(dir);
    vocab_free(&save_vocab), model_free(&save_model);
}
END_TEST

/* ==== the chapters ==== */

/* A tiny chapter 10 run: these flags, then `extra` (NULL-terminated). */
static Run run10(const char *const *extra, bool pending_sigint) {
    const char *args[48] = {"--lines", "200", "--layers", "1", "--d-model", "8", "--heads", "2", "--context", "8",
                            "--sample", "0", "--no-plot"};
    int n = 13;
    for (int i = 0; extra[i]; i++) args[n++] = extra[i];
    args[n] = NULL;
    return run_child(NULL, NULL, "ch10_gpt_pretraining", args, 120, pending_sigint);
}

/* Defects 3 and 13 (and the symbolic-link one): a --save target is checked before training. */
START_TEST(test_save_checked_first) {
    char dir[64], missing[128], fifo[128];
    make_dir(dir);
    snprintf(missing, sizeof missing, "%s/none/x.ckpt", dir), snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    const char *targets[] = {missing, fifo, dir, ""};
    for (int i = 0; i < 4; i++) {
        Run o = run10((const char *[]){"--steps", "20", "--save", targets[i], NULL}, false);
        expect(&o, 2, "--save: ", NULL);
        ck_assert_msg(strstr(o.out, "train loss") == NULL, "trained before refusing --save %s", targets[i]);
        run_free(&o);
    }
    struct stat st;
    ck_assert(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode));
    Run o = run_program("ch11_masked_lm", (const char *[]){"--save", dir, "--steps", "2", "--no-plot", NULL});
    expect(&o, 2, "--save: ", "is a directory");
    run_free(&o);
    remove_dir(dir);
}
END_TEST
/* Defect 17: a prompt longer than the context is kept in part, and the run says so. */
START_TEST(test_ch10_long_prompt) {
    char dir[64], path[128];
    make_dir(dir);
    snprintf(path, sizeof path, "%s/chr.ckpt", dir);
    Run o = run10((const char *[]){"--steps", "2", "--save", path, NULL}, false);
    ck_assert_msg(o.status == 0, "%s", o.err);
    run_free(&o);
    o = run_program("ch10_gpt_pretraining", (const char *[]){"--load", path, "--generate", "3", "--prompt",
                                                             "zo ba ze . xa pel xe .", NULL});
    expect(&o, 0, "--prompt: 22 tokens", "context of 8");
    ck_assert_ptr_nonnull(strstr(o.out, "zo ba ze . xa pel xe .")); /* the whole prompt is shown */
    run_free(&o);
    remove_dir(dir);
}
END_TEST

/* Defect 10: Ctrl-C during chapter 10's sections after training (here one waiting before the
 * program starts, and no training left to do) stops it there: one line, status 130, saved. */
START_TEST(test_ch10_ctrl_c_after_training) {
    char dir[64], path[128];
    make_dir(dir);
    snprintf(path, sizeof path, "%s/after.ckpt", dir);
    Run o = run10((const char *[]){"--steps", "0", "--save", path, NULL}, true);
    expect(&o, 130, "interrupted after step 0 of 0; saved", NULL);
    ck_assert_msg(strstr(o.out, "Summary") == NULL, "ran to the end:\n%s", o.out);
    ck_assert_int_eq(access(path, F_OK), 0);
    run_free(&o);
    remove_dir(dir);
}
END_TEST

/* Defect 16: lines of non-breaking or ideographic spaces are no text. */
START_TEST(test_text_without_tokens) {
    char dir[64], blank[128];
    make_dir(dir);
    snprintf(blank, sizeof blank, "%s/blank.txt", dir);
    FILE *f = fopen(blank, "w");
    for (int i = 0; i < 30; i++) fputs(i % 2 ? "\xc2\xa0\xc2\xa0\n" : "\xe3\x80\x80\n", f);
    fclose(f);
    Run o = run_program("ch02_neural_lm", (const char *[]){"--corpus", blank, "--level", "word", "--no-plot", NULL});
    expect(&o, 1, blank, "no line with text");
    run_free(&o);
    o = run_program("ch11_masked_lm", (const char *[]){"--val-file", blank, "--steps", "2", "--no-plot", NULL});
    expect(&o, 1, blank, "no line with text");
    run_free(&o);
    remove_dir(dir);
}
END_TEST
static Checkpoint load_ck(const char *path) {
    Checkpoint ck;
    checkpoint_load(&ck, path);
    return ck;
}

/* Issue 18: a run stopped by Ctrl-C and resumed with --load alone (the stored schedule, to its
 * stored total) ends in the same parameters, optimiser state and loss history as the run that was
 * never stopped; extending a finished run says what it does, and its table starts from step 0;
 * a version 1 file still loads. */
/* b (stopped after step 2 and resumed) and c (never stopped): the same parameters, moments,
 * schedule and loss history, bit for bit. */
static void check_resumed_is_straight(const char *b, const char *c) {
    Checkpoint kb = load_ck(b), kc = load_ck(c);
    ck_assert_int_eq(kb.train.steps_done, 30);
    ck_assert(memcmp(kb.params, kc.params, sizeof(float) * kc.n_params) == 0);
    ck_assert(memcmp(kb.adam_m, kc.adam_m, sizeof(float) * kc.n_params) == 0);
    ck_assert(memcmp(kb.adam_v, kc.adam_v, sizeof(float) * kc.n_params) == 0);
    ck_assert(kb.train.has_schedule && kb.train.schedule.steps == 30 && kb.train.schedule.warmup == 5);
    ck_assert_int_eq(kb.train.n_history, 4); /* steps 0, 10, 20, 30 */
    ck_assert_int_eq(kc.train.n_history, 4);
    ck_assert(memcmp(kb.train.history, kc.train.history, 4 * sizeof(LossPoint)) == 0);
    checkpoint_free(&kb), checkpoint_free(&kc);
}

/* Extending the finished run c to 40 steps (saved in d): the stored schedule's final rate, said;
 * the table from step 0, repeating the stored rows; a different --lr refused. */
static void check_extended(const char *c, const char *d, const char *rows) {
    Run o = run10((const char *[]){"--load", c, "--steps", "40", "--eval-every", "10", "--save", d, NULL}, false);
    ck_assert_msg(o.status == 0, "%s", o.err);
    ck_assert_ptr_nonnull(strstr(o.out, "steps 31 to 40 go beyond it and run at its final rate 0.0003"));
    ck_assert_msg(strstr(o.out, rows) != NULL, "the resumed table does not repeat the stored rows:\n%s\nin\n%s", rows, o.out);
    ck_assert_ptr_nonnull(strstr(o.out, "      40 "));
    run_free(&o);
    Checkpoint kd = load_ck(d);
    ck_assert_int_eq(kd.train.n_history, 5);
    ck_assert_int_eq(kd.train.schedule.steps, 30);
    checkpoint_free(&kd);
    o = run10((const char *[]){"--load", c, "--lr", "0.001", NULL}, false);
    expect(&o, 2, "--lr: 0.001, but the checkpoint", NULL);
    run_free(&o);
}

/* Version 1: c without its sections, written to v1, loads; resuming it says that the schedule is
 * rebuilt from the flags. */
static void check_version_1(const char *c, const char *v1) {
    FILE *f = fopen(c, "rb");
    ck_assert_ptr_nonnull(f);
    unsigned char *bytes = malloc(1 << 20);
    const size_t len = fread(bytes, 1, 1 << 20, f);
    fclose(f);
    Checkpoint parsed;
    char err[256];
    ck_assert(checkpoint_parse(&parsed, bytes, len, err, sizeof err));
    const size_t end = len - 8 - (12 + 40) - (12 + 20 + 24 * 4); /* both sections off */
    checkpoint_free(&parsed);
    Crafted k = {bytes, end + 8, 0, 0};
    put32(&k, 8, 1);
    reseal(&k);
    f = fopen(v1, "wb");
    fwrite(k.data, 1, k.len, f);
    fclose(f);
    free(bytes);
    Run o = run_program("ch10_gpt_pretraining", (const char *[]){"--load", v1, "--generate", "5", NULL});
    ck_assert_msg(o.status == 0, "%s", o.err);
    run_free(&o);
    o = run10((const char *[]){"--load", v1, "--steps", "35", NULL}, false);
    ck_assert_msg(o.status == 0, "%s", o.err);
    ck_assert_ptr_nonnull(strstr(o.out, "holds no learning-rate schedule (version 1)"));
    run_free(&o);
}

START_TEST(test_resume_continues_the_schedule) {
    char dir[64], a[128], b[128], c[128], d[128], v1[128];
    make_dir(dir);
    snprintf(a, sizeof a, "%s/a", dir), snprintf(b, sizeof b, "%s/b", dir), snprintf(c, sizeof c, "%s/c", dir);
    snprintf(d, sizeof d, "%s/d", dir), snprintf(v1, sizeof v1, "%s/v1", dir);
    Run o = run10((const char *[]){"--steps", "30", "--warmup", "5", "--eval-every", "10", "--save", a, NULL}, true);
    expect(&o, 130, "interrupted after step 2 of 30", NULL); /* after section 4's two steps */
    run_free(&o);
    o = run10((const char *[]){"--load", a, "--eval-every", "10", "--save", b, NULL}, false);
    ck_assert_msg(o.status == 0, "%s", o.err);
    ck_assert_ptr_nonnull(strstr(o.out, "the stored schedule continues: peak rate 0.003, warm-up 5 steps"));
    run_free(&o);
    o = run10((const char *[]){"--steps", "30", "--warmup", "5", "--eval-every", "10", "--save", c, NULL}, false);
    ck_assert_msg(o.status == 0, "%s", o.err);
    const char *table = strstr(o.out, "      10 "); /* the straight run's rows for steps 10, 20, 30 */
    ck_assert_ptr_nonnull(table);
    char rows[256];
    snprintf(rows, sizeof rows, "%.*s", (int)(strstr(table, "      30 ") + 48 - table), table);
    run_free(&o);
    check_resumed_is_straight(b, c);
    check_extended(c, d, rows);
    check_version_1(c, v1);
    remove_dir(dir);
}
END_TEST

/* Defect 15, its other form: finite weights whose attention scores overflow (the fuzzer's
 * tests/fuzz/regress/checkpoint/huge-weights-scores-overflow, its mode byte off, sealed again).
 * --eval printed "loss -nan", exit 0, and --generate printed tokens drawn from NaN. */
START_TEST(test_ch10_overflowing_weights) {
    FILE *f = fopen("tests/fuzz/regress/checkpoint/huge-weights-scores-overflow", "rb");
    ck_assert_ptr_nonnull(f);
    unsigned char *bytes = malloc(1 << 16);
    const size_t len = fread(bytes, 1, 1 << 16, f);
    fclose(f);
    ck_assert(len > 9 && (bytes[0] & 1));
    Crafted k = {bytes + 1, len - 1, 0, 0};
    reseal(&k);
    char dir[64], ck[128], text[128];
    make_dir(dir);
    snprintf(ck, sizeof ck, "%s/huge.ckpt", dir), snprintf(text, sizeof text, "%s/text.txt", dir);
    f = fopen(ck, "wb");
    ck_assert_uint_eq(fwrite(k.data, 1, k.len, f), k.len);
    fclose(f);
    free(bytes);
    write_text(text, "zo ze .\n");
    Run o = run_program("ch10_gpt_pretraining", (const char *[]){"--load", ck, "--eval", text, NULL});
    expect(&o, 1, "its weights overflow", "line 1 of");
    run_free(&o);
    o = run_program("ch10_gpt_pretraining", (const char *[]){"--load", ck, "--generate", "5", NULL});
    expect(&o, 1, "its weights overflow", "nothing can be sampled");
    run_free(&o);
    remove_dir(dir);
}
END_TEST

/* Defect 1: chapter 2's n-gram of order context + 1 exists up to order 6. */
START_TEST(test_ch02_context_range) {
    Run o = run_program("ch02_neural_lm", (const char *[]){"--context", "6", "--lines", "200", "--steps", "5",
                                                               "--eval-every", "5", "--hidden", "8", "--no-plot", NULL});
    expect(&o, 2, "--context: 6 is out of range; expected a whole number from 1 to 5", NULL);
    run_free(&o);
}
END_TEST
/* Defect 13: --blanks longer than the context, found before training. */
START_TEST(test_ch11_blanks_checked_first) {
    const char *blanks = "_ a b c d e f g h i j k l m n o p q r s t u v w x y z";
    Run o = run_program("ch11_masked_lm", (const char *[]){"--context", "16", "--blanks", blanks, "--lines", "200",
                                                               "--steps", "2", "--no-plot", NULL});
    expect(&o, 2, "--blanks: ", "context");
    ck_assert_msg(strstr(o.out, "\n5. ") == NULL, "trained before refusing --blanks:\n%s", o.out);
    run_free(&o);
}
END_TEST
/* Defects 4 and 14: checkpoints of a short context, and flags that contradict one (defect 17,
 * a prompt longer than the context, is test_ch10_long_prompt). */
START_TEST(test_loaded_checkpoints_used_right) {
    char dir[64], dec[128], enc[128];
    make_dir(dir);
    snprintf(dec, sizeof dec, "%s/dec.ckpt", dir), snprintf(enc, sizeof enc, "%s/enc.ckpt", dir);
    const char *small[] = {"--lines", "1000", "--layers", "1", "--d-model", "8", "--heads", "2", "--context", "16",
                           "--steps", "2", "--no-plot"};
    const char *a[32], *b[32];
    int n = 0;
    for (int i = 0; i < 13; i++) a[n] = small[i], b[n++] = small[i];
    a[n] = "--level", b[n++] = "--save";
    a[n] = "word", b[n++] = enc;
    a[n] = "--sample", b[n++] = NULL;
    a[n++] = "0", a[n++] = "--save", a[n++] = dec, a[n] = NULL;
    Run o = run_program("ch10_gpt_pretraining", a);
    ck_assert_msg(o.status == 0, "%s", o.err);
    run_free(&o);
    o = run_program("ch11_masked_lm", b);
    ck_assert_msg(o.status == 0, "%s", o.err);
    run_free(&o);
    /* chapter 12 used to abort: "batch 1 x 27 exceeds 1 x 16" */
    const char *kinds[2][2] = {{"--load-decoder", dec}, {"--load-encoder", enc}};
    for (int k = 0; k < 2; k++) {
        o = run_program("ch12_fine_tuning", (const char *[]){kinds[k][0], kinds[k][1], "--pretrain-steps", "2", "--ft-steps",
                                                             "1", "--seeds", "1", "--lines", "1000", "--no-plot", NULL});
        expect(&o, 1, kinds[k][1], "context");
        run_free(&o);
    }
    /* chapter 11 used to ignore flags that contradict its checkpoint */
    o = run_program("ch11_masked_lm", (const char *[]){"--load", enc, "--d-model", "32", "--lines", "1000", "--no-plot", NULL});
    expect(&o, 2, "--d-model: 32, but the checkpoint", NULL);
    run_free(&o);
    remove_dir(dir);
}
END_TEST
/* Defect 10: Ctrl-C (here one waiting before the program starts) stops chapters 2 and 12, and
 * chapter 10 after its training, with one line and status 130. */
START_TEST(test_ctrl_c_everywhere) {
    struct {
        const char *program;
        const char *args[16];
    } runs[] = {
        {"ch02_neural_lm", {"--lines", "200", "--steps", "50", "--hidden", "8", "--no-plot", NULL}},
        {"ch12_fine_tuning", {"--lines", "1000", "--pretrain-steps", "50", "--ft-steps", "5", "--seeds", "1", "--no-plot", NULL}},
        {"ch11_masked_lm", {"--lines", "200", "--steps", "50", "--context", "16", "--d-model", "8", "--heads", "2",
                            "--no-plot", NULL}},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        Run o = run_child(NULL, NULL, runs[i].program, runs[i].args, 120, true);
        expect(&o, 130, "interrupted", NULL);
        run_free(&o);
    }
    /* no training left to do: the Ctrl-C arrives during the sections after it */
    Run o = run10((const char *[]){"--steps", "0", NULL}, true);
    expect(&o, 130, "interrupted", NULL);
    ck_assert_msg(strstr(o.out, "Summary") == NULL, "ran to the end:\n%s", o.out);
    run_free(&o);
}
END_TEST
Suite *reliability_suite(void) {
    Suite *s = suite_create("reliability");
    TCase *tc = tcase_create("library");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_cli_text_is_utf8);
    tcase_add_test(tc, test_cli_decimal_only);
    tcase_add_test(tc, test_tokenizer_stops_at_nul);
    tcase_add_test(tc, test_unicode_blank_lines);
    tcase_add_test(tc, test_no_fifo_or_device_is_read);
    tcase_add_test(tc, test_crafted_checkpoints_refused);
    tcase_add_test(tc, test_checkpoint_v2_sections);
    tcase_add_test(tc, test_checkpoint_too_large_for_the_machine);
    tcase_add_test(tc, test_save_targets);
    suite_add_tcase(s, tc);
    TCase *ch = tcase_create("chapters");
    tcase_set_timeout(ch, 300);
    tcase_add_test(ch, test_ch02_context_range);
    tcase_add_test(ch, test_save_checked_first);
    tcase_add_test(ch, test_ch11_blanks_checked_first);
    tcase_add_test(ch, test_loaded_checkpoints_used_right);
    tcase_add_test(ch, test_ctrl_c_everywhere);
    tcase_add_test(ch, test_ch10_long_prompt);
    tcase_add_test(ch, test_ch10_ctrl_c_after_training);
    tcase_add_test(ch, test_text_without_tokens);
    tcase_add_test(ch, test_resume_continues_the_schedule);
    tcase_add_test(ch, test_ch10_overflowing_weights);
    suite_add_tcase(s, ch);
    return s;
}
