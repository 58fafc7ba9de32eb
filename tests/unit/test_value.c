/* test_value.c: CUnit suite for src/value.c and src/status.c: dtype table, value headers,
 * value life cycle, every argument builder through rayc__value_from_arg and the public
 * accessors and scalar conversions, status names/texts and the per-thread last error. */
#include "config.h"

#include <CUnit/CUnit.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status_int.h"
#include "value_int.h"
#include "unit_main.h"

/* True when rayc_last_error() contains needle; prints the message otherwise. */
static int last_error_has(const char *needle)
{
    if (strstr(rayc_last_error(), needle))
        return 1;
    fprintf(stderr, "\n  last error '%s' lacks '%s'\n", rayc_last_error(), needle);
    return 0;
}

/* Build a value from arg; fails the test fatally when that does not work. */
static rayc_value *value_of(rayc_arg a)
{
    rayc_value *v = NULL;
    int rc = rayc__value_from_arg(&a, &v);
    if (rc)
        fprintf(stderr, "\n  rayc__value_from_arg: %s: %s\n", rayc_status_name(rc),
                rayc_last_error());
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    return v;
}

/* ------------------------------------------------------------------------------------------ */

static void test_dtype_table(void)
{
    static const struct {
        rayc_dtype d;
        const char *name;
        size_t size;
    } want[RAYC_NUM_DTYPES] = {
        {RAYC_BOOL, "bool", 1}, {RAYC_I8, "i8", 1},     {RAYC_I16, "i16", 2},
        {RAYC_I32, "i32", 4},   {RAYC_I64, "i64", 8},   {RAYC_U8, "u8", 1},
        {RAYC_U16, "u16", 2},   {RAYC_U32, "u32", 4},   {RAYC_U64, "u64", 8},
        {RAYC_F32, "f32", 4},   {RAYC_F64, "f64", 8},   {RAYC_C64, "c64", 8},
        {RAYC_C128, "c128", 16}, {RAYC_BYTES, "bytes", 1},
    };
    for (int i = 0; i < RAYC_NUM_DTYPES; i++) {
        CU_ASSERT_EQUAL((int)want[i].d, i); /* the numbering is part of the wire format */
        CU_ASSERT_EQUAL(rayc_dtype_size(want[i].d), want[i].size);
        CU_ASSERT_STRING_EQUAL(rayc_dtype_name(want[i].d), want[i].name);
        CU_ASSERT_EQUAL(rayc__dtype_parse(want[i].name, strlen(want[i].name)), i);
    }
    CU_ASSERT_EQUAL(rayc_dtype_size((rayc_dtype)RAYC_NUM_DTYPES), 0);
    CU_ASSERT_EQUAL(rayc_dtype_size((rayc_dtype)-1), 0);
    CU_ASSERT_EQUAL(rayc_dtype_size((rayc_dtype)1000), 0);
    CU_ASSERT_STRING_EQUAL(rayc_dtype_name((rayc_dtype)RAYC_NUM_DTYPES), "?");
    CU_ASSERT_STRING_EQUAL(rayc_dtype_name((rayc_dtype)-1), "?");

    /* Parsing uses exactly len bytes: prefixes and extensions do not match. */
    CU_ASSERT_EQUAL(rayc__dtype_parse("i64,f64", 3), RAYC_I64);
    CU_ASSERT_EQUAL(rayc__dtype_parse("f64", 2), -1);
    CU_ASSERT_EQUAL(rayc__dtype_parse("i644", 4), -1);
    CU_ASSERT_EQUAL(rayc__dtype_parse("", 0), -1);
    CU_ASSERT_EQUAL(rayc__dtype_parse("I64", 3), -1);
    CU_ASSERT_EQUAL(rayc__dtype_parse("byte", 4), -1);
    CU_ASSERT_EQUAL(rayc__dtype_parse("c128", 4), RAYC_C128);
}

static void test_vhdr_make(void)
{
    rayc__vhdr h;
    int64_t shape[RAYC_MAX_NDIM + 1] = {2, 3, 1, 1, 1, 1, 1, 1, 1};

    memset(&h, 0xAB, sizeof h);
    CU_ASSERT_EQUAL(rayc__vhdr_make(&h, RAYC_F64, 0, NULL), 0);
    CU_ASSERT_EQUAL(h.dtype, RAYC_F64);
    CU_ASSERT_EQUAL(h.ndim, 0);
    CU_ASSERT_EQUAL(h.nbytes, 8);
    for (int i = 0; i < RAYC_MAX_NDIM; i++)
        CU_ASSERT_EQUAL(h.shape[i], 0); /* unused extents are zeroed */

    CU_ASSERT_EQUAL(rayc__vhdr_make(&h, RAYC_I32, 2, shape), 0);
    CU_ASSERT_EQUAL(h.ndim, 2);
    CU_ASSERT_EQUAL(h.shape[0], 2);
    CU_ASSERT_EQUAL(h.shape[1], 3);
    CU_ASSERT_EQUAL(h.shape[2], 0);
    CU_ASSERT_EQUAL(h.nbytes, 24);

    CU_ASSERT_EQUAL(rayc__vhdr_make(&h, RAYC_C128, RAYC_MAX_NDIM, shape), 0);
    CU_ASSERT_EQUAL(h.ndim, RAYC_MAX_NDIM);
    CU_ASSERT_EQUAL(h.nbytes, 16 * 6);

    /* ndim bounds */
    CU_ASSERT_EQUAL(rayc__vhdr_make(&h, RAYC_I64, RAYC_MAX_NDIM + 1, shape), RAYC_EINVAL);
    CU_ASSERT(last_error_has("ndim 9"));
    CU_ASSERT_EQUAL(rayc__vhdr_make(&h, RAYC_I64, -1, shape), RAYC_EINVAL);
    CU_ASSERT(last_error_has("ndim -1"));
    CU_ASSERT_EQUAL(rayc__vhdr_make(&h, RAYC_I64, 1, NULL), RAYC_EINVAL);
    CU_ASSERT(last_error_has("NULL shape"));

    /* dtype bounds */
    CU_ASSERT_EQUAL(rayc__vhdr_make(&h, (rayc_dtype)RAYC_NUM_DTYPES, 0, NULL), RAYC_EINVAL);
    CU_ASSERT(last_error_has("unknown dtype 14"));
    CU_ASSERT_EQUAL(rayc__vhdr_make(&h, (rayc_dtype)-3, 0, NULL), RAYC_EINVAL);

    /* negative extents, in any dimension */
    int64_t neg[3] = {4, -1, 2};
    CU_ASSERT_EQUAL(rayc__vhdr_make(&h, RAYC_U8, 3, neg), RAYC_EINVAL);
    CU_ASSERT(last_error_has("negative extent -1 in dimension 1"));
    int64_t neg0[1] = {INT64_MIN};
    CU_ASSERT_EQUAL(rayc__vhdr_make(&h, RAYC_U8, 1, neg0), RAYC_EINVAL);
    int64_t zneg[2] = {0, -1}; /* the product is 0 either way: still rejected */
    CU_ASSERT_EQUAL(rayc__vhdr_make(&h, RAYC_U8, 2, zneg), RAYC_EINVAL);

    /* overflow */
    int64_t big2[2] = {INT64_C(1) << 31, INT64_C(1) << 31}; /* 2^62 elements of 8 bytes */
    CU_ASSERT_EQUAL(rayc__vhdr_make(&h, RAYC_I64, 2, big2), RAYC_ETOOBIG);
    CU_ASSERT(last_error_has("overflow"));
    int64_t bigmax[2] = {INT64_MAX, INT64_MAX};
    CU_ASSERT_EQUAL(rayc__vhdr_make(&h, RAYC_BYTES, 2, bigmax), RAYC_ETOOBIG);
    int64_t big1[1] = {INT64_C(1) << 60}; /* 2^63 bytes: over the limit */
    CU_ASSERT_EQUAL(rayc__vhdr_make(&h, RAYC_I64, 1, big1), RAYC_ETOOBIG);
    int64_t fits[1] = {INT64_C(1) << 59}; /* 2^62 bytes: a header may describe it */
    CU_ASSERT_EQUAL(rayc__vhdr_make(&h, RAYC_I64, 1, fits), 0);
    CU_ASSERT_EQUAL(h.nbytes, UINT64_C(1) << 62);

    /* 0-element arrays: zero anywhere gives 0 bytes, also with huge later extents */
    int64_t zero_mid[3] = {3, 0, 5};
    CU_ASSERT_EQUAL(rayc__vhdr_make(&h, RAYC_F32, 3, zero_mid), 0);
    CU_ASSERT_EQUAL(h.nbytes, 0);
    CU_ASSERT_EQUAL(h.shape[2], 5);
    int64_t zero_first[3] = {0, INT64_MAX, INT64_MAX};
    CU_ASSERT_EQUAL(rayc__vhdr_make(&h, RAYC_C128, 3, zero_first), 0);
    CU_ASSERT_EQUAL(h.nbytes, 0);
}

static int hook_calls;

static void count_release(rayc_value *v)
{
    hook_calls++;
    free(v->data);
}

static void test_value_life_cycle(void)
{
    rayc__vhdr h;
    int64_t n = 5;
    double src[5] = {1, 2, 3, 4, 5};
    CU_ASSERT_EQUAL_FATAL(rayc__vhdr_make(&h, RAYC_F64, 1, &n), 0);

    rayc_value *v = rayc__value_new(&h, src);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_EQUAL(atomic_load(&v->refs), 1);
    CU_ASSERT_EQUAL((uintptr_t)rayc_value_data(v) % 64, 0);
    CU_ASSERT_PTR_NOT_EQUAL(rayc_value_data(v), src);
    CU_ASSERT_EQUAL(memcmp(rayc_value_data(v), src, sizeof src), 0);
    CU_ASSERT_EQUAL(rayc_value_nbytes(v), 40);
    CU_ASSERT_PTR_EQUAL(rayc__value_ref(v), v);
    CU_ASSERT_PTR_EQUAL(rayc__value_ref(v), v);
    CU_ASSERT_EQUAL(atomic_load(&v->refs), 3);
    rayc__value_unref(v);
    rayc__value_unref(v);
    CU_ASSERT_EQUAL(atomic_load(&v->refs), 1);
    CU_ASSERT_EQUAL(((const double *)rayc_value_data(v))[4], 5.0); /* still alive */
    rayc_value_release(v);                                           /* last ref: freed */

    /* Without data: room is allocated, contents unspecified but writable. */
    v = rayc__value_new(&h, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    memset(v->data, 0x5A, (size_t)h.nbytes);
    rayc__value_unref(v);

    /* A 0-byte value still has a non-NULL data pointer. */
    int64_t zero = 0;
    rayc__vhdr hz;
    CU_ASSERT_EQUAL_FATAL(rayc__vhdr_make(&hz, RAYC_I64, 1, &zero), 0);
    v = rayc__value_new(&hz, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_PTR_NOT_NULL(rayc_value_data(v));
    CU_ASSERT_EQUAL(rayc_value_count(v), 0);
    rayc__value_unref(v);

    /* Sizes no allocation can hold fail cleanly. */
    rayc__vhdr hb = h;
    hb.nbytes = UINT64_MAX;
    CU_ASSERT_PTR_NULL(rayc__value_new(&hb, NULL));
    hb.nbytes = (uint64_t)SIZE_MAX - 100;
    CU_ASSERT_PTR_NULL(rayc__value_new(&hb, NULL));

    /* Adopt: the malloc'ed buffer becomes the value's and is freed with it (ASan checks). */
    double *buf = malloc(sizeof src);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    memcpy(buf, src, sizeof src);
    v = rayc__value_adopt(&h, buf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_PTR_EQUAL(rayc_value_data(v), buf);
    CU_ASSERT_EQUAL(rayc_value_count(v), 5);
    rayc__value_ref(v);
    rayc__value_unref(v);
    rayc__value_unref(v);

    /* A release hook runs exactly once, at the last unref, instead of own_data's free. */
    buf = malloc(sizeof src);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    v = rayc__value_adopt(&h, buf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    v->release = count_release;
    hook_calls = 0;
    rayc__value_ref(v);
    rayc__value_unref(v);
    CU_ASSERT_EQUAL(hook_calls, 0);
    rayc__value_unref(v);
    CU_ASSERT_EQUAL(hook_calls, 1);

    rayc__value_unref(NULL);
    rayc_value_release(NULL);
}

static void test_accessors_null(void)
{
    int64_t i = 77;
    double d = 7.5;
    CU_ASSERT_EQUAL(rayc_value_ndim(NULL), 0);
    CU_ASSERT_PTR_NULL(rayc_value_shape(NULL));
    CU_ASSERT_EQUAL(rayc_value_count(NULL), 0);
    CU_ASSERT_EQUAL(rayc_value_nbytes(NULL), 0);
    CU_ASSERT_PTR_NULL(rayc_value_data(NULL));
    CU_ASSERT_EQUAL(rayc_value_i64(NULL, &i), RAYC_EINVAL);
    CU_ASSERT(last_error_has("rayc_value_i64: NULL argument"));
    CU_ASSERT_EQUAL(rayc_value_f64(NULL, &d), RAYC_EINVAL);
    CU_ASSERT(last_error_has("rayc_value_f64: NULL argument"));
    CU_ASSERT_EQUAL(i, 77);
    CU_ASSERT_EQUAL(d, 7.5);
    rayc_value *v = value_of(rayc_i64(1));
    CU_ASSERT_EQUAL(rayc_value_i64(v, NULL), RAYC_EINVAL);
    CU_ASSERT_EQUAL(rayc_value_f64(v, NULL), RAYC_EINVAL);
    rayc_value_release(v);
}

/* Check a 0-d value of dtype dt whose nbytes bytes equal want. */
static void check_scalar(rayc_value *v, rayc_dtype dt, const void *want, size_t nbytes)
{
    CU_ASSERT_EQUAL(rayc_value_dtype(v), dt);
    CU_ASSERT_EQUAL(rayc_value_ndim(v), 0);
    CU_ASSERT_EQUAL(rayc_value_count(v), 1);
    CU_ASSERT_EQUAL(rayc_value_nbytes(v), nbytes);
    CU_ASSERT_EQUAL(memcmp(rayc_value_data(v), want, nbytes), 0);
    CU_ASSERT_EQUAL((uintptr_t)rayc_value_data(v) % 64, 0);
}

static void test_scalar_builders(void)
{
    int64_t i;
    double d;

    rayc_arg a = rayc_i64(-5);
    CU_ASSERT_EQUAL(a.kind, RAYC_ARG_VALUE);
    CU_ASSERT_EQUAL(a.dtype, RAYC_I64);
    CU_ASSERT_EQUAL(a.ndim, 0);
    int64_t wi64 = -5;
    rayc_value *v = value_of(a);
    check_scalar(v, RAYC_I64, &wi64, 8);
    CU_ASSERT_EQUAL(rayc_value_i64(v, &i), 0);
    CU_ASSERT_EQUAL(i, -5);
    CU_ASSERT_EQUAL(rayc_value_f64(v, &d), 0);
    CU_ASSERT_EQUAL(d, -5.0);
    rayc_value_release(v);

    v = value_of(rayc_i64(INT64_MIN));
    CU_ASSERT_EQUAL(rayc_value_i64(v, &i), 0);
    CU_ASSERT_EQUAL(i, INT64_MIN);
    rayc_value_release(v);

    int32_t wi32 = INT32_MIN;
    v = value_of(rayc_i32(INT32_MIN));
    check_scalar(v, RAYC_I32, &wi32, 4);
    CU_ASSERT_EQUAL(rayc_value_i64(v, &i), 0);
    CU_ASSERT_EQUAL(i, INT32_MIN);
    rayc_value_release(v);

    uint64_t wu64 = INT64_MAX;
    v = value_of(rayc_u64(INT64_MAX));
    check_scalar(v, RAYC_U64, &wu64, 8);
    CU_ASSERT_EQUAL(rayc_value_i64(v, &i), 0);
    CU_ASSERT_EQUAL(i, INT64_MAX);
    rayc_value_release(v);

    /* u64 above INT64_MAX: not an int64_t, but a double */
    v = value_of(rayc_u64(UINT64_MAX));
    i = 99;
    CU_ASSERT_EQUAL(rayc_value_i64(v, &i), RAYC_EDTYPE);
    CU_ASSERT_EQUAL(i, 99);
    CU_ASSERT(last_error_has("rayc_value_i64: u64 value does not fit in int64_t"));
    CU_ASSERT_EQUAL(rayc_value_f64(v, &d), 0);
    CU_ASSERT_EQUAL(d, 18446744073709551615.0);
    rayc_value_release(v);
    v = value_of(rayc_u64((uint64_t)INT64_MAX + 1));
    CU_ASSERT_EQUAL(rayc_value_i64(v, &i), RAYC_EDTYPE);
    rayc_value_release(v);

    double wf64 = 2.5;
    v = value_of(rayc_f64(2.5));
    check_scalar(v, RAYC_F64, &wf64, 8);
    CU_ASSERT_EQUAL(rayc_value_f64(v, &d), 0);
    CU_ASSERT_EQUAL(d, 2.5);
    i = 3;
    CU_ASSERT_EQUAL(rayc_value_i64(v, &i), RAYC_EDTYPE); /* floats are not integers */
    CU_ASSERT_EQUAL(i, 3);
    CU_ASSERT(last_error_has("expected one integer element, got f64 with 1 elements"));
    rayc_value_release(v);

    float wf32 = 0.1f;
    v = value_of(rayc_f32(0.1f));
    check_scalar(v, RAYC_F32, &wf32, 4);
    CU_ASSERT_EQUAL(rayc_value_f64(v, &d), 0);
    CU_ASSERT_EQUAL(d, (double)0.1f);
    CU_ASSERT_NOT_EQUAL(d, 0.1);
    rayc_value_release(v);

    uint8_t one = 1, zero = 0;
    v = value_of(rayc_bool(7));
    check_scalar(v, RAYC_BOOL, &one, 1);
    CU_ASSERT_EQUAL(rayc_value_i64(v, &i), 0);
    CU_ASSERT_EQUAL(i, 1);
    CU_ASSERT_EQUAL(rayc_value_f64(v, &d), 0);
    CU_ASSERT_EQUAL(d, 1.0);
    rayc_value_release(v);
    v = value_of(rayc_bool(0));
    check_scalar(v, RAYC_BOOL, &zero, 1);
    rayc_value_release(v);
}

/* One-element vectors of every integer dtype convert to int64_t and double. */
static void test_integer_conversions(void)
{
    int8_t i8 = -128;
    int16_t i16 = -32768;
    uint8_t u8 = 255;
    uint16_t u16 = 65535;
    uint32_t u32 = UINT32_MAX;
    uint64_t u64 = 12345;
    const struct {
        rayc_dtype dt;
        const void *p;
        int64_t want;
    } cases[] = {
        {RAYC_I8, &i8, -128},       {RAYC_I16, &i16, -32768}, {RAYC_U8, &u8, 255},
        {RAYC_U16, &u16, 65535},    {RAYC_U32, &u32, 4294967295LL},
        {RAYC_U64, &u64, 12345},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        rayc_value *v = value_of(rayc_vec(cases[k].dt, 1, cases[k].p));
        int64_t i = 0;
        double d = 0;
        CU_ASSERT_EQUAL(rayc_value_ndim(v), 1);
        CU_ASSERT_EQUAL(rayc_value_i64(v, &i), 0);
        CU_ASSERT_EQUAL(i, cases[k].want);
        CU_ASSERT_EQUAL(rayc_value_f64(v, &d), 0);
        CU_ASSERT_EQUAL(d, (double)cases[k].want);
        rayc_value_release(v);
    }

    /* Complex and bytes are neither integers nor reals. */
    float c64[2] = {1, 2};
    double c128[2] = {1, 2};
    uint8_t b = 7;
    const struct {
        rayc_dtype dt;
        const void *p;
    } bad[] = {{RAYC_C64, c64}, {RAYC_C128, c128}, {RAYC_BYTES, &b}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        rayc_value *v = value_of(rayc_array(bad[k].dt, 0, NULL, bad[k].p));
        int64_t i = 5;
        double d = 5;
        CU_ASSERT_EQUAL(rayc_value_i64(v, &i), RAYC_EDTYPE);
        CU_ASSERT_EQUAL(rayc_value_f64(v, &d), RAYC_EDTYPE);
        CU_ASSERT(last_error_has(rayc_dtype_name(bad[k].dt)));
        CU_ASSERT_EQUAL(i, 5);
        CU_ASSERT_EQUAL(d, 5.0);
        rayc_value_release(v);
    }
}

static void test_multi_element_fails(void)
{
    int64_t xs[2] = {1, 2};
    rayc_value *v = value_of(rayc_vec(RAYC_I64, 2, xs));
    int64_t i = 42;
    double d = 4.5;
    CU_ASSERT_EQUAL(rayc_value_i64(v, &i), RAYC_EDTYPE);
    CU_ASSERT_STRING_EQUAL(rayc_last_error(),
                           "rayc_value_i64: expected one integer element, got i64 with 2 elements");
    CU_ASSERT_EQUAL(rayc_value_f64(v, &d), RAYC_EDTYPE);
    CU_ASSERT_STRING_EQUAL(rayc_last_error(),
                           "rayc_value_f64: expected one real element, got i64 with 2 elements");
    CU_ASSERT_EQUAL(i, 42);
    CU_ASSERT_EQUAL(d, 4.5);
    rayc_value_release(v);

    /* 0 elements fail as well */
    v = value_of(rayc_vec(RAYC_F64, 0, NULL));
    CU_ASSERT_EQUAL(rayc_value_f64(v, &d), RAYC_EDTYPE);
    CU_ASSERT(last_error_has("with 0 elements"));
    rayc_value_release(v);

    /* one element in a 1x1x1 array is a scalar for the readers */
    double one[1] = {6.25};
    int64_t s111[3] = {1, 1, 1};
    v = value_of(rayc_array(RAYC_F64, 3, s111, one));
    CU_ASSERT_EQUAL(rayc_value_f64(v, &d), 0);
    CU_ASSERT_EQUAL(d, 6.25);
    rayc_value_release(v);
}

static void test_str_and_bytes(void)
{
    rayc_value *v = value_of(rayc_str("hello"));
    CU_ASSERT_EQUAL(rayc_value_dtype(v), RAYC_BYTES);
    CU_ASSERT_EQUAL(rayc_value_ndim(v), 1);
    CU_ASSERT_EQUAL(rayc_value_shape(v)[0], 5);
    CU_ASSERT_EQUAL(rayc_value_count(v), 5);
    CU_ASSERT_EQUAL(rayc_value_nbytes(v), 5); /* no NUL stored */
    CU_ASSERT_EQUAL(memcmp(rayc_value_data(v), "hello", 5), 0);
    int64_t i = 0;
    CU_ASSERT_EQUAL(rayc_value_i64(v, &i), RAYC_EDTYPE);
    rayc_value_release(v);

    v = value_of(rayc_str(""));
    CU_ASSERT_EQUAL(rayc_value_count(v), 0);
    CU_ASSERT_EQUAL(rayc_value_nbytes(v), 0);
    rayc_value_release(v);

    rayc_value *sentinel = (rayc_value *)&i;
    v = sentinel;
    rayc_arg a = rayc_str(NULL);
    CU_ASSERT_EQUAL(rayc__value_from_arg(&a, &v), RAYC_EINVAL);
    CU_ASSERT_STRING_EQUAL(rayc_last_error(), "NULL string");
    CU_ASSERT_PTR_EQUAL(v, sentinel); /* untouched on error */

    unsigned char raw[4] = {0, 255, 0, 1}; /* embedded zeros are data */
    v = value_of(rayc_bytes(raw, sizeof raw));
    CU_ASSERT_EQUAL(rayc_value_nbytes(v), 4);
    CU_ASSERT_PTR_NOT_EQUAL(rayc_value_data(v), raw);
    CU_ASSERT_EQUAL(memcmp(rayc_value_data(v), raw, 4), 0);
    rayc_value_release(v);

    v = value_of(rayc_bytes(NULL, 0));
    CU_ASSERT_EQUAL(rayc_value_count(v), 0);
    rayc_value_release(v);

    v = sentinel;
    a = rayc_bytes(NULL, 3);
    CU_ASSERT_EQUAL(rayc__value_from_arg(&a, &v), RAYC_EINVAL);
    CU_ASSERT(last_error_has("NULL data for a 3-byte array"));
    CU_ASSERT_PTR_EQUAL(v, sentinel);

    a = rayc_bytes(raw, (size_t)INT64_MAX + 2); /* wraps to a negative extent */
    CU_ASSERT_EQUAL(rayc__value_from_arg(&a, &v), RAYC_EINVAL);
    CU_ASSERT(last_error_has("negative extent"));
}

static void test_array_and_vec(void)
{
    double m[2][3] = {{1, 2, 3}, {4, 5, 6}};
    int64_t shape[2] = {2, 3};
    rayc_arg a = rayc_array(RAYC_F64, 2, shape, m);
    shape[0] = 100; /* the builder copied the extents */
    rayc_value *v = value_of(a);
    CU_ASSERT_EQUAL(rayc_value_dtype(v), RAYC_F64);
    CU_ASSERT_EQUAL(rayc_value_ndim(v), 2);
    CU_ASSERT_EQUAL(rayc_value_shape(v)[0], 2);
    CU_ASSERT_EQUAL(rayc_value_shape(v)[1], 3);
    CU_ASSERT_EQUAL(rayc_value_count(v), 6);
    CU_ASSERT_EQUAL(rayc_value_nbytes(v), 48);
    CU_ASSERT_EQUAL(((const double *)rayc_value_data(v))[5], 6.0);
    m[1][2] = -1; /* the value holds a copy */
    CU_ASSERT_EQUAL(((const double *)rayc_value_data(v))[5], 6.0);
    rayc_value_release(v);

    int64_t s8[RAYC_MAX_NDIM] = {1, 2, 1, 2, 1, 2, 1, 2};
    int16_t d16[16];
    for (int k = 0; k < 16; k++)
        d16[k] = (int16_t)(k * 1000 - 7000);
    v = value_of(rayc_array(RAYC_I16, RAYC_MAX_NDIM, s8, d16));
    CU_ASSERT_EQUAL(rayc_value_ndim(v), RAYC_MAX_NDIM);
    CU_ASSERT_EQUAL(rayc_value_count(v), 16);
    CU_ASSERT_EQUAL(memcmp(rayc_value_data(v), d16, sizeof d16), 0);
    rayc_value_release(v);

    /* A 0-d array takes its one element from data, like any other array. */
    double x = 3.75;
    v = value_of(rayc_array(RAYC_F64, 0, NULL, &x));
    double d = 0;
    CU_ASSERT_EQUAL(rayc_value_ndim(v), 0);
    CU_ASSERT_EQUAL(rayc_value_f64(v, &d), 0);
    CU_ASSERT_EQUAL(d, 3.75);
    rayc_value_release(v);

    rayc_value *sentinel = (rayc_value *)&x, *out = sentinel;
    int64_t s9[RAYC_MAX_NDIM + 1] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    a = rayc_array(RAYC_I16, RAYC_MAX_NDIM + 1, s9, d16);
    CU_ASSERT_EQUAL(rayc__value_from_arg(&a, &out), RAYC_EINVAL);
    CU_ASSERT(last_error_has("bad array"));
    a = rayc_array(RAYC_I16, 100000, s9, d16);
    CU_ASSERT_EQUAL(rayc__value_from_arg(&a, &out), RAYC_EINVAL);
    a = rayc_array(RAYC_I16, 2, NULL, d16);
    CU_ASSERT_EQUAL(rayc__value_from_arg(&a, &out), RAYC_EINVAL);
    CU_ASSERT(last_error_has("NULL shape"));
    a = rayc_array(RAYC_I16, -2, shape, d16); /* negative ndim is a bad array, not a string */
    CU_ASSERT_EQUAL(rayc__value_from_arg(&a, &out), RAYC_EINVAL);
    CU_ASSERT(last_error_has("bad array"));
    a = rayc_array(RAYC_I16, -5, shape, d16);
    CU_ASSERT_EQUAL(rayc__value_from_arg(&a, &out), RAYC_EINVAL);
    a = rayc_array(RAYC_I16, 2, shape, NULL);
    CU_ASSERT_EQUAL(rayc__value_from_arg(&a, &out), RAYC_EINVAL);
    CU_ASSERT(last_error_has("NULL data"));
    a = rayc_array((rayc_dtype)RAYC_NUM_DTYPES, 1, shape, d16);
    CU_ASSERT_EQUAL(rayc__value_from_arg(&a, &out), RAYC_EINVAL);
    CU_ASSERT(last_error_has("unknown dtype"));
    int64_t huge[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
    a = rayc_array(RAYC_U8, 2, huge, d16);
    CU_ASSERT_EQUAL(rayc__value_from_arg(&a, &out), RAYC_ETOOBIG);
    int64_t negs[2] = {2, -3};
    a = rayc_array(RAYC_U8, 2, negs, d16);
    CU_ASSERT_EQUAL(rayc__value_from_arg(&a, &out), RAYC_EINVAL);
    CU_ASSERT_PTR_EQUAL(out, sentinel);

    int32_t xs[4] = {10, -20, 30, -40};
    v = value_of(rayc_vec(RAYC_I32, 4, xs));
    CU_ASSERT_EQUAL(rayc_value_ndim(v), 1);
    CU_ASSERT_EQUAL(rayc_value_shape(v)[0], 4);
    CU_ASSERT_EQUAL(rayc_value_nbytes(v), 16);
    CU_ASSERT_EQUAL(((const int32_t *)rayc_value_data(v))[3], -40);
    rayc_value_release(v);

    v = value_of(rayc_vec(RAYC_C128, 0, NULL)); /* 0 elements: data may be NULL */
    CU_ASSERT_EQUAL(rayc_value_nbytes(v), 0);
    CU_ASSERT_EQUAL(rayc_value_count(v), 0);
    rayc_value_release(v);

    int64_t zshape[3] = {4, 0, 9};
    v = value_of(rayc_array(RAYC_F32, 3, zshape, NULL));
    CU_ASSERT_EQUAL(rayc_value_count(v), 0);
    CU_ASSERT_EQUAL(rayc_value_shape(v)[2], 9);
    rayc_value_release(v);

    a = rayc_vec(RAYC_I32, -1, xs);
    CU_ASSERT_EQUAL(rayc__value_from_arg(&a, &out), RAYC_EINVAL);
    CU_ASSERT(last_error_has("negative extent -1"));
    CU_ASSERT_PTR_EQUAL(out, sentinel);
}

static void test_refarg(void)
{
    rayc_ref r = {12, ((uint64_t)3 << 32) | 1};
    rayc_arg a = rayc_refarg(r);
    CU_ASSERT_EQUAL(a.kind, RAYC_ARG_REF);
    CU_ASSERT_EQUAL(a.ref.private_a, 12);
    CU_ASSERT_EQUAL(a.ref.private_b, ((uint64_t)3 << 32) | 1);
    rayc_value *v = NULL;
    rayc__vhdr h;
    CU_ASSERT_EQUAL(rayc__value_from_arg(&a, &v), RAYC_EINVAL);
    CU_ASSERT(last_error_has("not a value argument (kind 2)"));
    CU_ASSERT_PTR_NULL(v);
    CU_ASSERT_EQUAL(rayc__arg_check(&a, &h), RAYC_EINVAL);

    rayc_arg zero;
    memset(&zero, 0, sizeof zero); /* not made with a helper */
    CU_ASSERT_EQUAL(rayc__value_from_arg(&zero, &v), RAYC_EINVAL);
    CU_ASSERT(last_error_has("kind 0"));
}

/* rayc__arg_check fills the header without copying; rayc__arg_data points at the elements. */
static void test_arg_check_and_data(void)
{
    rayc__vhdr h;
    rayc_arg a = rayc_i32(-9);
    CU_ASSERT_EQUAL(rayc__arg_check(&a, &h), 0);
    CU_ASSERT_EQUAL(h.dtype, RAYC_I32);
    CU_ASSERT_EQUAL(h.nbytes, 4);
    int32_t got;
    memcpy(&got, rayc__arg_data(&a), sizeof got);
    CU_ASSERT_EQUAL(got, -9);

    float fs[3] = {1, 2, 3};
    a = rayc_vec(RAYC_F32, 3, fs);
    CU_ASSERT_EQUAL(rayc__arg_check(&a, &h), 0);
    CU_ASSERT_EQUAL(h.nbytes, 12);
    CU_ASSERT_PTR_EQUAL(rayc__arg_data(&a), fs);
}

/* ------------------------------------------------------------------------------------------ */

static void test_status_table(void)
{
    static const struct {
        int code;
        const char *name;
    } want[] = {
        {0, "RAYC_OK"},           {-1, "RAYC_EINVAL"},     {-2, "RAYC_ENOMEM"},
        {-3, "RAYC_ETIMEDOUT"},   {-4, "RAYC_ETASK"},      {-5, "RAYC_EINFEASIBLE"},
        {-6, "RAYC_ENOFUNC"},     {-7, "RAYC_ERELEASED"},  {-8, "RAYC_ESTATE"},
        {-9, "RAYC_EMPI"},        {-10, "RAYC_EDTYPE"},    {-11, "RAYC_EMISMATCH"},
        {-12, "RAYC_ECANCELLED"}, {-13, "RAYC_EIO"},       {-14, "RAYC_ERANGE"},
        {-15, "RAYC_ETOOBIG"},    {-16, "RAYC_EINTERNAL"}, {-17, "RAYC_ENOSPC"},
    };
    const size_t n = sizeof want / sizeof want[0];
    for (size_t k = 0; k < n; k++) {
        CU_ASSERT_STRING_EQUAL(rayc_status_name(want[k].code), want[k].name);
        const char *text = rayc_strerror(want[k].code);
        CU_ASSERT_PTR_NOT_NULL_FATAL(text);
        CU_ASSERT(strlen(text) > 0);
        CU_ASSERT_STRING_NOT_EQUAL(text, "unknown status");
        for (size_t j = 0; j < k; j++) /* each code has its own text */
            CU_ASSERT_STRING_NOT_EQUAL(text, rayc_strerror(want[j].code));
    }
    /* The table names exactly these codes, no more. */
    size_t in_table = 0;
#define COUNT_CODE(name, value, text)                                                              \
    in_table++;                                                                                    \
    CU_ASSERT_STRING_EQUAL(rayc_strerror(name), text);                                             \
    CU_ASSERT_STRING_EQUAL(rayc_status_name(value), #name);
    RAYC_STATUS_TABLE(COUNT_CODE)
#undef COUNT_CODE
    CU_ASSERT_EQUAL(in_table, n);

    CU_ASSERT_STRING_EQUAL(rayc_strerror(0), "success");
    CU_ASSERT_STRING_EQUAL(rayc_strerror(RAYC_ETIMEDOUT), "timed out");
    const int unknown[] = {1, -18, 100, -1000, INT_MAX, INT_MIN};
    for (size_t k = 0; k < sizeof unknown / sizeof unknown[0]; k++) {
        CU_ASSERT_STRING_EQUAL(rayc_strerror(unknown[k]), "unknown status");
        CU_ASSERT_STRING_EQUAL(rayc_status_name(unknown[k]), "RAYC_UNKNOWN");
    }
}

static void *other_thread_error(void *arg)
{
    const char **out = arg;
    char copy[64];
    snprintf(copy, sizeof copy, "[%s]", rayc_last_error());
    out[0] = strdup(copy);
    rayc__fail(RAYC_EIO, "from the other thread");
    out[1] = strdup(rayc_last_error());
    return NULL;
}

static void test_last_error(void)
{
    CU_ASSERT_EQUAL(rayc__fail(RAYC_ERANGE, "index %d of %s", 7, "x"), RAYC_ERANGE);
    CU_ASSERT_STRING_EQUAL(rayc_last_error(), "index 7 of x");
    CU_ASSERT_EQUAL(rayc__fail_msg(RAYC_EIO, "100%d literal"), RAYC_EIO);
    CU_ASSERT_STRING_EQUAL(rayc_last_error(), "100%d literal");

    /* A successful call does not clear the message. */
    rayc_value *v = value_of(rayc_i64(1));
    rayc_value_release(v);
    CU_ASSERT_STRING_EQUAL(rayc_last_error(), "100%d literal");

    /* Long messages are truncated, NUL-terminated. */
    char *longmsg = malloc(5000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(longmsg);
    memset(longmsg, 'q', 4999);
    longmsg[4999] = 0;
    rayc__fail_msg(RAYC_EINVAL, longmsg);
    CU_ASSERT_EQUAL(strlen(rayc_last_error()), 1023);
    rayc__fail(RAYC_EINVAL, "%s", longmsg);
    CU_ASSERT_EQUAL(strlen(rayc_last_error()), 1023);
    free(longmsg);

    /* Per thread: a new thread starts with "" and does not see or change ours. */
    rayc__fail(RAYC_EINVAL, "main thread message");
    const char *seen[2] = {NULL, NULL};
    pthread_t th;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, other_thread_error, seen), 0);
    pthread_join(th, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(seen[0]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(seen[1]);
    CU_ASSERT_STRING_EQUAL(seen[0], "[]");
    CU_ASSERT_STRING_EQUAL(seen[1], "from the other thread");
    CU_ASSERT_STRING_EQUAL(rayc_last_error(), "main thread message");
    free((void *)seen[0]);
    free((void *)seen[1]);
}

int main(void)
{
    static const unit_test tests[] = {
        {"dtype sizes, names, parse", test_dtype_table},
        {"vhdr_make bounds and overflow", test_vhdr_make},
        {"value new/adopt/ref/unref", test_value_life_cycle},
        {"accessors on NULL", test_accessors_null},
        {"scalar builders", test_scalar_builders},
        {"integer conversions", test_integer_conversions},
        {"multi-element scalar reads fail", test_multi_element_fails},
        {"rayc_str and rayc_bytes", test_str_and_bytes},
        {"rayc_array and rayc_vec", test_array_and_vec},
        {"rayc_refarg", test_refarg},
        {"arg_check and arg_data", test_arg_check_and_data},
        {"status names and texts", test_status_table},
        {"last error message", test_last_error},
    };
    return UNIT_RUN("value", tests);
}
