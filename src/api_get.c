/* api_get.c: the public get and wait calls, and the driver's view of the cluster and tasks. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "gcs_int.h"
#include "raylet_int.h"
#include "status_int.h"
#include "store.h"

static int check_refs(const char *fn, const rayc_ref *refs, int n, double timeout,
                      rayc__oid **ids)
{
    if (n < 0 || (n > 0 && !refs))
        return rayc__fail(RAYC_EINVAL, "%s: bad refs/n", fn);
    if (isnan(timeout))
        return rayc__fail(RAYC_EINVAL, "%s: timeout is NaN", fn);
    *ids = malloc((size_t)(n ? n : 1) * sizeof **ids);
    if (!*ids)
        return rayc__fail(RAYC_ENOMEM, "%s: out of memory", fn);
    for (int i = 0; i < n; i++) {
        (*ids)[i] = rayc__oid_of_ref(refs[i]);
        if (rayc__oid_is_null((*ids)[i])) {
            free(*ids);
            return rayc__fail(RAYC_EINVAL, "%s: ref %d is a null ref", fn, i);
        }
    }
    return 0;
}

/* Turn a finished GET's first failure into the call's status and message. */
static int get_error(const rayc__op *op, double timeout)
{
    if (op->status == RAYC_ERELEASED && op->bad_index >= 0)
        return rayc__fail(RAYC_ERELEASED, "rayc_get: ref %d was released or never existed",
                          op->bad_index);
    /* A get ends early when one object failed, while others may still be pending (their
     * entries say RAYC_ETIMEDOUT): the failure is what to report. */
    for (int i = 0; i < op->n; i++)
        if (op->res[i].status && op->res[i].status != RAYC_ETIMEDOUT)
            return rayc__fail(op->res[i].status, "rayc_get: %s",
                              op->res[i].err ? op->res[i].err : rayc_strerror(op->res[i].status));
    if (op->status == RAYC_ETIMEDOUT)
        return rayc__fail(RAYC_ETIMEDOUT, "rayc_get: timed out after %g s (the refs stay "
                                          "usable)", timeout);
    return rayc__fail(op->status, "rayc_get: %s", rayc_strerror(op->status));
}

/* The driver's get of objects that are all ready, with values inline in the control service
 * or in this rank's store: take the values under the lock, with no request. 1 when done (out
 * filled), 0 when nothing was taken because an object is still pending, -1 when the general
 * path must answer (an unknown, released or failed object, a value held by another rank, or
 * one that could not be restored). Caller holds rt->mu. */
static int get_ready_local(rayc__runtime *rt, const rayc_ref *refs, int n, rayc_value **out)
{
    int pending = 0;
    for (int i = 0; i < n; i++) {
        gobj *o = rayc__gobj_find(rt->gcs, rayc__oid_of_ref(refs[i]));
        if (!o || !o->handle || o->state == RAYC__OBJ_FAILED ||
            (o->state == RAYC__OBJ_READY && !o->val && rayc__gobj_loc(o) != rt->rank))
            return -1;
        pending |= o->state == RAYC__OBJ_PENDING;
    }
    if (pending)
        return 0;
    for (int i = 0; i < n; i++) {
        rayc__oid id = rayc__oid_of_ref(refs[i]);
        gobj *o = rayc__gobj_find(rt->gcs, id);
        out[i] = o->val ? rayc__value_ref(o->val) : rayc__store_get(rt, id);
        if (!out[i]) { /* could not be restored: the general path reports it */
            for (int j = 0; j < i; j++) {
                rayc__value_unref(out[j]);
                out[j] = NULL;
            }
            return -1;
        }
    }
    return 1;
}

#define GET_POLL_SECONDS 30e-6 /* as long as a waiting get polls in the general path */

/* The driver's get of a few objects of rank 0's control service. When one is still pending,
 * poll the control service's completion counter (rt->done_gen) without the lock for as long
 * as the general path would poll its request, and look again under the lock whenever it
 * moves: a task that ends within microseconds then costs no request record, waiter or
 * wake-up. 1 when done (out filled); 0 when the general path must answer, *polled set to the
 * seconds spent polling (a task's get goes there at once: it lends its CPUs first). */
static int get_local_fast(rayc__runtime *rt, const rayc_ref *refs, int n, rayc_value **out,
                          double timeout, double *polled)
{
    double budget = timeout >= 0 && timeout < GET_POLL_SECONDS ? timeout : GET_POLL_SECONDS;
    double t0 = -1;
    int polling = 0, expired = 0;
    rayc__lock(rt);
    for (;;) {
        int st = get_ready_local(rt, refs, n, out);
        if (st != 0 || expired || timeout == 0 || rayc__cur_task) {
            if (polling)
                rayc__poll_end(rt);
            pthread_mutex_unlock(&rt->mu);
            return st == 1;
        }
        if (!polling) {
            polling = 1;
            rayc__poll_begin(rt); /* completions now wait in the queue for us */
            t0 = rayc__now();
        }
        unsigned gen = atomic_load_explicit(&rt->done_gen, memory_order_relaxed);
        pthread_mutex_unlock(&rt->mu);
        for (int i = 0; atomic_load_explicit(&rt->done_gen, memory_order_acquire) == gen &&
                        !atomic_load_explicit(&rt->doneq, memory_order_acquire);
             i++) {
            if ((i & 63) == 63 && (*polled = rayc__now() - t0) > budget) {
                expired = 1;
                break;
            }
            rayc__cpu_relax();
        }
        rayc__lock(rt); /* enters queued completions */
    }
}

int rayc_get(const rayc_ref *refs, int n, rayc_value **out, double timeout)
{
    rayc__oid *ids;
    for (int i = 0; out && i < n; i++)
        out[i] = NULL;
    rayc__runtime *rt = rayc__usable("rayc_get", 0);
    if (!rt)
        return RAYC_ESTATE;
    if (n > 0 && !out)
        return rayc__fail(RAYC_EINVAL, "rayc_get: NULL out");
    double polled = 0;
    if (rt->rank == 0 && refs && n > 0 && n <= 16 && !isnan(timeout)) {
        int fast = 1;
        for (int i = 0; i < n && fast; i++)
            fast = !rayc__oid_is_null(rayc__oid_of_ref(refs[i]));
        if (fast && get_local_fast(rt, refs, n, out, timeout, &polled))
            return 0;
    }
    int rc = check_refs("rayc_get", refs, n, timeout, &ids);
    if (rc)
        return rc;
    rayc__op op;
    rayc__op_init(&op, RAYC__OP_GET, ids, n, n);
    op.bad_index = -1;
    op.polled = polled > 0;
    op.res = calloc((size_t)(n ? n : 1), sizeof *op.res);
    if (!op.res) {
        free(ids);
        return rayc__fail(RAYC_ENOMEM, "rayc_get: out of memory");
    }
    rayc__lock(rt);
    rc = rayc__client_op(rt, &op, timeout < 0 ? -1.0 : timeout > polled ? timeout - polled : 0);
    pthread_mutex_unlock(&rt->mu);
    if (!rc && op.status)
        rc = get_error(&op, timeout);
    for (int i = 0; i < n; i++) {
        if (!rc)
            out[i] = op.res[i].val;
        else
            rayc__value_unref(op.res[i].val);
        free(op.res[i].err);
    }
    free(op.res);
    free(ids);
    rayc__op_destroy(&op);
    return rc;
}

static int get_scalars(const rayc_ref *refs, int n, void *out, int want_f64, double timeout,
                       const char *fn)
{
    if (n > 0 && !out)
        return rayc__fail(RAYC_EINVAL, "%s: NULL out", fn);
    rayc_value *small[16];
    rayc_value **v = n <= 16 ? small : malloc((size_t)n * sizeof *v);
    if (!v)
        return rayc__fail(RAYC_ENOMEM, "%s: out of memory", fn);
    int rc = rayc_get(refs, n, v, timeout);
    char err[160];
    for (int i = 0; !rc && i < n; i++) {
        int r = want_f64 ? rayc__value_to_f64(v[i], (double *)out + i, err, sizeof err)
                         : rayc__value_to_i64(v[i], (int64_t *)out + i, err, sizeof err);
        if (r)
            rc = rayc__fail(r, "%s: ref %d: %s", fn, i, err);
    }
    for (int i = 0; i < n; i++)
        rayc__value_unref(v[i]); /* rayc_get set every slot, NULL on error */
    if (v != small)
        free(v);
    return rc;
}

int rayc_get_i64(const rayc_ref *refs, int n, int64_t *out, double timeout)
{
    return get_scalars(refs, n, out, 0, timeout, "rayc_get_i64");
}

int rayc_get_f64(const rayc_ref *refs, int n, double *out, double timeout)
{
    return get_scalars(refs, n, out, 1, timeout, "rayc_get_f64");
}

int rayc_wait(const rayc_ref *refs, int n, int num_returns, double timeout, rayc_ref *ready,
              int *nready, rayc_ref *pending, int *npending)
{
    rayc__runtime *rt = rayc__usable("rayc_wait", 0);
    rayc__oid *ids;
    if (!rt)
        return RAYC_ESTATE;
    if (num_returns < 1 || num_returns > n)
        return rayc__fail(RAYC_EINVAL, "rayc_wait: num_returns %d must be in 1..%d",
                          num_returns, n);
    if ((ready && !nready) || (!ready && nready) || (pending && !npending) ||
        (!pending && npending))
        return rayc__fail(RAYC_EINVAL, "rayc_wait: an output array and its count go together");
    int rc = check_refs("rayc_wait", refs, n, timeout, &ids);
    if (rc)
        return rc;
    rayc__op op;
    rayc__op_init(&op, RAYC__OP_WAIT, ids, n, num_returns);
    op.bad_index = -1;
    op.order = malloc((size_t)n * sizeof *op.order);
    uint8_t *is_ready = calloc((size_t)n, 1);
    if (!op.order || !is_ready) {
        free(op.order);
        free(is_ready);
        free(ids);
        return rayc__fail(RAYC_ENOMEM, "rayc_wait: out of memory");
    }
    rayc__lock(rt);
    rc = rayc__client_op(rt, &op, timeout < 0 ? -1.0 : timeout);
    pthread_mutex_unlock(&rt->mu);
    if (!rc && op.status == RAYC_ERELEASED)
        rc = rayc__fail(RAYC_ERELEASED, "rayc_wait: ref %d was released or never existed",
                        op.bad_index);
    if (!rc) {
        for (int k = 0; k < op.nready; k++) {
            is_ready[op.order[k]] = 1;
            if (ready)
                ready[k] = refs[op.order[k]];
        }
        int p = 0;
        for (int i = 0; i < n; i++)
            if (!is_ready[i] && pending)
                pending[p++] = refs[i];
        if (nready)
            *nready = op.nready;
        if (npending)
            *npending = n - op.nready;
    }
    free(op.order);
    free(is_ready);
    free(ids);
    rayc__op_destroy(&op);
    return rc;
}

/* ---------------------------------------------------------------- cluster view */

static void to_public(const rayc__runtime *rt, const rayc__resvec *v, rayc_resources *out)
{
    memset(out, 0, sizeof *out);
    out->cpu = v->q[RAYC__RES_CPU] > 0 ? v->q[RAYC__RES_CPU] : 0;
    out->gpu = v->q[RAYC__RES_GPU] > 0 ? v->q[RAYC__RES_GPU] : 0;
    out->memory = v->q[RAYC__RES_MEM] > 0 ? v->q[RAYC__RES_MEM] : 0;
    out->ncustom = rt->ncustom;
    for (int i = 0; i < rt->ncustom; i++) {
        snprintf(out->custom[i].name, sizeof out->custom[i].name, "%s", rt->custom_names[i]);
        double q = v->q[RAYC__RES_CUSTOM0 + i];
        out->custom[i].qty = q > 0 ? q : 0;
    }
}

int rayc_nodes(rayc_node_info *out, int max, int *n)
{
    rayc__runtime *rt = rayc__usable("rayc_nodes", 1);
    if (!rt)
        return RAYC_ESTATE;
    if (!n || max < 0 || (max > 0 && !out))
        return rayc__fail(RAYC_EINVAL, "rayc_nodes: bad out/max/n");
    rayc__lock(rt);
    for (int r = 0; r < rt->size && r < max; r++) {
        rayc_node_info *ni = &out[r];
        const rayc__node *nd = &rt->nodes[r];
        rayc__resvec avail;
        memset(ni, 0, sizeof *ni);
        ni->rank = r;
        ni->node_id = nd->node_id;
        ni->local_rank = nd->local_rank;
        snprintf(ni->host, sizeof ni->host, "%s", nd->host);
        ni->num_workers = !nd->accepts_tasks ? 0
                          : nd->total.q[RAYC__RES_CPU] < 1 ? 1
                                                           : (int)ceil(nd->total.q[RAYC__RES_CPU]);
        to_public(rt, &nd->total, &ni->total);
        rayc__gcs_available(rt, r, &avail);
        to_public(rt, &avail, &ni->available);
    }
    *n = rt->size;
    pthread_mutex_unlock(&rt->mu);
    return 0;
}

static int sum_resources(rayc_resources *out, int available, const char *fn)
{
    rayc__runtime *rt = rayc__usable(fn, 1);
    if (!rt)
        return RAYC_ESTATE;
    if (!out)
        return rayc__fail(RAYC_EINVAL, "%s: NULL out", fn);
    rayc__resvec sum, v;
    memset(&sum, 0, sizeof sum);
    rayc__lock(rt);
    for (int r = 0; r < rt->size; r++) {
        if (!rt->nodes[r].accepts_tasks)
            continue;
        if (available)
            rayc__gcs_available(rt, r, &v);
        else
            v = rt->nodes[r].total;
        for (int k = 0; k < RAYC__RES_MAX; k++)
            sum.q[k] += v.q[k] > 0 ? v.q[k] : 0;
    }
    pthread_mutex_unlock(&rt->mu);
    to_public(rt, &sum, out);
    return 0;
}

int rayc_cluster_resources(rayc_resources *out)
{
    return sum_resources(out, 0, "rayc_cluster_resources");
}

int rayc_available_resources(rayc_resources *out)
{
    return sum_resources(out, 1, "rayc_available_resources");
}

int rayc_store_stats(rayc_store_info *out, int max, int *n)
{
    rayc__runtime *rt = rayc__usable("rayc_store_stats", 1);
    if (!rt)
        return RAYC_ESTATE;
    if (!n || max < 0 || (max > 0 && !out))
        return rayc__fail(RAYC_EINVAL, "rayc_store_stats: bad out/max/n");
    rayc__lock(rt);
    rayc__gmsg m; /* rank 0's own figures are current */
    rayc__store_encode_stats(rt, rayc__gmsg_begin(rt, &m, RAYC__M_STATS));
    rayc__gmsg_end(rt, &m);
    for (int r = 0; r < rt->size && r < max; r++) {
        out[r] = rt->gcs->stats[r];
        out[r].rank = r;
    }
    *n = rt->size;
    pthread_mutex_unlock(&rt->mu);
    return 0;
}

const char *rayc_task_state_name(rayc_task_state s)
{
    static const char *const names[] = {"PENDING_ARGS_AVAIL", "PENDING_NODE_ASSIGNMENT",
                                        "SUBMITTED_TO_WORKER", "RUNNING", "FINISHED", "FAILED"};
    return (unsigned)s < 6 ? names[s] : "UNKNOWN";
}

int rayc_task_state_of(rayc_ref ref, rayc_task_state *out)
{
    rayc__runtime *rt = rayc__usable("rayc_task_state_of", 1);
    if (!rt)
        return RAYC_ESTATE;
    if (!out)
        return rayc__fail(RAYC_EINVAL, "rayc_task_state_of: NULL out");
    rayc__lock(rt);
    int rc = rayc__gcs_task_state(rt, rayc__oid_of_ref(ref), out);
    pthread_mutex_unlock(&rt->mu);
    return rc;
}

int rayc_list_tasks(rayc_task_info *out, int max, int *n)
{
    rayc__runtime *rt = rayc__usable("rayc_list_tasks", 1);
    if (!rt)
        return RAYC_ESTATE;
    if (!n || max < 0 || (max > 0 && !out))
        return rayc__fail(RAYC_EINVAL, "rayc_list_tasks: bad out/max/n");
    rayc__lock(rt);
    int rc = rayc__gcs_list_tasks(rt, out, max, n);
    pthread_mutex_unlock(&rt->mu);
    return rc;
}
