/* sched_policy.c: where a ready task should run (see sched_policy.h for the rules).
 *
 * Pure functions over a caller-owned rayc__cluster_view: no MPI, no threads, no globals, no
 * allocation. The control service calls rayc__place once per dispatched task, so placement is
 * one pass over the ranks (O(nranks * RAYC__RES_MAX)) with everything on the stack.
 *
 * Each rank is first classified against the request (rank_room): NEVER (does not accept tasks,
 * or its total cannot hold the demand), NONE (could, but not now), SLACK (fits only through the
 * prefetch allowance) or AVAIL (fits in what is free). The classes are ordered so that "more
 * is better": a strategy takes the best class present, then its own order within the class.
 *  - DEFAULT takes the home rank first when the request names one and it has room (the
 *    control service names the submitter's rank for tasks of a few microseconds, which cost
 *    more to send than to queue); else it keeps a running best under (class, arg_bytes, load);
 *    a later rank replaces it only when strictly better, so the lowest rank wins every
 *    remaining tie.
 *  - SPREAD scans cyclically from spread_next and takes the first AVAIL rank, else the first
 *    SLACK rank, so the avail-before-slack preference holds for it too.
 *  - AFFINITY takes its rank when that rank is SLACK or AVAIL; otherwise hard gives WAIT (or
 *    INFEASIBLE for NEVER / out of range) and soft falls back to DEFAULT.
 * With no SLACK/AVAIL rank the answer is WAIT if some rank is not NEVER, else INFEASIBLE.
 *
 * A slot whose demand is zero never blocks a rank, even when prefetching has driven that slot
 * of avail below zero (rayc__res_fits).
 *
 * rayc__res_parse reads quantities with its own decimal parser rather than strtod, so that a
 * program that calls setlocale() (decimal comma) still parses "0.5" the same way. It rejects
 * duplicate names and the built-in names CPU, GPU and memory (any case), which have their own
 * options, and changes neither *vec nor *nnames when it fails. */
#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sched_policy.h"

#define RES_EPS 1e-9
#define NAME_CAP 32 /* bytes of one names[] entry, NUL included */
#define MAX_CUSTOM (RAYC__RES_MAX - RAYC__RES_CUSTOM0)

/* ------------------------------------------------------------------------------------------ */
/* Resource vectors                                                                            */

int rayc__res_fits(const rayc__resvec *have, const rayc__resvec *want)
{
    for (int i = 0; i < RAYC__RES_MAX; i++)
        if (want->q[i] > RES_EPS && want->q[i] > have->q[i] + RES_EPS)
            return 0;
    return 1;
}

void rayc__res_add(rayc__resvec *acc, const rayc__resvec *d)
{
    for (int i = 0; i < RAYC__RES_MAX; i++)
        acc->q[i] += d->q[i];
}

void rayc__res_sub(rayc__resvec *acc, const rayc__resvec *d)
{
    for (int i = 0; i < RAYC__RES_MAX; i++)
        acc->q[i] -= d->q[i];
}

/* ------------------------------------------------------------------------------------------ */
/* Placement                                                                                   */

enum room { ROOM_NEVER = 0, ROOM_NONE = 1, ROOM_SLACK = 2, ROOM_AVAIL = 3 };

/* How rank rv can hold req's demand (enum room). */
static int rank_room(const rayc__rank_view *rv, const rayc__place_req *req)
{
    if (!rv->accepts_tasks)
        return ROOM_NEVER;
    /* One pass: total (NEVER), avail (AVAIL), avail + slack (SLACK); slots the request does
     * not use never block. Runs per rank for every task placed. */
    int avail = 1, slack = 1;
    for (int i = 0; i < RAYC__RES_MAX; i++) {
        double w = req->demand.q[i];
        if (w <= RES_EPS)
            continue;
        if (w > rv->total.q[i] + RES_EPS)
            return ROOM_NEVER;
        if (w > rv->avail.q[i] + RES_EPS) {
            avail = 0;
            if (w > rv->avail.q[i] + req->slack.q[i] + RES_EPS)
                slack = 0;
        }
    }
    return avail ? ROOM_AVAIL : slack ? ROOM_SLACK : ROOM_NONE;
}

/* 1 when a carries fewer inflight tasks per CPU than b (CPU counted as at least 1). */
static int load_less(const rayc__rank_view *a, const rayc__rank_view *b)
{
    double cpu_a = a->total.q[RAYC__RES_CPU] > 1.0 ? a->total.q[RAYC__RES_CPU] : 1.0;
    double cpu_b = b->total.q[RAYC__RES_CPU] > 1.0 ? b->total.q[RAYC__RES_CPU] : 1.0;
    /* a.inflight / cpu_a < b.inflight / cpu_b, without the divisions */
    return (double)a->inflight * cpu_b < (double)b->inflight * cpu_a;
}

/* 1 when rank a (of class room_a) is a strictly better DEFAULT choice than rank b. */
static int default_better(const rayc__cluster_view *view, const rayc__place_req *req, int a,
                          int room_a, int b, int room_b)
{
    if (room_a != room_b)
        return room_a > room_b;
    if (req->arg_bytes && req->arg_bytes[a] != req->arg_bytes[b])
        return req->arg_bytes[a] > req->arg_bytes[b];
    return load_less(&view->ranks[a], &view->ranks[b]);
}

/* The answer when no rank has room: WAIT if any rank could ever take it. */
static int no_room_result(int feasible)
{
    return feasible ? RAYC__PLACE_WAIT : RAYC__PLACE_INFEASIBLE;
}

/* DEFAULT: best class, then most argument bytes, then least loaded, then lowest rank. */
static int place_default(const rayc__cluster_view *view, const rayc__place_req *req,
                         int *rank_out)
{
    int best = -1, best_room = ROOM_NONE, feasible = 0;
    if (req->home && req->home_rank >= 0 && req->home_rank < view->nranks) {
        int room = rank_room(&view->ranks[req->home_rank], req);
        if (room >= ROOM_SLACK) {
            *rank_out = req->home_rank;
            return RAYC__PLACE_OK;
        }
        if (req->home == 2 && room == ROOM_NONE)
            return RAYC__PLACE_WAIT;
    }
    for (int r = 0; r < view->nranks; r++) {
        int room = rank_room(&view->ranks[r], req);
        if (room != ROOM_NEVER)
            feasible = 1;
        if (room < ROOM_SLACK)
            continue;
        if (best < 0 || default_better(view, req, r, room, best, best_room)) {
            best = r;
            best_room = room;
        }
    }
    if (best < 0)
        return no_room_result(feasible);
    *rank_out = best;
    return RAYC__PLACE_OK;
}

/* SPREAD: first AVAIL rank at or after spread_next (cyclic), else first SLACK rank. */
static int place_spread(rayc__cluster_view *view, const rayc__place_req *req, int *rank_out)
{
    int n = view->nranks;
    if (n <= 0)
        return RAYC__PLACE_INFEASIBLE;
    int start = ((view->spread_next % n) + n) % n; /* tolerate a stale or negative cursor */
    int pick = -1, first_slack = -1, feasible = 0;
    for (int i = 0; i < n && pick < 0; i++) {
        int r = start + i < n ? start + i : start + i - n;
        int room = rank_room(&view->ranks[r], req);
        if (room != ROOM_NEVER)
            feasible = 1;
        if (room == ROOM_AVAIL)
            pick = r;
        else if (room == ROOM_SLACK && first_slack < 0)
            first_slack = r;
    }
    if (pick < 0)
        pick = first_slack;
    if (pick < 0)
        return no_room_result(feasible);
    view->spread_next = pick + 1 < n ? pick + 1 : 0;
    *rank_out = pick;
    return RAYC__PLACE_OK;
}

int rayc__place(rayc__cluster_view *view, const rayc__place_req *req, int *rank_out)
{
    assert(view && req && rank_out);
    assert(view->nranks >= 0 && (view->nranks == 0 || view->ranks));
    assert(req->strategy >= RAYC__SCHED_DEFAULT && req->strategy <= RAYC__SCHED_AFFINITY);

    if (req->strategy == RAYC__SCHED_AFFINITY) {
        int a = req->affinity_rank;
        int room = a >= 0 && a < view->nranks ? rank_room(&view->ranks[a], req) : ROOM_NEVER;
        if (room >= ROOM_SLACK) {
            *rank_out = a;
            return RAYC__PLACE_OK;
        }
        if (!req->affinity_soft)
            return room == ROOM_NEVER ? RAYC__PLACE_INFEASIBLE : RAYC__PLACE_WAIT;
        return place_default(view, req, rank_out);
    }
    if (req->strategy == RAYC__SCHED_SPREAD)
        return place_spread(view, req, rank_out);
    return place_default(view, req, rank_out);
}

void rayc__charge(rayc__cluster_view *view, int rank, const rayc__resvec *demand)
{
    assert(view && demand && rank >= 0 && rank < view->nranks);
    rayc__rank_view *rv = &view->ranks[rank];
    rayc__res_sub(&rv->avail, demand);
    rv->inflight++;
}

void rayc__uncharge(rayc__cluster_view *view, int rank, const rayc__resvec *demand)
{
    assert(view && demand && rank >= 0 && rank < view->nranks);
    rayc__rank_view *rv = &view->ranks[rank];
    assert(rv->inflight > 0);
    rayc__res_add(&rv->avail, demand);
    if (rv->inflight > 0)
        rv->inflight--;
    view->epoch++;
}

/* ------------------------------------------------------------------------------------------ */
/* Resource specs: "name=qty,name=qty"                                                         */

static void set_err(char *err, int errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, int errlen, const char *fmt, ...)
{
    if (!err || errlen <= 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, (size_t)errlen, fmt, ap);
    va_end(ap);
}

static const char *skip_ws(const char *p)
{
    while (isspace((unsigned char)*p))
        p++;
    return p;
}

/* v * 10^exp10 with the exact powers 1e0..1e22, so common inputs take one rounding. */
static double scale10(double v, int exp10)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    if (v == 0.0 || exp10 < -400)
        return 0.0;
    if (exp10 > 400)
        return HUGE_VAL;
    for (; exp10 > 22; exp10 -= 22)
        v *= 1e22;
    for (; exp10 < -22; exp10 += 22)
        v /= 1e22;
    return exp10 >= 0 ? v * pow10[exp10] : v / pow10[-exp10];
}

/* Locale-independent unsigned decimal: digits [. digits] [(e|E) [+|-] digits], at least one
 * mantissa digit. Sets *end past it; returns 0, or -1 when no number starts at s. */
static int parse_decimal(const char *s, const char **end, double *out)
{
    const uint64_t keep_below = UINT64_C(1000000000000000000); /* 19 significant digits */
    uint64_t mant = 0;
    int exp10 = 0, ndigits = 0;
    const char *p = s;
    for (; isdigit((unsigned char)*p); p++, ndigits++) {
        if (mant < keep_below)
            mant = mant * 10 + (uint64_t)(*p - '0');
        else
            exp10++;
    }
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++, ndigits++)
            if (mant < keep_below) {
                mant = mant * 10 + (uint64_t)(*p - '0');
                exp10--;
            }
    if (ndigits == 0)
        return -1;
    const char *q = p;
    if (*q == 'e' || *q == 'E') {
        int sign = 1, e = 0;
        q++;
        if (*q == '+' || *q == '-')
            sign = *q++ == '-' ? -1 : 1;
        if (isdigit((unsigned char)*q)) {
            for (; isdigit((unsigned char)*q); q++)
                if (e < 100000)
                    e = e * 10 + (*q - '0');
            exp10 += sign * e;
            p = q;
        }
    }
    *end = p;
    *out = scale10((double)mant, exp10);
    return 0;
}

/* Slot of name among the known names, adding it when allowed. Returns the slot or -1. */
static int name_slot(const char *name, char names[][NAME_CAP], int *nnames, int add_unknown,
                     char *err, int errlen)
{
    static const char *const builtin[] = {"CPU", "GPU", "memory"};
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
        if (strcasecmp(name, builtin[i]) == 0) {
            set_err(err, errlen, "'%s' is not a custom resource (use num_cpus, num_gpus, memory)",
                    name);
            return -1;
        }
    for (int i = 0; i < *nnames; i++)
        if (strcmp(names[i], name) == 0)
            return RAYC__RES_CUSTOM0 + i;
    if (!add_unknown) {
        set_err(err, errlen, "unknown custom resource '%s'", name);
        return -1;
    }
    if (*nnames >= MAX_CUSTOM) {
        set_err(err, errlen, "too many custom resources (at most %d): '%s'", MAX_CUSTOM, name);
        return -1;
    }
    memcpy(names[*nnames], name, strlen(name) + 1);
    return RAYC__RES_CUSTOM0 + (*nnames)++;
}

/* Read "name" up to whitespace, '=', ',' or the end into name. Returns the end, or NULL. */
static const char *read_name(const char *p, char name[NAME_CAP], char *err, int errlen)
{
    size_t len = strcspn(p, "=, \t\n\v\f\r");
    if (len == 0) {
        set_err(err, errlen, "missing resource name at '%s'", p);
        return NULL;
    }
    if (len >= NAME_CAP) {
        set_err(err, errlen, "resource name '%.*s' longer than %d characters", (int)len, p,
                NAME_CAP - 1);
        return NULL;
    }
    memcpy(name, p, len);
    name[len] = '\0';
    return p + len;
}

/* Read the quantity that follows "name=" at p. Returns the end, or NULL. */
static const char *read_qty(const char *p, const char *name, double *qty, char *err, int errlen)
{
    const char *end;
    if (*p == '-') {
        set_err(err, errlen, "negative quantity for resource '%s'", name);
        return NULL;
    }
    if (parse_decimal(p, &end, qty) != 0 || !isfinite(*qty)) {
        set_err(err, errlen, "bad quantity for resource '%s' at '%s'", name, p);
        return NULL;
    }
    return end;
}

/* Parse one "name = qty" token at p into vec (slots already set are in seen). Returns the
 * position after it (at ',' or the end), or NULL with err set. */
static const char *parse_token(const char *p, char names[][NAME_CAP], int *nnames,
                               int add_unknown, rayc__resvec *vec, unsigned char *seen,
                               char *err, int errlen)
{
    char name[NAME_CAP];
    double qty;
    if (!(p = read_name(skip_ws(p), name, err, errlen)))
        return NULL;
    p = skip_ws(p);
    if (*p != '=') {
        set_err(err, errlen, "expected '=' after resource name '%s'", name);
        return NULL;
    }
    if (!(p = read_qty(skip_ws(p + 1), name, &qty, err, errlen)))
        return NULL;
    if (*p != ',' && *p != '\0' && !isspace((unsigned char)*p)) {
        set_err(err, errlen, "bad quantity for resource '%s' at '%s'", name, p);
        return NULL;
    }
    p = skip_ws(p);
    if (*p != ',' && *p != '\0') {
        set_err(err, errlen, "expected ',' after resource '%s' at '%s'", name, p);
        return NULL;
    }
    int slot = name_slot(name, names, nnames, add_unknown, err, errlen);
    if (slot < 0)
        return NULL;
    if (seen[slot]) {
        set_err(err, errlen, "resource '%s' given twice", name);
        return NULL;
    }
    seen[slot] = 1;
    vec->q[slot] = qty;
    return p;
}

/* On failure neither *vec nor *nnames changes (names[] past *nnames may hold scratch). */
int rayc__res_parse(const char *spec, char names[][32], int *nnames, int add_unknown,
                    rayc__resvec *vec, char *err, int errlen)
{
    assert(nnames && vec && *nnames >= 0 && *nnames <= MAX_CUSTOM);
    rayc__resvec out = {{0}};
    unsigned char seen[RAYC__RES_MAX] = {0};
    int nnames_in = *nnames;
    if (err && errlen > 0)
        err[0] = '\0';
    if (!spec || *skip_ws(spec) == '\0') {
        *vec = out;
        return 0;
    }
    const char *p = spec;
    for (;;) {
        p = parse_token(p, names, nnames, add_unknown, &out, seen, err, errlen);
        if (!p) {
            *nnames = nnames_in;
            return -1;
        }
        if (*p == '\0')
            break;
        p++; /* past the ',' */
    }
    *vec = out;
    return 0;
}
