/* The Gram behind nn_bwd.gram: every kernel this CPU runs (AVX-512,
 * AVX2+FMA, the ssyrk fallback) gives G G^T to float rounding against a
 * double reference, for row counts that do and do not fill its tiles and
 * lengths with tails; and a backward pass asked for the Gram gives the Gram
 * of the rows it wrote, on one and on several threads, for twin networks
 * adding into one matrix, with empty groups, bit for bit run to run; a layer
 * in several tiles gives the rows of the plain per-group pass. */
#include "testutil.h"

#include <cblas.h>
#include <math.h>

#include "nets/gram.h"
#include "nets/nets.h"

static float *random_rows(int K, long ld, uint64_t seed)
{
    float *G = malloc(sizeof(float) * (size_t)K * (size_t)ld);
    rng_state r;
    rng_seed(&r, seed, 0);
    for (long i = 0; i < (long)K * ld; i++)
        G[i] = (float)rng_range(&r, -1, 1);
    return G;
}

/* |A - G G^T| <= tol (|G_i| |G_j|) entry by entry (upper triangle). */
static void check_gram(int K, const float *G, long ld, long n, const double *A, double tol)
{
    for (int i = 0; i < K; i++)
        for (int j = i; j < K; j++) {
            double s = 0, ni = 0, nj = 0;
            for (long x = 0; x < n; x++) {
                s += (double)G[(long)i * ld + x] * G[(long)j * ld + x];
                ni += (double)G[(long)i * ld + x] * G[(long)i * ld + x];
                nj += (double)G[(long)j * ld + x] * G[(long)j * ld + x];
            }
            double err = fabs(A[(long)i * K + j] - s), lim = tol * sqrt(ni * nj) + 1e-30;
            if (!(err <= lim))
                fail_msg("K %d n %ld kernel %s: A[%d][%d] = %.9g, exact %.9g", K, n,
                         nn_gram_kernel(), i, j, A[(long)i * K + j], s);
        }
}

static void test_kernels_match_double(void **st)
{
    (void)st;
    static const char *const kernels[] = {"avx512", "avx2", "ssyrk"};
    static const int Ks[] = {1, 3, 4, 6, 10, 11, 13, 50};
    static const long ns[] = {1, 7, 16, 100, 513, 5000};
    const char *was = nn_gram_kernel();
    int ran = 0;
    for (int kk = 0; kk < 3; kk++) {
        if (nn_gram_use(kernels[kk]))
            continue; /* not on this CPU */
        ran++;
        for (int a = 0; a < 8; a++)
            for (int b = 0; b < 6; b++) {
                int K = Ks[a];
                long n = ns[b], ld = n + 3;
                float *G = random_rows(K, ld, (uint64_t)(100 * a + b));
                double *A = calloc((size_t)K * (size_t)K, sizeof(double));
                float *buf = aligned_alloc(64, sizeof(float) * (size_t)((nn_gram_buf_len(K) + 15) & ~15L));
                /* Accumulates: two halves add up to the whole. */
                nn_gram_acc(K, G, ld, n / 2, A, buf);
                nn_gram_acc(K, G + n / 2, ld, n - n / 2, A, buf);
                check_gram(K, G, ld, n, A, 1e-5);
                /* Lower triangle untouched. */
                for (int i = 0; i < K; i++)
                    for (int j = 0; j < i; j++)
                        assert_true(A[(long)i * K + j] == 0.0);
                free(G);
                free(A);
                free(buf);
            }
    }
    assert_true(ran >= 1); /* ssyrk runs everywhere */
    assert_int_equal(nn_gram_use(was), 0);
    assert_int_equal(nn_gram_use("sse9"), -1);
}

/* Twin 3-layer networks writing disjoint columns of the same K rows. */
static void backward_gram(int K, int threads, const int *off, int B, double *A, float *G,
                          long *P_out)
{
    int dims[4] = {21, 64, 48, 3};
    mtrl_err e;
    nn_mlp *q[2];
    nn_params *p;
    assert_int_equal(nn_mlp_create(&q[0], 3, dims, B, &e), 0);
    assert_int_equal(nn_mlp_create(&q[1], 3, dims, B, &e), 0);
    long np = nn_mlp_nparams(q[0]);
    assert_int_equal(nn_params_create(&p, 2 * np, &e), 0);
    assert_int_equal(nn_mlp_bind(q[0], p, 0, &e), 0);
    assert_int_equal(nn_mlp_bind(q[1], p, np, &e), 0);
    rng_state r;
    rng_seed(&r, 5, 0);
    nn_mlp_init(q[0], NN_INIT_XAVIER, &r);
    nn_mlp_init(q[1], NN_INIT_XAVIER, &r);
    float *x = random_rows(B, 21, 7), *dy = random_rows(B, 3, 8);
    int was = openblas_get_num_threads();
    openblas_set_num_threads(threads);
    memset(A, 0, sizeof(double) * (size_t)K * (size_t)K);
    for (int t = 0; t < 2; t++) {
        assert_int_equal(nn_mlp_forward(q[t], B, x, &e), 0);
        assert_int_equal(nn_mlp_backward(q[t], dy,
                                         &(nn_bwd){.grad = G, .n_groups = K, .group_off = off,
                                                   .gram = A},
                                         &e),
                         0);
    }
    openblas_set_num_threads(was);
    *P_out = p->n;
    /* A Gram without rows to read is a usage error. */
    assert_int_equal(nn_mlp_backward(q[0], dy, &(nn_bwd){.gram = A}, &e), MTRL_EINPUT);
    nn_mlp_destroy(q[0]);
    nn_mlp_destroy(q[1]);
    nn_params_destroy(p);
    free(x);
    free(dy);
}

static void test_backward_gram_is_gram_of_rows(void **st)
{
    (void)st;
    enum { B = 150 };
    int K = 10, off[11];
    for (int k = 0; k <= K; k++)
        off[k] = k * B / K;
    off[4] = off[3]; /* group 3 empty: its row is zero */
    long P = 2 * (21 * 64 + 64 + 64 * 48 + 48 + 48 * 3 + 3);
    float *G = malloc(sizeof(float) * (size_t)K * (size_t)P);
    double *A1 = malloc(sizeof(double) * (size_t)(K * K)), *A2 = malloc(sizeof(double) * (size_t)(K * K)),
           *A3 = malloc(sizeof(double) * (size_t)(K * K));
    long Pn;
    for (int T = 1; T <= 3; T++) {
        backward_gram(K, T, off, B, A1, G, &Pn);
        assert_int_equal(Pn, P);
        check_gram(K, G, P, P, A1, 1e-5);
        assert_true(A1[3 * K + 3] == 0.0);
        /* Run to run: the same bits for the same thread count. */
        backward_gram(K, T, off, B, A2, G, &Pn);
        assert_memory_equal(A1, A2, sizeof(double) * (size_t)(K * K));
        if (T == 1)
            memcpy(A3, A1, sizeof(double) * (size_t)(K * K));
        for (int i = 0; i < K * K; i++)
            assert_true(fabs(A1[i] - A3[i]) <= 1e-5 * (fabs(A3[i]) + 1e-3));
    }
    free(G);
    free(A1);
    free(A2);
    free(A3);
}

/* A 3-layer MLP of the given widths with its own parameters, initialised
 * from seed. */
static void make_mlp(const int *dims, int B, uint64_t seed, nn_mlp **m, nn_params **p)
{
    mtrl_err e;
    assert_int_equal(nn_mlp_create(m, 3, dims, B, &e), 0);
    assert_int_equal(nn_params_create(p, nn_mlp_nparams(*m), &e), 0);
    assert_int_equal(nn_mlp_bind(*m, *p, 0, &e), 0);
    rng_state r;
    rng_seed(&r, seed, 0);
    nn_mlp_init(*m, NN_INIT_TORCH_DEFAULT, &r);
}

/* The networks' own two threads (nn_set_threads, OpenBLAS on 1) against one
 * thread: the same outputs, input gradients, summed gradients, per-group
 * rows (a big group split into panels) and Gram, to float rounding. */
static void run_mlp(int own, int K, float *out, float *dx, float *G, double *A)
{
    enum { B = 300 };
    int dims[4] = {33, 256, 192, 5}, off[K + 1];
    /* One big group (as CAGrad-Fast's remainder block): split into more
     * column panels than the others on two threads. */
    off[0] = 0;
    for (int k = 1; k <= K; k++)
        off[k] = k < K ? 10 * k : B;
    mtrl_err e;
    nn_mlp *m;
    nn_params *p;
    make_mlp(dims, B, 12, &m, &p);
    float *x = random_rows(B, 33, 13), *dy = random_rows(B, 5, 14);
    int was = openblas_get_num_threads();
    if (own) {
        nn_set_threads(2);
        openblas_set_num_threads(1);
    } else {
        nn_set_threads(0);
        openblas_set_num_threads(1);
    }
    assert_int_equal(nn_mlp_forward(m, B, x, &e), 0);
    memcpy(out, nn_mlp_out(m), sizeof(float) * B * 5);
    assert_int_equal(nn_mlp_backward(m, dy, &(nn_bwd){.grad = p->g, .dx = dx}, &e), 0);
    memcpy(G, p->g, sizeof(float) * (size_t)p->n); /* summed: row 0 */
    memset(A, 0, sizeof(double) * (size_t)K * (size_t)K);
    assert_int_equal(nn_mlp_backward(m, dy,
                                     &(nn_bwd){.grad = G + p->n, .ld_grad = p->n, .n_groups = K,
                                               .group_off = off, .gram = A},
                                     &e),
                     0);
    nn_set_threads(0);
    openblas_set_num_threads(was);
    nn_mlp_destroy(m);
    nn_params_destroy(p);
    free(x);
    free(dy);
}

static void close_arrays(const float *a, const float *b, long n, const char *what)
{
    double num = 0, den = 0;
    for (long i = 0; i < n; i++)
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), den += (double)b[i] * b[i];
    if (!(num <= 1e-10 * den && den > 0))
        fail_msg("%s: relative difference %g", what, sqrt(num / den));
}

static void test_own_threads_match_one_thread(void **st)
{
    (void)st;
    enum { K = 6, B = 300 };
    long P = 33 * 256 + 256 + 256 * 192 + 192 + 192 * 5 + 5;
    float *o1 = malloc(sizeof(float) * B * 5), *o2 = malloc(sizeof(float) * B * 5);
    float *x1 = malloc(sizeof(float) * B * 33), *x2 = malloc(sizeof(float) * B * 33);
    float *g1 = malloc(sizeof(float) * (K + 1) * P), *g2 = malloc(sizeof(float) * (K + 1) * P);
    double A1[K * K], A2[K * K];
    run_mlp(0, K, o1, x1, g1, A1);
    run_mlp(1, K, o2, x2, g2, A2);
    close_arrays(o2, o1, B * 5, "outputs");
    close_arrays(x2, x1, B * 33, "input gradients");
    close_arrays(g2, g1, P, "summed gradient");
    close_arrays(g2 + P, g1 + P, K * P, "per-group rows");
    for (int i = 0; i < K; i++)
        for (int j = i; j < K; j++)
            assert_true(fabs(A1[i * K + j] - A2[i * K + j]) <=
                        1e-5 * sqrt(A1[i * K + i] * A1[j * K + j]));
    assert_int_equal(nn_threads(), 0);
    free(o1), free(o2), free(x1), free(x2), free(g1), free(g2);
}

/* A layer wide enough to go in several Gram tiles (20 groups x 300 inputs x
 * 400 outputs), an empty group, a group as large as the rest together: on
 * 1, 2 and 3 own threads the rows written with the Gram match the rows of
 * the plain per-group pass (to float rounding: the products split into
 * other row blocks) and the Gram is theirs, bit for bit run to run;
 * accumulate adds onto what was there, with the Gram of the sums. (Not bit
 * for bit across thread counts: the same single-threaded sgemm call gave
 * other last bits on a pool worker than on the caller here.) */
static void tiled_pass(nn_mlp *m, const float *dy, const int *off, int K, float *G, long P,
                       int acc, double *A, int T)
{
    mtrl_err e;
    nn_set_threads(T);
    memset(A, 0, sizeof(double) * (size_t)K * (size_t)K);
    assert_int_equal(nn_mlp_backward(m, dy,
                                     &(nn_bwd){.grad = G, .ld_grad = P, .n_groups = K,
                                               .group_off = off, .accumulate = acc,
                                               .gram = A},
                                     &e),
                     0);
    nn_set_threads(0);
}

static void test_tiled_gram_rows_match_plain_rows(void **st)
{
    (void)st;
    enum { K = 20, B = 240 };
    int dims[4] = {17, 300, 400, 2}, off[K + 1];
    off[0] = 0;
    for (int k = 1; k <= K; k++)
        off[k] = k < K ? 6 * k - (k > 3 ? 6 : 0) : B; /* group 3 empty, the last 126 rows */
    mtrl_err e;
    nn_mlp *m;
    nn_params *p;
    assert_int_equal(nn_mlp_create(&m, 3, dims, B, &e), 0);
    long P = nn_mlp_nparams(m);
    assert_int_equal(nn_params_create(&p, P, &e), 0);
    assert_int_equal(nn_mlp_bind(m, p, 0, &e), 0);
    rng_state r;
    rng_seed(&r, 21, 0);
    nn_mlp_init(m, NN_INIT_TORCH_DEFAULT, &r);
    float *x = random_rows(B, 17, 22), *dy = random_rows(B, 2, 23);
    int was = openblas_get_num_threads();
    openblas_set_num_threads(1);
    assert_int_equal(nn_mlp_forward(m, B, x, &e), 0);
    size_t bytes = sizeof(float) * (size_t)K * (size_t)P;
    float *plain = malloc(bytes), *G[3] = {malloc(bytes), malloc(bytes), malloc(bytes)};
    double *A[3] = {malloc(sizeof(double) * K * K), malloc(sizeof(double) * K * K),
                    malloc(sizeof(double) * K * K)};
    assert_int_equal(nn_mlp_backward(m, dy,
                                     &(nn_bwd){.grad = plain, .ld_grad = P, .n_groups = K,
                                               .group_off = off},
                                     &e),
                     0);
    for (int T = 1; T <= 3; T++) {
        memset(G[T - 1], 0x7f, bytes); /* overwritten, not added to */
        tiled_pass(m, dy, off, K, G[T - 1], P, 0, A[T - 1], T);
        close_arrays(G[T - 1], plain, (long)K * P, "rows with the Gram");
        check_gram(K, G[T - 1], P, P, A[T - 1], 1e-5);
    }
    /* run to run: the same bits for the same thread count */
    memset(G[1], 0, bytes);
    tiled_pass(m, dy, off, K, G[1], P, 0, A[1], 3);
    assert_memory_equal(G[1], G[2], bytes);
    assert_memory_equal(A[1], A[2], sizeof(double) * K * K);
    for (long i = 3 * P; i < 4 * P; i++)
        assert_true(G[0][i] == 0.0f);
    /* accumulate: rows plain + plain, the Gram of those sums */
    memcpy(G[1], plain, bytes);
    tiled_pass(m, dy, off, K, G[1], P, 1, A[1], 2);
    for (long i = 0; i < (long)K * P; i++)
        plain[i] *= 2;
    close_arrays(G[1], plain, (long)K * P, "accumulated rows");
    check_gram(K, G[1], P, P, A[1], 1e-5);
    openblas_set_num_threads(was);
    for (int i = 0; i < 3; i++)
        free(G[i]), free(A[i]);
    free(plain), free(x), free(dy);
    nn_mlp_destroy(m);
    nn_params_destroy(p);
}

/* Rows not kept (grad NULL): the same Gram bit for bit as with the rows
 * written, on one and two threads; and nn_mlp_grad_weighted gives
 * sum_k w_k (row k) of the kept rows to float rounding, with an empty group
 * and rows outside every group. */
static void test_gram_without_rows_and_weighted_grad(void **st)
{
    (void)st;
    enum { B = 150, K = 10 };
    int dims[4] = {21, 64, 48, 3}, off[K + 1];
    for (int k = 0; k <= K; k++)
        off[k] = 5 + k * (B - 12) / K;
    off[4] = off[3];
    mtrl_err e;
    nn_mlp *m;
    nn_params *p;
    make_mlp(dims, B, 21, &m, &p);
    long P = p->n;
    float *x = random_rows(B, 21, 22), *dy = random_rows(B, 3, 23), *w = random_rows(1, K, 24);
    float *G = malloc(sizeof(float) * (size_t)K * (size_t)P);
    float *d = malloc(sizeof(float) * (size_t)P);
    double A1[K * K], A2[K * K];
    int was = openblas_get_num_threads();
    openblas_set_num_threads(1);
    for (int T = 1; T <= 2; T++) {
        nn_set_threads(T);
        assert_int_equal(nn_mlp_forward(m, B, x, &e), 0);
        assert_int_equal(nn_mlp_grad_weighted(m, K, off, w, d, &e), MTRL_EINPUT);
        memset(A1, 0, sizeof A1);
        memset(A2, 0, sizeof A2);
        nn_bwd kept = {.grad = G, .n_groups = K, .group_off = off, .gram = A1};
        nn_bwd dropped = {.n_groups = K, .group_off = off, .gram = A2};
        assert_int_equal(nn_mlp_backward(m, dy, &kept, &e), 0);
        assert_int_equal(nn_mlp_backward(m, dy, &dropped, &e), 0);
        assert_memory_equal(A1, A2, sizeof A1);
        assert_int_equal(nn_mlp_grad_weighted(m, K, off, w, d, &e), 0);
        for (long c = 0; c < P; c++) {
            double s = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                s += (double)w[k] * G[(long)k * P + c];
                mag += fabs((double)w[k] * G[(long)k * P + c]);
            }
            if (!(fabs(d[c] - s) <= 1e-5 * mag + 1e-12))
                fail_msg("T %d column %ld: weighted %.9g, from the rows %.9g", T, c, d[c], s);
        }
    }
    nn_set_threads(0);
    openblas_set_num_threads(was);
    nn_mlp_destroy(m);
    nn_params_destroy(p);
    free(x);
    free(dy);
    free(w);
    free(G);
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernels_match_double),
        cmocka_unit_test(test_backward_gram_is_gram_of_rows),
        cmocka_unit_test(test_own_threads_match_one_thread),
        cmocka_unit_test(test_tiled_gram_rows_match_plain_rows),
        cmocka_unit_test(test_gram_without_rows_and_weighted_grad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
