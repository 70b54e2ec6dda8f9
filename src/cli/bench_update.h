/* bench_update: the parts of `mtrl bench update` (cmd_bench_update.c), one
 * job a file: its arguments (bench_update_args.c), the FLOP model of one
 * update (bench_update_flops.c), the setup of a benchmark's agents, envs and
 * replay buffer (bench_update_setup.c), the timing (bench_update_time.c),
 * the results drawn from the timings (bench_update_results.c) and the three
 * output formats (bench_update_print.c). Private to those files. */
#ifndef MTRL_CLI_BENCH_UPDATE_H
#define MTRL_CLI_BENCH_UPDATE_H

#include <stdio.h>

#include "cli/bench.h"
#include "cli/collect.h"
#include "core/cfg.h"
#include "core/err.h"
#include "core/rng.h"
#include "envs/envs.h"
#include "replay/replay.h"
#include "sac/sac.h"

#define BU_MAX_METHODS 8
#define BU_MAX_BENCH 2
#define BU_MAX_TASKS 256

/* This command's own rng streams (random warm-up actions; batch draws). */
enum { BU_STREAM_ACTIONS = 7001, BU_STREAM_BATCHES = 7002 };

typedef struct bu_opts {
    const char *bench[BU_MAX_BENCH];
    int n_bench;
    char method[BU_MAX_METHODS][32];
    int n_methods;
    const char *config;
    const char **sets;
    int n_sets;
    int updates, warmup, block, fill, episodes, episode_iters;
    int json, csv, quick, stand_in;
    int threads; /* -1: as training (run.threads); 0: OpenBLAS's own threading */
    int blas_threads0; /* OpenBLAS's thread count at start (--threads 0) */
} bu_opts;

/* One (benchmark, method) result. Times in seconds; NAN where not measured. */
typedef struct bu_result {
    char bench[CFG_STR_LEN], method[32];
    int K, B, stand_in, updates, skipped, env_threads;
    int learner_threads; /* the networks' threads (--threads 0: OpenBLAS's) */
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
} bu_result;

typedef struct bu_skip {
    char bench[CFG_STR_LEN];
    char why[MTRL_ERR_MSG_LEN + 128];
} bu_skip;

/* Everything the command reports, over its benchmarks. */
typedef struct bu_report {
    bu_result results[BU_MAX_BENCH * BU_MAX_METHODS];
    int n_results;
    bu_skip skips[BU_MAX_BENCH];
    int n_skips;
    int header_done; /* the text output's first line is out */
} bu_report;

/* One method's agent and timings on one benchmark. */
typedef struct bu_row {
    const char *method;
    mtrl_config cfg;
    sac_agent *agent;
    rng_state rng; /* batch draws: the same seed for every method */
    /* per timed update: total, and the agent's split of it */
    double *t, *fwd, *gram, *comb, *other;
    double *round; /* per round: the method's block of updates, seconds */
    int n, skipped;
    double *ep, *ep_env;
} bu_row;

/* One benchmark's run: its config, the rows, the shared envs and replay. */
typedef struct bu_run {
    const bu_opts *o;
    char name[CFG_STR_LEN];
    int K, B, stand_in, L, ep_iters;
    mtrl_config cfg;
    int n_rows;
    bu_row rows[BU_MAX_METHODS];
    env_vec *env;
    rb_buffer *rb;
    rb_batch *batch;
    rb_sampling smp;
    rb_reward_norm norm;
    collector *col;
    bench_sgemm sg;
    double *sg_t;
    int n_sg, sg_cap;
    int progress; /* a progress line on stderr (a terminal only) */
} bu_run;

/* The layer widths of the networks a config asks for. */
typedef struct bu_shapes {
    int na, nc; /* layers of the actor, of one critic */
    int da[CFG_LIST_MAX + 2], dc[CFG_LIST_MAX + 2];
} bu_shapes;

/* bench_update_args.c */
void bu_usage(FILE *f);
/* 0 ok, 2 bad usage (message printed), -1 --help printed. */
int bu_parse_args(int argc, char **argv, bu_opts *o);
/* Whether --set gave key. */
int bu_user_set(const bu_opts *o, const char *key);

/* bench_update_flops.c */
void bu_get_shapes(const mtrl_config *c, int K, bu_shapes *s);
/* Matrix-product FLOPs of one update of K tasks, batch B, pa actor and pc
 * critic parameters. */
double bu_update_flops(const mtrl_config *c, int K, int B, long pa, long pc);

/* bench_update_setup.c */
/* The config (paper config or --config, with --set), whether its tasks
 * are registered (b->stand_in, or a skip in rep), and the agents of the
 * rows. *skipped = 1: the benchmark is skipped (rep says why). */
int bu_setup(bu_run *b, const bu_opts *o, const char *bench_arg, bu_report *rep, int *skipped,
             mtrl_err *e);
/* The envs and the replay buffer, filled by random-action iterations. */
int bu_fill_replay(bu_run *b, mtrl_err *e);
void bu_run_free(bu_run *b);

/* bench_update_time.c */
int bu_time_updates(bu_run *b, mtrl_err *e);
int bu_time_episodes(bu_run *b, mtrl_err *e);

/* bench_update_results.c: appends b's rows to rep (sorts their timings). */
void bu_results(bu_run *b, bu_report *rep);

/* bench_update_print.c */
void bu_print_bench_text(const bu_run *b, bu_report *rep, const bu_result *r0, int n);
void bu_print_json(const bu_report *rep, const bu_opts *o);
void bu_print_csv(const bu_report *rep);
void bu_print_targets(const bu_report *rep, const bu_opts *o);

#endif
