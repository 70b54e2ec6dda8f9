/* sawyer: the base env shared by every task (spec metaworld-mt10.md §1-5):
 * scene loading and the per-scene model cache, action handling, the 39-dim
 * observation, reset with the hand reset, goal sets, instability detection,
 * and the helpers task hooks call. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "assets.h"
#include "task.h"

/* ---- MuJoCo error and warning handlers ----
 * MuJoCo's defaults print to stdout, write MUJOCO_LOG.TXT and (for errors)
 * exit. Ours keep the message per thread; an error inside a guarded call
 * (every mj_step of an env) jumps back so that env's episode ends as
 * unstable. mju_user_error must not return, so outside a guarded call the
 * only honest option left is abort() with the message. */
static _Thread_local jmp_buf *tl_guard;
static _Thread_local char tl_msg[256];

static void on_mj_warning(const char *msg) { snprintf(tl_msg, sizeof tl_msg, "%s", msg); }

static void on_mj_error(const char *msg)
{
    snprintf(tl_msg, sizeof tl_msg, "%s", msg);
    if (tl_guard)
        longjmp(*tl_guard, 1);
    fprintf(stderr, "mtrl: MuJoCo error outside a simulation step: %s\n", msg);
    abort();
}

static pthread_once_t handlers_once = PTHREAD_ONCE_INIT;
static void install_handlers(void)
{
    mju_user_warning = on_mj_warning;
    mju_user_error = on_mj_error;
}

/* ---- scene cache: one immutable mjModel per scene file ---- */

struct env_scene {
    char name[128];
    mjModel *m;
    int refs;
    struct env_scene *next;
};
static pthread_mutex_t scene_lock = PTHREAD_MUTEX_INITIALIZER;
static struct env_scene *scenes;

static int add_vfs_file(mjVFS *vfs, const char *name, const char *data, size_t size, mtrl_err *err)
{
    int r = mj_makeEmptyFileVFS(vfs, name, (int)size);
    if (r == 2) /* repeated name: the first one wins, as a directory would */
        return 0;
    if (r != 0)
        return err_set(err, MTRL_ERUNTIME, "MuJoCo VFS full while adding '%s'", name);
    int i = mj_findFileVFS(vfs, name);
    memcpy(vfs->filedata[i], data, size);
    return 0;
}

/* Weld data in the MuJoCo 2.2.2 layout (anchor[3], relpos[3], relquat[4],
 * torquescale): identity relative pose, torquescale 1 (spec §1.2). */
static int fix_mocap_weld(mjModel *m, const char *scene, mtrl_err *err)
{
    int mocap = mj_name2id(m, mjOBJ_BODY, "mocap"), hand = mj_name2id(m, mjOBJ_BODY, "hand");
    for (int i = 0; i < m->neq; i++) {
        if (m->eq_type[i] != mjEQ_WELD || m->eq_obj1id[i] != mocap || m->eq_obj2id[i] != hand)
            continue;
        static const mjtNum w[mjNEQDATA] = {0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1};
        memcpy(m->eq_data + mjNEQDATA * i, w, sizeof w);
        return 0;
    }
    return err_set(err, MTRL_EINPUT, "scene %s: no weld between bodies 'mocap' and 'hand'", scene);
}

static mjModel *load_scene(const char *scene, mtrl_err *err)
{
    char xml_err[1024] = "";
    mjModel *m = NULL;
    const char *dir = getenv("MTRL_ASSET_DIR");
    if (dir && *dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, scene);
        m = mj_loadXML(path, NULL, xml_err, sizeof xml_err);
        if (!m) {
            err_set(err, MTRL_EINPUT, "loading %s (MTRL_ASSET_DIR): %s", path, xml_err);
            return NULL;
        }
    } else {
        mjVFS *vfs = malloc(sizeof *vfs);
        if (!vfs) {
            err_set(err, MTRL_ENOMEM, "no memory for the MuJoCo VFS");
            return NULL;
        }
        mj_defaultVFS(vfs);
        int found = 0, rc = 0;
        for (const env_asset *a = env_assets; a->name && !rc; a++) {
            rc = add_vfs_file(vfs, a->name, a->data, a->size, err);
            found |= !strcmp(a->name, scene);
        }
        if (!rc && !found)
            rc = err_set(err, MTRL_EINPUT, "scene '%s' is not among the embedded assets", scene);
        if (!rc) {
            m = mj_loadXML(scene, vfs, xml_err, sizeof xml_err);
            if (!m)
                err_set(err, MTRL_EINPUT, "loading embedded scene %s: %s", scene, xml_err);
        }
        mj_deleteVFS(vfs);
        free(vfs);
        if (!m)
            return NULL;
    }
    if (fix_mocap_weld(m, scene, err)) {
        mj_deleteModel(m);
        return NULL;
    }
    return m;
}

static struct env_scene *scene_acquire(const char *name, mtrl_err *err)
{
    pthread_once(&handlers_once, install_handlers);
    pthread_mutex_lock(&scene_lock);
    struct env_scene *s;
    for (s = scenes; s; s = s->next)
        if (!strcmp(s->name, name))
            break;
    if (!s) {
        mjModel *m = load_scene(name, err);
        if (m && (s = calloc(1, sizeof *s))) {
            snprintf(s->name, sizeof s->name, "%s", name);
            s->m = m;
            s->next = scenes;
            scenes = s;
        } else if (m) {
            mj_deleteModel(m);
            err_set(err, MTRL_ENOMEM, "no memory for scene %s", name);
        }
    }
    if (s)
        s->refs++;
    pthread_mutex_unlock(&scene_lock);
    return s;
}

static void scene_release(struct env_scene *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&scene_lock);
    if (--s->refs == 0) {
        struct env_scene **p = &scenes;
        while (*p != s)
            p = &(*p)->next;
        *p = s->next;
        mj_deleteModel(s->m);
        free(s);
    }
    pthread_mutex_unlock(&scene_lock);
}

/* ---- helpers for task hooks ---- */

int env_lookup(const env_sawyer *e, int type, const char *name, int *id, mtrl_err *err)
{
    *id = mj_name2id(e->m, type, name);
    if (*id < 0) {
        static const char *kinds[] = {[mjOBJ_BODY] = "body",   [mjOBJ_JOINT] = "joint",
                                      [mjOBJ_GEOM] = "geom",   [mjOBJ_SITE] = "site",
                                      [mjOBJ_ACTUATOR] = "actuator"};
        const char *kind = type >= 0 && type < (int)(sizeof kinds / sizeof kinds[0]) && kinds[type]
                               ? kinds[type]
                               : "object";
        return err_set(err, MTRL_EINPUT, "task %s: scene %s has no %s named '%s'", e->task->name,
                       e->task->scene, kind, name);
    }
    return 0;
}

void env_tcp_center(const env_sawyer *e, double out[3])
{
    const double *r = env_site_xpos(e, e->right_ee_site), *l = env_site_xpos(e, e->left_ee_site);
    for (int i = 0; i < 3; i++)
        out[i] = 0.5 * (r[i] + l[i]);
}

double env_tcp_dist(const env_sawyer *e, const double *p)
{
    double tcp[3];
    env_tcp_center(e, tcp);
    return env_dist3(tcp, p);
}

void env_set_obj_xyz(env_sawyer *e, int free_jnt, const double xyz[3])
{
    int qa = e->m->jnt_qposadr[free_jnt], va = e->m->jnt_dofadr[free_jnt];
    memcpy(e->d->qpos + qa, xyz, 3 * sizeof(double));
    memset(e->d->qvel + va, 0, 6 * sizeof(double));
    mj_forward(e->m, e->d);
}

void env_set_joint_qpos(env_sawyer *e, int jnt, double q, int zero_vel)
{
    e->d->qpos[e->m->jnt_qposadr[jnt]] = q;
    if (zero_vel)
        e->d->qvel[e->m->jnt_dofadr[jnt]] = 0;
}

void env_set_body_pos(env_sawyer *e, int body, const double pos[3])
{
    /* Only private models may change; a task without edits_model that gets
     * here has a wrong definition, and writing the shared model would leak
     * the edit into every env of the scene. */
    if (!e->m_own)
        return;
    memcpy(e->m_own->body_pos + 3 * body, pos, 3 * sizeof(double));
}

void env_forward(env_sawyer *e) { mj_forward(e->m, e->d); }

int env_touching(const env_sawyer *e, int geom)
{
    double fl = 0, fr = 0;
    const mjData *d = e->d;
    for (int i = 0; i < d->ncon; i++) {
        const mjContact *c = &d->contact[i];
        if (c->efc_address < 0)
            continue;
        int other;
        if (c->geom1 == geom)
            other = c->geom2;
        else if (c->geom2 == geom)
            other = c->geom1;
        else
            continue;
        if (other == e->leftpad_geom)
            fl += d->efc_force[c->efc_address];
        else if (other == e->rightpad_geom)
            fr += d->efc_force[c->efc_address];
    }
    return fl > 0 && fr > 0;
}

void env_quat_xyzw_from_mat(const double M[9], double q[4])
{
#define MM(r, c) M[3 * (r) + (c)]
    double tr = MM(0, 0) + MM(1, 1) + MM(2, 2);
    double dg[4] = {MM(0, 0), MM(1, 1), MM(2, 2), tr};
    int best = 0;
    for (int i = 1; i < 4; i++)
        if (dg[i] > dg[best])
            best = i;
    if (best == 3) {
        q[0] = MM(2, 1) - MM(1, 2);
        q[1] = MM(0, 2) - MM(2, 0);
        q[2] = MM(1, 0) - MM(0, 1);
        q[3] = 1 + tr;
    } else {
        int i = best, j = (i + 1) % 3, k = (j + 1) % 3;
        q[i] = 1 - tr + 2 * MM(i, i);
        q[j] = MM(j, i) + MM(i, j);
        q[k] = MM(k, i) + MM(i, k);
        q[3] = MM(k, j) - MM(j, k);
    }
#undef MM
    double n = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
    for (int i = 0; i < 4; i++)
        q[i] /= n;
}

/* ---- goal sets ---- */

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

int env_goal_set_def(const env_task_def *t, uint64_t goal_seed, double *out, mtrl_err *err)
{
    /* The stream depends on the task name, not its position, so a task's goal
     * set is the same in every benchmark and after the registry grows. */
    rng_state r;
    rng_seed(&r, goal_seed, RNG_STREAM_GOALS ^ fnv1a(t->name));
    int n = t->rand_dim;
    for (int k = 0; k < ENV_NUM_GOALS; k++) {
        double *v = out + ENV_RAND_MAX_DIM * k;
        for (int tries = 0;; tries++) {
            if (tries > 100000)
                return err_set(err, MTRL_ERUNTIME, "task %s: cannot draw an acceptable rand-vector",
                               t->name);
            memset(v, 0, sizeof(double) * ENV_RAND_MAX_DIM);
            for (int i = 0; i < n; i++)
                v[i] = rng_range(&r, t->rand_low[i], t->rand_high[i]);
            if (t->accept_rand && !t->accept_rand(v))
                continue;
            /* Meta-World asserts the 50 are pairwise distinct; redraw instead. */
            int dup = 0;
            for (int p = 0; p < k && !dup; p++)
                dup = !memcmp(out + ENV_RAND_MAX_DIM * p, v, sizeof(double) * ENV_RAND_MAX_DIM);
            if (!dup)
                break;
        }
    }
    return 0;
}

int env_goal_set(int task, uint64_t goal_seed, double *out, int *dim, mtrl_err *err)
{
    const env_task_def *t = env_task_get(task);
    if (!t)
        return err_set(err, MTRL_EINPUT, "no task with index %d", task);
    *dim = t->rand_dim;
    return env_goal_set_def(t, goal_seed, out, err);
}

/* ---- options ---- */

void env_opts_default(env_opts *o)
{
    memset(o, 0, sizeof *o);
    o->goals = ENV_GOALS_FIXED;
    o->goal_seed = 1;
    o->seed = 1;
    o->max_episode_steps = ENV_DEFAULT_MAX_STEPS;
    o->threads = 0;
    o->auto_reset = 1;
}

/* ---- simulation ---- */

/* Any warning counter but the visual-geom one means the state can no longer
 * be trusted. MuJoCo resets mjData itself on bad qpos/qvel/qacc and then
 * bumps the counter, so counters are compared with zero (mj_resetData clears
 * them at every episode start). */
static int warned(const mjData *d)
{
    for (int i = 0; i < mjNWARNING; i++)
        if (i != mjWARN_VGEOMFULL && d->warning[i].number > 0)
            return 1;
    return 0;
}

static const char *const warning_names[mjNWARNING] = {
    [mjWARN_INERTIA] = "mjWARN_INERTIA", [mjWARN_CONTACTFULL] = "mjWARN_CONTACTFULL",
    [mjWARN_CNSTRFULL] = "mjWARN_CNSTRFULL", [mjWARN_VGEOMFULL] = "mjWARN_VGEOMFULL",
    [mjWARN_BADQPOS] = "mjWARN_BADQPOS",   [mjWARN_BADQVEL] = "mjWARN_BADQVEL",
    [mjWARN_BADQACC] = "mjWARN_BADQACC",   [mjWARN_BADCTRL] = "mjWARN_BADCTRL",
};

/* Records in e->unstable_why what made the state untrustworthy: MuJoCo's
 * error, or the warnings raised (by name) with MuJoCo's text of the first.
 * where: "the hand reset", ..., or NULL for the step under way. */
static void note_unstable(env_sawyer *e, const char *where, int mj_error)
{
    char step[32], names[160] = "";
    if (!where) {
        snprintf(step, sizeof step, "step %d", e->path_length + 1);
        where = step;
    }
    size_t len = 0;
    for (int i = 0; i < mjNWARNING && !mj_error; i++)
        if (i != mjWARN_VGEOMFULL && e->d->warning[i].number > 0 && len < sizeof names)
            len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", len ? ", " : "",
                                    warning_names[i] ? warning_names[i] : "mjWARN_?");
    snprintf(e->unstable_why, sizeof e->unstable_why, "simulation unstable at %.40s (%.159s%s%.255s)", where,
             mj_error ? "MuJoCo error" : names, tl_msg[0] ? ": " : "", tl_msg);
}

/* Runs fn(e, n) with MuJoCo errors caught; 0, or -1 when MuJoCo raised an
 * error or fn says the state became untrustworthy (fn returns nonzero):
 * e->unstable_why says which, where names the caller's phase for it. */
static int guarded(env_sawyer *e, int (*fn)(env_sawyer *e, int n), int n, const char *where)
{
    jmp_buf jb;
    jmp_buf *saved = tl_guard;
    tl_msg[0] = '\0'; /* a message left by another env on this thread is not ours */
    if (setjmp(jb)) {
        tl_guard = saved;
        note_unstable(e, where, 1);
        return -1;
    }
    tl_guard = &jb;
    int bad = fn(e, n);
    tl_guard = saved;
    if (bad) {
        note_unstable(e, where, 0);
        return -1;
    }
    return 0;
}

/* n x mj_step, stopped at the first that raises a warning (1). */
static int step_until_warned(env_sawyer *e, int n)
{
    for (int i = 0; i < n; i++) {
        mj_step(e->m, e->d);
        if (warned(e->d))
            return 1;
    }
    return 0;
}

/* The task's reset hook (it may call mj_forward); 1 if it raised a warning. */
static int task_reset_hook(env_sawyer *e, int n)
{
    (void)n;
    e->task->reset(e);
    return warned(e->d);
}

/* n x mj_step with MuJoCo errors caught; 0 or -1 (see guarded). */
static int substeps(env_sawyer *e, int n, const char *where)
{
    return guarded(e, step_until_warned, n, where);
}

/* The task's reset hook with MuJoCo errors caught; 0 or -1. */
static int guarded_task_reset(env_sawyer *e)
{
    return guarded(e, task_reset_hook, 0, "the task's reset");
}

static void set_mocap(env_sawyer *e, const double pos[3])
{
    double *p = e->d->mocap_pos + 3 * e->mocap_id, *q = e->d->mocap_quat + 4 * e->mocap_id;
    p[0] = pos[0], p[1] = pos[1], p[2] = pos[2];
    /* (1, 0, 1, 0) un-normalised as the original; MuJoCo normalises it. */
    q[0] = 1, q[1] = 0, q[2] = 1, q[3] = 0;
}

/* Fills e->obs. prev: the frame for obs[18:36], or NULL to repeat the
 * current one (the first observation of an episode). */
static void build_obs(env_sawyer *e, const double *prev)
{
    double *o = e->obs;
    double saved[18];
    if (prev) {
        memcpy(saved, prev, sizeof saved);
        prev = saved; /* prev may alias e->obs */
    }
    memcpy(o, env_body_xpos(e, e->hand_body), 3 * sizeof(double));
    double gap = env_dist3(env_site_xpos(e, e->right_ee_site), env_site_xpos(e, e->left_ee_site));
    o[3] = fmin(fmax(gap / 0.1, 0.0), 1.0);
    e->task->object_obs(e, o + 4);
    if (e->task->object2_obs)
        e->task->object2_obs(e, o + 11);
    else
        memset(o + 11, 0, 7 * sizeof(double));
    memcpy(o + 18, prev ? prev : o, 18 * sizeof(double));
    memcpy(o + 36, e->target_pos, 3 * sizeof(double));
}

static int robot_ids(env_sawyer *e, mtrl_err *err)
{
    int body;
    if (env_lookup(e, mjOBJ_BODY, "hand", &e->hand_body, err) ||
        env_lookup(e, mjOBJ_BODY, "leftpad", &e->leftpad_body, err) ||
        env_lookup(e, mjOBJ_BODY, "rightpad", &e->rightpad_body, err) ||
        env_lookup(e, mjOBJ_SITE, "leftEndEffector", &e->left_ee_site, err) ||
        env_lookup(e, mjOBJ_SITE, "rightEndEffector", &e->right_ee_site, err) ||
        env_lookup(e, mjOBJ_GEOM, "leftpad_geom", &e->leftpad_geom, err) ||
        env_lookup(e, mjOBJ_GEOM, "rightpad_geom", &e->rightpad_geom, err) ||
        env_lookup(e, mjOBJ_BODY, "mocap", &body, err))
        return err->code;
    e->mocap_id = e->m->body_mocapid[body];
    if (e->mocap_id < 0)
        return err_set(err, MTRL_EINPUT, "scene %s: body 'mocap' is not a mocap body", e->task->scene);
    if (e->m->nu < 2)
        return err_set(err, MTRL_EINPUT, "scene %s: the two gripper actuators are missing",
                       e->task->scene);
    return 0;
}

int env_create(env_sawyer **out, int task, const env_opts *opts, uint64_t env_index, mtrl_err *err)
{
    *out = NULL;
    const env_task_def *t = env_task_get(task);
    if (!t)
        return err_set(err, MTRL_EINPUT, "no task with index %d", task);
    return env_create_def(out, t, task, opts, env_index, err);
}

int env_create_def(env_sawyer **out, const env_task_def *t, int task, const env_opts *opts,
                   uint64_t env_index, mtrl_err *err)
{
    *out = NULL;
    if (t->rand_dim < 1 || t->rand_dim > ENV_RAND_MAX_DIM || !t->reset || !t->object_obs ||
        !t->reward || !t->policy)
        return err_set(err, MTRL_EINPUT, "task %s: incomplete definition", t->name);
    env_opts o;
    if (opts)
        o = *opts;
    else
        env_opts_default(&o);
    if (o.max_episode_steps <= 0)
        return err_set(err, MTRL_EINPUT, "max episode steps must be positive, not %d",
                       o.max_episode_steps);
    env_sawyer *e = calloc(1, sizeof *e);
    if (!e)
        return err_set(err, MTRL_ENOMEM, "no memory for env %s", t->name);
    e->task = t;
    e->task_index = task;
    e->opts = o;
    int rc = 0;
    e->scene = scene_acquire(t->scene, err);
    if (!e->scene) {
        free(e);
        return err_prefix(err, "task %s", t->name);
    }
    e->m = e->scene->m;
    if (t->edits_model) {
        e->m_own = mj_copyModel(NULL, e->scene->m);
        if (!e->m_own)
            rc = err_set(err, MTRL_ENOMEM, "no memory for a model copy of %s", t->scene);
        else
            e->m = e->m_own;
    }
    if (!rc && !(e->d = mj_makeData(e->m)))
        rc = err_set(err, MTRL_ENOMEM, "no memory for the simulation data of %s", t->scene);
    if (!rc)
        rc = robot_ids(e, err);
    if (!rc && t->setup)
        rc = t->setup(e, err);
    if (!rc)
        rc = env_goal_set_def(t, o.goal_seed, &e->goals[0][0], err);
    if (rc) {
        env_destroy(e);
        return rc;
    }
    rng_seed(&e->rng, o.seed, RNG_STREAM_ENV + env_index);
    e->fixed_goal = (int)rng_below(&e->rng, ENV_NUM_GOALS);
    /* Tasks that move static bodies at reset leave them there, and the next
     * reset's hand reset runs with them in place (v2: the model edit
     * persists; a peg or box of the previous episode can nudge the objects).
     * One reset now puts them where every later episode of a fixed goal
     * finds them, so a fresh env (a resumed run, an evaluation env) starts
     * exactly like a reused one. It draws nothing from the env's stream. */
    if (t->edits_model) {
        float obs[ENV_OBS_DIM];
        if ((rc = env_reset_goal(e, e->fixed_goal, obs, err))) {
            env_destroy(e);
            return err_prefix(err, "the first reset");
        }
    }
    e->ended = 1; /* no episode before the first reset */
    *out = e;
    return 0;
}

void env_destroy(env_sawyer *e)
{
    if (!e)
        return;
    if (e->d)
        mj_deleteData(e->d);
    if (e->m_own)
        mj_deleteModel(e->m_own);
    scene_release(e->scene);
    free(e);
}

/* Index of the first non-finite entry of the observation, or -1. */
static int nonfinite_obs(const double *o)
{
    for (int i = 0; i < ENV_OBS_DIM; i++)
        if (!isfinite(o[i]))
            return i;
    return -1;
}

/* Spec §4. Returns 0, or MTRL_ERUNTIME if the hand reset or the task's reset
 * leaves an unstable state or a non-finite first observation (a broken scene
 * or model): the episode does not start. */
static int reset_with_goal(env_sawyer *e, int k, mtrl_err *err)
{
    const env_task_def *t = e->task;
    e->ended = 1; /* until the reset succeeds */
    mj_resetData(e->m, e->d);
    for (int i = 0; i < 50; i++) {
        set_mocap(e, t->hand_init_pos);
        e->d->ctrl[0] = -1;
        e->d->ctrl[1] = 1;
        if (substeps(e, 5, "the hand reset"))
            return err_set(err, MTRL_ERUNTIME, "task %s, goal %d: %s", t->name, k, e->unstable_why);
    }
    env_tcp_center(e, e->init_tcp);
    e->goal_k = k;
    memcpy(e->rand_vec, e->goals[k], sizeof e->rand_vec);
    if (guarded_task_reset(e))
        return err_set(err, MTRL_ERUNTIME, "task %s, goal %d: %s", t->name, k, e->unstable_why);
    build_obs(e, NULL);
    int bad = nonfinite_obs(e->obs);
    if (bad >= 0)
        return err_set(err, MTRL_ERUNTIME,
                       "task %s, goal %d: the first observation is not finite (obs[%d] = %g)",
                       t->name, k, bad, e->obs[bad]);
    e->path_length = 0;
    e->ended = 0;
    e->ep_return = 0;
    e->ep_success = 0;
    return 0;
}

static void obs_to_float(const double *o, float *out)
{
    if (out)
        for (int i = 0; i < ENV_OBS_DIM; i++)
            out[i] = (float)o[i];
}

int env_reset_goal(env_sawyer *e, int k, float *obs, mtrl_err *err)
{
    if (k < 0 || k >= ENV_NUM_GOALS)
        return err_set(err, MTRL_EINPUT, "task %s: goal index %d is not in 0..%d", e->task->name, k,
                       ENV_NUM_GOALS - 1);
    int rc = reset_with_goal(e, k, err);
    obs_to_float(e->obs, obs);
    return rc;
}

int env_reset(env_sawyer *e, float *obs, mtrl_err *err)
{
    int k = e->opts.goals == ENV_GOALS_SAMPLED ? (int)rng_below(&e->rng, ENV_NUM_GOALS)
                                               : e->fixed_goal;
    return env_reset_goal(e, k, obs, err);
}

int env_step_d(env_sawyer *e, const double *a_in, env_info *info, env_step_flags *fl, mtrl_err *err)
{
    memset(info, 0, sizeof *info);
    memset(fl, 0, sizeof *fl);
    if (e->ended)
        return err_set(err, MTRL_EINPUT,
                       "task %s: step after its episode ended (at step %d) or before any reset: "
                       "reset the env first",
                       e->task->name, e->path_length);
    const env_task_def *t = e->task;
    /* Non-finite action components act as 0, so one bad actor output cannot
     * poison the simulation state. */
    double a[4], ac[4];
    for (int i = 0; i < 4; i++) {
        a[i] = isfinite(a_in[i]) ? a_in[i] : 0.0;
        ac[i] = fmin(fmax(a[i], -1.0), 1.0);
    }
    double pos[3];
    const double *mp = e->d->mocap_pos + 3 * e->mocap_id;
    for (int i = 0; i < 3; i++)
        pos[i] = fmin(fmax(mp[i] + 0.01 * ac[i], t->hand_low[i]), t->hand_high[i]);
    set_mocap(e, pos);
    e->d->ctrl[0] = ac[3];
    e->d->ctrl[1] = -ac[3];
    int bad = substeps(e, 5, NULL);
    e->path_length++;
    if (!bad) {
        double prev[18];
        memcpy(prev, e->obs, sizeof prev);
        build_obs(e, prev);
        int i = nonfinite_obs(e->obs);
        if ((bad = i >= 0)) { /* keep the last stable observation, as v2 does */
            snprintf(e->unstable_why, sizeof e->unstable_why,
                     "non-finite observation at step %d (obs[%d] = %g)", e->path_length, i,
                     e->obs[i]);
            memcpy(e->obs, prev, sizeof prev);
        }
    }
    if (bad) {
        /* v2: last stable observation, reward 0, no success; the episode is over. */
        fl->unstable = 1;
        fl->done = 1;
        e->ended = 1;
        e->unstable_episodes++;
        return 0;
    }
    double r = t->reward(e, e->obs, a, info);
    if (!isfinite(r)) {
        snprintf(e->unstable_why, sizeof e->unstable_why, "non-finite reward at step %d (%g)",
                 e->path_length, r);
        r = 0;
        fl->unstable = 1;
        fl->done = 1;
        e->ended = 1;
        e->unstable_episodes++;
    }
    info->reward = r;
    e->ep_return += r;
    e->ep_success |= info->success != 0;
    if (e->path_length >= e->opts.max_episode_steps) {
        fl->truncated = 1;
        fl->done = 1;
        e->ended = 1;
    }
    return 0;
}

int env_step(env_sawyer *e, const float *action, float *obs, env_info *info, env_step_flags *fl,
             mtrl_err *err)
{
    double a[4] = {action[0], action[1], action[2], action[3]};
    int rc = env_step_d(e, a, info, fl, err);
    obs_to_float(e->obs, obs);
    return rc;
}

void env_scripted_action(const env_sawyer *e, const float *obs, float *action)
{
    double o[ENV_OBS_DIM], a[4];
    for (int i = 0; i < ENV_OBS_DIM; i++)
        o[i] = obs[i];
    e->task->policy(o, a);
    for (int i = 0; i < 4; i++)
        action[i] = (float)a[i];
}

int env_task_index(const env_sawyer *e) { return e->task_index; }

const char *env_task_scene(int i)
{
    const env_task_def *t = env_task_get(i);
    return t ? t->scene : NULL;
}

int env_time_physics(env_sawyer *e, int n, double *sec_per_step, mtrl_err *err)
{
    *sec_per_step = 0;
    if (n <= 0)
        return err_set(err, MTRL_EINPUT, "task %s: physics steps to time must be positive, not %d",
                       e->task->name, n);
    if (e->ended)
        return err_set(err, MTRL_EINPUT, "task %s: no running episode to time: reset the env first",
                       e->task->name);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int bad = substeps(e, n, "a timed physics step");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *sec_per_step = ((double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec)) / n;
    if (bad) {
        e->ended = 1;
        e->unstable_episodes++;
        return err_set(err, MTRL_ERUNTIME, "task %s: %s", e->task->name, e->unstable_why);
    }
    return 0;
}
long env_unstable_count(const env_sawyer *e) { return e->unstable_episodes; }

const struct mjModel_ *env_model(const env_sawyer *e)
{
    return e->m;
}

struct mjData_ *env_data(const env_sawyer *e)
{
    return e->d;
}
