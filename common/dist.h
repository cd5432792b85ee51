/* dist: the pieces of data-parallel training over MPI (chapter 14), built with mpicc only: this
 * module is NOT part of build/libnotebook.a, which builds without MPI.
 *
 * Everything here is collective (every rank of MPI_COMM_WORLD calls it, in the same order) unless
 * it says otherwise. A rank that leaves without dist_finish (an exit from die(), a crash in a
 * library) takes the whole job down through MPI_Abort, so that no other rank waits for it forever.
 *
 * The splits. n items over p ranks: rank r owns [r n / p, (r + 1) n / p) (integer division), so
 * the shares differ by at most one and cover 0 .. n-1 once, in order. The same split cuts a batch
 * of windows (data parallelism), a gradient into ring chunks, and AdamW's state (ZeRO stage 1).  */
#ifndef DIST_H
#define DIST_H

#include <stdbool.h>
#include <stddef.h>

#include <mpi.h>

#include "cli.h"

typedef struct {
    int rank, size; /* this process's rank in MPI_COMM_WORLD, and how many there are */
} Dist;

/* MPI_Init, the rank and size, and the abort-on-early-exit guard. */
void dist_start(Dist *d, int *argc, char ***argv);
/* MPI_Finalize (after which an exit is an ordinary one). */
void dist_finish(void);

/* The share of rank r in n items over p: [*lo, *hi). */
void dist_share(size_t n, int p, int r, size_t *lo, size_t *hi);

/* Parse the command line on every rank without exiting there; then, together: if any rank's
 * parse failed, the lowest such rank prints its one line and every rank exits 2; --help is printed
 * by rank 0 and every rank exits 0. Sets the program name for die(). */
void dist_parse(const Dist *d, CliSpec *spec, CliCommon *common, int argc, char **argv);

/* A usage error every rank sees the same way (it depends on flags and the size only): rank 0
 * prints "program: message", every rank exits 2. Returns when cond is false. */
void dist_usage_check(const Dist *d, bool cond, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The ring all-reduce, by hand: buf (n floats) becomes the sum over the ranks, with point-to-point
 * messages only. Reduce-scatter (p - 1 steps: send one chunk to the right, receive one from the
 * left, add it), then all-gather (p - 1 steps: pass the finished chunks around). Returns the bytes
 * this rank sent: 2 (p - 1) chunks, about 2 (p - 1) / p of the buffer. */
size_t dist_ring_allreduce(float *buf, size_t n, const Dist *d);

/* MPI_Allreduce (sum, in place) of n floats, in pieces of at most INT_MAX elements. */
void dist_allreduce_sum(float *buf, size_t n);
/* Every rank's share (dist_share of n) of buf gathered into every rank's buf. */
void dist_allgather_shares(float *buf, size_t n, const Dist *d);

#endif
