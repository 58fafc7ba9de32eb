/* task.c: what a task function sees (rayc_task: arguments in, returns out, failure) and how
 * its outcome is published: returns up to the inline threshold travel in the DONE record,
 * larger ones stay in this rank's store and the control service records where. */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raylet_int.h"
#include "status_int.h"
#include "store.h"

_Thread_local struct rayc_task *rayc__cur_task;

void rayc__task_ctx_init(struct rayc_task *ctx, rayc__runtime *rt, rayc__rtask *t)
{
    memset(ctx, 0, offsetof(struct rayc_task, gpu_ids)); /* the arrays after it are not read
                                                          * before they are written */
    ctx->failmsg[0] = '\0';
    ctx->rt = rt;
    ctx->task = t;
    ctx->fn = rayc__registry_at(t->fn);
    ctx->rets = ctx->ret_inline;
    if (t->num_returns > 4 && !(ctx->rets = calloc(t->num_returns, sizeof *ctx->rets))) {
        ctx->rets = ctx->ret_inline;
        ctx->failed = 1;
        ctx->fail_status = RAYC_ENOMEM;
        snprintf(ctx->failmsg, sizeof ctx->failmsg, "out of memory for return slots");
    }
}

void rayc__task_ctx_destroy(struct rayc_task *ctx)
{
    for (uint32_t i = 0; ctx->rets && i < ctx->task->num_returns; i++)
        if (ctx->rets != ctx->ret_inline || i < 4)
            rayc__value_unref(ctx->rets[i]);
    if (ctx->rets != ctx->ret_inline)
        free(ctx->rets);
    free(ctx->created);
}

int rayc__task_call(struct rayc_task *ctx)
{
    if (ctx->failed)
        return ctx->fail_status;
    struct rayc_task *outer = rayc__cur_task;
    rayc__cur_task = ctx;
    rayc__fail_msg(0, ""); /* a failure message must come from this task, not an earlier one */
    int rc = ctx->fn->fn(ctx);
    rayc__cur_task = outer;
    return rc;
}

/* ---------------------------------------------------------------- refs made in a task */

void rayc__task_track_ref(struct rayc_task *t, rayc__oid id)
{
    if (t->ncreated == t->capcreated) {
        int ncap = t->capcreated ? 2 * t->capcreated : 16;
        rayc__oid *p = realloc(t->created, (size_t)ncap * sizeof *p);
        if (!p)
            return; /* the ref then lives until shutdown: a leak, not an error */
        t->created = p;
        t->capcreated = ncap;
    }
    t->created[t->ncreated++] = id;
}

int rayc__task_untrack_ref(struct rayc_task *t, rayc__oid id)
{
    for (int i = t->ncreated - 1; i >= 0; i--)
        if (rayc__oid_eq(t->created[i], id)) {
            t->created[i] = t->created[--t->ncreated];
            return 1;
        }
    return 0;
}

void rayc__task_release_tracked(rayc__runtime *rt, struct rayc_task *t)
{
    if (!t->ncreated)
        return;
    rayc__gmsg m;
    rayc__wbuf *b = rayc__gmsg_begin(rt, &m, RAYC__M_RELEASE);
    rayc__put_u32(b, (uint32_t)t->ncreated);
    for (int i = 0; i < t->ncreated; i++)
        rayc__put_oid(b, t->created[i]);
    rayc__gmsg_end(rt, &m);
    t->ncreated = 0;
}

/* ---------------------------------------------------------------- publishing */

int rayc__publish(rayc__runtime *rt, rayc__oid id, rayc_value *val, int *inline_out,
                  const char *producer)
{
    *inline_out = val->h.nbytes <= rt->inline_threshold;
    if (*inline_out)
        return 0;
    return rayc__store_put_ex(rt, id, val, 1, producer);
}

static void finish_failed(rayc__runtime *rt, struct rayc_task *ctx, rayc__wbuf *b, int rc)
{
    char why[900];
    if (ctx->failed)
        snprintf(why, sizeof why, "%s", ctx->failmsg);
    else if (rc < 0 && rc >= RAYC_ENOSPC && rayc_last_error()[0])
        snprintf(why, sizeof why, "returned %s: %s", rayc_status_name(rc), rayc_last_error());
    else
        snprintf(why, sizeof why, "returned %d", rc);
    char msg[1200];
    snprintf(msg, sizeof msg, "task '%s' failed on rank %d (attempt %d): %s", ctx->fn->name,
             rt->rank, ctx->task->attempt, ctx->task->fetch_error ? ctx->task->fetch_msg : why);
    rayc__put_i32(b, ctx->fail_status ? ctx->fail_status : RAYC_ETASK);
    rayc__put_f64(b, 0);
    rayc__put_str(b, msg);
}

/* Check that every return was set; records a failure otherwise. */
static void check_returns(struct rayc_task *ctx)
{
    for (uint32_t i = 0; i < ctx->task->num_returns && !ctx->failed; i++)
        if (!ctx->rets[i]) {
            ctx->failed = 1;
            ctx->fail_status = RAYC_ETASK;
            snprintf(ctx->failmsg, sizeof ctx->failmsg,
                     "return %u of %u was not set (use rayc_return*)", i,
                     ctx->task->num_returns);
        }
}

/* Publish return i: up to the inline threshold (or when the store refuses it) it goes with
 * the report, as out->val (a new reference); larger ones become a primary copy in this
 * rank's store, out->val NULL and out->hdr/off saying where. */
static void publish_return(rayc__runtime *rt, struct rayc_task *ctx, uint32_t i, rayc__ret *out)
{
    rayc__oid rid = {ctx->task->id.seq, ctx->task->id.rank, i + 1};
    rayc_value *v = ctx->rets[i];
    int is_inline = 1;
    if (rayc__publish(rt, rid, rayc__value_ref(v), &is_inline, ctx->fn->name) != 0)
        is_inline = 1; /* the store refused it (and left our reference): it goes inline */
    out->hdr = v->h;
    out->off = is_inline ? -1 : rayc__store_offset(rt, v);
    out->val = is_inline ? v : NULL; /* the reference taken above goes with it */
}

/* Rank 0: hand the returns to the control service as they are (no record to encode). */
static void done_local(rayc__runtime *rt, struct rayc_task *ctx, double dur)
{
    uint32_t n = ctx->task->num_returns;
    rayc__ret few[4];
    rayc__ret *rets = n <= 4 ? few : malloc(n * sizeof *rets);
    if (!rets) {
        ctx->failed = 1;
        ctx->fail_status = RAYC_ENOMEM;
        snprintf(ctx->failmsg, sizeof ctx->failmsg, "out of memory reporting %u returns", n);
        rayc__task_finish(rt, ctx, RAYC_ENOMEM, dur);
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        publish_return(rt, ctx, i, &rets[i]);
    rayc__gcs_done_local(rt, ctx->task->id, ctx->task->attempt, dur, (uint16_t)n, rets,
                         ctx->task->gt);
    if (rets != few)
        free(rets);
}

void rayc__task_finish(rayc__runtime *rt, struct rayc_task *ctx, int rc, double dur)
{
    rayc__task_release_tracked(rt, ctx);
    if (rc == 0 && !ctx->task->fetch_error)
        check_returns(ctx);
    int ok = rc == 0 && !ctx->failed && !ctx->task->fetch_error;
    if (ok && rt->rank == 0) {
        done_local(rt, ctx, dur);
        return;
    }
    rayc__gmsg m;
    rayc__wbuf *b = rayc__gmsg_begin(rt, &m, RAYC__M_DONE);
    rayc__put_oid(b, ctx->task->id);
    rayc__put_u16(b, ctx->task->attempt);
    if (!ok) {
        if (ctx->task->fetch_error)
            ctx->fail_status = RAYC_EIO;
        finish_failed(rt, ctx, b, rc);
        /* the duration slot was written as 0 by finish_failed; keep ordering simple */
        rayc__gmsg_end(rt, &m);
        return;
    }
    rayc__put_i32(b, 0);
    rayc__put_f64(b, dur);
    rayc__put_u16(b, ctx->task->num_returns);
    for (uint32_t i = 0; i < ctx->task->num_returns; i++) {
        rayc__ret r;
        publish_return(rt, ctx, i, &r);
        rayc__put_u8(b, r.val ? 0 : 1);
        if (r.val) {
            rayc__put_value(b, r.val); /* the record carries a copy */
            rayc__value_unref(r.val);
        } else {
            rayc__put_vhdr(b, &r.hdr);
            rayc__put_u64(b, (uint64_t)r.off);
        }
    }
    rayc__gmsg_end(rt, &m);
}

/* ---------------------------------------------------------------- public task API */

static int bad_task(const rayc_task *t, const char *fn)
{
    if (!t)
        return rayc__fail(RAYC_EINVAL, "%s: NULL task", fn);
    return 0;
}

static void record_failure(rayc_task *t, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void record_failure(rayc_task *t, int status, const char *fmt, ...)
{
    if (t->failed)
        return; /* keep the first reason */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->failmsg, sizeof t->failmsg, fmt, ap);
    va_end(ap);
    t->failed = 1;
    t->fail_status = status;
}

int rayc_task_nargs(const rayc_task *t)
{
    return t ? (int)t->task->nargs : 0;
}

int rayc_task_arg(rayc_task *t, int i, const rayc_value **out)
{
    int rc = bad_task(t, "rayc_task_arg");
    if (rc || !out)
        return rc ? rc : rayc__fail(RAYC_EINVAL, "rayc_task_arg: NULL out");
    if (i < 0 || (uint32_t)i >= t->task->nargs)
        return rayc__fail(RAYC_ERANGE, "rayc_task_arg: '%s' has %u arguments, asked for %d",
                          t->fn->name, t->task->nargs, i);
    *out = t->task->args[i].val;
    return 0;
}

static const rayc_value *arg_or_fail(rayc_task *t, int i, const char *what)
{
    if (!t)
        return NULL;
    if (i < 0 || (uint32_t)i >= t->task->nargs) {
        record_failure(t, RAYC_ERANGE, "%s(%d): the task has %u arguments", what, i,
                       t->task->nargs);
        return NULL;
    }
    return t->task->args[i].val;
}

int64_t rayc_arg_i64(rayc_task *t, int i)
{
    const rayc_value *v = arg_or_fail(t, i, "rayc_arg_i64");
    int64_t out = 0;
    char err[160];
    if (v && rayc__value_to_i64(v, &out, err, sizeof err) != 0) {
        record_failure(t, RAYC_EDTYPE, "argument %d: %s", i, err);
        out = 0;
    }
    return out;
}

double rayc_arg_f64(rayc_task *t, int i)
{
    const rayc_value *v = arg_or_fail(t, i, "rayc_arg_f64");
    double out = 0;
    char err[160];
    if (v && rayc__value_to_f64(v, &out, err, sizeof err) != 0) {
        record_failure(t, RAYC_EDTYPE, "argument %d: %s", i, err);
        out = 0;
    }
    return out;
}

const void *rayc_arg_data(rayc_task *t, int i, rayc_dtype dtype, int64_t *count)
{
    const rayc_value *v = arg_or_fail(t, i, "rayc_arg_data");
    if (!v)
        return NULL;
    if (v->h.dtype != dtype) {
        record_failure(t, RAYC_EDTYPE, "argument %d is %s, expected %s", i,
                       rayc_dtype_name((rayc_dtype)v->h.dtype), rayc_dtype_name(dtype));
        return NULL;
    }
    if (count)
        *count = rayc_value_count(v);
    return v->data;
}

/* Large values are born in the object store (its window, when there is room) so that
 * publishing them copies nothing; small ones on the heap. */
static rayc_value *new_value(rayc__runtime *rt, const rayc__vhdr *h, const void *src)
{
    if (h->nbytes > rt->inline_threshold)
        return rayc__store_new_value(rt, h, src, 0);
    return rayc__value_new(h, src);
}

static int set_return(rayc_task *t, int idx, rayc_value *v)
{
    if ((uint32_t)idx >= t->task->num_returns || idx < 0) {
        rayc__value_unref(v);
        return rayc__fail(RAYC_ERANGE, "return index %d out of range: '%s' has %u returns", idx,
                          t->fn->name, t->task->num_returns);
    }
    rayc__value_unref(t->rets[idx]);
    t->rets[idx] = v;
    return 0;
}

int rayc_return(rayc_task *t, int idx, rayc_arg value)
{
    int rc = bad_task(t, "rayc_return");
    if (rc)
        return rc;
    if (value.kind == RAYC_ARG_REF)
        return rayc__fail(RAYC_EINVAL, "rayc_return: a ref cannot be a return value; "
                                       "return the value itself");
    rayc__vhdr h;
    if ((rc = rayc__arg_check(&value, &h)) != 0)
        return rc;
    rayc_value *v = new_value(t->rt, &h, rayc__arg_data(&value));
    if (!v)
        return rayc__fail(RAYC_ENOMEM, "rayc_return: cannot allocate %" PRIu64 " bytes", h.nbytes);
    return set_return(t, idx, v);
}

int rayc_return_i64(rayc_task *t, int idx, int64_t v)
{
    return rayc_return(t, idx, rayc_i64(v));
}

int rayc_return_f64(rayc_task *t, int idx, double v)
{
    return rayc_return(t, idx, rayc_f64(v));
}

int rayc_return_alloc(rayc_task *t, int idx, rayc_dtype dtype, int ndim, const int64_t *shape,
                      void **data)
{
    int rc = bad_task(t, "rayc_return_alloc");
    if (rc || !data)
        return rc ? rc : rayc__fail(RAYC_EINVAL, "rayc_return_alloc: NULL data");
    rayc__vhdr h;
    if ((rc = rayc__vhdr_make(&h, dtype, ndim, shape)) != 0)
        return rc;
    rayc_value *v = new_value(t->rt, &h, NULL);
    if (!v)
        return rayc__fail(RAYC_ENOMEM, "rayc_return_alloc: cannot allocate %" PRIu64 " bytes",
                          h.nbytes);
    *data = v->data;
    return set_return(t, idx, v);
}

int rayc_task_fail(rayc_task *t, const char *fmt, ...)
{
    if (!t)
        return rayc__fail(RAYC_EINVAL, "rayc_task_fail: NULL task");
    if (!t->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->failmsg, sizeof t->failmsg, fmt ? fmt : "failed", ap);
        va_end(ap);
        t->failed = 1;
        t->fail_status = RAYC_ETASK;
    }
    return RAYC_ETASK;
}

int rayc_task_rank(const rayc_task *t)
{
    return t ? t->rt->rank : -1;
}

const char *rayc_task_name(const rayc_task *t)
{
    return t ? t->fn->name : "";
}

int rayc_task_attempt(const rayc_task *t)
{
    return t ? t->task->attempt : 0;
}

const int *rayc_task_gpu_ids(const rayc_task *t, int *n)
{
    if (n)
        *n = t ? t->ngpus : 0;
    return t && t->ngpus ? t->gpu_ids : NULL;
}
