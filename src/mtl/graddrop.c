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

#include "core/timer.h"

void mtl_graddrop(mtl_combiner *c, int k, const float *G, float *d, mtl_stats *st)
{
    const long P = c->P;
    const float kf = (float)c->o.graddrop_k;
    float *S = c->fs, *pos = S + MTL_GD_BLOCK, *neg = pos + MTL_GD_BLOCK;
    double t0 = tm_now(), s2 = 0, t2 = 0;
    for (long j0 = 0; j0 < P; j0 += MTL_GD_BLOCK) {
        int nb = (int)(P - j0 < MTL_GD_BLOCK ? P - j0 : MTL_GD_BLOCK);
        for (int j = 0; j < nb; j++)
            S[j] = pos[j] = neg[j] = 0;
        for (int i = 0; i < k; i++) {
            const float *g = G + (long)i * P + j0;
            for (int j = 0; j < nb; j++) {
                float x = g[j];
                /* S sums x itself so that a NaN anywhere reaches it (the
                 * max/min of the parts would drop it). */
                S[j] += x;
                pos[j] += x > 0 ? x : 0.0f;
                neg[j] += x < 0 ? x : 0.0f;
            }
        }
        float *dj = d + j0;
        for (int j = 0; j < nb; j++) {
            float T = pos[j] - neg[j];
            float prob = 0.5f + kf * S[j] / (2.0f * T + 1e-7f);
            float t = prob >= rng_uniform_f(&c->rng) ? pos[j] : neg[j];
            dj[j] = t;
            s2 += (double)S[j] * S[j];
            t2 += (double)t * t;
        }
    }
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
    uint32_t bad = 0; /* ||d|| could still leave float's range after scaling */
    for (long j = 0; j < P; j++)
        bad |= !isfinite(d[j]);
    st->nonfinite |= bad != 0;
    st->g0_norm = sn / k;
    st->d_norm = f * tn;
    st->t_combine = tm_now() - t0;
}
