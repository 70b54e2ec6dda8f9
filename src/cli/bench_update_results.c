/* mtrl bench update: the results drawn from a benchmark's timings, each
 * method against `mean` timed in the same run. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/bench_update.h"
#include "envs/envs.h"
#include "nets/nets.h"

/* The `mean` row's figures every other row is divided by (NAN / NULL when
 * `mean` was not timed). */
typedef struct mean_ref {
    double med, min, fwd;
    const double *round;
} mean_ref;

static mean_ref find_mean(bu_run *b)
{
    mean_ref ref = {NAN, NAN, NAN, NULL};
    for (int i = 0; i < b->n_rows; i++) {
        bu_row *m = &b->rows[i];
        if (!strcmp(m->method, "mean")) {
            ref.round = m->round;
            ref.med = bench_median(m->t, m->n);
            ref.min = m->t[0];
            ref.fwd = bench_median(m->fwd, m->n);
        }
    }
    return ref;
}

/* Seconds per episode: L x the median loop iteration, L x the mean one,
 * L x the median env step. */
static void episode_figures(const bu_run *b, bu_row *m, bu_result *r)
{
    r->episodes = b->o->episodes;
    r->ep_len = b->L;
    r->ep_iters = b->ep_iters;
    r->ep = r->ep_total = r->ep_env = NAN;
    int n_it = b->o->episodes * b->ep_iters;
    if (n_it > 0) {
        double sum = 0;
        for (int k = 0; k < n_it; k++)
            sum += m->ep[k];
        r->ep_total = b->L * sum / n_it;
        r->ep = b->L * bench_median(m->ep, n_it);
        r->ep_env = b->L * bench_median(m->ep_env, n_it);
    }
}

static void settings_text(const bu_row *m, bu_result *r)
{
    const mtrl_config *c = &m->cfg;
    if (c->mtl.method == CFG_MTL_CAGRAD_FAST)
        snprintf(r->settings, sizeof r->settings, "c=%g |S|=%d gram=%s", c->mtl.cagrad_c,
                 c->mtl.cagrad_fast_subset,
                 cfg_enum_word("mtl.cagrad_fast_gram", c->mtl.cagrad_fast_gram));
    else if (c->mtl.method == CFG_MTL_CAGRAD)
        snprintf(r->settings, sizeof r->settings, "c=%g", c->mtl.cagrad_c);
}

/* The ratios to mean: of the medians, of the minima, and round by round
 * against mean's block just before or after it (load that changes slowly
 * cancels in each ratio); paired has room for the rounds. */
static void ratios(const bu_run *b, const bu_row *m, const mean_ref *ref, double *paired,
                   bu_result *r)
{
    int rounds = (b->o->updates + b->o->block - 1) / b->o->block;
    r->ratio = r->med / ref->med;
    r->ratio_min = r->min / ref->min;
    r->ratio_paired = NAN;
    if (ref->round && paired) {
        for (int k = 0; k < rounds; k++)
            paired[k] = m->round[k] / ref->round[k];
        r->ratio_paired = bench_median(paired, rounds);
    }
}

void bu_results(bu_run *b, bu_report *rep)
{
    long pa = sac_num_params(b->rows[0].agent, 0), pc = sac_num_params(b->rows[0].agent, 1);
    double sg = bench_sgemm_flops(&b->sg) / bench_median(b->sg_t, b->n_sg) * 1e-9;
    int rounds = (b->o->updates + b->o->block - 1) / b->o->block;
    double *paired = malloc(sizeof(double) * (size_t)rounds);
    mean_ref ref = find_mean(b);
    for (int i = 0; i < b->n_rows; i++) {
        bu_row *m = &b->rows[i];
        bu_result *r = &rep->results[rep->n_results++];
        memset(r, 0, sizeof *r);
        snprintf(r->bench, sizeof r->bench, "%s", b->name);
        snprintf(r->method, sizeof r->method, "%s", m->method);
        r->K = b->K, r->B = b->B, r->stand_in = b->stand_in;
        r->env_threads = env_vec_threads(b->env);
        r->learner_threads = nn_threads() ? nn_threads() : openblas_get_num_threads();
        r->updates = m->n, r->skipped = m->skipped;
        r->p_actor = pa, r->p_critic = pc;
        r->med = bench_median(m->t, m->n);
        r->min = m->t[0], r->max = m->t[m->n - 1];
        ratios(b, m, &ref, paired, r);
        /* Medians of each part: one update disturbed by another process
         * moves a median less than a mean. */
        r->fwd = bench_median(m->fwd, m->n);
        r->per_task = r->fwd - ref.fwd;
        r->gram = bench_median(m->gram, m->n);
        r->comb = bench_median(m->comb, m->n);
        r->other = bench_median(m->other, m->n);
        r->gflop = bu_update_flops(&m->cfg, b->K, b->B, pa, pc) * 1e-9;
        r->gflops = r->gflop / r->med;
        r->sgemm_gflops = sg;
        episode_figures(b, m, r);
        settings_text(m, r);
    }
    free(paired);
}
