/* The weight-gradient product behind the MLP's backward (nn_wgrad) and its
 * row-weighted form (nn_wgrad_scaled): every kernel this CPU runs (AVX-512,
 * the sgemm fallback) gives A^T B, A^T B + C and A^T diag(s) B to float
 * rounding against a double reference, for shapes that do and do not fill
 * its 5 x 80 blocks or its 256-row chunks (weighted), with row strides wider
 * than the rows, and writes nothing outside C's M x N entries. On AVX-512
 * each entry is exactly the in-order fused multiply-add sum over the rows
 * (so a weighted product split into row chunks is one pass), and any split
 * of C into row or column blocks gives the same C bit for bit (what makes
 * the nets' threaded products independent of the thread count). */
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

/* Row weights for the weighted product: in [-1, 1], every fifth one 0 (a
 * row outside every group). */
static float *row_weights(int nk, uint64_t seed)
{
    float *s = random_floats(nk > 0 ? nk : 1, seed);
    for (int r = 0; r < nk; r += 5)
        s[r] = 0.0f;
    return s;
}

/* One product (weighted when `weighted`: acc is then 0) against the double
 * reference; C's padding (columns N..ldc) holds a sentinel that must
 * survive. */
static void check_shape(int M, int N, int nk, int acc, int weighted, uint64_t seed)
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
    float *w = weighted ? row_weights(nk, seed + 3) : NULL;
    if (w)
        nn_wgrad_scaled(M, N, nk, A, lda, w, B, ldb, C, ldc);
    else
        nn_wgrad(M, N, nk, A, lda, B, ldb, C, ldc, acc);
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double s = acc ? C0[(long)i * ldc + j] : 0, mag = fabs(s);
            for (int r = 0; r < nk; r++) {
                double t = (double)A[(long)r * lda + i] * B[(long)r * ldb + j] * (w ? w[r] : 1);
                s += t;
                mag += fabs(t);
            }
            double got = C[(long)i * ldc + j];
            if (!(fabs(got - s) <= 2e-6 * mag + 1e-30))
                fail_msg("kernel %s M %d N %d nk %d acc %d weighted %d: C[%d][%d] = %.9g, "
                         "exact %.9g",
                         nn_wgrad_kernel(), M, N, nk, acc, weighted, i, j, got, s);
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
    free(w);
}

static void test_kernels_match_double(void **state)
{
    (void)state;
    static const int Ms[] = {1, 4, 5, 7, 13, 40};
    static const int Ns[] = {1, 15, 16, 17, 39, 80, 81, 97};
    static const int nks[] = {0, 1, 26, 256, 300, 513};
    int ran = 0;
    for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
        if (nn_wgrad_use(kernels[k]))
            continue; /* not on this CPU */
        ran++;
        uint64_t seed = 1;
        for (size_t a = 0; a < sizeof Ms / sizeof Ms[0]; a++)
            for (size_t b = 0; b < sizeof Ns / sizeof Ns[0]; b++)
                for (size_t c = 0; c < sizeof nks / sizeof nks[0]; c++)
                    for (int mode = 0; mode < 3; mode++) /* set, add, weighted */
                        check_shape(Ms[a], Ns[b], nks[c], mode == 1, mode == 2, seed += 4);
    }
    assert_true(ran >= 1); /* the sgemm fallback runs everywhere */
}

/* On AVX-512 an entry of C is the fused multiply-add sum over the rows in
 * order (from 0; with acc, C is added last): bit for bit what fmaf gives,
 * across the weighted product's row chunks, each row of B weighted first
 * in the weighted product. */
static void ordered_fma_sums(int M)
{
    int N = 90, nk = 600;
    float *A = random_floats((long)nk * M, 31), *B = random_floats((long)nk * N, 32);
    float *s = row_weights(nk, 33), *C = random_floats((long)M * N, 34);
    float *C0 = malloc(sizeof(float) * (size_t)M * N);
    memcpy(C0, C, sizeof(float) * (size_t)M * N);
    for (int mode = 0; mode < 3; mode++) { /* set, add, weighted */
        if (mode == 2)
            nn_wgrad_scaled(M, N, nk, A, M, s, B, N, C, N);
        else
            nn_wgrad(M, N, nk, A, M, B, N, C, N, mode);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                float want = 0.0f;
                for (int r = 0; r < nk; r++) {
                    float a = A[(long)r * M + i], b = B[(long)r * N + j];
                    if (mode == 2)
                        b *= s[r];
                    want = fmaf(a, b, want);
                }
                if (mode == 1)
                    want += C0[(long)i * N + j];
                if (memcmp(&want, &C[(long)i * N + j], sizeof want))
                    fail_msg("M %d mode %d: C[%d][%d] = %.9g, the ordered sum %.9g", M, mode, i,
                             j, C[(long)i * N + j], want);
            }
        memcpy(C, C0, sizeof(float) * (size_t)M * N);
    }
    free(A);
    free(B);
    free(s);
    free(C);
    free(C0);
}

static void test_avx512_is_the_ordered_fma_sum(void **state)
{
    (void)state;
    if (nn_wgrad_use("avx512"))
        skip();
    ordered_fma_sums(8);
    ordered_fma_sums(13);
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
        cmocka_unit_test(test_avx512_is_the_ordered_fma_sum),
        cmocka_unit_test(test_split_is_bit_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
