/* log.c: the logging sink (see log.h for levels). */
#include "config.h"

#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"

int rayc__log_level = RAYC__LOG_WARN;
static int log_rank = -1;
static _Thread_local char log_role[16] = "user";

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void rayc__log_set_role(const char *role)
{
    snprintf(log_role, sizeof log_role, "%s", role);
    if (strcmp(role, "driver") != 0) { /* the runtime's own threads show in top -H, gdb, perf */
        char name[16];
        snprintf(name, sizeof name, "rayc-%s", role);
        pthread_setname_np(pthread_self(), name);
    }
}

void rayc__log_set_rank(int rank)
{
    log_rank = rank;
}

int rayc__log_parse_level(const char *s)
{
    for (int i = 0; s && i < 4; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

void rayc__log_write(int level, const char *fmt, ...)
{
    char line[1024];
    int off = snprintf(line, sizeof line, "rayc[%d:%s] %s: ", log_rank, log_role,
                       level_names[level < 0 ? 0 : level > 3 ? 3 : level]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + off, sizeof line - (size_t)off, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}
