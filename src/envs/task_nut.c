/* assembly-v2 and disassemble-v2 (spec metaworld-mt50.md §3.3
 * "assembly_peg", §4.I): a round nut with a handle and a round peg. Assembly
 * carries the nut from the table onto the peg; disassemble lifts it off the
 * peg it starts on. Both observe the handle (site RoundNut-8) and the nut's
 * orientation, shape the grasp on the handle the same way, and scale their
 * reward by how flat and unturned the nut is; they differ in placement,
 * in-place term and success. Scene sawyer_assembly_peg.xml. */
#include <math.h>
#include <string.h>

#include "reward.h"
#include "task.h"

enum { ID_NUT_BODY, ID_NUT_JOINT, ID_HANDLE_SITE, ID_RING_SITE, ID_PEG_BODY };

#define WRENCH_HANDLE_LENGTH 0.02
#define RING_TO_HANDLE 0.13 /* nut-frame distance from the ring centre to the handle */

static int setup(env_sawyer *e, mtrl_err *err)
{
    int *id = e->task_ids;
    if (env_lookup(e, mjOBJ_BODY, "RoundNut", &id[ID_NUT_BODY], err) ||
        env_lookup(e, mjOBJ_SITE, "RoundNut-8", &id[ID_HANDLE_SITE], err) ||
        env_lookup(e, mjOBJ_SITE, "RoundNut", &id[ID_RING_SITE], err) ||
        env_lookup(e, mjOBJ_BODY, "peg", &id[ID_PEG_BODY], err))
        return err->code;
    const mjModel *m = e->m;
    int b = id[ID_NUT_BODY];
    if (m->body_jntnum[b] != 1 || m->jnt_type[m->body_jntadr[b]] != mjJNT_FREE)
        return err_set(err, MTRL_EINPUT, "scene %s: body 'RoundNut' must have one free joint",
                       e->task->scene);
    id[ID_NUT_JOINT] = m->body_jntadr[b];
    return 0;
}

/* Nut and peg at least 0.1 apart in xy (the original redraws; for assembly
 * this always holds). */
static int accept_apart(const double *v) { return hypot(v[0] - v[3], v[1] - v[4]) >= 0.1; }

static void object_obs(const env_sawyer *e, double out[7])
{
    memcpy(out, env_site_xpos(e, e->task_ids[ID_HANDLE_SITE]), 3 * sizeof(double));
    memcpy(out + 3, env_body_xquat(e, e->task_ids[ID_NUT_BODY]), 4 * sizeof(double));
}

/* Assembly: the nut (ring centre) at v[0:3], the peg's top at v[3:6], the
 * peg body 5 cm under it (so it stands on the table). The original also
 * moves the visual site pegTop; it has no other use and is left alone. */
static void reset_assembly(env_sawyer *e)
{
    const double *v = e->rand_vec;
    memcpy(e->obj_init_pos, v, 3 * sizeof(double));
    memcpy(e->target_pos, v + 3, 3 * sizeof(double));
    env_set_obj_xyz(e, e->task_ids[ID_NUT_JOINT], e->obj_init_pos);
    double peg[3] = {v[3], v[4], v[5] - 0.05};
    env_set_body_pos(e, e->task_ids[ID_PEG_BODY], peg);
}

/* Disassemble: the peg through the nut's ring at v[0:3]; the target 15 cm
 * above the nut. */
static void reset_disassemble(env_sawyer *e)
{
    const double *v = e->rand_vec;
    memcpy(e->obj_init_pos, v, 3 * sizeof(double));
    for (int k = 0; k < 3; k++)
        e->target_pos[k] = v[k] + (k == 2 ? 0.15 : 0.0);
    double peg[3] = {v[0], v[1], v[2] + 0.03};
    env_set_body_pos(e, e->task_ids[ID_PEG_BODY], peg);
    env_set_obj_xyz(e, e->task_ids[ID_NUT_JOINT], e->obj_init_pos);
}

/* How flat and unturned the nut lies: 1 at the XML orientation (wxyz
 * (0.707, 0, 0, 0.707)), 0 at distance 0.4 from it. */
static double quat_reward(const double *q)
{
    const double ideal[4] = {0.707, 0, 0, 0.707};
    double s = 0;
    for (int k = 0; k < 4; k++)
        s += (q[k] - ideal[k]) * (q[k] - ideal[k]);
    return fmax(1 - sqrt(s) / 0.4, 0.0);
}

/* The caging reward treats its object as a sphere; the handle is a bar
 * along x, so a hand anywhere along it counts as centred in x. */
static double handle_grasp(env_sawyer *e, const double *obs, const double *a, int high_density)
{
    double wt[3] = {obs[4], obs[5], obs[6]};
    if (fabs(wt[0] - obs[0]) < WRENCH_HANDLE_LENGTH / 2)
        wt[0] = obs[0];
    const rw_caging p = {.obj_radius = 0.015, .pad_success_thresh = 0.02,
                         .object_reach_radius = 0.01, .xz_thresh = 0.01,
                         .desired_gripper_effort = 1, .high_density = high_density,
                         .medium_density = !high_density};
    return rw_gripper_caging(e, a, wt, &p);
}

static void fill_info(env_info *info, int success, double rq, double grab, double ip)
{
    rw_info_set(info, success, rq, grab >= 0.5, grab, ip, 0);
}

static double reward_assembly(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    double rq = quat_reward(obs + 7);
    double grab = handle_grasp(e, obs, a, 0);
    const double *wc = env_site_xpos(e, e->task_ids[ID_RING_SITE]), *t = e->target_pos;
    double err[3] = {t[0] - wc[0], t[1] - wc[1], t[2] - wc[2]};
    double rho = hypot(err[0], err[1]);
    int success = rho < 0.02 && err[2] > 0; /* ring around the peg, below its top */
    /* A funnel: the ring should be high above the peg while off its axis. */
    double thr = success ? 0.02 : 0.01;
    double h = rho > thr ? 0.02 * log(rho - thr) + 0.2 : 0.0;
    double e3[3] = {err[0], err[1], 3 * (h - wc[2])};
    int lifted = wc[2] > 0.02 || rho < thr;
    double ip = 0.1 * lifted + 0.9 * rw_tolerance(env_norm3(e3), 0, 0.02, 0.4, RW_LONG_TAIL);
    double r = (2 * grab + 6 * ip) * rq;
    if (success)
        r = 10;
    fill_info(info, success, rq, grab, ip);
    return r;
}

static double reward_disassemble(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    double rq = quat_reward(obs + 7);
    double grab = handle_grasp(e, obs, a, 1);
    const double *wc = env_site_xpos(e, e->task_ids[ID_RING_SITE]), *t = e->target_pos;
    double err[3] = {t[0] - wc[0], t[1] - wc[1], t[2] + 0.1 - wc[2]};
    double ip = 0.1 * (wc[2] > 0.02) + 0.9 * rw_tolerance(env_norm3(err), 0, 0.02, 0.2, RW_LONG_TAIL);
    double r = (2 * grab + 6 * ip) * rq;
    int success = obs[6] > t[2];
    if (success)
        r = 10;
    fill_info(info, success, rq, grab, ip);
    return r;
}

/* ---- scripted policies ----
 * The handle is gripped across y and the ring steered through the hand:
 * the ring centre is computed from the observed handle position and nut
 * orientation, so a nut that turned or tilted in the grip is still put on
 * the peg's axis. Stateless: the phase comes from the observation. */

/* Ring centre from the handle site and the nut quaternion (wxyz): the ring
 * lies RING_TO_HANDLE along the nut-frame +y of the handle. */
static void ring_from_obs(const double *obs, double ring[3])
{
    const double *q = obs + 7;
    double w = q[0], x = q[1], y = q[2], z = q[3];
    double n = sqrt(w * w + x * x + y * y + z * z);
    if (n > 0)
        w /= n, x /= n, y /= n, z /= n;
    /* second column of the rotation matrix: the image of the nut's y axis */
    double ay[3] = {2 * (x * y - w * z), 1 - 2 * (x * x + z * z), 2 * (y * z + w * x)};
    for (int k = 0; k < 3; k++)
        ring[k] = obs[4 + k] + RING_TO_HANDLE * ay[k];
}

#define GRASP_DZ 0.04 /* hand above the handle site when closed on it */

/* Where the hand goes to grasp the handle, and whether it holds it. */
static int handle_held(const double *obs)
{
    const double *h = obs, *o = obs + 4;
    double dz = h[2] - o[2];
    return fabs(h[0] - o[0]) < 0.03 && fabs(h[1] - o[1]) < 0.02 && dz > 0.0 && dz < 0.07 &&
           obs[3] < 0.65;
}

/* The common approach: above the handle, down, close. Returns 1 when the
 * action is set, 0 when the handle is held and the caller decides. */
static int approach_handle(const double *obs, double *a)
{
    const double *h = obs, *o = obs + 4;
    if (handle_held(obs))
        return 0;
    double t[3];
    double dxy = hypot(h[0] - o[0], h[1] - o[1]);
    double approach_z = o[2] + GRASP_DZ + 0.1;
    if (dxy > 0.008 && dxy > 0.03 && fabs(h[2] - approach_z) > 0.03)
        t[0] = h[0], t[1] = h[1], t[2] = approach_z;
    else if (dxy > 0.008)
        t[0] = o[0], t[1] = o[1], t[2] = approach_z;
    else
        t[0] = o[0], t[1] = o[1], t[2] = o[2] + GRASP_DZ;
    a[3] = dxy <= 0.008 && fabs(h[2] - o[2] - GRASP_DZ) < 0.01 ? 1 : -1;
    for (int k = 0; k < 3; k++)
        a[k] = 10 * (t[k] - h[k]);
    return 1;
}

/* Lift the nut, bring the ring over the peg (target = peg top), lower it. */
static void policy_assembly(const double *obs, double *a)
{
    if (approach_handle(obs, a))
        return;
    const double *g = obs + 36;
    double ring[3];
    ring_from_obs(obs, ring);
    double off = hypot(ring[0] - g[0], ring[1] - g[1]);
    double want[3] = {g[0], g[1], off > 0.004 ? g[2] + 0.05 : g[2] - 0.05};
    if (off > 0.02 && ring[2] < g[2] + 0.03)
        want[0] = ring[0], want[1] = ring[1]; /* rise before moving over */
    for (int k = 0; k < 3; k++)
        a[k] = 10 * (want[k] - ring[k]);
    a[3] = 1;
}

/* Lift the nut straight up off the peg. */
static void policy_disassemble(const double *obs, double *a)
{
    if (approach_handle(obs, a))
        return;
    a[0] = 0, a[1] = 0, a[2] = 1;
    a[3] = 1;
}

const env_task_def env_task_assembly_v2 = {
    .name = "assembly-v2",
    .scene = "sawyer_assembly_peg.xml",
    .edits_model = 1,
    .hand_init_pos = {0, 0.6, 0.2},
    .hand_low = {-0.5, 0.40, 0.05},
    .hand_high = {0.5, 1.0, 0.5},
    .rand_dim = 6,
    /* [nut ring centre xyz, peg top xyz] */
    .rand_low = {0, 0.6, 0.02, -0.1, 0.75, 0.1},
    .rand_high = {0, 0.6, 0.02, 0.1, 0.85, 0.1},
    .goal_low = {-0.1, 0.75, 0.1},
    .goal_high = {0.1, 0.85, 0.1},
    .accept_rand = accept_apart,
    .setup = setup,
    .reset = reset_assembly,
    .object_obs = object_obs,
    .reward = reward_assembly,
    .policy = policy_assembly,
};

const env_task_def env_task_disassemble_v2 = {
    .name = "disassemble-v2",
    .scene = "sawyer_assembly_peg.xml",
    .edits_model = 1,
    .hand_init_pos = {0, 0.4, 0.2},
    .hand_low = {-0.5, 0.40, 0.05},
    .hand_high = {0.5, 1.0, 0.5},
    .rand_dim = 6,
    /* [nut ring centre xyz, goal xyz (unused: the target is 15 cm above the
     * nut)]. v2 writes the nut's x bounds reversed (0.1 .. 0.0); numpy draws
     * the same range from them. They are written low < high here, as v3
     * does, which keeps the registry's low <= high contract. */
    .rand_low = {0.0, 0.6, 0.025, -0.1, 0.6, 0.1699},
    .rand_high = {0.1, 0.75, 0.02501, 0.1, 0.75, 0.1701},
    .goal_low = {-0.1, 0.6, 0.1749},
    .goal_high = {0.1, 0.75, 0.1751},
    .accept_rand = accept_apart,
    .setup = setup,
    .reset = reset_disassemble,
    .object_obs = object_obs,
    .reward = reward_disassemble,
    .policy = policy_disassemble,
};
