/* interrupt: Ctrl-C during a long run.
 *
 * After interrupt_watch(), the first SIGINT does not stop the program: it only records the request,
 * which the program reads with interrupt_requested() at points where stopping is safe (after a
 * training step, between sections). A chapter that keeps a checkpoint then saves it with --save,
 * says where it stopped in one line on stderr and exits with status 130 (128 + SIGINT, the shell's
 * convention for "stopped by Ctrl-C"); one that keeps nothing calls interrupt_exit. A second
 * SIGINT takes the default action and ends the program at once.
 *
 * The request is a process-wide flag: a signal handler can reach nothing else. */
#ifndef INTERRUPT_H
#define INTERRUPT_H

#include <stdbool.h>

enum { EXIT_INTERRUPTED = 130 };

/* Install the handler. SIGINT is also unblocked: a Ctrl-C that arrived while it was blocked (in
 * the parent, before exec) is delivered here, as a request. */
void interrupt_watch(void);
bool interrupt_requested(void);

/* When a request is pending: print "program: interrupted <what>" on stderr (formatted like
 * printf), after what stdout holds so far, and exit with status 130. Otherwise return. */
void interrupt_exit_if_requested(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
