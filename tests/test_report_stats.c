/* The statistics of mtrl report against numbers worked out by hand: mean,
 * standard error with n-1, the interquartile mean as scipy's trim_mean(x,
 * 0.25) (what rliable uses: floor(n/4) dropped at each end, no fractional
 * weights), and the stratified percentile bootstrap. */
#include "testutil.h"

#include <math.h>

#include "report/report.h"

static void test_mean_stderr(void **st)
{
    (void)st;
    const double x[] = {0.2, 0.4, 0.9};
    assert_float_equal(rep_mean(x, 3), 0.5, 1e-12);
    /* deviations -0.3, -0.1, 0.4: sum of squares 0.26, variance 0.13 (n-1),
     * s.e. sqrt(0.13 / 3) = 0.2081666 */
    assert_float_equal(rep_stderr(x, 3), sqrt(0.13 / 3), 1e-12);
    assert_float_equal(rep_stderr(x, 3), 0.2081666, 1e-6);
    const double two[] = {0.3, 0.2}; /* sd 0.0707107, s.e. 0.05 */
    assert_float_equal(rep_stderr(two, 2), 0.05, 1e-12);
}

static void test_iqm_n4(void **st)
{
    (void)st;
    /* sorted 0.1 0.3 0.5 0.9: one value off each end -> (0.3 + 0.5) / 2 */
    const double x[] = {0.9, 0.1, 0.5, 0.3};
    assert_float_equal(rep_iqm(x, 4), 0.4, 1e-12);
    assert_float_equal(rep_stat_value(REP_STAT_IQM, x, 4), 0.4, 1e-12);
    assert_float_equal(rep_stat_value(REP_STAT_MEAN, x, 4), 0.45, 1e-12);
}

static void test_iqm_n5(void **st)
{
    (void)st;
    /* sorted 0 0.1 0.2 0.6 1.0: floor(5/4) = 1 off each end -> mean of
     * 0.1 0.2 0.6 = 0.3. A fractionally weighted trim (1.25 off each end)
     * would give (0.75*0.1 + 0.2 + 0.75*0.6) / 2.5 = 0.29, the plain mean 0.38. */
    const double x[] = {0.6, 0.0, 1.0, 0.2, 0.1};
    assert_float_equal(rep_iqm(x, 5), 0.3, 1e-12);
}

static void test_iqm_n10(void **st)
{
    (void)st;
    /* sorted 0 .05 .2 .3 .35 .4 .45 .5 .9 1: two off each end ->
     * (.2 + .3 + .35 + .4 + .45 + .5) / 6 = 2.2 / 6 */
    const double x[] = {1.0, 0.0, 0.05, 0.9, 0.3, 0.4, 0.35, 0.5, 0.45, 0.2};
    assert_float_equal(rep_iqm(x, 10), 2.2 / 6, 1e-12);
}

static void test_degenerate_n1(void **st)
{
    (void)st;
    const double x[] = {0.7};
    assert_float_equal(rep_mean(x, 1), 0.7, 0);
    assert_true(isnan(rep_stderr(x, 1)));
    assert_float_equal(rep_iqm(x, 1), 0.7, 0);
    double lo, hi;
    mtrl_err e = {0};
    assert_int_equal(rep_bootstrap_ci(x, NULL, 1, REP_STAT_IQM, 500, 3, 0.95, &lo, &hi, &e), 0);
    assert_float_equal(lo, 0.7, 0);
    assert_float_equal(hi, 0.7, 0);
    assert_true(isnan(rep_mean(x, 0)));
    assert_true(isnan(rep_iqm(x, 0)));
}

static void test_bootstrap_reproducible_contains_iqm(void **st)
{
    (void)st;
    const double x[] = {0.31, 0.52, 0.47, 0.9, 0.12, 0.66, 0.58, 0.44, 0.39, 0.71};
    double lo1, hi1, lo2, hi2, lo3, hi3;
    mtrl_err e = {0};
    assert_int_equal(rep_bootstrap_ci(x, NULL, 10, REP_STAT_IQM, 2000, 42, 0.95, &lo1, &hi1, &e), 0);
    assert_int_equal(rep_bootstrap_ci(x, NULL, 10, REP_STAT_IQM, 2000, 42, 0.95, &lo2, &hi2, &e), 0);
    assert_int_equal(rep_bootstrap_ci(x, NULL, 10, REP_STAT_IQM, 2000, 43, 0.95, &lo3, &hi3, &e), 0);
    /* Same seed, same interval, bit for bit. */
    assert_true(lo1 == lo2 && hi1 == hi2);
    /* Another seed: another set of resamples (the interval moves a little). */
    assert_true(lo1 != lo3 || hi1 != hi3);
    double iqm = rep_iqm(x, 10);
    assert_true(lo1 < iqm && iqm < hi1);
    /* Inside the range of the data, and a real spread, not a point. */
    assert_true(lo1 >= 0.12 && hi1 <= 0.9 && hi1 - lo1 > 0.05);
    /* A 50% interval lies inside the 95% one. */
    double l50, h50;
    assert_int_equal(rep_bootstrap_ci(x, NULL, 10, REP_STAT_IQM, 2000, 42, 0.5, &l50, &h50, &e), 0);
    assert_true(l50 >= lo1 && h50 <= hi1 && h50 - l50 < hi1 - lo1);
}

static void test_bootstrap_stratified(void **st)
{
    (void)st;
    /* Two strata of three: every stratified resample keeps three values of
     * each, so the IQM of 0 0 0 1 1 1 (one off each end: 0 0 1 1) is always
     * 0.5 and the interval is the point [0.5, 0.5]. Unstratified resamples
     * mix the strata freely and the interval opens up. */
    const double x[] = {0, 1, 0, 1, 0, 1};
    const int strata[] = {7, 9, 7, 9, 7, 9};
    double lo, hi;
    mtrl_err e = {0};
    assert_int_equal(rep_bootstrap_ci(x, strata, 6, REP_STAT_IQM, 1000, 1, 0.95, &lo, &hi, &e), 0);
    assert_float_equal(lo, 0.5, 1e-12);
    assert_float_equal(hi, 0.5, 1e-12);
    assert_int_equal(rep_bootstrap_ci(x, NULL, 6, REP_STAT_IQM, 1000, 1, 0.95, &lo, &hi, &e), 0);
    assert_true(lo < 0.5 && hi > 0.5);
    /* The mean as the statistic, constant data: the point itself. */
    const double c[] = {0.25, 0.25, 0.25};
    assert_int_equal(rep_bootstrap_ci(c, NULL, 3, REP_STAT_MEAN, 100, 1, 0.95, &lo, &hi, &e), 0);
    assert_float_equal(lo, 0.25, 1e-15);
    assert_float_equal(hi, 0.25, 1e-15);
}

static void test_bootstrap_bad_input(void **st)
{
    (void)st;
    const double x[] = {0.1, 0.2};
    double lo, hi;
    mtrl_err e = {0};
    assert_int_equal(rep_bootstrap_ci(x, NULL, 2, REP_STAT_IQM, 0, 1, 0.95, &lo, &hi, &e),
                     MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "resamples"));
    assert_int_equal(rep_bootstrap_ci(x, NULL, 2, REP_STAT_IQM, 10, 1, 1.5, &lo, &hi, &e),
                     MTRL_EINPUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mean_stderr),
        cmocka_unit_test(test_iqm_n4),
        cmocka_unit_test(test_iqm_n5),
        cmocka_unit_test(test_iqm_n10),
        cmocka_unit_test(test_degenerate_n1),
        cmocka_unit_test(test_bootstrap_reproducible_contains_iqm),
        cmocka_unit_test(test_bootstrap_stratified),
        cmocka_unit_test(test_bootstrap_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
