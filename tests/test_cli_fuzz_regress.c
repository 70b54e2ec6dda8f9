/* Replays every input under tests/fuzz/regress/<target>/ (crashes the fuzzers
 * found, kept fixed) and tests/fuzz/corpus/<target>/ (the seeds) through the
 * fuzz targets' own entry points, so `make test` keeps them fixed without
 * clang. A crash, a sanitizer report (make asan) or an abort() in a target's
 * own checks fails the test binary. */
#include "testutil.h"

#include <dirent.h>
#include <sys/stat.h>

#define FUZZ_NO_MAIN
#include "fuzz/fuzz_checkpoint.c"
#include "fuzz/fuzz_combine.c"
#include "fuzz/fuzz_config.c"

typedef int (*fuzz_fn)(const uint8_t *, size_t);

static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)len + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* Runs fn on every regular file in dir; returns how many. */
static int replay_dir(const char *dir, fuzz_fn fn)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat sb;
        if (de->d_name[0] == '.' || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        size_t len;
        uint8_t *b = read_file(path, &len);
        fn(b, len);
        free(b);
        n++;
    }
    closedir(d);
    return n;
}

static void replay(const char *target, fuzz_fn fn, int min_seeds)
{
    char dir[256];
    snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", target);
    int seeds = replay_dir(dir, fn);
    snprintf(dir, sizeof dir, "tests/fuzz/regress/%s", target);
    int regress = replay_dir(dir, fn);
    print_message("%s: %d seeds, %d regression inputs\n", target, seeds, regress);
    assert_true(seeds >= min_seeds);
}

static void test_config(void **st)
{
    (void)st;
    replay("config", fuzz_config_one, 3);
}

static void test_checkpoint(void **st)
{
    (void)st;
    replay("checkpoint", fuzz_checkpoint_one, 1);
}

static void test_combine(void **st)
{
    (void)st;
    replay("combine", fuzz_combine_one, 2);
}

/* The seeds are real inputs: each loads (so the targets reach past the
 * first check and the fuzzers start from valid files). */
static void test_seeds_are_valid(void **st)
{
    (void)st;
    mtrl_config *cfg = malloc(sizeof *cfg);
    sac_agent *agent = NULL;
    mtrl_err e = {0};
    if (train_load_agent("tests/fuzz/corpus/checkpoint/tiny_cagrad.h5", cfg, &agent, &e))
        fail_msg("%s", e.msg);
    sac_destroy(agent);
    combine_input in;
    if (combine_input_read("tests/fuzz/corpus/combine/G_4x6_extras.h5", "G", 1, 1, &in, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(in.K, 4);
    assert_non_null(in.rep_gram);
    combine_input_free(&in);
    if (cfg_load(cfg, "tests/fuzz/corpus/config/tiny_mt1.yaml", NULL, 0, &e))
        fail_msg("%s", e.msg);
    free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeds_are_valid),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_checkpoint),
        cmocka_unit_test(test_combine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
