/* render: the files it writes, read back by an independent decoder (FFmpeg's
 * libavformat/libavcodec, linked into this test): the MP4 has the frames and
 * size asked for, the GIF fallback decodes to the same count and size, and a
 * PNG decodes to exactly the pixels written. */
#include "testutil.h"

#include <math.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>

#include "render/render.h"

typedef struct decoded {
    int frames, width, height;
    double fps;
    uint8_t *first_rgb; /* PNG test: the first frame as packed RGB24 (or NULL) */
} decoded;

/* A decoded frame as packed RGB24: PNG decodes to RGB24, GIF to PAL8 or
 * native-endian 0xAARRGGBB words. NULL for other formats. */
static uint8_t *to_rgb(const AVFrame *fr)
{
    uint8_t *rgb = malloc((size_t)fr->width * fr->height * 3);
    for (int y = 0; y < fr->height; y++) {
        const uint8_t *row = fr->data[0] + (size_t)y * fr->linesize[0];
        for (int x = 0; x < fr->width; x++) {
            uint8_t *p = rgb + ((size_t)y * fr->width + x) * 3;
            uint32_t argb;
            if (fr->format == AV_PIX_FMT_RGB24) {
                memcpy(p, row + 3 * x, 3);
                continue;
            } else if (fr->format == AV_PIX_FMT_PAL8) {
                memcpy(&argb, fr->data[1] + 4 * row[x], 4);
            } else if (fr->format == AV_PIX_FMT_RGB32) {
                memcpy(&argb, row + 4 * x, 4);
            } else {
                free(rgb);
                return NULL;
            }
            p[0] = (uint8_t)(argb >> 16), p[1] = (uint8_t)(argb >> 8), p[2] = (uint8_t)argb;
        }
    }
    return rgb;
}

/* Decodes every frame of a file; returns 0 or -1. */
static int decode_file(const char *path, decoded *out, int want_rgb)
{
    memset(out, 0, sizeof *out);
    AVFormatContext *fc = NULL;
    if (avformat_open_input(&fc, path, NULL, NULL) < 0)
        return -1;
    if (avformat_find_stream_info(fc, NULL) < 0)
        return -1;
    int si = av_find_best_stream(fc, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (si < 0)
        return -1;
    AVStream *st = fc->streams[si];
    const AVCodec *dec = avcodec_find_decoder(st->codecpar->codec_id);
    AVCodecContext *cc = avcodec_alloc_context3(dec);
    avcodec_parameters_to_context(cc, st->codecpar);
    if (avcodec_open2(cc, dec, NULL) < 0)
        return -1;
    out->width = st->codecpar->width;
    out->height = st->codecpar->height;
    out->fps = st->avg_frame_rate.den ? av_q2d(st->avg_frame_rate) : 0;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *fr = av_frame_alloc();
    int eof = 0;
    while (!eof) {
        int rc = av_read_frame(fc, pkt);
        if (rc < 0) {
            eof = 1;
            avcodec_send_packet(cc, NULL);
        } else {
            if (pkt->stream_index == si)
                avcodec_send_packet(cc, pkt);
            av_packet_unref(pkt);
        }
        while (avcodec_receive_frame(cc, fr) == 0) {
            if (want_rgb && !out->first_rgb)
                out->first_rgb = to_rgb(fr);
            out->frames++;
        }
    }
    av_frame_free(&fr);
    av_packet_free(&pkt);
    avcodec_free_context(&cc);
    avformat_close_input(&fc);
    return 0;
}

/* Frames of a real scene with the arm moving, so the encoder sees motion. */
static void write_video(const char *path, int w, int h, int n, char *note, size_t cap,
                        char *actual, size_t acap)
{
    mtrl_err err = {0};
    render_gl *gl;
    assert_int_equal(render_gl_create(&gl, &err), 0);
    int idx;
    assert_int_equal(env_task_find("push-v2", &idx, &err), 0);
    env_opts o;
    env_opts_default(&o);
    env_sawyer *e;
    assert_int_equal(env_create(&e, idx, &o, 0, &err), 0);
    float obs[ENV_OBS_DIM], act[ENV_ACT_DIM];
    assert_int_equal(env_reset_goal(e, 3, obs, NULL), 0);
    render_camera c;
    render_camera_default(&c);
    render_view *v;
    assert_int_equal(render_view_create(&v, gl, e, &c, w, h, &err), 0);
    render_video *vid;
    int rc = render_video_open(&vid, path, w, h, render_env_fps(e), note, cap, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    snprintf(actual, acap, "%s", render_video_path(vid));
    uint8_t *rgb = malloc((size_t)w * h * 3);
    for (int i = 0; i < n; i++) {
        assert_int_equal(render_view_frame(v, "step", rgb, &err), 0);
        assert_int_equal(render_video_frame(vid, rgb, &err), 0);
        env_scripted_action(e, obs, act);
        env_info info;
        env_step_flags fl;
        assert_int_equal(env_step(e, act, obs, &info, &fl, NULL), 0);
    }
    assert_int_equal(render_video_frames(vid), n);
    assert_int_equal(render_video_close(vid, &err), 0);
    free(rgb);
    render_view_destroy(v);
    env_destroy(e);
    render_gl_destroy(gl);
}

static void test_mp4_has_the_frames_and_size_asked_for(void **state)
{
    (void)state;
    char why[512];
    assert_true(render_mp4_available(why, sizeof why)); /* CI installs libavcodec59 + libx264 */
    char path[512], note[512], actual[512];
    snprintf(path, sizeof path, "%s/a.mp4", test_tmpdir());
    write_video(path, 96, 64, 37, note, sizeof note, actual, sizeof actual);
    assert_string_equal(note, "");
    assert_string_equal(actual, path);
    decoded d;
    assert_int_equal(decode_file(path, &d, 0), 0);
    assert_int_equal(d.frames, 37);
    assert_int_equal(d.width, 96);
    assert_int_equal(d.height, 64);
    assert_true(fabs(d.fps - 80.0) < 0.01); /* the env step rate of the Sawyer scenes */
    /* no temporary file left beside it */
    assert_int_equal(test_sh("ls %s | grep -c tmp >/dev/null", test_tmpdir()), 1);
}

static void test_gif_decodes_to_the_same_frames(void **state)
{
    (void)state;
    char path[512], note[512], actual[512];
    snprintf(path, sizeof path, "%s/b.gif", test_tmpdir());
    write_video(path, 120, 90, 23, note, sizeof note, actual, sizeof actual);
    assert_string_equal(actual, path);
    decoded d;
    assert_int_equal(decode_file(path, &d, 0), 0);
    assert_int_equal(d.frames, 23);
    assert_int_equal(d.width, 120);
    assert_int_equal(d.height, 90);
}

/* Colours of the GIF palette survive exactly: noise that overflows the LZW
 * table several times per frame decodes to the very pixels written. */
static void test_gif_lzw_is_lossless_on_palette_colours(void **state)
{
    (void)state;
    enum { W = 211, H = 97, N = 3 };
    char path[512];
    snprintf(path, sizeof path, "%s/noise.gif", test_tmpdir());
    render_video *v;
    mtrl_err err = {0};
    assert_int_equal(render_video_open(&v, path, W, H, 25, NULL, 0, &err), 0);
    uint8_t *frames = malloc((size_t)N * W * H * 3);
    uint32_t x = 12345;
    for (int i = 0; i < N * W * H; i++) {
        x = x * 1664525u + 1013904223u;
        int c = (int)(x >> 24) % 216; /* a colour-cube entry: exact in the palette */
        uint8_t *p = frames + 3 * (size_t)i;
        /* runs of equal pixels in the top half, noise in the bottom half */
        if ((i % (W * H)) < W * H / 2)
            c = (i / 13) % 216;
        p[0] = (uint8_t)(c / 36 * 51), p[1] = (uint8_t)(c / 6 % 6 * 51), p[2] = (uint8_t)(c % 6 * 51);
    }
    for (int f = 0; f < N; f++)
        assert_int_equal(render_video_frame(v, frames + (size_t)f * W * H * 3, &err), 0);
    assert_int_equal(render_video_close(v, &err), 0);
    decoded d;
    assert_int_equal(decode_file(path, &d, 1), 0);
    assert_int_equal(d.frames, N);
    assert_non_null(d.first_rgb);
    assert_memory_equal(d.first_rgb, frames, W * H * 3);
    free(d.first_rgb);
    free(frames);
}

static void test_png_round_trips_exactly(void **state)
{
    (void)state;
    enum { W = 173, H = 61 };
    uint8_t *rgb = malloc(W * H * 3);
    for (int i = 0; i < W * H * 3; i++)
        rgb[i] = (uint8_t)((i * 7919) ^ (i >> 5));
    char path[512];
    snprintf(path, sizeof path, "%s/c.png", test_tmpdir());
    mtrl_err err = {0};
    assert_int_equal(render_png_write(path, rgb, W, H, &err), 0);
    decoded d;
    assert_int_equal(decode_file(path, &d, 1), 0);
    assert_int_equal(d.width, W);
    assert_int_equal(d.height, H);
    assert_non_null(d.first_rgb);
    assert_memory_equal(d.first_rgb, rgb, W * H * 3);
    free(d.first_rgb);
    free(rgb);
}

static void test_bad_video_arguments(void **state)
{
    (void)state;
    render_video *v = NULL;
    mtrl_err err = {0};
    char path[512];
    snprintf(path, sizeof path, "%s/d.avi", test_tmpdir());
    assert_int_equal(render_video_open(&v, path, 64, 64, 30, NULL, 0, &err), MTRL_EINPUT);
    assert_non_null(strstr(err.msg, ".mp4 or .gif"));
    snprintf(path, sizeof path, "%s/e.mp4", test_tmpdir());
    assert_int_equal(render_video_open(&v, path, 65, 64, 30, NULL, 0, &err), MTRL_EINPUT);
    assert_non_null(strstr(err.msg, "even"));
    assert_null(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mp4_has_the_frames_and_size_asked_for),
        cmocka_unit_test(test_gif_decodes_to_the_same_frames),
        cmocka_unit_test(test_gif_lzw_is_lossless_on_palette_colours),
        cmocka_unit_test(test_png_round_trips_exactly),
        cmocka_unit_test(test_bad_video_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
