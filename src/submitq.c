/* submitq.c: rank 0's submission queue. A task submitted on rank 0 (by the driver or a rank 0
 * task) with small by-value arguments is written into a slot of a ring without the runtime
 * lock; whoever takes rt->mu next (rayc__lock: a worker finishing a task, the progress thread,
 * the submitter's next get/wait/put/release) turns the queued slots into the control service's
 * task records and enters them, in submission order. A burst of submissions so costs one lock
 * hand-over per batch instead of one per task, and the thread that holds the lock does the
 * work while its caches are warm.
 *
 * The ring (after D. Vyukov's bounded queue): slot i carries a sequence number. A submitter
 * claims position p with a compare-and-swap on the tail when slot p's sequence is p, fills the
 * slot and publishes it by setting the sequence to p + 1; the lock holder takes slots in order
 * while their sequence says published and hands each back by setting it to p + CAP. So a
 * submitter touches the tail (its own cache line), its slot and, once per batch, the head the
 * lock holder moved: no lock and no line the lock holder writes per task. The task records
 * themselves are made by the lock holder, so their pools need no lock either.
 *
 * Ordering: every operation that reads the control service takes rt->mu through rayc__lock,
 * which empties the ring first, so it sees every submission published before it. Slots are
 * entered in claim order; the pass waits for a slot claimed but not yet published (its
 * submitter is between the two steps, or was descheduled there, as it could have been while
 * holding a lock): stopping there would leave out later slots whose submitters may be about
 * to read their own results. rayc__submitq_pending counts such a slot as queued.
 * Latency: the submitter enters the queue itself when it holds RAYC__SUBMITQ_BATCH tasks, when
 * its oldest task has waited RAYC__SUBMITQ_MAX_AGE, or when the submission is alone (no other
 * just before it) and the progress thread sleeps; otherwise the progress thread (awake, or
 * within its sleep of at most 1 ms) or the submitter's next call takes it. So the tail of a
 * burst followed by no rayc call at all may start up to about 1 ms late.
 * The submitter only tries the lock (rayc__trylock): when a worker holds it, the worker enters
 * the queue before it looks for its next task (raylet.c), and the submitter goes on submitting
 * instead of sleeping on the lock. It waits for the lock only when the ring is full. */
#include "config.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "gcs_int.h"
#include "log.h"
#include "status_int.h"

#define RAYC__SUBMITQ_CAP 1024  /* slots (a power of two) */
#define RAYC__SUBMITQ_BATCH 32
#define RAYC__SUBMITQ_MAX_AGE 20e-6 /* seconds */

typedef struct slot {
    _Alignas(64) atomic_uint_fast64_t seq;
    rayc__subspec s;
} slot;
_Static_assert(sizeof(slot) == 128, "a submission slot is two cache lines");

struct rayc__subq {
    /* submitters' side */
    _Alignas(64) atomic_uint_fast64_t tail; /* next position to claim */
    _Atomic double first;                   /* when the oldest queued submission was made */
    _Atomic double last;                    /* when the latest one was made */
    /* (first and last are written by submitters only: racing submitters may leave either
     * one's time, which only moves a trylock a little.) */
    /* the lock holder's side */
    _Alignas(64) atomic_uint_fast64_t head; /* next position to enter (written under rt->mu) */
    _Alignas(64) slot ring[RAYC__SUBMITQ_CAP];
};

int rayc__submitq_init(rayc__runtime *rt)
{
    rayc__subq *q = aligned_alloc(64, sizeof *q);
    if (!q)
        return -1;
    memset(q, 0, sizeof *q);
    for (uint64_t i = 0; i < RAYC__SUBMITQ_CAP; i++)
        atomic_init(&q->ring[i].seq, i);
    atomic_init(&q->tail, 0);
    atomic_init(&q->head, 0);
    atomic_init(&q->first, 0.0);
    atomic_init(&q->last, 0.0);
    rt->subq = q;
    return 0;
}

/* What a slot owns besides its task fields. */
static void spec_release(rayc__subspec *s)
{
    garg *a = s->nargs > RAYC__SUBQ_ARGS ? s->xargs : s->args;
    for (uint32_t i = 0; i < s->nargs; i++)
        rayc__value_unref(a[i].val);
    if (s->nargs > RAYC__SUBQ_ARGS)
        free(s->xargs);
    if (s->own_demand)
        free((void *)s->demand);
}

void rayc__submitq_destroy(rayc__runtime *rt)
{
    rayc__subq *q = rt->subq;
    if (!q)
        return;
    for (uint64_t p = atomic_load(&q->head);; p++) {
        slot *sl = &q->ring[p & (RAYC__SUBMITQ_CAP - 1)];
        if (atomic_load(&sl->seq) != p + 1)
            break;
        spec_release(&sl->s);
    }
    free(q);
    rt->subq = NULL;
}

int rayc__submitq_pending(const rayc__runtime *rt)
{
    const rayc__subq *q = rt->subq;
    if (!q)
        return 0;
    uint64_t p = atomic_load_explicit(&q->head, memory_order_relaxed);
    if (atomic_load_explicit(&q->ring[p & (RAYC__SUBMITQ_CAP - 1)].seq,
                             memory_order_acquire) == p + 1)
        return 1;
    /* a slot claimed and still being written counts too (see rayc__submitq_flush) */
    return atomic_load_explicit(&q->tail, memory_order_acquire) != p;
}

/* Wait for slot sl at position p, claimed by a submitter that is still writing it: a few
 * instructions away, unless that thread was descheduled in between. */
static void wait_published(const slot *sl, uint64_t p)
{
    for (unsigned i = 1; atomic_load_explicit(&sl->seq, memory_order_acquire) != p + 1; i++) {
        if (i % 128 == 0)
            sched_yield();
        else
            rayc__cpu_relax();
    }
}

int rayc__submitq_push(rayc__runtime *rt, const rayc__subspec *spec)
{
    rayc__subq *q = rt->subq;
    uint64_t p = atomic_load_explicit(&q->tail, memory_order_relaxed);
    slot *sl;
    for (;;) {
        sl = &q->ring[p & (RAYC__SUBMITQ_CAP - 1)];
        uint64_t seq = atomic_load_explicit(&sl->seq, memory_order_acquire);
        if (seq == p) {
            if (atomic_compare_exchange_weak_explicit(&q->tail, &p, p + 1, memory_order_relaxed,
                                                      memory_order_relaxed))
                break;
        } else if (seq < p) {
            return -2; /* full: the lock holder has not handed this slot back yet */
        } else {
            p = atomic_load_explicit(&q->tail, memory_order_relaxed);
        }
    }
    sl->s = *spec;
    atomic_store_explicit(&sl->seq, p + 1, memory_order_release);
    /* How many wait before this one, and since when: the head moves once per batch. */
    uint64_t n = p + 1 - atomic_load_explicit(&q->head, memory_order_acquire);
    double now = rayc__now();
    double last = atomic_load_explicit(&q->last, memory_order_relaxed);
    atomic_store_explicit(&q->last, now, memory_order_relaxed);
    if (n == 1)
        atomic_store_explicit(&q->first, now, memory_order_relaxed);
    double age = now - atomic_load_explicit(&q->first, memory_order_relaxed);
    /* Alone: nothing queued before it and no submission just before (not part of a burst). */
    int alone = n == 1 && now - last > RAYC__SUBMITQ_MAX_AGE;
    /* progress_sleeping is read without the lock: a stale 0 only delays the batch until a
     * thread takes rt->mu (the progress thread within its sleep, at most 1 ms). */
    return n >= RAYC__SUBMITQ_BATCH || age >= RAYC__SUBMITQ_MAX_AGE ||
           (alone && __atomic_load_n(&rt->progress_sleeping, __ATOMIC_RELAXED));
}

/* The control service's record for a queued submission (its values are taken over). */
static gtask *task_of(rayc__gcs *g, rayc__subspec *s)
{
    gtask *t = rayc__gtask_new(g, s->nargs);
    if (!t)
        return NULL;
    t->id = s->id;
    t->fn = s->fn;
    t->num_returns = s->num_returns;
    t->max_retries = s->max_retries;
    memcpy(t->args, s->nargs > RAYC__SUBQ_ARGS ? s->xargs : s->args,
           (size_t)s->nargs * sizeof(garg));
    if (s->nargs > RAYC__SUBQ_ARGS)
        free(s->xargs);
    s->nargs = 0; /* the record owns the values now */
    return t;
}

void rayc__submitq_flush(rayc__runtime *rt)
{
    rayc__subq *q = rt->subq;
    uint64_t p = atomic_load_explicit(&q->head, memory_order_relaxed);
    for (;; p++) {
        slot *sl = &q->ring[p & (RAYC__SUBMITQ_CAP - 1)];
        if (atomic_load_explicit(&sl->seq, memory_order_acquire) != p + 1) {
            if (p == atomic_load_explicit(&q->tail, memory_order_acquire))
                break; /* nothing more claimed */
            /* Claimed, not yet published: wait for it rather than stop, so that a later
             * slot some thread published before it takes the lock is entered now (that
             * thread's next get must find its task). */
            wait_published(sl, p);
        }
        rayc__subspec s = sl->s;
        /* Hand the slot back at once: a submitter may refill it while this one is entered.
         * (The head moves once, after the pass: submitters read it per push.) */
        atomic_store_explicit(&sl->seq, p + RAYC__SUBMITQ_CAP, memory_order_release);
        char err[512];
        gtask *t = task_of(rt->gcs, &s);
        if (!t)
            RAYC_LOG(RAYC__LOG_ERROR, "out of memory: a queued submission of '%s' was dropped "
                     "(a get of its refs says they never existed)", rayc__registry_at(s.fn)->name);
        else if (rayc__gcs_submit_entered(rt, t, s.demand, s.strategy, s.affinity, s.soft, err,
                                          sizeof err) != 0)
            RAYC_LOG(RAYC__LOG_DEBUG, "queued submission failed: %s", err);
        spec_release(&s);
        /* Place each before entering the next, as unqueued submissions are: one pass over
         * the whole batch would let a later class take CPUs ahead of earlier tasks. */
        rayc__gcs_schedule(rt);
    }
    atomic_store_explicit(&q->head, p, memory_order_release);
}
