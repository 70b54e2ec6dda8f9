/* mtrl bench update: a benchmark's config, agents, envs and replay buffer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "cli/bench_update.h"
#include "cli/train.h"
#include "nets/nets.h"

#define OBS ENV_OBS_DIM
#define ACT ENV_ACT_DIM

/* The benchmark's config: the paper config (or --config) with --set. */
static int load_config(const bu_opts *o, const char *bench, mtrl_config *c, mtrl_err *e)
{
    char path[512], kv[128];
    if (o->config)
        snprintf(path, sizeof path, "%s", o->config);
    else
        snprintf(path, sizeof path, "configs/%s/cagrad.yaml", bench);
    if (!o->config && access(path, R_OK) != 0)
        return err_set(e, MTRL_EINPUT,
                       "%s not found: run from the repository root or give --config", path);
    const char **sets = calloc((size_t)o->n_sets + 1, sizeof *sets);
    if (!sets)
        return err_set(e, MTRL_ENOMEM, "out of memory");
    int n = 0;
    if (o->config && bench) {
        snprintf(kv, sizeof kv, "env.benchmark=%s", bench);
        sets[n++] = kv;
    }
    for (int i = 0; i < o->n_sets; i++)
        sets[n++] = o->sets[i];
    int rc = cfg_load(c, path, sets, n, e);
    free(sets);
    if (!rc && o->threads > 0)
        c->run.threads = o->threads;
    return rc;
}

/* Whether the benchmark's tasks are all registered: else it is skipped (a
 * line in rep) or, with --stand-in, timed with registered tasks standing in. */
static int check_tasks(bu_run *b, bu_report *rep, int *skipped, mtrl_err *e)
{
    int idx[BU_MAX_TASKS], n_reg;
    mtrl_err reg = {0};
    if (env_benchmark_tasks(b->cfg.env.benchmark, idx, BU_MAX_TASKS, &n_reg, &reg)) {
        if (!b->o->stand_in || b->K < 1) {
            bu_skip *s = &rep->skips[rep->n_skips++];
            snprintf(s->bench, sizeof s->bench, "%s", b->name);
            snprintf(s->why, sizeof s->why,
                     "not all of its tasks are registered yet (%s); skipped (--stand-in times "
                     "its shapes with registered tasks standing in)",
                     reg.msg);
            fprintf(stderr, "mtrl bench update: %s: %s\n", b->name, s->why);
            *skipped = 1;
            return 0;
        }
        b->stand_in = 1;
        fprintf(stderr, "mtrl bench update: %s: not all tasks registered (%s); timing its %d-task "
                        "shapes with registered tasks standing in\n",
                b->name, reg.msg, b->K);
    } else {
        b->K = n_reg;
    }
    if (b->K > BU_MAX_TASKS)
        return err_set(e, MTRL_EINPUT, "%s: %d tasks, at most %d", b->name, b->K, BU_MAX_TASKS);
    return 0;
}

/* Row i: method o->method[i] on the benchmark's config, its agent and the
 * arrays of its timings. */
static int make_row(bu_run *b, int i, mtrl_err *e)
{
    const bu_opts *o = b->o;
    bu_row *m = &b->rows[b->n_rows++];
    m->method = o->method[i];
    m->cfg = b->cfg;
    char kv[64];
    snprintf(kv, sizeof kv, "mtl.method=%s", m->method);
    int rc = cfg_apply_override(&m->cfg, kv, e);
    if (rc)
        return rc;
    /* The paper's CAGrad-Fast sampled 8 of MT50's tasks (4 of MT10's). */
    if (!o->config && !bu_user_set(o, "mtl.cagrad_fast_subset") && b->K == 50)
        m->cfg.mtl.cagrad_fast_subset = 8;
    /* FAMO reweights the critic only, as in its mtrl runs (configs/<bench>/
     * famo.yaml): the actor and the temperature take the mean. */
    if (m->cfg.mtl.method == CFG_MTL_FAMO && !o->config && !bu_user_set(o, "mtl.on_actor") &&
        !bu_user_set(o, "mtl.on_alpha"))
        m->cfg.mtl.on_actor = m->cfg.mtl.on_alpha = 0;
    if ((rc = cfg_check(&m->cfg, e)) ||
        (rc = sac_create(&m->agent, &m->cfg, b->K, OBS, ACT, e)))
        return err_prefix(e, "%s, %s", b->name, m->method);
    size_t cap = (size_t)o->updates, n_it = (size_t)o->episodes * (size_t)b->ep_iters + 1;
    double **per_update[] = {&m->t, &m->fwd, &m->gram, &m->comb, &m->other, &m->round};
    for (size_t k = 0; k < sizeof per_update / sizeof per_update[0]; k++)
        if (!(*per_update[k] = malloc(sizeof(double) * cap)))
            return err_set(e, MTRL_ENOMEM, "out of memory");
    m->ep = malloc(sizeof(double) * n_it);
    m->ep_env = malloc(sizeof(double) * n_it);
    if (!m->ep || !m->ep_env)
        return err_set(e, MTRL_ENOMEM, "out of memory");
    rng_seed(&m->rng, (uint64_t)b->cfg.run.seed, BU_STREAM_BATCHES);
    return 0;
}

/* The sgemm reference at the critic's first hidden width, and room for its
 * samples (one per method per round, one per 8 loop iterations). */
static int make_sgemm(bu_run *b, mtrl_err *e)
{
    const bu_opts *o = b->o;
    bu_shapes s;
    bu_get_shapes(&b->cfg, b->K, &s);
    rng_state r;
    rng_seed(&r, (uint64_t)b->cfg.run.seed, RNG_STREAM_INIT);
    int H = s.dc[1] > 1 ? s.dc[1] : 400;
    b->sg_cap = o->n_methods * (o->updates + 2) + o->episodes * b->ep_iters / 8 + 2;
    b->sg_t = malloc(sizeof(double) * (size_t)b->sg_cap);
    if (!b->sg_t)
        return err_set(e, MTRL_ENOMEM, "out of memory");
    return bench_sgemm_init(&b->sg, b->B, H, &r, e);
}

int bu_setup(bu_run *b, const bu_opts *o, const char *bench_arg, bu_report *rep, int *skipped,
             mtrl_err *e)
{
    memset(b, 0, sizeof *b);
    *skipped = 0;
    b->o = o;
    b->progress = isatty(STDERR_FILENO);
    int rc = load_config(o, bench_arg, &b->cfg, e);
    if (rc)
        return rc;
    if (o->threads == 0) {
        nn_set_threads(0);
        openblas_set_num_threads(o->blas_threads0);
    } else {
        train_set_threads(&b->cfg);
    }
    snprintf(b->name, sizeof b->name, "%s", b->cfg.env.benchmark);
    b->K = cfg_num_tasks(&b->cfg);
    b->B = b->cfg.agent.batch_size;
    b->L = b->cfg.env.max_episode_steps;
    b->ep_iters = o->episode_iters > 0 && o->episode_iters < b->L ? o->episode_iters : b->L;
    if ((rc = check_tasks(b, rep, skipped, e)) || *skipped)
        return rc;
    /* The agents first: an unimplemented method fails before any env work. */
    for (int i = 0; i < o->n_methods; i++)
        if ((rc = make_row(b, i, e)))
            return rc;
    return make_sgemm(b, e);
}

/* "a,b,c,..." of K registered tasks in turn, for --stand-in. */
static int stand_in_list(int K, char *buf, size_t cap, mtrl_err *e)
{
    int n = env_task_count();
    size_t len = 0;
    buf[0] = '\0';
    if (n < 1)
        return err_set(e, MTRL_ERUNTIME, "no task is registered");
    for (int k = 0; k < K; k++) {
        int w = snprintf(buf + len, cap - len, "%s%s", k ? "," : "", env_task_name(k % n));
        if (w < 0 || (size_t)w >= cap - len)
            return err_set(e, MTRL_EINPUT, "stand-in task list for %d tasks too long", K);
        len += (size_t)w;
    }
    return 0;
}

static int make_env(bu_run *b, mtrl_err *e)
{
    const mtrl_config *c = &b->cfg;
    env_opts o;
    train_env_opts(c, &o);
    char list[4096];
    const char *name = c->env.benchmark;
    if (b->stand_in) {
        int rc = stand_in_list(b->K, list, sizeof list, e);
        if (rc)
            return rc;
        name = list;
    }
    return env_vec_create(&b->env, name, &o, e);
}

/* Random-action iterations into the replay buffer, as training's warm-up. */
int bu_fill_replay(bu_run *b, mtrl_err *e)
{
    const mtrl_config *c = &b->cfg;
    int K = b->K, rc;
    fprintf(stderr, "%s: %d envs, filling the replay buffer (%d random-action iterations)\n",
            b->name, b->K, b->o->fill);
    if ((rc = make_env(b, e)))
        return rc;
    int64_t cap = (int64_t)K * b->o->fill;
    if (cap > c->replay.capacity)
        cap = c->replay.capacity;
    if (cap < K)
        cap = K;
    if ((rc = rb_create(&b->rb, K, OBS, ACT, cap, e)) ||
        (rc = rb_batch_create(&b->batch, K, OBS, ACT, b->B, e)))
        return rc;
    const rb_modes rm = rb_modes_from_config(c);
    if (rm.ema_rate > 0 && (rc = rb_enable_reward_ema(b->rb, rm.ema_rate, e)))
        return rc;
    b->smp = rm.sampling;
    b->norm = rm.norm;
    if ((rc = collect_create(&b->col, K, e)))
        return rc;
    if ((rc = env_vec_reset_all(b->env, NULL, e)))
        return err_prefix(e, "%s: resetting the envs", b->name);
    collect_observe(b->col, b->env);
    rng_state r;
    rng_seed(&r, (uint64_t)c->run.seed, BU_STREAM_ACTIONS);
    for (int it = 0; it < b->o->fill; it++) {
        env_step_result res;
        if ((rc = collect_act(b->col, NULL, &r, e)) ||
            (rc = collect_step(b->col, b->env, b->rb, &res, e)))
            return err_prefix(e, "%s", b->name);
    }
    return 0;
}

void bu_run_free(bu_run *b)
{
    for (int i = 0; i < b->n_rows; i++) {
        sac_destroy(b->rows[i].agent);
        free(b->rows[i].t);
        free(b->rows[i].fwd);
        free(b->rows[i].gram);
        free(b->rows[i].comb);
        free(b->rows[i].other);
        free(b->rows[i].round);
        free(b->rows[i].ep);
        free(b->rows[i].ep_env);
    }
    env_vec_destroy(b->env);
    rb_destroy(b->rb);
    rb_batch_destroy(b->batch);
    collect_destroy(b->col);
    bench_sgemm_free(&b->sg);
    free(b->sg_t);
}
