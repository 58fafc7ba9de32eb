/* oidmap.c: the intrusive id index (see oidmap.h for the slot format).
 *
 * Linear probing in Robin Hood order: along a run of occupied slots, entries sit in the order
 * of their home slots, so an entry's distance from home is at most one more than its
 * predecessor's. A lookup stops at the first entry closer to its home than the key would be
 * (the key would have been placed before it); an insert shifts the rest of the run one slot
 * on to make room where the key belongs; a delete shifts the run back until an entry that is
 * at its home. A run of entries at home (a sequential map's burst of ids) then costs one slot
 * per lookup, insert and delete, where plain linear probing scans to the end of the run to
 * delete. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "oidmap.h"

#define ADDR_BITS 48
#define ADDR_MASK ((UINT64_C(1) << ADDR_BITS) - 1)
#define DIST_BITS 10
#define MAX_DIST ((UINT64_C(1) << DIST_BITS) - 1)
#define DIST_ONE (UINT64_C(1) << ADDR_BITS)
#define TAG_SHIFT (ADDR_BITS + DIST_BITS) /* the hash's top 6 bits */

#define SEQ_RUN_MAX 16 /* a sequential map whose put lands farther than this scatters */

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

/* The hash of key k in m: rayc__oid_hash in an ordinary map; in a sequential map the id's
 * place in its rank's sequence, with tag bits from a multiplicative hash of it. */
static uint64_t hash_of(const rayc__oidmap *m, rayc__oid k)
{
    if (!m->sequential)
        return rayc__oid_hash(k);
    uint64_t lin = k.seq + (k.idx ? k.idx - 1 : 0);
    uint64_t tag = (lin * UINT64_C(0x9E3779B97F4A7C15)) >> TAG_SHIFT << TAG_SHIFT;
    return tag | (lin & ((UINT64_C(1) << TAG_SHIFT) - 1));
}

/* Distance of the entry in slot j from its home slot. */
static size_t dist_of(const rayc__oidmap *m, uint64_t s, size_t j)
{
    if (!m->plain)
        return (size_t)(s >> ADDR_BITS & MAX_DIST);
    return (j - (size_t)hash_of(m, key_of(m, rec_of(m, s)))) & (m->cap - 1);
}

void rayc__oidmap_init(rayc__oidmap *m, size_t key_off)
{
    m->slots = NULL;
    m->cap = m->count = 0;
    m->key_off = key_off;
    m->plain = 0;
    m->hint = 0;
    m->sequential = 0;
}

void rayc__oidmap_init_seq(rayc__oidmap *m, size_t key_off)
{
    rayc__oidmap_init(m, key_off);
    m->sequential = 1;
}

void rayc__oidmap_free(rayc__oidmap *m)
{
    int sequential = m->sequential;
    free(m->slots);
    rayc__oidmap_init(m, m->key_off);
    m->sequential = sequential;
}

/* The slot of key (hash h), or -1 when absent. */
static ptrdiff_t lookup(const rayc__oidmap *m, rayc__oid key, uint64_t h)
{
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    uint64_t want = h >> TAG_SHIFT << TAG_SHIFT;
    for (size_t d = 0;; d++, i = (i + 1) & mask) {
        uint64_t s = m->slots[i];
        if (!s)
            return -1;
        if (m->plain) {
            if (dist_of(m, s, i) < d)
                return -1;
            if (rayc__oid_eq(key_of(m, rec_of(m, s)), key))
                return (ptrdiff_t)i;
            continue;
        }
        size_t sd = (size_t)(s >> ADDR_BITS & MAX_DIST);
        if (sd < d)
            return -1; /* closer to its home than key would be: key would sit here */
        /* same tag and same home before reading the record */
        if (sd == d && s >> TAG_SHIFT == want >> TAG_SHIFT &&
            rayc__oid_eq(key_of(m, rec_of(m, s)), key))
            return (ptrdiff_t)i;
    }
}

/* Place rec (an absent key, hash h) in Robin Hood order. Returns its distance from home, or
 * -1 when it or an entry it pushes on would end farther from home than the slots record
 * (nothing is changed then). The table has a free slot (load at most 3/4). */
static ptrdiff_t place(rayc__oidmap *m, void *rec, uint64_t h)
{
    size_t mask = m->cap - 1, i = (size_t)h & mask, d = 0;
    for (;; d++, i = (i + 1) & mask) { /* where it belongs */
        if (d > MAX_DIST && !m->plain)
            return -1;
        uint64_t s = m->slots[i];
        if (!s || dist_of(m, s, i) < d)
            break;
    }
    size_t e = i; /* the free slot ending the run: the entries up to it move on by one */
    for (; m->slots[e]; e = (e + 1) & mask)
        if (!m->plain && dist_of(m, m->slots[e], e) >= MAX_DIST)
            return -1;
    for (size_t j = e; j != i;) {
        size_t k = (j - 1) & mask;
        m->slots[j] = m->plain ? m->slots[k] : m->slots[k] + DIST_ONE;
        j = k;
    }
    m->slots[i] = encode(m, rec, h, d);
    return (ptrdiff_t)d;
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
            ok = place(&n, rec, hash_of(&n, key_of(m, rec))) >= 0;
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

void *rayc__oidmap_get(rayc__oidmap *m, rayc__oid key)
{
    if (!m->cap || !key.seq)
        return NULL;
    ptrdiff_t at = lookup(m, key, hash_of(m, key));
    if (at < 0)
        return NULL;
    m->hint = (size_t)at;
    return rec_of(m, m->slots[at]);
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
    if (m->cap) {
        ptrdiff_t at = lookup(m, key, hash_of(m, key));
        if (at >= 0) { /* replace */
            m->slots[at] = m->plain ? (uint64_t)(uintptr_t)rec
                                    : (m->slots[at] & ~ADDR_MASK) | (uint64_t)(uintptr_t)rec;
            return 0;
        }
    }
    if ((m->count + 1) * 4 > m->cap * 3 && resize(m, m->cap ? m->cap * 2 : 64) != 0)
        return -1;
    for (;;) {
        ptrdiff_t d = place(m, rec, hash_of(m, key));
        if (d >= 0) {
            m->count++;
            if (m->sequential && d > SEQ_RUN_MAX) {
                /* ids far from sequential: scatter them, as an ordinary map does (if that
                 * cannot get memory the map stays sequential and correct) */
                m->sequential = 0;
                if (resize(m, m->cap) != 0)
                    m->sequential = 1;
            }
            return 0;
        }
        /* A run too long for the distance field: scatter a sequential map; spread an ordinary
         * one out, unless its table is already sparse (hashes that agree in many bits):
         * plain slots have no distance limit. */
        if (m->sequential) {
            m->sequential = 0;
            if (resize(m, m->cap) != 0) {
                m->sequential = 1;
                return -1;
            }
        } else if (m->cap >= 16 * (m->count + 1)) {
            rayc__oidmap_make_plain(m);
        } else if (resize(m, m->cap * 2) != 0) {
            return -1;
        }
    }
}

void *rayc__oidmap_del(rayc__oidmap *m, rayc__oid key)
{
    if (!m->cap || !key.seq)
        return NULL;
    /* The record found last is often the one deleted next (look up, then drop). */
    ptrdiff_t at = (ptrdiff_t)m->hint;
    uint64_t hs = m->hint < m->cap ? m->slots[m->hint] : 0;
    if (!hs || !rayc__oid_eq(key_of(m, rec_of(m, hs)), key))
        at = lookup(m, key, hash_of(m, key));
    if (at < 0)
        return NULL;
    void *rec = rec_of(m, m->slots[at]);
    m->count--;
    /* Backward shift: the entries after it move back by one, up to the first at its home. */
    size_t mask = m->cap - 1, hole = (size_t)at;
    for (;;) {
        size_t j = (hole + 1) & mask;
        uint64_t s = m->slots[j];
        if (!s || dist_of(m, s, j) == 0)
            break;
        m->slots[hole] = m->plain ? s : s - DIST_ONE;
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
