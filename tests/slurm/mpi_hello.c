/* Placeholder MPI job for the Slurm tests: thread level, rank/size/host/job id, one-sided get. */

/*
 * Each rank prints one line
 *   hello rank=R size=S host=H jobid=J thread=multiple get=G
 * where G is the rank of the right-hand neighbour read with MPI_Get from an MPI_Win_allocate
 * window (the window kind and the MPI_THREAD_MULTIPLE level rayc relies on). The program exits
 * nonzero if MPI_THREAD_MULTIPLE is not provided or the get returns the wrong value.
 */

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* get_right_rank: return the rank of the right-hand neighbour, read through a one-sided get. */
static int get_right_rank(int rank, int size)
{
    int *base = NULL;
    int value = -1;
    int right = (rank + 1) % size;
    MPI_Win win;

    MPI_Win_allocate(sizeof(int), sizeof(int), MPI_INFO_NULL, MPI_COMM_WORLD, &base, &win);
    MPI_Win_lock(MPI_LOCK_EXCLUSIVE, rank, 0, win);
    *base = rank;
    MPI_Win_unlock(rank, win);
    MPI_Barrier(MPI_COMM_WORLD);

    MPI_Win_lock(MPI_LOCK_SHARED, right, 0, win);
    MPI_Get(&value, 1, MPI_INT, right, 0, 1, MPI_INT, win);
    MPI_Win_unlock(right, win);
    MPI_Barrier(MPI_COMM_WORLD);

    MPI_Win_free(&win);
    return value;
}

int main(int argc, char **argv)
{
    int provided = MPI_THREAD_SINGLE;
    int rank = -1;
    int size = 0;
    int got;
    int ok;
    int all_ok = 0;
    char host[256] = "?";
    const char *jobid = getenv("SLURM_JOB_ID");

    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    gethostname(host, sizeof host - 1);

    got = get_right_rank(rank, size);
    ok = provided == MPI_THREAD_MULTIPLE && got == (rank + 1) % size;
    printf("hello rank=%d size=%d host=%s jobid=%s thread=%s get=%d\n", rank, size, host,
           jobid ? jobid : "none", provided == MPI_THREAD_MULTIPLE ? "multiple" : "lower", got);
    fflush(stdout);

    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    MPI_Finalize();
    return all_ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
