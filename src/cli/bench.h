/* bench: what the `mtrl bench` subcommands share. The sgemm reference (this
 * machine's single-precision matrix product rate on the shapes of a 400-wide
 * hidden layer at the training batch, timed round by round between the cases
 * it is compared with, so load from other processes hits both alike) and
 * order statistics of timing samples. cli-internal: nothing outside src/cli
 * includes it, and it depends on core, nets and cblas only. */
#ifndef MTRL_CLI_BENCH_H
#define MTRL_CLI_BENCH_H

#include "core/err.h"
#include "core/rng.h"

/* The three products of one dense layer Y = X W^T with B rows, H inputs and
 * H outputs: forward (NT), weight gradient (TN, the reduction over the
 * batch) and backprop signal (NN). */
typedef struct bench_sgemm {
    int B, H;
    float *x, *w, *y, *gw;
    /* With the nets' own threads (nn_set_threads > 0) the products run as a
     * one-layer MLP's forward and backward, split over threads as the
     * networks' are (plus a bias add and a bias gradient: B H each), so the
     * weight gradient (TN) goes through the nets' own kernel (nn_wgrad)
     * like theirs, the other two through OpenBLAS. */
    struct nn_mlp *mlp;
    struct nn_params *p;
} bench_sgemm;

/* Operands drawn from r. MTRL_ENOMEM if they do not fit. */
int bench_sgemm_init(bench_sgemm *s, int B, int H, rng_state *r, mtrl_err *e);
void bench_sgemm_free(bench_sgemm *s);
/* Runs the three products once (on the threads the networks use); returns
 * the seconds they took. */
double bench_sgemm_round(bench_sgemm *s);
/* Floating-point operations of one round (3 x 2 B H H). */
double bench_sgemm_flops(const bench_sgemm *s);

/* Median of v[0..n) (n >= 1); sorts v in place, so v[0] and v[n-1] are then
 * the minimum and the maximum. */
double bench_median(double *v, int n);

/* One line on stdout when OPENBLAS_CORETYPE holds OpenBLAS to kernels
 * without AVX-512 on a CPU that has it (some machines set it on purpose: older
 * OpenBLAS builds fail on some CPUs): the figures are then not what the CPU
 * can do. Measured on an AMD EPYC with AVX-512, OpenBLAS 0.3.21: sgemm
 * 1300x400x400 on one core, Haswell 105 GFLOP/s, its own Cooperlake choice
 * 201. Nothing otherwise. */
void bench_print_blas_note(void);

#endif
