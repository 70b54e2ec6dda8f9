/* err: the error convention of every library module.
 * Library code never prints or exits; it returns 0 or a negative code and
 * fills an mtrl_err with a message that names the file, line, key or value.
 * Only src/cli turns these into stderr lines and exit codes. */
#ifndef MTRL_CORE_ERR_H
#define MTRL_CORE_ERR_H

enum {
    MTRL_OK = 0,
    MTRL_ERUNTIME = -1, /* something failed while running (exit 1) */
    MTRL_EINPUT = -2,   /* bad input: config, argument, file content (exit 2) */
    MTRL_EIO = -3,      /* a file could not be read or written (exit 1) */
    MTRL_ENOMEM = -4,   /* allocation failed (exit 1) */
    MTRL_ELOCKED = -5,  /* a run directory is locked by another live process (exit 4) */
};

#define MTRL_ERR_MSG_LEN 1024

typedef struct mtrl_err {
    int code;
    char msg[MTRL_ERR_MSG_LEN];
} mtrl_err;

/* Records code and a printf-style message in *e (e may be NULL); returns code
 * so callers can write `return err_set(e, MTRL_EINPUT, "...")`. */
int err_set(mtrl_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with more context ("while loading X: ..."). */
int err_prefix(mtrl_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Process exit code for an error code: 0 ok, 2 bad input, 4 locked, 1
 * otherwise. */
int err_exit_code(int code);

#endif
