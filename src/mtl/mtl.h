/* mtl: multi-task gradient combiners. A K x P matrix G (row k = the gradient
 * of task k's loss, float32, row-major) goes in, one update vector d (P) comes
 * out; the caller writes d as the gradient before its optimizer step.
 * Gram-based methods form A = G G^T once (one ssyrk), solve a K-dimensional
 * problem in double, and finish with one sgemv d = G^T w, so everything that
 * touches P costs one pass over G plus the Gram. All workspace is allocated by
 * mtl_create; mtl_combine never allocates. Every random draw (PCGrad's orders,
 * CAGrad-Fast's subsets) comes from the combiner's own seeded rng stream.
 * Depends on core (err, rng, timer, h5io) and BLAS only: never on nets, sac,
 * replay or envs. Facts and constants: spec/mtrl-cagrad.md §5. */
#ifndef MTRL_MTL_MTL_H
#define MTRL_MTL_MTL_H

#include <stdint.h>

#include "core/err.h"
#include "core/h5io.h"
#include "core/rng.h"

typedef enum mtl_method {
    /* Unitary scalarization: d = mean of the rows (w = 1/K). No Gram. */
    MTL_MEAN = 0,
    /* d = sum of the rows (w = 1), the scale Kurin et al.'s SMTOs use. */
    MTL_SUM = 1,
    /* PCGrad as run by mtrl (spec §5.4): each task's gradient is projected
     * against the other tasks it conflicts with, in an independent random
     * order per task; d = mean of the projected rows. Done on the Gram in
     * coefficient space (each projected row is a combination of the rows). */
    MTL_PCGRAD = 2,
    /* CAGrad (spec §5.1): the dual over softmax weights solved by `steps`
     * heavy-ball steps on the scale-normalised Gram, best of steps+1 iterates;
     * d = G^T (1/K + lambda w*) / rescale. */
    MTL_CAGRAD = 3,
    /* CAGrad-Fast (paper Eq. 4, spec §5.3 without the reference's dropped
     * task): a random subset S of fast_subset tasks plus one remainder row
     * (K g0 - sum_S g_i)/(K - |S|), CAGrad's solver on those |S|+1 rows with
     * the ball around the true g0. |S| >= K degenerates to CAGrad on all rows. */
    MTL_CAGRAD_FAST = 4,
    /* MGDA: the min-norm point of the convex hull of the rows (l2-normalised
     * rows by default, as Kurin et al. ran it), solved exactly in double by
     * Wolfe's min-norm-point active-set method on the Gram. */
    MTL_MGDA = 5,
    MTL_METHOD_COUNT
} mtl_method;

/* CAGrad's final division of d. The paper has none; the reference divides
 * CAGrad by 1 + c^2 and its CAGrad-Fast by 1 + c (spec §5.1, §5.3). */
typedef enum mtl_rescale {
    MTL_RESCALE_DEFAULT = 0, /* the reference's factor for the method */
    MTL_RESCALE_NONE = 1,    /* the paper: no division */
    MTL_RESCALE_C2 = 2,      /* divide by 1 + c^2 */
    MTL_RESCALE_C = 3,       /* divide by 1 + c */
} mtl_rescale;

/* How CAGrad-Fast gets the (|S|+1) x (|S|+1) Gram of its rows. */
typedef enum mtl_fast_gram {
    /* From the full K x K Gram (one ssyrk over all K rows), by a K x K
     * congruence: nothing else touches P. Also gives the per-task stats. */
    MTL_FAST_GRAM_FULL = 0,
    /* Gathers the |S| rows and the remainder row into an (|S|+1) x P
     * workspace and runs ssyrk on that: (K + (|S|+1)(|S|+2)/2) P flops instead
     * of K(K+1)/2 P, the cheaper route for MT50. Same d up to rounding. */
    MTL_FAST_GRAM_SUBSET = 1,
} mtl_fast_gram;

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
    uint64_t seed;     /* the run's seed */
    uint64_t stream;   /* rng stream; give each combiner of a run its own
                        * (e.g. RNG_STREAM_MTL * 256 + component index) */
} mtl_options;

/* Fills *o with the reference defaults for method m (c 0.5, lr auto,
 * momentum 0.5, 20 steps, rescale default, |S| 4, full Gram, MGDA on
 * normalised rows, seed 0, stream RNG_STREAM_MTL). */
void mtl_options_default(mtl_options *o, mtl_method m);

/* Names as used in configs and on the command line: "mean", "sum", "pcgrad",
 * "cagrad", "cagrad_fast", "mgda"; rescale: "default", "none", "c2", "c";
 * fast_gram: "full", "subset". Parsers return MTRL_EINPUT naming the value
 * and the valid ones. */
const char *mtl_method_name(mtl_method m);
int mtl_method_parse(const char *name, mtl_method *out, mtrl_err *e);
int mtl_rescale_parse(const char *name, mtl_rescale *out, mtrl_err *e);
int mtl_fast_gram_parse(const char *name, mtl_fast_gram *out, mtrl_err *e);

/* Per-call report. Pointers point into the combiner and stay valid until its
 * next mtl_combine or mtl_destroy. */
typedef struct mtl_stats {
    int K;             /* rows combined */
    const float *w;    /* K task weights with d = G^T w (always filled) */
    int nonfinite;     /* 1: G, the losses or the result had a NaN/Inf (or the
                        * Gram overflowed); d is then unspecified and the
                        * caller must skip the update */
    double g0_norm;    /* ||mean of rows|| (0 if nonfinite) */
    double d_norm;     /* ||d|| (from a Gram when there is one: sqrt(w^T A w)) */
    int gram;          /* 1 if the K x K Gram was formed; then also: */
    double min_cos;    /* smallest pairwise cosine of the rows (1 if K < 2) */
    int n_conflicts;   /* pairs with a negative inner product */
    int iters;         /* CAGrad(-Fast): index of the kept iterate (0..steps);
                        * PCGrad: projections made; MGDA: active-set
                        * iterations; 0 otherwise */
    double t_gram;     /* seconds spent forming the Gram (or gathering rows) */
    double t_solve;    /* seconds in the K-dim solve */
    double t_combine;  /* seconds in the final sgemv (and the finiteness check) */
} mtl_stats;

typedef struct mtl_combiner mtl_combiner; /* opaque */

/* A combiner for up to K tasks and P parameters (P < 2^31 for BLAS); copies
 * *o. Bad options are MTRL_EINPUT naming the option and value. */
int mtl_create(mtl_combiner **out, int K, long P, const mtl_options *o, mtrl_err *e);
void mtl_destroy(mtl_combiner *c); /* NULL is a no-op */

/* d = combination of the K rows of G (K x P row-major float32). losses: the K
 * per-task loss values or NULL (no current method needs them; when given they
 * are checked for finiteness). stats may be NULL. G and d must not overlap.
 * Returns 0 (also when stats->nonfinite is set) or a negative code for a
 * usage error. */
int mtl_combine(mtl_combiner *c, const float *G, const float *losses, float *d,
                mtl_stats *stats, mtrl_err *e);
/* The same for the first k <= K rows only (a batch where only k tasks are
 * present; the caller packs their rows first). Methods key on the actual k
 * (CAGrad's step size rule, the mean's 1/k). */
int mtl_combine_k(mtl_combiner *c, int k, const float *G, const float *losses, float *d,
                  mtl_stats *stats, mtrl_err *e);

/* For methods that learn from how the losses moved after the step (FAMO):
 * the K losses recomputed on the same batch after the update. None of the
 * current methods does; for them this returns 0 and changes nothing. */
int mtl_after_step(mtl_combiner *c, const float *losses_after, mtrl_err *e);

/* What a method needs from the caller. */
enum {
    MTL_NEEDS_LOSSES = 1,       /* losses must be non-NULL in mtl_combine */
    MTL_NEEDS_AFTER_STEP = 2,   /* call mtl_after_step after every update */
};
unsigned mtl_needs(const mtl_combiner *c);

mtl_method mtl_get_method(const mtl_combiner *c);
const mtl_options *mtl_get_options(const mtl_combiner *c);
int mtl_max_tasks(const mtl_combiner *c);
long mtl_num_params(const mtl_combiner *c);

/* Checkpoint state: the rng and a float vector (empty for the current
 * methods; stateful methods such as Nash-MTL's warm start or FAMO's logits
 * keep theirs there). mtl_state_set needs exactly mtl_state_len floats. */
rng_state *mtl_rng(mtl_combiner *c);
long mtl_state_len(const mtl_combiner *c);
void mtl_state_get(const mtl_combiner *c, float *out);
int mtl_state_set(mtl_combiner *c, const float *in, long n, mtrl_err *e);

/* Saves / restores the rng and the float state under group in an open HDF5
 * file (the checkpoint's); load checks method and sizes against the file and
 * names any mismatch. After mtl_load the combiner draws exactly what the
 * saved one would have. */
int mtl_save(const mtl_combiner *c, h5_file *f, const char *group, mtrl_err *e);
int mtl_load(mtl_combiner *c, h5_file *f, const char *group, mtrl_err *e);

#endif
