/* End to end through mtrl sweep: a tiny sweep (2 methods x 2 seeds, tiny
 * networks, mt1:reach-v2) run locally without a stop, then interrupted with
 * SIGINT and run again, ends with the same results run by run; the same sweep
 * on a throwaway single-node Slurm (tools/slurm-local), with one array task
 * requeued by `scontrol requeue` and one stopped by the time-limit signal
 * (USR1 to the batch shell, as --signal=B:USR1@LEAD delivers it), finishes
 * every run, resumed from checkpoints, bit for bit equal to the local runs.
 * Without root or Slurm the Slurm part fails when CI is set, else skips. */
#include "e2e_util.h"

#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "sweep/sweep.h"

#define ITERS 6000

static char tmp[512], sweep_file[600];

static const char *p(const char *fmt, const char *a)
{
    static char buf[8][1200];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], fmt, tmp, a);
    return buf[k];
}

static int setup(void **st)
{
    (void)st;
    snprintf(tmp, sizeof tmp, "%s", test_tmpdir());
    /* One env thread: the same seed and thread count give the same run. */
    e2e_write_file(p("%s/tiny.yaml%s", ""),
                   "run: {seed: 1, iterations: %d, threads: 1}\n"
                   "env: {benchmark: \"mt1:reach-v2\", max_episode_steps: 50, goals: sampled}\n"
                   "agent: {actor_hidden: [16], critic_hidden: [16], batch_size: 32,\n"
                   "        init_steps: 100, init_updates: 20}\n"
                   "replay: {capacity: 20000}\n"
                   "eval: {every: 1000, episodes: 1}\n"
                   "log: {checkpoint_every: 250, save_replay: true}\n",
                   ITERS);
    snprintf(sweep_file, sizeof sweep_file, "%s/tiny-sweep.yaml", tmp);
    e2e_write_file(sweep_file,
                   "name: tiny\nconfigs: [tiny.yaml]\nseeds: 2\naxes:\n  mtl.method: [mean, cagrad]\n"
                   "slurm: {cpus_per_task: 1, time: \"00:10:00\", signal_lead: 60}\n");
    return 0;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* eval.csv without its wall_time column (the only column that may differ). */
static char *eval_rows(const char *run_dir)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/eval.csv", run_dir);
    char *t = test_slurp(path);
    if (!t)
        fail_msg("%s missing", path);
    char *out = malloc(strlen(t) + 1), *o = out;
    for (char *line = t; *line;) {
        size_t n = strcspn(line, "\n");
        char *c1 = memchr(line, ',', n);
        char *c2 = c1 ? memchr(c1 + 1, ',', n - (size_t)(c1 + 1 - line)) : NULL;
        if (!c1 || !c2)
            fail_msg("%s: odd line", path);
        memcpy(o, line, (size_t)(c1 - line));
        o += c1 - line;
        memcpy(o, c2, n - (size_t)(c2 - line));
        o += n - (size_t)(c2 - line);
        *o++ = '\n';
        line += n + (line[n] == '\n');
    }
    *o = 0;
    free(t);
    return out;
}

/* Same evaluations and the same final weights and optimizer state. */
static void assert_same_run(const char *a, const char *b)
{
    char *x = eval_rows(a), *y = eval_rows(b);
    if (strcmp(x, y))
        fail_msg("eval.csv of %s and %s differ:\n%s\nvs\n%s", a, b, x, y);
    free(x);
    free(y);
    const char *names[] = {"agent/actor/w", "agent/critic/w", "agent/critic_target/w", "agent/log_alpha/w",
                           "agent/actor/adam_v"};
    char ca[1300], cb[1300];
    snprintf(ca, sizeof ca, "%s/checkpoint.h5", a);
    snprintf(cb, sizeof cb, "%s/checkpoint.h5", b);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        e2e_assert_same_dataset(ca, cb, names[i]);
}

static sweep_spec *open_sweep(const char *dir)
{
    sweep_spec *s;
    mtrl_err e = {0};
    if (sweep_dir_open(&s, dir, &e))
        fail_msg("%s", e.msg);
    return s;
}

static void assert_all_done(const char *dir)
{
    sweep_spec *s = open_sweep(dir);
    for (int i = 0; i < s->n_runs; i++) {
        char rd[1200];
        sweep_run_dir(dir, &s->runs[i], rd, sizeof rd);
        sweep_run_status st;
        sweep_read_status(rd, NULL, &st);
        if (st.state != SWEEP_DONE || st.iteration != ITERS)
            fail_msg("%s: %s at iteration %lld", s->runs[i].name, sweep_state_word(st.state),
                     (long long)st.iteration);
    }
    sweep_destroy(s);
}

static int file_has(const char *path, const char *what)
{
    char *t = test_slurp(path);
    int r = t && strstr(t, what);
    free(t);
    return r;
}

/* Every run of the sweep in dir equals, bit for bit, the same run of the
 * uninterrupted local sweep (tmp/full). */
static void assert_same_as_full(const char *dir)
{
    sweep_spec *s = open_sweep(dir);
    for (int i = 0; i < s->n_runs; i++) {
        char a[1200], b[1200];
        sweep_run_dir(p("%s/full%s", ""), &s->runs[i], a, sizeof a);
        sweep_run_dir(dir, &s->runs[i], b, sizeof b);
        assert_same_run(a, b);
    }
    sweep_destroy(s);
}

/* Starts `mtrl sweep` into tmp/OUT (stderr to tmp/OUT.log) and returns
 * once the first run has a checkpoint. */
static pid_t start_sweep(const char *out)
{
    const char *bin = test_mtrl_bin();
    char log[256];
    snprintf(log, sizeof log, "%s.log", out);
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir(tmp) || !freopen(log, "w", stderr))
            _exit(126);
        execl(bin, bin, "sweep", "tiny-sweep.yaml", "--out", out, "--parallel", "2", (char *)NULL);
        _exit(127);
    }
    char ck[1400];
    snprintf(ck, sizeof ck, "%s/%s/runs/tiny-method=mean-seed1/checkpoint.h5", tmp, out);
    struct stat sb;
    for (int i = 0; i < 600 && stat(ck, &sb); i++)
        usleep(20000);
    assert_int_equal(stat(ck, &sb), 0);
    return pid;
}

/* The same command again finishes tmp/OUT's runs, each equal bit for bit
 * to the uninterrupted sweep's. */
static void finish_and_compare(const char *out)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", tmp, out);
    assert_int_equal(test_sh("cd %s && %s sweep tiny-sweep.yaml --out %s --parallel 2 2>>%s.log", tmp,
                             test_mtrl_bin(), out, out), 0);
    assert_all_done(dir);
    assert_same_as_full(dir);
}

/* (a) The local executor: uninterrupted, then interrupted and rerun. */
static void test_local_interrupted_equals_uninterrupted(void **st)
{
    (void)st;
    const char *bin = test_mtrl_bin();
    double t0 = now_s();
    assert_int_equal(test_sh("cd %s && %s sweep tiny-sweep.yaml --out full --parallel 2 2>full.log", tmp, bin), 0);
    assert_all_done(p("%s/full%s", ""));
    fprintf(stderr, "   local sweep, uninterrupted: %.1f s\n", now_s() - t0);

    /* SIGINT to the sweep once its first runs have checkpoints. */
    t0 = now_s();
    pid_t pid = start_sweep("part");
    kill(pid, SIGINT);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 3); /* stopped, resumable */
    assert_true(file_has(p("%s/part.log%s", ""), "run the same command again"));
    sweep_spec *s = open_sweep(p("%s/part%s", ""));
    int unfinished = 0;
    for (int i = 0; i < s->n_runs; i++) {
        char rd[1200];
        sweep_run_dir(p("%s/part%s", ""), &s->runs[i], rd, sizeof rd);
        sweep_run_status rs;
        sweep_read_status(rd, NULL, &rs);
        unfinished += rs.state != SWEEP_DONE;
        assert_true(rs.state == SWEEP_DONE || rs.state == SWEEP_STOPPED || rs.state == SWEEP_PENDING);
    }
    sweep_destroy(s);
    assert_true(unfinished > 0);
    /* mtrl sweep status reads the same. */
    assert_int_equal(test_sh("%s sweep status %s/part | grep -q 'tiny-method=mean-seed1 *stopped'", bin, tmp), 0);

    /* The same command again: finished runs skipped, the others resumed. */
    finish_and_compare("part");
    fprintf(stderr, "   local sweep, interrupted and rerun: %.1f s\n", now_s() - t0);
    assert_true(file_has(p("%s/part/logs/%s.log", "tiny-method=mean-seed1"), "resuming"));
    /* A third time: nothing left to do. */
    assert_int_equal(test_sh("cd %s && %s sweep tiny-sweep.yaml --out part 2>/dev/null", tmp, bin), 0);
}

/* (b) The sweep process killed outright (-9, no chance to pass a signal on):
 * its runs stop at a checkpoint by themselves instead of running on
 * unwatched, and the same command finishes them, equal to (a)'s runs. */
static void test_local_sweep_killed_runs_stop(void **st)
{
    (void)st;
    pid_t pid = start_sweep("killed");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    /* Within a bound every run has let go of its directory. */
    sweep_spec *s = open_sweep(p("%s/killed%s", ""));
    double t0 = now_s();
    int live = 1, stopped = 0;
    while (live && now_s() - t0 < 60) {
        live = stopped = 0;
        for (int i = 0; i < s->n_runs; i++) {
            char rd[1200];
            sweep_run_dir(p("%s/killed%s", ""), &s->runs[i], rd, sizeof rd);
            sweep_run_status rs;
            sweep_read_status(rd, NULL, &rs);
            live += rs.state == SWEEP_RUNNING;
            stopped += rs.state == SWEEP_STOPPED;
        }
        if (live)
            usleep(50000);
    }
    fprintf(stderr, "   sweep killed -9: its runs stopped within %.1f s\n", now_s() - t0);
    assert_int_equal(live, 0);
    assert_true(stopped > 0);
    sweep_destroy(s);
    finish_and_compare("killed");
}

/* (c) Two interrupts: the second kills the runs at once; the sweep still
 * exits 3 (resumable), no run is left holding its directory, and the same
 * command finishes them from their last checkpoints, equal to (a)'s runs. */
static void test_local_second_interrupt_kills(void **st)
{
    (void)st;
    pid_t pid = start_sweep("twice");
    /* The running runs are frozen first (their pids from their locks), so
     * the first interrupt cannot let them finish at a checkpoint before the
     * second arrives: only the kill can end them. */
    sweep_spec *s = open_sweep(p("%s/twice%s", ""));
    int frozen = 0;
    for (int i = 0; i < s->n_runs; i++) {
        char rd[1200];
        long run_pid = 0;
        sweep_run_dir(p("%s/twice%s", ""), &s->runs[i], rd, sizeof rd);
        if (fs_dir_locked(rd, &run_pid, NULL, 0) == 1 && run_pid > 0)
            frozen += kill((pid_t)run_pid, SIGSTOP) == 0;
    }
    assert_true(frozen > 0);
    /* Apart, so the two do not merge into one pending signal. */
    kill(pid, SIGINT);
    usleep(300000);
    kill(pid, SIGINT);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 3);
    assert_true(file_has(p("%s/twice.log%s", ""), "killing the runs now"));
    for (int i = 0; i < s->n_runs; i++) {
        char rd[1200];
        sweep_run_dir(p("%s/twice%s", ""), &s->runs[i], rd, sizeof rd);
        sweep_run_status rs;
        sweep_read_status(rd, NULL, &rs);
        assert_int_not_equal(rs.state, SWEEP_RUNNING);
        assert_int_not_equal(rs.state, SWEEP_FAILED);
    }
    sweep_destroy(s);
    finish_and_compare("twice");
}

/* ------------------------------------------------------------- Slurm */

static char slurm_tool[PATH_MAX];
static int cluster_up;
static const char *cluster_dir;

/* A failed assertion leaves the test early: the cluster is stopped here. */
static int teardown(void **st)
{
    (void)st;
    if (cluster_up)
        test_sh("%s stop >/dev/null 2>&1", slurm_tool);
    if (cluster_dir)
        test_sh("rm -rf %s", cluster_dir);
    return 0;
}

/* A shell command with the test cluster's environment (SLURM_CONF, PATH). */
#define SL "eval \"$(%s env)\" && "

/* The Slurm state of array task JOB_TASK, "" when squeue lists none. */
static void task_state(const char *job, int task, char *out, size_t cap)
{
    char cmd[PATH_MAX + 128];
    snprintf(cmd, sizeof cmd, SL "squeue -h -r -j %s_%d -o %%T 2>/dev/null", slurm_tool, job, task);
    FILE *f = popen(cmd, "r");
    out[0] = 0;
    if (f && fgets(out, (int)cap, f))
        out[strcspn(out, "\n")] = 0;
    if (f)
        pclose(f);
}

/* Waits (bounded) until task runs and its run has a checkpoint but is not
 * done yet. */
static void wait_running_with_checkpoint(const char *dir, const char *job, int task, const char *name)
{
    struct stat sb;
    char state[64], ck[1200];
    snprintf(ck, sizeof ck, "%s/runs/%s/checkpoint.h5", dir, name);
    double t0 = now_s();
    for (;;) {
        task_state(job, task, state, sizeof state);
        if (!strcmp(state, "RUNNING") && !stat(ck, &sb))
            return;
        if (now_s() - t0 > 60)
            fail_msg("array task %s_%d: still %s without %s after 60 s", job, task, state[0] ? state : "gone", ck);
        usleep(50000);
    }
}

static void test_slurm_requeue_resumes_bit_for_bit(void **st)
{
    (void)st;
    const char *ci = getenv("CI");
    int in_ci = ci && *ci && strcmp(ci, "0") && strcmp(ci, "false");
    const char *tool = getenv("MTRL_SLURM_LOCAL");
    snprintf(slurm_tool, sizeof slurm_tool, "%s", tool && *tool ? tool : "tools/slurm-local");
    char abs_tool[PATH_MAX]; /* the commands below run in other directories */
    if (realpath(slurm_tool, abs_tool))
        snprintf(slurm_tool, sizeof slurm_tool, "%s", abs_tool);
    const char *why = NULL;
    if (geteuid() != 0)
        why = "not root (tools/slurm-local starts slurmctld, slurmd and munged as root)";
    else if (access(slurm_tool, X_OK))
        why = "tools/slurm-local is missing";
    else if (test_sh("command -v sbatch >/dev/null && command -v slurmctld >/dev/null && command -v munged >/dev/null"))
        why = "Slurm is not installed (apt-get install slurm-wlm munge; .ci/run does)";
    if (why) {
        if (in_ci)
            fail_msg("the Slurm end-to-end test cannot run in CI: %s", why);
        fprintf(stderr, "   SKIPPED the Slurm part: %s\n", why);
        skip();
    }
    const char *bin = test_mtrl_bin();
    /* A cluster of our own (scratch dir and ports), so a cluster someone else
     * runs on this machine is neither reused nor stopped by this test. */
    /* Outside the test's 0700 temp dir: munged runs as the munge user. */
    static char sdir[700];
    char port[16];
    snprintf(sdir, sizeof sdir, "/tmp/mtrl-sweep-slurm-%d", (int)getpid());
    snprintf(port, sizeof port, "%d", 20000 + 2 * (int)(getpid() % 2000));
    setenv("MTRL_SLURM_DIR", sdir, 1);
    setenv("MTRL_SLURM_PORT", port, 1);
    cluster_dir = sdir;
    double t0 = now_s();
    if (test_sh("%s start >%s/slurm-start.log 2>&1", slurm_tool, tmp))
        fail_msg("%s start failed: %s", slurm_tool, test_slurp(p("%s/slurm-start.log%s", "")));
    cluster_up = 1;
    char dir[700];
    snprintf(dir, sizeof dir, "%s/sl", tmp);
    int rc = test_sh("cd %s && " SL "%s sweep tiny-sweep.yaml --out sl --executor slurm >sl-submit.log 2>&1", tmp,
                     slurm_tool, bin);
    char *sub = test_slurp(p("%s/sl-submit.log%s", ""));
    if (rc)
        fail_msg("mtrl sweep --executor slurm exit %d: %s", rc, sub);
    free(sub);
    char *jobs = test_slurp(p("%s/sl/slurm/jobs%s", ""));
    assert_non_null(jobs);
    char job[32];
    snprintf(job, sizeof job, "%.*s", (int)strspn(jobs, "0123456789"), jobs);
    free(jobs);
    assert_true(job[0]);
    assert_true(file_has(p("%s/sl/slurm/submit.sbatch%s", ""), "#SBATCH --array=0-3\n"));

    /* Task 0 requeued by Slurm (as a preemption or an admin would), task 1
     * given the time-limit signal: it stops at a checkpoint and requeues
     * itself. */
    wait_running_with_checkpoint(dir, job, 0, "tiny-method=mean-seed1");
    assert_int_equal(test_sh(SL "scontrol requeue %s_0", slurm_tool, job), 0);
    wait_running_with_checkpoint(dir, job, 1, "tiny-method=mean-seed2");
    /* slurmctld may answer "try again later" while it requeues task 0 (the
     * signal can arrive all the same): send until the task says it got it. */
    const char *log1 = p("%s/sl/logs/%s.log", "tiny-method=mean-seed2");
    for (int i = 0; i < 50 && !file_has(log1, "got signal 10"); i++) {
        /* scancel retries by itself on "try again later": bound it. */
        test_sh(SL "timeout 10 scancel --batch --signal=USR1 %s_1 2>/dev/null", slurm_tool, job);
        usleep(200000);
    }
    if (!file_has(log1, "got signal 10"))
        fail_msg("array task %s_1 never got USR1 (scancel --batch --signal=USR1)", job);

    /* Every run done, within a bound. */
    sweep_spec *s = open_sweep(dir);
    double t1 = now_s();
    int done = 0;
    while (!done && now_s() - t1 < 150) {
        done = 1;
        for (int i = 0; i < s->n_runs; i++) {
            char rd[1200];
            sweep_run_dir(dir, &s->runs[i], rd, sizeof rd);
            sweep_run_status rs;
            sweep_read_status(rd, NULL, &rs);
            done &= rs.state == SWEEP_DONE;
        }
        char state[64] = "";
        for (int i = 0; done && i < s->n_runs; i++) {
            task_state(job, i, state, sizeof state);
            done &= !state[0] || !strcmp(state, "COMPLETED");
        }
        usleep(200000);
    }
    test_sh("%s sweep status %s >&2", bin, dir);
    if (!done) {
        test_sh("tail -n 5 %s/logs/*.log >&2; " SL "squeue >&2", dir, slurm_tool);
        fail_msg("the Slurm sweep did not finish within 150 s of the requeue");
    }
    fprintf(stderr, "   Slurm sweep with two requeues: %.1f s (%.1f s after the requeues)\n", now_s() - t0,
            now_s() - t1);
    assert_all_done(dir);
    /* Both interrupted runs resumed from a checkpoint in a restarted task. */
    const char *resumed[] = {"tiny-method=mean-seed1", "tiny-method=mean-seed2"};
    for (int i = 0; i < 2; i++) {
        const char *log = p("%s/sl/logs/%s.log", resumed[i]);
        if (!file_has(log, "stopped at a checkpoint") || !file_has(log, "resuming") || !file_has(log, "restart 1"))
            fail_msg("%s: no stop at a checkpoint and resume in a restarted task:\n%s", log, test_slurp(log));
    }
    assert_true(file_has(p("%s/sl/logs/%s.log", "tiny-method=mean-seed2"), "requeued Slurm array task"));
    /* Bit for bit what the uninterrupted local runs computed. */
    assert_same_as_full(dir);
    sweep_destroy(s);
    assert_int_equal(test_sh("%s sweep status %s | grep -c ' done ' | grep -qx 4", bin, dir), 0);
    /* mtrl report over the sweep directory: two groups (the methods) of two seeds. */
    assert_int_equal(test_sh("%s report %s > %s/sl-report.md", bin, dir, tmp), 0);
    char *rep = test_slurp(p("%s/sl-report.md%s", ""));
    if (!strstr(rep, "| method=cagrad | 2 |") || !strstr(rep, "| method=mean | 2 |"))
        fail_msg("mtrl report %s: no group of 2 seeds per method:\n%s", dir, rep);
    free(rep);
    cluster_up = 0;
    assert_int_equal(test_sh("%s stop >/dev/null 2>&1", slurm_tool), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_interrupted_equals_uninterrupted),
        cmocka_unit_test(test_local_sweep_killed_runs_stop),
        cmocka_unit_test(test_local_second_interrupt_kills),
        cmocka_unit_test(test_slurm_requeue_resumes_bit_for_bit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
