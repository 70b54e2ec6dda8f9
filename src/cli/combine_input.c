#include "cli/combine_input.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/h5io.h"

#define CI_MAX_TASKS 100000

static void shape_str(char *s, size_t cap, int rank, const long *dims)
{
    size_t k = (size_t)snprintf(s, cap, "(");
    for (int i = 0; i < rank && k < cap; i++)
        k += (size_t)snprintf(s + k, cap - k, i ? ", %ld" : "%ld", dims[i]);
    if (k < cap)
        snprintf(s + k, cap - k, rank == 1 ? ",)" : ")");
}

/* First non-finite entry of x[0..n), or -1. */
static long first_nonfinite(const float *x, long n)
{
    for (long i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return i;
    return -1;
}

static int check_finite(const char *path, const char *name, const float *x, long n, long cols,
                        mtrl_err *e)
{
    long i = first_nonfinite(x, n);
    if (i < 0)
        return 0;
    if (cols > 1)
        return err_set(e, MTRL_EINPUT, "%s: dataset '%s' holds %g at [%ld, %ld]", path, name,
                       (double)x[i], i / cols, i % cols);
    return err_set(e, MTRL_EINPUT, "%s: dataset '%s' holds %g at [%ld]", path, name,
                   (double)x[i], i);
}

int combine_input_read(const char *path, const char *dset, int want_losses, int want_rep,
                       combine_input *out, mtrl_err *e)
{
    memset(out, 0, sizeof *out);
    h5_file *f = NULL;
    int rank = 0, rc;
    long dims[H5IO_MAX_RANK];
    char s[160];
    if ((rc = h5_open(&f, path, e)) || (rc = h5_read_f32(f, dset, &rank, dims, &out->G, e)))
        goto done;
    if (rank != 2 || dims[0] < 1 || dims[1] < 1 || dims[0] > CI_MAX_TASKS) {
        shape_str(s, sizeof s, rank, dims);
        rc = err_set(e, MTRL_EINPUT,
                     "%s: dataset '%s' must be K x P with 1 <= K <= %d and P >= 1 (one row "
                     "per task), got shape %s",
                     path, dset, CI_MAX_TASKS, s);
        goto done;
    }
    out->K = (int)dims[0];
    out->P = dims[1];
    if ((rc = check_finite(path, dset, out->G, (long)out->K * out->P, out->P, e)))
        goto done;
    if (want_losses) {
        if (!h5_has(f, "losses")) {
            rc = err_set(e, MTRL_EINPUT,
                         "%s: the method needs the per-task losses as a dataset 'losses' (K "
                         "float32)",
                         path);
            goto done;
        }
        if ((rc = h5_read_f32(f, "losses", &rank, dims, &out->losses, e)))
            goto done;
        if (rank != 1 || dims[0] != out->K) {
            shape_str(s, sizeof s, rank, dims);
            rc = err_set(e, MTRL_EINPUT, "%s: dataset 'losses' must have shape (%d,), got %s",
                         path, out->K, s);
            goto done;
        }
        if ((rc = check_finite(path, "losses", out->losses, out->K, 1, e)))
            goto done;
    }
    if (want_rep && h5_has(f, "rep_gram")) {
        if ((rc = h5_read_f32(f, "rep_gram", &rank, dims, &out->rep_gram, e)))
            goto done;
        if (rank != 2 || dims[0] != out->K || dims[1] != out->K) {
            shape_str(s, sizeof s, rank, dims);
            rc = err_set(e, MTRL_EINPUT,
                         "%s: dataset 'rep_gram' must have shape (%d, %d), got %s", path,
                         out->K, out->K, s);
            goto done;
        }
        if ((rc = check_finite(path, "rep_gram", out->rep_gram, (long)out->K * out->K, out->K,
                               e)))
            goto done;
    }
done:
    h5_close(f);
    if (rc)
        combine_input_free(out);
    return rc;
}

void combine_input_free(combine_input *in)
{
    free(in->G);
    free(in->losses);
    free(in->rep_gram);
    memset(in, 0, sizeof *in);
}
