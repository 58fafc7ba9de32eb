/* t_mismatch.c: rayc_init fails with RAYC_EMISMATCH on every rank when one rank registered an
 * extra remote function, and the differing rank's message names it (one rank: init works). */
#include <mpi.h>
#include <string.h>

#include "mpitest.h"

static int alpha(rayc_task *t)
{
    return rayc_return_i64(t, 0, 1);
}
RAYC_REMOTE(alpha);

static int omega(rayc_task *t)
{
    return rayc_return_i64(t, 0, 2);
}
RAYC_REMOTE(omega, .num_returns = 1);

/* Registered by hand on the last rank only; its name sorts between alpha and omega. */
static int middle_extra(rayc_task *t)
{
    return rayc_return_i64(t, 0, 3);
}

static const rayc_remote_def extra_def = {
    middle_extra, "middle_extra", {RAYC_OPTS_DEFAULTS}};

/* Every rank: init refuses, and says why. */
static void check_mismatch(int rank, int size)
{
    int rc = rayc_init(NULL, NULL, NULL);
    const char *msg = rayc_last_error();
    MT_CHECK(rc == RAYC_EMISMATCH);
    MT_CHECK(strstr(msg, "different remote functions") != NULL);
    if (rank == size - 1)
        MT_CHECK(strstr(msg, "middle_extra") != NULL);
    else
        MT_CHECK(strstr(msg, "middle_extra") == NULL);
    MT_CHECK(!rayc_is_initialized());
    /* the runtime did not start: calls still refuse */
    rayc_ref r;
    MT_CHECK(rayc_submit(&r, alpha, RAYC_NO_ARGS) == RAYC_ESTATE);
}

/* One rank: nothing differs, so init and a task work. */
static void check_single(void)
{
    MT_OK(rayc_init(NULL, NULL, NULL));
    rayc_ref r[2];
    int64_t v[2] = {0, 0};
    MT_OK(rayc_submit(&r[0], alpha, RAYC_NO_ARGS));
    MT_OK(rayc_submit(&r[1], omega, RAYC_NO_ARGS));
    MT_OK(rayc_get_i64(r, 2, v, 30.0));
    MT_CHECK(v[0] == 1 && v[1] == 2);
    MT_OK(rayc_release(r, 2));
    MT_OK(rayc_shutdown());
}

int main(int argc, char **argv)
{
    int provided = 0, rank = 0, size = 1;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS ||
        provided < MPI_THREAD_MULTIPLE) {
        fprintf(stderr, "MPI_Init_thread: no MPI_THREAD_MULTIPLE\n");
        return 1;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size > 1) {
        if (rank == size - 1)
            rayc_register_remote(&extra_def);
        check_mismatch(rank, size);
    } else {
        check_single();
    }
    /* MPI still works for the program after a failed init: sum every rank's counts. */
    int mine[2] = {mt_pass, mt_fail}, all[2] = {0, 0};
    MPI_Reduce(mine, all, 2, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0)
        printf("%d passed, %d failed\n", all[0], all[1]);
    MPI_Finalize();
    return rank == 0 && all[1] ? 1 : 0;
}
