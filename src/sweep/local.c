/* sweep local: the local executor. Runs every unfinished run of a sweep,
 * N at a time, each as `mtrl sweep exec DIR i` (the same path a Slurm array
 * task takes), and reports progress from the run directories. */
#include "sweep/sweep_impl.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct slot {
    pid_t pid;
    int run;
} slot;

/* The second interrupt: every running run killed at once, the run process
 * (the pid in its directory's held lock) before its `sweep exec`. Its
 * checkpoints are written by rename, so the last one stays whole. */
static void kill_slots(const sweep_spec *s, const char *dir, const slot *slots, int par)
{
    for (int k = 0; k < par; k++) {
        if (slots[k].pid <= 0)
            continue;
        char rd[SWEEP_PATH_LEN + 256];
        sweep_run_dir(dir, &s->runs[slots[k].run], rd, sizeof rd);
        long run_pid = 0;
        if (fs_dir_locked(rd, &run_pid, NULL, 0) == 1 && run_pid > 0)
            kill((pid_t)run_pid, SIGKILL);
        kill(slots[k].pid, SIGKILL);
    }
}

static void progress(const sweep_spec *s, const char *dir, const int *outcome, double t0,
                     const sweep_local_opts *o)
{
    if (!o->progress)
        return;
    sweep_progress p = {0};
    for (int i = 0; i < s->n_runs; i++) {
        char rd[SWEEP_PATH_LEN + 256];
        sweep_run_dir(dir, &s->runs[i], rd, sizeof rd);
        sweep_run_status st;
        sweep_read_status(rd, NULL, &st);
        if (outcome[i] == 1)
            p.running++;
        else if (st.state == SWEEP_DONE)
            p.done++;
        else if (outcome[i] == 2 || st.state == SWEEP_FAILED)
            p.failed++;
        else if (outcome[i] == 3)
            p.stopped++;
        else
            p.pending++;
        /* Against the sweep's own totals, so pending runs count too. */
        int64_t total = st.iterations > 0 ? st.iterations : s->runs[i].iterations;
        int64_t it = st.state == SWEEP_DONE ? total : st.iteration;
        p.iteration += it > 0 ? (it < total ? it : total) : 0;
        p.iterations += total;
    }
    p.elapsed = now_s() - t0;
    o->progress(o->ctx, &p);
}

int sweep_local(const sweep_spec *s, const char *dir, const sweep_local_opts *o, int *result,
                mtrl_err *err)
{
    *result = 1;
    int par = o->parallel > 0 ? o->parallel : 1;
    /* outcome per run: 0 not launched, 1 running, 2 failed, 3 stopped, 4 done */
    int *outcome = calloc((size_t)s->n_runs, sizeof *outcome);
    slot *slots = calloc((size_t)par, sizeof *slots);
    if (!outcome || !slots) {
        free(outcome);
        free(slots);
        return err_set(err, MTRL_ENOMEM, "out of memory");
    }
    int rc = 0, next = 0, active = 0, stopping = 0, killed = 0;
    double t0 = now_s(), shown = 0;
    char idx[32];
    for (;;) {
        if (*o->stop && !stopping) {
            stopping = 1;
            for (int k = 0; k < par; k++)
                if (slots[k].pid > 0)
                    kill(slots[k].pid, SIGTERM);
        }
        if (*o->stop >= 2 && !killed) {
            killed = 1;
            kill_slots(s, dir, slots, par);
        }
        /* Launch in manifest order; runs already done are skipped. */
        while (!stopping && active < par && next < s->n_runs) {
            int i = next++;
            char rd[SWEEP_PATH_LEN + 256];
            sweep_run_dir(dir, &s->runs[i], rd, sizeof rd);
            sweep_run_status st;
            sweep_read_status(rd, NULL, &st);
            if (st.state == SWEEP_DONE) {
                outcome[i] = 4;
                continue;
            }
            snprintf(idx, sizeof idx, "%d", i);
            char *argv[] = {(char *)o->self, "sweep", "exec", (char *)dir, idx, NULL};
            char log[SWEEP_PATH_LEN + 256];
            sweep_log_path(dir, &s->runs[i], log, sizeof log);
            pid_t pid = sweep_spawn(argv, log, err);
            if (pid < 0) {
                rc = MTRL_ERUNTIME;
                stopping = 1;
                break;
            }
            for (int k = 0; k < par; k++)
                if (slots[k].pid <= 0) {
                    slots[k] = (slot){pid, i};
                    break;
                }
            outcome[i] = 1;
            active++;
        }
        if (!active && (stopping || next >= s->n_runs))
            break;
        int status;
        pid_t w = waitpid(-1, &status, WNOHANG);
        if (w > 0) {
            for (int k = 0; k < par; k++)
                if (slots[k].pid == w) {
                    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                    outcome[slots[k].run] = code == 0 ? 4 : code == 3 || killed ? 3 : 2;
                    slots[k].pid = 0;
                    active--;
                }
            continue;
        }
        if (w < 0 && errno != EINTR && errno != ECHILD) {
            rc = err_set(err, MTRL_ERUNTIME, "waitpid: %s", strerror(errno));
            break;
        }
        if (now_s() - shown >= 1.0) {
            progress(s, dir, outcome, t0, o);
            shown = now_s();
        }
        usleep(100000);
    }
    progress(s, dir, outcome, t0, o);
    int failed = 0, unfinished = 0;
    for (int i = 0; i < s->n_runs; i++) {
        failed += outcome[i] == 2;
        unfinished += outcome[i] != 4;
    }
    *result = failed || rc ? 1 : unfinished ? 3 : 0;
    free(outcome);
    free(slots);
    return rc;
}
