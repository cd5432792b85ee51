/* interrupt: Ctrl-C during a long training run.
 *
 * After interrupt_watch(), the first SIGINT does not stop the program: it only records the request,
 * which the training loop reads with interrupt_requested() after each step. The chapter then lets
 * the step in progress finish, saves its checkpoint when --save was given, says so in one line and
 * exits with status 130 (128 + SIGINT, the shell's convention for "stopped by Ctrl-C"). A second
 * SIGINT takes the default action and ends the program at once.
 *
 * The request is a process-wide flag: a signal handler can reach nothing else. */
#ifndef INTERRUPT_H
#define INTERRUPT_H

#include <stdbool.h>

enum { EXIT_INTERRUPTED = 130 };

void interrupt_watch(void);
bool interrupt_requested(void);

#endif
