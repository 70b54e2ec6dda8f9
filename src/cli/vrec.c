#include "cli/vrec.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

void vrec_opts_default(vrec_opts *o)
{
    memset(o, 0, sizeof *o);
    render_camera_default(&o->camera);
    o->width = o->height = RENDER_DEFAULT_SIZE;
}

int vrec_open(vrec *r, render_gl *gl, const env_sawyer *e, const vrec_opts *o, const char *path,
              mtrl_err *err)
{
    memset(r, 0, sizeof *r);
    r->env = e;
    int rc = render_view_create(&r->view, gl, e, &o->camera, o->width, o->height, err);
    if (rc)
        return rc;
    char note[1024];
    double fps = o->fps > 0 ? o->fps : render_env_fps(e);
    if ((rc = render_video_open(&r->video, path, o->width, o->height, fps, note, sizeof note, err)))
        goto fail;
    if (note[0])
        fprintf(stderr, "mtrl: %s\n", note);
    const char *vp = render_video_path(r->video);
    snprintf(r->csv_path, sizeof r->csv_path, "%.*s.csv", (int)(strlen(vp) - 4), vp);
    snprintf(r->csv_tmp, sizeof r->csv_tmp, "%s.tmp-%ld", r->csv_path, (long)getpid());
    if (!(r->csv = fopen(r->csv_tmp, "w"))) {
        rc = err_set(err, MTRL_EIO, "%s: cannot open for writing", r->csv_tmp);
        goto fail;
    }
    fprintf(r->csv, "frame,episode,step,reward,success\n");
    if (!(r->rgb = malloc((size_t)o->width * o->height * 3))) {
        rc = err_set(err, MTRL_ENOMEM, "out of memory");
        goto fail;
    }
    return 0;
fail:
    vrec_abort(r);
    return rc;
}

int vrec_frame(vrec *r, int episode, int step, double reward, int success, mtrl_err *err)
{
    char text[256];
    snprintf(text, sizeof text, "%s\nepisode %d  step %d\nreward %.3f\nsuccess %d",
             env_task_name(env_task_index(r->env)), episode, step, reward, success);
    int rc = render_view_frame(r->view, text, r->rgb, err);
    if (!rc)
        rc = render_video_frame(r->video, r->rgb, err);
    if (rc)
        return rc;
    fprintf(r->csv, "%ld,%d,%d,%.6g,%d\n", r->frame++, episode, step, reward, success);
    return 0;
}

int vrec_close(vrec *r, mtrl_err *err)
{
    int rc = render_video_close(r->video, err);
    r->video = NULL;
    if (fclose(r->csv) && !rc)
        rc = err_set(err, MTRL_EIO, "%s: write failed", r->csv_tmp);
    r->csv = NULL;
    if (!rc && rename(r->csv_tmp, r->csv_path))
        rc = err_set(err, MTRL_EIO, "%s: cannot rename into place", r->csv_path);
    if (rc)
        unlink(r->csv_tmp);
    vrec_abort(r);
    return rc;
}

void vrec_abort(vrec *r)
{
    render_video_abort(r->video);
    if (r->csv) {
        fclose(r->csv);
        unlink(r->csv_tmp);
    }
    render_view_destroy(r->view);
    free(r->rgb);
    memset(r, 0, sizeof *r);
}

int vrec_parse_arg(const char *cmd, int argc, char **argv, int *i, vrec_opts *o)
{
    const char *a = argv[*i];
    if (!strcmp(a, "--flip")) {
        o->camera.flip = 1;
        return 1;
    }
    static const char *const opts[] = {"--camera", "--azimuth", "--elevation", "--distance",
                                       "--lookat", "--width", "--height", "--fps", NULL};
    int k = 0;
    while (opts[k] && strcmp(a, opts[k]))
        k++;
    if (!opts[k])
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "mtrl %s: %s needs a value\n", cmd, a);
        return -1;
    }
    const char *s = argv[++*i];
    double v;
    render_camera *c = &o->camera;
    switch (k) {
    case 0:
        if (strlen(s) >= sizeof c->name) {
            fprintf(stderr, "mtrl %s: --camera name too long: '%s'\n", cmd, s);
            return -1;
        }
        snprintf(c->name, sizeof c->name, "%s", s);
        return 1;
    case 1:
        if (cli_parse_double(cmd, a, s, -360, 360, &c->azimuth))
            return -1;
        break;
    case 2:
        if (cli_parse_double(cmd, a, s, -90, 90, &c->elevation))
            return -1;
        break;
    case 3:
        if (cli_parse_double(cmd, a, s, 0.01, 100, &c->distance))
            return -1;
        break;
    case 4: {
        double x, y, z;
        char tail;
        if (sscanf(s, "%lf,%lf,%lf%c", &x, &y, &z, &tail) != 3) {
            fprintf(stderr, "mtrl %s: --lookat needs x,y,z (metres), not '%s'\n", cmd, s);
            return -1;
        }
        c->lookat[0] = x, c->lookat[1] = y, c->lookat[2] = z;
        break;
    }
    case 5:
    case 6:
        if (cli_parse_double(cmd, a, s, 16, 8192, &v))
            return -1;
        if (v != (int)v) {
            fprintf(stderr, "mtrl %s: %s needs a whole number of pixels, not '%s'\n", cmd, a, s);
            return -1;
        }
        *(k == 5 ? &o->width : &o->height) = (int)v;
        return 1;
    case 7:
        if (cli_parse_double(cmd, a, s, 0.1, 1000, &o->fps))
            return -1;
        return 1;
    }
    c->name[0] = '\0'; /* a free-camera option chooses the free camera */
    return 1;
}
