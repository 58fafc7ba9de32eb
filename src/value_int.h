/* value_int.h: the in-memory object value. One allocation holds the header and, for values
 * built here, the data right after it; values whose data lives elsewhere (a store arena, a
 * caller's buffer) carry a release hook. Values are immutable once published and shared by
 * reference count between threads. */
#ifndef RAYC_VALUE_INT_H
#define RAYC_VALUE_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "rayc.h"

/* Header of a value: what the wire and the object directory carry about it. */
typedef struct rayc__vhdr {
    uint8_t dtype;
    uint8_t ndim;
    int64_t shape[RAYC_MAX_NDIM];
    uint64_t nbytes;
} rayc__vhdr;

struct rayc_value {
    atomic_int refs;
    rayc__vhdr h;
    void *data;
    void (*release)(struct rayc_value *v); /* NULL: data is in this allocation (or malloc'ed
                                              separately when own_data) */
    void *release_ctx;
    int own_data;                          /* data was malloc'ed on its own: free it */
    uint8_t pooled;                        /* a block of value_pool.c (a small value) */
};

/* Check dtype/ndim/shape and compute nbytes into h. Returns 0 or RAYC_EINVAL/RAYC_ETOOBIG
 * with a message. */
int rayc__vhdr_make(rayc__vhdr *h, rayc_dtype dtype, int ndim, const int64_t *shape);

/* New value with refs = 1 and room for h->nbytes bytes of data (copied from data when not
 * NULL). NULL on allocation failure. */
rayc_value *rayc__value_new(const rayc__vhdr *h, const void *data);
/* New value that takes ownership of a malloc'ed buffer. */
rayc_value *rayc__value_adopt(const rayc__vhdr *h, void *data);
/* Build a value from a RAYC_ARG_VALUE argument (copies data). 0 or an error with message. */
int rayc__value_from_arg(const rayc_arg *a, rayc_value **out);
/* Check an argument description without copying; fills h. */
int rayc__arg_check(const rayc_arg *a, rayc__vhdr *h);
/* The data pointer of an argument (scalars point at a->scalar). */
const void *rayc__arg_data(const rayc_arg *a);

static inline rayc_value *rayc__value_ref(rayc_value *v)
{
    atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
    return v;
}
void rayc__value_unref(rayc_value *v);

/* Scalar conversion helpers shared with the task API. */
int rayc__value_to_i64(const rayc_value *v, int64_t *out, char *err, size_t errlen);
int rayc__value_to_f64(const rayc_value *v, double *out, char *err, size_t errlen);

/* Parse a dtype name ("i64"); -1 when unknown. */
int rayc__dtype_parse(const char *s, size_t len);

#endif /* RAYC_VALUE_INT_H */
