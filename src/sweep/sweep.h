/* sweep: grids of runs. A sweep file (YAML) names configs, axes of --set
 * keys with their values, and seeds; it expands into runs with stable,
 * readable names, in a stable order, each validated up front with the real
 * config loader. A sweep directory holds the resolved sweep (sweep.yaml), the
 * manifest of its runs (manifest.csv), one ordinary run directory per run
 * (runs/<name>/), one log per run (logs/<name>.log) and the Slurm files
 * (slurm/). Executors run each run as a child `mtrl run` process: locally, N
 * at a time, or as the tasks of one Slurm job array; runs share nothing but
 * their run directories, so a run directory is the unit of work, resume and
 * results. Depends on core only (never on sac, envs or the CLI); it never
 * prints: progress goes through a callback, errors through mtrl_err. */
#ifndef MTRL_SWEEP_SWEEP_H
#define MTRL_SWEEP_SWEEP_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define SWEEP_PATH_LEN 1024
#define SWEEP_KEY_LEN 128
#define SWEEP_VAL_LEN 256
#define SWEEP_KV_LEN (SWEEP_KEY_LEN + SWEEP_VAL_LEN + 2)
#define SWEEP_NAME_LEN 200
#define SWEEP_MAX_CONFIGS 64
#define SWEEP_MAX_AXES 8
#define SWEEP_MAX_VALUES 64
#define SWEEP_MAX_SETS 32
#define SWEEP_MAX_SEEDS 1000
#define SWEEP_MAX_EXTRA 16
#define SWEEP_MAX_RUNS 100000

/* One `key: value` of the sweep file: key path, value as YAML text (what a
 * --set takes), and the line it came from. */
typedef struct sweep_kv {
    char key[SWEEP_KEY_LEN];
    char val[SWEEP_VAL_LEN];
    int line;
} sweep_kv;

typedef struct sweep_config {
    char path[SWEEP_PATH_LEN]; /* absolute */
    char label[SWEEP_NAME_LEN]; /* the config's part of run names */
    int line;
    sweep_kv set[SWEEP_MAX_SETS]; /* overrides of this config only */
    int n_set;
} sweep_config;

typedef struct sweep_axis {
    char key[SWEEP_KEY_LEN];
    char label[SWEEP_KEY_LEN]; /* the key's part of run names */
    int line;
    char vals[SWEEP_MAX_VALUES][SWEEP_VAL_LEN];
    int n_vals;
} sweep_axis;

typedef struct sweep_slurm {
    char partition[SWEEP_VAL_LEN], time[SWEEP_VAL_LEN], mem[SWEEP_VAL_LEN],
        account[SWEEP_VAL_LEN];
    int cpus_per_task; /* 0: run.threads of the runs (1 if that is 0) */
    char extra[SWEEP_MAX_EXTRA][SWEEP_VAL_LEN]; /* whole "#SBATCH ..." lines */
    int n_extra;
    int signal_lead; /* seconds before the time limit Slurm sends USR1 */
} sweep_slurm;

typedef struct sweep_run {
    int index;
    char name[SWEEP_NAME_LEN];
    int config;                 /* index into spec->configs */
    int val[SWEEP_MAX_AXES];    /* value index per axis */
    int has_seed;               /* 0: the config's own run.seed */
    int64_t seed;
    int64_t iterations;         /* run.iterations of the resolved config */
} sweep_run;

typedef struct sweep_spec {
    char file[SWEEP_PATH_LEN]; /* the sweep file as given */
    char dir[SWEEP_PATH_LEN];  /* the sweep directory it was opened from ("" if none): runs
                                * then resolve from their config snapshots there */
    char name[SWEEP_NAME_LEN];
    sweep_config configs[SWEEP_MAX_CONFIGS];
    int n_configs;
    int64_t seeds[SWEEP_MAX_SEEDS];
    int n_seeds; /* 0: no seed axis */
    sweep_axis axes[SWEEP_MAX_AXES];
    int n_axes;
    sweep_kv set[SWEEP_MAX_SETS]; /* overrides of every run */
    int n_set;
    sweep_slurm slurm;
    int local_parallel;          /* 0: cores / run.threads */
    int max_threads;             /* largest run.threads of the runs (after validation) */
    int all_cores;               /* some run has run.threads 0 (every core of its machine) */
    sweep_run *runs;
    int n_runs;
} sweep_spec;

/* ---- expansion (parse.c, expand.c) ---- */

/* Reads a sweep file, expands it into runs and validates every run with the
 * config loader (cfg_load with its overrides). Relative config paths are
 * taken from the sweep file's directory, else from the current directory.
 * Errors name file:line: key, or the run. *out is freed with sweep_destroy. */
int sweep_load(sweep_spec **out, const char *path, mtrl_err *err);
void sweep_destroy(sweep_spec *s);

/* A check of a run's resolved config beyond the config loader's (the CLI
 * checks task names with envs, which sweep must not depend on). Returns 0 or
 * a negative code with the message in *err. */
struct mtrl_config;
typedef int (*sweep_check_fn)(const struct mtrl_config *c, mtrl_err *err);

/* sweep_load, with check applied to every run's resolved config. */
int sweep_load_checked(sweep_spec **out, const char *path, sweep_check_fn check, mtrl_err *err);

/* The overrides of run r as "key=value" texts, in the order they apply:
 * sweep `set`, the config's `set`, the axes, run.seed. Returns the count. */
int sweep_run_sets(const sweep_spec *s, const sweep_run *r, char (*out)[SWEEP_KV_LEN], int cap);

/* The same joined by spaces (for listings and the manifest). */
void sweep_run_overrides(const sweep_spec *s, const sweep_run *r, char *out, size_t cap);

/* ---- the sweep directory (sweepdir.c) ---- */

/* The text of manifest.csv: index,name,config,overrides,seed. Caller frees. */
char *sweep_manifest_text(const sweep_spec *s);

/* The resolved sweep as YAML that sweep_load reads back (absolute config
 * paths, seeds as a list). Caller frees. */
char *sweep_resolved_text(const sweep_spec *s);

/* Creates dir with runs/, logs/ and slurm/, writes sweep.yaml and
 * manifest.csv. A dir that already holds a manifest of a different
 * expansion is refused (MTRL_EINPUT): two grids never mix. */
int sweep_dir_prepare(const sweep_spec *s, const char *dir, mtrl_err *err);

/* Loads dir/sweep.yaml and checks it still expands to dir/manifest.csv. */
int sweep_dir_open(sweep_spec **out, const char *dir, mtrl_err *err);

/* dir/runs/<name> and dir/logs/<name>.log. */
void sweep_run_dir(const char *dir, const sweep_run *r, char *out, size_t cap);
void sweep_log_path(const char *dir, const sweep_run *r, char *out, size_t cap);

/* ---- the state of a run, from its directory (status.c) ---- */

typedef enum {
    SWEEP_PENDING,     /* not started */
    SWEEP_RUNNING,     /* a live mtrl run holds its lock */
    SWEEP_DONE,        /* finished every iteration */
    SWEEP_FAILED,      /* stopped by an error */
    SWEEP_STOPPED,     /* stopped by a signal at a checkpoint: resumable */
    SWEEP_INTERRUPTED, /* killed: says running but nobody holds the lock */
} sweep_state;

typedef struct sweep_run_status {
    sweep_state state;
    int64_t iteration, iterations; /* -1 if unknown */
    double best_success;           /* < 0 if unknown */
    char error[256];               /* last error line, or "" */
} sweep_run_status;

/* Reads run_dir's status.json, its .lock and eval.csv (and the tail of the
 * run's log for a failure without a recorded error). Never fails: a missing
 * directory is PENDING. */
void sweep_read_status(const char *run_dir, const char *log_path, sweep_run_status *st);
const char *sweep_state_word(sweep_state s);

/* ---- running one run (exec.c) ---- */

typedef struct sweep_exec_opts {
    const char *self;                    /* the mtrl binary */
    volatile sig_atomic_t *signal;       /* set by the caller's handler to the signal number */
    int in_slurm;                        /* requeue this array task when stopped by a signal */
} sweep_exec_opts;

/* Runs or resumes run `index` of the sweep in dir as a child `mtrl run`,
 * output appended to its log; a signal (via opts->signal) is passed on to
 * the child as one SIGTERM. *exit_code receives the command's exit code:
 * 0 done, 3 stopped at a checkpoint (resumable), else the child's failure. */
int sweep_exec(const sweep_spec *s, const char *dir, int index, const sweep_exec_opts *opts,
               int *exit_code, mtrl_err *err);

/* ---- local executor (local.c) ---- */

typedef struct sweep_progress {
    int done, running, pending, failed, stopped;
    int64_t iteration, iterations; /* summed over the runs that report them */
    double elapsed;                /* seconds */
} sweep_progress;

typedef struct sweep_local_opts {
    const char *self;
    int parallel;
    volatile sig_atomic_t *stop; /* 1: stop every run at a checkpoint; 2: kill them now (a run
                                  * resumes from its last checkpoint) */
    void (*progress)(void *ctx, const sweep_progress *p);
    void *ctx;
} sweep_local_opts;

/* Runs every run of the sweep in dir that is not done, in manifest order,
 * opts->parallel at a time, each as `self sweep exec dir i`. *result: 0 all
 * done, 3 stopped by opts->stop, 1 some run failed. */
int sweep_local(const sweep_spec *s, const char *dir, const sweep_local_opts *opts, int *result,
                mtrl_err *err);

/* ---- Slurm executor (slurm.c) ---- */

/* The batch script of a job array over runs idx[0..n) (text; caller frees).
 * self and dir must be absolute. */
char *sweep_slurm_script(const sweep_spec *s, const char *dir, const char *self, const int *idx,
                         int n);

/* Writes dir/slurm/submit.sbatch, submits it with sbatch, appends the job id
 * to dir/slurm/jobs. */
int sweep_slurm_submit(const sweep_spec *s, const char *dir, const char *self, const int *idx,
                       int n, char *job_id, size_t cap, mtrl_err *err);

/* The Slurm state of each run (states[i] "" if none) from squeue, for the
 * jobs recorded in dir/slurm/jobs. Returns 0, or -1 if there are no jobs or
 * squeue cannot be run. */
int sweep_slurm_states(const sweep_spec *s, const char *dir, char (*states)[32]);

/* Asks Slurm to requeue this array task (SLURM_ARRAY_JOB_ID and
 * SLURM_ARRAY_TASK_ID, or SLURM_JOB_ID). */
int sweep_slurm_requeue_self(char *what, size_t cap, mtrl_err *err);

#endif
