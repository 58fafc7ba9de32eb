/* t_basic.c: submit/get (also of many small arguments, with and without per-call options),
 * put, multiple returns, refs as arguments, wait in completion order,
 * get with a timeout, task failure and its propagation, a ref released by another thread
 * while a get waits for it, and bad input on every call. */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "mpitest.h"

static int add(rayc_task *t)
{
    return rayc_return_i64(t, 0, rayc_arg_i64(t, 0) + rayc_arg_i64(t, 1));
}
RAYC_REMOTE(add, .arg_dtypes = "i64,i64");

static int divmod(rayc_task *t)
{
    int64_t a = rayc_arg_i64(t, 0), b = rayc_arg_i64(t, 1);
    if (b == 0)
        return rayc_task_fail(t, "division by zero (%lld / 0)", (long long)a);
    rayc_return_i64(t, 0, a / b);
    return rayc_return_i64(t, 1, a % b);
}
RAYC_REMOTE(divmod, .num_returns = 2);

static int sleep_ms(rayc_task *t)
{
    int64_t ms = rayc_arg_i64(t, 0);
    usleep((useconds_t)ms * 1000);
    return rayc_return_i64(t, 0, ms);
}
RAYC_REMOTE(sleep_ms);

static int where(rayc_task *t)
{
    return rayc_return_i64(t, 0, rayc_task_rank(t));
}
RAYC_REMOTE(where);

static int sum_array(rayc_task *t)
{
    int64_t n = 0;
    const double *x = rayc_arg_data(t, 0, RAYC_F64, &n);
    double s = 0;
    for (int64_t i = 0; x && i < n; i++)
        s += x[i];
    return rayc_return_f64(t, 0, s);
}
RAYC_REMOTE(sum_array);

/* Five arguments of three kinds (more than a queued submission keeps in its slot). */
static int mix5(rayc_task *t)
{
    int64_t s = rayc_arg_i64(t, 0) + rayc_arg_i64(t, 1) + rayc_arg_i64(t, 4);
    s += (int64_t)rayc_arg_f64(t, 2);
    const rayc_value *b;
    if (rayc_task_arg(t, 3, &b) != 0)
        return rayc_task_fail(t, "no argument 3");
    s += (int64_t)rayc_value_nbytes(b);
    return rayc_return_i64(t, 0, s);
}
RAYC_REMOTE(mix5);

static int noret(rayc_task *t)
{
    (void)t;
    return 0;
}
RAYC_REMOTE(noret, .num_returns = 0);

static int not_registered(rayc_task *t)
{
    return rayc_return_i64(t, 0, 1);
}

static void test_submit_get(void)
{
    rayc_ref r[20];
    for (int i = 0; i < 20; i++)
        MT_OK(rayc_submit(&r[i], add, RAYC_ARGS(rayc_i64(i), rayc_i64(100))));
    int64_t v[20];
    MT_OK(rayc_get_i64(r, 20, v, 30.0));
    int ok = 1;
    for (int i = 0; i < 20; i++)
        ok &= v[i] == i + 100;
    MT_CHECK(ok);
    MT_OK(rayc_release(r, 20));
    /* Many small arguments, with the function's options and with per-call ones. */
    rayc_opts o = RAYC_OPTS_INHERIT;
    o.num_cpus = 0.5;
    for (int i = 0; i < 20; i++) {
        rayc_arg a[5] = {rayc_i64(i), rayc_i64(1000), rayc_f64(0.5 + i), rayc_str("abcd"),
                         rayc_i64(-i)};
        if (i % 2)
            MT_OK(rayc_submit_ex(&r[i], 1, mix5, a, 5, &o));
        else
            MT_OK(rayc_submit(&r[i], mix5, a, 5));
    }
    MT_OK(rayc_get_i64(r, 20, v, 30.0));
    ok = 1;
    for (int i = 0; i < 20; i++)
        ok &= v[i] == 1000 + i + 4; /* i + 1000 + (int)(0.5 + i) + 4 - i */
    MT_CHECK(ok);
    MT_OK(rayc_release(r, 20));
}

static void test_multi_return_and_chain(void)
{
    rayc_ref qr[2], s;
    MT_OK(rayc_submit(qr, divmod, RAYC_ARGS(rayc_i64(47), rayc_i64(5))));
    /* refs as arguments: add(q, r) = 9 + 2 */
    MT_OK(rayc_submit(&s, add, RAYC_ARGS(rayc_refarg(qr[0]), rayc_refarg(qr[1]))));
    int64_t v[3];
    MT_OK(rayc_get_i64(qr, 2, v, 30.0));
    MT_OK(rayc_get_i64(&s, 1, &v[2], 30.0));
    MT_CHECK(v[0] == 9 && v[1] == 2 && v[2] == 11);
    MT_OK(rayc_release(qr, 2));
    MT_OK(rayc_release(&s, 1));
}

static void test_put_and_large(void)
{
    /* Large enough to stay in the producer's store and travel through a transfer. */
    enum { N = 300000 };
    double *x = malloc(N * sizeof *x);
    double want = 0;
    for (int i = 0; i < N; i++) {
        x[i] = i * 0.5;
        want += x[i];
    }
    rayc_ref p, s[4];
    MT_OK(rayc_put(&p, rayc_vec(RAYC_F64, N, x)));
    for (int i = 0; i < 4; i++)
        MT_OK(rayc_submit(&s[i], sum_array, RAYC_ARGS(rayc_refarg(p))));
    double got[4];
    MT_OK(rayc_get_f64(s, 4, got, 60.0));
    for (int i = 0; i < 4; i++)
        MT_CHECK(got[i] == want);
    rayc_value *pv = NULL;
    MT_OK(rayc_get(&p, 1, &pv, 10.0));
    MT_CHECK(pv && rayc_value_count(pv) == N && ((const double *)rayc_value_data(pv))[N - 1] == x[N - 1]);
    rayc_value_release(pv);
    /* by-value large argument becomes an implicit put */
    rayc_ref s2;
    MT_OK(rayc_submit(&s2, sum_array, RAYC_ARGS(rayc_vec(RAYC_F64, N, x))));
    double g2 = 0;
    MT_OK(rayc_get_f64(&s2, 1, &g2, 60.0));
    MT_CHECK(g2 == want);
    MT_OK(rayc_release(&p, 1));
    MT_OK(rayc_release(s, 4));
    MT_OK(rayc_release(&s2, 1));
    free(x);
}

static void test_wait_order_and_timeout(void)
{
    rayc_ref r[3], ready[3], pending[3];
    int64_t ms[3] = {600, 10, 300};
    for (int i = 0; i < 3; i++)
        MT_OK(rayc_submit(&r[i], sleep_ms, RAYC_ARGS(rayc_i64(ms[i]))));
    int nr = -1, np = -1;
    MT_OK(rayc_wait(r, 3, 3, 30.0, ready, &nr, pending, &np));
    MT_CHECK(nr == 3 && np == 0);
    /* completion order: 10 ms, 300 ms, 600 ms (with >= 3 workers in total) */
    rayc_resources res;
    MT_OK(rayc_cluster_resources(&res));
    if (res.cpu >= 3) {
        MT_CHECK(memcmp(&ready[0], &r[1], sizeof(rayc_ref)) == 0);
        MT_CHECK(memcmp(&ready[1], &r[2], sizeof(rayc_ref)) == 0);
        MT_CHECK(memcmp(&ready[2], &r[0], sizeof(rayc_ref)) == 0);
    }
    MT_OK(rayc_release(r, 3));
    /* get with a timeout: the ref stays usable */
    rayc_ref slow;
    int64_t v = 0;
    MT_OK(rayc_submit(&slow, sleep_ms, RAYC_ARGS(rayc_i64(700))));
    double t0 = mt_now();
    MT_CHECK(rayc_get_i64(&slow, 1, &v, 0.1) == RAYC_ETIMEDOUT);
    MT_CHECK(mt_now() - t0 < 0.6);
    MT_OK(rayc_wait(&slow, 1, 1, 0.0, ready, &nr, pending, &np));
    MT_CHECK(nr == 0 && np == 1);
    MT_OK(rayc_get_i64(&slow, 1, &v, 30.0));
    MT_CHECK(v == 700);
    MT_OK(rayc_release(&slow, 1));
}

static void test_failures(void)
{
    rayc_ref qr[2], dep;
    int64_t v[2];
    MT_OK(rayc_submit(qr, divmod, RAYC_ARGS(rayc_i64(1), rayc_i64(0))));
    MT_OK(rayc_submit(&dep, add, RAYC_ARGS(rayc_refarg(qr[0]), rayc_i64(1))));
    MT_CHECK(rayc_get_i64(qr, 2, v, 30.0) == RAYC_ETASK);
    MT_CHECK(strstr(rayc_last_error(), "divmod") && strstr(rayc_last_error(), "division by zero") &&
             strstr(rayc_last_error(), "rank"));
    MT_CHECK(rayc_get_i64(&dep, 1, v, 30.0) == RAYC_ETASK);
    MT_CHECK(strstr(rayc_last_error(), "'add' was not run") && strstr(rayc_last_error(), "division by zero"));
    rayc_task_state st;
    MT_OK(rayc_task_state_of(dep, &st));
    MT_CHECK(st == RAYC_TASK_FAILED);
    MT_OK(rayc_release(qr, 2));
    MT_OK(rayc_release(&dep, 1));
}

static void test_bad_input(void)
{
    rayc_ref r = RAYC_NULL_REF, two[2];
    int64_t v;
    MT_CHECK(rayc_submit(&r, not_registered, RAYC_NO_ARGS) == RAYC_ENOFUNC);
    MT_CHECK(rayc_submit(&r, NULL, RAYC_NO_ARGS) == RAYC_ENOFUNC);
    MT_CHECK(rayc_submit(&r, add, RAYC_ARGS(rayc_i64(1))) == RAYC_EINVAL);
    MT_CHECK(strstr(rayc_last_error(), "takes 2 arguments") != NULL);
    MT_CHECK(rayc_submit(&r, add, RAYC_ARGS(rayc_i64(1), rayc_f64(2))) == RAYC_EINVAL);
    MT_CHECK(rayc_submit(&r, add, NULL, 2) == RAYC_EINVAL);
    MT_CHECK(rayc_submit_name(&r, 1, "nope", RAYC_NO_ARGS, NULL) == RAYC_ENOFUNC);
    MT_CHECK(rayc_submit_ex(two, 2, add, RAYC_ARGS(rayc_i64(1), rayc_i64(2)), NULL) == RAYC_EINVAL);
    rayc_opts o = RAYC_OPTS_INHERIT;
    o.num_gpus = 1000;
    MT_CHECK(rayc_submit_ex(&r, 1, add, RAYC_ARGS(rayc_i64(1), rayc_i64(2)), &o) == RAYC_EINFEASIBLE);
    rayc_opts o2 = RAYC_OPTS_INHERIT;
    o2.resources = "unicorn=1";
    MT_CHECK(rayc_submit_ex(&r, 1, add, RAYC_ARGS(rayc_i64(1), rayc_i64(2)), &o2) == RAYC_EINFEASIBLE);
    rayc_opts o3 = RAYC_OPTS_INHERIT;
    o3.strategy = RAYC_SCHED_NODE_AFFINITY;
    o3.affinity_rank = 999;
    MT_CHECK(rayc_submit_ex(&r, 1, add, RAYC_ARGS(rayc_i64(1), rayc_i64(2)), &o3) == RAYC_EINFEASIBLE);
    rayc_opts o4 = RAYC_OPTS_INHERIT;
    o4.num_cpus = -2;
    MT_CHECK(rayc_submit_ex(&r, 1, add, RAYC_ARGS(rayc_i64(1), rayc_i64(2)), &o4) == RAYC_EINVAL);
    /* released refs */
    MT_OK(rayc_submit(&r, add, RAYC_ARGS(rayc_i64(1), rayc_i64(2))));
    MT_OK(rayc_get_i64(&r, 1, &v, 30.0));
    MT_OK(rayc_release(&r, 1));
    MT_CHECK(rayc_get_i64(&r, 1, &v, 1.0) == RAYC_ERELEASED);
    MT_CHECK(rayc_release(&r, 1) == RAYC_ERELEASED);
    MT_CHECK(strstr(rayc_last_error(), "seq") != NULL); /* names the ref */
    MT_CHECK(rayc_submit(&two[0], add, RAYC_ARGS(rayc_refarg(r), rayc_i64(1))) == RAYC_ERELEASED);
    /* NULLs and nonsense */
    MT_CHECK(rayc_get(NULL, 1, NULL, 1.0) == RAYC_EINVAL);
    MT_CHECK(rayc_get_i64(&r, 1, NULL, 1.0) == RAYC_EINVAL);
    rayc_ref nullref = RAYC_NULL_REF;
    MT_CHECK(rayc_get_i64(&nullref, 1, &v, 1.0) == RAYC_EINVAL);
    MT_CHECK(rayc_wait(&r, 1, 2, 1.0, NULL, NULL, NULL, NULL) == RAYC_EINVAL);
    MT_CHECK(rayc_put(NULL, rayc_i64(1)) == RAYC_EINVAL);
    MT_CHECK(rayc_put(&r, rayc_str(NULL)) == RAYC_EINVAL);
    MT_CHECK(rayc_put(&r, rayc_refarg(two[0])) == RAYC_EINVAL);
    MT_CHECK(rayc_put(&r, rayc_array(RAYC_F64, 9, (int64_t[9]){0}, NULL)) == RAYC_EINVAL);
    MT_CHECK(rayc_init(NULL, NULL, NULL) == RAYC_ESTATE);
    MT_CHECK(rayc_nodes(NULL, 1, NULL) == RAYC_EINVAL);
}

static void test_cluster_view(void)
{
    int n = 0;
    rayc_node_info nodes[16];
    MT_OK(rayc_nodes(nodes, 16, &n));
    MT_CHECK(n == rayc_size());
    MT_CHECK(nodes[0].total.cpu >= 1 && nodes[0].host[0]);
    /* every rank runs tasks: affinity to each rank lands there */
    for (int r = 0; r < n && r < 16; r++) {
        rayc_opts o = RAYC_OPTS_INHERIT;
        o.strategy = RAYC_SCHED_NODE_AFFINITY;
        o.affinity_rank = r;
        rayc_ref ref;
        int64_t got = -1;
        MT_OK(rayc_submit_ex(&ref, 1, where, RAYC_NO_ARGS, &o));
        MT_OK(rayc_get_i64(&ref, 1, &got, 30.0));
        MT_CHECK(got == r);
        MT_OK(rayc_release(&ref, 1));
    }
    rayc_task_info ti[8];
    int nt = 0;
    MT_OK(rayc_list_tasks(ti, 8, &nt));
    MT_CHECK(nt > 0 && ti[0].name[0]);
    /* a task without returns is listed with RAYC_NULL_REF */
    MT_OK(rayc_submit_ex(NULL, 0, noret, RAYC_NO_ARGS, NULL));
    rayc_task_info *all = calloc(8192, sizeof *all);
    int found = 0;
    for (int tries = 0; tries < 200 && !found; tries++) {
        MT_OK(rayc_list_tasks(all, 8192, &nt));
        for (int i = 0; i < nt && i < 8192; i++)
            if (strcmp(all[i].name, "noret") == 0 && all[i].state == RAYC_TASK_FINISHED) {
                rayc_ref none = RAYC_NULL_REF;
                found = memcmp(&all[i].ref, &none, sizeof none) == 0 ? 1 : -1;
            }
        usleep(5000);
    }
    MT_CHECK(found == 1);
    free(all);
}

/* Live tasks are listed after the ended ones, in submission order, tasks without returns
 * included (they are found through a different table than tasks with returns). */
static void test_list_live_order(void)
{
    enum { N = 6 };
    rayc_ref blk, out[N];
    MT_OK(rayc_submit(&blk, sleep_ms, RAYC_ARGS(rayc_i64(500))));
    for (int i = 0; i < N; i++) {
        if (i % 2 == 0)
            MT_OK(rayc_submit(&out[i], add, RAYC_ARGS(rayc_refarg(blk), rayc_i64(i))));
        else
            MT_OK(rayc_submit_ex(NULL, 0, noret, RAYC_ARGS(rayc_refarg(blk)), NULL));
    }
    rayc_task_info *all = calloc(8192, sizeof *all);
    int nt = 0;
    MT_OK(rayc_list_tasks(all, 8192, &nt));
    MT_CHECK(nt <= 8192);
    int k = 0, first_live = -1, ended_after_live = 0;
    for (int i = 0; i < nt && i < 8192; i++) {
        int live = all[i].state != RAYC_TASK_FINISHED && all[i].state != RAYC_TASK_FAILED;
        if (live && first_live < 0)
            first_live = i;
        if (!live && first_live >= 0)
            ended_after_live++;
        if (!live || k == N)
            continue;
        /* the dependents, in the order they were submitted */
        int want_add = k % 2 == 0;
        if (strcmp(all[i].name, want_add ? "add" : "noret") == 0) {
            if (want_add)
                MT_CHECK(memcmp(&all[i].ref, &out[k], sizeof out[k]) == 0);
            MT_CHECK(all[i].state == RAYC_TASK_PENDING_ARGS_AVAIL);
            k++;
        }
    }
    MT_CHECK(first_live >= 0);
    MT_CHECK(ended_after_live == 0);
    MT_CHECK(k == N);
    for (int i = 0; i < N; i += 2) {
        int64_t v = -1;
        MT_OK(rayc_get_i64(&out[i], 1, &v, 30.0));
        MT_CHECK(v == 500 + i);
        MT_OK(rayc_release(&out[i], 1));
    }
    MT_OK(rayc_release(&blk, 1));
    free(all);
}

/* Another driver thread releases a ref while a get waits for it: the get ends when the task
 * does, with RAYC_ERELEASED for that ref, and the other values come back. */
static rayc_ref waited[3];

static void *release_later(void *arg)
{
    (void)arg;
    usleep(30000);
    return (void *)(intptr_t)rayc_release(&waited[1], 1);
}

static void test_release_while_get_waits(void)
{
    MT_OK(rayc_submit(&waited[0], add, RAYC_ARGS(rayc_i64(1), rayc_i64(2))));
    MT_OK(rayc_submit(&waited[1], sleep_ms, RAYC_ARGS(rayc_i64(200))));
    MT_OK(rayc_put(&waited[2], rayc_i64(7)));
    pthread_t th;
    MT_CHECK(pthread_create(&th, NULL, release_later, NULL) == 0);
    rayc_value *v[3] = {NULL, NULL, NULL};
    MT_CHECK(rayc_get(waited, 3, v, 30.0) == RAYC_ERELEASED);
    MT_CHECK(strstr(rayc_last_error(), "released") != NULL);
    for (int i = 0; i < 3; i++)
        MT_CHECK(v[i] == NULL); /* a failed get hands out nothing */
    void *rc = NULL;
    pthread_join(th, &rc);
    MT_CHECK(rc == NULL); /* the release itself succeeded */
    int64_t x[2] = {0, 0};
    rayc_ref keep[2] = {waited[0], waited[2]};
    MT_OK(rayc_get_i64(keep, 2, x, 30.0));
    MT_CHECK(x[0] == 3 && x[1] == 7);
    MT_OK(rayc_release(keep, 2));
}

int main(int argc, char **argv)
{
    if (rayc_init(&argc, &argv, NULL) != 0) {
        fprintf(stderr, "rayc_init: %s\n", rayc_last_error());
        return 1;
    }
    test_submit_get();
    test_multi_return_and_chain();
    test_put_and_large();
    test_wait_order_and_timeout();
    test_failures();
    test_bad_input();
    test_cluster_view();
    test_list_live_order();
    test_release_while_get_waits();
    return mt_finish();
}
