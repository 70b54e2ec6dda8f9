/* task_family_puck: the hooks of reach-v2/push-v2/pick-place-v2
 * (task_reach_push_pick.c) that their MT50 variants reuse (reach-wall,
 * push-wall, pick-place-wall, push-back in task_wall_back.c): scenes with a
 * free body "obj" (free joint "objjoint", geom "objGeom") on the table.
 * Internal to envs; depends on task.h only. */
#ifndef MTRL_ENVS_TASK_FAMILY_PUCK_H
#define MTRL_ENVS_TASK_FAMILY_PUCK_H

#include "task.h"

/* e->task_ids slots filled by env_puck_setup; a variant's own ids start at
 * ENV_PUCK_NIDS. */
enum { ENV_PUCK_OBJ_BODY, ENV_PUCK_OBJ_GEOM, ENV_PUCK_OBJ_JOINT, ENV_PUCK_NIDS };

int env_puck_setup(env_sawyer *e, mtrl_err *err);
/* Rejection rule: object and goal xy (v[0:2], v[3:5]) at least 0.15 apart. */
int env_puck_accept_far(const double *v);
/* obs[4:11]: body "obj" position (= geom "objGeom" position, the geom sits at
 * the body origin), objGeom's orientation as x, y, z, w. */
void env_puck_object_obs(const env_sawyer *e, double out[7]);
/* The grasp_success of push and pick-place: both pads touch objGeom, the
 * fingers are not fully open and the object is 2 cm above its start. */
int env_puck_grasped(const env_sawyer *e, const double *obs);
/* Reset: object at v[0:3], target v[3:6] (reach, pick-place). */
void env_puck_reset_obj_goal(env_sawyer *e);
/* Reset: object at (v0, v1) and target (v3, v4), both at the height the
 * object settled to during the hand reset (push). */
void env_puck_reset_on_table(env_sawyer *e);
/* reach-v2's reward: 10 x tolerance(|tcp - target|, 0.05, margin
 * |hand_init_pos - target|); success within 0.05. */
double env_puck_reward_reach(env_sawyer *e, const double *obs, const double *a, env_info *info);

/* The definition fields every puck task shares: the hand's start and
 * bounds, a 6-D rand-vector [object xyz, goal xyz] under the 0.15 rule, the
 * object's ids and observation. */
#define ENV_PUCK_DEF_COMMON                                                                    \
    .hand_init_pos = {0, 0.6, 0.2}, .hand_low = {-0.5, 0.40, 0.05},                            \
    .hand_high = {0.5, 1.0, 0.5}, .rand_dim = 6, .accept_rand = env_puck_accept_far,           \
    .setup = env_puck_setup, .object_obs = env_puck_object_obs

#endif
