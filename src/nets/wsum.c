/* nn_rows_wsum: d = G^T w on the MLPs' threads (see nets.h). */
#include "nets.h"
#include "pool.h"

#include <cblas.h>
#include <stdatomic.h>

/* Columns per task. A multiple of 64, so that every chunk but the last
 * ends on a boundary of sgemv's vector loop and the last ends where the
 * whole product's does: each d[i] goes through the same kernel path as in
 * one sgemv over all n. 4096 floats: 16 KiB of d per task, in L1 while the
 * K row pieces stream past, and enough tasks (P / 4096, ~250 for MT50's
 * critic) that a thread held up by another process delays little. */
enum { WSUM_CHUNK = 4096 };

typedef struct wsum_job {
    int K;
    long n;
    const float *G, *w;
    float *d;
    long chunks;
    atomic_long next;
} wsum_job;

static void wsum_worker(void *arg)
{
    wsum_job *j = arg;
    for (;;) {
        long c = atomic_fetch_add(&j->next, 1);
        if (c >= j->chunks)
            break;
        long c0 = c * WSUM_CHUNK;
        long len = j->n - c0 < WSUM_CHUNK ? j->n - c0 : WSUM_CHUNK;
        cblas_sgemv(CblasRowMajor, CblasTrans, j->K, (int)len, 1.0f, j->G + c0, (int)j->n,
                    j->w, 1, 0.0f, j->d + c0, 1);
    }
}

void nn_rows_wsum(int K, long n, const float *G, const float *w, float *d)
{
    nn_pool *pool = n >= 2 * WSUM_CHUNK ? nn_pool_acquire(nn_threads()) : NULL;
    if (!pool) {
        cblas_sgemv(CblasRowMajor, CblasTrans, K, (int)n, 1.0f, G, (int)n, w, 1, 0.0f, d, 1);
        return;
    }
    wsum_job j = {.K = K, .n = n, .G = G, .w = w, .d = d,
                  .chunks = (n + WSUM_CHUNK - 1) / WSUM_CHUNK};
    atomic_init(&j.next, 0);
    nn_pool_run_blas1(pool, wsum_worker, &j);
}
