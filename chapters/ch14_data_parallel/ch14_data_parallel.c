/* ch14_data_parallel: chapter 10's GPT trained on several processes at once with MPI: data
 * parallelism, the ring all-reduce written by hand, sharded optimizer state (ZeRO stage 1), and the
 * all-reduce overlapped with the backward pass. The source names the cost of training as a central
 * challenge of LLMs (the end of §1: huge data, huge compute); every large model is trained this way,
 * on many machines.
 *
 *   g = (1/B) sum_b g_b = sum_r (B_r / B) gbar_r      the gradient of a batch of B windows is the
 *                                                     weighted sum of each rank's mean over its B_r
 *   ring all-reduce: each rank sends 2 (p - 1) / p of the gradient, whatever p is
 *   ZeRO-1: rank r keeps AdamW's m and v for 1/p of the parameters, updates that 1/p, all-gathers
 *   overlap: block l's gradients are final once the backward pass has left it (it runs from the last
 *   block to the first), so their all-reduce can start while blocks l-1 .. 0 are still computed
 *
 * Sections, in the order they print (main, at the end, is the table of contents):
 *   1 the corpus and the model   2 the split of the batch   3 data-parallel training against one
 *   process   4 the ring all-reduce   5 sharded optimizer state   6 overlapping the all-reduce with
 *   the backward pass   7 checkpoint   8 when it pays (tokens per second and a cost model for many
 *   machines, with --timing)   9 summary
 *
 * Only rank 0 prints (the others' stdout goes to /dev/null); every rank computes. --load resumes a
 * checkpoint (chapter 10's format; rank 0 reads it and sends it to the others); Ctrl-C stops every
 * rank after the same step and saves with --save (see dist.h for how mpirun passes it on).
 * Run: make ch14 && mpirun -np 2 ./ch14_data_parallel
 *      mpirun -np 4 --oversubscribe ./ch14_data_parallel --save gpt.ckpt   (then chapter 10:
 *      ./ch10_gpt_pretraining --load gpt.ckpt --generate 200)
 *      mpirun -np 2 ./ch14_data_parallel --load gpt.ckpt --steps 200 --save gpt.ckpt   train on
 *      mpirun -np 2 ./ch14_data_parallel --steps 0 --timing --sweep   the all-reduce, 1 KB to 64 MB
 * As root, Open MPI also wants --allow-run-as-root.                                             */
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "dataset.h"
#include "dist.h"
#include "interrupt.h"
#include "model.h"
#include "optim.h"
#include "options.h"
#include "plot.h"
#include "print.h"
#include "train.h"
#include "util.h"

#define CHAPTER "ch14_data_parallel"

enum { CHAPTER_N_OPTIONS = 8 };

/* How a step combines the ranks' gradients (section 6 compares the three; the others use the first). */
typedef enum {
    SYNC_ONCE,    /* after the backward pass: one MPI_Allreduce of the whole gradient */
    SYNC_BUCKETS, /* after the backward pass: one MPI_Iallreduce per bucket (each block; the rest) */
    SYNC_OVERLAP  /* each block's bucket as soon as its gradients are final, during the backward pass */
} Sync;

/* One data-parallel copy of the model: its parameters, its AdamW (moments for parameters [lo, hi):
 * all of them, or a ZeRO-1 share), how it combines gradients, and how far its run has come. */
typedef struct {
    Model m;
    AdamW opt;
    size_t lo, hi;
    Sync sync;
    TrainState ts; /* steps done and the sampler's generator */
} Replica;

typedef struct {
    Dist d;
    /* flags */
    DatasetFlags data_flags;
    CliCommon common;
    ModelFlags mf;
    TrainFlags tf;
    const char *save, *load;
    bool timing, sweep;
    long long exit_rank, interrupt_rank, exit_step, zero;
    CliOption opts[DATASET_N_OPTIONS + OPTIONS_N_MODEL + OPTIONS_N_TRAIN + CHAPTER_N_OPTIONS];
    int n_opts;
    /* the start: a fresh model from --seed, or --load's checkpoint */
    bool loaded;
    Checkpoint ck;        /* --load: rank 0 the whole file; the others what it sent them (below) */
    Schedule sched;       /* the flags' schedule, or the checkpoint's continued */
    char sched_note[512]; /* rank 0: what checkpoint_schedule says about the schedule */
    TrainState start;     /* where every training run starts: its steps done and sampler state */
    /* state */
    Dataset data;
    ModelConfig cfg;
    Replica dp;           /* this rank's replica, activations for its share of the batch: the saved model */
    Replica ref;          /* rank 0 only: one process with the whole batch, for comparison */
    int *train_ext;       /* the training stream with one leading </s> */
    long n_train_ext;
    size_t b_lo, b_hi;    /* this rank's windows of every batch: [b_lo, b_hi) */
    double comm_seconds;  /* wall time this rank spent combining gradients after its backward passes */
    int stop;             /* DIST_RUN, or the Ctrl-C every rank has agreed to stop for */
    Plotter plot;
} Chapter;

/* ==== the flags ==== */

static void parse_flags(Chapter *ch, int argc, char **argv) {
    ch->common = cli_common_defaults();
    ch->data_flags = dataset_flags_default();
    ch->data_flags.lines = 4000;
    ch->mf = options_model_defaults();
    ch->mf.d_model = 32, ch->mf.context = 32;
    ch->tf = options_train_defaults();
    ch->tf.steps = 100, ch->tf.warmup = 10, ch->tf.eval_every = 20, ch->tf.batch = 12;
    ch->exit_rank = -1, ch->interrupt_rank = -1, ch->exit_step = 1, ch->zero = 1;
    CliOption *o = ch->opts;
    int n = dataset_cli_options(o, &ch->data_flags);
    n += options_model(o + n, &ch->mf);
    n += options_train(o + n, &ch->tf);
    o[n++] = cli_string("--save", &ch->save, "FILE", "write a checkpoint in chapter 10's format (rank 0)");
    o[n++] = cli_string("--load", &ch->load, "FILE", "start from a checkpoint (chapter 10's format; resumes up to --steps)");
    o[n++] = cli_flag("--timing", &ch->timing, "time the all-reduces, the overlap and the steps (varies run to run)");
    o[n++] = cli_flag("--sweep", &ch->sweep, "with --timing: every size from 1 KB to 64 MB (else 1 KB, 32 KB, 1 MB)");
    o[n++] = cli_int("--zero", &ch->zero, 0, 1, "0|1", "1: also train with sharded optimizer state (section 5)");
    o[n++] = cli_int("--exit-rank", &ch->exit_rank, -1, 1 << 20, "R",
                     "a test: rank R dies without a word to the others at --exit-step (-1: none)");
    o[n++] = cli_int("--interrupt-rank", &ch->interrupt_rank, -1, 1 << 20, "R",
                     "a test: rank R alone gets a Ctrl-C (SIGINT) at --exit-step (-1: none)");
    o[n++] = cli_int("--exit-step", &ch->exit_step, 1, 1000000000, "S", "the step of --exit-rank and --interrupt-rank");
    ch->n_opts = n;
    CliSpec spec = {CHAPTER, "Chapter 10's GPT trained on several MPI processes (the end of §1: the cost of training):\n"
                             "data parallelism, a ring all-reduce by hand, ZeRO-1, overlap. Run with mpirun -np P.",
                    o, n};
    dist_parse(&ch->d, &spec, &ch->common, argc, argv);
    dist_usage_check(&ch->d, ch->tf.batch < ch->d.size, "--batch %lld: fewer windows than the %d ranks (each needs one)",
                     ch->tf.batch, ch->d.size);
    dist_usage_check(&ch->d, !ch->load && ch->mf.d_model % ch->mf.heads != 0, "--heads %lld does not divide --d-model %lld",
                     ch->mf.heads, ch->mf.d_model);
    /* rank 0 alone writes --save: its folder is checked there, before any work (a bad one: exit 2) */
    if (dist_solo_begin(&ch->d, EXIT_USAGE) && ch->save) util_check_output("--save", ch->save);
    dist_solo_end(&ch->d);
    ch->sched = options_schedule(&ch->tf); /* a new run's; --load replaces it */
    if (ch->d.rank > 0) ch->common.no_plot = true;
    plot_init(&ch->plot, &ch->common, CHAPTER, stdout);
}

/* ==== --load: rank 0 reads, every rank gets it ==== */

/* Rank 0 reads and checks the checkpoint (an unreadable or corrupt file, or a bidirectional model:
 * exit 1; a flag that disagrees with it: exit 2; every rank ends together, rank 0 says why), then
 * broadcasts what the others need: the configuration, the token level, the schedule and where it
 * stops, AdamW's step and moments, the parameters, the sampler's state and the steps done. */
static void load_checkpoint(Chapter *ch) {
    Checkpoint *ck = &ch->ck;
    if (dist_solo_begin(&ch->d, EXIT_RUNTIME)) {
        checkpoint_load(ck, ch->load);
        if (!ck->cfg.causal)
            die(EXIT_RUNTIME, "%s holds a bidirectional model (chapter 11's masked LM); a GPT is causal", ch->load);
    }
    dist_solo_end(&ch->d);
    long stop = ch->tf.steps;
    if (dist_solo_begin(&ch->d, EXIT_USAGE)) {
        ch->sched = checkpoint_schedule(ck, ch->load, options_schedule(&ch->tf), ch->opts, ch->n_opts, &stop,
                                        ch->sched_note, sizeof ch->sched_note);
        options_check_checkpoint(&ch->mf, ch->opts, ch->n_opts, &ck->cfg, ch->load);
        if (options_given(ch->opts, ch->n_opts, "--level") && ch->data_flags.level != (int)ck->level)
            die(EXIT_USAGE, "--level: %s, but the checkpoint %s was trained on %s tokens", level_name(ch->data_flags.level),
                ch->load, level_name(ck->level));
    }
    dist_solo_end(&ch->d);
    dist_bcast(&ck->cfg, sizeof ck->cfg), dist_bcast(&ck->level, sizeof ck->level);
    dist_bcast(&ch->sched, sizeof ch->sched), dist_bcast(&stop, sizeof stop);
    dist_bcast(&ck->n_params, sizeof ck->n_params), dist_bcast(&ck->adam_step, sizeof ck->adam_step);
    dist_bcast(&ck->train.steps_done, sizeof ck->train.steps_done);
    dist_bcast(&ck->train.data_rng, sizeof ck->train.data_rng);
    if (ch->d.rank > 0) {
        ck->params = xmalloc(sizeof(float) * ck->n_params);
        ck->adam_m = xmalloc(sizeof(float) * ck->n_params), ck->adam_v = xmalloc(sizeof(float) * ck->n_params);
    }
    dist_bcast(ck->params, sizeof(float) * ck->n_params);
    dist_bcast(ck->adam_m, sizeof(float) * ck->n_params), dist_bcast(ck->adam_v, sizeof(float) * ck->n_params);
    ch->loaded = true;
    ch->tf.steps = stop;
    ch->data_flags.level = ck->level;
}

/* ==== 1. The corpus and the model ==== */

/* A replica at the start: the model from --seed (activations for max_batch windows) and AdamW with
 * moments for [lo, hi); with --load, the checkpoint's parameters, moments and step on top. */
static void replica_init(const Chapter *ch, Replica *r, int max_batch, size_t lo, size_t hi, Sync sync) {
    model_init(&r->m, &ch->cfg, max_batch, (uint64_t)ch->common.seed);
    adamw_init(&r->opt, hi - lo, 0.9f, 0.95f, 1e-8f, (float)ch->tf.weight_decay);
    r->lo = lo, r->hi = hi, r->sync = sync, r->ts = ch->start;
    if (!ch->loaded) return;
    memcpy(r->m.param_mem, ch->ck.params, sizeof(float) * r->m.n_params);
    memcpy(r->opt.m, ch->ck.adam_m + lo, sizeof(float) * (hi - lo));
    memcpy(r->opt.v, ch->ck.adam_v + lo, sizeof(float) * (hi - lo));
    r->opt.step = ch->ck.adam_step;
}

static void replica_free(Replica *r) { model_free(&r->m), adamw_free(&r->opt); }

/* The largest share of the batch, ceil(B / p) windows: what every rank's replica holds activations for. */
static int local_max(const Chapter *ch) { return (int)((ch->tf.batch + ch->d.size - 1) / ch->d.size); }

static void section_1_corpus_model(Chapter *ch) {
    print_section(stdout, 1, "The corpus and the model (chapter 10's)");
    printf("  %d ranks (MPI processes); each loads the same corpus and builds the same model from %s.\n\n",
           ch->d.size, ch->loaded ? "the checkpoint rank 0 read and sent" : "--seed");
    dataset_load(&ch->data, &ch->data_flags, (uint64_t)ch->common.seed, false, stdout);
    if (dist_solo_begin(&ch->d, EXIT_RUNTIME) && ch->loaded) { /* resuming: the data must give the same vocabulary */
        bool same = ch->data.vocab.size == ch->ck.vocab.size;
        for (int i = 0; same && i < ch->data.vocab.size; i++) same = strcmp(ch->data.vocab.word[i], ch->ck.vocab.word[i]) == 0;
        if (!same) die(EXIT_RUNTIME, "%s was trained on another vocabulary than this corpus gives (%d words here, %d there)",
                       ch->load, ch->data.vocab.size, ch->ck.vocab.size);
    }
    dist_solo_end(&ch->d);
    ch->train_ext = token_stream_with_eos(&ch->data.train, &ch->n_train_ext);
    ch->cfg = ch->loaded ? ch->ck.cfg : options_config(&ch->mf, ch->data.vocab.size, true);
    if (ch->n_train_ext <= ch->cfg.max_len + 1)
        die(EXIT_RUNTIME, "the training text has %ld tokens, too few for windows of --context %d", ch->n_train_ext,
            ch->cfg.max_len);
    dist_share((size_t)ch->tf.batch, ch->d.size, ch->d.rank, &ch->b_lo, &ch->b_hi);
    rng_seed(&ch->start.data_rng, (uint64_t)ch->common.seed, 10); /* chapter 10's sampler, the same stream */
    if (ch->loaded && ch->ck.train.steps_done > 0)
        ch->start.steps_done = ch->ck.train.steps_done, ch->start.data_rng = ch->ck.train.data_rng;
    const size_t n = (size_t)model_param_count(&ch->cfg);
    replica_init(ch, &ch->dp, local_max(ch), 0, n, SYNC_ONCE);
    if (ch->d.rank == 0) replica_init(ch, &ch->ref, (int)ch->tf.batch, 0, n, SYNC_ONCE);
    const ModelConfig *c = &ch->cfg;
    printf("\n  GPT: vocabulary %d, d_model %d, %d heads, d_ff %d, %d blocks, context %d; %zu parameters\n", c->vocab,
           c->d_model, c->heads, c->d_ff, c->layers, c->max_len, n);
    printf("  gradient: %zu floats = %zu bytes, the message every step must combine across the ranks\n", n,
           n * sizeof(float));
    if (ch->loaded)
        printf("  loaded from %s after %ld training steps; training goes on to step %lld\n%s", ch->load,
               ch->start.steps_done, ch->tf.steps, ch->sched_note);
}

/* ==== 2. The split of the batch ==== */

/* The global batch, the same on every rank: B windows of T + 1 tokens from chapter 10's sampler (one
 * generator, seeded as there, drawn B times per step on every rank). Rank r then trains on windows
 * [r B / p, (r + 1) B / p) of it: together the ranks see exactly the windows one process draws. */
static void global_batch(const Chapter *ch, Rng *rng, int *ids, int *tg) {
    const int B = (int)ch->tf.batch, T = ch->cfg.max_len;
    for (int b = 0; b < B; b++) {
        const long start = (long)rng_below(rng, (uint32_t)(ch->n_train_ext - T));
        for (int t = 0; t < T; t++) ids[b * T + t] = ch->train_ext[start + t], tg[b * T + t] = ch->train_ext[start + t + 1];
    }
}

static void section_2_split(Chapter *ch) {
    const int B = (int)ch->tf.batch, p = ch->d.size;
    print_section(stdout, 2, "The split of the batch: the sampler draws for everyone, each rank keeps its share");
    printf("  One step of one process: B = %d windows drawn from one generator (chapter 10's). Here every rank\n"
           "  draws the same B windows (the draws are cheap; the forward and backward passes are not) and keeps\n"
           "  windows [r B / p, (r + 1) B / p): shares differ by at most one window.\n\n", B);
    printf("    %6s %10s %10s %14s\n", "rank", "windows", "count B_r", "weight B_r/B");
    for (int r = 0; r < p; r++) {
        size_t lo, hi;
        dist_share((size_t)B, p, r, &lo, &hi);
        printf("    %6d %4zu..%-5zu %10zu %14.4f\n", r, lo, hi - 1, hi - lo, (double)(hi - lo) / B);
    }
    printf("\n  Each rank's loss is the mean over its B_r T tokens, so the batch's gradient is\n"
           "    g = sum_r (B_r / B) gbar_r          (P,) each, P = %zu parameters\n"
           "  each rank scales its gradient by B_r / B, and MPI_Allreduce (sum) gives every rank the same g.\n",
           ch->dp.m.n_params);
}

/* ==== 3. Data-parallel training against one process ==== */

/* The gradient's buckets: block l's parameters are one contiguous stretch of the flat arrays
 * [*lo, *hi) (model.h's layout: wte, wpe, block 0 .. L-1, the final norm, the head). */
static void block_span(const Model *m, int l, size_t *lo, size_t *hi) {
    const Tensor *first = block_tensor(&m->grads.block[l], 0, NULL);
    const Tensor *last = block_tensor(&m->grads.block[l], BLOCK_N_TENSORS - 1, NULL);
    *lo = (size_t)(first->data - m->grad_mem);
    *hi = (size_t)(last->data + (size_t)last->rows * (size_t)last->cols - m->grad_mem);
    CHECK((long)(*hi - *lo) == block_param_count(m->cfg.d_model, m->cfg.d_ff), "block %d is not contiguous", l);
}

/* The buckets of one step in flight: MPI_Iallreduce requests on parts of the gradient. */
typedef struct {
    BackwardHook hook; /* first: the backward pass calls hook.fn with &hook, which is this */
    Model *m;
    float w;           /* this rank's weight B_r / B */
    MPI_Request *req;  /* (L + 2): a bucket per block, then the stretches before and after the blocks */
    int n_req;
} Buckets;

/* Weight [lo, hi) of the gradient by B_r / B and start summing it across the ranks. */
static void bucket_send(Buckets *b, size_t lo, size_t hi) {
    if (hi == lo) return;
    float *g = b->m->grad_mem + lo;
    for (size_t i = 0; i < hi - lo; i++) g[i] *= b->w;
    MPI_Iallreduce(MPI_IN_PLACE, g, (int)(hi - lo), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &b->req[b->n_req++]);
}

/* The backward pass has finished block `layer`: send its bucket, and let MPI move the ones in flight
 * (Open MPI advances a non-blocking collective only inside MPI calls; MPI_Testall is such a call). */
static void on_block_done(BackwardHook *self, int layer) {
    Buckets *b = (Buckets *)self;
    size_t lo, hi;
    block_span(b->m, layer, &lo, &hi);
    bucket_send(b, lo, hi);
    int done;
    MPI_Testall(b->n_req, b->req, &done, MPI_STATUSES_IGNORE);
}

/* The backward pass of the last forward, and the gradient summed over the ranks as `sync` says,
 * weighted by w = B_r / B. Returns the seconds spent after the backward pass until the sum is
 * complete on this rank: the part of the communication the computation did not hide. */
static double backward_and_sum(Model *m, Sync sync, float w) {
    if (sync == SYNC_ONCE) {
        model_backward(m);
        const double t0 = MPI_Wtime();
        for (size_t i = 0; i < m->n_params; i++) m->grad_mem[i] *= w;
        dist_allreduce_sum(m->grad_mem, m->n_params);
        return MPI_Wtime() - t0;
    }
    CHECK(m->n_params <= INT_MAX, "a bucket of %zu floats is larger than one MPI message", m->n_params);
    const int L = m->cfg.layers;
    Buckets b = {{on_block_done}, m, w, xmalloc(sizeof(MPI_Request) * (size_t)(L + 2)), 0};
    if (sync == SYNC_OVERLAP) m->backward_hook = &b.hook;
    model_backward(m);
    m->backward_hook = NULL;
    const double t0 = MPI_Wtime();
    size_t first_lo, hi, last_hi, lo;
    if (sync == SYNC_BUCKETS) /* the same buckets in the same order, all after the backward pass */
        for (int l = L - 1; l >= 0; l--) block_span(m, l, &lo, &hi), bucket_send(&b, lo, hi);
    block_span(m, 0, &first_lo, &hi), block_span(m, L - 1, &lo, &last_hi);
    bucket_send(&b, 0, first_lo);              /* the embeddings: final only now */
    bucket_send(&b, last_hi, m->n_params);     /* the final norm (and an untied head) */
    MPI_Waitall(b.n_req, b.req, MPI_STATUSES_IGNORE);
    free(b.req);
    return MPI_Wtime() - t0;
}

/* One data-parallel step of replica r on this rank's windows (ids, tg: nb T each). Their mean loss and
 * gradient are weighted by nb / B and summed across the ranks (backward_and_sum), then clipped and
 * AdamW'd exactly as train_step does for one process. The optimizer holds the moments of parameters
 * [lo, hi) only (all of them without sharding); with a shard, each rank updates its share and the
 * shares are all-gathered. The loss's all-reduce also carries each rank's Ctrl-C, so that every rank
 * knows after the same step whether any was interrupted (ch->stop). Returns the batch's loss. */
static double dp_step(Chapter *ch, Replica *r, const int *ids, const int *tg, long step) {
    Model *m = &r->m;
    const int nb = (int)(ch->b_hi - ch->b_lo), B = (int)ch->tf.batch, T = ch->cfg.max_len;
    const double local = model_forward(m, ids, tg, nb, T);
    model_zero_grad(m);
    ch->comm_seconds += backward_and_sum(m, r->sync, (float)nb / (float)B);
    const int signal = dist_interrupt_local();
    double sum[3] = {local * nb / B, signal == DIST_SIGINT, signal == DIST_SIGTERM}; /* loss, and who was stopped */
    MPI_Allreduce(MPI_IN_PLACE, sum, 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    const double loss = sum[0];
    ch->stop = sum[2] > 0 ? DIST_SIGTERM : sum[1] > 0 ? DIST_SIGINT : DIST_RUN;
    /* every rank holds the same loss and gradient: every rank stops here, rank 0 says why */
    const double norm = grad_clip(m->grad_mem, m->n_params, ch->sched.clip);
    if (!isfinite(loss) || !isfinite(norm)) {
        if (ch->d.rank == 0)
            fprintf(stderr, "%s: training diverged at step %ld (loss %g, gradient norm %g); try a lower --lr (now %g)\n",
                    CHAPTER, step, loss, norm, ch->sched.lr);
        dist_exit(EXIT_RUNTIME, true);
    }
    adamw_begin_step(&r->opt);
    const float lr = lr_schedule(step - 1, ch->sched.warmup, ch->sched.steps, (float)ch->sched.lr, (float)ch->sched.lr_min);
    for (int i = 0; i < m->n_tensors; i++) { /* each tensor's part inside [lo, hi), with its decay */
        const ModelTensor *t = &m->tensors[i];
        const size_t off = (size_t)(t->param->data - m->param_mem), n = (size_t)t->param->rows * t->param->cols;
        const size_t a = off > r->lo ? off : r->lo, b = off + n < r->hi ? off + n : r->hi;
        if (a < b) adamw_update(&r->opt, m->param_mem + a, m->grad_mem + a, a - r->lo, b - a, lr, t->decay);
    }
    if (r->hi - r->lo < m->n_params) {
        const double t1 = MPI_Wtime();
        dist_allgather_shares(m->param_mem, m->n_params, &ch->d);
        ch->comm_seconds += MPI_Wtime() - t1;
    }
    return loss;
}

/* The largest |a - b| over n floats. */
static double max_diff(const float *a, const float *b, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - (double)b[i]));
    return worst;
}

/* The test flags' events at the start of step s: --exit-rank dies (a crash: no clean-up, no word to
 * the others), --interrupt-rank gets a Ctrl-C that no other rank sees. */
static void test_events(const Chapter *ch, long s) {
    if (s != ch->exit_step) return;
    if (ch->d.rank == ch->exit_rank) {
        fprintf(stderr, "%s: rank %d: dying at step %ld (--exit-rank)\n", CHAPTER, ch->d.rank, s);
        fflush(NULL);
        _exit(EXIT_RUNTIME);
    }
    if (ch->d.rank == ch->interrupt_rank) raise(SIGINT);
}

/* Train replica r from where it is up to step `last`; losses[k] gets the loss of its (k + 1)-th step
 * (every rank). With ref (rank 0), the one-process run steps alongside on the whole batch and
 * ref_losses gets its losses. A Ctrl-C agreed on by the ranks (ch->stop) ends the run after a step. */
static void train_run(Chapter *ch, Replica *r, long last, double *losses, Replica *ref, double *ref_losses) {
    const int B = (int)ch->tf.batch, T = ch->cfg.max_len;
    int *ids = xmalloc(sizeof(int) * (size_t)B * (size_t)T), *tg = xmalloc(sizeof(int) * (size_t)B * (size_t)T);
    for (long k = 0; r->ts.steps_done < last && ch->stop == DIST_RUN; k++) {
        const long s = r->ts.steps_done + 1;
        test_events(ch, s);
        global_batch(ch, &r->ts.data_rng, ids, tg);
        const size_t off = ch->b_lo * (size_t)T;
        losses[k] = dp_step(ch, r, ids + off, tg + off, s);
        if (ref) ref_losses[k] = train_step(&ref->m, &ref->opt, ids, tg, B, T, s, &ch->sched);
        r->ts.steps_done = s;
    }
    if (ref) ref->ts = r->ts;
    free(ids), free(tg);
}

static void section_3_train(Chapter *ch, double *param_diff) {
    const long first = ch->start.steps_done, S = ch->tf.steps - first > 0 ? ch->tf.steps - first : 0;
    print_section(stdout, 3, "Data-parallel training against one process with the whole batch");
    printf("  steps %ld to %lld of B = %lld windows of %d tokens, split over %d ranks; rank 0 also trains a\n"
           "  second copy alone on all B windows (chapter 10's train_step) for comparison. Loss in nats per token.\n\n",
           first + 1, ch->tf.steps, ch->tf.batch, ch->cfg.max_len, ch->d.size);
    fflush(stdout);
    double *dp = xcalloc((size_t)S + 1, sizeof(double)), *one = xcalloc((size_t)S + 1, sizeof(double));
    const bool r0 = ch->d.rank == 0;
    train_run(ch, &ch->dp, ch->tf.steps, dp, r0 ? &ch->ref : NULL, one);
    if (!r0 || ch->stop != DIST_RUN) {
        free(dp), free(one);
        return;
    }
    if (S == 0) printf("  nothing to train: the checkpoint has done %ld of --steps %lld\n", first, ch->tf.steps);
    double worst_loss = 0;
    if (S > 0) printf("    %8s %16s %16s %12s\n", "step", "data-parallel", "one process", "|difference|");
    for (long k = 0; k < S; k++) {
        const long s = first + k + 1;
        worst_loss = fmax(worst_loss, fabs(dp[k] - one[k]));
        if (s % ch->tf.eval_every == 0 || k == S - 1 || k == 0)
            printf("    %8ld %16.8f %16.8f %12.3g\n", s, dp[k], one[k], fabs(dp[k] - one[k]));
    }
    *param_diff = max_diff(ch->dp.m.param_mem, ch->ref.m.param_mem, ch->dp.m.n_params);
    printf("\n  after step %lld: largest |parameter difference| %.3g, largest |loss difference| %.3g\n", ch->tf.steps,
           *param_diff, worst_loss);
    char note[600];
    if (*param_diff == 0)
        snprintf(note, sizeof note, "Notice: the two runs agree to the last bit: %s",
                 ch->d.size == 1 ? "with one rank the weight B_r/B is 1 and the sum over ranks is the rank's own "
                                   "gradient, so every operation is the same."
                                 : "the ranks add the same numbers in another order than the one process, and here every such "
                                   "sum happened to round the same way.");
    else
        snprintf(note, sizeof note, "Notice: the runs agree to %.1g, not to the bit. The one process sums each weight's "
                 "gradient over all %lld windows in one pass; here each rank sums over its share, divides by its own "
                 "token count, is weighted by B_r/B, and the ranks' sums are added by MPI: the same real numbers, added "
                 "in another order and rounded at other places. AdamW (which divides by sqrt(v)) then carries these "
                 "last-bit differences along, but they stay at the scale of float rounding.",
                 *param_diff, ch->tf.batch);
    print_note(stdout, note);
    if (S > 0) {
        double *x = xmalloc(sizeof(double) * (size_t)S);
        for (long k = 0; k < S; k++) x[k] = (double)(first + k + 1);
        char title[64];
        snprintf(title, sizeof title, "data-parallel, %d ranks", ch->d.size);
        LineSeries ser[2] = {{title, dp, false}, {"one process, whole batch", one, false}};
        LineAxes ax = {"step", "training loss (nats per token)", false, false};
        putchar('\n');
        plot_lines(&ch->plot, "loss_curves", "Data-parallel training and one process: the same loss curve", &ax, x, (int)S,
                   ser, 2);
        free(x);
    }
    free(dp), free(one);
}

/* ==== 4. The ring all-reduce ==== */

/* The same n floats reduced by the ring and by MPI_Allreduce; the largest difference between them
 * (rank 0's, after a MAX over ranks) and the bytes each rank sent, gathered on rank 0. */
static double ring_against_mpi(const Chapter *ch, const float *x, size_t n, size_t *sent_by_rank) {
    float *a = xmalloc(sizeof(float) * n), *b = xmalloc(sizeof(float) * n);
    memcpy(a, x, sizeof(float) * n), memcpy(b, x, sizeof(float) * n);
    unsigned long long sent = dist_ring_allreduce(a, n, &ch->d);
    dist_allreduce_sum(b, n);
    double diff = max_diff(a, b, n);
    MPI_Allreduce(MPI_IN_PLACE, &diff, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    unsigned long long *all = xmalloc(sizeof(unsigned long long) * (size_t)ch->d.size);
    MPI_Gather(&sent, 1, MPI_UNSIGNED_LONG_LONG, all, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
    for (int r = 0; r < ch->d.size; r++) sent_by_rank[r] = (size_t)all[r];
    free(a), free(b), free(all);
    return diff;
}

/* Seconds per call of the ring and of MPI_Allreduce on n floats: each rank's fastest of several
 * calls (the least disturbed by other programs on a shared machine), then the slowest rank's. */
static void time_both(const Chapter *ch, size_t n, double *ring_s, double *mpi_s) {
    float *buf = xcalloc(n, sizeof(float));
    const int reps = n * sizeof(float) >= (1u << 22) ? 3 : (int)fmin(30.0, 3.0 + (double)(1u << 22) / (double)(n * sizeof(float)));
    double t[2] = {INFINITY, INFINITY};
    for (int which = 0; which < 2; which++)
        for (int k = 0; k < reps; k++) {
            MPI_Barrier(MPI_COMM_WORLD);
            const double t0 = MPI_Wtime();
            if (which == 0) dist_ring_allreduce(buf, n, &ch->d);
            else dist_allreduce_sum(buf, n);
            t[which] = fmin(t[which], MPI_Wtime() - t0);
        }
    MPI_Allreduce(MPI_IN_PLACE, t, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    *ring_s = t[0], *mpi_s = t[1];
    free(buf);
}

static void section_4_ring(Chapter *ch) {
    const int p = ch->d.size, r = ch->d.rank;
    const size_t n = ch->dp.m.n_params;
    print_section(stdout, 4, "The all-reduce by hand: a ring over point-to-point messages");
    printf("  The gradient (n floats) is cut into p = %d chunks. Reduce-scatter: p - 1 steps, each rank sends one\n"
           "  chunk to its right neighbour and adds the one from its left; then chunk (r + 1) mod p on rank r\n"
           "  holds the total. All-gather: p - 1 more steps pass the finished chunks around the ring.\n"
           "  Each rank sends 2 (p - 1) chunks = 2 (p - 1) / p of the gradient, however many ranks there are.\n\n", p);
    /* values that are small integers: every order of addition gives the same float, so the two
     * all-reduces must agree exactly; then the real gradient, where the order shows in the last bits */
    float *x = xmalloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) x[i] = (float)((long)((i * 7 + (size_t)r * 3) % 17) - 8);
    size_t *sent = xmalloc(sizeof(size_t) * (size_t)p);
    const double exact = ring_against_mpi(ch, x, n, sent);
    const double real = ring_against_mpi(ch, ch->dp.m.grad_mem, n, sent);
    const double formula = 2.0 * (p - 1) / p * (double)(n * sizeof(float));
    printf("    %6s %14s %24s\n", "rank", "bytes sent", "2 (p-1)/p x 4 n bytes");
    for (int k = 0; k < p; k++) printf("    %6d %14zu %24.1f\n", k, sent[k], formula);
    printf("\n  ring against MPI_Allreduce, largest |difference|: %.3g on small integers (exact in any order),\n"
           "  %.3g on the last step's gradient\n", exact, real);
    char note[400];
    snprintf(note, sizeof note, "Notice: %s; on the real gradient %s.",
             exact == 0 ? "the ring gives MPI_Allreduce's sums exactly when rounding cannot interfere"
                        : "the ring and MPI_Allreduce DISAGREE on exact integers (a bug)",
             real == 0 ? "they agree to the bit as well: here both added the ranks' values in the same order"
                       : "they differ in the last bits: the ring adds the ranks' values in the order a chunk travels "
                         "round the ring, MPI_Allreduce in an order of its own choosing");
    print_note(stdout, note);
    free(x), free(sent);
    if (!ch->timing) {
        printf("  (--timing measures both against the gradient's size; --sweep from 1 KB to 64 MB)\n");
        return;
    }
    printf("\n  time per all-reduce (ms, wall clock: each rank's fastest call, the slowest rank's; this machine's\n"
           "  %d ranks share its cores and memory with other programs: the numbers vary run to run):\n\n    %10s %12s %12s %10s\n", p, "size", "ring", "MPI_Allreduce",
           "ring/MPI");
    const size_t sizes_short[] = {1u << 10, 1u << 15, 1u << 20};
    for (size_t bytes = 1u << 10, k = 0; ch->sweep ? bytes <= (64u << 20) : k < 3; k++) {
        const size_t sz = ch->sweep ? bytes : sizes_short[k];
        double ring_s, mpi_s;
        time_both(ch, sz / sizeof(float), &ring_s, &mpi_s);
        char label[32];
        if (sz >= (1u << 20)) snprintf(label, sizeof label, "%zu MB", sz >> 20);
        else snprintf(label, sizeof label, "%zu KB", sz >> 10);
        printf("    %10s %12.4f %12.4f %10.2f\n", label, 1e3 * ring_s, 1e3 * mpi_s, ring_s / mpi_s);
        bytes *= 4;
    }
}

/* ==== 5. Sharded optimizer state (ZeRO stage 1) ==== */

static void section_5_zero(Chapter *ch, double *zero_diff) {
    const int p = ch->d.size;
    const size_t n = ch->dp.m.n_params;
    print_section(stdout, 5, "Sharded optimizer state (ZeRO stage 1)");
    printf("  Plain data parallelism keeps AdamW's two moments for every parameter on every rank. ZeRO-1 keeps\n"
           "  them for rank r's share [r P / p, (r + 1) P / p) only: after the all-reduce each rank updates its\n"
           "  share of the parameters, then MPI_Allgatherv gives every rank the whole updated model.\n\n");
    printf("  memory per rank, bytes (P = %zu: parameters 4 P, gradient 4 P, moments 8 P or 8 P / p):\n\n", n);
    printf("    %6s %14s %14s %10s\n", "ranks", "plain", "ZeRO-1", "saved");
    const int counts[] = {1, 2, 4};
    for (int k = 0; k < 3 + (p != 1 && p != 2 && p != 4); k++) {
        const int q = k < 3 ? counts[k] : p;
        size_t lo, hi;
        dist_share(n, q, 0, &lo, &hi); /* rank 0's share, the largest */
        const double plain = 16.0 * (double)n, zero = 8.0 * (double)n + 8.0 * (double)(hi - lo);
        printf("    %6d %14.0f %14.0f %9.1f%%\n", q, plain, zero, 100.0 * (plain - zero) / plain);
    }
    const long S = ch->tf.steps - ch->start.steps_done;
    if (!ch->zero || S <= 0) {
        printf("\n  (--zero 1 trains the sharded version and compares it)\n");
        return;
    }
    size_t lo, hi;
    dist_share(n, p, ch->d.rank, &lo, &hi);
    Replica z;
    replica_init(ch, &z, local_max(ch), lo, hi, SYNC_ONCE);
    double *losses = xcalloc((size_t)S, sizeof(double));
    train_run(ch, &z, ch->tf.steps, losses, NULL, NULL);
    free(losses);
    if (ch->stop != DIST_RUN) {
        replica_free(&z);
        return;
    }
    unsigned long long held = 2ull * z.opt.n, max_held = 0;
    MPI_Reduce(&held, &max_held, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, 0, MPI_COMM_WORLD);
    *zero_diff = max_diff(z.m.param_mem, ch->dp.m.param_mem, n);
    MPI_Allreduce(MPI_IN_PLACE, zero_diff, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    printf("\n  trained again for %ld steps with the moments sharded: the largest rank held %llu moment floats\n"
           "  (%llu bytes; %zu without sharding). Largest |parameter difference| from section 3's run, over\n"
           "  every rank's copy: %.3g\n", S, max_held, 4 * max_held, 2 * n, *zero_diff);
    char note[300];
    snprintf(note, sizeof note, "Notice: %s",
             *zero_diff == 0 ? "the same bits: AdamW updates each parameter from its own gradient and moments alone, "
                               "so which rank does it changes nothing."
                             : "the sharded run DIFFERS from the plain one, which an element-wise optimizer should not.");
    print_note(stdout, note);
    replica_free(&z);
}


/* ==== 6. Overlapping the all-reduce with the backward pass ==== */

/* The median of n values (sorted in place). */
static double median(double *x, int n) {
    for (int i = 1; i < n; i++) /* insertion sort: n is a few dozen */
        for (int j = i; j > 0 && x[j - 1] > x[j]; j--) {
            const double t = x[j];
            x[j] = x[j - 1], x[j - 1] = t;
        }
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* --timing: the three ways of summing the gradient (Sync) take turns, step by step, on three
 * replicas trained in lockstep on the same batches, K steps from the start. Each step is timed from a
 * barrier, so every rank starts it together: the whole step, and the part after the backward pass.
 * Printed: for each way, the median over the steps of the slowest rank's times. */
static void time_overlap(Chapter *ch, long K) {
    const int B = (int)ch->tf.batch, T = ch->cfg.max_len;
    static const char *const names[3] = {"one MPI_Allreduce after the backward pass",
                                         "a bucket per block, after the backward pass",
                                         "a bucket per block, during the backward pass"};
    Replica v[3];
    for (int j = 0; j < 3; j++) replica_init(ch, &v[j], local_max(ch), 0, (size_t)model_param_count(&ch->cfg), (Sync)j);
    double *t = xcalloc(6 * (size_t)K, sizeof(double)); /* t[(2 j + e) K + k]: way j, step k; e = 0 whole, 1 after */
    int *ids = xmalloc(sizeof(int) * (size_t)B * (size_t)T), *tg = xmalloc(sizeof(int) * (size_t)B * (size_t)T);
    Rng rng = ch->start.data_rng;
    long k = 0;
    for (; k < K && ch->stop == DIST_RUN; k++) {
        global_batch(ch, &rng, ids, tg);
        for (int turn = 0; turn < 3; turn++) {
            const int j = (int)((k + turn) % 3); /* each way goes first, second and third in turn */
            MPI_Barrier(MPI_COMM_WORLD);
            const double t0 = MPI_Wtime(), c0 = ch->comm_seconds;
            dp_step(ch, &v[j], ids + ch->b_lo * (size_t)T, tg + ch->b_lo * (size_t)T, ch->start.steps_done + k + 1);
            t[(2 * j) * K + k] = MPI_Wtime() - t0, t[(2 * j + 1) * K + k] = ch->comm_seconds - c0;
        }
    }
    if (ch->stop == DIST_RUN) {
        MPI_Allreduce(MPI_IN_PLACE, t, 6 * (int)K, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        double med[6];
        for (int i = 0; i < 6; i++) med[i] = median(t + i * K, (int)K);
        const long cores = sysconf(_SC_NPROCESSORS_ONLN);
        printf("\n  --timing: %ld steps, the three ways taking turns (wall clock in ms: the slowest rank, median over\n"
               "  the steps; %d ranks on %ld cores shared with whatever else runs here%s):\n\n", K, ch->d.size, cores,
               ch->d.size >= cores ? ", so oversubscribed" : "");
        printf("    %-46s %10s %25s\n", "how the gradient is summed", "step", "after the backward pass");
        for (int j = 0; j < 3; j++) printf("    %-46s %10.3f %25.3f\n", names[j], 1e3 * med[2 * j], 1e3 * med[2 * j + 1]);
        const double saved = med[1] - med[5];
        printf("\n  saved by the overlap, against one MPI_Allreduce (negative: it cost time): %.3f ms a step after the\n"
               "  backward pass, %.3f ms of the whole step\n\n", 1e3 * saved, 1e3 * (med[0] - med[4]));
        printf("  What this machine can show, and what not. Its ranks talk through shared memory: a message is a copy\n"
               "  made by the same cores that compute the backward pass, and Open MPI moves a non-blocking all-reduce\n"
               "  along only when a rank calls into MPI (here: after each block). The time after the backward pass is\n"
               "  mostly waiting for the slowest rank to finish its own pass, which no overlap can hide; and with as\n"
               "  many ranks as cores (or more), a rank waiting in MPI spins on a core that another rank, or another\n"
               "  program, needs. What it cannot show is a cluster, where a network card moves the bytes while the\n"
               "  processor computes: there the all-reduce of the blocks can hide behind the backward pass of the\n"
               "  blocks before them, and only the last buckets' time stays exposed.\n");
        char note[300];
        snprintf(note, sizeof note, "Notice: %s", saved > 0
                 ? "overlapping shortened the wait after the backward pass here; the medians move from run to run "
                   "on a shared machine, so read the sign over several runs before the size."
                 : "overlapping did not shorten the wait after the backward pass here: on this machine the all-reduce "
                   "is a memory copy, and the wait is the slower rank's computation.");
        print_note(stdout, note);
    }
    for (int j = 0; j < 3; j++) replica_free(&v[j]);
    free(t), free(ids), free(tg);
}

/* diffs[0]: overlapped against the same buckets after the pass; diffs[1]: against section 3's run. */
static void section_6_overlap(Chapter *ch, double diffs[2]) {
    const Model *m = &ch->dp.m;
    const int L = ch->cfg.layers;
    size_t first_lo, hi, lo, last_hi;
    block_span(m, 0, &first_lo, &hi), block_span(m, L - 1, &lo, &last_hi);
    print_section(stdout, 6, "Overlapping the all-reduce with the backward pass");
    printf("  The backward pass runs from the last block to the first, and block l's gradients are final once it\n"
           "  has left block l: nothing computed later touches them. So each block's gradient, a bucket, can be\n"
           "  summed across the ranks while the blocks before it are still being computed. model_backward calls\n"
           "  a hook after each block (model.h's BackwardHook); here it weights the bucket by B_r / B and starts\n"
           "  MPI_Iallreduce on it. The embeddings (final only at the very end, and tied to the output layer) and\n"
           "  the final norm go last; MPI_Waitall waits for every bucket before the optimizer step.\n\n");
    printf("    %-28s %10s %10s\n", "bucket, in the order sent", "floats", "bytes");
    for (int l = L - 1; l >= 0; l--) {
        char name[32];
        block_span(m, l, &lo, &hi);
        snprintf(name, sizeof name, "block %d", l);
        printf("    %-28s %10zu %10zu\n", name, hi - lo, 4 * (hi - lo));
    }
    printf("    %-28s %10zu %10zu\n", "embeddings (after the pass)", first_lo, 4 * first_lo);
    if (last_hi < m->n_params)
        printf("    %-28s %10zu %10zu\n", "final norm (after the pass)", m->n_params - last_hi, 4 * (m->n_params - last_hi));
    const long S = ch->tf.steps - ch->start.steps_done;
    if (S <= 0) {
        printf("\n  (nothing to train: no overlapped run to compare)\n");
        return;
    }
    /* the overlapped run, and the same buckets sent after the backward pass: the same MPI calls on the
     * same sizes, so the same sums in the same order; only the moment they start differs */
    Replica o, b;
    replica_init(ch, &o, local_max(ch), 0, m->n_params, SYNC_OVERLAP);
    replica_init(ch, &b, local_max(ch), 0, m->n_params, SYNC_BUCKETS);
    double *losses = xcalloc((size_t)S, sizeof(double));
    train_run(ch, &o, ch->tf.steps, losses, NULL, NULL);
    if (ch->stop == DIST_RUN) train_run(ch, &b, ch->tf.steps, losses, NULL, NULL);
    free(losses);
    if (ch->stop == DIST_RUN) {
        double d[2] = {max_diff(o.m.param_mem, b.m.param_mem, m->n_params), max_diff(o.m.param_mem, m->param_mem, m->n_params)};
        MPI_Allreduce(MPI_IN_PLACE, d, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        diffs[0] = d[0], diffs[1] = d[1];
    }
    replica_free(&o), replica_free(&b);
    if (ch->stop != DIST_RUN) return;
    printf("\n  trained again for %ld steps with the buckets overlapped, and once more with the same buckets sent\n"
           "  after the backward pass. Largest |parameter difference| over every rank's copy:\n"
           "    overlapped against the same buckets after the pass:                 %.3g\n"
           "    overlapped against section 3's run (one MPI_Allreduce after the pass): %.3g\n", S, diffs[0], diffs[1]);
    char note[600];
    if (diffs[0] == 0 && diffs[1] == 0)
        snprintf(note, sizeof note, "Notice: the same bits. Each parameter's gradient is weighted by B_r/B as before and "
                 "summed over the same %d ranks: only when the sums are made has changed, not which.", ch->d.size);
    else if (diffs[0] == 0)
        snprintf(note, sizeof note, "Notice: overlapping changed no bit (the first line): only when the sums are made "
                 "differs. Against one MPI_Allreduce they differ by %.1g: with %d ranks each parameter's sum has %d "
                 "terms, and MPI picks the order in which it adds them by the message's size and kind (Open MPI's "
                 "non-blocking all-reduce is another component than its blocking one): the same real sums, rounded "
                 "differently. With 2 ranks every order gives the same float.", diffs[1], ch->d.size, ch->d.size);
    else
        snprintf(note, sizeof note, "Notice: the overlapped run DIFFERS from the same buckets sent after the pass, by "
                 "%.1g: a gradient was sent before it was final (a bug).", diffs[0]);
    print_note(stdout, note);
    if (ch->timing) time_overlap(ch, ch->tf.steps < 100 ? ch->tf.steps : 100);
    else printf("  (--timing measures what the overlap saves on this machine)\n");
}

/* ==== 7. Checkpoint ==== */

/* Rank 0 writes the data-parallel model (every replica holds the same parameters and moments) with
 * its steps done, sampler state and schedule; the others wait (a failure ends every rank, exit 1). */
static void save_checkpoint(Chapter *ch) {
    ch->dp.ts.has_schedule = true, ch->dp.ts.schedule = ch->sched;
    if (dist_solo_begin(&ch->d, EXIT_RUNTIME))
        checkpoint_save(ch->save, &ch->dp.m, &ch->data.vocab, ch->data.level, &ch->dp.opt, &ch->dp.ts);
    dist_solo_end(&ch->d);
}

static void section_7_checkpoint(Chapter *ch) {
    print_section(stdout, 7, "Checkpoint (chapter 10's format, written by rank 0)");
    if (!ch->save) {
        printf("  (--save FILE keeps the data-parallel model; chapter 10 loads it: --load FILE --generate N)\n");
        return;
    }
    save_checkpoint(ch);
    struct stat st;
    if (ch->d.rank == 0 && stat(ch->save, &st) == 0)
        printf("  wrote %s (%lld bytes) after step %ld. Chapter 10 reads it: ./ch10_gpt_pretraining --load %s\n"
               "  --generate 200; this chapter trains on from it: mpirun -np P ./%s --load %s --steps N\n",
               ch->save, (long long)st.st_size, ch->dp.ts.steps_done, ch->save, CHAPTER, ch->save);
}

/* ==== 8. When it pays ==== */

/* A GPT-2-small-sized configuration (124 M parameters): 50257 tokens, 768 wide, 12 heads and
 * blocks, 1024 positions learned, GELU, pre-norm, tied output. */
static ModelConfig gpt2_small(void) {
    return (ModelConfig){50257, 768, 12, 3072, 12, 1024, true, NORM_PRE, POS_LEARNED, ACT_GELU, true};
}

/* The cost model of one data-parallel step on P machines, each with b tokens of the batch:
 *   t_step = t_compute + t_allreduce,   t_compute = 6 N b / F      (forward 2 N, backward 4 N flops a token)
 *   t_allreduce = 2 (P - 1) alpha + 2 (P - 1) / P x 4 N / beta    (the ring: 2 (P-1) messages)
 * nothing overlapped. Returns the speedup over one machine, P t_compute / t_step. */
static double predicted_speedup(double n_params, double tokens, double flops, double alpha, double beta, double P) {
    const double comp = 6 * n_params * tokens / flops, comm = 2 * (P - 1) * alpha + 2 * (P - 1) / P * 4 * n_params / beta;
    return P * comp / (comp + comm);
}

static void section_8_when_it_pays(Chapter *ch) {
    const int p = ch->d.size, B = (int)ch->tf.batch, T = ch->cfg.max_len;
    print_section(stdout, 8, "When it pays: tokens per second, and a cost model for many machines");
    if (!ch->timing || ch->tf.steps == 0) {
        printf("  (--timing measures tokens per second and, with 2 or more ranks, fits the cost model\n"
               "  t_step = 6 N b / F + 2 (P - 1) alpha + 2 (P - 1) / P 4 N / beta to this machine)\n");
        return;
    }
    const long K = ch->tf.steps < 20 ? ch->tf.steps : 20;
    Replica r;
    replica_init(ch, &r, local_max(ch), 0, (size_t)model_param_count(&ch->cfg), SYNC_ONCE);
    double *losses = xcalloc((size_t)K, sizeof(double));
    ch->comm_seconds = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    train_run(ch, &r, r.ts.steps_done + K, losses, NULL, NULL);
    double t[2] = {MPI_Wtime() - t0, 0};
    t[1] = t[0] - ch->comm_seconds; /* compute: everything but the all-reduce */
    free(losses), replica_free(&r);
    if (ch->stop != DIST_RUN) return;
    MPI_Allreduce(MPI_IN_PLACE, t, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    printf("  measured over %ld steps on %d ranks (wall clock, slowest rank; %d ranks on this machine's cores,\n"
           "  which other programs share: oversubscribed when the ranks outnumber the idle cores):\n", K, p, p);
    printf("    tokens per second: %.0f   step: %.3f ms, of which all-reduce %.3f ms\n", (double)K * B * T / t[0],
           1e3 * t[0] / (double)K, 1e3 * (t[0] - t[1]) / (double)K);
    const double n = (double)ch->dp.m.n_params, flops = 6 * n * (double)B / p * T / (t[1] / (double)K);
    printf("    compute rate per rank F = 6 N b / t_compute: %.3g flop/s\n", flops);
    if (p < 2) {
        printf("  (the ring's constants need 2 or more ranks: the cost model is fitted with mpirun -np 2 and up)\n");
        return;
    }
    /* the ring's constants here: alpha from a 1 KB all-reduce, beta from a 4 MB one */
    double small_ring, small_mpi, big_ring, big_mpi;
    time_both(ch, 256, &small_ring, &small_mpi);
    time_both(ch, 1u << 20, &big_ring, &big_mpi);
    const double alpha = small_ring / (2.0 * (p - 1));
    const double beta = 2.0 * (p - 1) / p * (4u << 20) / fmax(big_ring - 2.0 * (p - 1) * alpha, 1e-9);
    printf("    ring constants: alpha = %.3g s per message (1 KB), beta = %.3g bytes/s (4 MB)\n\n", alpha, beta);
    const ModelConfig g2 = gpt2_small();
    ModelFlags ch10_flags = options_model_defaults();
    const ModelConfig c10 = options_config(&ch10_flags, ch->cfg.vocab, true);
    const double n10 = (double)model_param_count(&c10), ng2 = (double)model_param_count(&g2);
    const double b10 = 16.0 * 64, bg2 = 8.0 * 1024; /* tokens per machine and step: chapter 10's batch; 8 x 1024 */
    printf("  Predicted speedup over one machine (machines computing at F, messages with this alpha, links\n"
           "  of 10 or 100 Gbit/s; chapter 10: N = %.0f, b = %.0f tokens; GPT-2 small: N = %.0f, b = %.0f):\n\n",
           n10, b10, ng2, bg2);
    printf("    %9s %12s %12s %12s %12s\n", "machines", "ch10 10G", "ch10 100G", "GPT-2 10G", "GPT-2 100G");
    enum { NP = 8 };
    double xs[NP], y[4][NP];
    for (int k = 0; k < NP; k++) {
        const double P = 8.0 * (1 << k);
        xs[k] = P;
        for (int j = 0; j < 4; j++)
            y[j][k] = predicted_speedup(j < 2 ? n10 : ng2, j < 2 ? b10 : bg2, flops, alpha, (j % 2 ? 100e9 : 10e9) / 8, P);
        printf("    %9.0f %12.1f %12.1f %12.1f %12.1f\n", P, y[0][k], y[1][k], y[2][k], y[3][k]);
    }
    char note[400];
    snprintf(note, sizeof note, "Notice: at 1024 machines and 10 Gbit/s chapter 10's model reaches %.0f%% of the "
             "ideal speedup and GPT-2 small %.0f%%: %s", 100 * y[0][NP - 1] / 1024, 100 * y[2][NP - 1] / 1024,
             y[0][NP - 1] < y[2][NP - 1] ? "a small model has too little compute per byte of gradient to hide the "
                                           "network; a bigger one pays for it with more work per step."
                                         : "here the small model scales better, its gradient being smaller.");
    print_note(stdout, note);
    /* how fast a machine must compute for the network to take half of every step at 1024 machines */
    for (int j = 0; j < 4; j += 2) {
        const double N = j < 2 ? n10 : ng2, b = j < 2 ? b10 : bg2, P = 1024;
        const double comm = 2 * (P - 1) * alpha + 2 * (P - 1) / P * 4 * N / (10e9 / 8);
        printf("  %s: at 1024 machines on 10 Gbit/s the network takes over half of each step once a\n"
               "  machine computes faster than %.3g flop/s (%.3g times F here)\n",
               j < 2 ? "chapter 10's GPT" : "GPT-2 small", 6 * N * b / comm, 6 * N * b / comm / flops);
    }
    LineSeries ser[4] = {{"chapter 10's GPT, 10 Gbit/s", y[0], false}, {"chapter 10's GPT, 100 Gbit/s", y[1], false},
                         {"GPT-2 small, 10 Gbit/s", y[2], false}, {"GPT-2 small, 100 Gbit/s", y[3], false}};
    LineAxes ax = {"machines", "predicted speedup over one machine", true, true};
    putchar('\n');
    plot_lines(&ch->plot, "scaling", "Data parallelism: the cost model's prediction", &ax, xs, NP, ser, 4);
}

/* ==== 9. Summary ==== */

static void section_9_summary(const Chapter *ch, double param_diff, double zero_diff, const double overlap_diffs[2]) {
    const bool trained = ch->tf.steps > ch->start.steps_done;
    print_section(stdout, 9, "Summary");
    printf("ranks: %d\nparameters: %zu\nsteps: %lld\nbatch: %lld\n", ch->d.size, ch->dp.m.n_params, ch->tf.steps,
           ch->tf.batch);
    printf("max_param_diff_vs_one_process: %.6g\n", param_diff);
    if (ch->zero && trained) printf("max_param_diff_zero1: %.6g\n", zero_diff);
    if (trained)
        printf("max_param_diff_overlap_vs_buckets: %.6g\nmax_param_diff_overlap_vs_one_allreduce: %.6g\n", overlap_diffs[0],
               overlap_diffs[1]);
}

/* ==== Ctrl-C ==== */

/* Between sections, together: has any rank been interrupted? (Inside training the step's own
 * all-reduce answers this; once the ranks have agreed, no more messages.) */
static bool stopping(Chapter *ch) {
    if (ch->stop == DIST_RUN) ch->stop = dist_interrupt_any();
    return ch->stop != DIST_RUN;
}

/* Every rank stopped after the same step: rank 0 saves section 3's model with --save and says where
 * it stopped (one line on stderr); every rank exits with 130. After mpirun's SIGTERM the job is being
 * torn down, and MPI_Finalize would wait for mpirun until its SIGKILL: then the ranks skip it. */
_Noreturn static void stop_interrupted(Chapter *ch) {
    if (ch->save) save_checkpoint(ch);
    fflush(stdout);
    if (ch->d.rank == 0) {
        if (ch->save)
            fprintf(stderr, "%s: interrupted after step %ld of %lld; saved %s (resume with --load %s)\n", CHAPTER,
                    ch->dp.ts.steps_done, ch->tf.steps, ch->save, ch->save);
        else
            fprintf(stderr, "%s: interrupted after step %ld of %lld; nothing saved (no --save)\n", CHAPTER,
                    ch->dp.ts.steps_done, ch->tf.steps);
    }
    dist_exit(EXIT_INTERRUPTED, ch->stop != DIST_SIGTERM);
}

/* Whoever allocates frees. */
static void chapter_free(Chapter *ch) {
    free(ch->train_ext);
    replica_free(&ch->dp);
    if (ch->d.rank == 0) replica_free(&ch->ref);
    if (ch->loaded) checkpoint_free(&ch->ck);
    dataset_free(&ch->data);
}

/* ==== the table of contents ==== */

int main(int argc, char **argv) {
    Chapter ch;
    memset(&ch, 0, sizeof ch);
    dist_start(&ch.d, &argc, &argv);
    parse_flags(&ch, argc, argv);
    dist_watch_interrupts();
    if (ch.d.rank > 0 && !freopen("/dev/null", "w", stdout)) die(EXIT_RUNTIME, "cannot silence rank %d", ch.d.rank);
    printf("Chapter 14: data parallelism over MPI (the end of §1: the cost of training)\n");
    if (ch.load) load_checkpoint(&ch);
    section_1_corpus_model(&ch);
    section_2_split(&ch);
    double param_diff = 0, zero_diff = 0, overlap_diffs[2] = {0, 0};
    section_3_train(&ch, &param_diff);
    if (!stopping(&ch)) section_4_ring(&ch);
    if (!stopping(&ch)) section_5_zero(&ch, &zero_diff);
    if (!stopping(&ch)) section_6_overlap(&ch, overlap_diffs);
    if (!stopping(&ch)) section_7_checkpoint(&ch);
    if (!stopping(&ch)) section_8_when_it_pays(&ch);
    if (stopping(&ch)) stop_interrupted(&ch);
    section_9_summary(&ch, param_diff, zero_diff, overlap_diffs);
    chapter_free(&ch);
    fflush(stdout);
    dist_finish();
    return 0;
}
