/* rt.h: the runtime handle and the interfaces between the runtime's modules.
 *
 * Processes and threads (see docs/architecture.md):
 *  - rank 0: the driver (user's main), the control service (gcs.c), a progress thread that owns
 *    MPI (progress.c), and worker threads (raylet.c) unless rank0_workers=0 with other ranks;
 *  - rank r > 0: the main thread runs the progress loop; worker threads run tasks.
 *
 * Locking: one mutex per process, rt->mu, guards all runtime state (control service, raylet,
 * store, outbound buffers, client operations). Task functions and MPI calls run without it.
 * Only the progress thread calls MPI after init. Rank 0's clients call the control service
 * directly under rt->mu; other ranks reach it with messages that the progress thread batches.
 */
#ifndef RAYC_RT_H
#define RAYC_RT_H

#include <mpi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "ids.h"
#include "platform.h"
#include "rayc.h"
#include "registry.h"
#include "sched_policy.h"
#include "value_int.h"
#include "wire.h"

/* Message record types (one enum; MPI tags and statuses are separate enums). */
enum rayc__msg {
    /* to the control service */
    RAYC__M_SUBMIT = 1,     /* task spec from a task on another rank */
    RAYC__M_PUT = 2,        /* new object: inline value, or held by the sender */
    RAYC__M_DONE = 3,       /* task ended: returns or error */
    RAYC__M_STARTED = 4,    /* task began running */
    RAYC__M_RETURNED = 5,   /* raylet hands back a prefetched task it could not start */
    RAYC__M_RES_DELTA = 6,  /* CPUs given back / taken again by a worker blocked in get */
    RAYC__M_GET_REQ = 7,    /* get or wait from a client on another rank */
    RAYC__M_GET_CANCEL = 8, /* that client timed out */
    RAYC__M_RELEASE = 9,    /* refs dropped */
    RAYC__M_SHUTDOWN_ACK = 10,
    RAYC__M_STOP = 11,      /* a rank caught SIGTERM/SIGUSR1: stop the job */
    RAYC__M_COPY = 12,      /* this rank cached a copy of an object (so FREE reaches it) */
    RAYC__M_STATS = 13,     /* this rank's object store statistics */
    /* to a raylet / client */
    RAYC__M_TASK = 20,      /* run this task */
    RAYC__M_GET_REPLY = 21,
    RAYC__M_FREE = 22,      /* drop these objects from the store */
    RAYC__M_SHUTDOWN = 23,  /* drain: finish running tasks, then ack */
    RAYC__M_FINAL = 24,     /* everyone drained: leave the progress loop */
    RAYC__M_HALT = 25,      /* the job stops: hand back every task not started */
    /* between object holders (transfer.c) */
    RAYC__M_FETCH_REQ = 30,
    RAYC__M_FETCH_FAIL = 31
};

enum rayc__tag { RAYC__TAG_CTRL = 1 }; /* data tags are per transfer, on the data comm */

enum rayc__state { RAYC__ST_NONE = 0, RAYC__ST_RUNNING, RAYC__ST_STOPPING, RAYC__ST_DONE };

enum rayc__obj_state { RAYC__OBJ_PENDING = 0, RAYC__OBJ_READY = 1, RAYC__OBJ_FAILED = 2 };

struct rayc__rtask;
struct gtask;

/* Rank 0's submission queue (submitq.c). */
typedef struct rayc__subq rayc__subq;

/* A function's options from RAYC_REMOTE, merged and checked once at init: what a submission
 * without per-call options uses (api.c). */
typedef struct rayc__fnopts {
    rayc_opts o;
    rayc__resvec demand;
    int ok;                     /* valid and feasible (else a submission reports why) */
} rayc__fnopts;

/* A rank 0 task with at most this many returns may complete through the completion queue. */
#define RAYC__DONEQ_RETS 4

/* One argument of a task as a raylet sees it. */
typedef struct rayc__rarg {
    struct rayc__rtask *owner; /* set while its value is being fetched */
    rayc_value *val;  /* the value once known (owned reference) */
    rayc__oid id;     /* ref argument (null for by-value) */
    int32_t loc;      /* rank holding it when val is NULL */
    int64_t off;      /* its block in loc's window, -1 when not in one */
    rayc__vhdr hdr;
} rayc__rarg;

/* A task handed to a raylet (decoded from RAYC__M_TASK, or built directly on rank 0). */
typedef struct rayc__rtask {
    struct rayc__rtask *next;
    struct gtask *gt;      /* rank 0's own tasks: the control service's record, which lives
                            * until this attempt's DONE or RETURNED is entered */
    rayc__oid id;
    uint32_t fn;
    uint16_t num_returns;
    uint16_t attempt;
    rayc__resvec demand;
    uint32_t nargs;
    uint32_t missing;      /* ref args still being fetched */
    int fetch_error;       /* a fetch failed: the task fails with fetch_msg */
    char *fetch_msg;
    double queued_at;      /* when it became runnable (spillback clock) */
    double started_at;     /* when a worker started it */
    int started_reported;  /* RAYC__M_STARTED sent */
    struct rayc__rtask *run_prev, *run_next; /* the raylet's running list */
    rayc__rarg *args;
    /* rank 0: a task that ended well, waiting in the completion queue (raylet.c) */
    double dur;
    rayc_value *ret[RAYC__DONEQ_RETS]; /* its returns (owned), num_returns of them */
} rayc__rtask;

/* Outcome of one object for a client: what rayc_get hands out. */
typedef struct rayc__result {
    int status;            /* 0, RAYC_ETASK, RAYC_ERELEASED, RAYC_ECANCELLED, RAYC_ESTATE */
    rayc_value *val;       /* owned */
    int32_t loc;           /* rank holding it when val is NULL and status 0 */
    int64_t off;           /* its block in loc's window, -1 when not in one */
    rayc__vhdr hdr;
    char *err;             /* malloc'ed message when status != 0 */
    struct rayc__op *owner; /* set while its value is being fetched */
} rayc__result;

/* A client's get or wait in flight. Lives on the client's stack until done. */
typedef struct rayc__op {
    pthread_cond_t cv;
    atomic_int done;       /* reply arrived (set under rt->mu; may be polled without it) */
    int mode;              /* RAYC__OP_GET / RAYC__OP_WAIT */
    int n, num_returns;
    const rayc__oid *ids;
    int status;            /* first error, for GET */
    rayc__result *res;     /* n entries (GET) */
    int *order;            /* indices in completion order (WAIT); nready of them */
    int nready;
    int fetches_left;      /* GET: large values still being pulled */
    int bad_index;         /* the unknown ref when the request was refused */
    int polled;            /* the caller already polled for the answer: block at once */
    void *gcs_req;         /* the control service's record (rank 0 only) */
    rayc__oid req_key;     /* remote ranks: the request id, as the key of client.c's index */
} rayc__op;

enum { RAYC__OP_GET = 0, RAYC__OP_WAIT = 1 };

typedef struct rayc__gcs rayc__gcs;
typedef struct rayc__raylet rayc__raylet;
typedef struct rayc__xfer rayc__xfer;
typedef struct rayc__client rayc__client;
typedef struct rayc__store rayc__store;

/* Node identity and totals of every rank (allgathered at init; read-only afterwards). */
typedef struct rayc__node {
    int node_id, local_rank;
    char host[64];
    rayc__resvec total;
    int accepts_tasks;
    int ngpus;
} rayc__node;

typedef struct rayc__runtime {
    int rank, size;
    MPI_Comm ctrl, data;        /* duplicates of MPI_COMM_WORLD, named rayc-ctrl, rayc-data */
    int we_initialized_mpi;
    atomic_int state;           /* enum rayc__state */
    pthread_mutex_t mu;
    /* progress thread */
    pthread_t progress_thread;
    int progress_is_thread;
    int progress_sleeping;      /* it sleeps or is about to (atomic; submitq.c peeks) */
    int wake_pending;
    struct rayc__bells *bells;  /* its doorbell, and those of this node's ranks (doorbell.c) */
    rayc__wbuf *out;            /* outbound batch per destination rank */
    int out_dirty;
    rayc__subq *subq;           /* rank 0's submission queue (submitq.c) */
    rayc__fnopts *fn_defaults;  /* per registry index (api.c) */
    /* rank 0: bumped (under rt->mu) whenever an object of the control service completes, so
     * that a get can poll for its objects without the lock (api_get.c) */
    atomic_uint done_gen;
    /* rank 0's completion queue (raylet.c): tasks that ended well, pushed by their workers
     * without rt->mu while a client polls for results, entered by the next lock holder */
    _Atomic(struct rayc__rtask *) doneq;
    atomic_int npolling;        /* clients polling for results without rt->mu */
    /* identity and resources */
    rayc__platform plat;
    rayc__node *nodes;          /* size entries */
    char custom_names[RAYC_MAX_CUSTOM][32];
    int ncustom;
    size_t inline_threshold;
    int max_workers;
    char job_id[64];
    /* ids */
    atomic_uint_fast64_t next_seq;
    /* modules */
    rayc__gcs *gcs;             /* rank 0 only */
    rayc__raylet *raylet;
    rayc__xfer *xfer;
    rayc__client *client;
    rayc__store *store;
    /* walltime stop (signals.c): the signal that stopped the job, and the driver's callback */
    atomic_int stop_signal;
    int stop_reported;          /* this rank forwarded / handled its signal */
    rayc_stop_fn stop_fn;
    void *stop_arg;
    int summary;                /* print the job summary at shutdown */
    double t_init;
} rayc__runtime;

/* The one runtime handle (NULL before init). */
extern rayc__runtime *rayc__rt;

double rayc__now(void); /* monotonic seconds */

/* One step of a polite spin loop. */
static inline void rayc__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

/* ---- api.c ---- */
int rayc__fn_defaults_init(rayc__runtime *rt); /* rt->fn_defaults (freed by free_runtime) */

/* ---- signals.c ---- */
void rayc__signals_install(void);
void rayc__signals_restore(void);
int rayc__signals_take(void); /* the pending signal number, or 0 */

/* ---- progress.c ---- */
int rayc__progress_start(rayc__runtime *rt);   /* rank 0: thread; others: call _run */
void rayc__progress_run(rayc__runtime *rt);    /* the loop; returns after RAYC__M_FINAL */
void rayc__progress_join(rayc__runtime *rt);
/* Wake the progress thread if it sleeps (caller holds rt->mu). */
void rayc__progress_wake(rayc__runtime *rt);
/* Start a record to rank dest in its outbound batch (caller holds rt->mu); end it with
 * rayc__msg_end, which also wakes the progress thread. */
rayc__wbuf *rayc__msg_begin(rayc__runtime *rt, int dest, uint8_t type, size_t *start);
void rayc__msg_end(rayc__runtime *rt, int dest, size_t start);

/* ---- submitq.c (rank 0; rayc__submitq_push is in gcs_int.h) ---- */
int rayc__submitq_init(rayc__runtime *rt); /* 0, or -1 when out of memory */
void rayc__submitq_destroy(rayc__runtime *rt);
/* 1 when a queued submission waits to be entered (caller holds rt->mu). */
int rayc__submitq_pending(const rayc__runtime *rt);
/* Enter every queued submission into the control service (caller holds rt->mu). */
void rayc__submitq_flush(rayc__runtime *rt);

/* ---- raylet.c: rank 0's completion queue ---- */
/* Enter every queued completion (caller holds rt->mu). */
void rayc__raylet_drain_done(rayc__runtime *rt);

/* Take the runtime lock; on rank 0 also enter queued completions and submissions, so that
 * whatever the holder reads of the raylet and the control service includes every task that
 * ended and every submission made before. */
static inline void rayc__lock_entered(rayc__runtime *rt) /* just took rt->mu: enter queues */
{
    if (atomic_load_explicit(&rt->doneq, memory_order_acquire))
        rayc__raylet_drain_done(rt);
    if (rayc__submitq_pending(rt))
        rayc__submitq_flush(rt);
}

static inline void rayc__lock(rayc__runtime *rt)
{
    pthread_mutex_lock(&rt->mu);
    rayc__lock_entered(rt);
}

/* rayc__lock if rt->mu is free now; 0 (nothing taken) when another thread holds it. */
static inline int rayc__trylock(rayc__runtime *rt)
{
    if (pthread_mutex_trylock(&rt->mu) != 0)
        return 0;
    rayc__lock_entered(rt);
    return 1;
}

/* A client polls for results without rt->mu: workers then leave completions in the queue for
 * it. poll_end is called holding rt->mu and enters what was queued meanwhile, so nothing is
 * left for a thread that will not look (with the worker's push-then-check, seq_cst). */
static inline void rayc__poll_begin(rayc__runtime *rt)
{
    atomic_fetch_add(&rt->npolling, 1);
}
static inline void rayc__poll_end(rayc__runtime *rt)
{
    atomic_fetch_sub(&rt->npolling, 1);
    if (atomic_load(&rt->doneq))
        rayc__raylet_drain_done(rt);
}

/* ---- gcs.c (rank 0; all under rt->mu) ---- */
int rayc__gcs_create(rayc__runtime *rt);
void rayc__gcs_destroy(rayc__runtime *rt);
/* Handle one record addressed to the control service from rank src. */
void rayc__gcs_handle(rayc__runtime *rt, int src, uint8_t type, rayc__rbuf *rec);
/* Defer (hold 1) or allow again (hold 0) placement passes; a caller that releases the hold
 * runs rayc__gcs_schedule itself. Holds nest. */
void rayc__gcs_hold_schedule(rayc__gcs *g, int hold);
void rayc__gcs_schedule(rayc__runtime *rt);
/* Local (rank 0) entry points used by client.c and raylet.c (submission: gcs_int.h). */
int rayc__gcs_put_local(rayc__runtime *rt, rayc__oid id, rayc_value *val, int loc,
                        int64_t off, const rayc__vhdr *hdr);
int rayc__gcs_release_local(rayc__runtime *rt, const rayc__oid *ids, int n);
/* One return of a finished task: the inline value (owned), or NULL when it is held in the
 * reporting rank's store at off with header hdr. */
typedef struct rayc__ret {
    rayc_value *val;
    int64_t off;
    rayc__vhdr hdr;
} rayc__ret;
/* Rank 0's own task tid ended well with nret returns (their values are taken over); gt is
 * its record (rayc__rtask.gt: no lookup), or NULL. */
void rayc__gcs_done_local(rayc__runtime *rt, rayc__oid tid, uint16_t attempt, double dur,
                          uint16_t nret, const rayc__ret *rets, struct gtask *gt);
int rayc__gcs_get_local(rayc__runtime *rt, rayc__op *op);
void rayc__gcs_cancel_local(rayc__runtime *rt, rayc__op *op);
int rayc__gcs_task_state(rayc__runtime *rt, rayc__oid id, rayc_task_state *out);
int rayc__gcs_list_tasks(rayc__runtime *rt, rayc_task_info *out, int max, int *n);
void rayc__gcs_available(rayc__runtime *rt, int rank, rayc__resvec *out);
/* Begin shutdown: cancel queued tasks, fail waiting clients, tell every rank to drain. */
void rayc__gcs_shutdown_begin(rayc__runtime *rt);
/* Stop the job on signal signum: cancel undispatched tasks, refuse new ones. */
void rayc__gcs_stop(rayc__runtime *rt, int signum);
/* Print the job summary (tasks, failures, busy time per rank) to stdout. */
void rayc__gcs_summary(rayc__runtime *rt);
/* 1 when tasks wait to be placed while others run on far ranks, those that cannot ring rank
 * 0's doorbell (other nodes, or every rank when the node has no shared bells): their DONE
 * records free the resources the waiting ones need, so rank 0's progress loop sleeps less to
 * notice them sooner. */
int rayc__gcs_queued_behind_far(rayc__runtime *rt);
/* 1 when every rank has acked the drain. */
int rayc__gcs_all_drained(rayc__runtime *rt);

/* ---- raylet.c (all ranks) ---- */
int rayc__raylet_create(rayc__runtime *rt, int nworkers);
void rayc__raylet_destroy(rayc__runtime *rt);
void rayc__raylet_handle(rayc__runtime *rt, int src, uint8_t type, rayc__rbuf *rec);
/* Take ownership of a task (rank 0's control service calls this directly). */
void rayc__raylet_enqueue(rayc__runtime *rt, rayc__rtask *t);
/* Periodic work from the progress loop: hand back stale prefetched tasks. Returns work done. */
int rayc__raylet_tick(rayc__runtime *rt, double now);
/* Drain for shutdown: stop starting tasks; returns 1 once no task runs. */
int rayc__raylet_drained(rayc__runtime *rt);
void rayc__raylet_begin_drain(rayc__runtime *rt);
void rayc__raylet_halt(rayc__runtime *rt);
void rayc__raylet_join_workers(rayc__runtime *rt);
/* A worker blocks in get/wait: give its CPUs back (or take them again). */
void rayc__raylet_block(rayc__runtime *rt, int blocked);
/* Local object store (store.c): primary copies made here and cached copies pulled here. */
int rayc__store_put(rayc__runtime *rt, rayc__oid id, rayc_value *val); /* primary; takes ref */
rayc_value *rayc__store_get(rayc__runtime *rt, rayc__oid id);         /* new ref, restores */
void rayc__store_free(rayc__runtime *rt, rayc__oid id);
/* A raylet task record with room for nargs arguments (zeroed), and its release (its values
 * included), from the raylet's pools (caller holds rt->mu). */
rayc__rtask *rayc__rtask_new(rayc__raylet *ray, uint32_t nargs);
void rayc__rtask_free(rayc__raylet *ray, rayc__rtask *t);
/* Decode a RAYC__M_TASK record (encoded by gcs_sched.c). */
rayc__rtask *rayc__rtask_decode(rayc__raylet *ray, rayc__rbuf *r);

/* Messages for the control service from this rank: on rank 0 the record is handled when it
 * ends (no MPI); elsewhere it joins the batch for rank 0. Caller holds rt->mu. */
typedef struct rayc__gmsg {
    rayc__wbuf local;
    rayc__wbuf *b;
    size_t at;
    uint8_t type;
} rayc__gmsg;
rayc__wbuf *rayc__gmsg_begin(rayc__runtime *rt, rayc__gmsg *m, uint8_t type);
void rayc__gmsg_end(rayc__runtime *rt, rayc__gmsg *m);
void rayc__put_demand(rayc__wbuf *b, const rayc__resvec *d);
int rayc__get_demand(rayc__rbuf *r, rayc__resvec *d);

/* ---- client.c (any thread, any rank) ---- */
void rayc__client_handle(rayc__runtime *rt, int src, uint8_t type, rayc__rbuf *rec);
/* Called by the control service on rank 0, or by the GET_REPLY handler, with rt->mu held. */
void rayc__op_complete(rayc__runtime *rt, rayc__op *op);
/* Send or apply a record for the control service from this rank: on rank 0 it is handled at
 * once, elsewhere it is queued for rank 0. Caller holds rt->mu. */
/* Free this thread's scratch buffers (a worker or progress thread that ends). */
void rayc__thread_exit(void);
/* The task running on this thread (NULL outside tasks). */
extern _Thread_local struct rayc_task *rayc__cur_task;
/* Refs made inside a task are released when it ends unless released before. */
void rayc__task_track_ref(struct rayc_task *t, rayc__oid id);
int rayc__task_untrack_ref(struct rayc_task *t, rayc__oid id);
void rayc__task_release_tracked(rayc__runtime *rt, struct rayc_task *t);
/* Store value as the object id of this rank (inline or in the local store) and tell the
 * control service. Takes the caller's reference. Caller holds rt->mu. */
int rayc__publish(rayc__runtime *rt, rayc__oid id, rayc_value *val, int *inline_out,
                  const char *producer);

/* ---- transfer.c (object movement between ranks; all under rt->mu) ---- */
typedef void (*rayc__fetch_cb)(rayc__runtime *rt, void *ctx, rayc_value *val, const char *err);
int rayc__xfer_create(rayc__runtime *rt);
void rayc__xfer_destroy(rayc__runtime *rt);
/* Pull object id (header hdr) from rank loc; cb runs (under rt->mu, on the progress thread)
 * with a new reference, or NULL and a message. */
int rayc__fetch(rayc__runtime *rt, rayc__oid id, int loc, int64_t off, const rayc__vhdr *hdr,
                rayc__fetch_cb cb, void *ctx);
void rayc__xfer_handle(rayc__runtime *rt, int src, uint8_t type, rayc__rbuf *rec);
/* Progress phase: post and complete transfers (called without rt->mu). Returns work done. */
int rayc__xfer_progress(rayc__runtime *rt);
int rayc__xfer_idle(rayc__runtime *rt);

#endif /* RAYC_RT_H */
