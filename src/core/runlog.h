/* runlog: the metrics a run records, as files other tools read directly.
 * Every event (kind, step, wall time, named values) goes to
 *   <run_dir>/metrics.jsonl   one JSON object per line, all kinds together;
 *   <run_dir>/<kind>.csv      one CSV per kind (train.csv, eval.csv, ...),
 *                             header "step,wall_time,<names...>" taken from
 *                             the first event of that kind.
 * Both are flushed after every event, so a crashed run keeps what it logged.
 * A resumed run appends (no second header, and the same columns required);
 * a line cut short by a crash is dropped on reopen, and log_drop_after
 * removes events past the checkpoint being resumed so no step appears twice.
 * wall_time is Unix time in seconds (CLOCK_REALTIME), comparable across a
 * resume. Values are written with 10 significant digits; non-finite values
 * are "nan"/"inf"/"-inf" in CSV (pandas reads them) and null in JSON.
 * Not thread-safe: one thread logs. Depends on core/err.h, core/fsutil.h. */
#ifndef MTRL_CORE_RUNLOG_H
#define MTRL_CORE_RUNLOG_H

#include <stdint.h>

#include "core/err.h"

#define LOG_MAX_KINDS 16
#define LOG_MAX_NAME 128

typedef struct log_writer log_writer;

/* Opens the logs in run_dir (which must exist). append 0: a run dir whose
 * metrics.jsonl already holds events is refused (MTRL_EINPUT) instead of
 * overwritten; append 1: new events go after the existing ones. */
int log_open(log_writer **out, const char *run_dir, int append, mtrl_err *e);

/* Records one event. kind: 1-31 chars of [A-Za-z0-9_-] (it names a file).
 * names: n >= 0 names, each 1..LOG_MAX_NAME-1 printable ASCII chars without
 * spaces, ',', '"' or '\\', none of "kind", "step", "wall_time", no repeats.
 * Every event of a kind must use the same names in the same order as the
 * first one (also across a resume: the CSV header is checked), otherwise
 * MTRL_EINPUT. After the first event of a kind, nothing is allocated. */
int log_event(log_writer *w, const char *kind, int64_t step, int n, const char *const *names,
              const double *values, mtrl_err *e);

/* Flushes and closes all files; NULL is a no-op. */
void log_close(log_writer *w);

/* For resuming from a checkpoint taken at `step`: rewrites metrics.jsonl and
 * each <kind>.csv it mentions (atomically) keeping only events with
 * step <= `step`, and dropping what a failed write left: a last line without
 * its newline, a line not of the file's shape (a fragment glued to a later
 * line). Missing files are fine (nothing was logged). */
int log_drop_after(const char *run_dir, int64_t step, mtrl_err *e);

#endif
