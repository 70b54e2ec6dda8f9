/* peg-insert-side-v2 (spec metaworld-mt10.md §9.8, Appendix C.5, scripted
 * policy Appendix D): pick up a square bar lying on the table and push its
 * head sideways into the hole of a block. Scene sawyer_peg_insertion_side.xml.
 * The block is a static body whose body_pos is rewritten at reset, so every
 * env of this task owns a model copy (edits_model). */
#include <math.h>
#include <string.h>

#include "reward.h"
#include "task.h"

enum {
    ID_PEG_BODY,
    ID_PEG_JOINT, /* the peg's free joint (unnamed in the scene) */
    ID_PEG_HEAD,
    ID_PEG_GRASP,
    ID_BOX_BODY,
    ID_BRC1, /* corners of the two reward boxes in front of the hole */
    ID_TLC1,
    ID_BRC2,
    ID_TLC2,
};
/* task_vals: the peg head's position before the peg is placed (x, y, z). */
enum { VAL_HEAD_INIT = 0 };

static const double GOAL_OFFSET[3] = {0.03, 0.0, 0.13}; /* box -> hole target */

static int setup(env_sawyer *e, mtrl_err *err)
{
    int *id = e->task_ids;
    if (env_lookup(e, mjOBJ_BODY, "peg", &id[ID_PEG_BODY], err) ||
        env_lookup(e, mjOBJ_SITE, "pegHead", &id[ID_PEG_HEAD], err) ||
        env_lookup(e, mjOBJ_SITE, "pegGrasp", &id[ID_PEG_GRASP], err) ||
        env_lookup(e, mjOBJ_BODY, "box", &id[ID_BOX_BODY], err) ||
        env_lookup(e, mjOBJ_SITE, "bottom_right_corner_collision_box_1", &id[ID_BRC1], err) ||
        env_lookup(e, mjOBJ_SITE, "top_left_corner_collision_box_1", &id[ID_TLC1], err) ||
        env_lookup(e, mjOBJ_SITE, "bottom_right_corner_collision_box_2", &id[ID_BRC2], err) ||
        env_lookup(e, mjOBJ_SITE, "top_left_corner_collision_box_2", &id[ID_TLC2], err))
        return err->code;
    const mjModel *m = e->m;
    int b = id[ID_PEG_BODY];
    if (m->body_jntnum[b] != 1 || m->jnt_type[m->body_jntadr[b]] != mjJNT_FREE)
        return err_set(err, MTRL_EINPUT, "scene %s: body 'peg' must have exactly one free joint",
                       e->task->scene);
    id[ID_PEG_JOINT] = m->body_jntadr[b];
    return 0;
}

/* The original redraws while peg and box are closer than 0.1 in xy; with
 * these ranges (peg x >= 0, box x <= -0.25) that can never happen. */
static int accept_apart(const double *v) { return hypot(v[0] - v[3], v[1] - v[4]) >= 0.1; }

static void reset(env_sawyer *e)
{
    const double *peg = e->rand_vec, *box = e->rand_vec + 3;
    memcpy(e->obj_init_pos, peg, 3 * sizeof(double));
    /* Read before the peg moves: the peg still lies at its XML position, so
     * this is the same point, about (-0.1, 0.6, 0.0148), in every episode
     * (spec §12.6). It sets the in-place margin. */
    memcpy(e->task_vals + VAL_HEAD_INIT, env_site_xpos(e, e->task_ids[ID_PEG_HEAD]),
           3 * sizeof(double));
    /* z = 0.02 drops the peg from 5 mm above its rest height, as the original. */
    env_set_obj_xyz(e, e->task_ids[ID_PEG_JOINT], peg);
    /* No mj_forward after moving the box (v2): its sites are read in the
     * reward only, after the next step has recomputed the kinematics. */
    env_set_body_pos(e, e->task_ids[ID_BOX_BODY], box);
    for (int k = 0; k < 3; k++)
        e->target_pos[k] = box[k] + GOAL_OFFSET[k];
}

static void object_obs(const env_sawyer *e, double out[7])
{
    int s = e->task_ids[ID_PEG_GRASP];
    memcpy(out, env_site_xpos(e, s), 3 * sizeof(double));
    env_quat_xyzw_from_mat(env_site_xmat(e, s), out + 3);
}

/* Distance with y and z weighted twice: the head must line up with the hole
 * more tightly across the hole axis than along it. */
static double scaled_dist(const double a[3], const double b[3])
{
    double dx = a[0] - b[0], dy = 2 * (a[1] - b[1]), dz = 2 * (a[2] - b[2]);
    return sqrt(dx * dx + dy * dy + dz * dz);
}

static double reward(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    const int *id = e->task_ids;
    const double *o = obs + 4, *g = e->target_pos;
    const double *head = env_site_xpos(e, id[ID_PEG_HEAD]);
    double tcp[3];
    env_tcp_center(e, tcp);
    double tcp_to_obj = env_dist3(o, tcp);
    double obj_to_target = scaled_dist(head, g);
    double ip = rw_tolerance(obj_to_target, 0, 0.07,
                             scaled_dist(e->task_vals + VAL_HEAD_INIT, g), RW_LONG_TAIL);
    /* The two boxes (below and above the hole mouth) pull in_place down when
     * the head sits in them, i.e. when it is about to hit the block face. */
    double b1 = rw_rect_prism(head, env_site_xpos(e, id[ID_BRC1]), env_site_xpos(e, id[ID_TLC1]));
    double b2 = rw_rect_prism(head, env_site_xpos(e, id[ID_BRC2]), env_site_xpos(e, id[ID_TLC2]));
    double in_place = rw_hamacher(ip, rw_hamacher(b2, b1));

    const rw_caging p = {.obj_radius = 0.0075, .pad_success_thresh = 0.03,
                         .object_reach_radius = 0.01, .xz_thresh = 0.005,
                         .desired_gripper_effort = 1, .high_density = 1};
    double og = rw_gripper_caging(e, a, o, &p);
    int lifted = tcp_to_obj < 0.08 && obs[3] > 0 && o[2] - 0.01 > e->obj_init_pos[2];
    if (lifted)
        og = 1;
    double r = rw_hamacher(og, in_place);
    if (lifted)
        r += 1 + 5 * in_place;
    if (obj_to_target <= 0.07)
        r = 10;

    rw_info_set(info, obj_to_target <= 0.07, tcp_to_obj <= 0.03,
                tcp_to_obj < 0.02 && obs[3] > 0 && o[2] - 0.01 > e->obj_init_pos[2], og, in_place,
                obj_to_target);
    return r;
}

/* Scripted policy (Appendix D): above the grasp point, down, close, lift to
 * the hole's height on a line 0.4 m in front of it, then push in along -x.
 * The hole's x is taken as -0.35 (the lowest box x) whatever the box: the
 * head passes through the target on the way, and overshooting is harmless
 * since the hole runs through the block. */
static void policy(const double *obs, double *a)
{
    const double *h = obs, *o = obs + 4;
    const double hole[3] = {-0.35, obs[37], 0.16};
    double xy = hypot(h[0] - o[0], h[1] - o[1]), t[3];
    if (xy > 0.04)
        t[0] = o[0], t[1] = o[1], t[2] = o[2] + 0.3;
    else if (fabs(h[2] - o[2]) > 0.025)
        t[0] = o[0], t[1] = o[1], t[2] = o[2];
    else if (hypot(o[1] - hole[1], o[2] - hole[2]) > 0.03)
        t[0] = hole[0] + 0.4, t[1] = hole[1], t[2] = hole[2];
    else
        t[0] = hole[0], t[1] = hole[1], t[2] = hole[2];
    for (int k = 0; k < 3; k++)
        a[k] = 25 * (t[k] - h[k]);
    a[3] = (xy > 0.04 || fabs(h[2] - o[2]) > 0.15) ? -1.0 : 0.6;
}

const env_task_def env_task_peg_insert_side_v2 = {
    .name = "peg-insert-side-v2",
    .scene = "sawyer_peg_insertion_side.xml",
    .edits_model = 1,
    .hand_init_pos = {0, 0.6, 0.2},
    .hand_low = {-0.5, 0.40, 0.05},
    .hand_high = {0.5, 1.0, 0.5},
    .rand_dim = 6,
    /* [peg xyz, box xyz] */
    .rand_low = {0.0, 0.5, 0.02, -0.35, 0.4, -0.001},
    .rand_high = {0.2, 0.7, 0.02, -0.25, 0.7, 0.001},
    /* box range + (0.03, 0, 0.13) */
    .goal_low = {-0.32, 0.4, 0.129},
    .goal_high = {-0.22, 0.7, 0.131},
    .accept_rand = accept_apart,
    .setup = setup,
    .reset = reset,
    .object_obs = object_obs,
    .reward = reward,
    .policy = policy,
};
