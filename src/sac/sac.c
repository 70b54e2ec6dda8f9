#include "sac/sac.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/timer.h"
#include "mtl/mtl.h"
#include "nets/nets.h"
#include "sac/rows.h"

#define MAX_LAYERS (CFG_LIST_MAX + 1)

/* One multi-task combined component (critic, actor or temperature): its
 * per-task gradient matrix, the combiner and the combined update vector. */
typedef struct sac_component {
    nn_params *p;
    mtl_combiner *comb; /* NULL: plain mean of the per-task losses */
    float *G;           /* K x P per-task gradients (only with a combiner) */
    float *d;           /* P: the update vector */
    float *loss;        /* K: per-task losses of the current update */
    float *loss_after;  /* K: the same losses after the step (FAMO), or NULL */
    float *rep_gram;    /* K x K Gram of the representation gradients (Aligned-MTL-UB), or NULL */
    double *gram;       /* K x K Gram of the rows of G formed in the backward pass, or NULL
                         * (the combiner does not solve on a Gram) */
    int use_gram;       /* this update's backward pass forms gram */
    /* drop_rows: the combiner reads G only to sum it (mtl_rows_only_summed),
     * so with the Gram from the backward pass the rows need not be kept; d
     * then comes from the nets' weighted pass (nn_mlp_grad_weighted).
     * rows_dropped: this update's backward pass kept none (sac_drops_rows). */
    int drop_rows, rows_dropped;
    nn_mlp *nets[2];    /* the networks whose parameters these are */
    int n_nets;
    nn_adam_cfg adam;
    double clip;        /* max norm of d (agent.grad_clip); 0 = off */
} sac_component;

struct sac_agent {
    mtrl_config cfg;
    int K, obs_dim, act_dim, onehot_cols, max_batch;
    int alpha_per_task;
    nn_mlp *actor, *q1, *q2, *q1t, *q2t;
    nn_policy *pol;
    nn_params *target;
    sac_component actor_c, critic_c, alpha_c;
    rng_state rng;
    int64_t updates, skipped;
    sac_rows *rows;                /* the batch's task groups, row layout, one-hot */
    int fast_rows;                 /* sac_set_fast_rows */
    int backward_gram;             /* sac_set_backward_gram */

    /* per-batch workspace, max_batch rows */
    float *act_next, *logp_next;   /* target policy sample */
    float *act_pi, *logp_pi;       /* actor-loss policy sample */
    float *noise;                  /* actor noise in batch order (CAGrad-Fast's layout) */
    float *y, *dq1, *dq2;          /* critic targets as sampled, dL/dQ */
    float *da1, *da2, *dlogp, *dhead;
};

/* ------------------------------------------------------------------------ */

static int make_mlp(nn_mlp **out, int in, const cfg_int_list *hidden, int out_dim, int max_batch,
                    mtrl_err *e)
{
    int dims[MAX_LAYERS + 1];
    int n = 0;
    dims[n++] = in;
    for (int i = 0; i < hidden->n; i++)
        dims[n++] = hidden->v[i];
    dims[n++] = out_dim;
    return nn_mlp_create(out, n - 1, dims, max_batch, e);
}

static int component_init(sac_component *c, const mtrl_config *cfg, int K, long P, int combine,
                          int component, double lr, mtrl_err *e)
{
    int rc = nn_params_create(&c->p, P, e);
    if (rc)
        return rc;
    c->adam = nn_adam_default();
    c->adam.lr = (float)lr;
    c->adam.beta1 = (float)cfg->agent.adam_beta1;
    c->adam.beta2 = (float)cfg->agent.adam_beta2;
    c->adam.eps = (float)cfg->agent.adam_eps;
    c->clip = cfg->agent.grad_clip;
    c->d = calloc((size_t)P, sizeof(float));
    c->loss = calloc((size_t)K, sizeof(float));
    if (!c->d || !c->loss)
        return err_set(e, MTRL_ENOMEM, "out of memory for an update vector of %ld floats", P);
    if (!combine)
        return 0;
    mtl_options o;
    if ((rc = mtl_options_from_config(cfg, component, &o, e)))
        return rc;
    /* The mean of the per-task means needs no K x P matrix: one summed
     * backward pass with rows scaled by 1/(K n_k) gives it directly. */
    if (o.method == MTL_MEAN)
        return 0;
    if ((rc = mtl_create(&c->comb, K, P, &o, e)))
        return rc;
    c->G = malloc((size_t)K * (size_t)P * sizeof(float));
    if (!c->G)
        return err_set(e, MTRL_ENOMEM, "out of memory for a %d x %ld gradient matrix", K, P);
    /* The methods that always solve on the full Gram of the rows get it from
     * the backward pass (the temperature has no backward pass of nets). */
    static const mtl_method on_gram[] = {MTL_PCGRAD,   MTL_CAGRAD,      MTL_CAGRAD_FAST,
                                         MTL_MGDA,     MTL_ALIGNED_MTL, MTL_IMTL_G,
                                         MTL_UPGRAD,   MTL_DUALPROJ,    MTL_CONFIG};
    int wants = 0;
    for (size_t i = 0; i < sizeof on_gram / sizeof on_gram[0]; i++)
        wants |= o.method == on_gram[i];
    /* CAGrad-Fast's subset route never forms the full Gram. */
    if (o.method == MTL_CAGRAD_FAST && o.fast_gram == MTL_FAST_GRAM_SUBSET &&
        o.fast_subset < K)
        wants = 0;
    if (wants && component != 2 && !(c->gram = calloc((size_t)K * (size_t)K, sizeof(double))))
        return err_set(e, MTRL_ENOMEM, "out of memory");
    c->drop_rows = c->gram && mtl_rows_only_summed(c->comb);
    /* The temperature has no representation layer: its Aligned-MTL-UB is
     * Aligned-MTL on the parameter Gram (rep_gram stays NULL). */
    unsigned needs = mtl_needs(c->comb);
    if ((needs & MTL_NEEDS_AFTER_STEP) && !(c->loss_after = calloc((size_t)K, sizeof(float))))
        return err_set(e, MTRL_ENOMEM, "out of memory");
    if ((needs & MTL_NEEDS_REP_GRAM) && component != 2 &&
        !(c->rep_gram = calloc((size_t)K * (size_t)K, sizeof(float))))
        return err_set(e, MTRL_ENOMEM, "out of memory");
    return 0;
}

static void component_free(sac_component *c)
{
    nn_params_destroy(c->p);
    mtl_destroy(c->comb);
    free(c->G);
    free(c->d);
    free(c->loss);
    free(c->loss_after);
    free(c->rep_gram);
    free(c->gram);
}

void sac_destroy(sac_agent *a)
{
    if (!a)
        return;
    nn_mlp_destroy(a->actor);
    nn_mlp_destroy(a->q1);
    nn_mlp_destroy(a->q2);
    nn_mlp_destroy(a->q1t);
    nn_mlp_destroy(a->q2t);
    nn_policy_destroy(a->pol);
    nn_params_destroy(a->target);
    component_free(&a->actor_c);
    component_free(&a->critic_c);
    component_free(&a->alpha_c);
    sac_rows_destroy(a->rows);
    float *bufs[] = {a->act_next, a->logp_next, a->act_pi, a->logp_pi, a->noise, a->y,
                     a->dq1,      a->dq2,       a->da1,    a->da2,     a->dlogp, a->dhead};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(a);
}

/* The per-batch workspace, max_batch rows. */
static int workspace_create(sac_agent *a, mtrl_err *e)
{
    size_t fb = (size_t)a->max_batch * sizeof(float), fa = fb * (size_t)a->act_dim;
    a->act_next = malloc(fa), a->logp_next = malloc(fb);
    a->act_pi = malloc(fa), a->logp_pi = malloc(fb), a->noise = malloc(fa);
    a->y = malloc(fb), a->dq1 = malloc(fb), a->dq2 = malloc(fb);
    a->da1 = malloc(fa), a->da2 = malloc(fa), a->dlogp = malloc(fb);
    a->dhead = malloc(2 * fa);
    if (!a->act_next || !a->logp_next || !a->act_pi || !a->logp_pi || !a->noise || !a->y ||
        !a->dq1 || !a->dq2 || !a->da1 || !a->da2 || !a->dlogp || !a->dhead)
        return err_set(e, MTRL_ENOMEM, "out of memory for the agent's batch workspace");
    return 0;
}

int sac_create(sac_agent **out, const mtrl_config *cfg, int K, int obs_dim, int act_dim,
               mtrl_err *e)
{
    *out = NULL;
    sac_agent *a = calloc(1, sizeof *a);
    if (!a)
        return err_set(e, MTRL_ENOMEM, "out of memory for the agent");
    a->cfg = *cfg;
    a->K = K;
    a->obs_dim = obs_dim;
    a->act_dim = act_dim;
    a->onehot_cols = cfg->agent.task_input == CFG_TASK_INPUT_ONEHOT ? K : 0;
    a->max_batch = cfg->agent.batch_size > K ? cfg->agent.batch_size : K;
    a->alpha_per_task = cfg->agent.alpha == CFG_ALPHA_PER_TASK;
    int B = a->max_batch, in = obs_dim + a->onehot_cols;
    int rc;

    if ((rc = make_mlp(&a->actor, in, &cfg->agent.actor_hidden, 2 * act_dim, B, e)) ||
        (rc = make_mlp(&a->q1, in + act_dim, &cfg->agent.critic_hidden, 1, B, e)) ||
        (rc = make_mlp(&a->q2, in + act_dim, &cfg->agent.critic_hidden, 1, B, e)) ||
        (rc = make_mlp(&a->q1t, in + act_dim, &cfg->agent.critic_hidden, 1, B, e)) ||
        (rc = make_mlp(&a->q2t, in + act_dim, &cfg->agent.critic_hidden, 1, B, e)))
        goto fail;
    if ((rc = nn_policy_create(&a->pol, act_dim, B, (float)cfg->agent.log_std_min,
                               (float)cfg->agent.log_std_max, NN_TANH_EXACT, e)))
        goto fail;
    long pa = nn_mlp_nparams(a->actor), pq = nn_mlp_nparams(a->q1);
    int n_alpha = a->alpha_per_task ? K : 1;
    /* Per-task temperatures each get only their own task's gradient, so
     * there is nothing to combine; a shared one goes through the combiner
     * when mtl.on_alpha says so (the reference). */
    if ((rc = component_init(&a->actor_c, cfg, K, pa, cfg->mtl.on_actor, 0, cfg->agent.actor_lr,
                             e)) ||
        (rc = component_init(&a->critic_c, cfg, K, 2 * pq, cfg->mtl.on_critic, 1,
                             cfg->agent.critic_lr, e)) ||
        (rc = component_init(&a->alpha_c, cfg, K, n_alpha, !a->alpha_per_task && cfg->mtl.on_alpha,
                             2, cfg->agent.alpha_lr, e)))
        goto fail;
    if (cfg->agent.actor_l2 > 0)
        a->actor_c.adam.weight_decay = (float)cfg->agent.actor_l2; /* coupled L2, as Kurin */
    if ((rc = nn_params_create(&a->target, 2 * pq, e)))
        goto fail;
    a->actor_c.nets[0] = a->actor, a->actor_c.n_nets = 1;
    a->critic_c.nets[0] = a->q1, a->critic_c.nets[1] = a->q2, a->critic_c.n_nets = 2;
    if ((rc = nn_mlp_bind(a->actor, a->actor_c.p, 0, e)) ||
        (rc = nn_mlp_bind(a->q1, a->critic_c.p, 0, e)) ||
        (rc = nn_mlp_bind(a->q2, a->critic_c.p, pq, e)) ||
        (rc = nn_mlp_bind(a->q1t, a->target, 0, e)) ||
        (rc = nn_mlp_bind(a->q2t, a->target, pq, e)))
        goto fail;

    rng_state init;
    rng_seed(&init, (uint64_t)cfg->run.seed, RNG_STREAM_INIT);
    nn_mlp_init(a->actor, NN_INIT_XAVIER, &init);
    nn_mlp_init(a->q1, NN_INIT_XAVIER, &init);
    nn_mlp_init(a->q2, NN_INIT_XAVIER, &init);
    if ((rc = nn_params_copy(a->target, a->critic_c.p, e)))
        goto fail;
    for (int k = 0; k < n_alpha; k++)
        a->alpha_c.p->w[k] = (float)log(cfg->agent.init_temperature);
    rng_seed(&a->rng, (uint64_t)cfg->run.seed, RNG_STREAM_AGENT);

    a->fast_rows = 1;
    a->backward_gram = 1;
    if ((rc = sac_rows_create(&a->rows, K, obs_dim, act_dim, B, a->onehot_cols > 0, e)) ||
        (rc = workspace_create(a, e)))
        goto fail;
    *out = a;
    return 0;
fail:
    sac_destroy(a);
    return rc;
}

/* ------------------------------------------------------------------------ */

static float alpha_of(const sac_agent *a, int task)
{
    return expf(a->alpha_c.p->w[a->alpha_per_task ? task : 0]);
}

double sac_alpha(const sac_agent *a, int k) { return alpha_of(a, k); }

/* Network input blocks: obs [, one-hot] [, action]. */
static int input_blocks(const sac_agent *a, const float *obs, const float *act, nn_in *in)
{
    int n = 0;
    in[n++] = (nn_in){obs, a->obs_dim, 0};
    if (a->onehot_cols)
        in[n++] = (nn_in){a->rows->onehot, a->K, 0};
    if (act)
        in[n++] = (nn_in){act, a->act_dim, 0};
    return n;
}

int sac_act(sac_agent *a, int n, const float *obs, const int32_t *task, int deterministic,
            float *actions, mtrl_err *e)
{
    if (n < 1 || n > a->max_batch)
        return err_set(e, MTRL_EINPUT, "sac_act: %d rows, the agent takes 1..%d", n,
                       a->max_batch);
    sac_rows_fill_onehot(a->rows, n, task);
    nn_in in[NN_MAX_IN];
    int rc = nn_mlp_forward_in(a->actor, n, input_blocks(a, obs, NULL, in), in, e);
    if (rc)
        return rc;
    const float *head = nn_mlp_out(a->actor);
    if (deterministic) {
        nn_policy_mean_action(a->pol, n, head, actions);
        return 0;
    }
    return nn_policy_sample(a->pol, n, head, NULL, &a->rng, actions, NULL, e);
}

/* ------------------------------------------------------------------------ */
/* Combining and stepping a component */

static int all_finite(const float *x, long n)
{
    for (long i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

/* Keeping K rows of P floats costs writing and reading them back (and the
 * cache they evict); not keeping them costs one more weight-gradient pass
 * over the B batch rows. Measured here (bench update, paired with keeping
 * them): MT50, 26 rows per task, 4-5 ms less per update; MT10, 128 rows per
 * task, 10 ms more. The crossover is near 40 rows per task. */
enum { DROP_ROWS_MAX_ROWS_PER_GROUP = 40 };

int sac_drops_rows(int groups, int rows)
{
    return groups >= 2 && rows <= DROP_ROWS_MAX_ROWS_PER_GROUP * groups;
}

/* d = G^T w on the learner threads (mtl_row_sum_fn). */
static void rows_wsum(void *ctx, int k, long n, const float *G, const float *w, float *d)
{
    (void)ctx;
    nn_rows_wsum(k, n, G, w, d);
}

/* d = sum_k w_k (group k's gradient) from the networks' last backward pass,
 * for a component whose rows were not kept (G is not read). */
typedef struct weighted_sum_ctx {
    const sac_component *c;
    const int *off;
} weighted_sum_ctx;

static void weighted_sum(void *ctx, int k, long n, const float *G, const float *w, float *d)
{
    const weighted_sum_ctx *x = ctx;
    (void)n, (void)G;
    mtrl_err e;
    for (int i = 0; i < x->c->n_nets; i++)
        if (nn_mlp_grad_weighted(x->c->nets[i], k, x->off, w, d, &e)) {
            /* Cannot happen right after the backward pass that formed the
             * Gram; should it, the update is skipped as not finite. */
            d[0] = NAN;
            return;
        }
}

/* Combines the first k rows of c->G (or, rows not kept, the networks'
 * weighted pass over groups off) into c->d (or takes c->d as it is when the
 * component has no combiner) and applies Adam. Returns 1 if skipped because
 * something was not finite. */
static int component_step(sac_component *c, int k, const int *off, const int *tasks, int fast,
                          sac_update_stats *st, mtrl_err *e, int *rc)
{
    double t0 = tm_now();
    *rc = 0;
    if (c->comb) {
        mtl_stats ms;
        /* tasks: the task of each compacted group, for the combiners that
         * keep per-task state (FAMO's logits, Nash-MTL's weights). */
        const double *gram = c->use_gram ? c->gram : NULL;
        weighted_sum_ctx wctx = {.c = c, .off = off};
        mtl_input in = {.k = k, .G = c->G, .losses = c->loss, .tasks = tasks,
                        .rep_gram = c->rep_gram, .gram = gram,
                        .row_sum = c->rows_dropped ? weighted_sum : rows_wsum,
                        .row_sum_ctx = c->rows_dropped ? &wctx : NULL};
        /* fast: G holds CAGrad-Fast's |S|+1 rows for the subset drawn by
         * sac_rows_lay_out. */
        *rc = fast ? mtl_combine_fast_gram(c->comb, c->G, gram, rows_wsum, NULL, c->d, &ms, e)
                   : mtl_combine_in(c->comb, &in, c->d, &ms, e);
        if (*rc)
            return 0;
        st->t_gram_solve += ms.t_gram + ms.t_solve;
        t0 = tm_now() - ms.t_combine;
        if (ms.nonfinite)
            return 1;
    } else if (!all_finite(c->d, c->p->n)) {
        return 1;
    }
    if (c->clip > 0) {
        double n2 = 0;
        for (long i = 0; i < c->p->n; i++)
            n2 += (double)c->d[i] * c->d[i];
        if (n2 > c->clip * c->clip) {
            float s = (float)(c->clip / sqrt(n2));
            for (long i = 0; i < c->p->n; i++)
                c->d[i] *= s;
        }
    }
    *rc = nn_adam_step(c->p, c->d, &c->adam, e);
    st->t_combine_adam_polyak += tm_now() - t0;
    return 0;
}

/* Steps a component on its losses of this update (loss: their mean over
 * groups), counting a non-finite loss or gradient as a skip. fast: its
 * passes ran on CAGrad-Fast's |S|+1 rows. Returns 1 if skipped. */
static int component_update(sac_agent *a, sac_component *c, double loss, int fast,
                            sac_update_stats *st, mtrl_err *e, int *rc)
{
    *rc = 0;
    if (isfinite(loss) &&
        !component_step(c, a->rows->groups, a->rows->off, a->rows->group_task, fast, st, e,
                        rc))
        return 0;
    st->skipped++;
    return 1;
}

/* The component's combiner when it forms CAGrad-Fast's |S|+1 rows itself
 * (sac_set_fast_rows), else NULL. */
static mtl_combiner *fast_combiner(const sac_agent *a, const sac_component *c)
{
    return a->fast_rows && c->comb && mtl_get_method(c->comb) == MTL_CAGRAD_FAST ? c->comb
                                                                                : NULL;
}

/* Where a component's backward pass writes: per-task rows of G for the
 * combiner (CAGrad-Fast's |S|+1 rows in its layout), or (no combiner) one
 * summed row straight into the update vector over the whole batch; whole[2]
 * is the caller's storage for that group. */
static nn_bwd component_grad_request(const sac_agent *a, sac_component *c, int groups,
                                     int whole[2])
{
    const sac_rows *r = a->rows;
    /* The Gram of the rows, accumulated by each backward pass (zeroed here,
     * before the component's first one). */
    int rows = c->comb && r->ns > 0 ? r->ns + 1 : groups;
    c->use_gram = c->gram && a->backward_gram;
    c->rows_dropped = c->use_gram && c->drop_rows && !(c->comb && r->ns > 0) &&
                      sac_drops_rows(groups, r->off[groups] - r->off[0]);
    if (c->use_gram)
        memset(c->gram, 0, sizeof(double) * (size_t)rows * (size_t)rows);
    double *gram = c->use_gram ? c->gram : NULL;
    if (c->comb && r->ns > 0)
        return (nn_bwd){.grad = c->G, .ld_grad = c->p->n, .n_groups = r->ns + 1,
                        .group_off = r->boff, .gram = gram};
    if (c->rows_dropped)
        return (nn_bwd){.n_groups = groups, .group_off = r->off, .gram = gram};
    if (c->comb)
        return (nn_bwd){.grad = c->G, .ld_grad = c->p->n, .n_groups = groups,
                        .group_off = r->off, .gram = gram};
    whole[0] = r->off[0];
    whole[1] = r->off[groups];
    return (nn_bwd){.grad = c->d, .ld_grad = c->p->n, .n_groups = 1, .group_off = whole};
}

/* Aligned-MTL-UB's representation is the input of a network's last layer
 * (the last hidden activation H). Row i's gradient there is W_L^T dy_i, and
 * the rows of different tasks never overlap, so the representation Gram is
 * diagonal: entry g accumulates ||W_L^T dy_i||^2 over group g's rows
 * (spec/mtl-methods.md §3; the twin critics add their two H). */
/* Width of a network's last hidden layer (its input when it has none). */
static int last_width(const cfg_int_list *hidden, const nn_mlp *m)
{
    return hidden->n > 0 ? hidden->v[hidden->n - 1] : nn_mlp_in_dim(m);
}

static void add_rep_gram(const sac_agent *a, const nn_mlp *m, int h, const float *dy,
                         int groups, float *rg)
{
    const int L = nn_mlp_n_layers(m), out = nn_mlp_out_dim(m);
    const sac_rows *r = a->rows;
    const float *W = nn_mlp_weight(m, L - 1); /* out x h, row-major */
    for (int g = 0; g < groups; g++) {
        double acc = 0;
        int i0 = sac_rows_first(r, g);
        for (int i = i0; i < i0 + sac_rows_count(r, g); i++)
            for (int u = 0; u < h; u++) {
                double v = 0;
                for (int j = 0; j < out; j++)
                    v += (double)W[(long)j * h + u] * dy[(long)i * out + j];
                acc += v * v;
            }
        rg[(long)g * groups + g] += (float)acc;
    }
}

/* ------------------------------------------------------------------------ */
/* The losses. Each is a mean over a group's rows, one per task present in
 * the batch, on its component's row layout. *_forward computes them and
 * keeps what *_backward needs; *_backward turns dL/d(output) of each row,
 * scaled by its group's weight (sac_rows_scale), into the component's
 * gradient rows (or, without a combiner, the mean over groups straight into
 * its update vector). */

/* The current layout's copy of a batch array, or the array as sampled. */
static const float *laid_out(const sac_rows *r, const float *as_sampled, const float *in_layout)
{
    return r->ns > 0 ? in_layout : as_sampled;
}

static const int32_t *laid_out_task(const sac_rows *r, const rb_batch *b)
{
    return r->ns > 0 ? r->task : b->task;
}

/* Both critics (or both targets) on B rows of (obs [, one-hot], act). */
static int twin_forward(sac_agent *a, nn_mlp *m1, nn_mlp *m2, int B, const float *obs,
                        const float *act, mtrl_err *e)
{
    nn_in in[NN_MAX_IN];
    int n_in = input_blocks(a, obs, act, in);
    int rc = nn_mlp_forward_in(m1, B, n_in, in, e);
    return rc ? rc : nn_mlp_forward_in(m2, B, n_in, in, e);
}

/* The reported loss: the mean over groups of the per-group losses. */
static double group_mean(const float *loss, int groups)
{
    double s = 0;
    for (int g = 0; g < groups; g++)
        s += loss[g] / groups;
    return s;
}

/* The twin critics' squared error per group: the mean over its rows of
 * (q1 - y)^2 + (q2 - y)^2, summed in double. */
static void grouped_mse(const sac_rows *r, const float *q1, const float *q2, const float *y,
                        float *loss)
{
    for (int g = 0; g < r->groups; g++) {
        double l = 0;
        int i0 = sac_rows_first(r, g), n = sac_rows_count(r, g);
        for (int i = i0; i < i0 + n; i++) {
            float e1 = q1[i] - y[i], e2 = q2[i] - y[i];
            l += (double)e1 * e1 + (double)e2 * e2;
        }
        loss[g] = (float)(l / n);
    }
}

/* Critic targets, with no gradient, as sampled:
 * y = r + gamma (1 - done) (min(Q1', Q2')(s', a') - alpha log pi(a'|s')),
 * a' ~ pi(.|s'), Q' the target critics, alpha the row's task's. */
static int critic_target_forward(sac_agent *a, const rb_batch *b, mtrl_err *e)
{
    int B = b->rows, rc;
    nn_in in[NN_MAX_IN];
    if ((rc = nn_mlp_forward_in(a->actor, B, input_blocks(a, b->next_obs, NULL, in), in, e)) ||
        (rc = nn_policy_sample(a->pol, B, nn_mlp_out(a->actor), NULL, &a->rng, a->act_next,
                               a->logp_next, e)) ||
        (rc = twin_forward(a, a->q1t, a->q2t, B, b->next_obs, a->act_next, e)))
        return rc;
    const float *t1 = nn_mlp_out(a->q1t), *t2 = nn_mlp_out(a->q2t);
    float gamma = (float)a->cfg.agent.discount;
    for (int i = 0; i < B; i++) {
        float v = fminf(t1[i], t2[i]) - alpha_of(a, b->task[i]) * a->logp_next[i];
        a->y[i] = b->reward[i] + (1.0f - b->terminal[i]) * gamma * v;
    }
    return 0;
}

/* Critic loss per task: the mean of (Q1 - y)^2 + (Q2 - y)^2 over its rows,
 * on the critic's row layout (the targets follow their rows). */
static int critic_loss_forward(sac_agent *a, const rb_batch *b, sac_update_stats *st,
                               mtrl_err *e)
{
    sac_rows *r = a->rows;
    sac_component *c = &a->critic_c;
    int ns = sac_rows_lay_out(r, fast_combiner(a, c), b, 1, e);
    if (ns < 0)
        return ns;
    if (ns > 0)
        sac_rows_place(r, a->y, r->y, 1);
    int rc = twin_forward(a, a->q1, a->q2, b->rows, laid_out(r, b->obs, r->obs),
                          laid_out(r, b->act, r->act), e);
    if (rc)
        return rc;
    const float *q1 = nn_mlp_out(a->q1);
    grouped_mse(r, q1, nn_mlp_out(a->q2), laid_out(r, a->y, r->y), c->loss);
    st->critic_loss = group_mean(c->loss, r->groups);
    double qsum = 0;
    for (int g = 0; g < r->groups; g++)
        for (int i = sac_rows_first(r, g); i < sac_rows_first(r, g) + sac_rows_count(r, g); i++)
            qsum += q1[i];
    st->q_mean = qsum / b->rows;
    return 0;
}

/* dL/dQ = 2 (Q - y) per row, scaled by its group's weight, back through
 * both critics. */
static int critic_loss_backward(sac_agent *a, const rb_batch *b, mtrl_err *e)
{
    const sac_rows *r = a->rows;
    sac_component *c = &a->critic_c;
    const float *q1 = nn_mlp_out(a->q1), *q2 = nn_mlp_out(a->q2), *y = laid_out(r, a->y, r->y);
    for (int g = 0; g < r->groups; g++) {
        float sc = sac_rows_scale(r, g);
        int i0 = sac_rows_first(r, g), n = sac_rows_count(r, g);
        for (int i = i0; i < i0 + n; i++) {
            float e1 = q1[i] - y[i], e2 = q2[i] - y[i];
            a->dq1[i] = 2.0f * e1 * sc;
            a->dq2[i] = 2.0f * e2 * sc;
        }
    }
    if (!c->comb)
        for (int i = 0; i < b->rows; i++)
            a->dq1[i] /= (float)r->groups, a->dq2[i] /= (float)r->groups;
    int whole[2], rc;
    nn_bwd req = component_grad_request(a, c, r->groups, whole);
    if ((rc = nn_mlp_backward(a->q1, a->dq1, &req, e)) ||
        (rc = nn_mlp_backward(a->q2, a->dq2, &req, e)))
        return rc;
    if (c->rep_gram) {
        memset(c->rep_gram, 0, sizeof(float) * (size_t)r->groups * (size_t)r->groups);
        const cfg_int_list *h = &a->cfg.agent.critic_hidden;
        add_rep_gram(a, a->q1, last_width(h, a->q1), a->dq1, r->groups, c->rep_gram);
        add_rep_gram(a, a->q2, last_width(h, a->q2), a->dq2, r->groups, c->rep_gram);
    }
    return 0;
}

/* FAMO: the same batch's per-task critic losses with the updated critic,
 * against the same targets (still intact: the actor reuses the workspace
 * only after this), tell the combiner how much each task's loss fell. One
 * more forward pass of both critics, on the critic's layout. */
static int critic_loss_after(sac_agent *a, const rb_batch *b, sac_update_stats *st,
                             mtrl_err *e)
{
    double t0 = tm_now();
    const sac_rows *r = a->rows;
    sac_component *c = &a->critic_c;
    int rc = twin_forward(a, a->q1, a->q2, b->rows, laid_out(r, b->obs, r->obs),
                          laid_out(r, b->act, r->act), e);
    if (rc)
        return rc;
    grouped_mse(r, nn_mlp_out(a->q1), nn_mlp_out(a->q2), laid_out(r, a->y, r->y),
                c->loss_after);
    rc = mtl_after_step(c->comb, c->loss_after, e);
    st->t_fwd_bwd += tm_now() - t0;
    return rc;
}

static int critic_update(sac_agent *a, const rb_batch *b, sac_update_stats *st, mtrl_err *e)
{
    sac_component *c = &a->critic_c;
    double t0 = tm_now();
    int rc;
    if ((rc = critic_target_forward(a, b, e)) || (rc = critic_loss_forward(a, b, st, e)) ||
        (rc = critic_loss_backward(a, b, e)))
        return rc;
    st->t_fwd_bwd += tm_now() - t0;
    int fast = a->rows->ns > 0;
    st->fast_rows += fast;
    if (component_update(a, c, st->critic_loss, fast, st, e, &rc) || rc || !c->loss_after)
        return rc;
    return critic_loss_after(a, b, st, e);
}

/* Actor loss per task: the mean over its rows of
 * alpha log pi(a~|s) - min(Q1, Q2)(s, a~), a~ ~ pi(.|s), with the critic
 * just updated. On the actor's row layout; the policy noise is drawn in
 * batch order and follows its rows, so the layout changes no sample. */
static int actor_loss_forward(sac_agent *a, const rb_batch *b, sac_update_stats *st,
                              mtrl_err *e)
{
    sac_rows *r = a->rows;
    sac_component *c = &a->actor_c;
    int B = b->rows, A = a->act_dim, rc;
    int ns = sac_rows_lay_out(r, fast_combiner(a, c), b, 0, e);
    if (ns < 0)
        return ns;
    const float *obs = laid_out(r, b->obs, r->obs), *eps = NULL;
    if (ns > 0) {
        rng_normal_fill(&a->rng, a->noise, (long)B * A);
        sac_rows_place(r, a->noise, r->eps, A);
        eps = r->eps;
    }
    nn_in in[NN_MAX_IN];
    if ((rc = nn_mlp_forward_in(a->actor, B, input_blocks(a, obs, NULL, in), in, e)) ||
        (rc = nn_policy_sample(a->pol, B, nn_mlp_out(a->actor), eps, &a->rng, a->act_pi,
                               a->logp_pi, e)) ||
        (rc = twin_forward(a, a->q1, a->q2, B, obs, a->act_pi, e)))
        return rc;
    const float *q1 = nn_mlp_out(a->q1), *q2 = nn_mlp_out(a->q2);
    const int32_t *task = laid_out_task(r, b);
    double ent = 0;
    for (int g = 0; g < r->groups; g++) {
        double l = 0;
        int i0 = sac_rows_first(r, g), n = sac_rows_count(r, g);
        for (int i = i0; i < i0 + n; i++) {
            l += (double)alpha_of(a, task[i]) * a->logp_pi[i] - fminf(q1[i], q2[i]);
            ent -= a->logp_pi[i];
        }
        c->loss[g] = (float)(l / n);
    }
    st->actor_loss = group_mean(c->loss, r->groups);
    st->entropy = ent / B;
    return 0;
}

/* dL/dQ = -1 on the smaller critic, dL/d(log pi) = alpha, per row scaled
 * by its group's weight; back through both critics' action input, the
 * policy head and the actor. */
static int actor_loss_backward(sac_agent *a, const rb_batch *b, mtrl_err *e)
{
    const sac_rows *r = a->rows;
    sac_component *c = &a->actor_c;
    const float *q1 = nn_mlp_out(a->q1), *q2 = nn_mlp_out(a->q2);
    const int32_t *task = laid_out_task(r, b);
    int A = a->act_dim, rc;
    for (int g = 0; g < r->groups; g++) {
        float sc = sac_rows_scale(r, g), s = c->comb ? sc : sc / (float)r->groups;
        int i0 = sac_rows_first(r, g), n = sac_rows_count(r, g);
        for (int i = i0; i < i0 + n; i++) {
            a->dq1[i] = q1[i] <= q2[i] ? -s : 0.0f;
            a->dq2[i] = q1[i] <= q2[i] ? 0.0f : -s;
            a->dlogp[i] = alpha_of(a, task[i]) * s;
        }
    }
    int in_cols = nn_mlp_in_dim(a->q1) - A;
    if ((rc = nn_mlp_backward(a->q1, a->dq1,
                              &(nn_bwd){.dx = a->da1, .dx_col0 = in_cols, .dx_cols = A}, e)) ||
        (rc = nn_mlp_backward(a->q2, a->dq2,
                              &(nn_bwd){.dx = a->da2, .dx_col0 = in_cols, .dx_cols = A}, e)))
        return rc;
    for (long i = 0; i < (long)b->rows * A; i++)
        a->da1[i] += a->da2[i];
    if ((rc = nn_policy_backward(a->pol, a->da1, 0, a->dlogp, a->dhead, e)))
        return rc;
    int whole[2];
    nn_bwd req = component_grad_request(a, c, r->groups, whole);
    return nn_mlp_backward(a->actor, a->dhead, &req, e);
}

static int actor_update(sac_agent *a, const rb_batch *b, sac_update_stats *st, mtrl_err *e)
{
    sac_component *c = &a->actor_c;
    double t0 = tm_now();
    int rc;
    if ((rc = actor_loss_forward(a, b, st, e)) || (rc = actor_loss_backward(a, b, e)))
        return rc;
    st->t_fwd_bwd += tm_now() - t0;
    int groups = a->rows->groups;
    if (c->rep_gram) {
        memset(c->rep_gram, 0, sizeof(float) * (size_t)groups * (size_t)groups);
        add_rep_gram(a, a->actor, last_width(&a->cfg.agent.actor_hidden, a->actor), a->dhead,
                     groups, c->rep_gram);
    }
    int fast = a->rows->ns > 0;
    st->fast_rows += fast;
    component_update(a, c, st->actor_loss, fast, st, e, &rc);
    return rc;
}

/* Temperature loss per task: alpha (-log pi - H) with the bracket detached,
 * its mean over the task's rows of the actor's sample. */
static void alpha_loss_forward(sac_agent *a, sac_update_stats *st)
{
    const sac_rows *r = a->rows;
    sac_component *t = &a->alpha_c;
    double H = a->cfg.agent.target_entropy;
    for (int g = 0; g < r->groups; g++) {
        double m = 0;
        int i0 = sac_rows_first(r, g), n = sac_rows_count(r, g);
        for (int i = i0; i < i0 + n; i++)
            m += -a->logp_pi[i] - H;
        m /= n;
        t->loss[g] = (float)(alpha_of(a, r->group_task[g]) * m);
    }
    st->alpha_loss = group_mean(t->loss, r->groups);
}

/* d/d(log alpha) of alpha * m is alpha * m: each group's loss is its
 * gradient. Per-task temperatures take their own task's (over the groups,
 * as the mean over tasks); a shared one the combined rows or their mean. */
static void alpha_loss_backward(sac_agent *a)
{
    const sac_rows *r = a->rows;
    sac_component *t = &a->alpha_c;
    memset(t->d, 0, (size_t)t->p->n * sizeof(float));
    for (int g = 0; g < r->groups; g++) {
        float grad = t->loss[g];
        if (a->alpha_per_task)
            t->d[r->group_task[g]] = grad / (float)r->groups;
        else if (t->comb)
            t->G[g] = grad;
        else
            t->d[0] += grad / (float)r->groups;
    }
}

static int alpha_update(sac_agent *a, sac_update_stats *st, mtrl_err *e)
{
    int rc;
    alpha_loss_forward(a, st);
    alpha_loss_backward(a);
    component_update(a, &a->alpha_c, st->alpha_loss, 0, st, e, &rc);
    return rc;
}

int sac_update(sac_agent *a, const rb_batch *b, sac_update_stats *st, mtrl_err *e)
{
    memset(st, 0, sizeof *st);
    if (b->rows < 1 || b->rows > a->max_batch || b->n_tasks != a->K)
        return err_set(e, MTRL_EINPUT, "sac_update: batch of %d rows for %d tasks, agent takes "
                       "1..%d rows for %d tasks", b->rows, b->n_tasks, a->max_batch, a->K);
    if (sac_rows_begin(a->rows, b) == 0)
        return err_set(e, MTRL_EINPUT, "sac_update: empty batch");
    double r = 0;
    for (int i = 0; i < b->rows; i++)
        r += b->reward[i];
    st->batch_reward = r / b->rows;

    int rc = critic_update(a, b, st, e);
    if (rc)
        return rc;
    a->updates++;
    if (a->updates % a->cfg.agent.actor_update_freq == 0) {
        st->actor_updated = 1;
        if ((rc = actor_update(a, b, st, e)) || (rc = alpha_update(a, st, e)))
            return rc;
    }
    if (a->updates % a->cfg.agent.critic_target_update_freq == 0) {
        double t0 = tm_now();
        if ((rc = nn_params_polyak(a->target, a->critic_c.p, (float)a->cfg.agent.tau, e)))
            return rc;
        st->t_combine_adam_polyak += tm_now() - t0;
    }
    double al = 0;
    for (int k = 0; k < a->K; k++)
        al += alpha_of(a, k);
    st->alpha = al / a->K;
    a->skipped += st->skipped;
    return 0;
}

int64_t sac_num_updates(const sac_agent *a) { return a->updates; }
int64_t sac_num_skipped(const sac_agent *a) { return a->skipped; }
rng_state *sac_rng(sac_agent *a) { return &a->rng; }
void sac_set_fast_rows(sac_agent *a, int on) { a->fast_rows = on != 0; }
void sac_set_backward_gram(sac_agent *a, int on) { a->backward_gram = on != 0; }
const float *sac_update_vector(const sac_agent *a, int component, long *n)
{
    const sac_component *c = component == 0 ? &a->actor_c
                             : component == 1 ? &a->critic_c
                                              : &a->alpha_c;
    *n = c->p->n;
    return c->d;
}
long sac_num_params(const sac_agent *a, int critic)
{
    return critic ? a->critic_c.p->n : a->actor_c.p->n;
}

/* ------------------------------------------------------------------------ */
/* Checkpoints */

static int save_params(const nn_params *p, h5_file *f, const char *group, const char *name,
                       int with_adam, mtrl_err *e)
{
    char path[256];
    long dims[1] = {p->n};
    int rc;
    snprintf(path, sizeof path, "%s/%s/w", group, name);
    if ((rc = h5_write_f32(f, path, 1, dims, p->w, e)) || !with_adam)
        return rc;
    snprintf(path, sizeof path, "%s/%s/adam_m", group, name);
    if ((rc = h5_write_f32(f, path, 1, dims, p->m, e)))
        return rc;
    snprintf(path, sizeof path, "%s/%s/adam_v", group, name);
    if ((rc = h5_write_f32(f, path, 1, dims, p->v, e)))
        return rc;
    snprintf(path, sizeof path, "%s/%s/adam_step", group, name);
    int64_t step = p->step;
    return h5_write_i64(f, path, 0, NULL, &step, e);
}

/* Training never stores a NaN/Inf (a non-finite update is skipped), so one
 * in a checkpoint means damage; loading it would give an agent that acts on
 * NaN and still prints a normal-looking evaluation. Adam's second moment is
 * a running mean of squares: never negative. */
static int check_finite(const float *x, long n, int nonneg, h5_file *f, const char *path,
                        mtrl_err *e)
{
    for (long i = 0; i < n; i++)
        if (!isfinite(x[i]) || (nonneg && x[i] < 0))
            return err_set(e, MTRL_EINPUT,
                           "%s: dataset '%s' holds %g at [%ld]%s: the checkpoint is damaged",
                           h5_path(f), path, (double)x[i], i, nonneg ? " (must be >= 0)" : "");
    return 0;
}

static int load_params(nn_params *p, h5_file *f, const char *group, const char *name,
                       int with_adam, mtrl_err *e)
{
    char path[256];
    int rc;
    snprintf(path, sizeof path, "%s/%s/w", group, name);
    if ((rc = h5_read_f32_into(f, path, p->n, p->w, e)) ||
        (rc = check_finite(p->w, p->n, 0, f, path, e)) || !with_adam)
        return rc;
    snprintf(path, sizeof path, "%s/%s/adam_m", group, name);
    if ((rc = h5_read_f32_into(f, path, p->n, p->m, e)) ||
        (rc = check_finite(p->m, p->n, 0, f, path, e)))
        return rc;
    snprintf(path, sizeof path, "%s/%s/adam_v", group, name);
    if ((rc = h5_read_f32_into(f, path, p->n, p->v, e)) ||
        (rc = check_finite(p->v, p->n, 1, f, path, e)))
        return rc;
    snprintf(path, sizeof path, "%s/%s/adam_step", group, name);
    int64_t step;
    if ((rc = h5_read_i64_into(f, path, 1, &step, e)))
        return rc;
    if (step < 0 || step > (int64_t)1 << 52)
        return err_set(e, MTRL_EINPUT, "%s: dataset '%s' is %lld, not an Adam step count",
                       h5_path(f), path, (long long)step);
    p->step = (long)step;
    return 0;
}

static const char *const comp_names[3] = {"actor", "critic", "log_alpha"};

static sac_component *component_at(sac_agent *a, int i)
{
    return i == 0 ? &a->actor_c : i == 1 ? &a->critic_c : &a->alpha_c;
}

int sac_save(const sac_agent *a_const, h5_file *f, const char *group, mtrl_err *e)
{
    sac_agent *a = (sac_agent *)a_const; /* component_at is shared with load */
    char path[256];
    int rc;
    for (int i = 0; i < 3; i++) {
        sac_component *c = component_at(a, i);
        if ((rc = save_params(c->p, f, group, comp_names[i], 1, e)))
            return rc;
        if (c->comb) {
            snprintf(path, sizeof path, "%s/%s/mtl", group, comp_names[i]);
            if ((rc = mtl_save(c->comb, f, path, e)))
                return rc;
        }
    }
    if ((rc = save_params(a->target, f, group, "critic_target", 0, e)))
        return rc;
    snprintf(path, sizeof path, "%s/rng", group);
    long dims[1] = {4};
    if ((rc = h5_write_i64(f, path, 1, dims, (const int64_t *)a->rng.s, e)))
        return rc;
    snprintf(path, sizeof path, "%s/rng_normal", group);
    double cached[2] = {a->rng.cached_normal, a->rng.has_cached};
    dims[0] = 2;
    if ((rc = h5_write_f64(f, path, 1, dims, cached, e)))
        return rc;
    snprintf(path, sizeof path, "%s/counters", group);
    int64_t counters[2] = {a->updates, a->skipped};
    return h5_write_i64(f, path, 1, dims, counters, e);
}

int sac_load(sac_agent *a, h5_file *f, const char *group, mtrl_err *e)
{
    char path[256];
    int rc;
    for (int i = 0; i < 3; i++) {
        sac_component *c = component_at(a, i);
        if ((rc = load_params(c->p, f, group, comp_names[i], 1, e)))
            return rc;
        if (c->comb) {
            snprintf(path, sizeof path, "%s/%s/mtl", group, comp_names[i]);
            if ((rc = mtl_load(c->comb, f, path, e)))
                return rc;
        }
    }
    if ((rc = load_params(a->target, f, group, "critic_target", 0, e)))
        return rc;
    snprintf(path, sizeof path, "%s/rng", group);
    if ((rc = h5_read_i64_into(f, path, 4, (int64_t *)a->rng.s, e)))
        return rc;
    snprintf(path, sizeof path, "%s/rng_normal", group);
    double cached[2];
    if ((rc = h5_read_f64_into(f, path, 2, cached, e)))
        return rc;
    if (!isfinite(cached[0]) || (cached[1] != 0 && cached[1] != 1))
        return err_set(e, MTRL_EINPUT, "%s: dataset '%s' is (%g, %g), not a cached normal "
                       "and a 0/1 flag", h5_path(f), path, cached[0], cached[1]);
    a->rng.cached_normal = cached[0];
    a->rng.has_cached = (int)cached[1];
    snprintf(path, sizeof path, "%s/counters", group);
    int64_t counters[2];
    if ((rc = h5_read_i64_into(f, path, 2, counters, e)))
        return rc;
    if (counters[0] < 0 || counters[1] < 0)
        return err_set(e, MTRL_EINPUT, "%s: dataset '%s': negative counts (%lld, %lld)",
                       h5_path(f), path, (long long)counters[0], (long long)counters[1]);
    a->updates = counters[0];
    a->skipped = counters[1];
    return 0;
}
