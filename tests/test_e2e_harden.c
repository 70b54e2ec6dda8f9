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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_second_run_exits_4_and_kill_9),
        cmocka_unit_test(test_two_resumes_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
