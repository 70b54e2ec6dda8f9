/* Aligned-MTL and Aligned-MTL-UB (Senushkin et al., CVPR 2023), in task
 * space (spec/mtl-methods.md §2-3): with A = V L V^T, the aligned rows
 * B G, B = sqrt(l_min) V L^(-1/2) V^T, are orthogonal with equal norms, and
 * d = (B G)^T p = G^T (B p). Everything is one K x K eigendecomposition.
 * p = 1 as in the SamsungLabs code, so d is a sum of K aligned rows; the
 * rank cut and the scale are theirs: eigenvalues above l_max K eps(float),
 * common norm from the smallest kept one. */
#include "mtl/mtl_impl.h"

#include <float.h>
#include <math.h>
#include <string.h>

size_t mtl_aligned_solve_work(int n)
{
    return MTL_WS_D((long)n * n) + MTL_WS_D(n) + MTL_WS_D(mtl_eigh_work(n)) +
           MTL_WS_I(mtl_eigh_iwork(n));
}

int mtl_aligned_solve(int n, const double *M, double *w, mtl_arena *a)
{
    double *V = mtl_arena_doubles(a, (long)n * n), *ev = mtl_arena_doubles(a, n),
           *lw = mtl_arena_doubles(a, mtl_eigh_work(n));
    int *iwork = mtl_arena_ints(a, mtl_eigh_iwork(n));
    if (!V || !ev || !lw || !iwork)
        return 0;
    memcpy(V, M, sizeof(double) * (size_t)n * (size_t)n);
    if (mtl_eigh(n, V, ev, lw, iwork) != 0) {
        for (int i = 0; i < n; i++)
            w[i] = NAN; /* reported as non-finite: the update is skipped */
        return 0;
    }
    /* The reference keeps eigenvalues above l_max * n * eps with float32's
     * eps, because its Gram is float; ours is accumulated in float too. */
    const double tol = ev[n - 1] * n * FLT_EPSILON;
    int R = 0;
    double lmin = 0;
    for (int r = n - 1; r >= 0 && ev[r] > tol; r--)
        R++, lmin = ev[r];
    for (int i = 0; i < n; i++)
        w[i] = 0;
    /* R == 0: the Gram is zero, every direction is noise; d = 0 (the
     * reference divides by zero here). */
    for (int r = n - 1; r >= n - R; r--) {
        const double *v = V + (long)r * n;
        double vp = 0;
        for (int i = 0; i < n; i++)
            vp += v[i]; /* v_r^T p with p = 1 */
        double f = sqrt(lmin / ev[r]) * vp;
        for (int i = 0; i < n; i++)
            w[i] += f * v[i];
    }
    return R;
}

size_t mtl_aligned_work(const mtl_options *o, int K)
{
    (void)o;
    return mtl_aligned_solve_work(K);
}

/* On route GRAM c->A is the parameter Gram; on REP_GRAM the caller's
 * representation Gram (Aligned-MTL-UB). */
void mtl_aligned_weights(mtl_combiner *c, const mtl_input *in, mtl_stats *st)
{
    st->iters = mtl_aligned_solve(in->k, c->A, c->wd, &c->arena);
}

mtl_route mtl_aligned_pick(mtl_combiner *c, const mtl_input *in)
{
    (void)c;
    return in->rep_gram ? MTL_ROUTE_REP_GRAM : MTL_ROUTE_GRAM;
}
