/* test_doorbell.c: CUnit suite for the doorbell protocol of src/doorbell.c (no MPI): a ring of
 * an awake owner is free, the timeout path, a ring before the wait is not lost, wakes across
 * threads and across processes (fork, shared anonymous memory), and a ping-pong between two
 * processes that would stall on any lost wake. */
#include "doorbell.h"

#include <CUnit/CUnit.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unit_main.h"

#define LONG_WAIT 5.0 /* a wait this long means the wake was lost */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void nap(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Memory that survives fork as the same pages in both processes. */
static void *shared_alloc(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Wait until the owner of b announced its sleep, then give it time to enter the kernel. */
static int await_sleeper(rayc__bell *b)
{
    double t0 = now();
    while (!__atomic_load_n(&b->sleeping, __ATOMIC_ACQUIRE))
        if (now() - t0 > LONG_WAIT)
            return 0;
    nap(0.02);
    return 1;
}

/* The owner's side of one sleep: 1 when rung within LONG_WAIT. */
static int sleep_once(rayc__bell *b, double *elapsed)
{
    uint32_t seq = rayc__bell_seq(b);
    rayc__bell_announce(b);
    double t0 = now();
    int rung = rayc__bell_wait(b, seq, 2 * LONG_WAIT);
    *elapsed = now() - t0;
    return rung;
}

static void test_ring_awake_owner(void)
{
    rayc__bell b;
    memset(&b, 0, sizeof b);
    CU_ASSERT_EQUAL(sizeof b, 64);
    CU_ASSERT_EQUAL(rayc__bell_ring(&b), 0); /* nobody sleeps: no bump, no system call */
    CU_ASSERT_EQUAL(rayc__bell_seq(&b), 0);
    rayc__bell_announce(&b);
    rayc__bell_cancel(&b); /* the owner found work after announcing */
    CU_ASSERT_EQUAL(rayc__bell_ring(&b), 0);
    CU_ASSERT_EQUAL(rayc__bell_seq(&b), 0);
}

static void test_timeout(void)
{
    rayc__bell b;
    memset(&b, 0, sizeof b);
    uint32_t seq = rayc__bell_seq(&b);
    rayc__bell_announce(&b);
    double t0 = now();
    CU_ASSERT_EQUAL(rayc__bell_wait(&b, seq, 0.05), 0);
    double dt = now() - t0;
    CU_ASSERT(dt >= 0.045);
    CU_ASSERT(dt < LONG_WAIT);
    CU_ASSERT_EQUAL(b.sleeping, 0); /* an owner back from its wait is awake for ringers */
    CU_ASSERT_EQUAL(rayc__bell_ring(&b), 0);
}

static void test_ring_before_wait(void)
{
    rayc__bell b;
    memset(&b, 0, sizeof b);
    b.seq = 0xfffffffeu; /* the word wraps around */
    for (int i = 0; i < 4; i++) {
        uint32_t seq = rayc__bell_seq(&b);
        rayc__bell_announce(&b);
        CU_ASSERT_EQUAL(rayc__bell_ring(&b), 1); /* between the announcement and the wait */
        CU_ASSERT_EQUAL(rayc__bell_ring(&b), 0); /* the first ringer took the flag */
        double t0 = now();
        CU_ASSERT_EQUAL(rayc__bell_wait(&b, seq, 2 * LONG_WAIT), 1);
        CU_ASSERT(now() - t0 < LONG_WAIT);
        CU_ASSERT_EQUAL(rayc__bell_seq(&b), seq + 1);
    }
}

typedef struct sleeper_arg {
    rayc__bell *b;
    int rung;
    double elapsed;
} sleeper_arg;

static void *sleeper(void *p)
{
    sleeper_arg *a = p;
    a->rung = sleep_once(a->b, &a->elapsed);
    return NULL;
}

static void test_wake_thread(void)
{
    rayc__bell b;
    memset(&b, 0, sizeof b);
    sleeper_arg a = {&b, 0, 0};
    pthread_t th;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, sleeper, &a), 0);
    CU_ASSERT(await_sleeper(&b));
    CU_ASSERT_EQUAL(rayc__bell_ring(&b), 1);
    pthread_join(th, NULL);
    CU_ASSERT_EQUAL(a.rung, 1);
    CU_ASSERT(a.elapsed >= 0.015); /* it did sleep in the kernel before the ring */
    CU_ASSERT(a.elapsed < LONG_WAIT);
}

/* The owner is another process: this fails if the wait were FUTEX_WAIT_PRIVATE. */
static void test_wake_process(void)
{
    rayc__bell *b = shared_alloc(sizeof *b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        double dt;
        int rung = sleep_once(b, &dt);
        _exit(rung && dt >= 0.015 && dt < LONG_WAIT ? 0 : 1);
    }
    CU_ASSERT(await_sleeper(b));
    CU_ASSERT_EQUAL(rayc__bell_ring(b), 1);
    int status = 0;
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    munmap(b, sizeof *b);
}

/* Two processes pass a turn back and forth, each sleeping on its bell until it is its turn
 * (checked after announcing, as the progress loop probes MPI). A lost wake leaves one asleep
 * for its whole timeout: it is counted, and both stop. */
typedef struct table {
    rayc__bell bell[2];
    uint32_t turn;
    uint32_t stalls;
} table;

static void play(table *t, int me, int rounds)
{
    for (int i = 0; i < rounds && !__atomic_load_n(&t->stalls, __ATOMIC_RELAXED); i++) {
        for (;;) {
            rayc__bell *b = &t->bell[me];
            uint32_t seq = rayc__bell_seq(b);
            if (__atomic_load_n(&t->turn, __ATOMIC_ACQUIRE) % 2 == (uint32_t)me)
                break;
            rayc__bell_announce(b);
            if (__atomic_load_n(&t->turn, __ATOMIC_ACQUIRE) % 2 == (uint32_t)me) {
                rayc__bell_cancel(b);
                break;
            }
            double t0 = now();
            if (!rayc__bell_wait(b, seq, 2.0) && now() - t0 > 1.5) {
                __atomic_fetch_add(&t->stalls, 1, __ATOMIC_RELAXED);
                rayc__bell_ring(&t->bell[1 - me]);
                return; /* one is enough to fail; stop both players */
            }
        }
        __atomic_fetch_add(&t->turn, 1, __ATOMIC_RELEASE);
        rayc__bell_ring(&t->bell[1 - me]);
    }
}

static void test_ping_pong_processes(void)
{
    enum { ROUNDS = 3000 };
    table *t = shared_alloc(sizeof *t);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        play(t, 1, ROUNDS);
        _exit(0);
    }
    double t0 = now();
    play(t, 0, ROUNDS);
    int status = 0;
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CU_ASSERT_EQUAL(t->turn, 2 * ROUNDS);
    CU_ASSERT_EQUAL(t->stalls, 0);
    CU_ASSERT(now() - t0 < 30);
    munmap(t, sizeof *t);
}

int main(void)
{
    static const unit_test tests[] = {
        {"ring of an awake owner", test_ring_awake_owner},
        {"timeout", test_timeout},
        {"ring before wait", test_ring_before_wait},
        {"wake across threads", test_wake_thread},
        {"wake across processes", test_wake_process},
        {"ping-pong across processes", test_ping_pong_processes},
    };
    return UNIT_RUN("doorbell", tests);
}
