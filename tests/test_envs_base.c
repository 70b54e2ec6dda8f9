/* The Sawyer base env: hand reset against the positions measured with the
 * original XML (spec §4), observation layout, reward utilities, goal sets,
 * truncation, instability handling, model sharing, and bitwise determinism
 * of the vectorized env across thread counts. */
#include "testutil.h"

#include <math.h>

#include "core/rng.h"
#include "envs/envs.h"
#include "envs/reward.h"
#include "envs/task.h"

extern const env_task_def env_task_reach_v2;

static int task_idx(const char *name)
{
    int i;
    mtrl_err err = {0};
    assert_int_equal(env_task_find(name, &i, &err), 0);
    return i;
}

static env_sawyer *make_env(const env_task_def *def, const env_opts *o)
{
    env_sawyer *e = NULL;
    mtrl_err err = {0};
    int rc = env_create_def(&e, def, -1, o, 0, &err);
    if (rc)
        fail_msg("%s", err.msg);
    return e;
}

static void assert_near3(const double *got, double x, double y, double z, double tol)
{
    if (fabs(got[0] - x) > tol || fabs(got[1] - y) > tol || fabs(got[2] - z) > tol)
        fail_msg("(%.6f, %.6f, %.6f) not within %g of (%.6f, %.6f, %.6f)", got[0], got[1], got[2],
                 tol, x, y, z);
}

/* Spec §4 table, measured with the original scene in MuJoCo 2.2.2. */
static void check_hand_reset(double hy, const double hand[3], const double tcp[3],
                             const double lpad[3], const double rpad[3])
{
    env_task_def def = env_task_reach_v2;
    def.hand_init_pos[1] = hy;
    env_sawyer *e = make_env(&def, NULL);
    float obs[ENV_OBS_DIM];
    assert_int_equal(env_reset(e, obs, NULL), 0);
    const double tol = 0.002;
    /* Ids looked up here, independently of the env's own. */
    const mjModel *m = e->m;
    int hb = mj_name2id(m, mjOBJ_BODY, "hand"), lp = mj_name2id(m, mjOBJ_BODY, "leftpad"),
        rp = mj_name2id(m, mjOBJ_BODY, "rightpad");
    assert_near3(e->d->xpos + 3 * hb, hand[0], hand[1], hand[2], tol);
    assert_near3(e->init_tcp, tcp[0], tcp[1], tcp[2], tol);
    assert_near3(e->d->xpos + 3 * lp, lpad[0], lpad[1], lpad[2], tol);
    assert_near3(e->d->xpos + 3 * rp, rpad[0], rpad[1], rpad[2], tol);
    /* Fingers open: q_r ~ -0.00017, q_l ~ +0.00017, obs[3] = 1. */
    assert_true(fabs(e->d->qpos[7]) < 0.001 && fabs(e->d->qpos[8]) < 0.001);
    assert_float_equal(obs[3], 1.0, 1e-6);
    env_destroy(e);
}

static void test_hand_reset_matches_measured(void **st)
{
    (void)st;
    check_hand_reset(0.6, (double[]){0.006161, 0.600272, 0.194350},
                     (double[]){0.006004, 0.600476, 0.149350},
                     (double[]){0.004244, 0.647404, 0.194571},
                     (double[]){0.008079, 0.553139, 0.194129});
    check_hand_reset(0.4, (double[]){0.005912, 0.399701, 0.194985},
                     (double[]){0.005880, 0.399760, 0.149985},
                     (double[]){0.004945, 0.446863, 0.195047},
                     (double[]){0.006879, 0.352539, 0.194922});
}

static void test_compiled_robot(void **st)
{
    (void)st;
    env_sawyer *e = make_env(&env_task_reach_v2, NULL);
    const mjModel *m = e->m;
    /* Spec §1.2 / Appendix A: qpos layout, claw masses from group-4 boxes,
     * massless pads, finger joint ranges, timestep, weld data overwrite. */
    assert_int_equal(m->nq, 16);
    assert_int_equal(m->nv, 15);
    assert_int_equal(m->jnt_qposadr[mj_name2id(m, mjOBJ_JOINT, "r_close")], 7);
    assert_int_equal(m->jnt_qposadr[mj_name2id(m, mjOBJ_JOINT, "l_close")], 8);
    assert_int_equal(m->jnt_qposadr[mj_name2id(m, mjOBJ_JOINT, "objjoint")], 9);
    assert_float_equal(m->body_mass[mj_name2id(m, mjOBJ_BODY, "rightclaw")], 0.0162, 1e-9);
    assert_float_equal(m->body_mass[mj_name2id(m, mjOBJ_BODY, "leftclaw")], 0.0162, 1e-9);
    assert_float_equal(m->body_mass[mj_name2id(m, mjOBJ_BODY, "rightpad")], 0.0, 0);
    assert_float_equal(m->opt.timestep, 0.0025, 0);
    int eq = mj_name2id(m, mjOBJ_EQUALITY, "mocap_weld");
    assert_true(eq >= 0);
    static const double w[mjNEQDATA] = {0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1};
    for (int i = 0; i < mjNEQDATA; i++)
        assert_float_equal(m->eq_data[mjNEQDATA * eq + i], w[i], 0);
    env_destroy(e);
}

/* Layout of spec §3, checked against quantities read from mjData here. */
static void test_observation_layout(void **st)
{
    (void)st;
    env_sawyer *e = make_env(&env_task_reach_v2, NULL);
    const mjModel *m = e->m;
    int hb = mj_name2id(m, mjOBJ_BODY, "hand"), ob = mj_name2id(m, mjOBJ_BODY, "obj");
    int rs = mj_name2id(m, mjOBJ_SITE, "rightEndEffector"),
        ls = mj_name2id(m, mjOBJ_SITE, "leftEndEffector");
    float obs[ENV_OBS_DIM], prev[ENV_OBS_DIM];
    assert_int_equal(env_reset_goal(e, 7, obs, NULL), 0);
    const double *v = e->goals[7];
    /* reach: object placed at v[0:3] (z exactly 0.02), goal v[3:6]. */
    for (int i = 0; i < 3; i++) {
        assert_float_equal(obs[4 + i], (float)v[i], 1e-6);
        assert_float_equal(obs[36 + i], (float)v[3 + i], 1e-6);
    }
    for (int i = 0; i < 18; i++)
        assert_true(obs[18 + i] == obs[i]); /* first obs repeats the frame */
    rng_state r;
    rng_seed(&r, 3, 0);
    for (int s = 0; s < 40; s++) {
        memcpy(prev, obs, sizeof obs);
        float a[4];
        for (int i = 0; i < 4; i++)
            a[i] = (float)rng_range(&r, -1, 1);
        env_info inf;
        env_step_flags fl;
        assert_int_equal(env_step(e, a, obs, &inf, &fl, NULL), 0);
        for (int i = 0; i < ENV_OBS_DIM; i++)
            assert_true(isfinite(obs[i]));
        for (int i = 0; i < 3; i++) {
            assert_float_equal(obs[i], e->d->xpos[3 * hb + i], 1e-6);
            assert_float_equal(obs[4 + i], e->d->xpos[3 * ob + i], 1e-6);
            assert_float_equal(obs[36 + i], (float)v[3 + i], 1e-6);
        }
        double dx = e->d->site_xpos[3 * rs] - e->d->site_xpos[3 * ls],
               dy = e->d->site_xpos[3 * rs + 1] - e->d->site_xpos[3 * ls + 1],
               dz = e->d->site_xpos[3 * rs + 2] - e->d->site_xpos[3 * ls + 2];
        double gap = fmin(1.0, sqrt(dx * dx + dy * dy + dz * dz) / 0.1);
        assert_float_equal(obs[3], gap, 1e-6);
        double qn = 0;
        for (int i = 7; i < 11; i++)
            qn += (double)obs[i] * obs[i];
        assert_float_equal(qn, 1.0, 1e-5);
        for (int i = 11; i < 18; i++)
            assert_true(obs[i] == 0.0f);
        for (int i = 0; i < 18; i++)
            assert_true(obs[18 + i] == prev[i]); /* frame stacking */
        assert_true(inf.reward >= 0 && inf.reward <= 10);
    }
    env_destroy(e);
}

/* Mocap moves by 0.01 * clip(a) from its own position and stays in bounds;
 * a[3] = +1 closes the gripper in about 15 steps (spec §2, measured). */
static void test_action_handling(void **st)
{
    (void)st;
    env_sawyer *e = make_env(&env_task_reach_v2, NULL);
    float obs[ENV_OBS_DIM];
    env_reset(e, obs, NULL);
    env_info inf;
    env_step_flags fl;
    const double *mp = e->d->mocap_pos;
    double before[3] = {mp[0], mp[1], mp[2]};
    float a[4] = {5.0f, -0.5f, 0.25f, 1.0f}; /* x beyond the range: clipped to 1 */
    env_step(e, a, obs, &inf, &fl, NULL);
    assert_float_equal(mp[0], before[0] + 0.01, 1e-12);
    assert_float_equal(mp[1], before[1] - 0.005, 1e-12);
    assert_float_equal(mp[2], before[2] + 0.0025, 1e-12);
    for (int s = 1; s < 15; s++)
        env_step(e, a, obs, &inf, &fl, NULL);
    assert_true(obs[3] < 0.35f && obs[3] > 0.2f);
    /* Drive far beyond the bounds: the mocap stops at hand_low/high. */
    float down[4] = {1, 1, -1, 0};
    for (int s = 0; s < 120; s++)
        env_step(e, down, obs, &inf, &fl, NULL);
    assert_float_equal(mp[0], 0.5, 1e-12);
    assert_float_equal(mp[1], 1.0, 1e-12);
    assert_float_equal(mp[2], 0.05, 1e-12);
    env_destroy(e);
}

static void test_reward_utilities(void **st)
{
    (void)st;
    /* Value 0.1 exactly one margin outside the bounds, 1 inside. */
    assert_float_equal(rw_tolerance(0.3, 0, 0.1, 0.2, RW_LONG_TAIL), 0.1, 1e-12);
    assert_float_equal(rw_tolerance(-0.2, 0, 0.1, 0.2, RW_GAUSSIAN), 0.1, 1e-12);
    assert_float_equal(rw_tolerance(0.05, 0, 0.1, 0.2, RW_GAUSSIAN), 1.0, 0);
    assert_float_equal(rw_tolerance(0.2, 0, 0.1, 0, RW_LONG_TAIL), 0.0, 0);
    /* Half a margin: long tail 1/(1 + 9/4), gaussian 10^(-1/4). */
    assert_float_equal(rw_tolerance(0.2, 0, 0.1, 0.2, RW_LONG_TAIL), 1.0 / 3.25, 1e-12);
    assert_float_equal(rw_tolerance(0.2, 0, 0.1, 0.2, RW_GAUSSIAN), pow(10, -0.25), 1e-12);
    assert_true(isnan(rw_tolerance(0, 1, 0, 0.1, RW_LONG_TAIL)));
    assert_true(isnan(rw_tolerance(0, 0, 1, -0.1, RW_LONG_TAIL)));
    /* Hamacher: H(a, 1) = a, H(a, 0) = 0, H(0, 0) = 0, symmetric. */
    assert_float_equal(rw_hamacher(0.3, 1), 0.3, 1e-15);
    assert_float_equal(rw_hamacher(0.3, 0), 0.0, 0);
    assert_float_equal(rw_hamacher(0, 0), 0.0, 0);
    assert_float_equal(rw_hamacher(0.5, 0.5), 0.25 / 0.75, 1e-15);
    assert_float_equal(rw_hamacher(0.2, 0.7), rw_hamacher(0.7, 0.2), 1e-15);
    /* Rect prism: corner order per axis irrelevant for "inside". */
    double zero[3] = {0, 1, 0}, one[3] = {1, 0, 2}, c[3] = {0.5, 0.25, 1.5};
    assert_float_equal(rw_rect_prism(c, zero, one), 0.5 * 0.75 * 0.75, 1e-15);
    double out[3] = {0.5, 1.5, 1};
    assert_float_equal(rw_rect_prism(out, zero, one), 1.0, 0);
}

/* The scipy-convention quaternion equals MuJoCo's own mat2quat up to order
 * (xyzw vs wxyz) and sign, for rotations hitting every branch. */
static void test_quat_from_mat(void **st)
{
    (void)st;
    rng_state r;
    rng_seed(&r, 11, 0);
    double qs[][4] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}, {0.1, 0.9, 0.3, 0.2}};
    for (int t = 0; t < 205; t++) {
        double q[4];
        if (t < 5)
            memcpy(q, qs[t], sizeof q);
        else
            for (int i = 0; i < 4; i++)
                q[i] = rng_normal(&r);
        mju_normalize4(q);
        double M[9], got[4], ref[4];
        mju_quat2Mat(M, q);
        env_quat_xyzw_from_mat(M, got);
        mju_mat2Quat(ref, M);
        double s = (got[3] * ref[0] + got[0] * ref[1] + got[1] * ref[2] + got[2] * ref[3]) < 0 ? -1 : 1;
        assert_float_equal(got[3], s * ref[0], 1e-9);
        for (int i = 0; i < 3; i++)
            assert_float_equal(got[i], s * ref[i + 1], 1e-9);
    }
    double I[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, q[4];
    env_quat_xyzw_from_mat(I, q);
    assert_true(q[0] == 0 && q[1] == 0 && q[2] == 0 && q[3] == 1);
}

static void test_goal_sets(void **st)
{
    (void)st;
    for (int t = 0; t < env_task_count(); t++) {
        const env_task_def *def = env_task_get(t);
        double g[ENV_NUM_GOALS * ENV_RAND_MAX_DIM], g2[ENV_NUM_GOALS * ENV_RAND_MAX_DIM],
            g3[ENV_NUM_GOALS * ENV_RAND_MAX_DIM];
        int dim;
        mtrl_err err = {0};
        assert_int_equal(env_goal_set(t, 42, g, &dim, &err), 0);
        assert_int_equal(dim, def->rand_dim);
        assert_int_equal(env_goal_set(t, 42, g2, &dim, &err), 0);
        assert_int_equal(env_goal_set(t, 43, g3, &dim, &err), 0);
        assert_memory_equal(g, g2, sizeof g);
        assert_memory_not_equal(g, g3, sizeof g);
        for (int k = 0; k < ENV_NUM_GOALS; k++) {
            const double *v = g + ENV_RAND_MAX_DIM * k;
            for (int i = 0; i < dim; i++)
                assert_true(v[i] >= def->rand_low[i] && v[i] <= def->rand_high[i]);
            if (def->accept_rand)
                assert_true(def->accept_rand(v));
            for (int p = 0; p < k; p++)
                assert_memory_not_equal(v, g + ENV_RAND_MAX_DIM * p, sizeof(double) * ENV_RAND_MAX_DIM);
        }
    }
    /* reach's rule: object and goal at least 0.15 apart in xy. */
    double g[ENV_NUM_GOALS * ENV_RAND_MAX_DIM];
    int dim;
    assert_int_equal(env_goal_set(task_idx("reach-v2"), 5, g, &dim, NULL), 0);
    for (int k = 0; k < ENV_NUM_GOALS; k++) {
        const double *v = g + ENV_RAND_MAX_DIM * k;
        assert_true(hypot(v[0] - v[3], v[1] - v[4]) >= 0.15);
    }
}

static void test_goal_modes(void **st)
{
    (void)st;
    env_opts o;
    env_opts_default(&o);
    o.goals = ENV_GOALS_FIXED;
    env_sawyer *e;
    assert_int_equal(env_create(&e, task_idx("reach-v2"), &o, 0, NULL), 0);
    float obs[ENV_OBS_DIM], first[3];
    env_reset(e, obs, NULL);
    memcpy(first, obs + 36, sizeof first);
    for (int i = 0; i < 5; i++) {
        env_reset(e, obs, NULL);
        assert_memory_equal(first, obs + 36, sizeof first);
    }
    env_destroy(e);
    o.goals = ENV_GOALS_SAMPLED;
    assert_int_equal(env_create(&e, task_idx("reach-v2"), &o, 0, NULL), 0);
    int seen[ENV_NUM_GOALS] = {0}, distinct = 0;
    for (int i = 0; i < 20; i++) {
        env_reset(e, obs, NULL);
        distinct += !seen[e->goal_k]++;
        /* The goal in the observation is the chosen vector's goal part. */
        assert_float_equal(obs[36], (float)e->goals[e->goal_k][3], 1e-6);
    }
    assert_true(distinct >= 10);
    env_destroy(e);
    /* The modes are the config's words (one list, core/cfg.h). */
    assert_string_equal(cfg_enum_word("env.goals", ENV_GOALS_SAMPLED), "sampled");
    assert_string_equal(cfg_enum_word("env.goals", ENV_GOALS_FIXED), "fixed");
}

static void test_truncation(void **st)
{
    (void)st;
    env_opts o;
    env_opts_default(&o);
    o.max_episode_steps = 20;
    env_sawyer *e;
    assert_int_equal(env_create(&e, task_idx("push-v2"), &o, 0, NULL), 0);
    float obs[ENV_OBS_DIM], a[4] = {0, 0, 0, 0};
    env_info inf;
    env_step_flags fl;
    env_reset(e, obs, NULL);
    for (int s = 1; s <= 20; s++) {
        assert_int_equal(env_step(e, a, obs, &inf, &fl, NULL), 0);
        assert_int_equal(fl.truncated, s == 20);
        assert_int_equal(fl.done, s == 20);
        assert_int_equal(fl.unstable, 0);
    }
    assert_int_equal(env_step(e, a, obs, &inf, &fl, NULL), MTRL_EINPUT); /* must reset first */
    env_reset(e, obs, NULL);
    assert_int_equal(env_step(e, a, obs, &inf, &fl, NULL), 0);
    env_destroy(e);
}

static void test_unstable_is_flagged(void **st)
{
    (void)st;
    env_sawyer *e;
    assert_int_equal(env_create(&e, task_idx("pick-place-v2"), NULL, 0, NULL), 0);
    float obs[ENV_OBS_DIM], before[ENV_OBS_DIM], a[4] = {0.3f, 0, 0, 1};
    env_info inf;
    env_step_flags fl;
    /* Absurd and non-finite actions are clipped / zeroed, not unstable. */
    env_reset(e, obs, NULL);
    float wild[4] = {1e30f, -1e30f, NAN, INFINITY};
    for (int s = 0; s < 10; s++) {
        assert_int_equal(env_step(e, wild, obs, &inf, &fl, NULL), 0);
        assert_int_equal(fl.unstable, 0);
        assert_true(isfinite(inf.reward));
    }
    /* An injected absurd velocity / NaN position: flagged, last stable obs,
     * reward 0, episode over, counted. */
    for (int round = 0; round < 2; round++) {
        env_reset(e, obs, NULL);
        env_step(e, a, obs, &inf, &fl, NULL);
        memcpy(before, obs, sizeof obs);
        if (round == 0)
            e->d->qvel[9] = 1e30;
        else
            e->d->qpos[10] = NAN;
        assert_int_equal(env_step(e, a, obs, &inf, &fl, NULL), 0);
        assert_int_equal(fl.unstable, 1);
        assert_int_equal(fl.done, 1);
        assert_int_equal(fl.truncated, 0);
        assert_true(inf.reward == 0 && inf.success == 0);
        assert_memory_equal(obs, before, sizeof obs);
        assert_int_equal(env_unstable_count(e), round + 1);
        assert_int_equal(env_step(e, a, obs, &inf, &fl, NULL), MTRL_EINPUT);
    }
    /* A MuJoCo error inside mj_step (here: its stack made to look full)
     * would exit the process with MuJoCo's default handler; ours ends the
     * episode as unstable instead. */
    env_reset(e, obs, NULL);
    env_step(e, a, obs, &inf, &fl, NULL);
    memcpy(before, obs, sizeof obs);
    e->d->pstack = e->d->nstack - 8;
    assert_int_equal(env_step(e, a, obs, &inf, &fl, NULL), 0);
    assert_int_equal(fl.unstable, 1);
    assert_memory_equal(obs, before, sizeof obs);
    assert_int_equal(env_unstable_count(e), 3);
    /* The env works normally after a reset. */
    env_reset(e, obs, NULL);
    for (int s = 0; s < 50; s++) {
        assert_int_equal(env_step(e, a, obs, &inf, &fl, NULL), 0);
        assert_int_equal(fl.unstable, 0);
    }
    env_destroy(e);
}

static void test_model_sharing(void **st)
{
    (void)st;
    env_sawyer *a = make_env(&env_task_reach_v2, NULL), *b = make_env(&env_task_reach_v2, NULL);
    assert_ptr_equal(a->m, b->m);
    assert_null(a->m_own);
    assert_ptr_not_equal(a->d, b->d);
    env_task_def editing = env_task_reach_v2;
    editing.edits_model = 1;
    env_sawyer *c = make_env(&editing, NULL);
    assert_ptr_not_equal(c->m, a->m);
    assert_ptr_equal(c->m, c->m_own);
    /* A private body_pos edit does not leak into the shared model. */
    int tb = mj_name2id(c->m, mjOBJ_BODY, "tablelink");
    double p[3] = {0, 0.7, 0};
    env_set_body_pos(c, tb, p);
    assert_float_equal(c->m->body_pos[3 * tb + 1], 0.7, 0);
    assert_float_equal(a->m->body_pos[3 * tb + 1], 0.6, 0);
    env_destroy(a);
    env_destroy(b);
    env_destroy(c);
}

static void test_asset_dir(void **st)
{
    (void)st;
    /* No env alive here, so the scene cache reloads from the directory. */
    setenv("MTRL_ASSET_DIR", "src/envs/assets", 1);
    env_sawyer *e = make_env(&env_task_reach_v2, NULL);
    assert_int_equal(e->m->nq, 16);
    env_destroy(e);
    setenv("MTRL_ASSET_DIR", "/nonexistent-mtrl-dir", 1);
    mtrl_err err = {0};
    assert_int_equal(env_create_def(&e, &env_task_reach_v2, -1, NULL, 0, &err), MTRL_EINPUT);
    assert_non_null(strstr(err.msg, "/nonexistent-mtrl-dir/sawyer_obj.xml"));
    unsetenv("MTRL_ASSET_DIR");
}

static void test_registry(void **st)
{
    (void)st;
    mtrl_err err = {0};
    int i, idx[64], n;
    assert_int_equal(env_task_find("reach", &i, &err), MTRL_EINPUT);
    assert_non_null(strstr(err.msg, "reach-v2"));
    assert_int_equal(env_task_find("psh-v2", &i, &err), MTRL_EINPUT);
    assert_non_null(strstr(err.msg, "push-v2"));
    assert_int_equal(env_benchmark_tasks("mt1:push-v2", idx, 64, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(env_task_name(idx[0]), "push-v2");
    assert_int_equal(env_benchmark_tasks("pick-place-v2,reach-v2", idx, 64, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(env_task_name(idx[0]), "pick-place-v2");
    assert_string_equal(env_task_name(idx[1]), "reach-v2");
    assert_int_equal(env_benchmark_tasks("mt7", idx, 64, &n, &err), MTRL_EINPUT);
    assert_int_equal(env_benchmark_tasks("mt2:reach-v2", idx, 64, &n, &err), MTRL_EINPUT);
    /* MT10 order is the spec's one-hot order, once every task is registered. */
    if (env_benchmark_tasks("mt10", idx, 64, &n, &err) == 0) {
        static const char *order[] = {"reach-v2", "push-v2", "pick-place-v2", "door-open-v2",
                                      "drawer-open-v2", "drawer-close-v2",
                                      "button-press-topdown-v2", "peg-insert-side-v2",
                                      "window-open-v2", "window-close-v2"};
        assert_int_equal(n, 10);
        for (int k = 0; k < 10; k++)
            assert_string_equal(env_task_name(idx[k]), order[k]);
    } else {
        assert_non_null(strstr(err.msg, "not registered"));
    }
}

/* One trajectory of a vec env with random actions; everything it outputs. */
typedef struct traj {
    float obs[400][5 * ENV_OBS_DIM], next[400][5 * ENV_OBS_DIM], rew[400][5];
    uint8_t done[400][5], succ[400][5];
} traj;

static void run_vec(int threads, traj *t)
{
    env_opts o;
    env_opts_default(&o);
    o.threads = threads;
    o.goals = ENV_GOALS_SAMPLED;
    o.max_episode_steps = 150; /* crosses two auto-resets */
    o.seed = 9;
    env_vec *v;
    mtrl_err err = {0};
    if (env_vec_create(&v, "reach-v2,push-v2,pick-place-v2,push-v2,reach-v2", &o, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(env_vec_size(v), 5);
    assert_int_equal(env_vec_threads(v), threads);
    float a[5 * ENV_ACT_DIM];
    env_step_result res;
    assert_int_equal(env_vec_step(v, a, &res, NULL), MTRL_EINPUT); /* not reset yet */
    assert_int_equal(env_vec_reset_all(v, NULL, NULL), 0);
    rng_state r;
    rng_seed(&r, 77, 0);
    for (int s = 0; s < 400; s++) {
        for (int i = 0; i < 5 * ENV_ACT_DIM; i++)
            a[i] = (float)rng_range(&r, -1, 1);
        assert_int_equal(env_vec_step(v, a, &res, NULL), 0);
        memcpy(t->obs[s], res.obs, sizeof t->obs[s]);
        memcpy(t->next[s], res.next_obs, sizeof t->next[s]);
        memcpy(t->rew[s], res.reward, sizeof t->rew[s]);
        memcpy(t->done[s], res.done, sizeof t->done[s]);
        memcpy(t->succ[s], res.success, sizeof t->succ[s]);
        for (int k = 0; k < 5; k++) {
            assert_int_equal(res.truncated[k], (s + 1) % 150 == 0);
            assert_int_equal(res.unstable[k], 0);
            if (res.done[k]) {
                assert_int_equal(res.ep_length[k], 150);
                /* auto-reset: the new first obs repeats its frame, the
                 * transition keeps the true last one */
                const float *ob = res.obs + ENV_OBS_DIM * k, *nx = res.next_obs + ENV_OBS_DIM * k;
                assert_memory_equal(ob, ob + 18, 18 * sizeof(float));
                assert_memory_not_equal(ob, nx, ENV_OBS_DIM * sizeof(float));
            } else {
                assert_memory_equal(res.obs + ENV_OBS_DIM * k, res.next_obs + ENV_OBS_DIM * k,
                                    ENV_OBS_DIM * sizeof(float));
            }
        }
    }
    env_vec_destroy(v);
}

static void test_vec_identical_across_threads(void **st)
{
    (void)st;
    traj *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    run_vec(1, a);
    run_vec(3, b);
    assert_memory_equal(a, b, sizeof *a);
    free(a);
    free(b);
}

static void test_vec_manual_reset(void **st)
{
    (void)st;
    env_opts o;
    env_opts_default(&o);
    o.threads = 2;
    o.auto_reset = 0;
    o.max_episode_steps = 5;
    env_vec *v;
    assert_int_equal(env_vec_create(&v, "reach-v2,push-v2", &o, NULL), 0);
    float a[8] = {0};
    env_step_result res;
    assert_int_equal(env_vec_reset_all(v, NULL, NULL), 0);
    for (int s = 0; s < 5; s++)
        assert_int_equal(env_vec_step(v, a, &res, NULL), 0);
    assert_true(res.done[0] && res.done[1]);
    assert_memory_equal(res.obs, res.next_obs, 2 * ENV_OBS_DIM * sizeof(float));
    assert_int_equal(env_vec_step(v, a, &res, NULL), MTRL_EINPUT);
    assert_int_equal(env_vec_reset_done(v, NULL, NULL), 0);
    assert_int_equal(env_vec_step(v, a, &res, NULL), 0);
    assert_int_equal(env_vec_task(v, 1), task_idx("push-v2"));
    env_vec_destroy(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_reset_matches_measured),
        cmocka_unit_test(test_compiled_robot),
        cmocka_unit_test(test_observation_layout),
        cmocka_unit_test(test_action_handling),
        cmocka_unit_test(test_reward_utilities),
        cmocka_unit_test(test_quat_from_mat),
        cmocka_unit_test(test_goal_sets),
        cmocka_unit_test(test_goal_modes),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_unstable_is_flagged),
        cmocka_unit_test(test_model_sharing),
        cmocka_unit_test(test_asset_dir),
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_vec_identical_across_threads),
        cmocka_unit_test(test_vec_manual_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
