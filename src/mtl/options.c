/* options: the one mapping from the config's mtl section to mtl_options,
 * used by the agent (sac), `mtrl combine` and `mtrl bench update` (through
 * the agent), so a setting means the same wherever it is given. The enums
 * of both sides are expanded from the same lists (core/cfg.h): a value
 * converts by a cast. */
#include "mtl/mtl.h"

int mtl_options_from_config(const mtrl_config *cfg, int component, mtl_options *o, mtrl_err *e)
{
    const cfg_mtl *c = &cfg->mtl;
    if (c->method < 0 || c->method >= CFG_MTL_COUNT)
        return err_set(e, MTRL_EINPUT, "mtl.method: unknown method id %d", (int)c->method);
    mtl_method m = (mtl_method)c->method;
    /* FAMO learns from the losses recomputed after the step; the agent does
     * that for the critic only (as FAMO's own mtrl runs reweight only the
     * critic; the actor's loss can be negative, and FAMO takes its log). */
    if (m == MTL_FAMO && component >= 0 && component != 1)
        return err_set(e, MTRL_EINPUT,
                       "mtl.method: famo reweights the critic only; set mtl.on_actor: false "
                       "and mtl.on_alpha: false (the actor and temperature then use the mean)");
    mtl_options_default(o, m);
    o->c = c->cagrad_c;
    o->lr = c->cagrad_lr;
    o->momentum = c->cagrad_momentum;
    o->steps = c->cagrad_steps;
    o->rescale = (mtl_rescale)c->cagrad_rescale;
    o->fast_subset = c->cagrad_fast_subset;
    o->fast_gram = (mtl_fast_gram)c->cagrad_fast_gram;
    o->mgda_normalize = c->mgda_normalize == CFG_MGDA_NORM_L2;
    o->graddrop_k = c->graddrop_k;
    o->rlw_dist = (mtl_rlw_dist)c->rlw_dist;
    o->nash_update_every = c->nash_update_every;
    o->nash_iters = c->nash_iters;
    o->nash_max_norm = c->nash_max_norm;
    o->famo_lr = c->famo_lr;
    o->famo_gamma = c->famo_gamma;
    o->famo_scale = (mtl_famo_scale)c->famo_scale;
    o->upgrad_norm_eps = c->upgrad_norm_eps;
    o->upgrad_reg_eps = c->upgrad_reg_eps;
    o->seed = (uint64_t)cfg->run.seed;
    /* Each combiner of a run draws from its own stream; a standalone one
     * keeps the library's default (mtl_options_default), so its draws equal
     * those of a combiner made from default options with the same seed. */
    if (component >= 0)
        o->stream = (uint64_t)RNG_STREAM_MTL * 256 + (uint64_t)component;
    return 0;
}
