#include "cli/collect.h"

#include <stdlib.h>
#include <string.h>

#include "core/timer.h"

#define OBS ENV_OBS_DIM
#define ACT ENV_ACT_DIM

struct collector {
    int K;
    float *obs, *act;
    int32_t *task;
    double t_env;
};

int collect_create(collector **out, int K, mtrl_err *e)
{
    *out = NULL;
    if (K < 1)
        return err_set(e, MTRL_EINPUT, "collect: %d envs, at least 1", K);
    collector *c = calloc(1, sizeof *c);
    if (!c)
        return err_set(e, MTRL_ENOMEM, "out of memory");
    c->K = K;
    c->obs = malloc(sizeof(float) * (size_t)K * OBS);
    c->act = malloc(sizeof(float) * (size_t)K * ACT);
    c->task = malloc(sizeof(int32_t) * (size_t)K);
    if (!c->obs || !c->act || !c->task) {
        collect_destroy(c);
        return err_set(e, MTRL_ENOMEM, "out of memory for the buffers of %d envs", K);
    }
    for (int k = 0; k < K; k++)
        c->task[k] = k;
    *out = c;
    return 0;
}

void collect_destroy(collector *c)
{
    if (!c)
        return;
    free(c->obs);
    free(c->act);
    free(c->task);
    free(c);
}

const float *collect_obs(const collector *c) { return c->obs; }

void collect_observe(collector *c, const env_vec *envs)
{
    memcpy(c->obs, env_vec_obs(envs), sizeof(float) * (size_t)c->K * OBS);
}

int collect_act(collector *c, sac_agent *agent, rng_state *random, mtrl_err *e)
{
    if (!random)
        return sac_act(agent, c->K, c->obs, c->task, 0, c->act, e);
    for (int i = 0; i < c->K * ACT; i++)
        c->act[i] = (float)rng_range(random, -1.0, 1.0);
    return 0;
}

int collect_step(collector *c, env_vec *envs, rb_buffer *rb, env_step_result *res, mtrl_err *e)
{
    if (env_vec_size(envs) != c->K)
        return err_set(e, MTRL_EINPUT, "collect: %d envs stepped with the buffers of %d",
                       env_vec_size(envs), c->K);
    double t0 = tm_now();
    int rc = env_vec_step(envs, c->act, res, e);
    if (rc)
        return err_prefix(e, "stepping the envs");
    c->t_env = tm_now() - t0;
    for (int k = 0; k < c->K; k++) {
        if (!res->unstable[k] &&
            (rc = rb_add(rb, k, c->obs + k * OBS, c->act + k * ACT, res->reward[k],
                         res->next_obs + k * OBS, 0, e)))
            return rc;
    }
    collect_observe(c, envs);
    return 0;
}

double collect_env_seconds(const collector *c) { return c->t_env; }
