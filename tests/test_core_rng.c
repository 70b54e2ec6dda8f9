#include "testutil.h"

#include <math.h>

#include "core/rng.h"

/* Reference values of xoshiro256** from its published state update, computed
 * by hand-checked independent arithmetic below (not by the code under test). */
static uint64_t ref_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static void test_xoshiro_matches_reference_update(void **st)
{
    (void)st;
    rng_state r;
    rng_seed(&r, 42, 7);
    uint64_t s[4] = {r.s[0], r.s[1], r.s[2], r.s[3]};
    for (int i = 0; i < 100; i++) {
        uint64_t expect = ref_rotl(s[1] * 5, 7) * 9;
        uint64_t t = s[1] << 17;
        s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t;
        s[3] = ref_rotl(s[3], 45);
        assert_true(rng_next(&r) == expect);
    }
}

static void test_fixed_seed_values(void **st)
{
    (void)st;
    /* Pinned outputs: a change here changes every seeded run in the project. */
    rng_state r;
    rng_seed(&r, 1, 0);
    uint64_t a = rng_next(&r), b = rng_next(&r);
    rng_seed(&r, 1, 0);
    assert_true(rng_next(&r) == a);
    assert_true(rng_next(&r) == b);
    assert_true(a == 0xEE127FE613436E33ULL);
    assert_true(b == 0xD6DAD8D34A1874EAULL);
}

static void test_streams_and_seeds_differ(void **st)
{
    (void)st;
    rng_state a, b, c;
    rng_seed(&a, 5, 1);
    rng_seed(&b, 5, 2);
    rng_seed(&c, 6, 1);
    int same_ab = 0, same_ac = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = rng_next(&a), y = rng_next(&b), z = rng_next(&c);
        same_ab += x == y;
        same_ac += x == z;
    }
    assert_int_equal(same_ab, 0);
    assert_int_equal(same_ac, 0);
    /* Correlation of uniforms between two streams is near zero. */
    rng_seed(&a, 5, 1);
    rng_seed(&b, 5, 2);
    double sxy = 0;
    int n = 100000;
    for (int i = 0; i < n; i++)
        sxy += (rng_uniform(&a) - 0.5) * (rng_uniform(&b) - 0.5);
    assert_true(fabs(sxy / n / (1.0 / 12)) < 0.02);
}

static void test_normal_moments(void **st)
{
    (void)st;
    rng_state r;
    rng_seed(&r, 123, 3);
    int n = 200000;
    double s1 = 0, s2 = 0, s4 = 0;
    for (int i = 0; i < n; i++) {
        double x = rng_normal(&r);
        s1 += x, s2 += x * x, s4 += x * x * x * x;
    }
    double mean = s1 / n, var = s2 / n - mean * mean;
    assert_true(fabs(mean) < 0.01);
    assert_true(fabs(var - 1.0) < 0.015);
    assert_true(fabs(s4 / n - 3.0) < 0.06); /* kurtosis of a normal */
}

static void test_uniform_range_and_below(void **st)
{
    (void)st;
    rng_state r;
    rng_seed(&r, 9, 9);
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) {
        double u = rng_uniform(&r);
        float f = rng_uniform_f(&r);
        assert_true(u >= 0 && u < 1);
        assert_true(f >= 0 && f < 1);
        counts[rng_below(&r, 7)]++;
    }
    for (int k = 0; k < 7; k++)
        assert_true(abs(counts[k] - 10000) < 500);
    int idx[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, seen = 0;
    rng_shuffle_int(&r, idx, 10);
    for (int k = 0; k < 10; k++)
        seen |= 1 << idx[k];
    assert_int_equal(seen, 1023);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xoshiro_matches_reference_update),
        cmocka_unit_test(test_fixed_seed_values),
        cmocka_unit_test(test_streams_and_seeds_differ),
        cmocka_unit_test(test_normal_moments),
        cmocka_unit_test(test_uniform_range_and_below),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
