/* The weight-gradient product behind the MLP's backward (nn_wgrad): every
 * kernel this CPU runs (AVX-512, the sgemm fallback) gives A^T B, and A^T B
 * + C, to float rounding against a double reference, for shapes that do and
 * do not fill its 5 x 80 blocks, with row strides wider than the rows, and
 * writes nothing outside C's M x N entries; on AVX-512 any split of C into
 * row or column blocks gives the same C bit for bit (what makes the nets'
 * threaded products independent of the thread count). */
#include "testutil.h"

#include <math.h>

#include "core/rng.h"
#include "nets/wgrad.h"

static const char *kernels[] = {"avx512", "sgemm"};

static float *random_floats(long n, uint64_t seed)
{
    float *v = malloc(sizeof(float) * (size_t)n);
    rng_state r;
    rng_seed(&r, seed, 0);
    for (long i = 0; i < n; i++)
        v[i] = (float)rng_range(&r, -1, 1);
    return v;
}

/* One product against the double reference; C's padding (columns N..ldc)
 * holds a sentinel that must survive. */
static void check_shape(int M, int N, int nk, int acc, uint64_t seed)
{
    int lda = M + 3, ldb = N + 5, ldc = N + 7;
    float *A = random_floats((long)(nk > 0 ? nk : 1) * lda, seed);
    float *B = random_floats((long)(nk > 0 ? nk : 1) * ldb, seed + 1);
    float *C = random_floats((long)M * ldc, seed + 2);
    float *C0 = malloc(sizeof(float) * (size_t)M * (size_t)ldc);
    for (int i = 0; i < M; i++)
        for (int j = N; j < ldc; j++)
            C[(long)i * ldc + j] = 12345.0f;
    memcpy(C0, C, sizeof(float) * (size_t)M * (size_t)ldc);
    nn_wgrad(M, N, nk, A, lda, B, ldb, C, ldc, acc);
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double s = acc ? C0[(long)i * ldc + j] : 0, mag = fabs(s);
            for (int r = 0; r < nk; r++) {
                double t = (double)A[(long)r * lda + i] * B[(long)r * ldb + j];
                s += t;
                mag += fabs(t);
            }
            double got = C[(long)i * ldc + j];
            if (!(fabs(got - s) <= 2e-6 * mag + 1e-30))
                fail_msg("kernel %s M %d N %d nk %d acc %d: C[%d][%d] = %.9g, exact %.9g",
                         nn_wgrad_kernel(), M, N, nk, acc, i, j, got, s);
        }
        for (int j = N; j < ldc; j++)
            if (C[(long)i * ldc + j] != 12345.0f)
                fail_msg("kernel %s M %d N %d: wrote C[%d][%d] outside the product",
                         nn_wgrad_kernel(), M, N, i, j);
    }
    free(A);
    free(B);
    free(C);
    free(C0);
}

static void test_kernels_match_double(void **state)
{
    (void)state;
    static const int Ms[] = {1, 4, 5, 7, 13, 40};
    static const int Ns[] = {1, 15, 16, 17, 39, 80, 81, 97};
    static const int nks[] = {0, 1, 26, 300};
    int ran = 0;
    for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
        if (nn_wgrad_use(kernels[k]))
            continue; /* not on this CPU */
        ran++;
        uint64_t seed = 1;
        for (size_t a = 0; a < sizeof Ms / sizeof Ms[0]; a++)
            for (size_t b = 0; b < sizeof Ns / sizeof Ns[0]; b++)
                for (size_t c = 0; c < sizeof nks / sizeof nks[0]; c++)
                    for (int acc = 0; acc < 2; acc++)
                        check_shape(Ms[a], Ns[b], nks[c], acc, seed += 3);
    }
    assert_true(ran >= 1); /* the sgemm fallback runs everywhere */
}

/* C in row blocks of 7 and column blocks of 37 against one call. */
static void test_split_is_bit_identical(void **state)
{
    (void)state;
    if (nn_wgrad_use("avx512"))
        skip();
    int M = 61, N = 203, nk = 129;
    float *A = random_floats((long)nk * M, 7), *B = random_floats((long)nk * N, 8);
    float *whole = calloc((size_t)M * N, sizeof(float)), *parts = calloc((size_t)M * N, sizeof(float));
    nn_wgrad(M, N, nk, A, M, B, N, whole, N, 0);
    for (int i = 0; i < M; i += 7)
        for (int j = 0; j < N; j += 37) {
            int m = M - i < 7 ? M - i : 7, n = N - j < 37 ? N - j : 37;
            nn_wgrad(m, n, nk, A + i, M, B + j, N, parts + (long)i * N + j, N, 0);
        }
    assert_memory_equal(whole, parts, sizeof(float) * (size_t)M * N);
    free(A);
    free(B);
    free(whole);
    free(parts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernels_match_double),
        cmocka_unit_test(test_split_is_bit_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
