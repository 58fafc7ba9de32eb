/* oidmap.h: hash map from object/task id to a pointer. Linear probing with backward-shift
 * deletion (no tombstones), power-of-two capacity, load factor <= 1/2. Not thread-safe (the
 * runtime holds rt->mu). */
#ifndef RAYC_OIDMAP_H
#define RAYC_OIDMAP_H

#include <stddef.h>

#include "ids.h"

typedef struct rayc__oidmap_slot {
    rayc__oid key; /* seq 0: empty */
    void *val;
} rayc__oidmap_slot;

typedef struct rayc__oidmap {
    rayc__oidmap_slot *slots;
    size_t cap, count;
} rayc__oidmap;

void rayc__oidmap_init(rayc__oidmap *m);
void rayc__oidmap_free(rayc__oidmap *m);
/* NULL when absent. */
void *rayc__oidmap_get(const rayc__oidmap *m, rayc__oid key);
/* Insert or replace. Returns 0, or -1 when out of memory. key must not be null. */
int rayc__oidmap_put(rayc__oidmap *m, rayc__oid key, void *val);
/* Remove and return the value (NULL when absent). */
void *rayc__oidmap_del(rayc__oidmap *m, rayc__oid key);
/* Iterate: *pos starts at 0; returns the next value or NULL at the end. Do not modify the map
 * while iterating. */
void *rayc__oidmap_next(const rayc__oidmap *m, size_t *pos, rayc__oid *key);

#endif /* RAYC_OIDMAP_H */
