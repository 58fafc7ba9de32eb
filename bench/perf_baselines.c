/* perf_baselines.c: rayc-perf's baselines, measured in the same run as the rayc figures and
 * before rayc_init (ranks > 0 never return from it), with every rank taking part: 8-byte
 * ping-pong (MPI between ranks 0 and 1, or two threads when alone), MPI_Get from an
 * MPI_Win_allocate window, memcpy, a serial loop calling the no-op body, malloc, H5Dwrite, and
 * the one-rank children that time bare MPI init and rayc init + shutdown. Ranks that take no
 * part wait in a barrier that sleeps between polls, so they burn no core while rank 0 measures.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hdf5.h>
#include <mpi.h>

#include "rayc_perf.h"

extern char **environ;

/* A barrier whose waiters sleep between polls (no core burnt while rank 0 measures). */
static void quiet_barrier(MPI_Comm comm)
{
    MPI_Request req;
    int done = 0;
    MPI_CHECK(MPI_Ibarrier(comm, &req));
    while (!done) {
        MPI_CHECK(MPI_Test(&req, &done, MPI_STATUS_IGNORE));
        if (!done)
            sleep_seconds(100e-6);
    }
}

int need_base(int b)
{
    if (O.no_baselines && b != B_IDEAL)
        return 0;
    for (int m = 0; m < NM; m++)
        if (want_metric[m] && M[m].base == b)
            return 1;
    return 0;
}

/* 8-byte MPI ping-pong between ranks 0 and 1 (comm holds just those two). */
static void base_mpi_pingpong(MPI_Comm comm)
{
    int n = S.pingpong_iters, R = O.rounds;
    char buf[8] = {0};
    double rtt[MAX_ROUNDS] = {0};
    for (int r = -1; r < R; r++) {
        MPI_CHECK(MPI_Barrier(comm));
        double t0 = now();
        for (int i = 0; i < n; i++) {
            if (g_rank == 0) {
                MPI_CHECK(MPI_Send(buf, 8, MPI_BYTE, 1, 7, comm));
                MPI_CHECK(MPI_Recv(buf, 8, MPI_BYTE, 1, 7, comm, MPI_STATUS_IGNORE));
            } else {
                MPI_CHECK(MPI_Recv(buf, 8, MPI_BYTE, 0, 7, comm, MPI_STATUS_IGNORE));
                MPI_CHECK(MPI_Send(buf, 8, MPI_BYTE, 0, 7, comm));
            }
        }
        if (r >= 0)
            rtt[r] = (now() - t0) / n * 1e6;
    }
    if (g_rank == 0) {
        fig_set(&B[B_PP_RTT], rtt, R);
        fig_note(&B[B_PP_RTT], "MPI_Send/MPI_Recv ranks 0<->1 on a duplicated communicator, "
                               "before rayc_init");
    }
}

/* Two threads handing a token back and forth: spinning (the floor), and with a condition
 * variable (a blocking hand-off). The spin figure is the baseline when there is one rank. */
typedef struct tpp {
    atomic_int turn;
    int n;
    int use_cv;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} tpp;

static void tpp_wait_for(tpp *p, int want)
{
    if (p->use_cv) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->turn) != want)
            pthread_cond_wait(&p->cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
        return;
    }
    for (unsigned spins = 0; atomic_load_explicit(&p->turn, memory_order_acquire) != want;)
        if (++spins % 1024 == 0)
            sched_yield();
}

static void tpp_give(tpp *p, int to)
{
    if (p->use_cv) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->turn, to);
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        return;
    }
    atomic_store_explicit(&p->turn, to, memory_order_release);
}

static void *tpp_peer(void *arg)
{
    tpp *p = arg;
    for (int i = 0; i < p->n; i++) {
        tpp_wait_for(p, 1);
        tpp_give(p, 0);
    }
    return NULL;
}

static double thread_pingpong_us(int use_cv, int n)
{
    tpp p;
    atomic_init(&p.turn, 0);
    p.n = n;
    p.use_cv = use_cv;
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    pthread_t th;
    if (pthread_create(&th, NULL, tpp_peer, &p) != 0)
        die("cannot start a thread");
    double t0 = now();
    for (int i = 0; i < n; i++) {
        tpp_give(&p, 1);
        tpp_wait_for(&p, 0);
    }
    double dt = now() - t0;
    pthread_join(th, NULL);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
    return dt / n * 1e6;
}

static void base_thread_pingpong(void)
{
    int R = O.rounds, n = S.pingpong_iters;
    double spin[MAX_ROUNDS] = {0}, cv[MAX_ROUNDS] = {0};
    thread_pingpong_us(0, n / 10 + 1);
    for (int r = 0; r < R; r++) {
        spin[r] = thread_pingpong_us(0, n);
        cv[r] = thread_pingpong_us(1, n / 4 + 1);
    }
    snprintf(B[B_PP_RTT].name, sizeof B[B_PP_RTT].name, "thread_pingpong_rtt");
    snprintf(B[B_PP_RATE].name, sizeof B[B_PP_RATE].name, "thread_pingpong_rate");
    fig_set(&B[B_PP_RTT], spin, R);
    fig_note(&B[B_PP_RTT], "one rank: two threads spinning on an atomic; with a mutex + "
                           "condition variable %.2f us", median_of(cv, R));
}

/* MPI_Get of big_bytes from an MPI_Win_allocate window on rank 1 (lock / get / unlock). */
static void base_mpi_get(MPI_Comm comm)
{
    int R = O.rounds;
    size_t n = S.big_bytes;
    void *base = NULL;
    MPI_Win win;
    MPI_Aint wsize = g_rank == 1 ? (MPI_Aint)n : 0;
    MPI_CHECK(MPI_Win_allocate(wsize, 1, MPI_INFO_NULL, comm, &base, &win));
    if (g_rank == 1)
        memset(base, 0x33, n);
    MPI_CHECK(MPI_Barrier(comm));
    if (g_rank == 0) {
        unsigned char *dst = xmalloc(n);
        memset(dst, 0, n);
        double rate[MAX_ROUNDS] = {0};
        for (int r = -1; r < R; r++) {
            double t0 = now();
            MPI_CHECK(MPI_Win_lock(MPI_LOCK_SHARED, 1, 0, win));
            MPI_CHECK(MPI_Get(dst, (int)n, MPI_BYTE, 1, 0, (int)n, MPI_BYTE, win));
            MPI_CHECK(MPI_Win_unlock(1, win));
            double dt = now() - t0;
            if (dst[0] != 0x33 || dst[n - 1] != 0x33)
                die("MPI_Get baseline: wrong data");
            if (r >= 0)
                rate[r] = (double)n / dt / 1e9;
        }
        free(dst);
        fig_set(&B[B_MPI_GET], rate, R);
        fig_note(&B[B_MPI_GET], "%zu MiB from rank 1, MPI_Win_allocate window, passive "
                                "target lock/get/unlock, warm destination", n / MIB);
    }
    quiet_barrier(comm);
    MPI_CHECK(MPI_Win_free(&win));
}

static void base_memcpy(void)
{
    int R = O.rounds;
    size_t n = S.big_bytes;
    unsigned char *src = xmalloc(n), *dst = xmalloc(n);
    memset(src, 0x11, n);
    memset(dst, 0, n);
    double warm[MAX_ROUNDS] = {0}, fresh[MAX_ROUNDS] = {0};
    int reps = (int)((256 * MIB) / n);
    if (reps < 1)
        reps = 1;
    for (int r = -1; r < R; r++) {
        double t0 = now();
        for (int k = 0; k < reps; k++) {
            memcpy(dst, src, n);
            __asm__ volatile("" ::"r"(dst) : "memory");
        }
        double dt = (now() - t0) / reps;
        unsigned char *f = xmalloc(n);
        double t1 = now();
        memcpy(f, src, n);
        double dt2 = now() - t1;
        __asm__ volatile("" ::"r"(f) : "memory");
        if (f[n - 1] != 0x11)
            die("memcpy baseline: wrong data");
        free(f);
        if (r >= 0) {
            warm[r] = (double)n / dt / 1e9;
            fresh[r] = (double)n / dt2 / 1e9;
        }
    }
    free(src);
    free(dst);
    fig_set(&B[B_MEMCPY], warm, R);
    fig_note(&B[B_MEMCPY], "%zu MiB into a warm buffer (%d copies per round); one copy into "
                           "a fresh malloc (page faults) %.2f GB/s",
             n / MIB, reps, median_of(fresh, R));
}

static void base_serial(void)
{
    int R = O.rounds, n = S.serial_iters;
    double rate[MAX_ROUNDS] = {0};
    int64_t sink = 0;
    for (int r = -1; r < R; r++) {
        double t0 = now();
        for (int i = 0; i < n; i++)
            sink += noop_body(i);
        if (r >= 0)
            rate[r] = n / (now() - t0);
    }
    __asm__ volatile("" ::"r"(sink));
    fig_set(&B[B_SERIAL], rate, R);
    fig_note(&B[B_SERIAL], "a C loop calling the no-op body directly");
    B[B_SERIAL_1K].have = 1;
    B[B_SERIAL_1K].rounds = R;
    B[B_SERIAL_1K].med = B[B_SERIAL].med / 1000;
    B[B_SERIAL_1K].min = B[B_SERIAL].min / 1000;
    B[B_SERIAL_1K].max = B[B_SERIAL].max / 1000;
    fig_inverse(&B[B_SERIAL_FAN], &B[B_SERIAL], 1001 * 1e3);
}

static void base_malloc(void)
{
    int R = O.rounds, n = S.malloc_iters;
    double rate[MAX_ROUNDS] = {0};
    int64_t x = 7;
    for (int r = -1; r < R; r++) {
        double t0 = now();
        for (int i = 0; i < n; i++) {
            int64_t *p = malloc(sizeof *p);
            if (!p)
                die("out of memory");
            memcpy(p, &x, sizeof x);
            __asm__ volatile("" ::"r"(p) : "memory");
            free(p);
        }
        if (r >= 0)
            rate[r] = n / (now() - t0);
    }
    fig_set(&B[B_MALLOC], rate, R);
    fig_note(&B[B_MALLOC], "malloc + memcpy 8 bytes + free: the least a small put or get does");
}

static const char *tmp_dir(void)
{
    const char *v[] = {"RAYC_SPILL_DIR", "SLURM_TMPDIR", "TMPDIR"};
    for (int i = 0; i < 3; i++) {
        const char *d = getenv(v[i]);
        if (d && *d)
            return d;
    }
    return "/tmp";
}

static void base_h5(void)
{
    int R = O.rounds;
    size_t n = S.big_bytes;
    unsigned char *buf = xmalloc(n);
    memset(buf, 0x42, n);
    double rate[MAX_ROUNDS] = {0};
    char path[1024];
    for (int r = -1; r < R; r++) {
        snprintf(path, sizeof path, "%s/rayc-perf-%ld-%d.h5", tmp_dir(), (long)getpid(), r + 1);
        hsize_t dims[1] = {(hsize_t)n};
        double t0 = now();
        hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        if (f < 0)
            die("h5dwrite baseline: cannot create %s", path);
        hid_t sp = H5Screate_simple(1, dims, NULL);
        hid_t d = sp < 0 ? -1
                         : H5Dcreate2(f, "x", H5T_NATIVE_UINT8, sp, H5P_DEFAULT, H5P_DEFAULT,
                                      H5P_DEFAULT);
        herr_t w = d < 0 ? -1 : H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
        int bad = sp < 0 || d < 0 || w < 0;
        if (d >= 0)
            bad |= H5Dclose(d) < 0;
        if (sp >= 0)
            bad |= H5Sclose(sp) < 0;
        bad |= H5Fclose(f) < 0;
        double dt = now() - t0;
        unlink(path);
        if (bad)
            die("h5dwrite baseline: writing %s failed", path);
        if (r >= 0)
            rate[r] = (double)n / dt / 1e9;
    }
    free(buf);
    fig_set(&B[B_H5], rate, R);
    fig_note(&B[B_H5], "H5Fcreate + H5Dwrite %zu MiB u8 + H5Fclose under %s (page cache)",
             n / MIB, tmp_dir());
}

/* ---- init + shutdown: children of this binary, one rank each ---- */

/* The child gets our environment without the launcher's variables, so it starts as a
 * singleton; the MCA settings of scripts/mpi-env.sh are kept. */
static int keep_env(const char *e)
{
    static const char *const keep[] = {"OMPI_MCA_pml=", "OMPI_MCA_btl=", "OMPI_MCA_osc=",
                                       "OMPI_MCA_mtl=", "OMPI_MCA_btl_base_warn_component_unused=",
                                       "OMPI_ALLOW_RUN_AS_ROOT=",
                                       "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="};
    for (size_t i = 0; i < sizeof keep / sizeof *keep; i++)
        if (strncmp(e, keep[i], strlen(keep[i])) == 0)
            return 1;
    static const char *const drop[] = {"OMPI_", "PMIX_", "PMI_", "ORTE_", "OPAL_", "SLURM_",
                                       "HYDRA_", "MPI_LOCAL"};
    for (size_t i = 0; i < sizeof drop / sizeof *drop; i++)
        if (strncmp(e, drop[i], strlen(drop[i])) == 0)
            return 0;
    return 1;
}

/* Start this binary with mode (and our --config options) as a singleton, its stdout into a
 * pipe; *fd gets the read end. Returns 0 or -1 with a message. */
static int spawn_self(const char *mode, pid_t *pid, int *fd)
{
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return fprintf(stderr, "rayc-perf: cannot find my own executable\n"), -1;
    exe[len] = 0;
    size_t nenv = 0, k = 0;
    while (environ[nenv])
        nenv++;
    char **envp = xmalloc((nenv + 1) * sizeof *envp);
    for (size_t i = 0; i < nenv; i++)
        if (keep_env(environ[i]))
            envp[k++] = environ[i];
    envp[k] = NULL;
    char *argv[2 + 2 * MAX_CONFIG + 1];
    int na = 0, fds[2];
    argv[na++] = exe;
    argv[na++] = (char *)mode;
    for (int i = 0; i < O.nconfig; i++) {
        argv[na++] = "--config";
        argv[na++] = (char *)O.config[i];
    }
    argv[na] = NULL;
    if (pipe(fds) != 0) {
        free(envp);
        return fprintf(stderr, "rayc-perf: pipe: %s\n", strerror(errno)), -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    int rc = posix_spawn(pid, exe, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    free(envp);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return fprintf(stderr, "rayc-perf: posix_spawn %s: %s\n", exe, strerror(rc)), -1;
    }
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    *fd = fds[0];
    return 0;
}

static void drain_pipe(int fd, char *out, size_t cap, size_t *used)
{
    ssize_t got;
    while (*used < cap - 1 && (got = read(fd, out + *used, cap - 1 - *used)) > 0)
        *used += (size_t)got;
    out[*used] = 0;
}

/* Collect the child's output until it exits (killed after timeout seconds). The child's own
 * children (an MPI daemon) may hold the pipe open, so its exit, not EOF, ends the wait. */
static int wait_child(pid_t pid, int fd, double timeout, char *out, size_t cap, int *status)
{
    size_t used = 0;
    double deadline = now() + timeout;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        poll(&p, 1, 20);
        drain_pipe(fd, out, cap, &used);
        if (waitpid(pid, status, WNOHANG) == pid)
            break;
        if (now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, status, 0);
            return -1;
        }
    }
    drain_pipe(fd, out, cap, &used);
    return 0;
}

/* Run this binary with mode ("--init-only"), parse "key<ms>" from its stdout into *ms and its
 * wall time (spawn to exit) into *wall_ms. Returns 0 or -1 (with a message). */
static int run_child(const char *mode, const char *key, double *ms, double *wall_ms)
{
    pid_t pid;
    int fd, status = 0;
    char out[4096];
    double t0 = now();
    if (spawn_self(mode, &pid, &fd) != 0)
        return -1;
    int rc = wait_child(pid, fd, 60, out, sizeof out, &status);
    *wall_ms = (now() - t0) * 1e3;
    close(fd);
    if (rc != 0)
        return fprintf(stderr, "rayc-perf: child %s did not end in 60 s\n", mode), -1;
    const char *p = strstr(out, key);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !p ||
        sscanf(p + strlen(key), "%lf", ms) != 1)
        return fprintf(stderr, "rayc-perf: child %s failed (status %d): %s\n", mode, status,
                       out), -1;
    return 0;
}

static void base_init(void)
{
    int R = S.init_rounds;
    double mpi[MAX_ROUNDS] = {0}, ray[MAX_ROUNDS] = {0};
    double mpi_wall[MAX_ROUNDS] = {0}, ray_wall[MAX_ROUNDS] = {0};
    int ok = 1;
    for (int r = 0; r < R && ok; r++) {
        ok = run_child("--mpi-only", "mpi_init_finalize_ms=", &mpi[r], &mpi_wall[r]) == 0 &&
             run_child("--init-only", "init_shutdown_ms=", &ray[r], &ray_wall[r]) == 0;
    }
    if (!ok) {
        fig_note(&M[M_INIT], "n/a: the child runs failed (see stderr)");
        return;
    }
    fig_set(&B[B_MPI_INIT], mpi, R);
    fig_set(&M[M_INIT], ray, R);
    fig_note(&B[B_MPI_INIT], "MPI_Init_thread(MULTIPLE) + MPI_Finalize in a one-rank child; "
                             "process wall %.1f ms", median_of(mpi_wall, R));
    fig_note(&M[M_INIT], "rayc_init + rayc_shutdown in a one-rank child (%.1f ms over bare "
                         "MPI); process wall %.1f ms; for N ranks run mpirun -n N rayc-perf "
                         "--init-only", M[M_INIT].med - B[B_MPI_INIT].med, median_of(ray_wall, R));
}

void run_baselines(void)
{
    MPI_Comm comm;
    MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comm));
    MPI_Comm_set_name(comm, "rayc-perf-baselines");
    if (need_base(B_PP_RTT) || need_base(B_PP_RATE)) {
        progress("baseline: 8-byte ping-pong");
        if (g_size >= 2) {
            MPI_Comm pair; /* ranks 0 and 1 only: the others wait in quiet_barrier */
            MPI_CHECK(MPI_Comm_split(comm, g_rank <= 1 ? 0 : MPI_UNDEFINED, g_rank, &pair));
            if (pair != MPI_COMM_NULL) {
                base_mpi_pingpong(pair);
                MPI_CHECK(MPI_Comm_free(&pair));
            }
            quiet_barrier(comm);
        } else {
            base_thread_pingpong();
        }
        if (g_rank == 0)
            fig_inverse(&B[B_PP_RATE], &B[B_PP_RTT], 1e6);
    }
    if (need_base(B_MPI_GET) && g_size >= 2) {
        progress("baseline: MPI_Get");
        base_mpi_get(comm);
    }
    if (g_rank == 0) {
        if (need_base(B_MEMCPY))
            progress("baseline: memcpy"), base_memcpy();
        if (need_base(B_SERIAL) || need_base(B_SERIAL_1K) || need_base(B_SERIAL_FAN))
            progress("baseline: serial loop"), base_serial();
        if (need_base(B_MALLOC))
            progress("baseline: malloc"), base_malloc();
        if (need_base(B_H5))
            progress("baseline: H5Dwrite"), base_h5();
        if (need_base(B_MPI_INIT))
            progress("baseline: MPI init and rayc init in child processes"), base_init();
        if (need_base(B_MEM_TARGET)) {
            double v[1] = {2.0 * (1 << 30) / 1e7};
            fig_set(&B[B_MEM_TARGET], v, 1);
            fig_note(&B[B_MEM_TARGET], "issue 4 target, not measured");
        }
    }
    quiet_barrier(comm);
    MPI_CHECK(MPI_Comm_free(&comm));
}
