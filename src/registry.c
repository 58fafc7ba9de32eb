/* registry.c: the table of remote functions.
 *
 * Registration happens in constructors (single-threaded, before main) and the table is frozen
 * by rayc_init; after that it is read-only and shared by all threads without locks. Lookups by
 * function pointer use a small open-addressing hash; by name a binary search. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "status_int.h"
#include "value_int.h"

static rayc__fn_entry *table;
static int count, cap;
static int frozen;
static char reg_error[256]; /* a registration problem reported at init */
static const rayc__fn_entry **by_ptr; /* hash slots, 2^k >= 2 * count */
static uint32_t by_ptr_mask;

void rayc_register_remote(const rayc_remote_def *def)
{
    if (frozen) {
        snprintf(reg_error, sizeof reg_error, "function registered after rayc_init");
        return;
    }
    if (!def || !def->fn || !def->c_name) {
        snprintf(reg_error, sizeof reg_error, "NULL function in RAYC_REMOTE");
        return;
    }
    if (count == cap) {
        int ncap = cap ? cap * 2 : 32;
        rayc__fn_entry *t = realloc(table, (size_t)ncap * sizeof *t);
        if (!t) {
            snprintf(reg_error, sizeof reg_error, "out of memory registering functions");
            return;
        }
        table = t;
        cap = ncap;
    }
    rayc__fn_entry *e = &table[count++];
    memset(e, 0, sizeof *e);
    e->fn = def->fn;
    e->opts = def->opts;
    const char *name = def->opts.name ? def->opts.name : def->c_name;
    if (strlen(name) >= RAYC_NAME_MAX || !*name)
        snprintf(reg_error, sizeof reg_error, "function name '%.80s' is empty or longer than %d",
                 name, RAYC_NAME_MAX - 1);
    snprintf(e->name, sizeof e->name, "%s", name);
}

int rayc__parse_arg_dtypes(const char *s, int8_t *decl, int max, char *err, int errlen)
{
    int n = 0;
    while (s && *s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        while (len && *s == ' ')
            s++, len--;
        while (len && s[len - 1] == ' ')
            len--;
        if (n >= max) {
            snprintf(err, (size_t)errlen, "more than %d declared arguments", max);
            return -1;
        }
        int d = (len == 1 && *s == '*') ? -1 : rayc__dtype_parse(s, len);
        if (d < 0 && !(len == 1 && *s == '*')) {
            snprintf(err, (size_t)errlen, "unknown dtype '%.*s' in arg_dtypes", (int)len, s);
            return -1;
        }
        decl[n++] = (int8_t)d;
        s = end ? end + 1 : s + strlen(s); /* past trailing blanks too */
        if (end && !*s) {
            snprintf(err, (size_t)errlen, "trailing ',' in arg_dtypes");
            return -1;
        }
    }
    return n;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const rayc__fn_entry *)a)->name, ((const rayc__fn_entry *)b)->name);
}

static uint32_t ptr_hash(rayc_fn fn)
{
    uint64_t h = (uint64_t)(uintptr_t)fn * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 32);
}

static int check_entry(rayc__fn_entry *e)
{
    char err[160];
    const rayc_opts *o = &e->opts;
    if (o->num_returns < 0 || o->num_returns > 1024 || o->num_cpus < 0 || o->num_gpus < 0 ||
        o->memory < 0 || o->max_retries < 0)
        return rayc__fail(RAYC_EINVAL, "RAYC_REMOTE(%s): negative or too large option", e->name);
    e->ndecl = -1;
    if (o->arg_dtypes) {
        e->ndecl = rayc__parse_arg_dtypes(o->arg_dtypes, e->decl, RAYC__MAX_DECL_ARGS, err,
                                          (int)sizeof err);
        if (e->ndecl < 0)
            return rayc__fail(RAYC_EINVAL, "RAYC_REMOTE(%s): %s", e->name, err);
        if (o->num_args >= 0 && o->num_args != e->ndecl)
            return rayc__fail(RAYC_EINVAL, "RAYC_REMOTE(%s): num_args %d but %d arg_dtypes",
                              e->name, o->num_args, e->ndecl);
    }
    return 0;
}

static int build_ptr_index(void)
{
    uint32_t slots = 16;
    while (slots < 2u * (uint32_t)count)
        slots *= 2;
    by_ptr = calloc(slots, sizeof *by_ptr);
    if (!by_ptr)
        return rayc__fail(RAYC_ENOMEM, "out of memory indexing functions");
    by_ptr_mask = slots - 1;
    for (int i = 0; i < count; i++) {
        uint32_t h = ptr_hash(table[i].fn) & by_ptr_mask;
        while (by_ptr[h])
            h = (h + 1) & by_ptr_mask;
        by_ptr[h] = &table[i];
    }
    return 0;
}

int rayc__registry_freeze(void)
{
    if (reg_error[0])
        return rayc__fail(RAYC_EINVAL, "registering remote functions: %s", reg_error);
    if (frozen)
        return 0;
    if (count)
        qsort(table, (size_t)count, sizeof *table, cmp_entry);
    for (int i = 0; i < count; i++) {
        table[i].index = (uint32_t)i;
        if (i > 0 && strcmp(table[i - 1].name, table[i].name) == 0)
            return rayc__fail(RAYC_EINVAL, "function name '%s' registered twice", table[i].name);
        int rc = check_entry(&table[i]);
        if (rc)
            return rc;
    }
    int rc = build_ptr_index();
    if (rc)
        return rc;
    frozen = 1;
    return 0;
}

int rayc__registry_count(void)
{
    return count;
}

const rayc__fn_entry *rayc__registry_at(uint32_t index)
{
    return index < (uint32_t)count ? &table[index] : NULL;
}

const rayc__fn_entry *rayc__registry_by_fn(rayc_fn fn)
{
    if (!frozen || !fn)
        return NULL;
    uint32_t h = ptr_hash(fn) & by_ptr_mask;
    while (by_ptr[h]) {
        if (by_ptr[h]->fn == fn)
            return by_ptr[h];
        h = (h + 1) & by_ptr_mask;
    }
    return NULL;
}

const rayc__fn_entry *rayc__registry_by_name(const char *name)
{
    if (!frozen || !name)
        return NULL;
    int lo = 0, hi = count - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(name, table[mid].name);
        if (c == 0)
            return &table[mid];
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}

char *rayc__registry_describe(void)
{
    size_t cap_b = 64 + (size_t)count * 256, len = 0;
    for (int i = 0; i < count; i++) /* room for the option strings: no truncation */
        cap_b += strlen(table[i].opts.arg_dtypes ? table[i].opts.arg_dtypes : "") +
                 strlen(table[i].opts.resources ? table[i].opts.resources : "");
    char *s = malloc(cap_b);
    if (!s)
        return NULL;
    s[0] = 0;
    for (int i = 0; i < count && len < cap_b; i++) {
        const rayc_opts *o = &table[i].opts;
        len += (size_t)snprintf(s + len, cap_b - len,
                                "%s r%d c%.17g g%.17g m%.17g a%d t%s R%s x%d s%d ar%d as%d\n",
                                table[i].name, o->num_returns, o->num_cpus, o->num_gpus,
                                o->memory, o->num_args, o->arg_dtypes ? o->arg_dtypes : "-",
                                o->resources ? o->resources : "-", o->max_retries, o->strategy,
                                o->affinity_rank, o->affinity_soft);
    }
    if (len >= cap_b)
        s[cap_b - 1] = 0; /* truncated: the comparison still sees a difference */
    return s;
}

void rayc__registry_reset(void)
{
    free(table);
    free(by_ptr);
    table = NULL;
    by_ptr = NULL;
    count = cap = 0;
    frozen = 0;
    reg_error[0] = 0;
}
