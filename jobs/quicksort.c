/* quicksort.c: a recursive quicksort whose recursive calls are tasks (seed 002).
 *
 * quicksort(values, cutoff) sorts a 1-d i64 array. Below the cutoff it sorts locally with the C
 * library's qsort. Above it, it partitions around a pivot (three ways: less, equal, greater),
 * submits the "less" and "greater" parts as two new quicksort tasks, gets both sorted parts and
 * concatenates less + equal + greater into its return value. Tasks therefore wait for tasks
 * they submitted: rayc lends a blocked task's CPU to its rank, so the tree finishes even when
 * the whole job has a single worker thread (RAYC_NUM_CPUS=1 ./quicksort).
 *
 *     ./quicksort                    # 1,000,000 values, cutoff 50,000
 *     mpirun -n 4 ./quicksort -n 4000000 -c 100000
 *     sbatch jobs/quicksort.sbatch
 *
 * The driver checks the result against qsort of the same input (sorted, same multiset) and
 * prints "quicksort: OK ..." or exits 1. Moving the parts between tasks copies them, so this is
 * a demonstration of nested tasks rather than a fast sort. */
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

#define JOB_NAME "quicksort"
#include "job_util.h"

/* ------------------------------------------------------------------------------------------ */
/* Sorting pieces                                                                              */

static int compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void swap_i64(int64_t *v, int64_t i, int64_t j)
{
    int64_t tmp = v[i];
    v[i] = v[j];
    v[j] = tmp;
}

static int64_t median_of_three(int64_t a, int64_t b, int64_t c)
{
    if (a > b) {
        int64_t tmp = a;
        a = b;
        b = tmp;
    }
    /* now a <= b */
    return c < a ? a : (c > b ? b : c);
}

/* Three-way partition of v[0..n) around the median of its first, middle and last elements:
 * afterwards v[0..*lo) < pivot, v[*lo..*hi) == pivot, v[*hi..n) > pivot. The middle part holds
 * at least the pivot itself, so both outer parts are shorter than n. */
static void partition3(int64_t *v, int64_t n, int64_t *lo, int64_t *hi)
{
    int64_t pivot = median_of_three(v[0], v[n / 2], v[n - 1]);
    int64_t lt = 0, i = 0, gt = n;
    while (i < gt) {
        if (v[i] < pivot)
            swap_i64(v, lt++, i++);
        else if (v[i] > pivot)
            swap_i64(v, i, --gt);
        else
            i++;
    }
    *lo = lt;
    *hi = gt;
}

/* ------------------------------------------------------------------------------------------ */
/* The remote function                                                                         */

static int quicksort(rayc_task *t);

/* Sort the parts v[0..lo) and v[hi..n) with one quicksort task each and copy the sorted parts
 * back in place. Returns 0, or fails the task with the cause. */
static int sort_parts_as_tasks(rayc_task *t, int64_t *v, int64_t lo, int64_t hi, int64_t n,
                               int64_t cutoff)
{
    const int64_t offset[2] = {0, hi};
    const int64_t length[2] = {lo, n - hi};
    rayc_ref refs[2];
    int part_of_ref[2];
    int nrefs = 0, rc = RAYC_OK;
    char cause[256] = "";

    for (int p = 0; p < 2; p++) {
        if (length[p] == 0)
            continue; /* nothing to sort on this side */
        rc = rayc_submit(&refs[nrefs], quicksort,
                         RAYC_ARGS(rayc_vec(RAYC_I64, length[p], v + offset[p]),
                                   rayc_i64(cutoff)));
        if (rc != RAYC_OK) {
            snprintf(cause, sizeof cause, "rayc_submit: %s", rayc_last_error());
            goto release_refs;
        }
        part_of_ref[nrefs++] = p;
    }
    if (nrefs == 0)
        return RAYC_OK; /* every value equals the pivot: already sorted */

    /* Blocks until both halves are sorted; meanwhile this task's CPU serves other tasks. */
    rayc_value *sorted[2];
    rc = rayc_get(refs, nrefs, sorted, RAYC_NO_TIMEOUT);
    if (rc != RAYC_OK) {
        snprintf(cause, sizeof cause, "rayc_get: %s", rayc_last_error());
        goto release_refs;
    }
    for (int r = 0; r < nrefs; r++) {
        int p = part_of_ref[r];
        if (rayc_value_dtype(sorted[r]) == RAYC_I64 && rayc_value_count(sorted[r]) == length[p])
            memcpy(v + offset[p], rayc_value_data(sorted[r]), (size_t)length[p] * sizeof *v);
        else if (rc == RAYC_OK) {
            rc = RAYC_EDTYPE;
            snprintf(cause, sizeof cause, "a sub-sort returned the wrong number of values");
        }
        rayc_value_release(sorted[r]);
    }

release_refs:
    if (rayc_release(refs, nrefs) != RAYC_OK && rc == RAYC_OK) {
        rc = RAYC_EINTERNAL;
        snprintf(cause, sizeof cause, "rayc_release: %s", rayc_last_error());
    }
    return rc == RAYC_OK ? RAYC_OK : rayc_task_fail(t, "%s", cause);
}

/* quicksort(values: 1-d i64, cutoff) -> values sorted in ascending order. */
static int quicksort(rayc_task *t)
{
    int64_t n;
    const int64_t *in = rayc_arg_data(t, 0, RAYC_I64, &n);
    int64_t cutoff = rayc_arg_i64(t, 1);
    if (in == NULL || n < 1)
        return rayc_task_fail(t, "argument 0 must be a non-empty i64 array");
    if (cutoff < 1)
        return rayc_task_fail(t, "cutoff must be >= 1, got %" PRId64, cutoff);

    /* Work directly in the return buffer: copy the input, sort it there. */
    void *buffer;
    int rc = rayc_return_alloc(t, 0, RAYC_I64, 1, &n, &buffer);
    if (rc != RAYC_OK)
        return rc;
    int64_t *out = buffer;
    memcpy(out, in, (size_t)n * sizeof *out);

    if (n <= cutoff) {
        qsort(out, (size_t)n, sizeof *out, compare_i64);
        return RAYC_OK;
    }
    int64_t lo, hi;
    partition3(out, n, &lo, &hi);
    return sort_parts_as_tasks(t, out, lo, hi, n, cutoff);
}
RAYC_REMOTE(quicksort, .num_args = 2, .arg_dtypes = "i64,i64");

/* ------------------------------------------------------------------------------------------ */
/* Driver                                                                                      */

typedef struct options {
    int64_t n;
    int64_t cutoff;
    int64_t seed;
} options;

static void usage(FILE *f)
{
    fprintf(f, "usage: quicksort [-n values] [-c cutoff] [-s seed]\n"
               "  -n  number of values to sort (default 1000000)\n"
               "  -c  parts up to this size are sorted inside one task (default 50000)\n"
               "  -s  seed of the generated values (default 2)\n");
}

/* Parse argv into o; on bad input print usage and end the job with status 2. */
static void parse_options(int argc, char **argv, options *o)
{
    *o = (options){.n = 1000000, .cutoff = 50000, .seed = 2};
    const job_option opts[] = {
        JOB_INT('n', 1, INT64_C(1) << 30, &o->n),
        JOB_INT('c', 1, INT64_MAX, &o->cutoff),
        JOB_INT('s', 0, INT64_MAX, &o->seed),
    };
    parse_job_options(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), usage);
}

/* Compare got[0..n) with the reference sort; print what is wrong and return -1, or return 0. */
static int verify(const int64_t *got, const int64_t *reference, int64_t n)
{
    for (int64_t i = 1; i < n; i++)
        if (got[i - 1] > got[i]) {
            printf("quicksort: FAILED: not sorted: value %" PRId64 " at index %" PRId64
                   " is greater than the next, %" PRId64 "\n",
                   got[i - 1], i - 1, got[i]);
            return -1;
        }
    /* Both sorted: equal element by element exactly when they hold the same multiset. */
    for (int64_t i = 0; i < n; i++)
        if (got[i] != reference[i]) {
            printf("quicksort: FAILED: sorted, but not the input's values: index %" PRId64
                   " holds %" PRId64 ", expected %" PRId64 "\n",
                   i, got[i], reference[i]);
            return -1;
        }
    return 0;
}

int main(int argc, char **argv)
{
    /* Ranks > 0 serve tasks inside rayc_init and exit there; only the driver continues. */
    int rc = rayc_init(&argc, &argv, NULL);
    if (rc != RAYC_OK)
        die("rayc_init", rc);

    options o;
    parse_options(argc, argv, &o);
    printf("quicksort: %" PRId64 " values, cutoff %" PRId64 ", on %d ranks\n", o.n, o.cutoff,
           rayc_size());

    /* Values in [-1e6, 1e6]: negative numbers and, for large n, many duplicates. */
    int64_t *values = malloc((size_t)o.n * sizeof *values);
    int64_t *reference = malloc((size_t)o.n * sizeof *reference);
    if (values == NULL || reference == NULL)
        die("malloc", RAYC_ENOMEM);
    uint64_t state = (uint64_t)o.seed;
    for (int64_t i = 0; i < o.n; i++)
        values[i] = (int64_t)(splitmix64_next(&state) % 2000001) - 1000000;

    /* The whole sort is one task call; the tree of tasks unfolds from there. */
    double start = now_seconds();
    rayc_ref sorted_ref;
    check(rayc_submit(&sorted_ref, quicksort,
                      RAYC_ARGS(rayc_vec(RAYC_I64, o.n, values), rayc_i64(o.cutoff))),
          "rayc_submit(quicksort)");
    rayc_value *sorted;
    check(rayc_get(&sorted_ref, 1, &sorted, RAYC_NO_TIMEOUT), "rayc_get");
    double t_tasks = now_seconds() - start;

    start = now_seconds();
    memcpy(reference, values, (size_t)o.n * sizeof *reference);
    qsort(reference, (size_t)o.n, sizeof *reference, compare_i64);
    double t_serial = now_seconds() - start;

    int ok = rayc_value_dtype(sorted) == RAYC_I64 && rayc_value_count(sorted) == o.n;
    if (!ok)
        printf("quicksort: FAILED: expected %" PRId64 " i64 values, got %" PRId64 " %s\n", o.n,
               rayc_value_count(sorted), rayc_dtype_name(rayc_value_dtype(sorted)));
    else
        ok = verify(rayc_value_data(sorted), reference, o.n) == 0;

    rayc_value_release(sorted);
    check(rayc_release(&sorted_ref, 1), "rayc_release");
    free(values);
    free(reference);
    check(rayc_shutdown(), "rayc_shutdown");
    if (!ok)
        return EXIT_FAILURE;

    printf("quicksort: nested tasks %.3f s, serial qsort %.3f s\n", t_tasks, t_serial);
    printf("quicksort: OK %" PRId64 " values sorted\n", o.n);
    return EXIT_SUCCESS;
}
