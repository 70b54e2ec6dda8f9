/* A Gram given by the caller (mtl_input.gram, mtl_combine_fast_gram), as
 * the agent's backward pass forms it, against the combiner's own ssyrk over
 * G: the same weights and d to float rounding for every Gram-based method
 * on fixed random problems (conflicting rows of mixed scales), the same
 * stats; and a Gram that says something else does change d, so it is
 * really used. */
#include "testutil.h"
#include "mtl_call.h"

#include <math.h>

#include "mtl/mtl.h"
#include "mtl_ref.h"

static mtl_combiner *make(mtl_method m, int K, long P)
{
    mtl_options o;
    mtl_options_default(&o, m);
    o.seed = 4;
    o.fast_subset = 3;
    mtl_combiner *c = NULL;
    mtrl_err e;
    assert_int_equal(mtl_create(&c, K, P, &o, &e), 0);
    return c;
}

/* Upper triangle of G G^T in double. */
static void exact_gram(int K, long P, const float *G, double *A)
{
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            double s = 0;
            if (j >= i)
                for (long p = 0; p < P; p++)
                    s += (double)G[(long)i * P + p] * G[(long)j * P + p];
            A[(long)i * K + j] = s;
        }
}

static double rel_diff(const float *a, const float *b, long n)
{
    double num = 0, den = 0;
    for (long i = 0; i < n; i++)
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), den += (double)b[i] * b[i];
    return sqrt(num / (den + 1e-300));
}

static void test_given_gram_same_d(void **st_)
{
    (void)st_;
    static const mtl_method methods[] = {MTL_PCGRAD,      MTL_CAGRAD, MTL_CAGRAD_FAST,
                                         MTL_MGDA,        MTL_ALIGNED_MTL, MTL_IMTL_G,
                                         MTL_UPGRAD,      MTL_DUALPROJ, MTL_CONFIG};
    static const int Ks[] = {3, 10, 50};
    const long P = 4000;
    for (int a = 0; a < 3; a++) {
        int K = Ks[a];
        rng_state r;
        rng_seed(&r, 30 + (uint64_t)a, 1);
        float *G = malloc(sizeof(float) * (size_t)K * P), *d1 = malloc(sizeof(float) * P),
              *d2 = malloc(sizeof(float) * P);
        double *A = malloc(sizeof(double) * (size_t)K * K);
        ref_make_G(&r, K, P, -0.8, G);
        exact_gram(K, P, G, A);
        for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
            mtl_combiner *own = make(methods[m], K, P), *given = make(methods[m], K, P);
            mtl_stats s1, s2;
            mtrl_err e;
            mtl_input in1 = {.k = K, .G = G}, in2 = {.k = K, .G = G, .gram = A};
            assert_int_equal(mtl_combine_in(own, &in1, d1, &s1, &e), 0);
            assert_int_equal(mtl_combine_in(given, &in2, d2, &s2, &e), 0);
            assert_int_equal(s1.nonfinite + s2.nonfinite, 0);
            double rd = rel_diff(d2, d1, P);
            if (!(rd < 1e-4))
                fail_msg("%s K %d: d differs by %g (relative)", mtl_method_name(methods[m]), K,
                         rd);
            assert_int_equal(s1.gram, s2.gram);
            assert_int_equal(s1.n_conflicts, s2.n_conflicts);
            assert_true(fabs(s1.d_norm - s2.d_norm) <= 1e-4 * s1.d_norm);
            /* A different Gram (row 0 scaled by 2 in it) must move d. */
            for (int j = 0; j < K; j++)
                A[j] *= j == 0 ? 4 : 2;
            mtl_combiner *other = make(methods[m], K, P);
            assert_int_equal(mtl_combine_in(other, &in2, d2, &s2, &e), 0);
            for (int j = 0; j < K; j++)
                A[j] /= j == 0 ? 4 : 2;
            if (!(rel_diff(d2, d1, P) > 1e-3))
                fail_msg("%s K %d: a changed Gram left d as it was", mtl_method_name(methods[m]),
                         K);
            mtl_destroy(own);
            mtl_destroy(given);
            mtl_destroy(other);
        }
        free(G);
        free(d1);
        free(d2);
        free(A);
    }
}

/* CAGrad-Fast on caller-formed rows: mtl_combine_fast_gram with the rows'
 * Gram against mtl_combine_fast, after the same draw. */
static void test_fast_rows_given_gram(void **st_)
{
    (void)st_;
    enum { K = 10, N = 4 };
    const long P = 3000;
    rng_state r;
    rng_seed(&r, 77, 1);
    float *R = malloc(sizeof(float) * N * P), *d1 = malloc(sizeof(float) * P),
          *d2 = malloc(sizeof(float) * P);
    double A[N * N];
    ref_make_G(&r, N, P, -0.8, R);
    exact_gram(N, P, R, A);
    mtl_combiner *own = make(MTL_CAGRAD_FAST, K, P), *given = make(MTL_CAGRAD_FAST, K, P);
    int o1[K], o2[K];
    mtrl_err e;
    mtl_stats s1, s2;
    for (int call = 0; call < 3; call++) {
        assert_int_equal(mtl_fast_draw(own, K, o1, &e), N - 1);
        assert_int_equal(mtl_fast_draw(given, K, o2, &e), N - 1);
        assert_memory_equal(o1, o2, sizeof o1);
        assert_int_equal(combine_fast(own, R, d1, &s1, &e), 0);
        assert_int_equal(mtl_combine_fast_gram(given, R, A, NULL, NULL, d2, &s2, &e), 0);
        assert_true(rel_diff(d2, d1, P) < 1e-4);
        assert_true(fabs(s1.g0_norm - s2.g0_norm) <= 1e-4 * s1.g0_norm);
    }
    mtl_destroy(own);
    mtl_destroy(given);
    free(R);
    free(d1);
    free(d2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_given_gram_same_d),
        cmocka_unit_test(test_fast_rows_given_gram),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
