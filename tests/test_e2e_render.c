/* End to end through the mtrl command: mtrl render writes a video with its
 * CSV and a contact sheet; mtrl eval --video, eval.video_every and
 * env-check --video write their videos; without a GL context every one of
 * them exits 1 naming what was tried; a missing camera is exit 2 naming the
 * scene's cameras; and a run without video keys never loads GL or FFmpeg
 * (seen by the dynamic loader itself, LD_DEBUG=files, with a positive
 * control so the check can fail). */
#include "e2e_util.h"

#include <sys/stat.h>

static char tmp[300];
static char cfg_path[512];

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof tmp, "%s", test_tmpdir());
    snprintf(cfg_path, sizeof cfg_path, "%s/tiny.yaml", tmp);
    FILE *f = fopen(cfg_path, "w");
    if (!f)
        return -1;
    fprintf(f, "run: {seed: 3, iterations: 60, threads: 1}\n"
               "env: {benchmark: \"mt1:reach-v2\", max_episode_steps: 30}\n"
               "agent: {actor_hidden: [16, 16], critic_hidden: [16, 16], batch_size: 30,\n"
               "        init_steps: 30, init_updates: 5}\n"
               "replay: {capacity: 2000}\n"
               "eval: {every: 30, episodes: 1}\n");
    fclose(f);
    return 0;
}

static long lines(const char *path)
{
    char *s = test_slurp(path);
    if (!s)
        return -1;
    long n = 0;
    for (char *p = s; *p; p++)
        n += *p == '\n';
    free(s);
    return n;
}

static int exists(const char *fmt, const char *a)
{
    char p[1024];
    snprintf(p, sizeof p, fmt, tmp, a);
    struct stat st;
    return stat(p, &st) == 0 && st.st_size > 0;
}

static void test_render_video_and_csv(void **state)
{
    (void)state;
    const char *bin = test_mtrl_bin();
    assert_int_equal(test_sh("%s render reach-v2 --episodes 2 --max-steps 10 --width 64 "
                             "--height 48 --camera corner2 --out %s/r.mp4 2>/dev/null",
                             bin, tmp),
                     0);
    assert_true(exists("%s/r.mp4", ""));
    char csv[512];
    snprintf(csv, sizeof csv, "%s/r.csv", tmp);
    assert_int_equal(lines(csv), 1 + 2 * 11); /* header, 2 x (reset + 10 steps) */
    e2e_assert_file_has(csv, "frame,episode,step,reward,success\n0,0,0,");
    e2e_assert_file_has(csv, "\n21,1,10,");
    /* the GIF fallback when the MP4 encoder is unavailable, said on stderr */
    assert_int_equal(test_sh("MTRL_VIDEO=gif %s render reach-v2 --policy random --max-steps 5 "
                             "--width 64 --height 48 --out %s/g.mp4 2>%s/g.log",
                             bin, tmp, tmp),
                     0);
    assert_true(exists("%s/g.gif", ""));
    assert_false(exists("%s/g.mp4", ""));
    char log[512];
    snprintf(log, sizeof log, "%s/g.log", tmp);
    e2e_assert_file_has(log, "animated GIF instead");
}

static void test_grid_png(void **state)
{
    (void)state;
    assert_int_equal(test_sh("%s render mt10 --grid --out %s/sheet.png 2>/dev/null",
                             test_mtrl_bin(), tmp),
                     0);
    char p[512];
    snprintf(p, sizeof p, "%s/sheet.png", tmp);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    unsigned char h[24];
    assert_int_equal(fread(h, 1, 24, f), 24);
    fclose(f);
    assert_memory_equal(h, "\x89PNG\r\n\x1a\n", 8);
    unsigned w = (unsigned)h[16] << 24 | h[17] << 16 | h[18] << 8 | h[19];
    unsigned ht = (unsigned)h[20] << 24 | h[21] << 16 | h[22] << 8 | h[23];
    assert_int_equal(w, 5 * 240); /* 10 tasks: 5 x 2 tiles of 240 */
    assert_int_equal(ht, 2 * 240);
}

static void test_missing_camera_is_bad_input(void **state)
{
    (void)state;
    assert_int_equal(test_sh("%s render push-v2 --camera nope --out %s/n.mp4 2>%s/n.log",
                             test_mtrl_bin(), tmp, tmp),
                     2);
    char log[512];
    snprintf(log, sizeof log, "%s/n.log", tmp);
    e2e_assert_file_has(log, "camera 'nope'");
    e2e_assert_file_has(log, "push-v2");
    e2e_assert_file_has(log, "behindGripper");
    assert_false(exists("%s/n.mp4", ""));
}

static void test_training_and_eval_videos(void **state)
{
    (void)state;
    const char *bin = test_mtrl_bin();
    assert_int_equal(test_sh("%s run %s --quiet --out %s/run --set eval.video_every=30 "
                             "2>/dev/null",
                             bin, cfg_path, tmp),
                     0);
    /* evaluations at 0, 30, 60: one video each, reach-v2 only */
    assert_true(exists("%s/run/videos/iter-0/reach-v2.mp4", ""));
    assert_true(exists("%s/run/videos/iter-30/reach-v2.mp4", ""));
    assert_true(exists("%s/run/videos/iter-60/reach-v2.mp4", ""));
    char csv[512];
    snprintf(csv, sizeof csv, "%s/run/videos/iter-60/reach-v2.csv", tmp);
    long n = lines(csv);
    assert_true(n >= 3 && n <= 32); /* header + reset + up to 30 steps */
    assert_int_equal(test_sh("%s eval %s/run --video %s/evv --width 96 --height 96 >/dev/null "
                             "2>&1", bin, tmp, tmp),
                     0);
    assert_true(exists("%s/evv/reach-v2.mp4", ""));
    assert_true(exists("%s/evv/reach-v2.csv", ""));
    assert_int_equal(test_sh("%s env-check reach-v2 --episodes 1 --max-steps 20 --width 64 "
                             "--height 64 --video %s/ec.mp4 >/dev/null 2>&1",
                             bin, tmp),
                     0);
    assert_true(exists("%s/ec.mp4", ""));
    snprintf(csv, sizeof csv, "%s/ec.csv", tmp);
    assert_int_equal(lines(csv), 1 + 21);
}

static void expect_gl_failure(const char *what, const char *args)
{
    char log[512];
    snprintf(log, sizeof log, "%s/fail-%s.log", tmp, what);
    int rc = test_sh("MTRL_RENDER_FAIL=1 %s %s >/dev/null 2>%s", test_mtrl_bin(), args, log);
    char *s = test_slurp(log);
    if (rc != 1 || !s || !strstr(s, "no offscreen OpenGL context") || !strstr(s, "OSMesa") ||
        !strstr(s, "EGL"))
        fail_msg("%s: exit %d, stderr: %s", what, rc, s ? s : "(none)");
    free(s);
}

static void test_no_gl_context_exits_1_everywhere(void **state)
{
    (void)state;
    char a[1024];
    snprintf(a, sizeof a, "render reach-v2 --out %s/f1.mp4", tmp);
    expect_gl_failure("render", a);
    snprintf(a, sizeof a, "render mt10 --grid --out %s/f2.png", tmp);
    expect_gl_failure("grid", a);
    snprintf(a, sizeof a, "env-check reach-v2 --episodes 1 --video %s/f3.mp4", tmp);
    expect_gl_failure("env-check", a);
    snprintf(a, sizeof a, "run %s --quiet --out %s/frun --set eval.video_every=30", cfg_path, tmp);
    expect_gl_failure("run", a);
    /* eval needs a checkpoint: train one without videos (no GL needed) */
    assert_int_equal(test_sh("MTRL_RENDER_FAIL=1 %s run %s --quiet --out %s/plain "
                             "--set run.iterations=30 2>/dev/null",
                             test_mtrl_bin(), cfg_path, tmp),
                     0);
    snprintf(a, sizeof a, "eval %s/plain --video %s/f4", tmp, tmp);
    expect_gl_failure("eval", a);
    assert_false(exists("%s/f1.mp4", ""));
    assert_false(exists("%s/f2.png", ""));
}

/* Counts the loader's "file=libOSMesa/libEGL/libGL.../libavcodec" lines. */
static int gl_loads(const char *args, const char *name)
{
    char log[512];
    snprintf(log, sizeof log, "%s/ld-%s.log", tmp, name);
    test_sh("LD_DEBUG=files %s %s >/dev/null 2>%s", test_mtrl_bin(), args, log);
    return test_sh("grep -E 'file=lib(OSMesa|EGL|GL|GLX|glapi|avcodec|avformat)[._]' %s "
                   ">/dev/null",
                   log) == 0;
}

static void test_run_without_video_never_loads_gl(void **state)
{
    (void)state;
    char a[1024];
    /* positive control: rendering does show up in the loader's log */
    snprintf(a, sizeof a, "render reach-v2 --max-steps 2 --width 32 --height 32 --out %s/c.mp4",
             tmp);
    assert_true(gl_loads(a, "render"));
    snprintf(a, sizeof a, "run %s --quiet --out %s/nogl", cfg_path, tmp);
    assert_false(gl_loads(a, "run"));
    snprintf(a, sizeof a, "eval %s/nogl", tmp);
    assert_false(gl_loads(a, "eval"));
    /* and the binary links none of them */
    assert_int_equal(test_sh("ldd %s | grep -E 'lib(OSMesa|EGL|GL|GLX|avcodec|avformat)[._]' "
                             ">/dev/null",
                             test_mtrl_bin()),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_video_and_csv),
        cmocka_unit_test(test_grid_png),
        cmocka_unit_test(test_missing_camera_is_bad_input),
        cmocka_unit_test(test_training_and_eval_videos),
        cmocka_unit_test(test_no_gl_context_exits_1_everywhere),
        cmocka_unit_test(test_run_without_video_never_loads_gl),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
