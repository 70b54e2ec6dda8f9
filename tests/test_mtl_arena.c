/* The combiner's scratch: the checked arena (arena.h) through its own API,
 * including a deliberately undersized arena; every method's declared work
 * size against what its calls really take, on random problems with K = 1,
 * 2, 10 and 50 and on every route (Gram given or formed, rep_gram, a task
 * map, k < K, CAGrad-Fast's subset and caller-formed rows, Nash-MTL's reuse
 * calls, FAMO's after-step); and a combiner whose arena is cut below what a
 * method takes fails that call with an error instead of writing past it.
 * White-box: the arena and the combiner's insides come from mtl_impl.h. */
#include "testutil.h"

#include "mtl/mtl_impl.h"
#include "mtl_ref.h"

static void test_arena_api(void **state)
{
    (void)state;
    /* 64 bytes of arena followed by 64 guard bytes that must stay as set. */
    _Alignas(16) unsigned char buf[128];
    memset(buf, 0xA5, sizeof buf);
    mtl_arena a;
    mtl_arena_init(&a, buf, 64);
    double *x = mtl_arena_doubles(&a, 3); /* 24 bytes -> 32 with padding */
    int *n = mtl_arena_ints(&a, 4);       /* 16 */
    assert_non_null(x);
    assert_non_null(n);
    assert_int_equal((unsigned char *)n - (unsigned char *)x, 32);
    assert_int_equal((size_t)x % MTL_ARENA_ALIGN, 0);
    assert_int_equal(mtl_arena_size(3, sizeof(double)), 32);
    assert_int_equal(mtl_arena_size(0, sizeof(double)), 0);
    size_t mark = mtl_arena_mark(&a);
    float *f = mtl_arena_floats(&a, 4); /* 16: exactly full */
    assert_non_null(f);
    assert_int_equal(a.top, 64);
    assert_int_equal(a.overflow, 0);
    /* One more int does not fit: NULL, overflow, and the size it wanted. */
    assert_null(mtl_arena_ints(&a, 1));
    assert_int_equal(a.overflow, 1);
    assert_int_equal(a.want, 80);
    assert_null(mtl_arena_doubles(&a, -1));
    assert_null(mtl_arena_alloc(&a, (long)1 << 62, 64)); /* would wrap size_t */
    /* reset gives back what came after the mark; clear empties the arena
     * and forgets the overflow; the peak stays. */
    mtl_arena_reset(&a, mark);
    assert_int_equal(a.top, 48);
    assert_non_null(mtl_arena_doubles(&a, 2));
    mtl_arena_clear(&a);
    assert_int_equal(a.top, 0);
    assert_int_equal(a.overflow, 0);
    assert_int_equal(a.peak, 64);
    double *y = mtl_arena_doubles(&a, 8);
    assert_non_null(y);
    for (int i = 0; i < 8; i++)
        y[i] = i;
    for (int i = 64; i < 128; i++)
        assert_int_equal(buf[i], 0xA5);
    /* A method that declares too little: its second slice does not fit. */
    mtl_arena_init(&a, buf, MTL_WS_D(10) + MTL_WS_I(3));
    assert_non_null(mtl_arena_doubles(&a, 10));
    assert_null(mtl_arena_ints(&a, 5));
    assert_int_equal(a.overflow, 1);
}

static mtl_combiner *make(const mtl_options *o, int K, long P)
{
    mtl_combiner *c = NULL;
    mtrl_err e;
    assert_int_equal(mtl_create(&c, K, P, o, &e), 0);
    return c;
}

typedef struct problem {
    int K, k;
    long P;
    float *G, *losses, *rep;
    double *gram;
    int *tasks;
} problem;

static void problem_make(problem *p, rng_state *r, int K, int k, long P)
{
    p->K = K, p->k = k, p->P = P;
    p->G = malloc(sizeof(float) * k * P);
    p->losses = malloc(sizeof(float) * k);
    p->rep = malloc(sizeof(float) * k * k);
    p->gram = malloc(sizeof(double) * k * k);
    p->tasks = malloc(sizeof(int) * k);
    double *Gd = malloc(sizeof(double) * k * P);
    ref_make_G(r, k, P, -0.6, p->G);
    ref_gram(k, P, p->G, Gd, p->gram);
    for (int i = 0; i < k * k; i++)
        p->rep[i] = (float)(p->gram[i] * 0.5);
    for (int i = 0; i < k; i++) {
        p->losses[i] = (float)rng_range(r, 0.5, 2);
        p->tasks[i] = K - 1 - i; /* a map that is not the identity */
    }
    free(Gd);
}

static void problem_free(problem *p)
{
    free(p->G), free(p->losses), free(p->rep), free(p->gram), free(p->tasks);
}

/* One call of every kind the method has on this problem; each must succeed
 * within the declared size. Returns the most scratch any call took. */
static size_t run_calls(mtl_combiner *c, const problem *p, float *d)
{
    mtrl_err e;
    mtl_stats st;
    size_t most = 0;
    const mtl_input kinds[3] = {
        {.k = p->k, .G = p->G, .losses = p->losses},
        {.k = p->k, .G = p->G, .losses = p->losses, .tasks = p->tasks, .gram = p->gram},
        {.k = p->k, .G = p->G, .losses = p->losses, .rep_gram = p->rep},
    };
    for (int i = 0; i < 3; i++) {
        c->arena.peak = 0;
        int rc = mtl_combine_in(c, &kinds[i], d, &st, &e);
        if (rc)
            fail_msg("%s K %d k %d call %d: %s", mtl_method_name(c->o.method), p->K, p->k, i,
                     e.msg);
        assert_int_equal(st.nonfinite, 0);
        most = c->arena.peak > most ? c->arena.peak : most;
        if (mtl_needs(c) & MTL_NEEDS_AFTER_STEP)
            assert_int_equal(mtl_after_step(c, p->losses, &e), 0);
        most = c->arena.peak > most ? c->arena.peak : most;
    }
    return most;
}

/* Caller-formed CAGrad-Fast rows: the |S| drawn rows and the remainder. */
static size_t run_fast_given(mtl_combiner *c, const problem *p, float *d)
{
    mtrl_err e;
    int *order = malloc(sizeof(int) * p->k);
    int ns = mtl_fast_draw(c, p->k, order, &e);
    assert_true(ns >= 0);
    size_t most = 0;
    if (ns > 0) {
        float *R = calloc((size_t)(ns + 1) * p->P, sizeof(float));
        for (int a = 0; a < ns; a++)
            memcpy(R + a * p->P, p->G + order[a] * p->P, sizeof(float) * p->P);
        for (int a = ns; a < p->k; a++)
            for (long j = 0; j < p->P; j++)
                R[ns * p->P + j] += p->G[order[a] * p->P + j] / (float)(p->k - ns);
        c->arena.peak = 0;
        mtl_stats st;
        assert_int_equal(mtl_combine_fast_gram(c, R, NULL, NULL, NULL, d, &st, &e), 0);
        most = c->arena.peak;
        free(R);
    }
    free(order);
    return most;
}

/* The options that reach every route of method m (variant v). */
static int options_for(mtl_method m, int v, mtl_options *o)
{
    mtl_options_default(o, m);
    o->seed = 11;
    if (m == MTL_CAGRAD_FAST) {
        o->fast_gram = v ? MTL_FAST_GRAM_SUBSET : MTL_FAST_GRAM_FULL;
        return 2;
    }
    if (m == MTL_NASH_MTL)
        o->nash_update_every = 2, o->nash_max_norm = 0.5; /* reuse calls and the cap */
    if (m == MTL_RLW && v)
        o->rlw_dist = MTL_RLW_NORMAL;
    if (m == MTL_MGDA && v)
        o->mgda_normalize = 0;
    return m == MTL_RLW || m == MTL_MGDA ? 2 : 1;
}

/* Every method's declared work size holds every call, and the arena cut
 * one byte below what a call took makes that call fail with an error. */
static void test_declared_sizes(void **state)
{
    (void)state;
    const int Ks[4] = {1, 2, 10, 50};
    const long P = 37;
    rng_state r;
    rng_seed(&r, 2024, 7);
    float *d = malloc(sizeof(float) * P);
    for (int ki = 0; ki < 4; ki++) {
        const int K = Ks[ki];
        for (int m = 0; m < MTL_METHOD_COUNT; m++) {
            mtl_options o;
            for (int v = 0, nv = 1; v < nv; v++) {
                nv = options_for((mtl_method)m, v, &o);
                mtl_combiner *c = make(&o, K, P);
                size_t declared = c->arena.cap, most = 0;
                for (int k = K; k >= 1; k = k > 2 ? k / 2 : k - 1) {
                    problem p;
                    problem_make(&p, &r, K, k, P);
                    size_t t = run_calls(c, &p, d);
                    most = t > most ? t : most;
                    if (m == MTL_CAGRAD_FAST) {
                        t = run_fast_given(c, &p, d);
                        most = t > most ? t : most;
                    }
                    problem_free(&p);
                }
                assert_true(most <= declared);
                mtl_destroy(c);
            }
        }
    }
    free(d);
}

/* A combiner whose arena is one byte short of what its call takes: the
 * call returns MTRL_ERUNTIME naming the method and the sizes, flags the
 * result non-finite, and leaves FAMO nothing pending. */
static void test_undersized_combiner(void **state)
{
    (void)state;
    const int K = 10;
    const long P = 53;
    rng_state r;
    rng_seed(&r, 99, 7);
    float *d = malloc(sizeof(float) * P);
    problem p;
    problem_make(&p, &r, K, K, P);
    for (int m = 0; m < MTL_METHOD_COUNT; m++) {
        mtl_options o;
        options_for((mtl_method)m, 1, &o);
        mtl_combiner *c = make(&o, K, P);
        mtl_input in = {.k = K, .G = p.G, .losses = p.losses};
        mtrl_err e;
        mtl_stats st;
        c->arena.peak = 0;
        assert_int_equal(mtl_combine_in(c, &in, d, &st, &e), 0);
        size_t took = c->arena.peak, cap = c->arena.cap;
        if (took > 0 && (mtl_methods[m].work(&o, K) > 0)) {
            c->arena.cap = took - 1;
            if (m == MTL_NASH_MTL) /* the next call would reuse: make it solve */
                c->state[K] = 0;
            assert_int_equal(mtl_combine_in(c, &in, d, &st, &e), MTRL_ERUNTIME);
            assert_non_null(strstr(e.msg, mtl_method_name((mtl_method)m)));
            assert_non_null(strstr(e.msg, "scratch"));
            assert_int_equal(st.nonfinite, 1);
            if (m == MTL_FAMO) /* nothing pending: after_step changes nothing */
                assert_int_equal(c->state[3 * K + 1], 0.0f);
            c->arena.cap = cap;
            assert_int_equal(mtl_combine_in(c, &in, d, &st, &e), 0);
        }
        mtl_destroy(c);
    }
    problem_free(&p);
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_api),
        cmocka_unit_test(test_declared_sizes),
        cmocka_unit_test(test_undersized_combiner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
