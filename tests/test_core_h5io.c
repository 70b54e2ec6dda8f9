#include "testutil.h"

#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/h5io.h"

static void path_in_tmp(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", test_tmpdir(), name);
}

/* Number of directory entries whose name starts with prefix. */
static int count_prefixed(const char *prefix)
{
    DIR *d = opendir(test_tmpdir());
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += !strncmp(de->d_name, prefix, strlen(prefix));
    closedir(d);
    return n;
}

static void assert_no_open_hdf5_objects(void)
{
    assert_int_equal(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0);
}

/* Writes a small file whose contents depend on tag, so two versions differ. */
static void write_versioned(const char *path, float tag)
{
    mtrl_err e = {0};
    h5_file *f;
    assert_int_equal(h5_create(&f, path, &e), 0);
    float v[6];
    for (int i = 0; i < 6; i++)
        v[i] = tag + (float)i;
    long d[2] = {2, 3};
    assert_int_equal(h5_write_f32(f, "w", 2, d, v, &e), 0);
    assert_int_equal(h5_write_attr_f64(f, NULL, "tag", tag, &e), 0);
    assert_int_equal(h5_commit(f, &e), 0);
}

static float read_tag(const char *path)
{
    mtrl_err e = {0};
    h5_file *f;
    assert_int_equal(h5_open(&f, path, &e), 0);
    float v[6];
    assert_int_equal(h5_read_f32_into(f, "w", 6, v, &e), 0);
    double tag;
    assert_int_equal(h5_read_attr_f64(f, NULL, "tag", &tag, &e), 0);
    h5_close(f);
    for (int i = 0; i < 6; i++)
        assert_true(v[i] == (float)tag + (float)i);
    return (float)tag;
}

static void test_roundtrip_all_types(void **st)
{
    (void)st;
    char path[512];
    path_in_tmp(path, sizeof path, "rt.h5");
    mtrl_err e = {0};
    h5_file *f;
    assert_int_equal(h5_create(&f, path, &e), 0);

    float f32[2 * 3 * 4];
    for (int i = 0; i < 24; i++)
        f32[i] = (float)i * 0.25f - 3.0f;
    f32[5] = -0.0f;
    f32[7] = 1e-38f;
    long d3[3] = {2, 3, 4};
    assert_int_equal(h5_write_f32(f, "nets/actor/w", 3, d3, f32, &e), 0);

    double f64[5] = {M_PI, -1e300, 1e-310, 0.1, 42.0};
    long d1[1] = {5};
    assert_int_equal(h5_write_f64(f, "nets/actor/b", 1, d1, f64, &e), 0);

    int64_t i64[2 * 2 * 1 * 3];
    for (int i = 0; i < 12; i++)
        i64[i] = (i % 2 ? -1 : 1) * ((int64_t)1 << (5 * i % 63));
    i64[11] = INT64_MIN;
    long d4[4] = {2, 2, 1, 3};
    assert_int_equal(h5_write_i64(f, "replay/idx", 4, d4, i64, &e), 0);

    uint8_t u8[7] = {0, 1, 127, 128, 200, 254, 255};
    long d7[1] = {7};
    assert_int_equal(h5_write_u8(f, "replay/done", 1, d7, u8, &e), 0);

    double scalar = 2.5;
    assert_int_equal(h5_write_f64(f, "step_size", 0, NULL, &scalar, &e), 0);
    long d0[2] = {0, 39};
    assert_int_equal(h5_write_f32(f, "empty", 2, d0, NULL, &e), 0);

    assert_int_equal(h5_write_attr_str(f, NULL, "config", "agent:\n  lr: 3e-4\n", &e), 0);
    assert_int_equal(h5_write_attr_str(f, "/", "empty_str", "", &e), 0);
    assert_int_equal(h5_write_attr_i64(f, NULL, "step", 1234567890123LL, &e), 0);
    assert_int_equal(h5_write_attr_f64(f, "nets/actor/w", "scale", -0.125, &e), 0);
    assert_int_equal(h5_write_attr_i64(f, "nets", "version", 3, &e), 0);
    assert_int_equal(h5_mkgroup(f, "meta/run", &e), 0);
    assert_int_equal(h5_mkgroup(f, "meta/run", &e), 0); /* existing is fine */
    assert_int_equal(h5_write_attr_str(f, "meta/run", "name", "mt10-cagrad", &e), 0);
    assert_int_equal(h5_mkgroup(f, "step_size", &e), MTRL_EINPUT);
    /* Rewriting an attribute replaces it (and may change its size). */
    assert_int_equal(h5_write_attr_str(f, NULL, "config", "short", &e), 0);
    assert_int_equal(h5_commit(f, &e), 0);
    assert_no_open_hdf5_objects();

    assert_int_equal(h5_open(&f, path, &e), 0);
    assert_string_equal(h5_path(f), path);
    assert_int_equal(h5_has(f, "nets"), 1);
    assert_int_equal(h5_has(f, "nets/actor/w"), 1);
    assert_int_equal(h5_has(f, "nets/critic/w"), 0);
    assert_int_equal(h5_has(f, "nope/deeper/x"), 0);

    int rank;
    long dims[H5IO_MAX_RANK];
    float *rf;
    assert_int_equal(h5_read_f32(f, "nets/actor/w", &rank, dims, &rf, &e), 0);
    assert_int_equal(rank, 3);
    assert_int_equal(dims[0], 2);
    assert_int_equal(dims[1], 3);
    assert_int_equal(dims[2], 4);
    assert_memory_equal(rf, f32, sizeof f32); /* bit-exact, including -0 */
    free(rf);

    double *rd;
    assert_int_equal(h5_read_f64(f, "nets/actor/b", &rank, dims, &rd, &e), 0);
    assert_int_equal(rank, 1);
    assert_int_equal(dims[0], 5);
    assert_memory_equal(rd, f64, sizeof f64);
    free(rd);

    int64_t *ri;
    assert_int_equal(h5_read_i64(f, "replay/idx", &rank, dims, &ri, &e), 0);
    assert_int_equal(rank, 4);
    assert_int_equal(dims[0] * dims[1] * dims[2] * dims[3], 12);
    assert_int_equal(dims[3], 3);
    assert_memory_equal(ri, i64, sizeof i64);
    free(ri);

    uint8_t *ru;
    assert_int_equal(h5_read_u8(f, "replay/done", &rank, dims, &ru, &e), 0);
    assert_memory_equal(ru, u8, sizeof u8);
    free(ru);

    double s;
    assert_int_equal(h5_read_f64_into(f, "step_size", 1, &s, &e), 0);
    assert_true(s == 2.5);
    assert_int_equal(h5_read_f64(f, "step_size", &rank, dims, &rd, &e), 0);
    assert_int_equal(rank, 0);
    free(rd);

    assert_int_equal(h5_read_f32(f, "empty", &rank, dims, &rf, &e), 0);
    assert_int_equal(rank, 2);
    assert_int_equal(dims[0], 0);
    assert_int_equal(dims[1], 39);
    free(rf);

    /* _into variants, and numeric conversion between types. */
    float bf[24];
    assert_int_equal(h5_read_f32_into(f, "nets/actor/w", 24, bf, &e), 0);
    assert_memory_equal(bf, f32, sizeof f32);
    int64_t bi[12];
    assert_int_equal(h5_read_i64_into(f, "replay/idx", 12, bi, &e), 0);
    assert_memory_equal(bi, i64, sizeof i64);
    uint8_t bu[7];
    assert_int_equal(h5_read_u8_into(f, "replay/done", 7, bu, &e), 0);
    assert_memory_equal(bu, u8, sizeof u8);
    double conv[7];
    assert_int_equal(h5_read_f64_into(f, "replay/done", 7, conv, &e), 0);
    for (int i = 0; i < 7; i++)
        assert_true(conv[i] == (double)u8[i]);

    char buf[64];
    assert_int_equal(h5_read_attr_str(f, NULL, "config", buf, sizeof buf, &e), 0);
    assert_string_equal(buf, "short");
    assert_int_equal(h5_read_attr_str(f, "/", "empty_str", buf, sizeof buf, &e), 0);
    assert_string_equal(buf, "");
    int64_t step;
    assert_int_equal(h5_read_attr_i64(f, NULL, "step", &step, &e), 0);
    assert_true(step == 1234567890123LL);
    double sc;
    assert_int_equal(h5_read_attr_f64(f, "nets/actor/w", "scale", &sc, &e), 0);
    assert_true(sc == -0.125);
    assert_int_equal(h5_read_attr_i64(f, "nets", "version", &step, &e), 0);
    assert_true(step == 3);
    assert_int_equal(h5_has(f, "meta/run"), 1);
    assert_int_equal(h5_read_attr_str(f, "meta/run", "name", buf, sizeof buf, &e), 0);
    assert_string_equal(buf, "mt10-cagrad");
    h5_close(f);
    assert_no_open_hdf5_objects();
}

/* What h5py and numpy see: standard little-endian types, row-major dims as
 * given, checked through the raw HDF5 API rather than our readers. */
static void test_file_uses_standard_types(void **st)
{
    (void)st;
    char path[512];
    path_in_tmp(path, sizeof path, "types.h5");
    mtrl_err e = {0};
    h5_file *f;
    assert_int_equal(h5_create(&f, path, &e), 0);
    float a[6] = {0};
    double b[6] = {0};
    int64_t c[6] = {0};
    uint8_t d[6] = {0};
    long dims[2] = {2, 3};
    assert_int_equal(h5_write_f32(f, "a", 2, dims, a, &e), 0);
    assert_int_equal(h5_write_f64(f, "g/b", 2, dims, b, &e), 0);
    assert_int_equal(h5_write_i64(f, "g/c", 2, dims, c, &e), 0);
    assert_int_equal(h5_write_u8(f, "g/h/d", 2, dims, d, &e), 0);
    assert_int_equal(h5_write_attr_str(f, NULL, "s", "abc", &e), 0);
    assert_int_equal(h5_commit(f, &e), 0);

    hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(fid >= 0);
    const char *names[4] = {"a", "g/b", "g/c", "g/h/d"};
    hid_t want[4] = {H5T_IEEE_F32LE, H5T_IEEE_F64LE, H5T_STD_I64LE, H5T_STD_U8LE};
    for (int i = 0; i < 4; i++) {
        hid_t ds = H5Dopen2(fid, names[i], H5P_DEFAULT);
        assert_true(ds >= 0);
        hid_t t = H5Dget_type(ds);
        assert_true(H5Tequal(t, want[i]) > 0);
        hid_t sp = H5Dget_space(ds);
        hsize_t hd[2];
        assert_int_equal(H5Sget_simple_extent_ndims(sp), 2);
        H5Sget_simple_extent_dims(sp, hd, NULL);
        assert_true(hd[0] == 2 && hd[1] == 3);
        H5Sclose(sp);
        H5Tclose(t);
        H5Dclose(ds);
    }
    hid_t at = H5Aopen(fid, "s", H5P_DEFAULT);
    hid_t t = H5Aget_type(at);
    assert_int_equal(H5Tget_class(t), H5T_STRING);
    assert_int_equal(H5Tis_variable_str(t), 0);
    H5Tclose(t);
    H5Aclose(at);
    H5Fclose(fid);
    assert_no_open_hdf5_objects();
}

/* h5py stores a Python str attribute as a variable-length string; reading
 * such files (e.g. annotated by a user script) must work too. */
static void test_reads_variable_length_string_attr(void **st)
{
    (void)st;
    char path[512];
    path_in_tmp(path, sizeof path, "vlen.h5");
    hid_t fid = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(fid, "note", t, sp, H5P_DEFAULT, H5P_DEFAULT);
    const char *val = "written by h5py";
    assert_true(H5Awrite(a, t, &val) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    H5Fclose(fid);

    mtrl_err e = {0};
    h5_file *f;
    assert_int_equal(h5_open(&f, path, &e), 0);
    char buf[64];
    assert_int_equal(h5_read_attr_str(f, NULL, "note", buf, sizeof buf, &e), 0);
    assert_string_equal(buf, val);
    char small[4];
    assert_int_equal(h5_read_attr_str(f, NULL, "note", small, sizeof small, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "note"));
    h5_close(f);
    assert_no_open_hdf5_objects();
}

static void test_clear_errors(void **st)
{
    (void)st;
    mtrl_err e = {0};
    h5_file *f;
    char path[512];

    path_in_tmp(path, sizeof path, "does-not-exist.h5");
    assert_int_equal(h5_open(&f, path, &e), MTRL_EINPUT);
    assert_null(f);
    assert_non_null(strstr(e.msg, path));
    assert_non_null(strstr(e.msg, "No such file"));

    path_in_tmp(path, sizeof path, "text.h5");
    FILE *fp = fopen(path, "w");
    fputs("this is not hdf5\n", fp);
    fclose(fp);
    assert_int_equal(h5_open(&f, path, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, path));
    assert_non_null(strstr(e.msg, "not an HDF5 file"));

    path_in_tmp(path, sizeof path, "nodir/x/file.h5");
    assert_int_equal(h5_create(&f, path, &e), MTRL_EIO);
    assert_null(f);
    assert_non_null(strstr(e.msg, path));

    path_in_tmp(path, sizeof path, "err.h5");
    assert_int_equal(h5_create(&f, path, &e), 0);
    float v[4] = {1, 2, 3, 4};
    long d[5] = {1, 1, 1, 2, 2};
    assert_int_equal(h5_write_f32(f, "five", 5, d, v, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "five"));
    long d2[2] = {2, 2};
    assert_int_equal(h5_write_f32(f, "a/b", 2, d2, v, &e), 0);
    assert_int_equal(h5_write_f32(f, "a/b", 2, d2, v, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "already exists"));
    assert_int_equal(h5_write_f32(f, "a/b/c", 2, d2, v, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "'a/b' is not a group"));
    long dn[1] = {-1};
    assert_int_equal(h5_write_f32(f, "neg", 1, dn, v, &e), MTRL_EINPUT);
    assert_int_equal(h5_write_attr_i64(f, "missing/obj", "x", 1, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "missing/obj"));
    assert_int_equal(h5_commit(f, &e), 0);

    assert_int_equal(h5_open(&f, path, &e), 0);
    float buf[8];
    assert_int_equal(h5_read_f32_into(f, "a/missing", 4, buf, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "a/missing"));
    assert_non_null(strstr(e.msg, path));
    assert_int_equal(h5_read_f32_into(f, "a/b", 6, buf, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "a/b"));
    assert_non_null(strstr(e.msg, "[2, 2]"));
    assert_non_null(strstr(e.msg, "expected 6"));
    /* A group is not a dataset. */
    assert_int_equal(h5_read_f32_into(f, "a", 4, buf, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "'a'"));
    int64_t x;
    assert_int_equal(h5_read_attr_i64(f, NULL, "nope", &x, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "nope"));
    /* Read-only files refuse writes with a message, not a crash. */
    assert_int_equal(h5_write_f32(f, "c", 2, d2, v, &e), MTRL_EINPUT);
    h5_close(f);
    assert_no_open_hdf5_objects();
}

static void test_commit_replaces_atomically(void **st)
{
    (void)st;
    char path[512];
    path_in_tmp(path, sizeof path, "ckpt.h5");
    write_versioned(path, 1.0f);
    assert_true(read_tag(path) == 1.0f);
    write_versioned(path, 2.0f);
    assert_true(read_tag(path) == 2.0f);
    assert_int_equal(count_prefixed("ckpt.h5.tmp-"), 0);

    /* While a new version is being written, readers still see the old one. */
    mtrl_err e = {0};
    h5_file *f;
    assert_int_equal(h5_create(&f, path, &e), 0);
    assert_int_equal(count_prefixed("ckpt.h5.tmp-"), 1);
    assert_true(read_tag(path) == 2.0f);
    float v[6] = {0};
    long d[2] = {2, 3};
    assert_int_equal(h5_write_f32(f, "w", 2, d, v, &e), 0);
    assert_true(read_tag(path) == 2.0f);
    h5_abort(f);
    assert_true(read_tag(path) == 2.0f);
    assert_int_equal(count_prefixed("ckpt.h5.tmp-"), 0);

    /* h5_close on a writer is an abort too. */
    assert_int_equal(h5_create(&f, path, &e), 0);
    assert_int_equal(h5_write_f32(f, "w", 2, d, v, &e), 0);
    h5_close(f);
    assert_true(read_tag(path) == 2.0f);
    assert_int_equal(count_prefixed("ckpt.h5.tmp-"), 0);
    assert_no_open_hdf5_objects();
}

/* A process that dies mid-write (no commit, no abort) must not damage the
 * previous file: only its own temp file is left behind. */
static void test_crash_before_commit_keeps_old_file(void **st)
{
    (void)st;
    char path[512];
    path_in_tmp(path, sizeof path, "crash.h5");
    write_versioned(path, 7.0f);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        mtrl_err e = {0};
        h5_file *f;
        if (h5_create(&f, path, &e))
            _exit(3);
        static float big[256 * 1024];
        for (size_t i = 0; i < sizeof big / sizeof *big; i++)
            big[i] = 99.0f;
        long d[2] = {1024, 256};
        if (h5_write_f32(f, "w", 2, d, big, &e))
            _exit(4);
        if (h5_write_attr_f64(f, NULL, "tag", 99.0, &e))
            _exit(5);
        _exit(0); /* dies without commit */
    }
    int status;
    assert_true(waitpid(pid, &status, 0) == pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    assert_true(read_tag(path) == 7.0f);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)pid);
    assert_int_equal(access(tmp, F_OK), 0); /* the crashed writer's leftover */
    unlink(tmp);

    /* A later writer commits normally over the old file. */
    write_versioned(path, 8.0f);
    assert_true(read_tag(path) == 8.0f);
    assert_int_equal(count_prefixed("crash.h5.tmp-"), 0);
}

/* Killed by a signal in the middle of a stream of writes (not at a point of
 * its own choosing): the old file still reads back. */
static void test_killed_mid_write_keeps_old_file(void **st)
{
    (void)st;
    char path[512];
    path_in_tmp(path, sizeof path, "killed.h5");
    write_versioned(path, 5.0f);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        mtrl_err e = {0};
        h5_file *f;
        if (h5_create(&f, path, &e))
            _exit(3);
        static float row[4096];
        long d[1] = {4096};
        char name[32];
        for (long i = 0;; i++) {
            snprintf(name, sizeof name, "g%ld/w", i);
            if (h5_write_f32(f, name, 1, d, row, &e))
                _exit(4);
            if (i == 10 && write(pfd[1], "x", 1) != 1)
                _exit(5);
        }
    }
    close(pfd[1]);
    char c;
    assert_int_equal(read(pfd[0], &c, 1), 1);
    close(pfd[0]);
    kill(pid, SIGKILL);
    int status;
    assert_true(waitpid(pid, &status, 0) == pid);
    assert_true(WIFSIGNALED(status));
    assert_true(read_tag(path) == 5.0f);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)pid);
    unlink(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_all_types),
        cmocka_unit_test(test_file_uses_standard_types),
        cmocka_unit_test(test_reads_variable_length_string_attr),
        cmocka_unit_test(test_clear_errors),
        cmocka_unit_test(test_commit_replaces_atomically),
        cmocka_unit_test(test_crash_before_commit_keeps_old_file),
        cmocka_unit_test(test_killed_mid_write_keeps_old_file),
    };
    return cmocka_run_group_tests(tests, NULL, test_rm_tmpdir);
}
