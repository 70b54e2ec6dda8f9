/* Shared by the envs task tests: runs a task's scripted policy over the 50
 * goals of a goal seed (one episode per goal, up to 500 steps, stopped at the
 * first success, as Meta-World's scripted-policy test), optionally with
 * Gaussian action noise, and checks on every step that the observation is
 * finite, keeps its layout (frame stacking, zero padding unless the task
 * observes a second object, goal) and that the reward lies in [0, 10]; and
 * checks that a vectorized scripted run is the same on any thread count.
 * Include after testutil.h. */
#ifndef MTRL_TESTS_ENVS_SCRIPTED_H
#define MTRL_TESTS_ENVS_SCRIPTED_H

#include <math.h>

#include "core/rng.h"
#include "envs/envs.h"
#include "envs/task.h"

typedef struct scripted_stats {
    int episodes, successes;
    double mean_steps_to_success;
    double min_reward, max_reward;
} scripted_stats;

/* noise_std: std of the Gaussian added to each action component (Meta-World's
 * "10 % noise" is 0.1 x the action range width 2 = 0.2). */
static inline scripted_stats run_scripted(const char *task, uint64_t goal_seed, double noise_std,
                                          uint64_t noise_seed)
{
    scripted_stats s = {0, 0, 0, INFINITY, -INFINITY};
    int t;
    mtrl_err err = {0};
    if (env_task_find(task, &t, &err))
        fail_msg("%s", err.msg);
    env_opts o;
    env_opts_default(&o);
    o.goal_seed = goal_seed;
    env_sawyer *e;
    if (env_create(&e, t, &o, 0, &err))
        fail_msg("%s", err.msg);
    rng_state r;
    rng_seed(&r, noise_seed, 0);
    long steps = 0;
    for (int k = 0; k < ENV_NUM_GOALS; k++) {
        float obs[ENV_OBS_DIM], prev[ENV_OBS_DIM], goal[3], a[ENV_ACT_DIM];
        assert_int_equal(env_reset_goal(e, k, obs, NULL), 0);
        memcpy(goal, obs + 36, sizeof goal);
        s.episodes++;
        for (int step = 1; step <= 500; step++) {
            env_scripted_action(e, obs, a);
            for (int i = 0; i < ENV_ACT_DIM && noise_std > 0; i++)
                a[i] += (float)(noise_std * rng_normal(&r));
            memcpy(prev, obs, sizeof obs);
            env_info inf;
            env_step_flags fl;
            assert_int_equal(env_step(e, a, obs, &inf, &fl, NULL), 0);
            assert_int_equal(fl.unstable, 0);
            for (int i = 0; i < ENV_OBS_DIM; i++)
                if (!isfinite(obs[i]))
                    fail_msg("%s goal %d step %d: obs[%d] = %g", task, k, step, i, obs[i]);
            for (int i = 11; i < 18 && !env_task_get(t)->object2_obs; i++)
                assert_true(obs[i] == 0.0f);
            assert_memory_equal(obs + 18, prev, 18 * sizeof(float));
            assert_memory_equal(obs + 36, goal, sizeof goal);
            if (!(inf.reward >= 0 && inf.reward <= 10))
                fail_msg("%s goal %d step %d: reward %g outside [0, 10]", task, k, step, inf.reward);
            s.min_reward = fmin(s.min_reward, inf.reward);
            s.max_reward = fmax(s.max_reward, inf.reward);
            if (inf.success) {
                s.successes++;
                steps += step;
                break;
            }
        }
    }
    s.mean_steps_to_success = s.successes ? (double)steps / s.successes : 0;
    env_destroy(e);
    return s;
}

/* One step of the task's scripted policy from obs, which gets the next
 * observation, with Gaussian noise of std noise_std drawn from r added to
 * each action component (none when r is NULL); the step must not be
 * unstable. ad (unless NULL) gets the action stepped, as the reward saw it
 * (raw, not clipped). Returns the step's info. */
static inline env_info scripted_step_noisy(env_sawyer *e, float *obs, double noise_std,
                                           rng_state *r, double *ad)
{
    float a[ENV_ACT_DIM];
    env_scripted_action(e, obs, a);
    for (int i = 0; i < ENV_ACT_DIM && r; i++)
        a[i] += (float)(noise_std * rng_normal(r));
    env_info inf;
    env_step_flags fl;
    assert_int_equal(env_step(e, a, obs, &inf, &fl, NULL), 0);
    assert_int_equal(fl.unstable, 0);
    for (int i = 0; i < ENV_ACT_DIM && ad; i++)
        ad[i] = a[i];
    return inf;
}

static inline env_info scripted_step(env_sawyer *e, float *obs)
{
    return scripted_step_noisy(e, obs, 0, NULL, NULL);
}

/* An episode on goal k of the scripted policy, stopped at its first success
 * or after max_steps; 1 if it succeeded. */
static inline int scripted_until_success(env_sawyer *e, int k, int max_steps)
{
    float obs[ENV_OBS_DIM];
    assert_int_equal(env_reset_goal(e, k, obs, NULL), 0);
    for (int s = 0; s < max_steps; s++)
        if (scripted_step(e, obs).success)
            return 1;
    return 0;
}

/* Asserts successes >= ceil(target x episodes), printing the figures. */
static inline void assert_success_rate(const char *task, const scripted_stats *s, double target)
{
    int need = (int)ceil(target * s->episodes - 1e-9);
    printf("    %-26s %2d/%d successes (target %.2f), mean steps to success %.1f\n", task,
           s->successes, s->episodes, target, s->mean_steps_to_success);
    if (s->successes < need)
        fail_msg("%s: %d/%d successes, target %.2f needs %d", task, s->successes, s->episodes,
                 target, need);
}

/* The task's scripted policy reaches target on the 50 goals of goal seed 1,
 * without noise. */
static inline void assert_scripted(const char *task, double target)
{
    scripted_stats s = run_scripted(task, 1, 0, 0);
    assert_success_rate(task, &s, target);
}

/* The same under Meta-World's 10 % action noise (std 0.2 = 10 % of the
 * action range), on the goals of goal seed 2 with noise seed 5. */
static inline void assert_scripted_noisy(const char *task, double target)
{
    char name[80];
    snprintf(name, sizeof name, "%s (10%% noise)", task);
    scripted_stats s = run_scripted(task, 2, 0.2, 5);
    assert_success_rate(name, &s, target);
}

/* Steps the n tasks of the comma-separated list with their scripted policies
 * in one vectorized env on `threads` threads (goals sampled per episode,
 * episodes of max_episode_steps so that several auto-resets fall inside the
 * run), checking every step for instability, and writes each step's next
 * observations and rewards to out (nsteps x n x (ENV_OBS_DIM + 1) floats). */
static inline void run_scripted_vec(const char *tasks, int n, int threads, int max_episode_steps,
                                    int nsteps, float *out)
{
    env_opts o;
    env_opts_default(&o);
    o.goals = ENV_GOALS_SAMPLED;
    o.threads = threads;
    o.max_episode_steps = max_episode_steps;
    env_vec *v;
    mtrl_err err = {0};
    if (env_vec_create(&v, tasks, &o, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(env_vec_size(v), n);
    assert_int_equal(env_vec_reset_all(v, NULL, NULL), 0);
    float *act = malloc(sizeof(float) * (size_t)n * ENV_ACT_DIM);
    assert_non_null(act);
    size_t row = (size_t)n * (ENV_OBS_DIM + 1);
    for (int s = 0; s < nsteps; s++) {
        const float *obs = env_vec_obs(v);
        for (int k = 0; k < n; k++)
            env_scripted_action(env_vec_env(v, k), obs + k * ENV_OBS_DIM, act + k * ENV_ACT_DIM);
        env_step_result r;
        assert_int_equal(env_vec_step(v, act, &r, NULL), 0);
        for (int k = 0; k < n; k++)
            assert_int_equal(r.unstable[k], 0);
        memcpy(out + s * row, r.next_obs, sizeof(float) * n * ENV_OBS_DIM);
        memcpy(out + s * row + (size_t)n * ENV_OBS_DIM, r.reward, sizeof(float) * n);
    }
    free(act);
    env_vec_destroy(v);
}

/* The run above on one thread and on `threads` threads gives the same
 * observations and rewards bit for bit. */
static inline void assert_threads_identical(const char *tasks, int n, int max_episode_steps,
                                            int nsteps, int threads)
{
    size_t len = (size_t)nsteps * n * (ENV_OBS_DIM + 1);
    float *a = malloc(len * sizeof(float)), *b = malloc(len * sizeof(float));
    assert_non_null(a);
    assert_non_null(b);
    run_scripted_vec(tasks, n, 1, max_episode_steps, nsteps, a);
    run_scripted_vec(tasks, n, threads, max_episode_steps, nsteps, b);
    assert_memory_equal(a, b, len * sizeof(float));
    free(a);
    free(b);
}

/* Defines the test case test_threads_identical of a task test file: the
 * check above on its task list (the same arguments). */
#define ENVS_TEST_THREADS_IDENTICAL(tasks, n, max_episode_steps, nsteps, threads)              \
    static void test_threads_identical(void **st)                                              \
    {                                                                                          \
        (void)st;                                                                              \
        assert_threads_identical(tasks, n, max_episode_steps, nsteps, threads);                \
    }

#endif
