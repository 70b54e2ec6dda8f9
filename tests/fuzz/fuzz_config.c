/* Fuzz target: the config loader with --set overrides (cfg_load, as `mtrl
 * run CONFIG --set ...` calls it). Input: the YAML text up to the first NUL
 * byte, then up to 16 NUL-separated --set values. A config that loads must
 * print, write and load again to the same config. */
#include "fuzz_common.h"

#include "core/cfg.h"

int fuzz_config_one(const uint8_t *data, size_t size)
{
    size_t n = 0;
    while (n < size && data[n])
        n++;
    const char *path = fuzz_file("c.yaml", data, n);
    /* The overrides: NUL-terminated copies of the rest. */
    char *rest = malloc(size - n + 1);
    if (!rest)
        return 0;
    if (size > n)
        memcpy(rest, data + n + 1, size - n - 1);
    rest[size > n ? size - n - 1 : 0] = '\0';
    size_t rlen = size > n ? size - n - 1 : 0;
    const char *sets[16];
    int n_sets = 0;
    for (size_t i = 0; i < rlen && n_sets < 16;) {
        sets[n_sets++] = rest + i;
        i += strlen(rest + i) + 1;
    }
    mtrl_config *c = malloc(sizeof *c), *c2 = malloc(sizeof *c2);
    mtrl_err e = {0};
    if (c && c2 && cfg_load(c, path, sets, n_sets, &e) == 0) {
        /* Round trip: what mtrl writes as config.yaml must load back the same. */
        char out[160];
        snprintf(out, sizeof out, "%s/w.yaml", fuzz_dir());
        if (cfg_write_yaml(c, out, &e) != 0)
            abort();
        if (cfg_load(c2, out, NULL, 0, &e) != 0) {
            fprintf(stderr, "config loads but its written form does not: %s\n", e.msg);
            abort();
        }
    }
    free(c);
    free(c2);
    free(rest);
    return 0;
}

FUZZ_ENTRY(fuzz_config_one)
