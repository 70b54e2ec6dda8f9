/* Finding and loading run directories: config.yaml (through cfg, so values
 * are canonical), eval.csv, train.csv, status.json and the .lock probe.
 * A run may be written to while it is read: a last line without its newline
 * is a line still being written and is ignored. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cfg.h"
#include "core/fsutil.h"
#include "report/report.h"

#define MAX_DEPTH 4

static char *dup_str(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static int file_exists(const char *dir, const char *name)
{
    char *p = fs_join(dir, name);
    struct stat st;
    int ok = p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
    free(p);
    return ok;
}

/* ---- config: every key with the value `mtrl config` prints ---- */

static int add_kv(rep_run *r, const char *key, const char *val, size_t vlen, mtrl_err *e)
{
    rep_kv *kv = realloc(r->kv, (size_t)(r->n_kv + 1) * sizeof *kv);
    if (!kv)
        return err_set(e, MTRL_ENOMEM, "out of memory");
    r->kv = kv;
    kv[r->n_kv].key = dup_str(key, strlen(key));
    kv[r->n_kv].val = dup_str(val, vlen);
    if (!kv[r->n_kv].key || !kv[r->n_kv].val)
        return err_set(e, MTRL_ENOMEM, "out of memory");
    r->n_kv++;
    return 0;
}

/* cfg_print writes "section:" lines and "  key: value  # doc" lines, strings
 * quoted (so a '#' inside one is not a comment). */
static int parse_printed_config(rep_run *r, char *text, mtrl_err *e)
{
    char section[64] = "";
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] != ' ') {
            char *colon = strchr(line, ':');
            if (colon && (size_t)(colon - line) < sizeof section) {
                memcpy(section, line, (size_t)(colon - line));
                section[colon - line] = '\0';
            }
            continue;
        }
        char *k = line + strspn(line, " ");
        char *colon = strchr(k, ':');
        if (!colon || !section[0])
            continue;
        *colon = '\0';
        char *v = colon + 1 + strspn(colon + 1, " ");
        size_t vlen;
        if (*v == '"') {
            char *q = strchr(v + 1, '"');
            v++;
            vlen = q ? (size_t)(q - v) : strlen(v);
        } else {
            char *hash = strstr(v, " #");
            vlen = hash ? (size_t)(hash - v) : strlen(v);
            while (vlen && v[vlen - 1] == ' ')
                vlen--;
        }
        char key[192];
        snprintf(key, sizeof key, "%s.%s", section, k);
        int rc = add_kv(r, key, v, vlen, e);
        if (rc)
            return rc;
    }
    return 0;
}

static int load_config(rep_run *r, mtrl_err *e)
{
    char *path = fs_join(r->dir, "config.yaml");
    if (!path)
        return err_set(e, MTRL_ENOMEM, "out of memory");
    mtrl_config cfg;
    int rc = cfg_load(&cfg, path, NULL, 0, e);
    free(path);
    if (rc)
        return rc;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return err_set(e, MTRL_ENOMEM, "out of memory");
    cfg_print(&cfg, f);
    fclose(f);
    rc = parse_printed_config(r, text, e);
    free(text);
    r->seed = cfg.run.seed;
    r->iterations = cfg.run.iterations;
    return rc;
}

const char *rep_run_get(const rep_run *r, const char *key)
{
    for (int i = 0; i < r->n_kv; i++)
        if (!strcmp(r->kv[i].key, key))
            return r->kv[i].val;
    return NULL;
}

/* ---- CSV as runlog writes it ---- */

typedef struct csv {
    int n_cols, n_rows;
    char **cols;
    double *v; /* n_rows x n_cols */
} csv;

static void csv_free(csv *t)
{
    for (int i = 0; i < t->n_cols; i++)
        free(t->cols[i]);
    free(t->cols);
    free(t->v);
    memset(t, 0, sizeof *t);
}

static int csv_col(const csv *t, const char *name)
{
    for (int i = 0; i < t->n_cols; i++)
        if (!strcmp(t->cols[i], name))
            return i;
    return -1;
}

/* Missing file: 0 rows, not an error (the run has not logged that yet). */
static int csv_load(const char *path, csv *t, mtrl_err *e)
{
    memset(t, 0, sizeof *t);
    char *data;
    size_t len;
    int rc = fs_read_if_exists(path, &data, &len, e);
    if (rc || !data)
        return rc;
    char *p = data, *end = data + len;
    int lineno = 0;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break; /* still being written */
        *nl = '\0';
        lineno++;
        if (lineno == 1) {
            for (char *s = p;;) {
                char *c = strchr(s, ',');
                size_t n = c ? (size_t)(c - s) : strlen(s);
                char **cols = realloc(t->cols, (size_t)(t->n_cols + 1) * sizeof *cols);
                if (!cols || !(cols[t->n_cols] = dup_str(s, n))) {
                    if (cols)
                        t->cols = cols;
                    rc = err_set(e, MTRL_ENOMEM, "out of memory");
                    goto fail;
                }
                t->cols = cols;
                t->n_cols++;
                if (!c)
                    break;
                s = c + 1;
            }
            if (t->n_cols < 2 || strcmp(t->cols[0], "step")) {
                rc = err_set(e, MTRL_EINPUT, "%s:1: header does not start with 'step' (not a "
                                             "log file of mtrl run)", path);
                goto fail;
            }
        } else {
            double *v = realloc(t->v, (size_t)(t->n_rows + 1) * (size_t)t->n_cols * sizeof *v);
            if (!v) {
                rc = err_set(e, MTRL_ENOMEM, "out of memory");
                goto fail;
            }
            t->v = v;
            double *row = v + (size_t)t->n_rows * (size_t)t->n_cols;
            char *s = p;
            for (int c = 0; c < t->n_cols; c++) {
                char *q;
                row[c] = strtod(s, &q);
                int last = c == t->n_cols - 1;
                if (q == s || (*q && *q != ',')) {
                    rc = err_set(e, MTRL_EINPUT, "%s:%d: column %d ('%s'): '%.*s' is not a number",
                                 path, lineno, c + 1, t->cols[c], (int)strcspn(s, ","), s);
                    goto fail;
                }
                if (last ? *q != '\0' : *q != ',') {
                    rc = err_set(e, MTRL_EINPUT, "%s:%d: the row has %s columns than the "
                                                 "header's %d",
                                 path, lineno, *q ? "more" : "fewer", t->n_cols);
                    goto fail;
                }
                s = q + 1;
            }
            t->n_rows++;
        }
        p = nl + 1;
    }
    free(data);
    return 0;
fail:
    free(data);
    csv_free(t);
    return rc;
}

/* The run's log `name` into *t (0 rows if it is not there yet); *path, its
 * path (NULL when out of memory), is for messages: the caller frees both. */
static int load_log(const rep_run *r, const char *name, char **path, csv *t, mtrl_err *e)
{
    memset(t, 0, sizeof *t);
    if (!(*path = fs_join(r->dir, name)))
        return err_set(e, MTRL_ENOMEM, "out of memory");
    return csv_load(*path, t, e);
}

static int load_eval(rep_run *r, mtrl_err *e)
{
    char *path;
    csv t;
    int rc = load_log(r, "eval.csv", &path, &t, e);
    if (rc || t.n_rows == 0)
        goto done;
    int cs = csv_col(&t, "success");
    if (cs < 0) {
        rc = err_set(e, MTRL_EINPUT, "%s: no 'success' column", path);
        goto done;
    }
    int idx[256];
    for (int c = 0; c < t.n_cols && r->n_tasks < 256; c++)
        if (!strncmp(t.cols[c], "success_", 8))
            idx[r->n_tasks++] = c;
    r->tasks = calloc((size_t)r->n_tasks + 1, sizeof *r->tasks);
    r->eval_step = malloc((size_t)t.n_rows * sizeof *r->eval_step);
    r->eval_success = malloc((size_t)t.n_rows * sizeof *r->eval_success);
    r->eval_task = malloc(((size_t)t.n_rows * (size_t)r->n_tasks + 1) * sizeof *r->eval_task);
    if (!r->tasks || !r->eval_step || !r->eval_success || !r->eval_task) {
        rc = err_set(e, MTRL_ENOMEM, "out of memory");
        goto done;
    }
    for (int k = 0; k < r->n_tasks; k++)
        if (!(r->tasks[k] = dup_str(t.cols[idx[k]] + 8, strlen(t.cols[idx[k]] + 8)))) {
            rc = err_set(e, MTRL_ENOMEM, "out of memory");
            goto done;
        }
    r->n_evals = t.n_rows;
    r->best_row = -1;
    for (int i = 0; i < t.n_rows; i++) {
        const double *row = t.v + (size_t)i * (size_t)t.n_cols;
        r->eval_step[i] = (int64_t)row[0];
        r->eval_success[i] = row[cs];
        for (int k = 0; k < r->n_tasks; k++)
            r->eval_task[(size_t)i * (size_t)r->n_tasks + (size_t)k] = row[idx[k]];
        if (isfinite(row[cs]) && (r->best_row < 0 || row[cs] > r->eval_success[r->best_row]))
            r->best_row = i;
    }
done:
    csv_free(&t);
    free(path);
    return rc;
}

/* Wall time: each train row covers (step - previous step) iterations at its
 * iters_per_s, which the trainer measures from the previous row (or from the
 * start of the process, after a resume), so time between a stop and a resume
 * is not counted while evaluation time is. */
static int load_train(rep_run *r, mtrl_err *e)
{
    char *path;
    csv t;
    int rc = load_log(r, "train.csv", &path, &t, e);
    r->wall_s = NAN;
    r->episodes = NAN;
    if (rc || t.n_rows == 0)
        goto done;
    int cs = csv_col(&t, "iters_per_s"), ce = csv_col(&t, "episodes");
    if (cs < 0 || ce < 0) {
        rc = err_set(e, MTRL_EINPUT, "%s: no '%s' column", path, cs < 0 ? "iters_per_s" : "episodes");
        goto done;
    }
    double wall = 0, prev = 0;
    for (int i = 0; i < t.n_rows; i++) {
        const double *row = t.v + (size_t)i * (size_t)t.n_cols;
        if (row[cs] > 0 && isfinite(row[cs]))
            wall += (row[0] - prev) / row[cs];
        prev = row[0];
    }
    const double *last = t.v + (size_t)(t.n_rows - 1) * (size_t)t.n_cols;
    r->wall_s = wall;
    r->episodes = last[ce];
    if ((int64_t)last[0] > r->iteration)
        r->iteration = (int64_t)last[0];
done:
    csv_free(&t);
    free(path);
    return rc;
}

/* ---- status.json (written by mtrl run) and the .lock probe ---- */

/* The raw text after "key": in a flat JSON object, or NULL. */
static const char *json_value(const char *s, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(s, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    p += strspn(p, " \t\r\n");
    if (*p != ':')
        return NULL;
    p++;
    return p + strspn(p, " \t\r\n");
}

/* 1: another process holds the run's lock (a live mtrl run), 0: free or no
 * lock file. A shared, non-blocking probe, released at once. */
static int lock_held(const char *dir)
{
    char *path = fs_join(dir, ".lock");
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    free(path);
    if (fd < 0)
        return 0;
    int held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}

static void load_status(rep_run *r)
{
    char *path = fs_join(r->dir, "status.json"), *text = NULL;
    mtrl_err ignore = {0};
    int have = path && file_exists(r->dir, "status.json") &&
               fs_read_all(path, &text, NULL, &ignore) == 0;
    free(path);
    int held = lock_held(r->dir);
    int64_t logged = r->iteration;
    if (have) {
        const char *v;
        if ((v = json_value(text, "iteration")) && *v != 'n')
            r->iteration = strtoll(v, NULL, 10);
        if ((v = json_value(text, "iterations")) && *v != 'n')
            r->iterations = strtoll(v, NULL, 10);
        if ((v = json_value(text, "state")) && *v == '"') {
            size_t n = strcspn(v + 1, "\"");
            snprintf(r->state, sizeof r->state, "%.*s", (int)(n < 15 ? n : 15), v + 1);
        }
        free(text);
        if (logged > r->iteration)
            r->iteration = logged;
    }
    r->finished = r->iteration >= r->iterations;
    if (r->finished)
        snprintf(r->state, sizeof r->state, "done");
    else if (held)
        snprintf(r->state, sizeof r->state, "running");
    else if (!have || !r->state[0])
        snprintf(r->state, sizeof r->state, "incomplete");
    else if (!strcmp(r->state, "running"))
        /* status says running but nobody holds the lock: killed. */
        snprintf(r->state, sizeof r->state, "interrupted");
}

int rep_load_run(const char *dir, rep_run *r, mtrl_err *e)
{
    memset(r, 0, sizeof *r);
    r->best_row = -1;
    r->wall_s = r->episodes = NAN;
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    if (!(r->dir = dup_str(dir, n)))
        return err_set(e, MTRL_ENOMEM, "out of memory");
    int rc;
    if ((rc = load_config(r, e)) || (rc = load_eval(r, e)) || (rc = load_train(r, e)))
        return rc;
    if (r->n_evals && r->eval_step[r->n_evals - 1] > r->iteration)
        r->iteration = r->eval_step[r->n_evals - 1];
    load_status(r);
    return 0;
}

void rep_runs_free(rep_run *runs, int n)
{
    for (int i = 0; runs && i < n; i++) {
        rep_run *r = &runs[i];
        for (int k = 0; k < r->n_kv; k++) {
            free(r->kv[k].key);
            free(r->kv[k].val);
        }
        for (int k = 0; r->tasks && k < r->n_tasks; k++)
            free(r->tasks[k]);
        free(r->kv);
        free(r->tasks);
        free(r->dir);
        free(r->eval_step);
        free(r->eval_success);
        free(r->eval_task);
    }
    free(runs);
}

/* ---- discovery ---- */

typedef struct path_list {
    int n, cap;
    char **p;
} path_list;

static int list_add(path_list *l, const char *p, mtrl_err *e)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->p[i], p))
            return 0;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **q = realloc(l->p, (size_t)cap * sizeof *q);
        if (!q)
            return err_set(e, MTRL_ENOMEM, "out of memory");
        l->p = q;
        l->cap = cap;
    }
    if (!(l->p[l->n] = dup_str(p, strlen(p))))
        return err_set(e, MTRL_ENOMEM, "out of memory");
    l->n++;
    return 0;
}

static int find_in(const char *dir, int depth, path_list *l, mtrl_err *e)
{
    if (file_exists(dir, "config.yaml"))
        return list_add(l, dir, e);
    if (depth >= MAX_DEPTH)
        return 0;
    DIR *d = opendir(dir);
    if (!d)
        return depth == 0 ? err_set(e, MTRL_EINPUT, "%s: cannot open: %s", dir, strerror(errno))
                          : 0;
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char *sub = fs_join(dir, de->d_name);
        if (!sub) {
            rc = err_set(e, MTRL_ENOMEM, "out of memory");
            break;
        }
        if (fs_is_dir(sub))
            rc = find_in(sub, depth + 1, l, e);
        free(sub);
    }
    closedir(d);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int rep_find_runs(const char *const *dirs, int n, rep_run **runs, int *n_runs, mtrl_err *e)
{
    *runs = NULL;
    *n_runs = 0;
    path_list l = {0};
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        int before = l.n;
        if (!fs_is_dir(dirs[i]))
            rc = err_set(e, MTRL_EINPUT, "%s: not a directory", dirs[i]);
        else if (!(rc = find_in(dirs[i], 0, &l, e)) && l.n == before)
            rc = err_set(e, MTRL_EINPUT,
                         "%s: no run directory (one holding config.yaml) in it or %d levels "
                         "below",
                         dirs[i], MAX_DEPTH);
    }
    if (!rc)
        qsort(l.p, (size_t)l.n, sizeof *l.p, cmp_str);
    rep_run *rs = rc ? NULL : calloc((size_t)l.n + 1, sizeof *rs);
    if (!rc && !rs)
        rc = err_set(e, MTRL_ENOMEM, "out of memory");
    int loaded = 0;
    while (!rc && loaded < l.n)
        rc = rep_load_run(l.p[loaded], &rs[loaded], e), loaded++; /* a failed one is freed too */
    for (int i = 0; i < l.n; i++)
        free(l.p[i]);
    free(l.p);
    if (rc) {
        rep_runs_free(rs, loaded);
        return rc;
    }
    *runs = rs;
    *n_runs = l.n;
    return 0;
}
