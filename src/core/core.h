/* core: the umbrella header of src/core (errors, RNG, timers, config, HDF5
 * helpers). core depends on nothing else in the project. */
#ifndef MTRL_CORE_CORE_H
#define MTRL_CORE_CORE_H

#include "core/cfg.h"
#include "core/err.h"
#include "core/h5io.h"
#include "core/rng.h"
#include "core/timer.h"

#endif
