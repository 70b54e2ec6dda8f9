/* mtrl report: the results table of run and sweep directories (src/report). */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/err.h"
#include "core/fsutil.h"
#include "report/report.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mtrl report DIR... [--by KEYS] [--format md|csv|json|latex] [--at N]\n"
            "                   [--stat mean|iqm] [--bootstrap B] [--seed S] [--per-task]\n"
            "                   [--out FILE]\n\n"
            "The results table of runs. DIR is a run directory (holding config.yaml) or any\n"
            "directory with run directories below it (a sweep directory: SWEEP_DIR/runs/*).\n"
            "Runs that differ only by run.seed (and name, place, threads, log.*) form a group;\n"
            "per group: seeds, best success (max over evaluations of the mean success over\n"
            "tasks, the CAGrad/CARE protocol), final success, success at --at N, time per\n"
            "episode and wall time. Unfinished runs are included and marked with their\n"
            "iteration. Runs of one group evaluated with different protocols (eval.episodes,\n"
            "eval.deterministic, env.max_episode_steps, env.goals) are refused (exit 2).\n\n"
            "  --by KEYS        group by these comma-separated config keys instead\n"
            "                   (e.g. mtl.method,env.benchmark)\n"
            "  --format F       md (default), csv, json or latex (booktabs)\n"
            "  --at N           also the success at iteration N (the evaluation at N, or the\n"
            "                   last one before it)\n"
            "  --stat S         mean: mean +- standard error (default); iqm: interquartile\n"
            "                   mean with 95%% stratified-bootstrap intervals\n"
            "  --bootstrap B    bootstrap resamples (default 2000)\n"
            "  --seed S         seed of the bootstrap (default 0)\n"
            "  --per-task       add the per-task success table (best evaluation, mean over\n"
            "                   seeds)\n"
            "  --out FILE       write there (atomically) instead of stdout\n");
}

typedef struct report_args {
    const char **dirs; /* room for argc */
    const char **by;   /* room for argc + 64 */
    char *by_buf;      /* the strings of by */
    int n_dirs, fmt;
    const char *out;
    rep_opts o;
} report_args;

/* The options that take a value. */
static const char *const value_opts[] = {"--by",        "--format", "--at",  "--stat",
                                         "--bootstrap", "--seed",   "--out", NULL};

static int takes_value(const char *opt)
{
    for (int i = 0; value_opts[i]; i++)
        if (!strcmp(opt, value_opts[i]))
            return 1;
    return 0;
}

static int parse_by(report_args *a, const char *v)
{
    free(a->by_buf);
    a->by_buf = strdup(v);
    a->o.n_by = 0;
    for (char *t = strtok(a->by_buf, ","); t && a->o.n_by < 63; t = strtok(NULL, ","))
        a->by[a->o.n_by++] = t;
    if (!a->o.n_by) {
        fprintf(stderr, "mtrl report: --by needs config keys, e.g. mtl.method\n");
        return 2;
    }
    return 0;
}

/* Option opt (one of value_opts) with its value v: 0, or 2 (said why). */
static int parse_value_opt(report_args *a, const char *opt, const char *v)
{
    long n;
    if (!strcmp(opt, "--by"))
        return parse_by(a, v);
    if (!strcmp(opt, "--format")) {
        if ((a->fmt = rep_format_parse(v)) < 0) {
            fprintf(stderr, "mtrl report: --format '%s': expected md, csv, json or latex\n", v);
            return 2;
        }
    } else if (!strcmp(opt, "--at")) {
        if (cli_parse_long("report", opt, v, 0, LONG_MAX, &n))
            return 2;
        a->o.at = n;
    } else if (!strcmp(opt, "--stat")) {
        if (strcmp(v, "mean") && strcmp(v, "iqm")) {
            fprintf(stderr, "mtrl report: --stat '%s': expected mean or iqm\n", v);
            return 2;
        }
        a->o.stat = !strcmp(v, "mean") ? REP_STAT_MEAN : REP_STAT_IQM;
    } else if (!strcmp(opt, "--bootstrap")) {
        if (cli_parse_long("report", opt, v, 1, 10000000, &n))
            return 2;
        a->o.bootstrap = (int)n;
    } else if (!strcmp(opt, "--seed")) {
        if (cli_parse_long("report", opt, v, 0, LONG_MAX, &n))
            return 2;
        a->o.seed = (uint64_t)n;
    } else {
        a->out = v;
    }
    return 0;
}

/* Fills a from argv: -1 to go on, else the exit code (0 after --help). */
static int report_parse_args(int argc, char **argv, report_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(s, "--per-task")) {
            a->o.per_task = 1;
        } else if (takes_value(s) && i + 1 < argc) {
            if (parse_value_opt(a, s, argv[++i]))
                return 2;
        } else if (s[0] == '-') {
            fprintf(stderr, "mtrl report: unknown option or missing value: '%s' (mtrl report "
                            "--help)\n", s);
            return 2;
        } else {
            a->dirs[a->n_dirs++] = s;
        }
    }
    if (!a->n_dirs) {
        usage(stderr);
        return 2;
    }
    a->o.by = a->by;
    return -1;
}

/* The report of a's runs as text (*text, caller frees). */
static int report_text(report_args *a, char **text, size_t *len, mtrl_err *e)
{
    rep_run *runs;
    int n_runs;
    rep_report *rp = NULL;
    int rc = rep_find_runs(a->dirs, a->n_dirs, &runs, &n_runs, e);
    if (!rc)
        rc = rep_report_create(&rp, runs, n_runs, &a->o, e);
    if (!rc) {
        FILE *f = open_memstream(text, len);
        if (!f)
            rc = err_set(e, MTRL_ENOMEM, "out of memory");
        else {
            rc = rep_write(rp, (rep_format)a->fmt, f, e);
            fclose(f);
        }
    }
    rep_report_destroy(rp);
    return rc;
}

/* Writes the report to --out or stdout; the exit code. */
static int report_write(report_args *a)
{
    mtrl_err e = {0};
    char *text = NULL;
    size_t len = 0;
    int rc = report_text(a, &text, &len, &e);
    if (!rc && a->out)
        rc = fs_write_atomic(a->out, text, len, &e);
    else if (!rc && fwrite(text, 1, len, stdout) != len)
        rc = err_set(&e, MTRL_EIO, "writing to stdout failed");
    free(text);
    if (rc) {
        fprintf(stderr, "mtrl report: %s\n", e.msg);
        return err_exit_code(rc);
    }
    if (a->out)
        fprintf(stderr, "mtrl report: wrote %s\n", a->out);
    return 0;
}

int cmd_report(int argc, char **argv)
{
    report_args a = {.dirs = calloc((size_t)argc + 1, sizeof *a.dirs),
                     .by = calloc((size_t)argc + 64, sizeof *a.by),
                     .fmt = REP_FMT_MD,
                     .o = {.stat = REP_STAT_MEAN, .bootstrap = 2000, .seed = 0, .at = -1}};
    int rc = 1;
    if (a.dirs && a.by) {
        rc = report_parse_args(argc, argv, &a);
        if (rc < 0)
            rc = report_write(&a);
    }
    free(a.by_buf);
    free(a.dirs);
    free(a.by);
    return rc;
}
