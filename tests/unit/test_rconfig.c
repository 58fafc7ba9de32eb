/* test_rconfig.c: CUnit suite for src/rconfig.c: rayc_config create/set/destroy, unknown keys,
 * value validation per key, the RAYC_<KEY> environment fallback and that an explicit option
 * wins over the environment. */
#include "config.h"

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rconfig.h"
#include "unit_main.h"

static const char *const env_names[RAYC__CFG_NKEYS] = {
    "RAYC_NUM_CPUS",  "RAYC_NUM_GPUS",         "RAYC_MEMORY",      "RAYC_RESOURCES",
    "RAYC_RANK0_WORKERS", "RAYC_INLINE_THRESHOLD", "RAYC_MAX_WORKERS", "RAYC_LOG_LEVEL",
    "RAYC_SIGNALS", "RAYC_SUMMARY", "RAYC_STORE_BYTES", "RAYC_SPILL_HIGH_WATER",
    "RAYC_KEEP_SPILL", "RAYC_WINDOW_BYTES",
};

static int last_error_has(const char *needle)
{
    if (strstr(rayc_last_error(), needle))
        return 1;
    fprintf(stderr, "\n  last error '%s' lacks '%s'\n", rayc_last_error(), needle);
    return 0;
}

static void clear_env(void)
{
    for (int k = 0; k < RAYC__CFG_NKEYS; k++)
        unsetenv(env_names[k]);
}

/* rayc_config_set on a fresh config; returns its status. */
static int try_set(const char *key, const char *value)
{
    rayc_config *c = NULL;
    if (rayc_config_create(&c) != 0)
        return 1000;
    int rc = rayc_config_set(c, key, value);
    rayc_config_destroy(c);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */

static void test_create_destroy(void)
{
    rayc_config *c = NULL;
    CU_ASSERT_EQUAL_FATAL(rayc_config_create(&c), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    for (int k = 0; k < RAYC__CFG_NKEYS; k++)
        CU_ASSERT_PTR_NULL(c->val[k]);
    rayc_config_destroy(c);
    rayc_config_destroy(NULL); /* harmless */
    CU_ASSERT_EQUAL(rayc_config_create(NULL), RAYC_EINVAL);
    CU_ASSERT(last_error_has("rayc_config_create: NULL out"));

    /* a config with every key set is freed completely (ASan checks) */
    CU_ASSERT_EQUAL_FATAL(rayc_config_create(&c), 0);
    const char *vals[RAYC__CFG_NKEYS] = {"4", "1", "2G", "disk=1", "0", "65536", "32", "info", "0", "1", "64M", "0.5", "1", "8M"};
    for (int k = 0; k < RAYC__CFG_NKEYS; k++)
        CU_ASSERT_EQUAL(rayc_config_set(c, rayc__cfg_name(k), vals[k]), 0);
    rayc_config_destroy(c);
}

static void test_key_names(void)
{
    static const char *const want[RAYC__CFG_NKEYS] = {
        "num_cpus", "num_gpus", "memory", "resources", "rank0_workers", "inline_threshold",
        "max_workers", "log_level", "signals", "summary", "store_bytes", "spill_high_water",
        "keep_spill", "window_bytes"};
    for (int k = 0; k < RAYC__CFG_NKEYS; k++)
        CU_ASSERT_STRING_EQUAL(rayc__cfg_name(k), want[k]);
    CU_ASSERT_STRING_EQUAL(rayc__cfg_name(-1), "?");
    CU_ASSERT_STRING_EQUAL(rayc__cfg_name(RAYC__CFG_NKEYS), "?");
}

static void test_set_copies_and_replaces(void)
{
    rayc_config *c = NULL;
    CU_ASSERT_EQUAL_FATAL(rayc_config_create(&c), 0);
    char value[8] = "12";
    CU_ASSERT_EQUAL(rayc_config_set(c, "num_cpus", value), 0);
    value[0] = '9'; /* the config kept its own copy */
    CU_ASSERT_STRING_EQUAL(rayc__cfg_get(c, RAYC__CFG_num_cpus), "12");
    CU_ASSERT_PTR_NOT_EQUAL(rayc__cfg_get(c, RAYC__CFG_num_cpus), value);

    CU_ASSERT_EQUAL(rayc_config_set(c, "num_cpus", "3"), 0); /* replace (old copy freed) */
    CU_ASSERT_STRING_EQUAL(rayc__cfg_get(c, RAYC__CFG_num_cpus), "3");

    /* a rejected value leaves the previous one */
    CU_ASSERT_EQUAL(rayc_config_set(c, "num_cpus", "abc"), RAYC_EINVAL);
    CU_ASSERT_STRING_EQUAL(rayc__cfg_get(c, RAYC__CFG_num_cpus), "3");
    CU_ASSERT_PTR_NULL(c->val[RAYC__CFG_memory]);

    CU_ASSERT_EQUAL(rayc_config_set(c, "log_level", "debug"), 0);
    CU_ASSERT_STRING_EQUAL(rayc__cfg_get(c, RAYC__CFG_log_level), "debug");
    CU_ASSERT_STRING_EQUAL(rayc__cfg_get(c, RAYC__CFG_num_cpus), "3"); /* keys independent */
    rayc_config_destroy(c);
}

static void test_unknown_key_and_null(void)
{
    rayc_config *c = NULL;
    CU_ASSERT_EQUAL_FATAL(rayc_config_create(&c), 0);
    CU_ASSERT_EQUAL(rayc_config_set(c, "num_cpu", "1"), RAYC_EINVAL);
    CU_ASSERT(last_error_has("rayc_config_set: unknown key 'num_cpu'"));
    CU_ASSERT_EQUAL(rayc_config_set(c, "NUM_CPUS", "1"), RAYC_EINVAL); /* case matters */
    CU_ASSERT_EQUAL(rayc_config_set(c, "", "1"), RAYC_EINVAL);
    CU_ASSERT_EQUAL(rayc_config_set(c, "num_cpus ", "1"), RAYC_EINVAL);
    CU_ASSERT_EQUAL(rayc_config_set(c, "spill_dir", "/tmp"), RAYC_EINVAL);
    CU_ASSERT_EQUAL(rayc_config_set(NULL, "num_cpus", "1"), RAYC_EINVAL);
    CU_ASSERT(last_error_has("NULL argument"));
    CU_ASSERT_EQUAL(rayc_config_set(c, NULL, "1"), RAYC_EINVAL);
    CU_ASSERT_EQUAL(rayc_config_set(c, "num_cpus", NULL), RAYC_EINVAL);
    for (int k = 0; k < RAYC__CFG_NKEYS; k++)
        CU_ASSERT_PTR_NULL(c->val[k]);
    rayc_config_destroy(c);
}

static void test_numeric_values(void)
{
    static const char *const good[] = {"0", "1", "4", "0.5", "64", "100000", " 8", "8 "};
    static const char *const bad[] = {"abc", "-1", "1e9", "", "nan", "inf", "2x", "1,5",
                                      "100001", "-0.5", "0x"};
    const char *keys[] = {"num_cpus", "max_workers"};
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
            int rc = try_set(keys[k], good[i]);
            if (rc)
                fprintf(stderr, "\n  %s='%s' rejected: %s\n", keys[k], good[i],
                        rayc_last_error());
            CU_ASSERT_EQUAL(rc, 0);
        }
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            int rc = try_set(keys[k], bad[i]);
            if (rc != RAYC_EINVAL)
                fprintf(stderr, "\n  %s='%s' accepted\n", keys[k], bad[i]);
            CU_ASSERT_EQUAL(rc, RAYC_EINVAL);
        }
    }
    CU_ASSERT_EQUAL(try_set("num_cpus", "abc"), RAYC_EINVAL);
    CU_ASSERT(last_error_has("rayc_config_set(num_cpus): 'abc' is not a non-negative number"));
    CU_ASSERT_EQUAL(try_set("num_cpus", "-1"), RAYC_EINVAL);
    CU_ASSERT(last_error_has("not a non-negative number"));
    CU_ASSERT_EQUAL(try_set("num_cpus", "1e9"), RAYC_EINVAL);
    CU_ASSERT(last_error_has("rayc_config_set(num_cpus): '1e9' is too large"));

    /* no upper bound for GPUs; rank0_workers is a plain non-negative number */
    CU_ASSERT_EQUAL(try_set("num_gpus", "1e9"), 0);
    CU_ASSERT_EQUAL(try_set("num_gpus", "2"), 0);
    CU_ASSERT_EQUAL(try_set("num_gpus", "-1"), RAYC_EINVAL);
    CU_ASSERT_EQUAL(try_set("num_gpus", "two"), RAYC_EINVAL);
    CU_ASSERT_EQUAL(try_set("rank0_workers", "0"), 0);
    CU_ASSERT_EQUAL(try_set("rank0_workers", "1"), 0);
    CU_ASSERT_EQUAL(try_set("rank0_workers", "-1"), RAYC_EINVAL);
    CU_ASSERT_EQUAL(try_set("rank0_workers", "yes"), RAYC_EINVAL);
}

static void test_size_values(void)
{
    static const char *const good[] = {"4G", "4g", "4096", "512M", "1T", "100K", "0"};
    static const char *const bad[] = {"4X", "4GB", "-4G", "", "G", "1.5G", " 4G", "4 G", "abc"};
    const char *keys[] = {"memory", "inline_threshold"};
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) /* inline: 64M at most */
            CU_ASSERT_EQUAL(try_set(keys[k], k == 1 && i != 2 && i < 5 ? "64m" : good[i]), 0);
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            int rc = try_set(keys[k], bad[i]);
            if (rc != RAYC_EINVAL)
                fprintf(stderr, "\n  %s='%s' accepted\n", keys[k], bad[i]);
            CU_ASSERT_EQUAL(rc, RAYC_EINVAL);
        }
    }
    CU_ASSERT_EQUAL(try_set("memory", "4X"), RAYC_EINVAL);
    CU_ASSERT(last_error_has("rayc_config_set(memory): '4X' is not a size"));
}

/* An inline value travels inside one control record: the threshold stops at 64 MiB. */
static void test_inline_threshold_cap(void)
{
    CU_ASSERT_EQUAL(try_set("inline_threshold", "64M"), 0);
    CU_ASSERT_EQUAL(try_set("inline_threshold", "67108864"), 0);
    CU_ASSERT_EQUAL(try_set("inline_threshold", "67108865"), RAYC_EINVAL);
    CU_ASSERT_EQUAL(try_set("inline_threshold", "1G"), RAYC_EINVAL);
    CU_ASSERT(last_error_has("above 64M"));
    CU_ASSERT_EQUAL(try_set("memory", "1G"), 0); /* other sizes are not capped */
}

static void test_log_level_values(void)
{
    static const char *const good[] = {"error", "warn", "info", "debug", "DEBUG", "Warn"};
    static const char *const bad[] = {"verbose", "", "warning", "0", "3", "debug "};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CU_ASSERT_EQUAL(try_set("log_level", good[i]), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ASSERT_EQUAL(try_set("log_level", bad[i]), RAYC_EINVAL);
    CU_ASSERT_EQUAL(try_set("log_level", "verbose"), RAYC_EINVAL);
    CU_ASSERT(last_error_has("'verbose' is not one of error, warn, info, debug"));
}

static void test_resources_values(void)
{
    static const char *const good[] = {"gpu_a=2,x=0.5", "disk=1", " a = 1 , b=2 ", "",
                                       "a=0", "a=1,b=1,c=1,d=1,e=1,f=1,g=1,h=1"};
    static const char *const bad[] = {"=3",       "a=",       "a",          "a=-1",
                                      "a=1,a=2",  "CPU=2",    "gpu=1",      "memory=5",
                                      "a=1,",     "a=1;b=2",  "a=x",        "a=1 b=2",
                                      "a=1,b=1,c=1,d=1,e=1,f=1,g=1,h=1,i=1"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int rc = try_set("resources", good[i]);
        if (rc)
            fprintf(stderr, "\n  resources='%s' rejected: %s\n", good[i], rayc_last_error());
        CU_ASSERT_EQUAL(rc, 0);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = try_set("resources", bad[i]);
        if (rc != RAYC_EINVAL)
            fprintf(stderr, "\n  resources='%s' accepted\n", bad[i]);
        CU_ASSERT_EQUAL(rc, RAYC_EINVAL);
    }
    CU_ASSERT_EQUAL(try_set("resources", "=3"), RAYC_EINVAL);
    CU_ASSERT(last_error_has("rayc_config_set(resources): "));
    CU_ASSERT(strlen(rayc_last_error()) > strlen("rayc_config_set(resources): "));
}

static void test_environment_fallback(void)
{
    rayc_config *c = NULL;
    clear_env();
    CU_ASSERT_EQUAL_FATAL(rayc_config_create(&c), 0);
    for (int k = 0; k < RAYC__CFG_NKEYS; k++) {
        CU_ASSERT_PTR_NULL(rayc__cfg_get(NULL, k));
        CU_ASSERT_PTR_NULL(rayc__cfg_get(c, k));
    }

    /* each key reads RAYC_<KEY> when the config does not set it */
    for (int k = 0; k < RAYC__CFG_NKEYS; k++) {
        char v[32];
        snprintf(v, sizeof v, "env-%d", k);
        CU_ASSERT_EQUAL_FATAL(setenv(env_names[k], v, 1), 0);
        const char *got = rayc__cfg_get(NULL, k);
        CU_ASSERT_PTR_NOT_NULL_FATAL(got);
        CU_ASSERT_STRING_EQUAL(got, v);
        got = rayc__cfg_get(c, k);
        CU_ASSERT_PTR_NOT_NULL_FATAL(got);
        CU_ASSERT_STRING_EQUAL(got, v);
        for (int j = 0; j < RAYC__CFG_NKEYS; j++) /* and only that key */
            if (j != k)
                CU_ASSERT_PTR_NULL(rayc__cfg_get(c, j));
        unsetenv(env_names[k]);
        CU_ASSERT_PTR_NULL(rayc__cfg_get(c, k));
    }

    /* an explicit option wins over the environment */
    setenv("RAYC_NUM_CPUS", "7", 1);
    setenv("RAYC_LOG_LEVEL", "debug", 1);
    CU_ASSERT_STRING_EQUAL(rayc__cfg_get(c, RAYC__CFG_num_cpus), "7");
    CU_ASSERT_EQUAL(rayc_config_set(c, "num_cpus", "3"), 0);
    CU_ASSERT_STRING_EQUAL(rayc__cfg_get(c, RAYC__CFG_num_cpus), "3");
    CU_ASSERT_STRING_EQUAL(rayc__cfg_get(NULL, RAYC__CFG_num_cpus), "7");
    CU_ASSERT_STRING_EQUAL(rayc__cfg_get(c, RAYC__CFG_log_level), "debug");
    CU_ASSERT_EQUAL(rayc_config_set(c, "log_level", "error"), 0);
    CU_ASSERT_STRING_EQUAL(rayc__cfg_get(c, RAYC__CFG_log_level), "error");

    /* an empty variable counts as unset */
    setenv("RAYC_MEMORY", "", 1);
    CU_ASSERT_PTR_NULL(rayc__cfg_get(c, RAYC__CFG_memory));
    CU_ASSERT_PTR_NULL(rayc__cfg_get(NULL, RAYC__CFG_memory));

    /* lower-case variables are not read */
    clear_env();
    setenv("rayc_num_gpus", "2", 1);
    CU_ASSERT_PTR_NULL(rayc__cfg_get(NULL, RAYC__CFG_num_gpus));
    unsetenv("rayc_num_gpus");
    rayc_config_destroy(c);
    clear_env();
}

/* The environment is not validated by rayc__cfg_get; rayc__cfg_check is how init does it. */
static void test_check_env_values(void)
{
    char err[200];
    clear_env();
    setenv("RAYC_NUM_CPUS", "lots", 1);
    const char *v = rayc__cfg_get(NULL, RAYC__CFG_num_cpus);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_EQUAL(rayc__cfg_check(RAYC__CFG_num_cpus, v, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "'lots' is not a non-negative number");
    CU_ASSERT_EQUAL(rayc__cfg_check(RAYC__CFG_memory, "4G", err, sizeof err), 0);
    CU_ASSERT_EQUAL(rayc__cfg_check(RAYC__CFG_resources, "=3", err, sizeof err), -1);
    CU_ASSERT(strlen(err) > 0);
    /* a short error buffer is truncated, not overrun */
    char tiny[8];
    CU_ASSERT_EQUAL(rayc__cfg_check(RAYC__CFG_log_level, "verbose", tiny, sizeof tiny), -1);
    CU_ASSERT_EQUAL(strlen(tiny), sizeof tiny - 1);
    clear_env();
}

int main(void)
{
    static const unit_test tests[] = {
        {"create and destroy", test_create_destroy},
        {"key names", test_key_names},
        {"set copies and replaces", test_set_copies_and_replaces},
        {"unknown keys and NULL arguments", test_unknown_key_and_null},
        {"num_cpus, max_workers, num_gpus, rank0_workers", test_numeric_values},
        {"memory and inline_threshold sizes", test_size_values},
        {"inline_threshold at most 64M", test_inline_threshold_cap},
        {"log_level", test_log_level_values},
        {"resources", test_resources_values},
        {"environment fallback; explicit wins", test_environment_fallback},
        {"checking environment values", test_check_env_values},
    };
    return UNIT_RUN("rconfig", tests);
}
