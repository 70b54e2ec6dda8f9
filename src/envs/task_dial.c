/* dial-turn-v2 (spec metaworld-mt50.md §3.3 "dial", §4.G): turn a knob on a
 * round base about the vertical axis until a point on its rim has swung
 * round toward the back. Scene sawyer_dial.xml. */
#include <math.h>
#include <string.h>

#include "reward.h"
#include "task.h"

enum { ID_DIAL_BODY, ID_KNOB_JOINT, ID_GOAL_SITE };
enum { VAL_PUSH0 = 0 }; /* 3 values: the push point at the reset */

#define DIAL_RADIUS 0.05
/* The class's TARGET_RADIUS is 0.07 (v2.0.0 and v3 alike; the spec's §4.G
 * says 0.05): success when cos(theta) <= 0.2, |theta| >= 78.5 degrees. */
#define TARGET_RADIUS 0.07
#define REACH_RADIUS 0.005
/* Where the original wants the tcp: beside the rim point, above the knob. */
static const double PUSH_OFFSET[3] = {0.05, 0.02, 0.09};

static int setup(env_sawyer *e, mtrl_err *err)
{
    if (env_lookup(e, mjOBJ_BODY, "dial", &e->task_ids[ID_DIAL_BODY], err) ||
        env_lookup(e, mjOBJ_JOINT, "knob_Joint_1", &e->task_ids[ID_KNOB_JOINT], err) ||
        env_lookup(e, mjOBJ_SITE, "goal", &e->task_ids[ID_GOAL_SITE], err))
        return err->code;
    return 0;
}

/* The rim point at the knob's angle, at the dial body's height (z = 0). */
static void rim_point(const env_sawyer *e, double out[3])
{
    const double *c = env_body_xpos(e, e->task_ids[ID_DIAL_BODY]);
    double th = env_joint_qpos(e, e->task_ids[ID_KNOB_JOINT]);
    out[0] = c[0] + DIAL_RADIUS * sin(th);
    out[1] = c[1] - DIAL_RADIUS * cos(th);
    out[2] = c[2];
}

/* The original reads the push point right after moving the dial, without
 * mj_forward, so its first episode after a task switch gets the old dial's
 * point (spec Appendix E.4); we update the kinematics first. */
static void reset(env_sawyer *e)
{
    const double *v = e->rand_vec;
    memcpy(e->obj_init_pos, v, 3 * sizeof(double));
    e->target_pos[0] = v[0];
    e->target_pos[1] = v[1] + 0.03;
    e->target_pos[2] = v[2] + 0.03;
    env_set_body_pos(e, e->task_ids[ID_DIAL_BODY], v);
    if (e->m_own)
        memcpy(e->m_own->site_pos + 3 * e->task_ids[ID_GOAL_SITE], e->target_pos,
               3 * sizeof(double));
    env_forward(e);
    double p[3];
    rim_point(e, p);
    for (int i = 0; i < 3; i++)
        e->task_vals[VAL_PUSH0 + i] = p[i] + PUSH_OFFSET[i];
}

/* The rim point, and the dial body's (constant) w,x,y,z. */
static void object_obs(const env_sawyer *e, double out[7])
{
    rim_point(e, out);
    memcpy(out + 3, env_body_xquat(e, e->task_ids[ID_DIAL_BODY]), 4 * sizeof(double));
}

/* The reach term is gated by a closed gripper command (a3 clipped to
 * [0, 1]), so it rewards pushing with closed fingers. */
static double reward(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    const double *o = obs + 4, *g = e->target_pos, *push0 = e->task_vals + VAL_PUSH0;
    double tcp[3], push[3];
    env_tcp_center(e, tcp);
    for (int i = 0; i < 3; i++)
        push[i] = o[i] + PUSH_OFFSET[i];
    double d = env_dist3(o, g);
    double in_place = rw_tolerance(d, 0, TARGET_RADIUS, fabs(env_dist3(push0, g) - TARGET_RADIUS),
                                   RW_LONG_TAIL);
    double tcp_to_push = env_dist3(push, tcp);
    double reach = rw_tolerance(tcp_to_push, 0, REACH_RADIUS,
                                fabs(env_dist3(push0, e->init_tcp) - REACH_RADIUS), RW_GAUSSIAN);
    reach = rw_hamacher(reach, fmin(fmax(a[3], 0.0), 1.0));
    rw_info_set(info, d <= TARGET_RADIUS, tcp_to_push <= 0.01, 1, reach, in_place, d);
    return 10.0 * rw_hamacher(reach, in_place);
}

/* Appendix F targets 0.96. The knob is a bar (3 cm x 9.2 cm, its top 6.6 cm
 * up) across the dial. Hover over the reward's push point (5 cm right of
 * the rim point, 9 cm up: the closed fingertips reach 1.5 cm below the bar's
 * top, right of the bar), come down, then sweep toward -x: the fingers
 * catch the bar off-centre and turn it clockwise (seen from above); the
 * push point moves with the rim point, so the sweep follows the turn. */
static void policy(const double *obs, double *a)
{
    const double *h = obs, *o = obs + 4;
    double p[3], t[3];
    for (int i = 0; i < 3; i++)
        p[i] = o[i] + PUSH_OFFSET[i];
    if (hypot(h[0] - p[0], h[1] - p[1]) > 0.02)
        t[0] = p[0], t[1] = p[1], t[2] = 0.2;
    else if (fabs(h[2] - p[2]) > 0.02)
        t[0] = p[0], t[1] = p[1], t[2] = p[2];
    else
        t[0] = p[0] - 0.05, t[1] = p[1] + 0.005, t[2] = p[2];
    for (int i = 0; i < 3; i++)
        a[i] = 10.0 * (t[i] - h[i]);
    a[3] = 1.0;
}

const env_task_def env_task_dial_turn_v2 = {
    .name = "dial-turn-v2",
    .scene = "sawyer_dial.xml",
    .edits_model = 1,
    .hand_init_pos = {0, 0.6, 0.2},
    .hand_low = {-0.5, 0.40, 0.05},
    .hand_high = {0.5, 1.0, 0.5},
    .rand_dim = 3,
    .rand_low = {-0.1, 0.7, 0.0},
    .rand_high = {0.1, 0.8, 0.0},
    .goal_low = {-0.1, 0.73, 0.0299},
    .goal_high = {0.1, 0.83, 0.0301},
    .setup = setup,
    .reset = reset,
    .object_obs = object_obs,
    .reward = reward,
    .policy = policy,
};
