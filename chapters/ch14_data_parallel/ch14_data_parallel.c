/* ch14_data_parallel: chapter 10's GPT trained on several processes at once with MPI: data
 * parallelism, the ring all-reduce written by hand, and sharded optimizer state (ZeRO stage 1).
 * The source names the cost of training as a central challenge of LLMs (the end of §1: huge data,
 * huge compute); every large model is trained this way, on many machines.
 *
 *   g = (1/B) sum_b g_b = sum_r (B_r / B) gbar_r      the gradient of a batch of B windows is the
 *                                                     weighted sum of each rank's mean over its B_r
 *   ring all-reduce: each rank sends 2 (p - 1) / p of the gradient, whatever p is
 *   ZeRO-1: rank r keeps AdamW's m and v for 1/p of the parameters, updates that 1/p, all-gathers
 *
 * Sections, in the order they print (main, at the end, is the table of contents):
 *   1 the corpus and the model   2 the split of the batch   3 data-parallel training against one
 *   process   4 the ring all-reduce   5 sharded optimizer state   6 checkpoint   7 when it pays
 *   (tokens per second and a cost model for many machines, with --timing)   8 summary
 *
 * Only rank 0 prints (the others' stdout goes to /dev/null); every rank computes.
 * Run: make ch14 && mpirun -np 2 ./ch14_data_parallel
 *      mpirun -np 4 --oversubscribe ./ch14_data_parallel --save gpt.ckpt   (then chapter 10:
 *      ./ch10_gpt_pretraining --load gpt.ckpt --generate 200)
 *      mpirun -np 2 ./ch14_data_parallel --steps 0 --timing --sweep   the all-reduce, 1 KB to 64 MB
 * As root, Open MPI also wants --allow-run-as-root.                                             */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "dataset.h"
#include "dist.h"
#include "model.h"
#include "optim.h"
#include "options.h"
#include "plot.h"
#include "print.h"
#include "train.h"
#include "util.h"

#define CHAPTER "ch14_data_parallel"

enum { CHAPTER_N_OPTIONS = 6 };

typedef struct {
    Dist d;
    /* flags */
    DatasetFlags data_flags;
    CliCommon common;
    ModelFlags mf;
    TrainFlags tf;
    const char *save;
    bool timing, sweep;
    long long exit_rank, exit_step, zero;
    CliOption opts[DATASET_N_OPTIONS + OPTIONS_N_MODEL + OPTIONS_N_TRAIN + CHAPTER_N_OPTIONS];
    int n_opts;
    /* state */
    Dataset data;
    ModelConfig cfg;
    Model dp;            /* this rank's replica, activations for its share of the batch */
    AdamW dp_opt;        /* every parameter's moments (plain data parallelism) */
    Model ref;           /* rank 0 only: one process with the whole batch, for comparison */
    AdamW ref_opt;
    TrainState ts;
    int *train_ext;      /* the training stream with one leading </s> */
    long n_train_ext;
    size_t b_lo, b_hi;   /* this rank's windows of every batch: [b_lo, b_hi) */
    double comm_seconds; /* wall time this rank spent in the all-reduce and all-gather of dp_step */
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
    ch->exit_rank = -1, ch->exit_step = 1, ch->zero = 1;
    CliOption *o = ch->opts;
    int n = dataset_cli_options(o, &ch->data_flags);
    n += options_model(o + n, &ch->mf);
    n += options_train(o + n, &ch->tf);
    o[n++] = cli_string("--save", &ch->save, "FILE", "write a checkpoint in chapter 10's format (rank 0)");
    o[n++] = cli_flag("--timing", &ch->timing, "time the ring against MPI_Allreduce (varies run to run)");
    o[n++] = cli_flag("--sweep", &ch->sweep, "with --timing: every size from 1 KB to 64 MB (else 1 KB, 32 KB, 1 MB)");
    o[n++] = cli_int("--zero", &ch->zero, 0, 1, "0|1", "1: also train with sharded optimizer state (section 5)");
    o[n++] = cli_int("--exit-rank", &ch->exit_rank, -1, 1 << 20, "R",
                     "a test: rank R dies without a word to the others at --exit-step (-1: none)");
    o[n++] = cli_int("--exit-step", &ch->exit_step, 1, 1000000000, "S", "the step at which --exit-rank dies");
    ch->n_opts = n;
    CliSpec spec = {CHAPTER, "Chapter 10's GPT trained on several MPI processes (the end of §1: the cost of training):\n"
                             "data parallelism, a ring all-reduce by hand, ZeRO-1. Run with mpirun -np P.",
                    o, n};
    dist_parse(&ch->d, &spec, &ch->common, argc, argv);
    dist_usage_check(&ch->d, ch->tf.batch < ch->d.size, "--batch %lld: fewer windows than the %d ranks (each needs one)",
                     ch->tf.batch, ch->d.size);
    dist_usage_check(&ch->d, ch->mf.d_model % ch->mf.heads != 0, "--heads %lld does not divide --d-model %lld",
                     ch->mf.heads, ch->mf.d_model);
    if (ch->d.rank > 0) ch->common.no_plot = true;
    plot_init(&ch->plot, &ch->common, CHAPTER, stdout);
}

/* ==== 1. The corpus and the model ==== */

static void section_1_corpus_model(Chapter *ch) {
    print_section(stdout, 1, "The corpus and the model (chapter 10's)");
    printf("  %d ranks (MPI processes); each loads the same corpus and builds the same model from --seed.\n\n",
           ch->d.size);
    dataset_load(&ch->data, &ch->data_flags, (uint64_t)ch->common.seed, false, stdout);
    ch->train_ext = token_stream_with_eos(&ch->data.train, &ch->n_train_ext);
    ch->cfg = options_config(&ch->mf, ch->data.vocab.size, true);
    if (ch->n_train_ext <= ch->cfg.max_len + 1)
        die(EXIT_RUNTIME, "the training text has %ld tokens, too few for windows of --context %d", ch->n_train_ext,
            ch->cfg.max_len);
    dist_share((size_t)ch->tf.batch, ch->d.size, ch->d.rank, &ch->b_lo, &ch->b_hi);
    /* every rank's replica holds activations for the largest share, ceil(B / p) windows */
    const int local_max = (int)((ch->tf.batch + ch->d.size - 1) / ch->d.size);
    model_init(&ch->dp, &ch->cfg, local_max, (uint64_t)ch->common.seed);
    adamw_init(&ch->dp_opt, ch->dp.n_params, 0.9f, 0.95f, 1e-8f, (float)ch->tf.weight_decay);
    if (ch->d.rank == 0) {
        model_init(&ch->ref, &ch->cfg, (int)ch->tf.batch, (uint64_t)ch->common.seed);
        adamw_init(&ch->ref_opt, ch->ref.n_params, 0.9f, 0.95f, 1e-8f, (float)ch->tf.weight_decay);
    }
    rng_seed(&ch->ts.data_rng, (uint64_t)ch->common.seed, 10); /* chapter 10's sampler, the same stream */
    const ModelConfig *c = &ch->cfg;
    printf("\n  GPT: vocabulary %d, d_model %d, %d heads, d_ff %d, %d blocks, context %d; %zu parameters\n", c->vocab,
           c->d_model, c->heads, c->d_ff, c->layers, c->max_len, ch->dp.n_params);
    printf("  gradient: %zu floats = %zu bytes, the message every step must combine across the ranks\n",
           ch->dp.n_params, ch->dp.n_params * sizeof(float));
}

/* ==== 2. The split of the batch ==== */

/* The global batch, the same on every rank: B windows of T + 1 tokens from chapter 10's sampler (one
 * generator, seeded as there, drawn B times per step on every rank). Rank r then trains on windows
 * [r B / p, (r + 1) B / p) of it: together the ranks see exactly the windows one process draws. */
static void global_batch(Chapter *ch, int *ids, int *tg) {
    const int B = (int)ch->tf.batch, T = ch->cfg.max_len;
    for (int b = 0; b < B; b++) {
        const long start = (long)rng_below(&ch->ts.data_rng, (uint32_t)(ch->n_train_ext - T));
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
           ch->dp.n_params);
}

/* ==== 3. Data-parallel training against one process ==== */

/* One data-parallel step. This rank's nb windows (ids, tg: nb T each) give the mean loss and
 * gradient of its share; they are weighted by nb / B and summed across the ranks (MPI_Allreduce),
 * then clipped and AdamW'd exactly as train_step does for one process. The optimizer holds the
 * moments of parameters [lo, hi) only (all of them without sharding); with a shard, each rank
 * updates its share and the shares are all-gathered. Returns the batch's loss (every rank). */
static double dp_step(Chapter *ch, Model *m, AdamW *opt, size_t lo, size_t hi, const int *ids, const int *tg, long step) {
    const int nb = (int)(ch->b_hi - ch->b_lo), B = (int)ch->tf.batch, T = ch->cfg.max_len;
    const double local = model_forward(m, ids, tg, nb, T);
    model_zero_grad(m);
    model_backward(m);
    const float w = (float)nb / (float)B;
    for (size_t i = 0; i < m->n_params; i++) m->grad_mem[i] *= w;
    double loss = local * nb / B;
    const double t0 = MPI_Wtime();
    MPI_Allreduce(MPI_IN_PLACE, &loss, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    dist_allreduce_sum(m->grad_mem, m->n_params);
    ch->comm_seconds += MPI_Wtime() - t0;
    const Schedule s = options_schedule(&ch->tf);
    /* every rank holds the same loss and gradient: every rank stops here, rank 0 says why */
    const double norm = grad_clip(m->grad_mem, m->n_params, s.clip);
    if (!isfinite(loss) || !isfinite(norm)) {
        if (ch->d.rank == 0)
            fprintf(stderr, "%s: training diverged at step %ld (loss %g, gradient norm %g); try a lower --lr (now %g)\n",
                    CHAPTER, step, loss, norm, s.lr);
        fflush(stderr);
        dist_finish();
        exit(EXIT_RUNTIME);
    }
    adamw_begin_step(opt);
    const float lr = lr_schedule(step - 1, s.warmup, s.steps, (float)s.lr, (float)s.lr / 10);
    for (int i = 0; i < m->n_tensors; i++) { /* each tensor's part inside [lo, hi), with its decay */
        const ModelTensor *t = &m->tensors[i];
        const size_t off = (size_t)(t->param->data - m->param_mem), n = (size_t)t->param->rows * t->param->cols;
        const size_t a = off > lo ? off : lo, b = off + n < hi ? off + n : hi;
        if (a < b) adamw_update(opt, m->param_mem + a, m->grad_mem + a, a - lo, b - a, lr, t->decay);
    }
    if (hi - lo < m->n_params) {
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

/* Train `steps` steps (--steps) from the model's present state; losses[s - 1] gets step s's loss (every
 * rank); with ref (rank 0), the one-process run steps alongside and ref_losses gets its losses. */
static void train_run(Chapter *ch, long steps, Model *m, AdamW *opt, size_t lo, size_t hi, double *losses, Model *ref,
                      AdamW *ref_opt, double *ref_losses) {
    const int B = (int)ch->tf.batch, T = ch->cfg.max_len;
    int *ids = xmalloc(sizeof(int) * (size_t)B * (size_t)T), *tg = xmalloc(sizeof(int) * (size_t)B * (size_t)T);
    rng_seed(&ch->ts.data_rng, (uint64_t)ch->common.seed, 10);
    const Schedule sched = options_schedule(&ch->tf);
    for (long s = 1; s <= steps; s++) {
        if (ch->d.rank == ch->exit_rank && s == ch->exit_step) { /* a crash: no clean-up, no message to the others */
            fprintf(stderr, "%s: rank %d: dying at step %ld (--exit-rank)\n", CHAPTER, ch->d.rank, s);
            fflush(NULL);
            _exit(EXIT_RUNTIME);
        }
        global_batch(ch, ids, tg);
        const size_t off = ch->b_lo * (size_t)T;
        losses[s - 1] = dp_step(ch, m, opt, lo, hi, ids + off, tg + off, s);
        if (ref) ref_losses[s - 1] = train_step(ref, ref_opt, ids, tg, B, T, s, &sched);
    }
    ch->ts.steps_done = steps;
    free(ids), free(tg);
}

static void section_3_train(Chapter *ch, double *param_diff) {
    const long S = ch->tf.steps;
    print_section(stdout, 3, "Data-parallel training against one process with the whole batch");
    printf("  %lld steps of B = %lld windows of %d tokens, split over %d ranks; rank 0 also trains a second\n"
           "  copy alone on all B windows (chapter 10's train_step) for comparison. Loss in nats per token.\n\n",
           ch->tf.steps, ch->tf.batch, ch->cfg.max_len, ch->d.size);
    double *dp = xcalloc((size_t)S + 1, sizeof(double)), *one = xcalloc((size_t)S + 1, sizeof(double));
    const bool r0 = ch->d.rank == 0;
    train_run(ch, S, &ch->dp, &ch->dp_opt, 0, ch->dp.n_params, dp, r0 ? &ch->ref : NULL, &ch->ref_opt, one);
    if (!r0) {
        free(dp), free(one);
        return;
    }
    double worst_loss = 0;
    printf("    %8s %16s %16s %12s\n", "step", "data-parallel", "one process", "|difference|");
    for (long s = 1; s <= S; s++) {
        worst_loss = fmax(worst_loss, fabs(dp[s - 1] - one[s - 1]));
        if (s % ch->tf.eval_every == 0 || s == S || s == 1)
            printf("    %8ld %16.8f %16.8f %12.3g\n", s, dp[s - 1], one[s - 1], fabs(dp[s - 1] - one[s - 1]));
    }
    *param_diff = max_diff(ch->dp.param_mem, ch->ref.param_mem, ch->dp.n_params);
    printf("\n  after %ld steps: largest |parameter difference| %.3g, largest |loss difference| %.3g\n", S, *param_diff,
           worst_loss);
    char note[600];
    if (*param_diff == 0)
        snprintf(note, sizeof note, "Notice: the two runs agree to the last bit: with one rank the weight B_r/B is 1 "
                 "and the sum over ranks is the rank's own gradient, so every operation is the same.");
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
        for (long s = 0; s < S; s++) x[s] = (double)(s + 1);
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
    const size_t n = ch->dp.n_params;
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
    const double real = ring_against_mpi(ch, ch->dp.grad_mem, n, sent);
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
    const size_t n = ch->dp.n_params;
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
    if (!ch->zero || ch->tf.steps == 0) {
        printf("\n  (--zero 1 trains the sharded version and compares it)\n");
        return;
    }
    size_t lo, hi;
    dist_share(n, p, ch->d.rank, &lo, &hi);
    Model m;
    AdamW opt;
    model_init(&m, &ch->cfg, (int)((ch->tf.batch + p - 1) / p), (uint64_t)ch->common.seed);
    adamw_init(&opt, hi - lo, 0.9f, 0.95f, 1e-8f, (float)ch->tf.weight_decay);
    double *losses = xcalloc((size_t)ch->tf.steps, sizeof(double));
    train_run(ch, ch->tf.steps, &m, &opt, lo, hi, losses, NULL, NULL, NULL);
    unsigned long long held = 2ull * opt.n, max_held = 0;
    MPI_Reduce(&held, &max_held, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, 0, MPI_COMM_WORLD);
    *zero_diff = max_diff(m.param_mem, ch->dp.param_mem, n);
    MPI_Allreduce(MPI_IN_PLACE, zero_diff, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    printf("\n  trained again for %lld steps with the moments sharded: the largest rank held %llu moment floats\n"
           "  (%llu bytes; %zu without sharding). Largest |parameter difference| from section 3's run, over\n"
           "  every rank's copy: %.3g\n", ch->tf.steps, max_held, 4 * max_held, 2 * n, *zero_diff);
    char note[300];
    snprintf(note, sizeof note, "Notice: %s",
             *zero_diff == 0 ? "the same bits: AdamW updates each parameter from its own gradient and moments alone, "
                               "so which rank does it changes nothing."
                             : "the sharded run DIFFERS from the plain one, which an element-wise optimizer should not.");
    print_note(stdout, note);
    free(losses);
    model_free(&m), adamw_free(&opt);
}

/* ==== 6. Checkpoint ==== */

static void section_6_checkpoint(Chapter *ch) {
    print_section(stdout, 6, "Checkpoint (chapter 10's format, written by rank 0)");
    if (!ch->save) {
        printf("  (--save FILE keeps the data-parallel model; chapter 10 loads it: --load FILE --generate N)\n");
        return;
    }
    /* every replica holds the same parameters and moments: rank 0 writes, the others wait for it */
    if (ch->d.rank == 0) checkpoint_save(ch->save, &ch->dp, &ch->data.vocab, ch->data.level, &ch->dp_opt, &ch->ts);
    MPI_Barrier(MPI_COMM_WORLD);
    struct stat st;
    if (ch->d.rank == 0 && stat(ch->save, &st) == 0)
        printf("  wrote %s (%lld bytes). Chapter 10 reads it: ./ch10_gpt_pretraining --load %s --generate 200\n",
               ch->save, (long long)st.st_size, ch->save);
}

/* ==== 7. When it pays ==== */

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

static void section_7_when_it_pays(Chapter *ch) {
    const int p = ch->d.size, B = (int)ch->tf.batch, T = ch->cfg.max_len;
    print_section(stdout, 7, "When it pays: tokens per second, and a cost model for many machines");
    if (!ch->timing || ch->tf.steps == 0) {
        printf("  (--timing measures tokens per second and, with 2 or more ranks, fits the cost model\n"
               "  t_step = 6 N b / F + 2 (P - 1) alpha + 2 (P - 1) / P 4 N / beta to this machine)\n");
        return;
    }
    const long K = ch->tf.steps < 20 ? ch->tf.steps : 20;
    Model m;
    AdamW opt;
    model_init(&m, &ch->cfg, (int)((B + p - 1) / p), (uint64_t)ch->common.seed);
    adamw_init(&opt, m.n_params, 0.9f, 0.95f, 1e-8f, (float)ch->tf.weight_decay);
    double *losses = xcalloc((size_t)K, sizeof(double));
    ch->comm_seconds = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    train_run(ch, K, &m, &opt, 0, m.n_params, losses, NULL, NULL, NULL);
    double t[2] = {MPI_Wtime() - t0, 0};
    t[1] = t[0] - ch->comm_seconds; /* compute: everything but the all-reduce */
    MPI_Allreduce(MPI_IN_PLACE, t, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    free(losses), model_free(&m), adamw_free(&opt);
    printf("  measured over %ld steps on %d ranks (wall clock, slowest rank; %d ranks on this machine's cores,\n"
           "  which other programs share: oversubscribed when the ranks outnumber the idle cores):\n", K, p, p);
    printf("    tokens per second: %.0f   step: %.3f ms, of which all-reduce %.3f ms\n", (double)K * B * T / t[0],
           1e3 * t[0] / (double)K, 1e3 * (t[0] - t[1]) / (double)K);
    const double n = (double)ch->dp.n_params, flops = 6 * n * (double)B / p * T / (t[1] / (double)K);
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

/* ==== 8. Summary ==== */

static void section_8_summary(const Chapter *ch, double param_diff, double zero_diff) {
    print_section(stdout, 8, "Summary");
    printf("ranks: %d\nparameters: %zu\nsteps: %lld\nbatch: %lld\n", ch->d.size, ch->dp.n_params, ch->tf.steps,
           ch->tf.batch);
    printf("max_param_diff_vs_one_process: %.6g\n", param_diff);
    if (ch->zero && ch->tf.steps > 0) printf("max_param_diff_zero1: %.6g\n", zero_diff);
}

/* Whoever allocates frees. */
static void chapter_free(Chapter *ch) {
    free(ch->train_ext);
    model_free(&ch->dp), adamw_free(&ch->dp_opt);
    if (ch->d.rank == 0) model_free(&ch->ref), adamw_free(&ch->ref_opt);
    dataset_free(&ch->data);
}

/* ==== the table of contents ==== */

int main(int argc, char **argv) {
    Chapter ch;
    memset(&ch, 0, sizeof ch);
    dist_start(&ch.d, &argc, &argv);
    parse_flags(&ch, argc, argv);
    if (ch.d.rank > 0 && !freopen("/dev/null", "w", stdout)) die(EXIT_RUNTIME, "cannot silence rank %d", ch.d.rank);
    printf("Chapter 14: data parallelism over MPI (the end of §1: the cost of training)\n");
    section_1_corpus_model(&ch);
    section_2_split(&ch);
    double param_diff = 0, zero_diff = 0;
    section_3_train(&ch, &param_diff);
    section_4_ring(&ch);
    section_5_zero(&ch, &zero_diff);
    section_6_checkpoint(&ch);
    section_7_when_it_pays(&ch);
    section_8_summary(&ch, param_diff, zero_diff);
    chapter_free(&ch);
    fflush(stdout);
    dist_finish();
    return 0;
}
