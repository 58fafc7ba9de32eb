/* job_util.h: the few helpers every example job in jobs/ uses: a clock, failing cleanly on a
 * rayc error, checked allocation, option parsing and a small random generator. Define
 * JOB_NAME (the job's name, for messages) before including it. Header-only: a job uses what it
 * needs and the rest costs nothing. */
#ifndef RAYC_JOB_UTIL_H
#define RAYC_JOB_UTIL_H

#ifndef JOB_NAME
#error "define JOB_NAME before including job_util.h"
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <rayc.h>

static inline double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A rayc call failed on the driver: say which and why, stop the runtime on every rank (so that
 * no rank waits forever for us), and exit 1. */
static inline _Noreturn void die(const char *what, int rc)
{
    fprintf(stderr, JOB_NAME ": FAILED: %s: %s: %s\n", what, rayc_strerror(rc),
            rayc_last_error());
    if (rayc_is_initialized())
        rayc_shutdown();
    exit(EXIT_FAILURE);
}

static inline void check(int rc, const char *what)
{
    if (rc != RAYC_OK)
        die(what, rc);
}

static inline void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL)
        die("calloc", RAYC_ENOMEM);
    return p;
}

/* End the job while reading its options: print the usage (to stdout for -h, status 0; to
 * stderr for bad options, status 2), shut the runtime down on every rank and exit. */
static inline _Noreturn void usage_exit(void (*usage)(FILE *), int status)
{
    usage(status ? stderr : stdout);
    check(rayc_shutdown(), "rayc_shutdown");
    exit(status);
}

/* Parse a decimal integer in [min, max]; 0 on success, -1 otherwise. */
static inline int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Parse a number in [min, max]; 0 on success, -1 otherwise (NaN is refused). */
static inline int parse_f64(const char *s, double min, double max, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= min && v <= max))
        return -1;
    *out = v;
    return 0;
}

/* One command-line option -c taking a number: an integer in [imin, imax] into *i64, or (with
 * f64 set) a real in [fmin, fmax] into *f64. Make them with JOB_INT and JOB_F64. */
typedef struct job_option {
    char letter;
    int64_t imin, imax;
    double fmin, fmax;
    int64_t *i64;
    double *f64;
} job_option;
#define JOB_INT(c, lo, hi, p) {(c), (lo), (hi), 0.0, 0.0, (p), NULL}
#define JOB_F64(c, lo, hi, p) {(c), 0, 0, (lo), (hi), NULL, (p)}

/* Read the options in opts (and -h) with getopt; -h, an unknown option, a value out of range
 * or a stray argument end the job through usage_exit. */
static inline void parse_job_options(int argc, char **argv, const job_option *opts, int n,
                                     void (*usage)(FILE *))
{
    char spec[2 * 26 + 2];
    int len = 0;
    for (int k = 0; k < n && len < (int)sizeof spec - 3; k++) {
        spec[len++] = opts[k].letter;
        spec[len++] = ':';
    }
    spec[len++] = 'h';
    spec[len] = '\0';
    int c, bad = 0;
    while ((c = getopt(argc, argv, spec)) != -1) {
        if (c == 'h')
            usage_exit(usage, EXIT_SUCCESS);
        const job_option *o = NULL;
        for (int k = 0; k < n && !o; k++)
            if (opts[k].letter == c)
                o = &opts[k];
        if (!o)
            bad = 1;
        else if (o->f64)
            bad |= parse_f64(optarg, o->fmin, o->fmax, o->f64);
        else
            bad |= parse_i64(optarg, o->imin, o->imax, o->i64);
    }
    if (bad || optind != argc)
        usage_exit(usage, 2);
}

/* splitmix64: a tiny counter-based generator; one 64-bit word of state. */
static inline uint64_t splitmix64_next(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

#endif /* RAYC_JOB_UTIL_H */
