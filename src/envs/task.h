/* task: the contract between the Sawyer base env (sawyer.c, written once) and
 * the task definitions (task_<family>.c, one const env_task_def per task).
 * Internal to envs: other modules use envs.h only. Depends on MuJoCo and core.
 *
 * How a task plugs in
 * -------------------
 * 1. Scene: src/envs/assets/<scene>.xml, a complete MJCF document:
 *        <mujoco model="...">
 *          <include file="sawyer_setup.xml"/>
 *          <worldbody>
 *            <include file="sawyer_world.xml"/>
 *            ... the task's bodies, joints, geoms, sites (names as in the spec) ...
 *          </worldbody>
 *        </mujoco>
 *    Extra <asset>, <default> (with named classes: <default><default class=
 *    "door_col">...</default></default>), <equality>, <contact> blocks of the
 *    task's own are fine. Mass: bodies without <inertial> get mass from group
 *    4-5 geoms only (compiler inertiagrouprange="4 5", as the original); write
 *    explicit <inertial> from the spec appendix where in doubt. Put purely
 *    visual geoms in group 1 with contype="0" conaffinity="0". The world site
 *    "goal" belongs to the scene. Files are embedded at build time (any
 *    src/envs/assets/NAME.xml); MTRL_ASSET_DIR=<dir> loads them from a directory.
 * 2. Code: in src/envs/task_<family>.c define
 *        const env_task_def env_task_<name_with_underscores> = {...};
 *    (e.g. env_task_door_open_v2) and add one line to the table in
 *    registry.c (plus its extern declaration there). Add the line only once
 *    your file compiles: everyone builds from the same checkout.
 * 3. Test: tests/test_envs_<family>.c (see tests/test_envs_reach_push_pick.c).
 *
 * Call order, per env
 * -------------------
 *   create: model loaded (or shared), eq_data of the mocap weld overwritten,
 *           setup(e) once: look up ids by name into e->task_ids.
 *   reset:  mj_resetData; hand reset (50 x {mocap = hand_init_pos, quat
 *           (1,0,1,0), ctrl (-1,+1), 5 x mj_step}); e->init_tcp recorded;
 *           e->rand_vec set
 *           (already accepted by accept_rand, see below); reset(e): place
 *           objects/goal, set e->target_pos, e->obj_init_pos, ...; then the
 *           base builds the first observation (obs[18:36] = obs[0:18]).
 *   step:   mocap += 0.01 * clip(a[0:3]), clipped to hand_low/high; ctrl =
 *           (a3, -a3); 5 x mj_step (no mj_forward after: positions are one
 *           substep stale exactly as v2); observation (object_obs supplies
 *           obs[4:11], object2_obs obs[11:18]); reward(e, obs, a, info)
 *           with the RAW action.
 * Hooks run on the env's worker thread: no globals, no allocation, no name
 * lookups in reset/object_obs/reward/policy.
 *
 * Model edits: tasks that write m->body_pos at reset (door, drawer, button
 * box, window, peg box) set edits_model = 1; each env of such a task then gets
 * its own mjModel copy (mj_copyModel) and may use env_set_body_pos. Other
 * tasks share one immutable mjModel per scene. (A mocap-body trick would avoid
 * the copy but changes collision filtering against the table; a copy is a few
 * hundred KB and keeps the original semantics, including that the edit
 * persists into later resets.) */
#ifndef MTRL_ENVS_TASK_H
#define MTRL_ENVS_TASK_H

#include <math.h>

#include <mujoco/mujoco.h>

#include "core/err.h"
#include "core/rng.h"
#include "envs.h"

#define ENV_TASK_IDS 16  /* per-task looked-up ids (bodies, sites, joints, geoms) */
#define ENV_TASK_VALS 8  /* per-task private doubles recorded at reset */

struct env_task_def {
    const char *name;  /* "door-open-v2" */
    const char *scene; /* "sawyer_door_pull.xml" */
    int edits_model;   /* 1: reset writes mjModel (body_pos): env gets a private copy */
    double hand_init_pos[3];
    double hand_low[3], hand_high[3]; /* mocap bounds (all MT10: (-0.5,0.4,0.05)-(0.5,1,0.5)) */
    int rand_dim;                     /* 3 or 6 */
    double rand_low[ENV_RAND_MAX_DIM], rand_high[ENV_RAND_MAX_DIM];
    double goal_low[3], goal_high[3]; /* goal space (observation bounds of obs[36:39]) */
    /* Optional (NULL = accept all): the task's rejection rule on a drawn
     * rand-vector (reach/push/pick-place: obj and goal xy at least 0.15
     * apart). Applied when the 50-vector goal set is generated, as the
     * original redraws inside reset; reset then always gets an accepted one. */
    int (*accept_rand)(const double *v);
    /* Once per env after the model is loaded: look up ids (env_lookup) into
     * e->task_ids. Return 0 or MTRL_EINPUT with a message naming what is
     * missing. */
    int (*setup)(env_sawyer *e, mtrl_err *err);
    /* After the base's hand reset, with e->rand_vec holding this episode's
     * vector: place objects and goal as the original reset_model does
     * (including its mj_forward calls, or their absence), set e->target_pos
     * and e->obj_init_pos and any e->task_vals. */
    void (*reset)(env_sawyer *e);
    /* obs[4:11]: object position and quaternion in the task's convention
     * (xyzw via env_quat_xyzw_from_mat, MuJoCo wxyz, or zeros). */
    void (*object_obs)(const env_sawyer *e, double out[7]);
    /* The v2 reward for observation obs (39 doubles, already built) and the
     * raw action a (4 doubles, not clipped). Fills every info field
     * (info->reward is set by the base to the return value). */
    double (*reward)(env_sawyer *e, const double *obs, const double *a, env_info *info);
    /* Scripted policy (spec Appendix D, own code): stateless obs -> action.
     * Output may exceed [-1, 1]; the env clips. */
    void (*policy)(const double *obs, double *a);
    /* Optional (NULL = zeros): obs[11:18], a second object's position and
     * quaternion, for the few tasks that observe two (hammer's nail, the
     * stick tasks' thermos). */
    void (*object2_obs)(const env_sawyer *e, double out[7]);
};

/* One simulated env. Fields marked (task) are for the task hooks; the rest
 * belong to the base env (read them freely, write only what the comments say). */
struct env_sawyer {
    const env_task_def *task;
    int task_index;          /* registry index */
    const mjModel *m;        /* the model to read (shared, or == m_own) */
    mjModel *m_own;          /* private copy when task->edits_model, else NULL */
    mjData *d;
    struct env_scene *scene; /* shared model cache entry (base env) */

    /* Robot ids, looked up once by the base. */
    int hand_body, leftpad_body, rightpad_body;
    int left_ee_site, right_ee_site;     /* leftEndEffector, rightEndEffector */
    int leftpad_geom, rightpad_geom;
    int mocap_id;                        /* index into d->mocap_pos */

    /* Recorded at reset by the base (after the hand reset). */
    double init_tcp[3];
    double rand_vec[ENV_RAND_MAX_DIM];   /* this episode's vector (read by reset) */
    int goal_k;                          /* which of the 50 vectors */
    /* Set by the task's reset. */
    double target_pos[3];                /* obs[36:39] */
    double obj_init_pos[3];
    int task_ids[ENV_TASK_IDS];          /* (task) ids from setup */
    double task_vals[ENV_TASK_VALS];     /* (task) values recorded at reset */

    /* Base env state. */
    double obs[ENV_OBS_DIM];             /* last observation */
    double goals[ENV_NUM_GOALS][ENV_RAND_MAX_DIM]; /* the task's goal set */
    env_opts opts;
    rng_state rng;                       /* this env's stream (goal choice) */
    int fixed_goal;                      /* goal index used in ENV_GOALS_FIXED */
    int path_length;                     /* steps in this episode */
    int ended;                           /* episode over (truncated/unstable) */
    char unstable_why[512];              /* why the state last became untrustworthy */
    long unstable_episodes;
    int ep_success;                      /* success flag seen this episode */
    double ep_return;
};

/* ---- helpers for task hooks ---- */

/* Looks up a named object (mjOBJ_BODY, mjOBJ_SITE, mjOBJ_JOINT, mjOBJ_GEOM,
 * ...) into *id; MTRL_EINPUT naming the scene and object when absent. */
int env_lookup(const env_sawyer *e, int type, const char *name, int *id, mtrl_err *err);

/* World positions as of the last kinematics pass (stale by one substep after
 * a step, as in v2). */
static inline const double *env_body_xpos(const env_sawyer *e, int body)
{
    return e->d->xpos + 3 * body;
}
static inline const double *env_body_xquat(const env_sawyer *e, int body)
{
    return e->d->xquat + 4 * body;
}
static inline const double *env_site_xpos(const env_sawyer *e, int site)
{
    return e->d->site_xpos + 3 * site;
}
static inline const double *env_site_xmat(const env_sawyer *e, int site)
{
    return e->d->site_xmat + 9 * site;
}
static inline const double *env_geom_xpos(const env_sawyer *e, int geom)
{
    return e->d->geom_xpos + 3 * geom;
}
static inline const double *env_geom_xmat(const env_sawyer *e, int geom)
{
    return e->d->geom_xmat + 9 * geom;
}
static inline double env_joint_qpos(const env_sawyer *e, int jnt)
{
    return e->d->qpos[e->m->jnt_qposadr[jnt]];
}

/* tcp_center: midpoint of rightEndEffector and leftEndEffector. */
void env_tcp_center(const env_sawyer *e, double out[3]);

/* Free-joint placement (spec §4 "set object xyz"): qpos[adr:adr+3] = xyz
 * (quaternion kept), the joint's 6 velocities = 0, then mj_forward. */
void env_set_obj_xyz(env_sawyer *e, int free_jnt, const double xyz[3]);
/* Single-dof joint: qpos = q; qvel = 0 too when zero_vel. No mj_forward (call
 * env_forward where the original does). */
void env_set_joint_qpos(env_sawyer *e, int jnt, double q, int zero_vel);
/* Writes m->body_pos of a static body (task->edits_model must be 1). No
 * mj_forward. */
void env_set_body_pos(env_sawyer *e, int body, const double pos[3]);
void env_forward(env_sawyer *e);

/* Spec §7.3: both pads press on geom with positive normal force. */
int env_touching(const env_sawyer *e, int geom);

/* Spec §3 "xyzw-from-matrix": quaternion (x, y, z, w) from a row-major
 * rotation matrix, branch choice as the original (scipy). */
void env_quat_xyzw_from_mat(const double mat[9], double q[4]);

static inline double env_norm3(const double a[3])
{
    return sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]);
}
static inline double env_dist3(const double a[3], const double b[3])
{
    double d[3] = {a[0] - b[0], a[1] - b[1], a[2] - b[2]};
    return env_norm3(d);
}

static inline void env_set3(double *out, double x, double y, double z)
{
    out[0] = x, out[1] = y, out[2] = z;
}

/* |tcp_center - p|. */
double env_tcp_dist(const env_sawyer *e, const double *p);

/* The scripted policies' hand move: a[0:3] = p * (t - h), a proportional
 * step of the hand h toward the target t (spec Appendix D). */
static inline void env_move_to(const double *h, const double *t, double p, double *a)
{
    for (int i = 0; i < 3; i++)
        a[i] = p * (t[i] - h[i]);
}

/* The base env's step on doubles (used by vec.c and tests; env_step wraps
 * it for floats). */
int env_step_d(env_sawyer *e, const double *a, env_info *info, env_step_flags *fl,
               mtrl_err *err);

/* env_create / env_goal_set for a definition that need not be registered
 * (tests use variants of registered tasks); task_index is only reported. */
int env_create_def(env_sawyer **e, const env_task_def *t, int task_index, const env_opts *opts,
                   uint64_t env_index, mtrl_err *err);
int env_goal_set_def(const env_task_def *t, uint64_t goal_seed, double *out, mtrl_err *err);

/* The registry table (registry.c). */
extern const env_task_def *const env_task_table[];
extern const int env_task_table_len;
const env_task_def *env_task_get(int index);

#endif
