/* Writing a report: Markdown (for a README), CSV (raw fractions, for
 * pandas), JSON (everything, per run too) and LaTeX (booktabs tabular).
 * Markdown and LaTeX show success in percent; CSV and JSON as fractions. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_impl.h"

int rep_format_parse(const char *s)
{
    if (!strcmp(s, "md") || !strcmp(s, "markdown"))
        return REP_FMT_MD;
    if (!strcmp(s, "csv"))
        return REP_FMT_CSV;
    if (!strcmp(s, "json"))
        return REP_FMT_JSON;
    if (!strcmp(s, "latex") || !strcmp(s, "tex"))
        return REP_FMT_LATEX;
    return -1;
}

/* 120000 -> "120k", 2000000 -> "2M", 1500 -> "1.5k". */
static const char *fmt_iter(char *b, size_t cap, int64_t v)
{
    if (v >= 1000000 && v % 100000 == 0)
        snprintf(b, cap, "%gM", (double)v / 1e6);
    else if (v >= 1000 && v % 100 == 0)
        snprintf(b, cap, "%gk", (double)v / 1e3);
    else
        snprintf(b, cap, "%" PRId64, v);
    return b;
}

static const char *fmt_duration(char *b, size_t cap, double s)
{
    if (!isfinite(s))
        snprintf(b, cap, "-");
    else if (s >= 3600)
        snprintf(b, cap, "%.1f h", s / 3600);
    else if (s >= 60)
        snprintf(b, cap, "%.1f min", s / 60);
    else
        snprintf(b, cap, "%.1f s", s);
    return b;
}

/* "3" or "3 (1 running at 120k/2M, 1 stopped at 80k/2M)". */
static void fmt_seeds(const rep_report *rp, int g, FILE *o)
{
    const rep_group *gr = &rp->groups[g];
    fprintf(o, "%d", gr->n);
    int first = 1;
    for (int i = 0; i < gr->n; i++) {
        const rep_run *r = &rp->runs[gr->run[i]];
        if (r->finished)
            continue;
        char a[32], b[32];
        fprintf(o, "%s1 %s at %s/%s", first ? " (" : ", ", r->state,
                fmt_iter(a, sizeof a, r->iteration), fmt_iter(b, sizeof b, r->iterations));
        first = 0;
    }
    if (!first)
        fprintf(o, ")");
}

/* One metric cell in percent: "45.3 ± 2.1", "45.3 [41.0, 49.8]", "45.3"
 * (one seed), "-" (no evaluation yet). latex: math mode. */
static void fmt_metric(const rep_report *rp, int g, int m, int latex, FILE *o)
{
    const rep_metric *mt = &rp->stats[g].m[m];
    if (!mt->n || !isfinite(mt->value)) {
        fprintf(o, "-");
        return;
    }
    const char *pm = latex ? " \\pm " : " ± ";
    if (latex)
        fprintf(o, "$");
    fprintf(o, "%.1f", 100 * mt->value);
    if (rp->opts.stat == REP_STAT_MEAN && isfinite(mt->se))
        fprintf(o, "%s%.1f", pm, 100 * mt->se);
    else if (rp->opts.stat == REP_STAT_IQM && mt->n > 1)
        fprintf(o, " [%.1f, %.1f]", 100 * mt->lo, 100 * mt->hi);
    if (latex)
        fprintf(o, "$");
    if (mt->n < rp->groups[g].n)
        fprintf(o, " (n=%d)", mt->n);
    if (m == REP_M_AT && rp->stats[g].at_min <= rp->stats[g].at_max &&
        (rp->stats[g].at_min != rp->opts.at || rp->stats[g].at_max != rp->opts.at)) {
        char a[32], b[32];
        if (rp->stats[g].at_min == rp->stats[g].at_max)
            fprintf(o, " (at %s)", fmt_iter(a, sizeof a, rp->stats[g].at_min));
        else
            fprintf(o, " (at %s-%s)", fmt_iter(a, sizeof a, rp->stats[g].at_min),
                    fmt_iter(b, sizeof b, rp->stats[g].at_max));
    }
}

static const char *stat_words(const rep_report *rp)
{
    return rp->opts.stat == REP_STAT_MEAN
               ? "mean ± standard error over seeds (sample standard deviation with n-1, / sqrt(n))"
               : "interquartile mean over seeds (scipy trim_mean 25%, as rliable) with 95% "
                 "stratified-bootstrap percentile intervals";
}

static void protocol_words(const rep_protocol *p, FILE *o)
{
    int eps = atoi(p->val[0]);
    fprintf(o, "%d %s episode%s per task, at most %s steps, %s goals "
               "(eval.episodes=%s, eval.deterministic=%s, env.max_episode_steps=%s, "
               "env.goals=%s)",
            eps, !strcmp(p->val[1], "true") ? "deterministic" : "stochastic", eps == 1 ? "" : "s",
            p->val[2], p->val[3], p->val[0], p->val[1], p->val[2], p->val[3]);
}

/* lead: prefix of each line ("% " for LaTeX); md: a blank line after each,
 * so Markdown keeps them as separate paragraphs. */
static void write_header_lines(const rep_report *rp, const char *lead, int md, FILE *o)
{
    const char *nl = md ? "\n\n" : "\n";
    int at = rp->opts.at >= 0;
    fprintf(o, "%s%d run%s in %d group%s. Statistic: %s", lead, rp->n_runs,
            rp->n_runs == 1 ? "" : "s", rp->n_groups, rp->n_groups == 1 ? "" : "s",
            stat_words(rp));
    if (rp->opts.stat == REP_STAT_IQM)
        fprintf(o, ", %d resamples, seed %" PRIu64, rp->opts.bootstrap, rp->opts.seed);
    fprintf(o, ".%s", nl);
    for (int p = 0; p < rp->n_protos; p++) {
        fprintf(o, "%sEvaluation protocol%s: ", lead, rp->n_protos > 1 ? "" : " of every run");
        protocol_words(&rp->protos[p], o);
        if (rp->n_protos > 1) {
            fprintf(o, "; groups:");
            for (int g = 0; g < rp->n_groups; g++)
                if (rp->groups[g].proto == p)
                    fprintf(o, " [%s]", rp->groups[g].label);
        }
        fprintf(o, ".%s", nl);
    }
    fprintf(o, "%sBest: the highest mean success over tasks among a run's evaluations "
               "(CAGrad/CARE protocol); final: its last evaluation",
            lead);
    if (at)
        fprintf(o, "; @%" PRId64 ": the evaluation at that iteration, or the last one before "
                   "it (the iterations used are shown when they differ)",
                rp->opts.at);
    fprintf(o, ". Per-task: the best evaluation's per-task success, averaged over seeds. "
               "s/episode: training wall time per episode of all tasks (train.csv).\n");
}

static void write_md(const rep_report *rp, FILE *o)
{
    int at = rp->opts.at >= 0;
    const char *unit = rp->opts.stat == REP_STAT_IQM ? "IQM %" : "%";
    write_header_lines(rp, "", 1, o);
    fprintf(o, "\n| group | seeds | best success (%s) | final success (%s) |", unit, unit);
    if (at)
        fprintf(o, " success @%" PRId64 " (%s) |", rp->opts.at, unit);
    fprintf(o, " s/episode | wall time |\n|---|---|---:|---:|%s---:|---:|\n", at ? "---:|" : "");
    for (int g = 0; g < rp->n_groups; g++) {
        char b[32];
        fprintf(o, "| %s | ", rp->groups[g].label);
        fmt_seeds(rp, g, o);
        for (int m = 0; m < REP_N_METRICS; m++) {
            if (m == REP_M_AT && !at)
                continue;
            fprintf(o, " | ");
            fmt_metric(rp, g, m, 0, o);
        }
        if (isfinite(rp->stats[g].s_per_episode))
            fprintf(o, " | %.2f", rp->stats[g].s_per_episode);
        else
            fprintf(o, " | -");
        fprintf(o, " | %s |\n", fmt_duration(b, sizeof b, rp->stats[g].wall_s));
    }
    if (!rp->opts.per_task)
        return;
    fprintf(o, "\nPer-task success (%%, best evaluation, mean over seeds):\n\n| task |");
    for (int g = 0; g < rp->n_groups; g++)
        fprintf(o, " %s |", rp->groups[g].label);
    fprintf(o, "\n|---|");
    for (int g = 0; g < rp->n_groups; g++)
        fprintf(o, "---:|");
    fprintf(o, "\n");
    for (int t = 0; t < rp->n_tasks; t++) {
        fprintf(o, "| %s |", rp->tasks[t]);
        for (int g = 0; g < rp->n_groups; g++) {
            const rep_gstats *s = &rp->stats[g];
            double v = NAN;
            for (int k = 0; k < s->n_tasks; k++)
                if (!strcmp(s->tasks[k], rp->tasks[t]))
                    v = s->task_success[k];
            if (isfinite(v))
                fprintf(o, " %.1f |", 100 * v);
            else
                fprintf(o, " - |");
        }
        fprintf(o, "\n");
    }
}

static void csv_str(FILE *o, const char *s)
{
    fputc('"', o);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', o);
        fputc(*s, o);
    }
    fputc('"', o);
}

static void num(FILE *o, double v)
{
    if (isfinite(v))
        fprintf(o, "%.6g", v);
}

static double group_task(const rep_report *rp, int g, const char *task)
{
    const rep_gstats *s = &rp->stats[g];
    for (int k = 0; k < s->n_tasks; k++)
        if (!strcmp(s->tasks[k], task))
            return s->task_success[k];
    return NAN;
}

static const char *metric_name[REP_N_METRICS] = {"best", "final", "at"};

static void write_csv(const rep_report *rp, FILE *o)
{
    int iqm = rp->opts.stat == REP_STAT_IQM, at = rp->opts.at >= 0;
    fprintf(o, "group,runs,unfinished,eval_episodes,deterministic,max_episode_steps,goals,stat");
    for (int m = 0; m < REP_N_METRICS; m++) {
        if (m == REP_M_AT && !at)
            continue;
        const char *n = metric_name[m];
        fprintf(o, iqm ? ",%s,%s_ci_lo,%s_ci_hi,%s_n" : ",%s,%s_se,%s_n", n, n, n, n);
        if (m == REP_M_AT)
            fprintf(o, ",at_step_min,at_step_max");
    }
    fprintf(o, ",s_per_episode,wall_s");
    for (int t = 0; rp->opts.per_task && t < rp->n_tasks; t++)
        fprintf(o, ",success_%s", rp->tasks[t]);
    fprintf(o, "\n");
    for (int g = 0; g < rp->n_groups; g++) {
        const rep_gstats *s = &rp->stats[g];
        const rep_protocol *p = &rp->protos[rp->groups[g].proto];
        csv_str(o, rp->groups[g].label);
        fprintf(o, ",%d,%d,%s,%s,%s,%s,%s", rp->groups[g].n, s->n_unfinished, p->val[0],
                p->val[1], p->val[2], p->val[3], iqm ? "iqm" : "mean");
        for (int m = 0; m < REP_N_METRICS; m++) {
            if (m == REP_M_AT && !at)
                continue;
            const rep_metric *mt = &s->m[m];
            fputc(',', o);
            num(o, mt->value);
            fputc(',', o);
            num(o, iqm ? mt->lo : mt->se);
            if (iqm) {
                fputc(',', o);
                num(o, mt->hi);
            }
            fprintf(o, ",%d", mt->n);
            if (m == REP_M_AT) {
                if (s->at_min <= s->at_max)
                    fprintf(o, ",%" PRId64 ",%" PRId64, s->at_min, s->at_max);
                else
                    fprintf(o, ",,");
            }
        }
        fputc(',', o);
        num(o, s->s_per_episode);
        fputc(',', o);
        num(o, s->wall_s);
        for (int t = 0; rp->opts.per_task && t < rp->n_tasks; t++) {
            fputc(',', o);
            num(o, group_task(rp, g, rp->tasks[t]));
        }
        fprintf(o, "\n");
    }
}

static void json_str(FILE *o, const char *s)
{
    fputc('"', o);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(o, "\\%c", c);
        else if (c < 0x20)
            fprintf(o, "\\u%04x", c);
        else
            fputc(c, o);
    }
    fputc('"', o);
}

static void json_num(FILE *o, double v)
{
    if (isfinite(v))
        fprintf(o, "%.10g", v);
    else
        fprintf(o, "null");
}

static void write_json(const rep_report *rp, FILE *o)
{
    int iqm = rp->opts.stat == REP_STAT_IQM, at = rp->opts.at >= 0;
    fprintf(o, "{\"stat\": \"%s\"", iqm ? "iqm" : "mean");
    if (iqm)
        fprintf(o, ", \"bootstrap\": %d, \"seed\": %" PRIu64 ", \"confidence\": 0.95",
                rp->opts.bootstrap, rp->opts.seed);
    fprintf(o, ", \"at\": ");
    if (at)
        fprintf(o, "%" PRId64, rp->opts.at);
    else
        fprintf(o, "null");
    fprintf(o, ",\n \"groups\": [");
    for (int g = 0; g < rp->n_groups; g++) {
        const rep_group *gr = &rp->groups[g];
        const rep_gstats *s = &rp->stats[g];
        const rep_protocol *p = &rp->protos[gr->proto];
        fprintf(o, "%s\n  {\"label\": ", g ? "," : "");
        json_str(o, gr->label);
        fprintf(o, ", \"runs\": %d, \"unfinished\": %d,\n   \"protocol\": {", gr->n,
                s->n_unfinished);
        for (int k = 0; k < REP_N_PROTOCOL_KEYS; k++) {
            fprintf(o, "%s\"%s\": ", k ? ", " : "", rep_protocol_keys[k]);
            json_str(o, p->val[k]);
        }
        fprintf(o, "}");
        for (int m = 0; m < REP_N_METRICS; m++) {
            if (m == REP_M_AT && !at)
                continue;
            const rep_metric *mt = &s->m[m];
            fprintf(o, ",\n   \"%s\": {\"n\": %d, \"%s\": ", metric_name[m], mt->n,
                    iqm ? "iqm" : "mean");
            json_num(o, mt->value);
            if (iqm) {
                fprintf(o, ", \"ci_lo\": ");
                json_num(o, mt->lo);
                fprintf(o, ", \"ci_hi\": ");
                json_num(o, mt->hi);
            } else {
                fprintf(o, ", \"se\": ");
                json_num(o, mt->se);
            }
            if (m == REP_M_AT && s->at_min <= s->at_max)
                fprintf(o, ", \"step_min\": %" PRId64 ", \"step_max\": %" PRId64, s->at_min,
                        s->at_max);
            fprintf(o, "}");
        }
        fprintf(o, ",\n   \"s_per_episode\": ");
        json_num(o, s->s_per_episode);
        fprintf(o, ", \"wall_s\": ");
        json_num(o, s->wall_s);
        fprintf(o, ",\n   \"per_task\": {");
        for (int t = 0; t < s->n_tasks; t++) {
            fprintf(o, "%s", t ? ", " : "");
            json_str(o, s->tasks[t]);
            fprintf(o, ": ");
            json_num(o, s->task_success[t]);
        }
        fprintf(o, "},\n   \"members\": [");
        for (int i = 0; i < gr->n; i++) {
            const rep_run *r = &rp->runs[gr->run[i]];
            fprintf(o, "%s\n    {\"dir\": ", i ? "," : "");
            json_str(o, r->dir);
            fprintf(o, ", \"seed\": %" PRId64 ", \"state\": ", r->seed);
            json_str(o, r->state);
            fprintf(o, ", \"iteration\": %" PRId64 ", \"iterations\": %" PRId64
                       ", \"evals\": %d, \"best\": ",
                    r->iteration, r->iterations, r->n_evals);
            json_num(o, rep_run_metric(r, REP_M_BEST, 0, NULL));
            fprintf(o, ", \"best_step\": ");
            if (r->best_row >= 0)
                fprintf(o, "%" PRId64, r->eval_step[r->best_row]);
            else
                fprintf(o, "null");
            fprintf(o, ", \"final\": ");
            json_num(o, rep_run_metric(r, REP_M_FINAL, 0, NULL));
            if (at) {
                int64_t step = -1;
                fprintf(o, ", \"at\": ");
                json_num(o, rep_run_metric(r, REP_M_AT, rp->opts.at, &step));
                fprintf(o, ", \"at_step\": ");
                if (step >= 0)
                    fprintf(o, "%" PRId64, step);
                else
                    fprintf(o, "null");
            }
            fprintf(o, ", \"wall_s\": ");
            json_num(o, r->wall_s);
            fprintf(o, "}");
        }
        fprintf(o, "]}");
    }
    fprintf(o, "\n ]\n}\n");
}

static void tex_str(FILE *o, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '_': case '%': case '&': case '#': case '$': case '{': case '}':
            fprintf(o, "\\%c", *s);
            break;
        case '~':
            fprintf(o, "\\textasciitilde{}");
            break;
        case '^':
            fprintf(o, "\\textasciicircum{}");
            break;
        case '\\':
            fprintf(o, "\\textbackslash{}");
            break;
        default:
            fputc(*s, o);
        }
    }
}

static void write_latex(const rep_report *rp, FILE *o)
{
    int at = rp->opts.at >= 0;
    write_header_lines(rp, "% ", 0, o);
    fprintf(o, "%% needs \\usepackage{booktabs}\n\\begin{tabular}{ll%s}\n\\toprule\n",
            at ? "rrrrr" : "rrrr");
    fprintf(o, "Group & Seeds & Best (\\%%) & Final (\\%%)");
    if (at)
        fprintf(o, " & @%" PRId64 " (\\%%)", rp->opts.at);
    fprintf(o, " & s/episode & Wall time \\\\\n\\midrule\n");
    for (int g = 0; g < rp->n_groups; g++) {
        char *seeds = NULL, b[32];
        size_t len = 0;
        FILE *f = open_memstream(&seeds, &len);
        if (f) {
            fmt_seeds(rp, g, f);
            fclose(f);
        }
        tex_str(o, rp->groups[g].label);
        fprintf(o, " & ");
        tex_str(o, seeds ? seeds : "");
        free(seeds);
        for (int m = 0; m < REP_N_METRICS; m++) {
            if (m == REP_M_AT && !at)
                continue;
            fprintf(o, " & ");
            fmt_metric(rp, g, m, 1, o);
        }
        if (isfinite(rp->stats[g].s_per_episode))
            fprintf(o, " & %.2f", rp->stats[g].s_per_episode);
        else
            fprintf(o, " & -");
        fprintf(o, " & %s \\\\\n", fmt_duration(b, sizeof b, rp->stats[g].wall_s));
    }
    fprintf(o, "\\bottomrule\n\\end{tabular}\n");
    if (!rp->opts.per_task)
        return;
    fprintf(o, "\n%% per-task success (%%), best evaluation, mean over seeds\n"
               "\\begin{tabular}{l");
    for (int g = 0; g < rp->n_groups; g++)
        fprintf(o, "r");
    fprintf(o, "}\n\\toprule\nTask");
    for (int g = 0; g < rp->n_groups; g++) {
        fprintf(o, " & ");
        tex_str(o, rp->groups[g].label);
    }
    fprintf(o, " \\\\\n\\midrule\n");
    for (int t = 0; t < rp->n_tasks; t++) {
        tex_str(o, rp->tasks[t]);
        for (int g = 0; g < rp->n_groups; g++) {
            double v = group_task(rp, g, rp->tasks[t]);
            if (isfinite(v))
                fprintf(o, " & %.1f", 100 * v);
            else
                fprintf(o, " & -");
        }
        fprintf(o, " \\\\\n");
    }
    fprintf(o, "\\bottomrule\n\\end{tabular}\n");
}

int rep_write(const rep_report *rp, rep_format f, FILE *o, mtrl_err *e)
{
    switch (f) {
    case REP_FMT_MD:
        write_md(rp, o);
        break;
    case REP_FMT_CSV:
        write_csv(rp, o);
        break;
    case REP_FMT_JSON:
        write_json(rp, o);
        break;
    case REP_FMT_LATEX:
        write_latex(rp, o);
        break;
    default:
        return err_set(e, MTRL_EINPUT, "unknown report format %d", (int)f);
    }
    return ferror(o) ? err_set(e, MTRL_EIO, "writing the report failed") : 0;
}
