#include "runstatus.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "json.h"

int rstat_write(const char *run_dir, const run_status *s, mtrl_err *e)
{
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        snprintf(host, sizeof host, "unknown");
    char stamp[32] = "";
    time_t t = time(NULL);
    struct tm tmv;
    if (gmtime_r(&t, &tmv))
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return err_set(e, MTRL_ENOMEM, "out of memory for status.json");
    fputs("{\"state\": ", f);
    json_put_str(f, s->state);
    fprintf(f, ", \"iteration\": %" PRId64 ", \"iterations\": %" PRId64 ", \"best_success\": ",
            s->iteration, s->iterations);
    if (isfinite(s->best_success) && s->best_success >= 0)
        fprintf(f, "%.6g", s->best_success);
    else
        fputs("null", f);
    fprintf(f, ", \"pid\": %ld, \"host\": ", (long)getpid());
    json_put_str(f, host);
    fputs(", \"updated\": ", f);
    json_put_str(f, stamp);
    fputs(", \"error\": ", f);
    json_put_str(f, s->error);
    fputs("}\n", f);
    if (fclose(f) != 0 || !text) {
        free(text);
        return err_set(e, MTRL_ENOMEM, "out of memory for status.json");
    }
    size_t n = strlen(run_dir) + sizeof "/status.json";
    char *path = malloc(n);
    int rc;
    if (!path)
        rc = err_set(e, MTRL_ENOMEM, "out of memory");
    else {
        snprintf(path, n, "%s/status.json", run_dir);
        rc = fs_write_atomic(path, text, len, e);
    }
    free(path);
    free(text);
    return rc;
}
