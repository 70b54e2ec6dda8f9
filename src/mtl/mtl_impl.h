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
    float *fs;      /* GradDrop: per-block float scratch (4 x MTL_GD_BLOCK) */
    int *tasks;     /* K: task index of each row of the current call */
    /* CAGrad-Fast, caller-formed rows (mtl_fast_draw): the drawn S as
     * draw_subset leaves it (K) and membership flags (K); fast_k is the k of
     * the pending draw, 0 when none is pending. */
    int *fast_perm;
    int fast_k;
    /* The Gram of the given rows for mtl_cagrad_fast_given (the caller's,
     * upper triangle), or NULL: ssyrk. Set for one call only. */
    const double *given_gram;
    /* Method state, kept in the float layout it is checkpointed in, so a
     * restored combiner continues bit for bit: Nash-MTL (K + 2) and FAMO
     * (5K + 2), see nash.c and famo.c. */
    float *state;
    long state_len;
};

/* Coordinates per GradDrop block (its scratch lives in fs). */
#define MTL_GD_BLOCK 1024

/* Each fills wd[0..k) with the weights on the k rows of G (d = G^T w) from
 * the k x k Gram in c->A; *iters gets the solver's iteration count. */
void mtl_pcgrad_weights(mtl_combiner *c, int k, int *iters);
void mtl_cagrad_weights(mtl_combiner *c, int k, int *iters);
void mtl_mgda_weights(mtl_combiner *c, int k, int *iters);
void mtl_aligned_weights(mtl_combiner *c, int k, int *iters);
void mtl_imtl_weights(mtl_combiner *c, int k, int *iters);
void mtl_upgrad_weights(mtl_combiner *c, int k, int *iters);
void mtl_dualproj_weights(mtl_combiner *c, int k, int *iters);
void mtl_config_weights(mtl_combiner *c, int k, int *iters);

/* Weights that do not look at G: RLW draws them; FAMO computes them from the
 * losses and its logits and records the call for mtl_famo_after_step
 * (checked, >= 0 losses). Both fill wd[0..k). */
void mtl_rlw_weights(mtl_combiner *c, int k);
void mtl_famo_weights(mtl_combiner *c, int k, const float *losses);
void mtl_famo_cancel(mtl_combiner *c); /* the combine was skipped */
int mtl_famo_after_step(mtl_combiner *c, const float *losses_after, mtrl_err *e);
long mtl_famo_state_len(int K);
void mtl_famo_init_state(mtl_combiner *c);

/* Nash-MTL: 1 if this call reuses the cached alpha (and advances the call
 * counter either way when told by mtl_nash_count). mtl_nash_weights solves
 * from c->A (Gram calls), mtl_nash_cached fills wd from the cache; both
 * apply nothing of the max-norm (the pipeline does, knowing ||d||). */
int mtl_nash_reuse(const mtl_combiner *c);
void mtl_nash_count(mtl_combiner *c);
void mtl_nash_weights(mtl_combiner *c, int k, int *iters, int *fallback);
void mtl_nash_cached(mtl_combiner *c, int k);
long mtl_nash_state_len(int K);
void mtl_nash_init_state(mtl_combiner *c);

/* GradDrop over G in one pass: writes d and the stats (w = the common
 * rescaling factor, g0_norm, d_norm, nonfinite, times). */
void mtl_graddrop(mtl_combiner *c, int k, const float *G, float *d, mtl_stats *st);

/* A Gamma(shape, 1) draw (Marsaglia & Tsang 2000; shape < 1 by the
 * U^(1/shape) boost), from r only. shape > 0. */
double mtl_gamma_draw(rng_state *r, double shape);

/* Aligned-MTL's solver on any n x n Gram M (read only): writes the n
 * weights B 1 to w. Uses work (mtl_eigh_work(n) + n*n + n doubles) and
 * iwork (mtl_eigh_iwork(n)). Returns the rank kept. */
int mtl_aligned_solve(int n, const double *M, double *w, double *work, int *iwork);

/* Symmetric eigendecomposition with LAPACK's dsyevd, no allocation: on
 * entry V holds the n x n symmetric matrix, on return eigenvector r is
 * V[r*n .. r*n + n) and ev[r] its eigenvalue, ascending. work and iwork
 * need mtl_eigh_work(n) and mtl_eigh_iwork(n) entries. Returns LAPACK's
 * info (0 = ok). */
int mtl_eigh(int n, double *V, double *ev, double *work, int *iwork);
long mtl_eigh_work(int n);
long mtl_eigh_iwork(int n);

/* Cholesky solve of the n x n SPD system M x = b in place (M is destroyed,
 * b becomes x). Returns LAPACK's info: > 0 means M is not positive
 * definite. */
int mtl_spd_solve(int n, double *M, double *b);

/* min v^T Q v subject to v >= l (componentwise), Q n x n SPD, by a primal
 * active-set method (Lawson-Hanson style; finite). v gets the minimiser.
 * work: n*n + 4n doubles, iwork: 2n ints. Returns the number of active-set
 * changes, or -1 if a free-block solve failed (v is then the last feasible
 * iterate). */
int mtl_qp_lower(int n, const double *Q, const double *l, double *v, double *work,
                 int *iwork);

/* CAGrad-Fast on the full route: draws S, builds the (|S|+1)-row Gram from
 * c->A by a congruence, solves, and expands the row coefficients back to
 * the k task weights in wd. With |S| >= k it is CAGrad on all k rows. */
void mtl_cagrad_fast_weights(mtl_combiner *c, int k, int *iters);
/* CAGrad-Fast on the subset route (|S| < k): draws S, gathers the |S| rows
 * and the remainder row into c->rows, forms their Gram, solves, and writes
 * d from the gathered rows. Fills w (expanded to the k tasks), the times,
 * g0_norm, d_norm, iters and nonfinite (d is unspecified then). */
void mtl_cagrad_fast_subset(mtl_combiner *c, int k, const float *G, float *d, mtl_stats *st);

/* CAGrad-Fast with the rows formed by the caller: mtl_cagrad_fast_draw
 * draws S for k rows exactly as the two routes above do (nothing when |S| >=
 * k: returns 0), keeps it pending in fast_perm/fast_k and writes the order
 * the caller forms its rows in (S as drawn, then the rest ascending);
 * returns |S|. mtl_cagrad_fast_given solves on the |S|+1 rows R of the
 * pending draw and writes d and the stats as mtl_cagrad_fast_subset does. */
int mtl_cagrad_fast_draw(mtl_combiner *c, int k, int *order);
void mtl_cagrad_fast_given(mtl_combiner *c, const float *R, float *d, mtl_stats *st);

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
/* The same from a caller's double Gram (upper triangle read). */
void mtl_sym_full(int k, const double *U, double *A);

#endif
