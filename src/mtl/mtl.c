/* mtl: the combiner object, the shared Gram -> weights -> sgemv pipeline,
 * and checkpoint state. The per-method K-dimensional solvers live in one
 * file per method (pcgrad.c, cagrad.c, mgda.c, aligned.c, imtl.c, graddrop.c,
 * rlw.c, nash.c, famo.c, upgrad.c, conflict_free.c); linalg.c holds the
 * small dense solvers they share. */
#include "mtl/mtl_impl.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/timer.h"

static const char *const method_names[MTL_METHOD_COUNT] = {
    CFG_MTL_METHOD_LIST(CFG_ENUM_WORD, _)};

const char *mtl_method_name(mtl_method m)
{
    return (m >= 0 && m < MTL_METHOD_COUNT) ? method_names[m] : "?";
}

void mtl_options_default(mtl_options *o, mtl_method m)
{
    memset(o, 0, sizeof *o);
    o->method = m;
    o->c = 0.5;
    o->lr = 0; /* auto: 25, or 50 for a 50-row solve (reference) */
    o->momentum = 0.5;
    o->steps = 20;
    o->rescale = MTL_RESCALE_REFERENCE;
    o->fast_subset = 4;
    o->fast_gram = MTL_FAST_GRAM_FULL;
    o->mgda_normalize = 1;
    o->graddrop_k = 1.0;
    o->rlw_dist = MTL_RLW_DIRICHLET;
    o->nash_update_every = 1;
    o->nash_iters = 20;
    o->nash_max_norm = 0;
    o->famo_lr = 0.025;
    o->famo_gamma = 0.01;
    o->famo_scale = MTL_FAMO_PAPER;
    o->upgrad_norm_eps = 1e-4;
    o->upgrad_reg_eps = 1e-4;
    o->seed = 0;
    o->stream = RNG_STREAM_MTL;
}

double mtl_rescale_factor(const mtl_options *o, int fast)
{
    switch (o->rescale) {
    case MTL_RESCALE_NONE:
        return 1.0;
    case MTL_RESCALE_C2:
        return 1.0 + o->c * o->c;
    case MTL_RESCALE_C:
        return 1.0 + o->c;
    case MTL_RESCALE_REFERENCE:
    default:
        return fast ? 1.0 + o->c : 1.0 + o->c * o->c;
    }
}

void mtl_sym_to_double(int k, const float *Af, double *A)
{
    for (int i = 0; i < k; i++)
        for (int j = i; j < k; j++)
            A[(long)i * k + j] = A[(long)j * k + i] = (double)Af[(long)i * k + j];
}

void mtl_sym_full(int k, const double *U, double *A)
{
    for (int i = 0; i < k; i++)
        for (int j = i; j < k; j++)
            A[(long)i * k + j] = A[(long)j * k + i] = U[(long)i * k + j];
}

static int check_options(int K, long P, const mtl_options *o, mtrl_err *e)
{
    if (K < 1)
        return err_set(e, MTRL_EINPUT, "mtl: number of tasks must be >= 1 (got %d)", K);
    if (P < 1 || P > 2147483647L)
        return err_set(e, MTRL_EINPUT, "mtl: parameter count must be in [1, 2^31) (got %ld)",
                       P);
    if (o->method < 0 || o->method >= MTL_METHOD_COUNT)
        return err_set(e, MTRL_EINPUT, "mtl: unknown method id %d", (int)o->method);
    if (!(o->c >= 0) || !isfinite(o->c))
        return err_set(e, MTRL_EINPUT, "mtl: c must be a finite number >= 0 (got %g)", o->c);
    if (!isfinite(o->lr))
        return err_set(e, MTRL_EINPUT, "mtl: lr must be finite (got %g; <= 0 means auto)",
                       o->lr);
    if (!(o->momentum >= 0 && o->momentum < 1))
        return err_set(e, MTRL_EINPUT, "mtl: momentum must be in [0, 1) (got %g)", o->momentum);
    if (o->steps < 0 || o->steps > 100000)
        return err_set(e, MTRL_EINPUT, "mtl: steps must be in [0, 100000] (got %d)", o->steps);
    if (o->rescale < MTL_RESCALE_REFERENCE || o->rescale > MTL_RESCALE_C)
        return err_set(e, MTRL_EINPUT, "mtl: unknown rescale id %d", (int)o->rescale);
    if (o->method == MTL_CAGRAD_FAST && o->fast_subset < 1)
        return err_set(e, MTRL_EINPUT, "mtl: cagrad_fast subset size must be >= 1 (got %d)",
                       o->fast_subset);
    if (o->fast_gram != MTL_FAST_GRAM_FULL && o->fast_gram != MTL_FAST_GRAM_SUBSET)
        return err_set(e, MTRL_EINPUT, "mtl: unknown fast_gram id %d", (int)o->fast_gram);
    if (!(o->graddrop_k >= 0) || !isfinite(o->graddrop_k))
        return err_set(e, MTRL_EINPUT, "mtl: graddrop_k must be a finite number >= 0 (got %g)",
                       o->graddrop_k);
    if (o->rlw_dist != MTL_RLW_DIRICHLET && o->rlw_dist != MTL_RLW_NORMAL)
        return err_set(e, MTRL_EINPUT, "mtl: unknown rlw_dist id %d", (int)o->rlw_dist);
    if (o->nash_update_every < 1)
        return err_set(e, MTRL_EINPUT, "mtl: nash_update_every must be >= 1 (got %d)",
                       o->nash_update_every);
    if (o->nash_iters < 1 || o->nash_iters > 1000)
        return err_set(e, MTRL_EINPUT, "mtl: nash_iters must be in [1, 1000] (got %d)",
                       o->nash_iters);
    if (!(o->nash_max_norm >= 0) || !isfinite(o->nash_max_norm))
        return err_set(e, MTRL_EINPUT,
                       "mtl: nash_max_norm must be a finite number >= 0 (got %g; 0 = off)",
                       o->nash_max_norm);
    if (!(o->famo_lr > 0) || !isfinite(o->famo_lr))
        return err_set(e, MTRL_EINPUT, "mtl: famo_lr must be a finite number > 0 (got %g)",
                       o->famo_lr);
    if (!(o->famo_gamma >= 0) || !isfinite(o->famo_gamma))
        return err_set(e, MTRL_EINPUT, "mtl: famo_gamma must be a finite number >= 0 (got %g)",
                       o->famo_gamma);
    if (o->famo_scale != MTL_FAMO_PAPER && o->famo_scale != MTL_FAMO_MTRL)
        return err_set(e, MTRL_EINPUT, "mtl: unknown famo_scale id %d", (int)o->famo_scale);
    if (!(o->upgrad_norm_eps >= 0) || !isfinite(o->upgrad_norm_eps))
        return err_set(e, MTRL_EINPUT,
                       "mtl: upgrad_norm_eps must be a finite number >= 0 (got %g)",
                       o->upgrad_norm_eps);
    if (!(o->upgrad_reg_eps >= 0) || !isfinite(o->upgrad_reg_eps))
        return err_set(e, MTRL_EINPUT,
                       "mtl: upgrad_reg_eps must be a finite number >= 0 (got %g)",
                       o->upgrad_reg_eps);
    return 0;
}

int mtl_create(mtl_combiner **out, int K, long P, const mtl_options *o, mtrl_err *e)
{
    *out = NULL;
    int rc = check_options(K, P, o, e);
    if (rc)
        return rc;
    mtl_combiner *c = calloc(1, sizeof *c);
    if (!c)
        return err_set(e, MTRL_ENOMEM, "mtl: out of memory");
    c->o = *o;
    c->K = K;
    c->P = P;
    rng_seed(&c->rng, o->seed, o->stream);
    long kk = (long)K * K, k1 = K + 1;
    /* Enough for any solver: MGDA's bordered system, CAGrad-Fast's two
     * Grams plus the dual's own scratch, the eigendecomposition's LAPACK
     * workspace plus three K x K matrices (Nash-MTL's Hessian, UPGrad's
     * QP blocks) are the largest. */
    c->work_len = 4 * k1 * k1 + 16 * k1 + mtl_cagrad_dual_work(K + 1) + 3 * kk +
                  mtl_eigh_work(K) + 16L * K;
    c->iwork_len = 4 * k1 + mtl_eigh_iwork(K) + 2L * K;
    c->Af = malloc(sizeof(float) * kk);
    c->A = malloc(sizeof(double) * kk);
    c->wd = malloc(sizeof(double) * K);
    c->w = malloc(sizeof(float) * K);
    c->work = malloc(sizeof(double) * c->work_len);
    c->iwork = malloc(sizeof(int) * c->iwork_len);
    c->tasks = malloc(sizeof(int) * K);
    int ok = c->Af && c->A && c->wd && c->w && c->work && c->iwork && c->tasks;
    if (ok && o->method == MTL_GRADDROP) {
        c->fs = malloc(sizeof(float) * 4 * MTL_GD_BLOCK);
        ok = c->fs != NULL;
    }
    if (ok && (o->method == MTL_NASH_MTL || o->method == MTL_FAMO)) {
        c->state_len = o->method == MTL_NASH_MTL ? mtl_nash_state_len(K) : mtl_famo_state_len(K);
        c->state = calloc((size_t)c->state_len, sizeof(float));
        ok = c->state != NULL;
        if (ok && o->method == MTL_NASH_MTL)
            mtl_nash_init_state(c);
        else if (ok)
            mtl_famo_init_state(c);
    }
    if (ok && o->method == MTL_CAGRAD_FAST) {
        c->fast_perm = malloc(sizeof(int) * 2 * (size_t)K);
        ok = c->fast_perm != NULL;
    }
    if (ok && o->method == MTL_CAGRAD_FAST && o->fast_gram == MTL_FAST_GRAM_SUBSET &&
        o->fast_subset < K) {
        c->rows = malloc(sizeof(float) * (o->fast_subset + 1) * P);
        ok = c->rows != NULL;
    }
    if (!ok) {
        mtl_destroy(c);
        return err_set(e, MTRL_ENOMEM, "mtl: out of memory for %s workspace (K %d, P %ld)",
                       mtl_method_name(o->method), K, P);
    }
    *out = c;
    return 0;
}

void mtl_destroy(mtl_combiner *c)
{
    if (!c)
        return;
    free(c->Af);
    free(c->A);
    free(c->wd);
    free(c->w);
    free(c->work);
    free(c->iwork);
    free(c->rows);
    free(c->fs);
    free(c->tasks);
    free(c->fast_perm);
    free(c->state);
    free(c);
}

/* Nonzero if any of x[0..n) is NaN or +-Inf. Integer test on the exponent
 * bits so the loop vectorizes: this runs over P on every update. */
static int any_nonfinite_f(const float *x, long n)
{
    const uint32_t *u = (const uint32_t *)(const void *)x;
    uint32_t bad = 0;
    for (long i = 0; i < n; i++)
        bad |= ((u[i] & 0x7f800000u) == 0x7f800000u);
    return bad != 0;
}

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

/* Weights in wd that did not come from a Gram: one sgemv, the finiteness
 * check, and ||d|| from d itself (there is no Gram to take it from). */
static void combine_fixed(mtl_combiner *c, int k, const float *G, float *d, mtl_stats *st)
{
    const long P = c->P;
    double t0 = tm_now();
    for (int i = 0; i < k; i++) {
        c->w[i] = (float)c->wd[i];
        if (!isfinite(c->w[i]))
            st->nonfinite = 1;
    }
    if (st->nonfinite) {
        st->t_combine = tm_now() - t0;
        return;
    }
    cblas_sgemv(CblasRowMajor, CblasTrans, k, (int)P, 1.0f, G, (int)P, c->w, 1, 0.0f, d, 1);
    if (any_nonfinite_f(d, P))
        st->nonfinite = 1;
    else
        st->d_norm = cblas_snrm2((int)P, d, 1);
    st->t_combine = tm_now() - t0;
}

/* Nash-MTL's max-norm: the reference clips the norm of the update after the
 * backward pass; here on the weights when ||d|| is known from the Gram. */
static void nash_clip_weights(mtl_combiner *c, int k)
{
    double mx = c->o.nash_max_norm, dd = 0;
    if (mx <= 0)
        return;
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++)
            dd += c->wd[i] * c->A[(long)i * k + j] * c->wd[j];
    if (dd > mx * mx)
        for (int i = 0; i < k; i++)
            c->wd[i] *= mx / sqrt(dd);
}

static int check_input(mtl_combiner *c, const mtl_input *in, mtl_stats *st, mtrl_err *e)
{
    if (!c || !in || !in->G)
        return err_set(e, MTRL_EINPUT, "mtl_combine: NULL combiner, input or G");
    const int k = in->k;
    if (k < 1 || k > c->K)
        return err_set(e, MTRL_EINPUT, "mtl_combine: %d tasks given, combiner holds 1..%d",
                       k, c->K);
    if (in->tasks) {
        int *seen = c->iwork; /* free until a solver runs */
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
    } else {
        for (int i = 0; i < k; i++)
            c->tasks[i] = i;
    }
    const unsigned needs = mtl_needs(c);
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

int mtl_combine_in(mtl_combiner *c, const mtl_input *in, float *d, mtl_stats *stats,
                   mtrl_err *e)
{
    mtl_stats local;
    mtl_stats *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    if (!d)
        return err_set(e, MTRL_EINPUT, "mtl_combine: NULL d");
    int rc = check_input(c, in, st, e);
    if (rc)
        return rc;
    const int k = in->k;
    const float *G = in->G;
    const long P = c->P;
    c->fast_k = 0; /* a pending mtl_fast_draw is not for this call */
    st->K = k;
    st->w = c->w;
    st->min_cos = 1;

    const mtl_method m = c->o.method;
    double t0 = tm_now();
    if (m == MTL_MEAN || m == MTL_SUM) {
        /* No Gram: the weights are fixed, so the only pass over P is the sgemv. */
        float wv = m == MTL_MEAN ? 1.0f / (float)k : 1.0f;
        for (int i = 0; i < k; i++)
            c->w[i] = wv, c->wd[i] = wv;
        cblas_sgemv(CblasRowMajor, CblasTrans, k, (int)P, 1.0f, G, (int)P, c->w, 1, 0.0f, d,
                    1);
        if (any_nonfinite_f(d, P))
            st->nonfinite = 1;
        else {
            st->d_norm = cblas_snrm2((int)P, d, 1);
            st->g0_norm = m == MTL_MEAN ? st->d_norm : st->d_norm / k;
        }
        st->t_combine = tm_now() - t0;
        return 0;
    }
    if (m == MTL_CAGRAD_FAST && c->o.fast_gram == MTL_FAST_GRAM_SUBSET &&
        c->o.fast_subset < k) {
        /* Never forms the K x K Gram: gathers |S|+1 rows and works on them. */
        mtl_cagrad_fast_subset(c, k, G, d, st);
        if (!st->nonfinite) {
            double t1 = tm_now();
            st->nonfinite = any_nonfinite_f(d, P);
            st->t_combine += tm_now() - t1;
        }
        return 0;
    }
    if (m == MTL_GRADDROP) {
        mtl_graddrop(c, k, G, d, st);
        return 0;
    }
    if (m == MTL_RLW || m == MTL_FAMO || (m == MTL_NASH_MTL && mtl_nash_reuse(c))) {
        /* Weights that need nothing from G: no Gram, one sgemv. */
        if (m == MTL_RLW)
            mtl_rlw_weights(c, k);
        else if (m == MTL_NASH_MTL)
            mtl_nash_cached(c, k);
        else if (st->nonfinite) { /* a NaN loss: FAMO's weights would be NaN */
            for (int j = 0; j < k; j++)
                c->w[j] = 0.0f;
            mtl_famo_cancel(c);
            return 0;
        } else
            mtl_famo_weights(c, k, in->losses);
        double t1 = tm_now();
        st->t_solve = t1 - t0;
        combine_fixed(c, k, G, d, st);
        if (m == MTL_NASH_MTL) {
            mtl_nash_count(c);
            double mx = c->o.nash_max_norm;
            if (!st->nonfinite && mx > 0 && st->d_norm > mx) {
                float f = (float)(mx / st->d_norm);
                cblas_sscal((int)P, f, d, 1);
                for (int i = 0; i < k; i++)
                    c->w[i] *= f;
                st->d_norm = mx;
            }
        }
        if (m == MTL_FAMO && st->nonfinite)
            mtl_famo_cancel(c);
        return 0;
    }
    if (m == MTL_ALIGNED_MTL_UB && in->rep_gram) {
        /* Weights from the representation Gram; G only enters the sgemv. */
        for (long t = 0; t < (long)k * k; t++) {
            c->A[t] = in->rep_gram[t];
            if (!isfinite(c->A[t]))
                st->nonfinite = 1;
        }
        if (st->nonfinite) {
            for (int j = 0; j < k; j++)
                c->w[j] = 0.0f;
            return 0;
        }
        st->iters = mtl_aligned_solve(k, c->A, c->wd, c->work, c->iwork);
        st->t_solve = tm_now() - t0;
        combine_fixed(c, k, G, d, st);
        return 0;
    }

    if (in->gram) {
        mtl_sym_full(k, in->gram, c->A);
    } else {
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, k, (int)P, 1.0f, G, (int)P, 0.0f,
                    c->Af, k);
        mtl_sym_to_double(k, c->Af, c->A);
    }
    double t1 = tm_now();
    st->t_gram = t1 - t0;
    for (int i = 0; i < k; i++)
        if (!isfinite(c->A[(long)i * k + i])) {
            /* A NaN/Inf anywhere in G reaches the diagonal (x*x is never
             * negative, so nothing cancels it): the solve would be garbage. */
            st->nonfinite = 1;
            for (int j = 0; j < k; j++)
                c->w[j] = 0.0f;
            if (m == MTL_NASH_MTL)
                mtl_nash_count(c);
            return 0;
        }

    int iters = 0;
    switch (m) {
    case MTL_PCGRAD: mtl_pcgrad_weights(c, k, &iters); break;
    case MTL_CAGRAD: mtl_cagrad_weights(c, k, &iters); break;
    case MTL_CAGRAD_FAST: mtl_cagrad_fast_weights(c, k, &iters); break;
    case MTL_MGDA: mtl_mgda_weights(c, k, &iters); break;
    case MTL_ALIGNED_MTL:
    case MTL_ALIGNED_MTL_UB: mtl_aligned_weights(c, k, &iters); break;
    case MTL_IMTL_G: mtl_imtl_weights(c, k, &iters); break;
    case MTL_NASH_MTL:
        mtl_nash_weights(c, k, &iters, &st->fallback);
        mtl_nash_count(c);
        nash_clip_weights(c, k);
        break;
    case MTL_UPGRAD: mtl_upgrad_weights(c, k, &iters); break;
    case MTL_DUALPROJ: mtl_dualproj_weights(c, k, &iters); break;
    case MTL_CONFIG: mtl_config_weights(c, k, &iters); break;
    default: break; /* handled above */
    }
    st->iters = iters;
    for (int i = 0; i < k; i++) {
        c->w[i] = (float)c->wd[i];
        if (!isfinite(c->w[i]))
            st->nonfinite = 1;
    }
    double t2 = tm_now();
    st->t_solve = t2 - t1;
    fill_gram_stats(c, k, st);
    if (st->nonfinite)
        return 0;
    cblas_sgemv(CblasRowMajor, CblasTrans, k, (int)P, 1.0f, G, (int)P, c->w, 1, 0.0f, d, 1);
    if (any_nonfinite_f(d, P))
        st->nonfinite = 1;
    st->t_combine = tm_now() - t2;
    return 0;
}

int mtl_combine_k(mtl_combiner *c, int k, const float *G, const float *losses, float *d,
                  mtl_stats *stats, mtrl_err *e)
{
    mtl_input in = {.k = k, .G = G, .losses = losses};
    return mtl_combine_in(c, &in, d, stats, e);
}

int mtl_combine(mtl_combiner *c, const float *G, const float *losses, float *d,
                mtl_stats *stats, mtrl_err *e)
{
    if (!c)
        return err_set(e, MTRL_EINPUT, "mtl_combine: NULL combiner");
    return mtl_combine_k(c, c->K, G, losses, d, stats, e);
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

int mtl_combine_fast(mtl_combiner *c, const float *R, float *d, mtl_stats *stats, mtrl_err *e)
{
    return mtl_combine_fast_gram(c, R, NULL, d, stats, e);
}

int mtl_combine_fast_gram(mtl_combiner *c, const float *R, const double *gram, float *d,
                          mtl_stats *stats, mtrl_err *e)
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
    st->K = c->fast_k;
    st->w = c->w;
    st->min_cos = 1;
    c->given_gram = gram;
    mtl_cagrad_fast_given(c, R, d, st);
    c->given_gram = NULL;
    if (!st->nonfinite) {
        double t1 = tm_now();
        st->nonfinite = any_nonfinite_f(d, c->P);
        st->t_combine += tm_now() - t1;
    }
    return 0;
}

int mtl_after_step(mtl_combiner *c, const float *losses_after, mtrl_err *e)
{
    if (!c)
        return err_set(e, MTRL_EINPUT, "mtl_after_step: NULL combiner");
    if (c->o.method != MTL_FAMO)
        return 0;
    return mtl_famo_after_step(c, losses_after, e);
}

unsigned mtl_needs(const mtl_combiner *c)
{
    if (!c)
        return 0;
    if (c->o.method == MTL_FAMO)
        return MTL_NEEDS_LOSSES | MTL_NEEDS_AFTER_STEP;
    if (c->o.method == MTL_ALIGNED_MTL_UB)
        return MTL_NEEDS_REP_GRAM;
    return 0;
}

mtl_method mtl_get_method(const mtl_combiner *c) { return c->o.method; }
const mtl_options *mtl_get_options(const mtl_combiner *c) { return &c->o; }
int mtl_max_tasks(const mtl_combiner *c) { return c->K; }
long mtl_num_params(const mtl_combiner *c) { return c->P; }
rng_state *mtl_rng(mtl_combiner *c) { return &c->rng; }
long mtl_state_len(const mtl_combiner *c) { return c->state_len; }

void mtl_state_get(const mtl_combiner *c, float *out)
{
    if (c->state_len)
        memcpy(out, c->state, sizeof(float) * c->state_len);
}

int mtl_state_set(mtl_combiner *c, const float *in, long n, mtrl_err *e)
{
    if (n != c->state_len)
        return err_set(e, MTRL_EINPUT, "mtl: %s state has %ld values, got %ld",
                       mtl_method_name(c->o.method), c->state_len, n);
    if (n)
        memcpy(c->state, in, sizeof(float) * n);
    return 0;
}

/* Checkpoint layout under group: datasets rng_s (4 x int64, the xoshiro
 * words bit for bit), rng_cached_normal (f64), rng_has_cached (int64) and
 * state (float32, possibly empty); attributes method, tasks, params on the
 * group so a checkpoint of another method or shape is refused by name. */
int mtl_save(const mtl_combiner *c, h5_file *f, const char *group, mtrl_err *e)
{
    char name[512];
    int64_t s[4];
    for (int i = 0; i < 4; i++)
        memcpy(&s[i], &c->rng.s[i], sizeof s[i]);
    long four = 4, one = 1, len = c->state_len;
    int64_t has = c->rng.has_cached;
    int rc;
#define MTL_NAME(x) (snprintf(name, sizeof name, "%s/%s", group, x), name)
    if ((rc = h5_write_i64(f, MTL_NAME("rng_s"), 1, &four, s, e)) ||
        (rc = h5_write_f64(f, MTL_NAME("rng_cached_normal"), 1, &one, &c->rng.cached_normal,
                           e)) ||
        (rc = h5_write_i64(f, MTL_NAME("rng_has_cached"), 1, &one, &has, e)) ||
        (rc = h5_write_f32(f, MTL_NAME("state"), 1, &len, c->state, e)) ||
        (rc = h5_write_attr_str(f, group, "method", mtl_method_name(c->o.method), e)) ||
        (rc = h5_write_attr_i64(f, group, "tasks", c->K, e)) ||
        (rc = h5_write_attr_i64(f, group, "params", c->P, e)))
        return err_prefix(e, "saving the %s combiner", mtl_method_name(c->o.method));
    return 0;
}

int mtl_load(mtl_combiner *c, h5_file *f, const char *group, mtrl_err *e)
{
    char name[512], meth[64];
    int64_t tasks, params, s[4], has;
    double cached;
    int rc;
    if ((rc = h5_read_attr_str(f, group, "method", meth, sizeof meth, e)) ||
        (rc = h5_read_attr_i64(f, group, "tasks", &tasks, e)) ||
        (rc = h5_read_attr_i64(f, group, "params", &params, e)))
        return err_prefix(e, "loading the %s combiner", mtl_method_name(c->o.method));
    if (strcmp(meth, mtl_method_name(c->o.method)))
        return err_set(e, MTRL_EINPUT,
                       "%s: combiner '%s' in the checkpoint is '%s', the configuration says "
                       "'%s'",
                       h5_path(f), group, meth, mtl_method_name(c->o.method));
    if (tasks != c->K || params != c->P)
        return err_set(e, MTRL_EINPUT,
                       "%s: combiner '%s' was saved for %lld tasks x %lld parameters, this "
                       "one has %d x %ld",
                       h5_path(f), group, (long long)tasks, (long long)params, c->K, c->P);
    if ((rc = h5_read_i64_into(f, MTL_NAME("rng_s"), 4, s, e)) ||
        (rc = h5_read_f64_into(f, MTL_NAME("rng_cached_normal"), 1, &cached, e)) ||
        (rc = h5_read_i64_into(f, MTL_NAME("rng_has_cached"), 1, &has, e)))
        return err_prefix(e, "loading the %s combiner", mtl_method_name(c->o.method));
    if (c->state_len &&
        (rc = h5_read_f32_into(f, MTL_NAME("state"), c->state_len, c->state, e)))
        return err_prefix(e, "loading the %s combiner", mtl_method_name(c->o.method));
    /* Damage check: the state (weights, logits, momenta) is always finite. */
    for (long i = 0; i < c->state_len; i++)
        if (!isfinite(c->state[i]))
            return err_set(e, MTRL_EINPUT, "%s: dataset '%s' holds %g at [%ld]: damaged",
                           h5_path(f), MTL_NAME("state"), (double)c->state[i], i);
    if (!isfinite(cached) || (has != 0 && has != 1))
        return err_set(e, MTRL_EINPUT, "%s: combiner '%s': bad cached normal (%g, %lld)",
                       h5_path(f), group, cached, (long long)has);
#undef MTL_NAME
    for (int i = 0; i < 4; i++)
        memcpy(&c->rng.s[i], &s[i], sizeof s[i]);
    c->rng.cached_normal = cached;
    c->rng.has_cached = (int)has;
    return 0;
}
