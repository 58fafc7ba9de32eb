/* value.c: typed n-d array values (rayc/value.h) and the argument builders of rayc.h.
 *
 * A value is immutable after publication; threads share it by reference count (the count is
 * atomic, the contents need no lock). Data is 64-byte aligned. */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status_int.h"
#include "value_int.h"
#include "value_pool.h"

#define VALUE_ALIGN 64

static const struct {
    const char *name;
    size_t size;
} dtypes[RAYC_NUM_DTYPES] = {
    [RAYC_BOOL] = {"bool", 1}, [RAYC_I8] = {"i8", 1},     [RAYC_I16] = {"i16", 2},
    [RAYC_I32] = {"i32", 4},   [RAYC_I64] = {"i64", 8},   [RAYC_U8] = {"u8", 1},
    [RAYC_U16] = {"u16", 2},   [RAYC_U32] = {"u32", 4},   [RAYC_U64] = {"u64", 8},
    [RAYC_F32] = {"f32", 4},   [RAYC_F64] = {"f64", 8},   [RAYC_C64] = {"c64", 8},
    [RAYC_C128] = {"c128", 16}, [RAYC_BYTES] = {"bytes", 1},
};

size_t rayc_dtype_size(rayc_dtype dtype)
{
    return (unsigned)dtype < RAYC_NUM_DTYPES ? dtypes[dtype].size : 0;
}

const char *rayc_dtype_name(rayc_dtype dtype)
{
    return (unsigned)dtype < RAYC_NUM_DTYPES ? dtypes[dtype].name : "?";
}

int rayc__dtype_parse(const char *s, size_t len)
{
    for (int i = 0; i < RAYC_NUM_DTYPES; i++)
        if (strlen(dtypes[i].name) == len && strncmp(dtypes[i].name, s, len) == 0)
            return i;
    return -1;
}

int rayc__vhdr_make(rayc__vhdr *h, rayc_dtype dtype, int ndim, const int64_t *shape)
{
    if ((unsigned)dtype >= RAYC_NUM_DTYPES)
        return rayc__fail(RAYC_EINVAL, "unknown dtype %d", (int)dtype);
    if (ndim < 0 || ndim > RAYC_MAX_NDIM)
        return rayc__fail(RAYC_EINVAL, "ndim %d out of range 0..%d", ndim, RAYC_MAX_NDIM);
    if (ndim > 0 && !shape)
        return rayc__fail(RAYC_EINVAL, "NULL shape for a %d-d value", ndim);
    memset(h, 0, sizeof *h);
    h->dtype = (uint8_t)dtype;
    h->ndim = (uint8_t)ndim;
    uint64_t n = dtypes[dtype].size;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return rayc__fail(RAYC_EINVAL, "negative extent %" PRId64 " in dimension %d",
                              shape[i], i);
        h->shape[i] = shape[i];
        if (shape[i] && n > UINT64_MAX / 2 / (uint64_t)shape[i])
            return rayc__fail(RAYC_ETOOBIG, "value size overflows");
        n *= (uint64_t)shape[i];
    }
    h->nbytes = n;
    return 0;
}

static size_t header_size(void)
{
    return (sizeof(struct rayc_value) + VALUE_ALIGN - 1) / VALUE_ALIGN * VALUE_ALIGN;
}

rayc_value *rayc__value_new(const rayc__vhdr *h, const void *data)
{
    if (h->nbytes > SIZE_MAX - 2 * VALUE_ALIGN - header_size())
        return NULL;
    /* Plain malloc with the data aligned inside the block: glibc serves small sizes from its
     * per-thread cache, while aligned_alloc always takes the slow path (a small put + get
     * spent a fifth of its time there). */
    size_t total = sizeof(struct rayc_value) + VALUE_ALIGN - 1 + (size_t)h->nbytes;
    int pooled = total <= RAYC__VPOOL_BLOCK; /* small ones are recycled (value_pool.h) */
    struct rayc_value *v = pooled ? rayc__vpool_get() : malloc(total);
    if (!v)
        return NULL;
    v->pooled = (uint8_t)pooled;
    atomic_init(&v->refs, 1);
    v->h = *h;
    v->data = (void *)(((uintptr_t)(v + 1) + VALUE_ALIGN - 1) & ~(uintptr_t)(VALUE_ALIGN - 1));
    v->release = NULL;
    v->release_ctx = NULL;
    v->own_data = 0;
    if (data && h->nbytes)
        memcpy(v->data, data, (size_t)h->nbytes);
    return v;
}

rayc_value *rayc__value_adopt(const rayc__vhdr *h, void *data)
{
    struct rayc_value *v = malloc(sizeof *v);
    if (!v)
        return NULL;
    atomic_init(&v->refs, 1);
    v->h = *h;
    v->data = data;
    v->release = NULL;
    v->release_ctx = NULL;
    v->own_data = 1;
    v->pooled = 0;
    return v;
}

void rayc__value_unref(rayc_value *v)
{
    if (!v || atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (v->release)
        v->release(v);
    else if (v->own_data)
        free(v->data);
    if (v->pooled)
        rayc__vpool_put(v);
    else
        free(v);
}

/* ---- public view accessors ---- */

rayc_dtype rayc_value_dtype(const rayc_value *v)
{
    return v ? (rayc_dtype)v->h.dtype : RAYC_BYTES;
}

int rayc_value_ndim(const rayc_value *v)
{
    return v ? v->h.ndim : 0;
}

const int64_t *rayc_value_shape(const rayc_value *v)
{
    return v ? v->h.shape : NULL;
}

int64_t rayc_value_count(const rayc_value *v)
{
    if (!v)
        return 0;
    int64_t n = 1;
    for (int i = 0; i < v->h.ndim; i++)
        n *= v->h.shape[i];
    return n;
}

size_t rayc_value_nbytes(const rayc_value *v)
{
    return v ? (size_t)v->h.nbytes : 0;
}

const void *rayc_value_data(const rayc_value *v)
{
    return v ? v->data : NULL;
}

void rayc_value_release(rayc_value *v)
{
    rayc__value_unref(v);
}

static int is_int_dtype(int d)
{
    return d == RAYC_BOOL || (d >= RAYC_I8 && d <= RAYC_U64);
}

/* Read one integer element as a (sign, magnitude) pair folded into int64 or report overflow. */
static int load_int(const rayc_value *v, int64_t *out)
{
    const void *p = v->data;
    switch (v->h.dtype) {
    case RAYC_BOOL: *out = *(const uint8_t *)p != 0; return 0;
    case RAYC_I8: *out = *(const int8_t *)p; return 0;
    case RAYC_I16: *out = *(const int16_t *)p; return 0;
    case RAYC_I32: *out = *(const int32_t *)p; return 0;
    case RAYC_I64: *out = *(const int64_t *)p; return 0;
    case RAYC_U8: *out = *(const uint8_t *)p; return 0;
    case RAYC_U16: *out = *(const uint16_t *)p; return 0;
    case RAYC_U32: *out = *(const uint32_t *)p; return 0;
    case RAYC_U64: {
        uint64_t u = *(const uint64_t *)p;
        if (u > INT64_MAX)
            return -1;
        *out = (int64_t)u;
        return 0;
    }
    }
    return -1;
}

int rayc__value_to_i64(const rayc_value *v, int64_t *out, char *err, size_t errlen)
{
    if (rayc_value_count(v) != 1 || !is_int_dtype(v->h.dtype)) {
        snprintf(err, errlen, "expected one integer element, got %s with %" PRId64 " elements",
                 rayc_dtype_name(v->h.dtype), rayc_value_count(v));
        return RAYC_EDTYPE;
    }
    if (load_int(v, out) != 0) {
        snprintf(err, errlen, "u64 value does not fit in int64_t");
        return RAYC_EDTYPE;
    }
    return 0;
}

int rayc__value_to_f64(const rayc_value *v, double *out, char *err, size_t errlen)
{
    int64_t i;
    if (rayc_value_count(v) == 1 && v->h.dtype == RAYC_F64) {
        *out = *(const double *)v->data;
        return 0;
    }
    if (rayc_value_count(v) == 1 && v->h.dtype == RAYC_F32) {
        *out = *(const float *)v->data;
        return 0;
    }
    if (rayc_value_count(v) == 1 && v->h.dtype == RAYC_U64) {
        *out = (double)*(const uint64_t *)v->data;
        return 0;
    }
    if (rayc_value_count(v) == 1 && is_int_dtype(v->h.dtype) && load_int(v, &i) == 0) {
        *out = (double)i;
        return 0;
    }
    snprintf(err, errlen, "expected one real element, got %s with %" PRId64 " elements",
             rayc_dtype_name(v->h.dtype), rayc_value_count(v));
    return RAYC_EDTYPE;
}

int rayc_value_i64(const rayc_value *v, int64_t *out)
{
    char err[160];
    if (!v || !out)
        return rayc__fail(RAYC_EINVAL, "rayc_value_i64: NULL argument");
    int rc = rayc__value_to_i64(v, out, err, sizeof err);
    return rc ? rayc__fail(rc, "rayc_value_i64: %s", err) : 0;
}

int rayc_value_f64(const rayc_value *v, double *out)
{
    char err[160];
    if (!v || !out)
        return rayc__fail(RAYC_EINVAL, "rayc_value_f64: NULL argument");
    int rc = rayc__value_to_f64(v, out, err, sizeof err);
    return rc ? rayc__fail(rc, "rayc_value_f64: %s", err) : 0;
}

/* ---- argument builders ---- */

static rayc_arg scalar_arg(rayc_dtype dt)
{
    rayc_arg a;
    memset(&a, 0, sizeof a);
    a.kind = RAYC_ARG_VALUE;
    a.dtype = dt;
    return a;
}

rayc_arg rayc_i64(int64_t v)
{
    rayc_arg a = scalar_arg(RAYC_I64);
    a.scalar.i64 = v;
    return a;
}

rayc_arg rayc_i32(int32_t v)
{
    rayc_arg a = scalar_arg(RAYC_I32);
    memcpy(a.scalar.raw, &v, sizeof v);
    return a;
}

rayc_arg rayc_u64(uint64_t v)
{
    rayc_arg a = scalar_arg(RAYC_U64);
    a.scalar.u64 = v;
    return a;
}

rayc_arg rayc_f64(double v)
{
    rayc_arg a = scalar_arg(RAYC_F64);
    a.scalar.f64 = v;
    return a;
}

rayc_arg rayc_f32(float v)
{
    rayc_arg a = scalar_arg(RAYC_F32);
    memcpy(a.scalar.raw, &v, sizeof v);
    return a;
}

rayc_arg rayc_bool(int v)
{
    rayc_arg a = scalar_arg(RAYC_BOOL);
    a.scalar.raw[0] = v != 0;
    return a;
}

rayc_arg rayc_array(rayc_dtype dtype, int ndim, const int64_t *shape, const void *data)
{
    rayc_arg a = scalar_arg(dtype);
    a.ndim = ndim;
    for (int i = 0; shape && i < ndim && i < RAYC_MAX_NDIM; i++)
        a.shape[i] = shape[i];
    if (ndim < 0 || ndim > RAYC_MAX_NDIM || (ndim > 0 && !shape))
        a.ndim = -1; /* rejected by the taking call with a message */
    else if (ndim == 0 && data) /* a 0-d array is a scalar: keep its element in the arg */
        memcpy(a.scalar.raw, data, rayc_dtype_size(dtype));
    a.data = data;
    return a;
}

rayc_arg rayc_vec(rayc_dtype dtype, int64_t n, const void *data)
{
    return rayc_array(dtype, 1, &n, data);
}

rayc_arg rayc_bytes(const void *data, size_t n)
{
    return rayc_vec(RAYC_BYTES, (int64_t)n, data);
}

rayc_arg rayc_str(const char *s)
{
    rayc_arg a = rayc_bytes(s, s ? strlen(s) : 0);
    if (!s)
        a.ndim = -2; /* NULL string: rejected with a message */
    return a;
}

rayc_arg rayc_refarg(rayc_ref ref)
{
    rayc_arg a;
    memset(&a, 0, sizeof a);
    a.kind = RAYC_ARG_REF;
    a.ref = ref;
    return a;
}

const void *rayc__arg_data(const rayc_arg *a)
{
    return a->ndim == 0 ? (const void *)a->scalar.raw : a->data;
}

int rayc__arg_check(const rayc_arg *a, rayc__vhdr *h)
{
    if (a->kind != RAYC_ARG_VALUE)
        return rayc__fail(RAYC_EINVAL, "not a value argument (kind %d)", a->kind);
    if (a->ndim == -2)
        return rayc__fail(RAYC_EINVAL, "NULL string");
    if (a->ndim == -1)
        return rayc__fail(RAYC_EINVAL, "bad array: ndim outside 0..%d or NULL shape",
                          RAYC_MAX_NDIM);
    int rc = rayc__vhdr_make(h, a->dtype, a->ndim, a->shape);
    if (rc)
        return rc;
    if (a->ndim > 0 && h->nbytes && !a->data)
        return rayc__fail(RAYC_EINVAL, "NULL data for a %" PRIu64 "-byte array", h->nbytes);
    return 0;
}

int rayc__value_from_arg(const rayc_arg *a, rayc_value **out)
{
    rayc__vhdr h;
    int rc = rayc__arg_check(a, &h);
    if (rc)
        return rc;
    rayc_value *v = rayc__value_new(&h, rayc__arg_data(a));
    if (!v)
        return rayc__fail(RAYC_ENOMEM, "cannot allocate %" PRIu64 " bytes for a value", h.nbytes);
    *out = v;
    return 0;
}
