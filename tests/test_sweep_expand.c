/* sweep: sweep files expand into the runs they name (order, names,
 * overrides), every bad input is refused with file:line: key or the run's
 * name, a sweep directory never mixes two grids, the batch script says what
 * Slurm needs, and a run's state is read from its directory. */
#include "testutil.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "sweep/sweep.h"

static char dir[512];

static void put(const char *rel, const char *text)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    char *slash = strrchr(p, '/');
    *slash = 0;
    mtrl_err e = {0};
    assert_int_equal(fs_mkdirs(p, &e), 0);
    *slash = '/';
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *path(const char *rel)
{
    static char p[16][1024];
    static int k;
    k = (k + 1) % 16;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, rel);
    return p[k];
}

static int setup(void **st)
{
    (void)st;
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    put("cfg/mt10/fast.yaml", "run: {iterations: 100, threads: 1}\nenv: {benchmark: mt10}\n"
                              "agent: {batch_size: 20}\nmtl: {method: mean}\n");
    put("cfg/mt1/fast.yaml", "run: {iterations: 100, threads: 2}\nenv: {benchmark: \"mt1:reach-v2\"}\n"
                             "agent: {batch_size: 7}\n");
    return 0;
}

/* Expects sweep_load to fail with a message holding each of the words. */
static void expect_error(const char *file, const char *w1, const char *w2, const char *w3)
{
    sweep_spec *s = NULL;
    mtrl_err e = {0};
    int rc = sweep_load(&s, path(file), &e);
    if (rc == 0)
        fail_msg("%s loaded, expected an error naming %s", file, w1);
    assert_int_equal(rc, MTRL_EINPUT);
    assert_null(s);
    const char *w[] = {w1, w2, w3};
    for (int i = 0; i < 3; i++)
        if (w[i] && !strstr(e.msg, w[i]))
            fail_msg("error \"%s\" lacks \"%s\"", e.msg, w[i]);
}

static void test_expansion_order_names_overrides(void **st)
{
    (void)st;
    /* Relative paths: from the sweep file's directory. */
    put("sw/grid.yaml", "name: grid\n"
                        "configs: [../cfg/mt10/fast.yaml, ../cfg/mt1/fast.yaml]\n"
                        "seeds: 2\n"
                        "axes:\n"
                        "  mtl.method: [mean, cagrad]\n"
                        "  agent.actor_hidden: [[16, 16]]\n"
                        "set: {eval.every: 50}\n");
    sweep_spec *s;
    mtrl_err e = {0};
    if (sweep_load(&s, path("sw/grid.yaml"), &e))
        fail_msg("%s", e.msg);
    assert_int_equal(s->n_runs, 2 * 2 * 2);
    /* Configs outermost, then the axes (last fastest), seeds innermost; the
     * two stems "fast" are told apart by their directories; an axis with one
     * value is in every run but not in the names. */
    const char *names[] = {"mt10-fast-method=mean-seed1", "mt10-fast-method=mean-seed2",
                           "mt10-fast-method=cagrad-seed1", "mt10-fast-method=cagrad-seed2",
                           "mt1-fast-method=mean-seed1", "mt1-fast-method=mean-seed2",
                           "mt1-fast-method=cagrad-seed1", "mt1-fast-method=cagrad-seed2"};
    for (int i = 0; i < 8; i++) {
        assert_int_equal(s->runs[i].index, i);
        assert_string_equal(s->runs[i].name, names[i]);
    }
    char ov[2048];
    sweep_run_overrides(s, &s->runs[3], ov, sizeof ov);
    assert_string_equal(ov, "eval.every=50 mtl.method=cagrad agent.actor_hidden=[16,16] run.seed=2");
    assert_string_equal(s->configs[1].path, path("cfg/mt1/fast.yaml"));
    assert_int_equal(s->max_threads, 2);

    /* The manifest and the resolved sweep read back to the same runs. */
    char *man = sweep_manifest_text(s);
    assert_non_null(strstr(man, "index,name,config,overrides,seed\n0,mt10-fast-method=mean-seed1,"));
    assert_non_null(strstr(man, ",\"eval.every=50 mtl.method=cagrad agent.actor_hidden=[16,16] run.seed=2\",2\n"));
    char out[1024];
    snprintf(out, sizeof out, "%s/sd", dir);
    assert_int_equal(sweep_dir_prepare(s, out, &e), 0);
    sweep_spec *back;
    if (sweep_dir_open(&back, out, &e))
        fail_msg("%s", e.msg);
    char *man2 = sweep_manifest_text(back);
    assert_string_equal(man, man2);
    free(man2);
    free(man);
    sweep_destroy(back);
    sweep_destroy(s);
}

static void test_seed_list_and_config_sets(void **st)
{
    (void)st;
    /* A config path not next to the sweep file is taken from the cwd. */
    char rel[1024];
    snprintf(rel, sizeof rel, "name: two\nconfigs:\n  - %s\n  - {config: %s, set: {agent.actor_l2: 3.0e-4}}\n"
                              "seeds: [7, 3]\n",
             path("cfg/mt10/fast.yaml"), path("cfg/mt10/fast.yaml"));
    put("sw/two.yaml", rel);
    sweep_spec *s;
    mtrl_err e = {0};
    if (sweep_load(&s, path("sw/two.yaml"), &e))
        fail_msg("%s", e.msg);
    assert_int_equal(s->n_runs, 4);
    assert_string_equal(s->runs[0].name, "fast-seed7");
    assert_string_equal(s->runs[1].name, "fast-seed3");
    assert_string_equal(s->runs[2].name, "fast-2-seed7");
    char ov[2048];
    sweep_run_overrides(s, &s->runs[3], ov, sizeof ov);
    assert_string_equal(ov, "agent.actor_l2=3.0e-4 run.seed=3");
    sweep_destroy(s);
}

static void test_errors_name_file_line_key(void **st)
{
    (void)st;
    /* The file, its text, where the message points and what it names. */
    static const struct {
        const char *file, *text, *where, *what, *what2;
    } cases[] = {
        {"e/unknown.yaml", "name: x\nconfigs: [../cfg/mt10/fast.yaml]\nseedz: 3\n",
         "unknown.yaml:3: seedz", "unknown key", NULL},
        {"e/axiskey.yaml", "name: x\nconfigs: [../cfg/mt10/fast.yaml]\naxes:\n  agent.nope: [1, 2]\n",
         "axiskey.yaml:4: axes", "agent.nope", NULL},
        {"e/axisval.yaml", "name: x\nconfigs: [../cfg/mt10/fast.yaml]\naxes:\n  mtl.method: [mean, best]\n",
         "axisval.yaml:4: axes", "best", NULL},
        /* Valid alone, invalid for the run's benchmark (25 rows over 10 tasks):
         * the run is named. */
        {"e/cross.yaml", "name: x\nconfigs: [../cfg/mt10/fast.yaml]\nseeds: 1\naxes:\n  agent.batch_size: [20, 25]\n",
         "cross.yaml: run 1 (fast-batch_size=25-seed1)", "agent.batch_size", NULL},
        {"e/noconf.yaml", "name: x\nconfigs: [nowhere.yaml]\n",
         "noconf.yaml:2: configs", "nowhere.yaml", "no such file"},
        {"e/seed.yaml", "name: x\nconfigs: [../cfg/mt10/fast.yaml]\nseeds: 2\nset: {run.seed: 4}\n",
         "seed.yaml:4: set", "run.seed", NULL},
        {"e/noname.yaml", "configs: [../cfg/mt10/fast.yaml]\n",
         "noname.yaml:1: name", "missing", NULL},
        {"e/dup.yaml", "name: x\nconfigs: [../cfg/mt10/fast.yaml]\naxes:\n  mtl.method: [mean, mean]\n",
         "dup.yaml:4: axes: mtl.method", "twice", NULL},
        {"e/slurm.yaml", "name: x\nconfigs: [../cfg/mt10/fast.yaml]\nslurm:\n  extra: [\"--qos=low\"]\n",
         "slurm.yaml:4: slurm.extra", "#SBATCH", NULL},
        {"e/yaml.yaml", "name: x\nconfigs: [../cfg/mt10/fast.yaml\n",
         "yaml.yaml:", "YAML error", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        put(cases[i].file, cases[i].text);
        expect_error(cases[i].file, cases[i].where, cases[i].what, cases[i].what2);
    }
}

static void test_other_grid_refused(void **st)
{
    (void)st;
    put("sw/a.yaml", "name: a\nconfigs: [../cfg/mt10/fast.yaml]\nseeds: 2\n");
    put("sw/b.yaml", "name: a\nconfigs: [../cfg/mt10/fast.yaml]\nseeds: 3\n");
    sweep_spec *a, *b;
    mtrl_err e = {0};
    assert_int_equal(sweep_load(&a, path("sw/a.yaml"), &e), 0);
    assert_int_equal(sweep_load(&b, path("sw/b.yaml"), &e), 0);
    const char *out = path("mix");
    assert_int_equal(sweep_dir_prepare(a, out, &e), 0);
    assert_int_equal(sweep_dir_prepare(a, out, &e), 0); /* the same grid again: fine */
    char *before = test_slurp(path("mix/manifest.csv"));
    assert_int_equal(sweep_dir_prepare(b, out, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "different sweep"));
    assert_non_null(strstr(e.msg, "fast-seed3"));
    char *after = test_slurp(path("mix/manifest.csv"));
    assert_string_equal(before, after); /* nothing overwritten */
    free(before);
    free(after);
    /* A non-empty directory that is no sweep directory is refused too. */
    put("notsweep/keep.txt", "x\n");
    assert_int_equal(sweep_dir_prepare(a, path("notsweep"), &e), MTRL_EINPUT);
    sweep_destroy(a);
    sweep_destroy(b);
}

static void test_dry_run_lists_runs(void **st)
{
    (void)st;
    const char *log = path("dry.txt");
    assert_int_equal(test_sh("%s sweep %s --dry-run --out %s > %s", test_mtrl_bin(), path("sw/grid.yaml"),
                             path("nodir"), log),
                     0);
    char *t = test_slurp(log);
    assert_non_null(strstr(t, "8 runs"));
    assert_non_null(strstr(t, "mt1-fast-method=cagrad-seed2"));
    assert_non_null(strstr(t, "mtl.method=cagrad agent.actor_hidden=[16,16] run.seed=2"));
    free(t);
    struct stat sb;
    assert_int_not_equal(stat(path("nodir"), &sb), 0); /* a dry run writes nothing */
    /* Over a directory of another grid: said up front, exit 2. */
    assert_int_equal(test_sh("%s sweep %s --dry-run --out %s >/dev/null 2>%s", test_mtrl_bin(),
                             path("sw/b.yaml"), path("mix"), log),
                     2);
    t = test_slurp(log);
    assert_non_null(strstr(t, "different sweep"));
    free(t);
    /* sweep exec and status refuse what is not there, naming it. */
    assert_int_equal(test_sh("%s sweep exec %s 99 2>%s", test_mtrl_bin(), path("mix"), log), 2);
    t = test_slurp(log);
    assert_non_null(strstr(t, "run index 99 out of range (the sweep has 2 runs"));
    free(t);
    assert_int_equal(test_sh("%s sweep status %s 2>%s", test_mtrl_bin(), path("notsweep"), log), 2);
    t = test_slurp(log);
    assert_non_null(strstr(t, "not a sweep directory"));
    free(t);
    /* Task names are checked before anything runs too (mtrl sweep asks envs). */
    put("e/task.yaml", "name: x\nconfigs: [../cfg/mt1/fast.yaml]\naxes:\n  env.benchmark: [\"mt1:reach-v2\", \"mt1:nope-v2\"]\n");
    assert_int_equal(test_sh("%s sweep %s --dry-run >/dev/null 2>%s", test_mtrl_bin(), path("e/task.yaml"), log), 2);
    t = test_slurp(log);
    assert_non_null(strstr(t, "task.yaml: run 1 (fast-benchmark=mt1_nope-v2)"));
    assert_non_null(strstr(t, "unknown task 'nope-v2'"));
    free(t);
    /* A bad sweep file: exit 2 with file:line. */
    assert_int_equal(test_sh("%s sweep %s --dry-run 2>%s", test_mtrl_bin(), path("e/axiskey.yaml"), log), 2);
    t = test_slurp(log);
    assert_non_null(strstr(t, "axiskey.yaml:4: axes"));
    free(t);
}

/* A sweep file is read as configs are: a FIFO or a directory is refused
 * by name (a FIFO used to block the reader forever), and so is nesting
 * deeper than a config may go. */
static void test_hostile_sweep_files(void **st)
{
    (void)st;
    char fifo[1100], sub[1100];
    snprintf(fifo, sizeof fifo, "%s/fifo.yaml", dir);
    snprintf(sub, sizeof sub, "%s/adir.yaml", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    expect_error("fifo.yaml", "fifo.yaml", "a FIFO", NULL);
    expect_error("adir.yaml", "adir.yaml", "directory", NULL);
    char deep[400] = "name: x\naxes: ";
    for (int i = 0; i < 100; i++)
        strcat(deep, "[");
    for (int i = 0; i < 100; i++)
        strcat(deep, "]");
    put("deep.yaml", deep);
    expect_error("deep.yaml", "deep.yaml:2", "nested deeper", NULL);
}

/* Each run's resolved config is kept in the sweep directory when the sweep is
 * created: an edit of a config file mid-sweep is refused by a later `mtrl
 * sweep` (naming the run and the key), and the sweep opened from its
 * directory (what exec and status do) keeps resolving the runs as created. */
static void test_config_snapshot_guards_edits(void **st)
{
    (void)st;
    put("snap/cfg.yaml", "run: {iterations: 100, threads: 1}\nenv: {benchmark: mt10}\n"
                         "agent: {batch_size: 20}\nmtl: {method: mean, cagrad_c: 0.5}\n");
    put("snap/sw.yaml", "name: snap\nconfigs: [cfg.yaml]\nseeds: 2\n");
    sweep_spec *s;
    mtrl_err e = {0};
    if (sweep_load(&s, path("snap/sw.yaml"), &e))
        fail_msg("%s", e.msg);
    char out[1024], snap[1300];
    snprintf(out, sizeof out, "%s/snapdir", dir);
    assert_int_equal(sweep_dir_prepare(s, out, &e), 0);
    snprintf(snap, sizeof snap, "%s/configs/%s.yaml", out, s->runs[1].name);
    assert_int_equal(access(snap, F_OK), 0);
    assert_int_equal(sweep_dir_prepare(s, out, &e), 0); /* unchanged: fine */
    sweep_destroy(s);

    /* The config is edited (another c, and 200 iterations). */
    put("snap/cfg.yaml", "run: {iterations: 200, threads: 1}\nenv: {benchmark: mt10}\n"
                         "agent: {batch_size: 20}\nmtl: {method: mean, cagrad_c: 0.9}\n");
    if (sweep_load(&s, path("snap/sw.yaml"), &e))
        fail_msg("%s", e.msg);
    assert_int_equal(s->runs[0].iterations, 200);
    assert_int_equal(sweep_dir_prepare(s, out, &e), MTRL_EINPUT);
    if (!strstr(e.msg, "cfg-seed1") || !strstr(e.msg, "run.iterations: 100 at creation, 200 now") || !strstr(e.msg, "changed since the sweep was created"))
        fail_msg("unexpected error: %s", e.msg);
    sweep_destroy(s);

    /* Opened from its directory, the runs still resolve to the snapshot. */
    if (sweep_dir_open(&s, out, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(s->runs[0].iterations, 100);
    assert_int_equal(s->runs[1].iterations, 100);
    sweep_destroy(s);

    /* A broken config file does not stop exec or status either. */
    put("snap/cfg.yaml", "run: {iterations: [oops\n");
    if (sweep_dir_open(&s, out, &e))
        fail_msg("%s", e.msg);
    sweep_destroy(s);
}

static void test_slurm_script(void **st)
{
    (void)st;
    put("sw/sl.yaml", "name: sl\nconfigs: [../cfg/mt10/fast.yaml]\nseeds: 4\n"
                      "slurm: {partition: gpu, time: \"2-00:00:00\", mem: 8G, account: lab, signal_lead: 120,\n"
                      "        extra: [\"#SBATCH --qos=low\"]}\n");
    sweep_spec *s;
    mtrl_err e = {0};
    assert_int_equal(sweep_load(&s, path("sw/sl.yaml"), &e), 0);
    int all[] = {0, 1, 2, 3}, some[] = {0, 1, 3};
    char *t = sweep_slurm_script(s, "/abs/sd", "/abs/mtrl", all, 4);
    const char *want[] = {"#!/bin/bash\n", "#SBATCH --array=0-3\n", "#SBATCH --job-name=mtrl-sl\n",
                          "#SBATCH --output=/abs/sd/slurm/%A_%a.out\n", "#SBATCH --partition=gpu\n",
                          "#SBATCH --time=2-00:00:00\n", "#SBATCH --cpus-per-task=1\n", "#SBATCH --mem=8G\n",
                          "#SBATCH --account=lab\n", "#SBATCH --requeue\n", "#SBATCH --signal=B:USR1@120\n",
                          "#SBATCH --qos=low\n", "\nexec '/abs/mtrl' sweep exec '/abs/sd' \"$SLURM_ARRAY_TASK_ID\"\n"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(t, want[i]))
            fail_msg("script lacks %s:\n%s", want[i], t);
    /* Every #SBATCH line comes before the first command. */
    assert_true(strstr(t, "#SBATCH --qos=low") < strstr(t, "\nexec "));
    free(t);
    t = sweep_slurm_script(s, "/abs/sd", "/abs/mtrl", some, 3);
    assert_non_null(strstr(t, "#SBATCH --array=0-1,3\n"));
    free(t);
    sweep_destroy(s);
}

static void test_run_state_from_directory(void **st)
{
    (void)st;
    const char *rd = path("state/run");
    sweep_run_status s;
    sweep_read_status(rd, NULL, &s);
    assert_int_equal(s.state, SWEEP_PENDING);
    /* A run that failed to start leaves no directory, only its log. */
    put("state/run.log", "[mtrl sweep exec T] run 0 r: starting c.yaml -> state/run\n"
                         "mtrl run: benchmark 'mt1:nope-v2': unknown task 'nope-v2'\n"
                         "[mtrl sweep exec T] run 0 r: mtrl run exited 2 -> failed\n");
    sweep_read_status(rd, path("state/run.log"), &s);
    assert_int_equal(s.state, SWEEP_FAILED);
    assert_string_equal(s.error, "mtrl run: benchmark 'mt1:nope-v2': unknown task 'nope-v2'");
    put("state/run/config.yaml", "run: {iterations: 100}\n");
    put("state/run/eval.csv", "step,wall_time,success,return\n0,0.1,0.2,5\n50,1.0,0.6,7\n100,2.0,0.4,8\n");
    put("state/run/status.json", "{\"state\": \"running\", \"iteration\": 60, \"iterations\": 100, "
                                 "\"best_success\": 0.6, \"pid\": 1, \"host\": \"h\", \"updated\": \"x\", "
                                 "\"error\": null}\n");
    /* Says running, but nobody holds the lock: killed. */
    put("state/run/.lock", "1 h\n");
    sweep_read_status(rd, NULL, &s);
    assert_int_equal(s.state, SWEEP_INTERRUPTED);
    assert_int_equal(s.iteration, 60);
    assert_int_equal(s.iterations, 100);
    assert_true(s.best_success == 0.6);
    /* The lock held by a live process: running. */
    int fd = open(path("state/run/.lock"), O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    pid_t pid = fork();
    if (pid == 0) { /* another process, as sweep status would be */
        sweep_run_status c;
        sweep_read_status(rd, NULL, &c);
        _exit(c.state == SWEEP_RUNNING ? 0 : 1);
    }
    int wst;
    waitpid(pid, &wst, 0);
    assert_int_equal(WEXITSTATUS(wst), 0);
    close(fd);
    put("state/run/status.json", "{\"state\": \"failed\", \"iteration\": 70, \"iterations\": 100, "
                                 "\"best_success\": null, \"error\": \"agent: non-finite loss \\\"q\\\"\"}\n");
    sweep_read_status(rd, NULL, &s);
    assert_int_equal(s.state, SWEEP_FAILED);
    assert_string_equal(s.error, "agent: non-finite loss \"q\"");
    assert_true(s.best_success == 0.6); /* from eval.csv when status.json has none */
    put("state/run/status.json", "{\"state\": \"done\", \"iteration\": 100, \"iterations\": 100}\n");
    sweep_read_status(rd, NULL, &s);
    assert_int_equal(s.state, SWEEP_DONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expansion_order_names_overrides),
        cmocka_unit_test(test_seed_list_and_config_sets),
        cmocka_unit_test(test_errors_name_file_line_key),
        cmocka_unit_test(test_other_grid_refused),
        cmocka_unit_test(test_dry_run_lists_runs),
        cmocka_unit_test(test_hostile_sweep_files),
        cmocka_unit_test(test_config_snapshot_guards_edits),
        cmocka_unit_test(test_slurm_script),
        cmocka_unit_test(test_run_state_from_directory),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
