/* H.264 in MP4 through FFmpeg's libavformat/libavcodec with the libx264
 * encoder, all opened with dlopen on first use: the mtrl binary does not
 * link them, so a machine without them still trains, and a missing encoder
 * turns into the GIF fallback instead of a failed start. The sonames come
 * from the major versions of the headers we compile against, so the struct
 * layouts we use match the library we load. RGB -> YUV 4:2:0 (BT.601,
 * limited range) is done here, which spares libswscale. */
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>

#include "render/render_impl.h"

#define STR2(x) #x
#define STR(x) STR2(x)

/* The functions we call, resolved once. */
static struct {
    int tried, ok;
    char why[512];
    int (*alloc_output)(AVFormatContext **, const AVOutputFormat *, const char *, const char *);
    AVStream *(*new_stream)(AVFormatContext *, const AVCodec *);
    int (*avio_open)(AVIOContext **, const char *, int);
    int (*avio_closep)(AVIOContext **);
    int (*write_header)(AVFormatContext *, AVDictionary **);
    int (*write_frame)(AVFormatContext *, AVPacket *);
    int (*write_trailer)(AVFormatContext *);
    void (*free_format)(AVFormatContext *);
    const AVCodec *(*find_encoder)(const char *);
    AVCodecContext *(*alloc_codec)(const AVCodec *);
    int (*open_codec)(AVCodecContext *, const AVCodec *, AVDictionary **);
    int (*params_from_ctx)(AVCodecParameters *, const AVCodecContext *);
    int (*send_frame)(AVCodecContext *, const AVFrame *);
    int (*receive_packet)(AVCodecContext *, AVPacket *);
    void (*free_codec)(AVCodecContext **);
    AVPacket *(*packet_alloc)(void);
    void (*packet_free)(AVPacket **);
    void (*packet_rescale)(AVPacket *, AVRational, AVRational);
    AVFrame *(*frame_alloc)(void);
    int (*frame_buffer)(AVFrame *, int);
    int (*frame_writable)(AVFrame *);
    void (*frame_free)(AVFrame **);
    int (*dict_set)(AVDictionary **, const char *, const char *, int);
    void (*dict_free)(AVDictionary **);
    void (*log_level)(int);
    int (*strerror)(int, char *, size_t);
} av;

#define LIB_FORMAT "libavformat.so." STR(LIBAVFORMAT_VERSION_MAJOR)
#define LIB_CODEC "libavcodec.so." STR(LIBAVCODEC_VERSION_MAJOR)
#define LIB_UTIL "libavutil.so." STR(LIBAVUTIL_VERSION_MAJOR)

static int load_av(void)
{
    if (av.tried)
        return av.ok ? 0 : -1;
    av.tried = 1;
    const char *force = getenv("MTRL_VIDEO");
    if (force && !strcmp(force, "gif")) {
        snprintf(av.why, sizeof av.why, "MTRL_VIDEO=gif skips the MP4 encoder");
        return -1;
    }
    void *fmt = dlopen(LIB_FORMAT, RTLD_NOW | RTLD_LOCAL);
    void *cod = fmt ? dlopen(LIB_CODEC, RTLD_NOW | RTLD_LOCAL) : NULL;
    void *utl = cod ? dlopen(LIB_UTIL, RTLD_NOW | RTLD_LOCAL) : NULL;
    if (!utl) {
        snprintf(av.why, sizeof av.why, "cannot load %s (Debian packages libavformat59 "
                 "libavcodec59): %s", !fmt ? LIB_FORMAT : !cod ? LIB_CODEC : LIB_UTIL, dlerror());
        return -1;
    }
    int missing = 0;
#define SYM(field, lib, name)                                                   \
    do {                                                                        \
        *(void **)&av.field = dlsym(lib, name);                                 \
        if (!av.field && !missing++)                                            \
            snprintf(av.why, sizeof av.why, "%s lacks %s", #lib, name);         \
    } while (0)
    SYM(alloc_output, fmt, "avformat_alloc_output_context2");
    SYM(new_stream, fmt, "avformat_new_stream");
    SYM(avio_open, fmt, "avio_open");
    SYM(avio_closep, fmt, "avio_closep");
    SYM(write_header, fmt, "avformat_write_header");
    SYM(write_frame, fmt, "av_interleaved_write_frame");
    SYM(write_trailer, fmt, "av_write_trailer");
    SYM(free_format, fmt, "avformat_free_context");
    SYM(find_encoder, cod, "avcodec_find_encoder_by_name");
    SYM(alloc_codec, cod, "avcodec_alloc_context3");
    SYM(open_codec, cod, "avcodec_open2");
    SYM(params_from_ctx, cod, "avcodec_parameters_from_context");
    SYM(send_frame, cod, "avcodec_send_frame");
    SYM(receive_packet, cod, "avcodec_receive_packet");
    SYM(free_codec, cod, "avcodec_free_context");
    SYM(packet_alloc, cod, "av_packet_alloc");
    SYM(packet_free, cod, "av_packet_free");
    SYM(packet_rescale, cod, "av_packet_rescale_ts");
    SYM(frame_alloc, utl, "av_frame_alloc");
    SYM(frame_buffer, utl, "av_frame_get_buffer");
    SYM(frame_writable, utl, "av_frame_make_writable");
    SYM(frame_free, utl, "av_frame_free");
    SYM(dict_set, utl, "av_dict_set");
    SYM(dict_free, utl, "av_dict_free");
    SYM(log_level, utl, "av_log_set_level");
    SYM(strerror, utl, "av_strerror");
#undef SYM
    if (missing)
        return -1;
    av.log_level(AV_LOG_ERROR);
    if (!av.find_encoder("libx264")) {
        snprintf(av.why, sizeof av.why, "libavcodec has no libx264 encoder (Debian package "
                 "libavcodec59 with libx264-164)");
        return -1;
    }
    av.ok = 1;
    return 0;
}

int render_mp4_available(char *why, size_t cap)
{
    int ok = load_av() == 0;
    if (why && cap)
        snprintf(why, cap, "%s", ok ? "" : av.why);
    return ok;
}

struct render_mp4 {
    AVFormatContext *fc;
    AVCodecContext *cc;
    AVStream *st;
    AVFrame *frame;
    AVPacket *pkt;
    int64_t pts;
    int header_written;
    char path[4096], tmp[4200];
};

static int av_fail(mtrl_err *err, const char *path, const char *what, int code)
{
    char msg[256] = "";
    av.strerror(code, msg, sizeof msg);
    return err_set(err, MTRL_EIO, "%s: %s failed: %s", path, what, msg);
}

void render_mp4_free(render_mp4 *v)
{
    if (!v)
        return;
    if (v->fc) {
        if (v->fc->pb)
            av.avio_closep(&v->fc->pb);
        av.free_format(v->fc);
        unlink(v->tmp);
    }
    av.free_codec(&v->cc);
    av.frame_free(&v->frame);
    av.packet_free(&v->pkt);
    free(v);
}

int render_mp4_open(render_mp4 **out, const char *path, int width, int height, double fps,
                    mtrl_err *err)
{
    *out = NULL;
    if (load_av())
        return err_set(err, MTRL_ERUNTIME, "no MP4 encoder: %s", av.why);
    if (width % 2 || height % 2)
        return err_set(err, MTRL_EINPUT, "%s: H.264 4:2:0 needs an even width and height, got %dx%d",
                       path, width, height);
    if (!(fps > 0 && fps <= 1000))
        return err_set(err, MTRL_EINPUT, "%s: frame rate %g out of (0, 1000]", path, fps);
    render_mp4 *v = calloc(1, sizeof *v);
    if (!v)
        return err_set(err, MTRL_ENOMEM, "out of memory");
    snprintf(v->path, sizeof v->path, "%s", path);
    snprintf(v->tmp, sizeof v->tmp, "%s.tmp-%ld", path, (long)getpid());
    int rc;
    AVDictionary *opts = NULL;
    const AVCodec *codec = av.find_encoder("libx264");
    AVRational rate = fabs(fps - round(fps)) < 1e-9 ? (AVRational){(int)round(fps), 1}
                                                    : (AVRational){(int)round(fps * 1000), 1000};
    if ((rc = av.alloc_output(&v->fc, NULL, "mp4", v->tmp)) < 0 || !v->fc) {
        av_fail(err, path, "creating the MP4 container", rc);
        goto fail;
    }
    if (!(v->st = av.new_stream(v->fc, NULL)) || !(v->cc = av.alloc_codec(codec)) ||
        !(v->frame = av.frame_alloc()) || !(v->pkt = av.packet_alloc())) {
        err_set(err, MTRL_ENOMEM, "out of memory");
        goto fail;
    }
    v->cc->width = width;
    v->cc->height = height;
    v->cc->pix_fmt = AV_PIX_FMT_YUV420P;
    v->cc->time_base = (AVRational){rate.den, rate.num};
    v->cc->framerate = rate;
    v->cc->gop_size = 2 * (int)ceil(fps);
    /* One thread per encoder: evaluation videos keep one encoder per task. */
    v->cc->thread_count = 1;
    v->cc->color_range = AVCOL_RANGE_MPEG;
    v->cc->colorspace = AVCOL_SPC_SMPTE170M;
    v->cc->color_primaries = AVCOL_PRI_SMPTE170M;
    v->cc->color_trc = AVCOL_TRC_SMPTE170M;
    if (v->fc->oformat->flags & AVFMT_GLOBALHEADER)
        v->cc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    av.dict_set(&opts, "preset", "veryfast", 0);
    av.dict_set(&opts, "crf", "23", 0);
    rc = av.open_codec(v->cc, codec, &opts);
    av.dict_free(&opts);
    if (rc < 0) {
        av_fail(err, path, "opening the libx264 encoder", rc);
        goto fail;
    }
    if ((rc = av.params_from_ctx(v->st->codecpar, v->cc)) < 0) {
        av_fail(err, path, "copying the encoder parameters", rc);
        goto fail;
    }
    v->st->time_base = v->cc->time_base;
    v->st->avg_frame_rate = rate;
    v->frame->format = AV_PIX_FMT_YUV420P;
    v->frame->width = width;
    v->frame->height = height;
    if ((rc = av.frame_buffer(v->frame, 0)) < 0) {
        av_fail(err, path, "allocating a frame", rc);
        goto fail;
    }
    if ((rc = av.avio_open(&v->fc->pb, v->tmp, AVIO_FLAG_WRITE)) < 0) {
        av_fail(err, v->tmp, "opening for writing", rc);
        goto fail;
    }
    if ((rc = av.write_header(v->fc, NULL)) < 0) {
        av_fail(err, path, "writing the MP4 header", rc);
        goto fail;
    }
    v->header_written = 1;
    *out = v;
    return 0;
fail:
    render_mp4_free(v);
    return err && err->code ? err->code : MTRL_EIO;
}

/* Moves every packet the encoder has ready into the file. */
static int drain(render_mp4 *v, mtrl_err *err)
{
    for (;;) {
        int rc = av.receive_packet(v->cc, v->pkt);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF)
            return 0;
        if (rc < 0)
            return av_fail(err, v->path, "encoding", rc);
        av.packet_rescale(v->pkt, v->cc->time_base, v->st->time_base);
        v->pkt->stream_index = v->st->index;
        rc = av.write_frame(v->fc, v->pkt); /* takes the packet's reference */
        if (rc < 0)
            return av_fail(err, v->path, "writing a packet", rc);
    }
}

int render_mp4_frame(render_mp4 *v, const uint8_t *rgb, mtrl_err *err)
{
    int rc;
    if ((rc = av.frame_writable(v->frame)) < 0)
        return av_fail(err, v->path, "making a frame writable", rc);
    int w = v->cc->width, h = v->cc->height;
    AVFrame *f = v->frame;
    for (int y = 0; y < h; y++) {
        const uint8_t *p = rgb + (size_t)y * w * 3;
        uint8_t *Y = f->data[0] + (size_t)y * f->linesize[0];
        for (int x = 0; x < w; x++, p += 3)
            Y[x] = (uint8_t)(((66 * p[0] + 129 * p[1] + 25 * p[2] + 128) >> 8) + 16);
    }
    for (int y = 0; y < h / 2; y++) {
        uint8_t *U = f->data[1] + (size_t)y * f->linesize[1];
        uint8_t *V = f->data[2] + (size_t)y * f->linesize[2];
        for (int x = 0; x < w / 2; x++) {
            int r = 0, g = 0, b = 0;
            for (int dy = 0; dy < 2; dy++)
                for (int dx = 0; dx < 2; dx++) {
                    const uint8_t *p = rgb + ((size_t)(2 * y + dy) * w + 2 * x + dx) * 3;
                    r += p[0], g += p[1], b += p[2];
                }
            r = (r + 2) / 4, g = (g + 2) / 4, b = (b + 2) / 4;
            U[x] = (uint8_t)(((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128);
            V[x] = (uint8_t)(((112 * r - 94 * g - 18 * b + 128) >> 8) + 128);
        }
    }
    f->pts = v->pts++;
    if ((rc = av.send_frame(v->cc, f)) < 0)
        return av_fail(err, v->path, "encoding a frame", rc);
    return drain(v, err);
}

int render_mp4_close(render_mp4 *v, mtrl_err *err)
{
    int rc = av.send_frame(v->cc, NULL);
    if (rc < 0)
        rc = av_fail(err, v->path, "flushing the encoder", rc);
    else
        rc = drain(v, err);
    if (!rc && (rc = av.write_trailer(v->fc)) < 0)
        rc = av_fail(err, v->path, "writing the MP4 trailer", rc);
    if (!rc && v->fc->pb && (rc = av.avio_closep(&v->fc->pb)) < 0)
        rc = av_fail(err, v->path, "closing", rc);
    if (!rc && rename(v->tmp, v->path))
        rc = err_set(err, MTRL_EIO, "%s: cannot rename %s into place", v->path, v->tmp);
    render_mp4_free(v); /* unlinks the temp file if it is still there */
    return rc;
}
