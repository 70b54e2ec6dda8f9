/* UPGrad and DualProj (spec/mtl-methods.md §9-10, §12): the bound-
 * constrained QP solver against a brute-force enumeration of active sets
 * written here (KKT checked on every sub-problem), UPGrad's and
 * DualProj's golden values with and without the epsilons, the
 * non-conflict property (<g_k, d> >= 0 up to the ridge) and w_k >= 1/K,
 * the mean when nothing conflicts, the equivalence with mtrl's mean-PCGrad
 * for two tasks, and the small-trace rule. mtl_qp_lower is internal to
 * src/mtl; this white-box test declares it through mtl_impl.h. */
#include "testutil.h"
#include "mtl_testutil.h"

#include "mtl/mtl_impl.h"
#include "mtl_ref.h"

/* min v^T Q v, v >= l, by trying every set of free variables: the free
 * block solves Q_FF v_F = -Q_FB l_B; the answer is the feasible point
 * with multipliers (Q v)_B >= 0 (the optimum of a strictly convex problem
 * is the only KKT point). n <= 10. */
static void brute_qp(int n, const double *Q, const double *l, double *v)
{
    double best = INFINITY, *x = malloc(sizeof(double) * n), M[100], b[10], z[10];
    int found = 0;
    for (unsigned mask = 0; mask < (1u << n); mask++) {
        int F[10], nf = 0;
        for (int i = 0; i < n; i++)
            if (mask >> i & 1)
                F[nf++] = i;
        for (int i = 0; i < n; i++)
            x[i] = l[i];
        if (nf) {
            for (int a = 0; a < nf; a++) {
                b[a] = 0;
                for (int i = 0; i < n; i++)
                    if (!(mask >> i & 1))
                        b[a] -= Q[F[a] * n + i] * l[i];
                for (int c = 0; c < nf; c++)
                    M[a * nf + c] = Q[F[a] * n + F[c]];
            }
            if (ref_solve(nf, M, b, z))
                continue;
            for (int a = 0; a < nf; a++)
                x[F[a]] = z[a];
        }
        int ok = 1;
        for (int i = 0; i < n; i++) {
            double r = 0;
            for (int j = 0; j < n; j++)
                r += Q[i * n + j] * x[j];
            if (x[i] < l[i] - 1e-12 || (!(mask >> i & 1) && r < -1e-12))
                ok = 0;
        }
        if (!ok)
            continue;
        double f = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                f += x[i] * Q[i * n + j] * x[j];
        if (f < best) {
            best = f, found = 1;
            memcpy(v, x, sizeof(double) * n);
        }
    }
    assert_true(found);
    free(x);
}

static void test_qp_against_brute_force(void **st_)
{
    (void)st_;
    rng_state r;
    rng_seed(&r, 41, 1);
    double Q[100], Gm[10 * 12], l[10], v[10], vb[10], work[100 + 40];
    int iwork[20];
    for (int trial = 0; trial < 300; trial++) {
        int n = 1 + (int)rng_below(&r, 8), p = n + (int)rng_below(&r, 4);
        /* Q = Gram of random rows with a shared component (conflicts) plus a
         * small ridge; bounds mixed zero / positive / negative. */
        for (int i = 0; i < n * p; i++)
            Gm[i] = rng_normal(&r) + (i % p == 0 ? 1.5 * rng_range(&r, -1, 1) : 0);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                Q[i * n + j] = ref_dot(p, Gm + i * p, Gm + j * p) + (i == j ? 1e-3 : 0);
        for (int i = 0; i < n; i++)
            l[i] = rng_uniform(&r) < 0.4 ? 0 : rng_range(&r, -0.5, 1);
        assert_true(mtl_qp_lower(n, Q, l, v, work, iwork) >= 0);
        brute_qp(n, Q, l, vb);
        double sc = 0;
        for (int i = 0; i < n; i++)
            sc = fmax(sc, fabs(vb[i]));
        for (int i = 0; i < n; i++) {
            assert_true(fabs(v[i] - vb[i]) < 1e-7 * fmax(sc, 1));
            /* KKT: feasible, multiplier >= 0, complementary. */
            double q = 0;
            for (int j = 0; j < n; j++)
                q += Q[i * n + j] * v[j];
            assert_true(v[i] >= l[i]);
            assert_true(q >= -1e-10 * fmax(sc, 1));
            assert_true(fabs((v[i] - l[i]) * q) < 1e-10 * fmax(sc * sc, 1));
        }
    }
}

static void test_golden(void **st_)
{
    (void)st_;
    float G[4] = {3, 0, -1, 1};
    double w[2];
    mtl_stats st;
    mtl_options o;
    weights(MTL_UPGRAD, 2, 2, G, w, &st);
    assert_true(fabs(w[0] - 0.666646) < 2e-6 && fabs(w[1] - 1.249588) < 2e-6);
    mtl_options_default(&o, MTL_UPGRAD);
    o.upgrad_norm_eps = 0, o.upgrad_reg_eps = 0;
    weights_o(&o, 2, 2, G, w, &st);
    assert_true(fabs(w[0] - 2.0 / 3) < 1e-7 && fabs(w[1] - 1.25) < 1e-7);
    weights(MTL_DUALPROJ, 2, 2, G, w, &st);
    assert_true(fabs(w[0] - 0.5) < 1e-7 && fabs(w[1] - 0.749588) < 2e-6);
    mtl_options_default(&o, MTL_DUALPROJ);
    o.upgrad_norm_eps = 0, o.upgrad_reg_eps = 0;
    weights_o(&o, 2, 2, G, w, &st);
    assert_true(fabs(w[0] - 0.5) < 1e-7 && fabs(w[1] - 0.75) < 1e-7);
    /* d = (0.75, 0.75) */
    assert_true(fabs(3 * w[0] - w[1] - 0.75) < 1e-7 && fabs(w[1] - 0.75) < 1e-7);
    /* Non-conflicting 3-task Gs (all inner products >= 0): the mean. The
     * first is the spec's (the IMTL-G section's example, Gram [[5, 2, 2],
     * [2, 12, 2], [2, 2, 1]]). */
    float G3[2][9] = {{-2, 0, 1, -2, -2, -2, -1, 0, 0},
                      {1, 0.2f, 0, 0.3f, 1, 0.1f, 0.2f, 0.1f, 1}};
    double w3[3];
    for (int g = 0; g < 2; g++) {
        weights(MTL_UPGRAD, 3, 3, G3[g], w3, &st);
        for (int k = 0; k < 3; k++)
            assert_true(fabs(w3[k] - 1.0 / 3) < 1e-7);
        weights(MTL_DUALPROJ, 3, 3, G3[g], w3, &st);
        for (int k = 0; k < 3; k++)
            assert_true(fabs(w3[k] - 1.0 / 3) < 1e-7);
    }
}

static void test_non_conflicting_result(void **st_)
{
    (void)st_;
    enum { K = 10, P = 200 };
    rng_state r;
    rng_seed(&r, 42, 1);
    float G[K * P];
    double Gd[K * P], A[K * K], w[K], d[P];
    for (int trial = 0; trial < 10; trial++) {
        ref_make_G(&r, K, P, -1.0, G);
        ref_gram(K, P, G, Gd, A);
        double tr = 0;
        for (int k = 0; k < K; k++)
            tr += A[k * K + k];
        for (int m = 0; m < 2; m++) {
            mtl_stats st;
            weights(m ? MTL_DUALPROJ : MTL_UPGRAD, K, P, G, w, &st);
            assert_int_equal(st.gram, 1);
            ref_combine(K, P, Gd, w, d);
            for (int k = 0; k < K; k++) {
                assert_true(w[k] >= (m ? 1.0 / K : 1.0 / K) - 1e-7);
                /* <g_k, d> >= -reg * tr * v_k: the ridge allows that much */
                assert_true(ref_dot(P, Gd + k * P, d) >= -1e-4 * tr * w[k] - 1e-6 * tr);
            }
            /* With both epsilons 0 the projections are exactly conflict-free. */
            mtl_options o;
            mtl_options_default(&o, m ? MTL_DUALPROJ : MTL_UPGRAD);
            o.upgrad_norm_eps = 0, o.upgrad_reg_eps = 0;
            weights_o(&o, K, P, G, w, &st);
            ref_combine(K, P, Gd, w, d);
            for (int k = 0; k < K; k++)
                assert_true(ref_dot(P, Gd + k * P, d) >= -1e-5 * tr);
        }
    }
}

static void test_equals_pcgrad_two_tasks(void **st_)
{
    (void)st_;
    /* Two tasks, mean preference: UPGrad = mtrl's mean-PCGrad (up to the
     * 1e-8 in PCGrad's normalisation and UPGrad's epsilons, set to 0). */
    enum { P = 50 };
    rng_state r;
    rng_seed(&r, 43, 1);
    float G[2 * P];
    double wu[2], wp[2];
    mtl_stats st;
    mtl_options o;
    for (int trial = 0; trial < 20; trial++) {
        ref_make_G(&r, 2, P, -1.0, G);
        mtl_options_default(&o, MTL_UPGRAD);
        o.upgrad_norm_eps = 0, o.upgrad_reg_eps = 0;
        weights_o(&o, 2, P, G, wu, &st);
        weights(MTL_PCGRAD, 2, P, G, wp, &st);
        for (int k = 0; k < 2; k++)
            assert_true(fabs(wu[k] - wp[k]) < 1e-5 * fabs(wp[k]) + 1e-6);
    }
}

static void test_small_trace(void **st_)
{
    (void)st_;
    /* A conflicting pair scaled down so that trace(A) < 1e-4: with the
     * default norm_eps UPGrad returns the mean; with norm_eps 0 it projects
     * as at unit scale. */
    float G[4] = {3e-3f, 0, -1e-3f, 1e-3f};
    double w[2];
    mtl_stats st;
    weights(MTL_UPGRAD, 2, 2, G, w, &st);
    assert_true(fabs(w[0] - 0.5) < 1e-12 && fabs(w[1] - 0.5) < 1e-7);
    mtl_options o;
    mtl_options_default(&o, MTL_UPGRAD);
    o.upgrad_norm_eps = 0;
    weights_o(&o, 2, 2, G, w, &st);
    assert_true(fabs(w[0] - 0.666646) < 2e-6 && fabs(w[1] - 1.249588) < 2e-6);
    /* All-zero G with norm_eps 0: the mean, not a division by zero. */
    float Z[4] = {0};
    weights_o(&o, 2, 2, Z, w, &st);
    assert_true(fabs(w[0] - 0.5) < 1e-12 && fabs(w[1] - 0.5) < 1e-7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qp_against_brute_force),
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_non_conflicting_result),
        cmocka_unit_test(test_equals_pcgrad_two_tasks),
        cmocka_unit_test(test_small_trace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
