/* button-press-topdown-v2 (spec metaworld-mt10.md §9.7, Appendix C.4,
 * Appendix D): press a spring-loaded button down from above. Scene
 * sawyer_button_press_topdown.xml. */
#include <math.h>
#include <string.h>

#include "reward.h"
#include "task.h"
#include "task_family_button.h"

/* The observed point is the button's top, 0.193 above the button body. */
#define TOP_DZ 0.193

/* v2 reads the goal site without updating the kinematics after moving the
 * box, so its goal is the previous episode's hole (spec §9.7, §12.7): with
 * goals sampled per episode that would press towards the wrong height and
 * xy. We update first, as v3 does; with a fixed goal the values agree. The
 * press axis is z. */
static void reset(env_sawyer *e) { env_button_box_place(e, 2); }

/* Button top, and the button body's orientation as MuJoCo's w,x,y,z. */
static void object_obs(const env_sawyer *e, double out[7]) { env_button_obs(e, 0, TOP_DZ, out); }

static double reward(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    (void)a;
    /* The original's near margin uses the current button position, not the
     * initial one. */
    env_button_terms t = env_button_terms_of(e, obs, 2, 0.01, e->task_vals[ENV_BUTTON_VAL_DEPTH]);
    /* 1 - obs[3] rewards a closed gripper: a fist presses better. */
    double r = 5.0 * rw_hamacher(1.0 - obs[3], t.near);
    if (t.tcp_to_obj <= 0.03)
        r += 5.0 * t.pressed;
    env_button_info(info, &t, obs, 0.02);
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
    env_move_to(h, t, 25.0, a);
    a[3] = 1.0;
}

/* Both topdown tasks share everything but the scene. */
#define TOPDOWN_COMMON                                                                         \
    .edits_model = 1, .hand_init_pos = {0, 0.4, 0.2}, .hand_low = {-0.5, 0.40, 0.05},          \
    .hand_high = {0.5, 1.0, 0.5}, .rand_dim = 3, .rand_low = {-0.1, 0.8, 0.115},               \
    .rand_high = {0.1, 0.9, 0.115}, .goal_low = {-0.5, 0.40, 0.05},                            \
    .goal_high = {0.5, 1.0, 0.5}, .setup = env_button_box_setup, .reset = reset,               \
    .object_obs = object_obs, .reward = reward, .policy = policy

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
