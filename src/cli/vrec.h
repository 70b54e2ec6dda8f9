/* vrec: the video of one env's episodes as the cli commands record them
 * (mtrl render, mtrl eval --video, eval.video_every, mtrl env-check
 * --video): frames with the step, reward and success drawn in, and a CSV
 * beside the video (frame, episode, step, reward, success). */
#ifndef MTRL_CLI_VREC_H
#define MTRL_CLI_VREC_H

#include <stdio.h>

#include "render/render.h"

typedef struct vrec_opts {
    render_camera camera;
    int width, height; /* default RENDER_DEFAULT_SIZE */
    double fps;        /* 0 = the env step rate */
} vrec_opts;

void vrec_opts_default(vrec_opts *o);
/* Parses the video options shared by the commands at argv[*i] (--camera,
 * --azimuth, --elevation, --distance, --lookat, --flip, --width, --height, --fps),
 * advancing *i past a value. 1: consumed, 0: not a video option, -1: bad
 * value (message printed, exit 2). */
int vrec_parse_arg(const char *cmd, int argc, char **argv, int *i, vrec_opts *o);
#define VREC_USAGE                                                                     \
    "  --camera NAME   a camera of the scene: corner, corner2, corner3, topview,\n"     \
    "                  behindGripper, gripperPOV (default: the free camera below)\n"     \
    "  --azimuth A --elevation E --distance D --lookat X,Y,Z\n"                        \
    "                  free camera (degrees, metres; default -140, -30, 1.75,\n"        \
    "                  0,0.5,0.05)\n"                                                  \
    "  --flip          turn the picture 180 degrees (Meta-World's corner views come\n"    \
    "                  out upside down otherwise)\n"                                    \
    "  --width W --height H  image size (default 480 x 480, at most 1280 x 1280)\n"     \
    "  --fps F         video frame rate (default: the env step rate, 80)\n"

typedef struct vrec {
    const env_sawyer *env;
    render_view *view;
    render_video *video;
    FILE *csv;
    uint8_t *rgb;
    long frame;
    char csv_path[4200], csv_tmp[4300];
} vrec;

/* Opens the video at path (.mp4, or .gif) and path's stem + ".csv". A GIF
 * fallback is said on stderr. */
int vrec_open(vrec *r, render_gl *gl, const env_sawyer *e, const vrec_opts *o, const char *path,
              mtrl_err *err);
/* One frame of the env's current state; step 0 is the state after reset
 * (reward and success then mean nothing and are written as 0). */
int vrec_frame(vrec *r, int episode, int step, double reward, int success, mtrl_err *err);
/* Finishes both files (atomically renamed into place); frees r's memory. */
int vrec_close(vrec *r, mtrl_err *err);
void vrec_abort(vrec *r);

#endif
