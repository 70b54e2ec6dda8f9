/* mtrl tasks / mtrl env-check: what the envs module offers, and its scripted
 * policies run as an acceptance check (per task: success rate, mean steps to
 * success, mean return, env steps per second). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/rng.h"
#include "core/timer.h"
#include "envs/envs.h"

int cmd_tasks(int argc, char **argv)
{
    if (argc > 1) {
        int help = !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help");
        fprintf(help ? stdout : stderr,
                "usage: mtrl tasks\n\nLists the registered tasks (index, name, scene) and the "
                "benchmarks.\n");
        return help ? 0 : 2;
    }
    printf("tasks (%d):\n", env_task_count());
    for (int i = 0; i < env_task_count(); i++)
        printf("  %3d  %-28s %s\n", i, env_task_name(i), env_task_scene(i));
    printf("\nbenchmarks:\n");
    for (int b = 0; b < env_benchmark_count(); b++) {
        int idx[256], n;
        mtrl_err err = {0};
        const char *name = env_benchmark_name(b);
        if (strchr(name, '<'))
            printf("  %-20s %s\n", name, env_benchmark_summary(b));
        else if (env_benchmark_tasks(name, idx, 256, &n, &err) == 0)
            printf("  %-20s %s (%d tasks)\n", name, env_benchmark_summary(b), n);
        else
            printf("  %-20s %s (unavailable: %s)\n", name, env_benchmark_summary(b), err.msg);
    }
    return 0;
}

typedef struct check_job {
    /* input */
    int task, episodes, full, max_steps;
    uint64_t seed;
    double noise;
    /* output */
    int successes, unstable, rc;
    long steps, steps_to_success;
    double ret, seconds;
    char err[256];
} check_job;

static void run_check(check_job *j)
{
    env_opts o;
    env_opts_default(&o);
    o.goal_seed = j->seed;
    o.max_episode_steps = j->max_steps;
    env_sawyer *e;
    mtrl_err err = {0};
    if ((j->rc = env_create(&e, j->task, &o, 0, &err))) {
        snprintf(j->err, sizeof j->err, "%.250s", err.msg);
        return;
    }
    rng_state r;
    rng_seed(&r, j->seed, RNG_STREAM_EVAL);
    double t0 = tm_now();
    for (int ep = 0; ep < j->episodes && !j->rc; ep++) {
        float obs[ENV_OBS_DIM], a[ENV_ACT_DIM];
        if ((j->rc = env_reset_goal(e, ep % ENV_NUM_GOALS, obs, &err)))
            break;
        int success = 0;
        for (int s = 1;; s++) {
            env_scripted_action(e, obs, a);
            for (int i = 0; i < ENV_ACT_DIM && j->noise > 0; i++)
                a[i] += (float)(j->noise * rng_normal(&r));
            env_info inf;
            env_step_flags fl;
            if ((j->rc = env_step(e, a, obs, &inf, &fl, &err)))
                break;
            j->steps++;
            j->ret += inf.reward;
            if (inf.success && !success) {
                success = 1;
                j->successes++;
                j->steps_to_success += s;
                if (!j->full)
                    break;
            }
            if (fl.done) {
                j->unstable += fl.unstable;
                break;
            }
        }
    }
    j->seconds = tm_now() - t0;
    if (j->rc)
        snprintf(j->err, sizeof j->err, "%.250s", err.msg);
    env_destroy(e);
}

typedef struct check_pool {
    check_job *jobs;
    int n, next;
    pthread_mutex_t mu;
} check_pool;

static void *check_worker(void *arg)
{
    check_pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int i = p->next++;
        pthread_mutex_unlock(&p->mu);
        if (i >= p->n)
            return NULL;
        run_check(&p->jobs[i]);
    }
}

static void env_check_usage(FILE *f)
{
    fprintf(f,
            "usage: mtrl env-check BENCHMARK|TASK [--episodes N] [--seed S] [--threads T]\n"
            "                      [--noise X] [--full] [--max-steps N] [--video FILE]\n\n"
            "Runs each task's scripted policy (Meta-World's hand-written strategies) for N\n"
            "episodes, episode i on goal i mod 50 of the goal set of seed S, stopping an\n"
            "episode at its first success (Meta-World's protocol) unless --full. Prints per\n"
            "task: success rate, mean steps to success, mean return per episode, env steps/s.\n"
            "Expected success rates (spec Appendix D, no noise): reach 0.99, push 0.97,\n"
            "pick-place 0.95, door-open 0.94, drawer-open 0.99, drawer-close 0.99,\n"
            "button-press-topdown 0.95, peg-insert-side 0.89, window-open 0.94,\n"
            "window-close 0.98.\n\n"
            "  --episodes N   episodes per task (default 50)\n"
            "  --seed S       goal seed (default 1)\n"
            "  --threads T    tasks run in parallel (default: number of cores)\n"
            "  --noise X      Gaussian action noise std (Meta-World's 10%% noise = 0.2)\n"
            "  --full         run every episode to the step limit\n"
            "  --max-steps N  episode step limit (default 500)\n"
            "  --video FILE   also write a video (FILE.mp4, or .gif) of the first episode\n"
            "                 (goal 0, run to the step limit) with FILE.csv beside it;\n"
            "                 one task only; camera and size options as mtrl render\n"
            "  -h, --help     this help\n");
}

typedef struct check_opts {
    const char *bench, *video;
    char *vargs[48]; /* camera/size options, passed on to mtrl render for --video */
    int nv;
    long episodes, seed, threads, max_steps;
    int full;
    double noise;
} check_opts;

/* Returns -1 to go on, else the exit code. */
static int parse_check_args(int argc, char **argv, check_opts *o)
{
    static const char *const vopts[] = {"--camera", "--azimuth", "--elevation", "--distance",
                                        "--lookat", "--width", "--height", "--fps", NULL};
    *o = (check_opts){.episodes = 50, .seed = 1, .max_steps = ENV_DEFAULT_MAX_STEPS};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            env_check_usage(stdout);
            return 0;
        }
        int has = i + 1 < argc, is_v = 0;
        for (int k = 0; vopts[k]; k++)
            is_v |= !strcmp(a, vopts[k]);
        if ((is_v || !strcmp(a, "--flip")) && o->nv + 2 > (int)(sizeof o->vargs / sizeof *o->vargs)) {
            fprintf(stderr, "mtrl env-check: too many camera and size options\n");
            return 2;
        }
        int bad = 0;
        if (!strcmp(a, "--flip"))
            o->vargs[o->nv++] = argv[i];
        else if (is_v && has) {
            o->vargs[o->nv++] = argv[i];
            o->vargs[o->nv++] = argv[++i];
        } else if (!strcmp(a, "--video") && has)
            o->video = argv[++i];
        else if (!strcmp(a, "--full"))
            o->full = 1;
        else if (!strcmp(a, "--episodes") && has)
            bad = cli_parse_long("env-check", a, argv[++i], 1, 1000000, &o->episodes);
        else if (!strcmp(a, "--seed") && has)
            bad = cli_parse_long("env-check", a, argv[++i], 0, 0x7fffffffffffffffL, &o->seed);
        else if (!strcmp(a, "--threads") && has)
            bad = cli_parse_long("env-check", a, argv[++i], 0, 1024, &o->threads);
        else if (!strcmp(a, "--max-steps") && has)
            bad = cli_parse_long("env-check", a, argv[++i], 1, 100000000, &o->max_steps);
        else if (!strcmp(a, "--noise") && has)
            bad = cli_parse_double("env-check", a, argv[++i], 0, 10, &o->noise);
        else if (a[0] != '-' && !o->bench)
            o->bench = a;
        else {
            fprintf(stderr, "mtrl env-check: unexpected argument '%s'\n", a);
            env_check_usage(stderr);
            return 2;
        }
        if (bad)
            return 2;
    }
    if (!o->bench) {
        env_check_usage(stderr);
        return 2;
    }
    return -1;
}

/* The --video episode, through mtrl render (first: a missing GL context
 * fails before the long part). */
static int check_video(const check_opts *o, int task)
{
    char seed_s[32], steps_s[32];
    snprintf(seed_s, sizeof seed_s, "%ld", o->seed);
    snprintf(steps_s, sizeof steps_s, "%ld", o->max_steps);
    char *rargv[64] = {"render", (char *)env_task_name(task), "--policy", "scripted",
                       "--episodes", "1", "--seed", seed_s, "--max-steps", steps_s,
                       "--out", (char *)o->video};
    int rn = 12;
    for (int k = 0; k < o->nv && rn < 63; k++)
        rargv[rn++] = o->vargs[k];
    return cmd_render(rn, rargv);
}

/* Runs the jobs on threads threads (the caller's one among them); returns
 * the wall time. */
static double run_checks(check_job *jobs, int n, long threads)
{
    check_pool pool = {jobs, n, 0, PTHREAD_MUTEX_INITIALIZER};
    pthread_t th[1024];
    int started = 0;
    double t0 = tm_now();
    for (int t = 1; t < threads; t++)
        if (pthread_create(&th[t], NULL, check_worker, &pool) == 0)
            started = t;
        else
            break;
    check_worker(&pool);
    for (int t = 1; t <= started; t++)
        pthread_join(th[t], NULL);
    return tm_now() - t0;
}

static int print_checks(const check_opts *o, const check_job *jobs, int n, long threads, double wall)
{
    printf("env-check %s: %ld episodes per task, goal seed %ld, noise %.3g%s, %ld threads\n\n",
           o->bench, o->episodes, o->seed, o->noise, o->full ? ", full episodes" : "", threads);
    printf("%-26s %8s %10s %12s %12s %10s\n", "task", "success", "steps2succ", "mean return",
           "steps/s", "unstable");
    int rc = 0;
    long total_steps = 0;
    double mean_success = 0;
    for (int k = 0; k < n; k++) {
        const check_job *j = &jobs[k];
        if (j->rc) {
            fprintf(stderr, "mtrl env-check: %s: %s\n", env_task_name(j->task), j->err);
            rc = 1;
            continue;
        }
        double sr = (double)j->successes / (double)o->episodes;
        mean_success += sr / n;
        total_steps += j->steps;
        printf("%-26s %8.3f %10.1f %12.2f %12.0f %10d\n", env_task_name(j->task), sr,
               j->successes ? (double)j->steps_to_success / j->successes : 0.0,
               j->ret / (double)o->episodes, j->seconds > 0 ? j->steps / j->seconds : 0.0,
               j->unstable);
    }
    printf("\nmean success %.3f; %ld env steps in %.2f s (%.0f steps/s with %ld threads)\n",
           mean_success, total_steps, wall, wall > 0 ? total_steps / wall : 0.0, threads);
    return rc;
}

int cmd_env_check(int argc, char **argv)
{
    check_opts o;
    int rc = parse_check_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    int idx[256], n;
    mtrl_err err = {0};
    if (env_benchmark_tasks(o.bench, idx, 256, &n, &err)) {
        fprintf(stderr, "mtrl env-check: %s\n", err.msg);
        return err_exit_code(err.code);
    }
    if (o.video && n != 1) {
        fprintf(stderr, "mtrl env-check: --video needs one task, %s has %d\n", o.bench, n);
        return 2;
    }
    if (o.video && (rc = check_video(&o, idx[0])))
        return rc;
    check_job *jobs = calloc((size_t)n, sizeof *jobs);
    if (!jobs) {
        fprintf(stderr, "mtrl env-check: out of memory\n");
        return 1;
    }
    for (int k = 0; k < n; k++)
        jobs[k] = (check_job){.task = idx[k], .episodes = (int)o.episodes, .full = o.full,
                              .max_steps = (int)o.max_steps, .seed = (uint64_t)o.seed, .noise = o.noise};
    long threads = o.threads;
    if (threads == 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        threads = c > 0 ? c : 1;
    }
    if (threads > n)
        threads = n;
    double wall = run_checks(jobs, n, threads);
    rc = print_checks(&o, jobs, n, threads, wall);
    free(jobs);
    return rc;
}
