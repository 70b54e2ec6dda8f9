/* button-press-v2, button-press-wall-v2, coffee-button-v2 (spec
 * metaworld-mt50.md §3.3 "buttonbox" and "coffee machine", §4.A): push a
 * button that faces the robot (-y) in along +y. The two button-box tasks
 * share scene layout, reset and observation and differ in the wall, the
 * sampling range, the reward and the success threshold; coffee-button
 * presses the coffee machine's button with button-press's reward shape.
 * (button-press-topdown-wall shares button-press-topdown's definition in
 * task_button.c.) */
#include <math.h>
#include <string.h>

#include "reward.h"
#include "task.h"
#include "task_family_button.h"

/* ---- button box (button-press, button-press-wall) ---- */

enum { ID_BUTTON_JOINT = ENV_BUTTON_NIDS };

/* The observed point is the button cap's front face, 0.193 in front of the
 * button body's origin. */
#define CAP_DY (-0.193)

static int setup_box(env_sawyer *e, mtrl_err *err)
{
    if (env_button_box_setup(e, err) ||
        env_lookup(e, mjOBJ_JOINT, "btnbox_joint", &e->task_ids[ID_BUTTON_JOINT], err))
        return err->code;
    return 0;
}

/* Box at the sampled position, button out (q = 0, at rest); the original's
 * set_state runs the kinematics before the goal site is read, so the goal
 * is this episode's hole (0.1 in front of the box origin). */
static void reset_box(env_sawyer *e)
{
    env_set_joint_qpos(e, e->task_ids[ID_BUTTON_JOINT], 0.0, 1);
    env_button_box_place(e, 1); /* pressed along y */
}

/* Cap front, and the button body's orientation as MuJoCo's w,x,y,z. */
static void object_obs_box(const env_sawyer *e, double out[7])
{
    env_button_obs(e, CAP_DY, 0, out);
}

/* button-press and coffee-button: an open gripper near the button, then a
 * bonus for pressing while the tcp is within 5 cm. Both margins are the
 * original's: "near" uses the distance from the initial tcp to the current
 * button (spec Appendix E.5), "pressed" the task's press depth. */
static double reward_press(env_sawyer *e, const double *obs, double press_margin,
                           double success_dist, env_info *info)
{
    env_button_terms t = env_button_terms_of(e, obs, 1, 0.05, press_margin);
    double r = 2.0 * rw_hamacher(fmax(obs[3], 0.0), t.near);
    if (t.tcp_to_obj <= 0.05)
        r += 8.0 * t.pressed;
    env_button_info(info, &t, obs, success_dist);
    return r;
}

/* Success needs |0.093 + q| <= 0.02, i.e. the button 1.3 cm past its
 * -0.06 limit (spec §2.2). */
static double reward_button_press(env_sawyer *e, const double *obs, const double *a,
                                  env_info *info)
{
    (void)a;
    return reward_press(e, obs, e->task_vals[ENV_BUTTON_VAL_DEPTH], 0.02, info);
}

/* The wall variant's own shaping: far from the button (> 7 cm) a closed
 * gripper near it; close to it a flat 2, plus the opening (2 to 4) and the
 * squared press term. Success 3 cm from the hole (q <= -0.063). */
static double reward_button_press_wall(env_sawyer *e, const double *obs, const double *a,
                                       env_info *info)
{
    (void)a;
    env_button_terms t = env_button_terms_of(e, obs, 1, 0.01, e->task_vals[ENV_BUTTON_VAL_DEPTH]);
    double r;
    if (t.tcp_to_obj > 0.07)
        r = 2.0 * rw_hamacher((1.0 - obs[3]) / 2.0, t.near);
    else
        r = 2.0 + 2.0 * (1.0 + obs[3]) + 4.0 * t.pressed * t.pressed;
    env_button_info(info, &t, obs, 0.03);
    return r;
}

/* ---- coffee machine (coffee-button) ---- */

enum { ID_MACHINE_BODY = 0, ID_MUG_JOINT, ID_CM_START_SITE, ID_ARM_DOF0 };
/* The coffee-button target is this far behind the button's rest position:
 * the button's full travel (0.03). */
#define CM_MAX_DIST 0.03
/* Arm and finger joints whose velocities the original's placement zeroes
 * (spec Appendix E.3: it clears qvel[9:15], which in this scene, with the
 * mug's free joint first, are these six). */
static const char *const cm_cleared[] = {"right_j3", "right_j4", "right_j5",
                                         "right_j6", "r_close",  "l_close"};
#define CM_NCLEARED ((int)(sizeof cm_cleared / sizeof cm_cleared[0]))

static int setup_coffee(env_sawyer *e, mtrl_err *err)
{
    if (env_lookup(e, mjOBJ_BODY, "coffee_machine", &e->task_ids[ID_MACHINE_BODY], err) ||
        env_lookup(e, mjOBJ_JOINT, "objjoint", &e->task_ids[ID_MUG_JOINT], err) ||
        env_lookup(e, mjOBJ_SITE, "buttonStart", &e->task_ids[ID_CM_START_SITE], err))
        return err->code;
    for (int i = 0; i < CM_NCLEARED; i++) {
        int j;
        if (env_lookup(e, mjOBJ_JOINT, cm_cleared[i], &j, err))
            return err->code;
        e->task_ids[ID_ARM_DOF0 + i] = e->m->jnt_dofadr[j];
    }
    return 0;
}

/* Machine at the sampled position, the mug under its spout (its position
 * only: the mug keeps its orientation and velocity, as the original). */
static void reset_coffee(env_sawyer *e)
{
    const double *v = e->rand_vec;
    memcpy(e->obj_init_pos, v, 3 * sizeof(double));
    env_set_body_pos(e, e->task_ids[ID_MACHINE_BODY], v);
    int qa = e->m->jnt_qposadr[e->task_ids[ID_MUG_JOINT]];
    e->d->qpos[qa] = v[0], e->d->qpos[qa + 1] = v[1] - 0.22, e->d->qpos[qa + 2] = v[2];
    for (int i = 0; i < CM_NCLEARED; i++)
        e->d->qvel[e->task_ids[ID_ARM_DOF0 + i]] = 0;
    env_forward(e);
    e->target_pos[0] = v[0];
    e->target_pos[1] = v[1] - 0.22 + CM_MAX_DIST;
    e->target_pos[2] = v[2] + 0.3;
}

/* The button's front face; the original reports a constant orientation. */
static void object_obs_coffee(const env_sawyer *e, double out[7])
{
    memcpy(out, env_site_xpos(e, e->task_ids[ID_CM_START_SITE]), 3 * sizeof(double));
    out[3] = 1, out[4] = 0, out[5] = 0, out[6] = 0;
}

/* Success: pressed at least 1 cm of its 3 cm travel (no limit forcing). */
static double reward_coffee(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    (void)a;
    return reward_press(e, obs, CM_MAX_DIST, 0.02, info);
}

/* ---- scripted policies ----
 * The closed fingers press with the +y finger's outer face, which sits
 * 0.023 in front of the hand and spans 4.5 cm above and below the hand's
 * height: line the hand up with the button's centre, then drive it along
 * +y to a point behind the button, so the mocap runs ahead and forces the
 * light button past its soft limit. */

static void press_front(const double *obs, double *a)
{
    const double *h = obs, *o = obs + 4;
    double t[3] = {o[0], o[1] + 0.05, o[2]};
    if (fabs(h[0] - o[0]) > 0.015 || fabs(h[2] - o[2]) > 0.015)
        t[1] = fmin(h[1], o[1] - 0.1);
    env_move_to(h, t, 25, a);
    a[3] = 1.0;
}

/* The wall (x 0..0.2, y 0.59..0.61, 15 cm high) stands between the start and
 * the right half of the button's range, as high as the cap. The fingers go
 * round its left end at button height: sideways to x <= -0.035 while in
 * front of the wall, forward into the lane between the wall's back face and
 * the cap, sideways to the button, and press. The lane (closed fingers span
 * y -0.013..+0.023 around the hand) is 5 mm to 5.5 cm wide depending on the
 * box position. */
#define WALL_BACK_Y 0.61
#define WALL_SIDE_X (-0.035)
static void policy_button_press_wall(const double *obs, double *a)
{
    const double *h = obs, *o = obs + 4;
    double xs = fmin(o[0], WALL_SIDE_X);
    double lane = 0.5 * ((WALL_BACK_Y + 0.017) + (o[1] - 0.027));
    double t[3] = {o[0], o[1] + 0.05, o[2]};
    if (h[1] < lane - 0.005) {
        int lined_up = fabs(h[0] - xs) <= 0.01 && fabs(h[2] - o[2]) <= 0.01;
        t[0] = xs, t[1] = lined_up ? lane : h[1], t[2] = o[2];
        if (!lined_up && h[1] > 0.55) /* never sideways near the wall: back off first */
            t[0] = h[0], t[1] = 0.5;
    } else if (fabs(h[0] - o[0]) > 0.01 && h[1] < lane + 0.01) {
        t[1] = lane;
    }
    env_move_to(h, t, 25, a);
    a[3] = 1.0;
}

/* ---- definitions ---- */

#define BOX_COMMON                                                                             \
    .edits_model = 1, .hand_init_pos = {0, 0.4, 0.2}, .hand_low = {-0.5, 0.40, 0.05},          \
    .hand_high = {0.5, 1.0, 0.5}, .rand_dim = 3, .goal_low = {-0.5, 0.40, 0.05},               \
    .goal_high = {0.5, 1.0, 0.5}, .setup = setup_box, .reset = reset_box,                      \
    .object_obs = object_obs_box

const env_task_def env_task_button_press_v2 = {
    .name = "button-press-v2",
    .scene = "sawyer_button_press.xml",
    BOX_COMMON,
    .rand_low = {-0.1, 0.85, 0.115},
    .rand_high = {0.1, 0.9, 0.115},
    .reward = reward_button_press,
    .policy = press_front,
};

const env_task_def env_task_button_press_wall_v2 = {
    .name = "button-press-wall-v2",
    .scene = "sawyer_button_press_wall.xml",
    BOX_COMMON,
    .rand_low = {-0.05, 0.85, 0.1149},
    .rand_high = {0.05, 0.9, 0.1151},
    .reward = reward_button_press_wall,
    .policy = policy_button_press_wall,
};

const env_task_def env_task_coffee_button_v2 = {
    .name = "coffee-button-v2",
    .scene = "sawyer_coffee.xml",
    .edits_model = 1,
    .hand_init_pos = {0, 0.4, 0.2},
    .hand_low = {-0.5, 0.40, 0.05},
    .hand_high = {0.5, 1.0, 0.5},
    .rand_dim = 3,
    .rand_low = {-0.1, 0.8, -0.001},
    .rand_high = {0.1, 0.9, 0.001},
    .goal_low = {-0.101, 0.61, 0.298},
    .goal_high = {0.101, 0.71, 0.302},
    .setup = setup_coffee,
    .reset = reset_coffee,
    .object_obs = object_obs_coffee,
    .reward = reward_coffee,
    .policy = press_front,
};
