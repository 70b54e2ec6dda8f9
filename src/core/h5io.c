#include "h5io.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"

struct h5_file {
    hid_t fid;
    int writing;
    char *path; /* final path */
    char *tmp;  /* temp path while writing, else NULL */
};

/* HDF5 prints its whole error stack to stderr by default; library code must
 * not print, so turn it off (the serial library keeps one global setting).
 * The cli may ask for the stack (--verbose): it goes to err_stream then. */
static FILE *err_stream;

void h5_set_error_stream(FILE *stream) { err_stream = stream; }

static void quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* The innermost HDF5 message is the specific one ("file signature not found",
 * "object 'x' doesn't exist"); the outer ones only say which call failed. */
static herr_t walk_cb(unsigned n, const H5E_error2_t *err, void *data)
{
    (void)n;
    char *buf = data;
    if (!buf[0] && err->desc)
        snprintf(buf, 256, "%s", err->desc);
    return 0;
}

/* Some HDF5 messages span lines and carry addresses and timestamps ("file
 * write failed: time = ..., errno = 28, error message = 'No space left on
 * device', buf = 0x..."): keep the part before the first comma-separated
 * detail and the system's error message, on one line. */
static void one_line(char *buf)
{
    const char *key = "error message = '";
    char *m = strstr(buf, key);
    if (m) {
        char msg[128];
        m += strlen(key);
        size_t n = strcspn(m, "'");
        snprintf(msg, sizeof msg, "%.*s", (int)(n < 127 ? n : 127), m);
        char *colon = strchr(buf, ':');
        size_t head = colon ? (size_t)(colon - buf) : 0;
        char out[256];
        if (head)
            snprintf(out, sizeof out, "%.*s: %s", (int)head, buf, msg);
        else
            snprintf(out, sizeof out, "%s", msg);
        snprintf(buf, 256, "%s", out);
    }
    for (char *c = buf; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t')
            *c = ' ';
}

static const char *h5_reason(char *buf)
{
    buf[0] = '\0';
    if (err_stream)
        H5Eprint2(H5E_DEFAULT, err_stream);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, buf);
    H5Eclear2(H5E_DEFAULT);
    if (!buf[0])
        snprintf(buf, 256, "HDF5 call failed");
    one_line(buf);
    return buf;
}

static int fail(h5_file *f, mtrl_err *e, int code, const char *what, const char *name)
{
    char r[256];
    return err_set(e, code, "%s: %s '%s': %s", f->path, what, name ? name : "/", h5_reason(r));
}

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static void file_free(h5_file *f)
{
    if (!f)
        return;
    free(f->path);
    free(f->tmp);
    free(f);
}

static hid_t make_fapl(int writing)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0)
        return fapl;
    /* STRONG: closing the file closes anything a failed call left open, so
     * H5Fclose really releases the file before we fsync and rename it. */
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
#if H5_VERSION_GE(1, 10, 7)
    /* Atomicity comes from temp file + rename, not locks; HDF5's flock fails
     * on some network file systems, so don't depend on it. */
    H5Pset_file_locking(fapl, 0, 1);
#endif
    /* The 1.10 file format checksums all its metadata (superblock, object
     * headers with their attributes and compact data), so a damaged file is
     * refused by HDF5 before it parses garbage; large datasets' bytes carry
     * our own digest (write_ds). HDF5 >= 1.10 (2016) and h5py on it read
     * these files. */
    if (writing)
        H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_LATEST);
    return fapl;
}

/* HDF5 1.10 cannot recover from a failed write (disk full): H5Fclose fails
 * too and leaves the file id pointing at a half-freed file, on which its exit
 * handler (H5_term_library, registered at the first HDF5 call) then crashes
 * (SIGSEGV at exit). Every file we keep is closed explicitly before it is
 * renamed into place, so that handler has nothing to save: don't register it.
 * H5dont_atexit only works before the first HDF5 call, hence a constructor. */
__attribute__((constructor)) static void h5io_no_atexit(void) { H5dont_atexit(); }

/* Closes a temp file whose contents are being thrown away. Emptying it first
 * gives its blocks back at once, even if HDF5 cannot close it (see above). */
static void close_discard(h5_file *f)
{
    if (f->tmp && truncate(f->tmp, 0) != 0) {
        /* nothing to do: the close below may still succeed */
    }
    if (f->fid >= 0)
        H5Fclose(f->fid); /* at most once, failed or not (see above) */
    H5Eclear2(H5E_DEFAULT);
    f->fid = -1;
}

int h5_create(h5_file **out, const char *path, mtrl_err *e)
{
    *out = NULL;
    quiet();
    h5_file *f = calloc(1, sizeof *f);
    if (!f)
        return err_set(e, MTRL_ENOMEM, "%s: out of memory", path);
    size_t n = strlen(path) + 32;
    f->path = dupstr(path);
    f->tmp = malloc(n);
    if (!f->path || !f->tmp) {
        file_free(f);
        return err_set(e, MTRL_ENOMEM, "%s: out of memory", path);
    }
    snprintf(f->tmp, n, "%s.tmp-%ld", path, (long)getpid());
    f->writing = 1;
    /* HDF5 reports the failing open(2) only inside a long stack message;
     * errno is still set when it returns, and says it better. */
    errno = 0;
    hid_t fapl = make_fapl(1);
    f->fid = H5Fcreate(f->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    int err = errno;
    if (f->fid < 0) {
        char r[256];
        err_set(e, MTRL_EIO, "%s: cannot create temporary file %s: %s", path, f->tmp,
                err ? strerror(err) : h5_reason(r));
        H5Pclose(fapl);
        file_free(f);
        return MTRL_EIO;
    }
    H5Pclose(fapl);
    *out = f;
    return 0;
}

int h5_commit(h5_file *f, mtrl_err *e)
{
    if (!f || !f->writing)
        return err_set(e, MTRL_EINPUT, "h5_commit: file not opened with h5_create");
    int rc = 0;
    char r[256];
    if (H5Fflush(f->fid, H5F_SCOPE_GLOBAL) < 0)
        rc = err_set(e, MTRL_EIO, "%s: writing %s failed: %s", f->path, f->tmp, h5_reason(r));
    else {
        if (H5Fclose(f->fid) < 0)
            rc = err_set(e, MTRL_EIO, "%s: closing %s failed: %s", f->path, f->tmp,
                         h5_reason(r));
        f->fid = -1; /* even if that failed: a second H5Fclose would crash */
    }
    if (rc)
        close_discard(f);
    if (!rc) {
        /* HDF5 does not fsync; without it a power loss after the rename
         * could leave the new name pointing at unwritten blocks. */
        int fd = open(f->tmp, O_RDONLY);
        if (fd < 0 || fsync(fd) != 0)
            rc = err_set(e, MTRL_EIO, "%s: fsync of %s failed: %s", f->path, f->tmp,
                         strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    if (!rc && rename(f->tmp, f->path) != 0)
        rc = err_set(e, MTRL_EIO, "%s: rename from %s failed: %s", f->path, f->tmp,
                     strerror(errno));
    if (rc)
        unlink(f->tmp);
    else
        fs_fsync_parent(f->path); /* best effort: makes the rename durable */
    file_free(f);
    return rc;
}

void h5_abort(h5_file *f)
{
    if (!f)
        return;
    if (f->writing)
        close_discard(f);
    else if (f->fid >= 0)
        H5Fclose(f->fid);
    H5Eclear2(H5E_DEFAULT);
    if (f->writing && f->tmp)
        unlink(f->tmp);
    file_free(f);
}

/* ---- probing a file in a child process ----
 * libhdf5 1.10.8 trusts the metadata of files in the original format (no
 * checksums, what h5py writes by default): fuzz_combine found a 2 KB file
 * that makes it read through a NULL pointer inside H5Lexists, in any file
 * driver. That is a bug in the library, not fixable here, so before a file
 * is opened for real, a forked child walks its whole structure (every
 * group, dataset, attribute, and the data of datasets up to
 * H5IO_PROBE_READ_MAX bytes); if the child dies, the file is refused. */
#define H5IO_PROBE_READ_MAX (8u << 20)
#define H5IO_PROBE_SECONDS 120

/* The native type to read a stored number of type t (integer or float of
 * at most 16 bytes, the only kinds h5io reads), or -1 for anything else. */
static hid_t probe_native_number(hid_t t)
{
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    if ((cls != H5T_INTEGER && cls != H5T_FLOAT) || H5Tget_size(t) > 16)
        return -1;
    return H5Tget_native_type(t, H5T_DIR_ASCEND);
}

static herr_t probe_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    (void)info;
    (void)data;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0)
        return 0;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    hid_t nt = sp >= 0 && H5Sget_simple_extent_npoints(sp) == 1 ? probe_native_number(t) : -1;
    unsigned char buf[16];
    if (nt >= 0 && H5Tget_size(nt) <= sizeof buf)
        H5Aread(a, nt, buf);
    if (nt >= 0)
        H5Tclose(nt);
    if (t >= 0)
        H5Tclose(t);
    if (sp >= 0)
        H5Sclose(sp);
    H5Aclose(a);
    return 0;
}

static herr_t probe_obj(hid_t root, const char *name, const H5O_info_t *info, void *data)
{
    (void)data;
    hid_t o = H5Oopen(root, name, H5P_DEFAULT);
    if (o < 0)
        return 0;
    H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, probe_attr, NULL);
    if (info->type == H5O_TYPE_DATASET) {
        hid_t t = H5Dget_type(o), sp = H5Dget_space(o);
        hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
        /* Only the numbers h5io reads (a 4 GB element type is refused by
         * open_ds; converting it here would take minutes). */
        hid_t nt = probe_native_number(t);
        size_t es = nt >= 0 ? H5Tget_size(nt) : 0;
        H5D_space_status_t st;
        H5Dget_space_status(o, &st);
        H5Dget_storage_size(o);
        if (n > 0 && es > 0 && es <= 16 && (size_t)n <= H5IO_PROBE_READ_MAX / es) {
            void *buf = malloc((size_t)n * es);
            if (buf)
                H5Dread(o, nt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
            free(buf);
        }
        if (nt >= 0)
            H5Tclose(nt);
        if (t >= 0)
            H5Tclose(t);
        if (sp >= 0)
            H5Sclose(sp);
    }
    H5Oclose(o);
    return 0;
}

/* 0 if a child read the file's structure and exited normally. */
static int probe_file(const char *path, int *sig)
{
    *sig = 0;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return 0; /* no child to spare: open it directly, as before */
    if (pid == 0) {
        /* Die of the signal, whatever handlers the program installed (a test
         * framework's or a sanitizer's would carry on running the parent's
         * code in this child). */
        const int crash[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
        for (size_t i = 0; i < sizeof crash / sizeof crash[0]; i++)
            signal(crash[i], SIG_DFL);
        signal(SIGALRM, SIG_DFL);
        alarm(H5IO_PROBE_SECONDS);
        hid_t fapl = make_fapl(0);
        hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, fapl);
        if (fid >= 0)
            H5Ovisit(fid, H5_INDEX_NAME, H5_ITER_NATIVE, probe_obj, NULL);
        _exit(0); /* no HDF5 shutdown, no atexit handlers of the parent */
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 0;
    if (WIFSIGNALED(status)) {
        *sig = WTERMSIG(status);
        return -1;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int h5_open(h5_file **out, const char *path, mtrl_err *e)
{
    *out = NULL;
    quiet();
    /* A file that is missing, unreadable, not HDF5 or damaged is bad input
     * (exit 2): the user named the wrong file or the file is broken. */
    struct stat sb;
    if (access(path, R_OK) != 0 || stat(path, &sb) != 0)
        return err_set(e, MTRL_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return err_set(e, MTRL_EINPUT, "%s: is a directory, not an HDF5 file", path);
    if (!S_ISREG(sb.st_mode))
        return err_set(e, MTRL_EINPUT, "%s: not a regular file", path);
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return err_set(e, MTRL_EINPUT, "%s: not an HDF5 file", path);
    }
    int sig;
    if (probe_file(path, &sig) != 0)
        return err_set(e, MTRL_EINPUT,
                       "%s: damaged HDF5 file: the HDF5 library %s while reading its structure",
                       path, sig == SIGALRM ? "hung" : "failed");
    h5_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = dupstr(path))) {
        free(f);
        return err_set(e, MTRL_ENOMEM, "%s: out of memory", path);
    }
    hid_t fapl = make_fapl(0);
    f->fid = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (f->fid < 0) {
        char r[256];
        err_set(e, MTRL_EINPUT, "%s: cannot open HDF5 file (truncated or damaged?): %s", path,
                h5_reason(r));
        H5Pclose(fapl);
        file_free(f);
        return MTRL_EINPUT;
    }
    H5Pclose(fapl);
    *out = f;
    return 0;
}

void h5_close(h5_file *f)
{
    if (!f)
        return;
    if (f->writing) {
        h5_abort(f);
        return;
    }
    if (f->fid >= 0)
        H5Fclose(f->fid);
    H5Eclear2(H5E_DEFAULT);
    file_free(f);
}

const char *h5_path(const h5_file *f) { return f ? f->path : NULL; }

/* H5Lexists fails (rather than returning 0) when an intermediate group is
 * missing, so test each prefix of the path in turn. */
int h5_has(h5_file *f, const char *name)
{
    if (!f || !name)
        return 0;
    if (!strcmp(name, "/") || !name[0])
        return 1;
    size_t n = strlen(name);
    char *buf = malloc(n + 1);
    if (!buf)
        return 0;
    memcpy(buf, name, n + 1);
    int found = 1;
    for (size_t i = 1; i <= n && found; i++) {
        if (i == n || buf[i] == '/') {
            char c = buf[i];
            buf[i] = '\0';
            found = H5Lexists(f->fid, buf, H5P_DEFAULT) > 0;
            buf[i] = c;
        }
    }
    if (found)
        found = H5Oexists_by_name(f->fid, name, H5P_DEFAULT) > 0;
    H5Eclear2(H5E_DEFAULT);
    free(buf);
    return found;
}

/* ---- datasets ---- */

static int check_shape(h5_file *f, const char *name, int rank, const long *dims,
                       hsize_t *hd, hsize_t *count, mtrl_err *e)
{
    if (rank < 0 || rank > H5IO_MAX_RANK)
        return err_set(e, MTRL_EINPUT, "%s: dataset '%s': rank %d not in [0, %d]", f->path,
                       name, rank, H5IO_MAX_RANK);
    *count = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return err_set(e, MTRL_EINPUT, "%s: dataset '%s': negative dimension %ld",
                           f->path, name, dims[i]);
        hd[i] = (hsize_t)dims[i];
        if (__builtin_mul_overflow(*count, hd[i], count) || *count > (hsize_t)(LONG_MAX / 8))
            return err_set(e, MTRL_EINPUT, "%s: dataset '%s': too many elements", f->path,
                           name);
    }
    return 0;
}

/* HDF5's own message when a path component is a dataset is "message type
 * not found"; say what is wrong instead. */
static int check_parents(h5_file *f, const char *name, mtrl_err *e)
{
    size_t n = strlen(name);
    char *buf = malloc(n + 1);
    if (!buf)
        return err_set(e, MTRL_ENOMEM, "%s: out of memory", f->path);
    memcpy(buf, name, n + 1);
    int rc = 0;
    for (size_t i = 1; i < n && !rc; i++) {
        if (buf[i] != '/')
            continue;
        buf[i] = '\0';
        if (!h5_has(f, buf)) {
            buf[i] = '/';
            break; /* this and the rest will be created */
        }
        hid_t g = H5Gopen2(f->fid, buf, H5P_DEFAULT);
        if (g < 0)
            rc = err_set(e, MTRL_EINPUT, "%s: cannot create '%s': '%s' is not a group",
                         f->path, name, buf);
        else
            H5Gclose(g);
        H5Eclear2(H5E_DEFAULT);
        buf[i] = '/';
    }
    free(buf);
    return rc;
}

/* Every dataset's bytes are covered by a checksum checked on every read.
 * Small ones (and scalars) are stored compact, inside their object header,
 * which the 1.10 file format checksums like all its metadata. Larger ones
 * stay contiguous and carry a 64-bit digest of their bytes in an attribute
 * (H5IO_DIGEST_ATTR, itself in the checksummed header). HDF5's Fletcher-32
 * filter would do the same job in any HDF5 reader, but it needs chunked
 * storage, which made a 33 MB replay buffer 7x slower to write and ~80x
 * slower to read with HDF5 1.10 here (measured side by side). */
#define H5IO_COMPACT_MAX 4096
#define H5IO_SPARSE_MAX (64u << 20) /* read_ds: larger datasets must be complete */
#define H5IO_DIGEST_ATTR "mtrl_digest64"

/* A 64-bit digest of n bytes: each 8-byte word is mixed in by steps that are
 * bijective in the state (xor, multiply by an odd constant, rotate), so any
 * change confined to one word always changes the result; other changes do
 * with probability 1 - 2^-64. Not cryptographic: it detects damage. The
 * bytes are the host's, i.e. the file's on the little-endian machines mtrl
 * runs on. */
static uint64_t digest64(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 0x6d74726c64696731ull ^ (uint64_t)n;
    const uint64_t k1 = 0x9e3779b97f4a7c15ull, k2 = 0xc2b2ae3d27d4eb4full;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h ^= w * k1;
        h = ((h << 29) | (h >> 35)) * k2;
    }
    uint64_t t = 0;
    for (size_t j = 0; i + j < n; j++)
        t |= (uint64_t)p[i + j] << (8 * j);
    h ^= t * k1;
    h = ((h << 29) | (h >> 35)) * k2;
    h ^= h >> 33; /* final avalanche */
    h *= k1;
    h ^= h >> 29;
    return h;
}

static hid_t make_dcpl(int rank, hsize_t bytes)
{
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dcpl >= 0 && (rank == 0 || bytes <= H5IO_COMPACT_MAX) &&
        H5Pset_layout(dcpl, H5D_COMPACT) < 0) {
        H5Pclose(dcpl);
        return -1;
    }
    return dcpl;
}

/* Stores the digest of the data just written (large datasets only). */
static int write_digest(hid_t ds, const void *data, size_t bytes)
{
    if (bytes <= H5IO_COMPACT_MAX)
        return 0;
    int64_t d = (int64_t)digest64(data, bytes);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = sp < 0 ? -1
                     : H5Acreate2(ds, H5IO_DIGEST_ATTR, H5T_STD_I64LE, sp, H5P_DEFAULT,
                                  H5P_DEFAULT);
    int rc = a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &d) >= 0 ? 0 : -1;
    if (a >= 0)
        H5Aclose(a);
    if (sp >= 0)
        H5Sclose(sp);
    return rc;
}

/* Checks the digest of a dataset just read into buf (count elements of
 * mtype). A file without one (written before digests, or by another
 * program) is taken as it is. If the caller read with a conversion, the
 * bytes are read again as the file stores them. */
static int verify_digest(h5_file *f, const char *name, hid_t ds, hid_t mtype, const void *buf,
                         hsize_t count, mtrl_err *e)
{
    if (H5Aexists(ds, H5IO_DIGEST_ATTR) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return 0;
    }
    int64_t want = 0;
    hid_t a = H5Aopen(ds, H5IO_DIGEST_ATTR, H5P_DEFAULT);
    int ok = a >= 0 && H5Aread(a, H5T_NATIVE_INT64, &want) >= 0;
    if (a >= 0)
        H5Aclose(a);
    if (!ok)
        return fail(f, e, MTRL_EINPUT, "cannot read the digest of dataset", name);
    hid_t ft = H5Dget_type(ds);
    hid_t nt = ft >= 0 ? H5Tget_native_type(ft, H5T_DIR_ASCEND) : -1;
    size_t es = nt >= 0 ? H5Tget_size(nt) : 0;
    void *tmp = NULL;
    const void *bytes = buf;
    int rc = 0;
    if (nt < 0 || es == 0) {
        rc = fail(f, e, MTRL_EINPUT, "cannot read the type of dataset", name);
    } else if (H5Tequal(nt, mtype) <= 0) {
        tmp = malloc((size_t)count * es);
        if (!tmp)
            rc = err_set(e, MTRL_ENOMEM, "%s: dataset '%s': out of memory", f->path, name);
        else if (H5Dread(ds, nt, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp) < 0)
            rc = fail(f, e, MTRL_EINPUT, "cannot read dataset", name);
        bytes = tmp;
    }
    if (!rc && (int64_t)digest64(bytes, (size_t)count * es) != want)
        rc = err_set(e, MTRL_EINPUT,
                     "%s: dataset '%s' does not match its checksum: the file is damaged",
                     f->path, name);
    free(tmp);
    if (nt >= 0)
        H5Tclose(nt);
    if (ft >= 0)
        H5Tclose(ft);
    H5Eclear2(H5E_DEFAULT);
    return rc;
}

static int write_ds(h5_file *f, const char *name, int rank, const long *dims, hid_t ftype,
                    hid_t mtype, const void *data, mtrl_err *e)
{
    if (!f || !f->writing)
        return err_set(e, MTRL_EINPUT, "%s: dataset '%s': file is not open for writing",
                       f ? f->path : "(null)", name);
    hsize_t hd[H5IO_MAX_RANK];
    hsize_t count = 0;
    int rc = check_shape(f, name, rank, dims, hd, &count, e);
    if (rc)
        return rc;
    if (count > 0 && !data)
        return err_set(e, MTRL_EINPUT, "%s: dataset '%s': no data", f->path, name);
    if (h5_has(f, name))
        return err_set(e, MTRL_EINPUT, "%s: dataset '%s' already exists", f->path, name);
    rc = check_parents(f, name, e);
    if (rc)
        return rc;
    hid_t space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, hd, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    size_t bytes = (size_t)count * H5Tget_size(ftype);
    hid_t dcpl = make_dcpl(rank, bytes);
    hid_t ds = space < 0 || lcpl < 0 || dcpl < 0
                   ? -1
                   : H5Dcreate2(f->fid, name, ftype, space, lcpl, dcpl, H5P_DEFAULT);
    if (ds < 0)
        rc = fail(f, e, MTRL_EIO, "cannot create dataset", name);
    else if (count > 0 && H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        rc = fail(f, e, MTRL_EIO, "cannot write dataset", name);
    else if (count > 0 && write_digest(ds, data, bytes) < 0)
        rc = fail(f, e, MTRL_EIO, "cannot write the checksum of dataset", name);
    if (ds >= 0)
        H5Dclose(ds);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (lcpl >= 0)
        H5Pclose(lcpl);
    if (space >= 0)
        H5Sclose(space);
    return rc;
}

int h5_mkgroup(h5_file *f, const char *name, mtrl_err *e)
{
    if (!f || !f->writing)
        return err_set(e, MTRL_EINPUT, "%s: group '%s': file is not open for writing",
                       f ? f->path : "(null)", name);
    if (h5_has(f, name)) {
        hid_t g = H5Gopen2(f->fid, name, H5P_DEFAULT);
        H5Eclear2(H5E_DEFAULT);
        if (g < 0)
            return err_set(e, MTRL_EINPUT, "%s: '%s' exists and is not a group", f->path,
                           name);
        H5Gclose(g);
        return 0;
    }
    int rc = check_parents(f, name, e);
    if (rc)
        return rc;
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t g = H5Gcreate2(f->fid, name, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        rc = fail(f, e, MTRL_EIO, "cannot create group", name);
    else
        H5Gclose(g);
    H5Pclose(lcpl);
    return rc;
}

int h5_write_f32(h5_file *f, const char *name, int rank, const long *dims,
                 const float *data, mtrl_err *e)
{
    return write_ds(f, name, rank, dims, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, data, e);
}

int h5_write_f64(h5_file *f, const char *name, int rank, const long *dims,
                 const double *data, mtrl_err *e)
{
    return write_ds(f, name, rank, dims, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, data, e);
}

int h5_write_i64(h5_file *f, const char *name, int rank, const long *dims,
                 const int64_t *data, mtrl_err *e)
{
    return write_ds(f, name, rank, dims, H5T_STD_I64LE, H5T_NATIVE_INT64, data, e);
}

int h5_write_u8(h5_file *f, const char *name, int rank, const long *dims,
                const uint8_t *data, mtrl_err *e)
{
    return write_ds(f, name, rank, dims, H5T_STD_U8LE, H5T_NATIVE_UINT8, data, e);
}

/* Opens a numeric dataset and reports its shape; the caller closes *ds. */
static int open_ds(h5_file *f, const char *name, hid_t *ds, int *rank, long *dims,
                   hsize_t *count, mtrl_err *e)
{
    *ds = -1;
    if (!f)
        return err_set(e, MTRL_EINPUT, "dataset '%s': no file", name);
    if (!h5_has(f, name))
        return err_set(e, MTRL_EINPUT, "%s: no dataset '%s'", f->path, name);
    hid_t d = H5Dopen2(f->fid, name, H5P_DEFAULT);
    if (d < 0)
        return fail(f, e, MTRL_EINPUT, "cannot open dataset", name);
    hid_t type = H5Dget_type(d);
    H5T_class_t cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    size_t tsize = type >= 0 ? H5Tget_size(type) : 0;
    if (type >= 0)
        H5Tclose(type);
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
        H5Dclose(d);
        H5Eclear2(H5E_DEFAULT);
        return err_set(e, MTRL_EINPUT, "%s: dataset '%s' is not numeric", f->path, name);
    }
    /* HDF5 converts element by element through a buffer sized by the file's
     * element size, which a damaged file can make gigabytes. */
    if (tsize < 1 || tsize > 16) {
        H5Dclose(d);
        H5Eclear2(H5E_DEFAULT);
        return err_set(e, MTRL_EINPUT,
                       "%s: dataset '%s' has %zu-byte elements; mtrl reads numbers of 1 to 16 "
                       "bytes",
                       f->path, name, tsize);
    }
    hid_t space = H5Dget_space(d);
    int r = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (r < 0 || r > H5IO_MAX_RANK) {
        if (space >= 0)
            H5Sclose(space);
        H5Dclose(d);
        H5Eclear2(H5E_DEFAULT);
        return err_set(e, MTRL_EINPUT, "%s: dataset '%s': rank %d not supported (max %d)",
                       f->path, name, r, H5IO_MAX_RANK);
    }
    hsize_t hd[H5IO_MAX_RANK];
    int got = H5Sget_simple_extent_dims(space, hd, NULL);
    H5Sclose(space);
    if (got != r) {
        H5Dclose(d);
        return fail(f, e, MTRL_EINPUT, "cannot read the shape of dataset", name);
    }
    /* The shape comes from the file: the element count must not wrap, and
     * count * 8 (the widest element) must fit in a long and a size_t, so
     * no caller's byte count can overflow either. */
    hsize_t n = 1;
    int too_big = 0;
    for (int i = 0; i < r; i++) {
        if (hd[i] > (hsize_t)LONG_MAX || __builtin_mul_overflow(n, hd[i], &n))
            too_big = 1;
        dims[i] = hd[i] > (hsize_t)LONG_MAX ? LONG_MAX : (long)hd[i];
    }
    if (too_big || n > (hsize_t)(LONG_MAX / 8) || n > (hsize_t)(SIZE_MAX / 8)) {
        char s[160];
        size_t k = (size_t)snprintf(s, sizeof s, "[");
        for (int i = 0; i < r && k < sizeof s; i++)
            k += (size_t)snprintf(s + k, sizeof s - k, i ? ", %llu" : "%llu",
                                  (unsigned long long)hd[i]);
        if (k < sizeof s)
            snprintf(s + k, sizeof s - k, "]");
        H5Dclose(d);
        return err_set(e, MTRL_EINPUT,
                       "%s: dataset '%s' has shape %s: too many elements to read", f->path,
                       name, s);
    }
    *count = n;
    *rank = r;
    *ds = d;
    return 0;
}

static int read_ds(h5_file *f, const char *name, hid_t mtype, size_t esize, int *rank,
                   long *dims, void **data, mtrl_err *e)
{
    *data = NULL;
    hid_t ds;
    hsize_t count = 0;
    int rc = open_ds(f, name, &ds, rank, dims, &count, e);
    if (rc)
        return rc;
    size_t bytes;
    if (__builtin_mul_overflow((size_t)count, esize, &bytes)) {
        H5Dclose(ds);
        return err_set(e, MTRL_EINPUT, "%s: dataset '%s': %llu elements are too many to read",
                       f->path, name, (unsigned long long)count);
    }
    /* A chunked dataset may claim any shape while storing nothing (unwritten
     * chunks read as the fill value): a few bytes of file could make us
     * allocate terabytes. Datasets we write are always complete; refuse a
     * large one that is not. */
    H5D_space_status_t status = H5D_SPACE_STATUS_ERROR;
    if (bytes > H5IO_SPARSE_MAX && (H5Dget_space_status(ds, &status) < 0 ||
                                    status != H5D_SPACE_STATUS_ALLOCATED)) {
        H5Dclose(ds);
        H5Eclear2(H5E_DEFAULT);
        return err_set(e, MTRL_EINPUT,
                       "%s: dataset '%s' claims %llu elements but the file does not hold "
                       "its data",
                       f->path, name, (unsigned long long)count);
    }
    void *buf = malloc(count ? bytes : 1);
    if (!buf) {
        H5Dclose(ds);
        return err_set(e, MTRL_ENOMEM, "%s: dataset '%s': out of memory (%llu elements)",
                       f->path, name, (unsigned long long)count);
    }
    if (count > 0 && H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        rc = fail(f, e, MTRL_EINPUT, "cannot read dataset", name);
    else if (count > 0)
        rc = verify_digest(f, name, ds, mtype, buf, count, e);
    if (rc) {
        free(buf);
        buf = NULL;
    }
    H5Dclose(ds);
    *data = buf;
    return rc;
}

static void fmt_shape(char *s, size_t cap, int rank, const long *dims)
{
    size_t k = (size_t)snprintf(s, cap, "[");
    for (int i = 0; i < rank && k < cap; i++)
        k += (size_t)snprintf(s + k, cap - k, i ? ", %ld" : "%ld", dims[i]);
    if (k < cap)
        snprintf(s + k, cap - k, "]");
}

static int read_into(h5_file *f, const char *name, hid_t mtype, long count, void *buf,
                     mtrl_err *e)
{
    hid_t ds;
    hsize_t n = 0;
    int rank;
    long dims[H5IO_MAX_RANK];
    int rc = open_ds(f, name, &ds, &rank, dims, &n, e);
    if (rc)
        return rc;
    if (count < 0 || (hsize_t)count != n) {
        char s[128];
        fmt_shape(s, sizeof s, rank, dims);
        H5Dclose(ds);
        return err_set(e, MTRL_EINPUT,
                       "%s: dataset '%s': expected %ld elements, file has shape %s (%llu "
                       "elements)",
                       f->path, name, count, s, (unsigned long long)n);
    }
    if (n > 0 && H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        rc = fail(f, e, MTRL_EINPUT, "cannot read dataset", name);
    else if (n > 0)
        rc = verify_digest(f, name, ds, mtype, buf, n, e);
    H5Dclose(ds);
    return rc;
}

int h5_read_f32(h5_file *f, const char *name, int *rank, long *dims, float **data,
                mtrl_err *e)
{
    return read_ds(f, name, H5T_NATIVE_FLOAT, sizeof **data, rank, dims, (void **)data, e);
}

int h5_read_f64(h5_file *f, const char *name, int *rank, long *dims, double **data,
                mtrl_err *e)
{
    return read_ds(f, name, H5T_NATIVE_DOUBLE, sizeof **data, rank, dims, (void **)data, e);
}

int h5_read_i64(h5_file *f, const char *name, int *rank, long *dims, int64_t **data,
                mtrl_err *e)
{
    return read_ds(f, name, H5T_NATIVE_INT64, sizeof **data, rank, dims, (void **)data, e);
}

int h5_read_u8(h5_file *f, const char *name, int *rank, long *dims, uint8_t **data,
               mtrl_err *e)
{
    return read_ds(f, name, H5T_NATIVE_UINT8, sizeof **data, rank, dims, (void **)data, e);
}

int h5_read_f32_into(h5_file *f, const char *name, long count, float *buf, mtrl_err *e)
{
    return read_into(f, name, H5T_NATIVE_FLOAT, count, buf, e);
}

int h5_read_f64_into(h5_file *f, const char *name, long count, double *buf, mtrl_err *e)
{
    return read_into(f, name, H5T_NATIVE_DOUBLE, count, buf, e);
}

int h5_read_i64_into(h5_file *f, const char *name, long count, int64_t *buf, mtrl_err *e)
{
    return read_into(f, name, H5T_NATIVE_INT64, count, buf, e);
}

int h5_read_u8_into(h5_file *f, const char *name, long count, uint8_t *buf, mtrl_err *e)
{
    return read_into(f, name, H5T_NATIVE_UINT8, count, buf, e);
}

/* ---- attributes ---- */

static int is_root(const char *obj) { return !obj || !obj[0] || !strcmp(obj, "/"); }

static int open_obj(h5_file *f, const char *obj, hid_t *o, mtrl_err *e)
{
    *o = -1;
    if (!f)
        return err_set(e, MTRL_EINPUT, "attribute on '%s': no file", obj ? obj : "/");
    if (!is_root(obj) && !h5_has(f, obj))
        return err_set(e, MTRL_EINPUT, "%s: no object '%s'", f->path, obj);
    *o = H5Oopen(f->fid, is_root(obj) ? "/" : obj, H5P_DEFAULT);
    if (*o < 0)
        return fail(f, e, f->writing ? MTRL_EIO : MTRL_EINPUT, "cannot open object", obj);
    return 0;
}

static int write_attr(h5_file *f, const char *obj, const char *name, hid_t ftype,
                      hid_t mtype, const void *value, mtrl_err *e)
{
    if (!f || !f->writing)
        return err_set(e, MTRL_EINPUT, "%s: attribute '%s': file is not open for writing",
                       f ? f->path : "(null)", name);
    hid_t o;
    int rc = open_obj(f, obj, &o, e);
    if (rc)
        return rc;
    if (H5Aexists(o, name) > 0 && H5Adelete(o, name) < 0) {
        H5Oclose(o);
        return fail(f, e, MTRL_EIO, "cannot replace attribute", name);
    }
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(o, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, mtype, value) < 0) {
        char r[256];
        rc = err_set(e, MTRL_EIO, "%s: cannot write attribute '%s' on '%s': %s", f->path,
                     name, is_root(obj) ? "/" : obj, h5_reason(r));
    }
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(space);
    H5Oclose(o);
    return rc;
}

int h5_write_attr_str(h5_file *f, const char *obj, const char *name, const char *value,
                      mtrl_err *e)
{
    /* Fixed-length, null-terminated: size len+1 so "" is still a valid type. */
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(value) + 1);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    H5Tset_cset(t, H5T_CSET_UTF8);
    int rc = write_attr(f, obj, name, t, t, value, e);
    H5Tclose(t);
    return rc;
}

int h5_write_attr_i64(h5_file *f, const char *obj, const char *name, int64_t value,
                      mtrl_err *e)
{
    return write_attr(f, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value, e);
}

int h5_write_attr_f64(h5_file *f, const char *obj, const char *name, double value,
                      mtrl_err *e)
{
    return write_attr(f, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value, e);
}

/* Opens attribute name on obj; it must hold exactly one element. */
static int open_attr(h5_file *f, const char *obj, const char *name, hid_t *o, hid_t *a,
                     mtrl_err *e)
{
    *a = -1;
    int rc = open_obj(f, obj, o, e);
    if (rc)
        return rc;
    if (H5Aexists(*o, name) <= 0) {
        H5Oclose(*o);
        H5Eclear2(H5E_DEFAULT);
        return err_set(e, MTRL_EINPUT, "%s: no attribute '%s' on '%s'", f->path, name,
                       is_root(obj) ? "/" : obj);
    }
    *a = H5Aopen(*o, name, H5P_DEFAULT);
    hid_t space = *a >= 0 ? H5Aget_space(*a) : -1;
    hssize_t n = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    if (space >= 0)
        H5Sclose(space);
    if (n != 1) {
        if (*a >= 0)
            H5Aclose(*a);
        H5Oclose(*o);
        H5Eclear2(H5E_DEFAULT);
        return err_set(e, MTRL_EINPUT, "%s: attribute '%s' on '%s' is not a single value",
                       f->path, name, is_root(obj) ? "/" : obj);
    }
    return 0;
}

static int read_num_attr(h5_file *f, const char *obj, const char *name, hid_t mtype,
                         void *out, mtrl_err *e)
{
    hid_t o, a;
    int rc = open_attr(f, obj, name, &o, &a, e);
    if (rc)
        return rc;
    hid_t t = H5Aget_type(a);
    H5T_class_t cls = H5Tget_class(t);
    size_t tsize = H5Tget_size(t);
    H5Tclose(t);
    if (cls != H5T_INTEGER && cls != H5T_FLOAT)
        rc = err_set(e, MTRL_EINPUT, "%s: attribute '%s' on '%s' is not numeric", f->path,
                     name, is_root(obj) ? "/" : obj);
    else if (tsize < 1 || tsize > 16) /* see open_ds */
        rc = err_set(e, MTRL_EINPUT, "%s: attribute '%s' on '%s' has %zu-byte elements",
                     f->path, name, is_root(obj) ? "/" : obj, tsize);
    else if (H5Aread(a, mtype, out) < 0)
        rc = fail(f, e, MTRL_EINPUT, "cannot read attribute", name);
    H5Aclose(a);
    H5Oclose(o);
    return rc;
}

int h5_read_attr_i64(h5_file *f, const char *obj, const char *name, int64_t *out,
                     mtrl_err *e)
{
    return read_num_attr(f, obj, name, H5T_NATIVE_INT64, out, e);
}

int h5_read_attr_f64(h5_file *f, const char *obj, const char *name, double *out,
                     mtrl_err *e)
{
    return read_num_attr(f, obj, name, H5T_NATIVE_DOUBLE, out, e);
}

/* Reads both fixed-length strings (ours) and variable-length ones (what h5py
 * writes for a Python str), so attributes set from Python read back too. */
int h5_read_attr_str(h5_file *f, const char *obj, const char *name, char *buf, size_t cap,
                     mtrl_err *e)
{
    if (cap == 0)
        return err_set(e, MTRL_EINPUT, "attribute '%s': zero-size buffer", name);
    buf[0] = '\0';
    hid_t o, a;
    int rc = open_attr(f, obj, name, &o, &a, e);
    if (rc)
        return rc;
    const char *on = is_root(obj) ? "/" : obj;
    hid_t ft = H5Aget_type(a);
    if (H5Tget_class(ft) != H5T_STRING) {
        rc = err_set(e, MTRL_EINPUT, "%s: attribute '%s' on '%s' is not a string", f->path,
                     name, on);
    } else if (H5Tis_variable_str(ft) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        char *s = NULL;
        if (H5Aread(a, mt, &s) < 0 || !s) {
            rc = fail(f, e, MTRL_EINPUT, "cannot read attribute", name);
        } else {
            if (strlen(s) >= cap)
                rc = err_set(e, MTRL_EINPUT,
                             "%s: attribute '%s' on '%s' is %zu bytes, buffer holds %zu",
                             f->path, name, on, strlen(s), cap - 1);
            else
                memcpy(buf, s, strlen(s) + 1);
            H5free_memory(s);
        }
        H5Tclose(mt);
    } else {
        size_t sz = H5Tget_size(ft);
        /* The size comes from the file: no longer than what the caller takes
         * plus any padding a writer could sensibly add. */
        char *tmp = sz < cap + 65536 ? malloc(sz + 1) : NULL;
        if (sz >= cap + 65536) {
            rc = err_set(e, MTRL_EINPUT, "%s: attribute '%s' on '%s' is a %zu-byte string, "
                         "longer than the %zu bytes expected", f->path, name, on, sz, cap - 1);
        } else if (!tmp) {
            rc = err_set(e, MTRL_ENOMEM, "%s: out of memory", f->path);
        } else {
            hid_t mt = H5Tcopy(ft);
            if (H5Aread(a, mt, tmp) < 0) {
                rc = fail(f, e, MTRL_EINPUT, "cannot read attribute", name);
            } else {
                tmp[sz] = '\0'; /* NULLPAD/SPACEPAD strings need not end in 0 */
                size_t len = strlen(tmp);
                if (H5Tget_strpad(ft) == H5T_STR_SPACEPAD)
                    while (len > 0 && tmp[len - 1] == ' ')
                        tmp[--len] = '\0';
                if (len >= cap)
                    rc = err_set(e, MTRL_EINPUT,
                                 "%s: attribute '%s' on '%s' is %zu bytes, buffer holds %zu",
                                 f->path, name, on, len, cap - 1);
                else
                    memcpy(buf, tmp, len + 1);
            }
            H5Tclose(mt);
            free(tmp);
        }
    }
    H5Tclose(ft);
    H5Aclose(a);
    H5Oclose(o);
    H5Eclear2(H5E_DEFAULT);
    return rc;
}
