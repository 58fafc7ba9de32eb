/* raylet_int.h: the raylet's state and the task execution context, shared by raylet.c and
 * task.c. All fields are guarded by rt->mu except the task context, which belongs to the
 * worker running it. */
#ifndef RAYC_RAYLET_INT_H
#define RAYC_RAYLET_INT_H

#include "oidmap.h"
#include "rt.h"
#include "slab.h"

/* Task records with fewer arguments than this come from a pool per argument count. */
#define RAYC__RTASK_POOLS 4

struct rayc__raylet {
    rayc__resvec total, avail;
    int gpu_ids[RAYC__MAX_GPUS];
    double gpu_used[RAYC__MAX_GPUS]; /* fraction of each GPU taken by running tasks */
    int ngpus;
    rayc__rtask *ready_head, *ready_tail; /* arguments here, waiting for resources */
    rayc__rtask *running;                 /* started, not finished (STARTED reports) */
    double last_start;                    /* when a worker last started a task */
    uint32_t nready;
    pthread_cond_t cv;      /* idle workers wait here */
    pthread_cond_t exit_cv; /* a worker left */
    int nworkers, nidle, nwaking, nstarting, nrunning;
    atomic_int nspinning;     /* idle workers polling ready_gen before they sleep (changed
                               * without rt->mu by a worker that queued its completion) */
    atomic_uint ready_gen;    /* bumped whenever a task becomes runnable */
    int base_workers, max_workers, next_worker_id;
    uint64_t ntasks_run;
    int draining, stop, final, acked;
    int halted;               /* the job stops: hand back tasks instead of queueing them */
    struct rayc__fnrun {      /* per function (registry index): measured run time here */
        double avg;           /* moving average, seconds */
        uint32_t n;           /* runs measured (saturates) */
    } *fnrun;
    int nfn;
    rayc__slab rtask_pool[RAYC__RTASK_POOLS]; /* rayc__rtask_new */
};

/* The context a task function sees (public type rayc_task). */
struct rayc_task {
    rayc__runtime *rt;
    rayc__rtask *task;
    const rayc__fn_entry *fn;
    rayc_value **rets;        /* num_returns slots */
    rayc_value *ret_inline[4];
    int failed;               /* a rayc_arg_* reader or rayc_task_fail recorded a failure */
    int fail_status;
    double gpu_share;         /* fraction taken of each (1, or the request when < 1) */
    int ngpus;
    rayc__oid *created;       /* refs made inside the task, released when it ends */
    int ncreated, capcreated;
    /* Not cleared when the context is made (rayc__task_ctx_init): read only up to ngpus, and
     * failmsg only once failed is set. */
    int gpu_ids[RAYC__MAX_GPUS];
    int gpu_slot[RAYC__MAX_GPUS]; /* raylet index of each id */
    char failmsg[768];
};

void rayc__raylet_kick(rayc__runtime *rt);
void rayc__raylet_run(rayc__runtime *rt, rayc__rtask *t);
rayc__rtask *rayc__raylet_take_for_helper(rayc__runtime *rt);

/* task.c */
void rayc__task_ctx_init(struct rayc_task *ctx, rayc__runtime *rt, rayc__rtask *t);
void rayc__task_ctx_destroy(struct rayc_task *ctx);
/* Call the user's function (without rt->mu); returns its status. */
int rayc__task_call(struct rayc_task *ctx);
/* Publish returns or the failure and report DONE (with rt->mu). */
void rayc__task_finish(rayc__runtime *rt, struct rayc_task *ctx, int rc, double dur);

#endif /* RAYC_RAYLET_INT_H */
