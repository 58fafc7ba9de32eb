/* test_oidmap.c: CUnit suite for src/oidmap.c: put/get/del, replace, growth, null keys,
 * iteration, backward-shift deletion across the wrap-around of the table, and 200k seeded random
 * operations checked against a shadow model and the linear-probing invariant. */
#include "config.h"

#include <CUnit/CUnit.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oidmap.h"
#include "unit_main.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static rayc__oid oid(uint64_t seq, uint32_t rank, uint32_t idx)
{
    rayc__oid o = {seq, rank, idx};
    return o;
}

static size_t home_of(const rayc__oidmap *m, rayc__oid k)
{
    return (size_t)rayc__oid_hash(k) & (m->cap - 1);
}

/* Number of broken invariants: count matches the occupied slots, and every entry is reachable
 * from its home slot without crossing an empty slot (what get relies on). */
static int broken_invariants(const rayc__oidmap *m)
{
    int bad = 0;
    size_t used = 0;
    if (m->cap == 0)
        return m->count != 0 || m->slots != NULL;
    if (m->cap & (m->cap - 1))
        bad++;
    if (m->count * 2 > m->cap)
        bad++;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key.seq)
            continue;
        used++;
        for (size_t j = home_of(m, m->slots[i].key); j != i; j = (j + 1) & (m->cap - 1))
            if (!m->slots[j].key.seq) {
                bad++;
                break;
            }
    }
    return bad + (used != m->count);
}

/* ------------------------------------------------------------------------------------------ */

static void test_put_get_del_replace(void)
{
    int a = 1, b = 2, c = 3;
    rayc__oidmap m;
    rayc__oidmap_init(&m);
    CU_ASSERT_EQUAL(m.count, 0);
    CU_ASSERT_PTR_NULL(rayc__oidmap_get(&m, oid(1, 0, 0))); /* empty, unallocated */
    CU_ASSERT_PTR_NULL(rayc__oidmap_del(&m, oid(1, 0, 0)));

    CU_ASSERT_EQUAL(rayc__oidmap_put(&m, oid(1, 0, 0), &a), 0);
    CU_ASSERT_EQUAL(m.count, 1);
    CU_ASSERT_EQUAL(m.cap, 64);
    CU_ASSERT_PTR_EQUAL(rayc__oidmap_get(&m, oid(1, 0, 0)), &a);
    /* keys differing in one field are different keys */
    CU_ASSERT_PTR_NULL(rayc__oidmap_get(&m, oid(1, 0, 1)));
    CU_ASSERT_PTR_NULL(rayc__oidmap_get(&m, oid(1, 1, 0)));
    CU_ASSERT_PTR_NULL(rayc__oidmap_get(&m, oid(2, 0, 0)));
    CU_ASSERT_EQUAL(rayc__oidmap_put(&m, oid(1, 0, 1), &b), 0);
    CU_ASSERT_EQUAL(rayc__oidmap_put(&m, oid(1, 1, 0), &c), 0);
    CU_ASSERT_EQUAL(m.count, 3);
    CU_ASSERT_PTR_EQUAL(rayc__oidmap_get(&m, oid(1, 0, 1)), &b);
    CU_ASSERT_PTR_EQUAL(rayc__oidmap_get(&m, oid(1, 1, 0)), &c);

    /* replace keeps the count */
    CU_ASSERT_EQUAL(rayc__oidmap_put(&m, oid(1, 0, 0), &c), 0);
    CU_ASSERT_EQUAL(m.count, 3);
    CU_ASSERT_PTR_EQUAL(rayc__oidmap_get(&m, oid(1, 0, 0)), &c);

    CU_ASSERT_PTR_EQUAL(rayc__oidmap_del(&m, oid(1, 0, 0)), &c);
    CU_ASSERT_EQUAL(m.count, 2);
    CU_ASSERT_PTR_NULL(rayc__oidmap_get(&m, oid(1, 0, 0)));
    CU_ASSERT_PTR_NULL(rayc__oidmap_del(&m, oid(1, 0, 0))); /* twice */
    CU_ASSERT_EQUAL(m.count, 2);
    CU_ASSERT_PTR_EQUAL(rayc__oidmap_get(&m, oid(1, 0, 1)), &b);

    /* extreme field values */
    rayc__oid big = oid(UINT64_MAX, UINT32_MAX, UINT32_MAX);
    CU_ASSERT_EQUAL(rayc__oidmap_put(&m, big, &a), 0);
    CU_ASSERT_PTR_EQUAL(rayc__oidmap_get(&m, big), &a);

    /* a NULL value is stored (and counted), though get cannot tell it from absence */
    CU_ASSERT_EQUAL(rayc__oidmap_put(&m, oid(9, 9, 9), NULL), 0);
    CU_ASSERT_EQUAL(m.count, 4);
    CU_ASSERT_PTR_NULL(rayc__oidmap_del(&m, oid(9, 9, 9)));
    CU_ASSERT_EQUAL(m.count, 3);
    CU_ASSERT_EQUAL(broken_invariants(&m), 0);

    rayc__oidmap_free(&m);
    CU_ASSERT_PTR_NULL(m.slots);
    CU_ASSERT_EQUAL(m.cap, 0);
    CU_ASSERT_EQUAL(m.count, 0);
    CU_ASSERT_PTR_NULL(rayc__oidmap_get(&m, oid(1, 0, 1)));
    /* usable again after free */
    CU_ASSERT_EQUAL(rayc__oidmap_put(&m, oid(5, 0, 0), &a), 0);
    CU_ASSERT_PTR_EQUAL(rayc__oidmap_get(&m, oid(5, 0, 0)), &a);
    rayc__oidmap_free(&m);
    rayc__oidmap_free(&m); /* twice: harmless */
}

static void test_null_key(void)
{
    int a = 1;
    rayc__oidmap m;
    rayc__oidmap_init(&m);
    CU_ASSERT_PTR_NULL(rayc__oidmap_get(&m, oid(0, 0, 0)));
    CU_ASSERT_PTR_NULL(rayc__oidmap_del(&m, oid(0, 0, 0)));
    for (uint64_t s = 1; s <= 20; s++)
        CU_ASSERT_EQUAL(rayc__oidmap_put(&m, oid(s, 0, 0), &a), 0);
    /* seq 0 is the null id whatever rank and idx say: never found, never deleted */
    CU_ASSERT_PTR_NULL(rayc__oidmap_get(&m, oid(0, 0, 0)));
    CU_ASSERT_PTR_NULL(rayc__oidmap_get(&m, oid(0, 3, 1)));
    CU_ASSERT_PTR_NULL(rayc__oidmap_del(&m, oid(0, 0, 0)));
    CU_ASSERT_PTR_NULL(rayc__oidmap_del(&m, oid(0, 3, 1)));
    CU_ASSERT_EQUAL(m.count, 20);
    CU_ASSERT_EQUAL(broken_invariants(&m), 0);
    rayc__oidmap_free(&m);
}

static void test_growth(void)
{
    enum { N = 50000 };
    rayc__oidmap m;
    rayc__oidmap_init(&m);
    size_t grows = 0, last_cap = 0;
    for (uint32_t i = 0; i < N; i++) {
        /* sequential ids from a few ranks, like the runtime makes them */
        rayc__oid k = oid(i / 4 + 1, i % 4, i % 3);
        CU_ASSERT_EQUAL_FATAL(rayc__oidmap_put(&m, k, (void *)(uintptr_t)(i + 1)), 0);
        if (m.cap != last_cap) {
            grows++;
            CU_ASSERT_EQUAL(m.cap & (m.cap - 1), 0);
            CU_ASSERT(m.count * 2 <= m.cap);
            last_cap = m.cap;
        }
    }
    CU_ASSERT_EQUAL(m.count, N);
    CU_ASSERT_EQUAL(m.cap, 131072); /* smallest power of two with load <= 1/2 */
    CU_ASSERT_EQUAL(grows, 12);     /* 64 .. 131072 */
    int bad = 0;
    for (uint32_t i = 0; i < N; i++)
        bad += rayc__oidmap_get(&m, oid(i / 4 + 1, i % 4, i % 3)) != (void *)(uintptr_t)(i + 1);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(broken_invariants(&m), 0);
    for (uint32_t i = 0; i < N; i += 2)
        bad += rayc__oidmap_del(&m, oid(i / 4 + 1, i % 4, i % 3)) != (void *)(uintptr_t)(i + 1);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(m.count, N / 2);
    for (uint32_t i = 0; i < N; i++) {
        void *want = i % 2 ? (void *)(uintptr_t)(i + 1) : NULL;
        bad += rayc__oidmap_get(&m, oid(i / 4 + 1, i % 4, i % 3)) != want;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(broken_invariants(&m), 0);
    rayc__oidmap_free(&m);
}

static void test_iteration(void)
{
    enum { N = 1000 };
    static unsigned char seen[N];
    rayc__oidmap m;
    rayc__oidmap_init(&m);
    size_t pos = 0;
    rayc__oid k;
    CU_ASSERT_PTR_NULL(rayc__oidmap_next(&m, &pos, &k)); /* empty map */
    for (uint32_t i = 0; i < N; i++)
        CU_ASSERT_EQUAL_FATAL(
            rayc__oidmap_put(&m, oid(1000 + i, i, 7), (void *)(uintptr_t)(i + 1)), 0);
    for (uint32_t i = 0; i < N; i += 3) /* holes from deletions */
        rayc__oidmap_del(&m, oid(1000 + i, i, 7));
    memset(seen, 0, sizeof seen);
    int visits = 0, bad = 0;
    void *v;
    pos = 0;
    while ((v = rayc__oidmap_next(&m, &pos, &k)) != NULL) {
        uint32_t i = (uint32_t)((uintptr_t)v - 1);
        visits++;
        if (i >= N || i % 3 == 0 || seen[i] || k.seq != 1000 + i || k.rank != i || k.idx != 7) {
            bad++;
            continue;
        }
        seen[i] = 1;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(visits, N - (N + 2) / 3);
    CU_ASSERT_EQUAL((size_t)visits, m.count);
    CU_ASSERT_EQUAL(pos, m.cap);
    CU_ASSERT_PTR_NULL(rayc__oidmap_next(&m, &pos, &k)); /* stays at the end */
    /* key may be NULL */
    pos = 0;
    visits = 0;
    while (rayc__oidmap_next(&m, &pos, NULL))
        visits++;
    CU_ASSERT_EQUAL((size_t)visits, m.count);
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
    for (int del = 0; del < n; del++) {
        rayc__oidmap m;
        rayc__oidmap_init(&m);
        for (int i = 0; i < n; i++)
            CU_ASSERT_EQUAL_FATAL(rayc__oidmap_put(&m, keys[i], (void *)(uintptr_t)(i + 1)), 0);
        CU_ASSERT_EQUAL_FATAL(m.cap, 64);
        for (size_t s = 0; s < m.cap; s++) /* some entry sits before its home: it wrapped */
            wrapped += m.slots[s].key.seq && home_of(&m, m.slots[s].key) > s;
        bad += broken_invariants(&m);
        bad += rayc__oidmap_del(&m, keys[del]) != (void *)(uintptr_t)(del + 1);
        bad += broken_invariants(&m);
        for (int i = 0; i < n; i++)
            bad += rayc__oidmap_get(&m, keys[i]) !=
                   (i == del ? NULL : (void *)(uintptr_t)(i + 1));
        CU_ASSERT_EQUAL(m.count, (size_t)n - 1);
        rayc__oidmap_free(&m);
    }
    CU_ASSERT(wrapped > 0);
    CU_ASSERT_EQUAL(bad, 0);

    /* Delete all of them in many random orders, reinserting some on the way. */
    for (int round = 0; round < 2000; round++) {
        rayc__oidmap m;
        rayc__oidmap_init(&m);
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
            bad += rayc__oidmap_put(&m, keys[k], (void *)(uintptr_t)(k + 1)) != 0;
        }
        for (int step = 0; step < n; step++) {
            int k = order[step];
            bad += rayc__oidmap_del(&m, keys[k]) != (void *)(uintptr_t)(k + 1);
            present[k] = 0;
            if (rnd() % 4 == 0) { /* put back one deleted earlier: it stays */
                int r = order[rnd() % (uint64_t)(step + 1)];
                bad += rayc__oidmap_put(&m, keys[r], (void *)(uintptr_t)(r + 1)) != 0;
                present[r] = 1;
            }
            bad += broken_invariants(&m);
            for (int i = 0; i < n; i++)
                bad += rayc__oidmap_get(&m, keys[i]) !=
                       (present[i] ? (void *)(uintptr_t)(i + 1) : NULL);
        }
        for (int i = 0; i < n; i++)
            if (present[i])
                bad += rayc__oidmap_del(&m, keys[i]) != (void *)(uintptr_t)(i + 1);
        bad += m.count != 0 || broken_invariants(&m);
        rayc__oidmap_free(&m);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Random operations against a shadow model                                                     */

enum { KEYSPACE = 4096 };

static rayc__oid key_of(int k)
{
    return oid((uint64_t)(k / 8) + 1, (uint32_t)(k % 4), (uint32_t)((k / 4) % 2));
}

static void test_random_vs_shadow(void)
{
    static void *shadow[KEYSPACE];
    memset(shadow, 0, sizeof shadow);
    rayc__oidmap m;
    rayc__oidmap_init(&m);
    size_t live = 0;
    int bad = 0, checks = 0;
    rng_state = 0x9E3779B97F4A7C15ull;
    for (int op = 0; op < 200000; op++) {
        /* a key range that drifts, so the table fills up, empties and refills */
        int span = 64 + (int)((op / 20000) % 5) * 900;
        int k = (int)(rnd() % (uint64_t)span);
        void *val = (void *)(uintptr_t)(rnd() | 1);
        switch (rnd() % 8) {
        case 0: case 1: case 2:
            if (rayc__oidmap_put(&m, key_of(k), val) != 0)
                bad++;
            live += shadow[k] == NULL;
            shadow[k] = val;
            break;
        case 3: case 4: case 5:
            bad += rayc__oidmap_del(&m, key_of(k)) != shadow[k];
            live -= shadow[k] != NULL;
            shadow[k] = NULL;
            break;
        default:
            bad += rayc__oidmap_get(&m, key_of(k)) != shadow[k];
        }
        bad += m.count != live;
        if (op % 5000 == 0) {
            checks++;
            bad += broken_invariants(&m);
            for (int i = 0; i < KEYSPACE; i++)
                bad += rayc__oidmap_get(&m, key_of(i)) != shadow[i];
            size_t pos = 0, visits = 0;
            rayc__oid key;
            void *v;
            while ((v = rayc__oidmap_next(&m, &pos, &key)) != NULL) {
                visits++;
                int i = (int)((key.seq - 1) * 8 + key.idx * 4 + key.rank);
                bad += i < 0 || i >= KEYSPACE || shadow[i] != v;
            }
            bad += visits != live;
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(checks, 40);
    CU_ASSERT_EQUAL(broken_invariants(&m), 0);
    rayc__oidmap_free(&m);
}

/* The runtime's workload: several ranks each making ids in sequence (tasks with one or three
 * returns, puts), a sliding window of them live. Lookups must stay short: on average under
 * two probes, and no probe run longer than 32 slots. */
static void test_sequential_ids_probe_short(void)
{
    rayc__oidmap m;
    rayc__oidmap_init(&m);
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
            if (rayc__oidmap_put(&m, k, &m) != 0)
                bad++;
            if (nlive == 4096) { /* release the oldest */
                if (rayc__oidmap_del(&m, live[head]) != &m)
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
        while (!rayc__oid_eq(m.slots[(h + d) & (m.cap - 1)].key, live[i]) && d < m.cap)
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
        {"null key", test_null_key},
        {"growth", test_growth},
        {"iteration visits each key once", test_iteration},
        {"backward shift across the wrap-around", test_backward_shift_wraparound},
        {"200k random ops vs shadow model", test_random_vs_shadow},
        {"ids made in sequence probe short", test_sequential_ids_probe_short},
    };
    return UNIT_RUN("oidmap", tests);
}
