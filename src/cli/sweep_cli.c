/* What the files of the mtrl sweep command share: kept apart so that
 * cmd_sweep.c (which dispatches to exec and status) and cmd_sweep_exec.c
 * both depend on this file, not on each other. */
#include <stdio.h>
#include <unistd.h>

#include "cli/sweep_cli.h"

int sweep_cli_self(char *out, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", out, cap - 1);
    if (n <= 0 || (size_t)n >= cap - 1) {
        fprintf(stderr, "mtrl sweep: cannot find the mtrl binary (/proc/self/exe)\n");
        return -1;
    }
    out[n] = 0;
    return 0;
}
