/* pool: a fixed set of sleeping worker threads that an nn_mlp keeps for its
 * matrix products, so a pass does not create and join threads each time.
 * After a job a worker watches for the next one for a few tens of
 * microseconds (jobs come in bursts inside a pass), then blocks on a
 * condition variable: an idle pool costs no CPU.
 *
 * Internal to nets (not part of nets.h); depends on pthreads, OpenBLAS's
 * thread setting and core/err only, knows nothing of MLPs. */
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
/* Calls fn(arg) on the caller and on every worker that comes in before the
 * caller's own call has returned, and returns when all those calls have
 * returned. fn must share out the work itself (e.g. an atomic task counter)
 * so that any subset of the threads completes it: a worker that another
 * process keeps off the cores then delays nothing. One job at a time: do
 * not call it from two threads at once on the same pool. */
void nn_pool_run(nn_pool *p, void (*fn)(void *arg), void *arg);

/* The one pool of the process that the MLPs' products and nn_rows_wsum
 * share (T threads in all, started on first use, restarted when T
 * changes), taken for one job: NULL when T < 2, when another thread holds
 * it (the caller then does the job alone) or when no worker could be
 * started. Give it back with nn_pool_release (NULL is a no-op). */
nn_pool *nn_pool_acquire(int T);
void nn_pool_release(nn_pool *p);
/* A job whose pieces are single-threaded BLAS calls: nn_pool_run(p, fn, arg)
 * (p NULL: fn(arg) on the caller alone) with OpenBLAS held at one thread
 * meanwhile, then nn_pool_release(p). */
void nn_pool_run_blas1(nn_pool *p, void (*fn)(void *arg), void *arg);

#endif
