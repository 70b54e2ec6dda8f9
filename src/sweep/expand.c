/* sweep expand: the parsed sweep into runs (configs x axes x seeds, in that
 * order), their names, and the up-front validation of every run. */
#include "sweep/sweep_impl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cfg.h"

/* Names: letters, digits and ".+-" kept; a list [16, 16] becomes 16x16;
 * anything else '_'. Short enough for a file name with room to spare. */
static void sanitize(const char *in, char *out, size_t cap)
{
    size_t j = 0;
    for (const char *p = in; *p && j + 1 < cap && j < 48; p++) {
        char c = *p;
        if (c == '[' || c == ']' || c == ' ' || c == '"' || c == '\'')
            continue;
        if (c == ',')
            c = 'x';
        else if (!(isalnum((unsigned char)c) || c == '.' || c == '+' || c == '-'))
            c = '_';
        out[j++] = c;
    }
    out[j] = 0;
    if (!j)
        snprintf(out, cap, "_");
}

static void stem(const char *path, char *out, size_t cap)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(out, cap, "%s", b);
    char *dot = strrchr(out, '.');
    if (dot && dot != out)
        *dot = 0;
}

/* Config labels: the file's stem; configs/mt10/cagrad.yaml and
 * configs/mt50/cagrad.yaml become mt10-cagrad and mt50-cagrad; the same
 * file twice (with different set:) gets -2, -3. */
static void label_configs(sweep_spec *s)
{
    for (int i = 0; i < s->n_configs; i++) {
        char st[SWEEP_NAME_LEN];
        stem(s->configs[i].path, st, sizeof st);
        sanitize(st, s->configs[i].label, 64);
    }
    char first[SWEEP_MAX_CONFIGS][SWEEP_NAME_LEN];
    for (int i = 0; i < s->n_configs; i++)
        strcpy(first[i], s->configs[i].label);
    for (int i = 0; i < s->n_configs; i++) {
        int clash = 0;
        for (int j = 0; j < s->n_configs; j++)
            clash |= j != i && !strcmp(first[i], first[j]) && strcmp(s->configs[i].path, s->configs[j].path);
        if (clash) {
            char dir[SWEEP_PATH_LEN], d[64];
            snprintf(dir, sizeof dir, "%s", s->configs[i].path);
            char *sl = strrchr(dir, '/');
            if (sl)
                *sl = 0;
            stem(dir, d, sizeof d);
            char lab[SWEEP_NAME_LEN];
            snprintf(lab, sizeof lab, "%.60s-%.60s", d, first[i]);
            sanitize(lab, s->configs[i].label, 64);
        }
    }
    for (int i = 0; i < s->n_configs; i++) {
        int k = 1;
        for (int j = 0; j < i; j++)
            k += !strcmp(s->configs[j].path, s->configs[i].path);
        if (k > 1) {
            size_t n = strlen(s->configs[i].label);
            snprintf(s->configs[i].label + n, SWEEP_NAME_LEN - n, "-%d", k);
        }
    }
}

static const char *last_part(const char *key)
{
    const char *d = strrchr(key, '.');
    return d ? d + 1 : key;
}

/* Axis labels: the last part of the key (mtl.method -> method), the whole
 * key where two axes end alike. */
static void label_axes(sweep_spec *s)
{
    for (int i = 0; i < s->n_axes; i++) {
        int clash = 0;
        for (int j = 0; j < s->n_axes; j++)
            clash |= i != j && !strcmp(last_part(s->axes[i].key), last_part(s->axes[j].key));
        sweep_copy(s->axes[i].label, SWEEP_KEY_LEN, clash ? s->axes[i].key : last_part(s->axes[i].key));
    }
}

static void name_run(const sweep_spec *s, sweep_run *r)
{
    char buf[4 * SWEEP_NAME_LEN];
    size_t n = (size_t)snprintf(buf, sizeof buf, "%s", s->configs[r->config].label);
    for (int a = 0; a < s->n_axes; a++) {
        if (s->axes[a].n_vals < 2) /* a constant is no part of what tells runs apart */
            continue;
        char v[64], k[64];
        sanitize(s->axes[a].vals[r->val[a]], v, sizeof v);
        sanitize(s->axes[a].label, k, sizeof k);
        n += (size_t)snprintf(buf + n, n < sizeof buf ? sizeof buf - n : 0, "-%s=%s", k, v);
    }
    if (r->has_seed)
        snprintf(buf + n, n < sizeof buf ? sizeof buf - n : 0, "-seed%lld", (long long)r->seed);
    sweep_copy(r->name, sizeof r->name, buf);
}

static int expand(sweep_spec *s, mtrl_err *err)
{
    long total = s->n_configs * (long)(s->n_seeds ? s->n_seeds : 1);
    for (int a = 0; a < s->n_axes; a++)
        total *= s->axes[a].n_vals;
    if (total > SWEEP_MAX_RUNS)
        return err_set(err, MTRL_EINPUT, "%s: %ld runs, more than %d", s->file, total, SWEEP_MAX_RUNS);
    s->runs = calloc((size_t)total, sizeof *s->runs);
    if (!s->runs)
        return err_set(err, MTRL_ENOMEM, "%s: out of memory", s->file);
    int idx[SWEEP_MAX_AXES] = {0};
    for (int c = 0; c < s->n_configs; c++) {
        memset(idx, 0, sizeof idx);
        for (;;) {
            for (int k = 0; k < (s->n_seeds ? s->n_seeds : 1); k++) {
                sweep_run *r = &s->runs[s->n_runs];
                r->index = s->n_runs++;
                r->config = c;
                memcpy(r->val, idx, sizeof idx);
                r->has_seed = s->n_seeds > 0;
                r->seed = s->n_seeds ? s->seeds[k] : 0;
                name_run(s, r);
            }
            /* Next combination: the last axis varies fastest. */
            int a = s->n_axes - 1;
            while (a >= 0 && ++idx[a] == s->axes[a].n_vals)
                idx[a--] = 0;
            if (a < 0)
                break;
        }
    }
    /* Names must be unique: distinct values can sanitize alike. */
    for (int i = 0; i < s->n_runs; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(s->runs[i].name, s->runs[j].name)) {
                size_t n = strlen(s->runs[i].name);
                snprintf(s->runs[i].name + n, sizeof s->runs[i].name - n, "-r%d", i);
                break;
            }
    return 0;
}

int sweep_run_sets(const sweep_spec *s, const sweep_run *r, char (*out)[SWEEP_KV_LEN], int cap)
{
    int n = 0;
    const sweep_config *c = &s->configs[r->config];
    for (int i = 0; i < s->n_set && n < cap; i++, n++)
        snprintf(out[n], SWEEP_KV_LEN, "%s=%s", s->set[i].key, s->set[i].val);
    for (int i = 0; i < c->n_set && n < cap; i++, n++)
        snprintf(out[n], SWEEP_KV_LEN, "%s=%s", c->set[i].key, c->set[i].val);
    for (int a = 0; a < s->n_axes && n < cap; a++, n++)
        snprintf(out[n], SWEEP_KV_LEN, "%s=%s", s->axes[a].key, s->axes[a].vals[r->val[a]]);
    if (r->has_seed && n < cap)
        snprintf(out[n++], SWEEP_KV_LEN, "run.seed=%lld", (long long)r->seed);
    return n;
}

#define MAX_RUN_SETS (2 * SWEEP_MAX_SETS + SWEEP_MAX_AXES + 1)

void sweep_run_overrides(const sweep_spec *s, const sweep_run *r, char *out, size_t cap)
{
    char sets[MAX_RUN_SETS][SWEEP_KV_LEN];
    int n = sweep_run_sets(s, r, sets, MAX_RUN_SETS);
    size_t j = 0;
    out[0] = 0;
    for (int i = 0; i < n && j < cap; i++)
        j += (size_t)snprintf(out + j, cap - j, "%s%s", i ? " " : "", sets[i]);
}

int sweep_resolve_source(const sweep_spec *s, const sweep_run *r, mtrl_config *cfg, mtrl_err *e)
{
    char(*sets)[SWEEP_KV_LEN] = malloc(MAX_RUN_SETS * sizeof *sets);
    const char *ptrs[MAX_RUN_SETS];
    if (!sets)
        return err_set(e, MTRL_ENOMEM, "out of memory");
    int n = sweep_run_sets(s, r, sets, MAX_RUN_SETS);
    for (int k = 0; k < n; k++)
        ptrs[k] = sets[k];
    int rc = cfg_load(cfg, s->configs[r->config].path, ptrs, n, e);
    free(sets);
    return rc;
}

int sweep_resolve_run(const sweep_spec *s, const sweep_run *r, mtrl_config *cfg, mtrl_err *e)
{
    char p[SWEEP_PATH_LEN + SWEEP_NAME_LEN + 32];
    if (s->dir[0]) {
        sweep_config_path(s->dir, r, p, sizeof p);
        if (access(p, F_OK) == 0)
            return cfg_load(cfg, p, NULL, 0, e);
    }
    return sweep_resolve_source(s, r, cfg, e);
}

/* Each override alone against the defaults: a bad key or value is reported
 * at its line of the sweep file. */
static int check_kv(const sweep_spec *s, const char *ctx, const char *key, const char *val, int line,
                    mtrl_err *err)
{
    char kv[SWEEP_KV_LEN];
    snprintf(kv, sizeof kv, "%s=%s", key, val);
    if (s->n_seeds && !strcmp(key, "run.seed"))
        return err_set(err, MTRL_EINPUT, "%s:%d: %s: run.seed: the sweep's seeds set it; drop one of the two",
                       s->file, line, ctx);
    mtrl_config *c = malloc(sizeof *c);
    if (!c)
        return err_set(err, MTRL_ENOMEM, "out of memory");
    cfg_defaults(c);
    mtrl_err e = {0};
    int rc = cfg_apply_override(c, kv, &e);
    free(c);
    if (rc)
        return err_set(err, MTRL_EINPUT, "%s:%d: %s: %s", s->file, line, ctx, e.msg);
    return 0;
}

static int validate(sweep_spec *s, sweep_check_fn check, mtrl_err *err)
{
    int rc = 0;
    for (int i = 0; !rc && i < s->n_set; i++)
        rc = check_kv(s, "set", s->set[i].key, s->set[i].val, s->set[i].line, err);
    for (int c = 0; !rc && c < s->n_configs; c++)
        for (int i = 0; !rc && i < s->configs[c].n_set; i++)
            rc = check_kv(s, "configs: set", s->configs[c].set[i].key, s->configs[c].set[i].val,
                          s->configs[c].set[i].line, err);
    for (int a = 0; !rc && a < s->n_axes; a++)
        for (int v = 0; !rc && v < s->axes[a].n_vals; v++)
            rc = check_kv(s, "axes", s->axes[a].key, s->axes[a].vals[v], s->axes[a].line, err);
    if (rc)
        return rc;
    /* Then every run as mtrl run will load it: cross-field checks too. */
    mtrl_config *cfg = malloc(sizeof *cfg);
    if (!cfg)
        return err_set(err, MTRL_ENOMEM, "out of memory");
    s->max_threads = 0;
    for (int i = 0; !rc && i < s->n_runs; i++) {
        const sweep_run *r = &s->runs[i];
        mtrl_err e = {0};
        if (sweep_resolve_run(s, r, cfg, &e) || (check && check(cfg, &e)))
            rc = err_set(err, MTRL_EINPUT, "%s: run %d (%s): %s", s->file, i, r->name, e.msg);
        else {
            s->runs[i].iterations = cfg->run.iterations;
            if (cfg->run.threads > s->max_threads)
                s->max_threads = cfg->run.threads;
            s->all_cores |= cfg->run.threads == 0;
        }
    }
    free(cfg);
    return rc;
}

int sweep_load(sweep_spec **out, const char *path, mtrl_err *err)
{
    return sweep_load_checked(out, path, NULL, err);
}

int sweep_load_checked(sweep_spec **out, const char *path, sweep_check_fn check, mtrl_err *err)
{
    return sweep_load_in(out, path, "", check, err);
}

int sweep_load_in(sweep_spec **out, const char *path, const char *dir, sweep_check_fn check, mtrl_err *err)
{
    *out = NULL;
    sweep_spec *s = calloc(1, sizeof *s);
    if (!s)
        return err_set(err, MTRL_ENOMEM, "%s: out of memory", path);
    sweep_copy(s->dir, sizeof s->dir, dir);
    int rc = sweep_parse_file(s, path, err);
    if (!rc) {
        label_configs(s);
        label_axes(s);
        rc = expand(s, err);
    }
    if (!rc)
        rc = validate(s, check, err);
    if (rc) {
        sweep_destroy(s);
        return rc;
    }
    *out = s;
    return 0;
}

void sweep_destroy(sweep_spec *s)
{
    if (!s)
        return;
    free(s->runs);
    free(s);
}
