/* replay: per-task replay buffers for multi-task off-policy RL.
 * Each task has its own ring (capacity_total / K transitions) holding obs,
 * action, RAW reward, next obs and a terminal flag (false on time-limit
 * truncation, so the critic still bootstraps there). Per-task reward moments
 * (Welford count/mean/M2 in double) are kept over every reward ever added,
 * including those the ring has since overwritten, so the normalization scale
 * does not jump when old data is evicted (Kurin et al., spec §6.4).
 * Sampling writes into caller-owned batch arrays (no allocation per call),
 * grouped by task with offsets, so per-task losses and gradients can be
 * formed group by group. Depends on core (cfg, err, rng, h5io) only: never on
 * nets, sac or envs. */
#ifndef MTRL_REPLAY_REPLAY_H
#define MTRL_REPLAY_REPLAY_H

#include <stdint.h>

#include "core/cfg.h"
#include "core/err.h"
#include "core/h5io.h"
#include "core/rng.h"

typedef struct rb_buffer rb_buffer; /* opaque */

/* How a batch is spread over tasks; values and words are the config's
 * replay.sampling (CFG_SAMPLING_LIST, core/cfg.h).
 * RB_SAMPLE_BALANCED ("balanced"): batch/K rows per task (batch must be
 *   divisible by K); rows [k*b, (k+1)*b) are task k. The default: no n_k
 *   noise between tasks.
 * RB_SAMPLE_UNIFORM ("uniform"): the reference (mtrl): uniform with
 *   replacement over all stored transitions of all tasks; rows are then
 *   grouped by task, so group sizes vary and a task may get 0 rows. */
typedef enum rb_sampling { CFG_SAMPLING_LIST(CFG_ENUM_ID, RB_SAMPLE_) } rb_sampling;

/* What happens to rewards at sampling time. */
typedef enum rb_reward_norm {
    RB_NORM_NONE = 0, /* the stored reward as is */
    /* stored reward / max(std_k, RB_REWARD_STD_EPS), std_k the population
     * standard deviation of every reward ever added to task k (1 while
     * fewer than 2 rewards were seen). No mean subtraction (as Kurin). */
    RB_NORM_STD = 1,
} rb_reward_norm;

/* What the config's replay section asks of sampling, in one place:
 * replay.sampling as is; replay.reward_norm std -> RB_NORM_STD, ema and none
 * -> RB_NORM_NONE (ema normalizes as rewards are stored); ema_rate:
 * replay.reward_ema_rate for rb_enable_reward_ema with ema, else 0 (off). */
typedef struct rb_modes {
    rb_sampling sampling;
    rb_reward_norm norm;
    double ema_rate;
} rb_modes;
rb_modes rb_modes_from_config(const mtrl_config *c);

/* Floor on the std divisor. Kurin et al. use sqrt(var + 1e-8), whose floor is
 * 1e-4; max(std, 1e-4) agrees with it to a relative 1e-8/var for any task
 * with real reward variation (Meta-World v2 rewards lie in [0, 10]) and only
 * guards the degenerate all-equal-rewards case against division by zero. */
#define RB_REWARD_STD_EPS 1e-4

/* Creates K per-task rings of floor(capacity_total / K) transitions each
 * (must be >= 1). Arrays are allocated once here, one block per field. */
int rb_create(rb_buffer **out, int n_tasks, int obs_dim, int act_dim,
              int64_t capacity_total, mtrl_err *err);
void rb_destroy(rb_buffer *rb); /* NULL is a no-op */

/* mtenv's env-side normalization (spec §6.3), for reproducing the reference:
 * per task m <- (1-a) m + a r; v <- (1-a) v + a (r-m)^2; the buffer then
 * STORES r / (sqrt(v) + 1e-8) instead of r (m=0, v=1 initially). Must be
 * called before the first add; rate in (0, 1]. Sampling must then use
 * RB_NORM_NONE (rb_sample rejects RB_NORM_STD on such a buffer). The raw
 * reward moments below are kept either way. */
int rb_enable_reward_ema(rb_buffer *rb, double rate, mtrl_err *err);

/* Adds one transition to task's ring (overwriting the oldest when full).
 * terminal: nonzero only for a true terminal state, never for a time limit.
 * Rejects a bad task index or a non-finite value (nothing is written then):
 * one NaN reward would poison the never-forgetting moments for good. */
int rb_add(rb_buffer *rb, int task, const float *obs, const float *act, float reward,
           const float *next_obs, int terminal, mtrl_err *err);

/* Adds one transition for every task k = 0..K-1, row k of each argument:
 * obs, next_obs K x obs_dim; act K x act_dim; reward, terminal K. All rows
 * are checked before any is written. */
int rb_add_batch(rb_buffer *rb, const float *obs, const float *act, const float *reward,
                 const float *next_obs, const uint8_t *terminal, mtrl_err *err);

/* A sampled batch; arrays hold `capacity` rows. Make one with
 * rb_batch_create at start-up and reuse it for every rb_sample. */
typedef struct rb_batch {
    int capacity;      /* rows the arrays can hold */
    int n_tasks, obs_dim, act_dim;
    int rows;          /* rows written by the last rb_sample */
    float *obs;        /* rows x obs_dim */
    float *act;        /* rows x act_dim */
    float *reward;     /* rows (normalized as requested) */
    float *next_obs;   /* rows x obs_dim */
    float *terminal;   /* rows: 1.0f terminal, 0.0f otherwise */
    int32_t *task;     /* rows: task index of each row */
    int *offsets;      /* n_tasks + 1: task k is rows [offsets[k], offsets[k+1]) */
    int64_t *src;      /* rows: storage index (task * capacity_per_task + ring slot) */
} rb_batch;

int rb_batch_create(rb_batch **out, int n_tasks, int obs_dim, int act_dim, int capacity,
                    mtrl_err *err);
void rb_batch_destroy(rb_batch *b); /* NULL is a no-op */

/* Draws batch_size rows with replacement, using only rng (so the same rng
 * state gives the same batch). Balanced needs batch_size % K == 0 and every
 * task non-empty; uniform needs at least one stored transition. Errors are
 * MTRL_EINPUT and leave *out's rows unspecified. */
int rb_sample(const rb_buffer *rb, rb_sampling sampling, rb_reward_norm norm, int batch_size,
              rng_state *rng, rb_batch *out, mtrl_err *err);

/* Per-task reward statistics of every raw reward ever added. */
typedef struct rb_reward_stats {
    int64_t count;
    double mean;
    double var;   /* population variance (M2 / count); 0 if count < 2 */
    double std;   /* sqrt(var) */
    double max;   /* largest raw reward (Kurin's target clipping); -inf if none */
    double scale; /* the divisor RB_NORM_STD uses right now */
} rb_reward_stats;

void rb_get_reward_stats(const rb_buffer *rb, int task, rb_reward_stats *out);

int64_t rb_capacity_per_task(const rb_buffer *rb);
int64_t rb_size(const rb_buffer *rb, int task); /* transitions stored now */
int64_t rb_total_size(const rb_buffer *rb);
int64_t rb_added(const rb_buffer *rb, int task); /* transitions ever added */

/* Copies the i-th oldest stored transition of task (0 <= i < rb_size); any
 * output pointer may be NULL. The stored reward is returned (raw unless the
 * EMA mode is on). */
int rb_get(const rb_buffer *rb, int task, int64_t i, float *obs, float *act, float *reward,
           float *next_obs, uint8_t *terminal, mtrl_err *err);

/* Checkpointing into an open HDF5 file under group (e.g. "replay"): the
 * filled part of every ring, the write positions, the reward moments and the
 * EMA state, so that after rb_load a run samples exactly what the
 * uninterrupted run would (given the same rng state). rb_load fills a buffer
 * created with the same K, dims and capacity (a mismatch is MTRL_EINPUT
 * naming both values) and replaces its whole content; if loading fails the
 * buffer is left empty (never half old, half new). */
int rb_save(const rb_buffer *rb, h5_file *f, const char *group, mtrl_err *err);
int rb_load(rb_buffer *rb, h5_file *f, const char *group, mtrl_err *err);

#endif
