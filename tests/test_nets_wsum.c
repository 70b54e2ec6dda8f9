/* nn_rows_wsum, the combiners' d = G^T w on the MLPs' threads: equal to a
 * double-precision reference up to float rounding on random K x n rows
 * (K = 1, 3, 50; n below, at and past the chunk size, not a multiple of
 * it), the same bits for every thread count and run to run, and the same
 * bits as one sgemv over all n (each d[i] takes sgemv's own path). */
#include "testutil.h"

#include <cblas.h>
#include <float.h>
#include <math.h>

#include "core/rng.h"
#include "nets/nets.h"

static float *random_floats(rng_state *r, long n)
{
    float *x = malloc(sizeof(float) * (size_t)n);
    assert_non_null(x);
    for (long i = 0; i < n; i++)
        x[i] = (float)rng_normal(r);
    return x;
}

/* |d - sum_k w_k G_ki| within float accumulation over K terms of the sum
 * of |w_k G_ki|, computed in double. */
static void check_reference(int K, long n, const float *G, const float *w, const float *d)
{
    for (long i = 0; i < n; i++) {
        double s = 0, a = 0;
        for (int k = 0; k < K; k++) {
            double t = (double)w[k] * G[(long)k * n + i];
            s += t;
            a += fabs(t);
        }
        double tol = 2.0 * (K + 1) * FLT_EPSILON * a + 1e-30;
        if (fabs(d[i] - s) > tol)
            fail_msg("K = %d, n = %ld: d[%ld] = %.9g, reference %.9g (tolerance %.3g)", K, n,
                     i, d[i], s, tol);
    }
}

static void check_shape(int K, long n, rng_state *r)
{
    float *G = random_floats(r, (long)K * n);
    float *w = random_floats(r, K);
    float *ref = malloc(sizeof(float) * (size_t)n);
    float *d = malloc(sizeof(float) * (size_t)n);
    assert_non_null(ref);
    assert_non_null(d);
    int was = openblas_get_num_threads();
    openblas_set_num_threads(1); /* as a caller with nn_set_threads does */
    cblas_sgemv(CblasRowMajor, CblasTrans, K, (int)n, 1.0f, G, (int)n, w, 1, 0.0f, ref, 1);
    check_reference(K, n, G, w, ref);
    for (int T = 1; T <= 4; T++) {
        nn_set_threads(T);
        for (int rep = 0; rep < 3; rep++) {
            for (long i = 0; i < n; i++)
                d[i] = NAN; /* every entry must be written */
            nn_rows_wsum(K, n, G, w, d);
            check_reference(K, n, G, w, d);
            if (memcmp(d, ref, sizeof(float) * (size_t)n) != 0)
                fail_msg("K = %d, n = %ld, %d threads, run %d: not the bits of one sgemv", K,
                         n, T, rep);
        }
    }
    nn_set_threads(0);
    openblas_set_num_threads(was);
    free(G), free(w), free(ref), free(d);
}

static void test_matches_reference_any_threads(void **st)
{
    (void)st;
    rng_state r;
    rng_seed(&r, 12, 0);
    static const int Ks[] = {1, 3, 50};
    /* 7 and 4095: one sgemv; 3 * 4096 + 37 and 100003: split, a short last
     * chunk with an odd tail. */
    static const long ns[] = {7, 4095, 3 * 4096 + 37, 100003};
    for (size_t a = 0; a < sizeof Ks / sizeof *Ks; a++)
        for (size_t b = 0; b < sizeof ns / sizeof *ns; b++)
            check_shape(Ks[a], ns[b], &r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_reference_any_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
