/* Disk full during a checkpoint (issue 15 item 2): `mtrl run` into a 3 MB
 * tmpfs with the replay buffer saved runs out of space writing a checkpoint.
 * It used to print HDF5's error and then die with SIGSEGV in HDF5's exit
 * handler. It must exit 1 with one line, leave no temp file, keep the
 * previous checkpoint loadable, and a resume from it (once there is room)
 * must end exactly where an uninterrupted run ends.
 * Needs root to mount the tmpfs: skipped with a message otherwise, and when
 * CI=1 a failed mount as root is a failure, not a skip. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/h5io.h"

static char mnt[512];
static int mounted;

static void write_config(const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "run: {seed: 5, iterations: 1200, threads: 1}\n"
               "env: {benchmark: mt10, max_episode_steps: 40}\n"
               "agent: {actor_hidden: [32, 32], critic_hidden: [32, 32], batch_size: 60,\n"
               "        init_steps: 40, init_updates: 20}\n"
               "replay: {capacity: 10000}\n"
               "mtl: {method: mean}\n"
               "eval: {every: 40, episodes: 1}\n"
               "log: {checkpoint_every: 40, save_replay: true}\n");
    fclose(f);
}

static int64_t ckpt_iteration(const char *path)
{
    h5_file *f;
    mtrl_err e = {0};
    if (h5_open(&f, path, &e))
        fail_msg("%s", e.msg);
    int64_t it = -1;
    if (h5_read_attr_i64(f, NULL, "iteration", &it, &e))
        fail_msg("%s", e.msg);
    h5_close(f);
    return it;
}

static void assert_same_f32(const char *a, const char *b, const char *name)
{
    mtrl_err e = {0};
    h5_file *fa, *fb;
    int ra, rb;
    long da[H5IO_MAX_RANK], db[H5IO_MAX_RANK];
    float *xa, *xb;
    assert_int_equal(h5_open(&fa, a, &e), 0);
    assert_int_equal(h5_open(&fb, b, &e), 0);
    assert_int_equal(h5_read_f32(fa, name, &ra, da, &xa, &e), 0);
    assert_int_equal(h5_read_f32(fb, name, &rb, db, &xb, &e), 0);
    assert_int_equal(ra, rb);
    long n = 1;
    for (int i = 0; i < ra; i++) {
        assert_int_equal(da[i], db[i]);
        n *= da[i];
    }
    if (memcmp(xa, xb, sizeof(float) * (size_t)n))
        fail_msg("%s differs between %s and %s", name, a, b);
    free(xa), free(xb);
    h5_close(fa), h5_close(fb);
}

static int count_tmp_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += strstr(de->d_name, ".tmp-") != NULL;
    closedir(d);
    return n;
}

static void test_disk_full_checkpoint(void **st)
{
    (void)st;
    const char *ci = getenv("CI");
    int in_ci = ci && !strcmp(ci, "1");
    if (geteuid() != 0) {
        print_message("SKIPPED: the disk-full test mounts a tmpfs and needs root\n");
        skip();
    }
    snprintf(mnt, sizeof mnt, "%s/small", test_tmpdir());
    assert_int_equal(mkdir(mnt, 0755), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=3m") != 0) {
        if (in_ci)
            fail_msg("CI=1 and root, but mounting a tmpfs on %s failed: %s", mnt,
                     strerror(errno));
        print_message("SKIPPED: cannot mount a tmpfs on %s: %s\n", mnt, strerror(errno));
        skip();
    }
    mounted = 1;
    const char *bin = test_mtrl_bin(), *tmp = test_tmpdir();
    char cfg[600], run[600], log[600];
    snprintf(cfg, sizeof cfg, "%s/full.yaml", tmp);
    snprintf(run, sizeof run, "%s/run", mnt);
    snprintf(log, sizeof log, "%s/full.log", tmp);
    write_config(cfg);

    int rc = test_sh("%s run %s --quiet --out %s 2>%s", bin, cfg, run, log);
    char *msg = test_slurp(log);
    assert_non_null(msg);
    if (rc != 1)
        fail_msg("exit %d (want 1); stderr: %s", rc, msg);
    /* One line: the "training ..." header, then exactly one error line. */
    int lines = 0;
    for (char *c = msg; *c; c++)
        lines += *c == '\n';
    if (lines != 2 || !strstr(msg, "No space left on device") || strstr(msg, "HDF5-DIAG") ||
        !strstr(msg, "the previous one is kept"))
        fail_msg("want the header and one clear line; got: %s", msg);
    free(msg);
    assert_int_equal(count_tmp_files(run), 0);

    /* The previous checkpoint is intact and loadable. */
    char ckpt[700];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.h5", run);
    int64_t it = ckpt_iteration(ckpt);
    assert_true(it > 0 && it < 1200 && it % 40 == 0);
    assert_int_equal(test_sh("%s eval %s >/dev/null 2>&1", bin, run), 0);

    /* With room again, resuming 80 iterations past it ends where an
     * uninterrupted run ends. */
    assert_int_equal(mount("tmpfs", mnt, "tmpfs", MS_REMOUNT, "size=64m"), 0);
    long long stop = (long long)it + 80;
    assert_int_equal(test_sh("%s run --resume %s --quiet --set run.iterations=%lld 2>/dev/null",
                             bin, run, stop),
                     0);
    char ref[600], ref_ckpt[700];
    snprintf(ref, sizeof ref, "%s/ref", tmp);
    assert_int_equal(test_sh("%s run %s --quiet --out %s --set run.iterations=%lld 2>/dev/null",
                             bin, cfg, ref, stop),
                     0);
    snprintf(ref_ckpt, sizeof ref_ckpt, "%s/checkpoint.h5", ref);
    assert_int_equal(ckpt_iteration(ckpt), stop);
    const char *names[] = {"agent/actor/w", "agent/critic/w", "agent/critic_target/w",
                           "agent/actor/adam_v", "replay/task_003/obs"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        assert_same_f32(ckpt, ref_ckpt, names[i]);
}

static int teardown(void **st)
{
    (void)st;
    if (mounted)
        umount2(mnt, MNT_DETACH);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disk_full_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
