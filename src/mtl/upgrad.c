/* UPGrad and DualProj (Quinton & Rey, "Jacobian descent for multi-objective
 * optimization"; TorchJD), in weight space (spec/mtl-methods.md §9-10): the
 * projection of G^T u onto the dual cone {x : G x >= 0} is G^T v with
 * v = argmin v^T A v subject to v >= u. UPGrad projects each g_i / K and adds
 * the projections; DualProj projects the mean once. As TorchJD: A is divided
 * by its trace (then 0 when the trace is below upgrad_norm_eps, which makes
 * the answer the plain mean) and upgrad_reg_eps I is added. The QPs are
 * solved exactly by the active-set method in linalg.c. */
#include "mtl/mtl_impl.h"

#include <math.h>

/* Q = normalised, regularised Gram in work; returns it. */
static double *normalised(mtl_combiner *c, int k)
{
    const double *A = c->A;
    double *Q = c->work, t = 0;
    for (int i = 0; i < k; i++)
        t += A[(long)i * k + i];
    /* t <= 0 only for an all-zero G; that must not divide even with
     * norm_eps 0. */
    double f = (t < c->o.upgrad_norm_eps || !(t > 0)) ? 0 : 1 / t;
    for (long i = 0; i < (long)k * k; i++)
        Q[i] = A[i] * f;
    for (int i = 0; i < k; i++)
        Q[(long)i * k + i] += c->o.upgrad_reg_eps;
    return Q;
}

/* With both epsilons 0 a singular Gram has no Cholesky factor in the QP;
 * the weights are then NaN and the update is skipped as non-finite. */
static int solve(int k, const double *Q, const double *l, double *v, double *work, int *iwork)
{
    int n = mtl_qp_lower(k, Q, l, v, work, iwork);
    if (n < 0)
        for (int i = 0; i < k; i++)
            v[i] = NAN;
    return n < 0 ? 0 : n;
}

void mtl_upgrad_weights(mtl_combiner *c, int k, int *iters)
{
    double *Q = normalised(c, k), *l = Q + (long)k * k, *v = l + k, *qw = v + k;
    *iters = 0;
    for (int i = 0; i < k; i++)
        c->wd[i] = 0;
    for (int i = 0; i < k; i++) {
        for (int j = 0; j < k; j++)
            l[j] = j == i ? 1.0 / k : 0.0;
        *iters += solve(k, Q, l, v, qw, c->iwork);
        for (int j = 0; j < k; j++)
            c->wd[j] += v[j];
    }
}

void mtl_dualproj_weights(mtl_combiner *c, int k, int *iters)
{
    double *Q = normalised(c, k), *l = Q + (long)k * k, *qw = l + k;
    for (int j = 0; j < k; j++)
        l[j] = 1.0 / k;
    *iters = solve(k, Q, l, c->wd, qw, c->iwork);
}
