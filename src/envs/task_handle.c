/* handle-press-v2, handle-press-side-v2, handle-pull-v2, handle-pull-side-v2
 * (spec metaworld-mt50.md §3.3 "handle press", §4.D): one object (a handle
 * on a damped vertical slide), two scenes (facing the robot, or on the left
 * of the table turned to face +x), two goals (push the handle down, pull it
 * up). One setup and one reset skeleton serve all four; they differ in the
 * start height, the goal site, the observed site and the reward. */
#include <math.h>
#include <string.h>

#include "reward.h"
#include "task.h"

enum { ID_BOX, ID_SLIDE, ID_GOAL_PRESS, ID_GOAL_PULL, ID_START, ID_RIGHT, ID_CENTER };
/* press: the observed point (handleStart) right after the reset */
enum { VAL_H0 };

static int setup(env_sawyer *e, mtrl_err *err)
{
    if (env_lookup(e, mjOBJ_BODY, "box", &e->task_ids[ID_BOX], err) ||
        env_lookup(e, mjOBJ_JOINT, "handle_slide", &e->task_ids[ID_SLIDE], err) ||
        env_lookup(e, mjOBJ_SITE, "goalPress", &e->task_ids[ID_GOAL_PRESS], err) ||
        env_lookup(e, mjOBJ_SITE, "goalPull", &e->task_ids[ID_GOAL_PULL], err) ||
        env_lookup(e, mjOBJ_SITE, "handleStart", &e->task_ids[ID_START], err) ||
        env_lookup(e, mjOBJ_SITE, "handleRight", &e->task_ids[ID_RIGHT], err) ||
        env_lookup(e, mjOBJ_SITE, "handleCenter", &e->task_ids[ID_CENTER], err))
        return err->code;
    return 0;
}

/* The box goes to the rand-vector, the handle to height q0 at rest; the goal
 * is a site of the box, read after the kinematics are updated (the original
 * sets the state through set_state, which runs mj_forward). The original's
 * obj_init_pos is the rand-vector itself (the box base); pull-side replaces
 * it afterwards. */
static void reset_common(env_sawyer *e, double q0, int goal_site)
{
    const double *v = e->rand_vec;
    memcpy(e->obj_init_pos, v, 3 * sizeof(double));
    env_set_body_pos(e, e->task_ids[ID_BOX], v);
    env_set_joint_qpos(e, e->task_ids[ID_SLIDE], q0, 1);
    env_forward(e);
    memcpy(e->target_pos, env_site_xpos(e, e->task_ids[goal_site]), 3 * sizeof(double));
}

/* All four report no orientation (zeros), as the original. */
static void site_obs(const env_sawyer *e, int site, double out[7])
{
    memcpy(out, env_site_xpos(e, e->task_ids[site]), 3 * sizeof(double));
    memset(out + 3, 0, 4 * sizeof(double));
}

/* ---- handle-press and handle-press-side ---- */

#define PRESS_RADIUS 0.02 /* the class's TARGET_RADIUS */
#define PRESS_START_Q (-0.001)

static void reset_press(env_sawyer *e)
{
    reset_common(e, PRESS_START_Q, ID_GOAL_PRESS);
    memcpy(e->task_vals + VAL_H0, env_site_xpos(e, e->task_ids[ID_START]), 3 * sizeof(double));
}

static void object_obs_press(const env_sawyer *e, double out[7]) { site_obs(e, ID_START, out); }

/* Only heights count for the press: the handle top must come within 2 cm of
 * the goal's height (7.7 of the handle's 10 cm of travel). */
static double reward_press(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    (void)a;
    const double *o = obs + 4, *h0 = e->task_vals + VAL_H0;
    double tcp[3];
    env_tcp_center(e, tcp);
    double dz = fabs(o[2] - e->target_pos[2]);
    double dz0 = fabs(h0[2] - e->target_pos[2]);
    double in_place = rw_tolerance(dz, 0, PRESS_RADIUS, fabs(dz0 - PRESS_RADIUS), RW_LONG_TAIL);
    double tcp_to_obj = env_dist3(o, tcp);
    double reach = rw_tolerance(tcp_to_obj, 0, 0.02,
                                fabs(env_dist3(h0, e->init_tcp) - 0.02), RW_LONG_TAIL);
    int success = dz <= PRESS_RADIUS;
    double r = success ? 10.0 : 10.0 * rw_hamacher(reach, in_place);
    rw_info_set(info, success, tcp_to_obj <= 0.05, 1, reach, in_place, dz);
    return r;
}

/* Front: the grip is a bar along x, and the fingers part along y. Hover
 * over the grip with the fingers open so that they straddle it, then drive
 * the hand far below: the gripper base above the fingers pushes the bar
 * down. */
static void policy_press(const double *obs, double *a)
{
    const double *h = obs, *o = obs + 4;
    double t[3] = {o[0], o[1], o[2]};
    if (hypot(h[0] - o[0], h[1] - o[1]) > 0.02)
        t[2] += 0.15;
    else
        t[2] -= 0.5;
    env_move_to(h, t, 25.0, a);
    a[3] = -1.0;
}

/* Side: the grip bar runs along y, the fingers' parting direction, so the
 * closed fingertips press on the bar's top. */
static void policy_press_side(const double *obs, double *a)
{
    const double *h = obs, *o = obs + 4;
    double t[3] = {o[0], o[1], o[2]};
    if (hypot(h[0] - o[0], h[1] - o[1]) > 0.02)
        t[2] += 0.15;
    else
        t[2] -= 0.5;
    env_move_to(h, t, 25.0, a);
    a[3] = 1.0;
}

/* ---- handle-pull and handle-pull-side ---- */

#define PULL_START_Q (-0.1)
#define PULL_RADIUS 0.05 /* the base class's TARGET_RADIUS */
#define PULL_SIDE_SUCCESS 0.08
/* hand speed while pulling, in action units (1 = 1 cm per step) */
#define LIFT_SPEED 0.3

static void reset_pull(env_sawyer *e) { reset_common(e, PULL_START_Q, ID_GOAL_PULL); }

/* pull-side's obj_init_pos is the observed point after the reset, not the
 * box base. */
static void reset_pull_side(env_sawyer *e)
{
    reset_common(e, PULL_START_Q, ID_GOAL_PULL);
    memcpy(e->obj_init_pos, env_site_xpos(e, e->task_ids[ID_CENTER]), 3 * sizeof(double));
}

static void object_obs_pull(const env_sawyer *e, double out[7]) { site_obs(e, ID_RIGHT, out); }
static void object_obs_pull_side(const env_sawyer *e, double out[7])
{
    site_obs(e, ID_CENTER, out);
}

/* The shared part of both pull rewards: caging the observed point, the
 * in-place term on d (with its margin d0), the lift bonus, the override and
 * success at d <= success_d.
 * The lift test compares with obj_init_pos, which is the box base (z ~ 0)
 * for handle-pull: there it holds from the start. */
static double reward_pull_common(env_sawyer *e, const double *obs, const double *a, double d,
                                 double d0, double success_d, const rw_caging *cg,
                                 env_info *info)
{
    const double *o = obs + 4;
    double tcp[3];
    env_tcp_center(e, tcp);
    double in_place = rw_tolerance(d, 0, PULL_RADIUS, d0, RW_LONG_TAIL);
    double grasp = rw_gripper_caging(e, a, o, cg);
    double r = rw_hamacher(grasp, in_place);
    double tcp_to_obj = env_dist3(o, tcp);
    if (tcp_to_obj < 0.035 && obs[3] > 0 && o[2] - 0.01 > e->obj_init_pos[2])
        r += 1.0 + 5.0 * in_place;
    if (d < PULL_RADIUS)
        r = 10.0;
    rw_info_set(info, d <= success_d, tcp_to_obj <= 0.05,
                obs[3] > 0 && o[2] - 0.03 > e->obj_init_pos[2], grasp, in_place, d);
    return r;
}

/* Front: heights only; the margin is the goal's height above the box base. */
static double reward_pull(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    const double *o = obs + 4, *g = e->target_pos;
    static const rw_caging cg = {.obj_radius = 0.022, .pad_success_thresh = 0.05,
                                 .object_reach_radius = 0.01, .xz_thresh = 0.01,
                                 .desired_gripper_effort = 1.0, .high_density = 1};
    double d = fabs(g[2] - o[2]);
    return reward_pull_common(e, obs, a, d, fabs(g[2] - e->obj_init_pos[2]), PULL_RADIUS, &cg,
                              info);
}

/* Side: full 3-D distance. handleCenter sits 4.6 cm beside and, at the top
 * of the travel (q = 0), 2.2 cm below goalPull, so d >= 0.051 there: the
 * R = 10 override (d < 0.05) would need the handle 2.4 mm past its upper
 * limit and is practically unreachable, as in the original; success
 * (d <= 0.08) is reached at q >= -0.0435. */
static double reward_pull_side(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    const double *o = obs + 4, *g = e->target_pos;
    static const rw_caging cg = {.obj_radius = 0.032, .pad_success_thresh = 0.06,
                                 .object_reach_radius = 0.01, .xz_thresh = 0.01,
                                 .desired_gripper_effort = 1.0, .high_density = 1};
    double d = env_dist3(o, g);
    return reward_pull_common(e, obs, a, d, env_dist3(e->obj_init_pos, g), PULL_SIDE_SUCCESS,
                              &cg, info);
}

/* Both pulls: hover above the aim point (the observed point shifted dx in
 * x) with the fingers open, come down until the hand is 1 cm below it (the
 * fingertips then reach 5.5 cm below it), close, and once the fingers have
 * closed on the part (opening below closed_open), pull upwards at a steady
 * 3 mm per step (the damped slide resists faster pulls). If the part slips
 * out, the hand ends up above it and the policy opens and comes down again.
 * effort: the grip command once the fingers are near the part (full effort
 * while they are still wide open). */
static void policy_pull_at(const double *obs, double *a, double dx, double closed_open,
                           double effort)
{
    const double *h = obs, *o = obs + 4;
    double t[3] = {o[0] + dx, o[1], o[2]};
    if (hypot(h[0] - t[0], h[1] - t[1]) > 0.015) {
        t[2] += 0.15;
        env_move_to(h, t, 25.0, a);
        a[3] = -1.0;
        return;
    }
    t[2] -= 0.01;
    env_move_to(h, t, 25.0, a);
    if (h[2] - o[2] > 0.03) {
        a[3] = -1.0;
        return;
    }
    if (obs[3] < closed_open)
        a[2] = LIFT_SPEED;
    a[3] = obs[3] > 0.8 ? 1.0 : effort;
}

/* Front: the observed point is near the grip bar's right end, 5 cm right of
 * the lever arm, so fingers parting along y close across the bar (4.4 cm
 * thick: closed on it, the fingertip sites are 5.6 cm apart). A full-effort
 * squeeze (about 400 N) drives the pads deep into the bar, where MuJoCo's
 * general convex collider (box pad against cylinder) turns the contact
 * normals upwards and the bar pops out downwards; a light squeeze (about
 * 50 N, friction 2) holds it. */
static void policy_pull(const double *obs, double *a) { policy_pull_at(obs, a, 0.0, 0.62, 0.2); }

/* Side: the grip bar runs along y, the fingers' parting direction, so they
 * close across the lever arm instead (a box 6.4 cm wide; box against box
 * holds at full effort). The observed point is only 2.4 cm in from the bar
 * and the fingers are 3 cm wide, so aim 1 cm further in: a finger that
 * rubs the bar on the way down drags the handle below its limit. */
static void policy_pull_side(const double *obs, double *a)
{
    policy_pull_at(obs, a, -0.01, 0.85, 1.0);
}

#define HANDLE_COMMON                                                                        \
    .edits_model = 1, .hand_init_pos = {0, 0.6, 0.2}, .hand_low = {-0.5, 0.40, 0.05},         \
    .hand_high = {0.5, 1.0, 0.5}, .rand_dim = 3, .setup = setup

const env_task_def env_task_handle_press_v2 = {
    .name = "handle-press-v2",
    .scene = "sawyer_handle_press.xml",
    HANDLE_COMMON,
    .rand_low = {-0.1, 0.8, -0.001},
    .rand_high = {0.1, 0.9, 0.001},
    .goal_low = {-0.1, 0.55, 0.04},
    .goal_high = {0.1, 0.70, 0.08},
    .reset = reset_press,
    .object_obs = object_obs_press,
    .reward = reward_press,
    .policy = policy_press,
};

const env_task_def env_task_handle_press_side_v2 = {
    .name = "handle-press-side-v2",
    .scene = "sawyer_handle_press_sideways.xml",
    HANDLE_COMMON,
    .rand_low = {-0.35, 0.65, -0.001},
    .rand_high = {-0.25, 0.75, 0.001},
    .goal_low = {-0.5, 0.40, 0.05},
    .goal_high = {0.5, 1.0, 0.5},
    .reset = reset_press,
    .object_obs = object_obs_press,
    .reward = reward_press,
    .policy = policy_press_side,
};

const env_task_def env_task_handle_pull_v2 = {
    .name = "handle-pull-v2",
    .scene = "sawyer_handle_press.xml",
    HANDLE_COMMON,
    .rand_low = {-0.1, 0.8, -0.001},
    .rand_high = {0.1, 0.9, 0.001},
    .goal_low = {-0.1, 0.55, 0.04},
    .goal_high = {0.1, 0.70, 0.18},
    .reset = reset_pull,
    .object_obs = object_obs_pull,
    .reward = reward_pull,
    .policy = policy_pull,
};

const env_task_def env_task_handle_pull_side_v2 = {
    .name = "handle-pull-side-v2",
    .scene = "sawyer_handle_press_sideways.xml",
    HANDLE_COMMON,
    .rand_low = {-0.35, 0.65, 0.0},
    .rand_high = {-0.25, 0.75, 0.0},
    .goal_low = {-0.5, 0.40, 0.05},
    .goal_high = {0.5, 1.0, 0.5},
    .reset = reset_pull_side,
    .object_obs = object_obs_pull_side,
    .reward = reward_pull_side,
    .policy = policy_pull_side,
};
