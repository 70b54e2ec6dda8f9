/* Tanh-squashed diagonal Gaussian policy head.
 * The per-element work is B x A (tiny next to the MLP), so it is done in
 * double: log pi and its gradient stay accurate where tanh saturates. */
#include "nets.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct nn_policy {
    int A, max_batch;
    double lmin, lmax;
    nn_tanh_corr corr;
    int B; /* batch of the last sample; 0 before any */
    /* Kept from the last sample for the backward pass, each max_batch x A. */
    float *eps, *log_std;
    float *dadu;   /* 1 - tanh(u)^2, computed without cancellation */
    float *tanh_r; /* tanh of the raw log-std */
    float *sigma;  /* exp(log_std) */
    float *dlogp_du; /* d log pi / d u of the tanh correction term */
};

int nn_policy_create(nn_policy **out, int act_dim, int max_batch, float log_std_min,
                     float log_std_max, nn_tanh_corr corr, mtrl_err *e)
{
    *out = NULL;
    if (act_dim < 1 || max_batch < 1)
        return err_set(e, MTRL_EINPUT, "nn_policy_create: action dim %d and max batch %d must be >= 1",
                       act_dim, max_batch);
    if (!(log_std_min < log_std_max))
        return err_set(e, MTRL_EINPUT, "nn_policy_create: log-std bounds [%g, %g] are empty",
                       (double)log_std_min, (double)log_std_max);
    if (corr != NN_TANH_EXACT && corr != NN_TANH_REF_EPS)
        return err_set(e, MTRL_EINPUT, "nn_policy_create: unknown tanh correction %d", (int)corr);
    nn_policy *p = calloc(1, sizeof *p);
    size_t n = (size_t)act_dim * (size_t)max_batch;
    float *mem = p ? malloc(6 * n * sizeof(float)) : NULL;
    if (!mem) {
        free(p);
        return err_set(e, MTRL_ENOMEM, "nn_policy_create: out of memory");
    }
    memset(mem, 0, 6 * n * sizeof(float));
    p->A = act_dim;
    p->max_batch = max_batch;
    p->lmin = log_std_min;
    p->lmax = log_std_max;
    p->corr = corr;
    p->eps = mem;
    p->log_std = mem + n;
    p->dadu = mem + 2 * n;
    p->tanh_r = mem + 3 * n;
    p->sigma = mem + 4 * n;
    p->dlogp_du = mem + 5 * n;
    *out = p;
    return 0;
}

void nn_policy_destroy(nn_policy *p)
{
    if (!p)
        return;
    free(p->eps);
    free(p);
}

/* log(1 - tanh(u)^2) without cancellation: 2 (log 2 - u - softplus(-2u)). */
static double log1m_tanh2(double u)
{
    double t = -2.0 * u;
    double softplus = t > 0 ? t + log1p(exp(-t)) : log1p(exp(t));
    return 2.0 * (M_LN2 - u - softplus);
}

int nn_policy_sample(nn_policy *p, int B, const float *head, const float *eps, rng_state *r,
                     float *action, float *logp, mtrl_err *e)
{
    if (B < 1 || B > p->max_batch)
        return err_set(e, MTRL_EINPUT, "nn_policy_sample: batch %d outside [1, %d]", B,
                       p->max_batch);
    int A = p->A;
    long n = (long)B * A;
    if (eps)
        memcpy(p->eps, eps, sizeof(float) * (size_t)n);
    else if (r)
        rng_normal_fill(r, p->eps, n);
    else
        return err_set(e, MTRL_EINPUT, "nn_policy_sample: neither noise nor an rng given");
    double half_range = 0.5 * (p->lmax - p->lmin);
    double log_norm = 0.5 * log(2.0 * M_PI);
    for (int b = 0; b < B; b++) {
        const float *mu = head + (long)b * 2 * A, *raw = mu + A;
        double lp = 0.0;
        for (int j = 0; j < A; j++) {
            long i = (long)b * A + j;
            double tr = tanh((double)raw[j]);
            double ls = p->lmin + half_range * (tr + 1.0);
            double sig = exp(ls);
            double ep = p->eps[i];
            double u = (double)mu[j] + sig * ep;
            double a = tanh(u);
            double l1m = log1m_tanh2(u);
            double corr, dcorr; /* the correction term and d(-corr)/du */
            if (p->corr == NN_TANH_EXACT) {
                corr = l1m;
                dcorr = 2.0 * a;
            } else {
                /* 1 - a^2 in double reaches 0 only for |u| > ~19 (float32, as in
                 * the reference, already at ~9); the 1e-6 dominates well before. */
                double q = 1.0 - a * a;
                if (q < 0)
                    q = 0;
                corr = log(q + 1e-6);
                dcorr = q > 0 ? 2.0 * a * exp(l1m) / (q + 1e-6) : 0.0;
            }
            lp += -0.5 * ep * ep - ls - log_norm - corr;
            p->tanh_r[i] = (float)tr;
            p->log_std[i] = (float)ls;
            p->sigma[i] = (float)sig;
            p->dadu[i] = (float)exp(l1m);
            p->dlogp_du[i] = (float)dcorr;
            action[i] = (float)a;
        }
        if (logp)
            logp[b] = (float)lp;
    }
    p->B = B;
    return 0;
}

void nn_policy_mean_action(const nn_policy *p, int B, const float *head, float *action)
{
    int A = p->A;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < A; j++)
            action[(long)b * A + j] = tanhf(head[(long)b * 2 * A + j]);
}

const float *nn_policy_log_std(const nn_policy *p) { return p->log_std; }
const float *nn_policy_eps(const nn_policy *p) { return p->eps; }

int nn_policy_backward(nn_policy *p, const float *d_action, int ld_da, const float *d_logp,
                       float *d_head, mtrl_err *e)
{
    if (p->B < 1)
        return err_set(e, MTRL_EINPUT, "nn_policy_backward: no sample to go back through");
    int A = p->A;
    if (!ld_da)
        ld_da = A;
    if (ld_da < A)
        return err_set(e, MTRL_EINPUT, "nn_policy_backward: action-gradient stride %d < %d", ld_da,
                       A);
    double half_range = 0.5 * (p->lmax - p->lmin);
    for (int b = 0; b < p->B; b++) {
        double gp = d_logp ? d_logp[b] : 0.0;
        float *dmu = d_head + (long)b * 2 * A, *draw = dmu + A;
        for (int j = 0; j < A; j++) {
            long i = (long)b * A + j;
            double ga = d_action ? d_action[(long)b * ld_da + j] : 0.0;
            /* u = mu + sigma * eps feeds both the action and the tanh term of log pi;
             * log_std enters log pi directly (-1) and through u. */
            double du = ga * (double)p->dadu[i] + gp * (double)p->dlogp_du[i];
            double dls = du * (double)p->sigma[i] * (double)p->eps[i] - gp;
            double tr = p->tanh_r[i];
            dmu[j] = (float)du;
            draw[j] = (float)(dls * half_range * (1.0 - tr * tr));
        }
    }
    return 0;
}
