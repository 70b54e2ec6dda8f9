/* Helpers shared by the sac tests: an agent of the test's shape and its
 * deterministic actions on fixed observations. The including file defines
 * K (tasks), OBS and ACT first. */
#ifndef MTRL_TESTS_SAC_TESTUTIL_H
#define MTRL_TESTS_SAC_TESTUTIL_H

#include "testutil.h"

#include "core/rng.h"
#include "replay/replay.h"
#include "sac/sac.h"

/* The default config with hidden x hidden nets, B rows a batch, the target
 * entropy -ACT, the given seed and mtl.method (K, OBS, ACT and B from the
 * including file). */
static void base_config(mtrl_config *c, const char *method, int hidden, int64_t seed)
{
    cfg_defaults(c);
    c->agent.actor_hidden = (cfg_int_list){2, {hidden, hidden}};
    c->agent.critic_hidden = (cfg_int_list){2, {hidden, hidden}};
    c->agent.batch_size = B;
    c->agent.target_entropy = -ACT;
    c->run.seed = seed;
    char kv[64];
    snprintf(kv, sizeof kv, "mtl.method=%s", method);
    mtrl_err e;
    assert_int_equal(cfg_apply_override(c, kv, &e), 0);
}

static sac_agent *make_agent(const mtrl_config *c)
{
    sac_agent *a;
    mtrl_err e = {0};
    if (sac_create(&a, c, K, OBS, ACT, &e))
        fail_msg("sac_create: %s", e.msg);
    return a;
}

static void actions_of(sac_agent *a, float *act)
{
    float obs[K * OBS];
    int32_t task[K];
    for (int k = 0; k < K; k++) {
        task[k] = k;
        for (int j = 0; j < OBS; j++)
            obs[k * OBS + j] = 0.1f * (float)(j - k);
    }
    mtrl_err e;
    assert_int_equal(sac_act(a, K, obs, task, 1, act, &e), 0);
}

/* A replay buffer of capacity cap with per_task smooth random transitions
 * per task (next observation = observation + small noise) drawn from seed;
 * reward(k, o, a) gives the task's reward. */
static rb_buffer *make_replay(long cap, uint64_t seed, int per_task,
                              float (*reward)(int k, const float *o, const float *a))
{
    rb_buffer *rb;
    mtrl_err e;
    assert_int_equal(rb_create(&rb, K, OBS, ACT, cap, &e), 0);
    rng_state r;
    rng_seed(&r, seed, 0);
    for (int i = 0; i < per_task; i++)
        for (int k = 0; k < K; k++) {
            float o[OBS], a[ACT], o2[OBS];
            for (int j = 0; j < OBS; j++)
                o[j] = (float)rng_range(&r, -1, 1), o2[j] = o[j] + 0.1f * (float)rng_normal(&r);
            for (int j = 0; j < ACT; j++)
                a[j] = (float)rng_range(&r, -1, 1);
            assert_int_equal(rb_add(rb, k, o, a, reward(k, o, a), o2, 0, &e), 0);
        }
    return rb;
}

#endif
