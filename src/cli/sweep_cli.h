/* The pieces of the mtrl sweep command shared by its files: cmd_sweep.c
 * dispatches to exec and status; sweep_cli.c holds what they all use. */
#ifndef MTRL_CLI_SWEEP_CLI_H
#define MTRL_CLI_SWEEP_CLI_H

#include <stddef.h>

/* The absolute path of the running mtrl (/proc/self/exe); prints why not. */
int sweep_cli_self(char *out, size_t cap);

int cmd_sweep_exec(int argc, char **argv);
int cmd_sweep_status(int argc, char **argv);

#endif
