#include "runlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"

typedef struct log_kind {
    char name[32];
    FILE *csv;
    char *csv_path;
    int n;
    char **cols; /* the column names fixed by the first event */
} log_kind;

struct log_writer {
    char *dir;
    FILE *jsonl;
    char *jsonl_path;
    int append;
    int nkinds;
    log_kind kinds[LOG_MAX_KINDS];
    char *line; /* scratch for one output line, sized per kind */
    size_t line_cap;
};

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Size of path, or -1 if it does not exist. */
static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* A crash can cut the last line short; appending after it would glue the
 * fragment to the next event, so cut the file back to its last newline. */
static int trim_partial_line(const char *path, mtrl_err *e)
{
    int fd = open(path, O_RDWR);
    if (fd < 0)
        return errno == ENOENT ? 0 : err_set(e, MTRL_EIO, "%s: %s", path, strerror(errno));
    off_t end = lseek(fd, 0, SEEK_END), keep = 0, pos = end;
    char buf[4096];
    int found = 0;
    while (pos > 0 && !found) {
        off_t start = pos > (off_t)sizeof buf ? pos - (off_t)sizeof buf : 0;
        ssize_t got = pread(fd, buf, (size_t)(pos - start), start);
        if (got != pos - start) {
            close(fd);
            return err_set(e, MTRL_EIO, "%s: read failed", path);
        }
        for (ssize_t i = got - 1; i >= 0; i--)
            if (buf[i] == '\n') {
                keep = start + i + 1;
                found = 1;
                break;
            }
        pos = start;
    }
    int rc = 0;
    if (keep != end && ftruncate(fd, keep) != 0)
        rc = err_set(e, MTRL_EIO, "%s: cannot drop a partial last line: %s", path,
                     strerror(errno));
    close(fd);
    return rc;
}

int log_open(log_writer **out, const char *run_dir, int append, mtrl_err *e)
{
    *out = NULL;
    if (!fs_is_dir(run_dir))
        return err_set(e, MTRL_EIO, "%s: run directory does not exist", run_dir);
    log_writer *w = calloc(1, sizeof *w);
    if (!w)
        return err_set(e, MTRL_ENOMEM, "out of memory");
    w->append = append;
    w->dir = fs_join(run_dir, "");
    w->jsonl_path = fs_join(run_dir, "metrics.jsonl");
    w->line_cap = 1024;
    w->line = malloc(w->line_cap);
    if (!w->dir || !w->jsonl_path || !w->line) {
        log_close(w);
        return err_set(e, MTRL_ENOMEM, "out of memory");
    }
    w->dir[strlen(w->dir) - 1] = '\0';
    int rc = 0;
    if (!append && file_size(w->jsonl_path) > 0)
        rc = err_set(e, MTRL_EINPUT,
                     "%s: already holds logged events (resume the run to append, or use "
                     "another run directory)",
                     w->jsonl_path);
    if (!rc && append)
        rc = trim_partial_line(w->jsonl_path, e);
    if (!rc && !(w->jsonl = fopen(w->jsonl_path, append ? "a" : "w")))
        rc = err_set(e, MTRL_EIO, "%s: cannot open: %s", w->jsonl_path, strerror(errno));
    if (rc) {
        log_close(w);
        return rc;
    }
    *out = w;
    return 0;
}

static void kind_free(log_kind *kd)
{
    if (kd->csv)
        fclose(kd->csv);
    for (int i = 0; i < kd->n; i++)
        free(kd->cols[i]);
    free(kd->cols);
    free(kd->csv_path);
    memset(kd, 0, sizeof *kd);
}

void log_close(log_writer *w)
{
    if (!w)
        return;
    for (int k = 0; k < w->nkinds; k++)
        kind_free(&w->kinds[k]);
    if (w->jsonl)
        fclose(w->jsonl);
    free(w->jsonl_path);
    free(w->dir);
    free(w->line);
    free(w);
}

static int valid_kind(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > 31)
        return 0;
    for (const char *p = k; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return 0;
    return 1;
}

/* Names go unquoted into a CSV header and quoted into JSON keys, so keep
 * out everything that would need escaping in either. */
static int check_names(const char *kind, int n, const char *const *names, mtrl_err *e)
{
    for (int i = 0; i < n; i++) {
        const char *s = names[i];
        size_t len = s ? strlen(s) : 0;
        if (len == 0 || len >= LOG_MAX_NAME)
            return err_set(e, MTRL_EINPUT, "log event '%s': value name %d is empty or too long",
                           kind, i);
        for (const char *p = s; *p; p++)
            if (*p <= ' ' || *p > '~' || *p == ',' || *p == '"' || *p == '\\')
                return err_set(e, MTRL_EINPUT,
                               "log event '%s': value name '%s' has a character not allowed "
                               "(space, comma, quote, backslash or non-ASCII)",
                               kind, s);
        if (!strcmp(s, "kind") || !strcmp(s, "step") || !strcmp(s, "wall_time"))
            return err_set(e, MTRL_EINPUT, "log event '%s': value name '%s' is reserved", kind,
                           s);
        for (int j = 0; j < i; j++)
            if (!strcmp(s, names[j]))
                return err_set(e, MTRL_EINPUT, "log event '%s': value name '%s' repeated",
                               kind, s);
    }
    return 0;
}

/* Writes the CSV header for names into buf; returns its length. */
static size_t header_line(char *buf, size_t cap, int n, const char *const *names)
{
    size_t k = (size_t)snprintf(buf, cap, "step,wall_time");
    for (int i = 0; i < n && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, ",%s", names[i]);
    if (k < cap)
        k += (size_t)snprintf(buf + k, cap - k, "\n");
    return k;
}

static int grow_line(log_writer *w, size_t need, mtrl_err *e)
{
    if (need <= w->line_cap)
        return 0;
    char *p = realloc(w->line, need);
    if (!p)
        return err_set(e, MTRL_ENOMEM, "out of memory");
    w->line = p;
    w->line_cap = need;
    return 0;
}

static int open_kind(log_writer *w, log_kind *kd, const char *kind, int n,
                     const char *const *names, mtrl_err *e);

/* First event of a kind: fix its columns and open its CSV, checking an
 * existing header when appending. A kind that fails is forgotten, so the
 * next event of that kind reports the same problem again. */
static int add_kind(log_writer *w, const char *kind, int n, const char *const *names,
                    log_kind **out, mtrl_err *e)
{
    if (w->nkinds == LOG_MAX_KINDS)
        return err_set(e, MTRL_EINPUT, "log event '%s': more than %d event kinds", kind,
                       LOG_MAX_KINDS);
    int rc = check_names(kind, n, names, e);
    if (rc)
        return rc;
    size_t need = 64;
    for (int i = 0; i < n; i++)
        need += strlen(names[i]) + 32; /* JSON key, quotes, a %.10g value */
    if ((rc = grow_line(w, need + 128, e)))
        return rc;
    log_kind *kd = &w->kinds[w->nkinds];
    memset(kd, 0, sizeof *kd);
    rc = open_kind(w, kd, kind, n, names, e);
    if (rc) {
        kind_free(kd);
        return rc;
    }
    w->nkinds++;
    *out = kd;
    return 0;
}

static int open_kind(log_writer *w, log_kind *kd, const char *kind, int n,
                     const char *const *names, mtrl_err *e)
{
    int rc = 0;
    snprintf(kd->name, sizeof kd->name, "%s", kind);
    char file[48];
    snprintf(file, sizeof file, "%s.csv", kind);
    kd->csv_path = fs_join(w->dir, file);
    kd->cols = calloc((size_t)(n ? n : 1), sizeof *kd->cols);
    if (!kd->csv_path || !kd->cols)
        return err_set(e, MTRL_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]) + 1;
        if (!(kd->cols[i] = malloc(len)))
            return err_set(e, MTRL_ENOMEM, "out of memory");
        memcpy(kd->cols[i], names[i], len);
        kd->n = i + 1;
    }

    size_t hlen = header_line(w->line, w->line_cap, n, names);
    long long size = file_size(kd->csv_path);
    if (size > 0 && !w->append)
        return err_set(e, MTRL_EINPUT, "%s: already exists (resume the run to append)",
                       kd->csv_path);
    int write_header = 1;
    if (size > 0) {
        if ((rc = trim_partial_line(kd->csv_path, e)))
            return rc;
        FILE *fp = fopen(kd->csv_path, "r");
        if (!fp)
            return err_set(e, MTRL_EIO, "%s: cannot open: %s", kd->csv_path, strerror(errno));
        char *old = NULL;
        size_t ocap = 0;
        ssize_t got = getline(&old, &ocap, fp);
        fclose(fp);
        if (got > 0) {
            write_header = 0;
            if ((size_t)got != hlen || memcmp(old, w->line, hlen)) {
                old[strcspn(old, "\n")] = '\0';
                w->line[hlen - 1] = '\0';
                rc = err_set(e, MTRL_EINPUT,
                             "%s: existing columns '%s' differ from this run's '%s'",
                             kd->csv_path, old, w->line);
            }
        }
        free(old);
        if (rc)
            return rc;
    }
    if (!(kd->csv = fopen(kd->csv_path, "a")))
        return err_set(e, MTRL_EIO, "%s: cannot open: %s", kd->csv_path, strerror(errno));
    if (write_header && (fwrite(w->line, 1, hlen, kd->csv) != hlen || fflush(kd->csv) != 0))
        return err_set(e, MTRL_EIO, "%s: write failed: %s", kd->csv_path, strerror(errno));
    return 0;
}

static int same_names(const log_kind *kd, int n, const char *const *names)
{
    if (kd->n != n)
        return 0;
    for (int i = 0; i < n; i++)
        if (strcmp(kd->cols[i], names[i]))
            return 0;
    return 1;
}

static size_t put_num(char *buf, size_t cap, double v, int json)
{
    if (isfinite(v))
        return (size_t)snprintf(buf, cap, "%.10g", v);
    if (json)
        return (size_t)snprintf(buf, cap, "null");
    return (size_t)snprintf(buf, cap, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
}

int log_event(log_writer *w, const char *kind, int64_t step, int n, const char *const *names,
              const double *values, mtrl_err *e)
{
    if (!w)
        return err_set(e, MTRL_EINPUT, "log_event: no log writer");
    if (!kind || !valid_kind(kind))
        return err_set(e, MTRL_EINPUT,
                       "log event kind '%s' must be 1-31 characters of [A-Za-z0-9_-]",
                       kind ? kind : "(null)");
    if (n < 0 || (n > 0 && (!names || !values)))
        return err_set(e, MTRL_EINPUT, "log event '%s': bad value list", kind);
    log_kind *kd = NULL;
    for (int k = 0; k < w->nkinds; k++)
        if (!strcmp(w->kinds[k].name, kind))
            kd = &w->kinds[k];
    int rc;
    if (!kd && (rc = add_kind(w, kind, n, names, &kd, e)))
        return rc;
    if (!same_names(kd, n, names)) {
        char want[400];
        size_t k = 0;
        want[0] = '\0';
        for (int i = 0; i < kd->n && k < sizeof want; i++)
            k += (size_t)snprintf(want + k, sizeof want - k, i ? ",%s" : "%s", kd->cols[i]);
        return err_set(e, MTRL_EINPUT,
                       "log event '%s' at step %lld: value names differ from the first '%s' "
                       "event (%d names: %s)",
                       kind, (long long)step, kind, kd->n, want);
    }
    double t = wall_now();
    char *b = w->line;
    size_t cap = w->line_cap, k;

    k = (size_t)snprintf(b, cap, "%" PRId64 ",%.3f", step, t);
    for (int i = 0; i < n; i++) {
        b[k++] = ',';
        k += put_num(b + k, cap - k, values[i], 0);
    }
    b[k++] = '\n';
    if (fwrite(b, 1, k, kd->csv) != k || fflush(kd->csv) != 0)
        return err_set(e, MTRL_EIO, "%s: write failed: %s", kd->csv_path, strerror(errno));

    k = (size_t)snprintf(b, cap, "{\"kind\":\"%s\",\"step\":%" PRId64 ",\"wall_time\":%.3f",
                         kind, step, t);
    for (int i = 0; i < n; i++) {
        k += (size_t)snprintf(b + k, cap - k, ",\"%s\":", names[i]);
        k += put_num(b + k, cap - k, values[i], 1);
    }
    b[k++] = '}';
    b[k++] = '\n';
    if (fwrite(b, 1, k, w->jsonl) != k || fflush(w->jsonl) != 0)
        return err_set(e, MTRL_EIO, "%s: write failed: %s", w->jsonl_path, strerror(errno));
    return 0;
}

/* ---- resume: drop events past the checkpoint ---- */

/* Pulls the value of a top-level "key": from one of our own JSON lines. */
static const char *json_field(const char *line, const char *key)
{
    char pat[48];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    return p ? p + strlen(pat) : NULL;
}

/* Commas outside nothing: our CSV values and names never hold quotes. */
static int count_commas(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == ',';
    return n;
}

/* Our JSON lines are one flat object: "{...}" with no other brace (names
 * and kinds hold none). */
static int json_line_shaped(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || s[0] != '{' || s[n - 1] != '}')
        return 0;
    for (size_t i = 1; i + 1 < n; i++)
        if (s[i] == '{' || s[i] == '}')
            return 0;
    return 1;
}

/* Keeps the first `head` lines of path and the lines whose step is at most
 * max_step, and writes the result atomically. A line that does not have the
 * shape of ours (a CSV row with another column count than the header, a
 * JSON line not "{...}") is a remnant of a failed write glued to a later
 * one: it is dropped, as is a last line without its newline. For JSON
 * lines, the kinds seen on any line (kept or not) are collected into kinds. */
static int filter_file(const char *path, int head, int64_t max_step, int is_json,
                       char kinds[][32], int *nkinds, mtrl_err *e)
{
    char *data;
    size_t len;
    int rc = fs_read_if_exists(path, &data, &len, e);
    if (rc || !data)
        return rc;
    char *out = malloc(len + 1);
    if (!out) {
        free(data);
        return err_set(e, MTRL_ENOMEM, "out of memory");
    }
    size_t o = 0;
    int lineno = 0, header_commas = 0;
    for (char *p = data; p < data + len;) {
        char *nl = memchr(p, '\n', (size_t)(data + len - p));
        if (!nl)
            break; /* partial last line: drop it */
        *nl = '\0';
        int keep = lineno < head;
        if (lineno == 0 && !is_json)
            header_commas = count_commas(p);
        int shaped = is_json ? json_line_shaped(p) : lineno == 0 || count_commas(p) == header_commas;
        if (!keep && !shaped) {
            lineno++;
            p = nl + 1;
            continue;
        }
        if (!keep) {
            const char *s = is_json ? json_field(p, "step") : p;
            char *end;
            errno = 0;
            long long v = s ? strtoll(s, &end, 10) : 0;
            if (!s || end == s || errno) {
                free(out);
                free(data);
                return err_set(e, MTRL_EINPUT, "%s:%d: no step in this line", path,
                               lineno + 1);
            }
            keep = v <= max_step;
        }
        if (is_json && kinds) {
            const char *kv = json_field(p, "kind");
            if (kv && *kv == '"') {
                char name[32];
                size_t m = 0;
                for (kv++; *kv && *kv != '"' && m < sizeof name - 1; kv++)
                    name[m++] = *kv;
                name[m] = '\0';
                int seen = 0;
                for (int i = 0; i < *nkinds; i++)
                    seen |= !strcmp(kinds[i], name);
                if (!seen && valid_kind(name) && *nkinds < LOG_MAX_KINDS)
                    memcpy(kinds[(*nkinds)++], name, sizeof name);
            }
        }
        if (keep) {
            size_t l = (size_t)(nl - p);
            memcpy(out + o, p, l);
            o += l;
            out[o++] = '\n';
        }
        lineno++;
        p = nl + 1;
    }
    rc = fs_write_atomic(path, out, o, e);
    free(out);
    free(data);
    return rc;
}

int log_drop_after(const char *run_dir, int64_t step, mtrl_err *e)
{
    char *jp = fs_join(run_dir, "metrics.jsonl");
    if (!jp)
        return err_set(e, MTRL_ENOMEM, "out of memory");
    /* The CSVs to filter are those of every kind metrics.jsonl mentions. */
    char kinds[LOG_MAX_KINDS][32];
    int nkinds = 0;
    int rc = filter_file(jp, 0, step, 1, kinds, &nkinds, e);
    free(jp);
    for (int k = 0; k < nkinds && !rc; k++) {
        char file[48];
        snprintf(file, sizeof file, "%.31s.csv", kinds[k]);
        char *cp = fs_join(run_dir, file);
        if (!cp)
            return err_set(e, MTRL_ENOMEM, "out of memory");
        rc = filter_file(cp, 1, step, 0, NULL, NULL, e);
        free(cp);
    }
    return rc;
}
