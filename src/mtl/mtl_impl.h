/* mtl_impl: the combiner's insides, shared by the method files of src/mtl
 * only (nothing outside src/mtl includes this). The K-dimensional solvers
 * work in double on a Gram that ssyrk accumulated in float. */
#ifndef MTRL_MTL_IMPL_H
#define MTRL_MTL_IMPL_H

#include "mtl/arena.h"
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
    /* Scratch of the solvers: the method's declared work size (its
     * mtl_method_def.work), sliced per call through the checked arena. */
    mtl_arena arena;
    float *rows;    /* CAGrad-Fast subset route: (fast_subset + 1) x P */
    int *tasks;     /* K: task index of each row of the current call */
    /* CAGrad-Fast, caller-formed rows (mtl_fast_draw): the drawn S as
     * draw_subset leaves it (K) and membership flags (K); fast_k is the k of
     * the pending draw, 0 when none is pending. */
    int *fast_perm;
    int fast_k;
    /* The Gram of the given rows for mtl_cagrad_fast_given (the caller's,
     * upper triangle), or NULL: ssyrk. Set for one call only. */
    const double *given_gram;
    /* Its final d = R^T coef (the caller's threads), or NULL: sgemv. */
    mtl_row_sum_fn given_row_sum;
    void *given_row_sum_ctx;
    /* Method state, kept in the float layout it is checkpointed in, so a
     * restored combiner continues bit for bit: Nash-MTL (K + 2) and FAMO
     * (5K + 2), see nash.c and famo.c. */
    float *state;
    long state_len;
};

/* How a call reaches d; each route is one function of combine.c. */
typedef enum mtl_route {
    MTL_ROUTE_FIXED,    /* mean, sum: constant weights, one sgemv */
    MTL_ROUTE_GRAM,     /* the k x k Gram (formed, or the caller's), weights
                         * from it (gram), one sgemv */
    MTL_ROUTE_REP_GRAM, /* weights (gram) from the caller's rep_gram instead */
    MTL_ROUTE_BLIND,    /* weights from nothing of G (blind), one sgemv */
    MTL_ROUTE_ROWS,     /* the method works on G's rows itself (rows) */
} mtl_route;

/* Fills wd[0..in->k) (and st->iters, st->fallback); scratch only from
 * c->arena: a slice that does not fit leaves the arena overflowed and the
 * function returns at once (the call then fails with an error). */
typedef void mtl_weights_fn(mtl_combiner *c, const mtl_input *in, mtl_stats *st);

/* One row per method, indexed by mtl_method (methods.c): what a method
 * needs and the functions that serve it. */
typedef struct mtl_method_def {
    mtl_route route;
    /* The route of this call where it varies, called once per call before
     * any work (it may advance per-call state: Nash-MTL's counter), or NULL:
     * always route. */
    mtl_route (*pick)(mtl_combiner *c, const mtl_input *in);
    mtl_weights_fn *gram;  /* GRAM and REP_GRAM: wd from the Gram in c->A */
    mtl_weights_fn *blind; /* BLIND: wd without looking at G */
    /* ROWS: writes d and every stat from the k rows of G, including
     * nonfinite (d unspecified then) and the times. */
    void (*rows)(mtl_combiner *c, int k, const float *G, float *d, mtl_stats *st);
    /* After a BLIND route's sgemv, with st->d_norm = ||d||: a cap on ||d||
     * (Nash-MTL's max-norm), or NULL. */
    void (*cap)(mtl_combiner *c, int k, float *d, mtl_stats *st);
    /* The call ended non-finite (d is not to be used): drop what it
     * recorded for a later step (FAMO), or NULL. */
    void (*skipped)(mtl_combiner *c);
    /* mtl_after_step (FAMO), or NULL: nothing to learn after the step. */
    int (*after_step)(mtl_combiner *c, const float *losses_after, mtrl_err *e);
    size_t (*work)(const mtl_options *o, int K); /* scratch bytes for up to K rows */
    long (*state_len)(int K);  /* checkpointed floats, or NULL: none */
    void (*init_state)(mtl_combiner *c);
    unsigned needs;            /* MTL_NEEDS_* */
    int unit_weights;          /* FIXED: w = 1 (a sum); 0: w = 1/k (the mean) */
} mtl_method_def;

extern const mtl_method_def mtl_methods[MTL_METHOD_COUNT];

/* Coordinates per GradDrop block (its scratch: 4 blocks of floats). */
#define MTL_GD_BLOCK 1024

/* Work-size declarations: the bytes of each slice a method takes from the
 * arena, added up in the same order as it allocates them. */
#define MTL_WS_D(n) mtl_arena_size((long)(n), sizeof(double))
#define MTL_WS_F(n) mtl_arena_size((long)(n), sizeof(float))
#define MTL_WS_I(n) mtl_arena_size((long)(n), sizeof(int))

/* The weights of the Gram methods (route GRAM): each fills wd[0..k) from
 * the k x k Gram in c->A, with its work size beside it. */
void mtl_pcgrad_weights(mtl_combiner *c, const mtl_input *in, mtl_stats *st);
size_t mtl_pcgrad_work(const mtl_options *o, int K);
void mtl_cagrad_weights(mtl_combiner *c, const mtl_input *in, mtl_stats *st);
size_t mtl_cagrad_work(const mtl_options *o, int K);
void mtl_mgda_weights(mtl_combiner *c, const mtl_input *in, mtl_stats *st);
size_t mtl_mgda_work(const mtl_options *o, int K);
/* Aligned-MTL and -UB (-UB: also on route REP_GRAM, mtl_aligned_pick). */
void mtl_aligned_weights(mtl_combiner *c, const mtl_input *in, mtl_stats *st);
size_t mtl_aligned_work(const mtl_options *o, int K);
mtl_route mtl_aligned_pick(mtl_combiner *c, const mtl_input *in);
void mtl_imtl_weights(mtl_combiner *c, const mtl_input *in, mtl_stats *st);
size_t mtl_imtl_work(const mtl_options *o, int K);
void mtl_upgrad_weights(mtl_combiner *c, const mtl_input *in, mtl_stats *st);
void mtl_dualproj_weights(mtl_combiner *c, const mtl_input *in, mtl_stats *st);
size_t mtl_upgrad_work(const mtl_options *o, int K); /* UPGrad and DualProj */
void mtl_config_weights(mtl_combiner *c, const mtl_input *in, mtl_stats *st);
size_t mtl_config_work(const mtl_options *o, int K);

/* RLW: weights drawn, nothing of G looked at (route BLIND); no scratch. */
void mtl_rlw_weights(mtl_combiner *c, const mtl_input *in, mtl_stats *st);

/* FAMO (route BLIND): weights from the losses and the logits; the call is
 * recorded for mtl_famo_after_step, and forgotten by mtl_famo_cancel when
 * it was skipped (non-finite). With non-finite losses (st->nonfinite set by
 * the input check) the weights are 0 and nothing is recorded. */
void mtl_famo_weights(mtl_combiner *c, const mtl_input *in, mtl_stats *st);
void mtl_famo_cancel(mtl_combiner *c);
int mtl_famo_after_step(mtl_combiner *c, const float *losses_after, mtrl_err *e);
size_t mtl_famo_work(const mtl_options *o, int K);
long mtl_famo_state_len(int K);
void mtl_famo_init_state(mtl_combiner *c);

/* Nash-MTL: mtl_nash_pick decides the call (BLIND: reuse the cached alpha,
 * GRAM: solve) and advances the call counter; mtl_nash_weights solves from
 * c->A and caps ||d|| on the weights, mtl_nash_cached fills wd from the
 * cache and mtl_nash_cap caps d after the sgemv. Both caps are
 * mtl_nash_clip's one rule. */
mtl_route mtl_nash_pick(mtl_combiner *c, const mtl_input *in);
void mtl_nash_weights(mtl_combiner *c, const mtl_input *in, mtl_stats *st);
void mtl_nash_cached(mtl_combiner *c, const mtl_input *in, mtl_stats *st);
void mtl_nash_cap(mtl_combiner *c, int k, float *d, mtl_stats *st);
size_t mtl_nash_work(const mtl_options *o, int K);
long mtl_nash_state_len(int K);
void mtl_nash_init_state(mtl_combiner *c);

/* GradDrop over G in one pass (route ROWS): writes d and the stats (w = the
 * common rescaling factor, g0_norm, d_norm, nonfinite, times). */
void mtl_graddrop(mtl_combiner *c, int k, const float *G, float *d, mtl_stats *st);
size_t mtl_graddrop_work(const mtl_options *o, int K);

/* A Gamma(shape, 1) draw (Marsaglia & Tsang 2000; shape < 1 by the
 * U^(1/shape) boost), from r only. shape > 0. */
double mtl_gamma_draw(rng_state *r, double shape);

/* Aligned-MTL's solver on any n x n Gram M (read only): writes the n
 * weights B 1 to w, with scratch from a (mtl_aligned_solve_work(n) bytes).
 * Returns the rank kept (w NaN if the eigensolver failed; nothing written
 * if a does not hold the scratch). */
int mtl_aligned_solve(int n, const double *M, double *w, mtl_arena *a);
size_t mtl_aligned_solve_work(int n);

/* Symmetric eigendecomposition with LAPACK's dsyevd, no allocation: on
 * entry V holds the n x n symmetric matrix, on return eigenvector r is
 * V[r*n .. r*n + n) and ev[r] its eigenvalue, ascending. work and iwork
 * need mtl_eigh_work(n) and mtl_eigh_iwork(n) entries. Returns LAPACK's
 * info (0 = ok). */
int mtl_eigh(int n, double *V, double *ev, double *work, int *iwork);
long mtl_eigh_work(int n);
long mtl_eigh_iwork(int n);

/* y = S^+ b for the k x k symmetric S (b NULL: all ones) by mtl_eigh, with
 * S overwritten by the eigenvectors and the solver's scratch from a
 * (mtl_pinv_work(k) bytes). Eigenvalues at or below k eps(float) l_max count
 * as zero, the default cut of torch.linalg.pinv on a float k x k matrix.
 * Returns the number of eigenvalues kept; -1 if the eigensolver failed, -2
 * if a does not hold the scratch (y unset either way). */
int mtl_pinv_apply(int k, double *S, const double *b, double *y, mtl_arena *a);
size_t mtl_pinv_work(int k);

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

/* CAGrad-Fast. mtl_cagrad_fast_pick: route ROWS (mtl_cagrad_fast_subset)
 * when the options ask for the subset Gram and |S| < k, else GRAM.
 * mtl_cagrad_fast_weights (GRAM): draws S, builds the (|S|+1)-row Gram
 * from c->A by a congruence, solves, and expands the row coefficients back
 * to the k task weights in wd; with |S| >= k it is CAGrad on all k rows.
 * mtl_cagrad_fast_subset (ROWS, |S| < k): draws S, gathers the |S| rows and
 * the remainder row into c->rows, forms their Gram, solves, and writes d
 * from the gathered rows; fills w (expanded to the k tasks), the times,
 * g0_norm, d_norm, iters and nonfinite (d is unspecified then). */
mtl_route mtl_cagrad_fast_pick(mtl_combiner *c, const mtl_input *in);
void mtl_cagrad_fast_weights(mtl_combiner *c, const mtl_input *in, mtl_stats *st);
void mtl_cagrad_fast_subset(mtl_combiner *c, int k, const float *G, float *d, mtl_stats *st);
size_t mtl_cagrad_fast_work(const mtl_options *o, int K);

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

/* Copies the upper triangle of the float k x k ssyrk result into the full
 * symmetric double matrix A (both k x k, leading dimension k). */
void mtl_sym_to_double(int k, const float *Af, double *A);
/* The same from a caller's double Gram (upper triangle read). */
void mtl_sym_full(int k, const double *U, double *A);

/* Nonzero if any of x[0..n) is NaN or +-Inf (runs over P on every update:
 * an integer test on the exponent bits, so the loop vectorizes). */
int mtl_any_nonfinite(const float *x, long n);

#endif
