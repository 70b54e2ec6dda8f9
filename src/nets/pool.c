/* Persistent workers for nn_pool_run (see pool.h). */
#include "pool.h"

#include <pthread.h>
#include <stdlib.h>

struct nn_pool {
    int n_workers;
    pthread_t *tid;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* workers wait here for a new generation or quit */
    pthread_cond_t done; /* the caller waits here for pending == 0 */
    unsigned long gen;   /* bumped once per job: a worker runs each job once */
    int pending;         /* workers still inside the current job */
    int quit;
    void (*fn)(void *);
    void *arg;
};

static void *worker(void *arg)
{
    nn_pool *p = arg;
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->gen == seen && !p->quit)
            pthread_cond_wait(&p->wake, &p->mu);
        if (p->quit)
            break;
        seen = p->gen;
        void (*fn)(void *) = p->fn;
        void *fa = p->arg;
        pthread_mutex_unlock(&p->mu);
        fn(fa);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void stop_workers(nn_pool *p, int started)
{
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
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
    if (p->n_workers > 0) {
        pthread_mutex_lock(&p->mu);
        p->fn = fn;
        p->arg = arg;
        p->pending = p->n_workers;
        p->gen++;
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    fn(arg);
    if (p->n_workers > 0) {
        pthread_mutex_lock(&p->mu);
        while (p->pending > 0)
            pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}
