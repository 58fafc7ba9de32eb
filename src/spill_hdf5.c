/* spill_hdf5.c: one HDF5 file per rank, one dataset per spilled object (see spill_hdf5.h).
 *
 * Every public call runs as: validate arguments (no HDF5, no lock) -> h5_enter (take the
 * process-wide HDF5 mutex, save the current automatic error handler and switch it off) ->
 * HDF5 work, where each failure is turned into a status and message by h5_fail, which walks
 * and then clears the HDF5 error stack -> h5_leave (restore the handler, clear the stack,
 * unlock). So HDF5 never prints, a failure never leaks into the next call's message, and an
 * application that uses HDF5 itself keeps its own error handler.
 *
 * Writes go straight from the caller's buffer: the memory type equals the file type, the
 * layout is contiguous and no fill value is written, so H5Dwrite is one pwrite() of the
 * payload. Each write and delete then flushes HDF5's metadata (a few small pwrites, no fsync):
 * the file on disk is always a complete HDF5 file, and a full disk fails the write that
 * filled it instead of the final close, which HDF5 1.10 cannot survive (see close_file).
 *
 * Names are restricted to [A-Za-z0-9_.-] so that a name is always a single link in the root
 * group (no '/' paths, no "." or ".."), and H5Lexists can tell "missing" from "broken". */
#include "spill_hdf5.h"

#include <errno.h>
#include <hdf5.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct rayc__spill {
    char path[PATH_MAX];
    hid_t file; /* H5I_INVALID_HID until the first write (or a REUSE open) */
    uint64_t objects, live_bytes, bytes_written, bytes_read;
};

/* What one object looks like. */
typedef struct desc {
    rayc_dtype dtype;
    int ndim;
    int64_t shape[RAYC_MAX_NDIM];
    size_t nbytes;
} desc;

/* Same names as rayc_dtype_name() in value.c: they are the spill format. */
static const struct {
    const char *name;
    size_t size;
} dtype_info[RAYC_NUM_DTYPES] = {
    [RAYC_BOOL] = {"bool", 1}, [RAYC_I8] = {"i8", 1},     [RAYC_I16] = {"i16", 2},
    [RAYC_I32] = {"i32", 4},   [RAYC_I64] = {"i64", 8},   [RAYC_U8] = {"u8", 1},
    [RAYC_U16] = {"u16", 2},   [RAYC_U32] = {"u32", 4},   [RAYC_U64] = {"u64", 8},
    [RAYC_F32] = {"f32", 4},   [RAYC_F64] = {"f64", 8},   [RAYC_C64] = {"c64", 8},
    [RAYC_C128] = {"c128", 16}, [RAYC_BYTES] = {"bytes", 1},
};

static pthread_mutex_t hdf5_mutex = PTHREAD_MUTEX_INITIALIZER;

void rayc__hdf5_lock(void) { pthread_mutex_lock(&hdf5_mutex); }
void rayc__hdf5_unlock(void) { pthread_mutex_unlock(&hdf5_mutex); }

/* ---- errors ---------------------------------------------------------------------------- */

static int set_err(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int set_err(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* What the HDF5 error stack says: the entry that carries the OS error ("errno = 28, error
 * message = 'No space left on device'") if one does, else the innermost entry. */
typedef struct h5why {
    char inner[512];
    int os_errno;
} h5why;

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    h5why *w = data;
    const char *d = e->desc ? e->desc : "";
    const char *p = strstr(d, "errno = ");
    if (w->os_errno)
        return 0; /* keep the OS reason */
    snprintf(w->inner, sizeof w->inner, "%s (%s)", d, e->func_name ? e->func_name : "?");
    for (char *c = w->inner; *c; c++) /* one line: HDF5 embeds ctime()'s newline */
        if (*c == '\n' || *c == '\r' || *c == '\t')
            *c = ' ';
    if (p)
        w->os_errno = atoi(p + strlen("errno = "));
    return 0;
}

/* Format "<context>: <HDF5 reason>" into err, clear the HDF5 stack and return the status:
 * RAYC__SPILL_ENOSPC when the OS said the disk or a limit is full, else code. */
static int h5_fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int h5_fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    h5why w = {"no HDF5 error recorded", 0};
    char ctx[PATH_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, &w);
    H5Eclear2(H5E_DEFAULT);
    if (w.os_errno == ENOSPC || w.os_errno == EDQUOT || w.os_errno == EFBIG)
        code = RAYC__SPILL_ENOSPC;
    return set_err(err, errlen, code, "%s: %s", ctx, w.inner);
}

/* ---- entering and leaving HDF5 --------------------------------------------------------- */

typedef struct h5ctx {
    H5E_auto2_t func;
    void *data;
} h5ctx;

static void h5_enter(h5ctx *c)
{
    rayc__hdf5_lock();
    c->func = NULL;
    c->data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &c->func, &c->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void h5_leave(const h5ctx *c)
{
    H5Eclear2(H5E_DEFAULT);
    H5Eset_auto2(H5E_DEFAULT, c->func, c->data);
    rayc__hdf5_unlock();
}

static void close_id(hid_t id, herr_t (*fn)(hid_t))
{
    if (id >= 0)
        fn(id);
}

/* ---- argument checks (no HDF5) --------------------------------------------------------- */

static int check_name(const char *name, char *err, size_t errlen)
{
    if (!name || !*name)
        return set_err(err, errlen, RAYC__SPILL_EINVAL, "spill: empty object name");
    size_t n = strlen(name);
    if (n > RAYC__SPILL_NAME_MAX || name[0] == '.')
        return set_err(err, errlen, RAYC__SPILL_EINVAL, "spill: bad object name '%.64s'", name);
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                 (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
        if (!ok)
            return set_err(err, errlen, RAYC__SPILL_EINVAL,
                           "spill: object name '%.64s' has a character outside [A-Za-z0-9_.-]",
                           name);
    }
    return RAYC__SPILL_OK;
}

/* Fill d from (dtype, ndim, shape) and check that nbytes and data agree with it. */
static int check_value(desc *d, rayc_dtype dtype, int ndim, const int64_t *shape,
                       const void *data, size_t nbytes, char *err, size_t errlen)
{
    if ((int)dtype < 0 || (int)dtype >= RAYC_NUM_DTYPES)
        return set_err(err, errlen, RAYC__SPILL_EINVAL, "spill: unknown dtype %d", (int)dtype);
    if (ndim < 0 || ndim > RAYC_MAX_NDIM || (ndim > 0 && !shape))
        return set_err(err, errlen, RAYC__SPILL_EINVAL, "spill: bad ndim %d", ndim);
    size_t count = 1, size = dtype_info[dtype].size;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return set_err(err, errlen, RAYC__SPILL_EINVAL, "spill: negative extent");
        if (shape[i] > 0 && count > SIZE_MAX / size / (uint64_t)shape[i])
            return set_err(err, errlen, RAYC__SPILL_EINVAL, "spill: shape overflows size_t");
        count *= (size_t)shape[i];
        d->shape[i] = shape[i];
    }
    if (count * size != nbytes)
        return set_err(err, errlen, RAYC__SPILL_EINVAL,
                       "spill: nbytes %zu does not match shape and dtype (%zu)", nbytes,
                       count * size);
    if (nbytes > 0 && !data)
        return set_err(err, errlen, RAYC__SPILL_EINVAL, "spill: NULL data");
    d->dtype = dtype;
    d->ndim = ndim;
    d->nbytes = nbytes;
    return RAYC__SPILL_OK;
}

/* ---- types and dataspaces -------------------------------------------------------------- */

/* h5py's bool: enum over int8 with FALSE = 0, TRUE = 1. */
static hid_t bool_type(void)
{
    hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
    int8_t f = 0, tr = 1;
    if (t >= 0 && (H5Tenum_insert(t, "FALSE", &f) < 0 || H5Tenum_insert(t, "TRUE", &tr) < 0)) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

/* h5py's complex: compound {r, i} of the float type part, each part_size bytes. */
static hid_t complex_type(hid_t part, size_t part_size)
{
    hid_t t = H5Tcreate(H5T_COMPOUND, 2 * part_size);
    if (t >= 0 && (H5Tinsert(t, "r", 0, part) < 0 || H5Tinsert(t, "i", part_size, part) < 0)) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

/* A new HDF5 type id for dtype (memory and file type alike); the caller closes it. */
static hid_t dtype_h5type(rayc_dtype dtype)
{
    switch (dtype) {
    case RAYC_BOOL: return bool_type();
    case RAYC_I8: return H5Tcopy(H5T_NATIVE_INT8);
    case RAYC_I16: return H5Tcopy(H5T_NATIVE_INT16);
    case RAYC_I32: return H5Tcopy(H5T_NATIVE_INT32);
    case RAYC_I64: return H5Tcopy(H5T_NATIVE_INT64);
    case RAYC_U8: return H5Tcopy(H5T_NATIVE_UINT8);
    case RAYC_U16: return H5Tcopy(H5T_NATIVE_UINT16);
    case RAYC_U32: return H5Tcopy(H5T_NATIVE_UINT32);
    case RAYC_U64: return H5Tcopy(H5T_NATIVE_UINT64);
    case RAYC_F32: return H5Tcopy(H5T_NATIVE_FLOAT);
    case RAYC_F64: return H5Tcopy(H5T_NATIVE_DOUBLE);
    case RAYC_C64: return complex_type(H5T_NATIVE_FLOAT, sizeof(float));
    case RAYC_C128: return complex_type(H5T_NATIVE_DOUBLE, sizeof(double));
    case RAYC_BYTES: return H5Tcopy(H5T_NATIVE_UINT8);
    }
    return H5I_INVALID_HID;
}

/* The dtype of a dataset without a "rayc_dtype" attribute, from its HDF5 type; -1 if none. */
static int dtype_from_h5type(hid_t t)
{
    size_t size = H5Tget_size(t);
    switch (H5Tget_class(t)) {
    case H5T_INTEGER: {
        int s = H5Tget_sign(t) == H5T_SGN_2;
        static const int bits[4][2] = {{RAYC_U8, RAYC_I8},
                                       {RAYC_U16, RAYC_I16},
                                       {RAYC_U32, RAYC_I32},
                                       {RAYC_U64, RAYC_I64}};
        return size == 1 ? bits[0][s] : size == 2 ? bits[1][s] : size == 4 ? bits[2][s]
             : size == 8 ? bits[3][s] : -1;
    }
    case H5T_FLOAT: return size == 4 ? RAYC_F32 : size == 8 ? RAYC_F64 : -1;
    case H5T_ENUM: return size == 1 ? RAYC_BOOL : -1;
    case H5T_COMPOUND:
        if (H5Tget_nmembers(t) != 2 || H5Tget_member_class(t, 0) != H5T_FLOAT ||
            H5Tget_member_class(t, 1) != H5T_FLOAT || H5Tget_member_index(t, "r") != 0 ||
            H5Tget_member_index(t, "i") != 1)
            return -1; /* reading converts members by name: only h5py's {r, i} will do */
        return size == 8 ? RAYC_C64 : size == 16 ? RAYC_C128 : -1;
    default: return -1;
    }
}

static hid_t make_space(const desc *d)
{
    hsize_t dims[RAYC_MAX_NDIM];
    if (d->ndim == 0)
        return H5Screate(H5S_SCALAR);
    for (int i = 0; i < d->ndim; i++)
        dims[i] = (hsize_t)d->shape[i];
    return H5Screate_simple(d->ndim, dims, NULL);
}

/* ---- attributes ------------------------------------------------------------------------ */

static hid_t vlen_string_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0)) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

static herr_t put_string_attr(hid_t obj, const char *key, const char *val)
{
    herr_t rc = -1;
    hid_t t = vlen_string_type(), s = H5Screate(H5S_SCALAR), a = H5I_INVALID_HID;
    if (t >= 0 && s >= 0)
        a = H5Acreate2(obj, key, t, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0)
        rc = H5Awrite(a, t, &val);
    close_id(a, H5Aclose);
    close_id(s, H5Sclose);
    close_id(t, H5Tclose);
    return rc;
}

/* The dtype named by the "rayc_dtype" attribute; -1 when absent or unknown. */
static int get_dtype_attr(hid_t dset)
{
    int dtype = -1;
    char *val = NULL;
    if (H5Aexists(dset, "rayc_dtype") <= 0)
        return -1;
    hid_t t = vlen_string_type(), a = H5Aopen(dset, "rayc_dtype", H5P_DEFAULT);
    if (t >= 0 && a >= 0 && H5Aread(a, t, &val) >= 0 && val) {
        for (int i = 0; i < RAYC_NUM_DTYPES; i++)
            if (strcmp(val, dtype_info[i].name) == 0)
                dtype = i;
        H5free_memory(val);
    }
    close_id(a, H5Aclose);
    close_id(t, H5Tclose);
    return dtype;
}

/* ---- objects --------------------------------------------------------------------------- */

/* Fill d from an open dataset: dtype from the "rayc_dtype" attribute, else from its type. */
static int describe(hid_t dset, const char *name, desc *d, char *err, size_t errlen)
{
    int rc = RAYC__SPILL_OK;
    hsize_t dims[RAYC_MAX_NDIM];
    hid_t space = H5Dget_space(dset), type = H5Dget_type(dset);
    if (space < 0 || type < 0) {
        rc = h5_fail(err, errlen, RAYC__SPILL_EIO, "spill: cannot inspect object %s", name);
        goto close_ids;
    }
    int dtype = get_dtype_attr(dset);
    if (dtype < 0)
        dtype = dtype_from_h5type(type);
    int ndim = H5Sget_simple_extent_ndims(space);
    if (dtype < 0 || ndim < 0 || ndim > RAYC_MAX_NDIM ||
        H5Sget_simple_extent_type(space) == H5S_NULL ||
        H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
        rc = set_err(err, errlen, RAYC__SPILL_EINVAL,
                     "spill: object %s has an HDF5 type or shape rayc cannot represent", name);
        goto close_ids;
    }
    size_t count = 1, size = dtype_info[dtype].size;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] > 0 && count > SIZE_MAX / size / dims[i]) {
            rc = set_err(err, errlen, RAYC__SPILL_EINVAL, "spill: object %s is too big", name);
            goto close_ids;
        }
        count *= (size_t)dims[i];
        d->shape[i] = (int64_t)dims[i];
    }
    d->dtype = (rayc_dtype)dtype;
    d->ndim = ndim;
    d->nbytes = count * size;
close_ids:
    close_id(type, H5Tclose);
    close_id(space, H5Sclose);
    return rc;
}

/* Open dataset name: OK with *dset, ENOENT when there is no such link, EIO. */
/* Open dataset name (checked first) for reading or deleting. Caller holds the HDF5 lock. */
static int open_object(rayc__spill *sp, const char *name, hid_t *dset, char *err,
                       size_t errlen)
{
    int rc = check_name(name, err, errlen);
    if (rc != RAYC__SPILL_OK)
        return rc;
    htri_t exists = sp->file < 0 ? 0 : H5Lexists(sp->file, name, H5P_DEFAULT);
    if (exists < 0)
        return h5_fail(err, errlen, RAYC__SPILL_EIO, "spill: cannot look up %s in %s", name,
                       sp->path);
    if (exists == 0)
        return set_err(err, errlen, RAYC__SPILL_ENOENT, "spill: no object %s in %s", name,
                       sp->path);
    *dset = H5Dopen2(sp->file, name, H5P_DEFAULT);
    if (*dset < 0)
        return h5_fail(err, errlen, RAYC__SPILL_EIO, "spill: cannot open object %s in %s", name,
                       sp->path);
    return RAYC__SPILL_OK;
}

static int create_file(rayc__spill *sp, char *err, size_t errlen)
{
    if (sp->file >= 0)
        return RAYC__SPILL_OK;
    sp->file = H5Fcreate(sp->path, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    if (sp->file < 0)
        return h5_fail(err, errlen, RAYC__SPILL_EIO, "spill: cannot create %s", sp->path);
    return RAYC__SPILL_OK;
}

/* Create dataset name as d describes, write data, attach the attributes. On failure the
 * dataset is unlinked again. */
static int write_dataset(rayc__spill *sp, const char *name, const desc *d, const void *data,
                         const char *producer, char *err, size_t errlen)
{
    int rc = RAYC__SPILL_OK;
    hid_t dset = H5I_INVALID_HID, type = dtype_h5type(d->dtype), space = make_space(d);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (type < 0 || space < 0 || dcpl < 0 || H5Pset_layout(dcpl, H5D_CONTIGUOUS) < 0 ||
        H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0) {
        rc = h5_fail(err, errlen, RAYC__SPILL_EIO, "spill: cannot describe object %s", name);
        goto close_ids;
    }
    dset = H5Dcreate2(sp->file, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dset < 0) {
        rc = h5_fail(err, errlen, RAYC__SPILL_EIO, "spill: cannot create object %s in %s", name,
                     sp->path);
        goto close_ids;
    }
    if (d->nbytes > 0 && H5Dwrite(dset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        rc = h5_fail(err, errlen, RAYC__SPILL_EIO, "spill: writing object %s (%zu bytes) to %s",
                     name, d->nbytes, sp->path);
    else if (put_string_attr(dset, "object_id", name) < 0 ||
             put_string_attr(dset, "producer", producer) < 0 ||
             put_string_attr(dset, "rayc_dtype", dtype_info[d->dtype].name) < 0)
        rc = h5_fail(err, errlen, RAYC__SPILL_EIO, "spill: writing attributes of object %s",
                     name);
    if (H5Dclose(dset) < 0 && rc == RAYC__SPILL_OK)
        rc = h5_fail(err, errlen, RAYC__SPILL_EIO, "spill: closing object %s", name);
    if (rc != RAYC__SPILL_OK)
        H5Ldelete(sp->file, name, H5P_DEFAULT); /* leave no partial object behind */
close_ids:
    close_id(dcpl, H5Pclose);
    close_id(space, H5Sclose);
    close_id(type, H5Tclose);
    return rc;
}

/* Flush HDF5's metadata. HDF5 1.10 leaves its cache half-prepared when a flush fails, and the
 * next flush then reports a stale error ("slist already enabled?") although it wrote
 * everything and repaired the state. So a failure is retried twice: any success means all is
 * on disk and the cache is sane again. The message, when err is given, is the first failure
 * that is not the stale one (the OS reason), else the first failure. */
static int flush_file(rayc__spill *sp, const char *what, char *err, size_t errlen)
{
    int rc = RAYC__SPILL_OK, have_real = 0;
    char msg[1024] = "";
    for (int attempt = 0; attempt < 3; attempt++) {
        if (H5Fflush(sp->file, H5F_SCOPE_LOCAL) >= 0)
            return RAYC__SPILL_OK;
        if (have_real) {
            H5Eclear2(H5E_DEFAULT);
            continue;
        }
        rc = h5_fail(msg, sizeof msg, RAYC__SPILL_EIO, "spill: flushing %s %s", sp->path, what);
        have_real = strstr(msg, "slist already enabled") == NULL;
        if (attempt == 0 || have_real)
            set_err(err, errlen, rc, "%s", msg);
    }
    return rc;
}

/* Flush the metadata of a new object so that a full disk fails this write, not the close
 * (see close_file). On failure the object is unlinked again. */
static int commit(rayc__spill *sp, const char *name, char *err, size_t errlen)
{
    char what[RAYC__SPILL_NAME_MAX + 32];
    snprintf(what, sizeof what, "after writing object %s", name);
    int rc = flush_file(sp, what, err, errlen);
    if (rc != RAYC__SPILL_OK) {
        H5Ldelete(sp->file, name, H5P_DEFAULT);
        flush_file(sp, "", NULL, 0); /* best effort; later calls and close_file retry */
    }
    return rc;
}

/* ---- API ------------------------------------------------------------------------------- */

int rayc__spill_write(rayc__spill *sp, const char *name, rayc_dtype dtype, int ndim,
                      const int64_t *shape, const void *data, size_t nbytes,
                      const char *producer, char *err, size_t errlen)
{
    desc d = {.ndim = 0};
    h5ctx c;
    if (!sp)
        return set_err(err, errlen, RAYC__SPILL_EINVAL, "spill: NULL handle");
    int rc = check_name(name, err, errlen);
    if (rc == RAYC__SPILL_OK)
        rc = check_value(&d, dtype, ndim, shape, data, nbytes, err, errlen);
    if (rc != RAYC__SPILL_OK)
        return rc;
    h5_enter(&c);
    rc = create_file(sp, err, errlen);
    if (rc == RAYC__SPILL_OK) {
        htri_t exists = H5Lexists(sp->file, name, H5P_DEFAULT);
        if (exists < 0)
            rc = h5_fail(err, errlen, RAYC__SPILL_EIO, "spill: cannot look up %s", name);
        else if (exists > 0)
            rc = set_err(err, errlen, RAYC__SPILL_EINVAL, "spill: object %s is already in %s",
                         name, sp->path);
    }
    if (rc == RAYC__SPILL_OK)
        rc = write_dataset(sp, name, &d, data, producer ? producer : "", err, errlen);
    if (rc == RAYC__SPILL_OK)
        rc = commit(sp, name, err, errlen);
    if (rc == RAYC__SPILL_OK) {
        sp->objects++;
        sp->live_bytes += nbytes;
        sp->bytes_written += nbytes;
    }
    h5_leave(&c);
    return rc;
}

int rayc__spill_info(rayc__spill *sp, const char *name, rayc_dtype *dtype, int *ndim,
                     int64_t *shape, size_t *nbytes, char *err, size_t errlen)
{
    desc d;
    h5ctx c;
    hid_t dset = H5I_INVALID_HID;
    if (!sp)
        return set_err(err, errlen, RAYC__SPILL_EINVAL, "spill: NULL handle");
    h5_enter(&c);
    int rc = open_object(sp, name, &dset, err, errlen);
    if (rc == RAYC__SPILL_OK)
        rc = describe(dset, name, &d, err, errlen);
    close_id(dset, H5Dclose);
    h5_leave(&c);
    if (rc != RAYC__SPILL_OK)
        return rc;
    if (dtype)
        *dtype = d.dtype;
    if (ndim)
        *ndim = d.ndim;
    if (shape)
        memcpy(shape, d.shape, (size_t)d.ndim * sizeof *shape);
    if (nbytes)
        *nbytes = d.nbytes;
    return RAYC__SPILL_OK;
}

int rayc__spill_read(rayc__spill *sp, const char *name, void *dst, size_t nbytes, char *err,
                     size_t errlen)
{
    desc d;
    h5ctx c;
    hid_t dset = H5I_INVALID_HID, type = H5I_INVALID_HID;
    if (!sp || (nbytes > 0 && !dst))
        return set_err(err, errlen, RAYC__SPILL_EINVAL, "spill: NULL handle or buffer");
    h5_enter(&c);
    int rc = open_object(sp, name, &dset, err, errlen);
    if (rc == RAYC__SPILL_OK)
        rc = describe(dset, name, &d, err, errlen);
    if (rc == RAYC__SPILL_OK && d.nbytes != nbytes)
        rc = set_err(err, errlen, RAYC__SPILL_EINVAL, "spill: object %s has %zu bytes, not %zu",
                     name, d.nbytes, nbytes);
    if (rc == RAYC__SPILL_OK && nbytes > 0) {
        type = dtype_h5type(d.dtype);
        if (type < 0 || H5Dread(dset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0)
            rc = h5_fail(err, errlen, RAYC__SPILL_EIO, "spill: reading object %s from %s", name,
                         sp->path);
    }
    if (rc == RAYC__SPILL_OK)
        sp->bytes_read += nbytes;
    close_id(type, H5Tclose);
    close_id(dset, H5Dclose);
    h5_leave(&c);
    return rc;
}

int rayc__spill_delete(rayc__spill *sp, const char *name, char *err, size_t errlen)
{
    h5ctx c;
    hid_t dset = H5I_INVALID_HID;
    if (!sp)
        return set_err(err, errlen, RAYC__SPILL_EINVAL, "spill: NULL handle");
    h5_enter(&c);
    int rc = open_object(sp, name, &dset, err, errlen);
    if (rc == RAYC__SPILL_OK) {
        hsize_t bytes = H5Dget_storage_size(dset);
        H5Dclose(dset);
        if (H5Ldelete(sp->file, name, H5P_DEFAULT) < 0) {
            rc = h5_fail(err, errlen, RAYC__SPILL_EIO, "spill: cannot delete object %s from %s",
                         name, sp->path);
        } else {
            sp->objects--;
            sp->live_bytes -= bytes;
            flush_file(sp, "", NULL, 0); /* best effort: the next write or close retries */
        }
    }
    h5_leave(&c);
    return rc;
}

int rayc__spill_flush(rayc__spill *sp, char *err, size_t errlen)
{
    h5ctx c;
    int rc = RAYC__SPILL_OK;
    if (!sp)
        return set_err(err, errlen, RAYC__SPILL_EINVAL, "spill: NULL handle");
    h5_enter(&c);
    if (sp->file >= 0)
        rc = flush_file(sp, "", err, errlen);
    h5_leave(&c);
    return rc;
}

void rayc__spill_get_stats(rayc__spill *sp, rayc__spill_stats *st)
{
    h5ctx c;
    hsize_t size = 0;
    memset(st, 0, sizeof *st);
    if (!sp)
        return;
    h5_enter(&c);
    if (sp->file >= 0 && H5Fget_filesize(sp->file, &size) < 0)
        size = 0;
    st->objects = sp->objects;
    st->live_bytes = sp->live_bytes;
    st->file_bytes = size;
    st->bytes_written = sp->bytes_written;
    st->bytes_read = sp->bytes_read;
    h5_leave(&c);
}

const char *rayc__spill_path(const rayc__spill *sp) { return sp ? sp->path : ""; }

/* ---- open and close -------------------------------------------------------------------- */

static int check_dir(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return set_err(err, errlen, RAYC__SPILL_EIO, "spill: directory %s: %s", dir,
                       strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return set_err(err, errlen, RAYC__SPILL_EIO, "spill: %s is not a directory", dir);
    if (access(dir, W_OK | X_OK) != 0)
        return set_err(err, errlen, RAYC__SPILL_EIO, "spill: directory %s is not writable: %s",
                       dir, strerror(errno));
    return RAYC__SPILL_OK;
}

/* Count the datasets of a reused file and their storage. */
#if H5_VERSION_GE(1, 12, 0)
static herr_t count_cb(hid_t group, const char *name, const H5L_info2_t *info, void *data)
#else
static herr_t count_cb(hid_t group, const char *name, const H5L_info_t *info, void *data)
#endif
{
    rayc__spill *sp = data;
    hid_t dset = info->type == H5L_TYPE_HARD ? H5Dopen2(group, name, H5P_DEFAULT) : -1;
    if (dset >= 0) { /* other objects (groups, types) are not rayc's: skip them */
        sp->objects++;
        sp->live_bytes += H5Dget_storage_size(dset);
        H5Dclose(dset);
    }
    return 0;
}

static int reuse_file(rayc__spill *sp, char *err, size_t errlen)
{
    sp->file = H5Fopen(sp->path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (sp->file < 0)
        return h5_fail(err, errlen, RAYC__SPILL_EIO, "spill: cannot open %s", sp->path);
#if H5_VERSION_GE(1, 12, 0)
    herr_t rc = H5Literate2(sp->file, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, count_cb, sp);
#else
    herr_t rc = H5Literate(sp->file, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, count_cb, sp);
#endif
    if (rc < 0)
        return h5_fail(err, errlen, RAYC__SPILL_EIO, "spill: cannot list %s", sp->path);
    return RAYC__SPILL_OK;
}

int rayc__spill_open(rayc__spill **out, const char *dir, int rank, int mode, char *err,
                     size_t errlen)
{
    h5ctx c;
    if (out)
        *out = NULL;
    if (!out || !dir || rank < 0 || (mode != RAYC__SPILL_FRESH && mode != RAYC__SPILL_REUSE))
        return set_err(err, errlen, RAYC__SPILL_EINVAL, "spill: bad open arguments");
    int rc = check_dir(dir, err, errlen);
    if (rc != RAYC__SPILL_OK)
        return rc;
    rayc__spill *sp = calloc(1, sizeof *sp);
    if (!sp)
        return set_err(err, errlen, RAYC__SPILL_EIO, "spill: out of memory");
    sp->file = H5I_INVALID_HID;
    int n = snprintf(sp->path, sizeof sp->path, "%s/spill-rank%d.h5", dir, rank);
    if (n < 0 || (size_t)n >= sizeof sp->path)
        rc = set_err(err, errlen, RAYC__SPILL_EINVAL, "spill: directory path too long");
    else if (mode == RAYC__SPILL_FRESH && unlink(sp->path) != 0 && errno != ENOENT)
        rc = set_err(err, errlen, RAYC__SPILL_EIO, "spill: cannot remove old %s: %s", sp->path,
                     strerror(errno));
    else if (mode == RAYC__SPILL_REUSE && access(sp->path, F_OK) == 0) {
        h5_enter(&c);
        rc = reuse_file(sp, err, errlen);
        if (rc != RAYC__SPILL_OK && sp->file >= 0)
            H5Fclose(sp->file);
        h5_leave(&c);
    }
    if (rc != RAYC__SPILL_OK) {
        free(sp);
        return rc;
    }
    *out = sp;
    return RAYC__SPILL_OK;
}

/* Close the HDF5 file, flushing first. HDF5 before 1.14.1 frees a file whose H5Fclose fails
 * in its final flush but keeps its id, and its exit handler then closes the freed file again
 * and crashes (HDFGroup/hdf5 issue 2257, CVE-2020-10812). So H5Fclose is called only after a
 * flush succeeded. When the flush fails (a full disk), the file cannot be completed and is of
 * no use even if it was to be kept: truncating it gives its blocks back so that the flush (a
 * few KiB of metadata into a now sparse file) can succeed, and *discard tells the caller to
 * remove it. If even that fails (the disk is full of other data, or a file size limit), the
 * file is left open and HDF5 retries at exit. */
static int close_file(rayc__spill *sp, int *discard, char *err, size_t errlen)
{
    int rc = flush_file(sp, "before closing it", err, errlen);
    if (rc != RAYC__SPILL_OK) {
        if (truncate(sp->path, 0) != 0 || flush_file(sp, "", NULL, 0) != RAYC__SPILL_OK)
            return rc; /* left open, see above */
        *discard = 1;
    }
    if (H5Fclose(sp->file) < 0 && rc == RAYC__SPILL_OK)
        rc = h5_fail(err, errlen, RAYC__SPILL_EIO, "spill: closing %s", sp->path);
    return rc;
}

int rayc__spill_close(rayc__spill *sp, int keep_file, char *err, size_t errlen)
{
    h5ctx c;
    int rc = RAYC__SPILL_OK, discard = !keep_file;
    if (!sp)
        return RAYC__SPILL_OK;
    if (sp->file >= 0) {
        h5_enter(&c);
        rc = close_file(sp, &discard, err, errlen);
        h5_leave(&c);
    }
    if (discard && unlink(sp->path) != 0 && errno != ENOENT && rc == RAYC__SPILL_OK)
        rc = set_err(err, errlen, RAYC__SPILL_EIO, "spill: cannot remove %s: %s", sp->path,
                     strerror(errno));
    free(sp);
    return rc;
}
