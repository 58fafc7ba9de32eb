/* t_objects.c: the object plane: cross-rank transfers of 1 B, the inline threshold -1/+0/+1,
 * 64 MiB and (with 2+ ranks) one object over 2^31 bytes; one copy per rank of a large put read
 * by many tasks; store usage back to its baseline after release; spilling to HDF5 when the
 * live objects are 4x the store (every one read back with the right checksum), the spill file
 * readable by h5dump; an object larger than the whole store. The store is 8 MiB per rank. */
#include <inttypes.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "mpitest.h"

#define STORE_BYTES (8u << 20)
#define THRESHOLD 102400

static uint64_t checksum(const unsigned char *p, uint64_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (uint64_t i = 0; i < n; i += 4096)
        h = (h ^ p[i]) * 1099511628211ull;
    return n ? (h ^ p[n - 1]) * 1099511628211ull : h;
}

/* Return n bytes whose content depends on (n, seed). */
static int make_bytes(rayc_task *t)
{
    int64_t n = rayc_arg_i64(t, 0), seed = rayc_arg_i64(t, 1);
    unsigned char *p;
    int rc = rayc_return_alloc(t, 0, RAYC_U8, 1, &n, (void **)&p);
    if (rc)
        return rc;
    for (int64_t i = 0; i < n; i += 4096)
        p[i] = (unsigned char)(i / 4096 + seed);
    if (n)
        p[n - 1] = (unsigned char)(seed * 7);
    return 0;
}
RAYC_REMOTE(make_bytes);

/* Checksum of a u8 array argument, and the rank that computed it. */
static int sum_bytes(rayc_task *t)
{
    int64_t n = 0;
    const unsigned char *p = rayc_arg_data(t, 0, RAYC_U8, &n);
    if (!p && n)
        return RAYC_EDTYPE;
    rayc_return_i64(t, 1, rayc_task_rank(t));
    return rayc_return_i64(t, 0, (int64_t)checksum(p, (uint64_t)n));
}
RAYC_REMOTE(sum_bytes, .num_returns = 2);

static uint64_t expected(int64_t n, int64_t seed)
{
    unsigned char *p = calloc((size_t)n + 1, 1);
    for (int64_t i = 0; i < n; i += 4096)
        p[i] = (unsigned char)(i / 4096 + seed);
    if (n)
        p[n - 1] = (unsigned char)(seed * 7);
    uint64_t c = checksum(p, (uint64_t)n);
    free(p);
    return c;
}

static rayc_opts on_rank(int r)
{
    rayc_opts o = RAYC_OPTS_INHERIT;
    o.strategy = RAYC_SCHED_NODE_AFFINITY;
    o.affinity_rank = r;
    return o;
}

/* Produce n bytes on the last rank; read them on rank 0 (task) and in the driver. */
static void transfer_case(int64_t n, int64_t seed)
{
    int last = rayc_size() - 1;
    rayc_opts prod = on_rank(last), cons = on_rank(0);
    rayc_ref obj, sum[2];
    MT_OK(rayc_submit_ex(&obj, 1, make_bytes, RAYC_ARGS(rayc_i64(n), rayc_i64(seed)), &prod));
    MT_OK(rayc_submit_ex(sum, 2, sum_bytes, RAYC_ARGS(rayc_refarg(obj)), &cons));
    int64_t v[2] = {0, -1};
    MT_OK(rayc_get_i64(sum, 2, v, 120.0));
    uint64_t want = expected(n, seed);
    MT_CHECK((uint64_t)v[0] == want && v[1] == 0);
    rayc_value *val = NULL;
    MT_OK(rayc_get(&obj, 1, &val, 120.0));
    MT_CHECK(val && (int64_t)rayc_value_nbytes(val) == n &&
             checksum(rayc_value_data(val), (uint64_t)n) == want);
    if (!val || checksum(rayc_value_data(val), (uint64_t)n) != want)
        fprintf(stderr, "  transfer of %" PRId64 " bytes wrong\n", n);
    rayc_value_release(val);
    MT_OK(rayc_release(&obj, 1));
    MT_OK(rayc_release(sum, 2));
}

static void test_transfers(void)
{
    int64_t sizes[] = {1, THRESHOLD - 1, THRESHOLD, THRESHOLD + 1, 64ll << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        transfer_case(sizes[i], (int64_t)i + 3);
    if (rayc_size() >= 2 && rayc_size() <= 2)
        transfer_case((2ll << 30) + 4096, 11); /* over 2^31 bytes: chunked */
}

static void stats(rayc_store_info *st, int *n)
{
    MT_OK(rayc_store_stats(st, 16, n));
}

/* Poll until every rank's store is back to no objects (the reports lag by up to 50 ms). */
static int wait_empty(double limit)
{
    rayc_store_info st[16];
    int n = 0;
    double t0 = mt_now();
    for (;;) {
        stats(st, &n);
        int busy = 0;
        for (int r = 0; r < n && r < 16; r++)
            busy |= st[r].used_bytes != 0 || st[r].objects != 0 || st[r].cached != 0;
        if (!busy)
            return 1;
        if (mt_now() - t0 > limit)
            return 0;
        usleep(20000);
    }
}

static void test_one_copy_per_rank_and_release(void)
{
    MT_CHECK(wait_empty(5.0));
    enum { N = 3 << 20, TASKS = 24 };
    unsigned char *model = malloc(N);
    for (int i = 0; i < N; i++)
        model[i] = (unsigned char)(i * 31);
    rayc_ref m, out[TASKS][2];
    rayc_store_info before[16];
    int nb = 0;
    stats(before, &nb); /* pulled_bytes counts since init: compare with these */
    MT_OK(rayc_put(&m, rayc_vec(RAYC_U8, N, model)));
    for (int i = 0; i < TASKS; i++) {
        rayc_opts o = on_rank(i % rayc_size());
        MT_OK(rayc_submit_ex(out[i], 2, sum_bytes, RAYC_ARGS(rayc_refarg(m)), &o));
    }
    uint64_t want = checksum(model, N);
    for (int i = 0; i < TASKS; i++) {
        int64_t v[2];
        MT_OK(rayc_get_i64(out[i], 2, v, 60.0));
        MT_CHECK((uint64_t)v[0] == want);
        MT_OK(rayc_release(out[i], 2));
    }
    usleep(120000); /* let the ranks report */
    rayc_store_info st[16];
    int n = 0;
    stats(st, &n);
    for (int r = 1; r < n && r < 16; r++) /* each other rank pulled the model once */
        MT_CHECK(st[r].pulled_bytes - before[r].pulled_bytes == (uint64_t)N && st[r].cached == 1);
    MT_CHECK(st[0].pulled_bytes == before[0].pulled_bytes && st[0].objects == 1);
    MT_OK(rayc_release(&m, 1));
    MT_CHECK(wait_empty(5.0)); /* the put and every cached copy are gone */
    free(model);
}

static void test_spill(void)
{
    /* 32 objects of 1 MiB made on every rank: 4x each rank's store. All come back intact. */
    enum { PER = 1 << 20 };
    int size = rayc_size();
    int COUNT = 32 * size;
    rayc_ref *objs = malloc((size_t)COUNT * sizeof *objs), *r = malloc((size_t)COUNT * sizeof *r);
    for (int i = 0; i < COUNT; i++) {
        rayc_opts o = on_rank(i % size);
        MT_OK(rayc_submit_ex(&objs[i], 1, make_bytes, RAYC_ARGS(rayc_i64(PER), rayc_i64(i)), &o));
    }
    MT_OK(rayc_wait(objs, COUNT, COUNT, 120.0, r, &(int){0}, NULL, NULL));
    usleep(300000); /* spill threads catch up */
    rayc_store_info st[16];
    int n = 0;
    stats(st, &n);
    uint64_t spilled = 0;
    for (int k = 0; k < n && k < 16; k++)
        spilled += st[k].spilled_objects;
    MT_CHECK(spilled > 0);
    for (int i = 0; i < COUNT; i++) {
        rayc_ref s[2];
        rayc_opts o = on_rank((i + 1) % size);
        MT_OK(rayc_submit_ex(s, 2, sum_bytes, RAYC_ARGS(rayc_refarg(objs[i])), &o));
        int64_t v[2];
        MT_OK(rayc_get_i64(s, 2, v, 120.0));
        MT_CHECK((uint64_t)v[0] == expected(PER, i));
        MT_OK(rayc_release(s, 2));
        rayc_value *val = NULL;
        MT_OK(rayc_get(&objs[i], 1, &val, 120.0));
        MT_CHECK(val && checksum(rayc_value_data(val), PER) == expected(PER, i));
        rayc_value_release(val);
    }
    stats(st, &n);
    uint64_t restored = 0;
    for (int k = 0; k < n && k < 16; k++)
        restored += st[k].restored_objects;
    MT_CHECK(restored > 0);
    /* h5dump reads a spill file: datasets with the native type and shape */
    const char *path = "";
    for (int k = 0; k < n && k < 16 && !*path; k++)
        if (st[k].spill_path[0])
            path = st[k].spill_path;
    MT_CHECK(*path);
    char cmd[600];
    /* The job still holds the file open: HDF5's file locking must be off for the reader. */
    snprintf(cmd, sizeof cmd,
             "export HDF5_USE_FILE_LOCKING=FALSE; h5dump -H '%s' 2>&1 | grep -q 'H5T_STD_U8LE' && h5dump -H '%s' 2>&1 | grep -q "
             "'SIMPLE { ( 1048576 ) / ( 1048576 ) }' && h5dump -H '%s' | grep -q producer",
             path, path, path);
    MT_CHECK(*path && system(cmd) == 0);
    MT_OK(rayc_release(objs, COUNT));
    MT_CHECK(wait_empty(10.0));
    free(objs);
    free(r);
}

static void test_bigger_than_store(void)
{
    int64_t n = 3 * (int64_t)STORE_BYTES;
    transfer_case(n, 5);
    MT_CHECK(wait_empty(10.0));
}

int main(int argc, char **argv)
{
    rayc_config *cfg;
    char bytes[32];
    snprintf(bytes, sizeof bytes, "%u", STORE_BYTES);
    if (rayc_config_create(&cfg) || rayc_config_set(cfg, "store_bytes", bytes) ||
        rayc_config_set(cfg, "keep_spill", "0") || rayc_init(&argc, &argv, cfg)) {
        fprintf(stderr, "init: %s\n", rayc_last_error());
        return 1;
    }
    rayc_config_destroy(cfg);
    test_transfers();
    test_one_copy_per_rank_and_release();
    test_spill();
    test_bigger_than_store();
    return mt_finish();
}
