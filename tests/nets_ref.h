/* Independent double-precision reference implementations for the nets tests:
 * an MLP forward written from the documented parameter layout (per layer W
 * out x in row-major, then b), the tanh-Gaussian head, and central finite
 * differences. They share no code with src/nets. */
#ifndef MTRL_TESTS_NETS_REF_H
#define MTRL_TESTS_NETS_REF_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* y (B x dims[L]) = MLP(x) with parameters w in double; ReLU between layers. */
static inline void ref_mlp_forward(int L, const int *dims, const double *w, int B,
                                   const double *x, double *y)
{
    int maxw = 0;
    for (int l = 0; l <= L; l++)
        if (dims[l] > maxw)
            maxw = dims[l];
    double *cur = malloc(sizeof(double) * (size_t)maxw), *nxt = malloc(sizeof(double) * (size_t)maxw);
    for (int b = 0; b < B; b++) {
        memcpy(cur, x + (long)b * dims[0], sizeof(double) * (size_t)dims[0]);
        const double *p = w;
        for (int l = 0; l < L; l++) {
            int ni = dims[l], no = dims[l + 1];
            const double *W = p, *bias = p + (long)ni * no;
            for (int o = 0; o < no; o++) {
                double s = bias[o];
                for (int i = 0; i < ni; i++)
                    s += W[(long)o * ni + i] * cur[i];
                nxt[o] = (l + 1 < L && s < 0) ? 0 : s;
            }
            p += (long)ni * no + no;
            double *t = cur;
            cur = nxt;
            nxt = t;
        }
        memcpy(y + (long)b * dims[L], cur, sizeof(double) * (size_t)dims[L]);
    }
    free(cur);
    free(nxt);
}

/* log(1 - tanh(u)^2) = -2 log cosh(u), written as in a textbook. */
static inline double ref_log_sech2(double u)
{
    double a = fabs(u);
    return -2.0 * (a + log1p(exp(-2.0 * a)) - log(2.0));
}

/* The tanh-Gaussian head for one row: action a[j], returns log pi.
 * ref_eps: the reference's log(max(0, 1 - a^2) + 1e-6) correction. */
static inline double ref_policy_row(int A, const double *head, const double *eps, double lmin,
                                    double lmax, int ref_eps, double *a)
{
    double lp = 0;
    for (int j = 0; j < A; j++) {
        double ls = lmin + 0.5 * (lmax - lmin) * (tanh(head[A + j]) + 1.0);
        double u = head[j] + exp(ls) * eps[j];
        a[j] = tanh(u);
        double corr;
        if (ref_eps) {
            double q = 1.0 - a[j] * a[j];
            corr = log((q > 0 ? q : 0) + 1e-6);
        } else {
            corr = ref_log_sech2(u);
        }
        lp += -0.5 * eps[j] * eps[j] - ls - 0.5 * log(2 * M_PI) - corr;
    }
    return lp;
}

/* |a - b| <= atol + rtol * max(|a|, |b|) */
static inline int ref_close(double a, double b, double rtol, double atol)
{
    double m = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    return fabs(a - b) <= atol + rtol * m;
}

#endif
