/* status_int.h: setting the per-thread last-error message from inside the library. */
#ifndef RAYC_STATUS_INT_H
#define RAYC_STATUS_INT_H

/* Record a printf-style message for rayc_last_error() and return status (for "return
 * rayc__fail(RAYC_EINVAL, "...")"). */
int rayc__fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same with a preformatted message. */
int rayc__fail_msg(int status, const char *msg);

#endif /* RAYC_STATUS_INT_H */
