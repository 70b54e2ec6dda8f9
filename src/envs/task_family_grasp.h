/* task_family_grasp: the scripted grasp-and-carry controller that the MT50
 * group D policies share (sweep, sweep-into, soccer in task_push_place.c;
 * hammer, stick-push, stick-pull in task_tool.c). Internal to envs; depends
 * on task.h for env_move_to only (a policy sees only the observation).
 *
 * Stateless, as the task contract asks: the phase is read off the
 * observation. Facts it relies on (measured in these scenes with MuJoCo
 * 2.2.2): with the gripper pointing down the fingertips (tcp) are 4.5 cm
 * below the hand body origin obs[0:3], and the fingers close along world y;
 * obs[3] is 1 open and settles within about 15 steps of closing (0.3 on
 * nothing, 0.45 on a 4 cm block, less on light objects the fingers squeeze);
 * the mocap moves at most 1 cm per step. */
#ifndef MTRL_ENVS_TASK_FAMILY_GRASP_H
#define MTRL_ENVS_TASK_FAMILY_GRASP_H

#include <math.h>

#include "task.h"

typedef struct env_grasp_plan {
    double grasp[3];  /* hand position at which the fingers close on the object */
    double above;     /* approach height of the hand over grasp[2] */
    double xy_tol;    /* hand within this of grasp xy: descend */
    double z_tol;     /* hand within this of grasp z: close */
    double grip;      /* gripper effort while closing and holding */
    double p;         /* proportional gain of the hand moves */
} env_grasp_plan;

/* Not holding yet: rise to the approach height, travel over the grasp point,
 * descend with the fingers open, then close and wait there. The caller
 * decides "held" from the object's place relative to the hand and the
 * gripper opening, and moves the hand itself once it holds. */
static inline void env_grasp_approach(const double *obs, const env_grasp_plan *c, double *a)
{
    const double *h = obs;
    double t[3] = {c->grasp[0], c->grasp[1], c->grasp[2] + c->above};
    double dxy = hypot(h[0] - c->grasp[0], h[1] - c->grasp[1]);
    a[3] = -1;
    if (dxy > 0.03 && h[2] < t[2] - 0.03) {
        t[0] = h[0], t[1] = h[1]; /* too low to travel: straight up first */
    } else if (dxy > c->xy_tol && dxy <= 0.03) {
        t[2] = h[2]; /* near: correct xy at this height */
    } else if (dxy <= c->xy_tol) {
        t[2] = c->grasp[2];
        if (fabs(h[2] - c->grasp[2]) <= c->z_tol)
            a[3] = c->grip;
    }
    env_move_to(h, t, c->p, a);
}

#endif
