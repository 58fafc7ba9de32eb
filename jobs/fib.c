/* fib.c: Fibonacci numbers computed serially and as distributed tasks, timed (seed 001).
 *
 * fib(k) uses the doubly recursive definition on purpose: it is pure CPU work whose cost grows
 * by about 1.6x per step of k and needs no memory, which makes the speed-up easy to read. The
 * job computes fib(k) for a list of k (task i gets kmax - i % 4, so durations vary), first in a
 * serial loop on the driver, then as one task per k, and prints both times and the speed-up.
 *
 *     ./fib                    # 32 tasks, k = 32..35
 *     mpirun -n 4 ./fib -n 64 -k 36
 *     sbatch jobs/fib.sbatch
 *
 * The speed-up depends on the worker slots and on what else the machine runs; the job checks
 * the values (against an iterative fib), not the timings. Prints "fib: OK" or exits 1. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <rayc.h>

#define JOB_NAME "fib"
#include "job_util.h"

#define MAX_K 45 /* fib(45) already takes seconds this way */

/* ------------------------------------------------------------------------------------------ */
/* Fibonacci                                                                                   */

/* The slow, doubly recursive fib: about 1.6^k calls. */
static int64_t fib_recursive(int64_t k)
{
    return k < 2 ? k : fib_recursive(k - 1) + fib_recursive(k - 2);
}

/* The fast loop, used only to check the answers. */
static int64_t fib_iterative(int64_t k)
{
    int64_t a = 0, b = 1;
    for (int64_t i = 0; i < k; i++) {
        int64_t next = a + b;
        a = b;
        b = next;
    }
    return a;
}

/* fib(k) -> the k-th Fibonacci number, computed the slow way. */
static int fib(rayc_task *t)
{
    int64_t k = rayc_arg_i64(t, 0);
    if (k < 0 || k > MAX_K)
        return rayc_task_fail(t, "k must be in [0, %d], got %" PRId64, MAX_K, k);
    return rayc_return_i64(t, 0, fib_recursive(k));
}
RAYC_REMOTE(fib, .num_args = 1, .arg_dtypes = "i64");

/* ------------------------------------------------------------------------------------------ */
/* Driver                                                                                      */

typedef struct options {
    int64_t tasks;
    int64_t kmax;
} options;

static void usage(FILE *f)
{
    fprintf(f, "usage: fib [-n tasks] [-k kmax]\n"
               "  -n  number of fib computations, one task each (default 32)\n"
               "  -k  largest k; task i computes fib(kmax - i %% 4) (default 35, 3..%d)\n",
            MAX_K);
}

/* Parse argv into o; on bad input print usage and end the job with status 2. */
static void parse_options(int argc, char **argv, options *o)
{
    *o = (options){.tasks = 32, .kmax = 35};
    const job_option opts[] = {
        JOB_INT('n', 1, 100000, &o->tasks),
        JOB_INT('k', 3, MAX_K, &o->kmax),
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
    int n = (int)o.tasks;

    rayc_resources res;
    check(rayc_cluster_resources(&res), "rayc_cluster_resources");
    printf("fib: %d computations of fib(%" PRId64 "..%" PRId64 ") on %d ranks, %g worker slots\n",
           n, o.kmax - (n < 4 ? n - 1 : 3), o.kmax, rayc_size(), res.cpu);

    int64_t *ks = calloc((size_t)n, sizeof *ks);
    int64_t *serial = calloc((size_t)n, sizeof *serial);
    int64_t *distributed = calloc((size_t)n, sizeof *distributed);
    rayc_ref *refs = calloc((size_t)n, sizeof *refs);
    if (ks == NULL || serial == NULL || distributed == NULL || refs == NULL)
        die("calloc", RAYC_ENOMEM);
    for (int i = 0; i < n; i++)
        ks[i] = o.kmax - i % 4;

    /* Serial: a plain loop on the driver. */
    double start = now_seconds();
    for (int i = 0; i < n; i++)
        serial[i] = fib_recursive(ks[i]);
    double t_serial = now_seconds() - start;

    /* Distributed: one task per k, all submitted before one batched get. */
    start = now_seconds();
    for (int i = 0; i < n; i++)
        check(rayc_submit(&refs[i], fib, RAYC_ARGS(rayc_i64(ks[i]))), "rayc_submit(fib)");
    check(rayc_get_i64(refs, n, distributed, RAYC_NO_TIMEOUT), "rayc_get_i64");
    double t_distributed = now_seconds() - start;
    check(rayc_release(refs, n), "rayc_release");

    int bad = 0;
    for (int i = 0; i < n && !bad; i++) {
        int64_t want = fib_iterative(ks[i]);
        if (serial[i] != want || distributed[i] != want) {
            printf("fib: FAILED: fib(%" PRId64 ") should be %" PRId64 ", serial gave %" PRId64
                   ", the task gave %" PRId64 "\n",
                   ks[i], want, serial[i], distributed[i]);
            bad = 1;
        }
    }
    free(ks);
    free(serial);
    free(distributed);
    free(refs);
    check(rayc_shutdown(), "rayc_shutdown");
    if (bad)
        return EXIT_FAILURE;

    printf("fib: serial      %8.3f s\n", t_serial);
    printf("fib: distributed %8.3f s\n", t_distributed);
    printf("fib: speed-up    %8.2fx\n", t_serial / t_distributed);
    printf("fib: OK\n");
    return EXIT_SUCCESS;
}
