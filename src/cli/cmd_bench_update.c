/* mtrl bench update: what one full SAC update (critic, actor, temperature,
 * targets) costs per multi-task optimizer, measured side by side in one run
 * on the paper settings (configs/mt10/cagrad.yaml, configs/mt50/cagrad.yaml:
 * 3 x 400 networks, batch 1280 / 1300), with the time split the agent
 * reports, the FLOP rate of the update's matrix products next to this
 * machine's sgemm rate, and the per-episode figure the papers report
 * (CAGrad Table 7, Nash-MTL Table 5: one 150-iteration episode of the whole
 * loop, spec mtrl-cagrad.md §8).
 * Methods are interleaved in round-robin blocks and every method draws the
 * same batches, so machine noise and data hit all of them alike. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli/bench.h"
#include "cli/train.h"
#include "core/cfg.h"
#include "core/rng.h"
#include "core/timer.h"
#include "envs/envs.h"
#include "nets/nets.h"
#include "replay/replay.h"
#include "sac/sac.h"

#define OBS ENV_OBS_DIM
#define ACT ENV_ACT_DIM
#define MAX_METHODS 8
#define MAX_BENCH 2
#define MAX_TASKS 256

/* This command's own rng streams (random warm-up actions; batch draws). */
enum { STREAM_BENCH_ACTIONS = 7001, STREAM_BENCH_BATCHES = 7002 };

static const char *const default_methods = "mean,pcgrad,cagrad,cagrad_fast,mgda";

typedef struct opts {
    const char *bench[MAX_BENCH];
    int n_bench;
    char method[MAX_METHODS][32];
    int n_methods;
    const char *config;
    const char **sets;
    int n_sets;
    int updates, warmup, block, fill, episodes, episode_iters;
    int json, csv, quick, stand_in;
    int threads; /* -1: as training (run.threads); 0: OpenBLAS's own threading */
} opts;

/* One (benchmark, method) result. Times in seconds; NAN where not measured. */
typedef struct result {
    char bench[CFG_STR_LEN], method[32];
    int K, B, stand_in, updates, skipped, env_threads;
    long p_actor, p_critic;
    /* ratios to mean: of the medians, of the minima, and the median over
     * rounds of the round's block against mean's block of the same round */
    double med, min, max, ratio, ratio_min, ratio_paired;
    double fwd, per_task, gram, comb, other; /* medians per update */
    double gflop, gflops, sgemm_gflops;
    int ep_iters, ep_len, episodes;
    /* seconds per episode: L x the median iteration, L x the mean one (the
     * timed wall clock scaled to L), L x the median env step */
    double ep, ep_total, ep_env;
    char settings[96];
} result;

typedef struct skip {
    char bench[CFG_STR_LEN];
    char why[MTRL_ERR_MSG_LEN + 128];
} skip;

static result results[MAX_BENCH * MAX_METHODS];
static int blas_threads0; /* OpenBLAS's thread count at start (--threads 0) */
static int n_results;
static skip skips[MAX_BENCH];
static int n_skips;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mtrl bench update [--benchmark mt10|mt50|both] [--methods LIST]\n"
            "                         [--updates N] [--config CONFIG] [--set k=v ...]\n"
            "                         [--json|--csv] [--quick] [more options below]\n\n"
            "Times full SAC updates (critic, actor, temperature, target critics) for each\n"
            "multi-task optimizer on the paper settings: configs/mt10/cagrad.yaml and\n"
            "configs/mt50/cagrad.yaml (networks, batch, c), with mtl.method set per row\n"
            "(CAGrad-Fast samples 4 tasks on MT10, 8 on MT50, as the paper). The replay\n"
            "buffer holds real transitions from random-action iterations of the envs.\n"
            "Methods run interleaved, in round-robin blocks of updates, and draw the same\n"
            "batches, so load from other processes hits all of them alike.\n\n"
            "Per row: median, min and max ms per update; the ratio to `mean` measured in the\n"
            "same run (of the medians, and of the minima); the split, medians per update\n"
            "(forward/backward including the per-task gradient products and, for the\n"
            "Gram-based methods, the Gram formed inside the backward pass; the part of it\n"
            "beyond mean's; the combiner's own Gram (if any) + solve; combine + Adam +\n"
            "Polyak; the rest);\n"
            "the update's matrix-product GFLOP and GFLOP/s next to this machine's sgemm\n"
            "GFLOP/s measured in the same run; and seconds per episode of the whole loop\n"
            "(K env steps + 1 update per iteration, as `mtrl run`), the figure of CAGrad's\n"
            "Table 7 and Nash-MTL's Table 5 (tools/timing-table puts them side by side):\n"
            "the episode length times the median loop iteration, methods taking turns\n"
            "iteration by iteration (JSON/CSV also give the mean-based figure).\n\n"
            "  --benchmark B      mt10, mt50 or both (default both; with --config: the\n"
            "                     config's env.benchmark)\n"
            "  --methods LIST     comma-separated (default %s)\n"
            "  --updates N        timed updates per method (default 30; --quick 6)\n"
            "  --warmup N         untimed updates per method first (default 3; --quick 1)\n"
            "  --block N          updates per method per round (default 2)\n"
            "  --fill N           random-action iterations filling the replay buffer\n"
            "                     (default 500; --quick 200)\n"
            "  --episodes N       episodes per method for the per-episode figure\n"
            "                     (default 1; 0 skips it)\n"
            "  --episode-iters N  loop iterations timed per episode (default: the episode\n"
            "                     length env.max_episode_steps; --quick 10)\n"
            "  --threads T        learner threads, as `mtrl run` uses run.threads: the\n"
            "                     networks split their products over T threads of their own\n"
            "                     and OpenBLAS runs on 1; the env workers are T too (default:\n"
            "                     the config's run.threads, 0 there = the number of cores).\n"
            "                     0: the old way, OpenBLAS threading every product itself\n"
            "                     (OPENBLAS_NUM_THREADS) beside the per-task product workers\n"
            "  --config CONFIG    one config instead of the paper configs\n"
            "  --set k=v          override a config key (repeatable; mtl.method is set per row)\n"
            "  --stand-in         time a benchmark whose tasks are not all registered yet with\n"
            "                     registered tasks standing in (same K, networks and batch;\n"
            "                     rows are marked); without it such a benchmark is skipped\n"
            "  --json, --csv      machine-readable output on stdout (progress on stderr)\n"
            "  --quick            short settings (for make bench)\n"
            "  -h, --help         this help\n",
            default_methods);
}

static int parse_int(const char *opt, const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        fprintf(stderr, "mtrl bench update: %s wants an integer in [%d, %d], got '%s'\n", opt,
                lo, hi, s);
        return 2;
    }
    *out = (int)v;
    return 0;
}

static int parse_methods(const char *list, opts *o)
{
    char buf[512];
    if (strlen(list) >= sizeof buf) {
        fprintf(stderr, "mtrl bench update: --methods list too long\n");
        return 2;
    }
    strcpy(buf, list);
    o->n_methods = 0;
    mtrl_config probe;
    cfg_defaults(&probe);
    for (char *save = NULL, *m = strtok_r(buf, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
        char kv[64];
        mtrl_err e = {0};
        snprintf(kv, sizeof kv, "mtl.method=%s", m);
        if (strlen(m) >= sizeof o->method[0] || cfg_apply_override(&probe, kv, &e)) {
            /* The config's message minus its "--set mtl.method=X: " prefix. */
            const char *why = strstr(e.msg, ": ");
            fprintf(stderr, "mtrl bench update: --methods: '%s': %s\n", m,
                    why ? why + 2 : "not a method");
            return 2;
        }
        for (int i = 0; i < o->n_methods; i++)
            if (!strcmp(o->method[i], m)) {
                fprintf(stderr, "mtrl bench update: --methods names '%s' twice\n", m);
                return 2;
            }
        if (o->n_methods == MAX_METHODS) {
            fprintf(stderr, "mtrl bench update: --methods: at most %d methods\n", MAX_METHODS);
            return 2;
        }
        snprintf(o->method[o->n_methods++], sizeof o->method[0], "%s", m);
    }
    if (o->n_methods == 0) {
        fprintf(stderr, "mtrl bench update: --methods is empty\n");
        return 2;
    }
    return 0;
}

static int parse_args(int argc, char **argv, opts *o)
{
    int updates = -1, warmup = -1, block = -1, fill = -1, episodes = -1, ep_iters = -1;
    o->threads = -1;
    const char *methods = default_methods, *bench = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(a, "--quick")) {
            o->quick = 1;
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (!strcmp(a, "--csv")) {
            o->csv = 1;
        } else if (!strcmp(a, "--stand-in")) {
            o->stand_in = 1;
        } else if (!strncmp(a, "--set=", 6)) {
            o->sets[o->n_sets++] = a + 6;
        } else if (!strcmp(a, "--benchmark") || !strcmp(a, "--methods") ||
                   !strcmp(a, "--updates") || !strcmp(a, "--warmup") || !strcmp(a, "--block") ||
                   !strcmp(a, "--fill") || !strcmp(a, "--episodes") ||
                   !strcmp(a, "--episode-iters") || !strcmp(a, "--config") ||
                   !strcmp(a, "--threads") ||
                   !strcmp(a, "--set") || !strcmp(a, "-s")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "mtrl bench update: %s needs a value\n", a);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--benchmark"))
                bench = v;
            else if (!strcmp(a, "--methods"))
                methods = v;
            else if (!strcmp(a, "--config"))
                o->config = v;
            else if (!strcmp(a, "--set") || !strcmp(a, "-s"))
                o->sets[o->n_sets++] = v;
            else if (!strcmp(a, "--threads"))
                rc = parse_int(a, v, 0, 256, &o->threads);
            else if (!strcmp(a, "--updates"))
                rc = parse_int(a, v, 1, 1000000, &updates);
            else if (!strcmp(a, "--warmup"))
                rc = parse_int(a, v, 0, 1000000, &warmup);
            else if (!strcmp(a, "--block"))
                rc = parse_int(a, v, 1, 1000000, &block);
            else if (!strcmp(a, "--fill"))
                rc = parse_int(a, v, 1, 10000000, &fill);
            else if (!strcmp(a, "--episodes"))
                rc = parse_int(a, v, 0, 100000, &episodes);
            else
                rc = parse_int(a, v, 1, 1000000, &ep_iters);
        } else {
            fprintf(stderr, "mtrl bench update: unknown argument '%s' (mtrl bench update --help)\n",
                    a);
            return 2;
        }
        if (rc)
            return rc;
    }
    if (o->json && o->csv) {
        fprintf(stderr, "mtrl bench update: --json and --csv exclude each other\n");
        return 2;
    }
    if (bench) {
        if (!strcmp(bench, "both")) {
            o->bench[0] = "mt10", o->bench[1] = "mt50", o->n_bench = 2;
        } else if (!strcmp(bench, "mt10") || !strcmp(bench, "mt50")) {
            o->bench[0] = bench, o->n_bench = 1;
        } else {
            fprintf(stderr, "mtrl bench update: --benchmark wants mt10, mt50 or both, got '%s'\n",
                    bench);
            return 2;
        }
    } else if (!o->config) {
        o->bench[0] = "mt10", o->bench[1] = "mt50", o->n_bench = 2;
    } else {
        o->bench[0] = NULL, o->n_bench = 1; /* the config's own benchmark */
    }
    o->updates = updates > 0 ? updates : o->quick ? 6 : 30;
    o->warmup = warmup >= 0 ? warmup : o->quick ? 1 : 3;
    o->block = block > 0 ? block : 2;
    if (o->block > o->updates)
        o->block = o->updates;
    o->fill = fill > 0 ? fill : o->quick ? 200 : 500;
    o->episodes = episodes >= 0 ? episodes : 1;
    o->episode_iters = ep_iters > 0 ? ep_iters : o->quick ? 10 : 0; /* 0: the episode length */
    return parse_methods(methods, o);
}

/* ------------------------------------------------------------------------ */
/* FLOPs of one update: the sgemm/ssyrk/sgemv work for the configured shapes.
 * Per dense layer l with B rows: forward 2 B d_l d_{l+1}; backprop signal to
 * the layer's input (l > 0) and weight gradient the same each (the per-task
 * weight gradients split only the batch: same FLOPs as the summed one). */

typedef struct shapes {
    int na, nc;          /* layers of the actor, of one critic */
    int da[CFG_LIST_MAX + 2], dc[CFG_LIST_MAX + 2];
} shapes;

static void get_shapes(const mtrl_config *c, int K, shapes *s)
{
    int in = OBS + (c->agent.task_input == CFG_TASK_INPUT_ONEHOT ? K : 0);
    s->na = s->nc = 0;
    s->da[s->na++] = in;
    s->dc[s->nc++] = in + ACT;
    for (int i = 0; i < c->agent.actor_hidden.n; i++)
        s->da[s->na++] = c->agent.actor_hidden.v[i];
    for (int i = 0; i < c->agent.critic_hidden.n; i++)
        s->dc[s->nc++] = c->agent.critic_hidden.v[i];
    s->da[s->na] = 2 * ACT;
    s->dc[s->nc] = 1;
}

static double fwd_flops(const int *d, int n, int B)
{
    double f = 0;
    for (int l = 0; l < n; l++)
        f += 2.0 * B * d[l] * d[l + 1];
    return f;
}

static double sig_flops(const int *d, int n, int B)
{
    return fwd_flops(d, n, B) - 2.0 * B * d[0] * d[1];
}

/* The combiner's passes over a K x P gradient matrix. */
static double combine_flops(const mtrl_config *c, int K, long P)
{
    double p = (double)P;
    int S = c->mtl.cagrad_fast_subset;
    if (c->mtl.method == CFG_MTL_MEAN)
        return 0; /* the agent sums the per-task means in the backward pass itself */
    if (c->mtl.method == CFG_MTL_SUM)
        return 2.0 * K * p;
    if (c->mtl.method == CFG_MTL_CAGRAD_FAST && S < K)
        /* the agent's backward pass forms the |S|+1 rows itself (the
         * remainder row included): small ssyrk, sgemv */
        return (S + 1.0) * (S + 2.0) * p + 2.0 * (S + 1.0) * p;
    return (double)K * (K + 1.0) * p + 2.0 * K * p; /* ssyrk + sgemv */
}

static double update_flops(const mtrl_config *c, int K, int B, long pa, long pc)
{
    shapes s;
    get_shapes(c, K, &s);
    double fa = fwd_flops(s.da, s.na, B), fc = fwd_flops(s.dc, s.nc, B);
    double sa = sig_flops(s.da, s.na, B), sc = sig_flops(s.dc, s.nc, B);
    /* Critic: target policy sample, two target critics, two critics forward
     * and backward with weight gradients. */
    double critic = fa + 2 * fc + 2 * fc + 2 * (sc + fc);
    /* Actor: policy forward, both critics forward and back to the action
     * columns of their input, the actor backward with weight gradients. */
    double actor = fa + 2 * fc + 2 * (sc + 2.0 * B * ACT * s.dc[1]) + sa + fa;
    if (c->mtl.on_critic)
        critic += combine_flops(c, K, pc);
    if (c->mtl.on_actor)
        actor += combine_flops(c, K, pa);
    return critic + actor / c->agent.actor_update_freq;
}

/* ------------------------------------------------------------------------ */

typedef struct mrow {
    const char *method;
    mtrl_config cfg;
    sac_agent *agent;
    rng_state rng; /* batch draws: the same seed for every method */
    /* per timed update: total, and the agent's split of it */
    double *t, *fwd, *gram, *comb, *other;
    double *round; /* per round: the method's block of updates, seconds */
    int n, skipped;
    double *ep, *ep_env;
} mrow;

typedef struct brun {
    const opts *o;
    char name[CFG_STR_LEN];
    int K, B, stand_in, L, ep_iters;
    mtrl_config cfg;
    int n_rows;
    mrow rows[MAX_METHODS];
    env_vec *env;
    rb_buffer *rb;
    rb_batch *batch;
    rb_sampling smp;
    rb_reward_norm norm;
    float *act;
    int32_t *task;
    bench_sgemm sg;
    double *sg_t;
    int n_sg, sg_cap;
    int progress; /* a progress line on stderr (a terminal only) */
} brun;

static void brun_free(brun *b)
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
    free(b->act);
    free(b->task);
    bench_sgemm_free(&b->sg);
    free(b->sg_t);
}

static int user_set(const opts *o, const char *key)
{
    size_t n = strlen(key);
    for (int i = 0; i < o->n_sets; i++)
        if (!strncmp(o->sets[i], key, n) && o->sets[i][n] == '=')
            return 1;
    return 0;
}

/* The benchmark's config: the paper config (or --config) with --set. */
static int load_config(const opts *o, const char *bench, mtrl_config *c, mtrl_err *e)
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

static int make_env(brun *b, mtrl_err *e)
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
static int fill_replay(brun *b, mtrl_err *e)
{
    const mtrl_config *c = &b->cfg;
    int K = b->K, rc;
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
    b->act = malloc(sizeof(float) * (size_t)K * ACT);
    b->task = malloc(sizeof(int32_t) * (size_t)K);
    if (!b->act || !b->task)
        return err_set(e, MTRL_ENOMEM, "out of memory");
    for (int k = 0; k < K; k++)
        b->task[k] = k;
    if ((rc = env_vec_reset_all(b->env, NULL, e)))
        return err_prefix(e, "%s: resetting the envs", b->name);
    rng_state r;
    rng_seed(&r, (uint64_t)c->run.seed, STREAM_BENCH_ACTIONS);
    for (int it = 0; it < b->o->fill; it++) {
        for (int i = 0; i < K * ACT; i++)
            b->act[i] = (float)rng_range(&r, -1.0, 1.0);
        const float *obs = env_vec_obs(b->env);
        /* env_vec_obs is overwritten by the step: the transition's obs go in first. */
        static float prev[MAX_TASKS * OBS];
        memcpy(prev, obs, sizeof(float) * (size_t)K * OBS);
        env_step_result res;
        if ((rc = env_vec_step(b->env, b->act, &res, e)))
            return err_prefix(e, "%s: stepping the envs", b->name);
        for (int k = 0; k < K; k++)
            if (!res.unstable[k] &&
                (rc = rb_add(b->rb, k, prev + k * OBS, b->act + k * ACT, res.reward[k],
                             res.next_obs + k * OBS, 0, e)))
                return rc;
    }
    return 0;
}

static void sgemm_sample(brun *b)
{
    double dt = bench_sgemm_round(&b->sg);
    if (b->n_sg < b->sg_cap)
        b->sg_t[b->n_sg++] = dt;
}

static int one_update(brun *b, mrow *m, sac_update_stats *st, double *dt, mtrl_err *e)
{
    int rc = rb_sample(b->rb, b->smp, b->norm, b->B, &m->rng, b->batch, e);
    if (rc)
        return rc;
    double t0 = tm_now();
    rc = sac_update(m->agent, b->batch, st, e);
    *dt = tm_now() - t0;
    return rc;
}

/* Warm-up, then round-robin blocks of timed updates over the methods. */
static int time_updates(brun *b, mtrl_err *e)
{
    const opts *o = b->o;
    sac_update_stats st;
    double dt;
    int rc;
    for (int w = 0; w < o->warmup; w++)
        for (int i = 0; i < b->n_rows; i++)
            if ((rc = one_update(b, &b->rows[i], &st, &dt, e)))
                return rc;
    sgemm_sample(b); /* its own first touch, untimed */
    b->n_sg = 0;
    for (int done = 0, round = 0; done < o->updates; round++) {
        int n = o->updates - done < o->block ? o->updates - done : o->block;
        for (int i = 0; i < b->n_rows; i++) {
            mrow *m = &b->rows[i];
            m->round[round] = 0;
            for (int j = 0; j < n; j++) {
                if ((rc = one_update(b, m, &st, &dt, e)))
                    return rc;
                m->t[m->n] = dt;
                m->fwd[m->n] = st.t_fwd_bwd;
                m->gram[m->n] = st.t_gram_solve;
                m->comb[m->n] = st.t_combine_adam;
                m->other[m->n] = dt - st.t_fwd_bwd - st.t_gram_solve - st.t_combine_adam;
                m->round[round] += dt;
                m->n++;
                m->skipped += st.skipped != 0;
            }
            sgemm_sample(b);
        }
        done += n;
        if (b->progress)
            fprintf(stderr, "\r%s: %d/%d updates per method", b->name, done, o->updates);
    }
    if (b->progress)
        fprintf(stderr, "\n");
    return 0;
}

/* The whole loop, as `mtrl run` after its warm-up: per iteration the policy
 * acts on the K observations, one update, one step of every env, K
 * transitions stored. Methods take turns iteration by iteration (all step
 * the same envs), and each iteration is timed on its own, so an episode's
 * figure can be L times the median iteration: a burst of load from another
 * process then moves it less than it moves a sum. */
static int time_episodes(brun *b, mtrl_err *e)
{
    const opts *o = b->o;
    int K = b->K, rc, n = 0;
    for (int ep = 0; ep < o->episodes; ep++) {
        for (int it = 0; it < b->ep_iters; it++, n++) {
            for (int i = 0; i < b->n_rows; i++) {
                mrow *m = &b->rows[i];
                static float obs[MAX_TASKS * OBS];
                double t0 = tm_now();
                memcpy(obs, env_vec_obs(b->env), sizeof(float) * (size_t)K * OBS);
                sac_update_stats st;
                double dt;
                if ((rc = sac_act(m->agent, K, obs, b->task, 0, b->act, e)) ||
                    (rc = one_update(b, m, &st, &dt, e)))
                    return rc;
                env_step_result res;
                double te = tm_now();
                if ((rc = env_vec_step(b->env, b->act, &res, e)))
                    return err_prefix(e, "%s: stepping the envs", b->name);
                m->ep_env[n] = tm_now() - te;
                for (int k = 0; k < K; k++)
                    if (!res.unstable[k] &&
                        (rc = rb_add(b->rb, k, obs + k * OBS, b->act + k * ACT, res.reward[k],
                                     res.next_obs + k * OBS, 0, e)))
                        return rc;
                m->ep[n] = tm_now() - t0;
            }
            if (it % 8 == 0)
                sgemm_sample(b);
        }
        if (b->progress)
            fprintf(stderr, "\r%s: %d/%d episodes per method", b->name, ep + 1, o->episodes);
    }
    if (o->episodes > 0 && b->progress)
        fprintf(stderr, "\n");
    return 0;
}

static void collect(brun *b)
{
    long pa = sac_num_params(b->rows[0].agent, 0), pc = sac_num_params(b->rows[0].agent, 1);
    double sg = bench_sgemm_flops(&b->sg) / bench_median(b->sg_t, b->n_sg) * 1e-9;
    double mean_med = NAN, mean_fwd = NAN, mean_min = NAN;
    const double *mean_round = NULL;
    int rounds = (b->o->updates + b->o->block - 1) / b->o->block;
    double *paired = malloc(sizeof(double) * (size_t)rounds);
    for (int i = 0; i < b->n_rows; i++) {
        mrow *m = &b->rows[i];
        if (!strcmp(m->method, "mean")) {
            mean_round = m->round;
            mean_med = bench_median(m->t, m->n);
            mean_min = m->t[0];
            mean_fwd = bench_median(m->fwd, m->n);
        }
    }
    for (int i = 0; i < b->n_rows; i++) {
        mrow *m = &b->rows[i];
        result *r = &results[n_results++];
        memset(r, 0, sizeof *r);
        snprintf(r->bench, sizeof r->bench, "%s", b->name);
        snprintf(r->method, sizeof r->method, "%s", m->method);
        r->K = b->K, r->B = b->B, r->stand_in = b->stand_in;
        r->env_threads = env_vec_threads(b->env);
        r->updates = m->n, r->skipped = m->skipped;
        r->p_actor = pa, r->p_critic = pc;
        r->med = bench_median(m->t, m->n);
        r->min = m->t[0], r->max = m->t[m->n - 1];
        r->ratio = r->med / mean_med;
        r->ratio_min = r->min / mean_min;
        /* Round by round, against mean's block just before or after it:
         * load that changes slowly cancels in each ratio. */
        r->ratio_paired = NAN;
        if (mean_round && paired) {
            for (int k = 0; k < rounds; k++)
                paired[k] = m->round[k] / mean_round[k];
            r->ratio_paired = bench_median(paired, rounds);
        }
        /* Medians of each part: one update disturbed by another process
         * moves a median less than a mean. */
        r->fwd = bench_median(m->fwd, m->n);
        r->per_task = r->fwd - mean_fwd;
        r->gram = bench_median(m->gram, m->n);
        r->comb = bench_median(m->comb, m->n);
        r->other = bench_median(m->other, m->n);
        r->gflop = update_flops(&m->cfg, b->K, b->B, pa, pc) * 1e-9;
        r->gflops = r->gflop / r->med;
        r->sgemm_gflops = sg;
        r->episodes = b->o->episodes;
        r->ep_len = b->L;
        r->ep_iters = b->ep_iters;
        r->ep = r->ep_total = r->ep_env = NAN;
        int n_it = b->o->episodes * b->ep_iters;
        if (n_it > 0) {
            double sum = 0;
            for (int k = 0; k < n_it; k++)
                sum += m->ep[k];
            r->ep_total = b->L * sum / n_it;
            r->ep = b->L * bench_median(m->ep, n_it);
            r->ep_env = b->L * bench_median(m->ep_env, n_it);
        }
        const mtrl_config *c = &m->cfg;
        if (c->mtl.method == CFG_MTL_CAGRAD_FAST)
            snprintf(r->settings, sizeof r->settings, "c=%g |S|=%d gram=%s", c->mtl.cagrad_c,
                     c->mtl.cagrad_fast_subset,
                     cfg_enum_word("mtl.cagrad_fast_gram", c->mtl.cagrad_fast_gram));
        else if (c->mtl.method == CFG_MTL_CAGRAD)
            snprintf(r->settings, sizeof r->settings, "c=%g", c->mtl.cagrad_c);
    }
    free(paired);
}

static void print_dims(FILE *f, const int *d, int n)
{
    for (int l = 0; l <= n; l++)
        fprintf(f, "%s%d", l ? "-" : "", d[l]);
}

static void print_bench_text(const brun *b, const result *r0, int n)
{
    static int header_done;
    if (!header_done)
        printf("mtrl bench update: %d learner threads (%s), OpenBLAS %d threads (%s); methods "
               "interleaved in round-robin blocks of %d updates, every method on the same "
               "batches, so load from other processes hits all methods alike\n",
               nn_threads() ? nn_threads() : openblas_get_num_threads(),
               nn_threads() ? "the networks' own" : "OpenBLAS's", openblas_get_num_threads(),
               openblas_get_config(), b->o->block);
    header_done = 1;
    shapes s;
    get_shapes(&b->cfg, b->K, &s);
    printf("\n%s%s: %d tasks, batch %d; actor ", b->name, b->stand_in ? " (stand-in tasks)" : "",
           b->K, b->B);
    print_dims(stdout, s.da, s.na);
    printf(" (%ld params), twin critic 2 x ", r0->p_actor);
    print_dims(stdout, s.dc, s.nc);
    printf(" (%ld params)\n", r0->p_critic);
    printf("  replay: %lld transitions from %d random-action iterations (%d env threads); %d "
           "timed updates per method after %d warm-up\n",
           (long long)rb_total_size(b->rb), b->o->fill, r0->env_threads, b->o->updates,
           b->o->warmup);
    printf("  sgemm %dx%dx%d (NT+TN+NN), median over the run: %.1f GFLOP/s\n", b->B, b->sg.H,
           b->sg.H, r0->sgemm_gflops);
    if (b->o->episodes > 0)
        printf("  s/episode: %d x the median loop iteration (K env steps + 1 update) of %d "
               "timed per method, methods taking turns\n",
               b->L, b->o->episodes * b->ep_iters);
    printf("\n  %-12s %8s %8s %8s %6s | %8s %8s %8s %8s %6s | %6s %7s %6s | %8s %7s\n", "method",
           "ms med", "min", "max", "x mean", "fwd/bwd", "per-task", "gram+slv", "comb+adm",
           "other", "GFLOP", "GFLOP/s", "%sgemm", "s/episode", "env s");
    for (int i = 0; i < n; i++) {
        const result *r = r0 + i;
        char ratio[16] = "-", pt[16] = "-", ep[16] = "-", epe[16] = "-";
        if (isfinite(r->ratio))
            snprintf(ratio, sizeof ratio, "%.2f", r->ratio);
        if (isfinite(r->per_task))
            snprintf(pt, sizeof pt, "%.2f", r->per_task * 1e3);
        if (isfinite(r->ep))
            snprintf(ep, sizeof ep, "%.2f", r->ep), snprintf(epe, sizeof epe, "%.2f", r->ep_env);
        printf("  %-12s %8.2f %8.2f %8.2f %6s | %8.2f %8s %8.2f %8.2f %6.2f | %6.2f %7.1f %5.0f%% "
               "| %8s %7s\n",
               r->method, r->med * 1e3, r->min * 1e3, r->max * 1e3, ratio, r->fwd * 1e3, pt,
               r->gram * 1e3, r->comb * 1e3, r->other * 1e3, r->gflop, r->gflops,
               100 * r->gflops / r->sgemm_gflops, ep, epe);
        if (r->skipped)
            printf("  (%s: %d of its timed updates skipped a component as non-finite)\n",
                   r->method, r->skipped);
    }
    for (int i = 0; i < n; i++)
        if (r0[i].settings[0])
            printf("  %s: %s\n", r0[i].method, r0[i].settings);
}

static int run_bench(const opts *o, const char *bench_arg, mtrl_err *e)
{
    brun b;
    memset(&b, 0, sizeof b);
    b.o = o;
    b.progress = isatty(STDERR_FILENO);
    int rc = load_config(o, bench_arg, &b.cfg, e);
    if (rc)
        return rc;
    if (o->threads == 0) {
        nn_set_threads(0);
        openblas_set_num_threads(blas_threads0);
    } else {
        train_set_threads(&b.cfg);
    }
    snprintf(b.name, sizeof b.name, "%s", b.cfg.env.benchmark);
    b.K = cfg_num_tasks(&b.cfg);
    b.B = b.cfg.agent.batch_size;
    b.L = b.cfg.env.max_episode_steps;
    b.ep_iters = o->episode_iters > 0 && o->episode_iters < b.L ? o->episode_iters : b.L;
    int idx[MAX_TASKS], n_reg;
    mtrl_err reg = {0};
    if (env_benchmark_tasks(b.cfg.env.benchmark, idx, MAX_TASKS, &n_reg, &reg)) {
        if (!o->stand_in || b.K < 1) {
            skip *s = &skips[n_skips++];
            snprintf(s->bench, sizeof s->bench, "%s", b.name);
            snprintf(s->why, sizeof s->why,
                     "not all of its tasks are registered yet (%s); skipped (--stand-in times "
                     "its shapes with registered tasks standing in)",
                     reg.msg);
            fprintf(stderr, "mtrl bench update: %s: %s\n", b.name, s->why);
            return 0;
        }
        b.stand_in = 1;
        fprintf(stderr, "mtrl bench update: %s: not all tasks registered (%s); timing its %d-task "
                        "shapes with registered tasks standing in\n",
                b.name, reg.msg, b.K);
    } else {
        b.K = n_reg;
    }
    if (b.K > MAX_TASKS)
        return err_set(e, MTRL_EINPUT, "%s: %d tasks, at most %d", b.name, b.K, MAX_TASKS);

    /* The agents first: an unimplemented method fails before any env work. */
    for (int i = 0; i < o->n_methods; i++) {
        mrow *m = &b.rows[b.n_rows++];
        m->method = o->method[i];
        m->cfg = b.cfg;
        char kv[64];
        snprintf(kv, sizeof kv, "mtl.method=%s", m->method);
        if ((rc = cfg_apply_override(&m->cfg, kv, e)))
            goto out;
        /* The paper's CAGrad-Fast sampled 8 of MT50's tasks (4 of MT10's). */
        if (!o->config && !user_set(o, "mtl.cagrad_fast_subset") && b.K == 50)
            m->cfg.mtl.cagrad_fast_subset = 8;
        if ((rc = cfg_check(&m->cfg, e)) ||
            (rc = sac_create(&m->agent, &m->cfg, b.K, OBS, ACT, e))) {
            err_prefix(e, "%s, %s", b.name, m->method);
            goto out;
        }
        int cap = o->updates;
        m->t = malloc(sizeof(double) * (size_t)cap);
        m->fwd = malloc(sizeof(double) * (size_t)cap);
        m->gram = malloc(sizeof(double) * (size_t)cap);
        m->comb = malloc(sizeof(double) * (size_t)cap);
        m->other = malloc(sizeof(double) * (size_t)cap);
        m->round = malloc(sizeof(double) * (size_t)cap);
        size_t n_it = (size_t)o->episodes * (size_t)b.ep_iters + 1;
        m->ep = malloc(sizeof(double) * n_it);
        m->ep_env = malloc(sizeof(double) * n_it);
        if (!m->t || !m->fwd || !m->gram || !m->comb || !m->other || !m->round || !m->ep || !m->ep_env) {
            rc = err_set(e, MTRL_ENOMEM, "out of memory");
            goto out;
        }
        rng_seed(&m->rng, (uint64_t)b.cfg.run.seed, STREAM_BENCH_BATCHES);
    }
    shapes s;
    get_shapes(&b.cfg, b.K, &s);
    rng_state r;
    rng_seed(&r, (uint64_t)b.cfg.run.seed, RNG_STREAM_INIT);
    int H = s.dc[1] > 1 ? s.dc[1] : 400;
    b.sg_cap = o->n_methods * (o->updates + 2) + o->episodes * b.ep_iters / 8 + 2;
    b.sg_t = malloc(sizeof(double) * (size_t)b.sg_cap);
    if (!b.sg_t) {
        rc = err_set(e, MTRL_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = bench_sgemm_init(&b.sg, b.B, H, &r, e)))
        goto out;
    fprintf(stderr, "%s: %d envs, filling the replay buffer (%d random-action iterations)\n",
            b.name, b.K, o->fill);
    if ((rc = make_env(&b, e)) || (rc = fill_replay(&b, e)) || (rc = time_updates(&b, e)) ||
        (rc = time_episodes(&b, e)))
        goto out;
    int first = n_results;
    collect(&b);
    if (!o->json && !o->csv)
        print_bench_text(&b, results + first, n_results - first);
out:
    brun_free(&b);
    return rc;
}

/* ------------------------------------------------------------------------ */

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void json_num(const char *key, double v, int comma)
{
    printf("\"%s\": ", key);
    if (isfinite(v))
        printf("%.6g", v);
    else
        printf("null");
    if (comma)
        printf(", ");
}

static void print_json(const opts *o)
{
    printf("{\"command\": \"bench update\", \"threads\": %d, \"openblas_threads\": %d, "
           "\"cores\": %ld, "
           "\"interleaved\": \"round-robin blocks of %d updates per method; every method draws "
           "the same batches\", \"updates\": %d, \"warmup\": %d, \"fill_iterations\": %d,\n"
           " \"skipped\": [",
           nn_threads(), openblas_get_num_threads(), sysconf(_SC_NPROCESSORS_ONLN), o->block,
           o->updates,
           o->warmup, o->fill);
    for (int i = 0; i < n_skips; i++) {
        printf("%s{\"benchmark\": ", i ? ", " : "");
        json_str(skips[i].bench);
        printf(", \"reason\": ");
        json_str(skips[i].why);
        printf("}");
    }
    printf("],\n \"rows\": [");
    for (int i = 0; i < n_results; i++) {
        const result *r = &results[i];
        printf("%s\n  {\"benchmark\": ", i ? "," : "");
        json_str(r->bench);
        printf(", \"method\": ");
        json_str(r->method);
        printf(", \"tasks\": %d, \"batch\": %d, \"stand_in\": %s, \"actor_params\": %ld, "
               "\"critic_params\": %ld, \"updates\": %d, \"skipped_updates\": %d, "
               "\"env_threads\": %d, ",
               r->K, r->B, r->stand_in ? "true" : "false", r->p_actor, r->p_critic, r->updates,
               r->skipped, r->env_threads);
        json_num("ms_median", r->med * 1e3, 1);
        json_num("ms_min", r->min * 1e3, 1);
        json_num("ms_max", r->max * 1e3, 1);
        json_num("ratio_to_mean", r->ratio, 1);
        json_num("ratio_min_to_mean", r->ratio_min, 1);
        json_num("ratio_paired_to_mean", r->ratio_paired, 1);
        json_num("ms_fwd_bwd", r->fwd * 1e3, 1);
        json_num("ms_per_task_extra", r->per_task * 1e3, 1);
        json_num("ms_gram_solve", r->gram * 1e3, 1);
        json_num("ms_combine_adam", r->comb * 1e3, 1);
        json_num("ms_other", r->other * 1e3, 1);
        json_num("gflop", r->gflop, 1);
        json_num("gflops", r->gflops, 1);
        json_num("sgemm_gflops", r->sgemm_gflops, 1);
        json_num("pct_sgemm", 100 * r->gflops / r->sgemm_gflops, 1);
        printf("\"episode_len\": %d, \"episode_iters_timed\": %d, \"episodes\": %d, ", r->ep_len,
               r->ep_iters, r->episodes);
        json_num("episode_s", r->ep, 1);
        json_num("episode_s_total", r->ep_total, 1);
        json_num("episode_env_s", r->ep_env, 1);
        printf("\"settings\": ");
        json_str(r->settings);
        printf("}");
    }
    printf("\n ]}\n");
}

static void csv_num(double v, int last)
{
    if (isfinite(v))
        printf("%.6g", v);
    putchar(last ? '\n' : ',');
}

static void print_csv(void)
{
    printf("benchmark,method,tasks,batch,stand_in,updates,ms_median,ms_min,ms_max,ratio_to_mean,"
           "ratio_min_to_mean,ratio_paired_to_mean,ms_fwd_bwd,ms_per_task_extra,ms_gram_solve,ms_combine_adam,ms_other,gflop,gflops,"
           "sgemm_gflops,pct_sgemm,episode_len,episode_iters_timed,episode_s,episode_s_total,episode_env_s\n");
    for (int i = 0; i < n_results; i++) {
        const result *r = &results[i];
        printf("%s,%s,%d,%d,%d,%d,", r->bench, r->method, r->K, r->B, r->stand_in, r->updates);
        csv_num(r->med * 1e3, 0);
        csv_num(r->min * 1e3, 0);
        csv_num(r->max * 1e3, 0);
        csv_num(r->ratio, 0);
        csv_num(r->ratio_min, 0);
        csv_num(r->ratio_paired, 0);
        csv_num(r->fwd * 1e3, 0);
        csv_num(r->per_task * 1e3, 0);
        csv_num(r->gram * 1e3, 0);
        csv_num(r->comb * 1e3, 0);
        csv_num(r->other * 1e3, 0);
        csv_num(r->gflop, 0);
        csv_num(r->gflops, 0);
        csv_num(r->sgemm_gflops, 0);
        csv_num(100 * r->gflops / r->sgemm_gflops, 0);
        printf("%d,%d,", r->ep_len, r->ep_iters);
        csv_num(r->ep, 0);
        csv_num(r->ep_total, 0);
        csv_num(r->ep_env, 1);
    }
}

/* The targets, judged on this run's rows. */
static void print_targets(const opts *o)
{
    printf("\ntargets (this run, side by side; a shared machine makes them noisy):\n");
    if (o->updates < 20)
        printf("  (only %d updates per method: a rough indication, too few to judge a target)\n",
               o->updates);
    for (int i = 0; i < n_results; i++) {
        const result *r = &results[i];
        double lim = !strcmp(r->method, "pcgrad") || !strcmp(r->method, "cagrad") ? 1.15
                     : !strcmp(r->method, "cagrad_fast")                          ? 1.05
                                                                                  : 0;
        if (lim == 0 || !isfinite(r->ratio))
            continue;
        printf("  %-5s %-12s %.2fx mean (medians; paired by round %.2fx, minima %.2fx) "
               "<= %.2fx: %s\n",
               r->bench, r->method, r->ratio, r->ratio_paired, r->ratio_min, lim,
               r->ratio <= lim ? "met" : "NOT met");
    }
    for (int i = 0; i < n_results; i++) {
        const result *r = &results[i];
        double pct = 100 * r->gflops / r->sgemm_gflops;
        printf("  %-5s %-12s matrix arithmetic %.0f%% of sgemm (>= 60%%): %s\n", r->bench,
               r->method, pct, pct >= 60 ? "met" : "NOT met");
    }
}

int cmd_bench_update(int argc, char **argv)
{
    opts o;
    memset(&o, 0, sizeof o);
    o.sets = calloc((size_t)argc + 1, sizeof *o.sets);
    if (!o.sets)
        return 1;
    int rc = parse_args(argc, argv, &o);
    if (rc) {
        free(o.sets);
        return rc < 0 ? 0 : rc;
    }
    n_results = n_skips = 0;
    blas_threads0 = openblas_get_num_threads();
    mtrl_err e = {0};
    for (int i = 0; i < o.n_bench; i++) {
        if ((rc = run_bench(&o, o.bench[i], &e))) {
            fprintf(stderr, "mtrl bench update: %s\n", e.msg);
            free(o.sets);
            return err_exit_code(rc);
        }
        fflush(stdout);
    }
    free(o.sets);
    if (n_results == 0) {
        fprintf(stderr, "mtrl bench update: nothing was measured\n");
        if (o.json)
            print_json(&o);
        return 1;
    }
    if (o.json)
        print_json(&o);
    else if (o.csv)
        print_csv();
    else
        print_targets(&o);
    return 0;
}
