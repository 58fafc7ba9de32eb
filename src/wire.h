/* wire.h: the byte format of control messages. Little-endian fixed-width integers, no
 * padding; every read is bounds-checked so a corrupt or truncated message is an error, never an
 * out-of-bounds access (the decoder is fuzzed).
 *
 * A control message is a batch: a sequence of records [u8 type][u32 length][payload]. */
#ifndef RAYC_WIRE_H
#define RAYC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "ids.h"
#include "value_int.h"

/* Growable output buffer. On allocation failure oom is set and later writes are dropped. */
typedef struct rayc__wbuf {
    uint8_t *p;
    size_t len, cap;
    int oom;
} rayc__wbuf;

void rayc__wbuf_init(rayc__wbuf *b);
void rayc__wbuf_free(rayc__wbuf *b);
void rayc__wbuf_reset(rayc__wbuf *b);
/* Make room for n more bytes; returns a pointer to write them at, or NULL (oom set). */
uint8_t *rayc__wbuf_reserve(rayc__wbuf *b, size_t n);
void rayc__put_u8(rayc__wbuf *b, uint8_t v);
void rayc__put_u16(rayc__wbuf *b, uint16_t v);
void rayc__put_u32(rayc__wbuf *b, uint32_t v);
void rayc__put_u64(rayc__wbuf *b, uint64_t v);
void rayc__put_i32(rayc__wbuf *b, int32_t v);
void rayc__put_f64(rayc__wbuf *b, double v);
void rayc__put_bytes(rayc__wbuf *b, const void *p, size_t n);
/* u32 length + bytes (NULL is written as length 0). */
void rayc__put_str(rayc__wbuf *b, const char *s);
void rayc__put_oid(rayc__wbuf *b, rayc__oid id);
void rayc__put_vhdr(rayc__wbuf *b, const rayc__vhdr *h);
/* Header + data of a value. */
void rayc__put_value(rayc__wbuf *b, const rayc_value *v);

/* Start a record; returns its offset for rayc__rec_end, which fills in the length. */
size_t rayc__rec_begin(rayc__wbuf *b, uint8_t type);
void rayc__rec_end(rayc__wbuf *b, size_t start);

/* Bounded reader. After any failed read err is set and every later read returns zeros. */
typedef struct rayc__rbuf {
    const uint8_t *p;
    size_t len, off;
    int err;
} rayc__rbuf;

void rayc__rbuf_init(rayc__rbuf *r, const void *p, size_t len);
uint8_t rayc__get_u8(rayc__rbuf *r);
uint16_t rayc__get_u16(rayc__rbuf *r);
uint32_t rayc__get_u32(rayc__rbuf *r);
uint64_t rayc__get_u64(rayc__rbuf *r);
int32_t rayc__get_i32(rayc__rbuf *r);
double rayc__get_f64(rayc__rbuf *r);
/* Pointer to n bytes inside the message (not copied), or NULL with err set. */
const void *rayc__get_bytes(rayc__rbuf *r, size_t n);
/* Copy a length-prefixed string into dst (dstlen bytes, NUL-terminated, truncated); err on a
 * malformed length. Returns dst. */
char *rayc__get_str(rayc__rbuf *r, char *dst, size_t dstlen);
rayc__oid rayc__get_oid(rayc__rbuf *r);
/* Header with validation (dtype, ndim, shape, nbytes consistent). */
void rayc__get_vhdr(rayc__rbuf *r, rayc__vhdr *h);
/* A new value (refs = 1) copied out of the message; NULL with err set on a malformed value,
 * NULL with err clear (and *oom = 1) when allocation failed. */
rayc_value *rayc__get_value(rayc__rbuf *r, int *oom);

/* Iterate records: returns 1 and sets *type and *rec (a reader over the payload) for the next
 * record, 0 at the end, -1 on a malformed batch. */
int rayc__rec_next(rayc__rbuf *r, uint8_t *type, rayc__rbuf *rec);
/* Length of the first message to send from batch p[0..len): whole records, at most limit
 * bytes, but at least one record (a record longer than limit goes alone). len when it all
 * fits; 0 only for an empty batch. A batch is sent as several messages when it is longer
 * than MPI's int count can say. */
size_t rayc__batch_split(const uint8_t *p, size_t len, size_t limit);

#endif /* RAYC_WIRE_H */
