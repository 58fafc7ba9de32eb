/* gcs_sched.c: dispatch of ready tasks to ranks (rank 0, under rt->mu).
 *
 * Ready tasks wait in per-class FIFO queues (class = function + demand + strategy). A pass
 * walks every class and places its head with sched_policy.c until the policy says WAIT; a
 * class that waits does not block the others. Late binding: a rank takes tasks while its free
 * resources fit, plus a prefetch allowance ("slack") sized from the function's measured run
 * time so that tiny tasks are pipelined; a raylet that cannot start a prefetched task within a
 * few milliseconds hands it back (RAYC__M_RETURNED) and the function loses its allowance, so
 * long tasks are placed only on free workers (greedy list scheduling). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcs_int.h"
#include "log.h"

/* Prefetch allowance in CPU units for the class's next task. */
static void class_slack(rayc__gcs *g, const gclass *c, rayc__resvec *slack)
{
    memset(slack, 0, sizeof *slack);
    fnstat *s = &g->fnstats[c->fn];
    double cpu = c->demand.q[RAYC__RES_CPU];
    if (cpu <= 0)
        return;
    /* Enough queued work to cover about half the raylets' 2 ms hand-back window, from the
     * function's measured run time (2 before any measurement), capped by what hand-backs
     * taught: each quarters the cap; it doubles back every 100 ms without one. */
    double depth = s->n ? 1e-3 / (s->avg > 1e-6 ? s->avg : 1e-6) : 2;
    double now = s->depth_cap < 256 ? rayc__now() : 0; /* the clock only while recovering */
    while (s->depth_cap < 256 && now - s->returned_at > 0.1) {
        s->depth_cap = s->depth_cap < 1 ? 1 : 2 * s->depth_cap;
        s->returned_at += 0.1;
    }
    if (depth > s->depth_cap)
        depth = s->depth_cap;
    slack->q[RAYC__RES_CPU] = (double)(int)depth * cpu;
}

/* Tasks submitted on rank 0 (the driver's, and rank 0 tasks') of a function whose runs
 * typically take under TINY_FN_SECONDS stay on rank 0 while it has room (prefetch included):
 * its queue then holds under a millisecond of them (class_slack), and sending one costs about
 * as much as running a few, while placing one here costs no message at all. Under
 * TRIVIAL_FN_SECONDS they wait for room here rather than go to another rank: placing, sending
 * and completing a task remotely costs rank 0 more than running it. Tasks submitted on other
 * ranks are placed as before (measured: keeping them on their submitter halved
 * multi_client_tasks_async, whose client tasks block while their subtasks run). */
#define TINY_FN_SECONDS 20e-6
#define TRIVIAL_FN_SECONDS 2e-6

/* The home rule for class c (place_req.home: 0, 1 or 2). */
static int home_rule(rayc__gcs *g, const gclass *c)
{
    const fnstat *s = &g->fnstats[c->fn];
    if (c->strategy != RAYC__SCHED_DEFAULT || s->n < 4 || s->typical >= TINY_FN_SECONDS)
        return 0;
    return s->typical < TRIVIAL_FN_SECONDS ? 2 : 1;
}

/* Bytes of t's not-inline ref arguments per holding rank; NULL when there are none. */
static const uint64_t *locality(rayc__gcs *g, const gtask *t, int *touched, int *ntouched)
{
    *ntouched = 0;
    for (uint32_t i = 0; i < t->nargs; i++) {
        if (rayc__oid_is_null(t->args[i].id))
            continue;
        gobj *o = rayc__gobj_find(g, t->args[i].id);
        if (!o || o->val || !o->where)
            continue;
        int loc = o->where->loc;
        if (!g->arg_bytes[loc] && *ntouched < 64)
            touched[(*ntouched)++] = loc;
        g->arg_bytes[loc] += o->where->hdr.nbytes;
    }
    return *ntouched ? g->arg_bytes : NULL;
}

static void encode_task(rayc__runtime *rt, rayc__wbuf *b, const gtask *t)
{
    rayc__put_oid(b, t->id);
    rayc__put_u32(b, t->fn);
    rayc__put_u16(b, t->num_returns);
    rayc__put_u16(b, t->attempt);
    rayc__put_demand(b, &t->cls->demand);
    rayc__put_u32(b, t->nargs);
    for (uint32_t i = 0; i < t->nargs; i++) {
        const garg *a = &t->args[i];
        gobj *o = rayc__oid_is_null(a->id) ? NULL : rayc__gobj_find(rt->gcs, a->id);
        const rayc_value *v = o ? o->val : a->val;
        if (v) {
            rayc__put_u8(b, 1);
            rayc__put_value(b, v);
        } else {
            rayc__vhdr none;
            memset(&none, 0, sizeof none);
            rayc__put_u8(b, 2);
            rayc__put_oid(b, a->id);
            rayc__put_i32(b, o ? rayc__gobj_loc(o) : -1);
            rayc__put_vhdr(b, o ? rayc__gobj_hdr(o) : &none);
            rayc__put_u64(b, (uint64_t)(o ? rayc__gobj_off(o) : -1));
        }
    }
}

/* Build the raylet's view of t without encoding (dispatch to rank 0's own raylet). */
static rayc__rtask *local_task(rayc__runtime *rt, gtask *t)
{
    rayc__rtask *rt_task = rayc__rtask_new(rt->raylet, t->nargs);
    if (!rt_task)
        return NULL;
    rt_task->gt = t; /* lives until this attempt's DONE or RETURNED (gcs.c) */
    rt_task->id = t->id;
    rt_task->fn = t->fn;
    rt_task->num_returns = t->num_returns;
    rt_task->attempt = t->attempt;
    rt_task->demand = t->cls->demand;
    for (uint32_t i = 0; i < t->nargs; i++) {
        const garg *a = &t->args[i];
        gobj *o = rayc__oid_is_null(a->id) ? NULL : rayc__gobj_find(rt->gcs, a->id);
        rayc_value *v = o ? o->val : a->val;
        rt_task->args[i].id = a->id;
        if (v) {
            rt_task->args[i].val = rayc__value_ref(v);
        } else {
            rt_task->args[i].loc = o ? rayc__gobj_loc(o) : -1;
            rt_task->args[i].off = o ? rayc__gobj_off(o) : -1;
            if (o)
                rt_task->args[i].hdr = *rayc__gobj_hdr(o);
        }
    }
    return rt_task;
}

static void dispatch(rayc__runtime *rt, gtask *t, int rank)
{
    rayc__gcs *g = rt->gcs;
    t->rank = rank;
    t->state = RAYC_TASK_SUBMITTED_TO_WORKER;
    rayc__charge(&g->view, rank, &t->cls->demand);
    if (rank == rt->rank) {
        rayc__rtask *lt = local_task(rt, t);
        if (lt) {
            rayc__raylet_enqueue(rt, lt);
            return;
        }
        rayc__uncharge(&g->view, rank, &t->cls->demand);
        rayc__task_fail_all(rt, t, "out of memory dispatching a task");
        return;
    }
    size_t at;
    rayc__wbuf *b = rayc__msg_begin(rt, rank, RAYC__M_TASK, &at);
    encode_task(rt, b, t);
    rayc__msg_end(rt, rank, at);
}

static void fail_infeasible(rayc__runtime *rt, gtask *t)
{
    char msg[256];
    const rayc__resvec *d = &t->cls->demand;
    int hard = t->cls->strategy == RAYC__SCHED_AFFINITY && !t->cls->soft;
    snprintf(msg, sizeof msg,
             "task '%s' is infeasible: %s can ever provide %g CPU, %g GPU, %g bytes of memory",
             rayc__registry_at(t->fn)->name, hard ? "its hard-affinity rank never" : "no rank",
             d->q[RAYC__RES_CPU], d->q[RAYC__RES_GPU], d->q[RAYC__RES_MEM]);
    rayc__task_fail_all(rt, t, msg);
}

/* Place tasks of one class until it must wait. Returns tasks dispatched. A class whose head
 * had to wait is not tried again until some rank's avail grew (the view's epoch moved), unless
 * its prefetch allowance is recovering (class_slack grows with time then): nothing else
 * that placement reads changes in between, and entering each submission of a burst would
 * otherwise cost a futile placement. */
static int schedule_class(rayc__runtime *rt, gclass *c)
{
    rayc__gcs *g = rt->gcs;
    int touched[64], ntouched, n = 0;
    if (c->waits_for == g->view.epoch + 1 && g->fnstats[c->fn].depth_cap >= 256)
        return 0;
    c->waits_for = 0;
    rayc__place_req req;
    memset(&req, 0, sizeof req);
    req.demand = c->demand;
    req.strategy = c->strategy;
    req.affinity_rank = c->affinity;
    req.affinity_soft = c->soft;
    class_slack(g, c, &req.slack); /* one figure for the pass: no run ends during it */
    while (c->head) {
        gtask *t = c->head;
        req.arg_bytes = locality(g, t, touched, &ntouched);
        req.home = req.arg_bytes || (int)t->id.rank != rt->rank ? 0 : home_rule(g, c);
        req.home_rank = rt->rank;
        int rank = -1;
        int rc = rayc__place(&g->view, &req, &rank);
        for (int i = 0; i < ntouched; i++)
            g->arg_bytes[touched[i]] = 0;
        if (rc == RAYC__PLACE_WAIT) {
            c->waits_for = g->view.epoch + 1;
            break;
        }
        rayc__class_pop(g, c);
        if (rc == RAYC__PLACE_INFEASIBLE) {
            fail_infeasible(rt, t);
            continue;
        }
        dispatch(rt, t, rank);
        n++;
    }
    return n;
}

void rayc__gcs_schedule(rayc__runtime *rt)
{
    rayc__gcs *g = rt->gcs;
    if (!g->sched_dirty || g->pfail_running || g->sched_hold)
        return;
    g->sched_dirty = 0;
    if (atomic_load(&rt->state) != RAYC__ST_RUNNING)
        return;
    for (gclass *c = g->classes; c; c = c->next_all)
        if (c->head)
            schedule_class(rt, c);
    rayc__pending_fail_run(rt);
}

void rayc__gcs_hold_schedule(rayc__gcs *g, int hold)
{
    g->sched_hold += hold ? 1 : -1;
}
