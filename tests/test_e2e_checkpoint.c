/* Checkpoints are checked, not trusted (issue 15): the format version, the
 * trainer's counters, the finiteness of weights and Adam moments, and a
 * checksum over every byte that matters. A bad checkpoint is bad input: exit
 * 2 with one line naming the file, for `mtrl eval` and `mtrl run --resume`.
 * A tiny one-task run makes the checkpoint; the damage is done with the HDF5
 * C API or by flipping bytes. */
#include "testutil.h"

#include <hdf5.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/h5io.h"

static char run_dir[512], ckpt[600];

static void make_run(void)
{
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/one.yaml", test_tmpdir());
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "run: {seed: 3, iterations: 40, threads: 1}\n"
               "env: {benchmark: \"mt1:reach-v2\", max_episode_steps: 20}\n"
               "agent: {actor_hidden: [16, 16], critic_hidden: [16, 16], batch_size: 20,\n"
               "        init_steps: 20, init_updates: 5}\n"
               "replay: {capacity: 1000}\n"
               "eval: {every: 20, episodes: 1}\n"
               "log: {checkpoint_every: 20, save_replay: true}\n");
    fclose(f);
    snprintf(run_dir, sizeof run_dir, "%s/run", test_tmpdir());
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.h5", run_dir);
    assert_int_equal(test_sh("%s run %s --quiet --out %s 2>/dev/null", test_mtrl_bin(), cfg,
                             run_dir),
                     0);
}

static int setup(void **st)
{
    (void)st;
    make_run();
    return 0;
}

/* A copy of the run directory, to damage. */
static const char *copy_run(const char *name)
{
    static char dir[600];
    snprintf(dir, sizeof dir, "%s/%s", test_tmpdir(), name);
    assert_int_equal(test_sh("rm -rf %s && cp -r %s %s", dir, run_dir, dir), 0);
    return dir;
}

/* Runs a command with stderr to a file; returns the exit code, *msg the
 * stderr text (caller frees). */
static int run_capture(char **msg, const char *fmt, const char *a, const char *b)
{
    char cmd[4096], args[1600], log[600];
    snprintf(args, sizeof args, fmt, a, b);
    snprintf(log, sizeof log, "%s/stderr.txt", test_tmpdir());
    snprintf(cmd, sizeof cmd, "%s %s >/dev/null 2>%s", test_mtrl_bin(), args, log);
    int rc = test_sh("%s", cmd);
    *msg = test_slurp(log);
    assert_non_null(*msg);
    return rc;
}

/* Exit 2, and the error is the last line (after `mtrl run`'s "resuming"
 * line), one line that contains want; none of HDF5's own stack. */
static void expect_refused(const char *fmt, const char *a, const char *b, const char *want)
{
    char *m;
    int rc = run_capture(&m, fmt, a, b);
    size_t n = strlen(m);
    char *last = m;
    for (char *c = m; c + 1 < m + n; c++)
        if (*c == '\n')
            last = c + 1;
    if (rc != 2 || !strstr(last, want) || strstr(m, "HDF5-DIAG") || n == 0 || m[n - 1] != '\n')
        fail_msg("mtrl %s %s: exit %d, want 2 with a last line containing '%s'; got: %s", fmt,
                 a, rc, want, m);
    free(m);
}

static hid_t open_rw(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    return f;
}

static void set_version_i64(const char *path, long long v)
{
    hid_t f = open_rw(path);
    assert_true(H5Adelete(f, "version") >= 0);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "version", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Awrite(a, H5T_NATIVE_LLONG, &v) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Fclose(f);
}

static void set_version_str(const char *path, const char *v)
{
    hid_t f = open_rw(path);
    assert_true(H5Adelete(f, "version") >= 0);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(v) + 1);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "version", t, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Awrite(a, t, v) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    H5Fclose(f);
}

static void set_i64(const char *path, const char *name, int index, long long v)
{
    hid_t f = open_rw(path);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    assert_true(d >= 0);
    long long buf[64];
    hid_t sp = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    assert_true(n > index && n <= 64);
    assert_true(H5Dread(d, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    buf[index] = v;
    assert_true(H5Dwrite(d, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
}

/* Sets every element of a float dataset (or only element `only` >= 0) to v,
 * and drops its checksum attribute (as in a file from before checksums), so
 * what is tested is the check of the values. */
static void set_f32(const char *path, const char *name, long only, float v)
{
    hid_t f = open_rw(path);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    assert_true(d >= 0);
    hid_t sp = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    float *buf = malloc(sizeof(float) * (size_t)n);
    assert_true(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    for (hssize_t i = 0; i < n; i++)
        if (only < 0 || i == only)
            buf[i] = v;
    assert_true(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    if (H5Aexists(d, "mtrl_digest64") > 0)
        assert_true(H5Adelete(d, "mtrl_digest64") >= 0);
    free(buf);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
}

static void test_version_is_checked(void **st)
{
    (void)st;
    const char *d = copy_run("v99");
    char p[700];
    snprintf(p, sizeof p, "%s/checkpoint.h5", d);
    set_version_i64(p, 99);
    expect_refused("eval %s%s", p, "", "newer mtrl");
    expect_refused("run --resume %s --quiet%s", d, "", "newer mtrl");
    set_version_i64(p, -3);
    expect_refused("eval %s%s", p, "", "not valid");
    set_version_str(p, "two");
    expect_refused("eval %s%s", p, "", "not an mtrl checkpoint");
    expect_refused("run --resume %s --quiet%s", d, "", "not an mtrl checkpoint");
}

static void test_counters_are_checked(void **st)
{
    (void)st;
    const struct {
        int index;
        long long v;
        const char *want;
    } cases[] = {
        {0, -200, "iteration -200"},
        {0, 1LL << 62, "iteration 4611686018427387904"},
        {0, 30, "not at an episode boundary"}, /* episodes of 20 steps */
        {0, 60, "outside [0, run.iterations = 40]"},
        {1, -1, "-1 episodes"},
        {1, 1000, "1000 episodes"},
        {2, -5, "consecutive skipped"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *d = copy_run("counters");
        char p[700];
        snprintf(p, sizeof p, "%s/checkpoint.h5", d);
        set_i64(p, "trainer/counters", cases[i].index, cases[i].v);
        expect_refused("run --resume %s --quiet%s", d, "", cases[i].want);
    }
    const char *d = copy_run("agent-counters");
    char p[700];
    snprintf(p, sizeof p, "%s/checkpoint.h5", d);
    set_i64(p, "agent/counters", 0, -7);
    expect_refused("run --resume %s --quiet%s", d, "", "agent/counters");
}

static void test_nonfinite_weights_are_refused(void **st)
{
    (void)st;
    const char *d = copy_run("nan");
    char p[700];
    snprintf(p, sizeof p, "%s/checkpoint.h5", d);
    set_f32(p, "agent/actor/w", -1, NAN);
    /* Before: a normal-looking eval table and exit 0. */
    expect_refused("eval %s%s", p, "", "'agent/actor/w' holds nan");
    expect_refused("run --resume %s --quiet%s", d, "", "'agent/actor/w' holds nan");
    d = copy_run("adam");
    snprintf(p, sizeof p, "%s/checkpoint.h5", d);
    set_f32(p, "agent/critic/adam_m", 7, INFINITY);
    expect_refused("run --resume %s --quiet%s", d, "", "'agent/critic/adam_m' holds inf at [7]");
    d = copy_run("adamv");
    snprintf(p, sizeof p, "%s/checkpoint.h5", d);
    set_f32(p, "agent/actor/adam_v", 3, -1.0f);
    expect_refused("run --resume %s --quiet%s", d, "", "'agent/actor/adam_v'");
}

/* A value changed behind mtrl's back (the checksum left as it was) is
 * refused by the checksum, naming the dataset. */
static void test_changed_values_fail_the_checksum(void **st)
{
    (void)st;
    const char *d = copy_run("sum");
    char p[700];
    snprintf(p, sizeof p, "%s/checkpoint.h5", d);
    hid_t f = open_rw(p);
    hid_t ds = H5Dopen2(f, "agent/critic/w", H5P_DEFAULT);
    float x[1] = {0.125f};
    hsize_t at[1] = {17}, one[1] = {1};
    hid_t fs = H5Dget_space(ds), ms = H5Screate_simple(1, one, NULL);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, at, NULL, one, NULL);
    assert_true(H5Dwrite(ds, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, x) >= 0);
    H5Sclose(ms), H5Sclose(fs), H5Dclose(ds), H5Fclose(f);
    expect_refused("eval %s%s", p, "", "'agent/critic/w' does not match its checksum");
}

/* Issue 15 item 7 (checkpoint half): missing, truncated or not HDF5 is bad
 * input, exit 2, for eval and resume. */
static void test_unreadable_checkpoint_is_bad_input(void **st)
{
    (void)st;
    char p[700];
    snprintf(p, sizeof p, "%s/no-such.h5", test_tmpdir());
    expect_refused("eval %s%s", p, "", "no-such.h5");
    const char *d = copy_run("trunc");
    snprintf(p, sizeof p, "%s/checkpoint.h5", d);
    assert_int_equal(truncate(p, 5000), 0);
    expect_refused("eval %s%s", p, "", "checkpoint.h5");
    expect_refused("run --resume %s --quiet%s", d, "", "checkpoint.h5");
    d = copy_run("text");
    snprintf(p, sizeof p, "%s/checkpoint.h5", d);
    FILE *f = fopen(p, "w");
    fputs("not a checkpoint\n", f);
    fclose(f);
    expect_refused("eval %s%s", p, "", "not an HDF5 file");
    expect_refused("run --resume %s --quiet%s", d, "", "not an HDF5 file");
}

/* ---- bit flips ---- */

typedef struct item {
    char name[256];
    int is_attr;
    char obj[256]; /* attribute: the object it is on */
    H5T_class_t cls;
    size_t size;
} item;

typedef struct catalog {
    item it[512];
    int n;
} catalog;

static herr_t attr_cb(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    (void)info;
    catalog *c = data;
    if (c->n >= 512)
        return 0;
    item *it = &c->it[c->n++];
    memset(it, 0, sizeof *it);
    it->is_attr = 1;
    snprintf(it->name, sizeof it->name, "%s", name);
    ssize_t k = H5Iget_name(loc, it->obj, sizeof it->obj);
    assert_true(k > 0);
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t t = H5Aget_type(a);
    it->cls = H5Tget_class(t);
    H5Tclose(t);
    H5Aclose(a);
    return 0;
}

static herr_t visit_cb(hid_t root, const char *name, const H5O_info_t *info, void *data)
{
    catalog *c = data;
    hid_t o = H5Oopen(root, name, H5P_DEFAULT);
    H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, attr_cb, c);
    if (info->type == H5O_TYPE_DATASET && c->n < 512) {
        item *it = &c->it[c->n++];
        memset(it, 0, sizeof *it);
        snprintf(it->name, sizeof it->name, "%s", name);
        hid_t t = H5Dget_type(o);
        it->cls = H5Tget_class(t);
        it->size = H5Tget_size(t);
        H5Tclose(t);
    }
    H5Oclose(o);
    return 0;
}

/* Every dataset and attribute of the file, as h5io reads it: its bytes in a
 * buffer (*out, *len), or nonzero if h5io refuses it. */
static int read_item(h5_file *f, const item *it, void **out, size_t *len)
{
    mtrl_err e = {0};
    *out = NULL;
    *len = 0;
    if (it->is_attr) {
        if (it->cls == H5T_STRING) {
            char *s = malloc(1 << 16);
            int rc = h5_read_attr_str(f, it->obj, it->name, s, 1 << 16, &e);
            *out = s, *len = rc ? 0 : strlen(s) + 1;
            return rc;
        }
        double *x = malloc(sizeof(double) * 2);
        int rc = it->cls == H5T_FLOAT ? h5_read_attr_f64(f, it->obj, it->name, x, &e)
                                      : h5_read_attr_i64(f, it->obj, it->name, (int64_t *)x, &e);
        *out = x, *len = sizeof(double);
        return rc;
    }
    int rank;
    long dims[H5IO_MAX_RANK];
    int rc;
    size_t es;
    if (it->cls == H5T_FLOAT && it->size == 4)
        rc = h5_read_f32(f, it->name, &rank, dims, (float **)out, &e), es = 4;
    else if (it->cls == H5T_FLOAT)
        rc = h5_read_f64(f, it->name, &rank, dims, (double **)out, &e), es = 8;
    else if (it->size == 1)
        rc = h5_read_u8(f, it->name, &rank, dims, (uint8_t **)out, &e), es = 1;
    else
        rc = h5_read_i64(f, it->name, &rank, dims, (int64_t **)out, &e), es = 8;
    if (rc)
        return rc;
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)dims[i];
    *len = n * es + sizeof(long) * (size_t)rank;
    *out = realloc(*out, *len ? *len : 1);
    memcpy((char *)*out + n * es, dims, sizeof(long) * (size_t)rank);
    return 0;
}

static void flip(const char *path, long off, unsigned char mask)
{
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, off, SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, off, SEEK_SET);
    fputc(c ^ mask, fp);
    fclose(fp);
}

/* Flip bytes all over a real checkpoint: every read of every dataset and
 * attribute is refused or gives the original's bytes, and `mtrl eval` either
 * refuses with exit 2 and one line or prints the original's table. Before
 * the checksums, half the flips loaded silently different weights. */
static void test_bit_flips_never_load_a_different_checkpoint(void **st)
{
    (void)st;
    catalog *cat = calloc(1, sizeof *cat);
    hid_t fid = H5Fopen(ckpt, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(fid >= 0);
    H5Aiterate2(fid, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, attr_cb, cat);
    assert_true(H5Ovisit(fid, H5_INDEX_NAME, H5_ITER_NATIVE, visit_cb, cat) >= 0);
    H5Fclose(fid);
    assert_true(cat->n > 30);

    void **orig = calloc((size_t)cat->n, sizeof *orig);
    size_t *olen = calloc((size_t)cat->n, sizeof *olen);
    h5_file *f;
    mtrl_err e = {0};
    assert_int_equal(h5_open(&f, ckpt, &e), 0);
    for (int i = 0; i < cat->n; i++)
        if (read_item(f, &cat->it[i], &orig[i], &olen[i]))
            fail_msg("cannot read %s of the original", cat->it[i].name);
    h5_close(f);

    char *table0, out[700], cmd[4096];
    snprintf(out, sizeof out, "%s/eval0.txt", test_tmpdir());
    assert_int_equal(test_sh("%s eval %s >%s 2>/dev/null", test_mtrl_bin(), ckpt, out), 0);
    table0 = test_slurp(out);

    struct stat sb;
    assert_int_equal(stat(ckpt, &sb), 0);
    long size = (long)sb.st_size;
    char flipped[700];
    snprintf(flipped, sizeof flipped, "%s/flipped.h5", test_tmpdir());
    int refused = 0, same = 0, evals = 0;
    const int N = 240;
    for (int t = 0; t < N; t++) {
        /* The superblock densely, then offsets spread over the file. */
        long off = t < 40 ? t * 3 : 120 + (long)((double)(t - 40) / (N - 40) * (size - 121));
        assert_int_equal(test_sh("cp %s %s", ckpt, flipped), 0);
        flip(flipped, off, (unsigned char)(1u << (t % 8)));
        int bad = 0;
        if (h5_open(&f, flipped, &e)) {
            bad = 1;
        } else {
            for (int i = 0; i < cat->n; i++) {
                void *x;
                size_t len;
                if (read_item(f, &cat->it[i], &x, &len)) {
                    bad = 1;
                } else if (len != olen[i] || memcmp(x, orig[i], len)) {
                    fail_msg("flip at offset %ld: '%s'%s read back different, silently", off,
                             cat->it[i].name, cat->it[i].is_attr ? " (attribute)" : "");
                }
                free(x);
            }
            h5_close(f);
        }
        refused += bad;
        same += !bad;
        if (t % 4 == 0) {
            /* The command: refused (exit 2, one line) or exactly the original table. */
            evals++;
            char log[700];
            snprintf(log, sizeof log, "%s/eval.err", test_tmpdir());
            snprintf(cmd, sizeof cmd, "%s eval %s >%s 2>%s", test_mtrl_bin(), flipped, out, log);
            int rc = test_sh("%s", cmd);
            char *table = test_slurp(out), *msg = test_slurp(log);
            if (rc == 2) {
                if (!strstr(msg, "mtrl eval: ") || strchr(msg, '\n') != msg + strlen(msg) - 1)
                    fail_msg("flip at offset %ld: want one line, got: %s", off, msg);
            } else if (rc != 0 || strcmp(table, table0)) {
                fail_msg("flip at offset %ld: eval exit %d, table %s", off, rc, table);
            }
            free(table);
            free(msg);
        }
    }
    print_message("bit flips: %d refused, %d loaded identical (%d through mtrl eval), file %ld "
                  "bytes\n",
                  refused, same, evals, size);
    assert_true(refused > N / 2);
    for (int i = 0; i < cat->n; i++)
        free(orig[i]);
    free(orig);
    free(olen);
    free(cat);
    free(table0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_is_checked),
        cmocka_unit_test(test_counters_are_checked),
        cmocka_unit_test(test_nonfinite_weights_are_refused),
        cmocka_unit_test(test_changed_values_fail_the_checksum),
        cmocka_unit_test(test_unreadable_checkpoint_is_bad_input),
        cmocka_unit_test(test_bit_flips_never_load_a_different_checkpoint),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
