/* sweep snapshot: each run's resolved config, written into the sweep
 * directory (configs/<name>.yaml) when the sweep is first prepared. Runs
 * start from their snapshot and status reads it, so editing a config file
 * (or its include) mid-sweep cannot change what the runs not yet started
 * get: a table of results must come from one set of settings. A later
 * `mtrl sweep` whose configs now resolve differently is refused, naming the
 * run and the key. */
#include "sweep/sweep_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cfg.h"
#include "core/fsutil.h"

/* cfg_print's text (values and the docs of this build), NULL when out of
 * memory. Both sides of a comparison go through it, so only values differ. */
static char *config_text(const mtrl_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    int rc = cfg_print(c, f);
    if (fclose(f) || rc) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* One printed line "  key: value  # doc" as key and value. */
static void split_line(const char *line, const char **key, int *key_len, const char **val, int *val_len)
{
    while (*line == ' ')
        line++;
    int n = (int)strcspn(line, "\n");
    const char *doc = strstr(line, "  #");
    if (doc && doc - line < n)
        n = (int)(doc - line);
    *key = line;
    *key_len = (int)strcspn(line, ":");
    if (*key_len > n)
        *key_len = n;
    *val = line + *key_len + (*key_len < n);
    *val_len = n - (int)(*val - line);
    while (*val_len > 0 && **val == ' ')
        (*val)++, (*val_len)--;
    while (*val_len > 0 && (*val)[*val_len - 1] == ' ')
        (*val_len)--;
}

/* "section.key: old at creation, new now" for the first line where a and b
 * differ. */
static void describe_change(const char *a, const char *b, char *out, size_t cap)
{
    const char *line_a = a, *line_b = b, *section = a[0] != ' ' ? a : NULL;
    while (*a && *a == *b) {
        if (*a == '\n') {
            line_a = a + 1, line_b = b + 1;
            if (line_a[0] && line_a[0] != ' ' && line_a[0] != '\n')
                section = line_a;
        }
        a++, b++;
    }
    int sec_len = section && section != line_a ? (int)strcspn(section, ":") : 0;
    const char *key, *va, *vb;
    int key_len, la, lb;
    split_line(line_a, &key, &key_len, &va, &la);
    split_line(line_b, &key, &key_len, &vb, &lb);
    snprintf(out, cap, "%.*s%s%.*s: %.*s at creation, %.*s now", sec_len, sec_len ? section : "",
             sec_len ? "." : "", key_len, key, la, va, lb, vb);
}

/* Writes run r's snapshot, or checks it against what its config resolves
 * to today. */
static int snapshot_run(const sweep_spec *s, const sweep_run *r, const char *dir, mtrl_config *now,
                        mtrl_config *then, mtrl_err *err)
{
    char p[SWEEP_PATH_LEN + SWEEP_NAME_LEN + 32];
    sweep_config_path(dir, r, p, sizeof p);
    mtrl_err e = {0};
    if (sweep_resolve_source(s, r, now, &e))
        return err_set(err, MTRL_EINPUT, "run %d (%s): %s", r->index, r->name, e.msg);
    if (access(p, F_OK) != 0)
        return cfg_write_yaml(now, p, err);
    if (cfg_load(then, p, NULL, 0, &e))
        return err_set(err, MTRL_EINPUT, "%s: the run's config snapshot does not load (%s); remove it to "
                       "take the config as it is now", p, e.msg);
    char *a = config_text(then), *b = config_text(now);
    int rc = 0;
    if (!a || !b)
        rc = err_set(err, MTRL_ENOMEM, "out of memory");
    else if (strcmp(a, b)) {
        char d[1024];
        describe_change(a, b, d, sizeof d);
        rc = err_set(err, MTRL_EINPUT,
                     "run %d (%s): its config changed since the sweep was created (%s; snapshot %s); "
                     "the runs of one sweep share one setting: restore the config, or start a new sweep "
                     "with another --out",
                     r->index, r->name, d, p);
    }
    free(a);
    free(b);
    return rc;
}

int sweep_snapshot_configs(const sweep_spec *s, const char *dir, mtrl_err *err)
{
    char p[SWEEP_PATH_LEN + 16];
    snprintf(p, sizeof p, "%s/configs", dir);
    int rc = fs_mkdirs(p, err);
    mtrl_config *now = malloc(sizeof *now), *then = malloc(sizeof *then);
    if (!rc && (!now || !then))
        rc = err_set(err, MTRL_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < s->n_runs; i++)
        rc = snapshot_run(s, &s->runs[i], dir, now, then, err);
    free(now);
    free(then);
    return rc;
}
