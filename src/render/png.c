/* PNG writer of our own on zlib (deflate, crc32): 8-bit RGB, filter "Up" on
 * every row (rendered scenes compress far better than with no filter). */
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "core/fsutil.h"
#include "render/render_impl.h"

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* Appends one chunk (length, type, data, CRC over type and data). */
static size_t chunk(uint8_t *out, const char *type, const uint8_t *data, size_t len)
{
    put32(out, (uint32_t)len);
    memcpy(out + 4, type, 4);
    if (len)
        memcpy(out + 8, data, len);
    uLong crc = crc32(0L, out + 4, (uInt)(len + 4));
    put32(out + 8 + len, (uint32_t)crc);
    return len + 12;
}

int render_png_write(const char *path, const uint8_t *rgb, int width, int height, mtrl_err *err)
{
    if (width < 1 || height < 1)
        return err_set(err, MTRL_EINPUT, "%s: empty image %dx%d", path, width, height);
    size_t row = (size_t)width * 3, raw_len = (row + 1) * (size_t)height;
    uint8_t *raw = malloc(raw_len);
    uLongf z_len = compressBound((uLong)raw_len);
    uint8_t *file = malloc(z_len + 128);
    if (!raw || !file) {
        free(raw);
        free(file);
        return err_set(err, MTRL_ENOMEM, "out of memory writing %s", path);
    }
    for (int y = 0; y < height; y++) {
        uint8_t *dst = raw + (size_t)y * (row + 1);
        const uint8_t *cur = rgb + (size_t)y * row, *up = y ? cur - row : NULL;
        dst[0] = 2; /* Up */
        for (size_t i = 0; i < row; i++)
            dst[1 + i] = (uint8_t)(cur[i] - (up ? up[i] : 0));
    }
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(file, sig, 8);
    size_t n = 8;
    uint8_t ihdr[13];
    put32(ihdr, (uint32_t)width);
    put32(ihdr + 4, (uint32_t)height);
    ihdr[8] = 8, ihdr[9] = 2, ihdr[10] = 0, ihdr[11] = 0, ihdr[12] = 0; /* 8-bit RGB */
    n += chunk(file + n, "IHDR", ihdr, 13);
    /* IDAT: deflate straight into place after its 8-byte chunk header. */
    uint8_t *idat = file + n;
    int zrc = compress2(idat + 8, &z_len, raw, (uLong)raw_len, 9);
    free(raw);
    if (zrc != Z_OK) {
        free(file);
        return err_set(err, MTRL_ERUNTIME, "%s: zlib compress2 failed (%d)", path, zrc);
    }
    put32(idat, (uint32_t)z_len);
    memcpy(idat + 4, "IDAT", 4);
    put32(idat + 8 + z_len, (uint32_t)crc32(0L, idat + 4, (uInt)(z_len + 4)));
    n += z_len + 12;
    n += chunk(file + n, "IEND", NULL, 0);
    int rc = fs_write_atomic(path, file, n, err);
    free(file);
    return rc;
}
