/* The method table: for each mtl_method, the route a call takes, the
 * functions that serve it, what the caller must give, the scratch it
 * declares and its checkpointed state. Adding a method is a row here plus
 * its file; combine.c and mtl.c read nothing else about methods. */
#include "mtl/mtl_impl.h"

static size_t no_work(const mtl_options *o, int K)
{
    (void)o, (void)K;
    return 0;
}

const mtl_method_def mtl_methods[MTL_METHOD_COUNT] = {
    [MTL_MEAN] = {.route = MTL_ROUTE_FIXED, .work = no_work},
    [MTL_SUM] = {.route = MTL_ROUTE_FIXED, .work = no_work, .unit_weights = 1},
    [MTL_PCGRAD] = {.route = MTL_ROUTE_GRAM, .gram = mtl_pcgrad_weights,
                    .work = mtl_pcgrad_work},
    [MTL_CAGRAD] = {.route = MTL_ROUTE_GRAM, .gram = mtl_cagrad_weights,
                    .work = mtl_cagrad_work},
    [MTL_CAGRAD_FAST] = {.route = MTL_ROUTE_GRAM, .pick = mtl_cagrad_fast_pick,
                         .gram = mtl_cagrad_fast_weights, .rows = mtl_cagrad_fast_subset,
                         .work = mtl_cagrad_fast_work},
    [MTL_MGDA] = {.route = MTL_ROUTE_GRAM, .gram = mtl_mgda_weights, .work = mtl_mgda_work},
    [MTL_ALIGNED_MTL] = {.route = MTL_ROUTE_GRAM, .gram = mtl_aligned_weights,
                         .work = mtl_aligned_work},
    [MTL_ALIGNED_MTL_UB] = {.route = MTL_ROUTE_GRAM, .pick = mtl_aligned_pick,
                            .gram = mtl_aligned_weights, .work = mtl_aligned_work,
                            .needs = MTL_NEEDS_REP_GRAM},
    [MTL_IMTL_G] = {.route = MTL_ROUTE_GRAM, .gram = mtl_imtl_weights, .work = mtl_imtl_work},
    [MTL_GRADDROP] = {.route = MTL_ROUTE_ROWS, .rows = mtl_graddrop,
                      .work = mtl_graddrop_work},
    [MTL_RLW] = {.route = MTL_ROUTE_BLIND, .blind = mtl_rlw_weights, .work = no_work},
    [MTL_NASH_MTL] = {.route = MTL_ROUTE_GRAM, .pick = mtl_nash_pick,
                      .gram = mtl_nash_weights, .blind = mtl_nash_cached, .cap = mtl_nash_cap,
                      .work = mtl_nash_work, .state_len = mtl_nash_state_len,
                      .init_state = mtl_nash_init_state},
    [MTL_FAMO] = {.route = MTL_ROUTE_BLIND, .blind = mtl_famo_weights,
                  .skipped = mtl_famo_cancel, .after_step = mtl_famo_after_step,
                  .work = mtl_famo_work, .state_len = mtl_famo_state_len,
                  .init_state = mtl_famo_init_state,
                  .needs = MTL_NEEDS_LOSSES | MTL_NEEDS_AFTER_STEP},
    [MTL_UPGRAD] = {.route = MTL_ROUTE_GRAM, .gram = mtl_upgrad_weights,
                    .work = mtl_upgrad_work},
    [MTL_DUALPROJ] = {.route = MTL_ROUTE_GRAM, .gram = mtl_dualproj_weights,
                      .work = mtl_upgrad_work},
    [MTL_CONFIG] = {.route = MTL_ROUTE_GRAM, .gram = mtl_config_weights,
                    .work = mtl_config_work},
};
