/* pi.c: Monte Carlo estimate of pi over many sampling tasks (seed 002, rayc's flagship job).
 *
 * Each task throws `samples` random points into the unit square and counts the hits inside the
 * quarter circle; 4 * hits / samples estimates pi. The driver submits all tasks at once, then
 * takes their results in completion order with rayc_wait(num_returns = 1), printing a progress
 * line with the running estimate and its standard error at most every 10% or every second.
 *
 * Every task has its own random stream, seeded from (base seed, task index), so the estimate
 * depends only on the parameters, not on where or in which order the tasks ran.
 *
 *     ./pi                      # 100 tasks x 4,000,000 samples
 *     mpirun -n 4 ./pi -t 400   # 400 tasks over 4 ranks
 *     sbatch jobs/pi.sbatch
 *
 * Output ends with
 *     pi: estimate=3.14150551 error=8.71e-05 tasks=100 samples=400000000 time=1.234
 * and the job exits 1 when |estimate - pi| is not below 5 standard errors. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <rayc.h>

#define JOB_NAME "pi"
#include "job_util.h"

#define PI_REFERENCE 3.14159265358979323846

/* Uniform double in [0, 1) from the top 53 bits. */
static double uniform01(uint64_t *state)
{
    return (double)(splitmix64_next(state) >> 11) * 0x1.0p-53;
}

/* ------------------------------------------------------------------------------------------ */
/* The remote function                                                                         */

/* pi_sample(samples, seed) -> number of the samples that fell inside the quarter circle. */
static int pi_sample(rayc_task *t)
{
    int64_t samples = rayc_arg_i64(t, 0);
    uint64_t state = (uint64_t)rayc_arg_i64(t, 1);
    if (samples < 0)
        return rayc_task_fail(t, "samples must be >= 0, got %" PRId64, samples);

    int64_t hits = 0;
    for (int64_t i = 0; i < samples; i++) {
        double x = uniform01(&state);
        double y = uniform01(&state);
        hits += (x * x + y * y < 1.0);
    }
    return rayc_return_i64(t, 0, hits);
}
RAYC_REMOTE(pi_sample, .num_args = 2, .arg_dtypes = "i64,i64");

/* ------------------------------------------------------------------------------------------ */
/* Driver                                                                                      */

typedef struct options {
    int64_t tasks;
    int64_t samples; /* per task */
    int64_t seed;
} options;

static void usage(FILE *f)
{
    fprintf(f, "usage: pi [-t tasks] [-s samples_per_task] [-r seed]\n"
               "  -t  number of sampling tasks (default 100)\n"
               "  -s  samples per task (default 4000000)\n"
               "  -r  base random seed (default 1)\n");
}

/* Parse argv into o; on bad input print usage and end the job with status 2. */
static void parse_options(int argc, char **argv, options *o)
{
    *o = (options){.tasks = 100, .samples = 4000000, .seed = 1};
    const job_option opts[] = {
        JOB_INT('t', 1, 1000000, &o->tasks),
        JOB_INT('s', 1, INT64_C(1000000000000), &o->samples),
        JOB_INT('r', 0, INT64_MAX, &o->seed),
    };
    parse_job_options(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), usage);
}

/* Standard error of 4 * hits / n, the estimate from n samples: 4 * sqrt(p (1 - p) / n). */
static double pi_stderr(int64_t hits, int64_t n)
{
    double p = (double)hits / (double)n;
    return 4.0 * sqrt(p * (1.0 - p) / (double)n);
}

/* Print "pi: 40/100 tasks, estimate ..." when another 10% of the tasks are done or a second has
 * passed since the last line. *last_time and *last_tenth remember the last line. */
static void report_progress(int64_t done, int64_t tasks, int64_t hits, int64_t samples_done,
                            double *last_time, int64_t *last_tenth)
{
    double now = now_seconds();
    int64_t tenth = done * 10 / tasks;
    if (tenth == *last_tenth && now - *last_time < 1.0)
        return;
    printf("pi: %" PRId64 "/%" PRId64 " tasks, estimate %.5f (+-%.5f)\n", done, tasks,
           4.0 * (double)hits / (double)samples_done, pi_stderr(hits, samples_done));
    fflush(stdout);
    *last_time = now;
    *last_tenth = tenth;
}

int main(int argc, char **argv)
{
    /* Ranks > 0 serve tasks inside rayc_init and exit there; only the driver continues. */
    int rc = rayc_init(&argc, &argv, NULL);
    if (rc != RAYC_OK)
        die("rayc_init", rc);

    options o;
    parse_options(argc, argv, &o);

    rayc_resources res;
    check(rayc_cluster_resources(&res), "rayc_cluster_resources");
    printf("pi: %" PRId64 " tasks x %" PRId64 " samples on %d ranks, %g worker slots\n", o.tasks,
           o.samples, rayc_size(), res.cpu);

    /* pending[] holds the refs not yet processed; rest[] receives what rayc_wait leaves. */
    rayc_ref *pending = calloc((size_t)o.tasks, sizeof *pending);
    rayc_ref *rest = calloc((size_t)o.tasks, sizeof *rest);
    if (pending == NULL || rest == NULL)
        die("calloc", RAYC_ENOMEM);

    double start = now_seconds();

    /* Submit every task up front. Per-task seeds come from one splitmix64 stream started at the
     * base seed (shifted to stay a non-negative i64). */
    uint64_t seeder = (uint64_t)o.seed;
    for (int64_t i = 0; i < o.tasks; i++) {
        int64_t task_seed = (int64_t)(splitmix64_next(&seeder) >> 1);
        check(rayc_submit(&pending[i], pi_sample,
                          RAYC_ARGS(rayc_i64(o.samples), rayc_i64(task_seed))),
              "rayc_submit(pi_sample)");
    }

    /* Take results as they complete: wait for any one, fold it in, report, repeat. */
    int npending = (int)o.tasks;
    int64_t done = 0, hits = 0;
    double last_time = start;
    int64_t last_tenth = 0;
    while (npending > 0) {
        rayc_ref ready;
        int nready = 0, nrest = 0;
        check(rayc_wait(pending, npending, 1, RAYC_NO_TIMEOUT, &ready, &nready, rest, &nrest),
              "rayc_wait");
        if (nready != 1)
            die("rayc_wait returned no ready ref without a timeout", RAYC_EINTERNAL);

        int64_t task_hits;
        check(rayc_get_i64(&ready, 1, &task_hits, RAYC_NO_TIMEOUT), "rayc_get_i64");
        check(rayc_release(&ready, 1), "rayc_release");

        hits += task_hits;
        done++;
        report_progress(done, o.tasks, hits, done * o.samples, &last_time, &last_tenth);

        rayc_ref *swap = pending; /* the refs still pending are now in rest[] */
        pending = rest;
        rest = swap;
        npending = nrest;
    }
    double elapsed = now_seconds() - start;
    free(pending);
    free(rest);

    int64_t total = o.tasks * o.samples;
    double estimate = 4.0 * (double)hits / (double)total;
    double error = fabs(estimate - PI_REFERENCE);
    double se = pi_stderr(hits, total);
    int ok = error < 5.0 * se;

    check(rayc_shutdown(), "rayc_shutdown");

    if (!ok)
        printf("pi: FAILED: error %.3g is not below 5 standard errors (5 x %.3g)\n", error, se);
    printf("pi: estimate=%.8f error=%.3g tasks=%" PRId64 " samples=%" PRId64 " time=%.3f\n",
           estimate, error, o.tasks, total, elapsed);
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
