/* MT50 sweeps, soccer and tools: sweep, sweep-into, soccer, hammer, stick-push, stick-pull
 * (spec metaworld-mt50.md §4.K-L) and the mt50 benchmark list (§1).
 * Scripted policies reach max(0.9, Meta-World's target of spec Appendix F)
 * over the 50 goals of goal seed 1, and Meta-World's noisy targets with 10 %
 * action noise; rewards, success flags and the target distance equal the
 * spec's formulas recomputed here at every step of noisy scripted episodes
 * (the caging rewards written out again, the stick-push variant with the
 * stick's start in place of obj_init_pos); the scenes compile to the
 * original masses, the soccer goal's boxes cover the hull vertices of
 * Appendix A and leave the goal's inside free; resets place objects,
 * targets and the second observed object as the spec says; the mt50 list
 * resolves in the spec's order once every task is registered; runs are
 * identical across thread counts. */
#include "testutil.h"

#include "envs_probe.h"
#include "envs_scripted.h"
#include "envs_mt50.h"
#include "envs/reward.h"
#include "envs/task.h"

/* ---- scripted policies (targets: max(0.9, spec Appendix F)) ---- */

static void test_push_place_scripted(void **st)
{
    (void)st;
    assert_scripted("sweep-v2", 0.99);
    assert_scripted("sweep-into-v2", 0.98);
    assert_scripted("soccer-v2", 0.9);
    /* Meta-World's targets under 10 % action noise (std 0.2). */
    assert_scripted_noisy("soccer-v2", 0.81);
}

static void test_tool_scripted(void **st)
{
    (void)st;
    assert_scripted("hammer-v2", 1.0);
    assert_scripted("stick-push-v2", 0.98);
    /* The thermos's x slide ends at x 0.4 while goals reach x 0.45, and the
     * loop has to come within 4.3 cm of the goal in xy: the soft limit gives
     * the last millimetres (the original's target is 0.96). */
    assert_scripted("stick-pull-v2", 0.96);
    assert_scripted_noisy("stick-pull-v2", 0.81);
}

/* ---- reference rewards (spec §2.1, §4.K-L), from the double observation,
 * the raw action and mjData ---- */

/* Spec §2.1 OldCage. Meta-World's "initial" pads are the current ones. */
static double ref_old_cage(const env_sawyer *e, const double *o, double rho, double slack,
                           double eps)
{
    const double *L = body_pos(e, "leftpad"), *R = body_pos(e, "rightpad");
    double tcp[3];
    tcp_of(e, tcp);
    double dl = L[1] - o[1], dr = o[1] - R[1];
    double ml = fabs(fabs(o[1] - L[1]) - 0.05), mr = fabs(fabs(o[1] - R[1]) - 0.05);
    double ycage = ham(tol(dr, rho, 0.05, mr), tol(dl, rho, 0.05, ml));
    double ygrip = ham(tol(dr, rho, rho + slack, mr), tol(dl, rho, rho + slack, ml));
    double mxz = hypot(e->obj_init_pos[0] - e->init_tcp[0], e->obj_init_pos[2] - e->init_tcp[2]);
    double cage = ham(ycage, tol(hypot(tcp[0] - o[0], tcp[2] - o[2]), 0, eps, mxz - eps));
    return (cage + (cage > 0.95 ? ygrip : 0)) / 2;
}

/* The base caging reward G (metaworld-mt10.md §7.1, high density, effort 1)
 * with its "initial object" o0 given explicitly: obj_init_pos for the
 * standard one, the stick's start for stick-push's override. */
static double ref_cage(const env_sawyer *e, const double *a, const double *o, const double *o0,
                       double r, double pad, double xz)
{
    const double *P[2] = {body_pos(e, "leftpad"), body_pos(e, "rightpad")};
    double c[2], tcp[3];
    for (int i = 0; i < 2; i++)
        c[i] = tol(fabs(P[i][1] - o[1]), r, pad, fabs(fabs(P[i][1] - o0[1]) - pad));
    tcp_of(e, tcp);
    const double *t0 = e->init_tcp;
    double cxz = tol(hypot(tcp[0] - o[0], tcp[2] - o[2]), 0, xz,
                     hypot(o0[0] - t0[0], o0[2] - t0[2]) - xz);
    double caging = ham(ham(c[0], c[1]), cxz);
    double closed = fmin(fmax(a[3], 0), 1);
    double g = ham(caging, caging > 0.97 ? closed : 0);
    return (g + caging) / 2;
}

typedef struct ref_out {
    double reward, obj_to_target;
    int success;
} ref_out;

typedef ref_out (*ref_fn)(env_sawyer *e, const double *obs, const double *a);

static ref_out ref_sweep(env_sawyer *e, const double *obs, const double *a)
{
    (void)a;
    const double *o = obs + 4, *g = e->target_pos;
    double d = dist3(o, g), ip = tol(d, 0, 0.05, dist3(e->obj_init_pos, g));
    double cage = ref_old_cage(e, o, 0.02, 0.01, 0.005);
    return (ref_out){d < 0.05 ? 10 : 2 * cage + 6 * ham(cage, ip), d, d <= 0.05};
}

static ref_out ref_sweep_into(env_sawyer *e, const double *obs, const double *a)
{
    (void)a;
    const double *o = obs + 4;
    const double t[3] = {0, 0.84, o[2]}; /* the hole's centre at the cube's height */
    double d = dist3(o, t), ip = tol(d, 0, 0.05, dist3(e->obj_init_pos, t));
    double cage = ref_old_cage(e, o, 0.02, 0.005, 0.01);
    return (ref_out){d < 0.05 ? 10 : 2 * cage + 6 * ham(cage, ip), d, d <= 0.05};
}

static ref_out ref_soccer(env_sawyer *e, const double *obs, const double *a)
{
    (void)a;
    const double *o = obs + 4, *g = e->target_pos, *o0 = e->obj_init_pos;
    double ds[3] = {3 * (o[0] - g[0]), o[1] - g[1], o[2] - g[2]};
    double dm[3] = {3 * (o[0] - o0[0]), o[1] - o0[1], o[2] - o0[2]};
    double ip = tol(norm3(ds), 0, 0.07, norm3(dm));
    double line = g[1] - 0.1;
    if (o[1] > line && fabs(o[0] - g[0]) > 0.1)
        ip = fmin(fmax(ip - 2 * (o[1] - line) / (1 - line), 0), 1);
    double cage = ref_old_cage(e, o, 0.013, 0.01, 0.005);
    double d = dist3(o, g);
    return (ref_out){norm3(ds) < 0.07 ? 10 : 3 * cage + 6.5 * ip, d, d <= 0.07};
}

static ref_out ref_hammer(env_sawyer *e, const double *obs, const double *a)
{
    const double *h = obs, *hm = obs + 4, *q = obs + 7;
    double head[3] = {hm[0] + 0.16, hm[1] + 0.06, hm[2]}, ht[3] = {hm[0], hm[1], hm[2]};
    if (fabs(hm[0] - h[0]) < 0.07)
        ht[0] = h[0];
    double dq[4] = {q[0] - 1, q[1], q[2], q[3]};
    double rq = fmax(1 - sqrt(dq[0] * dq[0] + dq[1] * dq[1] + dq[2] * dq[2] + dq[3] * dq[3]) / 0.4, 0);
    double g = ref_cage(e, a, ht, e->obj_init_pos, 0.015, 0.02, 0.01);
    double ip = 0.1 * (head[2] > 0.02) + 0.9 * tol(dist3(e->target_pos, head), 0, 0.02, 0.2);
    double r = (2 * g + 6 * ip) * rq;
    int success = qpos_of(e, "NailSlideJoint") > 0.09;
    return (ref_out){success && r > 5 ? 10 : r, 0, success};
}

static ref_out ref_stick_push(env_sawyer *e, const double *obs, const double *a)
{
    const double *g = e->target_pos, *s0 = e->task_vals, *c = obs + 11;
    double st[3] = {obs[4] + 0.015, obs[5], obs[6]}, tcp[3];
    tcp_of(e, tcp);
    double sip = tol(dist3(st, g), 0, 0.12, dist3(s0, g) - 0.12);
    double cd = dist3(c, g), cip = tol(cd, 0, 0.12, dist3(e->obj_init_pos, g) - 0.12);
    double r = ref_cage(e, a, st, s0, 0.04, 0.05, 0.01);
    if (dist3(st, tcp) < 0.02 && obs[3] > 0 && st[2] - 0.01 > s0[2])
        r = cd <= 0.12 ? 10 : 2 + 5 * sip + 3 * cip;
    return (ref_out){r, cd, obs[3] > 0 && obs[6] - 0.01 > s0[2] && cd <= 0.12};
}

static ref_out ref_stick_pull(env_sawyer *e, const double *obs, const double *a)
{
    const double *g = e->target_pos, *s0 = e->task_vals, *st = obs + 4, *h = obs + 11;
    const double *o0 = e->obj_init_pos, *end = site_pos(e, "stick_end");
    double ct[3] = {h[0] + 0.05, h[1], h[2]}, ct0[3] = {o0[0] + 0.05, o0[1], o0[2]};
    double d1[3] = {st[0] - ct[0], st[1] - ct[1], 2 * (st[2] - ct[2])};
    double d0[3] = {s0[0] - ct0[0], s0[1] - ct0[1], 2 * (s0[2] - ct0[2])};
    double sip = tol(norm3(d1), 0, 0.05, norm3(d0));
    double sip2 = tol(dist3(st, g), 0, 0.05, dist3(s0, g));
    double cip = tol(dist3(ct, g), 0, 0.05, dist3(o0, g));
    double tcp[3];
    tcp_of(e, tcp);
    int gs = dist3(st, tcp) < 0.02 && obs[3] > 0 && st[2] - 0.01 > s0[2];
    double cage = gs ? 1 : ref_cage(e, a, st, o0, 0.014, 0.05, 0.01);
    double gi = ham(cage, sip), hd = dist3(h, g), r = gi;
    int inserted = end[0] >= h[0] && fabs(end[1] - h[1]) <= 0.04 && fabs(end[2] - h[2]) <= 0.06;
    if (gs)
        r = !inserted ? 1 + gi + 5 * sip : hd <= 0.12 ? 10 : 1 + gi + 5 + 2 * sip2 + cip;
    return (ref_out){r, hd, hd <= 0.12 && inserted};
}

/* Noisy scripted episodes (3 goals, 150 steps each): at every step the env's
 * reward, success flag and target distance equal the reference's. */
static void check_reward(const char *task, ref_fn ref, int *successes)
{
    env_sawyer *e = make(task);
    rng_state r;
    rng_seed(&r, 11, 0);
    for (int k = 0; k < 3; k++) {
        float obs[ENV_OBS_DIM];
        assert_int_equal(env_reset_goal(e, k, obs, NULL), 0);
        for (int s = 0; s < 150; s++) {
            double a[4];
            e->task->policy(e->obs, a);
            for (int i = 0; i < 4; i++)
                a[i] += 0.1 * rng_normal(&r);
            env_info inf;
            env_step_flags fl;
            assert_int_equal(env_step_d(e, a, &inf, &fl, NULL), 0);
            assert_int_equal(fl.unstable, 0);
            ref_out want = ref(e, e->obs, a);
            if (!(fabs(inf.reward - want.reward) <= 1e-9) || inf.success != want.success)
                fail_msg("%s goal %d step %d: reward %.12g success %d, spec %.12g %d", task, k, s,
                         inf.reward, inf.success, want.reward, want.success);
            if (ref != ref_hammer && !(fabs(inf.obj_to_target - want.obj_to_target) <= 1e-12))
                fail_msg("%s goal %d step %d: obj_to_target %.12g, spec %.12g", task, k, s,
                         inf.obj_to_target, want.obj_to_target);
            *successes += inf.success;
        }
    }
    env_destroy(e);
}

static void test_rewards_match_spec(void **st)
{
    (void)st;
    static const struct {
        const char *task;
        ref_fn ref;
    } cases[] = {{"sweep-v2", ref_sweep},           {"sweep-into-v2", ref_sweep_into},
                 {"soccer-v2", ref_soccer},         {"hammer-v2", ref_hammer},
                 {"stick-push-v2", ref_stick_push}, {"stick-pull-v2", ref_stick_pull}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int successes = 0;
        check_reward(cases[i].task, cases[i].ref, &successes);
        /* the episodes run on past success: both branches were compared */
        if (successes == 0)
            fail_msg("%s: no successful step in the compared episodes", cases[i].task);
    }
}

/* ---- info fields ---- */

/* grasp_success: sweep's is a real contact test (both pads on the block),
 * soccer's and the sticks' the original's lift tests alone (spec E.9),
 * hammer's the caging term at 0.5. Checked on a scripted run until success;
 * except for soccer (whose policy carries the ball in low, never 2 cm up)
 * the flag must have been set on the way. */
static void test_grasp_info(void **st)
{
    (void)st;
    static const char *const tasks[] = {"sweep-v2", "soccer-v2", "hammer-v2", "stick-push-v2",
                                        "stick-pull-v2"};
    for (int t = 0; t < 5; t++) {
        env_sawyer *e = make(tasks[t]);
        float obs[ENV_OBS_DIM];
        env_reset_goal(e, 0, obs, NULL);
        int seen = 0;
        for (int s = 0; s < 500; s++) {
            env_info inf = scripted_step(e, obs);
            const double *o = e->obs + 4;
            int want;
            if (t == 0)
                want = env_touching(e, id_of(e, mjOBJ_GEOM, "objGeom")) && e->obs[3] > 0;
            else if (t == 1)
                want = e->obs[3] > 0 && o[2] - 0.02 > e->obj_init_pos[2];
            else if (t == 2)
                want = inf.grasp_reward >= 0.5;
            else if (t == 3)
                want = e->obs[3] > 0 && o[2] - 0.01 > e->task_vals[2];
            else
                want = e->obs[3] > 0 && o[2] - 0.02 > e->obj_init_pos[2];
            assert_int_equal((int)inf.grasp_success, want);
            seen += want;
            if (inf.success)
                break;
        }
        if (!seen && t != 1)
            fail_msg("%s: grasp_success never set on a successful run", tasks[t]);
        env_destroy(e);
    }
}

/* ---- compiled scenes ---- */

static int geom_in_body_count(const env_sawyer *e, int b)
{
    int n = 0;
    for (int g = 0; g < e->m->ngeom; g++)
        n += e->m->geom_bodyid[g] == b;
    return n;
}

/* Masses as the original compiles them (spec §3.2-3.3): they set how the
 * tools swing in the grip and how hard the thermos is to move. */
static void test_masses(void **st)
{
    (void)st;
    static const struct {
        const char *task, *body;
        double mass, tol;
    } m[] = {{"sweep-v2", "obj", 0.1, 1e-12},          {"soccer-v2", "soccer_ball", 0.04, 1e-12},
             {"hammer-v2", "hammer", 1.1, 1e-12},       {"hammer-v2", "nail_link", 0.0886, 1e-4},
             {"stick-push-v2", "stick", 0.02, 1e-12},   {"stick-push-v2", "thermos", 3.33, 1e-3},
             {"sweep-into-v2", "obj", 0.01, 1e-12}};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        env_sawyer *e = make(m[i].task);
        double got = e->m->body_mass[id_of(e, mjOBJ_BODY, m[i].body)];
        if (!(fabs(got - m[i].mass) <= m[i].tol))
            fail_msg("%s body %s: mass %g, expected %g", m[i].task, m[i].body, got, m[i].mass);
        if (!strcmp(m[i].body, "hammer")) {
            /* the centre of mass sits in the head: 0.16 x 1.0 kg / 1.1 kg */
            int b = id_of(e, mjOBJ_BODY, "hammer");
            assert_float_equal(e->m->body_ipos[3 * b], 0.16 / 1.1, 1e-3);
            assert_int_equal(geom_in_body_count(e, b), 6);
        }
        env_destroy(e);
    }
}

/* Point p (world) inside box geom g, grown by eps. */
static int in_box(const env_sawyer *e, int g, const double p[3], double eps)
{
    const double *c = e->d->geom_xpos + 3 * g, *R = e->d->geom_xmat + 9 * g;
    const double *s = e->m->geom_size + 3 * g;
    for (int i = 0; i < 3; i++) {
        double l = R[i] * (p[0] - c[0]) + R[3 + i] * (p[1] - c[1]) + R[6 + i] * (p[2] - c[2]);
        if (fabs(l) > s[i] + eps)
            return 0;
    }
    return 1;
}

static int in_goal(const env_sawyer *e, const double local[3], double eps)
{
    int b = id_of(e, mjOBJ_BODY, "goal_whole");
    const double *o = e->d->xpos + 3 * b;
    double p[3] = {o[0] + local[0], o[1] + local[1], o[2] + local[2]};
    for (int g = 0; g < e->m->ngeom; g++)
        if (e->m->geom_bodyid[g] == b && e->m->geom_type[g] == mjGEOM_BOX && in_box(e, g, p, eps))
            return 1;
    return 0;
}

/* The goal's boxes against the original's four collision hulls (spec
 * Appendix A, frame goal_whole): every hull vertex lies in a box (to the
 * rounding of the box sizes), the inside of the goal (where the ball goes)
 * and the space just outside the hulls are free. */
static void test_soccer_goal_covers_hulls(void **st)
{
    (void)st;
    static const double v[32][3] = {
        /* goal_col1 */
        {0.1027, -0.0637, 0}, {0.1027, 0.0635, 0}, {0.1027, 0.0135, 0.165}, {0.1027, -0.0637, 0.165},
        {0.0902, -0.0637, 0}, {0.0902, -0.0637, 0.165}, {0.0902, 0.0135, 0.165}, {0.0902, 0.0635, 0},
        /* goal_col2 */
        {-0.1027, 0.0635, 0}, {-0.1027, 0.0135, 0.165}, {0.1027, 0.0135, 0.165}, {0.1027, 0.0635, 0},
        {-0.1027, 0.0489, 0}, {0.1027, 0.0489, 0}, {0.1027, -0.0011, 0.165}, {-0.1027, -0.0011, 0.165},
        /* goal_col3 */
        {-0.1027, -0.0637, 0}, {-0.1027, -0.0637, 0.165}, {-0.1027, 0.0135, 0.165}, {-0.1027, 0.0635, 0},
        {-0.0902, -0.0637, 0}, {-0.0902, 0.0635, 0}, {-0.0902, 0.0135, 0.165}, {-0.0902, -0.0637, 0.165},
        /* goal_col4 */
        {-0.0902, -0.0637, 0.165}, {0.0907, -0.0637, 0.165}, {0.0907, 0.0135, 0.165}, {-0.0902, 0.0135, 0.165},
        {0.0907, 0.0135, 0.1536}, {0.0907, -0.0637, 0.1536}, {-0.0902, -0.0637, 0.1536}, {-0.0902, 0.0135, 0.1536}};
    env_sawyer *e = make("soccer-v2");
    mj_forward(e->m, e->d);
    for (int i = 0; i < 32; i++)
        if (!in_goal(e, v[i], 2e-5))
            fail_msg("hull vertex %d (%g, %g, %g) outside the goal's boxes", i, v[i][0], v[i][1],
                     v[i][2]);
    /* inside: x within the posts, from the mouth to 3 mm before the back
     * wall's front face (y 0.0489 at the floor, leaning back 0.05 per 0.165
     * up), below the roof */
    for (double x = -0.088; x <= 0.088; x += 0.008)
        for (double z = 0.001; z <= 0.152; z += 0.005)
            for (double y = -0.08; y <= 0.0489 - 0.05 * z / 0.165 - 0.003; y += 0.005) {
                double p[3] = {x, y, z};
                if (in_goal(e, p, 0))
                    fail_msg("goal box intrudes at (%g, %g, %g) inside the goal", x, y, z);
            }
    /* outside: behind the back wall, above the roof, beside the posts */
    for (double z = 0.005; z <= 0.16; z += 0.005) {
        double behind[3] = {0, 0.0635 - 0.05 * z / 0.165 + 0.003, z};
        double side[3] = {0.1027 + 0.002, 0, z}, roof[3] = {0, -0.03, 0.168};
        assert_false(in_goal(e, behind, 0));
        assert_false(in_goal(e, side, 0));
        assert_false(in_goal(e, roof, 0));
    }
    env_destroy(e);
}

/* The thermos: its handle loop (the site "insertion" at its centre) leaves
 * a 7 x 11.6 cm window between the outer bar, the body and the two
 * crossbars, which a 4 x 4 cm stick passes. */
static void test_thermos_loop(void **st)
{
    (void)st;
    env_sawyer *e = make("stick-pull-v2");
    mj_forward(e->m, e->d);
    const double *h = site_pos(e, "insertion");
    int th = id_of(e, mjOBJ_BODY, "thermos");
    for (double y = -0.038; y <= 0.028; y += 0.002)
        for (double z = -0.056; z <= 0.056; z += 0.004) {
            double p[3] = {h[0], h[1] + y, h[2] + z};
            for (int g = 0; g < e->m->ngeom; g++) {
                if (e->m->geom_bodyid[g] != th)
                    continue;
                int in = e->m->geom_type[g] == mjGEOM_BOX
                             ? in_box(e, g, p, 0)
                             : hypot(p[0] - e->d->geom_xpos[3 * g], p[1] - e->d->geom_xpos[3 * g + 1]) <=
                                       e->m->geom_size[3 * g] &&
                                   fabs(p[2] - e->d->geom_xpos[3 * g + 2]) <= e->m->geom_size[3 * g + 1];
                if (in)
                    fail_msg("thermos geom %d blocks the loop at (%g, %g)", g, y, z);
            }
        }
    /* the outer bar closes the loop 4-5 cm out, the body 3 cm in */
    double bar[3] = {h[0], h[1] - 0.045, h[2]}, body[3] = {h[0], h[1] + 0.035, h[2]};
    int hit_bar = 0, hit_body = 0;
    for (int g = 0; g < e->m->ngeom; g++)
        if (e->m->geom_bodyid[g] == th && e->m->geom_type[g] == mjGEOM_BOX)
            hit_bar |= in_box(e, g, bar, 0);
    for (int g = 0; g < e->m->ngeom; g++)
        if (e->m->geom_bodyid[g] == th && e->m->geom_type[g] == mjGEOM_CYLINDER)
            hit_body |= hypot(body[0] - e->d->geom_xpos[3 * g], body[1] - e->d->geom_xpos[3 * g + 1]) <=
                        e->m->geom_size[3 * g];
    assert_true(hit_bar);
    assert_true(hit_body);
    env_destroy(e);
}

/* ---- resets and observations ---- */

/* Zero-action steps (gripper open) */
static void idle(env_sawyer *e, int n)
{
    const double a[4] = {0, 0, 0, -1};
    for (int i = 0; i < n; i++) {
        env_info inf;
        env_step_flags fl;
        assert_int_equal(env_step_d(e, a, &inf, &fl, NULL), 0);
        assert_int_equal(fl.unstable, 0);
    }
}

static void test_push_place_resets(void **st)
{
    (void)st;
    for (int k = 0; k < 50; k += 7) {
        env_sawyer *e = make("sweep-v2");
        double v[ENV_NUM_GOALS * 6];
        int dim;
        mtrl_err err = {0};
        assert_int_equal(env_goal_set(e->task_index, 1, v, &dim, &err), 0);
        assert_int_equal(dim, 3);
        float obs[ENV_OBS_DIM];
        env_reset_goal(e, k, obs, NULL);
        const double *r = v + 6 * k;
        const double tgt[3] = {0.5, r[1], 0.01}, o0[3] = {r[0], r[1], 0.02};
        assert_vec_near(e->target_pos, tgt, 3, 0, "sweep target");
        assert_vec_near(e->obs + 4, o0, 3, 1e-12, "sweep block at reset");
        idle(e, 40); /* the block drops 2 cm onto the table: its frame is its bottom */
        assert_float_equal(e->obs[6], 0, 2e-3);
        env_destroy(e);

        e = make("sweep-into-v2");
        assert_int_equal(env_goal_set(e->task_index, 1, v, &dim, &err), 0);
        env_reset_goal(e, k, obs, NULL);
        const double hole[3] = {0, 0.84, 0.02};
        assert_vec_near(e->target_pos, hole, 3, 0, "sweep-into target");
        /* the cube settled on the raised table top (z 0.05 + 0.02) */
        assert_float_equal(e->obj_init_pos[2], 0.07, 2e-3);
        assert_float_equal(e->obs[4], r[0], 1e-12);
        assert_float_equal(e->obs[5], r[1], 1e-12);
        env_destroy(e);

        e = make("soccer-v2");
        assert_int_equal(env_goal_set(e->task_index, 1, v, &dim, &err), 0);
        env_reset_goal(e, k, obs, NULL);
        assert_vec_near(e->target_pos, r + 6 * 0 + 3, 3, 0, "soccer target");
        assert_vec_near(body_pos(e, "goal_whole"), e->target_pos, 3, 0, "soccer goal body");
        const double b0[3] = {r[0], r[1], 0.03};
        assert_vec_near(e->obs + 4, b0, 3, 1e-12, "ball at reset");
        assert_true(hypot(r[0] - r[3], r[1] - r[4]) >= 0.15);
        idle(e, 40);
        assert_float_equal(e->obs[6], 0.026, 1e-3); /* resting on the table */
        env_destroy(e);
    }
}

static void test_tool_resets(void **st)
{
    (void)st;
    double v[ENV_NUM_GOALS * 6];
    int dim;
    mtrl_err err = {0};
    float obs[ENV_OBS_DIM];
    for (int k = 0; k < 50; k += 7) {
        env_sawyer *e = make("hammer-v2");
        assert_int_equal(env_goal_set(e->task_index, 1, v, &dim, &err), 0);
        env_reset_goal(e, k, obs, NULL);
        const double *r = v + 6 * k, goal[3] = {0.24, 0.74, 0.11};
        assert_vec_near(e->target_pos, goal, 3, 1e-12, "hammer target");
        assert_vec_near(e->obs + 4, r, 3, 1e-12, "hammer at reset (half in the table)");
        /* obs[11:18]: the nail's frame and orientation, nail not driven */
        const double nail[7] = {0.24, 0.64, 0.11, 1, 0, 0, 0};
        assert_vec_near(e->obs + 11, nail, 7, 1e-9, "nail observation");
        assert_float_equal(qpos_of(e, "NailSlideJoint"), 0, 0);
        /* pushed out of the table without blowing up: it lies on it, slow */
        idle(e, 40);
        assert_true(e->obs[6] > 0.01 && e->obs[6] < 0.05);
        const double *qv = e->d->qvel + e->m->jnt_dofadr[id_of(e, mjOBJ_JOINT, "hammer_joint")];
        assert_true(norm3(qv) < 0.05);
        env_destroy(e);

        for (int pull = 0; pull < 2; pull++) {
            e = make(pull ? "stick-pull-v2" : "stick-push-v2");
            assert_int_equal(env_goal_set(e->task_index, 1, v, &dim, &err), 0);
            env_reset_goal(e, k, obs, NULL);
            const double s0[3] = {r[0], r[1], 0.02};
            assert_vec_near(e->obs + 4, s0, 3, 1e-12, "stick at reset");
            assert_vec_near(e->task_vals, s0, 3, 0, "stick start");
            assert_true(hypot(r[0] - r[3], r[1] - r[4]) >= 0.1);
            /* obj_init_pos: the thermos's fixed parent frame, as the original
             * reads it (the spec's 0.69 for stick-pull is the thermos itself) */
            const double frame[3] = {0.2, 0.6, 0};
            assert_vec_near(e->obj_init_pos, frame, 3, 0, "thermos frame");
            const double *ins = site_pos(e, "insertion");
            double thermos_y = pull ? 0.69 : 0.6;
            assert_float_equal(qpos_of(e, "obj_slidey"), pull ? 0.09 : 0, 0);
            assert_float_equal(body_pos(e, "thermos")[1], thermos_y, 1e-12);
            double want2[7] = {ins[0], ins[1] + (pull ? 0 : 0.09), ins[2], 0, 0, 0, 0};
            assert_vec_near(e->obs + 11, want2, 7, 0, "thermos observation");
            assert_float_equal(ins[2], 0.132, 1e-12);
            double tgt[3] = {r[3], r[4], pull ? 0.02 : 0.132};
            assert_vec_near(e->target_pos, tgt, 3, 1e-12, "stick target");
            env_destroy(e);
        }
    }
}

/* ---- the mt50 benchmark ---- */

/* With every task registered, mt50 is the spec's 50 in its order (the
 * one-hot order); before that it fails naming a task that is missing. mt10
 * keeps its own order either way. */
static void test_mt50_benchmark(void **st)
{
    (void)st;
    int idx[64], n, missing = 0, t;
    mtrl_err err = {0};
    for (int i = 0; i < 50; i++)
        missing += env_task_find(mt50_order[i], &t, &err) != 0;
    err = (mtrl_err){0};
    int rc = env_benchmark_tasks("mt50", idx, 64, &n, &err);
    if (missing) {
        assert_int_equal(rc, MTRL_EINPUT);
        assert_non_null(strstr(err.msg, "not registered"));
        int named = 0;
        for (int i = 0; i < 50; i++)
            if (strstr(err.msg, mt50_order[i]) && env_task_find(mt50_order[i], &t, &err) != 0)
                named = 1;
        assert_true(named);
        printf("    mt50: %d of 50 tasks not registered yet\n", missing);
    } else {
        assert_int_equal(rc, 0);
        assert_int_equal(n, 50);
        for (int i = 0; i < 50; i++)
            assert_string_equal(env_task_name(idx[i]), mt50_order[i]);
    }
    static const char *const mt10[10] = {"reach-v2",         "push-v2",
                                         "pick-place-v2",    "door-open-v2",
                                         "drawer-open-v2",   "drawer-close-v2",
                                         "button-press-topdown-v2", "peg-insert-side-v2",
                                         "window-open-v2",   "window-close-v2"};
    assert_int_equal(env_benchmark_tasks("mt10", idx, 64, &n, &err), 0);
    assert_int_equal(n, 10);
    for (int i = 0; i < 10; i++)
        assert_string_equal(env_task_name(idx[i]), mt10[i]);
}

/* ---- determinism across thread counts ---- */

#define ALL_D "sweep-v2,sweep-into-v2,soccer-v2,hammer-v2,stick-push-v2,stick-pull-v2"
#define ND 6

ENVS_TEST_THREADS_IDENTICAL(ALL_D, ND, 30, 80, 2)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masses),
        cmocka_unit_test(test_soccer_goal_covers_hulls),
        cmocka_unit_test(test_thermos_loop),
        cmocka_unit_test(test_push_place_resets),
        cmocka_unit_test(test_tool_resets),
        cmocka_unit_test(test_mt50_benchmark),
        cmocka_unit_test(test_rewards_match_spec),
        cmocka_unit_test(test_grasp_info),
        cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_push_place_scripted),
        cmocka_unit_test(test_tool_scripted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
