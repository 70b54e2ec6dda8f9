/* mtrl bench update: its three output formats (text, JSON, CSV; the CSV's
 * columns are what tools/timing-table reads) and the targets judged on the
 * run's rows. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "cli/bench_update.h"
#include "nets/nets.h"

static void print_dims(FILE *f, const int *d, int n)
{
    for (int l = 0; l <= n; l++)
        fprintf(f, "%s%d", l ? "-" : "", d[l]);
}

void bu_print_bench_text(const bu_run *b, bu_report *rep, const bu_result *r0, int n)
{
    if (!rep->header_done)
        printf("mtrl bench update: %d learner threads (%s), OpenBLAS %d threads (%s); methods "
               "interleaved in round-robin blocks of %d updates, every method on the same "
               "batches, so load from other processes hits all methods alike\n",
               nn_threads() ? nn_threads() : openblas_get_num_threads(),
               nn_threads() ? "the networks' own" : "OpenBLAS's", openblas_get_num_threads(),
               openblas_get_config(), b->o->block);
    if (!rep->header_done)
        bench_print_blas_note();
    rep->header_done = 1;
    bu_shapes s;
    bu_get_shapes(&b->cfg, b->K, &s);
    printf("\n%s%s: %d tasks, batch %d; actor ", b->name, b->stand_in ? " (stand-in tasks)" : "",
           b->K, b->B);
    print_dims(stdout, s.da, s.na);
    printf(" (%ld params), twin critic 2 x ", r0->p_actor);
    print_dims(stdout, s.dc, s.nc);
    printf(" (%ld params)\n", r0->p_critic);
    printf("  replay: %lld transitions from %d random-action iterations (%d env threads); %d "
           "timed updates per method after %d warm-up\n",
           (long long)rb_total_size(b->rb), b->o->fill, r0->env_threads, b->o->updates,
           b->o->warmup);
    printf("  sgemm %dx%dx%d (NT+TN+NN), median over the run: %.1f GFLOP/s\n", b->B, b->sg.H,
           b->sg.H, r0->sgemm_gflops);
    if (b->o->episodes > 0)
        printf("  s/episode: %d x the median loop iteration (K env steps + 1 update) of %d "
               "timed per method, methods taking turns\n",
               b->L, b->o->episodes * b->ep_iters);
    printf("\n  %-12s %8s %8s %8s %6s | %8s %8s %8s %8s %6s | %6s %7s %6s | %8s %7s\n", "method",
           "ms med", "min", "max", "x mean", "fwd/bwd", "per-task", "gram+slv", "comb+adm",
           "other", "GFLOP", "GFLOP/s", "%sgemm", "s/episode", "env s");
    for (int i = 0; i < n; i++) {
        const bu_result *r = r0 + i;
        char ratio[16] = "-", pt[16] = "-", ep[16] = "-", epe[16] = "-";
        if (isfinite(r->ratio))
            snprintf(ratio, sizeof ratio, "%.2f", r->ratio);
        if (isfinite(r->per_task))
            snprintf(pt, sizeof pt, "%.2f", r->per_task * 1e3);
        if (isfinite(r->ep))
            snprintf(ep, sizeof ep, "%.2f", r->ep), snprintf(epe, sizeof epe, "%.2f", r->ep_env);
        printf("  %-12s %8.2f %8.2f %8.2f %6s | %8.2f %8s %8.2f %8.2f %6.2f | %6.2f %7.1f %5.0f%% "
               "| %8s %7s\n",
               r->method, r->med * 1e3, r->min * 1e3, r->max * 1e3, ratio, r->fwd * 1e3, pt,
               r->gram * 1e3, r->comb * 1e3, r->other * 1e3, r->gflop, r->gflops,
               100 * r->gflops / r->sgemm_gflops, ep, epe);
        if (r->skipped)
            printf("  (%s: %d of its timed updates skipped a component as non-finite)\n",
                   r->method, r->skipped);
    }
    for (int i = 0; i < n; i++)
        if (r0[i].settings[0])
            printf("  %s: %s\n", r0[i].method, r0[i].settings);
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void json_num(const char *key, double v, int comma)
{
    printf("\"%s\": ", key);
    if (isfinite(v))
        printf("%.6g", v);
    else
        printf("null");
    if (comma)
        printf(", ");
}

void bu_print_json(const bu_report *rep, const bu_opts *o)
{
    printf("{\"command\": \"bench update\", \"threads\": %d, \"openblas_threads\": %d, "
           "\"cores\": %ld, "
           "\"interleaved\": \"round-robin blocks of %d updates per method; every method draws "
           "the same batches\", \"updates\": %d, \"warmup\": %d, \"fill_iterations\": %d,\n"
           " \"skipped\": [",
           nn_threads(), openblas_get_num_threads(), sysconf(_SC_NPROCESSORS_ONLN), o->block,
           o->updates,
           o->warmup, o->fill);
    for (int i = 0; i < rep->n_skips; i++) {
        printf("%s{\"benchmark\": ", i ? ", " : "");
        json_str(rep->skips[i].bench);
        printf(", \"reason\": ");
        json_str(rep->skips[i].why);
        printf("}");
    }
    printf("],\n \"rows\": [");
    for (int i = 0; i < rep->n_results; i++) {
        const bu_result *r = &rep->results[i];
        printf("%s\n  {\"benchmark\": ", i ? "," : "");
        json_str(r->bench);
        printf(", \"method\": ");
        json_str(r->method);
        printf(", \"tasks\": %d, \"batch\": %d, \"stand_in\": %s, \"actor_params\": %ld, "
               "\"critic_params\": %ld, \"updates\": %d, \"skipped_updates\": %d, "
               "\"env_threads\": %d, \"learner_threads\": %d, ",
               r->K, r->B, r->stand_in ? "true" : "false", r->p_actor, r->p_critic, r->updates,
               r->skipped, r->env_threads, r->learner_threads);
        json_num("ms_median", r->med * 1e3, 1);
        json_num("ms_min", r->min * 1e3, 1);
        json_num("ms_max", r->max * 1e3, 1);
        json_num("ratio_to_mean", r->ratio, 1);
        json_num("ratio_min_to_mean", r->ratio_min, 1);
        json_num("ratio_paired_to_mean", r->ratio_paired, 1);
        json_num("ms_fwd_bwd", r->fwd * 1e3, 1);
        json_num("ms_per_task_extra", r->per_task * 1e3, 1);
        json_num("ms_gram_solve", r->gram * 1e3, 1);
        json_num("ms_combine_adam", r->comb * 1e3, 1);
        json_num("ms_other", r->other * 1e3, 1);
        json_num("gflop", r->gflop, 1);
        json_num("gflops", r->gflops, 1);
        json_num("sgemm_gflops", r->sgemm_gflops, 1);
        json_num("pct_sgemm", 100 * r->gflops / r->sgemm_gflops, 1);
        printf("\"episode_len\": %d, \"episode_iters_timed\": %d, \"episodes\": %d, ", r->ep_len,
               r->ep_iters, r->episodes);
        json_num("episode_s", r->ep, 1);
        json_num("episode_s_total", r->ep_total, 1);
        json_num("episode_env_s", r->ep_env, 1);
        printf("\"settings\": ");
        json_str(r->settings);
        printf("}");
    }
    printf("\n ]}\n");
}

static void csv_num(double v, int last)
{
    if (isfinite(v))
        printf("%.6g", v);
    putchar(last ? '\n' : ',');
}

void bu_print_csv(const bu_report *rep)
{
    printf("benchmark,method,tasks,batch,stand_in,updates,ms_median,ms_min,ms_max,ratio_to_mean,"
           "ratio_min_to_mean,ratio_paired_to_mean,ms_fwd_bwd,ms_per_task_extra,ms_gram_solve,"
           "ms_combine_adam,ms_other,gflop,gflops,sgemm_gflops,pct_sgemm,episode_len,"
           "episode_iters_timed,episode_s,episode_s_total,episode_env_s,learner_threads\n");
    for (int i = 0; i < rep->n_results; i++) {
        const bu_result *r = &rep->results[i];
        printf("%s,%s,%d,%d,%d,%d,", r->bench, r->method, r->K, r->B, r->stand_in, r->updates);
        csv_num(r->med * 1e3, 0);
        csv_num(r->min * 1e3, 0);
        csv_num(r->max * 1e3, 0);
        csv_num(r->ratio, 0);
        csv_num(r->ratio_min, 0);
        csv_num(r->ratio_paired, 0);
        csv_num(r->fwd * 1e3, 0);
        csv_num(r->per_task * 1e3, 0);
        csv_num(r->gram * 1e3, 0);
        csv_num(r->comb * 1e3, 0);
        csv_num(r->other * 1e3, 0);
        csv_num(r->gflop, 0);
        csv_num(r->gflops, 0);
        csv_num(r->sgemm_gflops, 0);
        csv_num(100 * r->gflops / r->sgemm_gflops, 0);
        printf("%d,%d,", r->ep_len, r->ep_iters);
        csv_num(r->ep, 0);
        csv_num(r->ep_total, 0);
        csv_num(r->ep_env, 0);
        printf("%d\n", r->learner_threads);
    }
}

/* Issue 12's targets: each method's median update against mean's in the
 * same run, on MT10 and on MT50 (a benchmark other than mt50 is held to
 * MT10's), and the update's matrix arithmetic against sgemm's rate. */
typedef struct ratio_target {
    const char *method;
    double mt10, mt50;
} ratio_target;

static const ratio_target ratio_targets[] = {
    {"pcgrad", 1.10, 1.25},
    {"cagrad", 1.10, 1.25},
    {"mgda", 1.10, 1.25},
    {"cagrad_fast", 1.05, 1.05},
};

#define TARGET_PCT_SGEMM 70

static double ratio_limit(const bu_result *r)
{
    for (size_t i = 0; i < sizeof ratio_targets / sizeof ratio_targets[0]; i++)
        if (!strcmp(r->method, ratio_targets[i].method))
            return !strcmp(r->bench, "mt50") ? ratio_targets[i].mt50 : ratio_targets[i].mt10;
    return 0;
}

void bu_print_targets(const bu_report *rep, const bu_opts *o)
{
    printf("\ntargets (this run, side by side; a shared machine makes them noisy):\n");
    if (o->updates < 20)
        printf("  (only %d updates per method: a rough indication, too few to judge a target)\n",
               o->updates);
    for (int i = 0; i < rep->n_results; i++) {
        const bu_result *r = &rep->results[i];
        double lim = ratio_limit(r);
        if (lim == 0 || !isfinite(r->ratio))
            continue;
        printf("  %-5s %-12s %.2fx mean (medians; paired by round %.2fx, minima %.2fx) "
               "<= %.2fx: %s\n",
               r->bench, r->method, r->ratio, r->ratio_paired, r->ratio_min, lim,
               r->ratio <= lim ? "met" : "NOT met");
    }
    for (int i = 0; i < rep->n_results; i++) {
        const bu_result *r = &rep->results[i];
        double pct = 100 * r->gflops / r->sgemm_gflops;
        printf("  %-5s %-12s matrix arithmetic %.0f%% of sgemm (>= %d%%): %s\n", r->bench,
               r->method, pct, TARGET_PCT_SGEMM, pct >= TARGET_PCT_SGEMM ? "met" : "NOT met");
    }
}
