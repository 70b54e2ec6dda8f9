/* reward: the shaping utilities of Meta-World's v2 rewards (spec
 * metaworld-mt10.md §6-7): dm_control-style tolerance, the Hamacher product,
 * the rectangular-prism tolerance, and the two gripper caging rewards.
 * Internal to envs; depends on task.h (for the env state the caging rewards
 * read) and nothing else. Pure functions: safe on any worker thread. */
#ifndef MTRL_ENVS_REWARD_H
#define MTRL_ENVS_REWARD_H

#include "task.h"

typedef enum rw_sigmoid {
    RW_LONG_TAIL = 0, /* 1 / (1 + 9 d^2): 0.1 at one margin */
    RW_GAUSSIAN = 1,  /* 10^(-d^2): 0.1 at one margin */
} rw_sigmoid;

/* 1 inside [lo, hi]; outside, the sigmoid of d = distance to the bound /
 * margin (0 when margin == 0). value_at_margin is 0.1 as in Meta-World.
 * Invalid arguments (lo > hi, margin < 0; the original raises) give NaN, so a
 * wrong constant shows up in the finite checks instead of passing silently. */
double rw_tolerance(double x, double lo, double hi, double margin, rw_sigmoid s);

/* Hamacher product of a, b in [0, 1]: ab / (a + b - ab), 0 if that
 * denominator is 0. */
double rw_hamacher(double a, double b);

/* Spec §6 rect_prism_tolerance: inside the box spanned by zero and one (either
 * order per axis) -> product of (c_k - zero_k) / (one_k - zero_k); outside -> 1. */
double rw_rect_prism(const double c[3], const double zero[3], const double one[3]);

/* Spec §7.1, the base-class caging reward G. Reads the current pad positions
 * and tcp, e->obj_init_pos and e->init_tcp. */
typedef struct rw_caging {
    double obj_radius;           /* r */
    double pad_success_thresh;   /* p */
    double object_reach_radius;  /* rho */
    double xz_thresh;            /* t */
    double desired_gripper_effort; /* e (Meta-World default 1) */
    int high_density, medium_density; /* at most one */
} rw_caging;
double rw_gripper_caging(const env_sawyer *e, const double *a, const double obj[3],
                         const rw_caging *p);

/* Spec §7.2, pick-place's own caging reward P: signed pad distances; the
 * margins use the current pads (Meta-World's "initial" pads are live views). */
double rw_pick_place_caging(const env_sawyer *e, const double *a, const double obj[3]);

/* Spec metaworld-mt50.md §2.1, the older caging reward ("OldCage") that
 * push-back, soccer, sweep and sweep-into define for themselves: signed pad
 * y-distances with a caging band [r, 0.05] and a gripping band
 * [r, r + grip_slack], an xz term with threshold xz_thresh, no gripper
 * command. Its margins use Meta-World's init_left_pad/init_right_pad, which
 * are live views of the pad positions there, so the current pads are used
 * (not e->init_left_pad). Reads e->obj_init_pos and e->init_tcp. */
double rw_old_caging(const env_sawyer *e, const double obj[3], double obj_radius,
                     double grip_slack, double xz_thresh);

/* Fills the info fields every reward reports (spec §9 gives their meaning
 * per task), in env_info's order; the caller returns the reward itself. */
static inline void rw_info_set(env_info *info, int success, double near_object,
                               double grasp_success, double grasp_reward, double in_place_reward,
                               double obj_to_target)
{
    info->success = success;
    info->near_object = near_object;
    info->grasp_success = grasp_success;
    info->grasp_reward = grasp_reward;
    info->in_place_reward = in_place_reward;
    info->obj_to_target = obj_to_target;
}

#endif
