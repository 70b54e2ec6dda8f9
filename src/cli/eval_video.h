/* eval_video: an eval_observer that writes one video per task of an
 * evaluation (mtrl eval --video DIR, eval.video_every in training):
 * DIR/<task>.mp4 + .csv, or DIR/iter-<N>/<task>.mp4 during training. */
#ifndef MTRL_CLI_EVAL_VIDEO_H
#define MTRL_CLI_EVAL_VIDEO_H

#include "cli/train.h"
#include "cli/vrec.h"

typedef struct eval_video {
    render_gl *gl;
    char dir[4096];
    vrec_opts vo;
    int K;
    vrec rec[TRAIN_MAX_TASKS];
    eval_observer obs;
} eval_video;

/* Creates the GL context now (so a missing one fails before any work) and
 * fills ev->obs. Call on the thread that will evaluate. */
int eval_video_init(eval_video *ev, const char *dir, const vrec_opts *vo, mtrl_err *e);
void eval_video_free(eval_video *ev);

#endif
