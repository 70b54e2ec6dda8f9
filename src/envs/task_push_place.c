/* sweep-v2, sweep-into-v2, soccer-v2 (spec metaworld-mt50.md §4.K): bring one
 * free object to a place on or in the table: a block to the far right edge
 * of the table (sawyer_sweep.xml), the hole-table cube into its hole
 * (sawyer_table_with_hole.xml, shared with hand-insert), a ball into a goal
 * that the reset moves (sawyer_soccer.xml). All three score the grasp with
 * the older caging reward of spec §2.1 (rw_old_caging), which ignores the
 * gripper command; they differ in the target and the in-place term. The
 * scripted policies grasp the object and carry it there. */
#include <math.h>
#include <string.h>

#include "reward.h"
#include "task.h"
#include "task_family_grasp.h"

enum { ID_BODY, ID_JOINT, ID_GEOM, ID_GOAL_BODY };

static int setup_named(env_sawyer *e, const char *body, const char *joint, mtrl_err *err)
{
    if (env_lookup(e, mjOBJ_BODY, body, &e->task_ids[ID_BODY], err) ||
        env_lookup(e, mjOBJ_JOINT, joint, &e->task_ids[ID_JOINT], err) ||
        env_lookup(e, mjOBJ_GEOM, "objGeom", &e->task_ids[ID_GEOM], err))
        return err->code;
    return 0;
}

static int setup_obj(env_sawyer *e, mtrl_err *err) { return setup_named(e, "obj", "objjoint", err); }

static int setup_soccer(env_sawyer *e, mtrl_err *err)
{
    if (setup_named(e, "soccer_ball", "soccer_joint", err))
        return err->code;
    return env_lookup(e, mjOBJ_BODY, "goal_whole", &e->task_ids[ID_GOAL_BODY], err);
}

/* ---- observations ---- */

/* sweep: the block's body frame (its bottom face centre), MuJoCo wxyz. */
static void obs_body_wxyz(const env_sawyer *e, double out[7])
{
    int b = e->task_ids[ID_BODY];
    memcpy(out, env_body_xpos(e, b), 3 * sizeof(double));
    memcpy(out + 3, env_body_xquat(e, b), 4 * sizeof(double));
}

/* sweep-into: the cube's body frame, its geom's orientation as x, y, z, w. */
static void obs_geom_xyzw(const env_sawyer *e, double out[7])
{
    memcpy(out, env_body_xpos(e, e->task_ids[ID_BODY]), 3 * sizeof(double));
    env_quat_xyzw_from_mat(env_geom_xmat(e, e->task_ids[ID_GEOM]), out + 3);
}

/* soccer: the ball's body frame, its body orientation as x, y, z, w. */
static void obs_body_xyzw(const env_sawyer *e, double out[7])
{
    int b = e->task_ids[ID_BODY];
    memcpy(out, env_body_xpos(e, b), 3 * sizeof(double));
    env_quat_xyzw_from_mat(e->d->xmat + 9 * b, out + 3);
}

/* ---- resets ---- */

/* The block starts with its bottom 2 cm above the table and drops; the
 * target is the table's right part at the block's y. */
static void reset_sweep(env_sawyer *e)
{
    const double *v = e->rand_vec;
    env_set3(e->target_pos, 0.5, v[1], 0.01);
    env_set3(e->obj_init_pos, v[0], v[1], 0.02);
    env_set_obj_xyz(e, e->task_ids[ID_JOINT], e->obj_init_pos);
}

/* The target is always the hole's centre (the drawn goal part is unused);
 * the cube keeps the height it settled to on the raised table top during the
 * hand reset (its XML spot lies inside the top slab; it pops up to 0.07). */
static void reset_sweep_into(env_sawyer *e)
{
    const double *v = e->rand_vec;
    env_set3(e->target_pos, 0, 0.84, 0.02);
    env_set3(e->obj_init_pos, v[0], v[1], env_body_xpos(e, e->task_ids[ID_BODY])[2]);
    env_set_obj_xyz(e, e->task_ids[ID_JOINT], e->obj_init_pos);
}

/* The goal (model edit) goes to the drawn target, the ball 4 mm above its
 * resting height at the drawn spot; env_set_obj_xyz's forward pass also
 * places the moved goal. */
static void reset_soccer(env_sawyer *e)
{
    const double *v = e->rand_vec;
    memcpy(e->target_pos, v + 3, 3 * sizeof(double));
    env_set3(e->obj_init_pos, v[0], v[1], 0.03);
    env_set_body_pos(e, e->task_ids[ID_GOAL_BODY], e->target_pos);
    env_set_obj_xyz(e, e->task_ids[ID_JOINT], e->obj_init_pos);
}

/* Rejection rules of the original resets: object and target xy at least 0.15
 * apart (soccer: the drawn pair; sweep-into: the object and the hole). */
static int accept_soccer(const double *v) { return hypot(v[0] - v[3], v[1] - v[4]) >= 0.15; }
static int accept_sweep_into(const double *v) { return hypot(v[0], v[1] - 0.84) >= 0.15; }

/* ---- rewards ---- */

/* sweep and sweep-into: the caging term, plus 6 x (caging and in place);
 * 10 within 5 cm. flat: distances in the xy plane (the target takes the
 * object's own height), as sweep-into. */
static double reward_sweep_common(env_sawyer *e, const double *obs, double grip_slack,
                                  double xz_thresh, int flat, env_info *info)
{
    const double *o = obs + 4;
    double t[3] = {e->target_pos[0], e->target_pos[1], flat ? o[2] : e->target_pos[2]};
    double d = env_dist3(o, t);
    double ip = rw_tolerance(d, 0, 0.05, env_dist3(e->obj_init_pos, t), RW_LONG_TAIL);
    double g = rw_old_caging(e, o, 0.02, grip_slack, xz_thresh);
    double r = d < 0.05 ? 10.0 : 2 * g + 6 * rw_hamacher(g, ip);
    double tcp_to_obj = env_tcp_dist(e, o);
    rw_info_set(info, d <= 0.05, tcp_to_obj <= 0.03,
                env_touching(e, e->task_ids[ID_GEOM]) && obs[3] > 0, g, ip, d);
    return r;
}

static double reward_sweep(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    (void)a;
    return reward_sweep_common(e, obs, 0.01, 0.005, 0, info);
}

static double reward_sweep_into(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    (void)a;
    return reward_sweep_common(e, obs, 0.005, 0.01, 1, info);
}

/* soccer: x errors count three times. The in-place margin is the distance
 * the ball has moved from its start (spec Appendix E.5: 0 before the first
 * touch, so the term is a hard step until then), and a ball that rolls past
 * the goal line more than 10 cm to the side loses in-place reward. */
static double reward_soccer(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    (void)a;
    const double *o = obs + 4, *g = e->target_pos, *o0 = e->obj_init_pos;
    double ds[3] = {3 * (o[0] - g[0]), o[1] - g[1], o[2] - g[2]};
    double dm[3] = {3 * (o[0] - o0[0]), o[1] - o0[1], o[2] - o0[2]};
    double d_scaled = env_norm3(ds);
    double ip = rw_tolerance(d_scaled, 0, 0.07, env_norm3(dm), RW_LONG_TAIL);
    double line = g[1] - 0.1;
    if (o[1] > line && fabs(o[0] - g[0]) > 0.1)
        ip = fmin(fmax(ip - 2 * (o[1] - line) / (1 - line), 0.0), 1.0);
    double og = rw_old_caging(e, o, 0.013, 0.01, 0.005);
    double r = d_scaled < 0.07 ? 10.0 : 3 * og + 6.5 * ip;
    double d = env_dist3(o, g);
    /* grasp_success: the original tests its contact method's truth value,
     * not a contact (spec Appendix E.9). */
    rw_info_set(info, d <= 0.07, env_tcp_dist(e, o) <= 0.03, obs[3] > 0 && o[2] - 0.02 > o0[2],
                og, ip, d);
    return r;
}

/* ---- scripted policies ---- */

/* Holding: the object centre c sits between the fingertips (hand xy within
 * 2 cm, 2 to 6 cm below the hand) and the fingers have closed and stopped
 * (opening below 0.8 and steady since the previous frame, obs[21]). */
static int holds(const double *obs, const double c[3])
{
    const double *h = obs;
    double dz = h[2] - c[2];
    return hypot(h[0] - c[0], h[1] - c[1]) < 0.02 && dz > 0.02 && dz < 0.06 && obs[3] < 0.8 &&
           fabs(obs[3] - obs[21]) < 0.01;
}

/* Grasp the object (centre c, hand dz above it to close, gripper effort
 * grip) and move its centre towards dest: the hand goes where the offset
 * between hand and object puts the object on dest. */
static void grasp_bring(const double *obs, const double c[3], double dz, const double dest[3],
                        double grip, double *a)
{
    const double *h = obs;
    if (holds(obs, c)) {
        double t[3];
        for (int i = 0; i < 3; i++)
            t[i] = h[i] + dest[i] - c[i];
        env_move_to(h, t, 10, a);
        a[3] = grip;
        return;
    }
    env_grasp_plan p = {.grasp = {c[0], c[1], c[2] + dz}, .above = 0.08, .xy_tol = 0.01,
                        .z_tol = 0.008, .grip = grip, .p = 10};
    env_grasp_approach(obs, &p, a);
}

/* sweep: the block's centre is 2 cm above its observed bottom; carry it 1 cm
 * above the table to the target. */
static void policy_sweep(const double *obs, double *a)
{
    const double *o = obs + 4, *g = obs + 36;
    double c[3] = {o[0], o[1], o[2] + 0.02}, dest[3] = {g[0], g[1], 0.03};
    grasp_bring(obs, c, 0.035, dest, 1, a);
}

/* sweep-into: lift the cube 2 cm and carry it over the hole, where it drops
 * in; success counts the xy distance only. */
static void policy_sweep_into(const double *obs, double *a)
{
    const double *o = obs + 4, *g = obs + 36;
    double dest[3] = {g[0], g[1], 0.09};
    grasp_bring(obs, o, 0.035, dest, 0.6, a);
}

/* soccer: grasp the ball low, carry it in front of the goal mouth, then
 * straight in until it crosses the goal line (the ball centre within 6.5 cm
 * of the target in xy is a success). */
static void policy_soccer(const double *obs, double *a)
{
    const double *o = obs + 4, *g = obs + 36;
    double dest[3] = {g[0], g[1] - 0.05, 0.03};
    if (fabs(o[0] - g[0]) > 0.01 && o[1] > g[1] - 0.14)
        dest[1] = g[1] - 0.15; /* line up in front of the mouth first */
    grasp_bring(obs, o, 0.03, dest, 1, a);
}

#define PUSH_PLACE_COMMON                                                                      \
    .hand_init_pos = {0, 0.6, 0.2}, .hand_low = {-0.5, 0.40, 0.05}, .hand_high = {0.5, 1.0, 0.5}

const env_task_def env_task_sweep_v2 = {
    .name = "sweep-v2",
    .scene = "sawyer_sweep.xml",
    PUSH_PLACE_COMMON,
    .rand_dim = 3,
    .rand_low = {-0.1, 0.6, 0.02},
    .rand_high = {0.1, 0.7, 0.02},
    .goal_low = {0.49, 0.6, 0.0},
    .goal_high = {0.51, 0.7, 0.02},
    .setup = setup_obj,
    .reset = reset_sweep,
    .object_obs = obs_body_wxyz,
    .reward = reward_sweep,
    .policy = policy_sweep,
};

const env_task_def env_task_sweep_into_v2 = {
    .name = "sweep-into-v2",
    .scene = "sawyer_table_with_hole.xml",
    PUSH_PLACE_COMMON,
    .rand_dim = 6,
    .rand_low = {-0.1, 0.6, 0.02, -0.001, 0.8399, 0.0199},
    .rand_high = {0.1, 0.7, 0.02, 0.001, 0.8401, 0.0201},
    .goal_low = {-0.001, 0.8399, 0.0199},
    .goal_high = {0.001, 0.8401, 0.0201},
    .accept_rand = accept_sweep_into,
    .setup = setup_obj,
    .reset = reset_sweep_into,
    .object_obs = obs_geom_xyzw,
    .reward = reward_sweep_into,
    .policy = policy_sweep_into,
};

const env_task_def env_task_soccer_v2 = {
    .name = "soccer-v2",
    .scene = "sawyer_soccer.xml",
    .edits_model = 1,
    PUSH_PLACE_COMMON,
    .rand_dim = 6,
    .rand_low = {-0.1, 0.6, 0.03, -0.1, 0.8, 0.0},
    .rand_high = {0.1, 0.7, 0.03, 0.1, 0.9, 0.0},
    .goal_low = {-0.1, 0.8, 0.0},
    .goal_high = {0.1, 0.9, 0.0},
    .accept_rand = accept_soccer,
    .setup = setup_soccer,
    .reset = reset_soccer,
    .object_obs = obs_body_xyzw,
    .reward = reward_soccer,
    .policy = policy_soccer,
};
