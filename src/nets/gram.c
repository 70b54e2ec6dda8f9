/* Short-fat Gram kernel (see gram.h). */
#include "gram.h"

#include <cblas.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define GRAM_X86 1
#endif

/* Columns per chunk: see the AVX-512 kernel. */
#define CHUNK 1024
/* Columns per ssyrk call of the fallback. */
#define BLAS_CHUNK 32768

/* A zero row of CHUNK floats (rows past K - 1 of a block read it), or the
 * fallback's float K x K. */
long nn_gram_buf_len(int K) { return CHUNK > (long)K * K ? CHUNK : (long)K * K; }

/* Columns [c0, n) (past the last whole vector) in double, scalar. */
static void tail_cols(int K, const float *G, long ld, long c0, long n, double *A)
{
    for (long x = c0; x < n; x++)
        for (int i = 0; i < K; i++)
            for (int j = i; j < K; j++)
                A[(long)i * K + j] += (double)G[(long)i * ld + x] * G[(long)j * ld + x];
}

/* Which entries of row r of a diagonal tile (rows and columns i0 .. i0 +
 * width - 1) are in the upper triangle of the K x K: bit l for column
 * i0 + l, l >= r, i0 + l < K; none for a row past K - 1. */
static unsigned tri_mask(int K, int i0, int r, int width)
{
    if (i0 + r >= K)
        return 0;
    int cols = K - i0 < width ? K - i0 : width;
    return ((1u << cols) - 1) & ~((1u << r) - 1);
}

#ifdef GRAM_X86
#define TGT512 __attribute__((target("avx512f,avx2,fma")))
#define TGT256 __attribute__((target("avx2,fma")))
#define INLINE512 TGT512 __attribute__((always_inline)) static inline
#define INLINE256 TGT256 __attribute__((always_inline)) static inline

/* The AVX-512 kernel reads the rows where they are (no packing: a copy of
 * the chunk cost a fifth of the time and the rows are in cache anyway) in
 * chunks of CHUNK columns: K rows of 4 KiB stay in L2 while a row block
 * of 6 (24 KiB) stays in L1 and the tiles stream their 4 partner rows
 * (measured on MT50's tiles: 512 and 768 as fast, 1536 and 2048 10-25%
 * slower). Each chunk's sums go into A in double. The AVX2 kernel and the
 * walker over the tiles (chunk) come after it. */

/* Sums of pairs, quads and eighths of lanes, keeping the sources apart: the
 * levels of a reduction of up to 16 accumulators to one vector of their 16
 * totals, 3 instructions a pair instead of ~8 per _mm512_reduce_add_ps.
 * sum2(a, b), per 128-bit lane: [a0+a2, b0+b2, a1+a3, b1+b3]. */
INLINE512 __m512 sum2(__m512 a, __m512 b)
{
    return _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
}
/* Two sum2 results: per 128-bit lane the totals of a, b, c, d there. */
INLINE512 __m512 sum4(__m512 x, __m512 y)
{
    return _mm512_add_ps(_mm512_shuffle_ps(x, y, 0x44), _mm512_shuffle_ps(x, y, 0xEE));
}
/* Adds 128-bit blocks 0+1 and 2+3 of p, then of q: twice, on sum4 results,
 * gives 16 totals in source order. */
INLINE512 __m512 sum8(__m512 p, __m512 q)
{
    return _mm512_add_ps(_mm512_shuffle_f32x4(p, q, 0x88), _mm512_shuffle_f32x4(p, q, 0xDD));
}

/* The 16 floats at row + x, fetching the row two lines ahead into L1
 * (prefetch): streamed rows off 64-byte alignment (MT50's, whose parameter
 * count is not a multiple of 16) ran 13% slower than aligned ones without
 * it, 5% with it; aligned ones as fast either way. */
INLINE512 __m512 stream_row(const float *row, long x, int prefetch)
{
    if (prefetch)
        _mm_prefetch((const char *)(row + x + 32), _MM_HINT_T0);
    return _mm512_loadu_ps(row + x);
}

/* A tile's accumulators, named variables (an array of vectors would live in
 * memory at -O2): c<i><j> for a row i < 6 of the block and a partner j < 6
 * (off the diagonal j < 4). */
#define ACC66(X)                                                                                \
    X(0, 0) X(0, 1) X(0, 2) X(0, 3) X(0, 4) X(0, 5) X(1, 0) X(1, 1) X(1, 2) X(1, 3) X(1, 4)     \
    X(1, 5) X(2, 0) X(2, 1) X(2, 2) X(2, 3) X(2, 4) X(2, 5) X(3, 0) X(3, 1) X(3, 2) X(3, 3)     \
    X(3, 4) X(3, 5) X(4, 0) X(4, 1) X(4, 2) X(4, 3) X(4, 4) X(4, 5) X(5, 0) X(5, 1) X(5, 2)     \
    X(5, 3) X(5, 4) X(5, 5)

/* Dots of the block's rows a[0..5] with rows b[0..nc) over w columns (a
 * multiple of 16). Off the diagonal, 6 x 4: 24 accumulators and 4 + 1
 * operands; the block's rows are read from L1, the 4 partner rows stream
 * from L2 (6 x 4 measured 3-5% faster than 4 x 6, which streams 6). On the
 * diagonal (diag: b is a, nc = 6) the 21 entries j >= i. nc and diag are
 * constants where this is inlined, so unused accumulators vanish.
 * s[r / 2] gets row r in lanes 8 (r % 2) .. 8 (r % 2) + nc - 1. */
INLINE512 void tile512(const float *const *a, const float *const *b, long w, int nc, int diag,
                       __m512 *s)
{
#define ON(i, j) ((j) < nc && (!diag || (j) >= (i)))
#define ZERO(i, j) __m512 c##i##j = _mm512_setzero_ps();
    ACC66(ZERO)
#undef ZERO
    const __m512 z = _mm512_setzero_ps();
    for (long x = 0; x < w; x += 16) {
#define LOADB(j) nc > (j) ? stream_row(b[j], x, !diag) : z
        __m512 v0 = LOADB(0), v1 = LOADB(1), v2 = LOADB(2), v3 = LOADB(3), v4 = LOADB(4),
               v5 = LOADB(5), u;
#undef LOADB
#define FMA(i, j)                                                                               \
    if (ON(i, j))                                                                               \
        c##i##j = _mm512_fmadd_ps(u, v##j, c##i##j);
#define ROW(i)                                                                                  \
    u = diag ? v##i : _mm512_loadu_ps(a[i] + x);                                                \
    FMA(i, 0) FMA(i, 1) FMA(i, 2) FMA(i, 3) FMA(i, 4) FMA(i, 5)
        ROW(0)
        ROW(1)
        ROW(2)
        ROW(3)
        ROW(4)
        ROW(5)
#undef ROW
#undef FMA
    }
#undef ON
    /* Each row as 8 slots (its 6 partners, 2 zeros). */
#define ROW8(i)                                                                                 \
    sum4(sum2(c##i##0, c##i##1), sum2(c##i##2, c##i##3)), sum4(sum2(c##i##4, c##i##5), z)
    s[0] = sum8(sum8(ROW8(0)), sum8(ROW8(1)));
    s[1] = sum8(sum8(ROW8(2)), sum8(ROW8(3)));
    s[2] = sum8(sum8(ROW8(4)), sum8(ROW8(5)));
#undef ROW8
}

/* Adds the tile sums s (tile512) of rows i0.. and columns j0.. to A in
 * double; row r's mask m[r] says which of its 6 entries are in the upper
 * triangle of the K x K (none: a row past K - 1). */
INLINE512 void add_sums(int K, double *A, int i0, int j0, const __m512 *s, const __mmask8 *m)
{
    for (int r = 0; r < 6; r++) {
        if (!m[r])
            continue; /* a row past K - 1 */
        __m512 v = s[r / 2];
        __m256 h = r % 2 ? _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))
                         : _mm512_castps512_ps256(v);
        double *row = A + (long)(i0 + r) * K + j0;
        __m512d d = _mm512_add_pd(_mm512_maskz_loadu_pd(m[r], row), _mm512_cvtps_pd(h));
        _mm512_mask_storeu_pd(row, m[r], d);
    }
}

/* The tiles of one row block at (i0, j0) (gram_kernel): off the diagonal
 * one per width nc (the last of a row block is narrower where K - 6 - i0 is
 * not a multiple of 4), and the triangle (b is a). */
#define TILE512(name, nc, diag)                                                                 \
    TGT512 static void name(const float *const *a, const float *const *b, long w, int K,        \
                            double *A, int i0, int j0, const unsigned *m)                       \
    {                                                                                           \
        __m512 s[3];                                                                            \
        __mmask8 m8[6];                                                                         \
        tile512(a, diag ? a : b, w, nc, diag, s);                                               \
        for (int r = 0; r < 6; r++)                                                             \
            m8[r] = (__mmask8)m[r];                                                             \
        add_sums(K, A, i0, j0, s, m8);                                                          \
    }
TILE512(tile6x1, 1, 0)
TILE512(tile6x2, 2, 0)
TILE512(tile6x3, 3, 0)
TILE512(tile6x4, 4, 0)
TILE512(tile6_diag, 6, 1)
#undef TILE512

/* The AVX2 kernel, the same scheme in 16 registers: row blocks of 4 (in L1)
 * against 3 streamed partner rows, 12 accumulators + 3 + 1 operands; the
 * diagonal triangle of 4 rows has 10 entries. */

/* sum2/sum4 as above in each 128-bit lane; sum8 adds the two lanes: the 8
 * totals of 8 accumulators in source order. */
INLINE256 __m256 sum2_256(__m256 a, __m256 b)
{
    return _mm256_add_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
}
INLINE256 __m256 sum4_256(__m256 x, __m256 y)
{
    return _mm256_add_ps(_mm256_shuffle_ps(x, y, 0x44), _mm256_shuffle_ps(x, y, 0xEE));
}
INLINE256 __m256 sum8_256(__m256 p, __m256 q)
{
    return _mm256_add_ps(_mm256_permute2f128_ps(p, q, 0x20), _mm256_permute2f128_ps(p, q, 0x31));
}

/* As ACC66, rows i < 4 and partners j < 4 (off the diagonal j < 3). */
#define ACC44(X)                                                                                \
    X(0, 0) X(0, 1) X(0, 2) X(0, 3) X(1, 0) X(1, 1) X(1, 2) X(1, 3) X(2, 0) X(2, 1) X(2, 2)     \
    X(2, 3) X(3, 0) X(3, 1) X(3, 2) X(3, 3)

/* Rows a[0..3] against b[0..nc) (nc <= 3; diag: b is a, nc = 4, j >= i).
 * s[r / 2] gets row r in lanes 4 (r % 2) .. 4 (r % 2) + 3. */
INLINE256 void tile256(const float *const *a, const float *const *b, long w, int nc, int diag,
                       __m256 *s)
{
#define ON(i, j) ((j) < nc && (!diag || (j) >= (i)))
#define ZERO(i, j) __m256 c##i##j = _mm256_setzero_ps();
    ACC44(ZERO)
#undef ZERO
    const __m256 z = _mm256_setzero_ps();
    for (long x = 0; x < w; x += 8) {
#define LOADB(j) nc > (j) ? _mm256_loadu_ps(b[j] + x) : z
        __m256 v0 = LOADB(0), v1 = LOADB(1), v2 = LOADB(2), v3 = LOADB(3), u;
#undef LOADB
#define FMA(i, j)                                                                               \
    if (ON(i, j))                                                                               \
        c##i##j = _mm256_fmadd_ps(u, v##j, c##i##j);
#define ROW(i)                                                                                  \
    u = diag ? v##i : _mm256_loadu_ps(a[i] + x);                                                \
    FMA(i, 0) FMA(i, 1) FMA(i, 2) FMA(i, 3)
        ROW(0)
        ROW(1)
        ROW(2)
        ROW(3)
#undef ROW
#undef FMA
    }
#undef ON
#define ROW4(i) sum4_256(sum2_256(c##i##0, c##i##1), sum2_256(c##i##2, c##i##3))
    s[0] = sum8_256(ROW4(0), ROW4(1));
    s[1] = sum8_256(ROW4(2), ROW4(3));
#undef ROW4
}

/* Adds the sums s (tile256) of rows i0.. and columns j0.. to A in double,
 * row r's entries where bit l of m[r] is set. */
INLINE256 void add_sums256(int K, double *A, int i0, int j0, const __m256 *s, const unsigned *m)
{
    float o[16];
    _mm256_storeu_ps(o, s[0]);
    _mm256_storeu_ps(o + 8, s[1]);
    for (int r = 0; r < 4; r++)
        for (int l = 0; l < 4; l++)
            if (m[r] >> l & 1)
                A[(long)(i0 + r) * K + j0 + l] += o[4 * r + l];
}

/* As TILE512: row blocks of 4, 4 x 3 tiles. */
#define TILE256(name, nc, diag)                                                                 \
    TGT256 static void name(const float *const *a, const float *const *b, long w, int K,        \
                            double *A, int i0, int j0, const unsigned *m)                       \
    {                                                                                           \
        __m256 s[2];                                                                            \
        tile256(a, diag ? a : b, w, nc, diag, s);                                               \
        add_sums256(K, A, i0, j0, s, m);                                                        \
    }
TILE256(tile4x1, 1, 0)
TILE256(tile4x2, 2, 0)
TILE256(tile4x3, 3, 0)
TILE256(tile4_diag, 4, 1)
#undef TILE256

/* A SIMD kernel: row blocks of `rows` rows, each its triangle (diag) and
 * tiles of rows x cols after it (off[nc] for nc <= cols partner rows);
 * columns in vectors of vec floats. A tile adds its sums into A, entry
 * (i0 + r, j0 + l) where bit l of m[r] is set. */
typedef void tile_fn(const float *const *a, const float *const *b, long w, int K, double *A,
                     int i0, int j0, const unsigned *m);
typedef struct gram_kernel {
    int rows, cols, vec;
    tile_fn *diag, *off[5];
} gram_kernel;

static const gram_kernel k512 = {6, 4, 16, tile6_diag, {NULL, tile6x1, tile6x2, tile6x3, tile6x4}};
static const gram_kernel k256 = {4, 3, 8, tile4_diag, {NULL, tile4x1, tile4x2, tile4x3}};

/* One chunk of w columns from column c0, row block by row block: every entry
 * of the triangle is computed once (rows past K - 1 of the last block read
 * the zero row, their sums are dropped). */
static void chunk(const gram_kernel *k, int K, const float *G, long ld, long c0, long w, double *A,
                  const float *zero)
{
    for (int i0 = 0; i0 < K; i0 += k->rows) {
        const float *p[6], *b[4];
        unsigned m[6];
        for (int r = 0; r < k->rows; r++) {
            p[r] = i0 + r < K ? G + (long)(i0 + r) * ld + c0 : zero;
            m[r] = tri_mask(K, i0, r, k->rows);
        }
        k->diag(p, p, w, K, A, i0, i0, m);
        for (int j0 = i0 + k->rows; j0 < K; j0 += k->cols) {
            int nc = K - j0 < k->cols ? K - j0 : k->cols;
            for (int r = 0; r < nc; r++)
                b[r] = G + (long)(j0 + r) * ld + c0;
            for (int r = 0; r < k->rows; r++)
                m[r] = (1u << nc) - 1;
            k->off[nc](p, b, w, K, A, i0, j0, m);
        }
    }
}

/* Whole vectors in chunks of CHUNK columns, each chunk's sums into A in
 * double; the tail in double. */
static void gram_simd(const gram_kernel *k, int K, const float *G, long ld, long n, double *A,
                      float *buf)
{
    long nv = n / k->vec * k->vec;
    memset(buf, 0, sizeof(float) * CHUNK);
    for (long c0 = 0; c0 < nv; c0 += CHUNK)
        chunk(k, K, G, ld, c0, nv - c0 < CHUNK ? nv - c0 : CHUNK, A, buf);
    tail_cols(K, G, ld, nv, n, A);
}
#endif

/* Anywhere else: ssyrk per BLAS_CHUNK columns into the float K x K buf. */
static void gram_blas(int K, const float *G, long ld, long n, double *A, float *buf)
{
    for (long c0 = 0; c0 < n; c0 += BLAS_CHUNK) {
        long w = n - c0 < BLAS_CHUNK ? n - c0 : BLAS_CHUNK;
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, K, (int)w, 1.0f, G + c0, (int)ld,
                    0.0f, buf, K);
        for (int i = 0; i < K; i++)
            for (int j = i; j < K; j++)
                A[(long)i * K + j] += buf[(long)i * K + j];
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
    case K_512: gram_simd(&k512, K, G, ld, n, A, buf); return;
    case K_256: gram_simd(&k256, K, G, ld, n, A, buf); return;
#endif
    default: gram_blas(K, G, ld, n, A, buf); return;
    }
}
