/* Fuzz target: the input reader of `mtrl combine` (combine_input_read: G,
 * losses, rep_gram), then one combine of what it accepted, as the command
 * does. Input: the HDF5 file's bytes. */
#include "fuzz_common.h"

#include "cli/combine_input.h"
#include "mtl/mtl.h"

int fuzz_combine_one(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("G.h5", data, size);
    for (int want = 0; want < 2; want++) {
        combine_input in;
        mtrl_err e = {0};
        if (combine_input_read(path, "G", want, want, &in, &e) != 0)
            continue;
        if (in.K < 1 || in.P < 1 || !in.G || (want && !in.losses))
            abort(); /* accepted input must be what the header promises */
        mtl_options o;
        mtl_options_default(&o, want ? MTL_ALIGNED_MTL_UB : MTL_MEAN);
        mtl_combiner *c = NULL;
        float *d = malloc(sizeof(float) * (size_t)in.P);
        if (d && (long)in.K * in.P <= (1L << 22) && mtl_create(&c, in.K, in.P, &o, &e) == 0) {
            mtl_input mi = {.k = in.K, .G = in.G, .losses = in.losses, .rep_gram = in.rep_gram};
            mtl_stats st;
            mtl_combine_in(c, &mi, d, &st, &e);
        }
        mtl_destroy(c);
        free(d);
        combine_input_free(&in);
    }
    fuzz_check_closed();
    return 0;
}

FUZZ_ENTRY(fuzz_combine_one)
