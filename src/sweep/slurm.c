/* sweep slurm: the Slurm executor. One job array, one task per run; the
 * batch script is kept in the sweep directory (readable, resubmittable by
 * hand); each task execs `mtrl sweep exec DIR $SLURM_ARRAY_TASK_ID`, which
 * requeues its own task when the run stopped at a checkpoint because of the
 * time-limit signal (--signal=B:USR1@LEAD). */
#include "sweep/sweep_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"

#define DEFAULT_SIGNAL_LEAD 300

/* A path or word for a shell command: single-quoted. */
static void shq(sweep_buf *b, const char *s)
{
    sweep_buf_printf(b, "'");
    for (const char *p = s; *p; p++)
        sweep_buf_printf(b, *p == '\'' ? "'\\''" : "%c", *p);
    sweep_buf_printf(b, "'");
}

/* "0-3,5,7-9" from sorted indices. */
static void ranges(sweep_buf *b, const int *idx, int n)
{
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && idx[j + 1] == idx[j] + 1)
            j++;
        sweep_buf_printf(b, "%s%d", i ? "," : "", idx[i]);
        if (j > i)
            sweep_buf_printf(b, "-%d", idx[j]);
        i = j + 1;
    }
}

char *sweep_slurm_script(const sweep_spec *s, const char *dir, const char *self, const int *idx, int n)
{
    const sweep_slurm *sl = &s->slurm;
    sweep_buf b = {0};
    int lead = sl->signal_lead ? sl->signal_lead : DEFAULT_SIGNAL_LEAD;
    int cpus = sl->cpus_per_task ? sl->cpus_per_task : s->max_threads > 0 ? s->max_threads : 1;
    sweep_buf_printf(&b, "#!/bin/bash\n");
    sweep_buf_printf(&b, "# mtrl sweep %s: one Slurm array task per run; the task id is the run's\n"
                         "# index in %s/manifest.csv. Written by mtrl sweep --executor slurm;\n"
                         "# resubmit by hand with: sbatch %s/slurm/submit.sbatch\n"
                         "# Each task runs or resumes its run. USR1 comes %d s before the time limit:\n"
                         "# the run stops at a checkpoint and the task requeues itself.\n",
                     s->name, dir, dir, lead);
    sweep_buf_printf(&b, "#SBATCH --job-name=mtrl-%s\n", s->name);
    sweep_buf_printf(&b, "#SBATCH --array=");
    ranges(&b, idx, n);
    sweep_buf_printf(&b, "\n#SBATCH --output=%s/slurm/%%A_%%a.out\n", dir);
    sweep_buf_printf(&b, "#SBATCH --open-mode=append\n");
    if (sl->partition[0])
        sweep_buf_printf(&b, "#SBATCH --partition=%s\n", sl->partition);
    if (sl->time[0])
        sweep_buf_printf(&b, "#SBATCH --time=%s\n", sl->time);
    sweep_buf_printf(&b, "#SBATCH --cpus-per-task=%d\n", cpus);
    if (sl->mem[0])
        sweep_buf_printf(&b, "#SBATCH --mem=%s\n", sl->mem);
    if (sl->account[0])
        sweep_buf_printf(&b, "#SBATCH --account=%s\n", sl->account);
    sweep_buf_printf(&b, "#SBATCH --requeue\n");
    sweep_buf_printf(&b, "#SBATCH --signal=B:USR1@%d\n", lead);
    for (int i = 0; i < sl->n_extra; i++)
        sweep_buf_printf(&b, "%s\n", sl->extra[i]);
    sweep_buf_printf(&b, "\nexec ");
    shq(&b, self);
    sweep_buf_printf(&b, " sweep exec ");
    shq(&b, dir);
    sweep_buf_printf(&b, " \"$SLURM_ARRAY_TASK_ID\"\n");
    return b.text;
}

/* Runs a shell command, its first output line into out; the exit status. */
static int run_cmd(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char line[1024];
    out[0] = 0;
    while (fgets(line, sizeof line, p))
        if (!out[0] || strstr(line, "error"))
            snprintf(out, cap, "%.*s", (int)strcspn(line, "\r\n"), line);
    int st = pclose(p);
    return st == -1 ? -1 : WEXITSTATUS(st);
}

int sweep_slurm_submit(const sweep_spec *s, const char *dir, const char *self, const int *idx, int n,
                       char *job_id, size_t cap, mtrl_err *err)
{
    char path[SWEEP_PATH_LEN + 64];
    snprintf(path, sizeof path, "%s/slurm/submit.sbatch", dir);
    char *text = sweep_slurm_script(s, dir, self, idx, n);
    if (!text)
        return err_set(err, MTRL_ENOMEM, "out of memory");
    int rc = fs_write_atomic(path, text, strlen(text), err);
    free(text);
    if (rc)
        return rc;
    sweep_buf cmd = {0};
    sweep_buf_printf(&cmd, "sbatch --parsable ");
    shq(&cmd, path);
    sweep_buf_printf(&cmd, " 2>&1");
    if (!cmd.text)
        return err_set(err, MTRL_ENOMEM, "out of memory");
    char out[1024];
    int st = run_cmd(cmd.text, out, sizeof out);
    free(cmd.text);
    if (st == 127 || st < 0)
        return err_set(err, MTRL_ERUNTIME, "sbatch not found: is Slurm installed here? (the script is in %s)", path);
    /* --parsable prints "JOBID" or "JOBID;CLUSTER". */
    size_t k = strspn(out, "0123456789");
    if (st != 0 || !k)
        return err_set(err, MTRL_ERUNTIME, "sbatch %s failed (exit %d): %s", path, st, out);
    snprintf(job_id, cap, "%.*s", (int)k, out);
    char jobs[SWEEP_PATH_LEN + 64];
    snprintf(jobs, sizeof jobs, "%s/slurm/jobs", dir);
    FILE *f = fopen(jobs, "a");
    if (!f)
        return err_set(err, MTRL_EIO, "%s: cannot append job %s: %s", jobs, job_id, strerror(errno));
    sweep_buf arr = {0};
    ranges(&arr, idx, n);
    fprintf(f, "%s %ld %s\n", job_id, (long)time(NULL), arr.text ? arr.text : "");
    free(arr.text);
    if (fclose(f))
        return err_set(err, MTRL_EIO, "%s: write failed", jobs);
    return 0;
}

int sweep_slurm_states(const sweep_spec *s, const char *dir, char (*states)[32])
{
    for (int i = 0; i < s->n_runs; i++)
        states[i][0] = 0;
    char jobs[SWEEP_PATH_LEN + 64];
    snprintf(jobs, sizeof jobs, "%s/slurm/jobs", dir);
    FILE *f = fopen(jobs, "r");
    if (!f)
        return -1;
    sweep_buf cmd = {0};
    sweep_buf_printf(&cmd, "squeue -h -r -o '%%i %%T' -j ");
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        size_t k = strspn(line, "0123456789");
        if (k)
            sweep_buf_printf(&cmd, "%s%.*s", n++ ? "," : "", (int)k, line);
    }
    fclose(f);
    sweep_buf_printf(&cmd, " 2>/dev/null");
    FILE *p = n && cmd.text ? popen(cmd.text, "r") : NULL;
    free(cmd.text);
    if (!p)
        return -1;
    /* Lines "JOBID_TASK STATE"; later jobs (resubmissions) win. */
    while (fgets(line, sizeof line, p)) {
        char id[64], state[32];
        if (sscanf(line, "%63s %31s", id, state) != 2)
            continue;
        char *u = strchr(id, '_');
        if (!u)
            continue;
        int t = atoi(u + 1);
        if (t >= 0 && t < s->n_runs && u[1] >= '0' && u[1] <= '9')
            snprintf(states[t], 32, "%s", state);
    }
    return pclose(p) == 0 ? 0 : -1;
}

int sweep_slurm_requeue_self(char *what, size_t cap, mtrl_err *err)
{
    const char *job = getenv("SLURM_ARRAY_JOB_ID"), *task = getenv("SLURM_ARRAY_TASK_ID");
    if (job && task)
        snprintf(what, cap, "%s_%s", job, task);
    else if (getenv("SLURM_JOB_ID"))
        snprintf(what, cap, "%s", getenv("SLURM_JOB_ID"));
    else
        return err_set(err, MTRL_EINPUT, "not inside a Slurm job");
    for (const char *p = what; *p; p++)
        if (!strchr("0123456789_", *p))
            return err_set(err, MTRL_EINPUT, "odd Slurm job id \"%s\"", what);
    char cmd[256], out[1024];
    snprintf(cmd, sizeof cmd, "scontrol requeue %s 2>&1", what);
    int st = run_cmd(cmd, out, sizeof out);
    if (st != 0)
        return err_set(err, MTRL_ERUNTIME, "scontrol requeue %s: exit %d: %s", what, st, out);
    return 0;
}
