/* walltime.c: a batch job that ends cleanly when Slurm warns that its time is nearly up.
 *
 * The driver prints where its ranks run (rayc_nodes: host, node id, local rank, worker threads,
 * CPUs, memory), then submits many long tasks: work(i, seconds) sleeps `seconds` and returns i.
 * It takes results in completion order. When the job receives SIGUSR1 (from
 * "#SBATCH --signal=USR1@60", or "scancel --signal=USR1 <job id>") or SIGTERM on any rank, rayc
 * stops dispatching: the tasks still queued come back as RAYC_ECANCELLED, the running ones
 * finish. The driver learns it
 * from its rayc_on_stop callback and from rayc_stop_requested(), keeps the results it has, and
 * calls rayc_shutdown(), which prints the "rayc summary:" lines. The job exits 0 either way: an
 * orderly stop before the walltime is a success.
 *
 *     ./walltime -n 8 -d 1                       # no signal: all 8 tasks run
 *     ./walltime & sleep 3; kill -USR1 %1       # stops after the running tasks
 *     sbatch jobs/walltime.sbatch                 # 3 minutes, SIGUSR1 60 s before the end
 *
 * Output: one "walltime: node ..." line per rank, "walltime: started ...", then either
 *     walltime: OK all 160 tasks done in 400.2 s
 * or
 *     walltime: stop callback: signal 10
 *     walltime: stop requested by signal 10 (SIGUSR1) after 61.2 s
 *     walltime: OK stopped by signal 10: 28 tasks done, 132 cancelled, 0 not submitted, 69.0 s
 * followed by the rayc summary lines, and "walltime: 16/160 tasks done" lines along the way.
 * A wrong task result, or a stop the callback did not see, prints "walltime: FAILED: ...". */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rayc.h>

#define JOB_NAME "walltime"
#include "job_util.h"

static void sleep_seconds(double s)
{
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ; /* interrupted by a signal (the stop signal itself, say): sleep the rest */
}

static const char *signal_name(int signum)
{
    return signum == SIGUSR1 ? "SIGUSR1" : signum == SIGTERM ? "SIGTERM" : "a signal";
}

/* ------------------------------------------------------------------------------------------ */
/* The remote function                                                                         */

/* work(i, seconds) -> i, after sleeping `seconds`: a stand-in for a long computation. */
static int work(rayc_task *t)
{
    int64_t i = rayc_arg_i64(t, 0);
    double seconds = rayc_arg_f64(t, 1);
    if (seconds < 0.0)
        return rayc_task_fail(t, "seconds must be >= 0, got %g", seconds);
    sleep_seconds(seconds);
    return rayc_return_i64(t, 0, i);
}
RAYC_REMOTE(work, .num_args = 2, .arg_dtypes = "i64,f64");

/* ------------------------------------------------------------------------------------------ */
/* Driver                                                                                      */

/* Set by the stop callback. The callback runs on rayc's progress thread, so it only records
 * the signal and prints one line; the driver does the rest. */
static atomic_int stop_seen;

static void on_stop(int signum, void *arg)
{
    (void)arg;
    atomic_store(&stop_seen, signum);
    printf("walltime: stop callback: signal %d\n", signum);
    fflush(stdout);
}

typedef struct options {
    int64_t tasks; /* 0: 40 per worker slot */
    double seconds;
} options;

static void usage(FILE *f)
{
    fprintf(f, "usage: walltime [-n tasks] [-d seconds_per_task]\n"
               "  -n  number of tasks (default 40 per worker slot)\n"
               "  -d  seconds each task runs (default 10)\n"
               "Stops cleanly on SIGUSR1 or SIGTERM; prints the rayc summary at the end.\n");
}

/* Parse argv into o; on bad input print usage and end the job with status 2. */
static void parse_options(int argc, char **argv, options *o)
{
    *o = (options){.tasks = 0, .seconds = 10.0};
    const job_option opts[] = {
        JOB_INT('n', 1, 1000000, &o->tasks),
        JOB_F64('d', 0.0, 86400.0, &o->seconds),
    };
    parse_job_options(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), usage);
}

/* One line per rank: where it runs and what it offers. Returns the worker slots (CPUs). */
static double print_nodes(void)
{
    int size = rayc_size(), n = 0;
    rayc_node_info *nodes = xcalloc((size_t)size, sizeof *nodes);
    check(rayc_nodes(nodes, size, &n), "rayc_nodes");
    double slots = 0.0;
    for (int i = 0; i < n && i < size; i++) {
        printf("walltime: node rank=%d host=%s node_id=%d local_rank=%d workers=%d cpus=%g "
               "memory=%.0fMiB\n",
               nodes[i].rank, nodes[i].host, nodes[i].node_id, nodes[i].local_rank,
               nodes[i].num_workers, nodes[i].total.cpu, nodes[i].total.memory / 1048576.0);
        if (nodes[i].num_workers > 0)
            slots += nodes[i].total.cpu;
    }
    free(nodes);
    return slots;
}

/* Results so far. seen[i] marks task i's result, so a duplicate or a stray value is caught. */
typedef struct tally {
    int64_t done, cancelled, not_submitted;
    unsigned char *seen;
} tally;

/* Fold in the result of one finished ref: a value, or a cancellation after a stop. */
static void take_result(rayc_ref ready, int64_t ntasks, tally *t)
{
    int64_t i;
    int rc = rayc_get_i64(&ready, 1, &i, RAYC_NO_TIMEOUT);
    if (rc == RAYC_ECANCELLED && rayc_stop_requested()) {
        t->cancelled++;
    } else {
        check(rc, "rayc_get_i64(work)");
        if (i < 0 || i >= ntasks || t->seen[i]) {
            fprintf(stderr, "walltime: FAILED: task result %" PRId64 " is %s\n", i,
                    i < 0 || i >= ntasks ? "out of range" : "a duplicate");
            rayc_shutdown();
            exit(EXIT_FAILURE);
        }
        t->seen[i] = 1;
        t->done++;
    }
    check(rayc_release(&ready, 1), "rayc_release");
}

/* Submit the tasks; after a stop, submissions are refused and counted as not submitted.
 * Returns the number of refs written to refs[]. */
static int submit_all(const options *o, rayc_ref *refs, tally *t)
{
    int n = 0;
    for (int64_t i = 0; i < o->tasks; i++) {
        int rc = rayc_submit(&refs[n], work, RAYC_ARGS(rayc_i64(i), rayc_f64(o->seconds)));
        if (rc == RAYC_ECANCELLED && rayc_stop_requested()) {
            t->not_submitted = o->tasks - i;
            break;
        }
        check(rc, "rayc_submit(work)");
        n++;
    }
    return n;
}

/* Print, once, that the driver has seen the stop (rayc_stop_requested). */
static void note_stop(int *noticed, double start)
{
    int signum = rayc_stop_requested();
    if (signum == 0 || *noticed)
        return;
    *noticed = 1;
    printf("walltime: stop requested by signal %d (%s) after %.1f s\n", signum,
           signal_name(signum), now_seconds() - start);
    fflush(stdout);
}

/* Take the results of the npending refs in pending[] as they complete, waking up every second
 * to notice a stop promptly; rest[] is scratch space of the same size. Prints a progress line
 * every 10% of the tasks. */
static void collect(rayc_ref *pending, rayc_ref *rest, int npending, int64_t ntasks, tally *t,
                    double start)
{
    int noticed = 0;
    while (npending > 0) {
        rayc_ref ready;
        int nready = 0, nrest = 0;
        check(rayc_wait(pending, npending, 1, 1.0, &ready, &nready, rest, &nrest), "rayc_wait");
        note_stop(&noticed, start);
        if (nready == 0)
            continue; /* timed out: pending[] is unchanged */
        int64_t tenth = t->done * 10 / ntasks;
        take_result(ready, ntasks, t);
        if (t->done * 10 / ntasks != tenth) {
            printf("walltime: %" PRId64 "/%" PRId64 " tasks done\n", t->done, ntasks);
            fflush(stdout);
        }
        rayc_ref *swap = pending; /* the refs still pending are now in rest[] */
        pending = rest;
        rest = swap;
        npending = nrest;
    }
    note_stop(&noticed, start); /* a stop after the last result */
}

/* The last line: how the run ended. Returns 0 when it went as it should, else 1. */
static int report(const tally *t, int64_t ntasks, double elapsed)
{
    int signum = rayc_stop_requested();
    /* The callback runs on the progress thread soon after the stop; give it a moment. */
    for (int i = 0; i < 100 && signum != 0 && atomic_load(&stop_seen) == 0; i++)
        sleep_seconds(0.01);
    int callback = atomic_load(&stop_seen);
    if (signum != 0 && callback != signum) {
        printf("walltime: FAILED: stopped by signal %d but the stop callback got %d\n", signum,
               callback);
        return 1;
    }
    if (signum != 0) /* here a real job would write its partial results or a checkpoint */
        printf("walltime: OK stopped by signal %d: %" PRId64 " tasks done, %" PRId64
               " cancelled, %" PRId64 " not submitted, %.1f s\n",
               signum, t->done, t->cancelled, t->not_submitted, elapsed);
    else
        printf("walltime: OK all %" PRId64 " tasks done in %.1f s\n", ntasks, elapsed);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    /* Ranks > 0 serve tasks inside rayc_init and exit there; only the driver continues. */
    int rc = rayc_init(&argc, &argv, NULL);
    if (rc != RAYC_OK)
        die("rayc_init", rc);
    check(rayc_on_stop(on_stop, NULL), "rayc_on_stop");

    options o;
    parse_options(argc, argv, &o);
    double slots = print_nodes();
    if (o.tasks == 0)
        o.tasks = 40 * (slots >= 1.0 ? (int64_t)slots : 1);

    rayc_ref *pending = xcalloc((size_t)o.tasks, sizeof *pending);
    rayc_ref *rest = xcalloc((size_t)o.tasks, sizeof *rest);
    tally t = {.seen = xcalloc((size_t)o.tasks, 1)};
    double start = now_seconds();
    int npending = submit_all(&o, pending, &t);
    printf("walltime: started %" PRId64 " tasks of %g s on %d ranks, %g worker slots\n", o.tasks,
           o.seconds, rayc_size(), slots);
    fflush(stdout);

    collect(pending, rest, npending, o.tasks, &t, start);
    int failed = report(&t, o.tasks, now_seconds() - start);
    free(pending);
    free(rest);
    free(t.seen);
    check(rayc_shutdown(), "rayc_shutdown"); /* prints the rayc summary after a stop */
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
