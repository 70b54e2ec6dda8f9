/* h5io: the project's only door to HDF5 (checkpoints, replay dumps, results).
 * Writes never touch the destination until they are complete: h5_create opens
 * "<path>.tmp-<pid>", h5_commit flushes, fsyncs and renames it over <path>, so
 * a crash or an abort leaves whatever good file was there before. Files use
 * standard little-endian types and row-major dims so h5py/pandas read them.
 * HDF5's own error printing is silenced; every failure becomes an mtrl_err
 * naming the file and the dataset or attribute. Every dataset written is
 * checksummed (a 64-bit digest in an attribute, or for small ones the object
 * header's checksum of the 1.10 file format), so a damaged file is refused on
 * read; every size read from a file is checked for overflow before anything
 * is allocated.
 * A missing, non-HDF5, truncated or damaged file is MTRL_EINPUT.
 * Depends on core/err.h and libhdf5 only. */
#ifndef MTRL_CORE_H5IO_H
#define MTRL_CORE_H5IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"

#define H5IO_MAX_RANK 4

typedef struct h5_file h5_file; /* opaque */

/* Opens "<path>.tmp-<pid>" for writing (truncating any stale one). */
int h5_create(h5_file **out, const char *path, mtrl_err *e);
/* Flushes, closes, fsyncs and renames the temp file over <path> (and fsyncs
 * the directory). Frees f whether it succeeds or not; on failure the temp
 * file is removed and the old <path> is untouched. */
int h5_commit(h5_file *f, mtrl_err *e);
/* Closes and deletes the temp file; frees f. NULL is a no-op. */
void h5_abort(h5_file *f);

/* Read-only; a missing, non-HDF5 or damaged file is an MTRL_EINPUT error
 * naming path. */
int h5_open(h5_file **out, const char *path, mtrl_err *e);
/* Closes a file from h5_open. On a file from h5_create it behaves like
 * h5_abort (nothing is committed). NULL is a no-op. */
void h5_close(h5_file *f);

/* 1 if a dataset or group called name (may contain '/') exists, else 0. */
int h5_has(h5_file *f, const char *name);

/* Creates group name and any missing parents (an existing group is fine),
 * e.g. to put attributes on it before any dataset exists. */
int h5_mkgroup(h5_file *f, const char *name, mtrl_err *e);

/* Datasets. Names may contain '/'; intermediate groups are created.
 * 0 <= rank <= H5IO_MAX_RANK (rank 0 is a scalar); dims[i] >= 0.
 * Writing a name that already exists is an error. */
int h5_write_f32(h5_file *f, const char *name, int rank, const long *dims,
                 const float *data, mtrl_err *e);
int h5_write_f64(h5_file *f, const char *name, int rank, const long *dims,
                 const double *data, mtrl_err *e);
int h5_write_i64(h5_file *f, const char *name, int rank, const long *dims,
                 const int64_t *data, mtrl_err *e);
int h5_write_u8(h5_file *f, const char *name, int rank, const long *dims,
                const uint8_t *data, mtrl_err *e);

/* Reads a whole dataset, converting to the requested type (HDF5 converts
 * between numeric types; a non-numeric dataset is an error). *rank receives
 * the rank and dims[0..rank) the shape: dims must hold H5IO_MAX_RANK longs.
 * *data is malloc'd (caller frees; for an empty dataset a 1-byte block). */
int h5_read_f32(h5_file *f, const char *name, int *rank, long *dims, float **data,
                mtrl_err *e);
int h5_read_f64(h5_file *f, const char *name, int *rank, long *dims, double **data,
                mtrl_err *e);
int h5_read_i64(h5_file *f, const char *name, int *rank, long *dims, int64_t **data,
                mtrl_err *e);
int h5_read_u8(h5_file *f, const char *name, int *rank, long *dims, uint8_t **data,
               mtrl_err *e);

/* Reads into a caller buffer of count elements; count must equal the
 * dataset's element count (the error names dataset, expected and actual shape). */
int h5_read_f32_into(h5_file *f, const char *name, long count, float *buf, mtrl_err *e);
int h5_read_f64_into(h5_file *f, const char *name, long count, double *buf, mtrl_err *e);
int h5_read_i64_into(h5_file *f, const char *name, long count, int64_t *buf, mtrl_err *e);
int h5_read_u8_into(h5_file *f, const char *name, long count, uint8_t *buf, mtrl_err *e);

/* Attributes on the root (obj NULL or "/") or on a named group/dataset.
 * Writing an existing attribute replaces it. Strings are fixed-length,
 * null-terminated ASCII/UTF-8 (h5py reads them as bytes/str). */
int h5_write_attr_str(h5_file *f, const char *obj, const char *name, const char *value,
                      mtrl_err *e);
int h5_write_attr_i64(h5_file *f, const char *obj, const char *name, int64_t value,
                      mtrl_err *e);
int h5_write_attr_f64(h5_file *f, const char *obj, const char *name, double value,
                      mtrl_err *e);
/* A string longer than cap-1 is an error (not silently truncated). */
int h5_read_attr_str(h5_file *f, const char *obj, const char *name, char *buf, size_t cap,
                     mtrl_err *e);
int h5_read_attr_i64(h5_file *f, const char *obj, const char *name, int64_t *out,
                     mtrl_err *e);
int h5_read_attr_f64(h5_file *f, const char *obj, const char *name, double *out,
                     mtrl_err *e);

/* Where HDF5's own error stack goes when a call fails (NULL, the default:
 * nowhere; the error message has its innermost line). For --verbose. */
void h5_set_error_stream(FILE *stream);

/* The path the caller gave (the final path, not the temp file). */
const char *h5_path(const h5_file *f);

#endif
