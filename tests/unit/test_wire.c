/* test_wire.c: CUnit suite for src/wire.c: byte layout and round trips of every put/get pair,
 * the growable buffer, records (empty, many, large), values of every dtype, header validation,
 * truncation at every cut point of a valid batch, get_str truncation, and 20k random or mutated
 * buffers decoded without crashing (run under ASan to catch out-of-bounds reads). */
#include "config.h"

#include <CUnit/CUnit.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"
#include "unit_main.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    return unit_xorshift(&rng_state);
}

/* A heap copy of exactly n bytes, so that ASan flags any read past the end. */
static uint8_t *exact_copy(const void *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    if (n)
        memcpy(c, p, n);
    return c;
}

/* A value of dtype dt and shape (ndim extents) whose bytes are a pattern seeded by seed. */
static rayc_value *pattern_value(rayc_dtype dt, int ndim, const int64_t *shape, unsigned seed)
{
    rayc__vhdr h;
    CU_ASSERT_EQUAL_FATAL(rayc__vhdr_make(&h, dt, ndim, shape), 0);
    rayc_value *v = rayc__value_new(&h, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    for (uint64_t i = 0; i < h.nbytes; i++)
        ((uint8_t *)v->data)[i] = (uint8_t)(seed * 31 + i * 7 + 1);
    return v;
}

static int same_value(const rayc_value *a, const rayc_value *b)
{
    return a->h.dtype == b->h.dtype && a->h.ndim == b->h.ndim && a->h.nbytes == b->h.nbytes &&
           memcmp(a->h.shape, b->h.shape, sizeof a->h.shape) == 0 &&
           memcmp(a->data, b->data, (size_t)a->h.nbytes) == 0;
}

/* ------------------------------------------------------------------------------------------ */

static void test_layout_little_endian(void)
{
    rayc__wbuf b;
    rayc__wbuf_init(&b);
    rayc__put_u8(&b, 0xA1);
    rayc__put_u16(&b, 0xB2C3);
    rayc__put_u32(&b, 0x01020304);
    rayc__put_u64(&b, 0x1122334455667788ull);
    rayc__put_i32(&b, -2);
    rayc__put_f64(&b, 1.0);
    rayc__put_str(&b, "ab");
    rayc__put_oid(&b, (rayc__oid){.seq = 5, .rank = 6, .idx = 7});
    static const uint8_t want[] = {
        0xA1,                                           /* u8 */
        0xC3, 0xB2,                                     /* u16 */
        0x04, 0x03, 0x02, 0x01,                         /* u32 */
        0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* u64 */
        0xFE, 0xFF, 0xFF, 0xFF,                         /* i32 -2 */
        0, 0, 0, 0, 0, 0, 0xF0, 0x3F,                   /* f64 1.0 */
        2, 0, 0, 0, 'a', 'b',                           /* str */
        5, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0, /* oid */
    };
    CU_ASSERT_EQUAL_FATAL(b.len, sizeof want);
    CU_ASSERT_EQUAL(memcmp(b.p, want, sizeof want), 0);
    CU_ASSERT_EQUAL(b.oom, 0);

    /* vhdr: dtype, ndim, ndim extents, nbytes */
    int64_t shape[2] = {2, 3};
    rayc__vhdr h;
    CU_ASSERT_EQUAL_FATAL(rayc__vhdr_make(&h, RAYC_I16, 2, shape), 0);
    rayc__wbuf_reset(&b);
    CU_ASSERT_EQUAL(b.len, 0);
    rayc__put_vhdr(&b, &h);
    static const uint8_t wantv[] = {RAYC_I16, 2, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0,
                                    0,        0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0};
    CU_ASSERT_EQUAL_FATAL(b.len, sizeof wantv);
    CU_ASSERT_EQUAL(memcmp(b.p, wantv, sizeof wantv), 0);
    rayc__wbuf_free(&b);
    CU_ASSERT_PTR_NULL(b.p);
    CU_ASSERT_EQUAL(b.len, 0);
    CU_ASSERT_EQUAL(b.cap, 0);
}

static void test_scalar_round_trips(void)
{
    const double doubles[] = {0.0, -0.0, 1.5, -1e300, DBL_MIN / 4, DBL_MAX, INFINITY, -INFINITY,
                              NAN};
    const size_t nd = sizeof doubles / sizeof doubles[0];
    rayc__wbuf b;
    rayc__wbuf_init(&b);
    for (int k = 0; k < 3; k++) {
        uint64_t mixed = 0xFEDCBA9876543210ull >> (k * 8);
        rayc__put_u8(&b, (uint8_t)(k == 0 ? 0 : k == 1 ? 0xFF : 0x80));
        rayc__put_u16(&b, (uint16_t)(k == 0 ? 0 : k == 1 ? 0xFFFF : 0x8001));
        rayc__put_u32(&b, k == 0 ? 0 : k == 1 ? UINT32_MAX : 0x80000001u);
        rayc__put_u64(&b, k == 0 ? 0 : k == 1 ? UINT64_MAX : mixed);
        rayc__put_i32(&b, k == 0 ? 0 : k == 1 ? INT32_MIN : INT32_MAX);
    }
    for (size_t k = 0; k < nd; k++)
        rayc__put_f64(&b, doubles[k]);
    rayc__put_bytes(&b, "xyz", 3);
    rayc__put_bytes(&b, NULL, 0);
    rayc__put_str(&b, "hello");
    rayc__put_str(&b, "");
    rayc__put_str(&b, NULL);
    rayc__oid ids[3] = {{1, 0, 0}, {UINT64_MAX, UINT32_MAX, UINT32_MAX}, {42, 3, 9}};
    for (int k = 0; k < 3; k++)
        rayc__put_oid(&b, ids[k]);
    CU_ASSERT_EQUAL_FATAL(b.oom, 0);

    uint8_t *msg = exact_copy(b.p, b.len);
    rayc__rbuf r;
    rayc__rbuf_init(&r, msg, b.len);
    for (int k = 0; k < 3; k++) {
        uint64_t mixed = 0xFEDCBA9876543210ull >> (k * 8);
        CU_ASSERT_EQUAL(rayc__get_u8(&r), k == 0 ? 0 : k == 1 ? 0xFF : 0x80);
        CU_ASSERT_EQUAL(rayc__get_u16(&r), k == 0 ? 0 : k == 1 ? 0xFFFF : 0x8001);
        CU_ASSERT_EQUAL(rayc__get_u32(&r), k == 0 ? 0 : k == 1 ? UINT32_MAX : 0x80000001u);
        CU_ASSERT_EQUAL(rayc__get_u64(&r), k == 0 ? 0 : k == 1 ? UINT64_MAX : mixed);
        CU_ASSERT_EQUAL(rayc__get_i32(&r), k == 0 ? 0 : k == 1 ? INT32_MIN : INT32_MAX);
    }
    for (size_t k = 0; k < nd; k++) {
        double d = rayc__get_f64(&r);
        CU_ASSERT_EQUAL(memcmp(&d, &doubles[k], sizeof d), 0); /* bit-exact: -0.0, NaN */
    }
    const char *xyz = rayc__get_bytes(&r, 3);
    CU_ASSERT_PTR_EQUAL(xyz, msg + r.off - 3); /* points into the message, not copied */
    CU_ASSERT_EQUAL(memcmp(xyz, "xyz", 3), 0);
    CU_ASSERT_PTR_NOT_NULL(rayc__get_bytes(&r, 0));
    char s[16];
    CU_ASSERT_STRING_EQUAL(rayc__get_str(&r, s, sizeof s), "hello");
    memset(s, 'X', sizeof s);
    CU_ASSERT_STRING_EQUAL(rayc__get_str(&r, s, sizeof s), "");
    memset(s, 'X', sizeof s);
    CU_ASSERT_STRING_EQUAL(rayc__get_str(&r, s, sizeof s), "");
    for (int k = 0; k < 3; k++) {
        rayc__oid o = rayc__get_oid(&r);
        CU_ASSERT(rayc__oid_eq(o, ids[k]));
    }
    CU_ASSERT_EQUAL(r.err, 0);
    CU_ASSERT_EQUAL(r.off, r.len);

    /* Past the end: error, zeros, and it sticks. */
    CU_ASSERT_EQUAL(rayc__get_u8(&r), 0);
    CU_ASSERT_EQUAL(r.err, 1);
    CU_ASSERT_EQUAL(r.off, r.len);
    CU_ASSERT_PTR_NULL(rayc__get_bytes(&r, 0));
    rayc__oid z = rayc__get_oid(&r);
    CU_ASSERT(rayc__oid_is_null(z));
    CU_ASSERT_EQUAL(z.rank, 0);
    CU_ASSERT_EQUAL(z.idx, 0);
    CU_ASSERT_EQUAL(rayc__get_f64(&r), 0.0);
    free(msg);
    rayc__wbuf_free(&b);
}

/* A failed read consumes nothing and poisons the reader even where bytes remain. */
static void test_sticky_error(void)
{
    const uint8_t two[2] = {0x34, 0x12};
    uint8_t *msg = exact_copy(two, 2);
    rayc__rbuf r;
    rayc__rbuf_init(&r, msg, 2);
    CU_ASSERT_EQUAL(rayc__get_u32(&r), 0);
    CU_ASSERT_EQUAL(r.err, 1);
    CU_ASSERT_EQUAL(r.off, 0);
    CU_ASSERT_EQUAL(rayc__get_u16(&r), 0); /* would fit, but the reader is in error */
    CU_ASSERT_EQUAL(rayc__get_u8(&r), 0);
    rayc__rbuf_init(&r, msg, 2);
    CU_ASSERT_EQUAL(rayc__get_u16(&r), 0x1234);
    CU_ASSERT_PTR_NULL(rayc__get_bytes(&r, SIZE_MAX)); /* no wrap-around in the bound check */
    CU_ASSERT_EQUAL(r.err, 1);
    rayc__rbuf_init(&r, msg, 2);
    CU_ASSERT_PTR_NULL(rayc__get_bytes(&r, SIZE_MAX));
    CU_ASSERT_EQUAL(r.off, 0);
    free(msg);

    rayc__rbuf_init(&r, NULL, 0); /* an empty message without a buffer */
    CU_ASSERT_PTR_NULL(rayc__get_bytes(&r, 0)); /* nothing to point at, but not an error */
    CU_ASSERT_EQUAL(r.err, 0);
    CU_ASSERT_EQUAL(r.off, 0);
    CU_ASSERT_EQUAL(rayc__get_u64(&r), 0);
    CU_ASSERT_EQUAL(r.err, 1);
}

static void test_wbuf_growth_and_oom(void)
{
    rayc__wbuf b;
    rayc__wbuf_init(&b);
    rayc__put_bytes(&b, NULL, 0); /* nothing to write into a fresh buffer */
    uint8_t *at = rayc__wbuf_reserve(&b, 0);
    CU_ASSERT_PTR_NOT_NULL(at); /* a real pointer even for 0 bytes */
    CU_ASSERT_EQUAL(b.len, 0);
    CU_ASSERT_EQUAL(b.oom, 0);
    for (uint32_t i = 0; i < 100000; i++)
        rayc__put_u32(&b, i * 2654435761u);
    CU_ASSERT_EQUAL_FATAL(b.len, 400000);
    CU_ASSERT(b.cap >= b.len);
    CU_ASSERT_EQUAL(b.oom, 0);
    rayc__rbuf r;
    rayc__rbuf_init(&r, b.p, b.len);
    uint32_t bad = 0;
    for (uint32_t i = 0; i < 100000; i++)
        bad += rayc__get_u32(&r) != i * 2654435761u;
    CU_ASSERT_EQUAL(bad, 0);

    uint8_t *big = rayc__wbuf_reserve(&b, 1 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    CU_ASSERT_PTR_EQUAL(big, b.p + 400000);
    memset(big, 0xEE, 1 << 20);
    CU_ASSERT_EQUAL(b.len, 400000 + (1 << 20));

    /* Impossible sizes set oom; later writes are dropped until reset. */
    size_t len = b.len;
    CU_ASSERT_PTR_NULL(rayc__wbuf_reserve(&b, SIZE_MAX));
    CU_ASSERT_EQUAL(b.oom, 1);
    rayc__put_u64(&b, 1);
    rayc__put_str(&b, "dropped");
    CU_ASSERT_EQUAL(b.len, len);
    CU_ASSERT_PTR_NULL(rayc__wbuf_reserve(&b, 1));
    size_t cap = b.cap;
    rayc__wbuf_reset(&b);
    CU_ASSERT_EQUAL(b.oom, 0);
    CU_ASSERT_EQUAL(b.len, 0);
    CU_ASSERT_EQUAL(b.cap, cap); /* reset keeps the allocation */
    rayc__put_u8(&b, 9);
    CU_ASSERT_EQUAL(b.len, 1);
    CU_ASSERT_EQUAL(b.p[0], 9);
    CU_ASSERT_PTR_NULL(rayc__wbuf_reserve(&b, SIZE_MAX / 2));
    CU_ASSERT_EQUAL(b.oom, 1);
    rayc__wbuf_free(&b);
    rayc__wbuf_free(&b); /* twice: harmless */
}

static void test_get_str_truncation(void)
{
    rayc__wbuf b;
    rayc__wbuf_init(&b);
    rayc__put_str(&b, "hello world");
    rayc__put_u8(&b, 0x5A);
    uint8_t *msg = exact_copy(b.p, b.len);
    char dst[32];
    rayc__rbuf r;

    rayc__rbuf_init(&r, msg, b.len);
    CU_ASSERT_PTR_EQUAL(rayc__get_str(&r, dst, 6), dst);
    CU_ASSERT_STRING_EQUAL(dst, "hello");
    CU_ASSERT_EQUAL(r.off, 4 + 11); /* the whole string is consumed */
    CU_ASSERT_EQUAL(rayc__get_u8(&r), 0x5A);
    CU_ASSERT_EQUAL(r.err, 0);

    rayc__rbuf_init(&r, msg, b.len);
    rayc__get_str(&r, dst, 12); /* exactly fits with its NUL */
    CU_ASSERT_STRING_EQUAL(dst, "hello world");
    rayc__rbuf_init(&r, msg, b.len);
    rayc__get_str(&r, dst, 11);
    CU_ASSERT_STRING_EQUAL(dst, "hello worl");

    rayc__rbuf_init(&r, msg, b.len);
    rayc__get_str(&r, dst, 1);
    CU_ASSERT_STRING_EQUAL(dst, "");
    CU_ASSERT_EQUAL(r.off, 15);

    rayc__rbuf_init(&r, msg, b.len);
    dst[0] = 'X';
    rayc__get_str(&r, dst, 0); /* nothing written, still consumed */
    CU_ASSERT_EQUAL(dst[0], 'X');
    CU_ASSERT_EQUAL(r.off, 15);
    CU_ASSERT_EQUAL(r.err, 0);

    /* length prefix beyond the message: error and an empty string */
    for (size_t cut = 0; cut < 15; cut++) {
        uint8_t *part = exact_copy(msg, cut);
        rayc__rbuf_init(&r, part, cut);
        memset(dst, 'X', sizeof dst);
        CU_ASSERT_STRING_EQUAL(rayc__get_str(&r, dst, sizeof dst), "");
        CU_ASSERT_EQUAL(r.err, 1);
        free(part);
    }
    const uint8_t huge[6] = {0xFF, 0xFF, 0xFF, 0xFF, 'a', 'b'};
    rayc__rbuf_init(&r, huge, sizeof huge);
    rayc__get_str(&r, dst, sizeof dst);
    CU_ASSERT_EQUAL(r.err, 1);
    CU_ASSERT_STRING_EQUAL(dst, "");
    free(msg);
    rayc__wbuf_free(&b);
}

/* ------------------------------------------------------------------------------------------ */
/* Records                                                                                     */

static void test_records_layout_and_empty(void)
{
    rayc__wbuf b;
    rayc__wbuf_init(&b);
    size_t at = rayc__rec_begin(&b, 7);
    CU_ASSERT_EQUAL(at, 1);
    rayc__put_u16(&b, 0xBEEF);
    rayc__rec_end(&b, at);
    at = rayc__rec_begin(&b, 0); /* empty payload */
    rayc__rec_end(&b, at);
    at = rayc__rec_begin(&b, 255);
    rayc__put_u8(&b, 1);
    rayc__rec_end(&b, at);
    at = rayc__rec_begin(&b, 3); /* empty again, last in the batch */
    rayc__rec_end(&b, at);
    static const uint8_t want[] = {7, 2, 0, 0, 0, 0xEF, 0xBE, 0, 0, 0, 0, 0,
                                   255, 1, 0, 0, 0, 1, 3, 0, 0, 0, 0};
    CU_ASSERT_EQUAL_FATAL(b.len, sizeof want);
    CU_ASSERT_EQUAL(memcmp(b.p, want, sizeof want), 0);

    uint8_t *msg = exact_copy(b.p, b.len);
    rayc__rbuf r, rec;
    uint8_t type = 99;
    rayc__rbuf_init(&r, msg, b.len);
    CU_ASSERT_EQUAL(rayc__rec_next(&r, &type, &rec), 1);
    CU_ASSERT_EQUAL(type, 7);
    CU_ASSERT_EQUAL(rec.len, 2);
    CU_ASSERT_EQUAL(rayc__get_u16(&rec), 0xBEEF);
    CU_ASSERT_EQUAL(rayc__get_u8(&rec), 0); /* bounded by the record, not the batch */
    CU_ASSERT_EQUAL(rec.err, 1);
    CU_ASSERT_EQUAL(rayc__rec_next(&r, &type, &rec), 1);
    CU_ASSERT_EQUAL(type, 0);
    CU_ASSERT_EQUAL(rec.len, 0);
    CU_ASSERT_EQUAL(rec.off, 0);
    CU_ASSERT_EQUAL(rec.err, 0);
    CU_ASSERT_EQUAL(rayc__rec_next(&r, &type, &rec), 1);
    CU_ASSERT_EQUAL(type, 255);
    CU_ASSERT_EQUAL(rayc__rec_next(&r, &type, &rec), 1);
    CU_ASSERT_EQUAL(type, 3);
    CU_ASSERT_EQUAL(rec.len, 0);
    CU_ASSERT_EQUAL(rayc__rec_next(&r, &type, &rec), 0);
    CU_ASSERT_EQUAL(rayc__rec_next(&r, &type, &rec), 0); /* the end stays the end */

    /* An empty batch has no records. */
    rayc__rbuf_init(&r, NULL, 0);
    CU_ASSERT_EQUAL(rayc__rec_next(&r, &type, &rec), 0);

    /* A length beyond the batch is malformed, and stays so. */
    const uint8_t bad[] = {1, 5, 0, 0, 0, 'a', 'b'};
    rayc__rbuf_init(&r, bad, sizeof bad);
    CU_ASSERT_EQUAL(rayc__rec_next(&r, &type, &rec), -1);
    CU_ASSERT_EQUAL(rayc__rec_next(&r, &type, &rec), -1);
    const uint8_t huge[] = {1, 0xFF, 0xFF, 0xFF, 0xFF, 'a'};
    rayc__rbuf_init(&r, huge, sizeof huge);
    CU_ASSERT_EQUAL(rayc__rec_next(&r, &type, &rec), -1);
    free(msg);
    rayc__wbuf_free(&b);
}

static void test_many_records(void)
{
    enum { N = 20000 };
    rayc__wbuf b;
    rayc__wbuf_init(&b);
    for (int i = 0; i < N; i++) {
        size_t at = rayc__rec_begin(&b, (uint8_t)(i * 13));
        for (int k = 0; k < i % 97; k++)
            rayc__put_u8(&b, (uint8_t)(i + k));
        rayc__rec_end(&b, at);
    }
    /* one large record at the end */
    size_t at = rayc__rec_begin(&b, 200);
    uint8_t *big = rayc__wbuf_reserve(&b, 300000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memset(big, 0xC5, 300000);
    rayc__rec_end(&b, at);
    CU_ASSERT_EQUAL_FATAL(b.oom, 0);

    rayc__rbuf r, rec;
    uint8_t type;
    int n = 0, bad = 0;
    rayc__rbuf_init(&r, b.p, b.len);
    while (n < N && rayc__rec_next(&r, &type, &rec) == 1) {
        if (type != (uint8_t)(n * 13) || rec.len != (size_t)(n % 97))
            bad++;
        for (size_t k = 0; k < rec.len; k++)
            if (rayc__get_u8(&rec) != (uint8_t)(n + (int)k))
                bad++;
        n++;
    }
    CU_ASSERT_EQUAL(n, N);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(rayc__rec_next(&r, &type, &rec), 1);
    CU_ASSERT_EQUAL(type, 200);
    CU_ASSERT_EQUAL(rec.len, 300000);
    const uint8_t *p = rayc__get_bytes(&rec, 300000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT(p[0] == 0xC5 && p[299999] == 0xC5);
    CU_ASSERT_EQUAL(rayc__rec_next(&r, &type, &rec), 0);
    rayc__wbuf_free(&b);
}

/* ------------------------------------------------------------------------------------------ */
/* Values and headers                                                                          */

static void round_trip_value(rayc_value *v)
{
    rayc__wbuf b;
    rayc__wbuf_init(&b);
    rayc__put_value(&b, v);
    rayc__put_u8(&b, 0x77); /* something after it */
    CU_ASSERT_EQUAL(b.len, 2 + 8 * (size_t)v->h.ndim + 8 + (size_t)v->h.nbytes + 1);
    uint8_t *msg = exact_copy(b.p, b.len);
    rayc__rbuf r;
    rayc__rbuf_init(&r, msg, b.len);
    int oom = 1;
    rayc_value *w = rayc__get_value(&r, &oom);
    CU_ASSERT_EQUAL(oom, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    CU_ASSERT(same_value(v, w));
    CU_ASSERT_PTR_NOT_EQUAL(w->data, msg + 2 + 8 * v->h.ndim + 8); /* copied out */
    CU_ASSERT_EQUAL((uintptr_t)w->data % 64, 0);
    CU_ASSERT_EQUAL(atomic_load(&w->refs), 1);
    CU_ASSERT_EQUAL(rayc__get_u8(&r), 0x77);
    CU_ASSERT_EQUAL(r.err, 0);
    CU_ASSERT_EQUAL(r.off, r.len);
    rayc__value_unref(w);
    free(msg);
    rayc__wbuf_free(&b);
}

static void test_values_every_dtype(void)
{
    int64_t v3[1] = {3}, v0[1] = {0}, m23[2] = {2, 3}, z[3] = {2, 0, 4};
    int64_t s8[RAYC_MAX_NDIM] = {2, 1, 2, 1, 2, 1, 1, 3};
    for (int dt = 0; dt < RAYC_NUM_DTYPES; dt++) {
        rayc_value *vs[6] = {
            pattern_value((rayc_dtype)dt, 0, NULL, (unsigned)dt),
            pattern_value((rayc_dtype)dt, 1, v3, (unsigned)dt + 1),
            pattern_value((rayc_dtype)dt, 1, v0, 0),
            pattern_value((rayc_dtype)dt, 2, m23, (unsigned)dt + 2),
            pattern_value((rayc_dtype)dt, 3, z, 0),
            pattern_value((rayc_dtype)dt, RAYC_MAX_NDIM, s8, (unsigned)dt + 3),
        };
        for (int k = 0; k < 6; k++) {
            round_trip_value(vs[k]);
            rayc__value_unref(vs[k]);
        }
    }
    /* A value through the public builders, as the submit path encodes it. */
    rayc_value *s = NULL;
    rayc_arg a = rayc_str("a string value");
    CU_ASSERT_EQUAL_FATAL(rayc__value_from_arg(&a, &s), 0);
    round_trip_value(s);
    rayc__value_unref(s);
}

/* Encode a header by hand, field by field (no validation on this side). */
static size_t raw_vhdr(uint8_t *out, uint8_t dtype, uint8_t ndim, const uint64_t *shape,
                       uint64_t nbytes, size_t extra_data)
{
    rayc__wbuf b;
    rayc__wbuf_init(&b);
    rayc__put_u8(&b, dtype);
    rayc__put_u8(&b, ndim);
    for (int i = 0; i < ndim; i++)
        rayc__put_u64(&b, shape[i]);
    rayc__put_u64(&b, nbytes);
    for (size_t i = 0; i < extra_data; i++)
        rayc__put_u8(&b, (uint8_t)i);
    size_t n = b.len;
    memcpy(out, b.p, n);
    rayc__wbuf_free(&b);
    return n;
}

/* 0 when the header decodes cleanly (h filled), 1 when rejected (h zeroed). */
static int vhdr_rejected(const uint8_t *buf, size_t n, rayc__vhdr *h)
{
    uint8_t *msg = exact_copy(buf, n);
    rayc__rbuf r;
    rayc__rbuf_init(&r, msg, n);
    memset(h, 0xCD, sizeof *h);
    rayc__get_vhdr(&r, h);
    int rej = r.err;
    if (rej) {
        rayc__vhdr zero;
        memset(&zero, 0, sizeof zero);
        CU_ASSERT_EQUAL(memcmp(h, &zero, sizeof zero), 0);
    }
    free(msg);
    return rej;
}

static void test_vhdr_validation(void)
{
    uint8_t buf[256];
    rayc__vhdr h;
    uint64_t s23[2] = {2, 3};
    size_t n = raw_vhdr(buf, RAYC_I32, 2, s23, 24, 0);
    CU_ASSERT_EQUAL(vhdr_rejected(buf, n, &h), 0);
    CU_ASSERT_EQUAL(h.dtype, RAYC_I32);
    CU_ASSERT_EQUAL(h.ndim, 2);
    CU_ASSERT_EQUAL(h.shape[1], 3);
    CU_ASSERT_EQUAL(h.shape[2], 0);
    CU_ASSERT_EQUAL(h.nbytes, 24);

    /* wrong nbytes */
    const uint64_t wrong[] = {0, 23, 25, 48, UINT64_MAX};
    for (size_t k = 0; k < sizeof wrong / sizeof wrong[0]; k++) {
        n = raw_vhdr(buf, RAYC_I32, 2, s23, wrong[k], 0);
        CU_ASSERT_EQUAL(vhdr_rejected(buf, n, &h), 1);
    }
    /* dtype >= 14 */
    n = raw_vhdr(buf, RAYC_NUM_DTYPES, 2, s23, 24, 0);
    CU_ASSERT_EQUAL(vhdr_rejected(buf, n, &h), 1);
    n = raw_vhdr(buf, 255, 0, NULL, 1, 0);
    CU_ASSERT_EQUAL(vhdr_rejected(buf, n, &h), 1);
    n = raw_vhdr(buf, RAYC_BYTES, 0, NULL, 1, 0); /* the largest dtype is fine */
    CU_ASSERT_EQUAL(vhdr_rejected(buf, n, &h), 0);
    /* ndim > 8 */
    uint64_t ones[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    n = raw_vhdr(buf, RAYC_U8, RAYC_MAX_NDIM + 1, ones, 1, 0);
    CU_ASSERT_EQUAL(vhdr_rejected(buf, n, &h), 1);
    n = raw_vhdr(buf, RAYC_U8, RAYC_MAX_NDIM, ones, 1, 0);
    CU_ASSERT_EQUAL(vhdr_rejected(buf, n, &h), 0);
    CU_ASSERT_EQUAL(h.ndim, RAYC_MAX_NDIM);
    /* negative extent, whatever nbytes claims */
    uint64_t neg[2] = {UINT64_MAX, 2};
    n = raw_vhdr(buf, RAYC_U8, 2, neg, (uint64_t)-2, 0);
    CU_ASSERT_EQUAL(vhdr_rejected(buf, n, &h), 1);
    uint64_t neg0[2] = {(uint64_t)INT64_MIN, 0};
    n = raw_vhdr(buf, RAYC_U8, 2, neg0, 0, 0);
    CU_ASSERT_EQUAL(vhdr_rejected(buf, n, &h), 1);
    uint64_t zneg[2] = {0, (uint64_t)-1}; /* after a 0 extent the product stays 0 */
    n = raw_vhdr(buf, RAYC_U8, 2, zneg, 0, 0);
    CU_ASSERT_EQUAL(vhdr_rejected(buf, n, &h), 1);
    /* products that wrap around must not pass as small values */
    uint64_t wrap[2] = {UINT64_C(1) << 32, UINT64_C(1) << 32};
    n = raw_vhdr(buf, RAYC_U8, 2, wrap, 0, 0);
    CU_ASSERT_EQUAL(vhdr_rejected(buf, n, &h), 1);
    uint64_t wrap8[1] = {UINT64_C(1) << 61};
    n = raw_vhdr(buf, RAYC_I64, 1, wrap8, 0, 0);
    CU_ASSERT_EQUAL(vhdr_rejected(buf, n, &h), 1);
    /* zero elements: nbytes must be 0 */
    uint64_t z[2] = {0, 1000};
    n = raw_vhdr(buf, RAYC_F64, 2, z, 0, 0);
    CU_ASSERT_EQUAL(vhdr_rejected(buf, n, &h), 0);
    n = raw_vhdr(buf, RAYC_F64, 2, z, 8, 0);
    CU_ASSERT_EQUAL(vhdr_rejected(buf, n, &h), 1);

    /* get_value: a header promising more data than the message holds */
    uint64_t four[1] = {4};
    n = raw_vhdr(buf, RAYC_U16, 1, four, 8, 7);
    uint8_t *msg = exact_copy(buf, n);
    rayc__rbuf r;
    rayc__rbuf_init(&r, msg, n);
    int oom = 1;
    CU_ASSERT_PTR_NULL(rayc__get_value(&r, &oom));
    CU_ASSERT_EQUAL(r.err, 1);
    CU_ASSERT_EQUAL(oom, 0);
    free(msg);
    n = raw_vhdr(buf, RAYC_U16, 1, four, 8, 8);
    msg = exact_copy(buf, n);
    rayc__rbuf_init(&r, msg, n);
    rayc_value *v = rayc__get_value(&r, &oom);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_EQUAL(((const uint16_t *)v->data)[3], 0x0706);
    rayc__value_unref(v);
    free(msg);
    /* a huge header with nothing after it is rejected without allocating */
    uint64_t huge[1] = {UINT64_C(1) << 40};
    n = raw_vhdr(buf, RAYC_U8, 1, huge, UINT64_C(1) << 40, 3);
    msg = exact_copy(buf, n);
    rayc__rbuf_init(&r, msg, n);
    CU_ASSERT_PTR_NULL(rayc__get_value(&r, &oom));
    CU_ASSERT_EQUAL(r.err, 1);
    CU_ASSERT_EQUAL(oom, 0);
    free(msg);
}

/* ------------------------------------------------------------------------------------------ */
/* A batch with every kind of field, decoded by a schema per record type                       */

enum { REC_SCALARS = 1, REC_IDS = 2, REC_VALUES = 3, REC_EMPTY = 4, REC_HDR = 5 };

static const rayc__oid batch_oid = {123456789, 7, 2};

static void build_batch(rayc__wbuf *b, size_t *bounds, int *nbounds)
{
    int nb = 0;
    size_t at;
    bounds[nb++] = 0;
    at = rayc__rec_begin(b, REC_SCALARS);
    rayc__put_u8(b, 0xAB);
    rayc__put_u16(b, 0xCDEF);
    rayc__put_u32(b, 0xDEADBEEF);
    rayc__put_u64(b, 0x0123456789ABCDEFull);
    rayc__put_i32(b, -77);
    rayc__put_f64(b, -2.25);
    rayc__rec_end(b, at);
    bounds[nb++] = b->len;

    at = rayc__rec_begin(b, REC_IDS);
    rayc__put_str(b, "remote_fn");
    rayc__put_oid(b, batch_oid);
    rayc__put_str(b, "");
    rayc__rec_end(b, at);
    bounds[nb++] = b->len;

    at = rayc__rec_begin(b, REC_EMPTY);
    rayc__rec_end(b, at);
    bounds[nb++] = b->len;

    at = rayc__rec_begin(b, REC_VALUES);
    rayc__put_u32(b, RAYC_NUM_DTYPES);
    for (int dt = 0; dt < RAYC_NUM_DTYPES; dt++) {
        int64_t shape[2] = {dt % 3, 2};
        rayc_value *v = pattern_value((rayc_dtype)dt, dt % 3, shape, (unsigned)dt);
        rayc__put_value(b, v);
        rayc__value_unref(v);
    }
    rayc__rec_end(b, at);
    bounds[nb++] = b->len;

    at = rayc__rec_begin(b, REC_HDR);
    int64_t s[3] = {4, 5, 6};
    rayc__vhdr h;
    CU_ASSERT_EQUAL_FATAL(rayc__vhdr_make(&h, RAYC_C64, 3, s), 0);
    rayc__put_vhdr(b, &h);
    rayc__rec_end(b, at);
    bounds[nb++] = b->len;

    at = rayc__rec_begin(b, REC_EMPTY);
    rayc__rec_end(b, at);
    bounds[nb++] = b->len;
    *nbounds = nb;
    CU_ASSERT_EQUAL_FATAL(b->oom, 0);
}

/* Decode one record by its schema; 0 when it decodes fully with the expected contents. */
static int decode_record(uint8_t type, rayc__rbuf *rec)
{
    int ok = 1;
    char s[32];
    switch (type) {
    case REC_SCALARS:
        ok &= rayc__get_u8(rec) == 0xAB;
        ok &= rayc__get_u16(rec) == 0xCDEF;
        ok &= rayc__get_u32(rec) == 0xDEADBEEF;
        ok &= rayc__get_u64(rec) == 0x0123456789ABCDEFull;
        ok &= rayc__get_i32(rec) == -77;
        ok &= rayc__get_f64(rec) == -2.25;
        break;
    case REC_IDS:
        ok &= strcmp(rayc__get_str(rec, s, sizeof s), "remote_fn") == 0;
        ok &= rayc__oid_eq(rayc__get_oid(rec), batch_oid);
        rayc__get_str(rec, s, sizeof s);
        ok &= s[0] == 0;
        break;
    case REC_VALUES: {
        uint32_t n = rayc__get_u32(rec);
        ok &= n == RAYC_NUM_DTYPES;
        for (uint32_t i = 0; i < n && !rec->err; i++) {
            int oom = 0;
            rayc_value *v = rayc__get_value(rec, &oom);
            if (!v) { /* a truncated value: a decode error, never an allocation failure */
                ok = 0;
                break;
            }
            int64_t shape[2] = {i % 3, 2};
            rayc_value *want = pattern_value((rayc_dtype)i, (int)(i % 3), shape, i);
            ok &= same_value(v, want);
            rayc__value_unref(want);
            rayc__value_unref(v);
        }
        break;
    }
    case REC_HDR: {
        rayc__vhdr h;
        rayc__get_vhdr(rec, &h);
        ok &= h.dtype == RAYC_C64 && h.ndim == 3 && h.shape[2] == 6 && h.nbytes == 8 * 120;
        break;
    }
    case REC_EMPTY:
        break;
    default:
        ok = 0;
    }
    return ok && !rec->err && rec->off == rec->len ? 0 : -1;
}

/* Records decoded from a batch, or -1 when it is malformed or a record does not decode. */
static int decode_batch(const uint8_t *p, size_t n)
{
    rayc__rbuf r, rec;
    uint8_t type;
    int count = 0, rc;
    rayc__rbuf_init(&r, p, n);
    while ((rc = rayc__rec_next(&r, &type, &rec)) == 1) {
        if (rec.len > n || (const uint8_t *)rec.p < p || (const uint8_t *)rec.p + rec.len > p + n)
            return -2; /* a payload outside the batch: never acceptable */
        if (decode_record(type, &rec) != 0)
            return -1;
        count++;
    }
    return rc < 0 ? -1 : count;
}

static void test_truncation_every_cut(void)
{
    rayc__wbuf b;
    size_t bounds[16];
    int nb = 0;
    rayc__wbuf_init(&b);
    build_batch(&b, bounds, &nb);
    CU_ASSERT_EQUAL_FATAL(decode_batch(b.p, b.len), nb - 1);

    /* Cut the batch anywhere: complete records before the cut decode, a partial one fails. */
    int wrong = 0, boundaries = 0;
    for (size_t cut = 0; cut <= b.len; cut++) {
        uint8_t *part = exact_copy(b.p, cut);
        int expect = -1;
        for (int k = 0; k < nb; k++)
            if (bounds[k] == cut)
                expect = k;
        boundaries += expect >= 0;
        int got = decode_batch(part, cut);
        if (got != expect) {
            fprintf(stderr, "\n  cut %zu: decoded %d, expected %d\n", cut, got, expect);
            wrong++;
        }
        free(part);
    }
    CU_ASSERT_EQUAL(wrong, 0);
    CU_ASSERT_EQUAL(boundaries, nb);

    /* Cut each record's payload anywhere: the record decoder must notice. */
    rayc__rbuf r, rec;
    uint8_t type;
    int checked = 0;
    wrong = 0;
    rayc__rbuf_init(&r, b.p, b.len);
    while (rayc__rec_next(&r, &type, &rec) == 1) {
        for (size_t cut = 0; cut < rec.len; cut++) {
            uint8_t *part = exact_copy(rec.p, cut);
            rayc__rbuf sub;
            rayc__rbuf_init(&sub, part, cut);
            if (decode_record(type, &sub) != -1 || !sub.err)
                wrong++;
            checked++;
            free(part);
        }
    }
    CU_ASSERT_EQUAL(wrong, 0);
    CU_ASSERT_EQUAL(checked, (int)(b.len - 5 * (size_t)(nb - 1))); /* every payload byte */
    CU_ASSERT(checked > 400);
    rayc__wbuf_free(&b);
}

/* ------------------------------------------------------------------------------------------ */
/* Random and mutated input                                                                    */

/* Interpret a payload every way the runtime might; checks reader invariants. Returns the
 * number of items decoded (only to keep the work observable). */
static long decode_any(const uint8_t *p, size_t n, int *violations)
{
    long items = 0;
    char s[8];
    rayc__rbuf r;
    for (int mode = 0; mode < 5; mode++) {
        rayc__rbuf_init(&r, p, n);
        while (!r.err && r.off < r.len) {
            size_t before = r.off;
            int oom = 0;
            rayc__vhdr h;
            rayc_value *v;
            switch (mode) {
            case 0:
                v = rayc__get_value(&r, &oom);
                if (v) {
                    *violations += v->h.ndim > RAYC_MAX_NDIM || v->h.dtype >= RAYC_NUM_DTYPES;
                    *violations += v->h.nbytes > n - before; /* it came from p */
                    rayc__value_unref(v);
                    items++;
                } else {
                    *violations += !r.err && !oom;
                }
                break;
            case 1:
                rayc__get_oid(&r);
                items++;
                break;
            case 2:
                rayc__get_vhdr(&r, &h);
                if (!r.err) {
                    uint64_t want = rayc_dtype_size((rayc_dtype)h.dtype);
                    for (int i = 0; i < h.ndim; i++)
                        want *= (uint64_t)h.shape[i];
                    *violations += h.ndim > RAYC_MAX_NDIM || want != h.nbytes;
                    items++;
                }
                break;
            case 3:
                rayc__get_str(&r, s, sizeof s);
                *violations += strlen(s) >= sizeof s;
                items++;
                break;
            default:
                rayc__get_u8(&r);
                rayc__get_u16(&r);
                rayc__get_i32(&r);
                rayc__get_f64(&r);
                items++;
            }
            *violations += r.off > r.len || r.off < before || (!r.err && r.off == before);
        }
        if (r.err) { /* poisoned: everything reads as zero and nothing moves */
            size_t off = r.off;
            *violations += rayc__get_u64(&r) != 0 || r.off != off;
        }
    }
    return items;
}

static long decode_garbage(const uint8_t *p, size_t n, int *violations)
{
    rayc__rbuf r, rec;
    uint8_t type;
    long items = 0;
    rayc__rbuf_init(&r, p, n);
    while (rayc__rec_next(&r, &type, &rec) == 1) {
        if ((const uint8_t *)rec.p < p || rec.len > n ||
            (const uint8_t *)rec.p + rec.len > p + n) {
            (*violations)++;
            break;
        }
        items += decode_any(rec.p, rec.len, violations);
    }
    items += decode_any(p, n, violations); /* also the whole buffer as one payload */
    return items;
}

static void test_random_garbage(void)
{
    enum { ROUNDS = 20000 };
    rayc__wbuf valid;
    size_t bounds[16];
    int nb, violations = 0;
    long items = 0;
    rayc__wbuf_init(&valid);
    build_batch(&valid, bounds, &nb);
    rng_state = 0x243F6A8885A308D3ull;
    for (int round = 0; round < ROUNDS; round++) {
        size_t n;
        uint8_t *buf;
        if (round % 2 == 0) { /* pure noise, biased to small lengths and small numbers */
            n = (size_t)(rnd() % 300);
            buf = malloc(n ? n : 1);
            CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)(rnd() % 4 == 0 ? rnd() : rnd() % 16);
        } else { /* a valid batch, cut and with a few bytes changed */
            n = (size_t)(rnd() % (valid.len + 1));
            buf = exact_copy(valid.p, n);
            int flips = 1 + (int)(rnd() % 4);
            for (int f = 0; n && f < flips; f++)
                buf[rnd() % n] = (uint8_t)(rnd() % 3 == 0 ? rnd() % 16 : rnd());
        }
        items += decode_garbage(buf, n, &violations);
        free(buf);
    }
    CU_ASSERT_EQUAL(violations, 0);
    CU_ASSERT(items > ROUNDS); /* the decoder did real work */
    rayc__wbuf_free(&valid);
}

/* Splitting a batch into messages: whole records, at most the limit, at least one record;
 * the pieces decode to the same records in order. */
static void test_batch_split(void)
{
    rayc__wbuf b;
    rayc__wbuf_init(&b);
    CU_ASSERT_EQUAL(rayc__batch_split(b.p, 0, 100), 0);
    size_t sizes[] = {0, 10, 100, 3, 250, 7, 7, 64};
    size_t n = sizeof sizes / sizeof sizes[0];
    for (size_t k = 0; k < n; k++) {
        size_t at = rayc__rec_begin(&b, (uint8_t)(k + 1));
        for (size_t j = 0; j < sizes[k]; j++)
            rayc__put_u8(&b, (uint8_t)(k * 31 + j));
        rayc__rec_end(&b, at);
    }
    CU_ASSERT_FATAL(!b.oom);
    CU_ASSERT_EQUAL(rayc__batch_split(b.p, b.len, b.len), b.len);
    CU_ASSERT_EQUAL(rayc__batch_split(b.p, b.len, 1), 5); /* one record even over the limit */
    CU_ASSERT_EQUAL(rayc__batch_split(b.p, b.len, 5 + 15), 5 + 15);
    CU_ASSERT_EQUAL(rayc__batch_split(b.p, b.len, 5 + 15 + 104), 5 + 15);
    for (size_t limit = 1; limit <= b.len + 1; limit++) {
        size_t at = 0, k = 0;
        int bad = 0;
        while (at < b.len) {
            size_t m = rayc__batch_split(b.p + at, b.len - at, limit);
            if (m == 0 || (m > limit && m != 5 + sizes[k]))
                bad++;
            rayc__rbuf r, rec;
            uint8_t type;
            rayc__rbuf_init(&r, b.p + at, m);
            while (rayc__rec_next(&r, &type, &rec) == 1) {
                if (type != k + 1 || rec.len != sizes[k])
                    bad++;
                k++;
            }
            if (r.err || m == 0)
                break;
            at += m;
        }
        CU_ASSERT_EQUAL(bad, 0);
        CU_ASSERT_EQUAL(k, n);
    }
    rayc__wbuf_free(&b);
}

int main(void)
{
    static const unit_test tests[] = {
        {"little-endian layout", test_layout_little_endian},
        {"put/get round trips", test_scalar_round_trips},
        {"sticky read errors", test_sticky_error},
        {"wbuf growth and oom", test_wbuf_growth_and_oom},
        {"get_str truncation", test_get_str_truncation},
        {"records: layout and empty payloads", test_records_layout_and_empty},
        {"many records", test_many_records},
        {"values of every dtype", test_values_every_dtype},
        {"vhdr validation", test_vhdr_validation},
        {"truncation at every cut point", test_truncation_every_cut},
        {"20k random and mutated buffers", test_random_garbage},
        {"batches split into messages at record boundaries", test_batch_split},
    };
    return UNIT_RUN("wire", tests);
}
