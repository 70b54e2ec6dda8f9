/* Env failures reach the caller as messages that name the task (and, in the
 * vectorized env, the slot) and what went wrong: a reset that leaves a
 * non-finite observation, a MuJoCo error in the reset after an episode
 * ended, a step without a running episode; and why an unstable step ended
 * its episode. Also the vectorized env's reset of running envs. */
#include "testutil.h"

#include <math.h>

#include "envs/envs.h"
#include "envs/task.h"

extern const env_task_def env_task_reach_v2;

static void assert_has(const char *msg, const char *part)
{
    if (!strstr(msg, part))
        fail_msg("'%s' does not contain '%s'", msg, part);
}

/* reach-v2 whose reset leaves the puck at a NaN position: a broken task
 * definition or model, as a wrong edit of the scene would make. */
static void reset_to_nan(env_sawyer *e)
{
    env_task_reach_v2.reset(e);
    e->d->qpos[9] = NAN;
    env_forward(e);
}

static void test_reset_with_nonfinite_observation(void **st)
{
    (void)st;
    env_task_def def = env_task_reach_v2;
    def.name = "reach-v2-broken";
    def.reset = reset_to_nan;
    env_sawyer *e = NULL;
    mtrl_err err = {0};
    if (env_create_def(&e, &def, -1, NULL, 0, &err))
        fail_msg("%s", err.msg);
    float obs[ENV_OBS_DIM], a[ENV_ACT_DIM] = {0};
    assert_int_equal(env_reset_goal(e, 4, obs, &err), MTRL_ERUNTIME);
    assert_has(err.msg, "task reach-v2-broken, goal 4");
    assert_has(err.msg, "first observation is not finite (obs[4] = nan)");
    /* The failed reset started no episode. */
    env_info inf;
    env_step_flags fl;
    assert_int_equal(env_step(e, a, obs, &inf, &fl, &err), MTRL_EINPUT);
    assert_has(err.msg, "task reach-v2-broken: step after its episode ended");
    assert_int_equal(env_reset_goal(e, 50, obs, &err), MTRL_EINPUT);
    assert_has(err.msg, "goal index 50 is not in 0..49");
    env_destroy(e);
}

static void test_unstable_step_says_why(void **st)
{
    (void)st;
    env_sawyer *e = NULL;
    int t;
    assert_int_equal(env_task_find("pick-place-v2", &t, NULL), 0);
    assert_int_equal(env_create(&e, t, NULL, 0, NULL), 0);
    float obs[ENV_OBS_DIM], a[ENV_ACT_DIM] = {0.2f, 0, 0, 1};
    env_info inf;
    env_step_flags fl;
    mtrl_err err = {0};
    assert_int_equal(env_reset(e, obs, &err), 0);
    assert_int_equal(env_step(e, a, obs, &inf, &fl, &err), 0);
    e->d->qpos[10] = NAN; /* the object's position goes bad */
    assert_int_equal(env_step(e, a, obs, &inf, &fl, &err), 0);
    assert_int_equal(fl.unstable, 1);
    assert_has(e->unstable_why, "simulation unstable at step 2 (mjWARN_BADQPOS");
    assert_int_equal(env_step(e, a, obs, &inf, &fl, &err), MTRL_EINPUT);
    assert_has(err.msg, "task pick-place-v2: step after its episode ended (at step 2)");
    /* Timing the physics needs a running episode too. */
    double sec;
    assert_int_equal(env_time_physics(e, 10, &sec, &err), MTRL_EINPUT);
    assert_has(err.msg, "task pick-place-v2: no running episode");
    env_destroy(e);
}

/* A MuJoCo error in the automatic reset after an unstable step, inside a
 * worker thread: env_vec_step fails and says which env, which task and what
 * MuJoCo said. (The stack of the env's mjData is made to look tiny: every
 * mj_step then runs out of it, the state mj_resetData cannot repair.) */
static void test_vec_reset_failure_names_task(void **st)
{
    (void)st;
    env_opts o;
    env_opts_default(&o);
    o.threads = 2;
    env_vec *v;
    mtrl_err err = {0};
    if (env_vec_create(&v, "reach-v2,pick-place-v2,push-v2", &o, &err))
        fail_msg("%s", err.msg);
    float a[3 * ENV_ACT_DIM] = {0};
    env_step_result res;
    assert_int_equal(env_vec_step(v, a, &res, &err), MTRL_EINPUT);
    assert_has(err.msg, "env 0 (task reach-v2) has no running episode");
    assert_int_equal(env_vec_reset_all(v, NULL, &err), 0);
    assert_int_equal(env_vec_step(v, a, &res, &err), 0);
    env_sawyer *e = env_vec_env(v, 1);
    int nstack = e->d->nstack;
    e->d->nstack = 16;
    assert_int_equal(env_vec_step(v, a, &res, &err), MTRL_ERUNTIME);
    assert_has(err.msg, "env 1: resetting after its episode ended: task pick-place-v2, goal");
    assert_has(err.msg, "simulation unstable at the hand reset (MuJoCo error: ");
    assert_has(err.msg, "Stack overflow)");
    assert_int_equal(res.unstable[1], 1);
    assert_int_equal(res.unstable[0] + res.unstable[2], 0);
    e->d->nstack = nstack;
    env_vec_destroy(v);
}

/* env_vec_reset_done with `also`: running envs restart from their own
 * stream, on the workers, exactly as a reset of the single env would. */
static void test_vec_reset_running(void **st)
{
    (void)st;
    env_opts o;
    env_opts_default(&o);
    o.threads = 2;
    o.auto_reset = 0;
    o.goals = ENV_GOALS_SAMPLED;
    o.max_episode_steps = 5;
    o.seed = 5;
    env_vec *v;
    assert_int_equal(env_vec_create(&v, "reach-v2,push-v2,pick-place-v2", &o, NULL), 0);
    /* Twins: the same task, seed and env index, reset by hand. */
    env_sawyer *twin[3];
    for (int k = 0; k < 3; k++)
        assert_int_equal(env_create(&twin[k], env_vec_task(v, k), &o, (uint64_t)k, NULL), 0);
    float a[3 * ENV_ACT_DIM] = {0}, obs[3 * ENV_OBS_DIM];
    env_step_result res;
    assert_int_equal(env_vec_reset_all(v, NULL, NULL), 0);
    for (int k = 0; k < 3; k++)
        assert_int_equal(env_reset(twin[k], obs + k * ENV_OBS_DIM, NULL), 0);
    for (int s = 0; s < 3; s++)
        assert_int_equal(env_vec_step(v, a, &res, NULL), 0);
    uint8_t also[3] = {0, 1, 1};
    assert_int_equal(env_vec_reset_done(v, also, NULL), 0);
    for (int k = 1; k < 3; k++)
        assert_int_equal(env_reset(twin[k], obs + k * ENV_OBS_DIM, NULL), 0);
    assert_memory_equal(env_vec_obs(v) + ENV_OBS_DIM, obs + ENV_OBS_DIM,
                        2 * ENV_OBS_DIM * sizeof(float));
    /* Env 0 went on (its episode ends at step 5), 1 and 2 restarted. */
    for (int s = 0; s < 2; s++)
        assert_int_equal(env_vec_step(v, a, &res, NULL), 0);
    assert_int_equal(res.done[0], 1);
    assert_int_equal(res.done[1] + res.done[2], 0);
    /* Ended envs only, also NULL: env 0 restarts with its next draw. */
    assert_int_equal(env_vec_reset_done(v, NULL, NULL), 0);
    assert_int_equal(env_reset(twin[0], obs, NULL), 0);
    assert_memory_equal(env_vec_obs(v), obs, ENV_OBS_DIM * sizeof(float));
    for (int k = 0; k < 3; k++)
        env_destroy(twin[k]);
    env_vec_destroy(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reset_with_nonfinite_observation),
        cmocka_unit_test(test_unstable_step_says_why),
        cmocka_unit_test(test_vec_reset_failure_names_task),
        cmocka_unit_test(test_vec_reset_running),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
