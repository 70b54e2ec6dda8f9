/* IMTL-G and ConFIG (spec/mtl-methods.md §4, §11): IMTL-G's defining
 * equal projections onto the unit task gradients with K >= 3 (the property
 * Kurin et al.'s transposed solve loses), weights summing to 1, the
 * reference's (K-1) x (K-1) closed form solved independently in the test,
 * the golden values (including the case whose common projection is
 * negative), orthogonal and zero rows; ConFIG's equal positive cosines, its
 * length rule, its golden value and its direction relative to IMTL-G. */
#include "testutil.h"
#include "mtl_testutil.h"

#include "mtl/mtl.h"
#include "mtl_ref.h"

/* The reference's form: M_ij = (g_1 - g_i).(u_1 - u_j), b_j = g_1.(u_1 -
 * u_j) for i, j >= 2, M^T a = b, alpha = (1 - sum a, a). */
static void ref_imtl(int K, const double *A, double *alpha)
{
    int n = K - 1;
    double *M = malloc(sizeof(double) * n * n), *Mt = malloc(sizeof(double) * n * n),
           *b = malloc(sizeof(double) * n), *a = malloc(sizeof(double) * n), nr[64];
    for (int k = 0; k < K; k++)
        nr[k] = sqrt(A[k * K + k]);
    for (int i = 1; i < K; i++)
        for (int j = 1; j < K; j++)
            M[(i - 1) * n + j - 1] = A[0] / nr[0] - A[j] / nr[j] - A[i * K] / nr[0] +
                                     A[i * K + j] / nr[j];
    for (int j = 1; j < K; j++)
        b[j - 1] = A[0] / nr[0] - A[j] / nr[j];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            Mt[i * n + j] = M[j * n + i];
    assert_int_equal(ref_solve(n, Mt, b, a), 0);
    double s = 0;
    for (int j = 0; j < n; j++)
        s += a[j], alpha[j + 1] = a[j];
    alpha[0] = 1 - s;
    free(M), free(Mt), free(b), free(a);
}

static void test_equal_projections(void **st_)
{
    (void)st_;
    enum { K = 5, P = 60 };
    rng_state r;
    rng_seed(&r, 31, 1);
    float G[K * P];
    double Gd[K * P], A[K * K], w[K], wr[K], d[P];
    for (int trial = 0; trial < 20; trial++) {
        ref_make_G(&r, K, P, -1.0, G);
        ref_gram(K, P, G, Gd, A);
        mtl_stats st;
        weights(MTL_IMTL_G, K, P, G, w, &st);
        double s = 0, wmax = 0;
        for (int k = 0; k < K; k++)
            s += w[k], wmax = fmax(wmax, fabs(w[k]));
        assert_true(fabs(s - 1) < 1e-5 * wmax);
        ref_combine(K, P, Gd, w, d);
        double p0 = ref_dot(P, Gd, d) / sqrt(A[0]);
        for (int k = 1; k < K; k++) {
            double pk = ref_dot(P, Gd + k * P, d) / sqrt(A[k * K + k]);
            assert_true(fabs(pk - p0) < 1e-4 * fabs(p0) * wmax);
        }
        ref_imtl(K, A, wr);
        for (int k = 0; k < K; k++)
            assert_true(fabs(w[k] - wr[k]) < 1e-4 * wmax);
    }
}

static void test_golden_and_edges(void **st_)
{
    (void)st_;
    double w[4], d[3];
    mtl_stats st;
    float G2[4] = {3, 0, -1, 1};
    weights(MTL_IMTL_G, 2, 2, G2, w, &st);
    assert_true(fabs(w[0] - 0.320377) < 2e-6 && fabs(w[1] - 0.679623) < 2e-6);
    /* common projection 0.281509 onto u_1 = (1, 0) and u_2 = (-1, 1)/sqrt 2 */
    double dx = 3 * w[0] - w[1], dy = w[1];
    assert_true(fabs(dx - 0.281509) < 2e-6);
    assert_true(fabs((-dx + dy) / sqrt(2) - 0.281509) < 2e-6);
    /* IMTL-G's negative common projection: every task goes uphill. */
    float G3[9] = {-2, 0, 1, -2, -2, -2, -1, 0, 0};
    weights(MTL_IMTL_G, 3, 3, G3, w, &st);
    const double want[3] = {-1.749645, -0.703323, 3.452969};
    for (int k = 0; k < 3; k++)
        assert_true(fabs(w[k] - want[k]) < 1e-5);
    for (int p = 0; p < 3; p++)
        d[p] = w[0] * G3[p] + w[1] * G3[3 + p] + w[2] * G3[6 + p];
    for (int k = 0; k < 3; k++) {
        double nk = sqrt(G3[3 * k] * G3[3 * k] + G3[3 * k + 1] * G3[3 * k + 1] +
                         G3[3 * k + 2] * G3[3 * k + 2]);
        double pk = (G3[3 * k] * d[0] + G3[3 * k + 1] * d[1] + G3[3 * k + 2] * d[2]) / nk;
        assert_true(fabs(pk + 1.452969) < 1e-5);
    }
    /* Orthogonal rows: w_k = (1/n_k) / sum_j (1/n_j). */
    float Go[4 * 8] = {0};
    const double n[4] = {1, 2, 4, 0.5};
    double sinv = 0;
    for (int k = 0; k < 4; k++)
        Go[k * 8 + 2 * k] = (float)n[k], sinv += 1 / n[k];
    weights(MTL_IMTL_G, 4, 8, Go, w, &st);
    for (int k = 0; k < 4; k++)
        assert_true(fabs(w[k] - 1 / n[k] / sinv) < 1e-6);
    /* Identical rows (a singular Gram): d = g; one task: w = 1. */
    float Gi[3 * 4] = {1, -2, 0.5f, 3, 1, -2, 0.5f, 3, 1, -2, 0.5f, 3};
    weights(MTL_IMTL_G, 3, 4, Gi, w, &st);
    assert_true(fabs(w[0] + w[1] + w[2] - 1) < 1e-6);
    for (int k = 0; k < 3; k++)
        assert_true(fabs(w[k] - 1.0 / 3) < 1e-5);
    weights(MTL_IMTL_G, 1, 4, Gi, w, &st);
    assert_true(fabs(w[0] - 1) < 1e-12);
    /* All-zero G: w = 0, no NaN. */
    float Gz[3 * 4] = {0};
    weights(MTL_IMTL_G, 3, 4, Gz, w, &st);
    for (int k = 0; k < 3; k++)
        assert_true(w[k] == 0);
}

static void test_config(void **st_)
{
    (void)st_;
    double w[4];
    mtl_stats st;
    /* Golden: w = (0.735702, 1.560660), d = (0.646447, 1.560660). */
    float G2[4] = {3, 0, -1, 1};
    weights(MTL_CONFIG, 2, 2, G2, w, &st);
    assert_true(fabs(w[0] - 0.735702) < 2e-6 && fabs(w[1] - 1.560660) < 2e-6);
    assert_true(fabs(3 * w[0] - w[1] - 0.646447) < 4e-6);
    /* The IMTL-G counterexample: equal positive cosine 0.708351 for all
     * three tasks, the IMTL-G direction with the sign flipped. */
    float G3[9] = {-2, 0, 1, -2, -2, -2, -1, 0, 0};
    double wi[3], d[3], di[3];
    weights(MTL_CONFIG, 3, 3, G3, w, &st);
    weights(MTL_IMTL_G, 3, 3, G3, wi, &st);
    for (int p = 0; p < 3; p++) {
        d[p] = w[0] * G3[p] + w[1] * G3[3 + p] + w[2] * G3[6 + p];
        di[p] = wi[0] * G3[p] + wi[1] * G3[3 + p] + wi[2] * G3[6 + p];
    }
    double nd = sqrt(ref_dot(3, d, d)), ndi = sqrt(ref_dot(3, di, di)), sumproj = 0;
    for (int k = 0; k < 3; k++) {
        double g[3] = {G3[3 * k], G3[3 * k + 1], G3[3 * k + 2]};
        double cosk = ref_dot(3, g, d) / (sqrt(ref_dot(3, g, g)) * nd);
        assert_true(fabs(cosk - 0.708351) < 1e-5);
        sumproj += ref_dot(3, g, d) / nd;
    }
    assert_true(fabs(nd - sumproj) < 1e-5 * nd); /* ||d|| = sum_k <g_k, d> / ||d|| */
    assert_true(fabs(ref_dot(3, d, di) / (nd * ndi) + 1) < 1e-6); /* opposite of IMTL-G */
    /* Random K = 4: equal positive cosines and the length rule. */
    enum { K = 4, P = 30 };
    rng_state r;
    rng_seed(&r, 32, 1);
    float G[K * P];
    double Gd[K * P], A[K * K], dd[P];
    for (int trial = 0; trial < 10; trial++) {
        ref_make_G(&r, K, P, -1.0, G);
        ref_gram(K, P, G, Gd, A);
        weights(MTL_CONFIG, K, P, G, w, &st);
        ref_combine(K, P, Gd, w, dd);
        double n2 = sqrt(ref_dot(P, dd, dd)), c0 = 0, sp = 0;
        for (int k = 0; k < K; k++) {
            double pk = ref_dot(P, Gd + k * P, dd) / n2, ck = pk / sqrt(A[k * K + k]);
            if (k == 0)
                c0 = ck;
            assert_true(ck > 0);
            assert_true(fabs(ck - c0) < 1e-4 * c0);
            sp += pk;
        }
        assert_true(fabs(n2 - sp) < 1e-4 * n2);
    }
    /* Identical rows: d = K g; all-zero G: d = 0. */
    float Gi[3 * 2] = {1, 2, 1, 2, 1, 2};
    weights(MTL_CONFIG, 3, 2, Gi, w, &st);
    for (int k = 0; k < 3; k++)
        assert_true(fabs(w[k] - 1) < 1e-5);
    float Gz[3 * 2] = {0};
    weights(MTL_CONFIG, 3, 2, Gz, w, &st);
    for (int k = 0; k < 3; k++)
        assert_true(w[k] == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_projections),
        cmocka_unit_test(test_golden_and_edges),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
