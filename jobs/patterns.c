/* patterns.c: three task patterns next to their anti-patterns, measured (seed 002).
 *
 * 1. Get in a loop. Submitting a task and getting its result before submitting the next one
 *    runs the tasks one after another. Submit them all first, then get: one batched rayc_get,
 *    or (nearly as good) one get per ref.
 * 2. Task granularity. A task costs scheduling and messaging on top of its work. One task per
 *    tiny item spends more on that than on the work; one task per chunk of items amortizes it.
 * 3. Processing order. When tasks take varying times and each result needs processing on the
 *    driver, taking results in submission order waits on slow tasks while finished ones sit
 *    idle. rayc_wait(num_returns = 1) hands them over in completion order instead.
 *
 * Each experiment checks its results and prints its time; the table's ratio column compares
 * every variant with the recommended one of its experiment (1.00x).
 *
 *     ./patterns
 *     mpirun -n 4 ./patterns -n 16
 *     sbatch jobs/patterns.sbatch
 *
 * Times depend on the worker slots and on what else runs; the job checks results, not times.
 * Prints "patterns: OK" or exits 1. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <rayc.h>

#define JOB_NAME "patterns"
#include "job_util.h"

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ; /* interrupted by a signal: sleep the rest */
}

/* The work of one item in experiment 2: a few microseconds of arithmetic, giving a 24-bit
 * number (so that sums of many items cannot overflow). */
#define ITEM_ROUNDS 1000
static int64_t item_value(int64_t item)
{
    uint64_t state = (uint64_t)item, x = 0;
    for (int r = 0; r < ITEM_ROUNDS; r++)
        x ^= splitmix64_next(&state);
    return (int64_t)(x >> 40);
}

/* ------------------------------------------------------------------------------------------ */
/* Remote functions                                                                            */

/* sleeper(ms) -> ms, after sleeping that long: a stand-in for a task of known duration. */
static int sleeper(rayc_task *t)
{
    int64_t ms = rayc_arg_i64(t, 0);
    if (ms < 0)
        return rayc_task_fail(t, "ms must be >= 0, got %" PRId64, ms);
    sleep_ms(ms);
    return rayc_return_i64(t, 0, ms);
}
RAYC_REMOTE(sleeper, .num_args = 1, .arg_dtypes = "i64");

/* work_items(first, count) -> sum of item_value(i) for i in [first, first + count). */
static int work_items(rayc_task *t)
{
    int64_t first = rayc_arg_i64(t, 0);
    int64_t count = rayc_arg_i64(t, 1);
    if (count < 0)
        return rayc_task_fail(t, "count must be >= 0, got %" PRId64, count);
    int64_t sum = 0;
    for (int64_t i = first; i < first + count; i++)
        sum += item_value(i);
    return rayc_return_i64(t, 0, sum);
}
RAYC_REMOTE(work_items, .num_args = 2, .arg_dtypes = "i64,i64");

/* ------------------------------------------------------------------------------------------ */
/* Results table                                                                               */

#define MAX_ROWS 8

typedef struct row {
    const char *experiment; /* printed on an experiment's first row only */
    const char *variant;
    double seconds;
    int baseline; /* the recommended variant: ratios are relative to it */
} row;

typedef struct table {
    row rows[MAX_ROWS];
    int nrows;
} table;

static void add_row(table *tb, const char *experiment, const char *variant, double seconds,
                    int baseline)
{
    if (tb->nrows < MAX_ROWS)
        tb->rows[tb->nrows++] = (row){experiment, variant, seconds, baseline};
}

/* Print the rows; each experiment's ratios are relative to its baseline row. */
static void print_table(const table *tb)
{
    printf("\n%-34s %-34s %9s %8s\n", "experiment", "variant", "time (s)", "ratio");
    for (int i = 0; i < tb->nrows; i++) {
        const row *r = &tb->rows[i];
        double base = r->seconds;
        for (int j = 0; j < tb->nrows; j++)
            if (tb->rows[j].baseline && tb->rows[j].experiment == r->experiment)
                base = tb->rows[j].seconds;
        int first = i == 0 || tb->rows[i - 1].experiment != r->experiment;
        printf("%-34s %-34s %9.3f %7.2fx\n", first ? r->experiment : "", r->variant, r->seconds,
               base > 0.0 ? r->seconds / base : 0.0);
    }
    printf("\n");
}

/* ------------------------------------------------------------------------------------------ */
/* Experiments                                                                                 */

typedef struct options {
    int64_t tasks;   /* tasks in experiments 1 and 3 */
    int64_t unit_ms; /* time unit of experiments 1 and 3 */
    int64_t items;   /* items in experiment 2 */
    int64_t chunk;   /* items per task in experiment 2's batched variant */
} options;

/* Experiment 1: n tasks of one unit each; returns the number of wrong results. */
static int experiment_get_in_loop(const options *o, table *tb)
{
    static const char name[] = "1. get in a loop";
    int n = (int)o->tasks, wrong = 0;
    rayc_ref *refs = xcalloc((size_t)n, sizeof *refs);
    int64_t *got = xcalloc((size_t)n, sizeof *got);

    /* Anti-pattern: each get blocks before the next task is even submitted. */
    double start = now_seconds();
    for (int i = 0; i < n; i++) {
        check(rayc_submit(&refs[i], sleeper, RAYC_ARGS(rayc_i64(o->unit_ms))), "rayc_submit");
        check(rayc_get_i64(&refs[i], 1, &got[i], RAYC_NO_TIMEOUT), "rayc_get_i64");
    }
    add_row(tb, name, "submit, get, submit, get... (anti)", now_seconds() - start, 0);
    check(rayc_release(refs, n), "rayc_release");
    for (int i = 0; i < n; i++)
        wrong += got[i] != o->unit_ms;

    /* Submit everything first; a get per ref is fine, the tasks already run in parallel. */
    start = now_seconds();
    for (int i = 0; i < n; i++)
        check(rayc_submit(&refs[i], sleeper, RAYC_ARGS(rayc_i64(o->unit_ms))), "rayc_submit");
    for (int i = 0; i < n; i++)
        check(rayc_get_i64(&refs[i], 1, &got[i], RAYC_NO_TIMEOUT), "rayc_get_i64");
    add_row(tb, name, "submit all, then get one by one", now_seconds() - start, 0);
    check(rayc_release(refs, n), "rayc_release");
    for (int i = 0; i < n; i++)
        wrong += got[i] != o->unit_ms;

    /* Recommended: submit everything, then one batched get. */
    start = now_seconds();
    for (int i = 0; i < n; i++)
        check(rayc_submit(&refs[i], sleeper, RAYC_ARGS(rayc_i64(o->unit_ms))), "rayc_submit");
    check(rayc_get_i64(refs, n, got, RAYC_NO_TIMEOUT), "rayc_get_i64");
    add_row(tb, name, "submit all, then one batched get", now_seconds() - start, 1);
    check(rayc_release(refs, n), "rayc_release");
    for (int i = 0; i < n; i++)
        wrong += got[i] != o->unit_ms;

    free(refs);
    free(got);
    return wrong;
}

/* Run work_items over [0, items) in tasks of `per_task` items; store the total in *sum. */
static void run_items(int64_t items, int64_t per_task, int64_t *sum)
{
    int ntasks = (int)((items + per_task - 1) / per_task);
    rayc_ref *refs = xcalloc((size_t)ntasks, sizeof *refs);
    int64_t *part = xcalloc((size_t)ntasks, sizeof *part);
    for (int i = 0; i < ntasks; i++) {
        int64_t first = (int64_t)i * per_task;
        int64_t count = items - first < per_task ? items - first : per_task;
        check(rayc_submit(&refs[i], work_items, RAYC_ARGS(rayc_i64(first), rayc_i64(count))),
              "rayc_submit(work_items)");
    }
    check(rayc_get_i64(refs, ntasks, part, RAYC_NO_TIMEOUT), "rayc_get_i64");
    check(rayc_release(refs, ntasks), "rayc_release");
    *sum = 0;
    for (int i = 0; i < ntasks; i++)
        *sum += part[i];
    free(refs);
    free(part);
}

/* Experiment 2: the same items serially, one task each, and in chunks; returns the number of
 * variants whose sum differs from the serial one. */
static int experiment_granularity(const options *o, table *tb)
{
    static const char name[] = "2. task granularity";
    static char batched_label[64]; /* static: the table keeps a pointer to it */
    snprintf(batched_label, sizeof batched_label, "one task per %" PRId64 " items", o->chunk);

    double start = now_seconds();
    int64_t serial = 0;
    for (int64_t i = 0; i < o->items; i++)
        serial += item_value(i);
    add_row(tb, name, "serial loop on the driver", now_seconds() - start, 0);

    int64_t fine, batched;
    start = now_seconds();
    run_items(o->items, 1, &fine);
    add_row(tb, name, "one task per item (anti)", now_seconds() - start, 0);

    start = now_seconds();
    run_items(o->items, o->chunk, &batched);
    add_row(tb, name, batched_label, now_seconds() - start, 1);

    return (fine != serial) + (batched != serial);
}

/* Durations for experiment 3, in units: the first task is a straggler of n units, the others
 * take 1 or 2 (a fixed pseudo-random pick). Getting in submission order then waits for the
 * straggler while the quick results sit unprocessed. */
static void varied_durations(int64_t *units, int n)
{
    uint64_t state = 3;
    units[0] = n;
    for (int i = 1; i < n; i++)
        units[i] = 1 + (int64_t)(splitmix64_next(&state) & 1);
}

/* Experiment 3 variant: submit the tasks, then get-and-process each result, either in
 * submission order or in completion order. Adds the results to *sum. */
static double process_results(const int64_t *ms, int n, int64_t process_ms,
                              int completion_order, int64_t *sum)
{
    rayc_ref *pending = xcalloc((size_t)n, sizeof *pending);
    rayc_ref *rest = xcalloc((size_t)n, sizeof *rest);
    double start = now_seconds();
    for (int i = 0; i < n; i++)
        check(rayc_submit(&pending[i], sleeper, RAYC_ARGS(rayc_i64(ms[i]))), "rayc_submit");

    for (int npending = n; npending > 0;) {
        rayc_ref next = pending[0]; /* submission order: the oldest ref */
        int nready = 1, nrest = npending - 1;
        if (completion_order) {
            check(rayc_wait(pending, npending, 1, RAYC_NO_TIMEOUT, &next, &nready, rest, &nrest),
                  "rayc_wait");
            if (nready != 1)
                die("rayc_wait returned no ready ref without a timeout", RAYC_EINTERNAL);
        } else {
            for (int i = 1; i < npending; i++)
                rest[i - 1] = pending[i];
        }
        int64_t value;
        check(rayc_get_i64(&next, 1, &value, RAYC_NO_TIMEOUT), "rayc_get_i64");
        check(rayc_release(&next, 1), "rayc_release");
        *sum += value;
        sleep_ms(process_ms); /* the driver's work on this result, e.g. writing it out */

        rayc_ref *swap = pending;
        pending = rest;
        rest = swap;
        npending = nrest;
    }
    double seconds = now_seconds() - start;
    free(pending);
    free(rest);
    return seconds;
}

/* Experiment 3: returns the number of variants whose results were wrong. */
static int experiment_processing_order(const options *o, table *tb)
{
    static const char name[] = "3. processing order";
    int n = (int)o->tasks;
    int64_t *ms = xcalloc((size_t)n, sizeof *ms);
    int64_t expected = 0;
    varied_durations(ms, n);
    for (int i = 0; i < n; i++) {
        ms[i] *= o->unit_ms;
        expected += ms[i];
    }
    int64_t process_ms = o->unit_ms;

    int64_t by_submission = 0, by_completion = 0;
    double t = process_results(ms, n, process_ms, 0, &by_submission);
    add_row(tb, name, "get in submission order (anti)", t, 0);
    t = process_results(ms, n, process_ms, 1, &by_completion);
    add_row(tb, name, "rayc_wait, completion order", t, 1);

    free(ms);
    return (by_submission != expected) + (by_completion != expected);
}

/* ------------------------------------------------------------------------------------------ */
/* Driver                                                                                      */

static void usage(FILE *f)
{
    fprintf(f, "usage: patterns [-n tasks] [-u unit_ms] [-i items] [-c chunk]\n"
               "  -n  tasks in experiments 1 and 3 (default 8)\n"
               "  -u  time unit in ms: experiment 1's tasks take 1 unit; in experiment 3 the\n"
               "      first task takes n units, the others 1 or 2, and processing a result on\n"
               "      the driver takes 1 (default 25)\n"
               "  -i  items in experiment 2 (default 20000)\n"
               "  -c  items per task in experiment 2's batched variant (default 1000)\n");
}

/* Parse argv into o; on bad input print usage and end the job with status 2. */
static void parse_options(int argc, char **argv, options *o)
{
    *o = (options){.tasks = 8, .unit_ms = 25, .items = 20000, .chunk = 1000};
    const job_option opts[] = {
        JOB_INT('n', 1, 10000, &o->tasks),
        JOB_INT('u', 0, 10000, &o->unit_ms),
        JOB_INT('i', 1, 10000000, &o->items),
        JOB_INT('c', 1, 10000000, &o->chunk),
    };
    parse_job_options(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), usage);
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
    printf("patterns: %d ranks, %g worker slots; %" PRId64 " tasks, unit %" PRId64
           " ms, %" PRId64 " items in chunks of %" PRId64 "\n",
           rayc_size(), res.cpu, o.tasks, o.unit_ms, o.items, o.chunk);

    table tb = {.nrows = 0};
    int wrong1 = experiment_get_in_loop(&o, &tb);
    int wrong2 = experiment_granularity(&o, &tb);
    int wrong3 = experiment_processing_order(&o, &tb);
    check(rayc_shutdown(), "rayc_shutdown");

    print_table(&tb);
    if (wrong1 + wrong2 + wrong3 > 0) {
        printf("patterns: FAILED: wrong results: %d in experiment 1, %d in 2, %d in 3\n", wrong1,
               wrong2, wrong3);
        return EXIT_FAILURE;
    }
    printf("patterns: OK\n");
    return EXIT_SUCCESS;
}
