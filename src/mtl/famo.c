/* FAMO (Liu et al., NeurIPS 2023; spec/mtl-methods.md §8): task weights
 * from logits xi (z = softmax(xi)) and the current losses, w_k = c z_k / D_k
 * with D_k = L_k + 1e-8 (lower bounds 0, as every code has them), which is
 * the gradient of c sum_k z_k log D_k; after the model step the same batch's
 * losses D'_k tell how much each log loss fell, delta_k = log D_k - log D'_k,
 * and xi takes one Adam step (PyTorch's, with coupled weight decay gamma)
 * along z * (delta - z^T delta), so tasks that improved less gain weight.
 * c = 1 / sum z/D (the paper: weights sum to 1) or, to reproduce FAMO's
 * mtrl runs, c = sum z/D (their update times c^2).
 *
 * State (floats, checkpointed as they are, so a restored run continues bit
 * for bit): xi [0, K), Adam m [K, 2K), v [2K, 3K), the Adam step count [3K]
 * (saturates at 2^24, where both bias corrections are exactly 1 in double),
 * the row count of the pending combine [3K + 1] (0: none), its tasks
 * [3K + 2, 4K + 2) and its losses [4K + 2, 5K + 2). */
#include "mtl/mtl_impl.h"

#include <math.h>

#define FAMO_EPS 1e-8 /* added to every loss: log and 1/L stay finite at 0 */

long mtl_famo_state_len(int K) { return 5L * K + 2; }

void mtl_famo_init_state(mtl_combiner *c)
{
    for (long i = 0; i < c->state_len; i++)
        c->state[i] = 0; /* xi = 0: uniform weights */
}

/* z = softmax of the logits of the k tasks in tasks[] (those present). */
static void task_softmax(const mtl_combiner *c, int k, const int *tasks, double *z)
{
    double mx = -INFINITY, s = 0;
    for (int g = 0; g < k; g++)
        mx = fmax(mx, c->state[tasks[g]]);
    for (int g = 0; g < k; g++)
        s += (z[g] = exp(c->state[tasks[g]] - mx));
    for (int g = 0; g < k; g++)
        z[g] /= s;
}

size_t mtl_famo_work(const mtl_options *o, int K)
{
    (void)o;
    /* mtl_famo_after_step's: z and delta (k each), grad (K), the tasks (k);
     * mtl_famo_weights needs z only. */
    return 3 * MTL_WS_D(K) + MTL_WS_I(K);
}

void mtl_famo_weights(mtl_combiner *c, const mtl_input *in, mtl_stats *st)
{
    const int K = c->K, k = in->k;
    const float *losses = in->losses;
    if (st->nonfinite) { /* a NaN loss: the weights would be NaN; record nothing */
        for (int g = 0; g < k; g++)
            c->wd[g] = 0;
        return;
    }
    double *z = mtl_arena_doubles(&c->arena, k);
    if (!z)
        return;
    task_softmax(c, k, c->tasks, z);
    double q = 0;
    for (int g = 0; g < k; g++)
        q += z[g] / ((double)losses[g] + FAMO_EPS);
    double cc = c->o.famo_scale == MTL_FAMO_MTRL ? q : 1 / q;
    float *pt = c->state + 3 * K + 2, *pl = c->state + 4 * K + 2;
    for (int g = 0; g < k; g++) {
        c->wd[g] = cc * z[g] / ((double)losses[g] + FAMO_EPS);
        pt[g] = (float)c->tasks[g];
        pl[g] = losses[g];
    }
    c->state[3 * K + 1] = (float)k;
}

void mtl_famo_cancel(mtl_combiner *c) { c->state[3 * c->K + 1] = 0; }

int mtl_famo_after_step(mtl_combiner *c, const float *losses_after, mtrl_err *e)
{
    const int K = c->K;
    const int k = (int)c->state[3 * K + 1];
    if (k == 0)
        return 0;
    if (!losses_after)
        return err_set(e, MTRL_EINPUT, "mtl_after_step: famo needs the losses after the step");
    c->state[3 * K + 1] = 0;
    for (int g = 0; g < k; g++) {
        if (!isfinite(losses_after[g]))
            return 0; /* nothing to learn from; the logits stay */
        if (losses_after[g] < 0)
            return err_set(e, MTRL_EINPUT,
                           "mtl_after_step: famo works on log losses, but a loss after the "
                           "step is %g < 0",
                           losses_after[g]);
    }
    const float *pt = c->state + 3 * K + 2, *pl = c->state + 4 * K + 2;
    mtl_arena *ar = &c->arena;
    mtl_arena_clear(ar); /* outside any combine call: all of it is free */
    double *z = mtl_arena_doubles(ar, k), *delta = mtl_arena_doubles(ar, k),
           *grad = mtl_arena_doubles(ar, K);
    int *tasks = mtl_arena_ints(ar, k);
    if (!z || !delta || !grad || !tasks)
        return err_set(e, MTRL_ERUNTIME,
                       "mtl_after_step: famo needs %zu bytes of scratch, its work size is %zu",
                       ar->want, ar->cap);
    for (int g = 0; g < k; g++)
        tasks[g] = (int)pt[g];
    task_softmax(c, k, tasks, z);
    double zd = 0;
    for (int g = 0; g < k; g++) {
        delta[g] = log((double)pl[g] + FAMO_EPS) - log((double)losses_after[g] + FAMO_EPS);
        zd += z[g] * delta[g];
    }
    /* d(z^T delta)/d xi = z * (delta - z^T delta): the softmax Jacobian. Tasks
     * absent from the batch get no gradient (weight decay still applies, as
     * it would to a zero gradient in PyTorch). */
    for (int t = 0; t < K; t++)
        grad[t] = 0;
    for (int g = 0; g < k; g++)
        grad[tasks[g]] = z[g] * (delta[g] - zd);
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8, lr = c->o.famo_lr, wdk = c->o.famo_gamma;
    float *xi = c->state, *m = xi + K, *v = m + K, *step = c->state + 3 * K;
    if (*step < 16777216.0f)
        *step += 1.0f;
    double bc1 = 1 - pow(b1, *step), bc2 = 1 - pow(b2, *step);
    for (int t = 0; t < K; t++) {
        double gr = grad[t] + wdk * xi[t];
        double mt = b1 * m[t] + (1 - b1) * gr, vt = b2 * v[t] + (1 - b2) * gr * gr;
        m[t] = (float)mt;
        v[t] = (float)vt;
        xi[t] = (float)(xi[t] - lr / bc1 * mt / (sqrt(vt) / sqrt(bc2) + eps));
    }
    return 0;
}
