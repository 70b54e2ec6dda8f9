/* mtrl report: the results table of run and sweep directories (src/report). */
#include <errno.h>
#include <inttypes.h>
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

static int parse_i64(const char *opt, const char *s, int64_t min, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min) {
        fprintf(stderr, "mtrl report: %s '%s': expected an integer >= %lld\n", opt, s,
                (long long)min);
        return -1;
    }
    *out = v;
    return 0;
}

int cmd_report(int argc, char **argv)
{
    const char **dirs = calloc((size_t)argc + 1, sizeof *dirs);
    const char **by = calloc((size_t)argc + 64, sizeof *by);
    char *by_buf = NULL;
    int n_dirs = 0, rc = 2, fmt = REP_FMT_MD;
    const char *out = NULL;
    rep_opts o = {.stat = REP_STAT_MEAN, .bootstrap = 2000, .seed = 0, .at = -1};
    if (!dirs || !by) {
        free(dirs);
        free(by);
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int next = i + 1 < argc;
        int64_t v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            rc = 0;
            goto done;
        } else if (!strcmp(a, "--by") && next) {
            free(by_buf);
            by_buf = strdup(argv[++i]);
            o.n_by = 0;
            for (char *t = strtok(by_buf, ","); t && o.n_by < 63; t = strtok(NULL, ","))
                by[o.n_by++] = t;
            if (!o.n_by) {
                fprintf(stderr, "mtrl report: --by needs config keys, e.g. mtl.method\n");
                goto done;
            }
        } else if (!strcmp(a, "--format") && next) {
            if ((fmt = rep_format_parse(argv[++i])) < 0) {
                fprintf(stderr, "mtrl report: --format '%s': expected md, csv, json or latex\n",
                        argv[i]);
                goto done;
            }
        } else if (!strcmp(a, "--at") && next) {
            if (parse_i64("--at", argv[++i], 0, &o.at))
                goto done;
        } else if (!strcmp(a, "--stat") && next) {
            const char *s = argv[++i];
            if (!strcmp(s, "mean"))
                o.stat = REP_STAT_MEAN;
            else if (!strcmp(s, "iqm"))
                o.stat = REP_STAT_IQM;
            else {
                fprintf(stderr, "mtrl report: --stat '%s': expected mean or iqm\n", s);
                goto done;
            }
        } else if (!strcmp(a, "--bootstrap") && next) {
            if (parse_i64("--bootstrap", argv[++i], 1, &v))
                goto done;
            if (v > 10000000) {
                fprintf(stderr, "mtrl report: --bootstrap %lld: at most 10000000\n", (long long)v);
                goto done;
            }
            o.bootstrap = (int)v;
        } else if (!strcmp(a, "--seed") && next) {
            if (parse_i64("--seed", argv[++i], 0, &v))
                goto done;
            o.seed = (uint64_t)v;
        } else if (!strcmp(a, "--per-task")) {
            o.per_task = 1;
        } else if (!strcmp(a, "--out") && next) {
            out = argv[++i];
        } else if (a[0] == '-') {
            fprintf(stderr, "mtrl report: unknown option or missing value: '%s' (mtrl report "
                            "--help)\n", a);
            goto done;
        } else {
            dirs[n_dirs++] = a;
        }
    }
    if (!n_dirs) {
        usage(stderr);
        goto done;
    }
    o.by = by;
    mtrl_err e = {0};
    rep_run *runs;
    int n_runs;
    rep_report *rp = NULL;
    char *text = NULL;
    size_t len = 0;
    int lrc = rep_find_runs(dirs, n_dirs, &runs, &n_runs, &e);
    if (!lrc)
        lrc = rep_report_create(&rp, runs, n_runs, &o, &e);
    if (!lrc) {
        FILE *f = open_memstream(&text, &len);
        if (!f)
            lrc = err_set(&e, MTRL_ENOMEM, "out of memory");
        else {
            lrc = rep_write(rp, (rep_format)fmt, f, &e);
            fclose(f);
        }
    }
    if (!lrc && out)
        lrc = fs_write_atomic(out, text, len, &e);
    else if (!lrc && fwrite(text, 1, len, stdout) != len)
        lrc = err_set(&e, MTRL_EIO, "writing to stdout failed");
    if (lrc) {
        fprintf(stderr, "mtrl report: %s\n", e.msg);
        rc = err_exit_code(lrc);
    } else {
        if (out)
            fprintf(stderr, "mtrl report: wrote %s\n", out);
        rc = 0;
    }
    free(text);
    rep_report_destroy(rp);
done:
    free(by_buf);
    free(dirs);
    free(by);
    return rc;
}
