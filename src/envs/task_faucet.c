/* faucet-open-v2 and faucet-close-v2 (spec metaworld-mt50.md §3.3
 * "faucet", §4.E): turn a faucet handle a quarter turn about the vertical
 * axis, to +x (open) or to -x (close). One scene (sawyer_faucet.xml), one
 * setup and reset; the variants differ in the observed handle site, the
 * point the reward measures, the goal side and the push direction. */
#include <math.h>
#include <string.h>

#include "reward.h"
#include "task.h"

enum { ID_BASE_BODY, ID_SITE_OPEN, ID_SITE_CLOSE, ID_GOAL_SITE };

#define HANDLE_LENGTH 0.175
#define TARGET_RADIUS 0.07
#define REACH_RADIUS 0.01

static int setup(env_sawyer *e, mtrl_err *err)
{
    if (env_lookup(e, mjOBJ_BODY, "faucetBase", &e->task_ids[ID_BASE_BODY], err) ||
        env_lookup(e, mjOBJ_SITE, "handleStartOpen", &e->task_ids[ID_SITE_OPEN], err) ||
        env_lookup(e, mjOBJ_SITE, "handleStartClose", &e->task_ids[ID_SITE_CLOSE], err) ||
        env_lookup(e, mjOBJ_SITE, "goal", &e->task_ids[ID_GOAL_SITE], err))
        return err->code;
    return 0;
}

/* The faucet goes to the rand-vector with its handle at q = 0 (toward the
 * robot, from mj_resetData); the goal is where the handle's end points after
 * a quarter turn, 0.125 up. The original calls no mj_forward here, so its
 * first observation shows the previous episode's faucet; we update the
 * kinematics first (spec §2 "stale read"). */
static void reset_side(env_sawyer *e, double side)
{
    const double *v = e->rand_vec;
    memcpy(e->obj_init_pos, v, 3 * sizeof(double));
    env_set_body_pos(e, e->task_ids[ID_BASE_BODY], v);
    e->target_pos[0] = v[0] + side * HANDLE_LENGTH;
    e->target_pos[1] = v[1];
    e->target_pos[2] = v[2] + 0.125;
    if (e->m_own)
        memcpy(e->m_own->site_pos + 3 * e->task_ids[ID_GOAL_SITE], e->target_pos,
               3 * sizeof(double));
    env_forward(e);
}

static void reset_open(env_sawyer *e) { reset_side(e, +1.0); }
static void reset_close(env_sawyer *e) { reset_side(e, -1.0); }

/* The handle site 1 cm lower, and faucetBase's (constant) w,x,y,z. */
static void site_obs(const env_sawyer *e, int site, double out[7])
{
    const double *p = env_site_xpos(e, e->task_ids[site]);
    out[0] = p[0], out[1] = p[1], out[2] = p[2] - 0.01;
    memcpy(out + 3, env_body_xquat(e, e->task_ids[ID_BASE_BODY]), 4 * sizeof(double));
}

static void object_obs_open(const env_sawyer *e, double out[7]) { site_obs(e, ID_SITE_OPEN, out); }
static void object_obs_close(const env_sawyer *e, double out[7])
{
    site_obs(e, ID_SITE_CLOSE, out);
}

/* p: the point the reward measures. Both margins are measured from the
 * faucet base (obj_init_pos), not from the handle. */
static double reward_at(env_sawyer *e, const double p[3], env_info *info)
{
    const double *g = e->target_pos;
    double tcp[3];
    env_tcp_center(e, tcp);
    double d = env_dist3(p, g);
    double in_place = rw_tolerance(d, 0, TARGET_RADIUS,
                                   fabs(env_dist3(e->obj_init_pos, g) - TARGET_RADIUS),
                                   RW_LONG_TAIL);
    double tcp_to_obj = env_dist3(p, tcp);
    double reach = rw_tolerance(tcp_to_obj, 0, REACH_RADIUS,
                                fabs(env_dist3(e->obj_init_pos, e->init_tcp) - REACH_RADIUS),
                                RW_GAUSSIAN);
    int success = d <= TARGET_RADIUS;
    rw_info_set(info, success, tcp_to_obj <= 0.01, 1, reach, in_place, d);
    return success ? 10.0 : 2.0 * (2.0 * reach + 3.0 * in_place);
}

/* open measures a point 4 cm toward -x and 3 cm above the observed one (the
 * original's choice); close measures the observed point itself. */
static double reward_open(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    (void)a;
    double p[3] = {obs[4] - 0.04, obs[5], obs[6] + 0.03};
    return reward_at(e, p, info);
}

static double reward_close(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    (void)a;
    return reward_at(e, obs + 4, info);
}

/* Appendix F targets 1.0 for both. Put the closed fingers 4 cm beside the
 * handle's end on the side it must leave (-x to open, +x to close), 2 cm
 * above its axis (the fingertips then reach 2.5 cm below it), and sweep
 * along the turn: +-x and +y. side: +1 open, -1 close. */
static void policy_side(const double *obs, double *a, double side)
{
    const double *h = obs, *o = obs + 4;
    double p[3] = {o[0] - side * 0.04, o[1], o[2] + 0.03}, t[3];
    if (hypot(h[0] - p[0], h[1] - p[1]) > 0.04)
        t[0] = p[0], t[1] = p[1], t[2] = p[2] + 0.1;
    else if (fabs(h[2] - p[2]) > 0.04)
        t[0] = p[0], t[1] = p[1], t[2] = p[2];
    else
        t[0] = p[0] + side * 0.1, t[1] = p[1] + 0.05, t[2] = p[2];
    for (int i = 0; i < 3; i++)
        a[i] = 25.0 * (t[i] - h[i]);
    a[3] = 1.0;
}

static void policy_open(const double *obs, double *a) { policy_side(obs, a, +1.0); }
static void policy_close(const double *obs, double *a) { policy_side(obs, a, -1.0); }

#define FAUCET_COMMON                                                                        \
    .scene = "sawyer_faucet.xml", .edits_model = 1, .hand_init_pos = {0, 0.4, 0.2},           \
    .hand_low = {-0.5, 0.40, -0.15}, .hand_high = {0.5, 1.0, 0.5}, .rand_dim = 3,             \
    .goal_low = {-0.5, 0.40, -0.15}, .goal_high = {0.5, 1.0, 0.5}, .setup = setup

const env_task_def env_task_faucet_open_v2 = {
    .name = "faucet-open-v2",
    FAUCET_COMMON,
    .rand_low = {-0.05, 0.8, 0.0},
    .rand_high = {0.05, 0.85, 0.0},
    .reset = reset_open,
    .object_obs = object_obs_open,
    .reward = reward_open,
    .policy = policy_open,
};

const env_task_def env_task_faucet_close_v2 = {
    .name = "faucet-close-v2",
    FAUCET_COMMON,
    .rand_low = {-0.1, 0.8, 0.0},
    .rand_high = {0.1, 0.85, 0.0},
    .reset = reset_close,
    .object_obs = object_obs_close,
    .reward = reward_close,
    .policy = policy_close,
};
