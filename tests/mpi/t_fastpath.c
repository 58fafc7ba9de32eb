/* t_fastpath.c: the driver's short round trips (submit, get, release of tasks that end within
 * microseconds): values and failures seen by a get that polls, gets that outlast the poll,
 * timeouts shorter and longer than the poll, several driver threads at once, and tasks whose
 * completion cannot take the short path (many returns, refs made inside the task). */
#include <pthread.h>
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
    return mt_finish();
}
