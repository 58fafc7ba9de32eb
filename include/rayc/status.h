/* rayc/status.h: status codes shared by every public rayc call.
 *
 * Every public function returns int: 0 (RAYC_OK) on success or one of the negative codes below.
 * Codes are never reused or renumbered. rayc_strerror() names a code; rayc_last_error() gives the
 * message of the last failing call made by the calling thread. */
#ifndef RAYC_STATUS_H
#define RAYC_STATUS_H

#include <rayc/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, description) */
#define RAYC_STATUS_TABLE(X)                                                                      \
    X(RAYC_OK, 0, "success")                                                                      \
    X(RAYC_EINVAL, -1, "invalid argument")                                                        \
    X(RAYC_ENOMEM, -2, "out of memory")                                                           \
    X(RAYC_ETIMEDOUT, -3, "timed out")                                                            \
    X(RAYC_ETASK, -4, "task failed")                                                              \
    X(RAYC_EINFEASIBLE, -5, "resource request no rank can ever satisfy")                          \
    X(RAYC_ENOFUNC, -6, "function is not registered")                                             \
    X(RAYC_ERELEASED, -7, "reference was released or never existed")                              \
    X(RAYC_ESTATE, -8, "call not allowed in the runtime's current state")                         \
    X(RAYC_EMPI, -9, "MPI error")                                                                 \
    X(RAYC_EDTYPE, -10, "value has the wrong dtype or shape")                                     \
    X(RAYC_EMISMATCH, -11, "ranks registered different functions")                                \
    X(RAYC_ECANCELLED, -12, "task was cancelled")                                                 \
    X(RAYC_EIO, -13, "I/O error")                                                                 \
    X(RAYC_ERANGE, -14, "index out of range")                                                     \
    X(RAYC_ETOOBIG, -15, "value too large")                                                       \
    X(RAYC_EINTERNAL, -16, "internal error (a rayc bug)")                                         \
    X(RAYC_ENOSPC, -17, "no space left for spilled objects")

enum rayc_status {
#define RAYC_X_ENUM(name, value, text) name = value,
    RAYC_STATUS_TABLE(RAYC_X_ENUM)
#undef RAYC_X_ENUM
};

/* Short fixed description of a status code ("timed out"); "unknown status" for other values.
 * Returns a static string. Any thread, any time (also before rayc_init). */
RAYC_EXPORT const char *rayc_strerror(int status);

/* Symbolic name of a status code ("RAYC_ETIMEDOUT"); "RAYC_UNKNOWN" otherwise. Static string. */
RAYC_EXPORT const char *rayc_status_name(int status);

/* The message left by the last rayc call on this thread that failed, e.g.
 * "rayc_get: task 'slow_square' failed on rank 2 (attempt 1): n must be >= 0".
 * Successful calls do not clear it. Returns a thread-local buffer valid until this thread's next
 * rayc call; never NULL ("" when nothing failed yet). Any thread, any time. */
RAYC_EXPORT const char *rayc_last_error(void);

#ifdef __cplusplus
}
#endif
#endif /* RAYC_STATUS_H */
