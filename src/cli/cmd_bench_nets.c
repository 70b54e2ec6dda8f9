/* mtrl bench nets: forward+backward of the default critic (twin Q, input
 * obs 39 + one-hot 10 + action 4) and actor at batch 1280, with the
 * parameter gradient summed and per task (K = 10, 50), next to the sgemm
 * throughput of this machine measured in the same run on the same shapes.
 * Cases are interleaved round by round so that load from other processes
 * hits all of them alike; medians are reported. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli/bench.h"
#include "core/rng.h"
#include "core/timer.h"
#include "nets/nets.h"

enum { OBS = 39 + 10, ACT = 4, HIDDEN = 400, N_MODES = 3 };
static const int mode_k[N_MODES] = {1, 10, 50};

typedef struct bnet {
    const char *name;
    int n_mlp;
    nn_mlp *m[2];
    nn_params *p;
    double flops; /* one forward+backward of all its MLPs (with parameter gradient) */
} bnet;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mtrl bench nets [--quick] [--rounds N] [--batch B] [--threads N]\n\n"
            "Times forward+backward of the default twin critic (53 -> 400 -> 400 -> 400 -> 1, x2)\n"
            "and actor (49 -> 400 -> 400 -> 400 -> 8) with the parameter gradient summed over\n"
            "the batch and per task (K = 10 and K = 50 groups, one gradient row each), and\n"
            "this machine's sgemm GFLOP/s on the same 400-wide shapes in the same run.\n"
            "Targets: per-task <= 1.3x summed; critic >= 50%% of sgemm GFLOP/s.\n\n"
            "  --quick       5 rounds (for make bench)\n"
            "  --rounds N    rounds of every case (default 30); medians are reported\n"
            "  --batch B     rows per pass (default 1280)\n"
            "  --threads N   OpenBLAS threads (default: OpenBLAS's own choice)\n"
            "  -h, --help    this help\n");
}

static double mlp_flops(int n_layers, const int *dims, int B)
{
    double f = 0;
    for (int l = 0; l < n_layers; l++) {
        double mm = 2.0 * B * dims[l] * dims[l + 1];
        f += mm + mm + (l > 0 ? mm : 0); /* forward, weight gradient, signal to layer input */
    }
    return f;
}

static int make_net(bnet *n, const char *name, int n_mlp, const int *dims, int B, rng_state *r,
                    mtrl_err *e)
{
    memset(n, 0, sizeof *n);
    n->name = name;
    n->n_mlp = n_mlp;
    int rc;
    for (int t = 0; t < n_mlp; t++)
        if ((rc = nn_mlp_create(&n->m[t], 4, dims, B, e)))
            return rc;
    long P1 = nn_mlp_nparams(n->m[0]);
    if ((rc = nn_params_create(&n->p, n_mlp * P1, e)))
        return rc;
    for (int t = 0; t < n_mlp; t++) {
        if ((rc = nn_mlp_bind(n->m[t], n->p, t * P1, e)))
            return rc;
        nn_mlp_init(n->m[t], NN_INIT_XAVIER, r);
    }
    n->flops = n_mlp * mlp_flops(4, dims, B);
    return 0;
}

static void free_net(bnet *n)
{
    for (int t = 0; t < n->n_mlp; t++)
        nn_mlp_destroy(n->m[t]);
    nn_params_destroy(n->p);
}

/* One forward+backward of every MLP of n; gradient summed (K = 1, into p->g)
 * or per group into G. */
static int pass(bnet *n, int B, int n_in, const nn_in *in, const float *dy, float *G, int K,
                const int *off, mtrl_err *e)
{
    for (int t = 0; t < n->n_mlp; t++) {
        int rc = nn_mlp_forward_in(n->m[t], B, n_in, in, e);
        if (!rc)
            rc = nn_mlp_backward(n->m[t], dy,
                                 K == 1 ? &(nn_bwd){.grad = n->p->g}
                                        : &(nn_bwd){.grad = G, .ld_grad = n->p->n, .n_groups = K,
                                                    .group_off = off},
                                 e);
        if (rc)
            return rc;
    }
    return 0;
}

/* 0 ok, 2 bad usage (message printed), -1 --help printed. */
static int parse_args(int argc, char **argv, int *rounds, int *B, int *threads)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(a, "--quick")) {
            *rounds = 5;
        } else if (!strcmp(a, "--rounds") || !strcmp(a, "--batch") || !strcmp(a, "--threads")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "mtrl bench nets: %s needs a value\n", a);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--rounds"))
                rc = cli_parse_int("bench nets", a, v, 1, 100000, rounds);
            else if (!strcmp(a, "--batch"))
                rc = cli_parse_int("bench nets", a, v, 50, 1 << 20, B);
            else
                rc = cli_parse_int("bench nets", a, v, 1, 1024, threads);
        } else {
            fprintf(stderr, "mtrl bench nets: unknown argument '%s' (mtrl bench nets --help)\n", a);
            return 2;
        }
        if (rc)
            return rc;
    }
    return 0;
}

/* The medians of each net and mode against the sgemm rate, and the targets. */
static void print_table(const bnet *nets, double *times, int rounds, const bench_sgemm *sg, int B)
{
    double sgemm_gflops =
        bench_sgemm_flops(sg) / bench_median(times + 2 * N_MODES * rounds, rounds) * 1e-9;
    printf("sgemm %dx%dx%d (NT + TN + NN): %.1f GFLOP/s (median)\n\n", B, HIDDEN, HIDDEN,
           sgemm_gflops);
    printf("%-7s %-16s %10s %10s %9s %7s %11s\n", "net", "gradient", "ms median", "ms min",
           "GFLOP/s", "%sgemm", "vs summed");
    double ratio_worst = 0, critic_pct = 0;
    for (int ni = 0; ni < 2; ni++) {
        double base = 0;
        for (int mi = 0; mi < N_MODES; mi++) {
            double *t = times + (ni * N_MODES + mi) * rounds;
            double med = bench_median(t, rounds), mn = t[0]; /* sorted by bench_median() */
            double gf = nets[ni].flops / med * 1e-9;
            char label[32];
            if (mi == 0)
                snprintf(label, sizeof label, "summed");
            else
                snprintf(label, sizeof label, "per-task K=%d", mode_k[mi]);
            if (mi == 0) {
                base = med;
                if (ni == 0)
                    critic_pct = 100 * gf / sgemm_gflops;
                printf("%-7s %-16s %10.2f %10.2f %9.1f %6.0f%% %11s\n", nets[ni].name, label,
                       med * 1e3, mn * 1e3, gf, 100 * gf / sgemm_gflops, "-");
            } else {
                double ratio = med / base;
                if (ratio > ratio_worst)
                    ratio_worst = ratio;
                printf("%-7s %-16s %10.2f %10.2f %9.1f %6.0f%% %10.2fx\n", nets[ni].name, label,
                       med * 1e3, mn * 1e3, gf, 100 * gf / sgemm_gflops, ratio);
            }
        }
    }
    printf("\ntargets: per-task <= 1.3x summed: worst %.2fx (%s); critic >= 50%% of sgemm: "
           "%.0f%% (%s)\n",
           ratio_worst, ratio_worst <= 1.3 ? "met" : "NOT met", critic_pct,
           critic_pct >= 50 ? "met" : "NOT met");
}

/* Times every net x mode per round, then the sgemm reference; round -1
 * warms up (page faults of G, OpenBLAS buffers) and is not counted.
 * times[(net * N_MODES + mode) * rounds + round], the sgemm's after them. */
static int time_rounds(bnet *nets, const nn_in *critic_in, const nn_in *actor_in, const float *dy, float *G,
                       int *off, int B, int rounds, bench_sgemm *sg, double *times, mtrl_err *e)
{
    for (int round = -1; round < rounds; round++) {
        for (int ni = 0; ni < 2; ni++) {
            for (int mi = 0; mi < N_MODES; mi++) {
                int K = mode_k[mi];
                for (int k = 0; k <= K; k++)
                    off[k] = (int)((long)k * B / K);
                double t0 = tm_now();
                if (pass(&nets[ni], B, ni == 0 ? 2 : 1, ni == 0 ? critic_in : actor_in, dy, G, K, off, e))
                    return -1;
                double dt = tm_now() - t0;
                if (round >= 0)
                    times[(ni * N_MODES + mi) * rounds + round] = dt;
            }
        }
        double dt = bench_sgemm_round(sg);
        if (round >= 0)
            times[2 * N_MODES * rounds + round] = dt;
    }
    return 0;
}

int cmd_bench_nets(int argc, char **argv)
{
    int rounds = 30, B = 1280, threads = 0;
    int rc = parse_args(argc, argv, &rounds, &B, &threads);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (threads)
        openblas_set_num_threads(threads);

    mtrl_err e = {0};
    int ret = 1;
    rng_state r;
    rng_seed(&r, 1, RNG_STREAM_INIT);
    bnet nets[2];
    memset(nets, 0, sizeof nets);
    const int critic_dims[] = {OBS + ACT, HIDDEN, HIDDEN, HIDDEN, 1};
    const int actor_dims[] = {OBS, HIDDEN, HIDDEN, HIDDEN, 2 * ACT};
    float *obs = malloc(sizeof(float) * (size_t)B * OBS);
    float *act = malloc(sizeof(float) * (size_t)B * ACT);
    float *dy = malloc(sizeof(float) * (size_t)B * 2 * ACT);
    int *off = malloc(sizeof(int) * (size_t)(mode_k[N_MODES - 1] + 1));
    /* sgemm reference: the 400-wide shapes of the hidden layers. */
    bench_sgemm sg;
    memset(&sg, 0, sizeof sg);
    float *G = NULL;
    double *times = malloc(sizeof(double) * (size_t)rounds * (2 * N_MODES + 1));
    if (!obs || !act || !dy || !off || !times) {
        fprintf(stderr, "mtrl bench nets: out of memory\n");
        goto out;
    }
    if (make_net(&nets[0], "critic", 2, critic_dims, B, &r, &e) ||
        make_net(&nets[1], "actor", 1, actor_dims, B, &r, &e) ||
        bench_sgemm_init(&sg, B, HIDDEN, &r, &e)) {
        fprintf(stderr, "mtrl bench nets: %s\n", e.msg);
        goto out;
    }
    long gmax = nets[0].p->n > nets[1].p->n ? nets[0].p->n : nets[1].p->n;
    G = malloc(sizeof(float) * (size_t)gmax * (size_t)mode_k[N_MODES - 1]);
    if (!G) {
        fprintf(stderr, "mtrl bench nets: out of memory for the %d x %ld gradient matrix\n",
                mode_k[N_MODES - 1], gmax);
        goto out;
    }
    rng_normal_fill(&r, obs, (long)B * OBS);
    rng_normal_fill(&r, act, (long)B * ACT);
    rng_normal_fill(&r, dy, (long)B * 2 * ACT);
    memset(G, 0, sizeof(float) * (size_t)gmax * (size_t)mode_k[N_MODES - 1]);
    nn_in critic_in[2] = {{obs, OBS, 0}, {act, ACT, 0}}, actor_in[1] = {{obs, OBS, 0}};

    printf("mtrl bench nets: batch %d, %d rounds, OpenBLAS threads %d (%s)\n", B, rounds,
           openblas_get_num_threads(), openblas_get_config());
    bench_print_blas_note();
    printf("critic: 2 x (53-400-400-400-1), %ld parameters; actor: 49-400-400-400-8, %ld "
           "parameters\n",
           nets[0].p->n, nets[1].p->n);

    if (time_rounds(nets, critic_in, actor_in, dy, G, off, B, rounds, &sg, times, &e)) {
        fprintf(stderr, "mtrl bench nets: %s\n", e.msg);
        goto out;
    }
    print_table(nets, times, rounds, &sg, B);
    ret = 0;
out:
    free_net(&nets[0]);
    free_net(&nets[1]);
    bench_sgemm_free(&sg);
    free(obs), free(act), free(dy), free(off), free(G), free(times);
    return ret;
}
