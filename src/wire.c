/* wire.c: encoder and bounds-checked decoder for control messages (format in wire.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "wire.h"

void rayc__wbuf_init(rayc__wbuf *b)
{
    memset(b, 0, sizeof *b);
}

void rayc__wbuf_free(rayc__wbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

void rayc__wbuf_reset(rayc__wbuf *b)
{
    b->len = 0;
    b->oom = 0;
}

uint8_t *rayc__wbuf_reserve(rayc__wbuf *b, size_t n)
{
    if (b->oom)
        return NULL;
    if (n > SIZE_MAX / 2 - b->len) {
        b->oom = 1;
        return NULL;
    }
    if (b->len + n > b->cap || !b->p) { /* !p: even 0 bytes need a real pointer */
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return NULL;
        }
        b->p = p;
        b->cap = cap;
    }
    uint8_t *at = b->p + b->len;
    b->len += n;
    return at;
}

static void put_le(rayc__wbuf *b, uint64_t v, int n)
{
    uint8_t *p = rayc__wbuf_reserve(b, (size_t)n);
    if (!p)
        return;
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void rayc__put_u8(rayc__wbuf *b, uint8_t v) { put_le(b, v, 1); }
void rayc__put_u16(rayc__wbuf *b, uint16_t v) { put_le(b, v, 2); }
void rayc__put_u32(rayc__wbuf *b, uint32_t v) { put_le(b, v, 4); }
void rayc__put_u64(rayc__wbuf *b, uint64_t v) { put_le(b, v, 8); }
void rayc__put_i32(rayc__wbuf *b, int32_t v) { put_le(b, (uint32_t)v, 4); }

void rayc__put_f64(rayc__wbuf *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    put_le(b, u, 8);
}

void rayc__put_bytes(rayc__wbuf *b, const void *p, size_t n)
{
    uint8_t *at = rayc__wbuf_reserve(b, n);
    if (at && n)
        memcpy(at, p, n);
}

void rayc__put_str(rayc__wbuf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    rayc__put_u32(b, (uint32_t)n);
    rayc__put_bytes(b, s, n);
}

void rayc__put_oid(rayc__wbuf *b, rayc__oid id)
{
    rayc__put_u64(b, id.seq);
    rayc__put_u32(b, id.rank);
    rayc__put_u32(b, id.idx);
}

void rayc__put_vhdr(rayc__wbuf *b, const rayc__vhdr *h)
{
    rayc__put_u8(b, h->dtype);
    rayc__put_u8(b, h->ndim);
    for (int i = 0; i < h->ndim; i++)
        rayc__put_u64(b, (uint64_t)h->shape[i]);
    rayc__put_u64(b, h->nbytes);
}

void rayc__put_value(rayc__wbuf *b, const rayc_value *v)
{
    rayc__put_vhdr(b, &v->h);
    rayc__put_bytes(b, v->data, (size_t)v->h.nbytes);
}

size_t rayc__rec_begin(rayc__wbuf *b, uint8_t type)
{
    rayc__put_u8(b, type);
    size_t at = b->len;
    rayc__put_u32(b, 0);
    return at;
}

void rayc__rec_end(rayc__wbuf *b, size_t start)
{
    if (b->oom)
        return;
    uint64_t n = b->len - start - 4;
    if (n > UINT32_MAX) {
        b->oom = 1;
        return;
    }
    for (int i = 0; i < 4; i++)
        b->p[start + (size_t)i] = (uint8_t)(n >> (8 * i));
}

void rayc__rbuf_init(rayc__rbuf *r, const void *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->off = 0;
    r->err = 0;
}

const void *rayc__get_bytes(rayc__rbuf *r, size_t n)
{
    if (r->err || n > r->len - r->off) {
        r->err = 1;
        return NULL;
    }
    if (!r->p) /* 0 bytes of an empty message given as NULL (NULL + 0 is undefined) */
        return NULL;
    const void *at = r->p + r->off;
    r->off += n;
    return at;
}

static uint64_t get_le(rayc__rbuf *r, int n)
{
    const uint8_t *p = rayc__get_bytes(r, (size_t)n);
    uint64_t v = 0;
    for (int i = 0; p && i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

uint8_t rayc__get_u8(rayc__rbuf *r) { return (uint8_t)get_le(r, 1); }
uint16_t rayc__get_u16(rayc__rbuf *r) { return (uint16_t)get_le(r, 2); }
uint32_t rayc__get_u32(rayc__rbuf *r) { return (uint32_t)get_le(r, 4); }
uint64_t rayc__get_u64(rayc__rbuf *r) { return get_le(r, 8); }
int32_t rayc__get_i32(rayc__rbuf *r) { return (int32_t)(uint32_t)get_le(r, 4); }

double rayc__get_f64(rayc__rbuf *r)
{
    uint64_t u = get_le(r, 8);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

char *rayc__get_str(rayc__rbuf *r, char *dst, size_t dstlen)
{
    uint32_t n = rayc__get_u32(r);
    const char *s = rayc__get_bytes(r, n);
    if (dstlen == 0)
        return dst;
    size_t c = s ? (n < dstlen - 1 ? n : dstlen - 1) : 0;
    if (c)
        memcpy(dst, s, c);
    dst[c] = 0;
    return dst;
}

rayc__oid rayc__get_oid(rayc__rbuf *r)
{
    rayc__oid o;
    o.seq = rayc__get_u64(r);
    o.rank = rayc__get_u32(r);
    o.idx = rayc__get_u32(r);
    return o;
}

void rayc__get_vhdr(rayc__rbuf *r, rayc__vhdr *h)
{
    memset(h, 0, sizeof *h);
    uint8_t dtype = rayc__get_u8(r);
    uint8_t ndim = rayc__get_u8(r);
    if (dtype >= RAYC_NUM_DTYPES || ndim > RAYC_MAX_NDIM) {
        r->err = 1;
        return;
    }
    int64_t shape[RAYC_MAX_NDIM];
    for (int i = 0; i < ndim; i++)
        shape[i] = (int64_t)rayc__get_u64(r);
    uint64_t nbytes = rayc__get_u64(r);
    if (r->err)
        return;
    /* Validate here rather than with rayc__vhdr_make, which would overwrite the caller's
     * last-error message for what is a corrupt message, not a user mistake. */
    rayc__vhdr chk;
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) {
            r->err = 1;
            return;
        }
    uint64_t n = rayc_dtype_size((rayc_dtype)dtype);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] && n > UINT64_MAX / 2 / (uint64_t)shape[i]) {
            r->err = 1;
            return;
        }
        n *= (uint64_t)shape[i];
    }
    if (n != nbytes) {
        r->err = 1;
        return;
    }
    memset(&chk, 0, sizeof chk);
    chk.dtype = dtype;
    chk.ndim = ndim;
    for (int i = 0; i < ndim; i++)
        chk.shape[i] = shape[i];
    chk.nbytes = nbytes;
    *h = chk;
}

rayc_value *rayc__get_value(rayc__rbuf *r, int *oom)
{
    rayc__vhdr h;
    *oom = 0;
    rayc__get_vhdr(r, &h);
    if (r->err)
        return NULL;
    if (h.nbytes > r->len - r->off) {
        r->err = 1;
        return NULL;
    }
    const void *data = rayc__get_bytes(r, (size_t)h.nbytes);
    rayc_value *v = rayc__value_new(&h, data);
    if (!v)
        *oom = 1;
    return v;
}

int rayc__rec_next(rayc__rbuf *r, uint8_t *type, rayc__rbuf *rec)
{
    if (r->err)
        return -1;
    if (r->off == r->len)
        return 0;
    *type = rayc__get_u8(r);
    uint32_t n = rayc__get_u32(r);
    const void *p = rayc__get_bytes(r, n);
    if (!p && n)
        return -1;
    if (r->err)
        return -1;
    rayc__rbuf_init(rec, p, n);
    return 1;
}

size_t rayc__batch_split(const uint8_t *p, size_t len, size_t limit)
{
    size_t at = 0;
    while (at < len) {
        size_t rec = len - at < 5 ? len - at : 5 + ((size_t)p[at + 1] | (size_t)p[at + 2] << 8 |
                                                   (size_t)p[at + 3] << 16 |
                                                   (size_t)p[at + 4] << 24);
        if (rec > len - at)
            rec = len - at; /* malformed tail: the receiver reports it */
        if (at && at + rec > limit)
            break;
        at += rec;
    }
    return at;
}
