/* doorbell.h: a wake word per rank in node-shared memory, so that a rank's sleeping progress
 * loop wakes when another rank of its node sends it something (see doorbell.c). */
#ifndef RAYC_DOORBELL_H
#define RAYC_DOORBELL_H

#include <mpi.h>
#include <stdint.h>

/* One rank's bell: one cache line, in memory its node's ranks share (or private memory). Only
 * the owner waits on it; anyone may ring it. Access through the functions below. */
typedef struct rayc__bell {
    uint32_t seq;      /* the futex word: every ring that finds the owner asleep bumps it */
    uint32_t sleeping; /* 1 from rayc__bell_announce until the owner's wait returns */
    char pad[56];
} rayc__bell;

/* The owner's side, the eventcount protocol:
 *     seq = rayc__bell_seq(b);         (under the lock that guards local work)
 *     if no local work: rayc__bell_announce(b);
 *     (unlock; check sources no lock covers, e.g. an MPI probe)
 *     found work ? rayc__bell_cancel(b) : rayc__bell_wait(b, seq, timeout);
 * A ring after the announcement bumps seq, so the wait returns at once; a producer that saw
 * no sleeper had made its work visible before the announcement, so a check after the
 * announcement finds it. No wake is lost either way. */
uint32_t rayc__bell_seq(const rayc__bell *b);
void rayc__bell_announce(rayc__bell *b);
void rayc__bell_cancel(rayc__bell *b);
/* Sleep (futex, shared between processes) until rung or timeout seconds pass, unless the bell
 * was rung since seq was read. Returns 1 when rung, 0 on timeout (or a signal). */
int rayc__bell_wait(rayc__bell *b, uint32_t seq, double timeout);
/* Producer's side, after making its work visible: wake the owner if it sleeps. Costs one
 * fence and one load when the owner is awake. Returns 1 when it woke (rang) it. */
int rayc__bell_ring(rayc__bell *b);

/* The bells of one communicator's ranks. */
typedef struct rayc__bells rayc__bells;

/* Collective over comm: one bell per rank in a shared-memory window of each node when MPI
 * can make one (MPI_Win_allocate_shared), else a private bell per rank that only its own
 * process rings. Returns 0 (*out set) or -1 when out of memory. */
int rayc__bells_create(MPI_Comm comm, rayc__bells **out);
/* Collective over the ranks of this node when the bells are shared; NULL is harmless. Call it
 * once no rank can ring any more. */
void rayc__bells_destroy(rayc__bells *bs);
rayc__bell *rayc__bells_mine(rayc__bells *bs);
/* 1 when other ranks of this node can ring this rank's bell. */
int rayc__bells_shared(const rayc__bells *bs);
/* 1 when rank shares this node's bells: its sends to this rank ring this rank's bell. */
int rayc__bells_near(const rayc__bells *bs, int rank);
/* Ring rank's bell when it shares this node (after a send to it). */
void rayc__bells_ring(rayc__bells *bs, int rank);

#endif /* RAYC_DOORBELL_H */
