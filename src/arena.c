/* arena.c: best-fit offset allocator over a range it never touches (see arena.h).
 *
 * Every block, free or allocated, is a node kept outside the range. Nodes form a doubly linked
 * list in address order that tiles [0, capacity) exactly, so a freed block finds its neighbours
 * in O(1) and merges with the free ones: the list never holds two adjacent free blocks.
 * Each node also sits in exactly one treap (a binary search tree that is a heap on random
 * priorities, so expected depth O(log n)):
 *   free_root  free blocks ordered by (size, offset): best fit is the leftmost node with
 *              size >= request, the largest free block is the rightmost node;
 *   used_root  allocated blocks ordered by offset: free(offset) finds its node.
 * Keys are unique (offsets are), so split/merge insertion and deletion are exact. A node whose
 * key changes (a free block that grows by merging) is taken out of its treap first.
 * Nodes come from slabs of SLAB_NODES and are recycled through a spare list; slabs are freed
 * only by destroy. An alloc or free either completes or changes nothing: the one node an alloc
 * may need is obtained before anything is modified. */
#include "arena.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLAB_NODES 256

typedef struct rayc__arena_node node;

struct rayc__arena_node {
    size_t offset;
    size_t size;
    node *prev, *next;   /* address order */
    node *left, *right;  /* treap children; right also links the spare list */
    uint32_t prio;
    uint8_t is_free;
};

struct rayc__arena_slab {
    struct rayc__arena_slab *next;
    node nodes[SLAB_NODES];
};

/* ---- node pool ------------------------------------------------------------------------- */

static uint32_t next_prio(rayc__arena *a)
{
    /* xorshift64*: fast, and any fixed sequence gives expected O(log n) depth. */
    a->rng ^= a->rng >> 12;
    a->rng ^= a->rng << 25;
    a->rng ^= a->rng >> 27;
    return (uint32_t)((a->rng * 2685821657736338717ULL) >> 32);
}

/* A fresh node with a random priority, or NULL when malloc fails. */
static node *node_get(rayc__arena *a)
{
    if (!a->spare) {
        struct rayc__arena_slab *s = malloc(sizeof *s);
        if (!s)
            return NULL;
        s->next = a->slabs;
        a->slabs = s;
        for (int i = 0; i < SLAB_NODES; i++) {
            s->nodes[i].right = a->spare;
            a->spare = &s->nodes[i];
        }
    }
    node *n = a->spare;
    a->spare = n->right;
    memset(n, 0, sizeof *n);
    n->prio = next_prio(a);
    return n;
}

static void node_put(rayc__arena *a, node *n)
{
    n->right = a->spare;
    a->spare = n;
}

/* ---- treaps ---------------------------------------------------------------------------- */

/* Key order: by (size, offset) in the free treap, by offset in the used treap. */
static int before(const node *x, const node *y, int by_size)
{
    if (by_size && x->size != y->size)
        return x->size < y->size;
    return x->offset < y->offset;
}

/* Split t into the nodes ordered before k (*l) and the rest (*r). */
static void split(node *t, const node *k, int by_size, node **l, node **r)
{
    if (!t) {
        *l = *r = NULL;
    } else if (before(t, k, by_size)) {
        split(t->right, k, by_size, &t->right, r);
        *l = t;
    } else {
        split(t->left, k, by_size, l, &t->left);
        *r = t;
    }
}

/* Join two treaps where every key of l is before every key of r. */
static node *merge(node *l, node *r)
{
    if (!l)
        return r;
    if (!r)
        return l;
    if (l->prio > r->prio) {
        l->right = merge(l->right, r);
        return l;
    }
    r->left = merge(l, r->left);
    return r;
}

static node *insert(node *t, node *n, int by_size)
{
    node *l, *r;
    n->left = n->right = NULL;
    split(t, n, by_size, &l, &r);
    return merge(merge(l, n), r);
}

/* Remove n, which must be in t. */
static node *erase(node *t, node *n, int by_size)
{
    assert(t != NULL);
    if (t == n)
        return merge(t->left, t->right);
    if (before(n, t, by_size))
        t->left = erase(t->left, n, by_size);
    else
        t->right = erase(t->right, n, by_size);
    return t;
}

/* Smallest free block with size >= need (lowest offset among equals), or NULL. */
static node *best_fit(node *t, size_t need)
{
    node *best = NULL;
    while (t) {
        if (t->size >= need) {
            best = t;
            t = t->left;
        } else {
            t = t->right;
        }
    }
    return best;
}

static node *find_used(node *t, size_t offset)
{
    while (t && t->offset != offset)
        t = offset < t->offset ? t->left : t->right;
    return t;
}

/* ---- list helpers ---------------------------------------------------------------------- */

static void link_after(node *at, node *n)
{
    n->prev = at;
    n->next = at->next;
    if (at->next)
        at->next->prev = n;
    at->next = n;
}

/* Unlink n, which is never the head (it always has a predecessor it merges into). */
static void unlink_node(node *n)
{
    assert(n->prev != NULL);
    n->prev->next = n->next;
    if (n->next)
        n->next->prev = n->prev;
}

static void free_add(rayc__arena *a, node *n)
{
    n->is_free = 1;
    a->free_root = insert(a->free_root, n, 1);
    a->nfree_blocks++;
}

static void free_remove(rayc__arena *a, node *n)
{
    a->free_root = erase(a->free_root, n, 1);
    a->nfree_blocks--;
}

/* ---- API ------------------------------------------------------------------------------- */

int rayc__arena_init(rayc__arena *a, size_t capacity, size_t align)
{
    if (!a)
        return RAYC__ARENA_EINVAL;
    memset(a, 0, sizeof *a);
    if (align == 0)
        align = RAYC__ARENA_DEFAULT_ALIGN;
    if ((align & (align - 1)) != 0)
        return RAYC__ARENA_EINVAL;
    a->align = align;
    a->capacity = capacity & ~(align - 1);
    a->rng = 0x9e3779b97f4a7c15ULL;
    if (a->capacity == 0)
        return RAYC__ARENA_OK;
    node *n = node_get(a);
    if (!n) {
        memset(a, 0, sizeof *a);
        return RAYC__ARENA_ENOMEM;
    }
    n->offset = 0;
    n->size = a->capacity;
    a->head = n;
    free_add(a, n);
    return RAYC__ARENA_OK;
}

void rayc__arena_destroy(rayc__arena *a)
{
    if (!a)
        return;
    while (a->slabs) {
        struct rayc__arena_slab *s = a->slabs;
        a->slabs = s->next;
        free(s);
    }
    memset(a, 0, sizeof *a);
}

int rayc__arena_alloc(rayc__arena *a, size_t size, size_t *offset)
{
    if (!a || !offset)
        return RAYC__ARENA_EINVAL;
    if (size > a->capacity)
        return RAYC__ARENA_ENOSPC; /* also keeps the rounding below from overflowing */
    size_t need = size == 0 ? a->align : (size + a->align - 1) & ~(a->align - 1);
    node *b = best_fit(a->free_root, need);
    if (!b)
        return RAYC__ARENA_ENOSPC;
    node *rest = NULL;
    if (b->size > need && !(rest = node_get(a)))
        return RAYC__ARENA_ENOMEM;
    free_remove(a, b);
    if (rest) {
        rest->offset = b->offset + need;
        rest->size = b->size - need;
        link_after(b, rest);
        free_add(a, rest);
    }
    b->size = need;
    b->is_free = 0;
    a->used_root = insert(a->used_root, b, 0);
    a->used += need;
    a->nallocs++;
    *offset = b->offset;
    return RAYC__ARENA_OK;
}

int rayc__arena_free(rayc__arena *a, size_t offset)
{
    if (!a)
        return RAYC__ARENA_EINVAL;
    node *b = find_used(a->used_root, offset);
    if (!b)
        return RAYC__ARENA_EINVAL;
    a->used_root = erase(a->used_root, b, 0);
    a->used -= b->size;
    a->nallocs--;
    node *n = b->next;
    if (n && n->is_free) {
        free_remove(a, n);
        b->size += n->size;
        unlink_node(n);
        node_put(a, n);
    }
    node *p = b->prev;
    if (p && p->is_free) {
        free_remove(a, p);
        p->size += b->size;
        unlink_node(b);
        node_put(a, b);
        b = p;
    }
    free_add(a, b);
    return RAYC__ARENA_OK;
}

size_t rayc__arena_block_size(const rayc__arena *a, size_t offset)
{
    const node *b = a ? find_used(a->used_root, offset) : NULL;
    return b ? b->size : 0;
}

size_t rayc__arena_capacity(const rayc__arena *a) { return a->capacity; }
size_t rayc__arena_used(const rayc__arena *a) { return a->used; }
size_t rayc__arena_free_bytes(const rayc__arena *a) { return a->capacity - a->used; }
size_t rayc__arena_nallocs(const rayc__arena *a) { return a->nallocs; }
size_t rayc__arena_nfree_blocks(const rayc__arena *a) { return a->nfree_blocks; }

size_t rayc__arena_largest_free(const rayc__arena *a)
{
    const node *t = a->free_root;
    while (t && t->right)
        t = t->right;
    return t ? t->size : 0;
}

/* ---- invariant check ------------------------------------------------------------------- */

/* 1 when n itself is in treap t. */
static int in_treap(const node *t, const node *n, int by_size)
{
    while (t && t != n)
        t = before(n, t, by_size) ? t->left : t->right;
    return t == n;
}

/* Number of nodes in t, or -1 when order, heap property or membership is broken. lo and hi
 * bound the keys of t (NULL: unbounded). */
static long check_treap(const node *t, const node *lo, const node *hi, int by_size)
{
    if (!t)
        return 0;
    if ((lo && !before(lo, t, by_size)) || (hi && !before(t, hi, by_size)))
        return -1;
    if ((t->left && t->left->prio > t->prio) || (t->right && t->right->prio > t->prio))
        return -1;
    if (t->is_free != (uint8_t)by_size)
        return -1;
    long l = check_treap(t->left, lo, t, by_size);
    long r = check_treap(t->right, t, hi, by_size);
    return l < 0 || r < 0 ? -1 : l + r + 1;
}

static int check_fail(char *err, size_t errlen, const char *what, size_t at)
{
    if (err && errlen)
        snprintf(err, errlen, "arena invariant broken: %s (offset %zu)", what, at);
    return -1;
}

int rayc__arena_check(const rayc__arena *a, char *err, size_t errlen)
{
    size_t pos = 0, used = 0, nused = 0, nfree = 0;
    const node *prev = NULL;
    for (const node *n = a->head; n; prev = n, n = n->next) {
        if (n->prev != prev || n->offset != pos)
            return check_fail(err, errlen, "blocks do not tile the range", n->offset);
        if (n->size == 0 || (n->size & (a->align - 1)) != 0)
            return check_fail(err, errlen, "block size zero or unaligned", n->offset);
        if (prev && prev->is_free && n->is_free)
            return check_fail(err, errlen, "two adjacent free blocks", n->offset);
        if (!in_treap(n->is_free ? a->free_root : a->used_root, n, n->is_free))
            return check_fail(err, errlen, "block missing from its treap", n->offset);
        used += n->is_free ? 0 : n->size;
        nused += !n->is_free;
        nfree += n->is_free;
        pos += n->size;
    }
    if (pos != a->capacity)
        return check_fail(err, errlen, "blocks do not end at capacity", pos);
    if (used != a->used || nused != a->nallocs || nfree != a->nfree_blocks)
        return check_fail(err, errlen, "counters disagree with the blocks", 0);
    if (check_treap(a->free_root, NULL, NULL, 1) != (long)nfree)
        return check_fail(err, errlen, "free treap order, heap or size", 0);
    if (check_treap(a->used_root, NULL, NULL, 0) != (long)nused)
        return check_fail(err, errlen, "used treap order, heap or size", 0);
    return 0;
}
