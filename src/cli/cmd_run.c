/* mtrl run: trains an agent from a config (mtrl eval is cmd_eval.c).
 * Signals end a run at the next episode boundary with a final checkpoint
 * (exit 3: stopped, resumable); a second Ctrl-C quits at once (the last
 * checkpoint stays). The run directory is locked for the life of the
 * run (core/fsutil.h) and its state is kept in status.json
 * (core/runstatus.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cli/eval_video.h"
#include "cli/train.h"
#include "core/cfg.h"
#include "core/fsutil.h"
#include "core/h5io.h"
#include "core/runstatus.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    if (stop_requested) {
        /* Only a second Ctrl-C quits at once. A repeated SIGTERM or SIGUSR1
         * is a scheduler (Slurm signals every process of a job) and must not
         * cost the checkpoint; the stop is already under way, so it is not
         * announced again either. */
        if (sig == SIGINT) {
            /* The signal is blocked while its handler runs: the raise lands
             * once this returns, with the default action (the process ends). */
            signal(sig, SIG_DFL);
            raise(sig);
        }
        return;
    }
    stop_requested = 1;
    static const char msg[] = "\nmtrl: stopping at the end of this episode to write a "
                              "checkpoint (Ctrl-C again to quit now)\n";
    if (write(2, msg, sizeof msg - 1)) {
    }
}

static void catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    /* SIGUSR1: what Slurm sends ahead of a time limit (--signal). */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

static void run_usage(FILE *f)
{
    fprintf(f,
            "usage: mtrl run CONFIG [--set key.path=value ...] [--out DIR] [--quiet]\n"
            "       mtrl run --resume DIR [--set key.path=value ...]\n\n"
            "Trains multi-task SAC as CONFIG says (see configs/base.yaml for every key).\n"
            "Writes into the run directory (default runs/<name>-<timestamp>/):\n"
            "  config.yaml     the resolved config\n"
            "  train.csv       one row per log interval (losses, episode success, speed)\n"
            "  eval.csv        one row per evaluation (mean and per-task success)\n"
            "  metrics.jsonl   both, as JSON lines\n"
            "  checkpoint.h5   networks, optimizer state, replay buffer, RNG states\n"
            "  status.json     state (running, stopped, done, failed), iteration, pid, host\n"
            "  .lock           locked while a run works in the directory\n\n"
            "  --set k=v       override a config key (repeatable)\n"
            "  --out DIR       the run directory (must be new or empty)\n"
            "  --resume DIR    continue the run in DIR from its checkpoint; the result is\n"
            "                  the same as an uninterrupted run (use --set run.iterations=N\n"
            "                  to extend it). Without a checkpoint yet, starts DIR's run\n"
            "                  from iteration 0; on a finished run, exits 0 at once.\n"
            "  --quiet         no progress line\n"
            "Ctrl-C, SIGTERM or SIGUSR1 stop at the end of the current episode after writing\n"
            "a checkpoint; a second Ctrl-C quits immediately (a repeated SIGTERM or SIGUSR1\n"
            "does not: the checkpoint is still written).\n\n"
            "Exit codes:\n"
            "  0  finished (all run.iterations done)\n"
            "  1  runtime failure (the last checkpoint, if any, is intact)\n"
            "  2  bad usage or bad input (config, --set, run directory, checkpoint)\n"
            "  3  stopped by a signal after writing a checkpoint: resume it with --resume\n"
            "  4  the run directory is in use by another mtrl process (its pid and host\n"
            "     are named)\n");
}

/* The files a run writes; a failed fresh start removes these (it made the
 * directory, or found it empty under the lock, so they are its own). */
static const char *const run_files[] = {"config.yaml", "status.json", "metrics.jsonl",
                                        "train.csv",   "eval.csv",    "checkpoint.h5", NULL};
static const char *const log_files[] = {"metrics.jsonl", "train.csv", "eval.csv", NULL};

/* One run's state, also the ctx of train_run's callbacks. */
typedef struct run_ctx {
    char dir[4096];
    char cfg_path[4200];
    mtrl_config cfg;
    int64_t iteration;
    double best;
    int started;  /* training began: config.yaml and status.json are its */
    int lock_fd;  /* the run directory's lock, or -1 */
    int made_dir; /* this process created the run directory */
    int have_ckpt;
} run_ctx;

typedef struct run_args {
    const char *path, *out, *resume;
    const char **sets;
    int n_sets, quiet;
} run_args;

static int put_status(run_ctx *r, const char *state, const char *error, mtrl_err *e)
{
    run_status s = {.state = state,
                    .iteration = r->iteration,
                    .iterations = r->cfg.run.iterations,
                    .best_success = r->best,
                    .error = error};
    return rstat_write(r->dir, &s, e);
}

static int on_start(void *ctx, int64_t iteration, double best, mtrl_err *e)
{
    run_ctx *r = ctx;
    r->iteration = iteration;
    r->best = best;
    /* Written only now that the config has been checked against the
     * checkpoint, so a rejected --set leaves config.yaml as it was; on
     * resume too, so --set run.iterations=N extensions persist. */
    int rc = cfg_write_yaml(&r->cfg, r->cfg_path, e);
    if (rc)
        return rc;
    r->started = 1;
    return put_status(r, "running", NULL, e);
}

static int on_checkpoint(void *ctx, int64_t iteration, double best, mtrl_err *e)
{
    run_ctx *r = ctx;
    r->iteration = iteration;
    r->best = best;
    return put_status(r, "running", NULL, e);
}

static void remove_in(const char *dir, const char *name)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    unlink(p);
}

static int is_regular(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The checkpoint's iteration, or -1 if it cannot be read (the resume then
 * reports why). */
static int64_t checkpoint_iteration(const char *path)
{
    h5_file *f;
    mtrl_err e = {0};
    int64_t it = -1;
    if (h5_open(&f, path, &e))
        return -1;
    if (h5_read_attr_i64(f, "/", "iteration", &it, &e))
        it = -1;
    h5_close(f);
    return it;
}

/* Fills a from argv (a->sets has room for argc entries): -1 to go on, else
 * the exit code (0 after --help). */
static int run_parse_args(int argc, char **argv, run_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int has_next = i + 1 < argc;
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            run_usage(stdout);
            return 0;
        } else if ((!strcmp(s, "--set") || !strcmp(s, "-s")) && has_next) {
            a->sets[a->n_sets++] = argv[++i];
        } else if (!strncmp(s, "--set=", 6)) {
            a->sets[a->n_sets++] = s + 6;
        } else if (!strcmp(s, "--out") && has_next) {
            a->out = argv[++i];
        } else if (!strcmp(s, "--resume") && has_next) {
            a->resume = argv[++i];
        } else if (!strcmp(s, "--quiet")) {
            a->quiet = 1;
        } else if (s[0] == '-') {
            fprintf(stderr, "mtrl run: unknown option or missing value: '%s' (mtrl run --help)\n", s);
            return 2;
        } else if (!a->path) {
            a->path = s;
        } else {
            fprintf(stderr, "mtrl run: one CONFIG only, got '%s' and '%s'\n", a->path, s);
            return 2;
        }
    }
    if (!!a->path == !!a->resume || (a->resume && a->out)) {
        run_usage(stderr);
        return 2;
    }
    return -1;
}

/* --resume DIR: locks DIR, clears what an interrupted run left and loads
 * its config; without a checkpoint yet, the run starts over. */
static int open_resumed(run_ctx *r, const run_args *a, mtrl_err *err)
{
    int rc;
    snprintf(r->dir, sizeof r->dir, "%s", a->resume);
    snprintf(r->cfg_path, sizeof r->cfg_path, "%s/config.yaml", r->dir);
    if (!fs_is_dir(r->dir))
        return err_set(err, MTRL_EINPUT, "--resume %s: no such run directory", r->dir);
    if (!is_regular(r->cfg_path))
        return err_set(err, MTRL_EINPUT, "--resume %s: not a run directory (no config.yaml)",
                       r->dir);
    if ((rc = fs_lock_dir(r->dir, &r->lock_fd, err)))
        return rc;
    /* Under the lock no other process writes here, so every temp file
     * is a leftover of one that was killed mid-write. */
    int removed;
    if ((rc = fs_remove_stale_temps(r->dir, run_files, &removed, err)))
        return rc;
    if (removed)
        fprintf(stderr, "mtrl run: removed %d temporary file%s left by an interrupted run\n",
                removed, removed == 1 ? "" : "s");
    if ((rc = cfg_load(&r->cfg, r->cfg_path, a->sets, a->n_sets, err)))
        return rc;
    char ckpt[4200];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.h5", r->dir);
    r->have_ckpt = access(ckpt, F_OK) == 0;
    if (r->have_ckpt) {
        int64_t it = checkpoint_iteration(ckpt);
        if (it >= 0)
            r->iteration = it;
    } else {
        /* Set up but never checkpointed: start over with its config;
         * whatever it logged belongs to no checkpoint. */
        for (int i = 0; log_files[i]; i++)
            remove_in(r->dir, log_files[i]);
    }
    return 0;
}

/* CONFIG [--out DIR]: loads the config, then makes (or takes, if empty)
 * the run directory and locks it. */
static int open_fresh(run_ctx *r, const run_args *a, mtrl_err *err)
{
    int rc;
    if ((rc = cfg_load(&r->cfg, a->path, a->sets, a->n_sets, err)))
        return rc;
    if (a->out) {
        r->made_dir = !fs_is_dir(a->out) && access(a->out, F_OK) != 0;
        snprintf(r->dir, sizeof r->dir, "%s", a->out);
        rc = fs_prepare_run_dir(a->out, 0, err);
    } else {
        rc = fs_make_run_dir(r->dir, sizeof r->dir, r->cfg.run.runs_dir, r->cfg.run.name, err);
        r->made_dir = !rc;
    }
    if (rc) {
        r->made_dir = 0;
        return rc;
    }
    snprintf(r->cfg_path, sizeof r->cfg_path, "%s/config.yaml", r->dir);
    if ((rc = fs_lock_dir(r->dir, &r->lock_fd, err)))
        return rc;
    /* Another start may have taken the directory between the check and
     * the lock. */
    if (!r->made_dir && (rc = fs_prepare_run_dir(r->dir, 0, err)))
        return rc;
    return 0;
}

static int open_run_dir(run_ctx *r, const run_args *a, mtrl_err *err)
{
    const char *dir_arg = a->resume ? a->resume : a->out;
    if (dir_arg && strlen(dir_arg) >= sizeof r->dir - 32)
        return err_set(err, MTRL_EINPUT, "run directory path too long (%zu bytes)",
                       strlen(dir_arg));
    return a->resume ? open_resumed(r, a, err) : open_fresh(r, a, err);
}

/* Trains in the locked run directory, with evaluation videos if asked:
 * the only way a run touches GL. */
static int train_in_dir(run_ctx *r, int quiet, eval_result *last, double *best, mtrl_err *err)
{
    train_opts opts = {.run_dir = r->dir,
                       .resume = r->have_ckpt,
                       .quiet = quiet,
                       .stop = &stop_requested,
                       .last_eval = last,
                       .best_success = best,
                       .on_start = on_start,
                       .on_checkpoint = on_checkpoint,
                       .ctx = r};
    eval_video *ev = NULL;
    int rc;
    if (r->cfg.eval.video_every > 0) {
        char vdir[4200];
        vrec_opts vo;
        vrec_opts_default(&vo);
        snprintf(vdir, sizeof vdir, "%s/videos", r->dir);
        if (!(ev = malloc(sizeof *ev)))
            return err_set(err, MTRL_ENOMEM, "out of memory");
        if ((rc = eval_video_init(ev, vdir, &vo, err))) {
            free(ev);
            err_prefix(err, "eval.video_every = %lld", (long long)r->cfg.eval.video_every);
            return rc;
        }
        opts.eval_video = &ev->obs;
    }
    rc = train_run(&r->cfg, &opts, err);
    if (ev) {
        eval_video_free(ev);
        free(ev);
    }
    return rc;
}

/* After training: status.json and how it ended; 0 finished, 3 stopped
 * (resumable), or a negative error code. */
static int finish_run(run_ctx *r, const eval_result *last, double best, mtrl_err *err)
{
    int finished = r->iteration >= r->cfg.run.iterations;
    int rc = put_status(r, finished ? "done" : "stopped", NULL, err);
    if (rc)
        return rc;
    if (last->K > 0) {
        fprintf(stderr, "\nlast evaluation:\n");
        train_print_eval(stderr, last);
        fprintf(stderr, "best mean success over the run: %.3f\n", best);
    }
    fprintf(stderr, "curves: mtrl plot %s\n", r->dir);
    if (finished) {
        fprintf(stderr, "mtrl run: done in %s (checkpoint.h5, eval.csv, train.csv)\n", r->dir);
        return 0;
    }
    fprintf(stderr, "mtrl run: stopped at iteration %lld of %lld; resume with mtrl run "
                    "--resume %s\n",
            (long long)r->iteration, (long long)r->cfg.run.iterations, r->dir);
    return 3;
}

/* Says why the run failed. A start that failed before training leaves
 * nothing behind (only files this process made: the directory was new or
 * empty); otherwise status.json says failed. Returns the exit code. */
static int run_failed(run_ctx *r, int resumed, int rc, const mtrl_err *err)
{
    fprintf(stderr, "mtrl run: %s\n", err->msg);
    if (r->lock_fd >= 0 && !resumed && !r->started) {
        for (int i = 0; run_files[i]; i++)
            remove_in(r->dir, run_files[i]);
        remove_in(r->dir, ".lock");
        if (r->made_dir)
            rmdir(r->dir);
    } else if (r->lock_fd >= 0) {
        mtrl_err e2 = {0};
        char line[MTRL_ERR_MSG_LEN];
        snprintf(line, sizeof line, "%s", err->msg);
        line[strcspn(line, "\n")] = '\0';
        if (put_status(r, "failed", line, &e2))
            fprintf(stderr, "mtrl run: %s\n", e2.msg);
    }
    return err_exit_code(rc);
}

int cmd_run(int argc, char **argv)
{
    run_args a = {.sets = calloc((size_t)argc + 1, sizeof *a.sets)};
    if (!a.sets)
        return 1;
    int rc = run_parse_args(argc, argv, &a);
    if (rc >= 0) {
        free(a.sets);
        return rc;
    }
    run_ctx r = {.lock_fd = -1, .best = -1};
    mtrl_err err = {0};
    cfg_defaults(&r.cfg);
    rc = open_run_dir(&r, &a, &err);
    if (!rc) {
        fprintf(stderr, "mtrl run: %s %s, %s, %lld iterations -> %s\n",
                r.have_ckpt ? "resuming" : "training", r.cfg.env.benchmark,
                cfg_enum_word("mtl.method", r.cfg.mtl.method), (long long)r.cfg.run.iterations,
                r.dir);
        catch_stop_signals();
        eval_result last = {0};
        double best = -1;
        rc = train_in_dir(&r, a.quiet, &last, &best, &err);
        if (!rc)
            rc = finish_run(&r, &last, best, &err);
    }
    if (rc < 0)
        rc = run_failed(&r, a.resume != NULL, rc, &err);
    fs_unlock_dir(r.lock_fd);
    free(a.sets);
    return rc;
}
