/* t_pollers.c: a rank with more workers than cores: short round trips stay short (one idle
 * worker polls for work, the others sleep, so the threads doing the work keep the cores);
 * checked on one rank, where every task runs on rank 0's six workers. */
#include <stdlib.h>

#include "mpitest.h"

static int add(rayc_task *t)
{
    return rayc_return_i64(t, 0, rayc_arg_i64(t, 0) + rayc_arg_i64(t, 1));
}
RAYC_REMOTE(add, .arg_dtypes = "i64,i64");

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    rayc_config *cfg = NULL;
    if (rayc_config_create(&cfg) != 0 || rayc_config_set(cfg, "num_cpus", "6") != 0 ||
        rayc_init(&argc, &argv, cfg) != 0) {
        fprintf(stderr, "rayc_init: %s\n", rayc_last_error());
        return 1;
    }
    rayc_config_destroy(cfg);
    enum { N = 3000 };
    static double dt[N];
    int bad = 0;
    for (int i = 0; i < N; i++) {
        rayc_ref r;
        int64_t v = -1;
        double t0 = mt_now();
        bad += rayc_submit(&r, add, RAYC_ARGS(rayc_i64(i), rayc_i64(1))) != 0;
        bad += rayc_get_i64(&r, 1, &v, 30.0) != 0 || v != i + 1;
        bad += rayc_release(&r, 1) != 0;
        dt[i] = mt_now() - t0;
    }
    MT_CHECK(bad == 0);
    qsort(dt, N, sizeof *dt, cmp_double);
    rayc_node_info ni[64];
    int nranks = 0;
    MT_OK(rayc_nodes(ni, 64, &nranks));
    printf("median round trip %.1f us on %d rank(s), 6 worker slots on rank 0\n", dt[N / 2] * 1e6,
           nranks);
    /* A round trip is a few microseconds when the driver and the worker running the task
     * have cores; 7 polling threads on 2 cores made it wait for time slices (tens of us). */
    if (nranks == 1)
        MT_CHECK(dt[N / 2] < 25e-6);
    return mt_finish();
}
