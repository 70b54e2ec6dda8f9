/* cfg under hostile input: --set values with trailing text, values and keys
 * of any length, deeply nested YAML (rejected fast), FIFOs and directories
 * as configs or includes, run names that cannot name a directory. */
#include "testutil.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/cfg.h"

static const char *put(const char *rel, const char *text, size_t len)
{
    static char bufs[8][512];
    static int next;
    char *p = bufs[next++ % 8];
    snprintf(p, 512, "%s/%s", test_tmpdir(), rel);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fwrite(text, 1, len, f);
    fclose(f);
    return p;
}

static const char *puts_(const char *rel, const char *text) { return put(rel, text, strlen(text)); }

/* cfg_load fails with MTRL_EINPUT and a message holding each of wants. */
static void expect_fail(const char *path, const char *set, const char *want1, const char *want2)
{
    mtrl_config c;
    mtrl_err e = {0};
    const char *sets[1] = {set};
    int rc = cfg_load(&c, path, sets, set ? 1 : 0, &e);
    if (rc != MTRL_EINPUT || (want1 && !strstr(e.msg, want1)) || (want2 && !strstr(e.msg, want2)))
        fail_msg("rc %d, message: %s\n  want: %s / %s", rc, e.msg, want1 ? want1 : "",
                 want2 ? want2 : "");
}

static const char *base(void) { return puts_("base.yaml", "run: {seed: 1}\n"); }

static void test_set_trailing_text_rejected(void **st)
{
    (void)st;
    const char *p = base();
    expect_fail(p, "agent.actor_hidden=[32,32]]", "unexpected text after the value", NULL);
    expect_fail(p, "agent.actor_hidden=[32] [5]", "unexpected text after the value", NULL);
    expect_fail(p, "agent.actor_hidden=[32]\n---\n[5]", "unexpected text after the value", NULL);
    mtrl_config c;
    mtrl_err e = {0};
    const char *ok[] = {"agent.actor_hidden= [32, 32] "};
    assert_int_equal(cfg_load(&c, p, ok, 1, &e), 0);
    assert_int_equal(c.agent.actor_hidden.n, 2);
}

static void test_set_long_values_and_keys(void **st)
{
    (void)st;
    const char *p = base();
    /* 1500 characters: reported as too long, not cut to 1023 and taken. */
    char *kv = malloc(3000);
    int n = snprintf(kv, 3000, "run.runs_dir=");
    memset(kv + n, 'x', 1500);
    kv[n + 1500] = 0;
    expect_fail(p, kv, "run.runs_dir", "at most 255 bytes");
    expect_fail(p, kv, "(1513 characters)", NULL);
    /* A list whose 1100-character text ends past the old cut: the whole
     * value is parsed, so the 17th item is seen. */
    n = snprintf(kv, 3000, "agent.actor_hidden=[");
    for (int i = 0; i < 17; i++)
        n += snprintf(kv + n, 3000 - (size_t)n, "%s0000000000000000000000000000000000000000000000000000000000064",
                      i ? "," : "");
    snprintf(kv + n, 3000 - (size_t)n, "]");
    assert_true(strlen(kv) > 1023);
    expect_fail(p, kv, "got a list of 17 items", NULL);
    /* A key of 250 characters: said to be no key, not "expected key.path=value". */
    memset(kv, 'a', 250);
    snprintf(kv + 250, 100, "=1");
    expect_fail(p, kv, "a key of 250 characters is not a config key", NULL);
    free(kv);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* 400 KB of nesting was ~2 minutes to reject (quadratic in the depth). */
static void test_deep_nesting_rejected_fast(void **st)
{
    (void)st;
    size_t depth = 200000;
    char *t = malloc(depth + 64);
    size_t n = (size_t)sprintf(t, "agent:\n  actor_hidden: ");
    memset(t + n, '[', depth);
    n += depth;
    t[n++] = '\n';
    const char *p = put("deep.yaml", t, n);
    double t0 = now_s();
    expect_fail(p, NULL, "deep.yaml:2: lists or mappings nested deeper than 32 levels", NULL);
    assert_true(now_s() - t0 < 2.0);
    /* Block style, one level per line. */
    char *b = malloc(64 * 80 + 64);
    size_t m = (size_t)sprintf(b, "agent:\n  actor_hidden:\n");
    for (int i = 0; i < 64; i++) {
        for (int j = 0; j < 2 * i + 4; j++)
            b[m++] = ' ';
        m += (size_t)sprintf(b + m, "-\n");
    }
    p = put("deepblock.yaml", b, m);
    expect_fail(p, NULL, "nested deeper than 32 levels", NULL);
    /* In a --set value too. */
    char *kv = malloc(depth + 64);
    n = (size_t)sprintf(kv, "agent.actor_hidden=");
    memset(kv + n, '[', depth);
    kv[n + depth] = 0;
    t0 = now_s();
    expect_fail(base(), kv, "nested deeper than 32 levels", NULL);
    assert_true(now_s() - t0 < 2.0);
    free(t);
    free(b);
    free(kv);
}

static void test_fifo_and_directory_refused(void **st)
{
    (void)st;
    char fifo[512], dir[512];
    snprintf(fifo, sizeof fifo, "%s/fifo.yaml", test_tmpdir());
    snprintf(dir, sizeof dir, "%s/dir.yaml", test_tmpdir());
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(mkdir(dir, 0700), 0);
    /* Would block forever before (alarm ends the test if it does). */
    alarm(20);
    expect_fail(fifo, NULL, "fifo.yaml: cannot read: not a regular file (a FIFO)", NULL);
    const char *inc = puts_("incfifo.yaml", "include: fifo.yaml\n");
    expect_fail(inc, NULL, "incfifo.yaml:1: include: cannot read", "not a regular file (a FIFO)");
    alarm(0);
    expect_fail(dir, NULL, "dir.yaml: cannot read: it is a directory", NULL);
    inc = puts_("incdir.yaml", "include: dir.yaml\n");
    expect_fail(inc, NULL, "incdir.yaml:1: include: cannot read", "it is a directory");
}

static void test_run_names(void **st)
{
    (void)st;
    const char *want = "expected a name of at most 100 characters from A-Z a-z 0-9 - _ . +";
    char name[300];
    memset(name, 'n', 250);
    name[250] = 0;
    char kv[400];
    snprintf(kv, sizeof kv, "run.name=%s", name);
    expect_fail(base(), kv, want, NULL);
    expect_fail(puts_("nul.yaml", "run: {name: \"\\0abc\"}\n"), NULL,
                "nul.yaml:1: run.name: the value contains a NUL character", NULL);
    expect_fail(puts_("nl.yaml", "run: {name: \"a\\nb\"}\n"), NULL, "nl.yaml:1: run.name:", want);
    expect_fail(puts_("nel.yaml", "run: {name: \"a\\u0085b\"}\n"), NULL, "run.name:", want);
    expect_fail(base(), "run.name=a/b", want, NULL);
    expect_fail(base(), "run.name=..", want, NULL);
    expect_fail(base(), "run.name=-x", want, NULL);
    expect_fail(base(), "run.name=a b", want, NULL);
    mtrl_config c;
    mtrl_err e = {0};
    const char *ok[] = {"run.name=mt10_cagrad-s1.v2+x"};
    assert_int_equal(cfg_load(&c, base(), ok, 1, &e), 0);
    assert_string_equal(c.run.name, "mt10_cagrad-s1.v2+x");
    /* A file name that is no valid run name gives a plain one. */
    const char *odd = puts_("my conf\nig.yaml", "run: {seed: 2}\n");
    assert_int_equal(cfg_load(&c, odd, NULL, 0, &e), 0);
    assert_string_equal(c.run.name, "my_conf_ig");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_trailing_text_rejected),
        cmocka_unit_test(test_set_long_values_and_keys),
        cmocka_unit_test(test_deep_nesting_rejected_fast),
        cmocka_unit_test(test_fifo_and_directory_refused),
        cmocka_unit_test(test_run_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
