/* status.c: status code names and the per-thread last-error message. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rayc/status.h"
#include "status_int.h"

static _Thread_local char last_error[1024];

const char *rayc_strerror(int status)
{
    switch (status) {
#define RAYC_X_TEXT(name, value, text)                                                             \
    case value:                                                                                    \
        return text;
        RAYC_STATUS_TABLE(RAYC_X_TEXT)
#undef RAYC_X_TEXT
    }
    return "unknown status";
}

const char *rayc_status_name(int status)
{
    switch (status) {
#define RAYC_X_NAME(name, value, text)                                                             \
    case value:                                                                                    \
        return #name;
        RAYC_STATUS_TABLE(RAYC_X_NAME)
#undef RAYC_X_NAME
    }
    return "RAYC_UNKNOWN";
}

const char *rayc_last_error(void)
{
    return last_error;
}

int rayc__fail(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

int rayc__fail_msg(int status, const char *msg)
{
    size_t n = strlen(msg);
    if (n >= sizeof last_error)
        n = sizeof last_error - 1;
    memmove(last_error, msg, n); /* msg may be last_error itself */
    last_error[n] = 0;
    return status;
}
