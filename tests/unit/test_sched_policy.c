/* test_sched_policy.c: rayc__place (feasibility, WAIT, slack, locality, load and rank tie-breaks,
 * SPREAD, hard/soft affinity, non-accepting ranks), rayc__charge/uncharge, rayc__res_fits and
 * rayc__res_parse, against fake cluster layouts in-process (no MPI). */
#include <string.h>

#include "sched_policy.h"
#include "unit_main.h"

#define NOT_SET (-77) /* sentinel: rank_out must stay untouched unless the result is OK */

/* ------------------------------------------------------------------------------------------ */
/* Fake cluster layouts                                                                        */

/* A rank offering cpu/gpu/mem, all of it free, nothing in flight, accepting tasks. */
static rayc__rank_view mk_rank(double cpu, double gpu, double mem)
{
    rayc__rank_view rv;
    memset(&rv, 0, sizeof rv);
    rv.total.q[RAYC__RES_CPU] = cpu;
    rv.total.q[RAYC__RES_GPU] = gpu;
    rv.total.q[RAYC__RES_MEM] = mem;
    rv.avail = rv.total;
    rv.accepts_tasks = 1;
    return rv;
}

/* n identical ranks of 4 CPUs, no GPU, 1 GiB. */
static rayc__cluster_view mk_cluster(rayc__rank_view *ranks, int n)
{
    for (int i = 0; i < n; i++)
        ranks[i] = mk_rank(4, 0, 1 << 30);
    rayc__cluster_view v = {.nranks = n, .ranks = ranks, .spread_next = 0};
    return v;
}

/* A DEFAULT request for cpu CPUs and gpu GPUs, no locality, no slack. */
static rayc__place_req mk_req(double cpu, double gpu)
{
    rayc__place_req req;
    memset(&req, 0, sizeof req);
    req.demand.q[RAYC__RES_CPU] = cpu;
    req.demand.q[RAYC__RES_GPU] = gpu;
    req.strategy = RAYC__SCHED_DEFAULT;
    req.affinity_rank = -1;
    return req;
}

/* Place req and return the result; *rank gets the rank (NOT_SET unless OK). */
static int place(rayc__cluster_view *v, const rayc__place_req *req, int *rank)
{
    *rank = NOT_SET;
    return rayc__place(v, req, rank);
}

/* ------------------------------------------------------------------------------------------ */
/* Resource vectors                                                                            */

static void test_res_fits(void)
{
    rayc__resvec have = {{0}}, want = {{0}};
    have.q[RAYC__RES_CPU] = 2;
    want.q[RAYC__RES_CPU] = 2;
    CU_ASSERT_EQUAL(rayc__res_fits(&have, &want), 1);
    want.q[RAYC__RES_CPU] = 2 + 1e-10; /* inside the tolerance */
    CU_ASSERT_EQUAL(rayc__res_fits(&have, &want), 1);
    want.q[RAYC__RES_CPU] = 2.001;
    CU_ASSERT_EQUAL(rayc__res_fits(&have, &want), 0);
    want.q[RAYC__RES_CPU] = 1;
    want.q[RAYC__RES_CUSTOM0 + 7] = 0.5; /* last slot is checked too */
    CU_ASSERT_EQUAL(rayc__res_fits(&have, &want), 0);
    have.q[RAYC__RES_CUSTOM0 + 7] = 0.5;
    CU_ASSERT_EQUAL(rayc__res_fits(&have, &want), 1);
    /* a slot want does not use fits even when have went negative through prefetch */
    have.q[RAYC__RES_GPU] = -1;
    CU_ASSERT_EQUAL(rayc__res_fits(&have, &want), 1);
    want.q[RAYC__RES_GPU] = 0.5;
    CU_ASSERT_EQUAL(rayc__res_fits(&have, &want), 0);
}

static void test_res_add_sub(void)
{
    rayc__resvec acc = {{0}}, d = {{0}};
    acc.q[RAYC__RES_CPU] = 4;
    acc.q[RAYC__RES_CUSTOM0] = 1;
    d.q[RAYC__RES_CPU] = 1.5;
    d.q[RAYC__RES_CUSTOM0] = 2;
    rayc__res_sub(&acc, &d);
    CU_ASSERT_DOUBLE_EQUAL(acc.q[RAYC__RES_CPU], 2.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(acc.q[RAYC__RES_CUSTOM0], -1, 1e-12);
    rayc__res_add(&acc, &d);
    rayc__res_add(&acc, &d);
    CU_ASSERT_DOUBLE_EQUAL(acc.q[RAYC__RES_CPU], 5.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(acc.q[RAYC__RES_CUSTOM0], 3, 1e-12);
}

/* ------------------------------------------------------------------------------------------ */
/* Feasibility                                                                                 */

static void test_infeasible_gpu_on_gpu_less_cluster(void)
{
    rayc__rank_view ranks[3];
    rayc__cluster_view v = mk_cluster(ranks, 3);
    rayc__place_req req = mk_req(1, 1);
    int rank;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_INFEASIBLE);
    CU_ASSERT_EQUAL(rank, NOT_SET);
    req.strategy = RAYC__SCHED_SPREAD;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_INFEASIBLE);
    CU_ASSERT_EQUAL(v.spread_next, 0);
    /* more CPUs than any rank has, even though every rank is idle */
    req = mk_req(5, 0);
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_INFEASIBLE);
    /* a GPU on rank 2 only makes it feasible there, whatever the load */
    ranks[2] = mk_rank(4, 1, 1 << 30);
    ranks[2].inflight = 3;
    req = mk_req(1, 1);
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 2);
}

static void test_infeasible_custom_resource(void)
{
    rayc__rank_view ranks[3];
    rayc__cluster_view v = mk_cluster(ranks, 3);
    ranks[1].total.q[RAYC__RES_CUSTOM0 + 1] = 2;
    ranks[1].avail = ranks[1].total;
    ranks[1].inflight = 2; /* busier than ranks 0 and 2: only the resource can draw it */
    rayc__place_req req = mk_req(1, 0);
    req.demand.q[RAYC__RES_CUSTOM0 + 1] = 2;
    int rank;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 1);
    req.demand.q[RAYC__RES_CUSTOM0 + 1] = 3;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_INFEASIBLE);
    CU_ASSERT_EQUAL(rank, NOT_SET);
    req.demand.q[RAYC__RES_CUSTOM0 + 1] = 0;
    req.demand.q[RAYC__RES_CUSTOM0 + 2] = 1; /* a resource nobody offers */
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_INFEASIBLE);
}

static void test_infeasible_empty_cluster(void)
{
    rayc__cluster_view v = {.nranks = 0, .ranks = NULL, .spread_next = 0};
    rayc__place_req req = mk_req(1, 0);
    int rank;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_INFEASIBLE);
    req.strategy = RAYC__SCHED_SPREAD;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_INFEASIBLE);
    req.strategy = RAYC__SCHED_AFFINITY;
    req.affinity_rank = 0;
    req.affinity_soft = 1;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_INFEASIBLE);
    CU_ASSERT_EQUAL(rank, NOT_SET);
}

static void test_accepts_tasks_zero_never_chosen(void)
{
    rayc__rank_view ranks[3];
    rayc__cluster_view v = mk_cluster(ranks, 3);
    ranks[0].accepts_tasks = 0; /* otherwise the best rank: idle, lowest, holds the args */
    ranks[0].total.q[RAYC__RES_GPU] = 4;
    ranks[0].avail = ranks[0].total;
    ranks[1].inflight = 1;
    ranks[2].inflight = 2;
    uint64_t bytes[3] = {1000, 0, 0};
    rayc__place_req req = mk_req(1, 0);
    req.arg_bytes = bytes;
    int rank;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 1);
    req.strategy = RAYC__SCHED_SPREAD;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 1);
    CU_ASSERT_EQUAL(v.spread_next, 2);
    /* only rank 0 has GPUs, but it runs no tasks */
    req = mk_req(1, 1);
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_INFEASIBLE);
    /* with every rank refusing tasks nothing is feasible, not even an empty demand */
    for (int i = 0; i < 3; i++)
        ranks[i].accepts_tasks = 0;
    req = mk_req(0, 0);
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_INFEASIBLE);
}

/* ------------------------------------------------------------------------------------------ */
/* Room: WAIT and slack                                                                        */

static void test_wait_when_full(void)
{
    rayc__rank_view ranks[3];
    rayc__cluster_view v = mk_cluster(ranks, 3);
    for (int i = 0; i < 3; i++) {
        ranks[i].avail.q[RAYC__RES_CPU] = 0.5;
        ranks[i].inflight = 7;
    }
    v.spread_next = 1;
    rayc__place_req req = mk_req(1, 0);
    int rank;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_WAIT);
    CU_ASSERT_EQUAL(rank, NOT_SET);
    req.strategy = RAYC__SCHED_SPREAD;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_WAIT);
    CU_ASSERT_EQUAL(v.spread_next, 1); /* cursor moves only on OK */
    /* a half-CPU task still fits; the view itself is not charged by place */
    req = mk_req(0.5, 0);
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 0);
    CU_ASSERT_DOUBLE_EQUAL(ranks[0].avail.q[RAYC__RES_CPU], 0.5, 1e-12);
    CU_ASSERT_EQUAL(ranks[0].inflight, 7);
}

static void test_slack_allows_rank(void)
{
    rayc__rank_view ranks[2];
    rayc__cluster_view v = mk_cluster(ranks, 2);
    ranks[0].avail.q[RAYC__RES_CPU] = -1; /* one task already prefetched beyond its CPUs */
    ranks[0].inflight = 5;
    ranks[1].avail.q[RAYC__RES_CPU] = 0; /* exactly full */
    ranks[1].inflight = 4;
    rayc__place_req req = mk_req(1, 0);
    int rank;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_WAIT);
    req.slack.q[RAYC__RES_CPU] = 1; /* room for one prefetched task per rank */
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 1);
    req.strategy = RAYC__SCHED_SPREAD;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 1);
    CU_ASSERT_EQUAL(v.spread_next, 0);
    /* slack on a slot the task does not need does not help */
    req = mk_req(1, 0);
    req.slack.q[RAYC__RES_GPU] = 8;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_WAIT);
    /* with more slack both qualify; rank 1 is less loaded (4 vs 5 on 4 CPUs) */
    req = mk_req(1, 0);
    req.slack.q[RAYC__RES_CPU] = 2;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 1);
    ranks[1].inflight = 6;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 0);
}

static void test_avail_preferred_over_slack(void)
{
    rayc__rank_view ranks[3];
    rayc__cluster_view v = mk_cluster(ranks, 3);
    uint64_t bytes[3] = {1u << 30, 1u << 20, 0}; /* ranks 0 and 1 hold the arguments */
    ranks[0].avail.q[RAYC__RES_CPU] = 0;
    ranks[1].avail.q[RAYC__RES_CPU] = 0;
    ranks[2].inflight = 3; /* busiest, but the only one with a free CPU */
    rayc__place_req req = mk_req(1, 0);
    req.slack.q[RAYC__RES_CPU] = 2;
    req.arg_bytes = bytes;
    int rank;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 2);
    req.strategy = RAYC__SCHED_SPREAD; /* cursor at 0: rank 0 has slack room only */
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 2);
    CU_ASSERT_EQUAL(v.spread_next, 0);
    /* once rank 2 is full too, locality decides among the slack ranks */
    ranks[2].avail.q[RAYC__RES_CPU] = 0;
    req.strategy = RAYC__SCHED_DEFAULT;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 0);
}

/* A home rank is taken whenever it has room, even by slack alone; full, it is passed over. */
static void test_home_rank_first(void)
{
    rayc__rank_view ranks[3];
    rayc__cluster_view v = mk_cluster(ranks, 3);
    ranks[1].avail.q[RAYC__RES_CPU] = 0;
    ranks[1].inflight = 9; /* the busiest, with slack room only */
    rayc__place_req req = mk_req(1, 0);
    req.slack.q[RAYC__RES_CPU] = 2;
    int rank;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 0); /* no home: a rank with a free CPU */
    req.home = 1;
    req.home_rank = 1;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 1);
    ranks[1].avail.q[RAYC__RES_CPU] = -2; /* beyond its slack: the others */
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 0);
    req.home_rank = 7; /* out of range: ignored */
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 0);
    /* home 2: a full home rank means WAIT, though others have room */
    req.home = 2;
    req.home_rank = 1;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_WAIT);
    ranks[1].avail.q[RAYC__RES_CPU] = -1; /* within its slack again */
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 1);
    ranks[1].accepts_tasks = 0; /* a home that can never take it is passed over */
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 0);
    ranks[1].accepts_tasks = 1;
    ranks[1].avail.q[RAYC__RES_CPU] = 4; /* only DEFAULT looks at home */
    req.strategy = RAYC__SCHED_SPREAD;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* DEFAULT ordering                                                                            */

static void test_locality_by_arg_bytes(void)
{
    rayc__rank_view ranks[4];
    rayc__cluster_view v = mk_cluster(ranks, 4);
    uint64_t bytes[4] = {10, 500, 20, 499};
    ranks[1].inflight = 3; /* locality beats load */
    rayc__place_req req = mk_req(1, 0);
    req.arg_bytes = bytes;
    int rank;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 1);
    /* the holder without room is passed over for the next best holder */
    ranks[1].avail.q[RAYC__RES_CPU] = 0;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 3);
    /* without arg_bytes, load decides: ranks 0, 2, 3 idle, so rank 0 */
    req.arg_bytes = NULL;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 0);
}

static void test_least_loaded_tiebreak(void)
{
    rayc__rank_view ranks[3];
    rayc__cluster_view v = mk_cluster(ranks, 3);
    uint64_t bytes[3] = {7, 7, 7}; /* equal locality: load decides */
    ranks[0].inflight = 3;
    ranks[1].inflight = 1;
    ranks[2].inflight = 2;
    rayc__place_req req = mk_req(1, 0);
    req.arg_bytes = bytes;
    int rank;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 1);
    /* load is relative to CPUs: 2 on 8 CPUs (0.25) beats 1 on 2 CPUs (0.5) */
    ranks[0] = mk_rank(8, 0, 0);
    ranks[0].inflight = 2;
    ranks[1] = mk_rank(2, 0, 0);
    ranks[1].inflight = 1;
    ranks[2].inflight = 2; /* 2 on 4 CPUs: 0.5 */
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 0);
    /* CPU counts as at least 1: 1 task on 0.5 CPU is load 1, not 2, so it beats 6 on 4 (1.5) */
    rayc__rank_view two[2] = {mk_rank(4, 0, 0), mk_rank(0.5, 0, 0)};
    two[0].inflight = 6;
    two[1].inflight = 1;
    rayc__cluster_view v2 = {.nranks = 2, .ranks = two, .spread_next = 0};
    req = mk_req(0.5, 0);
    CU_ASSERT_EQUAL(place(&v2, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 1);
}

static void test_lowest_rank_tiebreak(void)
{
    rayc__rank_view ranks[4];
    rayc__cluster_view v = mk_cluster(ranks, 4);
    rayc__place_req req = mk_req(1, 0);
    int rank;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 0);
    ranks[0].avail.q[RAYC__RES_CPU] = 0;
    ranks[1].inflight = 1;
    ranks[2].inflight = 1;
    ranks[3].inflight = 1;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 1);
    /* equal relative load (2/8 == 1/4) is a tie, so the lower rank wins */
    ranks[1].inflight = 2;
    ranks[1].total.q[RAYC__RES_CPU] = 8;
    ranks[2].inflight = 2;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 1);
    ranks[1].inflight = 3;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 3);
}

/* ------------------------------------------------------------------------------------------ */
/* SPREAD                                                                                      */

static void test_spread_cycles(void)
{
    rayc__rank_view ranks[3];
    rayc__cluster_view v = mk_cluster(ranks, 3);
    uint64_t bytes[3] = {0, 0, 1 << 20}; /* ignored by SPREAD */
    rayc__place_req req = mk_req(1, 0);
    req.strategy = RAYC__SCHED_SPREAD;
    req.arg_bytes = bytes;
    const int expect[5] = {0, 1, 2, 0, 1};
    int rank;
    for (int i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
        CU_ASSERT_EQUAL(rank, expect[i]);
        CU_ASSERT_EQUAL(v.spread_next, (expect[i] + 1) % 3);
    }
    /* a stale cursor (the cluster view shrank) is taken modulo nranks */
    v.spread_next = 7;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 1);
    v.spread_next = -1;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 2);
    CU_ASSERT_EQUAL(v.spread_next, 0);
}

static void test_spread_skips_full_ranks(void)
{
    rayc__rank_view ranks[4];
    rayc__cluster_view v = mk_cluster(ranks, 4);
    ranks[1].avail.q[RAYC__RES_CPU] = 0;
    ranks[3].accepts_tasks = 0;
    rayc__place_req req = mk_req(1, 0);
    req.strategy = RAYC__SCHED_SPREAD;
    const int expect[4] = {0, 2, 0, 2};
    int rank;
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
        CU_ASSERT_EQUAL(rank, expect[i]);
    }
    CU_ASSERT_EQUAL(v.spread_next, 3);
    /* from cursor 3 the scan wraps past the non-accepting rank 3 to rank 0 */
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 0);
    CU_ASSERT_EQUAL(v.spread_next, 1);
}

/* ------------------------------------------------------------------------------------------ */
/* AFFINITY                                                                                    */

static void test_affinity_hard(void)
{
    rayc__rank_view ranks[3];
    rayc__cluster_view v = mk_cluster(ranks, 3);
    ranks[2].inflight = 4; /* DEFAULT would never pick it */
    rayc__place_req req = mk_req(1, 0);
    req.strategy = RAYC__SCHED_AFFINITY;
    req.affinity_rank = 2;
    int rank;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 2);
    ranks[2].avail.q[RAYC__RES_CPU] = 0; /* busy: wait for it, do not go elsewhere */
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_WAIT);
    CU_ASSERT_EQUAL(rank, NOT_SET);
    req.slack.q[RAYC__RES_CPU] = 1; /* ... unless the prefetch window covers it */
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 2);
    req.affinity_rank = 3;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_INFEASIBLE);
    req.affinity_rank = -1;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_INFEASIBLE);
    /* rank 0 can never fit a GPU task, though rank 1 could */
    ranks[1] = mk_rank(4, 2, 0);
    req = mk_req(1, 1);
    req.strategy = RAYC__SCHED_AFFINITY;
    req.affinity_rank = 0;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_INFEASIBLE);
    CU_ASSERT_EQUAL(rank, NOT_SET);
    req.affinity_rank = 1;
    ranks[1].accepts_tasks = 0;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_INFEASIBLE);
}

static void test_affinity_soft(void)
{
    rayc__rank_view ranks[3];
    rayc__cluster_view v = mk_cluster(ranks, 3);
    uint64_t bytes[3] = {0, 0, 100};
    ranks[0].inflight = 2; /* DEFAULT order: 2 (bytes), then 1 (load), then 0 */
    rayc__place_req req = mk_req(1, 0);
    req.strategy = RAYC__SCHED_AFFINITY;
    req.affinity_soft = 1;
    req.affinity_rank = 0;
    req.arg_bytes = bytes;
    int rank;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 0); /* its rank has room: taken even though DEFAULT would not */
    ranks[0].avail.q[RAYC__RES_CPU] = 0; /* busy: falls back to DEFAULT */
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 2);
    req.affinity_rank = 9; /* out of range: DEFAULT */
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 2);
    req.affinity_rank = 1;
    ranks[1].accepts_tasks = 0; /* can never run it: DEFAULT */
    bytes[2] = 0;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 2);
    ranks[2].avail.q[RAYC__RES_CPU] = 0; /* everything that could run it is busy */
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_WAIT);
    req.demand.q[RAYC__RES_GPU] = 1; /* nobody has a GPU: soft does not turn that into WAIT */
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_INFEASIBLE);
    CU_ASSERT_EQUAL(rank, NOT_SET);
}

/* ------------------------------------------------------------------------------------------ */
/* Charging                                                                                    */

static void test_charge_uncharge(void)
{
    rayc__rank_view ranks[2];
    rayc__cluster_view v = mk_cluster(ranks, 2);
    ranks[1] = mk_rank(4, 1, 1 << 30);
    rayc__place_req req = mk_req(2, 0);
    req.demand.q[RAYC__RES_MEM] = 1 << 29;
    int rank;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 0);
    rayc__charge(&v, rank, &req.demand);
    CU_ASSERT_DOUBLE_EQUAL(ranks[0].avail.q[RAYC__RES_CPU], 2, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(ranks[0].avail.q[RAYC__RES_MEM], 1 << 29, 1e-3);
    CU_ASSERT_EQUAL(ranks[0].inflight, 1);
    CU_ASSERT_DOUBLE_EQUAL(ranks[1].avail.q[RAYC__RES_CPU], 4, 1e-12); /* others untouched */
    CU_ASSERT_EQUAL(ranks[1].inflight, 0);
    /* the charged rank is now the more loaded one */
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 1);
    /* charging through slack drives avail negative; uncharging restores it exactly */
    rayc__charge(&v, 0, &req.demand);
    rayc__charge(&v, 0, &req.demand);
    CU_ASSERT_DOUBLE_EQUAL(ranks[0].avail.q[RAYC__RES_CPU], -2, 1e-12);
    CU_ASSERT_EQUAL(ranks[0].inflight, 3);
    for (int i = 0; i < 3; i++)
        rayc__uncharge(&v, 0, &req.demand);
    CU_ASSERT_DOUBLE_EQUAL(ranks[0].avail.q[RAYC__RES_CPU], 4, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(ranks[0].avail.q[RAYC__RES_MEM], 1 << 30, 1e-3);
    CU_ASSERT_EQUAL(ranks[0].inflight, 0);
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 0);
}

/* The epoch moves exactly when a rank's avail can have grown (uncharge, or the caller's
 * rayc__view_grew), and never on a placement or a charge: the control service retries a class
 * that had to wait only once it moved. A request that waits keeps waiting until then. */
static void test_epoch_moves_when_avail_grows(void)
{
    rayc__rank_view ranks[2];
    rayc__cluster_view v = mk_cluster(ranks, 2);
    rayc__place_req req = mk_req(4, 0);
    int rank;
    uint64_t e0 = v.epoch;
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    rayc__charge(&v, rank, &req.demand);
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    rayc__charge(&v, rank, &req.demand);
    CU_ASSERT_EQUAL(v.epoch, e0); /* placing and charging do not move it */
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_WAIT);
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_WAIT);
    CU_ASSERT_EQUAL(v.epoch, e0);
    rayc__uncharge(&v, 1, &req.demand);
    CU_ASSERT_EQUAL(v.epoch, e0 + 1);
    CU_ASSERT_EQUAL(place(&v, &req, &rank), RAYC__PLACE_OK);
    CU_ASSERT_EQUAL(rank, 1);
    rayc__view_grew(&v);
    CU_ASSERT_EQUAL(v.epoch, e0 + 2);
}

/* ------------------------------------------------------------------------------------------ */
/* rayc__res_parse                                                                             */

static char names[8][32];
static int nnames;
static char err[128];
static rayc__resvec vec;

/* Reset the name table to "a", "b" and fill vec with a marker value. */
static void parse_setup(void)
{
    memset(names, 0, sizeof names);
    strcpy(names[0], "a");
    strcpy(names[1], "b");
    nnames = 2;
    err[0] = '\0';
    for (int i = 0; i < RAYC__RES_MAX; i++)
        vec.q[i] = -42;
}

/* 1 when every slot of vec is zero except those given as (slot, value) pairs. */
static int vec_is(int npairs, const int *slots, const double *vals)
{
    for (int i = 0; i < RAYC__RES_MAX; i++) {
        double want = 0;
        for (int j = 0; j < npairs; j++)
            if (slots[j] == i)
                want = vals[j];
        if (vec.q[i] != want)
            return 0;
    }
    return 1;
}

/* Expect spec to fail, leaving vec and nnames alone, with a message containing what. */
static void expect_parse_fail(const char *spec, int add_unknown, const char *what)
{
    int before = nnames;
    int rc = rayc__res_parse(spec, names, &nnames, add_unknown, &vec, err, sizeof err);
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT_EQUAL(nnames, before);
    CU_ASSERT_DOUBLE_EQUAL(vec.q[RAYC__RES_CUSTOM0], -42, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, what));
    if (rc != -1 || !strstr(err, what))
        fprintf(stderr, "\n  spec \"%s\": rc %d, err \"%s\"\n", spec, rc, err);
}

static void test_parse_valid(void)
{
    parse_setup();
    CU_ASSERT_EQUAL(rayc__res_parse("a=1,b=2.5", names, &nnames, 0, &vec, err, sizeof err), 0);
    CU_ASSERT_TRUE(vec_is(2, (int[]){3, 4}, (double[]){1, 2.5}));
    CU_ASSERT_EQUAL(nnames, 2);
    CU_ASSERT_STRING_EQUAL(err, "");
    parse_setup();
    CU_ASSERT_EQUAL(rayc__res_parse("b=0.1", names, &nnames, 0, &vec, err, sizeof err), 0);
    CU_ASSERT_TRUE(vec_is(1, (int[]){4}, (double[]){0.1})); /* exact: correctly rounded */
    parse_setup();
    CU_ASSERT_EQUAL(rayc__res_parse("a=1e3,b=.25", names, &nnames, 0, &vec, NULL, 0), 0);
    CU_ASSERT_TRUE(vec_is(2, (int[]){3, 4}, (double[]){1000, 0.25}));
    parse_setup();
    CU_ASSERT_EQUAL(rayc__res_parse("a=2.5E-1,b=0", names, &nnames, 0, &vec, err, sizeof err), 0);
    CU_ASSERT_TRUE(vec_is(1, (int[]){3}, (double[]){0.25}));
    parse_setup();
    CU_ASSERT_EQUAL(rayc__res_parse("a=123456789012345678901234", names, &nnames, 0, &vec, err,
                                    sizeof err),
                    0);
    CU_ASSERT_DOUBLE_EQUAL(vec.q[3], 1.23456789012345678901234e23, 1e9);
}

static void test_parse_whitespace(void)
{
    parse_setup();
    CU_ASSERT_EQUAL(
        rayc__res_parse("  b = 0.5 ,\ta=3  ", names, &nnames, 0, &vec, err, sizeof err), 0);
    CU_ASSERT_TRUE(vec_is(2, (int[]){3, 4}, (double[]){3, 0.5}));
    parse_setup();
    expect_parse_fail("a b=1", 0, "expected '='");
    expect_parse_fail("a=1 b=2", 0, "expected ','");
    expect_parse_fail("a=1 2", 0, "expected ','");
}

static void test_parse_unknown_names(void)
{
    parse_setup();
    expect_parse_fail("a=1,c=4", 0, "unknown custom resource 'c'");
    CU_ASSERT_STRING_EQUAL(names[2], "");
    CU_ASSERT_EQUAL(rayc__res_parse("c=4,a=1", names, &nnames, 1, &vec, err, sizeof err), 0);
    CU_ASSERT_EQUAL(nnames, 3);
    CU_ASSERT_STRING_EQUAL(names[2], "c");
    CU_ASSERT_TRUE(vec_is(2, (int[]){3, 5}, (double[]){1, 4}));
    /* known now: found without adding again; names are case-sensitive */
    CU_ASSERT_EQUAL(rayc__res_parse("c=1", names, &nnames, 1, &vec, err, sizeof err), 0);
    CU_ASSERT_EQUAL(nnames, 3);
    CU_ASSERT_EQUAL(rayc__res_parse("C=1", names, &nnames, 1, &vec, err, sizeof err), 0);
    CU_ASSERT_EQUAL(nnames, 4);
    CU_ASSERT_TRUE(vec_is(1, (int[]){6}, (double[]){1}));
    /* a name of 31 characters fits, 32 does not */
    const char *n31 = "abcdefghijklmnopqrstuvwxyz01234";
    char spec[64];
    snprintf(spec, sizeof spec, "%s=2", n31);
    CU_ASSERT_EQUAL(rayc__res_parse(spec, names, &nnames, 1, &vec, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(names[4], n31);
    parse_setup();
    snprintf(spec, sizeof spec, "%s5=2", n31);
    expect_parse_fail(spec, 1, "longer than 31");
    /* built-in resources have their own options */
    expect_parse_fail("CPU=1", 1, "not a custom resource");
    expect_parse_fail("a=1,gpu=1", 1, "not a custom resource");
    expect_parse_fail("memory=1", 1, "not a custom resource");
}

static void test_parse_bad_qty(void)
{
    parse_setup();
    expect_parse_fail("a=", 0, "bad quantity");
    expect_parse_fail("a=x", 0, "bad quantity");
    expect_parse_fail("a=1x", 0, "bad quantity");
    expect_parse_fail("a=1.2.3", 0, "bad quantity");
    expect_parse_fail("a=1e", 0, "bad quantity");
    expect_parse_fail("a=.", 0, "bad quantity");
    expect_parse_fail("a=inf", 0, "bad quantity");
    expect_parse_fail("a=nan", 0, "bad quantity");
    expect_parse_fail("a=0x10", 0, "bad quantity");
    expect_parse_fail("a=1e999", 0, "bad quantity");
    expect_parse_fail("a=1,5", 0, "expected '='"); /* decimal comma: "5" is not name=qty */
    expect_parse_fail("a", 0, "expected '='");
    expect_parse_fail("=1", 0, "missing resource name");
    expect_parse_fail("a=1,", 0, "missing resource name");
    expect_parse_fail(",a=1", 0, "missing resource name");
    expect_parse_fail("a=1,,b=1", 0, "missing resource name");
    expect_parse_fail("a=1,a=2", 0, "given twice");
}

static void test_parse_negative(void)
{
    parse_setup();
    expect_parse_fail("a=-1", 0, "negative quantity for resource 'a'");
    expect_parse_fail("b=1,a= -0.5", 0, "negative");
    expect_parse_fail("a=1e-3,b=-0", 0, "negative");
    /* a negative exponent is fine */
    CU_ASSERT_EQUAL(rayc__res_parse("a=5e-1", names, &nnames, 0, &vec, err, sizeof err), 0);
    CU_ASSERT_TRUE(vec_is(1, (int[]){3}, (double[]){0.5}));
}

static void test_parse_too_many_names(void)
{
    parse_setup();
    for (int i = 2; i < 8; i++)
        snprintf(names[i], sizeof names[i], "r%d", i);
    nnames = 7; /* one free entry */
    /* y fits in the last entry, z does not: the whole parse fails and y is not kept */
    expect_parse_fail("y=1,z=1", 1, "too many custom resources");
    CU_ASSERT_EQUAL(nnames, 7);
    CU_ASSERT_EQUAL(rayc__res_parse("y=1", names, &nnames, 1, &vec, err, sizeof err), 0);
    CU_ASSERT_EQUAL(nnames, 8);
    CU_ASSERT_TRUE(vec_is(1, (int[]){RAYC__RES_MAX - 1}, (double[]){1}));
    CU_ASSERT_EQUAL(rayc__res_parse("r5=2,y=3", names, &nnames, 1, &vec, err, sizeof err), 0);
    CU_ASSERT_TRUE(vec_is(2, (int[]){8, 10}, (double[]){2, 3}));
    for (int i = 0; i < RAYC__RES_MAX; i++)
        vec.q[i] = -42;
    expect_parse_fail("z=1", 1, "too many custom resources");
}

static void test_parse_empty_is_zero(void)
{
    parse_setup();
    CU_ASSERT_EQUAL(rayc__res_parse(NULL, names, &nnames, 0, &vec, err, sizeof err), 0);
    CU_ASSERT_TRUE(vec_is(0, NULL, NULL));
    parse_setup();
    CU_ASSERT_EQUAL(rayc__res_parse("", names, &nnames, 1, &vec, err, sizeof err), 0);
    CU_ASSERT_TRUE(vec_is(0, NULL, NULL));
    CU_ASSERT_EQUAL(nnames, 2);
    parse_setup();
    CU_ASSERT_EQUAL(rayc__res_parse(" \t ", names, &nnames, 1, &vec, err, sizeof err), 0);
    CU_ASSERT_TRUE(vec_is(0, NULL, NULL));
}

static void test_parse_err_buffer(void)
{
    parse_setup();
    char small[8];
    memset(small, 'x', sizeof small);
    CU_ASSERT_EQUAL(rayc__res_parse("zz=1", names, &nnames, 0, &vec, small, sizeof small), -1);
    CU_ASSERT_EQUAL(strlen(small), sizeof small - 1); /* truncated, terminated */
    CU_ASSERT_EQUAL(rayc__res_parse("zz=1", names, &nnames, 0, &vec, NULL, 0), -1);
    memset(small, 'x', sizeof small);
    CU_ASSERT_EQUAL(rayc__res_parse("zz=1", names, &nnames, 0, &vec, small, 0), -1);
    CU_ASSERT_EQUAL(small[0], 'x'); /* errlen 0: nothing written */
}

/* ------------------------------------------------------------------------------------------ */

static const unit_test tests[] = {
    {"res_fits", test_res_fits},
    {"res_add_sub", test_res_add_sub},
    {"infeasible_gpu_on_gpu_less_cluster", test_infeasible_gpu_on_gpu_less_cluster},
    {"infeasible_custom_resource", test_infeasible_custom_resource},
    {"infeasible_empty_cluster", test_infeasible_empty_cluster},
    {"accepts_tasks_zero_never_chosen", test_accepts_tasks_zero_never_chosen},
    {"wait_when_full", test_wait_when_full},
    {"slack_allows_rank", test_slack_allows_rank},
    {"avail_preferred_over_slack", test_avail_preferred_over_slack},
    {"home_rank_first", test_home_rank_first},
    {"locality_by_arg_bytes", test_locality_by_arg_bytes},
    {"least_loaded_tiebreak", test_least_loaded_tiebreak},
    {"lowest_rank_tiebreak", test_lowest_rank_tiebreak},
    {"spread_cycles", test_spread_cycles},
    {"spread_skips_full_ranks", test_spread_skips_full_ranks},
    {"affinity_hard", test_affinity_hard},
    {"affinity_soft", test_affinity_soft},
    {"charge_uncharge", test_charge_uncharge},
    {"epoch_moves_when_avail_grows", test_epoch_moves_when_avail_grows},
    {"parse_valid", test_parse_valid},
    {"parse_whitespace", test_parse_whitespace},
    {"parse_unknown_names", test_parse_unknown_names},
    {"parse_bad_qty", test_parse_bad_qty},
    {"parse_negative", test_parse_negative},
    {"parse_too_many_names", test_parse_too_many_names},
    {"parse_empty_is_zero", test_parse_empty_is_zero},
    {"parse_err_buffer", test_parse_err_buffer},
};

int main(void)
{
    return UNIT_RUN("sched_policy", tests);
}
