/* mtrl sweep: expands a sweep file into runs and runs them with the local
 * or the Slurm executor (subcommands exec and status in their own files). */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli/sweep_cli.h"
#include "core/cfg.h"
#include "core/fsutil.h"
#include "envs/envs.h"
#include "sweep/sweep.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mtrl sweep SWEEP.yaml [--out DIR] [--executor local|slurm] [--dry-run]\n"
            "                  [--parallel N] [--partition P] [--time T] [--cpus-per-task N]\n"
            "                  [--mem M] [--account A]\n"
            "       mtrl sweep status SWEEP_DIR [--json]\n"
            "       mtrl sweep exec SWEEP_DIR INDEX\n\n"
            "Expands SWEEP.yaml (configs x axes x seeds; see sweeps/small.yaml) into runs, validates\n"
            "every run's config, and runs the runs that are not done yet into DIR (default\n"
            "sweeps-out/<name>): sweep.yaml, manifest.csv, configs/<name>.yaml (each run's resolved\n"
            "config, taken at creation: runs start from it; a config that now resolves differently\n"
            "is refused), runs/<name>/, logs/<name>.log, slurm/.\n"
            "Running it again skips finished runs and resumes the others from their checkpoints;\n"
            "a DIR holding a different grid is refused.\n"
            "  --dry-run           list the runs and their overrides, run nothing\n"
            "  --executor local    (default) N runs at a time here, one progress line; Ctrl-C stops\n"
            "                      every run at a checkpoint (exit 3), a second Ctrl-C kills them\n"
            "                      (they resume from their last checkpoint)\n"
            "  --parallel N        local runs at a time (default local.parallel, else cores /\n"
            "                      run.threads; 1 when run.threads is 0, i.e. every core)\n"
            "  --executor slurm    one job array (one task per unfinished run) submitted with\n"
            "                      sbatch; the script stays in DIR/slurm/submit.sbatch\n"
            "  --partition, --time, --cpus-per-task, --mem, --account   override slurm: keys\n"
            "Exit: 0 every run done (local) or submitted (slurm), 1 a run failed, 2 bad input,\n"
            "3 stopped by a signal (resumable).\n");
}

static volatile sig_atomic_t stop_flag;
static void on_stop(int sig)
{
    (void)sig;
    static const char first[] = "\nmtrl sweep: stopping every run at its next checkpoint (up to one episode); "
                                "Ctrl-C again kills them now (they then resume from their last checkpoint)\n";
    static const char second[] = "\nmtrl sweep: killing the runs now\n";
    if (stop_flag < 2)
        stop_flag++;
    /* write(2) is async-signal-safe; a failed write has nowhere to go. */
    if (stop_flag == 1 && write(2, first, sizeof first - 1) < 0)
        return;
    if (stop_flag == 2 && write(2, second, sizeof second - 1) < 0)
        return;
}

static int is_tty;

static void show_progress(void *ctx, const sweep_progress *p)
{
    const char *name = ctx;
    static double last_print = -100;
    static char last[256];
    char line[256];
    int sec = (int)p->elapsed;
    char it[64] = "";
    if (p->iterations > 0)
        snprintf(it, sizeof it, " | iterations %lld/%lld (%.0f%%)", (long long)p->iteration,
                 (long long)p->iterations, 100.0 * (double)p->iteration / (double)p->iterations);
    snprintf(line, sizeof line, "sweep %s: %d done, %d running, %d pending, %d failed%s%s | %dh%02dm%02ds", name,
             p->done, p->running, p->pending + p->stopped, p->failed, p->stopped ? " (some stopped)" : "", it,
             sec / 3600, sec / 60 % 60, sec % 60);
    if (is_tty) {
        fprintf(stderr, "\r%s\033[K", line);
    } else {
        /* Not a terminal (a log file): a line when the counts change, else every 30 s. */
        char *bar = strchr(line, '|');
        size_t k = bar ? (size_t)(bar - line) : strlen(line);
        if (strncmp(line, last, k) || p->elapsed - last_print >= 30) {
            fprintf(stderr, "%s\n", line);
            last_print = p->elapsed;
        }
    }
    snprintf(last, sizeof last, "%s", line);
}

static int dry_run(const sweep_spec *s, const char *dir)
{
    printf("sweep %s: %d runs -> %s\n", s->name, s->n_runs, dir);
    printf("%5s  %-40s  %s\n", "index", "name", "config and overrides");
    char ov[8192];
    for (int i = 0; i < s->n_runs; i++) {
        sweep_run_overrides(s, &s->runs[i], ov, sizeof ov);
        printf("%5d  %-40s  %s %s\n", i, s->runs[i].name, s->configs[s->runs[i].config].path, ov);
    }
    /* Say now if the directory holds another grid. */
    char p[PATH_MAX + 32], *old = NULL, *man = sweep_manifest_text(s);
    snprintf(p, sizeof p, "%s/manifest.csv", dir);
    int rc = 0;
    if (man && !fs_read_all(p, &old, NULL, NULL) && strcmp(old, man)) {
        fprintf(stderr, "mtrl sweep: %s holds a different sweep (its manifest.csv differs): running this "
                        "sweep there would be refused; use another --out\n", dir);
        rc = 2;
    }
    free(old);
    free(man);
    return rc;
}

/* What the config loader cannot know: the benchmark's task names. */
static int check_tasks(const mtrl_config *c, mtrl_err *err)
{
    int idx[64], n;
    int rc = env_benchmark_tasks(c->env.benchmark, idx, 64, &n, err);
    if (rc)
        err_prefix(err, "env.benchmark");
    return rc;
}

typedef struct opts {
    const char *file, *out, *executor;
    int dry, parallel;
    const char *partition, *time, *mem, *account;
    int cpus;
} opts;

/* Where a string-valued option goes, or NULL if a is not one. */
static const char **str_opt(opts *o, const char *a)
{
    return !strcmp(a, "--out")         ? &o->out
           : !strcmp(a, "--executor")  ? &o->executor
           : !strcmp(a, "--partition") ? &o->partition
           : !strcmp(a, "--time")      ? &o->time
           : !strcmp(a, "--mem")       ? &o->mem
           : !strcmp(a, "--account")   ? &o->account
                                       : NULL;
}

/* Where an integer-valued option goes, or NULL if a is not one. */
static int *int_opt(opts *o, const char *a)
{
    return !strcmp(a, "--parallel") ? &o->parallel : !strcmp(a, "--cpus-per-task") ? &o->cpus : NULL;
}

/* Fills o from argv: -1 to go on, else the exit code (0 after --help). */
static int parse_args(int argc, char **argv, opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **sp;
        int *ip;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--dry-run")) {
            o->dry = 1;
        } else if (v && (sp = str_opt(o, a))) {
            *sp = argv[++i];
        } else if (v && (ip = int_opt(o, a))) {
            if (cli_parse_int("sweep", a, argv[++i], 1, 4096, ip))
                return 2;
        } else if (a[0] == '-') {
            fprintf(stderr, "mtrl sweep: unknown option or missing value: '%s' (mtrl sweep --help)\n", a);
            return 2;
        } else if (!o->file) {
            o->file = a;
        } else {
            fprintf(stderr, "mtrl sweep: one SWEEP.yaml only, got '%s' and '%s'\n", o->file, a);
            return 2;
        }
    }
    if (!o->file) {
        usage(stderr);
        return 2;
    }
    if (strcmp(o->executor, "local") && strcmp(o->executor, "slurm")) {
        fprintf(stderr, "mtrl sweep: --executor: expected local or slurm, got \"%s\"\n", o->executor);
        return 2;
    }
    return -1;
}

static void set_str(char *dst, const char *v)
{
    if (v)
        snprintf(dst, SWEEP_VAL_LEN, "%s", v);
}

static int run_slurm(sweep_spec *s, const char *dir, const char *self)
{
    char(*states)[32] = calloc((size_t)s->n_runs, 32);
    int *idx = calloc((size_t)s->n_runs, sizeof *idx);
    if (!states || !idx) {
        free(states);
        free(idx);
        return 1;
    }
    sweep_slurm_states(s, dir, states);
    int n = 0, active = 0, done = 0;
    for (int i = 0; i < s->n_runs; i++) {
        char rd[PATH_MAX];
        sweep_run_dir(dir, &s->runs[i], rd, sizeof rd);
        sweep_run_status st;
        sweep_read_status(rd, NULL, &st);
        if (st.state == SWEEP_DONE)
            done++;
        else if (states[i][0] && strcmp(states[i], "COMPLETED") && strcmp(states[i], "FAILED") &&
                 strcmp(states[i], "CANCELLED") && strcmp(states[i], "TIMEOUT"))
            active++; /* still queued or running in an earlier job */
        else
            idx[n++] = i;
    }
    int rc = 0;
    if (!n) {
        printf("sweep %s: nothing to submit (%d done, %d queued or running in Slurm)\n", s->name, done, active);
    } else {
        char job[64];
        mtrl_err err = {0};
        if (sweep_slurm_submit(s, dir, self, idx, n, job, sizeof job, &err)) {
            fprintf(stderr, "mtrl sweep: %s\n", err.msg);
            rc = 1;
        } else {
            printf("sweep %s: submitted Slurm job %s: %d array tasks (%d done, %d already queued)\n"
                   "  script: %s/slurm/submit.sbatch\n  status: mtrl sweep status %s\n",
                   s->name, job, n, done, active, dir, dir);
        }
    }
    free(states);
    free(idx);
    return rc;
}

/* The --partition, --time, --cpus-per-task, --mem and --account overrides. */
static void apply_slurm_opts(sweep_spec *s, const opts *o)
{
    set_str(s->slurm.partition, o->partition);
    set_str(s->slurm.time, o->time);
    set_str(s->slurm.mem, o->mem);
    set_str(s->slurm.account, o->account);
    if (o->cpus)
        s->slurm.cpus_per_task = o->cpus;
}

/* Runs at a time: --parallel, else local.parallel, else cores / the
 * largest run.threads (1 when a run takes every core). */
static int local_parallel(const sweep_spec *s, const opts *o)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int par = o->parallel ? o->parallel : s->local_parallel;
    if (!par)
        par = s->max_threads > 0 && !s->all_cores ? (int)(cores / s->max_threads) : 1;
    return par < 1 ? 1 : par;
}

/* The local executor: the runs of s in abs (shown as dir), with a progress
 * line; signals stop them at a checkpoint. Returns the exit code. */
static int run_local(sweep_spec *s, const char *dir, const char *abs, const char *self,
                     const opts *o)
{
    int par = local_parallel(s, o);
    fprintf(stderr, "mtrl sweep: %s: %d runs, %d at a time -> %s (logs in %s/logs/)\n", s->name, s->n_runs, par,
            dir, dir);
    struct sigaction sa = {0};
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    is_tty = isatty(2);
    sweep_local_opts lo = {.self = self, .parallel = par, .stop = &stop_flag, .progress = show_progress,
                           .ctx = s->name};
    mtrl_err err = {0};
    int result;
    int rc = sweep_local(s, abs, &lo, &result, &err);
    if (is_tty)
        fprintf(stderr, "\n");
    if (rc)
        fprintf(stderr, "mtrl sweep: %s\n", err.msg);
    else if (result == 0)
        fprintf(stderr, "mtrl sweep: every run done; mtrl sweep status %s\n", dir);
    else if (result == 3)
        fprintf(stderr, "mtrl sweep: stopped; every run kept its checkpoint: run the same command again to resume\n");
    else
        fprintf(stderr, "mtrl sweep: some runs failed: mtrl sweep status %s (logs in %s/logs/)\n", dir, dir);
    return rc ? 1 : result;
}

/* Prepares dir for s and runs it with o's executor; the exit code. */
static int run_sweep(sweep_spec *s, const char *dir, const opts *o)
{
    char self[PATH_MAX], abs[PATH_MAX];
    mtrl_err err = {0};
    int rc;
    if (sweep_cli_self(self, sizeof self))
        return 1;
    if ((rc = sweep_dir_prepare(s, dir, &err))) {
        fprintf(stderr, "mtrl sweep: %s\n", err.msg);
        return err_exit_code(rc);
    }
    /* Absolute from here on: Slurm tasks and children may run elsewhere. */
    if (!realpath(dir, abs)) {
        fprintf(stderr, "mtrl sweep: %s: cannot resolve the path\n", dir);
        return 1;
    }
    if (!strcmp(o->executor, "slurm"))
        return run_slurm(s, abs, self);
    return run_local(s, dir, abs, self, o);
}

int cmd_sweep(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "exec"))
        return cmd_sweep_exec(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "status"))
        return cmd_sweep_status(argc - 1, argv + 1);
    opts o = {.executor = "local"};
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    mtrl_err err = {0};
    sweep_spec *s;
    if ((rc = sweep_load_checked(&s, o.file, check_tasks, &err))) {
        fprintf(stderr, "mtrl sweep: %s\n", err.msg);
        return err_exit_code(rc);
    }
    apply_slurm_opts(s, &o);
    char dir[PATH_MAX];
    if (o.out)
        snprintf(dir, sizeof dir, "%s", o.out);
    else
        snprintf(dir, sizeof dir, "sweeps-out/%s", s->name);
    rc = o.dry ? dry_run(s, dir) : run_sweep(s, dir, &o);
    sweep_destroy(s);
    return rc;
}
