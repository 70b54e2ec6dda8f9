/* End to end: the run lifecycle under a hostile user and a cluster
 * scheduler. The run directory is locked for the life of a run (a second
 * run exits 4 naming the holder; two resumes at once never interleave their
 * logs; kill -9 leaves no stale lock), status.json follows the run, a stop
 * by signal exits 3, resumes keep the evaluation schedule, a failed resume
 * or start changes nothing on disk. */
#include "testutil.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fsutil.h"

static char cfg_path[512];

/* Tiny MT10 runs: episodes of 40 steps, tiny networks, a checkpoint at
 * every episode boundary. */
static void write_config(void)
{
    snprintf(cfg_path, sizeof cfg_path, "%s/tiny.yaml", test_tmpdir());
    FILE *f = fopen(cfg_path, "w");
    assert_non_null(f);
    fprintf(f, "run: {seed: 3, iterations: 480, threads: 1}\n"
               "env: {benchmark: mt10, max_episode_steps: 40}\n"
               "agent: {actor_hidden: [16, 16], critic_hidden: [16, 16], batch_size: 20,\n"
               "        init_steps: 40, init_updates: 5}\n"
               "replay: {capacity: 5000}\n"
               "mtl: {method: mean}\n"
               "eval: {every: 120, episodes: 1}\n"
               "log: {checkpoint_every: 40, save_replay: true}\n");
    fclose(f);
}

static const char *tpath(const char *fmt, const char *a)
{
    static char buf[8][700];
    static int i;
    i = (i + 1) % 8;
    char rel[400];
    snprintf(rel, sizeof rel, fmt, a);
    snprintf(buf[i], sizeof buf[i], "%s/%s", test_tmpdir(), rel);
    return buf[i];
}

/* Starts `mtrl run ARGS...` with stderr to errfile; returns its pid. */
static pid_t spawn(const char *errfile, const char *const *args)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(errfile, "w", stderr))
            _exit(126);
        const char *argv[32] = {test_mtrl_bin(), "run"};
        int n = 2;
        for (int i = 0; args[i] && n < 31; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid)
{
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The "iteration" of status.json, or -1. */
static long status_iteration(const char *dir, char *state, size_t cap)
{
    char p[700];
    snprintf(p, sizeof p, "%s/status.json", dir);
    char *t = test_slurp(p);
    if (!t)
        return -1;
    long it = -1;
    const char *s = strstr(t, "\"iteration\": ");
    if (s)
        it = strtol(s + 13, NULL, 10);
    if (state) {
        state[0] = '\0';
        const char *q = strstr(t, "\"state\": \"");
        if (q)
            sscanf(q + 10, "%31[a-z]", state);
        (void)cap;
    }
    free(t);
    return it;
}

/* Waits until status.json reports a checkpoint past `after` (at most 60 s). */
static long wait_progress(const char *dir, long after)
{
    for (int i = 0; i < 600; i++) {
        long it = status_iteration(dir, NULL, 0);
        if (it > after)
            return it;
        usleep(100000);
    }
    fail_msg("%s: no progress past iteration %ld", dir, after);
    return -1;
}

/* The steps (first column) of a CSV, header skipped; returns the count. */
static int csv_steps(const char *path, long *steps, int cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[8192];
    int n = 0;
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return 0;
    }
    while (fgets(line, sizeof line, f) && n < cap)
        steps[n++] = strtol(line, NULL, 10);
    fclose(f);
    return n;
}

static void assert_steps_increasing(const char *path)
{
    long s[4096];
    int n = csv_steps(path, s, 4096);
    assert_true(n > 0);
    for (int i = 1; i < n; i++)
        if (s[i] <= s[i - 1])
            fail_msg("%s: row %d step %ld after %ld (duplicated or out of order)", path, i + 1,
                     s[i], s[i - 1]);
}

/* A second run on a locked directory exits 4 and names the holder's pid and
 * host; the holder is unaffected. kill -9 leaves status "running" and a free
 * lock, and the run resumes. */
static void test_lock_second_run_exits_4_and_kill_9(void **st)
{
    (void)st;
    write_config();
    const char *bin = test_mtrl_bin();
    char dir[600];
    snprintf(dir, sizeof dir, "%s", tpath("locked", ""));
    const char *args[] = {cfg_path, "--quiet", "--out", dir, "--set", "run.iterations=100000",
                          NULL};
    pid_t pid = spawn(tpath("locked.log", ""), args);
    wait_progress(dir, 0);
    long holder;
    assert_int_equal(fs_dir_locked(dir, &holder, NULL, 0), 1);
    assert_int_equal(holder, (long)pid);
    assert_int_equal(test_sh("%s run --resume %s --quiet 2>%s", bin, dir, tpath("second.log", "")),
                     4);
    char *msg = test_slurp(tpath("second.log", ""));
    char want[64], host[256] = "";
    snprintf(want, sizeof want, "pid %ld", (long)pid);
    gethostname(host, sizeof host - 1);
    assert_non_null(strstr(msg, want));
    assert_non_null(strstr(msg, host));
    free(msg);
    char state[32];
    status_iteration(dir, state, sizeof state);
    assert_string_equal(state, "running");

    kill(pid, SIGKILL);
    assert_int_equal(wait_exit(pid), 128 + SIGKILL);
    assert_int_equal(fs_dir_locked(dir, NULL, NULL, 0), 0);
    long it = status_iteration(dir, state, sizeof state);
    assert_string_equal(state, "running"); /* killed: running, with the lock free */
    /* A temp file of a checkpoint write cut by kill -9 is removed. */
    FILE *f = fopen(tpath("locked/checkpoint.h5.tmp-999999", ""), "w");
    fclose(f);
    assert_int_equal(test_sh("%s run --resume %s --quiet --set run.iterations=%ld 2>/dev/null",
                             bin, dir, it + 80),
                     0);
    struct stat sb;
    assert_int_not_equal(stat(tpath("locked/checkpoint.h5.tmp-999999", ""), &sb), 0);
    long it2 = status_iteration(dir, state, sizeof state);
    assert_string_equal(state, "done");
    assert_int_equal(it2, it + 80);
    assert_steps_increasing(tpath("locked/train.csv", ""));
    assert_steps_increasing(tpath("locked/eval.csv", ""));
    /* A finished run: --resume exits 0 at once. */
    assert_int_equal(test_sh("%s run --resume %s --quiet --set run.iterations=%ld 2>/dev/null",
                             bin, dir, it + 80),
                     0);
}

/* Two resumes of one stopped run at once: one exits 4, the other finishes;
 * the logs hold each step once, in order. */
static void test_two_resumes_at_once(void **st)
{
    (void)st;
    write_config();
    char dir[600];
    snprintf(dir, sizeof dir, "%s", tpath("twice", ""));
    const char *first[] = {cfg_path, "--quiet", "--out", dir, NULL};
    pid_t p0 = spawn(tpath("twice0.log", ""), first);
    wait_progress(dir, 0);
    kill(p0, SIGTERM);
    assert_int_equal(wait_exit(p0), 3);
    const char *again[] = {"--resume", dir, "--quiet", NULL};
    pid_t a = spawn(tpath("twice1.log", ""), again);
    pid_t b = spawn(tpath("twice2.log", ""), again);
    int ra = wait_exit(a), rb = wait_exit(b);
    if (!((ra == 0 && rb == 4) || (ra == 4 && rb == 0)))
        fail_msg("exit codes %d and %d, want 0 and 4", ra, rb);
    assert_steps_increasing(tpath("twice/train.csv", ""));
    assert_steps_increasing(tpath("twice/eval.csv", ""));
    long s[64];
    int n = csv_steps(tpath("twice/eval.csv", ""), s, 64);
    assert_int_equal(n, 5); /* 0 120 240 360 480 */
    char state[32];
    assert_int_equal(status_iteration(dir, state, sizeof state), 480);
    assert_string_equal(state, "done");
}

/* Evaluations at multiples of eval.every (120; episodes of 40) however the
 * run is interrupted: stopped until one stop lands between two
 * evaluations, then resumed to the end. */
static void test_eval_schedule_survives_interruptions(void **st)
{
    (void)st;
    write_config();
    char dir[600];
    snprintf(dir, sizeof dir, "%s", tpath("sched", ""));
    const char *first[] = {cfg_path, "--quiet", "--out", dir, NULL};
    const char *again[] = {"--resume", dir, "--quiet", NULL};
    long at = 0;
    int off_schedule = 0;
    for (int round = 0; round < 8 && !off_schedule; round++) {
        pid_t p = spawn(tpath("sched.log", ""), round ? again : first);
        wait_progress(dir, at);
        kill(p, SIGINT);
        int rc = wait_exit(p);
        at = status_iteration(dir, NULL, 0);
        if (rc == 0)
            break; /* finished before the signal: start over is not needed */
        assert_int_equal(rc, 3);
        off_schedule = at % 120 != 0;
    }
    assert_true(off_schedule);
    assert_int_equal(test_sh("%s run --resume %s --quiet 2>/dev/null", test_mtrl_bin(), dir), 0);
    long s[64];
    int n = csv_steps(tpath("sched/eval.csv", ""), s, 64);
    assert_int_equal(n, 5);
    for (int i = 0; i < n; i++)
        assert_int_equal(s[i], 120 * i);
}

/* A resume whose --set does not fit the checkpoint exits 2 and leaves
 * config.yaml as it was, so a plain resume still works. */
static void test_failed_resume_keeps_config(void **st)
{
    (void)st;
    write_config();
    const char *bin = test_mtrl_bin();
    char dir[600];
    snprintf(dir, sizeof dir, "%s", tpath("keepcfg", ""));
    assert_int_equal(test_sh("%s run %s --quiet --out %s --set run.iterations=80 2>/dev/null", bin,
                             cfg_path, dir),
                     0);
    char *before = test_slurp(tpath("keepcfg/config.yaml", ""));
    assert_non_null(before);
    assert_int_equal(test_sh("%s run --resume %s --quiet --set run.iterations=160 "
                             "--set agent.actor_hidden=[64,64] 2>%s",
                             bin, dir, tpath("keepcfg.log", "")),
                     2);
    char *after = test_slurp(tpath("keepcfg/config.yaml", ""));
    assert_string_equal(before, after);
    free(after);
    char state[32];
    status_iteration(dir, state, sizeof state);
    assert_string_equal(state, "failed");
    assert_int_equal(test_sh("%s run --resume %s --quiet --set run.iterations=160 2>/dev/null",
                             bin, dir),
                     0);
    after = test_slurp(tpath("keepcfg/config.yaml", ""));
    assert_non_null(strstr(after, "iterations: 160"));
    free(before);
    free(after);
}

/* A start that cannot start leaves no run directory behind. */
static void test_failed_start_leaves_nothing(void **st)
{
    (void)st;
    write_config();
    const char *bin = test_mtrl_bin();
    assert_int_equal(test_sh("%s run %s --quiet --out %s --set env.benchmark=mt1:no-such-task "
                             "2>/dev/null",
                             bin, cfg_path, tpath("nostart", "")),
                     2);
    struct stat sb;
    assert_int_not_equal(stat(tpath("nostart", ""), &sb), 0);
    assert_int_equal(test_sh("%s run %s --quiet --set run.runs_dir=%s "
                             "--set env.benchmark=mt1:no-such-task 2>/dev/null",
                             bin, cfg_path, tpath("noroot", "")),
                     2);
    assert_true(fs_dir_is_empty(tpath("noroot", "")));
    /* An allocation too large (exit 1): no directory either. (Under ASan,
     * malloc must be allowed to fail instead of aborting.) */
    assert_int_equal(test_sh("ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}"
                             "allocator_may_return_null=1 "
                             "%s run %s --quiet --out %s --set replay.capacity=1000000000000 "
                             "2>/dev/null",
                             bin, cfg_path, tpath("toobig", "")),
                     1);
    assert_int_not_equal(stat(tpath("toobig", ""), &sb), 0);
    /* An empty directory given with --out stays empty and usable. */
    mkdir(tpath("empty", ""), 0777);
    assert_int_equal(test_sh("%s run %s --quiet --out %s --set env.benchmark=mt1:no-such-task "
                             "2>/dev/null",
                             bin, cfg_path, tpath("empty", "")),
                     2);
    assert_true(fs_dir_is_empty(tpath("empty", "")));
    /* A file where a directory should be is bad input, given either way. */
    FILE *f = fopen(tpath("afile", ""), "w");
    fclose(f);
    assert_int_equal(test_sh("%s run %s --quiet --out %s 2>/dev/null", bin, cfg_path,
                             tpath("afile", "")),
                     2);
    assert_int_equal(test_sh("%s run %s --quiet --set run.runs_dir=%s 2>/dev/null", bin, cfg_path,
                             tpath("afile", "")),
                     2);
}

/* --resume of a directory holding only config.yaml (and logs of a start
 * that never reached a checkpoint) runs it from iteration 0. */
static void test_resume_without_checkpoint_starts_over(void **st)
{
    (void)st;
    write_config();
    const char *bin = test_mtrl_bin();
    mkdir(tpath("nockpt", ""), 0777);
    assert_int_equal(test_sh("%s config %s --set run.iterations=120 > %s", bin, cfg_path,
                             tpath("nockpt/config.yaml", "")),
                     0);
    FILE *f = fopen(tpath("nockpt/metrics.jsonl", ""), "w");
    fputs("{\"kind\":\"train\",\"step\":40,\"wall_ti", f);
    fclose(f);
    f = fopen(tpath("nockpt/eval.csv", ""), "w");
    fputs("step,wall_time,success\n0,1.0,0.5\n", f);
    fclose(f);
    assert_int_equal(test_sh("%s run --resume %s --quiet 2>/dev/null", bin, tpath("nockpt", "")),
                     0);
    long s[16];
    int n = csv_steps(tpath("nockpt/eval.csv", ""), s, 16);
    assert_int_equal(n, 2); /* 0 and 120, logged by this run */
    assert_int_equal(s[0], 0);
    assert_int_equal(s[1], 120);
    char state[32];
    assert_int_equal(status_iteration(tpath("nockpt", ""), state, sizeof state), 120);
    assert_string_equal(state, "done");
}

/* Two Ctrl-C: one "stopping" line, and the second ends the run at once. */
static void test_second_signal_quits_quietly(void **st)
{
    (void)st;
    write_config();
    char dir[600];
    snprintf(dir, sizeof dir, "%s", tpath("twosig", ""));
    const char *args[] = {cfg_path, "--quiet", "--out", dir, "--set",
                          "env.max_episode_steps=500", "--set", "run.iterations=100000", NULL};
    pid_t p = spawn(tpath("twosig.log", ""), args);
    wait_progress(dir, -1); /* set up: status.json written */
    kill(p, SIGINT);
    usleep(300000); /* a second signal sent before the first is handled merges with it */
    kill(p, SIGINT);
    assert_int_equal(wait_exit(p), 128 + SIGINT);
    char *log = test_slurp(tpath("twosig.log", ""));
    const char *first = strstr(log, "stopping at the end");
    assert_non_null(first);
    assert_null(strstr(first + 1, "stopping at the end"));
    free(log);

    /* A repeated SIGTERM (a scheduler signalling every process) does not
     * cost the checkpoint: exit 3, one line. */
    snprintf(dir, sizeof dir, "%s", tpath("twoterm", ""));
    args[3] = dir;
    p = spawn(tpath("twoterm.log", ""), args);
    wait_progress(dir, -1);
    kill(p, SIGTERM);
    usleep(300000);
    kill(p, SIGTERM);
    assert_int_equal(wait_exit(p), 3);
    log = test_slurp(tpath("twoterm.log", ""));
    first = strstr(log, "stopping at the end");
    assert_non_null(first);
    assert_null(strstr(first + 1, "stopping at the end"));
    free(log);
}

/* mtrl eval --json with a path holding '"' and '\\' is still valid JSON. */
static void test_eval_json_escapes_paths(void **st)
{
    (void)st;
    write_config();
    const char *bin = test_mtrl_bin();
    char dir[600];
    snprintf(dir, sizeof dir, "%s", tpath("we\"ird\\dir", ""));
    assert_int_equal(test_sh("%s run %s --quiet --out '%s' --set run.iterations=40 2>/dev/null",
                             bin, cfg_path, dir),
                     0);
    char out[700];
    snprintf(out, sizeof out, "%s", tpath("eval.json", ""));
    assert_int_equal(test_sh("%s eval '%s' --json > %s", bin, dir, out), 0);
    char *j = test_slurp(out);
    assert_non_null(strstr(j, "we\\\"ird\\\\dir/checkpoint.h5\""));
    free(j);
    if (test_sh("command -v python3 >/dev/null") == 0)
        assert_int_equal(test_sh("python3 -c 'import json,sys; json.load(open(sys.argv[1]))' %s",
                                 out),
                         0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_second_run_exits_4_and_kill_9),
        cmocka_unit_test(test_two_resumes_at_once),
        cmocka_unit_test(test_eval_schedule_survives_interruptions),
        cmocka_unit_test(test_failed_resume_keeps_config),
        cmocka_unit_test(test_failed_start_leaves_nothing),
        cmocka_unit_test(test_resume_without_checkpoint_starts_over),
        cmocka_unit_test(test_second_signal_quits_quietly),
        cmocka_unit_test(test_eval_json_escapes_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
