#include "cli/eval_video.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/fsutil.h"

static int ev_end(void *ctx, int ok, mtrl_err *e)
{
    eval_video *ev = ctx;
    int rc = 0;
    for (int k = 0; k < ev->K; k++) {
        if (ok && !rc)
            rc = vrec_close(&ev->rec[k], e);
        else
            vrec_abort(&ev->rec[k]);
    }
    ev->K = 0;
    return rc;
}

static int ev_begin(void *ctx, int64_t iter, int K, env_sawyer *const *envs, mtrl_err *e)
{
    eval_video *ev = ctx;
    char dir[4200];
    if (iter >= 0)
        snprintf(dir, sizeof dir, "%s/iter-%" PRId64, ev->dir, iter);
    else
        snprintf(dir, sizeof dir, "%s", ev->dir);
    int rc = fs_mkdirs(dir, e);
    if (rc)
        return rc;
    ev->K = 0;
    for (int k = 0; k < K; k++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s.mp4", dir, env_task_name(env_task_index(envs[k])));
        if ((rc = vrec_open(&ev->rec[k], ev->gl, envs[k], &ev->vo, path, e))) {
            ev_end(ev, 0, NULL);
            return rc;
        }
        ev->K = k + 1;
    }
    return 0;
}

static int ev_step(void *ctx, int k, int episode, int step, const env_info *info, mtrl_err *e)
{
    eval_video *ev = ctx;
    return vrec_frame(&ev->rec[k], episode, step, info ? info->reward : 0,
                      info ? info->success : 0, e);
}

int eval_video_init(eval_video *ev, const char *dir, const vrec_opts *vo, mtrl_err *e)
{
    memset(ev, 0, sizeof *ev);
    snprintf(ev->dir, sizeof ev->dir, "%s", dir);
    ev->vo = *vo;
    ev->obs = (eval_observer){ev, ev_begin, ev_step, ev_end};
    return render_gl_create(&ev->gl, e);
}

void eval_video_free(eval_video *ev)
{
    ev_end(ev, 0, NULL);
    render_gl_destroy(ev->gl);
    ev->gl = NULL;
}
