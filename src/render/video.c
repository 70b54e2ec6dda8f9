/* Videos: MP4 when the encoder loads, else (or for a .gif path) our GIF.
 * Either way the file is written under a temporary name and renamed into
 * place when finished, so an interrupted render leaves no half video. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "render/render_impl.h"

struct render_video {
    render_mp4 *mp4;
    render_gif *gif;
    FILE *gif_file;
    long frames;
    char path[4096], tmp[4200];
};

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

int render_video_open(render_video **out, const char *path, int width, int height, double fps,
                      char *note, size_t note_cap, mtrl_err *err)
{
    *out = NULL;
    if (note && note_cap)
        note[0] = '\0';
    int want_gif = ends_with(path, ".gif");
    if (!want_gif && !ends_with(path, ".mp4"))
        return err_set(err, MTRL_EINPUT, "%s: a video path must end in .mp4 or .gif", path);
    if (strlen(path) >= 4000)
        return err_set(err, MTRL_EINPUT, "video path too long");
    render_video *v = calloc(1, sizeof *v);
    if (!v)
        return err_set(err, MTRL_ENOMEM, "out of memory");
    snprintf(v->path, sizeof v->path, "%s", path);
    if (!want_gif) {
        char why[512];
        if (render_mp4_available(why, sizeof why)) {
            int rc = render_mp4_open(&v->mp4, path, width, height, fps, err);
            if (rc)
                free(v);
            else
                *out = v;
            return rc;
        }
        /* the same name with .gif */
        strcpy(v->path + strlen(v->path) - 4, ".gif");
        if (note && note_cap)
            snprintf(note, note_cap, "MP4 encoder unavailable (%s); writing an animated GIF "
                     "instead: %s", why, v->path);
    }
    snprintf(v->tmp, sizeof v->tmp, "%s.tmp-%ld", v->path, (long)getpid());
    if (!(v->gif_file = fopen(v->tmp, "wb"))) {
        err_set(err, MTRL_EIO, "%s: cannot open for writing", v->tmp);
        free(v);
        return MTRL_EIO;
    }
    int rc = render_gif_open(&v->gif, v->gif_file, width, height, fps, err);
    if (rc) {
        fclose(v->gif_file);
        unlink(v->tmp);
        free(v);
        return rc;
    }
    *out = v;
    return 0;
}

int render_video_frame(render_video *v, const uint8_t *rgb, mtrl_err *err)
{
    int rc = v->mp4 ? render_mp4_frame(v->mp4, rgb, err) : render_gif_frame(v->gif, rgb, err);
    if (!rc)
        v->frames++;
    return rc;
}

int render_video_close(render_video *v, mtrl_err *err)
{
    int rc;
    if (v->mp4) {
        rc = render_mp4_close(v->mp4, err);
    } else {
        rc = render_gif_close(v->gif, err);
        if (fclose(v->gif_file) && !rc)
            rc = err_set(err, MTRL_EIO, "%s: write failed", v->tmp);
        if (!rc && rename(v->tmp, v->path))
            rc = err_set(err, MTRL_EIO, "%s: cannot rename %s into place", v->path, v->tmp);
        if (rc)
            unlink(v->tmp);
    }
    free(v);
    return rc;
}

void render_video_abort(render_video *v)
{
    if (!v)
        return;
    if (v->mp4) {
        render_mp4_free(v->mp4);
    } else {
        render_gif_free(v->gif);
        fclose(v->gif_file);
        unlink(v->tmp);
    }
    free(v);
}

const char *render_video_path(const render_video *v)
{
    return v->path;
}

long render_video_frames(const render_video *v)
{
    return v->frames;
}
