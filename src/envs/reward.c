#include "reward.h"

#include <math.h>

double rw_tolerance(double x, double lo, double hi, double margin, rw_sigmoid s)
{
    if (lo > hi || margin < 0)
        return NAN;
    if (x >= lo && x <= hi)
        return 1.0;
    if (margin == 0)
        return 0.0;
    double d = (x < lo ? lo - x : x - hi) / margin;
    if (s == RW_GAUSSIAN)
        return pow(10.0, -d * d); /* exp(-(d*sqrt(-2 ln 0.1))^2 / 2) */
    return 1.0 / (1.0 + 9.0 * d * d); /* scale^2 = 1/0.1 - 1 */
}

double rw_hamacher(double a, double b)
{
    double den = a + b - a * b;
    return den > 0 ? a * b / den : 0.0;
}

double rw_rect_prism(const double c[3], const double zero[3], const double one[3])
{
    double prod = 1.0;
    for (int k = 0; k < 3; k++) {
        double lo = fmin(zero[k], one[k]), hi = fmax(zero[k], one[k]);
        if (c[k] < lo || c[k] > hi)
            return 1.0;
        prod *= (c[k] - zero[k]) / (one[k] - zero[k]);
    }
    return prod;
}

static double xz_dist(const double a[3], const double b[3])
{
    return hypot(a[0] - b[0], a[2] - b[2]);
}

double rw_gripper_caging(const env_sawyer *e, const double *a, const double obj[3],
                         const rw_caging *p)
{
    const double *o0 = e->obj_init_pos, *c0 = e->init_tcp;
    const double *pads[2] = {env_body_xpos(e, e->leftpad_body), env_body_xpos(e, e->rightpad_body)};
    double cage[2];
    for (int i = 0; i < 2; i++) {
        double x = fabs(pads[i][1] - obj[1]);
        double m = fabs(fabs(pads[i][1] - o0[1]) - p->pad_success_thresh);
        cage[i] = rw_tolerance(x, p->obj_radius, p->pad_success_thresh, m, RW_LONG_TAIL);
    }
    double caging_y = rw_hamacher(cage[0], cage[1]);

    double tcp[3];
    env_tcp_center(e, tcp);
    double m_xz = xz_dist(o0, c0) - p->xz_thresh;
    double caging_xz = rw_tolerance(xz_dist(tcp, obj), 0, p->xz_thresh, m_xz, RW_LONG_TAIL);

    double eff = p->desired_gripper_effort > 0 ? p->desired_gripper_effort : 1.0;
    double closed = fmin(fmax(0.0, a[3]), eff) / eff;
    double caging = rw_hamacher(caging_y, caging_xz);
    double gripping = caging > 0.97 ? closed : 0.0;
    double g = rw_hamacher(caging, gripping);
    if (p->high_density && p->medium_density)
        return NAN; /* the original raises: a task constant is wrong */
    if (p->high_density)
        g = (g + caging) / 2;
    if (p->medium_density) {
        double reach_margin = fabs(env_dist3(o0, c0) - p->object_reach_radius);
        double reach = rw_tolerance(env_dist3(obj, tcp), 0, p->object_reach_radius, reach_margin,
                                    RW_LONG_TAIL);
        g = (g + reach) / 2;
    }
    return g;
}

double rw_pick_place_caging(const env_sawyer *e, const double *a, const double obj[3])
{
    const double pad_margin = 0.05, xz_margin = 0.005, radius = 0.015;
    const double *L = env_body_xpos(e, e->leftpad_body), *R = env_body_xpos(e, e->rightpad_body);
    /* Meta-World's init_left_pad/init_right_pad are live views of the pad
     * positions (get_body_com returns a view), so the margins use the
     * current pads, not a snapshot (spec metaworld-mt50.md §2; the MT10
     * spec's §7.2 says "initial pads", which the original does not do). */
    double dL = L[1] - obj[1], dR = obj[1] - R[1];
    double mR = fabs(fabs(obj[1] - R[1]) - pad_margin);
    double mL = fabs(fabs(obj[1] - L[1]) - pad_margin);
    double cR = rw_tolerance(dR, radius, pad_margin, mR, RW_LONG_TAIL);
    double cL = rw_tolerance(dL, radius, pad_margin, mL, RW_LONG_TAIL);
    double y_caging = rw_hamacher(cL, cR);

    double tcp[3];
    env_tcp_center(e, tcp);
    double xz_caging = rw_tolerance(xz_dist(tcp, obj), 0, xz_margin,
                                    xz_dist(e->obj_init_pos, e->init_tcp) - xz_margin, RW_LONG_TAIL);
    double closed = fmin(fmax(0.0, a[3]), 1.0);
    double caging = rw_hamacher(y_caging, xz_caging);
    double gripping = caging > 0.97 ? closed : 0.0;
    double g = rw_hamacher(caging, gripping);
    return (g + caging) / 2;
}

double rw_old_caging(const env_sawyer *e, const double obj[3], double obj_radius,
                     double grip_slack, double xz_thresh)
{
    const double pad = 0.05;
    const double *L = env_body_xpos(e, e->leftpad_body), *R = env_body_xpos(e, e->rightpad_body);
    double dL = L[1] - obj[1], dR = obj[1] - R[1];
    double mL = fabs(fabs(obj[1] - L[1]) - pad), mR = fabs(fabs(obj[1] - R[1]) - pad);
    double y_cage = rw_hamacher(rw_tolerance(dR, obj_radius, pad, mR, RW_LONG_TAIL),
                                rw_tolerance(dL, obj_radius, pad, mL, RW_LONG_TAIL));
    double y_grip =
        rw_hamacher(rw_tolerance(dR, obj_radius, obj_radius + grip_slack, mR, RW_LONG_TAIL),
                    rw_tolerance(dL, obj_radius, obj_radius + grip_slack, mL, RW_LONG_TAIL));
    double tcp[3];
    env_tcp_center(e, tcp);
    double xz_cage = rw_tolerance(xz_dist(tcp, obj), 0, xz_thresh,
                                  xz_dist(e->obj_init_pos, e->init_tcp) - xz_thresh, RW_LONG_TAIL);
    double cage = rw_hamacher(y_cage, xz_cage);
    double grip = cage > 0.95 ? y_grip : 0.0;
    return (cage + grip) / 2;
}
