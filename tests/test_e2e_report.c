/* End to end through `mtrl report` and `mtrl plot --group`: the test writes
 * run directories itself (config.yaml from `mtrl config`, eval.csv and
 * train.csv in the trainer's exact columns, a stopped run with status.json,
 * an unfinished one without, a pair with different evaluation protocols),
 * and checks every format against aggregates worked out by hand below. Then
 * two real tiny runs (mt1:reach-v2) are reported, so the file format the
 * trainer really writes is covered too. */
#include "e2e_util.h"

#include <fcntl.h>
#include <math.h>
#include <sys/file.h>
#include <unistd.h>

static const char *mt10[10] = {"reach-v2",       "push-v2",
                               "pick-place-v2",  "door-open-v2",
                               "drawer-open-v2", "drawer-close-v2",
                               "button-press-topdown-v2", "peg-insert-side-v2",
                               "window-open-v2", "window-close-v2"};

static char base_yaml[512];

static void write_base(void)
{
    snprintf(base_yaml, sizeof base_yaml, "%s/base.yaml", test_tmpdir());
    e2e_write_file(base_yaml, "run: {iterations: 1000}\n"
                              "env: {benchmark: mt10, max_episode_steps: 250}\n"
                              "eval: {every: 250, episodes: 1}\n");
}

/* A run directory, parent/name: config via `mtrl config`, then one eval row per entry of
 * mean[] at steps 0, 250, ... (task 0 gets mean + 0.1, task 1 mean - 0.1,
 * the others the mean, when mean >= 0.1), and train rows every 250
 * iterations at 100 iterations/s, 10 episodes (one per task) per row. */
static void write_run(const char *parent, const char *name, const char *method, int seed,
                      const char *extra_set, const double *mean, int n_rows)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/%s", parent, name);
    assert_int_equal(test_sh("mkdir -p %s && %s config %s --set run.seed=%d --set mtl.method=%s "
                             "%s > %s/config.yaml",
                             dir, test_mtrl_bin(), base_yaml, seed, method, extra_set, dir),
                     0);
    FILE *f = e2e_open("w", "%s/eval.csv", dir);
    fprintf(f, "step,wall_time,success,best_success,return");
    for (int k = 0; k < 10; k++)
        fprintf(f, ",success_%s,return_%s", mt10[k], mt10[k]);
    fprintf(f, "\n");
    double best = -1;
    for (int i = 0; i < n_rows; i++) {
        double m = mean[i];
        best = m > best ? m : best;
        fprintf(f, "%d,%.3f,%.10g,%.10g,%.10g", 250 * i, 1.8e9 + i, m, best, 100 * m);
        for (int k = 0; k < 10; k++) {
            double d = m >= 0.1 ? (k == 0 ? 0.1 : k == 1 ? -0.1 : 0) : 0;
            fprintf(f, ",%.10g,%.10g", m + d, 100 * (m + d));
        }
        fprintf(f, "\n");
    }
    fclose(f);
    f = e2e_open("w", "%s/train.csv", dir);
    fprintf(f, "step,wall_time,episodes,success,return,critic_loss,actor_loss,alpha_loss,alpha,"
               "entropy,q_mean,batch_reward,updates,skipped,unstable,iters_per_s,env_steps\n");
    for (int i = 1; i < n_rows; i++)
        fprintf(f, "%d,%.3f,%d,0,50,1,1,0,0.5,-4,10,1,%d,0,0,100,%d\n", 250 * i, 1.8e9 + i,
                10 * i, 250 * i, 2500 * i);
    fclose(f);
}

static char *run_capture(int *status, const char *fmt, ...)
{
    char cmd[3000], out[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    static int n;
    snprintf(out, sizeof out, "%s/out-%d.txt", test_tmpdir(), n++);
    *status = test_sh("%s > %s 2>&1", cmd, out);
    char *s = test_slurp(out);
    assert_non_null(s);
    return s;
}

static void assert_contains(const char *text, const char *want)
{
    if (!strstr(text, want))
        fail_msg("expected to find\n  %s\nin:\n%s", want, text);
}

/* "53.3 ± 8.8" as the report prints a mean and s.e. in percent. */
static const char *pm(char *b, size_t cap, double mean, double se)
{
    snprintf(b, cap, "%.1f ± %.1f", 100 * mean, 100 * se);
    return b;
}

static char sweep[512], lone[512], bad[512];

/* Group cagrad: 3 seeds, s3 stopped at 500 of 1000 (status.json);
 * group mean: 2 seeds, both done. */
static void write_fixture(void)
{
    write_base();
    const char *t = test_tmpdir();
    snprintf(sweep, sizeof sweep, "%s/sweep", t);
    snprintf(lone, sizeof lone, "%s/lone", t);
    snprintf(bad, sizeof bad, "%s/bad", t);
    const double c1[] = {0.0, 0.3, 0.5, 0.4, 0.45}, c2[] = {0.0, 0.2, 0.6, 0.7, 0.6},
                 c3[] = {0.1, 0.4, 0.3}, m1[] = {0.0, 0.1, 0.2, 0.3, 0.2},
                 m2[] = {0.1, 0.2, 0.1, 0.1, 0.0};
    write_run(sweep, "runs/cagrad-s1", "cagrad", 1, "", c1, 5);
    write_run(sweep, "runs/cagrad-s2", "cagrad", 2, "", c2, 5);
    write_run(sweep, "runs/cagrad-s3", "cagrad", 3, "", c3, 3);
    char p[700];
    snprintf(p, sizeof p, "%s/runs/cagrad-s3/status.json", sweep);
    e2e_write_file(p, "{\"state\": \"stopped\", \"iteration\": 500, \"iterations\": 1000, "
                      "\"best_success\": 0.4, \"pid\": 1234, \"host\": \"n1\", "
                      "\"updated\": \"2026-12-04T06:30:00Z\", \"error\": null}\n");
    write_run(sweep, "runs/mean-s1", "mean", 1, "", m1, 5);
    write_run(sweep, "runs/mean-s2", "mean", 2, "", m2, 5);
    /* A sweep's other files are not runs. */
    assert_int_equal(test_sh("mkdir -p %s/logs && echo x > %s/logs/cagrad-s1.log", sweep, sweep), 0);

    /* Unfinished, no status.json: inferred from the logs. */
    write_run(lone, "run1", "cagrad", 9, "", c3, 3);

    /* One method, two protocols. */
    write_run(bad, "a", "pcgrad", 1, "", m1, 5);
    write_run(bad, "b", "pcgrad", 2, "--set eval.episodes=10", m2, 5);
}

static void test_markdown(void **st)
{
    (void)st;
    int rc;
    char *s = run_capture(&rc, "%s report %s --at 600 --per-task", test_mtrl_bin(), sweep);
    assert_int_equal(rc, 0);
    char b1[64], b2[64], b3[64], line[512];
    /* cagrad best {0.5, 0.7, 0.4}: mean 0.53333, deviations -1/30, 1/6, -2/15,
     * squares sum 0.046667, variance 0.023333, s.e. sqrt(0.023333/3) = 0.088192.
     * final {0.45, 0.6, 0.3}: mean 0.45, variance 0.0225, s.e. 0.086603.
     * @600 -> rows at 500 {0.5, 0.6, 0.3}: mean 0.46667, s.e. 0.088192.
     * wall: 10 s, 10 s, 5 s -> 8.3 s; s/episode: 10 s / 4 episodes = 2.5. */
    snprintf(line, sizeof line,
             "| method=cagrad | 3 (1 stopped at 500/1k) | %s | %s | %s (at 500) | 2.50 | 8.3 s |",
             pm(b1, 64, 1.6 / 3, sqrt(0.07 / 3 / 3)), pm(b2, 64, 0.45, sqrt(0.0225 / 3)),
             pm(b3, 64, 1.4 / 3, sqrt(0.07 / 3 / 3)));
    assert_contains(s, line);
    assert_contains(s, "| method=cagrad | 3 (1 stopped at 500/1k) | 53.3 ± 8.8 | 45.0 ± 8.7 | "
                       "46.7 ± 8.8 (at 500) |");
    /* mean: best {0.3, 0.2} 25.0 ± 5.0; final {0.2, 0.0} 10.0 ± 10.0;
     * @600 -> 500: {0.2, 0.1} 15.0 ± 5.0; 10 s each. */
    assert_contains(s, "| method=mean | 2 | 25.0 ± 5.0 | 10.0 ± 10.0 | 15.0 ± 5.0 (at 500) | "
                       "2.50 | 10.0 s |");
    assert_contains(s, "1 deterministic episode per task, at most 250 steps, fixed goals");
    /* Per task at each run's best row: reach (mean + 0.1) cagrad {.6, .8, .5}
     * -> 63.3, mean {.4, .3} -> 35.0; push (mean - 0.1) {.4,.6,.3} -> 43.3,
     * {.2, .1} -> 15.0; pick-place = the mean. */
    assert_contains(s, "| reach-v2 | 63.3 | 35.0 |");
    assert_contains(s, "| push-v2 | 43.3 | 15.0 |");
    assert_contains(s, "| pick-place-v2 | 53.3 | 25.0 |");
    free(s);
}

static double field_after(const char *s, const char *key)
{
    const char *p = strstr(s, key);
    if (!p)
        fail_msg("no '%s' in:\n%s", key, s);
    return strtod(p + strlen(key), NULL);
}

static void test_csv_json_latex(void **st)
{
    (void)st;
    int rc;
    char *s = run_capture(&rc, "%s report %s --format csv --at 600", test_mtrl_bin(), sweep);
    assert_int_equal(rc, 0);
    assert_contains(s, "group,runs,unfinished,eval_episodes,deterministic,max_episode_steps,goals,"
                       "stat,best,best_se,best_n,final,final_se,final_n,at,at_se,at_n,"
                       "at_step_min,at_step_max,s_per_episode,wall_s\n");
    assert_contains(s, "\"method=cagrad\",3,1,1,true,250,fixed,mean,0.533333,0.0881917,3,0.45,"
                       "0.0866025,3,0.466667,0.0881917,3,500,500,2.5,8.33333\n");
    assert_contains(s, "\"method=mean\",2,0,1,true,250,fixed,mean,0.25,0.05,2,0.1,0.1,2,0.15,"
                       "0.05,2,500,500,2.5,10\n");
    free(s);

    s = run_capture(&rc, "%s report %s --format json", test_mtrl_bin(), sweep);
    assert_int_equal(rc, 0);
    assert_float_equal(field_after(s, "\"best\": {\"n\": 3, \"mean\": "), 1.6 / 3, 1e-9);
    assert_float_equal(field_after(s, "\"mean\": 0.5333333333, \"se\": "), sqrt(0.07 / 9), 1e-9);
    assert_contains(s, "\"state\": \"stopped\", \"iteration\": 500, \"iterations\": 1000, "
                       "\"evals\": 3, \"best\": 0.4, \"best_step\": 250");
    assert_contains(s, "\"at\": null");
    free(s);

    s = run_capture(&rc, "%s report %s --format latex --at 600", test_mtrl_bin(), sweep);
    assert_int_equal(rc, 0);
    assert_contains(s, "\\begin{tabular}{llrrrrr}\n\\toprule\n");
    assert_contains(s, "method=cagrad & 3 (1 stopped at 500/1k) & $53.3 \\pm 8.8$ & "
                       "$45.0 \\pm 8.7$ & $46.7 \\pm 8.8$ (at 500) & 2.50 & 8.3 s \\\\\n");
    assert_contains(s, "\\bottomrule\n\\end{tabular}\n");
    free(s);

    /* --out writes the file, nothing on stdout. */
    char out[600];
    snprintf(out, sizeof out, "%s/table.md", test_tmpdir());
    s = run_capture(&rc, "%s report %s --out %s", test_mtrl_bin(), sweep, out);
    assert_int_equal(rc, 0);
    assert_null(strstr(s, "| method="));
    free(s);
    s = test_slurp(out);
    assert_non_null(s);
    assert_contains(s, "| method=mean | 2 | 25.0 ± 5.0 | 10.0 ± 10.0 |");
    free(s);
}

static void test_iqm_and_by(void **st)
{
    (void)st;
    int rc;
    char *a = run_capture(&rc, "%s report %s --stat iqm --seed 5 --bootstrap 3000 --format json",
                          test_mtrl_bin(), sweep);
    assert_int_equal(rc, 0);
    char *b = run_capture(&rc, "%s report %s --stat iqm --seed 5 --bootstrap 3000 --format json",
                          test_mtrl_bin(), sweep);
    assert_string_equal(a, b); /* reproducible for a seed */
    /* n = 3: nothing trimmed, IQM = mean = 0.53333; the interval holds it and
     * lies within the values 0.4 .. 0.7. */
    double iqm = field_after(a, "\"best\": {\"n\": 3, \"iqm\": ");
    assert_float_equal(iqm, 1.6 / 3, 1e-9);
    double lo = field_after(a, "\"iqm\": 0.5333333333, \"ci_lo\": ");
    const char *p = strstr(a, "\"ci_hi\": ");
    assert_non_null(p);
    double hi = strtod(p + 9, NULL);
    assert_true(lo >= 0.4 && lo <= iqm && iqm <= hi && hi <= 0.7 && hi > lo);
    assert_contains(a, "\"bootstrap\": 3000, \"seed\": 5");
    free(a);
    free(b);

    /* All five runs as one group: best {.5, .7, .4, .3, .2}: mean 0.42,
     * squares of deviations 0.148, variance 0.037, s.e. sqrt(0.0074) = 0.0860. */
    char *s = run_capture(&rc, "%s report %s --by env.benchmark", test_mtrl_bin(), sweep);
    assert_int_equal(rc, 0);
    assert_contains(s, "| benchmark=mt10 | 5 (1 stopped at 500/1k) | 42.0 ± 8.6 |");
    free(s);

    s = run_capture(&rc, "%s report %s --by mtl.nope", test_mtrl_bin(), sweep);
    assert_int_equal(rc, 2);
    assert_contains(s, "'mtl.nope' is not a config key");
    free(s);
    s = run_capture(&rc, "%s report %s --format html", test_mtrl_bin(), sweep);
    assert_int_equal(rc, 2);
    free(s);
    s = run_capture(&rc, "%s report %s/nothing", test_mtrl_bin(), test_tmpdir());
    assert_int_equal(rc, 2);
    free(s);
}

static void test_unfinished_and_protocols(void **st)
{
    (void)st;
    int rc;
    /* No status.json, no lock holder: inferred from the logs. */
    char *s = run_capture(&rc, "%s report %s", test_mtrl_bin(), lone);
    assert_int_equal(rc, 0);
    assert_contains(s, "| 1 (1 incomplete at 500/1k) | 40.0 | 30.0 |");
    free(s);
    /* A live process holds the lock: running. */
    char lock[600];
    snprintf(lock, sizeof lock, "%s/run1/.lock", lone);
    int fd = open(lock, O_RDWR | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    s = run_capture(&rc, "%s report %s", test_mtrl_bin(), lone);
    close(fd);
    assert_int_equal(rc, 0);
    assert_contains(s, "| 1 (1 running at 500/1k) |");
    free(s);

    s = run_capture(&rc, "%s report %s", test_mtrl_bin(), bad);
    assert_int_equal(rc, 2);
    assert_contains(s, "bad/a and ");
    assert_contains(s, "bad/b differ in eval.episodes (1 vs 10)");
    free(s);
    /* Grouped by the protocol key, they are two groups and two protocols. */
    s = run_capture(&rc, "%s report %s --by mtl.method,eval.episodes", test_mtrl_bin(), bad);
    assert_int_equal(rc, 0);
    assert_contains(s, "10 deterministic episodes per task");
    assert_contains(s, "| method=pcgrad, episodes=10 | 1 | 20.0 | 0.0 |");
    free(s);
}

/* A last line without its newline is one still being written: ignored. A
 * malformed complete line is bad input, named by file and line. */
static void test_partial_and_broken_logs(void **st)
{
    (void)st;
    const double m[] = {0.1, 0.3, 0.2};
    write_run(test_tmpdir(), "partial/r", "mean", 1, "", m, 3);
    FILE *f = e2e_open("a", "%s/partial/r/eval.csv", test_tmpdir());
    fprintf(f, "750,1800000003.000,0.9"); /* cut short */
    fclose(f);
    int rc;
    char *s = run_capture(&rc, "%s report %s/partial", test_mtrl_bin(), test_tmpdir());
    assert_int_equal(rc, 0);
    assert_contains(s, "| 1 (1 incomplete at 500/1k) | 30.0 | 20.0 |");
    free(s);
    f = e2e_open("a", "%s/partial/r/eval.csv", test_tmpdir());
    fprintf(f, "\n");
    fclose(f);
    s = run_capture(&rc, "%s report %s/partial", test_mtrl_bin(), test_tmpdir());
    assert_int_equal(rc, 2);
    assert_contains(s, "partial/r/eval.csv:5: the row has fewer columns than the header's 25");
    free(s);
}

static void test_plot_groups(void **st)
{
    (void)st;
    int rc;
    char svg[600];
    snprintf(svg, sizeof svg, "%s/groups.svg", test_tmpdir());
    char *s = run_capture(&rc, "%s plot --group %s --out %s", test_mtrl_bin(), sweep, svg);
    assert_int_equal(rc, 0);
    free(s);
    s = test_slurp(svg);
    assert_non_null(s);
    int bands = 0, lines = 0;
    for (const char *p = s; (p = strstr(p, "class='band'")); p++)
        bands++;
    for (const char *p = s; (p = strstr(p, "class='mean'")); p++)
        lines++;
    assert_int_equal(bands, 2);
    assert_int_equal(lines, 2);
    assert_contains(s, "method=cagrad (3 seeds)");
    assert_contains(s, "method=mean (2 seeds)");
    assert_contains(s, "</svg>");
    /* cagrad: the common iterations are those of the stopped run (0, 250,
     * 500), so its mean line has 3 points. */
    const char *c = strstr(s, "class='mean'");
    const char *pts = strstr(c, "points='") + 8;
    int n = 0;
    for (const char *q = pts; *q != '\''; q++)
        n += *q == ',';
    assert_int_equal(n, 3);
    free(s);
}

/* Two real tiny runs: report over what the trainer actually wrote. */
static void test_real_runs(void **st)
{
    (void)st;
    const char *t = test_tmpdir();
    char cfg[600];
    snprintf(cfg, sizeof cfg, "%s/tiny.yaml", t);
    e2e_write_file(cfg, "run: {iterations: 300, threads: 1}\n"
                        "env: {benchmark: \"mt1:reach-v2\", max_episode_steps: 50}\n"
                        "agent: {actor_hidden: [32, 32], critic_hidden: [32, 32], batch_size: 64,\n"
                        "        init_steps: 50, init_updates: 20}\n"
                        "replay: {capacity: 10000}\n"
                        "mtl: {method: mean}\n"
                        "eval: {every: 100, episodes: 2}\n");
    for (int seed = 1; seed <= 2; seed++)
        assert_int_equal(test_sh("%s run %s --set run.seed=%d --out %s/real/s%d --quiet "
                                 ">/dev/null 2>&1",
                                 test_mtrl_bin(), cfg, seed, t, seed),
                         0);
    int rc;
    char *s = run_capture(&rc, "%s report %s/real --format json --at 150", test_mtrl_bin(), t);
    assert_int_equal(rc, 0);
    assert_contains(s, "\"label\": \"method=mean, benchmark=mt1:reach-v2\", \"runs\": 2, "
                       "\"unfinished\": 0");
    assert_contains(s, "\"eval.episodes\": \"2\", \"eval.deterministic\": \"true\", "
                       "\"env.max_episode_steps\": \"50\", \"env.goals\": \"fixed\"");
    assert_contains(s, "\"state\": \"done\", \"iteration\": 300, \"iterations\": 300, \"evals\": 4");
    /* The best of each run is the highest 'success' in its own eval.csv. */
    double best[2];
    for (int seed = 1; seed <= 2; seed++) {
        char p[700];
        snprintf(p, sizeof p, "%s/real/s%d/eval.csv", t, seed);
        char *csv = test_slurp(p);
        assert_non_null(csv);
        best[seed - 1] = -1;
        for (char *line = strchr(csv, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
            char *q = strchr(line + 1, ',');
            q = strchr(q + 1, ','); /* after step, wall_time */
            double v = strtod(q + 1, NULL);
            best[seed - 1] = v > best[seed - 1] ? v : best[seed - 1];
        }
        free(csv);
    }
    assert_float_equal(field_after(s, "\"best\": {\"n\": 2, \"mean\": "),
                       (best[0] + best[1]) / 2, 1e-9);
    assert_contains(s, "\"at\": {\"n\": 2, \"mean\": ");
    assert_contains(s, "\"step_min\": 100, \"step_max\": 100");
    double wall = field_after(s, "\"s_per_episode\": ");
    assert_true(wall > 0 && wall < 60);
    free(s);
    s = run_capture(&rc, "%s report %s/real", test_mtrl_bin(), t);
    assert_int_equal(rc, 0);
    assert_contains(s, "| method=mean, benchmark=mt1:reach-v2 | 2 | ");
    assert_contains(s, "2 deterministic episodes per task, at most 50 steps, fixed goals");
    free(s);
}

int main(void)
{
    write_fixture();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_markdown),
        cmocka_unit_test(test_csv_json_latex),
        cmocka_unit_test(test_iqm_and_by),
        cmocka_unit_test(test_unfinished_and_protocols),
        cmocka_unit_test(test_partial_and_broken_logs),
        cmocka_unit_test(test_plot_groups),
        cmocka_unit_test(test_real_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
