/* fuzz_wire.c: libFuzzer target for the control-message decoder (src/wire.c). Decodes arbitrary
 * bytes as a batch of records and each record as values, oids, headers, strings and scalars;
 * checks reader invariants and that every value or header it accepts re-encodes to exactly the
 * bytes it was read from. Not part of make check. Build and run (about a minute):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude -Isrc \
 *       tests/unit/fuzz_wire.c src/wire.c src/value.c src/status.c -o fuzz_wire
 *   mkdir -p fuzz-corpus && ./fuzz_wire -max_total_time=60 fuzz-corpus
 *
 * (config.h and include/rayc/version.h come from configure.) */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Report a broken invariant and abort so that libFuzzer saves the input. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_wire: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);    \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The bytes r consumed since off must equal what the encoder writes for the same thing. */
static void check_reencoded(const rayc__rbuf *r, size_t off, const rayc__wbuf *b)
{
    FUZZ_CHECK(!b->oom);
    FUZZ_CHECK(r->off - off == b->len);
    FUZZ_CHECK(b->len == 0 || memcmp(r->p + off, b->p, b->len) == 0);
}

static void decode_values(const rayc__rbuf *in, rayc__wbuf *b)
{
    rayc__rbuf r = *in;
    while (!r.err && r.off < r.len) {
        size_t off = r.off;
        int oom = 0;
        rayc_value *v = rayc__get_value(&r, &oom);
        if (!v) {
            FUZZ_CHECK(r.err || oom);
            break;
        }
        FUZZ_CHECK(v->h.ndim <= RAYC_MAX_NDIM && v->h.dtype < RAYC_NUM_DTYPES);
        FUZZ_CHECK(v->h.nbytes <= r.len - off);
        rayc__wbuf_reset(b);
        rayc__put_value(b, v);
        check_reencoded(&r, off, b);
        rayc__value_unref(v);
    }
}

static void decode_headers(const rayc__rbuf *in, rayc__wbuf *b)
{
    rayc__rbuf r = *in;
    while (!r.err && r.off < r.len) {
        size_t off = r.off;
        rayc__vhdr h;
        rayc__get_vhdr(&r, &h);
        if (r.err)
            break;
        uint64_t n = rayc_dtype_size((rayc_dtype)h.dtype);
        for (int i = 0; i < h.ndim; i++) {
            FUZZ_CHECK(h.shape[i] >= 0);
            n *= (uint64_t)h.shape[i];
        }
        FUZZ_CHECK(n == h.nbytes && h.nbytes < (UINT64_C(1) << 63));
        for (int i = h.ndim; i < RAYC_MAX_NDIM; i++)
            FUZZ_CHECK(h.shape[i] == 0);
        rayc__wbuf_reset(b);
        rayc__put_vhdr(b, &h);
        check_reencoded(&r, off, b);
    }
}

static void decode_ids_and_strings(const rayc__rbuf *in, rayc__wbuf *b)
{
    rayc__rbuf r = *in;
    while (!r.err && r.off < r.len) {
        size_t off = r.off;
        rayc__oid o = rayc__get_oid(&r);
        if (r.err)
            break;
        rayc__wbuf_reset(b);
        rayc__put_oid(b, o);
        check_reencoded(&r, off, b);
    }
    r = *in;
    char s[16];
    while (!r.err && r.off < r.len) {
        size_t off = r.off;
        rayc__get_str(&r, s, sizeof s);
        FUZZ_CHECK(strlen(s) < sizeof s);
        FUZZ_CHECK(r.err || r.off - off >= 4);
    }
    r = *in;
    while (!r.err && r.off < r.len) {
        size_t off = r.off;
        rayc__get_u8(&r);
        rayc__get_u16(&r);
        rayc__get_u32(&r);
        rayc__get_i32(&r);
        rayc__get_u64(&r);
        rayc__get_f64(&r);
        FUZZ_CHECK(r.off <= r.len && r.off >= off);
    }
    FUZZ_CHECK(!r.err || (rayc__get_u64(&r) == 0 && rayc__get_bytes(&r, 0) == NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rayc__rbuf batch, rec;
    rayc__wbuf b;
    uint8_t type;
    int rc;
    rayc__wbuf_init(&b);
    rayc__rbuf_init(&batch, data, size);
    while ((rc = rayc__rec_next(&batch, &type, &rec)) == 1) {
        FUZZ_CHECK(rec.off == 0 && !rec.err);
        FUZZ_CHECK(rec.len <= size);
        FUZZ_CHECK(rec.len == 0 || (rec.p >= data && rec.p + rec.len <= data + size));
        FUZZ_CHECK(batch.off <= size);
        decode_values(&rec, &b);
        decode_headers(&rec, &b);
        decode_ids_and_strings(&rec, &b);
    }
    FUZZ_CHECK(rc == 0 ? batch.off == size && !batch.err : batch.err);
    rayc__wbuf_free(&b);
    return 0;
}

#ifdef FUZZ_WIRE_STANDALONE
/* Without libFuzzer (e.g. gcc): run the target once on each file named on the command line. */
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        static uint8_t buf[1 << 20];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        uint8_t *copy = malloc(n ? n : 1);
        if (!copy)
            return 1;
        memcpy(copy, buf, n);
        LLVMFuzzerTestOneInput(copy, n);
        free(copy);
    }
    return 0;
}
#endif
