/* FAMO (spec/mtl-methods.md §8): the weights in both scales (K = 1 tells
 * them apart), the logit update's direction and its gradient against a
 * finite-difference derivative, a run of combine/after_step pairs against
 * an Adam on the logits written independently here, missing tasks, bad and
 * non-finite losses, and the checkpoint (pending step included) resuming
 * bit for bit. */
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

static void identity(int K, float *G)
{
    for (int i = 0; i < K * K; i++)
        G[i] = 0;
    for (int k = 0; k < K; k++)
        G[k * K + k] = 1; /* d = w */
}

static void test_weights(void **st_)
{
    (void)st_;
    enum { K = 4 };
    float G[K * K], d[K], L[K] = {0.5f, 2.0f, 1.0f, 8.0f};
    identity(K, G);
    mtl_options o;
    mtl_options_default(&o, MTL_FAMO);
    mtl_combiner *c = make_o(&o, K, K);
    mtl_stats st;
    mtrl_err e;
    assert_int_equal(mtl_needs(c), MTL_NEEDS_LOSSES | MTL_NEEDS_AFTER_STEP);
    assert_int_equal(combine_rows(c, K, G, L, d, &st, &e), 0);
    assert_int_equal(st.gram, 0);
    /* xi = 0: z = 1/K, w_k proportional to 1/L_k, summing to 1. */
    double inv = 0;
    for (int k = 0; k < K; k++)
        inv += 1.0 / (L[k] + 1e-8);
    for (int k = 0; k < K; k++)
        assert_true(fabs(d[k] - 1.0 / (L[k] + 1e-8) / inv) < 1e-7);
    mtl_destroy(c);
    /* mtrl scale: c = sum z/L, weights sum to c^2. */
    o.famo_scale = MTL_FAMO_MTRL;
    c = make_o(&o, K, K);
    assert_int_equal(combine_rows(c, K, G, L, d, &st, &e), 0);
    double cc = inv / K, s = 0;
    for (int k = 0; k < K; k++)
        s += d[k];
    assert_true(fabs(s - cc * cc) < 1e-6 * cc * cc);
    mtl_destroy(c);
    /* K = 1: paper d = g, mtrl d = g / (L + 1e-8)^2. */
    float g1[3] = {1, -2, 3}, d1[3], L1 = 0.25f;
    o.famo_scale = MTL_FAMO_PAPER;
    c = make_o(&o, 1, 3);
    assert_int_equal(combine_rows(c, 1, g1, &L1, d1, &st, &e), 0);
    for (int p = 0; p < 3; p++)
        assert_true(fabs(d1[p] - g1[p]) < 1e-6);
    mtl_destroy(c);
    o.famo_scale = MTL_FAMO_MTRL;
    c = make_o(&o, 1, 3);
    assert_int_equal(combine_rows(c, 1, g1, &L1, d1, &st, &e), 0);
    for (int p = 0; p < 3; p++)
        assert_true(fabs(d1[p] - g1[p] * 16) < 1e-4);
    mtl_destroy(c);
}

/* Logits are the first K state entries. */
static void logits(mtl_combiner *c, int K, float *xi)
{
    float s[5 * 16 + 2];
    mtl_state_get(c, s);
    memcpy(xi, s, sizeof(float) * K);
}

static void test_logit_direction_and_gradient(void **st_)
{
    (void)st_;
    float G[4], d[2];
    identity(2, G);
    mtl_options o;
    mtl_options_default(&o, MTL_FAMO);
    mtrl_err e;
    /* delta = (0.1, 0.5): task 0 improved less, so z_0 grows. */
    mtl_combiner *c = make_o(&o, 2, 2);
    float L[2] = {1, 1}, La[2] = {(float)exp(-0.1), (float)exp(-0.5)}, xi[2];
    assert_int_equal(combine_rows(c, 2, G, L, d, NULL, &e), 0);
    assert_int_equal(mtl_after_step(c, La, &e), 0);
    logits(c, 2, xi);
    assert_true(xi[0] > xi[1]);
    mtl_destroy(c);
    /* Equal deltas and no weight decay: the logits do not move. */
    o.famo_gamma = 0;
    c = make_o(&o, 2, 2);
    float Le[2] = {0.5f, 0.5f};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(combine_rows(c, 2, G, L, d, NULL, &e), 0);
        assert_int_equal(mtl_after_step(c, Le, &e), 0);
    }
    logits(c, 2, xi);
    assert_true(xi[0] == 0 && xi[1] == 0);
    mtl_destroy(c);
    /* The gradient: Adam's first moment after one step is (1 - 0.9) g, with
     * g the derivative of z^T delta w.r.t. xi (at xi = 0, gamma = 0),
     * compared with central finite differences computed here. */
    enum { K = 5 };
    float GK[K * K], dK[K], L5[K] = {1, 2, 0.5f, 3, 1.5f}, La5[K] = {0.9f, 1.0f, 0.45f, 2.0f, 1.4f};
    identity(K, GK);
    c = make_o(&o, K, K);
    assert_int_equal(combine_rows(c, K, GK, L5, dK, NULL, &e), 0);
    assert_int_equal(mtl_after_step(c, La5, &e), 0);
    float s[5 * K + 2];
    mtl_state_get(c, s);
    double delta[K];
    for (int k = 0; k < K; k++)
        delta[k] = log(L5[k] + 1e-8) - log(La5[k] + 1e-8);
    for (int k = 0; k < K; k++) {
        double f[2];
        for (int sg = 0; sg < 2; sg++) {
            double x[K], sum = 0, zd = 0;
            for (int j = 0; j < K; j++)
                x[j] = j == k ? (sg ? 1e-5 : -1e-5) : 0;
            for (int j = 0; j < K; j++)
                sum += exp(x[j]);
            for (int j = 0; j < K; j++)
                zd += exp(x[j]) / sum * delta[j];
            f[sg] = zd;
        }
        double fd = (f[1] - f[0]) / 2e-5;
        assert_true(fabs(s[K + k] / 0.1 - fd) < 1e-6);
    }
    mtl_destroy(c);
}

/* The combiner's whole loop against Adam written here (double, state
 * rounded to float as the combiner keeps it). */
static void test_run_against_reference(void **st_)
{
    (void)st_;
    enum { K = 3, STEPS = 50 };
    rng_state r;
    rng_seed(&r, 61, 1);
    float G[K * K], d[K];
    identity(K, G);
    mtl_options o;
    mtl_options_default(&o, MTL_FAMO);
    mtl_combiner *c = make_o(&o, K, K);
    float xi[K] = {0}, m[K] = {0}, v[K] = {0};
    mtrl_err e;
    for (int t = 1; t <= STEPS; t++) {
        float L[K], La[K];
        for (int k = 0; k < K; k++) {
            L[k] = (float)rng_range(&r, 0.5, 2);
            La[k] = L[k] * (float)rng_range(&r, 0.7, 1.0);
        }
        mtl_stats st;
        assert_int_equal(combine_rows(c, K, G, L, d, &st, &e), 0);
        double z[K], zs = 0, q = 0;
        for (int k = 0; k < K; k++)
            zs += (z[k] = exp(xi[k]));
        for (int k = 0; k < K; k++)
            z[k] /= zs, q += z[k] / (L[k] + 1e-8);
        for (int k = 0; k < K; k++)
            assert_true(fabs(d[k] - z[k] / (L[k] + 1e-8) / q) < 1e-6);
        assert_int_equal(mtl_after_step(c, La, &e), 0);
        double dl[K], zd = 0;
        for (int k = 0; k < K; k++)
            dl[k] = log(L[k] + 1e-8) - log(La[k] + 1e-8), zd += z[k] * dl[k];
        for (int k = 0; k < K; k++) {
            double g = z[k] * (dl[k] - zd) + 0.01 * xi[k];
            m[k] = (float)(0.9 * m[k] + 0.1 * g);
            v[k] = (float)(0.999 * v[k] + 0.001 * g * g);
            double mh = m[k] / (1 - pow(0.9, t)), vh = v[k] / (1 - pow(0.999, t));
            xi[k] = (float)(xi[k] - 0.025 * mh / (sqrt(vh) + 1e-8));
        }
        float got[K];
        logits(c, K, got);
        for (int k = 0; k < K; k++)
            assert_true(fabs(got[k] - xi[k]) < 1e-5);
    }
    float xs[K];
    logits(c, K, xs);
    assert_true(fabs(xs[0]) + fabs(xs[1]) + fabs(xs[2]) > 0.05); /* it did move */
    mtl_destroy(c);
}

static void test_tasks_errors_checkpoint(void **st_)
{
    (void)st_;
    enum { K = 4, P = 16 };
    rng_state r;
    rng_seed(&r, 62, 1);
    float G[K * P], d[P], d2[P];
    ref_make_G(&r, K, P, -0.5, G);
    mtl_options o;
    mtl_options_default(&o, MTL_FAMO);
    mtl_combiner *c = make_o(&o, K, P);
    mtrl_err e;
    mtl_stats st;
    float L[K] = {1, 2, 3, 4}, La[K] = {0.5f, 2, 2.9f, 1};
    /* Losses are required; negative ones refused by name. */
    assert_int_equal(combine_rows(c, K, G, NULL, d, &st, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "famo"));
    float Lneg[K] = {1, -2, 3, 4};
    assert_int_equal(combine_rows(c, K, G, Lneg, d, &st, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "log losses"));
    /* A NaN loss: flagged, and nothing pending (after_step does nothing). */
    float Lnan[K] = {1, NAN, 3, 4};
    float s0[5 * K + 2], s1[5 * K + 2];
    mtl_state_get(c, s0);
    assert_int_equal(combine_rows(c, K, G, Lnan, d, &st, &e), 0);
    assert_int_equal(st.nonfinite, 1);
    assert_int_equal(mtl_after_step(c, La, &e), 0);
    mtl_state_get(c, s1);
    assert_memory_equal(s0, s1, sizeof s0);
    /* Tasks 2 and 0 present: only their logits get a gradient. */
    o.famo_gamma = 0;
    mtl_combiner *cm = make_o(&o, K, P);
    int tasks[2] = {2, 0};
    float L2[2] = {1, 1}, La2[2] = {0.9f, 0.5f};
    mtl_input in = {.k = 2, .G = G, .losses = L2, .tasks = tasks};
    assert_int_equal(mtl_combine_in(cm, &in, d, &st, &e), 0);
    assert_int_equal(mtl_after_step(cm, La2, &e), 0);
    mtl_state_get(cm, s1);
    assert_true(s1[1] == 0 && s1[3] == 0);
    assert_true(s1[2] > 0 && s1[0] < 0); /* task 2 improved less */
    mtl_destroy(cm);
    /* Non-finite losses after the step leave the logits alone. */
    assert_int_equal(combine_rows(c, K, G, L, d, &st, &e), 0);
    mtl_state_get(c, s0);
    assert_int_equal(mtl_after_step(c, Lnan, &e), 0);
    mtl_state_get(c, s1);
    assert_memory_equal(s0, s1, sizeof(float) * 3 * K);
    /* Checkpoint between combine and after_step: the restored combiner
     * finishes the pending step and continues identically. */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(combine_rows(c, K, G, L, d, &st, &e), 0);
        assert_int_equal(mtl_after_step(c, La, &e), 0);
    }
    assert_int_equal(combine_rows(c, K, G, L, d, &st, &e), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/famo.h5", test_tmpdir());
    h5_file *f;
    assert_int_equal(h5_create(&f, path, &e), 0);
    assert_int_equal(mtl_save(c, f, "famo", &e), 0);
    assert_int_equal(h5_commit(f, &e), 0);
    mtl_options_default(&o, MTL_FAMO);
    mtl_combiner *c2 = make_o(&o, K, P);
    assert_int_equal(h5_open(&f, path, &e), 0);
    assert_int_equal(mtl_load(c2, f, "famo", &e), 0);
    h5_close(f);
    assert_int_equal(mtl_after_step(c, La, &e), 0);
    assert_int_equal(mtl_after_step(c2, La, &e), 0);
    for (int i = 0; i < 5; i++) {
        for (int k = 0; k < K; k++)
            L[k] = (float)rng_range(&r, 0.5, 2), La[k] = L[k] * (float)rng_range(&r, 0.6, 1);
        assert_int_equal(combine_rows(c, K, G, L, d, &st, &e), 0);
        assert_int_equal(combine_rows(c2, K, G, L, d2, &st, &e), 0);
        assert_memory_equal(d, d2, sizeof d);
        assert_int_equal(mtl_after_step(c, La, &e), 0);
        assert_int_equal(mtl_after_step(c2, La, &e), 0);
    }
    mtl_state_get(c, s0);
    mtl_state_get(c2, s1);
    assert_memory_equal(s0, s1, sizeof s0);
    mtl_destroy(c);
    mtl_destroy(c2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weights),
        cmocka_unit_test(test_logit_direction_and_gradient),
        cmocka_unit_test(test_run_against_reference),
        cmocka_unit_test(test_tasks_errors_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
