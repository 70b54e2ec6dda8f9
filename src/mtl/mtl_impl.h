/* mtl_impl: the combiner's insides, shared by the method files of src/mtl
 * only (nothing outside src/mtl includes this). The K-dimensional solvers
 * work in double on a Gram that ssyrk accumulated in float. */
#ifndef MTRL_MTL_IMPL_H
#define MTRL_MTL_IMPL_H

#include "mtl/mtl.h"

struct mtl_combiner {
    mtl_options o;
    int K;          /* max rows */
    long P;
    rng_state rng;
    float *Af;      /* K x K, ssyrk output (upper triangle) */
    double *A;      /* K x K symmetric Gram of the rows being combined */
    double *wd;     /* K weights in double */
    float *w;       /* K weights, as reported and used by sgemv */
    double *work;   /* scratch for the solvers */
    long work_len;
    int *iwork;
    long iwork_len;
    float *rows;    /* CAGrad-Fast subset route: (fast_subset + 1) x P */
    float *state;   /* method state for checkpoints (none of the current methods) */
    long state_len;
};

/* Each fills wd[0..k) with the weights on the k rows of G (d = G^T w) from
 * the k x k Gram in c->A; *iters gets the solver's iteration count. */
void mtl_pcgrad_weights(mtl_combiner *c, int k, int *iters);
void mtl_cagrad_weights(mtl_combiner *c, int k, int *iters);
void mtl_mgda_weights(mtl_combiner *c, int k, int *iters);

/* CAGrad-Fast on the full route: draws S, builds the (|S|+1)-row Gram from
 * c->A by a congruence, solves, and expands the row coefficients back to
 * the k task weights in wd. With |S| >= k it is CAGrad on all k rows. */
void mtl_cagrad_fast_weights(mtl_combiner *c, int k, int *iters);
/* CAGrad-Fast on the subset route (|S| < k): draws S, gathers the |S| rows
 * and the remainder row into c->rows, forms their Gram, solves, and writes
 * d from the gathered rows. Fills w (expanded to the k tasks), the times,
 * g0_norm, d_norm, iters and nonfinite (d is unspecified then). */
void mtl_cagrad_fast_subset(mtl_combiner *c, int k, const float *G, float *d, mtl_stats *st);

/* The CAGrad dual (spec §5.1) on an n x n Gram A (destroyed: scaled in
 * place) whose rows h_j have the centre g0 = sum_j u_j h_j: writes the
 * coefficients coef[j] = u_j + lambda w*_j (before any rescale). work holds
 * at least mtl_cagrad_dual_work(n) doubles. Returns the kept iterate index. */
int mtl_cagrad_dual(int n, double *A, const double *u, double c, double lr, double momentum,
                    int steps, double *coef, double *work);
long mtl_cagrad_dual_work(int n);

/* Divisor the options give for CAGrad (fast = 0) or CAGrad-Fast (fast = 1). */
double mtl_rescale_factor(const mtl_options *o, int fast);

/* Copies the upper triangle of the float k x k ssyrk result into the full
 * symmetric double matrix A (both k x k, leading dimension k). */
void mtl_sym_to_double(int k, const float *Af, double *A);

#endif
