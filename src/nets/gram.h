/* gram: A += G G^T for a short-fat K x n block of gradient rows (K tasks,
 * n parameters), the kernel behind nn_bwd.gram. OpenBLAS's ssyrk runs this
 * shape (K ~ 10-50 rows, 10^5-10^6 columns) at a third of its sgemm rate
 * and on one thread; this kernel reads the rows in place, a column chunk
 * at a time (it stays in L2), and runs register tiles of the K x K triangle
 * over it with AVX-512 or AVX2+FMA, chosen at run time (the build targets
 * x86-64-v2), falling back to ssyrk elsewhere. Each chunk's float tile sums
 * are added into A in double, so long rows lose less than one float
 * accumulation over the whole row would. Measured on one core of an AMD
 * EPYC (Zen 5, AVX-512), MT50's critic-layer tiles (K = 50, 15600 columns):
 * AVX-512 ~190-205 GFLOP/s counting the triangle (the FMA peak is ~230,
 * OpenBLAS SkylakeX sgemm ~200), AVX2 ~100-110, ssyrk ~72.
 *
 * Internal to nets (not part of nets.h); depends on cblas only. */
#ifndef MTRL_NETS_GRAM_H
#define MTRL_NETS_GRAM_H

/* Floats of scratch nn_gram_acc needs for K rows (one buffer per thread). */
long nn_gram_buf_len(int K);

/* A (K x K, row-major, upper triangle i <= j only) += G G^T, G being K rows
 * of n floats at stride ld. buf: nn_gram_buf_len(K) floats, 64-byte
 * aligned. The summation order depends only on K and n, never on timing:
 * the same input gives the same A bit for bit. Calls single-threaded BLAS
 * only on the fallback path (the caller sets OpenBLAS's threads). */
void nn_gram_acc(int K, const float *G, long ld, long n, double *A, float *buf);

/* Which kernel nn_gram_acc uses here: "avx512", "avx2" or "ssyrk". */
const char *nn_gram_kernel(void);
/* Tests: switch to the named kernel ("avx512", "avx2", "ssyrk") if this CPU
 * runs it; returns 0, or -1 (unchanged) if not. Not thread-safe. */
int nn_gram_use(const char *name);

#endif
