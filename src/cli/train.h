/* train: the training loop of `mtrl run` (spec mtrl-cagrad.md §2.1) and the
 * evaluation shared with `mtrl eval`. It ties envs, replay and sac together,
 * so it lives in cli, the only module allowed to see all three. */
#ifndef MTRL_CLI_TRAIN_H
#define MTRL_CLI_TRAIN_H

#include <signal.h>
#include <stdio.h>
#include <stdint.h>

#include "core/cfg.h"
#include "core/err.h"
#include "envs/envs.h"
#include "sac/sac.h"

#define TRAIN_MAX_TASKS 64

/* Result of one evaluation: per task and the mean over tasks. */
typedef struct eval_result {
    int K;
    int episodes; /* per task */
    int deterministic;
    char task[TRAIN_MAX_TASKS][48];
    double success[TRAIN_MAX_TASKS];       /* fraction of episodes with success at any step */
    double ret[TRAIN_MAX_TASKS];           /* mean episode return */
    double steps_to_success[TRAIN_MAX_TASKS]; /* mean over successful episodes; NAN if none */
    double mean_success, mean_return;
} eval_result;

/* Watches an evaluation as it runs (evaluation videos), on the evaluating
 * thread. The training code knows nothing of rendering: cmd_run/cmd_eval
 * pass one in only when videos were asked for. */
typedef struct eval_observer {
    void *ctx;
    /* Before the first episode: iter is the training iteration (-1 for
     * mtrl eval), envs[k] the env of task slot k. */
    int (*begin)(void *ctx, int64_t iter, int K, env_sawyer *const *envs, mtrl_err *e);
    /* After each reset (step 0, info NULL) and each step of an env whose
     * episode is still running. */
    int (*step)(void *ctx, int k, int episode, int step, const env_info *info, mtrl_err *e);
    /* After the evaluation; ok = 0 when it failed (drop what was begun). */
    int (*end)(void *ctx, int ok, mtrl_err *e);
} eval_observer;

/* Runs `episodes` deterministic (or stochastic, eval.deterministic = false)
 * episodes per task of cfg->env.benchmark with the agent (the trainer
 * passes cfg->eval.episodes, mtrl eval its --episodes). With one
 * episode per task the goal is the one training uses (fixed goals, as the
 * reference); with more, episode i uses goal i % 50 of the task's goal set
 * (Meta-World v3's protocol). An env stops at its first success. watch
 * (NULL: none) sees every reset and step; iter is the training iteration
 * it is told (-1 for mtrl eval). */
int train_evaluate_observed(sac_agent *agent, const mtrl_config *cfg, int episodes,
                            const eval_observer *obs, int64_t iter, eval_result *out, mtrl_err *e);

typedef struct train_opts {
    const char *run_dir;  /* where logs and checkpoints go (must exist) */
    int resume;           /* 1: continue from run_dir/checkpoint.h5 */
    int quiet;            /* no progress line or per-eval lines */
    volatile sig_atomic_t *stop; /* set by a signal: checkpoint and return */
    eval_result *last_eval;      /* if not NULL: the latest evaluation (K = 0: none) */
    double *best_success;        /* if not NULL: the best mean eval success so far */
    /* if not NULL: watches the evaluations due by eval.video_every */
    const eval_observer *eval_video;
    /* If not NULL: called once the run is set up (with --resume: the config
     * checked against the checkpoint and the state loaded) and before the
     * first iteration, with the iteration it starts from and the best eval
     * success so far (-1: none). An error ends the run. */
    int (*on_start)(void *ctx, int64_t iteration, double best_success, mtrl_err *e);
    /* If not NULL: called after every checkpoint written. */
    int (*on_checkpoint)(void *ctx, int64_t iteration, double best_success, mtrl_err *e);
    void *ctx;
} train_opts;

/* Trains until cfg->run.iterations or *opts->stop. Writes train.csv,
 * eval.csv, metrics.jsonl and checkpoint.h5 into the run directory.
 * Evaluations come at iteration 0, at the end, and at the first episode
 * boundary at or past each multiple of eval.every; checkpoints likewise for
 * their interval. The schedule depends on the iteration alone, so a stopped
 * and resumed run evaluates where the uninterrupted one does. */
int train_run(const mtrl_config *cfg, const train_opts *opts, mtrl_err *e);

/* The env options a config asks for (goals, seeds, episode cap, threads). */
void train_env_opts(const mtrl_config *cfg, env_opts *o);

/* The learner's threads, from run.threads (0: the number of cores), the same
 * count as the env workers: the networks split their products over that
 * many threads of their own (nn_set_threads) and OpenBLAS runs on one, so
 * the env workers, the networks' workers and no spinning OpenBLAS threads
 * take turns on the cores. Returns the count. */
int train_set_threads(const mtrl_config *cfg);

/* Prints r as a table: per task success, return, steps to success. */
void train_print_eval(FILE *f, const eval_result *r);

/* Loads the agent of a checkpoint file together with the config it was
 * trained with (stored inside the checkpoint). */
int train_load_agent(const char *checkpoint, mtrl_config *cfg, sac_agent **agent, mtrl_err *e);

#endif
