/* test_oidmap.c: CUnit suite for src/oidmap.c (the intrusive id index): put/get/del, replace,
 * deletes after lookups, growth to load 3/4, null keys and null records, iteration,
 * backward-shift deletion across the wrap-around of the table, runs longer than the slot's
 * distance field (the map spreads them), bare-address slots, sequential maps (ids in order
 * stay at home; strides and many returns scatter), and 200k seeded random operations checked
 * against a shadow model and the slot invariants (reachable from home, the stored distance
 * and hash tag are right, Robin Hood order) on ordinary, bare-address and sequential maps. */
#include "config.h"

#include <CUnit/CUnit.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oidmap.h"
#include "unit_main.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static uint64_t rnd(void)
{
    return unit_xorshift(&rng_state);
}

static rayc__oid oid(uint64_t seq, uint32_t rank, uint32_t idx)
{
    rayc__oid o = {seq, rank, idx};
    return o;
}

/* Records keep their key behind another field, so a wrong key offset shows. */
typedef struct rec {
    uint32_t before;
    rayc__oid id;
    uintptr_t val;
} rec;

enum { POOL = 300000 };
static rec pool[POOL];
static size_t npool;

static void map_init(rayc__oidmap *m)
{
    rayc__oidmap_init(m, offsetof(rec, id));
}

/* Index a fresh record (key k, value v); the test's values are never 0. */
static int put(rayc__oidmap *m, rayc__oid k, uintptr_t v)
{
    if (npool == POOL)
        npool = 0; /* tests that cycle this far keep few records live */
    rec *r = &pool[npool++];
    r->before = 0xA5A5A5A5u;
    r->id = k;
    r->val = v;
    return rayc__oidmap_put(m, r);
}

static uintptr_t get(rayc__oidmap *m, rayc__oid k)
{
    rec *r = rayc__oidmap_get(m, k);
    return r ? r->val : 0;
}

static uintptr_t del(rayc__oidmap *m, rayc__oid k)
{
    rec *r = rayc__oidmap_del(m, k);
    return r ? r->val : 0;
}

#define ADDR(m, s) ((m)->plain ? (s) : (s) & ((UINT64_C(1) << 48) - 1))

static rayc__oid slot_key(const rayc__oidmap *m, size_t i)
{
    return ((const rec *)(uintptr_t)ADDR(m, m->slots[i]))->id;
}

/* The map's hash, restated: in a sequential map an id's home is its place in its rank's
 * sequence (a task's first return and a put share the numbering), the tag still hashed. */
static uint64_t hash_of(const rayc__oidmap *m, rayc__oid k)
{
    uint64_t tag = UINT64_C(63) << 58, lin = k.seq + (k.idx ? k.idx - 1 : 0);
    if (!m->sequential)
        return rayc__oid_hash(k);
    return ((lin * UINT64_C(0x9E3779B97F4A7C15)) & tag) | (lin & ~tag);
}

static size_t home_of(const rayc__oidmap *m, rayc__oid k)
{
    return (size_t)hash_of(m, k) & (m->cap - 1);
}

/* Number of broken invariants: count matches the occupied slots, the load is at most 3/4,
 * every entry is reachable from its home slot without crossing an empty slot (what get relies
 * on), with its distance from home and its hash tag in the slot's high bits, and entries sit
 * in Robin Hood order (each at most one slot farther from home than the one before it). */
static int broken_invariants(const rayc__oidmap *m)
{
    int bad = 0;
    size_t used = 0;
    if (m->cap == 0)
        return m->count != 0 || m->slots != NULL;
    if (m->cap & (m->cap - 1))
        bad++;
    if (m->count * 4 > m->cap * 3)
        bad++;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i])
            continue;
        used++;
        rayc__oid k = slot_key(m, i);
        size_t h = home_of(m, k), d = (i - h) & (m->cap - 1);
        for (size_t j = h; j != i; j = (j + 1) & (m->cap - 1))
            if (!m->slots[j]) {
                bad++;
                break;
            }
        if (!m->plain) {
            bad += (m->slots[i] >> 48 & 1023) != d;
            bad += (m->slots[i] >> 58) != (hash_of(m, k) >> 58);
        }
        /* Robin Hood order: the next entry is at most one slot farther from its home */
        size_t j = (i + 1) & (m->cap - 1);
        if (m->slots[j]) {
            rayc__oid kj = slot_key(m, j);
            bad += ((j - home_of(m, kj)) & (m->cap - 1)) > d + 1;
        }
    }
    return bad + (used != m->count);
}

/* A delete right after a lookup of the same key starts at the slot found; after a lookup of
 * another key, a resize, or a delete that shifted entries, that slot holds something else and
 * the delete probes as usual. */
static void test_delete_after_lookup(void)
{
    npool = 0;
    rayc__oidmap m;
    map_init(&m);
    int bad = 0;
    for (uint64_t k = 1; k <= 40; k++)
        bad += put(&m, oid(k, 0, 1), (uintptr_t)k) != 0;
    bad += get(&m, oid(7, 0, 1)) != 7;
    bad += del(&m, oid(7, 0, 1)) != 7; /* the slot just found */
    bad += get(&m, oid(8, 0, 1)) != 8;
    bad += del(&m, oid(9, 0, 1)) != 9; /* another key than the one found */
    bad += get(&m, oid(8, 0, 1)) != 8 || get(&m, oid(9, 0, 1)) != 0;
    bad += get(&m, oid(10, 0, 1)) != 10;
    for (uint64_t k = 41; k <= 200; k++) /* grows: every slot moves */
        bad += put(&m, oid(k, 0, 1), (uintptr_t)k) != 0;
    bad += del(&m, oid(11, 0, 1)) != 11 || get(&m, oid(10, 0, 1)) != 10;
    bad += del(&m, oid(10, 0, 1)) != 10 || del(&m, oid(10, 0, 1)) != 0;
    for (uint64_t k = 1; k <= 200; k++)
        bad += get(&m, oid(k, 0, 1)) != (k >= 7 && k <= 11 && k != 8 ? 0 : (uintptr_t)k);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(m.count, 196);
    CU_ASSERT_EQUAL(broken_invariants(&m), 0);
    rayc__oidmap_free(&m);
}

static void test_put_get_del_replace(void)
{
    npool = 0;
    rayc__oidmap m;
    map_init(&m);
    CU_ASSERT_EQUAL(m.count, 0);
    CU_ASSERT_EQUAL(get(&m, oid(1, 0, 0)), 0); /* empty, unallocated */
    CU_ASSERT_EQUAL(del(&m, oid(1, 0, 0)), 0);

    CU_ASSERT_EQUAL(put(&m, oid(1, 0, 0), 1), 0);
    CU_ASSERT_EQUAL(m.count, 1);
    CU_ASSERT_EQUAL(m.cap, 64);
    CU_ASSERT_EQUAL(get(&m, oid(1, 0, 0)), 1);
    /* the record itself is returned */
    CU_ASSERT_PTR_EQUAL(rayc__oidmap_get(&m, oid(1, 0, 0)), &pool[0]);
    /* keys differing in one field are different keys */
    CU_ASSERT_EQUAL(get(&m, oid(1, 0, 1)), 0);
    CU_ASSERT_EQUAL(get(&m, oid(1, 1, 0)), 0);
    CU_ASSERT_EQUAL(get(&m, oid(2, 0, 0)), 0);
    CU_ASSERT_EQUAL(put(&m, oid(1, 0, 1), 2), 0);
    CU_ASSERT_EQUAL(put(&m, oid(1, 1, 0), 3), 0);
    CU_ASSERT_EQUAL(m.count, 3);
    CU_ASSERT_EQUAL(get(&m, oid(1, 0, 1)), 2);
    CU_ASSERT_EQUAL(get(&m, oid(1, 1, 0)), 3);

    /* another record with a present key replaces it and keeps the count */
    CU_ASSERT_EQUAL(put(&m, oid(1, 0, 0), 3), 0);
    CU_ASSERT_EQUAL(m.count, 3);
    CU_ASSERT_EQUAL(get(&m, oid(1, 0, 0)), 3);

    CU_ASSERT_EQUAL(del(&m, oid(1, 0, 0)), 3);
    CU_ASSERT_EQUAL(m.count, 2);
    CU_ASSERT_EQUAL(get(&m, oid(1, 0, 0)), 0);
    CU_ASSERT_EQUAL(del(&m, oid(1, 0, 0)), 0); /* twice */
    CU_ASSERT_EQUAL(m.count, 2);
    CU_ASSERT_EQUAL(get(&m, oid(1, 0, 1)), 2);

    /* extreme field values */
    rayc__oid big = oid(UINT64_MAX, UINT32_MAX, UINT32_MAX);
    CU_ASSERT_EQUAL(put(&m, big, 1), 0);
    CU_ASSERT_EQUAL(get(&m, big), 1);

    /* a NULL record and a record with the null key are refused; nothing changes */
    CU_ASSERT_EQUAL(rayc__oidmap_put(&m, NULL), -1);
    CU_ASSERT_EQUAL(put(&m, oid(0, 9, 9), 9), -1);
    CU_ASSERT_EQUAL(m.count, 3);
    CU_ASSERT_EQUAL(broken_invariants(&m), 0);

    rayc__oidmap_free(&m);
    CU_ASSERT_PTR_NULL(m.slots);
    CU_ASSERT_EQUAL(m.cap, 0);
    CU_ASSERT_EQUAL(m.count, 0);
    CU_ASSERT_EQUAL(m.key_off, offsetof(rec, id)); /* kept */
    CU_ASSERT_EQUAL(get(&m, oid(1, 0, 1)), 0);
    /* usable again after free */
    CU_ASSERT_EQUAL(put(&m, oid(5, 0, 0), 1), 0);
    CU_ASSERT_EQUAL(get(&m, oid(5, 0, 0)), 1);
    rayc__oidmap_free(&m);
    rayc__oidmap_free(&m); /* twice: harmless */
}

static void test_null_key(void)
{
    npool = 0;
    rayc__oidmap m;
    map_init(&m);
    CU_ASSERT_EQUAL(get(&m, oid(0, 0, 0)), 0);
    CU_ASSERT_EQUAL(del(&m, oid(0, 0, 0)), 0);
    for (uint64_t s = 1; s <= 20; s++)
        CU_ASSERT_EQUAL(put(&m, oid(s, 0, 0), 1), 0);
    /* seq 0 is the null id whatever rank and idx say: never found, never deleted */
    CU_ASSERT_EQUAL(get(&m, oid(0, 0, 0)), 0);
    CU_ASSERT_EQUAL(get(&m, oid(0, 3, 1)), 0);
    CU_ASSERT_EQUAL(del(&m, oid(0, 0, 0)), 0);
    CU_ASSERT_EQUAL(del(&m, oid(0, 3, 1)), 0);
    CU_ASSERT_EQUAL(m.count, 20);
    CU_ASSERT_EQUAL(broken_invariants(&m), 0);
    rayc__oidmap_free(&m);
}

static void test_growth(void)
{
    enum { N = 50000 };
    npool = 0;
    rayc__oidmap m;
    map_init(&m);
    size_t grows = 0, last_cap = 0;
    for (uint32_t i = 0; i < N; i++) {
        /* sequential ids from a few ranks, like the runtime makes them */
        rayc__oid k = oid(i / 4 + 1, i % 4, i % 3);
        CU_ASSERT_EQUAL_FATAL(put(&m, k, i + 1), 0);
        if (m.cap != last_cap) {
            grows++;
            CU_ASSERT_EQUAL(m.cap & (m.cap - 1), 0);
            CU_ASSERT(m.count * 4 <= m.cap * 3);
            last_cap = m.cap;
        }
    }
    CU_ASSERT_EQUAL(m.count, N);
    CU_ASSERT_EQUAL(m.cap, 131072); /* smallest power of two with load <= 3/4 (65536 < 66667) */
    CU_ASSERT_EQUAL(grows, 12);     /* 64 .. 131072 */
    int bad = 0;
    for (uint32_t i = 0; i < N; i++)
        bad += get(&m, oid(i / 4 + 1, i % 4, i % 3)) != i + 1;
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(broken_invariants(&m), 0);
    for (uint32_t i = 0; i < N; i += 2)
        bad += del(&m, oid(i / 4 + 1, i % 4, i % 3)) != i + 1;
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(m.count, N / 2);
    for (uint32_t i = 0; i < N; i++)
        bad += get(&m, oid(i / 4 + 1, i % 4, i % 3)) != (i % 2 ? i + 1 : 0);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(broken_invariants(&m), 0);
    rayc__oidmap_free(&m);

    /* 3/4 exactly: 48 entries stay in 64 slots, the 49th doubles the table */
    map_init(&m);
    for (uint32_t i = 1; i <= 48; i++)
        CU_ASSERT_EQUAL(put(&m, oid(i, 0, 1), i), 0);
    CU_ASSERT_EQUAL(m.cap, 64);
    CU_ASSERT_EQUAL(put(&m, oid(49, 0, 1), 49), 0);
    CU_ASSERT_EQUAL(m.cap, 128);
    rayc__oidmap_free(&m);
}

static void test_iteration(void)
{
    enum { N = 1000 };
    static unsigned char seen[N];
    npool = 0;
    rayc__oidmap m;
    map_init(&m);
    size_t pos = 0;
    CU_ASSERT_PTR_NULL(rayc__oidmap_next(&m, &pos)); /* empty map */
    for (uint32_t i = 0; i < N; i++)
        CU_ASSERT_EQUAL_FATAL(put(&m, oid(1000 + i, i, 7), i + 1), 0);
    for (uint32_t i = 0; i < N; i += 3) /* holes from deletions */
        del(&m, oid(1000 + i, i, 7));
    memset(seen, 0, sizeof seen);
    int visits = 0, bad = 0;
    rec *v;
    pos = 0;
    while ((v = rayc__oidmap_next(&m, &pos)) != NULL) {
        uint32_t i = (uint32_t)(v->val - 1);
        visits++;
        if (i >= N || i % 3 == 0 || seen[i] || v->id.seq != 1000 + i || v->id.rank != i ||
            v->id.idx != 7) {
            bad++;
            continue;
        }
        seen[i] = 1;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(visits, N - (N + 2) / 3);
    CU_ASSERT_EQUAL((size_t)visits, m.count);
    CU_ASSERT_EQUAL(pos, m.cap);
    CU_ASSERT_PTR_NULL(rayc__oidmap_next(&m, &pos)); /* stays at the end */
    rayc__oidmap_free(&m);
}

/* Keys whose home slot in a 64-slot table is near its end, so their probe run wraps. */
static int wrap_keys(rayc__oid *keys, int max)
{
    const size_t homes[] = {61, 62, 62, 63, 63, 63, 0, 0, 1, 2};
    int n = 0;
    uint64_t c = 2; /* candidate c is the key (seq c / 2, index c % 2): every home occurs */
    for (size_t h = 0; h < sizeof homes / sizeof homes[0] && n < max; h++) {
        while ((size_t)(rayc__oid_hash(oid(c / 2, 1, (uint32_t)(c % 2))) & 63) != homes[h] &&
               c < 100000)
            c++;
        keys[n++] = oid(c / 2, 1, (uint32_t)(c % 2));
        c++;
    }
    return n;
}

static void test_backward_shift_wraparound(void)
{
    rayc__oid keys[10];
    int n = wrap_keys(keys, 10);
    CU_ASSERT_EQUAL_FATAL(n, 10);
    int bad = 0, wrapped = 0;

    /* Delete each single key from the full cluster. */
    for (int d = 0; d < n; d++) {
        npool = 0;
        rayc__oidmap m;
        map_init(&m);
        for (int i = 0; i < n; i++)
            CU_ASSERT_EQUAL_FATAL(put(&m, keys[i], (uintptr_t)i + 1), 0);
        CU_ASSERT_EQUAL_FATAL(m.cap, 64);
        for (size_t s = 0; s < m.cap; s++) /* some entry sits before its home: it wrapped */
            wrapped += m.slots[s] && home_of(&m, slot_key(&m, s)) > s;
        bad += broken_invariants(&m);
        bad += del(&m, keys[d]) != (uintptr_t)d + 1;
        bad += broken_invariants(&m);
        for (int i = 0; i < n; i++)
            bad += get(&m, keys[i]) != (i == d ? 0 : (uintptr_t)i + 1);
        CU_ASSERT_EQUAL(m.count, (size_t)n - 1);
        rayc__oidmap_free(&m);
    }
    CU_ASSERT(wrapped > 0);
    CU_ASSERT_EQUAL(bad, 0);

    /* Delete all of them in many random orders, reinserting some on the way; the same again
     * with bare-address slots. */
    for (int round = 0; round < 4000; round++) {
        npool = 0;
        rayc__oidmap m;
        map_init(&m);
        if (round >= 2000) {
            rayc__oidmap_make_plain(&m);
            CU_ASSERT_FATAL(m.plain);
        }
        int order[10], present[10];
        for (int i = 0; i < n; i++) {
            order[i] = i;
            present[i] = 1;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = (int)(rnd() % (uint64_t)(i + 1)), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (int i = 0; i < n; i++) { /* insertion order varies too */
            int k = order[(i + round) % n];
            bad += put(&m, keys[k], (uintptr_t)k + 1) != 0;
        }
        for (int step = 0; step < n; step++) {
            int k = order[step];
            bad += del(&m, keys[k]) != (uintptr_t)k + 1;
            present[k] = 0;
            if (rnd() % 4 == 0) { /* put back one deleted earlier: it stays */
                int r = order[rnd() % (uint64_t)(step + 1)];
                bad += put(&m, keys[r], (uintptr_t)r + 1) != 0;
                present[r] = 1;
            }
            bad += broken_invariants(&m);
            for (int i = 0; i < n; i++)
                bad += get(&m, keys[i]) != (present[i] ? (uintptr_t)i + 1 : 0);
        }
        for (int i = 0; i < n; i++)
            if (present[i])
                bad += del(&m, keys[i]) != (uintptr_t)i + 1;
        bad += m.count != 0 || broken_invariants(&m);
        rayc__oidmap_free(&m);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

enum { RUN_KEYS = 1100 }; /* more keys with one home than the distance field counts (1023) */

/* Fill m with RUN_KEYS keys (rank r) whose hashes agree in their low bits (mask), checking
 * every put and get; the keys go to keys. */
static void put_one_run(rayc__oidmap *m, rayc__oid *keys, uint64_t mask, uint32_t r)
{
    int n = 0, bad = 0;
    for (uint64_t c = 1; n < RUN_KEYS && c < 400000000; c++)
        if ((rayc__oid_hash(oid(c, r, 1)) & mask) == 77)
            keys[n++] = oid(c, r, 1);
    CU_ASSERT_EQUAL_FATAL(n, RUN_KEYS);
    npool = 0;
    map_init(m);
    for (int i = 0; i < n; i++) /* each one findable at once: the 1024th of one home took */
        bad += put(m, keys[i], (uintptr_t)i + 1) != 0 || /* a distance the slot cannot hold */
               get(m, keys[i]) != (uintptr_t)i + 1;
    CU_ASSERT_EQUAL(m->count, (size_t)RUN_KEYS);
    for (int i = 0; i < n; i++)
        bad += get(m, keys[i]) != (uintptr_t)i + 1;
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(broken_invariants(m), 0);
}

/* Delete every step-th key; the others stay findable; then free the map. */
static void del_every(rayc__oidmap *m, const rayc__oid *keys, int step)
{
    int bad = 0;
    for (int i = 0; i < RUN_KEYS; i += step)
        bad += del(m, keys[i]) != (uintptr_t)i + 1;
    for (int i = 0; i < RUN_KEYS; i++)
        bad += get(m, keys[i]) != (i % step ? (uintptr_t)i + 1 : 0);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(broken_invariants(m), 0);
    rayc__oidmap_free(m);
}

/* Hashes that agree in 12 bits: one home up to 4096 slots. The map grows until the run
 * splits, keeping tagged slots. */
static void test_run_longer_than_distance_field(void)
{
    static rayc__oid keys[RUN_KEYS];
    rayc__oidmap m;
    put_one_run(&m, keys, 4095, 2);
    CU_ASSERT(m.cap >= 8192); /* 2048 would hold 1100 at load 3/4, but not in one run */
    CU_ASSERT_EQUAL(m.plain, 0);
    del_every(&m, keys, 2);
}

/* Hashes that agree in 16 bits keep one run up to 65536 slots: rather than grow to 16 times
 * its entries, the map switches to plain slots. */
static void test_run_in_sparse_table_goes_plain(void)
{
    static rayc__oid keys[RUN_KEYS];
    rayc__oidmap m;
    put_one_run(&m, keys, 65535, 3);
    CU_ASSERT_EQUAL(m.plain, 1);
    CU_ASSERT(m.cap <= 32 * (size_t)RUN_KEYS); /* bounded growth */
    del_every(&m, keys, 3);
}

/* ------------------------------------------------------------------------------------------ */
/* Random operations against a shadow model                                                     */

enum { KEYSPACE = 4096 };

static rayc__oid key_of(int k)
{
    return oid((uint64_t)(k / 8) + 1, (uint32_t)(k % 4), (uint32_t)((k / 4) % 2));
}

static void random_vs_shadow(int plain, int sequential)
{
    static uintptr_t shadow[KEYSPACE];
    memset(shadow, 0, sizeof shadow);
    npool = 0;
    rayc__oidmap m;
    if (sequential)
        rayc__oidmap_init_seq(&m, offsetof(rec, id));
    else
        map_init(&m);
    if (plain)
        rayc__oidmap_make_plain(&m);
    size_t live = 0;
    int bad = 0, checks = 0;
    rng_state = 0x9E3779B97F4A7C15ull;
    for (int op = 0; op < 200000; op++) {
        /* a key range that drifts, so the table fills up, empties and refills */
        int span = 64 + (int)((op / 20000) % 5) * 900;
        int k = (int)(rnd() % (uint64_t)span);
        uintptr_t val = (uintptr_t)(rnd() | 1);
        switch (rnd() % 8) {
        case 0: case 1: case 2:
            if (put(&m, key_of(k), val) != 0)
                bad++;
            live += shadow[k] == 0;
            shadow[k] = val;
            break;
        case 3: case 4: case 5:
            bad += del(&m, key_of(k)) != shadow[k];
            live -= shadow[k] != 0;
            shadow[k] = 0;
            break;
        default:
            bad += get(&m, key_of(k)) != shadow[k];
        }
        bad += m.count != live;
        if (op % 5000 == 0) {
            checks++;
            bad += broken_invariants(&m);
            for (int i = 0; i < KEYSPACE; i++)
                bad += get(&m, key_of(i)) != shadow[i];
            size_t pos = 0, visits = 0;
            rec *v;
            while ((v = rayc__oidmap_next(&m, &pos)) != NULL) {
                visits++;
                int i = (int)((v->id.seq - 1) * 8 + v->id.idx * 4 + v->id.rank);
                bad += i < 0 || i >= KEYSPACE || shadow[i] != v->val;
            }
            bad += visits != live;
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(checks, 40);
    CU_ASSERT_EQUAL(broken_invariants(&m), 0);
    CU_ASSERT_EQUAL(m.plain, plain);
    rayc__oidmap_free(&m);
}

static void test_random_vs_shadow(void)
{
    random_vs_shadow(0, 0);
}

static void test_random_vs_shadow_plain(void)
{
    random_vs_shadow(1, 0);
}

/* The same on a sequential map: four ranks' ids in one map, two per sequence number, are not
 * a sequence it can keep, so it scatters along the way; nothing may be lost on the switch. */
static void test_random_vs_shadow_sequential(void)
{
    random_vs_shadow(0, 1);
}

/* One rank's ids in sequence (tasks with one return, puts), a sliding window of 4096 live:
 * every id sits at its home slot, and the map stays sequential. */
static void test_sequential_map_in_order(void)
{
    npool = 0;
    rayc__oidmap m;
    rayc__oidmap_init_seq(&m, offsetof(rec, id));
    enum { WIN = 4096 };
    static rayc__oid live[WIN];
    int bad = 0;
    for (uint64_t s = 1; s <= 200000; s++) {
        rayc__oid k = oid(s, 5, s % 3 ? 1 : 0);
        bad += put(&m, k, (uintptr_t)s) != 0;
        if (s > WIN)
            bad += del(&m, live[s % WIN]) != (uintptr_t)(s - WIN);
        live[s % WIN] = k;
    }
    size_t far = 0;
    for (size_t i = 0; i < m.cap; i++)
        far += m.slots[i] && (m.slots[i] >> 48 & 1023) != 0;
    for (uint64_t s = 200000 - WIN + 1; s <= 200000; s++)
        bad += get(&m, oid(s, 5, s % 3 ? 1 : 0)) != (uintptr_t)s;
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(far, 0);
    CU_ASSERT_EQUAL(m.sequential, 1);
    CU_ASSERT_EQUAL(m.count, WIN);
    CU_ASSERT_EQUAL(broken_invariants(&m), 0);
    rayc__oidmap_free(&m);
}

/* Ids with a stride of 1024 land on few distinct slots of a power-of-two table in sequence:
 * the map notices the long probe and scatters them, and every one stays findable. Tasks
 * with many returns (their returns overlap the next tasks' numbers) do the same. */
static void test_sequential_map_scatters(void)
{
    int bad = 0;
    npool = 0;
    rayc__oidmap m;
    rayc__oidmap_init_seq(&m, offsetof(rec, id));
    for (uint64_t i = 0; i < 5000; i++)
        bad += put(&m, oid(1 + 1024 * i, 0, 1), (uintptr_t)i + 1) != 0;
    CU_ASSERT_EQUAL(m.sequential, 0);
    for (uint64_t i = 0; i < 5000; i++)
        bad += get(&m, oid(1 + 1024 * i, 0, 1)) != (uintptr_t)i + 1;
    CU_ASSERT_EQUAL(broken_invariants(&m), 0);
    rayc__oidmap_free(&m);

    npool = 0;
    rayc__oidmap_init_seq(&m, offsetof(rec, id));
    for (uint64_t t = 1; t <= 400; t++) /* 40 returns each */
        for (uint32_t i = 1; i <= 40; i++)
            bad += put(&m, oid(t, 0, i), (uintptr_t)(t * 100 + i)) != 0;
    CU_ASSERT_EQUAL(m.sequential, 0);
    for (uint64_t t = 1; t <= 400; t++)
        for (uint32_t i = 1; i <= 40; i++)
            bad += get(&m, oid(t, 0, i)) != (uintptr_t)(t * 100 + i);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(m.count, 16000);
    CU_ASSERT_EQUAL(broken_invariants(&m), 0);
    rayc__oidmap_free(&m);
}

/* The runtime's workload: several ranks each making ids in sequence (tasks with one or three
 * returns, puts), a sliding window of them live. Lookups must stay short: on average under
 * two probes, and no probe run longer than 32 slots. */
static void test_sequential_ids_probe_short(void)
{
    npool = 0;
    rayc__oidmap m;
    map_init(&m);
    uint64_t seq[4] = {1, 1, 1, 1};
    rayc__oid live[4096];
    size_t nlive = 0, head = 0;
    int bad = 0;
    for (int step = 0; step < 60000; step++) {
        uint32_t r = (uint32_t)(step % 4);
        uint32_t nret = step % 7 == 0 ? 3 : step % 5 == 0 ? 0 : 1; /* 0: a put (index 0) */
        uint64_t s = seq[r]++;
        for (uint32_t i = nret ? 1 : 0; i <= nret; i++) {
            rayc__oid k = oid(s, r, i);
            if (put(&m, k, 1) != 0)
                bad++;
            if (nlive == 4096) { /* release the oldest */
                if (del(&m, live[head]) != 1)
                    bad++;
                live[head] = k;
                head = (head + 1) % 4096;
            } else {
                live[nlive++] = k;
            }
        }
    }
    size_t total = 0, longest = 0;
    for (size_t i = 0; i < nlive; i++) {
        size_t h = home_of(&m, live[i]), d = 0;
        while (d < m.cap && !rayc__oid_eq(slot_key(&m, (h + d) & (m.cap - 1)), live[i]))
            d++;
        total += d + 1;
        if (d + 1 > longest)
            longest = d + 1;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(m.count, nlive);
    CU_ASSERT(total < 2 * nlive);
    CU_ASSERT(longest <= 32);
    CU_ASSERT_EQUAL(broken_invariants(&m), 0);
    rayc__oidmap_free(&m);
}

int main(void)
{
    static const unit_test tests[] = {
        {"put, get, del, replace", test_put_get_del_replace},
        {"delete after a lookup", test_delete_after_lookup},
        {"null key", test_null_key},
        {"growth", test_growth},
        {"iteration visits each key once", test_iteration},
        {"backward shift across the wrap-around", test_backward_shift_wraparound},
        {"runs longer than the distance field", test_run_longer_than_distance_field},
        {"a long run in a sparse table goes plain", test_run_in_sparse_table_goes_plain},
        {"200k random ops vs shadow model", test_random_vs_shadow},
        {"the same with bare-address slots", test_random_vs_shadow_plain},
        {"the same on a sequential map", test_random_vs_shadow_sequential},
        {"a sequential map keeps ids in order", test_sequential_map_in_order},
        {"a sequential map scatters what is not in order", test_sequential_map_scatters},
        {"ids made in sequence probe short", test_sequential_ids_probe_short},
    };
    return UNIT_RUN("oidmap", tests);
}
