/* Evidence that training learns, cheap enough for `make test`: a short
 * single-task run (reach-v2, small networks) must raise the evaluation
 * return well above the untrained policy's. The bar is deliberately weaker
 * than success (that takes longer; see the issue notes for full runs) but it
 * is real: a broken gradient, target or temperature update leaves the return
 * where it started. */
#include "testutil.h"

#include <sys/wait.h>

#define MAX_ROWS 64

/* Reads column `name` of a CSV written by the run. */
static int read_column(const char *path, const char *name, double *v, int max)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[8192];
    int col = -1, n = 0;
    if (fgets(line, sizeof line, f)) {
        int c = 0;
        for (char *t = strtok(line, ",\n"); t; t = strtok(NULL, ",\n"), c++)
            if (!strcmp(t, name))
                col = c;
    }
    while (col >= 0 && n < max && fgets(line, sizeof line, f)) {
        char *p = line;
        for (int c = 0; c < col && p; c++)
            p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL;
        if (p)
            v[n++] = strtod(p, NULL);
    }
    fclose(f);
    return n;
}

static void test_reach_return_rises(void **st)
{
    (void)st;
    char cmd[2048], path[600];
    snprintf(cmd, sizeof cmd,
             "%s run configs/quickstart.yaml --quiet --out %s/reach "
             "--set env.benchmark=mt1:reach-v2 --set run.seed=2 --set run.iterations=4200 "
             "--set env.max_episode_steps=150 --set eval.every=1050 "
             "--set agent.actor_hidden=[64,64] --set agent.critic_hidden=[64,64] "
             "--set agent.batch_size=128 --set agent.init_steps=450 --set agent.init_updates=100 "
             "--set agent.init_temperature=0.1 --set agent.actor_lr=0.001 "
             "--set agent.critic_lr=0.001 --set agent.alpha_lr=0.001 2>/dev/null",
             test_mtrl_bin(), test_tmpdir());
    int status = system(cmd);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    snprintf(path, sizeof path, "%s/reach/eval.csv", test_tmpdir());
    double ret[MAX_ROWS];
    int n = read_column(path, "return", ret, MAX_ROWS);
    assert_int_equal(n, 5); /* iterations 0, 1050, 2100, 3150, 4200 */
    double late = (ret[n - 1] + ret[n - 2]) / 2;
    if (!(late > 2.0 * ret[0] && late > 400))
        fail_msg("eval return %.0f at the start, %.0f over the last two evaluations", ret[0],
                 late);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reach_return_rises),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
