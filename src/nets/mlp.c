/* MLP forward/backward on cblas sgemm, with per-group parameter gradients. */
#include "gram.h"
#include "nets.h"
#include "pool.h"
#include "wgrad.h"

#include <cblas.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct nn_mlp {
    int n_layers;
    int *dims;     /* n_layers + 1 */
    long *w_off;   /* per layer, relative to the MLP's start in the buffer */
    long *b_off;
    long n_params;
    int max_batch;

    nn_params *p;
    long off;

    float **act;   /* act[l]: output of layer l, max_batch x dims[l+1] */
    /* delta[l]: dL/d(pre-activation of layer l), max_batch x dims[l+1], for
     * l < n_layers - 1 (the last layer's is the caller's dy). All are kept
     * so the per-group weight products can run after the signals, in parallel. */
    float **delta;
    const float **dsig; /* per backward: delta[l] or dy */
    void *mem;
    /* Gram scratch (req->gram), sized at the first backward that asks for a
     * Gram of gK rows on gT threads: per thread a K x K double partial sum
     * and a packing buffer. */
    double *gpart;
    float *gbuf;   /* per thread: the Gram kernel's buffer, then (rows not
                    * kept, grad NULL) room for one tile's K rows */
    long gbuf_len, grows_off;
    int gK, gT;
    float *wrow;   /* nn_mlp_grad_weighted: a weight per row, max_batch */
    int *pfx;      /* per-group task prefixes (grad_job.pfx), pf_cap ints */
    long pf_cap;

    int B;         /* batch of the last forward; 0 before any */
    int signals;   /* dsig holds the signals of a backward after that forward */
    int n_in;
    nn_in in[NN_MAX_IN];
};

static long pad16(long n) { return (n + 15) & ~15L; }

static atomic_int threads_setting;

int nn_set_threads(int T) { return atomic_exchange(&threads_setting, T > 0 ? T : 0); }
int nn_threads(void) { return atomic_load(&threads_setting); }

/* Threads for this call's products: ours (nn_set_threads), or OpenBLAS's. */
static int work_threads(void)
{
    enum { MAX_THREADS = 256 };
    int T = nn_threads();
    if (T == 0)
        T = openblas_get_num_threads();
    return T < 1 ? 1 : T < MAX_THREADS ? T : MAX_THREADS;
}

/* C = op(A) op(B) + beta C (beta 0 or 1) on this thread: a weight gradient
 * (A^T B, or A^T diag(rs) B with row weights rs) through nn_wgrad, the rest
 * through OpenBLAS. */
static void sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int Kd, const float *A,
                  int lda, const float *rs, const float *B, int ldb, float beta, float *C,
                  int ldc)
{
    if (rs)
        nn_wgrad_scaled(M, N, Kd, A, lda, rs, B, ldb, C, ldc);
    else if (ta == CblasTrans && tb == CblasNoTrans)
        nn_wgrad(M, N, Kd, A, lda, B, ldb, C, ldc, beta != 0.0f);
    else
        cblas_sgemm(CblasRowMajor, ta, tb, M, N, Kd, 1.0f, A, lda, B, ldb, beta, C, ldc);
}

/* One row-major C = op(A) op(B) + beta C split into row blocks of C, taken
 * by threads as they come free. Each block is one single-threaded sgemm on
 * its own rows of C, with the whole inner dimension: the result is the same
 * as one call's, whatever the split. */
typedef struct gemm_job {
    CBLAS_TRANSPOSE ta, tb;
    int M, N, Kd, lda, ldb, ldc, blocks;
    const float *A, *B, *rs;
    float beta;
    float *C;
    atomic_int next;
} gemm_job;

static void gemm_worker(void *arg)
{
    gemm_job *j = arg;
    for (;;) {
        int b = atomic_fetch_add(&j->next, 1);
        if (b >= j->blocks)
            break;
        int m0 = (int)((long)j->M * b / j->blocks), m1 = (int)((long)j->M * (b + 1) / j->blocks);
        if (m1 <= m0)
            continue;
        const float *A = j->ta == CblasNoTrans ? j->A + (long)m0 * j->lda : j->A + m0;
        sgemm(j->ta, j->tb, m1 - m0, j->N, j->Kd, A, j->lda, j->rs, j->B, j->ldb, j->beta,
              j->C + (long)m0 * j->ldc, j->ldc);
    }
}

/* C = op(A) op(B) + beta C on the MLP's threads (nn_set_threads), or on this
 * thread when we do not split (one thread, or too few rows to be worth it),
 * or as one OpenBLAS call on its own threads (T = 0 setting). */
static void par_sgemm_rs(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int Kd,
                         const float *A, int lda, const float *rs, const float *B, int ldb,
                         float beta, float *C, int ldc)
{
    int T = nn_threads();
    nn_pool *pool = M >= 32 ? nn_pool_acquire(T) : NULL;
    if (!pool) {
        if (T == 0 && !rs) /* OpenBLAS's own threads (bench --threads 0): one call */
            cblas_sgemm(CblasRowMajor, ta, tb, M, N, Kd, 1.0f, A, lda, B, ldb, beta, C, ldc);
        else
            sgemm(ta, tb, M, N, Kd, A, lda, rs, B, ldb, beta, C, ldc);
        return;
    }
    /* Two blocks per thread: a thread held up by another process costs
     * half a share, not a whole one. A weighted product (rs) copies its
     * weighted rows of B once per block: one block per thread there (MT50
     * critic's weighted pass, two threads: 3.3 against 3.45 ms). */
    int per = rs ? T : 2 * T;
    int blocks = per < M / 16 ? per : M / 16;
    gemm_job j = {.ta = ta, .tb = tb, .M = M, .N = N, .Kd = Kd, .lda = lda, .ldb = ldb,
                  .ldc = ldc, .blocks = blocks, .A = A, .B = B, .rs = rs, .beta = beta, .C = C};
    atomic_init(&j.next, 0);
    nn_pool_run_blas1(pool, gemm_worker, &j);
}

static void par_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int Kd,
                      const float *A, int lda, const float *B, int ldb, float beta, float *C,
                      int ldc)
{
    par_sgemm_rs(ta, tb, M, N, Kd, A, lda, NULL, B, ldb, beta, C, ldc);
}

int nn_mlp_create(nn_mlp **out, int n_layers, const int *dims, int max_batch, mtrl_err *e)
{
    *out = NULL;
    if (n_layers < 1 || n_layers > 64)
        return err_set(e, MTRL_EINPUT, "nn_mlp_create: layer count %d outside [1, 64]", n_layers);
    if (max_batch < 1)
        return err_set(e, MTRL_EINPUT, "nn_mlp_create: max batch %d must be >= 1", max_batch);
    for (int l = 0; l <= n_layers; l++)
        if (dims[l] < 1)
            return err_set(e, MTRL_EINPUT, "nn_mlp_create: width %d of layer %d must be >= 1",
                           dims[l], l);
    nn_mlp *m = calloc(1, sizeof *m);
    if (!m)
        return err_set(e, MTRL_ENOMEM, "nn_mlp_create: out of memory");
    m->n_layers = n_layers;
    m->max_batch = max_batch;
    m->dims = malloc(sizeof(int) * (size_t)(n_layers + 1));
    m->w_off = malloc(sizeof(long) * (size_t)n_layers);
    m->b_off = malloc(sizeof(long) * (size_t)n_layers);
    m->act = malloc(sizeof(float *) * (size_t)n_layers);
    m->delta = malloc(sizeof(float *) * (size_t)n_layers);
    m->dsig = calloc((size_t)n_layers, sizeof(float *));
    if (!m->dims || !m->w_off || !m->b_off || !m->act || !m->delta || !m->dsig) {
        nn_mlp_destroy(m);
        return err_set(e, MTRL_ENOMEM, "nn_mlp_create: out of memory");
    }
    memcpy(m->dims, dims, sizeof(int) * (size_t)(n_layers + 1));
    long np = 0;
    for (int l = 0; l < n_layers; l++) {
        m->w_off[l] = np;
        np += (long)dims[l + 1] * dims[l];
        m->b_off[l] = np;
        np += dims[l + 1];
    }
    m->n_params = np;

    long total = 0;
    for (int l = 0; l < n_layers; l++)
        total += pad16((long)max_batch * dims[l + 1]) * (l + 1 < n_layers ? 2 : 1);
    size_t bytes = (size_t)total * sizeof(float);
    m->mem = aligned_alloc(64, bytes);
    if (!m->mem) {
        nn_mlp_destroy(m);
        return err_set(e, MTRL_ENOMEM, "nn_mlp_create: cannot allocate %zu bytes of workspace",
                       bytes);
    }
    memset(m->mem, 0, bytes);
    m->wrow = malloc(sizeof(float) * (size_t)max_batch);
    if (!m->wrow) {
        nn_mlp_destroy(m);
        return err_set(e, MTRL_ENOMEM, "nn_mlp_create: out of memory");
    }
    float *q = m->mem;
    for (int l = 0; l < n_layers; l++) {
        m->act[l] = q;
        q += pad16((long)max_batch * dims[l + 1]);
        m->delta[l] = NULL;
        if (l + 1 < n_layers) {
            m->delta[l] = q;
            q += pad16((long)max_batch * dims[l + 1]);
        }
    }
    *out = m;
    return 0;
}

void nn_mlp_destroy(nn_mlp *m)
{
    if (!m)
        return;
    free(m->gpart);
    free(m->gbuf);
    free(m->wrow);
    free(m->pfx);
    free(m->mem);
    free(m->dsig);
    free(m->delta);
    free(m->act);
    free(m->b_off);
    free(m->w_off);
    free(m->dims);
    free(m);
}

long nn_mlp_nparams(const nn_mlp *m) { return m->n_params; }
int nn_mlp_in_dim(const nn_mlp *m) { return m->dims[0]; }
int nn_mlp_out_dim(const nn_mlp *m) { return m->dims[m->n_layers]; }
int nn_mlp_n_layers(const nn_mlp *m) { return m->n_layers; }
long nn_mlp_offset(const nn_mlp *m) { return m->off; }
const float *nn_mlp_out(const nn_mlp *m) { return m->act[m->n_layers - 1]; }

float *nn_mlp_weight(const nn_mlp *m, int l)
{
    return m->p ? m->p->w + m->off + m->w_off[l] : NULL;
}

float *nn_mlp_bias(const nn_mlp *m, int l) { return m->p ? m->p->w + m->off + m->b_off[l] : NULL; }

int nn_mlp_bind(nn_mlp *m, nn_params *p, long offset, mtrl_err *e)
{
    if (offset < 0 || offset + m->n_params > p->n)
        return err_set(e, MTRL_EINPUT,
                       "nn_mlp_bind: %ld parameters at offset %ld do not fit a buffer of %ld",
                       m->n_params, offset, p->n);
    m->p = p;
    m->off = offset;
    return 0;
}

void nn_mlp_init(nn_mlp *m, nn_init kind, rng_state *r)
{
    for (int l = 0; l < m->n_layers; l++) {
        int in = m->dims[l], out = m->dims[l + 1];
        float *w = nn_mlp_weight(m, l), *b = nn_mlp_bias(m, l);
        double a = kind == NN_INIT_XAVIER ? sqrt(6.0 / (in + out)) : 1.0 / sqrt((double)in);
        for (long i = 0; i < (long)in * out; i++)
            w[i] = (float)(a * (2.0 * rng_uniform(r) - 1.0));
        for (int i = 0; i < out; i++)
            b[i] = kind == NN_INIT_XAVIER ? 0.0f : (float)(a * (2.0 * rng_uniform(r) - 1.0));
    }
}

/* Y += bias per row, then ReLU if relu (blocks of 8: see relu_mask). */
static void add_bias(float *restrict Y, const float *restrict bias, int B, int no, int relu)
{
    for (int b = 0; b < B; b++) {
        float *restrict y = Y + (long)b * no;
        int i = 0;
        if (relu) {
            for (; i + 8 <= no; i += 8)
                for (int j = 0; j < 8; j++) {
                    float t = y[i + j] + bias[i + j];
                    y[i + j] = t > 0.0f ? t : 0.0f;
                }
            for (; i < no; i++) {
                float t = y[i] + bias[i];
                y[i] = t > 0.0f ? t : 0.0f;
            }
        } else {
            for (; i < no; i++)
                y[i] += bias[i];
        }
    }
}

/* g += each row of D (B x no): bias gradients (blocks of 8: see relu_mask). */
static void add_rows(float *restrict g, const float *restrict D, int rows, int no)
{
    for (int b = 0; b < rows; b++) {
        const float *restrict d = D + (long)b * no;
        int i = 0;
        for (; i + 8 <= no; i += 8)
            for (int j = 0; j < 8; j++)
                g[i + j] += d[i + j];
        for (; i < no; i++)
            g[i] += d[i];
    }
}

int nn_mlp_forward_in(nn_mlp *m, int B, int n_in, const nn_in *in, mtrl_err *e)
{
    if (!m->p)
        return err_set(e, MTRL_EINPUT, "nn_mlp_forward: MLP not bound to a parameter buffer");
    if (B < 1 || B > m->max_batch)
        return err_set(e, MTRL_EINPUT, "nn_mlp_forward: batch %d outside [1, %d]", B,
                       m->max_batch);
    if (n_in < 1 || n_in > NN_MAX_IN)
        return err_set(e, MTRL_EINPUT, "nn_mlp_forward: %d input blocks outside [1, %d]", n_in,
                       NN_MAX_IN);
    int cols = 0;
    for (int j = 0; j < n_in; j++) {
        int ld = in[j].ld ? in[j].ld : in[j].cols;
        if (in[j].cols < 1 || ld < in[j].cols || !in[j].x)
            return err_set(e, MTRL_EINPUT, "nn_mlp_forward: input block %d: %d columns, stride %d",
                           j, in[j].cols, ld);
        m->in[j] = (nn_in){in[j].x, in[j].cols, ld};
        cols += in[j].cols;
    }
    if (cols != m->dims[0])
        return err_set(e, MTRL_EINPUT, "nn_mlp_forward: input blocks have %d columns, the MLP takes %d",
                       cols, m->dims[0]);
    m->n_in = n_in;
    m->B = B;
    m->signals = 0;

    const float *w0 = m->p->w + m->off;
    for (int l = 0; l < m->n_layers; l++) {
        int ni = m->dims[l], no = m->dims[l + 1];
        const float *W = w0 + m->w_off[l], *bias = w0 + m->b_off[l];
        float *Y = m->act[l];
        if (l == 0) {
            /* Y = sum_j X_j W[:, c_j : c_j + cols_j]^T: the blocks are never copied. */
            int c = 0;
            for (int j = 0; j < n_in; j++) {
                par_sgemm(CblasNoTrans, CblasTrans, B, no, m->in[j].cols, m->in[j].x,
                          m->in[j].ld, W + c, ni, j ? 1.0f : 0.0f, Y, no);
                c += m->in[j].cols;
            }
        } else {
            par_sgemm(CblasNoTrans, CblasTrans, B, no, ni, m->act[l - 1], ni, W, ni, 0.0f, Y,
                      no);
        }
        add_bias(Y, bias, B, no, l + 1 < m->n_layers);
    }
    return 0;
}

int nn_mlp_forward(nn_mlp *m, int B, const float *x, mtrl_err *e)
{
    nn_in one = {x, m->dims[0], m->dims[0]};
    return nn_mlp_forward_in(m, B, 1, &one, e);
}

/* One weight-gradient product: layer l, group k, input columns [c0, c0+nc)
 * read from x (row stride ldx, already offset to column c0); the bias
 * gradient goes with the panel that starts at column 0. */
static void grad_panel(const nn_mlp *m, int l, int k, const float *x, int ldx, int c0, int nc,
                       float *grad, long ld_grad, const int *off, int acc, int split)
{
    int ni = m->dims[l], no = m->dims[l + 1];
    int r0 = off[k], nk = off[k + 1] - off[k];
    const float *D = m->dsig[l];
    float *gw = grad + (long)k * ld_grad + m->off + m->w_off[l] + c0;
    float *gb = grad + (long)k * ld_grad + m->off + m->b_off[l];
    if (nk == 0) {
        if (!acc) {
            for (int o = 0; o < no; o++)
                memset(gw + (long)o * ni, 0, sizeof(float) * (size_t)nc);
            if (c0 == 0)
                memset(gb, 0, sizeof(float) * (size_t)no);
        }
        return;
    }
    /* dW_k = D_k^T X_k: the only place where groups are split. One group
     * (a summed gradient) is split over the MLP's threads by rows of dW. */
    if (split)
        par_sgemm(CblasTrans, CblasNoTrans, no, nc, nk, D + (long)r0 * no, no,
                  x + (long)r0 * ldx, ldx, acc ? 1.0f : 0.0f, gw, ni);
    else
        nn_wgrad(no, nc, nk, D + (long)r0 * no, no, x + (long)r0 * ldx, ldx, gw, ni, acc);
    if (c0 == 0) {
        if (!acc)
            memset(gb, 0, sizeof(float) * (size_t)no);
        add_rows(gb, D + (long)r0 * no, nk, no);
    }
}

/* The per-group weight products as a list of independent tasks
 * (layer, group, column panel); layer 0's panels are its input blocks. */
typedef struct grad_job {
    const nn_mlp *m;
    float *grad;
    long ld_grad;
    int K;
    const int *off;
    int acc;
    int split;     /* not pooled: each product split over the MLP's threads */
    int np[64];    /* panels per layer (of a group of average size) */
    /* Per layer l > 0: group k's panels are tasks [pf[l][k], pf[l][k+1]) of
     * the layer (pf = pfx + l * (K + 1)); a group with many rows (CAGrad-
     * Fast's remainder block) gets more panels, so no one task holds the
     * other threads up. cnt[l]: the layer's tasks. */
    const int *pfx;
    long cnt[64];
    int order[64]; /* layers, the most FLOPs per task first (see param_grads) */
    long n_tasks;
    atomic_long next;
} grad_job;

static void run_task(grad_job *j, long t)
{
    const nn_mlp *m = j->m;
    int i = 0;
    while (t >= j->cnt[j->order[i]])
        t -= j->cnt[j->order[i++]];
    int l = j->order[i];
    int k, panel, npk;
    if (l == 0) {
        k = (int)(t / j->np[0]), panel = (int)(t % j->np[0]), npk = j->np[0];
    } else {
        const int *pf = j->pfx + (long)l * (j->K + 1);
        int lo = 0, hi = j->K - 1; /* the last k with pf[k] <= t */
        while (lo < hi) {
            int mid = (lo + hi + 1) / 2;
            if (pf[mid] <= t)
                lo = mid;
            else
                hi = mid - 1;
        }
        k = lo, panel = (int)(t - pf[k]), npk = pf[k + 1] - pf[k];
    }
    if (l == 0) {
        int c0 = 0;
        for (int b = 0; b < panel; b++)
            c0 += m->in[b].cols;
        grad_panel(m, 0, k, m->in[panel].x, m->in[panel].ld, c0, m->in[panel].cols, j->grad,
                   j->ld_grad, j->off, j->acc, j->split);
    } else {
        int ni = m->dims[l];
        int c0 = (int)((long)ni * panel / npk), c1 = (int)((long)ni * (panel + 1) / npk);
        grad_panel(m, l, k, m->act[l - 1] + c0, ni, c0, c1 - c0, j->grad, j->ld_grad, j->off,
                   j->acc, j->split);
    }
}

static void grad_worker(void *arg)
{
    grad_job *j = arg;
    for (;;) {
        long t = atomic_fetch_add(&j->next, 1);
        if (t >= j->n_tasks)
            break;
        run_task(j, t);
    }
}

/* The Gram route. Writing every group's product for a whole layer and then
 * reading it back for the Gram (MT50's 400 x 400 layer: 50 x 640 KB) sends
 * G through memory twice. Instead a layer goes in tiles of R output rows of
 * dW (R x dims[l] columns of every group's row): all K products of the
 * tile, then its Gram while the tile is still in cache, one tile per task,
 * as threads come free; the layer's bias columns are one more task. G itself
 * is still written (the combiner forms d = G^T w from it). The K rows of a
 * tile hold about GRAM_TILE_FLOATS (3 MB: MT50's critic layer goes in tiles
 * of 39 rows). Measured on the MT50 twin critic (K = 50, one thread, CPU
 * time, 2 x 93-400-400-400-1, batch 1300, against writing whole layers):
 * 192K floats (R = 9: small products) 8-16% slower, 768K 4-7% faster (the
 * Gram part 22-24 -> 19-20 ms), 1536K 4% faster; MT10 (K = 10) within 2%. */
#define GRAM_TILE_FLOATS (768L * 1024)

/* Tiles of layer l for K groups on T threads: rows of about
 * GRAM_TILE_FLOATS, at least two per thread (a thread held up by another
 * process then costs half a share). */
static int tile_count(const nn_mlp *m, int l, int K, int T)
{
    long no = m->dims[l + 1];
    long r = GRAM_TILE_FLOATS / ((long)K * m->dims[l]);
    r = r < 1 ? 1 : r;
    long n = (no + r - 1) / r, want = 2L * T;
    if (n < want)
        n = want < no ? want : no;
    return (int)n;
}

/* First output row of tile t of n: the rows go in whole units of
 * NN_WGRAD_ROWS (nn_wgrad's register block) where there are enough, so no
 * tile but the last ends in a short block (a 1-row block runs at a fifth of
 * the rate of a full one). */
static int tile_start(int no, int t, int n)
{
    int unit = no >= NN_WGRAD_ROWS * n ? NN_WGRAD_ROWS : 1;
    int units = (no + unit - 1) / unit;
    int r = (int)((long)units * t / n) * unit;
    return r < no ? r : no;
}

typedef struct tile_job {
    const nn_mlp *m;
    float *grad;
    long ld_grad;
    int K, l, n_tiles, acc;
    const int *off;
    double *gpart; /* per task, its K x K partial Gram */
    float *gbuf;   /* per thread: the Gram kernel's buffer, then the rows
                    * scratch at grows_off (grad NULL) */
    long gbuf_len, grows_off;
    atomic_int slot, next;
} tile_job;

/* Rows [o0, o1) of group k's weight gradient, D_k[:, o0:o1]^T X_k (layer 0:
 * per input block), into gw (rows of the layer's width). */
static void tile_product(const tile_job *j, int k, int o0, int o1, float *gw)
{
    const nn_mlp *m = j->m;
    int l = j->l, ni = m->dims[l], no = m->dims[l + 1];
    int r0 = j->off[k], nk = j->off[k + 1] - r0;
    if (nk == 0) {
        if (!j->acc)
            memset(gw, 0, sizeof(float) * (size_t)(o1 - o0) * (size_t)ni);
        return;
    }
    const float *D = m->dsig[l] + (long)r0 * no + o0;
    int nb = l == 0 ? m->n_in : 1;
    for (int b = 0, c = 0; b < nb; b++) {
        const float *x = l == 0 ? m->in[b].x : m->act[l - 1];
        int ldx = l == 0 ? m->in[b].ld : ni, nc = l == 0 ? m->in[b].cols : ni;
        nn_wgrad(o1 - o0, nc, nk, D, no, x + (long)r0 * ldx, ldx, gw + c, ni, j->acc);
        c += nc;
    }
}

static void tile_worker(void *arg)
{
    tile_job *j = arg;
    const nn_mlp *m = j->m;
    int K = j->K, l = j->l, ni = m->dims[l], no = m->dims[l + 1];
    float *buf = j->gbuf + (long)atomic_fetch_add(&j->slot, 1) * j->gbuf_len;
    /* Rows not kept (grad NULL): each tile's K rows go to this thread's
     * scratch, back to back, and only feed the Gram. */
    float *scratch = buf + j->grows_off;
    for (;;) {
        int t = atomic_fetch_add(&j->next, 1);
        if (t > j->n_tiles)
            break;
        /* Tile t: output rows [o0, o1) of the weights; t = n_tiles: the bias. */
        int o0 = tile_start(no, t, j->n_tiles), o1 = tile_start(no, t + 1, j->n_tiles);
        int bias = t == j->n_tiles;
        long c0 = bias ? m->b_off[l] : m->w_off[l] + (long)o0 * ni;
        long n = bias ? no : (long)(o1 - o0) * ni;
        float *rows = j->grad ? j->grad + m->off + c0 : scratch;
        long ld = j->grad ? j->ld_grad : n;
        if (!bias) {
            for (int k = 0; k < K; k++)
                tile_product(j, k, o0, o1, rows + (long)k * ld);
        } else {
            for (int k = 0; k < K; k++) {
                int r0 = j->off[k], nk = j->off[k + 1] - r0;
                float *gb = rows + (long)k * ld;
                if (!j->acc)
                    memset(gb, 0, sizeof(float) * (size_t)no);
                add_rows(gb, m->dsig[l] + (long)r0 * no, nk, no);
            }
        }
        double *A = j->gpart + (long)t * K * K;
        memset(A, 0, sizeof(double) * (size_t)K * (size_t)K);
        nn_gram_acc(K, rows, ld, n, A, buf);
    }
}

/* Floats of the largest tile of K rows in any layer: its output rows times
 * the layer's inputs, or the bias task's K x outputs. */
static long tile_rows_floats(const nn_mlp *m, int K, int T)
{
    long most = 0;
    for (int l = 0; l < m->n_layers; l++) {
        int no = m->dims[l + 1], n = tile_count(m, l, K, T);
        long f = no;
        for (int t = 0; t < n; t++) {
            long rows = tile_start(no, t + 1, n) - tile_start(no, t, n);
            f = rows * m->dims[l] > f ? rows * m->dims[l] : f;
        }
        most = f > most ? f : most;
    }
    return (long)K * most;
}

/* Scratch for the Gram of K rows on T threads: a partial sum per tile task,
 * and per thread the Gram kernel's buffer and room for one tile's rows
 * (used when they are not kept). Grown when a call needs more. */
static int gram_scratch(nn_mlp *m, int K, int T)
{
    int nk = K > m->gK ? K : m->gK, nt = T > m->gT ? T : m->gT;
    long gl = (nn_gram_buf_len(nk) + 15) & ~15L;
    long need = gl + ((tile_rows_floats(m, K, T) + 15) & ~15L);
    if (m->gpart && K <= m->gK && T <= m->gT && need <= m->gbuf_len)
        return 0;
    /* The tile tasks only grow with K and T. */
    long tasks = 1;
    for (int l = 0; l < m->n_layers; l++)
        tasks = tile_count(m, l, nk, nt) + 1 > tasks ? tile_count(m, l, nk, nt) + 1 : tasks;
    long bl = need > m->gbuf_len ? need : m->gbuf_len;
    double *gp = malloc(sizeof(double) * (size_t)tasks * (size_t)nk * (size_t)nk);
    float *gb = aligned_alloc(64, sizeof(float) * (size_t)bl * (size_t)nt);
    if (!gp || !gb) {
        free(gp);
        free(gb);
        return -1;
    }
    free(m->gpart);
    free(m->gbuf);
    m->gpart = gp, m->gbuf = gb, m->gbuf_len = bl, m->grows_off = gl, m->gK = nk, m->gT = nt;
    return 0;
}

/* The per-group gradients with their Gram (req->gram), layer by layer, its
 * tiles on T threads (the caller and the pool's workers, each product a
 * single-threaded sgemm); the partial Grams are added in tile order, so the
 * result does not depend on the timing (the tiles depend on K, T and the
 * shapes). */
static int grads_with_gram(nn_mlp *m, float *grad, long ld_grad, int K, const int *off, int acc,
                           double *gram, mtrl_err *e)
{
    int T = work_threads();
    if (gram_scratch(m, K, T))
        return err_set(e, MTRL_ENOMEM, "nn_mlp_backward: out of memory for the Gram scratch");
    int blas_threads = openblas_get_num_threads();
    nn_pool *pool = nn_pool_acquire(T); /* NULL: all tiles on this thread */
    openblas_set_num_threads(1);
    for (int l = m->n_layers - 1; l >= 0; l--) {
        tile_job j = {.m = m, .grad = grad, .ld_grad = ld_grad, .K = K, .l = l,
                      .n_tiles = tile_count(m, l, K, T), .acc = acc, .off = off,
                      .gpart = m->gpart, .gbuf = m->gbuf, .gbuf_len = m->gbuf_len,
                      .grows_off = m->grows_off};
        atomic_init(&j.slot, 0);
        atomic_init(&j.next, 0);
        if (pool)
            nn_pool_run(pool, tile_worker, &j);
        else
            tile_worker(&j);
        for (int t = 0; t <= j.n_tiles; t++)
            for (int a = 0; a < K; a++)
                for (int b = a; b < K; b++)
                    gram[(long)a * K + b] += m->gpart[((long)t * K + a) * K + b];
    }
    nn_pool_release(pool);
    openblas_set_num_threads(blas_threads);
    return 0;
}

/* Per-group parameter gradients. With one group, or one BLAS thread, each
 * product is one (possibly multi-threaded) sgemm call in turn. With K groups
 * the products are small (K = 50: ~26 rows each), and OpenBLAS's own
 * threading of a small call costs more than the call: the products then run
 * as independent tasks on T threads (T = OpenBLAS's thread count, the
 * caller and the MLP's T - 1 pool workers), each a single-threaded sgemm, so
 * the K rows cost about what one summed gradient costs. Each task writes its
 * own part of grad: the result does not depend on the schedule, only on the
 * split into tasks, which depends on K, T and the shapes. */
static int param_grads(nn_mlp *m, float *grad, long ld_grad, int K, const int *off, int acc,
                       mtrl_err *e)
{
    int T = work_threads();
    int pooled = K > 1 && T > 1;
    grad_job j = {.m = m, .grad = grad, .ld_grad = ld_grad, .K = K, .off = off, .acc = acc,
                  .split = !pooled};
    /* Column panels give every thread work when K < T (at least 64 columns each). */
    int want = K >= 2 * T ? 1 : (2 * T + K - 1) / K;
    if (m->pf_cap < (long)m->n_layers * (K + 1)) {
        int *pf = malloc(sizeof(int) * (size_t)m->n_layers * (size_t)(K + 1));
        if (!pf)
            return err_set(e, MTRL_ENOMEM, "nn_mlp_backward: out of memory for %d groups", K);
        free(m->pfx);
        m->pfx = pf, m->pf_cap = (long)m->n_layers * (K + 1);
    }
    j.pfx = m->pfx;
    double avg = (double)(off[K] - off[0]) / K;
    j.n_tasks = 0;
    for (int l = 0; l < m->n_layers; l++) {
        int maxp = m->dims[l] / 64 > 1 ? m->dims[l] / 64 : 1;
        j.np[l] = l == 0 ? m->n_in : (want < maxp ? want : maxp);
        if (!pooled)
            j.np[l] = l == 0 ? m->n_in : 1;
        int *pf = m->pfx + (long)l * (K + 1);
        pf[0] = 0;
        for (int k = 0; k < K; k++) {
            int p = j.np[l];
            if (l > 0 && pooled && avg > 0) {
                /* ceil(rows / average) times the average group's panels */
                int f = (int)ceil((off[k + 1] - off[k]) / avg);
                p = f > 1 ? p * f : p;
                p = p < maxp ? p : maxp > j.np[l] ? maxp : j.np[l];
            }
            pf[k + 1] = pf[k] + p;
        }
        j.cnt[l] = l == 0 ? (long)K * j.np[0] : pf[K];
        j.n_tasks += j.cnt[l];
    }
    /* Big tasks first, small ones last (the critic's 400 x 1 output layer,
     * the input layer's narrow blocks): the threads then run out of work at
     * nearly the same time. Insertion sort on FLOPs per task, stable, so the
     * order is fixed for given shapes. */
    for (int l = 0; l < m->n_layers; l++) {
        double fl = (double)m->dims[l] * m->dims[l + 1] / j.np[l];
        int i = l;
        while (i > 0 && (double)m->dims[j.order[i - 1]] * m->dims[j.order[i - 1] + 1] /
                                j.np[j.order[i - 1]] <
                            fl) {
            j.order[i] = j.order[i - 1];
            i--;
        }
        j.order[i] = l;
    }
    atomic_init(&j.next, 0);
    if (!pooled) {
        grad_worker(&j);
        return 0;
    }
    /* NULL pool: the same tasks, all on this thread. OpenBLAS is on one
     * thread while the tasks run: each task is one single-threaded sgemm. */
    nn_pool_run_blas1(nn_pool_acquire(T), grad_worker, &j);
    return 0;
}

/* Through a ReLU: act > 0 exactly where its input was. The sign pattern is
 * random, so a branchy scalar loop mispredicts half the time; fixed blocks of
 * 8 get vectorized by gcc -O2 (its cheap cost model skips loops of unknown
 * length) and clang alike. */
static void relu_mask(float *restrict d, const float *restrict act, long n)
{
    long i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            d[i + j] = act[i + j] > 0.0f ? d[i + j] : 0.0f;
    for (; i < n; i++)
        d[i] = act[i] > 0.0f ? d[i] : 0.0f;
}

int nn_mlp_backward(nn_mlp *m, const float *dy, const nn_bwd *req, mtrl_err *e)
{
    static const nn_bwd none = {0};
    if (!req)
        req = &none;
    if (!m->p || m->B < 1)
        return err_set(e, MTRL_EINPUT, "nn_mlp_backward: no forward pass to go back through");
    int B = m->B;
    int K = req->n_groups > 1 ? req->n_groups : 1;
    int whole[2] = {0, B};
    const int *off = req->group_off;
    if (!off) {
        if (K > 1)
            return err_set(e, MTRL_EINPUT, "nn_mlp_backward: %d groups need group offsets", K);
        off = whole;
    }
    if (req->grad || req->gram) {
        if (off[0] < 0 || off[K] > B)
            return err_set(e, MTRL_EINPUT, "nn_mlp_backward: groups span rows [%d, %d), batch %d",
                           off[0], off[K], B);
        for (int k = 0; k < K; k++)
            if (off[k + 1] < off[k])
                return err_set(e, MTRL_EINPUT,
                               "nn_mlp_backward: group offsets decrease at group %d (%d > %d)", k,
                               off[k], off[k + 1]);
    }
    if (req->gram && !req->grad && (req->accumulate || K < 2))
        return err_set(e, MTRL_EINPUT,
                       "nn_mlp_backward: a Gram without kept rows (grad NULL) needs groups and "
                       "no accumulate");
    long ld_grad = req->ld_grad ? req->ld_grad : m->p->n;
    if (req->grad && ld_grad < m->off + m->n_params && K > 1)
        return err_set(e, MTRL_EINPUT, "nn_mlp_backward: gradient row stride %ld < %ld", ld_grad,
                       m->off + m->n_params);
    int in_dim = m->dims[0];
    int col0 = req->dx_col0, ncols = req->dx_cols ? req->dx_cols : in_dim - req->dx_col0;
    int ld_dx = req->ld_dx ? req->ld_dx : ncols;
    if (req->dx && (col0 < 0 || ncols < 1 || col0 + ncols > in_dim || ld_dx < ncols))
        return err_set(e, MTRL_EINPUT,
                       "nn_mlp_backward: input-gradient columns [%d, %d) (stride %d) outside [0, %d)",
                       col0, col0 + ncols, ld_dx, in_dim);

    /* Backprop signals of every layer, once for the whole batch. */
    const float *w0 = m->p->w + m->off;
    int L = m->n_layers;
    m->dsig[L - 1] = dy;
    m->signals = 1;
    for (int l = L - 1; l > 0; l--) {
        int ni = m->dims[l], no = m->dims[l + 1];
        float *Dn = m->delta[l - 1];
        par_sgemm(CblasNoTrans, CblasNoTrans, B, ni, no, m->dsig[l], no, w0 + m->w_off[l], ni,
                  0.0f, Dn, ni);
        relu_mask(Dn, m->act[l - 1], (long)B * ni);
        m->dsig[l - 1] = Dn;
    }
    if (req->dx)
        par_sgemm(CblasNoTrans, CblasNoTrans, B, ncols, m->dims[1], m->dsig[0], m->dims[1],
                  w0 + m->w_off[0] + col0, in_dim, 0.0f, req->dx, ld_dx);
    if (req->gram)
        return grads_with_gram(m, req->grad, req->grad ? ld_grad : 0, K, off, req->accumulate,
                               req->gram, e);
    if (req->grad)
        return param_grads(m, req->grad, ld_grad, K, off, req->accumulate, e);
    return 0;
}

/* dW_l = sum over the grouped rows of w(row) delta_l(row) x_l(row)^T: per
 * layer one weight-gradient product over rows [off[0], off[K]) with each
 * row weighted by its group's w (nn_wgrad_scaled, on the MLP's threads),
 * and the bias as one sgemv of the signals with the row weights. */
int nn_mlp_grad_weighted(nn_mlp *m, int K, const int *off, const float *w, float *grad,
                         mtrl_err *e)
{
    int B = m->B;
    if (!m->p || B < 1 || !m->signals)
        return err_set(e, MTRL_EINPUT, "nn_mlp_grad_weighted: no backward pass to weigh");
    if (K < 1 || off[0] < 0 || off[K] > B)
        return err_set(e, MTRL_EINPUT, "nn_mlp_grad_weighted: %d groups over rows [%d, %d) of "
                       "a batch of %d", K, K >= 1 ? off[0] : 0, K >= 1 ? off[K] : 0, B);
    for (int k = 0; k < K; k++)
        if (off[k + 1] < off[k])
            return err_set(e, MTRL_EINPUT,
                           "nn_mlp_grad_weighted: group offsets decrease at group %d", k);
    int r0 = off[0], n = off[K] - off[0];
    float *rw = m->wrow; /* row r0 + i's weight: its group's */
    for (int k = 0; k < K; k++)
        for (int r = off[k]; r < off[k + 1]; r++)
            rw[r - r0] = w[k];
    for (int l = 0; l < m->n_layers; l++) {
        int ni = m->dims[l], no = m->dims[l + 1];
        const float *D = m->dsig[l] + (long)r0 * no;
        float *gw = grad + m->off + m->w_off[l];
        if (l == 0) {
            for (int b = 0, c = 0; b < m->n_in; c += m->in[b].cols, b++)
                par_sgemm_rs(CblasTrans, CblasNoTrans, no, m->in[b].cols, n, D, no, rw,
                             m->in[b].x + (long)r0 * m->in[b].ld, m->in[b].ld, 0.0f, gw + c, ni);
        } else {
            par_sgemm_rs(CblasTrans, CblasNoTrans, no, ni, n, D, no, rw,
                         m->act[l - 1] + (long)r0 * ni, ni, 0.0f, gw, ni);
        }
        cblas_sgemv(CblasRowMajor, CblasTrans, n, no, 1.0f, D, no, rw, 1, 0.0f,
                    grad + m->off + m->b_off[l], 1);
    }
    return 0;
}
