/* Shared by the end-to-end tests: writing the files mtrl reads (configs,
 * run logs), looking inside what it wrote (a text file's content, the
 * checkpoint's datasets and iteration). The test fails where a file cannot
 * be written or read. */
#ifndef MTRL_E2E_UTIL_H
#define MTRL_E2E_UTIL_H

#include "testutil.h"

#include "core/h5io.h"

/* Opens the printf-formatted path with mode ("w", "a"). */
static inline FILE *e2e_open(const char *mode, const char *fmt, ...)
{
    char path[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    FILE *f = fopen(path, mode);
    if (!f)
        fail_msg("cannot open %s", path);
    return f;
}

/* Writes the printf-formatted text to path (a whole file). */
static inline void e2e_write_file(const char *path, const char *fmt, ...)
{
    FILE *f = e2e_open("w", "%s", path);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
}

/* The file at path holds needle (else the test fails, showing the file). */
static inline void e2e_assert_file_has(const char *path, const char *needle)
{
    char *s = test_slurp(path);
    if (!s || !strstr(s, needle))
        fail_msg("%s: no \"%s\" in:\n%s", path, needle, s ? s : "(unreadable)");
    free(s);
}

/* Dataset name of the HDF5 file path as floats (caller frees); *n: its
 * number of elements over every dimension. */
static inline float *e2e_read_f32(const char *path, const char *name, long *n)
{
    h5_file *f;
    mtrl_err e = {0};
    if (h5_open(&f, path, &e))
        fail_msg("%s", e.msg);
    int rank;
    long dims[H5IO_MAX_RANK];
    float *x = NULL;
    if (h5_read_f32(f, name, &rank, dims, &x, &e))
        fail_msg("%s", e.msg);
    h5_close(f);
    *n = 1;
    for (int i = 0; i < rank; i++)
        *n *= dims[i];
    return x;
}

/* Dataset name is the same, bit for bit, in the HDF5 files a and b. */
static inline void e2e_assert_same_dataset(const char *a, const char *b, const char *name)
{
    long na, nb;
    float *x = e2e_read_f32(a, name, &na), *y = e2e_read_f32(b, name, &nb);
    assert_int_equal(na, nb);
    if (memcmp(x, y, (size_t)na * sizeof(float)) != 0)
        fail_msg("%s differs between %s and %s", name, a, b);
    free(x);
    free(y);
}

/* The iteration a checkpoint was written at. */
static inline int64_t e2e_ckpt_iteration(const char *path)
{
    h5_file *f;
    mtrl_err e = {0};
    int64_t iter = -1;
    if (h5_open(&f, path, &e) || h5_read_attr_i64(f, "/", "iteration", &iter, &e))
        fail_msg("%s: %s", path, e.msg);
    h5_close(f);
    return iter;
}

#endif
