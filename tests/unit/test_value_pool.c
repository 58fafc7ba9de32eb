/* test_value_pool.c: CUnit suite for src/value_pool.c: a thread reuses what it gave back,
 * blocks freed by one thread reach another through the shared list when the first exits, the
 * shared list holds at most RAYC__VPOOL_KEEP blocks and drains, and four threads passing blocks
 * to each other never see one handed out twice. In AddressSanitizer builds the pool is plain
 * malloc and free, and only the last case (no block twice, nothing lost) applies. */
#include "config.h"

#include <CUnit/CUnit.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unit_main.h"
#include "value_pool.h"

#if defined(__SANITIZE_ADDRESS__)
#define POOLED 0
#else
#define POOLED 1
#endif

static void test_own_blocks_reused(void)
{
    void *a = rayc__vpool_get(), *b = rayc__vpool_get();
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_PTR_NOT_EQUAL(a, b);
    memset(a, 0xab, RAYC__VPOOL_BLOCK); /* the whole block is the caller's */
    memset(b, 0xcd, RAYC__VPOOL_BLOCK);
    rayc__vpool_put(a);
    rayc__vpool_put(b);
    rayc__vpool_put(NULL); /* ignored */
    void *c = rayc__vpool_get(), *d = rayc__vpool_get();
    if (POOLED) { /* last given back, first handed out */
        CU_ASSERT_PTR_EQUAL(c, b);
        CU_ASSERT_PTR_EQUAL(d, a);
    }
    rayc__vpool_put(c);
    rayc__vpool_put(d);
    rayc__vpool_thread_flush();
    rayc__vpool_drain();
    CU_ASSERT_EQUAL(rayc__vpool_shared(), 0);
}

enum { N = 1000 };
static void *blocks[N];

static void *put_all(void *arg)
{
    (void)arg;
    for (int i = 0; i < N; i++)
        rayc__vpool_put(blocks[i]);
    return NULL; /* its cache and batch go to the shared list as it exits */
}

static void test_blocks_cross_threads(void)
{
    rayc__vpool_drain();
    for (int i = 0; i < N; i++) {
        blocks[i] = rayc__vpool_get();
        CU_ASSERT_PTR_NOT_NULL_FATAL(blocks[i]);
    }
    pthread_t th;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, put_all, NULL), 0);
    pthread_join(th, NULL);
    if (POOLED)
        CU_ASSERT_EQUAL(rayc__vpool_shared(), N);
    /* this thread now hands out those blocks again, none twice */
    int from_pool = 0, dup = 0;
    void **again = calloc(N, sizeof *again);
    CU_ASSERT_PTR_NOT_NULL_FATAL(again);
    for (int i = 0; i < N; i++) {
        again[i] = rayc__vpool_get();
        for (int j = 0; j < N; j++)
            from_pool += again[i] == blocks[j];
        for (int j = 0; j < i; j++)
            dup += again[i] == again[j];
    }
    CU_ASSERT_EQUAL(dup, 0);
    if (POOLED)
        CU_ASSERT_EQUAL(from_pool, N);
    for (int i = 0; i < N; i++)
        rayc__vpool_put(again[i]);
    free(again);
    rayc__vpool_thread_flush();
    rayc__vpool_drain();
    CU_ASSERT_EQUAL(rayc__vpool_shared(), 0);
}

static void *put_many(void *arg)
{
    void **b = arg;
    for (int i = 0; i < RAYC__VPOOL_KEEP + 4 * RAYC__VPOOL_BUNDLE; i++)
        rayc__vpool_put(b[i]);
    return NULL;
}

static void test_shared_list_bounded(void)
{
    rayc__vpool_drain();
    int n = RAYC__VPOOL_KEEP + 4 * RAYC__VPOOL_BUNDLE;
    void **b = malloc((size_t)n * sizeof *b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    for (int i = 0; i < n; i++)
        b[i] = rayc__vpool_get();
    pthread_t th;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, put_many, b), 0);
    pthread_join(th, NULL);
    CU_ASSERT(rayc__vpool_shared() <= RAYC__VPOOL_KEEP);
    if (POOLED)
        CU_ASSERT(rayc__vpool_shared() >= RAYC__VPOOL_KEEP - RAYC__VPOOL_BUNDLE);
    rayc__vpool_drain();
    CU_ASSERT_EQUAL(rayc__vpool_shared(), 0);
    free(b);
}

/* Four threads: each takes blocks, stamps them with its id and a counter, and passes them
 * to the next thread through a one-slot mailbox; the receiver checks the stamp and gives the
 * block back. A block handed out while another thread still owns it breaks a stamp. */
enum { THREADS = 4, ROUNDS = 20000 };
typedef struct mailbox {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t *slot;
    int closed;
} mailbox;
static mailbox box[THREADS];
static int bad_stamps;
static pthread_mutex_t bad_mu = PTHREAD_MUTEX_INITIALIZER;

static void send_to(int k, uint64_t *p)
{
    mailbox *m = &box[k];
    pthread_mutex_lock(&m->mu);
    while (m->slot)
        pthread_cond_wait(&m->cv, &m->mu);
    m->slot = p;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

static uint64_t *receive(int k)
{
    mailbox *m = &box[k];
    pthread_mutex_lock(&m->mu);
    while (!m->slot && !m->closed)
        pthread_cond_wait(&m->cv, &m->mu);
    uint64_t *p = m->slot;
    m->slot = NULL;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    return p;
}

static void *pass_blocks(void *arg)
{
    int me = (int)(intptr_t)arg, bad = 0;
    for (uint64_t r = 0; r < ROUNDS; r++) {
        uint64_t *p = rayc__vpool_get();
        if (!p) {
            bad++;
            continue;
        }
        for (int i = 0; i < RAYC__VPOOL_BLOCK / 8; i++)
            p[i] = (uint64_t)me << 32 | r;
        send_to((me + 1) % THREADS, p);
        uint64_t *q = receive(me);
        uint64_t stamp = q[0];
        for (int i = 1; i < RAYC__VPOOL_BLOCK / 8; i++)
            bad += q[i] != stamp;
        bad += (int)(stamp >> 32) != (me + THREADS - 1) % THREADS;
        rayc__vpool_put(q);
    }
    pthread_mutex_lock(&bad_mu);
    bad_stamps += bad;
    pthread_mutex_unlock(&bad_mu);
    return NULL;
}

static void test_threads_pass_blocks(void)
{
    pthread_t th[THREADS];
    for (int k = 0; k < THREADS; k++) {
        pthread_mutex_init(&box[k].mu, NULL);
        pthread_cond_init(&box[k].cv, NULL);
        box[k].slot = NULL;
        box[k].closed = 0;
    }
    for (int k = 0; k < THREADS; k++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[k], NULL, pass_blocks, (void *)(intptr_t)k), 0);
    for (int k = 0; k < THREADS; k++)
        pthread_join(th[k], NULL);
    CU_ASSERT_EQUAL(bad_stamps, 0);
    for (int k = 0; k < THREADS; k++) {
        pthread_mutex_destroy(&box[k].mu);
        pthread_cond_destroy(&box[k].cv);
    }
    rayc__vpool_drain();
    CU_ASSERT_EQUAL(rayc__vpool_shared(), 0);
}

static const unit_test tests[] = {
    {"own blocks reused", test_own_blocks_reused},
    {"blocks cross threads", test_blocks_cross_threads},
    {"shared list bounded", test_shared_list_bounded},
    {"four threads pass blocks", test_threads_pass_blocks},
};

int main(void)
{
    return UNIT_RUN("value_pool", tests);
}
