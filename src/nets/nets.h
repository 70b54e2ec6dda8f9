/* nets: the neural networks of the SAC agent, on OpenBLAS sgemm.
 *
 *  - nn_params: one contiguous float32 block per trained component holding
 *    parameters, gradient and the two Adam moments; networks are views into it
 *    at offsets (a twin critic is two MLPs in one buffer, so one gradient row
 *    covers Q1 and Q2). Copy and Polyak averaging between buffers of the same
 *    size (target critics); Adam that applies any update vector.
 *  - nn_mlp: Linear+ReLU stacks. Backward gives dL/dX and the parameter
 *    gradient either summed over the batch or per task group (row k of a
 *    K x P matrix = gradient of group k's loss) at the cost of one backward
 *    pass: every row's backprop signal is computed once for the whole batch,
 *    only the weight-gradient products X_k^T delta_k are split per group.
 *  - nn_policy: the tanh-squashed diagonal Gaussian head of the actor.
 *
 * Depends on core (err, rng) and cblas only; it knows nothing of tasks, envs,
 * replay or the SAC losses (the caller scales dL/dY, e.g. by 1/n_k to get a
 * per-group mean). Nothing here mallocs after *_create, nothing prints.
 *
 * Typical use (twin critic, per-task gradients into G, K x P, P = cp->n):
 *   nn_mlp_create(&q1, 4, dims, 1280, e); nn_mlp_create(&q2, 4, dims, 1280, e);
 *   nn_params_create(&cp, 2 * nn_mlp_nparams(q1), e);
 *   nn_mlp_bind(q1, cp, 0, e); nn_mlp_bind(q2, cp, nn_mlp_nparams(q1), e);
 *   nn_mlp_init(q1, NN_INIT_XAVIER, &rng); nn_mlp_init(q2, NN_INIT_XAVIER, &rng);
 *   nn_mlp_forward_in(q1, B, 2, (nn_in[]){{obs, 49, 0}, {act, 4, 0}}, e);
 *   ... dy1 = dL/dQ1 (B x 1) ...
 *   nn_mlp_backward(q1, dy1, &(nn_bwd){.grad = G, .ld_grad = cp->n,
 *                                      .n_groups = K, .group_off = off}, e);
 *   (the same for q2: it writes the other columns of the same rows of G)
 *   ... mtl combines G into d ...
 *   nn_adam_step(cp, d, &adam_cfg, e);
 *   nn_params_polyak(cp_target, cp, 0.005f, e);
 */
#ifndef MTRL_NETS_NETS_H
#define MTRL_NETS_NETS_H

#include "core/err.h"
#include "core/rng.h"

/* ------------------------------------------------------------------------ */
/* Parameter buffers                                                         */

/* Owns one allocation; w, g, m, v are n floats each (each 64-byte aligned).
 * Everything a checkpoint needs is here: n, w, m, v and step (g is scratch).
 * The fields are public so the agent can save/load them directly; do not
 * change n or the pointers. */
typedef struct nn_params {
    long n;    /* P: number of parameters */
    float *w;  /* parameters */
    float *g;  /* gradient (where a summed gradient usually goes) */
    float *m;  /* Adam first moment */
    float *v;  /* Adam second moment */
    long step; /* Adam steps taken so far (bias correction uses step) */
    void *mem_; /* the single allocation (private) */
} nn_params;

/* All four arrays zeroed, step 0. n >= 1. */
int nn_params_create(nn_params **out, long n, mtrl_err *e);
void nn_params_destroy(nn_params *p);
/* dst->w = src->w (parameters only; moments and step untouched). */
int nn_params_copy(nn_params *dst, const nn_params *src, mtrl_err *e);
/* dst->w = tau * src->w + (1 - tau) * dst->w (target networks, tau = 0.005). */
int nn_params_polyak(nn_params *dst, const nn_params *src, float tau, mtrl_err *e);
/* Zeroes g. */
void nn_params_zero_grad(nn_params *p);
/* Zeroes m, v and step (a fresh optimizer on the same parameters). */
void nn_params_reset_adam(nn_params *p);

/* ------------------------------------------------------------------------ */
/* Adam (PyTorch torch.optim.Adam / AdamW semantics)                        */

/* Double, as PyTorch's Python-float hyperparameters: 1 - beta2 must be 1e-3,
 * not 1 - 0.999f. */
typedef struct nn_adam_cfg {
    double lr;           /* 3e-4 in the reference */
    double beta1, beta2; /* 0.9, 0.999 */
    double eps;          /* 1e-8, added after sqrt of the bias-corrected v */
    double weight_decay; /* 0 in the reference */
    int decoupled;      /* 0: L2 (wd * w added to the update vector, Adam);
                           1: decoupled (w *= 1 - lr * wd before the step, AdamW) */
} nn_adam_cfg;

/* The reference setting: lr 3e-4, betas (0.9, 0.999), eps 1e-8, no decay. */
nn_adam_cfg nn_adam_default(void);

/* One Adam step on p with update vector d (length p->n): the combined
 * multi-task gradient, or p->g when d is NULL. Increments p->step first, so
 * the first step uses bias corrections 1 - beta^1 (as PyTorch). d is not
 * modified. */
int nn_adam_step(nn_params *p, const float *d, const nn_adam_cfg *cfg, mtrl_err *e);

/* ------------------------------------------------------------------------ */
/* Threads                                                                   */

/* Threads the MLPs use for their matrix products (process-wide; read at each
 * forward/backward). T >= 1: the MLPs split their products over T threads
 * (the caller's and T - 1 workers of one pool that all MLPs of the process
 * share, started at first use and asleep between passes),
 * every piece a single-threaded OpenBLAS call; the caller should then set
 * OpenBLAS to 1 thread (openblas_set_num_threads(1)), so that one set of
 * threads does the work: OpenBLAS's own workers busy-wait (sched_yield) for
 * a while after each threaded call, and beside our workers and the env
 * workers they oversubscribe the cores. T = 0 (the default): no split of our
 * own, OpenBLAS threads each product with its own thread count, and the
 * per-group products use that many threads. Returns the previous value. */
int nn_set_threads(int T);
int nn_threads(void); /* the value set (0: OpenBLAS's) */

/* d = G^T w: the sum of the K rows of G (K x n, row-major, stride n) with
 * weights w, the last step of a multi-task combiner (mtl_input.row_sum).
 * With T = nn_threads() >= 2 the columns are split into fixed chunks that
 * the caller and the shared pool's workers take as they come free, each
 * one single-threaded sgemv over all K rows; otherwise one sgemv (T = 0:
 * threaded by OpenBLAS). Each d[i] is summed over the K rows in the same
 * order whatever the split, so the result does not depend on the threads
 * or their timing (and matches one sgemv over all n). d and G must not
 * overlap. */
void nn_rows_wsum(int K, long n, const float *G, const float *w, float *d);

/* ------------------------------------------------------------------------ */
/* MLP: Linear -> ReLU -> ... -> Linear (no activation after the last layer) */

typedef struct nn_mlp nn_mlp;

/* Init of a bound MLP's parameters. */
typedef enum nn_init {
    /* mtrl's weight_init, the CAGrad/mtrl reference (spec §3.2): every weight
     * Xavier-uniform U(-a, a), a = sqrt(6 / (fan_in + fan_out)); biases 0. */
    NN_INIT_XAVIER = 0,
    /* PyTorch's nn.Linear default: weights and biases U(-1/sqrt(fan_in), +). */
    NN_INIT_TORCH_DEFAULT = 1,
} nn_init;

/* n_layers Linear layers; dims has n_layers + 1 entries: dims[0] = input
 * width, dims[n_layers] = output width (actor: {obs, 400, 400, 400, 2A},
 * critic: {obs + A, 400, 400, 400, 1}; n_layers = 4). ReLU after every layer
 * but the last. The workspace (activations and backprop signals for up to
 * max_batch rows) is allocated here. Call nn_mlp_bind before use. */
int nn_mlp_create(nn_mlp **out, int n_layers, const int *dims, int max_batch, mtrl_err *e);
void nn_mlp_destroy(nn_mlp *m);

/* Parameter count: sum over layers of out*in + out. */
long nn_mlp_nparams(const nn_mlp *m);
/* Views p->w[offset .. offset + nparams) as this MLP's parameters. Layout per
 * layer l, in order: W_l (dims[l+1] x dims[l], row-major, i.e. PyTorch's
 * Linear.weight), then b_l (dims[l+1]). Gradient rows use the same columns.
 * Rebinding (e.g. to another buffer of the same layout) is allowed. */
int nn_mlp_bind(nn_mlp *m, nn_params *p, long offset, mtrl_err *e);
/* Draws this MLP's parameters from r, layer by layer: W_l row-major, then
 * b_l (biases draw nothing under NN_INIT_XAVIER). */
void nn_mlp_init(nn_mlp *m, nn_init kind, rng_state *r);

int nn_mlp_in_dim(const nn_mlp *m);
int nn_mlp_out_dim(const nn_mlp *m);
int nn_mlp_n_layers(const nn_mlp *m);
long nn_mlp_offset(const nn_mlp *m);          /* where it is bound in its buffer */
float *nn_mlp_weight(const nn_mlp *m, int l); /* W_l inside the bound buffer */
float *nn_mlp_bias(const nn_mlp *m, int l);   /* b_l inside the bound buffer */

/* One block of the input: the network input is the column concatenation of
 * the blocks, which are read in place (critic input = obs (+ one-hot) ⊕
 * action without a copy). ld = row stride in floats (0 means cols). */
typedef struct nn_in {
    const float *x;
    int cols;
    int ld;
} nn_in;
#define NN_MAX_IN 4

/* Forward on B rows (1 <= B <= max_batch). The input blocks' columns must
 * add up to dims[0]. The input arrays are READ AGAIN by nn_mlp_backward
 * (layer-0 weight gradient): keep them alive and unchanged until then. */
int nn_mlp_forward_in(nn_mlp *m, int B, int n_in, const nn_in *in, mtrl_err *e);
/* Same with one input block x (B x dims[0], row-major). */
int nn_mlp_forward(nn_mlp *m, int B, const float *x, mtrl_err *e);
/* The last forward's output, B x out_dim row-major, inside the workspace
 * (valid until the next forward on this MLP). */
const float *nn_mlp_out(const nn_mlp *m);

/* What a backward pass should produce. Zero fields mean: no parameter
 * gradient, one group over the whole batch, no input gradient; use C99
 * designated initializers: &(nn_bwd){.grad = p->g}. */
typedef struct nn_bwd {
    /* Parameter gradient. grad points at column 0 of row 0 of a gradient
     * matrix whose columns are indexed like the bound buffer's w (the MLP
     * writes columns [offset, offset + nparams) of each row; a twin critic's
     * two MLPs fill disjoint columns of the same rows). NULL: none. */
    float *grad;
    long ld_grad;         /* floats between rows of grad; 0 means the buffer's n */
    int n_groups;         /* K; 0 is read as 1 */
    /* K+1 ascending row offsets in [0, B]: group k = rows [off[k], off[k+1]),
     * its gradient goes to row k (empty group: row k is zero, or untouched
     * when accumulating). NULL with K <= 1: one group of all B rows. Rows
     * outside [off[0], off[K]) contribute to no row. */
    const int *group_off;
    int accumulate;       /* 1: add into grad; 0: overwrite the MLP's columns */
    /* K x K row-major (double): its upper triangle (i <= j) gets += the Gram
     * of the K gradient rows restricted to this MLP's columns, formed tile
     * by tile (a few output rows of a layer for all K groups) right after
     * the tile's per-group products, while they are still in cache, so a
     * Gram-based combiner needs no pass over G of its own (twin critics:
     * both MLPs add into the same matrix; the caller zeroes it first). With
     * grad NULL (K >= 2 groups, no accumulate) the rows are formed in a
     * per-thread scratch, feed the Gram and are dropped: a combiner that
     * needs only the Gram and then d = sum_k w_k g_k gets d from
     * nn_mlp_grad_weighted instead of from kept rows (MT50: the 50 x P rows
     * written and read back again cost more than the weighted pass). NULL:
     * none. */
    double *gram;
    /* Input gradient dL/dX for input columns [dx_col0, dx_col0 + dx_cols) of
     * the (concatenated) input, B rows with stride ld_dx (0 means the column
     * count); dx_cols 0 means all columns from dx_col0. Always overwritten.
     * NULL: none. */
    float *dx;
    int dx_col0, dx_cols, ld_dx;
} nn_bwd;

/* Backward through the last forward. dy = dL/dY, B x out_dim row-major (the
 * caller's loss scaling is in it, e.g. 1/n_k per row for per-group means).
 * The gradient of group k is sum over its rows of d(row loss)/d(params).
 * Cost: one pass of backprop signals over all B rows, plus the weight
 * products split per group (the same FLOPs as the summed gradient).
 * Threads: with n_groups > 1 and T > 1 threads (nn_threads(), or OpenBLAS's
 * count when that is 0), the per-group products run as independent tasks on
 * this thread and the T - 1 workers of the shared pool (nn_set_threads); a
 * second thread finding the pool busy runs its tasks alone; each task is a
 * single-threaded sgemm (OpenBLAS is set to 1 thread meanwhile and restored
 * to T before returning); with a Gram (req->gram, any K) the tasks are the
 * tiles, each tile's Gram summed on its own and added in tile order. Results are identical
 * run to run for a
 * given T (and equal up to rounding across T). Do not use one nn_mlp from
 * two threads at once. */
int nn_mlp_backward(nn_mlp *m, const float *dy, const nn_bwd *req, mtrl_err *e);

/* sum_k w[k] (group k's parameter gradient) for the groups of rows given by
 * off (K + 1 offsets, as nn_bwd.group_off) of the last backward pass, into
 * grad's columns [offset, offset + nparams) (overwritten): the combination a
 * combiner forms from kept rows, without them, as one weight-gradient
 * product per layer over the batch with each row's signal scaled by its
 * group's weight. Equal to combining the rows up to float rounding. Needs a
 * backward pass since the last forward, and that pass's dy must still hold
 * its values. MTRL_EINPUT otherwise. */
int nn_mlp_grad_weighted(nn_mlp *m, int K, const int *off, const float *w, float *grad,
                         mtrl_err *e);

/* ------------------------------------------------------------------------ */
/* Tanh-Gaussian policy head                                                 */

typedef struct nn_policy nn_policy;

/* How log(1 - tanh(u)^2) enters log pi. */
typedef enum nn_tanh_corr {
    /* exact and numerically stable: 2 (log 2 - u - softplus(-2u)) (default) */
    NN_TANH_EXACT = 0,
    /* the mtrl reference: log(max(0, 1 - a^2) + 1e-6), a = tanh(u) */
    NN_TANH_REF_EPS = 1,
} nn_tanh_corr;

/* act_dim = A. The actor output ("head") is B x 2A: columns [0, A) the mean
 * mu, [A, 2A) the raw log-std r, mapped (as the reference) to
 * log_std = lmin + (lmax - lmin) (tanh(r) + 1) / 2, in [lmin, lmax]
 * (reference: [-20, 2]). */
int nn_policy_create(nn_policy **out, int act_dim, int max_batch, float log_std_min,
                     float log_std_max, nn_tanh_corr corr, mtrl_err *e);
void nn_policy_destroy(nn_policy *p);

/* Reparameterized sample: u = mu + exp(log_std) * eps, action = tanh(u),
 * logp[b] = sum_j (-eps_j^2 / 2 - log_std_j - log(2 pi) / 2 - log(1 - a_j^2)).
 * eps: B x A standard normal noise, or NULL to draw it from r (row-major,
 * rng_normal order). action: B x A; logp: B (may be NULL). Keeps what
 * nn_policy_backward needs (head is not read again). */
int nn_policy_sample(nn_policy *p, int B, const float *head, const float *eps, rng_state *r,
                     float *action, float *logp, mtrl_err *e);
/* Deterministic action tanh(mu), B x A (evaluation). */
void nn_policy_mean_action(const nn_policy *p, int B, const float *head, float *action);
/* From the last sample: log_std (B x A), the noise used (B x A). */
const float *nn_policy_log_std(const nn_policy *p);
const float *nn_policy_eps(const nn_policy *p);

/* Backward through the last nn_policy_sample: given dL/d(action) (B x A with
 * row stride ld_da, 0 means A; NULL means zero) and dL/d(logp) (B; NULL means
 * zero), writes dL/d(head) (B x 2A). */
int nn_policy_backward(nn_policy *p, const float *d_action, int ld_da, const float *d_logp,
                       float *d_head, mtrl_err *e);

#endif
