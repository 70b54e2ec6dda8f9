/* render: pictures of env scenes. An offscreen OpenGL context from Mesa
 * without a display (OSMesa, or EGL on the surfaceless platform), MuJoCo's
 * own renderer (mjv_/mjr_ of MuJoCo 2.2.2) drawing an env's current state
 * from a named camera of the scene or a free camera, and writers for what
 * comes out: H.264 MP4 through libavcodec/libavformat (GIF when that encoder
 * is missing at run time), PNG images.
 *
 * Depends on envs and core only; envs and the training code never include
 * it. Every GL and libav library is loaded with dlopen on first use, so a
 * program linked with this module needs none of them until it renders:
 * a training run that never renders never maps libGL/libOSMesa/libEGL.
 *
 * Environment variables:
 *   MTRL_GL=osmesa|egl   use only that context kind (default: OSMesa, then EGL)
 *   MTRL_RENDER_FAIL=1   every context creation fails (tests of the error path)
 *   MTRL_VIDEO=gif       skip the MP4 encoder (tests of the GIF fallback)
 *
 * Threads: a context is current on the thread that created it; create and
 * use views and frames on that one thread. */
#ifndef MTRL_RENDER_RENDER_H
#define MTRL_RENDER_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "envs/envs.h"

#define RENDER_DEFAULT_SIZE 480

/* ---- GL context ---- */

typedef struct render_gl render_gl;

/* Creates an offscreen GL context and makes it current on this thread.
 * MTRL_ERUNTIME with a message naming every kind tried and why it failed. */
int render_gl_create(render_gl **g, mtrl_err *err);
void render_gl_destroy(render_gl *g);
/* "OSMesa" or "EGL (surfaceless)". */
const char *render_gl_backend(const render_gl *g);

/* ---- cameras ---- */

typedef struct render_camera {
    char name[64];      /* a camera of the scene; "" = free camera below */
    double azimuth;     /* degrees, MuJoCo's convention */
    double elevation;   /* degrees, negative looks down */
    double distance;    /* metres from lookat */
    double lookat[3];
    /* 1: turn the picture 180 degrees about the view axis. Meta-World's
     * corner, corner2 and corner3 were set up for bottom-up frames and come
     * out upside down in a correct one (Meta-World's own renders do too:
     * Farama-Foundation/Metaworld issues #505, #516). */
    int flip;
} render_camera;

/* The free camera of the README's pictures: from in front of the table
 * (the robot faces it), to the right and above, the whole work space in view. */
void render_camera_default(render_camera *c);
/* The names of the cameras of e's scene, comma-separated, into buf. */
void render_camera_list(const env_sawyer *e, char *buf, size_t cap);

/* The env step rate: one env step is 5 physics steps of the scene's
 * timestep (80 Hz for the Sawyer scenes), the default video frame rate. */
double render_env_fps(const env_sawyer *e);

/* ---- views: one env drawn from one camera at one size ---- */

typedef struct render_view render_view;

/* MTRL_EINPUT if the camera name is not in the scene (the message names the
 * camera, the task and the scene's cameras) or if width x height exceeds the
 * scene's offscreen buffer (<visual><global offwidth offheight>). */
int render_view_create(render_view **v, render_gl *g, const env_sawyer *e,
                       const render_camera *cam, int width, int height, mtrl_err *err);
void render_view_destroy(render_view *v);
/* Draws the env's current state into rgb (width * height * 3 bytes, rows
 * top to bottom). Text, if not NULL, is drawn in the top left (lines
 * separated by '\n'). */
int render_view_frame(render_view *v, const char *text, uint8_t *rgb, mtrl_err *err);

/* ---- images ---- */

/* An 8-bit RGB PNG (zlib deflate), written to a temporary file and renamed. */
int render_png_write(const char *path, const uint8_t *rgb, int width, int height, mtrl_err *err);

/* ---- videos ---- */

typedef struct render_video render_video;

/* Opens a video of width x height at fps frames per second. A path ending in
 * .mp4 is H.264 (libx264 through libavcodec/libavformat, loaded at run time);
 * if that encoder cannot be loaded, the video is an animated GIF at the same
 * path with .gif instead of .mp4, and *note says so (note may be NULL; it
 * is set to "" otherwise). A path ending in .gif is always a GIF. The file
 * appears at its path only when render_video_close succeeds. */
int render_video_open(render_video **v, const char *path, int width, int height, double fps,
                      char *note, size_t note_cap, mtrl_err *err);
int render_video_frame(render_video *v, const uint8_t *rgb, mtrl_err *err);
/* Finishes the file; frees v in every case. */
int render_video_close(render_video *v, mtrl_err *err);
/* Drops an unfinished video (its temporary file is removed). */
void render_video_abort(render_video *v);
/* The path the video will have (may differ from the one asked: .gif). */
const char *render_video_path(const render_video *v);
long render_video_frames(const render_video *v);

/* Whether the MP4 encoder (libavcodec with libx264) loads here; *why gets
 * the reason when not. */
int render_mp4_available(char *why, size_t cap);

#endif
