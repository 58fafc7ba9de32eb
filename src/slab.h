/* slab.h: pools of fixed-size records (the control service's task, object and waiter records).
 *
 * Records are carved from 256 KiB chunks mapped at 256 KiB alignment, so a record costs its own
 * size rounded to 8 bytes (malloc adds a header and rounds to 16: an 88-byte record took 96,
 * a 64-byte one 80) and its chunk is found from its address. Chunk memory is touched only as
 * records are handed out; a chunk that empties goes back to the system, except up to
 * RAYC__SLAB_KEEP per pool kept against churn (a workload that fills and empties a few
 * megabytes of records again and again would otherwise map and fault in the same pages each
 * time: about 470 page faults per 20,000 tasks). Each pool counts its live records.
 *
 * Thread safety: a pool made with RAYC__SLAB_LOCKED takes its own mutex; otherwise the caller
 * serializes (the runtime's records live under rt->mu).
 * Sanitizer builds (AddressSanitizer) hand every record to malloc instead (RAYC__SLAB_MALLOC
 * is then the default), so ASan and LeakSanitizer see each record as before. */
#ifndef RAYC_SLAB_H
#define RAYC_SLAB_H

#include <pthread.h>
#include <stddef.h>

#define RAYC__SLAB_CHUNK ((size_t)256 << 10)
#define RAYC__SLAB_KEEP 32 /* empty chunks a pool keeps by default (8 MiB) */

enum {
    RAYC__SLAB_LOCKED = 1, /* alloc and free may come from any thread */
    RAYC__SLAB_MALLOC = 2, /* one malloc per record (forced on in ASan builds) */
    RAYC__SLAB_CHUNKS = 4, /* chunks even in ASan builds (the unit test) */
};

struct rayc__slab_chunk;

typedef struct rayc__slab {
    size_t size;      /* record size, a multiple of 8 */
    size_t per_chunk; /* records per chunk */
    int flags;
    struct rayc__slab_chunk *avail; /* chunks with free records (not full) */
    struct rayc__slab_chunk *spare; /* empty chunks kept (linked through next) */
    struct rayc__slab_chunk *all;   /* every chunk (unmapped at destroy) */
    size_t nchunks;   /* mapped, the spares included */
    size_t nspare, keep; /* empty chunks kept, and at most how many */
    size_t live;      /* records handed out and not freed */
    pthread_mutex_t mu;
} rayc__slab;

/* A pool of records of size bytes (1 .. 16 KiB). 0, or -1 for a size out of range. */
int rayc__slab_init(rayc__slab *s, size_t size, int flags);
/* Unmaps every chunk, records still live included (in malloc mode those stay allocated, for
 * LeakSanitizer to report). Returns how many records were live. */
size_t rayc__slab_destroy(rayc__slab *s);
/* A record of the pool's size, zeroed; NULL when out of memory. */
void *rayc__slab_alloc(rayc__slab *s);
/* Return a record from this pool (NULL is ignored). */
void rayc__slab_free(rayc__slab *s, void *p);
/* Keep at most n empty chunks from now on (RAYC__SLAB_KEEP by default; at least 1). */
void rayc__slab_keep(rayc__slab *s, size_t n);

#endif /* RAYC_SLAB_H */
