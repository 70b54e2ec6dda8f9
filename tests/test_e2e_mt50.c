/* End to end through `mtrl run`: every YAML file in configs/mt50 trains a short
 * smoke run (tiny networks, 16 iterations, 8-step episodes, one
 * evaluation at the start and one at the end) and writes its run directory:
 * exit 0, the resolved config names mt50 and the file's method, train.csv
 * shows updates with finite losses and no skipped update, eval.csv has one
 * success column per MT50 task in the spec's one-hot order
 * (metaworld-mt50.md §1) and a row per evaluation.
 *
 * Until all 50 tasks are registered the test skips, naming the tasks that
 * `mtrl tasks` does not list. MTRL_E2E_MT50_BENCHMARK=<benchmark> runs the
 * same checks with that benchmark in place of mt50 (e.g. mt10, to check
 * the test itself before MT50 is complete); the column check then follows
 * the benchmark's own task list. */
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <sys/wait.h>

#include "envs_mt50.h"

static const char *const mt10_order[10] = {
    "reach-v2",       "push-v2",         "pick-place-v2",           "door-open-v2",
    "drawer-open-v2", "drawer-close-v2", "button-press-topdown-v2", "peg-insert-side-v2",
    "window-open-v2", "window-close-v2"};

/* Task names `mtrl tasks` lists (second column of its indexed lines). */
static char *listed_tasks(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tasks.txt", test_tmpdir());
    assert_int_equal(test_sh("%s tasks > %s", test_mtrl_bin(), path), 0);
    char *s = test_slurp(path);
    assert_non_null(s);
    return s;
}

static int lists(const char *out, const char *task)
{
    size_t n = strlen(task);
    for (const char *p = strstr(out, task); p; p = strstr(p + 1, task))
        if (p > out && p[-1] == ' ' && (p[n] == ' ' || p[n] == '\n'))
            return 1;
    return 0;
}

/* The i-th comma-separated field of line (0-based) into buf. */
static int csv_field(const char *line, int i, char *buf, size_t n)
{
    for (; i > 0; i--) {
        line = strpbrk(line, ",\n");
        if (!line || *line == '\n')
            return 0;
        line++;
    }
    size_t k = strcspn(line, ",\n");
    if (k >= n)
        return 0;
    memcpy(buf, line, k);
    buf[k] = '\0';
    return 1;
}

static int csv_column(const char *header, const char *name)
{
    char f[128];
    for (int i = 0; csv_field(header, i, f, sizeof f); i++)
        if (!strcmp(f, name))
            return i;
    return -1;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* The "method:" value of the resolved config (the line under mtl:). */
static void config_method(const char *yaml, char *out, size_t n)
{
    const char *p = strstr(yaml, "\nmtl:");
    assert_non_null(p);
    p = strstr(p, "  method:");
    assert_non_null(p);
    p += strlen("  method:");
    while (*p == ' ' || *p == '"')
        p++;
    size_t k = strcspn(p, "\" #\n");
    assert_true(k < n);
    memcpy(out, p, k);
    out[k] = '\0';
}

/* Tiny networks, two rows per task in a batch, one episode of random
 * actions, evaluations at iterations 0 and ITERS only (the loop ends and
 * evaluates at episode ends, so ITERS is a multiple of the 8-step episode),
 * no replay in the checkpoint. */
#define ITERS 16
#define SMOKE                                                                                     \
    "--set run.iterations=%d --set run.threads=1 --set env.max_episode_steps=8 "                \
    "--set 'agent.actor_hidden=[16, 16]' --set 'agent.critic_hidden=[16, 16]' "                 \
    "--set agent.batch_size=%d --set agent.init_steps=8 --set agent.init_updates=2 "            \
    "--set replay.capacity=%d --set eval.every=%d --set log.checkpoint_every=-1 "               \
    "--set log.save_replay=false"

/* Run directory and log of a config's smoke run. */
static void run_paths(const char *cfg, char *out, size_t nout, char *log, size_t nlog)
{
    const char *base = strrchr(cfg, '/') ? strrchr(cfg, '/') + 1 : cfg;
    snprintf(out, nout, "%s/%.*s", test_tmpdir(), (int)(strlen(base) - 5), base);
    snprintf(log, nlog, "%s.log", out);
}

/* Starts every config's smoke run, two at a time (a run this small is
 * mostly serial start-up: loading 50 scenes), each writing its exit code
 * to <run>.rc. */
static void run_all(char *const *cfgs, int n, const char *bench, int k)
{
    char list[600];
    snprintf(list, sizeof list, "%s/configs.txt", test_tmpdir());
    FILE *f = fopen(list, "w");
    assert_non_null(f);
    for (int i = 0; i < n; i++) {
        char out[600], log[700];
        run_paths(cfgs[i], out, sizeof out, log, sizeof log);
        fprintf(f, "%s %s %s\n", cfgs[i], out, log);
    }
    fclose(f);
    char script[600], smoke[1024];
    snprintf(script, sizeof script, "%s/smoke.sh", test_tmpdir());
    snprintf(smoke, sizeof smoke, SMOKE, ITERS, 2 * k, 100 * k, ITERS);
    f = fopen(script, "w");
    assert_non_null(f);
    fprintf(f, "%s run \"$1\" --quiet --out \"$2\" --set env.benchmark=%s %s > \"$3\" 2>&1\n"
               "echo $? > \"$2.rc\"\n",
            test_mtrl_bin(), bench, smoke);
    fclose(f);
    assert_int_equal(test_sh("xargs -P 2 -L 1 sh %s < %s", script, list), 0);
}

static void check_run(const char *cfg, const char *bench, const char *const *order, int k)
{
    const char *bin = test_mtrl_bin();
    char out[600], log[700];
    run_paths(cfg, out, sizeof out, log, sizeof log);
    char rcpath[700];
    snprintf(rcpath, sizeof rcpath, "%s.rc", out);
    char *rcs = test_slurp(rcpath);
    if (!rcs)
        fail_msg("%s: mtrl run did not run", cfg);
    if (atoi(rcs) != 0) {
        char *l = test_slurp(log);
        fail_msg("%s: mtrl run exited %d:\n%s", cfg, atoi(rcs), l ? l : "(no output)");
    }
    free(rcs);

    /* The resolved config: the benchmark asked for and the file's method. */
    char path[700], want[64], got[64];
    snprintf(path, sizeof path, "%s/config.yaml", out);
    char *run_cfg = test_slurp(path);
    assert_non_null(run_cfg);
    assert_int_equal(test_sh("%s config %s > %s.file", bin, cfg, out), 0);
    snprintf(path, sizeof path, "%s.file", out);
    char *file_cfg = test_slurp(path);
    assert_non_null(file_cfg);
    config_method(run_cfg, got, sizeof got);
    config_method(file_cfg, want, sizeof want);
    assert_string_equal(got, want);
    char bline[128];
    snprintf(bline, sizeof bline, "benchmark: \"%s\"", bench);
    if (!strstr(run_cfg, bline))
        fail_msg("%s: resolved config lacks %s", cfg, bline);

    /* train.csv: the learner updated, no update was skipped, losses finite. */
    snprintf(path, sizeof path, "%s/train.csv", out);
    char *train = test_slurp(path);
    assert_non_null(train);
    int c_updates = csv_column(train, "updates"), c_skipped = csv_column(train, "skipped"),
        c_closs = csv_column(train, "critic_loss");
    assert_true(c_updates >= 0 && c_skipped >= 0 && c_closs >= 0);
    assert_true(count_lines(train) >= 2);
    const char *last = train + strlen(train) - 1;
    while (last > train && last[-1] != '\n')
        last--;
    char f[64];
    assert_true(csv_field(last, c_updates, f, sizeof f));
    if (!(atof(f) > 0))
        fail_msg("%s: no update in the smoke run (last train row: %s)", cfg, last);
    assert_true(csv_field(last, c_skipped, f, sizeof f));
    assert_float_equal(atof(f), 0, 0);
    assert_true(csv_field(last, c_closs, f, sizeof f));
    assert_true(isfinite(atof(f)));

    /* eval.csv: per-task columns in the benchmark's one-hot order, an
     * evaluation at 0 and at ITERS. */
    snprintf(path, sizeof path, "%s/eval.csv", out);
    char *eval = test_slurp(path);
    assert_non_null(eval);
    int prev = -1;
    for (int i = 0; i < k; i++) {
        char col[96];
        snprintf(col, sizeof col, "success_%s", order[i]);
        int c = csv_column(eval, col);
        if (c < 0 || c <= prev)
            fail_msg("%s: eval.csv column %s missing or out of order", cfg, col);
        prev = c;
    }
    int nsucc = 0;
    char h[128];
    for (int i = 0; csv_field(eval, i, h, sizeof h); i++)
        nsucc += !strncmp(h, "success_", 8);
    assert_int_equal(nsucc, k);
    assert_int_equal(count_lines(eval), 1 + 2);
    const char *row = strchr(eval, '\n') + 1;
    assert_true(csv_field(row, 0, f, sizeof f));
    assert_int_equal(atoi(f), 0);
    row = strchr(row, '\n') + 1;
    assert_true(csv_field(row, 0, f, sizeof f));
    assert_int_equal(atoi(f), ITERS);
    free(run_cfg);
    free(file_cfg);
    free(train);
    free(eval);
    test_sh("rm -rf %s %s.file %s %s.rc", out, out, log, out);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_mt50_configs(void **st)
{
    (void)st;
    const char *bench = getenv("MTRL_E2E_MT50_BENCHMARK");
    const char *const *order = mt50_order;
    int k = 50;
    if (bench && *bench) {
        if (!strcmp(bench, "mt10"))
            order = mt10_order, k = 10;
        else if (!strcmp(bench, "mt50"))
            bench = NULL;
        else
            fail_msg("MTRL_E2E_MT50_BENCHMARK: mt10 or mt50, not '%s'", bench);
    }
    if (!bench || !*bench) {
        bench = "mt50";
        char *out = listed_tasks(), missing[2048] = "";
        int nmiss = 0;
        for (int i = 0; i < 50; i++)
            if (!lists(out, mt50_order[i])) {
                size_t n = strlen(missing);
                snprintf(missing + n, sizeof missing - n, "%s%s", nmiss ? ", " : "",
                         mt50_order[i]);
                nmiss++;
            }
        free(out);
        if (nmiss) {
            printf("    SKIP: `mtrl tasks` lacks %d of the 50 MT50 tasks: %s\n", nmiss, missing);
            skip();
        }
    }
    DIR *d = opendir("configs/mt50");
    assert_non_null(d);
    char *names[64];
    int n = 0;
    for (struct dirent *de; (de = readdir(d));) {
        size_t len = strlen(de->d_name);
        if (len > 5 && !strcmp(de->d_name + len - 5, ".yaml")) {
            assert_true(n < 64);
            names[n++] = strdup(de->d_name);
        }
    }
    closedir(d);
    assert_true(n > 0);
    qsort(names, (size_t)n, sizeof names[0], by_name);
    char *cfgs[64];
    for (int i = 0; i < n; i++) {
        cfgs[i] = malloc(600);
        assert_non_null(cfgs[i]);
        snprintf(cfgs[i], 600, "configs/mt50/%s", names[i]);
    }
    run_all(cfgs, n, bench, k);
    for (int i = 0; i < n; i++) {
        printf("    %s\n", cfgs[i]);
        check_run(cfgs[i], bench, order, k);
        free(cfgs[i]);
        free(names[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mt50_configs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
