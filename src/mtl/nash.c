/* Nash-MTL (Navon et al., ICML 2022; spec/mtl-methods.md §7). The Nash
 * bargaining point alpha > 0 with alpha_k (A alpha)_k = 1 is the stationary
 * point of the strictly convex f(a) = a^T A a / 2 - sum_k log a_k, so a
 * damped Newton method finds it in a handful of K x K Cholesky solves; the
 * reference's cvxpy/ECOS sequence of convex-concave steps reaches the same
 * point except in the few steps where it stops early. nash_iters caps the
 * Newton steps (they converge in about 6 on random Grams; the reference's
 * optim_niter counts its CCP steps); with a small cap the last iterate is
 * used, as the reference uses its last CCP iterate, and the next call
 * continues from it. Like the reference, the solve runs on A / ||A||_F and
 * alpha is returned in absolute units, so ||d||^2 = K at convergence.
 * No Nash point exists exactly when a non-negative combination of the rows
 * is zero (f is unbounded below); that is tested first, with MGDA's exact
 * min-norm solver, and then the previous alpha is kept, as the reference
 * keeps its previous iterate when ECOS returns nothing.
 *
 * State (floats, checkpointed as they are): alpha per task [0, K) (1 at
 * first, as the reference's float32 ones), the call counter modulo
 * nash_update_every [K], and whether alpha was ever solved [K + 1] (the
 * warm start is used only then). */
#include "mtl/mtl_impl.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

long mtl_nash_state_len(int K) { return (long)K + 2; }

void mtl_nash_init_state(mtl_combiner *c)
{
    for (int t = 0; t < c->K; t++)
        c->state[t] = 1.0f;
    c->state[c->K] = 0;
    c->state[c->K + 1] = 0;
}

size_t mtl_nash_work(const mtl_options *o, int K)
{
    /* The stationarity test runs MGDA first and gives its scratch back. */
    size_t own = 2 * MTL_WS_D((long)K * K) + 5 * MTL_WS_D(K), mgda = mtl_mgda_work(o, K);
    return own > mgda ? own : mgda;
}

mtl_route mtl_nash_pick(mtl_combiner *c, const mtl_input *in)
{
    (void)in;
    int n = (int)c->state[c->K];
    c->state[c->K] = (float)((n + 1) % c->o.nash_update_every);
    return n != 0 ? MTL_ROUTE_BLIND : MTL_ROUTE_GRAM;
}

void mtl_nash_cached(mtl_combiner *c, const mtl_input *in, mtl_stats *st)
{
    (void)st;
    for (int g = 0; g < in->k; g++)
        c->wd[g] = c->state[c->tasks[g]];
}

/* The max-norm rule: the factor that brings a d of this norm down to
 * nash_max_norm (1: no cap, or short enough). The reference clips the norm
 * of the update after the backward pass. */
static double clip(const mtl_combiner *c, double norm)
{
    double mx = c->o.nash_max_norm;
    return mx > 0 && norm > mx ? mx / norm : 1.0;
}

void mtl_nash_cap(mtl_combiner *c, int k, float *d, mtl_stats *st)
{
    double f = clip(c, st->d_norm);
    if (st->nonfinite || f == 1.0)
        return;
    float ff = (float)f;
    cblas_sscal((int)c->P, ff, d, 1);
    for (int i = 0; i < k; i++)
        c->w[i] *= ff;
    st->d_norm = c->o.nash_max_norm;
}

static double potential(int k, const double *A, const double *b, double *Ab)
{
    double f = 0;
    for (int i = 0; i < k; i++) {
        double s = 0;
        for (int j = 0; j < k; j++)
            s += A[(long)i * k + j] * b[j];
        Ab[i] = s;
        f += 0.5 * b[i] * s - log(b[i]);
    }
    return f;
}

/* 1 if a Nash point can exist: the Gram is finite and nonzero, no row is
 * zero (it could never satisfy its equation), and the rows are not
 * Pareto-stationary: then the min-norm point of their convex hull (up to
 * row scales) is zero. The ratio compares ||G^T l||^2 with what it would
 * be for orthogonal rows, so the test is scale-free. s: ||A||_F. */
static int solvable(mtl_combiner *c, const mtl_input *in, double s)
{
    const int k = in->k;
    const double *A = c->A;
    int ok = s > 0 && isfinite(s);
    for (int i = 0; ok && i < k; i++)
        ok = A[(long)i * k + i] > 0;
    if (!ok || k == 1)
        return ok;
    size_t mark = mtl_arena_mark(&c->arena);
    mtl_stats ms = {0};
    mtl_mgda_weights(c, in, &ms);
    mtl_arena_reset(&c->arena, mark);
    double num = 0, den = 0;
    for (int i = 0; i < k; i++) {
        den += c->wd[i] * c->wd[i] * A[(long)i * k + i];
        for (int j = 0; j < k; j++)
            num += c->wd[i] * A[(long)i * k + j] * c->wd[j];
    }
    return den > 0 && num > 1e-10 * den;
}

/* Damped Newton on f over b > 0 for the normalised Gram An, from b; the
 * scratch holds H (k x k) and r, p, Ab, bt (k each). Returns 1 if b ends
 * positive and finite; *iters counts the steps taken. */
static int newton(int k, int iters_max, const double *An, double *b, double *H, double *r,
                  double *p, double *Ab, double *bt, int *iters)
{
    double f = potential(k, An, b, Ab);
    for (int it = 0; it < iters_max; it++) {
        for (int i = 0; i < k; i++) {
            r[i] = Ab[i] - 1 / b[i];
            p[i] = -r[i];
        }
        for (long i = 0; i < (long)k * k; i++)
            H[i] = An[i];
        for (int i = 0; i < k; i++)
            H[(long)i * k + i] += 1 / (b[i] * b[i]);
        if (mtl_spd_solve(k, H, p) != 0)
            return 0;
        double dec = 0;
        for (int i = 0; i < k; i++)
            dec -= r[i] * p[i];
        if (!(dec >= 0) || !isfinite(dec))
            return 0;
        if (dec < 2e-24) /* Newton decrement^2 / 2 below 1e-24: converged */
            break;
        double t = 1, ft = INFINITY;
        for (int h = 0; h < 80; h++, t *= 0.5) {
            int pos = 1;
            for (int i = 0; i < k; i++) {
                bt[i] = b[i] + t * p[i];
                pos &= bt[i] > 0;
            }
            if (!pos)
                continue;
            ft = potential(k, An, bt, r); /* r: scratch for A bt */
            if (ft <= f - 0.25 * t * dec)
                break;
        }
        if (!(ft <= f)) /* no descent found: numerically at the bottom */
            break;
        memcpy(b, bt, sizeof(double) * (size_t)k);
        f = potential(k, An, b, Ab);
        ++*iters;
    }
    int ok = 1;
    for (int i = 0; ok && i < k; i++)
        ok = b[i] > 0 && isfinite(b[i]);
    return ok;
}

/* alpha from the Gram into wd and the state; 0 if there is none. */
static int solve(mtl_combiner *c, const mtl_input *in, mtl_stats *st)
{
    const int k = in->k;
    const double *A = c->A;
    double s = 0;
    for (long i = 0; i < (long)k * k; i++)
        s += A[i] * A[i];
    s = sqrt(s);
    if (!solvable(c, in, s))
        return 0;
    mtl_arena *ar = &c->arena;
    double *An = mtl_arena_doubles(ar, (long)k * k), *H = mtl_arena_doubles(ar, (long)k * k),
           *b = mtl_arena_doubles(ar, k), *r = mtl_arena_doubles(ar, k),
           *p = mtl_arena_doubles(ar, k), *Ab = mtl_arena_doubles(ar, k),
           *bt = mtl_arena_doubles(ar, k);
    if (!An || !H || !b || !r || !p || !Ab || !bt)
        return 0;
    for (long i = 0; i < (long)k * k; i++)
        An[i] = A[i] / s;
    /* Warm start from the last solution (alpha scales as 1/sqrt(s));
     * otherwise the orthogonal-rows solution 1/||row||. */
    int warm = c->state[c->K + 1] != 0.0f;
    for (int g = 0; warm && g < k; g++)
        warm = c->state[c->tasks[g]] > 0;
    const double rs = sqrt(s);
    for (int g = 0; g < k; g++)
        b[g] = warm ? c->state[c->tasks[g]] * rs : 1 / sqrt(An[(long)g * k + g]);
    if (!newton(k, c->o.nash_iters, An, b, H, r, p, Ab, bt, &st->iters))
        return 0;
    for (int g = 0; g < k; g++) {
        c->wd[g] = b[g] / rs;
        c->state[c->tasks[g]] = (float)c->wd[g];
    }
    c->state[c->K + 1] = 1;
    return 1;
}

void mtl_nash_weights(mtl_combiner *c, const mtl_input *in, mtl_stats *st)
{
    const int k = in->k;
    st->iters = 0;
    if (!solve(c, in, st)) {
        if (c->arena.overflow)
            return;
        st->fallback = 1;
        mtl_nash_cached(c, in, st);
    }
    /* The max-norm on the weights: ||d||^2 = w^T A w is known here. */
    double dd = 0;
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++)
            dd += c->wd[i] * c->A[(long)i * k + j] * c->wd[j];
    double f = clip(c, sqrt(dd));
    if (f != 1.0)
        for (int i = 0; i < k; i++)
            c->wd[i] *= f;
}
