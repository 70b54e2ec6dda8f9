/* ConFIG (Liu et al. 2024, "conflict-free inverse gradients"), in Gram form
 * (spec/mtl-methods.md §11): x = U^+ 1 for the unit rows U is G^T v with
 * v_k = (C^+ 1)_k / n_k (C the cosine matrix), the direction e = x / ||x||
 * has the same positive cosine with every task, and d = (sum_k <g_k, e>) e,
 * i.e. w = (1^T A v / v^T A v) v. The pseudo-inverse cuts eigenvalues of C
 * below K eps(float) times the largest (TorchJD's cut scales with P instead;
 * the spec notes the difference). */
#include "mtl/mtl_impl.h"

#include <math.h>

size_t mtl_config_work(const mtl_options *o, int K)
{
    (void)o;
    return MTL_WS_D((long)K * K) + 3 * MTL_WS_D(K) + mtl_pinv_work(K);
}

void mtl_config_weights(mtl_combiner *c, const mtl_input *in, mtl_stats *st)
{
    const int k = in->k;
    const double *A = c->A;
    mtl_arena *ar = &c->arena;
    double *V = mtl_arena_doubles(ar, (long)k * k), *inv = mtl_arena_doubles(ar, k),
           *y = mtl_arena_doubles(ar, k), *v = mtl_arena_doubles(ar, k);
    int *iters = &st->iters;
    if (!V || !inv || !y || !v)
        return;
    *iters = 0;
    for (int i = 0; i < k; i++) {
        double n2 = A[(long)i * k + i];
        inv[i] = n2 > 0 ? 1 / sqrt(n2) : 0; /* a zero row stays zero */
    }
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++)
            V[(long)i * k + j] = A[(long)i * k + j] * inv[i] * inv[j];
    int kept = mtl_pinv_apply(k, V, NULL, y, ar);
    if (kept == -2)
        return;
    if (kept < 0) {
        for (int i = 0; i < k; i++)
            c->wd[i] = NAN;
        return;
    }
    *iters = kept;
    double num = 0, den = 0;
    for (int i = 0; i < k; i++)
        v[i] = y[i] * inv[i];
    for (int i = 0; i < k; i++) {
        double av = 0;
        for (int j = 0; j < k; j++)
            av += A[(long)i * k + j] * v[j];
        num += av;
        den += v[i] * av;
    }
    /* den = ||x||^2 is 0 only when every row is zero: then d = 0. */
    for (int i = 0; i < k; i++)
        c->wd[i] = den > 0 ? num / den * v[i] : 0;
}
