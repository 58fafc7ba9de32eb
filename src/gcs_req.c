/* gcs_req.c: clients' get and wait requests, task queries and the shutdown drain, on the
 * control service (rank 0, under rt->mu).
 *
 * A request registers a waiter on every pending object it names. Objects completing call
 * rayc__req_obj_done; a request that becomes complete is queued and finished after the waiter
 * loop (rayc__gcs_finish_completed), which unlinks its remaining waiters and replies exactly
 * once: directly into the client's rayc__op on rank 0, or with a RAYC__M_GET_REPLY record.
 * GET completes when all objects are done or one failed; WAIT when num_returns are done. A
 * client that times out cancels; the reply then carries what is known so far. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doorbell.h"
#include "gcs_int.h"
#include "log.h"
#include "status_int.h"

static void req_link(rayc__gcs *g, greq *r)
{
    r->prev = NULL;
    r->next = g->reqs;
    if (g->reqs)
        g->reqs->prev = r;
    g->reqs = r;
}

static void req_unlink(rayc__gcs *g, greq *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        g->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
}

static void req_free(greq *r)
{
    free(r->objs);
    free(r->done);
    free(r->order);
    free(r);
}

static int req_is_complete(const greq *r)
{
    if (r->mode == RAYC__OP_GET)
        return r->ndone == r->n || r->nfailed > 0;
    return r->ndone >= r->num_returns;
}

void rayc__req_obj_done(rayc__runtime *rt, greq *r, uint32_t slot, gobj *o)
{
    if (slot >= (uint32_t)r->n || r->done[slot])
        return;
    r->done[slot] = 1;
    r->order[r->ndone++] = (int)slot;
    if (o->state == RAYC__OBJ_FAILED)
        r->nfailed++;
    if (!r->complete && req_is_complete(r)) {
        r->complete = 1;
        r->next_done = rt->gcs->completed;
        rt->gcs->completed = r;
    }
}

/* Fill the local client's results for a finished GET (rank 0). */
static void fill_local_get(rayc__runtime *rt, greq *r, int timed_out)
{
    rayc__op *op = r->op;
    op->status = timed_out ? RAYC_ETIMEDOUT : 0;
    for (int i = 0; i < r->n && !timed_out; i++) {
        gobj *o = r->objs[i];
        rayc__result *res = &op->res[i];
        if (!o || !o->handle) {
            res->status = RAYC_ERELEASED;
            res->err = strdup("ref was released while the get waited");
        } else if (o->state == RAYC__OBJ_FAILED) {
            res->status = o->fail_status ? o->fail_status : RAYC_ETASK;
            res->err = strdup(o->err);
        } else if (o->state == RAYC__OBJ_READY) {
            res->hdr = *rayc__gobj_hdr(o);
            res->loc = rayc__gobj_loc(o);
            res->off = rayc__gobj_off(o);
            res->val = o->val ? rayc__value_ref(o->val) : NULL;
        } else {
            res->status = RAYC_ETIMEDOUT;
        }
        if (res->status && !op->status)
            op->status = res->status;
    }
}

static void encode_get_reply(rayc__runtime *rt, greq *r, int timed_out)
{
    size_t at;
    rayc__wbuf *b = rayc__msg_begin(rt, r->src, RAYC__M_GET_REPLY, &at);
    rayc__put_u64(b, r->req_id);
    rayc__put_u8(b, (uint8_t)r->mode);
    rayc__put_u8(b, (uint8_t)timed_out);
    if (r->mode == RAYC__OP_WAIT) {
        rayc__put_u32(b, (uint32_t)r->ndone);
        for (int i = 0; i < r->ndone; i++)
            rayc__put_u32(b, (uint32_t)r->order[i]);
    } else {
        rayc__put_u32(b, timed_out ? 0 : (uint32_t)r->n);
        for (int i = 0; i < r->n && !timed_out; i++) {
            gobj *o = r->objs[i];
            if (!o || !o->handle) {
                rayc__put_i32(b, RAYC_ERELEASED);
                rayc__put_str(b, "ref was released while the get waited");
            } else if (o->state == RAYC__OBJ_READY) {
                rayc__put_i32(b, 0);
                rayc__put_u8(b, o->val ? 0 : 1);
                if (o->val)
                    rayc__put_value(b, o->val);
                else {
                    rayc__put_i32(b, rayc__gobj_loc(o));
                    rayc__put_vhdr(b, rayc__gobj_hdr(o));
                    rayc__put_u64(b, (uint64_t)rayc__gobj_off(o));
                }
            } else {
                rayc__put_i32(b, o->state != RAYC__OBJ_FAILED ? RAYC_ETIMEDOUT
                                 : o->fail_status                ? o->fail_status
                                                                 : RAYC_ETASK);
                rayc__put_str(b, o->err ? o->err : "not ready");
            }
        }
    }
    rayc__msg_end(rt, r->src, at);
}

/* Reply and free. */
static void req_finish(rayc__runtime *rt, greq *r, int timed_out)
{
    rayc__gcs *g = rt->gcs;
    for (int i = 0; i < r->n && r->waiting; i++) {
        if (r->done[i])
            continue;
        gobj *o = r->objs[i];
        for (gwait **pp = o ? &o->waiters : NULL; pp && *pp;) {
            if ((*pp)->who == r) {
                gwait *w = *pp;
                *pp = w->next;
                rayc__gwait_free(g, w);
            } else {
                pp = &(*pp)->next;
            }
        }
    }
    req_unlink(g, r);
    if (r->op) {
        rayc__op *op = r->op;
        op->gcs_req = NULL;
        if (r->mode == RAYC__OP_GET) {
            fill_local_get(rt, r, timed_out);
        } else {
            op->nready = r->ndone < r->num_returns ? r->ndone : r->num_returns;
            memcpy(op->order, r->order, (size_t)op->nready * sizeof *op->order);
            op->status = 0;
        }
        rayc__op_complete(rt, op);
    } else {
        encode_get_reply(rt, r, timed_out);
    }
    for (int i = 0; i < r->n; i++) /* the request's references (may free released ones) */
        rayc__gobj_unref(rt, r->objs[i]);
    req_free(r);
}

void rayc__gcs_finish_completed(rayc__runtime *rt)
{
    rayc__gcs *g = rt->gcs;
    while (g->completed) {
        greq *r = g->completed;
        g->completed = r->next_done;
        req_finish(rt, r, 0);
    }
}

/* Complete what is already done, then register waiters on the pending objects only if that
 * did not complete r (a wait for one of many refs, some ready, registers nothing: a loop of
 * such waits stays linear). Returns 0 or RAYC_ERELEASED when a ref is unknown (then r is not
 * linked and the caller frees it). */
static int req_start(rayc__runtime *rt, greq *r, const rayc__oid *ids, int *bad_index)
{
    rayc__gcs *g = rt->gcs;
    gobj **objs = r->objs;
    for (int i = 0; i < r->n; i++) {
        gobj *o = rayc__gobj_find(g, ids[i]);
        if (!o || !o->handle) {
            *bad_index = i;
            return RAYC_ERELEASED;
        }
        objs[i] = o;
    }
    for (int i = 0; i < r->n; i++) /* held until the request ends: no more lookups */
        objs[i]->refs++;
    req_link(g, r);
    for (int i = 0; i < r->n; i++) {
        gobj *o = objs[i];
        if (o->state != RAYC__OBJ_PENDING)
            rayc__req_obj_done(rt, r, (uint32_t)i, o);
    }
    for (int i = 0; i < r->n && !r->complete; i++) {
        gobj *o = objs[i];
        if (o->state != RAYC__OBJ_PENDING)
            continue;
        gwait *w = rayc__gwait_new(g);
        if (!w)
            continue; /* cannot happen in practice; the client's timeout still ends it */
        w->kind = W_REQ;
        w->who = r;
        w->slot = (uint32_t)i;
        w->next = o->waiters;
        o->waiters = w;
        r->waiting = 1;
    }
    rayc__gcs_finish_completed(rt);
    return 0;
}

static greq *req_new(int mode, int n, int num_returns)
{
    greq *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->mode = mode;
    r->n = n;
    r->num_returns = num_returns;
    r->objs = malloc((size_t)(n ? n : 1) * sizeof *r->objs);
    r->done = calloc((size_t)(n ? n : 1), 1);
    r->order = malloc((size_t)(n ? n : 1) * sizeof *r->order);
    if (!r->objs || !r->done || !r->order) {
        req_free(r);
        return NULL;
    }
    return r;
}

int rayc__gcs_get_local(rayc__runtime *rt, rayc__op *op)
{
    greq *r = req_new(op->mode, op->n, op->num_returns);
    if (!r)
        return rayc__fail(RAYC_ENOMEM, "out of memory");
    r->op = op;
    r->src = rt->rank;
    op->gcs_req = r;
    int bad = -1;
    if (req_start(rt, r, op->ids, &bad) != 0) {
        op->gcs_req = NULL;
        req_free(r);
        return rayc__fail(RAYC_ERELEASED, "ref %d was released or never existed", bad);
    }
    return 0;
}

void rayc__gcs_cancel_local(rayc__runtime *rt, rayc__op *op)
{
    if (op->gcs_req)
        req_finish(rt, op->gcs_req, 1);
}

void rayc__gcs_remote_get(rayc__runtime *rt, int src, rayc__rbuf *rec)
{
    uint64_t req_id = rayc__get_u64(rec);
    uint8_t mode = rayc__get_u8(rec);
    int32_t num_returns = rayc__get_i32(rec);
    uint32_t n = rayc__get_u32(rec);
    if (rec->err || n > rec->len / 16 + 1 || mode > RAYC__OP_WAIT)
        return;
    greq *r = req_new(mode, (int)n, num_returns);
    rayc__oid *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    if (!r || !ids) {
        if (r)
            req_free(r);
        free(ids);
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        ids[i] = rayc__get_oid(rec);
    r->src = src;
    r->req_id = req_id;
    int bad = -1;
    if (rec->err || req_start(rt, r, ids, &bad) != 0) {
        size_t at;
        rayc__wbuf *b = rayc__msg_begin(rt, src, RAYC__M_GET_REPLY, &at);
        rayc__put_u64(b, req_id);
        rayc__put_u8(b, 0xff); /* request refused */
        rayc__put_i32(b, bad);
        rayc__msg_end(rt, src, at);
        req_free(r);
    }
    free(ids);
}

void rayc__gcs_remote_cancel(rayc__runtime *rt, int src, uint64_t req_id)
{
    for (greq *r = rt->gcs->reqs; r; r = r->next)
        if (!r->op && r->src == src && r->req_id == req_id) {
            req_finish(rt, r, 1);
            return;
        }
}

void rayc__gcs_free_reqs(rayc__gcs *g)
{
    while (g->reqs) {
        greq *r = g->reqs;
        g->reqs = r->next;
        req_free(r);
    }
}

/* ---------------------------------------------------------------- queries */

int rayc__gcs_task_state(rayc__runtime *rt, rayc__oid id, rayc_task_state *out)
{
    rayc__gcs *g = rt->gcs;
    gobj *o = rayc__gobj_find(g, id);
    if (!o || !o->handle)
        return rayc__fail(RAYC_ERELEASED, "rayc_task_state_of: ref released or unknown");
    if (id.idx == 0 && !o->producer) { /* a put */
        *out = RAYC_TASK_FINISHED;
        return 0;
    }
    if (o->producer)
        *out = (rayc_task_state)o->producer->state;
    else
        *out = o->state == RAYC__OBJ_FAILED ? RAYC_TASK_FAILED : RAYC_TASK_FINISHED;
    return 0;
}

static void task_info(rayc_task_info *ti, rayc__oid id, uint32_t fn, int nret, int state,
                      int rank, int attempt)
{
    rayc__oid first = {id.seq, id.rank, 1};
    const rayc__fn_entry *e = rayc__registry_at(fn);
    memset(ti, 0, sizeof *ti);
    ti->ref = nret ? rayc__ref_of_oid(first) : RAYC_NULL_REF;
    snprintf(ti->name, sizeof ti->name, "%s", e ? e->name : "?");
    ti->state = (rayc_task_state)state;
    ti->rank = rank;
    ti->attempt = attempt;
}

int rayc__gcs_list_tasks(rayc__runtime *rt, rayc_task_info *out, int max, int *n)
{
    rayc__gcs *g = rt->gcs;
    int k = 0;
    uint64_t first = g->finished_next - g->finished_count;
    for (uint64_t i = first; i < g->finished_next; i++, k++) {
        finished_rec *f = &g->finished[i % RAYC__GCS_FINISHED_RING];
        if (k < max)
            task_info(&out[k], f->id, f->fn, f->num_returns, f->state, f->rank, f->attempt);
    }
    size_t nlive;
    int oom;
    gtask **live = rayc__gcs_live_tasks(g, &nlive, &oom);
    if (oom)
        return rayc__fail(RAYC_ENOMEM, "rayc_list_tasks: out of memory");
    for (size_t i = 0; i < nlive; i++, k++)
        if (k < max)
            task_info(&out[k], live[i]->id, live[i]->fn, live[i]->num_returns, live[i]->state,
                      live[i]->rank, live[i]->attempt);
    free(live);
    *n = k;
    return 0;
}

void rayc__gcs_available(rayc__runtime *rt, int rank, rayc__resvec *out)
{
    *out = rt->gcs->view.ranks[rank].avail;
}

/* ---------------------------------------------------------------- stop and shutdown */

/* Cancel every task not yet dispatched (queued or waiting for arguments). */
static void cancel_undispatched(rayc__runtime *rt, const char *why)
{
    rayc__gcs *g = rt->gcs;
    for (gclass *c = g->classes; c; c = c->next_all)
        while (c->head)
            rayc__pending_cancel_push(g, rayc__class_pop(g, c), strdup(why));
    gtask *t;
    for (size_t pos = 0; (t = rayc__gcs_next_live(g, &pos));)
        if (t->rank < 0 && t->deps_left > 0 && !t->failing) {
            t->failing = 1;
            rayc__pending_cancel_push(g, t, strdup(why));
        }
    rayc__pending_fail_run(rt);
}

void rayc__gcs_stop(rayc__runtime *rt, int signum)
{
    rayc__gcs *g = rt->gcs;
    if (g->stopped)
        return;
    g->stopped = 1;
    atomic_store(&rt->stop_signal, signum);
    char why[160];
    snprintf(why, sizeof why, "task cancelled: the job received signal %d (%s) and stops",
             signum, signum == 15 ? "SIGTERM, walltime" : signum == 10 ? "SIGUSR1" : "stop");
    RAYC_LOG(RAYC__LOG_WARN, "signal %d: stopping the job (no new tasks; running ones finish)",
             signum);
    cancel_undispatched(rt, why);
    /* Tasks prefetched to raylets but not started come back (RETURNED) and are cancelled. */
    for (int r = 0; r < rt->size; r++) {
        if (r == rt->rank) {
            rayc__raylet_halt(rt);
            continue;
        }
        size_t at;
        rayc__msg_begin(rt, r, RAYC__M_HALT, &at);
        rayc__msg_end(rt, r, at);
    }
}

/* Store statistics as the STATS record carries them (store.c encodes the same order). */
void rayc__gcs_stats_record(rayc__runtime *rt, int src, rayc__rbuf *rec)
{
    rayc_store_info *s = &rt->gcs->stats[src];
    uint64_t *f[] = {&s->capacity, &s->window_bytes, &s->used_bytes, &s->heap_bytes,
                     &s->objects, &s->cached,
                     &s->spilled_objects, &s->spilled_bytes, &s->restored_objects,
                     &s->restored_bytes, &s->evicted, &s->pulled_bytes, &s->pulled_one_sided,
                     &s->pulled_two_sided};
    rayc_store_info tmp = *s;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        *f[i] = rayc__get_u64(rec);
    rayc__get_str(rec, s->spill_path, sizeof s->spill_path);
    if (rec->err)
        *s = tmp;
    s->rank = src;
}

void rayc__gcs_summary(rayc__runtime *rt)
{
    rayc__gcs *g = rt->gcs;
    double wall = rayc__now() - rt->t_init, busy = 0;
    for (int r = 0; r < rt->size; r++)
        busy += g->busy[r];
    printf("rayc summary: %llu tasks: %llu finished, %llu failed, %llu cancelled, %llu retries; "
           "%.2f s on %d ranks, task time %.2f s%s\n",
           (unsigned long long)g->nsubmitted, (unsigned long long)g->nfinished,
           (unsigned long long)g->nfailed, (unsigned long long)g->ncancelled,
           (unsigned long long)g->nretries, wall, rt->size, busy,
           g->stopped ? " (stopped by a signal)" : "");
    printf("rayc summary: busy per rank:");
    for (int r = 0; r < rt->size; r++)
        printf(" %d:%.2fs", r, g->busy[r]);
    printf("\n");
    fflush(stdout);
}

/* ---------------------------------------------------------------- shutdown */

void rayc__gcs_shutdown_begin(rayc__runtime *rt)
{
    rayc__gcs *g = rt->gcs;
    /* Queued and waiting tasks are cancelled; running ones finish on their raylets. */
    gtask *t;
    for (size_t pos = 0; (t = rayc__gcs_next_live(g, &pos));) {
        if (t->rank < 0) {
            for (gclass *c = t->cls; c && t->state == RAYC_TASK_PENDING_NODE_ASSIGNMENT;) {
                gtask **pp = &c->head, *prev = NULL;
                while (*pp && *pp != t)
                    prev = *pp, pp = &(*pp)->next;
                if (*pp) {
                    *pp = t->next;
                    if (c->tail == t)
                        c->tail = prev;
                    c->qlen--;
                    g->nqueued--;
                }
                break;
            }
            rayc__pending_cancel_push(g, t, strdup("task cancelled: the runtime shut down"));
        }
    }
    rayc__pending_fail_run(rt);
    while (g->reqs)
        req_finish(rt, g->reqs, 1);
    for (int r = 0; r < rt->size; r++) {
        if (r == rt->rank)
            continue;
        size_t at;
        rayc__msg_begin(rt, r, RAYC__M_SHUTDOWN, &at);
        rayc__msg_end(rt, r, at);
    }
    rayc__raylet_begin_drain(rt);
}

int rayc__gcs_queued_behind_far(rayc__runtime *rt)
{
    const rayc__cluster_view *v = &rt->gcs->view;
    if (!rt->gcs->nqueued)
        return 0;
    for (int r = 1; r < v->nranks; r++)
        if (v->ranks[r].inflight && !rayc__bells_near(rt->bells, r))
            return 1;
    return 0;
}

int rayc__gcs_all_drained(rayc__runtime *rt)
{
    return rt->gcs->acks >= rt->size - 1 && rayc__raylet_drained(rt);
}
