/* PCGrad (Yu et al. 2020) as mtrl runs it (spec §5.4), in coefficient space.
 * Every projected gradient p_i stays a combination of the original rows,
 * p_i = sum_m C[i][m] g_m, so <p_i, g_j> = (C A)[i][j] needs only the Gram:
 * the K(K-1) projections cost O(K^3) on a K x K matrix instead of O(K^2 P)
 * passes over the gradients, and the result is the same vector. */
#include "mtl/mtl_impl.h"

#include <math.h>

size_t mtl_pcgrad_work(const mtl_options *o, int K)
{
    (void)o;
    return MTL_WS_D((long)K * K) + MTL_WS_D(K) + MTL_WS_I(K);
}

void mtl_pcgrad_weights(mtl_combiner *c, const mtl_input *in, mtl_stats *st)
{
    const int k = in->k;
    const double *A = c->A;
    double *C = mtl_arena_doubles(&c->arena, (long)k * k); /* row i = p_i's coefficients */
    double *inv = mtl_arena_doubles(&c->arena, k); /* 1 / (||g_j|| + 1e-8): the
                                                    * reference's unit vectors */
    int *order = mtl_arena_ints(&c->arena, k);
    if (!C || !inv || !order)
        return;
    for (int j = 0; j < k; j++)
        inv[j] = 1.0 / (sqrt(fmax(A[(long)j * k + j], 0)) + 1e-8);
    for (long t = 0; t < (long)k * k; t++)
        C[t] = 0;
    int projections = 0;
    for (int i = 0; i < k; i++) {
        double *Ci = C + (long)i * k;
        Ci[i] = 1;
        /* Task i's own random order of the other tasks. Projections of p_i
         * use only p_i and the original rows, so doing task i's whole
         * sequence at once equals the reference's round-by-round batching. */
        int n = 0;
        for (int j = 0; j < k; j++)
            if (j != i)
                order[n++] = j;
        rng_shuffle_int(&c->rng, order, n);
        for (int r = 0; r < n; r++) {
            int j = order[r];
            double dot = 0; /* <p_i, g_j> */
            for (int m = 0; m < k; m++)
                dot += Ci[m] * A[(long)m * k + j];
            double delta = dot * inv[j]; /* <p_i, g_j / (||g_j|| + 1e-8)> */
            if (delta < 0) {
                Ci[j] -= delta * inv[j];
                projections++;
            }
        }
    }
    /* d = mean of the projected rows (mtrl averages; the paper sums). */
    for (int m = 0; m < k; m++) {
        double s = 0;
        for (int i = 0; i < k; i++)
            s += C[(long)i * k + m];
        c->wd[m] = s / k;
    }
    st->iters = projections;
}
