/* gcs_int.h: the control service's records, shared by gcs.c (tasks and objects),
 * gcs_sched.c (dispatch) and gcs_req.c (client get/wait). Rank 0 only, under rt->mu. */
#ifndef RAYC_GCS_INT_H
#define RAYC_GCS_INT_H

#include "oidmap.h"
#include "rt.h"
#include "slab.h"

#define RAYC__GCS_FINISHED_RING 4096

enum { W_TASK = 0, W_REQ = 1 };

typedef struct gwait {
    struct gwait *next;
    uint8_t kind;      /* W_TASK: who is a gtask; W_REQ: a greq */
    uint32_t slot;     /* argument or request index */
    void *who;
} gwait;

struct gtask;

/* Where a value that is not inline lives: the holding rank's store (the object directory's
 * entry proper). Only ready objects held by a rank have one, so the many pending and small
 * objects stay small. */
typedef struct gloc {
    int32_t loc;       /* rank holding the value */
    int32_t ncopies;
    int64_t off;       /* its block in loc's window, -1 when not in one */
    int32_t *copies;   /* other ranks holding cached copies (ncopies of them) */
    rayc__vhdr hdr;
} gloc;

typedef struct gobj {
    rayc__oid id;
    uint8_t state;     /* enum rayc__obj_state */
    uint8_t handle;    /* the owner's ref is alive */
    int16_t fail_status; /* FAILED: RAYC_ETASK or RAYC_ECANCELLED */
    int32_t refs;      /* handle + unfinished tasks using it */
    rayc_value *val;   /* inline value (READY and not held by a rank) */
    gloc *where;       /* READY and held by a rank */
    char *err;         /* FAILED: why */
    struct gtask *producer;
    gwait *waiters;
} gobj;

/* Rank holding o's value (-1: inline or not ready), its window offset, and its header. */
static inline int32_t rayc__gobj_loc(const gobj *o)
{
    return o->where ? o->where->loc : -1;
}
static inline int64_t rayc__gobj_off(const gobj *o)
{
    return o->where ? o->where->off : -1;
}
static inline const rayc__vhdr *rayc__gobj_hdr(const gobj *o)
{
    static const rayc__vhdr none;
    return o->val ? &o->val->h : o->where ? &o->where->hdr : &none;
}

typedef struct garg {
    rayc_value *val;   /* by-value argument */
    rayc__oid id;      /* ref argument (null id for by-value) */
} garg;

/* A submission as a rank 0 submitter leaves it in the queue (submitq.c): the lock holder
 * makes the task record from it. */
#define RAYC__SUBQ_ARGS 3 /* arguments kept in the slot itself */
typedef struct rayc__subspec {
    rayc__oid id;
    uint32_t fn;
    uint16_t num_returns, max_retries;
    uint32_t nargs;
    uint8_t strategy, soft;
    uint8_t own_demand;          /* demand was malloc'ed for this submission */
    int32_t affinity;
    const rayc__resvec *demand;  /* the function's defaults (rt->fn_defaults), or owned */
    union {
        garg args[RAYC__SUBQ_ARGS]; /* nargs <= RAYC__SUBQ_ARGS */
        garg *xargs;                /* more: malloc'ed */
    };                              /* by-value arguments only; their values are owned */
} rayc__subspec;

/* Queue a submission (any thread, without rt->mu). Returns 1 when the caller should enter
 * the queue if the lock is free (rayc__trylock), 0 when a later lock holder will: spec's
 * values, xargs and owned demand belong to the queue then. -2 when the queue is full: nothing
 * was queued, spec is still the caller's, who enters the queue (rayc__lock) and pushes
 * again. */
int rayc__submitq_push(rayc__runtime *rt, const rayc__subspec *spec);

/* Tasks with the same function, demand and strategy share a class and a FIFO queue. */
typedef struct gclass {
    struct gclass *next_all;
    uint64_t hash;
    uint32_t fn;
    rayc__resvec demand;
    uint8_t strategy, soft;
    int32_t affinity;
    struct gtask *head, *tail;
    uint32_t qlen;
    int infeasible_reported;
    uint64_t waits_for;   /* view epoch + 1 when its head last had to WAIT (0: it did not) */
} gclass;

/* A task record: 72 bytes and its arguments (96 with one), from the control service's pools
 * (rayc__gtask_new). Live tasks are found through their first return (or g->tasks) and listed
 * in arrival order by rayc__gcs_live_tasks, so the record keeps no list links. */
typedef struct gtask {
    rayc__oid id;
    gclass *cls;
    struct gtask *next;                  /* class queue */
    struct gobj *ret1;                   /* return 1 (pending until the task ends) */
    uint32_t fn;
    uint32_t arrival;                    /* entry order at the control service (wraps) */
    int32_t rank;                        /* dispatched to, -1 before */
    uint32_t deps_left;
    uint32_t nargs;
    uint16_t num_returns, attempt, max_retries;
    uint8_t state;                       /* rayc_task_state */
    uint8_t failing;
    uint8_t requeued;                    /* put back at the front of its queue */
    garg args[];
} gtask;

/* Tasks with fewer arguments than this come from a pool per argument count; others from
 * malloc. */
#define RAYC__GTASK_POOLS 4

typedef struct fnstat {
    double avg;        /* EWMA of run time, seconds */
    double typical;    /* the same with outliers capped (the home rule, gcs_sched.c) */
    uint64_t n;
    double depth_cap;  /* prefetch depth allowed; quartered when a raylet hands a task back */
    double returned_at; /* last hand-back (the cap recovers slowly after it) */
} fnstat;

typedef struct finished_rec {
    rayc__oid id;
    uint32_t fn;
    uint16_t num_returns;
    uint8_t state;
    int32_t rank;
    uint16_t attempt;
} finished_rec;

/* A client's get or wait. */
typedef struct greq {
    struct greq *next, *prev;
    rayc__op *op;      /* local client (rank 0), or NULL */
    int src;           /* requesting rank for remote */
    uint64_t req_id;
    int mode, n, num_returns;
    gobj **objs;       /* the objects named, each holding a reference for the request (from
                        * req_start on: no lookups afterwards) */
    uint8_t *done;     /* per index */
    int *order;        /* completion order (WAIT) */
    int ndone, nfailed;
    int complete;      /* queued on the completed list */
    int waiting;       /* waiters were registered on pending objects */
    struct greq *next_done;
} greq;

typedef struct pfail {
    struct pfail *next;
    gtask *t;
    char *msg;
    int status;
} pfail;

struct rayc__gcs {
    rayc__oidmap *objs;   /* one sequential map per submitting rank (nobjs of them): a rank
                           * makes its ids in sequence, so a burst's sit side by side */
    int nobjs;
    rayc__oidmap tasks;   /* tasks without returns; the others are found through their first
                           * return's producer */
    gclass *classes;
    gclass *last_cls;     /* the class of the latest submission (most repeat it) */
    rayc__slab obj_pool;  /* gobj records */
    rayc__slab wait_pool; /* gwait records */
    rayc__slab task_pool[RAYC__GTASK_POOLS]; /* gtask records by argument count */
    uint32_t next_arrival;
    uint64_t nqueued, nretries;
    rayc__cluster_view view;
    uint64_t *arg_bytes;  /* scratch, one per rank */
    fnstat *fnstats;
    finished_rec finished[RAYC__GCS_FINISHED_RING];
    uint64_t finished_next, finished_count;
    greq *reqs;
    greq *completed;  /* finished while waiters were being run */
    pfail *pfail;
    int pfail_running;
    int sched_dirty;
    int sched_hold;   /* placement passes deferred (a worker ends a batch of tasks) */
    int acks;             /* drained ranks */
    int stopped;          /* a stop signal cancelled the queue; new tasks are refused */
    /* summary counters */
    uint64_t nsubmitted, nfinished, nfailed, ncancelled;
    double *busy;         /* seconds of task run time per rank */
    rayc_store_info *stats; /* latest store statistics per rank */
};

gobj *rayc__gobj_find(rayc__gcs *g, rayc__oid id);
/* Iterate every object: *pos starts at 0; NULL at the end. No object may come or go
 * meanwhile. */
gobj *rayc__gcs_next_obj(rayc__gcs *g, size_t *pos);
/* A task record with room for nargs arguments (zeroed; attempt 1, not dispatched), and its
 * release (argument values included). */
gtask *rayc__gtask_new(rayc__gcs *g, uint32_t nargs);
void rayc__gtask_free(rayc__gcs *g, gtask *t);
/* The live tasks (entered and not ended) in arrival order, as a malloc'd array the caller
 * frees; *n is their number. NULL with *n 0 when there are none or out of memory (*oom set). */
gtask **rayc__gcs_live_tasks(rayc__gcs *g, size_t *n, int *oom);
/* Iterate the live tasks in no particular order: *pos starts at 0; NULL at the end. Ending a
 * task or entering one while iterating is not allowed (queue failures with
 * rayc__pending_cancel_push and run them after). */
gtask *rayc__gcs_next_live(rayc__gcs *g, size_t *pos);
/* Waiter records from the pool. */
gwait *rayc__gwait_new(rayc__gcs *g);
void rayc__gwait_free(rayc__gcs *g, gwait *w);
/* Rank 0's submission without encoding: t has id, fn, returns, retries and arguments set;
 * takes ownership of t whatever the outcome. 0 or an error with message. */
int rayc__gcs_submit_direct(rayc__runtime *rt, gtask *t, const rayc__resvec *demand,
                            int strategy, int32_t affinity, int soft);
/* The same without scheduling and without touching the caller's last-error text (a batch
 * from the submission queue); the message goes to err. */
int rayc__gcs_submit_entered(rayc__runtime *rt, gtask *t, const rayc__resvec *demand,
                             int strategy, int32_t affinity, int soft, char *err, size_t errlen);
void rayc__gobj_unref(rayc__runtime *rt, gobj *o);
void rayc__task_fail_all(rayc__runtime *rt, gtask *t, const char *msg);
void rayc__task_fail_status(rayc__runtime *rt, gtask *t, int status, const char *msg);
void rayc__pending_fail_push(rayc__gcs *g, gtask *t, char *msg);
void rayc__pending_cancel_push(rayc__gcs *g, gtask *t, char *msg);
void rayc__pending_fail_run(rayc__runtime *rt);
void rayc__class_push(rayc__gcs *g, gtask *t, int front);
gtask *rayc__class_pop(rayc__gcs *g, gclass *c);
/* gcs_req.c */
void rayc__req_obj_done(rayc__runtime *rt, greq *r, uint32_t slot, gobj *o);
void rayc__gcs_remote_get(rayc__runtime *rt, int src, rayc__rbuf *rec);
void rayc__gcs_remote_cancel(rayc__runtime *rt, int src, uint64_t req_id);
void rayc__gcs_free_reqs(rayc__gcs *g);
void rayc__gcs_finish_completed(rayc__runtime *rt);
void rayc__gcs_stats_record(rayc__runtime *rt, int src, rayc__rbuf *rec);

#endif /* RAYC_GCS_INT_H */
