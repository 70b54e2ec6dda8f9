/* The run-directory contract of core: the lock (fs_lock_dir and friends:
 * exclusive, naming its holder, not inherited across exec, released by the
 * kernel when the holder dies, even by kill -9), the removal of stale temp
 * files, status.json and JSON strings. */
#include "testutil.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/json.h"
#include "core/runstatus.h"


static void test_lock_is_exclusive_and_names_holder(void **st)
{
    (void)st;
    mtrl_err e = {0};
    const char *d = test_path("run1");
    assert_int_equal(fs_mkdirs(d, &e), 0);
    assert_int_equal(fs_dir_locked(d, NULL, NULL, 0), 0); /* no lock file yet */
    int fd;
    assert_int_equal(fs_lock_dir(d, &fd, &e), 0);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    long pid;
    char host[256], self[256] = "";
    gethostname(self, sizeof self - 1);
    assert_int_equal(fs_dir_locked(d, &pid, host, sizeof host), 1);
    assert_int_equal(pid, (long)getpid());
    assert_string_equal(host, self);
    /* A second lock, even from this process, is refused with the holder. */
    int fd2;
    assert_int_equal(fs_lock_dir(d, &fd2, &e), MTRL_ELOCKED);
    assert_int_equal(fd2, -1);
    char want[64];
    snprintf(want, sizeof want, "pid %ld", (long)getpid());
    assert_non_null(strstr(e.msg, want));
    assert_non_null(strstr(e.msg, self));
    fs_unlock_dir(fd);
    assert_int_equal(fs_dir_locked(d, NULL, NULL, 0), 0);
    assert_int_equal(fs_lock_dir(d, &fd, &e), 0);
    fs_unlock_dir(fd);
    /* A path that is not a directory is bad input. */
    assert_int_equal(fs_lock_dir(test_path("no/such/dir"), &fd, &e), MTRL_EINPUT);
}

/* A holder killed with SIGKILL leaves no stale lock. */
static void test_lock_released_by_kill_9(void **st)
{
    (void)st;
    mtrl_err e = {0};
    const char *d = test_path("run2");
    assert_int_equal(fs_mkdirs(d, &e), 0);
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t child = fork();
    if (child == 0) {
        int fd;
        char c = fs_lock_dir(d, &fd, NULL) == 0 ? 'y' : 'n';
        if (write(pipefd[1], &c, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    char c = 0;
    assert_int_equal(read(pipefd[0], &c, 1), 1);
    assert_int_equal(c, 'y');
    long pid;
    assert_int_equal(fs_dir_locked(d, &pid, NULL, 0), 1);
    assert_int_equal(pid, (long)child);
    int fd;
    assert_int_equal(fs_lock_dir(d, &fd, &e), MTRL_ELOCKED);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    assert_int_equal(fs_dir_locked(d, NULL, NULL, 0), 0);
    assert_int_equal(fs_lock_dir(d, &fd, &e), 0);
    fs_unlock_dir(fd);
    close(pipefd[0]);
    close(pipefd[1]);
}

/* An exec'd program does not inherit the lock: after exec of a program that
 * outlives the locker's unlock, the directory is free. */
static void test_lock_not_inherited_by_exec(void **st)
{
    (void)st;
    mtrl_err e = {0};
    const char *d = test_path("run3");
    assert_int_equal(fs_mkdirs(d, &e), 0);
    int fd;
    assert_int_equal(fs_lock_dir(d, &fd, &e), 0);
    pid_t child = fork();
    if (child == 0) {
        execl("/bin/sleep", "sleep", "5", (char *)NULL);
        _exit(127);
    }
    usleep(200000); /* the exec has happened */
    fs_unlock_dir(fd);
    assert_int_equal(fs_dir_locked(d, NULL, NULL, 0), 0);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
}

static void touch(const char *p)
{
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
}

static void test_remove_stale_temps(void **st)
{
    (void)st;
    mtrl_err e = {0};
    const char *d = test_path("run4");
    assert_int_equal(fs_mkdirs(d, &e), 0);
    touch(test_path("run4/checkpoint.h5.tmp-12345"));
    touch(test_path("run4/status.json.tmp-7"));
    touch(test_path("run4/checkpoint.h5"));
    touch(test_path("run4/checkpoint.h5.tmp-12x")); /* not ours: kept */
    touch(test_path("run4/notes.txt.tmp-1"));       /* not a run file: kept */
    const char *names[] = {"checkpoint.h5", "status.json", NULL};
    int n;
    assert_int_equal(fs_remove_stale_temps(d, names, &n, &e), 0);
    assert_int_equal(n, 2);
    struct stat sb;
    assert_int_not_equal(stat(test_path("run4/checkpoint.h5.tmp-12345"), &sb), 0);
    assert_int_not_equal(stat(test_path("run4/status.json.tmp-7"), &sb), 0);
    assert_int_equal(stat(test_path("run4/checkpoint.h5"), &sb), 0);
    assert_int_equal(stat(test_path("run4/checkpoint.h5.tmp-12x"), &sb), 0);
    assert_int_equal(stat(test_path("run4/notes.txt.tmp-1"), &sb), 0);
}

static char *json_of(const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    json_put_str(f, s);
    fclose(f);
    return buf;
}

static void test_json_strings(void **st)
{
    (void)st;
    char *j = json_of("a\"b\\c/d\n\x01\xc3\xa9\xff");
    assert_string_equal(j, "\"a\\\"b\\\\c/d\\n\\u0001\xc3\xa9\\ufffd\"");
    free(j);
    j = json_of(NULL);
    assert_string_equal(j, "null");
    free(j);
    j = json_of("\xed\xa0\x80"); /* a UTF-16 surrogate is not UTF-8 */
    assert_string_equal(j, "\"\\ufffd\\ufffd\\ufffd\"");
    free(j);
}

static void test_status_json(void **st)
{
    (void)st;
    mtrl_err e = {0};
    const char *d = test_path("run5");
    assert_int_equal(fs_mkdirs(d, &e), 0);
    run_status s = {.state = "failed", .iteration = 400, .iterations = 1000,
                    .best_success = 0.25, .error = "bad \"thing\""};
    assert_int_equal(rstat_write(d, &s, &e), 0);
    char *t = test_slurp(test_path("run5/status.json"));
    assert_non_null(t);
    assert_non_null(strstr(t, "{\"state\": \"failed\", \"iteration\": 400, \"iterations\": 1000, "
                              "\"best_success\": 0.25, \"pid\": "));
    assert_non_null(strstr(t, "\"error\": \"bad \\\"thing\\\"\"}\n"));
    assert_non_null(strstr(t, "\"updated\": \"20"));
    assert_non_null(strstr(t, "Z\""));
    free(t);
    s.state = "running", s.best_success = -1, s.error = NULL;
    assert_int_equal(rstat_write(d, &s, &e), 0);
    t = test_slurp(test_path("run5/status.json"));
    assert_non_null(strstr(t, "\"best_success\": null"));
    assert_non_null(strstr(t, "\"error\": null}"));
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_is_exclusive_and_names_holder),
        cmocka_unit_test(test_lock_released_by_kill_9),
        cmocka_unit_test(test_lock_not_inherited_by_exec),
        cmocka_unit_test(test_remove_stale_temps),
        cmocka_unit_test(test_json_strings),
        cmocka_unit_test(test_status_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
