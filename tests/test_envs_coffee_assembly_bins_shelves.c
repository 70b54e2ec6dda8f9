/* MT50 coffee, assembly, bins, box, shelf and holes: coffee-pull, coffee-push, assembly, disassemble, basketball,
 * bin-picking, box-close, hand-insert, pick-out-of-hole, shelf-place,
 * peg-unplug-side (spec metaworld-mt50.md §4.H-J). Scripted policies reach
 * at least 0.9 (or Meta-World's higher target, spec Appendix F) over 50
 * seeded goals, and stay above 0.8 with 10 % action noise; rewards and
 * success flags equal the spec's formulas, recomputed here at every step of
 * noisy scripted episodes from mjData; resets place objects, fixtures and
 * goals where the spec says; the scenes behave as the originals' geometry
 * implies (resting heights on tables, in holes, on the box and the shelf;
 * the ball falls through the rim; the plug stays seated; the hole table has
 * no retaining walls); runs are identical across thread counts. */
#include "testutil.h"

#include "envs_probe.h"
#include "envs_scripted.h"
#include "envs/reward.h"
#include "envs/task.h"

/* ---- helpers ---- */

static const double *model_body_pos(const env_sawyer *e, const char *body)
{
    return e->m->body_pos + 3 * id_of(e, mjOBJ_BODY, body);
}

/* Distance with per-axis weights. */
static double wdist(const double *a, const double *b, double sx, double sy, double sz)
{
    double d[3] = {sx * (a[0] - b[0]), sy * (a[1] - b[1]), sz * (a[2] - b[2])};
    return norm3(d);
}

/* n steps of action a, none unstable; the last step's success flag (0 when
 * n is 0). */
static int step_n(env_sawyer *e, int n, const double a[4])
{
    int success = 0;
    for (int s = 0; s < n; s++) {
        env_info inf;
        env_step_flags fl;
        assert_int_equal(env_step_d(e, a, &inf, &fl, NULL), 0);
        assert_int_equal(fl.unstable, 0);
        success = inf.success;
    }
    return success;
}

static const double STILL[4] = {0, 0, 0, -1}; /* hand held where it is, gripper open */

/* The free joint of a body (scenes need not name it). */
static int free_joint(const env_sawyer *e, const char *body)
{
    int b = id_of(e, mjOBJ_BODY, body);
    assert_int_equal(e->m->body_jntnum[b], 1);
    int j = e->m->body_jntadr[b];
    assert_int_equal(e->m->jnt_type[j], mjJNT_FREE);
    return j;
}

/* ---- scripted policies (targets: max(0.9, Meta-World's, spec Appendix F);
 * with noise: 0.8, below Meta-World's noisy targets for some tasks, above
 * them for others; these policies are our own) ---- */

static void test_coffee_nut_scripted(void **st)
{
    (void)st;
    assert_scripted("coffee-pull-v2", 0.94);
    assert_scripted("coffee-push-v2", 0.93);
    assert_scripted("assembly-v2", 1.0);
    assert_scripted("disassemble-v2", 0.92);
}

static void test_carry_scripted(void **st)
{
    (void)st;
    assert_scripted("basketball-v2", 0.98);
    assert_scripted("bin-picking-v2", 0.98);
    assert_scripted("box-close-v2", 0.9);
    assert_scripted("hand-insert-v2", 0.96);
    assert_scripted("pick-out-of-hole-v2", 1.0);
    assert_scripted("shelf-place-v2", 0.96);
    assert_scripted("peg-unplug-side-v2", 0.99);
}

/* 10 % noise (std 0.2 per action component) on 12 goals of another goal
 * seed: the controllers must not depend on exact motions. The full 50-goal
 * noisy figures are in `mtrl env-check --noise 0.2`. */
static void test_scripted_with_noise(void **st)
{
    (void)st;
    static const char *const tasks[] = {
        "coffee-pull-v2",  "coffee-push-v2",     "assembly-v2",         "disassemble-v2",
        "basketball-v2",   "bin-picking-v2",     "box-close-v2",        "hand-insert-v2",
        "pick-out-of-hole-v2", "shelf-place-v2", "peg-unplug-side-v2",
    };
    env_opts o;
    env_opts_default(&o);
    o.goal_seed = 2;
    rng_state r;
    rng_seed(&r, 5, 0);
    for (size_t i = 0; i < sizeof tasks / sizeof tasks[0]; i++) {
        int t, succ = 0;
        env_sawyer *e;
        assert_int_equal(env_task_find(tasks[i], &t, NULL), 0);
        assert_int_equal(env_create(&e, t, &o, 0, NULL), 0);
        for (int k = 0; k < 12; k++) {
            float obs[ENV_OBS_DIM];
            assert_int_equal(env_reset_goal(e, k, obs, NULL), 0);
            for (int s = 0; s < 500; s++) {
                env_info inf = scripted_step_noisy(e, obs, 0.2, &r, NULL);
                if (inf.success) {
                    succ++;
                    break;
                }
            }
        }
        printf("    %-26s %2d/12 successes with 10%% noise\n", tasks[i], succ);
        if (succ < 10)
            fail_msg("%s: %d/12 successes with 10%% action noise", tasks[i], succ);
        env_destroy(e);
    }
}

/* ---- reference rewards (spec §4.H-J), from the env's double observation,
 * the raw action and mjData. The caging reward G is the base env's (tested
 * with MT10); its constants here are read off the spec again. `ep` is state
 * kept per episode (bin-picking's margin), NAN at the episode start. ---- */

typedef double (*ref_reward_fn)(env_sawyer *e, const double *obs, const double *a, double *ep,
                                int *success);

static double caging(env_sawyer *e, const double *a, const double *o, double r, double pad,
                     double reach, double xz, double effort, int density)
{
    const rw_caging p = {r, pad, reach, xz, effort, density == 2, density == 1};
    return rw_gripper_caging(e, a, o, &p);
}

static double ref_coffee(env_sawyer *e, const double *obs, const double *a, double *ep,
                         int *success)
{
    (void)ep;
    const double *o = obs + 4, *t = e->target_pos;
    double tcp[3];
    tcp_of(e, tcp);
    double d = wdist(o, t, 2, 2, 1);
    double ip = tol(d, 0, 0.05, wdist(e->obj_init_pos, t, 2, 2, 1));
    double g = caging(e, a, o, 0.02, 0.05, 0.04, 0.05, 0.7, 1);
    double r = ham(g, ip);
    if (dist3(o, tcp) < 0.04 && obs[3] > 0)
        r += 1 + 5 * ip;
    *success = dist3(o, t) <= 0.07;
    return d < 0.05 ? 10 : r;
}

/* Distance of the observed quaternion obs[7:11] from (0.707, 0, 0, 0.707). */
static double quat_err(const double *obs)
{
    double q[4] = {obs[7] - 0.707, obs[8], obs[9], obs[10] - 0.707};
    return sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
}

static double nut_rq(const double *obs) { return fmax(1 - quat_err(obs) / 0.4, 0); }

/* The handle position with x snapped to the hand within 1 cm. */
static void nut_handle(const double *obs, double wt[3])
{
    memcpy(wt, obs + 4, 3 * sizeof(double));
    if (fabs(wt[0] - obs[0]) < 0.01)
        wt[0] = obs[0];
}

static double ref_assembly(env_sawyer *e, const double *obs, const double *a, double *ep,
                           int *success)
{
    (void)ep;
    double wt[3];
    nut_handle(obs, wt);
    double g = caging(e, a, wt, 0.015, 0.02, 0.01, 0.01, 1, 1);
    const double *wc = site_pos(e, "RoundNut"), *t = e->target_pos;
    double rho = hypot(t[0] - wc[0], t[1] - wc[1]);
    *success = rho < 0.02 && t[2] - wc[2] > 0;
    double thr = *success ? 0.02 : 0.01;
    double h = rho > thr ? 0.02 * log(rho - thr) + 0.2 : 0;
    double err[3] = {t[0] - wc[0], t[1] - wc[1], 3 * (h - wc[2])};
    double ip = 0.1 * (wc[2] > 0.02 || rho < thr) + 0.9 * tol(norm3(err), 0, 0.02, 0.4);
    return *success ? 10 : (2 * g + 6 * ip) * nut_rq(obs);
}

static double ref_disassemble(env_sawyer *e, const double *obs, const double *a, double *ep,
                              int *success)
{
    (void)ep;
    double wt[3];
    nut_handle(obs, wt);
    double g = caging(e, a, wt, 0.015, 0.02, 0.01, 0.01, 1, 2);
    const double *wc = site_pos(e, "RoundNut"), *t = e->target_pos;
    double above[3] = {t[0], t[1], t[2] + 0.1};
    double ip = 0.1 * (wc[2] > 0.02) + 0.9 * tol(dist3(above, wc), 0, 0.02, 0.2);
    *success = obs[6] > t[2];
    return *success ? 10 : (2 * g + 6 * ip) * nut_rq(obs);
}

static double ref_basketball(env_sawyer *e, const double *obs, const double *a, double *ep,
                             int *success)
{
    (void)ep;
    const double *o = obs + 4, *o0 = e->obj_init_pos;
    double t[3] = {e->target_pos[0], e->target_pos[1], 0.3}, tcp[3];
    tcp_of(e, tcp);
    double d = wdist(o, t, 1, 1, 2);
    double ip = tol(d, 0, 0.08, wdist(o0, t, 1, 1, 2));
    double g = caging(e, a, o, 0.025, 0.06, 0.01, 0.005, 1, 2);
    int lifted = dist3(o, tcp) < 0.035 && obs[3] > 0 && o[2] - 0.01 > o0[2];
    double r = ham(lifted ? 1 : g, ip) + (lifted ? 1 + 5 * ip : 0);
    *success = d <= 0.08;
    return d < 0.08 ? 10 : r;
}

static double ref_bin_picking(env_sawyer *e, const double *obs, const double *a, double *ep,
                              int *success)
{
    const double *h = obs, *o = obs + 4, *t = e->target_pos, *o0 = e->obj_init_pos;
    double d = dist3(o, t);
    if (isnan(*ep))
        *ep = d;
    double ip = tol(d, 0, 0.05, *ep);
    double rho[2] = {hypot(h[0] - o0[0], h[1] - o0[1]), hypot(h[0] - t[0], h[1] - t[1])};
    double floor = INFINITY;
    for (int i = 0; i < 2; i++)
        floor = fmin(floor, rho[i] > 0.03 ? 0.02 * log(rho[i] - 0.03) + 0.2 : 0);
    double above = h[2] >= floor ? 1 : tol(fmax(floor - h[2], 0), 0, 0.01, 0.05);
    double g = caging(e, a, o, 0.015, 0.05, 0.01, 0.01, 0.7, 2);
    double r = ham(g, ip);
    if (dist3(o, h) < 0.04 && o[2] - 0.02 > o0[2] && obs[3] >= 0.43)
        r += 1 + 5 * ham(above, ip);
    *success = d <= 0.05;
    return d < 0.05 ? 10 : r;
}

static double ref_box_close(env_sawyer *e, const double *obs, const double *a, double *ep,
                            int *success)
{
    (void)ep;
    const double *h = obs, *t = e->target_pos;
    double grab = (fmin(fmax(a[3], -1), 1) + 1) / 2;
    double rq = fmax(1 - quat_err(obs) / 0.2, 0);
    double lid[3] = {obs[4], obs[5], obs[6] + 0.02};
    double rho = hypot(h[0] - lid[0], h[1] - lid[1]);
    double floor = rho <= 0.02 ? 0 : 0.04 * log(rho - 0.02) + 0.4;
    double above = h[2] >= floor ? 1 : tol(floor - h[2], 0, 0.01, floor / 2);
    double ready = ham(above, tol(dist3(h, lid), 0, 0.02, 0.5));
    double lifted = 0.2 * (lid[2] > 0.04) + 0.8 * tol(wdist(t, lid, 1, 1, 3), 0, 0.05, 0.25);
    *success = dist3(obs + 4, t) < 0.08;
    return (*success ? 10 : 2 * ham(grab, ready) + 8 * lifted) * rq;
}

static double ref_hand_insert(env_sawyer *e, const double *obs, const double *a, double *ep,
                              int *success)
{
    (void)ep;
    const double *o = obs + 4, *t = e->target_pos;
    double tcp[3];
    tcp_of(e, tcp);
    double d = dist3(o, t), ip = tol(d, 0, 0.05, dist3(e->obj_init_pos, t));
    double r = ham(caging(e, a, o, 0.015, 0.05, 0.01, 0.005, 1, 2), ip);
    if (dist3(o, tcp) < 0.02 && obs[3] > 0)
        r += 1 + 7 * ip;
    *success = d <= 0.05;
    return d < 0.05 ? 10 : r;
}

static double ref_pick_out_of_hole(env_sawyer *e, const double *obs, const double *a, double *ep,
                                   int *success)
{
    (void)ep;
    const double *o = obs + 4, *t = e->target_pos, *o0 = e->obj_init_pos;
    double tcp[3];
    tcp_of(e, tcp);
    double d = dist3(o, t), rho = hypot(tcp[0] - o0[0], tcp[1] - o0[1]);
    double floor = rho <= 0.03 ? 0 : 0.015 * log(rho - 0.03) + 0.15;
    double above = tcp[2] >= floor ? 1 : tol(fmax(floor - tcp[2], 0), 0, 0.01, 0.02);
    double g = caging(e, a, o, 0.015, 0.02, 0.01, 0.03, 0.1, 2);
    double ip = tol(d, 0, 0.02, dist3(o0, t));
    double r = ham(g, ip);
    if (dist3(o, tcp) < 0.04 && o[2] - 0.02 > o0[2] && obs[3] >= 0.33)
        r += 1 + 5 * ham(ip, above);
    *success = d <= 0.07;
    return d < 0.05 ? 10 : r;
}

static double ref_shelf_place(env_sawyer *e, const double *obs, const double *a, double *ep,
                              int *success)
{
    (void)ep;
    const double *o = obs + 4, *t = e->target_pos;
    double tcp[3];
    tcp_of(e, tcp);
    double d = dist3(o, t), ip = tol(d, 0, 0.05, dist3(e->obj_init_pos, t));
    double r = ham(caging(e, a, o, 0.02, 0.05, 0.01, 0.01, 1, 0), ip);
    int in_x = o[0] > t[0] - 0.15 && o[0] < t[0] + 0.15, low = o[2] > 0 && o[2] < 0.24;
    if (low && in_x && o[1] > t[1] - 0.15 && o[1] < t[1])
        ip = fmin(fmax(ip - ham((o[1] - t[1] + 0.15) / 0.15, (0.24 - o[2]) / 0.24), 0), 1);
    if (low && in_x && o[1] > t[1])
        ip = 0;
    if (dist3(o, tcp) < 0.025 && obs[3] > 0 && o[2] - 0.01 > e->obj_init_pos[2])
        r += 1 + 5 * ip;
    *success = d <= 0.07;
    return d < 0.05 ? 10 : r;
}

static double ref_peg_unplug(env_sawyer *e, const double *obs, const double *a, double *ep,
                             int *success)
{
    (void)ep;
    const double *o = obs + 4, *t = e->target_pos, *o0 = e->obj_init_pos;
    double tcp[3];
    tcp_of(e, tcp);
    double d = dist3(o, t), g = caging(e, a, o, 0.025, 0.05, 0.01, 0.005, 0.8, 2);
    double ip = tol(d, 0, 0.05, dist3(o0, t));
    double r = 2 * g;
    if (obs[3] > 0.5 && o[0] - o0[0] > 0.015 && dist3(o, tcp) < 0.035)
        r = 1 + 2 * g + 5 * ip;
    *success = d <= 0.07;
    return d <= 0.05 ? 10 : r;
}

/* Runs noisy scripted episodes (noise std 0.1) and compares every step's
 * reward and success flag with the reference; the counts show that
 * success, failure and low-reward (< 5) states were all seen. */
static void check_reward(const char *task, ref_reward_fn ref)
{
    env_sawyer *e = make(task);
    rng_state r;
    rng_seed(&r, 11, 0);
    reward_tally tally = {0};
    for (int k = 0; k < 3; k++) {
        float obs[ENV_OBS_DIM];
        assert_int_equal(env_reset_goal(e, k, obs, NULL), 0);
        double ep = NAN;
        for (int s = 0; s < 170; s++) {
            double ad[ENV_ACT_DIM];
            env_info inf = scripted_step_noisy(e, obs, 0.1, &r, ad);
            int succ;
            double want = ref(e, e->obs, ad, &ep, &succ);
            reward_tally_step(&tally, task, k, s, &inf, want, succ);
        }
    }
    reward_tally_check(&tally, task);
    env_destroy(e);
}

static void test_rewards_match_spec(void **st)
{
    (void)st;
    check_reward("coffee-pull-v2", ref_coffee);
    check_reward("coffee-push-v2", ref_coffee);
    check_reward("assembly-v2", ref_assembly);
    check_reward("disassemble-v2", ref_disassemble);
    check_reward("basketball-v2", ref_basketball);
    check_reward("bin-picking-v2", ref_bin_picking);
    check_reward("box-close-v2", ref_box_close);
    check_reward("hand-insert-v2", ref_hand_insert);
    check_reward("pick-out-of-hole-v2", ref_pick_out_of_hole);
    check_reward("shelf-place-v2", ref_shelf_place);
    check_reward("peg-unplug-side-v2", ref_peg_unplug);
}

/* ---- resets (spec §4.H-J "Reset") ---- */

static void check_resets(const char *task, void (*check)(env_sawyer *e, const double *v))
{
    env_sawyer *e = make(task);
    for (int k = 0; k < 5; k++) {
        float obs[ENV_OBS_DIM];
        assert_int_equal(env_reset_goal(e, k, obs, NULL), 0);
        const double *v = e->goals[k];
        assert_memory_equal(e->rand_vec, v, sizeof(double) * ENV_RAND_MAX_DIM);
        for (int i = 0; i < e->task->rand_dim; i++) {
            double lo = fmin(e->task->rand_low[i], e->task->rand_high[i]);
            double hi = fmax(e->task->rand_low[i], e->task->rand_high[i]);
            assert_true(v[i] >= lo && v[i] <= hi);
        }
        for (int i = 0; i < 3; i++)
            assert_true(obs[36 + i] == (float)e->target_pos[i]);
        check(e, v);
    }
    env_destroy(e);
}

static void reset_coffee_pull(env_sawyer *e, const double *v)
{
    /* The mug's free joint comes before the arm's in this scene. */
    assert_int_equal(e->m->jnt_qposadr[free_joint(e, "obj")], 0);
    double machine[3] = {v[0], v[1] + 0.22, v[2]};
    assert_vec_near(model_body_pos(e, "coffee_machine"), machine, 3, 1e-12, "machine");
    assert_vec_near(e->obs + 4, v, 3, 1e-12, "mug");
    assert_vec_near(e->target_pos, v + 3, 3, 0, "target");
    /* upright, turned 90 degrees about z (xyzw); the fall during the hand
     * reset may turn it a few degrees */
    const double up[4] = {0, 0, M_SQRT1_2, M_SQRT1_2};
    assert_vec_near(e->obs + 7, up, 4, 0.05, "mug quaternion");
}

static void reset_coffee_push(env_sawyer *e, const double *v)
{
    double machine[3] = {v[3], v[4] + 0.22, v[5]};
    assert_vec_near(model_body_pos(e, "coffee_machine"), machine, 3, 1e-12, "machine");
    assert_vec_near(e->obs + 4, v, 3, 1e-12, "mug");
    assert_vec_near(e->target_pos, v + 3, 3, 0, "target");
}

static void reset_assembly(env_sawyer *e, const double *v)
{
    double peg[3] = {v[3], v[4], v[5] - 0.05}, handle[3] = {v[0] + 0.13, v[1], v[2]};
    assert_vec_near(model_body_pos(e, "peg"), peg, 3, 1e-12, "peg");
    assert_vec_near(e->target_pos, v + 3, 3, 0, "target");
    assert_vec_near(site_pos(e, "RoundNut"), v, 3, 1e-9, "ring centre");
    assert_vec_near(e->obs + 4, handle, 3, 1e-3, "handle");
    const double flat[4] = {M_SQRT1_2, 0, 0, M_SQRT1_2};
    assert_vec_near(e->obs + 7, flat, 4, 1e-3, "nut quaternion");
}

static void reset_disassemble(env_sawyer *e, const double *v)
{
    double peg[3] = {v[0], v[1], v[2] + 0.03}, t[3] = {v[0], v[1], v[2] + 0.15};
    assert_true(v[0] >= 0 && v[0] <= 0.1);
    assert_vec_near(model_body_pos(e, "peg"), peg, 3, 1e-12, "peg");
    assert_vec_near(e->target_pos, t, 3, 1e-12, "target");
    assert_vec_near(site_pos(e, "RoundNut"), v, 3, 1e-9, "ring centre");
}

static void reset_basketball(env_sawyer *e, const double *v)
{
    double rim[3] = {v[3], v[4] - 0.083, v[5] + 0.25}, ball[3] = {v[0], v[1], 0.03};
    assert_vec_near(model_body_pos(e, "basket_goal"), v + 3, 3, 1e-12, "hoop");
    assert_vec_near(e->target_pos, rim, 3, 1e-9, "target");
    /* v2's reset bug is not reproduced: the ball starts, and stays, at the
     * sampled spot (not at the XML's (0, 0.6)). */
    assert_vec_near(e->obs + 4, ball, 3, 1e-12, "ball");
    step_n(e, 20, STILL);
    assert_vec_near(e->obs + 4, ball, 3, 1e-3, "ball at rest");
}

static void reset_bin_picking(env_sawyer *e, const double *v)
{
    const double bin_b[3] = {0.12, 0.7, 0};
    assert_vec_near(e->target_pos, bin_b, 3, 1e-12, "target");
    assert_vec_near(e->obs + 4, v, 2, 1e-12, "cube xy");
    assert_true(fabs(e->obs[6] - 0.03) < 1e-3); /* its resting height in bin A */
}

static void reset_box_close(env_sawyer *e, const double *v)
{
    double box[3] = {v[3], v[4], 0}, lid[3] = {v[0], v[1], 0.02};
    assert_vec_near(model_body_pos(e, "boxbody"), box, 3, 1e-12, "box");
    assert_vec_near(e->target_pos, v + 3, 3, 0, "target");
    assert_vec_near(body_pos(e, "boxbodytop"), lid, 3, 1e-12, "lid");
    /* it falls onto the table: top_link 1.6 cm up (rim and plate hull bottoms) */
    step_n(e, 40, STILL);
    assert_true(fabs(e->obs[6] - 0.016) < 0.002);
}

static void reset_hand_insert(env_sawyer *e, const double *v)
{
    double cube[3] = {v[0], v[1], 0.05};
    assert_vec_near(e->target_pos, v + 3, 3, 0, "target");
    assert_vec_near(e->obs + 4, cube, 3, 1e-12, "cube");
    step_n(e, 40, STILL); /* pops up onto the raised table top */
    assert_true(fabs(e->obs[6] - 0.07) < 0.002);
}

static void reset_pick_out_of_hole(env_sawyer *e, const double *v)
{
    const double in_hole[3] = {0, 0.75, 0.02};
    assert_vec_near(e->target_pos, v + 3, 3, 0, "target");
    assert_vec_near(e->obs + 4, in_hole, 3, 1e-12, "cylinder");
}

static void reset_shelf_place(env_sawyer *e, const double *v)
{
    double shelf[3] = {v[3], v[4], v[5] - 0.3};
    assert_vec_near(model_body_pos(e, "shelf"), shelf, 3, 1e-12, "shelf");
    assert_vec_near(e->target_pos, v + 3, 3, 1e-12, "target");
    assert_vec_near(e->obs + 4, v, 2, 1e-12, "cube xy");
    assert_true(fabs(e->obs[6] - 0.02) < 1e-3);
}

static void reset_peg_unplug(env_sawyer *e, const double *v)
{
    double end[3] = {v[0] + 0.084, v[1], v[2] + 0.131}, t[3] = {v[0] + 0.194, v[1], v[2] + 0.131};
    const double upright[4] = {1, 0, 0, 0};
    assert_vec_near(model_body_pos(e, "box"), v, 3, 1e-12, "socket");
    assert_vec_near(e->obs + 4, end, 3, 1e-9, "pegEnd");
    assert_vec_near(e->obj_init_pos, end, 3, 1e-9, "obj_init");
    assert_vec_near(e->target_pos, t, 3, 1e-12, "target");
    assert_vec_near(e->obs + 7, upright, 4, 1e-12, "plug quaternion");
    /* the plug stays seated in its socket */
    step_n(e, 60, STILL);
    assert_vec_near(e->obs + 4, end, 3, 2e-3, "seated pegEnd");
}

static void test_resets(void **st)
{
    (void)st;
    check_resets("coffee-pull-v2", reset_coffee_pull);
    check_resets("coffee-push-v2", reset_coffee_push);
    check_resets("assembly-v2", reset_assembly);
    check_resets("disassemble-v2", reset_disassemble);
    check_resets("basketball-v2", reset_basketball);
    check_resets("bin-picking-v2", reset_bin_picking);
    check_resets("box-close-v2", reset_box_close);
    check_resets("hand-insert-v2", reset_hand_insert);
    check_resets("pick-out-of-hole-v2", reset_pick_out_of_hole);
    check_resets("shelf-place-v2", reset_shelf_place);
    check_resets("peg-unplug-side-v2", reset_peg_unplug);
}

/* ---- scene geometry, through where things come to rest ---- */

/* Puts a free body at p (orientation kept) at rest, lets it settle. */
static void drop(env_sawyer *e, const char *body, double x, double y, double z, int steps)
{
    const double p[3] = {x, y, z};
    env_set_obj_xyz(e, free_joint(e, body), p);
    step_n(e, steps, STILL);
}

/* Spec §3.1 basic_scene_b: table top at 0.05 around a 16 x 16 cm hole, 5 cm
 * deep; no retaining walls (sawyer_world.xml's are switched off here: a cube
 * where the far wall stands rests undisturbed). */
static void test_hole_table(void **st)
{
    (void)st;
    env_sawyer *e = make("hand-insert-v2");
    env_reset_goal(e, 0, NULL, NULL);
    drop(e, "obj", 0.3, 0.7, 0.08, 40);
    assert_true(fabs(e->obs[6] - 0.07) < 0.002);
    drop(e, "obj", 0, 0.84, 0.08, 60);
    assert_true(fabs(e->obs[6] - 0.02) < 0.002);
    drop(e, "obj", 0.3, 0.975, 0.075, 40);
    assert_true(fabs(e->obs[6] - 0.07) < 0.002);
    assert_true(fabs(e->obs[5] - 0.975) < 0.002);
    env_destroy(e);
}

/* Spec §3.1 pick-out-of-hole platform: 5.4 cm high, a 30 cm hole down to
 * the table. */
static void test_platform(void **st)
{
    (void)st;
    env_sawyer *e = make("pick-out-of-hole-v2");
    env_reset_goal(e, 0, NULL, NULL);
    step_n(e, 30, STILL);
    assert_true(fabs(e->obs[6] - 0.02) < 0.002);
    drop(e, "obj", 0.3, 0.5, 0.08, 80);
    assert_true(fabs(e->obs[6] - 0.074) < 0.002);
    drop(e, "obj", -0.12, 0.9, 0.05, 80); /* the hole's far corner */
    assert_true(fabs(e->obs[6] - 0.02) < 0.002);
    env_destroy(e);
}

/* Spec §3.3 box: the lid laid straight onto the box rests with top_link at
 * z 0.0756 (plate on the walls), which counts as success (0.057 under the
 * target). */
static void test_lid_on_box(void **st)
{
    (void)st;
    env_sawyer *e = make("box-close-v2");
    env_reset_goal(e, 0, NULL, NULL);
    const double *t = e->target_pos;
    int j = free_joint(e, "boxbodytop");
    double *q = e->d->qpos + e->m->jnt_qposadr[j];
    q[3] = M_SQRT1_2, q[4] = 0, q[5] = 0, q[6] = M_SQRT1_2;
    const double p[3] = {t[0], t[1], 0.01};
    env_set_obj_xyz(e, j, p);
    int success = step_n(e, 60, STILL);
    assert_true(fabs(e->obs[6] - 0.0756) < 0.0015);
    assert_true(fabs(e->obs[4] - t[0]) < 0.003 && fabs(e->obs[5] - t[1]) < 0.003);
    assert_int_equal(success, 1);
    env_destroy(e);
}

/* Spec §3.3 shelf: boards' tops at 0.06 and 0.25 above the shelf base; a
 * cube on the upper board at the target's xy is a success, on the lower one
 * not. */
static void test_shelf_boards(void **st)
{
    (void)st;
    env_sawyer *e = make("shelf-place-v2");
    env_reset_goal(e, 0, NULL, NULL);
    const double *t = e->target_pos;
    double base = t[2] - 0.3;
    drop(e, "obj", t[0], t[1] - 0.02, base + 0.1, 60);
    assert_true(fabs(e->obs[6] - (base + 0.08)) < 0.002);
    assert_int_equal(step_n(e, 1, STILL), 0);
    drop(e, "obj", t[0], t[1] - 0.02, base + 0.29, 60);
    assert_true(fabs(e->obs[6] - (base + 0.27)) < 0.002);
    assert_int_equal(step_n(e, 1, STILL), 1);
    env_destroy(e);
}

/* Spec §3.3 basketball: the ball held 5 cm over the rim centre is a
 * success; let go there, it falls through the rim (4.4 cm rim radius less
 * the capsules' 1 cm, for a 3 cm ball) to the table. */
static void test_hoop(void **st)
{
    (void)st;
    env_sawyer *e = make("basketball-v2");
    env_reset_goal(e, 3, NULL, NULL);
    const double *t = e->target_pos;
    drop(e, "bsktball", t[0], t[1], 0.3, 0);
    assert_int_equal(step_n(e, 1, STILL), 1);
    drop(e, "bsktball", t[0], t[1], 0.33, 80);
    assert_true(fabs(e->obs[6] - 0.03) < 0.002);
    assert_true(hypot(e->obs[4] - t[0], e->obs[5] - t[1]) < 0.01);
    env_destroy(e);
}

/* ---- determinism across thread counts ---- */

#define ALL_C                                                                                  \
    "coffee-pull-v2,coffee-push-v2,assembly-v2,disassemble-v2,basketball-v2,bin-picking-v2,"   \
    "box-close-v2,hand-insert-v2,pick-out-of-hole-v2,shelf-place-v2,peg-unplug-side-v2"
#define NC 11

ENVS_TEST_THREADS_IDENTICAL(ALL_C, NC, 25, 60, 2)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resets),
        cmocka_unit_test(test_hole_table),
        cmocka_unit_test(test_platform),
        cmocka_unit_test(test_lid_on_box),
        cmocka_unit_test(test_shelf_boards),
        cmocka_unit_test(test_hoop),
        cmocka_unit_test(test_rewards_match_spec),
        cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_coffee_nut_scripted),
        cmocka_unit_test(test_carry_scripted),
        cmocka_unit_test(test_scripted_with_noise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
