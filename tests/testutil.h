/* Shared by the tests: cmocka, a temporary directory per test binary, and the
 * path of the built mtrl binary (MTRL_BIN, set by `make test`). */
#ifndef MTRL_TESTUTIL_H
#define MTRL_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* A fresh directory under /tmp, created once per test binary. */
static inline const char *test_tmpdir(void)
{
    static char dir[256];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/mtrl-test-XXXXXX");
        if (!mkdtemp(dir))
            abort();
    }
    return dir;
}

/* Path of build/mtrl, for tests that run the command. */
static inline const char *test_mtrl_bin(void)
{
    const char *b = getenv("MTRL_BIN");
    return b ? b : "build/mtrl";
}

/* Runs a printf-formatted shell command; its exit status, or -1. */
static inline int test_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline int test_rm_entry_(const char *p, const struct stat *sb, int flag,
                                 struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

/* Group teardown: removes test_tmpdir() and all below it. */
static inline int test_rm_tmpdir(void **st)
{
    (void)st;
    nftw(test_tmpdir(), test_rm_entry_, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* test_tmpdir()/rel in one of 8 rotating static buffers, so a call can
 * hold a few paths at once. */
static inline char *test_path(const char *rel)
{
    static char buf[8][512];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/%s", test_tmpdir(), rel);
    return buf[i];
}

/* A whole file as a NUL-terminated string (caller frees), or NULL. */
static inline char *test_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = '\0';
    fclose(f);
    return s;
}

#endif
