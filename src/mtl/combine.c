/* The combine pipeline: the input check, then the route the method table
 * (methods.c) gives for the call, one function per route:
 *   fixed     mean, sum: constant weights, one sgemv
 *   gram      the k x k Gram (one ssyrk, or the caller's), the method's
 *             weights from it, one sgemv
 *   rep_gram  the weights from the caller's representation Gram instead
 *   blind     weights that look at nothing of G (draws, losses, a cache)
 *   rows      the method works on G's rows itself (GradDrop, CAGrad-Fast's
 *             subset Gram)
 * Scratch comes from the combiner's arena, emptied at each call; a method
 * that asks for more than it declared fails the call with an error. */
#include "mtl/mtl_impl.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "core/timer.h"

static void fill_gram_stats(const mtl_combiner *c, int k, mtl_stats *st)
{
    const double *A = c->A;
    double s = 0, dd = 0, mc = 1;
    int nc = 0;
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            double a = A[(long)i * k + j];
            s += a;
            dd += c->wd[i] * a * c->wd[j];
            if (j > i) {
                double den = sqrt(A[(long)i * k + i] * A[(long)j * k + j]);
                double cs = den > 0 ? a / den : 0;
                if (cs < mc)
                    mc = cs;
                nc += a < 0;
            }
        }
    st->gram = 1;
    st->g0_norm = sqrt(fmax(s, 0)) / k;
    st->d_norm = sqrt(fmax(dd, 0));
    st->min_cos = mc;
    st->n_conflicts = nc;
}

/* w = wd in float; 0 if one of them is not finite (st->nonfinite set). */
static int weights_to_float(mtl_combiner *c, int k, mtl_stats *st)
{
    for (int i = 0; i < k; i++) {
        c->w[i] = (float)c->wd[i];
        if (!isfinite(c->w[i]))
            st->nonfinite = 1;
    }
    return !st->nonfinite;
}

static void zero_weights(mtl_combiner *c, int k)
{
    for (int j = 0; j < k; j++)
        c->w[j] = 0.0f;
}

/* d = G^T w: the caller's row sum (mtl_input.row_sum), else one sgemv. */
static void row_sum(const mtl_input *in, long P, const float *w, float *d)
{
    if (in->row_sum)
        in->row_sum(in->row_sum_ctx, in->k, P, in->G, w, d);
    else
        cblas_sgemv(CblasRowMajor, CblasTrans, in->k, (int)P, 1.0f, in->G, (int)P, w, 1, 0.0f,
                    d, 1);
}

/* Weights in wd that did not come from a Gram: one sgemv, the finiteness
 * check, and ||d|| from d itself (there is no Gram to take it from). */
static void combine_fixed(mtl_combiner *c, const mtl_input *in, float *d, mtl_stats *st)
{
    const int k = in->k;
    const long P = c->P;
    double t0 = tm_now();
    if (weights_to_float(c, k, st)) {
        row_sum(in, P, c->w, d);
        if (mtl_any_nonfinite(d, P))
            st->nonfinite = 1;
        else
            st->d_norm = cblas_snrm2((int)P, d, 1);
    }
    st->t_combine = tm_now() - t0;
}

static void route_fixed(mtl_combiner *c, const mtl_method_def *def, const mtl_input *in,
                        float *d, mtl_stats *st, double t0)
{
    const int k = in->k;
    const long P = c->P;
    /* No Gram: the weights are fixed, so the only pass over P is the sgemv. */
    float wv = def->unit_weights ? 1.0f : 1.0f / (float)k;
    for (int i = 0; i < k; i++)
        c->w[i] = wv, c->wd[i] = wv;
    row_sum(in, P, c->w, d);
    if (mtl_any_nonfinite(d, P))
        st->nonfinite = 1;
    else {
        st->d_norm = cblas_snrm2((int)P, d, 1);
        st->g0_norm = def->unit_weights ? st->d_norm / k : st->d_norm;
    }
    st->t_combine = tm_now() - t0;
}

static void route_gram(mtl_combiner *c, const mtl_method_def *def, const mtl_input *in,
                       float *d, mtl_stats *st, double t0)
{
    const int k = in->k;
    const long P = c->P;
    if (in->gram) {
        mtl_sym_full(k, in->gram, c->A);
    } else {
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, k, (int)P, 1.0f, in->G, (int)P,
                    0.0f, c->Af, k);
        mtl_sym_to_double(k, c->Af, c->A);
    }
    double t1 = tm_now();
    st->t_gram = t1 - t0;
    for (int i = 0; i < k; i++)
        if (!isfinite(c->A[(long)i * k + i])) {
            /* A NaN/Inf anywhere in G reaches the diagonal (x*x is never
             * negative, so nothing cancels it): the solve would be garbage. */
            st->nonfinite = 1;
            zero_weights(c, k);
            return;
        }
    def->gram(c, in, st);
    if (c->arena.overflow)
        return;
    weights_to_float(c, k, st);
    double t2 = tm_now();
    st->t_solve = t2 - t1;
    fill_gram_stats(c, k, st);
    if (st->nonfinite)
        return;
    row_sum(in, P, c->w, d);
    if (mtl_any_nonfinite(d, P))
        st->nonfinite = 1;
    st->t_combine = tm_now() - t2;
}

static void route_rep_gram(mtl_combiner *c, const mtl_method_def *def, const mtl_input *in,
                           float *d, mtl_stats *st, double t0)
{
    const int k = in->k;
    /* Weights from the representation Gram; G only enters the sgemv. */
    for (long t = 0; t < (long)k * k; t++) {
        c->A[t] = in->rep_gram[t];
        if (!isfinite(c->A[t]))
            st->nonfinite = 1;
    }
    if (st->nonfinite) {
        zero_weights(c, k);
        return;
    }
    def->gram(c, in, st);
    if (c->arena.overflow)
        return;
    st->t_solve = tm_now() - t0;
    combine_fixed(c, in, d, st);
}

static void route_blind(mtl_combiner *c, const mtl_method_def *def, const mtl_input *in,
                        float *d, mtl_stats *st, double t0)
{
    /* Weights that need nothing from G: no Gram, one sgemv. */
    def->blind(c, in, st);
    if (c->arena.overflow)
        return;
    st->t_solve = tm_now() - t0;
    combine_fixed(c, in, d, st);
    if (def->cap)
        def->cap(c, in->k, d, st);
}

static int check_tasks(mtl_combiner *c, const mtl_input *in, mtrl_err *e)
{
    const int k = in->k;
    if (!in->tasks) {
        for (int i = 0; i < k; i++)
            c->tasks[i] = i;
        return 0;
    }
    int *seen = mtl_arena_ints(&c->arena, c->K); /* given back before any solver */
    if (!seen)
        return err_set(e, MTRL_ERUNTIME, "mtl_combine: no scratch for the task check");
    for (int t = 0; t < c->K; t++)
        seen[t] = 0;
    for (int i = 0; i < k; i++) {
        int t = in->tasks[i];
        if (t < 0 || t >= c->K || seen[t])
            return err_set(e, MTRL_EINPUT,
                           "mtl_combine: row %d has task %d (tasks must be distinct, in "
                           "0..%d)",
                           i, t, c->K - 1);
        seen[t] = 1;
        c->tasks[i] = t;
    }
    mtl_arena_clear(&c->arena);
    return 0;
}

static int check_input(mtl_combiner *c, const mtl_input *in, mtl_stats *st, mtrl_err *e)
{
    if (!c || !in || !in->G)
        return err_set(e, MTRL_EINPUT, "mtl_combine: NULL combiner, input or G");
    const int k = in->k;
    if (k < 1 || k > c->K)
        return err_set(e, MTRL_EINPUT, "mtl_combine: %d tasks given, combiner holds 1..%d",
                       k, c->K);
    int rc = check_tasks(c, in, e);
    if (rc)
        return rc;
    const unsigned needs = mtl_methods[c->o.method].needs;
    if ((needs & MTL_NEEDS_LOSSES) && !in->losses)
        return err_set(e, MTRL_EINPUT, "mtl_combine: %s needs the per-task losses",
                       mtl_method_name(c->o.method));
    if (in->losses)
        for (int i = 0; i < k; i++) {
            if (!isfinite(in->losses[i]))
                st->nonfinite = 1;
            else if ((needs & MTL_NEEDS_LOSSES) && in->losses[i] < 0)
                return err_set(e, MTRL_EINPUT,
                               "mtl_combine: %s works on log losses, but task %d's loss is "
                               "%g < 0",
                               mtl_method_name(c->o.method), c->tasks[i], in->losses[i]);
        }
    return 0;
}

/* The end of every call: a method that outgrew its declared scratch is an
 * error (its results are not to be used); a non-finite call is dropped
 * from the method's memory. */
static int finish(mtl_combiner *c, const mtl_method_def *def, int k, mtl_stats *st,
                  mtrl_err *e)
{
    if (c->arena.overflow) {
        st->nonfinite = 1;
        if (def->skipped)
            def->skipped(c);
        return err_set(e, MTRL_ERUNTIME,
                       "mtl: %s on %d rows needs %zu bytes of scratch, but declares %zu",
                       mtl_method_name(c->o.method), k, c->arena.want, c->arena.cap);
    }
    if (st->nonfinite && def->skipped)
        def->skipped(c);
    return 0;
}

int mtl_combine_in(mtl_combiner *c, const mtl_input *in, float *d, mtl_stats *stats,
                   mtrl_err *e)
{
    mtl_stats local;
    mtl_stats *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    if (!d)
        return err_set(e, MTRL_EINPUT, "mtl_combine: NULL d");
    if (c)
        mtl_arena_clear(&c->arena);
    int rc = check_input(c, in, st, e);
    if (rc)
        return rc;
    c->fast_k = 0; /* a pending mtl_fast_draw is not for this call */
    st->K = in->k;
    st->w = c->w;
    st->min_cos = 1;
    const mtl_method_def *def = &mtl_methods[c->o.method];
    mtl_route route = def->pick ? def->pick(c, in) : def->route;
    double t0 = tm_now();
    switch (route) {
    case MTL_ROUTE_FIXED: route_fixed(c, def, in, d, st, t0); break;
    case MTL_ROUTE_GRAM: route_gram(c, def, in, d, st, t0); break;
    case MTL_ROUTE_REP_GRAM: route_rep_gram(c, def, in, d, st, t0); break;
    case MTL_ROUTE_BLIND: route_blind(c, def, in, d, st, t0); break;
    case MTL_ROUTE_ROWS: def->rows(c, in->k, in->G, d, st); break;
    }
    return finish(c, def, in->k, st, e);
}

int mtl_fast_draw(mtl_combiner *c, int k, int *order, mtrl_err *e)
{
    if (!c || !order)
        return err_set(e, MTRL_EINPUT, "mtl_fast_draw: NULL combiner or order");
    if (c->o.method != MTL_CAGRAD_FAST)
        return err_set(e, MTRL_EINPUT, "mtl_fast_draw: the combiner is %s, not cagrad_fast",
                       mtl_method_name(c->o.method));
    if (k < 1 || k > c->K)
        return err_set(e, MTRL_EINPUT, "mtl_fast_draw: %d tasks given, combiner holds 1..%d",
                       k, c->K);
    return mtl_cagrad_fast_draw(c, k, order);
}

int mtl_combine_fast_gram(mtl_combiner *c, const float *R, const double *gram,
                          mtl_row_sum_fn row_sum, void *row_sum_ctx, float *d, mtl_stats *stats,
                          mtrl_err *e)
{
    mtl_stats local;
    mtl_stats *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    if (!c || !R || !d)
        return err_set(e, MTRL_EINPUT, "mtl_combine_fast: NULL combiner, rows or d");
    if (c->o.method != MTL_CAGRAD_FAST || c->fast_k < 1)
        return err_set(e, MTRL_EINPUT,
                       "mtl_combine_fast: no subset drawn (call mtl_fast_draw first, and "
                       "combine each draw once)");
    int k = c->fast_k;
    st->K = k;
    st->w = c->w;
    st->min_cos = 1;
    mtl_arena_clear(&c->arena);
    c->given_gram = gram;
    c->given_row_sum = row_sum;
    c->given_row_sum_ctx = row_sum_ctx;
    mtl_cagrad_fast_given(c, R, d, st);
    c->given_gram = NULL;
    c->given_row_sum = NULL;
    return finish(c, &mtl_methods[c->o.method], k, st, e);
}

int mtl_method_rows_only_summed(mtl_method m)
{
    const mtl_method_def *def = &mtl_methods[m];
    return def->route == MTL_ROUTE_GRAM && !def->pick && !def->rows && !def->blind &&
           !def->cap && !def->needs;
}

int mtl_rows_only_summed(const mtl_combiner *c) { return mtl_method_rows_only_summed(c->o.method); }
