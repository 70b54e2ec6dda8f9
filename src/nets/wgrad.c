/* Weight-gradient products C = A^T B (see wgrad.h). Built with -O3 (Makefile):
 * at -O2 gcc keeps the block's accumulator array in memory (measured: 126-154
 * against 169-176 GFLOP/s on the per-task products). */
#include "wgrad.h"

#include <cblas.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define WGRAD_X86 1
#endif

static void wgrad_blas(int M, int N, int nk, const float *A, int lda, const float *B, int ldb,
                       float *C, int ldc, int acc)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, nk, 1.0f, A, lda, B, ldb,
                acc ? 1.0f : 0.0f, C, ldc);
}

#ifdef WGRAD_X86
#define TGT512 __attribute__((target("avx512f,avx2,fma")))

/* Rows per block of C, and columns (16-float vectors) per block: 5 x 5
 * accumulators + 5 operands + 1 broadcast fill 31 of the 32 registers.
 * Measured against 8 x 3, 6 x 4, 4 x 5 (per-task products, 26 rows): 5 x 5
 * was the fastest, and 400 = 5 x 80 leaves no tail on 400-wide layers. */
enum { MR = NN_WGRAD_ROWS, NV = 5 };

/* What a block does with C: overwrite it, add to it (the sum over the rows
 * first, then C), or go on from it (C holds the sum over earlier rows:
 * the accumulators start from it, so a sum split into row chunks gives the
 * same bits as one pass). */
enum { C_SET, C_ADD, C_CONTINUE };

/* One mr x (nv vectors) block of C; the last vector's lanes are masked by
 * `last` (the column tail). always_inline with constant mr and nv: the loops
 * unroll and the accumulators live in registers. */
static inline __attribute__((always_inline)) TGT512 void block(int mr, int nv, int nk,
                                                               const float *A, int lda,
                                                               const float *B, int ldb, float *C,
                                                               int ldc, int mode, __mmask16 last)
{
    __m512 c[MR][NV];
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < nv; v++)
            c[i][v] = mode == C_CONTINUE
                          ? _mm512_maskz_loadu_ps(v == nv - 1 ? last : (__mmask16)0xFFFF,
                                                  C + (long)i * ldc + 16 * v)
                          : _mm512_setzero_ps();
    for (int r = 0; r < nk; r++) {
        const float *b = B + (long)r * ldb, *a = A + (long)r * lda;
        __m512 bv[NV];
        for (int v = 0; v < nv - 1; v++)
            bv[v] = _mm512_loadu_ps(b + 16 * v);
        bv[nv - 1] = _mm512_maskz_loadu_ps(last, b + 16 * (nv - 1));
        for (int i = 0; i < mr; i++) {
            __m512 ai = _mm512_set1_ps(a[i]);
            for (int v = 0; v < nv; v++)
                c[i][v] = _mm512_fmadd_ps(ai, bv[v], c[i][v]);
        }
    }
    for (int i = 0; i < mr; i++) {
        float *ci = C + (long)i * ldc;
        for (int v = 0; v < nv; v++) {
            __mmask16 m = v == nv - 1 ? last : (__mmask16)0xFFFF;
            __m512 x = c[i][v];
            if (mode == C_ADD)
                x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, ci + 16 * v));
            _mm512_mask_storeu_ps(ci + 16 * v, m, x);
        }
    }
}

/* All row blocks of one column block of nv vectors: full blocks of MR rows,
 * then the rows left. One function per nv with the blocks inlined into its
 * loop (as separate small functions gcc kept the accumulators in memory,
 * 2.8x slower). */
#define PANEL(v)                                                                                \
    TGT512 static void panel_##v(int M, int nk, const float *A, int lda, const float *B,        \
                                 int ldb, float *C, int ldc, int mode, __mmask16 last)          \
    {                                                                                           \
        int i = 0;                                                                              \
        for (; i + MR <= M; i += MR)                                                            \
            block(MR, v, nk, A + i, lda, B, ldb, C + (long)i * ldc, ldc, mode, last);           \
        switch (M - i) {                                                                        \
        case 4: block(4, v, nk, A + i, lda, B, ldb, C + (long)i * ldc, ldc, mode, last);        \
            break;                                                                              \
        case 3: block(3, v, nk, A + i, lda, B, ldb, C + (long)i * ldc, ldc, mode, last);        \
            break;                                                                              \
        case 2: block(2, v, nk, A + i, lda, B, ldb, C + (long)i * ldc, ldc, mode, last);        \
            break;                                                                              \
        case 1: block(1, v, nk, A + i, lda, B, ldb, C + (long)i * ldc, ldc, mode, last);        \
            break;                                                                              \
        default: break;                                                                         \
        }                                                                                       \
    }
PANEL(1)
PANEL(2)
PANEL(3)
PANEL(4)
PANEL(5)
#undef PANEL

typedef void (*panel_fn)(int M, int nk, const float *A, int lda, const float *B, int ldb,
                         float *C, int ldc, int mode, __mmask16 last);
static const panel_fn panels[NV] = {panel_1, panel_2, panel_3, panel_4, panel_5};

/* The mask of the last vector of a column block of `cols` (<= 80). */
static __mmask16 tail_mask(int cols)
{
    int tail = cols - 16 * ((cols - 1) / 16);
    return (__mmask16)(tail >= 16 ? 0xFFFF : (1u << tail) - 1);
}

/* Column blocks of 80 outer, row blocks inner: a block's nk x 80 slice of B
 * is read by every row block in turn while it is in cache. */
TGT512 static void wgrad512(int M, int N, int nk, const float *A, int lda, const float *B, int ldb,
                            float *C, int ldc, int acc)
{
    for (int j = 0; j < N; j += 16 * NV) {
        int cols = N - j < 16 * NV ? N - j : 16 * NV;
        panels[(cols + 15) / 16 - 1](M, nk, A, lda, B + j, ldb, C + j, ldc, acc ? C_ADD : C_SET,
                                     tail_mask(cols));
    }
}

/* Rows of B per chunk of the weighted product: its 80-column slice of B,
 * each row times its weight, is copied once (80 KB on the stack, in cache)
 * for all the row blocks of C. Weighting inside the block instead cost a
 * multiply per row and vector for every row block: 177 against 209 GFLOP/s
 * on one core (1300 x 400 x 400). The copy prefetches PACK_AHEAD rows
 * ahead: its rows are 80 floats of wider rows, which the hardware
 * prefetcher did not follow (MT50 critic's weighted pass on two threads,
 * median of 40: 3.06-3.10 -> 2.91-3.01 ms). */
enum { SCALE_ROWS = 256, PACK_AHEAD = 16 };

/* dst (nr rows of 80 floats, 64-byte aligned) = the first `width` (<= 80)
 * floats of each of the nr rows of src (stride ld) times its weight; lanes
 * past width are zero. */
TGT512 static void weigh_rows(int nr, int width, const float *src, long ld, const float *s,
                              float *dst)
{
    int nv = (width + 15) / 16;
    __mmask16 last = tail_mask(width);
    for (int r = 0; r < nr; r++) {
        const float *x = src + (long)r * ld;
        __m512 sr = _mm512_set1_ps(s[r]);
        for (int v = 0; v < nv; v++) {
            if (r + PACK_AHEAD < nr)
                _mm_prefetch((const char *)(x + (long)PACK_AHEAD * ld + 16 * v), _MM_HINT_T0);
            __m512 y = _mm512_maskz_loadu_ps(v == nv - 1 ? last : (__mmask16)0xFFFF, x + 16 * v);
            _mm512_store_ps(dst + (long)r * 16 * NV + 16 * v, _mm512_mul_ps(y, sr));
        }
    }
}

TGT512 static void wgrad512_scaled(int M, int N, int nk, const float *A, int lda, const float *s,
                                   const float *B, int ldb, float *C, int ldc)
{
    float chunk[SCALE_ROWS * 16 * NV] __attribute__((aligned(64)));
    for (int j = 0; j < N; j += 16 * NV) {
        int cols = N - j < 16 * NV ? N - j : 16 * NV;
        /* nk = 0: one empty chunk, which sets C to 0 */
        for (int r0 = 0; r0 == 0 || r0 < nk; r0 += SCALE_ROWS) {
            int nr = nk - r0 < SCALE_ROWS ? nk - r0 : SCALE_ROWS;
            weigh_rows(nr, cols, B + (long)r0 * ldb + j, ldb, s + r0, chunk);
            panels[(cols + 15) / 16 - 1](M, nr, A + (long)r0 * lda, lda, chunk, 16 * NV, C + j,
                                         ldc, r0 ? C_CONTINUE : C_SET, tail_mask(cols));
        }
    }
}
#endif

enum { K_UNSET, K_512, K_BLAS };

/* Chosen at the first call; threads racing there all store the same value. */
static atomic_int kernel_choice = K_UNSET;

static int cpu_has_avx512(void)
{
#ifdef WGRAD_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

static int kernel(void)
{
    int which = atomic_load_explicit(&kernel_choice, memory_order_relaxed);
    if (which == K_UNSET) {
        which = cpu_has_avx512() ? K_512 : K_BLAS;
        atomic_store_explicit(&kernel_choice, which, memory_order_relaxed);
    }
    return which;
}

const char *nn_wgrad_kernel(void) { return kernel() == K_512 ? "avx512" : "sgemm"; }

int nn_wgrad_use(const char *name)
{
    int want = !strcmp(name, "avx512") ? K_512 : !strcmp(name, "sgemm") ? K_BLAS : K_UNSET;
    if (want == K_UNSET || (want == K_512 && !cpu_has_avx512()))
        return -1;
    atomic_store_explicit(&kernel_choice, want, memory_order_relaxed);
    return 0;
}

void nn_wgrad(int M, int N, int nk, const float *A, int lda, const float *B, int ldb, float *C,
              int ldc, int acc)
{
    if (M < 1 || N < 1)
        return;
#ifdef WGRAD_X86
    if (kernel() == K_512) {
        wgrad512(M, N, nk, A, lda, B, ldb, C, ldc, acc);
        return;
    }
#endif
    wgrad_blas(M, N, nk, A, lda, B, ldb, C, ldc, acc);
}

/* Elsewhere: one sgemm per run of rows with the same scale (alpha), added. */
static void wgrad_scaled_blas(int M, int N, int nk, const float *A, int lda, const float *s,
                              const float *B, int ldb, float *C, int ldc)
{
    int first = 1;
    for (int r0 = 0; r0 < nk;) {
        int r1 = r0 + 1;
        while (r1 < nk && s[r1] == s[r0])
            r1++;
        if (s[r0] != 0.0f) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, r1 - r0, s[r0],
                        A + (long)r0 * lda, lda, B + (long)r0 * ldb, ldb, first ? 0.0f : 1.0f,
                        C, ldc);
            first = 0;
        }
        r0 = r1;
    }
    if (first)
        for (int i = 0; i < M; i++)
            memset(C + (long)i * ldc, 0, sizeof(float) * (size_t)N);
}

void nn_wgrad_scaled(int M, int N, int nk, const float *A, int lda, const float *s,
                     const float *B, int ldb, float *C, int ldc)
{
    if (M < 1 || N < 1)
        return;
#ifdef WGRAD_X86
    if (kernel() == K_512) {
        wgrad512_scaled(M, N, nk, A, lda, s, B, ldb, C, ldc);
        return;
    }
#endif
    wgrad_scaled_blas(M, N, nk, A, lda, s, B, ldb, C, ldc);
}
