/* The SAC agent: the combined-gradient path equals the plain mean where it
 * must, losses fall on a fixed batch, temperatures move the right way,
 * checkpoints restore an agent that continues bit for bit. */
#include "testutil.h"

#include <math.h>

#include "core/h5io.h"
#include "sac/sac.h"

#define K 3
#define OBS 7
#define ACT 2
#define B 24

#include "sac_testutil.h"

static void small_config(mtrl_config *c, const char *method)
{
    base_config(c, method, 16, 3);
}

/* Tasks that differ in scale. */
static float scaled_reward(int k, const float *o, const float *a)
{
    return (float)(k + 1) * (o[0] + a[0]);
}

/* A replay buffer of smooth random transitions. */
static rb_buffer *make_buffer(void) { return make_replay(300, 11, 100, scaled_reward); }

static rb_batch *sample_mode(rb_buffer *rb, uint64_t seed, rb_sampling mode)
{
    rb_batch *b;
    mtrl_err e;
    assert_int_equal(rb_batch_create(&b, K, OBS, ACT, B, &e), 0);
    rng_state r;
    rng_seed(&r, seed, 0);
    assert_int_equal(rb_sample(rb, mode, RB_NORM_STD, B, &r, b, &e), 0);
    return b;
}

static rb_batch *sample(rb_buffer *rb, uint64_t seed)
{
    return sample_mode(rb, seed, RB_SAMPLE_BALANCED);
}

/* CAGrad with c = 0 is the mean of the per-task gradients, so an agent that
 * forms the K x P matrix and combines it must follow exactly the agent that
 * takes the mean directly with one summed backward pass. Uniform sampling
 * makes the task groups unequal, so a wrong per-group weight shows (a
 * uniform scale error would not: Adam is scale-invariant). */
static void test_cagrad_c0_follows_mean(void **st)
{
    (void)st;
    mtrl_config cm, cc;
    small_config(&cm, "mean");
    small_config(&cc, "cagrad");
    cc.mtl.cagrad_c = 0;
    cc.mtl.cagrad_rescale = CFG_RESCALE_NONE;
    /* A large step so that the parameters move far compared with rounding. */
    cm.agent.critic_lr = cc.agent.critic_lr = 1e-2;
    cm.agent.actor_lr = cc.agent.actor_lr = 1e-2;
    sac_agent *am = make_agent(&cm), *ac = make_agent(&cc);
    float x0[K * ACT];
    actions_of(am, x0);
    rb_buffer *rb = make_buffer();
    mtrl_err e;
    for (int i = 0; i < 20; i++) {
        rb_batch *b = sample_mode(rb, 100 + (uint64_t)i, RB_SAMPLE_UNIFORM);
        sac_update_stats sm, sc;
        assert_int_equal(sac_update(am, b, &sm, &e), 0);
        assert_int_equal(sac_update(ac, b, &sc, &e), 0);
        assert_true(fabs(sm.critic_loss - sc.critic_loss) <= 1e-3 * (1 + fabs(sm.critic_loss)));
        rb_batch_destroy(b);
    }
    float x[K * ACT], y[K * ACT];
    actions_of(am, x);
    actions_of(ac, y);
    double moved = 0, apart = 0;
    for (int i = 0; i < K * ACT; i++)
        moved += fabs(x[i] - x0[i]), apart += fabs(x[i] - y[i]);
    if (!(moved > 0.05 && apart < 1e-3 * moved))
        fail_msg("the actions moved %g, the two agents are %g apart", moved, apart);
    sac_destroy(am);
    sac_destroy(ac);
    rb_destroy(rb);
}

/* CAGrad-Fast forms only the |S| sampled tasks' gradients and the remainder
 * row, on a batch reordered for each component. The route that forms all K
 * rows and lets the combiner draw S makes the same draws (one combiner rng
 * per component), so the two agents must follow each other to float
 * rounding, with a large step and unequal task groups so that a wrong
 * remainder weight or a sample moved to another row shows. The fast route
 * must also be bit for bit the same from the same seed. */
static void test_cagrad_fast_rows_follow_full_rows(void **st)
{
    (void)st;
    for (int ns = 1; ns <= 2; ns++) {
        mtrl_config c;
        small_config(&c, "cagrad_fast");
        c.mtl.cagrad_c = 0.9;
        c.mtl.cagrad_fast_subset = ns;
        c.agent.critic_lr = c.agent.actor_lr = 1e-2;
        sac_agent *fast = make_agent(&c), *full = make_agent(&c), *again = make_agent(&c);
        sac_set_fast_rows(full, 0);
        float x0[K * ACT];
        actions_of(fast, x0);
        rb_buffer *rb = make_buffer();
        mtrl_err e;
        for (int i = 0; i < 20; i++) {
            rb_batch *b = sample_mode(rb, 300 + (uint64_t)i, RB_SAMPLE_UNIFORM);
            sac_update_stats sf, so, sa;
            assert_int_equal(sac_update(fast, b, &sf, &e), 0);
            assert_int_equal(sac_update(full, b, &so, &e), 0);
            assert_int_equal(sac_update(again, b, &sa, &e), 0);
            assert_int_equal(sf.fast_rows, 1 + sf.actor_updated);
            assert_int_equal(so.fast_rows, 0);
            assert_int_equal(sf.skipped + so.skipped, 0);
            if (!(fabs(sf.critic_loss - so.critic_loss) <= 1e-3 * (1 + fabs(so.critic_loss)) &&
                  fabs(sf.actor_loss - so.actor_loss) <= 1e-3 * (1 + fabs(so.actor_loss))))
                fail_msg("|S| %d update %d: critic %g vs %g, actor %g vs %g", ns, i,
                         sf.critic_loss, so.critic_loss, sf.actor_loss, so.actor_loss);
            assert_true(sf.critic_loss == sa.critic_loss && sf.actor_loss == sa.actor_loss &&
                        sf.alpha == sa.alpha && sf.entropy == sa.entropy);
            rb_batch_destroy(b);
        }
        float x[K * ACT], y[K * ACT], z[K * ACT];
        actions_of(fast, x);
        actions_of(full, y);
        actions_of(again, z);
        assert_memory_equal(x, z, sizeof x);
        double moved = 0, apart = 0;
        for (int i = 0; i < K * ACT; i++)
            moved += fabs(x[i] - x0[i]), apart += fabs(x[i] - y[i]);
        if (!(moved > 0.05 && apart < 1e-3 * moved))
            fail_msg("|S| %d: the actions moved %g, the two routes are %g apart", ns, moved,
                     apart);
        /* The two routes drew the same subsets: the policy rngs are in step. */
        assert_memory_equal(sac_rng(fast), sac_rng(full), sizeof(rng_state));
        sac_destroy(fast);
        sac_destroy(full);
        sac_destroy(again);
        rb_destroy(rb);
    }
}

/* Repeated updates on one batch must fit it: the critic loss falls well
 * below its first value (for every combiner). */
static void run_fit(const char *method)
{
    mtrl_config c;
    small_config(&c, method);
    c.agent.critic_lr = 3e-3;
    c.agent.actor_lr = 3e-3;
    if (!strcmp(method, "famo")) /* FAMO reweights the critic only */
        c.mtl.on_actor = c.mtl.on_alpha = 0;
    sac_agent *a = make_agent(&c);
    rb_buffer *rb = make_buffer();
    rb_batch *b = sample(rb, 7);
    mtrl_err e;
    sac_update_stats s;
    assert_int_equal(sac_update(a, b, &s, &e), 0);
    double first = s.critic_loss;
    for (int i = 0; i < 300; i++)
        assert_int_equal(sac_update(a, b, &s, &e), 0);
    assert_int_equal(s.skipped, 0);
    assert_true(isfinite(s.actor_loss));
    if (!(s.critic_loss < 0.2 * first))
        fail_msg("%s: critic loss %g -> %g", method, first, s.critic_loss);
    assert_int_equal(sac_num_updates(a), 301);
    rb_batch_destroy(b);
    rb_destroy(rb);
    sac_destroy(a);
}

static void test_losses_fall_on_a_fixed_batch(void **st)
{
    (void)st;
    const char *methods[] = {"mean",     "sum",    "pcgrad",   "cagrad", "cagrad_fast",
                             "mgda",     "aligned_mtl", "aligned_mtl_ub", "imtl_g",
                             "graddrop", "rlw",    "nash_mtl", "famo",   "upgrad",
                             "dualproj", "config"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        run_fit(methods[i]);
}

/* With entropy far above the target the temperature must fall, and with a
 * per-task alpha every task's falls. */
static void test_alpha_moves_toward_target_entropy(void **st)
{
    (void)st;
    mtrl_config c;
    small_config(&c, "mean");
    c.agent.target_entropy = -50; /* far below any real policy's entropy */
    sac_agent *a = make_agent(&c);
    rb_buffer *rb = make_buffer();
    rb_batch *b = sample(rb, 5);
    mtrl_err e;
    sac_update_stats s;
    for (int i = 0; i < 50; i++)
        assert_int_equal(sac_update(a, b, &s, &e), 0);
    for (int k = 0; k < K; k++)
        assert_true(sac_alpha(a, k) < 0.99);
    sac_destroy(a);

    c.agent.target_entropy = 50; /* far above */
    c.agent.alpha = CFG_ALPHA_SHARED;
    a = make_agent(&c);
    for (int i = 0; i < 50; i++)
        assert_int_equal(sac_update(a, b, &s, &e), 0);
    assert_true(sac_alpha(a, 0) > 1.01);
    assert_true(sac_alpha(a, 0) == sac_alpha(a, K - 1));
    sac_destroy(a);
    rb_batch_destroy(b);
    rb_destroy(rb);
}

/* Saves a to path and loads it into a fresh agent of c (give c another
 * seed: everything must then come from the file). */
static sac_agent *save_and_reload(sac_agent *a, const mtrl_config *c, const char *path)
{
    mtrl_err e = {0};
    h5_file *f;
    assert_int_equal(h5_create(&f, path, &e), 0);
    assert_int_equal(sac_save(a, f, "agent", &e), 0);
    assert_int_equal(h5_commit(f, &e), 0);
    sac_agent *b = make_agent(c);
    assert_int_equal(h5_open(&f, path, &e), 0);
    if (sac_load(b, f, "agent", &e))
        fail_msg("sac_load: %s", e.msg);
    h5_close(f);
    return b;
}

/* n updates of a and b on the same batches (drawn from seed0 on): the same
 * losses, bit for bit. */
static void expect_same_updates(sac_agent *a, sac_agent *b, rb_buffer *rb, int n,
                                uint64_t seed0, rb_sampling mode)
{
    mtrl_err e = {0};
    for (int i = 0; i < n; i++) {
        rb_batch *batch = sample_mode(rb, seed0 + (uint64_t)i, mode);
        sac_update_stats s1, s2;
        assert_int_equal(sac_update(a, batch, &s1, &e), 0);
        assert_int_equal(sac_update(b, batch, &s2, &e), 0);
        assert_true(s1.critic_loss == s2.critic_loss);
        assert_true(s1.actor_loss == s2.actor_loss);
        rb_batch_destroy(batch);
    }
}

/* save -> load into a fresh agent -> both continue identically. */
static void test_checkpoint_continues_bit_for_bit(void **st)
{
    (void)st;
    mtrl_config c;
    small_config(&c, "pcgrad"); /* has its own rng stream to restore */
    sac_agent *a = make_agent(&c);
    rb_buffer *rb = make_buffer();
    mtrl_err e = {0};
    sac_update_stats s;
    for (int i = 0; i < 5; i++) {
        rb_batch *b = sample(rb, 50 + (uint64_t)i);
        assert_int_equal(sac_update(a, b, &s, &e), 0);
        rb_batch_destroy(b);
    }
    char path[512];
    snprintf(path, sizeof path, "%s/agent.h5", test_tmpdir());
    c.run.seed = 99; /* a different init: everything must come from the file */
    sac_agent *b2 = save_and_reload(a, &c, path);
    assert_int_equal(sac_num_updates(b2), 5);
    expect_same_updates(a, b2, rb, 5, 500, RB_SAMPLE_BALANCED);
    /* Stochastic actions use the restored rng too. */
    float obs[OBS] = {0.1f, 0.2f}, x[ACT], y[ACT];
    int32_t t0 = 0;
    assert_int_equal(sac_act(a, 1, obs, &t0, 0, x, &e), 0);
    assert_int_equal(sac_act(b2, 1, obs, &t0, 0, y, &e), 0);
    assert_memory_equal(x, y, sizeof x);

    /* A checkpoint of another shape is refused with a message. */
    mtrl_config big = c;
    big.agent.critic_hidden = (cfg_int_list){2, {32, 16}};
    sac_agent *other = make_agent(&big);
    h5_file *f;
    assert_int_equal(h5_open(&f, path, &e), 0);
    assert_int_not_equal(sac_load(other, f, "agent", &e), 0);
    assert_true(strstr(e.msg, "critic") != NULL);
    h5_close(f);
    sac_destroy(other);
    sac_destroy(a);
    sac_destroy(b2);
    rb_destroy(rb);
}

/* CAGrad-Fast draws its subsets before the passes; a checkpoint between
 * updates must still continue bit for bit (the combiners' rngs are saved). */
static void test_cagrad_fast_checkpoint(void **st)
{
    (void)st;
    mtrl_config c;
    small_config(&c, "cagrad_fast");
    c.mtl.cagrad_fast_subset = 1;
    sac_agent *a = make_agent(&c);
    rb_buffer *rb = make_buffer();
    mtrl_err e = {0};
    sac_update_stats s;
    for (int i = 0; i < 3; i++) {
        rb_batch *b = sample(rb, 70 + (uint64_t)i);
        assert_int_equal(sac_update(a, b, &s, &e), 0);
        assert_true(s.fast_rows >= 1);
        rb_batch_destroy(b);
    }
    char path[512];
    snprintf(path, sizeof path, "%s/agent_fast.h5", test_tmpdir());
    c.run.seed = 98;
    sac_agent *b2 = save_and_reload(a, &c, path);
    expect_same_updates(a, b2, rb, 4, 700, RB_SAMPLE_UNIFORM);
    float x[K * ACT], y[K * ACT];
    actions_of(a, x);
    actions_of(b2, y);
    assert_memory_equal(x, y, sizeof x);
    sac_destroy(a);
    sac_destroy(b2);
    rb_destroy(rb);
}

/* FAMO needs the losses after the step, which the agent recomputes for the
 * critic only: on the actor it is refused by name. */
static void test_rejects_famo_off_the_critic(void **st)
{
    (void)st;
    mtrl_config c;
    small_config(&c, "famo");
    sac_agent *a = NULL;
    mtrl_err e = {0};
    assert_int_equal(sac_create(&a, &c, K, OBS, ACT, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "mtl.method"));
    assert_null(a);
}

/* The agent's side of the combiners that need more than G: FAMO's logits
 * move (so mtl_after_step ran with the recomputed critic losses, and nothing
 * is left pending between updates); Aligned-MTL-UB weighs by the
 * representation Gram the agent forms, so it departs from Aligned-MTL on the
 * parameter Gram; Nash-MTL and IMTL-G on a shared temperature (a rank-1
 * Gram) never produce a non-finite update; FAMO and Nash-MTL state survives
 * a checkpoint bit for bit. */
static void test_stateful_and_representation_methods(void **st)
{
    (void)st;
    rb_buffer *rb = make_buffer();
    rb_batch *b = sample(rb, 9);
    mtrl_err e;
    sac_update_stats s;
    char path[512];
    snprintf(path, sizeof path, "%s/famo_agent.h5", test_tmpdir());

    mtrl_config c;
    small_config(&c, "famo");
    c.mtl.on_actor = c.mtl.on_alpha = 0;
    sac_agent *a = make_agent(&c);
    for (int i = 0; i < 20; i++)
        assert_int_equal(sac_update(a, b, &s, &e), 0);
    h5_file *f;
    assert_int_equal(h5_create(&f, path, &e), 0);
    assert_int_equal(sac_save(a, f, "agent", &e), 0);
    assert_int_equal(h5_commit(f, &e), 0);
    assert_int_equal(h5_open(&f, path, &e), 0);
    float state[5 * K + 2];
    assert_int_equal(h5_read_f32_into(f, "agent/critic/mtl/state", 5 * K + 2, state, &e), 0);
    double moved = 0;
    for (int k = 0; k < K; k++)
        moved += fabs(state[k]);
    assert_true(moved > 1e-3);
    assert_true(state[3 * K] == 20.0f); /* one logit step per update */
    assert_true(state[3 * K + 1] == 0.0f);
    sac_agent *a2 = make_agent(&c);
    assert_int_equal(sac_load(a2, f, "agent", &e), 0);
    h5_close(f);
    float x[K * ACT], y[K * ACT];
    for (int i = 0; i < 5; i++) {
        assert_int_equal(sac_update(a, b, &s, &e), 0);
        assert_int_equal(sac_update(a2, b, &s, &e), 0);
    }
    actions_of(a, x);
    actions_of(a2, y);
    assert_memory_equal(x, y, sizeof x);
    sac_destroy(a);
    sac_destroy(a2);

    /* UB vs Aligned-MTL: same seed, same batches, different weights. */
    mtrl_config cu, ca;
    small_config(&cu, "aligned_mtl_ub");
    small_config(&ca, "aligned_mtl");
    cu.agent.alpha = ca.agent.alpha = CFG_ALPHA_SHARED;
    sac_agent *au = make_agent(&cu), *aa = make_agent(&ca);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(sac_update(au, b, &s, &e), 0);
        assert_int_equal(s.skipped, 0);
        assert_int_equal(sac_update(aa, b, &s, &e), 0);
    }
    actions_of(au, x);
    actions_of(aa, y);
    double apart = 0;
    for (int i = 0; i < K * ACT; i++)
        apart += fabs(x[i] - y[i]);
    assert_true(apart > 1e-4);
    sac_destroy(au);
    sac_destroy(aa);

    /* Shared temperature through Nash-MTL and IMTL-G: finite throughout. */
    const char *rank1[] = {"nash_mtl", "imtl_g", "upgrad"};
    for (int m = 0; m < 3; m++) {
        small_config(&c, rank1[m]);
        c.agent.alpha = CFG_ALPHA_SHARED;
        a = make_agent(&c);
        for (int i = 0; i < 30; i++) {
            assert_int_equal(sac_update(a, b, &s, &e), 0);
            assert_int_equal(s.skipped, 0);
            assert_true(isfinite(s.alpha) && isfinite(s.critic_loss));
        }
        sac_destroy(a);
    }
    rb_batch_destroy(b);
    rb_destroy(rb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cagrad_c0_follows_mean),
        cmocka_unit_test(test_cagrad_fast_rows_follow_full_rows),
        cmocka_unit_test(test_cagrad_fast_checkpoint),
        cmocka_unit_test(test_losses_fall_on_a_fixed_batch),
        cmocka_unit_test(test_alpha_moves_toward_target_entropy),
        cmocka_unit_test(test_checkpoint_continues_bit_for_bit),
        cmocka_unit_test(test_rejects_famo_off_the_critic),
        cmocka_unit_test(test_stateful_and_representation_methods),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
