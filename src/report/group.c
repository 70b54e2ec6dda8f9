/* Grouping runs, the protocol check, and the per-group statistics. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_impl.h"

const char *const rep_protocol_keys[REP_N_PROTOCOL_KEYS] = {
    "eval.episodes", "eval.deterministic", "env.max_episode_steps", "env.goals"};

/* Keys that never separate groups: the seed, the run's name and place, the
 * thread count (an execution detail), logging and checkpointing. The protocol
 * keys do not either: runs that differ only there are one experiment
 * evaluated two ways, which must be refused, not shown as two methods. */
static int ignored_key(const char *k)
{
    if (!strcmp(k, "run.seed") || !strcmp(k, "run.name") || !strcmp(k, "run.runs_dir") ||
        !strcmp(k, "run.threads") || !strncmp(k, "log.", 4))
        return 1;
    for (int i = 0; i < REP_N_PROTOCOL_KEYS; i++)
        if (!strcmp(k, rep_protocol_keys[i]))
            return 1;
    return 0;
}

static const char *short_key(const char *k)
{
    const char *d = strrchr(k, '.');
    return d ? d + 1 : k;
}

double rep_run_metric(const rep_run *r, int m, int64_t at, int64_t *step)
{
    if (r->n_evals == 0)
        return NAN;
    if (m == REP_M_BEST)
        return r->best_row >= 0 ? r->eval_success[r->best_row] : NAN;
    if (m == REP_M_FINAL)
        return r->eval_success[r->n_evals - 1];
    int row = -1;
    for (int i = 0; i < r->n_evals; i++)
        if (r->eval_step[i] <= at && (row < 0 || r->eval_step[i] >= r->eval_step[row]))
            row = i;
    if (row < 0)
        return NAN;
    if (step)
        *step = r->eval_step[row];
    return r->eval_success[row];
}

/* The grouping identity of a run: "key=value\n" for the keys that count. */
static char *identity(const rep_run *r, const rep_opts *o)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    if (o->n_by) {
        for (int i = 0; i < o->n_by; i++) {
            const char *v = rep_run_get(r, o->by[i]);
            fprintf(f, "%s=%s\n", o->by[i], v ? v : "");
        }
    } else {
        for (int i = 0; i < r->n_kv; i++)
            if (!ignored_key(r->kv[i].key))
                fprintf(f, "%s=%s\n", r->kv[i].key, r->kv[i].val);
    }
    fclose(f);
    return buf;
}

/* A label naming what sets a group apart: the --by values, or the keys whose
 * values differ between groups (method, benchmark when all agree). */
static int make_labels(rep_report *rp, mtrl_err *e)
{
    const rep_opts *o = &rp->opts;
    const rep_run *first = &rp->runs[rp->groups[0].run[0]];
    const char *keys[64];
    int nk = 0, more = 0;
    if (o->n_by) {
        for (int i = 0; i < o->n_by && nk < 64; i++)
            keys[nk++] = o->by[i];
    } else {
        for (int i = 0; i < first->n_kv; i++) {
            const char *k = first->kv[i].key, *v0 = first->kv[i].val;
            if (ignored_key(k))
                continue;
            int differs = 0;
            for (int g = 1; g < rp->n_groups && !differs; g++) {
                const char *v = rep_run_get(&rp->runs[rp->groups[g].run[0]], k);
                differs = !v || strcmp(v, v0);
            }
            if (!differs)
                continue;
            if (nk < 3)
                keys[nk++] = k;
            else
                more++;
        }
        if (!nk) {
            keys[nk++] = "mtl.method";
            keys[nk++] = "env.benchmark";
        }
    }
    for (int g = 0; g < rp->n_groups; g++) {
        const rep_run *r = &rp->runs[rp->groups[g].run[0]];
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
            return err_set(e, MTRL_ENOMEM, "out of memory");
        for (int i = 0; i < nk; i++) {
            const char *v = rep_run_get(r, keys[i]);
            fprintf(f, "%s%s=%s", i ? ", " : "", short_key(keys[i]), v ? v : "-");
        }
        if (more)
            fprintf(f, " (+%d more keys)", more);
        fclose(f);
        rp->groups[g].label = buf;
    }
    return 0;
}

static int check_protocols(rep_report *rp, mtrl_err *e)
{
    for (int g = 0; g < rp->n_groups; g++) {
        const rep_group *gr = &rp->groups[g];
        const rep_run *a = &rp->runs[gr->run[0]];
        for (int i = 1; i < gr->n; i++) {
            const rep_run *b = &rp->runs[gr->run[i]];
            for (int k = 0; k < REP_N_PROTOCOL_KEYS; k++) {
                const char *va = rep_run_get(a, rep_protocol_keys[k]);
                const char *vb = rep_run_get(b, rep_protocol_keys[k]);
                if (strcmp(va ? va : "", vb ? vb : ""))
                    return err_set(e, MTRL_EINPUT,
                                   "runs %s and %s differ in %s (%s vs %s): they were evaluated "
                                   "with different protocols and are not pooled (report them "
                                   "separately, or add %s to --by)",
                                   a->dir, b->dir, rep_protocol_keys[k], va ? va : "-",
                                   vb ? vb : "-", rep_protocol_keys[k]);
            }
        }
    }
    /* The distinct protocols, for the header. */
    for (int g = 0; g < rp->n_groups; g++) {
        const rep_run *a = &rp->runs[rp->groups[g].run[0]];
        int found = -1;
        for (int p = 0; p < rp->n_protos && found < 0; p++) {
            int same = 1;
            for (int k = 0; k < REP_N_PROTOCOL_KEYS; k++)
                same &= !strcmp(rp->protos[p].val[k], rep_run_get(a, rep_protocol_keys[k]));
            if (same)
                found = p;
        }
        if (found < 0) {
            rep_protocol *np = realloc(rp->protos, (size_t)(rp->n_protos + 1) * sizeof *np);
            if (!np)
                return err_set(e, MTRL_ENOMEM, "out of memory");
            rp->protos = np;
            for (int k = 0; k < REP_N_PROTOCOL_KEYS; k++)
                if (!(np[rp->n_protos].val[k] = strdup(rep_run_get(a, rep_protocol_keys[k]))))
                    return err_set(e, MTRL_ENOMEM, "out of memory");
            found = rp->n_protos++;
        }
        rp->groups[g].proto = found;
    }
    return 0;
}

static int add_task(char ***tasks, int *n, const char *t)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp((*tasks)[i], t))
            return i;
    char **p = realloc(*tasks, (size_t)(*n + 1) * sizeof *p);
    if (!p)
        return -1;
    *tasks = p;
    if (!(p[*n] = strdup(t)))
        return -1;
    return (*n)++;
}

static int group_stats(rep_report *rp, int g, mtrl_err *e)
{
    const rep_group *gr = &rp->groups[g];
    rep_gstats *s = &rp->stats[g];
    const rep_opts *o = &rp->opts;
    double *x = malloc((size_t)gr->n * sizeof *x);
    int *strata = malloc((size_t)gr->n * sizeof *strata);
    const char **bench = malloc((size_t)gr->n * sizeof *bench);
    double *tsum = NULL;
    int *tcnt = NULL, rc = 0;
    if (!x || !strata || !bench) {
        rc = err_set(e, MTRL_ENOMEM, "out of memory");
        goto done;
    }
    s->at_min = INT64_MAX;
    s->at_max = INT64_MIN;
    for (int i = 0; i < gr->n; i++) {
        const rep_run *r = &rp->runs[gr->run[i]];
        if (r->finished)
            s->n_done++;
        else
            s->n_unfinished++;
    }
    for (int m = 0; m < REP_N_METRICS; m++) {
        rep_metric *mt = &s->m[m];
        mt->value = mt->se = mt->lo = mt->hi = NAN;
        if (m == REP_M_AT && o->at < 0)
            continue;
        int n = 0;
        for (int i = 0; i < gr->n; i++) {
            const rep_run *r = &rp->runs[gr->run[i]];
            int64_t step = 0;
            double v = rep_run_metric(r, m, o->at, &step);
            if (!isfinite(v))
                continue;
            if (m == REP_M_AT) {
                s->at_min = step < s->at_min ? step : s->at_min;
                s->at_max = step > s->at_max ? step : s->at_max;
            }
            /* Strata: the benchmark, so a group pooling several tasks'
             * runs resamples within each (Agarwal et al.'s stratification). */
            bench[n] = rep_run_get(r, "env.benchmark");
            strata[n] = n;
            for (int j = 0; j < n; j++)
                if (!strcmp(bench[n], bench[j])) {
                    strata[n] = strata[j];
                    break;
                }
            x[n++] = v;
        }
        mt->n = n;
        if (!n)
            continue;
        mt->value = rep_stat_value(o->stat, x, n);
        if (o->stat == REP_STAT_MEAN)
            mt->se = rep_stderr(x, n);
        else if ((rc = rep_bootstrap_ci(x, strata, n, o->stat, o->bootstrap, o->seed, 0.95,
                                        &mt->lo, &mt->hi, e)))
            goto done;
    }
    /* Per task: the best row's per-task successes (the row that gives the
     * "best" column), averaged over the runs that have the task. */
    for (int i = 0; i < gr->n; i++) {
        const rep_run *r = &rp->runs[gr->run[i]];
        for (int k = 0; k < r->n_tasks; k++)
            if (add_task(&s->tasks, &s->n_tasks, r->tasks[k]) < 0 ||
                add_task(&rp->tasks, &rp->n_tasks, r->tasks[k]) < 0) {
                rc = err_set(e, MTRL_ENOMEM, "out of memory");
                goto done;
            }
    }
    tsum = calloc((size_t)s->n_tasks + 1, sizeof *tsum);
    tcnt = calloc((size_t)s->n_tasks + 1, sizeof *tcnt);
    s->task_success = calloc((size_t)s->n_tasks + 1, sizeof *s->task_success);
    if (!tsum || !tcnt || !s->task_success) {
        rc = err_set(e, MTRL_ENOMEM, "out of memory");
        goto done;
    }
    double spe = 0, wall = 0;
    int n_spe = 0, n_wall = 0;
    for (int i = 0; i < gr->n; i++) {
        const rep_run *r = &rp->runs[gr->run[i]];
        if (r->best_row >= 0)
            for (int k = 0; k < r->n_tasks; k++) {
                int t = add_task(&s->tasks, &s->n_tasks, r->tasks[k]);
                tsum[t] += r->eval_task[(size_t)r->best_row * (size_t)r->n_tasks + (size_t)k];
                tcnt[t]++;
            }
        if (isfinite(r->wall_s)) {
            wall += r->wall_s;
            n_wall++;
            /* One episode = max_episode_steps iterations of all tasks' envs
             * stepping together; episodes counts them summed over the envs. */
            int K = r->n_tasks ? r->n_tasks : 1;
            if (r->episodes > 0) {
                spe += r->wall_s / (r->episodes / K);
                n_spe++;
            }
        }
    }
    for (int t = 0; t < s->n_tasks; t++)
        s->task_success[t] = tcnt[t] ? tsum[t] / tcnt[t] : NAN;
    s->s_per_episode = n_spe ? spe / n_spe : NAN;
    s->wall_s = n_wall ? wall / n_wall : NAN;
done:
    free(x);
    free(strata);
    free(bench);
    free(tsum);
    free(tcnt);
    return rc;
}

int rep_report_create(rep_report **out, rep_run *runs, int n_runs, const rep_opts *o,
                      mtrl_err *e)
{
    *out = NULL;
    rep_report *rp = calloc(1, sizeof *rp);
    if (!rp) {
        rep_runs_free(runs, n_runs);
        return err_set(e, MTRL_ENOMEM, "out of memory");
    }
    rp->opts = *o;
    rp->runs = runs;
    rp->n_runs = n_runs;
    int rc = 0;
    if (n_runs <= 0) {
        rc = err_set(e, MTRL_EINPUT, "no runs to report");
        goto fail;
    }
    if (o->stat == REP_STAT_IQM && o->bootstrap < 1) {
        rc = err_set(e, MTRL_EINPUT, "--bootstrap %d: need at least 1 resample", o->bootstrap);
        goto fail;
    }
    for (int i = 0; i < o->n_by; i++)
        if (!rep_run_get(&runs[0], o->by[i])) {
            rc = err_set(e, MTRL_EINPUT,
                         "--by: '%s' is not a config key (mtrl config --keys lists them)",
                         o->by[i]);
            goto fail;
        }
    char **ids = calloc((size_t)n_runs, sizeof *ids);
    rp->groups = calloc((size_t)n_runs, sizeof *rp->groups);
    if (!ids || !rp->groups) {
        free(ids);
        rc = err_set(e, MTRL_ENOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < n_runs && !rc; i++) {
        if (!(ids[i] = identity(&runs[i], o))) {
            rc = err_set(e, MTRL_ENOMEM, "out of memory");
            break;
        }
        int g = 0;
        while (g < rp->n_groups && strcmp(ids[rp->groups[g].run[0]], ids[i]))
            g++;
        if (g == rp->n_groups) {
            rp->n_groups++;
            if (!(rp->groups[g].run = malloc((size_t)n_runs * sizeof(int)))) {
                rc = err_set(e, MTRL_ENOMEM, "out of memory");
                break;
            }
        }
        rp->groups[g].run[rp->groups[g].n++] = i;
    }
    for (int i = 0; i < n_runs; i++)
        free(ids[i]);
    free(ids);
    if (rc || (rc = check_protocols(rp, e)) || (rc = make_labels(rp, e)))
        goto fail;
    if (!(rp->stats = calloc((size_t)rp->n_groups, sizeof *rp->stats))) {
        rc = err_set(e, MTRL_ENOMEM, "out of memory");
        goto fail;
    }
    for (int g = 0; g < rp->n_groups && !rc; g++)
        rc = group_stats(rp, g, e);
    if (rc)
        goto fail;
    *out = rp;
    return 0;
fail:
    rep_report_destroy(rp);
    return rc;
}

void rep_report_destroy(rep_report *rp)
{
    if (!rp)
        return;
    for (int g = 0; g < rp->n_groups; g++) {
        free(rp->groups[g].label);
        free(rp->groups[g].run);
        if (rp->stats) {
            rep_gstats *s = &rp->stats[g];
            for (int t = 0; t < s->n_tasks; t++)
                free(s->tasks[t]);
            free(s->tasks);
            free(s->task_success);
        }
    }
    for (int p = 0; p < rp->n_protos; p++)
        for (int k = 0; k < REP_N_PROTOCOL_KEYS; k++)
            free(rp->protos[p].val[k]);
    for (int t = 0; t < rp->n_tasks; t++)
        free(rp->tasks[t]);
    free(rp->tasks);
    free(rp->protos);
    free(rp->groups);
    free(rp->stats);
    rep_runs_free(rp->runs, rp->n_runs);
    free(rp);
}

int rep_report_n_groups(const rep_report *r) { return r->n_groups; }
const rep_group *rep_report_group(const rep_report *r, int i) { return &r->groups[i]; }
const rep_run *rep_report_run(const rep_report *r, int i) { return &r->runs[i]; }

int rep_group_curve(const rep_report *rp, int g, rep_curve *c, mtrl_err *e)
{
    memset(c, 0, sizeof *c);
    const rep_group *gr = &rp->groups[g];
    const rep_run *r0 = &rp->runs[gr->run[0]];
    c->step = malloc(((size_t)r0->n_evals + 1) * sizeof *c->step);
    c->mean = malloc(((size_t)r0->n_evals + 1) * sizeof *c->mean);
    c->se = malloc(((size_t)r0->n_evals + 1) * sizeof *c->se);
    double *x = malloc((size_t)gr->n * sizeof *x);
    if (!c->step || !c->mean || !c->se || !x) {
        free(x);
        rep_curve_free(c);
        return err_set(e, MTRL_ENOMEM, "out of memory");
    }
    /* Aligned on the iterations every run of the group evaluated at. */
    for (int i = 0; i < r0->n_evals; i++) {
        int64_t s = r0->eval_step[i];
        int n = 0;
        for (int j = 0; j < gr->n; j++) {
            const rep_run *r = &rp->runs[gr->run[j]];
            for (int k = 0; k < r->n_evals; k++)
                if (r->eval_step[k] == s) {
                    x[n++] = r->eval_success[k];
                    break;
                }
        }
        if (n < gr->n)
            continue;
        c->step[c->n] = s;
        c->mean[c->n] = rep_mean(x, n);
        c->se[c->n] = rep_stderr(x, n);
        c->n++;
    }
    free(x);
    return 0;
}

void rep_curve_free(rep_curve *c)
{
    free(c->step);
    free(c->mean);
    free(c->se);
    memset(c, 0, sizeof *c);
}
