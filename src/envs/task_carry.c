/* The pick-and-carry tasks of MT50 (spec metaworld-mt50.md §4.J):
 * basketball-v2, bin-picking-v2, box-close-v2, hand-insert-v2,
 * pick-out-of-hole-v2, shelf-place-v2, peg-unplug-side-v2. Each grasps one
 * free object and brings it somewhere (over a hoop, into the other bin, onto
 * the box, into the table's hole, out of the platform's hole, onto the shelf,
 * out of the socket). They share the id lookup, the "one free body, wxyz
 * quaternion" observation and the scripted grasp-and-carry controller; each
 * keeps its own reset, reward and scene. Depends on task.h and reward.h.
 *
 * Differences from the originals (also in the scenes' comments):
 *   - basketball: the ball really starts at the sampled spot (v2's reset
 *     wrote arm joints instead, spec Appendix E.2; fixed as DESIGN.md says).
 *   - box-close: the lid's two collidable meshes are their convex hulls,
 *     which are boxes up to the plate's 2 mm chamfers (spec Appendix A).
 *   - hand-insert: the hole table has no retaining walls; the shared world's
 *     walls are excluded from every contact the cube and gripper could make.
 *   - Light objects (0.01 kg) are pressed out of a full-force grip, as in
 *     the originals, so the scripted policies grip them with 0.3-0.6. */
#include <math.h>
#include <string.h>

#include "reward.h"
#include "task.h"

/* ---- shared pieces ---- */

/* task_ids slots. Every task looks up its free body, its free joint and one
 * geom; the rest are per task. */
enum { ID_BODY, ID_JOINT, ID_GEOM, ID_X1, ID_X2 };

typedef struct lookup {
    int slot, type;
    const char *name;
} lookup;

static int lookup_all(env_sawyer *e, const lookup *l, int n, mtrl_err *err)
{
    for (int i = 0; i < n; i++)
        if (env_lookup(e, l[i].type, l[i].name, &e->task_ids[l[i].slot], err))
            return err->code;
    return 0;
}

/* The free joint is found through its body, so scenes need not name it. */
static int find_free_joint(env_sawyer *e, mtrl_err *err)
{
    const mjModel *m = e->m;
    int b = e->task_ids[ID_BODY];
    if (m->body_jntnum[b] != 1 || m->jnt_type[m->body_jntadr[b]] != mjJNT_FREE)
        return err_set(err, MTRL_EINPUT, "scene %s: body '%s' must have exactly one free joint",
                       e->task->scene, mj_id2name(m, mjOBJ_BODY, b));
    e->task_ids[ID_JOINT] = m->body_jntadr[b];
    return 0;
}

#define LOOKUP_SETUP(fn, ...)                                                           \
    static int fn(env_sawyer *e, mtrl_err *err)                                         \
    {                                                                                   \
        static const lookup l[] = {__VA_ARGS__};                                        \
        if (lookup_all(e, l, (int)(sizeof l / sizeof l[0]), err))                       \
            return err->code;                                                           \
        return find_free_joint(e, err);                                                 \
    }

/* obs[4:11]: the free body's frame origin and its MuJoCo quaternion (wxyz). */
static void body_wxyz_obs(const env_sawyer *e, double out[7])
{
    int b = e->task_ids[ID_BODY];
    memcpy(out, env_body_xpos(e, b), 3 * sizeof(double));
    memcpy(out + 3, env_body_xquat(e, b), 4 * sizeof(double));
}

/* The object and the target at least 0.15 apart in xy (the originals redraw). */
static int accept_15(const double *v) { return hypot(v[0] - v[3], v[1] - v[4]) >= 0.15; }
static int accept_10(const double *v) { return hypot(v[0] - v[3], v[1] - v[4]) >= 0.1; }
static int accept_25(const double *v) { return hypot(v[0] - v[3], v[1] - v[4]) >= 0.25; }

/* ---- the scripted controller ----
 * Stateless, as the task contract asks: every phase is recognised from the
 * observation. grasp_carry() goes above the grasp point, descends, closes
 * the fingers, rises to a carrying height and then drives the grasp point
 * to the goal. Phase tests use the hand (obs[0:3]) against the object, with
 * the gripper opening obs[3] telling "closed on the object" from "still
 * closing". */

typedef struct carry_plan {
    double grasp[3];  /* where the hand (body origin) goes to close on the object */
    double above;     /* approach height of the hand above grasp[2] */
    double xy_tol;    /* hand within this of grasp xy: start descending */
    double z_tol;     /* hand within this of grasp z: close */
    double grip;      /* gripper effort once in place */
    double lift_z;    /* carrying height of the hand */
    double retreat_y; /* held and below lift_z: first back off to y <= this */
    double goal[3];   /* where the hand goes with the object */
    double p;         /* proportional gain */
} carry_plan;

/* held: the object is between the closed fingers (each task decides it from
 * the object's position relative to the hand and the gripper opening).
 * Every move is made at a safe height: the hand first reaches the approach
 * height and only then travels, and with the object it first rises (after
 * backing off to retreat_y) and only then travels at lift_z. */
static void grasp_carry(const double *obs, const carry_plan *c, int held, double *a)
{
    const double *h = obs;
    double t[3];
    double dxy = hypot(h[0] - c->grasp[0], h[1] - c->grasp[1]);
    double approach_z = c->grasp[2] + c->above;
    /* Descend only once centred, but keep descending through small drifts
     * (action noise) instead of climbing back up for every one. */
    int aligned = dxy <= c->xy_tol || (h[2] < approach_z - 0.01 && dxy <= 2 * c->xy_tol);
    if (held) {
        double gxy = hypot(h[0] - c->goal[0], h[1] - c->goal[1]);
        if (gxy > 0.02 && h[2] < c->lift_z - 0.03 && h[1] > c->retreat_y + 0.01)
            env_set3(t, h[0], c->retreat_y, h[2]);
        else if (gxy > 0.02 && h[2] < c->lift_z - 0.03)
            env_set3(t, h[0], h[1], c->lift_z);
        else if (gxy > 0.02)
            env_set3(t, c->goal[0], c->goal[1], c->lift_z);
        else
            memcpy(t, c->goal, sizeof t);
        a[3] = c->grip;
    } else if (!aligned && fabs(h[2] - approach_z) > 0.03 && dxy > 0.03) {
        env_set3(t, h[0], h[1], approach_z); /* to the approach height first */
        a[3] = -1;
    } else if (!aligned) {
        env_set3(t, c->grasp[0], c->grasp[1], approach_z);
        a[3] = -1;
    } else if (fabs(h[2] - c->grasp[2]) > c->z_tol) {
        memcpy(t, c->grasp, sizeof t);
        a[3] = -1;
    } else {
        memcpy(t, c->grasp, sizeof t); /* in place: close and wait */
        a[3] = c->grip;
    }
    env_move_to(h, t, c->p, a);
}

/* The object hangs between the closed fingers: within xy_r of the hand's
 * axis, dz_lo..dz_hi below the hand, the opening obs[3] in (open_lo,
 * open_hi) (closed on the object, not on nothing, not still closing). */
static int held_under(const double *obs, const double *o, double xy_r, double dz_lo, double dz_hi,
                      double open_lo, double open_hi)
{
    double dz = obs[2] - o[2];
    return hypot(obs[0] - o[0], obs[1] - o[1]) < xy_r && dz > dz_lo && dz < dz_hi &&
           obs[3] > open_lo && obs[3] < open_hi;
}

/* ======================= basketball-v2 ======================= */

enum { BB_HOOP = ID_X1, BB_GOAL_SITE = ID_X2 };
LOOKUP_SETUP(setup_basketball, {ID_BODY, mjOBJ_BODY, "bsktball"},
             {ID_GEOM, mjOBJ_GEOM, "objGeom"}, {BB_HOOP, mjOBJ_BODY, "basket_goal"},
             {BB_GOAL_SITE, mjOBJ_SITE, "goal"})

/* The hoop goes to v[3:6]; the ball to (v0, v1, 0.03) (the sampled ball
 * height is not used, as the original). The target is the rim centre, read
 * after the kinematics include the moved hoop. Deviation from v2 (DESIGN.md):
 * the ball really starts at the sampled spot (spec Appendix E.2). */
static void reset_basketball(env_sawyer *e)
{
    const double *v = e->rand_vec;
    env_set_body_pos(e, e->task_ids[BB_HOOP], v + 3);
    env_set3(e->obj_init_pos, v[0], v[1], 0.03);
    env_set_obj_xyz(e, e->task_ids[ID_JOINT], e->obj_init_pos);
    memcpy(e->target_pos, env_site_xpos(e, e->task_ids[BB_GOAL_SITE]), 3 * sizeof(double));
}

/* The ball has to be 5 cm above the rim (z 0.3), height errors counting twice. */
static double bb_dist(const double *p, const double *target)
{
    double dx = p[0] - target[0], dy = p[1] - target[1], dz = 2 * (p[2] - 0.3);
    return sqrt(dx * dx + dy * dy + dz * dz);
}

static double reward_basketball(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    const double radius = 0.08; /* the class's TARGET_RADIUS */
    const double *o = obs + 4;
    double d = bb_dist(o, e->target_pos);
    double ip = rw_tolerance(d, 0, radius, bb_dist(e->obj_init_pos, e->target_pos), RW_LONG_TAIL);
    double tcp_to_obj = env_tcp_dist(e, o);
    const rw_caging p = {.obj_radius = 0.025, .pad_success_thresh = 0.06,
                         .object_reach_radius = 0.01, .xz_thresh = 0.005,
                         .desired_gripper_effort = 1, .high_density = 1};
    double g = rw_gripper_caging(e, a, o, &p);
    int lifted = tcp_to_obj < 0.035 && obs[3] > 0 && o[2] - 0.01 > e->obj_init_pos[2];
    if (lifted)
        g = 1;
    double r = rw_hamacher(g, ip);
    if (lifted)
        r += 1 + 5 * ip;
    if (d < radius)
        r = 10;
    rw_info_set(info, d <= radius, tcp_to_obj <= 0.05,
                obs[3] > 0 && o[2] - 0.03 > e->obj_init_pos[2], g, ip, d);
    return r;
}

/* Close on the ball's equator, lift it above the rim, bring it over the rim
 * centre at z 0.3 (the ball hangs about 1 cm below the hand's grasp point). */
static void policy_basketball(const double *obs, double *a)
{
    const double *o = obs + 4, *g = obs + 36;
    /* The hand travels low (gripper housing under the rim) or high (ball
     * over the rim); with the ball it first backs away from the rim. The
     * ball is steered to z 0.3 wherever it sits in the grip. */
    carry_plan c = {.grasp = {o[0], o[1], o[2] + 0.036}, .above = 0.058, .xy_tol = 0.006,
                    .z_tol = 0.01, .grip = 0.8, .lift_z = 0.40, .retreat_y = g[1] - 0.12,
                    .goal = {g[0], g[1], obs[2] + 0.3 - o[2]}, .p = 10};
    grasp_carry(obs, &c, held_under(obs, o, 0.025, 0.025, 0.09, 0.35, 0.8), a);
}

const env_task_def env_task_basketball_v2 = {
    .name = "basketball-v2",
    .scene = "sawyer_basketball.xml",
    .edits_model = 1,
    .hand_init_pos = {0, 0.6, 0.2},
    .hand_low = {-0.5, 0.40, 0.05},
    .hand_high = {0.5, 1.0, 0.5},
    .rand_dim = 6,
    /* [ball xyz, hoop base xyz]; 1e-7 keeps the original's open upper bound */
    .rand_low = {-0.1, 0.6, 0.0299, -0.1, 0.85, 0},
    .rand_high = {0.1, 0.7, 0.0301, 0.1, 0.9 + 1e-7, 0},
    /* hoop range + (0, -0.083, 0.2499..0.2501) */
    .goal_low = {-0.1, 0.85 - 0.083, 0.2499},
    .goal_high = {0.1, 0.9 + 1e-7 - 0.083, 0.2501},
    .accept_rand = accept_15,
    .setup = setup_basketball,
    .reset = reset_basketball,
    .object_obs = body_wxyz_obs,
    .reward = reward_basketball,
    .policy = policy_basketball,
};

/* ======================= bin-picking-v2 ======================= */

enum { BIN_GOAL = ID_X1 };
/* task_vals: the in-place margin, fixed at the first reward of the episode. */
enum { VAL_BIN_D0 };
LOOKUP_SETUP(setup_bin_picking, {ID_BODY, mjOBJ_BODY, "obj"}, {ID_GEOM, mjOBJ_GEOM, "objA_col"},
             {BIN_GOAL, mjOBJ_BODY, "bin_goal"})

/* The cube keeps the height it settled to in bin A during the hand reset and
 * moves to the drawn xy; the goal part of the rand-vector is never used: the
 * target is bin B's origin. */
static void reset_bin_picking(env_sawyer *e)
{
    const double *v = e->rand_vec;
    double z0 = env_body_xpos(e, e->task_ids[ID_BODY])[2];
    env_set3(e->obj_init_pos, v[0], v[1], z0);
    env_set_obj_xyz(e, e->task_ids[ID_JOINT], e->obj_init_pos);
    memcpy(e->target_pos, env_body_xpos(e, e->task_ids[BIN_GOAL]), 3 * sizeof(double));
    e->task_vals[VAL_BIN_D0] = NAN;
}

/* The funnel height the hand should keep at distance rho from a bin centre. */
static double bin_floor(double rho) { return rho > 0.03 ? 0.02 * log(rho - 0.03) + 0.2 : 0.0; }

static double reward_bin_picking(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    const double *hand = obs, *o = obs + 4, *t = e->target_pos, *o0 = e->obj_init_pos;
    double d = env_dist3(o, t);
    /* The original leaves this margin unset at reset and takes the first
     * evaluated distance (spec Appendix E.7). */
    if (isnan(e->task_vals[VAL_BIN_D0]))
        e->task_vals[VAL_BIN_D0] = d;
    double ip = rw_tolerance(d, 0, 0.05, e->task_vals[VAL_BIN_D0], RW_LONG_TAIL);
    double floor = fmin(bin_floor(hypot(hand[0] - o0[0], hand[1] - o0[1])),
                        bin_floor(hypot(hand[0] - t[0], hand[1] - t[1])));
    double above = hand[2] >= floor ? 1.0
                                    : rw_tolerance(fmax(floor - hand[2], 0.0), 0, 0.01, 0.05,
                                                   RW_LONG_TAIL);
    const rw_caging p = {.obj_radius = 0.015, .pad_success_thresh = 0.05,
                         .object_reach_radius = 0.01, .xz_thresh = 0.01,
                         .desired_gripper_effort = 0.7, .high_density = 1};
    double g = rw_gripper_caging(e, a, o, &p);
    double r = rw_hamacher(g, ip);
    int near = env_dist3(o, hand) < 0.04;
    int gs = near && o[2] - 0.02 > o0[2] && !(obs[3] < 0.43);
    if (gs)
        r += 1 + 5 * rw_hamacher(above, ip);
    if (d < 0.05)
        r = 10;
    rw_info_set(info, d <= 0.05, near, gs, g, ip, d);
    return r;
}

/* Grasp the cube with the fingers kept off the bin walls (the grasp point's
 * y is held inside the bin, the closing fingers drag the cube there), carry
 * it over the walls and lower it into bin B. */
static void policy_bin_picking(const double *obs, double *a)
{
    const double *o = obs + 4, *g = obs + 36;
    double gy = fmin(fmax(o[1], 0.665), 0.735);
    carry_plan c = {.grasp = {o[0], gy, o[2] + 0.03}, .above = 0.12, .xy_tol = 0.008,
                    .z_tol = 0.01, .grip = 1, .lift_z = 0.18, .retreat_y = INFINITY,
                    .goal = {g[0], g[1], 0.09}, .p = 10};
    grasp_carry(obs, &c, held_under(obs, o, 0.03, 0.01, 0.06, 0.3, 0.8), a);
}

const env_task_def env_task_bin_picking_v2 = {
    .name = "bin-picking-v2",
    .scene = "sawyer_bin_picking.xml",
    .hand_init_pos = {0, 0.6, 0.2},
    .hand_low = {-0.5, 0.40, 0.07},
    .hand_high = {0.5, 1.0, 0.5},
    .rand_dim = 6,
    /* [cube xyz (z unused), goal xyz (unused)] */
    .rand_low = {-0.21, 0.65, 0.02, 0.1199, 0.699, -0.001},
    .rand_high = {-0.03, 0.75, 0.02, 0.1201, 0.701, 0.001},
    .goal_low = {0.1199, 0.699, -0.001},
    .goal_high = {0.1201, 0.701, 0.001},
    .setup = setup_bin_picking,
    .reset = reset_bin_picking,
    .object_obs = body_wxyz_obs,
    .reward = reward_bin_picking,
    .policy = policy_bin_picking,
};

/* ======================= hand-insert-v2 ======================= */

LOOKUP_SETUP(setup_obj_cube, {ID_BODY, mjOBJ_BODY, "obj"}, {ID_GEOM, mjOBJ_GEOM, "objGeom"})

/* The cube goes to (v0, v1, 0.05), half into the 5 cm table top, and pops up
 * to rest on it (z 0.07); the target is v[3:6], 2 cm under the hole's floor. */
static void reset_hand_insert(env_sawyer *e)
{
    const double *v = e->rand_vec;
    env_set3(e->obj_init_pos, v[0], v[1], 0.05);
    memcpy(e->target_pos, v + 3, 3 * sizeof(double));
    env_set_obj_xyz(e, e->task_ids[ID_JOINT], e->obj_init_pos);
}

static double reward_hand_insert(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    const double *o = obs + 4;
    double d = env_dist3(o, e->target_pos);
    double ip = rw_tolerance(d, 0, 0.05, env_dist3(e->obj_init_pos, e->target_pos), RW_LONG_TAIL);
    const rw_caging p = {.obj_radius = 0.015, .pad_success_thresh = 0.05,
                         .object_reach_radius = 0.01, .xz_thresh = 0.005,
                         .desired_gripper_effort = 1, .high_density = 1};
    double g = rw_gripper_caging(e, a, o, &p);
    double r = rw_hamacher(g, ip);
    double tcp_to_obj = env_tcp_dist(e, o);
    if (tcp_to_obj < 0.02 && obs[3] > 0)
        r += 1 + 7 * ip;
    if (d < 0.05)
        r = 10;
    int gs = env_touching(e, e->task_ids[ID_GEOM]) && obs[3] > 0 &&
             o[2] - 0.02 > e->obj_init_pos[2];
    rw_info_set(info, d <= 0.05, tcp_to_obj <= 0.03, gs, g, ip, d);
    return r;
}

/* Pick the cube off the table top, carry it over the hole and push it down
 * to the hole's floor (the target lies 2 cm under it). */
static void policy_hand_insert(const double *obs, double *a)
{
    const double *o = obs + 4, *g = obs + 36;
    carry_plan c = {.grasp = {o[0], o[1], o[2] + 0.045}, .above = 0.08, .xy_tol = 0.008,
                    .z_tol = 0.01, .grip = 0.6, .lift_z = 0.125, .retreat_y = INFINITY,
                    .goal = {g[0], g[1], g[2] + 0.06}, .p = 10};
    grasp_carry(obs, &c, held_under(obs, o, 0.03, 0.015, 0.09, 0.3, 0.8), a);
}

const env_task_def env_task_hand_insert_v2 = {
    .name = "hand-insert-v2",
    .scene = "sawyer_table_with_hole.xml",
    .hand_init_pos = {0, 0.6, 0.2},
    .hand_low = {-0.5, 0.40, -0.15},
    .hand_high = {0.5, 1.0, 0.5},
    .rand_dim = 6,
    /* [cube xyz, target xyz]; the cube's z is not used */
    .rand_low = {-0.1, 0.6, 0.05, -0.04, 0.8, -0.0201},
    .rand_high = {0.1, 0.7, 0.05, 0.04, 0.88, -0.0199},
    .goal_low = {-0.04, 0.8, -0.0201},
    .goal_high = {0.04, 0.88, -0.0199},
    .accept_rand = accept_15,
    .setup = setup_obj_cube,
    .reset = reset_hand_insert,
    .object_obs = body_wxyz_obs,
    .reward = reward_hand_insert,
    .policy = policy_hand_insert,
};

/* ======================= pick-out-of-hole-v2 ======================= */

/* The cylinder starts in the platform's hole at v[0:3] (always (0, 0.75,
 * 0.02)); the target v[3:6] hangs over the platform. */
static void reset_pick_out_of_hole(env_sawyer *e)
{
    const double *v = e->rand_vec;
    memcpy(e->obj_init_pos, v, 3 * sizeof(double));
    memcpy(e->target_pos, v + 3, 3 * sizeof(double));
    env_set_obj_xyz(e, e->task_ids[ID_JOINT], e->obj_init_pos);
}

static double reward_pick_out_of_hole(env_sawyer *e, const double *obs, const double *a,
                                      env_info *info)
{
    const double *o = obs + 4, *o0 = e->obj_init_pos;
    double tcp[3];
    env_tcp_center(e, tcp);
    double d = env_dist3(o, e->target_pos), tcp_to_obj = env_dist3(o, tcp);
    /* A funnel around the hole keeps the hand above the platform's edge. */
    double rho = hypot(tcp[0] - o0[0], tcp[1] - o0[1]);
    double floor = rho <= 0.03 ? 0.0 : 0.015 * log(rho - 0.03) + 0.15;
    double above = tcp[2] >= floor ? 1.0
                                   : rw_tolerance(fmax(floor - tcp[2], 0.0), 0, 0.01, 0.02,
                                                  RW_LONG_TAIL);
    const rw_caging p = {.obj_radius = 0.015, .pad_success_thresh = 0.02,
                         .object_reach_radius = 0.01, .xz_thresh = 0.03,
                         .desired_gripper_effort = 0.1, .high_density = 1};
    double g = rw_gripper_caging(e, a, o, &p);
    double ip = rw_tolerance(d, 0, 0.02, env_dist3(o0, e->target_pos), RW_LONG_TAIL);
    double r = rw_hamacher(g, ip);
    int gs = tcp_to_obj < 0.04 && o[2] - 0.02 > o0[2] && !(obs[3] < 0.33);
    if (gs)
        r += 1 + 5 * rw_hamacher(ip, above);
    if (d < 0.05) /* the base class's TARGET_RADIUS; the class's own 0.02 is unused */
        r = 10;
    rw_info_set(info, d <= 0.07, tcp_to_obj <= 0.03, gs, g, ip, d);
    return r;
}

/* Pick the cylinder, lift it straight out of the hole to the goal's height,
 * then bring it over. */
static void policy_pick_out_of_hole(const double *obs, double *a)
{
    const double *o = obs + 4, *g = obs + 36;
    carry_plan c = {.grasp = {o[0], o[1], o[2] + 0.045}, .above = 0.12, .xy_tol = 0.008,
                    .z_tol = 0.01, .grip = 0.3, .lift_z = g[2] + 0.04, .retreat_y = INFINITY,
                    .goal = {g[0], g[1], g[2] + 0.04}, .p = 10};
    grasp_carry(obs, &c, held_under(obs, o, 0.03, 0.015, 0.06, 0.3, 0.55), a);
}

const env_task_def env_task_pick_out_of_hole_v2 = {
    .name = "pick-out-of-hole-v2",
    .scene = "sawyer_pick_out_of_hole.xml",
    .hand_init_pos = {0, 0.6, 0.2},
    .hand_low = {-0.5, 0.40, -0.05},
    .hand_high = {0.5, 1.0, 0.5},
    .rand_dim = 6,
    .rand_low = {0, 0.75, 0.02, -0.1, 0.5, 0.15},
    .rand_high = {0, 0.75, 0.02, 0.1, 0.6, 0.3},
    .goal_low = {-0.1, 0.5, 0.15},
    .goal_high = {0.1, 0.6, 0.3},
    .accept_rand = accept_15,
    .setup = setup_obj_cube,
    .reset = reset_pick_out_of_hole,
    .object_obs = body_wxyz_obs,
    .reward = reward_pick_out_of_hole,
    .policy = policy_pick_out_of_hole,
};

/* ======================= shelf-place-v2 ======================= */

enum { SHELF_BODY = ID_X1, SHELF_GOAL_SITE = ID_X2 };
LOOKUP_SETUP(setup_shelf_place, {ID_BODY, mjOBJ_BODY, "obj"}, {ID_GEOM, mjOBJ_GEOM, "objGeom"},
             {SHELF_BODY, mjOBJ_BODY, "shelf"}, {SHELF_GOAL_SITE, mjOBJ_SITE, "goal"})

/* The shelf goes to v[3:6] - (0, 0, 0.3) and the target is its goal site,
 * computed from the model as the original does (= v[3:6]). The cube keeps
 * the height it settled to during the hand reset. */
static void reset_shelf_place(env_sawyer *e)
{
    const double *v = e->rand_vec;
    const int *id = e->task_ids;
    double z0 = env_body_xpos(e, id[ID_BODY])[2];
    double base[3] = {v[3], v[4], v[5] - 0.3};
    env_set_body_pos(e, id[SHELF_BODY], base);
    const double *sp = e->m->site_pos + 3 * id[SHELF_GOAL_SITE];
    for (int k = 0; k < 3; k++)
        e->target_pos[k] = sp[k] + base[k];
    env_set3(e->obj_init_pos, v[0], v[1], z0);
    env_set_obj_xyz(e, id[ID_JOINT], e->obj_init_pos);
}

static void shelf_obs(const env_sawyer *e, double out[7])
{
    memcpy(out, env_body_xpos(e, e->task_ids[ID_BODY]), 3 * sizeof(double));
    env_quat_xyzw_from_mat(env_geom_xmat(e, e->task_ids[ID_GEOM]), out + 3);
}

static double reward_shelf_place(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    const double *o = obs + 4, *t = e->target_pos;
    double d = env_dist3(o, t), tcp_to_obj = env_tcp_dist(e, o);
    double ip = rw_tolerance(d, 0, 0.05, env_dist3(e->obj_init_pos, t), RW_LONG_TAIL);
    const rw_caging p = {.obj_radius = 0.02, .pad_success_thresh = 0.05,
                         .object_reach_radius = 0.01, .xz_thresh = 0.01,
                         .desired_gripper_effort = 1};
    double g = rw_gripper_caging(e, a, o, &p);
    double r = rw_hamacher(g, ip);
    /* Below the upper board and in front of the shelf the in-place term is
     * cut down (more the lower and nearer), behind the target it is zero:
     * the cube must come in over the board, not through it. */
    int window = o[2] > 0 && o[2] < 0.24 && o[0] > t[0] - 0.15 && o[0] < t[0] + 0.15;
    if (window && o[1] > t[1] - 0.15 && o[1] < t[1]) {
        double loss = rw_hamacher((o[1] - (t[1] - 0.15)) / 0.15, (0.24 - o[2]) / 0.24);
        ip = fmin(fmax(ip - loss, 0.0), 1.0);
    }
    if (window && o[1] > t[1])
        ip = 0;
    if (tcp_to_obj < 0.025 && obs[3] > 0 && o[2] - 0.01 > e->obj_init_pos[2])
        r += 1 + 5 * ip;
    if (d < 0.05)
        r = 10;
    /* grasp_success: the original's contact test is a method reference
     * there, always true. */
    rw_info_set(info, d <= 0.07, tcp_to_obj <= 0.03, obs[3] > 0 && o[2] - 0.02 > e->obj_init_pos[2],
                g, ip, d);
    return r;
}

/* Pick the cube, lift it above the upper board, slide it in over the board
 * to the target. */
static void policy_shelf_place(const double *obs, double *a)
{
    const double *o = obs + 4, *g = obs + 36;
    carry_plan c = {.grasp = {o[0], o[1], o[2] + 0.045}, .above = 0.1, .xy_tol = 0.008,
                    .z_tol = 0.01, .grip = 0.5, .lift_z = g[2] + 0.06, .retreat_y = INFINITY,
                    .goal = {g[0], g[1], g[2] + 0.045}, .p = 10};
    grasp_carry(obs, &c, held_under(obs, o, 0.03, 0.015, 0.09, 0.3, 0.55), a);
}

const env_task_def env_task_shelf_place_v2 = {
    .name = "shelf-place-v2",
    .scene = "sawyer_shelf_placing.xml",
    .edits_model = 1,
    .hand_init_pos = {0, 0.6, 0.2},
    .hand_low = {-0.5, 0.40, 0.05},
    .hand_high = {0.5, 1.0, 0.5},
    .rand_dim = 6,
    /* [cube xyz (z unused), target xyz] */
    .rand_low = {-0.1, 0.5, 0.019, -0.1, 0.8, 0.299},
    .rand_high = {0.1, 0.6, 0.021, 0.1, 0.9, 0.301},
    .goal_low = {-0.1, 0.8, 0.299},
    .goal_high = {0.1, 0.9, 0.301},
    .accept_rand = accept_10,
    .setup = setup_shelf_place,
    .reset = reset_shelf_place,
    .object_obs = shelf_obs,
    .reward = reward_shelf_place,
    .policy = policy_shelf_place,
};

/* ======================= peg-unplug-side-v2 ======================= */

enum { PLUG_END = ID_X1, PLUG_BOX = ID_X2 };
LOOKUP_SETUP(setup_peg_unplug, {ID_BODY, mjOBJ_BODY, "plug1"}, {ID_GEOM, mjOBJ_GEOM, "plug_grip"},
             {PLUG_END, mjOBJ_SITE, "pegEnd"}, {PLUG_BOX, mjOBJ_BODY, "box"})

/* The socket goes to v; the plug, upright, into it at v + (0.044, 0, 0.131).
 * This task's placement zeroes only the plug's linear velocity (its angular
 * velocity from the hand reset is kept, as the original). The target is 15 cm
 * out along +x; obj_init is the observed point, pegEnd, after the move. */
static void reset_peg_unplug(env_sawyer *e)
{
    const double *v = e->rand_vec;
    const mjModel *m = e->m;
    int j = e->task_ids[ID_JOINT];
    env_set_body_pos(e, e->task_ids[PLUG_BOX], v);
    double p[3] = {v[0] + 0.044, v[1], v[2] + 0.131};
    double *q = e->d->qpos + m->jnt_qposadr[j];
    memcpy(q, p, sizeof p);
    q[3] = 1, q[4] = 0, q[5] = 0, q[6] = 0;
    memset(e->d->qvel + m->jnt_dofadr[j], 0, 3 * sizeof(double));
    env_forward(e);
    memcpy(e->obj_init_pos, env_site_xpos(e, e->task_ids[PLUG_END]), 3 * sizeof(double));
    env_set3(e->target_pos, p[0] + 0.15, p[1], p[2]);
}

static void peg_unplug_obs(const env_sawyer *e, double out[7])
{
    memcpy(out, env_site_xpos(e, e->task_ids[PLUG_END]), 3 * sizeof(double));
    memcpy(out + 3, env_body_xquat(e, e->task_ids[ID_BODY]), 4 * sizeof(double));
}

static double reward_peg_unplug(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    const double *o = obs + 4;
    double d = env_dist3(o, e->target_pos), tcp_to_obj = env_tcp_dist(e, o);
    const rw_caging p = {.obj_radius = 0.025, .pad_success_thresh = 0.05,
                         .object_reach_radius = 0.01, .xz_thresh = 0.005,
                         .desired_gripper_effort = 0.8, .high_density = 1};
    double g = rw_gripper_caging(e, a, o, &p);
    double ip = rw_tolerance(d, 0, 0.05, env_dist3(e->obj_init_pos, e->target_pos), RW_LONG_TAIL);
    int gs = obs[3] > 0.5 && o[0] - e->obj_init_pos[0] > 0.015;
    double r = 2 * g;
    if (gs && tcp_to_obj < 0.035)
        r = 1 + 2 * g + 5 * ip;
    if (d <= 0.05)
        r = 10;
    rw_info_set(info, d <= 0.07, tcp_to_obj <= 0.03, gs, g, ip, d);
    return r;
}

/* Close on the plug's square body (behind pegEnd), pull straight out along
 * +x at the plug's height (the carrying height is the grasp height). */
static void policy_peg_unplug(const double *obs, double *a)
{
    const double *o = obs + 4, *g = obs + 36;
    /* pegEnd lies 4 cm in front of the plug's centre; the square body spans
     * 1 cm behind to 6 cm in front of the centre. */
    double grip_pt[3] = {o[0] - 0.015, o[1], o[2]};
    carry_plan c = {.grasp = {grip_pt[0], grip_pt[1], grip_pt[2] + 0.045}, .above = 0.1,
                    .xy_tol = 0.008, .z_tol = 0.01, .grip = 1, .lift_z = grip_pt[2] + 0.045,
                    .retreat_y = INFINITY, .goal = {g[0], g[1], g[2] + 0.045},
                    .p = 10};
    double dz = obs[2] - o[2];
    int held = fabs(obs[0] - grip_pt[0]) < 0.03 && fabs(obs[1] - o[1]) < 0.02 && dz > 0.02 &&
               dz < 0.07 && obs[3] < 0.85;
    grasp_carry(obs, &c, held, a);
}

const env_task_def env_task_peg_unplug_side_v2 = {
    .name = "peg-unplug-side-v2",
    .scene = "sawyer_peg_unplug_side.xml",
    .edits_model = 1,
    .hand_init_pos = {0, 0.6, 0.2},
    .hand_low = {-0.5, 0.40, 0.05},
    .hand_high = {0.5, 1.0, 0.5},
    .rand_dim = 3,
    .rand_low = {-0.25, 0.6, -0.001},
    .rand_high = {-0.15, 0.8, 0.001},
    /* socket range + (0.194, 0, 0.131) */
    .goal_low = {-0.056, 0.6, 0.13},
    .goal_high = {0.044, 0.8, 0.132},
    .setup = setup_peg_unplug,
    .reset = reset_peg_unplug,
    .object_obs = peg_unplug_obs,
    .reward = reward_peg_unplug,
    .policy = policy_peg_unplug,
};

/* ======================= box-close-v2 ======================= */

enum { BOX_LID = ID_X1, BOX_BODY = ID_X2 };
LOOKUP_SETUP(setup_box_close, {ID_BODY, mjOBJ_BODY, "boxbodytop"},
             {ID_GEOM, mjOBJ_GEOM, "BoxHandleGeom"}, {BOX_LID, mjOBJ_BODY, "top_link"},
             {BOX_BODY, mjOBJ_BODY, "boxbody"})

/* The box goes under the target's xy (at its own height, 0); the lid's free
 * body to (v0, v1, 0.02), keeping the orientation it has after the hand
 * reset, and falls onto the table. */
static void reset_box_close(env_sawyer *e)
{
    const double *v = e->rand_vec;
    const int *id = e->task_ids;
    double box_z = env_body_xpos(e, id[BOX_BODY])[2];
    env_set3(e->obj_init_pos, v[0], v[1], 0.02);
    memcpy(e->target_pos, v + 3, 3 * sizeof(double));
    double box[3] = {v[3], v[4], box_z};
    env_set_body_pos(e, id[BOX_BODY], box);
    env_set_obj_xyz(e, id[ID_JOINT], e->obj_init_pos);
}

static void box_obs(const env_sawyer *e, double out[7])
{
    int b = e->task_ids[BOX_LID];
    memcpy(out, env_body_xpos(e, b), 3 * sizeof(double));
    memcpy(out + 3, env_body_xquat(e, b), 4 * sizeof(double));
}

/* 1 for the lid lying as in the XML (quaternion (0.707, 0, 0, 0.707)),
 * falling linearly to 0 at distance `scale` from it. */
static double quat_reward(const double *q, double scale)
{
    const double ideal[4] = {0.707, 0, 0, 0.707};
    double s = 0;
    for (int k = 0; k < 4; k++)
        s += (q[k] - ideal[k]) * (q[k] - ideal[k]);
    return fmax(1 - sqrt(s) / scale, 0.0);
}

static double reward_box_close(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    const double *hand = obs, *t = e->target_pos;
    double grab = (fmin(fmax(a[3], -1.0), 1.0) + 1) / 2;
    double rq = quat_reward(obs + 7, 0.2);
    double lid[3] = {obs[4], obs[5], obs[6] + 0.02};
    /* A funnel over the handle keeps the hand from hitting it on the way. */
    double rho = hypot(hand[0] - lid[0], hand[1] - lid[1]);
    double floor = rho <= 0.02 ? 0.0 : 0.04 * log(rho - 0.02) + 0.4;
    double above = hand[2] >= floor ? 1.0
                                    : rw_tolerance(floor - hand[2], 0, 0.01, floor / 2, RW_LONG_TAIL);
    double ip = rw_tolerance(env_dist3(hand, lid), 0, 0.02, 0.5, RW_LONG_TAIL);
    double ready = rw_hamacher(above, ip);
    double err[3] = {t[0] - lid[0], t[1] - lid[1], 3 * (t[2] - lid[2])};
    double lifted = 0.2 * (lid[2] > 0.04) +
                    0.8 * rw_tolerance(env_norm3(err), 0, 0.05, 0.25, RW_LONG_TAIL);
    double r = 2 * rw_hamacher(grab, ready) + 8 * lifted;
    int success = env_dist3(obs + 4, t) < 0.08;
    if (success)
        r = 10;
    r *= rq; /* also on success: the lid must not be flipped onto the box */
    rw_info_set(info, success, ready, grab >= 0.5, grab, lifted, 0);
    return r;
}

/* Straddle the handle (its collision hull is a slab 1.6 cm thick across y),
 * close on it half way up, lift the lid and carry it over the box. */
static void policy_box_close(const double *obs, double *a)
{
    const double *o = obs + 4, *g = obs + 36;
    carry_plan c = {.grasp = {o[0], o[1], o[2] + 0.095}, .above = 0.06, .xy_tol = 0.006,
                    .z_tol = 0.01, .grip = 1, .lift_z = g[2] + 0.095 + 0.05,
                    .retreat_y = INFINITY, .goal = {g[0], g[1], g[2] + 0.095}, .p = 10};
    grasp_carry(obs, &c, held_under(obs, o, 0.02, 0.07, 0.12, -INFINITY, 0.6), a);
}

const env_task_def env_task_box_close_v2 = {
    .name = "box-close-v2",
    .scene = "sawyer_box.xml",
    .edits_model = 1,
    .hand_init_pos = {0, 0.6, 0.2},
    .hand_low = {-0.5, 0.40, 0.05},
    .hand_high = {0.5, 1.0, 0.5},
    .rand_dim = 6,
    /* [lid xyz (z unused), box top target xyz] */
    .rand_low = {-0.05, 0.5, 0.02, -0.1, 0.7, 0.133},
    .rand_high = {0.05, 0.55, 0.02, 0.1, 0.8, 0.133},
    .goal_low = {-0.1, 0.7, 0.133},
    .goal_high = {0.1, 0.8, 0.133},
    .accept_rand = accept_25,
    .setup = setup_box_close,
    .reset = reset_box_close,
    .object_obs = box_obs,
    .reward = reward_box_close,
    .policy = policy_box_close,
};
