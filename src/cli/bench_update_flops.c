/* mtrl bench update: the FLOP model of one update. */
#include "cli/bench_update.h"
#include "mtl/mtl.h"

#define OBS ENV_OBS_DIM
#define ACT ENV_ACT_DIM

/* FLOPs of one update: the sgemm/ssyrk/sgemv work for the configured shapes.
 * Per dense layer l with B rows: forward 2 B d_l d_{l+1}; backprop signal to
 * the layer's input (l > 0) and weight gradient the same each (the per-task
 * weight gradients split only the batch: same FLOPs as the summed one). */

void bu_get_shapes(const mtrl_config *c, int K, bu_shapes *s)
{
    int in = OBS + (c->agent.task_input == CFG_TASK_INPUT_ONEHOT ? K : 0);
    s->na = s->nc = 0;
    s->da[s->na++] = in;
    s->dc[s->nc++] = in + ACT;
    for (int i = 0; i < c->agent.actor_hidden.n; i++)
        s->da[s->na++] = c->agent.actor_hidden.v[i];
    for (int i = 0; i < c->agent.critic_hidden.n; i++)
        s->dc[s->nc++] = c->agent.critic_hidden.v[i];
    s->da[s->na] = 2 * ACT;
    s->dc[s->nc] = 1;
}

static double fwd_flops(const int *d, int n, int B)
{
    double f = 0;
    for (int l = 0; l < n; l++)
        f += 2.0 * B * d[l] * d[l + 1];
    return f;
}

static double sig_flops(const int *d, int n, int B)
{
    return fwd_flops(d, n, B) - 2.0 * B * d[0] * d[1];
}

/* The combiner's passes over a K x P gradient matrix. */
static double combine_flops(const mtrl_config *c, int K, int B, long P)
{
    double p = (double)P;
    int S = c->mtl.cagrad_fast_subset;
    if (c->mtl.method == CFG_MTL_MEAN)
        return 0; /* the agent sums the per-task means in the backward pass itself */
    if (c->mtl.method == CFG_MTL_SUM)
        return 2.0 * K * p;
    if (c->mtl.method == CFG_MTL_CAGRAD_FAST && S < K)
        /* the agent's backward pass forms the |S|+1 rows itself (the
         * remainder row included): small ssyrk, sgemv */
        return (S + 1.0) * (S + 2.0) * p + 2.0 * (S + 1.0) * p;
    /* The Gram-only combiners keep no rows where sac_drops_rows: d is one
     * weighted weight-gradient pass over the B batch rows. */
    if (mtl_method_rows_only_summed((mtl_method)c->mtl.method) && sac_drops_rows(K, B))
        return (double)K * (K + 1.0) * p + 2.0 * B * p; /* Gram + weighted pass */
    return (double)K * (K + 1.0) * p + 2.0 * K * p; /* ssyrk + sgemv */
}

double bu_update_flops(const mtrl_config *c, int K, int B, long pa, long pc)
{
    bu_shapes s;
    bu_get_shapes(c, K, &s);
    double fa = fwd_flops(s.da, s.na, B), fc = fwd_flops(s.dc, s.nc, B);
    double sa = sig_flops(s.da, s.na, B), sc = sig_flops(s.dc, s.nc, B);
    /* Critic: target policy sample, two target critics, two critics forward
     * and backward with weight gradients. */
    double critic = fa + 2 * fc + 2 * fc + 2 * (sc + fc);
    /* Actor: policy forward, both critics forward and back to the action
     * columns of their input, the actor backward with weight gradients. */
    double actor = fa + 2 * fc + 2 * (sc + 2.0 * B * ACT * s.dc[1]) + sa + fa;
    if (c->mtl.on_critic)
        critic += combine_flops(c, K, B, pc);
    if (c->mtl.on_actor)
        actor += combine_flops(c, K, B, pa);
    return critic + actor / c->agent.actor_update_freq;
}
