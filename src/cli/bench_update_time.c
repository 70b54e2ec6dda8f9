/* mtrl bench update: the timing, of updates alone and of the whole loop. */
#include <stdio.h>

#include "cli/bench_update.h"
#include "core/timer.h"

static void sgemm_sample(bu_run *b)
{
    double dt = bench_sgemm_round(&b->sg);
    if (b->n_sg < b->sg_cap)
        b->sg_t[b->n_sg++] = dt;
}

static int one_update(bu_run *b, bu_row *m, sac_update_stats *st, double *dt, mtrl_err *e)
{
    int rc = rb_sample(b->rb, b->smp, b->norm, b->B, &m->rng, b->batch, e);
    if (rc)
        return rc;
    double t0 = tm_now();
    rc = sac_update(m->agent, b->batch, st, e);
    *dt = tm_now() - t0;
    return rc;
}

/* Warm-up, then round-robin blocks of timed updates over the methods. */
int bu_time_updates(bu_run *b, mtrl_err *e)
{
    const bu_opts *o = b->o;
    sac_update_stats st;
    double dt;
    int rc;
    for (int w = 0; w < o->warmup; w++)
        for (int i = 0; i < b->n_rows; i++)
            if ((rc = one_update(b, &b->rows[i], &st, &dt, e)))
                return rc;
    sgemm_sample(b); /* its own first touch, untimed */
    b->n_sg = 0;
    for (int done = 0, round = 0; done < o->updates; round++) {
        int n = o->updates - done < o->block ? o->updates - done : o->block;
        for (int i = 0; i < b->n_rows; i++) {
            bu_row *m = &b->rows[i];
            m->round[round] = 0;
            for (int j = 0; j < n; j++) {
                if ((rc = one_update(b, m, &st, &dt, e)))
                    return rc;
                m->t[m->n] = dt;
                m->fwd[m->n] = st.t_fwd_bwd;
                m->gram[m->n] = st.t_gram_solve;
                m->comb[m->n] = st.t_combine_adam_polyak;
                m->other[m->n] = dt - st.t_fwd_bwd - st.t_gram_solve - st.t_combine_adam_polyak;
                m->round[round] += dt;
                m->n++;
                m->skipped += st.skipped != 0;
            }
            sgemm_sample(b);
        }
        done += n;
        if (b->progress)
            fprintf(stderr, "\r%s: %d/%d updates per method", b->name, done, o->updates);
    }
    if (b->progress)
        fprintf(stderr, "\n");
    return 0;
}

/* The whole loop, as `mtrl run` after its warm-up: per iteration the policy
 * acts on the K observations, one update, one step of every env, K
 * transitions stored. Methods take turns iteration by iteration (all step
 * the same envs), and each iteration is timed on its own, so an episode's
 * figure can be L times the median iteration: a burst of load from another
 * process then moves it less than it moves a sum. */
int bu_time_episodes(bu_run *b, mtrl_err *e)
{
    const bu_opts *o = b->o;
    int rc, n = 0;
    for (int ep = 0; ep < o->episodes; ep++) {
        for (int it = 0; it < b->ep_iters; it++, n++) {
            for (int i = 0; i < b->n_rows; i++) {
                bu_row *m = &b->rows[i];
                double t0 = tm_now();
                sac_update_stats st;
                double dt;
                env_step_result res;
                if ((rc = collect_act(b->col, m->agent, NULL, e)) ||
                    (rc = one_update(b, m, &st, &dt, e)))
                    return rc;
                if ((rc = collect_step(b->col, b->env, b->rb, &res, e)))
                    return err_prefix(e, "%s", b->name);
                m->ep_env[n] = collect_env_seconds(b->col);
                m->ep[n] = tm_now() - t0;
            }
            if (it % 8 == 0)
                sgemm_sample(b);
        }
        if (b->progress)
            fprintf(stderr, "\r%s: %d/%d episodes per method", b->name, ep + 1, o->episodes);
    }
    if (o->episodes > 0 && b->progress)
        fprintf(stderr, "\n");
    return 0;
}
