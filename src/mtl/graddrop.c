/* GradDrop (Chen et al., NeurIPS 2020) on parameter gradients, as Kurin et
 * al. ran it in RL (spec/mtl-methods.md §5): per coordinate j, with
 * S = sum_k g_kj and T = sum_k |g_kj|, keep the positive parts of every task
 * if P = 0.5 + k S / (2T + 1e-7) >= U (one uniform draw per coordinate,
 * shared by the tasks), else the negative parts; finally rescale the result
 * to the norm of the plain sum. Elementwise, so it cannot work from the
 * Gram: one blocked pass over G accumulates the sum and the positive and
 * negative parts of a block of coordinates, then decides the block. */
#include "mtl/mtl_impl.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "core/timer.h"

/* Four lanes with GCC/Clang vector extensions: the compilers leave the
 * scalar form of this loop unvectorized at -O2, and it is the K x P part. */
typedef float gd_v4f __attribute__((vector_size(16)));
typedef int gd_v4i __attribute__((vector_size(16)));

/* S += x, pos += max(x, 0), neg += min(x, 0) over n coordinates. S sums x
 * itself so that a NaN anywhere reaches it (it falls into neither part). */
static void accumulate(int n, const float *g, float *S, float *pos, float *neg)
{
    int j = 0;
    const gd_v4f zero = {0, 0, 0, 0};
    for (; j + 4 <= n; j += 4) {
        gd_v4f x, s, p, q;
        memcpy(&x, g + j, sizeof x);
        memcpy(&s, S + j, sizeof s);
        memcpy(&p, pos + j, sizeof p);
        memcpy(&q, neg + j, sizeof q);
        gd_v4i up = x > zero, dn = x < zero;
        s += x;
        p += (gd_v4f)((gd_v4i)x & up);
        q += (gd_v4f)((gd_v4i)x & dn);
        memcpy(S + j, &s, sizeof s);
        memcpy(pos + j, &p, sizeof p);
        memcpy(neg + j, &q, sizeof q);
    }
    for (; j < n; j++) {
        float x = g[j];
        S[j] += x;
        pos[j] += x > 0 ? x : 0.0f;
        neg[j] += x < 0 ? x : 0.0f;
    }
}

size_t mtl_graddrop_work(const mtl_options *o, int K)
{
    (void)o, (void)K;
    return 4 * MTL_WS_F(MTL_GD_BLOCK);
}

void mtl_graddrop(mtl_combiner *c, int k, const float *G, float *d, mtl_stats *st)
{
    const long P = c->P;
    const float kf = (float)c->o.graddrop_k;
    mtl_arena *ar = &c->arena;
    float *restrict S = mtl_arena_floats(ar, MTL_GD_BLOCK),
                    *restrict pos = mtl_arena_floats(ar, MTL_GD_BLOCK),
                    *restrict neg = mtl_arena_floats(ar, MTL_GD_BLOCK),
                    *restrict u = mtl_arena_floats(ar, MTL_GD_BLOCK);
    if (!S || !pos || !neg || !u)
        return;
    double t0 = tm_now(), s2 = 0;
    for (long j0 = 0; j0 < P; j0 += MTL_GD_BLOCK) {
        int nb = (int)(P - j0 < MTL_GD_BLOCK ? P - j0 : MTL_GD_BLOCK);
        for (int j = 0; j < nb; j++)
            S[j] = pos[j] = neg[j] = 0;
        for (int i = 0; i < k; i++)
            accumulate(nb, G + (long)i * P + j0, S, pos, neg);
        for (int j = 0; j < nb; j++) /* the draws in coordinate order */
            u[j] = rng_uniform_f(&c->rng);
        float *restrict dj = d + j0;
        for (int j = 0; j < nb; j++) {
            float prob = 0.5f + kf * S[j] / (2.0f * (pos[j] - neg[j]) + 1e-7f);
            dj[j] = prob >= u[j] ? pos[j] : neg[j];
        }
        s2 += cblas_dsdot(nb, S, 1, S, 1);
    }
    double t2 = cblas_dsdot((int)P, d, 1, d, 1);
    double sn = sqrt(s2), tn = sqrt(t2);
    /* Kurin's renormalisation: ||d|| = ||sum of rows|| (the paper has none). */
    double f = sn / (tn + 1e-7);
    st->nonfinite |= !isfinite(s2) || !isfinite(t2) || !isfinite(f);
    float ff = (float)f;
    for (int i = 0; i < k; i++)
        c->w[i] = ff, c->wd[i] = f;
    if (st->nonfinite) {
        st->t_combine = tm_now() - t0;
        return;
    }
    cblas_sscal((int)P, ff, d, 1);
    /* ||d|| could still leave float's range after scaling. */
    st->nonfinite |= mtl_any_nonfinite(d, P);
    st->g0_norm = sn / k;
    st->d_norm = f * tn;
    st->t_combine = tm_now() - t0;
}
