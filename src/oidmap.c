/* oidmap.c: id -> pointer hash map (see oidmap.h). */
#include "config.h"

#include <stdlib.h>

#include "oidmap.h"

void rayc__oidmap_init(rayc__oidmap *m)
{
    m->slots = NULL;
    m->cap = m->count = 0;
}

void rayc__oidmap_free(rayc__oidmap *m)
{
    free(m->slots);
    rayc__oidmap_init(m);
}

static size_t find_slot(const rayc__oidmap *m, rayc__oid key)
{
    size_t mask = m->cap - 1, i = (size_t)rayc__oid_hash(key) & mask;
    while (m->slots[i].key.seq && !rayc__oid_eq(m->slots[i].key, key))
        i = (i + 1) & mask;
    return i;
}

void *rayc__oidmap_get(const rayc__oidmap *m, rayc__oid key)
{
    if (!m->cap || !key.seq)
        return NULL;
    size_t i = find_slot(m, key);
    return m->slots[i].key.seq ? m->slots[i].val : NULL;
}

static int grow(rayc__oidmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 64;
    rayc__oidmap_slot *old = m->slots;
    size_t ocap = m->cap;
    m->slots = calloc(ncap, sizeof *m->slots);
    if (!m->slots) {
        m->slots = old;
        return -1;
    }
    m->cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].key.seq)
            m->slots[find_slot(m, old[i].key)] = old[i];
    free(old);
    return 0;
}

int rayc__oidmap_put(rayc__oidmap *m, rayc__oid key, void *val)
{
    if ((m->count + 1) * 2 > m->cap && grow(m) != 0)
        return -1;
    size_t i = find_slot(m, key);
    if (!m->slots[i].key.seq)
        m->count++;
    m->slots[i].key = key;
    m->slots[i].val = val;
    return 0;
}

void *rayc__oidmap_del(rayc__oidmap *m, rayc__oid key)
{
    if (!m->cap || !key.seq)
        return NULL;
    size_t mask = m->cap - 1, i = find_slot(m, key);
    if (!m->slots[i].key.seq)
        return NULL;
    void *val = m->slots[i].val;
    m->count--;
    /* Backward-shift: move later entries of the probe run into the hole when allowed. */
    size_t hole = i, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->slots[j].key.seq)
            break;
        size_t home = (size_t)rayc__oid_hash(m->slots[j].key) & mask;
        int between = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (between)
            continue;
        m->slots[hole] = m->slots[j];
        hole = j;
    }
    m->slots[hole].key.seq = 0;
    m->slots[hole].val = NULL;
    return val;
}

void *rayc__oidmap_next(const rayc__oidmap *m, size_t *pos, rayc__oid *key)
{
    while (*pos < m->cap) {
        rayc__oidmap_slot *s = &m->slots[(*pos)++];
        if (s->key.seq) {
            if (key)
                *key = s->key;
            return s->val;
        }
    }
    return NULL;
}
