/* task_family_button: the button box that button-press-topdown(-wall)
 * (task_button.c) and button-press(-wall) (task_button_press.c) share: a
 * static body "box" holding a sliding "button", the site "hole" (the goal)
 * and the site "buttonStart". The two differ in the press axis (z top-down,
 * y from the front) and in whether the reset zeroes the button's joint (the
 * front box does, as its original's set_state). Their rewards share the
 * terms below and combine them each in its own way. Internal to envs;
 * depends on task.h and reward.h. */
#ifndef MTRL_ENVS_TASK_FAMILY_BUTTON_H
#define MTRL_ENVS_TASK_FAMILY_BUTTON_H

#include <math.h>
#include <string.h>

#include "reward.h"
#include "task.h"

/* e->task_ids slots filled by env_button_box_setup; a task's own ids start
 * at ENV_BUTTON_NIDS. */
enum { ENV_BUTTON_BOX_BODY, ENV_BUTTON_BODY, ENV_BUTTON_HOLE_SITE, ENV_BUTTON_START_SITE,
       ENV_BUTTON_NIDS };
/* e->task_vals slot: the full press depth |hole - buttonStart| along the
 * press axis, the margin of the "pressed" reward term. */
enum { ENV_BUTTON_VAL_DEPTH };

static inline int env_button_box_setup(env_sawyer *e, mtrl_err *err)
{
    if (env_lookup(e, mjOBJ_BODY, "box", &e->task_ids[ENV_BUTTON_BOX_BODY], err) ||
        env_lookup(e, mjOBJ_BODY, "button", &e->task_ids[ENV_BUTTON_BODY], err) ||
        env_lookup(e, mjOBJ_SITE, "hole", &e->task_ids[ENV_BUTTON_HOLE_SITE], err) ||
        env_lookup(e, mjOBJ_SITE, "buttonStart", &e->task_ids[ENV_BUTTON_START_SITE], err))
        return err->code;
    return 0;
}

/* The box to the rand-vector (obj_init_pos too), kinematics updated, then
 * the goal is the hole site and the press depth is measured along axis. */
static inline void env_button_box_place(env_sawyer *e, int axis)
{
    const double *v = e->rand_vec;
    memcpy(e->obj_init_pos, v, 3 * sizeof(double));
    env_set_body_pos(e, e->task_ids[ENV_BUTTON_BOX_BODY], v);
    env_forward(e);
    memcpy(e->target_pos, env_site_xpos(e, e->task_ids[ENV_BUTTON_HOLE_SITE]),
           3 * sizeof(double));
    e->task_vals[ENV_BUTTON_VAL_DEPTH] =
        fabs(e->target_pos[axis] - env_site_xpos(e, e->task_ids[ENV_BUTTON_START_SITE])[axis]);
}

/* obs[4:11]: the button body's position moved by (0, dy, dz) to the
 * observed point on the button, and its MuJoCo w,x,y,z quaternion. */
static inline void env_button_obs(const env_sawyer *e, double dy, double dz, double out[7])
{
    const double *p = env_body_xpos(e, e->task_ids[ENV_BUTTON_BODY]);
    out[0] = p[0], out[1] = p[1] + dy, out[2] = p[2] + dz;
    memcpy(out + 3, env_body_xquat(e, e->task_ids[ENV_BUTTON_BODY]), 4 * sizeof(double));
}

/* The terms every button reward is made of (spec §9.7, metaworld-mt50.md
 * §4.A): the tcp's distance to the observed point, "near" (tolerance within
 * near_bound, margin from the initial tcp to the current button: the
 * originals' margin, spec Appendix E.5), the button's distance to the goal
 * along the press axis and "pressed" (within 5 mm, margin press_margin). */
typedef struct env_button_terms {
    double tcp_to_obj, near, obj_to_target, pressed;
} env_button_terms;

static inline env_button_terms env_button_terms_of(const env_sawyer *e, const double *obs,
                                                   int axis, double near_bound,
                                                   double press_margin)
{
    const double *o = obs + 4;
    double tcp[3];
    env_tcp_center(e, tcp);
    env_button_terms t;
    t.tcp_to_obj = env_dist3(o, tcp);
    t.near = rw_tolerance(t.tcp_to_obj, 0, near_bound, env_dist3(o, e->init_tcp), RW_LONG_TAIL);
    t.obj_to_target = fabs(e->target_pos[axis] - o[axis]);
    t.pressed = rw_tolerance(t.obj_to_target, 0, 0.005, press_margin, RW_LONG_TAIL);
    return t;
}

/* The info of every button task: success within success_dist of the goal,
 * near within 5 cm, grasp_success for an open gripper. */
static inline void env_button_info(env_info *info, const env_button_terms *t, const double *obs,
                                   double success_dist)
{
    rw_info_set(info, t->obj_to_target <= success_dist, t->tcp_to_obj <= 0.05, obs[3] > 0,
                t->near, t->pressed, t->obj_to_target);
}

#endif
