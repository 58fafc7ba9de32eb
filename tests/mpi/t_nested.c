/* t_nested.c: nested tasks: a recursive quicksort whose tasks submit and get sub-sorts, run
 * with ONE worker thread per rank (a blocked get gives the CPU back), puts and refs made
 * inside tasks, and the seed-000 sum of naive matrix multiplications. */
#include <stdint.h>
#include <string.h>

#include <mpi.h>

#include "mpitest.h"

#define CUTOFF 64

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int qsort_task(rayc_task *t);
RAYC_REMOTE(qsort_task);

/* Sort arg 0 (an i64 vector): partition, sort both sides as tasks, concatenate. */
static int qsort_task(rayc_task *t)
{
    int64_t n = 0;
    const int64_t *x = rayc_arg_data(t, 0, RAYC_I64, &n);
    if (!x)
        return RAYC_EDTYPE;
    int64_t *out;
    int rc = rayc_return_alloc(t, 0, RAYC_I64, 1, &n, (void **)&out);
    if (rc)
        return rc;
    memcpy(out, x, (size_t)n * sizeof *out);
    if (n <= CUTOFF) {
        qsort(out, (size_t)n, sizeof *out, cmp_i64);
        return 0;
    }
    int64_t pivot = x[n / 2], nl = 0, ne = 0, ng = 0;
    int64_t *lo = malloc((size_t)n * sizeof *lo), *hi = malloc((size_t)n * sizeof *hi);
    for (int64_t i = 0; i < n; i++) {
        if (x[i] < pivot)
            lo[nl++] = x[i];
        else if (x[i] > pivot)
            hi[ng++] = x[i];
        else
            ne++;
    }
    rayc_ref parts[2];
    rc = rayc_submit(&parts[0], qsort_task, RAYC_ARGS(rayc_vec(RAYC_I64, nl, lo)));
    if (!rc)
        rc = rayc_submit(&parts[1], qsort_task, RAYC_ARGS(rayc_vec(RAYC_I64, ng, hi)));
    free(lo);
    free(hi);
    rayc_value *v[2] = {NULL, NULL};
    if (!rc)
        rc = rayc_get(parts, 2, v, RAYC_NO_TIMEOUT);
    if (rc)
        return rc;
    memcpy(out, rayc_value_data(v[0]), (size_t)nl * sizeof *out);
    for (int64_t i = 0; i < ne; i++)
        out[nl + i] = pivot;
    memcpy(out + nl + ne, rayc_value_data(v[1]), (size_t)ng * sizeof *out);
    rayc_value_release(v[0]);
    rayc_value_release(v[1]);
    return rayc_release(parts, 2);
}

/* A task that puts a value and passes the ref on to a child task. */
static int child_sum(rayc_task *t)
{
    int64_t n = 0;
    const int64_t *x = rayc_arg_data(t, 0, RAYC_I64, &n);
    int64_t s = 0;
    for (int64_t i = 0; x && i < n; i++)
        s += x[i];
    return rayc_return_i64(t, 0, s);
}
RAYC_REMOTE(child_sum);

static int parent_put(rayc_task *t)
{
    int64_t n = rayc_arg_i64(t, 0);
    int64_t *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++)
        x[i] = i;
    rayc_ref p, c;
    int rc = rayc_put(&p, rayc_vec(RAYC_I64, n, x));
    free(x);
    if (!rc)
        rc = rayc_submit(&c, child_sum, RAYC_ARGS(rayc_refarg(p)));
    int64_t s = 0;
    if (!rc)
        rc = rayc_get_i64(&c, 1, &s, RAYC_NO_TIMEOUT);
    if (rc)
        return rc;
    /* p and c are released automatically when this task ends */
    return rayc_return_i64(t, 0, s);
}
RAYC_REMOTE(parent_put);

/* seed 000: naive n x n matrix multiplication of generated matrices; returns the sum. */
static int expensive_computation(rayc_task *t)
{
    int64_t n = rayc_arg_i64(t, 0), seed = rayc_arg_i64(t, 1);
    double *a = malloc((size_t)(n * n) * sizeof *a), *b = malloc((size_t)(n * n) * sizeof *b);
    for (int64_t i = 0; i < n * n; i++) {
        a[i] = (double)((i * 7 + seed) % 13) / 13.0;
        b[i] = (double)((i * 5 + seed * 3) % 11) / 11.0;
    }
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double c = 0;
            for (int64_t k = 0; k < n; k++)
                c += a[i * n + k] * b[k * n + j];
            s += c;
        }
    free(a);
    free(b);
    return rayc_return_f64(t, 0, s);
}
RAYC_REMOTE(expensive_computation);

static void test_quicksort(void)
{
    enum { N = 20000 };
    int64_t *x = malloc(N * sizeof *x), *want = malloc(N * sizeof *want);
    uint64_t s = 88172645463325252ull;
    for (int i = 0; i < N; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = want[i] = (int64_t)(s % 100000);
    }
    qsort(want, N, sizeof *want, cmp_i64);
    rayc_ref r;
    rayc_value *v = NULL;
    MT_OK(rayc_submit(&r, qsort_task, RAYC_ARGS(rayc_vec(RAYC_I64, N, x))));
    MT_OK(rayc_get(&r, 1, &v, 120.0));
    MT_CHECK(v && rayc_value_count(v) == N);
    MT_CHECK(v && memcmp(rayc_value_data(v), want, N * sizeof *want) == 0);
    rayc_value_release(v);
    MT_OK(rayc_release(&r, 1));
    free(x);
    free(want);
}

static void test_put_in_task(void)
{
    rayc_ref r[3];
    int64_t n[3] = {10, 20000, 40000}, v[3];
    for (int i = 0; i < 3; i++)
        MT_OK(rayc_submit(&r[i], parent_put, RAYC_ARGS(rayc_i64(n[i]))));
    MT_OK(rayc_get_i64(r, 3, v, 60.0));
    for (int i = 0; i < 3; i++)
        MT_CHECK(v[i] == n[i] * (n[i] - 1) / 2);
    MT_OK(rayc_release(r, 3));
}

static void test_matmul_sum(void)
{
    enum { RUNS = 10, NDIM = 60 };
    rayc_ref r[RUNS];
    double got[RUNS], total = 0, want = 0;
    for (int i = 0; i < RUNS; i++)
        MT_OK(rayc_submit(&r[i], expensive_computation, RAYC_ARGS(rayc_i64(NDIM), rayc_i64(i))));
    MT_OK(rayc_get_f64(r, RUNS, got, 60.0));
    for (int i = 0; i < RUNS; i++)
        total += got[i];
    /* the same sums computed serially, through the same code path run locally */
    for (int i = 0; i < RUNS; i++) {
        rayc_ref one;
        double g = 0;
        rayc_opts o = RAYC_OPTS_INHERIT;
        o.strategy = RAYC_SCHED_NODE_AFFINITY;
        o.affinity_rank = 0;
        MT_OK(rayc_submit_ex(&one, 1, expensive_computation,
                             RAYC_ARGS(rayc_i64(NDIM), rayc_i64(i)), &o));
        MT_OK(rayc_get_f64(&one, 1, &g, 60.0));
        want += g;
        MT_OK(rayc_release(&one, 1));
    }
    MT_CHECK(total == want && total > 0);
    MT_OK(rayc_release(r, RUNS));
}

int main(int argc, char **argv)
{
    /* One worker thread per rank: nested gets must give their CPU back. */
    rayc_config *cfg = NULL;
    if (rayc_config_create(&cfg) || rayc_config_set(cfg, "num_cpus", "1")) {
        fprintf(stderr, "config: %s\n", rayc_last_error());
        return 1;
    }
    if (rayc_init(&argc, &argv, cfg) != 0) {
        fprintf(stderr, "rayc_init: %s\n", rayc_last_error());
        return 1;
    }
    rayc_config_destroy(cfg);
    test_quicksort();
    test_put_in_task();
    test_matmul_sum();
    return mt_finish();
}
