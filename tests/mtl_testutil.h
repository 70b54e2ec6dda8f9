/* Helpers shared by the mtl method tests: the weights a combiner gives the
 * K rows of a G. */
#ifndef MTRL_TESTS_MTL_TESTUTIL_H
#define MTRL_TESTS_MTL_TESTUTIL_H

#include "testutil.h"
#include "mtl_call.h"

#include "mtl/mtl.h"

/* The weights (st->w) with which a combiner of options o combines the K
 * rows of G (K x P float); they must be finite. */
static inline void weights_o(const mtl_options *o, int K, long P, const float *G, double *w,
                             mtl_stats *st)
{
    mtl_combiner *c = NULL;
    mtrl_err e;
    assert_int_equal(mtl_create(&c, K, P, o, &e), 0);
    float *d = malloc(sizeof(float) * P);
    assert_int_equal(combine_rows(c, K, G, NULL, d, st, &e), 0);
    assert_int_equal(st->nonfinite, 0);
    for (int k = 0; k < K; k++)
        w[k] = st->w[k];
    mtl_destroy(c);
    free(d);
}

/* The same with method m's default options. */
static inline void weights(mtl_method m, int K, long P, const float *G, double *w, mtl_stats *st)
{
    mtl_options o;
    mtl_options_default(&o, m);
    weights_o(&o, K, P, G, w, st);
}

#endif
