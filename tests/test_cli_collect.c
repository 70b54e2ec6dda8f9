/* The collect step shared by the trainer and `mtrl bench update`: what it
 * stores in the replay buffer is the transition the envs took (the
 * observations acted on, the actions, the step's reward and next
 * observation), its random actions are the warm-up's draws, its policy
 * actions are the agent's on the observations it holds, and a collector
 * sized for other envs is refused before anything is stepped. */
#include "testutil.h"

#include "cli/collect.h"
#include "core/cfg.h"

#define OBS ENV_OBS_DIM
#define ACT ENV_ACT_DIM

typedef struct fixture {
    env_vec *env;
    rb_buffer *rb;
    collector *col;
    int K;
} fixture;

static void setup(fixture *f, int collector_K)
{
    mtrl_err e = {0};
    env_opts o;
    env_opts_default(&o);
    o.threads = 1;
    o.max_episode_steps = 50;
    if (env_vec_create(&f->env, "mt10", &o, &e))
        fail_msg("env_vec_create: %s", e.msg);
    f->K = env_vec_size(f->env);
    if (rb_create(&f->rb, f->K, OBS, ACT, 100L * f->K, &e))
        fail_msg("rb_create: %s", e.msg);
    if (collect_create(&f->col, collector_K > 0 ? collector_K : f->K, &e))
        fail_msg("collect_create: %s", e.msg);
    if (env_vec_reset_all(f->env, NULL, &e))
        fail_msg("env_vec_reset_all: %s", e.msg);
    collect_observe(f->col, f->env);
}

static void teardown(fixture *f)
{
    collect_destroy(f->col);
    rb_destroy(f->rb);
    env_vec_destroy(f->env);
}

static void test_step_stores_the_transition(void **st)
{
    (void)st;
    fixture f;
    setup(&f, 0);
    int K = f.K;
    float obs0[64 * OBS];
    memcpy(obs0, env_vec_obs(f.env), sizeof(float) * (size_t)K * OBS);
    assert_memory_equal(collect_obs(f.col), obs0, sizeof(float) * (size_t)K * OBS);

    rng_state r, ref;
    rng_seed(&r, 5, 1);
    rng_seed(&ref, 5, 1);
    mtrl_err e = {0};
    env_step_result res;
    assert_int_equal(collect_act(f.col, NULL, &r, &e), 0);
    assert_int_equal(collect_step(f.col, f.env, f.rb, &res, &e), 0);
    assert_true(collect_env_seconds(f.col) > 0);
    for (int k = 0; k < K; k++) {
        assert_false(res.unstable[k]);
        assert_int_equal(rb_size(f.rb, k), 1);
        float o[OBS], a[ACT], no[OBS], rew;
        uint8_t term;
        assert_int_equal(rb_get(f.rb, k, 0, o, a, &rew, no, &term, &e), 0);
        assert_memory_equal(o, obs0 + k * OBS, sizeof o);
        for (int i = 0; i < ACT; i++) /* the warm-up's draws, in order */
            assert_true(a[i] == (float)rng_range(&ref, -1.0, 1.0));
        assert_true(rew == res.reward[k]);
        assert_memory_equal(no, res.next_obs + k * OBS, sizeof no);
        assert_int_equal(term, 0);
    }
    /* The next step acts on the envs' new observations. */
    assert_memory_equal(collect_obs(f.col), env_vec_obs(f.env), sizeof(float) * (size_t)K * OBS);
    assert_memory_not_equal(collect_obs(f.col), obs0, sizeof(float) * (size_t)K * OBS);
    teardown(&f);
}

/* Policy actions are the agent's on the collector's observations, task k
 * in slot k: the same as sac_act on them by an identical agent. */
static void test_policy_actions(void **st)
{
    (void)st;
    fixture f;
    setup(&f, 0);
    mtrl_config c;
    cfg_defaults(&c);
    c.agent.actor_hidden.n = c.agent.critic_hidden.n = 2;
    c.agent.actor_hidden.v[0] = c.agent.actor_hidden.v[1] = 16;
    c.agent.critic_hidden.v[0] = c.agent.critic_hidden.v[1] = 16;
    sac_agent *a, *b;
    mtrl_err e = {0};
    if (sac_create(&a, &c, f.K, OBS, ACT, &e) || sac_create(&b, &c, f.K, OBS, ACT, &e))
        fail_msg("sac_create: %s", e.msg);
    float act[64 * ACT], obs[64 * OBS];
    int32_t task[64];
    for (int k = 0; k < f.K; k++)
        task[k] = k;
    env_step_result res;
    for (int step = 0; step < 3; step++) {
        memcpy(obs, collect_obs(f.col), sizeof(float) * (size_t)f.K * OBS);
        assert_int_equal(collect_act(f.col, a, NULL, &e), 0);
        assert_int_equal(sac_act(b, f.K, obs, task, 0, act, &e), 0);
        assert_int_equal(collect_step(f.col, f.env, f.rb, &res, &e), 0);
        for (int k = 0; k < f.K; k++) {
            float o[OBS], at[ACT], no[OBS], rew;
            uint8_t term;
            assert_int_equal(rb_get(f.rb, k, step, o, at, &rew, no, &term, &e), 0);
            assert_memory_equal(at, act + k * ACT, sizeof at);
        }
    }
    sac_destroy(a);
    sac_destroy(b);
    teardown(&f);
}

static void test_wrong_size_refused(void **st)
{
    (void)st;
    fixture f;
    setup(&f, 3);
    rng_state r;
    rng_seed(&r, 1, 1);
    mtrl_err e = {0};
    env_step_result res;
    assert_int_equal(collect_act(f.col, NULL, &r, &e), 0);
    assert_int_equal(collect_step(f.col, f.env, f.rb, &res, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "10 envs"));
    assert_int_equal(rb_total_size(f.rb), 0);
    collector *c;
    assert_int_equal(collect_create(&c, 0, &e), MTRL_EINPUT);
    assert_null(c);
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_stores_the_transition),
        cmocka_unit_test(test_policy_actions),
        cmocka_unit_test(test_wrong_size_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
