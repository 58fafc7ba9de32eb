/* sched_policy.h: where a ready task should run. Pure logic, no MPI, no threads, no globals:
 * the control service (gcs.c) owns a rayc__cluster_view and asks this module to place tasks.
 *
 * Resources are dense vectors (rayc__resvec): slot 0 CPU, 1 GPU, 2 memory bytes, 3.. the job's
 * custom resources in the order of the job-wide name table built at init. */
#ifndef RAYC_SCHED_POLICY_H
#define RAYC_SCHED_POLICY_H

#include <stdint.h>

#define RAYC__RES_CPU 0
#define RAYC__RES_GPU 1
#define RAYC__RES_MEM 2
#define RAYC__RES_CUSTOM0 3
#define RAYC__RES_MAX 11 /* 3 builtin + RAYC_MAX_CUSTOM (8) custom */

typedef struct rayc__resvec {
    double q[RAYC__RES_MAX];
} rayc__resvec;

/* 1 when every slot of want is <= the same slot of have (+ a 1e-9 tolerance). A slot that want
 * does not use (<= 1e-9) always fits, even where prefetching has driven have below zero. */
int rayc__res_fits(const rayc__resvec *have, const rayc__resvec *want);
void rayc__res_add(rayc__resvec *acc, const rayc__resvec *d);
void rayc__res_sub(rayc__resvec *acc, const rayc__resvec *d);

/* What the control service knows of one rank. */
typedef struct rayc__rank_view {
    rayc__resvec total;     /* what the rank offers */
    rayc__resvec avail;     /* total minus what dispatched, unfinished tasks hold; a slot may go
                               negative by prefetched tasks (see slack below) */
    uint32_t inflight;      /* tasks dispatched and not finished */
    uint8_t accepts_tasks;  /* 0: the rank runs no tasks (e.g. rank 0 with rank0_workers=0) */
} rayc__rank_view;

typedef struct rayc__cluster_view {
    int nranks;
    rayc__rank_view *ranks; /* nranks entries, owned by the caller */
    int spread_next;        /* round-robin cursor for SPREAD, advanced by rayc__place */
    uint64_t epoch;         /* bumped whenever a rank's avail grows (rayc__uncharge, or the
                               caller's rayc__view_grew): a request that had to WAIT cannot
                               be placed before it moves, unless its slack grew */
} rayc__cluster_view;

enum rayc__strategy { RAYC__SCHED_DEFAULT = 0, RAYC__SCHED_SPREAD = 1, RAYC__SCHED_AFFINITY = 2 };

/* One placement question. */
typedef struct rayc__place_req {
    rayc__resvec demand;
    int strategy;          /* enum rayc__strategy */
    int affinity_rank;     /* for RAYC__SCHED_AFFINITY */
    int affinity_soft;     /* nonzero: when the affinity rank can never fit, or is busy, use DEFAULT */
    const uint64_t *arg_bytes; /* NULL, or nranks entries: bytes of the task's ref arguments
                                  already held by each rank (locality) */
    rayc__resvec slack;    /* prefetch allowance: a rank may take the task when
                              avail + slack fits demand (late binding window); zero for none */
    int home;              /* DEFAULT: 1 to keep the task on home_rank whenever that rank has
                              room (avail or slack), before any other rule; 2 to place it
                              nowhere else while home_rank could ever take it (WAIT instead) */
    int home_rank;
} rayc__place_req;

enum rayc__place_result {
    RAYC__PLACE_OK = 0,         /* *rank_out is the chosen rank */
    RAYC__PLACE_WAIT = 1,       /* feasible, but no rank has room now: keep it queued */
    RAYC__PLACE_INFEASIBLE = 2  /* no rank's total can ever satisfy it (or a hard affinity rank
                                   that cannot, or does not exist) */
};

/* Choose a rank for req. Rules, in order:
 *  - Feasibility: a rank is a candidate only if accepts_tasks and total fits demand. None ->
 *    INFEASIBLE. Hard affinity to a rank that is out of range or cannot fit -> INFEASIBLE.
 *  - Room: a candidate has room when avail fits demand, or (avail + slack) fits demand.
 *    Ranks with room through avail alone are preferred over those needing slack.
 *  - AFFINITY: the affinity rank if it has room; else hard -> WAIT, soft -> as DEFAULT.
 *  - SPREAD: the first rank with room at or after spread_next (cyclic); advances spread_next
 *    past the chosen rank.
 *  - DEFAULT: home_rank when home is set and that rank has room (through avail or slack);
 *    with home 2, WAIT when it has none (unless it can never take the task); otherwise, among
 *    ranks with room, the most arg_bytes; ties broken by the fewest inflight tasks relative to
 *    total CPU (inflight / max(total cpu, 1)), then the lowest rank.
 *  - No rank with room -> WAIT.
 * Does not modify avail/inflight: the caller charges the chosen rank (rayc__charge). */
int rayc__place(rayc__cluster_view *view, const rayc__place_req *req, int *rank_out);

/* Account a dispatched task on rank (avail -= demand, inflight++) or its end (the reverse). */
void rayc__charge(rayc__cluster_view *view, int rank, const rayc__resvec *demand);
void rayc__uncharge(rayc__cluster_view *view, int rank, const rayc__resvec *demand);
/* The caller raised a rank's avail by hand: bump the epoch. */
static inline void rayc__view_grew(rayc__cluster_view *view)
{
    view->epoch++;
}

/* Parse "name=qty,name=qty" into vec using the job-wide custom names (names[i] is slot
 * RAYC__RES_CUSTOM0 + i, nnames <= 8). Unknown names are added to names[] when add_unknown and
 * there is room; otherwise parsing fails. Whitespace around tokens is allowed; qty is a
 * non-negative finite number. Returns 0, or -1 with a message in err (errlen bytes). */
int rayc__res_parse(const char *spec, char names[][32], int *nnames, int add_unknown,
                    rayc__resvec *vec, char *err, int errlen);

#endif /* RAYC_SCHED_POLICY_H */
