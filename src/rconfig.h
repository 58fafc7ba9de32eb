/* rconfig.h: init options (rayc_config) resolved against the environment. */
#ifndef RAYC_RCONFIG_H
#define RAYC_RCONFIG_H

#include <stddef.h>

#include "rayc.h"

/* Largest inline_threshold: an inline value travels inside one control record, and a
 * record must stay far below what one MPI message can count (2 GiB). */
#define RAYC__INLINE_MAX (64.0 * 1024 * 1024)

#define RAYC__CFG_KEYS(X)                                                                          \
    X(num_cpus)                                                                                    \
    X(num_gpus)                                                                                    \
    X(memory)                                                                                      \
    X(resources)                                                                                   \
    X(rank0_workers)                                                                               \
    X(inline_threshold)                                                                            \
    X(max_workers)                                                                                 \
    X(log_level)                                                                                   \
    X(signals)                                                                                     \
    X(summary)                                                                                     \
    X(store_bytes)                                                                                 \
    X(spill_high_water)                                                                            \
    X(keep_spill)                                                                                  \
    X(window_bytes)

enum rayc__cfg_key {
#define RAYC_X_KEY(k) RAYC__CFG_##k,
    RAYC__CFG_KEYS(RAYC_X_KEY)
#undef RAYC_X_KEY
    RAYC__CFG_NKEYS
};

struct rayc_config {
    char *val[RAYC__CFG_NKEYS];
};

/* The effective string for key: the config's value, else $RAYC_<KEY>, else NULL. */
const char *rayc__cfg_get(const rayc_config *cfg, int key);
/* Key's name ("num_cpus"). */
const char *rayc__cfg_name(int key);
/* Validate a value for key; 0 or -1 with a message in err. */
int rayc__cfg_check(int key, const char *value, char *err, size_t errlen);

#endif /* RAYC_RCONFIG_H */
