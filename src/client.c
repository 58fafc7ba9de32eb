/* client.c: submit, put, get, wait and release as the driver and tasks call them.
 *
 * On rank 0 the client calls the control service directly under rt->mu. On other ranks it
 * sends records that the progress thread batches to rank 0; a get/wait there is an op in a
 * table keyed by its request id, completed by the GET_REPLY handler. Every request gets
 * exactly one reply (also after a cancel), so an op is never freed while a reply can still
 * name it. A client inside a task gives its CPUs back while it blocks. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_int.h"
#include "log.h"
#include "oidmap.h"
#include "raylet_int.h"
#include "status_int.h"
#include "store.h"
#include "value_pool.h"

/* ---------------------------------------------------------------- control service messages */

/* Rank 0 builds its records for the control service in a per-thread scratch buffer that is
 * kept between calls (a fresh one when a handler nests another record). */
static _Thread_local rayc__wbuf scratch;
static _Thread_local int scratch_busy;

void rayc__thread_exit(void)
{
    rayc__wbuf_free(&scratch);
    rayc__vpool_thread_flush();
}

rayc__wbuf *rayc__gmsg_begin(rayc__runtime *rt, rayc__gmsg *m, uint8_t type)
{
    m->type = type;
    if (rt->rank == 0) {
        rayc__wbuf_init(&m->local);
        m->b = scratch_busy ? &m->local : &scratch;
        if (m->b == &scratch) {
            scratch_busy = 1;
            rayc__wbuf_reset(&scratch);
        }
        m->at = rayc__rec_begin(m->b, type);
    } else {
        m->b = rayc__msg_begin(rt, 0, type, &m->at);
    }
    return m->b;
}

void rayc__gmsg_end(rayc__runtime *rt, rayc__gmsg *m)
{
    if (rt->rank != 0) {
        rayc__msg_end(rt, 0, m->at);
        return;
    }
    rayc__rec_end(m->b, m->at);
    if (!m->b->oom) {
        rayc__rbuf r, rec;
        uint8_t type;
        rayc__rbuf_init(&r, m->b->p, m->b->len);
        if (rayc__rec_next(&r, &type, &rec) == 1)
            rayc__gcs_handle(rt, 0, type, &rec);
    } else {
        RAYC_LOG(RAYC__LOG_ERROR, "out of memory building a control record");
    }
    if (m->b == &scratch)
        scratch_busy = 0;
    rayc__wbuf_free(&m->local);
}

void rayc__put_demand(rayc__wbuf *b, const rayc__resvec *d)
{
    int n = RAYC__RES_MAX;
    while (n > 0 && d->q[n - 1] == 0)
        n--;
    rayc__put_u8(b, (uint8_t)n);
    for (int i = 0; i < n; i++)
        rayc__put_f64(b, d->q[i]);
}

int rayc__get_demand(rayc__rbuf *r, rayc__resvec *d)
{
    memset(d, 0, sizeof *d);
    uint8_t n = rayc__get_u8(r);
    if (n > RAYC__RES_MAX) {
        r->err = 1;
        return -1;
    }
    for (int i = 0; i < n; i++)
        d->q[i] = rayc__get_f64(r);
    return r->err ? -1 : 0;
}

/* ---------------------------------------------------------------- ids */

rayc__oid rayc__new_id(rayc__runtime *rt)
{
    rayc__oid id = {atomic_fetch_add(&rt->next_seq, 1), (uint32_t)rt->rank, 0};
    return id;
}

/* ---------------------------------------------------------------- put */

/* Publish val as a new object; *out gets its id. Takes the caller's reference to val.
 * Values up to the inline threshold go to the control service; larger ones stay in this
 * rank's store and only their header travels. Caller holds rt->mu. */
int rayc__client_put_value(rayc__runtime *rt, rayc_value *val, rayc__oid *out)
{
    rayc__oid id = rayc__new_id(rt);
    int is_inline = val->h.nbytes <= rt->inline_threshold;
    int rc;
    if (!is_inline && (rc = rayc__store_put(rt, id, val)) != 0) {
        rayc__value_unref(val);
        return rc;
    }
    /* Now the store owns val when it is not inline; we may still read it under rt->mu. */
    int64_t off = is_inline ? -1 : rayc__store_offset(rt, val);
    if (rt->rank == 0) {
        rc = rayc__gcs_put_local(rt, id, is_inline ? val : NULL, 0, off, &val->h);
        if (rc)
            return rc;
    } else {
        rayc__gmsg m;
        rayc__wbuf *b = rayc__gmsg_begin(rt, &m, RAYC__M_PUT);
        rayc__put_oid(b, id);
        rayc__put_u8(b, is_inline ? 0 : 1);
        if (is_inline) {
            rayc__put_value(b, val);
        } else {
            rayc__put_vhdr(b, &val->h);
            rayc__put_u64(b, (uint64_t)off);
        }
        rayc__gmsg_end(rt, &m);
        if (is_inline)
            rayc__value_unref(val);
    }
    if (rayc__cur_task)
        rayc__task_track_ref(rayc__cur_task, id);
    *out = id;
    return 0;
}

/* ---------------------------------------------------------------- release */

int rayc__client_release(rayc__runtime *rt, const rayc__oid *ids, int n)
{
    int rc = 0;
    if (rayc__cur_task)
        for (int i = 0; i < n; i++)
            rayc__task_untrack_ref(rayc__cur_task, ids[i]);
    if (rt->rank == 0)
        return rayc__gcs_release_local(rt, ids, n);
    rayc__gmsg m;
    rayc__wbuf *b = rayc__gmsg_begin(rt, &m, RAYC__M_RELEASE);
    rayc__put_u32(b, (uint32_t)n);
    for (int i = 0; i < n; i++)
        rayc__put_oid(b, ids[i]);
    rayc__gmsg_end(rt, &m);
    return rc;
}

/* ---------------------------------------------------------------- get / wait */

void rayc__op_init(rayc__op *op, int mode, const rayc__oid *ids, int n, int num_returns)
{
    memset(op, 0, sizeof *op);
    atomic_init(&op->done, 0);
    pthread_cond_init(&op->cv, NULL);
    op->mode = mode;
    op->ids = ids;
    op->n = n;
    op->num_returns = num_returns;
}

void rayc__op_complete(rayc__runtime *rt, rayc__op *op)
{
    (void)rt;
    atomic_store_explicit(&op->done, 1, memory_order_release);
    pthread_cond_signal(&op->cv);
}

#define OP_SPIN_SECONDS 30e-6

/* Poll op->done for a short while without rt->mu before sleeping on op->cv: a reply that
 * comes within microseconds then costs no wake-up. Called and returns with rt->mu held. */
static void spin_until_done(rayc__runtime *rt, rayc__op *op)
{
    rayc__poll_begin(rt); /* rank 0: completions now wait in the queue for us */
    double t0 = rayc__now();
    for (int expired = 0; !expired && !op->done;) {
        pthread_mutex_unlock(&rt->mu);
        for (int i = 0; !atomic_load_explicit(&op->done, memory_order_acquire) &&
                        !atomic_load_explicit(&rt->doneq, memory_order_acquire);
             i++) {
            if ((i & 63) == 63 && rayc__now() - t0 > OP_SPIN_SECONDS) {
                expired = 1;
                break;
            }
            rayc__cpu_relax();
        }
        rayc__lock(rt); /* enters queued completions */
    }
    rayc__poll_end(rt);
}

static void deadline_of(double timeout, struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
    double s = floor(timeout);
    ts->tv_sec += (time_t)s;
    ts->tv_nsec += (long)((timeout - s) * 1e9);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Send the request (remote ranks). */
static int send_get_req(rayc__runtime *rt, rayc__op *op)
{
    rayc__client *c = rt->client;
    uint64_t req_id = ++c->next_req;
    op->req_key = (rayc__oid){req_id, 0, 0};
    if (rayc__oidmap_put(&c->ops, op) != 0)
        return rayc__fail(RAYC_ENOMEM, "out of memory");
    op->gcs_req = (void *)(uintptr_t)req_id;
    rayc__gmsg m;
    rayc__wbuf *b = rayc__gmsg_begin(rt, &m, RAYC__M_GET_REQ);
    rayc__put_u64(b, req_id);
    rayc__put_u8(b, (uint8_t)op->mode);
    rayc__put_i32(b, op->num_returns);
    rayc__put_u32(b, (uint32_t)op->n);
    for (int i = 0; i < op->n; i++)
        rayc__put_oid(b, op->ids[i]);
    rayc__gmsg_end(rt, &m);
    return 0;
}

static void cancel_req(rayc__runtime *rt, rayc__op *op)
{
    if (rt->rank == 0) {
        rayc__gcs_cancel_local(rt, op);
        return;
    }
    rayc__gmsg m;
    rayc__put_u64(rayc__gmsg_begin(rt, &m, RAYC__M_GET_CANCEL), (uint64_t)(uintptr_t)op->gcs_req);
    rayc__gmsg_end(rt, &m);
}

static void value_fetched(rayc__runtime *rt, void *ctx, rayc_value *val, const char *err)
{
    rayc__result *res = ctx;
    rayc__op *op = res->owner;
    if (val) {
        res->val = val;
    } else {
        res->status = RAYC_EIO;
        res->err = strdup(err ? err : "fetch failed");
        if (!op->status)
            op->status = RAYC_EIO;
    }
    if (--op->fetches_left == 0)
        pthread_cond_signal(&op->cv);
}

/* Bring every large value of a finished GET here. Caller holds rt->mu. */
static void fetch_values(rayc__runtime *rt, rayc__op *op)
{
    op->fetches_left = 1;
    for (int i = 0; i < op->n && op->status == 0; i++) {
        rayc__result *res = &op->res[i];
        if (res->val || res->status)
            continue;
        if ((res->val = rayc__store_get(rt, op->ids[i])))
            continue;
        res->owner = op;
        op->fetches_left++;
        if (rayc__fetch(rt, op->ids[i], res->loc, res->off, &res->hdr, value_fetched, res) != 0)
            value_fetched(rt, res, NULL, rayc_last_error());
    }
    op->fetches_left--;
    while (op->fetches_left > 0)
        pthread_cond_wait(&op->cv, &rt->mu);
}

static int ts_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Wait until op completes. The caller's timeout cancels the request once (its reply still
 * completes op). A task blocked while its rank is at the worker cap wakes every millisecond
 * to run queued tasks itself, so nested trees finish whatever the cap. */
static void wait_op(rayc__runtime *rt, rayc__op *op, double timeout, int in_task)
{
    struct timespec dl = {0, 0}, now;
    int cancelled = 0;
    if (timeout >= 0)
        deadline_of(timeout, &dl);
    if (!op->done && timeout != 0 && !op->polled)
        spin_until_done(rt, op);
    while (!op->done) {
        rayc__rtask *help = in_task ? rayc__raylet_take_for_helper(rt) : NULL;
        if (help) {
            rayc__raylet_run(rt, help);
            rayc__raylet_kick(rt);
            continue;
        }
        int timed = timeout >= 0 && !cancelled;
        int at_cap = in_task && rt->raylet->nworkers >= rt->raylet->max_workers;
        struct timespec until = dl, poll;
        if (at_cap) {
            deadline_of(1e-3, &poll);
            if (!timed || ts_before(&poll, &dl))
                until = poll;
        }
        if (!timed && !at_cap)
            pthread_cond_wait(&op->cv, &rt->mu);
        else
            pthread_cond_timedwait(&op->cv, &rt->mu, &until);
        clock_gettime(CLOCK_REALTIME, &now);
        if (timed && !op->done && !ts_before(&now, &dl)) {
            cancel_req(rt, op);
            cancelled = 1;
        }
    }
}

/* Run op to completion. Caller holds rt->mu. */
int rayc__client_op(rayc__runtime *rt, rayc__op *op, double timeout)
{
    int rc = rt->rank == 0 ? rayc__gcs_get_local(rt, op) : send_get_req(rt, op);
    if (rc)
        return rc;
    int in_task = rayc__cur_task != NULL && !op->done;
    if (in_task)
        rayc__raylet_block(rt, 1);
    wait_op(rt, op, timeout, in_task);
    if (op->mode == RAYC__OP_GET && op->status == 0)
        fetch_values(rt, op);
    if (in_task)
        rayc__raylet_block(rt, 0);
    return 0;
}

void rayc__op_destroy(rayc__op *op)
{
    pthread_cond_destroy(&op->cv);
}

/* ---------------------------------------------------------------- replies */

static void read_get_results(rayc__rbuf *rec, rayc__op *op)
{
    uint32_t n = rayc__get_u32(rec);
    for (uint32_t i = 0; i < n && i < (uint32_t)op->n && !rec->err; i++) {
        rayc__result *res = &op->res[i];
        res->status = rayc__get_i32(rec);
        if (res->status == 0) {
            uint8_t where = rayc__get_u8(rec);
            int oom = 0;
            if (where == 0) {
                res->val = rayc__get_value(rec, &oom);
                if (!res->val)
                    res->status = RAYC_ENOMEM;
            } else {
                res->loc = rayc__get_i32(rec);
                rayc__get_vhdr(rec, &res->hdr);
                res->off = (int64_t)rayc__get_u64(rec);
            }
        } else {
            char msg[1200];
            res->err = strdup(rayc__get_str(rec, msg, sizeof msg));
        }
        if (res->status && !op->status)
            op->status = res->status;
    }
    if (rec->err && !op->status)
        op->status = RAYC_EINTERNAL;
}

static void handle_get_reply(rayc__runtime *rt, rayc__rbuf *rec)
{
    uint64_t req_id = rayc__get_u64(rec);
    rayc__oid key = {req_id, 0, 0};
    rayc__op *op = rayc__oidmap_del(&rt->client->ops, key);
    if (!op)
        return;
    uint8_t mode = rayc__get_u8(rec);
    if (mode == 0xff) { /* refused: a ref was unknown */
        op->status = RAYC_ERELEASED;
        op->bad_index = rayc__get_i32(rec);
    } else {
        uint8_t timed_out = rayc__get_u8(rec);
        if (op->mode == RAYC__OP_WAIT) {
            uint32_t n = rayc__get_u32(rec);
            op->nready = 0;
            for (uint32_t i = 0; i < n && !rec->err; i++) {
                uint32_t idx = rayc__get_u32(rec);
                if (idx < (uint32_t)op->n && op->nready < op->num_returns)
                    op->order[op->nready++] = (int)idx;
            }
        } else if (timed_out) {
            op->status = RAYC_ETIMEDOUT;
        } else {
            read_get_results(rec, op);
        }
    }
    rayc__op_complete(rt, op);
}

void rayc__client_handle(rayc__runtime *rt, int src, uint8_t type, rayc__rbuf *rec)
{
    if (type == RAYC__M_GET_REPLY)
        handle_get_reply(rt, rec);
    else
        RAYC_LOG(RAYC__LOG_WARN, "client: unknown record %d from rank %d", type, src);
}

int rayc__client_create(rayc__runtime *rt)
{
    rt->client = calloc(1, sizeof *rt->client);
    if (!rt->client)
        return rayc__fail(RAYC_ENOMEM, "rayc_init: out of memory");
    rayc__oidmap_init(&rt->client->ops, offsetof(rayc__op, req_key));
    return 0;
}

void rayc__client_destroy(rayc__runtime *rt)
{
    if (!rt->client)
        return;
    rayc__oidmap_free(&rt->client->ops);
    free(rt->client);
    rt->client = NULL;
}
