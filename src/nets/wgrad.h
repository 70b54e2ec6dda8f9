/* wgrad: the weight-gradient product of a dense layer, dW = D^T X summed
 * over the batch rows, for nets' backward passes (whole batch and per task).
 *
 * Why our own: measured on an AMD EPYC with AVX-512, one core, OpenBLAS
 * 0.3.21 (its Haswell kernels, which OPENBLAS_CORETYPE holds it to on some
 * machines, and its own Cooperlake choice) against this kernel:
 *   1300 x 400 x 400 (whole batch):  Haswell 3.85 ms, Cooperlake 2.09, ours 2.03
 *   50 tasks x 26 rows, 400 x 400:   Haswell 5.5 ms,  Cooperlake 2.2-2.4, ours 2.4
 * OpenBLAS's AVX2 kernels run these at about half of what the CPU does, and
 * the per-task products (26 rows each) lose another third to per-call
 * packing. The AVX-512 kernel needs no packing: a 5 x 80 block of dW stays in
 * 25 registers while the rows stream past. Elsewhere (no AVX-512) it is one
 * cblas_sgemm.
 *
 * Internal to nets (not part of nets.h); depends on cblas only. */
#ifndef MTRL_NETS_WGRAD_H
#define MTRL_NETS_WGRAD_H

/* Rows of C per register block of the AVX-512 kernel: row counts that are
 * multiples of it run fastest. */
#define NN_WGRAD_ROWS 5

/* C (M x N, row-major, stride ldc) = A^T B, plus C if acc. A: nk x M
 * (stride lda), B: nk x N (stride ldb), both row-major. Each entry is summed
 * over the nk rows in order, so any split of C into row or column blocks
 * gives the same C bit for bit. nk = 0 gives C = 0 (acc: C unchanged).
 * Calls single-threaded BLAS only on the fallback path. */
void nn_wgrad(int M, int N, int nk, const float *A, int lda, const float *B, int ldb, float *C,
              int ldc, int acc);

/* C = A^T diag(s) B: each of the nk rows weighted by s (a weighted sum of
 * per-row gradients, nn_mlp_grad_weighted). Overwrites C. Split-invariant
 * like nn_wgrad on the AVX-512 kernel; elsewhere one sgemm per run of equal
 * weights. */
void nn_wgrad_scaled(int M, int N, int nk, const float *A, int lda, const float *s,
                     const float *B, int ldb, float *C, int ldc);

/* Which kernel nn_wgrad uses here: "avx512" or "sgemm". */
const char *nn_wgrad_kernel(void);
/* Tests: switch to the named kernel if this CPU runs it; 0, or -1
 * (unchanged). Not thread-safe. */
int nn_wgrad_use(const char *name);

#endif
