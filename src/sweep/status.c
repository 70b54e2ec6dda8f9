/* sweep status: the state of one run read from its directory alone
 * (status.json, the .lock, eval.csv, the log), so it works the same for
 * runs started by any executor, on any node that sees the directory. */
#include "sweep/sweep_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cfg.h"
#include "core/fsutil.h"
#include "core/h5io.h"

int sweep_json_field(const char *json, const char *key, char *out, size_t cap)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(json, pat);
    if (!p)
        return -1;
    p += strlen(pat);
    while (*p == ' ' || *p == '\t' || *p == '\n')
        p++;
    if (*p++ != ':')
        return -1;
    while (*p == ' ' || *p == '\t' || *p == '\n')
        p++;
    size_t j = 0;
    if (*p == '"') {
        for (p++; *p && *p != '"' && j + 1 < cap; p++) {
            if (*p == '\\' && p[1])
                p++;
            out[j++] = *p;
        }
    } else if (!strncmp(p, "null", 4)) {
        j = 0;
    } else {
        while (*p && !strchr(",} \t\n", *p) && j + 1 < cap)
            out[j++] = *p++;
    }
    out[j] = 0;
    return 0;
}

/* 1 if a live process holds run_dir/.lock (core/fsutil's reading of the
 * run-directory lock), 0 if not or there is none. */
static int locked(const char *run_dir)
{
    long pid;
    char host[256];
    return fs_dir_locked(run_dir, &pid, host, sizeof host) == 1;
}

/* The last step and the best mean success of eval.csv (header
 * "step,wall_time,success,..."). */
static void read_eval(const char *run_dir, int64_t *last, double *best)
{
    char p[SWEEP_PATH_LEN + 16];
    snprintf(p, sizeof p, "%s/eval.csv", run_dir);
    FILE *f = fopen(p, "r");
    if (!f)
        return;
    char line[16384];
    int col = -1;
    if (fgets(line, sizeof line, f)) {
        int c = 0;
        for (char *t = strtok(line, ",\n"); t; t = strtok(NULL, ",\n"), c++)
            if (!strcmp(t, "success"))
                col = c;
    }
    while (col >= 0 && fgets(line, sizeof line, f)) {
        char *save = NULL;
        int c = 0;
        for (char *t = strtok_r(line, ",\n", &save); t; t = strtok_r(NULL, ",\n", &save), c++) {
            if (c == 0)
                *last = strtoll(t, NULL, 10);
            if (c == col && strtod(t, NULL) > *best)
                *best = strtod(t, NULL);
        }
    }
    fclose(f);
}

/* The step of train.csv's last row (its tail only: the file grows long). */
static int64_t train_last_step(const char *run_dir)
{
    char p[SWEEP_PATH_LEN + 16];
    snprintf(p, sizeof p, "%s/train.csv", run_dir);
    FILE *f = fopen(p, "r");
    if (!f)
        return -1;
    char buf[4097];
    fseek(f, 0, SEEK_END);
    long end = ftell(f), from = end > 4096 ? end - 4096 : 0;
    fseek(f, from, SEEK_SET);
    size_t n = fread(buf, 1, 4096, f);
    fclose(f);
    buf[n] = 0;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = 0;
    char *last = strrchr(buf, '\n');
    last = last ? last + 1 : (from == 0 ? buf : NULL);
    if (!last || !(*last >= '0' && *last <= '9'))
        return -1;
    return strtoll(last, NULL, 10);
}

/* The last line of the log that looks like an error, for failed runs that
 * recorded none. */
static void log_error(const char *log_path, char *out, size_t cap)
{
    FILE *f = log_path ? fopen(log_path, "r") : NULL;
    if (!f)
        return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!strncmp(line, "[mtrl sweep exec ", 17))
            continue; /* our own lines; the run's say what went wrong */
        if (strstr(line, "error") || strstr(line, "mtrl run: ") || strstr(line, "failed"))
            if (!strstr(line, "mtrl run: training") && !strstr(line, "mtrl run: resuming") &&
                !strstr(line, "mtrl run: done") && !strstr(line, "mtrl run: stopped"))
                sweep_copy(out, cap, line);
    }
    fclose(f);
}

/* 1 if the log's last sweep exec outcome is a failure. */
static int log_failed(const char *log_path)
{
    FILE *f = log_path ? fopen(log_path, "r") : NULL;
    if (!f)
        return 0;
    char line[2048];
    int failed = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "[mtrl sweep exec ", 17) && strstr(line, " exited "))
            failed = strstr(line, "-> failed") != NULL;
    fclose(f);
    return failed;
}

/* Without a .lock (an mtrl older than the run-directory contract): the
 * run's log says whether sweep exec started it and has not seen it exit. */
static int exec_running(const char *run_dir, const char *log_path)
{
    char p[SWEEP_PATH_LEN + 16];
    snprintf(p, sizeof p, "%s/.lock", run_dir);
    FILE *f = log_path && access(p, F_OK) ? fopen(log_path, "r") : NULL;
    if (!f)
        return 0;
    char line[2048];
    int running = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "[mtrl sweep exec ", 17))
            continue;
        if (strstr(line, ": starting ") || strstr(line, ": resuming "))
            running = 1;
        else if (strstr(line, "exited"))
            running = 0;
    }
    fclose(f);
    return running;
}

/* Without status.json: the checkpoint's iteration against the run's
 * run.iterations (the trainer always checkpoints its last iteration). */
static void read_checkpoint(const char *run_dir, int64_t *iter, int64_t *total)
{
    char p[SWEEP_PATH_LEN + 32];
    snprintf(p, sizeof p, "%s/config.yaml", run_dir);
    mtrl_config *c = malloc(sizeof *c);
    if (c && !cfg_load(c, p, NULL, 0, NULL))
        *total = c->run.iterations;
    free(c);
    snprintf(p, sizeof p, "%s/checkpoint.h5", run_dir);
    h5_file *f;
    if (access(p, F_OK) || h5_open(&f, p, NULL))
        return;
    if (h5_read_attr_i64(f, "/", "iteration", iter, NULL))
        *iter = -1;
    h5_close(f);
}

void sweep_read_status(const char *run_dir, const char *log_path, sweep_run_status *st)
{
    memset(st, 0, sizeof *st);
    st->state = SWEEP_PENDING;
    st->iteration = st->iterations = -1;
    st->best_success = -1;
    char p[SWEEP_PATH_LEN + 16], v[256];
    snprintf(p, sizeof p, "%s/config.yaml", run_dir);
    int started = access(p, F_OK) == 0;
    int live = locked(run_dir);
    snprintf(p, sizeof p, "%s/status.json", run_dir);
    char *json = NULL;
    if (!fs_read_all(p, &json, NULL, NULL)) {
        if (!sweep_json_field(json, "iteration", v, sizeof v) && v[0])
            st->iteration = strtoll(v, NULL, 10);
        if (!sweep_json_field(json, "iterations", v, sizeof v) && v[0])
            st->iterations = strtoll(v, NULL, 10);
        if (!sweep_json_field(json, "best_success", v, sizeof v) && v[0])
            st->best_success = strtod(v, NULL);
        if (!sweep_json_field(json, "error", v, sizeof v))
            snprintf(st->error, sizeof st->error, "%s", v);
        if (sweep_json_field(json, "state", v, sizeof v))
            v[0] = 0;
        free(json);
        if (!strcmp(v, "done"))
            st->state = SWEEP_DONE;
        else if (!strcmp(v, "failed"))
            st->state = SWEEP_FAILED;
        else if (!strcmp(v, "stopped"))
            st->state = live ? SWEEP_RUNNING : SWEEP_STOPPED;
        else /* "running": believe it only while someone holds the lock */
            st->state = live ? SWEEP_RUNNING : SWEEP_INTERRUPTED;
    } else if (started) {
        /* A run without status.json (an mtrl older than the run-directory
         * contract): running while locked, otherwise resumable. */
        st->state = live || exec_running(run_dir, log_path) ? SWEEP_RUNNING : SWEEP_STOPPED;
        if (!live) {
            read_checkpoint(run_dir, &st->iteration, &st->iterations);
            if (st->iteration >= 0 && st->iterations > 0 && st->iteration >= st->iterations)
                st->state = SWEEP_DONE;
        }
    }
    if (st->state == SWEEP_PENDING && log_failed(log_path)) {
        /* mtrl run removes the directory of a run that failed to start. */
        st->state = SWEEP_FAILED;
        log_error(log_path, st->error, sizeof st->error);
    }
    int64_t last = -1;
    double best = -1;
    read_eval(run_dir, &last, &best);
    /* status.json moves at checkpoints only; a live run's train.csv is newer. */
    int64_t trained = st->iteration < 0 || st->state == SWEEP_RUNNING ? train_last_step(run_dir) : -1;
    if (trained > st->iteration)
        st->iteration = trained;
    if (st->iteration < 0)
        st->iteration = last;
    if (st->best_success < 0)
        st->best_success = best;
    if (st->state == SWEEP_FAILED && !st->error[0])
        log_error(log_path, st->error, sizeof st->error);
}

const char *sweep_state_word(sweep_state s)
{
    switch (s) {
    case SWEEP_PENDING:
        return "pending";
    case SWEEP_RUNNING:
        return "running";
    case SWEEP_DONE:
        return "done";
    case SWEEP_FAILED:
        return "failed";
    case SWEEP_STOPPED:
        return "stopped";
    case SWEEP_INTERRUPTED:
        return "interrupted";
    }
    return "?";
}
