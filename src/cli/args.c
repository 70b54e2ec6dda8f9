/* Command-line argument helpers shared by the subcommands. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

int cli_parse_long(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "mtrl %s: %s needs an integer in [%ld, %ld], not '%s'\n", cmd, opt, lo,
                hi, s);
        return 2;
    }
    *out = v;
    return 0;
}
