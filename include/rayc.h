/* rayc.h: Ray-style task parallelism for C programs that run as MPI jobs.
 *
 * Mark a function remote with RAYC_REMOTE, submit it with rayc_submit() to get an object ref
 * (a future), and fetch the value with rayc_get(). Launch the same binary as a plain ./app (one
 * process, worker threads on every core it may use), with mpirun -n N, or with srun/sbatch.
 *
 * Rank 0 runs the user's main (the driver) and the control service; every rank runs worker
 * threads. rayc_init() does not return on ranks > 0: they serve tasks until the driver calls
 * rayc_shutdown(), then finalize and exit(0).
 *
 * Conventions: every function returns 0 or a negative RAYC_E* code (rayc/status.h) and leaves a
 * message for rayc_last_error(). "Driver" below means any thread of rank 0's process; "task"
 * means inside a task function, on any rank. All calls are thread-safe unless stated. */
#ifndef RAYC_H
#define RAYC_H

#include <stddef.h>
#include <stdint.h>

#include <rayc/export.h>
#include <rayc/status.h>
#include <rayc/value.h>
#include <rayc/version.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Object refs                                                                                 */

/* A reference to an object (a task's return value or a put). Plain data: copy it freely; the
 * fields are private and their meaning may change. An all-zero ref is "no ref" (RAYC_NULL_REF).
 * A ref stays usable until rayc_release(); a timed-out get leaves it usable. */
typedef struct rayc_ref {
    uint64_t private_a;
    uint64_t private_b;
} rayc_ref;

#define RAYC_NULL_REF ((rayc_ref){0, 0})
#define RAYC_NO_TIMEOUT (-1.0)

/* ------------------------------------------------------------------------------------------ */
/* Arguments and values to send                                                                */

enum rayc_arg_kind { RAYC_ARG_VALUE = 1, RAYC_ARG_REF = 2 };

/* Describes one argument (or a value to put or return). Build it with the helpers below; the
 * data it points to is borrowed and copied by the call that takes it, so it may be a stack
 * buffer. Fields are public only so that the helpers can be inline. */
typedef struct rayc_arg {
    int kind;          /* enum rayc_arg_kind */
    rayc_dtype dtype;  /* RAYC_ARG_VALUE */
    int ndim;          /* 0 for a scalar */
    int64_t shape[RAYC_MAX_NDIM];
    const void *data;  /* row-major elements; scalars point into .scalar */
    union {
        int64_t i64;
        uint64_t u64;
        double f64;
        unsigned char raw[16];
    } scalar;
    rayc_ref ref;      /* RAYC_ARG_REF */
} rayc_arg;

/* Scalars (0-d values). The returned struct owns the scalar; data is set by the taking call. */
RAYC_EXPORT rayc_arg rayc_i64(int64_t v);
RAYC_EXPORT rayc_arg rayc_i32(int32_t v);
RAYC_EXPORT rayc_arg rayc_u64(uint64_t v);
RAYC_EXPORT rayc_arg rayc_f64(double v);
RAYC_EXPORT rayc_arg rayc_f32(float v);
RAYC_EXPORT rayc_arg rayc_bool(int v);
/* A NUL-terminated string as a 1-d RAYC_BYTES value of strlen(s) bytes (no NUL stored). */
RAYC_EXPORT rayc_arg rayc_str(const char *s);
/* n raw bytes as a 1-d RAYC_BYTES value. */
RAYC_EXPORT rayc_arg rayc_bytes(const void *data, size_t n);
/* A row-major n-d array; shape has ndim extents (ndim <= RAYC_MAX_NDIM). */
RAYC_EXPORT rayc_arg rayc_array(rayc_dtype dtype, int ndim, const int64_t *shape,
                                const void *data);
/* A 1-d array of n elements. */
RAYC_EXPORT rayc_arg rayc_vec(rayc_dtype dtype, int64_t n, const void *data);
/* Pass an object by reference: the task waits until it exists and reads its value. */
RAYC_EXPORT rayc_arg rayc_refarg(rayc_ref ref);

/* RAYC_ARGS(a, b, ...) expands to "array, count" for the args/nargs parameters. */
#define RAYC_ARGS(...)                                                                             \
    ((const rayc_arg[]){__VA_ARGS__}),                                                             \
        ((int)(sizeof((const rayc_arg[]){__VA_ARGS__}) / sizeof(rayc_arg)))
#define RAYC_NO_ARGS NULL, 0

/* ------------------------------------------------------------------------------------------ */
/* Task options                                                                                */

enum rayc_strategy {
    RAYC_SCHED_DEFAULT = 0,       /* locality (argument bytes), then least loaded */
    RAYC_SCHED_SPREAD = 1,        /* round-robin over ranks that fit */
    RAYC_SCHED_NODE_AFFINITY = 2  /* affinity_rank; soft falls back to DEFAULT, hard waits */
};

#define RAYC_INHERIT (-1) /* numeric option: take the function's default */

/* Options of a remote function (RAYC_REMOTE) and per-call overrides (rayc_submit_ex).
 * In RAYC_REMOTE, unset fields take the defaults in RAYC_OPTS_DEFAULTS. For per-call overrides,
 * start from RAYC_OPTS_INHERIT and set what you change:
 *     rayc_opts o = RAYC_OPTS_INHERIT; o.num_gpus = 1; */
typedef struct rayc_opts {
    int num_returns;        /* >= 0; default 1 */
    double num_cpus;        /* default 1; may be 0 or fractional */
    double num_gpus;        /* default 0; whole GPUs are given as ids (rayc_task_gpu_ids) */
    double memory;          /* bytes, default 0 (not accounted) */
    const char *resources;  /* custom resources "name=qty,name=qty"; NULL: none */
    int max_retries;        /* retries after an application error; default 0 */
    int strategy;           /* enum rayc_strategy */
    int affinity_rank;      /* RAYC_SCHED_NODE_AFFINITY target */
    int affinity_soft;      /* nonzero: fall back to DEFAULT when the rank cannot run it */
    int num_args;           /* declared argument count, checked at submit; -1: unchecked */
    const char *arg_dtypes; /* declared dtypes "i64,f64,*" ('*' any), checked; NULL: unchecked */
    const char *name;       /* registered name (RAYC_REMOTE: default the C identifier) */
} rayc_opts;

#define RAYC_OPTS_DEFAULTS                                                                         \
    .num_returns = 1, .num_cpus = 1.0, .num_gpus = 0.0, .memory = 0.0, .resources = NULL,          \
    .max_retries = 0, .strategy = RAYC_SCHED_DEFAULT, .affinity_rank = -1, .affinity_soft = 0,     \
    .num_args = -1, .arg_dtypes = NULL, .name = NULL

#define RAYC_OPTS_INHERIT                                                                          \
    {.num_returns = RAYC_INHERIT, .num_cpus = RAYC_INHERIT, .num_gpus = RAYC_INHERIT,             \
     .memory = RAYC_INHERIT, .resources = NULL, .max_retries = RAYC_INHERIT,                      \
     .strategy = RAYC_INHERIT, .affinity_rank = RAYC_INHERIT, .affinity_soft = RAYC_INHERIT,      \
     .num_args = RAYC_INHERIT, .arg_dtypes = NULL, .name = NULL}

/* ------------------------------------------------------------------------------------------ */
/* Remote functions                                                                            */

/* Context of one task execution: arguments in, returns out. Valid only inside the call. */
typedef struct rayc_task rayc_task;

/* A remote function: return 0 on success, a negative code (or call rayc_task_fail) on failure. */
typedef int (*rayc_fn)(rayc_task *t);

/* Registration record made by RAYC_REMOTE. */
typedef struct rayc_remote_def {
    rayc_fn fn;
    const char *c_name;
    rayc_opts opts;
} rayc_remote_def;

/* Called by RAYC_REMOTE from a constructor before main; not for direct use. */
RAYC_EXPORT void rayc_register_remote(const rayc_remote_def *def);

/* RAYC_REMOTE(fn, .num_cpus = 2, ...) registers fn by name on every rank, at load time, with
 * default options. Write it at file scope after the function. Every rank of the job must
 * register the same set (rayc_init checks and names the first difference). */
#define RAYC_REMOTE(fn, ...)                                                                       \
    _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Woverride-init\"")           \
        static const rayc_remote_def rayc_remote_def_##fn = {                                      \
            fn, #fn, {RAYC_OPTS_DEFAULTS, __VA_ARGS__}};                                           \
    _Pragma("GCC diagnostic pop") __attribute__((constructor)) static void                         \
        rayc_remote_ctor_##fn(void)                                                                \
    {                                                                                              \
        rayc_register_remote(&rayc_remote_def_##fn);                                               \
    }                                                                                              \
    extern int rayc_remote_semicolon_##fn

/* ------------------------------------------------------------------------------------------ */
/* Life cycle                                                                                  */

/* Init options: opaque, create/destroy. Keys (string values, also read from the environment as
 * RAYC_<KEY upper-case>; an explicit option wins over the environment):
 *   num_cpus          worker slots of this rank (default: this rank's share of its cores)
 *   num_gpus          GPUs of this rank (default: from CUDA_VISIBLE_DEVICES / Slurm)
 *   memory            bytes of memory this rank offers to tasks (default: its share of RAM)
 *   resources         custom resources "name=qty,..."
 *   rank0_workers     "0" to run no tasks on rank 0 when there are other ranks (default "1")
 *   inline_threshold  values up to this many bytes travel inside control messages (102400)
 *   max_workers       cap on worker threads per rank, including ones started while others
 *                     block in get (default max(256, 16 * num_cpus)); at the cap a blocked
 *                     task runs queued tasks of its rank itself while it waits
 *   log_level         error|warn|info|debug (default warn)
 *   signals           "0": do not handle SIGTERM/SIGUSR1 (default "1")
 *   summary           "1": print the job summary at shutdown even without a stop signal
 *   store_bytes       object store capacity per rank: above spill_high_water of it, objects
 *                     spill to HDF5 (default 30% of the rank's share of memory)
 *   window_bytes      the part of the store in an MPI window, pulled one-sided by other
 *                     ranks (default 16 MiB, at most store_bytes); Open MPI commits this
 *                     memory at init (about 1 ms per MiB), larger objects live on the heap
 *                     and move two-sided
 *   spill_high_water  fraction of store_bytes above which objects spill to HDF5 (0.8)
 *   keep_spill        "1": keep the spill files at shutdown (default: removed) */
typedef struct rayc_config rayc_config;

RAYC_EXPORT int rayc_config_create(rayc_config **out);
/* Copy key and value. RAYC_EINVAL for an unknown key or a value that does not parse. */
RAYC_EXPORT int rayc_config_set(rayc_config *cfg, const char *key, const char *value);
/* NULL is harmless. */
RAYC_EXPORT void rayc_config_destroy(rayc_config *cfg);

/* Start the runtime on every rank (collective over MPI_COMM_WORLD). Initializes MPI with
 * MPI_THREAD_MULTIPLE unless the program already did (then it must have provided MULTIPLE).
 * argc/argv may be NULL; cfg may be NULL and is not kept (destroy it after the call).
 * Rank 0 returns 0 and continues as the driver. Ranks > 0 serve tasks and call exit(0) after
 * the driver's rayc_shutdown(); if init fails they return the error instead.
 * Errors: RAYC_ESTATE (already initialized), RAYC_EMISMATCH, RAYC_EMPI, RAYC_EINVAL (config). */
RAYC_EXPORT int rayc_init(int *argc, char ***argv, const rayc_config *cfg);

/* Wait for running tasks to end, stop every rank, release all objects and finalize MPI (if
 * rayc_init initialized it). Driver thread only, not from a task. Pending tasks are cancelled.
 * After shutdown every call returns RAYC_ESTATE; rayc_init cannot be called again. */
RAYC_EXPORT int rayc_shutdown(void);

/* 1 between a successful rayc_init and rayc_shutdown, else 0. */
RAYC_EXPORT int rayc_is_initialized(void);

/* This process's rank in MPI_COMM_WORLD and the number of ranks (after init). */
RAYC_EXPORT int rayc_rank(void);
RAYC_EXPORT int rayc_size(void);

/* ------------------------------------------------------------------------------------------ */
/* Walltime and signals                                                                        */

/* rayc_init installs handlers for SIGTERM and SIGUSR1 on every rank (unless the config key
 * "signals" is "0"): Slurm sends SIGTERM at the walltime and the signal of
 * "#SBATCH --signal=USR1@60" (without "B:") before it. On the first such signal on any rank
 * the job stops: undispatched tasks are cancelled (their gets return RAYC_ECANCELLED), new
 * submissions are refused with RAYC_ECANCELLED, running tasks finish, and the driver is told
 * through rayc_stop_requested() and the callback below. The driver then saves what it has
 * and calls rayc_shutdown(), which prints the job summary. */
typedef void (*rayc_stop_fn)(int signum, void *arg);

/* Call fn(signum, arg) once when the job is asked to stop. It runs on rank 0's progress
 * thread: keep it short and do not call blocking rayc functions from it (set a flag, log).
 * Driver only; fn NULL removes it. */
RAYC_EXPORT int rayc_on_stop(rayc_stop_fn fn, void *arg);

/* The signal number that asked the job to stop, or 0. Any thread of rank 0. */
RAYC_EXPORT int rayc_stop_requested(void);

/* ------------------------------------------------------------------------------------------ */
/* Tasks and objects (driver, or inside tasks on any rank)                                     */

/* Submit fn with args. Writes num_returns refs (the function's default) to out, which the caller
 * owns and releases with rayc_release. args and their data are copied before return.
 * Errors: RAYC_ENOFUNC, RAYC_EINVAL (arg count/dtype vs declaration, bad arg), RAYC_ERELEASED
 * (a ref argument was released), RAYC_EINFEASIBLE (no rank can ever run it), RAYC_ESTATE. */
RAYC_EXPORT int rayc_submit(rayc_ref *out, rayc_fn fn, const rayc_arg *args, int nargs);

/* As rayc_submit with per-call options (opts may be NULL). nout must equal the effective
 * num_returns. */
RAYC_EXPORT int rayc_submit_ex(rayc_ref *out, int nout, rayc_fn fn, const rayc_arg *args,
                               int nargs, const rayc_opts *opts);

/* As rayc_submit_ex, naming the function by its registered name. */
RAYC_EXPORT int rayc_submit_name(rayc_ref *out, int nout, const char *name,
                                 const rayc_arg *args, int nargs, const rayc_opts *opts);

/* Store a copy of value (a RAYC_ARG_VALUE) and return its ref in *out (caller owns it). */
RAYC_EXPORT int rayc_put(rayc_ref *out, rayc_arg value);

/* Wait until all n objects exist (or timeout seconds pass; RAYC_NO_TIMEOUT waits forever, 0
 * polls) and hand out read-only views: out[i] is owned by the caller, free each with
 * rayc_value_release. On error no views are handed out and out[] is set to NULL.
 * Errors: RAYC_ETIMEDOUT (refs stay usable), RAYC_ETASK (a task failed: rayc_last_error says
 * which function, where and why), RAYC_ERELEASED, RAYC_EINVAL. Inside a task, a blocked get
 * gives the task's CPUs back to its rank until it returns. */
RAYC_EXPORT int rayc_get(const rayc_ref *refs, int n, rayc_value **out, double timeout);

/* Convenience: get n scalar values converted to int64_t / double into out[]. */
RAYC_EXPORT int rayc_get_i64(const rayc_ref *refs, int n, int64_t *out, double timeout);
RAYC_EXPORT int rayc_get_f64(const rayc_ref *refs, int n, double *out, double timeout);

/* Wait until num_returns of the n refs are done (finished or failed) or timeout passes.
 * ready[] receives the done refs in completion order (*nready of them, at most num_returns),
 * pending[] the others in their input order (*npending). Either array may be NULL if its count
 * pointer is NULL too. A timeout is not an error: it returns 0 with fewer ready refs. */
RAYC_EXPORT int rayc_wait(const rayc_ref *refs, int n, int num_returns, double timeout,
                          rayc_ref *ready, int *nready, rayc_ref *pending, int *npending);

/* Drop the caller's references. An object is freed when no ref, pending task or running task
 * needs it. Using a released ref returns RAYC_ERELEASED. Releasing RAYC_NULL_REF is harmless. */
RAYC_EXPORT int rayc_release(const rayc_ref *refs, int n);

/* ------------------------------------------------------------------------------------------ */
/* Inside a task function                                                                      */

RAYC_EXPORT int rayc_task_nargs(const rayc_task *t);
/* Borrowed view of argument i, valid until the task function returns. RAYC_ERANGE. */
RAYC_EXPORT int rayc_task_arg(rayc_task *t, int i, const rayc_value **out);
/* Scalar argument readers. On a bad index or dtype they record the failure in the task (which
 * then fails with that message even if the function returns 0) and return 0. */
RAYC_EXPORT int64_t rayc_arg_i64(rayc_task *t, int i);
RAYC_EXPORT double rayc_arg_f64(rayc_task *t, int i);
/* Borrowed element data of argument i; *count (may be NULL) gets the element count. */
RAYC_EXPORT const void *rayc_arg_data(rayc_task *t, int i, rayc_dtype dtype, int64_t *count);

/* Set return value idx (0 <= idx < num_returns) to a copy of value. Unset returns are an
 * error when the function returns 0. RAYC_ERANGE, RAYC_EINVAL, RAYC_ENOMEM. */
RAYC_EXPORT int rayc_return(rayc_task *t, int idx, rayc_arg value);
RAYC_EXPORT int rayc_return_i64(rayc_task *t, int idx, int64_t v);
RAYC_EXPORT int rayc_return_f64(rayc_task *t, int idx, double v);
/* Allocate return idx in place and hand out its buffer (owned by rayc; fill it before the
 * function returns): no copy for large results. */
RAYC_EXPORT int rayc_return_alloc(rayc_task *t, int idx, rayc_dtype dtype, int ndim,
                                  const int64_t *shape, void **data);

/* Fail the task with a printf-style message; returns RAYC_ETASK so that
 * "return rayc_task_fail(t, ...);" reads naturally. */
RAYC_EXPORT int rayc_task_fail(rayc_task *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Where and what: rank running the task, registered function name, attempt (1-based). */
RAYC_EXPORT int rayc_task_rank(const rayc_task *t);
RAYC_EXPORT const char *rayc_task_name(const rayc_task *t);
RAYC_EXPORT int rayc_task_attempt(const rayc_task *t);
/* GPU ids assigned to this task (*n of them; NULL when none). Borrowed. */
RAYC_EXPORT const int *rayc_task_gpu_ids(const rayc_task *t, int *n);

/* ------------------------------------------------------------------------------------------ */
/* Cluster view (driver)                                                                       */

#define RAYC_MAX_CUSTOM 8
#define RAYC_NAME_MAX 32

typedef struct rayc_resources {
    double cpu;
    double gpu;
    double memory; /* bytes */
    int ncustom;
    struct {
        char name[RAYC_NAME_MAX];
        double qty;
    } custom[RAYC_MAX_CUSTOM];
} rayc_resources;

typedef struct rayc_node_info {
    int rank;
    int node_id;     /* ranks on the same host share it */
    int local_rank;  /* index among the ranks of its host */
    char host[64];
    int num_workers; /* worker threads started */
    rayc_resources total;
    rayc_resources available;
} rayc_node_info;

/* Fill up to max entries (one per rank) and set *n to the number of ranks. Driver only. */
RAYC_EXPORT int rayc_nodes(rayc_node_info *out, int max, int *n);
/* Sums over all ranks. Driver only. */
RAYC_EXPORT int rayc_cluster_resources(rayc_resources *out);
RAYC_EXPORT int rayc_available_resources(rayc_resources *out);

/* Task states, after Ray's. */
typedef enum rayc_task_state {
    RAYC_TASK_PENDING_ARGS_AVAIL = 0,     /* waiting for ref arguments */
    RAYC_TASK_PENDING_NODE_ASSIGNMENT = 1, /* ready, waiting for a rank with free resources */
    RAYC_TASK_SUBMITTED_TO_WORKER = 2,    /* sent to a rank, not started */
    RAYC_TASK_RUNNING = 3,
    RAYC_TASK_FINISHED = 4,
    RAYC_TASK_FAILED = 5
} rayc_task_state;

RAYC_EXPORT const char *rayc_task_state_name(rayc_task_state s);

typedef struct rayc_task_info {
    rayc_ref ref;      /* the task's first return (RAYC_NULL_REF when it has none) */
    char name[RAYC_NAME_MAX];
    rayc_task_state state;
    int rank;          /* where it was sent, -1 before */
    int attempt;
} rayc_task_info;

/* Object store statistics of one rank (rayc_store_stats). Ranks report changes to rank 0 at
 * most every 50 ms, so figures from other ranks may lag by that much. */
typedef struct rayc_store_info {
    int rank;
    uint64_t capacity;        /* bytes it may hold before spilling (RAYC_STORE_BYTES) */
    uint64_t window_bytes;    /* of which in its MPI window (RAYC_WINDOW_BYTES) */
    uint64_t used_bytes;      /* bytes of objects it holds in memory (window and heap) */
    uint64_t heap_bytes;      /* of which outside the window */
    uint64_t objects;         /* primary copies it holds (in memory or spilled) */
    uint64_t cached;          /* copies pulled from other ranks and kept */
    uint64_t spilled_objects, spilled_bytes;   /* written to its spill file so far */
    uint64_t restored_objects, restored_bytes; /* read back from it so far */
    uint64_t evicted;         /* cached copies dropped to make room */
    uint64_t pulled_bytes;    /* bytes it pulled from other ranks */
    uint64_t pulled_one_sided, pulled_two_sided; /* transfers by path */
    char spill_path[256];     /* its HDF5 spill file ("" before the first spill) */
} rayc_store_info;

/* Fill up to max entries (one per rank, in rank order) with the latest statistics and set *n
 * to the number of ranks. Driver only. */
RAYC_EXPORT int rayc_store_stats(rayc_store_info *out, int max, int *n);

/* State of the task that produces ref. Driver only. RAYC_ERELEASED. */
RAYC_EXPORT int rayc_task_state_of(rayc_ref ref, rayc_task_state *out);
/* Up to max tasks the control service still tracks, oldest first; *n gets the total. */
RAYC_EXPORT int rayc_list_tasks(rayc_task_info *out, int max, int *n);

#ifdef __cplusplus
}
#endif
#endif /* RAYC_H */
