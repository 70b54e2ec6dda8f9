/* mtrl bench env: env steps per second with random actions (resets
 * included, as training sees them), single thread and with all threads, and
 * the bare mj_step time per scene. Target: >= 5,000 env steps/s per core
 * (Python Meta-World: about 450). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/rng.h"
#include "core/timer.h"
#include "envs/envs.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mtrl bench env [BENCHMARK] [--steps N] [--threads T] [--quick]\n\n"
            "Steps the vectorized env of BENCHMARK (default mt10) with uniform random actions\n"
            "and reports env steps/s (one env step = 5 physics steps; episode resets of 500\n"
            "steps are included) with 1 thread and with T threads (default: all cores), and\n"
            "the mean time of one bare mj_step per scene. Target: >= 5000 env steps/s per core.\n\n"
            "  --steps N    env steps per measurement, over all envs (default 50000)\n"
            "  --threads T  threads of the parallel measurement (default: number of cores)\n"
            "  --quick      5000 steps (for make bench)\n"
            "  -h, --help   this help\n");
}

/* Env steps/s of a vec env with T threads over about total env steps. */
static int measure(const char *bench, int threads, long total, double *rate, mtrl_err *err)
{
    env_opts o;
    env_opts_default(&o);
    o.threads = threads;
    o.goals = ENV_GOALS_SAMPLED;
    env_vec *v;
    int rc = env_vec_create(&v, bench, &o, err);
    if (rc)
        return rc;
    int K = env_vec_size(v);
    float *a = malloc(sizeof(float) * (size_t)K * ENV_ACT_DIM);
    if (!a) {
        env_vec_destroy(v);
        return err_set(err, MTRL_ENOMEM, "out of memory");
    }
    rng_state r;
    rng_seed(&r, 1, RNG_STREAM_AGENT);
    long iters = (total + K - 1) / K;
    /* Untimed warm-up (first touches of memory, thread start, slice
     * balancing); the timed part still crosses episode resets in their
     * natural proportion (one per 500 steps). */
    rc = env_vec_reset_all(v, NULL, err);
    env_step_result res;
    double t0 = 0;
    for (long it = -50; it < iters && !rc; it++) {
        if (it == 0)
            t0 = tm_now();
        for (int i = 0; i < K * ENV_ACT_DIM; i++)
            a[i] = rng_uniform_f(&r) * 2 - 1;
        rc = env_vec_step(v, a, &res, err);
    }
    double dt = tm_now() - t0;
    if (rc)
        err_prefix(err, "stepping %s", bench);
    *rate = (double)(iters * K) / dt;
    free(a);
    env_vec_destroy(v);
    return rc;
}

int cmd_bench_env(int argc, char **argv)
{
    const char *bench = NULL;
    long steps = 50000, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *end;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--quick")) {
            steps = 5000;
        } else if (!strcmp(a, "--steps") && i + 1 < argc) {
            steps = strtol(argv[++i], &end, 10);
            if (!*argv[i] || *end || steps < 1) {
                fprintf(stderr, "mtrl bench env: --steps needs a positive integer, not '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--threads") && i + 1 < argc) {
            threads = strtol(argv[++i], &end, 10);
            if (!*argv[i] || *end || threads < 0 || threads > 1024) {
                fprintf(stderr, "mtrl bench env: --threads needs an integer in [0, 1024], not '%s'\n",
                        argv[i]);
                return 2;
            }
        } else if (a[0] != '-' && !bench) {
            bench = a;
        } else {
            fprintf(stderr, "mtrl bench env: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!bench)
        bench = "mt10";
    if (threads == 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        threads = c > 0 ? c : 1;
    }
    int idx[256], n;
    mtrl_err err = {0};
    if (env_benchmark_tasks(bench, idx, 256, &n, &err)) {
        fprintf(stderr, "mtrl bench env: %s\n", err.msg);
        return err_exit_code(err.code);
    }
    if (threads > n)
        threads = n;

    printf("bench env %s: %d envs, %ld env steps per measurement\n\n", bench, n, steps);
    /* Bare physics per scene, on the state right after a reset. */
    printf("%-34s %12s\n", "scene", "mj_step (us)");
    for (int k = 0; k < n; k++) {
        int seen = 0;
        for (int p = 0; p < k && !seen; p++)
            seen = !strcmp(env_task_scene(idx[p]), env_task_scene(idx[k]));
        if (seen)
            continue;
        env_sawyer *e = NULL;
        double sec = 0;
        float obs[ENV_OBS_DIM];
        if (env_create(&e, idx[k], NULL, 0, &err) || env_reset(e, obs, &err) ||
            env_time_physics(e, 2000, &sec, &err)) {
            fprintf(stderr, "mtrl bench env: %s\n", err.msg);
            env_destroy(e);
            return 1;
        }
        env_destroy(e);
        printf("%-34s %12.2f\n", env_task_scene(idx[k]), sec * 1e6);
    }
    double r1, rT;
    if (measure(bench, 1, steps, &r1, &err) || measure(bench, (int)threads, steps, &rT, &err)) {
        fprintf(stderr, "mtrl bench env: %s\n", err.msg);
        return 1;
    }
    printf("\n%-12s %14s %18s\n", "threads", "env steps/s", "per thread/core");
    printf("%-12d %14.0f %18.0f\n", 1, r1, r1);
    printf("%-12ld %14.0f %18.0f\n", threads, rT, rT / (double)threads);
    printf("\ntarget >= 5000 env steps/s per core: %s (single thread %.0f)\n",
           r1 >= 5000 ? "met" : "NOT met", r1);
    return 0;
}
