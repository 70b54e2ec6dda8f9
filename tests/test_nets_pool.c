/* The worker pool behind the per-group weight products: every thread runs
 * every job exactly once, jobs see each other's results in order, an idle
 * pool sleeps, and pools come and go cleanly (run under ASan/LSan too). */
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
        /* Back-to-back jobs: a worker that missed a wake-up, or ran a job
         * twice, shows up as a wrong count. */
        for (int rep = 0; rep < 2000; rep++) {
            job j;
            atomic_init(&j.calls, 0);
            nn_pool_run(p, count_call, &j);
            if (atomic_load(&j.calls) != T)
                fail_msg("T = %d, job %d: %d calls", T, rep, atomic_load(&j.calls));
        }
        nn_pool_destroy(p);
    }
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
            assert_int_equal(atomic_load(&j.calls), 1 + c % 4);
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
        cmocka_unit_test(test_shared_work),
        cmocka_unit_test(test_cycles),
        cmocka_unit_test(test_idle_sleeps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
