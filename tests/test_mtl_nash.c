/* Nash-MTL (spec/mtl-methods.md §7): the Nash equations alpha_k (A
 * alpha)_k = 1 on random Grams, ||d||^2 = K, the invariances, the golden
 * and closed-form cases, an independent solve by exact coordinate descent
 * written here, the no-solution fallback (previous alpha, never NaN),
 * update_every reuse, max-norm, per-task state with missing tasks, and the
 * checkpoint resuming bit for bit. */
#include "testutil.h"
#include "mtl_call.h"

#include "mtl/mtl.h"
#include "mtl_ref.h"

static mtl_combiner *make_o(const mtl_options *o, int K, long P)
{
    mtl_combiner *c = NULL;
    mtrl_err e;
    assert_int_equal(mtl_create(&c, K, P, o, &e), 0);
    return c;
}

static mtl_combiner *make(int K, long P)
{
    mtl_options o;
    mtl_options_default(&o, MTL_NASH_MTL);
    return make_o(&o, K, P);
}

static void combine(mtl_combiner *c, int k, const float *G, float *d, double *w,
                    mtl_stats *st)
{
    mtrl_err e;
    assert_int_equal(combine_rows(c, k, G, NULL, d, st, &e), 0);
    for (int k = 0; k < st->K; k++)
        w[k] = st->w[k];
}

/* Exact coordinate descent on f(a) = a^T A a / 2 - sum log a: each
 * coordinate's minimiser solves A_kk a^2 + b a - 1 = 0. */
static void ref_nash(int K, const double *A, double *a)
{
    for (int k = 0; k < K; k++)
        a[k] = 1 / sqrt(A[k * K + k]);
    for (int sweep = 0; sweep < 20000; sweep++) {
        double ch = 0;
        for (int k = 0; k < K; k++) {
            double b = 0;
            for (int j = 0; j < K; j++)
                if (j != k)
                    b += A[k * K + j] * a[j];
            double akk = A[k * K + k], x = (-b + sqrt(b * b + 4 * akk)) / (2 * akk);
            ch = fmax(ch, fabs(x - a[k]) / a[k]);
            a[k] = x;
        }
        if (ch < 1e-15)
            break;
    }
}

static void test_nash_equations(void **st_)
{
    (void)st_;
    enum { K = 6, P = 80 };
    rng_state r;
    rng_seed(&r, 51, 1);
    float G[K * P], d[P];
    double Gd[K * P], A[K * K], w[K], wr[K], dd[P];
    mtl_combiner *c = make(K, P);
    for (int trial = 0; trial < 20; trial++) {
        /* Conflicts of moderate strength: a Nash point exists. */
        ref_make_G(&r, K, P, -0.3, G);
        ref_gram(K, P, G, Gd, A);
        mtl_stats st;
        combine(c, K, G, d, w, &st);
        assert_int_equal(st.nonfinite, 0);
        assert_int_equal(st.fallback, 0);
        assert_true(st.iters <= 20);
        ref_combine(K, P, Gd, w, dd);
        /* alpha > 0, alpha_k <g_k, d> = 1 (float weights: 1e-5), ||d||^2 = K. */
        for (int k = 0; k < K; k++) {
            assert_true(w[k] > 0);
            assert_true(fabs(w[k] * ref_dot(P, Gd + k * P, dd) - 1) < 1e-5);
        }
        assert_true(fabs(ref_dot(P, dd, dd) - K) < 1e-4);
        ref_nash(K, A, wr);
        for (int k = 0; k < K; k++)
            assert_true(fabs(w[k] - wr[k]) < 1e-5 * wr[k]);
    }
    mtl_destroy(c);
}

static void test_invariances_and_closed_forms(void **st_)
{
    (void)st_;
    enum { K = 4, P = 40 };
    rng_state r;
    rng_seed(&r, 52, 1);
    float G[K * P], G2[K * P], d[P], d2[P];
    double w[K], w2[K];
    mtl_stats st;
    ref_make_G(&r, K, P, -0.3, G);
    /* Row k scaled by c_k: d unchanged, alpha_k divided by c_k. */
    const double cs[K] = {2.0, 0.5, 10.0, 1.0};
    for (int k = 0; k < K; k++)
        for (int p = 0; p < P; p++)
            G2[k * P + p] = (float)(G[k * P + p] * cs[k]);
    mtl_combiner *c1 = make(K, P), *c2 = make(K, P);
    combine(c1, K, G, d, w, &st);
    combine(c2, K, G2, d2, w2, &st);
    for (int k = 0; k < K; k++)
        assert_true(fabs(w2[k] * cs[k] - w[k]) < 1e-5 * w[k]);
    for (int p = 0; p < P; p++)
        assert_true(fabs(d[p] - d2[p]) < 1e-4);
    mtl_destroy(c1), mtl_destroy(c2);
    /* Golden K = 2: alpha = (0.615920, 1.306563) = 1/(n_k sqrt(1 + cos)). */
    float Gg[4] = {3, 0, -1, 1};
    c1 = make(2, 2);
    combine(c1, 2, Gg, d, w, &st);
    assert_true(fabs(w[0] - 0.615920) < 2e-6 && fabs(w[1] - 1.306563) < 2e-6);
    mtl_destroy(c1);
    /* Orthogonal rows: alpha_k = 1/n_k; identical rows: 1/(n sqrt K);
     * one task: 1/||g||. */
    float Go[3 * 6] = {0};
    const double n[3] = {0.1, 3.0, 1.0};
    for (int k = 0; k < 3; k++)
        Go[k * 6 + 2 * k + 1] = (float)n[k];
    c1 = make(3, 6);
    combine(c1, 3, Go, d, w, &st);
    for (int k = 0; k < 3; k++)
        assert_true(fabs(w[k] - 1 / n[k]) < 1e-5 / n[k]);
    mtl_destroy(c1);
    float Gi[3 * 2] = {3, 4, 3, 4, 3, 4};
    c1 = make(3, 2);
    combine(c1, 3, Gi, d, w, &st);
    for (int k = 0; k < 3; k++)
        assert_true(fabs(w[k] - 1 / (5 * sqrt(3.0))) < 1e-6);
    mtl_destroy(c1);
    c1 = make(1, 2);
    combine(c1, 1, Gi, d, w, &st);
    assert_true(fabs(w[0] - 0.2) < 1e-7);
    mtl_destroy(c1);
}

static void test_no_solution_fallback(void **st_)
{
    (void)st_;
    /* Opposite gradients: no Nash point. The first call keeps the initial
     * alpha = 1 (the reference's), later ones the last solution. */
    float Gopp[4] = {1, 0, -1, 0}, Gok[4] = {3, 0, -1, 1}, d[2];
    double w[2];
    mtl_stats st;
    mtl_combiner *c = make(2, 2);
    combine(c, 2, Gopp, d, w, &st);
    assert_int_equal(st.nonfinite, 0);
    assert_int_equal(st.fallback, 1);
    assert_true(w[0] == 1 && w[1] == 1);
    combine(c, 2, Gok, d, w, &st);
    assert_int_equal(st.fallback, 0);
    double w0 = w[0], w1 = w[1];
    combine(c, 2, Gopp, d, w, &st);
    assert_int_equal(st.fallback, 1);
    assert_true(w[0] == (float)w0 && w[1] == (float)w1);
    for (int p = 0; p < 2; p++)
        assert_true(isfinite(d[p]));
    /* A zero row can never meet its equation: fallback too. */
    float Gz[4] = {0, 0, 1, 2};
    combine(c, 2, Gz, d, w, &st);
    assert_int_equal(st.fallback, 1);
    mtl_destroy(c);
    /* Three rows with g1 + g2 + g3 = 0 and no pair opposite: still no Nash
     * point; a small change that breaks the cycle has one. */
    float G3[6] = {1, 0, -1, 1, 0, -1}, d3[2];
    double w3[3];
    c = make(3, 2);
    combine(c, 3, G3, d3, w3, &st);
    assert_int_equal(st.fallback, 1);
    G3[4] = 1, G3[5] = -0.5f; /* now d = (1, 1.5) helps all three: a Nash point exists */
    combine(c, 3, G3, d3, w3, &st);
    assert_int_equal(st.fallback, 0);
    for (int k = 0; k < 3; k++)
        assert_true(fabs(w3[k] * (G3[2 * k] * d3[0] + G3[2 * k + 1] * d3[1]) - 1) < 1e-4);
    mtl_destroy(c);
}

/* One Newton step per call (the paper's "single step" setting): the last
 * iterate is used and the next call continues from it, so on a fixed G the
 * Nash residual falls call by call, quadratically, to rounding. */
static void test_one_step_per_call(void **st_)
{
    (void)st_;
    enum { K = 8, P = 60 };
    rng_state r;
    rng_seed(&r, 55, 1);
    float G[K * P], d[P];
    double Gd[K * P], A[K * K], w[K], dd[P];
    ref_make_G(&r, K, P, -0.3, G);
    ref_gram(K, P, G, Gd, A);
    mtl_options o;
    mtl_options_default(&o, MTL_NASH_MTL);
    o.nash_iters = 1;
    mtl_combiner *c = make_o(&o, K, P);
    double prev = INFINITY, res = 0;
    for (int call = 0; call < 10; call++) {
        mtl_stats st;
        combine(c, K, G, d, w, &st);
        assert_int_equal(st.fallback, 0);
        assert_true(st.iters <= 1);
        ref_combine(K, P, Gd, w, dd);
        res = 0;
        for (int k = 0; k < K; k++)
            res = fmax(res, fabs(w[k] * ref_dot(P, Gd + k * P, dd) - 1));
        assert_true(res <= prev || res < 1e-5);
        prev = res;
    }
    assert_true(res < 1e-5);
    mtl_destroy(c);
}

static void test_update_every_and_max_norm(void **st_)
{
    (void)st_;
    enum { K = 3, P = 20 };
    rng_state r;
    rng_seed(&r, 53, 1);
    float G[4][K * P], d[P];
    double w[K], w0[K], Gd[K * P], A[K * K], dd[P];
    for (int i = 0; i < 4; i++)
        ref_make_G(&r, K, P, -0.2, G[i]);
    mtl_options o;
    mtl_options_default(&o, MTL_NASH_MTL);
    o.nash_update_every = 3;
    o.nash_max_norm = 1.0;
    mtl_combiner *c = make_o(&o, K, P);
    mtl_stats st;
    /* Call 0 solves on G0 (||d|| = sqrt 3 clipped to 1); calls 1, 2 reuse
     * that alpha on new G (no Gram); call 3 solves again. */
    combine(c, K, G[0], d, w0, &st);
    assert_int_equal(st.gram, 1);
    assert_true(fabs(st.d_norm - 1.0) < 1e-6);
    double n0 = 0;
    for (int p = 0; p < P; p++)
        n0 += (double)d[p] * d[p];
    assert_true(fabs(sqrt(n0) - 1.0) < 1e-5);
    double alpha0[K];
    ref_gram(K, P, G[0], Gd, A);
    ref_nash(K, A, alpha0);
    for (int k = 0; k < K; k++) /* clipped by 1/sqrt(3) */
        assert_true(fabs(w0[k] - alpha0[k] / sqrt(3.0)) < 1e-5 * alpha0[k]);
    for (int call = 1; call <= 2; call++) {
        combine(c, K, G[call], d, w, &st);
        assert_int_equal(st.gram, 0);
        ref_gram(K, P, G[call], Gd, A);
        ref_combine(K, P, Gd, alpha0, dd);
        double nn = sqrt(ref_dot(P, dd, dd)), f = nn > 1 ? 1 / nn : 1;
        for (int p = 0; p < P; p++)
            assert_true(fabs(d[p] - f * dd[p]) < 1e-5);
        for (int k = 0; k < K; k++)
            assert_true(fabs(w[k] - f * alpha0[k]) < 1e-5 * alpha0[k]);
    }
    combine(c, K, G[3], d, w, &st);
    assert_int_equal(st.gram, 1);
    mtl_destroy(c);
}

static void test_tasks_and_checkpoint(void **st_)
{
    (void)st_;
    enum { K = 5, P = 30 };
    rng_state r;
    rng_seed(&r, 54, 1);
    float G[K * P], d1[P], d2[P];
    ref_make_G(&r, K, P, -0.2, G);
    mtl_options o;
    mtl_options_default(&o, MTL_NASH_MTL);
    o.nash_update_every = 2;
    mtl_combiner *c = make_o(&o, K, P);
    mtrl_err e;
    mtl_stats st;
    assert_int_equal(mtl_state_len(c), K + 2);
    /* Tasks 4, 1, 3 present (rows packed): their alpha are stored under
     * those tasks; the next call (a reuse) gives them back by task. */
    int tasks[3] = {4, 1, 3};
    mtl_input in = {.k = 3, .G = G, .tasks = tasks};
    assert_int_equal(mtl_combine_in(c, &in, d1, &st, &e), 0);
    float w3[3] = {st.w[0], st.w[1], st.w[2]};
    float s[K + 2];
    mtl_state_get(c, s);
    assert_true(s[4] == w3[0] && s[1] == w3[1] && s[3] == w3[2]);
    assert_true(s[0] == 1 && s[2] == 1); /* untouched: the initial alpha */
    int tasks2[2] = {3, 4};
    in = (mtl_input){.k = 2, .G = G, .tasks = tasks2};
    assert_int_equal(mtl_combine_in(c, &in, d1, &st, &e), 0);
    assert_int_equal(st.gram, 0);
    assert_true(st.w[0] == w3[2] && st.w[1] == w3[0]);
    /* Checkpoint after some calls; a fresh combiner restored from it gives
     * the same results call for call. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(combine_rows(c, K, G, NULL, d1, NULL, &e), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/nash.h5", test_tmpdir());
    h5_file *f;
    assert_int_equal(h5_create(&f, path, &e), 0);
    assert_int_equal(mtl_save(c, f, "nash", &e), 0);
    assert_int_equal(h5_commit(f, &e), 0);
    mtl_combiner *c2 = make_o(&o, K, P);
    assert_int_equal(h5_open(&f, path, &e), 0);
    assert_int_equal(mtl_load(c2, f, "nash", &e), 0);
    h5_close(f);
    for (int i = 0; i < 4; i++) {
        ref_make_G(&r, K, P, -0.2, G);
        assert_int_equal(combine_rows(c, K, G, NULL, d1, NULL, &e), 0);
        assert_int_equal(combine_rows(c2, K, G, NULL, d2, NULL, &e), 0);
        assert_memory_equal(d1, d2, sizeof d1);
    }
    mtl_destroy(c);
    mtl_destroy(c2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nash_equations),
        cmocka_unit_test(test_invariances_and_closed_forms),
        cmocka_unit_test(test_no_solution_fallback),
        cmocka_unit_test(test_one_step_per_call),
        cmocka_unit_test(test_update_every_and_max_norm),
        cmocka_unit_test(test_tasks_and_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
