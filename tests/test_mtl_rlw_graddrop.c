/* RLW and GradDrop, the two random combiners (spec/mtl-methods.md §5-6).
 * RLW: every draw positive with sum K, d = G^T lambda, the Dirichlet(1)
 * moments (lambda_k / K ~ Beta(1, K - 1)) and the Normal variant's log-ratio
 * law over 10^5 draws, the Gamma sampler's moments for shapes below and
 * above 1, seeded reproducibility. GradDrop: the exact output for the
 * uniform draws replayed here from the same rng stream (sign coherence per
 * coordinate), ||d|| = ||sum of rows||, the unbiasedness of the masked sum
 * over many draws, K = 1, disjoint supports, identical rows, NaN. The
 * Gamma sampler is internal to src/mtl (white-box, through mtl_impl.h). */
#include "testutil.h"
#include "mtl_call.h"

#include "mtl/mtl_impl.h"
#include "mtl_ref.h"

static mtl_combiner *make_o(const mtl_options *o, int K, long P)
{
    mtl_combiner *c = NULL;
    mtrl_err e;
    assert_int_equal(mtl_create(&c, K, P, o, &e), 0);
    return c;
}

static void test_gamma_moments(void **st_)
{
    (void)st_;
    const double shapes[4] = {0.3, 1.0, 2.5, 9.0};
    rng_state r;
    rng_seed(&r, 71, 1);
    for (int s = 0; s < 4; s++) {
        const double a = shapes[s];
        const int N = 200000;
        double m1 = 0, m2 = 0;
        for (int i = 0; i < N; i++) {
            double x = mtl_gamma_draw(&r, a);
            assert_true(x > 0 && isfinite(x));
            m1 += x, m2 += x * x;
        }
        m1 /= N, m2 /= N;
        double var = m2 - m1 * m1;
        /* Gamma(a, 1): mean a, variance a. Standard errors sqrt(a/N) and
         * about sqrt((2a^2 + 6a)/N) (the fourth cumulant is 6a). */
        assert_true(fabs(m1 - a) < 5 * sqrt(a / N));
        assert_true(fabs(var - a) < 5 * sqrt((2 * a * a + 6 * a) / N));
    }
}

static void test_rlw(void **st_)
{
    (void)st_;
    enum { K = 10 };
    float G[K * K], d[K];
    for (int i = 0; i < K * K; i++)
        G[i] = i % (K + 1) == 0; /* identity: d = lambda */
    mtl_options o;
    mtl_options_default(&o, MTL_RLW);
    o.seed = 5;
    mtl_combiner *c = make_o(&o, K, K), *c2 = make_o(&o, K, K);
    mtrl_err e;
    mtl_stats st;
    const int N = 100000;
    double m1 = 0, m2 = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(combine_rows(c, K, G, NULL, d, &st, &e), 0);
        assert_int_equal(st.gram, 0);
        double s = 0;
        for (int k = 0; k < K; k++) {
            assert_true(d[k] > 0);
            assert_true(d[k] == st.w[k]); /* d = G^T lambda */
            s += d[k];
        }
        assert_true(fabs(s - K) < 1e-5);
        double x = d[i % K] / K; /* one coordinate per draw: independent samples */
        m1 += x, m2 += x * x;
        if (i < 20) { /* same seed, same draws */
            float d2[K];
            assert_int_equal(combine_rows(c2, K, G, NULL, d2, NULL, &e), 0);
            assert_memory_equal(d, d2, sizeof d);
        }
    }
    m1 /= N, m2 /= N;
    double var = m2 - m1 * m1, want_var = (K - 1.0) / (K * K * (K + 1.0));
    assert_true(fabs(m1 - 1.0 / K) < 5 * sqrt(want_var / N));
    assert_true(fabs(var - want_var) < 0.02 * want_var);
    mtl_destroy(c);
    mtl_destroy(c2);

    /* Normal: lambda = K softmax(z), so log(l_0 / l_1) = z_0 - z_1 ~ N(0, 2). */
    o.rlw_dist = MTL_RLW_NORMAL;
    c = make_o(&o, K, K);
    m1 = m2 = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(combine_rows(c, K, G, NULL, d, &st, &e), 0);
        double s = 0;
        for (int k = 0; k < K; k++)
            s += d[k];
        assert_true(fabs(s - K) < 1e-5);
        double x = log((double)d[0] / d[1]);
        m1 += x, m2 += x * x;
    }
    m1 /= N, m2 /= N;
    assert_true(fabs(m1) < 5 * sqrt(2.0 / N));
    assert_true(fabs(m2 - m1 * m1 - 2) < 0.05);
    mtl_destroy(c);
    /* One task: lambda = 1. */
    c = make_o(&o, 1, K);
    assert_int_equal(combine_rows(c, 1, G, NULL, d, &st, &e), 0);
    assert_true(st.w[0] == 1.0f);
    mtl_destroy(c);
}

/* GradDrop recomputed here: the same stream, one uniform per coordinate. */
static void ref_graddrop(int K, long P, const float *G, double kk, uint64_t seed, double *d)
{
    rng_state r;
    rng_seed(&r, seed, RNG_STREAM_MTL);
    double sn = 0, tn = 0;
    for (long p = 0; p < P; p++) {
        float S = 0, pos = 0, neg = 0;
        for (int k = 0; k < K; k++) {
            float x = G[k * P + p];
            S += x;
            if (x > 0)
                pos += x;
            else
                neg += x;
        }
        float prob = 0.5f + (float)kk * S / (2.0f * (pos - neg) + 1e-7f);
        int keep_pos = prob >= rng_uniform_f(&r);
        d[p] = keep_pos ? pos : neg;
        sn += (double)S * S, tn += d[p] * d[p];
    }
    double f = sqrt(sn) / (sqrt(tn) + 1e-7);
    for (long p = 0; p < P; p++)
        d[p] *= f;
}

static void test_graddrop_exact(void **st_)
{
    (void)st_;
    enum { K = 6 };
    const long P = 5000; /* several blocks, the last one partial */
    rng_state r;
    rng_seed(&r, 72, 1);
    float *G = malloc(sizeof(float) * K * P), *d = malloc(sizeof(float) * P);
    double *ref = malloc(sizeof(double) * P), *sum = malloc(sizeof(double) * P);
    ref_make_G(&r, K, P, -1.0, G);
    mtl_options o;
    mtl_options_default(&o, MTL_GRADDROP);
    o.seed = 9;
    mtl_combiner *c = make_o(&o, K, P);
    mtrl_err e;
    mtl_stats st;
    assert_int_equal(combine_rows(c, K, G, NULL, d, &st, &e), 0);
    assert_int_equal(st.nonfinite, 0);
    assert_int_equal(st.gram, 0);
    ref_graddrop(K, P, G, 1.0, 9, ref);
    assert_true(ref_rel_err_fd(P, d, ref, 0) < 1e-6);
    /* Every coordinate: d_j has the sign of the kept parts, and is either
     * all the positive or all the negative contributions (scaled). */
    double sn = 0, dn = 0;
    int dropped = 0;
    for (long p = 0; p < P; p++) {
        double pos = 0, neg = 0, s = 0;
        for (int k = 0; k < K; k++) {
            double x = G[k * P + p];
            s += x;
            pos += x > 0 ? x : 0, neg += x < 0 ? x : 0;
        }
        sum[p] = s;
        sn += s * s, dn += (double)d[p] * d[p];
        double f = st.w[0];
        assert_true(fabs(d[p] - f * pos) < 1e-5 * f * (pos - neg) + 1e-12 ||
                    fabs(d[p] - f * neg) < 1e-5 * f * (pos - neg) + 1e-12);
        dropped += pos > 0 && neg < 0;
    }
    assert_true(dropped > P / 2);
    assert_true(fabs(sqrt(dn) - sqrt(sn)) < 1e-5 * sqrt(sn)); /* Kurin's renormalisation */
    assert_true(fabs(st.d_norm - sqrt(sn)) < 1e-5 * sqrt(sn));
    assert_true(fabs(st.g0_norm - sqrt(sn) / K) < 1e-5 * sqrt(sn));
    /* Unbiased: the masked sum t (d with the common rescaling undone),
     * averaged over many draws, is the plain sum coordinate by coordinate,
     * within 5 standard errors of t's own variance. */
    enum { N = 4000 };
    const long Q = 64;
    double *acc = calloc(Q, sizeof(double));
    mtl_combiner *cq = make_o(&o, K, Q);
    float *Gq = malloc(sizeof(float) * K * Q), *dq = malloc(sizeof(float) * Q);
    for (int k = 0; k < K; k++)
        memcpy(Gq + k * Q, G + k * P, sizeof(float) * Q);
    for (int i = 0; i < N; i++) {
        assert_int_equal(combine_rows(cq, K, Gq, NULL, dq, &st, &e), 0);
        for (long p = 0; p < Q; p++)
            acc[p] += dq[p] / st.w[0]; /* the masked sum t */
    }
    for (long p = 0; p < Q; p++) {
        double pos = 0, neg = 0, s = 0;
        for (int k = 0; k < K; k++) {
            double x = Gq[k * Q + p];
            s += x, pos += x > 0 ? x : 0, neg += x < 0 ? x : 0;
        }
        double P1 = 0.5 + s / (2 * (pos - neg) + 1e-7);
        double var = fmax(P1 * pos * pos + (1 - P1) * neg * neg - s * s, 0);
        assert_true(fabs(acc[p] / N - s) < 5 * sqrt(var / N) + 1e-7);
    }
    free(acc), free(Gq), free(dq);
    mtl_destroy(cq);
    mtl_destroy(c);
    free(G), free(d), free(ref), free(sum);
}

static void test_graddrop_edges(void **st_)
{
    (void)st_;
    enum { P = 300 };
    rng_state r;
    rng_seed(&r, 73, 1);
    float G[3 * P], d[P];
    mtl_options o;
    mtl_options_default(&o, MTL_GRADDROP);
    mtrl_err e;
    mtl_stats st;
    /* K = 1 with |g_j| >> 1e-7: d = g. */
    for (int p = 0; p < P; p++)
        G[p] = (float)((rng_uniform(&r) < 0.5 ? -1 : 1) * rng_range(&r, 1e-3, 1));
    mtl_combiner *c = make_o(&o, 1, P);
    assert_int_equal(combine_rows(c, 1, G, NULL, d, &st, &e), 0);
    for (int p = 0; p < P; p++)
        assert_true(fabs(d[p] - G[p]) < 1e-6 * fabs(G[p]));
    mtl_destroy(c);
    /* Disjoint supports: nothing is dropped, d = sum. Identical rows: K g. */
    c = make_o(&o, 3, P);
    memset(G, 0, sizeof G);
    for (int p = 0; p < P; p++)
        G[(p % 3) * P + p] = (float)rng_range(&r, -1, 1);
    assert_int_equal(combine_rows(c, 3, G, NULL, d, &st, &e), 0);
    for (int p = 0; p < P; p++) {
        float s = G[p] + G[P + p] + G[2 * P + p];
        assert_true(fabs(d[p] - s) < 1e-6);
    }
    for (int p = 0; p < P; p++)
        G[p] = G[P + p] = G[2 * P + p] = (float)rng_range(&r, -1, 1);
    assert_int_equal(combine_rows(c, 3, G, NULL, d, &st, &e), 0);
    for (int p = 0; p < P; p++)
        assert_true(fabs(d[p] - 3 * G[p]) < 1e-5);
    /* NaN and Inf anywhere are flagged. */
    G[P + 17] = NAN;
    assert_int_equal(combine_rows(c, 3, G, NULL, d, &st, &e), 0);
    assert_int_equal(st.nonfinite, 1);
    G[P + 17] = INFINITY;
    assert_int_equal(combine_rows(c, 3, G, NULL, d, &st, &e), 0);
    assert_int_equal(st.nonfinite, 1);
    G[P + 17] = -INFINITY;
    assert_int_equal(combine_rows(c, 3, G, NULL, d, &st, &e), 0);
    assert_int_equal(st.nonfinite, 1);
    mtl_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gamma_moments),
        cmocka_unit_test(test_rlw),
        cmocka_unit_test(test_graddrop_exact),
        cmocka_unit_test(test_graddrop_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
