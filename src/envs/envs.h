/* envs: Meta-World v2 style Sawyer manipulation tasks on MuJoCo 2.2.2, the
 * task registry and benchmark lists (mt10, mt1:<task>), a single-env API for
 * evaluation and scripted checks, and the vectorized env the trainer steps
 * (one env per task, stepped by worker threads that take envs one at a time).
 * This is the only envs header other modules include. envs depends on core
 * only; it never includes nets, sac, mtl or replay.
 *
 * Episode ends, and what the trainer should do with them:
 *   - v2 tasks never terminate: there is no terminal state.
 *   - truncated: the episode reached max_episode_steps (a time limit; the
 *     next state is NOT terminal, bootstrap from it).
 *   - unstable: MuJoCo reported a bad simulation state (NaN/huge qacc, qpos,
 *     qvel, contact or constraint buffer full, or a MuJoCo error); the step
 *     returns the last stable observation, reward 0, success 0, and the
 *     episode is over. Such transitions are best not stored at all.
 * Observations are 39 floats (spec metaworld-mt10.md §3), actions 4 floats in
 * [-1, 1] (xyz mocap delta, gripper effort; larger values are clipped). */
#ifndef MTRL_ENVS_ENVS_H
#define MTRL_ENVS_ENVS_H

#include <stdint.h>

#include "core/cfg.h"
#include "core/err.h"
#include "core/rng.h"

#define ENV_OBS_DIM 39
#define ENV_ACT_DIM 4
#define ENV_NUM_GOALS 50 /* rand-vectors per task, as Meta-World's benchmarks */
#define ENV_DEFAULT_MAX_STEPS 500

/* ---- registry and benchmarks ---- */

typedef struct env_task_def env_task_def; /* defined in task.h (envs-internal) */

int env_task_count(void);
/* Name of registered task i (0 <= i < env_task_count()), e.g. "reach-v2". */
const char *env_task_name(int i);
/* Index of the task called name, or MTRL_EINPUT with a message listing the
 * closest registered names. */
int env_task_find(const char *name, int *index, mtrl_err *err);

int env_benchmark_count(void);
/* Name and one-line description of benchmark i ("mt10", ...). Parametrised
 * benchmarks are listed by their pattern ("mt1:<task>"). */
const char *env_benchmark_name(int i);
const char *env_benchmark_summary(int i);
/* Resolves a benchmark name ("mt10", "mt1:push-v2", a bare task name, which
 * means mt1 of it, or a comma-separated task list) to registry indices in
 * one-hot order. Writes at most max
 * indices; *n gets the count. MTRL_EINPUT on an unknown name. */
int env_benchmark_tasks(const char *name, int *idx, int max, int *n, mtrl_err *err);

/* ---- options ---- */

/* ENV_GOALS_FIXED ("fixed"): one of the task's 50 rand-vectors for the whole
 * run; ENV_GOALS_SAMPLED ("sampled"): one of the 50 drawn at every reset.
 * Values and words are the config's env.goals (CFG_GOALS_LIST, core/cfg.h). */
typedef enum env_goals_mode { CFG_GOALS_LIST(CFG_ENUM_ID, ENV_GOALS_) } env_goals_mode;

typedef struct env_opts {
    env_goals_mode goals;
    uint64_t goal_seed; /* seeds the 50 rand-vectors of each task (the "benchmark seed") */
    uint64_t seed;      /* seeds each env's own stream: fixed-goal pick, sampled draws */
    int max_episode_steps; /* > 0; default 500 */
    int threads;           /* vectorized env only: worker threads, 0 = number of cores */
    int auto_reset;        /* vectorized env only: reset ended episodes inside step (default 1) */
} env_opts;

void env_opts_default(env_opts *o);

/* The 50 rand-vectors of a task for a goal seed (what ENV_GOALS_* choose
 * from). dim gets the task's rand-vector dimension (<= ENV_RAND_MAX_DIM);
 * out must hold ENV_NUM_GOALS * 6 doubles, row k at out + 6 * k. */
#define ENV_RAND_MAX_DIM 6
int env_goal_set(int task, uint64_t goal_seed, double *out, int *dim, mtrl_err *err);

/* ---- per-step information ---- */

typedef struct env_info {
    double reward;
    int success;
    /* Meta-World's info fields, with its meanings per task (spec §9). */
    double near_object, grasp_success, grasp_reward, in_place_reward, obj_to_target;
} env_info;

/* ---- single env (evaluation, scripted checks, tests) ---- */

typedef struct env_sawyer env_sawyer; /* defined in task.h */

int env_create(env_sawyer **e, int task, const env_opts *opts, uint64_t env_index,
               mtrl_err *err);
void env_destroy(env_sawyer *e);
/* Errors of the env calls below name the task and what went wrong, e.g.
 * "task pick-place-v2, goal 3: simulation unstable at the hand reset
 * (mjWARN_BADQACC: ...)"; err may be NULL. */

/* Starts an episode with the goal the goals mode chooses; writes the first
 * observation. MTRL_ERUNTIME when the reset leaves an unstable state or a
 * non-finite observation (a broken model: the episode does not start). */
int env_reset(env_sawyer *e, float *obs, mtrl_err *err);
/* Starts an episode with goal k of the task's 50 (evaluation: one episode
 * per goal); MTRL_EINPUT when k is not in 0..49. */
int env_reset_goal(env_sawyer *e, int k, float *obs, mtrl_err *err);
/* One step. obs gets the next observation; *done is set when the episode
 * ended (truncated or unstable, see the flags). An unstable step is not an
 * error: it ends the episode. Returns 0, or MTRL_EINPUT if the episode
 * already ended and was not reset. */
typedef struct env_step_flags {
    int truncated, unstable, done;
} env_step_flags;
int env_step(env_sawyer *e, const float *action, float *obs, env_info *info,
             env_step_flags *flags, mtrl_err *err);
/* The task's scripted policy (spec Appendix D) on an observation. */
void env_scripted_action(const env_sawyer *e, const float *obs, float *action);
int env_task_index(const env_sawyer *e);
/* Episodes this env ended as unstable since creation. */
long env_unstable_count(const env_sawyer *e);

/* ---- vectorized env ---- */

typedef struct env_vec env_vec;

/* Per step, arrays of K = env_vec_size() entries, owned by the env_vec and
 * valid until the next step/reset call. */
typedef struct env_step_result {
    /* The observation after the action: the next state of the transition
     * (the true last observation when the episode ended). */
    const float *next_obs;      /* K x 39 */
    /* The observation the policy acts on next: next_obs where the episode
     * goes on, the first observation of the new episode where it ended and
     * auto_reset is on. The same array env_vec_obs() returns. */
    const float *obs;           /* K x 39 */
    const float *reward;        /* K */
    const uint8_t *success;     /* K: the step's success flag */
    const uint8_t *truncated;   /* K: time limit reached (not terminal) */
    const uint8_t *unstable;    /* K: simulation became unstable, episode ended */
    const uint8_t *done;        /* K: truncated || unstable */
    /* Episode statistics, valid where done: return, length, and whether the
     * success flag was 1 at any step. */
    const float *ep_return;
    const int *ep_length;
    const uint8_t *ep_success;
    const env_info *info;       /* K: the step's reward/success/info fields */
} env_step_result;

int env_vec_create(env_vec **v, const char *benchmark, const env_opts *opts, mtrl_err *err);
void env_vec_destroy(env_vec *v);
int env_vec_size(const env_vec *v);
int env_vec_threads(const env_vec *v);
/* Registry index of env k (its one-hot index is k). */
int env_vec_task(const env_vec *v, int k);
/* The calls below run on the workers; an error is that of the lowest env
 * index that failed, naming its slot and task (err may be NULL). */
/* Resets every env; obs gets K x 39 (may be NULL; env_vec_obs() has it too). */
int env_vec_reset_all(env_vec *v, float *obs, mtrl_err *err);
/* Steps every env with actions (K x 4). With auto_reset (the default) an env
 * whose episode ends is reset inside the step: out->next_obs has the true
 * last observation for the transition, out->obs the new first one to act
 * on. MTRL_EINPUT if some env has no running episode: before the first
 * env_vec_reset_all, or with auto_reset off until env_vec_reset_done. */
int env_vec_step(env_vec *v, const float *actions, env_step_result *out, mtrl_err *err);
/* Resets the envs whose episode ended (with auto_reset off), and also each
 * env k with also[k] != 0 whose episode is still running (also may be
 * NULL). Each env is reset at most once, from its own stream. */
int env_vec_reset_done(env_vec *v, const uint8_t *also, mtrl_err *err);
const float *env_vec_obs(const env_vec *v);
/* Unstable episodes per env since creation (K entries). */
const long *env_vec_unstable_counts(const env_vec *v);
/* The single env behind slot k (e.g. for env_scripted_action). */
env_sawyer *env_vec_env(env_vec *v, int k);
/* Each env's random stream (it draws the goal at every reset in sampled
 * mode): save them in a checkpoint, restore them on resume. K entries. */
void env_vec_get_rng(const env_vec *v, rng_state *out);
void env_vec_set_rng(env_vec *v, const rng_state *in);

/* ---- rendering (the render module draws an env's current state) ---- */

struct mjModel_;
struct mjData_;
/* The MuJoCo model and data behind e (the env's private model copy where the
 * task edits it). Read only: writing them would change the episode. */
const struct mjModel_ *env_model(const env_sawyer *e);
struct mjData_ *env_data(const env_sawyer *e);

/* ---- benchmarking ---- */

/* Scene file of task i ("sawyer_obj.xml"). */
const char *env_task_scene(int i);
/* Runs n bare mj_step calls on e's current state (holding its controls) and
 * writes the mean seconds per call. The episode goes on from there;
 * MTRL_ERUNTIME (the episode ended) when the simulation became unstable. */
int env_time_physics(env_sawyer *e, int n, double *sec_per_step, mtrl_err *err);

#endif
