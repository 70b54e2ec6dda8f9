/* reach-wall-v2, push-wall-v2, pick-place-wall-v2, push-back-v2 (spec
 * metaworld-mt50.md §3.1-3.2, §4.B): the MT10 reach/push/pick-place
 * primitives with a low wall between the object and the goal (scenes
 * sawyer_reach_wall.xml, sawyer_obj_wall.xml), and pushing a cube back
 * toward the robot (sawyer_push_back.xml). The object hooks, resets and
 * reach's reward are MT10's (task_family_puck.h); the wall variants' rewards
 * steer the object round or over the wall, push-back uses the older caging
 * reward (rw_old_caging). */
#include <math.h>
#include <string.h>

#include "reward.h"
#include "task.h"
#include "task_family_puck.h"

#define TARGET_RADIUS 0.05

/* The low wall: x -0.02..0.22, y 0.74..0.76, z 0..0.12. */
#define WALL_X_LO (-0.02)
#define WALL_Y_HI 0.76
#define WALL_TOP 0.12

/* ---- rewards ---- */

/* reach's reward; the original's info reports no object terms here. */
static double reward_reach_wall(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    double r = env_puck_reward_reach(e, obs, a, info);
    info->near_object = 0;
    info->grasp_success = 0;
    info->grasp_reward = 0;
    return r;
}

/* in_place toward a waypoint: |(obj - mid) * s| with the margin from the
 * initial object. */
static double toward(const double *o, const double *o0, const double mid[3], const double s[3])
{
    double d[3], d0[3];
    for (int i = 0; i < 3; i++)
        d[i] = (o[i] - mid[i]) * s[i], d0[i] = (o0[i] - mid[i]) * s[i];
    return rw_tolerance(env_norm3(d), 0, TARGET_RADIUS, env_norm3(d0), RW_LONG_TAIL);
}

static void fill_info(env_sawyer *e, const double *obs, double tcp_to_obj, double obj_to_target,
                      double grasp, double in_place, double success_dist, env_info *info)
{
    rw_info_set(info, obj_to_target <= success_dist, tcp_to_obj <= 0.03, env_puck_grasped(e, obs), grasp,
                in_place, obj_to_target);
}

/* push-wall: caging reward, then progress toward a point left of the wall
 * (x weighted 3x, at the object's own height) while the puck is at the
 * fingers, then toward the goal once past the wall's y. */
static double reward_push_wall(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    const double *o = obs + 4, *g = e->target_pos;
    double tcp[3];
    env_tcp_center(e, tcp);
    const double mid[3] = {-0.05, 0.77, o[2]}, s[3] = {3, 1, 1};
    double tcp_to_obj = env_dist3(o, tcp), obj_to_target = env_dist3(o, g);
    double ip1 = toward(o, e->obj_init_pos, mid, s);
    double ip2 = rw_tolerance(obj_to_target, 0, TARGET_RADIUS, env_dist3(e->obj_init_pos, g),
                              RW_LONG_TAIL);
    const rw_caging p = {.obj_radius = 0.015, .pad_success_thresh = 0.05,
                         .object_reach_radius = 0.01, .xz_thresh = 0.005,
                         .desired_gripper_effort = 1, .high_density = 1};
    double og = rw_gripper_caging(e, a, o, &p);
    double r = 2 * og;
    if (tcp_to_obj < 0.02 && obs[3] > 0)
        r = o[1] > 0.75 ? 2 * og + 1 + 4 + 3 * ip2 : 2 * og + 1 + 4 * ip1;
    if (obj_to_target < TARGET_RADIUS)
        r = 10;
    fill_info(e, obs, tcp_to_obj, obj_to_target, og, ip2, 0.07, info);
    return r;
}

/* pick-place-wall: as push-wall but the waypoint is above the wall
 * (target x, y 0.77, z 0.25; z weighted 3x) and the bonus needs the puck
 * lifted 1.5 cm. */
static double reward_pick_place_wall(env_sawyer *e, const double *obs, const double *a,
                                     env_info *info)
{
    const double *o = obs + 4, *g = e->target_pos;
    double tcp[3];
    env_tcp_center(e, tcp);
    const double mid[3] = {g[0], 0.77, 0.25}, s[3] = {1, 1, 3};
    double tcp_to_obj = env_dist3(o, tcp), obj_to_target = env_dist3(o, g);
    double ip1 = toward(o, e->obj_init_pos, mid, s);
    double ip2 = rw_tolerance(obj_to_target, 0, TARGET_RADIUS, env_dist3(e->obj_init_pos, g),
                              RW_LONG_TAIL);
    const rw_caging p = {.obj_radius = 0.015, .pad_success_thresh = 0.05,
                         .object_reach_radius = 0.01, .xz_thresh = 0.005,
                         .desired_gripper_effort = 1};
    double og = rw_gripper_caging(e, a, o, &p);
    double gi = rw_hamacher(og, ip1);
    double r = gi;
    if (tcp_to_obj < 0.02 && obs[3] > 0 && o[2] - 0.015 > e->obj_init_pos[2])
        r = o[1] > 0.75 ? gi + 1 + 4 + 3 * ip2 : gi + 1 + 4 * ip1;
    if (obj_to_target < TARGET_RADIUS)
        r = 10;
    fill_info(e, obs, tcp_to_obj, obj_to_target, og, ip2, 0.07, info);
    return r;
}

/* push-back: older caging reward with the cube's 0.007 "radius", a bonus
 * while the fingers are closed on the cube and it has made 1 cm of
 * progress. */
static double reward_push_back(env_sawyer *e, const double *obs, const double *a,
                               env_info *info)
{
    (void)a;
    const double *o = obs + 4, *g = e->target_pos;
    double tcp[3];
    env_tcp_center(e, tcp);
    double tcp_to_obj = env_dist3(o, tcp), d = env_dist3(o, g);
    double d0 = env_dist3(e->obj_init_pos, g);
    double ip = rw_tolerance(d, 0, TARGET_RADIUS, d0, RW_LONG_TAIL);
    double og = rw_old_caging(e, o, 0.007, 0.003, 0.01);
    double r = rw_hamacher(og, ip);
    if (tcp_to_obj < 0.01 && obs[3] > 0 && obs[3] < 0.55 && d0 - d > 0.01)
        r += 1 + 5 * ip;
    if (d < TARGET_RADIUS)
        r = 10;
    /* grasp_success: the original tests its contact method's truth value,
     * not its result (spec Appendix E.9): no contact condition. */
    rw_info_set(info, d <= 0.07, tcp_to_obj <= 0.03, obs[3] > 0 && o[2] - 0.02 > e->obj_init_pos[2],
                og, ip, d);
    return r;
}

/* ---- scripted policies ---- */

/* The gripper is 11 cm wide along y (fingers and the base above them) and
 * its fingertips are 4.5 cm below the hand: before the hand is 6.5 cm past
 * the wall's back face it stays high enough that the fingertips clear the
 * wall, and drops to the goal after that. */
static void policy_reach_wall(const double *obs, double *a)
{
    const double *h = obs, *g = obs + 36;
    double t[3] = {g[0], g[1], g[2]};
    const double clear = WALL_TOP + 0.045 + 0.035;
    if (h[1] < WALL_Y_HI + 0.065)
        t[2] = fmax(g[2], clear);
    env_move_to(h, t, 5, a);
    a[3] = 0;
}

/* Grasp the object where it lies and drag it on the table: hand centred
 * over it (within 1 cm), down to 3 cm above its centre with the fingers
 * open, close them and wait until they hold it (opening below 0.6; a
 * 4 cm object held gives about 0.5), then move the hand so that the object
 * goes to dest. The grip, not a push, carries it sideways too. At the far
 * end of the table (y 0.85) the arm cannot bring the hand below about 0.065,
 * so "down" means the fingertips at most 5 mm above the object's centre. */
static void grasp_drag(const double *obs, const double dest[2], double *a)
{
    const double *h = obs, *o = obs + 4;
    double t[3] = {h[0], h[1], h[2]}, grip = 1.0;
    if (hypot(h[0] - o[0], h[1] - o[1]) > 0.01 && h[2] - o[2] > 0.055) {
        t[0] = o[0], t[1] = o[1], t[2] = o[2] + 0.15, grip = 0.0;
    } else if (h[2] - o[2] > 0.05) {
        t[0] = o[0], t[1] = o[1], t[2] = o[2] + 0.03, grip = 0.0;
    } else if (obs[3] <= 0.6) { /* held: carry (while closing, hold still) */
        t[0] = h[0] + dest[0] - o[0], t[1] = h[1] + dest[1] - o[1];
    }
    env_move_to(h, t, 10, a);
    a[3] = grip;
}

/* Drag the puck round the wall's left end: first to x = -0.08 in front of
 * the wall, then along it past the wall, then to the goal. */
static void policy_push_wall(const double *obs, double *a)
{
    const double *o = obs + 4, *g = obs + 36;
    const double side_x = WALL_X_LO - 0.06;
    double dest[2] = {g[0], g[1]};
    if (o[1] < 0.72 && o[0] > side_x + 0.01)
        dest[0] = side_x, dest[1] = fmin(o[1], 0.70);
    else if (o[1] < WALL_Y_HI + 0.04)
        dest[0] = side_x, dest[1] = WALL_Y_HI + 0.06;
    grasp_drag(obs, dest, a);
}

/* Grasp as pick-place does, then lift straight up until the puck clears the
 * wall, carry it over at that height until the fingers are past the wall,
 * and go to the goal. */
static void policy_pick_place_wall(const double *obs, double *a)
{
    const double *h = obs, *o = obs + 4, *g = obs + 36;
    double op[3] = {o[0] - 0.005, o[1], o[2]}, t[3];
    const double clear = 0.25;
    if (hypot(h[0] - op[0], h[1] - op[1]) > 0.02 && o[2] < 0.04) {
        t[0] = op[0], t[1] = op[1], t[2] = op[2] + 0.1;
    } else if (fabs(h[2] - op[2]) > 0.05 && o[2] < 0.04) {
        t[0] = op[0], t[1] = op[1], t[2] = op[2] + 0.03;
    } else if (obs[3] > 0.73 && o[2] < 0.04) {
        t[0] = h[0], t[1] = h[1], t[2] = h[2]; /* fingers still closing */
    } else if (h[1] < WALL_Y_HI + 0.05 && h[2] < clear - 0.02) {
        t[0] = h[0], t[1] = h[1], t[2] = clear;
    } else if (h[1] < WALL_Y_HI + 0.05) {
        t[0] = g[0], t[1] = g[1], t[2] = clear;
    } else {
        t[0] = g[0], t[1] = g[1], t[2] = g[2];
    }
    env_move_to(h, t, 10, a);
    a[3] = env_dist3(h, o) < 0.07 ? 1.0 : 0.0;
}

/* Grasp the cube and drag it back to the goal. */
static void policy_push_back(const double *obs, double *a) { grasp_drag(obs, obs + 36, a); }

const env_task_def env_task_reach_wall_v2 = {
    .name = "reach-wall-v2",
    .scene = "sawyer_reach_wall.xml",
    ENV_PUCK_DEF_COMMON,
    .rand_low = {-0.05, 0.6, 0.015, -0.05, 0.85, 0.05},
    .rand_high = {0.05, 0.65, 0.015, 0.05, 0.9, 0.3},
    .goal_low = {-0.05, 0.85, 0.05},
    .goal_high = {0.05, 0.9, 0.3},
    .reset = env_puck_reset_obj_goal,
    .reward = reward_reach_wall,
    .policy = policy_reach_wall,
};

const env_task_def env_task_push_wall_v2 = {
    .name = "push-wall-v2",
    .scene = "sawyer_obj_wall.xml",
    ENV_PUCK_DEF_COMMON,
    .rand_low = {-0.05, 0.6, 0.015, -0.05, 0.85, 0.01},
    .rand_high = {0.05, 0.65, 0.015, 0.05, 0.9, 0.02},
    .goal_low = {-0.05, 0.85, 0.01},
    .goal_high = {0.05, 0.9, 0.02},
    .reset = env_puck_reset_on_table,
    .reward = reward_push_wall,
    .policy = policy_push_wall,
};

const env_task_def env_task_pick_place_wall_v2 = {
    .name = "pick-place-wall-v2",
    .scene = "sawyer_obj_wall.xml",
    ENV_PUCK_DEF_COMMON,
    .rand_low = {-0.05, 0.6, 0.015, -0.05, 0.85, 0.05},
    .rand_high = {0.05, 0.65, 0.015, 0.05, 0.9, 0.3},
    .goal_low = {-0.05, 0.85, 0.05},
    .goal_high = {0.05, 0.9, 0.3},
    .reset = env_puck_reset_obj_goal,
    .reward = reward_pick_place_wall,
    .policy = policy_pick_place_wall,
};

const env_task_def env_task_push_back_v2 = {
    .name = "push-back-v2",
    .scene = "sawyer_push_back.xml",
    ENV_PUCK_DEF_COMMON,
    .rand_low = {-0.1, 0.8, 0.02, -0.1, 0.6, 0.0199},
    .rand_high = {0.1, 0.85, 0.02, 0.1, 0.7, 0.0201},
    .goal_low = {-0.1, 0.6, 0.0199},
    .goal_high = {0.1, 0.7, 0.0201},
    .reset = env_puck_reset_on_table,
    .reward = reward_push_back,
    .policy = policy_push_back,
};
