/* arena.h: an allocator of offsets inside one contiguous range of bytes that someone else owns
 * (the object store's MPI_Win_allocate'd window). Pure logic: no MPI, no threads, no globals.
 *
 * The arena never reads or writes the range: it only hands out offsets into [0, capacity), so it
 * works the same for a range that is not mapped (tests account terabytes). Only its own
 * bookkeeping is malloc'ed. Every block starts at a multiple of the arena's alignment, measured
 * from the start of the range; the caller makes the range's base address aligned at least as
 * much (MPI_Win_allocate gives page-aligned memory) for the offsets to be aligned in memory.
 *
 * Policy: best fit (smallest free block that fits, lowest offset among equal sizes), the
 * allocation takes the front of the block, and a freed block coalesces with free neighbours at
 * once, so two adjacent free blocks never exist. alloc and free are O(log n) expected in the
 * number of blocks (two treaps: free blocks by (size, offset), allocated blocks by offset).
 *
 * Threads: not thread-safe. One arena is used by one thread at a time; the caller (the store)
 * holds its lock around every call, the read-only queries included. */
#ifndef RAYC_ARENA_H
#define RAYC_ARENA_H

#include <stddef.h>
#include <stdint.h>

#define RAYC__ARENA_DEFAULT_ALIGN 64 /* a cache line; enough for every rayc dtype */

/* Return codes of the arena calls. */
enum rayc__arena_status {
    RAYC__ARENA_OK = 0,
    RAYC__ARENA_ENOSPC = -1, /* no free block is large enough (the arena is unchanged) */
    RAYC__ARENA_ENOMEM = -2, /* malloc of bookkeeping failed (the arena is unchanged) */
    RAYC__ARENA_EINVAL = -3  /* bad argument: NULL, alignment not a power of two, or an offset
                                that is not the start of an allocated block */
};

struct rayc__arena_node;
struct rayc__arena_slab;

/* Embed it in the owner's struct. The fields are private to arena.c. */
typedef struct rayc__arena {
    size_t capacity;      /* usable bytes: the given capacity rounded down to align */
    size_t align;
    size_t used;          /* bytes in allocated blocks (each rounded up to align) */
    size_t nallocs;       /* allocated blocks */
    size_t nfree_blocks;  /* free blocks (1 when empty, more when fragmented) */
    struct rayc__arena_node *head;      /* first block in address order */
    struct rayc__arena_node *free_root; /* treap of free blocks keyed by (size, offset) */
    struct rayc__arena_node *used_root; /* treap of allocated blocks keyed by offset */
    struct rayc__arena_node *spare;     /* recycled bookkeeping nodes */
    struct rayc__arena_slab *slabs;     /* bookkeeping memory, freed by destroy */
    uint64_t rng;                       /* treap priorities */
} rayc__arena;

/* Set up a for a range of capacity bytes (rounded down to a multiple of align) with every block
 * aligned to align, a power of two (0 means RAYC__ARENA_DEFAULT_ALIGN). The whole range starts
 * as one free block. Returns RAYC__ARENA_OK, RAYC__ARENA_EINVAL (a NULL or align not a power of
 * two) or RAYC__ARENA_ENOMEM; on error *a is left zeroed, so destroy is harmless. */
int rayc__arena_init(rayc__arena *a, size_t capacity, size_t align);

/* Free the bookkeeping and zero *a. Outstanding offsets become meaningless; the range itself is
 * the caller's. NULL and an already destroyed arena are harmless. */
void rayc__arena_destroy(rayc__arena *a);

/* Reserve size bytes (rounded up to the alignment; 0 reserves one alignment unit so that every
 * allocation has its own offset) and store the block's offset into *offset.
 * Returns RAYC__ARENA_OK, RAYC__ARENA_ENOSPC when no free block is large enough (possible even
 * when rayc__arena_free_bytes() >= size: see rayc__arena_largest_free), RAYC__ARENA_ENOMEM, or
 * RAYC__ARENA_EINVAL for NULL arguments. *offset is written only on success. */
int rayc__arena_alloc(rayc__arena *a, size_t size, size_t *offset);

/* Give back the block that starts at offset (a value returned by rayc__arena_alloc); it merges
 * with free neighbours. Returns RAYC__ARENA_OK, or RAYC__ARENA_EINVAL (and changes nothing) when
 * offset is not the start of an allocated block: a double free or a wrong offset. */
int rayc__arena_free(rayc__arena *a, size_t offset);

/* Size of the allocated block that starts at offset (its rounded size), or 0 when none does. */
size_t rayc__arena_block_size(const rayc__arena *a, size_t offset);

/* Accounting, all in bytes. used + free_bytes == capacity at all times. */
size_t rayc__arena_capacity(const rayc__arena *a);
size_t rayc__arena_used(const rayc__arena *a);
size_t rayc__arena_free_bytes(const rayc__arena *a);
/* The largest size that rayc__arena_alloc can satisfy now. O(log n). */
size_t rayc__arena_largest_free(const rayc__arena *a);
/* Number of allocated blocks and of free blocks (fragmentation: 1 free block means none). */
size_t rayc__arena_nallocs(const rayc__arena *a);
size_t rayc__arena_nfree_blocks(const rayc__arena *a);

/* Verify every internal invariant (blocks tile [0, capacity), no adjacent free blocks,
 * alignment, counters, treap order and heap property). O(n): for tests and debug dumps.
 * Returns 0, or -1 with a description of the first violation in err (when err is not NULL). */
int rayc__arena_check(const rayc__arena *a, char *err, size_t errlen);

#endif /* RAYC_ARENA_H */
