/* mtrl tasks, mtrl env-check, mtrl bench env: exit codes, and env-check's
 * figures equal the library's for the same seed. Needs the built mtrl
 * (MTRL_BIN, set by make test / make check). */
#include "testutil.h"

#include <sys/wait.h>

#include "envs/envs.h"

/* Runs `mtrl ARGS`, capturing stdout+stderr into out; returns the exit code. */
static int run_cmd(const char *args, char *out, size_t cap)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", test_mtrl_bin(), args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char buf[1 << 16];

static void test_tasks_lists_registry(void **st)
{
    (void)st;
    assert_int_equal(run_cmd("tasks", buf, sizeof buf), 0);
    for (int i = 0; i < env_task_count(); i++)
        assert_non_null(strstr(buf, env_task_name(i)));
    assert_non_null(strstr(buf, "mt10"));
    assert_int_equal(run_cmd("tasks --help", buf, sizeof buf), 0);
    assert_int_equal(run_cmd("tasks extra", buf, sizeof buf), 2);
}

/* The library's count of successes for the same protocol as env-check. */
static int library_successes(const char *task, int episodes, uint64_t seed)
{
    int t, succ = 0;
    assert_int_equal(env_task_find(task, &t, NULL), 0);
    env_opts o;
    env_opts_default(&o);
    o.goal_seed = seed;
    env_sawyer *e;
    assert_int_equal(env_create(&e, t, &o, 0, NULL), 0);
    for (int ep = 0; ep < episodes; ep++) {
        float obs[ENV_OBS_DIM], a[ENV_ACT_DIM];
        env_reset_goal(e, ep, obs, NULL);
        for (int s = 0; s < 500; s++) {
            env_info inf;
            env_step_flags fl;
            env_scripted_action(e, obs, a);
            env_step(e, a, obs, &inf, &fl, NULL);
            if (inf.success) {
                succ++;
                break;
            }
        }
    }
    env_destroy(e);
    return succ;
}

static void test_env_check(void **st)
{
    (void)st;
    assert_int_equal(run_cmd("env-check push-v2,reach-v2 --episodes 6 --seed 4 --threads 2", buf,
                             sizeof buf),
                     0);
    char *line = strstr(buf, "\npush-v2");
    assert_non_null(line);
    double rate;
    assert_int_equal(sscanf(line + 1, "push-v2 %lf", &rate), 1);
    assert_float_equal(rate, library_successes("push-v2", 6, 4) / 6.0, 1e-9);
    line = strstr(buf, "\nreach-v2");
    assert_non_null(line);
    assert_int_equal(sscanf(line + 1, "reach-v2 %lf", &rate), 1);
    assert_float_equal(rate, library_successes("reach-v2", 6, 4) / 6.0, 1e-9);

    assert_int_equal(run_cmd("env-check --help", buf, sizeof buf), 0);
    assert_int_equal(run_cmd("env-check", buf, sizeof buf), 2);
    assert_int_equal(run_cmd("env-check rech-v2", buf, sizeof buf), 2);
    assert_non_null(strstr(buf, "reach-v2")); /* the closest name is suggested */
    assert_int_equal(run_cmd("env-check reach-v2 --episodes 0", buf, sizeof buf), 2);
    assert_int_equal(run_cmd("env-check reach-v2 --noise abc", buf, sizeof buf), 2);
}

static void test_bench_env(void **st)
{
    (void)st;
    assert_int_equal(run_cmd("bench env reach-v2 --steps 300 --threads 1", buf, sizeof buf), 0);
    assert_non_null(strstr(buf, "sawyer_obj.xml"));
    assert_non_null(strstr(buf, "env steps/s"));
    assert_int_equal(run_cmd("bench env nosuch-v2", buf, sizeof buf), 2);
    assert_int_equal(run_cmd("bench env reach-v2 --steps -5", buf, sizeof buf), 2);
    assert_int_equal(run_cmd("bench env --help", buf, sizeof buf), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tasks_lists_registry),
        cmocka_unit_test(test_env_check),
        cmocka_unit_test(test_bench_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
