/* mtrl: the command. Dispatches to the subcommands in src/cli/cmd_*.c. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/h5io.h"

static const cli_command commands[] = {
    {"help", "show the commands", cmd_help},
    {"version", "print the version", cmd_version},
    {"config", "print the resolved config of a YAML file, or its error", cmd_config},
    {"run", "train an agent from a config (or --resume a run)", cmd_run},
    {"sweep", "run a grid of runs (locally or as a Slurm job array); status", cmd_sweep},
    {"eval", "evaluate a checkpoint: success rate per task", cmd_eval},
    {"plot", "learning curves of runs as an SVG", cmd_plot},
    {"report", "results table of runs and sweeps: success over seeds per group", cmd_report},
    {"tasks", "list the tasks and benchmarks", cmd_tasks},
    {"env-check", "run the scripted policies: success rate per task", cmd_env_check},
    {"render", "videos of a task's episodes; contact sheet of a benchmark", cmd_render},
    {"bench", "benchmarks: nets, env, update", cmd_bench},
    {"combine", "apply a multi-task combiner to a gradient matrix in HDF5", cmd_combine},
};

const cli_command *cli_commands(int *n)
{
    *n = (int)(sizeof commands / sizeof commands[0]);
    return commands;
}

int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("mtrl %s\n", MTRL_VERSION);
    printf("%s\n", openblas_get_config()); /* its last word names the kernels it runs */
    return 0;
}

int cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    int n;
    const cli_command *c = cli_commands(&n);
    printf("mtrl %s: multi-task reinforcement learning (SAC on Meta-World tasks in MuJoCo)\n\n"
           "usage: mtrl COMMAND [ARGS]   (mtrl COMMAND --help for details)\n\ncommands:\n",
           MTRL_VERSION);
    for (int i = 0; i < n; i++)
        printf("  %-10s %s\n", c[i].name, c[i].summary);
    return 0;
}

/* --verbose (anywhere on the line, any command) or MTRL_VERBOSE=1: library
 * errors stay one line, and HDF5's full error stack goes to stderr too. */
static int take_verbose(int *argc, char **argv)
{
    int on = 0, n = 1;
    for (int i = 1; i < *argc; i++) {
        if (!strcmp(argv[i], "--verbose"))
            on = 1;
        else
            argv[n++] = argv[i];
    }
    argv[n] = NULL;
    *argc = n;
    const char *env = getenv("MTRL_VERBOSE");
    return on || (env && env[0] && strcmp(env, "0"));
}

int main(int argc, char **argv)
{
    if (take_verbose(&argc, argv))
        h5_set_error_stream(stderr);
    if (argc < 2) {
        cmd_help(0, NULL);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return cmd_help(0, NULL);
    if (!strcmp(argv[1], "--version"))
        return cmd_version(0, NULL);
    int n;
    const cli_command *c = cli_commands(&n);
    for (int i = 0; i < n; i++)
        if (!strcmp(argv[1], c[i].name))
            return c[i].run(argc - 1, argv + 1);
    fprintf(stderr, "mtrl: unknown command '%s' (mtrl help lists the commands)\n", argv[1]);
    return 2;
}
