/* Statistics over seeds: mean, standard error, interquartile mean and the
 * stratified percentile bootstrap of Agarwal et al. (2021). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "report/report.h"

double rep_mean(const double *x, int n)
{
    if (n <= 0)
        return NAN;
    double s = 0;
    for (int i = 0; i < n; i++)
        s += x[i];
    return s / n;
}

double rep_stderr(const double *x, int n)
{
    if (n < 2)
        return NAN;
    double m = rep_mean(x, n), ss = 0;
    for (int i = 0; i < n; i++)
        ss += (x[i] - m) * (x[i] - m);
    return sqrt(ss / (n - 1)) / sqrt((double)n);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* IQM of values already sorted ascending. */
static double iqm_sorted(const double *s, int n)
{
    int m = n / 4; /* scipy: int(0.25 * n), the trimmed count rounded down */
    return rep_mean(s + m, n - 2 * m);
}

double rep_iqm(const double *x, int n)
{
    if (n <= 0)
        return NAN;
    double *s = malloc((size_t)n * sizeof *s);
    if (!s)
        return NAN;
    memcpy(s, x, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double v = iqm_sorted(s, n);
    free(s);
    return v;
}

double rep_stat_value(rep_stat st, const double *x, int n)
{
    return st == REP_STAT_IQM ? rep_iqm(x, n) : rep_mean(x, n);
}

/* Linear interpolation between order statistics at quantile q of sorted
 * v[0..n), as numpy.percentile does by default. */
static double quantile_sorted(const double *v, int n, double q)
{
    double pos = q * (n - 1);
    int i = (int)floor(pos);
    if (i >= n - 1)
        return v[n - 1];
    double f = pos - i;
    return v[i] + f * (v[i + 1] - v[i]);
}

int rep_bootstrap_ci(const double *x, const int *strata, int n, rep_stat st, int B,
                     uint64_t seed, double level, double *lo, double *hi, mtrl_err *e)
{
    *lo = *hi = NAN;
    if (n <= 0)
        return 0;
    if (B < 1)
        return err_set(e, MTRL_EINPUT, "bootstrap: %d resamples, need at least 1", B);
    if (!(level > 0 && level < 1))
        return err_set(e, MTRL_EINPUT, "bootstrap: confidence level %g is not in (0, 1)", level);
    double *sample = malloc((size_t)n * sizeof *sample);
    double *stats = malloc((size_t)B * sizeof *stats);
    int *order = malloc((size_t)n * sizeof *order);
    if (!sample || !stats || !order) {
        free(sample);
        free(stats);
        free(order);
        return err_set(e, MTRL_ENOMEM, "out of memory for %d bootstrap resamples", B);
    }
    /* order: indices grouped by stratum, so each stratum is one contiguous
     * range [start, end) to draw from. */
    int k = 0;
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < i && strata; j++)
            seen |= strata[j] == strata[i];
        if (seen)
            continue;
        for (int j = i; j < n; j++)
            if (!strata || strata[j] == strata[i])
                order[k++] = j;
        if (!strata)
            break;
    }
    rng_state r;
    rng_seed(&r, seed, RNG_STREAM_REPORT);
    for (int b = 0; b < B; b++) {
        for (int start = 0; start < n;) {
            int end = start + 1;
            while (end < n && strata && strata[order[end]] == strata[order[start]])
                end++;
            if (!strata)
                end = n;
            for (int i = start; i < end; i++)
                sample[i] = x[order[start + (int)rng_below(&r, (uint64_t)(end - start))]];
            start = end;
        }
        qsort(sample, (size_t)n, sizeof *sample, cmp_double);
        stats[b] = st == REP_STAT_IQM ? iqm_sorted(sample, n) : rep_mean(sample, n);
    }
    qsort(stats, (size_t)B, sizeof *stats, cmp_double);
    *lo = quantile_sorted(stats, B, (1 - level) / 2);
    *hi = quantile_sorted(stats, B, 1 - (1 - level) / 2);
    free(sample);
    free(stats);
    free(order);
    return 0;
}
