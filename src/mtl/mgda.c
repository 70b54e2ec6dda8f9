/* MGDA (Désidéri 2012; Sener & Koltun 2018): d is the min-norm point of the
 * convex hull of the task gradients, l2-normalised first as Kurin et al. ran
 * it (spec §5.5). The reference finds it with an iterative solver (best-pair
 * start, up to 250 projected steps, stop at an L1 change < 1e-5); here
 * Wolfe's min-norm-point algorithm (1976) runs on the Gram instead: an
 * active-set method that ends at the exact minimiser in finitely many steps,
 * so the answer does not depend on solver tolerances. Only K x K work. */
#include "mtl/mtl_impl.h"

#include <math.h>

/* Solves the bordered system [M_SS 1; 1^T 0] [mu; nu] = [0; 1] for the
 * affine minimiser of the points in S (m of them). Gaussian elimination with
 * partial pivoting; -1 if the points are (numerically) affinely dependent. */
static int affine_min(int m, const int *S, const double *M, int k, double *B, double *mu)
{
    int n = m + 1;
    for (int a = 0; a < m; a++) {
        for (int b = 0; b < m; b++)
            B[(long)a * (n + 1) + b] = M[(long)S[a] * k + S[b]];
        B[(long)a * (n + 1) + m] = 1;
        B[(long)a * (n + 1) + n] = 0; /* right-hand side column */
    }
    for (int b = 0; b < m; b++)
        B[(long)m * (n + 1) + b] = 1;
    B[(long)m * (n + 1) + m] = 0;
    B[(long)m * (n + 1) + n] = 1;
    for (int col = 0; col < n; col++) {
        int piv = col;
        for (int r = col + 1; r < n; r++)
            if (fabs(B[(long)r * (n + 1) + col]) > fabs(B[(long)piv * (n + 1) + col]))
                piv = r;
        if (fabs(B[(long)piv * (n + 1) + col]) < 1e-13)
            return -1;
        if (piv != col)
            for (int t = 0; t <= n; t++) {
                double x = B[(long)piv * (n + 1) + t];
                B[(long)piv * (n + 1) + t] = B[(long)col * (n + 1) + t];
                B[(long)col * (n + 1) + t] = x;
            }
        double p = B[(long)col * (n + 1) + col];
        for (int r = col + 1; r < n; r++) {
            double f = B[(long)r * (n + 1) + col] / p;
            if (f != 0)
                for (int t = col; t <= n; t++)
                    B[(long)r * (n + 1) + t] -= f * B[(long)col * (n + 1) + t];
        }
    }
    for (int r = n - 1; r >= 0; r--) {
        double s = B[(long)r * (n + 1) + n];
        for (int t = r + 1; t < n; t++)
            s -= B[(long)r * (n + 1) + t] * B[(long)t * (n + 1) + n];
        B[(long)r * (n + 1) + n] = s / B[(long)r * (n + 1) + r];
    }
    for (int a = 0; a < m; a++)
        mu[a] = B[(long)a * (n + 1) + n];
    return 0;
}

/* Wolfe's minor cycles after j joined S (m points): move lam towards the
 * affine minimiser of S, dropping the points whose weight reaches 0, until
 * that minimiser is inside the hull. Returns 1 if the algorithm stalled
 * (nothing left to gain). */
static int minor_cycles(int k, const double *M, int j, int *S, int *in_s, int *m_io,
                        double *lam, double *mu, double *B)
{
    int m = *m_io, stalled = 0;
    for (;;) {
        if (affine_min(m, S, M, k, B, mu)) {
            /* j is (numerically) in aff(S): nothing left to gain; the
             * current lam is still a point of the hull. */
            stalled = 1;
            break;
        }
        int all_pos = 1;
        for (int a = 0; a < m; a++)
            all_pos &= mu[a] > 0;
        if (all_pos) {
            for (int a = 0; a < m; a++)
                lam[S[a]] = mu[a];
            break;
        }
        double theta = 1;
        int amin = -1;
        for (int a = 0; a < m; a++)
            if (mu[a] <= 0) {
                double l = lam[S[a]], den = l - mu[a];
                double t = den > 0 ? l / den : 0;
                if (t < theta || amin < 0)
                    theta = t, amin = a;
            }
        for (int a = 0; a < m; a++)
            lam[S[a]] = (1 - theta) * lam[S[a]] + theta * mu[a];
        lam[S[amin]] = 0;
        if (theta == 0 && S[amin] == j)
            stalled = 1; /* the new point would get no weight */
        int keep = 0;
        for (int a = 0; a < m; a++) {
            if (lam[S[a]] > 0)
                S[keep++] = S[a];
            else
                in_s[S[a]] = 0, lam[S[a]] = 0;
        }
        m = keep;
        if (stalled)
            break;
    }
    *m_io = m;
    return stalled;
}

size_t mtl_mgda_work(const mtl_options *o, int K)
{
    (void)o;
    return MTL_WS_D((long)K * K) + 4 * MTL_WS_D(K) + MTL_WS_D((long)(K + 1) * (K + 2)) +
           2 * MTL_WS_I(K);
}

void mtl_mgda_weights(mtl_combiner *c, const mtl_input *in, mtl_stats *st)
{
    const int k = in->k;
    const double *A = c->A;
    mtl_arena *ar = &c->arena;
    double *M = mtl_arena_doubles(ar, (long)k * k), *scale = mtl_arena_doubles(ar, k),
           *lam = mtl_arena_doubles(ar, k), *mu = mtl_arena_doubles(ar, k),
           *y = mtl_arena_doubles(ar, k),
           *B = mtl_arena_doubles(ar, (long)(k + 1) * (k + 2)); /* (k+1) x (k+2) */
    int *S = mtl_arena_ints(ar, k), *in_s = mtl_arena_ints(ar, k);
    int *iters = &st->iters;
    if (!M || !scale || !lam || !mu || !y || !B || !S || !in_s)
        return;
    double maxd = 0;
    for (int i = 0; i < k; i++) {
        double n2 = fmax(A[(long)i * k + i], 0);
        /* A zero row stays zero (the reference would divide by 0). */
        scale[i] = c->o.mgda_normalize ? (n2 > 0 ? 1 / sqrt(n2) : 0) : 1;
    }
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++)
            M[(long)i * k + j] = A[(long)i * k + j] * scale[i] * scale[j];
    for (int i = 0; i < k; i++)
        maxd = fmax(maxd, M[(long)i * k + i]);
    *iters = 0;
    if (!(maxd > 0)) { /* every row is zero: any point of the hull is 0 */
        for (int i = 0; i < k; i++)
            c->wd[i] = scale[i] / k;
        return;
    }
    const double tol = 1e-12 * maxd;
    int m = 1, j0 = 0;
    for (int i = 0; i < k; i++) {
        lam[i] = 0, in_s[i] = 0;
        if (M[(long)i * k + i] < M[(long)j0 * k + j0])
            j0 = i;
    }
    S[0] = j0, in_s[j0] = 1, lam[j0] = 1;
    for (int major = 0; major < 50 * k + 50; major++) {
        *iters = major + 1;
        /* y_i = <p_i, x>; x is optimal iff min_i y_i >= ||x||^2. */
        double xx = 0;
        int j = 0;
        for (int i = 0; i < k; i++) {
            double s = 0;
            for (int a = 0; a < m; a++)
                s += M[(long)i * k + S[a]] * lam[S[a]];
            y[i] = s;
            if (y[i] < y[j])
                j = i;
        }
        for (int a = 0; a < m; a++)
            xx += lam[S[a]] * y[S[a]];
        if (xx - y[j] <= tol || in_s[j])
            break;
        S[m++] = j, in_s[j] = 1, lam[j] = 0;
        int stalled = minor_cycles(k, M, j, S, in_s, &m, lam, mu, B);
        if (stalled)
            break;
    }
    for (int i = 0; i < k; i++)
        c->wd[i] = lam[i] * scale[i];
}
