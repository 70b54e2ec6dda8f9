/* sweep internals shared by the module's files; not a public header. */
#ifndef MTRL_SWEEP_IMPL_H
#define MTRL_SWEEP_IMPL_H

#include <stdio.h>
#include <string.h>

#include "sweep/sweep.h"

/* Copies src into dst[cap], cut short if longer (names, messages). */
static inline void sweep_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* parse.c: the file into s (configs resolved, nothing expanded). */
int sweep_parse_file(sweep_spec *s, const char *path, mtrl_err *err);

/* status.c: a flat JSON object's field as text ("" for null), or -1. */
int sweep_json_field(const char *json, const char *key, char *out, size_t cap);

/* exec.c: starts argv[0] with argv in its own process group (so a terminal's
 * Ctrl-C reaches only us, and we pass on exactly one signal), stdout and
 * stderr appended to log_path (NULL: inherited). Returns the pid or -1. */
int sweep_spawn(char *const argv[], const char *log_path, mtrl_err *err);

/* expand.c: run r's resolved config: its snapshot in s->dir/configs/
 * when there is one, else its config file with the run's overrides. */
struct mtrl_config;
int sweep_resolve_run(const sweep_spec *s, const sweep_run *r, struct mtrl_config *cfg, mtrl_err *e);

/* dir/configs/<name>.yaml: run r's config snapshot. */
static inline void sweep_config_path(const char *dir, const sweep_run *r, char *out, size_t cap)
{
    snprintf(out, cap, "%s/configs/%s.yaml", dir, r->name);
}

/* expand.c: run r's config from its config file and overrides, ignoring
 * snapshots. */
int sweep_resolve_source(const sweep_spec *s, const sweep_run *r, struct mtrl_config *cfg, mtrl_err *e);

/* snapshot.c: writes each run's resolved config into dir/configs/, or, where
 * a snapshot exists, refuses (MTRL_EINPUT, naming the run and the key) a
 * config that now resolves to other values. */
int sweep_snapshot_configs(const sweep_spec *s, const char *dir, mtrl_err *err);

/* expand.c: sweep_load_checked for a sweep opened from its directory. */
int sweep_load_in(sweep_spec **out, const char *path, const char *dir, sweep_check_fn check, mtrl_err *err);

/* A growing text buffer (text NULL after an allocation failure). */
typedef struct sweep_buf {
    char *text;
    size_t len, cap;
} sweep_buf;
void sweep_buf_printf(sweep_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
