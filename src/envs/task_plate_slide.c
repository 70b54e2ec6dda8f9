/* plate-slide-v2, plate-slide-side-v2, plate-slide-back-v2,
 * plate-slide-back-side-v2 (spec metaworld-mt50.md §3.3 "plate + cabinet",
 * §4.C): slide a plate that moves on two slides (x, y) into a cabinet, or
 * out of it. Scenes sawyer_plate_slide.xml (cabinet opening toward the
 * robot) and sawyer_plate_slide_sideway.xml (cabinet on the left, opening
 * toward +x). One setup, observation and reset shape for the four; they
 * differ in where the cabinet and plate start, the reward's margins and the
 * scripted strategy. */
#include <math.h>
#include <string.h>

#include "reward.h"
#include "task.h"

enum { ID_PLATE_GEOM, ID_SLIDE_X, ID_SLIDE_Y, ID_CABINET_BODY };

static int setup(env_sawyer *e, mtrl_err *err)
{
    if (env_lookup(e, mjOBJ_GEOM, "puck", &e->task_ids[ID_PLATE_GEOM], err) ||
        env_lookup(e, mjOBJ_JOINT, "goal_slidex", &e->task_ids[ID_SLIDE_X], err) ||
        env_lookup(e, mjOBJ_JOINT, "goal_slidey", &e->task_ids[ID_SLIDE_Y], err) ||
        env_lookup(e, mjOBJ_BODY, "puck_goal", &e->task_ids[ID_CABINET_BODY], err))
        return err->code;
    return 0;
}

/* The rand-vector is (obj_init, goal). The "into" variants put the cabinet
 * at the goal and start the plate at its channel's origin; the "back"
 * variants put the cabinet at obj_init (so obj_init is the cabinet, not the
 * plate, spec Appendix E.6) and start the plate inside it. The plate's
 * slides are set without touching their velocities (the original's
 * _set_obj_xyz), then the kinematics are updated. */
static void place(env_sawyer *e, int cabinet_at_goal, double qx, double qy)
{
    const double *v = e->rand_vec;
    memcpy(e->obj_init_pos, v, 3 * sizeof(double));
    memcpy(e->target_pos, v + 3, 3 * sizeof(double));
    env_set_body_pos(e, e->task_ids[ID_CABINET_BODY], cabinet_at_goal ? e->target_pos : v);
    env_set_joint_qpos(e, e->task_ids[ID_SLIDE_X], qx, 0);
    env_set_joint_qpos(e, e->task_ids[ID_SLIDE_Y], qy, 0);
    env_forward(e);
}

static void reset_into(env_sawyer *e) { place(e, 1, 0.0, 0.0); }
static void reset_back(env_sawyer *e) { place(e, 0, 0.0, 0.15); }
static void reset_back_side(env_sawyer *e) { place(e, 0, -0.15, 0.0); }

/* Plate centre; its orientation x, y, z, w (always the identity: the plate
 * cannot rotate). */
static void object_obs(const env_sawyer *e, double out[7])
{
    memcpy(out, env_geom_xpos(e, e->task_ids[ID_PLATE_GEOM]), 3 * sizeof(double));
    env_quat_xyzw_from_mat(env_geom_xmat(e, e->task_ids[ID_PLATE_GEOM]), out + 3);
}

#define TARGET_RADIUS 0.05

/* Shared reward terms; margin_cut is 0 for plate-slide and TARGET_RADIUS for
 * the other three (their margins are shrunk by the radius). */
static double terms(env_sawyer *e, const double *obs, double margin_cut, double *in_place,
                    double *near, env_info *info)
{
    const double *o = obs + 4;
    double tcp[3];
    env_tcp_center(e, tcp);
    double d = env_dist3(o, e->target_pos), c = env_dist3(tcp, o);
    *in_place = rw_tolerance(d, 0, TARGET_RADIUS,
                             env_dist3(e->obj_init_pos, e->target_pos) - margin_cut, RW_LONG_TAIL);
    *near = rw_tolerance(c, 0, TARGET_RADIUS,
                         env_dist3(e->init_tcp, e->obj_init_pos) - margin_cut, RW_LONG_TAIL);
    rw_info_set(info, d <= 0.07, c <= 0.03, 0, *near, *in_place, d);
    return c;
}

static double reward_into(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    (void)a;
    double ip, near;
    terms(e, obs, 0.0, &ip, &near, info);
    return info->obj_to_target < TARGET_RADIUS ? 10.0 : 8.0 * rw_hamacher(near, ip);
}

/* side, back, back-side: a flat bonus once the fingertips are down at the
 * plate (tcp at most 3 cm high and within 7 cm of the plate centre). */
static double reward_low(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    (void)a;
    double ip, near;
    double c = terms(e, obs, TARGET_RADIUS, &ip, &near, info);
    double tcp[3];
    env_tcp_center(e, tcp);
    double r = 1.5 * near;
    if (tcp[2] <= 0.03 && c < 0.07)
        r = 2.0 + 7.0 * ip;
    return info->obj_to_target < TARGET_RADIUS ? 10.0 : r;
}

/* ---- scripted policies ----
 * The hand presses the closed fingertips onto the plate's top and drags it
 * by friction: the pads' friction under the weld's downward pull is far
 * more than the slides' damping, and than the soft x limit the plate must
 * overrun in plate-slide-side (goals at x -0.3..-0.25, limit -0.2). Dragging
 * also lines the plate up sideways with the cabinet, whose floor rails leave
 * only 4.2 cm on either side of it. The closed fingers span y in
 * [h.y - 0.013, h.y + 0.023] and x +-0.015 around the hand; the fingertips
 * are 0.045 below the hand. */

/* Fingertips onto the plate at offset (dx, dy) from its centre (from 15 cm
 * above, clear of the plate and cabinet rails), pressed down (the target
 * height 0 is below the mocap's floor, so the hand keeps pushing), then the
 * hand carries the plate so that its centre goes to dest. */
static void drag(const double *obs, double dx, double dy, const double dest[2], double *a)
{
    const double *h = obs, *o = obs + 4;
    double grip[2] = {o[0] + dx, o[1] + dy}, t[3];
    if (hypot(h[0] - grip[0], h[1] - grip[1]) > 0.015) {
        t[0] = grip[0], t[1] = grip[1], t[2] = 0.15;
    } else if (h[2] > 0.085) {
        t[0] = grip[0], t[1] = grip[1], t[2] = 0.0;
    } else {
        t[0] = dest[0] + dx, t[1] = dest[1] + dy, t[2] = 0.0;
    }
    env_move_to(h, t, 10, a);
    a[3] = 1.0;
}

/* The fingertips press on the part of the plate that stays outside the
 * cabinet while it goes in or comes out, so the hand never enters it: the
 * part toward the robot in the front scene, the +x part in the side scene. */
static void policy_front(const double *obs, double *a) { drag(obs, 0.0, -0.03, obs + 36, a); }
static void policy_side(const double *obs, double *a) { drag(obs, 0.03, -0.005, obs + 36, a); }

#define PLATE_COMMON                                                                           \
    .edits_model = 1, .hand_init_pos = {0, 0.6, 0.2}, .hand_low = {-0.5, 0.40, 0.05},          \
    .hand_high = {0.5, 1.0, 0.5}, .rand_dim = 6, .setup = setup, .object_obs = object_obs

const env_task_def env_task_plate_slide_v2 = {
    .name = "plate-slide-v2",
    .scene = "sawyer_plate_slide.xml",
    PLATE_COMMON,
    .rand_low = {0, 0.6, 0, -0.1, 0.85, 0},
    .rand_high = {0, 0.6, 0, 0.1, 0.9, 0},
    .goal_low = {-0.1, 0.85, 0},
    .goal_high = {0.1, 0.9, 0},
    .reset = reset_into,
    .reward = reward_into,
    .policy = policy_front,
};

const env_task_def env_task_plate_slide_side_v2 = {
    .name = "plate-slide-side-v2",
    .scene = "sawyer_plate_slide_sideway.xml",
    PLATE_COMMON,
    .rand_low = {0, 0.6, 0, -0.3, 0.54, 0},
    .rand_high = {0, 0.6, 0, -0.25, 0.66, 0},
    .goal_low = {-0.3, 0.54, 0},
    .goal_high = {-0.25, 0.66, 0},
    .reset = reset_into,
    .reward = reward_low,
    .policy = policy_side,
};

const env_task_def env_task_plate_slide_back_v2 = {
    .name = "plate-slide-back-v2",
    .scene = "sawyer_plate_slide.xml",
    PLATE_COMMON,
    .rand_low = {0, 0.85, 0, -0.1, 0.6, 0.015},
    .rand_high = {0, 0.85, 0, 0.1, 0.6, 0.015},
    .goal_low = {-0.1, 0.6, 0.015},
    .goal_high = {0.1, 0.6, 0.015},
    .reset = reset_back,
    .reward = reward_low,
    .policy = policy_front,
};

const env_task_def env_task_plate_slide_back_side_v2 = {
    .name = "plate-slide-back-side-v2",
    .scene = "sawyer_plate_slide_sideway.xml",
    PLATE_COMMON,
    .rand_low = {-0.25, 0.6, 0, -0.05, 0.6, 0.015},
    .rand_high = {-0.25, 0.6, 0, 0.15, 0.6, 0.015},
    .goal_low = {-0.05, 0.6, 0.015},
    .goal_high = {0.15, 0.6, 0.015},
    .reset = reset_back_side,
    .reward = reward_low,
    .policy = policy_side,
};
