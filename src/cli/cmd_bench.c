/* mtrl bench: one dispatcher for the benchmarks (nets, env, update); each
 * benchmark lives in its own cmd_bench_<what>.c and gets one table line. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const cli_command benches[] = {
    {"nets", "MLP forward+backward: summed vs per-task gradients, GFLOP/s vs sgemm", cmd_bench_nets},
    {"env", "env steps/s with random actions (1 and all threads), mj_step time per scene", cmd_bench_env},
    {"update", "ms per full SAC update and s per episode per multi-task optimizer, vs mean", cmd_bench_update},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: mtrl bench WHAT [ARGS]   (mtrl bench WHAT --help for details)\n\n"
               "benchmarks:\n");
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
        fprintf(f, "  %-8s %s\n", benches[i].name, benches[i].summary);
}

int cmd_bench(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
        if (!strcmp(argv[1], benches[i].name))
            return benches[i].run(argc - 1, argv + 1);
    fprintf(stderr, "mtrl bench: unknown benchmark '%s' (mtrl bench --help lists them)\n", argv[1]);
    return 2;
}
