/* button-press-topdown-v2 (spec metaworld-mt10.md §9.7, Appendix C.4,
 * Appendix D): press a spring-loaded button down from above. Scene
 * sawyer_button_press_topdown.xml. */
#include <math.h>
#include <string.h>

#include "reward.h"
#include "task.h"

enum { ID_BOX_BODY, ID_BUTTON_BODY, ID_HOLE_SITE, ID_START_SITE };
enum { VAL_OBJ_TO_TARGET_INIT };

/* The observed point is the button's top, 0.193 above the button body. */
#define TOP_DZ 0.193

static int setup(env_sawyer *e, mtrl_err *err)
{
    if (env_lookup(e, mjOBJ_BODY, "box", &e->task_ids[ID_BOX_BODY], err) ||
        env_lookup(e, mjOBJ_BODY, "button", &e->task_ids[ID_BUTTON_BODY], err) ||
        env_lookup(e, mjOBJ_SITE, "hole", &e->task_ids[ID_HOLE_SITE], err) ||
        env_lookup(e, mjOBJ_SITE, "buttonStart", &e->task_ids[ID_START_SITE], err))
        return err->code;
    return 0;
}

/* v2 reads the goal site without updating the kinematics after moving the
 * box, so its goal is the previous episode's hole (spec §9.7, §12.7): with
 * goals sampled per episode that would press towards the wrong height and
 * xy. We update first, as v3 does; with a fixed goal the values agree. */
static void reset(env_sawyer *e)
{
    const double *v = e->rand_vec;
    memcpy(e->obj_init_pos, v, 3 * sizeof(double));
    env_set_body_pos(e, e->task_ids[ID_BOX_BODY], v);
    env_forward(e);
    memcpy(e->target_pos, env_site_xpos(e, e->task_ids[ID_HOLE_SITE]), 3 * sizeof(double));
    e->task_vals[VAL_OBJ_TO_TARGET_INIT] =
        fabs(e->target_pos[2] - env_site_xpos(e, e->task_ids[ID_START_SITE])[2]);
}

/* Button top, and the button body's orientation as MuJoCo's w,x,y,z. */
static void object_obs(const env_sawyer *e, double out[7])
{
    const double *p = env_body_xpos(e, e->task_ids[ID_BUTTON_BODY]);
    out[0] = p[0], out[1] = p[1], out[2] = p[2] + TOP_DZ;
    memcpy(out + 3, env_body_xquat(e, e->task_ids[ID_BUTTON_BODY]), 4 * sizeof(double));
}

static double reward(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    (void)a;
    const double *o = obs + 4;
    double tcp[3];
    env_tcp_center(e, tcp);
    double tcp_to_obj = env_dist3(o, tcp);
    /* The original's margin uses the current button position, not the
     * initial one. */
    double near = rw_tolerance(tcp_to_obj, 0, 0.01, env_dist3(o, e->init_tcp), RW_LONG_TAIL);
    double obj_to_target = fabs(e->target_pos[2] - o[2]);
    double pressed = rw_tolerance(obj_to_target, 0, 0.005, e->task_vals[VAL_OBJ_TO_TARGET_INIT],
                                  RW_LONG_TAIL);
    /* 1 - obs[3] rewards a closed gripper: a fist presses better. */
    double r = 5.0 * rw_hamacher(1.0 - obs[3], near);
    if (tcp_to_obj <= 0.03)
        r += 5.0 * pressed;
    rw_info_set(info, obj_to_target <= 0.02, tcp_to_obj <= 0.05, obs[3] > 0, near, pressed,
                obj_to_target);
    return r;
}

/* Appendix D: get 10 cm above the button, then drive the closed fingers
 * into it (the hand target is the button top, 4.5 cm below the fingertips'
 * reach, so the press keeps pushing past the soft joint limit). */
static void policy(const double *obs, double *a)
{
    const double *h = obs, *o = obs + 4;
    double t[3] = {o[0], o[1], o[2]};
    if (hypot(h[0] - o[0], h[1] - o[1]) > 0.04)
        t[2] += 0.1;
    for (int i = 0; i < 3; i++)
        a[i] = 25.0 * (t[i] - h[i]);
    a[3] = 1.0;
}

/* Both topdown tasks share everything but the scene. */
#define TOPDOWN_COMMON                                                                         \
    .edits_model = 1, .hand_init_pos = {0, 0.4, 0.2}, .hand_low = {-0.5, 0.40, 0.05},          \
    .hand_high = {0.5, 1.0, 0.5}, .rand_dim = 3, .rand_low = {-0.1, 0.8, 0.115},               \
    .rand_high = {0.1, 0.9, 0.115}, .goal_low = {-0.5, 0.40, 0.05},                            \
    .goal_high = {0.5, 1.0, 0.5}, .setup = setup, .reset = reset, .object_obs = object_obs,    \
    .reward = reward, .policy = policy

const env_task_def env_task_button_press_topdown_v2 = {
    .name = "button-press-topdown-v2",
    .scene = "sawyer_button_press_topdown.xml",
    TOPDOWN_COMMON,
};

/* button-press-topdown-wall-v2 (spec metaworld-mt50.md §4.A): the same task
 * (code, ranges and reward are identical in the original) with a brick wall
 * at (0.1, 0.7, 0) in front of the box; the approach from 10 cm above the
 * button clears it. */
const env_task_def env_task_button_press_topdown_wall_v2 = {
    .name = "button-press-topdown-wall-v2",
    .scene = "sawyer_button_press_topdown_wall.xml",
    TOPDOWN_COMMON,
};
