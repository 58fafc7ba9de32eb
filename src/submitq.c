/* submitq.c: rank 0's submission queue. A task submitted on rank 0 (by the driver or a rank 0
 * task) is built into the control service's record without the runtime lock and queued here;
 * whoever takes rt->mu next (rayc__lock: a worker finishing a task, the progress thread, the
 * submitter's next get/wait/put/release) enters the whole queue at once, in submission order.
 * A burst of submissions so costs one lock hand-over per batch instead of one per task, and
 * the thread that holds the lock does the work while its caches are warm.
 *
 * Ordering: every operation that reads the control service takes rt->mu through rayc__lock,
 * which empties the queue first, so it sees every submission made before it.
 * Latency: the submitter enters the queue itself when it holds RAYC__SUBMITQ_BATCH tasks, when
 * its oldest task has waited RAYC__SUBMITQ_MAX_AGE, or when the submission is alone (no other
 * just before it) and the progress thread sleeps; otherwise the progress thread (awake, or
 * within its sleep of at most 1 ms) or the submitter's next call takes it. So the tail of a
 * burst followed by no rayc call at all may start up to about 1 ms late.
 * The submitter only tries the lock (rayc__trylock): when a worker holds it, the worker enters
 * the queue before it looks for its next task (raylet.c), and the submitter goes on submitting
 * instead of sleeping on the lock. It waits for the lock only when RAYC__SUBMITQ_MUST tasks
 * are queued. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "gcs_int.h"
#include "log.h"
#include "status_int.h"

#define RAYC__SUBMITQ_BATCH 32
#define RAYC__SUBMITQ_MUST 512 /* the submitter waits for the lock to enter this many */
#define RAYC__SUBMITQ_MAX_AGE 20e-6 /* seconds */

void rayc__submitq_init(rayc__runtime *rt)
{
    pthread_mutex_init(&rt->subq_mu, NULL);
    rt->subq = rt->subq_spare = NULL;
    rt->subq_len = rt->subq_cap = rt->subq_spare_cap = 0;
    rt->subq_first = rt->subq_last = 0;
    atomic_init(&rt->subq_n, 0);
}

void rayc__submitq_destroy(rayc__runtime *rt)
{
    for (int i = 0; i < rt->subq_len; i++)
        rayc__gtask_free(rt->gcs, rt->subq[i].t);
    free(rt->subq);
    free(rt->subq_spare);
    rt->subq = rt->subq_spare = NULL;
    rt->subq_len = rt->subq_cap = rt->subq_spare_cap = 0;
    atomic_store(&rt->subq_n, 0);
    pthread_mutex_destroy(&rt->subq_mu);
}

int rayc__submitq_push(rayc__runtime *rt, struct gtask *t, const rayc__resvec *demand,
                       int strategy, int32_t affinity, int soft)
{
    pthread_mutex_lock(&rt->subq_mu);
    if (rt->subq_len == rt->subq_cap) {
        int ncap = rt->subq_cap ? 2 * rt->subq_cap : 64;
        rayc__subitem *p = realloc(rt->subq, (size_t)ncap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&rt->subq_mu);
            return -1;
        }
        rt->subq = p;
        rt->subq_cap = ncap;
    }
    double now = rayc__now();
    /* Alone: nothing queued and no submission just before (not part of a burst). */
    int alone = rt->subq_len == 0 && now - rt->subq_last > RAYC__SUBMITQ_MAX_AGE;
    if (rt->subq_len == 0)
        rt->subq_first = now;
    rt->subq_last = now;
    rayc__subitem *it = &rt->subq[rt->subq_len++];
    it->t = t;
    it->demand = *demand;
    it->affinity = affinity;
    it->strategy = (uint8_t)strategy;
    it->soft = (uint8_t)soft;
    int n = rt->subq_len;
    double age = now - rt->subq_first;
    atomic_store_explicit(&rt->subq_n, n, memory_order_release);
    pthread_mutex_unlock(&rt->subq_mu);
    /* progress_sleeping is read without the lock: a stale 0 only delays the batch until a
     * thread takes rt->mu (the progress thread within its sleep, at most 1 ms). */
    if (n >= RAYC__SUBMITQ_MUST)
        return 2;
    return n >= RAYC__SUBMITQ_BATCH || age >= RAYC__SUBMITQ_MAX_AGE ||
           (alone && __atomic_load_n(&rt->progress_sleeping, __ATOMIC_RELAXED));
}

void rayc__submitq_flush(rayc__runtime *rt)
{
    pthread_mutex_lock(&rt->subq_mu);
    rayc__subitem *items = rt->subq;
    int n = rt->subq_len;
    /* Swap in the spare array so submitters can go on while this batch is entered. */
    int cap = rt->subq_cap;
    rt->subq = rt->subq_spare;
    rt->subq_cap = rt->subq_spare_cap;
    rt->subq_spare = NULL;
    rt->subq_spare_cap = 0;
    rt->subq_len = 0;
    atomic_store_explicit(&rt->subq_n, 0, memory_order_release);
    pthread_mutex_unlock(&rt->subq_mu);
    for (int i = 0; i < n; i++) {
        char err[512];
        rayc__subitem *it = &items[i];
        if (rayc__gcs_submit_entered(rt, it->t, &it->demand, it->strategy, it->affinity,
                                     it->soft, err, sizeof err) != 0)
            RAYC_LOG(RAYC__LOG_DEBUG, "queued submission failed: %s", err);
        /* Place each before entering the next, as unqueued submissions are: one pass over
         * the whole batch would let a later class take CPUs ahead of earlier tasks. */
        rayc__gcs_schedule(rt);
    }
    /* The drained array becomes the spare (only a flush, under rt->mu, touches the spare). */
    pthread_mutex_lock(&rt->subq_mu);
    rt->subq_spare = items;
    rt->subq_spare_cap = cap;
    pthread_mutex_unlock(&rt->subq_mu);
}
