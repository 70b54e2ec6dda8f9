#include "cli/train.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/collect.h"
#include "core/fsutil.h"
#include "core/h5io.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/runlog.h"
#include "core/timer.h"
#include "envs/envs.h"
#include "nets/nets.h"
#include "replay/replay.h"

#define OBS ENV_OBS_DIM
#define ACT ENV_ACT_DIM
/* 1: the first format; 2: every dataset checksummed (h5io). Both load. */
#define CKPT_VERSION 2

void train_env_opts(const mtrl_config *cfg, env_opts *o)
{
    env_opts_default(o);
    o->goals = (env_goals_mode)cfg->env.goals; /* the same list (core/cfg.h) */
    o->goal_seed = (uint64_t)(cfg->env.goal_seed >= 0 ? cfg->env.goal_seed : cfg->run.seed);
    o->seed = (uint64_t)cfg->run.seed;
    o->max_episode_steps = cfg->env.max_episode_steps;
    o->threads = cfg->run.threads;
}

int train_set_threads(const mtrl_config *cfg)
{
    long n = cfg->run.threads > 0 ? cfg->run.threads : sysconf(_SC_NPROCESSORS_ONLN);
    int T = n < 1 ? 1 : n > 256 ? 256 : (int)n;
    nn_set_threads(T);
    openblas_set_num_threads(1);
    return T;
}

/* ------------------------------------------------------------------------ */
/* Evaluation */

/* The evaluation's envs: one per task, at the training env's index, so a
 * fixed goal is the same goal. */
static int eval_envs_create(const mtrl_config *cfg, int episodes, env_sawyer **envs, int *L,
                            eval_result *out, mtrl_err *e)
{
    int idx[TRAIN_MAX_TASKS], K, rc;
    if ((rc = env_benchmark_tasks(cfg->env.benchmark, idx, TRAIN_MAX_TASKS, &K, e)))
        return rc;
    env_opts o;
    train_env_opts(cfg, &o);
    *L = o.max_episode_steps;
    memset(out, 0, sizeof *out);
    out->K = K;
    out->episodes = episodes;
    out->deterministic = cfg->eval.deterministic;
    for (int k = 0; k < K; k++) {
        if ((rc = env_create(&envs[k], idx[k], &o, (uint64_t)k, e)))
            return rc;
        snprintf(out->task[k], sizeof out->task[k], "%s", env_task_name(idx[k]));
    }
    return 0;
}

/* Episode ep of every task at once; each env stops at its first success. */
static int eval_episode(sac_agent *agent, const mtrl_config *cfg, env_sawyer **envs, int L, int ep,
                        const eval_observer *watch, eval_result *out, int *n_success, mtrl_err *e)
{
    int K = out->K, rc, active[TRAIN_MAX_TASKS];
    float obs[TRAIN_MAX_TASKS * OBS], act[TRAIN_MAX_TASKS * ACT];
    int32_t task[TRAIN_MAX_TASKS];
    double ret[TRAIN_MAX_TASKS] = {0};
    for (int k = 0; k < K; k++) {
        rc = out->episodes == 1 ? env_reset(envs[k], obs + k * OBS, e)
                                : env_reset_goal(envs[k], ep % ENV_NUM_GOALS, obs + k * OBS, e);
        if (rc || (watch && (rc = watch->step(watch->ctx, k, ep, 0, NULL, e))))
            return rc;
        active[k] = 1;
        task[k] = k;
    }
    for (int t = 0, any = 1; t < L && any; t++) {
        if ((rc = sac_act(agent, K, obs, task, cfg->eval.deterministic, act, e)))
            return rc;
        any = 0;
        for (int k = 0; k < K; k++) {
            if (!active[k])
                continue;
            env_info info;
            env_step_flags fl;
            if ((rc = env_step(envs[k], act + k * ACT, obs + k * OBS, &info, &fl, e)) ||
                (watch && (rc = watch->step(watch->ctx, k, ep, t + 1, &info, e))))
                return rc;
            ret[k] += info.reward;
            if (info.success) {
                n_success[k]++;
                out->steps_to_success[k] += t + 1;
            }
            active[k] = !info.success && !fl.done;
            any |= active[k];
        }
    }
    for (int k = 0; k < K; k++)
        out->ret[k] += ret[k] / out->episodes;
    return 0;
}

int train_evaluate_observed(sac_agent *agent, const mtrl_config *cfg, int episodes,
                            const eval_observer *watch, int64_t iter, eval_result *out, mtrl_err *e)
{
    env_sawyer *envs[TRAIN_MAX_TASKS] = {0};
    int n_success[TRAIN_MAX_TASKS] = {0}, observing = 0, L = 0;
    int rc = eval_envs_create(cfg, episodes, envs, &L, out, e);
    if (!rc && watch && !(rc = watch->begin(watch->ctx, iter, out->K, envs, e)))
        observing = 1;
    for (int ep = 0; !rc && ep < episodes; ep++)
        rc = eval_episode(agent, cfg, envs, L, ep, observing ? watch : NULL, out, n_success, e);
    for (int k = 0; !rc && k < out->K; k++) {
        out->success[k] = (double)n_success[k] / episodes;
        out->steps_to_success[k] = n_success[k] ? out->steps_to_success[k] / n_success[k] : NAN;
        out->mean_success += out->success[k] / out->K;
        out->mean_return += out->ret[k] / out->K;
    }
    if (observing) {
        int end_rc = watch->end(watch->ctx, rc == 0, rc ? NULL : e);
        if (!rc)
            rc = end_rc;
    }
    for (int k = 0; k < TRAIN_MAX_TASKS; k++)
        env_destroy(envs[k]);
    return rc;
}

void train_print_eval(FILE *f, const eval_result *r)
{
    fprintf(f, "%-28s %8s %10s %10s\n", "task", "success", "return", "steps");
    for (int k = 0; k < r->K; k++) {
        fprintf(f, "%-28s %8.3f %10.1f ", r->task[k], r->success[k], r->ret[k]);
        if (isfinite(r->steps_to_success[k]))
            fprintf(f, "%10.1f\n", r->steps_to_success[k]);
        else
            fprintf(f, "%10s\n", "-");
    }
    fprintf(f, "%-28s %8.3f %10.1f\n", "mean", r->mean_success, r->mean_return);
    fprintf(f, "(%d %s episode%s per task)\n", r->episodes,
            r->deterministic ? "deterministic" : "stochastic", r->episodes == 1 ? "" : "s");
}

/* ------------------------------------------------------------------------ */
/* The trainer's state (everything a checkpoint must restore is marked). */

typedef struct trainer {
    mtrl_config cfg;
    const train_opts *opts;
    int K, L;
    env_vec *envs;
    rb_buffer *rb;
    rb_batch *batch;
    sac_agent *agent;
    rng_state replay_rng;       /* checkpoint */
    int64_t iter;               /* checkpoint: next iteration to run */
    int64_t episodes;           /* checkpoint: episodes finished per env, summed */
    int64_t consecutive_skips;  /* checkpoint */
    double best_success;        /* checkpoint: best mean eval success so far */
    int64_t last_eval, last_ckpt;
    int64_t last_video; /* iteration of the last evaluation video; -1 none */
    collector *col; /* the iteration's observations, actions, task ids */
    int *ep_len;
    /* train-log accumulators since the last train row */
    double acc_ret, acc_success, acc_episodes;
    sac_update_stats acc_upd;
    int64_t acc_updates;
    double row_t0;
    int64_t row_iter0;
    log_writer *log;
    prog *progress;
    char status[128];
} trainer;

static int trainer_log_eval(trainer *tr, const eval_result *r, mtrl_err *e)
{
    const char *names[2 * TRAIN_MAX_TASKS + 3];
    double vals[2 * TRAIN_MAX_TASKS + 3];
    char name_buf[2 * TRAIN_MAX_TASKS][64];
    int n = 0;
    if (r->mean_success > tr->best_success)
        tr->best_success = r->mean_success;
    names[n] = "success", vals[n++] = r->mean_success;
    names[n] = "best_success", vals[n++] = tr->best_success;
    names[n] = "return", vals[n++] = r->mean_return;
    for (int k = 0; k < r->K; k++) {
        snprintf(name_buf[2 * k], 64, "success_%s", r->task[k]);
        snprintf(name_buf[2 * k + 1], 64, "return_%s", r->task[k]);
        names[n] = name_buf[2 * k], vals[n++] = r->success[k];
        names[n] = name_buf[2 * k + 1], vals[n++] = r->ret[k];
    }
    snprintf(tr->status, sizeof tr->status, "eval success %.2f (best %.2f)", r->mean_success,
             tr->best_success);
    if (!tr->opts->quiet) {
        prog_clear(tr->progress);
        fprintf(stderr, "eval  iter %lld: mean success %.3f (best %.3f), mean return %.1f |",
                (long long)tr->iter, r->mean_success, tr->best_success, r->mean_return);
        for (int k = 0; k < r->K && k < 10; k++)
            fprintf(stderr, " %.0f", 100 * r->success[k]);
        fprintf(stderr, r->K > 10 ? " ...\n" : "\n");
    }
    return log_event(tr->log, "eval", tr->iter, n, names, vals, e);
}

static int trainer_eval(trainer *tr, mtrl_err *e)
{
    eval_result r;
    /* Videos only when eval.video_every asks and cmd_run passed a recorder. */
    int64_t vevery = tr->cfg.eval.video_every;
    const eval_observer *watch =
        tr->opts->eval_video && vevery > 0 &&
                (tr->last_video < 0 || tr->iter - tr->last_video >= vevery)
            ? tr->opts->eval_video
            : NULL;
    int rc = train_evaluate_observed(tr->agent, &tr->cfg, tr->cfg.eval.episodes, watch, tr->iter,
                                     &r, e);
    if (rc)
        return rc;
    if (watch)
        tr->last_video = tr->iter;
    tr->last_eval = tr->iter;
    if ((rc = trainer_log_eval(tr, &r, e)))
        return rc;
    if (tr->opts->last_eval)
        *tr->opts->last_eval = r;
    if (tr->opts->best_success)
        *tr->opts->best_success = tr->best_success;
    return 0;
}

static int trainer_log_train(trainer *tr, mtrl_err *e)
{
    double now = tm_now(), dt = now - tr->row_t0;
    double n = tr->acc_updates > 0 ? (double)tr->acc_updates : 1;
    const sac_update_stats *u = &tr->acc_upd;
    const char *names[] = {"episodes",   "success",  "return",      "critic_loss",
                           "actor_loss", "alpha_loss", "alpha",     "entropy",
                           "q_mean",     "batch_reward", "updates", "skipped",
                           "unstable",   "iters_per_s", "env_steps"};
    long unstable = 0;
    for (int k = 0; k < tr->K; k++)
        unstable += env_vec_unstable_counts(tr->envs)[k];
    double ep = tr->acc_episodes > 0 ? tr->acc_episodes : NAN;
    double vals[] = {(double)tr->episodes,
                     tr->acc_success / ep,
                     tr->acc_ret / ep,
                     u->critic_loss / n,
                     u->actor_loss / n,
                     u->alpha_loss / n,
                     u->alpha / n,
                     u->entropy / n,
                     u->q_mean / n,
                     u->batch_reward / n,
                     (double)sac_num_updates(tr->agent),
                     (double)sac_num_skipped(tr->agent),
                     (double)unstable,
                     dt > 0 ? (double)(tr->iter - tr->row_iter0) / dt : 0,
                     (double)tr->iter * tr->K};
    int rc = log_event(tr->log, "train", tr->iter, (int)(sizeof vals / sizeof vals[0]), names,
                       vals, e);
    memset(&tr->acc_upd, 0, sizeof tr->acc_upd);
    tr->acc_updates = 0;
    tr->acc_ret = tr->acc_success = tr->acc_episodes = 0;
    tr->row_t0 = now;
    tr->row_iter0 = tr->iter;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Checkpoints: written only at episode boundaries, where every env has just
 * been reset, so the env state is fully given by the config (fixed goals)
 * and a resumed run continues exactly as the uninterrupted one. */

static int config_text(const mtrl_config *cfg, char **text, mtrl_err *e)
{
    size_t len;
    FILE *f = open_memstream(text, &len);
    if (!f)
        return err_set(e, MTRL_ENOMEM, "out of memory for the config text");
    cfg_print(cfg, f);
    fclose(f);
    return 0;
}

static int rng_words_zero(const uint64_t *s)
{
    return !s[0] && !s[1] && !s[2] && !s[3];
}

/* The envs' streams (sampled goals draw from them at every reset). */
static int save_env_rngs(trainer *tr, h5_file *f, mtrl_err *e)
{
    rng_state r[TRAIN_MAX_TASKS];
    int64_t s[TRAIN_MAX_TASKS * 4];
    env_vec_get_rng(tr->envs, r);
    for (int k = 0; k < tr->K; k++)
        memcpy(s + 4 * k, r[k].s, sizeof r[k].s);
    long dims[2] = {tr->K, 4};
    return h5_write_i64(f, "trainer/env_rng", 2, dims, s, e);
}

static int load_env_rngs(trainer *tr, h5_file *f, mtrl_err *e)
{
    rng_state r[TRAIN_MAX_TASKS];
    int64_t s[TRAIN_MAX_TASKS * 4];
    int rc = h5_read_i64_into(f, "trainer/env_rng", 4L * tr->K, s, e);
    if (rc)
        return rc;
    for (int k = 0; k < tr->K; k++)
        if (rng_words_zero((const uint64_t *)(s + 4 * k)))
            return err_set(e, MTRL_EINPUT, "%s: trainer/env_rng: all-zero state for task %d",
                           h5_path(f), k);
    env_vec_get_rng(tr->envs, r);
    for (int k = 0; k < tr->K; k++) {
        memcpy(r[k].s, s + 4 * k, sizeof r[k].s);
        r[k].has_cached = 0;
    }
    env_vec_set_rng(tr->envs, r);
    return 0;
}

static int trainer_checkpoint(trainer *tr, mtrl_err *e)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/checkpoint.h5", tr->opts->run_dir);
    h5_file *f;
    int rc = h5_create(&f, path, e);
    if (rc)
        return rc;
    char *text = NULL;
    if ((rc = config_text(&tr->cfg, &text, e)))
        goto fail;
    int64_t counters[3] = {tr->iter, tr->episodes, tr->consecutive_skips};
    long dims[1] = {3};
    long rdims[1] = {4};
    double best = tr->best_success;
    if ((rc = h5_write_attr_str(f, "/", "config", text, e)) ||
        (rc = h5_write_attr_i64(f, "/", "version", CKPT_VERSION, e)) ||
        (rc = h5_write_attr_i64(f, "/", "iteration", tr->iter, e)) ||
        (rc = h5_write_i64(f, "trainer/counters", 1, dims, counters, e)) ||
        (rc = h5_write_f64(f, "trainer/best_success", 0, NULL, &best, e)) ||
        (rc = h5_write_i64(f, "trainer/replay_rng", 1, rdims, (const int64_t *)tr->replay_rng.s,
                           e)) ||
        (rc = sac_save(tr->agent, f, "agent", e)) || (rc = save_env_rngs(tr, f, e)))
        goto fail;
    if (tr->cfg.log.save_replay && (rc = rb_save(tr->rb, f, "replay", e)))
        goto fail;
    free(text);
    if ((rc = h5_commit(f, e)))
        return err_prefix(e, "checkpoint of iteration %lld not written (the previous one is "
                          "kept)", (long long)tr->iter);
    tr->last_ckpt = tr->iter;
    return 0;
fail:
    free(text);
    h5_abort(f);
    return err_prefix(e, "checkpoint of iteration %lld not written (the previous one is kept)",
                      (long long)tr->iter);
}

/* The format version first: a newer mtrl's file may mean something else
 * in the same dataset names, and garbage means the file is not ours. */
static int check_checkpoint_version(h5_file *f, const char *path, mtrl_err *e)
{
    int64_t v;
    mtrl_err ignored;
    if (h5_read_attr_i64(f, "/", "version", &v, &ignored))
        return err_set(e, MTRL_EINPUT,
                       "%s: not an mtrl checkpoint (no numeric 'version' attribute: %s)", path,
                       ignored.msg);
    if (v > CKPT_VERSION)
        return err_set(e, MTRL_EINPUT,
                       "%s: checkpoint format version %lld was written by a newer mtrl; this "
                       "mtrl reads versions 1 to %d: use a newer mtrl",
                       path, (long long)v, CKPT_VERSION);
    if (v < 1)
        return err_set(e, MTRL_EINPUT,
                       "%s: checkpoint format version %lld is not valid (1 to %d): the file "
                       "is damaged or not an mtrl checkpoint",
                       path, (long long)v, CKPT_VERSION);
    return 0;
}

static int load_config_from_checkpoint(h5_file *f, const char *path, mtrl_config *cfg,
                                       mtrl_err *e)
{
    enum { TEXT_CAP = 1 << 16 };
    char *text = malloc(TEXT_CAP);
    if (!text)
        return err_set(e, MTRL_ENOMEM, "out of memory for the config of %s", path);
    int rc = h5_read_attr_str(f, "/", "config", text, TEXT_CAP, e);
    if (rc) {
        free(text);
        return rc;
    }
    char tmp[] = "/tmp/mtrl-config-XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0) {
        free(text);
        return err_set(e, MTRL_EIO, "cannot create a temporary file for the config of %s", path);
    }
    size_t len = strlen(text);
    int ok = write(fd, text, len) == (ssize_t)len;
    close(fd);
    free(text);
    rc = ok ? cfg_load(cfg, tmp, NULL, 0, e) : err_set(e, MTRL_EIO, "writing %s failed", tmp);
    unlink(tmp);
    return rc ? err_prefix(e, "the config stored in %s", path) : 0;
}

int train_load_agent(const char *checkpoint, mtrl_config *cfg, sac_agent **agent, mtrl_err *e)
{
    h5_file *f;
    int rc = h5_open(&f, checkpoint, e);
    if (rc)
        return rc;
    int idx[TRAIN_MAX_TASKS], K;
    if ((rc = check_checkpoint_version(f, checkpoint, e)) ||
        (rc = load_config_from_checkpoint(f, checkpoint, cfg, e)) ||
        (rc = env_benchmark_tasks(cfg->env.benchmark, idx, TRAIN_MAX_TASKS, &K, e)) ||
        (rc = sac_create(agent, cfg, K, OBS, ACT, e))) {
        h5_close(f);
        return rc;
    }
    if ((rc = sac_load(*agent, f, "agent", e))) {
        sac_destroy(*agent);
        *agent = NULL;
        err_prefix(e, "loading %s", checkpoint);
    }
    h5_close(f);
    return rc;
}

/* A run ends, and writes its last checkpoint, at an episode boundary: the
 * first at or past run.iterations. */
static int64_t run_end(const mtrl_config *cfg, int L)
{
    return (cfg->run.iterations + L - 1) / L * L;
}

/* The counters must describe a state this config's trainer can be in:
 * checkpoints are written at episode boundaries only, within the run's
 * iterations; every boundary ends one episode per env (an unstable env may
 * end more, at most one per step). Anything else is a damaged or edited
 * file, and resuming from it would run on garbage. */
static int check_resume_state(trainer *tr, const int64_t *c, const char *path, mtrl_err *e)
{
    const mtrl_config *cfg = &tr->cfg;
    int64_t iter = c[0], episodes = c[1], skips = c[2];
    int64_t end = run_end(cfg, tr->L);
    if (iter < 0 || iter > end)
        return err_set(e, MTRL_EINPUT,
                       "%s: trainer/counters: iteration %lld is outside [0, run.iterations = "
                       "%lld] (whose last episode ends at %lld)",
                       path, (long long)iter, (long long)cfg->run.iterations, (long long)end);
    if (iter % tr->L != 0)
        return err_set(e, MTRL_EINPUT,
                       "%s: trainer/counters: iteration %lld is not at an episode boundary "
                       "(env.max_episode_steps = %d)",
                       path, (long long)iter, tr->L);
    int64_t lo = iter / tr->L * tr->K, hi = iter * tr->K;
    if (episodes < lo || episodes > hi)
        return err_set(e, MTRL_EINPUT,
                       "%s: trainer/counters: %lld episodes after %lld iterations of %d tasks "
                       "(expected %lld to %lld)",
                       path, (long long)episodes, (long long)iter, tr->K, (long long)lo,
                       (long long)hi);
    int64_t updates = sac_num_updates(tr->agent), skipped = sac_num_skipped(tr->agent);
    if (skips < 0 || skips > cfg->agent.max_nonfinite_skips || skips > updates)
        return err_set(e, MTRL_EINPUT,
                       "%s: trainer/counters: %lld consecutive skipped updates is outside [0, "
                       "%d] or more than the %lld updates",
                       path, (long long)skips, cfg->agent.max_nonfinite_skips,
                       (long long)updates);
    if (updates < 0 || updates > iter * (int64_t)(cfg->agent.init_updates + cfg->agent.updates_per_iter) ||
        skipped < 0 || skipped > 3 * updates)
        return err_set(e, MTRL_EINPUT,
                       "%s: agent/counters: %lld updates (%lld skipped) is not possible after "
                       "%lld iterations",
                       path, (long long)updates, (long long)skipped, (long long)iter);
    if (!(tr->best_success == -1 || (tr->best_success >= 0 && tr->best_success <= 1)))
        return err_set(e, MTRL_EINPUT, "%s: trainer/best_success: %g is not in [0, 1] (or -1)",
                       path, tr->best_success);
    if (rng_words_zero(tr->replay_rng.s))
        return err_set(e, MTRL_EINPUT, "%s: trainer/replay_rng: all-zero generator state", path);
    return 0;
}

static int trainer_resume(trainer *tr, mtrl_err *e)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/checkpoint.h5", tr->opts->run_dir);
    h5_file *f;
    int rc = h5_open(&f, path, e);
    if (rc)
        return rc;
    int64_t counters[3];
    if ((rc = check_checkpoint_version(f, path, e)) ||
        (rc = h5_read_i64_into(f, "trainer/counters", 3, counters, e)) ||
        (rc = h5_read_f64_into(f, "trainer/best_success", 1, &tr->best_success, e)) ||
        (rc = h5_read_i64_into(f, "trainer/replay_rng", 4, (int64_t *)tr->replay_rng.s, e)) ||
        (rc = sac_load(tr->agent, f, "agent", e)) || (rc = load_env_rngs(tr, f, e)))
        goto done;
    if ((rc = check_resume_state(tr, counters, path, e)))
        goto done;
    tr->replay_rng.has_cached = 0;
    tr->iter = counters[0];
    tr->episodes = counters[1];
    tr->consecutive_skips = counters[2];
    tr->last_eval = tr->last_ckpt = tr->iter;
    if (h5_has(f, "replay")) {
        rc = rb_load(tr->rb, f, "replay", e);
    } else if (tr->iter > 0) {
        rc = err_set(e, MTRL_EINPUT,
                     "%s has no replay buffer (log.save_replay was false): the run cannot be "
                     "resumed exactly; start a new run from it instead",
                     path);
    }
done:
    h5_close(f);
    if (rc)
        return err_prefix(e, "resuming from %s", path);
    return log_drop_after(tr->opts->run_dir, tr->iter, e);
}

/* ------------------------------------------------------------------------ */

static void trainer_free(trainer *tr)
{
    env_vec_destroy(tr->envs);
    rb_destroy(tr->rb);
    rb_batch_destroy(tr->batch);
    sac_destroy(tr->agent);
    log_close(tr->log);
    prog_destroy(tr->progress);
    collect_destroy(tr->col);
    free(tr->ep_len);
}

static int trainer_init(trainer *tr, const mtrl_config *cfg, const train_opts *opts, mtrl_err *e)
{
    memset(tr, 0, sizeof *tr);
    tr->cfg = *cfg;
    tr->opts = opts;
    env_opts o;
    train_env_opts(cfg, &o);
    /* The trainer resets envs itself: at episode boundaries only after the
     * checkpoint, so a resumed run draws the same sampled goals. */
    o.auto_reset = 0;
    tr->L = o.max_episode_steps;
    train_set_threads(cfg);
    int rc;
    if ((rc = env_vec_create(&tr->envs, cfg->env.benchmark, &o, e)))
        return rc;
    int K = tr->K = env_vec_size(tr->envs);
    if (K > TRAIN_MAX_TASKS)
        return err_set(e, MTRL_EINPUT, "env.benchmark: %d tasks, at most %d supported", K,
                       TRAIN_MAX_TASKS);
    if ((rc = rb_create(&tr->rb, K, OBS, ACT, cfg->replay.capacity, e)) ||
        (rc = rb_batch_create(&tr->batch, K, OBS, ACT, cfg->agent.batch_size, e)) ||
        (rc = sac_create(&tr->agent, cfg, K, OBS, ACT, e)))
        return rc;
    const rb_modes rm = rb_modes_from_config(cfg);
    if (rm.ema_rate > 0 && (rc = rb_enable_reward_ema(tr->rb, rm.ema_rate, e)))
        return rc;
    rng_seed(&tr->replay_rng, (uint64_t)cfg->run.seed, RNG_STREAM_REPLAY);
    if ((rc = collect_create(&tr->col, K, e)))
        return rc;
    tr->ep_len = calloc((size_t)K, sizeof(int));
    if (!tr->ep_len)
        return err_set(e, MTRL_ENOMEM, "out of memory");
    tr->best_success = -1;
    tr->last_video = -1;
    if (opts->resume && (rc = trainer_resume(tr, e)))
        return rc;
    if ((rc = log_open(&tr->log, opts->run_dir, opts->resume, e)))
        return rc;
    /* A fresh run's envs take their first reset at the boundary of
     * iteration 0 (env_vec_reset_done: a new env needs one), after its
     * checkpoint, like every later boundary: a run stopped at 0 then
     * resumes with the same goal draws. A resumed run resets here, from the
     * streams its checkpoint restored. */
    if (opts->resume) {
        if ((rc = env_vec_reset_all(tr->envs, NULL, e)))
            return err_prefix(e, "resetting the envs");
        collect_observe(tr->col, tr->envs);
    }
    tr->progress = prog_create(run_end(cfg, tr->L), opts->quiet ? 0 : -1);
    if (opts->quiet)
        prog_set_interval(tr->progress, 1e9, 1e9);
    tr->row_t0 = tm_now();
    tr->row_iter0 = tr->iter;
    return 0;
}

/* At an episode boundary every env starts a fresh episode: the ones whose
 * episode just ended by the time limit, and also any that ended early
 * (unstable) and restarted mid-cycle, so boundaries stay aligned and
 * checkpoints stay exact. */
static int trainer_boundary_reset(trainer *tr, mtrl_err *e)
{
    uint8_t running[TRAIN_MAX_TASKS];
    for (int k = 0; k < tr->K; k++)
        running[k] = tr->ep_len[k] != 0;
    /* One pass on the env workers; each env draws only from its own stream,
     * so the order of the resets does not change any goal. */
    if (env_vec_reset_done(tr->envs, running, e))
        return err_prefix(e, "resetting the envs at iteration %lld", (long long)tr->iter);
    collect_observe(tr->col, tr->envs);
    memset(tr->ep_len, 0, (size_t)tr->K * sizeof(int));
    return 0;
}

static int trainer_updates(trainer *tr, int64_t n, mtrl_err *e)
{
    const rb_modes rm = rb_modes_from_config(&tr->cfg);
    for (int64_t i = 0; i < n; i++) {
        sac_update_stats st;
        int rc = rb_sample(tr->rb, rm.sampling, rm.norm, tr->cfg.agent.batch_size,
                           &tr->replay_rng, tr->batch, e);
        if (rc || (rc = sac_update(tr->agent, tr->batch, &st, e)))
            return rc;
        if (st.skipped) {
            tr->consecutive_skips++;
            if (tr->consecutive_skips > tr->cfg.agent.max_nonfinite_skips)
                return err_set(e, MTRL_ERUNTIME,
                               "%lld consecutive updates had a non-finite loss or gradient "
                               "(agent.max_nonfinite_skips = %d); the run stops here, the last "
                               "checkpoint (iteration %lld) is intact",
                               (long long)tr->consecutive_skips, tr->cfg.agent.max_nonfinite_skips,
                               (long long)tr->last_ckpt);
            continue;
        }
        tr->consecutive_skips = 0;
        sac_update_stats *a = &tr->acc_upd;
        a->critic_loss += st.critic_loss, a->actor_loss += st.actor_loss;
        a->alpha_loss += st.alpha_loss, a->alpha += st.alpha, a->entropy += st.entropy;
        a->q_mean += st.q_mean, a->batch_reward += st.batch_reward;
        tr->acc_updates++;
    }
    return 0;
}

static int trainer_iteration(trainer *tr, mtrl_err *e)
{
    int K = tr->K, rc;
    const mtrl_config *c = &tr->cfg;
    /* Random actions from the agent's stream during the warm-up. */
    int warmup = tr->iter < c->agent.init_steps;
    if ((rc = collect_act(tr->col, tr->agent, warmup ? sac_rng(tr->agent) : NULL, e)))
        return rc;
    if (!warmup) {
        int64_t n = tr->iter == c->agent.init_steps ? c->agent.init_updates : c->agent.updates_per_iter;
        if ((rc = trainer_updates(tr, n, e)))
            return rc;
    }
    env_step_result res;
    if ((rc = collect_step(tr->col, tr->envs, tr->rb, &res, e)))
        return err_prefix(e, "iteration %lld", (long long)tr->iter);
    for (int k = 0; k < K; k++) {
        tr->ep_len[k]++;
        if (res.done[k]) {
            tr->episodes++;
            tr->acc_episodes++;
            tr->acc_ret += res.ep_return[k];
            tr->acc_success += res.ep_success[k];
            tr->ep_len[k] = 0;
        }
    }
    tr->iter++;
    /* An episode that ended before the boundary (unstable) restarts now. */
    int ended = 0;
    for (int k = 0; k < K; k++)
        ended |= res.done[k];
    if (ended && tr->iter % tr->L != 0) {
        if ((rc = env_vec_reset_done(tr->envs, NULL, e)))
            return err_prefix(e, "resetting the envs at iteration %lld", (long long)tr->iter);
        collect_observe(tr->col, tr->envs);
    }
    return 0;
}

/* True when a multiple of `every` lies in (iter - L, iter]: the boundary at
 * iter is the first one at or past it. Stateless, so interruptions do not
 * shift the schedule. */
static int due_at(int64_t iter, int64_t L, int64_t every)
{
    return every > 0 && iter >= L && iter / every != (iter - L) / every;
}

int train_run(const mtrl_config *cfg, const train_opts *opts, mtrl_err *e)
{
    trainer tr;
    int rc = trainer_init(&tr, cfg, opts, e);
    if (rc)
        goto done;
    const mtrl_config *c = &tr.cfg;
    int64_t ckpt_every = c->log.checkpoint_every == 0 ? c->eval.every : c->log.checkpoint_every;
    int64_t log_every = c->log.every > 0 ? c->log.every : tr.L;
    if (opts->on_start && (rc = opts->on_start(opts->ctx, tr.iter, tr.best_success, e)))
        goto done;
    /* Decided after trainer_resume has checked the whole checkpoint: a
     * damaged file is reported even when there is nothing left to run. */
    if (opts->resume && tr.iter >= c->run.iterations) {
        fprintf(stderr,
                "mtrl run: %s has already finished (%lld of %lld iterations); nothing to do "
                "(--set run.iterations=N extends it)\n",
                opts->run_dir, (long long)tr.iter, (long long)c->run.iterations);
        goto done;
    }
    /* A resumed run starts at the boundary of its checkpoint, whose
     * evaluation and checkpoint were done before it stopped. */
    int resumed_boundary = opts->resume;
    for (;;) {
        if (tr.iter % tr.L == 0) {
            int last = tr.iter >= c->run.iterations;
            if (c->eval.every > 0 && !resumed_boundary &&
                (tr.iter == 0 || last || due_at(tr.iter, tr.L, c->eval.every)) &&
                (rc = trainer_eval(&tr, e)))
                goto done;
            int stop = opts->stop && *opts->stop;
            if (last || stop ||
                (!resumed_boundary && ckpt_every > 0 && due_at(tr.iter, tr.L, ckpt_every))) {
                if ((rc = trainer_checkpoint(&tr, e)))
                    goto done;
                if (opts->on_checkpoint &&
                    (rc = opts->on_checkpoint(opts->ctx, tr.iter, tr.best_success, e)))
                    goto done;
            }
            resumed_boundary = 0;
            if (last || stop)
                break;
            if ((rc = trainer_boundary_reset(&tr, e)))
                goto done;
        }
        if ((rc = trainer_iteration(&tr, e)))
            goto done;
        if (tr.iter % log_every == 0 && (rc = trainer_log_train(&tr, e)))
            goto done;
        prog_update(tr.progress, tr.iter, tr.status[0] ? tr.status : NULL);
    }
    prog_finish(tr.progress);
done:
    trainer_free(&tr);
    return rc;
}
