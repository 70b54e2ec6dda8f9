/* MT50 buttons, walls and plate slides: button-press-topdown-wall, button-press, button-press-wall,
 * coffee-button, reach-wall, push-wall, pick-place-wall, push-back and the
 * four plate-slides (spec metaworld-mt50.md §4.A-C). Scripted policies reach
 * at least 0.9 (or Meta-World's higher target, spec Appendix F) over 50
 * seeded goals; rewards and success flags equal the spec's formulas,
 * recomputed here at every step of noisy scripted episodes from mjData; the
 * scenes compile to the spec's geometry (walls, button box, coffee machine,
 * the cabinet's boxes cover the original collision hulls of Appendix A);
 * resets place objects and goals as the spec says; buttons and the plate are
 * really forced past their soft joint limits; runs are identical across
 * thread counts. */
#include "testutil.h"

#include "envs_probe.h"
#include "envs_scripted.h"
#include "envs/reward.h"
#include "envs/task.h"

/* ---- scripted policies (targets: max(0.9, Meta-World's, spec Appendix F)) ---- */

static void test_buttons_scripted(void **st)
{
    (void)st;
    assert_scripted("button-press-topdown-wall-v2", 0.95);
    assert_scripted("button-press-v2", 1.0);
    assert_scripted("button-press-wall-v2", 0.93);
    assert_scripted("coffee-button-v2", 1.0);
    /* The wall variant's approach lane is the tightest: check it under
     * Meta-World's 10 % action noise too (its target there: 0.92). */
    assert_scripted_noisy("button-press-wall-v2", 0.92);
}

static void test_wall_back_scripted(void **st)
{
    (void)st;
    assert_scripted("reach-wall-v2", 0.98);
    assert_scripted("push-wall-v2", 0.97);
    assert_scripted("pick-place-wall-v2", 0.95);
    assert_scripted("push-back-v2", 0.91);
}

static void test_plates_scripted(void **st)
{
    (void)st;
    assert_scripted("plate-slide-v2", 1.0);
    assert_scripted("plate-slide-side-v2", 1.0);
    assert_scripted("plate-slide-back-v2", 1.0);
    assert_scripted("plate-slide-back-side-v2", 1.0);
    assert_scripted_noisy("plate-slide-side-v2", 0.78);
}

/* ---- reference rewards (spec §4.A-C), from the env's double observation,
 * the raw action and mjData ---- */

typedef double (*ref_reward_fn)(env_sawyer *e, const double *obs, const double *a, int *success);

/* The button box's full press depth: |hole - buttonStart| along the press
 * axis (0.0935; a hair less along z for the top-down box, whose rotation is
 * 1.57 rad, not pi/2). Both sites sit on the static box. */
static double press_depth(const env_sawyer *e, int axis)
{
    const double *h = e->d->site_xpos + 3 * id_of(e, mjOBJ_SITE, "hole");
    const double *b = e->d->site_xpos + 3 * id_of(e, mjOBJ_SITE, "buttonStart");
    return fabs(h[axis] - b[axis]);
}

/* button-press and coffee-button: the gripper's opening times "near", plus
 * a press bonus within 5 cm. */
static double ref_press(env_sawyer *e, const double *obs, double press_margin, int *success)
{
    const double *o = obs + 4;
    double tcp[3];
    tcp_of(e, tcp);
    double c = dist3(o, tcp), dy = fabs(e->target_pos[1] - o[1]);
    double near = tol(c, 0, 0.05, dist3(o, e->init_tcp));
    double pressed = tol(dy, 0, 0.005, press_margin);
    *success = dy <= 0.02;
    return 2 * ham(fmax(obs[3], 0), near) + (c <= 0.05 ? 8 * pressed : 0);
}

static double ref_button_press(env_sawyer *e, const double *obs, const double *a, int *success)
{
    (void)a;
    return ref_press(e, obs, press_depth(e, 1), success);
}

static double ref_coffee_button(env_sawyer *e, const double *obs, const double *a, int *success)
{
    (void)a;
    return ref_press(e, obs, 0.03, success);
}

static double ref_button_press_wall(env_sawyer *e, const double *obs, const double *a,
                                    int *success)
{
    (void)a;
    const double *o = obs + 4;
    double tcp[3];
    tcp_of(e, tcp);
    double c = dist3(o, tcp), dy = fabs(e->target_pos[1] - o[1]);
    double near = tol(c, 0, 0.01, dist3(o, e->init_tcp));
    double pressed = tol(dy, 0, 0.005, press_depth(e, 1));
    *success = dy <= 0.03;
    if (c > 0.07)
        return 2 * ham((1 - obs[3]) / 2, near);
    return 2 + 2 * (1 + obs[3]) + 4 * pressed * pressed;
}

static double ref_topdown_wall(env_sawyer *e, const double *obs, const double *a, int *success)
{
    (void)a;
    const double *o = obs + 4;
    double tcp[3];
    tcp_of(e, tcp);
    double c = dist3(o, tcp), dz = fabs(e->target_pos[2] - o[2]);
    double near = tol(c, 0, 0.01, dist3(o, e->init_tcp));
    double pressed = tol(dz, 0, 0.005, press_depth(e, 2));
    *success = dz <= 0.02;
    return 5 * ham(1 - obs[3], near) + (c <= 0.03 ? 5 * pressed : 0);
}

static double ref_reach_wall(env_sawyer *e, const double *obs, const double *a, int *success)
{
    (void)obs, (void)a;
    double tcp[3];
    const double h0[3] = {0, 0.6, 0.2};
    tcp_of(e, tcp);
    double d = dist3(tcp, e->target_pos);
    *success = d <= 0.05;
    return 10 * tol(d, 0, 0.05, dist3(h0, e->target_pos));
}

/* |(o - mid) * s| progress toward a waypoint, margin from the initial object. */
static double ref_toward(const double *o, const double *o0, const double *mid, const double *s)
{
    double d[3], d0[3];
    for (int i = 0; i < 3; i++)
        d[i] = (o[i] - mid[i]) * s[i], d0[i] = (o0[i] - mid[i]) * s[i];
    return tol(norm3(d), 0, 0.05, norm3(d0));
}

/* The wall variants use the base caging reward G (MT10's, tested there). */
static double ref_push_wall(env_sawyer *e, const double *obs, const double *a, int *success)
{
    const double *o = obs + 4, *g = e->target_pos, *o0 = e->obj_init_pos;
    double tcp[3];
    tcp_of(e, tcp);
    const double mid[3] = {-0.05, 0.77, o[2]}, s[3] = {3, 1, 1};
    double ip1 = ref_toward(o, o0, mid, s), d = dist3(o, g);
    double ip2 = tol(d, 0, 0.05, dist3(o0, g));
    const rw_caging p = {0.015, 0.05, 0.01, 0.005, 1, 1, 0};
    double og = rw_gripper_caging(e, a, o, &p);
    double r = 2 * og;
    if (dist3(o, tcp) < 0.02 && obs[3] > 0) {
        r = 2 * og + 1 + 4 * ip1;
        if (o[1] > 0.75)
            r = 2 * og + 1 + 4 + 3 * ip2;
    }
    *success = d <= 0.07;
    return d < 0.05 ? 10 : r;
}

static double ref_pick_place_wall(env_sawyer *e, const double *obs, const double *a, int *success)
{
    const double *o = obs + 4, *g = e->target_pos, *o0 = e->obj_init_pos;
    double tcp[3];
    tcp_of(e, tcp);
    const double mid[3] = {g[0], 0.77, 0.25}, s[3] = {1, 1, 3};
    double ip1 = ref_toward(o, o0, mid, s), d = dist3(o, g);
    double ip2 = tol(d, 0, 0.05, dist3(o0, g));
    const rw_caging p = {0.015, 0.05, 0.01, 0.005, 1, 0, 0};
    double og = rw_gripper_caging(e, a, o, &p);
    double gi = ham(og, ip1), r = gi;
    if (dist3(o, tcp) < 0.02 && obs[3] > 0 && o[2] - 0.015 > o0[2]) {
        r = gi + 1 + 4 * ip1;
        if (o[1] > 0.75)
            r = gi + 1 + 4 + 3 * ip2;
    }
    *success = d <= 0.07;
    return d < 0.05 ? 10 : r;
}

/* Spec §2.1 OldCage, written out independently of reward.c; Meta-World's
 * "initial" pads are the current ones. */
static double ref_old_cage(env_sawyer *e, const double *o, double rho, double slack, double eps)
{
    const double *L = e->d->xpos + 3 * id_of(e, mjOBJ_BODY, "leftpad");
    const double *R = e->d->xpos + 3 * id_of(e, mjOBJ_BODY, "rightpad");
    double tcp[3];
    tcp_of(e, tcp);
    double dl = L[1] - o[1], dr = o[1] - R[1];
    double ml = fabs(fabs(o[1] - L[1]) - 0.05), mr = fabs(fabs(o[1] - R[1]) - 0.05);
    double ycage = ham(tol(dr, rho, 0.05, mr), tol(dl, rho, 0.05, ml));
    double ygrip = ham(tol(dr, rho, rho + slack, mr), tol(dl, rho, rho + slack, ml));
    double dxz = hypot(tcp[0] - o[0], tcp[2] - o[2]);
    double mxz = hypot(e->obj_init_pos[0] - e->init_tcp[0], e->obj_init_pos[2] - e->init_tcp[2]) -
                 eps;
    double cage = ham(ycage, tol(dxz, 0, eps, mxz));
    return (cage + (cage > 0.95 ? ygrip : 0)) / 2;
}

static double ref_push_back(env_sawyer *e, const double *obs, const double *a, int *success)
{
    (void)a;
    const double *o = obs + 4, *g = e->target_pos;
    double tcp[3];
    tcp_of(e, tcp);
    double d = dist3(o, g), d0 = dist3(e->obj_init_pos, g);
    double ip = tol(d, 0, 0.05, d0);
    double r = ham(ref_old_cage(e, o, 0.007, 0.003, 0.01), ip);
    if (dist3(o, tcp) < 0.01 && obs[3] > 0 && obs[3] < 0.55 && d0 - d > 0.01)
        r += 1 + 5 * ip;
    *success = d <= 0.07;
    return d < 0.05 ? 10 : r;
}

static double ref_plate(env_sawyer *e, const double *obs, int into, int *success)
{
    const double *o = obs + 4, *g = e->target_pos;
    double tcp[3];
    tcp_of(e, tcp);
    double d = dist3(o, g), c = dist3(tcp, o), cut = into ? 0 : 0.05;
    double ip = tol(d, 0, 0.05, dist3(e->obj_init_pos, g) - cut);
    double og = tol(c, 0, 0.05, dist3(e->init_tcp, e->obj_init_pos) - cut);
    double r = into ? 8 * ham(og, ip) : (tcp[2] <= 0.03 && c < 0.07 ? 2 + 7 * ip : 1.5 * og);
    *success = d <= 0.07;
    return d < 0.05 ? 10 : r;
}

static double ref_plate_into(env_sawyer *e, const double *obs, const double *a, int *success)
{
    (void)a;
    return ref_plate(e, obs, 1, success);
}

static double ref_plate_low(env_sawyer *e, const double *obs, const double *a, int *success)
{
    (void)a;
    return ref_plate(e, obs, 0, success);
}

/* Noisy scripted episodes on a few goals; at every step the env's reward and
 * success equal the reference. Noise spreads the states over the reward's
 * branches; the counts show that success, failure and low-reward (< 5)
 * states were all seen. */
static void check_reward(const char *task, ref_reward_fn ref)
{
    env_sawyer *e = make(task);
    rng_state r;
    rng_seed(&r, 11, 0);
    reward_tally tally = {0};
    for (int k = 0; k < 4; k++) {
        float obs[ENV_OBS_DIM];
        assert_int_equal(env_reset_goal(e, k, obs, NULL), 0);
        for (int s = 0; s < 160; s++) {
            double ad[ENV_ACT_DIM];
            env_info inf = scripted_step_noisy(e, obs, 0.1, &r, ad);
            int succ;
            double want = ref(e, e->obs, ad, &succ);
            reward_tally_step(&tally, task, k, s, &inf, want, succ);
        }
    }
    reward_tally_check(&tally, task);
    env_destroy(e);
}

static void test_rewards_match_spec(void **st)
{
    (void)st;
    check_reward("button-press-topdown-wall-v2", ref_topdown_wall);
    check_reward("button-press-v2", ref_button_press);
    check_reward("button-press-wall-v2", ref_button_press_wall);
    check_reward("coffee-button-v2", ref_coffee_button);
    check_reward("reach-wall-v2", ref_reach_wall);
    check_reward("push-wall-v2", ref_push_wall);
    check_reward("pick-place-wall-v2", ref_pick_place_wall);
    check_reward("push-back-v2", ref_push_back);
    check_reward("plate-slide-v2", ref_plate_into);
    check_reward("plate-slide-side-v2", ref_plate_low);
    check_reward("plate-slide-back-v2", ref_plate_low);
    check_reward("plate-slide-back-side-v2", ref_plate_low);
}

/* rw_old_caging against the reference above, on random object positions
 * around the current pads (covering the caging and gripping bands). */
static void test_old_caging(void **st)
{
    (void)st;
    env_sawyer *e = make("push-back-v2");
    float obs[ENV_OBS_DIM];
    env_reset_goal(e, 0, obs, NULL);
    rng_state r;
    rng_seed(&r, 3, 0);
    double tcp[3];
    tcp_of(e, tcp);
    int high = 0;
    for (int i = 0; i < 2000; i++) {
        double o[3] = {tcp[0] + 0.01 * rng_normal(&r), tcp[1] + 0.03 * rng_normal(&r),
                       tcp[2] + 0.01 * rng_normal(&r)};
        if (i % 2)
            memcpy(o, tcp, sizeof o), o[1] += 0.002 * rng_normal(&r);
        double got = rw_old_caging(e, o, 0.007, 0.003, 0.01);
        assert_float_equal(got, ref_old_cage(e, o, 0.007, 0.003, 0.01), 1e-12);
        high += got > 0.5;
    }
    assert_true(high > 0);
    env_destroy(e);
}

/* ---- compiled scenes ---- */

/* World-frame axis-aligned extent of a box geom (any rotation). */
static void box_extent(const env_sawyer *e, int g, double lo[3], double hi[3])
{
    const double *p = e->d->geom_xpos + 3 * g, *R = e->d->geom_xmat + 9 * g;
    const double *s = e->m->geom_size + 3 * g;
    for (int i = 0; i < 3; i++) {
        double h = fabs(R[3 * i]) * s[0] + fabs(R[3 * i + 1]) * s[1] + fabs(R[3 * i + 2]) * s[2];
        lo[i] = p[i] - h, hi[i] = p[i] + h;
    }
}

/* The geoms of body b that collide (contype or conaffinity set). */
static int colliders(const env_sawyer *e, int b, int *out, int max)
{
    int n = 0;
    for (int g = 0; g < e->m->ngeom; g++)
        if (e->m->geom_bodyid[g] == b && (e->m->geom_contype[g] || e->m->geom_conaffinity[g])) {
            assert_true(n < max);
            out[n++] = g;
        }
    return n;
}

static void check_wall(env_sawyer *e, const char *body, const double lo[3],
                       const double hi[3], int ngeoms)
{
    int b = id_of(e, mjOBJ_BODY, body), g[4], n = 0;
    mj_forward(e->m, e->d);
    /* the brick wall keeps its collision box in an unnamed child body */
    for (int bb = 0; bb < e->m->nbody; bb++)
        if (bb == b || e->m->body_parentid[bb] == b)
            n += colliders(e, bb, g + n, 4 - n);
    assert_int_equal(n, ngeoms);
    for (int i = 0; i < n; i++) {
        double l[3], h[3];
        assert_int_equal(e->m->geom_type[g[i]], mjGEOM_BOX);
        box_extent(e, g[i], l, h);
        assert_vec_near(l, lo, 3, 1e-9, "wall low corner");
        assert_vec_near(h, hi, 3, 1e-9, "wall high corner");
        assert_int_equal(e->m->geom_conaffinity[g[i]], 1);
    }
}

static void test_button_scenes(void **st)
{
    (void)st;
    static const char *const tasks[] = {"button-press-v2", "button-press-wall-v2",
                                        "button-press-topdown-wall-v2"};
    for (int t = 0; t < 3; t++) {
        env_sawyer *e = make(tasks[t]);
        const mjModel *m = e->m;
        int j = id_of(e, mjOBJ_JOINT, "btnbox_joint"), dof = m->jnt_dofadr[j];
        int b = id_of(e, mjOBJ_BODY, "button");
        assert_int_equal(m->jnt_type[j], mjJNT_SLIDE);
        assert_float_equal(m->jnt_range[2 * j], -0.06, 1e-12);
        assert_float_equal(m->jnt_range[2 * j + 1], 0, 1e-12);
        assert_float_equal(m->jnt_stiffness[j], 0.5, 1e-12);
        assert_float_equal(m->qpos_spring[m->jnt_qposadr[j]], 0.5, 1e-12);
        assert_float_equal(m->dof_damping[dof], 1, 1e-12);
        assert_float_equal(m->dof_armature[dof], 0.001, 1e-12);
        /* default limit softness: the success needs it overrun (spec §2.2) */
        assert_float_equal(m->jnt_solref[2 * j], 0.02, 1e-12);
        assert_float_equal(m->jnt_solimp[5 * j], 0.9, 1e-12);
        assert_float_equal(m->body_mass[b], 0.01, 1e-12);
        assert_float_equal(m->body_mass[id_of(e, mjOBJ_BODY, "buttonbox")], 11.2412, 1e-4);
        /* front variants: box unrotated, button along -y; top-down: local -y
         * is world +z */
        const double *q = m->body_quat + 4 * id_of(e, mjOBJ_BODY, "box");
        const double want_front[4] = {1, 0, 0, 0}, want_top[4] = {0.707388, -0.706825, 0, 0};
        assert_vec_near(q, t < 2 ? want_front : want_top, 4, 1e-6, "box quat");
        if (t == 1)
            check_wall(e, "wall", (double[]){0, 0.59, 0}, (double[]){0.2, 0.61, 0.15}, 1);
        if (t == 2)
            check_wall(e, "wall", (double[]){0, 0.69, 0}, (double[]){0.2, 0.71, 0.15}, 1);
        env_destroy(e);
    }

    env_sawyer *e = make("coffee-button-v2");
    const mjModel *m = e->m;
    /* The mug is declared before the robot, as the original: its free joint
     * comes first. */
    assert_int_equal(m->jnt_qposadr[id_of(e, mjOBJ_JOINT, "objjoint")], 0);
    assert_int_equal(m->jnt_qposadr[id_of(e, mjOBJ_JOINT, "right_j0")], 7);
    assert_float_equal(m->body_mass[id_of(e, mjOBJ_BODY, "mug")], 0.11, 1e-12);
    int j = id_of(e, mjOBJ_JOINT, "goal_slidey");
    assert_float_equal(m->jnt_range[2 * j], 0, 1e-12);
    assert_float_equal(m->jnt_range[2 * j + 1], 0.03, 1e-12);
    assert_vec_near(m->jnt_axis + 3 * j, (double[]){0, 1, 0}, 3, 0, "coffee button axis");
    assert_float_equal(m->dof_damping[m->jnt_dofadr[j]], 1, 1e-12);
    assert_float_equal(m->body_mass[id_of(e, mjOBJ_BODY, "cmbutton")], 0.1, 1e-12);
    env_destroy(e);
}

static void test_wall_back_scenes(void **st)
{
    (void)st;
    static const char *const tasks[] = {"reach-wall-v2", "push-wall-v2", "pick-place-wall-v2"};
    for (int t = 0; t < 3; t++) {
        env_sawyer *e = make(tasks[t]);
        /* two coincident boxes: the "visual" one collides with everything
         * (default contact settings), the collision one only with contype-1
         * geoms */
        check_wall(e, "wall", (double[]){-0.02, 0.74, 0}, (double[]){0.22, 0.76, 0.12}, 2);
        int g = id_of(e, mjOBJ_GEOM, "objGeom");
        double r = t == 0 ? 0.03 : 0.02, h = t == 0 ? 0.015 : 0.02;
        assert_int_equal(e->m->geom_type[g], mjGEOM_CYLINDER);
        assert_float_equal(e->m->geom_size[3 * g], r, 1e-12);
        assert_float_equal(e->m->geom_size[3 * g + 1], h, 1e-12);
        assert_float_equal(e->m->body_mass[id_of(e, mjOBJ_BODY, "obj")], 0.75, 1e-12);
        env_destroy(e);
    }
    env_sawyer *e = make("push-back-v2");
    int g = id_of(e, mjOBJ_GEOM, "objGeom"), b = id_of(e, mjOBJ_BODY, "obj");
    assert_int_equal(e->m->geom_type[g], mjGEOM_BOX);
    assert_float_equal(e->m->geom_friction[3 * g], 2, 1e-12);
    assert_float_equal(e->m->body_inertia[3 * b], 100000, 1e-6);
    env_destroy(e);
}

/* Appendix A: the compiled collision-hull vertices of the original cabinet
 * meshes, in the cabinet body's frame. */
static const double cabinet_hull[][3] = {
    /* net1_col (back wall) */
    {-0.0934, 0.0386, 0.1730}, {-0.0953, 0.0359, 0.1742}, {-0.0981, 0.0353, 0.1740},
    {-0.0979, 0.0369, 0.1729}, {-0.0984, 0.0817, 0.0094}, {-0.1031, 0.0798, 0.0094},
    {-0.1031, 0.0385, 0.1729}, {-0.0984, 0.0404, 0.1730}, {-0.0979, 0.0761, 0.0094},
    {-0.0934, 0.0779, 0.0094}, {0.0984, 0.0404, 0.1730}, {0.0984, 0.0375, 0.1775},
    {0.1022, 0.0369, 0.1766}, {0.1031, 0.0385, 0.1729}, {0.1031, 0.0798, 0.0094},
    {0.0984, 0.0817, 0.0094}, {0.0934, 0.0386, 0.1730}, {0.0979, 0.0369, 0.1729},
    {0.0981, 0.0353, 0.1740}, {0.0953, 0.0359, 0.1742}, {0.0934, 0.0779, 0.0094},
    {0.0979, 0.0761, 0.0094}, {-0.1022, 0.0369, 0.1766}, {-0.0984, 0.0375, 0.1775},
    /* net2_col (left wall) */
    {-0.1031, -0.0698, 0.1774}, {-0.1031, 0.0331, 0.1774}, {-0.1050, 0.0342, 0.1727},
    {-0.1050, -0.0698, 0.1727}, {-0.1022, 0.0369, 0.1766}, {-0.1031, 0.0385, 0.1729},
    {-0.1031, 0.0798, 0.0094}, {-0.1050, 0.0754, 0.0094}, {-0.0998, 0.0754, 0.0094},
    {-0.0979, 0.0761, 0.0094}, {-0.0979, 0.0369, 0.1729}, {-0.0998, 0.0342, 0.1727},
    {-0.0998, -0.0698, 0.1727}, {-0.0998, -0.0698, 0.1741}, {-0.1050, -0.0698, 0.0094},
    {-0.0998, -0.0698, 0.0094}, {-0.0998, 0.0318, 0.1740}, {-0.0981, 0.0353, 0.1740},
    /* net3_col (roof) */
    {0.0984, 0.0328, 0.1794}, {0.1031, 0.0331, 0.1774}, {0.1022, 0.0369, 0.1766},
    {0.0984, 0.0375, 0.1775}, {-0.0984, 0.0328, 0.1794}, {-0.0984, 0.0375, 0.1775},
    {-0.1022, 0.0369, 0.1766}, {-0.1031, 0.0331, 0.1774}, {-0.0984, -0.0698, 0.1794},
    {-0.1031, -0.0698, 0.1774}, {-0.0984, 0.0314, 0.1760}, {-0.0998, 0.0318, 0.1740},
    {-0.0981, 0.0353, 0.1740}, {-0.0953, 0.0359, 0.1742}, {-0.0984, -0.0698, 0.1760},
    {-0.0998, -0.0698, 0.1741}, {0.0984, -0.0698, 0.1794}, {0.1031, -0.0698, 0.1774},
    {0.0984, 0.0314, 0.1760}, {0.0953, 0.0359, 0.1742}, {0.0981, 0.0353, 0.1740},
    {0.0998, 0.0318, 0.1740}, {0.0984, -0.0698, 0.1760}, {0.0998, -0.0698, 0.1741},
    /* net4_col (right wall) */
    {0.1031, -0.0698, 0.1774}, {0.1050, -0.0698, 0.1727}, {0.1050, 0.0342, 0.1727},
    {0.1031, 0.0331, 0.1774}, {0.1031, 0.0385, 0.1729}, {0.1022, 0.0369, 0.1766},
    {0.1050, 0.0754, 0.0094}, {0.1031, 0.0798, 0.0094}, {0.0998, 0.0754, 0.0094},
    {0.0998, 0.0342, 0.1727}, {0.0979, 0.0369, 0.1729}, {0.0979, 0.0761, 0.0094},
    {0.0998, -0.0698, 0.1741}, {0.0998, -0.0698, 0.1727}, {0.1050, -0.0698, 0.0094},
    {0.0998, -0.0698, 0.0094}, {0.0998, 0.0318, 0.1740}, {0.0981, 0.0353, 0.1740},
};
#define NHULL ((int)(sizeof cabinet_hull / sizeof cabinet_hull[0]))

/* Distance from point p (world) to box geom g (0 inside). */
static double box_distance(const env_sawyer *e, int g, const double p[3])
{
    const double *c = e->d->geom_xpos + 3 * g, *R = e->d->geom_xmat + 9 * g;
    const double *s = e->m->geom_size + 3 * g;
    double out = 0;
    for (int k = 0; k < 3; k++) {
        double l = 0;
        for (int i = 0; i < 3; i++)
            l += R[3 * i + k] * (p[i] - c[i]);
        double ex = fabs(l) - s[k];
        if (ex > 0)
            out += ex * ex;
    }
    return sqrt(out);
}

/* The cabinet's wall boxes cover every hull vertex (within 1.2 mm: the
 * hulls' chamfers), and no box reaches beyond the hulls' overall extent by
 * more than 2 mm (the side walls' leaning slab dips 1.6 mm below the floor
 * line, documented in the scene). Checked in both scenes, in world
 * coordinates after the cabinet's placement and rotation. */
static void test_cabinet_covers_hulls(void **st)
{
    (void)st;
    static const char *const tasks[] = {"plate-slide-v2", "plate-slide-side-v2"};
    for (int t = 0; t < 2; t++) {
        env_sawyer *e = make(tasks[t]);
        float obs[ENV_OBS_DIM];
        env_reset_goal(e, 0, obs, NULL);
        int cab = id_of(e, mjOBJ_BODY, "cabinet"), boxes[16], n = 0, nc = 0;
        int all[16];
        int na = colliders(e, cab, all, 16);
        for (int i = 0; i < na; i++) {
            if (e->m->geom_type[all[i]] == mjGEOM_BOX)
                boxes[n++] = all[i];
            else
                nc += e->m->geom_type[all[i]] == mjGEOM_CAPSULE;
            assert_int_equal(e->m->geom_contype[all[i]], 1);
            assert_int_equal(e->m->geom_conaffinity[all[i]], 1);
        }
        assert_int_equal(n, 6);
        assert_int_equal(nc, 6);
        const double *P = e->d->xpos + 3 * cab, *R = e->d->xmat + 9 * cab;
        for (int v = 0; v < NHULL; v++) {
            double w[3];
            for (int i = 0; i < 3; i++)
                w[i] = P[i] + R[3 * i] * cabinet_hull[v][0] + R[3 * i + 1] * cabinet_hull[v][1] +
                       R[3 * i + 2] * cabinet_hull[v][2];
            double best = 1;
            for (int b = 0; b < n; b++)
                best = fmin(best, box_distance(e, boxes[b], w));
            if (best > 0.0012)
                fail_msg("%s: hull vertex %d (%g, %g, %g) is %.4f from the cabinet boxes",
                         tasks[t], v, cabinet_hull[v][0], cabinet_hull[v][1], cabinet_hull[v][2],
                         best);
        }
        for (int b = 0; b < n; b++) {
            const double *c = e->d->geom_xpos + 3 * boxes[b], *Rg = e->d->geom_xmat + 9 * boxes[b];
            const double *s = e->m->geom_size + 3 * boxes[b];
            for (int corner = 0; corner < 8; corner++) {
                double l[3] = {corner & 1 ? s[0] : -s[0], corner & 2 ? s[1] : -s[1],
                               corner & 4 ? s[2] : -s[2]};
                double w[3], loc[3];
                for (int i = 0; i < 3; i++)
                    w[i] = c[i] + Rg[3 * i] * l[0] + Rg[3 * i + 1] * l[1] + Rg[3 * i + 2] * l[2];
                for (int k = 0; k < 3; k++) /* back into the cabinet frame */
                    loc[k] = R[k] * (w[0] - P[0]) + R[3 + k] * (w[1] - P[1]) +
                             R[6 + k] * (w[2] - P[2]);
                assert_true(fabs(loc[0]) <= 0.1050 + 0.002);
                assert_true(loc[1] >= -0.0698 - 0.002 && loc[1] <= 0.0817 + 0.002);
                assert_true(loc[2] >= 0.0094 - 0.012 && loc[2] <= 0.1794 + 0.002);
                assert_true(loc[2] >= -0.0017);
            }
        }
        env_destroy(e);
    }
}

static void test_plate_scene(void **st)
{
    (void)st;
    env_sawyer *e = make("plate-slide-side-v2");
    const mjModel *m = e->m;
    int jx = id_of(e, mjOBJ_JOINT, "goal_slidex"), jy = id_of(e, mjOBJ_JOINT, "goal_slidey");
    assert_float_equal(m->jnt_range[2 * jx], -0.2, 1e-12);
    assert_float_equal(m->jnt_range[2 * jx + 1], 0.2, 1e-12);
    assert_float_equal(m->jnt_range[2 * jy], 0, 1e-12);
    assert_float_equal(m->jnt_range[2 * jy + 1], 0.3, 1e-12);
    for (int j = jx; j <= jy; j += jy - jx) {
        assert_float_equal(m->dof_damping[m->jnt_dofadr[j]], 1, 1e-12);
        assert_float_equal(m->dof_armature[m->jnt_dofadr[j]], 0.001, 1e-12);
        assert_float_equal(m->jnt_solref[2 * j], 0.02, 1e-12); /* soft default limits */
    }
    int g = id_of(e, mjOBJ_GEOM, "puck");
    assert_vec_near(m->geom_size + 3 * g, (double[]){0.05, 0.05, 0.015}, 3, 1e-12, "plate size");
    assert_float_equal(m->body_mass[m->geom_bodyid[g]], 0.05, 1e-12);
    /* side scene: opening toward +x (euler z 1.57) */
    assert_vec_near(m->body_quat + 4 * id_of(e, mjOBJ_BODY, "puck_goal"),
                    (double[]){cos(0.785), 0, 0, sin(0.785)}, 4, 1e-9, "side cabinet quat");
    env_destroy(e);
}

/* ---- resets, observations, success flags ---- */

/* Front button box: cap front at box + (0, -0.193 - q, 0); goal = hole =
 * box + (0, -0.1, 0); success within 0.02 (0.03 with the wall) of the hole's
 * y, i.e. q <= -0.073 (-0.063). */
static void check_front_button(const char *task, double thr)
{
    env_sawyer *e = make(task);
    for (int k = 0; k < 50; k += 7) {
        float fo[ENV_OBS_DIM];
        assert_int_equal(env_reset_goal(e, k, fo, NULL), 0);
        const double *v = e->goals[k];
        assert_vec_near(e->m->body_pos + 3 * id_of(e, mjOBJ_BODY, "box"), v, 3, 0, "box pos");
        double g[3] = {v[0], v[1] - 0.1, v[2]}, o[3] = {v[0], v[1] - 0.193, v[2]};
        assert_vec_near(e->obs + 36, g, 3, 1e-12, "goal");
        assert_vec_near(e->obs + 4, o, 3, 1e-9, "cap at rest");
        double qs[2] = {-(0.1 - 0.007 - thr) + 0.0005, -(0.1 - 0.007 - thr) - 0.0005};
        for (int i = 0; i < 2; i++) {
            double obs[ENV_OBS_DIM], a[4] = {0, 0, 0, 0};
            env_info inf = {0};
            pose_joint(e, "btnbox_joint", qs[i], obs);
            double want[3] = {v[0], v[1] - 0.193 - qs[i], v[2]};
            assert_vec_near(obs + 4, want, 3, 1e-9, "pressed cap");
            e->task->reward(e, obs, a, &inf);
            assert_int_equal(inf.success, i == 1);
        }
    }
    env_destroy(e);
}

static void test_button_resets(void **st)
{
    (void)st;
    check_front_button("button-press-v2", 0.02);
    check_front_button("button-press-wall-v2", 0.03);

    /* coffee: machine at r, mug under the spout at r + (0, -0.22, 0), the
     * button front at r + (0, -0.22 + q, 0.3), goal 3 cm behind it; success
     * once pressed 1 cm */
    env_sawyer *e = make("coffee-button-v2");
    for (int k = 0; k < 50; k += 9) {
        float fo[ENV_OBS_DIM];
        assert_int_equal(env_reset_goal(e, k, fo, NULL), 0);
        const double *v = e->goals[k];
        int qa = e->m->jnt_qposadr[id_of(e, mjOBJ_JOINT, "objjoint")];
        assert_vec_near(e->d->qpos + qa, (double[]){v[0], v[1] - 0.22, v[2]}, 3, 0, "mug");
        assert_vec_near(e->obs + 36, (double[]){v[0], v[1] - 0.19, v[2] + 0.3}, 3, 1e-12, "goal");
        assert_vec_near(e->obs + 4, (double[]){v[0], v[1] - 0.22, v[2] + 0.3}, 3, 1e-9, "button");
        assert_vec_near(e->obs + 7, (double[]){1, 0, 0, 0}, 4, 0, "constant quat");
        for (int i = 0; i < 2; i++) {
            double obs[ENV_OBS_DIM], a[4] = {0, 0, 0, 0}, q = i ? 0.0105 : 0.0095;
            env_info inf = {0};
            pose_joint(e, "goal_slidey", q, obs);
            assert_float_equal(obs[5], v[1] - 0.22 + q, 1e-9);
            e->task->reward(e, obs, a, &inf);
            assert_int_equal(inf.success, i);
        }
    }
    env_destroy(e);
}

static void test_wall_back_resets(void **st)
{
    (void)st;
    static const char *const tasks[] = {"reach-wall-v2", "pick-place-wall-v2", "push-wall-v2",
                                        "push-back-v2"};
    for (int t = 0; t < 4; t++) {
        env_sawyer *e = make(tasks[t]);
        for (int k = 0; k < 50; k += 5) {
            float fo[ENV_OBS_DIM];
            assert_int_equal(env_reset_goal(e, k, fo, NULL), 0);
            const double *v = e->goals[k];
            /* rejection rule: object and goal xy at least 0.15 apart */
            assert_true(hypot(v[0] - v[3], v[1] - v[4]) >= 0.15);
            if (t < 2) { /* object and goal exactly as drawn */
                assert_vec_near(e->obs + 4, v, 3, 1e-12, "object");
                assert_vec_near(e->obs + 36, v + 3, 3, 0, "goal");
            } else { /* both at the height the object settled to */
                double z = e->obs[6];
                assert_true(fabs(z - 0.02) < 0.001);
                assert_vec_near(e->obs + 4, (double[]){v[0], v[1], z}, 3, 1e-12, "object");
                assert_vec_near(e->obs + 36, (double[]){v[3], v[4], z}, 3, 0, "goal");
            }
        }
        env_destroy(e);
    }
}

/* Plates: cabinet at the goal (into) or at obj_init (back); plate centre at
 * the channel origin (0, 0.6, 0.015) moved by its start slides; the
 * observed orientation is the identity (x, y, z, w). */
static void test_plate_resets(void **st)
{
    (void)st;
    static const struct {
        const char *task;
        int cabinet_at_goal;
        double qx, qy;
    } v4[] = {{"plate-slide-v2", 1, 0, 0},
              {"plate-slide-side-v2", 1, 0, 0},
              {"plate-slide-back-v2", 0, 0, 0.15},
              {"plate-slide-back-side-v2", 0, -0.15, 0}};
    for (int t = 0; t < 4; t++) {
        env_sawyer *e = make(v4[t].task);
        for (int k = 0; k < 50; k += 10) {
            float fo[ENV_OBS_DIM];
            assert_int_equal(env_reset_goal(e, k, fo, NULL), 0);
            const double *v = e->goals[k];
            assert_vec_near(e->m->body_pos + 3 * id_of(e, mjOBJ_BODY, "puck_goal"),
                            v4[t].cabinet_at_goal ? v + 3 : v, 3, 0, "cabinet");
            assert_vec_near(e->obs + 4, (double[]){v4[t].qx, 0.6 + v4[t].qy, 0.015}, 3, 1e-9,
                            "plate");
            assert_vec_near(e->obs + 7, (double[]){0, 0, 0, 1}, 4, 1e-12, "plate quat");
            assert_vec_near(e->obs + 36, v + 3, 3, 0, "goal");
        }
        env_destroy(e);
    }
}

/* grasp_success (info only): pick-place-wall needs both pads pressing on the
 * puck (normal forces read here with mj_contactForce), the fingers open and
 * the puck lifted 2 cm; push-back's original skips the contact test. */
static void test_grasp_info(void **st)
{
    (void)st;
    env_sawyer *e = make("pick-place-wall-v2");
    float obs[ENV_OBS_DIM];
    env_reset_goal(e, 0, obs, NULL);
    int og = id_of(e, mjOBJ_GEOM, "objGeom");
    int grasped = 0, touched_low = 0;
    for (int s = 0; s < 300; s++) {
        env_info inf = scripted_step(e, obs);
        double fl_l, fl_r;
        pad_forces(e, og, &fl_l, &fl_r);
        int lifted = e->obs[6] - 0.02 > e->obj_init_pos[2];
        int expect = fl_l > 0 && fl_r > 0 && e->obs[3] > 0 && lifted;
        assert_int_equal((int)inf.grasp_success, expect);
        grasped |= expect;
        touched_low |= fl_l > 0 && fl_r > 0 && !lifted;
        if (inf.success)
            break;
    }
    assert_true(grasped && touched_low);
    env_destroy(e);

    /* push-back: a cube held up in the air far from the fingers counts */
    e = make("push-back-v2");
    env_reset_goal(e, 0, obs, NULL);
    int qa = e->m->jnt_qposadr[id_of(e, mjOBJ_JOINT, "objjoint")];
    e->d->qpos[qa + 2] = 0.1;
    mj_forward(e->m, e->d);
    double ob[ENV_OBS_DIM], ad[4] = {0, 0, 0, 0};
    memcpy(ob, e->obs, sizeof ob);
    e->task->object_obs(e, ob + 4);
    env_info inf = {0};
    e->task->reward(e, ob, ad, &inf);
    assert_true(ob[3] > 0 && !env_touching(e, id_of(e, mjOBJ_GEOM, "objGeom")));
    assert_int_equal((int)inf.grasp_success, 1);
    e->d->qpos[qa + 2] = 0.03;
    mj_forward(e->m, e->d);
    e->task->object_obs(e, ob + 4);
    e->task->reward(e, ob, ad, &inf);
    assert_int_equal((int)inf.grasp_success, 0);
    env_destroy(e);
}

/* ---- soft limits really overrun ---- */

/* At success the button is past its -0.06 limit (button-press: q <= -0.073),
 * and plate-slide-side's plate is past its x limit -0.2 for the far goals. */
static void test_limits_overrun(void **st)
{
    (void)st;
    env_sawyer *e = make("button-press-v2");
    for (int k = 0; k < 3; k++) {
        assert_true(scripted_until_success(e, k, 300));
        assert_true(qpos_of(e, "btnbox_joint") < -0.07);
    }
    env_destroy(e);

    e = make("plate-slide-side-v2");
    int past = 0;
    for (int k = 0; k < 10; k++) {
        scripted_until_success(e, k, 300);
        past += qpos_of(e, "goal_slidex") < -0.21;
    }
    assert_true(past > 0);
    env_destroy(e);
}

/* ---- determinism across thread counts ---- */

#define ALL_A                                                                                  \
    "button-press-topdown-wall-v2,button-press-v2,button-press-wall-v2,coffee-button-v2,"      \
    "reach-wall-v2,push-wall-v2,pick-place-wall-v2,push-back-v2,plate-slide-v2,"               \
    "plate-slide-side-v2,plate-slide-back-v2,plate-slide-back-side-v2"
#define NA 12

ENVS_TEST_THREADS_IDENTICAL(ALL_A, NA, 25, 60, 2)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_button_scenes),
        cmocka_unit_test(test_wall_back_scenes),
        cmocka_unit_test(test_cabinet_covers_hulls),
        cmocka_unit_test(test_plate_scene),
        cmocka_unit_test(test_button_resets),
        cmocka_unit_test(test_wall_back_resets),
        cmocka_unit_test(test_plate_resets),
        cmocka_unit_test(test_old_caging),
        cmocka_unit_test(test_rewards_match_spec),
        cmocka_unit_test(test_grasp_info),
        cmocka_unit_test(test_limits_overrun),
        cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_buttons_scripted),
        cmocka_unit_test(test_wall_back_scripted),
        cmocka_unit_test(test_plates_scripted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
