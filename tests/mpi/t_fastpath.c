/* t_fastpath.c: the driver's short round trips (submit, get, release of tasks that end within
 * microseconds): values and failures seen by a get that polls, gets that outlast the poll,
 * timeouts shorter and longer than the poll, several driver threads at once (one task at a
 * time, and bursts each thread reads back at once through the shared submission queue), and
 * tasks whose
 * completion cannot take the short path (many returns, refs made inside the task); bursts of
 * tasks that workers run in batches (values, failures inside a batch, states, and a batched
 * task that blocks on a task queued behind it in its own batch). */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "mpitest.h"

static int add(rayc_task *t)
{
    return rayc_return_i64(t, 0, rayc_arg_i64(t, 0) + rayc_arg_i64(t, 1));
}
RAYC_REMOTE(add, .arg_dtypes = "i64,i64");

static int sleep_ms(rayc_task *t)
{
    int64_t ms = rayc_arg_i64(t, 0);
    usleep((useconds_t)ms * 1000);
    return rayc_return_i64(t, 0, ms);
}
RAYC_REMOTE(sleep_ms);

static int fail_now(rayc_task *t)
{
    return rayc_task_fail(t, "refused %lld", (long long)rayc_arg_i64(t, 0));
}
RAYC_REMOTE(fail_now);

static int pair(rayc_task *t)
{
    int64_t x = rayc_arg_i64(t, 0);
    rayc_return_i64(t, 0, x);
    return rayc_return_i64(t, 1, -x);
}
RAYC_REMOTE(pair, .num_returns = 2);

static int six(rayc_task *t)
{
    for (int i = 0; i < 6; i++)
        rayc_return_i64(t, i, rayc_arg_i64(t, 0) * 10 + i);
    return 0;
}
RAYC_REMOTE(six, .num_returns = 6);

/* Puts an object and keeps its ref (released when the task ends), then returns. */
static int put_and_keep(rayc_task *t)
{
    rayc_ref r;
    int rc = rayc_put(&r, rayc_i64(rayc_arg_i64(t, 0)));
    if (rc)
        return rc;
    return rayc_return_i64(t, 0, rayc_arg_i64(t, 0) + 1);
}
RAYC_REMOTE(put_and_keep);

/* quick(x): x back, at once; fails when x % 7 == 3. quick(-1) is the gate: it waits until
 * the driver publishes g_gate_ref, gets it from inside the task, and returns its value + 1000. */
static rayc_ref g_gate_ref;
static atomic_int g_gate_set;

static int quick(rayc_task *t)
{
    int64_t x = rayc_arg_i64(t, 0);
    if (x == -1) {
        double t0 = mt_now();
        while (!atomic_load(&g_gate_set) && mt_now() - t0 < 10.0)
            usleep(100);
        int64_t v = 0;
        int rc = rayc_get_i64(&g_gate_ref, 1, &v, 5.0);
        return rc ? rayc_task_fail(t, "gate get: %s", rayc_last_error())
                  : rayc_return_i64(t, 0, v + 1000);
    }
    if (x % 7 == 3)
        return rayc_task_fail(t, "quick refuses %lld", (long long)x);
    return rayc_return_i64(t, 0, x);
}
RAYC_REMOTE(quick, .arg_dtypes = "i64");

/* quick(x) pinned to rank 0 (where the gate's global lives). */
static int submit_quick(rayc_ref *r, int64_t x)
{
    rayc_opts o = RAYC_OPTS_INHERIT;
    o.strategy = RAYC_SCHED_NODE_AFFINITY;
    o.affinity_rank = 0;
    o.affinity_soft = 0;
    return rayc_submit_ex(r, 1, quick, RAYC_ARGS(rayc_i64(x)), &o);
}

/* Bursts of a microsecond function: after a few runs workers take them in batches. Each
 * value, each failure (every 7th task) and each final state must be the task's own. */
static void test_batches(void)
{
    enum { N = 600 };
    static rayc_ref r[N];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++)
            MT_OK(submit_quick(&r[i], i));
        int bad = 0;
        for (int i = 0; i < N; i++) {
            int64_t v = -5;
            int rc = rayc_get_i64(&r[i], 1, &v, 30.0);
            if (i % 7 == 3) {
                char want[40];
                snprintf(want, sizeof want, "quick refuses %d", i);
                bad += rc != RAYC_ETASK || !strstr(rayc_last_error(), want);
            } else {
                bad += rc != 0 || v != i;
            }
            rayc_task_state st;
            bad += rayc_task_state_of(r[i], &st) != 0 ||
                   st != (i % 7 == 3 ? RAYC_TASK_FAILED : RAYC_TASK_FINISHED);
        }
        MT_CHECK(bad == 0);
        MT_OK(rayc_release(r, N));
    }
}

/* The gate is batched with the tasks submitted right after it, and blocks on one of them:
 * the batch's unstarted tasks must go back to the queue for another worker (kept in the
 * batch, the gate's get would time out). */
static void test_batch_blocks(void)
{
    enum { N = 32 };
    rayc_ref r[N];
    for (int round = 0; round < 5; round++) {
        atomic_store(&g_gate_set, 0);
        MT_OK(submit_quick(&r[0], -1));
        for (int i = 1; i < N; i++)
            MT_OK(submit_quick(&r[i], 7 * i)); /* 7i % 7 == 0: none fails */
        g_gate_ref = r[6];
        atomic_store(&g_gate_set, 1);
        int64_t v[N];
        int rc = rayc_get_i64(r, N, v, 30.0);
        MT_CHECK(rc == 0);
        if (rc)
            fprintf(stderr, "round %d: %s\n", round, rayc_last_error());
        MT_CHECK(rc || v[0] == 1000 + 7 * 6);
        MT_OK(rayc_release(r, N));
    }
}

/* n round trips of add(i, k); the number of wrong answers or failed calls. */
static int sync_loop(int n, int64_t k)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        rayc_ref r;
        int64_t v = -1;
        if (rayc_submit(&r, add, RAYC_ARGS(rayc_i64(i), rayc_i64(k))) != 0) {
            bad++;
            continue;
        }
        bad += rayc_get_i64(&r, 1, &v, 30.0) != 0 || v != i + k;
        bad += rayc_release(&r, 1) != 0;
    }
    return bad;
}

static void test_round_trips(void)
{
    MT_CHECK(sync_loop(3000, 7) == 0);
    /* two returns in one get; a ready put beside a pending task */
    for (int i = 0; i < 200; i++) {
        rayc_ref p, r[2];
        int64_t v[3] = {0, 0, 0};
        MT_OK(rayc_put(&p, rayc_i64(i)));
        MT_OK(rayc_submit(r, pair, RAYC_ARGS(rayc_i64(i))));
        rayc_ref both[3] = {r[0], p, r[1]};
        MT_OK(rayc_get_i64(both, 3, v, 30.0));
        MT_CHECK(v[0] == i && v[1] == i && v[2] == -i);
        MT_OK(rayc_release(r, 2));
        MT_OK(rayc_release(&p, 1));
    }
}

static void test_slow_and_timeouts(void)
{
    rayc_ref r;
    int64_t v = 0;
    /* ends after the poll: the general path answers */
    double t0 = mt_now();
    MT_OK(rayc_submit(&r, sleep_ms, RAYC_ARGS(rayc_i64(5))));
    MT_OK(rayc_get_i64(&r, 1, &v, 30.0));
    MT_CHECK(v == 5 && mt_now() - t0 >= 0.005 && mt_now() - t0 < 5.0);
    MT_OK(rayc_release(&r, 1));
    /* a timeout shorter than the poll ends the get promptly */
    MT_OK(rayc_submit(&r, sleep_ms, RAYC_ARGS(rayc_i64(300))));
    t0 = mt_now();
    MT_CHECK(rayc_get_i64(&r, 1, &v, 10e-6) == RAYC_ETIMEDOUT);
    MT_CHECK(mt_now() - t0 < 0.2);
    /* a timeout longer than the poll: the get waits the whole timeout, not the poll alone */
    t0 = mt_now();
    MT_CHECK(rayc_get_i64(&r, 1, &v, 3e-3) == RAYC_ETIMEDOUT);
    double dt = mt_now() - t0;
    MT_CHECK(dt >= 3e-3 && dt < 0.25);
    /* timeout 0 only looks */
    t0 = mt_now();
    MT_CHECK(rayc_get_i64(&r, 1, &v, 0) == RAYC_ETIMEDOUT);
    MT_CHECK(mt_now() - t0 < 0.1);
    MT_OK(rayc_get_i64(&r, 1, &v, 30.0));
    MT_CHECK(v == 300);
    MT_OK(rayc_release(&r, 1));
}

static void test_failures(void)
{
    for (int i = 0; i < 50; i++) {
        rayc_ref r;
        int64_t v;
        MT_OK(rayc_submit(&r, fail_now, RAYC_ARGS(rayc_i64(i))));
        MT_CHECK(rayc_get_i64(&r, 1, &v, 30.0) == RAYC_ETASK);
        char want[32];
        snprintf(want, sizeof want, "refused %d", i);
        MT_CHECK(strstr(rayc_last_error(), "fail_now") && strstr(rayc_last_error(), want));
        MT_OK(rayc_release(&r, 1));
    }
    /* a released ref is refused, not waited for */
    rayc_ref r;
    int64_t v;
    MT_OK(rayc_submit(&r, add, RAYC_ARGS(rayc_i64(1), rayc_i64(2))));
    MT_OK(rayc_release(&r, 1));
    MT_CHECK(rayc_get_i64(&r, 1, &v, 30.0) == RAYC_ERELEASED);
}

/* Completions that need more than the short path: six returns, refs made in the task. */
static void test_long_completions(void)
{
    for (int i = 0; i < 300; i++) {
        rayc_ref r[6], k;
        int64_t v[6], w = 0;
        MT_OK(rayc_submit(r, six, RAYC_ARGS(rayc_i64(i))));
        MT_OK(rayc_submit(&k, put_and_keep, RAYC_ARGS(rayc_i64(i))));
        MT_OK(rayc_get_i64(r, 6, v, 30.0));
        MT_OK(rayc_get_i64(&k, 1, &w, 30.0));
        int ok = w == i + 1;
        for (int j = 0; j < 6; j++)
            ok &= v[j] == i * 10 + j;
        MT_CHECK(ok);
        MT_OK(rayc_release(r, 6));
        MT_OK(rayc_release(&k, 1));
    }
}

static void *driver_thread(void *arg)
{
    intptr_t k = (intptr_t)arg;
    return (void *)(intptr_t)sync_loop(1000, (int64_t)k * 100000);
}

static void test_threads(void)
{
    pthread_t th[3];
    for (intptr_t k = 0; k < 3; k++)
        MT_CHECK(pthread_create(&th[k], NULL, driver_thread, (void *)(k + 1)) == 0);
    for (int k = 0; k < 3; k++) {
        void *bad = NULL;
        pthread_join(th[k], &bad);
        MT_CHECK(bad == NULL);
    }
}

/* Rank 0 threads submitting at once share the submission queue: each reads its burst back at
 * once, so a burst queued behind another thread's half-written submission must be entered
 * when the reader takes the lock, not left behind. */
static void *burst_thread(void *arg)
{
    int64_t k = (int64_t)(intptr_t)arg * 1000000;
    intptr_t bad = 0;
    for (int i = 0; i < 400; i++) {
        rayc_ref r[8];
        int64_t v[8];
        int n = 0;
        for (int j = 0; j < 8; j++)
            n += rayc_submit(&r[j], add, RAYC_ARGS(rayc_i64(i), rayc_i64(k + j))) == 0;
        if (n != 8) {
            bad++;
            continue;
        }
        if (rayc_get_i64(r, 8, v, 30.0) != 0) {
            bad++;
        } else {
            for (int j = 0; j < 8; j++)
                bad += v[j] != i + k + j;
        }
        bad += rayc_release(r, 8) != 0;
    }
    return (void *)bad;
}

static void test_thread_bursts(void)
{
    enum { T = 4 };
    pthread_t th[T];
    for (intptr_t k = 0; k < T; k++)
        MT_CHECK(pthread_create(&th[k], NULL, burst_thread, (void *)(k + 1)) == 0);
    for (int k = 0; k < T; k++) {
        void *bad = NULL;
        pthread_join(th[k], &bad);
        MT_CHECK(bad == NULL);
    }
}

int main(int argc, char **argv)
{
    if (rayc_init(&argc, &argv, NULL) != 0) {
        fprintf(stderr, "rayc_init: %s\n", rayc_last_error());
        return 1;
    }
    test_round_trips();
    test_slow_and_timeouts();
    test_failures();
    test_long_completions();
    test_threads();
    test_thread_bursts();
    test_batches();
    test_batch_blocks();
    return mt_finish();
}
