/* sweep parse: the sweep file's YAML into a sweep_spec (no expansion). */
#include "sweep/sweep_impl.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "core/cfg.h"

typedef struct pctx {
    const char *file;
    yaml_document_t *doc;
    mtrl_err *err;
} pctx;

static int perr(pctx *P, const yaml_node_t *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int perr(pctx *P, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
    char msg[MTRL_ERR_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(P->err, MTRL_EINPUT, "%s:%d: %s: %s", P->file, n ? (int)n->start_mark.line + 1 : 0,
                   key, msg);
}

static yaml_node_t *node(pctx *P, int id) { return yaml_document_get_node(P->doc, id); }

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static const char *kind(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? "a scalar" : n->type == YAML_SEQUENCE_NODE ? "a list" : "a mapping";
}

/* A scalar as YAML text that reads back as the same value: plain scalars as
 * they are, quoted ones double-quoted again. */
static int scalar_text(const yaml_node_t *n, char *out, size_t cap)
{
    const char *s = scalar(n);
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        if ((size_t)snprintf(out, cap, "%s", s) >= cap)
            return -1;
        return 0;
    }
    size_t j = 0;
    out[j++] = '"';
    for (const char *p = s; *p; p++) {
        if (j + 6 >= cap)
            return -1;
        if (*p == '"' || *p == '\\')
            out[j++] = '\\', out[j++] = *p;
        else if ((unsigned char)*p < 0x20)
            j += (size_t)snprintf(out + j, cap - j, "\\x%02x", (unsigned char)*p);
        else
            out[j++] = *p;
    }
    if (j + 2 >= cap)
        return -1;
    out[j++] = '"';
    out[j] = 0;
    return 0;
}

/* A value of a --set: a scalar or a flat list of scalars, as YAML text. */
static int value_text(pctx *P, const yaml_node_t *n, const char *key, char *out, size_t cap)
{
    if (n->type == YAML_SCALAR_NODE) {
        if (scalar_text(n, out, cap))
            return perr(P, n, key, "value longer than %zu bytes", cap - 1);
        return 0;
    }
    if (n->type != YAML_SEQUENCE_NODE)
        return perr(P, n, key, "expected a value or a list of values, got a mapping");
    size_t j = (size_t)snprintf(out, cap, "[");
    int i = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
        yaml_node_t *e = node(P, *it);
        char t[SWEEP_VAL_LEN];
        if (e->type != YAML_SCALAR_NODE)
            return perr(P, e, key, "expected a list of plain values, got %s inside it", kind(e));
        if (scalar_text(e, t, sizeof t))
            return perr(P, e, key, "value too long");
        j += (size_t)snprintf(out + j, j < cap ? cap - j : 0, "%s%s", i ? "," : "", t);
    }
    j += (size_t)snprintf(out + j, j < cap ? cap - j : 0, "]");
    if (j >= cap)
        return perr(P, n, key, "value longer than %zu bytes", cap - 1);
    return 0;
}

static int parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int get_int(pctx *P, const yaml_node_t *n, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    if (parse_int(scalar(n), lo, hi, out))
        return perr(P, n, key, "expected an integer in [%lld, %lld], got %s%s%s", (long long)lo,
                    (long long)hi, scalar(n) ? "\"" : "", scalar(n) ? scalar(n) : kind(n),
                    scalar(n) ? "\"" : "");
    return 0;
}

static int get_str(pctx *P, const yaml_node_t *n, const char *key, char *out, size_t cap)
{
    const char *s = scalar(n);
    if (!s)
        return perr(P, n, key, "expected a string, got %s", kind(n));
    if ((size_t)snprintf(out, cap, "%s", s) >= cap)
        return perr(P, n, key, "longer than %zu bytes", cap - 1);
    return 0;
}

/* A key path of the config (checked against the schema later, per run). */
static int get_key(pctx *P, const yaml_node_t *n, const char *ctx, char *out)
{
    const char *s = scalar(n);
    if (!s || !*s)
        return perr(P, n, ctx, "expected a config key path like agent.batch_size");
    if (strlen(s) >= SWEEP_KEY_LEN)
        return perr(P, n, ctx, "key \"%.40s...\" too long", s);
    for (const char *p = s; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '.'))
            return perr(P, n, ctx, "\"%s\" is not a config key path (like agent.batch_size)", s);
    strcpy(out, s);
    return 0;
}

static int check_dups(pctx *P, const yaml_node_t *map, const char *ctx)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            const char *a = scalar(node(P, p->key)), *b = scalar(node(P, q->key));
            if (a && b && !strcmp(a, b))
                return perr(P, node(P, p->key), ctx, "\"%s\" given twice (first on line %d)", a,
                            (int)node(P, q->key)->start_mark.line + 1);
        }
    return 0;
}

static int parse_sets(pctx *P, const yaml_node_t *map, const char *ctx, sweep_kv *out, int *n)
{
    if (map->type != YAML_MAPPING_NODE)
        return perr(P, map, ctx, "expected a mapping of key.path: value, got %s", kind(map));
    int rc = check_dups(P, map, ctx);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; !rc && p < map->data.mapping.pairs.top; p++) {
        if (*n >= SWEEP_MAX_SETS)
            return perr(P, node(P, p->key), ctx, "more than %d keys", SWEEP_MAX_SETS);
        sweep_kv *kv = &out[*n];
        yaml_node_t *k = node(P, p->key);
        kv->line = (int)k->start_mark.line + 1;
        rc = get_key(P, k, ctx, kv->key);
        if (!rc) {
            char where[SWEEP_KEY_LEN + 32];
            snprintf(where, sizeof where, "%s: %s", ctx, kv->key);
            rc = value_text(P, node(P, p->value), where, kv->val, sizeof kv->val);
        }
        (*n)++;
    }
    return rc;
}

/* Relative config paths: the sweep file's directory first, then the cwd. */
static int resolve_config(pctx *P, const yaml_node_t *n, const char *given, char *out)
{
    char cand[2 * SWEEP_PATH_LEN], dir[SWEEP_PATH_LEN];
    snprintf(dir, sizeof dir, "%s", P->file);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        strcpy(dir, ".");
    int tried_dir = given[0] != '/';
    if (tried_dir)
        snprintf(cand, sizeof cand, "%s/%s", dir, given);
    else
        snprintf(cand, sizeof cand, "%s", given);
    char real[PATH_MAX];
    if (realpath(cand, real) || (tried_dir && realpath(given, real))) {
        if (strlen(real) >= SWEEP_PATH_LEN)
            return perr(P, n, "configs", "%s: path too long", real);
        if (access(real, R_OK))
            return perr(P, n, "configs", "%s: cannot read: %s", given, strerror(errno));
        strcpy(out, real);
        return 0;
    }
    if (tried_dir)
        return perr(P, n, "configs", "%s: no such file (looked in %s/ and in the current directory)",
                    given, dir);
    return perr(P, n, "configs", "%s: no such file", given);
}

static int parse_configs(pctx *P, sweep_spec *s, const yaml_node_t *n)
{
    if (n->type != YAML_SEQUENCE_NODE || n->data.sequence.items.start == n->data.sequence.items.top)
        return perr(P, n, "configs", "expected a non-empty list of config files");
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *e = node(P, *it);
        if (s->n_configs >= SWEEP_MAX_CONFIGS)
            return perr(P, e, "configs", "more than %d configs", SWEEP_MAX_CONFIGS);
        sweep_config *c = &s->configs[s->n_configs++];
        c->line = (int)e->start_mark.line + 1;
        const yaml_node_t *pathn = e;
        if (e->type == YAML_MAPPING_NODE) {
            int rc = check_dups(P, e, "configs");
            if (rc)
                return rc;
            pathn = NULL;
            for (yaml_node_pair_t *p = e->data.mapping.pairs.start; p < e->data.mapping.pairs.top; p++) {
                const char *k = scalar(node(P, p->key));
                if (k && !strcmp(k, "config"))
                    pathn = node(P, p->value);
                else if (k && !strcmp(k, "set")) {
                    if ((rc = parse_sets(P, node(P, p->value), "configs: set", c->set, &c->n_set)))
                        return rc;
                } else
                    return perr(P, node(P, p->key), "configs", "unknown key \"%s\" (expected config, set)",
                                k ? k : "?");
            }
            if (!pathn)
                return perr(P, e, "configs", "an entry given as a mapping needs config: PATH");
        }
        const char *given = scalar(pathn);
        if (!given || !*given)
            return perr(P, pathn, "configs", "expected a config file path or {config: PATH, set: {...}}, got %s",
                        kind(pathn));
        int rc = resolve_config(P, pathn, given, c->path);
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_seeds(pctx *P, sweep_spec *s, const yaml_node_t *n)
{
    int64_t v;
    if (n->type == YAML_SCALAR_NODE) {
        int rc = get_int(P, n, "seeds", 1, SWEEP_MAX_SEEDS, &v);
        if (rc)
            return perr(P, n, "seeds", "expected a count in [1, %d] (seeds 1..N) or a list of seeds, got \"%s\"",
                        SWEEP_MAX_SEEDS, scalar(n));
        for (int i = 0; i < v; i++)
            s->seeds[s->n_seeds++] = i + 1;
        return 0;
    }
    if (n->type != YAML_SEQUENCE_NODE || n->data.sequence.items.start == n->data.sequence.items.top)
        return perr(P, n, "seeds", "expected a count or a non-empty list of seeds");
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *e = node(P, *it);
        if (s->n_seeds >= SWEEP_MAX_SEEDS)
            return perr(P, e, "seeds", "more than %d seeds", SWEEP_MAX_SEEDS);
        int rc = get_int(P, e, "seeds", 0, INT64_MAX, &v);
        if (rc)
            return rc;
        for (int i = 0; i < s->n_seeds; i++)
            if (s->seeds[i] == v)
                return perr(P, e, "seeds", "seed %lld given twice", (long long)v);
        s->seeds[s->n_seeds++] = v;
    }
    return 0;
}

static int parse_axes(pctx *P, sweep_spec *s, const yaml_node_t *n)
{
    if (n->type != YAML_MAPPING_NODE)
        return perr(P, n, "axes", "expected a mapping of key.path: [values]");
    int rc = check_dups(P, n, "axes");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; !rc && p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(P, p->key), *v = node(P, p->value);
        if (s->n_axes >= SWEEP_MAX_AXES)
            return perr(P, k, "axes", "more than %d axes", SWEEP_MAX_AXES);
        sweep_axis *a = &s->axes[s->n_axes++];
        a->line = (int)k->start_mark.line + 1;
        if ((rc = get_key(P, k, "axes", a->key)))
            return rc;
        char where[SWEEP_KEY_LEN + 16];
        snprintf(where, sizeof where, "axes: %s", a->key);
        if (v->type != YAML_SEQUENCE_NODE || v->data.sequence.items.start == v->data.sequence.items.top)
            return perr(P, v, where, "expected a non-empty list of values");
        for (yaml_node_item_t *it = v->data.sequence.items.start; !rc && it < v->data.sequence.items.top; it++) {
            if (a->n_vals >= SWEEP_MAX_VALUES)
                return perr(P, v, where, "more than %d values", SWEEP_MAX_VALUES);
            rc = value_text(P, node(P, *it), where, a->vals[a->n_vals], SWEEP_VAL_LEN);
            for (int j = 0; !rc && j < a->n_vals; j++)
                if (!strcmp(a->vals[j], a->vals[a->n_vals]))
                    rc = perr(P, node(P, *it), where, "value %s given twice", a->vals[j]);
            a->n_vals++;
        }
    }
    return rc;
}

static int parse_slurm(pctx *P, sweep_spec *s, const yaml_node_t *n)
{
    if (n->type != YAML_MAPPING_NODE)
        return perr(P, n, "slurm", "expected a mapping (partition, time, cpus_per_task, mem, account, extra, signal_lead)");
    int rc = check_dups(P, n, "slurm");
    sweep_slurm *sl = &s->slurm;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; !rc && p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node(P, p->key), *v = node(P, p->value);
        const char *k = scalar(kn) ? scalar(kn) : "?";
        char where[64];
        snprintf(where, sizeof where, "slurm.%.40s", k);
        int64_t x;
        if (!strcmp(k, "partition"))
            rc = get_str(P, v, where, sl->partition, sizeof sl->partition);
        else if (!strcmp(k, "time"))
            rc = get_str(P, v, where, sl->time, sizeof sl->time);
        else if (!strcmp(k, "mem"))
            rc = get_str(P, v, where, sl->mem, sizeof sl->mem);
        else if (!strcmp(k, "account"))
            rc = get_str(P, v, where, sl->account, sizeof sl->account);
        else if (!strcmp(k, "cpus_per_task")) {
            if (!(rc = get_int(P, v, where, 1, 4096, &x)))
                sl->cpus_per_task = (int)x;
        } else if (!strcmp(k, "signal_lead")) {
            if (!(rc = get_int(P, v, where, 1, 65535, &x)))
                sl->signal_lead = (int)x;
        } else if (!strcmp(k, "extra")) {
            if (v->type != YAML_SEQUENCE_NODE)
                return perr(P, v, where, "expected a list of \"#SBATCH ...\" lines");
            for (yaml_node_item_t *it = v->data.sequence.items.start; !rc && it < v->data.sequence.items.top; it++) {
                yaml_node_t *e = node(P, *it);
                if (sl->n_extra >= SWEEP_MAX_EXTRA)
                    return perr(P, e, where, "more than %d lines", SWEEP_MAX_EXTRA);
                char *line = sl->extra[sl->n_extra++];
                if ((rc = get_str(P, e, where, line, SWEEP_VAL_LEN)))
                    break;
                if (strncmp(line, "#SBATCH ", 8) || strchr(line, '\n'))
                    rc = perr(P, e, where, "\"%s\" is not one \"#SBATCH --option\" line", line);
            }
        } else
            rc = perr(P, kn, "slurm", "unknown key \"%s\" (expected partition, time, cpus_per_task, mem, "
                      "account, extra, signal_lead)", k);
    }
    return rc;
}

static int parse_local(pctx *P, sweep_spec *s, const yaml_node_t *n)
{
    if (n->type != YAML_MAPPING_NODE)
        return perr(P, n, "local", "expected a mapping (parallel)");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const char *k = scalar(node(P, p->key));
        int64_t x;
        if (!k || strcmp(k, "parallel"))
            return perr(P, node(P, p->key), "local", "unknown key \"%s\" (expected parallel)", k ? k : "?");
        int rc = get_int(P, node(P, p->value), "local.parallel", 1, 4096, &x);
        if (rc)
            return rc;
        s->local_parallel = (int)x;
    }
    return 0;
}

static int parse_root(pctx *P, sweep_spec *s, yaml_node_t *root)
{
    if (!root || root->type != YAML_MAPPING_NODE)
        return perr(P, root, "(top level)", "expected a mapping with name, configs, seeds, axes, set, slurm, local");
    int rc = check_dups(P, root, "(top level)");
    const yaml_node_t *configs = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; !rc && p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node(P, p->key), *v = node(P, p->value);
        const char *k = scalar(kn) ? scalar(kn) : "?";
        if (!strcmp(k, "name")) {
            if (!(rc = get_str(P, v, "name", s->name, sizeof s->name)))
                for (const char *c = s->name; *c && !rc; c++)
                    if (!(isalnum((unsigned char)*c) || strchr("._-", *c)))
                        rc = perr(P, v, "name", "\"%s\": use letters, digits, '.', '_' and '-' only", s->name);
            if (!rc && (!s->name[0] || s->name[0] == '.'))
                rc = perr(P, v, "name", "must be non-empty and not start with '.'");
        } else if (!strcmp(k, "configs")) {
            configs = v;
            rc = parse_configs(P, s, v);
        } else if (!strcmp(k, "seeds"))
            rc = parse_seeds(P, s, v);
        else if (!strcmp(k, "axes"))
            rc = parse_axes(P, s, v);
        else if (!strcmp(k, "set"))
            rc = parse_sets(P, v, "set", s->set, &s->n_set);
        else if (!strcmp(k, "slurm"))
            rc = parse_slurm(P, s, v);
        else if (!strcmp(k, "local"))
            rc = parse_local(P, s, v);
        else
            rc = perr(P, kn, k, "unknown key (expected name, configs, seeds, axes, set, slurm, local)");
    }
    if (!rc && !configs)
        rc = perr(P, root, "configs", "missing: a sweep needs configs: [config files]");
    if (!rc && !s->name[0])
        rc = perr(P, root, "name", "missing: a sweep needs a name (its directory is sweeps-out/<name>)");
    return rc;
}

int sweep_parse_file(sweep_spec *s, const char *path, mtrl_err *err)
{
    if (strlen(path) >= SWEEP_PATH_LEN)
        return err_set(err, MTRL_EINPUT, "%s: path too long", path);
    snprintf(s->file, sizeof s->file, "%s", path);
    /* The config loader's reader: regular files only (a FIFO would block),
     * size-capped, nesting capped before libyaml's quadratic scan. */
    char *text;
    size_t len;
    int rc = cfg_read_yaml_text(path, &text, &len, err);
    if (rc)
        return rc;
    int deep = cfg_yaml_too_deep(text, len);
    if (deep) {
        free(text);
        return err_set(err, MTRL_EINPUT, "%s:%d: lists or mappings nested deeper than %d levels",
                       path, deep, CFG_MAX_NESTING);
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        free(text);
        return err_set(err, MTRL_ENOMEM, "%s: cannot start the YAML parser", path);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = err_set(err, MTRL_EINPUT, "%s:%d: YAML error: %s", path, (int)parser.problem_mark.line + 1,
                     parser.problem ? parser.problem : "unknown");
    } else {
        pctx P = {path, &doc, err};
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (!root)
            rc = err_set(err, MTRL_EINPUT, "%s: empty sweep file", path);
        else
            rc = parse_root(&P, s, root);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    free(text);
    return rc;
}
