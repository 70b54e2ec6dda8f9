/* combine_input: reads and checks the input file of `mtrl combine` (the K x P
 * gradient matrix, and the per-task losses and representation Gram where the
 * method needs them). Kept apart from the command so the fuzz target
 * (tests/fuzz/fuzz_combine.c) drives exactly what the command runs. */
#ifndef MTRL_CLI_COMBINE_INPUT_H
#define MTRL_CLI_COMBINE_INPUT_H

#include "core/err.h"

typedef struct combine_input {
    int K;
    long P;
    float *G;        /* K x P, row-major */
    float *losses;   /* K, or NULL */
    float *rep_gram; /* K x K, or NULL */
} combine_input;

/* Reads dataset dset (K x P, K, P >= 1) of path, and 'losses' (K, >= 0
 * entries, required when want_losses) and 'rep_gram' (K x K, optional, read
 * when want_rep). Every value must be finite; an error names the dataset
 * and its shape. MTRL_EINPUT for anything wrong with the file. */
int combine_input_read(const char *path, const char *dset, int want_losses, int want_rep,
                       combine_input *out, mtrl_err *e);
void combine_input_free(combine_input *in);

#endif
