/* core: the umbrella header of src/core (errors, RNG, timers, config, HDF5
 * helpers, file-system and string helpers, metrics logs, progress line). core depends
 * on nothing else in the project. */
#ifndef MTRL_CORE_CORE_H
#define MTRL_CORE_CORE_H

#include "core/cfg.h"
#include "core/err.h"
#include "core/fsutil.h"
#include "core/h5io.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/strutil.h"
#include "core/runlog.h"
#include "core/timer.h"

#endif
