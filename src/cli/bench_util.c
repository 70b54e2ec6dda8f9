#include "cli/bench.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/timer.h"
#include "nets/nets.h"

int bench_sgemm_init(bench_sgemm *s, int B, int H, rng_state *r, mtrl_err *e)
{
    memset(s, 0, sizeof *s);
    s->B = B;
    s->H = H;
    s->x = malloc(sizeof(float) * (size_t)B * (size_t)H);
    s->w = malloc(sizeof(float) * (size_t)H * (size_t)H);
    s->y = malloc(sizeof(float) * (size_t)B * (size_t)H);
    /* gw: H x H weight gradient, or B x H input gradient on the MLP route */
    s->gw = malloc(sizeof(float) * (size_t)(B > H ? B : H) * (size_t)H);
    if (!s->x || !s->w || !s->y || !s->gw) {
        bench_sgemm_free(s);
        return err_set(e, MTRL_ENOMEM, "out of memory for the %d x %d sgemm reference", B, H);
    }
    rng_normal_fill(r, s->x, (long)B * H);
    rng_normal_fill(r, s->w, (long)H * H);
    int dims[2] = {H, H}, rc;
    if ((rc = nn_mlp_create(&s->mlp, 1, dims, B, e)) ||
        (rc = nn_params_create(&s->p, nn_mlp_nparams(s->mlp), e)) ||
        (rc = nn_mlp_bind(s->mlp, s->p, 0, e))) {
        bench_sgemm_free(s);
        return rc;
    }
    memcpy(nn_mlp_weight(s->mlp, 0), s->w, sizeof(float) * (size_t)H * (size_t)H);
    return 0;
}

void bench_sgemm_free(bench_sgemm *s)
{
    free(s->x), free(s->w), free(s->y), free(s->gw);
    nn_mlp_destroy(s->mlp);
    nn_params_destroy(s->p);
    memset(s, 0, sizeof *s);
}

double bench_sgemm_round(bench_sgemm *s)
{
    int B = s->B, H = s->H;
    double t0 = tm_now();
    if (nn_threads() > 0) {
        mtrl_err e;
        /* y as the backprop signal: its values do not matter for the time. */
        if (nn_mlp_forward(s->mlp, B, s->x, &e) == 0 &&
            nn_mlp_backward(s->mlp, s->y, &(nn_bwd){.grad = s->p->g, .dx = s->gw}, &e) == 0)
            return tm_now() - t0;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, H, H, 1.0f, s->x, H, s->w, H, 0.0f,
                s->y, H);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, H, B, 1.0f, s->x, H, s->y, H, 0.0f,
                s->gw, H);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, H, H, 1.0f, s->x, H, s->w, H, 0.0f,
                s->y, H);
    return tm_now() - t0;
}

double bench_sgemm_flops(const bench_sgemm *s) { return 3 * 2.0 * s->B * (double)s->H * s->H; }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* OpenBLAS's kernel sets that use AVX-512. */
static int avx512_kernels(const char *core)
{
    return !strcasecmp(core, "SkylakeX") || !strcasecmp(core, "Cooperlake") ||
           !strcasecmp(core, "SapphireRapids");
}

void bench_print_blas_note(void)
{
    const char *forced = getenv("OPENBLAS_CORETYPE");
    if (!forced || avx512_kernels(openblas_get_corename()))
        return;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512dq") || !__builtin_cpu_supports("avx512vl"))
        return;
    printf("note: OPENBLAS_CORETYPE=%s makes OpenBLAS run its %s kernels on a CPU with AVX-512; "
           "where this OpenBLAS is known to work on the CPU, its own choice (OPENBLAS_CORETYPE "
           "unset) may run sgemm up to twice as fast, and shifts every ratio to the mean\n",
           forced, openblas_get_corename());
#endif
}
