/* store.h: this rank's object store (see store.c): values in an MPI window arena, LRU,
 * eviction of cached copies and HDF5 spilling. Map functions need rt->mu. */
#ifndef RAYC_STORE_H
#define RAYC_STORE_H

#include "rt.h"

/* Every window block starts with this header (RAYC__BLOCK_HDR bytes reserved); the data
 * follows. magic is RAYC__BLOCK_MAGIC while the block holds the published object id. */
#define RAYC__BLOCK_HDR 64
#define RAYC__BLOCK_MAGIC 0x52415943424c4b31ull /* "RAYCBLK1" */
typedef struct rayc__block_hdr {
    uint64_t magic;
    rayc__oid id;
    uint64_t nbytes;
} rayc__block_hdr;

typedef struct rayc__store_stats {
    uint64_t capacity;        /* the memory budget (spilling starts near it) */
    uint64_t window_bytes;    /* the window, for one-sided transfers */
    uint64_t window_used;     /* bytes of window blocks in use (headers included) */
    uint64_t heap_bytes;      /* values kept outside the window (over capacity) */
    uint64_t held_bytes;      /* bytes of values the store references */
    uint64_t objects, cached; /* primary and cached copies in the map */
    uint64_t spilled_objects, spilled_bytes;
    uint64_t restored_objects, restored_bytes;
    uint64_t evicted;         /* cached copies dropped for room */
    uint64_t pulled_bytes;    /* bytes this rank pulled from others */
    uint64_t pulled_one_sided, pulled_two_sided;
} rayc__store_stats;

/* How the store's window is made (runtime.c decides, store.c allocates). */
typedef struct rayc__window_plan {
    int shared;          /* 1 on every rank: try MPI_Win_allocate_shared (osc/sm) first */
    size_t shared_bytes; /* this rank's window when the shared window works */
    size_t bytes;        /* this rank's window with MPI_Win_allocate (no shared window) */
} rayc__window_plan;

/* Collective over rt->data. A window as planned (one-sided transfers); spill when the bytes
 * held pass high_water * budget; keep: leave the spill file at shutdown. */
int rayc__store_create(rayc__runtime *rt, const rayc__window_plan *plan, size_t budget,
                       double high_water, int keep);
void rayc__store_destroy(rayc__runtime *rt);
/* A new value for h (refs 1): in the window when it fits, else on the heap; src copied when
 * not NULL. have_mu: the caller holds rt->mu. NULL when out of memory. */
rayc_value *rayc__store_new_value(rayc__runtime *rt, const rayc__vhdr *h, const void *src,
                                  int have_mu);
/* Offset of v's block in this rank's window, or -1 when v is not in it. */
int64_t rayc__store_offset(rayc__runtime *rt, const rayc_value *v);
/* Take val as object id: primary (made here) or a cached copy. Takes the reference. */
int rayc__store_put_ex(rayc__runtime *rt, rayc__oid id, rayc_value *val, int primary,
                       const char *producer);
int rayc__store_has(rayc__runtime *rt, rayc__oid id);
void rayc__store_stats_get(rayc__runtime *rt, rayc__store_stats *out);
/* The STATS record payload (gcs_req.c decodes it). */
void rayc__store_encode_stats(rayc__runtime *rt, rayc__wbuf *b);
void rayc__store_count_pulled(rayc__runtime *rt, uint64_t nbytes, int one_sided);
MPI_Win rayc__store_window(rayc__runtime *rt);
/* 1 when stats changed since the last call (the raylet then reports them). rt->mu held. */
int rayc__store_take_dirty(rayc__runtime *rt);
/* 1 when blocks were published since the last call (progress then calls MPI_Win_sync). */
int rayc__store_take_win_dirty(rayc__runtime *rt);

#endif /* RAYC_STORE_H */
