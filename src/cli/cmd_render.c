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
        env_opts o;
        env_opts_default(&o);
        env_sawyer *e;
        float obs[ENV_OBS_DIM];
        if ((rc = env_create(&e, idx[k], &o, 0, &err)))
            goto fail;
        render_view *v = NULL;
        rc = env_reset_goal(e, 0, obs, &err);
        if (!rc)
            rc = render_view_create(&v, gl, e, &vo->camera, tw, th, &err);
        if (!rc)
            rc = render_view_frame(v, env_task_name(idx[k]), tile, &err);
        render_view_destroy(v);
        env_destroy(e);
        if (rc)
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

int cmd_render(int argc, char **argv)
{
    const char *task = NULL, *policy = "scripted", *out = NULL;
    long episodes = 1, seed = 1, max_steps = 0;
    int grid = 0, size_given = 0;
    vrec_opts vo;
    vrec_opts_default(&vo);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        int r = vrec_parse_arg("render", argc, argv, &i, &vo);
        if (r < 0)
            return 2;
        if (r > 0) {
            size_given |= !strcmp(a, "--width") || !strcmp(a, "--height");
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            render_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--grid")) {
            grid = 1;
        } else if (!strcmp(a, "--policy") && has) {
            policy = argv[++i];
        } else if (!strcmp(a, "--out") && has) {
            out = argv[++i];
        } else if (!strcmp(a, "--episodes") && has) {
            if (cli_parse_long("render", a, argv[++i], 1, 10000, &episodes))
                return 2;
        } else if (!strcmp(a, "--seed") && has) {
            if (cli_parse_long("render", a, argv[++i], 0, 0x7fffffffffffffffL, &seed))
                return 2;
        } else if (!strcmp(a, "--max-steps") && has) {
            if (cli_parse_long("render", a, argv[++i], 1, 100000, &max_steps))
                return 2;
        } else if (a[0] != '-' && !task) {
            task = a;
        } else {
            fprintf(stderr, "mtrl render: unexpected argument '%s' (mtrl render --help)\n", a);
            return 2;
        }
    }
    if (!task) {
        render_usage(stderr);
        return 2;
    }
    char def_out[600];
    if (grid) {
        if (!out) {
            snprintf(def_out, sizeof def_out, "grid-%s.png", task);
            out = def_out;
        }
        return render_grid(task, &vo, out, size_given);
    }
    mtrl_err err = {0};
    int tidx;
    if (env_task_find(task, &tidx, &err)) {
        fprintf(stderr, "mtrl render: %s\n", err.msg);
        return 2;
    }
    if (!out) {
        snprintf(def_out, sizeof def_out, "render-%s.mp4", task);
        out = def_out;
    }

    policy_kind kind = !strcmp(policy, "scripted") ? POL_SCRIPTED
                       : !strcmp(policy, "random") ? POL_RANDOM
                                                   : POL_AGENT;
    sac_agent *agent = NULL;
    mtrl_config cfg;
    env_opts o;
    env_opts_default(&o);
    o.goal_seed = (uint64_t)seed;
    int32_t one_hot = 0;
    uint64_t env_index = 0;
    int rc = 0;
    if (kind == POL_AGENT && !fs_is_dir(policy) && access(policy, F_OK) != 0) {
        fprintf(stderr, "mtrl render: --policy %s: expected scripted, random, a run directory "
                        "or a checkpoint file\n", policy);
        return 2;
    }
    if (kind == POL_AGENT) {
        char ckpt[4200];
        if (fs_is_dir(policy))
            snprintf(ckpt, sizeof ckpt, "%s/checkpoint.h5", policy);
        else
            snprintf(ckpt, sizeof ckpt, "%s", policy);
        if ((rc = train_load_agent(ckpt, &cfg, &agent, &err))) {
            fprintf(stderr, "mtrl render: --policy %s: %s\n", policy, err.msg);
            return err_exit_code(rc);
        }
        int idx[TRAIN_MAX_TASKS], K;
        if ((rc = env_benchmark_tasks(cfg.env.benchmark, idx, TRAIN_MAX_TASKS, &K, &err))) {
            fprintf(stderr, "mtrl render: %s\n", err.msg);
            sac_destroy(agent);
            return err_exit_code(rc);
        }
        one_hot = -1;
        for (int k = 0; k < K; k++)
            if (idx[k] == tidx)
                one_hot = k;
        if (one_hot < 0) {
            fprintf(stderr, "mtrl render: %s was trained on %s, which has no task %s\n", policy,
                    cfg.env.benchmark, task);
            sac_destroy(agent);
            return 2;
        }
        train_env_opts(&cfg, &o);
        env_index = (uint64_t)one_hot; /* as training: the same fixed goal */
    }
    if (max_steps)
        o.max_episode_steps = (int)max_steps;

    env_sawyer *e = NULL;
    render_gl *gl = NULL;
    vrec rec = {0};
    int opened = 0;
    rng_state r;
    rng_seed(&r, (uint64_t)seed, RNG_STREAM_EVAL);
    if ((rc = env_create(&e, tidx, &o, env_index, &err)) || (rc = render_gl_create(&gl, &err)) ||
        (rc = vrec_open(&rec, gl, e, &vo, out, &err)))
        goto fail;
    opened = 1;
    int successes = 0;
    for (int ep = 0; ep < episodes; ep++) {
        float obs[ENV_OBS_DIM], act[ENV_ACT_DIM];
        rc = kind == POL_AGENT && episodes == 1 ? env_reset(e, obs, &err)
                                                 : env_reset_goal(e, ep % ENV_NUM_GOALS, obs, &err);
        if (rc)
            goto fail;
        if ((rc = vrec_frame(&rec, ep, 0, 0, 0, &err)))
            goto fail;
        int success = 0;
        for (int s = 1;; s++) {
            if (kind == POL_SCRIPTED) {
                env_scripted_action(e, obs, act);
            } else if (kind == POL_RANDOM) {
                for (int j = 0; j < ENV_ACT_DIM; j++)
                    act[j] = (float)rng_range(&r, -1, 1);
            } else if ((rc = sac_act(agent, 1, obs, &one_hot, 1, act, &err))) {
                goto fail;
            }
            env_info info;
            env_step_flags fl;
            if ((rc = env_step(e, act, obs, &info, &fl, &err)) ||
                (rc = vrec_frame(&rec, ep, s, info.reward, info.success, &err)))
                goto fail;
            success |= info.success;
            if (fl.done)
                break;
        }
        successes += success;
    }
    const char *path = render_video_path(rec.video);
    char path_copy[4200], csv[4300];
    snprintf(path_copy, sizeof path_copy, "%s", path);
    snprintf(csv, sizeof csv, "%s", rec.csv_path);
    long frames = rec.frame;
    opened = 0;
    if ((rc = vrec_close(&rec, &err)))
        goto fail;
    fprintf(stderr, "mtrl render: %s: %ld episode(s) of %s, %d successful, %ld frames (%s); "
            "per frame: %s\n", path_copy, episodes, task, successes, frames,
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
    sac_destroy(agent);
    return rc;
}
