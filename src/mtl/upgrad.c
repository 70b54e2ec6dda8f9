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

/* The slices both methods take: the normalised Gram Q, the bounds l, a
 * solution v and the QP's own scratch (mtl_qp_lower: n*n + 4n doubles, 2n
 * ints). */
typedef struct qp_ws {
    double *Q, *l, *v, *qw;
    int *qi;
} qp_ws;

size_t mtl_upgrad_work(const mtl_options *o, int K)
{
    (void)o;
    return MTL_WS_D((long)K * K) + 2 * MTL_WS_D(K) + MTL_WS_D((long)K * K + 4L * K) +
           MTL_WS_I(2L * K);
}

/* Q = the normalised, regularised Gram; 0 if the arena is short. */
static int normalised(mtl_combiner *c, int k, qp_ws *ws)
{
    mtl_arena *ar = &c->arena;
    ws->Q = mtl_arena_doubles(ar, (long)k * k);
    ws->l = mtl_arena_doubles(ar, k);
    ws->v = mtl_arena_doubles(ar, k);
    ws->qw = mtl_arena_doubles(ar, (long)k * k + 4L * k);
    ws->qi = mtl_arena_ints(ar, 2L * k);
    if (!ws->Q || !ws->l || !ws->v || !ws->qw || !ws->qi)
        return 0;
    const double *A = c->A;
    double *Q = ws->Q, t = 0;
    for (int i = 0; i < k; i++)
        t += A[(long)i * k + i];
    /* t <= 0 only for an all-zero G; that must not divide even with
     * norm_eps 0. */
    double f = (t < c->o.upgrad_norm_eps || !(t > 0)) ? 0 : 1 / t;
    for (long i = 0; i < (long)k * k; i++)
        Q[i] = A[i] * f;
    for (int i = 0; i < k; i++)
        Q[(long)i * k + i] += c->o.upgrad_reg_eps;
    return 1;
}

/* With both epsilons 0 a singular Gram has no Cholesky factor in the QP;
 * the weights are then NaN and the update is skipped as non-finite. */
static int solve(int k, const qp_ws *ws, double *v)
{
    int n = mtl_qp_lower(k, ws->Q, ws->l, v, ws->qw, ws->qi);
    if (n < 0)
        for (int i = 0; i < k; i++)
            v[i] = NAN;
    return n < 0 ? 0 : n;
}

void mtl_upgrad_weights(mtl_combiner *c, const mtl_input *in, mtl_stats *st)
{
    const int k = in->k;
    qp_ws ws;
    if (!normalised(c, k, &ws))
        return;
    st->iters = 0;
    for (int i = 0; i < k; i++)
        c->wd[i] = 0;
    for (int i = 0; i < k; i++) {
        for (int j = 0; j < k; j++)
            ws.l[j] = j == i ? 1.0 / k : 0.0;
        st->iters += solve(k, &ws, ws.v);
        for (int j = 0; j < k; j++)
            c->wd[j] += ws.v[j];
    }
}

void mtl_dualproj_weights(mtl_combiner *c, const mtl_input *in, mtl_stats *st)
{
    const int k = in->k;
    qp_ws ws;
    if (!normalised(c, k, &ws))
        return;
    for (int j = 0; j < k; j++)
        ws.l[j] = 1.0 / k;
    st->iters = solve(k, &ws, c->wd);
}
