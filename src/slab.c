/* slab.c: fixed-size record pools (see slab.h). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "slab.h"

#if defined(__SANITIZE_ADDRESS__)
#define SLAB_DEFAULT_MALLOC 1
#else
#define SLAB_DEFAULT_MALLOC 0
#endif

/* A chunk starts with this header; its records follow at HEAD_BYTES. */
typedef struct rayc__slab_chunk {
    struct rayc__slab_chunk *prev, *next;         /* avail list */
    struct rayc__slab_chunk *all_prev, *all_next; /* every chunk of the pool */
    void *free;     /* freed records, linked through their first word */
    uint32_t used;  /* records handed out */
    uint32_t fresh; /* records never handed out start at this index */
    int in_avail;
} chunk;

#define HEAD_BYTES 64
_Static_assert(sizeof(chunk) <= HEAD_BYTES, "slab chunk header too large");

static int use_malloc(const rayc__slab *s)
{
    if (s->flags & RAYC__SLAB_MALLOC)
        return 1;
    return SLAB_DEFAULT_MALLOC && !(s->flags & RAYC__SLAB_CHUNKS);
}

int rayc__slab_init(rayc__slab *s, size_t size, int flags)
{
    memset(s, 0, sizeof *s);
    if (size == 0 || size > ((size_t)16 << 10))
        return -1;
    s->size = (size + 7) & ~(size_t)7;
    s->per_chunk = (RAYC__SLAB_CHUNK - HEAD_BYTES) / s->size;
    s->flags = flags;
    s->keep = RAYC__SLAB_KEEP;
    pthread_mutex_init(&s->mu, NULL);
    return 0;
}

static void avail_link(rayc__slab *s, chunk *c)
{
    c->prev = NULL;
    c->next = s->avail;
    if (s->avail)
        s->avail->prev = c;
    s->avail = c;
    c->in_avail = 1;
}

static void avail_unlink(rayc__slab *s, chunk *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        s->avail = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    c->in_avail = 0;
}

/* A fresh chunk at RAYC__SLAB_CHUNK alignment (map twice the size, unmap the slack). Its pages
 * are touched only when records are handed out. */
static chunk *chunk_map(rayc__slab *s)
{
    size_t len = 2 * RAYC__SLAB_CHUNK;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)p + RAYC__SLAB_CHUNK - 1) & ~(uintptr_t)(RAYC__SLAB_CHUNK - 1);
    size_t head = (size_t)(a - (uintptr_t)p), tail = len - head - RAYC__SLAB_CHUNK;
    if (head)
        munmap(p, head);
    if (tail)
        munmap((char *)a + RAYC__SLAB_CHUNK, tail);
    chunk *c = (chunk *)a;
    c->all_prev = NULL;
    c->all_next = s->all;
    if (s->all)
        s->all->all_prev = c;
    s->all = c;
    s->nchunks++;
    return c;
}

static void chunk_unmap(rayc__slab *s, chunk *c)
{
    if (c->all_prev)
        c->all_prev->all_next = c->all_next;
    else
        s->all = c->all_next;
    if (c->all_next)
        c->all_next->all_prev = c->all_prev;
    s->nchunks--;
    munmap(c, RAYC__SLAB_CHUNK);
}

static void *alloc_locked(rayc__slab *s)
{
    chunk *c = s->avail;
    if (!c) {
        if (s->spare) {
            c = s->spare;
            s->spare = c->next;
            s->nspare--;
        } else if (!(c = chunk_map(s))) {
            return NULL;
        }
        avail_link(s, c);
    }
    void *p;
    if (c->free) {
        p = c->free;
        c->free = *(void **)p;
        memset(p, 0, s->size);
    } else {
        p = (char *)c + HEAD_BYTES + (size_t)c->fresh++ * s->size; /* zero since mapped */
    }
    if (++c->used == s->per_chunk)
        avail_unlink(s, c);
    s->live++;
    return p;
}

static void free_locked(rayc__slab *s, void *p)
{
    chunk *c = (chunk *)((uintptr_t)p & ~(uintptr_t)(RAYC__SLAB_CHUNK - 1));
    *(void **)p = c->free;
    c->free = p;
    if (!c->in_avail)
        avail_link(s, c);
    s->live--;
    if (--c->used)
        return;
    avail_unlink(s, c); /* empty: keep a few, return the others */
    if (s->nspare < s->keep) {
        c->next = s->spare;
        s->spare = c;
        s->nspare++;
    } else {
        chunk_unmap(s, c);
    }
}

void rayc__slab_keep(rayc__slab *s, size_t n)
{
    int locked = s->flags & RAYC__SLAB_LOCKED;
    if (locked)
        pthread_mutex_lock(&s->mu);
    s->keep = n ? n : 1;
    while (s->nspare > s->keep) {
        chunk *c = s->spare;
        s->spare = c->next;
        s->nspare--;
        chunk_unmap(s, c);
    }
    if (locked)
        pthread_mutex_unlock(&s->mu);
}

void *rayc__slab_alloc(rayc__slab *s)
{
    int locked = s->flags & RAYC__SLAB_LOCKED;
    if (locked)
        pthread_mutex_lock(&s->mu);
    void *p;
    if (use_malloc(s)) {
        p = calloc(1, s->size);
        s->live += p != NULL;
    } else {
        p = alloc_locked(s);
    }
    if (locked)
        pthread_mutex_unlock(&s->mu);
    return p;
}

void rayc__slab_free(rayc__slab *s, void *p)
{
    if (!p)
        return;
    int locked = s->flags & RAYC__SLAB_LOCKED;
    if (locked)
        pthread_mutex_lock(&s->mu);
    if (use_malloc(s)) {
        free(p);
        s->live--;
    } else {
        free_locked(s, p);
    }
    if (locked)
        pthread_mutex_unlock(&s->mu);
}

size_t rayc__slab_destroy(rayc__slab *s)
{
    size_t live = s->live;
    while (s->all)
        chunk_unmap(s, s->all);
    s->avail = s->spare = NULL;
    s->nspare = 0;
    s->live = 0;
    if (s->size)
        pthread_mutex_destroy(&s->mu);
    s->size = 0;
    return live;
}
