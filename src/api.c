/* api.c: the public task and object calls: argument checks, option merging, feasibility, and
 * the hand-off to client.c under rt->mu. Every user mistake returns a code and a message here,
 * before anything is sent. */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "gcs_int.h"
#include "raylet_int.h"
#include "status_int.h"
#include "store.h"

/* The runtime, if the caller may use it here (rank 0, or inside a task on any rank;
 * driver_only: rank 0 only), else NULL with a message for rayc_last_error. */
rayc__runtime *rayc__usable(const char *fn, int driver_only)
{
    rayc__runtime *rt = rayc__rt;
    if (!rt || atomic_load(&rt->state) != RAYC__ST_RUNNING) {
        rayc__fail(RAYC_ESTATE, "%s: the runtime is not running (call rayc_init first; "
                                "nothing works after rayc_shutdown)", fn);
        return NULL;
    }
    if (driver_only && rt->rank != 0) {
        rayc__fail(RAYC_ESTATE, "%s: only rank 0 (the driver) may call this", fn);
        return NULL;
    }
    if (rt->rank != 0 && !rayc__cur_task) {
        rayc__fail(RAYC_ESTATE, "%s: on rank %d only tasks may call this", fn, rt->rank);
        return NULL;
    }
    return rt;
}

/* ---------------------------------------------------------------- options */

typedef rayc__fnopts eff_opts; /* options in effect for one submission */

static int merge_opts(rayc__runtime *rt, const rayc__fn_entry *e, const rayc_opts *c,
                      eff_opts *out, const char *api)
{
    rayc_opts o = e->opts;
    if (c) {
        if (c->num_returns != RAYC_INHERIT) o.num_returns = c->num_returns;
        if (c->num_cpus != RAYC_INHERIT) o.num_cpus = c->num_cpus;
        if (c->num_gpus != RAYC_INHERIT) o.num_gpus = c->num_gpus;
        if (c->memory != RAYC_INHERIT) o.memory = c->memory;
        if (c->resources) o.resources = c->resources;
        if (c->max_retries != RAYC_INHERIT) o.max_retries = c->max_retries;
        if (c->strategy != RAYC_INHERIT) o.strategy = c->strategy;
        if (c->affinity_rank != RAYC_INHERIT) o.affinity_rank = c->affinity_rank;
        if (c->affinity_soft != RAYC_INHERIT) o.affinity_soft = c->affinity_soft;
    }
    if (o.num_returns < 0 || o.num_returns > 1024 || !(o.num_cpus >= 0) || !(o.num_gpus >= 0) ||
        !(o.memory >= 0) || o.max_retries < 0 || o.max_retries > 65535 ||
        !isfinite(o.num_cpus + o.num_gpus + o.memory))
        return rayc__fail(RAYC_EINVAL, "%s(%s): option out of range (num_returns 0..1024, "
                                       "resources >= 0, max_retries 0..65535)", api, e->name);
    if (o.strategy < RAYC_SCHED_DEFAULT || o.strategy > RAYC_SCHED_NODE_AFFINITY)
        return rayc__fail(RAYC_EINVAL, "%s(%s): unknown strategy %d", api, e->name, o.strategy);
    memset(&out->demand, 0, sizeof out->demand);
    if (o.resources) {
        char names[RAYC_MAX_CUSTOM][32], err[200];
        int nnames = rt->ncustom;
        memcpy(names, rt->custom_names, sizeof names);
        if (rayc__res_parse(o.resources, names, &nnames, 1, &out->demand, err, sizeof err) != 0)
            return rayc__fail(RAYC_EINVAL, "%s(%s): resources: %s", api, e->name, err);
        for (int i = rt->ncustom; i < nnames; i++)
            if (out->demand.q[RAYC__RES_CUSTOM0 + i] > 0)
                return rayc__fail(RAYC_EINFEASIBLE, "%s(%s): no rank offers custom resource "
                                                    "'%s'", api, e->name, names[i]);
    }
    out->demand.q[RAYC__RES_CPU] = o.num_cpus;
    out->demand.q[RAYC__RES_GPU] = o.num_gpus;
    out->demand.q[RAYC__RES_MEM] = o.memory;
    out->o = o;
    out->ok = 1;
    return 0;
}

/* Can any rank ever run it? (Every rank knows every rank's totals.) */
static int feasible(rayc__runtime *rt, const rayc__fn_entry *e, const eff_opts *eo,
                    const char *api)
{
    const rayc_opts *o = &eo->o;
    if (o->strategy == RAYC_SCHED_NODE_AFFINITY && !o->affinity_soft) {
        int r = o->affinity_rank;
        if (r < 0 || r >= rt->size)
            return rayc__fail(RAYC_EINFEASIBLE, "%s(%s): affinity rank %d does not exist (%d "
                                                "ranks)", api, e->name, r, rt->size);
        if (!rt->nodes[r].accepts_tasks || !rayc__res_fits(&rt->nodes[r].total, &eo->demand))
            return rayc__fail(RAYC_EINFEASIBLE, "%s(%s): rank %d can never provide what the "
                                                "task needs", api, e->name, r);
        return 0;
    }
    for (int r = 0; r < rt->size; r++)
        if (rt->nodes[r].accepts_tasks && rayc__res_fits(&rt->nodes[r].total, &eo->demand))
            return 0;
    return rayc__fail(RAYC_EINFEASIBLE, "%s(%s): no rank can ever provide %g CPU, %g GPU, %g "
                                        "bytes of memory%s%s", api, e->name, o->num_cpus,
                      o->num_gpus, o->memory, o->resources ? " and " : "",
                      o->resources ? o->resources : "");
}

/* Every function's RAYC_REMOTE options, merged and checked once: a submission without
 * per-call options takes them as they are. A function whose defaults are invalid or
 * infeasible is marked so, and its submissions check again to report why. */
int rayc__fn_defaults_init(rayc__runtime *rt)
{
    int n = rayc__registry_count();
    rt->fn_defaults = calloc((size_t)n + 1, sizeof *rt->fn_defaults);
    if (!rt->fn_defaults)
        return rayc__fail(RAYC_ENOMEM, "rayc_init: out of memory");
    char keep[1024];
    snprintf(keep, sizeof keep, "%s", rayc_last_error()); /* the checks may leave messages */
    for (int i = 0; i < n; i++) {
        const rayc__fn_entry *e = rayc__registry_at((uint32_t)i);
        eff_opts *d = &rt->fn_defaults[e->index];
        d->ok = merge_opts(rt, e, NULL, d, "rayc_submit") == 0 &&
                feasible(rt, e, d, "rayc_submit") == 0;
    }
    rayc__fail_msg(0, keep);
    return 0;
}

/* ---------------------------------------------------------------- arguments */

static int check_args(const rayc__fn_entry *e, const rayc_arg *args, int nargs,
                      const char *api)
{
    if (nargs < 0 || (nargs > 0 && !args))
        return rayc__fail(RAYC_EINVAL, "%s(%s): %d arguments but args is NULL", api, e->name,
                          nargs);
    int declared = e->ndecl >= 0 ? e->ndecl : e->opts.num_args;
    if (declared >= 0 && nargs != declared)
        return rayc__fail(RAYC_EINVAL, "%s(%s): takes %d arguments, got %d", api, e->name,
                          declared, nargs);
    for (int i = 0; i < nargs; i++) {
        const rayc_arg *a = &args[i];
        rayc__vhdr h;
        if (a->kind == RAYC_ARG_REF) {
            if (rayc__oid_is_null(rayc__oid_of_ref(a->ref)))
                return rayc__fail(RAYC_EINVAL, "%s(%s): argument %d is a null ref", api,
                                  e->name, i);
            continue;
        }
        if (a->kind != RAYC_ARG_VALUE)
            return rayc__fail(RAYC_EINVAL, "%s(%s): argument %d was not made with a rayc_* "
                                           "argument helper", api, e->name, i);
        int rc = rayc__arg_check(a, &h);
        if (rc)
            return rayc__fail(rc, "%s(%s): argument %d: %s", api, e->name, i,
                              rayc_last_error());
        if (e->ndecl > i && e->decl[i] >= 0 && e->decl[i] != (int)a->dtype)
            return rayc__fail(RAYC_EINVAL, "%s(%s): argument %d is %s, declared %s", api,
                              e->name, i, rayc_dtype_name(a->dtype),
                              rayc_dtype_name((rayc_dtype)e->decl[i]));
    }
    return 0;
}

static void encode_spec(rayc__wbuf *b, rayc__oid id, const rayc__fn_entry *e,
                        const eff_opts *eo, const rayc_arg *args, int nargs,
                        const rayc__oid *big)
{
    rayc__put_oid(b, id);
    rayc__put_u32(b, e->index);
    rayc__put_u16(b, (uint16_t)eo->o.num_returns);
    rayc__put_u16(b, (uint16_t)eo->o.max_retries);
    rayc__put_u8(b, (uint8_t)eo->o.strategy);
    rayc__put_u8(b, (uint8_t)(eo->o.affinity_soft != 0));
    rayc__put_i32(b, eo->o.affinity_rank);
    rayc__put_demand(b, &eo->demand);
    rayc__put_u32(b, (uint32_t)nargs);
    for (int i = 0; i < nargs; i++) {
        if (args[i].kind == RAYC_ARG_REF || !rayc__oid_is_null(big[i])) {
            rayc__put_u8(b, RAYC_ARG_REF);
            rayc__put_oid(b, args[i].kind == RAYC_ARG_REF ? rayc__oid_of_ref(args[i].ref)
                                                          : big[i]);
            continue;
        }
        rayc__vhdr h;
        rayc__arg_check(&args[i], &h);
        rayc__put_u8(b, RAYC_ARG_VALUE);
        rayc__put_vhdr(b, &h);
        rayc__put_bytes(b, rayc__arg_data(&args[i]), (size_t)h.nbytes);
    }
}

/* Rank 0's submission as the control service's task record (no encoding); NULL when out of
 * memory. Small by-value arguments are copied; large ones were put as big (NULL: none). */
/* The control service's view of the arguments: refs (and large values put as big, NULL:
 * none) by id, small values copied. 0, or -1 when out of memory (no copy is left). */
static int fill_args(garg *a, const rayc_arg *args, int nargs, const rayc__oid *big)
{
    for (int i = 0; i < nargs; i++) {
        if (args[i].kind == RAYC_ARG_REF || (big && !rayc__oid_is_null(big[i]))) {
            a[i].id = args[i].kind == RAYC_ARG_REF ? rayc__oid_of_ref(args[i].ref) : big[i];
            continue;
        }
        rayc__vhdr h;
        rayc__arg_check(&args[i], &h);
        if (!(a[i].val = rayc__value_new(&h, rayc__arg_data(&args[i])))) {
            while (i-- > 0) {
                rayc__value_unref(a[i].val);
                a[i].val = NULL;
            }
            return -1;
        }
    }
    return 0;
}

static gtask *direct_task(rayc__gcs *g, rayc__oid id, const rayc__fn_entry *e, const eff_opts *eo,
                          const rayc_arg *args, int nargs, const rayc__oid *big)
{
    gtask *t = rayc__gtask_new(g, (uint32_t)nargs);
    if (!t)
        return NULL;
    t->id = id;
    t->fn = (uint32_t)e->index;
    t->num_returns = (uint16_t)eo->o.num_returns;
    t->max_retries = (uint16_t)eo->o.max_retries;
    if (fill_args(t->args, args, nargs, big) != 0) {
        rayc__gtask_free(g, t);
        return NULL;
    }
    return t;
}

/* A copy of a checked value argument: large ones straight into the object store. */
static rayc_value *copy_value(rayc__runtime *rt, const rayc_arg *a, const rayc__vhdr *h)
{
    if (h->nbytes > rt->inline_threshold)
        return rayc__store_new_value(rt, h, rayc__arg_data(a), 0);
    return rayc__value_new(h, rayc__arg_data(a));
}

/* Copy large by-value arguments (outside the lock); they become implicit puts. */
static int copy_big_args(rayc__runtime *rt, const rayc_arg *args, int nargs, rayc_value **big)
{
    for (int i = 0; i < nargs; i++) {
        rayc__vhdr h;
        big[i] = NULL;
        if (args[i].kind != RAYC_ARG_VALUE || rayc__arg_check(&args[i], &h) != 0 ||
            h.nbytes <= rt->inline_threshold)
            continue;
        if (!(big[i] = copy_value(rt, &args[i], &h))) {
            for (int j = 0; j < i; j++)
                rayc__value_unref(big[j]);
            return rayc__fail(RAYC_ENOMEM, "rayc_submit: cannot copy a %llu-byte argument",
                              (unsigned long long)h.nbytes);
        }
    }
    return 0;
}

/* Under rt->mu: implicit puts, the submission itself, then drop the implicit puts' handles
 * (the task's argument references keep them). */
static int submit_locked(rayc__runtime *rt, rayc__oid id, const rayc__fn_entry *e,
                         const eff_opts *eo, const rayc_arg *args, int nargs, rayc_value **big,
                         rayc__oid *bigid)
{
    int rc = 0;
    for (int i = 0; i < nargs; i++) {
        bigid[i] = (rayc__oid){0, 0, 0};
        if (big[i] && !rc)
            rc = rayc__client_put_value(rt, big[i], &bigid[i]);
        else if (big[i])
            rayc__value_unref(big[i]);
    }
    if (!rc) {
        rayc__gmsg m;
        rayc__wbuf *b;
        if (rt->rank == 0) {
            gtask *t = direct_task(rt->gcs, id, e, eo, args, nargs, bigid);
            rc = !t ? rayc__fail(RAYC_ENOMEM, "rayc_submit: out of memory")
                    : rayc__gcs_submit_direct(rt, t, &eo->demand, eo->o.strategy,
                                              eo->o.affinity_rank, eo->o.affinity_soft != 0);
        } else {
            b = rayc__gmsg_begin(rt, &m, RAYC__M_SUBMIT);
            encode_spec(b, id, e, eo, args, nargs, bigid);
            rayc__gmsg_end(rt, &m);
        }
    }
    for (int i = 0; i < nargs; i++)
        if (!rayc__oid_is_null(bigid[i])) {
            char keep[1024];
            snprintf(keep, sizeof keep, "%s", rayc_last_error());
            rayc__client_release(rt, &bigid[i], 1);
            rayc__fail_msg(rc, keep); /* keep the submit's message */
        }
    return rc;
}

/* Only small by-value arguments: the submission can be queued. A ref argument must be
 * checked against the control service at once (a released ref is the caller's mistake, to be
 * reported by this call), and a large value becomes an implicit put first. */
static int queueable_args(rayc__runtime *rt, const rayc_arg *args, int nargs)
{
    for (int i = 0; i < nargs; i++) {
        rayc__vhdr h;
        if (args[i].kind != RAYC_ARG_VALUE || rayc__arg_check(&args[i], &h) != 0 ||
            h.nbytes > rt->inline_threshold)
            return 0;
    }
    return 1;
}

/* The submission of a task with small by-value arguments: copies of the values, and the
 * demand (the function's defaults, else a copy the queue owns). 0, or -1 when out of memory
 * (nothing is left allocated). */
static int make_spec(rayc__runtime *rt, rayc__subspec *s, rayc__oid id, const rayc__fn_entry *e,
                     const eff_opts *eo, const rayc_arg *args, int nargs)
{
    memset(s, 0, sizeof *s);
    s->id = id;
    s->fn = (uint32_t)e->index;
    s->num_returns = (uint16_t)eo->o.num_returns;
    s->max_retries = (uint16_t)eo->o.max_retries;
    s->strategy = (uint8_t)eo->o.strategy;
    s->soft = (uint8_t)(eo->o.affinity_soft != 0);
    s->affinity = eo->o.affinity_rank;
    s->demand = &eo->demand;
    if (eo != &rt->fn_defaults[e->index]) {
        rayc__resvec *d = malloc(sizeof *d);
        if (!d)
            return -1;
        *d = eo->demand;
        s->demand = d;
        s->own_demand = 1;
    }
    garg *a = s->args;
    if (nargs > RAYC__SUBQ_ARGS && !(a = s->xargs = calloc((size_t)nargs, sizeof *a)))
        goto fail;
    if (fill_args(a, args, nargs, NULL) != 0) {
        if (nargs > RAYC__SUBQ_ARGS)
            free(a);
        goto fail;
    }
    s->nargs = (uint32_t)nargs;
    return 0;
fail:
    if (s->own_demand)
        free((void *)s->demand);
    return -1;
}

/* Rank 0 with small by-value arguments only: leave the submission in the queue (submitq.c),
 * without the runtime lock; the lock holder makes the task record. Nothing the control
 * service checks can fail for such a task except a stop racing the call (its refs then say
 * RAYC_ECANCELLED). */
static int submit_queued(rayc__runtime *rt, rayc_ref *out, int nout, const rayc__fn_entry *e,
                         const eff_opts *eo, const rayc_arg *args, int nargs, const char *api)
{
    rayc__oid id = rayc__new_id(rt);
    rayc__subspec spec;
    if (make_spec(rt, &spec, id, e, eo, args, nargs) != 0)
        return rayc__fail(RAYC_ENOMEM, "%s(%s): out of memory", api, e->name);
    int now;
    while ((now = rayc__submitq_push(rt, &spec)) == -2) {
        rayc__lock(rt); /* full: enter the queue, then try again */
        pthread_mutex_unlock(&rt->mu);
    }
    if (now == 1 && rayc__trylock(rt)) /* else the holder enters it (submitq.c) */
        pthread_mutex_unlock(&rt->mu);
    for (int i = 0; i < nout; i++) {
        rayc__oid rid = {id.seq, id.rank, (uint32_t)i + 1};
        out[i] = rayc__ref_of_oid(rid);
        if (rayc__cur_task)
            rayc__task_track_ref(rayc__cur_task, rid);
    }
    return 0;
}

static int submit_entry(rayc_ref *out, int nout, const rayc__fn_entry *e, const rayc_arg *args,
                        int nargs, const rayc_opts *opts, const char *api)
{
    rayc__runtime *rt = rayc__usable(api, 0);
    if (!rt)
        return RAYC_ESTATE;
    eff_opts merged;
    const eff_opts *eo = &rt->fn_defaults[e->index]; /* merged and checked at init */
    int rc = 0;
    if (opts || !eo->ok) {
        eo = &merged;
        rc = merge_opts(rt, e, opts, &merged, api);
        if (!rc)
            rc = feasible(rt, e, &merged, api);
    }
    if (!rc)
        rc = check_args(e, args, nargs, api);
    if (!rc && (nout != eo->o.num_returns || (nout > 0 && !out)))
        rc = rayc__fail(RAYC_EINVAL, "%s(%s): room for %d refs but the task has %d returns%s",
                        api, e->name, nout, eo->o.num_returns, out ? "" : " (out is NULL)");
    if (rc)
        return rc;
    if (rt->rank == 0 && queueable_args(rt, args, nargs) && !atomic_load(&rt->stop_signal))
        return submit_queued(rt, out, nout, e, eo, args, nargs, api);
    rayc_value *bigv[16];
    rayc__oid bigi[16];
    rayc_value **big = nargs <= 16 ? bigv : malloc((size_t)nargs * sizeof *big);
    rayc__oid *bigid = nargs <= 16 ? bigi : malloc((size_t)nargs * sizeof *bigid);
    if (!big || !bigid)
        rc = rayc__fail(RAYC_ENOMEM, "%s: out of memory", api);
    if (!rc)
        rc = copy_big_args(rt, args, nargs, big);
    if (!rc) {
        rayc__lock(rt);
        rayc__oid id = rayc__new_id(rt);
        rc = submit_locked(rt, id, e, eo, args, nargs, big, bigid);
        for (int i = 0; i < nout; i++) {
            rayc__oid rid = {id.seq, id.rank, (uint32_t)i + 1};
            out[i] = rc ? RAYC_NULL_REF : rayc__ref_of_oid(rid);
            if (rc && rt->rank == 0 && rayc__gobj_find(rt->gcs, rid))
                rayc__gcs_release_local(rt, &rid, 1); /* keeps the submit's message */
            else if (!rc && rayc__cur_task)
                rayc__task_track_ref(rayc__cur_task, rid);
        }
        pthread_mutex_unlock(&rt->mu);
    }
    if (big != bigv)
        free(big);
    if (bigid != bigi)
        free(bigid);
    return rc;
}

int rayc_submit_ex(rayc_ref *out, int nout, rayc_fn fn, const rayc_arg *args, int nargs,
                   const rayc_opts *opts)
{
    if (!rayc__usable("rayc_submit", 0))
        return RAYC_ESTATE;
    const rayc__fn_entry *e = rayc__registry_by_fn(fn);
    if (!e)
        return rayc__fail(RAYC_ENOFUNC, "rayc_submit: %s function is not registered (mark it "
                                        "with RAYC_REMOTE)", fn ? "the" : "a NULL");
    return submit_entry(out, nout, e, args, nargs, opts, "rayc_submit");
}

int rayc_submit(rayc_ref *out, rayc_fn fn, const rayc_arg *args, int nargs)
{
    if (!rayc__usable("rayc_submit", 0))
        return RAYC_ESTATE;
    const rayc__fn_entry *e = rayc__registry_by_fn(fn);
    if (!e)
        return rayc__fail(RAYC_ENOFUNC, "rayc_submit: %s function is not registered (mark it "
                                        "with RAYC_REMOTE)", fn ? "the" : "a NULL");
    return submit_entry(out, e->opts.num_returns, e, args, nargs, NULL, "rayc_submit");
}

int rayc_submit_name(rayc_ref *out, int nout, const char *name, const rayc_arg *args,
                     int nargs, const rayc_opts *opts)
{
    if (!rayc__usable("rayc_submit_name", 0))
        return RAYC_ESTATE;
    const rayc__fn_entry *e = rayc__registry_by_name(name);
    if (!e)
        return rayc__fail(RAYC_ENOFUNC, "rayc_submit_name: no function named '%s' is "
                                        "registered", name ? name : "(null)");
    return submit_entry(out, nout, e, args, nargs, opts, "rayc_submit_name");
}

/* ---------------------------------------------------------------- put / release */

int rayc_put(rayc_ref *out, rayc_arg value)
{
    rayc__runtime *rt = rayc__usable("rayc_put", 0);
    if (!rt)
        return RAYC_ESTATE;
    if (!out)
        return rayc__fail(RAYC_EINVAL, "rayc_put: NULL out");
    *out = RAYC_NULL_REF;
    if (value.kind != RAYC_ARG_VALUE)
        return rayc__fail(RAYC_EINVAL, "rayc_put: the value must be made with rayc_i64, "
                                       "rayc_array, ... (not a ref)");
    rayc__vhdr h;
    int rc = rayc__arg_check(&value, &h);
    if (rc)
        return rayc__fail(rc, "rayc_put: %s", rayc_last_error());
    rayc_value *v = copy_value(rt, &value, &h);
    if (!v)
        return rayc__fail(RAYC_ENOMEM, "rayc_put: cannot allocate %llu bytes",
                          (unsigned long long)h.nbytes);
    rayc__oid id;
    rayc__lock(rt);
    rc = rayc__client_put_value(rt, v, &id);
    pthread_mutex_unlock(&rt->mu);
    if (!rc)
        *out = rayc__ref_of_oid(id);
    return rc;
}

int rayc_release(const rayc_ref *refs, int n)
{
    rayc__runtime *rt = rayc__usable("rayc_release", 0);
    if (!rt)
        return RAYC_ESTATE;
    if (n < 0 || (n > 0 && !refs))
        return rayc__fail(RAYC_EINVAL, "rayc_release: bad refs/n");
    rayc__oid ids[64];
    int rc = 0;
    char first[1024] = "";
    for (int i = 0; i < n; i += 64) { /* release everything; report the first problem */
        int k = n - i < 64 ? n - i : 64, m = 0;
        for (int j = 0; j < k; j++)
            if (!rayc__oid_is_null(rayc__oid_of_ref(refs[i + j])))
                ids[m++] = rayc__oid_of_ref(refs[i + j]);
        rayc__lock(rt);
        int r = m ? rayc__client_release(rt, ids, m) : 0;
        pthread_mutex_unlock(&rt->mu);
        if (r && !rc) {
            rc = r;
            snprintf(first, sizeof first, "%s", rayc_last_error());
        }
    }
    return rc ? rayc__fail_msg(rc, first) : 0;
}
