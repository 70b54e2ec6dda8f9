/* mtrl combine: the command's d and w equal the library's for the same
 * method and seed (every method; FAMO with the file's losses, Aligned-MTL-UB
 * with its representation Gram), and bad input gives exit code 2 with
 * nothing written. */
#include "testutil.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include "core/h5io.h"
#include "mtl/mtl.h"
#include "mtl_ref.h"

static int run_cmd(const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s combine %s >/dev/null 2>&1", test_mtrl_bin(), args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* G under name, and when given the K losses and the K x K rep_gram. */
static void write_G_extra(const char *path, const char *name, int K, long P, const float *G,
                          const float *losses, const float *rep)
{
    h5_file *f;
    mtrl_err e;
    long dims[2] = {K, P}, kk[2] = {K, K}, k1 = K;
    assert_int_equal(h5_create(&f, path, &e), 0);
    assert_int_equal(h5_write_f32(f, name, 2, dims, G, &e), 0);
    if (losses)
        assert_int_equal(h5_write_f32(f, "losses", 1, &k1, losses, &e), 0);
    if (rep)
        assert_int_equal(h5_write_f32(f, "rep_gram", 2, kk, rep, &e), 0);
    assert_int_equal(h5_commit(f, &e), 0);
}

static void write_G(const char *path, const char *name, int K, long P, const float *G)
{
    write_G_extra(path, name, K, P, G, NULL, NULL);
}

static int exists(const char *p)
{
    struct stat s;
    return stat(p, &s) == 0;
}

static void test_command_matches_library(void **st_)
{
    (void)st_;
    enum { K = 10 };
    const long P = 5000;
    rng_state r;
    rng_seed(&r, 11, 1);
    float *G = malloc(sizeof(float) * K * P), *d = malloc(sizeof(float) * P);
    ref_make_G(&r, K, P, -0.5, G);
    char in[512], out[512], args[2048];
    snprintf(in, sizeof in, "%s/G.h5", test_tmpdir());
    snprintf(out, sizeof out, "%s/d.h5", test_tmpdir());
    float losses[K], rep[K * K] = {0};
    for (int k = 0; k < K; k++) {
        losses[k] = (float)rng_range(&r, 0.1, 3);
        rep[k * K + k] = (float)rng_range(&r, 0.5, 2);
    }
    write_G_extra(in, "G", K, P, G, losses, rep);
    const char *methods[] = {"mean",     "sum",         "pcgrad",         "cagrad",
                             "cagrad_fast", "mgda",     "aligned_mtl",    "aligned_mtl_ub",
                             "imtl_g",   "graddrop",    "rlw",            "nash_mtl",
                             "famo",     "upgrad",      "dualproj",       "config"};
    for (int t = 0; t < (int)(sizeof methods / sizeof *methods); t++) {
        snprintf(args, sizeof args, "--method %s --c 0.9 --seed 5 --subset 3 --input %s "
                                    "--output %s",
                 methods[t], in, out);
        assert_int_equal(run_cmd(args), 0);
        mtl_options o;
        mtl_method m = (mtl_method)t;
        mtrl_err e;
        assert_string_equal(mtl_method_name(m), methods[t]);
        mtl_options_default(&o, m);
        o.c = 0.9, o.seed = 5, o.fast_subset = 3;
        mtl_combiner *c;
        mtl_stats st;
        assert_int_equal(mtl_create(&c, K, P, &o, &e), 0);
        mtl_input min = {.k = K, .G = G, .losses = m == MTL_FAMO ? losses : NULL,
                         .rep_gram = m == MTL_ALIGNED_MTL_UB ? rep : NULL};
        assert_int_equal(mtl_combine_in(c, &min, d, &st, &e), 0);
        if (m == MTL_ALIGNED_MTL_UB) /* the file's diagonal representation Gram was used */
            for (int k = 0; k < K; k++)
                assert_true(st.w[k] > 0 && st.w[k] <= 1.0f + 1e-6f);
        h5_file *f;
        int rank;
        long dims[H5IO_MAX_RANK];
        float *dc, *wc;
        char meth[32];
        assert_int_equal(h5_open(&f, out, &e), 0);
        assert_int_equal(h5_read_f32(f, "d", &rank, dims, &dc, &e), 0);
        assert_int_equal(rank, 1);
        assert_int_equal(dims[0], P);
        assert_int_equal(h5_read_f32(f, "w", &rank, dims, &wc, &e), 0);
        assert_int_equal(dims[0], K);
        assert_int_equal(h5_read_attr_str(f, NULL, "method", meth, sizeof meth, &e), 0);
        assert_string_equal(meth, methods[t]);
        h5_close(f);
        /* Same code, same seed: identical results (same thread count). */
        assert_memory_equal(dc, d, sizeof(float) * P);
        assert_memory_equal(wc, st.w, sizeof(float) * K);
        free(dc), free(wc);
        mtl_destroy(c);
    }
    free(G), free(d);
}

static void test_bad_input(void **st_)
{
    (void)st_;
    float G[2 * 3] = {1, 2, 3, 4, NAN, 6};
    char in[512], out[512], args[2048];
    snprintf(in, sizeof in, "%s/bad.h5", test_tmpdir());
    snprintf(out, sizeof out, "%s/bad_out.h5", test_tmpdir());
    write_G(in, "G", 2, 3, G);
    snprintf(args, sizeof args, "--method cagrad --input %s --output %s", in, out);
    assert_int_equal(run_cmd(args), 2); /* NaN in G */
    assert_false(exists(out));
    snprintf(args, sizeof args, "--method nope --input %s --output %s", in, out);
    assert_int_equal(run_cmd(args), 2);
    snprintf(args, sizeof args, "--method mean --c -1 --input %s --output %s", in, out);
    assert_int_equal(run_cmd(args), 2);
    snprintf(args, sizeof args, "--method mean --input %s", in);
    assert_int_equal(run_cmd(args), 2);
    snprintf(args, sizeof args, "--method mean --dataset H --input %s --output %s", in, out);
    assert_int_not_equal(run_cmd(args), 0);
    assert_false(exists(out));
    /* FAMO without losses in the file; bad settings of the new methods. */
    float G2[2 * 3] = {1, 2, 3, 4, 5, 6};
    write_G(in, "G", 2, 3, G2);
    snprintf(args, sizeof args, "--method famo --input %s --output %s", in, out);
    assert_int_equal(run_cmd(args), 2);
    assert_false(exists(out));
    snprintf(args, sizeof args, "--method rlw --set mtl.rlw_dist=gauss --input %s --output %s",
             in, out);
    assert_int_equal(run_cmd(args), 2);
    snprintf(args, sizeof args, "--method nash_mtl --set mtl.nash_iters=0 --input %s", in);
    assert_int_equal(run_cmd(args), 2);
    snprintf(args, sizeof args, "--set mtl.method=famo --set=mtl.famo_lr=-1 --random 3,10");
    assert_int_equal(run_cmd(args), 2);
    snprintf(args, sizeof args, "--method famo --random 3,10 --repeat 2");
    assert_int_equal(run_cmd(args), 0);
    assert_false(exists(out));
    assert_int_equal(run_cmd("--help"), 0);
}

/* Issue 15: the messages name the real shape and the real dataset. */
static char *run_msg(const char *args, int *code)
{
    char cmd[4096], log[512];
    snprintf(log, sizeof log, "%s/combine.log", test_tmpdir());
    snprintf(cmd, sizeof cmd, "%s combine %s >/dev/null 2>%s", test_mtrl_bin(), args, log);
    int st = system(cmd);
    *code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    char *m = test_slurp(log);
    assert_non_null(m);
    return m;
}

static void test_messages_name_shape_and_dataset(void **st_)
{
    (void)st_;
    char in[512], args[2048];
    snprintf(in, sizeof in, "%s/msg.h5", test_tmpdir());
    float G[2 * 3] = {1, 2, 3, 4, 5, 6};
    int code;
    /* K = 0 and P = 0: the shape, not just the rank. */
    write_G(in, "G", 0, 3, G);
    snprintf(args, sizeof args, "--method mean --input %s", in);
    char *m = run_msg(args, &code);
    assert_int_equal(code, 2);
    assert_non_null(strstr(m, "got shape (0, 3)"));
    free(m);
    write_G(in, "G", 2, 0, G);
    m = run_msg(args, &code);
    assert_int_equal(code, 2);
    assert_non_null(strstr(m, "got shape (2, 0)"));
    free(m);
    /* NaN in rep_gram is reported in rep_gram, not in G. */
    float rep[4] = {1, 0, NAN, 1};
    write_G_extra(in, "G", 2, 3, G, NULL, rep);
    snprintf(args, sizeof args, "--method aligned_mtl_ub --input %s", in);
    m = run_msg(args, &code);
    assert_int_equal(code, 2);
    assert_non_null(strstr(m, "'rep_gram'"));
    assert_non_null(strstr(m, "[1, 0]"));
    assert_null(strstr(m, "'G'"));
    free(m);
    float losses[2] = {1, INFINITY};
    write_G_extra(in, "G", 2, 3, G, losses, NULL);
    snprintf(args, sizeof args, "--method famo --input %s", in);
    m = run_msg(args, &code);
    assert_int_equal(code, 2);
    assert_non_null(strstr(m, "'losses'"));
    free(m);
}

/* d of `mtrl combine ARGS --input in --output out` equals the library's for
 * options o on the same G (and losses); returns it (free it). */
static float *check_same_d(const char *args, const char *in, const char *out, int K, long P,
                         const float *G, const float *losses, const mtl_options *o)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s --input %s --output %s", args, in, out);
    assert_int_equal(run_cmd(cmd), 0);
    mtrl_err e;
    mtl_combiner *c;
    mtl_stats st;
    float *d = malloc(sizeof(float) * (size_t)P), *dc;
    assert_int_equal(mtl_create(&c, K, P, o, &e), 0);
    mtl_input min = {.k = K, .G = G, .losses = losses};
    assert_int_equal(mtl_combine_in(c, &min, d, &st, &e), 0);
    h5_file *f;
    int rank;
    long dims[H5IO_MAX_RANK];
    assert_int_equal(h5_open(&f, out, &e), 0);
    assert_int_equal(h5_read_f32(f, "d", &rank, dims, &dc, &e), 0);
    h5_close(f);
    assert_memory_equal(dc, d, sizeof(float) * (size_t)P);
    free(d);
    mtl_destroy(c);
    return dc;
}

/* The settings are the config's keys (--set, --config), with its words. */
static void test_config_keys(void **st_)
{
    (void)st_;
    enum { K = 6 };
    const long P = 300;
    rng_state r;
    rng_seed(&r, 3, 1);
    float G[K * 300], losses[K];
    ref_make_G(&r, K, P, -0.5, G);
    for (int k = 0; k < K; k++)
        losses[k] = (float)rng_range(&r, 0.5, 2);
    char in[512], out[512], cfgp[512], args[1024];
    snprintf(in, sizeof in, "%s/keys.h5", test_tmpdir());
    snprintf(out, sizeof out, "%s/keys_d.h5", test_tmpdir());
    snprintf(cfgp, sizeof cfgp, "%s/keys.yaml", test_tmpdir());
    write_G_extra(in, "G", K, P, G, losses, NULL);
    mtl_options o;
    /* FAMO's mtrl scale, settable only here before it was a config key. */
    mtl_options_default(&o, MTL_FAMO);
    o.c = 0.9, o.seed = 1, o.famo_scale = MTL_FAMO_MTRL;
    float *dm = check_same_d("--method famo --set mtl.famo_scale=mtrl", in, out, K, P, G,
                             losses, &o);
    o.famo_scale = MTL_FAMO_PAPER; /* the default, and a different d */
    float *dp = check_same_d("--method famo", in, out, K, P, G, losses, &o);
    assert_memory_not_equal(dp, dm, sizeof(float) * (size_t)P);
    free(dm), free(dp);
    /* CAGrad-Fast through -s / --set= and the short aliases. */
    mtl_options_default(&o, MTL_CAGRAD_FAST);
    o.c = 0.4, o.seed = 5, o.fast_subset = 2, o.fast_gram = MTL_FAST_GRAM_SUBSET;
    o.rescale = MTL_RESCALE_NONE;
    free(check_same_d("-s mtl.method=cagrad_fast --set=mtl.cagrad_fast_gram=subset "
                      "--subset 2 --c 0.4 --seed 5 --set mtl.cagrad_rescale=none",
                      in, out, K, P, G, NULL, &o));
    /* A run config's values, then --set over them. */
    FILE *f = fopen(cfgp, "w");
    assert_non_null(f);
    fprintf(f, "run:\n  seed: 9\nmtl:\n  method: mgda\n  mgda_normalize: none\n");
    fclose(f);
    mtl_options_default(&o, MTL_MGDA);
    o.c = 0.9, o.seed = 9, o.mgda_normalize = 0;
    snprintf(args, sizeof args, "--config %s", cfgp);
    free(check_same_d(args, in, out, K, P, G, NULL, &o));
    mtl_options_default(&o, MTL_PCGRAD);
    o.c = 0.9, o.seed = 9;
    snprintf(args, sizeof args, "--config %s --method pcgrad", cfgp);
    free(check_same_d(args, in, out, K, P, G, NULL, &o));
}

/* A bad key or value: exit 2, the message names the key (and the words). */
static void test_bad_keys_named(void **st_)
{
    (void)st_;
    static const struct {
        const char *args, *want1, *want2;
    } cases[] = {
        {"--set mtl.famo_scale=big", "mtl.famo_scale", "one of paper, mtrl"},
        {"--set mtl.famo_scal=mtrl", "mtl.famo_scal", "did you mean mtl.famo_scale"},
        {"--method cagrad-fast", "mtl.method", "cagrad_fast"},
        {"--c -1", "mtl.cagrad_c", "non-negative"},
        {"--set mtl.cagrad_rescale=default", "mtl.cagrad_rescale", "reference"},
        {"--set agent.batch_size=8", "agent.batch_size", "mtl.* keys and run.seed"},
        {"--famo-scale mtrl", "--famo-scale", "--set mtl."},
    };
    char args[512];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(args, sizeof args, "%s --random 3,10", cases[i].args);
        int code;
        char *m = run_msg(args, &code);
        if (code != 2 || !strstr(m, cases[i].want1) || !strstr(m, cases[i].want2))
            fail_msg("%s: exit %d, message: %s", cases[i].args, code, m);
        free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_matches_library),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_messages_name_shape_and_dataset),
        cmocka_unit_test(test_config_keys),
        cmocka_unit_test(test_bad_keys_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
