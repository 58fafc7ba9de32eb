/* log.h: level-gated logging to stderr, prefixed with rank and thread role.
 *
 * Levels: ERROR - the job or a call cannot go on as asked (also returned as a status);
 * WARN - something the user should know that rayc worked around; INFO - one-off facts about
 * the job (ranks, resources, where spill files go); DEBUG - per-message and per-task tracing.
 * RAYC_LOG does not evaluate its arguments when the level is off. */
#ifndef RAYC_LOG_H
#define RAYC_LOG_H

enum rayc__log_level { RAYC__LOG_ERROR = 0, RAYC__LOG_WARN, RAYC__LOG_INFO, RAYC__LOG_DEBUG };

extern int rayc__log_level;

void rayc__log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Name this thread's role in log lines ("driver", "progress", "worker3"). */
void rayc__log_set_role(const char *role);
void rayc__log_set_rank(int rank);
/* Parse "error|warn|info|debug"; -1 when unknown. */
int rayc__log_parse_level(const char *s);

#define RAYC_LOG(level, ...)                                                                       \
    do {                                                                                           \
        if ((level) <= rayc__log_level)                                                            \
            rayc__log_write((level), __VA_ARGS__);                                                 \
    } while (0)

#endif /* RAYC_LOG_H */
