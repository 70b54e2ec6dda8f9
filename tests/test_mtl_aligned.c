/* Aligned-MTL and Aligned-MTL-UB against an independent computation (Jacobi
 * eigendecomposition written in mtl_ref.h, the aligned matrix B formed
 * explicitly) and the properties of spec/mtl-methods.md §2-3: the aligned
 * rows are orthogonal with equal norms, ||d||^2 = K lambda_min, the closed
 * forms (orthogonal rows, identical rows, one task, rank-deficient G), scale
 * invariance, and the golden value; UB on a representation Gram. */
#include "testutil.h"
#include "mtl_testutil.h"

#include "mtl/mtl.h"
#include "mtl_ref.h"

static mtl_combiner *make(mtl_method m, int K, long P)
{
    mtl_options o;
    mtl_options_default(&o, m);
    mtl_combiner *c = NULL;
    mtrl_err e;
    assert_int_equal(mtl_create(&c, K, P, &o, &e), 0);
    return c;
}

/* B = sqrt(l_min) V L^(-1/2) V^T over the eigenvalues above l_max K eps. */
static int ref_aligned_B(int K, const double *A, double *B, double *lmin_out)
{
    double ev[64], V[64 * 64], lmax = 0, lmin = INFINITY;
    ref_jacobi_eigh(K, A, ev, V);
    for (int r = 0; r < K; r++)
        lmax = fmax(lmax, ev[r]);
    double tol = lmax * K * 1.1920929e-7;
    int R = 0;
    for (int r = 0; r < K; r++)
        if (ev[r] > tol)
            lmin = fmin(lmin, ev[r]), R++;
    for (int i = 0; i < K * K; i++)
        B[i] = 0;
    for (int r = 0; r < K; r++) {
        if (!(ev[r] > tol))
            continue;
        double f = sqrt(lmin / ev[r]);
        for (int i = 0; i < K; i++)
            for (int j = 0; j < K; j++)
                B[i * K + j] += f * V[i * K + r] * V[j * K + r];
    }
    *lmin_out = lmin;
    return R;
}

static void test_golden(void **st_)
{
    (void)st_;
    float G[4] = {3, 0, -1, 1};
    double w[2];
    mtl_stats st;
    weights(MTL_ALIGNED_MTL, 2, 2, G, w, &st);
    assert_true(fabs(w[0] - 0.610232) < 2e-6);
    assert_true(fabs(w[1] - 1.144185) < 2e-6);
    assert_int_equal(st.gram, 1);
    assert_int_equal(st.iters, 2); /* rank kept */
}

static void test_random_full_rank(void **st_)
{
    (void)st_;
    enum { K = 5, P = 40 };
    rng_state r;
    rng_seed(&r, 21, 1);
    float G[K * P];
    double Gd[K * P], A[K * K], B[K * K], w[K], lmin;
    for (int trial = 0; trial < 20; trial++) {
        ref_make_G(&r, K, P, -1.0, G);
        ref_gram(K, P, G, Gd, A);
        mtl_stats st;
        weights(MTL_ALIGNED_MTL, K, P, G, w, &st);
        assert_int_equal(ref_aligned_B(K, A, B, &lmin), K);
        /* w = B 1, against the independently formed B. */
        double wmax = 0, err = 0;
        for (int i = 0; i < K; i++) {
            double s = 0;
            for (int j = 0; j < K; j++)
                s += B[i * K + j];
            wmax = fmax(wmax, fabs(s));
            err = fmax(err, fabs(w[i] - s));
        }
        assert_true(err < 1e-4 * wmax);
        /* The aligned rows B G are orthogonal with squared norm l_min. */
        double BG[K * P];
        for (int i = 0; i < K; i++)
            for (int p = 0; p < P; p++) {
                double s = 0;
                for (int j = 0; j < K; j++)
                    s += B[i * K + j] * Gd[j * P + p];
                BG[i * P + p] = s;
            }
        for (int i = 0; i < K; i++)
            for (int j = 0; j < K; j++) {
                double g = ref_dot(P, BG + i * P, BG + j * P);
                assert_true(fabs(g - (i == j ? lmin : 0)) < 1e-10 * lmin * K);
            }
        /* d = G^T w: equal projections l_min onto every aligned row, and
         * ||d||^2 = K l_min. */
        double d[P];
        ref_combine(K, P, Gd, w, d);
        for (int i = 0; i < K; i++)
            assert_true(fabs(ref_dot(P, BG + i * P, d) - lmin) < 1e-4 * lmin);
        assert_true(fabs(ref_dot(P, d, d) - K * lmin) < 1e-4 * K * lmin);
    }
}

static void test_closed_forms(void **st_)
{
    (void)st_;
    enum { K = 4, P = 12 };
    float G[K * P];
    double w[K], w3[K];
    mtl_stats st;
    /* Orthogonal rows of norms n_k: w_k = n_min / n_k. */
    const double n[K] = {2.0, 0.5, 4.0, 1.0};
    memset(G, 0, sizeof G);
    for (int k = 0; k < K; k++) {
        G[k * P + 3 * k] = (float)(0.6 * n[k]);
        G[k * P + 3 * k + 1] = (float)(0.8 * n[k]);
    }
    weights(MTL_ALIGNED_MTL, K, P, G, w, &st);
    for (int k = 0; k < K; k++)
        assert_true(fabs(w[k] - 0.5 / n[k]) < 1e-6);
    /* Identical rows: rank 1, w = 1 (d = K g). */
    rng_state r;
    rng_seed(&r, 22, 1);
    for (int p = 0; p < P; p++)
        G[p] = (float)rng_normal(&r);
    for (int k = 1; k < K; k++)
        memcpy(G + k * P, G, sizeof(float) * P);
    weights(MTL_ALIGNED_MTL, K, P, G, w, &st);
    assert_int_equal(st.iters, 1);
    for (int k = 0; k < K; k++)
        assert_true(fabs(w[k] - 1) < 1e-6);
    /* One task: w = 1. */
    weights(MTL_ALIGNED_MTL, 1, P, G, w, &st);
    assert_true(fabs(w[0] - 1) < 1e-12);
    /* Scaling G by 3 leaves w unchanged (B is homogeneous of degree 0). */
    ref_make_G(&r, K, P, -1.0, G);
    weights(MTL_ALIGNED_MTL, K, P, G, w, &st);
    for (int i = 0; i < K * P; i++)
        G[i] *= 3;
    weights(MTL_ALIGNED_MTL, K, P, G, w3, &st);
    for (int k = 0; k < K; k++)
        assert_true(fabs(w[k] - w3[k]) < 1e-5 * fabs(w[k]) + 1e-7);
    /* All-zero G: d = 0, no NaN. */
    memset(G, 0, sizeof G);
    weights(MTL_ALIGNED_MTL, K, P, G, w, &st);
    for (int k = 0; k < K; k++)
        assert_true(w[k] == 0);
}

static void test_rank_deficient(void **st_)
{
    (void)st_;
    /* 5 rows in a 2-dim span: the aligned Gram is l_R V_R V_R^T, so
     * ||d||^2 = l_R ||V_R^T 1||^2, and d = G^T w still equals (B G)^T 1. */
    enum { K = 5, P = 30 };
    rng_state r;
    rng_seed(&r, 23, 1);
    double basis[2 * P], Gd[K * P], A[K * K], B[K * K], lmin, w[K];
    float G[K * P];
    for (int i = 0; i < 2 * P; i++)
        basis[i] = rng_normal(&r);
    for (int k = 0; k < K; k++) {
        double a = rng_range(&r, -1, 1), b = rng_range(&r, -1, 1);
        for (int p = 0; p < P; p++)
            G[k * P + p] = (float)(a * basis[p] + b * basis[P + p]);
    }
    ref_gram(K, P, G, Gd, A);
    assert_int_equal(ref_aligned_B(K, A, B, &lmin), 2);
    mtl_stats st;
    weights(MTL_ALIGNED_MTL, K, P, G, w, &st);
    assert_int_equal(st.iters, 2);
    double d[P], dref[P], b1[K];
    for (int i = 0; i < K; i++) {
        b1[i] = 0;
        for (int j = 0; j < K; j++)
            b1[i] += B[i * K + j];
    }
    ref_combine(K, P, Gd, w, d);
    ref_combine(K, P, Gd, b1, dref);
    double nd = sqrt(ref_dot(P, dref, dref));
    for (int p = 0; p < P; p++)
        assert_true(fabs(d[p] - dref[p]) < 1e-4 * nd);
    double ev[K], V[K * K], v1n = 0, lmax = 0;
    ref_jacobi_eigh(K, A, ev, V);
    for (int r2 = 0; r2 < K; r2++)
        lmax = fmax(lmax, ev[r2]);
    for (int r2 = 0; r2 < K; r2++)
        if (ev[r2] > lmax * K * 1.1920929e-7) {
            double s = 0;
            for (int i = 0; i < K; i++)
                s += V[i * K + r2];
            v1n += s * s;
        }
    assert_true(fabs(ref_dot(P, d, d) - lmin * v1n) < 1e-4 * lmin * K);
}

static void test_ub(void **st_)
{
    (void)st_;
    enum { K = 4, P = 50, F = 30 };
    rng_state r;
    rng_seed(&r, 24, 1);
    float G[K * P], d[P], d2[P];
    ref_make_G(&r, K, P, -0.5, G);
    mtl_combiner *c = make(MTL_ALIGNED_MTL_UB, K, P), *al = make(MTL_ALIGNED_MTL, K, P);
    mtl_stats st;
    mtrl_err e;
    assert_int_equal(mtl_needs(c), MTL_NEEDS_REP_GRAM);
    assert_int_equal(mtl_needs(al), 0);
    /* Disjoint-support representation gradients (mtrl's case): a diagonal
     * Gram, w_k = min_j m_j / m_k, a zero-norm task gets 0. */
    const double m[K] = {2.0, 0.0, 1.0, 0.25};
    float RG[K * K] = {0};
    for (int k = 0; k < K; k++)
        RG[k * K + k] = (float)(m[k] * m[k]);
    mtl_input in = {.k = K, .G = G, .rep_gram = RG};
    assert_int_equal(mtl_combine_in(c, &in, d, &st, &e), 0);
    assert_int_equal(st.nonfinite, 0);
    assert_int_equal(st.gram, 0); /* no parameter Gram was formed */
    const double want[K] = {0.125, 0.0, 0.25, 1.0};
    double wd[K];
    for (int k = 0; k < K; k++) {
        assert_true(fabs(st.w[k] - want[k]) < 1e-6);
        wd[k] = st.w[k];
    }
    double Gd[K * P], A[K * K], dref[P];
    ref_gram(K, P, G, Gd, A);
    ref_combine(K, P, Gd, wd, dref);
    assert_true(ref_rel_err_fd(P, d, dref, 0) < 1e-6);
    /* A general representation Z: UB with Gram Z Z^T has the weights that
     * Aligned-MTL computes on Z itself. */
    float Z[K * F];
    double Zd[K * F], AZ[K * K];
    ref_make_G(&r, K, F, -1.0, Z);
    ref_gram(K, F, Z, Zd, AZ);
    for (int i = 0; i < K * K; i++)
        RG[i] = (float)AZ[i];
    assert_int_equal(mtl_combine_in(c, &in, d, &st, &e), 0);
    double wub[K], wz[K];
    for (int k = 0; k < K; k++)
        wub[k] = st.w[k];
    weights(MTL_ALIGNED_MTL, K, F, Z, wz, &st);
    for (int k = 0; k < K; k++)
        assert_true(fabs(wub[k] - wz[k]) < 1e-4 * fabs(wz[k]) + 1e-6);
    /* No representation: Aligned-MTL on the parameter Gram, bit for bit. */
    assert_int_equal(combine_rows(c, K, G, NULL, d, &st, &e), 0);
    assert_int_equal(st.gram, 1);
    assert_int_equal(combine_rows(al, K, G, NULL, d2, NULL, &e), 0);
    assert_memory_equal(d, d2, sizeof d);
    /* A NaN in the representation Gram is flagged. */
    RG[5] = NAN;
    assert_int_equal(mtl_combine_in(c, &in, d, &st, &e), 0);
    assert_int_equal(st.nonfinite, 1);
    mtl_destroy(c);
    mtl_destroy(al);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_random_full_rank),
        cmocka_unit_test(test_closed_forms),
        cmocka_unit_test(test_rank_deficient),
        cmocka_unit_test(test_ub),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
