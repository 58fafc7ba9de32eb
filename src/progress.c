/* progress.c: the progress loop, the only code that calls MPI after init.
 *
 * One loop per rank (a thread on rank 0, the main thread elsewhere) runs named phases, each
 * with bounded work: receive control batches, hand them to their module under rt->mu, send
 * the outbound batches other threads filled, move object data, run raylet housekeeping. When
 * a pass does nothing, idle_wait decides between spinning and sleeping: it spins for a short
 * while (latency), then sleeps on this rank's doorbell (doorbell.c: a futex word in memory
 * the node's ranks share) with a timeout that grows to 1 ms, so an idle rank costs almost no
 * CPU and 16 ranks on 2 cores still run well. Local producers wake it through
 * rayc__progress_wake; a rank of the same node that sends it a batch (phase_send) or object
 * data (transfer.c) rings its bell. Messages from other nodes, or from any rank when no
 * shared window could be made, are noticed at the next poll (at most about 1 ms later).
 *
 * Ordering: records to one destination keep their order (one batch buffer per destination,
 * sent in order; MPI does not overtake on one communicator and tag). */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "doorbell.h"
#include "log.h"
#include "raylet_int.h"
#include "rt.h"
#include "store.h"

#define MAX_RECV_PER_PASS 64
#define SPIN_SECONDS 500e-6 /* keep polling this long after the last work: replies are near */
#define SLEEP_MIN_SECONDS 50e-6
#define SLEEP_MAX_SECONDS 1e-3
/* Rank 0 while tasks wait to be placed and others run on ranks that cannot ring its doorbell
 * (other nodes, or no shared bells): those ranks' DONE records decide when the next task can
 * be placed, so they are looked for this often (measured: the 2-rank sleep table went from
 * 1.05x to 1.01x of greedy with it, and without shared bells still loses 0.8% without it).
 * Ranks that ring need no such poll: with the bell the table is 1.004x with or without it. */
#define SLEEP_BUSY_SECONDS 100e-6

typedef struct send_slot {
    MPI_Request req;
    rayc__wbuf buf;
    int dest;
} send_slot;

typedef struct progress_state {
    send_slot *sends;
    int nsends, capsends;
    rayc__wbuf recv;
    double idle_since;
    double sleep;
    double last_tick;
    double last_stats;
} progress_state;

double rayc__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------- outbound records */

rayc__wbuf *rayc__msg_begin(rayc__runtime *rt, int dest, uint8_t type, size_t *start)
{
    rayc__wbuf *b = &rt->out[dest];
    *start = rayc__rec_begin(b, type);
    return b;
}

void rayc__msg_end(rayc__runtime *rt, int dest, size_t start)
{
    rayc__rec_end(&rt->out[dest], start);
    rt->out_dirty = 1;
    rayc__progress_wake(rt);
}

void rayc__progress_wake(rayc__runtime *rt)
{
    rt->wake_pending = 1;
    if (__atomic_load_n(&rt->progress_sleeping, __ATOMIC_RELAXED))
        rayc__bell_ring(rayc__bells_mine(rt->bells));
}

/* ---------------------------------------------------------------- phases */

/* Dispatch one received batch to the modules (takes rt->mu). */
static void handle_batch(rayc__runtime *rt, int src, const uint8_t *p, size_t len)
{
    rayc__rbuf r, rec;
    uint8_t type;
    int rc;
    rayc__rbuf_init(&r, p, len);
    rayc__lock(rt);
    while ((rc = rayc__rec_next(&r, &type, &rec)) == 1) {
        if (type < RAYC__M_TASK)
            rayc__gcs_handle(rt, src, type, &rec);
        else if (type == RAYC__M_GET_REPLY)
            rayc__client_handle(rt, src, type, &rec);
        else if (type >= RAYC__M_FETCH_REQ)
            rayc__xfer_handle(rt, src, type, &rec);
        else
            rayc__raylet_handle(rt, src, type, &rec);
    }
    pthread_mutex_unlock(&rt->mu);
    if (rc < 0)
        RAYC_LOG(RAYC__LOG_ERROR, "malformed batch from rank %d (%zu bytes) dropped", src, len);
}

/* Phase: receive up to MAX_RECV_PER_PASS control batches. */
static int phase_recv(rayc__runtime *rt, progress_state *ps)
{
    int n = 0;
    for (; n < MAX_RECV_PER_PASS; n++) {
        int flag = 0, count = 0;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, RAYC__TAG_CTRL, rt->ctrl, &flag, &st);
        if (!flag)
            break;
        MPI_Get_count(&st, MPI_BYTE, &count);
        rayc__wbuf_reset(&ps->recv);
        uint8_t *p = rayc__wbuf_reserve(&ps->recv, (size_t)count + 1);
        if (!p) {
            RAYC_LOG(RAYC__LOG_ERROR, "out of memory receiving %d bytes", count);
            break;
        }
        MPI_Recv(p, count, MPI_BYTE, st.MPI_SOURCE, RAYC__TAG_CTRL, rt->ctrl, MPI_STATUS_IGNORE);
        handle_batch(rt, st.MPI_SOURCE, p, (size_t)count);
    }
    return n;
}

/* A batch longer than this goes as several messages (whole records each), so that the count
 * fits MPI's int. Messages between two ranks on one tag arrive in order. */
#define MAX_MESSAGE_BYTES ((size_t)1 << 30)

/* Move everything after the first message's worth of slot i's batch into new slots right
 * after it (copies: batches this large are rare). A copy that cannot be made leaves the slot
 * as it was; its send then fails loudly in MPI rather than silently. */
static void split_batch(progress_state *ps, int i)
{
    while (ps->sends[i].buf.len > MAX_MESSAGE_BYTES) {
        send_slot *s = &ps->sends[i];
        size_t first = rayc__batch_split(s->buf.p, s->buf.len, MAX_MESSAGE_BYTES);
        if (first == s->buf.len || first > (size_t)INT32_MAX)
            return;
        if (ps->nsends == ps->capsends) {
            send_slot *ns = realloc(ps->sends, (size_t)(2 * ps->capsends) * sizeof *ns);
            if (!ns)
                return;
            ps->sends = ns;
            ps->capsends *= 2;
            s = &ps->sends[i];
        }
        send_slot rest;
        rayc__wbuf_init(&rest.buf);
        rayc__put_bytes(&rest.buf, s->buf.p + first, s->buf.len - first);
        if (rest.buf.oom) {
            rayc__wbuf_free(&rest.buf);
            return;
        }
        s->buf.len = first;
        rest.req = MPI_REQUEST_NULL;
        rest.dest = s->dest;
        memmove(&ps->sends[i + 2], &ps->sends[i + 1],
                (size_t)(ps->nsends - i - 1) * sizeof *ps->sends);
        ps->sends[i + 1] = rest;
        ps->nsends++;
        i++;
    }
}

/* Phase: send every non-empty outbound batch (swap buffers under rt->mu, send without it). */
static int phase_send(rayc__runtime *rt, progress_state *ps)
{
    int n = 0;
    rayc__lock(rt);
    if (!rt->out_dirty) {
        pthread_mutex_unlock(&rt->mu);
        return 0;
    }
    rt->out_dirty = 0;
    int sync = rayc__store_take_win_dirty(rt);
    for (int d = 0; d < rt->size; d++) {
        if (!rt->out[d].len)
            continue;
        if (ps->nsends == ps->capsends) {
            int ncap = ps->capsends ? 2 * ps->capsends : 16;
            send_slot *s = realloc(ps->sends, (size_t)ncap * sizeof *s);
            if (!s) {
                rt->out_dirty = 1;
                break;
            }
            ps->sends = s;
            ps->capsends = ncap;
        }
        send_slot *s = &ps->sends[ps->nsends++];
        s->buf = rt->out[d];
        rayc__wbuf_init(&rt->out[d]);
        s->req = MPI_REQUEST_NULL;
        s->dest = d;
        n++;
    }
    pthread_mutex_unlock(&rt->mu);
    if (sync) /* blocks published by this rank become visible to one-sided readers */
        MPI_Win_sync(rayc__store_window(rt));
    int first = ps->nsends - n;
    for (int i = first; i < ps->nsends; i++)
        split_batch(ps, i);
    for (int i = first; i < ps->nsends; i++) {
        send_slot *s = &ps->sends[i];
        MPI_Isend(s->buf.p, (int)s->buf.len, MPI_BYTE, s->dest, RAYC__TAG_CTRL, rt->ctrl,
                  &s->req);
        rayc__bells_ring(rt->bells, s->dest); /* a sleeping receiver on this node wakes now */
    }
    return n;
}

/* Phase: free the buffers of completed sends. */
static int phase_complete_sends(progress_state *ps)
{
    int n = 0;
    for (int i = 0; i < ps->nsends;) {
        int flag = 0;
        MPI_Test(&ps->sends[i].req, &flag, MPI_STATUS_IGNORE);
        if (!flag) {
            i++;
            continue;
        }
        rayc__wbuf_free(&ps->sends[i].buf);
        ps->sends[i] = ps->sends[--ps->nsends];
        n++;
    }
    return n;
}

/* Phase: raylet housekeeping about every millisecond, and the shutdown handshake. */
static int phase_tick(rayc__runtime *rt, progress_state *ps, double now)
{
    int n = 0;
    rayc__lock(rt);
    if (now - ps->last_tick >= 1e-3) {
        ps->last_tick = now;
        n += rayc__raylet_tick(rt, now);
    }
    if (now - ps->last_stats >= 0.05 && rayc__store_take_dirty(rt)) {
        ps->last_stats = now;
        rayc__gmsg m;
        rayc__store_encode_stats(rt, rayc__gmsg_begin(rt, &m, RAYC__M_STATS));
        rayc__gmsg_end(rt, &m);
        n++;
    }
    rayc__raylet *ray = rt->raylet;
    if (rt->rank != 0 && rayc__raylet_drained(rt) && !ray->acked) {
        ray->acked = 1;
        size_t at;
        rayc__msg_begin(rt, 0, RAYC__M_SHUTDOWN_ACK, &at);
        rayc__msg_end(rt, 0, at);
        n++;
    }
    pthread_mutex_unlock(&rt->mu);
    return n;
}

/* Phase: a caught SIGTERM/SIGUSR1 stops the job (rank 0) or is forwarded to rank 0; then the
 * driver's stop callback runs once, here, outside rt->mu. */
static int phase_signals(rayc__runtime *rt)
{
    int sig = rayc__signals_take(), n = 0;
    if (sig && !rt->stop_reported) {
        rt->stop_reported = 1;
        rayc__lock(rt);
        if (rt->rank == 0) {
            rayc__gcs_stop(rt, sig);
        } else {
            size_t at;
            rayc__put_i32(rayc__msg_begin(rt, 0, RAYC__M_STOP, &at), sig);
            rayc__msg_end(rt, 0, at);
        }
        pthread_mutex_unlock(&rt->mu);
        n++;
    }
    if (rt->rank == 0 && atomic_load(&rt->stop_signal)) {
        rayc__lock(rt);
        rayc_stop_fn fn = rt->stop_fn;
        void *arg = rt->stop_arg;
        rt->stop_fn = NULL; /* once */
        pthread_mutex_unlock(&rt->mu);
        if (fn)
            fn(atomic_load(&rt->stop_signal), arg);
        n++;
    }
    return n;
}

/* 1 when a control batch is waiting to be received. */
static int ctrl_waiting(rayc__runtime *rt)
{
    int flag = 0;
    MPI_Iprobe(MPI_ANY_SOURCE, RAYC__TAG_CTRL, rt->ctrl, &flag, MPI_STATUS_IGNORE);
    return flag;
}

/* The spin-or-sleep decision: spin briefly after the last work (a reply is usually close),
 * then sleep on this rank's doorbell with a growing timeout. The bell's sequence is read and
 * the sleep announced under rt->mu, so a local rayc__progress_wake after that rings the bell
 * and the wait returns at once; so does a send from a rank of this node that sees the
 * announcement. A batch sent before it is found by the probe made after it (unless MPI had
 * not pushed it out yet when MPI_Isend returned: then the timeout bounds the delay). */
static void idle_wait(rayc__runtime *rt, progress_state *ps, double now)
{
    if (now - ps->idle_since < SPIN_SECONDS) {
        sched_yield();
        return;
    }
    rayc__bell *bell = rayc__bells_mine(rt->bells);
    double cap = SLEEP_MAX_SECONDS;
    rayc__lock(rt);
    uint32_t seq = rayc__bell_seq(bell);
    int idle = !rt->wake_pending && !rt->out_dirty && !rayc__submitq_pending(rt);
    if (idle) {
        if (rt->gcs && rayc__gcs_queued_behind_far(rt))
            cap = SLEEP_BUSY_SECONDS;
        __atomic_store_n(&rt->progress_sleeping, 1, __ATOMIC_RELAXED); /* submitq.c peeks */
        rayc__bell_announce(bell);
    }
    rt->wake_pending = 0;
    pthread_mutex_unlock(&rt->mu);
    if (!idle)
        return;
    if (ps->sleep > cap)
        ps->sleep = cap;
    if (ctrl_waiting(rt)) {
        rayc__bell_cancel(bell);
    } else {
        rayc__bell_wait(bell, seq, ps->sleep);
        ps->sleep = ps->sleep * 2 < cap ? ps->sleep * 2 : cap;
    }
    __atomic_store_n(&rt->progress_sleeping, 0, __ATOMIC_RELAXED);
}

static int should_leave(rayc__runtime *rt, progress_state *ps)
{
    rayc__lock(rt);
    int leave = rt->raylet->final && ps->nsends == 0 && !rt->out_dirty &&
                rayc__xfer_idle(rt);
    pthread_mutex_unlock(&rt->mu);
    return leave;
}

void rayc__progress_run(rayc__runtime *rt)
{
    progress_state ps;
    memset(&ps, 0, sizeof ps);
    ps.sleep = SLEEP_MIN_SECONDS;
    ps.idle_since = rayc__now();
    rayc__log_set_role("progress");
    for (;;) {
        int work = phase_recv(rt, &ps);
        work += phase_send(rt, &ps);
        work += rayc__xfer_progress(rt);
        work += phase_complete_sends(&ps);
        double now = rayc__now();
        work += phase_tick(rt, &ps, now);
        work += phase_signals(rt);
        if (should_leave(rt, &ps))
            break;
        if (work) {
            ps.idle_since = now;
            ps.sleep = SLEEP_MIN_SECONDS;
        } else {
            idle_wait(rt, &ps, now);
        }
    }
    free(ps.sends);
    rayc__wbuf_free(&ps.recv);
    rayc__thread_exit();
}

static void *progress_main(void *arg)
{
    rayc__progress_run(arg);
    return NULL;
}

int rayc__progress_start(rayc__runtime *rt)
{
    if (pthread_create(&rt->progress_thread, NULL, progress_main, rt) != 0)
        return -1;
    rt->progress_is_thread = 1;
    return 0;
}

void rayc__progress_join(rayc__runtime *rt)
{
    if (rt->progress_is_thread) {
        pthread_join(rt->progress_thread, NULL);
        rt->progress_is_thread = 0;
    }
}
