/* ids.h: object and task ids, made without a round trip as (submitting rank, that rank's
 * sequence number, index). A task is (rank, seq, 0); its return i is (rank, seq, i + 1); a put
 * is (rank, seq, 0) with seq taken from the same counter (so no task has that seq). Public refs
 * carry the id in their two private words. */
#ifndef RAYC_IDS_H
#define RAYC_IDS_H

#include <stdint.h>

#include "rayc.h"

typedef struct rayc__oid {
    uint64_t seq;  /* >= 1; 0 only in the null id */
    uint32_t rank;
    uint32_t idx;
} rayc__oid;

static inline rayc__oid rayc__oid_of_ref(rayc_ref r)
{
    rayc__oid o = {r.private_a, (uint32_t)(r.private_b >> 32), (uint32_t)r.private_b};
    return o;
}

static inline rayc_ref rayc__ref_of_oid(rayc__oid o)
{
    rayc_ref r = {o.seq, ((uint64_t)o.rank << 32) | o.idx};
    return r;
}

static inline int rayc__oid_eq(rayc__oid a, rayc__oid b)
{
    return a.seq == b.seq && a.rank == b.rank && a.idx == b.idx;
}

static inline int rayc__oid_is_null(rayc__oid a)
{
    return a.seq == 0;
}

static inline uint64_t rayc__oid_hash(rayc__oid o)
{
    uint64_t h = o.seq * 0x9E3779B97F4A7C15ull;
    h ^= ((uint64_t)o.rank << 32 | o.idx) + 0x632BE59BD9B4E019ull + (h << 6) + (h >> 2);
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 32);
}

/* The task that produces object o (idx 0). */
static inline rayc__oid rayc__oid_task(rayc__oid o)
{
    rayc__oid t = {o.seq, o.rank, 0};
    return t;
}

#endif /* RAYC_IDS_H */
