/* t_lifecycle.c: life cycle: calls before rayc_init, rayc_config errors, calls a task may not
 * make (rayc_shutdown anywhere, rayc_nodes on ranks > 0), and every call after shutdown. */
#include <string.h>

#include "mpitest.h"

static int add(rayc_task *t)
{
    return rayc_return_i64(t, 0, rayc_arg_i64(t, 0) + rayc_arg_i64(t, 1));
}
RAYC_REMOTE(add);

/* Returns the status of rayc_shutdown() made inside a task, and whether the message says why. */
static int shutdown_in_task(rayc_task *t)
{
    int rc = rayc_shutdown();
    rayc_return_i64(t, 0, rc);
    return rayc_return_i64(t, 1, strstr(rayc_last_error(), "task") != NULL);
}
RAYC_REMOTE(shutdown_in_task, .num_returns = 2);

/* Returns the status of rayc_nodes() and rayc_list_tasks() made inside a task. */
static int nodes_in_task(rayc_task *t)
{
    rayc_node_info ni[64];
    rayc_task_info ti[4];
    int n = 0;
    rayc_return_i64(t, 0, rayc_nodes(ni, 64, &n));
    return rayc_return_i64(t, 1, rayc_list_tasks(ti, 4, &n));
}
RAYC_REMOTE(nodes_in_task, .num_returns = 2);

/* rc is RAYC_ESTATE and the last error names the call. */
#define CHECK_ESTATE(call, name)                                                                   \
    do {                                                                                       \
        MT_CHECK((call) == RAYC_ESTATE);                                                       \
        MT_CHECK(strstr(rayc_last_error(), name) != NULL);                                     \
    } while (0)

static void test_before_init(void)
{
    rayc_ref r = {1, 1}, out;
    rayc_value *val = (rayc_value *)&r; /* must come back NULL */
    rayc_node_info ni[4];
    rayc_resources res;
    rayc_task_info ti[4];
    rayc_task_state st;
    int64_t v;
    int n = 0;
    MT_CHECK(!rayc_is_initialized() && rayc_rank() == -1 && rayc_size() == 0);
    CHECK_ESTATE(rayc_submit(&out, add, RAYC_ARGS(rayc_i64(1), rayc_i64(2))), "rayc_submit");
    CHECK_ESTATE(rayc_submit_name(&out, 1, "add", RAYC_ARGS(rayc_i64(1), rayc_i64(2)), NULL),
                 "rayc_submit_name");
    CHECK_ESTATE(rayc_get_i64(&r, 1, &v, 0.0), "rayc_get");
    CHECK_ESTATE(rayc_get(&r, 1, &val, 0.0), "rayc_get");
    MT_CHECK(val == NULL);
    CHECK_ESTATE(rayc_wait(&r, 1, 1, 0.0, NULL, NULL, NULL, NULL), "rayc_wait");
    CHECK_ESTATE(rayc_put(&out, rayc_i64(1)), "rayc_put");
    CHECK_ESTATE(rayc_release(&r, 1), "rayc_release");
    CHECK_ESTATE(rayc_shutdown(), "rayc_shutdown");
    CHECK_ESTATE(rayc_nodes(ni, 4, &n), "rayc_nodes");
    CHECK_ESTATE(rayc_cluster_resources(&res), "rayc_cluster_resources");
    CHECK_ESTATE(rayc_available_resources(&res), "rayc_available_resources");
    CHECK_ESTATE(rayc_list_tasks(ti, 4, &n), "rayc_list_tasks");
    CHECK_ESTATE(rayc_task_state_of(r, &st), "rayc_task_state_of");
}

/* rc is RAYC_EINVAL with a message. */
#define CHECK_EINVAL(call, text)                                                                   \
    do {                                                                                       \
        MT_CHECK((call) == RAYC_EINVAL);                                                       \
        MT_CHECK(strstr(rayc_last_error(), text) != NULL);                                     \
    } while (0)

static void test_config(void)
{
    rayc_config *cfg = NULL;
    rayc_config_destroy(NULL); /* harmless */
    CHECK_EINVAL(rayc_config_create(NULL), "rayc_config_create");
    MT_OK(rayc_config_create(&cfg));
    MT_CHECK(cfg != NULL);
    if (!cfg)
        return;
    CHECK_EINVAL(rayc_config_set(cfg, "num_cpu", "2"), "num_cpu");
    CHECK_EINVAL(rayc_config_set(cfg, "", "2"), "unknown key");
    CHECK_EINVAL(rayc_config_set(cfg, "num_cpus", "two"), "two");
    CHECK_EINVAL(rayc_config_set(cfg, "num_cpus", "-1"), "num_cpus");
    CHECK_EINVAL(rayc_config_set(cfg, "num_cpus", ""), "num_cpus");
    CHECK_EINVAL(rayc_config_set(cfg, "num_cpus", "1e9"), "num_cpus");
    CHECK_EINVAL(rayc_config_set(cfg, "num_gpus", "nan"), "num_gpus");
    CHECK_EINVAL(rayc_config_set(cfg, "memory", "12Q"), "memory");
    CHECK_EINVAL(rayc_config_set(cfg, "inline_threshold", "lots"), "inline_threshold");
    CHECK_EINVAL(rayc_config_set(cfg, "log_level", "loud"), "log_level");
    CHECK_EINVAL(rayc_config_set(cfg, "resources", "special"), "resources");
    CHECK_EINVAL(rayc_config_set(cfg, "resources", "a=1,a=2"), "resources");
    CHECK_EINVAL(rayc_config_set(cfg, "resources", "CPU=4"), "resources");
    CHECK_EINVAL(rayc_config_set(cfg, "resources", "a=-1"), "resources");
    MT_CHECK(rayc_config_set(NULL, "num_cpus", "1") == RAYC_EINVAL);
    MT_CHECK(rayc_config_set(cfg, NULL, "1") == RAYC_EINVAL);
    MT_CHECK(rayc_config_set(cfg, "num_cpus", NULL) == RAYC_EINVAL);
    /* valid values, the later one wins */
    MT_OK(rayc_config_set(cfg, "num_cpus", "3"));
    MT_OK(rayc_config_set(cfg, "num_cpus", "2"));
    MT_OK(rayc_config_set(cfg, "memory", "1G"));
    MT_OK(rayc_config_set(cfg, "log_level", "warn"));
    MT_OK(rayc_config_set(cfg, "resources", "lc_token=1.5"));
    rayc_config_destroy(cfg);
}

static rayc_config *init_config(void)
{
    rayc_config *cfg = NULL;
    if (rayc_config_create(&cfg) != 0 || rayc_config_set(cfg, "num_cpus", "2") != 0) {
        rayc_config_destroy(cfg);
        return NULL;
    }
    return cfg;
}

/* The config reached every rank, and a second init refuses. */
static void test_running(void)
{
    MT_CHECK(rayc_is_initialized() && rayc_rank() == 0 && rayc_size() >= 1);
    CHECK_ESTATE(rayc_init(NULL, NULL, NULL), "already initialized");
    rayc_node_info ni[64];
    int n = 0, cpus_ok = 1;
    MT_OK(rayc_nodes(ni, 64, &n));
    for (int k = 0; k < n && k < 64; k++)
        cpus_ok &= ni[k].total.cpu == 2;
    MT_CHECK(n == rayc_size() && cpus_ok);
}

/* A task may not shut the runtime down (on any rank) nor query the cluster on ranks > 0. */
static void test_in_task(void)
{
    int size = rayc_size() < 64 ? rayc_size() : 64;
    for (int k = 0; k < size; k++) {
        rayc_opts o = RAYC_OPTS_INHERIT;
        o.strategy = RAYC_SCHED_NODE_AFFINITY;
        o.affinity_rank = k;
        rayc_ref s[2], q[2];
        int64_t sv[2] = {0, 0}, qv[2] = {1, 1};
        MT_OK(rayc_submit_ex(s, 2, shutdown_in_task, RAYC_NO_ARGS, &o));
        MT_OK(rayc_submit_ex(q, 2, nodes_in_task, RAYC_NO_ARGS, &o));
        MT_OK(rayc_get_i64(s, 2, sv, 30.0));
        MT_OK(rayc_get_i64(q, 2, qv, 30.0));
        MT_CHECK(sv[0] == RAYC_ESTATE && sv[1] == 1);
        /* "Driver only" calls: any thread of rank 0, so a task on rank 0 may make them */
        int64_t want = k == 0 ? 0 : RAYC_ESTATE;
        MT_CHECK(qv[0] == want && qv[1] == want);
        MT_OK(rayc_release(s, 2));
        MT_OK(rayc_release(q, 2));
    }
    MT_CHECK(rayc_is_initialized());
}

/* Rank 0 after shutdown: everything refuses with RAYC_ESTATE. */
static void test_after_shutdown(rayc_ref kept)
{
    rayc_ref out;
    rayc_node_info ni[4];
    int64_t v;
    int n = 0;
    MT_CHECK(!rayc_is_initialized());
    CHECK_ESTATE(rayc_submit(&out, add, RAYC_ARGS(rayc_i64(1), rayc_i64(2))), "rayc_submit");
    CHECK_ESTATE(rayc_get_i64(&kept, 1, &v, 0.0), "rayc_get");
    CHECK_ESTATE(rayc_put(&out, rayc_i64(1)), "rayc_put");
    CHECK_ESTATE(rayc_release(&kept, 1), "rayc_release");
    CHECK_ESTATE(rayc_nodes(ni, 4, &n), "rayc_nodes");
    CHECK_ESTATE(rayc_shutdown(), "rayc_shutdown");
    CHECK_ESTATE(rayc_init(NULL, NULL, NULL), "rayc_init");
}

int main(int argc, char **argv)
{
    test_before_init();
    test_config();
    rayc_config *cfg = init_config();
    MT_CHECK(cfg != NULL);
    int rc = rayc_init(&argc, &argv, cfg); /* ranks > 0 serve tasks and exit here */
    rayc_config_destroy(cfg);
    if (rc != 0) {
        fprintf(stderr, "rayc_init: %s\n", rayc_last_error());
        return 1;
    }
    test_running();
    test_in_task();
    rayc_ref kept;
    int64_t v = 0;
    MT_OK(rayc_submit(&kept, add, RAYC_ARGS(rayc_i64(20), rayc_i64(22))));
    MT_OK(rayc_get_i64(&kept, 1, &v, 30.0));
    MT_CHECK(v == 42);
    MT_OK(rayc_shutdown());
    test_after_shutdown(kept);
    printf("%d passed, %d failed\n", mt_pass, mt_fail);
    return mt_fail ? 1 : 0;
}
