/* The worker pool behind the networks' products: the caller always runs a
 * job and each worker at most once (a worker that comes after the caller's
 * part is done stays out), workers do take part in long jobs, jobs see each
 * other's results in order, an idle pool sleeps, and pools come and go
 * cleanly (run under ASan/LSan too: a late worker touching a finished job's
 * stack frame would show there). */
#include "testutil.h"

#include <stdatomic.h>
#include <time.h>

#include "nets/pool.h"

typedef struct job {
    atomic_int calls;
    atomic_long next;
    long n;
    double *out;
} job;

static void count_call(void *arg)
{
    job *j = arg;
    atomic_fetch_add(&j->calls, 1);
}

/* Work shared by an atomic counter, as nn_mlp's products are. */
static void fill_squares(void *arg)
{
    job *j = arg;
    for (;;) {
        long i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n)
            break;
        j->out[i] = (double)i * i;
    }
}

static void test_every_thread_once(void **st)
{
    (void)st;
    mtrl_err e;
    for (int T = 1; T <= 5; T++) {
        nn_pool *p;
        assert_int_equal(nn_pool_create(&p, T, &e), 0);
        assert_int_equal(nn_pool_threads(p), T);
        /* Back-to-back jobs: a worker that ran a job twice, or entered one
         * already finished, shows up as a count outside 1..T. */
        for (int rep = 0; rep < 2000; rep++) {
            job j;
            atomic_init(&j.calls, 0);
            nn_pool_run(p, count_call, &j);
            int n = atomic_load(&j.calls);
            if (n < 1 || n > T)
                fail_msg("T = %d, job %d: %d calls", T, rep, n);
        }
        nn_pool_destroy(p);
    }
}

/* Items of ~0.2 ms: the caller alone would need 20 ms a job, so the workers
 * come in and share the items. */
static void slow_items(void *arg)
{
    job *j = arg;
    atomic_fetch_add(&j->calls, 1);
    for (;;) {
        long i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n)
            break;
        nanosleep(&(struct timespec){0, 200000L}, NULL);
        j->out[i] = (double)i;
    }
}

static void test_workers_take_part(void **st)
{
    (void)st;
    mtrl_err e;
    nn_pool *p;
    assert_int_equal(nn_pool_create(&p, 3, &e), 0);
    enum { N = 100 };
    double out[N];
    int helped = 0;
    for (int rep = 0; rep < 10; rep++) {
        job j = {.n = N, .out = out};
        atomic_init(&j.next, 0);
        atomic_init(&j.calls, 0);
        nn_pool_run(p, slow_items, &j);
        helped += atomic_load(&j.calls) > 1;
        for (int i = 0; i < N; i++)
            assert_true(out[i] == (double)i);
    }
    nn_pool_destroy(p);
    assert_true(helped >= 5);
}

/* Many tiny jobs on more threads than cores: workers often come late, after
 * the caller has finished a job alone and started the next. A late worker
 * must not run a finished job (its frame is gone): every call must belong
 * to the job open at that moment. */
static atomic_long open_job, stale_calls;

typedef struct tagged {
    long id;
    atomic_int calls;
} tagged;

static void check_open(void *arg)
{
    tagged *t = arg;
    if (t->id != atomic_load(&open_job))
        atomic_fetch_add(&stale_calls, 1);
    atomic_fetch_add(&t->calls, 1);
}

static void one_tagged_job(nn_pool *p, long id)
{
    tagged t = {.id = id};
    atomic_init(&t.calls, 0);
    atomic_store(&open_job, id);
    nn_pool_run(p, check_open, &t);
    atomic_store(&open_job, -1);
    assert_in_range(atomic_load(&t.calls), 1, nn_pool_threads(p));
}

static void test_late_workers_stay_out(void **st)
{
    (void)st;
    mtrl_err e;
    nn_pool *p;
    assert_int_equal(nn_pool_create(&p, 6, &e), 0);
    atomic_store(&stale_calls, 0);
    for (long id = 0; id < 20000; id++)
        one_tagged_job(p, id);
    nn_pool_destroy(p);
    assert_int_equal(atomic_load(&stale_calls), 0);
}

static void test_shared_work(void **st)
{
    (void)st;
    mtrl_err e;
    nn_pool *p;
    assert_int_equal(nn_pool_create(&p, 4, &e), 0);
    enum { N = 10000 };
    double *out = malloc(sizeof(double) * N);
    for (int rep = 0; rep < 50; rep++) {
        for (long i = 0; i < N; i++)
            out[i] = -1.0;
        job j = {.n = N - rep, .out = out};
        atomic_init(&j.next, 0);
        atomic_init(&j.calls, 0);
        nn_pool_run(p, fill_squares, &j);
        /* nn_pool_run returned: every write of every worker is visible. */
        for (long i = 0; i < N; i++)
            assert_true(out[i] == (i < N - rep ? (double)i * i : -1.0));
    }
    free(out);
    nn_pool_destroy(p);
}

/* Create/destroy cycles, with and without a job in between (a pool that
 * never ran must still shut down). */
static void test_cycles(void **st)
{
    (void)st;
    mtrl_err e;
    for (int c = 0; c < 200; c++) {
        nn_pool *p;
        assert_int_equal(nn_pool_create(&p, 1 + c % 4, &e), 0);
        if (c % 2) {
            job j;
            atomic_init(&j.calls, 0);
            nn_pool_run(p, count_call, &j);
            assert_in_range(atomic_load(&j.calls), 1, 1 + c % 4);
        }
        nn_pool_destroy(p);
    }
    nn_pool_destroy(NULL);
    nn_pool *p;
    assert_int_equal(nn_pool_create(&p, 0, &e), MTRL_EINPUT);
    assert_null(p);
}

static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* Idle workers block: 4 of them over 200 ms of wall time use almost no CPU
 * (spinning workers would use ~800 ms, or all the cores there are). */
static void test_idle_sleeps(void **st)
{
    (void)st;
    mtrl_err e;
    nn_pool *p;
    assert_int_equal(nn_pool_create(&p, 5, &e), 0);
    job j;
    atomic_init(&j.calls, 0);
    nn_pool_run(p, count_call, &j);
    double c0 = cpu_seconds();
    nanosleep(&(struct timespec){0, 200000000L}, NULL);
    double used = cpu_seconds() - c0;
    nn_pool_destroy(p);
    if (used > 0.02)
        fail_msg("idle pool used %.3f s of CPU in 0.2 s", used);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_thread_once),
        cmocka_unit_test(test_workers_take_part),
        cmocka_unit_test(test_late_workers_stay_out),
        cmocka_unit_test(test_shared_work),
        cmocka_unit_test(test_cycles),
        cmocka_unit_test(test_idle_sleeps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
