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

int mtl_nash_reuse(const mtl_combiner *c) { return c->state[c->K] != 0.0f; }

void mtl_nash_count(mtl_combiner *c)
{
    int n = (int)c->state[c->K] + 1;
    c->state[c->K] = (float)(n % c->o.nash_update_every);
}

void mtl_nash_cached(mtl_combiner *c, int k)
{
    for (int g = 0; g < k; g++)
        c->wd[g] = c->state[c->tasks[g]];
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

void mtl_nash_weights(mtl_combiner *c, int k, int *iters, int *fallback)
{
    const double *A = c->A;
    double *An = c->work, *H = An + (long)k * k, *b = H + (long)k * k, *r = b + k, *p = r + k,
           *Ab = p + k, *bt = Ab + k;
    *iters = 0;
    double s = 0;
    for (long i = 0; i < (long)k * k; i++)
        s += A[i] * A[i];
    s = sqrt(s);
    int ok = s > 0 && isfinite(s);
    for (int i = 0; ok && i < k; i++)
        ok = A[(long)i * k + i] > 0; /* a zero row can never satisfy its equation */
    if (ok && k > 1) {
        /* Pareto-stationary rows: the min-norm point of their convex hull
         * (up to row scales) is zero. The ratio compares ||G^T l||^2 with
         * what it would be for orthogonal rows, so the test is scale-free. */
        int mi;
        mtl_mgda_weights(c, k, &mi);
        double num = 0, den = 0;
        for (int i = 0; i < k; i++) {
            den += c->wd[i] * c->wd[i] * A[(long)i * k + i];
            for (int j = 0; j < k; j++)
                num += c->wd[i] * A[(long)i * k + j] * c->wd[j];
        }
        ok = den > 0 && num > 1e-10 * den;
    }
    if (ok) {
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
        double f = potential(k, An, b, Ab);
        for (int it = 0; it < c->o.nash_iters; it++) {
            for (int i = 0; i < k; i++) {
                r[i] = Ab[i] - 1 / b[i];
                p[i] = -r[i];
            }
            for (long i = 0; i < (long)k * k; i++)
                H[i] = An[i];
            for (int i = 0; i < k; i++)
                H[(long)i * k + i] += 1 / (b[i] * b[i]);
            if (mtl_spd_solve(k, H, p) != 0) {
                ok = 0;
                break;
            }
            double dec = 0;
            for (int i = 0; i < k; i++)
                dec -= r[i] * p[i];
            if (!(dec >= 0) || !isfinite(dec)) {
                ok = 0;
                break;
            }
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
        for (int i = 0; ok && i < k; i++)
            ok = b[i] > 0 && isfinite(b[i]);
        if (ok) {
            for (int g = 0; g < k; g++) {
                c->wd[g] = b[g] / rs;
                c->state[c->tasks[g]] = (float)c->wd[g];
            }
            c->state[c->K + 1] = 1;
            return;
        }
    }
    *fallback = 1;
    mtl_nash_cached(c, k);
}
