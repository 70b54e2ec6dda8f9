/* Shared by the fuzz targets: the loaders read files, so each input goes to
 * a file in a private temporary directory first (HDF5 cannot open memory
 * without its core driver, which would bypass the h5io code under test).
 * Built by `make fuzz` with clang and libFuzzer; with FUZZ_NO_MAIN defined
 * the same entry points are replayed by tests/test_cli_fuzz_regress.c. */
#ifndef MTRL_FUZZ_COMMON_H
#define MTRL_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

/* The private directory, created on first use (kept for the process's life). */
static inline const char *fuzz_dir(void)
{
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/mtrl-fuzz-XXXXXX");
        if (!mkdtemp(dir))
            abort();
    }
    return dir;
}

/* Writes data to <fuzz_dir>/name; returns the path (static buffer per name slot). */
static inline const char *fuzz_file(const char *name, const uint8_t *data, size_t size)
{
    static char path[4][128];
    static int slot;
    char *p = path[slot++ & 3];
    snprintf(p, 128, "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(p, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size))
        abort();
    fclose(f);
    return p;
}

/* Every HDF5 file a loader opened must be closed again, whatever the input. */
static inline void fuzz_check_closed(void)
{
    if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_FILE) != 0) {
        fprintf(stderr, "an HDF5 file was left open\n");
        abort();
    }
}

/* libFuzzer's entry point for a target's fuzz_<name>_one; left out under
 * FUZZ_NO_MAIN, where the regression test calls the _one functions. */
#ifndef FUZZ_NO_MAIN
#define FUZZ_ENTRY(one)                                                        \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)               \
    {                                                                          \
        return one(data, size);                                                \
    }
#else
#define FUZZ_ENTRY(one)
#endif

#endif
