/* Inside the report module: the computed report that group.c fills and
 * format.c writes. */
#ifndef MTRL_REPORT_IMPL_H
#define MTRL_REPORT_IMPL_H

#include "report/report.h"

enum { REP_M_BEST, REP_M_FINAL, REP_M_AT, REP_N_METRICS };

typedef struct rep_metric {
    int n;            /* runs with a value */
    double value;     /* mean, or IQM */
    double se;        /* standard error (mean); NAN for n < 2 or IQM */
    double lo, hi;    /* bootstrap interval (IQM); NAN for mean */
} rep_metric;

typedef struct rep_gstats {
    int n_done, n_unfinished;
    rep_metric m[REP_N_METRICS];
    int64_t at_min, at_max;   /* eval rows used for --at (at_min > at_max: none) */
    int n_tasks;
    char **tasks;             /* union over the group's runs, first seen first */
    double *task_success;     /* mean over runs of the best row's per-task success */
    double s_per_episode;     /* mean over runs (NAN: no train.csv) */
    double wall_s;            /* mean over runs */
} rep_gstats;

typedef struct rep_protocol {
    char *val[REP_N_PROTOCOL_KEYS];
} rep_protocol;

struct rep_report {
    rep_opts opts;
    rep_run *runs;
    int n_runs;
    int n_groups;
    rep_group *groups;
    rep_gstats *stats;
    int n_protos;
    rep_protocol *protos;
    int n_tasks;              /* union over all groups, for the per-task table */
    char **tasks;
};

/* Per-run metric value: m of run r (NAN if it has no eval row); for REP_M_AT
 * the step of the row used goes to *step. */
double rep_run_metric(const rep_run *r, int m, int64_t at, int64_t *step);

#endif
