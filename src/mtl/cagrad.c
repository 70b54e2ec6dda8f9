/* CAGrad and CAGrad-Fast (Liu et al. 2021) on the Gram matrix.
 * The dual min_{w in simplex} w^T A u + c ||g0|| ||G^T w|| is solved exactly
 * as the reference does it (spec §5.1): w = softmax(z), z = 0 at first, a
 * fixed number of heavy-ball steps on the scale-normalised Gram, keeping the
 * best of all iterates. The step size is only usable because the Gram is
 * divided by the squared mean row norm first (w* is invariant to that).
 * Everything is in double; the reference runs it in float32. */
#include "mtl/mtl_impl.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "core/timer.h"

long mtl_cagrad_dual_work(int n) { return 8L * n; }

static void softmax(int n, const double *z, double *w)
{
    double mx = z[0], s = 0;
    for (int j = 1; j < n; j++)
        mx = z[j] > mx ? z[j] : mx;
    for (int j = 0; j < n; j++)
        s += (w[j] = exp(z[j] - mx));
    for (int j = 0; j < n; j++)
        w[j] /= s;
}

/* Returns w^T A w and fills Aw. */
static double quad(int n, const double *A, const double *w, double *Aw)
{
    double q = 0;
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < n; j++)
            s += A[(long)i * n + j] * w[j];
        Aw[i] = s;
        q += w[i] * s;
    }
    return q;
}

int mtl_cagrad_dual(int n, double *A, const double *u, double c, double lr, double momentum,
                    int steps, double *coef, double *work)
{
    double *b = work, *z = b + n, *v = z + n, *w = v + n, *Aw = w + n, *g = Aw + n,
           *zbest = g + n;
    /* Scale normalisation: s = mean_j sqrt(A_jj + 1e-4); the 1e-4 keeps an
     * all-zero G finite. */
    double s = 0;
    for (int j = 0; j < n; j++)
        s += sqrt(fmax(A[(long)j * n + j], 0) + 1e-4);
    s /= n;
    double inv_s2 = 1.0 / (s * s);
    for (long t = 0; t < (long)n * n; t++)
        A[t] *= inv_s2;
    /* b = A u (<g_j, g0> in scaled units), beta = ||g0||^2 scaled. */
    double beta = 0;
    for (int i = 0; i < n; i++) {
        double acc = 0;
        for (int j = 0; j < n; j++)
            acc += A[(long)i * n + j] * u[j];
        b[i] = acc;
        beta += u[i] * acc;
    }
    double chat = c * sqrt(fmax(beta, 0) + 1e-4);
    if (lr <= 0)
        lr = n == 50 ? 50 : 25; /* the reference keys on exactly 50 rows */
    for (int j = 0; j < n; j++)
        z[j] = v[j] = zbest[j] = 0;
    double best = INFINITY;
    int kept = 0;
    for (int it = 0; it <= steps; it++) {
        softmax(n, z, w);
        double q = quad(n, A, w, Aw);
        double root = sqrt(q + 1e-4), F = 0;
        for (int j = 0; j < n; j++)
            F += w[j] * b[j];
        F += chat * root;
        if (F < best) { /* strictly lower replaces, as the reference */
            best = F;
            kept = it;
            memcpy(zbest, z, sizeof(double) * n);
        }
        if (it == steps)
            break;
        /* dF/dw = b + chat A w / root; through the softmax:
         * dF/dz_j = w_j (dF/dw_j - w . dF/dw). */
        double wg = 0;
        for (int j = 0; j < n; j++) {
            g[j] = b[j] + chat * Aw[j] / root;
            wg += w[j] * g[j];
        }
        for (int j = 0; j < n; j++) {
            /* PyTorch SGD momentum without dampening: v <- m v + grad (the
             * first step gives v = grad since v starts at 0). */
            v[j] = momentum * v[j] + w[j] * (g[j] - wg);
            z[j] -= lr * v[j];
        }
    }
    softmax(n, zbest, w);
    double nw = sqrt(quad(n, A, w, Aw) + 1e-4);
    double lambda = chat / (nw + 1e-4);
    for (int j = 0; j < n; j++)
        coef[j] = u[j] + lambda * w[j];
    return kept;
}

/* CAGrad's final division of d for CAGrad (fast = 0) or CAGrad-Fast (fast =
 * 1), as the options give it. */
static double rescale_factor(const mtl_options *o, int fast)
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

/* The dual's inputs and output for n rows: a copy of their Gram (the dual
 * scales it), the centre u, the coefficients and the dual's scratch. */
typedef struct dual_ws {
    double *H, *u, *coef, *dw;
} dual_ws;

static size_t dual_ws_size(int n)
{
    return MTL_WS_D((long)n * n) + 2 * MTL_WS_D(n) + MTL_WS_D(mtl_cagrad_dual_work(n));
}

static int dual_ws_alloc(mtl_arena *a, int n, dual_ws *ws)
{
    ws->H = mtl_arena_doubles(a, (long)n * n);
    ws->u = mtl_arena_doubles(a, n);
    ws->coef = mtl_arena_doubles(a, n);
    ws->dw = mtl_arena_doubles(a, mtl_cagrad_dual_work(n));
    return ws->H && ws->u && ws->coef && ws->dw;
}

size_t mtl_cagrad_work(const mtl_options *o, int K)
{
    (void)o;
    return dual_ws_size(K);
}

/* CAGrad on all k rows of c->A, coefficients divided by resc into wd. */
static void cagrad_all(mtl_combiner *c, int k, double resc, mtl_stats *st)
{
    dual_ws ws;
    if (!dual_ws_alloc(&c->arena, k, &ws))
        return;
    memcpy(ws.H, c->A, sizeof(double) * k * k);
    for (int j = 0; j < k; j++)
        ws.u[j] = 1.0 / k;
    st->iters = mtl_cagrad_dual(k, ws.H, ws.u, c->o.c, c->o.lr, c->o.momentum, c->o.steps,
                                ws.coef, ws.dw);
    for (int j = 0; j < k; j++)
        c->wd[j] = ws.coef[j] / resc;
}

void mtl_cagrad_weights(mtl_combiner *c, const mtl_input *in, mtl_stats *st)
{
    cagrad_all(c, in->k, rescale_factor(&c->o, 0), st);
}

/* Draws the subset S (first ns entries of perm) by a partial Fisher-Yates
 * shuffle of 0..k-1 and marks membership in in_s. */
static void draw_subset(mtl_combiner *c, int k, int ns, int *perm, int *in_s)
{
    for (int i = 0; i < k; i++)
        perm[i] = i, in_s[i] = 0;
    for (int a = 0; a < ns; a++) {
        int b = a + (int)rng_below(&c->rng, (uint64_t)(k - a));
        int t = perm[a];
        perm[a] = perm[b];
        perm[b] = t;
        in_s[perm[a]] = 1;
    }
}

size_t mtl_cagrad_fast_work(const mtl_options *o, int K)
{
    size_t all = dual_ws_size(K); /* |S| >= k: CAGrad on all rows */
    if (o->fast_subset >= K)
        return all;
    /* |S| < k: the draw, then (subset and given routes) the rows' Gram and
     * the dual on n = |S| + 1 <= K rows; the full route needs less. */
    int n = o->fast_subset + 1;
    size_t sub = 2 * MTL_WS_I(K) + MTL_WS_D((long)n * n) + dual_ws_size(n) + MTL_WS_F(n);
    return sub > all ? sub : all;
}

mtl_route mtl_cagrad_fast_pick(mtl_combiner *c, const mtl_input *in)
{
    /* The subset route never forms the k x k Gram: it gathers |S|+1 rows. */
    return c->o.fast_gram == MTL_FAST_GRAM_SUBSET && c->o.fast_subset < in->k ? MTL_ROUTE_ROWS
                                                                               : MTL_ROUTE_GRAM;
}

void mtl_cagrad_fast_weights(mtl_combiner *c, const mtl_input *in, mtl_stats *st)
{
    const int k = in->k, ns = c->o.fast_subset;
    double resc = rescale_factor(&c->o, 1);
    if (ns >= k) {
        /* No remainder: CAGrad on all rows (with the fast method's rescale). */
        cagrad_all(c, k, resc, st);
        return;
    }
    int n = ns + 1, rest = k - ns;
    int *perm = mtl_arena_ints(&c->arena, k), *in_s = mtl_arena_ints(&c->arena, k);
    dual_ws ws;
    if (!perm || !in_s || !dual_ws_alloc(&c->arena, n, &ws))
        return;
    draw_subset(c, k, ns, perm, in_s);
    const double *A = c->A;
    double *H = ws.H, *u = ws.u, *coef = ws.coef;
    /* H = M A M^T with M = [e_{S_1}; ...; e_{S_ns}; (1/rest) 1_{not S}]:
     * the Gram of the |S| sampled rows and the remainder row. */
    double rr = 0;
    for (int a = 0; a < ns; a++) {
        int ia = perm[a];
        double ar = 0;
        for (int b = 0; b < ns; b++)
            H[(long)a * n + b] = A[(long)ia * k + perm[b]];
        for (int i = 0; i < k; i++)
            if (!in_s[i])
                ar += A[(long)ia * k + i];
        H[(long)a * n + ns] = H[(long)ns * n + a] = ar / rest;
    }
    for (int i = 0; i < k; i++)
        if (!in_s[i])
            for (int j = 0; j < k; j++)
                if (!in_s[j])
                    rr += A[(long)i * k + j];
    H[(long)ns * n + ns] = rr / ((double)rest * rest);
    /* The ball stays around the true g0 = (1/k) sum_S g_i + (rest/k) r. */
    for (int a = 0; a < ns; a++)
        u[a] = 1.0 / k;
    u[ns] = (double)rest / k;
    st->iters = mtl_cagrad_dual(n, H, u, c->o.c, c->o.lr, c->o.momentum, c->o.steps, coef,
                                ws.dw);
    for (int a = 0; a < ns; a++)
        c->wd[perm[a]] = coef[a] / resc;
    for (int i = 0; i < k; i++)
        if (!in_s[i])
            c->wd[i] = coef[ns] / (resc * rest);
}

/* The rows' Gram H (n x n) into the arena: the caller's (given_gram) or one
 * ssyrk over R. NULL if the arena is short. */
static double *rows_gram(mtl_combiner *c, int n, const float *R)
{
    double *H = mtl_arena_doubles(&c->arena, (long)n * n);
    if (!H)
        return NULL;
    if (c->given_gram) {
        mtl_sym_full(n, c->given_gram, H);
    } else {
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, (int)c->P, 1.0f, R, (int)c->P,
                    0.0f, c->Af, n);
        mtl_sym_to_double(n, c->Af, H);
    }
    return H;
}

/* The coefficients of the n rows into the weights of the k tasks (w and wd;
 * also the float copy cf for the final product); 1 if all are finite. */
static int expand_coef(mtl_combiner *c, int k, const int *perm, const int *in_s, double *coef,
                       float *cf)
{
    int ns = c->o.fast_subset, n = ns + 1, rest = k - ns, ok = 1;
    double resc = rescale_factor(&c->o, 1);
    for (int a = 0; a < n; a++) {
        coef[a] /= resc;
        cf[a] = (float)coef[a];
        ok &= isfinite(coef[a]) != 0;
    }
    for (int a = 0; a < ns; a++)
        c->wd[perm[a]] = coef[a], c->w[perm[a]] = (float)coef[a];
    for (int i = 0; i < k; i++)
        if (!in_s[i])
            c->wd[i] = coef[ns] / rest, c->w[i] = (float)(coef[ns] / rest);
    return ok;
}

/* The solve and the final product on |S|+1 gathered rows R (the |S| sampled
 * rows in draw order, then the remainder row), with S given by perm/in_s. */
static void fast_on_rows(mtl_combiner *c, int k, const int *perm, const int *in_s,
                         const float *R, float *d, mtl_stats *st, double t0)
{
    const long P = c->P;
    int ns = c->o.fast_subset, n = ns + 1, rest = k - ns;
    double *H = rows_gram(c, n, R);
    dual_ws ws;
    if (!H || !dual_ws_alloc(&c->arena, n, &ws))
        return;
    float *cf = mtl_arena_floats(&c->arena, n); /* the coefficients for sgemv */
    if (!cf)
        return;
    double t1 = tm_now();
    st->t_gram = t1 - t0;
    for (int i = 0; i < k; i++)
        c->w[i] = 0.0f;
    for (int a = 0; a < n; a++)
        if (!isfinite(H[(long)a * n + a])) {
            st->nonfinite = 1;
            return;
        }
    double *u = ws.u, *coef = ws.coef;
    for (int a = 0; a < ns; a++)
        u[a] = 1.0 / k;
    u[ns] = (double)rest / k;
    memcpy(ws.H, H, sizeof(double) * n * n);
    st->iters = mtl_cagrad_dual(n, ws.H, u, c->o.c, c->o.lr, c->o.momentum, c->o.steps, coef,
                                ws.dw);
    st->nonfinite |= !expand_coef(c, k, perm, in_s, coef, cf);
    double g0 = 0, dd = 0;
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++) {
            g0 += u[a] * H[(long)a * n + b] * u[b];
            dd += coef[a] * H[(long)a * n + b] * coef[b];
        }
    st->g0_norm = sqrt(fmax(g0, 0));
    st->d_norm = sqrt(fmax(dd, 0));
    double t2 = tm_now();
    st->t_solve = t2 - t1;
    if (st->nonfinite)
        return;
    if (c->given_row_sum)
        c->given_row_sum(c->given_row_sum_ctx, n, P, R, cf, d);
    else
        cblas_sgemv(CblasRowMajor, CblasTrans, n, (int)P, 1.0f, R, (int)P, cf, 1, 0.0f, d, 1);
    st->nonfinite = mtl_any_nonfinite(d, P);
    st->t_combine = tm_now() - t2;
}

void mtl_cagrad_fast_subset(mtl_combiner *c, int k, const float *G, float *d, mtl_stats *st)
{
    const long P = c->P;
    int ns = c->o.fast_subset, rest = k - ns;
    double t0 = tm_now();
    int *perm = mtl_arena_ints(&c->arena, k), *in_s = mtl_arena_ints(&c->arena, k);
    if (!perm || !in_s)
        return;
    draw_subset(c, k, ns, perm, in_s);
    float *R = c->rows;
    for (int a = 0; a < ns; a++)
        memcpy(R + (long)a * P, G + (long)perm[a] * P, sizeof(float) * P);
    float *rem = R + (long)ns * P;
    memset(rem, 0, sizeof(float) * P);
    for (int i = 0; i < k; i++)
        if (!in_s[i])
            cblas_saxpy((int)P, 1.0f / (float)rest, G + (long)i * P, 1, rem, 1);
    fast_on_rows(c, k, perm, in_s, R, d, st, t0);
}

int mtl_cagrad_fast_draw(mtl_combiner *c, int k, int *order)
{
    int ns = c->o.fast_subset;
    c->fast_k = 0;
    if (ns >= k)
        return 0;
    int *perm = c->fast_perm, *in_s = perm + c->K;
    draw_subset(c, k, ns, perm, in_s);
    /* The caller's order: S as drawn, then the remainder ascending (the
     * order the rows of one contiguous remainder block keep). */
    for (int a = 0; a < ns; a++)
        order[a] = perm[a];
    for (int i = 0, j = ns; i < k; i++)
        if (!in_s[i])
            order[j++] = i;
    c->fast_k = k;
    return ns;
}

void mtl_cagrad_fast_given(mtl_combiner *c, const float *R, float *d, mtl_stats *st)
{
    int k = c->fast_k;
    c->fast_k = 0;
    fast_on_rows(c, k, c->fast_perm, c->fast_perm + c->K, R, d, st, tm_now());
}
