/* The two mtl entry points with the arguments most tests give: all k rows
 * of G (no task map, no given Gram), and the caller-formed CAGrad-Fast rows
 * without their Gram. Tests only. */
#ifndef MTRL_TESTS_MTL_CALL_H
#define MTRL_TESTS_MTL_CALL_H

#include "mtl/mtl.h"

static inline int combine_rows(mtl_combiner *c, int k, const float *G, const float *losses,
                               float *d, mtl_stats *st, mtrl_err *e)
{
    mtl_input in = {.k = k, .G = G, .losses = losses};
    return mtl_combine_in(c, &in, d, st, e);
}

static inline int combine_fast(mtl_combiner *c, const float *R, float *d, mtl_stats *st,
                               mtrl_err *e)
{
    return mtl_combine_fast_gram(c, R, NULL, NULL, NULL, d, st, e);
}

#endif
