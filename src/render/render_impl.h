/* render internals shared by the module's files (not for other modules). */
#ifndef MTRL_RENDER_IMPL_H
#define MTRL_RENDER_IMPL_H

#include <stdio.h>

#include "render/render.h"

/* GIF89a writer: a fixed 6x6x6 colour cube plus greys, LZW-coded frames. */
typedef struct render_gif render_gif;
int render_gif_open(render_gif **g, FILE *f, int width, int height, double fps, mtrl_err *err);
int render_gif_frame(render_gif *g, const uint8_t *rgb, mtrl_err *err);
/* Writes the trailer; frees g (not the FILE). */
int render_gif_close(render_gif *g, mtrl_err *err);
void render_gif_free(render_gif *g);

/* H.264 MP4 through libavformat/libavcodec/libx264, all loaded with dlopen. */
typedef struct render_mp4 render_mp4;
int render_mp4_open(render_mp4 **v, const char *path, int width, int height, double fps,
                    mtrl_err *err);
int render_mp4_frame(render_mp4 *v, const uint8_t *rgb, mtrl_err *err);
int render_mp4_close(render_mp4 *v, mtrl_err *err);
void render_mp4_free(render_mp4 *v);

#endif
