/* modes: the config's replay section as the buffer's sampling modes (see
 * replay.h), shared by the trainer and `mtrl bench update`. */
#include "replay/replay.h"

rb_modes rb_modes_from_config(const mtrl_config *c)
{
    rb_modes m = {
        .sampling = (rb_sampling)c->replay.sampling, /* the same list (core/cfg.h) */
        .norm = c->replay.reward_norm == CFG_REWARD_NORM_STD ? RB_NORM_STD : RB_NORM_NONE,
        .ema_rate = c->replay.reward_norm == CFG_REWARD_NORM_EMA ? c->replay.reward_ema_rate : 0,
    };
    return m;
}
