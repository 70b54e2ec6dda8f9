/* mtrl combine: the command's d and w equal the library's for the same
 * method and seed, and bad input gives exit code 2 with nothing written. */
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

static void write_G(const char *path, const char *name, int K, long P, const float *G)
{
    h5_file *f;
    mtrl_err e;
    long dims[2] = {K, P};
    assert_int_equal(h5_create(&f, path, &e), 0);
    assert_int_equal(h5_write_f32(f, name, 2, dims, G, &e), 0);
    assert_int_equal(h5_commit(f, &e), 0);
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
    write_G(in, "G", K, P, G);
    const char *methods[] = {"mean", "pcgrad", "cagrad", "cagrad_fast", "mgda"};
    for (int t = 0; t < 5; t++) {
        snprintf(args, sizeof args, "--method %s --c 0.9 --seed 5 --subset 3 --input %s "
                                    "--output %s",
                 methods[t], in, out);
        assert_int_equal(run_cmd(args), 0);
        mtl_options o;
        mtl_method m;
        mtrl_err e;
        assert_int_equal(mtl_method_parse(methods[t], &m, &e), 0);
        mtl_options_default(&o, m);
        o.c = 0.9, o.seed = 5, o.fast_subset = 3;
        mtl_combiner *c;
        mtl_stats st;
        assert_int_equal(mtl_create(&c, K, P, &o, &e), 0);
        assert_int_equal(mtl_combine(c, G, NULL, d, &st, &e), 0);
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
    assert_int_equal(run_cmd("--help"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_matches_library),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
