/* reach-v2, push-v2, pick-place-v2 (spec metaworld-mt10.md §9.1-9.3,
 * Appendix C.1, scripted policies Appendix D). One scene: a free cylinder
 * "obj" on the table. */
#include <math.h>
#include <string.h>

#include "reward.h"
#include "task.h"
#include "task_family_puck.h"

enum { ID_OBJ_BODY, ID_OBJ_GEOM, ID_OBJ_JOINT };

int env_puck_setup(env_sawyer *e, mtrl_err *err)
{
    if (env_lookup(e, mjOBJ_BODY, "obj", &e->task_ids[ID_OBJ_BODY], err) ||
        env_lookup(e, mjOBJ_GEOM, "objGeom", &e->task_ids[ID_OBJ_GEOM], err) ||
        env_lookup(e, mjOBJ_JOINT, "objjoint", &e->task_ids[ID_OBJ_JOINT], err))
        return err->code;
    return 0;
}

/* Object and goal start at least 0.15 apart in xy (the original redraws). */
int env_puck_accept_far(const double *v) { return hypot(v[0] - v[3], v[1] - v[4]) >= 0.15; }

void env_puck_object_obs(const env_sawyer *e, double out[7])
{
    memcpy(out, env_body_xpos(e, e->task_ids[ID_OBJ_BODY]), 3 * sizeof(double));
    env_quat_xyzw_from_mat(env_geom_xmat(e, e->task_ids[ID_OBJ_GEOM]), out + 3);
}

/* reach and pick-place: object at the drawn position with z exactly 0.02. */
static void reset_obj_goal(env_sawyer *e)
{
    memcpy(e->target_pos, e->rand_vec + 3, 3 * sizeof(double));
    memcpy(e->obj_init_pos, e->rand_vec, 3 * sizeof(double));
    env_set_obj_xyz(e, e->task_ids[ID_OBJ_JOINT], e->obj_init_pos);
}

/* push: object and goal at the height the cylinder settled to during the
 * hand reset (about 0.019872). */
static void reset_push(env_sawyer *e)
{
    double zs = env_body_xpos(e, e->task_ids[ID_OBJ_BODY])[2];
    const double *v = e->rand_vec;
    e->target_pos[0] = v[3], e->target_pos[1] = v[4], e->target_pos[2] = zs;
    e->obj_init_pos[0] = v[0], e->obj_init_pos[1] = v[1], e->obj_init_pos[2] = zs;
    env_set_obj_xyz(e, e->task_ids[ID_OBJ_JOINT], e->obj_init_pos);
}

static double reward_reach(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    (void)obs, (void)a;
    double tcp[3];
    env_tcp_center(e, tcp);
    double d = env_dist3(tcp, e->target_pos);
    double margin = env_dist3(e->task->hand_init_pos, e->target_pos);
    double in_place = rw_tolerance(d, 0, 0.05, margin, RW_LONG_TAIL);
    /* near_object is a distance in the original, not a flag */
    rw_info_set(info, d <= 0.05, d, 1, d, in_place, d);
    return 10 * in_place;
}

static int grasped(const env_sawyer *e, const double *obs)
{
    return env_touching(e, e->task_ids[ID_OBJ_GEOM]) && obs[3] > 0 &&
           obs[6] - 0.02 > e->obj_init_pos[2];
}

static double reward_push(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    const double *o = obs + 4;
    double tcp[3];
    env_tcp_center(e, tcp);
    double tcp_to_obj = env_dist3(o, tcp), target_to_obj = env_dist3(o, e->target_pos);
    double in_place = rw_tolerance(target_to_obj, 0, 0.05,
                                   env_dist3(e->obj_init_pos, e->target_pos), RW_LONG_TAIL);
    const rw_caging p = {.obj_radius = 0.015, .pad_success_thresh = 0.05,
                         .object_reach_radius = 0.01, .xz_thresh = 0.005,
                         .desired_gripper_effort = 1, .high_density = 1};
    double og = rw_gripper_caging(e, a, o, &p);
    double r = 2 * og;
    if (tcp_to_obj < 0.02 && obs[3] > 0)
        r += 1 + r + 5 * in_place; /* the original adds to the doubled value */
    if (target_to_obj < 0.05)
        r = 10;
    rw_info_set(info, target_to_obj <= 0.05, tcp_to_obj <= 0.03, grasped(e, obs), og, in_place,
                target_to_obj);
    return r;
}

static double reward_pick_place(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    const double *o = obs + 4;
    double tcp[3];
    env_tcp_center(e, tcp);
    double obj_to_target = env_dist3(o, e->target_pos), tcp_to_obj = env_dist3(o, tcp);
    double in_place = rw_tolerance(obj_to_target, 0, 0.05,
                                   env_dist3(e->obj_init_pos, e->target_pos), RW_LONG_TAIL);
    double og = rw_pick_place_caging(e, a, o);
    double r = rw_hamacher(og, in_place);
    if (tcp_to_obj < 0.02 && obs[3] > 0 && o[2] - 0.01 > e->obj_init_pos[2])
        r += 1 + 5 * in_place;
    if (obj_to_target < 0.05)
        r = 10;
    rw_info_set(info, obj_to_target <= 0.07, tcp_to_obj <= 0.03, grasped(e, obs), og, in_place,
                obj_to_target);
    return r;
}

/* ---- scripted policies (Appendix D): a = p * (target - hand) ---- */

static void policy_reach(const double *obs, double *a)
{
    env_move_to(obs, obs + 36, 5, a);
    a[3] = 0;
}

static void policy_push(const double *obs, double *a)
{
    const double *h = obs, *o = obs + 4, *g = obs + 36;
    double op[3] = {o[0] - 0.005, o[1], o[2]}, t[3];
    if (hypot(h[0] - op[0], h[1] - op[1]) > 0.02)
        t[0] = op[0], t[1] = op[1], t[2] = op[2] + 0.2;
    else if (fabs(h[2] - op[2]) > 0.04)
        t[0] = op[0], t[1] = op[1], t[2] = op[2] + 0.03;
    else
        t[0] = g[0], t[1] = g[1], t[2] = g[2];
    env_move_to(h, t, 10, a);
    a[3] = (hypot(h[0] - o[0], h[1] - o[1]) > 0.02 || fabs(h[2] - o[2]) > 0.10) ? 0.0 : 0.6;
}

static void policy_pick_place(const double *obs, double *a)
{
    const double *h = obs, *o = obs + 4, *g = obs + 36;
    double op[3] = {o[0] - 0.005, o[1], o[2]}, t[3];
    if (hypot(h[0] - op[0], h[1] - op[1]) > 0.02)
        t[0] = op[0], t[1] = op[1], t[2] = op[2] + 0.1;
    else if (fabs(h[2] - op[2]) > 0.05 && op[2] < 0.04)
        t[0] = op[0], t[1] = op[1], t[2] = op[2] + 0.03;
    else if (obs[3] > 0.73) /* fingers still closing: hold still */
        t[0] = h[0], t[1] = h[1], t[2] = h[2];
    else
        t[0] = g[0], t[1] = g[1], t[2] = g[2];
    env_move_to(h, t, 10, a);
    a[3] = env_dist3(h, o) < 0.07 ? 1.0 : 0.0;
}

const env_task_def env_task_reach_v2 = {
    .name = "reach-v2",
    .scene = "sawyer_obj.xml",
    ENV_PUCK_DEF_COMMON,
    .rand_low = {-0.1, 0.6, 0.02, -0.1, 0.8, 0.05},
    .rand_high = {0.1, 0.7, 0.02, 0.1, 0.9, 0.3},
    .goal_low = {-0.1, 0.8, 0.05},
    .goal_high = {0.1, 0.9, 0.3},
    .reset = reset_obj_goal,
    .reward = reward_reach,
    .policy = policy_reach,
};

const env_task_def env_task_push_v2 = {
    .name = "push-v2",
    .scene = "sawyer_obj.xml",
    ENV_PUCK_DEF_COMMON,
    .rand_low = {-0.1, 0.6, 0.02, -0.1, 0.8, 0.01},
    .rand_high = {0.1, 0.7, 0.02, 0.1, 0.9, 0.02},
    .goal_low = {-0.1, 0.8, 0.01},
    .goal_high = {0.1, 0.9, 0.02},
    .reset = reset_push,
    .reward = reward_push,
    .policy = policy_push,
};

const env_task_def env_task_pick_place_v2 = {
    .name = "pick-place-v2",
    .scene = "sawyer_obj.xml",
    ENV_PUCK_DEF_COMMON,
    .rand_low = {-0.1, 0.6, 0.02, -0.1, 0.8, 0.05},
    .rand_high = {0.1, 0.7, 0.02, 0.1, 0.9, 0.3},
    .goal_low = {-0.1, 0.8, 0.05},
    .goal_high = {0.1, 0.9, 0.3},
    .reset = reset_obj_goal,
    .reward = reward_pick_place,
    .policy = policy_pick_place,
};

/* ---- shared with the MT50 variants (task_family_puck.h) ---- */

_Static_assert((int)ID_OBJ_BODY == (int)ENV_PUCK_OBJ_BODY &&
                   (int)ID_OBJ_GEOM == (int)ENV_PUCK_OBJ_GEOM &&
                   (int)ID_OBJ_JOINT == (int)ENV_PUCK_OBJ_JOINT,
               "task_family_puck.h must name the same id slots");

int env_puck_grasped(const env_sawyer *e, const double *obs) { return grasped(e, obs); }
void env_puck_reset_obj_goal(env_sawyer *e) { reset_obj_goal(e); }
void env_puck_reset_on_table(env_sawyer *e) { reset_push(e); }
double env_puck_reward_reach(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    return reward_reach(e, obs, a, info);
}
