/* sweep dir: the sweep directory's files (sweep.yaml, manifest.csv) and the
 * refusal to mix two grids in one directory. */
#include "sweep/sweep_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"

void sweep_buf_printf(sweep_buf *b, const char *fmt, ...)
{
    if (b->cap && !b->text)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->text ? b->text + b->len : NULL, b->text ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->text && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap : 4096);
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *t = realloc(b->text, cap);
        if (!t) {
            free(b->text);
            b->text = NULL;
            b->cap = 1;
            return;
        }
        b->text = t;
        b->cap = cap;
    }
}

/* A CSV field, quoted when it holds a comma, quote or line break. */
static void csv_field(sweep_buf *b, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        sweep_buf_printf(b, "%s", s);
        return;
    }
    sweep_buf_printf(b, "\"");
    for (const char *p = s; *p; p++)
        sweep_buf_printf(b, *p == '"' ? "\"\"" : "%c", *p);
    sweep_buf_printf(b, "\"");
}

char *sweep_manifest_text(const sweep_spec *s)
{
    sweep_buf b = {0};
    char ov[8192];
    sweep_buf_printf(&b, "index,name,config,overrides,seed\n");
    for (int i = 0; i < s->n_runs; i++) {
        const sweep_run *r = &s->runs[i];
        sweep_run_overrides(s, r, ov, sizeof ov);
        sweep_buf_printf(&b, "%d,", i);
        csv_field(&b, r->name);
        sweep_buf_printf(&b, ",");
        csv_field(&b, s->configs[r->config].path);
        sweep_buf_printf(&b, ",");
        csv_field(&b, ov);
        if (r->has_seed)
            sweep_buf_printf(&b, ",%lld\n", (long long)r->seed);
        else
            sweep_buf_printf(&b, ",\n");
    }
    return b.text;
}

/* A string as a YAML double-quoted scalar. */
static void yq(sweep_buf *b, const char *s)
{
    sweep_buf_printf(b, "\"");
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            sweep_buf_printf(b, "\\%c", *p);
        else if ((unsigned char)*p < 0x20)
            sweep_buf_printf(b, "\\x%02x", (unsigned char)*p);
        else
            sweep_buf_printf(b, "%c", *p);
    }
    sweep_buf_printf(b, "\"");
}

static void kv_map(sweep_buf *b, const sweep_kv *kv, int n)
{
    sweep_buf_printf(b, "{");
    for (int i = 0; i < n; i++)
        sweep_buf_printf(b, "%s%s: %s", i ? ", " : "", kv[i].key, kv[i].val);
    sweep_buf_printf(b, "}");
}

char *sweep_resolved_text(const sweep_spec *s)
{
    sweep_buf b = {0};
    sweep_buf_printf(&b, "# The resolved sweep, written by mtrl sweep from ");
    yq(&b, s->file);
    sweep_buf_printf(&b, "\n# (config paths absolute, seeds listed). Runs: manifest.csv.\n");
    sweep_buf_printf(&b, "name: ");
    yq(&b, s->name);
    sweep_buf_printf(&b, "\nconfigs:\n");
    for (int i = 0; i < s->n_configs; i++) {
        sweep_buf_printf(&b, "  - {config: ");
        yq(&b, s->configs[i].path);
        if (s->configs[i].n_set) {
            sweep_buf_printf(&b, ", set: ");
            kv_map(&b, s->configs[i].set, s->configs[i].n_set);
        }
        sweep_buf_printf(&b, "}\n");
    }
    if (s->n_seeds) {
        sweep_buf_printf(&b, "seeds: [");
        for (int i = 0; i < s->n_seeds; i++)
            sweep_buf_printf(&b, "%s%lld", i ? ", " : "", (long long)s->seeds[i]);
        sweep_buf_printf(&b, "]\n");
    }
    if (s->n_axes) {
        sweep_buf_printf(&b, "axes:\n");
        for (int a = 0; a < s->n_axes; a++) {
            sweep_buf_printf(&b, "  %s: [", s->axes[a].key);
            for (int v = 0; v < s->axes[a].n_vals; v++)
                sweep_buf_printf(&b, "%s%s", v ? ", " : "", s->axes[a].vals[v]);
            sweep_buf_printf(&b, "]\n");
        }
    }
    if (s->n_set) {
        sweep_buf_printf(&b, "set: ");
        kv_map(&b, s->set, s->n_set);
        sweep_buf_printf(&b, "\n");
    }
    const sweep_slurm *sl = &s->slurm;
    sweep_buf_printf(&b, "slurm:\n");
    const char *names[] = {"partition", "time", "mem", "account"};
    const char *vals[] = {sl->partition, sl->time, sl->mem, sl->account};
    for (int i = 0; i < 4; i++)
        if (vals[i][0]) {
            sweep_buf_printf(&b, "  %s: ", names[i]);
            yq(&b, vals[i]);
            sweep_buf_printf(&b, "\n");
        }
    if (sl->cpus_per_task)
        sweep_buf_printf(&b, "  cpus_per_task: %d\n", sl->cpus_per_task);
    if (sl->signal_lead)
        sweep_buf_printf(&b, "  signal_lead: %d\n", sl->signal_lead);
    sweep_buf_printf(&b, "  extra: [");
    for (int i = 0; i < sl->n_extra; i++) {
        sweep_buf_printf(&b, "%s", i ? ", " : "");
        yq(&b, sl->extra[i]);
    }
    sweep_buf_printf(&b, "]\n");
    if (s->local_parallel)
        sweep_buf_printf(&b, "local: {parallel: %d}\n", s->local_parallel);
    return b.text;
}

void sweep_run_dir(const char *dir, const sweep_run *r, char *out, size_t cap)
{
    snprintf(out, cap, "%s/runs/%s", dir, r->name);
}

void sweep_log_path(const char *dir, const sweep_run *r, char *out, size_t cap)
{
    snprintf(out, cap, "%s/logs/%s.log", dir, r->name);
}

/* The first line where two manifests differ, for the refusal message. */
static void first_diff(const char *a, const char *b, char *out, size_t cap)
{
    int line = 1;
    while (*a && *a == *b) {
        line += *a == '\n';
        a++, b++;
    }
    while (line > 1 && a[-1] != '\n')
        a--, b--;
    snprintf(out, cap, "line %d: existing \"%.*s\", this sweep \"%.*s\"", line, (int)strcspn(a, "\n"),
             a, (int)strcspn(b, "\n"), b);
}

int sweep_dir_prepare(const sweep_spec *s, const char *dir, mtrl_err *err)
{
    char p[SWEEP_PATH_LEN + 64];
    int rc = 0;
    char *man = sweep_manifest_text(s), *res = sweep_resolved_text(s);
    if (!man || !res) {
        rc = err_set(err, MTRL_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(p, sizeof p, "%s/manifest.csv", dir);
    char *old = NULL;
    if (fs_is_dir(dir) && !fs_read_all(p, &old, NULL, NULL)) {
        if (strcmp(old, man)) {
            char d[1024];
            first_diff(old, man, d, sizeof d);
            rc = err_set(err, MTRL_EINPUT,
                         "%s: this directory holds a different sweep (manifest.csv %s); refusing to mix "
                         "two grids: use another --out, or remove the directory",
                         dir, d);
        }
        free(old);
        if (rc)
            goto out;
    } else if (fs_is_dir(dir) && !fs_dir_is_empty(dir)) {
        rc = err_set(err, MTRL_EINPUT, "%s: exists, is not empty and holds no manifest.csv: not a sweep "
                     "directory (use another --out)", dir);
        goto out;
    }
    const char *subs[] = {"runs", "logs", "slurm"};
    for (int i = 0; i < 3 && !rc; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, subs[i]);
        rc = fs_mkdirs(p, err);
    }
    if (!rc)
        rc = sweep_snapshot_configs(s, dir, err);
    snprintf(p, sizeof p, "%s/sweep.yaml", dir);
    if (!rc)
        rc = fs_write_atomic(p, res, strlen(res), err);
    snprintf(p, sizeof p, "%s/manifest.csv", dir);
    if (!rc)
        rc = fs_write_atomic(p, man, strlen(man), err);
out:
    free(man);
    free(res);
    return rc;
}

int sweep_dir_open(sweep_spec **out, const char *dir, mtrl_err *err)
{
    char p[SWEEP_PATH_LEN + 64];
    *out = NULL;
    snprintf(p, sizeof p, "%s/manifest.csv", dir);
    char *old = NULL;
    int rc = fs_read_all(p, &old, NULL, err);
    if (rc)
        return err_prefix(err, "%s is not a sweep directory", dir), MTRL_EINPUT;
    snprintf(p, sizeof p, "%s/sweep.yaml", dir);
    sweep_spec *s;
    rc = sweep_load_in(&s, p, dir, NULL, err);
    if (!rc) {
        char *man = sweep_manifest_text(s);
        if (!man)
            rc = err_set(err, MTRL_ENOMEM, "out of memory");
        else if (strcmp(man, old)) {
            char d[1024];
            first_diff(old, man, d, sizeof d);
            rc = err_set(err, MTRL_EINPUT, "%s: sweep.yaml no longer expands to manifest.csv (%s)", dir, d);
        }
        free(man);
        if (rc)
            sweep_destroy(s);
        else
            *out = s;
    }
    free(old);
    return rc;
}
