/* The SAC losses and gradients against an independent reference: a tiny
 * agent (3 tasks, two hidden layers of 6 and 5) takes one update on a
 * handcrafted batch with unequal task groups (and, in one case, a task with
 * no rows), and its reported losses and the gradients it hands to Adam must
 * match this file's own double-precision forward pass of the SAC losses
 * (spec mtrl-cagrad.md §3-4) and their central finite differences:
 *   critic: mean over tasks of mean_i (Q1 - y)^2 + (Q2 - y)^2,
 *           y = r + gamma (1 - done) (min(Q1', Q2')(s', a') - alpha_k log pi(a'|s')),
 *   actor:  mean over tasks of mean_i alpha_k log pi(a~|s) - min(Q1, Q2)(s, a~),
 *           with the critic after its step,
 *   alpha:  d/d(log alpha_k) = alpha_k mean_i (-log pi - H) / (tasks present).
 * The weights, temperatures and the policy noise's rng come from the agent's
 * checkpoint; the target critic and the per-task temperatures are set apart
 * (through a rewritten checkpoint) so that a target taken from the online
 * critic or another task's temperature shows. */
#include "testutil.h"

#include <math.h>

#include "core/h5io.h"
#include "sac/sac.h"

#define K 3
#define OBS 4
#define ACT 2
#define B 12
#define H1 6
#define H2 5
#define IN (OBS + K)                                    /* obs + task one-hot */
#define PA (IN * H1 + H1 + H1 * H2 + H2 + H2 * 2 * ACT + 2 * ACT)
#define PQ ((IN + ACT) * H1 + H1 + H1 * H2 + H2 + H2 + 1) /* one critic */
#define GAMMA 0.8
#define TARGET_H (-1.3)
#define LS_MIN (-3.0)
#define LS_MAX 1.0

static const double log_alpha_set[K] = {-1.2, -0.1, 0.5};

typedef struct batch_in {
    int off[K + 1];
    double obs[B][OBS], act[B][ACT], rew[B], next_obs[B][OBS], done[B];
    int task[B];
} batch_in;

/* What the reference needs: the agent's state before the update (the
 * critic also after its step) and the noise its policy samples use. */
typedef struct ref_state {
    const batch_in *b;
    double actor[PA], critic[2 * PQ], critic_after[2 * PQ], target[2 * PQ], log_alpha[K];
    double eps_next[B][ACT], eps_pi[B][ACT];
} ref_state;

/* ---- the reference, in double ---------------------------------------- */

/* Linear -> ReLU -> Linear -> ReLU -> Linear; W row-major (out x in), then b. */
static void mlp(const double *w, int in, int out, const double *x, double *y)
{
    const int dims[4] = {in, H1, H2, out};
    double buf[2][16];
    const double *cur = x;
    for (int l = 0; l < 3; l++) {
        const double *W = w, *bias = w + dims[l + 1] * dims[l];
        double *nx = l == 2 ? y : buf[l % 2];
        for (int o = 0; o < dims[l + 1]; o++) {
            double s = bias[o];
            for (int i = 0; i < dims[l]; i++)
                s += W[o * dims[l] + i] * cur[i];
            nx[o] = l < 2 && s < 0 ? 0 : s;
        }
        w = bias + dims[l + 1];
        cur = nx;
    }
}

static void net_input(const double *obs, int task, const double *act, double *x)
{
    for (int j = 0; j < OBS; j++)
        x[j] = obs[j];
    for (int k = 0; k < K; k++)
        x[OBS + k] = k == task;
    for (int j = 0; act && j < ACT; j++)
        x[IN + j] = act[j];
}

/* min(Q1, Q2)(s, a) of a twin critic (Q1's parameters, then Q2's). */
static double q_min(const double *twin, const double *obs, int task, const double *act)
{
    double x[IN + ACT], q1, q2;
    net_input(obs, task, act, x);
    mlp(twin, IN + ACT, 1, x, &q1);
    mlp(twin + PQ, IN + ACT, 1, x, &q2);
    return fmin(q1, q2);
}

/* a = tanh(mu + exp(log_std) eps), log pi(a|s) of the tanh-Gaussian. */
static double policy(const double *actor, const double *obs, int task, const double *eps,
                     double *act)
{
    double x[IN], head[2 * ACT], logp = 0;
    net_input(obs, task, NULL, x);
    mlp(actor, IN, 2 * ACT, x, head);
    for (int j = 0; j < ACT; j++) {
        double ls = LS_MIN + (LS_MAX - LS_MIN) * (tanh(head[ACT + j]) + 1) / 2;
        double u = head[j] + exp(ls) * eps[j];
        act[j] = tanh(u);
        double t = 1 - act[j] * act[j];
        logp += -eps[j] * eps[j] / 2 - ls - log(2 * M_PI) / 2 - log(t);
    }
    return logp;
}

static int n_groups(const batch_in *b)
{
    int n = 0;
    for (int k = 0; k < K; k++)
        n += b->off[k + 1] > b->off[k];
    return n;
}

static double target_of(const ref_state *s, int i)
{
    const batch_in *b = s->b;
    double a2[ACT];
    double logp = policy(s->actor, b->next_obs[i], b->task[i], s->eps_next[i], a2);
    double v = q_min(s->target, b->next_obs[i], b->task[i], a2) -
               exp(s->log_alpha[b->task[i]]) * logp;
    return b->rew[i] + GAMMA * (1 - b->done[i]) * v;
}

static double critic_loss(const ref_state *s, const double *twin)
{
    const batch_in *b = s->b;
    double total = 0;
    for (int k = 0; k < K; k++) {
        double l = 0;
        for (int i = b->off[k]; i < b->off[k + 1]; i++) {
            double x[IN + ACT], q1, q2, y = target_of(s, i);
            net_input(b->obs[i], k, b->act[i], x);
            mlp(twin, IN + ACT, 1, x, &q1);
            mlp(twin + PQ, IN + ACT, 1, x, &q2);
            l += (q1 - y) * (q1 - y) + (q2 - y) * (q2 - y);
        }
        if (b->off[k + 1] > b->off[k])
            total += l / (b->off[k + 1] - b->off[k]);
    }
    return total / n_groups(b);
}

/* The actor loss with the critic after its step; also the mean entropy
 * estimate -log pi, the temperature loss and its gradient. */
static double actor_loss(const ref_state *s, const double *actor, double *entropy,
                         double *alpha_loss, double *alpha_grad)
{
    const batch_in *b = s->b;
    double total = 0, ent = 0, al = 0;
    int G = n_groups(b);
    for (int k = 0; k < K; k++) {
        double l = 0, m = 0, alpha = exp(s->log_alpha[k]);
        int n = b->off[k + 1] - b->off[k];
        for (int i = b->off[k]; i < b->off[k + 1]; i++) {
            double a[ACT], logp = policy(actor, b->obs[i], k, s->eps_pi[i], a);
            l += alpha * logp - q_min(s->critic_after, b->obs[i], k, a);
            m += -logp - TARGET_H;
            ent -= logp;
        }
        if (alpha_grad)
            alpha_grad[k] = n ? alpha * (m / n) / G : 0;
        if (n)
            total += l / n, al += alpha * (m / n);
    }
    if (entropy)
        *entropy = ent / b->off[K];
    if (alpha_loss)
        *alpha_loss = al / G;
    return total / G;
}

/* Central differences of f over the n parameters w. */
static void fd_grad(const ref_state *s, double *w, int n, double (*f)(const ref_state *, double *),
                    double *g)
{
    for (int i = 0; i < n; i++) {
        double w0 = w[i], h = 1e-6 * (1 + fabs(w0));
        w[i] = w0 + h;
        double lp = f(s, w);
        w[i] = w0 - h;
        double lm = f(s, w);
        w[i] = w0;
        g[i] = (lp - lm) / (2 * h);
    }
}

static double critic_f(const ref_state *s, double *w) { return critic_loss(s, w); }
static double actor_f(const ref_state *s, double *w) { return actor_loss(s, w, 0, 0, 0); }

/* ---- the agent ---------------------------------------------------------- */

static void tiny_config(mtrl_config *c)
{
    cfg_defaults(c);
    c->agent.actor_hidden = (cfg_int_list){2, {H1, H2}};
    c->agent.critic_hidden = (cfg_int_list){2, {H1, H2}};
    c->agent.batch_size = B;
    c->agent.discount = GAMMA;
    c->agent.target_entropy = TARGET_H;
    c->agent.log_std_min = LS_MIN;
    c->agent.log_std_max = LS_MAX;
    /* A large critic step, so that an actor loss on the critic before its
     * step would be far from the reference. */
    c->agent.critic_lr = 0.05;
    c->run.seed = 7;
    mtrl_err e;
    assert_int_equal(cfg_apply_override(c, "mtl.method=mean", &e), 0);
}

static void path_of(char *p, size_t n, const char *name)
{
    snprintf(p, n, "%s/%s", test_tmpdir(), name);
}

static void save(sac_agent *a, const char *path)
{
    mtrl_err e;
    h5_file *f;
    assert_int_equal(h5_create(&f, path, &e), 0);
    assert_int_equal(sac_save(a, f, "agent", &e), 0);
    assert_int_equal(h5_commit(f, &e), 0);
}

static void read_f64(h5_file *f, const char *name, long n, double *out)
{
    float buf[2 * PQ];
    mtrl_err e;
    assert_true(n <= 2 * PQ);
    if (h5_read_f32_into(f, name, n, buf, &e))
        fail_msg("%s: %s", name, e.msg);
    for (long i = 0; i < n; i++)
        out[i] = buf[i];
}

/* Gives the agent the temperatures log_alpha_set, a target critic away
 * from its critic and no zero bias, by rewriting its checkpoint. */
static void set_apart(sac_agent *a)
{
    char src[512], dst[512];
    path_of(src, sizeof src, "fresh.h5");
    path_of(dst, sizeof dst, "apart.h5");
    save(a, src);
    static const char *const names[] = {
        "actor/w",     "actor/adam_m",     "actor/adam_v",     "actor/adam_step",
        "critic/w",    "critic/adam_m",    "critic/adam_v",    "critic/adam_step",
        "log_alpha/w", "log_alpha/adam_m", "log_alpha/adam_v", "log_alpha/adam_step",
        "critic_target/w", "rng", "counters", "rng_normal"};
    mtrl_err e;
    h5_file *in, *out;
    assert_int_equal(h5_open(&in, src, &e), 0);
    assert_int_equal(h5_create(&out, dst, &e), 0);
    for (size_t j = 0; j < sizeof names / sizeof names[0]; j++) {
        char p[128];
        snprintf(p, sizeof p, "agent/%s", names[j]);
        int rank;
        long dims[H5IO_MAX_RANK];
        if (strstr(p, "step") || !strcmp(names[j], "rng") || !strcmp(names[j], "counters")) {
            int64_t *v;
            assert_int_equal(h5_read_i64(in, p, &rank, dims, &v, &e), 0);
            assert_int_equal(h5_write_i64(out, p, rank, dims, v, &e), 0);
            free(v);
        } else if (!strcmp(names[j], "rng_normal")) {
            double *v;
            assert_int_equal(h5_read_f64(in, p, &rank, dims, &v, &e), 0);
            assert_int_equal(h5_write_f64(out, p, rank, dims, v, &e), 0);
            free(v);
        } else {
            float *v;
            assert_int_equal(h5_read_f32(in, p, &rank, dims, &v, &e), 0);
            if (!strcmp(names[j], "log_alpha/w"))
                for (int k = 0; k < K; k++)
                    v[k] = (float)log_alpha_set[k];
            /* Xavier leaves the biases 0: a row whose ReLUs are all off
             * would sit on the kink of the next layer's. */
            if (!strcmp(names[j], "actor/w") || !strcmp(names[j], "critic/w"))
                for (long i = 0; i < dims[0]; i++)
                    v[i] += 0.05f * (float)cos(1.3 * (double)i);
            if (!strcmp(names[j], "critic_target/w"))
                for (long i = 0; i < dims[0]; i++)
                    v[i] = 0.8f * v[i] + 0.1f * (float)sin(0.7 * (double)i);
            assert_int_equal(h5_write_f32(out, p, rank, dims, v, &e), 0);
            free(v);
        }
    }
    h5_close(in);
    assert_int_equal(h5_commit(out, &e), 0);
    assert_int_equal(h5_open(&in, dst, &e), 0);
    if (sac_load(a, in, "agent", &e))
        fail_msg("sac_load: %s", e.msg);
    h5_close(in);
}

/* Weights, temperatures and the noise of the next update, from a
 * checkpoint of the agent before it. */
static void read_state(sac_agent *a, ref_state *s)
{
    char path[512];
    path_of(path, sizeof path, "before.h5");
    save(a, path);
    mtrl_err e;
    h5_file *f;
    assert_int_equal(h5_open(&f, path, &e), 0);
    read_f64(f, "agent/actor/w", PA, s->actor);
    read_f64(f, "agent/critic/w", 2 * PQ, s->critic);
    read_f64(f, "agent/critic_target/w", 2 * PQ, s->target);
    read_f64(f, "agent/log_alpha/w", K, s->log_alpha);
    rng_state r;
    double cached[2];
    assert_int_equal(h5_read_i64_into(f, "agent/rng", 4, (int64_t *)r.s, &e), 0);
    assert_int_equal(h5_read_f64_into(f, "agent/rng_normal", 2, cached, &e), 0);
    r.cached_normal = cached[0];
    r.has_cached = (int)cached[1];
    h5_close(f);
    /* The documented order: the target sample's noise, then the actor's,
     * each B x A row-major, each value rounded to float. */
    for (int i = 0; i < B; i++)
        for (int j = 0; j < ACT; j++)
            s->eps_next[i][j] = (float)rng_normal(&r);
    for (int i = 0; i < B; i++)
        for (int j = 0; j < ACT; j++)
            s->eps_pi[i][j] = (float)rng_normal(&r);
}

static void fill_batch(batch_in *in, rb_batch *b, const int *counts)
{
    in->off[0] = 0;
    for (int k = 0; k < K; k++)
        in->off[k + 1] = in->off[k] + counts[k];
    assert_int_equal(in->off[K], B);
    b->rows = B;
    for (int k = 0; k <= K; k++)
        b->offsets[k] = in->off[k];
    for (int k = 0; k < K; k++)
        for (int i = in->off[k]; i < in->off[k + 1]; i++) {
            in->task[i] = k;
            in->rew[i] = (float)(0.5 * sin(1.3 * i) + 0.3 * k);
            in->done[i] = i % 5 == 2;
            for (int j = 0; j < OBS; j++) {
                in->obs[i][j] = (float)sin(0.9 * i + 1.7 * j + k);
                in->next_obs[i][j] = (float)(in->obs[i][j] + 0.2 * cos(2.1 * i - j));
            }
            for (int j = 0; j < ACT; j++)
                in->act[i][j] = (float)(0.8 * sin(1.1 * i + 2.3 * j));
            b->task[i] = k;
            b->reward[i] = (float)in->rew[i];
            b->terminal[i] = (float)in->done[i];
            for (int j = 0; j < OBS; j++)
                b->obs[i * OBS + j] = (float)in->obs[i][j],
                b->next_obs[i * OBS + j] = (float)in->next_obs[i][j];
            for (int j = 0; j < ACT; j++)
                b->act[i * ACT + j] = (float)in->act[i][j];
        }
}

/* max_i |got_i - want_i| within tol of max_i |want_i|, and want not ~0. */
static void expect_grad(const char *what, const float *got, const double *want, long n,
                        double tol)
{
    double scale = 0, worst = 0;
    long at = 0;
    for (long i = 0; i < n; i++) {
        scale = fmax(scale, fabs(want[i]));
        if (fabs(got[i] - want[i]) > worst)
            worst = fabs(got[i] - want[i]), at = i;
    }
    if (!(scale > 1e-3 && worst <= tol * scale))
        fail_msg("%s gradient: [%ld] is %.9g, the reference %.9g (off by %.3g of the largest "
                 "entry %.3g)", what, at, (double)got[at], want[at], worst / scale, scale);
}

static void expect_close(const char *what, double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol * (1 + fabs(want))))
        fail_msg("%s: the agent reports %.9g, the reference %.9g", what, got, want);
}

static void check_update(const int *counts)
{
    mtrl_config c;
    tiny_config(&c);
    sac_agent *a;
    mtrl_err e;
    if (sac_create(&a, &c, K, OBS, ACT, &e))
        fail_msg("sac_create: %s", e.msg);
    set_apart(a);
    static ref_state s;
    static batch_in in;
    rb_batch *b;
    assert_int_equal(rb_batch_create(&b, K, OBS, ACT, B, &e), 0);
    fill_batch(&in, b, counts);
    s.b = &in;
    read_state(a, &s);

    sac_update_stats st;
    assert_int_equal(sac_update(a, b, &st, &e), 0);
    assert_int_equal(st.skipped, 0);
    assert_int_equal(st.actor_updated, 1);
    char path[512];
    path_of(path, sizeof path, "after.h5");
    save(a, path);
    h5_file *f;
    assert_int_equal(h5_open(&f, path, &e), 0);
    read_f64(f, "agent/critic/w", 2 * PQ, s.critic_after);
    h5_close(f);

    /* The critic: its loss and its gradient, taken before its step. */
    long n;
    const float *d = sac_update_vector(a, 1, &n);
    assert_int_equal(n, 2 * PQ);
    static double g[2 * PQ];
    expect_close("critic loss", st.critic_loss, critic_loss(&s, s.critic), 1e-5);
    fd_grad(&s, s.critic, 2 * PQ, critic_f, g);
    expect_grad("critic", d, g, n, 1e-4);

    /* The actor, on the critic after its step, and the temperatures. */
    double ent, al, ag[K];
    expect_close("actor loss", st.actor_loss, actor_loss(&s, s.actor, &ent, &al, ag), 1e-5);
    expect_close("entropy", st.entropy, ent, 1e-5);
    expect_close("alpha loss", st.alpha_loss, al, 1e-5);
    d = sac_update_vector(a, 0, &n);
    assert_int_equal(n, PA);
    fd_grad(&s, s.actor, PA, actor_f, g);
    expect_grad("actor", d, g, n, 1e-4);
    d = sac_update_vector(a, 2, &n);
    assert_int_equal(n, K);
    expect_grad("log alpha", d, ag, n, 1e-4);

    rb_batch_destroy(b);
    sac_destroy(a);
}

static void test_all_tasks_unequal_groups(void **st)
{
    (void)st;
    check_update((const int[K]){3, 5, 4});
}

/* A task with no rows: the means are over the two tasks present. */
static void test_a_task_absent(void **st)
{
    (void)st;
    check_update((const int[K]){5, 0, 7});
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_tasks_unequal_groups),
        cmocka_unit_test(test_a_task_absent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
