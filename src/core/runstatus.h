/* runstatus: RUN_DIR/status.json, the state of a run for other programs
 * (sweeps, reports, schedulers) without parsing logs or opening HDF5:
 *   {"state": "running"|"stopped"|"done"|"failed", "iteration": N,
 *    "iterations": TOTAL, "best_success": X|null, "pid": P, "host": "H",
 *    "updated": "2026-12-04T06:30:00Z", "error": "last error line"|null}
 * `mtrl run` writes it atomically at start, at every checkpoint and at exit.
 * A run killed with -9 leaves "running" behind with its lock free, so
 * readers tell a live run from a dead one by the lock (fs_dir_locked).
 * Depends on core/err, core/fsutil, core/json. */
#ifndef MTRL_CORE_RUNSTATUS_H
#define MTRL_CORE_RUNSTATUS_H

#include <stdint.h>

#include "core/err.h"

typedef struct run_status {
    const char *state;    /* "running", "stopped", "done" or "failed" */
    int64_t iteration;    /* the iteration of the last checkpoint (0: none) */
    int64_t iterations;   /* run.iterations */
    double best_success;  /* best mean eval success; < 0 or NaN: none yet (null) */
    const char *error;    /* the error of a failed run, else NULL (null) */
} run_status;

/* Writes "<run_dir>/status.json" atomically with this process's pid, host
 * name and the current UTC time. */
int rstat_write(const char *run_dir, const run_status *s, mtrl_err *e);

#endif
