/* mtrl sweep status SWEEP_DIR [--json]: one row per run, from the run
 * directories (and Slurm's queue when jobs were submitted). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli/sweep_cli.h"
#include "sweep/sweep.h"

static void json_str(const char *s)
{
    putchar('"');
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if ((unsigned char)*p < 0x20)
            printf("\\u%04x", (unsigned char)*p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void json_str_or_null(const char *s)
{
    if (s[0])
        json_str(s);
    else
        printf("null");
}

/* Fills *dir and *json from argv: -1 to go on, else the exit code. */
static int status_parse_args(int argc, char **argv, const char **dir, int *json)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            *json = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: mtrl sweep status SWEEP_DIR [--json]\n\n"
                   "One row per run: state (pending, running, done, failed, stopped = resumable,\n"
                   "interrupted = killed, resumable), iteration/total, best mean eval success so far,\n"
                   "the Slurm state when jobs were submitted and squeue answers, the last error line.\n");
            return 0;
        } else if (argv[i][0] == '-' || *dir) {
            fprintf(stderr, "mtrl sweep status: unexpected argument '%s'\n", argv[i]);
            return 2;
        } else
            *dir = argv[i];
    }
    if (!*dir) {
        fprintf(stderr, "usage: mtrl sweep status SWEEP_DIR [--json]\n");
        return 2;
    }
    return -1;
}

/* Every run's state from its run directory and log. */
static void read_statuses(const sweep_spec *s, const char *dir, sweep_run_status *st)
{
    for (int i = 0; i < s->n_runs; i++) {
        char rd[PATH_MAX], log[PATH_MAX];
        sweep_run_dir(dir, &s->runs[i], rd, sizeof rd);
        sweep_log_path(dir, &s->runs[i], log, sizeof log);
        sweep_read_status(rd, log, &st[i]);
        if (st[i].iterations <= 0)
            st[i].iterations = s->runs[i].iterations;
    }
}

static void print_status_json(const sweep_spec *s, const char *dir, const sweep_run_status *st,
                              char (*slurm)[32])
{
    printf("{\"sweep\": ");
    json_str(s->name);
    printf(", \"dir\": ");
    json_str(dir);
    printf(", \"runs\": [");
    for (int i = 0; i < s->n_runs; i++) {
        printf("%s\n  {\"index\": %d, \"name\": ", i ? "," : "", i);
        json_str(s->runs[i].name);
        printf(", \"state\": \"%s\", \"iteration\": ", sweep_state_word(st[i].state));
        printf(st[i].iteration >= 0 ? "%lld" : "null", (long long)st[i].iteration);
        printf(", \"iterations\": ");
        printf(st[i].iterations >= 0 ? "%lld" : "null", (long long)st[i].iterations);
        if (st[i].best_success >= 0)
            printf(", \"best_success\": %.6g", st[i].best_success);
        else
            printf(", \"best_success\": null");
        printf(", \"slurm\": ");
        json_str_or_null(slurm[i]);
        printf(", \"error\": ");
        json_str_or_null(st[i].error);
        printf("}");
    }
    printf("\n]}\n");
}

static void print_status_table(const sweep_spec *s, const char *dir, const sweep_run_status *st,
                               char (*slurm)[32], int have_slurm)
{
    int count[SWEEP_INTERRUPTED + 1] = {0};
    for (int i = 0; i < s->n_runs; i++)
        count[st[i].state]++;
    printf("sweep %s (%s): %d runs: %d done, %d running, %d pending, %d failed, %d stopped, %d interrupted\n",
           s->name, dir, s->n_runs, count[SWEEP_DONE], count[SWEEP_RUNNING], count[SWEEP_PENDING],
           count[SWEEP_FAILED], count[SWEEP_STOPPED], count[SWEEP_INTERRUPTED]);
    printf("%5s  %-36s %-11s %19s %6s%s  %s\n", "index", "name", "state", "iteration", "best",
           have_slurm ? "  slurm     " : "", "last error");
    for (int i = 0; i < s->n_runs; i++) {
        char it[48] = "-", best[16] = "-";
        if (st[i].iterations > 0)
            snprintf(it, sizeof it, "%lld/%lld", (long long)(st[i].iteration > 0 ? st[i].iteration : 0), (long long)st[i].iterations);
        else if (st[i].iteration >= 0)
            snprintf(it, sizeof it, "%lld", (long long)st[i].iteration);
        if (st[i].best_success >= 0)
            snprintf(best, sizeof best, "%.3f", st[i].best_success);
        printf("%5d  %-36s %-11s %19s %6s", i, s->runs[i].name, sweep_state_word(st[i].state), it, best);
        if (have_slurm)
            printf("  %-10s", slurm[i][0] ? slurm[i] : "-");
        printf("  %s\n", st[i].error);
    }
}

int cmd_sweep_status(int argc, char **argv)
{
    const char *dir = NULL;
    int json = 0;
    int rc = status_parse_args(argc, argv, &dir, &json);
    if (rc >= 0)
        return rc;
    mtrl_err err = {0};
    sweep_spec *s;
    if ((rc = sweep_dir_open(&s, dir, &err))) {
        fprintf(stderr, "mtrl sweep status: %s\n", err.msg);
        return err_exit_code(rc);
    }
    char(*slurm)[32] = calloc((size_t)s->n_runs, 32);
    sweep_run_status *st = calloc((size_t)s->n_runs, sizeof *st);
    rc = 1;
    if (slurm && st) {
        int have_slurm = sweep_slurm_states(s, dir, slurm) == 0;
        read_statuses(s, dir, st);
        if (json)
            print_status_json(s, dir, st, slurm);
        else
            print_status_table(s, dir, st, slurm, have_slurm);
        rc = 0;
    }
    free(slurm);
    free(st);
    sweep_destroy(s);
    return rc;
}
