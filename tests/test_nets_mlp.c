#include "testutil.h"

#include <math.h>

#include <cblas.h>

#include "nets/nets.h"
#include "nets_ref.h"

typedef struct net {
    nn_mlp *m;
    nn_params *p;
} net;

static net make_net(int L, const int *dims, int max_batch, nn_init kind, uint64_t seed)
{
    net n;
    mtrl_err e;
    assert_int_equal(nn_mlp_create(&n.m, L, dims, max_batch, &e), 0);
    assert_int_equal(nn_params_create(&n.p, nn_mlp_nparams(n.m), &e), 0);
    assert_int_equal(nn_mlp_bind(n.m, n.p, 0, &e), 0);
    rng_state r;
    rng_seed(&r, seed, RNG_STREAM_INIT);
    nn_mlp_init(n.m, kind, &r);
    return n;
}

static void free_net(net n)
{
    nn_mlp_destroy(n.m);
    nn_params_destroy(n.p);
}

static void fill_normal(float *x, long n, uint64_t seed, double scale)
{
    rng_state r;
    rng_seed(&r, seed, 77);
    for (long i = 0; i < n; i++)
        x[i] = (float)(scale * rng_normal(&r));
}

static double ref_loss(int L, const int *dims, const double *w, int B, const double *x,
                       const float *c)
{
    double *y = malloc(sizeof(double) * (size_t)B * (size_t)dims[L]);
    ref_mlp_forward(L, dims, w, B, x, y);
    double s = 0;
    for (long i = 0; i < (long)B * dims[L]; i++)
        s += c[i] * y[i];
    free(y);
    return s;
}

/* Gradient of L = sum c .* MLP(x) w.r.t. every parameter and every input,
 * against central differences of the independent double forward. The input
 * goes in as n_blocks column blocks (strided slices of wider matrices). */
static void check_fd(int L, const int *dims, int B, int n_blocks, uint64_t seed)
{
    net n = make_net(L, dims, B + 3, NN_INIT_TORCH_DEFAULT, seed);
    long P = n.p->n;
    int in = dims[0], out = dims[L];
    float *x = malloc(sizeof(float) * (size_t)B * (size_t)in);
    float *c = malloc(sizeof(float) * (size_t)B * (size_t)out);
    float *dx = malloc(sizeof(float) * (size_t)B * (size_t)in);
    fill_normal(x, (long)B * in, seed + 1, 1.0);
    fill_normal(c, (long)B * out, seed + 2, 1.0);

    /* Blocks live in wider matrices with 2 padding columns each. */
    nn_in blk[NN_MAX_IN];
    float *store[NN_MAX_IN] = {0};
    int c0 = 0;
    for (int j = 0; j < n_blocks; j++) {
        int cols = j + 1 < n_blocks ? in / n_blocks : in - c0;
        int ld = cols + 2;
        store[j] = malloc(sizeof(float) * (size_t)B * (size_t)ld);
        for (int b = 0; b < B; b++) {
            for (int k = 0; k < ld; k++)
                store[j][(long)b * ld + k] = NAN; /* padding must never be read */
            for (int k = 0; k < cols; k++)
                store[j][(long)b * ld + 1 + k] = x[(long)b * in + c0 + k];
        }
        blk[j] = (nn_in){store[j] + 1, cols, ld};
        c0 += cols;
    }
    mtrl_err e;
    assert_int_equal(nn_mlp_forward_in(n.m, B, n_blocks, blk, &e), 0);

    double *wd = malloc(sizeof(double) * (size_t)P);
    double *xd = malloc(sizeof(double) * (size_t)B * (size_t)in);
    for (long i = 0; i < P; i++)
        wd[i] = n.p->w[i];
    for (long i = 0; i < (long)B * in; i++)
        xd[i] = x[i];
    double *yd = malloc(sizeof(double) * (size_t)B * (size_t)out);
    ref_mlp_forward(L, dims, wd, B, xd, yd);
    const float *y = nn_mlp_out(n.m);
    for (long i = 0; i < (long)B * out; i++)
        assert_true(ref_close(y[i], yd[i], 1e-5, 1e-5));

    for (long i = 0; i < P; i++)
        n.p->g[i] = NAN; /* overwrite mode must write every column */
    assert_int_equal(nn_mlp_backward(n.m, c, &(nn_bwd){.grad = n.p->g, .dx = dx}, &e), 0);

    double gmax = 0;
    for (long i = 0; i < P; i++)
        gmax = fmax(gmax, fabs(n.p->g[i]));
    const double h = 1e-6;
    int bad = 0;
    for (long i = 0; i < P; i++) {
        double w0 = wd[i];
        wd[i] = w0 + h;
        double lp = ref_loss(L, dims, wd, B, xd, c);
        wd[i] = w0 - h;
        double lm = ref_loss(L, dims, wd, B, xd, c);
        wd[i] = w0;
        double fd = (lp - lm) / (2 * h);
        if (!ref_close(n.p->g[i], fd, 1e-3, 1e-5 * gmax + 1e-6)) {
            if (bad++ < 5)
                fprintf(stderr, "param %ld: analytic %.8g, finite difference %.8g\n", i,
                        (double)n.p->g[i], fd);
        }
    }
    for (long i = 0; i < (long)B * in; i++) {
        double x0 = xd[i];
        xd[i] = x0 + h;
        double lp = ref_loss(L, dims, wd, B, xd, c);
        xd[i] = x0 - h;
        double lm = ref_loss(L, dims, wd, B, xd, c);
        xd[i] = x0;
        double fd = (lp - lm) / (2 * h);
        if (!ref_close(dx[i], fd, 1e-3, 1e-5)) {
            if (bad++ < 10)
                fprintf(stderr, "input %ld: analytic %.8g, finite difference %.8g\n", i,
                        (double)dx[i], fd);
        }
    }
    assert_int_equal(bad, 0);
    assert_true(gmax > 0);

    for (int j = 0; j < n_blocks; j++)
        free(store[j]);
    free(x), free(c), free(dx), free(wd), free(xd), free(yd);
    free_net(n);
}

static void test_fd_single_layer(void **st)
{
    (void)st;
    int dims[] = {5, 3};
    check_fd(1, dims, 7, 1, 11);
    check_fd(1, dims, 7, 2, 12);
}

static void test_fd_two_layers(void **st)
{
    (void)st;
    int dims[] = {4, 9, 2};
    check_fd(2, dims, 6, 1, 21);
}

static void test_fd_deep_blocks(void **st)
{
    (void)st;
    int dims[] = {7, 11, 10, 9, 3};
    check_fd(4, dims, 8, 1, 31);
    check_fd(4, dims, 8, 3, 32);
    int critic[] = {6, 12, 12, 12, 1};
    check_fd(4, critic, 10, 2, 33);
}

/* Twin MLPs in one buffer; per-group rows against (a) the summed gradient and
 * (b) gradients computed on each group alone by a separate forward. */
static void test_per_group_rows(void **st)
{
    (void)st;
    mtrl_err e;
    int dims[] = {6, 16, 12, 2};
    const int L = 3, B = 21, K = 5;
    const int off[] = {1, 5, 5, 13, 20, 20}; /* group 1 and 4 empty; rows 0, 20 outside */
    nn_mlp *q[2];
    nn_params *p;
    for (int t = 0; t < 2; t++)
        assert_int_equal(nn_mlp_create(&q[t], L, dims, B, &e), 0);
    long P1 = nn_mlp_nparams(q[0]), P = 2 * P1;
    assert_int_equal(nn_params_create(&p, P, &e), 0);
    rng_state r;
    rng_seed(&r, 5, RNG_STREAM_INIT);
    for (int t = 0; t < 2; t++) {
        assert_int_equal(nn_mlp_bind(q[t], p, t * P1, &e), 0);
        nn_mlp_init(q[t], NN_INIT_TORCH_DEFAULT, &r);
    }
    assert_int_equal(nn_mlp_offset(q[1]), P1);
    assert_true(nn_mlp_weight(q[1], 0) == p->w + P1);

    float x[21 * 6], dy[2][21 * 2];
    fill_normal(x, B * 6, 1, 1.0);
    fill_normal(dy[0], B * 2, 2, 1.0);
    fill_normal(dy[1], B * 2, 3, 1.0);
    float *G = malloc(sizeof(float) * (size_t)(K * P)), *sum = malloc(sizeof(float) * (size_t)P);
    float *alone = malloc(sizeof(float) * (size_t)P);
    for (long i = 0; i < K * P; i++)
        G[i] = NAN;
    for (int t = 0; t < 2; t++) {
        assert_int_equal(nn_mlp_forward(q[t], B, x, &e), 0);
        assert_int_equal(nn_mlp_backward(q[t], dy[t],
                                         &(nn_bwd){.grad = G, .ld_grad = P, .n_groups = K,
                                                   .group_off = off},
                                         &e),
                         0);
    }
    /* The summed gradient over the grouped rows only: zero dL/dY outside them. */
    for (int t = 0; t < 2; t++) {
        float dz[21 * 2];
        memcpy(dz, dy[t], sizeof dz);
        for (int b = 0; b < B; b++)
            if (b < off[0] || b >= off[K])
                dz[b * 2] = dz[b * 2 + 1] = 0;
        assert_int_equal(nn_mlp_forward(q[t], B, x, &e), 0);
        assert_int_equal(nn_mlp_backward(q[t], dz, &(nn_bwd){.grad = sum}, &e), 0);
    }
    double smax = 0;
    for (long i = 0; i < P; i++)
        smax = fmax(smax, fabs(sum[i]));
    for (long i = 0; i < P; i++) {
        double s = 0;
        for (int k = 0; k < K; k++) {
            assert_false(isnan(G[k * P + i]));
            s += G[k * P + i];
        }
        assert_true(ref_close(s, sum[i], 1e-5, 1e-6 * smax));
    }
    for (int k = 0; k < K; k++) {
        int nk = off[k + 1] - off[k];
        if (nk == 0) {
            for (long i = 0; i < P; i++)
                assert_true(G[k * P + i] == 0.0f);
            continue;
        }
        for (int t = 0; t < 2; t++) {
            assert_int_equal(nn_mlp_forward(q[t], nk, x + off[k] * 6, &e), 0);
            assert_int_equal(
                nn_mlp_backward(q[t], dy[t] + off[k] * 2, &(nn_bwd){.grad = alone}, &e), 0);
        }
        int nonzero = 0;
        for (long i = 0; i < P; i++) {
            assert_true(ref_close(G[k * P + i], alone[i], 1e-5, 1e-6 * smax));
            nonzero += alone[i] != 0;
        }
        assert_true(nonzero > P / 4);
    }

    /* Accumulating adds the same rows again (empty rows stay zero). */
    for (int t = 0; t < 2; t++) {
        assert_int_equal(nn_mlp_forward(q[t], B, x, &e), 0);
        assert_int_equal(nn_mlp_backward(q[t], dy[t],
                                         &(nn_bwd){.grad = G, .ld_grad = P, .n_groups = K,
                                                   .group_off = off, .accumulate = 1},
                                         &e),
                         0);
    }
    for (long i = 0; i < P; i++) {
        double s = 0;
        for (int k = 0; k < K; k++)
            s += G[k * P + i];
        assert_true(ref_close(s, 2.0 * sum[i], 1e-5, 2e-6 * smax));
    }
    for (long i = 0; i < P; i++)
        assert_true(G[1 * P + i] == 0.0f && G[4 * P + i] == 0.0f);

    free(G), free(sum), free(alone);
    nn_mlp_destroy(q[0]), nn_mlp_destroy(q[1]);
    nn_params_destroy(p);
}

/* The K x P gradient is reproducible for a given BLAS thread count (with
 * more than one thread the products run as parallel tasks in any order, split
 * into column panels) and agrees across thread counts up to rounding
 * (OpenBLAS itself rounds differently with more threads). */
static void test_per_group_threads(void **st)
{
    (void)st;
    mtrl_err e;
    int dims[] = {7, 300, 200, 3};
    const int B = 130, K = 6;
    const int off[] = {0, 40, 40, 71, 100, 101, 130};
    net n = make_net(3, dims, B, NN_INIT_TORCH_DEFAULT, 44);
    long P = n.p->n;
    float *x = malloc(sizeof(float) * B * 7), *dy = malloc(sizeof(float) * B * 3);
    float *dx[3][2], *G[3][2];
    fill_normal(x, B * 7, 1, 1.0);
    fill_normal(dy, B * 3, 2, 1.0);
    int saved = openblas_get_num_threads(), threads[3] = {1, 2, 5};
    for (int t = 0; t < 3; t++)
        for (int rep = 0; rep < 2; rep++) {
            G[t][rep] = malloc(sizeof(float) * (size_t)(K * P));
            dx[t][rep] = malloc(sizeof(float) * B * 7);
            openblas_set_num_threads(threads[t]);
            nn_in blk[2] = {{x, 4, 7}, {x + 4, 3, 7}};
            assert_int_equal(nn_mlp_forward_in(n.m, B, 2, blk, &e), 0);
            assert_int_equal(nn_mlp_backward(n.m, dy,
                                             &(nn_bwd){.grad = G[t][rep], .n_groups = K,
                                                       .group_off = off, .dx = dx[t][rep]},
                                             &e),
                             0);
            assert_int_equal(openblas_get_num_threads(), threads[t]);
        }
    /* Accumulating with 5 threads (several column panels per product) adds
     * every row once more, biases included. */
    openblas_set_num_threads(5);
    assert_int_equal(nn_mlp_backward(n.m, dy,
                                     &(nn_bwd){.grad = G[2][1], .n_groups = K, .group_off = off,
                                               .accumulate = 1},
                                     &e),
                     0);
    for (long i = 0; i < K * P; i++) {
        if (!ref_close(G[2][1][i], 2.0 * G[2][0][i], 1e-5, 1e-7))
            fail_msg("row %ld col %ld: %.9g, not 2 x %.9g", i / P, i % P, (double)G[2][1][i],
                     (double)G[2][0][i]);
        G[2][1][i] = G[2][0][i];
    }
    openblas_set_num_threads(saved);
    double gmax = 0;
    for (long i = 0; i < K * P; i++)
        gmax = fmax(gmax, fabs(G[0][0][i]));
    for (int t = 0; t < 3; t++) {
        assert_memory_equal(G[t][1], G[t][0], sizeof(float) * (size_t)(K * P));
        assert_memory_equal(dx[t][1], dx[t][0], sizeof(float) * B * 7);
        for (long i = 0; i < K * P; i++)
            assert_true(ref_close(G[t][0][i], G[0][0][i], 1e-4, 1e-6 * gmax));
        for (long i = 0; i < P; i++)
            assert_true(G[t][0][1 * P + i] == 0.0f);
    }
    for (int t = 0; t < 3; t++)
        for (int rep = 0; rep < 2; rep++)
            free(G[t][rep]), free(dx[t][rep]);
    free(x), free(dy);
    free_net(n);
}

/* Each MLP keeps its worker pool between backwards and rebuilds it when
 * OpenBLAS's thread count changes: switching 3 -> 2 -> 4 -> 3 threads on one
 * MLP gives, for each count, bitwise the rows of a fresh MLP on that count,
 * and all of them match the one-thread rows up to rounding. Several MLPs
 * with pools are created and destroyed in turn (LSan: nothing left). */
static void test_pool_across_thread_counts(void **st)
{
    (void)st;
    mtrl_err e;
    int dims[] = {9, 256, 192, 2};
    const int B = 96, K = 5;
    const int off[] = {0, 20, 37, 60, 61, 96};
    net n = make_net(3, dims, B, NN_INIT_TORCH_DEFAULT, 71);
    long P = n.p->n;
    float *x = malloc(sizeof(float) * B * 9), *dy = malloc(sizeof(float) * B * 2);
    float *G = malloc(sizeof(float) * (size_t)(K * P)), *F = malloc(sizeof(float) * (size_t)(K * P));
    float *G1 = malloc(sizeof(float) * (size_t)(K * P));
    fill_normal(x, B * 9, 3, 1.0);
    fill_normal(dy, B * 2, 4, 1.0);
    int saved = openblas_get_num_threads();
    nn_bwd req = {.grad = G, .n_groups = K, .group_off = off};
    openblas_set_num_threads(1);
    assert_int_equal(nn_mlp_forward(n.m, B, x, &e), 0);
    assert_int_equal(nn_mlp_backward(n.m, dy, &(nn_bwd){.grad = G1, .n_groups = K,
                                                        .group_off = off}, &e), 0);
    double gmax = 0;
    for (long i = 0; i < K * P; i++)
        gmax = fmax(gmax, fabs(G1[i]));
    const int seq[] = {3, 2, 4, 3, 3};
    for (int s = 0; s < 5; s++) {
        openblas_set_num_threads(seq[s]);
        for (long i = 0; i < K * P; i++)
            G[i] = NAN;
        assert_int_equal(nn_mlp_forward(n.m, B, x, &e), 0);
        assert_int_equal(nn_mlp_backward(n.m, dy, &req, &e), 0);
        assert_int_equal(openblas_get_num_threads(), seq[s]);
        /* A fresh MLP (new pool) on the same parameters and thread count. */
        nn_mlp *f;
        assert_int_equal(nn_mlp_create(&f, 3, dims, B, &e), 0);
        assert_int_equal(nn_mlp_bind(f, n.p, 0, &e), 0);
        assert_int_equal(nn_mlp_forward(f, B, x, &e), 0);
        assert_int_equal(nn_mlp_backward(f, dy, &(nn_bwd){.grad = F, .n_groups = K,
                                                          .group_off = off}, &e), 0);
        nn_mlp_destroy(f);
        assert_memory_equal(G, F, sizeof(float) * (size_t)(K * P));
        for (long i = 0; i < K * P; i++)
            if (!ref_close(G[i], G1[i], 1e-4, 1e-6 * gmax))
                fail_msg("%d threads, row %ld col %ld: %.9g vs %.9g on one thread", seq[s],
                         i / P, i % P, (double)G[i], (double)G1[i]);
    }
    openblas_set_num_threads(saved);
    free(x), free(dy), free(G), free(F), free(G1);
    free_net(n);
}

/* Input given as blocks == the same input concatenated; dx of a column window
 * == those columns of the full dx; no parameter gradient leaves g untouched. */
static void test_blocks_and_dx_window(void **st)
{
    (void)st;
    mtrl_err e;
    int dims[] = {8, 10, 10, 1};
    const int B = 12;
    net n = make_net(3, dims, B, NN_INIT_XAVIER, 9);
    float wide[12 * 10], act[12 * 3], cat[12 * 8], dy[12];
    fill_normal(wide, B * 10, 4, 1.0);
    fill_normal(act, B * 3, 5, 1.0);
    fill_normal(dy, B, 6, 1.0);
    for (int b = 0; b < B; b++) {
        memcpy(cat + b * 8, wide + b * 10 + 2, 5 * sizeof(float));
        memcpy(cat + b * 8 + 5, act + b * 3, 3 * sizeof(float));
    }
    float y_cat[12], dx_full[12 * 8], g_cat[1000], g_blk[1000], dx_win[12 * 4];
    long P = n.p->n;
    assert_true(P <= 1000);
    assert_int_equal(nn_mlp_forward(n.m, B, cat, &e), 0);
    memcpy(y_cat, nn_mlp_out(n.m), sizeof y_cat);
    assert_int_equal(nn_mlp_backward(n.m, dy, &(nn_bwd){.grad = g_cat, .dx = dx_full}, &e), 0);

    nn_in blk[2] = {{wide + 2, 5, 10}, {act, 3, 0}};
    assert_int_equal(nn_mlp_forward_in(n.m, B, 2, blk, &e), 0);
    for (int b = 0; b < B; b++)
        assert_true(ref_close(nn_mlp_out(n.m)[b], y_cat[b], 1e-5, 1e-6));
    for (int i = 0; i < B * 4; i++)
        dx_win[i] = -99.0f;
    for (long i = 0; i < P; i++)
        n.p->g[i] = 7.0f;
    /* dQ/d(action): columns 5..7, written with a row stride of 4. */
    assert_int_equal(nn_mlp_backward(n.m, dy,
                                     &(nn_bwd){.dx = dx_win, .dx_col0 = 5, .dx_cols = 3, .ld_dx = 4},
                                     &e),
                     0);
    for (long i = 0; i < P; i++)
        assert_true(n.p->g[i] == 7.0f);
    for (int b = 0; b < B; b++) {
        for (int j = 0; j < 3; j++)
            assert_true(ref_close(dx_win[b * 4 + j], dx_full[b * 8 + 5 + j], 1e-5, 1e-6));
        assert_true(dx_win[b * 4 + 3] == -99.0f);
    }
    assert_int_equal(nn_mlp_backward(n.m, dy, &(nn_bwd){.grad = g_blk}, &e), 0);
    for (long i = 0; i < P; i++)
        assert_true(ref_close(g_blk[i], g_cat[i], 1e-5, 1e-6));
    free_net(n);
}

static void test_init(void **st)
{
    (void)st;
    int dims[] = {30, 200, 50};
    net a = make_net(2, dims, 1, NN_INIT_XAVIER, 1);
    net b = make_net(2, dims, 1, NN_INIT_XAVIER, 1);
    net c = make_net(2, dims, 1, NN_INIT_XAVIER, 2);
    net t = make_net(2, dims, 1, NN_INIT_TORCH_DEFAULT, 1);
    assert_memory_equal(a.p->w, b.p->w, sizeof(float) * (size_t)a.p->n);
    assert_memory_not_equal(a.p->w, c.p->w, sizeof(float) * (size_t)a.p->n);
    for (int l = 0; l < 2; l++) {
        int in = dims[l], out = dims[l + 1];
        double bound = sqrt(6.0 / (in + out)), s2 = 0;
        const float *w = nn_mlp_weight(a.m, l), *bias = nn_mlp_bias(a.m, l);
        for (long i = 0; i < (long)in * out; i++) {
            assert_true(fabs(w[i]) <= bound);
            s2 += (double)w[i] * w[i];
        }
        /* U(-a, a) has variance a^2/3 */
        assert_true(fabs(s2 / ((double)in * out) / (bound * bound / 3) - 1) < 0.05);
        for (int i = 0; i < out; i++)
            assert_true(bias[i] == 0.0f);
        double tb = 1.0 / sqrt(in), bmax = 0;
        const float *tw = nn_mlp_weight(t.m, l), *tbias = nn_mlp_bias(t.m, l);
        for (long i = 0; i < (long)in * out; i++)
            assert_true(fabs(tw[i]) <= tb);
        for (int i = 0; i < out; i++) {
            assert_true(fabs(tbias[i]) <= tb);
            bmax = fmax(bmax, fabs(tbias[i]));
        }
        assert_true(bmax > 0.5 * tb);
    }
    assert_int_equal(nn_mlp_nparams(a.m), 30 * 200 + 200 + 200 * 50 + 50);
    free_net(a), free_net(b), free_net(c), free_net(t);

    /* The reference actor and critic sizes (spec §3): 329,208 and 328,001. */
    nn_mlp *m;
    mtrl_err e;
    assert_int_equal(nn_mlp_create(&m, 4, (int[]){12, 400, 400, 400, 8}, 1, &e), 0);
    assert_int_equal(nn_mlp_nparams(m), 329208);
    nn_mlp_destroy(m);
    assert_int_equal(nn_mlp_create(&m, 4, (int[]){16, 400, 400, 400, 1}, 1, &e), 0);
    assert_int_equal(nn_mlp_nparams(m), 328001);
    nn_mlp_destroy(m);
}

static void test_bad_input(void **st)
{
    (void)st;
    mtrl_err e;
    int dims[] = {3, 4, 2};
    nn_mlp *m;
    assert_int_equal(nn_mlp_create(&m, 2, (int[]){3, 0, 2}, 4, &e), MTRL_EINPUT);
    assert_int_equal(nn_mlp_create(&m, 2, dims, 4, &e), 0);
    float x[5 * 3] = {0}, dy[5 * 2] = {0}, g[100];
    assert_int_equal(nn_mlp_forward(m, 2, x, &e), MTRL_EINPUT); /* not bound */
    nn_params *small, *p;
    assert_int_equal(nn_params_create(&small, nn_mlp_nparams(m) - 1, &e), 0);
    assert_int_equal(nn_mlp_bind(m, small, 0, &e), MTRL_EINPUT);
    assert_int_equal(nn_params_create(&p, nn_mlp_nparams(m) + 2, &e), 0);
    assert_int_equal(nn_mlp_bind(m, p, 3, &e), MTRL_EINPUT);
    assert_int_equal(nn_mlp_bind(m, p, 2, &e), 0);
    assert_int_equal(nn_mlp_backward(m, dy, NULL, &e), MTRL_EINPUT); /* no forward */
    assert_int_equal(nn_mlp_forward(m, 5, x, &e), MTRL_EINPUT);      /* > max batch */
    assert_int_equal(nn_mlp_forward_in(m, 2, 1, &(nn_in){x, 2, 0}, &e), MTRL_EINPUT);
    assert_int_equal(nn_mlp_forward(m, 4, x, &e), 0);
    assert_int_equal(nn_mlp_backward(m, dy,
                                     &(nn_bwd){.grad = g, .ld_grad = 30, .n_groups = 2,
                                               .group_off = (int[]){0, 3, 2}},
                                     &e),
                     MTRL_EINPUT);
    assert_int_equal(nn_mlp_backward(m, dy,
                                     &(nn_bwd){.grad = g, .ld_grad = 30, .n_groups = 2,
                                               .group_off = (int[]){0, 3, 5}},
                                     &e),
                     MTRL_EINPUT);
    assert_int_equal(nn_mlp_backward(m, dy, &(nn_bwd){.grad = g, .n_groups = 2}, &e),
                     MTRL_EINPUT);
    assert_int_equal(nn_mlp_backward(m, dy, &(nn_bwd){.dx = g, .dx_col0 = 2, .dx_cols = 2}, &e),
                     MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "columns"));
    nn_mlp_destroy(m);
    nn_params_destroy(small);
    nn_params_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_single_layer),   cmocka_unit_test(test_fd_two_layers),
        cmocka_unit_test(test_fd_deep_blocks),    cmocka_unit_test(test_per_group_rows),
        cmocka_unit_test(test_per_group_threads), cmocka_unit_test(test_pool_across_thread_counts),
        cmocka_unit_test(test_blocks_and_dx_window), cmocka_unit_test(test_init),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
