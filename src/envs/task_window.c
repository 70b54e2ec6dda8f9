/* window-open-v2 and window-close-v2 (spec metaworld-mt10.md §9.9-9.10,
 * Appendix C.6, scripted policies Appendix D): slide a window sash along x
 * by pushing its handle, open (slide 0 -> 0.2) or closed (0.2 -> 0). Both use
 * scene sawyer_window_horizontal.xml and one parameterised implementation;
 * they differ only in the numbers of struct variant below. The window is a
 * static body whose body_pos is rewritten at reset (edits_model). */
#include <math.h>
#include <string.h>

#include "reward.h"
#include "task.h"

enum { ID_VARIANT, ID_WINDOW_BODY, ID_SLIDE_JOINT, ID_HANDLE_SITE };
/* task_vals: the handle's position at the start of the episode (x, y, z),
 * and the site's fixed offset from the window body at slide 0 (x, y, z). */
enum { VAL_HANDLE_INIT = 0, VAL_SITE_OFFSET = 3 };

typedef struct variant {
    const char *site;       /* the handle point observed and rewarded */
    double slide_init;      /* window_slide at reset */
    double target_dx;       /* target = window position + (target_dx, 0, 0) */
    double handle_init_dx;  /* added to the site's slide-0 position for handle_init */
    rw_sigmoid reach_sigmoid;
    /* in-place margin from obj_init_pos (open) or from handle_init (close) */
    int margin_from_handle;
} variant;

enum { OPEN, CLOSE };
static const variant variants[2] = {
    [OPEN] = {"handleOpenStart", 0.0, 0.2, 0.0, RW_LONG_TAIL, 0},
    [CLOSE] = {"handleCloseStart", 0.2, 0.0, 0.2, RW_GAUSSIAN, 1},
};

static int setup_variant(env_sawyer *e, int which, mtrl_err *err)
{
    int *id = e->task_ids;
    id[ID_VARIANT] = which;
    if (env_lookup(e, mjOBJ_BODY, "window", &id[ID_WINDOW_BODY], err) ||
        env_lookup(e, mjOBJ_JOINT, "window_slide", &id[ID_SLIDE_JOINT], err) ||
        env_lookup(e, mjOBJ_SITE, variants[which].site, &id[ID_HANDLE_SITE], err))
        return err->code;
    /* The handle's offset from the window body, summed down the body chain.
     * Every frame on the way is unrotated in the scene (checked here), so the
     * handle's start position follows from the new window position alone. */
    const mjModel *m = e->m;
    int s = id[ID_HANDLE_SITE], w = id[ID_WINDOW_BODY];
    double *off = e->task_vals + VAL_SITE_OFFSET;
    memcpy(off, m->site_pos + 3 * s, 3 * sizeof(double));
    int unrotated = m->site_quat[4 * s] == 1.0;
    int b = m->site_bodyid[s];
    for (; b != w && b > 0; b = m->body_parentid[b]) {
        for (int k = 0; k < 3; k++)
            off[k] += m->body_pos[3 * b + k];
        unrotated &= m->body_quat[4 * b] == 1.0;
    }
    if (b != w || !unrotated || m->body_quat[4 * w] != 1.0)
        return err_set(err, MTRL_EINPUT,
                       "scene %s: site '%s' must sit in unrotated bodies below body 'window'",
                       e->task->scene, variants[which].site);
    return 0;
}

static int setup_open(env_sawyer *e, mtrl_err *err) { return setup_variant(e, OPEN, err); }
static int setup_close(env_sawyer *e, mtrl_err *err) { return setup_variant(e, CLOSE, err); }

static void reset(env_sawyer *e)
{
    const variant *vr = &variants[e->task_ids[ID_VARIANT]];
    const double *v = e->rand_vec, *off = e->task_vals + VAL_SITE_OFFSET;
    double *handle_init = e->task_vals + VAL_HANDLE_INIT;
    memcpy(e->obj_init_pos, v, 3 * sizeof(double));
    e->target_pos[0] = v[0] + vr->target_dx, e->target_pos[1] = v[1], e->target_pos[2] = v[2];
    env_set_body_pos(e, e->task_ids[ID_WINDOW_BODY], v);
    /* v2 reads the site here without mj_forward, i.e. at the previous
     * episode's window position; that equals this value whenever the window
     * did not move (a fixed task), which is the value every later reset of a
     * fixed task sees. Computing it from the new position keeps the reward
     * margins right when goals are sampled per episode. */
    handle_init[0] = v[0] + off[0] + vr->handle_init_dx;
    handle_init[1] = v[1] + off[1];
    handle_init[2] = v[2] + off[2];
    env_set_joint_qpos(e, e->task_ids[ID_SLIDE_JOINT], vr->slide_init, 0);
    /* v2 calls no mj_forward here, so its first observation shows the sash
     * where the previous episode (or the XML, in a fresh env) left it. That
     * makes an env's first episode differ from its later ones, and a resumed
     * run differ from an uninterrupted one; we update the kinematics so the
     * first observation is the true one (as the drawer tasks and v3 do). */
    env_forward(e);
}

static void object_obs(const env_sawyer *e, double out[7])
{
    memcpy(out, env_site_xpos(e, e->task_ids[ID_HANDLE_SITE]), 3 * sizeof(double));
    out[3] = out[4] = out[5] = out[6] = 0; /* the original reports no orientation */
}

static double reward(env_sawyer *e, const double *obs, const double *a, env_info *info)
{
    (void)obs, (void)a;
    const variant *vr = &variants[e->task_ids[ID_VARIANT]];
    const double *o = env_site_xpos(e, e->task_ids[ID_HANDLE_SITE]), *g = e->target_pos;
    const double *handle_init = e->task_vals + VAL_HANDLE_INIT;
    double tcp[3];
    env_tcp_center(e, tcp);
    double d = fabs(o[0] - g[0]);
    double start_x = vr->margin_from_handle ? handle_init[0] : e->obj_init_pos[0];
    double in_place = rw_tolerance(d, 0, 0.05, fabs(fabs(start_x - g[0]) - 0.05), RW_LONG_TAIL);
    double tcp_to_obj = env_dist3(o, tcp);
    double reach = rw_tolerance(tcp_to_obj, 0, 0.02,
                                fabs(env_dist3(handle_init, e->init_tcp) - 0.02), vr->reach_sigmoid);
    rw_info_set(info, d <= 0.05, tcp_to_obj <= 0.05, 1, reach, in_place, d);
    return 10 * rw_hamacher(reach, in_place);
}

/* Scripted policies (Appendix D): gripper closed, come down beside the handle
 * (3 cm to the side it is pushed from, 3 cm in front, 8 cm below the
 * observed point) and push along x. */
static void push_handle(const double *obs, double side_dx, double above, double push_dx, double *a)
{
    const double *h = obs, *o = obs + 4;
    double w[3] = {o[0] + side_dx, o[1] - 0.03, o[2] - 0.08}, t[3] = {w[0], w[1], w[2]};
    if (hypot(h[0] - w[0], h[1] - w[1]) > 0.04)
        t[2] += above;
    else if (fabs(h[2] - w[2]) <= 0.02)
        t[0] += push_dx;
    for (int k = 0; k < 3; k++)
        a[k] = 25 * (t[k] - h[k]);
    a[3] = 1;
}

static void policy_open(const double *obs, double *a) { push_handle(obs, -0.03, 0.3, 0.1, a); }
static void policy_close(const double *obs, double *a) { push_handle(obs, 0.03, 0.25, -0.1, a); }

const env_task_def env_task_window_open_v2 = {
    .name = "window-open-v2",
    .scene = "sawyer_window_horizontal.xml",
    .edits_model = 1,
    .hand_init_pos = {0, 0.4, 0.2},
    .hand_low = {-0.5, 0.40, 0.05},
    .hand_high = {0.5, 1.0, 0.5},
    .rand_dim = 3, /* window position */
    .rand_low = {-0.1, 0.7, 0.16},
    .rand_high = {0.1, 0.9, 0.16},
    .goal_low = {-0.5, 0.40, 0.05}, /* the goal space is the hand range */
    .goal_high = {0.5, 1.0, 0.5},
    .setup = setup_open,
    .reset = reset,
    .object_obs = object_obs,
    .reward = reward,
    .policy = policy_open,
};

const env_task_def env_task_window_close_v2 = {
    .name = "window-close-v2",
    .scene = "sawyer_window_horizontal.xml",
    .edits_model = 1,
    .hand_init_pos = {0, 0.4, 0.2},
    .hand_low = {-0.5, 0.40, 0.05},
    .hand_high = {0.5, 1.0, 0.5},
    .rand_dim = 3, /* window position: x fixed at 0, z 0.2 (window-open uses 0.16) */
    .rand_low = {0.0, 0.75, 0.2},
    .rand_high = {0.0, 0.9, 0.2},
    .goal_low = {-0.5, 0.40, 0.05},
    .goal_high = {0.5, 1.0, 0.5},
    .setup = setup_close,
    .reset = reset,
    .object_obs = object_obs,
    .reward = reward,
    .policy = policy_close,
};
