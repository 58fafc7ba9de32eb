/* client_int.h: client operations shared by client.c and the public API (api.c). All
 * functions here are called with rt->mu held. */
#ifndef RAYC_CLIENT_INT_H
#define RAYC_CLIENT_INT_H

#include "oidmap.h"
#include "rt.h"

struct rayc__client {
    rayc__oidmap ops;  /* remote ranks: request id -> rayc__op waiting for its reply */
    uint64_t next_req;
};

/* The runtime if fn may be called here (see api.c), else NULL with a message. */
rayc__runtime *rayc__usable(const char *fn, int driver_only);
int rayc__client_create(rayc__runtime *rt);
void rayc__client_destroy(rayc__runtime *rt);
rayc__oid rayc__new_id(rayc__runtime *rt);
int rayc__client_put_value(rayc__runtime *rt, rayc_value *val, rayc__oid *out);
int rayc__client_release(rayc__runtime *rt, const rayc__oid *ids, int n);
/* Start op (ids/mode/n/num_returns set, res/order allocated) and wait until it completes or
 * timeout seconds pass (then it is cancelled and completes with what is known). */
void rayc__op_init(rayc__op *op, int mode, const rayc__oid *ids, int n, int num_returns);
int rayc__client_op(rayc__runtime *rt, rayc__op *op, double timeout);
void rayc__op_destroy(rayc__op *op);

#endif /* RAYC_CLIENT_INT_H */
