/* runtime.c: rayc_init and rayc_shutdown, and the cluster queries.
 *
 * Init (collective): MPI with MPI_THREAD_MULTIPLE, private communicators, node identity,
 * resources of every rank (allgathered, so every rank can check feasibility locally), the
 * check that all ranks registered the same functions, then modules and threads. Ranks > 0
 * then run the progress loop on their main thread and exit(0) after shutdown.
 *
 * Shutdown protocol (libcircle-style argument):
 *  1. The driver marks the runtime STOPPING; the control service cancels tasks not yet
 *     dispatched, answers every waiting client, and sends SHUTDOWN to every rank.
 *  2. A rank receiving SHUTDOWN drops queued tasks, lets running ones finish (their DONE and
 *     object transfers still flow, every rank keeps serving), and acks once none runs.
 *  3. When all ranks acked and rank 0's own raylet is drained, no task runs anywhere, so no
 *     new message can be caused by a task; the driver sends FINAL.
 *  4. Each rank leaves its loop after its sends and transfers complete, joins its workers, and
 *     meets the others in a barrier before freeing communicators and finalizing MPI.
 * Every step waits only on things that finish without user action, except tasks that never
 * return (documented: shutdown waits for running tasks). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "client_int.h"
#include "doorbell.h"
#include "log.h"
#include "raylet_int.h"
#include "rconfig.h"
#include "rt.h"
#include "status_int.h"
#include "store.h"
#include "value_pool.h"

rayc__runtime *rayc__rt;
static int was_shut_down;

#define MASK_WORDS 16 /* affinity masks up to 1024 CPUs */

/* What each rank tells the others at init. */
typedef struct node_msg {
    char host[64];
    int node_id, local_rank, accepts_tasks, ngpus;
    double cpu, gpu, mem;
    int ncustom;
    char cname[RAYC_MAX_CUSTOM][32];
    double cqty[RAYC_MAX_CUSTOM];
} node_msg;

static int mpi_fail(int rc, const char *what)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, s, &len);
    return rayc__fail(RAYC_EMPI, "rayc_init: %s failed: %s", what, s);
}

static int init_mpi(rayc__runtime *rt, int *argc, char ***argv)
{
    int flag = 0, provided = 0, rc;
    MPI_Initialized(&flag);
    if (!flag) {
        rc = MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided);
        if (rc != MPI_SUCCESS)
            return rayc__fail(RAYC_EMPI, "rayc_init: MPI_Init_thread failed");
        rt->we_initialized_mpi = 1;
    } else {
        MPI_Query_thread(&provided);
    }
    if (provided < MPI_THREAD_MULTIPLE)
        return rayc__fail(RAYC_EMPI, "rayc_init: MPI provides thread level %d, rayc needs "
                                     "MPI_THREAD_MULTIPLE", provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rt->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &rt->size);
    if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &rt->ctrl)) != MPI_SUCCESS)
        return mpi_fail(rc, "MPI_Comm_dup");
    if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &rt->data)) != MPI_SUCCESS)
        return mpi_fail(rc, "MPI_Comm_dup");
    MPI_Comm_set_name(rt->ctrl, "rayc-ctrl");
    MPI_Comm_set_name(rt->data, "rayc-data");
    MPI_Comm_set_errhandler(rt->ctrl, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(rt->data, MPI_ERRORS_RETURN);
    rayc__log_set_rank(rt->rank);
    return 0;
}

/* Node id, local rank and this rank's share of its host's CPUs. */
static int init_locality(rayc__runtime *rt, int *local_rank, int *node_id, int *cpu_share)
{
    MPI_Comm local, leaders;
    int lsize;
    MPI_Comm_split_type(rt->ctrl, MPI_COMM_TYPE_SHARED, rt->rank, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, local_rank);
    MPI_Comm_size(local, &lsize);
    MPI_Comm_split(rt->ctrl, *local_rank == 0 ? 0 : MPI_UNDEFINED, rt->rank, &leaders);
    *node_id = 0;
    if (leaders != MPI_COMM_NULL) {
        MPI_Comm_rank(leaders, node_id);
        MPI_Comm_free(&leaders);
    }
    MPI_Bcast(node_id, 1, MPI_INT, 0, local);
    uint64_t mine[MASK_WORDS];
    uint64_t *all = calloc((size_t)lsize * MASK_WORDS, sizeof *all);
    const uint64_t **rows = calloc((size_t)lsize, sizeof *rows);
    if (!all || !rows) {
        free(all);
        free(rows);
        MPI_Comm_free(&local);
        return rayc__fail(RAYC_ENOMEM, "rayc_init: out of memory");
    }
    if (rayc__affinity_mask(mine, MASK_WORDS) < 0) {
        memset(mine, 0, sizeof mine);
        mine[0] = 1;
    }
    MPI_Allgather(mine, MASK_WORDS, MPI_UINT64_T, all, MASK_WORDS, MPI_UINT64_T, local);
    for (int i = 0; i < lsize; i++)
        rows[i] = all + (size_t)i * MASK_WORDS;
    *cpu_share = rayc__cpu_share(rows, lsize, MASK_WORDS * 64, *local_rank);
    free(all);
    free(rows);
    MPI_Comm_free(&local);
    char err[200];
    if (rayc__platform_detect(&rt->plat, lsize, err, sizeof err) != 0)
        return rayc__fail(RAYC_EINVAL, "rayc_init: %s", err);
    if (rt->plat.have_pmix && rt->plat.pmix_local_rank >= 0 && rt->plat.pmix_node_id >= 0) {
        *local_rank = rt->plat.pmix_local_rank; /* the launcher's view, when it gives one */
        *node_id = rt->plat.pmix_node_id;
    }
    return 0;
}

/* All ranks must have registered the same functions with the same defaults. */
static int check_registry(rayc__runtime *rt)
{
    char *mine = rayc__registry_describe();
    if (!mine)
        return rayc__fail(RAYC_ENOMEM, "rayc_init: out of memory");
    int len = (int)strlen(mine) + 1;
    MPI_Bcast(&len, 1, MPI_INT, 0, rt->ctrl);
    char *root = malloc((size_t)len);
    if (root && rt->rank == 0)
        memcpy(root, mine, (size_t)len);
    MPI_Bcast(root ? root : mine, root ? len : 0, MPI_CHAR, 0, rt->ctrl);
    char first_diff[200] = "";
    int bad = 0;
    if (root && strcmp(root, mine) != 0) {
        bad = 1;
        const char *a = root, *b = mine;
        while (*a && *a == *b)
            a++, b++;
        while (a > root && a[-1] != '\n')
            a--, b--;
        snprintf(first_diff, sizeof first_diff, "%.*s", (int)strcspn(*b ? b : a, " \n"),
                 *b ? b : a);
    }
    int any = 0;
    MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, rt->ctrl);
    free(root);
    free(mine);
    if (any)
        return rayc__fail(RAYC_EMISMATCH,
                          "rayc_init: ranks registered different remote functions%s%s%s",
                          bad ? " (this rank differs from rank 0 at function '" : "",
                          first_diff, bad ? "')" : "; see the failing rank's message");
    return 0;
}

static double cfg_number(const rayc_config *cfg, int key, double dflt)
{
    const char *v = rayc__cfg_get(cfg, key);
    double d;
    if (!v)
        return dflt;
    if (key == RAYC__CFG_memory || key == RAYC__CFG_inline_threshold ||
        key == RAYC__CFG_store_bytes || key == RAYC__CFG_window_bytes)
        return rayc__parse_size(v, &d) == 0 ? d : dflt;
    d = strtod(v, NULL);
    return isfinite(d) && d >= 0 ? d : dflt;
}

/* Resolve this rank's offer from config, environment and detection. */
static int local_offer(rayc__runtime *rt, const rayc_config *cfg, int cpu_share, node_msg *me)
{
    char err[200];
    for (int k = 0; k < RAYC__CFG_NKEYS; k++) {
        const char *v = rayc__cfg_get(cfg, k);
        if (v && rayc__cfg_check(k, v, err, sizeof err) != 0)
            return rayc__fail(RAYC_EINVAL, "rayc_init: %s: %s", rayc__cfg_name(k), err);
    }
    const char *lvl = rayc__cfg_get(cfg, RAYC__CFG_log_level);
    if (lvl)
        rayc__log_level = rayc__log_parse_level(lvl);
    memset(me, 0, sizeof *me);
    int slurm_cpus = rt->plat.slurm_cpus_per_task;
    /* Slurm's -c when given, but not more than the CPUs this rank may run on (mpirun inside
     * an allocation binds ranks to fewer cores than -c says). */
    int dflt_cpus = slurm_cpus > 0 ? slurm_cpus : cpu_share;
    if (slurm_cpus > 0 && rt->plat.affinity_cpus > 0 && rt->plat.affinity_cpus < dflt_cpus)
        dflt_cpus = rt->plat.affinity_cpus;
    double cpus = cfg_number(cfg, RAYC__CFG_num_cpus, dflt_cpus);
    me->cpu = cpus;
    me->ngpus = rt->plat.ngpus;
    me->gpu = cfg_number(cfg, RAYC__CFG_num_gpus, rt->plat.ngpus);
    me->mem = cfg_number(cfg, RAYC__CFG_memory, rt->plat.mem_bytes);
    me->accepts_tasks =
        !(rt->rank == 0 && rt->size > 1 && cfg_number(cfg, RAYC__CFG_rank0_workers, 1) == 0);
    const char *res = rayc__cfg_get(cfg, RAYC__CFG_resources);
    rayc__resvec v;
    if (res && rayc__res_parse(res, me->cname, &me->ncustom, 1, &v, err, sizeof err) != 0)
        return rayc__fail(RAYC_EINVAL, "rayc_init: resources: %s", err);
    for (int i = 0; i < me->ncustom; i++)
        me->cqty[i] = v.q[RAYC__RES_CUSTOM0 + i];
    rt->inline_threshold = (size_t)cfg_number(cfg, RAYC__CFG_inline_threshold, 100 * 1024);
    rt->summary = cfg_number(cfg, RAYC__CFG_summary, 0) != 0;
    if (cfg_number(cfg, RAYC__CFG_signals, 1) != 0)
        rayc__signals_install();
    int ncpu = (int)ceil(cpus);
    rt->max_workers = (int)cfg_number(cfg, RAYC__CFG_max_workers, ncpu * 16 > 256 ? ncpu * 16 : 256);
    if (rt->max_workers < 1)
        rt->max_workers = 1;
    snprintf(me->host, sizeof me->host, "%s", rt->plat.host);
    return 0;
}

/* Build the job-wide custom name table (first appearance in rank order) and every node. */
static int build_nodes(rayc__runtime *rt, const node_msg *all)
{
    rt->nodes = calloc((size_t)rt->size, sizeof *rt->nodes);
    if (!rt->nodes)
        return rayc__fail(RAYC_ENOMEM, "rayc_init: out of memory");
    for (int r = 0; r < rt->size; r++) {
        const node_msg *m = &all[r];
        rayc__node *n = &rt->nodes[r];
        n->node_id = m->node_id;
        n->local_rank = m->local_rank;
        n->accepts_tasks = m->accepts_tasks;
        n->ngpus = m->ngpus;
        snprintf(n->host, sizeof n->host, "%s", m->host);
        n->total.q[RAYC__RES_CPU] = m->cpu;
        n->total.q[RAYC__RES_GPU] = m->gpu;
        n->total.q[RAYC__RES_MEM] = m->mem;
        for (int i = 0; i < m->ncustom; i++) {
            int slot = -1;
            for (int k = 0; k < rt->ncustom && slot < 0; k++)
                if (strcmp(rt->custom_names[k], m->cname[i]) == 0)
                    slot = k;
            if (slot < 0 && rt->ncustom == RAYC_MAX_CUSTOM)
                return rayc__fail(RAYC_EINVAL, "rayc_init: more than %d distinct custom "
                                               "resources in the job", RAYC_MAX_CUSTOM);
            if (slot < 0) {
                slot = rt->ncustom++;
                snprintf(rt->custom_names[slot], 32, "%s", m->cname[i]);
            }
            n->total.q[RAYC__RES_CUSTOM0 + slot] = m->cqty[i];
        }
    }
    return 0;
}

static int exchange_offers(rayc__runtime *rt, const node_msg *me)
{
    node_msg *all = calloc((size_t)rt->size, sizeof *all);
    int bad = all == NULL, any = 0;
    MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, rt->ctrl);
    if (any) {
        free(all);
        return rayc__fail(RAYC_ENOMEM, "rayc_init: out of memory");
    }
    MPI_Allgather(me, (int)sizeof *me, MPI_BYTE, all, (int)sizeof *me, MPI_BYTE, rt->ctrl);
    int rc = build_nodes(rt, all);
    free(all);
    return rc;
}

static void free_runtime(rayc__runtime *rt)
{
    rayc__submitq_destroy(rt);
    rayc__gcs_destroy(rt);
    rayc__raylet_destroy(rt);
    rayc__xfer_destroy(rt);
    rayc__client_destroy(rt);
    for (int d = 0; rt->out && d < rt->size; d++)
        rayc__wbuf_free(&rt->out[d]);
    free(rt->out);
    free(rt->nodes);
    free(rt->fn_defaults);
    pthread_mutex_destroy(&rt->mu);
    free(rt);
    rayc__vpool_drain(); /* small value blocks the exited threads left */
}

/* Collective: every rank calls it once its progress loop ended (or init failed). */
static void finalize_mpi(rayc__runtime *rt)
{
    rayc__bells_destroy(rt->bells);
    rt->bells = NULL;
    if (rt->ctrl != MPI_COMM_NULL && rt->ctrl != 0)
        MPI_Comm_free(&rt->ctrl);
    if (rt->data != MPI_COMM_NULL && rt->data != 0)
        MPI_Comm_free(&rt->data);
    if (rt->we_initialized_mpi)
        MPI_Finalize();
}

/* Collective part of init after MPI; returns 0 or an error (same on all ranks). */
static int init_job(rayc__runtime *rt, const rayc_config *cfg)
{
    int local_rank = 0, node_id = 0, share = 1;
    int rc = rayc__registry_freeze(), any = 0;
    MPI_Allreduce(&rc, &any, 1, MPI_INT, MPI_MIN, rt->ctrl);
    if (any)
        return rc ? rc : rayc__fail(any, "rayc_init: another rank failed to register functions");
    rc = init_locality(rt, &local_rank, &node_id, &share);
    MPI_Allreduce(&rc, &any, 1, MPI_INT, MPI_MIN, rt->ctrl);
    if (any)
        return rc ? rc : rayc__fail(any, "rayc_init: another rank failed to detect resources");
    if ((rc = check_registry(rt)) != 0)
        return rc;
    node_msg me;
    rc = local_offer(rt, cfg, share, &me);
    MPI_Allreduce(&rc, &any, 1, MPI_INT, MPI_MIN, rt->ctrl);
    if (any)
        return rc ? rc : rayc__fail(any, "rayc_init: invalid options on another rank");
    me.node_id = node_id;
    me.local_rank = local_rank;
    if ((rc = exchange_offers(rt, &me)) != 0)
        return rc;
    rt->out = calloc((size_t)rt->size, sizeof *rt->out);
    rc = rayc__bells_create(rt->ctrl, &rt->bells) != 0 || !rt->out;
    MPI_Allreduce(&rc, &any, 1, MPI_INT, MPI_MAX, rt->ctrl);
    if (any)
        return rayc__fail(RAYC_ENOMEM, "rayc_init: out of memory%s", rc ? "" : " on another rank");
    return 0;
}

/* Every rank uses rank 0's job id (Slurm's, PMIx's namespace, or rank 0's pid). */
static void agree_job_id(rayc__runtime *rt)
{
    char id[64];
    const char *step = getenv("SLURM_STEP_ID"); /* steps of one allocation must not share */
    if (rt->plat.job_id[0] && step && *step)
        snprintf(id, sizeof id, "%.40s.%.20s", rt->plat.job_id, step);
    else if (rt->plat.job_id[0])
        snprintf(id, sizeof id, "%s", rt->plat.job_id);
    else
        snprintf(id, sizeof id, "pid%ld", (long)getpid());
    MPI_Bcast(id, (int)sizeof id, MPI_CHAR, 0, rt->ctrl);
    id[sizeof id - 1] = 0;
    for (char *p = id; *p; p++)
        if (*p == '/' || *p == ' ')
            *p = '_';
    snprintf(rt->job_id, sizeof rt->job_id, "%s", id);
}

/* Bytes of free space in the file system that holds osc/sm's shared window files (Open MPI's
 * osc_sm_backing_directory, /dev/shm by default), or 0 when it is not a memory file system
 * (a window there would be written back to disk) or cannot be read. */
static double shm_free_bytes(void)
{
    const char *dir = getenv("OMPI_MCA_osc_sm_backing_directory");
    struct statfs fs;
    if (!dir || !*dir)
        dir = "/dev/shm";
    if (access(dir, W_OK) != 0 || statfs(dir, &fs) != 0)
        return 0;
    if (fs.f_type != TMPFS_MAGIC && fs.f_type != RAMFS_MAGIC)
        return 0;
    return (double)fs.f_bavail * (double)fs.f_bsize;
}

/* The window: when every rank is on this node, one shared-memory window (osc/sm) that costs
 * nothing until used, as large as the store's budget but at most half of the free /dev/shm
 * space shared among the node's ranks. Otherwise (or when that fails) an MPI_Win_allocate
 * window, which Open MPI's osc/rdma commits (zero-fills) at once, about 1 ms per MiB here:
 * 16 MiB by default, larger objects live on the heap and move two-sided. window_bytes sets
 * both. */
static void plan_window(rayc__runtime *rt, const rayc_config *cfg, double budget,
                        rayc__window_plan *plan)
{
    MPI_Comm local;
    int lsize = 1, wsize = 1;
    MPI_Comm_split_type(rt->data, MPI_COMM_TYPE_SHARED, rt->rank, MPI_INFO_NULL, &local);
    MPI_Comm_size(local, &lsize);
    MPI_Comm_size(rt->data, &wsize);
    MPI_Comm_free(&local);
    const double mib = 1 << 20;
    int explicit_size = rayc__cfg_get(cfg, RAYC__CFG_window_bytes) != NULL;
    double win = cfg_number(cfg, RAYC__CFG_window_bytes, 16 * mib);
    if (win > budget)
        win = budget;
    if (win < mib)
        win = mib;
    double shm_share = floor(0.5 * shm_free_bytes() / lsize / mib) * mib;
    double shared = explicit_size ? win : budget;
    if (!explicit_size && shared > shm_share)
        shared = shm_share; /* a small /dev/shm: as much as fits */
    int ok = lsize == wsize && shm_share >= 16 * mib && shared <= shm_share, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, rt->data);
    plan->shared = all;
    plan->shared_bytes = (size_t)shared;
    plan->bytes = (size_t)win;
}

static int start_store(rayc__runtime *rt, const rayc_config *cfg)
{
    double mem = rt->plat.mem_bytes > 0 ? rt->plat.mem_bytes : 1e9;
    /* The store may hold 30% of this rank's share of memory before it spills (as Ray does). */
    double budget = cfg_number(cfg, RAYC__CFG_store_bytes, 0.3 * mem);
    if (budget < 1 << 20)
        budget = 1 << 20;
    rayc__window_plan plan;
    plan_window(rt, cfg, budget, &plan);
    double high = cfg_number(cfg, RAYC__CFG_spill_high_water, 0.8);
    int keep = cfg_number(cfg, RAYC__CFG_keep_spill, 0) != 0;
    agree_job_id(rt);
    return rayc__store_create(rt, &plan, (size_t)budget, high, keep);
}

static int start_modules(rayc__runtime *rt, const rayc_config *cfg)
{
    const rayc__node *me = &rt->nodes[rt->rank];
    int nworkers = me->accepts_tasks ? (int)ceil(me->total.q[RAYC__RES_CPU]) : 0;
    if (me->accepts_tasks && nworkers < 1)
        nworkers = 1;
    int rc = start_store(rt, cfg);
    if (!rc)
        rc = rayc__xfer_create(rt);
    if (!rc)
        rc = rayc__client_create(rt);
    if (!rc)
        rc = rayc__fn_defaults_init(rt);
    if (!rc && rt->rank == 0)
        rc = rayc__gcs_create(rt);
    atomic_store(&rt->state, RAYC__ST_RUNNING);
    if (!rc)
        rc = rayc__raylet_create(rt, nworkers);
    return rc;
}

/* Ranks > 0: serve until FINAL, then tear down and exit. */
static void serve_and_exit(rayc__runtime *rt)
{
    rayc__progress_run(rt);
    rayc__lock(rt);
    rayc__raylet_join_workers(rt);
    pthread_mutex_unlock(&rt->mu);
    MPI_Barrier(rt->ctrl);
    rayc__store_destroy(rt);
    rayc__signals_restore();
    rayc__rt = NULL;
    rt->we_initialized_mpi = 1; /* this process ends here: finalize whoever initialized MPI */
    finalize_mpi(rt);
    free_runtime(rt);
    exit(0);
}

int rayc_init(int *argc, char ***argv, const rayc_config *cfg)
{
    if (rayc__rt || was_shut_down)
        return rayc__fail(RAYC_ESTATE, "rayc_init: %s",
                          rayc__rt ? "already initialized" : "cannot init again after shutdown");
    rayc__runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return rayc__fail(RAYC_ENOMEM, "rayc_init: out of memory");
    /* Adaptive: a thread that finds the lock taken spins a little before it sleeps in the
     * kernel. Holders keep it for microseconds, so most waits end without a futex call. */
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&rt->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    if (rayc__submitq_init(rt) != 0) {
        pthread_mutex_destroy(&rt->mu);
        free(rt);
        return rayc__fail(RAYC_ENOMEM, "rayc_init: out of memory");
    }
    atomic_init(&rt->next_seq, 1);
    atomic_init(&rt->done_gen, 0);
    atomic_init(&rt->doneq, NULL);
    atomic_init(&rt->npolling, 0);
    rt->t_init = rayc__now();
    int rc = init_mpi(rt, argc, argv);
    if (!rc)
        rc = init_job(rt, cfg);
    if (!rc)
        rc = start_modules(rt, cfg);
    if (!rc) {
        rayc__rt = rt;
        if (rt->rank != 0)
            serve_and_exit(rt);
        if (rayc__progress_start(rt) == 0) {
            rayc__log_set_role("driver");
            return 0;
        }
        rc = rayc__fail(RAYC_ENOMEM, "rayc_init: cannot start the progress thread");
        rayc__rt = NULL;
    }
    if (rt->raylet) {
        rayc__lock(rt);
        rayc__raylet_join_workers(rt);
        pthread_mutex_unlock(&rt->mu);
    }
    rayc__signals_restore();
    finalize_mpi(rt);
    free_runtime(rt);
    return rc;
}

int rayc_shutdown(void)
{
    rayc__runtime *rt = rayc__rt;
    if (!rt || atomic_load(&rt->state) != RAYC__ST_RUNNING)
        return rayc__fail(RAYC_ESTATE, "rayc_shutdown: the runtime is not running");
    if (rayc__cur_task)
        return rayc__fail(RAYC_ESTATE, "rayc_shutdown: not allowed inside a task");
    rayc__lock(rt);
    atomic_store(&rt->state, RAYC__ST_STOPPING);
    rayc__gcs_shutdown_begin(rt);
    while (!rayc__gcs_all_drained(rt)) {
        pthread_mutex_unlock(&rt->mu);
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
        rayc__lock(rt);
    }
    if (rt->summary || atomic_load(&rt->stop_signal))
        rayc__gcs_summary(rt);
    for (int r = 1; r < rt->size; r++) {
        size_t at;
        rayc__msg_begin(rt, r, RAYC__M_FINAL, &at);
        rayc__msg_end(rt, r, at);
    }
    rt->raylet->final = 1;
    rayc__progress_wake(rt);
    rayc__raylet_join_workers(rt);
    pthread_mutex_unlock(&rt->mu);
    rayc__progress_join(rt);
    rayc__thread_exit(); /* the driver's scratch buffers */
    MPI_Barrier(rt->ctrl);
    rayc__store_destroy(rt);
    rayc__signals_restore();
    atomic_store(&rt->state, RAYC__ST_DONE);
    rayc__rt = NULL;
    was_shut_down = 1;
    finalize_mpi(rt);
    free_runtime(rt);
    return 0;
}

int rayc_on_stop(rayc_stop_fn fn, void *arg)
{
    rayc__runtime *rt = rayc__rt;
    if (!rt || atomic_load(&rt->state) != RAYC__ST_RUNNING || rt->rank != 0)
        return rayc__fail(RAYC_ESTATE, "rayc_on_stop: only the driver of a running job");
    rayc__lock(rt);
    rt->stop_fn = fn;
    rt->stop_arg = arg;
    pthread_mutex_unlock(&rt->mu);
    return 0;
}

int rayc_stop_requested(void)
{
    rayc__runtime *rt = rayc__rt;
    return rt ? atomic_load(&rt->stop_signal) : 0;
}

int rayc_is_initialized(void)
{
    return rayc__rt != NULL && atomic_load(&rayc__rt->state) == RAYC__ST_RUNNING;
}

int rayc_rank(void)
{
    return rayc__rt ? rayc__rt->rank : -1;
}

int rayc_size(void)
{
    return rayc__rt ? rayc__rt->size : 0;
}
