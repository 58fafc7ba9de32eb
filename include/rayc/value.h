/* rayc/value.h: the values rayc moves: immutable typed n-dimensional arrays.
 *
 * A value has a dtype, a shape (ndim <= RAYC_MAX_NDIM, ndim 0 is a scalar) and row-major data.
 * Strings and user-serialized structs are 1-d RAYC_BYTES arrays. The same description maps to
 * MPI datatypes for transfer and to HDF5 datasets for spilling. */
#ifndef RAYC_VALUE_H
#define RAYC_VALUE_H

#include <stddef.h>
#include <stdint.h>

#include <rayc/export.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RAYC_MAX_NDIM 8

/* Element types. Values are part of the wire format and the spill format: never renumber. */
typedef enum rayc_dtype {
    RAYC_BOOL = 0, /* one byte, 0 or 1 */
    RAYC_I8 = 1,
    RAYC_I16 = 2,
    RAYC_I32 = 3,
    RAYC_I64 = 4,
    RAYC_U8 = 5,
    RAYC_U16 = 6,
    RAYC_U32 = 7,
    RAYC_U64 = 8,
    RAYC_F32 = 9,
    RAYC_F64 = 10,
    RAYC_C64 = 11,  /* complex float: two f32 (re, im) */
    RAYC_C128 = 12, /* complex double: two f64 (re, im) */
    RAYC_BYTES = 13 /* raw bytes: strings, user-serialized data */
} rayc_dtype;
#define RAYC_NUM_DTYPES 14

/* Size in bytes of one element of dtype; 0 for an unknown dtype. Any thread, any time. */
RAYC_EXPORT size_t rayc_dtype_size(rayc_dtype dtype);

/* Lower-case name of a dtype ("i64", "f64", "bytes"); "?" for an unknown one. Static string. */
RAYC_EXPORT const char *rayc_dtype_name(rayc_dtype dtype);

/* A read-only view of an object's value, handed out by rayc_get() and rayc_task_arg().
 * Opaque; the accessors below are valid until the view is released (rayc_value_release) or, for
 * task arguments, until the task function returns. */
typedef struct rayc_value rayc_value;

RAYC_EXPORT rayc_dtype rayc_value_dtype(const rayc_value *v);
RAYC_EXPORT int rayc_value_ndim(const rayc_value *v);
/* Pointer to ndim extents (borrowed from the view). */
RAYC_EXPORT const int64_t *rayc_value_shape(const rayc_value *v);
/* Number of elements (product of the shape; 1 for a scalar). */
RAYC_EXPORT int64_t rayc_value_count(const rayc_value *v);
RAYC_EXPORT size_t rayc_value_nbytes(const rayc_value *v);
/* Row-major element data (borrowed, read-only, suitably aligned for the dtype). */
RAYC_EXPORT const void *rayc_value_data(const rayc_value *v);

/* Scalar readers: the value must hold exactly one element. Integer readers accept any integer or
 * bool dtype whose value fits; f64 accepts floats and integers. Return 0 or RAYC_EDTYPE (with a
 * message) and leave *out untouched on error. */
RAYC_EXPORT int rayc_value_i64(const rayc_value *v, int64_t *out);
RAYC_EXPORT int rayc_value_f64(const rayc_value *v, double *out);

/* Drop a view from rayc_get(). NULL is harmless. The underlying object is not released: that
 * is rayc_release() on the ref. Any thread. */
RAYC_EXPORT void rayc_value_release(rayc_value *v);

#ifdef __cplusplus
}
#endif
#endif /* RAYC_VALUE_H */
