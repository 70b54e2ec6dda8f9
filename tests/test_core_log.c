#include "testutil.h"

#include <math.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/progress.h"
#include "core/runlog.h"


static char *slurp(const char *path)
{
    char *d;
    mtrl_err e = {0};
    assert_int_equal(fs_read_all(path, &d, NULL, &e), 0);
    return d;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static double unix_now(void) { return (double)time(NULL); }

/* ---- fsutil ---- */

static void test_mkdirs_and_run_dirs(void **st)
{
    (void)st;
    mtrl_err e = {0};
    assert_int_equal(fs_mkdirs(test_path("a/b/c/"), &e), 0);
    assert_true(fs_is_dir(test_path("a/b/c")));
    assert_int_equal(fs_mkdirs(test_path("a/b"), &e), 0); /* existing is fine */
    FILE *fp = fopen(test_path("a/file"), "w");
    fclose(fp);
    assert_int_equal(fs_mkdirs(test_path("a/file/sub"), &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "a/file"));

    char d1[512], d2[512];
    assert_int_equal(fs_make_run_dir(d1, sizeof d1, test_path("runs/x"), "mt10-cagrad", &e), 0);
    assert_int_equal(fs_make_run_dir(d2, sizeof d2, test_path("runs/x"), "mt10-cagrad", &e), 0);
    assert_string_not_equal(d1, d2);
    assert_true(fs_is_dir(d1) && fs_is_dir(d2));
    assert_true(fs_dir_is_empty(d1) && fs_dir_is_empty(d2));
    /* <root>/<name>-YYYYmmdd-HHMMSS, stamped with the current local time. */
    const char *base = strrchr(d1, '/') + 1;
    assert_int_equal(strncmp(base, "mt10-cagrad-", 12), 0);
    const char *stamp = base + 12;
    assert_int_equal((int)strlen(stamp), 15);
    struct tm tmv = {0};
    assert_non_null(strptime(stamp, "%Y%m%d-%H%M%S", &tmv));
    tmv.tm_isdst = -1;
    assert_true(fabs(difftime(time(NULL), mktime(&tmv))) < 5);
    assert_int_equal(fs_make_run_dir(d1, sizeof d1, NULL, "bad/name", &e), MTRL_EINPUT);
    assert_int_equal(fs_make_run_dir(d1, 20, test_path("runs/x"), "toolong", &e), MTRL_EINPUT);

    /* Explicit dir: created with parents; a non-empty one is refused unless
     * resuming. */
    const char *dir = test_path("out/deep/run1");
    assert_int_equal(fs_prepare_run_dir(dir, 0, &e), 0);
    assert_true(fs_is_dir(dir));
    assert_int_equal(fs_prepare_run_dir(dir, 0, &e), 0); /* still empty */
    fp = fopen(test_path("out/deep/run1/metrics.jsonl"), "w");
    fputs("{}\n", fp);
    fclose(fp);
    assert_int_equal(fs_prepare_run_dir(dir, 0, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, dir));
    assert_non_null(strstr(e.msg, "not empty"));
    assert_int_equal(fs_prepare_run_dir(dir, 1, &e), 0);
    assert_int_equal(fs_prepare_run_dir(test_path("a/file"), 1, &e), MTRL_EINPUT);
}

static void test_write_atomic(void **st)
{
    (void)st;
    mtrl_err e = {0};
    const char *p = test_path("config.yaml");
    assert_int_equal(fs_write_atomic(p, "a: 1\n", 5, &e), 0);
    char *d = slurp(p);
    assert_string_equal(d, "a: 1\n");
    free(d);
    assert_int_equal(fs_write_atomic(p, "b: 22\n", 6, &e), 0);
    d = slurp(p);
    assert_string_equal(d, "b: 22\n");
    free(d);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", p, (long)getpid());
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(fs_write_atomic(p, "", 0, &e), 0);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_size, 0);
    assert_int_equal(fs_write_atomic(test_path("nodir/x.yaml"), "x", 1, &e), MTRL_EIO);
    assert_non_null(strstr(e.msg, "nodir/x.yaml"));
    assert_int_equal(fs_read_all(test_path("nodir/x.yaml"), &d, NULL, &e), MTRL_EIO);

    /* A file larger than fs_read_all's first buffer. */
    size_t n = 100000;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    assert_int_equal(fs_write_atomic(p, big, n, &e), 0);
    size_t len;
    assert_int_equal(fs_read_all(p, &d, &len, &e), 0);
    assert_int_equal(len, n);
    assert_memory_equal(d, big, n);
    free(d);
    free(big);
}

/* ---- metrics log: parsed back independently ---- */

/* Splits a CSV line in place; returns the field count. */
static int split_csv(char *line, char **f, int max)
{
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == ',') {
            *p = '\0';
            f[n++] = p + 1;
        }
    return n;
}

/* Value of "key": in a JSON line, as text up to the next ',' or '}'. */
static int json_get(const char *line, const char *key, char *out, size_t cap)
{
    char pat[160];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    if (!p)
        return 0;
    p += strlen(pat);
    size_t n = strcspn(p, ",}");
    if (n >= cap)
        return 0;
    memcpy(out, p, n);
    out[n] = '\0';
    return 1;
}

static double json_num(const char *line, const char *key)
{
    char v[64];
    assert_true(json_get(line, key, v, sizeof v));
    if (!strcmp(v, "null"))
        return NAN;
    char *end;
    double x = strtod(v, &end);
    assert_true(*end == '\0');
    return x;
}

/* Every JSONL line: starts with '{', ends with '}', keys quoted, balanced. */
static void assert_jsonl_well_formed(const char *text)
{
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        assert_true(p[0] == '{' && nl[-1] == '}');
        int quotes = 0;
        for (const char *q = p; q < nl; q++)
            quotes += *q == '"';
        assert_int_equal(quotes % 2, 0);
        p = nl + 1;
    }
}

static const char *train_names[3] = {"loss/critic", "alpha_mean", "success_rate"};

static void test_events_in_csv_and_jsonl(void **st)
{
    (void)st;
    mtrl_err e = {0};
    const char *dir = test_path("log1");
    assert_int_equal(fs_prepare_run_dir(dir, 0, &e), 0);
    log_writer *w;
    double t_before = unix_now();
    assert_int_equal(log_open(&w, dir, 0, &e), 0);
    for (int i = 0; i < 5; i++) {
        double v[3] = {1.0 / (i + 1), -2.5e-7 * i, i * 0.1};
        assert_int_equal(log_event(w, "train", 1000 * (i + 1), 3, train_names, v, &e), 0);
    }
    const char *en[2] = {"success", "return"};
    double ev[2] = {0.7, NAN};
    assert_int_equal(log_event(w, "eval", 2500, 2, en, ev, &e), 0);
    double ev2[2] = {1.0, -INFINITY};
    assert_int_equal(log_event(w, "eval", 5000, 2, en, ev2, &e), 0);
    assert_int_equal(log_event(w, "empty", 7, 0, NULL, NULL, &e), 0);

    /* Flushed after every event: visible before close. */
    char *csv = slurp(test_path("log1/train.csv"));
    assert_int_equal(count_lines(csv), 6);
    free(csv);
    log_close(w);
    double t_after = unix_now() + 1;

    csv = slurp(test_path("log1/train.csv"));
    char *save, *line = strtok_r(csv, "\n", &save);
    assert_string_equal(line, "step,wall_time,loss/critic,alpha_mean,success_rate");
    for (int i = 0; i < 5; i++) {
        line = strtok_r(NULL, "\n", &save);
        assert_non_null(line);
        char *f[8];
        assert_int_equal(split_csv(line, f, 8), 5);
        assert_int_equal(atoll(f[0]), 1000 * (i + 1));
        double t = strtod(f[1], NULL);
        assert_true(t >= t_before - 1 && t <= t_after);
        assert_true(fabs(strtod(f[2], NULL) - 1.0 / (i + 1)) < 1e-9);
        assert_true(fabs(strtod(f[3], NULL) - (-2.5e-7 * i)) < 1e-15);
        assert_true(fabs(strtod(f[4], NULL) - i * 0.1) < 1e-9);
    }
    assert_null(strtok_r(NULL, "\n", &save));
    free(csv);

    csv = slurp(test_path("log1/eval.csv"));
    assert_string_equal(strtok_r(csv, "\n", &save), "step,wall_time,success,return");
    char *f[8];
    assert_int_equal(split_csv(strtok_r(NULL, "\n", &save), f, 8), 4);
    assert_string_equal(f[0], "2500");
    assert_string_equal(f[2], "0.7");
    assert_string_equal(f[3], "nan");
    assert_int_equal(split_csv(strtok_r(NULL, "\n", &save), f, 8), 4);
    assert_string_equal(f[3], "-inf");
    free(csv);
    csv = slurp(test_path("log1/empty.csv"));
    assert_true(!strncmp(csv, "step,wall_time\n7,", 17));
    free(csv);

    char *js = slurp(test_path("log1/metrics.jsonl"));
    assert_jsonl_well_formed(js);
    assert_int_equal(count_lines(js), 8);
    line = strtok_r(js, "\n", &save);
    char v[64];
    assert_true(json_get(line, "kind", v, sizeof v));
    assert_string_equal(v, "\"train\"");
    assert_true(json_num(line, "step") == 1000);
    assert_true(fabs(json_num(line, "loss/critic") - 1.0) < 1e-12);
    assert_true(json_num(line, "wall_time") >= t_before - 1);
    for (int i = 1; i < 5; i++)
        line = strtok_r(NULL, "\n", &save);
    assert_true(json_num(line, "step") == 5000);
    assert_true(fabs(json_num(line, "success_rate") - 0.4) < 1e-12);
    line = strtok_r(NULL, "\n", &save);
    assert_true(json_get(line, "kind", v, sizeof v));
    assert_string_equal(v, "\"eval\"");
    assert_true(json_num(line, "success") == 0.7);
    assert_true(isnan(json_num(line, "return"))); /* null: JSON has no NaN */
    free(js);
}

static void test_resume_appends_without_second_header(void **st)
{
    (void)st;
    mtrl_err e = {0};
    const char *dir = test_path("log2");
    assert_int_equal(fs_prepare_run_dir(dir, 0, &e), 0);
    log_writer *w;
    assert_int_equal(log_open(&w, dir, 0, &e), 0);
    double v[3] = {1, 2, 3};
    assert_int_equal(log_event(w, "train", 1, 3, train_names, v, &e), 0);
    assert_int_equal(log_event(w, "train", 2, 3, train_names, v, &e), 0);
    log_close(w);

    /* Without resume, an existing log is not overwritten. */
    assert_int_equal(log_open(&w, dir, 0, &e), MTRL_EINPUT);
    assert_null(w);
    assert_non_null(strstr(e.msg, "metrics.jsonl"));
    char *js = slurp(test_path("log2/metrics.jsonl"));
    assert_int_equal(count_lines(js), 2);
    free(js);

    /* A crash left half a line at the end of both files. */
    FILE *fp = fopen(test_path("log2/train.csv"), "a");
    fputs("3,17000000", fp);
    fclose(fp);
    fp = fopen(test_path("log2/metrics.jsonl"), "a");
    fputs("{\"kind\":\"train\",\"st", fp);
    fclose(fp);

    assert_int_equal(log_open(&w, dir, 1, &e), 0);
    assert_int_equal(log_event(w, "train", 3, 3, train_names, v, &e), 0);
    log_close(w);
    assert_int_equal(log_open(&w, dir, 1, &e), 0);
    assert_int_equal(log_event(w, "train", 4, 3, train_names, v, &e), 0);
    log_close(w);

    char *csv = slurp(test_path("log2/train.csv"));
    assert_int_equal(count_lines(csv), 5);
    int headers = 0;
    char *save;
    int expect_step = 1;
    for (char *l = strtok_r(csv, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (!strncmp(l, "step,", 5)) {
            headers++;
            continue;
        }
        char *f[8];
        assert_int_equal(split_csv(l, f, 8), 5);
        assert_int_equal(atoi(f[0]), expect_step++);
        assert_true(strtod(f[4], NULL) == 3.0);
    }
    assert_int_equal(headers, 1);
    free(csv);
    js = slurp(test_path("log2/metrics.jsonl"));
    assert_jsonl_well_formed(js);
    assert_int_equal(count_lines(js), 4);
    free(js);

    /* Resuming with other columns is an error naming both headers. */
    assert_int_equal(log_open(&w, dir, 1, &e), 0);
    const char *other[2] = {"loss/critic", "alpha_mean"};
    assert_int_equal(log_event(w, "train", 5, 2, other, v, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "train.csv"));
    assert_non_null(strstr(e.msg, "success_rate"));
    /* The right columns still work after the refusal. */
    assert_int_equal(log_event(w, "train", 5, 3, train_names, v, &e), 0);
    log_close(w);
}

static void test_mismatching_columns_and_bad_names(void **st)
{
    (void)st;
    mtrl_err e = {0};
    const char *dir = test_path("log3");
    assert_int_equal(fs_prepare_run_dir(dir, 0, &e), 0);
    log_writer *w;
    assert_int_equal(log_open(&w, dir, 0, &e), 0);
    double v[4] = {1, 2, 3, 4};
    assert_int_equal(log_event(w, "train", 1, 3, train_names, v, &e), 0);
    assert_int_equal(log_event(w, "train", 2, 2, train_names, v, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "train"));
    const char *swapped[3] = {"alpha_mean", "loss/critic", "success_rate"};
    assert_int_equal(log_event(w, "train", 2, 3, swapped, v, &e), MTRL_EINPUT);
    const char *bad1[1] = {"has,comma"};
    assert_int_equal(log_event(w, "other", 1, 1, bad1, v, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "has,comma"));
    const char *bad2[1] = {"step"};
    assert_int_equal(log_event(w, "other", 1, 1, bad2, v, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "reserved"));
    const char *bad3[2] = {"a", "a"};
    assert_int_equal(log_event(w, "other", 1, 2, bad3, v, &e), MTRL_EINPUT);
    const char *bad4[1] = {"with space"};
    assert_int_equal(log_event(w, "other", 1, 1, bad4, v, &e), MTRL_EINPUT);
    assert_int_equal(log_event(w, "../evil", 1, 0, NULL, NULL, &e), MTRL_EINPUT);
    assert_int_equal(log_event(w, "", 1, 0, NULL, NULL, &e), MTRL_EINPUT);
    /* Refused events wrote nothing. */
    assert_int_equal(access(test_path("log3/other.csv"), F_OK), -1);
    log_close(w);
    char *js = slurp(test_path("log3/metrics.jsonl"));
    assert_int_equal(count_lines(js), 1);
    free(js);
    assert_int_equal(log_open(&w, test_path("log3/missing"), 0, &e), MTRL_EIO);
}

static void test_drop_after_checkpoint_step(void **st)
{
    (void)st;
    mtrl_err e = {0};
    const char *dir = test_path("log4");
    assert_int_equal(fs_prepare_run_dir(dir, 0, &e), 0);
    log_writer *w;
    assert_int_equal(log_open(&w, dir, 0, &e), 0);
    const char *en[1] = {"success"};
    for (int s = 1; s <= 10; s++) {
        double v[3] = {s, s, s};
        assert_int_equal(log_event(w, "train", s * 100, 3, train_names, v, &e), 0);
        if (s % 4 == 0)
            assert_int_equal(log_event(w, "eval", s * 100, 1, en, v, &e), 0);
    }
    log_close(w);
    assert_int_equal(log_drop_after(dir, 500, &e), 0);
    char *csv = slurp(test_path("log4/train.csv"));
    assert_int_equal(count_lines(csv), 6); /* header + steps 100..500 */
    assert_null(strstr(csv, "\n600,"));
    assert_non_null(strstr(csv, "\n500,"));
    free(csv);
    csv = slurp(test_path("log4/eval.csv"));
    assert_int_equal(count_lines(csv), 2); /* header + step 400 */
    free(csv);
    char *js = slurp(test_path("log4/metrics.jsonl"));
    assert_int_equal(count_lines(js), 6);
    assert_null(strstr(js, "\"step\":600"));
    assert_null(strstr(js, "\"step\":800"));
    free(js);
    /* The resumed run continues from there. */
    assert_int_equal(log_open(&w, dir, 1, &e), 0);
    double v[3] = {6, 6, 6};
    assert_int_equal(log_event(w, "train", 600, 3, train_names, v, &e), 0);
    log_close(w);
    csv = slurp(test_path("log4/train.csv"));
    assert_int_equal(count_lines(csv), 7);
    free(csv);
    /* Nothing logged yet is fine too. */
    assert_int_equal(fs_mkdirs(test_path("log5"), &e), 0);
    assert_int_equal(log_drop_after(test_path("log5"), 0, &e), 0);
}

/* A crash or a full disk cuts any of the three logs mid-line; the repair at
 * resume drops the fragment (and rows past the checkpoint) in each, so the
 * resumed run appends well-formed rows. */
static void test_drop_after_repairs_cut_lines(void **st)
{
    (void)st;
    mtrl_err e = {0};
    const char *dir = test_path("log6");
    assert_int_equal(fs_prepare_run_dir(dir, 0, &e), 0);
    log_writer *w;
    assert_int_equal(log_open(&w, dir, 0, &e), 0);
    const char *en[1] = {"success"};
    for (int s = 1; s <= 4; s++) {
        double v[3] = {s, s, s};
        assert_int_equal(log_event(w, "train", s * 100, 3, train_names, v, &e), 0);
        assert_int_equal(log_event(w, "eval", s * 100, 1, en, v, &e), 0);
    }
    log_close(w);
    /* Each file ends in the middle of a row of step 500. */
    const char *cut[3][2] = {{"log6/train.csv", "500,1700000000.1,5,5"},
                             {"log6/eval.csv", "500,17000"},
                             {"log6/metrics.jsonl", "{\"kind\":\"eval\",\"step\":500,\"wall_t"}};
    for (int i = 0; i < 3; i++) {
        FILE *fp = fopen(test_path(cut[i][0]), "a");
        fputs(cut[i][1], fp);
        fclose(fp);
    }
    /* And a fragment glued to a later whole line (a write that failed, then
     * one that did not), before the checkpoint step. */
    char *js = test_slurp(test_path("log6/metrics.jsonl"));
    assert_non_null(js);
    char *second = strchr(js, '\n') + 1;
    FILE *fp = fopen(test_path("log6/metrics.jsonl"), "w");
    fwrite(js, 1, (size_t)(second - js), fp);
    fputs("{\"kind\":\"train\",\"st", fp);
    fputs(second, fp);
    fclose(fp);
    free(js);

    assert_int_equal(log_drop_after(dir, 300, &e), 0);
    assert_int_equal(log_open(&w, dir, 1, &e), 0);
    double v[3] = {9, 9, 9};
    assert_int_equal(log_event(w, "train", 400, 3, train_names, v, &e), 0);
    assert_int_equal(log_event(w, "eval", 400, 1, en, v, &e), 0);
    log_close(w);

    const char *csvs[2] = {"log6/train.csv", "log6/eval.csv"};
    int cols[2] = {5, 3};
    for (int f = 0; f < 2; f++) {
        char *csv = slurp(test_path(csvs[f]));
        assert_int_equal(count_lines(csv), 5); /* header, 100, 200, 300, 400 */
        char *save;
        int row = 0;
        for (char *l = strtok_r(csv, "\n", &save); l; l = strtok_r(NULL, "\n", &save), row++) {
            char *fl[8];
            assert_int_equal(split_csv(l, fl, 8), cols[f]);
            if (row > 0)
                assert_int_equal(atoi(fl[0]), row * 100);
        }
        free(csv);
    }
    js = slurp(test_path("log6/metrics.jsonl"));
    assert_jsonl_well_formed(js);
    /* 100..400 of both kinds but the eval of 100, glued to the fragment. */
    assert_int_equal(count_lines(js), 7);
    assert_null(strstr(js, "\"step\":500"));
    free(js);
}

/* ---- progress ---- */

static char *run_progress(int tty, double plain_s, int64_t total, int64_t steps, double dt)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    prog *p = prog_create(total, tty);
    assert_non_null(p);
    prog_set_stream(p, out);
    prog_set_interval(p, plain_s, 0.1);
    for (int64_t s = 0; s <= steps; s++)
        prog_update_at(p, s, s >= steps / 2 ? "eval success 0.62" : NULL, 100.0 + s * dt);
    prog_finish_at(p, 100.0 + steps * dt);
    prog_destroy(p);
    fclose(out);
    return buf;
}

static void test_progress_plain_lines(void **st)
{
    (void)st;
    /* 10000 steps at 200 steps/s = 50 s, a line every 10 s. */
    char *out = run_progress(0, 10.0, 10000, 10000, 0.005);
    assert_null(strchr(out, '\r'));
    assert_null(strchr(out, '\033'));
    assert_int_equal(count_lines(out), 5 + 1); /* at 10,20,30,40,50 s + final */
    char *save;
    char *l = strtok_r(out, "\n", &save);
    assert_string_equal(l, "2000/10000 (20.0%) 200 steps/s ETA 0:00:40 elapsed 0:00:10");
    l = strtok_r(NULL, "\n", &save);
    assert_non_null(strstr(l, "4000/10000 (40.0%)"));
    assert_non_null(strstr(l, "ETA 0:00:30"));
    l = strtok_r(NULL, "\n", &save);
    assert_non_null(strstr(l, "6000/10000"));
    assert_non_null(strstr(l, "| eval success 0.62"));
    l = strtok_r(NULL, "\n", &save);
    l = strtok_r(NULL, "\n", &save);
    l = strtok_r(NULL, "\n", &save);
    assert_string_equal(l,
                        "10000/10000 (100.0%) 200 steps/s done in 0:00:50 | eval success 0.62");
    free(out);

    /* Unknown total: no percent, no ETA. */
    out = run_progress(0, 10.0, 0, 3000, 0.01);
    assert_non_null(strstr(out, "1000 steps 100 steps/s elapsed 0:00:10"));
    assert_null(strstr(out, "ETA"));
    free(out);
}

static void test_progress_rate_follows_speed_changes(void **st)
{
    (void)st;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    prog *p = prog_create(1000000, 0);
    prog_set_stream(p, out);
    prog_set_interval(p, 10.0, 0.1);
    /* 60 s at 1000 steps/s, then 120 s at 100 steps/s. */
    double t = 0;
    int64_t s = 0;
    for (; t < 60; t += 0.01, s += 10)
        prog_update_at(p, s, NULL, t);
    for (; t < 180; t += 0.1, s += 10)
        prog_update_at(p, s, NULL, t);
    prog_destroy(p);
    fclose(out);
    /* The last line's rate is near the recent speed, not the average (~400). */
    char *last = buf + strlen(buf) - 2;
    while (last > buf && last[-1] != '\n')
        last--;
    double rate = strtod(strstr(last, ") ") + 2, NULL);
    assert_true(fabs(rate - 100) < 5);
    free(buf);
}

static void test_progress_terminal_redraws(void **st)
{
    (void)st;
    /* 10 s of updates, 1000 per second: about 100 redraws at 10 Hz. */
    char *out = run_progress(1, 10.0, 10000, 10000, 0.001);
    int cr = 0;
    for (char *c = out; *c; c++)
        cr += *c == '\r';
    assert_true(cr >= 95 && cr <= 102);
    assert_int_equal(count_lines(out), 1); /* only the final line ends */
    assert_non_null(strstr(out, "\033[K"));
    const char *last = strrchr(out, '\r');
    assert_int_equal(strncmp(last, "\r10000/10000 (100.0%) 1000 steps/s done in 0:00:10", 50),
                     0);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mkdirs_and_run_dirs),
        cmocka_unit_test(test_write_atomic),
        cmocka_unit_test(test_events_in_csv_and_jsonl),
        cmocka_unit_test(test_resume_appends_without_second_header),
        cmocka_unit_test(test_mismatching_columns_and_bad_names),
        cmocka_unit_test(test_drop_after_checkpoint_step),
        cmocka_unit_test(test_drop_after_repairs_cut_lines),
        cmocka_unit_test(test_progress_plain_lines),
        cmocka_unit_test(test_progress_rate_follows_speed_changes),
        cmocka_unit_test(test_progress_terminal_redraws),
    };
    return cmocka_run_group_tests(tests, NULL, test_rm_tmpdir);
}
