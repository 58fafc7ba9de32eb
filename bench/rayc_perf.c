/* rayc_perf.c: rayc-perf, rayc's microbenchmark suite.
 *
 * Reports Ray's microbenchmark metrics under Ray's names (single_client_tasks_sync, ...) and
 * rayc's own (cross-rank get, sleep-table makespan, fan-out + reduce, init + shutdown, memory
 * per queued task), each beside a baseline measured in the same run (raw MPI ping-pong and
 * MPI_Get, memcpy, a serial C loop, raw H5Dwrite, bare MPI init) and the ratio to it.
 *
 * Phases of a run:
 *  1. MPI_Init_thread(MPI_THREAD_MULTIPLE) here, then the baselines that need other ranks
 *     (ping-pong, MPI_Get) with every rank taking part, since ranks > 0 never return from
 *     rayc_init. Rank-local baselines (memcpy, serial loop, H5Dwrite, child processes for the
 *     init figures) also run here, while the other ranks wait in a barrier that sleeps instead
 *     of spinning.
 *  2. rayc_init (it uses our MPI), the rayc figures on the driver, rayc_shutdown, MPI_Finalize.
 * Every figure is the median of --rounds rounds, with min and max.
 *
 * Extra modes, one process launch each (see bench/README.md):
 *   rayc-perf --init-only   time rayc_init + rayc_shutdown from main's start (rank 0 prints)
 *   rayc-perf --mpi-only    time MPI_Init_thread + MPI_Finalize the same way
 * The main run spawns itself in both modes as a one-rank child to fill init_shutdown.
 *
 * This file: options, figures, the remote functions, the rayc metrics (driver), output and
 * main. The baselines are in perf_baselines.c; rayc_perf.h holds what both share.
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#include <rayc.h>

#include "rayc_perf.h"

/* ---------------------------------------------------------------------------------------- */
/* Options and sizes                                                                         */

options O = {.rounds = 5, .timeout = 0};
sizes S;
int g_rank, g_size;
static double g_t_start;

double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void set_sizes(void)
{
    int q = O.quick;
    S.sync_iters = q ? 300 : 3000;
    S.async_tasks = q ? 2000 : 20000;
    S.multi_per_client = q ? 500 : 5000;
    S.put_calls = q ? 2000 : 20000;
    S.get_calls = q ? 2000 : 20000;
    S.pair_calls = q ? 2000 : 20000;
    S.put_bytes = q ? 8 * MIB : 64 * MIB;
    S.put_per_round = q ? 2 : 4;
    S.batches = q ? 2 : 10;
    S.wait_ops = q ? 1 : 2;
    S.big_bytes = q ? 8 * MIB : 64 * MIB;
    S.sleep_target = q ? 0.1 : 0.5;
    S.fanouts = q ? 1 : 3;
    S.queued_tasks = O.queued_tasks ? O.queued_tasks : q ? 10000 : 100000;
    S.pingpong_iters = q ? 2000 : 20000;
    S.serial_iters = q ? 2000000 : 50000000;
    S.malloc_iters = q ? 200000 : 2000000;
    S.init_rounds = q ? 1 : (O.rounds < 5 ? O.rounds : 5);
    S.get_timeout = q ? 30.0 : 120.0;
}

/* ---------------------------------------------------------------------------------------- */
/* Errors and the watchdog                                                                   */

void die(const char *fmt, ...)
{
    va_list ap;
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init)
        fprintf(stderr, "rayc-perf: rank %d: ", g_rank);
    else
        fprintf(stderr, "rayc-perf: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    fflush(stdout);
    if (init && !fin)
        MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);
}

/* Every rayc call goes through this: a failure prints rayc_last_error() and ends the job. */
#define CHECK(call)                                                                            \
    do {                                                                                       \
        int rc_ = (call);                                                                      \
        if (rc_ != 0)                                                                          \
            die("%s:%d: %s failed: %s: %s", __FILE__, __LINE__, #call, rayc_status_name(rc_),  \
                rayc_last_error());                                                            \
    } while (0)

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

static void *watchdog_main(void *arg)
{
    (void)arg;
    struct timespec ts = {(time_t)O.timeout, 0};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    fprintf(stderr, "rayc-perf: rank %d: watchdog: still running after %.0f s; giving up "
                    "(raise --timeout)\n", g_rank, O.timeout);
    fflush(stderr);
    _exit(124); /* mpirun tears the job down when a rank ends without MPI_Finalize */
    return NULL;
}

static void start_watchdog(void)
{
    if (O.timeout <= 0)
        return;
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, watchdog_main, NULL) != 0)
        fprintf(stderr, "rayc-perf: cannot start the watchdog thread\n");
    pthread_attr_destroy(&attr);
}

void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void progress(const char *fmt, ...)
{
    if (O.quiet || g_rank != 0)
        return;
    va_list ap;
    fprintf(stderr, "rayc-perf [%6.2fs] ", now() - g_t_start);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---------------------------------------------------------------------------------------- */
/* Figures: metrics and baselines                                                            */

figure B[NB];
figure M[NM];
int want_metric[NM];

void fig_init(figure *f, const char *name, const char *unit, const char *group, int base)
{
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    f->unit = unit;
    f->group = group ? group : f->name;
    f->base = base;
}

static void init_figures(void)
{
    fig_init(&B[B_PP_RTT], "mpi_pingpong_8B_rtt", "us", NULL, -1);
    fig_init(&B[B_PP_RATE], "mpi_pingpong_8B_rate", "rt/s", NULL, -1);
    fig_init(&B[B_MPI_GET], "mpi_get", "GB/s", NULL, -1);
    fig_init(&B[B_MEMCPY], "memcpy", "GB/s", NULL, -1);
    fig_init(&B[B_SERIAL], "serial_noop_calls", "calls/s", NULL, -1);
    fig_init(&B[B_SERIAL_1K], "serial_noop_1k_batches", "batches/s", NULL, -1);
    fig_init(&B[B_SERIAL_FAN], "serial_noop_1001_calls", "ms", NULL, -1);
    fig_init(&B[B_MALLOC], "malloc_copy_free_8B", "ops/s", NULL, -1);
    fig_init(&B[B_H5], "h5dwrite", "GB/s", NULL, -1);
    fig_init(&B[B_MPI_INIT], "mpi_init_finalize", "ms", NULL, -1);
    fig_init(&B[B_IDEAL], "greedy_ideal", "s", NULL, -1);
    fig_init(&B[B_MEM_TARGET], "target_10M_tasks_in_2GiB", "B/task", NULL, -1);

    fig_init(&M[M_SYNC], "single_client_tasks_sync", "tasks/s", NULL, B_PP_RATE);
    fig_init(&M[M_SYNC_RTT], "single_client_tasks_sync_rtt", "us", "single_client_tasks_sync",
             B_PP_RTT);
    fig_init(&M[M_SYNC_XRANK], "tasks_sync_rtt_cross_rank", "us", "single_client_tasks_sync",
             B_PP_RTT);
    fig_init(&M[M_ASYNC], "single_client_tasks_async", "tasks/s", NULL, B_SERIAL);
    fig_init(&M[M_MULTI], "multi_client_tasks_async", "tasks/s", NULL, B_SERIAL);
    fig_init(&M[M_PUT], "single_client_put_calls", "puts/s", NULL, B_MALLOC);
    fig_init(&M[M_GET], "single_client_get_calls", "gets/s", NULL, B_MALLOC);
    fig_init(&M[M_PAIR], "single_client_put_get_pairs", "pairs/s", NULL, B_MALLOC);
    fig_init(&M[M_PUT_GB], "single_client_put_gigabytes", "GB/s", NULL, B_MEMCPY);
    fig_init(&M[M_BATCH], "single_client_tasks_and_get_batch", "batches/s", NULL, B_SERIAL_1K);
    fig_init(&M[M_WAIT], "single_client_wait_1k_refs", "ops/s", NULL, B_SERIAL_1K);
    fig_init(&M[M_GET64], "get_64mib_cross_rank", "GB/s", NULL, B_MPI_GET);
    fig_init(&M[M_SLEEP], "sleep_table_makespan", "s", NULL, B_IDEAL);
    fig_init(&M[M_FANOUT], "fanout_1000_reduce", "ms", NULL, B_SERIAL_FAN);
    fig_init(&M[M_INIT], "init_shutdown", "ms", NULL, B_MPI_INIT);
    fig_init(&M[M_SPILL], "spill_write_rate", "GB/s", NULL, B_H5);
    fig_init(&M[M_QMEM], "queued_task_bytes", "B/task", NULL, B_MEM_TARGET);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median, min and max of n samples into f. */
void fig_set(figure *f, const double *v, int n)
{
    if (n <= 0)
        return;
    double *s = xmalloc((size_t)n * sizeof *s);
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    f->med = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    f->min = s[0];
    f->max = s[n - 1];
    f->rounds = n;
    f->have = 1;
    free(s);
}

double median_of(const double *v, int n)
{
    figure f;
    fig_init(&f, "", "", NULL, -1);
    fig_set(&f, v, n);
    return f.med;
}

/* f = k / g (an inverse: rate from time or time from rate); min and max swap. */
void fig_inverse(figure *f, const figure *g, double k)
{
    if (!g->have)
        return;
    f->have = 1;
    f->med = k / g->med;
    f->min = k / g->max;
    f->max = k / g->min;
    f->rounds = g->rounds;
}

void fig_note(figure *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void fig_note(figure *f, const char *fmt, ...)
{
    size_t len = strlen(f->note);
    if (len >= sizeof f->note - 2)
        return;
    if (len)
        f->note[len++] = ';', f->note[len++] = ' ', f->note[len] = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->note + len, sizeof f->note - len, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------------------------------- */
/* Remote functions                                                                          */

/* The no-op: an identity the compiler cannot see through. The serial baseline calls it too. */
__attribute__((noinline)) int64_t noop_body(int64_t x)
{
    __asm__ volatile("" : "+r"(x));
    return x;
}

/* No arguments; returns the rank it ran on (so the driver can tell where tasks went). */
static int noop(rayc_task *t)
{
    return rayc_return_i64(t, 0, noop_body(rayc_task_rank(t)));
}
RAYC_REMOTE(noop, .num_args = 0);

/* One i64 argument, returned. */
static int ident(rayc_task *t)
{
    return rayc_return_i64(t, 0, noop_body(rayc_arg_i64(t, 0)));
}
RAYC_REMOTE(ident, .num_args = 1, .arg_dtypes = "i64");

/* Sum of all (i64) arguments. */
static int reduce_sum(rayc_task *t)
{
    int64_t s = 0;
    for (int i = 0; i < rayc_task_nargs(t); i++)
        s += rayc_arg_i64(t, i);
    return rayc_return_i64(t, 0, s);
}
RAYC_REMOTE(reduce_sum);

/* A client: submit m no-op tasks, get them all, return m. */
static int submitter(rayc_task *t)
{
    int64_t m = rayc_arg_i64(t, 0);
    double tmo = rayc_arg_f64(t, 1);
    if (m <= 0)
        return rayc_task_fail(t, "bad count %" PRId64, m);
    rayc_ref *refs = malloc((size_t)m * sizeof *refs);
    rayc_value **vals = malloc((size_t)m * sizeof *vals);
    if (!refs || !vals) {
        free(refs);
        free(vals);
        return rayc_task_fail(t, "out of memory");
    }
    int rc = 0;
    int64_t made = 0;
    for (; made < m && !rc; made++)
        if ((rc = rayc_submit(&refs[made], noop, RAYC_NO_ARGS)) != 0)
            break;
    if (!rc && (rc = rayc_get(refs, (int)m, vals, tmo)) == 0)
        for (int64_t i = 0; i < m; i++)
            rayc_value_release(vals[i]);
    char why[300] = "";
    if (rc)
        snprintf(why, sizeof why, "%s: %s", rayc_status_name(rc), rayc_last_error());
    if (made > 0 && rayc_release(refs, (int)made) != 0 && !rc)
        snprintf(why, sizeof why, "rayc_release: %s", rayc_last_error()), rc = RAYC_EINTERNAL;
    free(refs);
    free(vals);
    if (rc)
        return rayc_task_fail(t, "client on rank %d: %s", rayc_task_rank(t), why);
    return rayc_return_i64(t, 0, m);
}
RAYC_REMOTE(submitter, .num_args = 2, .arg_dtypes = "i64,f64");

/* Return n bytes allocated in place (filled, so the pages are real). */
static int make_bytes(rayc_task *t)
{
    int64_t n = rayc_arg_i64(t, 0);
    void *data = NULL;
    int rc = rayc_return_alloc(t, 0, RAYC_U8, 1, &n, &data);
    if (rc)
        return rc;
    memset(data, 0x5a, (size_t)n);
    return 0;
}
RAYC_REMOTE(make_bytes, .num_args = 1, .arg_dtypes = "i64");

void sleep_seconds(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Sleep for the f64 argument (seconds); return 0. */
static int sleeper(rayc_task *t)
{
    sleep_seconds(rayc_arg_f64(t, 0));
    return rayc_return_i64(t, 0, 0);
}
RAYC_REMOTE(sleeper, .num_args = 1, .arg_dtypes = "f64");

/* Runs on rank 0 only (hard affinity) and holds its return back until the driver sets the
 * flag, so tasks that take its ref stay queued as long as the driver needs. Bounded, so a
 * driver that died cannot keep shutdown waiting forever. */
static atomic_int g_release_blocker;
static int blocker(rayc_task *t)
{
    double end = now() + rayc_arg_f64(t, 0);
    while (!atomic_load(&g_release_blocker) && now() < end)
        sleep_seconds(200e-6);
    return rayc_return_i64(t, 0, 0);
}
RAYC_REMOTE(blocker, .num_args = 1, .arg_dtypes = "f64");

/* ---------------------------------------------------------------------------------------- */
/* Helpers for the driver                                                                    */

static void get_release_values(const rayc_ref *refs, int n, rayc_value **vals)
{
    CHECK(rayc_get(refs, n, vals, S.get_timeout));
}

static void release_values(rayc_value **vals, int n)
{
    for (int i = 0; i < n; i++)
        rayc_value_release(vals[i]);
}

static int64_t value_i64(const rayc_value *v)
{
    int64_t x = 0;
    CHECK(rayc_value_i64(v, &x));
    return x;
}

/* Total worker slots for 1-CPU tasks, and whether rank 0 runs tasks. */
static int cluster_slots(int *rank0_runs)
{
    int n = 0;
    rayc_node_info *nodes = xmalloc((size_t)g_size * sizeof *nodes);
    CHECK(rayc_nodes(nodes, g_size, &n));
    int slots = 0;
    for (int i = 0; i < n && i < g_size; i++)
        if (nodes[i].num_workers > 0)
            slots += nodes[i].total.cpu >= 1 ? (int)floor(nodes[i].total.cpu) : 1;
    if (rank0_runs)
        *rank0_runs = n > 0 && nodes[0].num_workers > 0;
    free(nodes);
    return slots;
}

/* ---------------------------------------------------------------------------------------- */
/* rayc metrics (driver)                                                                     */

static int g_rounds_warm; /* warm-up rounds before the measured ones */

/* Submit one no-op (pinned to `rank` when >= 0), get it, release: n times. Returns seconds;
 * *local counts the tasks that ran on rank 0. */
static double sync_loop(int n, int rank, int64_t *local)
{
    rayc_opts o = RAYC_OPTS_INHERIT;
    o.strategy = RAYC_SCHED_NODE_AFFINITY;
    o.affinity_rank = rank;
    o.affinity_soft = 0;
    double t0 = now();
    for (int i = 0; i < n; i++) {
        rayc_ref ref;
        rayc_value *v;
        CHECK(rayc_submit_ex(&ref, 1, noop, RAYC_NO_ARGS, rank >= 0 ? &o : NULL));
        CHECK(rayc_get(&ref, 1, &v, S.get_timeout));
        *local += value_i64(v) == 0;
        rayc_value_release(v);
        CHECK(rayc_release(&ref, 1));
    }
    return now() - t0;
}

/* single_client_tasks_sync: submit one no-op, get it, repeat (where the scheduler puts it);
 * and the same pinned to rank 1, so that the round trip crosses MPI. */
static void metric_sync(void)
{
    int n = S.sync_iters, R = O.rounds;
    double rate[MAX_ROUNDS] = {0}, rtt[MAX_ROUNDS] = {0}, xrtt[MAX_ROUNDS] = {0};
    int64_t local = 0, ignore = 0;
    for (int r = -g_rounds_warm; r < R; r++) {
        int64_t before = local;
        double dt = sync_loop(n, -1, &local);
        if (r < 0)
            local = before;
        else
            rate[r] = n / dt, rtt[r] = dt / n * 1e6;
    }
    fig_set(&M[M_SYNC], rate, R);
    fig_set(&M[M_SYNC_RTT], rtt, R);
    fig_note(&M[M_SYNC], "%d round trips per round; %.0f%% ran on rank 0", n,
             100.0 * (double)local / ((double)n * R));
    fig_note(&M[M_SYNC_RTT], "submit + get + release of one no-op task");
    if (g_size < 2) {
        fig_note(&M[M_SYNC_XRANK], "n/a: needs 2 ranks");
        return;
    }
    for (int r = -g_rounds_warm; r < R; r++) {
        double dt = sync_loop(n / 3 + 1, 1, &ignore);
        if (r >= 0)
            xrtt[r] = dt / (n / 3 + 1) * 1e6;
    }
    fig_set(&M[M_SYNC_XRANK], xrtt, R);
    fig_note(&M[M_SYNC_XRANK], "as single_client_tasks_sync_rtt with the task pinned to rank 1 "
                               "(NODE_AFFINITY, hard)");
}

/* Submit n no-op tasks, get them all in one call; returns the number that ran on rank 0. */
static int64_t submit_get_noops(int n, rayc_ref *refs, rayc_value **vals)
{
    for (int i = 0; i < n; i++)
        CHECK(rayc_submit(&refs[i], noop, RAYC_NO_ARGS));
    get_release_values(refs, n, vals);
    int64_t local = 0;
    for (int i = 0; i < n; i++)
        local += value_i64(vals[i]) == 0;
    release_values(vals, n);
    CHECK(rayc_release(refs, n));
    return local;
}

/* single_client_tasks_async: submit N no-op tasks, then get them all. */
static void metric_async(void)
{
    int n = S.async_tasks, R = O.rounds;
    rayc_ref *refs = xmalloc((size_t)n * sizeof *refs);
    rayc_value **vals = xmalloc((size_t)n * sizeof *vals);
    double rate[MAX_ROUNDS] = {0}, tsub[MAX_ROUNDS] = {0};
    int64_t local = 0;
    for (int r = -g_rounds_warm; r < R; r++) {
        double t0 = now();
        for (int i = 0; i < n; i++)
            CHECK(rayc_submit(&refs[i], noop, RAYC_NO_ARGS));
        double t1 = now();
        CHECK(rayc_get(refs, n, vals, S.get_timeout));
        double dt = now() - t0;
        for (int i = 0; i < n; i++)
            local += r >= 0 && value_i64(vals[i]) == 0;
        release_values(vals, n);
        CHECK(rayc_release(refs, n));
        if (r >= 0) {
            rate[r] = n / dt;
            tsub[r] = n / (t1 - t0);
        }
    }
    fig_set(&M[M_ASYNC], rate, R);
    fig_note(&M[M_ASYNC], "%d tasks per round; submit phase alone %.0f tasks/s; %.0f%% ran on "
                          "rank 0", n, median_of(tsub, R), 100.0 * (double)local / ((double)n * R));
    free(refs);
    free(vals);
}

/* multi_client_tasks_async: K client tasks, each submitting M no-ops and getting them. */
static void metric_multi(void)
{
    int slots = cluster_slots(NULL);
    int k = slots < 2 ? 2 : slots > 8 ? 8 : slots;
    int m = S.multi_per_client, R = O.rounds;
    rayc_ref refs[8];
    int64_t got[8];
    double rate[MAX_ROUNDS] = {0};
    for (int r = -g_rounds_warm; r < R; r++) {
        double t0 = now();
        for (int i = 0; i < k; i++) {
            rayc_opts o = RAYC_OPTS_INHERIT;
            o.strategy = RAYC_SCHED_SPREAD;
            CHECK(rayc_submit_ex(&refs[i], 1, submitter,
                                 RAYC_ARGS(rayc_i64(m), rayc_f64(S.get_timeout)), &o));
        }
        CHECK(rayc_get_i64(refs, k, got, S.get_timeout));
        double dt = now() - t0;
        CHECK(rayc_release(refs, k));
        for (int i = 0; i < k; i++)
            if (got[i] != m)
                die("multi_client_tasks_async: client %d returned %" PRId64, i, got[i]);
        if (r >= 0)
            rate[r] = (double)k * m / dt;
    }
    fig_set(&M[M_MULTI], rate, R);
    fig_note(&M[M_MULTI], "%d client tasks (SPREAD) x %d no-op subtasks", k, m);
}

/* single_client_put_calls: put a small value and drop the ref, repeatedly. */
static void metric_put(void)
{
    int n = S.put_calls, R = O.rounds;
    double rate[MAX_ROUNDS] = {0};
    for (int r = -g_rounds_warm; r < R; r++) {
        double t0 = now();
        for (int i = 0; i < n; i++) {
            rayc_ref ref;
            CHECK(rayc_put(&ref, rayc_i64(i)));
            CHECK(rayc_release(&ref, 1));
        }
        if (r >= 0)
            rate[r] = n / (now() - t0);
    }
    fig_set(&M[M_PUT], rate, R);
    fig_note(&M[M_PUT], "rayc_put(i64) + rayc_release, %d per round", n);
}

/* single_client_get_calls: get an existing small object, repeatedly. */
static void metric_get(void)
{
    int n = S.get_calls, R = O.rounds;
    double rate[MAX_ROUNDS] = {0};
    rayc_ref ref;
    CHECK(rayc_put(&ref, rayc_i64(42)));
    for (int r = -g_rounds_warm; r < R; r++) {
        double t0 = now();
        for (int i = 0; i < n; i++) {
            rayc_value *v;
            CHECK(rayc_get(&ref, 1, &v, S.get_timeout));
            rayc_value_release(v);
        }
        if (r >= 0)
            rate[r] = n / (now() - t0);
    }
    CHECK(rayc_release(&ref, 1));
    fig_set(&M[M_GET], rate, R);
    fig_note(&M[M_GET], "rayc_get + rayc_value_release of one put i64, %d per round", n);
}

/* single_client_put_get_pairs: put a small value, get it back, drop the view and the ref. */
static void metric_pair(void)
{
    int n = S.pair_calls, R = O.rounds;
    double rate[MAX_ROUNDS] = {0};
    for (int r = -g_rounds_warm; r < R; r++) {
        double t0 = now();
        for (int i = 0; i < n; i++) {
            rayc_ref ref;
            rayc_value *v;
            CHECK(rayc_put(&ref, rayc_i64(i)));
            CHECK(rayc_get(&ref, 1, &v, S.get_timeout));
            if (*(const int64_t *)rayc_value_data(v) != i)
                die("single_client_put_get_pairs: got a wrong value");
            rayc_value_release(v);
            CHECK(rayc_release(&ref, 1));
        }
        if (r >= 0)
            rate[r] = n / (now() - t0);
    }
    fig_set(&M[M_PAIR], rate, R);
    fig_note(&M[M_PAIR], "rayc_put(i64) + rayc_get + rayc_value_release + rayc_release, %d "
                         "per round", n);
}

/* single_client_put_gigabytes: put a large array. */
static void metric_put_gb(void)
{
    size_t bytes = S.put_bytes;
    int64_t count = (int64_t)(bytes / sizeof(int64_t));
    int R = O.rounds, k = S.put_per_round;
    int64_t *arr = xmalloc(bytes);
    for (int64_t i = 0; i < count; i++)
        arr[i] = i;
    double rate[MAX_ROUNDS] = {0};
    for (int r = -g_rounds_warm; r < R; r++) {
        double busy = 0;
        for (int i = 0; i < k; i++) {
            rayc_ref ref;
            double t0 = now();
            CHECK(rayc_put(&ref, rayc_vec(RAYC_I64, count, arr)));
            busy += now() - t0;
            CHECK(rayc_release(&ref, 1));
        }
        if (r >= 0)
            rate[r] = (double)bytes * k / busy / 1e9;
    }
    free(arr);
    fig_set(&M[M_PUT_GB], rate, R);
    fig_note(&M[M_PUT_GB], "rayc_put of %zu MiB i64 arrays, %d per round (put timed, release "
                           "not)", bytes / MIB, k);
}

/* single_client_tasks_and_get_batch: submit 1000 no-ops, get them as one batch. */
static void metric_batch(void)
{
    int R = O.rounds, nb = S.batches;
    rayc_ref refs[1000];
    rayc_value *vals[1000];
    double rate[MAX_ROUNDS] = {0};
    for (int r = -g_rounds_warm; r < R; r++) {
        double t0 = now();
        for (int b = 0; b < nb; b++)
            submit_get_noops(1000, refs, vals);
        if (r >= 0)
            rate[r] = nb / (now() - t0);
    }
    fig_set(&M[M_BATCH], rate, R);
    fig_note(&M[M_BATCH], "%d batches of 1000 per round", nb);
}

/* single_client_wait_1k_refs, as Ray times it: submit 1000 no-ops, then rayc_wait for one
 * ready ref at a time on the shrinking pending list until none is left. */
static void metric_wait(void)
{
    int R = O.rounds, nops = S.wait_ops;
    enum { N = 1000 };
    rayc_ref refs[N], pend[N], pend2[N], ready[1];
    double rate[MAX_ROUNDS] = {0};
    int64_t nwaits = 0;
    for (int r = -g_rounds_warm; r < R; r++) {
        double t0 = now();
        for (int op = 0; op < nops; op++) {
            for (int i = 0; i < N; i++)
                CHECK(rayc_submit(&refs[i], noop, RAYC_NO_ARGS));
            memcpy(pend, refs, sizeof pend);
            int np = N;
            double deadline = now() + S.get_timeout;
            while (np > 0) {
                int nr = 0, np2 = 0;
                CHECK(rayc_wait(pend, np, 1, S.get_timeout, ready, &nr, pend2, &np2));
                if (nr == 0 && now() > deadline)
                    die("single_client_wait_1k_refs: no ref became ready in %.0f s",
                        S.get_timeout);
                memcpy(pend, pend2, (size_t)np2 * sizeof *pend);
                np = np2;
                nwaits += r >= 0;
            }
            CHECK(rayc_release(refs, N));
        }
        if (r >= 0)
            rate[r] = nops / (now() - t0);
    }
    fig_set(&M[M_WAIT], rate, R);
    fig_note(&M[M_WAIT], "one op = 1000 submits + rayc_wait(num_returns=1) until all ready "
                         "(%.0f waits/op), %d ops per round", (double)nwaits / ((double)R * nops),
             nops);
}

/* get_64mib_cross_rank: a task on rank 1 returns big_bytes; time the driver's get once the
 * object exists. */
static void metric_get64(void)
{
    if (g_size < 2) {
        fig_note(&M[M_GET64], "n/a: needs 2 ranks");
        return;
    }
    int R = O.rounds;
    int64_t n = (int64_t)S.big_bytes;
    double rate[MAX_ROUNDS] = {0};
    for (int r = -g_rounds_warm; r < R; r++) {
        rayc_ref ref, ready;
        rayc_opts o = RAYC_OPTS_INHERIT;
        o.strategy = RAYC_SCHED_NODE_AFFINITY;
        o.affinity_rank = 1;
        o.affinity_soft = 0;
        CHECK(rayc_submit_ex(&ref, 1, make_bytes, RAYC_ARGS(rayc_i64(n)), &o));
        int nr = 0;
        CHECK(rayc_wait(&ref, 1, 1, S.get_timeout, &ready, &nr, NULL, NULL));
        if (nr != 1)
            die("get_64mib_cross_rank: the producing task did not finish in %.0f s",
                S.get_timeout);
        rayc_value *v;
        double t0 = now();
        CHECK(rayc_get(&ref, 1, &v, S.get_timeout));
        double dt = now() - t0;
        const unsigned char *p = rayc_value_data(v);
        if (rayc_value_nbytes(v) != (size_t)n || p[0] != 0x5a || p[n - 1] != 0x5a)
            die("get_64mib_cross_rank: wrong value (%zu bytes)", rayc_value_nbytes(v));
        rayc_value_release(v);
        CHECK(rayc_release(&ref, 1));
        if (r >= 0)
            rate[r] = (double)n / dt / 1e9;
    }
    fig_set(&M[M_GET64], rate, R);
    fig_note(&M[M_GET64], "%zu MiB u8 made by rayc_return_alloc on rank 1; rayc_get timed "
                          "after rayc_wait saw it ready", S.big_bytes / MIB);
}

/* List scheduling in submission order on `slots` identical slots: the makespan. */
static double greedy_makespan(const double *dur, int n, int slots)
{
    double fin[1024];
    if (slots > 1024)
        slots = 1024;
    for (int s = 0; s < slots; s++)
        fin[s] = 0;
    double end = 0;
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int s = 1; s < slots; s++)
            if (fin[s] < fin[best])
                best = s;
        fin[best] += dur[i];
        if (fin[best] > end)
            end = fin[best];
    }
    return end;
}

/* sleep_table_makespan: 16 tasks sleeping i * unit (i = 0..15) on the job's slots, against
 * the greedy list schedule, with unit chosen so that the ideal is sleep_target seconds. */
static void metric_sleep(void)
{
    enum { N = 16 };
    int slots = cluster_slots(NULL), R = O.rounds;
    if (slots < 1)
        slots = 1;
    double d[N];
    for (int i = 0; i < N; i++)
        d[i] = i;
    double unit = S.sleep_target / greedy_makespan(d, N, slots);
    for (int i = 0; i < N; i++)
        d[i] = i * unit;
    double ideal = greedy_makespan(d, N, slots);
    double span[MAX_ROUNDS] = {0};
    for (int r = 0; r < R; r++) {
        rayc_ref refs[N];
        int64_t got[N];
        double t0 = now();
        for (int i = 0; i < N; i++)
            CHECK(rayc_submit(&refs[i], sleeper, RAYC_ARGS(rayc_f64(d[i]))));
        CHECK(rayc_get_i64(refs, N, got, S.get_timeout));
        span[r] = now() - t0;
        CHECK(rayc_release(refs, N));
    }
    fig_set(&M[M_SLEEP], span, R);
    double one[1] = {ideal};
    fig_set(&B[B_IDEAL], one, 1);
    B[B_IDEAL].rounds = R;
    fig_note(&B[B_IDEAL], "list schedule in submission order, simulated");
    fig_note(&M[M_SLEEP], "16 tasks sleeping i x %.1f ms (i = 0..15) on %d slots; round 1 "
                          "%.3f s", unit * 1e3, slots, span[0]);
}

/* fanout_1000_reduce: 1000 ident tasks, then one reduce task taking all 1000 refs. */
static void metric_fanout(void)
{
    enum { N = 1000 };
    int R = O.rounds, k = S.fanouts;
    rayc_ref refs[N], red;
    rayc_arg *args = xmalloc(N * sizeof *args);
    double ms[MAX_ROUNDS] = {0};
    for (int r = -g_rounds_warm; r < R; r++) {
        double best = INFINITY, sum = 0;
        for (int j = 0; j < k; j++) {
            double t0 = now();
            for (int i = 0; i < N; i++)
                CHECK(rayc_submit(&refs[i], ident, RAYC_ARGS(rayc_i64(i))));
            for (int i = 0; i < N; i++)
                args[i] = rayc_refarg(refs[i]);
            CHECK(rayc_submit(&red, reduce_sum, args, N));
            int64_t total = 0;
            CHECK(rayc_get_i64(&red, 1, &total, S.get_timeout));
            double dt = now() - t0;
            CHECK(rayc_release(refs, N));
            CHECK(rayc_release(&red, 1));
            if (total != (int64_t)N * (N - 1) / 2)
                die("fanout_1000_reduce: sum %" PRId64 ", expected %d", total, N * (N - 1) / 2);
            sum += dt;
            best = dt < best ? dt : best;
        }
        if (r >= 0)
            ms[r] = sum / k * 1e3;
    }
    free(args);
    fig_set(&M[M_FANOUT], ms, R);
    fig_note(&M[M_FANOUT], "submit 1000 ident(i) + reduce_sum(1000 refs) and get the sum; mean "
                           "of %d per round", k);
}

/* ---- spill write rate ---- */

static double cfg_value(const char *key, double dflt)
{
    size_t len = strlen(key);
    for (int i = 0; i < O.nconfig; i++)
        if (strncmp(O.config[i], key, len) == 0 && O.config[i][len] == '=')
            return strtod(O.config[i] + len + 1, NULL);
    return dflt;
}

static void store_info0(rayc_store_info *out)
{
    rayc_store_info *all = xmalloc((size_t)g_size * sizeof *all);
    int n = 0;
    CHECK(rayc_store_stats(all, g_size, &n));
    *out = all[0];
    free(all);
}

/* One round: fill rank 0's store to its high-water mark with puts (untimed), then put `extra`
 * more objects and time until the spill thread has written that much. Returns GB/s. */
static double spill_round(rayc_ref *refs, int nfill, int extra, size_t obj, const void *data)
{
    rayc_store_info st;
    int64_t count = (int64_t)(obj / sizeof(int64_t));
    for (int i = 0; i < nfill; i++)
        CHECK(rayc_put(&refs[i], rayc_vec(RAYC_I64, count, data)));
    store_info0(&st);
    uint64_t s0 = st.spilled_bytes, want = (uint64_t)extra * obj;
    double t0 = now(), deadline = t0 + S.get_timeout, t1 = 0;
    for (int i = 0; i < extra; i++)
        CHECK(rayc_put(&refs[nfill + i], rayc_vec(RAYC_I64, count, data)));
    uint64_t last = s0;
    double last_change = now();
    for (;;) {
        store_info0(&st);
        double t = now();
        if (st.spilled_bytes != last)
            last = st.spilled_bytes, last_change = t1 = t;
        if (last - s0 >= want || (last > s0 && t - last_change > 0.5) || t > deadline)
            break;
        sleep_seconds(200e-6);
    }
    CHECK(rayc_release(refs, nfill + extra));
    if (last <= s0)
        die("spill_write_rate: nothing was spilled in %.0f s (spill file: '%s')",
            S.get_timeout, st.spill_path);
    return (double)(last - s0) / (t1 - t0) / 1e9;
}

/* spill_write_rate: bytes rank 0's store wrote to its HDF5 spill file per second once puts
 * pass the high-water mark. */
static void metric_spill(void)
{
    rayc_store_info st;
    store_info0(&st);
    if (st.capacity == 0) {
        fig_note(&M[M_SPILL], "n/a: rank 0 has no object store");
        return;
    }
    size_t obj = S.big_bytes;
    double high = cfg_value("spill_high_water", 0.8);
    int nfill = (int)(high * (double)st.capacity / (double)obj);
    int extra = O.quick ? 4 : 8, R = O.quick ? 1 : O.rounds; /* a round copies 0.8 x store */
    rayc_ref *refs = xmalloc((size_t)(nfill + extra) * sizeof *refs);
    int64_t *data = xmalloc(obj);
    for (size_t i = 0; i < obj / sizeof *data; i++)
        data[i] = (int64_t)i;
    double rate[MAX_ROUNDS] = {0};
    for (int r = 0; r < R; r++)
        rate[r] = spill_round(refs, nfill, extra, obj, data);
    free(data);
    free(refs);
    fig_set(&M[M_SPILL], rate, R);
    store_info0(&st);
    fig_note(&M[M_SPILL], "rank 0 store of %.0f MiB filled to %.0f%% with %zu MiB puts, then %d "
                          "more; timed until they were written to %s", st.capacity / 1048576.0,
             high * 100, obj / MIB, extra, st.spill_path[0] ? st.spill_path : "(no file)");
}

/* ---- memory per queued task ---- */

static long vmrss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    if (f)
        fclose(f);
    return kib;
}

static double heap_in_use(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 mi = mallinfo2();
    return (double)mi.uordblks + (double)mi.hblkhd;
#else
    return NAN;
#endif
}

/* queued_task_bytes: N tasks that each take the ref of a task held back on rank 0 stay queued
 * on rank 0's control service; VmRSS rise / N (freed heap pages are returned first with
 * malloc_trim so that the rise is not hidden by reuse). */
/* One round: submit n tasks on a held-back ref, measure, release, drain. Fills the VmRSS and
 * heap bytes per task and the submit and drain rates. */
static void qmem_round(rayc_ref *refs, rayc_value **vals, int n, double *rss, double *heap,
                       double *sub, double *drain)
{
    rayc_ref blk;
    rayc_opts o = RAYC_OPTS_INHERIT;
    o.strategy = RAYC_SCHED_NODE_AFFINITY;
    o.affinity_rank = 0;
    o.affinity_soft = 0;
    atomic_store(&g_release_blocker, 0);
    CHECK(rayc_submit_ex(&blk, 1, blocker, RAYC_ARGS(rayc_f64(S.get_timeout)), &o));
    malloc_trim(0);
    long rss0 = vmrss_kib();
    double h0 = heap_in_use(), t0 = now();
    for (int i = 0; i < n; i++)
        CHECK(rayc_submit(&refs[i], ident, RAYC_ARGS(rayc_refarg(blk))));
    double t1 = now();
    long rss1 = vmrss_kib();
    double h1 = heap_in_use();
    rayc_task_state st;
    CHECK(rayc_task_state_of(refs[n - 1], &st));
    if (st != RAYC_TASK_PENDING_ARGS_AVAIL)
        die("queued_task_bytes: the last task is %s, expected PENDING_ARGS_AVAIL",
            rayc_task_state_name(st));
    atomic_store(&g_release_blocker, 1);
    double t2 = now();
    get_release_values(refs, n, vals);
    double t3 = now();
    release_values(vals, n);
    CHECK(rayc_release(refs, n));
    int64_t z = 0;
    CHECK(rayc_get_i64(&blk, 1, &z, S.get_timeout));
    CHECK(rayc_release(&blk, 1));
    *rss = (double)(rss1 - rss0) * 1024.0 / n;
    *heap = (h1 - h0) / n;
    *sub = n / (t1 - t0);
    *drain = n / (t3 - t2);
}

static void metric_qmem(void)
{
    int rank0_runs = 0;
    cluster_slots(&rank0_runs);
    if (!rank0_runs) {
        fig_note(&M[M_QMEM], "n/a: needs rank 0 workers (rank0_workers=1)");
        return;
    }
    int n = S.queued_tasks, R = O.rounds;
    rayc_ref *refs = xmalloc((size_t)n * sizeof *refs);
    rayc_value **vals = xmalloc((size_t)n * sizeof *vals);
    memset(refs, 0, (size_t)n * sizeof *refs); /* fault the pages in before measuring */
    memset(vals, 0, (size_t)n * sizeof *vals);
    double rss[MAX_ROUNDS] = {0}, heap[MAX_ROUNDS] = {0};
    double sub[MAX_ROUNDS] = {0}, drain[MAX_ROUNDS] = {0};
    for (int r = 0; r < R; r++)
        qmem_round(refs, vals, n, &rss[r], &heap[r], &sub[r], &drain[r]);
    free(refs);
    free(vals);
    /* Round 1 grows the control service's hash maps; later rounds reuse them and show only the
     * records. Holding 10M tasks needs both, so the figure is round 1 (one sample). */
    fig_set(&M[M_QMEM], rss, 1);
    fig_note(&M[M_QMEM], "%d tasks waiting on one pending ref; round 1 (hash maps growing): "
                         "VmRSS %.0f, heap %.0f B/task; later rounds (maps already sized): "
                         "VmRSS %.0f, heap %.0f B/task (medians); submitted at %.0f tasks/s, "
                         "drained at %.0f tasks/s; 10M tasks would take %.2f GiB%s", n, rss[0],
             heap[0], R > 1 ? median_of(rss + 1, R - 1) : NAN,
             R > 1 ? median_of(heap + 1, R - 1) : NAN, median_of(sub, R), median_of(drain, R),
             rss[0] * 1e7 / (1 << 30), n >= 10000000 ? " (measured, not scaled)" : "");
}

/* ---------------------------------------------------------------------------------------- */
/* Output                                                                                    */

/* 1234567 -> "1,234,567"; 12.345 -> "12.3"; NaN -> "n/a". */
static const char *fmt_num(char *buf, size_t len, double v, int have)
{
    if (!have || !isfinite(v)) {
        snprintf(buf, len, "n/a");
        return buf;
    }
    double a = fabs(v);
    if (a < 1000) {
        snprintf(buf, len, "%.3g", v);
        return buf;
    }
    char digits[64];
    snprintf(digits, sizeof digits, "%.0f", a);
    size_t nd = strlen(digits), o = 0;
    if (v < 0 && o < len - 1)
        buf[o++] = '-';
    for (size_t i = 0; i < nd && o < len - 1; i++) {
        if (i && (nd - i) % 3 == 0 && o < len - 1)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = 0;
    return buf;
}

static double ratio_of(const figure *m)
{
    if (!m->have || m->base < 0 || !B[m->base].have || B[m->base].med == 0)
        return NAN;
    return m->med / B[m->base].med;
}

static double g_load_start, g_load_end;

static double loadavg1(void)
{
    double l = NAN;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f && fscanf(f, "%lf", &l) != 1)
        l = NAN;
    if (f)
        fclose(f);
    return l;
}

static void print_table(void)
{
    char a[48], b[48], c[48], d[48];
    printf("rayc-perf %s: %d rank%s, %d round%s per figure (median; spread = min..max)%s\n",
           RAYC_VERSION_STRING, g_size, g_size == 1 ? "" : "s", O.rounds,
           O.rounds == 1 ? "" : "s", O.quick ? ", --quick sizes" : "");
    printf("host load average %.2f at start, %.2f at end, %ld CPUs online%s\n", g_load_start,
           g_load_end, sysconf(_SC_NPROCESSORS_ONLN),
           g_load_end > 0.5 * (double)sysconf(_SC_NPROCESSORS_ONLN) + g_size
               ? " (busy host: figures are noisy)" : "");
    for (int i = 0; i < O.nconfig; i++)
        printf("config %s\n", O.config[i]);
    printf("ratio = value / baseline (for times lower is better, for rates higher)\n\n");
    printf("%-34s %14s %-9s | %-26s %12s %-9s | %10s | %s\n", "metric", "value", "unit",
           "baseline", "value", "unit", "ratio", "spread");
    for (int i = 0; i < 140; i++)
        putchar('-');
    putchar('\n');
    for (int m = 0; m < NM; m++) {
        if (!want_metric[m])
            continue;
        const figure *f = &M[m];
        const figure *g = f->base >= 0 ? &B[f->base] : NULL;
        double ratio = ratio_of(f);
        char rs[32];
        if (isfinite(ratio))
            snprintf(rs, sizeof rs, ratio < 0.01 ? "%.2gx" : "%.3gx", ratio);
        else
            snprintf(rs, sizeof rs, "n/a");
        char spread[100];
        if (f->have)
            snprintf(spread, sizeof spread, "%s..%s", fmt_num(c, sizeof c, f->min, 1),
                     fmt_num(d, sizeof d, f->max, 1));
        else
            snprintf(spread, sizeof spread, "-");
        printf("%-34s %14s %-9s | %-26s %12s %-9s | %10s | %s\n", f->name,
               fmt_num(a, sizeof a, f->med, f->have), f->unit, g ? g->name : "-",
               g ? fmt_num(b, sizeof b, g->med, g->have) : "-", g ? g->unit : "", rs, spread);
    }
    printf("\nnotes:\n");
    for (int m = 0; m < NM; m++)
        if (want_metric[m] && M[m].note[0])
            printf("  %-32s %s\n", M[m].name, M[m].note);
    printf("\nbaselines (measured in this run before rayc_init; median, min..max):\n");
    for (int i = 0; i < NB; i++) {
        if (!need_base(i))
            continue;
        const figure *g = &B[i];
        printf("  %-32s %12s %-9s %s..%s  %s\n", g->name, fmt_num(a, sizeof a, g->med, g->have),
               g->unit, fmt_num(c, sizeof c, g->min, g->have),
               fmt_num(d, sizeof d, g->max, g->have), g->note);
    }
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void json_num(double v, int have)
{
    if (have && isfinite(v))
        printf("%.6g", v);
    else
        printf("null");
}

static void json_fig(const figure *f, int with_base)
{
    printf("{\"name\": ");
    json_str(f->name);
    printf(", \"value\": ");
    json_num(f->med, f->have);
    printf(", \"unit\": ");
    json_str(f->unit);
    if (with_base) {
        const figure *g = f->base >= 0 ? &B[f->base] : NULL;
        printf(", \"baseline\": ");
        if (g)
            json_str(g->name);
        else
            printf("null");
        printf(", \"baseline_value\": ");
        json_num(g ? g->med : NAN, g && g->have);
        printf(", \"baseline_unit\": ");
        if (g)
            json_str(g->unit);
        else
            printf("null");
        printf(", \"ratio\": ");
        json_num(ratio_of(f), 1);
    }
    printf(", \"rounds\": %d, \"min\": ", f->rounds);
    json_num(f->min, f->have);
    printf(", \"max\": ");
    json_num(f->max, f->have);
    printf(", \"note\": ");
    json_str(f->note);
    printf("}");
}

static void print_json(void)
{
    printf("{\"program\": \"rayc-perf\", \"version\": ");
    json_str(RAYC_VERSION_STRING);
    printf(", \"ranks\": %d, \"rounds\": %d, \"quick\": %s, \"load_start\": ", g_size,
           O.rounds, O.quick ? "true" : "false");
    json_num(g_load_start, 1);
    printf(", \"load_end\": ");
    json_num(g_load_end, 1);
    printf(", \"config\": [");
    for (int i = 0; i < O.nconfig; i++) {
        printf("%s", i ? ", " : "");
        json_str(O.config[i]);
    }
    printf("],\n \"metrics\": [");
    int first = 1;
    for (int m = 0; m < NM; m++) {
        if (!want_metric[m])
            continue;
        printf("%s\n  ", first ? "" : ",");
        json_fig(&M[m], 1);
        first = 0;
    }
    printf("],\n \"baselines\": [");
    first = 1;
    for (int i = 0; i < NB; i++) {
        if (!need_base(i))
            continue;
        printf("%s\n  ", first ? "" : ",");
        json_fig(&B[i], 0);
        first = 0;
    }
    printf("]}\n");
}

/* ---------------------------------------------------------------------------------------- */
/* Modes and main                                                                            */

static void usage(FILE *to)
{
    fprintf(to,
            "usage: rayc-perf [--rounds N] [--quick] [--json] [--only NAME[,NAME...]] [--list]\n"
            "                 [--timeout SECONDS] [--quiet] [--config KEY=VALUE]...\n"
            "                 [--no-baselines] [--queued-tasks N]\n"
            "       rayc-perf --init-only    time rayc_init + rayc_shutdown (rank 0 prints)\n"
            "       rayc-perf --mpi-only     time MPI_Init_thread + MPI_Finalize\n"
            "Run as ./rayc-perf, mpirun -n N rayc-perf, srun rayc-perf. See bench/README.md.\n");
}

static int select_metrics(const char *only)
{
    for (int m = 0; m < NM; m++)
        want_metric[m] = only == NULL;
    if (!only)
        return 0;
    char *list = strdup(only), *save = NULL;
    if (!list)
        die("out of memory");
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int found = 0;
        for (int m = 0; m < NM; m++)
            if (strcmp(tok, M[m].name) == 0 || strcmp(tok, M[m].group) == 0)
                found = 1;
        if (!found) {
            fprintf(stderr, "rayc-perf: unknown metric '%s' (see --list)\n", tok);
            free(list);
            return -1;
        }
        for (int m = 0; m < NM; m++)
            if (strcmp(tok, M[m].name) == 0 || strcmp(tok, M[m].group) == 0)
                for (int k = 0; k < NM; k++) /* a group is measured whole */
                    if (strcmp(M[k].group, M[m].group) == 0)
                        want_metric[k] = 1;
    }
    free(list);
    return 0;
}

static int parse_args(int argc, char **argv)
{
    int rounds_set = 0;
#ifdef RAYC_PERF_SMOKE
    /* The make-check build: quick sizes, no progress lines; fails only on a failed call. */
    O.quick = 1;
    O.quiet = 1;
#endif
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--rounds") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > MAX_ROUNDS)
                return fprintf(stderr, "rayc-perf: --rounds takes 1..%d\n", MAX_ROUNDS), -1;
            O.rounds = (int)v;
            rounds_set = 1;
        } else if (strcmp(a, "--quick") == 0) {
            O.quick = 1;
        } else if (strcmp(a, "--json") == 0) {
            O.json = 1;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            O.quiet = 1;
        } else if (strcmp(a, "--list") == 0) {
            O.list = 1;
        } else if (strcmp(a, "--only") == 0 && i + 1 < argc) {
            O.only = argv[++i];
        } else if (strcmp(a, "--timeout") == 0 && i + 1 < argc) {
            char *end;
            O.timeout = strtod(argv[++i], &end);
            if (*end || !(O.timeout >= 0))
                return fprintf(stderr, "rayc-perf: bad --timeout\n"), -1;
        } else if (strcmp(a, "--config") == 0 && i + 1 < argc) {
            if (O.nconfig == MAX_CONFIG || !strchr(argv[i + 1], '='))
                return fprintf(stderr, "rayc-perf: --config takes key=value (at most 32)\n"), -1;
            O.config[O.nconfig++] = argv[++i];
        } else if (strcmp(a, "--queued-tasks") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1000 || v > 100000000)
                return fprintf(stderr, "rayc-perf: --queued-tasks takes 1000..100000000\n"), -1;
            O.queued_tasks = (int)v;
        } else if (strcmp(a, "--no-baselines") == 0) {
            O.no_baselines = 1;
        } else if (strcmp(a, "--init-only") == 0) {
            O.init_only = 1;
        } else if (strcmp(a, "--mpi-only") == 0) {
            O.mpi_only = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "rayc-perf: unknown option '%s'\n", a);
            usage(stderr);
            return -1;
        }
    }
    if (O.quick && !rounds_set)
        O.rounds = 3;
    return 0;
}

/* Warm up (worker threads started, per-function run times learned), then every selected
 * metric, in an order that keeps the slow and memory-hungry ones last. */
static void run_metrics(void)
{
    static const struct {
        int m;
        void (*fn)(void);
    } runs[] = {{M_SYNC, metric_sync},     {M_ASYNC, metric_async}, {M_MULTI, metric_multi},
                {M_PUT, metric_put},       {M_GET, metric_get},     {M_PAIR, metric_pair},
                {M_PUT_GB, metric_put_gb},
                {M_BATCH, metric_batch},   {M_WAIT, metric_wait},   {M_GET64, metric_get64},
                {M_FANOUT, metric_fanout}, {M_SLEEP, metric_sleep}, {M_SPILL, metric_spill},
                {M_QMEM, metric_qmem}};
    rayc_ref refs[1000];
    rayc_value *vals[1000];
    progress("rayc_init done; %d worker slots", cluster_slots(NULL));
    submit_get_noops(1000, refs, vals);
    for (int i = 0; i < 50; i++)
        submit_get_noops(1, refs, vals);
    g_rounds_warm = 1;
    for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
        if (!want_metric[runs[i].m])
            continue;
        progress("%s", M[runs[i].m].name);
        runs[i].fn();
    }
}

static void list_metrics(void)
{
    for (int m = 0; m < NM; m++)
        printf("%-36s %-10s baseline %s\n", M[m].name, M[m].unit,
               M[m].base >= 0 ? B[M[m].base].name : "-");
}

/* The --config options as a rayc_config (NULL when there are none). */
static rayc_config *make_config(void)
{
    if (!O.nconfig)
        return NULL;
    rayc_config *cfg = NULL;
    CHECK(rayc_config_create(&cfg));
    for (int i = 0; i < O.nconfig; i++) {
        char key[64];
        const char *eq = strchr(O.config[i], '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - O.config[i]), O.config[i]);
        CHECK(rayc_config_set(cfg, key, eq + 1));
    }
    return cfg;
}

static rayc_config *g_cfg; /* made before MPI starts, so that a bad --config fails at once */

static int init_rayc(int *argc, char ***argv)
{
    int rc = rayc_init(argc, argv, g_cfg); /* ranks > 0 serve tasks and exit inside */
    rayc_config_destroy(g_cfg);
    g_cfg = NULL;
    return rc;
}

/* --init-only: rayc_init + rayc_shutdown, timed from main's start; rayc initializes MPI. */
static int mode_init_only(int *argc, char ***argv)
{
    double t0 = g_t_start;
    CHECK(init_rayc(argc, argv)); /* ranks > 0 exit inside */
    double t1 = now();
    int size = rayc_size();
    CHECK(rayc_shutdown());
    double t2 = now();
    printf("init_shutdown_ms=%.3f init_ms=%.3f shutdown_ms=%.3f ranks=%d\n", (t2 - t0) * 1e3,
           (t1 - t0) * 1e3, (t2 - t1) * 1e3, size);
    return 0;
}

/* --mpi-only: the bare MPI init + finalize, timed the same way. */
static int mode_mpi_only(int *argc, char ***argv)
{
    double t0 = g_t_start;
    int provided = 0, rank = 0, size = 1;
    MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided));
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    double t1 = now();
    MPI_CHECK(MPI_Finalize());
    double t2 = now();
    if (rank == 0)
        printf("mpi_init_finalize_ms=%.3f init_ms=%.3f finalize_ms=%.3f ranks=%d\n",
               (t2 - t0) * 1e3, (t1 - t0) * 1e3, (t2 - t1) * 1e3, size);
    return 0;
}

int main(int argc, char **argv)
{
    g_t_start = now();
    if (parse_args(argc, argv) != 0)
        return 2;
    set_sizes();
    init_figures();
    if (O.list) {
        list_metrics();
        return 0;
    }
    if (select_metrics(O.only) != 0)
        return 2;
    if (O.timeout == 0)
        O.timeout = O.quick ? 120 : 900;
    g_cfg = make_config();
    start_watchdog();
    if (O.init_only)
        return mode_init_only(&argc, &argv);
    if (O.mpi_only)
        return mode_mpi_only(&argc, &argv);

    int provided = 0;
    MPI_CHECK(MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided));
    if (provided < MPI_THREAD_MULTIPLE)
        die("MPI provides thread level %d; rayc needs MPI_THREAD_MULTIPLE", provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_load_start = loadavg1();
    progress("%d rank%s; baselines before rayc_init", g_size, g_size == 1 ? "" : "s");
    run_baselines();

    CHECK(init_rayc(&argc, &argv));
    run_metrics();
    if (!want_metric[M_SLEEP])
        B[B_IDEAL].have = 0;
    g_load_end = loadavg1();
    progress("rayc_shutdown");
    CHECK(rayc_shutdown());
    MPI_CHECK(MPI_Finalize());
    if (O.json)
        print_json();
    else
        print_table();
    return 0;
}
