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

#endif
