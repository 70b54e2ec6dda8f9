/* Persistent workers for nn_pool_run (see pool.h). */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

/* Bursts of jobs come microseconds apart inside a backward pass (two per
 * layer), so a worker first watches for the next job for a short while
 * (pause instructions, no system call) and only then sleeps on the
 * condition variable; the caller likewise watches for the workers to finish
 * before sleeping. A futex wake/wait pair per job costs several
 * microseconds of kernel time each, on every core; between bursts (env
 * steps) the workers are asleep. The spin is bounded, never sched_yield. */
#define SPIN_ROUNDS 4000

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

struct nn_pool {
    int n_workers;
    pthread_t *tid;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* workers wait here for a new generation or quit */
    pthread_cond_t done; /* the caller waits here for active == 0 */
    atomic_ulong gen;    /* bumped once per job: a worker runs each job once */
    atomic_ulong closed; /* the last job whose work is all done */
    atomic_int active;   /* workers inside fn (or about to check closed) */
    atomic_int quit;
    int sleepers;        /* workers blocked on wake (under mu) */
    atomic_int caller_waiting; /* the caller about to block on done */
    void (*fn)(void *);
    void *arg;
};

static void *worker(void *arg)
{
    nn_pool *p = arg;
    unsigned long seen = 0;
    for (;;) {
        unsigned long g = atomic_load_explicit(&p->gen, memory_order_acquire);
        for (int i = 0; i < SPIN_ROUNDS && g == seen && !atomic_load(&p->quit); i++) {
            relax();
            g = atomic_load_explicit(&p->gen, memory_order_acquire);
        }
        if (g == seen && !atomic_load(&p->quit)) {
            pthread_mutex_lock(&p->mu);
            p->sleepers++;
            while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->wake, &p->mu);
            p->sleepers--;
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit))
            break;
        seen = g;
        /* Enter, then look whether job g is still the open one: the caller
         * does the work itself when no worker comes, and may since have
         * closed g and even run later jobs (this thread was kept off the
         * cores). A late worker leaves without touching the job, which
         * lives on the caller's stack. Both sides use sequentially
         * consistent operations, so either the caller sees this worker
         * active (and waits, keeping fn and arg those of job g) or the
         * worker sees the job closed or replaced. */
        atomic_fetch_add(&p->active, 1);
        if (atomic_load(&p->gen) == g && atomic_load(&p->closed) != g)
            p->fn(p->arg);
        /* The caller sets caller_waiting before it looks at active for the
         * last time (both sequentially consistent): either it sees this
         * decrement or this thread sees its flag. Only then is the mutex
         * taken: a caller still spinning costs no lock round trip. */
        if (atomic_fetch_sub(&p->active, 1) == 1 && atomic_load(&p->caller_waiting)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

static void stop_workers(nn_pool *p, int started)
{
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < started; i++)
        pthread_join(p->tid[i], NULL);
}

int nn_pool_create(nn_pool **out, int n_threads, mtrl_err *e)
{
    *out = NULL;
    if (n_threads < 1)
        return err_set(e, MTRL_EINPUT, "nn_pool_create: %d threads (need >= 1)", n_threads);
    nn_pool *p = calloc(1, sizeof *p);
    if (!p)
        return err_set(e, MTRL_ENOMEM, "nn_pool_create: out of memory");
    p->n_workers = n_threads - 1;
    p->tid = calloc((size_t)n_threads, sizeof *p->tid);
    if (!p->tid) {
        free(p);
        return err_set(e, MTRL_ENOMEM, "nn_pool_create: out of memory");
    }
    atomic_init(&p->gen, 0);
    atomic_init(&p->closed, 0);
    atomic_init(&p->active, 0);
    atomic_init(&p->quit, 0);
    atomic_init(&p->caller_waiting, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int i = 0; i < p->n_workers; i++)
        if (pthread_create(&p->tid[i], NULL, worker, p)) {
            stop_workers(p, i);
            p->n_workers = 0;
            nn_pool_destroy(p);
            return err_set(e, MTRL_ERUNTIME, "nn_pool_create: cannot start worker thread %d of %d",
                           i + 1, n_threads - 1);
        }
    *out = p;
    return 0;
}

void nn_pool_destroy(nn_pool *p)
{
    if (!p)
        return;
    if (p->n_workers > 0)
        stop_workers(p, p->n_workers);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    free(p->tid);
    free(p);
}

int nn_pool_threads(const nn_pool *p) { return p->n_workers + 1; }

void nn_pool_run(nn_pool *p, void (*fn)(void *arg), void *arg)
{
    if (p->n_workers == 0) {
        fn(arg);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    /* The broadcast comes after the unlock: woken under the lock, every
     * sleeper would first block on the mutex still held here (a futex wait
     * and wake more per worker and job). A worker counted in sleepers is
     * already queued on wake (it checked gen under the lock), so it cannot
     * miss this broadcast. */
    pthread_mutex_lock(&p->mu);
    unsigned long g = atomic_fetch_add_explicit(&p->gen, 1, memory_order_release) + 1;
    int sleepers = p->sleepers;
    pthread_mutex_unlock(&p->mu);
    if (sleepers)
        pthread_cond_broadcast(&p->wake);
    fn(arg);
    /* fn returned here: the work is all taken. Workers that have not come
     * in yet must not start it; those inside finish their part. */
    atomic_store(&p->closed, g);
    for (int i = 0; i < SPIN_ROUNDS && atomic_load(&p->active) > 0; i++)
        relax();
    if (atomic_load(&p->active) > 0) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->caller_waiting, 1);
        while (atomic_load(&p->active) > 0)
            pthread_cond_wait(&p->done, &p->mu);
        atomic_store(&p->caller_waiting, 0);
        pthread_mutex_unlock(&p->mu);
    }
}
