/* report: results of many runs. Finds run directories (a run directory holds
 * config.yaml; a sweep directory holds them under runs/), reads each run's
 * config, eval.csv, train.csv and status.json, groups runs that differ only
 * by seed (or by chosen config keys), checks that a group shares one
 * evaluation protocol, and computes the per-group statistics of the papers'
 * tables: mean +- standard error over seeds (CAGrad/CARE), or the
 * interquartile mean with stratified-bootstrap confidence intervals
 * (Agarwal et al. 2021). Writes the table as Markdown, CSV, JSON or LaTeX,
 * and gives the mean +- s.e. curves that `mtrl plot` draws.
 * Depends on core only (cfg, rng, err, fsutil); never prints to stdout: the
 * caller hands in the FILE to write to. */
#ifndef MTRL_REPORT_REPORT_H
#define MTRL_REPORT_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "core/err.h"

/* ---- statistics over seeds ---- */

typedef enum { REP_STAT_MEAN, REP_STAT_IQM } rep_stat;

/* Arithmetic mean; NAN for n = 0. */
double rep_mean(const double *x, int n);
/* Standard error of the mean: sample standard deviation (n - 1) / sqrt(n);
 * NAN for n < 2 (one seed says nothing about the spread). */
double rep_stderr(const double *x, int n);
/* Interquartile mean as scipy.stats.trim_mean(x, 0.25) (what rliable's
 * aggregate_iqm calls): sort, drop floor(n/4) values at each end, average
 * the rest. No fractional weighting: for n < 4 it is the plain mean. */
double rep_iqm(const double *x, int n);
double rep_stat_value(rep_stat s, const double *x, int n);

/* Percentile bootstrap confidence interval (level, e.g. 0.95) of statistic
 * s over x[0..n). Stratified: each of B resamples draws, within every
 * stratum (strata[i]; NULL = one stratum), as many values as the stratum has,
 * with replacement. The percentiles interpolate linearly between order
 * statistics (numpy's default). Draws come from the project's RNG seeded by
 * seed, so the interval is reproducible. n = 1 gives [x0, x0]. */
int rep_bootstrap_ci(const double *x, const int *strata, int n, rep_stat s, int B,
                     uint64_t seed, double level, double *lo, double *hi, mtrl_err *e);

/* ---- runs ---- */

typedef struct rep_kv {
    char *key; /* "mtl.method" */
    char *val; /* the canonical value as `mtrl config` prints it, unquoted */
} rep_kv;

typedef struct rep_run {
    char *dir;            /* as found (argument path joined with subdirs) */
    int n_kv;
    rep_kv *kv;           /* every config key, canonical values */
    int64_t seed;
    int64_t iterations;   /* the run's total (run.iterations, or status.json) */
    int64_t iteration;    /* how far it got (status.json, or the logs) */
    int finished;         /* 1: reached its iterations */
    char state[16];       /* done, running, stopped, failed, interrupted, incomplete */
    int n_tasks;
    char **tasks;         /* from eval.csv's success_<task> columns */
    int n_evals;
    int64_t *eval_step;
    double *eval_success;  /* mean success over tasks, per eval row */
    double *eval_task;     /* n_evals x n_tasks */
    int best_row;          /* row of the highest mean success (first on ties); -1 none */
    double wall_s;         /* training wall time summed over train rows (NAN: none) */
    double episodes;       /* episodes finished, all envs together (train.csv) */
} rep_run;

/* Finds the run directories at or below each of dirs[0..n) (a directory with
 * config.yaml is a run; others are searched up to 4 levels deep), loads
 * them, sorted by path. No run found under a given directory is an error. */
int rep_find_runs(const char *const *dirs, int n, rep_run **runs, int *n_runs, mtrl_err *e);
/* Loads one run directory. */
int rep_load_run(const char *dir, rep_run *r, mtrl_err *e);
void rep_runs_free(rep_run *runs, int n);

/* The value of config key in a run, or NULL. */
const char *rep_run_get(const rep_run *r, const char *key);

/* ---- groups ---- */

/* The keys of the evaluation protocol: a group must agree on all of them. */
#define REP_N_PROTOCOL_KEYS 4
extern const char *const rep_protocol_keys[REP_N_PROTOCOL_KEYS];

typedef struct rep_group {
    char *label;   /* "method=cagrad" or the --by values */
    int n;         /* runs */
    int *run;      /* indices into the runs array */
    int proto;     /* index of its protocol in the report's list */
} rep_group;

typedef struct rep_opts {
    rep_stat stat;
    int bootstrap;      /* resamples for --stat iqm (default 2000) */
    uint64_t seed;      /* of the bootstrap */
    int64_t at;         /* --at N; -1 = not asked */
    int per_task;       /* add the per-task success table */
    int n_by;
    const char *const *by; /* group by these keys; n_by = 0: every key but the seed's */
} rep_opts;

typedef struct rep_report rep_report;

/* Groups the runs (which the report keeps and frees) and computes the
 * statistics. Runs of one group with different evaluation protocols are
 * MTRL_EINPUT, naming both runs, the key and the two values. */
int rep_report_create(rep_report **out, rep_run *runs, int n_runs, const rep_opts *o,
                      mtrl_err *e);
void rep_report_destroy(rep_report *r);

int rep_report_n_groups(const rep_report *r);
const rep_group *rep_report_group(const rep_report *r, int i);
const rep_run *rep_report_run(const rep_report *r, int i);

typedef enum { REP_FMT_MD, REP_FMT_CSV, REP_FMT_JSON, REP_FMT_LATEX } rep_format;

/* Parses "md", "csv", "json", "latex"; -1 if none. */
int rep_format_parse(const char *s);
int rep_write(const rep_report *r, rep_format f, FILE *out, mtrl_err *e);

/* ---- group curves ---- */

typedef struct rep_curve {
    int n;          /* points: the eval iterations every run of the group has */
    int64_t *step;
    double *mean;   /* of the mean eval success over seeds */
    double *se;     /* standard error (NAN with one seed) */
} rep_curve;

int rep_group_curve(const rep_report *r, int g, rep_curve *c, mtrl_err *e);
void rep_curve_free(rep_curve *c);

#endif
