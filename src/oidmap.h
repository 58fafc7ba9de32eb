/* oidmap.h: an index of records by their id (object, task, request or fetch id). Intrusive:
 * each record holds its own rayc__oid key at a fixed offset (given at init), and a slot is one
 * 8-byte word, so ten million entries take 128 MiB (a key-plus-pointer slot map took 768).
 *
 * Linear probing in Robin Hood order (entries of a run sorted by home slot), power-of-two
 * capacity, load factor <= 3/4, backward-shift deletion (no tombstones). A slot holds the
 * record's address in its low 48 bits and, in the high 16, the entry's distance from its
 * home slot (10 bits) and 6 bits of its hash: a probe reads the
 * record only when both match, and deletion shifts entries back without reading records.
 * Addresses that do not fit 48 bits, or a run longer than the distance field in a sparse
 * table, switch the map to plain slots (the record's key is then read to compare and to find
 * a home). Not thread-safe (the runtime holds rt->mu). */
#ifndef RAYC_OIDMAP_H
#define RAYC_OIDMAP_H

#include <stddef.h>
#include <stdint.h>

#include "ids.h"

typedef struct rayc__oidmap {
    uint64_t *slots; /* 0: empty */
    size_t cap, count;
    size_t key_off;  /* where a record keeps its key */
    int plain;       /* slots hold bare addresses (an address above 48 bits was seen) */
    size_t hint;     /* slot of the latest record found: a delete of it needs no probe */
    int sequential;  /* ids placed in sequence (rayc__oidmap_init_seq) */
} rayc__oidmap;

/* An empty map of records whose rayc__oid key is at byte offset key_off (offsetof). */
void rayc__oidmap_init(rayc__oidmap *m, size_t key_off);
/* The same for ids that one rank makes mostly in sequence (the control service's objects of
 * one submitting rank): an id's home slot is its sequence number (a task's first return and
 * a put share their numbering), so a burst's ids sit side by side, their slots share cache
 * lines and a probe rarely moves. The tag bits are a hash of that number. A put that lands
 * more than a few slots from home (ids far from sequential: strides, many returns per task)
 * turns the map into an ordinary one for good. */
void rayc__oidmap_init_seq(rayc__oidmap *m, size_t key_off);
/* Releases the slots (not the records); the map is then empty and usable again. */
void rayc__oidmap_free(rayc__oidmap *m);
/* The record with this key, or NULL. */
void *rayc__oidmap_get(rayc__oidmap *m, rayc__oid key);
/* Index rec under the key it holds (not null), replacing a record with the same key. 0, or -1
 * when out of memory (the map is then unchanged). */
int rayc__oidmap_put(rayc__oidmap *m, void *rec);
/* Remove and return the record with this key (NULL when absent). */
void *rayc__oidmap_del(rayc__oidmap *m, rayc__oid key);
/* Iterate: *pos starts at 0; returns the next record or NULL at the end. Do not modify the map
 * while iterating. */
void *rayc__oidmap_next(const rayc__oidmap *m, size_t *pos);
/* Switch to bare-address slots now (what a wide address does; exposed for the unit test). */
void rayc__oidmap_make_plain(rayc__oidmap *m);

#endif /* RAYC_OIDMAP_H */
