/* mtrl render: videos of a task's episodes under a policy (scripted, random,
 * or a trained agent), and contact sheets of a benchmark's scenes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli/train.h"
#include "cli/vrec.h"
#include "core/fsutil.h"
#include "core/rng.h"

static void render_usage(FILE *f)
{
    fprintf(f,
            "usage: mtrl render TASK [--policy scripted|random|RUN_DIR|CHECKPOINT]\n"
            "                   [--episodes N] [--seed S] [--max-steps N] [--out FILE.mp4]\n"
            "                   [camera and size options]\n"
            "       mtrl render BENCHMARK --grid [--out FILE.png] [camera options]\n\n"
            "A video of TASK's episodes (H.264 MP4; an animated GIF if the MP4 encoder is\n"
            "missing, said on stderr) with the task, episode, step, reward and success drawn\n"
            "in, and FILE.csv beside it: frame, episode, step, reward, success.\n"
            "Episode i starts from goal i %% 50 of the goal set of seed S (a trained agent:\n"
            "its run's goals and seeds, as mtrl eval).\n"
            "--grid writes one PNG with the first frame of every task of BENCHMARK\n"
            "(mt10, mt50, a task list), each tile named.\n\n"
            "  --policy P      scripted (default): the task's hand-written policy;\n"
            "                  random: uniform actions; RUN_DIR or CHECKPOINT: the trained\n"
            "                  agent's deterministic policy (TASK must be in its benchmark)\n"
            "  --episodes N    episodes (default 1)\n"
            "  --seed S        goal seed and random-policy seed (default 1)\n"
            "  --max-steps N   episode length (default 500, or the run's)\n"
            "  --out FILE      default render-TASK.mp4 (video) or grid-BENCHMARK.png\n"
            VREC_USAGE
            "A missing GL context (no libosmesa6 / libegl-mesa0) is an error (exit 1).\n");
}

/* The first frame of task's scene (goal 0) into tile (tw x th RGB). */
static int grid_tile(render_gl *gl, int task, const vrec_opts *vo, int tw, int th, uint8_t *tile,
                     mtrl_err *err)
{
    env_opts o;
    env_opts_default(&o);
    env_sawyer *e;
    float obs[ENV_OBS_DIM];
    int rc;
    if ((rc = env_create(&e, task, &o, 0, err)))
        return rc;
    render_view *v = NULL;
    rc = env_reset_goal(e, 0, obs, err);
    if (!rc)
        rc = render_view_create(&v, gl, e, &vo->camera, tw, th, err);
    if (!rc)
        rc = render_view_frame(v, env_task_name(task), tile, err);
    render_view_destroy(v);
    env_destroy(e);
    return rc;
}

static int render_grid(const char *bench, const vrec_opts *vo, const char *out, int tile_given)
{
    int idx[256], n;
    mtrl_err err = {0};
    if (env_benchmark_tasks(bench, idx, 256, &n, &err)) {
        fprintf(stderr, "mtrl render: %s\n", err.msg);
        return err_exit_code(err.code);
    }
    int cols = n <= 10 ? (n < 5 ? n : 5) : 10;
    int rows = (n + cols - 1) / cols;
    /* Tiles small enough that an MT50 sheet stays well under 1 MB. */
    int tw = tile_given ? vo->width : (n <= 10 ? 240 : 160);
    int th = tile_given ? vo->height : tw;
    int W = cols * tw, H = rows * th;
    uint8_t *sheet = calloc((size_t)W * H * 3, 1), *tile = malloc((size_t)tw * th * 3);
    render_gl *gl = NULL;
    int rc = 0;
    if (!sheet || !tile) {
        fprintf(stderr, "mtrl render: out of memory\n");
        rc = 1;
        goto done;
    }
    memset(sheet, 255, (size_t)W * H * 3);
    if ((rc = render_gl_create(&gl, &err)))
        goto fail;
    for (int k = 0; k < n; k++) {
        if ((rc = grid_tile(gl, idx[k], vo, tw, th, tile, &err)))
            goto fail;
        int x0 = k % cols * tw, y0 = k / cols * th;
        for (int y = 0; y < th; y++)
            memcpy(sheet + ((size_t)(y0 + y) * W + x0) * 3, tile + (size_t)y * tw * 3,
                   (size_t)tw * 3);
    }
    if ((rc = render_png_write(out, sheet, W, H, &err)))
        goto fail;
    fprintf(stderr, "mtrl render: %s: %d task%s, %dx%d (%s)\n", out, n, n == 1 ? "" : "s", W, H,
            render_gl_backend(gl));
    goto done;
fail:
    fprintf(stderr, "mtrl render: %s\n", err.msg);
    rc = err_exit_code(rc);
done:
    render_gl_destroy(gl);
    free(sheet);
    free(tile);
    return rc;
}

typedef enum { POL_SCRIPTED, POL_RANDOM, POL_AGENT } policy_kind;

typedef struct render_args {
    const char *task, *policy, *out;
    long episodes, seed, max_steps; /* max_steps 0: the env's (or the run's) */
    int grid, size_given;
    vrec_opts vo;
} render_args;

/* What acts in the video. */
typedef struct render_policy {
    policy_kind kind;
    sac_agent *agent; /* POL_AGENT */
    mtrl_config cfg;  /* POL_AGENT: its run's config */
    int32_t one_hot;  /* POL_AGENT: TASK's index in its benchmark */
    rng_state rng;    /* POL_RANDOM */
} render_policy;

/* Fills a from argv: -1 to go on, else the exit code (0 after --help). */
static int render_parse_args(int argc, char **argv, render_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int has = i + 1 < argc;
        int r = vrec_parse_arg("render", argc, argv, &i, &a->vo);
        if (r < 0)
            return 2;
        if (r > 0) {
            a->size_given |= !strcmp(s, "--width") || !strcmp(s, "--height");
            continue;
        }
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            render_usage(stdout);
            return 0;
        } else if (!strcmp(s, "--grid")) {
            a->grid = 1;
        } else if (!strcmp(s, "--policy") && has) {
            a->policy = argv[++i];
        } else if (!strcmp(s, "--out") && has) {
            a->out = argv[++i];
        } else if (!strcmp(s, "--episodes") && has) {
            if (cli_parse_long("render", s, argv[++i], 1, 10000, &a->episodes))
                return 2;
        } else if (!strcmp(s, "--seed") && has) {
            if (cli_parse_long("render", s, argv[++i], 0, 0x7fffffffffffffffL, &a->seed))
                return 2;
        } else if (!strcmp(s, "--max-steps") && has) {
            if (cli_parse_long("render", s, argv[++i], 1, 100000, &a->max_steps))
                return 2;
        } else if (s[0] != '-' && !a->task) {
            a->task = s;
        } else {
            fprintf(stderr, "mtrl render: unexpected argument '%s' (mtrl render --help)\n", s);
            return 2;
        }
    }
    if (!a->task) {
        render_usage(stderr);
        return 2;
    }
    return -1;
}

/* --policy RUN_DIR|CHECKPOINT: loads the agent into p and sets o and
 * env_index as its training did. Returns the exit code (0: loaded). */
static int load_agent_policy(const render_args *a, int tidx, render_policy *p, env_opts *o,
                             uint64_t *env_index)
{
    mtrl_err err = {0};
    int rc;
    if (!fs_is_dir(a->policy) && access(a->policy, F_OK) != 0) {
        fprintf(stderr, "mtrl render: --policy %s: expected scripted, random, a run directory "
                        "or a checkpoint file\n", a->policy);
        return 2;
    }
    char ckpt[4200];
    if (fs_is_dir(a->policy))
        snprintf(ckpt, sizeof ckpt, "%s/checkpoint.h5", a->policy);
    else
        snprintf(ckpt, sizeof ckpt, "%s", a->policy);
    if ((rc = train_load_agent(ckpt, &p->cfg, &p->agent, &err))) {
        fprintf(stderr, "mtrl render: --policy %s: %s\n", a->policy, err.msg);
        return err_exit_code(rc);
    }
    int idx[TRAIN_MAX_TASKS], K;
    if ((rc = env_benchmark_tasks(p->cfg.env.benchmark, idx, TRAIN_MAX_TASKS, &K, &err))) {
        fprintf(stderr, "mtrl render: %s\n", err.msg);
        return err_exit_code(rc);
    }
    p->one_hot = -1;
    for (int k = 0; k < K; k++)
        if (idx[k] == tidx)
            p->one_hot = k;
    if (p->one_hot < 0) {
        fprintf(stderr, "mtrl render: %s was trained on %s, which has no task %s\n", a->policy,
                p->cfg.env.benchmark, a->task);
        return 2;
    }
    train_env_opts(&p->cfg, o);
    *env_index = (uint64_t)p->one_hot; /* as training: the same fixed goal */
    return 0;
}

static int policy_act(render_policy *p, const env_sawyer *e, const float *obs, float *act,
                      mtrl_err *err)
{
    if (p->kind == POL_SCRIPTED) {
        env_scripted_action(e, obs, act);
    } else if (p->kind == POL_RANDOM) {
        for (int j = 0; j < ENV_ACT_DIM; j++)
            act[j] = (float)rng_range(&p->rng, -1, 1);
    } else {
        return sac_act(p->agent, 1, obs, &p->one_hot, 1, act, err);
    }
    return 0;
}

/* Plays a's episodes into rec; *successes counts the successful ones. */
static int play_episodes(const render_args *a, render_policy *p, env_sawyer *e, vrec *rec,
                         int *successes, mtrl_err *err)
{
    int rc;
    for (int ep = 0; ep < a->episodes; ep++) {
        float obs[ENV_OBS_DIM], act[ENV_ACT_DIM];
        rc = p->kind == POL_AGENT && a->episodes == 1
                 ? env_reset(e, obs, err)
                 : env_reset_goal(e, ep % ENV_NUM_GOALS, obs, err);
        if (rc || (rc = vrec_frame(rec, ep, 0, 0, 0, err)))
            return rc;
        int success = 0;
        for (int s = 1;; s++) {
            if ((rc = policy_act(p, e, obs, act, err)))
                return rc;
            env_info info;
            env_step_flags fl;
            if ((rc = env_step(e, act, obs, &info, &fl, err)) ||
                (rc = vrec_frame(rec, ep, s, info.reward, info.success, err)))
                return rc;
            success |= info.success;
            if (fl.done)
                break;
        }
        *successes += success;
    }
    return 0;
}

/* The video of a's episodes of task tidx under p, and its summary line.
 * Returns the exit code. */
static int render_task_video(const render_args *a, int tidx, render_policy *p, const env_opts *o,
                        uint64_t env_index)
{
    mtrl_err err = {0};
    env_sawyer *e = NULL;
    render_gl *gl = NULL;
    vrec rec = {0};
    int opened = 0, successes = 0, rc;
    if ((rc = env_create(&e, tidx, o, env_index, &err)) || (rc = render_gl_create(&gl, &err)) ||
        (rc = vrec_open(&rec, gl, e, &a->vo, a->out, &err)))
        goto fail;
    opened = 1;
    if ((rc = play_episodes(a, p, e, &rec, &successes, &err)))
        goto fail;
    const char *path = render_video_path(rec.video);
    char path_copy[4200], csv[4300];
    snprintf(path_copy, sizeof path_copy, "%s", path);
    snprintf(csv, sizeof csv, "%s", rec.csv_path);
    long frames = rec.frame;
    opened = 0;
    if ((rc = vrec_close(&rec, &err)))
        goto fail;
    fprintf(stderr, "mtrl render: %s: %ld episode(s) of %s, %d successful, %ld frames (%s); "
            "per frame: %s\n", path_copy, a->episodes, a->task, successes, frames,
            render_gl_backend(gl), csv);
    goto done;
fail:
    fprintf(stderr, "mtrl render: %s\n", err.msg);
    rc = err_exit_code(rc);
done:
    if (opened)
        vrec_abort(&rec);
    render_gl_destroy(gl);
    env_destroy(e);
    return rc;
}

int cmd_render(int argc, char **argv)
{
    render_args a = {.policy = "scripted", .episodes = 1, .seed = 1};
    vrec_opts_default(&a.vo);
    int rc = render_parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    char def_out[600];
    if (a.grid) {
        if (!a.out) {
            snprintf(def_out, sizeof def_out, "grid-%s.png", a.task);
            a.out = def_out;
        }
        return render_grid(a.task, &a.vo, a.out, a.size_given);
    }
    mtrl_err err = {0};
    int tidx;
    if (env_task_find(a.task, &tidx, &err)) {
        fprintf(stderr, "mtrl render: %s\n", err.msg);
        return 2;
    }
    if (!a.out) {
        snprintf(def_out, sizeof def_out, "render-%s.mp4", a.task);
        a.out = def_out;
    }
    render_policy p = {.kind = !strcmp(a.policy, "scripted") ? POL_SCRIPTED
                               : !strcmp(a.policy, "random") ? POL_RANDOM
                                                             : POL_AGENT};
    env_opts o;
    env_opts_default(&o);
    o.goal_seed = (uint64_t)a.seed;
    uint64_t env_index = 0;
    if (p.kind == POL_AGENT && (rc = load_agent_policy(&a, tidx, &p, &o, &env_index))) {
        sac_destroy(p.agent);
        return rc;
    }
    if (a.max_steps)
        o.max_episode_steps = (int)a.max_steps;
    rng_seed(&p.rng, (uint64_t)a.seed, RNG_STREAM_EVAL);
    rc = render_task_video(&a, tidx, &p, &o, env_index);
    sac_destroy(p.agent);
    return rc;
}
