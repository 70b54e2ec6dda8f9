/* vec: K envs (one per benchmark task) stepped by T threads: the calling
 * thread and T-1 pthreads, so T = 1 runs everything inline. Every env's
 * computation depends only on its own state and seed, so results are
 * identical bit for bit for any thread count and any env-to-thread
 * assignment.
 *
 * The threads take envs one at a time from a shared counter, in decreasing
 * order of measured cost (scenes differ by up to 3x), rather than owning
 * fixed slices: on a busy machine a worker may get its core late, and the
 * caller then steps the envs itself instead of sleeping until the worker
 * has done a slice (a futex wait and wake, tens of microseconds of kernel
 * time each on a virtual machine, and the worker's lateness added to every
 * step). Workers sleep on a condition variable between jobs: a policy
 * update (milliseconds) lies between two steps, so spinning there would
 * only take a core from the learner. The caller, out of envs to take,
 * watches the last ones finish for a short while before it sleeps. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/timer.h"
#include "task.h"

enum { JOB_STEP, JOB_RESET_ALL, JOB_RESET_DONE };

typedef struct worker {
    struct env_vec *v;
    pthread_t th;
} worker;

struct env_vec {
    int K, T;
    env_sawyer **envs;
    env_opts opts;
    float *obs, *next_obs, *reward, *ep_return;
    uint8_t *success, *truncated, *unstable, *done, *ep_success, *needs_reset;
    int *ep_length;
    long *unstable_counts;
    env_info *info;
    int *rc;        /* per env: 0 or the error of its last job */
    mtrl_err *errs; /* per env: the message of that error */
    /* The threads take envs order[0], order[1], ...: index order at first;
     * after the first reset_all, by decreasing measured reset time (a proxy
     * for the step cost), so that the last env taken is a short one. */
    int *order;
    double *cost;
    int balanced;
    const float *actions;
    const uint8_t *also; /* JOB_RESET_DONE: envs to reset though still running */

    int job;
    unsigned gen;           /* job generation, under mu */
    int quit;               /* under mu */
    atomic_int next;        /* the next index of order[] to take; >= K: none left */
    atomic_int left;        /* envs of the current job not finished */
    int caller_waiting;     /* the caller sleeps on finished (under mu) */
    pthread_mutex_t mu;
    pthread_cond_t start, finished;
    worker *workers; /* T - 1 */
    int started;     /* threads actually running */
};

/* Costliest envs first (insertion sort: K is small; ties keep index
 * order). */
static void sort_by_cost(env_vec *v)
{
    for (int i = 1; i < v->K; i++)
        for (int j = i; j > 0 && v->cost[v->order[j]] > v->cost[v->order[j - 1]]; j--) {
            int t = v->order[j];
            v->order[j] = v->order[j - 1], v->order[j - 1] = t;
        }
}

static void to_float(const double *o, float *out)
{
    for (int i = 0; i < ENV_OBS_DIM; i++)
        out[i] = (float)o[i];
}

static void reset_env(env_vec *v, int k)
{
    double t0 = tm_now();
    v->rc[k] = env_reset(v->envs[k], v->obs + (size_t)ENV_OBS_DIM * k, &v->errs[k]);
    v->cost[k] = tm_now() - t0;
    v->needs_reset[k] = v->rc[k] != 0;
}

static void step_env(env_vec *v, int k)
{
    env_sawyer *e = v->envs[k];
    double a[ENV_ACT_DIM];
    for (int i = 0; i < ENV_ACT_DIM; i++)
        a[i] = v->actions[(size_t)ENV_ACT_DIM * k + i];
    env_step_flags fl;
    v->rc[k] = env_step_d(e, a, &v->info[k], &fl, &v->errs[k]);
    float *next = v->next_obs + (size_t)ENV_OBS_DIM * k;
    to_float(e->obs, next);
    v->reward[k] = (float)v->info[k].reward;
    v->success[k] = (uint8_t)(v->info[k].success != 0);
    v->truncated[k] = (uint8_t)fl.truncated;
    v->unstable[k] = (uint8_t)fl.unstable;
    v->done[k] = (uint8_t)fl.done;
    v->unstable_counts[k] = e->unstable_episodes;
    if (fl.done) {
        v->ep_return[k] = (float)e->ep_return;
        v->ep_length[k] = e->path_length;
        v->ep_success[k] = (uint8_t)e->ep_success;
        if (v->opts.auto_reset) {
            reset_env(v, k);
            if (v->rc[k])
                err_prefix(&v->errs[k], "resetting after its episode ended");
            return;
        }
        v->needs_reset[k] = 1;
    }
    memcpy(v->obs + (size_t)ENV_OBS_DIM * k, next, sizeof(float) * ENV_OBS_DIM);
}

/* Takes envs of the current job until none is left; 1 when this thread
 * finished the job's last env. */
static int take_envs(env_vec *v)
{
    int last = 0;
    for (int i; (i = atomic_fetch_add(&v->next, 1)) < v->K;) {
        int k = v->order[i];
        if (v->job == JOB_STEP)
            step_env(v, k);
        else if (v->job == JOB_RESET_ALL || v->needs_reset[k] || (v->also && v->also[k]))
            reset_env(v, k);
        last = atomic_fetch_sub(&v->left, 1) == 1;
    }
    return last;
}

static void *worker_main(void *arg)
{
    worker *wk = arg;
    env_vec *v = wk->v;
    unsigned seen = 0;
    pthread_mutex_lock(&v->mu);
    for (;;) {
        while (v->gen == seen && !v->quit)
            pthread_cond_wait(&v->start, &v->mu);
        if (v->quit)
            break;
        seen = v->gen;
        pthread_mutex_unlock(&v->mu);
        /* A worker that comes late may find the job done and even the next
         * one open: it then helps with that one, which is as good. */
        int last = take_envs(v);
        /* Whoever finishes the last env wakes the caller if it went to
         * sleep; taking mu orders this against the caller's check. */
        pthread_mutex_lock(&v->mu);
        if (last && v->caller_waiting)
            pthread_cond_signal(&v->finished);
    }
    pthread_mutex_unlock(&v->mu);
    return NULL;
}

/* Runs job on every env and waits for all; 0, or the error of the lowest
 * failing env index (the same for any thread count). The job's inputs
 * (job, actions, also) are written while next >= K, so no thread can take
 * an env before they are in place. */
static int dispatch(env_vec *v, int job, mtrl_err *err)
{
    v->job = job;
    atomic_store(&v->left, v->K);
    atomic_store(&v->next, 0);
    if (v->T > 1) {
        pthread_mutex_lock(&v->mu);
        v->gen++;
        pthread_cond_broadcast(&v->start);
        pthread_mutex_unlock(&v->mu);
    }
    take_envs(v);
    if (v->T > 1) {
        /* Envs still being stepped by workers: ~100 us at most, about one
         * env step. */
        double until = tm_now() + 100e-6;
        for (int i = 0; atomic_load(&v->left) > 0; i++) {
            if ((i & 63) == 63 && tm_now() > until)
                break;
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
        if (atomic_load(&v->left) > 0) {
            pthread_mutex_lock(&v->mu);
            v->caller_waiting = 1;
            while (atomic_load(&v->left) > 0)
                pthread_cond_wait(&v->finished, &v->mu);
            v->caller_waiting = 0;
            pthread_mutex_unlock(&v->mu);
        }
    }
    for (int k = 0; k < v->K; k++)
        if (v->rc[k]) {
            if (err) {
                *err = v->errs[k];
                err_prefix(err, "env %d", k);
            }
            return v->rc[k];
        }
    return 0;
}

void env_vec_destroy(env_vec *v)
{
    if (!v)
        return;
    if (v->started) {
        pthread_mutex_lock(&v->mu);
        v->quit = 1;
        pthread_cond_broadcast(&v->start);
        pthread_mutex_unlock(&v->mu);
        for (int i = 0; i < v->started; i++)
            pthread_join(v->workers[i].th, NULL);
    }
    pthread_mutex_destroy(&v->mu);
    pthread_cond_destroy(&v->start);
    pthread_cond_destroy(&v->finished);
    if (v->envs)
        for (int k = 0; k < v->K; k++)
            env_destroy(v->envs[k]);
    free(v->envs);
    free(v->obs);
    free(v->next_obs);
    free(v->reward);
    free(v->ep_return);
    free(v->success);
    free(v->truncated);
    free(v->unstable);
    free(v->done);
    free(v->ep_success);
    free(v->needs_reset);
    free(v->ep_length);
    free(v->unstable_counts);
    free(v->info);
    free(v->rc);
    free(v->errs);
    free(v->workers);
    free(v->order);
    free(v->cost);
    free(v);
}

#define MAX_TASKS 256

int env_vec_create(env_vec **out, const char *benchmark, const env_opts *opts, mtrl_err *err)
{
    *out = NULL;
    int idx[MAX_TASKS], K;
    if (env_benchmark_tasks(benchmark, idx, MAX_TASKS, &K, err))
        return err->code;
    env_opts o;
    if (opts)
        o = *opts;
    else
        env_opts_default(&o);
    if (o.threads < 0)
        return err_set(err, MTRL_EINPUT, "env threads must be >= 0 (0 = number of cores), not %d",
                       o.threads);
    int T = o.threads;
    if (T == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        T = n > 0 ? (int)n : 1;
    }
    if (T > K)
        T = K;
    env_vec *v = calloc(1, sizeof *v);
    if (!v)
        return err_set(err, MTRL_ENOMEM, "no memory for the vectorized env");
    v->K = K;
    v->T = T;
    v->opts = o;
    pthread_mutex_init(&v->mu, NULL);
    pthread_cond_init(&v->start, NULL);
    pthread_cond_init(&v->finished, NULL);
    size_t ko = (size_t)K * ENV_OBS_DIM;
    v->envs = calloc((size_t)K, sizeof *v->envs);
    v->obs = calloc(ko, sizeof(float));
    v->next_obs = calloc(ko, sizeof(float));
    v->reward = calloc((size_t)K, sizeof(float));
    v->ep_return = calloc((size_t)K, sizeof(float));
    v->success = calloc((size_t)K, 1);
    v->truncated = calloc((size_t)K, 1);
    v->unstable = calloc((size_t)K, 1);
    v->done = calloc((size_t)K, 1);
    v->ep_success = calloc((size_t)K, 1);
    v->needs_reset = calloc((size_t)K, 1);
    v->ep_length = calloc((size_t)K, sizeof(int));
    v->unstable_counts = calloc((size_t)K, sizeof(long));
    v->info = calloc((size_t)K, sizeof(env_info));
    v->rc = calloc((size_t)K, sizeof(int));
    v->errs = calloc((size_t)K, sizeof(mtrl_err));
    v->workers = calloc((size_t)T, sizeof(worker));
    v->order = calloc((size_t)K, sizeof(int));
    v->cost = calloc((size_t)K, sizeof(double));
    if (!v->envs || !v->obs || !v->next_obs || !v->reward || !v->ep_return || !v->success ||
        !v->truncated || !v->unstable || !v->done || !v->ep_success || !v->needs_reset ||
        !v->ep_length || !v->unstable_counts || !v->info || !v->rc || !v->errs || !v->workers || !v->order ||
        !v->cost) {
        env_vec_destroy(v);
        return err_set(err, MTRL_ENOMEM, "no memory for the vectorized env");
    }
    for (int k = 0; k < K; k++)
        v->order[k] = k;
    atomic_store(&v->next, K); /* no job open */
    for (int k = 0; k < K; k++) {
        if (env_create(&v->envs[k], idx[k], &o, (uint64_t)k, err)) {
            env_vec_destroy(v);
            return err->code;
        }
        v->needs_reset[k] = 1;
    }
    for (int w = 1; w < T; w++) {
        v->workers[w - 1].v = v;
        if (pthread_create(&v->workers[w - 1].th, NULL, worker_main, &v->workers[w - 1])) {
            env_vec_destroy(v);
            return err_set(err, MTRL_ERUNTIME, "cannot start env worker thread %d of %d", w, T - 1);
        }
        v->started++;
    }
    *out = v;
    return 0;
}

int env_vec_size(const env_vec *v) { return v->K; }
int env_vec_threads(const env_vec *v) { return v->T; }
int env_vec_task(const env_vec *v, int k) { return v->envs[k]->task_index; }
const float *env_vec_obs(const env_vec *v) { return v->obs; }
const long *env_vec_unstable_counts(const env_vec *v) { return v->unstable_counts; }
env_sawyer *env_vec_env(env_vec *v, int k) { return v->envs[k]; }

int env_vec_reset_all(env_vec *v, float *obs, mtrl_err *err)
{
    int rc = dispatch(v, JOB_RESET_ALL, err);
    if (!rc && !v->balanced && v->T > 1) {
        sort_by_cost(v);
        v->balanced = 1;
    }
    if (obs)
        memcpy(obs, v->obs, sizeof(float) * (size_t)v->K * ENV_OBS_DIM);
    return rc;
}

int env_vec_reset_done(env_vec *v, const uint8_t *also, mtrl_err *err)
{
    v->also = also;
    int rc = dispatch(v, JOB_RESET_DONE, err);
    v->also = NULL;
    return rc;
}

int env_vec_step(env_vec *v, const float *actions, env_step_result *out, mtrl_err *err)
{
    for (int k = 0; k < v->K; k++)
        if (v->needs_reset[k])
            return err_set(err, MTRL_EINPUT,
                           "env %d (task %s) has no running episode: reset it first "
                           "(env_vec_reset_all, or env_vec_reset_done with auto_reset off)",
                           k, v->envs[k]->task->name);
    v->actions = actions;
    int rc = dispatch(v, JOB_STEP, err);
    v->actions = NULL;
    if (out) {
        out->next_obs = v->next_obs;
        out->obs = v->obs;
        out->reward = v->reward;
        out->success = v->success;
        out->truncated = v->truncated;
        out->unstable = v->unstable;
        out->done = v->done;
        out->ep_return = v->ep_return;
        out->ep_length = v->ep_length;
        out->ep_success = v->ep_success;
        out->info = v->info;
    }
    return rc;
}

void env_vec_get_rng(const env_vec *v, rng_state *out)
{
    for (int k = 0; k < v->K; k++)
        out[k] = v->envs[k]->rng;
}

void env_vec_set_rng(env_vec *v, const rng_state *in)
{
    for (int k = 0; k < v->K; k++)
        v->envs[k]->rng = in[k];
}
