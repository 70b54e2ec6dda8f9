/* Small dense solvers shared by the methods, all on K x K matrices in
 * double (K <= a few hundred): LAPACK's symmetric eigendecomposition and
 * Cholesky solve through LAPACKE's column-major *_work entry points, which
 * call LAPACK directly without allocating (the row-major wrappers copy),
 * and a bound-constrained QP. Symmetric matrices read the same in either
 * layout, so the row-major K x K arrays of the combiner go in as they are.
 * Also the Gram copies (ssyrk's triangle, a caller's Gram) and the
 * finiteness check over P that the pipeline and the methods share: here,
 * below both, so no method file calls back into the pipeline. */
#include "mtl/mtl_impl.h"

#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

long mtl_eigh_work(int n) { return 1 + 6L * n + 2L * n * n; }
long mtl_eigh_iwork(int n) { return 3 + 5L * n; }

int mtl_eigh(int n, double *V, double *ev, double *work, int *iwork)
{
    return (int)LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'V', 'U', n, V, n, ev, work,
                                    (lapack_int)mtl_eigh_work(n), iwork,
                                    (lapack_int)mtl_eigh_iwork(n));
}

size_t mtl_pinv_work(int k)
{
    return MTL_WS_D(k) + MTL_WS_D(mtl_eigh_work(k)) + MTL_WS_I(mtl_eigh_iwork(k));
}

int mtl_pinv_apply(int k, double *V, const double *b, double *y, mtl_arena *a)
{
    double *ev = mtl_arena_doubles(a, k), *work = mtl_arena_doubles(a, mtl_eigh_work(k));
    int *iwork = mtl_arena_ints(a, mtl_eigh_iwork(k));
    if (!ev || !work || !iwork)
        return -2;
    if (mtl_eigh(k, V, ev, work, iwork) != 0)
        return -1;
    const double cut = k * FLT_EPSILON * ev[k - 1];
    int kept = 0;
    for (int i = 0; i < k; i++)
        y[i] = 0;
    for (int r = 0; r < k; r++) {
        if (!(ev[r] > cut))
            continue;
        const double *q = V + (long)r * k;
        double qb = 0;
        for (int i = 0; i < k; i++)
            qb += b ? q[i] * b[i] : q[i];
        qb /= ev[r];
        for (int i = 0; i < k; i++)
            y[i] += qb * q[i];
        kept++;
    }
    return kept;
}

int mtl_spd_solve(int n, double *M, double *b)
{
    return (int)LAPACKE_dposv_work(LAPACK_COL_MAJOR, 'L', n, 1, M, n, b, n);
}

/* The active-set loop follows the Lawson-Hanson NNLS scheme shifted to the
 * bounds l (spec/mtl-methods.md §12): the free set F grows by the most
 * negative multiplier, and a free-block solve that leaves the box is cut
 * back to the box boundary, freeing nothing that would be infeasible. */
int mtl_qp_lower(int n, const double *Q, const double *l, double *v, double *work, int *iwork)
{
    double *QF = work, *z = QF + (long)n * n, *r = z + n;
    int *F = iwork, *inF = F + n;
    int nf = 0, changes = 0;
    double qmax = 0, lmax = 0;
    for (int i = 0; i < n; i++) {
        v[i] = l[i];
        inF[i] = 0;
        qmax = fmax(qmax, fabs(Q[(long)i * n + i]));
        lmax = fmax(lmax, fabs(l[i]));
    }
    /* Multipliers below -tol count as violated: relative to the size of
     * Q l, so a scaled problem stops at the same point. */
    const double tol = 1e-12 * fmax(qmax * lmax, 1e-300);
    for (int outer = 0; outer < 4 * n + 10; outer++) {
        int j = -1;
        for (int i = 0; i < n; i++) {
            double s = 0;
            for (int m = 0; m < n; m++)
                s += Q[(long)i * n + m] * v[m];
            r[i] = s;
            if (!inF[i] && s < -tol && (j < 0 || s < r[j]))
                j = i;
        }
        if (j < 0)
            return changes;
        F[nf++] = j, inF[j] = 1, changes++;
        for (int inner = 0; inner <= n; inner++) {
            /* z_F solves Q_FF z_F = -Q_FB l_B; z_B = l_B. */
            for (int a = 0; a < nf; a++) {
                double s = 0;
                for (int i = 0; i < n; i++)
                    if (!inF[i])
                        s += Q[(long)F[a] * n + i] * l[i];
                z[a] = -s;
                for (int b = 0; b < nf; b++)
                    QF[(long)a * nf + b] = Q[(long)F[a] * n + F[b]];
            }
            if (mtl_spd_solve(nf, QF, z) != 0)
                return -1;
            int inside = 1;
            for (int a = 0; a < nf; a++)
                inside &= z[a] > l[F[a]];
            if (inside) {
                for (int a = 0; a < nf; a++)
                    v[F[a]] = z[a];
                break;
            }
            /* Step from v towards z until the first free variable hits its
             * bound, then return every free variable at its bound to B. */
            double t = 1;
            for (int a = 0; a < nf; a++) {
                int i = F[a];
                if (z[a] <= l[i]) {
                    double den = v[i] - z[a];
                    double ti = den > 0 ? (v[i] - l[i]) / den : 0;
                    t = fmin(t, ti);
                }
            }
            int keep = 0;
            for (int a = 0; a < nf; a++) {
                int i = F[a];
                v[i] += t * (z[a] - v[i]);
                if (v[i] <= l[i] || (z[a] <= l[i] && v[i] - l[i] <= 1e-15 * fmax(1, fabs(l[i])))) {
                    v[i] = l[i];
                    inF[i] = 0;
                } else {
                    F[keep++] = i;
                }
            }
            changes += nf - keep;
            nf = keep;
            if (inner == 0 && !inF[j]) /* the entering variable could not move: */
                return changes;         /* a numerical stall, nothing to gain */
        }
    }
    return changes;
}

void mtl_sym_to_double(int k, const float *Af, double *A)
{
    for (int i = 0; i < k; i++)
        for (int j = i; j < k; j++)
            A[(long)i * k + j] = A[(long)j * k + i] = (double)Af[(long)i * k + j];
}

void mtl_sym_full(int k, const double *U, double *A)
{
    for (int i = 0; i < k; i++)
        for (int j = i; j < k; j++)
            A[(long)i * k + j] = A[(long)j * k + i] = U[(long)i * k + j];
}

int mtl_any_nonfinite(const float *x, long n)
{
    const uint32_t *u = (const uint32_t *)(const void *)x;
    uint32_t bad = 0;
    for (long i = 0; i < n; i++)
        bad |= ((u[i] & 0x7f800000u) == 0x7f800000u);
    return bad != 0;
}
