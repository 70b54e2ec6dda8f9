/* progress: how far a long job is, on stderr (never stdout, which carries
 * results). On a terminal one line is redrawn in place (at most ~10 times a
 * second); otherwise (a log file, CI) a plain line is printed every few
 * seconds so the log stays readable. Each line shows step/total, percent,
 * steps per second (smoothed over the last ~10 s, since training speeds up
 * or slows down between phases), ETA, elapsed time and a short status
 * string chosen by the caller (e.g. "eval success 0.62").
 * Depends on core/timer.h only. */
#ifndef MTRL_CORE_PROGRESS_H
#define MTRL_CORE_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef struct prog prog;

/* total <= 0 means unknown (no percent, no ETA). tty: 1 terminal mode,
 * 0 plain mode, -1 decide by isatty(stderr). NULL only if out of memory. */
prog *prog_create(int64_t total, int tty);
/* Frees p (prints nothing; call prog_finish first). NULL is a no-op. */
void prog_destroy(prog *p);

/* Where lines go (default stderr); for tests and for callers that log to a
 * file. Does not change the mode chosen at create. */
void prog_set_stream(prog *p, FILE *out);
/* Seconds between plain lines (default 10) and between terminal redraws
 * (default 0.1). */
void prog_set_interval(prog *p, double plain_s, double tty_s);

/* Reports that `step` steps are done. status (may be NULL) is kept and shown
 * until replaced; pass the latest one each time or NULL to keep the old.
 * Prints only when the interval has passed, so it is cheap to call every
 * step. */
void prog_update(prog *p, int64_t step, const char *status);
/* The same with an explicit time (seconds, tm_now() scale), for tests. */
void prog_update_at(prog *p, int64_t step, const char *status, double now);

/* Erases the terminal line so another message can be printed cleanly; the
 * next update redraws it. No-op in plain mode. */
void prog_clear(prog *p);

/* Prints the final state (with a newline in terminal mode). */
void prog_finish(prog *p);
void prog_finish_at(prog *p, double now);

#endif
