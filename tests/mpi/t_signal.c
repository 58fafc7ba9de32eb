/* t_signal.c: walltime handling: a SIGUSR1 caught on the last rank (as Slurm's --signal sends
 * it) stops the job: the driver's callback runs and rayc_stop_requested() tells the signal,
 * undispatched tasks fail with RAYC_ECANCELLED, running tasks finish, new submissions are
 * refused, and shutdown prints the summary. */
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "mpitest.h"

static atomic_int callback_signal;

static void on_stop(int signum, void *arg)
{
    (void)arg;
    atomic_store(&callback_signal, signum);
}

static int nap(rayc_task *t)
{
    usleep((useconds_t)rayc_arg_i64(t, 0) * 1000);
    return rayc_return_i64(t, 0, rayc_task_rank(t));
}
RAYC_REMOTE(nap);

static int send_usr1(rayc_task *t)
{
    raise(SIGUSR1);
    return rayc_return_i64(t, 0, rayc_task_rank(t));
}
RAYC_REMOTE(send_usr1);

int main(int argc, char **argv)
{
    rayc_config *cfg;
    if (rayc_config_create(&cfg) || rayc_config_set(cfg, "num_cpus", "1") ||
        rayc_init(&argc, &argv, cfg)) {
        fprintf(stderr, "init: %s\n", rayc_last_error());
        return 1;
    }
    rayc_config_destroy(cfg);
    int size = rayc_size();
    MT_CHECK(rayc_stop_requested() == 0);
    MT_OK(rayc_on_stop(on_stop, NULL));
    /* One long task per rank occupies every worker; more wait in the queue. */
    enum { EXTRA = 6 };
    rayc_ref busy[64], queued[EXTRA], sig;
    rayc_opts pin = RAYC_OPTS_INHERIT;
    pin.strategy = RAYC_SCHED_NODE_AFFINITY;
    for (int r = 0; r < size && r < 64; r++) {
        pin.affinity_rank = r;
        MT_OK(rayc_submit_ex(&busy[r], 1, nap, RAYC_ARGS(rayc_i64(r == size - 1 ? 0 : 2500)), &pin));
    }
    for (int i = 0; i < EXTRA; i++)
        MT_OK(rayc_submit(&queued[i], nap, RAYC_ARGS(rayc_i64(1500))));
    /* Wait until every pinned task runs: a task not started when the stop comes is
     * cancelled, which is right but not what this test checks. */
    for (int r = 0; r < size && r < 64; r++) {
        rayc_task_state st = RAYC_TASK_PENDING_NODE_ASSIGNMENT;
        double w0 = mt_now();
        while (rayc_task_state_of(busy[r], &st) == 0 && st < RAYC_TASK_RUNNING && mt_now() - w0 < 20)
            usleep(1000);
        MT_CHECK(st >= RAYC_TASK_RUNNING);
    }
    /* The signal comes from the last rank, like a walltime warning to every task. */
    pin.affinity_rank = size - 1;
    pin.num_cpus = 0;
    MT_OK(rayc_submit_ex(&sig, 1, send_usr1, RAYC_NO_ARGS, &pin));
    double t0 = mt_now();
    while (!rayc_stop_requested() && mt_now() - t0 < 10)
        usleep(1000);
    MT_CHECK(rayc_stop_requested() == SIGUSR1);
    while (!atomic_load(&callback_signal) && mt_now() - t0 < 10)
        usleep(1000);
    MT_CHECK(atomic_load(&callback_signal) == SIGUSR1);
    /* New work is refused; queued work was cancelled; running work finishes. */
    rayc_ref r;
    MT_CHECK(rayc_submit(&r, nap, RAYC_ARGS(rayc_i64(1))) == RAYC_ECANCELLED);
    int cancelled = 0;
    for (int i = 0; i < EXTRA; i++) {
        int64_t v;
        int rc = rayc_get_i64(&queued[i], 1, &v, 30.0);
        MT_CHECK(rc == 0 || rc == RAYC_ECANCELLED);
        if (rc == RAYC_ECANCELLED) {
            cancelled++;
            MT_CHECK(strstr(rayc_last_error(), "signal") != NULL);
        }
    }
    MT_CHECK(cancelled > 0);
    int64_t ranks[64];
    MT_OK(rayc_get_i64(busy, size < 64 ? size : 64, ranks, 30.0));
    for (int i = 0; i < size && i < 64; i++)
        MT_CHECK(ranks[i] == i);
    MT_OK(rayc_release(busy, size < 64 ? size : 64));
    MT_OK(rayc_release(queued, EXTRA));
    MT_OK(rayc_release(&sig, 1));
    return mt_finish();
}
