/* oidmap.c: the intrusive id index (see oidmap.h for the slot format). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "oidmap.h"

#define ADDR_BITS 48
#define ADDR_MASK ((UINT64_C(1) << ADDR_BITS) - 1)
#define DIST_BITS 10
#define MAX_DIST ((UINT64_C(1) << DIST_BITS) - 1)
#define TAG_SHIFT (ADDR_BITS + DIST_BITS) /* the hash's top 6 bits */

static rayc__oid key_of(const rayc__oidmap *m, const void *rec)
{
    rayc__oid k;
    memcpy(&k, (const char *)rec + m->key_off, sizeof k);
    return k;
}

static void *rec_of(const rayc__oidmap *m, uint64_t s)
{
    return (void *)(uintptr_t)(m->plain ? s : s & ADDR_MASK);
}

static uint64_t encode(const rayc__oidmap *m, const void *rec, uint64_t h, size_t dist)
{
    uint64_t a = (uint64_t)(uintptr_t)rec;
    if (m->plain)
        return a;
    return a | (uint64_t)dist << ADDR_BITS | (h >> TAG_SHIFT) << TAG_SHIFT;
}

/* Distance of the entry in slot j from its home slot. */
static size_t dist_of(const rayc__oidmap *m, uint64_t s, size_t j)
{
    if (!m->plain)
        return (size_t)(s >> ADDR_BITS & MAX_DIST);
    return (j - (size_t)rayc__oid_hash(key_of(m, rec_of(m, s)))) & (m->cap - 1);
}

void rayc__oidmap_init(rayc__oidmap *m, size_t key_off)
{
    m->slots = NULL;
    m->cap = m->count = 0;
    m->key_off = key_off;
    m->plain = 0;
    m->hint = 0;
}

void rayc__oidmap_free(rayc__oidmap *m)
{
    free(m->slots);
    rayc__oidmap_init(m, m->key_off);
}

enum { FOUND, EMPTY, TOO_FAR };

/* Probe for key (hash h): FOUND with *at its slot, EMPTY with *at the first free slot and *dist
 * its distance from home (at most MAX_DIST), or TOO_FAR (absent, and no free slot within
 * MAX_DIST). */
static int find(const rayc__oidmap *m, rayc__oid key, uint64_t h, size_t *at, size_t *dist)
{
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    uint64_t want = h >> TAG_SHIFT << TAG_SHIFT;
    for (size_t d = 0;; d++, i = (i + 1) & mask) {
        /* No entry lies farther than the distance field counts, and a free slot there could
         * not record the distance either. */
        if (d > MAX_DIST && !m->plain)
            return TOO_FAR;
        uint64_t s = m->slots[i];
        if (!s) {
            *at = i;
            *dist = d;
            return EMPTY;
        }
        if (m->plain) {
            if (rayc__oid_eq(key_of(m, rec_of(m, s)), key)) {
                *at = i;
                return FOUND;
            }
            continue;
        }
        /* same tag and same home before reading the record */
        if ((s & ~ADDR_MASK) == (want | (uint64_t)d << ADDR_BITS) &&
            rayc__oid_eq(key_of(m, rec_of(m, s)), key)) {
            *at = i;
            return FOUND;
        }
    }
}

void *rayc__oidmap_get(rayc__oidmap *m, rayc__oid key)
{
    size_t at, dist;
    if (!m->cap || !key.seq || find(m, key, rayc__oid_hash(key), &at, &dist) != FOUND)
        return NULL;
    m->hint = at;
    return rec_of(m, m->slots[at]);
}

/* Rebuild with ncap slots (doubling further if an entry would land too far from home). */
static int resize(rayc__oidmap *m, size_t ncap)
{
    rayc__oidmap n = *m;
    for (;; ncap *= 2) {
        n.cap = ncap;
        n.slots = calloc(ncap, sizeof *n.slots);
        if (!n.slots)
            return -1;
        int ok = 1;
        for (size_t i = 0; ok && i < m->cap; i++) {
            if (!m->slots[i])
                continue;
            void *rec = rec_of(m, m->slots[i]);
            uint64_t h = rayc__oid_hash(key_of(m, rec));
            size_t at, dist;
            if (find(&n, key_of(m, rec), h, &at, &dist) != EMPTY)
                ok = 0;
            else
                n.slots[at] = encode(&n, rec, h, dist);
        }
        if (ok)
            break;
        free(n.slots);
        if (!n.plain && ncap >= 16 * (m->count + 1)) { /* sparse and still too long a run */
            n.plain = 1; /* same size again, with plain slots (no distance limit) */
            ncap /= 2;
        }
    }
    free(m->slots);
    *m = n;
    return 0;
}

/* Slots keep bare addresses from now on (an address does not fit 48 bits). */
void rayc__oidmap_make_plain(rayc__oidmap *m)
{
    if (m->plain)
        return;
    for (size_t i = 0; i < m->cap; i++)
        m->slots[i] &= ADDR_MASK;
    m->plain = 1;
}

int rayc__oidmap_put(rayc__oidmap *m, void *rec)
{
    if (!rec)
        return -1;
    rayc__oid key = key_of(m, rec);
    if (!key.seq)
        return -1;
    if (!m->plain && (uint64_t)(uintptr_t)rec > ADDR_MASK)
        rayc__oidmap_make_plain(m);
    if ((m->count + 1) * 4 > m->cap * 3 && resize(m, m->cap ? m->cap * 2 : 64) != 0)
        return -1;
    uint64_t h = rayc__oid_hash(key);
    for (;;) {
        size_t at, dist;
        int r = find(m, key, h, &at, &dist);
        if (r == FOUND) {
            m->slots[at] = m->plain ? (uint64_t)(uintptr_t)rec
                                    : (m->slots[at] & ~ADDR_MASK) | (uint64_t)(uintptr_t)rec;
            return 0;
        }
        if (r == EMPTY) {
            m->slots[at] = encode(m, rec, h, dist);
            m->count++;
            return 0;
        }
        /* TOO_FAR: a long run; spread it out, unless the table is already sparse (hashes that
         * agree in many bits): plain slots have no distance limit. */
        if (m->cap >= 16 * (m->count + 1))
            rayc__oidmap_make_plain(m);
        else if (resize(m, m->cap * 2) != 0)
            return -1;
    }
}

void *rayc__oidmap_del(rayc__oidmap *m, rayc__oid key)
{
    size_t at = m->hint, dist;
    if (!m->cap || !key.seq)
        return NULL;
    /* The record found last is often the one deleted next (look up, then drop). */
    uint64_t hs = at < m->cap ? m->slots[at] : 0;
    if (!hs || !rayc__oid_eq(key_of(m, rec_of(m, hs)), key)) {
        if (find(m, key, rayc__oid_hash(key), &at, &dist) != FOUND)
            return NULL;
    }
    void *rec = rec_of(m, m->slots[at]);
    m->count--;
    /* Backward shift: an entry later in the run moves into the hole when its home is at or
     * before the hole (its distance covers the gap); its distance shrinks by the gap. */
    size_t mask = m->cap - 1, hole = at, j = at;
    for (;;) {
        j = (j + 1) & mask;
        uint64_t s = m->slots[j];
        if (!s)
            break;
        size_t d = dist_of(m, s, j), gap = (j - hole) & mask;
        if (d < gap)
            continue;
        m->slots[hole] = m->plain ? s
                                  : (s & ~(MAX_DIST << ADDR_BITS)) |
                                        (uint64_t)(d - gap) << ADDR_BITS;
        hole = j;
    }
    m->slots[hole] = 0;
    return rec;
}

void *rayc__oidmap_next(const rayc__oidmap *m, size_t *pos)
{
    while (*pos < m->cap) {
        uint64_t s = m->slots[(*pos)++];
        if (s)
            return rec_of(m, s);
    }
    return NULL;
}
