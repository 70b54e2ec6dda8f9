/* Shared by the envs task tests: what a test needs to look inside an env
 * (an env by task name, ids and positions by the scene's names, the tcp, a
 * joint posed by hand) and the reference arithmetic the tests recompute the
 * spec's rewards with (Meta-World's tolerance sigmoids, the Hamacher
 * product, quaternion rotation), written here independently of
 * src/envs/reward.c so that a test compares two separate statements of the
 * spec. Every lookup fails the test, naming the scene, when a name is
 * missing. Include after testutil.h. */
#ifndef MTRL_TESTS_ENVS_PROBE_H
#define MTRL_TESTS_ENVS_PROBE_H

#include <math.h>

#include "envs/envs.h"
#include "envs/task.h"

static inline env_sawyer *make(const char *name)
{
    int t;
    env_sawyer *e = NULL;
    mtrl_err err = {0};
    if (env_task_find(name, &t, &err) || env_create(&e, t, NULL, 0, &err))
        fail_msg("%s: %s", name, err.msg);
    return e;
}

static inline int id_of(const env_sawyer *e, int type, const char *name)
{
    int id = mj_name2id(e->m, type, name);
    if (id < 0)
        fail_msg("scene %s has no object '%s'", e->task->scene, name);
    return id;
}

static inline double qpos_of(const env_sawyer *e, const char *joint)
{
    return e->d->qpos[e->m->jnt_qposadr[id_of(e, mjOBJ_JOINT, joint)]];
}

static inline const double *body_pos(const env_sawyer *e, const char *body)
{
    return e->d->xpos + 3 * id_of(e, mjOBJ_BODY, body);
}

static inline const double *site_pos(const env_sawyer *e, const char *site)
{
    return e->d->site_xpos + 3 * id_of(e, mjOBJ_SITE, site);
}

/* Midpoint of the two fingertip sites. */
static inline void tcp_of(const env_sawyer *e, double tcp[3])
{
    const double *r = site_pos(e, "rightEndEffector"), *l = site_pos(e, "leftEndEffector");
    for (int i = 0; i < 3; i++)
        tcp[i] = 0.5 * (r[i] + l[i]);
}

/* The normal contact forces between geom and the left and right finger pads,
 * summed over this step's contacts (read from mjData, not env_touching). */
static inline void pad_forces(const env_sawyer *e, int geom, double *left, double *right)
{
    int lp = id_of(e, mjOBJ_GEOM, "leftpad_geom"), rp = id_of(e, mjOBJ_GEOM, "rightpad_geom");
    *left = 0, *right = 0;
    for (int i = 0; i < e->d->ncon; i++) {
        const mjContact *c = &e->d->contact[i];
        double f[6];
        mj_contactForce(e->m, e->d, i, f);
        if ((c->geom1 == geom && c->geom2 == lp) || (c->geom2 == geom && c->geom1 == lp))
            *left += f[0];
        if ((c->geom1 == geom && c->geom2 == rp) || (c->geom2 == geom && c->geom1 == rp))
            *right += f[0];
    }
}

static inline double norm3(const double *v)
{
    return sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
}

static inline double dist3(const double *a, const double *b)
{
    double d[3] = {a[0] - b[0], a[1] - b[1], a[2] - b[2]};
    return norm3(d);
}

/* Meta-World's tolerance: 1 inside [lo, hi], outside it the long-tail
 * (tol) or gaussian (gtol) sigmoid of the distance over the margin, 0.1 at
 * one margin; 0 outside with a zero margin. A negative margin raises in the
 * original: here it fails the test. */
static inline double tol_distance(double x, double lo, double hi, double margin)
{
    if (margin < 0)
        fail_msg("negative tolerance margin %g", margin);
    if (x >= lo && x <= hi)
        return 0;
    return margin == 0 ? INFINITY : (x < lo ? lo - x : x - hi) / margin;
}

static inline double tol(double x, double lo, double hi, double margin)
{
    double d = tol_distance(x, lo, hi, margin);
    return isinf(d) ? 0 : 1 / (1 + 9 * d * d);
}

static inline double gtol(double x, double lo, double hi, double margin)
{
    double d = tol_distance(x, lo, hi, margin);
    return isinf(d) ? 0 : pow(10.0, -d * d);
}

/* Hamacher product: 0 when both are 0. */
static inline double ham(double a, double b)
{
    double den = a + b - a * b;
    return den > 0 ? a * b / den : 0;
}

static inline void assert_vec_near(const double *got, const double *want, int n, double eps,
                                   const char *what)
{
    for (int i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= eps))
            fail_msg("%s[%d] = %.9g, expected %.9g (tol %g)", what, i, got[i], want[i], eps);
}

/* Puts a single-dof joint at q (velocity 0), updates the kinematics and
 * writes the observation a fresh step would see into obs. */
static inline void pose_joint(env_sawyer *e, const char *joint, double q,
                              double obs[ENV_OBS_DIM])
{
    int j = id_of(e, mjOBJ_JOINT, joint);
    e->d->qpos[e->m->jnt_qposadr[j]] = q;
    e->d->qvel[e->m->jnt_dofadr[j]] = 0;
    mj_forward(e->m, e->d);
    memcpy(obs, e->obs, sizeof(double) * ENV_OBS_DIM);
    memcpy(obs, body_pos(e, "hand"), 3 * sizeof(double));
    e->task->object_obs(e, obs + 4);
}

/* Hamilton product a * b and rotation by a unit quaternion, both (w, x, y, z). */
static inline void qmul(const double a[4], const double b[4], double o[4])
{
    o[0] = a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3];
    o[1] = a[0] * b[1] + a[1] * b[0] + a[2] * b[3] - a[3] * b[2];
    o[2] = a[0] * b[2] - a[1] * b[3] + a[2] * b[0] + a[3] * b[1];
    o[3] = a[0] * b[3] + a[1] * b[2] - a[2] * b[1] + a[3] * b[0];
}

static inline void qrot(const double q[4], const double v[3], double o[3])
{
    double p[4] = {0, v[0], v[1], v[2]}, qc[4] = {q[0], -q[1], -q[2], -q[3]}, t[4], r[4];
    qmul(q, p, t);
    qmul(t, qc, r);
    o[0] = r[1], o[1] = r[2], o[2] = r[3];
}

/* A per-step reference-reward check: every step's reward and success flag
 * must equal the reference, and the visited states must include successes,
 * failures and low rewards, or the check proved little. */
typedef struct reward_tally {
    int succ, fail, low;
} reward_tally;

static inline void reward_tally_step(reward_tally *t, const char *task, int k, int s,
                                     const env_info *inf, double want, int succ)
{
    if (!(fabs(inf->reward - want) <= 1e-9))
        fail_msg("%s goal %d step %d: reward %.12g, reference %.12g", task, k, s, inf->reward,
                 want);
    assert_int_equal(inf->success, succ);
    t->succ += succ, t->fail += !succ;
    t->low += inf->reward < 5;
}

static inline void reward_tally_check(const reward_tally *t, const char *task)
{
    if (!(t->succ > 0 && t->fail > 0 && t->low > 0))
        fail_msg("%s: states not varied enough (success %d, fail %d, low reward %d)", task,
                 t->succ, t->fail, t->low);
}

#endif
