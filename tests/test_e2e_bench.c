/* End to end through `mtrl bench update`: a short MT10 run with tiny
 * networks prints JSON with one row per method, positive times that add up
 * (split <= total, min <= median <= max), the ratio to mean computed from
 * the medians it reports, and FLOP counts that grow with the combiner's
 * work; CSV has the same rows; tools/timing-table turns the CSV into a
 * Markdown table with the paper's figures; bad arguments exit 2 with a
 * message on stderr. */
#include "testutil.h"

#include <math.h>
#include <sys/wait.h>

/* Tiny networks and batch: the update costs well under a millisecond, so
 * the whole command runs in about a second. */
#define TINY                                                                                      \
    "--set 'agent.actor_hidden=[32, 32]' --set 'agent.critic_hidden=[32, 32]' "                  \
    "--set agent.batch_size=100"

/* The number after "key": in the JSON object that starts at row. */
static double field(const char *row, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *end = strchr(row, '}');
    const char *p = strstr(row, pat);
    if (!p || (end && p > end))
        fail_msg("row has no %s: %.200s", key, row);
    p += strlen(pat);
    if (!strncmp(p, "null", 4))
        return NAN;
    return strtod(p, NULL);
}

static const char *row_of(const char *json, const char *method)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"method\": \"%s\"", method);
    const char *p = strstr(json, pat);
    if (!p)
        fail_msg("no row for %s in:\n%s", method, json);
    while (p > json && *p != '{')
        p--;
    return p;
}

static void check_row(const char *r)
{
    double med = field(r, "ms_median"), mn = field(r, "ms_min"), mx = field(r, "ms_max");
    assert_true(mn > 0 && mn <= med && med <= mx);
    assert_int_equal((int)field(r, "updates"), 3);
    assert_int_equal((int)field(r, "tasks"), 10);
    assert_int_equal((int)field(r, "batch"), 100);
    double fwd = field(r, "ms_fwd_bwd"), gram = field(r, "ms_gram_solve"),
           comb = field(r, "ms_combine_adam");
    assert_true(fwd > 0 && gram >= 0 && comb > 0);
    /* The split is part of each update's own time: every part's median is
     * at most the slowest update, and the rest (update minus its parts,
     * per update) is never negative. */
    assert_true(fwd <= mx && gram <= mx && comb <= mx);
    assert_true(field(r, "ms_other") >= 0);
    assert_true(field(r, "ratio_min_to_mean") > 0 && field(r, "ratio_paired_to_mean") > 0);
    assert_true(field(r, "gflop") > 0 && field(r, "gflops") > 0 && field(r, "sgemm_gflops") > 0);
    assert_true(field(r, "episode_s") > 0);
    assert_true(field(r, "episode_env_s") > 0 && field(r, "episode_env_s") < field(r, "episode_s"));
    assert_int_equal((int)field(r, "episode_len"), 150);
}

static void test_json_rows(void **st)
{
    (void)st;
    const char *tmp = test_tmpdir();
    char out[512];
    snprintf(out, sizeof out, "%s/bench.json", tmp);
    assert_int_equal(test_sh("%s bench update --quick --benchmark mt10 --methods mean,cagrad "
                        "--updates 3 --json " TINY " > %s 2>%s/bench.err",
                        test_mtrl_bin(), out, tmp),
                     0);
    char *json = test_slurp(out);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"rows\": ["));
    const char *mean = row_of(json, "mean"), *cag = row_of(json, "cagrad");
    check_row(mean);
    check_row(cag);
    /* The ratio is the reported medians' ratio, measured in the same run. */
    assert_float_equal(field(mean, "ratio_to_mean"), 1.0, 1e-9);
    double ratio = field(cag, "ratio_to_mean");
    assert_float_equal(ratio, field(cag, "ms_median") / field(mean, "ms_median"), 1e-3 * ratio);
    /* mean forms no Gram; CAGrad's Gram and final product add FLOPs. The
     * difference is exactly the Gram of the K rows and the weighted pass
     * over the B batch rows that forms d (the rows are not kept):
     * K (K + 1) P + 2 B P for the actor's P and the critic's. */
    assert_true(field(mean, "ms_gram_solve") == 0);
    double P = field(cag, "actor_params") + field(cag, "critic_params");
    double Bt = field(cag, "batch");
    assert_true(Bt == 100);
    double extra = (10.0 * 11.0 * P + 2.0 * Bt * P) * 1e-9;
    assert_float_equal(field(cag, "gflop") - field(mean, "gflop"), extra, 1e-4 * extra + 1e-9);
    /* Tiny nets: P from 49-32-32-8 and 2 x (53-32-32-1), with the one-hot. */
    assert_int_equal((int)field(cag, "actor_params"), 49 * 32 + 32 + 32 * 32 + 32 + 32 * 8 + 8);
    assert_int_equal((int)field(cag, "critic_params"), 2 * (53 * 32 + 32 + 32 * 32 + 32 + 33));
    free(json);
}

static void test_csv_and_timing_table(void **st)
{
    (void)st;
    const char *tmp = test_tmpdir();
    char csv[512], md[512];
    snprintf(csv, sizeof csv, "%s/bench.csv", tmp);
    snprintf(md, sizeof md, "%s/table.md", tmp);
    /* famo: its row takes FAMO's critic-only setting by itself */
    assert_int_equal(test_sh("%s bench update --quick --benchmark mt10 --methods mean,pcgrad,"
                        "cagrad_fast,famo --updates 3 --csv " TINY " > %s 2>/dev/null",
                        test_mtrl_bin(), csv),
                     0);
    char *c = test_slurp(csv);
    assert_non_null(c);
    assert_true(!strncmp(c, "benchmark,method,", 17));
    int lines = 0;
    for (const char *p = c; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 1 + 4);
    assert_non_null(strstr(c, "\nmt10,pcgrad,10,100,0,3,"));
    assert_non_null(strstr(c, "\nmt10,famo,10,100,0,3,"));
    free(c);

    assert_int_equal(test_sh("tools/timing-table %s > %s", csv, md), 0);
    char *t = test_slurp(md);
    assert_non_null(t);
    /* Our rows, with the CAGrad paper's Table 7 figure beside PCGrad and
     * CAGrad-Fast on MT10 (9.7 s and 4.8 s per episode). */
    assert_non_null(strstr(t, "| mt10 | pcgrad |"));
    assert_non_null(strstr(t, "9.7"));
    assert_non_null(strstr(t, "4.8"));
    assert_non_null(strstr(t, "Liu et al."));
    free(t);
}

/* tools/thread-scaling joins runs at 1 and 2 learner threads (the CSV's
 * learner_threads column) into one table, and refuses a run given twice. */
static void test_thread_scaling_table(void **st)
{
    (void)st;
    const char *tmp = test_tmpdir();
    char md[512];
    snprintf(md, sizeof md, "%s/scaling.md", tmp);
    for (int t = 1; t <= 2; t++)
        assert_int_equal(test_sh("%s bench update --quick --benchmark mt10 --methods mean,cagrad "
                                 "--updates 2 --episodes 0 --threads %d --csv " TINY
                                 " > %s/t%d.csv 2>/dev/null",
                                 test_mtrl_bin(), t, tmp, t),
                         0);
    assert_int_equal(test_sh("tools/thread-scaling %s/t1.csv %s/t2.csv > %s", tmp, tmp, md), 0);
    char *t = test_slurp(md);
    assert_non_null(t);
    assert_non_null(strstr(t, "| ms, 1 thr | ms, 2 thr | speed-up 1 -> 2 |"));
    assert_non_null(strstr(t, "\n| mt10 | mean | "));
    assert_non_null(strstr(t, "\n| mt10 | cagrad | "));
    assert_non_null(strstr(t, "sgemm GFLOP/s"));
    assert_non_null(strstr(t, " at 2.\n")); /* the sgemm rate at each thread count */
    free(t);
    assert_int_not_equal(test_sh("tools/thread-scaling %s/t1.csv %s/t1.csv > /dev/null 2>&1", tmp,
                                 tmp),
                         0);
}

static void test_bad_arguments(void **st)
{
    (void)st;
    const char *bin = test_mtrl_bin(), *tmp = test_tmpdir();
    static const char *bad[] = {
        "--methods mean,nosuch",     "--methods mean,mean", "--benchmark mt20",
        "--updates 0",               "--updates x",         "--frobnicate",
        "--json --csv",              "--set agent.batch_size=-3",
        "--set no.such.key=1",       "--methods",           "--threads 300",
        "--threads -1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[512];
        snprintf(err, sizeof err, "%s/bad%zu.err", tmp, i);
        int rc = test_sh("%s bench update --benchmark mt10 %s > /dev/null 2>%s", bin, bad[i], err);
        if (rc != 2)
            fail_msg("'%s' exited %d, expected 2", bad[i], rc);
        char *m = test_slurp(err);
        assert_non_null(m);
        if (!strstr(m, "mtrl bench update"))
            fail_msg("'%s': no message naming the command: %s", bad[i], m);
        free(m);
    }
    /* --help is not an error. */
    assert_int_equal(test_sh("%s bench update --help > /dev/null", bin), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_rows),
        cmocka_unit_test(test_csv_and_timing_table),
        cmocka_unit_test(test_thread_scaling_table),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
