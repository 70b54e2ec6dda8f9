#include "sac/sac.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/timer.h"
#include "mtl/mtl.h"
#include "nets/nets.h"

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

    /* per-batch workspace, max_batch rows */
    float *onehot;                 /* B x K (task one-hot), or NULL */
    float *act_next, *logp_next;   /* target policy sample */
    float *act_pi, *logp_pi;       /* actor-loss policy sample */
    float *y, *dq1, *dq2;          /* targets, dL/dQ */
    float *da1, *da2, *dlogp, *dhead;
    int *off;                      /* K + 1 group offsets (compacted) */
    int *group_task;               /* K: task of each compacted group */

    /* CAGrad-Fast forming only |S|+1 gradient rows (fast_rows, the default):
     * each combined component draws S first and lays the batch out so its
     * sampled groups come first and all the others form one block, which
     * one backward pass then turns into the remainder row. */
    int fast_rows;
    int fast_ns;                   /* |S| of the current layout; 0: as sampled */
    int onehot_perm;               /* the one-hot holds the reordered rows */
    float *pobs, *pact, *py;       /* the batch in that layout */
    int32_t *ptask;
    float *eps_raw, *eps_perm;     /* actor noise, drawn in batch order */
    int *order;                    /* K: compacted groups in layout order */
    int *gs;                       /* K: first row of each group in the layout */
    int *boff;                     /* K + 1: backward group offsets */
    int backward_gram;             /* sac_set_backward_gram */
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

static int map_mtl_options(const mtrl_config *cfg, int component, mtl_options *o, mtrl_err *e)
{
    const char *word = cfg_enum_word("mtl.method", cfg->mtl.method);
    mtl_method m;
    mtrl_err pe;
    if (!word || mtl_method_parse(word, &m, &pe) != 0)
        return err_set(e, MTRL_EINPUT, "mtl.method: %s", word ? pe.msg : "unknown method id");
    /* FAMO learns from the losses recomputed after the step; the agent does
     * that for the critic only (as FAMO's own mtrl runs reweight only the
     * critic; the actor's loss can be negative, and FAMO takes its log). */
    if (m == MTL_FAMO && component != 1)
        return err_set(e, MTRL_EINPUT,
                       "mtl.method: famo reweights the critic only; set mtl.on_actor: false "
                       "and mtl.on_alpha: false (the actor and temperature then use the mean)");
    mtl_options_default(o, m);
    o->c = cfg->mtl.cagrad_c;
    o->lr = cfg->mtl.cagrad_lr;
    o->momentum = cfg->mtl.cagrad_momentum;
    o->steps = cfg->mtl.cagrad_steps;
    static const mtl_rescale rescale[] = {[CFG_RESCALE_REFERENCE] = MTL_RESCALE_DEFAULT,
                                          [CFG_RESCALE_NONE] = MTL_RESCALE_NONE,
                                          [CFG_RESCALE_C2] = MTL_RESCALE_C2,
                                          [CFG_RESCALE_C] = MTL_RESCALE_C};
    o->rescale = rescale[cfg->mtl.cagrad_rescale];
    o->fast_gram = cfg->mtl.cagrad_fast_gram == CFG_FAST_GRAM_SUBSET ? MTL_FAST_GRAM_SUBSET
                                                                      : MTL_FAST_GRAM_FULL;
    o->fast_subset = cfg->mtl.cagrad_fast_subset;
    o->mgda_normalize = cfg->mtl.mgda_normalize == CFG_MGDA_NORM_L2;
    o->graddrop_k = cfg->mtl.graddrop_k;
    o->rlw_dist = cfg->mtl.rlw_dist == CFG_RLW_NORMAL ? MTL_RLW_NORMAL : MTL_RLW_DIRICHLET;
    o->nash_update_every = cfg->mtl.nash_update_every;
    o->nash_iters = cfg->mtl.nash_iters;
    o->nash_max_norm = cfg->mtl.nash_max_norm;
    o->famo_lr = cfg->mtl.famo_lr;
    o->famo_gamma = cfg->mtl.famo_gamma;
    o->upgrad_norm_eps = cfg->mtl.upgrad_norm_eps;
    o->upgrad_reg_eps = cfg->mtl.upgrad_reg_eps;
    o->seed = (uint64_t)cfg->run.seed;
    o->stream = (uint64_t)RNG_STREAM_MTL * 256 + (uint64_t)component;
    return 0;
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
    if ((rc = map_mtl_options(cfg, component, &o, e)))
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
    float *bufs[] = {a->onehot, a->act_next, a->logp_next, a->act_pi, a->logp_pi, a->y,
                     a->dq1,    a->dq2,      a->da1,       a->da2,    a->dlogp,   a->dhead};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(a->off);
    free(a->group_task);
    float *pbufs[] = {a->pobs, a->pact, a->py, a->eps_raw, a->eps_perm};
    for (size_t i = 0; i < sizeof pbufs / sizeof pbufs[0]; i++)
        free(pbufs[i]);
    free(a->ptask);
    free(a->order);
    free(a->gs);
    free(a->boff);
    free(a);
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

    size_t fb = (size_t)B * sizeof(float), fa = fb * (size_t)act_dim;
    a->onehot = a->onehot_cols ? calloc((size_t)B * (size_t)K, sizeof(float)) : NULL;
    a->act_next = malloc(fa), a->logp_next = malloc(fb);
    a->act_pi = malloc(fa), a->logp_pi = malloc(fb);
    a->y = malloc(fb), a->dq1 = malloc(fb), a->dq2 = malloc(fb);
    a->da1 = malloc(fa), a->da2 = malloc(fa), a->dlogp = malloc(fb);
    a->dhead = malloc(2 * fa);
    a->off = malloc((size_t)(K + 1) * sizeof(int));
    a->group_task = malloc((size_t)K * sizeof(int));
    a->fast_rows = 1;
    a->backward_gram = 1;
    a->pobs = malloc(fb * (size_t)obs_dim), a->pact = malloc(fa), a->py = malloc(fb);
    a->eps_raw = malloc(fa), a->eps_perm = malloc(fa);
    a->ptask = malloc((size_t)B * sizeof(int32_t));
    a->order = malloc((size_t)K * sizeof(int));
    a->gs = malloc((size_t)K * sizeof(int));
    a->boff = malloc((size_t)(K + 1) * sizeof(int));
    if ((a->onehot_cols && !a->onehot) || !a->act_next || !a->logp_next || !a->act_pi ||
        !a->logp_pi || !a->y || !a->dq1 || !a->dq2 || !a->da1 || !a->da2 || !a->dlogp ||
        !a->dhead || !a->off || !a->group_task || !a->pobs || !a->pact || !a->py ||
        !a->eps_raw || !a->eps_perm || !a->ptask || !a->order || !a->gs || !a->boff) {
        rc = err_set(e, MTRL_ENOMEM, "out of memory for the agent's batch workspace");
        goto fail;
    }
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
        in[n++] = (nn_in){a->onehot, a->K, 0};
    if (act)
        in[n++] = (nn_in){act, a->act_dim, 0};
    return n;
}

static void fill_onehot(sac_agent *a, int n, const int32_t *task)
{
    if (!a->onehot_cols)
        return;
    memset(a->onehot, 0, (size_t)n * (size_t)a->K * sizeof(float));
    for (int i = 0; i < n; i++)
        a->onehot[(size_t)i * (size_t)a->K + (size_t)task[i]] = 1.0f;
}

int sac_act(sac_agent *a, int n, const float *obs, const int32_t *task, int deterministic,
            float *actions, mtrl_err *e)
{
    if (n < 1 || n > a->max_batch)
        return err_set(e, MTRL_EINPUT, "sac_act: %d rows, the agent takes 1..%d", n,
                       a->max_batch);
    fill_onehot(a, n, task);
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

static int all_finite(const float *x, long n)
{
    for (long i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

/* Combines the first k rows of c->G into c->d (or takes c->d as it is when
 * the component has no combiner) and applies Adam. Returns 1 if skipped
 * because something was not finite. */
static int component_step(sac_component *c, int k, const int *tasks, int fast,
                          sac_update_stats *st, mtrl_err *e, int *rc)
{
    double t0 = tm_now();
    *rc = 0;
    if (c->comb) {
        mtl_stats ms;
        /* tasks: the task of each compacted group, for the combiners that
         * keep per-task state (FAMO's logits, Nash-MTL's weights). */
        const double *gram = c->use_gram ? c->gram : NULL;
        mtl_input in = {.k = k, .G = c->G, .losses = c->loss, .tasks = tasks,
                        .rep_gram = c->rep_gram, .gram = gram};
        /* fast: G holds CAGrad-Fast's |S|+1 rows for the subset drawn by
         * lay_out_rows. */
        *rc = fast ? mtl_combine_fast_gram(c->comb, c->G, gram, c->d, &ms, e)
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

/* Groups of the batch with at least one row, in task order: the reference
 * combines only the tasks present in a batch (spec §4.2). */
static int compact_groups(sac_agent *a, const rb_batch *b)
{
    int k = 0;
    a->off[0] = 0;
    for (int t = 0; t < a->K; t++) {
        int n = b->offsets[t + 1] - b->offsets[t];
        if (n <= 0)
            continue;
        a->group_task[k] = t;
        a->off[k + 1] = b->offsets[t + 1];
        a->off[k] = b->offsets[t];
        k++;
    }
    return k;
}

/* dL/d(out) scale of group g's rows: 1/n of its group, and for the groups
 * of CAGrad-Fast's remainder block also 1/(k - |S|), so that the block's
 * summed gradient is the remainder row (the mean of their per-task means). */
static float group_scale(const sac_agent *a, int g, int groups, int is_rest)
{
    float s = 1.0f / (float)(a->off[g + 1] - a->off[g]);
    return is_rest ? s / (float)(groups - a->fast_ns) : s;
}

/* Copies group g's rows of src (as sampled) to their place in the layout. */
static void place_rows(const sac_agent *a, int groups, const float *src, float *dst, int width)
{
    for (int g = 0; g < groups; g++)
        memcpy(dst + (size_t)a->gs[g] * (size_t)width, src + (size_t)a->off[g] * (size_t)width,
               sizeof(float) * (size_t)(a->off[g + 1] - a->off[g]) * (size_t)width);
}

/* The row layout of one component's pass. A component combined by
 * CAGrad-Fast (with fast_rows on and |S| < groups) draws its subset here,
 * before any pass runs, from its combiner's own rng (the very draw the
 * combiner would make inside mtl_combine), and gets the batch reordered:
 * the sampled groups in draw order, then the other groups, ascending, as one
 * contiguous block. Rows keep their order within a group, so every per-task
 * sum below adds the same values in the same order either way. The one-hot
 * follows the layout. Returns |S| (0: the batch as sampled) or a negative
 * code. with_act: also reorder the batch's actions (the critic). */
static int lay_out_rows(sac_agent *a, sac_component *c, const rb_batch *b, int groups,
                        int with_act, mtrl_err *e)
{
    int ns = 0;
    if (a->fast_rows && c->comb && mtl_get_method(c->comb) == MTL_CAGRAD_FAST) {
        ns = mtl_fast_draw(c->comb, groups, a->order, e);
        if (ns < 0)
            return ns;
    }
    a->fast_ns = ns;
    if (ns == 0) {
        for (int g = 0; g < groups; g++)
            a->gs[g] = a->off[g];
        if (a->onehot_perm) {
            fill_onehot(a, b->rows, b->task);
            a->onehot_perm = 0;
        }
        return 0;
    }
    int pos = a->off[0];
    for (int j = 0; j < groups; j++) {
        int g = a->order[j];
        a->gs[g] = pos;
        if (j <= ns)
            a->boff[j] = pos;
        pos += a->off[g + 1] - a->off[g];
    }
    a->boff[ns + 1] = pos;
    place_rows(a, groups, b->obs, a->pobs, a->obs_dim);
    if (with_act)
        place_rows(a, groups, b->act, a->pact, a->act_dim);
    for (int g = 0; g < groups; g++)
        memcpy(a->ptask + a->gs[g], b->task + a->off[g],
               sizeof(int32_t) * (size_t)(a->off[g + 1] - a->off[g]));
    fill_onehot(a, b->rows, a->ptask);
    a->onehot_perm = 1;
    return ns;
}

/* Whether group g is in the remainder block of the current layout. */
static int in_rest(const sac_agent *a, int g)
{
    return a->fast_ns > 0 && a->gs[g] >= a->boff[a->fast_ns];
}

/* Where a component's backward pass writes: per-task rows of G for the
 * combiner (CAGrad-Fast's |S|+1 rows in its layout), or (no combiner) one
 * summed row straight into the update vector over the whole batch; whole[2]
 * is the caller's storage for that group. */
static nn_bwd component_grad_request(const sac_agent *a, sac_component *c, int groups,
                                     int whole[2])
{
    /* The Gram of the rows, accumulated by each backward pass (zeroed here,
     * before the component's first one). */
    int rows = c->comb && a->fast_ns > 0 ? a->fast_ns + 1 : groups;
    c->use_gram = c->gram && a->backward_gram;
    if (c->use_gram)
        memset(c->gram, 0, sizeof(double) * (size_t)rows * (size_t)rows);
    double *gram = c->use_gram ? c->gram : NULL;
    if (c->comb && a->fast_ns > 0)
        return (nn_bwd){.grad = c->G, .ld_grad = c->p->n, .n_groups = a->fast_ns + 1,
                        .group_off = a->boff, .gram = gram};
    if (c->comb)
        return (nn_bwd){.grad = c->G, .ld_grad = c->p->n, .n_groups = groups,
                        .group_off = a->off, .gram = gram};
    whole[0] = a->off[0];
    whole[1] = a->off[groups];
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
    const float *W = nn_mlp_weight(m, L - 1); /* out x h, row-major */
    for (int g = 0; g < groups; g++) {
        double acc = 0;
        for (int i = a->off[g]; i < a->off[g + 1]; i++)
            for (int u = 0; u < h; u++) {
                double v = 0;
                for (int j = 0; j < out; j++)
                    v += (double)W[(long)j * h + u] * dy[(long)i * out + j];
                acc += v * v;
            }
        rg[(long)g * groups + g] += (float)acc;
    }
}

static int critic_update(sac_agent *a, const rb_batch *b, int groups, sac_update_stats *st,
                         mtrl_err *e)
{
    int B = b->rows, rc;
    nn_in in[NN_MAX_IN];
    double t0 = tm_now();

    /* Targets, with no gradient: a' ~ pi(.|s'), y = r + (1 - d) gamma V'. */
    if ((rc = nn_mlp_forward_in(a->actor, B, input_blocks(a, b->next_obs, NULL, in), in, e)) ||
        (rc = nn_policy_sample(a->pol, B, nn_mlp_out(a->actor), NULL, &a->rng, a->act_next,
                               a->logp_next, e)))
        return rc;
    int n_in = input_blocks(a, b->next_obs, a->act_next, in);
    if ((rc = nn_mlp_forward_in(a->q1t, B, n_in, in, e)) ||
        (rc = nn_mlp_forward_in(a->q2t, B, n_in, in, e)))
        return rc;
    const float *t1 = nn_mlp_out(a->q1t), *t2 = nn_mlp_out(a->q2t);
    float gamma = (float)a->cfg.agent.discount;
    for (int i = 0; i < B; i++) {
        float v = fminf(t1[i], t2[i]) - alpha_of(a, b->task[i]) * a->logp_next[i];
        a->y[i] = b->reward[i] + (1.0f - b->terminal[i]) * gamma * v;
    }

    /* Per-sample loss (Q1 - y)^2 + (Q2 - y)^2, per-task mean, on the
     * critic's row layout (the targets follow their rows). */
    sac_component *c = &a->critic_c;
    int ns = lay_out_rows(a, c, b, groups, 1, e);
    if (ns < 0)
        return ns;
    const float *y = a->y;
    if (ns > 0) {
        place_rows(a, groups, a->y, a->py, 1);
        y = a->py;
    }
    n_in = ns > 0 ? input_blocks(a, a->pobs, a->pact, in) : input_blocks(a, b->obs, b->act, in);
    if ((rc = nn_mlp_forward_in(a->q1, B, n_in, in, e)) ||
        (rc = nn_mlp_forward_in(a->q2, B, n_in, in, e)))
        return rc;
    const float *q1 = nn_mlp_out(a->q1), *q2 = nn_mlp_out(a->q2);
    double qsum = 0;
    for (int g = 0; g < groups; g++) {
        double l = 0;
        float sc = group_scale(a, g, groups, in_rest(a, g));
        int i0 = a->gs[g], i1 = i0 + a->off[g + 1] - a->off[g];
        for (int i = i0; i < i1; i++) {
            float e1 = q1[i] - y[i], e2 = q2[i] - y[i];
            l += (double)e1 * e1 + (double)e2 * e2;
            a->dq1[i] = 2.0f * e1 * sc;
            a->dq2[i] = 2.0f * e2 * sc;
            qsum += q1[i];
        }
        c->loss[g] = (float)(l / (a->off[g + 1] - a->off[g]));
        st->critic_loss += c->loss[g] / groups;
    }
    st->q_mean = qsum / B;

    /* Per-task gradient rows (or, without a combiner, the mean over tasks
     * of the per-task means straight into d: one group, rows scaled 1/K). */
    if (!c->comb)
        for (int i = 0; i < B; i++)
            a->dq1[i] /= (float)groups, a->dq2[i] /= (float)groups;
    int whole[2];
    nn_bwd req = component_grad_request(a, c, groups, whole);
    if ((rc = nn_mlp_backward(a->q1, a->dq1, &req, e)) ||
        (rc = nn_mlp_backward(a->q2, a->dq2, &req, e)))
        return rc;
    if (c->rep_gram) {
        memset(c->rep_gram, 0, sizeof(float) * (size_t)groups * (size_t)groups);
        add_rep_gram(a, a->q1, last_width(&a->cfg.agent.critic_hidden, a->q1), a->dq1, groups,
                     c->rep_gram);
        add_rep_gram(a, a->q2, last_width(&a->cfg.agent.critic_hidden, a->q2), a->dq2, groups,
                     c->rep_gram);
    }
    st->t_fwd_bwd += tm_now() - t0;
    st->fast_rows += ns > 0;
    if (!isfinite(st->critic_loss) ||
        component_step(c, groups, a->group_task, ns > 0, st, e, &rc)) {
        st->skipped++;
        return rc;
    }
    if (rc || !c->loss_after)
        return rc;
    /* FAMO: the same batch's per-task losses with the updated critic,
     * against the same targets y (still intact; the actor update reuses y
     * only after this), tell the combiner how much each task's loss fell.
     * One more forward pass of both critics. */
    t0 = tm_now();
    if ((rc = nn_mlp_forward_in(a->q1, B, n_in, in, e)) ||
        (rc = nn_mlp_forward_in(a->q2, B, n_in, in, e)))
        return rc;
    q1 = nn_mlp_out(a->q1), q2 = nn_mlp_out(a->q2);
    for (int g = 0; g < groups; g++) {
        double l = 0;
        int i0 = a->gs[g], i1 = i0 + a->off[g + 1] - a->off[g];
        for (int i = i0; i < i1; i++) {
            float e1 = q1[i] - y[i], e2 = q2[i] - y[i];
            l += (double)e1 * e1 + (double)e2 * e2;
        }
        c->loss_after[g] = (float)(l / (a->off[g + 1] - a->off[g]));
    }
    rc = mtl_after_step(c->comb, c->loss_after, e);
    st->t_fwd_bwd += tm_now() - t0;
    return rc;
}

static int actor_alpha_update(sac_agent *a, const rb_batch *b, int groups, sac_update_stats *st,
                              mtrl_err *e)
{
    int B = b->rows, A = a->act_dim, rc;
    nn_in in[NN_MAX_IN];
    double t0 = tm_now();

    /* Actor: per-sample alpha * log pi(a~|s) - min(Q1, Q2)(s, a~), with the
     * critic just updated; gradient flows through the critic's input. On
     * the actor's own row layout; the policy noise is drawn in batch order
     * and follows its rows, so the layout changes no sample. */
    sac_component *c = &a->actor_c;
    int ns = lay_out_rows(a, c, b, groups, 0, e);
    if (ns < 0)
        return ns;
    const float *obs = ns > 0 ? a->pobs : b->obs;
    const int32_t *task = ns > 0 ? a->ptask : b->task;
    const float *eps = NULL;
    if (ns > 0) {
        rng_normal_fill(&a->rng, a->eps_raw, (long)B * A);
        place_rows(a, groups, a->eps_raw, a->eps_perm, A);
        eps = a->eps_perm;
    }
    if ((rc = nn_mlp_forward_in(a->actor, B, input_blocks(a, obs, NULL, in), in, e)) ||
        (rc = nn_policy_sample(a->pol, B, nn_mlp_out(a->actor), eps, &a->rng, a->act_pi,
                               a->logp_pi, e)))
        return rc;
    int n_in = input_blocks(a, obs, a->act_pi, in);
    if ((rc = nn_mlp_forward_in(a->q1, B, n_in, in, e)) ||
        (rc = nn_mlp_forward_in(a->q2, B, n_in, in, e)))
        return rc;
    const float *q1 = nn_mlp_out(a->q1), *q2 = nn_mlp_out(a->q2);
    double ent = 0;
    for (int g = 0; g < groups; g++) {
        double l = 0;
        float sc = group_scale(a, g, groups, in_rest(a, g));
        int i0 = a->gs[g], i1 = i0 + a->off[g + 1] - a->off[g];
        for (int i = i0; i < i1; i++) {
            float al = alpha_of(a, task[i]);
            float q = fminf(q1[i], q2[i]);
            l += (double)al * a->logp_pi[i] - q;
            float s = c->comb ? sc : sc / (float)groups;
            a->dq1[i] = q1[i] <= q2[i] ? -s : 0.0f;
            a->dq2[i] = q1[i] <= q2[i] ? 0.0f : -s;
            a->dlogp[i] = al * s;
            ent -= a->logp_pi[i];
        }
        c->loss[g] = (float)(l / (a->off[g + 1] - a->off[g]));
        st->actor_loss += c->loss[g] / groups;
    }
    st->entropy = ent / B;
    int in_cols = nn_mlp_in_dim(a->q1) - A;
    if ((rc = nn_mlp_backward(a->q1, a->dq1,
                              &(nn_bwd){.dx = a->da1, .dx_col0 = in_cols, .dx_cols = A}, e)) ||
        (rc = nn_mlp_backward(a->q2, a->dq2,
                              &(nn_bwd){.dx = a->da2, .dx_col0 = in_cols, .dx_cols = A}, e)))
        return rc;
    for (long i = 0; i < (long)B * A; i++)
        a->da1[i] += a->da2[i];
    if ((rc = nn_policy_backward(a->pol, a->da1, 0, a->dlogp, a->dhead, e)))
        return rc;
    int whole[2];
    nn_bwd req = component_grad_request(a, c, groups, whole);
    if ((rc = nn_mlp_backward(a->actor, a->dhead, &req, e)))
        return rc;
    st->t_fwd_bwd += tm_now() - t0;
    if (c->rep_gram) {
        memset(c->rep_gram, 0, sizeof(float) * (size_t)groups * (size_t)groups);
        add_rep_gram(a, a->actor, last_width(&a->cfg.agent.actor_hidden, a->actor), a->dhead,
                     groups, c->rep_gram);
    }
    st->fast_rows += ns > 0;
    if (!isfinite(st->actor_loss) ||
        component_step(c, groups, a->group_task, ns > 0, st, e, &rc))
        st->skipped++;
    if (rc)
        return rc;

    /* Temperature: per-sample alpha * (-log pi - target_entropy) with the
     * bracket detached, so d/d(log alpha) = alpha * (-log pi - H). */
    sac_component *t = &a->alpha_c;
    double H = a->cfg.agent.target_entropy;
    memset(t->d, 0, (size_t)t->p->n * sizeof(float));
    for (int g = 0; g < groups; g++) {
        int task = a->group_task[g];
        float al = alpha_of(a, task);
        double m = 0;
        int i0 = a->gs[g], i1 = i0 + a->off[g + 1] - a->off[g];
        for (int i = i0; i < i1; i++)
            m += -a->logp_pi[i] - H;
        m /= a->off[g + 1] - a->off[g];
        t->loss[g] = (float)(al * m);
        st->alpha_loss += t->loss[g] / groups;
        float grad = (float)(al * m);
        if (a->alpha_per_task)
            t->d[task] = grad / (float)groups; /* each task's own mean, summed over tasks / K */
        else if (t->comb)
            t->G[g] = grad;
        else
            t->d[0] += grad / (float)groups;
    }
    if (!isfinite(st->alpha_loss) || component_step(t, groups, a->group_task, 0, st, e, &rc))
        st->skipped++;
    return rc;
}

int sac_update(sac_agent *a, const rb_batch *b, sac_update_stats *st, mtrl_err *e)
{
    memset(st, 0, sizeof *st);
    if (b->rows < 1 || b->rows > a->max_batch || b->n_tasks != a->K)
        return err_set(e, MTRL_EINPUT, "sac_update: batch of %d rows for %d tasks, agent takes "
                       "1..%d rows for %d tasks", b->rows, b->n_tasks, a->max_batch, a->K);
    int groups = compact_groups(a, b);
    if (groups == 0)
        return err_set(e, MTRL_EINPUT, "sac_update: empty batch");
    fill_onehot(a, b->rows, b->task);
    a->onehot_perm = 0;
    double r = 0;
    for (int i = 0; i < b->rows; i++)
        r += b->reward[i];
    st->batch_reward = r / b->rows;

    int rc = critic_update(a, b, groups, st, e);
    if (rc)
        return rc;
    a->updates++;
    if (a->updates % a->cfg.agent.actor_update_freq == 0) {
        st->actor_updated = 1;
        if ((rc = actor_alpha_update(a, b, groups, st, e)))
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
