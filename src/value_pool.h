/* value_pool.h: recycling of small value blocks between threads.
 *
 * A small value (a scalar return, a short string) is made by one thread and often freed by
 * another: a worker returns it, the driver releases it. glibc's free of a block that another
 * thread's arena handed out takes that arena's lock and slow path, and the two threads then
 * share the allocator's cache lines per value. Here every block is RAYC__VPOOL_BLOCK bytes
 * from malloc; a thread keeps a cache of up to RAYC__VPOOL_BUNDLE blocks to hand out and
 * a batch of blocks it freed, and whole batches move through a shared list under a mutex
 * (one lock per RAYC__VPOOL_BUNDLE blocks). At most RAYC__VPOOL_KEEP blocks wait in the
 * shared list; beyond that a batch goes back to free(). A thread's cache and batch go to the
 * shared list when it exits; rayc__vpool_drain frees the shared list (shutdown).
 *
 * Sanitizer builds (AddressSanitizer) use plain malloc and free, so that use after free and
 * leaks of values stay visible. */
#ifndef RAYC_VALUE_POOL_H
#define RAYC_VALUE_POOL_H

#include <stddef.h>

#define RAYC__VPOOL_BLOCK 256     /* bytes per block */
#define RAYC__VPOOL_BUNDLE 32     /* blocks moved to or from the shared list at once */
#define RAYC__VPOOL_KEEP 65536    /* blocks the shared list may hold (16 MiB) */

/* A block of RAYC__VPOOL_BLOCK bytes (not cleared), or NULL when out of memory. Any thread. */
void *rayc__vpool_get(void);
/* Give back a block from rayc__vpool_get (NULL is ignored). Any thread. */
void rayc__vpool_put(void *p);
/* Move this thread's cache and batch to the shared list (done at thread exit too). */
void rayc__vpool_thread_flush(void);
/* Free the blocks of the shared list. Blocks in other threads' caches stay there. */
void rayc__vpool_drain(void);
/* Blocks in the shared list (for tests and statistics). */
size_t rayc__vpool_shared(void);

#endif /* RAYC_VALUE_POOL_H */
