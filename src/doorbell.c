/* doorbell.c: per-rank wake words ("doorbells") in node-shared memory.
 *
 * A progress loop with nothing to do sleeps. Threads of its own process wake it when they
 * queue work; a message from another rank would only be noticed at the next timeout, because
 * MPI offers no way to sleep until a message arrives. So every rank has a bell: a 32-bit
 * sequence word and a "sleeping" flag in one cache line of an MPI_Win_allocate_shared window
 * that the node's ranks map. The owner sleeps in FUTEX_WAIT on its word (the shared variant:
 * the word lives in a file mapping several processes share); a rank that sent it something
 * rings it: if the flag is set, clear it, bump the word, FUTEX_WAKE. An awake owner costs
 * a sender one fence and one load, no system call.
 *
 * Why no wake is lost (eventcount): the owner reads seq, then announces (sleeping = 1, full
 * fence), then checks for work, then waits only while the word still equals seq. A producer
 * makes its work visible, fences, then reads the flag. With both fences sequentially
 * consistent, either the producer sees the flag (and bumps the word, so the wait returns at
 * once or is woken) or the owner's check comes after the producer's work became visible (and
 * finds it). Clearing the flag with an exchange lets only one of several ringers make the
 * system call; the one that cleared it bumps the word, which suffices.
 *
 * When no shared window can be made (osc/pt2pt, or osc/sm unavailable) or a node holds one
 * rank, each rank's bell is private memory that only its own threads ring; other ranks'
 * messages are then noticed at the owner's next timeout, as before bells existed. Ranks on
 * other nodes never ring each other. */
#include "config.h"

#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "doorbell.h"
#include "log.h"

struct rayc__bells {
    MPI_Win win;       /* the node's bells; MPI_WIN_NULL when private */
    rayc__bell *mine;  /* this rank's bell: in win, or own */
    rayc__bell **peer; /* per rank of the communicator: its bell when in win, else NULL */
    rayc__bell own;
};

/* ---------------------------------------------------------------- one bell */

static long futex(uint32_t *word, int op, uint32_t val, const struct timespec *timeout)
{
    return syscall(SYS_futex, word, op, val, timeout, NULL, 0);
}

uint32_t rayc__bell_seq(const rayc__bell *b)
{
    return __atomic_load_n(&b->seq, __ATOMIC_ACQUIRE);
}

void rayc__bell_announce(rayc__bell *b)
{
    __atomic_store_n(&b->sleeping, 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* the flag before any later check for work */
}

void rayc__bell_cancel(rayc__bell *b)
{
    __atomic_store_n(&b->sleeping, 0, __ATOMIC_RELAXED);
}

int rayc__bell_wait(rayc__bell *b, uint32_t seq, double timeout)
{
    if (timeout < 0)
        timeout = 0;
    struct timespec ts;
    ts.tv_sec = (time_t)timeout;
    ts.tv_nsec = (long)((timeout - (double)ts.tv_sec) * 1e9);
    /* Returns at once (EAGAIN) when the word moved since seq was read. Not FUTEX_WAIT_PRIVATE:
     * the ringer may be another process. The timeout is relative (CLOCK_MONOTONIC). */
    futex(&b->seq, FUTEX_WAIT, seq, &ts);
    __atomic_store_n(&b->sleeping, 0, __ATOMIC_RELAXED);
    return rayc__bell_seq(b) != seq;
}

int rayc__bell_ring(rayc__bell *b)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* the caller's work before the flag's read */
    if (!__atomic_load_n(&b->sleeping, __ATOMIC_RELAXED))
        return 0;
    if (!__atomic_exchange_n(&b->sleeping, 0, __ATOMIC_ACQ_REL))
        return 0; /* another ringer took it: that one bumps the word */
    __atomic_fetch_add(&b->seq, 1, __ATOMIC_SEQ_CST);
    futex(&b->seq, FUTEX_WAKE, 1, NULL); /* one owner */
    return 1;
}

/* ---------------------------------------------------------------- a communicator's bells */

/* Collective over the node's ranks (local, lsize > 1): map one shared bell per rank and
 * record the bell of each rank of comm in bs->peer. bs may be NULL (this rank is out of
 * memory): it still takes part, and the node goes without. Returns 1 when every rank of the
 * node has the bells. */
static int share_bells(rayc__bells *bs, MPI_Comm comm, MPI_Comm local, int lsize)
{
    rayc__bell *base = NULL;
    MPI_Win win = MPI_WIN_NULL;
    int ok = 0, all = 0;
    int rc = MPI_Win_allocate_shared((MPI_Aint)sizeof(rayc__bell), (int)sizeof(rayc__bell),
                                     MPI_INFO_NULL, local, &base, &win);
    int *lranks = malloc(2 * (size_t)lsize * sizeof *lranks);
    if (rc == MPI_SUCCESS && base && bs && lranks) {
        memset(base, 0, sizeof *base);
        ok = 1;
    }
    /* Every rank clears its own bell before any passes this, so no ring is lost to a clear. */
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, local);
    if (!all) {
        if (rc == MPI_SUCCESS)
            MPI_Win_free(&win);
        free(lranks);
        return 0;
    }
    bs->win = win;
    bs->mine = base;
    MPI_Group lg, cg;
    MPI_Comm_group(local, &lg);
    MPI_Comm_group(comm, &cg);
    for (int i = 0; i < lsize; i++)
        lranks[i] = i;
    MPI_Group_translate_ranks(lg, lsize, lranks, cg, lranks + lsize);
    for (int i = 0; i < lsize; i++) {
        MPI_Aint size = 0;
        int disp = 0;
        void *p = NULL;
        MPI_Win_shared_query(win, i, &size, &disp, &p);
        if (lranks[lsize + i] != MPI_UNDEFINED)
            bs->peer[lranks[lsize + i]] = p;
    }
    MPI_Group_free(&lg);
    MPI_Group_free(&cg);
    free(lranks);
    return 1;
}

int rayc__bells_create(MPI_Comm comm, rayc__bells **out)
{
    int size = 1, lsize = 1, shared = 0;
    MPI_Comm local;
    MPI_Comm_size(comm, &size);
    rayc__bells *bs = calloc(1, sizeof *bs);
    if (bs)
        bs->peer = calloc((size_t)size, sizeof *bs->peer);
    if (bs && !bs->peer) {
        free(bs);
        bs = NULL;
    }
    /* Every rank takes part in the collectives, even one that is out of memory. */
    MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
    MPI_Comm_set_errhandler(local, MPI_ERRORS_RETURN);
    MPI_Comm_size(local, &lsize);
    if (lsize > 1)
        shared = share_bells(bs, comm, local, lsize);
    MPI_Comm_free(&local);
    if (!bs)
        return -1;
    if (!shared) {
        bs->win = MPI_WIN_NULL;
        bs->mine = &bs->own;
        if (lsize > 1)
            RAYC_LOG(RAYC__LOG_INFO, "no shared-memory doorbells (MPI_Win_allocate_shared "
                                     "failed): other ranks' messages wait for the next poll");
    }
    *out = bs;
    return 0;
}

void rayc__bells_destroy(rayc__bells *bs)
{
    if (!bs)
        return;
    if (bs->win != MPI_WIN_NULL)
        MPI_Win_free(&bs->win);
    free(bs->peer);
    free(bs);
}

rayc__bell *rayc__bells_mine(rayc__bells *bs)
{
    return bs->mine;
}

int rayc__bells_shared(const rayc__bells *bs)
{
    return bs->win != MPI_WIN_NULL;
}

int rayc__bells_near(const rayc__bells *bs, int rank)
{
    return bs->peer[rank] != NULL;
}

void rayc__bells_ring(rayc__bells *bs, int rank)
{
    rayc__bell *b = bs->peer[rank];
    if (b)
        rayc__bell_ring(b);
}
