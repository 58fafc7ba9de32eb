/* mpitest.h: tiny assertion helpers for the multi-rank test programs. Checks run on rank 0
 * (the driver); a failed check prints the location and rayc_last_error() and counts. The
 * program ends with "N passed, N failed" and exits nonzero on any failure. */
#ifndef RAYC_MPITEST_H
#define RAYC_MPITEST_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <rayc.h>

static int mt_pass, mt_fail;

#define MT_CHECK(cond)                                                                         \
    do {                                                                                       \
        if (cond) {                                                                            \
            mt_pass++;                                                                         \
        } else {                                                                               \
            mt_fail++;                                                                         \
            fprintf(stderr, "FAIL %s:%d: %s (last error: %s)\n", __FILE__, __LINE__, #cond,    \
                    rayc_last_error());                                                        \
        }                                                                                      \
    } while (0)

#define MT_OK(call) MT_CHECK((call) == 0)

static inline double mt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline int mt_finish(void)
{
    int rc = rayc_shutdown();
    if (rc != 0) {
        fprintf(stderr, "FAIL rayc_shutdown: %s\n", rayc_last_error());
        mt_fail++;
    }
    printf("%d passed, %d failed\n", mt_pass, mt_fail);
    return mt_fail ? 1 : 0;
}

#endif /* RAYC_MPITEST_H */
