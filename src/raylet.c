/* raylet.c: the local scheduler of every rank: a queue of tasks whose arguments are here, a
 * resource pool (CPU, GPU ids, memory, custom), worker threads, and the local object store.
 *
 * Threads: workers wait on ray->cv for a task whose demand fits the free resources, run it
 * without rt->mu, then publish results and report DONE. The progress thread hands in tasks
 * (RAYC__M_TASK), completes argument fetches and calls rayc__raylet_tick to hand back tasks
 * that waited too long for resources (prefetch spillback).
 * A worker blocked in get/wait inside a task gives its CPUs back (rayc__raylet_block), and a
 * new worker thread starts when a task could run but no worker is idle (up to max_workers),
 * so nested task trees cannot deadlock on a small allocation.
 * Every task taken in ends in exactly one DONE or RETURNED record, until shutdown drains. */
#include "config.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "oidmap.h"
#include "raylet_int.h"
#include "rt.h"
#include "status_int.h"

#define SPILLBACK_AFTER 0.002 /* seconds a runnable task may wait for resources */
/* A worker that starts a task wakes another for the rest of the queue when one of its first
 * KICK_SCAN tasks could start too. A deeper scan per start costs more than it finds: a task
 * queued behind that many that cannot start was kicked for when it came, and the worker takes
 * it itself when it looks for its next task. */
#define KICK_SCAN 32

/* ---------------------------------------------------------------- tasks in */

void rayc__rtask_free(rayc__raylet *ray, rayc__rtask *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->nargs; i++)
        rayc__value_unref(t->args[i].val);
    for (uint32_t i = 0; i < RAYC__DONEQ_RETS; i++)
        rayc__value_unref(t->ret[i]);
    free(t->fetch_msg);
    if (t->nargs < RAYC__RTASK_POOLS)
        rayc__slab_free(&ray->rtask_pool[t->nargs], t);
    else
        free(t);
}

rayc__rtask *rayc__rtask_new(rayc__raylet *ray, uint32_t nargs)
{
    rayc__rtask *t = nargs < RAYC__RTASK_POOLS
                         ? rayc__slab_alloc(&ray->rtask_pool[nargs])
                         : calloc(1, sizeof *t + (size_t)nargs * sizeof(rayc__rarg));
    if (!t)
        return NULL;
    t->nargs = nargs;
    t->args = nargs ? (rayc__rarg *)(t + 1) : NULL; /* arguments follow the record */
    return t;
}

rayc__rtask *rayc__rtask_decode(rayc__raylet *ray, rayc__rbuf *r)
{
    rayc__oid id = rayc__get_oid(r);
    uint32_t fn = rayc__get_u32(r);
    uint16_t num_returns = rayc__get_u16(r), attempt = rayc__get_u16(r);
    rayc__resvec demand;
    rayc__get_demand(r, &demand);
    uint32_t nargs = rayc__get_u32(r);
    if (r->err || nargs > r->len || !rayc__registry_at(fn))
        return NULL;
    rayc__rtask *t = rayc__rtask_new(ray, nargs);
    if (!t)
        return NULL;
    t->id = id;
    t->fn = fn;
    t->num_returns = num_returns;
    t->attempt = attempt;
    t->demand = demand;
    for (uint32_t i = 0; i < t->nargs; i++) {
        int oom;
        uint8_t kind = rayc__get_u8(r);
        if (kind == 1) {
            t->args[i].val = rayc__get_value(r, &oom);
            if (!t->args[i].val)
                goto fail;
        } else {
            t->args[i].id = rayc__get_oid(r);
            t->args[i].loc = rayc__get_i32(r);
            rayc__get_vhdr(r, &t->args[i].hdr);
            t->args[i].off = (int64_t)rayc__get_u64(r);
        }
        if (r->err)
            goto fail;
    }
    return t;
fail:
    rayc__rtask_free(ray, t);
    return NULL;
}

static void send_returned(rayc__runtime *rt, rayc__rtask *t);
static void kick(rayc__runtime *rt, const rayc__rtask *t, int scan);

/* Make the task runnable: into the ready queue, and wake or start a worker. */
static void make_ready(rayc__runtime *rt, rayc__rtask *t)
{
    rayc__raylet *ray = rt->raylet;
    if (ray->halted) { /* the job stopped while its arguments were on their way */
        send_returned(rt, t);
        return;
    }
    t->next = NULL;
    t->queued_at = rayc__now();
    if (ray->ready_tail)
        ray->ready_tail->next = t;
    else
        ray->ready_head = t;
    ray->ready_tail = t;
    ray->nready++;
    atomic_fetch_add_explicit(&ray->ready_gen, 1, memory_order_release);
    kick(rt, t, 0);
}

static void arg_fetched(rayc__runtime *rt, void *ctx, rayc_value *val, const char *err)
{
    rayc__rarg *a = ctx;
    rayc__rtask *t = a->owner;
    a->owner = NULL;
    if (val) {
        a->val = val;
    } else if (!t->fetch_error) {
        t->fetch_error = 1;
        t->fetch_msg = strdup(err ? err : "fetch failed");
    }
    if (--t->missing == 0)
        make_ready(rt, t);
}

void rayc__raylet_enqueue(rayc__runtime *rt, rayc__rtask *t)
{
    rayc__raylet *ray = rt->raylet;
    if (ray->draining) {
        rayc__rtask_free(rt->raylet, t);
        return;
    }
    t->missing = 1; /* held until every fetch has been started */
    for (uint32_t i = 0; i < t->nargs; i++) {
        rayc__rarg *a = &t->args[i];
        if (a->val)
            continue;
        if ((a->val = rayc__store_get(rt, a->id))) /* made here, or a cached copy */
            continue;
        a->owner = t;
        t->missing++;
        if (rayc__fetch(rt, a->id, a->loc, a->off, &a->hdr, arg_fetched, a) != 0)
            arg_fetched(rt, a, NULL, rayc_last_error());
    }
    if (--t->missing == 0)
        make_ready(rt, t);
}

/* ---------------------------------------------------------------- resources */

/* GPUs are handed out as ids: a request >= 1 takes that many whole free GPUs (rounded up);
 * a fraction below 1 shares one GPU with other fractional tasks. */
static int gpu_plan(const rayc__raylet *ray, double want, int *slots, double *share)
{
    int whole = want >= 1 ? (int)(want + 0.999999) : 0, n = 0;
    *share = want >= 1 ? 1.0 : want;
    if (want <= 1e-9)
        return 0;
    for (int i = 0; i < ray->ngpus && (whole ? n < whole : n < 1); i++)
        if (ray->gpu_used[i] + *share <= 1.0 + 1e-9)
            slots[n++] = i;
    return n == (whole ? whole : 1) ? n : -1;
}

static int fits(rayc__raylet *ray, const rayc__rtask *t)
{
    int slots[RAYC__MAX_GPUS];
    double share;
    return rayc__res_fits(&ray->avail, &t->demand) &&
           gpu_plan(ray, t->demand.q[RAYC__RES_GPU], slots, &share) >= 0;
}

static void take_gpus(rayc__raylet *ray, struct rayc_task *ctx, double want)
{
    int n = gpu_plan(ray, want, ctx->gpu_slot, &ctx->gpu_share);
    ctx->ngpus = n > 0 ? n : 0;
    for (int k = 0; k < ctx->ngpus; k++) {
        ray->gpu_used[ctx->gpu_slot[k]] += ctx->gpu_share;
        ctx->gpu_ids[k] = ray->gpu_ids[ctx->gpu_slot[k]];
    }
}

static void give_gpus(rayc__raylet *ray, struct rayc_task *ctx)
{
    for (int k = 0; k < ctx->ngpus; k++)
        ray->gpu_used[ctx->gpu_slot[k]] -= ctx->gpu_share;
    ctx->ngpus = 0;
}

/* First queued task that fits now (removed from the queue), or NULL. */
static rayc__rtask *take_runnable(rayc__raylet *ray)
{
    rayc__rtask *prev = NULL;
    for (rayc__rtask *t = ray->ready_head; t; prev = t, t = t->next) {
        if (!t->fetch_error && !fits(ray, t))
            continue;
        if (prev)
            prev->next = t->next;
        else
            ray->ready_head = t->next;
        if (ray->ready_tail == t)
            ray->ready_tail = prev;
        ray->nready--;
        t->next = NULL;
        return t;
    }
    return NULL;
}

/* 1 when one of the first scan queued tasks (0: all) could start now. */
static int has_runnable(rayc__raylet *ray, int scan)
{
    int n = 0;
    for (rayc__rtask *t = ray->ready_head; t && (!scan || n < scan); t = t->next, n++)
        if (t->fetch_error || fits(ray, t))
            return 1;
    return 0;
}

static void *worker_main(void *arg);
static void batch_hand_back(rayc__runtime *rt);
static int run_task(rayc__runtime *rt, rayc__rtask *t, int may_queue);

/* Wake an idle worker, or start one, when a queued task could run: t when given (a task just
 * made ready; those queued before it were kicked for when they came), else one of the first
 * scan queued tasks (0: all). Caller holds rt->mu. */
static void kick(rayc__runtime *rt, const rayc__rtask *t, int scan)
{
    rayc__raylet *ray = rt->raylet;
    /* A spinning worker sees ready_gen move and takes the task itself. A worker still
     * starting will take one (and kick again after it): start one at a time so that a burst
     * of submissions does not start a thread per task. Decide whether anything could be done
     * before scanning the queue: this runs for every task made ready. */
    int can_wake = ray->nidle > ray->nwaking;
    /* A new thread only when every worker is inside a task (some blocked in get, their CPUs
     * given back): a worker between tasks, or woken and not yet running, takes the work. */
    int can_start = ray->nworkers < ray->max_workers && ray->nstarting == 0 &&
                    ray->nrunning >= ray->nworkers;
    if (ray->draining || !ray->ready_head || atomic_load(&ray->nspinning) > 0 ||
        (!can_wake && !can_start))
        return;
    if (!(t ? t->fetch_error || fits(ray, t) : has_runnable(ray, scan)))
        return;
    if (can_wake) {
        ray->nwaking++;
        pthread_cond_signal(&ray->cv);
        return;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    ray->nworkers++;
    ray->nstarting++;
    if (pthread_create(&th, &attr, worker_main, rt) != 0) {
        ray->nworkers--;
        ray->nstarting--;
        RAYC_LOG(RAYC__LOG_WARN, "cannot start another worker thread (%d running)",
                 ray->nworkers);
    }
    pthread_attr_destroy(&attr);
}

void rayc__raylet_kick(rayc__runtime *rt)
{
    kick(rt, NULL, 0);
}

void rayc__raylet_block(rayc__runtime *rt, int blocked)
{
    rayc__raylet *ray = rt->raylet;
    struct rayc_task *ctx = rayc__cur_task;
    if (!ctx)
        return;
    if (blocked)
        batch_hand_back(rt);
    rayc__resvec d;
    memset(&d, 0, sizeof d);
    d.q[RAYC__RES_CPU] = ctx->task->demand.q[RAYC__RES_CPU];
    if (d.q[RAYC__RES_CPU] <= 0)
        return;
    if (blocked) {
        rayc__res_add(&ray->avail, &d);
    } else {
        rayc__res_sub(&ray->avail, &d);
        d.q[RAYC__RES_CPU] = -d.q[RAYC__RES_CPU];
    }
    rayc__gmsg m;
    rayc__put_demand(rayc__gmsg_begin(rt, &m, RAYC__M_RES_DELTA), &d);
    rayc__gmsg_end(rt, &m);
    if (blocked)
        rayc__raylet_kick(rt);
}

/* Hand task t back to the control service (it is not started here) and free it. */
static void send_returned(rayc__runtime *rt, rayc__rtask *t)
{
    rayc__gmsg m;
    rayc__wbuf *b = rayc__gmsg_begin(rt, &m, RAYC__M_RETURNED);
    rayc__put_oid(b, t->id);
    rayc__put_u16(b, t->attempt);
    rayc__gmsg_end(rt, &m);
    rayc__rtask_free(rt->raylet, t);
}

/* A worker blocked in get/wait while the worker cap is reached: hand it a runnable task to
 * run inline, so that nested task trees finish whatever the cap. NULL when not at the cap or
 * nothing can run. Caller holds rt->mu. */
rayc__rtask *rayc__raylet_take_for_helper(rayc__runtime *rt)
{
    rayc__raylet *ray = rt->raylet;
    if (ray->draining || ray->nworkers < ray->max_workers)
        return NULL;
    return take_runnable(ray);
}

/* Hand every queued (not started) task back to the control service: on a stop signal it
 * cancels them rather than re-queueing. Caller holds rt->mu. */
void rayc__raylet_halt(rayc__runtime *rt)
{
    rayc__raylet *ray = rt->raylet;
    ray->halted = 1;
    while (ray->ready_head) {
        rayc__rtask *t = ray->ready_head;
        ray->ready_head = t->next;
        ray->nready--;
        send_returned(rt, t);
    }
    ray->ready_tail = NULL;
}

/* ---------------------------------------------------------------- spillback */

#define STARTED_AFTER 1e-3 /* tasks that run longer are reported RUNNING */

#define SHORT_RUN 50e-6 /* a function whose runs here average below this is short */
#define RUNS_LEARN 4     /* runs measured before a function counts as short or is batched */

static int fn_short(const rayc__raylet *ray, uint32_t fn)
{
    return fn < (uint32_t)ray->nfn && ray->fnrun[fn].n >= RUNS_LEARN && ray->fnrun[fn].avg < SHORT_RUN;
}

/* 1 when tasks run and every one is of a short function. */
static int all_running_short(const rayc__raylet *ray)
{
    if (!ray->running)
        return 0;
    for (const rayc__rtask *t = ray->running; t; t = t->run_next)
        if (!fn_short(ray, t->fn))
            return 0;
    return 1;
}

int rayc__raylet_tick(rayc__runtime *rt, double now)
{
    rayc__raylet *ray = rt->raylet;
    int n = 0;
    /* Short tasks end before anyone could ask; only longer ones are worth a STARTED. */
    for (rayc__rtask *t = ray->running; t; t = t->run_next)
        if (!t->started_reported && now - t->started_at >= STARTED_AFTER) {
            t->started_reported = 1;
            rayc__gmsg m;
            rayc__put_oid(rayc__gmsg_begin(rt, &m, RAYC__M_STARTED), t->id);
            rayc__gmsg_end(rt, &m);
            n++;
        }
    /* Hand back queued tasks only when this raylet is stalled (no task started for the
     * spillback time: its workers are held by long tasks), not while it works through a
     * deep queue of short ones, nor when what runs is known to be short (then its workers
     * were not given a CPU for a while: an oversubscribed node or a preempted VM, and the
     * queue moves again as soon as they are). */
    if (ray->draining || now - ray->last_start < SPILLBACK_AFTER || all_running_short(ray))
        return n;
    rayc__rtask **pp = &ray->ready_head, *prev = NULL;
    while (*pp) {
        rayc__rtask *t = *pp;
        if (now - t->queued_at < SPILLBACK_AFTER || t->fetch_error || fits(ray, t)) {
            prev = t;
            pp = &t->next;
            continue;
        }
        *pp = t->next;
        if (ray->ready_tail == t)
            ray->ready_tail = prev;
        ray->nready--;
        RAYC_LOG(RAYC__LOG_DEBUG, "spillback seq %llu", (unsigned long long)t->id.seq);
        send_returned(rt, t);
        n++;
    }
    return n;
}

/* ---------------------------------------------------------------- workers */

#define WORKER_SPIN_SECONDS 50e-6

/* An idle worker polls for new runnable tasks for a short while before it sleeps: a driver
 * submitting tasks one by one then costs no futex wake-up and context switch per task.
 * Called without rt->mu, counted in nspinning, with gen the ready counter when this worker
 * last looked at the queue; returns with rt->mu held, 1 when something may have become
 * runnable. */
static int spin_unlocked(rayc__runtime *rt, unsigned gen)
{
    rayc__raylet *ray = rt->raylet;
    double t0 = rayc__now();
    int seen = 0;
    for (int i = 0; !seen; i++) {
        seen = atomic_load_explicit(&ray->ready_gen, memory_order_acquire) != gen;
        if ((i & 63) == 63 && rayc__now() - t0 > WORKER_SPIN_SECONDS)
            break;
        rayc__cpu_relax();
    }
    rayc__lock(rt);
    atomic_fetch_sub(&ray->nspinning, 1);
    /* Work that came as we stopped spinning (kicks saw us spinning and left it to us): look
     * again rather than sleep on it. */
    return seen || has_runnable(ray, 0);
}

/* The same, called with rt->mu held. */
static int spin_for_work(rayc__runtime *rt)
{
    rayc__raylet *ray = rt->raylet;
    if (ray->stop || ray->draining)
        return 0;
    unsigned gen = atomic_load_explicit(&ray->ready_gen, memory_order_acquire);
    atomic_fetch_add(&ray->nspinning, 1);
    pthread_mutex_unlock(&rt->mu);
    return spin_unlocked(rt, gen);
}

/* ---------------------------------------------------------------- batches */

/* A worker that finds several queued tasks of one short function runs them back to back
 * from one lock hold: it takes them together, runs them without rt->mu, and ends them all
 * under one lock hold (one placement pass for what they freed). A task of a few
 * microseconds otherwise costs more in lock hand-overs and clock reads than in running.
 * The batch holds one task's resources (it is one worker's sequential work), takes at most
 * a fair share of the queue (the other workers' part is left), and only functions whose runs
 * here averaged under BATCH_SHORT are batched, so long tasks still go one per free worker.
 * A batched task that blocks in get/wait hands the batch's tasks not yet started back to the
 * head of the queue (rayc__raylet_block), so nothing waits behind a blocked task. */
#define BATCH_MAX 16
#define BATCH_SHORT 20e-6 /* seconds */
static_assert(BATCH_SHORT <= SHORT_RUN, "a batch holds only functions short for spillback");

typedef struct wbatch {
    rayc__rtask **task;
    int n;    /* tasks in the batch (lowered when unstarted ones are handed back) */
    int next; /* the first not started */
} wbatch;

static _Thread_local wbatch *cur_batch; /* the batch this worker is running, or NULL */

/* Record one run of fn that took dur seconds (caller holds rt->mu). */
static void note_run(rayc__raylet *ray, uint32_t fn, double dur)
{
    if (fn >= (uint32_t)ray->nfn)
        return;
    struct rayc__fnrun *f = &ray->fnrun[fn];
    f->avg = f->n ? f->avg + (dur - f->avg) / 8 : dur;
    if (f->n < UINT32_MAX)
        f->n++;
}

static int batchable(const rayc__raylet *ray, const rayc__rtask *t)
{
    if (t->fetch_error || t->demand.q[RAYC__RES_GPU] > 1e-9 || t->fn >= (uint32_t)ray->nfn)
        return 0;
    const struct rayc__fnrun *f = &ray->fnrun[t->fn];
    return f->n >= RUNS_LEARN && f->avg < BATCH_SHORT;
}

/* first (just taken) and the tasks queued right behind it that can share its run: the same
 * function and demand, up to a fair share of the queue. Returns how many are in out. */
static int take_batch(rayc__raylet *ray, rayc__rtask *first, rayc__rtask **out)
{
    out[0] = first;
    if (ray->stop || ray->draining || !batchable(ray, first))
        return 1;
    uint32_t share = ray->nready / (uint32_t)(ray->nworkers > 0 ? ray->nworkers : 1);
    int max = share + 1 < BATCH_MAX ? (int)share + 1 : BATCH_MAX, n = 1;
    while (n < max && ray->ready_head) {
        rayc__rtask *t = ray->ready_head;
        if (t->fn != first->fn || t->fetch_error ||
            memcmp(&t->demand, &first->demand, sizeof t->demand) != 0)
            break;
        ray->ready_head = t->next;
        if (!ray->ready_head)
            ray->ready_tail = NULL;
        ray->nready--;
        t->next = NULL;
        out[n++] = t;
    }
    return n;
}

static void running_add(rayc__raylet *ray, rayc__rtask *t, double now)
{
    t->started_at = now;
    t->run_prev = NULL;
    t->run_next = ray->running;
    if (ray->running)
        ray->running->run_prev = t;
    ray->running = t;
}

static void running_del(rayc__raylet *ray, rayc__rtask *t)
{
    if (t->run_prev)
        t->run_prev->run_next = t->run_next;
    else
        ray->running = t->run_next;
    if (t->run_next)
        t->run_next->run_prev = t->run_prev;
    t->run_prev = t->run_next = NULL;
}

/* A batched task blocks: its batch's unstarted tasks go back to the head of the queue, in
 * order, for any worker. Caller holds rt->mu. */
static void batch_hand_back(rayc__runtime *rt)
{
    rayc__raylet *ray = rt->raylet;
    wbatch *b = cur_batch;
    if (!b || b->next >= b->n)
        return;
    for (int i = b->n - 1; i >= b->next; i--) {
        rayc__rtask *t = b->task[i];
        running_del(ray, t);
        t->next = ray->ready_head;
        ray->ready_head = t;
        if (!ray->ready_tail)
            ray->ready_tail = t;
        ray->nready++;
    }
    b->n = b->next;
    atomic_fetch_add_explicit(&ray->ready_gen, 1, memory_order_release);
}

/* Run the batch task[0..n) (caller holds rt->mu; held again on return). */
static void run_batch(rayc__runtime *rt, rayc__rtask **task, int n)
{
    rayc__raylet *ray = rt->raylet;
    struct rayc_task ctx[BATCH_MAX];
    int rc[BATCH_MAX];
    double dur[BATCH_MAX];
    rayc__resvec demand = task[0]->demand; /* every task of the batch has this demand */
    rayc__res_sub(&ray->avail, &demand);
    ray->nrunning++;
    if (ray->ready_head)
        kick(rt, NULL, KICK_SCAN); /* more could run: wake or start the next worker */
    double t = rayc__now();
    ray->last_start = t;
    for (int i = n - 1; i >= 0; i--)
        running_add(ray, task[i], t);
    wbatch b = {task, n, 0};
    cur_batch = &b;
    pthread_mutex_unlock(&rt->mu);
    t = rayc__now(); /* run times leave the unlock out (a futex wake-up under contention) */

    for (int i = 0; i < b.n; i++) { /* b.n drops if a task hands the rest back */
        b.next = i + 1;
        rayc__task_ctx_init(&ctx[i], rt, task[i]);
        rc[i] = rayc__task_call(&ctx[i]);
        double t1 = rayc__now();
        dur[i] = t1 - t;
        t = t1;
    }
    cur_batch = NULL;

    rayc__lock(rt);
    rayc__res_add(&ray->avail, &demand);
    ray->nrunning--;
    rayc__gcs *g = rt->gcs;
    if (g)
        rayc__gcs_hold_schedule(g, 1); /* one placement pass for the whole batch */
    for (int i = 0; i < b.n; i++) {
        running_del(ray, task[i]);
        ray->ntasks_run++;
        note_run(ray, task[i]->fn, dur[i]);
        rayc__task_finish(rt, &ctx[i], rc[i], dur[i]);
        rayc__task_ctx_destroy(&ctx[i]);
        rayc__rtask_free(rt->raylet, task[i]);
    }
    if (g) {
        rayc__gcs_hold_schedule(g, 0);
        rayc__gcs_schedule(rt);
    }
    if (ray->draining && ray->nrunning == 0)
        rayc__progress_wake(rt);
}

static void *worker_main(void *arg)
{
    rayc__runtime *rt = arg;
    rayc__raylet *ray = rt->raylet;
    char role[16];
    rayc__lock(rt);
    int me = ray->next_worker_id++;
    ray->nstarting--;
    snprintf(role, sizeof role, "worker%d", me);
    rayc__log_set_role(role);
    int spun = 0; /* just polled for work after queueing a completion */
    for (;;) {
        /* Submissions queued while this worker held the lock (their submitter only tried
         * it, submitq.c): enter them before looking for work. */
        if (rayc__submitq_pending(rt))
            rayc__submitq_flush(rt);
        rayc__rtask *t = ray->stop ? NULL : take_runnable(ray);
        if (!t && ray->stop)
            break;
        if (!t) {
            int again = spun ? 0 : spin_for_work(rt);
            spun = 0;
            if (again || ray->stop) /* stop may have come while it spun */
                continue;
            ray->nidle++;
            pthread_cond_wait(&ray->cv, &rt->mu);
            ray->nidle--;
            if (ray->nwaking)
                ray->nwaking--;
            continue;
        }
        rayc__rtask *batch[BATCH_MAX];
        int nbatch = take_batch(ray, t, batch);
        if (nbatch > 1) {
            run_batch(rt, batch, nbatch);
            continue;
        }
        unsigned gen = atomic_load_explicit(&ray->ready_gen, memory_order_acquire);
        if (run_task(rt, t, 1)) { /* its completion was queued: rt->mu is not held */
            spun = !spin_unlocked(rt, gen);
            continue;
        }
        if (ray->nworkers > ray->base_workers && !has_runnable(ray, 0))
            break; /* an extra worker started while others blocked: retire when idle */
    }
    ray->nworkers--;
    pthread_cond_broadcast(&ray->exit_cv);
    pthread_mutex_unlock(&rt->mu);
    rayc__thread_exit();
    return NULL;
}

/* Undo the start of task t (resources, running list) once it has ended. Caller holds rt->mu. */
static void task_ended(rayc__raylet *ray, rayc__rtask *t, int charged)
{
    if (charged)
        rayc__res_add(&ray->avail, &t->demand);
    ray->nrunning--;
    ray->ntasks_run++;
    running_del(ray, t);
}

/* Rank 0's completion queue. A worker whose task ended well, with a few small returns, no
 * GPUs and no refs left to release, pushes the task here without rt->mu, and when a client
 * polls for results (rt->npolling) it leaves the rest to the next lock holder (rayc__lock):
 * the polling client, whose caches hold the control service's records, enters it and sees
 * its result at once, and the worker goes back to polling for work without taking the lock
 * from under it. With no poller the worker takes rt->mu and enters the queue itself. The
 * queue is a stack (push with compare-and-swap, drain by taking it all); every lock holder
 * drains it before reading the raylet or the control service, so no one sees a state without
 * a completion pushed before. */
static int completion_queueable(rayc__runtime *rt, const struct rayc_task *ctx, int rc)
{
    const rayc__rtask *t = ctx->task;
    if (rt->rank != 0 || rc != 0 || ctx->failed || t->fetch_error || ctx->ngpus ||
        ctx->ncreated || t->num_returns > RAYC__DONEQ_RETS)
        return 0;
    for (uint32_t i = 0; i < t->num_returns; i++)
        if (!ctx->rets[i] || ctx->rets[i]->h.nbytes > rt->inline_threshold)
            return 0;
    return 1;
}

static void completion_push(rayc__runtime *rt, rayc__rtask *t)
{
    rayc__rtask *head = atomic_load_explicit(&rt->doneq, memory_order_relaxed);
    do
        t->next = head;
    while (!atomic_compare_exchange_weak(&rt->doneq, &head, t));
}

void rayc__raylet_drain_done(rayc__runtime *rt)
{
    rayc__raylet *ray = rt->raylet;
    rayc__rtask *t = atomic_exchange(&rt->doneq, NULL), *fifo = NULL;
    while (t) { /* oldest first */
        rayc__rtask *next = t->next;
        t->next = fifo;
        fifo = t;
        t = next;
    }
    for (t = fifo; t; t = fifo) {
        fifo = t->next;
        task_ended(ray, t, 1);
        note_run(ray, t->fn, t->dur);
        rayc__ret rets[RAYC__DONEQ_RETS];
        for (uint32_t i = 0; i < t->num_returns; i++) {
            rets[i].val = t->ret[i]; /* the reference goes to the control service */
            rets[i].off = -1;
            rets[i].hdr = t->ret[i]->h;
            t->ret[i] = NULL;
        }
        rayc__gcs_done_local(rt, t->id, t->attempt, t->dur, t->num_returns, rets, t->gt);
        rayc__rtask_free(rt->raylet, t);
    }
    if (ray->draining && ray->nrunning == 0)
        rayc__progress_wake(rt);
}

/* Start a task: charge resources, run it, publish what it returned. Caller holds rt->mu; a
 * caller other than a worker's loop kicks afterwards for what the freed resources allow. */
void rayc__raylet_run(rayc__runtime *rt, rayc__rtask *t)
{
    run_task(rt, t, 0);
}

/* rayc__raylet_run; with may_queue, a completion that can go through the completion queue
 * while a client polls returns 1 without rt->mu held (the worker then spins for work). */
static int run_task(rayc__runtime *rt, rayc__rtask *t, int may_queue)
{
    rayc__raylet *ray = rt->raylet;
    struct rayc_task ctx;
    rayc__task_ctx_init(&ctx, rt, t);
    int charged = !t->fetch_error;
    if (charged) {
        rayc__res_sub(&ray->avail, &t->demand);
        take_gpus(ray, &ctx, t->demand.q[RAYC__RES_GPU]);
    }
    ray->nrunning++;
    int more = ray->ready_head != NULL;
    if (more)
        kick(rt, NULL, KICK_SCAN); /* more could run: wake or start the next worker first */
    RAYC_LOG(RAYC__LOG_DEBUG, "start seq %llu", (unsigned long long)t->id.seq);
    double t0 = rayc__now();
    ray->last_start = t0;
    running_add(ray, t, t0); /* reported as RUNNING by rayc__raylet_tick if it lasts */
    pthread_mutex_unlock(&rt->mu);
    t0 = rayc__now(); /* the run time leaves the unlock out (a futex wake-up under
                       * contention), as the placement rules for microsecond functions read it */

    int rc = t->fetch_error ? RAYC_EIO : rayc__task_call(&ctx);
    double dur = rayc__now() - t0;

    /* No kick after a task: a worker takes the next task itself and kicks only when more
     * could run (kicking first would start a thread for the task this worker is about to
     * take). */
    /* A worker that had nothing queued behind this task leaves its completion to a polling
     * client and polls for work; one with more queued takes the lock for it anyway. */
    if (may_queue && !more && completion_queueable(rt, &ctx, rc)) {
        t->dur = dur;
        for (uint32_t i = 0; i < t->num_returns; i++) {
            t->ret[i] = ctx.rets[i];
            ctx.rets[i] = NULL;
        }
        rayc__task_ctx_destroy(&ctx);
        completion_push(rt, t);
        if (atomic_load(&rt->npolling) > 0) {
            atomic_fetch_add(&ray->nspinning, 1); /* the caller polls for work next */
            return 1;
        }
        rayc__lock(rt); /* enters the queue */
        return 0;
    }
    rayc__lock(rt);
    task_ended(ray, t, charged);
    note_run(ray, t->fn, dur);
    if (charged)
        give_gpus(ray, &ctx);
    rayc__task_finish(rt, &ctx, rc, dur);
    rayc__task_ctx_destroy(&ctx);
    rayc__rtask_free(rt->raylet, t);
    if (ray->draining && ray->nrunning == 0)
        rayc__progress_wake(rt);
    return 0;
}

/* ---------------------------------------------------------------- messages */

void rayc__raylet_handle(rayc__runtime *rt, int src, uint8_t type, rayc__rbuf *rec)
{
    rayc__raylet *ray = rt->raylet;
    switch (type) {
    case RAYC__M_TASK: {
        rayc__rtask *t = rayc__rtask_decode(ray, rec);
        if (t)
            RAYC_LOG(RAYC__LOG_DEBUG, "got seq %llu", (unsigned long long)t->id.seq);
        if (t)
            rayc__raylet_enqueue(rt, t);
        else
            RAYC_LOG(RAYC__LOG_ERROR, "malformed task from rank %d dropped", src);
        break;
    }
    case RAYC__M_FREE: {
        uint32_t n = rayc__get_u32(rec);
        for (uint32_t i = 0; i < n && !rec->err; i++)
            rayc__store_free(rt, rayc__get_oid(rec));
        break;
    }
    case RAYC__M_SHUTDOWN: rayc__raylet_begin_drain(rt); break;
    case RAYC__M_HALT: rayc__raylet_halt(rt); break;
    case RAYC__M_FINAL: ray->final = 1; break;
    default: RAYC_LOG(RAYC__LOG_WARN, "raylet: unknown record %d from rank %d", type, src);
    }
}

/* ---------------------------------------------------------------- life */

int rayc__raylet_create(rayc__runtime *rt, int nworkers)
{
    rayc__raylet *ray = calloc(1, sizeof *ray);
    if (!ray)
        return rayc__fail(RAYC_ENOMEM, "rayc_init: out of memory");
    pthread_cond_init(&ray->cv, NULL);
    pthread_cond_init(&ray->exit_cv, NULL);
    ray->total = rt->nodes[rt->rank].total;
    ray->avail = ray->total;
    /* GPU ids: the detected ones; when num_gpus was configured beyond them, ids 0..n-1. */
    int want = (int)ray->total.q[RAYC__RES_GPU];
    ray->ngpus = want < RAYC__MAX_GPUS ? want : RAYC__MAX_GPUS;
    for (int i = 0; i < ray->ngpus; i++)
        ray->gpu_ids[i] = rt->plat.ngpus >= ray->ngpus ? rt->plat.gpu_ids[i] : i;
    for (uint32_t i = 0; i < RAYC__RTASK_POOLS; i++)
        rayc__slab_init(&ray->rtask_pool[i], sizeof(rayc__rtask) + i * sizeof(rayc__rarg), 0);
    ray->max_workers = rt->max_workers;
    ray->base_workers = nworkers;
    ray->nfn = rayc__registry_count() + 1;
    if (!(ray->fnrun = calloc((size_t)ray->nfn, sizeof *ray->fnrun))) {
        for (uint32_t i = 0; i < RAYC__RTASK_POOLS; i++)
            rayc__slab_destroy(&ray->rtask_pool[i]);
        pthread_cond_destroy(&ray->cv);
        pthread_cond_destroy(&ray->exit_cv);
        free(ray);
        return rayc__fail(RAYC_ENOMEM, "rayc_init: out of memory");
    }
    rt->raylet = ray;
    rayc__lock(rt);
    for (int i = 0; i < nworkers; i++) {
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        ray->nworkers++;
        ray->nstarting++;
        if (pthread_create(&th, &attr, worker_main, rt) != 0) {
            ray->nworkers--;
            ray->nstarting--;
            pthread_attr_destroy(&attr);
            pthread_mutex_unlock(&rt->mu);
            return rayc__fail(RAYC_ENOMEM, "rayc_init: cannot start worker threads");
        }
        pthread_attr_destroy(&attr);
    }
    pthread_mutex_unlock(&rt->mu);
    return 0;
}

void rayc__raylet_begin_drain(rayc__runtime *rt)
{
    rayc__raylet *ray = rt->raylet;
    if (ray->draining)
        return;
    ray->draining = 1;
    while (ray->ready_head) {
        rayc__rtask *t = ray->ready_head;
        ray->ready_head = t->next;
        rayc__rtask_free(rt->raylet, t);
    }
    ray->ready_tail = NULL;
    ray->nready = 0;
    rayc__progress_wake(rt);
}

int rayc__raylet_drained(rayc__runtime *rt)
{
    return rt->raylet->draining && rt->raylet->nrunning == 0;
}

/* Stop the workers and wait until every one has left (caller holds rt->mu). */
void rayc__raylet_join_workers(rayc__runtime *rt)
{
    rayc__raylet *ray = rt->raylet;
    ray->stop = 1;
    pthread_cond_broadcast(&ray->cv);
    while (ray->nworkers > 0)
        pthread_cond_wait(&ray->exit_cv, &rt->mu);
}

void rayc__raylet_destroy(rayc__runtime *rt)
{
    rayc__raylet *ray = rt->raylet;
    if (!ray)
        return;
    for (rayc__rtask *t = atomic_exchange(&rt->doneq, NULL), *n; t; t = n) {
        n = t->next; /* cannot happen: every lock holder drains the queue */
        rayc__rtask_free(rt->raylet, t);
    }
    while (ray->ready_head) {
        rayc__rtask *t = ray->ready_head;
        ray->ready_head = t->next;
        rayc__rtask_free(rt->raylet, t);
    }
    pthread_cond_destroy(&ray->cv);
    pthread_cond_destroy(&ray->exit_cv);
    size_t leaked = 0;
    for (uint32_t i = 0; i < RAYC__RTASK_POOLS; i++)
        leaked += rayc__slab_destroy(&ray->rtask_pool[i]);
    if (leaked)
        RAYC_LOG(RAYC__LOG_WARN, "raylet: %zu task records still counted at shutdown", leaked);
    free(ray->fnrun);
    free(ray);
    rt->raylet = NULL;
}
