/* test_arena.c: CUnit suite for src/arena.c: alignment, exact fill, best fit, coalescing after
 * fragmentation, misuse codes, randomized alloc/free against a shadow model, terabyte accounting. */
#include "arena.h"

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit_main.h"

/* Fails the current test (fatally) when an arena invariant is broken, printing why. */
#define CHECK_INVARIANTS(a)                                                                       \
    do {                                                                                          \
        char why_[256] = "";                                                                      \
        int rc_ = rayc__arena_check((a), why_, sizeof why_);                                      \
        if (rc_ != 0)                                                                             \
            fprintf(stderr, "\n  %s:%d: %s\n", __FILE__, __LINE__, why_);                         \
        CU_ASSERT_EQUAL_FATAL(rc_, 0);                                                            \
    } while (0)

static uint64_t rng_state = 0x243f6a8885a308d3ULL;

static uint64_t rnd(void)
{
    return unit_xorshift(&rng_state);
}

static void test_init_and_misuse(void)
{
    rayc__arena a;
    size_t off = 12345;
    CU_ASSERT_EQUAL(rayc__arena_init(NULL, 1024, 64), RAYC__ARENA_EINVAL);
    CU_ASSERT_EQUAL(rayc__arena_init(&a, 1024, 48), RAYC__ARENA_EINVAL);
    rayc__arena_destroy(&a); /* zeroed by the failed init: harmless */
    rayc__arena_destroy(NULL);

    CU_ASSERT_EQUAL_FATAL(rayc__arena_init(&a, 1000, 0), RAYC__ARENA_OK);
    CU_ASSERT_EQUAL(rayc__arena_capacity(&a), 960); /* rounded down to the default 64 */
    CU_ASSERT_EQUAL(rayc__arena_largest_free(&a), 960);
    CU_ASSERT_EQUAL(rayc__arena_nfree_blocks(&a), 1);
    CU_ASSERT_EQUAL(rayc__arena_alloc(&a, 10, NULL), RAYC__ARENA_EINVAL);
    CU_ASSERT_EQUAL(rayc__arena_alloc(NULL, 10, &off), RAYC__ARENA_EINVAL);
    CU_ASSERT_EQUAL(rayc__arena_alloc(&a, 961, &off), RAYC__ARENA_ENOSPC);
    CU_ASSERT_EQUAL(rayc__arena_alloc(&a, (size_t)-1, &off), RAYC__ARENA_ENOSPC);
    CU_ASSERT_EQUAL(off, 12345); /* untouched on failure */

    CU_ASSERT_EQUAL_FATAL(rayc__arena_alloc(&a, 100, &off), RAYC__ARENA_OK);
    CU_ASSERT_EQUAL(rayc__arena_free(&a, off + 64), RAYC__ARENA_EINVAL); /* inside a block */
    CU_ASSERT_EQUAL(rayc__arena_free(&a, 5000), RAYC__ARENA_EINVAL);     /* beyond the range */
    CU_ASSERT_EQUAL(rayc__arena_free(&a, 128), RAYC__ARENA_EINVAL);      /* free block */
    CU_ASSERT_EQUAL(rayc__arena_used(&a), 128);
    CHECK_INVARIANTS(&a);
    CU_ASSERT_EQUAL(rayc__arena_free(&a, off), RAYC__ARENA_OK);
    CU_ASSERT_EQUAL(rayc__arena_free(&a, off), RAYC__ARENA_EINVAL); /* double free */
    CU_ASSERT_EQUAL(rayc__arena_used(&a), 0);
    CHECK_INVARIANTS(&a);
    rayc__arena_destroy(&a);
    rayc__arena_destroy(&a); /* twice: harmless */
    CU_ASSERT_EQUAL(rayc__arena_capacity(&a), 0);

    /* An arena smaller than one alignment unit has no room at all. */
    CU_ASSERT_EQUAL_FATAL(rayc__arena_init(&a, 63, 64), RAYC__ARENA_OK);
    CU_ASSERT_EQUAL(rayc__arena_alloc(&a, 0, &off), RAYC__ARENA_ENOSPC);
    CU_ASSERT_EQUAL(rayc__arena_largest_free(&a), 0);
    CHECK_INVARIANTS(&a);
    rayc__arena_destroy(&a);
}

static void test_alignment(void)
{
    static const size_t aligns[] = {1, 8, 64, 4096};
    static const size_t sizes[] = {1, 0, 63, 64, 65, 100, 4095, 4097, 7, 128};
    for (size_t k = 0; k < sizeof aligns / sizeof aligns[0]; k++) {
        rayc__arena a;
        size_t al = aligns[k], offs[10], total = 0;
        CU_ASSERT_EQUAL_FATAL(rayc__arena_init(&a, 1 << 20, al), RAYC__ARENA_OK);
        for (int i = 0; i < 10; i++) {
            CU_ASSERT_EQUAL_FATAL(rayc__arena_alloc(&a, sizes[i], &offs[i]), RAYC__ARENA_OK);
            size_t want = sizes[i] == 0 ? al : (sizes[i] + al - 1) / al * al;
            CU_ASSERT_EQUAL(offs[i] % al, 0);
            CU_ASSERT_EQUAL(rayc__arena_block_size(&a, offs[i]), want);
            CU_ASSERT(sizes[i] <= want);
            for (int j = 0; j < i; j++)
                CU_ASSERT_NOT_EQUAL(offs[i], offs[j]); /* size 0 still gets its own offset */
            total += want;
        }
        CU_ASSERT_EQUAL(rayc__arena_used(&a), total);
        CU_ASSERT_EQUAL(rayc__arena_free_bytes(&a), (size_t)(1 << 20) - total);
        CHECK_INVARIANTS(&a);
        rayc__arena_destroy(&a);
    }
}

static void test_exact_fill(void)
{
    rayc__arena a;
    size_t off, offs[100];
    CU_ASSERT_EQUAL_FATAL(rayc__arena_init(&a, 100 * 64, 64), RAYC__ARENA_OK);
    for (int i = 0; i < 100; i++) {
        CU_ASSERT_EQUAL_FATAL(rayc__arena_alloc(&a, 64, &offs[i]), RAYC__ARENA_OK);
        CU_ASSERT_EQUAL(offs[i], (size_t)i * 64); /* best fit takes the front of the rest */
    }
    CU_ASSERT_EQUAL(rayc__arena_used(&a), 6400);
    CU_ASSERT_EQUAL(rayc__arena_free_bytes(&a), 0);
    CU_ASSERT_EQUAL(rayc__arena_largest_free(&a), 0);
    CU_ASSERT_EQUAL(rayc__arena_nfree_blocks(&a), 0);
    CU_ASSERT_EQUAL(rayc__arena_alloc(&a, 1, &off), RAYC__ARENA_ENOSPC);
    CHECK_INVARIANTS(&a);
    for (int i = 0; i < 100; i++)
        CU_ASSERT_EQUAL(rayc__arena_free(&a, offs[i]), RAYC__ARENA_OK);
    CU_ASSERT_EQUAL(rayc__arena_nfree_blocks(&a), 1);
    /* One block of the whole (non power of two) capacity, then nothing more. */
    CU_ASSERT_EQUAL_FATAL(rayc__arena_alloc(&a, 6400, &off), RAYC__ARENA_OK);
    CU_ASSERT_EQUAL(off, 0);
    CU_ASSERT_EQUAL(rayc__arena_nallocs(&a), 1);
    CU_ASSERT_EQUAL(rayc__arena_alloc(&a, 0, &off), RAYC__ARENA_ENOSPC);
    CHECK_INVARIANTS(&a);
    rayc__arena_destroy(&a);
}

/* Holes of 3, 1 and 2 units between allocated blocks: each request lands in the smallest hole
 * that fits, and equal holes are used lowest offset first. */
static void test_best_fit(void)
{
    rayc__arena a;
    size_t o[8], off;
    static const size_t units[8] = {3, 1, 1, 1, 2, 1, 2, 1};
    CU_ASSERT_EQUAL_FATAL(rayc__arena_init(&a, 64 * 64, 64), RAYC__ARENA_OK);
    for (int i = 0; i < 8; i++)
        CU_ASSERT_EQUAL_FATAL(rayc__arena_alloc(&a, units[i] * 64, &o[i]), RAYC__ARENA_OK);
    /* layout in units: [0,3) [3] [4] [5] [6,8) [8] [9,11) [11], then the free tail from 12 */
    CU_ASSERT_EQUAL(rayc__arena_free(&a, o[0]), RAYC__ARENA_OK); /* hole of 3 at 0 */
    CU_ASSERT_EQUAL(rayc__arena_free(&a, o[2]), RAYC__ARENA_OK); /* hole of 1 at 4 */
    CU_ASSERT_EQUAL(rayc__arena_free(&a, o[4]), RAYC__ARENA_OK); /* hole of 2 at 6 */
    CU_ASSERT_EQUAL(rayc__arena_free(&a, o[6]), RAYC__ARENA_OK); /* hole of 2 at 9 */
    CU_ASSERT_EQUAL(rayc__arena_nfree_blocks(&a), 5);
    CHECK_INVARIANTS(&a);
    CU_ASSERT_EQUAL(rayc__arena_alloc(&a, 64, &off), RAYC__ARENA_OK);
    CU_ASSERT_EQUAL(off, 4 * 64);
    CU_ASSERT_EQUAL(rayc__arena_alloc(&a, 100, &off), RAYC__ARENA_OK);
    CU_ASSERT_EQUAL(off, 6 * 64);
    CU_ASSERT_EQUAL(rayc__arena_alloc(&a, 128, &off), RAYC__ARENA_OK);
    CU_ASSERT_EQUAL(off, 9 * 64);
    CU_ASSERT_EQUAL(rayc__arena_alloc(&a, 129, &off), RAYC__ARENA_OK);
    CU_ASSERT_EQUAL(off, 0);
    CU_ASSERT_EQUAL(rayc__arena_alloc(&a, 4 * 64, &off), RAYC__ARENA_OK);
    CU_ASSERT_EQUAL(off, 12 * 64); /* the tail */
    CHECK_INVARIANTS(&a);
    rayc__arena_destroy(&a);
}

/* Free every other block: the free space is fragmented into single units; freeing the rest, in
 * a scrambled order, must coalesce back into one block of the whole range. */
static void test_fragment_and_coalesce(void)
{
    enum { N = 1000 };
    rayc__arena a;
    size_t offs[N], off;
    int order[N / 2];
    CU_ASSERT_EQUAL_FATAL(rayc__arena_init(&a, N * 256, 64), RAYC__ARENA_OK);
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL_FATAL(rayc__arena_alloc(&a, 256, &offs[i]), RAYC__ARENA_OK);
    for (int i = 0; i < N; i += 2)
        CU_ASSERT_EQUAL(rayc__arena_free(&a, offs[i]), RAYC__ARENA_OK);
    CU_ASSERT_EQUAL(rayc__arena_nfree_blocks(&a), N / 2);
    CU_ASSERT_EQUAL(rayc__arena_free_bytes(&a), N / 2 * 256);
    CU_ASSERT_EQUAL(rayc__arena_largest_free(&a), 256);
    CU_ASSERT_EQUAL(rayc__arena_alloc(&a, 257, &off), RAYC__ARENA_ENOSPC); /* fragmented */
    CHECK_INVARIANTS(&a);
    for (int i = 0; i < N / 2; i++)
        order[i] = 2 * i + 1;
    for (int i = N / 2 - 1; i > 0; i--) {
        int j = (int)(rnd() % (uint64_t)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < N / 2; i++) {
        CU_ASSERT_EQUAL_FATAL(rayc__arena_free(&a, offs[order[i]]), RAYC__ARENA_OK);
        if (i % 50 == 0)
            CHECK_INVARIANTS(&a);
    }
    CU_ASSERT_EQUAL(rayc__arena_nfree_blocks(&a), 1);
    CU_ASSERT_EQUAL(rayc__arena_nallocs(&a), 0);
    CU_ASSERT_EQUAL(rayc__arena_largest_free(&a), N * 256);
    CU_ASSERT_EQUAL(rayc__arena_alloc(&a, N * 256, &off), RAYC__ARENA_OK);
    CHECK_INVARIANTS(&a);
    rayc__arena_destroy(&a);
}

/* ---- randomized against a shadow model ------------------------------------------------- */

enum { UNIT = 64, UNITS = 4096, MAXLIVE = 2048 };

typedef struct shadow {
    int owner[UNITS]; /* index into live[] + 1, 0 when free */
    size_t off[MAXLIVE], size[MAXLIVE];
    int nlive;
    size_t used;
} shadow;

static size_t shadow_largest_gap(const shadow *s)
{
    size_t best = 0, run = 0;
    for (int u = 0; u < UNITS; u++) {
        run = s->owner[u] ? 0 : run + 1;
        best = run > best ? run : best;
    }
    return best * UNIT;
}

/* Mark units [off, off+size) as owned by live entry k; they must all be free. */
static int shadow_mark(shadow *s, size_t off, size_t size, int val)
{
    for (size_t u = off / UNIT; u < (off + size) / UNIT; u++) {
        if (val && s->owner[u])
            return -1;
        s->owner[u] = val;
    }
    return 0;
}

static size_t random_size(void)
{
    uint64_t r = rnd();
    switch (r % 8) {
    case 0: return (size_t)(r >> 8) % (UNIT * 512); /* large */
    case 1: return 0;
    default: return (size_t)(r >> 8) % (UNIT * 8) + 1;
    }
}

static void random_alloc(rayc__arena *a, shadow *s)
{
    size_t sz = random_size(), off;
    size_t need = sz == 0 ? UNIT : (sz + UNIT - 1) / UNIT * UNIT;
    int rc = rayc__arena_alloc(a, sz, &off);
    if (rc == RAYC__ARENA_ENOSPC) {
        size_t gap = shadow_largest_gap(s);
        CU_ASSERT_FATAL(gap < need); /* a fitting hole existed: the allocator missed it */
        CU_ASSERT_EQUAL_FATAL(rayc__arena_largest_free(a), gap);
        return;
    }
    CU_ASSERT_EQUAL_FATAL(rc, RAYC__ARENA_OK);
    CU_ASSERT_EQUAL_FATAL(off % UNIT, 0);
    CU_ASSERT_FATAL(off + need <= UNITS * UNIT);
    CU_ASSERT_EQUAL_FATAL(shadow_mark(s, off, need, s->nlive + 1), 0); /* no overlap */
    s->off[s->nlive] = off;
    s->size[s->nlive] = need;
    s->nlive++;
    s->used += need;
}

static void random_free(rayc__arena *a, shadow *s)
{
    int k = (int)(rnd() % (uint64_t)s->nlive);
    CU_ASSERT_EQUAL_FATAL(rayc__arena_block_size(a, s->off[k]), s->size[k]);
    CU_ASSERT_EQUAL_FATAL(rayc__arena_free(a, s->off[k]), RAYC__ARENA_OK);
    shadow_mark(s, s->off[k], s->size[k], 0);
    s->used -= s->size[k];
    s->nlive--;
    if (k != s->nlive) { /* move the last live entry into slot k */
        s->off[k] = s->off[s->nlive];
        s->size[k] = s->size[s->nlive];
        shadow_mark(s, s->off[k], s->size[k], 0);
        shadow_mark(s, s->off[k], s->size[k], k + 1);
    }
}

static void test_random_vs_shadow(void)
{
    static shadow s;
    rayc__arena a;
    memset(&s, 0, sizeof s);
    CU_ASSERT_EQUAL_FATAL(rayc__arena_init(&a, UNITS * UNIT, UNIT), RAYC__ARENA_OK);
    for (int step = 0; step < 60000; step++) {
        /* Phases drift between mostly-alloc and mostly-free to hit full and empty states. */
        int alloc_pct = (step / 5000) % 2 ? 35 : 70;
        if (s.nlive < MAXLIVE && (s.nlive == 0 || (int)(rnd() % 100) < alloc_pct))
            random_alloc(&a, &s);
        else
            random_free(&a, &s);
        CU_ASSERT_EQUAL_FATAL(rayc__arena_used(&a), s.used);
        CU_ASSERT_EQUAL_FATAL(rayc__arena_nallocs(&a), (size_t)s.nlive);
        CU_ASSERT_EQUAL_FATAL(rayc__arena_used(&a) + rayc__arena_free_bytes(&a), UNITS * UNIT);
        if (step % 997 == 0) {
            CHECK_INVARIANTS(&a);
            CU_ASSERT_EQUAL_FATAL(rayc__arena_largest_free(&a), shadow_largest_gap(&s));
        }
    }
    while (s.nlive > 0)
        random_free(&a, &s);
    CU_ASSERT_EQUAL(rayc__arena_nfree_blocks(&a), 1);
    CU_ASSERT_EQUAL(rayc__arena_largest_free(&a), UNITS * UNIT);
    CHECK_INVARIANTS(&a);
    rayc__arena_destroy(&a);
}

/* A 1 TiB (+ a ragged tail) arena with 4 KiB alignment: accounting only, no memory behind it. */
static void test_terabyte_accounting(void)
{
    const size_t big = (size_t)1 << 33; /* 8 GiB blocks */
    const size_t cap = ((size_t)1 << 40) + 12345;
    const size_t usable = cap & ~(size_t)4095;
    rayc__arena a;
    size_t offs[128], off;
    CU_ASSERT_EQUAL_FATAL(rayc__arena_init(&a, cap, 4096), RAYC__ARENA_OK);
    CU_ASSERT_EQUAL(rayc__arena_capacity(&a), usable);
    for (int i = 0; i < 128; i++) {
        CU_ASSERT_EQUAL_FATAL(rayc__arena_alloc(&a, big - 1, &offs[i]), RAYC__ARENA_OK);
        CU_ASSERT_EQUAL(offs[i], (size_t)i * big);
    }
    CU_ASSERT_EQUAL(rayc__arena_used(&a), (size_t)1 << 40);
    CU_ASSERT_EQUAL(rayc__arena_largest_free(&a), usable - ((size_t)1 << 40));
    CU_ASSERT_EQUAL(rayc__arena_alloc(&a, 12288, &off), RAYC__ARENA_OK); /* the exact tail */
    CU_ASSERT_EQUAL(rayc__arena_free_bytes(&a), 0);
    for (int i = 0; i < 128; i += 2)
        CU_ASSERT_EQUAL(rayc__arena_free(&a, offs[i]), RAYC__ARENA_OK);
    CU_ASSERT_EQUAL(rayc__arena_free_bytes(&a), (size_t)64 * big);
    CU_ASSERT_EQUAL(rayc__arena_largest_free(&a), big);
    CU_ASSERT_EQUAL(rayc__arena_alloc(&a, big + 1, &off), RAYC__ARENA_ENOSPC);
    for (int i = 1; i < 128; i += 2)
        CU_ASSERT_EQUAL(rayc__arena_free(&a, offs[i]), RAYC__ARENA_OK);
    CU_ASSERT_EQUAL(rayc__arena_largest_free(&a), (size_t)1 << 40);
    CU_ASSERT_EQUAL(rayc__arena_alloc(&a, (size_t)1 << 40, &off), RAYC__ARENA_OK);
    CU_ASSERT_EQUAL(off, 0);
    CHECK_INVARIANTS(&a);
    rayc__arena_destroy(&a);
}

/* 200,000 live blocks then frees in random order: exercises many slabs and deep treaps. */
static void test_many_blocks(void)
{
    enum { N = 200000 };
    rayc__arena a;
    size_t *offs = malloc(N * sizeof *offs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(offs);
    CU_ASSERT_EQUAL_FATAL(rayc__arena_init(&a, (size_t)N * 128, 64), RAYC__ARENA_OK);
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL_FATAL(rayc__arena_alloc(&a, 1 + (size_t)(i % 2) * 64, &offs[i]), 0);
    CU_ASSERT_EQUAL(rayc__arena_nallocs(&a), N);
    CHECK_INVARIANTS(&a);
    for (int i = N - 1; i > 0; i--) {
        int j = (int)(rnd() % (uint64_t)(i + 1));
        size_t t = offs[i];
        offs[i] = offs[j];
        offs[j] = t;
    }
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL_FATAL(rayc__arena_free(&a, offs[i]), RAYC__ARENA_OK);
    CU_ASSERT_EQUAL(rayc__arena_nfree_blocks(&a), 1);
    CU_ASSERT_EQUAL(rayc__arena_used(&a), 0);
    CHECK_INVARIANTS(&a);
    rayc__arena_destroy(&a);
    free(offs);
}

int main(void)
{
    static const unit_test tests[] = {
        {"init and misuse codes", test_init_and_misuse},
        {"alignment", test_alignment},
        {"exact fill", test_exact_fill},
        {"best fit", test_best_fit},
        {"fragmentation then coalescing", test_fragment_and_coalesce},
        {"randomized vs shadow model", test_random_vs_shadow},
        {"terabyte accounting", test_terabyte_accounting},
        {"200k blocks", test_many_blocks},
    };
    return UNIT_RUN("arena", tests);
}
