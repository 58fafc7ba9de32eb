/* expensive.c: tasks of known durations, where they ran and how long it all took (seed 004).
 *
 * Part 1: expensive(n) sleeps n time units (0.1 s by default) and returns two values: how long
 * it ran and the rank that ran it (num_returns = 2). The driver submits 2 x (worker slots)
 * tasks of 0, 1, 2, ... units, notes when each one finishes (rayc_wait, completion order), and
 * prints the worker table: task, duration, rank, finish time; then the time per rank and the
 * total beside the greedy schedule (each task, in submission order, to the slot that frees
 * first: 16 tasks of 0..15 units on 8 slots take 22 units) and the serial sum.
 *
 * Part 2, the slow_square exercise: four slow_square(n) tasks, each sleeping n seconds and
 * returning n * n, give [0, 1, 4, 9] in about 3 s rather than 0 + 1 + 2 + 3 = 6 s, because
 * they run at the same time. With at least 4 worker slots the job checks that it took < 4.5 s.
 *
 *     ./expensive
 *     mpirun -n 4 ./expensive -n 16 -u 0.2
 *     sbatch jobs/expensive.sbatch
 *
 * Prints "expensive: OK" and "slow_square: OK", or exits 1. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rayc.h>

#define JOB_NAME "expensive"
#include "job_util.h"

static void sleep_seconds(double s)
{
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ; /* interrupted by a signal: sleep the rest */
}

/* ------------------------------------------------------------------------------------------ */
/* Remote functions                                                                            */

/* expensive(n, unit) -> (seconds it ran: f64, rank that ran it: i64), after sleeping n units
 * of `unit` seconds. */
static int expensive(rayc_task *t)
{
    int64_t n = rayc_arg_i64(t, 0);
    double unit = rayc_arg_f64(t, 1);
    if (n < 0 || unit < 0.0)
        return rayc_task_fail(t, "n and unit must be >= 0, got %" PRId64 " and %g", n, unit);

    double start = now_seconds();
    sleep_seconds((double)n * unit);
    int rc = rayc_return_f64(t, 0, now_seconds() - start);
    if (rc == RAYC_OK)
        rc = rayc_return_i64(t, 1, rayc_task_rank(t));
    return rc;
}
RAYC_REMOTE(expensive, .num_returns = 2, .num_args = 2, .arg_dtypes = "i64,f64");

/* slow_square(n) -> n * n, after sleeping n seconds. */
static int slow_square(rayc_task *t)
{
    int64_t n = rayc_arg_i64(t, 0);
    if (n < 0 || n > 60)
        return rayc_task_fail(t, "n must be in [0, 60], got %" PRId64, n);
    sleep_seconds((double)n);
    return rayc_return_i64(t, 0, n * n);
}
RAYC_REMOTE(slow_square, .num_args = 1, .arg_dtypes = "i64");

/* ------------------------------------------------------------------------------------------ */
/* Part 1: expensive tasks and the worker table                                                */

/* Position of r in refs[0..n), or -1. Refs are plain data, so equal refs compare equal bytewise. */
static int find_ref(const rayc_ref *refs, int n, rayc_ref r)
{
    for (int i = 0; i < n; i++)
        if (memcmp(&refs[i], &r, sizeof r) == 0)
            return i;
    return -1;
}

/* Makespan, in units, of the greedy list schedule of tasks 0..ntasks-1 (task i takes i units):
 * in submission order, each task goes to the slot that frees first. */
static double greedy_makespan(int ntasks, int slots)
{
    double *free_at = xcalloc((size_t)slots, sizeof *free_at);
    double makespan = 0.0;
    for (int i = 0; i < ntasks; i++) {
        int s = 0;
        for (int j = 1; j < slots; j++)
            if (free_at[j] < free_at[s])
                s = j;
        free_at[s] += (double)i; /* task i takes i units */
        if (free_at[s] > makespan)
            makespan = free_at[s];
    }
    free(free_at);
    return makespan;
}

/* Submit tasks 0..ntasks-1 (task i sleeps i units), record when each finishes, fetch both
 * returns of all, print the table. Returns the number of inconsistent results. */
static int run_expensive(int ntasks, double unit, int slots)
{
    rayc_ref *duration_refs = xcalloc((size_t)ntasks, sizeof(rayc_ref));
    rayc_ref *rank_refs = xcalloc((size_t)ntasks, sizeof(rayc_ref));
    rayc_ref *pending = xcalloc((size_t)ntasks, sizeof(rayc_ref));
    rayc_ref *rest = xcalloc((size_t)ntasks, sizeof(rayc_ref));
    double *finished_at = xcalloc((size_t)ntasks, sizeof(double));
    double *ran = xcalloc((size_t)ntasks, sizeof(double));
    int64_t *rank = xcalloc((size_t)ntasks, sizeof(int64_t));

    double start = now_seconds();
    for (int i = 0; i < ntasks; i++) {
        rayc_ref out[2]; /* expensive has two returns: duration and rank */
        check(rayc_submit(out, expensive, RAYC_ARGS(rayc_i64(i), rayc_f64(unit))),
              "rayc_submit(expensive)");
        duration_refs[i] = pending[i] = out[0];
        rank_refs[i] = out[1];
    }

    /* Completion order: the first return of a task exists once the task finished. */
    for (int npending = ntasks; npending > 0;) {
        rayc_ref ready;
        int nready = 0, nrest = 0;
        check(rayc_wait(pending, npending, 1, RAYC_NO_TIMEOUT, &ready, &nready, rest, &nrest),
              "rayc_wait");
        int i = nready == 1 ? find_ref(duration_refs, ntasks, ready) : -1;
        if (i < 0)
            die("rayc_wait returned no ready ref, or one that was not asked for", RAYC_EINTERNAL);
        finished_at[i] = now_seconds() - start;
        rayc_ref *swap = pending;
        pending = rest;
        rest = swap;
        npending = nrest;
    }
    double total = now_seconds() - start;

    check(rayc_get_f64(duration_refs, ntasks, ran, RAYC_NO_TIMEOUT), "rayc_get_f64");
    check(rayc_get_i64(rank_refs, ntasks, rank, RAYC_NO_TIMEOUT), "rayc_get_i64");
    check(rayc_release(duration_refs, ntasks), "rayc_release");
    check(rayc_release(rank_refs, ntasks), "rayc_release");

    /* The worker table, and the consistency checks: a task cannot sleep less than asked, and
     * it must have run on a rank of this job. */
    int bad = 0, size = rayc_size();
    double *busy = xcalloc((size_t)size, sizeof *busy);
    int *count = xcalloc((size_t)size, sizeof *count);
    printf("\n  task  units  ran (s)  finished at (s)  rank\n");
    for (int i = 0; i < ntasks; i++) {
        printf("  %4d  %5d  %7.3f  %15.3f  %4" PRId64 "\n", i, i, ran[i], finished_at[i],
               rank[i]);
        if (ran[i] < (double)i * unit - 1e-3 || rank[i] < 0 || rank[i] >= size) {
            printf("expensive: FAILED: task %d ran %.3f s on rank %" PRId64 "\n", i, ran[i],
                   rank[i]);
            bad++;
            continue;
        }
        busy[rank[i]] += ran[i];
        count[rank[i]]++;
    }
    printf("\n  rank  tasks  busy (s)\n");
    for (int r = 0; r < size; r++)
        printf("  %4d  %5d  %8.3f\n", r, count[r], busy[r]);

    double serial = unit * (double)ntasks * (double)(ntasks - 1) / 2.0;
    printf("\nexpensive: total %.3f s; greedy schedule on %d slots %.3f s; serial %.3f s\n",
           total, slots, unit * greedy_makespan(ntasks, slots), serial);

    free(duration_refs);
    free(rank_refs);
    free(pending);
    free(rest);
    free(finished_at);
    free(ran);
    free(rank);
    free(busy);
    free(count);
    return bad;
}

/* ------------------------------------------------------------------------------------------ */
/* Part 2: slow_square                                                                         */

/* Returns 0 when the values are right (and, with >= 4 slots, fast enough), else -1. */
static int run_slow_square(int slots)
{
    rayc_ref sq[4];
    int64_t v[4];
    double start = now_seconds();
    for (int64_t n = 0; n < 4; n++)
        check(rayc_submit(&sq[n], slow_square, RAYC_ARGS(rayc_i64(n))),
              "rayc_submit(slow_square)");
    check(rayc_get_i64(sq, 4, v, RAYC_NO_TIMEOUT), "rayc_get_i64");
    double elapsed = now_seconds() - start;
    check(rayc_release(sq, 4), "rayc_release");

    printf("slow_square: [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64
           "] in %.2f s (serially 6 s; %d worker slots)\n",
           v[0], v[1], v[2], v[3], elapsed, slots);
    if (v[0] != 0 || v[1] != 1 || v[2] != 4 || v[3] != 9) {
        printf("slow_square: FAILED: expected [0, 1, 4, 9]\n");
        return -1;
    }
    if (slots >= 4 && elapsed >= 4.5) {
        printf("slow_square: FAILED: %.2f s with %d worker slots, expected about 3 s\n",
               elapsed, slots);
        return -1;
    }
    if (slots < 4)
        printf("slow_square: fewer than 4 worker slots, so the time is not checked\n");
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Driver                                                                                      */

static void usage(FILE *f)
{
    fprintf(f, "usage: expensive [-n tasks] [-u unit_seconds]\n"
               "  -n  expensive tasks; task i sleeps i units (default 2 x worker slots)\n"
               "  -u  the unit in seconds (default 0.1)\n");
}

/* Parse argv into *ntasks (0: default) and *unit; on bad input print usage and end the job
 * with status 2. */
static void parse_options(int argc, char **argv, int64_t *ntasks, double *unit)
{
    *ntasks = 0; /* 0: twice the worker slots */
    *unit = 0.1;
    const job_option opts[] = {JOB_INT('n', 1, 1000, ntasks), JOB_F64('u', 0.0, 10.0, unit)};
    parse_job_options(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), usage);
}

/* Print one line per rank: where it runs and how many worker threads it started. */
static void print_nodes(void)
{
    int size = rayc_size(), n = 0;
    rayc_node_info *nodes = xcalloc((size_t)size, sizeof *nodes);
    check(rayc_nodes(nodes, size, &n), "rayc_nodes");
    printf("  rank  host                 node  workers  cpus\n");
    for (int i = 0; i < n && i < size; i++)
        printf("  %4d  %-20s %4d  %7d  %4g\n", nodes[i].rank, nodes[i].host, nodes[i].node_id,
               nodes[i].num_workers, nodes[i].total.cpu);
    free(nodes);
}

int main(int argc, char **argv)
{
    /* Ranks > 0 serve tasks inside rayc_init and exit there; only the driver continues. */
    int rc = rayc_init(&argc, &argv, NULL);
    if (rc != RAYC_OK)
        die("rayc_init", rc);

    int64_t ntasks;
    double unit;
    parse_options(argc, argv, &ntasks, &unit);

    /* Worker slots: each task needs one CPU, so the cluster's CPU total is the slot count. */
    rayc_resources res;
    check(rayc_cluster_resources(&res), "rayc_cluster_resources");
    int slots = res.cpu >= 1.0 ? (int)res.cpu : 1;
    if (ntasks == 0)
        ntasks = 2 * slots;
    printf("expensive: %d ranks, %d worker slots; %" PRId64 " tasks of 0..%" PRId64
           " units of %.3f s\n",
           rayc_size(), slots, ntasks, ntasks - 1, unit);
    print_nodes();

    int bad = run_expensive((int)ntasks, unit, slots);
    if (bad == 0)
        printf("expensive: OK\n");
    fflush(stdout);

    int square_rc = run_slow_square(slots);
    if (square_rc == 0)
        printf("slow_square: OK\n");

    check(rayc_shutdown(), "rayc_shutdown");
    return bad == 0 && square_rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
