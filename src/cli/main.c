/* mtrl: the command. Dispatches to the subcommands in src/cli/cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const cli_command commands[] = {
    {"help", "show the commands", cmd_help},
    {"version", "print the version", cmd_version},
    {"config", "print the resolved config of a YAML file, or its error", cmd_config},
    {"run", "train an agent from a config (or --resume a run)", cmd_run},
    {"eval", "evaluate a checkpoint: success rate per task", cmd_eval},
    {"plot", "learning curves of runs as an SVG", cmd_plot},
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

int main(int argc, char **argv)
{
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
