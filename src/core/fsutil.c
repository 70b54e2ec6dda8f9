#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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
        /* A file where a directory should be is a bad path given by the
         * user (exit 2), not a failing disk. */
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            rc = err_set(e, errno == ENOTDIR ? MTRL_EINPUT : MTRL_EIO,
                         "%s: cannot create directory %s: %s", path, buf, strerror(errno));
        else if (!fs_is_dir(buf))
            rc = err_set(e, MTRL_EINPUT, "%s: %s exists and is not a directory", path, buf);
        buf[i] = c;
    }
    free(buf);
    return rc;
}

static int dir_empty_but(const char *path, const char *except)
{
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT;
    int empty = 1;
    struct dirent *de;
    while (empty && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
            (!except || strcmp(de->d_name, except)))
            empty = 0;
    closedir(d);
    return empty;
}

int fs_dir_is_empty(const char *path) { return dir_empty_but(path, NULL); }

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
        /* A lone .lock is what a start that failed, or a run killed before
         * writing anything, leaves: the directory is still unused. */
        if (!resume && !dir_empty_but(dir, ".lock"))
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

int fs_read_if_exists(const char *path, char **data, size_t *len, mtrl_err *e)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        *data = NULL;
        if (len)
            *len = 0;
        return 0;
    }
    return fs_read_all(path, data, len, e);
}

/* ---- run-directory lock ---- */

static char *lock_path(const char *dir)
{
    size_t n = strlen(dir) + sizeof "/.lock";
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/.lock", dir);
    return p;
}

/* What the holder wrote: "PID HOST". */
static void read_holder(int fd, long *pid, char *host, size_t cap)
{
    char buf[320];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    long p = 0;
    char h[256] = "";
    if (sscanf(buf, "%ld %255s", &p, h) < 1)
        p = 0;
    if (pid)
        *pid = p;
    if (host && cap)
        snprintf(host, cap, "%s", h);
}

int fs_lock_dir(const char *dir, int *fd, mtrl_err *e)
{
    *fd = -1;
    char *path = lock_path(dir);
    if (!path)
        return err_set(e, MTRL_ENOMEM, "out of memory");
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (f < 0) {
        int rc = err_set(e, errno == ENOENT || errno == ENOTDIR ? MTRL_EINPUT : MTRL_EIO,
                         "%s: cannot open the run directory's lock file: %s", path,
                         strerror(errno));
        free(path);
        return rc;
    }
    int r;
    while ((r = flock(f, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR)
        ;
    if (r != 0) {
        int busy = errno == EWOULDBLOCK;
        int rc;
        if (busy) {
            long pid;
            char host[256];
            read_holder(f, &pid, host, sizeof host);
            if (pid > 0)
                rc = err_set(e, MTRL_ELOCKED,
                             "%s is in use by another mtrl process (pid %ld on host %s; lock "
                             "%s): wait for it to end, or stop it first",
                             dir, pid, host[0] ? host : "?", path);
            else
                rc = err_set(e, MTRL_ELOCKED,
                             "%s is in use by another mtrl process (lock %s, just taken)", dir,
                             path);
        } else {
            rc = err_set(e, MTRL_EIO, "%s: cannot lock: %s", path, strerror(errno));
        }
        close(f);
        free(path);
        return rc;
    }
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        snprintf(host, sizeof host, "unknown");
    char line[320];
    int n = snprintf(line, sizeof line, "%ld %s\n", (long)getpid(), host);
    if (ftruncate(f, 0) != 0 || pwrite(f, line, (size_t)n, 0) != n) {
        int rc = err_set(e, MTRL_EIO, "%s: cannot write the lock holder: %s", path,
                         strerror(errno));
        close(f);
        free(path);
        return rc;
    }
    free(path);
    *fd = f;
    return 0;
}

void fs_unlock_dir(int fd)
{
    if (fd < 0)
        return;
    if (ftruncate(fd, 0)) {
    }
    close(fd); /* closing the last descriptor releases the flock */
}

int fs_dir_locked(const char *dir, long *pid, char *host, size_t host_cap)
{
    if (pid)
        *pid = 0;
    if (host && host_cap)
        host[0] = '\0';
    char *path = lock_path(dir);
    if (!path)
        return -1;
    int f = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (f < 0)
        return errno == ENOENT ? 0 : -1;
    int r;
    while ((r = flock(f, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR)
        ;
    int locked = r != 0 && errno == EWOULDBLOCK;
    if (r != 0 && !locked) {
        close(f);
        return -1;
    }
    if (locked)
        read_holder(f, pid, host, host_cap);
    close(f); /* also drops the probe's own lock */
    return locked;
}

int fs_remove_stale_temps(const char *dir, const char *const *names, int *removed,
                          mtrl_err *e)
{
    if (removed)
        *removed = 0;
    DIR *d = opendir(dir);
    if (!d)
        return err_set(e, MTRL_EIO, "%s: cannot list: %s", dir, strerror(errno));
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        const char *s = de->d_name;
        for (int i = 0; names[i]; i++) {
            size_t n = strlen(names[i]);
            if (strncmp(s, names[i], n) || strncmp(s + n, ".tmp-", 5))
                continue;
            const char *p = s + n + 5;
            if (!*p || strspn(p, "0123456789") != strlen(p))
                continue;
            size_t len = strlen(dir) + strlen(s) + 2;
            char *full = malloc(len);
            if (!full) {
                rc = err_set(e, MTRL_ENOMEM, "out of memory");
                break;
            }
            snprintf(full, len, "%s/%s", dir, s);
            if (unlink(full) == 0) {
                if (removed)
                    (*removed)++;
            } else if (errno != ENOENT) {
                rc = err_set(e, MTRL_EIO, "%s: cannot remove: %s", full, strerror(errno));
            }
            free(full);
            break;
        }
    }
    closedir(d);
    return rc;
}

char *fs_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}
