/* mtl: the combiner object (options, create/destroy) and its checkpoint
 * state. The combine pipeline is combine.c, the method table methods.c, the
 * per-method K-dimensional solvers one file per method (pcgrad.c, cagrad.c,
 * mgda.c, aligned.c, imtl.c, graddrop.c, rlw.c, nash.c, famo.c, upgrad.c,
 * conflict_free.c); linalg.c holds the small dense solvers they share and
 * arena.c their checked scratch. */
#include "mtl/mtl_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


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
    const mtl_method_def *def = &mtl_methods[o->method];
    c->o = *o;
    c->K = K;
    c->P = P;
    rng_seed(&c->rng, o->seed, o->stream);
    long kk = (long)K * K;
    /* The method's declared scratch, and at least the input check's. */
    size_t work = def->work(o, K);
    if (work < MTL_WS_I(K))
        work = MTL_WS_I(K);
    void *buf = malloc(work);
    mtl_arena_init(&c->arena, buf, work);
    c->Af = malloc(sizeof(float) * kk);
    c->A = malloc(sizeof(double) * kk);
    c->wd = malloc(sizeof(double) * K);
    c->w = malloc(sizeof(float) * K);
    c->tasks = malloc(sizeof(int) * K);
    int ok = buf && c->Af && c->A && c->wd && c->w && c->tasks;
    if (ok && def->state_len) {
        c->state_len = def->state_len(K);
        c->state = calloc((size_t)c->state_len, sizeof(float));
        ok = c->state != NULL;
        if (ok)
            def->init_state(c);
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
    free(c->arena.base);
    free(c->rows);
    free(c->tasks);
    free(c->fast_perm);
    free(c->state);
    free(c);
}

int mtl_after_step(mtl_combiner *c, const float *losses_after, mtrl_err *e)
{
    if (!c)
        return err_set(e, MTRL_EINPUT, "mtl_after_step: NULL combiner");
    const mtl_method_def *def = &mtl_methods[c->o.method];
    return def->after_step ? def->after_step(c, losses_after, e) : 0;
}

unsigned mtl_needs(const mtl_combiner *c) { return c ? mtl_methods[c->o.method].needs : 0; }

mtl_method mtl_get_method(const mtl_combiner *c) { return c->o.method; }
long mtl_state_len(const mtl_combiner *c) { return c->state_len; }

void mtl_state_get(const mtl_combiner *c, float *out)
{
    if (c->state_len)
        memcpy(out, c->state, sizeof(float) * c->state_len);
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
