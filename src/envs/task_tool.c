/* hammer-v2, stick-push-v2, stick-pull-v2 (spec metaworld-mt50.md §4.L): use
 * a free tool on a second object, both observed (obs[4:11] the tool,
 * obs[11:18] the second object). hammer (sawyer_hammer.xml): drive the nail
 * of a fixed block 9 cm in with the hammer's head. stick-push and stick-pull
 * (one scene, sawyer_stick_obj.xml): move a thermos on its x/y slides with a
 * stick, pushing it with the stick's end or pulling it with the stick put
 * through its handle loop. The scripted policies grasp the tool and steer it
 * from the observed poses. */
#include <math.h>
#include <string.h>

#include "reward.h"
#include "task.h"
#include "task_family_grasp.h"

/* Holding a tool at grasp point q: hand xy within 2 cm of it, 1.5 to 6 cm
 * above it, the fingers closed and stopped (opening below 0.8 and steady
 * since the previous frame, obs[21]). */
static int holds(const double *obs, const double q[3])
{
    const double *h = obs;
    double dz = h[2] - q[2];
    return hypot(h[0] - q[0], h[1] - q[1]) < 0.02 && dz > 0.015 && dz < 0.06 && obs[3] < 0.8 &&
           fabs(obs[3] - obs[21]) < 0.01;
}

/* Hand target that moves the point p (a point of the held tool) to t. */
static void carry_to(const double *obs, const double p[3], const double t[3], double grip,
                     double *a)
{
    double ht[3];
    for (int i = 0; i < 3; i++)
        ht[i] = obs[i] + t[i] - p[i];
    env_move_to(obs, ht, 10, a);
    a[3] = grip;
}

/* Rotates v by the unit quaternion q (w, x, y, z). */
static void quat_rotate(const double q[4], const double v[3], double out[3])
{
    double w = q[0], x = q[1], y = q[2], z = q[3];
    double tx = 2 * (y * v[2] - z * v[1]), ty = 2 * (z * v[0] - x * v[2]),
           tz = 2 * (x * v[1] - y * v[0]);
    out[0] = v[0] + w * tx + (y * tz - z * ty);
    out[1] = v[1] + w * ty + (z * tx - x * tz);
    out[2] = v[2] + w * tz + (x * ty - y * tx);
}

/* ======================= hammer-v2 ======================= */

enum { HM_BODY, HM_JOINT, HM_NAIL_BODY, HM_NAIL_JOINT, HM_GOAL_SITE };

static int setup_hammer(env_sawyer *e, mtrl_err *err)
{
    int *id = e->task_ids;
    if (env_lookup(e, mjOBJ_BODY, "hammer", &id[HM_BODY], err) ||
        env_lookup(e, mjOBJ_JOINT, "hammer_joint", &id[HM_JOINT], err) ||
        env_lookup(e, mjOBJ_BODY, "nail_link", &id[HM_NAIL_BODY], err) ||
        env_lookup(e, mjOBJ_JOINT, "NailSlideJoint", &id[HM_NAIL_JOINT], err) ||
        env_lookup(e, mjOBJ_SITE, "goal", &id[HM_GOAL_SITE], err))
        return err->code;
    return 0;
}

/* The block stays at its XML spot (the original writes that same position);
 * the target is its fixed "goal" site, where the nail head ends when driven
 * all the way in. The hammer's centre goes to the drawn spot at z 0, so it
 * starts half inside the table and is pushed out in the first steps, keeping
 * the orientation it settled to during the hand reset. */
static void reset_hammer(env_sawyer *e)
{
    memcpy(e->target_pos, env_site_xpos(e, e->task_ids[HM_GOAL_SITE]), 3 * sizeof(double));
    memcpy(e->obj_init_pos, e->rand_vec, 3 * sizeof(double));
    env_set_obj_xyz(e, e->task_ids[HM_JOINT], e->obj_init_pos);
}

static void obs_body_wxyz(const env_sawyer *e, int b, double out[7])
{
    memcpy(out, env_body_xpos(e, b), 3 * sizeof(double));
    memcpy(out + 3, env_body_xquat(e, b), 4 * sizeof(double));
}

static void obs_hammer(const env_sawyer *e, double out[7])
{
    obs_body_wxyz(e, e->task_ids[HM_BODY], out);
}

static void obs_nail(const env_sawyer *e, double out[7])
{
    obs_body_wxyz(e, e->task_ids[HM_NAIL_BODY], out);
}

/* The grasp term sees the hammer's centre moved to the hand's x while the
 * hand is within half a handle length of it (the handle is no sphere); the
 * in-place term wants the head (hammer + (0.16, 0.06, 0)) on the driven
 * nail's head, with 0.1 for merely lifting it; everything is scaled by how
 * close the hammer's quaternion stays to identity. Success is the nail's
 * travel alone; the reward jumps to 10 only when it is also above 5, as the
 * original guards against knocking the nail in some other way. */
static double reward_hammer(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    const double *hand = obs, *hm = obs + 4, *q = obs + 7;
    double head[3] = {hm[0] + 0.16, hm[1] + 0.06, hm[2]};
    double ht[3] = {hm[0], hm[1], hm[2]};
    if (fabs(hm[0] - hand[0]) < 0.14 / 2)
        ht[0] = hand[0];
    double qe[4] = {q[0] - 1, q[1], q[2], q[3]};
    double rq = fmax(1 - sqrt(qe[0] * qe[0] + qe[1] * qe[1] + qe[2] * qe[2] + qe[3] * qe[3]) / 0.4,
                     0.0);
    const rw_caging p = {.obj_radius = 0.015, .pad_success_thresh = 0.02,
                         .object_reach_radius = 0.01, .xz_thresh = 0.01,
                         .desired_gripper_effort = 1, .high_density = 1};
    double g = rw_gripper_caging(e, a, ht, &p);
    double ip = 0.1 * (head[2] > 0.02) +
                0.9 * rw_tolerance(env_dist3(e->target_pos, head), 0, 0.02, 0.2, RW_LONG_TAIL);
    double r = (2 * g + 6 * ip) * rq;
    int success = env_joint_qpos(e, e->task_ids[HM_NAIL_JOINT]) > 0.09;
    if (success && r > 5)
        r = 10;
    rw_info_set(info, success, rq, g >= 0.5, g, ip, 0);
    return r;
}

/* Grasp the handle 6 cm from the hammer's centre, towards the heavy head
 * (the centre of mass is 14.6 cm out) yet within the 7 cm in which the
 * reward's grasp term sees the hand on the handle; lift it, bring the
 * striking face (the +y face of the head, 7.2 cm from the axis) level with
 * the nail head and in front of it, then drive it in along +y. Positions of
 * head and grip come from the observed pose, so a hammer that tilts in the
 * grip is steered all the same. */
#define HM_GRIP_X 0.06
static void policy_hammer(const double *obs, double *a)
{
    const double *hm = obs + 4, *q = obs + 7, *nail = obs + 11;
    static const double grip_local[3] = {HM_GRIP_X, 0, 0}, face_local[3] = {0.16, 0.072, 0};
    double grip[3], face[3];
    quat_rotate(q, grip_local, grip);
    quat_rotate(q, face_local, face);
    for (int i = 0; i < 3; i++)
        grip[i] += hm[i], face[i] += hm[i];
    if (!holds(obs, grip)) {
        env_grasp_plan p = {.grasp = {grip[0], grip[1], grip[2] + 0.035}, .above = 0.08,
                            .xy_tol = 0.01, .z_tol = 0.008, .grip = 1, .p = 10};
        env_grasp_approach(obs, &p, a);
        return;
    }
    /* The nail head's face is 9 mm in front of nail_link. */
    double ready[3] = {nail[0], nail[1] - 0.04, nail[2]};
    double t[3];
    if (face[2] < nail[2] - 0.03) {
        env_set3(t, face[0], face[1], nail[2]); /* lift first */
    } else if (fabs(face[0] - ready[0]) > 0.01 || fabs(face[2] - ready[2]) > 0.01) {
        env_set3(t, ready[0], fmin(face[1], ready[1]), ready[2]);
    } else {
        env_set3(t, ready[0], nail[1] + 0.15, ready[2]); /* strike through */
    }
    carry_to(obs, face, t, 1, a);
}

const env_task_def env_task_hammer_v2 = {
    .name = "hammer-v2",
    .scene = "sawyer_hammer.xml",
    .hand_init_pos = {0, 0.4, 0.2},
    .hand_low = {-0.5, 0.40, 0.05},
    .hand_high = {0.5, 1.0, 0.5},
    .rand_dim = 3,
    .rand_low = {-0.1, 0.4, 0.0},
    .rand_high = {0.1, 0.5, 0.0},
    .goal_low = {0.2399, 0.7399, 0.109},
    .goal_high = {0.2401, 0.7401, 0.111},
    .setup = setup_hammer,
    .reset = reset_hammer,
    .object_obs = obs_hammer,
    .reward = reward_hammer,
    .policy = policy_hammer,
    .object2_obs = obs_nail,
};

/* ======================= stick-push-v2, stick-pull-v2 ======================= */

enum {
    ST_BODY,
    ST_JOINT,
    ST_END_SITE,
    ST_THERMOS,   /* body "object": the thermos's fixed parent frame */
    ST_INSERTION, /* site at the centre of the handle loop */
    ST_SLIDE_X,
    ST_SLIDE_Y,
};
enum { ST_INIT }; /* task_vals[0:3]: the stick's start */

static int setup_stick(env_sawyer *e, mtrl_err *err)
{
    int *id = e->task_ids;
    if (env_lookup(e, mjOBJ_BODY, "stick", &id[ST_BODY], err) ||
        env_lookup(e, mjOBJ_JOINT, "stick_joint", &id[ST_JOINT], err) ||
        env_lookup(e, mjOBJ_SITE, "stick_end", &id[ST_END_SITE], err) ||
        env_lookup(e, mjOBJ_BODY, "object", &id[ST_THERMOS], err) ||
        env_lookup(e, mjOBJ_SITE, "insertion", &id[ST_INSERTION], err) ||
        env_lookup(e, mjOBJ_JOINT, "obj_slidex", &id[ST_SLIDE_X], err) ||
        env_lookup(e, mjOBJ_JOINT, "obj_slidey", &id[ST_SLIDE_Y], err))
        return err->code;
    return 0;
}

/* Stick and thermos at least 0.1 apart in xy, as the original redraws. */
static int accept_stick(const double *v) { return hypot(v[0] - v[3], v[1] - v[4]) >= 0.1; }

/* The stick (orientation kept from the hand reset) goes to (v0, v1, 0.02),
 * the thermos's slides to (qx, qy), both at rest. obj_init_pos is the
 * position of body "object", the thermos's fixed parent frame (0.2, 0.6, 0),
 * as the original reads it; with stick-pull's qy = 0.09 the thermos itself
 * stands 9 cm further in y. */
static void reset_stick(env_sawyer *e, double qx, double qy)
{
    const int *id = e->task_ids;
    const double *v = e->rand_vec;
    double *s0 = e->task_vals + ST_INIT;
    env_set3(s0, v[0], v[1], 0.02);
    env_set_obj_xyz(e, id[ST_JOINT], s0);
    env_set_joint_qpos(e, id[ST_SLIDE_X], qx, 1);
    env_set_joint_qpos(e, id[ST_SLIDE_Y], qy, 1);
    env_forward(e);
    memcpy(e->obj_init_pos, env_body_xpos(e, id[ST_THERMOS]), 3 * sizeof(double));
}

/* stick-push: the target's height is the handle's (0.132), which is where
 * the observed thermos point sits too. */
static void reset_stick_push(env_sawyer *e)
{
    const double *v = e->rand_vec;
    env_set3(e->target_pos, v[3], v[4], env_site_xpos(e, e->task_ids[ST_INSERTION])[2]);
    reset_stick(e, 0, 0);
}

/* stick-pull: the target lies on the table (z 0.02), 11.2 cm under the
 * handle loop that has to reach it. */
static void reset_stick_pull(env_sawyer *e)
{
    const double *v = e->rand_vec;
    env_set3(e->target_pos, v[3], v[4], 0.02);
    reset_stick(e, 0, 0.09);
}

static void obs_stick(const env_sawyer *e, double out[7])
{
    int b = e->task_ids[ST_BODY];
    memcpy(out, env_body_xpos(e, b), 3 * sizeof(double));
    env_quat_xyzw_from_mat(e->d->xmat + 9 * b, out + 3);
}

/* stick-push observes the thermos's axis at the loop's height, stick-pull
 * the loop's centre; neither reports a quaternion for it. */
static void obs_thermos_axis(const env_sawyer *e, double out[7])
{
    const double *s = env_site_xpos(e, e->task_ids[ST_INSERTION]);
    env_set3(out, s[0], s[1] + 0.09, s[2]);
    memset(out + 3, 0, 4 * sizeof(double));
}

static void obs_handle(const env_sawyer *e, double out[7])
{
    memcpy(out, env_site_xpos(e, e->task_ids[ST_INSERTION]), 3 * sizeof(double));
    memset(out + 3, 0, 4 * sizeof(double));
}

/* stick-push. The grasp term is the base caging reward with the stick's start
 * in place of obj_init_pos (the class overrides it so); once the stick is held
 * up at the fingers, 2 + 5 x stick-near-target + 3 x thermos-near-target, and
 * 10 with the thermos within 12 cm. Success also needs the stick held up
 * (the original's contact test is a truth value, spec Appendix E.9). */
static double reward_stick_push(env_sawyer *e, const double *obs, const double *a,
                                env_info *info)
{
    const double radius = 0.12;
    const double *g = e->target_pos, *s0 = e->task_vals + ST_INIT, *ct = obs + 11;
    double st[3] = {obs[4] + 0.015, obs[5], obs[6]};
    double tcp_to_stick = env_tcp_dist(e, st);
    double sip = rw_tolerance(env_dist3(st, g), 0, radius, env_dist3(s0, g) - radius, RW_LONG_TAIL);
    double ct_d = env_dist3(ct, g);
    double cip = rw_tolerance(ct_d, 0, radius, env_dist3(e->obj_init_pos, g) - radius, RW_LONG_TAIL);
    const rw_caging p = {.obj_radius = 0.04, .pad_success_thresh = 0.05,
                         .object_reach_radius = 0.01, .xz_thresh = 0.01,
                         .desired_gripper_effort = 1, .high_density = 1};
    double obj_init[3];
    memcpy(obj_init, e->obj_init_pos, sizeof obj_init);
    memcpy(e->obj_init_pos, s0, sizeof obj_init);
    double grasp = rw_gripper_caging(e, a, st, &p);
    memcpy(e->obj_init_pos, obj_init, sizeof obj_init);
    double r = grasp;
    if (tcp_to_stick < 0.02 && obs[3] > 0 && st[2] - 0.01 > s0[2]) {
        grasp = 1;
        r = ct_d <= radius ? 10.0 : 2 + 5 * sip + 3 * cip;
    }
    int held_up = obs[3] > 0 && obs[6] - 0.01 > s0[2];
    rw_info_set(info, held_up && ct_d <= radius, tcp_to_stick <= 0.03, held_up, grasp, sip, ct_d);
    return r;
}

/* stick-pull: the stick's end is "inserted" when it is past the loop's
 * centre in x and within 4 cm (y) and 6 cm (z) of it. */
static int stick_inserted(const double *h, const double *end)
{
    return end[0] >= h[0] && fabs(end[1] - h[1]) <= 0.04 && fabs(end[2] - h[2]) <= 0.06;
}

/* stick-pull. Terms: the stick towards the point 5 cm past the loop
 * (z errors count twice), the stick towards the target, that point towards
 * the target, and the base caging reward (whose margins use obj_init_pos,
 * the thermos's frame: the original passes no stick start here). Held up
 * at the fingers: 1 + ... + 5 x stick-to-loop; inserted: 1 + ... + 5 +
 * 2 x stick-to-target + loop-to-target; 10 with the loop within 12 cm of the
 * target and the stick inserted. */
static double reward_stick_pull(env_sawyer *e, const double *obs, const double *a,
                                env_info *info)
{
    const double radius = 0.05;
    const double *g = e->target_pos, *s0 = e->task_vals + ST_INIT, *st = obs + 4, *h = obs + 11;
    const double *end = env_site_xpos(e, e->task_ids[ST_END_SITE]);
    double ct[3] = {h[0] + 0.05, h[1], h[2]};
    double ct0[3] = {e->obj_init_pos[0] + 0.05, e->obj_init_pos[1], e->obj_init_pos[2]};
    double dsc[3] = {st[0] - ct[0], st[1] - ct[1], 2 * (st[2] - ct[2])};
    double dsc0[3] = {s0[0] - ct0[0], s0[1] - ct0[1], 2 * (s0[2] - ct0[2])};
    double sip = rw_tolerance(env_norm3(dsc), 0, radius, env_norm3(dsc0), RW_LONG_TAIL);
    double sip2 = rw_tolerance(env_dist3(st, g), 0, radius, env_dist3(s0, g), RW_LONG_TAIL);
    double cip = rw_tolerance(env_dist3(ct, g), 0, radius, env_dist3(e->obj_init_pos, g),
                              RW_LONG_TAIL);
    const rw_caging p = {.obj_radius = 0.014, .pad_success_thresh = 0.05,
                         .object_reach_radius = 0.01, .xz_thresh = 0.01,
                         .desired_gripper_effort = 1, .high_density = 1};
    double grasp = rw_gripper_caging(e, a, st, &p);
    double tcp_to_stick = env_tcp_dist(e, st);
    int gs = tcp_to_stick < 0.02 && obs[3] > 0 && st[2] - 0.01 > s0[2];
    if (gs)
        grasp = 1;
    double gi = rw_hamacher(grasp, sip);
    double h_d = env_dist3(h, g);
    int inserted = stick_inserted(h, end);
    double r = gi;
    if (gs) {
        r = 1 + gi + 5 * sip;
        if (inserted)
            r = h_d <= 0.12 ? 10.0 : 1 + gi + 5 + 2 * sip2 + cip;
    }
    rw_info_set(info, h_d <= 0.12 && inserted, tcp_to_stick <= 0.03,
                obs[3] > 0 && st[2] - 0.02 > e->obj_init_pos[2], grasp, sip, h_d);
    return r;
}

/* Grasp the stick dx from its centre (negative: its -x half, leaving its
 * +x end free), with the fingertips 1.5 cm under its centre line. */
static int stick_grasp(const double *obs, double dx, double grasp[3], double *a)
{
    const double *s = obs + 4;
    env_set3(grasp, s[0] + dx, s[1], s[2]);
    if (holds(obs, grasp))
        return 1;
    env_grasp_plan p = {.grasp = {grasp[0], grasp[1], s[2] + 0.03}, .above = 0.08,
                        .xy_tol = 0.01, .z_tol = 0.008, .grip = 1, .p = 10};
    env_grasp_approach(obs, &p, a);
    return 0;
}

/* stick-push: lift the stick to the thermos's middle height, line it up
 * with the thermos's axis in y, and push the thermos in +x with the stick's
 * end until it is within 4 cm of the target's x (a 12 cm radius counts). */
static void policy_stick_push(const double *obs, double *a)
{
    const double *s = obs + 4, *c = obs + 11, *g = obs + 36;
    double grasp[3];
    if (!stick_grasp(obs, -0.02, grasp, a))
        return;
    const double z = 0.13;
    double t[3];
    if (s[2] < z - 0.03)
        env_set3(t, s[0], s[1], z); /* lift first */
    else if (fabs(s[1] - c[1]) > 0.01 || fabs(s[2] - z) > 0.01)
        env_set3(t, fmin(s[0], c[0] - 0.2), c[1], z);
    else
        env_set3(t, g[0] - 0.04 - 0.06 - 0.05, c[1], z); /* end on the thermos's wall */
    carry_to(obs, s, t, 1, a);
}

/* stick-pull: lift the stick to the loop's height, line it up in front of
 * the loop 2 cm towards its outer bar, push it through until the fingers
 * meet the bar, then drag the loop to the target: the stick pulls the bar
 * towards -y, the fingers push it towards +x. */
static void policy_stick_pull(const double *obs, double *a)
{
    const double *s = obs + 4, *h = obs + 11, *g = obs + 36;
    double grasp[3];
    if (!stick_grasp(obs, -0.03, grasp, a))
        return;
    double end_x = s[0] + 0.05, t[3];
    double line_y = h[1] - 0.02, line_z = h[2];
    int aligned = fabs(s[1] - line_y) < 0.01 && fabs(s[2] - line_z) < 0.01;
    if (s[2] < line_z - 0.04 && end_x < h[0] - 0.05) {
        env_set3(t, fmin(s[0], h[0] - 0.15), s[1], line_z); /* lift first */
    } else if (end_x < h[0] + 0.03) {
        if (aligned)
            env_set3(t, h[0] + 0.02, line_y, line_z); /* through the loop */
        else
            env_set3(t, fmin(s[0], h[0] - 0.15), line_y, line_z);
    } else {
        /* pull: move the loop's centre over the target */
        env_set3(t, s[0] + g[0] - h[0], s[1] + g[1] - h[1], line_z);
    }
    carry_to(obs, s, t, 1, a);
}

#define STICK_COMMON                                                                           \
    .scene = "sawyer_stick_obj.xml", .hand_init_pos = {0, 0.6, 0.2}, .hand_high = {0.5, 1.0, 0.5}, \
    .rand_dim = 6, .accept_rand = accept_stick, .setup = setup_stick, .object_obs = obs_stick

const env_task_def env_task_stick_push_v2 = {
    .name = "stick-push-v2",
    STICK_COMMON,
    .hand_low = {-0.5, 0.40, 0.05},
    .rand_low = {-0.08, 0.58, 0.0, 0.399, 0.55, 0.1319},
    .rand_high = {-0.03, 0.62, 0.001, 0.401, 0.6, 0.1321},
    .goal_low = {0.399, 0.55, 0.1319},
    .goal_high = {0.401, 0.6, 0.1321},
    .reset = reset_stick_push,
    .reward = reward_stick_push,
    .policy = policy_stick_push,
    .object2_obs = obs_thermos_axis,
};

const env_task_def env_task_stick_pull_v2 = {
    .name = "stick-pull-v2",
    STICK_COMMON,
    .hand_low = {-0.5, 0.35, 0.05},
    .rand_low = {-0.1, 0.55, 0.0, 0.35, 0.45, 0.0199},
    .rand_high = {0.0, 0.65, 0.001, 0.45, 0.55, 0.0201},
    .goal_low = {0.35, 0.45, 0.0199},
    .goal_high = {0.45, 0.55, 0.0201},
    .reset = reset_stick_pull,
    .reward = reward_stick_pull,
    .policy = policy_stick_pull,
    .object2_obs = obs_handle,
};
