/* door-open-v2 (spec metaworld-mt10.md §9.4, Appendix C.2, Appendix D): pull
 * a safe's door open by its handle. Scene sawyer_door_pull.xml. */
#include <math.h>
#include <string.h>

#include "reward.h"
#include "task.h"

enum { ID_DOOR_BODY, ID_HANDLE_GEOM, ID_DOOR_JOINT, ID_GOAL_SITE };

/* The goal sits this far from the sampled door position (the handle's x at
 * about 80-104 degrees of opening). */
static const double GOAL_OFFSET[3] = {-0.3, -0.45, 0.0};

static int setup(env_sawyer *e, mtrl_err *err)
{
    if (env_lookup(e, mjOBJ_BODY, "door", &e->task_ids[ID_DOOR_BODY], err) ||
        env_lookup(e, mjOBJ_GEOM, "handle", &e->task_ids[ID_HANDLE_GEOM], err) ||
        env_lookup(e, mjOBJ_JOINT, "doorjoint", &e->task_ids[ID_DOOR_JOINT], err) ||
        env_lookup(e, mjOBJ_SITE, "goal", &e->task_ids[ID_GOAL_SITE], err))
        return err->code;
    return 0;
}

static void reset(env_sawyer *e)
{
    const double *v = e->rand_vec;
    for (int i = 0; i < 3; i++) {
        e->obj_init_pos[i] = v[i];
        e->target_pos[i] = v[i] + GOAL_OFFSET[i];
    }
    env_set_body_pos(e, e->task_ids[ID_DOOR_BODY], v);
    /* The visual goal marker follows the goal; only a private model may move
     * (edits_model is set, so this env has one). */
    if (e->m_own)
        memcpy(e->m_own->site_pos + 3 * e->task_ids[ID_GOAL_SITE], e->target_pos,
               3 * sizeof(double));
    env_set_joint_qpos(e, e->task_ids[ID_DOOR_JOINT], 0.0, 1);
    env_forward(e);
}

/* The handle geom's frame, its rotation in Meta-World's xyzw convention. */
static void object_obs(const env_sawyer *e, double out[7])
{
    memcpy(out, env_geom_xpos(e, e->task_ids[ID_HANDLE_GEOM]), 3 * sizeof(double));
    env_quat_xyzw_from_mat(env_geom_xmat(e, e->task_ids[ID_HANDLE_GEOM]), out + 3);
}

static double reward(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    const double *h = obs, *o = obs + 4, *g = e->target_pos;
    double theta = env_joint_qpos(e, e->task_ids[ID_DOOR_JOINT]); /* < 0 when opening */
    double grab = (fmin(fmax(a[3], -1.0), 1.0) + 1.0) / 2.0;

    /* Ready to pull: the hand is above a floor that rises with its xy
     * distance from the handle (so it approaches from above, not through
     * the door), and near a point just in front of the handle. */
    double door[3] = {o[0] - 0.05, o[1], o[2]};
    double radius = hypot(h[0] - door[0], h[1] - door[1]);
    double floor = radius <= 0.12 ? 0.0 : 0.04 * log(radius - 0.12) + 0.4;
    /* floor/2 >= 0 whenever h_z < floor on a table at z = 0; the guard only
     * keeps an impossible pose from turning into NaN. */
    double above = h[2] >= floor ? 1.0
                                 : rw_tolerance(floor - h[2], 0, 0.01, fmax(floor / 2, 0.0),
                                                RW_LONG_TAIL);
    double off[3] = {h[0] - door[0] - 0.05, h[1] - door[1] - 0.03, h[2] - door[2] + 0.01};
    double in_place = rw_tolerance(env_norm3(off), 0, 0.06, 0.5, RW_LONG_TAIL);
    double ready = rw_hamacher(above, in_place);

    double opened = 0.2 * (theta < -M_PI / 90.0) +
                    0.8 * rw_tolerance(M_PI / 2 + M_PI / 6 + theta, 0, 0.5, M_PI / 3,
                                       RW_LONG_TAIL);

    double r = 2.0 * rw_hamacher(ready, grab) + 8.0 * opened;
    /* Success is a window of door angles: only the handle's x is compared. */
    int success = fabs(o[0] - g[0]) <= 0.08;
    if (success)
        r = 10.0;
    rw_info_set(info, success, ready, grab >= 0.5, grab, opened, 0);
    return r;
}

/* Appendix D: hover over a point just inside the handle, drop to handle
 * height, then keep pulling towards a point 5 cm on the hinge side of the
 * handle, which swings the door open as the handle moves. */
static void policy(const double *obs, double *a)
{
    const double *h = obs, *o = obs + 4;
    double d[3] = {o[0] - 0.05, o[1], o[2]}, t[3];
    if (hypot(h[0] - d[0], h[1] - d[1]) > 0.12)
        t[0] = d[0] + 0.06, t[1] = d[1] + 0.02, t[2] = d[2] + 0.2;
    else if (fabs(h[2] - d[2]) > 0.04)
        t[0] = d[0] + 0.06, t[1] = d[1] + 0.02, t[2] = d[2];
    else
        t[0] = d[0], t[1] = d[1], t[2] = d[2];
    for (int i = 0; i < 3; i++)
        a[i] = 25.0 * (t[i] - h[i]);
    a[3] = 1.0;
}

const env_task_def env_task_door_open_v2 = {
    .name = "door-open-v2",
    .scene = "sawyer_door_pull.xml",
    .edits_model = 1,
    .hand_init_pos = {0, 0.6, 0.2},
    .hand_low = {-0.5, 0.40, 0.05},
    .hand_high = {0.5, 1.0, 0.5},
    .rand_dim = 3,
    .rand_low = {0.0, 0.85, 0.15},
    .rand_high = {0.1, 0.95, 0.15},
    .goal_low = {-0.3, 0.4, 0.1499},
    .goal_high = {-0.2, 0.5, 0.1501},
    .setup = setup,
    .reset = reset,
    .object_obs = object_obs,
    .reward = reward,
    .policy = policy,
};

/* ---- door-close-v2 (spec metaworld-mt50.md §4.F): the same door, started
 * 90 degrees open; push it shut. Shares setup and the observation with
 * door-open. ---- */

/* The closed door's handle lies 1.1 cm from this goal. */
static const double CLOSE_GOAL_OFFSET[3] = {0.2, -0.2, 0.0};
#define CLOSE_START_Q (-1.5708)
#define CLOSE_RADIUS 0.05
static const double CLOSE_HAND_INIT[3] = {-0.5, 0.6, 0.2};

static void reset_close(env_sawyer *e)
{
    const double *v = e->rand_vec;
    for (int i = 0; i < 3; i++) {
        e->obj_init_pos[i] = v[i];
        e->target_pos[i] = v[i] + CLOSE_GOAL_OFFSET[i];
    }
    env_set_body_pos(e, e->task_ids[ID_DOOR_BODY], v);
    if (e->m_own)
        memcpy(e->m_own->site_pos + 3 * e->task_ids[ID_GOAL_SITE], e->target_pos,
               3 * sizeof(double));
    env_set_joint_qpos(e, e->task_ids[ID_DOOR_JOINT], CLOSE_START_Q, 1);
    env_forward(e);
}

/* Gaussian tolerances on the handle's and the hand's distance to the goal.
 * The hand term's margin uses the current handle position (the original's
 * choice), so it shrinks as the door closes. */
static double reward_close(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    (void)a;
    const double *o = obs + 4, *g = e->target_pos;
    double tcp[3];
    env_tcp_center(e, tcp);
    double d = env_dist3(o, g);
    double in_place = rw_tolerance(d, 0, CLOSE_RADIUS, env_dist3(e->obj_init_pos, g), RW_GAUSSIAN);
    double hand_in_place = rw_tolerance(env_dist3(tcp, g), 0, 0.25 * CLOSE_RADIUS,
                                        env_dist3(CLOSE_HAND_INIT, o) + 0.1, RW_GAUSSIAN);
    double r = d < CLOSE_RADIUS ? 10.0 : 3.0 * hand_in_place + 6.0 * in_place;
    rw_info_set(info, d <= 0.08, 0, 1, 1, hand_in_place, d);
    return r;
}

/* Appendix F targets 0.99. The hand starts left of the open door, whose
 * handle side faces -x; come level with the handle, then sweep to the goal
 * (where the closed door's handle ends up): the hand meets the door on the
 * way and pushes it round. */
static void policy_close(const double *obs, double *a)
{
    const double *h = obs, *o = obs + 4, *g = obs + 36;
    double t[3] = {g[0], g[1], g[2]};
    if (h[0] < o[0] - 0.03 && fabs(h[2] - o[2]) > 0.04)
        t[0] = h[0], t[1] = o[1], t[2] = o[2];
    for (int i = 0; i < 3; i++)
        a[i] = 25.0 * (t[i] - h[i]);
    a[3] = 1.0;
}

const env_task_def env_task_door_close_v2 = {
    .name = "door-close-v2",
    .scene = "sawyer_door_pull.xml",
    .edits_model = 1,
    .hand_init_pos = {-0.5, 0.6, 0.2},
    .hand_low = {-0.5, 0.40, 0.05},
    .hand_high = {0.5, 1.0, 0.5},
    .rand_dim = 3,
    .rand_low = {0.0, 0.85, 0.15},
    .rand_high = {0.1, 0.95, 0.15},
    .goal_low = {0.2, 0.65, 0.1499},
    .goal_high = {0.3, 0.75, 0.1501},
    .setup = setup,
    .reset = reset_close,
    .object_obs = object_obs,
    .reward = reward_close,
    .policy = policy_close,
};
