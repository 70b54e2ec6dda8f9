/* pool: a fixed set of sleeping worker threads that an nn_mlp keeps for its
 * per-group weight products, so a backward pass does not create and join
 * threads each time (three backwards per SAC update). Workers block on a
 * condition variable between jobs: an idle pool costs no CPU.
 *
 * Internal to nets (not part of nets.h); depends on pthreads and core/err
 * only, knows nothing of MLPs. */
#ifndef MTRL_NETS_POOL_H
#define MTRL_NETS_POOL_H

#include "core/err.h"

typedef struct nn_pool nn_pool;

/* n_threads >= 1 threads in all, the caller of nn_pool_run counted: starts
 * n_threads - 1 workers. */
int nn_pool_create(nn_pool **out, int n_threads, mtrl_err *e);
/* Wakes the workers, lets them return and joins them. NULL is a no-op. */
void nn_pool_destroy(nn_pool *p);
int nn_pool_threads(const nn_pool *p);
/* Calls fn(arg) once on every thread of the pool, the caller included, and
 * returns when all calls have returned. fn shares out the work itself (e.g.
 * an atomic task counter). One job at a time: do not call it from two
 * threads at once on the same pool. */
void nn_pool_run(nn_pool *p, void (*fn)(void *arg), void *arg);

#endif
