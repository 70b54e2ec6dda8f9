/* mtl: multi-task gradient combiners. A K x P matrix G (row k = the gradient
 * of task k's loss, float32, row-major) goes in, one update vector d (P) comes
 * out; the caller writes d as the gradient before its optimizer step.
 * Gram-based methods form A = G G^T once (one ssyrk, or take it from the
 * caller, mtl_input.gram), solve a K-dimensional
 * problem in double, and finish with one sgemv d = G^T w (or the caller's
 * threaded row sum, mtl_input.row_sum), so everything that touches P costs
 * one pass over G plus the Gram. Methods whose weights do not
 * look at G (RLW, FAMO, Nash-MTL between its updates) skip the Gram; GradDrop
 * is elementwise and makes one pass over G of its own. All workspace is
 * allocated by mtl_create; a combine never allocates. Every random draw
 * (PCGrad's orders, CAGrad-Fast's subsets, RLW's weights, GradDrop's masks)
 * comes from the combiner's own seeded rng stream.
 * Depends on core (cfg, err, rng, timer, h5io), BLAS and LAPACKE only: never on
 * nets, sac, replay or envs. Facts and constants: spec/mtrl-cagrad.md §5 and
 * spec/mtl-methods.md. */
#ifndef MTRL_MTL_MTL_H
#define MTRL_MTL_MTL_H

#include <stdint.h>

#include "core/cfg.h"
#include "core/err.h"
#include "core/h5io.h"
#include "core/rng.h"

/* The methods, their numbers and their config words are defined once, by
 * the list CFG_MTL_METHOD_LIST in core/cfg.h (the config needs the words and
 * sits below mtl); the same holds for every enum below. MTL_<ID> here is
 * CFG_MTL_<ID> there, so (mtl_method)cfg->mtl.method is the method.
 *
 * MTL_MEAN ("mean"): unitary scalarization: d = mean of the rows (w = 1/K).
 *   No Gram.
 * MTL_SUM ("sum"): d = sum of the rows (w = 1), the scale Kurin et al.'s
 *   SMTOs use.
 * MTL_PCGRAD ("pcgrad"): PCGrad as run by mtrl (spec §5.4): each task's
 *   gradient is projected against the other tasks it conflicts with, in an
 *   independent random order per task; d = mean of the projected rows. Done
 *   on the Gram in coefficient space (each projected row is a combination of
 *   the rows).
 * MTL_CAGRAD ("cagrad"): CAGrad (spec §5.1): the dual over softmax weights
 *   solved by `steps` heavy-ball steps on the scale-normalised Gram, best of
 *   steps+1 iterates; d = G^T (1/K + lambda w*) / rescale.
 * MTL_CAGRAD_FAST ("cagrad_fast"): CAGrad-Fast (paper Eq. 4, spec §5.3
 *   without the reference's dropped task): a random subset S of fast_subset
 *   tasks plus one remainder row (K g0 - sum_S g_i)/(K - |S|), CAGrad's
 *   solver on those |S|+1 rows with the ball around the true g0. |S| >= K
 *   degenerates to CAGrad on all rows.
 * MTL_MGDA ("mgda"): the min-norm point of the convex hull of the rows
 *   (l2-normalised rows by default, as Kurin et al. ran it), solved exactly
 *   in double by Wolfe's min-norm-point active-set method on the Gram.
 * MTL_ALIGNED_MTL ("aligned_mtl"): Aligned-MTL (Senushkin et al. 2023,
 *   spec/mtl-methods.md §2): the rows made orthogonal with the common norm
 *   sqrt(lambda_min) of the Gram's smallest non-negligible eigenvalue, summed
 *   with task weights 1 (the SamsungLabs code: a sum); w = sqrt(lambda_min)
 *   V L^(-1/2) V^T 1 from one symmetric eigendecomposition of the Gram.
 * MTL_ALIGNED_MTL_UB ("aligned_mtl_ub"): Aligned-MTL-UB (§3): the same
 *   solver on the Gram of the task gradients with respect to a shared
 *   representation H, given by the caller in mtl_input.rep_gram; the weights
 *   then apply to G. Without rep_gram it is Aligned-MTL on the parameter Gram.
 * MTL_IMTL_G ("imtl_g"): IMTL-G (Liu et al. 2021, §4): equal projections of
 *   d onto every unit task gradient, weights summing to 1: w = v / sum(v),
 *   v = A^+ n (n_k = ||g_k||, pseudo-inverse by eigendecomposition); w = 0 if
 *   |sum v| < 1e-12 (TorchJD's guard). The original equations, not Kurin's
 *   transposed solve.
 * MTL_GRADDROP ("graddrop"): GradDrop (Chen et al. 2020) as Kurin et al. ran
 *   it on parameter gradients (§5): per coordinate, keep only the positive
 *   or only the negative task contributions, chosen with probability P = 0.5
 *   + k S/(2T + 1e-7) from one uniform draw; the result rescaled to ||sum of
 *   rows||. Elementwise: no Gram, one pass over G.
 * MTL_RLW ("rlw"): random loss weighting (Lin et al. 2022; Kurin's variants,
 *   §6): a fresh draw every call, Dirichlet(1) or softmax(N(0, I)), scaled to
 *   sum K (a sum on average). Needs nothing from G but the final sgemv.
 * MTL_NASH_MTL ("nash_mtl"): Nash-MTL (Navon et al. 2022, §7): alpha > 0
 *   with alpha_k (A alpha)_k = 1 (the Nash bargaining point, ||d||^2 = K),
 *   solved by damped Newton on the convex f(a) = a^T A a / 2 - sum log a_k,
 *   warm-started from the last solution; recomputed every nash_update_every
 *   calls, reused in between; optional max-norm. No solution (a
 *   Pareto-stationary point): the previous alpha is kept, as the reference
 *   does (stats.fallback).
 * MTL_FAMO ("famo"): FAMO (Liu et al. 2023, §8): weights from the per-task
 *   losses and logits xi kept across calls; needs the losses in mtl_combine_in
 *   and the same batch's losses after the model step in mtl_after_step,
 *   which moves xi by one Adam step. No Gram.
 * MTL_UPGRAD ("upgrad"): UPGrad (Quinton & Rey, TorchJD, §9): the sum over
 *   i of the projections of g_i / K onto the dual cone {x : <g_k, x> >= 0},
 *   as K bound-constrained K x K QPs on the trace-normalised,
 *   ridge-regularised Gram.
 * MTL_DUALPROJ ("dualproj"): DualProj (TorchJD; GEM's projection, §10): the
 *   mean projected onto the dual cone, one QP of UPGrad's kind.
 * MTL_CONFIG ("config"): ConFIG (Liu et al. 2024, §11), Gram form: the
 *   direction with equal positive cosines to every task gradient
 *   (pseudo-inverse of the cosine matrix), with length sum_k <g_k, e>. */
typedef enum mtl_method { CFG_MTL_METHOD_LIST(CFG_ENUM_ID, MTL_) MTL_METHOD_COUNT } mtl_method;

/* CAGrad's final division of d. The paper has none; the reference divides
 * CAGrad by 1 + c^2 and its CAGrad-Fast by 1 + c (spec §5.1, §5.3).
 * MTL_RESCALE_REFERENCE ("reference"): the reference's factor for the method;
 * MTL_RESCALE_NONE ("none"): the paper, no division; MTL_RESCALE_C2 ("c2"):
 * divide by 1 + c^2; MTL_RESCALE_C ("c"): divide by 1 + c. */
typedef enum mtl_rescale { CFG_RESCALE_LIST(CFG_ENUM_ID, MTL_RESCALE_) } mtl_rescale;

/* How CAGrad-Fast gets the (|S|+1) x (|S|+1) Gram of its rows.
 * MTL_FAST_GRAM_FULL ("full"): from the full K x K Gram (one ssyrk over all
 *   K rows), by a K x K congruence: nothing else touches P. Also gives the
 *   per-task stats.
 * MTL_FAST_GRAM_SUBSET ("subset"): gathers the |S| rows and the remainder row
 *   into an (|S|+1) x P workspace and runs ssyrk on that: (K +
 *   (|S|+1)(|S|+2)/2) P flops instead of K(K+1)/2 P, the cheaper route for
 *   MT50. Same d up to rounding. */
typedef enum mtl_fast_gram { CFG_FAST_GRAM_LIST(CFG_ENUM_ID, MTL_FAST_GRAM_) } mtl_fast_gram;

/* MTL_RLW_DIRICHLET ("dirichlet"): lambda = K * Dirichlet(1, ..., 1) (Gamma(1)
 * draws); MTL_RLW_NORMAL ("normal"): lambda = K * softmax(z), z ~ N(0, I). */
typedef enum mtl_rlw_dist { CFG_RLW_DIST_LIST(CFG_ENUM_ID, MTL_RLW_) } mtl_rlw_dist;

/* FAMO's weights w_k = c z_k / (L_k + 1e-8).
 * MTL_FAMO_PAPER ("paper"): c = 1 / sum_k z_k / (L_k + 1e-8): weights sum to 1;
 * MTL_FAMO_MTRL ("mtrl"): c = sum_k z_k / (L_k + 1e-8), as FAMO's mtrl patch
 *   ran it: the paper's update times c^2 (spec §8). */
typedef enum mtl_famo_scale { CFG_FAMO_SCALE_LIST(CFG_ENUM_ID, MTL_FAMO_) } mtl_famo_scale;

typedef struct mtl_options {
    mtl_method method;
    double c;          /* CAGrad / CAGrad-Fast radius (MT10 paper runs 0.9, MT50 0.5) */
    double lr;         /* CAGrad dual step size; <= 0: the reference's 25, or 50 when
                        * the solve has exactly 50 rows */
    double momentum;   /* heavy-ball momentum of the dual solver (0.5) */
    int steps;         /* dual solver steps (20); steps+1 iterates are compared */
    mtl_rescale rescale;
    int fast_subset;   /* |S| for CAGrad-Fast (4 for MT10, 8 for MT50) */
    mtl_fast_gram fast_gram;
    int mgda_normalize; /* 1: combine l2-normalised rows (Kurin; default), 0: raw rows */
    double graddrop_k;  /* GradDrop sign-purity factor (1) */
    mtl_rlw_dist rlw_dist;
    int nash_update_every; /* >= 1: solve on calls 0, N, 2N, ...; reuse alpha between */
    int nash_iters;     /* Newton iterations at most (20); see nash.c */
    double nash_max_norm; /* scale d down to this norm when longer; 0 = off */
    double famo_lr;     /* Adam step of FAMO's logits (0.025) */
    double famo_gamma;  /* coupled weight decay of the logits (0.01) */
    mtl_famo_scale famo_scale;
    double upgrad_norm_eps; /* UPGrad/DualProj: trace(A) < this -> the mean (1e-4) */
    double upgrad_reg_eps;  /* ridge on the trace-normalised Gram (1e-4) */
    uint64_t seed;     /* the run's seed */
    uint64_t stream;   /* rng stream; give each combiner of a run its own
                        * (e.g. RNG_STREAM_MTL * 256 + component index) */
} mtl_options;

/* Fills *o with the reference defaults for method m (c 0.5, lr auto,
 * momentum 0.5, 20 steps, rescale reference, |S| 4, full Gram, MGDA on
 * normalised rows, GradDrop k 1, RLW Dirichlet, Nash every call with 20
 * iterations and no max-norm, FAMO lr 0.025, decay 0.01, paper scale,
 * UPGrad eps 1e-4 and 1e-4, seed 0, stream RNG_STREAM_MTL). */
void mtl_options_default(mtl_options *o, mtl_method m);

/* The method's config word ("cagrad_fast"), or "?" out of range. */
const char *mtl_method_name(mtl_method m);

/* The options from the config's mtl section (method and settings) and
 * run.seed, for the combiner of an agent component (0 actor, 1 critic, 2
 * temperature: rng stream RNG_STREAM_MTL * 256 + component) or, with
 * component -1, a standalone one (stream RNG_STREAM_MTL; `mtrl combine`).
 * FAMO on the actor or the temperature is MTRL_EINPUT naming the keys to set
 * (the agent recomputes the losses after the step for the critic only). */
int mtl_options_from_config(const mtrl_config *cfg, int component, mtl_options *o, mtrl_err *e);

/* Per-call report. Pointers point into the combiner and stay valid until its
 * next combine or mtl_destroy. */
typedef struct mtl_stats {
    int K;             /* rows combined */
    const float *w;    /* K task weights with d = G^T w (always filled). GradDrop
                        * is elementwise, so no such w exists: there every w_k
                        * is the common factor its kept contributions get */
    int nonfinite;     /* 1: G, the losses or the result had a NaN/Inf (or the
                        * Gram overflowed); d is then unspecified and the
                        * caller must skip the update */
    double g0_norm;    /* ||mean of rows|| (0 if nonfinite, and 0 for the methods
                        * that never look at G: RLW, FAMO, Nash-MTL's reuse
                        * calls, Aligned-MTL-UB with rep_gram) */
    double d_norm;     /* ||d|| (from a Gram when there is one: sqrt(w^T A w)) */
    int gram;          /* 1 if the K x K Gram was formed; then also: */
    double min_cos;    /* smallest pairwise cosine of the rows (1 if K < 2) */
    int n_conflicts;   /* pairs with a negative inner product */
    int iters;         /* CAGrad(-Fast): index of the kept iterate (0..steps);
                        * PCGrad: projections made; MGDA, UPGrad, DualProj:
                        * active-set iterations; Nash-MTL: Newton steps (0
                        * on calls that reuse alpha); 0 otherwise */
    int fallback;      /* 1: the method's problem had no solution this call and
                        * it used its documented fallback (Nash-MTL: the
                        * previous alpha); d is still valid */
    double t_gram;     /* seconds spent forming the Gram (or gathering rows) */
    double t_solve;    /* seconds in the K-dim solve */
    double t_combine;  /* seconds in the final sgemv (and the finiteness check) */
} mtl_stats;

typedef struct mtl_combiner mtl_combiner; /* opaque */

/* A combiner for up to K tasks and P parameters (P < 2^31 for BLAS); copies
 * *o. Bad options are MTRL_EINPUT naming the option and value. */
int mtl_create(mtl_combiner **out, int K, long P, const mtl_options *o, mtrl_err *e);
void mtl_destroy(mtl_combiner *c); /* NULL is a no-op */

/* d = G^T w for k rows of n floats (row-major, stride n), given by the
 * caller (ctx: its own data): a parallel row sum (sac: nn_rows_wsum), or d
 * formed without the rows (sac: nn_mlp_grad_weighted, see
 * mtl_rows_only_summed). It must leave d equal to one cblas_sgemv's over
 * the rows up to float rounding. */
typedef void (*mtl_row_sum_fn)(void *ctx, int k, long n, const float *G, const float *w,
                               float *d);

/* Everything a call can take. */
typedef struct mtl_input {
    /* Rows in G, 1..K: a batch where only k tasks are present packs their
     * rows first. Methods key on the actual k (CAGrad's step size rule, the
     * mean's 1/k). */
    int k;
    const float *G;        /* k x P row-major */
    const float *losses;   /* k per-task losses, or NULL (FAMO needs them) */
    /* The task index in [0, K) of each row (distinct), or NULL: row g is
     * task g. Methods with per-task state (FAMO's logits, Nash-MTL's alpha)
     * key it by task, so a batch where some tasks are missing (rows packed)
     * updates the right entries. */
    const int *tasks;
    /* Aligned-MTL-UB: k x k Gram (row-major) of the tasks' loss gradients
     * with respect to a shared representation, or NULL (then the parameter
     * Gram). Ignored by the other methods. */
    const float *rep_gram;
    /* The k x k Gram G G^T of the rows, row-major, upper triangle (i <= j)
     * read, formed by the caller (e.g. inside its backward pass, nn_bwd.gram),
     * or NULL: then the Gram-based methods form it with one ssyrk over G.
     * With it, G is read only by the final d = G^T w. */
    const double *gram;
    /* The final d = G^T w on the caller's threads, or NULL: one
     * cblas_sgemv. Used by the methods with weights w (every route but
     * GradDrop's and CAGrad-Fast's subset rows). */
    mtl_row_sum_fn row_sum;
    void *row_sum_ctx;
} mtl_input;
/* d = combination of the k rows of in->G (k x P row-major float32). losses:
 * when given they are checked for finiteness. stats may be NULL. G and d
 * must not overlap. Returns 0 (also when stats->nonfinite is set) or a
 * negative code: a usage error, or MTRL_ERUNTIME if the method needed more
 * scratch than it declares (a bug; d is not to be used). */
int mtl_combine_in(mtl_combiner *c, const mtl_input *in, float *d, mtl_stats *stats,
                   mtrl_err *e);

/* CAGrad-Fast with the rows formed by the caller (paper Eq. 4), so that only
 * |S|+1 gradient rows are ever computed: the caller draws S first, forms the
 * |S| sampled tasks' gradients and the remainder row, then combines them.
 * mtl_fast_draw draws S for a call on k tasks from the combiner's rng (the
 * very draw mtl_combine_in would make next, so seeds and checkpoints mean the
 * same on either path) and writes order[0..k): first the |S| sampled tasks
 * (row positions in [0, k)) in the order their rows must be given, then the
 * other k - |S| ascending. Returns |S| >= 1, or 0 when |S| >= k: then there
 * is no remainder, nothing is drawn, and the caller combines all k rows with
 * mtl_combine_in. Not CAGrad-Fast, or k outside 1..K, is MTRL_EINPUT.
 * mtl_combine_fast_gram then takes R, (|S|+1) x P row-major: row a < |S| the
 * gradient of task order[a], row |S| the remainder r = (1/(k-|S|)) sum of
 * the other tasks' gradients, and writes d for the pending draw (used up: a
 * second combine needs a new draw). The same d as mtl_combine_in on all k
 * rows after the same rng state, up to float rounding; stats->w is expanded
 * to the k tasks, stats->gram is 0 (no k x k Gram exists). gram: the
 * (|S|+1) x (|S|+1) Gram of R (row-major, upper triangle read), as
 * mtl_input.gram, or NULL: one ssyrk over R. row_sum: the final d = R^T
 * coef as mtl_input.row_sum, or NULL: one cblas_sgemv. */
int mtl_fast_draw(mtl_combiner *c, int k, int *order, mtrl_err *e);
int mtl_combine_fast_gram(mtl_combiner *c, const float *R, const double *gram,
                          mtl_row_sum_fn row_sum, void *row_sum_ctx, float *d, mtl_stats *stats,
                          mtrl_err *e);

/* 1 if, given mtl_input.gram and row_sum, every call of this combiner reads
 * G only through row_sum (the Gram-route methods that never change route:
 * PCGrad, CAGrad, MGDA, Aligned-MTL, IMTL-G, UPGrad, DualProj, ConFIG): a
 * caller may then not form the rows at all, pass any G, and form d in its
 * row_sum from the weights. 0 otherwise. */
int mtl_rows_only_summed(const mtl_combiner *c);
/* The same for a method (with any options: it depends on the method only). */
int mtl_method_rows_only_summed(mtl_method m);

/* For methods that learn from how the losses moved after the step (FAMO):
 * the losses recomputed on the same batch after the update, for the same
 * rows (and tasks) as the last mtl_combine_in, which must have given finite
 * weights (stats.nonfinite 0). With no such combine pending (it was
 * skipped, or the method does not need this) it returns 0 and changes
 * nothing; non-finite losses_after also leave the state as it is (the
 * update then learnt nothing to go by). A negative loss is MTRL_EINPUT:
 * FAMO works on log losses. */
int mtl_after_step(mtl_combiner *c, const float *losses_after, mtrl_err *e);

/* What a method needs from the caller. */
enum {
    MTL_NEEDS_LOSSES = 1,       /* losses (>= 0) must be non-NULL in mtl_combine_in */
    MTL_NEEDS_AFTER_STEP = 2,   /* call mtl_after_step after every update */
    MTL_NEEDS_REP_GRAM = 4,     /* give mtl_input.rep_gram where a representation
                                 * exists (Aligned-MTL-UB) */
};
unsigned mtl_needs(const mtl_combiner *c);

mtl_method mtl_get_method(const mtl_combiner *c);

/* Checkpoint state: the rng and a float vector (empty for stateless methods;
 * Nash-MTL: alpha per task, the call counter, a solved flag (K + 2);
 * FAMO: logits, their Adam moments and step count, and the pending pre-step
 * losses with their tasks (5K + 2)). mtl_state_get writes mtl_state_len
 * floats. */
long mtl_state_len(const mtl_combiner *c);
void mtl_state_get(const mtl_combiner *c, float *out);

/* Saves / restores the rng and the float state under group in an open HDF5
 * file (the checkpoint's); load checks method and sizes against the file and
 * names any mismatch. After mtl_load the combiner draws exactly what the
 * saved one would have. */
int mtl_save(const mtl_combiner *c, h5_file *f, const char *group, mtrl_err *e);
int mtl_load(mtl_combiner *c, h5_file *f, const char *group, mtrl_err *e);

#endif
