/* lever-pull-v2 (spec metaworld-mt50.md §3.3 "lever", §4.G, §2.2): lift a
 * lever's handle from horizontal (pointing at the robot) to straight up.
 * The joint's range is [0, 1.57] with positive angles swinging the handle
 * down, so success (q = -pi/2) lies outside the range: the robot must force
 * the light lever through its soft limit, as in the original. Scene
 * sawyer_lever_pull.xml. */
#include <math.h>
#include <string.h>

#include "reward.h"
#include "task.h"

enum { ID_LEVER_BODY, ID_LEVER_JOINT, ID_START_SITE, ID_HANDLE_GEOM, ID_GOAL_SITE };
enum { VAL_L0 = 0 }; /* 3 values: the handle's rest position */

#define LEVER_RADIUS 0.2
/* The reward's "shoulder": a point 5.5 cm behind and 7 cm above the hand
 * body, with x and z errors weighted 4x. */
static const double SHOULDER[3] = {0.0, 0.055, 0.07};
static const double SCALE[3] = {4.0, 1.0, 4.0};

static int setup(env_sawyer *e, mtrl_err *err)
{
    if (env_lookup(e, mjOBJ_BODY, "lever", &e->task_ids[ID_LEVER_BODY], err) ||
        env_lookup(e, mjOBJ_JOINT, "LeverAxis", &e->task_ids[ID_LEVER_JOINT], err) ||
        env_lookup(e, mjOBJ_SITE, "leverStart", &e->task_ids[ID_START_SITE], err) ||
        env_lookup(e, mjOBJ_GEOM, "objGeom", &e->task_ids[ID_HANDLE_GEOM], err) ||
        env_lookup(e, mjOBJ_SITE, "goal", &e->task_ids[ID_GOAL_SITE], err))
        return err->code;
    return 0;
}

/* The handle rests 0.2 in front of the axis (0.12 right of the lever body,
 * 0.25 up); the goal is 0.2 straight above the axis. The original calls no
 * mj_forward here (its first observation after a task switch shows the old
 * lever); we update the kinematics first. */
static void reset(env_sawyer *e)
{
    const double *v = e->rand_vec;
    memcpy(e->obj_init_pos, v, 3 * sizeof(double));
    env_set_body_pos(e, e->task_ids[ID_LEVER_BODY], v);
    double *l0 = e->task_vals + VAL_L0;
    l0[0] = v[0] + 0.12, l0[1] = v[1] - LEVER_RADIUS, l0[2] = v[2] + 0.25;
    e->target_pos[0] = v[0] + 0.12;
    e->target_pos[1] = v[1];
    e->target_pos[2] = v[2] + 0.25 + LEVER_RADIUS;
    if (e->m_own)
        memcpy(e->m_own->site_pos + 3 * e->task_ids[ID_GOAL_SITE], e->target_pos,
               3 * sizeof(double));
    env_forward(e);
}

/* The handle centre, and the handle mesh frame's rotation as x, y, z, w. */
static void object_obs(const env_sawyer *e, double out[7])
{
    memcpy(out, env_site_xpos(e, e->task_ids[ID_START_SITE]), 3 * sizeof(double));
    env_quat_xyzw_from_mat(env_geom_xmat(e, e->task_ids[ID_HANDLE_GEOM]), out + 3);
}

static double reward(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    (void)a;
    const double *h = obs, *o = obs + 4, *g = e->target_pos, *l0 = e->task_vals + VAL_L0;
    double s[3], s0[3];
    for (int i = 0; i < 3; i++) {
        s[i] = (h[i] + SHOULDER[i] - o[i]) * SCALE[i];
        s0[i] = (e->init_tcp[i] + SHOULDER[i] - l0[i]) * SCALE[i];
    }
    double shoulder = env_norm3(s);
    double ready = rw_tolerance(shoulder, 0, 0.02, env_norm3(s0), RW_LONG_TAIL);
    /* The lever's angle above horizontal is -q. The engagement term only
     * feeds info, as in the original. */
    double err_angle = fabs(-env_joint_qpos(e, e->task_ids[ID_LEVER_JOINT]) - M_PI / 2);
    double engagement = rw_tolerance(err_angle, 0, M_PI / 48, M_PI / 2 - M_PI / 12, RW_LONG_TAIL);
    double in_place = rw_tolerance(env_dist3(o, g), 0, 0.04, env_dist3(l0, g), RW_LONG_TAIL);
    rw_info_set(info, err_angle <= M_PI / 24, shoulder < 0.03, ready > 0.9, ready, engagement,
                shoulder);
    return 10.0 * rw_hamacher(ready, in_place);
}

/* Appendix F targets 0.94. Lift the ball from below with the top front edge
 * of the gripper base (a box 5.3 cm in front of and 9.3 cm above the hand
 * body, spec metaworld-mt10.md §10.3), pushing along the ball's circle: the
 * axis is 0.2 below the goal, which gives the lever's angle phi from the
 * observation and the tangent (0, sin phi, cos phi). The edge aims 2 cm past
 * the ball's surface along the tangent, so the push stays tangential as the
 * lever swings from horizontal (push up) to vertical (push toward +y).
 * Approach: under the ball, 16 cm below it (the base clears the ball and its
 * rod), then rise into it; while in place (hand within 2 cm in x, 8 cm in y
 * and not above the aim point) keep pushing. */
static void policy(const double *obs, double *a)
{
    const double *h = obs, *b = obs + 4, *g = obs + 36;
    double ry = b[1] - g[1], rz = b[2] - (g[2] - LEVER_RADIUS);
    double phi = atan2(rz, -ry);
    double ty = sin(phi), tz = cos(phi);
    /* base edge: hand + (0.008 in x from the base's offset, 0.053, 0.093) */
    double t[3] = {b[0] + 0.008, b[1] + 0.02 * ty - 0.053, b[2] + 0.02 * tz - 0.093};
    int aligned = fabs(h[0] - t[0]) < 0.02;
    int in_place = aligned && fabs(h[1] - t[1]) < 0.08 && h[2] < t[2] + 0.05;
    if (!in_place && !(aligned && fabs(h[1] - t[1]) < 0.02))
        t[2] = b[2] - 0.16;
    for (int i = 0; i < 3; i++)
        a[i] = 25.0 * (t[i] - h[i]);
    a[3] = 1.0;
}

const env_task_def env_task_lever_pull_v2 = {
    .name = "lever-pull-v2",
    .scene = "sawyer_lever_pull.xml",
    .edits_model = 1,
    .hand_init_pos = {0, 0.4, 0.2},
    .hand_low = {-0.5, 0.40, -0.15},
    .hand_high = {0.5, 1.0, 0.5},
    .rand_dim = 3,
    .rand_low = {-0.1, 0.7, 0.0},
    .rand_high = {0.1, 0.8, 0.0},
    .goal_low = {-0.5, 0.40, -0.15},
    .goal_high = {0.5, 1.0, 0.5},
    .setup = setup,
    .reset = reset,
    .object_obs = object_obs,
    .reward = reward,
    .policy = policy,
};
