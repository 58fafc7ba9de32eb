/* rconfig.c: rayc_config, the init options, and their environment fallbacks. */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "platform.h"
#include "rconfig.h"
#include "sched_policy.h"
#include "status_int.h"

static const char *const key_names[RAYC__CFG_NKEYS] = {
#define RAYC_X_NAME(k) #k,
    RAYC__CFG_KEYS(RAYC_X_NAME)
#undef RAYC_X_NAME
};

const char *rayc__cfg_name(int key)
{
    return key >= 0 && key < RAYC__CFG_NKEYS ? key_names[key] : "?";
}

static int parse_number(const char *v, double *out)
{
    char *end;
    double d = strtod(v, &end);
    while (*end && isspace((unsigned char)*end))
        end++;
    if (end == v || *end || !isfinite(d) || d < 0)
        return -1;
    *out = d;
    return 0;
}

int rayc__cfg_check(int key, const char *value, char *err, size_t errlen)
{
    double d;
    char names[RAYC_MAX_CUSTOM][32];
    int nnames = 0;
    rayc__resvec vec;
    switch (key) {
    case RAYC__CFG_memory:
    case RAYC__CFG_inline_threshold:
    case RAYC__CFG_store_bytes:
    case RAYC__CFG_window_bytes:
        if (rayc__parse_size(value, &d) != 0) {
            snprintf(err, errlen, "'%s' is not a size (bytes, or with K/M/G/T)", value);
            return -1;
        }
        if (key == RAYC__CFG_inline_threshold && d > RAYC__INLINE_MAX) {
            snprintf(err, errlen, "'%s' is above 64M: values that large belong in the object "
                                  "store, not inside control messages", value);
            return -1;
        }
        return 0;
    case RAYC__CFG_resources:
        return rayc__res_parse(value, names, &nnames, 1, &vec, err, (int)errlen);
    case RAYC__CFG_log_level:
        if (rayc__log_parse_level(value) < 0) {
            snprintf(err, errlen, "'%s' is not one of error, warn, info, debug", value);
            return -1;
        }
        return 0;
    default:
        if (parse_number(value, &d) != 0) {
            snprintf(err, errlen, "'%s' is not a non-negative number", value);
            return -1;
        }
        if (key == RAYC__CFG_spill_high_water && (d <= 0 || d > 1)) {
            snprintf(err, errlen, "'%s' must be in (0, 1]", value);
            return -1;
        }
        if ((key == RAYC__CFG_max_workers || key == RAYC__CFG_num_cpus) && d > 100000) {
            snprintf(err, errlen, "'%s' is too large", value);
            return -1;
        }
        return 0;
    }
}

int rayc_config_create(rayc_config **out)
{
    if (!out)
        return rayc__fail(RAYC_EINVAL, "rayc_config_create: NULL out");
    *out = calloc(1, sizeof **out);
    return *out ? 0 : rayc__fail(RAYC_ENOMEM, "rayc_config_create: out of memory");
}

int rayc_config_set(rayc_config *cfg, const char *key, const char *value)
{
    char err[200];
    if (!cfg || !key || !value)
        return rayc__fail(RAYC_EINVAL, "rayc_config_set: NULL argument");
    for (int k = 0; k < RAYC__CFG_NKEYS; k++) {
        if (strcmp(key, key_names[k]) != 0)
            continue;
        if (rayc__cfg_check(k, value, err, sizeof err) != 0)
            return rayc__fail(RAYC_EINVAL, "rayc_config_set(%s): %s", key, err);
        char *copy = strdup(value);
        if (!copy)
            return rayc__fail(RAYC_ENOMEM, "rayc_config_set: out of memory");
        free(cfg->val[k]);
        cfg->val[k] = copy;
        return 0;
    }
    return rayc__fail(RAYC_EINVAL, "rayc_config_set: unknown key '%s'", key);
}

void rayc_config_destroy(rayc_config *cfg)
{
    if (!cfg)
        return;
    for (int k = 0; k < RAYC__CFG_NKEYS; k++)
        free(cfg->val[k]);
    free(cfg);
}

const char *rayc__cfg_get(const rayc_config *cfg, int key)
{
    if (cfg && cfg->val[key])
        return cfg->val[key];
    char env[64] = "RAYC_";
    size_t n = strlen(env);
    for (const char *p = key_names[key]; *p && n < sizeof env - 1; p++)
        env[n++] = (char)toupper((unsigned char)*p);
    env[n] = 0;
    const char *v = getenv(env);
    return v && *v ? v : NULL;
}
