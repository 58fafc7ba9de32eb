/* registry.h: remote functions registered by name (RAYC_REMOTE runs rayc_register_remote from a
 * constructor before main). At init the table is frozen and sorted by name, so that a
 * function's index is the same on every rank; rayc_init checks that all ranks agree. */
#ifndef RAYC_REGISTRY_H
#define RAYC_REGISTRY_H

#include <stdint.h>

#include "rayc.h"
#include "sched_policy.h"

#define RAYC__MAX_DECL_ARGS 32

typedef struct rayc__fn_entry {
    rayc_fn fn;
    char name[RAYC_NAME_MAX];
    rayc_opts opts;          /* defaults from RAYC_REMOTE */
    int ndecl;               /* declared dtypes count, -1 unchecked */
    int8_t decl[RAYC__MAX_DECL_ARGS]; /* dtype or -1 for '*' */
    uint32_t index;          /* position in the sorted table */
} rayc__fn_entry;

/* Sort, validate (names unique, non-empty, < RAYC_NAME_MAX, options sane, arg_dtypes parse)
 * and freeze. Returns 0 or an error with message. Safe to call once. */
int rayc__registry_freeze(void);
int rayc__registry_count(void);
const rayc__fn_entry *rayc__registry_at(uint32_t index);
const rayc__fn_entry *rayc__registry_by_fn(rayc_fn fn);
const rayc__fn_entry *rayc__registry_by_name(const char *name);
/* Text listing every entry (name + digest of options), to compare across ranks; caller frees. */
char *rayc__registry_describe(void);
/* Parse "i64,f64,*" into decl[]; returns the count or -1 with err. */
int rayc__parse_arg_dtypes(const char *s, int8_t *decl, int max, char *err, int errlen);
/* Forget everything (unit tests only). */
void rayc__registry_reset(void);

#endif /* RAYC_REGISTRY_H */
