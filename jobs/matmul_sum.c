/* matmul_sum.c: n_runs naive matrix multiplications as tasks, their sums added up (seed 000).
 *
 * expensive_computation(n, seed) builds two n x n matrices whose contents depend only on seed,
 * multiplies them with the textbook triple loop and returns the sum of the product's entries.
 * The driver submits n_runs of them (seeds seed, seed + 1, ...), fetches all results with one
 * batched rayc_get, adds them up, then does the same computation serially and compares.
 *
 *     ./matmul_sum                  # 10 runs of 300 x 300
 *     mpirun -n 4 ./matmul_sum -r 40 -n 400
 *     sbatch jobs/matmul_sum.sbatch
 *
 * Prints "matmul_sum: OK total=<v>" or exits 1. */
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

#define JOB_NAME "matmul_sum"
#include "job_util.h"

/* ------------------------------------------------------------------------------------------ */
/* The computation, shared by the task and the serial check                                    */

/* Fill the n x n row-major matrix m with values in [0, 1) drawn from the stream at state. */
static void fill_matrix(double *m, int64_t n, uint64_t state)
{
    for (int64_t i = 0; i < n * n; i++)
        m[i] = (double)(splitmix64_next(&state) >> 11) * 0x1.0p-53;
}

/* Multiply the matrices made from seed (A from stream 2 * seed, B from 2 * seed + 1) and store
 * the sum of all entries of A * B in *sum. Returns 0, or -1 when out of memory. */
static int product_sum(int64_t n, int64_t seed, double *sum)
{
    size_t nn = (size_t)(n * n);
    double *a = malloc(nn * sizeof *a);
    double *b = malloc(nn * sizeof *b);
    double *c = calloc(nn, sizeof *c);
    int rc = -1;
    if (a == NULL || b == NULL || c == NULL)
        goto free_matrices;

    fill_matrix(a, n, 2 * (uint64_t)seed);
    fill_matrix(b, n, 2 * (uint64_t)seed + 1);

    /* C = A * B, the naive O(n^3) way. The i-k-j loop order walks B and C row by row, which is
     * kinder to the cache than i-j-k and does exactly the same arithmetic per entry. */
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < n; k++) {
            double aik = a[i * n + k];
            for (int64_t j = 0; j < n; j++)
                c[i * n + j] += aik * b[k * n + j];
        }

    double s = 0.0;
    for (size_t i = 0; i < nn; i++)
        s += c[i];
    *sum = s;
    rc = 0;

free_matrices:
    free(a);
    free(b);
    free(c);
    return rc;
}

#define MAX_N 4096

/* ------------------------------------------------------------------------------------------ */
/* The remote function                                                                         */

/* expensive_computation(n, seed) -> sum of the entries of the product of two n x n matrices. */
static int expensive_computation(rayc_task *t)
{
    int64_t n = rayc_arg_i64(t, 0);
    int64_t seed = rayc_arg_i64(t, 1);
    if (n < 1 || n > MAX_N)
        return rayc_task_fail(t, "n must be in [1, %d], got %" PRId64, MAX_N, n);

    double sum;
    if (product_sum(n, seed, &sum) != 0)
        return rayc_task_fail(t, "out of memory for three %" PRId64 " x %" PRId64 " matrices", n,
                              n);
    return rayc_return_f64(t, 0, sum);
}
RAYC_REMOTE(expensive_computation, .num_args = 2, .arg_dtypes = "i64,i64");

/* ------------------------------------------------------------------------------------------ */
/* Driver                                                                                      */

typedef struct options {
    int64_t runs;
    int64_t n;
    int64_t seed;
} options;

static void usage(FILE *f)
{
    fprintf(f, "usage: matmul_sum [-r n_runs] [-n size] [-s seed]\n"
               "  -r  number of multiplications, one task each (default 10)\n"
               "  -n  matrix size n of the n x n matrices (default 300, at most %d)\n"
               "  -s  seed of the first run; run i uses seed + i (default 0)\n",
            MAX_N);
}

/* Parse argv into o; on bad input print usage and end the job with status 2. */
static void parse_options(int argc, char **argv, options *o)
{
    *o = (options){.runs = 10, .n = 300, .seed = 0};
    const job_option opts[] = {
        JOB_INT('r', 1, 100000, &o->runs),
        JOB_INT('n', 1, MAX_N, &o->n),
        JOB_INT('s', 0, INT64_MAX / 4, &o->seed),
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
    printf("matmul_sum: %" PRId64 " runs of %" PRId64 " x %" PRId64 " on %d ranks\n", o.runs, o.n,
           o.n, rayc_size());

    int runs = (int)o.runs;
    rayc_ref *refs = calloc((size_t)runs, sizeof *refs);
    double *sums = calloc((size_t)runs, sizeof *sums);
    if (refs == NULL || sums == NULL)
        die("calloc", RAYC_ENOMEM);

    /* Distributed: submit every run, then fetch all results with one batched get. */
    double start = now_seconds();
    for (int i = 0; i < runs; i++)
        check(rayc_submit(&refs[i], expensive_computation,
                          RAYC_ARGS(rayc_i64(o.n), rayc_i64(o.seed + i))),
              "rayc_submit(expensive_computation)");
    check(rayc_get_f64(refs, runs, sums, RAYC_NO_TIMEOUT), "rayc_get_f64");
    check(rayc_release(refs, runs), "rayc_release");
    double total = 0.0;
    for (int i = 0; i < runs; i++)
        total += sums[i];
    double t_distributed = now_seconds() - start;

    /* Serial: the same runs in this thread, added in the same order. */
    start = now_seconds();
    double serial = 0.0;
    for (int i = 0; i < runs; i++) {
        double s;
        if (product_sum(o.n, o.seed + i, &s) != 0)
            die("serial check: out of memory", RAYC_ENOMEM);
        serial += s;
    }
    double t_serial = now_seconds() - start;

    free(refs);
    free(sums);
    check(rayc_shutdown(), "rayc_shutdown");

    printf("matmul_sum: distributed %.3f s, serial %.3f s, speed-up %.2fx\n", t_distributed,
           t_serial, t_serial / t_distributed);
    /* Same code, same inputs, same order of additions: the totals should agree to the last bit;
     * allow rounding noise anyway in case a rank was built with other floating-point flags. */
    if (fabs(total - serial) > 1e-12 * fabs(serial)) {
        printf("matmul_sum: FAILED: total=%.17g but the serial computation gives %.17g\n", total,
               serial);
        return EXIT_FAILURE;
    }
    printf("matmul_sum: OK total=%.10g\n", total);
    return EXIT_SUCCESS;
}
