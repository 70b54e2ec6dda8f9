/* fsutil: the few file-system operations the project needs beyond stdio:
 * creating directories with their parents, run directories that never
 * silently reuse an earlier run's files, and small files written atomically
 * (temp file + fsync + rename) so a crash never leaves a half-written one.
 * POSIX only; depends on core/err.h and nothing else. */
#ifndef MTRL_CORE_FSUTIL_H
#define MTRL_CORE_FSUTIL_H

#include <stddef.h>

#include "core/err.h"

/* mkdir -p: creates path and any missing parents (mode 0777 & ~umask).
 * An existing directory is fine; an existing non-directory on the path is
 * MTRL_EINPUT (a bad path from the user), other failures MTRL_EIO. */
int fs_mkdirs(const char *path, mtrl_err *e);

/* "dir/name" in a new malloc'd string (free it), or NULL when out of
 * memory. */
char *fs_join(const char *dir, const char *name);

/* 1 if path exists and is a directory, 0 otherwise. */
int fs_is_dir(const char *path);
/* 1 if path is a directory with no entries (besides . and ..), or does not
 * exist; 0 if it has entries or is not a directory. */
int fs_dir_is_empty(const char *path);

/* Creates "<root>/<name>-<YYYYmmdd-HHMMSS>" (local time) with its parents and
 * writes its path into out. If that directory already exists (two runs
 * started in the same second) a suffix "-2", "-3", ... is added: the new
 * directory is always a fresh, empty one. root NULL means "runs". */
int fs_make_run_dir(char *out, size_t cap, const char *root, const char *name,
                    mtrl_err *e);

/* For an explicit run directory (--out DIR): creates it with its parents.
 * An existing non-empty directory (a lone .lock aside) is refused
 * (MTRL_EINPUT) unless resume is set, so an earlier run's logs and
 * checkpoints are never overwritten by accident. */
int fs_prepare_run_dir(const char *dir, int resume, mtrl_err *e);

/* Writes data[0..len) to "<path>.tmp-<pid>", fsyncs it, renames it over path
 * and fsyncs the directory. On failure path is untouched and the temp file
 * removed. */
int fs_write_atomic(const char *path, const void *data, size_t len, mtrl_err *e);

/* Reads a whole file into a malloc'd, NUL-terminated buffer (caller frees);
 * *len (may be NULL) receives the byte count without the terminator. */
int fs_read_all(const char *path, char **data, size_t *len, mtrl_err *e);
/* As fs_read_all, but a file that does not exist is no error: 0 with *data
 * NULL (for the logs a run may not have written yet). */
int fs_read_if_exists(const char *path, char **data, size_t *len, mtrl_err *e);

/* Run-directory lock: flock(LOCK_EX) on "<dir>/.lock", held as long as the
 * returned descriptor is open. The kernel drops it when the process ends,
 * however it ends (kill -9 included), so a lock is never stale; the
 * descriptor is O_CLOEXEC, so programs the holder runs do not inherit it.
 * The holder writes "PID HOST\n" into the file for the message of whoever
 * finds it taken. On success *fd receives the descriptor; a lock held by
 * another process (or another descriptor of this one) is MTRL_ELOCKED with
 * a message naming its pid and host. The file is left in place on unlock:
 * removing it would let two processes lock two different files. */
int fs_lock_dir(const char *dir, int *fd, mtrl_err *e);

/* Releases a lock from fs_lock_dir (empties the file first); fd < 0 is a
 * no-op. */
void fs_unlock_dir(int fd);

/* 1 if dir's lock is held by a live process (pid and host, if not NULL,
 * receive what the holder wrote; 0 and "" if it wrote nothing yet), 0 if it
 * is free or there is no lock file, -1 if the lock file cannot be opened.
 * Never creates the file. */
int fs_dir_locked(const char *dir, long *pid, char *host, size_t host_cap);

/* Removes the temp files an interrupted atomic write leaves in dir:
 * "<name>.tmp-<pid>" for the names given (NULL-terminated list). Call it only
 * while holding dir's lock (then no live writer owns such a file); *removed
 * (may be NULL) receives the count. */
int fs_remove_stale_temps(const char *dir, const char *const *names, int *removed,
                          mtrl_err *e);

/* fsync of the directory holding path, so a rename/create in it survives a
 * power loss. Best effort: returns 0 or -1 (errno set), never prints. */
int fs_fsync_parent(const char *path);

#endif
