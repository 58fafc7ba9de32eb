/* test_registry.c: CUnit suite for src/registry.c: RAYC_REMOTE load-time registration, freeze
 * (sort by name, indices, validation of names, options and arg_dtypes), lookups by function and
 * by name, the describe() digest compared across ranks, and registration after freeze. */
#include "config.h"

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "unit_main.h"

/* ---- functions registered at load time with RAYC_REMOTE ---- */

static int square(rayc_task *t)
{
    return 1;
}
RAYC_REMOTE(square, .num_cpus = 2);

static int add(rayc_task *t)
{
    return 2;
}
RAYC_REMOTE(add, .name = "plus", .num_args = 2, .arg_dtypes = "i64,i64");

/* ---- 64 distinct functions for registering by hand ---- */

#define FN(n)                                                                                      \
    static int fn##n(rayc_task *t)                                                                 \
    {                                                                                              \
        return 100 + n;                                                                            \
    }
#define FN8(a) FN(a##0) FN(a##1) FN(a##2) FN(a##3) FN(a##4) FN(a##5) FN(a##6) FN(a##7)
FN8(1)
FN8(2)
FN8(3)
FN8(4)
FN8(5)
FN8(6)
FN8(7)
FN8(8)
#define FNP8(a) fn##a##0, fn##a##1, fn##a##2, fn##a##3, fn##a##4, fn##a##5, fn##a##6, fn##a##7
static const rayc_fn fns[64] = {FNP8(1), FNP8(2), FNP8(3), FNP8(4),
                                FNP8(5), FNP8(6), FNP8(7), FNP8(8)};

static rayc_opts defaults(void)
{
    rayc_opts o = {RAYC_OPTS_DEFAULTS};
    return o;
}

/* Register fn as c_name with options o (o.name may override the name). */
static void reg(rayc_fn fn, const char *c_name, rayc_opts o)
{
    rayc_remote_def def = {fn, c_name, o};
    rayc_register_remote(&def); /* copies the record; strings must outlive the table */
}

static int last_error_has(const char *needle)
{
    if (strstr(rayc_last_error(), needle))
        return 1;
    fprintf(stderr, "\n  last error '%s' lacks '%s'\n", rayc_last_error(), needle);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */

/* Runs first: what the two RAYC_REMOTE constructors registered before main. */
static void test_load_time_registration(void)
{
    CU_ASSERT_EQUAL_FATAL(rayc__registry_count(), 2);
    CU_ASSERT_PTR_NULL(rayc__registry_by_fn(square)); /* not frozen yet */
    CU_ASSERT_PTR_NULL(rayc__registry_by_name("square"));
    CU_ASSERT_EQUAL_FATAL(rayc__registry_freeze(), 0);
    CU_ASSERT_EQUAL(rayc__registry_count(), 2);

    const rayc__fn_entry *e = rayc__registry_at(0); /* "plus" < "square" */
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(e->name, "plus");
    CU_ASSERT_PTR_EQUAL(e->fn, add);
    CU_ASSERT_EQUAL(e->index, 0);
    CU_ASSERT_EQUAL(e->ndecl, 2);
    CU_ASSERT_EQUAL(e->decl[0], RAYC_I64);
    CU_ASSERT_EQUAL(e->decl[1], RAYC_I64);
    CU_ASSERT_EQUAL(e->opts.num_args, 2);
    CU_ASSERT_EQUAL(e->opts.num_returns, 1);
    CU_ASSERT_EQUAL(e->opts.num_cpus, 1.0);
    CU_ASSERT_PTR_EQUAL(rayc__registry_by_fn(add), e);
    CU_ASSERT_PTR_EQUAL(rayc__registry_by_name("plus"), e);
    CU_ASSERT_PTR_NULL(rayc__registry_by_name("add")); /* renamed by .name */

    e = rayc__registry_at(1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(e->name, "square");
    CU_ASSERT_EQUAL(e->index, 1);
    CU_ASSERT_EQUAL(e->opts.num_cpus, 2.0);
    CU_ASSERT_EQUAL(e->opts.num_gpus, 0.0);
    CU_ASSERT_EQUAL(e->opts.num_args, -1);
    CU_ASSERT_EQUAL(e->ndecl, -1);
    CU_ASSERT_PTR_EQUAL(rayc__registry_by_fn(square), e);
    CU_ASSERT_PTR_NULL(rayc__registry_at(2));

    CU_ASSERT_EQUAL(rayc__registry_freeze(), 0); /* a second freeze is harmless */
    CU_ASSERT_EQUAL(rayc__registry_count(), 2);
}

static void test_reset(void)
{
    rayc__registry_reset();
    CU_ASSERT_EQUAL(rayc__registry_count(), 0);
    CU_ASSERT_PTR_NULL(rayc__registry_at(0));
    CU_ASSERT_PTR_NULL(rayc__registry_by_fn(square));
    CU_ASSERT_EQUAL(rayc__registry_freeze(), 0); /* an empty table freezes */
    CU_ASSERT_PTR_NULL(rayc__registry_by_name("square"));
    CU_ASSERT_PTR_NULL(rayc__registry_by_fn(square));

    /* A reset also forgets a registration error. */
    rayc__registry_reset();
    reg(fn10, "", defaults());
    CU_ASSERT_EQUAL(rayc__registry_freeze(), RAYC_EINVAL);
    rayc__registry_reset();
    reg(fn10, "ok", defaults());
    CU_ASSERT_EQUAL(rayc__registry_freeze(), 0);
    rayc__registry_reset();
}

static void test_freeze_sorts_and_indexes(void)
{
    static char names[64][16];
    rayc__registry_reset();
    for (int i = 0; i < 64; i++) {
        int k = (i * 37 + 11) % 64; /* a permutation: registration order is not name order */
        snprintf(names[k], sizeof names[k], "fn_%02d", k);
        reg(fns[k], names[k], defaults());
    }
    CU_ASSERT_EQUAL_FATAL(rayc__registry_count(), 64);
    CU_ASSERT_PTR_NULL(rayc__registry_by_name("fn_00")); /* before freeze: nothing */
    CU_ASSERT_PTR_NULL(rayc__registry_by_fn(fns[0]));
    CU_ASSERT_EQUAL_FATAL(rayc__registry_freeze(), 0);
    int bad = 0;
    for (uint32_t i = 0; i < 64; i++) {
        const rayc__fn_entry *e = rayc__registry_at(i);
        CU_ASSERT_PTR_NOT_NULL_FATAL(e);
        bad += e->index != i;
        bad += strcmp(e->name, names[i]) != 0; /* fn_00 .. fn_63 in order */
        bad += e->fn != fns[i];
        bad += rayc__registry_by_fn(fns[i]) != e;
        bad += rayc__registry_by_name(names[i]) != e;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_PTR_NULL(rayc__registry_at(64));
    CU_ASSERT_PTR_NULL(rayc__registry_at(UINT32_MAX));
    CU_ASSERT_PTR_NULL(rayc__registry_by_name("fn_64"));
    CU_ASSERT_PTR_NULL(rayc__registry_by_name("fn_0"));
    CU_ASSERT_PTR_NULL(rayc__registry_by_name("fn_000"));
    CU_ASSERT_PTR_NULL(rayc__registry_by_name(""));
    CU_ASSERT_PTR_NULL(rayc__registry_by_name("zzz"));
    CU_ASSERT_PTR_NULL(rayc__registry_by_name("a"));
    CU_ASSERT_PTR_NULL(rayc__registry_by_name(NULL));
    CU_ASSERT_PTR_NULL(rayc__registry_by_fn(square)); /* reset dropped it */
    CU_ASSERT_PTR_NULL(rayc__registry_by_fn(NULL));
    rayc__registry_reset();
}

static void test_duplicate_names(void)
{
    rayc__registry_reset();
    reg(fn11, "same", defaults());
    reg(fn12, "other", defaults());
    reg(fn13, "same", defaults());
    CU_ASSERT_EQUAL(rayc__registry_freeze(), RAYC_EINVAL);
    CU_ASSERT(last_error_has("function name 'same' registered twice"));
    CU_ASSERT_PTR_NULL(rayc__registry_by_name("other")); /* not frozen */
    CU_ASSERT_EQUAL(rayc__registry_freeze(), RAYC_EINVAL); /* still wrong */

    /* A C name colliding with another function's .name */
    rayc__registry_reset();
    rayc_opts o = defaults();
    o.name = "twin";
    reg(fn11, "twin", defaults());
    reg(fn12, "fn12", o);
    CU_ASSERT_EQUAL(rayc__registry_freeze(), RAYC_EINVAL);
    CU_ASSERT(last_error_has("'twin'"));
    rayc__registry_reset();
}

static void test_bad_names(void)
{
    static const char n31[] = "abcdefghijklmnopqrstuvwxyz01234";
    static const char n32[] = "abcdefghijklmnopqrstuvwxyz012345";
    CU_ASSERT_EQUAL_FATAL(strlen(n31), RAYC_NAME_MAX - 1);

    rayc__registry_reset();
    reg(fn10, n31, defaults());
    CU_ASSERT_EQUAL(rayc__registry_freeze(), 0);
    CU_ASSERT_PTR_NOT_NULL(rayc__registry_by_name(n31));

    rayc__registry_reset();
    reg(fn10, n32, defaults());
    CU_ASSERT_EQUAL(rayc__registry_freeze(), RAYC_EINVAL);
    CU_ASSERT(last_error_has("empty or longer than 31"));
    CU_ASSERT(last_error_has(n32));

    rayc__registry_reset();
    rayc_opts o = defaults();
    o.name = n32; /* too long through .name */
    reg(fn10, "short", o);
    CU_ASSERT_EQUAL(rayc__registry_freeze(), RAYC_EINVAL);

    rayc__registry_reset();
    reg(fn10, "", defaults());
    CU_ASSERT_EQUAL(rayc__registry_freeze(), RAYC_EINVAL);
    CU_ASSERT(last_error_has("''"));

    rayc__registry_reset();
    o.name = "";
    reg(fn10, "fine", o);
    CU_ASSERT_EQUAL(rayc__registry_freeze(), RAYC_EINVAL);

    rayc__registry_reset();
    rayc_register_remote(NULL);
    CU_ASSERT_EQUAL(rayc__registry_freeze(), RAYC_EINVAL);
    CU_ASSERT(last_error_has("NULL function"));
    CU_ASSERT_EQUAL(rayc__registry_count(), 0);

    rayc__registry_reset();
    reg(NULL, "nofn", defaults());
    CU_ASSERT_EQUAL(rayc__registry_freeze(), RAYC_EINVAL);
    CU_ASSERT_EQUAL(rayc__registry_count(), 0);

    rayc__registry_reset();
    reg(fn10, NULL, defaults());
    CU_ASSERT_EQUAL(rayc__registry_freeze(), RAYC_EINVAL);
    rayc__registry_reset();
}

/* Register one function with options o; returns what freeze says. */
static int freeze_one(rayc_opts o)
{
    rayc__registry_reset();
    reg(fn20, "f", o);
    return rayc__registry_freeze();
}

static void test_bad_options(void)
{
    rayc_opts o;
    o = defaults();
    CU_ASSERT_EQUAL(freeze_one(o), 0);
    o = defaults();
    o.num_cpus = -1;
    CU_ASSERT_EQUAL(freeze_one(o), RAYC_EINVAL);
    CU_ASSERT(last_error_has("RAYC_REMOTE(f): negative or too large option"));
    o = defaults();
    o.num_cpus = -0.001;
    CU_ASSERT_EQUAL(freeze_one(o), RAYC_EINVAL);
    o = defaults();
    o.num_gpus = -0.5;
    CU_ASSERT_EQUAL(freeze_one(o), RAYC_EINVAL);
    o = defaults();
    o.memory = -1;
    CU_ASSERT_EQUAL(freeze_one(o), RAYC_EINVAL);
    o = defaults();
    o.max_retries = -1;
    CU_ASSERT_EQUAL(freeze_one(o), RAYC_EINVAL);
    o = defaults();
    o.num_returns = RAYC_INHERIT; /* an inherit marker is not a default */
    CU_ASSERT_EQUAL(freeze_one(o), RAYC_EINVAL);
    o = defaults();
    o.num_returns = 1025;
    CU_ASSERT_EQUAL(freeze_one(o), RAYC_EINVAL);
    o = defaults();
    o.num_returns = 1024;
    CU_ASSERT_EQUAL(freeze_one(o), 0);
    o = defaults();
    o.num_returns = 0;
    o.num_cpus = 0;
    o.num_gpus = 0.25;
    o.memory = 1e12;
    o.max_retries = 5;
    CU_ASSERT_EQUAL(freeze_one(o), 0);
    const rayc__fn_entry *e = rayc__registry_by_fn(fn20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->opts.num_returns, 0);
    CU_ASSERT_EQUAL(e->opts.num_gpus, 0.25);
    CU_ASSERT_EQUAL(e->opts.max_retries, 5);
    rayc__registry_reset();
}

static void test_parse_arg_dtypes(void)
{
    int8_t d[RAYC__MAX_DECL_ARGS];
    char err[128];
    memset(d, 99, sizeof d);
    CU_ASSERT_EQUAL(rayc__parse_arg_dtypes("i64,f64,*", d, RAYC__MAX_DECL_ARGS, err, 128), 3);
    CU_ASSERT(d[0] == RAYC_I64 && d[1] == RAYC_F64 && d[2] == -1);
    CU_ASSERT_EQUAL(d[3], 99); /* nothing written past the count */

    CU_ASSERT_EQUAL(rayc__parse_arg_dtypes("bytes", d, 32, err, 128), 1);
    CU_ASSERT_EQUAL(d[0], RAYC_BYTES);
    CU_ASSERT_EQUAL(rayc__parse_arg_dtypes("*", d, 32, err, 128), 1);
    CU_ASSERT_EQUAL(d[0], -1);
    CU_ASSERT_EQUAL(rayc__parse_arg_dtypes("", d, 32, err, 128), 0);
    CU_ASSERT_EQUAL(rayc__parse_arg_dtypes(NULL, d, 32, err, 128), 0);

    /* spaces around names, also at the very end */
    memset(d, 99, sizeof d);
    CU_ASSERT_EQUAL(rayc__parse_arg_dtypes(" i64 , f32,  * ,bool", d, 32, err, 128), 4);
    CU_ASSERT(d[0] == RAYC_I64 && d[1] == RAYC_F32 && d[2] == -1 && d[3] == RAYC_BOOL);
    CU_ASSERT_EQUAL(rayc__parse_arg_dtypes("u8 ", d, 32, err, 128), 1);
    CU_ASSERT_EQUAL(d[0], RAYC_U8);
    CU_ASSERT_EQUAL(rayc__parse_arg_dtypes("i64, c128  ", d, 32, err, 128), 2);
    CU_ASSERT_EQUAL(d[1], RAYC_C128);

    CU_ASSERT_EQUAL(rayc__parse_arg_dtypes("i64,foo", d, 32, err, 128), -1);
    CU_ASSERT_STRING_EQUAL(err, "unknown dtype 'foo' in arg_dtypes");
    CU_ASSERT_EQUAL(rayc__parse_arg_dtypes("I64", d, 32, err, 128), -1);
    CU_ASSERT_EQUAL(rayc__parse_arg_dtypes("i 64", d, 32, err, 128), -1);
    CU_ASSERT_EQUAL(rayc__parse_arg_dtypes("**", d, 32, err, 128), -1);
    CU_ASSERT_EQUAL(rayc__parse_arg_dtypes("i64,", d, 32, err, 128), -1);
    CU_ASSERT_STRING_EQUAL(err, "trailing ',' in arg_dtypes");
    CU_ASSERT_EQUAL(rayc__parse_arg_dtypes(",i64", d, 32, err, 128), -1);
    CU_ASSERT_EQUAL(rayc__parse_arg_dtypes("i64,,f64", d, 32, err, 128), -1);
    CU_ASSERT_EQUAL(rayc__parse_arg_dtypes(" , ", d, 32, err, 128), -1);

    /* at most max declared arguments */
    char many[512] = "";
    for (int i = 0; i < RAYC__MAX_DECL_ARGS; i++)
        strcat(many, i ? ",f64" : "f64");
    CU_ASSERT_EQUAL(rayc__parse_arg_dtypes(many, d, 32, err, 128), 32);
    CU_ASSERT_EQUAL(d[31], RAYC_F64);
    strcat(many, ",i8");
    CU_ASSERT_EQUAL(rayc__parse_arg_dtypes(many, d, 32, err, 128), -1);
    CU_ASSERT_STRING_EQUAL(err, "more than 32 declared arguments");
    CU_ASSERT_EQUAL(rayc__parse_arg_dtypes("i8,i16,i32", d, 2, err, 128), -1);
}

static void test_arg_dtypes_at_freeze(void)
{
    rayc_opts o = defaults();
    o.arg_dtypes = "i64, f64,*";
    CU_ASSERT_EQUAL(freeze_one(o), 0);
    const rayc__fn_entry *e = rayc__registry_by_name("f");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->ndecl, 3);
    CU_ASSERT(e->decl[0] == RAYC_I64 && e->decl[1] == RAYC_F64 && e->decl[2] == -1);

    o.num_args = 3;
    CU_ASSERT_EQUAL(freeze_one(o), 0);
    o.num_args = 2; /* disagrees with the three declared dtypes */
    CU_ASSERT_EQUAL(freeze_one(o), RAYC_EINVAL);
    CU_ASSERT(last_error_has("RAYC_REMOTE(f): num_args 2 but 3 arg_dtypes"));

    o = defaults();
    o.arg_dtypes = "i64,complex";
    CU_ASSERT_EQUAL(freeze_one(o), RAYC_EINVAL);
    CU_ASSERT(last_error_has("RAYC_REMOTE(f): unknown dtype 'complex'"));
    o.arg_dtypes = "i64,";
    CU_ASSERT_EQUAL(freeze_one(o), RAYC_EINVAL);
    CU_ASSERT(last_error_has("trailing ','"));

    o = defaults();
    o.num_args = 4; /* a count without dtypes is fine */
    CU_ASSERT_EQUAL(freeze_one(o), 0);
    e = rayc__registry_by_fn(fn20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->ndecl, -1);
    CU_ASSERT_EQUAL(e->opts.num_args, 4);

    o = defaults();
    o.arg_dtypes = ""; /* declares zero arguments */
    CU_ASSERT_EQUAL(freeze_one(o), 0);
    CU_ASSERT_EQUAL(rayc__registry_by_fn(fn20)->ndecl, 0);
    rayc__registry_reset();
}

/* describe() after registering a fixed set in which function "b" has options ob. */
static char *describe_with(rayc_opts ob)
{
    rayc__registry_reset();
    rayc_opts oa = defaults();
    oa.num_cpus = 0.5;
    reg(fn30, "c", defaults());
    reg(fn31, "a", oa);
    reg(fn32, "b", ob);
    if (rayc__registry_freeze() != 0)
        return NULL;
    return rayc__registry_describe();
}

static void test_describe(void)
{
    rayc_opts o = defaults();
    char *base = describe_with(o);
    char *again = describe_with(o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(base);
    CU_ASSERT_PTR_NOT_NULL_FATAL(again);
    CU_ASSERT_STRING_EQUAL(base, again);
    /* one line per function, in table (name) order, each starting with the name */
    CU_ASSERT_EQUAL(strncmp(base, "a ", 2), 0);
    const char *l2 = strchr(base, '\n');
    CU_ASSERT_PTR_NOT_NULL_FATAL(l2);
    CU_ASSERT_EQUAL(strncmp(l2 + 1, "b ", 2), 0);
    const char *l3 = strchr(l2 + 1, '\n');
    CU_ASSERT_PTR_NOT_NULL_FATAL(l3);
    CU_ASSERT_EQUAL(strncmp(l3 + 1, "c ", 2), 0);
    CU_ASSERT_PTR_NOT_NULL(strchr(l3 + 1, '\n'));
    CU_ASSERT_EQUAL(*(strchr(l3 + 1, '\n') + 1), '\0');
    free(again);

    /* Every option that changes how a task runs must change the digest. */
    static const char *const what[] = {"num_returns", "num_cpus",  "num_cpus (tiny)",
                                       "num_gpus",    "memory",    "resources",
                                       "max_retries", "strategy",  "affinity_rank",
                                       "affinity_soft", "num_args", "arg_dtypes",
                                       "arg_dtypes (set)"};
    for (int k = 0; k < (int)(sizeof what / sizeof what[0]); k++) {
        o = defaults();
        o.arg_dtypes = "i64";
        o.resources = "disk=1";
        if (k == 11 || k == 12)
            o.num_args = -1;
        char *ref = describe_with(o);
        switch (k) {
        case 0: o.num_returns = 2; break;
        case 1: o.num_cpus = 3; break;
        case 2: o.num_cpus = 1.0000001; break;
        case 3: o.num_gpus = 1; break;
        case 4: o.memory = 1e9; break;
        case 5: o.resources = "disk=2"; break;
        case 6: o.max_retries = 3; break;
        case 7: o.strategy = RAYC_SCHED_SPREAD; break;
        case 8: o.affinity_rank = 2; break;
        case 9: o.affinity_soft = 1; break;
        case 10: o.num_args = 1; break;
        case 11: o.arg_dtypes = "f64"; break;
        default: o.arg_dtypes = NULL; break;
        }
        char *changed = describe_with(o);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
        CU_ASSERT_PTR_NOT_NULL_FATAL(changed);
        if (strcmp(ref, changed) == 0)
            fprintf(stderr, "\n  describe() ignores %s:\n%s", what[k], ref);
        CU_ASSERT_STRING_NOT_EQUAL(ref, changed);
        /* the other functions' lines are unchanged */
        CU_ASSERT_EQUAL(strncmp(ref, changed, (size_t)(strchr(ref, '\n') - ref)), 0);
        free(ref);
        free(changed);
    }

    /* A renamed function differs too. */
    rayc__registry_reset();
    reg(fn30, "x", defaults());
    rayc__registry_freeze();
    char *x = rayc__registry_describe();
    rayc__registry_reset();
    reg(fn30, "y", defaults());
    rayc__registry_freeze();
    char *y = rayc__registry_describe();
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    CU_ASSERT_STRING_NOT_EQUAL(x, y);
    free(x);
    free(y);
    free(base);

    /* Long option strings do not overflow the digest buffer. */
    static char longdt[700];
    longdt[0] = 0;
    for (int i = 0; i < RAYC__MAX_DECL_ARGS; i++)
        strcat(longdt, i ? ",  bytes" : "bytes");
    o = defaults();
    o.arg_dtypes = longdt;
    char *d = describe_with(o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT(strlen(d) > 0);
    free(d);

    rayc__registry_reset(); /* an empty table describes as "" */
    CU_ASSERT_EQUAL(rayc__registry_freeze(), 0);
    d = rayc__registry_describe();
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_STRING_EQUAL(d, "");
    free(d);
    rayc__registry_reset();
}

static void test_register_after_freeze(void)
{
    rayc__registry_reset();
    reg(fn40, "early", defaults());
    CU_ASSERT_EQUAL_FATAL(rayc__registry_freeze(), 0);
    const rayc__fn_entry *early = rayc__registry_by_fn(fn40);
    reg(fn41, "late", defaults());
    CU_ASSERT_EQUAL(rayc__registry_count(), 1); /* the table did not change */
    CU_ASSERT_PTR_NULL(rayc__registry_by_fn(fn41));
    CU_ASSERT_PTR_NULL(rayc__registry_by_name("late"));
    CU_ASSERT_PTR_EQUAL(rayc__registry_by_fn(fn40), early); /* and did not move */
    /* ... and the problem is reported by the next freeze */
    CU_ASSERT_EQUAL(rayc__registry_freeze(), RAYC_EINVAL);
    CU_ASSERT(last_error_has("registered after rayc_init"));
    CU_ASSERT_PTR_EQUAL(rayc__registry_by_fn(fn40), early); /* still usable */
    rayc__registry_reset();
}

int main(void)
{
    static const unit_test tests[] = {
        {"RAYC_REMOTE load-time registration", test_load_time_registration},
        {"reset", test_reset},
        {"freeze sorts by name and indexes", test_freeze_sorts_and_indexes},
        {"duplicate names", test_duplicate_names},
        {"empty, long and NULL names", test_bad_names},
        {"bad options", test_bad_options},
        {"parse arg_dtypes", test_parse_arg_dtypes},
        {"arg_dtypes checked at freeze", test_arg_dtypes_at_freeze},
        {"describe digest", test_describe},
        {"registration after freeze", test_register_after_freeze},
    };
    return UNIT_RUN("registry", tests);
}
