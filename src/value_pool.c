/* value_pool.c: small value blocks recycled between threads (see value_pool.h).
 *
 * Per thread: `alloc`, blocks to hand out (at most RAYC__VPOOL_BUNDLE), and `freed`, a batch
 * of blocks this thread gave back while its cache was full. A full batch becomes a bundle of
 * the shared list; a thread whose cache is empty takes its own batch, else a bundle. Bundles
 * are linked through their first block, which also holds their size, so a move is O(1) under
 * the mutex. Every block came from malloc(RAYC__VPOOL_BLOCK), so any of them may go back to
 * free() at any point. */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "value_pool.h"

#if defined(__SANITIZE_ADDRESS__)
#define VPOOL_PLAIN 1
#else
#define VPOOL_PLAIN 0
#endif

typedef struct blk {
    struct blk *next;        /* within a list or bundle */
    struct blk *next_bundle; /* first block of a bundle: the next bundle */
    size_t n;                /* first block of a bundle: blocks in it */
} blk;

typedef struct tcache {
    blk *alloc, *freed;
    int nalloc, nfreed;
    int registered; /* the exit hook knows this thread holds blocks */
} tcache;

static _Thread_local tcache tc;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static blk *bundles;  /* shared list, under mu */
static size_t nshared; /* blocks in it */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static int have_key;

static void free_list(blk *b)
{
    while (b) {
        blk *n = b->next;
        free(b);
        b = n;
    }
}

/* Hand the list b of n blocks to the shared list, or to free() when it holds enough. */
static void give(blk *b, size_t n)
{
    if (!b)
        return;
    pthread_mutex_lock(&mu);
    int keep = nshared + n <= RAYC__VPOOL_KEEP;
    if (keep) {
        b->n = n;
        b->next_bundle = bundles;
        bundles = b;
        nshared += n;
    }
    pthread_mutex_unlock(&mu);
    if (!keep)
        free_list(b);
}

/* A bundle from the shared list into this thread's cache (which is empty). */
static void take(tcache *c)
{
    pthread_mutex_lock(&mu);
    blk *b = bundles;
    if (b) {
        bundles = b->next_bundle;
        nshared -= b->n;
    }
    pthread_mutex_unlock(&mu);
    if (b) {
        c->alloc = b;
        c->nalloc = (int)b->n;
    }
}

void rayc__vpool_thread_flush(void)
{
    tcache *c = &tc;
    give(c->alloc, (size_t)c->nalloc);
    give(c->freed, (size_t)c->nfreed);
    c->alloc = c->freed = NULL;
    c->nalloc = c->nfreed = 0;
}

static void on_exit_hook(void *unused)
{
    (void)unused;
    rayc__vpool_thread_flush();
}

static void make_key(void)
{
    have_key = pthread_key_create(&exit_key, on_exit_hook) == 0;
}

/* This thread is about to hold blocks: have them flushed when it exits. */
static void hold(tcache *c)
{
    if (c->registered)
        return;
    pthread_once(&once, make_key);
    if (have_key)
        pthread_setspecific(exit_key, c);
    c->registered = 1;
}

void *rayc__vpool_get(void)
{
    if (VPOOL_PLAIN)
        return malloc(RAYC__VPOOL_BLOCK);
    tcache *c = &tc;
    if (!c->alloc) {
        if (c->freed) { /* what this thread freed, first: no lock */
            c->alloc = c->freed;
            c->nalloc = c->nfreed;
            c->freed = NULL;
            c->nfreed = 0;
        } else {
            take(c);
            if (!c->alloc)
                return malloc(RAYC__VPOOL_BLOCK);
            hold(c);
        }
    }
    blk *b = c->alloc;
    c->alloc = b->next;
    c->nalloc--;
    return b;
}

void rayc__vpool_put(void *p)
{
    if (!p)
        return;
    if (VPOOL_PLAIN) {
        free(p);
        return;
    }
    tcache *c = &tc;
    blk *b = p;
    hold(c);
    if (c->nalloc < RAYC__VPOOL_BUNDLE) { /* this thread's next allocation takes it */
        b->next = c->alloc;
        c->alloc = b;
        c->nalloc++;
        return;
    }
    b->next = c->freed;
    c->freed = b;
    if (++c->nfreed == RAYC__VPOOL_BUNDLE) {
        give(c->freed, (size_t)c->nfreed);
        c->freed = NULL;
        c->nfreed = 0;
    }
}

void rayc__vpool_drain(void)
{
    pthread_mutex_lock(&mu);
    blk *b = bundles;
    bundles = NULL;
    nshared = 0;
    pthread_mutex_unlock(&mu);
    while (b) {
        blk *nb = b->next_bundle;
        free_list(b);
        b = nb;
    }
}

size_t rayc__vpool_shared(void)
{
    pthread_mutex_lock(&mu);
    size_t n = nshared;
    pthread_mutex_unlock(&mu);
    return n;
}
