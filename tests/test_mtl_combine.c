/* The combiner interface: mean and sum against sums written here, the
 * stats (weights, norms, cosines) against direct computations, non-finite
 * input flagged for every method, bad options refused by name, fewer tasks
 * than the maximum, task lists and what each method needs, determinism for
 * a seed, and checkpoint state through HDF5 that resumes the random draws
 * exactly. */
#include "testutil.h"
#include "mtl_call.h"

#include "mtl/mtl.h"
#include "mtl_ref.h"

static mtl_combiner *make(mtl_method m, int K, long P, uint64_t seed)
{
    mtl_options o;
    mtl_options_default(&o, m);
    o.seed = seed;
    mtl_combiner *c = NULL;
    mtrl_err e;
    assert_int_equal(mtl_create(&c, K, P, &o, &e), 0);
    return c;
}

/* Methods whose weights come from the K x K Gram of G (and so report the
 * Gram's stats); the others draw them (RLW), take them from the losses
 * (FAMO) or work elementwise (GradDrop). */
static int from_gram(int m)
{
    return m >= MTL_PCGRAD && m != MTL_RLW && m != MTL_FAMO && m != MTL_GRADDROP;
}

/* Positive losses for the methods that need them, NULL for the others. */
static const float *losses_for(int m)
{
    static const float L[64] = {1.0f, 0.5f, 2.0f, 0.25f, 1.5f, 3.0f, 0.75f, 1.25f, 2.5f, 0.1f,
                                1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f};
    return m == MTL_FAMO ? L : NULL;
}

static void test_mean_and_sum(void **st_)
{
    (void)st_;
    /* Large enough for OpenBLAS to split the work over threads. */
    enum { K = 10 };
    const long P = 200000;
    rng_state r;
    rng_seed(&r, 1, 1);
    float *G = malloc(sizeof(float) * K * P), *d = malloc(sizeof(float) * P);
    double *ref = malloc(sizeof(double) * P);
    ref_make_G(&r, K, P, -0.5, G);
    for (int m = MTL_MEAN; m <= MTL_SUM; m++) {
        mtl_combiner *c = make((mtl_method)m, K, P, 0);
        mtl_stats st;
        mtrl_err e;
        assert_int_equal(combine_rows(c, K, G, NULL, d, &st, &e), 0);
        assert_int_equal(st.nonfinite, 0);
        assert_int_equal(st.gram, 0);
        double n2 = 0;
        for (long p = 0; p < P; p++) {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += G[(long)k * P + p];
            ref[p] = m == MTL_MEAN ? s / K : s;
            n2 += ref[p] * ref[p];
        }
        assert_true(ref_rel_err_fd(P, d, ref, 0) < 1e-5);
        for (int k = 0; k < K; k++)
            assert_float_equal(st.w[k], m == MTL_MEAN ? 0.1 : 1.0, 0);
        assert_true(fabs(st.d_norm - sqrt(n2)) < 1e-4 * sqrt(n2));
        assert_true(fabs(st.g0_norm - sqrt(n2) / (m == MTL_MEAN ? 1 : K)) < 1e-4 * sqrt(n2));
        mtl_destroy(c);
    }
    free(G), free(d), free(ref);
}

static void test_stats_match_direct(void **st_)
{
    (void)st_;
    enum { K = 7 };
    const long P = 3000;
    rng_state r;
    rng_seed(&r, 2, 1);
    float *G = malloc(sizeof(float) * K * P), *d = malloc(sizeof(float) * P);
    double *Gd = malloc(sizeof(double) * K * P), A[K * K], *dw = malloc(sizeof(double) * P);
    ref_make_G(&r, K, P, -1.0, G);
    ref_gram(K, P, G, Gd, A);
    double mc = 1, g0 = 0;
    int nc = 0;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            g0 += A[i * K + j];
            if (j > i) {
                mc = fmin(mc, A[i * K + j] / sqrt(A[i * K + i] * A[j * K + j]));
                nc += A[i * K + j] < 0;
            }
        }
    g0 = sqrt(g0) / K;
    assert_true(nc > 0);
    for (int m = MTL_PCGRAD; m < MTL_METHOD_COUNT; m++) {
        if (!from_gram(m))
            continue;
        mtl_combiner *c = make((mtl_method)m, K, P, 3);
        mtl_stats st;
        mtrl_err e;
        assert_int_equal(combine_rows(c, K, G, NULL, d, &st, &e), 0);
        assert_int_equal(st.nonfinite, 0);
        assert_int_equal(st.K, K);
        assert_int_equal(st.gram, 1);
        assert_int_equal(st.n_conflicts, nc);
        assert_true(fabs(st.min_cos - mc) < 1e-5);
        assert_true(fabs(st.g0_norm - g0) < 1e-5 * g0);
        double w[K];
        for (int k = 0; k < K; k++)
            w[k] = st.w[k];
        ref_combine(K, P, Gd, w, dw);
        assert_true(ref_rel_err_fd(P, d, dw, 0) < 1e-5); /* d = G^T w */
        double n = sqrt(ref_dot(P, dw, dw));
        assert_true(fabs(st.d_norm - n) < 1e-4 * n);
        assert_true(st.t_gram >= 0 && st.t_solve >= 0 && st.t_combine >= 0);
        mtl_destroy(c);
    }
    free(G), free(d), free(Gd), free(dw);
}

static void test_nonfinite_flagged(void **st_)
{
    (void)st_;
    enum { K = 5 };
    const long P = 64;
    rng_state r;
    rng_seed(&r, 3, 1);
    float G[K * 64], d[64];
    float bad[3] = {NAN, INFINITY, -INFINITY};
    for (int m = 0; m < MTL_METHOD_COUNT; m++)
        for (int route = 0; route < 2; route++) {
            mtl_options o;
            mtl_options_default(&o, (mtl_method)m);
            o.fast_subset = 2;
            o.fast_gram = route ? MTL_FAST_GRAM_SUBSET : MTL_FAST_GRAM_FULL;
            mtl_combiner *c;
            mtrl_err e;
            assert_int_equal(mtl_create(&c, K, P, &o, &e), 0);
            mtl_stats st;
            for (int b = 0; b < 3; b++)
                for (int row = 0; row < K; row++) {
                    ref_make_G(&r, K, P, -0.5, G);
                    G[row * P + 17] = bad[b];
                    assert_int_equal(combine_rows(c, K, G, losses_for(m), d, &st, &e), 0);
                    assert_int_equal(st.nonfinite, 1);
                }
            /* A value so large the Gram overflows float is flagged too. */
            ref_make_G(&r, K, P, -0.5, G);
            G[3] = 3e25f;
            assert_int_equal(combine_rows(c, K, G, losses_for(m), d, &st, &e), 0);
            if (m != MTL_MEAN && m != MTL_SUM && from_gram(m)) /* the others form no Gram: */
                assert_int_equal(st.nonfinite, 1);               /* their d is finite */
            /* Finite input, NaN loss value: flagged; finite both: not. */
            ref_make_G(&r, K, P, -0.5, G);
            float losses[K] = {1, 2, 3, 4, 5};
            assert_int_equal(combine_rows(c, K, G, losses, d, &st, &e), 0);
            assert_int_equal(st.nonfinite, 0);
            for (long p = 0; p < P; p++)
                assert_true(isfinite(d[p]));
            losses[2] = NAN;
            assert_int_equal(combine_rows(c, K, G, losses, d, &st, &e), 0);
            assert_int_equal(st.nonfinite, 1);
            mtl_destroy(c);
        }
}

static void test_bad_options_and_names(void **st_)
{
    (void)st_;
    mtl_options o;
    mtl_combiner *c = (mtl_combiner *)&o; /* must be reset to NULL on failure */
    mtrl_err e;
    mtl_options_default(&o, MTL_CAGRAD);
    assert_int_equal(mtl_create(&c, 0, 10, &o, &e), MTRL_EINPUT);
    assert_null(c);
    assert_non_null(strstr(e.msg, "tasks"));
    assert_int_equal(mtl_create(&c, 3, 0, &o, &e), MTRL_EINPUT);
    o.c = -0.1;
    assert_int_equal(mtl_create(&c, 3, 10, &o, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "c must be"));
    mtl_options_default(&o, MTL_CAGRAD);
    o.momentum = 1.0;
    assert_int_equal(mtl_create(&c, 3, 10, &o, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "momentum"));
    mtl_options_default(&o, MTL_CAGRAD_FAST);
    o.fast_subset = 0;
    assert_int_equal(mtl_create(&c, 3, 10, &o, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "subset"));
    /* The new methods' options, each refused by name. */
    struct {
        mtl_method m;
        const char *what;
    } bad[] = {{MTL_GRADDROP, "graddrop_k"}, {MTL_NASH_MTL, "nash_update_every"},
               {MTL_NASH_MTL, "nash_iters"}, {MTL_NASH_MTL, "nash_max_norm"},
               {MTL_FAMO, "famo_lr"},        {MTL_FAMO, "famo_gamma"},
               {MTL_UPGRAD, "upgrad_norm_eps"}, {MTL_DUALPROJ, "upgrad_reg_eps"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mtl_options_default(&o, bad[i].m);
        switch (i) {
        case 0: o.graddrop_k = -1; break;
        case 1: o.nash_update_every = 0; break;
        case 2: o.nash_iters = 0; break;
        case 3: o.nash_max_norm = NAN; break;
        case 4: o.famo_lr = 0; break;
        case 5: o.famo_gamma = -1; break;
        case 6: o.upgrad_norm_eps = -1; break;
        default: o.upgrad_reg_eps = INFINITY; break;
        }
        assert_int_equal(mtl_create(&c, 3, 10, &o, &e), MTRL_EINPUT);
        assert_non_null(strstr(e.msg, bad[i].what));
    }
    mtl_options_default(&o, MTL_PCGRAD);
    assert_int_equal(mtl_create(&c, 3, 10, &o, &e), 0);
    float G[30] = {0}, d[10];
    assert_int_equal(combine_rows(c, 4, G, NULL, d, NULL, &e), MTRL_EINPUT);
    assert_int_equal(combine_rows(c, 0, G, NULL, d, NULL, &e), MTRL_EINPUT);
    assert_int_equal(combine_rows(c, 3, NULL, NULL, d, NULL, &e), MTRL_EINPUT);
    mtl_destroy(c);
    mtl_destroy(NULL);

    /* The method words and their round trip through the config: test_mtl_options. */
    assert_string_equal(mtl_method_name(MTL_CAGRAD_FAST), "cagrad_fast");
    assert_string_equal(mtl_method_name(MTL_METHOD_COUNT), "?");
}

static void test_task_lists_and_needs(void **st_)
{
    (void)st_;
    enum { K = 4, P = 20 };
    rng_state r;
    rng_seed(&r, 9, 1);
    float G[K * P], d[P], d2[P];
    ref_make_G(&r, K, P, -0.5, G);
    mtl_combiner *c = make(MTL_CAGRAD, K, P, 0), *c2 = make(MTL_CAGRAD, K, P, 0);
    mtrl_err e;
    int dup[3] = {0, 2, 0}, out[2] = {1, 4}, ok[3] = {3, 0, 1};
    mtl_input in = {.k = 3, .G = G, .tasks = dup};
    assert_int_equal(mtl_combine_in(c, &in, d, NULL, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "distinct"));
    in = (mtl_input){.k = 2, .G = G, .tasks = out};
    assert_int_equal(mtl_combine_in(c, &in, d, NULL, &e), MTRL_EINPUT);
    in = (mtl_input){.k = 3, .G = G, .tasks = ok};
    assert_int_equal(mtl_combine_in(c, NULL, d, NULL, &e), MTRL_EINPUT);
    assert_int_equal(mtl_combine_in(c, &in, NULL, NULL, &e), MTRL_EINPUT);
    /* A stateless method ignores the task list. */
    assert_int_equal(mtl_combine_in(c, &in, d, NULL, &e), 0);
    assert_int_equal(combine_rows(c2, 3, G, NULL, d2, NULL, &e), 0);
    assert_memory_equal(d, d2, sizeof d);
    mtl_destroy(c), mtl_destroy(c2);
    for (int m = 0; m < MTL_METHOD_COUNT; m++) {
        c = make((mtl_method)m, K, P, 0);
        unsigned want = m == MTL_FAMO             ? MTL_NEEDS_LOSSES | MTL_NEEDS_AFTER_STEP
                        : m == MTL_ALIGNED_MTL_UB ? MTL_NEEDS_REP_GRAM
                                                  : 0;
        assert_int_equal(mtl_needs(c), want);
        long len = m == MTL_NASH_MTL ? K + 2 : m == MTL_FAMO ? 5 * K + 2 : 0;
        assert_int_equal(mtl_state_len(c), len);
        mtl_destroy(c);
    }
}

static void test_fewer_tasks_than_max(void **st_)
{
    (void)st_;
    /* combine_k on the first k rows equals a combiner made for k tasks. */
    const long P = 500;
    rng_state r;
    rng_seed(&r, 4, 1);
    float *G = malloc(sizeof(float) * 10 * P), *a = malloc(sizeof(float) * P),
          *b = malloc(sizeof(float) * P);
    ref_make_G(&r, 10, P, -0.5, G);
    for (int m = 0; m < MTL_METHOD_COUNT; m++) {
        mtl_combiner *big = make((mtl_method)m, 10, P, 8), *small = make((mtl_method)m, 7, P, 8);
        mtrl_err e;
        mtl_stats st;
        for (int call = 0; call < 2; call++) {
            assert_int_equal(combine_rows(big, 7, G, losses_for(m), a, &st, &e), 0);
            assert_int_equal(st.K, 7);
            assert_int_equal(combine_rows(small, 7, G, losses_for(m), b, NULL, &e), 0);
            assert_memory_equal(a, b, sizeof(float) * P);
        }
        mtl_destroy(big);
        mtl_destroy(small);
    }
    free(G), free(a), free(b);
}

static void test_seed_determinism(void **st_)
{
    (void)st_;
    const long P = 300;
    rng_state r;
    rng_seed(&r, 5, 1);
    float *G = malloc(sizeof(float) * 10 * P), *a = malloc(sizeof(float) * P),
          *b = malloc(sizeof(float) * P);
    ref_make_G(&r, 10, P, -0.8, G);
    mtl_method ms[4] = {MTL_PCGRAD, MTL_CAGRAD_FAST, MTL_RLW, MTL_GRADDROP};
    for (int t = 0; t < 4; t++) {
        mtl_combiner *c1 = make(ms[t], 10, P, 42), *c2 = make(ms[t], 10, P, 42),
                     *c3 = make(ms[t], 10, P, 43);
        mtrl_err e;
        int differ = 0;
        for (int call = 0; call < 5; call++) {
            assert_int_equal(combine_rows(c1, 10, G, NULL, a, NULL, &e), 0);
            assert_int_equal(combine_rows(c2, 10, G, NULL, b, NULL, &e), 0);
            assert_memory_equal(a, b, sizeof(float) * P);
            assert_int_equal(combine_rows(c3, 10, G, NULL, b, NULL, &e), 0);
            differ += memcmp(a, b, sizeof(float) * P) != 0;
        }
        assert_true(differ >= 4); /* another seed draws other orders / subsets */
        mtl_destroy(c1), mtl_destroy(c2), mtl_destroy(c3);
    }
    free(G), free(a), free(b);
}

static void test_checkpoint_resumes_draws(void **st_)
{
    (void)st_;
    const long P = 200;
    rng_state r;
    rng_seed(&r, 6, 1);
    float *G = malloc(sizeof(float) * 10 * P), *a = malloc(sizeof(float) * P),
          *b = malloc(sizeof(float) * P);
    ref_make_G(&r, 10, P, -0.8, G);
    char path[512];
    snprintf(path, sizeof path, "%s/mtl.h5", test_tmpdir());
    mtrl_err e;
    mtl_combiner *c1 = make(MTL_CAGRAD_FAST, 10, P, 7);
    for (int i = 0; i < 3; i++)
        assert_int_equal(combine_rows(c1, 10, G, NULL, a, NULL, &e), 0);
    h5_file *f;
    assert_int_equal(h5_create(&f, path, &e), 0);
    assert_int_equal(mtl_save(c1, f, "mtl/critic", &e), 0);
    assert_int_equal(h5_commit(f, &e), 0);
    /* A fresh combiner with another seed, restored, continues the sequence. */
    mtl_combiner *c2 = make(MTL_CAGRAD_FAST, 10, P, 999);
    assert_int_equal(h5_open(&f, path, &e), 0);
    assert_int_equal(mtl_load(c2, f, "mtl/critic", &e), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(combine_rows(c1, 10, G, NULL, a, NULL, &e), 0);
        assert_int_equal(combine_rows(c2, 10, G, NULL, b, NULL, &e), 0);
        assert_memory_equal(a, b, sizeof(float) * P);
    }
    /* Another method or shape is refused, naming both. */
    mtl_combiner *c3 = make(MTL_PCGRAD, 10, P, 7), *c4 = make(MTL_CAGRAD_FAST, 9, P, 7);
    assert_int_equal(mtl_load(c3, f, "mtl/critic", &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "cagrad_fast"));
    assert_non_null(strstr(e.msg, "pcgrad"));
    assert_int_equal(mtl_load(c4, f, "mtl/critic", &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "10 tasks"));
    assert_int_not_equal(mtl_load(c2, f, "mtl/actor", &e), 0);
    h5_close(f);
    assert_int_equal(mtl_state_len(c1), 0);
    assert_int_equal(mtl_needs(c1), 0);
    assert_int_equal(mtl_after_step(c1, NULL, &e), 0);
    mtl_destroy(c1), mtl_destroy(c2), mtl_destroy(c3), mtl_destroy(c4);
    free(G), free(a), free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mean_and_sum),
        cmocka_unit_test(test_stats_match_direct),
        cmocka_unit_test(test_nonfinite_flagged),
        cmocka_unit_test(test_bad_options_and_names),
        cmocka_unit_test(test_fewer_tasks_than_max),
        cmocka_unit_test(test_task_lists_and_needs),
        cmocka_unit_test(test_seed_determinism),
        cmocka_unit_test(test_checkpoint_resumes_draws),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
