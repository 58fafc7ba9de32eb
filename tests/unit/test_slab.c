/* test_slab.c: CUnit suite for src/slab.c: sizes accepted and refused, records zeroed, aligned
 * and disjoint across chunks, chunks returned when they empty (one kept), reuse of freed
 * records, 200k seeded random operations against a model, four threads on a locked pool, and
 * the malloc mode's counts. */
#include "config.h"

#include <CUnit/CUnit.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "slab.h"
#include "unit_main.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    return unit_xorshift(&rng_state);
}

/* Fill record p (size bytes) with a pattern of tag; count the bytes that differ from it. */
static void fill(void *p, size_t size, uint64_t tag)
{
    unsigned char *b = p;
    for (size_t i = 0; i < size; i++)
        b[i] = (unsigned char)(tag * 31 + i);
}

static int differs(const void *p, size_t size, uint64_t tag)
{
    const unsigned char *b = p;
    int bad = 0;
    for (size_t i = 0; i < size; i++)
        bad += b[i] != (unsigned char)(tag * 31 + i);
    return bad;
}

static int all_zero(const void *p, size_t size)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < size; i++)
        if (b[i])
            return 0;
    return 1;
}

static void test_sizes(void)
{
    rayc__slab s;
    CU_ASSERT_EQUAL(rayc__slab_init(&s, 0, RAYC__SLAB_CHUNKS), -1);
    CU_ASSERT_EQUAL(rayc__slab_init(&s, (16 << 10) + 1, RAYC__SLAB_CHUNKS), -1);
    CU_ASSERT_EQUAL(rayc__slab_init(&s, 1, RAYC__SLAB_CHUNKS), 0);
    CU_ASSERT_EQUAL(s.size, 8);
    rayc__slab_destroy(&s);
    CU_ASSERT_EQUAL(rayc__slab_init(&s, 88, RAYC__SLAB_CHUNKS), 0);
    CU_ASSERT_EQUAL(s.size, 88); /* no rounding beyond 8 */
    CU_ASSERT_EQUAL(s.per_chunk, (RAYC__SLAB_CHUNK - 64) / 88);
    rayc__slab_destroy(&s);
    CU_ASSERT_EQUAL(rayc__slab_init(&s, 16 << 10, RAYC__SLAB_CHUNKS), 0);
    void *p = rayc__slab_alloc(&s);
    CU_ASSERT_PTR_NOT_NULL(p);
    rayc__slab_free(&s, p);
    rayc__slab_free(&s, NULL); /* ignored */
    CU_ASSERT_EQUAL(rayc__slab_destroy(&s), 0);
    CU_ASSERT_EQUAL(rayc__slab_destroy(&s), 0); /* twice: harmless */
}

static void test_chunks_fill_and_empty(void)
{
    rayc__slab s;
    CU_ASSERT_EQUAL_FATAL(rayc__slab_init(&s, 72, RAYC__SLAB_CHUNKS), 0);
    size_t n = 3 * s.per_chunk + 5;
    void **recs = calloc(n, sizeof *recs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(recs);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        recs[i] = rayc__slab_alloc(&s);
        if (!recs[i]) {
            bad++;
            continue;
        }
        bad += ((uintptr_t)recs[i] & 7) != 0 || !all_zero(recs[i], 72);
        fill(recs[i], 72, i);
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(s.live, n);
    CU_ASSERT_EQUAL(s.nchunks, 4);
    for (size_t i = 0; i < n; i++) /* no record overlaps another */
        bad += recs[i] && differs(recs[i], 72, i);
    CU_ASSERT_EQUAL(bad, 0);
    /* every record lies inside the chunk its address rounds down to, after the header */
    for (size_t i = 0; i < n; i++) {
        uintptr_t c = (uintptr_t)recs[i] & ~(uintptr_t)(RAYC__SLAB_CHUNK - 1);
        bad += (uintptr_t)recs[i] < c + 64 || (uintptr_t)recs[i] + 72 > c + RAYC__SLAB_CHUNK;
    }
    CU_ASSERT_EQUAL(bad, 0);
    rayc__slab_keep(&s, 1);
    /* free the first chunk's worth: that chunk empties and is kept as the spare */
    for (size_t i = 0; i < s.per_chunk; i++)
        rayc__slab_free(&s, recs[i]);
    CU_ASSERT_EQUAL(s.live, n - s.per_chunk);
    CU_ASSERT_EQUAL(s.nchunks, 4);
    CU_ASSERT_PTR_NOT_NULL(s.spare);
    /* the second chunk empties too: it goes back to the system */
    for (size_t i = s.per_chunk; i < 2 * s.per_chunk; i++)
        rayc__slab_free(&s, recs[i]);
    CU_ASSERT_EQUAL(s.nchunks, 3);
    for (size_t i = 2 * s.per_chunk; i < n; i++)
        bad += differs(recs[i], 72, i); /* the others are untouched */
    CU_ASSERT_EQUAL(bad, 0);
    /* freed records come back zeroed, from chunks already mapped */
    for (size_t i = 0; i < s.per_chunk; i++) {
        recs[i] = rayc__slab_alloc(&s);
        bad += !recs[i] || !all_zero(recs[i], 72);
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(s.nchunks, 3);
    for (size_t i = 0; i < s.per_chunk; i++)
        rayc__slab_free(&s, recs[i]);
    for (size_t i = 2 * s.per_chunk; i < n; i++)
        rayc__slab_free(&s, recs[i]);
    CU_ASSERT_EQUAL(s.live, 0);
    CU_ASSERT_EQUAL(s.nchunks, 1); /* the spare */
    CU_ASSERT_EQUAL(rayc__slab_destroy(&s), 0);
    CU_ASSERT_EQUAL(s.nchunks, 0);
    free(recs);
}

/* Chunks that empty are kept up to the pool's limit and reused without a new mapping: a pool
 * filled and emptied again maps nothing new; past the limit, empty chunks are unmapped, and
 * lowering the limit unmaps the surplus at once. */
static void test_keeps_empty_chunks(void)
{
    rayc__slab s;
    CU_ASSERT_EQUAL_FATAL(rayc__slab_init(&s, 64, RAYC__SLAB_CHUNKS), 0);
    CU_ASSERT_EQUAL(s.keep, RAYC__SLAB_KEEP);
    rayc__slab_keep(&s, 3);
    size_t n = 5 * s.per_chunk;
    void **recs = calloc(n, sizeof *recs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(recs);
    for (int round = 0; round < 2; round++) {
        int bad = 0;
        for (size_t i = 0; i < n; i++)
            bad += !(recs[i] = rayc__slab_alloc(&s)) || !all_zero(recs[i], 64);
        CU_ASSERT_EQUAL(bad, 0);
        CU_ASSERT_EQUAL(s.nchunks, 5); /* round 1: three of them were the kept ones */
        for (size_t i = 0; i < n; i++)
            rayc__slab_free(&s, recs[i]);
        CU_ASSERT_EQUAL(s.live, 0);
        CU_ASSERT_EQUAL(s.nspare, 3); /* five emptied: three kept, two unmapped */
        CU_ASSERT_EQUAL(s.nchunks, 3);
    }
    rayc__slab_keep(&s, 1);
    CU_ASSERT_EQUAL(s.nspare, 1);
    CU_ASSERT_EQUAL(s.nchunks, 1);
    rayc__slab_keep(&s, 0); /* at least one */
    CU_ASSERT_EQUAL(s.keep, 1);
    CU_ASSERT_EQUAL(rayc__slab_destroy(&s), 0);
    CU_ASSERT_EQUAL(s.nchunks, 0);
    free(recs);
}

static void test_destroy_counts_live(void)
{
    rayc__slab s;
    CU_ASSERT_EQUAL_FATAL(rayc__slab_init(&s, 40, RAYC__SLAB_CHUNKS), 0);
    for (int i = 0; i < 1000; i++)
        CU_ASSERT_PTR_NOT_NULL(rayc__slab_alloc(&s));
    CU_ASSERT_EQUAL(rayc__slab_destroy(&s), 1000); /* unmapped anyway */
}

static void test_random_vs_model(void)
{
    enum { SLOTS = 20000, OPS = 200000 };
    static void *held[SLOTS];
    static uint64_t tags[SLOTS];
    memset(held, 0, sizeof held);
    rayc__slab s;
    CU_ASSERT_EQUAL_FATAL(rayc__slab_init(&s, 120, RAYC__SLAB_CHUNKS), 0);
    size_t live = 0, most = 0;
    int bad = 0;
    for (int op = 0; op < OPS; op++) {
        /* the share of allocations drifts, so chunks fill, empty and refill */
        int k = (int)(rnd() % SLOTS), alloc_pct = (op / 25000) % 2 ? 30 : 70;
        if (!held[k] && (int)(rnd() % 100) < alloc_pct) {
            held[k] = rayc__slab_alloc(&s);
            bad += !held[k] || !all_zero(held[k], 120);
            tags[k] = rnd();
            if (held[k]) {
                fill(held[k], 120, tags[k]);
                live++;
            }
        } else if (held[k]) {
            bad += differs(held[k], 120, tags[k]);
            rayc__slab_free(&s, held[k]);
            held[k] = NULL;
            live--;
        }
        bad += s.live != live;
        if (live > most)
            most = live;
    }
    for (int k = 0; k < SLOTS; k++)
        if (held[k]) {
            bad += differs(held[k], 120, tags[k]);
            rayc__slab_free(&s, held[k]);
        }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(most > 2 * s.per_chunk); /* several chunks were in use */
    CU_ASSERT_EQUAL(s.live, 0);
    CU_ASSERT_EQUAL(s.nchunks, s.nspare); /* only the kept empty chunks are left */
    CU_ASSERT(s.nspare >= 1 && s.nspare <= s.keep);
    rayc__slab_destroy(&s);
}

typedef struct worker_arg {
    rayc__slab *s;
    uint64_t seed;
    int bad;
} worker_arg;

static void *worker(void *arg)
{
    worker_arg *w = arg;
    enum { HOLD = 512 };
    void *held[HOLD] = {0};
    uint64_t x = w->seed;
    for (int i = 0; i < 100000; i++) {
        int k = (int)(unit_xorshift(&x) % HOLD);
        if (held[k]) {
            w->bad += differs(held[k], 48, (uint64_t)(uintptr_t)held[k]);
            rayc__slab_free(w->s, held[k]);
            held[k] = NULL;
        } else {
            held[k] = rayc__slab_alloc(w->s);
            if (!held[k] || !all_zero(held[k], 48)) {
                w->bad++;
                continue;
            }
            fill(held[k], 48, (uint64_t)(uintptr_t)held[k]);
        }
    }
    for (int k = 0; k < HOLD; k++)
        rayc__slab_free(w->s, held[k]);
    return NULL;
}

static void test_threads_on_locked_pool(void)
{
    rayc__slab s;
    CU_ASSERT_EQUAL_FATAL(rayc__slab_init(&s, 48, RAYC__SLAB_LOCKED | RAYC__SLAB_CHUNKS), 0);
    pthread_t th[4];
    worker_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (worker_arg){&s, 0x1234567ull * (uint64_t)(i + 1), 0};
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, worker, &a[i]), 0);
    }
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        bad += a[i].bad;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(s.live, 0);
    CU_ASSERT_EQUAL(rayc__slab_destroy(&s), 0);
}

static void test_malloc_mode(void)
{
    rayc__slab s;
    CU_ASSERT_EQUAL_FATAL(rayc__slab_init(&s, 24, RAYC__SLAB_MALLOC), 0);
    void *p[100];
    for (int i = 0; i < 100; i++) {
        p[i] = rayc__slab_alloc(&s);
        CU_ASSERT(p[i] && all_zero(p[i], 24));
    }
    CU_ASSERT_EQUAL(s.live, 100);
    CU_ASSERT_EQUAL(s.nchunks, 0); /* no chunks in this mode */
    for (int i = 0; i < 100; i++)
        rayc__slab_free(&s, p[i]);
    CU_ASSERT_EQUAL(rayc__slab_destroy(&s), 0);
}

int main(void)
{
    static const unit_test tests[] = {
        {"sizes", test_sizes},
        {"chunks fill and empty", test_chunks_fill_and_empty},
        {"keeps empty chunks", test_keeps_empty_chunks},
        {"destroy counts live records", test_destroy_counts_live},
        {"200k random ops vs model", test_random_vs_model},
        {"four threads on a locked pool", test_threads_on_locked_pool},
        {"malloc mode", test_malloc_mode},
    };
    return UNIT_RUN("slab", tests);
}
