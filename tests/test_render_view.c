/* render: scenes drawn offscreen with MuJoCo's renderer. A frame is not
 * blank, changes when the arm moves, is the same for the same state, and
 * rendering leaves the simulation untouched; cameras resolve by name and a
 * missing one is an error naming the task's cameras; a context that cannot
 * be created is an error naming what was tried. */
#include "testutil.h"

#include <math.h>

#include "render/render.h"

#define W 160
#define H 120

static render_gl *gl;

static int setup(void **state)
{
    (void)state;
    mtrl_err err = {0};
    if (render_gl_create(&gl, &err)) {
        fprintf(stderr, "render_gl_create: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    render_gl_destroy(gl);
    return 0;
}

static env_sawyer *make_env(const char *task)
{
    int idx;
    mtrl_err err = {0};
    assert_int_equal(env_task_find(task, &idx, &err), 0);
    env_opts o;
    env_opts_default(&o);
    env_sawyer *e;
    assert_int_equal(env_create(&e, idx, &o, 0, &err), 0);
    float obs[ENV_OBS_DIM];
    assert_int_equal(env_reset_goal(e, 0, obs, NULL), 0);
    return e;
}

static render_view *make_view(env_sawyer *e, const char *camera)
{
    render_camera c;
    render_camera_default(&c);
    snprintf(c.name, sizeof c.name, "%s", camera);
    render_view *v;
    mtrl_err err = {0};
    int rc = render_view_create(&v, gl, e, &c, W, H, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    return v;
}

static void frame(render_view *v, uint8_t *rgb)
{
    mtrl_err err = {0};
    assert_int_equal(render_view_frame(v, NULL, rgb, &err), 0);
}

static long pixels_differing(const uint8_t *a, const uint8_t *b)
{
    long n = 0;
    for (int i = 0; i < W * H; i++)
        n += a[3 * i] != b[3 * i] || a[3 * i + 1] != b[3 * i + 1] || a[3 * i + 2] != b[3 * i + 2];
    return n;
}

/* Distinct colours in a frame: a blank or one-colour image has 1. */
static int colours(const uint8_t *rgb)
{
    static uint8_t seen[1 << 15];
    memset(seen, 0, sizeof seen);
    int n = 0;
    for (int i = 0; i < W * H; i++) {
        int k = (rgb[3 * i] >> 3) << 10 | (rgb[3 * i + 1] >> 3) << 5 | rgb[3 * i + 2] >> 3;
        n += !seen[k];
        seen[k] = 1;
    }
    return n;
}

static void keep(const char *name, const uint8_t *rgb)
{
    const char *dir = getenv("MTRL_RENDER_KEEP"); /* to look at the frames by eye */
    if (!dir)
        return;
    char path[512];
    snprintf(path, sizeof path, "%s/%s.png", dir, name);
    mtrl_err err = {0};
    assert_int_equal(render_png_write(path, rgb, W, H, &err), 0);
}

static void test_frame_not_blank_and_follows_the_arm(void **state)
{
    (void)state;
    env_sawyer *e = make_env("reach-v2");
    render_view *v = make_view(e, "corner");
    uint8_t *a = malloc(W * H * 3), *b = malloc(W * H * 3);
    frame(v, a);
    keep("reach_corner_0", a);
    assert_true(colours(a) > 20);
    /* 40 steps of full +x motion move the hand 0.4 m: the picture changes. */
    float act[ENV_ACT_DIM] = {1, 0, 0, 0}, obs[ENV_OBS_DIM];
    env_info info;
    env_step_flags fl;
    for (int s = 0; s < 40; s++)
        assert_int_equal(env_step(e, act, obs, &info, &fl, NULL), 0);
    frame(v, b);
    keep("reach_corner_40", b);
    assert_true(pixels_differing(a, b) > W * H / 100);
    render_view_destroy(v);
    env_destroy(e);
    free(a);
    free(b);
}

static void test_same_state_same_pixels_and_physics_untouched(void **state)
{
    (void)state;
    env_sawyer *e = make_env("push-v2"), *twin = make_env("push-v2");
    render_view *v = make_view(e, "");
    uint8_t *a = malloc(W * H * 3), *b = malloc(W * H * 3);
    float act[ENV_ACT_DIM] = {0.3f, 0.5f, -0.2f, 1}, o1[ENV_OBS_DIM], o2[ENV_OBS_DIM];
    env_info info;
    env_step_flags fl;
    for (int s = 0; s < 25; s++) {
        assert_int_equal(env_step(e, act, o1, &info, &fl, NULL), 0);
        assert_int_equal(env_step(twin, act, o2, &info, &fl, NULL), 0);
        frame(v, a); /* rendering between steps must not change the simulation */
        assert_memory_equal(o1, o2, sizeof o1);
    }
    frame(v, b);
    assert_int_equal(pixels_differing(a, b), 0);
    keep("push_free", a);
    render_view_destroy(v);
    env_destroy(e);
    env_destroy(twin);
    free(a);
    free(b);
}

static void test_named_cameras_resolve(void **state)
{
    (void)state;
    static const char *const names[] = {"corner", "corner2", "corner3", "topview",
                                        "behindGripper", "gripperPOV"};
    env_sawyer *e = make_env("door-open-v2");
    uint8_t *img[6];
    for (int i = 0; i < 6; i++) {
        render_view *v = make_view(e, names[i]);
        img[i] = malloc(W * H * 3);
        frame(v, img[i]);
        keep(names[i], img[i]);
        assert_true(colours(img[i]) > 5);
        render_view_destroy(v);
    }
    /* Six cameras, six different pictures. */
    for (int i = 0; i < 6; i++)
        for (int j = i + 1; j < 6; j++)
            assert_true(pixels_differing(img[i], img[j]) > W * H / 20);
    for (int i = 0; i < 6; i++)
        free(img[i]);
    env_destroy(e);
}

/* flip turns the picture 180 degrees: it matches the plain picture rotated,
 * up to rasterisation differences at edges. */
static void test_flip_turns_the_picture(void **state)
{
    (void)state;
    env_sawyer *e = make_env("window-open-v2");
    render_camera c;
    render_camera_default(&c);
    snprintf(c.name, sizeof c.name, "corner2");
    render_view *v, *vf;
    mtrl_err err = {0};
    assert_int_equal(render_view_create(&v, gl, e, &c, W, H, &err), 0);
    c.flip = 1;
    assert_int_equal(render_view_create(&vf, gl, e, &c, W, H, &err), 0);
    uint8_t *a = malloc(W * H * 3), *b = malloc(W * H * 3);
    frame(v, a);
    frame(vf, b);
    keep("corner2_flipped", b);
    long close = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const uint8_t *p = a + 3 * (y * W + x), *q = b + 3 * ((H - 1 - y) * W + (W - 1 - x));
            int ok = 1;
            for (int k = 0; k < 3; k++)
                ok &= abs(p[k] - q[k]) <= 8;
            close += ok;
        }
    assert_true(close > (long)W * H * 95 / 100);
    assert_true(pixels_differing(a, b) > W * H / 4); /* and it is not the same picture */
    render_view_destroy(v);
    render_view_destroy(vf);
    env_destroy(e);
    free(a);
    free(b);
}

static void test_missing_camera_names_the_available_ones(void **state)
{
    (void)state;
    env_sawyer *e = make_env("drawer-open-v2");
    render_camera c;
    render_camera_default(&c);
    snprintf(c.name, sizeof c.name, "cornerX");
    render_view *v = NULL;
    mtrl_err err = {0};
    assert_int_equal(render_view_create(&v, gl, e, &c, W, H, &err), MTRL_EINPUT);
    assert_null(v);
    assert_non_null(strstr(err.msg, "'cornerX'"));
    assert_non_null(strstr(err.msg, "drawer-open-v2"));
    assert_non_null(strstr(err.msg, "corner2"));
    assert_non_null(strstr(err.msg, "gripperPOV"));
    /* larger than the scene's offscreen buffer */
    c.name[0] = '\0';
    assert_int_equal(render_view_create(&v, gl, e, &c, 4000, 480, &err), MTRL_EINPUT);
    assert_non_null(strstr(err.msg, "offwidth"));
    env_destroy(e);
}

static void test_forced_failure_names_what_was_tried(void **state)
{
    (void)state;
    setenv("MTRL_RENDER_FAIL", "1", 1);
    render_gl *g = NULL;
    mtrl_err err = {0};
    assert_int_equal(render_gl_create(&g, &err), MTRL_ERUNTIME);
    unsetenv("MTRL_RENDER_FAIL");
    assert_null(g);
    assert_non_null(strstr(err.msg, "OSMesa"));
    assert_non_null(strstr(err.msg, "EGL"));
    assert_non_null(strstr(err.msg, "MTRL_RENDER_FAIL"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_not_blank_and_follows_the_arm),
        cmocka_unit_test(test_same_state_same_pixels_and_physics_untouched),
        cmocka_unit_test(test_named_cameras_resolve),
        cmocka_unit_test(test_flip_turns_the_picture),
        cmocka_unit_test(test_missing_camera_names_the_available_ones),
        cmocka_unit_test(test_forced_failure_names_what_was_tried),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
