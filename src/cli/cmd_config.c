/* mtrl config: shows the resolved configuration (defaults, file, includes,
 * --set overrides) or the first error in it, without running anything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/cfg.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: mtrl config CONFIG [--set key.path=value ...]\n"
               "       mtrl config --keys\n\n"
               "Prints the fully resolved configuration of CONFIG (a YAML file; its include:\n"
               "files first, then its own keys, then each --set in order) as YAML, or the\n"
               "first error with its file, line and key (exit code 2).\n\n"
               "  --set key.path=value  override one key, e.g. --set agent.batch_size=256,\n"
               "                        --set agent.actor_hidden=[64,64] (also -s, --set=k=v)\n"
               "  --keys                list every key with its type, default and meaning\n"
               "  -h, --help            this help\n");
}

int cmd_config(int argc, char **argv)
{
    const char *path = NULL;
    int keys = 0;
    const char **sets = calloc((size_t)argc + 1, sizeof *sets);
    int n_sets = 0;
    if (!sets) {
        fprintf(stderr, "mtrl config: out of memory\n");
        return 1;
    }
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            goto out;
        } else if (!strcmp(a, "--keys")) {
            keys = 1;
        } else if (!strcmp(a, "--set") || !strcmp(a, "-s")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "mtrl config: %s needs key.path=value\n", a);
                rc = 2;
                goto out;
            }
            sets[n_sets++] = argv[++i];
        } else if (!strncmp(a, "--set=", 6)) {
            sets[n_sets++] = a + 6;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "mtrl config: unknown option '%s' (mtrl config --help)\n", a);
            rc = 2;
            goto out;
        } else if (!path) {
            path = a;
        } else {
            fprintf(stderr, "mtrl config: one CONFIG file only, got '%s' and '%s'\n", path, a);
            rc = 2;
            goto out;
        }
    }
    if (keys) {
        if (path || n_sets) {
            fprintf(stderr, "mtrl config: --keys takes no CONFIG or --set\n");
            rc = 2;
            goto out;
        }
        cfg_print_keys(stdout);
        goto out;
    }
    if (!path) {
        usage(stderr);
        rc = 2;
        goto out;
    }
    mtrl_config cfg;
    mtrl_err err = {0};
    int e = cfg_load(&cfg, path, sets, n_sets, &err);
    if (e) {
        fprintf(stderr, "mtrl config: %s\n", err.msg);
        rc = err_exit_code(e);
        goto out;
    }
    if (cfg_print(&cfg, stdout))
        rc = 1;
out:
    free(sets);
    return rc;
}
