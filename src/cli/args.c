/* Command-line argument helpers shared by the subcommands: one parser per
 * kind of number, so every command words a bad value the same way. */
#include <errno.h>
#include <math.h>
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

int cli_parse_int(const char *cmd, const char *opt, const char *s, int lo, int hi, int *out)
{
    long v;
    int rc = cli_parse_long(cmd, opt, s, lo, hi, &v);
    if (!rc)
        *out = (int)v;
    return rc;
}

int cli_parse_double(const char *cmd, const char *opt, const char *s, double lo, double hi,
                     double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
        if (isinf(lo) && isinf(hi))
            fprintf(stderr, "mtrl %s: %s needs a finite number, not '%s'\n", cmd, opt, s);
        else
            fprintf(stderr, "mtrl %s: %s needs a number in [%g, %g], not '%s'\n", cmd, opt, lo,
                    hi, s);
        return 2;
    }
    *out = v;
    return 0;
}
