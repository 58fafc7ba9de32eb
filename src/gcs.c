/* gcs.c: the control service on rank 0: task table, object directory, resource view,
 * dependency tracking, dispatch and client get/wait requests.
 *
 * Everything here runs with rt->mu held, called by rank 0's clients (driver, rank 0 workers)
 * directly and by the progress thread for records from other ranks. There is no other
 * concurrency, so the invariants below hold between calls:
 *  - An object record exists from its submit/put until refs reaches 0 and it is not pending.
 *    refs = owner handle (1 until rayc_release) + unfinished tasks that take it as argument.
 *  - A task is in exactly one place: waiting for deps (deps_left > 0), in its class's ready
 *    queue, or dispatched to a rank (which holds its demand charged in the view) until DONE.
 *  - A request completes exactly once; its waiters are unlinked from every object then.
 * Completion argument: every dispatched task produces exactly one DONE or RETURNED (raylets
 * never drop tasks before shutdown), so charged resources always come back and queued tasks
 * whose demand fits some rank's total are eventually dispatched. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcs_int.h"
#include "log.h"
#include "status_int.h"

#define RETURN_BURST_SECONDS 10e-3 /* hand-backs closer than this are one burst */

/* ---------------------------------------------------------------- objects and waiters */

/* The map of the objects rank r submitted, or NULL for a rank out of range. */
static rayc__oidmap *objs_of(rayc__gcs *g, uint32_t r)
{
    return r < (uint32_t)g->nobjs ? &g->objs[r] : NULL;
}

gobj *rayc__gobj_find(rayc__gcs *g, rayc__oid id)
{
    rayc__oidmap *m = objs_of(g, id.rank);
    return m ? rayc__oidmap_get(m, id) : NULL;
}

/* pos: the map's index in the high bits, the position within it in the low 40. */
#define POS_BITS 40
gobj *rayc__gcs_next_obj(rayc__gcs *g, size_t *pos)
{
    for (size_t k = *pos >> POS_BITS; k < (size_t)g->nobjs; k++) {
        size_t p = *pos & (((size_t)1 << POS_BITS) - 1);
        gobj *o = rayc__oidmap_next(&g->objs[k], &p);
        if (o) {
            *pos = k << POS_BITS | p;
            return o;
        }
        *pos = (k + 1) << POS_BITS;
    }
    return NULL;
}

/* Take o's id out of its map (it is there). */
static void obj_unindex(rayc__gcs *g, gobj *o)
{
    rayc__oidmap_del(objs_of(g, o->id.rank), o->id);
}

/* Record that rank loc holds o's value (header hdr, window offset off). */
static int set_where(gobj *o, int32_t loc, int64_t off, const rayc__vhdr *hdr)
{
    gloc *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    w->loc = loc;
    w->off = off;
    w->hdr = *hdr;
    o->where = w;
    return 0;
}

static gobj *gobj_new(rayc__gcs *g, rayc__oid id)
{
    rayc__oidmap *m = objs_of(g, id.rank);
    gobj *o = m ? rayc__slab_alloc(&g->obj_pool) : NULL;
    if (o)
        o->id = id;
    if (!o || rayc__oidmap_put(m, o) != 0) {
        rayc__slab_free(&g->obj_pool, o);
        return NULL;
    }
    o->handle = 1;
    o->refs = 1;
    return o;
}

gwait *rayc__gwait_new(rayc__gcs *g)
{
    return rayc__slab_alloc(&g->wait_pool);
}

void rayc__gwait_free(rayc__gcs *g, gwait *w)
{
    rayc__slab_free(&g->wait_pool, w);
}

static int add_waiter(rayc__gcs *g, gobj *o, int kind, void *who, uint32_t slot)
{
    gwait *w = rayc__gwait_new(g);
    if (!w)
        return -1;
    w->kind = (uint8_t)kind;
    w->who = who;
    w->slot = slot;
    w->next = o->waiters;
    o->waiters = w;
    return 0;
}

static void unlink_waiter(rayc__gcs *g, gobj *o, void *who)
{
    for (gwait **pp = &o->waiters; *pp;) {
        if ((*pp)->who == who) {
            gwait *w = *pp;
            *pp = w->next;
            rayc__gwait_free(g, w);
        } else {
            pp = &(*pp)->next;
        }
    }
}

/* Tell rank r to drop its copy of id. */
static void send_free(rayc__runtime *rt, int r, rayc__oid id)
{
    if (r == rt->rank) {
        rayc__store_free(rt, id);
        return;
    }
    size_t at;
    rayc__wbuf *b = rayc__msg_begin(rt, r, RAYC__M_FREE, &at);
    rayc__put_u32(b, 1);
    rayc__put_oid(b, id);
    rayc__msg_end(rt, r, at);
}

static void gobj_free(rayc__runtime *rt, gobj *o)
{
    rayc__gcs *g = rt->gcs;
    obj_unindex(g, o);
    if (o->where) {
        send_free(rt, o->where->loc, o->id);
        for (int i = 0; i < o->where->ncopies; i++)
            send_free(rt, o->where->copies[i], o->id);
        free(o->where->copies);
        free(o->where);
    }
    rayc__value_unref(o->val);
    free(o->err);
    rayc__slab_free(&g->obj_pool, o);
}

static void add_copy(rayc__runtime *rt, int src, rayc__oid id)
{
    gobj *o = rayc__gobj_find(rt->gcs, id);
    if (!o) { /* freed meanwhile: the copy must go too */
        send_free(rt, src, id);
        return;
    }
    gloc *w = o->where;
    if (!w) /* only values held in a store are copied */
        return;
    for (int i = 0; i < w->ncopies; i++)
        if (w->copies[i] == src)
            return;
    int32_t *c = realloc(w->copies, (size_t)(w->ncopies + 1) * sizeof *c);
    if (!c)
        return; /* the copy then lives until shutdown */
    c[w->ncopies++] = src;
    w->copies = c;
}

/* Drop one reference; frees the record when nothing needs it any more. */
void rayc__gobj_unref(rayc__runtime *rt, gobj *o)
{
    if (--o->refs > 0 || o->state == RAYC__OBJ_PENDING)
        return;
    gobj_free(rt, o);
}

/* ---------------------------------------------------------------- scheduling classes */

static uint64_t class_hash(uint32_t fn, const rayc__resvec *d, int strategy, int aff, int soft)
{
    uint64_t h = fn * 0x9E3779B97F4A7C15ull ^ (uint64_t)(strategy * 31 + aff * 7 + soft);
    const unsigned char *p = (const unsigned char *)d;
    for (size_t i = 0; i < sizeof *d; i++)
        h = (h ^ p[i]) * 0x100000001B3ull;
    return h;
}

static gclass *class_get(rayc__gcs *g, uint32_t fn, const rayc__resvec *d, int strategy, int aff,
                         int soft)
{
    gclass *l = g->last_cls;
    if (l && l->fn == fn && l->strategy == strategy && l->affinity == aff && l->soft == soft &&
        memcmp(&l->demand, d, sizeof *d) == 0)
        return l;
    uint64_t h = class_hash(fn, d, strategy, aff, soft);
    for (gclass *c = g->classes; c; c = c->next_all)
        if (c->hash == h && c->fn == fn && c->strategy == strategy && c->affinity == aff &&
            c->soft == soft && memcmp(&c->demand, d, sizeof *d) == 0)
            return g->last_cls = c;
    gclass *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->hash = h;
    c->fn = fn;
    c->demand = *d;
    c->strategy = (uint8_t)strategy;
    c->soft = (uint8_t)soft;
    c->affinity = aff;
    c->next_all = g->classes;
    g->classes = c;
    return g->last_cls = c;
}

void rayc__class_push(rayc__gcs *g, gtask *t, int front)
{
    gclass *c = t->cls;
    t->next = NULL;
    if (!c->head) {
        c->head = c->tail = t;
    } else if (front) {
        /* Handed back or retried: ahead of later submissions, behind earlier ones already
         * re-queued, so a batch of returned tasks keeps its submission order. */
        gtask **pp = &c->head;
        while (*pp && (*pp)->id.rank == t->id.rank && (*pp)->id.seq < t->id.seq &&
               (*pp)->requeued)
            pp = &(*pp)->next;
        t->next = *pp;
        *pp = t;
        if (!t->next)
            c->tail = t;
    } else {
        c->tail->next = t;
        c->tail = t;
    }
    c->qlen++;
    t->requeued = (uint8_t)front;
    t->state = RAYC_TASK_PENDING_NODE_ASSIGNMENT;
    g->nqueued++;
}

gtask *rayc__class_pop(rayc__gcs *g, gclass *c)
{
    gtask *t = c->head;
    c->head = t->next;
    if (!c->head)
        c->tail = NULL;
    c->qlen--;
    g->nqueued--;
    t->next = NULL;
    return t;
}

/* ---------------------------------------------------------------- task life */

static void gtask_release(rayc__gcs *g, gtask *t);

static void task_record_finished(rayc__gcs *g, gtask *t, int failed)
{
    finished_rec *f = &g->finished[g->finished_next++ % RAYC__GCS_FINISHED_RING];
    f->id = t->id;
    f->fn = t->fn;
    f->num_returns = t->num_returns;
    f->state = failed ? RAYC_TASK_FAILED : RAYC_TASK_FINISHED;
    f->rank = t->rank;
    f->attempt = t->attempt;
    if (g->finished_count < RAYC__GCS_FINISHED_RING)
        g->finished_count++;
}

/* Arrival stamps wrap at 2^32; stamp - next_arrival (mod 2^32) grows with the stamp among
 * live tasks (fewer than 2^32 of them), so it orders them oldest first. */
static int by_arrival(const void *a, const void *b, void *next_arrival)
{
    uint32_t base = *(const uint32_t *)next_arrival;
    uint32_t x = (*(gtask *const *)a)->arrival - base, y = (*(gtask *const *)b)->arrival - base;
    return x < y ? -1 : x > y;
}

/* pos walks the object maps (tasks through their first return), then the table of tasks
 * without returns (as the map after the last object map). */
gtask *rayc__gcs_next_live(rayc__gcs *g, size_t *pos)
{
    gobj *o;
    while ((*pos >> POS_BITS) < (size_t)g->nobjs && (o = rayc__gcs_next_obj(g, pos)))
        if (o->producer && o->producer->ret1 == o)
            return o->producer;
    size_t p = *pos & (((size_t)1 << POS_BITS) - 1);
    gtask *t = rayc__oidmap_next(&g->tasks, &p);
    *pos = (size_t)g->nobjs << POS_BITS | p;
    return t;
}

gtask **rayc__gcs_live_tasks(rayc__gcs *g, size_t *n, int *oom)
{
    *n = 0;
    *oom = 0;
    size_t cap = 64, k = 0;
    gtask **out = NULL, *t;
    for (size_t pos = 0; (t = rayc__gcs_next_live(g, &pos));) {
        if (!out || k == cap) {
            gtask **p = realloc(out, (cap = out ? cap * 2 : cap) * sizeof *p);
            if (!p) {
                free(out);
                *oom = 1;
                return NULL;
            }
            out = p;
        }
        out[k++] = t;
    }
    if (k)
        qsort_r(out, k, sizeof *out, by_arrival, &g->next_arrival);
    *n = k;
    return out;
}

/* The task is over (finished or failed for good): release its argument refs and record. */
static void task_end(rayc__runtime *rt, gtask *t, int failed)
{
    rayc__gcs *g = rt->gcs;
    task_record_finished(g, t, failed);
    for (uint32_t i = 0; i < t->nargs; i++) {
        rayc__value_unref(t->args[i].val);
        if (!rayc__oid_is_null(t->args[i].id)) {
            gobj *o = rayc__gobj_find(g, t->args[i].id);
            if (o) {
                if (t->deps_left)
                    unlink_waiter(g, o, t);
                rayc__gobj_unref(rt, o);
            }
        }
    }
    for (uint32_t i = 1; i <= t->num_returns; i++) {
        rayc__oid rid = {t->id.seq, t->id.rank, i};
        gobj *o = i == 1 ? t->ret1 : rayc__gobj_find(g, rid);
        if (o && o->producer == t)
            o->producer = NULL;
    }
    if (!t->num_returns)
        rayc__oidmap_del(&g->tasks, t->id);
    gtask_release(g, t);
}

/* The live task tid: the producer of its first return (most tasks), or from the table of
 * tasks without returns. NULL once it ended. One id map serves both, so a task costs no map
 * entry of its own. */
static gtask *task_find(rayc__gcs *g, rayc__oid tid)
{
    rayc__oid r1 = {tid.seq, tid.rank, 1};
    gobj *o = rayc__gobj_find(g, r1);
    return o ? o->producer : rayc__oidmap_get(&g->tasks, tid);
}

/* Mark object o done (READY or FAILED already set by the caller) and wake its waiters. */
static void obj_completed(rayc__runtime *rt, gobj *o);

/* Fail every return of t with msg, then end t. Dependents fail through obj_completed. */
void rayc__task_fail_all(rayc__runtime *rt, gtask *t, const char *msg)
{
    rayc__task_fail_status(rt, t, RAYC_ETASK, msg);
}

void rayc__task_fail_status(rayc__runtime *rt, gtask *t, int status, const char *msg)
{
    rayc__gcs *g = rt->gcs;
    rayc__oid tid = t->id;
    uint16_t nret = t->num_returns;
    t->state = RAYC_TASK_FAILED;
    if (status == RAYC_ECANCELLED)
        g->ncancelled++;
    else
        g->nfailed++;
    task_end(rt, t, 1); /* frees t: keep the ids */
    for (uint32_t i = 1; i <= nret; i++) {
        rayc__oid rid = {tid.seq, tid.rank, i};
        gobj *o = rayc__gobj_find(g, rid);
        if (!o || o->state != RAYC__OBJ_PENDING)
            continue;
        o->state = RAYC__OBJ_FAILED;
        o->fail_status = (int16_t)status;
        o->err = strdup(msg ? msg : "task failed");
        obj_completed(rt, o);
    }
}

/* A dependency of task t became available or failed. */
static void task_dep_done(rayc__runtime *rt, gtask *t, gobj *o)
{
    rayc__gcs *g = rt->gcs;
    if (o->state == RAYC__OBJ_FAILED && !t->failing) {
        t->failing = 1; /* fail once, even if several arguments fail */
        char *msg = malloc(strlen(o->err) + 160);
        if (msg)
            sprintf(msg, "task '%s' was not run: an argument failed: %s",
                    rayc__registry_at(t->fn)->name, o->err);
        rayc__pending_fail_push(g, t, msg);
        return;
    }
    if (--t->deps_left == 0 && !t->failing) {
        rayc__class_push(g, t, 0);
        g->sched_dirty = 1;
    }
}

static void obj_completed(rayc__runtime *rt, gobj *o)
{
    atomic_fetch_add_explicit(&rt->done_gen, 1, memory_order_release);
    gwait *w = o->waiters;
    o->waiters = NULL;
    o->refs++; /* keep o alive while its waiters run (they may drop references) */
    while (w) {
        gwait *next = w->next;
        void *who = w->who;
        uint32_t slot = w->slot;
        int kind = w->kind;
        rayc__gwait_free(rt->gcs, w);
        if (kind == W_TASK)
            task_dep_done(rt, who, o); /* the task keeps its argument reference */
        else
            rayc__req_obj_done(rt, who, slot, o);
        w = next;
    }
    rayc__gcs_finish_completed(rt);
    rayc__pending_fail_run(rt);
    rayc__gobj_unref(rt, o);
}

/* ---------------------------------------------------------------- pending failures */

/* Failures discovered while iterating waiters are queued and run afterwards, iteratively, so
 * that long dependency chains do not recurse. */
void rayc__pending_fail_push(rayc__gcs *g, gtask *t, char *msg)
{
    pfail *p = malloc(sizeof *p);
    if (!p) {
        free(msg);
        return;
    }
    p->t = t;
    p->msg = msg;
    p->status = RAYC_ETASK;
    p->next = g->pfail;
    g->pfail = p;
}

void rayc__pending_cancel_push(rayc__gcs *g, gtask *t, char *msg)
{
    rayc__pending_fail_push(g, t, msg);
    if (g->pfail && g->pfail->t == t)
        g->pfail->status = RAYC_ECANCELLED;
}

void rayc__pending_fail_run(rayc__runtime *rt)
{
    rayc__gcs *g = rt->gcs;
    if (g->pfail_running)
        return;
    g->pfail_running = 1;
    while (g->pfail) {
        pfail *p = g->pfail;
        g->pfail = p->next;
        gtask *t = p->t;
        /* Its deps_left waiters on other pending args must go before the task is freed. */
        for (uint32_t i = 0; i < t->nargs; i++) {
            gobj *a = rayc__oid_is_null(t->args[i].id) ? NULL : rayc__gobj_find(g, t->args[i].id);
            if (a && a->state == RAYC__OBJ_PENDING)
                unlink_waiter(g, a, t);
        }
        t->deps_left = 0;
        rayc__task_fail_status(rt, t, p->status, p->msg ? p->msg : "an argument failed");
        free(p->msg);
        free(p);
    }
    g->pfail_running = 0;
}

/* ---------------------------------------------------------------- submit */

/* Bind argument i of t (a ref): count the reference and wait for it if pending. */
static int bind_ref_arg(rayc__runtime *rt, gtask *t, uint32_t i, char *err, size_t errlen)
{
    gobj *o = rayc__gobj_find(rt->gcs, t->args[i].id);
    if (!o || !o->handle) {
        snprintf(err, errlen, "argument %u of '%s' is a released or unknown ref", i,
                 rayc__registry_at(t->fn)->name);
        return RAYC_ERELEASED;
    }
    o->refs++;
    if (o->state == RAYC__OBJ_PENDING) {
        if (add_waiter(rt->gcs, o, W_TASK, t, i) != 0) {
            o->refs--;
            snprintf(err, errlen, "out of memory");
            return RAYC_ENOMEM;
        }
        t->deps_left++;
    } else if (o->state == RAYC__OBJ_FAILED && !t->failing) {
        t->failing = 1;
        snprintf(err, errlen, "task '%s' was not run: an argument failed: %s",
                 rayc__registry_at(t->fn)->name, o->err);
    }
    return 0;
}

gtask *rayc__gtask_new(rayc__gcs *g, uint32_t nargs)
{
    gtask *t = nargs < RAYC__GTASK_POOLS ? rayc__slab_alloc(&g->task_pool[nargs])
                                         : calloc(1, sizeof *t + (size_t)nargs * sizeof(garg));
    if (!t)
        return NULL;
    t->nargs = nargs;
    t->attempt = 1;
    t->rank = -1;
    return t;
}

/* The record's memory only (its argument values are released by the caller). */
static void gtask_release(rayc__gcs *g, gtask *t)
{
    if (t->nargs < RAYC__GTASK_POOLS)
        rayc__slab_free(&g->task_pool[t->nargs], t);
    else
        free(t);
}

void rayc__gtask_free(rayc__gcs *g, gtask *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->nargs; i++)
        rayc__value_unref(t->args[i].val);
    gtask_release(g, t);
}

static gtask *decode_task(rayc__gcs *g, rayc__rbuf *r, char *err, size_t errlen)
{
    rayc__oid id = rayc__get_oid(r);
    uint32_t fn = rayc__get_u32(r);
    uint16_t num_returns = rayc__get_u16(r), max_retries = rayc__get_u16(r);
    uint8_t strategy = rayc__get_u8(r), soft = rayc__get_u8(r);
    int32_t aff = rayc__get_i32(r);
    rayc__resvec d;
    int bad = rayc__get_demand(r, &d) != 0 || !rayc__registry_at(fn);
    uint32_t nargs = rayc__get_u32(r);
    if (bad || r->err || nargs > r->len) {
        snprintf(err, errlen, "malformed task submission");
        return NULL;
    }
    gtask *t = rayc__gtask_new(g, nargs);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->id = id;
    t->fn = fn;
    t->num_returns = num_returns;
    t->max_retries = max_retries;
    for (uint32_t i = 0; i < t->nargs && !r->err; i++) {
        uint8_t kind = rayc__get_u8(r);
        int oom;
        if (kind == RAYC_ARG_VALUE) {
            if (!(t->args[i].val = rayc__get_value(r, &oom)))
                r->err = 1;
        } else {
            t->args[i].id = rayc__get_oid(r);
        }
    }
    if (r->err) {
        snprintf(err, errlen, "malformed task submission");
        rayc__gtask_free(g, t);
        return NULL;
    }
    t->cls = class_get(g, t->fn, &d, strategy, aff, soft);
    return t;
}

/* Create the task's return objects; on failure undo what was made. */
static int make_returns(rayc__gcs *g, gtask *t)
{
    for (uint32_t i = 1; i <= t->num_returns; i++) {
        rayc__oid rid = {t->id.seq, t->id.rank, i};
        gobj *o = gobj_new(g, rid);
        if (!o) {
            for (uint32_t j = 1; j < i; j++) {
                rayc__oid d = {t->id.seq, t->id.rank, j};
                rayc__slab_free(&g->obj_pool, rayc__oidmap_del(objs_of(g, d.rank), d));
            }
            return -1;
        }
        o->producer = t;
        if (i == 1)
            t->ret1 = o;
    }
    return 0;
}

/* Enter task t (its class set; takes ownership). Returns 0 or an error (rank 0 callers get it
 * synchronously; remote submitters see it as the failure of the task's returns). */
static int submit_task(rayc__runtime *rt, gtask *t, char *err, size_t errlen)
{
    rayc__gcs *g = rt->gcs;
    if (!t->cls || make_returns(g, t) != 0 ||
        (!t->num_returns && rayc__oidmap_put(&g->tasks, t) != 0)) {
        snprintf(err, errlen, "out of memory");
        rayc__gtask_free(g, t);
        return RAYC_ENOMEM;
    }
    t->arrival = g->next_arrival++;
    t->state = RAYC_TASK_PENDING_ARGS_AVAIL;
    g->nsubmitted++;
    if (atomic_load(&rt->state) != RAYC__ST_RUNNING || g->stopped) {
        snprintf(err, errlen, "task '%s' cancelled: %s", rayc__registry_at(t->fn)->name,
                 g->stopped ? "the job was asked to stop (signal)" : "the runtime is shutting down");
        for (uint32_t i = 0; i < t->nargs; i++) /* no argument was bound: none to release */
            t->args[i].id = (rayc__oid){0, 0, 0};
        rayc__task_fail_status(rt, t, RAYC_ECANCELLED, err);
        return RAYC_ECANCELLED;
    }
    int rc = 0;
    for (uint32_t i = 0; i < t->nargs && !rc; i++)
        if (!rayc__oid_is_null(t->args[i].id))
            rc = bind_ref_arg(rt, t, i, err, errlen);
    if (rc || t->failing) {
        /* Unbound arguments have a null-checked lookup in task_end; mark them unbound. */
        for (uint32_t i = 0; rc && i < t->nargs; i++) {
            gobj *o = rayc__oid_is_null(t->args[i].id) ? NULL
                                                       : rayc__gobj_find(g, t->args[i].id);
            if (!o || !o->handle)
                t->args[i].id = (rayc__oid){0, 0, 0};
        }
        for (uint32_t i = 0; i < t->nargs; i++) {
            gobj *o = rayc__oid_is_null(t->args[i].id) ? NULL
                                                       : rayc__gobj_find(g, t->args[i].id);
            if (o && o->state == RAYC__OBJ_PENDING)
                unlink_waiter(g, o, t);
        }
        t->deps_left = 0;
        rayc__task_fail_all(rt, t, err);
        return rc;
    }
    if (t->deps_left == 0) {
        rayc__class_push(g, t, 0);
        g->sched_dirty = 1;
    }
    return 0;
}

int rayc__gcs_submit_entered(rayc__runtime *rt, gtask *t, const rayc__resvec *demand,
                             int strategy, int32_t affinity, int soft, char *err, size_t errlen)
{
    t->cls = class_get(rt->gcs, t->fn, demand, strategy, affinity, soft);
    return submit_task(rt, t, err, errlen);
}

int rayc__gcs_submit_direct(rayc__runtime *rt, gtask *t, const rayc__resvec *demand,
                            int strategy, int32_t affinity, int soft)
{
    char err[512];
    int rc = rayc__gcs_submit_entered(rt, t, demand, strategy, affinity, soft, err, sizeof err);
    rayc__gcs_schedule(rt);
    return rc ? rayc__fail(rc, "rayc_submit: %s", err) : 0;
}

/* ---------------------------------------------------------------- put / release */

int rayc__gcs_put_local(rayc__runtime *rt, rayc__oid id, rayc_value *val, int loc,
                        int64_t off, const rayc__vhdr *hdr)
{
    gobj *o = gobj_new(rt->gcs, id);
    if (!o) {
        rayc__value_unref(val);
        return rayc__fail(RAYC_ENOMEM, "rayc_put: out of memory");
    }
    if (!val && set_where(o, loc, off, hdr) != 0) {
        obj_unindex(rt->gcs, o);
        rayc__slab_free(&rt->gcs->obj_pool, o);
        return rayc__fail(RAYC_ENOMEM, "rayc_put: out of memory");
    }
    o->state = RAYC__OBJ_READY;
    o->val = val;
    return 0;
}

int rayc__gcs_release_local(rayc__runtime *rt, const rayc__oid *ids, int n)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (rayc__oid_is_null(ids[i]))
            continue;
        gobj *o = rayc__gobj_find(rt->gcs, ids[i]);
        if (!o || !o->handle) {
            rc = rayc__fail(RAYC_ERELEASED, "rayc_release: ref (rank %u, seq %llu, index %u) "
                            "was already released", ids[i].rank, (unsigned long long)ids[i].seq,
                            ids[i].idx);
            continue;
        }
        o->handle = 0;
        rayc__gobj_unref(rt, o);
    }
    return rc;
}

/* ---------------------------------------------------------------- results from raylets */

/* A new object in a record: [u8 where] then the value (where 0: inline) or its header and
 * window offset (where 1: held by the sender). Returns where; *val NULL when not inline. */
static int read_object(rayc__rbuf *r, rayc_value **val, rayc__vhdr *hdr, int64_t *off, int *oom)
{
    uint8_t where = rayc__get_u8(r);
    *val = NULL;
    *off = -1;
    *oom = 0;
    if (where == 0) {
        *val = rayc__get_value(r, oom);
    } else {
        rayc__get_vhdr(r, hdr);
        *off = (int64_t)rayc__get_u64(r);
    }
    return where;
}

/* Return rid (record o, NULL when gone) of a finished task: inline value val (owned), or
 * held by src at off. */
static void complete_return(rayc__runtime *rt, int src, rayc__oid rid, gobj *o,
                            rayc_value *val, const rayc__vhdr *hdr, int64_t off,
                            const char *bad)
{
    if (!o || o->state != RAYC__OBJ_PENDING) {
        rayc__value_unref(val); /* released while running and already gone: drop it */
        if (!o && !val && !bad) {
            size_t at;
            rayc__wbuf *b = rayc__msg_begin(rt, src, RAYC__M_FREE, &at);
            rayc__put_u32(b, 1);
            rayc__put_oid(b, rid);
            rayc__msg_end(rt, src, at);
        }
        return;
    }
    if (bad) {
        o->state = RAYC__OBJ_FAILED;
        o->err = strdup(bad);
    } else if (!val && set_where(o, src, off, hdr) != 0) {
        o->state = RAYC__OBJ_FAILED;
        o->err = strdup("out of memory recording a result");
    } else {
        o->state = RAYC__OBJ_READY;
        o->val = val;
    }
    obj_completed(rt, o);
}

static void fn_record_duration(rayc__gcs *g, uint32_t fn, double dur)
{
    fnstat *s = &g->fnstats[fn];
    s->avg = s->n ? 0.8 * s->avg + 0.2 * dur : dur;
    /* typical: each sample counts at most twice the current figure, so a run stretched by a
     * preempted or descheduled worker moves it by at most 20% (a real change in the
     * function's cost still shows within a few dozen runs) */
    double capped = s->n && dur > 2 * s->typical ? 2 * s->typical : dur;
    s->typical = s->n ? 0.8 * s->typical + 0.2 * capped : dur;
    s->n++;
}

/* A DONE from rank src: the task if it is current, with its resources given back. gt: the
 * record as dispatched to this rank (rank 0's own tasks), else NULL (looked up). */
static gtask *done_task(rayc__runtime *rt, int src, rayc__oid tid, uint16_t attempt, double dur,
                        gtask *gt)
{
    rayc__gcs *g = rt->gcs;
    gtask *t = gt && rayc__oid_eq(gt->id, tid) ? gt : task_find(g, tid);
    if (!t || t->attempt != attempt || t->rank != src)
        return NULL; /* stale (cancelled) */
    rayc__uncharge(&g->view, src, &t->cls->demand);
    g->sched_dirty = 1;
    fn_record_duration(g, t->fn, dur);
    return t;
}

/* Task t ended with its returns made: record it and end it (the caller completes the
 * returns). */
static void done_ok(rayc__runtime *rt, int src, gtask *t, double dur)
{
    rayc__gcs *g = rt->gcs;
    t->state = RAYC_TASK_FINISHED;
    g->nfinished++;
    g->busy[src] += dur;
    task_end(rt, t, 0);
}

static void handle_done(rayc__runtime *rt, int src, rayc__rbuf *r)
{
    rayc__gcs *g = rt->gcs;
    rayc__oid tid = rayc__get_oid(r);
    uint16_t attempt = rayc__get_u16(r);
    int32_t status = rayc__get_i32(r);
    double dur = rayc__get_f64(r);
    gtask *t = done_task(rt, src, tid, attempt, dur, NULL);
    if (t && status != 0) {
        char msg[1024];
        rayc__get_str(r, msg, sizeof msg);
        if (t->attempt <= t->max_retries && status != RAYC_ECANCELLED && !g->stopped &&
            atomic_load(&rt->state) == RAYC__ST_RUNNING) {
            RAYC_LOG(RAYC__LOG_INFO, "retrying: %s", msg);
            t->attempt++;
            t->rank = -1;
            g->nretries++;
            rayc__class_push(g, t, 1);
            return;
        }
        rayc__task_fail_all(rt, t, msg);
        return;
    }
    if (!t)
        return;
    uint16_t nret = rayc__get_u16(r);
    gobj *ret1 = t->ret1; /* t is freed by done_ok */
    done_ok(rt, src, t, dur);
    for (uint32_t i = 1; i <= nret && !r->err; i++) {
        rayc__oid rid = {tid.seq, tid.rank, i};
        rayc_value *val;
        rayc__vhdr hdr;
        int64_t off;
        int oom;
        int where = read_object(r, &val, &hdr, &off, &oom);
        const char *bad = where == 0 && !val ? oom ? "out of memory receiving a result"
                                                   : "malformed result"
                                             : NULL;
        complete_return(rt, src, rid, i == 1 ? ret1 : rayc__gobj_find(g, rid), val, &hdr, off,
                        bad);
    }
}

void rayc__gcs_done_local(rayc__runtime *rt, rayc__oid tid, uint16_t attempt, double dur,
                          uint16_t nret, const rayc__ret *rets, gtask *gt)
{
    gtask *t = done_task(rt, 0, tid, attempt, dur, gt);
    gobj *ret1 = t ? t->ret1 : NULL;
    if (t)
        done_ok(rt, 0, t, dur);
    for (uint32_t i = 1; i <= nret; i++) {
        rayc__oid rid = {tid.seq, tid.rank, i};
        if (t)
            complete_return(rt, 0, rid, i == 1 ? ret1 : rayc__gobj_find(rt->gcs, rid),
                            rets[i - 1].val, &rets[i - 1].hdr, rets[i - 1].off, NULL);
        else
            rayc__value_unref(rets[i - 1].val);
    }
    rayc__gcs_schedule(rt);
}

static void handle_returned(rayc__runtime *rt, int src, rayc__rbuf *r)
{
    rayc__gcs *g = rt->gcs;
    rayc__oid tid = rayc__get_oid(r);
    uint16_t attempt = rayc__get_u16(r);
    gtask *t = task_find(g, tid);
    if (!t || t->attempt != attempt || t->rank != src)
        return;
    rayc__uncharge(&g->view, src, &t->cls->demand);
    t->rank = -1;
    if (g->stopped) {
        RAYC_LOG(RAYC__LOG_DEBUG, "returned after stop: %s seq %llu from rank %d state %d",
                 rayc__registry_at(t->fn)->name, (unsigned long long)t->id.seq, src, t->state);
        rayc__task_fail_status(rt, t, RAYC_ECANCELLED,
                               "task cancelled: the job was asked to stop (signal) before it "
                               "started");
        return;
    }
    /* It queued too long: prefetch less of this function. A raylet hands back all it holds
     * at once; that is one lesson, not one per task. */
    fnstat *fs = &g->fnstats[t->fn];
    double now = rayc__now();
    if (now - fs->returned_at > RETURN_BURST_SECONDS)
        fs->depth_cap = (double)(int)(fs->depth_cap / 4);
    fs->returned_at = now;
    rayc__class_push(g, t, 1);
    g->sched_dirty = 1;
}

static void handle_put(rayc__runtime *rt, int src, rayc__rbuf *r)
{
    rayc__oid id = rayc__get_oid(r);
    rayc__vhdr hdr;
    rayc_value *val;
    int64_t off;
    int oom;
    int where = read_object(r, &val, &hdr, &off, &oom);
    if (r->err || (where == 0 && !val))
        return;
    rayc__gcs_put_local(rt, id, val, src, off, &hdr);
}

static void handle_release(rayc__runtime *rt, rayc__rbuf *r)
{
    uint32_t n = rayc__get_u32(r);
    for (uint32_t i = 0; i < n && !r->err; i++) {
        rayc__oid id = rayc__get_oid(r);
        gobj *o = rayc__gobj_find(rt->gcs, id);
        if (o && o->handle) {
            o->handle = 0;
            rayc__gobj_unref(rt, o);
        }
    }
}

static void handle_remote_submit(rayc__runtime *rt, rayc__rbuf *r)
{
    char err[512];
    gtask *t = decode_task(rt->gcs, r, err, sizeof err);
    if (!t || submit_task(rt, t, err, sizeof err) != 0)
        RAYC_LOG(RAYC__LOG_DEBUG, "remote submit failed: %s", err);
}

void rayc__gcs_handle(rayc__runtime *rt, int src, uint8_t type, rayc__rbuf *rec)
{
    rayc__gcs *g = rt->gcs;
    switch (type) {
    case RAYC__M_SUBMIT: handle_remote_submit(rt, rec); break;
    case RAYC__M_PUT: handle_put(rt, src, rec); break;
    case RAYC__M_DONE: handle_done(rt, src, rec); break;
    case RAYC__M_STARTED: {
        gtask *t = task_find(g, rayc__get_oid(rec));
        if (t && t->state == RAYC_TASK_SUBMITTED_TO_WORKER)
            t->state = RAYC_TASK_RUNNING;
        break;
    }
    case RAYC__M_RETURNED: handle_returned(rt, src, rec); break;
    case RAYC__M_RES_DELTA: {
        rayc__resvec d;
        if (rayc__get_demand(rec, &d) == 0) {
            rayc__res_add(&g->view.ranks[src].avail, &d);
            rayc__view_grew(&g->view);
            g->sched_dirty = 1;
        }
        break;
    }
    case RAYC__M_GET_REQ: rayc__gcs_remote_get(rt, src, rec); break;
    case RAYC__M_GET_CANCEL: rayc__gcs_remote_cancel(rt, src, rayc__get_u64(rec)); break;
    case RAYC__M_RELEASE: handle_release(rt, rec); break;
    case RAYC__M_SHUTDOWN_ACK: g->acks++; break;
    case RAYC__M_STOP: rayc__gcs_stop(rt, rayc__get_i32(rec)); break;
    case RAYC__M_COPY: add_copy(rt, src, rayc__get_oid(rec)); break;
    case RAYC__M_STATS: rayc__gcs_stats_record(rt, src, rec); break;
    default: RAYC_LOG(RAYC__LOG_WARN, "control service: unknown record %d from rank %d", type, src);
    }
    rayc__gcs_schedule(rt);
}

/* ---------------------------------------------------------------- create / destroy */

int rayc__gcs_create(rayc__runtime *rt)
{
    rayc__gcs *g = calloc(1, sizeof *g);
    if (!g)
        return rayc__fail(RAYC_ENOMEM, "rayc_init: out of memory");
    g->objs = calloc((size_t)rt->size, sizeof *g->objs);
    g->nobjs = g->objs ? rt->size : 0;
    for (int r = 0; r < g->nobjs; r++)
        rayc__oidmap_init_seq(&g->objs[r], offsetof(gobj, id));
    rayc__oidmap_init(&g->tasks, offsetof(gtask, id));
    g->view.nranks = rt->size;
    g->view.ranks = calloc((size_t)rt->size, sizeof *g->view.ranks);
    g->fnstats = calloc((size_t)rayc__registry_count() + 1, sizeof *g->fnstats);
    g->arg_bytes = calloc((size_t)rt->size, sizeof *g->arg_bytes);
    g->busy = calloc((size_t)rt->size, sizeof *g->busy);
    g->stats = calloc((size_t)rt->size, sizeof *g->stats);
    if (!g->objs || !g->view.ranks || !g->fnstats || !g->arg_bytes || !g->busy || !g->stats) {
        free(g->objs);
        free(g->busy);
        free(g->stats);
        free(g->view.ranks);
        free(g->fnstats);
        free(g->arg_bytes);
        free(g);
        return rayc__fail(RAYC_ENOMEM, "rayc_init: out of memory");
    }
    rayc__slab_init(&g->obj_pool, sizeof(gobj), 0);
    rayc__slab_init(&g->wait_pool, sizeof(gwait), 0);
    for (uint32_t i = 0; i < RAYC__GTASK_POOLS; i++)
        rayc__slab_init(&g->task_pool[i], sizeof(gtask) + i * sizeof(garg), 0);
    for (int i = 0; i <= rayc__registry_count(); i++)
        g->fnstats[i].depth_cap = 256;
    for (int r = 0; r < rt->size; r++) {
        g->view.ranks[r].total = rt->nodes[r].total;
        g->view.ranks[r].avail = rt->nodes[r].total;
        g->view.ranks[r].accepts_tasks = (uint8_t)rt->nodes[r].accepts_tasks;
    }
    rt->gcs = g;
    return 0;
}

void rayc__gcs_destroy(rayc__runtime *rt)
{
    rayc__gcs *g = rt->gcs;
    if (!g)
        return;
    /* Live tasks: each once, through its first return (other returns forget their producer
     * first) or the table of tasks without returns. */
    size_t pos = 0;
    gobj *o;
    while ((o = rayc__gcs_next_obj(g, &pos)))
        if (o->producer && o->producer->ret1 != o)
            o->producer = NULL;
    pos = 0;
    while ((o = rayc__gcs_next_obj(g, &pos)))
        rayc__gtask_free(g, o->producer);
    gtask *t;
    pos = 0;
    while ((t = rayc__oidmap_next(&g->tasks, &pos)))
        rayc__gtask_free(g, t);
    pos = 0;
    while ((o = rayc__gcs_next_obj(g, &pos))) {
        for (gwait *w = o->waiters, *n; w; w = n) {
            n = w->next;
            rayc__gwait_free(g, w);
        }
        rayc__value_unref(o->val);
        if (o->where)
            free(o->where->copies);
        free(o->where);
        free(o->err);
        rayc__slab_free(&g->obj_pool, o);
    }
    for (int r = 0; r < g->nobjs; r++)
        rayc__oidmap_free(&g->objs[r]);
    free(g->objs);
    rayc__oidmap_free(&g->tasks);
    rayc__gcs_free_reqs(g); /* their waiters were freed with the objects */
    for (gclass *c = g->classes, *n; c; c = n) {
        n = c->next_all;
        free(c);
    }
    size_t leaked = rayc__slab_destroy(&g->obj_pool) + rayc__slab_destroy(&g->wait_pool);
    for (int i = 0; i < RAYC__GTASK_POOLS; i++)
        leaked += rayc__slab_destroy(&g->task_pool[i]);
    if (leaked)
        RAYC_LOG(RAYC__LOG_WARN, "control service: %zu records still counted at shutdown",
                 leaked);
    free(g->view.ranks);
    free(g->fnstats);
    free(g->arg_bytes);
    free(g->busy);
    free(g->stats);
    free(g);
    rt->gcs = NULL;
}
