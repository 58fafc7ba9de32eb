/* spill_hdf5.h: spill objects to, and restore them from, one HDF5 file per rank. Pure I/O:
 * no MPI, no runtime state; the object store decides what to spill and when.
 *
 * File layout: "<dir>/spill-rank<rank>.h5"; one dataset per object in the root group, named
 * by the object ("obj-r3-s17-i1"), contiguous layout, with the object's shape (a scalar
 * dataspace for 0-d values) and the element type a scientist expects from h5py:
 *   i8..u64, f32, f64   the native integer / IEEE float types (H5T_STD_I64LE, ...)
 *   bool                enum {FALSE = 0, TRUE = 1} over int8, as h5py writes numpy bools
 *   c64, c128           compound {r, i} of f32 / f64, as h5py writes numpy complex
 *   bytes               uint8 with the value's shape (1-d for strings and serialized data)
 * and three variable-length UTF-8 string attributes: "object_id" (the name), "producer" (the
 * task function's name, or "put") and "rayc_dtype" (rayc_dtype_name: "i64", "bool", "bytes").
 * "rayc_dtype" tells u8 from bytes on restore; a dataset without it (written by another tool)
 * is described from its HDF5 type.
 *
 * Space: deleting an object unlinks its dataset. HDF5 reuses the freed space for later
 * datasets while the file stays open and shrinks the file when the freed block is at its end,
 * but it does not punch holes: space in the middle goes back to the file system only when the
 * file is removed, and the free-space list is forgotten when the file is closed (h5repack
 * would compact a kept file). A job with heavy spill churn therefore keeps a file about as
 * large as its peak live spill plus fragmentation; rayc__spill_get_stats reports both the
 * live bytes and the file size.
 *
 * Durability: every write and delete flushes HDF5's metadata (no fsync), so between calls
 * the file is a complete HDF5 file that h5dump or h5py can open. Data sits in the page cache
 * until the kernel writes it back; a removed file's dirty pages are never written.
 *
 * Threads: HDF5 1.10 serial is not thread-safe, and this library may not be the process's only
 * HDF5 user. Every call here takes one process-wide mutex (rayc__hdf5_lock), and any other rayc
 * module that calls HDF5 must hold it too. The runtime is still expected to serialize spill I/O
 * itself (one background I/O thread per rank, fed by a queue); the mutex is the safety net.
 * rayc__spill_close must not race with other calls on the same handle (it frees it).
 * While a call runs, HDF5's automatic error printing is switched off (and restored after), so
 * the library never prints an HDF5 error stack: errors come back as a status plus a message.
 *
 * Errors: every call returns RAYC__SPILL_OK or a negative status and, when err is not NULL,
 * writes a one-line message into err (errlen bytes, always NUL-terminated, truncated if long)
 * that names the file or object and, for HDF5 failures, HDF5's reason: the stack entry that
 * carries the OS error ("errno = 28, error message = 'No space left on device'") or else the
 * innermost one. No call aborts or prints. A failed write leaves no dataset behind. */
#ifndef RAYC_SPILL_HDF5_H
#define RAYC_SPILL_HDF5_H

#include <stddef.h>
#include <stdint.h>

#include <rayc/value.h>

enum rayc__spill_status {
    RAYC__SPILL_OK = 0,
    RAYC__SPILL_EIO = -1,    /* the file system or HDF5 failed (message says how) */
    RAYC__SPILL_ENOENT = -2, /* no object of that name is in the file */
    RAYC__SPILL_ENOSPC = -3, /* disk full, quota exceeded or file size limit (best effort: an
                                HDF5 failure whose OS error is ENOSPC, EDQUOT or EFBIG) */
    RAYC__SPILL_EINVAL = -4  /* bad argument: NULL, bad name, dtype, shape, a byte count that
                                does not match, or a name that is already in the file */
};

/* What to do with a file left at the path by an earlier process. */
enum rayc__spill_mode {
    RAYC__SPILL_FRESH = 0, /* remove it: start empty (a requeued job reusing a job dir) */
    RAYC__SPILL_REUSE = 1  /* open it and serve its objects (inspection, tests, restart) */
};

/* An open spill file. Opaque. */
typedef struct rayc__spill rayc__spill;

/* Object names: 1 to 255 characters from [A-Za-z0-9_.-], not starting with '.'. */
#define RAYC__SPILL_NAME_MAX 255

typedef struct rayc__spill_stats {
    uint64_t objects;       /* datasets in the file now */
    uint64_t live_bytes;    /* their stored data bytes (the sum of nbytes for rayc's own) */
    uint64_t file_bytes;    /* size of the HDF5 file (0 before the first write) */
    uint64_t bytes_written; /* data bytes written by this handle since open */
    uint64_t bytes_read;    /* data bytes read by this handle since open */
} rayc__spill_stats;

/* Open the spill file of rank in dir (an existing, writable directory; the job's private 0700
 * directory). The file itself is created by the first write, so ranks that never spill leave
 * no file; mode says what happens to a file already there (REUSE opens it now, so a damaged
 * file is reported here). On success *out is a new handle, closed by rayc__spill_close.
 * Returns OK; EINVAL (NULL, rank < 0, bad mode, path too long); EIO (dir missing, not a
 * directory or not writable; an old file that cannot be removed or, with REUSE, opened).
 * *out is set to NULL on error. */
int rayc__spill_open(rayc__spill **out, const char *dir, int rank, int mode, char *err,
                     size_t errlen);

/* Write one object as a new dataset called name. dtype, ndim (0..RAYC_MAX_NDIM) and shape
 * (ndim extents >= 0; may be NULL when ndim is 0) describe data, a row-major buffer of exactly
 * nbytes = product(shape) * rayc_dtype_size(dtype) bytes (NULL allowed when nbytes is 0). The
 * data is written straight from the caller's buffer (no copy, no conversion) and is borrowed
 * only for the call. producer names the task function or "put" (NULL is stored as "").
 * Returns OK; EINVAL (bad arguments, name already in the file); ENOSPC; EIO. */
int rayc__spill_write(rayc__spill *sp, const char *name, rayc_dtype dtype, int ndim,
                      const int64_t *shape, const void *data, size_t nbytes,
                      const char *producer, char *err, size_t errlen);

/* Describe object name: *dtype, *ndim, shape[0..*ndim) and *nbytes (its data size: the
 * buffer size rayc__spill_read needs). Any output pointer may be NULL; shape, when given, has
 * room for RAYC_MAX_NDIM extents. Returns OK; ENOENT; EINVAL (the dataset has a type or rank
 * rayc cannot represent); EIO. */
int rayc__spill_info(rayc__spill *sp, const char *name, rayc_dtype *dtype, int *ndim,
                     int64_t *shape, size_t *nbytes, char *err, size_t errlen);

/* Read object name into dst, which has exactly nbytes bytes (its size from
 * rayc__spill_info; dst may be NULL when that is 0). The object stays in the file.
 * Returns OK; ENOENT; EINVAL (nbytes differs from the object's size); EIO. */
int rayc__spill_read(rayc__spill *sp, const char *name, void *dst, size_t nbytes, char *err,
                     size_t errlen);

/* Remove object name from the file (see "Space" above: the file seldom shrinks).
 * Returns OK; ENOENT; EIO. */
int rayc__spill_delete(rayc__spill *sp, const char *name, char *err, size_t errlen);

/* Flush HDF5's caches again (writes and deletes already do; this retries after a failure).
 * OK before the first write (nothing to do). Returns OK, ENOSPC or EIO. */
int rayc__spill_flush(rayc__spill *sp, char *err, size_t errlen);

/* Counters and sizes (see rayc__spill_stats); all zero for a NULL sp. Never fails. */
void rayc__spill_get_stats(rayc__spill *sp, rayc__spill_stats *st);

/* Path of the spill file (whether or not it exists yet); "" for NULL. Borrowed from sp: valid
 * until close. */
const char *rayc__spill_path(const rayc__spill *sp);

/* Close the file and free sp; remove the file unless keep_file. NULL is harmless. sp is freed
 * even when an error is returned: OK, ENOSPC or EIO (the file could not be removed, or its
 * final flush failed). A file whose final flush fails (disk full) is incomplete, so it is
 * truncated and removed even with keep_file, which frees its space for the flush to finish.
 * If the flush fails even then, the HDF5 file is left open: HDF5 before 1.14.1 cannot close a
 * file after a failed flush (it frees the file but keeps its id; HDFGroup/hdf5 issue 2257) and
 * its exit handler then crashes the process with SIGSEGV, which is the known residual risk.
 * Since writes flush as they go, it takes a disk that stays full of other data, or a file size
 * limit (ulimit -f) below the file's size, through the close. */
int rayc__spill_close(rayc__spill *sp, int keep_file, char *err, size_t errlen);

/* The process-wide HDF5 mutex that every call above takes. A module that calls HDF5 directly
 * (checkpoints, result files) holds it around its HDF5 calls. Not recursive: never call a
 * rayc__spill_* function while holding it. */
void rayc__hdf5_lock(void);
void rayc__hdf5_unlock(void);

#endif /* RAYC_SPILL_HDF5_H */
