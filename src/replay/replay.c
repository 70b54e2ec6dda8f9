#include "replay/replay.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Checkpoint layout version, bumped whenever the datasets below change. */
#define RB_FORMAT_VERSION 1

struct rb_buffer {
    int n_tasks, obs_dim, act_dim;
    int64_t cap; /* per task */
    /* Task k's ring occupies rows [k*cap, (k+1)*cap) of each array. */
    float *obs, *act, *rew, *next_obs;
    uint8_t *term;
    int64_t *size;  /* stored now, <= cap */
    int64_t *pos;   /* next slot to write */
    int64_t *added; /* ever added */
    /* Welford moments of raw rewards, never reset by ring overwrites. */
    double *mean, *m2, *rmax;
    /* mtenv EMA state (ema_rate == 0: off). */
    double ema_rate;
    double *ema_m, *ema_v;
};

int rb_create(rb_buffer **out, int n_tasks, int obs_dim, int act_dim,
              int64_t capacity_total, mtrl_err *err)
{
    *out = NULL;
    if (n_tasks < 1 || obs_dim < 1 || act_dim < 1)
        return err_set(err, MTRL_EINPUT,
                       "replay: need n_tasks, obs_dim, act_dim >= 1 (got %d, %d, %d)",
                       n_tasks, obs_dim, act_dim);
    int64_t cap = capacity_total / n_tasks;
    if (capacity_total < 1 || cap < 1)
        return err_set(err, MTRL_EINPUT,
                       "replay: capacity %lld is less than one transition per task (%d tasks)",
                       (long long)capacity_total, n_tasks);
    rb_buffer *rb = calloc(1, sizeof *rb);
    if (!rb)
        return err_set(err, MTRL_ENOMEM, "replay: out of memory");
    rb->n_tasks = n_tasks, rb->obs_dim = obs_dim, rb->act_dim = act_dim, rb->cap = cap;
    size_t rows = (size_t)cap * (size_t)n_tasks, K = (size_t)n_tasks;
    rb->obs = malloc(rows * (size_t)obs_dim * sizeof(float));
    rb->next_obs = malloc(rows * (size_t)obs_dim * sizeof(float));
    rb->act = malloc(rows * (size_t)act_dim * sizeof(float));
    rb->rew = malloc(rows * sizeof(float));
    rb->term = malloc(rows);
    rb->size = calloc(K, sizeof(int64_t));
    rb->pos = calloc(K, sizeof(int64_t));
    rb->added = calloc(K, sizeof(int64_t));
    rb->mean = calloc(K, sizeof(double));
    rb->m2 = calloc(K, sizeof(double));
    rb->rmax = malloc(K * sizeof(double));
    rb->ema_m = calloc(K, sizeof(double));
    rb->ema_v = malloc(K * sizeof(double));
    if (!rb->obs || !rb->next_obs || !rb->act || !rb->rew || !rb->term || !rb->size ||
        !rb->pos || !rb->added || !rb->mean || !rb->m2 || !rb->rmax || !rb->ema_m ||
        !rb->ema_v) {
        double mib = (double)rows * (2.0 * obs_dim + act_dim + 1) * 4 / (1 << 20);
        rb_destroy(rb);
        return err_set(err, MTRL_ENOMEM,
                       "replay: cannot allocate %lld transitions (%.0f MiB)",
                       (long long)rows, mib);
    }
    for (size_t k = 0; k < K; k++)
        rb->rmax[k] = -INFINITY, rb->ema_v[k] = 1.0;
    *out = rb;
    return 0;
}

void rb_destroy(rb_buffer *rb)
{
    if (!rb)
        return;
    free(rb->obs), free(rb->next_obs), free(rb->act), free(rb->rew), free(rb->term);
    free(rb->size), free(rb->pos), free(rb->added);
    free(rb->mean), free(rb->m2), free(rb->rmax), free(rb->ema_m), free(rb->ema_v);
    free(rb);
}

static int64_t total_added(const rb_buffer *rb)
{
    int64_t n = 0;
    for (int k = 0; k < rb->n_tasks; k++)
        n += rb->added[k];
    return n;
}

int rb_enable_reward_ema(rb_buffer *rb, double rate, mtrl_err *err)
{
    if (!(rate > 0 && rate <= 1))
        return err_set(err, MTRL_EINPUT, "replay: reward EMA rate must be in (0, 1], got %g",
                       rate);
    if (total_added(rb) > 0)
        return err_set(err, MTRL_EINPUT,
                       "replay: reward EMA must be enabled before the first transition");
    rb->ema_rate = rate;
    return 0;
}

static int all_finite(const float *x, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

static int check_row(const rb_buffer *rb, int task, const float *obs, const float *act,
                     float reward, const float *next_obs, mtrl_err *err)
{
    if (!isfinite(reward))
        return err_set(err, MTRL_EINPUT, "replay: task %d: non-finite reward %g", task,
                       (double)reward);
    if (!all_finite(obs, rb->obs_dim))
        return err_set(err, MTRL_EINPUT, "replay: task %d: non-finite observation", task);
    if (!all_finite(next_obs, rb->obs_dim))
        return err_set(err, MTRL_EINPUT, "replay: task %d: non-finite next observation",
                       task);
    if (!all_finite(act, rb->act_dim))
        return err_set(err, MTRL_EINPUT, "replay: task %d: non-finite action", task);
    return 0;
}

static void store_row(rb_buffer *rb, int k, const float *obs, const float *act, float reward,
                      const float *next_obs, int terminal)
{
    double r = reward;
    /* Moments first, on the raw reward. Welford: stable where sum/sum-of-
     * squares in float32 (as the reference keeps them) loses all precision
     * after millions of rewards. */
    int64_t n = ++rb->added[k];
    double d = r - rb->mean[k];
    rb->mean[k] += d / (double)n;
    rb->m2[k] += d * (r - rb->mean[k]);
    if (r > rb->rmax[k])
        rb->rmax[k] = r;

    float stored = reward;
    if (rb->ema_rate > 0) {
        /* mtenv order: the variance update uses the already-updated mean. */
        double a = rb->ema_rate;
        rb->ema_m[k] = (1 - a) * rb->ema_m[k] + a * r;
        double e = r - rb->ema_m[k];
        rb->ema_v[k] = (1 - a) * rb->ema_v[k] + a * e * e;
        stored = (float)(r / (sqrt(rb->ema_v[k]) + 1e-8));
    }

    int64_t row = (int64_t)k * rb->cap + rb->pos[k];
    memcpy(rb->obs + row * rb->obs_dim, obs, (size_t)rb->obs_dim * sizeof(float));
    memcpy(rb->next_obs + row * rb->obs_dim, next_obs, (size_t)rb->obs_dim * sizeof(float));
    memcpy(rb->act + row * rb->act_dim, act, (size_t)rb->act_dim * sizeof(float));
    rb->rew[row] = stored;
    rb->term[row] = terminal != 0;
    if (++rb->pos[k] == rb->cap)
        rb->pos[k] = 0;
    if (rb->size[k] < rb->cap)
        rb->size[k]++;
}

int rb_add(rb_buffer *rb, int task, const float *obs, const float *act, float reward,
           const float *next_obs, int terminal, mtrl_err *err)
{
    if (task < 0 || task >= rb->n_tasks)
        return err_set(err, MTRL_EINPUT, "replay: task %d out of range [0, %d)", task,
                       rb->n_tasks);
    int rc = check_row(rb, task, obs, act, reward, next_obs, err);
    if (rc)
        return rc;
    store_row(rb, task, obs, act, reward, next_obs, terminal);
    return 0;
}

int rb_add_batch(rb_buffer *rb, const float *obs, const float *act, const float *reward,
                 const float *next_obs, const uint8_t *terminal, mtrl_err *err)
{
    int od = rb->obs_dim, ad = rb->act_dim;
    for (int k = 0; k < rb->n_tasks; k++) {
        int rc = check_row(rb, k, obs + (size_t)k * od, act + (size_t)k * ad, reward[k],
                           next_obs + (size_t)k * od, err);
        if (rc)
            return rc;
    }
    for (int k = 0; k < rb->n_tasks; k++)
        store_row(rb, k, obs + (size_t)k * od, act + (size_t)k * ad, reward[k],
                  next_obs + (size_t)k * od, terminal[k]);
    return 0;
}

int rb_batch_create(rb_batch **out, int n_tasks, int obs_dim, int act_dim, int capacity,
                    mtrl_err *err)
{
    *out = NULL;
    if (n_tasks < 1 || obs_dim < 1 || act_dim < 1 || capacity < 1)
        return err_set(err, MTRL_EINPUT,
                       "replay batch: need n_tasks, obs_dim, act_dim, capacity >= 1 "
                       "(got %d, %d, %d, %d)",
                       n_tasks, obs_dim, act_dim, capacity);
    rb_batch *b = calloc(1, sizeof *b);
    if (!b)
        return err_set(err, MTRL_ENOMEM, "replay batch: out of memory");
    size_t n = (size_t)capacity;
    b->capacity = capacity, b->n_tasks = n_tasks, b->obs_dim = obs_dim, b->act_dim = act_dim;
    b->obs = malloc(n * (size_t)obs_dim * sizeof(float));
    b->next_obs = malloc(n * (size_t)obs_dim * sizeof(float));
    b->act = malloc(n * (size_t)act_dim * sizeof(float));
    b->reward = malloc(n * sizeof(float));
    b->terminal = malloc(n * sizeof(float));
    b->task = malloc(n * sizeof(int32_t));
    b->src = malloc(n * sizeof(int64_t));
    b->offsets = calloc((size_t)n_tasks + 1, sizeof(int));
    if (!b->obs || !b->next_obs || !b->act || !b->reward || !b->terminal || !b->task ||
        !b->src || !b->offsets) {
        rb_batch_destroy(b);
        return err_set(err, MTRL_ENOMEM, "replay batch: out of memory for %d rows", capacity);
    }
    *out = b;
    return 0;
}

void rb_batch_destroy(rb_batch *b)
{
    if (!b)
        return;
    free(b->obs), free(b->next_obs), free(b->act), free(b->reward), free(b->terminal);
    free(b->task), free(b->src), free(b->offsets);
    free(b);
}

static double std_scale(const rb_buffer *rb, int k)
{
    if (rb->added[k] < 2)
        return 1.0;
    double s = sqrt(rb->m2[k] / (double)rb->added[k]);
    return s > RB_REWARD_STD_EPS ? s : RB_REWARD_STD_EPS;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int rb_sample(const rb_buffer *rb, rb_sampling sampling, rb_reward_norm norm, int batch_size,
              rng_state *rng, rb_batch *out, mtrl_err *err)
{
    int K = rb->n_tasks;
    if (out->n_tasks != K || out->obs_dim != rb->obs_dim || out->act_dim != rb->act_dim)
        return err_set(err, MTRL_EINPUT,
                       "replay: batch made for %d tasks, obs %d, act %d; buffer has %d, %d, %d",
                       out->n_tasks, out->obs_dim, out->act_dim, K, rb->obs_dim, rb->act_dim);
    if (batch_size < 1 || batch_size > out->capacity)
        return err_set(err, MTRL_EINPUT, "replay: batch size %d outside [1, %d]", batch_size,
                       out->capacity);
    if (norm != RB_NORM_NONE && norm != RB_NORM_STD)
        return err_set(err, MTRL_EINPUT, "replay: unknown reward normalization %d", (int)norm);
    if (norm == RB_NORM_STD && rb->ema_rate > 0)
        return err_set(err, MTRL_EINPUT,
                       "replay: rewards are stored EMA-normalized; sampling must not "
                       "divide them by the raw reward std again");

    if (sampling == RB_SAMPLE_BALANCED) {
        if (batch_size % K)
            return err_set(err, MTRL_EINPUT,
                           "replay: balanced sampling needs a batch divisible by the %d "
                           "tasks, got %d (e.g. %d or %d)",
                           K, batch_size, batch_size / K * K, (batch_size / K + 1) * K);
        for (int k = 0; k < K; k++)
            if (rb->size[k] == 0)
                return err_set(err, MTRL_EINPUT,
                               "replay: balanced sampling but task %d has no transitions", k);
        int b = batch_size / K;
        for (int k = 0; k < K; k++) {
            out->offsets[k] = k * b;
            for (int j = 0; j < b; j++)
                out->src[k * b + j] =
                    (int64_t)k * rb->cap + (int64_t)rng_below(rng, (uint64_t)rb->size[k]);
        }
        out->offsets[K] = batch_size;
    } else if (sampling == RB_SAMPLE_UNIFORM) {
        int64_t total = rb_total_size(rb);
        if (total == 0)
            return err_set(err, MTRL_EINPUT, "replay: cannot sample an empty buffer");
        for (int i = 0; i < batch_size; i++) {
            int64_t g = (int64_t)rng_below(rng, (uint64_t)total);
            int k = 0;
            while (g >= rb->size[k])
                g -= rb->size[k++];
            out->src[i] = (int64_t)k * rb->cap + g;
        }
        /* Ascending storage index = grouped by task. Row order within a group
         * carries no meaning (losses are group means), so a plain sort is fine. */
        qsort(out->src, (size_t)batch_size, sizeof(int64_t), cmp_i64);
        int i = 0;
        for (int k = 0; k < K; k++) {
            out->offsets[k] = i;
            while (i < batch_size && out->src[i] / rb->cap == k)
                i++;
        }
        out->offsets[K] = batch_size;
    } else {
        return err_set(err, MTRL_EINPUT, "replay: unknown sampling mode %d", (int)sampling);
    }

    int od = rb->obs_dim, ad = rb->act_dim;
    for (int k = 0; k < K; k++) {
        float inv = norm == RB_NORM_STD ? (float)(1.0 / std_scale(rb, k)) : 1.0f;
        for (int i = out->offsets[k]; i < out->offsets[k + 1]; i++) {
            int64_t s = out->src[i];
            memcpy(out->obs + (size_t)i * od, rb->obs + s * od, (size_t)od * sizeof(float));
            memcpy(out->next_obs + (size_t)i * od, rb->next_obs + s * od,
                   (size_t)od * sizeof(float));
            memcpy(out->act + (size_t)i * ad, rb->act + s * ad, (size_t)ad * sizeof(float));
            out->reward[i] = norm == RB_NORM_STD ? rb->rew[s] * inv : rb->rew[s];
            out->terminal[i] = rb->term[s] ? 1.0f : 0.0f;
            out->task[i] = k;
        }
    }
    out->rows = batch_size;
    return 0;
}

void rb_get_reward_stats(const rb_buffer *rb, int task, rb_reward_stats *out)
{
    int64_t n = rb->added[task];
    out->count = n;
    out->mean = rb->mean[task];
    out->var = n >= 2 ? rb->m2[task] / (double)n : 0.0;
    out->std = sqrt(out->var);
    out->max = rb->rmax[task];
    out->scale = std_scale(rb, task);
}

int64_t rb_capacity_per_task(const rb_buffer *rb) { return rb->cap; }
int64_t rb_size(const rb_buffer *rb, int task) { return rb->size[task]; }
int64_t rb_added(const rb_buffer *rb, int task) { return rb->added[task]; }

int64_t rb_total_size(const rb_buffer *rb)
{
    int64_t n = 0;
    for (int k = 0; k < rb->n_tasks; k++)
        n += rb->size[k];
    return n;
}

int rb_get(const rb_buffer *rb, int task, int64_t i, float *obs, float *act, float *reward,
           float *next_obs, uint8_t *terminal, mtrl_err *err)
{
    if (task < 0 || task >= rb->n_tasks)
        return err_set(err, MTRL_EINPUT, "replay: task %d out of range [0, %d)", task,
                       rb->n_tasks);
    if (i < 0 || i >= rb->size[task])
        return err_set(err, MTRL_EINPUT, "replay: task %d: index %lld outside [0, %lld)", task,
                       (long long)i, (long long)rb->size[task]);
    /* Once full, the oldest transition sits at the write position. */
    int64_t first = rb->size[task] == rb->cap ? rb->pos[task] : 0;
    int64_t row = (int64_t)task * rb->cap + (first + i) % rb->cap;
    int od = rb->obs_dim, ad = rb->act_dim;
    if (obs)
        memcpy(obs, rb->obs + row * od, (size_t)od * sizeof(float));
    if (next_obs)
        memcpy(next_obs, rb->next_obs + row * od, (size_t)od * sizeof(float));
    if (act)
        memcpy(act, rb->act + row * ad, (size_t)ad * sizeof(float));
    if (reward)
        *reward = rb->rew[row];
    if (terminal)
        *terminal = rb->term[row];
    return 0;
}

/* ---- checkpoint ---- */

/* group + "/" + name into buf; the error names the too-long path. */
static int path_of(char *buf, size_t cap, const char *group, const char *name, mtrl_err *err)
{
    int n = snprintf(buf, cap, "%s/%s", group, name);
    if (n < 0 || (size_t)n >= cap)
        return err_set(err, MTRL_EINPUT, "replay: HDF5 path too long: %s/%s", group, name);
    return 0;
}

#define RB_PATH_MAX 512

int rb_save(const rb_buffer *rb, h5_file *f, const char *group, mtrl_err *err)
{
    char p[RB_PATH_MAX];
    int K = rb->n_tasks, od = rb->obs_dim, ad = rb->act_dim, rc;
    long kd[1] = {K};
    /* The counters and moments first: the group exists before its attributes. */
    if ((rc = path_of(p, sizeof p, group, "size", err)) ||
        (rc = h5_write_i64(f, p, 1, kd, rb->size, err)))
        goto fail;
    if ((rc = path_of(p, sizeof p, group, "pos", err)) ||
        (rc = h5_write_i64(f, p, 1, kd, rb->pos, err)))
        goto fail;
    if ((rc = path_of(p, sizeof p, group, "added", err)) ||
        (rc = h5_write_i64(f, p, 1, kd, rb->added, err)))
        goto fail;
    if ((rc = path_of(p, sizeof p, group, "reward_mean", err)) ||
        (rc = h5_write_f64(f, p, 1, kd, rb->mean, err)))
        goto fail;
    if ((rc = path_of(p, sizeof p, group, "reward_m2", err)) ||
        (rc = h5_write_f64(f, p, 1, kd, rb->m2, err)))
        goto fail;
    if ((rc = path_of(p, sizeof p, group, "reward_max", err)) ||
        (rc = h5_write_f64(f, p, 1, kd, rb->rmax, err)))
        goto fail;
    if ((rc = path_of(p, sizeof p, group, "ema_m", err)) ||
        (rc = h5_write_f64(f, p, 1, kd, rb->ema_m, err)))
        goto fail;
    if ((rc = path_of(p, sizeof p, group, "ema_v", err)) ||
        (rc = h5_write_f64(f, p, 1, kd, rb->ema_v, err)))
        goto fail;
    if ((rc = h5_write_attr_i64(f, group, "format_version", RB_FORMAT_VERSION, err)) ||
        (rc = h5_write_attr_i64(f, group, "n_tasks", K, err)) ||
        (rc = h5_write_attr_i64(f, group, "obs_dim", od, err)) ||
        (rc = h5_write_attr_i64(f, group, "act_dim", ad, err)) ||
        (rc = h5_write_attr_i64(f, group, "capacity_per_task", rb->cap, err)) ||
        (rc = h5_write_attr_f64(f, group, "ema_rate", rb->ema_rate, err)))
        goto fail;

    /* Only the filled part of each ring: slots [0, size) are exactly the ones
     * written so far (the ring fills from slot 0 before it wraps), and they
     * are contiguous in storage, so each goes out without a copy. */
    for (int k = 0; k < K; k++) {
        char sub[64];
        long n = (long)rb->size[k];
        int64_t row0 = (int64_t)k * rb->cap;
        long d_obs[2] = {n, od}, d_act[2] = {n, ad}, d1[1] = {n};
        snprintf(sub, sizeof sub, "task_%03d/obs", k);
        if ((rc = path_of(p, sizeof p, group, sub, err)) ||
            (rc = h5_write_f32(f, p, 2, d_obs, rb->obs + row0 * od, err)))
            goto fail;
        snprintf(sub, sizeof sub, "task_%03d/next_obs", k);
        if ((rc = path_of(p, sizeof p, group, sub, err)) ||
            (rc = h5_write_f32(f, p, 2, d_obs, rb->next_obs + row0 * od, err)))
            goto fail;
        snprintf(sub, sizeof sub, "task_%03d/action", k);
        if ((rc = path_of(p, sizeof p, group, sub, err)) ||
            (rc = h5_write_f32(f, p, 2, d_act, rb->act + row0 * ad, err)))
            goto fail;
        snprintf(sub, sizeof sub, "task_%03d/reward", k);
        if ((rc = path_of(p, sizeof p, group, sub, err)) ||
            (rc = h5_write_f32(f, p, 1, d1, rb->rew + row0, err)))
            goto fail;
        snprintf(sub, sizeof sub, "task_%03d/terminal", k);
        if ((rc = path_of(p, sizeof p, group, sub, err)) ||
            (rc = h5_write_u8(f, p, 1, d1, rb->term + row0, err)))
            goto fail;
    }
    return 0;
fail:
    err_prefix(err, "saving replay buffer to %s", group);
    return rc;
}

static void reset_empty(rb_buffer *rb)
{
    for (int k = 0; k < rb->n_tasks; k++) {
        rb->size[k] = rb->pos[k] = rb->added[k] = 0;
        rb->mean[k] = rb->m2[k] = rb->ema_m[k] = 0;
        rb->ema_v[k] = 1.0;
        rb->rmax[k] = -INFINITY;
    }
}

static int load_inner(rb_buffer *rb, h5_file *f, const char *group, mtrl_err *err)
{
    char p[RB_PATH_MAX];
    int K = rb->n_tasks, od = rb->obs_dim, ad = rb->act_dim, rc;
    int64_t ver, fk, fod, fad, fcap;
    double ema_rate;
    if ((rc = h5_read_attr_i64(f, group, "format_version", &ver, err)))
        return rc;
    if (ver != RB_FORMAT_VERSION)
        return err_set(err, MTRL_EINPUT, "format version %lld, this build reads %d",
                       (long long)ver, RB_FORMAT_VERSION);
    if ((rc = h5_read_attr_i64(f, group, "n_tasks", &fk, err)) ||
        (rc = h5_read_attr_i64(f, group, "obs_dim", &fod, err)) ||
        (rc = h5_read_attr_i64(f, group, "act_dim", &fad, err)) ||
        (rc = h5_read_attr_i64(f, group, "capacity_per_task", &fcap, err)) ||
        (rc = h5_read_attr_f64(f, group, "ema_rate", &ema_rate, err)))
        return rc;
    if (fk != K || fod != od || fad != ad || fcap != rb->cap)
        return err_set(err, MTRL_EINPUT,
                       "saved buffer has %lld tasks, obs %lld, act %lld, capacity %lld per "
                       "task; this run has %d, %d, %d, %lld",
                       (long long)fk, (long long)fod, (long long)fad, (long long)fcap, K, od,
                       ad, (long long)rb->cap);
    if (!(ema_rate >= 0 && ema_rate <= 1))
        return err_set(err, MTRL_EINPUT, "bad ema_rate %g", ema_rate);
    if (ema_rate != rb->ema_rate)
        return err_set(err, MTRL_EINPUT,
                       "saved buffer has reward EMA rate %g, this run %g (the stored "
                       "rewards would mean something else)",
                       ema_rate, rb->ema_rate);

    if ((rc = path_of(p, sizeof p, group, "size", err)) ||
        (rc = h5_read_i64_into(f, p, K, rb->size, err)) ||
        (rc = path_of(p, sizeof p, group, "pos", err)) ||
        (rc = h5_read_i64_into(f, p, K, rb->pos, err)) ||
        (rc = path_of(p, sizeof p, group, "added", err)) ||
        (rc = h5_read_i64_into(f, p, K, rb->added, err)) ||
        (rc = path_of(p, sizeof p, group, "reward_mean", err)) ||
        (rc = h5_read_f64_into(f, p, K, rb->mean, err)) ||
        (rc = path_of(p, sizeof p, group, "reward_m2", err)) ||
        (rc = h5_read_f64_into(f, p, K, rb->m2, err)) ||
        (rc = path_of(p, sizeof p, group, "reward_max", err)) ||
        (rc = h5_read_f64_into(f, p, K, rb->rmax, err)) ||
        (rc = path_of(p, sizeof p, group, "ema_m", err)) ||
        (rc = h5_read_f64_into(f, p, K, rb->ema_m, err)) ||
        (rc = path_of(p, sizeof p, group, "ema_v", err)) ||
        (rc = h5_read_f64_into(f, p, K, rb->ema_v, err)))
        return rc;

    for (int k = 0; k < K; k++) {
        int64_t n = rb->size[k];
        /* A consistent ring: size <= cap, pos = added mod cap while filling,
         * the ring full once it ever wrapped, nothing stored that was not added. */
        int ok = n >= 0 && n <= rb->cap && rb->pos[k] >= 0 && rb->pos[k] < rb->cap &&
                 rb->added[k] >= n && rb->pos[k] == rb->added[k] % rb->cap &&
                 (n == rb->cap || n == rb->added[k]) && isfinite(rb->mean[k]) &&
                 isfinite(rb->m2[k]) && rb->m2[k] >= 0 && rb->ema_v[k] >= 0;
        if (!ok)
            return err_set(err, MTRL_EINPUT,
                           "task %d: inconsistent ring (size %lld, pos %lld, added %lld, "
                           "capacity %lld) or moments",
                           k, (long long)n, (long long)rb->pos[k], (long long)rb->added[k],
                           (long long)rb->cap);
        char sub[64];
        int64_t row0 = (int64_t)k * rb->cap;
        snprintf(sub, sizeof sub, "task_%03d/obs", k);
        if ((rc = path_of(p, sizeof p, group, sub, err)) ||
            (rc = h5_read_f32_into(f, p, (long)(n * od), rb->obs + row0 * od, err)))
            return rc;
        snprintf(sub, sizeof sub, "task_%03d/next_obs", k);
        if ((rc = path_of(p, sizeof p, group, sub, err)) ||
            (rc = h5_read_f32_into(f, p, (long)(n * od), rb->next_obs + row0 * od, err)))
            return rc;
        snprintf(sub, sizeof sub, "task_%03d/action", k);
        if ((rc = path_of(p, sizeof p, group, sub, err)) ||
            (rc = h5_read_f32_into(f, p, (long)(n * ad), rb->act + row0 * ad, err)))
            return rc;
        snprintf(sub, sizeof sub, "task_%03d/reward", k);
        if ((rc = path_of(p, sizeof p, group, sub, err)) ||
            (rc = h5_read_f32_into(f, p, (long)n, rb->rew + row0, err)))
            return rc;
        snprintf(sub, sizeof sub, "task_%03d/terminal", k);
        if ((rc = path_of(p, sizeof p, group, sub, err)) ||
            (rc = h5_read_u8_into(f, p, (long)n, rb->term + row0, err)))
            return rc;
        for (int64_t i = 0; i < n; i++)
            rb->term[row0 + i] = rb->term[row0 + i] != 0;
    }
    return 0;
}

int rb_load(rb_buffer *rb, h5_file *f, const char *group, mtrl_err *err)
{
    int rc = load_inner(rb, f, group, err);
    if (rc) {
        reset_empty(rb);
        err_prefix(err, "loading replay buffer from %s", group);
        return rc;
    }
    return 0;
}
