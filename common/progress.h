/* progress: a one-line report for long loops, updated in place on a terminal.
 *
 * It writes to stderr, and only when stderr is a terminal: tokens per second and the time left
 * change from run to run, so they never enter stdout, whose bytes depend only on the flags. */
#ifndef PROGRESS_H
#define PROGRESS_H

#include <stdbool.h>

typedef struct {
    bool active;      /* stderr is a terminal */
    double start;     /* seconds, monotonic */
    double last;      /* when the line was last drawn */
    long total;       /* steps */
} Progress;

void progress_start(Progress *p, long total);
double progress_seconds(const Progress *p); /* since the start */
/* Redraw the line (at most 10 times a second): step, loss, tokens per second, time left. */
void progress_update(Progress *p, long step, double loss, double tokens_per_step);
/* Clear the line. */
void progress_end(Progress *p);

#endif
