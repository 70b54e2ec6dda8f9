#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int fs_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int fs_mkdirs(const char *path, mtrl_err *e)
{
    if (!path || !path[0])
        return err_set(e, MTRL_EINPUT, "empty directory path");
    size_t n = strlen(path);
    char *buf = malloc(n + 1);
    if (!buf)
        return err_set(e, MTRL_ENOMEM, "%s: out of memory", path);
    memcpy(buf, path, n + 1);
    int rc = 0;
    /* Walk each prefix ending before a '/', then the full path. */
    for (size_t i = 1; i <= n && !rc; i++) {
        if (i < n && buf[i] != '/')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            rc = err_set(e, MTRL_EIO, "%s: cannot create directory %s: %s", path, buf,
                         strerror(errno));
        else if (!fs_is_dir(buf))
            rc = err_set(e, MTRL_EIO, "%s: %s exists and is not a directory", path, buf);
        buf[i] = c;
    }
    free(buf);
    return rc;
}

int fs_dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT;
    int empty = 1;
    struct dirent *de;
    while (empty && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            empty = 0;
    closedir(d);
    return empty;
}

int fs_make_run_dir(char *out, size_t cap, const char *root, const char *name,
                    mtrl_err *e)
{
    if (!root || !root[0])
        root = "runs";
    if (!name || !name[0])
        name = "run";
    for (const char *p = name; *p; p++)
        if (*p == '/')
            return err_set(e, MTRL_EINPUT, "run name '%s' must not contain '/'", name);
    int rc = fs_mkdirs(root, e);
    if (rc)
        return rc;
    time_t t = time(NULL);
    struct tm tmv;
    char stamp[32];
    if (!localtime_r(&t, &tmv) || !strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tmv))
        return err_set(e, MTRL_ERUNTIME, "cannot format the current time");
    /* mkdir is atomic: whoever creates the directory owns it, so two runs
     * started in the same second get different directories. */
    for (int k = 1; k < 1000; k++) {
        int n = k == 1 ? snprintf(out, cap, "%s/%s-%s", root, name, stamp)
                       : snprintf(out, cap, "%s/%s-%s-%d", root, name, stamp, k);
        if (n < 0 || (size_t)n >= cap)
            return err_set(e, MTRL_EINPUT, "run directory path too long: %s/%s-%s", root,
                           name, stamp);
        if (mkdir(out, 0777) == 0)
            return 0;
        if (errno != EEXIST)
            return err_set(e, MTRL_EIO, "cannot create run directory %s: %s", out,
                           strerror(errno));
    }
    return err_set(e, MTRL_EIO, "cannot find a free run directory name under %s", root);
}

int fs_prepare_run_dir(const char *dir, int resume, mtrl_err *e)
{
    if (!dir || !dir[0])
        return err_set(e, MTRL_EINPUT, "empty run directory path");
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return err_set(e, MTRL_EINPUT, "%s: exists and is not a directory", dir);
        if (!resume && !fs_dir_is_empty(dir))
            return err_set(e, MTRL_EINPUT,
                           "%s: run directory exists and is not empty (resume it, or choose "
                           "another directory)",
                           dir);
        return 0;
    }
    return fs_mkdirs(dir, e);
}

int fs_fsync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash) {
        dir = malloc(2);
        if (dir)
            memcpy(dir, ".", 2);
    } else {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        dir = malloc(n + 1);
        if (dir) {
            memcpy(dir, path, n);
            dir[n] = '\0';
        }
    }
    if (!dir)
        return -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    free(dir);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mtrl_err *e)
{
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp)
        return err_set(e, MTRL_ENOMEM, "%s: out of memory", path);
    snprintf(tmp, n, "%s.tmp-%ld", path, (long)getpid());
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        rc = err_set(e, MTRL_EIO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0 && !rc) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            rc = err_set(e, MTRL_EIO, "%s: write failed: %s", tmp,
                         w < 0 ? strerror(errno) : "no progress");
        else
            p += w, left -= (size_t)w;
    }
    if (!rc && fsync(fd) != 0)
        rc = err_set(e, MTRL_EIO, "%s: fsync failed: %s", tmp, strerror(errno));
    if (close(fd) != 0 && !rc)
        rc = err_set(e, MTRL_EIO, "%s: close failed: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, path) != 0)
        rc = err_set(e, MTRL_EIO, "%s: rename from %s failed: %s", path, tmp,
                     strerror(errno));
    if (rc)
        unlink(tmp);
    else
        fs_fsync_parent(path);
    free(tmp);
    return rc;
}

int fs_read_all(const char *path, char **data, size_t *len, mtrl_err *e)
{
    *data = NULL;
    if (len)
        *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return err_set(e, MTRL_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    int rc = 0;
    while (buf) {
        n += fread(buf + n, 1, cap - 1 - n, fp);
        if (n < cap - 1)
            break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
        } else {
            buf = nb, cap *= 2;
        }
    }
    if (!buf)
        rc = err_set(e, MTRL_ENOMEM, "%s: out of memory", path);
    else if (ferror(fp)) {
        rc = err_set(e, MTRL_EIO, "%s: read failed", path);
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    if (rc)
        return rc;
    buf[n] = '\0';
    *data = buf;
    if (len)
        *len = n;
    return 0;
}
