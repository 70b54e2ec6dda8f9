#include "testutil.h"

#include <math.h>

#include "core/h5io.h"
#include "core/rng.h"
#include "replay/replay.h"

/* Every transition is generated from an integer id, so any sampled row can be
 * checked field by field against what must have been stored for it. obs[0]
 * holds the task and obs[1] the id, which identifies the transition. */
enum { OD = 5, AD = 3 };

static void make_transition(int task, int id, float *obs, float *act, float *rew,
                            float *next_obs, uint8_t *term)
{
    for (int j = 0; j < OD; j++) {
        obs[j] = j == 0 ? (float)task : j == 1 ? (float)id : 0.25f * (float)(id % 97) - j;
        next_obs[j] = obs[j] + 0.5f;
    }
    for (int j = 0; j < AD; j++)
        act[j] = (float)((id * 7 + j * 3) % 11) / 11.0f - 0.5f;
    /* Rewards in [0, 10] like Meta-World v2, different scale per task. */
    *rew = (float)(fmod(id * 0.6180339887, 1.0) * (1.0 + 3.0 * task));
    *term = id % 7 == 3;
}

static void add_id(rb_buffer *rb, int task, int id)
{
    float o[OD], a[AD], r, no[OD];
    uint8_t t;
    make_transition(task, id, o, a, &r, no, &t);
    mtrl_err e = {0};
    assert_int_equal(rb_add(rb, task, o, a, r, no, t, &e), 0);
}

/* Checks row i of a batch is exactly the transition its id says, with the
 * reward divided by div. */
static void check_row(const rb_batch *b, int i, double div)
{
    int task = b->task[i], id = (int)b->obs[i * OD + 1];
    assert_true(b->obs[i * OD] == (float)task);
    float o[OD], a[AD], r, no[OD];
    uint8_t t;
    make_transition(task, id, o, a, &r, no, &t);
    assert_memory_equal(b->obs + i * OD, o, sizeof o);
    assert_memory_equal(b->next_obs + i * OD, no, sizeof no);
    assert_memory_equal(b->act + i * AD, a, sizeof a);
    assert_true(b->terminal[i] == (t ? 1.0f : 0.0f));
    double expect = (double)r / div;
    assert_true(fabs(b->reward[i] - expect) <= 1e-6 * (fabs(expect) + 1e-3));
}

static void test_ring_overwrite_order(void **st)
{
    (void)st;
    rb_buffer *rb;
    mtrl_err e = {0};
    assert_int_equal(rb_create(&rb, 2, OD, AD, 11, &e), 0); /* 5 per task, 1 unused */
    assert_int_equal(rb_capacity_per_task(rb), 5);
    for (int id = 0; id < 3; id++)
        add_id(rb, 0, id);
    assert_int_equal(rb_size(rb, 0), 3);
    for (int id = 3; id < 12; id++)
        add_id(rb, 0, id);
    assert_int_equal(rb_size(rb, 0), 5);
    assert_int_equal(rb_size(rb, 1), 0);
    assert_int_equal(rb_added(rb, 0), 12);
    assert_int_equal(rb_total_size(rb), 5);
    /* Oldest first: ids 7..11 survive, in order. */
    for (int i = 0; i < 5; i++) {
        float o[OD], a[AD], r, no[OD], eo[OD], ea[AD], er, eno[OD];
        uint8_t t, et;
        assert_int_equal(rb_get(rb, 0, i, o, a, &r, no, &t, &e), 0);
        make_transition(0, 7 + i, eo, ea, &er, eno, &et);
        assert_memory_equal(o, eo, sizeof o);
        assert_memory_equal(a, ea, sizeof a);
        assert_memory_equal(no, eno, sizeof no);
        assert_true(r == er);
        assert_int_equal(t, et);
    }
    assert_int_equal(rb_get(rb, 0, 5, NULL, NULL, NULL, NULL, NULL, &e), MTRL_EINPUT);
    assert_int_equal(rb_get(rb, 1, 0, NULL, NULL, NULL, NULL, NULL, &e), MTRL_EINPUT);
    rb_destroy(rb);
}

static void test_bad_input_rejected_atomically(void **st)
{
    (void)st;
    rb_buffer *rb;
    mtrl_err e = {0};
    assert_int_equal(rb_create(&rb, 3, OD, AD, 2, &e), MTRL_EINPUT); /* < 1 per task */
    assert_null(rb);
    assert_int_equal(rb_create(&rb, 3, OD, AD, 30, &e), 0);
    float o[3 * OD] = {0}, a[3 * AD] = {0}, r[3] = {1, 2, 3}, no[3 * OD] = {0};
    uint8_t t[3] = {0, 1, 0};
    assert_int_equal(rb_add(rb, 3, o, a, 1.0f, no, 0, &e), MTRL_EINPUT);
    assert_int_equal(rb_add(rb, 0, o, a, NAN, no, 0, &e), MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "reward"));
    /* Row 2 bad: rows 0 and 1 must not be written either. */
    no[2 * OD + 1] = INFINITY;
    assert_int_equal(rb_add_batch(rb, o, a, r, no, t, &e), MTRL_EINPUT);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(rb_size(rb, k), 0);
        assert_int_equal(rb_added(rb, k), 0);
    }
    no[2 * OD + 1] = 0;
    assert_int_equal(rb_add_batch(rb, o, a, r, no, t, &e), 0);
    for (int k = 0; k < 3; k++) {
        float rr;
        uint8_t tt;
        assert_int_equal(rb_size(rb, k), 1);
        assert_int_equal(rb_get(rb, k, 0, NULL, NULL, &rr, NULL, &tt, &e), 0);
        assert_true(rr == r[k]);
        assert_int_equal(tt, t[k]);
    }
    /* EMA only before the first add. */
    assert_int_equal(rb_enable_reward_ema(rb, 0.001, &e), MTRL_EINPUT);
    rb_destroy(rb);
}

static void test_moments_match_two_pass(void **st)
{
    (void)st;
    enum { K = 3, N = 5000 };
    rb_buffer *rb;
    mtrl_err e = {0};
    assert_int_equal(rb_create(&rb, K, OD, AD, K * 300, &e), 0);
    static double all[K][N];
    rng_state g;
    rng_seed(&g, 77, 0);
    float o[K * OD] = {0}, a[K * AD] = {0}, no[K * OD] = {0}, r[K];
    uint8_t t[K] = {0};
    /* Large offset, small spread: the case where naive sum-of-squares fails. */
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < K; k++) {
            r[k] = (float)(1000.0 * k + (k + 1) * rng_normal(&g));
            all[k][i] = r[k];
        }
        assert_int_equal(rb_add_batch(rb, o, a, r, no, t, &e), 0);
        if (i == 0 || i == 1 || i == 299 || i == 300 || i == N - 1) {
            for (int k = 0; k < K; k++) {
                int n = i + 1;
                double m = 0, v = 0, mx = -INFINITY;
                for (int j = 0; j < n; j++)
                    m += all[k][j], mx = fmax(mx, all[k][j]);
                m /= n;
                for (int j = 0; j < n; j++)
                    v += (all[k][j] - m) * (all[k][j] - m);
                v /= n;
                rb_reward_stats s;
                rb_get_reward_stats(rb, k, &s);
                assert_int_equal(s.count, n);
                assert_true(fabs(s.mean - m) <= 1e-9 * (fabs(m) + 1));
                assert_true(fabs(s.var - v) <= 1e-8 * (v + 1e-12));
                assert_true(s.max == mx);
                if (n < 2) {
                    assert_true(s.var == 0 && s.scale == 1.0);
                } else {
                    assert_true(fabs(s.scale - sqrt(v)) <= 1e-8 * sqrt(v));
                }
            }
        }
    }
    assert_int_equal(rb_size(rb, 0), 300); /* overwritten many times, moments kept all */

    /* A task with identical rewards: the divisor is floored, not zero. */
    rb_buffer *c;
    assert_int_equal(rb_create(&c, 1, OD, AD, 10, &e), 0);
    for (int i = 0; i < 20; i++)
        assert_int_equal(rb_add(c, 0, o, a, 2.5f, no, 0, &e), 0);
    rb_reward_stats s;
    rb_get_reward_stats(c, 0, &s);
    assert_true(s.var == 0 && s.scale == RB_REWARD_STD_EPS && s.mean == 2.5);
    rb_destroy(c);
    rb_destroy(rb);
}

static void test_balanced_layout_and_norm(void **st)
{
    (void)st;
    enum { K = 4, B = 40 };
    rb_buffer *rb;
    rb_batch *b;
    mtrl_err e = {0};
    assert_int_equal(rb_create(&rb, K, OD, AD, K * 50, &e), 0);
    assert_int_equal(rb_batch_create(&b, K, OD, AD, 64, &e), 0);
    /* Uneven history: task k gets 30 + 20k transitions (tasks 2, 3 wrap). */
    static double rewards[K][200];
    for (int k = 0; k < K; k++)
        for (int id = 0; id < 30 + 20 * k; id++) {
            float o[OD], a[AD], r, no[OD];
            uint8_t t;
            make_transition(k, id, o, a, &r, no, &t);
            rewards[k][id] = r;
            add_id(rb, k, id);
        }
    double div[K];
    for (int k = 0; k < K; k++) {
        int n = 30 + 20 * k;
        double m = 0, v = 0;
        for (int j = 0; j < n; j++)
            m += rewards[k][j];
        m /= n;
        for (int j = 0; j < n; j++)
            v += (rewards[k][j] - m) * (rewards[k][j] - m);
        div[k] = fmax(sqrt(v / n), RB_REWARD_STD_EPS);
        assert_true(div[k] > 0.1); /* a real spread, so the check below means something */
    }
    rng_state g;
    rng_seed(&g, 5, RNG_STREAM_REPLAY);
    int terminals = 0;
    for (int rep = 0; rep < 50; rep++) {
        assert_int_equal(rb_sample(rb, RB_SAMPLE_BALANCED, RB_NORM_STD, B, &g, b, &e), 0);
        assert_int_equal(b->rows, B);
        for (int k = 0; k <= K; k++)
            assert_int_equal(b->offsets[k], k * (B / K));
        for (int i = 0; i < B; i++) {
            int k = i / (B / K), id = (int)b->obs[i * OD + 1];
            assert_int_equal(b->task[i], k);
            /* Only ids still in the ring (the newest 50) can come out. */
            int n = 30 + 20 * k;
            assert_true(id >= (n > 50 ? n - 50 : 0) && id < n);
            assert_int_equal(b->src[i] / 50, k);
            check_row(b, i, div[k]);
            terminals += b->terminal[i] != 0;
        }
    }
    assert_true(terminals > 0);
    /* Raw rewards with RB_NORM_NONE. */
    assert_int_equal(rb_sample(rb, RB_SAMPLE_BALANCED, RB_NORM_NONE, B, &g, b, &e), 0);
    for (int i = 0; i < B; i++)
        check_row(b, i, 1.0);
    /* Not divisible by K, too large, or a task empty: clear errors. */
    assert_int_equal(rb_sample(rb, RB_SAMPLE_BALANCED, RB_NORM_STD, 42, &g, b, &e),
                     MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "divisible"));
    assert_int_equal(rb_sample(rb, RB_SAMPLE_BALANCED, RB_NORM_STD, 68, &g, b, &e),
                     MTRL_EINPUT);
    rb_buffer *sparse;
    assert_int_equal(rb_create(&sparse, K, OD, AD, 100, &e), 0);
    add_id(sparse, 0, 1);
    assert_int_equal(rb_sample(sparse, RB_SAMPLE_BALANCED, RB_NORM_STD, 8, &g, b, &e),
                     MTRL_EINPUT);
    assert_non_null(strstr(e.msg, "task 1"));
    rb_destroy(sparse);
    rb_batch_destroy(b);
    rb_destroy(rb);
}

static void test_uniform_frequencies_and_groups(void **st)
{
    (void)st;
    enum { K = 4, CAP = 400, B = 64, REPS = 4000 };
    static const int n_of[K] = {100, 0, 200, 300}; /* task 1 empty */
    rb_buffer *rb;
    rb_batch *b;
    mtrl_err e = {0};
    assert_int_equal(rb_create(&rb, K, OD, AD, K * CAP, &e), 0);
    assert_int_equal(rb_batch_create(&b, K, OD, AD, B, &e), 0);
    for (int k = 0; k < K; k++)
        for (int id = 0; id < n_of[k]; id++)
            add_id(rb, k, id);
    static long hits[K][CAP];
    long per_task[K] = {0};
    rng_state g;
    rng_seed(&g, 11, RNG_STREAM_REPLAY);
    int saw_uneven = 0;
    for (int rep = 0; rep < REPS; rep++) {
        assert_int_equal(rb_sample(rb, RB_SAMPLE_UNIFORM, RB_NORM_NONE, B, &g, b, &e), 0);
        assert_int_equal(b->offsets[0], 0);
        assert_int_equal(b->offsets[K], B);
        for (int k = 0; k < K; k++) {
            assert_true(b->offsets[k] <= b->offsets[k + 1]);
            for (int i = b->offsets[k]; i < b->offsets[k + 1]; i++)
                assert_int_equal(b->task[i], k);
        }
        assert_int_equal(b->offsets[1], b->offsets[2]); /* the empty task gets no rows */
        saw_uneven |= b->offsets[3] - b->offsets[2] != b->offsets[4] - b->offsets[3];
        for (int i = 0; i < B; i++) {
            check_row(b, i, 1.0);
            hits[b->task[i]][(int)b->obs[i * OD + 1]]++;
            per_task[b->task[i]]++;
        }
    }
    assert_true(saw_uneven);
    /* Task frequencies proportional to stored counts: chi-square with 2 dof;
     * 20 is beyond the 0.9999 quantile (18.4). */
    double total = (double)B * REPS, chi = 0;
    for (int k = 0; k < K; k++) {
        if (!n_of[k]) {
            assert_int_equal(per_task[k], 0);
            continue;
        }
        double ex = total * n_of[k] / 600.0;
        chi += (per_task[k] - ex) * (per_task[k] - ex) / ex;
    }
    assert_true(chi < 20.0);
    /* Every stored transition equally likely: chi-square over the 600
     * transitions, 599 dof (mean 599, sd 34.6); bound at +6 sd. */
    double ex = total / 600.0, chi_all = 0;
    for (int k = 0; k < K; k++)
        for (int id = 0; id < n_of[k]; id++)
            chi_all += (hits[k][id] - ex) * (hits[k][id] - ex) / ex;
    assert_true(chi_all < 599 + 6 * 34.6);
    assert_true(chi_all > 599 - 6 * 34.6); /* not suspiciously regular either */

    /* Normalization in uniform batches: each group by its own task's std. */
    assert_int_equal(rb_sample(rb, RB_SAMPLE_UNIFORM, RB_NORM_STD, B, &g, b, &e), 0);
    for (int i = 0; i < B; i++) {
        int k = b->task[i];
        double m = 0, v = 0;
        for (int id = 0; id < n_of[k]; id++) {
            float o[OD], a[AD], r, no[OD];
            uint8_t t;
            make_transition(k, id, o, a, &r, no, &t);
            m += r, v += (double)r * r;
        }
        m /= n_of[k];
        v = v / n_of[k] - m * m;
        check_row(b, i, fmax(sqrt(v), RB_REWARD_STD_EPS));
    }

    rb_buffer *empty;
    assert_int_equal(rb_create(&empty, K, OD, AD, 100, &e), 0);
    assert_int_equal(rb_sample(empty, RB_SAMPLE_UNIFORM, RB_NORM_NONE, B, &g, b, &e),
                     MTRL_EINPUT);
    rb_destroy(empty);
    rb_batch_destroy(b);
    rb_destroy(rb);
}

static void assert_batches_equal(const rb_batch *x, const rb_batch *y)
{
    int n = x->rows, K = x->n_tasks;
    assert_int_equal(n, y->rows);
    assert_memory_equal(x->obs, y->obs, sizeof(float) * n * OD);
    assert_memory_equal(x->next_obs, y->next_obs, sizeof(float) * n * OD);
    assert_memory_equal(x->act, y->act, sizeof(float) * n * AD);
    assert_memory_equal(x->reward, y->reward, sizeof(float) * n);
    assert_memory_equal(x->terminal, y->terminal, sizeof(float) * n);
    assert_memory_equal(x->task, y->task, sizeof(int32_t) * n);
    assert_memory_equal(x->src, y->src, sizeof(int64_t) * n);
    assert_memory_equal(x->offsets, y->offsets, sizeof(int) * (K + 1));
}

static void test_same_seed_same_batch(void **st)
{
    (void)st;
    enum { K = 3, B = 30 };
    rb_buffer *rb;
    rb_batch *x, *y;
    mtrl_err e = {0};
    assert_int_equal(rb_create(&rb, K, OD, AD, K * 40, &e), 0);
    assert_int_equal(rb_batch_create(&x, K, OD, AD, B, &e), 0);
    assert_int_equal(rb_batch_create(&y, K, OD, AD, B, &e), 0);
    for (int id = 0; id < 70; id++)
        for (int k = 0; k < K; k++)
            add_id(rb, k, id);
    for (int mode = 0; mode < 2; mode++) {
        rng_state g1, g2;
        rng_seed(&g1, 99, RNG_STREAM_REPLAY);
        rng_seed(&g2, 99, RNG_STREAM_REPLAY);
        assert_int_equal(rb_sample(rb, mode, RB_NORM_STD, B, &g1, x, &e), 0);
        assert_int_equal(rb_sample(rb, mode, RB_NORM_STD, B, &g2, y, &e), 0);
        assert_batches_equal(x, y);
        /* And the next draw differs (the rng advanced). */
        assert_int_equal(rb_sample(rb, mode, RB_NORM_STD, B, &g1, y, &e), 0);
        assert_memory_not_equal(x->src, y->src, sizeof(int64_t) * B);
    }
    rb_batch_destroy(x);
    rb_batch_destroy(y);
    rb_destroy(rb);
}

static void test_ema_mode_stores_mtenv_normalized(void **st)
{
    (void)st;
    rb_buffer *rb;
    rb_batch *b;
    mtrl_err e = {0};
    assert_int_equal(rb_create(&rb, 2, OD, AD, 2 * 3000, &e), 0);
    assert_int_equal(rb_enable_reward_ema(rb, 0.0, &e), MTRL_EINPUT);
    assert_int_equal(rb_enable_reward_ema(rb, 0.001, &e), 0);
    /* The EMA written out independently (spec §6.3). */
    double m = 0, v = 1;
    for (int id = 0; id < 2500; id++) {
        float o[OD], a[AD], r, no[OD], got;
        uint8_t t;
        make_transition(1, id, o, a, &r, no, &t);
        add_id(rb, 1, id);
        m = 0.999 * m + 0.001 * r;
        v = 0.999 * v + 0.001 * (r - m) * (r - m);
        double want = r / (sqrt(v) + 1e-8);
        assert_int_equal(rb_get(rb, 1, id, NULL, NULL, &got, NULL, NULL, &e), 0);
        assert_true(fabs(got - want) <= 1e-6 * fabs(want) + 1e-7);
    }
    rb_reward_stats s;
    rb_get_reward_stats(rb, 1, &s);
    assert_int_equal(s.count, 2500); /* raw moments still kept */
    add_id(rb, 0, 0);
    assert_int_equal(rb_batch_create(&b, 2, OD, AD, 8, &e), 0);
    rng_state g;
    rng_seed(&g, 1, RNG_STREAM_REPLAY);
    assert_int_equal(rb_sample(rb, RB_SAMPLE_BALANCED, RB_NORM_STD, 8, &g, b, &e),
                     MTRL_EINPUT);
    assert_int_equal(rb_sample(rb, RB_SAMPLE_BALANCED, RB_NORM_NONE, 8, &g, b, &e), 0);
    rb_batch_destroy(b);
    rb_destroy(rb);
}

static void test_save_load_resumes_identically(void **st)
{
    (void)st;
    enum { K = 3, CAP = 60, B = 24 };
    char path[512];
    snprintf(path, sizeof path, "%s/replay.h5", test_tmpdir());
    mtrl_err e = {0};
    for (int ema = 0; ema < 2; ema++) {
        rb_buffer *orig, *back;
        rb_batch *x, *y;
        assert_int_equal(rb_create(&orig, K, OD, AD, K * CAP, &e), 0);
        assert_int_equal(rb_create(&back, K, OD, AD, K * CAP, &e), 0);
        if (ema) {
            assert_int_equal(rb_enable_reward_ema(orig, 0.01, &e), 0);
            assert_int_equal(rb_enable_reward_ema(back, 0.01, &e), 0);
        }
        assert_int_equal(rb_batch_create(&x, K, OD, AD, B, &e), 0);
        assert_int_equal(rb_batch_create(&y, K, OD, AD, B, &e), 0);
        /* Task 0 wrapped (pos mid-ring), task 1 partly filled, task 2 empty. */
        for (int id = 0; id < 150; id++)
            add_id(orig, 0, id);
        for (int id = 0; id < 25; id++)
            add_id(orig, 1, id);
        /* Garbage in the fresh buffer must be replaced, not merged. */
        for (int id = 500; id < 510; id++)
            add_id(back, 2, id);

        h5_file *f;
        assert_int_equal(h5_create(&f, path, &e), 0);
        assert_int_equal(rb_save(orig, f, "replay", &e), 0);
        assert_int_equal(h5_commit(f, &e), 0);
        assert_int_equal(h5_open(&f, path, &e), 0);
        assert_int_equal(rb_load(back, f, "replay", &e), 0);
        h5_close(f);

        for (int k = 0; k < K; k++) {
            assert_int_equal(rb_size(back, k), rb_size(orig, k));
            assert_int_equal(rb_added(back, k), rb_added(orig, k));
            rb_reward_stats a, c;
            rb_get_reward_stats(orig, k, &a);
            rb_get_reward_stats(back, k, &c);
            assert_memory_equal(&a, &c, sizeof a);
        }
        rng_state g1, g2;
        rng_seed(&g1, 3, RNG_STREAM_REPLAY);
        g2 = g1;
        for (int step = 0; step < 40; step++) {
            /* Keep adding the same data to both: the write positions must
             * agree, or the rings diverge as they overwrite. */
            for (int k = 0; k < K; k++) {
                add_id(orig, k, 1000 + step);
                add_id(back, k, 1000 + step);
            }
            rb_sampling mode = step % 2 ? RB_SAMPLE_UNIFORM : RB_SAMPLE_BALANCED;
            rb_reward_norm norm = ema ? RB_NORM_NONE : RB_NORM_STD;
            assert_int_equal(rb_sample(orig, mode, norm, B, &g1, x, &e), 0);
            assert_int_equal(rb_sample(back, mode, norm, B, &g2, y, &e), 0);
            assert_batches_equal(x, y);
        }
        rb_batch_destroy(x);
        rb_batch_destroy(y);
        rb_destroy(back);

        /* A mismatched buffer is refused with both shapes named, and left empty. */
        rb_buffer *other;
        assert_int_equal(rb_create(&other, K, OD, AD, K * (CAP + 1), &e), 0);
        if (ema)
            assert_int_equal(rb_enable_reward_ema(other, 0.01, &e), 0);
        add_id(other, 0, 1);
        assert_int_equal(h5_open(&f, path, &e), 0);
        assert_int_equal(rb_load(other, f, "replay", &e), MTRL_EINPUT);
        assert_non_null(strstr(e.msg, "capacity"));
        assert_int_equal(rb_total_size(other), 0);
        assert_int_equal(rb_added(other, 0), 0);
        assert_int_equal(rb_load(orig, f, "nothing_here", &e) < 0, 1);
        assert_int_equal(rb_total_size(orig), 0);
        h5_close(f);
        rb_destroy(other);
        rb_destroy(orig);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_overwrite_order),
        cmocka_unit_test(test_bad_input_rejected_atomically),
        cmocka_unit_test(test_moments_match_two_pass),
        cmocka_unit_test(test_balanced_layout_and_norm),
        cmocka_unit_test(test_uniform_frequencies_and_groups),
        cmocka_unit_test(test_same_seed_same_batch),
        cmocka_unit_test(test_ema_mode_stores_mtenv_normalized),
        cmocka_unit_test(test_save_load_resumes_identically),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
