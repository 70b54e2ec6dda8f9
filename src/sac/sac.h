/* sac: the multi-task Soft Actor-Critic agent (spec mtrl-cagrad.md §3-4).
 * A tanh-Gaussian actor, twin critics with Polyak-averaged targets, and an
 * entropy temperature (one per task or shared). Each update forms per-task
 * losses (means over each task's rows of a task-grouped batch), gets their
 * per-task gradients as the rows of a K x P matrix at the cost of one
 * backward pass (nets), lets the configured multi-task optimizer (mtl) turn
 * them into one update vector, and applies it with Adam.
 * Depends on nets, mtl, replay (the batch type) and core; never on envs:
 * observations and actions come in as plain float matrices. */
#ifndef MTRL_SAC_SAC_H
#define MTRL_SAC_SAC_H

#include <stdint.h>

#include "core/cfg.h"
#include "core/err.h"
#include "core/h5io.h"
#include "core/rng.h"
#include "replay/replay.h"

typedef struct sac_agent sac_agent; /* opaque */

/* What one update did: losses are means over tasks of the per-task means. */
typedef struct sac_update_stats {
    double critic_loss, actor_loss, alpha_loss;
    double alpha;       /* mean temperature over tasks */
    double entropy;     /* mean of -log pi over the batch */
    double q_mean;      /* mean Q1 on the batch */
    double batch_reward;/* mean (normalized) reward of the batch */
    int actor_updated;  /* 0 when actor_update_freq skipped the actor */
    int skipped;        /* components whose update was skipped as non-finite */
    int fast_rows;      /* components combined from CAGrad-Fast's |S|+1 rows
                         * (sac_set_fast_rows) instead of all per-task rows */
    /* Time split (seconds): forward + backward passes (with the per-task
     * weight-gradient products, and the Gram when it is formed there, see
     * sac_set_backward_gram), the combiners' Gram + solve, the combiners'
     * final product + Adam + Polyak. */
    double t_fwd_bwd, t_gram_solve, t_combine_adam_polyak;
} sac_update_stats;

/* n_tasks K, obs_dim and act_dim from the env; everything else from cfg
 * (agent.*, mtl.*). Networks are initialised from (run.seed, RNG_STREAM_INIT),
 * the policy noise from (run.seed, RNG_STREAM_AGENT). */
int sac_create(sac_agent **out, const mtrl_config *cfg, int n_tasks, int obs_dim, int act_dim,
               mtrl_err *e);
void sac_destroy(sac_agent *a);

/* Actions for n rows of observations (n x obs_dim), row i belonging to task
 * task[i]. deterministic: tanh(mean) (evaluation); else a policy sample.
 * actions: n x act_dim. n <= batch size. */
int sac_act(sac_agent *a, int n, const float *obs, const int32_t *task, int deterministic,
            float *actions, mtrl_err *e);

/* One SAC update on a task-grouped batch (rb_sample's layout: task k is rows
 * [offsets[k], offsets[k+1])). Returns 0 also when a component was skipped
 * because its loss or gradient was not finite (stats->skipped says which). */
int sac_update(sac_agent *a, const rb_batch *batch, sac_update_stats *stats, mtrl_err *e);

int64_t sac_num_updates(const sac_agent *a);
/* Total non-finite skips since creation (saved in checkpoints). */
int64_t sac_num_skipped(const sac_agent *a);
long sac_num_params(const sac_agent *a, int critic);
/* Current temperature of task k. */
double sac_alpha(const sac_agent *a, int k);
/* The agent's rng (policy noise), e.g. for random warm-up actions. */
rng_state *sac_rng(sac_agent *a);

/* CAGrad-Fast's route (mtl.method cagrad_fast). on = 1 (the default): each
 * combined component draws its subset S before its passes and forms only
 * the |S| sampled tasks' gradients and the remainder row, in one backward
 * pass per network over a batch reordered for it (mtl_fast_draw,
 * mtl_combine_fast_gram). on = 0: all per-task rows are formed and the combiner
 * draws S itself, as every other method. Both make the same draws, so an
 * agent gives the same updates either way up to float rounding (the second
 * route is there to check the first, and to time it). No effect for other
 * methods. (One difference: a component skipped for a non-finite loss has
 * already drawn its S on the first route, never on the second, so after
 * such a skip the two follow different draws; each stays deterministic.) */
void sac_set_fast_rows(sac_agent *a, int on);

/* Where the Gram-based combiners (PCGrad, CAGrad, CAGrad-Fast, MGDA,
 * Aligned-MTL, IMTL-G, UPGrad, DualProj, ConFIG) get the K x K Gram of the
 * per-task gradient rows. on = 1 (the default): formed inside the backward
 * pass, layer by layer while each layer's rows are still in cache
 * (nn_bwd.gram), and handed to the combiner (mtl_input.gram); for all but
 * CAGrad-Fast, with few rows per task (sac_drops_rows), the rows are then
 * not even kept: they feed the Gram in scratch, and d = sum_k w_k g_k comes
 * from one weighted pass over the batch (nn_mlp_grad_weighted). on = 0: all
 * rows are kept in G and the combiner forms the Gram afterwards with one
 * ssyrk over G and d with one sgemv. The same updates up to float rounding (the second route is there
 * to check the first and to time it). */
void sac_set_backward_gram(sac_agent *a, int on);
/* Whether an update on `rows` batch rows in `groups` task groups leaves the
 * rows out (see sac_set_backward_gram): only where that is cheaper, with
 * few rows per group (MT50's 26: yes; MT10's 128: no). */
int sac_drops_rows(int groups, int rows);

/* For tests: the update vector the last sac_update handed to Adam for
 * component 0 (the actor), 1 (the twin critic: Q1's parameters, then Q2's)
 * or 2 (the log temperatures), after combining and clipping. With
 * mtl.method mean and no clipping it is the gradient of the mean, over the
 * tasks present in the batch, of their per-task mean losses. *n: its
 * length. */
const float *sac_update_vector(const sac_agent *a, int component, long *n);

/* Everything needed to continue exactly: parameters, targets, Adam moments
 * and steps, temperatures, combiner states, rng, counters. load checks the
 * sizes against the agent and names any mismatch. */
int sac_save(const sac_agent *a, h5_file *f, const char *group, mtrl_err *e);
int sac_load(sac_agent *a, h5_file *f, const char *group, mtrl_err *e);

#endif
