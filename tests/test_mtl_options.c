/* mtl_options_from_config, the one config -> mtl_options mapping: every
 * config word of every mtl enum lands on the mtl value of the same word,
 * every number on its field, each agent component gets its own rng stream,
 * and FAMO is refused off the critic with a message naming the keys. */
#include "testutil.h"

#include <string.h>

#include "core/cfg.h"
#include "mtl/mtl.h"

static void set(mtrl_config *c, const char *kv)
{
    mtrl_err e = {0};
    if (cfg_apply_override(c, kv, &e))
        fail_msg("%s: %s", kv, e.msg);
}

static mtl_options map(const mtrl_config *c, int component)
{
    mtl_options o;
    mtrl_err e = {0};
    if (mtl_options_from_config(c, component, &o, &e))
        fail_msg("mapping failed: %s", e.msg);
    return o;
}

/* Every method word of the config selects the mtl method of the same name,
 * and the config knows every method mtl has. */
static void test_method_words_round_trip(void **st_)
{
    (void)st_;
    assert_int_equal(CFG_MTL_COUNT, MTL_METHOD_COUNT);
    mtrl_config c;
    cfg_defaults(&c);
    char kv[64];
    for (int m = 0; m < MTL_METHOD_COUNT; m++) {
        const char *word = cfg_enum_word("mtl.method", m);
        assert_non_null(word);
        assert_string_equal(word, mtl_method_name((mtl_method)m));
        snprintf(kv, sizeof kv, "mtl.method=%s", mtl_method_name((mtl_method)m));
        set(&c, kv);
        assert_int_equal(c.mtl.method, m);
        assert_int_equal(map(&c, 1).method, m);
    }
    assert_null(cfg_enum_word("mtl.method", MTL_METHOD_COUNT));
}

/* The other enum keys: each word gives the mtl constant meant by it. */
static void test_setting_words_map(void **st_)
{
    (void)st_;
    static const struct {
        const char *kv;
        size_t off;
        int want;
    } cases[] = {
        {"mtl.cagrad_rescale=reference", offsetof(mtl_options, rescale), MTL_RESCALE_REFERENCE},
        {"mtl.cagrad_rescale=none", offsetof(mtl_options, rescale), MTL_RESCALE_NONE},
        {"mtl.cagrad_rescale=c2", offsetof(mtl_options, rescale), MTL_RESCALE_C2},
        {"mtl.cagrad_rescale=c", offsetof(mtl_options, rescale), MTL_RESCALE_C},
        {"mtl.cagrad_fast_gram=full", offsetof(mtl_options, fast_gram), MTL_FAST_GRAM_FULL},
        {"mtl.cagrad_fast_gram=subset", offsetof(mtl_options, fast_gram), MTL_FAST_GRAM_SUBSET},
        {"mtl.rlw_dist=dirichlet", offsetof(mtl_options, rlw_dist), MTL_RLW_DIRICHLET},
        {"mtl.rlw_dist=normal", offsetof(mtl_options, rlw_dist), MTL_RLW_NORMAL},
        {"mtl.famo_scale=paper", offsetof(mtl_options, famo_scale), MTL_FAMO_PAPER},
        {"mtl.famo_scale=mtrl", offsetof(mtl_options, famo_scale), MTL_FAMO_MTRL},
        {"mtl.mgda_normalize=l2", offsetof(mtl_options, mgda_normalize), 1},
        {"mtl.mgda_normalize=none", offsetof(mtl_options, mgda_normalize), 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        mtrl_config c;
        cfg_defaults(&c);
        set(&c, cases[i].kv);
        mtl_options o = map(&c, 1);
        int got;
        memcpy(&got, (const char *)&o + cases[i].off, sizeof got);
        if (got != cases[i].want)
            fail_msg("%s: mtl value %d, want %d", cases[i].kv, got, cases[i].want);
    }
    /* The enum value names spell the same words on both sides. */
    assert_string_equal(cfg_enum_word("mtl.cagrad_rescale", MTL_RESCALE_C2), "c2");
    assert_string_equal(cfg_enum_word("mtl.famo_scale", MTL_FAMO_MTRL), "mtrl");
    assert_string_equal(cfg_enum_word("mtl.rlw_dist", MTL_RLW_NORMAL), "normal");
    assert_string_equal(cfg_enum_word("mtl.cagrad_fast_gram", MTL_FAST_GRAM_SUBSET), "subset");
}

/* Each number reaches its own field (distinct values, so a swap shows). */
static void test_numbers_map(void **st_)
{
    (void)st_;
    mtrl_config c;
    cfg_defaults(&c);
    const char *kv[] = {"mtl.cagrad_c=0.25",        "mtl.cagrad_lr=3",
                        "mtl.cagrad_momentum=0.75", "mtl.cagrad_steps=7",
                        "mtl.cagrad_fast_subset=3", "mtl.graddrop_k=2.5",
                        "mtl.nash_update_every=4",  "mtl.nash_iters=9",
                        "mtl.nash_max_norm=1.5",    "mtl.famo_lr=0.125",
                        "mtl.famo_gamma=0.0625",    "mtl.upgrad_norm_eps=0.001",
                        "mtl.upgrad_reg_eps=0.002", "run.seed=77"};
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++)
        set(&c, kv[i]);
    mtl_options o = map(&c, 0);
    assert_true(o.c == 0.25 && o.lr == 3 && o.momentum == 0.75 && o.steps == 7);
    assert_true(o.fast_subset == 3 && o.graddrop_k == 2.5);
    assert_true(o.nash_update_every == 4 && o.nash_iters == 9 && o.nash_max_norm == 1.5);
    assert_true(o.famo_lr == 0.125 && o.famo_gamma == 0.0625);
    assert_true(o.upgrad_norm_eps == 0.001 && o.upgrad_reg_eps == 0.002);
    assert_true(o.seed == 77);
}

/* The config's defaults are the library's, but for CAGrad's c (0.9, the
 * MT10 paper runs) and the seed (run.seed 1). */
static void test_defaults_agree(void **st_)
{
    (void)st_;
    mtrl_config c;
    cfg_defaults(&c);
    /* Filled in place (not returned by value) so the padding compares too. */
    mtl_options from, lib;
    mtrl_err e = {0};
    assert_int_equal(mtl_options_from_config(&c, -1, &from, &e), 0);
    mtl_options_default(&lib, from.method);
    assert_true(from.c == 0.9 && from.seed == 1);
    lib.c = from.c, lib.seed = from.seed;
    assert_memory_equal(&from, &lib, sizeof lib);
}

static void test_streams_and_famo_rule(void **st_)
{
    (void)st_;
    mtrl_config c;
    cfg_defaults(&c);
    for (int k = 0; k < 3; k++)
        assert_true(map(&c, k).stream == (uint64_t)RNG_STREAM_MTL * 256 + (uint64_t)k);
    assert_true(map(&c, -1).stream == RNG_STREAM_MTL);
    set(&c, "mtl.method=famo");
    mtl_options o;
    mtrl_err e = {0};
    for (int k = 0; k < 3; k += 2) {
        assert_int_equal(mtl_options_from_config(&c, k, &o, &e), MTRL_EINPUT);
        assert_non_null(strstr(e.msg, "mtl.on_actor: false"));
        assert_non_null(strstr(e.msg, "mtl.on_alpha: false"));
    }
    assert_int_equal(map(&c, 1).method, MTL_FAMO);
    assert_int_equal(map(&c, -1).method, MTL_FAMO);
}

/* A bad word is the config's error: it names the key and the valid words. */
static void test_bad_words_name_key(void **st_)
{
    (void)st_;
    mtrl_config c;
    cfg_defaults(&c);
    mtrl_err e = {0};
    assert_int_equal(cfg_apply_override(&c, "mtl.famo_scale=c2", &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "mtl.famo_scale"));
    assert_non_null(strstr(e.msg, "one of paper, mtrl"));
    assert_int_equal(cfg_apply_override(&c, "mtl.method=cagrad-fast", &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "mtl.method"));
    assert_non_null(strstr(e.msg, "cagrad_fast"));
    assert_non_null(strstr(e.msg, "\"cagrad-fast\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_method_words_round_trip),
        cmocka_unit_test(test_setting_words_map),
        cmocka_unit_test(test_numbers_map),
        cmocka_unit_test(test_defaults_agree),
        cmocka_unit_test(test_streams_and_famo_rule),
        cmocka_unit_test(test_bad_words_name_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
