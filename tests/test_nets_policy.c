#include "testutil.h"

#include <math.h>

#include "nets/nets.h"
#include "nets_ref.h"

static void fill_normal(float *x, long n, uint64_t seed, double mean, double scale)
{
    rng_state r;
    rng_seed(&r, seed, 78);
    for (long i = 0; i < n; i++)
        x[i] = (float)(mean + scale * rng_normal(&r));
}

/* Raw log-std that maps to log_std = ls under the bounds. */
static double raw_for(double ls, double lmin, double lmax)
{
    return atanh(2.0 * (ls - lmin) / (lmax - lmin) - 1.0);
}

static double log_normal_pdf(double x, double mu, double sigma)
{
    double z = (x - mu) / sigma;
    return -0.5 * z * z - log(sigma) - 0.5 * log(2 * M_PI);
}

/* log pi against the change-of-variables density of a = tanh(u), u ~ N(mu, s):
 * p(a) = N(atanh(a); mu, s) / (1 - a^2), evaluated at the returned action. */
static void test_logp_is_tanh_gaussian_density(void **st)
{
    (void)st;
    mtrl_err e;
    const int A = 4, B = 64;
    const double lmin = -20, lmax = 2;
    nn_policy *p;
    assert_int_equal(nn_policy_create(&p, A, B, (float)lmin, (float)lmax, NN_TANH_EXACT, &e), 0);
    float head[64 * 8], act[64 * 4], logp[64];
    rng_state hr;
    rng_seed(&hr, 3, 3);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < A; j++) {
            head[b * 2 * A + j] = (float)(0.5 * rng_normal(&hr));
            head[b * 2 * A + A + j] = (float)raw_for(rng_range(&hr, -1.0, 0.0), lmin, lmax);
        }
    rng_state r;
    rng_seed(&r, 8, RNG_STREAM_AGENT);
    assert_int_equal(nn_policy_sample(p, B, head, NULL, &r, act, logp, &e), 0);
    int checked = 0;
    for (int b = 0; b < B; b++) {
        double lp = 0;
        int ok = 1;
        for (int j = 0; j < A; j++) {
            double a = act[b * A + j];
            if (1 - a * a < 1e-2)
                ok = 0; /* float a too close to 1 for atanh */
            double ls = lmin + 0.5 * (lmax - lmin) * (tanh(head[b * 2 * A + A + j]) + 1);
            lp += log_normal_pdf(atanh(a), head[b * 2 * A + j], exp(ls)) - log(1 - a * a);
        }
        if (!ok)
            continue;
        checked++;
        assert_true(ref_close(logp[b], lp, 1e-4, 2e-3));
    }
    assert_true(checked > B / 2);
    nn_policy_destroy(p);
}

/* Samples follow the distribution: E[tanh(u)] and E[tanh(u)^2] against a
 * quadrature of the Gaussian. */
static void test_sample_moments(void **st)
{
    (void)st;
    mtrl_err e;
    const int A = 2, B = 1000, rounds = 100;
    const double lmin = -5, lmax = 2, mu[2] = {0.3, -1.1}, ls[2] = {-0.5, 0.4};
    nn_policy *p;
    assert_int_equal(nn_policy_create(&p, A, B, (float)lmin, (float)lmax, NN_TANH_EXACT, &e), 0);
    float *head = malloc(sizeof(float) * B * 2 * A), *act = malloc(sizeof(float) * B * A);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < A; j++) {
            head[b * 2 * A + j] = (float)mu[j];
            head[b * 2 * A + A + j] = (float)raw_for(ls[j], lmin, lmax);
        }
    rng_state r;
    rng_seed(&r, 21, RNG_STREAM_AGENT);
    double s1[2] = {0}, s2[2] = {0};
    for (int k = 0; k < rounds; k++) {
        assert_int_equal(nn_policy_sample(p, B, head, NULL, &r, act, NULL, &e), 0);
        for (int b = 0; b < B; b++)
            for (int j = 0; j < A; j++) {
                s1[j] += act[b * A + j];
                s2[j] += (double)act[b * A + j] * act[b * A + j];
            }
    }
    for (int j = 0; j < A; j++) {
        double sig = exp(ls[j]), q1 = 0, q2 = 0, h = 1e-3;
        for (double z = -10; z <= 10; z += h) {
            double wgt = exp(-0.5 * z * z) / sqrt(2 * M_PI) * h, t = tanh(mu[j] + sig * z);
            q1 += wgt * t, q2 += wgt * t * t;
        }
        double n = (double)B * rounds, m1 = s1[j] / n, m2 = s2[j] / n;
        double se = sqrt((q2 - q1 * q1) / n);
        assert_true(fabs(m1 - q1) < 5 * se);
        assert_true(fabs(m2 - q2) < 0.01);
    }
    free(head), free(act);
    nn_policy_destroy(p);
}

static void test_log_std_bounds_and_mean_action(void **st)
{
    (void)st;
    mtrl_err e;
    nn_policy *p;
    assert_int_equal(nn_policy_create(&p, 1, 3, -20.0f, 2.0f, NN_TANH_EXACT, &e), 0);
    float head[] = {0.5f, -60.0f, -0.25f, 60.0f, 2.0f, 0.0f}, eps[] = {1, 1, 1}, act[3], lp[3];
    assert_int_equal(nn_policy_sample(p, 3, head, eps, NULL, act, lp, &e), 0);
    const float *ls = nn_policy_log_std(p);
    assert_true(ls[0] == -20.0f);
    assert_true(ls[1] == 2.0f);
    assert_true(fabs(ls[2] - (-9.0f)) < 1e-5);
    assert_true(fabs(act[0] - tanh(0.5 + exp(-20.0))) < 1e-6);
    assert_true(fabs(act[1] - tanh(-0.25 + exp(2.0))) < 1e-6);
    float mean[3];
    nn_policy_mean_action(p, 3, head, mean);
    for (int b = 0; b < 3; b++)
        assert_true(fabs(mean[b] - tanh(head[2 * b])) < 1e-7);
    assert_int_equal(nn_policy_sample(p, 4, head, eps, NULL, act, lp, &e), MTRL_EINPUT);
    assert_int_equal(nn_policy_sample(p, 3, head, NULL, NULL, act, lp, &e), MTRL_EINPUT);
    nn_policy *bad;
    assert_int_equal(nn_policy_create(&bad, 1, 3, 2.0f, -20.0f, NN_TANH_EXACT, &e), MTRL_EINPUT);
    assert_null(bad);
    nn_policy_destroy(p);
}

/* The noise comes from the given rng in row-major rng_normal order, and
 * passing the same noise explicitly reproduces the sample. */
static void test_noise_source(void **st)
{
    (void)st;
    mtrl_err e;
    const int A = 3, B = 5;
    nn_policy *p;
    assert_int_equal(nn_policy_create(&p, A, B, -20.0f, 2.0f, NN_TANH_EXACT, &e), 0);
    float head[5 * 6], a1[15], a2[15], l1[5], l2[5], eps[15];
    fill_normal(head, B * 2 * A, 4, 0.0, 1.0);
    rng_state r, copy;
    rng_seed(&r, 1, RNG_STREAM_AGENT);
    copy = r;
    assert_int_equal(nn_policy_sample(p, B, head, NULL, &r, a1, l1, &e), 0);
    for (int i = 0; i < B * A; i++) {
        eps[i] = (float)rng_normal(&copy);
        assert_true(nn_policy_eps(p)[i] == eps[i]);
    }
    assert_int_equal(nn_policy_sample(p, B, head, eps, NULL, a2, l2, &e), 0);
    assert_memory_equal(a1, a2, sizeof a1);
    assert_memory_equal(l1, l2, sizeof l1);
    nn_policy_destroy(p);
}

/* dL/dhead for L = sum ca .* action + sum cp .* logp, against central
 * differences of the double reference; the action gradient given with a row
 * stride, and each source alone (NULL for the other). */
static void check_head_fd(nn_tanh_corr corr, double mu_scale, uint64_t seed)
{
    mtrl_err e;
    const int A = 3, B = 7, lda = 5;
    const double lmin = -5, lmax = 2;
    nn_policy *p;
    assert_int_equal(nn_policy_create(&p, A, B, (float)lmin, (float)lmax, corr, &e), 0);
    float head[7 * 6], eps[7 * 3], ca[7 * 5], cp[7], act[7 * 3], logp[7], dh[7 * 6];
    fill_normal(head, B * 2 * A, seed, 0.0, 1.0);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < A; j++)
            head[b * 2 * A + j] *= (float)mu_scale;
    fill_normal(eps, B * A, seed + 1, 0.0, 1.0);
    fill_normal(ca, B * lda, seed + 2, 0.0, 1.0);
    fill_normal(cp, B, seed + 3, 0.0, 1.0);
    assert_int_equal(nn_policy_sample(p, B, head, eps, NULL, act, logp, &e), 0);
    for (int mode = 0; mode < 3; mode++) { /* both, action only, logp only */
        const float *da = mode == 2 ? NULL : ca, *dl = mode == 1 ? NULL : cp;
        assert_int_equal(nn_policy_backward(p, da, lda, dl, dh, &e), 0);
        for (int b = 0; b < B; b++) {
            double hd[6], ed[3], a[3];
            for (int i = 0; i < 2 * A; i++)
                hd[i] = head[b * 2 * A + i];
            for (int j = 0; j < A; j++)
                ed[j] = eps[b * A + j];
            double lp0 = ref_policy_row(A, hd, ed, lmin, lmax, corr == NN_TANH_REF_EPS, a);
            assert_true(ref_close(logp[b], lp0, 1e-5, 1e-4));
            for (int j = 0; j < A; j++)
                assert_true(ref_close(act[b * A + j], a[j], 1e-6, 1e-7));
            for (int i = 0; i < 2 * A; i++) {
                const double h = 1e-6;
                double f[2];
                for (int s = 0; s < 2; s++) {
                    double save = hd[i];
                    hd[i] = save + (s ? -h : h);
                    double lp = ref_policy_row(A, hd, ed, lmin, lmax, corr == NN_TANH_REF_EPS, a);
                    hd[i] = save;
                    f[s] = dl ? cp[b] * lp : 0;
                    for (int j = 0; j < A && da; j++)
                        f[s] += ca[b * lda + j] * a[j];
                }
                double fd = (f[0] - f[1]) / (2 * h);
                if (!ref_close(dh[b * 2 * A + i], fd, 1e-4, 1e-6))
                    fail_msg("mode %d row %d head %d: analytic %.9g, finite difference %.9g", mode,
                             b, i, (double)dh[b * 2 * A + i], fd);
            }
        }
    }
    nn_policy_destroy(p);
}

static void test_fd_head_exact(void **st)
{
    (void)st;
    check_head_fd(NN_TANH_EXACT, 1.0, 100);
    check_head_fd(NN_TANH_EXACT, 4.0, 200); /* near saturation */
}

static void test_fd_head_reference_eps(void **st)
{
    (void)st;
    check_head_fd(NN_TANH_REF_EPS, 0.7, 300);
}

/* Far in the tail the exact form stays finite and keeps its gradient, while
 * the reference's form is capped at -log(1e-6) per dimension with no slope. */
static void test_saturation(void **st)
{
    (void)st;
    mtrl_err e;
    nn_policy *px, *pr;
    assert_int_equal(nn_policy_create(&px, 1, 1, -5.0f, 2.0f, NN_TANH_EXACT, &e), 0);
    assert_int_equal(nn_policy_create(&pr, 1, 1, -5.0f, 2.0f, NN_TANH_REF_EPS, &e), 0);
    float head[2] = {30.0f, (float)raw_for(-2.0, -5.0, 2.0)}, eps[1] = {0.5f}, a, lx, lr, cp = 1;
    float dh[2];
    assert_int_equal(nn_policy_sample(px, 1, head, eps, NULL, &a, &lx, &e), 0);
    assert_int_equal(nn_policy_sample(pr, 1, head, eps, NULL, &a, &lr, &e), 0);
    double u = 30.0 + exp(-2.0) * 0.5;
    double gauss = -0.5 * 0.25 - (-2.0) - 0.5 * log(2 * M_PI);
    assert_true(a == 1.0f);
    assert_true(ref_close(lx, gauss - ref_log_sech2(u), 1e-6, 1e-4));
    assert_true(ref_close(lr, gauss - log(1e-6), 1e-6, 1e-4));
    assert_int_equal(nn_policy_backward(px, NULL, 0, &cp, dh, &e), 0);
    assert_true(ref_close(dh[0], 2.0, 1e-6, 0)); /* d/du of -log(1 - tanh^2 u) = 2 tanh u */
    assert_int_equal(nn_policy_backward(pr, NULL, 0, &cp, dh, &e), 0);
    assert_true(dh[0] == 0.0f);
    nn_policy_destroy(px);
    nn_policy_destroy(pr);
}

/* Actor MLP + head: gradient of L = sum ca .* a + sum cp .* logp w.r.t. every
 * actor parameter, against the double reference, through
 * nn_policy_backward -> nn_mlp_backward. */
static void test_fd_actor_parameters(void **st)
{
    (void)st;
    mtrl_err e;
    const int A = 2, B = 6, L = 3;
    int dims[] = {5, 9, 8, 2 * A};
    const double lmin = -5, lmax = 2;
    nn_mlp *m;
    nn_params *pr;
    nn_policy *pol;
    assert_int_equal(nn_mlp_create(&m, L, dims, B, &e), 0);
    assert_int_equal(nn_params_create(&pr, nn_mlp_nparams(m), &e), 0);
    assert_int_equal(nn_mlp_bind(m, pr, 0, &e), 0);
    assert_int_equal(nn_policy_create(&pol, A, B, (float)lmin, (float)lmax, NN_TANH_EXACT, &e), 0);
    rng_state r;
    rng_seed(&r, 17, RNG_STREAM_INIT);
    nn_mlp_init(m, NN_INIT_TORCH_DEFAULT, &r);
    float x[6 * 5], eps[6 * 2], ca[6 * 2], cp[6], act[6 * 2], logp[6], dh[6 * 4];
    fill_normal(x, B * 5, 1, 0.0, 1.0);
    fill_normal(ca, B * A, 2, 0.0, 1.0);
    fill_normal(cp, B, 3, 0.0, 1.0);
    rng_seed(&r, 18, RNG_STREAM_AGENT);
    assert_int_equal(nn_mlp_forward(m, B, x, &e), 0);
    assert_int_equal(nn_policy_sample(pol, B, nn_mlp_out(m), NULL, &r, act, logp, &e), 0);
    memcpy(eps, nn_policy_eps(pol), sizeof eps);
    assert_int_equal(nn_policy_backward(pol, ca, 0, cp, dh, &e), 0);
    assert_int_equal(nn_mlp_backward(m, dh, &(nn_bwd){.grad = pr->g}, &e), 0);

    long P = pr->n;
    double *w = malloc(sizeof(double) * (size_t)P), xd[6 * 5], head[6 * 4], a[2];
    for (long i = 0; i < P; i++)
        w[i] = pr->w[i];
    for (int i = 0; i < B * 5; i++)
        xd[i] = x[i];
    double gmax = 0;
    for (long i = 0; i < P; i++)
        gmax = fmax(gmax, fabs(pr->g[i]));
    int bad = 0;
    for (long i = 0; i < P; i++) {
        double f[2], save = w[i], h = 1e-6;
        for (int s = 0; s < 2; s++) {
            w[i] = save + (s ? -h : h);
            ref_mlp_forward(L, dims, w, B, xd, head);
            f[s] = 0;
            for (int b = 0; b < B; b++) {
                double ed[2] = {eps[b * A], eps[b * A + 1]};
                double lp = ref_policy_row(A, head + b * 2 * A, ed, lmin, lmax, 0, a);
                f[s] += cp[b] * lp + ca[b * A] * a[0] + ca[b * A + 1] * a[1];
            }
        }
        w[i] = save;
        double fd = (f[0] - f[1]) / (2 * h);
        if (!ref_close(pr->g[i], fd, 1e-3, 1e-5 * gmax) && bad++ < 5)
            fprintf(stderr, "param %ld: analytic %.8g, finite difference %.8g\n", i,
                    (double)pr->g[i], fd);
    }
    assert_int_equal(bad, 0);
    free(w);
    nn_policy_destroy(pol);
    nn_mlp_destroy(m);
    nn_params_destroy(pr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logp_is_tanh_gaussian_density),
        cmocka_unit_test(test_sample_moments),
        cmocka_unit_test(test_log_std_bounds_and_mean_action),
        cmocka_unit_test(test_noise_source),
        cmocka_unit_test(test_fd_head_exact),
        cmocka_unit_test(test_fd_head_reference_eps),
        cmocka_unit_test(test_saturation),
        cmocka_unit_test(test_fd_actor_parameters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
