/* Short-fat Gram kernel (see gram.h). */
#include "gram.h"

#include <cblas.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define GRAM_X86 1
#endif

/* Columns per packed chunk: 64 rows x 512 floats = 128 KiB in L2; one row
 * pair of a tile (2 x 2 KiB) stays in L1. */
#define CHUNK 512
/* A row block of 4 starting at row i0 takes column blocks from j0 = i0 on
 * (not from the block boundary below it): only the 6 entries under the
 * diagonal of its first tile are wasted (K = 50 with 4 x 6 tiles: 1464
 * entries computed for the 1275 of the triangle, against 1656 from the
 * boundary). Rows are padded with zero rows up to K + 5, so every tile is
 * full (the AVX-512 tile is 4 x 6, the AVX2 one 4 x 3). */
static int pad_rows(int K) { return (K + 5 + 3) / 4 * 4; }

long nn_gram_buf_len(int K) { return (long)pad_rows(K) * CHUNK + (long)K * K; }

/* Copies columns [c0, c0 + n) of the K rows into buf (row stride n), zero
 * rows up to the padding. */
static void pack(int K, int Kp, const float *G, long ld, long c0, long n, float *buf)
{
    for (int i = 0; i < K; i++)
        memcpy(buf + (long)i * n, G + (long)i * ld + c0, sizeof(float) * (size_t)n);
    memset(buf + (long)K * n, 0, sizeof(float) * (size_t)n * (size_t)(Kp - K));
}

/* Adds a ri x rj tile of float sums at rows (i0, j0) to the upper triangle. */
static void add_tile(int K, double *A, int i0, int j0, int ri, int rj, const float *o)
{
    for (int i = 0; i < ri; i++)
        for (int j = 0; j < rj; j++) {
            int a = i0 + i, b = j0 + j;
            if (a < K && b < K && b >= a)
                A[(long)a * K + b] += o[i * rj + j];
        }
}

static void tail_cols(int K, const float *G, long ld, long c0, long n, double *A)
{
    for (long x = c0; x < n; x++)
        for (int i = 0; i < K; i++)
            for (int j = i; j < K; j++)
                A[(long)i * K + j] += (double)G[(long)i * ld + x] * G[(long)j * ld + x];
}

#ifdef GRAM_X86
#define TGT512 __attribute__((target("avx512f,avx2,fma")))
#define TGT256 __attribute__((target("avx2,fma")))

/* 4 x 6 tile over n floats (a multiple of 16) of rows a, a+n, .. and b, ..:
 * 24 accumulators, 6 + 1 operand registers of the 32. Named variables, not
 * an array: at -O2 an array of vectors would live in memory. */
#define TILE46(X)                                                                               \
    X(0, 0) X(0, 1) X(0, 2) X(0, 3) X(0, 4) X(0, 5) X(1, 0) X(1, 1) X(1, 2) X(1, 3) X(1, 4)     \
    X(1, 5) X(2, 0) X(2, 1) X(2, 2) X(2, 3) X(2, 4) X(2, 5) X(3, 0) X(3, 1) X(3, 2) X(3, 3)     \
    X(3, 4) X(3, 5)
TGT512 static void tile46(const float *a, const float *b, long n, float *out)
{
#define ZERO(i, j) __m512 c##i##j = _mm512_setzero_ps();
    TILE46(ZERO)
#undef ZERO
    for (long x = 0; x < n; x += 16) {
        __m512 v0 = _mm512_load_ps(b + x), v1 = _mm512_load_ps(b + n + x),
               v2 = _mm512_load_ps(b + 2 * n + x), v3 = _mm512_load_ps(b + 3 * n + x),
               v4 = _mm512_load_ps(b + 4 * n + x), v5 = _mm512_load_ps(b + 5 * n + x), u;
#define ROW512(i)                                                                               \
    u = _mm512_load_ps(a + (i) * n + x);                                                        \
    c##i##0 = _mm512_fmadd_ps(u, v0, c##i##0);                                                  \
    c##i##1 = _mm512_fmadd_ps(u, v1, c##i##1);                                                  \
    c##i##2 = _mm512_fmadd_ps(u, v2, c##i##2);                                                  \
    c##i##3 = _mm512_fmadd_ps(u, v3, c##i##3);                                                  \
    c##i##4 = _mm512_fmadd_ps(u, v4, c##i##4);                                                  \
    c##i##5 = _mm512_fmadd_ps(u, v5, c##i##5);
        ROW512(0)
        ROW512(1)
        ROW512(2)
        ROW512(3)
#undef ROW512
    }
#define SUM(i, j) out[(i) * 6 + (j)] = _mm512_reduce_add_ps(c##i##j);
    TILE46(SUM)
#undef SUM
}

TGT512 static void gram512(int K, const float *G, long ld, long n, double *A, float *buf)
{
    int Kp = pad_rows(K);
    long nv = n & ~15L;
    for (long c0 = 0; c0 < nv; c0 += CHUNK) {
        long w = nv - c0 < CHUNK ? nv - c0 : CHUNK;
        pack(K, Kp, G, ld, c0, w, buf);
        for (int i0 = 0; i0 < K; i0 += 4)
            for (int j0 = i0; j0 < K; j0 += 6) {
                float o[24];
                tile46(buf + (long)i0 * w, buf + (long)j0 * w, w, o);
                add_tile(K, A, i0, j0, 4, 6, o);
            }
    }
    tail_cols(K, G, ld, nv, n, A);
}

TGT256 static float hsum8(__m256 v)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* 4 x 3 tile: 12 accumulators, 3 + 1 operand registers of the 16. */
#define TILE43(X)                                                                               \
    X(0, 0) X(0, 1) X(0, 2) X(1, 0) X(1, 1) X(1, 2) X(2, 0) X(2, 1) X(2, 2) X(3, 0) X(3, 1)     \
    X(3, 2)
TGT256 static void tile43(const float *a, const float *b, long n, float *out)
{
#define ZERO(i, j) __m256 c##i##j = _mm256_setzero_ps();
    TILE43(ZERO)
#undef ZERO
    for (long x = 0; x < n; x += 8) {
        __m256 v0 = _mm256_load_ps(b + x), v1 = _mm256_load_ps(b + n + x),
               v2 = _mm256_load_ps(b + 2 * n + x), u;
#define ROW256(i)                                                                               \
    u = _mm256_load_ps(a + (i) * n + x);                                                        \
    c##i##0 = _mm256_fmadd_ps(u, v0, c##i##0);                                                  \
    c##i##1 = _mm256_fmadd_ps(u, v1, c##i##1);                                                  \
    c##i##2 = _mm256_fmadd_ps(u, v2, c##i##2);
        ROW256(0)
        ROW256(1)
        ROW256(2)
        ROW256(3)
#undef ROW256
    }
#define SUM(i, j) out[(i) * 3 + (j)] = hsum8(c##i##j);
    TILE43(SUM)
#undef SUM
}

TGT256 static void gram256(int K, const float *G, long ld, long n, double *A, float *buf)
{
    int Kp = pad_rows(K);
    long nv = n & ~7L;
    for (long c0 = 0; c0 < nv; c0 += CHUNK) {
        long w = nv - c0 < CHUNK ? nv - c0 : CHUNK;
        pack(K, Kp, G, ld, c0, w, buf);
        for (int i0 = 0; i0 < K; i0 += 4)
            for (int j0 = i0; j0 < K; j0 += 3) {
                float o[12];
                tile43(buf + (long)i0 * w, buf + (long)j0 * w, w, o);
                add_tile(K, A, i0, j0, 4, 3, o);
            }
    }
    tail_cols(K, G, ld, nv, n, A);
}
#endif

/* Anywhere else: ssyrk per chunk into the float K x K at the end of buf. */
static void gram_blas(int K, const float *G, long ld, long n, double *A, float *buf)
{
    float *Af = buf + (long)pad_rows(K) * CHUNK;
    for (long c0 = 0; c0 < n; c0 += 64L * CHUNK) {
        long w = n - c0 < 64L * CHUNK ? n - c0 : 64L * CHUNK;
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, K, (int)w, 1.0f, G + c0, (int)ld,
                    0.0f, Af, K);
        for (int i = 0; i < K; i++)
            for (int j = i; j < K; j++)
                A[(long)i * K + j] += Af[(long)i * K + j];
    }
}

enum { K_UNSET, K_512, K_256, K_BLAS };

/* Chosen at the first call; threads racing there all store the same value. */
static atomic_int kernel_choice = K_UNSET;

static int kernel(void)
{
    int which = atomic_load_explicit(&kernel_choice, memory_order_relaxed);
    if (which == K_UNSET) {
        int k = K_BLAS;
#ifdef GRAM_X86
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f"))
            k = K_512;
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            k = K_256;
#endif
        which = k;
        atomic_store_explicit(&kernel_choice, which, memory_order_relaxed);
    }
    return which;
}

const char *nn_gram_kernel(void)
{
    int k = kernel();
    return k == K_512 ? "avx512" : k == K_256 ? "avx2" : "ssyrk";
}

int nn_gram_use(const char *name)
{
    kernel();
    int want = !strcmp(name, "avx512") ? K_512 : !strcmp(name, "avx2") ? K_256
               : !strcmp(name, "ssyrk") ? K_BLAS : K_UNSET;
    if (want == K_UNSET)
        return -1;
#ifdef GRAM_X86
    if ((want == K_512 && !__builtin_cpu_supports("avx512f")) ||
        (want == K_256 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))))
        return -1;
#else
    if (want != K_BLAS)
        return -1;
#endif
    atomic_store_explicit(&kernel_choice, want, memory_order_relaxed);
    return 0;
}

void nn_gram_acc(int K, const float *G, long ld, long n, double *A, float *buf)
{
    if (K < 1 || n < 1)
        return;
    switch (kernel()) {
#ifdef GRAM_X86
    case K_512: gram512(K, G, ld, n, A, buf); return;
    case K_256: gram256(K, G, ld, n, A, buf); return;
#endif
    default: gram_blas(K, G, ld, n, A, buf); return;
    }
}
