/* rayc_perf.h: what rayc_perf.c (the rayc metrics, output, main) and perf_baselines.c (the
 * baselines measured before rayc_init, and the init children) share. Not installed. */
#ifndef RAYC_PERF_H
#define RAYC_PERF_H

#include <stddef.h>
#include <stdint.h>

#include <mpi.h>

#define MIB ((size_t)1 << 20)
#define MAX_ROUNDS 1000
#define MAX_CONFIG 32

typedef struct options {
    int rounds, quick, json, quiet, list;
    int init_only, mpi_only, no_baselines;
    int queued_tasks; /* --queued-tasks (0: the default size) */
    const char *only;
    double timeout;  /* watchdog for the whole run, seconds */
    const char *config[MAX_CONFIG]; /* --config key=value, for rayc_init */
    int nconfig;
} options;

typedef struct sizes {
    int sync_iters;      /* sync round trips per round */
    int async_tasks;     /* tasks per async round */
    int multi_per_client;
    int put_calls, get_calls, pair_calls;
    size_t put_bytes;    /* single_client_put_gigabytes array */
    int put_per_round;
    int batches;         /* tasks_and_get_batch: batches of 1000 per round */
    int wait_ops;        /* wait_1k_refs: ops per round */
    size_t big_bytes;    /* cross-rank get, memcpy, MPI_Get, H5Dwrite */
    double sleep_target; /* greedy ideal makespan of the sleep table, seconds */
    int fanouts;         /* fan-out + reduce per round */
    int queued_tasks;    /* queued_task_bytes */
    int pingpong_iters;
    int serial_iters;
    int malloc_iters;
    int init_rounds;
    double get_timeout;  /* every rayc_get / rayc_wait */
} sizes;

typedef struct figure {
    char name[48];
    const char *unit;
    const char *group; /* the name --only selects (metrics) */
    int base;          /* baseline index, -1 for none */
    int have;          /* measured (else n/a) */
    double med, min, max;
    int rounds;
    char note[320];
} figure;

enum {
    B_PP_RTT,       /* 8-byte round trip: MPI between ranks 0 and 1, or two threads */
    B_PP_RATE,      /* its inverse, round trips/s */
    B_MPI_GET,      /* MPI_Get of big_bytes from rank 1 */
    B_MEMCPY,       /* memcpy of big_bytes */
    B_SERIAL,       /* direct calls of the no-op body */
    B_SERIAL_1K,    /* the same in batches of 1000 */
    B_SERIAL_FAN,   /* 1001 direct calls, ms */
    B_MALLOC,       /* malloc + 8-byte memcpy + free */
    B_H5,           /* H5Dwrite of big_bytes */
    B_MPI_INIT,     /* MPI_Init_thread + MPI_Finalize of a one-rank child */
    B_IDEAL,        /* greedy schedule of the sleep table (simulated) */
    B_MEM_TARGET,   /* the budget: 10M queued tasks in 2 GiB */
    NB
};

enum {
    M_SYNC, M_SYNC_RTT, M_SYNC_XRANK, M_ASYNC, M_MULTI, M_PUT, M_GET, M_PAIR, M_PUT_GB, M_BATCH, M_WAIT,
    M_GET64, M_SLEEP, M_FANOUT, M_INIT, M_SPILL, M_QMEM, NM
};

extern options O;
extern sizes S;
extern int g_rank, g_size;
extern figure B[NB];
extern figure M[NM];
extern int want_metric[NM];

double now(void);
void sleep_seconds(double s);
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void *xmalloc(size_t n);
void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fig_init(figure *f, const char *name, const char *unit, const char *group, int base);
void fig_set(figure *f, const double *v, int n);
double median_of(const double *v, int n);
void fig_inverse(figure *f, const figure *g, double k);
void fig_note(figure *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The no-op task's body; the serial baseline calls it directly. */
int64_t noop_body(int64_t x);

/* perf_baselines.c */
int need_base(int b);
/* Every baseline the selected metrics need, all ranks taking part (before rayc_init). */
void run_baselines(void);

#define MPI_CHECK(call)                                                                        \
    do {                                                                                       \
        int rc_ = (call);                                                                      \
        if (rc_ != MPI_SUCCESS)                                                                \
            die("%s:%d: %s failed (%d)", __FILE__, __LINE__, #call, rc_);                      \
    } while (0)

#endif /* RAYC_PERF_H */
