#include "testutil.h"

#include <math.h>

#include "nets/nets.h"
#include "nets_ref.h"

/* f(w) = 1/2 sum h_i (w_i - c_i)^2 */
static const double qh[3] = {1.0, 4.0, 0.25}, qc[3] = {0.5, -1.0, 2.0};

static void quad_grad(const float *w, float *g)
{
    for (int i = 0; i < 3; i++)
        g[i] = (float)(qh[i] * (w[i] - qc[i]));
}

/* Adam written out from the paper / PyTorch docs in double. */
typedef struct ref_adam {
    double w[3], m[3], v[3];
    int t;
} ref_adam;

static void ref_adam_step(ref_adam *s, const double *g_in, double lr, double b1, double b2,
                          double eps, double wd, int decoupled)
{
    s->t++;
    for (int i = 0; i < 3; i++) {
        double g = g_in[i];
        if (decoupled)
            s->w[i] *= 1 - lr * wd;
        else
            g += wd * s->w[i];
        s->m[i] = b1 * s->m[i] + (1 - b1) * g;
        s->v[i] = b2 * s->v[i] + (1 - b2) * g * g;
        double mhat = s->m[i] / (1 - pow(b1, s->t)), vhat = s->v[i] / (1 - pow(b2, s->t));
        s->w[i] -= lr * mhat / (sqrt(vhat) + eps);
    }
}

static void run_adam_case(double wd, int decoupled, int use_vector)
{
    mtrl_err e;
    nn_params *p;
    assert_int_equal(nn_params_create(&p, 3, &e), 0);
    const float w0[3] = {2.0f, 1.0f, -3.0f};
    memcpy(p->w, w0, sizeof w0);
    nn_adam_cfg cfg = nn_adam_default();
    cfg.lr = 0.01;
    cfg.weight_decay = wd;
    cfg.decoupled = decoupled;
    ref_adam s = {.t = 0};
    for (int i = 0; i < 3; i++)
        s.w[i] = w0[i];
    for (int step = 1; step <= 6; step++) {
        float g[3];
        quad_grad(p->w, g);
        double gd[3];
        double gw[3] = {s.w[0], s.w[1], s.w[2]};
        for (int i = 0; i < 3; i++)
            gd[i] = qh[i] * (gw[i] - qc[i]);
        if (use_vector) {
            p->g[0] = p->g[1] = p->g[2] = NAN; /* must not be read */
            assert_int_equal(nn_adam_step(p, g, &cfg, &e), 0);
        } else {
            memcpy(p->g, g, sizeof g);
            assert_int_equal(nn_adam_step(p, NULL, &cfg, &e), 0);
        }
        ref_adam_step(&s, gd, 0.01, 0.9, 0.999, 1e-8, wd, decoupled);
        for (int i = 0; i < 3; i++) {
            assert_true(ref_close(p->w[i], s.w[i], 2e-6, 1e-6));
            assert_true(ref_close(p->m[i], s.m[i], 1e-5, 1e-7));
            assert_true(ref_close(p->v[i], s.v[i], 1e-5, 1e-9));
        }
        assert_int_equal(p->step, step);
    }
    nn_params_destroy(p);
}

static void test_adam_matches_hand_computation(void **st)
{
    (void)st;
    /* Step 1 in closed form: m_hat = g, v_hat = g^2, so w1 = w0 - lr g/(|g| + eps). */
    mtrl_err e;
    nn_params *p;
    assert_int_equal(nn_params_create(&p, 3, &e), 0);
    p->w[0] = 2.0f, p->w[1] = 1.0f, p->w[2] = -3.0f;
    float g[3];
    quad_grad(p->w, g); /* 1.5, 8, -1.25 */
    nn_adam_cfg cfg = nn_adam_default();
    assert_true(cfg.lr == 3e-4 && cfg.beta1 == 0.9 && cfg.beta2 == 0.999 && cfg.eps == 1e-8);
    assert_int_equal(nn_adam_step(p, g, &cfg, &e), 0);
    assert_true(fabs(p->w[0] - (2.0 - 3e-4 * 1.5 / (1.5 + 1e-8))) < 1e-7);
    assert_true(fabs(p->w[1] - (1.0 - 3e-4)) < 1e-7);
    assert_true(fabs(p->w[2] - (-3.0 + 3e-4)) < 1e-7);
    assert_true(fabs(p->m[1] - 0.8) < 1e-6 && fabs(p->v[1] - 0.064) < 1e-7);
    /* Step 2 by hand for w[1] with the same gradient 8: m = 0.9*0.8 + 0.8 = 1.52,
     * v = 0.999*0.064 + 0.064 = 0.127936, m_hat = 1.52/0.19 = 8,
     * v_hat = 0.127936/0.001999 = 64 -> update lr * 8/8 again. */
    g[0] = g[2] = 0;
    assert_int_equal(nn_adam_step(p, g, &cfg, &e), 0);
    assert_true(fabs(p->w[1] - (1.0 - 6e-4)) < 1e-7);
    assert_true(fabs(p->m[1] - 1.52) < 1e-6 && fabs(p->v[1] - 0.127936) < 1e-7);
    assert_int_equal(p->step, 2);
    nn_params_destroy(p);

    run_adam_case(0.0, 0, 0);
    run_adam_case(0.0, 0, 1);
    run_adam_case(0.1, 0, 1); /* L2 */
    run_adam_case(0.1, 1, 1); /* decoupled (AdamW) */
}

static void test_adam_converges_and_resets(void **st)
{
    (void)st;
    mtrl_err e;
    nn_params *p;
    assert_int_equal(nn_params_create(&p, 3, &e), 0);
    nn_adam_cfg cfg = nn_adam_default();
    cfg.lr = 0.02;
    for (int k = 0; k < 3000; k++) {
        quad_grad(p->w, p->g);
        assert_int_equal(nn_adam_step(p, NULL, &cfg, &e), 0);
    }
    for (int i = 0; i < 3; i++)
        assert_true(fabs(p->w[i] - qc[i]) < 1e-3);
    nn_params_reset_adam(p);
    assert_int_equal(p->step, 0);
    for (int i = 0; i < 3; i++)
        assert_true(p->m[i] == 0 && p->v[i] == 0);
    nn_params_zero_grad(p);
    for (int i = 0; i < 3; i++)
        assert_true(p->g[i] == 0);
    cfg.beta2 = 1.0;
    assert_int_equal(nn_adam_step(p, NULL, &cfg, &e), MTRL_EINPUT);
    nn_params_destroy(p);
}

static void test_copy_and_polyak(void **st)
{
    (void)st;
    mtrl_err e;
    nn_params *a, *b, *c;
    assert_int_equal(nn_params_create(&a, 1000, &e), 0);
    assert_int_equal(nn_params_create(&b, 1000, &e), 0);
    assert_int_equal(nn_params_create(&c, 999, &e), 0);
    for (long i = 0; i < 1000; i++) {
        assert_true(a->w[i] == 0 && a->g[i] == 0 && a->m[i] == 0 && a->v[i] == 0);
        a->w[i] = (float)i;
        b->w[i] = (float)(-2 * i);
        b->m[i] = 5.0f;
    }
    assert_true(((uintptr_t)a->w % 64) == 0 && ((uintptr_t)a->g % 64) == 0 &&
                ((uintptr_t)a->m % 64) == 0 && ((uintptr_t)a->v % 64) == 0);
    assert_int_equal(nn_params_polyak(b, a, 0.005f, &e), 0);
    for (long i = 0; i < 1000; i++)
        assert_true(ref_close(b->w[i], 0.005 * i + 0.995 * (-2.0 * i), 1e-6, 1e-6));
    /* 1000 more: the target approaches the source geometrically, (1 - tau)^n. */
    for (int k = 0; k < 1000; k++)
        assert_int_equal(nn_params_polyak(b, a, 0.005f, &e), 0);
    double left = pow(0.995, 1001);
    for (long i = 0; i < 1000; i++)
        assert_true(ref_close(b->w[i], i + left * (-3.0 * i), 1e-4, 1e-4));
    assert_int_equal(nn_params_polyak(b, a, 1.0f, &e), 0);
    assert_memory_equal(b->w, a->w, 1000 * sizeof(float));
    assert_int_equal(nn_params_polyak(c, a, 0.5f, &e), MTRL_EINPUT);
    assert_int_equal(nn_params_polyak(b, a, 1.5f, &e), MTRL_EINPUT);
    assert_int_equal(nn_params_copy(c, a, &e), MTRL_EINPUT);
    for (long i = 0; i < 1000; i++)
        b->w[i] = 0;
    assert_int_equal(nn_params_copy(b, a, &e), 0);
    assert_memory_equal(b->w, a->w, 1000 * sizeof(float));
    for (long i = 0; i < 1000; i++)
        assert_true(b->m[i] == 5.0f); /* moments are not parameters */
    nn_params_destroy(c);
    assert_int_equal(nn_params_create(&c, 0, &e), MTRL_EINPUT);
    assert_null(c);
    nn_params_destroy(a);
    nn_params_destroy(b);
}

/* The vectorized Adam gives the bits of the plain float formula (the loop
 * it replaced), element by element, over lengths that do and do not fill
 * its blocks, with L2 and decoupled weight decay, for several steps. */
static void test_adam_bits_of_scalar_formula(void **st)
{
    (void)st;
    mtrl_err e;
    for (long n = 1; n <= 67; n += 11)
        for (int mode = 0; mode < 3; mode++) {
            nn_params *p;
            assert_int_equal(nn_params_create(&p, n, &e), 0);
            float *w = malloc(sizeof(float) * n), *m = calloc(n, sizeof(float)),
                  *v = calloc(n, sizeof(float)), *g = malloc(sizeof(float) * n);
            rng_state r;
            rng_seed(&r, 40 + n, mode);
            for (long i = 0; i < n; i++)
                w[i] = p->w[i] = (float)rng_range(&r, -1, 1);
            nn_adam_cfg cfg = nn_adam_default();
            cfg.weight_decay = mode ? 0.05 : 0.0;
            cfg.decoupled = mode == 2;
            for (int t = 1; t <= 4; t++) {
                for (long i = 0; i < n; i++)
                    g[i] = (float)rng_range(&r, -3, 3) * (i % 5 == 0 ? 1e-6f : 1.0f);
                assert_int_equal(nn_adam_step(p, g, &cfg, &e), 0);
                float step_size = (float)(cfg.lr / (1.0 - pow(cfg.beta1, t)));
                float sqrt_bc2 = (float)sqrt(1.0 - pow(cfg.beta2, t));
                float l2 = cfg.decoupled ? 0.0f : (float)cfg.weight_decay;
                float shrink = cfg.decoupled ? (float)(1.0 - cfg.lr * cfg.weight_decay) : 1.0f;
                for (long i = 0; i < n; i++) {
                    float gi = g[i] + l2 * w[i];
                    float wi = w[i] * shrink;
                    m[i] = 0.9f * m[i] + (float)(1.0 - 0.9) * gi;
                    v[i] = 0.999f * v[i] + (float)(1.0 - 0.999) * gi * gi;
                    w[i] = wi - step_size * m[i] / (sqrtf(v[i]) / sqrt_bc2 + (float)1e-8);
                }
                assert_memory_equal(p->w, w, sizeof(float) * n);
                assert_memory_equal(p->m, m, sizeof(float) * n);
                assert_memory_equal(p->v, v, sizeof(float) * n);
            }
            free(w), free(m), free(v), free(g);
            nn_params_destroy(p);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam_matches_hand_computation),
        cmocka_unit_test(test_adam_converges_and_resets),
        cmocka_unit_test(test_adam_bits_of_scalar_formula),
        cmocka_unit_test(test_copy_and_polyak),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
