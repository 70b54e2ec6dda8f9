/* h5io against hostile files: shapes whose sizes overflow, datasets that
 * claim terabytes in a kilobyte file, damaged bytes (checksums), and HDF5's
 * error stack turned into one line. The hostile files are made here with the
 * HDF5 C API: a chunked dataset of any shape costs nothing on disk. */
#include "testutil.h"

#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/h5io.h"

static void tmp_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", test_tmpdir(), name);
}

/* A file holding one chunked float32 dataset `name` of the given shape and
 * no data at all. */
static void write_claim(const char *path, const char *name, int rank, const hsize_t *dims)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t chunk[4] = {1, 1, 1, 1};
    assert_true(H5Pset_chunk(dcpl, rank, chunk) >= 0);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t d = H5Dcreate2(f, name, H5T_IEEE_F32LE, sp, lcpl, dcpl, H5P_DEFAULT);
    assert_true(d >= 0);
    H5Dclose(d);
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Fclose(f);
}

static long file_size(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return (long)sb.st_size;
}

/* Opens path and reads its dataset "G" (float32, or float64 if f64): the
 * read must be refused as bad input, leave no buffer, and say `what` (if not
 * NULL). */
static void expect_refused(const char *path, int f64, const char *what)
{
    h5_file *f;
    mtrl_err e = {0};
    assert_int_equal(h5_open(&f, path, &e), 0);
    int rank;
    long d[H5IO_MAX_RANK];
    if (f64) {
        double *y = (double *)1;
        assert_int_equal(h5_read_f64(f, "G", &rank, d, &y, &e), MTRL_EINPUT);
        assert_null(y);
    } else {
        float *x = (float *)1;
        assert_int_equal(h5_read_f32(f, "G", &rank, d, &x, &e), MTRL_EINPUT);
        assert_null(x);
    }
    if (what)
        assert_non_null(strstr(e.msg, what));
    h5_close(f);
}

/* Issue 15 item 1: (2^31, 2^31) float32 wrapped count * esize to 0 and
 * H5Dread wrote past a tiny buffer. */
static void test_overflowing_2d_shape_is_refused(void **st)
{
    (void)st;
    char path[512];
    tmp_path(path, sizeof path, "g2d.h5");
    hsize_t dims[2] = {1ull << 31, 1ull << 31};
    write_claim(path, "G", 2, dims);
    assert_true(file_size(path) < 8192);
    expect_refused(path, 0, "'G'");
    expect_refused(path, 0, "[2147483648, 2147483648]");
    expect_refused(path, 1, NULL);
}

static void test_overflowing_3d_shape_is_refused(void **st)
{
    (void)st;
    char path[512];
    tmp_path(path, sizeof path, "g3d.h5");
    hsize_t dims[3] = {1ull << 22, 1ull << 22, 1ull << 22}; /* 2^66 elements */
    write_claim(path, "G", 3, dims);
    expect_refused(path, 0, "too many elements");
    /* 2^21 x 2^21 x 2^18 = 2^60 elements: no wrap in 64 bits, but count * 8 would. */
    tmp_path(path, sizeof path, "g3d-b.h5");
    hsize_t dims2[3] = {1ull << 21, 1ull << 21, 1ull << 18};
    write_claim(path, "G", 3, dims2);
    expect_refused(path, 0, NULL);
}

/* (2^62 + 730) x 4 elements wraps to 2920, the size of a tiny actor. */
static void test_wrapping_count_fails_the_expected_size(void **st)
{
    (void)st;
    char path[512];
    tmp_path(path, sizeof path, "actor.h5");
    hsize_t dims[2] = {(1ull << 62) + 730, 4};
    write_claim(path, "agent/actor/w", 2, dims);
    h5_file *f;
    mtrl_err e = {0};
    assert_int_equal(h5_open(&f, path, &e), 0);
    float *buf = calloc(2920, sizeof(float));
    assert_int_equal(h5_read_f32_into(f, "agent/actor/w", 2920, buf, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "agent/actor/w"));
    assert_non_null(strstr(e.msg, "4611686018427388634"));
    free(buf);
    h5_close(f);
}

/* No wrap, but 2^20 x 2^20 float32 (4 TiB) with no data in a 2 KB file:
 * refused before allocating. */
static void test_sparse_claim_is_refused_before_allocating(void **st)
{
    (void)st;
    char path[512];
    tmp_path(path, sizeof path, "sparse.h5");
    hsize_t dims[2] = {1ull << 20, 1ull << 20};
    write_claim(path, "G", 2, dims);
    expect_refused(path, 0, "does not hold its data");
}

/* Found by fuzz_combine: an element type of 4 GB made HDF5's conversion
 * buffer a 4 GB allocation (an OOM under the fuzzer, a stall otherwise). */
static void test_giant_element_type_is_refused(void **st)
{
    (void)st;
    expect_refused("tests/fuzz/regress/combine/g-4gb-elements.h5", 0, "4294967293-byte elements");
}

/* Found by fuzz_combine: a 2 KB file in the original (unchecksummed) format
 * on which libhdf5 1.10.8 itself reads through a NULL pointer (SIGSEGV in
 * H5Lexists). h5_open has a child process walk the file first. */
static void test_file_that_crashes_libhdf5_is_refused(void **st)
{
    (void)st;
    h5_file *f = (h5_file *)1;
    mtrl_err e = {0};
    assert_int_equal(h5_open(&f, "tests/fuzz/regress/combine/h5py-style-null-read.h5", &e),
                     MTRL_EINPUT);
    assert_null(f);
    assert_non_null(strstr(e.msg, "damaged HDF5 file"));
}

/* Checksums: every dataset h5io writes is verified on read, large (digest
 * attribute) and small (compact, object header checksum) alike. */
static void flip_byte(const char *path, long off)
{
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, off, SEEK_SET), 0);
    int c = fgetc(fp);
    assert_true(c != EOF);
    assert_int_equal(fseek(fp, off, SEEK_SET), 0);
    fputc(c ^ 0x5a, fp);
    fclose(fp);
}

/* Offset of the first occurrence of needle (n bytes) in the file, or -1. */
static long find_bytes(const char *path, const void *needle, size_t n)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)size);
    assert_int_equal(fread(b, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    long at = -1;
    for (long i = 0; i + (long)n <= size && at < 0; i++)
        if (!memcmp(b + i, needle, n))
            at = i;
    free(b);
    return at;
}

static void test_flipped_data_is_refused_naming_the_dataset(void **st)
{
    (void)st;
    char path[512];
    tmp_path(path, sizeof path, "sum.h5");
    enum { N = 5000 };
    float *big = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++)
        big[i] = 1000.0f + (float)i;
    float small[3] = {123.25f, 456.5f, 789.75f};
    mtrl_err e = {0};
    h5_file *f;
    assert_int_equal(h5_create(&f, path, &e), 0);
    long nb = N, ns = 3;
    assert_int_equal(h5_write_f32(f, "net/big", 1, &nb, big, &e), 0);
    assert_int_equal(h5_write_f32(f, "net/small", 1, &ns, small, &e), 0);
    assert_int_equal(h5_commit(f, &e), 0);

    char copy[512];
    tmp_path(copy, sizeof copy, "sum-flip.h5");
    const struct {
        const char *name;
        const void *needle;
        long count;
    } cases[2] = {{"net/big", big + 2500, N}, {"net/small", small + 1, 3}};
    for (int c = 0; c < 2; c++) {
        assert_int_equal(test_sh("cp %s %s", path, copy), 0);
        long off = find_bytes(copy, cases[c].needle, sizeof(float));
        assert_true(off > 0);
        flip_byte(copy, off + 1);
        float *buf = malloc(N * sizeof(float));
        int rc = h5_open(&f, copy, &e);
        if (rc == 0) {
            rc = h5_read_f32_into(f, cases[c].name, cases[c].count, buf, &e);
            h5_close(f);
        }
        assert_int_equal(rc, MTRL_EINPUT);
        if (c == 0)
            assert_non_null(strstr(e.msg, "'net/big'"));
        assert_null(strchr(e.msg, '\n'));
        free(buf);
    }
    free(big);
}

/* The error stack goes where the cli asks (--verbose), the message stays one line. */
static void test_error_stream_gets_the_stack(void **st)
{
    (void)st;
    char path[512];
    tmp_path(path, sizeof path, "sum.h5");
    char copy[512];
    tmp_path(copy, sizeof copy, "sum-flip2.h5");
    assert_int_equal(test_sh("cp %s %s", path, copy), 0);
    assert_int_equal(truncate(copy, 300), 0); /* HDF5 refuses it: "truncated file" */
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    h5_set_error_stream(mem);
    h5_file *f;
    mtrl_err e = {0};
    assert_int_equal(h5_open(&f, copy, &e), MTRL_EINPUT);
    h5_set_error_stream(NULL);
    fclose(mem);
    assert_non_null(strstr(text, "HDF5-DIAG"));
    assert_non_null(strstr(e.msg, "truncated"));
    assert_null(strchr(e.msg, '\n'));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overflowing_2d_shape_is_refused),
        cmocka_unit_test(test_overflowing_3d_shape_is_refused),
        cmocka_unit_test(test_wrapping_count_fails_the_expected_size),
        cmocka_unit_test(test_sparse_claim_is_refused_before_allocating),
        cmocka_unit_test(test_giant_element_type_is_refused),
        cmocka_unit_test(test_file_that_crashes_libhdf5_is_refused),
        cmocka_unit_test(test_flipped_data_is_refused_naming_the_dataset),
        cmocka_unit_test(test_error_stream_gets_the_stack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
