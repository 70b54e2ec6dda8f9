#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_set(mtrl_err *e, int code, const char *fmt, ...)
{
    if (!e)
        return code;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

int err_prefix(mtrl_err *e, const char *fmt, ...)
{
    if (!e)
        return MTRL_ERUNTIME;
    char head[MTRL_ERR_MSG_LEN];
    char old[MTRL_ERR_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    snprintf(e->msg, sizeof e->msg, "%.500s: %.500s", head, old);
    return e->code;
}

int err_exit_code(int code)
{
    if (code == MTRL_OK)
        return 0;
    if (code == MTRL_ELOCKED)
        return 4;
    return code == MTRL_EINPUT ? 2 : 1;
}
