/* cli: the subcommands of the mtrl command. Each cmd_* gets argv with
 * argv[0] = its own name and returns the process exit code
 * (0 ok, 1 runtime failure, 2 bad usage or bad input). */
#ifndef MTRL_CLI_H
#define MTRL_CLI_H

#define MTRL_VERSION "0.1.0"

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} cli_command;

const cli_command *cli_commands(int *n);

/* Parses an integer option value in [lo, hi]; on failure prints
 * "mtrl CMD: OPT needs an integer in [lo, hi], not 'S'" and returns 2. */
int cli_parse_long(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);
/* The same for an int option. */
int cli_parse_int(const char *cmd, const char *opt, const char *s, int lo, int hi, int *out);
/* Parses a finite number in [lo, hi] (both infinite: any finite number);
 * on failure prints "mtrl CMD: OPT needs a number in
 * [lo, hi], not 'S'" and returns 2. */
int cli_parse_double(const char *cmd, const char *opt, const char *s, double lo, double hi,
                     double *out);

int cmd_help(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_bench_nets(int argc, char **argv);
int cmd_tasks(int argc, char **argv);
int cmd_env_check(int argc, char **argv);
int cmd_render(int argc, char **argv);
int cmd_bench_env(int argc, char **argv);
int cmd_bench_update(int argc, char **argv);
int cmd_combine(int argc, char **argv);

#endif
