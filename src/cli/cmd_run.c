/* mtrl run: trains an agent from a config; mtrl eval: evaluates a
 * checkpoint. Signals end a run at the next episode boundary with a final
 * checkpoint (exit 3: stopped, resumable); a second Ctrl-C quits at once (the
 * last checkpoint stays). The run directory is locked for the life of the
 * run (core/fsutil.h) and its state is kept in status.json
 * (core/runstatus.h). */
#include <errno.h>
#include <math.h>
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
#include "core/json.h"
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

typedef struct run_ctx {
    const char *dir;
    const char *cfg_path;
    const mtrl_config *cfg;
    int64_t iteration;
    double best;
    int started;
} run_ctx;

static int put_status(run_ctx *r, const char *state, const char *error, mtrl_err *e)
{
    run_status s = {.state = state,
                    .iteration = r->iteration,
                    .iterations = r->cfg->run.iterations,
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
    int rc = cfg_write_yaml(r->cfg, r->cfg_path, e);
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

int cmd_run(int argc, char **argv)
{
    const char *path = NULL, *out = NULL, *resume = NULL;
    const char **sets = calloc((size_t)argc + 1, sizeof *sets);
    int n_sets = 0, quiet = 0, rc = 0;
    if (!sets)
        return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_next = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            run_usage(stdout);
            free(sets);
            return 0;
        } else if ((!strcmp(a, "--set") || !strcmp(a, "-s")) && has_next) {
            sets[n_sets++] = argv[++i];
        } else if (!strncmp(a, "--set=", 6)) {
            sets[n_sets++] = a + 6;
        } else if (!strcmp(a, "--out") && has_next) {
            out = argv[++i];
        } else if (!strcmp(a, "--resume") && has_next) {
            resume = argv[++i];
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-') {
            fprintf(stderr, "mtrl run: unknown option or missing value: '%s' (mtrl run --help)\n", a);
            free(sets);
            return 2;
        } else if (!path) {
            path = a;
        } else {
            fprintf(stderr, "mtrl run: one CONFIG only, got '%s' and '%s'\n", path, a);
            free(sets);
            return 2;
        }
    }
    if (!!path == !!resume || (resume && out)) {
        run_usage(stderr);
        free(sets);
        return 2;
    }

    mtrl_config cfg;
    mtrl_err err = {0};
    char run_dir[4096], cfg_path[4200], ckpt[4200];
    int lock_fd = -1, made_dir = 0, have_ckpt = 0;
    run_ctx ctx = {.dir = run_dir, .cfg_path = cfg_path, .cfg = &cfg, .best = -1};
    cfg_defaults(&cfg);
    const char *dir_arg = resume ? resume : out;
    if (dir_arg && strlen(dir_arg) >= sizeof run_dir - 32) {
        rc = err_set(&err, MTRL_EINPUT, "run directory path too long (%zu bytes)",
                     strlen(dir_arg));
        goto fail;
    }
    if (resume) {
        snprintf(run_dir, sizeof run_dir, "%s", resume);
        snprintf(cfg_path, sizeof cfg_path, "%s/config.yaml", run_dir);
        if (!fs_is_dir(run_dir)) {
            rc = err_set(&err, MTRL_EINPUT, "--resume %s: no such run directory", run_dir);
            goto fail;
        }
        if (!is_regular(cfg_path)) {
            rc = err_set(&err, MTRL_EINPUT, "--resume %s: not a run directory (no config.yaml)",
                         run_dir);
            goto fail;
        }
        if ((rc = fs_lock_dir(run_dir, &lock_fd, &err)))
            goto fail;
        /* Under the lock no other process writes here, so every temp file
         * is a leftover of one that was killed mid-write. */
        int removed;
        if ((rc = fs_remove_stale_temps(run_dir, run_files, &removed, &err)))
            goto fail;
        if (removed)
            fprintf(stderr, "mtrl run: removed %d temporary file%s left by an interrupted run\n",
                    removed, removed == 1 ? "" : "s");
        if ((rc = cfg_load(&cfg, cfg_path, sets, n_sets, &err)))
            goto fail;
        snprintf(ckpt, sizeof ckpt, "%s/checkpoint.h5", run_dir);
        have_ckpt = access(ckpt, F_OK) == 0;
        if (have_ckpt) {
            int64_t it = checkpoint_iteration(ckpt);
            if (it >= 0)
                ctx.iteration = it;
        } else {
            /* Set up but never checkpointed: start over with its config;
             * whatever it logged belongs to no checkpoint. */
            for (int i = 0; log_files[i]; i++)
                remove_in(run_dir, log_files[i]);
        }
    } else {
        if ((rc = cfg_load(&cfg, path, sets, n_sets, &err)))
            goto fail;
        if (out) {
            made_dir = !fs_is_dir(out) && access(out, F_OK) != 0;
            snprintf(run_dir, sizeof run_dir, "%s", out);
            rc = fs_prepare_run_dir(out, 0, &err);
        } else {
            rc = fs_make_run_dir(run_dir, sizeof run_dir, cfg.run.runs_dir, cfg.run.name, &err);
            made_dir = !rc;
        }
        if (rc) {
            made_dir = 0;
            goto fail;
        }
        snprintf(cfg_path, sizeof cfg_path, "%s/config.yaml", run_dir);
        if ((rc = fs_lock_dir(run_dir, &lock_fd, &err)))
            goto fail;
        /* Another start may have taken the directory between the check and
         * the lock. */
        if (!made_dir && (rc = fs_prepare_run_dir(run_dir, 0, &err)))
            goto fail;
    }
    fprintf(stderr, "mtrl run: %s %s, %s, %lld iterations -> %s\n",
            have_ckpt ? "resuming" : "training", cfg.env.benchmark,
            cfg_enum_word("mtl.method", cfg.mtl.method), (long long)cfg.run.iterations, run_dir);

    catch_stop_signals();
    eval_result last = {0};
    double best = -1;
    train_opts opts = {.run_dir = run_dir,
                       .resume = have_ckpt,
                       .quiet = quiet,
                       .stop = &stop_requested,
                       .last_eval = &last,
                       .best_success = &best,
                       .on_start = on_start,
                       .on_checkpoint = on_checkpoint,
                       .ctx = &ctx};
    /* Evaluation videos: the only way a run touches GL, and only if asked. */
    eval_video *ev = NULL;
    if (cfg.eval.video_every > 0) {
        char vdir[4200];
        vrec_opts vo;
        vrec_opts_default(&vo);
        snprintf(vdir, sizeof vdir, "%s/videos", run_dir);
        if (!(ev = malloc(sizeof *ev))) {
            rc = err_set(&err, MTRL_ENOMEM, "out of memory");
            goto fail;
        }
        if ((rc = eval_video_init(ev, vdir, &vo, &err))) {
            free(ev);
            err_prefix(&err, "eval.video_every = %lld", (long long)cfg.eval.video_every);
            goto fail;
        }
        opts.eval_video = &ev->obs;
    }
    rc = train_run(&cfg, &opts, &err);
    if (ev) {
        eval_video_free(ev);
        free(ev);
    }
    if (rc)
        goto fail;
    int finished = ctx.iteration >= cfg.run.iterations;
    if ((rc = put_status(&ctx, finished ? "done" : "stopped", NULL, &err)))
        goto fail;
    if (last.K > 0) {
        fprintf(stderr, "\nlast evaluation:\n");
        train_print_eval(stderr, &last);
        fprintf(stderr, "best mean success over the run: %.3f\n", best);
    }
    fprintf(stderr, "curves: mtrl plot %s\n", run_dir);
    if (finished) {
        fprintf(stderr, "mtrl run: done in %s (checkpoint.h5, eval.csv, train.csv)\n", run_dir);
    } else {
        fprintf(stderr, "mtrl run: stopped at iteration %lld of %lld; resume with mtrl run "
                        "--resume %s\n",
                (long long)ctx.iteration, (long long)cfg.run.iterations, run_dir);
        rc = 3;
    }
    goto out;
fail:
    fprintf(stderr, "mtrl run: %s\n", err.msg);
    if (lock_fd >= 0 && !resume && !ctx.started) {
        /* A start that failed before training leaves nothing behind: only
         * files this process made (the directory was new or empty). */
        for (int i = 0; run_files[i]; i++)
            remove_in(run_dir, run_files[i]);
        remove_in(run_dir, ".lock");
        if (made_dir)
            rmdir(run_dir);
    } else if (lock_fd >= 0) {
        mtrl_err e2 = {0};
        char line[MTRL_ERR_MSG_LEN];
        snprintf(line, sizeof line, "%s", err.msg);
        line[strcspn(line, "\n")] = '\0';
        if (put_status(&ctx, "failed", line, &e2))
            fprintf(stderr, "mtrl run: %s\n", e2.msg);
    }
    rc = err_exit_code(rc);
out:
    fs_unlock_dir(lock_fd);
    free(sets);
    return rc;
}

/* ------------------------------------------------------------------------ */

static void eval_usage(FILE *f)
{
    fprintf(f, "usage: mtrl eval CHECKPOINT|RUN_DIR [--episodes N] [--json] [--video DIR\n"
               "                 [camera and size options]]\n\n"
               "Evaluates a trained agent with the deterministic policy: per task the success\n"
               "rate (success at any step of an episode), mean return and mean steps to\n"
               "success, and the means over tasks.\n"
               "  --episodes N   episodes per task (default: eval.episodes of the run's config;\n"
               "                 with N > 1 episode i uses goal i %% 50 of the task)\n"
               "  --json         one JSON object on stdout instead of the table\n"
               "  --video DIR    also write one video per task of the evaluation episodes:\n"
               "                 DIR/<task>.mp4 and DIR/<task>.csv (frame, episode, step,\n"
               "                 reward, success); needs an offscreen GL context (exit 1\n"
               "                 if none)\n"
               VREC_USAGE);
}

static void print_json_num(double x)
{
    if (isfinite(x))
        printf("%.6g", x);
    else
        printf("null");
}

int cmd_eval(int argc, char **argv)
{
    const char *path = NULL, *video = NULL;
    int episodes = 0, json = 0;
    vrec_opts vo;
    vrec_opts_default(&vo);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int vr = vrec_parse_arg("eval", argc, argv, &i, &vo);
        if (vr < 0)
            return 2;
        if (vr > 0)
            continue;
        if (!strcmp(a, "--video") && i + 1 < argc) {
            video = argv[++i];
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            eval_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--episodes") && i + 1 < argc) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 1 || n > 100000) {
                fprintf(stderr, "mtrl eval: --episodes: expected a positive integer, got \"%s\"\n",
                        argv[i]);
                return 2;
            }
            episodes = (int)n;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (a[0] == '-' || path) {
            fprintf(stderr, "mtrl eval: unexpected argument '%s' (mtrl eval --help)\n", a);
            return 2;
        } else {
            path = a;
        }
    }
    if (!path) {
        eval_usage(stderr);
        return 2;
    }
    char ckpt[4200];
    if (fs_is_dir(path))
        snprintf(ckpt, sizeof ckpt, "%s/checkpoint.h5", path);
    else
        snprintf(ckpt, sizeof ckpt, "%s", path);
    mtrl_config cfg;
    mtrl_err err = {0};
    sac_agent *agent = NULL;
    eval_result r;
    eval_video *ev = NULL;
    int rc = train_load_agent(ckpt, &cfg, &agent, &err);
    if (!rc && video) {
        if (!(ev = malloc(sizeof *ev)))
            rc = err_set(&err, MTRL_ENOMEM, "out of memory");
        else if ((rc = eval_video_init(ev, video, &vo, &err)))
            err_prefix(&err, "--video %s", video);
    }
    if (!rc)
        rc = train_evaluate_observed(agent, &cfg, episodes ? episodes : cfg.eval.episodes,
                                     ev ? &ev->obs : NULL, -1, &r, &err);
    if (ev && ev->gl)
        eval_video_free(ev);
    free(ev);
    sac_destroy(agent);
    if (rc) {
        fprintf(stderr, "mtrl eval: %s\n", err.msg);
        return err_exit_code(rc);
    }
    if (json) {
        printf("{\"checkpoint\": ");
        json_put_str(stdout, ckpt);
        printf(", \"episodes\": %d, \"mean_success\": ", r.episodes);
        print_json_num(r.mean_success);
        printf(", \"mean_return\": ");
        print_json_num(r.mean_return);
        printf(", \"tasks\": [");
        for (int k = 0; k < r.K; k++) {
            printf("%s{\"task\": ", k ? ", " : "");
            json_put_str(stdout, r.task[k]);
            printf(", \"success\": ");
            print_json_num(r.success[k]);
            printf(", \"return\": ");
            print_json_num(r.ret[k]);
            printf(", \"steps_to_success\": ");
            print_json_num(r.steps_to_success[k]);
            printf("}");
        }
        printf("]}\n");
        return 0;
    }
    train_print_eval(stdout, &r);
    return 0;
}
