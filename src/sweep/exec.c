/* sweep exec: one run of a sweep as a child `mtrl run` (fresh, resumed, or
 * nothing when done), its output appended to the run's log, a signal passed
 * on as one SIGTERM, and inside Slurm the array task requeued when the run
 * stopped at a checkpoint because of the job's signal. */
#include "sweep/sweep_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"

int sweep_spawn(char *const argv[], const char *log_path, mtrl_err *err)
{
    int fd = -1;
    if (log_path && (fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666)) < 0)
        return err_set(err, MTRL_EIO, "%s: cannot open: %s", log_path, strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        if (fd >= 0)
            close(fd);
        return err_set(err, MTRL_ERUNTIME, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /* Own process group: a terminal's Ctrl-C reaches the parent only,
         * which passes on exactly one signal (a second one would make mtrl
         * run quit without its checkpoint). */
        setpgid(0, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGUSR1, SIG_DFL);
        /* If we die without passing a signal on (kill -9, a crash), the
         * child gets the SIGTERM we would have sent: it stops at a checkpoint
         * instead of running on unwatched, holding its run directory. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(3); /* we died before the line above took effect */
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        execv(argv[0], argv);
        dprintf(2, "mtrl sweep: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (fd >= 0)
        close(fd);
    return pid;
}

static void log_line(const char *log_path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void log_line(const char *log_path, const char *fmt, ...)
{
    FILE *f = fopen(log_path, "a");
    if (!f)
        return;
    time_t t = time(NULL);
    struct tm tmv;
    char stamp[32] = "";
    if (gmtime_r(&t, &tmv))
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    fprintf(f, "[mtrl sweep exec %s] ", stamp);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

int sweep_exec(const sweep_spec *s, const char *dir, int index, const sweep_exec_opts *opts,
               int *exit_code, mtrl_err *err)
{
    *exit_code = 1;
    if (index < 0 || index >= s->n_runs)
        return err_set(err, MTRL_EINPUT, "%s: run index %d out of range (the sweep has %d runs, 0 to %d)",
                       dir, index, s->n_runs, s->n_runs - 1);
    const sweep_run *r = &s->runs[index];
    char run_dir[SWEEP_PATH_LEN + 256], log[SWEEP_PATH_LEN + 256], p[SWEEP_PATH_LEN + 300],
        snap[SWEEP_PATH_LEN + SWEEP_NAME_LEN + 32];
    sweep_run_dir(dir, r, run_dir, sizeof run_dir);
    sweep_log_path(dir, r, log, sizeof log);
    snprintf(p, sizeof p, "%s/logs", dir);
    int rc = fs_mkdirs(p, err);
    if (rc)
        return rc;
    sweep_run_status st;
    sweep_read_status(run_dir, NULL, &st); /* the state on disk, not the log heuristic */
    const char *host = getenv("SLURMD_NODENAME");
    char where[256] = "";
    if (opts->in_slurm)
        snprintf(where, sizeof where, " (Slurm job %s, array task %s, restart %s%s%s)",
                 getenv("SLURM_ARRAY_JOB_ID") ? getenv("SLURM_ARRAY_JOB_ID") : getenv("SLURM_JOB_ID"),
                 getenv("SLURM_ARRAY_TASK_ID") ? getenv("SLURM_ARRAY_TASK_ID") : "-",
                 getenv("SLURM_RESTART_COUNT") ? getenv("SLURM_RESTART_COUNT") : "0", host ? ", node " : "",
                 host ? host : "");
    if (st.state == SWEEP_DONE) {
        log_line(log, "run %d %s: already done, nothing to do%s", index, r->name, where);
        *exit_code = 0;
        return 0;
    }
    if (st.state == SWEEP_RUNNING) {
        *exit_code = 4;
        return err_set(err, MTRL_ERUNTIME, "run %d %s: another process is running it (%s/.lock)", index,
                       r->name, run_dir);
    }

    enum { MAXA = 2 * SWEEP_MAX_SETS + SWEEP_MAX_AXES + 16 };
    char sets[MAXA][SWEEP_KV_LEN];
    char *argv[2 * MAXA + 10];
    int a = 0;
    argv[a++] = (char *)opts->self;
    argv[a++] = "run";
    snprintf(p, sizeof p, "%s/config.yaml", run_dir);
    int resume = access(p, F_OK) == 0;
    if (resume) {
        argv[a++] = "--resume";
        argv[a++] = run_dir;
    } else {
        /* From the config snapshot taken when the sweep was created; a sweep
         * directory from before snapshots has none: its config file then. */
        sweep_config_path(dir, r, snap, sizeof snap);
        if (access(snap, F_OK) == 0)
            argv[a++] = snap;
        else {
            argv[a++] = (char *)s->configs[r->config].path;
            int n = sweep_run_sets(s, r, sets, MAXA);
            for (int i = 0; i < n; i++) {
                argv[a++] = "--set";
                argv[a++] = sets[i];
            }
        }
        argv[a++] = "--out";
        argv[a++] = run_dir;
    }
    argv[a++] = "--quiet";
    argv[a] = NULL;
    char ov[8192];
    sweep_run_overrides(s, r, ov, sizeof ov);
    if (resume)
        log_line(log, "run %d %s: resuming %s from its checkpoint%s", index, r->name, run_dir, where);
    else
        log_line(log, "run %d %s: starting %s %s -> %s%s%s", index, r->name, s->configs[r->config].path, ov,
                 run_dir, where, argv[2] == snap ? " (from the config snapshot taken at the sweep's creation)" : "");

    pid_t pid = sweep_spawn(argv, log, err);
    if (pid < 0)
        return MTRL_ERUNTIME;
    int status = 0, forwarded = 0, got = 0;
    for (;;) {
        if (*opts->signal && !forwarded) {
            got = *opts->signal;
            forwarded = 1;
            /* Inside Slurm a SIGTERM (requeue, preemption, scancel, the time
             * limit) goes to every process of the job, the run included: a
             * second one from us could make it quit before its checkpoint.
             * USR1 (--signal=B:) reaches only us and is passed on. */
            if (opts->in_slurm && got == SIGTERM) {
                log_line(log, "run %d %s: got SIGTERM from Slurm, which signals the run too: it stops at a "
                         "checkpoint", index, r->name);
            } else {
                kill(pid, SIGTERM);
                log_line(log, "run %d %s: got signal %d, asked the run to stop at a checkpoint", index, r->name,
                         got);
            }
        }
        /* Polled, so a signal that lands just before the wait is not missed. */
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            return err_set(err, MTRL_ERUNTIME, "waitpid: %s", strerror(errno));
        usleep(50000);
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    sweep_read_status(run_dir, NULL, &st); /* the state on disk, not the log heuristic */
    if (st.state == SWEEP_DONE)
        code = 0;
    else if ((code == 0 && forwarded) || (code == 3))
        code = 3; /* stopped at a checkpoint: resumable */
    else if (forwarded && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM)
        code = 3; /* the signal came before the run set up its handlers: it
                   * never started training, or resumes from its checkpoint */
    else if (code == 0)
        code = 3; /* exit 0 but not finished: an mtrl run stopped by someone else's signal */
    log_line(log, "run %d %s: mtrl run exited %d -> %s", index, r->name, code,
             code == 0 ? "done" : code == 3 ? "stopped at a checkpoint, resumable" : "failed");
    *exit_code = code;
    if (code == 3 && opts->in_slurm && (forwarded || st.state == SWEEP_STOPPED)) {
        char what[128];
        mtrl_err e = {0};
        if (sweep_slurm_requeue_self(what, sizeof what, &e) && strstr(e.msg, "pending"))
            log_line(log, "run %d %s: Slurm has requeued this array task already; it continues from the "
                     "checkpoint", index, r->name);
        else if (e.msg[0])
            log_line(log, "run %d %s: requeue failed (%s); resubmit slurm/submit.sbatch or run mtrl sweep again",
                     index, r->name, e.msg);
        else
            log_line(log, "run %d %s: requeued Slurm array task %s; it continues from the checkpoint", index,
                     r->name, what);
    }
    return 0;
}
