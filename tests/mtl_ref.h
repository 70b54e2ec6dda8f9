/* Independent double-precision references for the mtl tests: Grams and
 * combinations computed over explicit vectors, a projection onto the simplex,
 * and a long accelerated projected-gradient solver (FISTA with backtracking)
 * for convex problems on the simplex, used as the "precise" solve that the
 * combiners' fast K-dim solvers are compared against. They share no code
 * with src/mtl. */
#ifndef MTRL_TESTS_MTL_REF_H
#define MTRL_TESTS_MTL_REF_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

static inline double ref_dot(long n, const double *a, const double *b)
{
    double s = 0;
    for (long i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* G (K x P float) -> Gd (K x P double) and the Gram A = Gd Gd^T. */
static inline void ref_gram(int K, long P, const float *G, double *Gd, double *A)
{
    for (long t = 0; t < (long)K * P; t++)
        Gd[t] = G[t];
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++)
            A[i * K + j] = ref_dot(P, Gd + (long)i * P, Gd + (long)j * P);
}

/* out = sum_k w_k row_k (K x P double rows). */
static inline void ref_combine(int K, long P, const double *Gd, const double *w, double *out)
{
    for (long p = 0; p < P; p++) {
        double s = 0;
        for (int k = 0; k < K; k++)
            s += w[k] * Gd[(long)k * P + p];
        out[p] = s;
    }
}

/* Largest |a - b| over n, relative to the largest |b| (at least floor). */
static inline double ref_rel_err_fd(long n, const float *a, const double *b, double floor)
{
    double m = floor, e = 0;
    for (long i = 0; i < n; i++)
        m = fmax(m, fabs(b[i]));
    for (long i = 0; i < n; i++)
        e = fmax(e, fabs((double)a[i] - b[i]));
    return e / m;
}

/* Random test gradients: a shared direction with per-task strength in
 * [-lo_mix, 1] plus independent noise, and per-task norms spread over two
 * decades, so the problems have conflicts and unequal scales as RL critic and
 * actor gradients do. */
static inline void ref_make_G(rng_state *r, int K, long P, double mix_lo, float *G)
{
    double *m = malloc(sizeof(double) * (size_t)P);
    for (long p = 0; p < P; p++)
        m[p] = rng_normal(r);
    for (int k = 0; k < K; k++) {
        double a = rng_range(r, mix_lo, 1.0), sc = pow(10.0, rng_range(r, -1, 1));
        for (long p = 0; p < P; p++)
            G[(long)k * P + p] = (float)(sc * (2.0 * a * m[p] + rng_normal(r)) / sqrt((double)P));
    }
    free(m);
}

static int ref_cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* Euclidean projection of v onto the probability simplex (sort-based). */
static inline void ref_proj_simplex(int n, const double *v, double *out, double *tmp)
{
    memcpy(tmp, v, sizeof(double) * (size_t)n);
    qsort(tmp, (size_t)n, sizeof(double), ref_cmp_desc);
    double cum = 0, theta = 0;
    for (int i = 0; i < n; i++) {
        cum += tmp[i];
        double t = (cum - 1.0) / (i + 1);
        if (tmp[i] - t > 0)
            theta = t;
    }
    for (int i = 0; i < n; i++)
        out[i] = fmax(v[i] - theta, 0.0);
}

/* A convex objective on the simplex: returns f(w) and fills grad. */
typedef double (*ref_fn)(int n, const double *w, double *grad, void *ctx);

/* FISTA with backtracking and restart on the simplex, from the uniform point;
 * iters iterations. Returns the best f seen and leaves its w in w. */
static inline double ref_minimize_simplex(int n, ref_fn f, void *ctx, int iters, double *w)
{
    double *x = malloc(sizeof(double) * (size_t)n * 8);
    double *y = x + n, *g = y + n, *xn = g + n, *tmp = xn + n, *best = tmp + n, *gx = best + n,
           *srt = gx + n;
    for (int i = 0; i < n; i++)
        x[i] = y[i] = 1.0 / n;
    double L = 1.0, t = 1.0, fbest = f(n, x, gx, ctx);
    memcpy(best, x, sizeof(double) * (size_t)n);
    for (int it = 0; it < iters; it++) {
        double fy = f(n, y, g, ctx), fx;
        for (;;) {
            for (int i = 0; i < n; i++)
                tmp[i] = y[i] - g[i] / L;
            ref_proj_simplex(n, tmp, xn, srt);
            double lin = 0, sq = 0;
            for (int i = 0; i < n; i++) {
                double dlt = xn[i] - y[i];
                lin += g[i] * dlt;
                sq += dlt * dlt;
            }
            fx = f(n, xn, gx, ctx);
            if (fx <= fy + lin + 0.5 * L * sq + 1e-15 * fabs(fy) || L > 1e30)
                break;
            L *= 2;
        }
        if (fx < fbest) {
            fbest = fx;
            memcpy(best, xn, sizeof(double) * (size_t)n);
        }
        double tn = 0.5 * (1 + sqrt(1 + 4 * t * t));
        double fprev = f(n, x, gx, ctx);
        if (fx > fprev) { /* restart the momentum when it overshoots */
            tn = 1;
            memcpy(y, x, sizeof(double) * (size_t)n);
        } else {
            for (int i = 0; i < n; i++)
                y[i] = xn[i] + (t - 1) / tn * (xn[i] - x[i]);
            memcpy(x, xn, sizeof(double) * (size_t)n);
        }
        t = tn;
        L = fmax(L * 0.9, 1e-6); /* let the step grow again (a vertex optimum accepts
                                   * every step, so L needs a floor) */
    }
    memcpy(w, best, sizeof(double) * (size_t)n);
    free(x);
    return fbest;
}

/* Eigendecomposition of a symmetric n x n matrix by cyclic Jacobi rotations
 * (slow, simple, accurate): on return ev[r] are the eigenvalues (unsorted)
 * and column r of V (V[i*n + r]) the eigenvector of ev[r]. A is not
 * changed. */
static inline void ref_jacobi_eigh(int n, const double *A, double *ev, double *V)
{
    double *M = malloc(sizeof(double) * (size_t)n * (size_t)n);
    memcpy(M, A, sizeof(double) * (size_t)n * (size_t)n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            V[i * n + j] = i == j;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, tot = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                tot += M[i * n + j] * M[i * n + j];
                if (i != j)
                    off += M[i * n + j] * M[i * n + j];
            }
        if (off <= 1e-30 * tot)
            break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double apq = M[p * n + q];
                if (apq == 0)
                    continue;
                double th = (M[q * n + q] - M[p * n + p]) / (2 * apq);
                double t = (th >= 0 ? 1 : -1) / (fabs(th) + sqrt(th * th + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) { /* M <- J^T M J */
                    double mkp = M[k * n + p], mkq = M[k * n + q];
                    M[k * n + p] = c * mkp - s * mkq;
                    M[k * n + q] = s * mkp + c * mkq;
                }
                for (int k = 0; k < n; k++) {
                    double mpk = M[p * n + k], mqk = M[q * n + k];
                    M[p * n + k] = c * mpk - s * mqk;
                    M[q * n + k] = s * mpk + c * mqk;
                }
                for (int k = 0; k < n; k++) {
                    double vkp = V[k * n + p], vkq = V[k * n + q];
                    V[k * n + p] = c * vkp - s * vkq;
                    V[k * n + q] = s * vkp + c * vkq;
                }
            }
    }
    for (int i = 0; i < n; i++)
        ev[i] = M[i * n + i];
    free(M);
}

/* Solves the n x n system M x = b by Gaussian elimination with partial
 * pivoting (M and b are copied). Returns -1 if M is (numerically) singular. */
static inline int ref_solve(int n, const double *M, const double *b, double *x)
{
    double *T = malloc(sizeof(double) * (size_t)n * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++)
            T[i * (n + 1) + j] = M[i * n + j];
        T[i * (n + 1) + n] = b[i];
    }
    int rc = 0;
    for (int col = 0; col < n && !rc; col++) {
        int piv = col;
        for (int r = col + 1; r < n; r++)
            if (fabs(T[r * (n + 1) + col]) > fabs(T[piv * (n + 1) + col]))
                piv = r;
        if (fabs(T[piv * (n + 1) + col]) < 1e-300) {
            rc = -1;
            break;
        }
        for (int t = 0; t <= n; t++) {
            double x0 = T[piv * (n + 1) + t];
            T[piv * (n + 1) + t] = T[col * (n + 1) + t];
            T[col * (n + 1) + t] = x0;
        }
        for (int r = col + 1; r < n; r++) {
            double f = T[r * (n + 1) + col] / T[col * (n + 1) + col];
            for (int t = col; t <= n; t++)
                T[r * (n + 1) + t] -= f * T[col * (n + 1) + t];
        }
    }
    for (int r = n - 1; r >= 0 && !rc; r--) {
        double s = T[r * (n + 1) + n];
        for (int t = r + 1; t < n; t++)
            s -= T[r * (n + 1) + t] * x[t];
        x[r] = s / T[r * (n + 1) + r];
    }
    free(T);
    return rc;
}

/* Float G of K rows from a double array (row-major). */
static inline void ref_to_float(long n, const double *x, float *y)
{
    for (long i = 0; i < n; i++)
        y[i] = (float)x[i];
}

#endif
