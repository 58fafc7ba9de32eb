/* transfer.c: moving object values between ranks.
 *
 * A consumer that needs an object held by rank h (a task argument, or a get of a value larger
 * than the inline threshold) calls rayc__fetch. Fetches of the same object are merged, and the
 * value lands in this rank's store as a cached copy (the control service learns of it with
 * RAYC__M_COPY so that freeing the object reaches the copy).
 *
 * One-sided path (the object is in h's window at offset off): the progress thread reads the
 * block header and the data with MPI_Rget (passive target: every rank holds a lock_all epoch
 * on every window for the whole job, so h's threads do nothing), in chunks of at most 1 GiB,
 * then reads the header again. The copy is valid when both headers name the object: a block
 * is only freed or reused after its header is cleared, so a block that changed under the read
 * shows up as a mismatch.
 * Two-sided path (no window offset, or a mismatch: e.g. the holder spilled the object): the
 * consumer posts receives on the data communicator with a tag unique among its fetches and
 * sends RAYC__M_FETCH_REQ(id, tag); the holder's progress thread sends the chunks from its
 * stored value (restoring it from the spill file if needed) and keeps it referenced until the
 * sends complete; if it no longer holds the object it answers RAYC__M_FETCH_FAIL.
 * All bookkeeping is under rt->mu; MPI calls happen in rayc__xfer_progress without it. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doorbell.h"
#include "log.h"
#include "oidmap.h"
#include "rt.h"
#include "status_int.h"
#include "store.h"

#define CHUNK ((size_t)1 << 30)
#define TAG_SPACE (1 << 20)

typedef struct fwaiter {
    struct fwaiter *next;
    rayc__fetch_cb cb;
    void *ctx;
} fwaiter;

typedef struct fetch {
    struct fetch *next;  /* post queue or active list */
    rayc__oid id;
    int loc, tag;
    int64_t off;         /* block in loc's window; -1: two-sided only */
    int one_sided;       /* 1 while on the one-sided path */
    int stage;           /* one-sided: 1 header + data in flight, 2 header re-read in flight */
    rayc__block_hdr h1, h2;
    MPI_Request hreq;
    rayc_value *val;
    fwaiter *waiters;
    MPI_Request *reqs;
    int nreqs;
    int failed;          /* holder answered FETCH_FAIL */
    char err[160];
} fetch;

typedef struct sendjob {
    struct sendjob *next;
    rayc_value *val;
    int dest, tag;
    MPI_Request *reqs;
    int nreqs;
} sendjob;

struct rayc__xfer {
    rayc__oidmap byid;       /* id -> fetch in progress */
    fetch *to_post, *active;
    sendjob *to_send, *sending;
    int next_tag;
    int tag_space;           /* tags 1..tag_space, within MPI_TAG_UB */
};

static int nchunks(uint64_t nbytes)
{
    return (int)((nbytes + CHUNK - 1) / CHUNK);
}

int rayc__fetch(rayc__runtime *rt, rayc__oid id, int loc, int64_t off, const rayc__vhdr *hdr,
                rayc__fetch_cb cb, void *ctx)
{
    rayc__xfer *x = rt->xfer;
    if (loc < 0 || loc >= rt->size || loc == rt->rank)
        return rayc__fail(RAYC_EINTERNAL, "object has no valid holder (rank %d)", loc);
    fwaiter *w = malloc(sizeof *w);
    if (!w)
        return rayc__fail(RAYC_ENOMEM, "out of memory starting a transfer");
    w->cb = cb;
    w->ctx = ctx;
    fetch *f = rayc__oidmap_get(&x->byid, id);
    if (f) {
        w->next = f->waiters;
        f->waiters = w;
        return 0;
    }
    f = calloc(1, sizeof *f);
    int n = nchunks(hdr->nbytes);
    if (f && !(f->val = rayc__store_new_value(rt, hdr, NULL, 1)))
        free(f), f = NULL;
    if (f && n && !(f->reqs = calloc((size_t)n, sizeof *f->reqs)))
        rayc__value_unref(f->val), free(f), f = NULL;
    if (f)
        f->id = id;
    if (!f || rayc__oidmap_put(&x->byid, f) != 0) {
        if (f) {
            rayc__value_unref(f->val);
            free(f->reqs);
            free(f);
        }
        free(w);
        return rayc__fail(RAYC_ENOMEM, "cannot allocate %llu bytes to receive an object",
                          (unsigned long long)hdr->nbytes);
    }
    f->id = id;
    f->loc = loc;
    f->off = off;
    f->one_sided = off >= 0 && rayc__store_window(rt) != MPI_WIN_NULL;
    f->hreq = MPI_REQUEST_NULL;
    f->tag = 1 + x->next_tag++ % x->tag_space;
    f->nreqs = n;
    w->next = NULL;
    f->waiters = w;
    f->next = x->to_post;
    x->to_post = f;
    rayc__progress_wake(rt);
    return 0;
}

/* Keep a pulled value as a cached copy and tell the control service. Caller holds rt->mu. */
static void cache_copy(rayc__runtime *rt, fetch *f)
{
    rayc__store_count_pulled(rt, f->val->h.nbytes, f->one_sided);
    if (rayc__store_has(rt, f->id) ||
        rayc__store_put_ex(rt, f->id, rayc__value_ref(f->val), 0, NULL) != 0)
        return;
    rayc__gmsg m;
    rayc__put_oid(rayc__gmsg_begin(rt, &m, RAYC__M_COPY), f->id);
    rayc__gmsg_end(rt, &m);
}

/* Run the waiters of a finished fetch and free it. Caller holds rt->mu. */
static void fetch_finish(rayc__runtime *rt, fetch *f)
{
    rayc__oidmap_del(&rt->xfer->byid, f->id);
    if (!f->failed)
        cache_copy(rt, f);
    for (fwaiter *w = f->waiters, *n; w; w = n) {
        n = w->next;
        if (f->failed)
            w->cb(rt, w->ctx, NULL, f->err);
        else
            w->cb(rt, w->ctx, rayc__value_ref(f->val), NULL);
        free(w);
    }
    rayc__value_unref(f->val);
    free(f->reqs);
    free(f);
}

void rayc__xfer_handle(rayc__runtime *rt, int src, uint8_t type, rayc__rbuf *rec)
{
    rayc__xfer *x = rt->xfer;
    rayc__oid id = rayc__get_oid(rec);
    int32_t tag = rayc__get_i32(rec);
    if (rec->err)
        return;
    if (type == RAYC__M_FETCH_FAIL) {
        fetch *f = rayc__oidmap_get(&x->byid, id);
        if (f && f->tag == tag && f->loc == src && !f->failed) {
            f->failed = 1;
            snprintf(f->err, sizeof f->err, "rank %d no longer holds the object", src);
        }
        return;
    }
    rayc_value *v = rayc__store_get(rt, id);
    sendjob *j = v ? calloc(1, sizeof *j) : NULL;
    int n = v ? nchunks(v->h.nbytes) : 0;
    if (j && n && !(j->reqs = calloc((size_t)n, sizeof *j->reqs)))
        free(j), j = NULL;
    if (!j) {
        rayc__value_unref(v);
        size_t at;
        rayc__wbuf *b = rayc__msg_begin(rt, src, RAYC__M_FETCH_FAIL, &at);
        rayc__put_oid(b, id);
        rayc__put_i32(b, tag);
        rayc__msg_end(rt, src, at);
        return;
    }
    j->val = v;
    j->dest = src;
    j->tag = tag;
    j->nreqs = n;
    j->next = x->to_send;
    x->to_send = j;
    rayc__progress_wake(rt);
}

static void post_chunks(MPI_Comm comm, int recv, void *data, uint64_t nbytes, int peer, int tag,
                        MPI_Request *reqs)
{
    uint64_t off = 0;
    for (int i = 0; off < nbytes; i++) {
        int len = (int)(nbytes - off < CHUNK ? nbytes - off : CHUNK);
        if (recv)
            MPI_Irecv((char *)data + off, len, MPI_BYTE, peer, tag, comm, &reqs[i]);
        else
            MPI_Isend((char *)data + off, len, MPI_BYTE, peer, tag, comm, &reqs[i]);
        off += (uint64_t)len;
    }
}

/* One-sided: read the block header and the data of f from its holder's window. */
static void post_rgets(rayc__runtime *rt, fetch *f, rayc__block_hdr *h)
{
    MPI_Win win = rayc__store_window(rt);
    MPI_Rget(h, (int)sizeof *h, MPI_BYTE, f->loc, (MPI_Aint)f->off, (int)sizeof *h, MPI_BYTE, win,
             &f->hreq);
    if (h != &f->h1)
        return;
    uint64_t done = 0;
    for (int i = 0; done < f->val->h.nbytes; i++) {
        int len = (int)(f->val->h.nbytes - done < CHUNK ? f->val->h.nbytes - done : CHUNK);
        MPI_Rget((char *)f->val->data + done, len, MPI_BYTE, f->loc,
                 (MPI_Aint)(f->off + RAYC__BLOCK_HDR + (int64_t)done), len, MPI_BYTE, win,
                 &f->reqs[i]);
        done += (uint64_t)len;
    }
}

/* Post reads or receives for new fetches (and send the two-sided requests). */
static int post_fetches(rayc__runtime *rt)
{
    rayc__xfer *x = rt->xfer;
    rayc__lock(rt);
    fetch *list = x->to_post;
    x->to_post = NULL;
    pthread_mutex_unlock(&rt->mu);
    int n = 0;
    for (fetch *f = list, *next; f; f = next, n++) {
        next = f->next;
        if (f->one_sided) {
            post_rgets(rt, f, &f->h1);
            f->stage = 1;
            rayc__lock(rt);
            f->next = x->active;
            x->active = f;
            pthread_mutex_unlock(&rt->mu);
            continue;
        }
        post_chunks(rt->data, 1, f->val->data, f->val->h.nbytes, f->loc, f->tag, f->reqs);
        rayc__lock(rt);
        size_t at;
        rayc__wbuf *b = rayc__msg_begin(rt, f->loc, RAYC__M_FETCH_REQ, &at);
        rayc__put_oid(b, f->id);
        rayc__put_i32(b, f->tag);
        rayc__msg_end(rt, f->loc, at);
        f->next = x->active;
        x->active = f;
        pthread_mutex_unlock(&rt->mu);
    }
    return n;
}

static int header_ok(const fetch *f, const rayc__block_hdr *h)
{
    return h->magic == RAYC__BLOCK_MAGIC && rayc__oid_eq(h->id, f->id) &&
           h->nbytes == f->val->h.nbytes;
}

/* Advance a one-sided fetch. Returns 1 when it is complete (valid copy), 0 while in flight;
 * a mismatch switches it to the two-sided path (re-posted by the caller). */
static int one_sided_step(rayc__runtime *rt, fetch *f, int *repost)
{
    int flag = 0, hflag = 0;
    MPI_Test(&f->hreq, &hflag, MPI_STATUS_IGNORE);
    if (!hflag)
        return 0;
    if (f->stage == 1) {
        MPI_Testall(f->nreqs, f->reqs, &flag, MPI_STATUSES_IGNORE);
        if (!flag) {
            f->hreq = MPI_REQUEST_NULL; /* completed; keep testing the data */
            return 0;
        }
        post_rgets(rt, f, &f->h2);
        f->stage = 2;
        return 0;
    }
    if (header_ok(f, &f->h1) && header_ok(f, &f->h2))
        return 1;
    f->one_sided = 0; /* the block changed under the read: ask the holder instead */
    *repost = 1;
    return 0;
}

/* Complete (or cancel, after FETCH_FAIL) active fetches. */
static int complete_fetches(rayc__runtime *rt)
{
    rayc__xfer *x = rt->xfer;
    int n = 0;
    rayc__lock(rt);
    for (fetch **pp = &x->active; *pp;) {
        fetch *f = *pp;
        int flag = 0, repost = 0;
        if (f->one_sided) {
            flag = one_sided_step(rt, f, &repost);
            if (repost) {
                *pp = f->next;
                f->next = x->to_post;
                x->to_post = f;
                continue;
            }
        } else if (f->failed) {
            for (int i = 0; i < f->nreqs; i++)
                if (f->reqs[i] != MPI_REQUEST_NULL)
                    MPI_Cancel(&f->reqs[i]);
            MPI_Waitall(f->nreqs, f->reqs, MPI_STATUSES_IGNORE);
            flag = 1;
        } else {
            MPI_Testall(f->nreqs, f->reqs, &flag, MPI_STATUSES_IGNORE);
        }
        if (!flag) {
            pp = &f->next;
            continue;
        }
        *pp = f->next;
        fetch_finish(rt, f);
        n++;
    }
    pthread_mutex_unlock(&rt->mu);
    return n;
}

/* Start sends for requests received, and retire completed ones. */
static int run_sends(rayc__runtime *rt)
{
    rayc__xfer *x = rt->xfer;
    rayc__lock(rt);
    sendjob *list = x->to_send;
    x->to_send = NULL;
    pthread_mutex_unlock(&rt->mu);
    int n = 0;
    for (sendjob *j = list, *next; j; j = next, n++) {
        next = j->next;
        post_chunks(rt->data, 0, j->val->data, j->val->h.nbytes, j->dest, j->tag, j->reqs);
        rayc__bells_ring(rt->bells, j->dest); /* the fetcher may sleep while it waits */
        rayc__lock(rt);
        j->next = x->sending;
        x->sending = j;
        pthread_mutex_unlock(&rt->mu);
    }
    rayc__lock(rt);
    for (sendjob **pp = &x->sending; *pp;) {
        sendjob *j = *pp;
        int flag = 0;
        MPI_Testall(j->nreqs, j->reqs, &flag, MPI_STATUSES_IGNORE);
        if (!flag) {
            pp = &j->next;
            continue;
        }
        *pp = j->next;
        rayc__value_unref(j->val);
        free(j->reqs);
        free(j);
        n++;
    }
    pthread_mutex_unlock(&rt->mu);
    return n;
}

int rayc__xfer_progress(rayc__runtime *rt)
{
    rayc__lock(rt);
    int idle = rayc__xfer_idle(rt);
    pthread_mutex_unlock(&rt->mu);
    if (idle)
        return 0;
    return post_fetches(rt) + complete_fetches(rt) + run_sends(rt);
}

int rayc__xfer_idle(rayc__runtime *rt)
{
    rayc__xfer *x = rt->xfer;
    return !x->to_post && !x->active && !x->to_send && !x->sending;
}

int rayc__xfer_create(rayc__runtime *rt)
{
    rt->xfer = calloc(1, sizeof *rt->xfer);
    if (!rt->xfer)
        return rayc__fail(RAYC_ENOMEM, "rayc_init: out of memory");
    rayc__oidmap_init(&rt->xfer->byid, offsetof(fetch, id));
    int *ub = NULL, flag = 0;
    MPI_Comm_get_attr(rt->data, MPI_TAG_UB, &ub, &flag);
    rt->xfer->tag_space = flag && ub && *ub - 1 < TAG_SPACE ? *ub - 1 : TAG_SPACE;
    return 0;
}

void rayc__xfer_destroy(rayc__runtime *rt)
{
    rayc__xfer *x = rt->xfer;
    if (!x)
        return;
    rayc__oidmap_free(&x->byid);
    free(x);
    rt->xfer = NULL;
}
