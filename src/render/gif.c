/* Animated GIF89a writer of our own: the fallback when no MP4 encoder loads.
 * One global palette (a 6x6x6 colour cube plus a 40-step grey ramp: renders
 * of grey tables and floors keep their shading), LZW with variable code
 * size 9..12 and a clear code when the table is full, looping forever. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "render/render_impl.h"

#define HASH_SIZE 8191 /* prime, > 4096 codes */
#define CLEAR 256
#define EOI 257

struct render_gif {
    FILE *f;
    int width, height, delay_cs;
    uint8_t *idx; /* palette indices of one frame */
    uint8_t palette[256][3];
    /* LZW state */
    int32_t hkey[HASH_SIZE];
    uint16_t hval[HASH_SIZE];
    int size, next;
    uint32_t bits;
    int nbits;
    uint8_t block[256];
    int nblock;
};

static void put16(FILE *f, int v)
{
    fputc(v & 0xff, f);
    fputc((v >> 8) & 0xff, f);
}

static void flush_block(render_gif *g)
{
    if (!g->nblock)
        return;
    fputc(g->nblock, g->f);
    fwrite(g->block, 1, (size_t)g->nblock, g->f);
    g->nblock = 0;
}

static void emit(render_gif *g, int code)
{
    g->bits |= (uint32_t)code << g->nbits;
    g->nbits += g->size;
    while (g->nbits >= 8) {
        g->block[g->nblock++] = (uint8_t)(g->bits & 0xff);
        g->bits >>= 8;
        g->nbits -= 8;
        if (g->nblock == 255)
            flush_block(g);
    }
}

static void dict_reset(render_gif *g)
{
    memset(g->hkey, 0xff, sizeof g->hkey);
    g->size = 9;
    g->next = EOI + 1;
}

/* The decoder reads code j with the width it has after adding the entry of
 * code j-1; the encoder has added one entry fewer at that point, hence ">". */
static void emit_sized(render_gif *g, int code)
{
    if (g->next > (1 << g->size) && g->size < 12)
        g->size++;
    emit(g, code);
}

static void lzw_frame(render_gif *g)
{
    fputc(8, g->f); /* minimum code size */
    g->bits = 0, g->nbits = 0, g->nblock = 0;
    dict_reset(g);
    emit(g, CLEAR);
    size_t n = (size_t)g->width * g->height;
    int prefix = g->idx[0];
    for (size_t i = 1; i < n; i++) {
        int c = g->idx[i];
        int32_t key = (prefix << 8) | c;
        uint32_t h = ((uint32_t)key * 2654435761u) % HASH_SIZE;
        while (g->hkey[h] != -1 && g->hkey[h] != key)
            h = (h + 1) % HASH_SIZE;
        if (g->hkey[h] == key) {
            prefix = g->hval[h];
            continue;
        }
        emit_sized(g, prefix);
        if (g->next < 4096) {
            g->hkey[h] = key;
            g->hval[h] = (uint16_t)g->next++;
        } else {
            emit_sized(g, CLEAR);
            dict_reset(g);
        }
        prefix = c;
    }
    emit_sized(g, prefix);
    g->next++; /* the entry the decoder adds on reading that last code */
    emit_sized(g, EOI);
    if (g->nbits > 0) {
        g->block[g->nblock++] = (uint8_t)(g->bits & 0xff);
        g->nbits = 0;
    }
    flush_block(g);
    fputc(0, g->f); /* block terminator */
}

static uint8_t quantize(const uint8_t *p)
{
    int r = p[0], gg = p[1], b = p[2];
    int ri = (r + 25) / 51, gi = (gg + 25) / 51, bi = (b + 25) / 51;
    int cube = ri * 36 + gi * 6 + bi;
    int dr = r - ri * 51, dg = gg - gi * 51, db = b - bi * 51;
    int d_cube = dr * dr + dg * dg + db * db;
    int y = (r + gg + b) / 3;
    int gidx = (y * 39 + 127) / 255; /* grey k = k * 255 / 39 */
    int gv = gidx * 255 / 39;
    int d_grey = (r - gv) * (r - gv) + (gg - gv) * (gg - gv) + (b - gv) * (b - gv);
    return (uint8_t)(d_grey < d_cube ? 216 + gidx : cube);
}

int render_gif_open(render_gif **out, FILE *f, int width, int height, double fps, mtrl_err *err)
{
    *out = NULL;
    if (width < 1 || height < 1 || width > 65535 || height > 65535)
        return err_set(err, MTRL_EINPUT, "GIF size %dx%d out of range", width, height);
    render_gif *g = calloc(1, sizeof *g);
    if (!g || !(g->idx = malloc((size_t)width * height))) {
        free(g);
        return err_set(err, MTRL_ENOMEM, "out of memory");
    }
    g->f = f;
    g->width = width;
    g->height = height;
    /* GIF delays are centiseconds and viewers treat < 2 as 10: at most 50 fps. */
    int d = (int)lround(100.0 / (fps > 0 ? fps : 25));
    g->delay_cs = d < 2 ? 2 : d;
    for (int i = 0; i < 216; i++) {
        g->palette[i][0] = (uint8_t)(i / 36 * 51);
        g->palette[i][1] = (uint8_t)(i / 6 % 6 * 51);
        g->palette[i][2] = (uint8_t)(i % 6 * 51);
    }
    for (int k = 0; k < 40; k++)
        g->palette[216 + k][0] = g->palette[216 + k][1] = g->palette[216 + k][2] =
            (uint8_t)(k * 255 / 39);
    fwrite("GIF89a", 1, 6, f);
    put16(f, width);
    put16(f, height);
    fputc(0xF7, f); /* global colour table of 256 entries, 8 bits per primary */
    fputc(0, f);
    fputc(0, f);
    fwrite(g->palette, 1, sizeof g->palette, f);
    /* NETSCAPE2.0 application extension: loop forever */
    static const uint8_t loop[19] = {0x21, 0xFF, 0x0B, 'N', 'E', 'T', 'S', 'C', 'A', 'P',
                                     'E',  '2',  '.',  '0', 0x03, 0x01, 0x00, 0x00, 0x00};
    fwrite(loop, 1, sizeof loop, f);
    *out = g;
    return 0;
}

int render_gif_frame(render_gif *g, const uint8_t *rgb, mtrl_err *err)
{
    size_t n = (size_t)g->width * g->height;
    for (size_t i = 0; i < n; i++)
        g->idx[i] = quantize(rgb + 3 * i);
    static const uint8_t gce_head[4] = {0x21, 0xF9, 0x04, 0x04}; /* dispose: leave in place */
    fwrite(gce_head, 1, 4, g->f);
    put16(g->f, g->delay_cs);
    fputc(0, g->f);
    fputc(0, g->f);
    fputc(0x2C, g->f);
    put16(g->f, 0);
    put16(g->f, 0);
    put16(g->f, g->width);
    put16(g->f, g->height);
    fputc(0, g->f);
    lzw_frame(g);
    if (ferror(g->f))
        return err_set(err, MTRL_EIO, "writing a GIF frame failed");
    return 0;
}

int render_gif_close(render_gif *g, mtrl_err *err)
{
    fputc(0x3B, g->f);
    int bad = ferror(g->f);
    render_gif_free(g);
    return bad ? err_set(err, MTRL_EIO, "writing the GIF trailer failed") : 0;
}

void render_gif_free(render_gif *g)
{
    if (!g)
        return;
    free(g->idx);
    free(g);
}
