/* collect: one collecting step of the training loop, the same for `mtrl run`
 * and `mtrl bench update`: the K actions for the current observations, one
 * step of the vectorized env, the K transitions into the replay buffer. It
 * spans sac, envs and replay, so it lives in cli. The caller runs its
 * updates between collect_act and collect_step (SAC acts on the
 * observations before the iteration's updates). */
#ifndef MTRL_CLI_COLLECT_H
#define MTRL_CLI_COLLECT_H

#include <stdint.h>

#include "core/err.h"
#include "core/rng.h"
#include "envs/envs.h"
#include "replay/replay.h"
#include "sac/sac.h"

/* The step's buffers for K envs: the observations acted on, the actions,
 * the task ids (slot k is task k). */
typedef struct collector collector;

int collect_create(collector **c, int K, mtrl_err *e);
void collect_destroy(collector *c);

/* K x ENV_OBS_DIM: the observations the next actions answer. */
const float *collect_obs(const collector *c);

/* Takes envs' current observations (after a reset). */
void collect_observe(collector *c, const env_vec *envs);

/* The K actions: uniform in [-1, 1] drawn from random when it is not NULL
 * (the warm-up), else agent's stochastic policy on collect_obs. */
int collect_act(collector *c, sac_agent *agent, rng_state *random, mtrl_err *e);

/* Steps every env with the actions, stores each transition in rb (obs,
 * action, reward, next_obs, terminal 0: v2 tasks never terminate and a time
 * limit is not a terminal state; an unstable step is not stored), then takes
 * the envs' new observations. res gets the step's result. */
int collect_step(collector *c, env_vec *envs, rb_buffer *rb, env_step_result *res,
                 mtrl_err *e);

/* Seconds the last collect_step spent in the env step itself. */
double collect_env_seconds(const collector *c);

#endif
