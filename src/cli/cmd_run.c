/* mtrl run: trains an agent from a config; mtrl eval: evaluates a
 * checkpoint. Signals end a run at the next episode boundary with a final
 * checkpoint; a second Ctrl-C quits at once (the last checkpoint stays). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli/eval_video.h"
#include "cli/train.h"
#include "core/cfg.h"
#include "core/fsutil.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    if (stop_requested) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
    stop_requested = 1;
    static const char msg[] = "\nmtrl: stopping at the end of this episode to write a "
                              "checkpoint (Ctrl-C again to quit now)\n";
    if (write(2, msg, sizeof msg - 1)) {
    }
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
            "  checkpoint.h5   networks, optimizer state, replay buffer, RNG states\n\n"
            "  --set k=v       override a config key (repeatable)\n"
            "  --out DIR       the run directory (must be new or empty)\n"
            "  --resume DIR    continue the run in DIR from its checkpoint; the result is\n"
            "                  the same as an uninterrupted run (use --set run.iterations=N\n"
            "                  to extend it)\n"
            "  --quiet         no progress line\n"
            "Ctrl-C (or SIGTERM) stops at the end of the current episode after writing a\n"
            "checkpoint; a second Ctrl-C quits immediately.\n");
}

static const char *file_stem(const char *path, char *buf, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(buf, cap, "%s", base);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf)
        *dot = '\0';
    return buf;
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
            goto out;
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
            rc = 2;
            goto out;
        } else if (!path) {
            path = a;
        } else {
            fprintf(stderr, "mtrl run: one CONFIG only, got '%s' and '%s'\n", path, a);
            rc = 2;
            goto out;
        }
    }
    if (!!path == !!resume || (resume && out)) {
        run_usage(stderr);
        rc = 2;
        goto out;
    }

    mtrl_config cfg;
    mtrl_err err = {0};
    char run_dir[4096], cfg_path[4200];
    if (resume) {
        snprintf(run_dir, sizeof run_dir, "%s", resume);
        snprintf(cfg_path, sizeof cfg_path, "%s/config.yaml", resume);
        if ((rc = cfg_load(&cfg, cfg_path, sets, n_sets, &err)))
            goto fail;
    } else {
        if ((rc = cfg_load(&cfg, path, sets, n_sets, &err)))
            goto fail;
        if (!cfg.run.name[0])
            file_stem(path, cfg.run.name, sizeof cfg.run.name);
        rc = out ? fs_prepare_run_dir(out, 0, &err)
                 : fs_make_run_dir(run_dir, sizeof run_dir, cfg.run.runs_dir, cfg.run.name, &err);
        if (rc)
            goto fail;
        if (out)
            snprintf(run_dir, sizeof run_dir, "%s", out);
        snprintf(cfg_path, sizeof cfg_path, "%s/config.yaml", run_dir);
    }
    /* Written on resume too, so --set run.iterations=N extensions persist. */
    if ((rc = cfg_write_yaml(&cfg, cfg_path, &err)))
        goto fail;
    fprintf(stderr, "mtrl run: %s %s, %s, %lld iterations -> %s\n", resume ? "resuming" : "training",
            cfg.env.benchmark, cfg_enum_word("mtl.method", cfg.mtl.method),
            (long long)cfg.run.iterations, run_dir);

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    eval_result last = {0};
    double best = -1;
    train_opts opts = {.run_dir = run_dir, .resume = resume != NULL, .quiet = quiet,
                       .stop = &stop_requested, .last_eval = &last, .best_success = &best};
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
    if (last.K > 0) {
        fprintf(stderr, "\nlast evaluation:\n");
        train_print_eval(stderr, &last);
        fprintf(stderr, "best mean success over the run: %.3f\n", best);
    }
    fprintf(stderr, "curves: mtrl plot %s\n", run_dir);
    fprintf(stderr, "mtrl run: %s in %s (checkpoint.h5, eval.csv, train.csv)\n",
            stop_requested ? "stopped; resume with mtrl run --resume DIR" : "done", run_dir);
    goto out;
fail:
    fprintf(stderr, "mtrl run: %s\n", err.msg);
    rc = err_exit_code(rc);
out:
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
        printf("{\"checkpoint\": \"%s\", \"episodes\": %d, \"mean_success\": ", ckpt, r.episodes);
        print_json_num(r.mean_success);
        printf(", \"mean_return\": ");
        print_json_num(r.mean_return);
        printf(", \"tasks\": [");
        for (int k = 0; k < r.K; k++) {
            printf("%s{\"task\": \"%s\", \"success\": ", k ? ", " : "", r.task[k]);
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
