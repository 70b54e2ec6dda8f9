/* Helpers shared by the sac tests: an agent of the test's shape and its
 * deterministic actions on fixed observations. The including file defines
 * K (tasks), OBS and ACT first. */
#ifndef MTRL_TESTS_SAC_TESTUTIL_H
#define MTRL_TESTS_SAC_TESTUTIL_H

#include "testutil.h"

#include "sac/sac.h"

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

#endif
