/* store.c: this rank's object store: large values in an arena carved out of one
 * MPI_Win_allocate window, so that other ranks pull them with passive-target MPI_Get while
 * this rank's threads do nothing; an LRU of entries; eviction of cached copies; spilling of
 * primary copies to HDF5 on a background thread, and transparent restore.
 *
 * Layout: every window block is a 64-byte header (magic, object id, size) followed by the
 * data. The header is written when the object is published and cleared when the block is
 * freed, so a reader that finds the expected header before and after copying the data knows
 * the bytes it copied belong to that object (transfer.c falls back to a two-sided fetch when
 * not).
 *
 * Locking: the map, LRU and spill queue are guarded by rt->mu like the rest of the runtime.
 * The arena has its own mutex (amu) because a value's release hook frees its block from
 * whatever thread drops the last reference, with or without rt->mu. Lock order: rt->mu, amu.
 *
 * Spilling: when the bytes held pass the high-water mark (0.8 of capacity), the least recently
 * used primary copies are queued; the spill thread writes each (the value is immutable and
 * referenced, so no lock is held during I/O), then drops the store's reference: the block is
 * freed once no task or view uses it. A failed write keeps the object in memory. A get of a
 * spilled object reads it back into a new block (or the heap when the arena is full). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arena.h"
#include "log.h"
#include "oidmap.h"
#include "spill_hdf5.h"
#include "status_int.h"
#include "store.h"

#define BLOCK_HDR RAYC__BLOCK_HDR
#define BLOCK_MAGIC RAYC__BLOCK_MAGIC

typedef struct sentry {
    rayc__oid id;
    rayc_value *val;       /* NULL while spilled (data only in the file) */
    rayc__vhdr hdr;
    uint8_t primary;       /* produced here: spill when evicted; else a cached copy: drop */
    uint8_t in_file;       /* a copy is in the spill file */
    uint8_t queued;        /* waiting for or being written by the spill thread */
    char producer[32];
    struct sentry *prev, *next; /* LRU of entries holding val, oldest first */
} sentry;

struct rayc__store {
    pthread_mutex_t amu;
    rayc__arena arena;
    char *base;            /* the arena's start in the window */
    size_t capacity;       /* arena bytes (the one-sided fast path) */
    size_t budget;         /* memory the store may hold before it spills */
    MPI_Win win;
    size_t skew;           /* base - the window's start (base is 64-byte aligned) */
    int have_win;
    int shared_win;        /* made with MPI_Win_allocate_shared: pages come on first touch */
    /* Shared windows: which 2 MiB granules are populated (MADV_POPULATE_WRITE), so a block is
     * backed before it is used and a full /dev/shm means "no room" rather than SIGBUS. amu. */
    uint8_t *populated;
    int populate_off;      /* the kernel lacks MADV_POPULATE_WRITE: touch on first use */
    uint64_t heap_bytes;   /* values outside the window (over capacity), guarded by amu */
    rayc__oidmap map;
    sentry *lru_head, *lru_tail;
    uint64_t held;         /* bytes of values the store references (window + heap) */
    double high_water;
    /* spill thread */
    pthread_t spill_thread;
    pthread_cond_t spill_cv;
    int spill_started, spill_stop, spill_broken;
    sentry **queue;
    int nqueue, capqueue;
    rayc__spill *sp;
    char dir[4096];
    int keep;
    int dirty;             /* stats changed since the last report */
    int win_dirty;         /* blocks published since the last MPI_Win_sync */
    int dead;              /* destroyed while views were still held */
    rayc__store_stats st;
};

/* ---------------------------------------------------------------- values in the window */

typedef rayc__block_hdr block_hdr;

/* Release hooks free the value's data; rayc__value_unref frees the struct. */
static void window_release(rayc_value *v)
{
    rayc__store *s = v->release_ctx;
    char *block = (char *)v->data - BLOCK_HDR;
    if (s->dead) /* a view kept past rayc_shutdown: its memory is gone */
        return;
    pthread_mutex_lock(&s->amu);
    ((block_hdr *)block)->magic = 0;
    rayc__arena_free(&s->arena, (size_t)(block - s->base));
    pthread_mutex_unlock(&s->amu);
}

static void heap_release(rayc_value *v)
{
    rayc__store *s = v->release_ctx;
    pthread_mutex_lock(&s->amu);
    s->heap_bytes -= v->h.nbytes;
    pthread_mutex_unlock(&s->amu);
    free(v->data);
}

static rayc_value *wrap(rayc__store *s, const rayc__vhdr *h, void *data, int in_window)
{
    rayc_value *v = malloc(sizeof *v);
    if (!v)
        return NULL;
    atomic_init(&v->refs, 1);
    v->h = *h;
    v->data = data;
    v->release = in_window ? window_release : heap_release;
    v->release_ctx = s;
    v->own_data = 0;
    v->pooled = 0;
    return v;
}

/* Back [off, off + len) of a shared window with memory before it is used: the window is a
 * sparse /dev/shm file, and touching a page that tmpfs cannot provide raises SIGBUS, while
 * MADV_POPULATE_WRITE reports it. Populated granules stay so (the window keeps its pages until
 * shutdown), so a block reused after a free costs nothing here. 0, or -1 when the memory
 * cannot be had. */
#define GRANULE ((size_t)2 << 20)
static int populate(rayc__store *s, size_t off, size_t len)
{
    if (!s->populated || s->populate_off)
        return 0;
    size_t g0 = off / GRANULE, g1 = (off + len - 1) / GRANULE, page = (size_t)getpagesize();
    for (size_t g = g0; g <= g1; g++) {
        pthread_mutex_lock(&s->amu);
        int done = s->populated[g];
        pthread_mutex_unlock(&s->amu);
        if (done)
            continue;
        size_t run = g; /* populate a run of unpopulated granules with one call */
        pthread_mutex_lock(&s->amu);
        while (run + 1 <= g1 && !s->populated[run + 1])
            run++;
        pthread_mutex_unlock(&s->amu);
        size_t a = g * GRANULE, b = (run + 1) * GRANULE;
        if (b > s->capacity)
            b = s->capacity;
        uintptr_t lo = (uintptr_t)(s->base + a) & ~(uintptr_t)(page - 1);
        uintptr_t hi = ((uintptr_t)(s->base + b) + page - 1) & ~(uintptr_t)(page - 1);
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; older kernels answer EINVAL */
#endif
        if (madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE) != 0) {
            if (errno == EINVAL) { /* an older kernel: pages come on first touch */
                s->populate_off = 1;
                return 0;
            }
            RAYC_LOG(RAYC__LOG_WARN, "cannot back %zu bytes of the object store window (%s): "
                     "the value goes on the heap", b - a, strerror(errno));
            return -1;
        }
        pthread_mutex_lock(&s->amu);
        memset(s->populated + g, 1, run - g + 1);
        pthread_mutex_unlock(&s->amu);
        g = run;
    }
    return 0;
}

/* Try the window; NULL when it has no room. */
static rayc_value *alloc_window(rayc__store *s, const rayc__vhdr *h)
{
    size_t off;
    if (!s->have_win || h->nbytes > s->capacity)
        return NULL;
    pthread_mutex_lock(&s->amu);
    int rc = rayc__arena_alloc(&s->arena, (size_t)h->nbytes + BLOCK_HDR, &off);
    pthread_mutex_unlock(&s->amu);
    if (rc != RAYC__ARENA_OK)
        return NULL;
    if (populate(s, off, (size_t)h->nbytes + BLOCK_HDR) != 0) {
        pthread_mutex_lock(&s->amu);
        rayc__arena_free(&s->arena, off);
        pthread_mutex_unlock(&s->amu);
        return NULL;
    }
    memset(s->base + off, 0, BLOCK_HDR);
    rayc_value *v = wrap(s, h, s->base + off + BLOCK_HDR, 1);
    if (!v) {
        pthread_mutex_lock(&s->amu);
        rayc__arena_free(&s->arena, off);
        pthread_mutex_unlock(&s->amu);
    }
    return v;
}

static rayc_value *alloc_heap(rayc__store *s, const rayc__vhdr *h)
{
    void *data = NULL;
    if (posix_memalign(&data, 64, h->nbytes ? (size_t)h->nbytes : 1) != 0)
        return NULL;
    rayc_value *v = wrap(s, h, data, 0);
    if (!v) {
        free(data);
        return NULL;
    }
    pthread_mutex_lock(&s->amu);
    s->heap_bytes += h->nbytes;
    pthread_mutex_unlock(&s->amu);
    return v;
}

static void lru_unlink(rayc__store *s, sentry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else if (s->lru_head == e)
        s->lru_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else if (s->lru_tail == e)
        s->lru_tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push(rayc__store *s, sentry *e)
{
    e->prev = s->lru_tail;
    e->next = NULL;
    if (s->lru_tail)
        s->lru_tail->next = e;
    else
        s->lru_head = e;
    s->lru_tail = e;
}

/* Drop cached copies nobody uses, oldest first, until need bytes could fit. rt->mu held. */
static void evict_cached(rayc__runtime *rt, size_t need)
{
    rayc__store *s = rt->store;
    for (sentry *e = s->lru_head, *n; e && rayc__arena_largest_free(&s->arena) < need; e = n) {
        n = e->next;
        if (e->primary || atomic_load(&e->val->refs) > 1)
            continue;
        rayc__store_free(rt, e->id);
        s->st.evicted++;
    }
}

rayc_value *rayc__store_new_value(rayc__runtime *rt, const rayc__vhdr *h, const void *src,
                                  int have_mu)
{
    rayc__store *s = rt->store;
    rayc_value *v = alloc_window(s, h);
    if (!v && s->have_win && h->nbytes <= s->capacity) {
        if (!have_mu)
            rayc__lock(rt);
        evict_cached(rt, (size_t)h->nbytes + BLOCK_HDR);
        if (!have_mu)
            pthread_mutex_unlock(&rt->mu);
        v = alloc_window(s, h);
    }
    if (!v)
        v = alloc_heap(s, h); /* over capacity: spilled soon after it is published */
    if (v && src && h->nbytes)
        memcpy(v->data, src, (size_t)h->nbytes);
    return v;
}

int64_t rayc__store_offset(rayc__runtime *rt, const rayc_value *v)
{
    rayc__store *s = rt->store;
    if (!v || v->release != window_release || v->release_ctx != s)
        return -1;
    return (int64_t)((const char *)v->data - BLOCK_HDR - s->base + s->skew);
}

/* ---------------------------------------------------------------- spilling */

static void object_name(rayc__oid id, char *out, size_t len)
{
    snprintf(out, len, "obj-r%u-s%" PRIu64 "-i%u", id.rank, id.seq, id.idx);
}

/* Queue the oldest primary copies (unused ones first) until the bytes held drop below the
 * high-water mark. rt->mu held. */
static void plan_spills(rayc__runtime *rt)
{
    rayc__store *s = rt->store;
    double limit = s->high_water * (double)s->budget;
    if (!s->spill_started || s->spill_broken || (double)s->held <= limit)
        return;
    double excess = (double)s->held - limit;
    /* Cached copies nobody uses go first: they can be pulled again, and cost no write. */
    for (sentry *e = s->lru_head, *n; e && excess > 0; e = n) {
        n = e->next;
        if (!e->primary && atomic_load(&e->val->refs) == 1) {
            excess -= (double)e->hdr.nbytes;
            rayc__store_free(rt, e->id);
            s->st.evicted++;
        }
    }
    for (int pass = 0; pass < 2 && excess > 0; pass++)
        for (sentry *e = s->lru_head; e && excess > 0; e = e->next) {
            if (!e->primary || e->queued || e->in_file ||
                (pass == 0 && atomic_load(&e->val->refs) > 1))
                continue;
            if (s->nqueue == s->capqueue) {
                int ncap = s->capqueue ? 2 * s->capqueue : 64;
                sentry **q = realloc(s->queue, (size_t)ncap * sizeof *q);
                if (!q)
                    return;
                s->queue = q;
                s->capqueue = ncap;
            }
            e->queued = 1;
            s->queue[s->nqueue++] = e;
            excess -= (double)e->hdr.nbytes;
        }
    pthread_cond_signal(&s->spill_cv);
}

/* Write one entry (without rt->mu) and, on success, drop the store's reference. */
static void spill_one(rayc__runtime *rt, sentry *e)
{
    rayc__store *s = rt->store;
    rayc_value *v = rayc__value_ref(e->val);
    rayc__oid id = e->id;
    char name[96], err[512], producer[32];
    object_name(id, name, sizeof name);
    snprintf(producer, sizeof producer, "%s", e->producer);
    pthread_mutex_unlock(&rt->mu);
    int rc = rayc__spill_write(s->sp, name, (rayc_dtype)v->h.dtype, v->h.ndim, v->h.shape,
                               v->data, (size_t)v->h.nbytes, producer, err, sizeof err);
    rayc__lock(rt);
    e = rayc__oidmap_get(&s->map, id); /* it may have been freed meanwhile */
    if (rc != RAYC__SPILL_OK) {
        if (!s->spill_broken)
            RAYC_LOG(RAYC__LOG_ERROR, "spilling to %s failed (objects stay in memory): %s",
                     s->dir, err);
        s->spill_broken = 1;
        if (e)
            e->queued = 0;
    } else if (!e) {
        rayc__spill_delete(s->sp, name, err, sizeof err);
    } else {
        e->queued = 0;
        e->in_file = 1;
        s->st.spilled_objects++;
        s->st.spilled_bytes += v->h.nbytes;
        lru_unlink(s, e);
        s->held -= e->hdr.nbytes;
        rayc__value_unref(e->val);
        e->val = NULL;
    }
    pthread_mutex_unlock(&rt->mu);
    rayc__value_unref(v); /* frees the block unless a task or view still reads it */
    rayc__lock(rt);
}

static void *spill_main(void *arg)
{
    rayc__runtime *rt = arg;
    rayc__store *s = rt->store;
    rayc__log_set_role("spill");
    rayc__lock(rt);
    while (!s->spill_stop) {
        if (!s->nqueue) {
            pthread_cond_wait(&s->spill_cv, &rt->mu);
            continue;
        }
        sentry *e = s->queue[0];
        memmove(s->queue, s->queue + 1, (size_t)--s->nqueue * sizeof *s->queue);
        if (e->val)
            spill_one(rt, e);
        plan_spills(rt);
    }
    pthread_mutex_unlock(&rt->mu);
    return NULL;
}

/* Read a spilled entry back. rt->mu held (the read happens under it: restores are rare). */
static int restore(rayc__runtime *rt, sentry *e)
{
    rayc__store *s = rt->store;
    char name[96], err[512];
    object_name(e->id, name, sizeof name);
    rayc_value *v = rayc__store_new_value(rt, &e->hdr, NULL, 1);
    if (!v)
        return rayc__fail(RAYC_ENOMEM, "cannot allocate %" PRIu64 " bytes to restore an object",
                          e->hdr.nbytes);
    int rc = rayc__spill_read(s->sp, name, v->data, (size_t)v->h.nbytes, err, sizeof err);
    if (rc != RAYC__SPILL_OK) {
        rayc__value_unref(v);
        return rayc__fail(RAYC_EIO, "restoring a spilled object: %s", err);
    }
    e->val = v;
    s->held += v->h.nbytes;
    s->st.restored_objects++;
    s->st.restored_bytes += v->h.nbytes;
    lru_push(s, e);
    return 0;
}

/* ---------------------------------------------------------------- map */

int rayc__store_put_ex(rayc__runtime *rt, rayc__oid id, rayc_value *val, int primary,
                       const char *producer)
{
    rayc__store *s = rt->store;
    if (rayc__oidmap_get(&s->map, id))
        rayc__store_free(rt, id);
    sentry *e = calloc(1, sizeof *e);
    if (e)
        e->id = id;
    if (!e || rayc__oidmap_put(&s->map, e) != 0) {
        free(e);
        return rayc__fail(RAYC_ENOMEM, "out of memory in the object store");
    }
    e->id = id;
    e->val = val;
    e->hdr = val->h;
    e->primary = (uint8_t)primary;
    snprintf(e->producer, sizeof e->producer, "%s", producer ? producer : "put");
    int64_t off = rayc__store_offset(rt, val);
    if (off >= 0) {
        block_hdr *b = (block_hdr *)((char *)val->data - BLOCK_HDR);
        b->id = id;
        b->nbytes = val->h.nbytes;
        __atomic_store_n(&b->magic, BLOCK_MAGIC, __ATOMIC_RELEASE);
        s->win_dirty = 1;
    }
    lru_push(s, e);
    s->held += val->h.nbytes;
    if (primary)
        s->st.objects++;
    else
        s->st.cached++;
    s->dirty = 1;
    plan_spills(rt);
    return 0;
}

int rayc__store_put(rayc__runtime *rt, rayc__oid id, rayc_value *val)
{
    return rayc__store_put_ex(rt, id, val, 1, NULL);
}

rayc_value *rayc__store_get(rayc__runtime *rt, rayc__oid id)
{
    rayc__store *s = rt->store;
    sentry *e = rayc__oidmap_get(&s->map, id);
    if (!e)
        return NULL;
    if (!e->val && restore(rt, e) != 0) {
        RAYC_LOG(RAYC__LOG_ERROR, "%s", rayc_last_error());
        return NULL;
    }
    lru_unlink(s, e);
    lru_push(s, e);
    return rayc__value_ref(e->val);
}

int rayc__store_has(rayc__runtime *rt, rayc__oid id)
{
    return rayc__oidmap_get(&rt->store->map, id) != NULL;
}

void rayc__store_free(rayc__runtime *rt, rayc__oid id)
{
    rayc__store *s = rt->store;
    sentry *e = rayc__oidmap_del(&s->map, id);
    if (!e)
        return;
    if (e->primary)
        s->st.objects--;
    else
        s->st.cached--;
    if (e->in_file && s->sp) {
        char name[96], err[256];
        object_name(id, name, sizeof name);
        rayc__spill_delete(s->sp, name, err, sizeof err);
    }
    for (int i = 0; e->queued && i < s->nqueue; i++)
        if (s->queue[i] == e) {
            memmove(s->queue + i, s->queue + i + 1, (size_t)(--s->nqueue - i) * sizeof *s->queue);
            break;
        }
    if (e->val) {
        lru_unlink(s, e);
        s->held -= e->hdr.nbytes;
        rayc__value_unref(e->val);
    }
    s->dirty = 1;
    free(e);
}

/* ---------------------------------------------------------------- stats and life */

int rayc__store_take_dirty(rayc__runtime *rt)
{
    int d = rt->store->dirty;
    rt->store->dirty = 0;
    return d;
}

void rayc__store_stats_get(rayc__runtime *rt, rayc__store_stats *out)
{
    rayc__store *s = rt->store;
    *out = s->st;
    out->capacity = s->budget;
    out->window_bytes = s->capacity;
    pthread_mutex_lock(&s->amu);
    out->window_used = s->have_win ? rayc__arena_used(&s->arena) : 0;
    out->heap_bytes = s->heap_bytes;
    pthread_mutex_unlock(&s->amu);
    out->held_bytes = s->held;
}

void rayc__store_encode_stats(rayc__runtime *rt, rayc__wbuf *b)
{
    rayc__store_stats st;
    rayc__store_stats_get(rt, &st);
    uint64_t f[] = {st.capacity,         st.window_bytes,     st.held_bytes,       st.heap_bytes,
                    st.objects,          st.cached,           st.spilled_objects,
                    st.spilled_bytes,    st.restored_objects, st.restored_bytes,
                    st.evicted,          st.pulled_bytes,     st.pulled_one_sided,
                    st.pulled_two_sided};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        rayc__put_u64(b, f[i]);
    rayc__store *s = rt->store;
    rayc__put_str(b, s->sp && s->st.spilled_objects ? rayc__spill_path(s->sp) : "");
}

void rayc__store_count_pulled(rayc__runtime *rt, uint64_t nbytes, int one_sided)
{
    rt->store->st.pulled_bytes += nbytes;
    if (one_sided)
        rt->store->st.pulled_one_sided++;
    else
        rt->store->st.pulled_two_sided++;
    rt->store->dirty = 1;
}

int rayc__store_take_win_dirty(rayc__runtime *rt)
{
    int d = rt->store && rt->store->win_dirty;
    if (d)
        rt->store->win_dirty = 0;
    return d;
}

MPI_Win rayc__store_window(rayc__runtime *rt)
{
    return rt->store->have_win ? rt->store->win : MPI_WIN_NULL;
}

static int open_spill(rayc__runtime *rt)
{
    rayc__store *s = rt->store;
    char err[512];
    if (rayc__job_dir(rt->job_id, s->dir, sizeof s->dir, err, sizeof err) != 0) {
        RAYC_LOG(RAYC__LOG_WARN, "no spill directory (objects stay in memory): %s", err);
        return 0;
    }
    if (rayc__spill_open(&s->sp, s->dir, rt->rank, RAYC__SPILL_FRESH, err, sizeof err) != 0) {
        RAYC_LOG(RAYC__LOG_WARN, "cannot open the spill file in %s: %s", s->dir, err);
        return 0;
    }
    if (pthread_create(&s->spill_thread, NULL, spill_main, rt) == 0)
        s->spill_started = 1;
    return 0;
}

/* Collective over rt->data: make the window as planned. Returns 1 when every rank has it. */
static int make_window(rayc__runtime *rt, int shared, size_t bytes)
{
    rayc__store *s = rt->store;
    char *base = NULL;
    int rc, ok, all_ok = 0;
    if (shared) {
        /* osc/sm: one sparse /dev/shm file mapped by every rank of the node (a get is a memcpy
         * from the holder's part), or plain malloc'ed memory when the job has one rank. */
        MPI_Info info;
        MPI_Info_create(&info);
        MPI_Info_set(info, "alloc_shared_noncontig", "true");
        rc = MPI_Win_allocate_shared((MPI_Aint)bytes, 1, info, rt->data, &base, &s->win);
        MPI_Info_free(&info);
    } else {
        rc = MPI_Win_allocate((MPI_Aint)bytes, 1, MPI_INFO_NULL, rt->data, &base, &s->win);
    }
    /* Blocks are 64-byte aligned from the arena's start: align it (offsets sent to readers
     * are from the window's start, so they add the skew). */
    s->skew = rc == MPI_SUCCESS ? (size_t)(-(uintptr_t)base & 63) : 0;
    ok = rc == MPI_SUCCESS && bytes > s->skew &&
         rayc__arena_init(&s->arena, bytes - s->skew, 64) == RAYC__ARENA_OK;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, rt->data);
    if (!all_ok) {
        rayc__arena_destroy(&s->arena);
        if (rc == MPI_SUCCESS)
            MPI_Win_free(&s->win);
        return 0;
    }
    s->base = base + s->skew;
    s->capacity = rayc__arena_capacity(&s->arena);
#ifdef MADV_HUGEPAGE
    if (shared) /* fewer faults and TLB misses where the kernel allows huge pages here */
        madvise((void *)((uintptr_t)base & ~(uintptr_t)(getpagesize() - 1)), bytes, MADV_HUGEPAGE);
#endif
    return 1;
}

/* Collective over rt->data: every rank allocates its window and may hold budget bytes before
 * it spills. A shared window (every rank on one node) is sparse: it costs nothing until used,
 * so it can be large. Otherwise Open MPI (osc/rdma) commits the window's memory at once, so
 * that one is kept modest. */
int rayc__store_create(rayc__runtime *rt, const rayc__window_plan *plan, size_t budget,
                       double high_water, int keep)
{
    rayc__store *s = calloc(1, sizeof *s);
    if (!s)
        return rayc__fail(RAYC_ENOMEM, "rayc_init: out of memory");
    pthread_mutex_init(&s->amu, NULL);
    pthread_cond_init(&s->spill_cv, NULL);
    rayc__oidmap_init(&s->map, offsetof(sentry, id));
    s->budget = budget;
    s->high_water = high_water;
    s->keep = keep;
    rt->store = s;
    if (plan->shared && make_window(rt, 1, plan->shared_bytes)) {
        s->shared_win = 1;
        s->populated = calloc((s->capacity + GRANULE - 1) / GRANULE, 1);
    } else {
        if (plan->shared)
            RAYC_LOG(RAYC__LOG_INFO, "no shared-memory window; using MPI_Win_allocate");
        if (!make_window(rt, 0, plan->bytes)) {
            /* No one-sided component works here (osc/pt2pt refuses MPI_THREAD_MULTIPLE; a
             * window may not fit): every value lives on the heap and moves two-sided. */
            if (rt->rank == 0)
                RAYC_LOG(RAYC__LOG_WARN, "no MPI window could be allocated (%zu bytes): large "
                         "objects move with two-sided messages", plan->bytes);
            s->dirty = 1;
            return open_spill(rt);
        }
    }
    RAYC_LOG(RAYC__LOG_INFO, "object store: %zu-byte %s window, %zu-byte budget", s->capacity,
             s->shared_win ? "shared" : "MPI_Win_allocate", budget);
    s->have_win = 1;
    s->dirty = 1; /* report the capacity once even if nothing is ever stored */
    MPI_Win_lock_all(MPI_MODE_NOCHECK, s->win);
    return open_spill(rt);
}

/* Collective: frees the window. Every rank calls it after its progress loop ended. */
void rayc__store_destroy(rayc__runtime *rt)
{
    rayc__store *s = rt->store;
    if (!s)
        return;
    if (s->spill_started) {
        rayc__lock(rt);
        s->spill_stop = 1;
        pthread_cond_signal(&s->spill_cv);
        pthread_mutex_unlock(&rt->mu);
        pthread_join(s->spill_thread, NULL);
    }
    size_t pos = 0;
    sentry *e;
    while ((e = rayc__oidmap_next(&s->map, &pos))) {
        rayc__value_unref(e->val);
        free(e);
    }
    rayc__oidmap_free(&s->map);
    free(s->queue);
    if (s->sp) {
        char err[256];
        rayc__spill_close(s->sp, s->keep, err, sizeof err);
        if (!s->keep)
            rmdir(s->dir); /* only when empty: other ranks' files may remain until they close */
    }
    if (s->have_win) {
        MPI_Win_unlock_all(s->win);
        MPI_Win_free(&s->win);
    }
    rt->store = NULL;
    if (rayc__arena_nallocs(&s->arena) > 0) {
        /* The user still holds views: keep this small struct so their release is harmless. */
        s->dead = 1;
        return;
    }
    rayc__arena_destroy(&s->arena);
    free(s->populated);
    pthread_mutex_destroy(&s->amu);
    pthread_cond_destroy(&s->spill_cv);
    free(s);
}
