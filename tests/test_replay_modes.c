/* rb_modes_from_config: the one reading of the config's replay section for
 * sampling (trainer and bench): each word of replay.sampling and
 * replay.reward_norm gives the buffer mode it names. */
#include "testutil.h"

#include "core/cfg.h"
#include "replay/replay.h"

static rb_modes modes(const char *sampling, const char *norm)
{
    mtrl_config c;
    mtrl_err e = {0};
    char kv[64];
    cfg_defaults(&c);
    snprintf(kv, sizeof kv, "replay.sampling=%s", sampling);
    assert_int_equal(cfg_apply_override(&c, kv, &e), 0);
    snprintf(kv, sizeof kv, "replay.reward_norm=%s", norm);
    assert_int_equal(cfg_apply_override(&c, kv, &e), 0);
    assert_int_equal(cfg_apply_override(&c, "replay.reward_ema_rate=0.25", &e), 0);
    return rb_modes_from_config(&c);
}

static void test_words_to_modes(void **st_)
{
    (void)st_;
    rb_modes m = modes("balanced", "std");
    assert_int_equal(m.sampling, RB_SAMPLE_BALANCED);
    assert_int_equal(m.norm, RB_NORM_STD);
    assert_true(m.ema_rate == 0);
    m = modes("uniform", "ema");
    assert_int_equal(m.sampling, RB_SAMPLE_UNIFORM);
    assert_int_equal(m.norm, RB_NORM_NONE); /* stored normalized already */
    assert_true(m.ema_rate == 0.25);
    m = modes("uniform", "none");
    assert_int_equal(m.norm, RB_NORM_NONE);
    assert_true(m.ema_rate == 0);
    assert_string_equal(cfg_enum_word("replay.sampling", RB_SAMPLE_UNIFORM), "uniform");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words_to_modes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
