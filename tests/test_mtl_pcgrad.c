/* PCGrad: the coefficient-space version on the Gram against the direct
 * version written here on explicit vectors (the reference's round-by-round
 * batched projections, spec §5.4) for the same random orders, the two-task
 * closed form, and the non-conflicting case. */
#include "testutil.h"
#include "mtl_call.h"

#include "mtl/mtl.h"
#include "mtl_ref.h"

/* The orders the combiner draws: for each task i in turn, the other tasks in
 * ascending order shuffled by rng_shuffle_int on the combiner's stream.
 * sigma is K x (K-1). */
static void draw_orders(rng_state *r, int K, int *sigma)
{
    for (int i = 0; i < K; i++) {
        int n = 0;
        for (int j = 0; j < K; j++)
            if (j != i)
                sigma[i * (K - 1) + n++] = j;
        rng_shuffle_int(r, sigma + i * (K - 1), K - 1);
    }
}

/* Direct PCGrad on vectors: round r projects every p_i (at once) against
 * the unit vector of its r-th task when they conflict; d = mean p_i.
 * Returns the number of projections. */
static int direct_pcgrad(int K, long P, const double *Gd, const int *sigma, double *d)
{
    double *U = malloc(sizeof(double) * K * P), *Pm = malloc(sizeof(double) * K * P);
    memcpy(Pm, Gd, sizeof(double) * K * P);
    for (int j = 0; j < K; j++) {
        double n = sqrt(ref_dot(P, Gd + (long)j * P, Gd + (long)j * P)) + 1e-8;
        for (long p = 0; p < P; p++)
            U[(long)j * P + p] = Gd[(long)j * P + p] / n;
    }
    int count = 0;
    for (int r = 0; r < K - 1; r++)
        for (int i = 0; i < K; i++) {
            int j = sigma[i * (K - 1) + r];
            double delta = ref_dot(P, Pm + (long)i * P, U + (long)j * P);
            if (delta < 0) {
                count++;
                for (long p = 0; p < P; p++)
                    Pm[(long)i * P + p] -= delta * U[(long)j * P + p];
            }
        }
    for (long p = 0; p < P; p++) {
        double s = 0;
        for (int i = 0; i < K; i++)
            s += Pm[(long)i * P + p];
        d[p] = s / K;
    }
    free(U);
    free(Pm);
    return count;
}

static void test_equals_direct_projection(void **st_)
{
    (void)st_;
    int Ks[4] = {2, 3, 10, 50};
    for (int t = 0; t < 4; t++) {
        int K = Ks[t];
        long P = 700;
        rng_state r;
        rng_seed(&r, 40 + t, 1);
        float *G = malloc(sizeof(float) * K * P), *d = malloc(sizeof(float) * P);
        double *Gd = malloc(sizeof(double) * K * P), *A = malloc(sizeof(double) * K * K),
               *dd = malloc(sizeof(double) * P);
        ref_make_G(&r, K, P, -1.0, G); /* strong conflicts: many projections */
        ref_gram(K, P, G, Gd, A);
        if (A[1] > 0) { /* make sure rows 0 and 1 conflict (decides K = 2) */
            for (long p = 0; p < P; p++)
                G[P + p] = -G[P + p];
            ref_gram(K, P, G, Gd, A);
        }
        mtl_options o;
        mtl_options_default(&o, MTL_PCGRAD);
        o.seed = 1234;
        o.stream = 17;
        mtl_combiner *c;
        mtrl_err e;
        assert_int_equal(mtl_create(&c, K, P, &o, &e), 0);
        rng_state mirror;
        rng_seed(&mirror, 1234, 17);
        int *sigma = malloc(sizeof(int) * K * (K - 1 > 0 ? K - 1 : 1));
        for (int call = 0; call < 3; call++) { /* the stream advances call by call */
            mtl_stats st;
            assert_int_equal(combine_rows(c, K, G, NULL, d, &st, &e), 0);
            assert_int_equal(st.nonfinite, 0);
            draw_orders(&mirror, K, sigma);
            int count = direct_pcgrad(K, P, Gd, sigma, dd);
            assert_true(count > 0);
            assert_int_equal(st.iters, count);
            assert_true(ref_rel_err_fd(P, d, dd, 0) < 1e-4);
            /* d = G^T w with the reported weights. */
            double w[64];
            for (int k = 0; k < K; k++)
                w[k] = st.w[k];
            double *dw = malloc(sizeof(double) * P);
            ref_combine(K, P, Gd, w, dw);
            assert_true(ref_rel_err_fd(P, d, dw, 0) < 1e-5);
            free(dw);
        }
        mtl_destroy(c);
        free(G), free(d), free(Gd), free(A), free(dd), free(sigma);
    }
}

static void test_two_task_closed_form(void **st_)
{
    (void)st_;
    /* g1 = (1, 0, 0), g2 = (-1, 2, 0.5): conflicting (<g1, g2> = -1).
     * p1 = g1 - <g1,g2>/|g2|^2 g2, p2 = g2 - <g1,g2>/|g1|^2 g1, d = (p1+p2)/2. */
    float G[6] = {1, 0, 0, -1, 2, 0.5f}, d[3];
    double n2 = 1 + 4 + 0.25;
    double p1[3] = {1 - 1 / n2, 2 / n2, 0.5 / n2}, p2[3] = {0, 2, 0.5};
    mtl_options o;
    mtl_options_default(&o, MTL_PCGRAD);
    mtl_combiner *c;
    mtrl_err e;
    assert_int_equal(mtl_create(&c, 2, 3, &o, &e), 0);
    mtl_stats st;
    assert_int_equal(combine_rows(c, 2, G, NULL, d, &st, &e), 0);
    for (int p = 0; p < 3; p++)
        assert_float_equal(d[p], 0.5 * (p1[p] + p2[p]), 1e-6);
    assert_int_equal(st.iters, 2);
    assert_int_equal(st.n_conflicts, 1);
    /* Each projected gradient no longer conflicts with the other task. */
    assert_true(p1[0] * G[3] + p1[1] * G[4] + p1[2] * G[5] > -1e-12);
    /* Non-conflicting rows: nothing is projected, d is the mean. */
    float H[6] = {1, 0, 0, 1, 2, 0.5f};
    assert_int_equal(combine_rows(c, 2, H, NULL, d, &st, &e), 0);
    assert_int_equal(st.iters, 0);
    assert_float_equal(d[0], 1.0, 1e-7);
    assert_float_equal(d[1], 1.0, 1e-7);
    assert_float_equal(d[2], 0.25, 1e-7);
    mtl_destroy(c);
}

static void test_order_matters_and_seed_determines_it(void **st_)
{
    (void)st_;
    /* Three pairwise conflicting tasks in the plane: the result depends on
     * the order, so different streams give different d over a few calls,
     * and the same seed reproduces the same sequence bit for bit. */
    float G[6] = {1, 0, -0.6f, 0.8f, -0.6f, -0.8f}, a[2], b[2];
    mtl_options o;
    mtl_options_default(&o, MTL_PCGRAD);
    o.seed = 5;
    mtl_combiner *c1, *c2, *c3;
    mtrl_err e;
    assert_int_equal(mtl_create(&c1, 3, 2, &o, &e), 0);
    assert_int_equal(mtl_create(&c2, 3, 2, &o, &e), 0);
    o.seed = 6;
    assert_int_equal(mtl_create(&c3, 3, 2, &o, &e), 0);
    int differ = 0;
    for (int call = 0; call < 8; call++) {
        assert_int_equal(combine_rows(c1, 3, G, NULL, a, NULL, &e), 0);
        assert_int_equal(combine_rows(c2, 3, G, NULL, b, NULL, &e), 0);
        assert_memory_equal(a, b, sizeof a);
        assert_int_equal(combine_rows(c3, 3, G, NULL, b, NULL, &e), 0);
        differ += memcmp(a, b, sizeof a) != 0;
    }
    assert_true(differ > 0);
    mtl_destroy(c1), mtl_destroy(c2), mtl_destroy(c3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equals_direct_projection),
        cmocka_unit_test(test_two_task_closed_form),
        cmocka_unit_test(test_order_matters_and_seed_determines_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
