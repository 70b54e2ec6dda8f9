/* door-lock-v2 and door-unlock-v2 (spec metaworld-mt50.md §3.3 "door
 * lock", §4.F): a small lever on a fixed safe door, hinged about y; lock =
 * push it from horizontal down to vertical, unlock = swing it back up. One
 * scene (sawyer_door_lock.xml) and setup; the variants differ in the start
 * angle, the observed site, the goal and the reward. */
#include <math.h>
#include <string.h>

#include "reward.h"
#include "task.h"

enum { ID_DOOR_BODY, ID_DOOR_LINK, ID_LOCK_LINK, ID_LOCK_JOINT, ID_SITE_LOCK, ID_SITE_UNLOCK,
       ID_GOAL_SITE };

#define LOCK_LENGTH 0.1
#define LOCKED_Q 1.5708
/* The original's margin weights: x counts a quarter, z a half. */
static const double SCALE[3] = {0.25, 1.0, 0.5};

static int setup(env_sawyer *e, mtrl_err *err)
{
    if (env_lookup(e, mjOBJ_BODY, "door", &e->task_ids[ID_DOOR_BODY], err) ||
        env_lookup(e, mjOBJ_BODY, "door_link", &e->task_ids[ID_DOOR_LINK], err) ||
        env_lookup(e, mjOBJ_BODY, "lock_link", &e->task_ids[ID_LOCK_LINK], err) ||
        env_lookup(e, mjOBJ_JOINT, "lock_hinge", &e->task_ids[ID_LOCK_JOINT], err) ||
        env_lookup(e, mjOBJ_SITE, "lockStartLock", &e->task_ids[ID_SITE_LOCK], err) ||
        env_lookup(e, mjOBJ_SITE, "lockStartUnlock", &e->task_ids[ID_SITE_UNLOCK], err) ||
        env_lookup(e, mjOBJ_SITE, "goal", &e->task_ids[ID_GOAL_SITE], err))
        return err->code;
    return 0;
}

static void set_goal(env_sawyer *e, const double off[3])
{
    const double *lock = env_body_xpos(e, e->task_ids[ID_LOCK_LINK]);
    for (int i = 0; i < 3; i++) {
        e->obj_init_pos[i] = lock[i];
        e->target_pos[i] = lock[i] + off[i];
    }
    if (e->m_own)
        memcpy(e->m_own->site_pos + 3 * e->task_ids[ID_GOAL_SITE], e->target_pos,
               3 * sizeof(double));
}

/* Site position, and door_link's (constant) w,x,y,z. */
static void site_obs(const env_sawyer *e, int site, double out[7])
{
    memcpy(out, env_site_xpos(e, e->task_ids[site]), 3 * sizeof(double));
    memcpy(out + 3, env_body_xquat(e, e->task_ids[ID_DOOR_LINK]), 4 * sizeof(double));
}

/* ---- door-lock ---- */

/* The original moves the door and then runs 5 bare physics steps (one
 * frame) instead of mj_forward; the lock lever (q = 0 from mj_resetData)
 * sags a little under gravity meanwhile. The goal hangs 10 cm below and 4 cm
 * in front of the hinge. */
static void reset_lock(env_sawyer *e)
{
    env_set_body_pos(e, e->task_ids[ID_DOOR_BODY], e->rand_vec);
    for (int i = 0; i < 5; i++)
        mj_step(e->m, e->d);
    static const double off[3] = {0.0, -0.04, -0.1};
    set_goal(e, off);
}

static void object_obs_lock(const env_sawyer *e, double out[7]) { site_obs(e, ID_SITE_LOCK, out); }

/* The reach term measures from the left pad, and its margin from the
 * original's "initial" left pad, which is a live reference to the current
 * one (spec §2, Appendix E.1): the margin equals the distance itself. */
static double reward_lock(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    (void)a;
    const double *o = obs + 4, *lp = env_body_xpos(e, e->leftpad_body);
    double s[3];
    for (int i = 0; i < 3; i++)
        s[i] = (o[i] - lp[i]) * SCALE[i];
    double c = env_norm3(s);
    double near = rw_tolerance(c, 0, 0.01, c, RW_LONG_TAIL);
    double dz = fabs(e->target_pos[2] - o[2]);
    double pressed = rw_tolerance(dz, 0, 0.005, LOCK_LENGTH, RW_LONG_TAIL);
    rw_info_set(info, dz <= 0.02, c <= 0.05, obs[3] > 0, near, pressed, dz);
    return 2.0 * rw_hamacher(fmax(obs[3], 0.0), near) + 8.0 * pressed;
}

/* Appendix F targets 1.0. The observed point is the lever's outer top
 * corner. With the fingers open (they part along y, 9.4 cm), put the left
 * pad over the lever 2 cm in from its end and keep the right one in front
 * of it; rise first (the hand starts below the lever), move over, then push
 * down, following the end as it swings down toward the hinge. */
static void policy_lock(const double *obs, double *a)
{
    const double *h = obs, *o = obs + 4;
    double p[3] = {o[0] - 0.02, o[1] - 0.03, o[2] + 0.045}, t[3] = {p[0], p[1], p[2] - 0.1};
    if (hypot(h[0] - p[0], h[1] - p[1]) > 0.015) {
        t[2] = p[2] + 0.08;
        /* rise in place first: the hand starts below the lever */
        if (h[2] < p[2] + 0.05)
            t[0] = h[0], t[1] = h[1];
    }
    env_move_to(h, t, 25.0, a);
    a[3] = -1.0;
}

/* ---- door-unlock ---- */

/* Locked: the lever hangs straight down. The goal is 10 cm right of and 4 cm
 * in front of the hinge, at its height. */
static void reset_unlock(env_sawyer *e)
{
    env_set_body_pos(e, e->task_ids[ID_DOOR_BODY], e->rand_vec);
    env_set_joint_qpos(e, e->task_ids[ID_LOCK_JOINT], LOCKED_Q, 1);
    env_forward(e);
    static const double off[3] = {0.1, -0.04, 0.0};
    set_goal(e, off);
}

static void object_obs_unlock(const env_sawyer *e, double out[7])
{
    site_obs(e, ID_SITE_UNLOCK, out);
}

/* "Ready" measures a point 5.5 cm behind and 7 cm above the hand body (the
 * original's "shoulder") against the lever end; its margin from the initial
 * tcp and the lever hinge. */
static double reward_unlock(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    (void)a;
    const double *h = obs, *o = obs + 4;
    static const double off[3] = {0.0, 0.055, 0.07};
    double s[3], s0[3];
    for (int i = 0; i < 3; i++) {
        s[i] = (h[i] + off[i] - o[i]) * SCALE[i];
        s0[i] = (e->init_tcp[i] + off[i] - e->obj_init_pos[i]) * SCALE[i];
    }
    double ready = rw_tolerance(env_norm3(s), 0, 0.02, env_norm3(s0), RW_LONG_TAIL);
    double dx = fabs(e->target_pos[0] - o[0]);
    double pushed = rw_tolerance(dx, 0, 0.005, LOCK_LENGTH, RW_LONG_TAIL);
    rw_info_set(info, dx <= 0.02, env_norm3(s) <= 0.05, obs[3] > 0, ready, pushed, dx);
    return 2.0 * ready + 8.0 * pushed;
}

/* Appendix F targets 1.0. The observed point is the hanging lever's lower
 * inner corner. Geometry decides the pose (gripper base box, spec
 * metaworld-mt10.md §10.3): the base sticks out 5.3 cm in +-y and sits on
 * top of the fingers, so to clear the lock housing the hand stays 6 cm in
 * front of the hinge (the closed fingers then overlap the lever by 7 mm and
 * the base covers it), and it stays low enough (2 cm below the lever end)
 * that the base never touches the 8 mm stub above the hinge, which would
 * jam the lever. Rise, move over a point 3 cm left of the lever, come down
 * beside it, then push toward +x (at most 5 mm per step, so the mocap does
 * not run far ahead of a blocked hand) and slightly up while the end swings
 * up; a hand up to 5 cm behind the moving end keeps pushing. */
static void policy_unlock(const double *obs, double *a)
{
    const double *h = obs, *o = obs + 4;
    double p[3] = {o[0] - 0.03, o[1] - 0.02, o[2] - 0.02}, t[3] = {p[0], p[1], p[2]};
    double dx = h[0] - p[0];
    if (fabs(h[1] - p[1]) > 0.015 || dx > 0.015 || dx < -0.05) {
        /* over the lever's hinge first: the hand starts below it */
        t[2] = p[2] + 0.16;
        if (h[2] < p[2] + 0.14)
            t[0] = h[0], t[1] = h[1];
    } else if (h[2] - p[2] <= 0.02) {
        t[0] += 0.1, t[2] += 0.01;
    }
    env_move_to(h, t, 25.0, a);
    a[0] = fmin(a[0], 0.5);
    a[3] = 1.0;
}

#define LOCK_COMMON                                                                          \
    .scene = "sawyer_door_lock.xml", .edits_model = 1, .hand_init_pos = {0, 0.6, 0.2},        \
    .hand_low = {-0.5, 0.40, -0.15}, .hand_high = {0.5, 1.0, 0.5}, .rand_dim = 3,             \
    .rand_low = {-0.1, 0.8, 0.15}, .rand_high = {0.1, 0.85, 0.15}, .setup = setup

const env_task_def env_task_door_lock_v2 = {
    .name = "door-lock-v2",
    LOCK_COMMON,
    .goal_low = {-0.5, 0.40, -0.15},
    .goal_high = {0.5, 1.0, 0.5},
    .reset = reset_lock,
    .object_obs = object_obs_lock,
    .reward = reward_lock,
    .policy = policy_lock,
};

const env_task_def env_task_door_unlock_v2 = {
    .name = "door-unlock-v2",
    LOCK_COMMON,
    .goal_low = {0.0, 0.64, 0.21},
    .goal_high = {0.2, 0.7, 0.2111},
    .reset = reset_unlock,
    .object_obs = object_obs_unlock,
    .reward = reward_unlock,
    .policy = policy_unlock,
};
