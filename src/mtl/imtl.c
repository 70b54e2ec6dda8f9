/* IMTL-G (Liu et al., ICLR 2021) in its Gram form (spec/mtl-methods.md §4):
 * d = G^T w with sum(w) = 1 and equal projections <u_k, d> for every unit
 * task gradient u_k. Those conditions say A w is proportional to n (n_k =
 * ||g_k||), so w = v / sum(v) with v = A^+ n; this equals the reference's
 * (K-1) x (K-1) system whenever A is invertible, and stays defined when it
 * is not. Kurin et al.'s RL code solved the transposed system, which loses
 * the equal-projection property for K >= 3; that is not reproduced. */
#include "mtl/mtl_impl.h"

#include <math.h>
#include <string.h>

size_t mtl_imtl_work(const mtl_options *o, int K)
{
    (void)o;
    return MTL_WS_D((long)K * K) + 2 * MTL_WS_D(K) + mtl_pinv_work(K);
}

void mtl_imtl_weights(mtl_combiner *c, const mtl_input *in, mtl_stats *st)
{
    const int k = in->k;
    const double *A = c->A;
    mtl_arena *ar = &c->arena;
    double *V = mtl_arena_doubles(ar, (long)k * k), *nrm = mtl_arena_doubles(ar, k),
           *v = mtl_arena_doubles(ar, k);
    int *iters = &st->iters;
    if (!V || !nrm || !v)
        return;
    *iters = 0;
    memcpy(V, A, sizeof(double) * (size_t)k * (size_t)k);
    for (int i = 0; i < k; i++)
        nrm[i] = sqrt(fmax(A[(long)i * k + i], 0));
    /* The pseudo-inverse's cut is torch.linalg.pinv's default (see
     * mtl_pinv_apply). */
    int kept = mtl_pinv_apply(k, V, nrm, v, ar);
    if (kept == -2)
        return;
    if (kept < 0) {
        for (int i = 0; i < k; i++)
            c->wd[i] = NAN;
        return;
    }
    *iters = kept;
    double s = 0;
    for (int i = 0; i < k; i++)
        s += v[i];
    /* TorchJD's guard: a (near) zero sum has no affine-hull point with equal
     * projections; w = 0 (d = 0) instead of dividing by it. Large but finite
     * weights (the RL overflow Kurin et al. saw) pass, and the pipeline flags
     * them if d leaves float's range. */
    for (int i = 0; i < k; i++)
        c->wd[i] = fabs(s) < 1e-12 ? 0 : v[i] / s;
}
