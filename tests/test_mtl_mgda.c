/* MGDA: the min-norm point of the convex hull of the (normalised) rows,
 * against closed forms (two tasks, orthogonal rows, rank one), a precise
 * solve written here (FISTA on the simplex, run long) and the optimality
 * condition <u_k, d> >= ||d||^2 for every row. */
#include "testutil.h"
#include "mtl_call.h"

#include "mtl/mtl.h"
#include "mtl_ref.h"

static void combine(int K, long P, const float *G, int normalize, float *d, float *w,
                    mtl_stats *st)
{
    mtl_options o;
    mtl_options_default(&o, MTL_MGDA);
    o.mgda_normalize = normalize;
    mtl_combiner *c;
    mtrl_err e;
    assert_int_equal(mtl_create(&c, K, P, &o, &e), 0);
    assert_int_equal(combine_rows(c, K, G, NULL, d, st, &e), 0);
    assert_int_equal(st->nonfinite, 0);
    memcpy(w, st->w, sizeof(float) * K);
    st->w = w;
    mtl_destroy(c);
}

static void test_two_tasks_closed_form(void **st_)
{
    (void)st_;
    /* On the segment between a and b the min-norm point is
     * b + gamma (a - b), gamma = clamp(<b - a, b> / |a - b|^2, 0, 1). */
    float G[2][4] = {{3, 0, 1, 0}, {-1, 2, 0, 0.5f}};
    for (int norm = 0; norm < 2; norm++) {
        double a[4], b[4], na = 0, nb = 0;
        for (int p = 0; p < 4; p++)
            na += G[0][p] * G[0][p], nb += G[1][p] * G[1][p];
        for (int p = 0; p < 4; p++) {
            a[p] = G[0][p] / (norm ? sqrt(na) : 1);
            b[p] = G[1][p] / (norm ? sqrt(nb) : 1);
        }
        double num = 0, den = 0;
        for (int p = 0; p < 4; p++)
            num += (b[p] - a[p]) * b[p], den += (a[p] - b[p]) * (a[p] - b[p]);
        double gamma = fmin(fmax(num / den, 0), 1);
        float d[4], w[2];
        mtl_stats st;
        combine(2, 4, &G[0][0], norm, d, w, &st);
        for (int p = 0; p < 4; p++)
            assert_float_equal(d[p], b[p] + gamma * (a[p] - b[p]), 1e-6);
    }
    /* One row dominating the other's direction: the hull's closest point is
     * the shorter row itself (gamma clamps), here without normalisation. */
    float H[2][2] = {{1, 0}, {3, 0.1f}}, d[2], w[2];
    mtl_stats st;
    combine(2, 2, &H[0][0], 0, d, w, &st);
    assert_float_equal(d[0], 1, 1e-6);
    assert_float_equal(d[1], 0, 1e-6);
    assert_float_equal(w[0], 1, 1e-6);
    assert_float_equal(w[1], 0, 1e-6);
}

static void test_orthogonal_rows(void **st_)
{
    (void)st_;
    /* Rows e_k scaled by n_k = 1, 2, 4, 0.5. Normalised: d = mean of the unit
     * vectors (w_k = 1 / (K n_k)). Raw: lambda_k proportional to 1/n_k^2. */
    enum { K = 4, P = 6 };
    double n[K] = {1, 2, 4, 0.5};
    float G[K * P] = {0}, d[P], w[K];
    for (int k = 0; k < K; k++)
        G[k * P + k] = (float)n[k];
    mtl_stats st;
    combine(K, P, G, 1, d, w, &st);
    for (int k = 0; k < K; k++) {
        assert_float_equal(d[k], 0.25, 1e-6);
        assert_float_equal(w[k], 1.0 / (K * n[k]), 1e-6);
    }
    assert_float_equal(st.d_norm, 0.5, 1e-6);
    double s = 0;
    for (int k = 0; k < K; k++)
        s += 1 / (n[k] * n[k]);
    combine(K, P, G, 0, d, w, &st);
    for (int k = 0; k < K; k++)
        assert_float_equal(d[k], (1 / (n[k] * n[k]) / s) * n[k], 1e-6);
}

typedef struct {
    int n;
    const double *M;
} qp_ctx;

static double qp_f(int n, const double *w, double *g, void *vc)
{
    const qp_ctx *c = vc;
    double f = 0;
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < n; j++)
            s += c->M[i * n + j] * w[j];
        g[i] = 2 * s;
        f += w[i] * s;
    }
    return f;
}

static void check_random(int K, long P, uint64_t seed, double mix_lo)
{
    rng_state r;
    rng_seed(&r, seed, 2);
    float *G = malloc(sizeof(float) * K * P), *d = malloc(sizeof(float) * P), w[64];
    double *Gd = malloc(sizeof(double) * K * P), *A = malloc(sizeof(double) * K * K),
           *M = malloc(sizeof(double) * K * K), *U = malloc(sizeof(double) * K * P);
    ref_make_G(&r, K, P, mix_lo, G);
    ref_gram(K, P, G, Gd, A);
    for (int k = 0; k < K; k++) {
        double nk = sqrt(A[k * K + k]);
        for (long p = 0; p < P; p++)
            U[(long)k * P + p] = Gd[(long)k * P + p] / nk;
    }
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++)
            M[i * K + j] = A[i * K + j] / sqrt(A[i * K + i] * A[j * K + j]);
    mtl_stats st;
    combine(K, P, G, 1, d, w, &st);
    double lam[64], dd2 = 0, fs;
    qp_ctx ctx = {K, M};
    fs = ref_minimize_simplex(K, qp_f, &ctx, 30000, lam);
    for (long p = 0; p < P; p++)
        dd2 += (double)d[p] * d[p];
    /* Same minimal norm as the precise solve (float rounding aside), and
     * never below it. */
    assert_true(fabs(dd2 - fs) <= 1e-5 * fs + 1e-9);
    /* Optimality: <u_k, d> >= ||d||^2 for every k (d is the point of the
     * hull closest to 0, so the hull lies beyond d's supporting plane). */
    double *dd = malloc(sizeof(double) * P);
    for (long p = 0; p < P; p++)
        dd[p] = d[p];
    /* (absolute slack 1e-6: the rows are unit vectors, d is float) */
    for (int k = 0; k < K; k++)
        assert_true(ref_dot(P, U + (long)k * P, dd) >= dd2 - 1e-5 * fmax(dd2, 0.1));
    /* Weights: d = G^T w with w_k = lambda_k / ||g_k||, lambda on the simplex. */
    double sl = 0;
    for (int k = 0; k < K; k++) {
        assert_true(w[k] >= 0);
        sl += w[k] * sqrt(A[k * K + k]);
    }
    assert_true(fabs(sl - 1) < 1e-5);
    free(G), free(d), free(Gd), free(A), free(M), free(U), free(dd);
}

static void test_random_against_precise(void **st_)
{
    (void)st_;
    for (int t = 0; t < 3; t++) {
        check_random(10, 500, 60 + t, -0.5);
        check_random(50, 500, 70 + t, -0.3);
    }
    /* More rows than dimensions (affinely dependent points; 0 may lie in
     * the hull): still the exact min-norm point. */
    check_random(50, 20, 80, -1.0);
    check_random(30, 8, 81, 0.2);
}

static void test_degenerate(void **st_)
{
    (void)st_;
    float d[3], w[4];
    mtl_stats st;
    /* Opposite rows: 0 is in the hull. */
    float G1[6] = {1, 2, 0, -2, -4, 0};
    combine(2, 3, G1, 1, d, w, &st);
    for (int p = 0; p < 3; p++)
        assert_float_equal(d[p], 0, 1e-6);
    /* Rank one (a shared-temperature loss: every task's gradient is a scalar
     * on one coordinate). Same signs: every normalised row is e_0. */
    float G2[4 * 3] = {0.5f, 0, 0, 2, 0, 0, 0.1f, 0, 0, 7, 0, 0};
    combine(4, 3, G2, 1, d, w, &st);
    assert_float_equal(d[0], 1, 1e-6);
    G2[6] = -0.1f; /* mixed signs: 0 is in the hull */
    combine(4, 3, G2, 1, d, w, &st);
    assert_float_equal(d[0], 0, 1e-6);
    /* A zero row (a task with no gradient) gives d = 0, not NaN. */
    float G3[6] = {1, 1, 1, 0, 0, 0};
    combine(2, 3, G3, 1, d, w, &st);
    for (int p = 0; p < 3; p++)
        assert_float_equal(d[p], 0, 0);
    /* Identical rows: the row's direction. */
    float G4[9] = {3, 4, 0, 3, 4, 0, 3, 4, 0};
    combine(3, 3, G4, 1, d, w, &st);
    assert_float_equal(d[0], 0.6, 1e-6);
    assert_float_equal(d[1], 0.8, 1e-6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_tasks_closed_form),
        cmocka_unit_test(test_orthogonal_rows),
        cmocka_unit_test(test_random_against_precise),
        cmocka_unit_test(test_degenerate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
