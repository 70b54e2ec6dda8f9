/* rng: the project's only source of randomness.
 * xoshiro256** (Blackman & Vigna), seeded through splitmix64 from a
 * (seed, stream) pair, so every component (each env, each worker, the agent,
 * the replay sampler, the optimizer) draws from its own independent stream and
 * a run is reproducible from one seed on every machine. The whole state is a
 * plain struct: copy it to save it in a checkpoint. */
#ifndef MTRL_CORE_RNG_H
#define MTRL_CORE_RNG_H

#include <stdint.h>

typedef struct rng_state {
    uint64_t s[4];
    double cached_normal; /* second Box-Muller value, valid if has_cached */
    int has_cached;
} rng_state;

/* Well-known stream ids, so components never share a stream by accident.
 * Per-env streams use RNG_STREAM_ENV + env index. */
enum {
    RNG_STREAM_AGENT = 1,
    RNG_STREAM_REPLAY = 2,
    RNG_STREAM_MTL = 3,
    RNG_STREAM_INIT = 4,
    RNG_STREAM_GOALS = 5,
    RNG_STREAM_EVAL = 6,
    RNG_STREAM_REPORT = 7, /* bootstrap resamples of `mtrl report` */
    RNG_STREAM_ENV = 1000,
};

void rng_seed(rng_state *r, uint64_t seed, uint64_t stream);
uint64_t rng_next(rng_state *r);
/* Uniform in [0, 1) with 53 (double) or 24 (float) random bits. */
double rng_uniform(rng_state *r);
float rng_uniform_f(rng_state *r);
/* Uniform in [lo, hi). */
double rng_range(rng_state *r, double lo, double hi);
/* Uniform integer in [0, n), without modulo bias; n > 0. */
uint64_t rng_below(rng_state *r, uint64_t n);
/* Standard normal (Box-Muller). */
double rng_normal(rng_state *r);
/* Fills x[0..n) with standard normal floats. */
void rng_normal_fill(rng_state *r, float *x, long n);
/* In-place Fisher-Yates shuffle of idx[0..n). */
void rng_shuffle_int(rng_state *r, int *idx, int n);

#endif
