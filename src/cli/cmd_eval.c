/* mtrl eval: evaluates a checkpoint with the deterministic policy and prints
 * the per-task table (or JSON); optionally one video per task. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli/eval_video.h"
#include "cli/train.h"
#include "core/fsutil.h"
#include "core/json.h"

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

typedef struct eval_args {
    const char *path, *video;
    int episodes; /* 0: the run's eval.episodes */
    int json;
    vrec_opts vo;
} eval_args;

/* Fills a from argv: -1 to go on, else the exit code (0 after --help). */
static int eval_parse_args(int argc, char **argv, eval_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int vr = vrec_parse_arg("eval", argc, argv, &i, &a->vo);
        if (vr < 0)
            return 2;
        if (vr > 0)
            continue;
        if (!strcmp(s, "--video") && i + 1 < argc) {
            a->video = argv[++i];
        } else if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            eval_usage(stdout);
            return 0;
        } else if (!strcmp(s, "--episodes") && i + 1 < argc) {
            if (cli_parse_int("eval", s, argv[++i], 1, 100000, &a->episodes))
                return 2;
        } else if (!strcmp(s, "--json")) {
            a->json = 1;
        } else if (s[0] == '-' || a->path) {
            fprintf(stderr, "mtrl eval: unexpected argument '%s' (mtrl eval --help)\n", s);
            return 2;
        } else {
            a->path = s;
        }
    }
    if (!a->path) {
        eval_usage(stderr);
        return 2;
    }
    return -1;
}

/* Loads the agent of ckpt and evaluates it, writing videos if asked. */
static int eval_checkpoint(const eval_args *a, const char *ckpt, eval_result *r, mtrl_err *err)
{
    mtrl_config cfg;
    sac_agent *agent = NULL;
    eval_video *ev = NULL;
    int rc = train_load_agent(ckpt, &cfg, &agent, err);
    if (!rc && a->video) {
        if (!(ev = malloc(sizeof *ev)))
            rc = err_set(err, MTRL_ENOMEM, "out of memory");
        else if ((rc = eval_video_init(ev, a->video, &a->vo, err)))
            err_prefix(err, "--video %s", a->video);
    }
    if (!rc)
        rc = train_evaluate_observed(agent, &cfg, a->episodes ? a->episodes : cfg.eval.episodes,
                                     ev ? &ev->obs : NULL, -1, r, err);
    if (ev && ev->gl)
        eval_video_free(ev);
    free(ev);
    sac_destroy(agent);
    return rc;
}

static void print_json_num(double x)
{
    if (isfinite(x))
        printf("%.6g", x);
    else
        printf("null");
}

static void print_eval_json(const char *ckpt, const eval_result *r)
{
    printf("{\"checkpoint\": ");
    json_put_str(stdout, ckpt);
    printf(", \"episodes\": %d, \"mean_success\": ", r->episodes);
    print_json_num(r->mean_success);
    printf(", \"mean_return\": ");
    print_json_num(r->mean_return);
    printf(", \"tasks\": [");
    for (int k = 0; k < r->K; k++) {
        printf("%s{\"task\": ", k ? ", " : "");
        json_put_str(stdout, r->task[k]);
        printf(", \"success\": ");
        print_json_num(r->success[k]);
        printf(", \"return\": ");
        print_json_num(r->ret[k]);
        printf(", \"steps_to_success\": ");
        print_json_num(r->steps_to_success[k]);
        printf("}");
    }
    printf("]}\n");
}

int cmd_eval(int argc, char **argv)
{
    eval_args a = {0};
    vrec_opts_default(&a.vo);
    int rc = eval_parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    char ckpt[4200];
    if (fs_is_dir(a.path))
        snprintf(ckpt, sizeof ckpt, "%s/checkpoint.h5", a.path);
    else
        snprintf(ckpt, sizeof ckpt, "%s", a.path);
    mtrl_err err = {0};
    eval_result r;
    if ((rc = eval_checkpoint(&a, ckpt, &r, &err))) {
        fprintf(stderr, "mtrl eval: %s\n", err.msg);
        return err_exit_code(rc);
    }
    if (a.json)
        print_eval_json(ckpt, &r);
    else
        train_print_eval(stdout, &r);
    return 0;
}
