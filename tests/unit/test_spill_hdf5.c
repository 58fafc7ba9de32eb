/* test_spill_hdf5.c: CUnit suite for src/spill_hdf5.c: round trips of every dtype (0-d, n-d,
 * empty), info, delete and space reuse, reopen, argument checks, unwritable directory, missing
 * object, file size limit (disk full), damaged file, silent errors, threads, foreign datasets,
 * and what h5dump shows in a kept file. */
#include "spill_hdf5.h"

#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <hdf5.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "unit_main.h"

static char tmpdir[4096]; /* a fresh directory per test */
static char errbuf[1024];

#define ERR errbuf, sizeof errbuf

/* Asserts rc == want and shows the module's message when it is not. */
#define CHECK_RC(rc, want)                                                                        \
    do {                                                                                          \
        int rc_ = (rc);                                                                           \
        if (rc_ != (want))                                                                        \
            fprintf(stderr, "\n  %s:%d: rc %d, want %d: %s\n", __FILE__, __LINE__, rc_, (want),   \
                    errbuf);                                                                      \
        CU_ASSERT_EQUAL_FATAL(rc_, (want));                                                       \
    } while (0)

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* Before each test: a fresh private directory (left as "" when that fails, which makes the
 * test fail at its first open). */
static void setup_dir(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/rayc-spill-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir))
        tmpdir[0] = '\0';
    errbuf[0] = '\0';
}

static void teardown_dir(void)
{
    if (tmpdir[0])
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static size_t dsize(rayc_dtype dt)
{
    static const size_t sz[RAYC_NUM_DTYPES] = {1, 1, 2, 4, 8, 1, 2, 4, 8, 4, 8, 8, 16, 1};
    return sz[dt];
}

/* Deterministic contents for a value; bools are 0 or 1. */
static void fill(unsigned char *p, size_t n, rayc_dtype dt, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = dt == RAYC_BOOL ? (unsigned char)((i + seed) % 3 == 0)
                               : (unsigned char)(i * 37u + seed * 11u + 5u);
}

static size_t count_of(int ndim, const int64_t *shape)
{
    size_t c = 1;
    for (int i = 0; i < ndim; i++)
        c *= (size_t)shape[i];
    return c;
}

/* Write name, check info, read it back and compare. */
static void round_trip(rayc__spill *sp, const char *name, rayc_dtype dt, int ndim,
                       const int64_t *shape)
{
    size_t nbytes = count_of(ndim, shape) * dsize(dt), got_bytes = 12345;
    unsigned char *in = malloc(nbytes + 1), *out = malloc(nbytes + 1);
    int64_t got_shape[RAYC_MAX_NDIM];
    rayc_dtype got_dt = RAYC_NUM_DTYPES;
    int got_ndim = -1;
    CU_ASSERT_FATAL(in && out);
    fill(in, nbytes, dt, (unsigned)dt);
    memset(out, 0xee, nbytes + 1);
    CHECK_RC(rayc__spill_write(sp, name, dt, ndim, shape, nbytes ? in : NULL, nbytes, "put", ERR),
             RAYC__SPILL_OK);
    CHECK_RC(rayc__spill_info(sp, name, &got_dt, &got_ndim, got_shape, &got_bytes, ERR), 0);
    CU_ASSERT_EQUAL(got_dt, dt);
    CU_ASSERT_EQUAL(got_ndim, ndim);
    CU_ASSERT_EQUAL(got_bytes, nbytes);
    for (int i = 0; i < ndim && got_ndim == ndim; i++)
        CU_ASSERT_EQUAL(got_shape[i], shape[i]);
    CHECK_RC(rayc__spill_read(sp, name, nbytes ? out : NULL, nbytes, ERR), RAYC__SPILL_OK);
    CU_ASSERT(memcmp(in, out, nbytes) == 0);
    CU_ASSERT_EQUAL(out[nbytes], 0xee); /* nothing written past the end */
    free(in);
    free(out);
}

static rayc__spill *open_fresh(int rank)
{
    rayc__spill *sp = NULL;
    CHECK_RC(rayc__spill_open(&sp, tmpdir, rank, RAYC__SPILL_FRESH, ERR), RAYC__SPILL_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
    return sp;
}

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

static void test_every_dtype(void)
{
    rayc__spill *sp = open_fresh(0);
    char name[64];
    static const int64_t shape2[2] = {2, 3}, shape1[1] = {13};
    CU_ASSERT_FALSE(file_exists(rayc__spill_path(sp))); /* created by the first write */
    for (int dt = 0; dt < RAYC_NUM_DTYPES; dt++) {
        snprintf(name, sizeof name, "obj-r0-s%d-i0", dt);
        if (dt == RAYC_BYTES)
            round_trip(sp, name, (rayc_dtype)dt, 1, shape1);
        else
            round_trip(sp, name, (rayc_dtype)dt, 2, shape2);
        snprintf(name, sizeof name, "obj-r0-s%d-i1", dt); /* 0-d scalar */
        round_trip(sp, name, (rayc_dtype)dt, 0, NULL);
    }
    CU_ASSERT_TRUE(file_exists(rayc__spill_path(sp)));
    rayc__spill_stats st;
    rayc__spill_get_stats(sp, &st);
    CU_ASSERT_EQUAL(st.objects, 2 * RAYC_NUM_DTYPES);
    CU_ASSERT_EQUAL(st.bytes_written, st.bytes_read);
    CU_ASSERT_EQUAL(st.live_bytes, st.bytes_written);
    CU_ASSERT(st.file_bytes > 0);
    CHECK_RC(rayc__spill_close(sp, 0, ERR), RAYC__SPILL_OK);
}

static void test_shapes_and_empty(void)
{
    rayc__spill *sp = open_fresh(1);
    static const int64_t eight[8] = {2, 1, 3, 1, 2, 1, 1, 2}, big[3] = {64, 64, 32};
    static const int64_t e1[1] = {0}, e3[3] = {3, 0, 2}, long1[1] = {100003};
    round_trip(sp, "eight-dims", RAYC_I32, 8, eight);
    round_trip(sp, "one-mib", RAYC_F64, 3, big);
    round_trip(sp, "long", RAYC_U16, 1, long1);
    round_trip(sp, "empty-1d", RAYC_F64, 1, e1);
    round_trip(sp, "empty-3d", RAYC_C64, 3, e3);
    round_trip(sp, "empty-bytes", RAYC_BYTES, 1, e1);
    size_t nb = 99;
    CHECK_RC(rayc__spill_info(sp, "empty-3d", NULL, NULL, NULL, &nb, ERR), RAYC__SPILL_OK);
    CU_ASSERT_EQUAL(nb, 0);
    CHECK_RC(rayc__spill_close(sp, 0, ERR), RAYC__SPILL_OK);
}

static void test_bad_arguments(void)
{
    rayc__spill *sp = open_fresh(0);
    int64_t v = 7, shape[1] = {1}, neg[1] = {-1};
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    const char *bad_names[] = {"", "a/b", ".hidden", "sp ace", "x\n", longname};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++)
        CHECK_RC(rayc__spill_write(sp, bad_names[i], RAYC_I64, 0, NULL, &v, 8, "put", ERR),
                 RAYC__SPILL_EINVAL);
    CHECK_RC(rayc__spill_write(sp, NULL, RAYC_I64, 0, NULL, &v, 8, "put", ERR), -4);
    CHECK_RC(rayc__spill_write(sp, "x", (rayc_dtype)99, 0, NULL, &v, 8, "p", ERR), -4);
    CHECK_RC(rayc__spill_write(sp, "x", RAYC_I64, 9, shape, &v, 8, "p", ERR), -4);
    CHECK_RC(rayc__spill_write(sp, "x", RAYC_I64, 1, NULL, &v, 8, "p", ERR), -4);
    CHECK_RC(rayc__spill_write(sp, "x", RAYC_I64, 1, neg, &v, 8, "p", ERR), -4);
    CHECK_RC(rayc__spill_write(sp, "x", RAYC_I64, 1, shape, &v, 4, "p", ERR), -4);
    CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, "nbytes 4"));
    CHECK_RC(rayc__spill_write(sp, "x", RAYC_I64, 1, shape, NULL, 8, "p", ERR), -4);
    CHECK_RC(rayc__spill_write(NULL, "x", RAYC_I64, 0, NULL, &v, 8, "p", ERR), -4);
    CU_ASSERT_FALSE(file_exists(rayc__spill_path(sp))); /* nothing reached HDF5 */
    CHECK_RC(rayc__spill_write(sp, "x", RAYC_I64, 1, shape, &v, 8, NULL, ERR), 0);
    CHECK_RC(rayc__spill_write(sp, "x", RAYC_I64, 1, shape, &v, 8, "p", ERR), -4);
    CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, "already"));
    CHECK_RC(rayc__spill_read(sp, "x", &v, 4, ERR), RAYC__SPILL_EINVAL); /* wrong size */
    CHECK_RC(rayc__spill_read(sp, "x", NULL, 8, ERR), RAYC__SPILL_EINVAL);
    CHECK_RC(rayc__spill_open(NULL, tmpdir, 0, 0, ERR), RAYC__SPILL_EINVAL);
    rayc__spill *sp2 = (rayc__spill *)&v;
    CHECK_RC(rayc__spill_open(&sp2, tmpdir, -1, 0, ERR), RAYC__SPILL_EINVAL);
    CU_ASSERT_PTR_NULL(sp2);
    CHECK_RC(rayc__spill_open(&sp2, tmpdir, 0, 7, ERR), RAYC__SPILL_EINVAL);
    CHECK_RC(rayc__spill_close(NULL, 0, ERR), RAYC__SPILL_OK);
    CHECK_RC(rayc__spill_close(sp, 0, ERR), RAYC__SPILL_OK);
}

static void test_missing_object(void)
{
    rayc__spill *sp = open_fresh(0);
    int64_t v = 42, got = 0;
    /* Before the first write there is no file at all. */
    CHECK_RC(rayc__spill_info(sp, "obj-r0-s1-i0", NULL, NULL, NULL, NULL, ERR), -2);
    CHECK_RC(rayc__spill_read(sp, "obj-r0-s1-i0", &got, 8, ERR), RAYC__SPILL_ENOENT);
    CHECK_RC(rayc__spill_delete(sp, "obj-r0-s1-i0", ERR), RAYC__SPILL_ENOENT);
    CHECK_RC(rayc__spill_write(sp, "obj-r0-s1-i0", RAYC_I64, 0, NULL, &v, 8, "put", ERR), 0);
    CHECK_RC(rayc__spill_read(sp, "obj-r0-s2-i0", &got, 8, ERR), RAYC__SPILL_ENOENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, "obj-r0-s2-i0"));
    CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, "spill-rank0.h5"));
    CHECK_RC(rayc__spill_read(sp, "obj-r0-s1-i0", &got, 8, ERR), RAYC__SPILL_OK);
    CU_ASSERT_EQUAL(got, 42);
    CHECK_RC(rayc__spill_close(sp, 0, ERR), RAYC__SPILL_OK);
}

/* Delete unlinks; the space of a deleted object is reused while the file stays open. */
static void test_delete_and_space(void)
{
    enum { MB8 = 8 << 20 };
    rayc__spill *sp = open_fresh(0);
    int64_t shape[1] = {MB8};
    unsigned char *buf = malloc(MB8);
    rayc__spill_stats st;
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    fill(buf, MB8, RAYC_U8, 1);
    CHECK_RC(rayc__spill_write(sp, "a", RAYC_U8, 1, shape, buf, MB8, "put", ERR), 0);
    CHECK_RC(rayc__spill_write(sp, "b", RAYC_U8, 1, shape, buf, MB8, "put", ERR), 0);
    CHECK_RC(rayc__spill_delete(sp, "a", ERR), RAYC__SPILL_OK);
    CHECK_RC(rayc__spill_delete(sp, "a", ERR), RAYC__SPILL_ENOENT);
    CHECK_RC(rayc__spill_info(sp, "a", NULL, NULL, NULL, NULL, ERR), RAYC__SPILL_ENOENT);
    rayc__spill_get_stats(sp, &st);
    CU_ASSERT_EQUAL(st.objects, 1);
    CU_ASSERT_EQUAL(st.live_bytes, MB8);
    uint64_t before = st.file_bytes;
    CU_ASSERT(before >= 2 * (uint64_t)MB8);
    for (int i = 0; i < 4; i++) { /* churn: each new object fits in the hole just freed */
        CHECK_RC(rayc__spill_write(sp, "c", RAYC_U8, 1, shape, buf, MB8, "put", ERR), 0);
        CHECK_RC(rayc__spill_delete(sp, "c", ERR), RAYC__SPILL_OK);
    }
    rayc__spill_get_stats(sp, &st);
    CU_ASSERT(st.file_bytes < before + (1 << 20));
    CHECK_RC(rayc__spill_read(sp, "b", buf, MB8, ERR), RAYC__SPILL_OK);
    CHECK_RC(rayc__spill_write(sp, "a", RAYC_U8, 1, shape, buf, MB8, "put", ERR), 0);
    free(buf);
    CHECK_RC(rayc__spill_close(sp, 0, ERR), RAYC__SPILL_OK);
}

static void test_reopen(void)
{
    rayc__spill *sp = open_fresh(3);
    int64_t shape[1] = {4}, vals[4] = {1, -2, 3, -4}, got[4];
    double d = 2.5, dgot = 0;
    rayc__spill_stats st;
    CHECK_RC(rayc__spill_write(sp, "obj-r3-s1-i0", RAYC_I64, 1, shape, vals, 32, "f", ERR), 0);
    CHECK_RC(rayc__spill_write(sp, "obj-r3-s2-i0", RAYC_F64, 0, NULL, &d, 8, "g", ERR), 0);
    char path[4200];
    snprintf(path, sizeof path, "%s", rayc__spill_path(sp));
    CHECK_RC(rayc__spill_close(sp, 1, ERR), RAYC__SPILL_OK);
    CU_ASSERT_TRUE_FATAL(file_exists(path));

    CHECK_RC(rayc__spill_open(&sp, tmpdir, 3, RAYC__SPILL_REUSE, ERR), RAYC__SPILL_OK);
    rayc__spill_get_stats(sp, &st);
    CU_ASSERT_EQUAL(st.objects, 2);
    CU_ASSERT_EQUAL(st.live_bytes, 40);
    CHECK_RC(rayc__spill_read(sp, "obj-r3-s1-i0", got, 32, ERR), RAYC__SPILL_OK);
    CU_ASSERT(memcmp(got, vals, sizeof vals) == 0);
    CHECK_RC(rayc__spill_read(sp, "obj-r3-s2-i0", &dgot, 8, ERR), RAYC__SPILL_OK);
    CU_ASSERT_EQUAL(dgot, 2.5);
    CHECK_RC(rayc__spill_write(sp, "obj-r3-s3-i0", RAYC_F64, 0, NULL, &d, 8, "h", ERR), 0);
    CHECK_RC(rayc__spill_close(sp, 1, ERR), RAYC__SPILL_OK);

    /* FRESH removes what an earlier process left. */
    CHECK_RC(rayc__spill_open(&sp, tmpdir, 3, RAYC__SPILL_FRESH, ERR), RAYC__SPILL_OK);
    CU_ASSERT_FALSE(file_exists(path));
    CHECK_RC(rayc__spill_info(sp, "obj-r3-s1-i0", NULL, NULL, NULL, NULL, ERR), -2);
    CHECK_RC(rayc__spill_close(sp, 0, ERR), RAYC__SPILL_OK);
    /* REUSE with no file is an empty spill. */
    CHECK_RC(rayc__spill_open(&sp, tmpdir, 3, RAYC__SPILL_REUSE, ERR), RAYC__SPILL_OK);
    CHECK_RC(rayc__spill_close(sp, 0, ERR), RAYC__SPILL_OK);
}

/* Tests run as root, where a 0500 directory is still writable: a path below a regular file
 * fails for everyone (ENOTDIR). */
static void test_unwritable_dir(void)
{
    char file[4200], sub[4300];
    rayc__spill *sp = (rayc__spill *)errbuf;
    snprintf(file, sizeof file, "%s/plain-file", tmpdir);
    snprintf(sub, sizeof sub, "%s/sub", file);
    FILE *f = fopen(file, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fclose(f);
    CHECK_RC(rayc__spill_open(&sp, sub, 0, RAYC__SPILL_FRESH, ERR), RAYC__SPILL_EIO);
    CU_ASSERT_PTR_NULL(sp);
    CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, "Not a directory"));
    CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, sub));
    CHECK_RC(rayc__spill_open(&sp, file, 0, RAYC__SPILL_FRESH, ERR), RAYC__SPILL_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, "not a directory"));
    snprintf(sub, sizeof sub, "%s/no-such-dir", tmpdir);
    CHECK_RC(rayc__spill_open(&sp, sub, 0, RAYC__SPILL_FRESH, ERR), RAYC__SPILL_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, "No such file"));
}

/* The directory is fine at open but gone at the first write: the HDF5 failure comes back as a
 * message carrying the OS reason, and the handle stays usable. */
static void test_create_fails_later(void)
{
    char dir[4200];
    rayc__spill *sp = NULL;
    int64_t v = 1;
    snprintf(dir, sizeof dir, "%s/later", tmpdir);
    CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
    CHECK_RC(rayc__spill_open(&sp, dir, 0, RAYC__SPILL_FRESH, ERR), RAYC__SPILL_OK);
    CU_ASSERT_EQUAL_FATAL(rmdir(dir), 0);
    FILE *f = fopen(dir, "w"); /* a regular file where the directory was */
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fclose(f);
    CHECK_RC(rayc__spill_write(sp, "x", RAYC_I64, 0, NULL, &v, 8, "put", ERR), RAYC__SPILL_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, "cannot create"));
    CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, "Not a directory"));
    CHECK_RC(rayc__spill_read(sp, "x", &v, 8, ERR), RAYC__SPILL_ENOENT);
    CU_ASSERT_EQUAL(unlink(dir), 0);
    CU_ASSERT_EQUAL(mkdir(dir, 0700), 0); /* back: the next write creates the file */
    CHECK_RC(rayc__spill_write(sp, "x", RAYC_I64, 0, NULL, &v, 8, "put", ERR), RAYC__SPILL_OK);
    CHECK_RC(rayc__spill_close(sp, 0, ERR), RAYC__SPILL_OK);
}

/* A file size limit makes pwrite fail with EFBIG, as a full disk fails with ENOSPC. */
static void test_disk_full(void)
{
    enum { MB4 = 4 << 20 };
    struct rlimit old, lim;
    rayc__spill *sp = open_fresh(0);
    int64_t shape[1] = {MB4 / 8}, small = 5;
    void *buf = calloc(1, MB4);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    CHECK_RC(rayc__spill_write(sp, "first", RAYC_I64, 0, NULL, &small, 8, "put", ERR), 0);
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 1 << 20;
    CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = rayc__spill_write(sp, "big", RAYC_I64, 1, shape, buf, MB4, "put", ERR);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, old_handler);
    CHECK_RC(rc, RAYC__SPILL_ENOSPC);
    CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, "big"));
    CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, "File too large"));
    CHECK_RC(rayc__spill_info(sp, "big", NULL, NULL, NULL, NULL, ERR), RAYC__SPILL_ENOENT);
    /* The limit is gone: the same write now works, and the earlier object is intact. */
    CHECK_RC(rayc__spill_write(sp, "big", RAYC_I64, 1, shape, buf, MB4, "put", ERR), 0);
    CHECK_RC(rayc__spill_read(sp, "first", &small, 8, ERR), RAYC__SPILL_OK);
    CU_ASSERT_EQUAL(small, 5);
    free(buf);
    CHECK_RC(rayc__spill_close(sp, 0, ERR), RAYC__SPILL_OK);
}

/* The steps of test_failed_flush_recovers, run in a child: returns the number of the first
 * step that went wrong, 0 when all went right. */
static int failed_flush_child(void)
{
    enum { MB4 = 4 << 20 };
    char err[1024];
    rayc__spill *sp = NULL;
    int64_t shape[1] = {MB4}, empty[1] = {0}, v = 3;
    struct rlimit old, lim;
    unsigned char *buf = calloc(1, MB4);
    if (!buf || rayc__spill_open(&sp, tmpdir, 0, RAYC__SPILL_FRESH, err, sizeof err) != 0)
        return 1;
    if (rayc__spill_write(sp, "a", RAYC_U8, 1, shape, buf, MB4, "put", err, sizeof err) != 0)
        return 2;
    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 1 << 20; /* below the new object's metadata: its commit flush fails */
    setrlimit(RLIMIT_FSIZE, &lim);
    int rc = rayc__spill_write(sp, "e", RAYC_F64, 1, empty, NULL, 0, "put", err, sizeof err);
    setrlimit(RLIMIT_FSIZE, &old);
    if (rc != RAYC__SPILL_ENOSPC || !strstr(err, "File too large"))
        return 3;
    if (rayc__spill_info(sp, "e", NULL, NULL, NULL, NULL, err, sizeof err) != RAYC__SPILL_ENOENT)
        return 4;
    if (rayc__spill_write(sp, "after", RAYC_I64, 0, NULL, &v, 8, "put", err, sizeof err) != 0)
        return 5; /* HDF5 1.10's stale flush error must not reject this write */
    if (rayc__spill_read(sp, "a", buf, MB4, err, sizeof err) != 0)
        return 6;
    if (rayc__spill_close(sp, 0, err, sizeof err) != 0)
        return 7;
    free(buf);
    return 0;
}

/* A metadata flush that fails (file size limit) fails that write only: later writes work and
 * the process exits cleanly. Run in a child because HDF5 1.10 turns a mishandled failure into
 * a crash in its exit handler, which is the thing to catch. */
static void test_failed_flush_recovers(void)
{
    int status = 0;
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0)
        exit(failed_flush_child());
    CU_ASSERT_EQUAL_FATAL(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "\n  child: %s %d\n", WIFEXITED(status) ? "failed step" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    CU_ASSERT_TRUE(WIFEXITED(status));
    CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
}

static void test_damaged_file(void)
{
    char path[4200];
    rayc__spill *sp = NULL;
    snprintf(path, sizeof path, "%s/spill-rank5.h5", tmpdir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("this is not an HDF5 file\n", f);
    fclose(f);
    CHECK_RC(rayc__spill_open(&sp, tmpdir, 5, RAYC__SPILL_REUSE, ERR), RAYC__SPILL_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, path));
    CU_ASSERT_PTR_NULL(sp);
    CHECK_RC(rayc__spill_open(&sp, tmpdir, 5, RAYC__SPILL_FRESH, ERR), RAYC__SPILL_OK);
    CU_ASSERT_FALSE(file_exists(path));
    CHECK_RC(rayc__spill_close(sp, 0, ERR), RAYC__SPILL_OK);
}

static herr_t my_auto(hid_t stack, void *data) { return 0; }

/* Bytes that HDF5 and the module print to stderr while fn runs. */
static long stderr_bytes(void (*fn)(void))
{
    char log[4200];
    struct stat st;
    snprintf(log, sizeof log, "%s/stderr.txt", tmpdir);
    fflush(stderr);
    int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (saved < 0 || fd < 0 || dup2(fd, 2) < 0)
        return -1;
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    return stat(log, &st) == 0 ? (long)st.st_size : -1;
}

/* Calls that fail inside HDF5 (H5Fopen of a damaged file, H5Fcreate below a regular file,
 * H5Dread of a group) and outside it. */
static void failing_spill_calls(void)
{
    char path[4200];
    rayc__spill *sp = NULL;
    int64_t v = 1;
    snprintf(path, sizeof path, "%s/spill-rank6.h5", tmpdir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("not HDF5\n", f);
        fclose(f);
    }
    rayc__spill_open(&sp, tmpdir, 6, RAYC__SPILL_REUSE, ERR);
    snprintf(path, sizeof path, "%s/gone", tmpdir);
    if (mkdir(path, 0700) == 0 && rayc__spill_open(&sp, path, 0, RAYC__SPILL_FRESH, ERR) == 0) {
        rmdir(path);
        if ((f = fopen(path, "w")))
            fclose(f);
        rayc__spill_write(sp, "x", RAYC_I64, 0, NULL, &v, 8, "put", ERR);
        rayc__spill_close(sp, 0, ERR);
        unlink(path);
    }
    rayc__spill_open(&sp, tmpdir, 0, RAYC__SPILL_FRESH, ERR);
    rayc__spill_read(sp, "missing", &v, 8, ERR);
    rayc__spill_write(sp, "x", RAYC_I64, 0, NULL, &v, 8, "put", ERR);
    rayc__spill_read(sp, "x", &v, 8, ERR);
    rayc__spill_read(sp, "missing", &v, 8, ERR);
    rayc__spill_close(sp, 0, ERR);
    rayc__spill_open(&sp, "/proc/self/no/such/dir", 0, RAYC__SPILL_FRESH, ERR);
}

static void failing_raw_hdf5_call(void) { H5Dopen2(-1, "nothing", H5P_DEFAULT); }

/* Failing calls print nothing (HDF5's automatic stack printing is off inside the module), and
 * the application's own handler is in place again afterwards. */
static void test_errors_are_silent(void)
{
    H5E_auto2_t func0 = NULL, func = NULL;
    void *data0 = NULL, *data = NULL;
    int marker = 0;
    H5Eget_auto2(H5E_DEFAULT, &func0, &data0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(func0); /* HDF5's default: print the stack */
    CU_ASSERT(stderr_bytes(failing_raw_hdf5_call) > 0); /* the capture works */
    CU_ASSERT_EQUAL(stderr_bytes(failing_spill_calls), 0);
    H5Eget_auto2(H5E_DEFAULT, &func, &data);
    CU_ASSERT(func == func0 && data == data0);
    H5Eset_auto2(H5E_DEFAULT, my_auto, &marker);
    CU_ASSERT_EQUAL(stderr_bytes(failing_spill_calls), 0);
    H5Eget_auto2(H5E_DEFAULT, &func, &data);
    CU_ASSERT(func == my_auto && data == &marker);
    H5Eset_auto2(H5E_DEFAULT, func0, data0);
}

/* Four threads write, read and delete their own objects on one handle at once. */
enum { NTHREADS = 4, PER_THREAD = 50 };

struct worker_arg {
    rayc__spill *sp;
    int id, failures;
};

static void *worker(void *p)
{
    struct worker_arg *w = p;
    char name[64], err[512];
    int64_t shape[1] = {1000}, in[1000], out[1000];
    for (int k = 0; k < PER_THREAD; k++) {
        snprintf(name, sizeof name, "obj-r0-s%d-i%d", w->id, k);
        for (int i = 0; i < 1000; i++)
            in[i] = (int64_t)w->id * 1000000 + k * 1000 + i;
        w->failures += rayc__spill_write(w->sp, name, RAYC_I64, 1, shape, in, sizeof in, "t",
                                         err, sizeof err) != 0;
        w->failures += rayc__spill_read(w->sp, name, out, sizeof out, err, sizeof err) != 0;
        w->failures += memcmp(in, out, sizeof in) != 0;
        if (k % 2)
            w->failures += rayc__spill_delete(w->sp, name, err, sizeof err) != 0;
    }
    return NULL;
}

static void test_threads(void)
{
    rayc__spill *sp = open_fresh(0);
    pthread_t th[NTHREADS];
    struct worker_arg args[NTHREADS];
    rayc__spill_stats st;
    for (int i = 0; i < NTHREADS; i++) {
        args[i] = (struct worker_arg){sp, i, 0};
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        CU_ASSERT_EQUAL(args[i].failures, 0);
    }
    rayc__spill_get_stats(sp, &st);
    CU_ASSERT_EQUAL(st.objects, NTHREADS * PER_THREAD / 2);
    CU_ASSERT_EQUAL(st.live_bytes, NTHREADS * PER_THREAD / 2 * 8000);
    CHECK_RC(rayc__spill_close(sp, 0, ERR), RAYC__SPILL_OK);
}

/* A file written by another tool (no rayc attributes): dtypes come from the HDF5 types. */
static void write_foreign_file(const char *path)
{
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[2] = {2, 2};
    int16_t i16[4] = {1, -2, 3, -4};
    double cplx[2] = {1.5, -0.5};
    int8_t f = 0, t = 1, bools[2] = {1, 0};
    const char *str = "text";
    hid_t s2 = H5Screate_simple(2, dims, NULL), s0 = H5Screate(H5S_SCALAR);
    hid_t ctype = H5Tcreate(H5T_COMPOUND, 16), btype = H5Tenum_create(H5T_NATIVE_INT8);
    hid_t stype = H5Tcopy(H5T_C_S1), s1 = H5Screate_simple(1, dims, NULL);
    H5Tinsert(ctype, "r", 0, H5T_NATIVE_DOUBLE);
    H5Tinsert(ctype, "i", 8, H5T_NATIVE_DOUBLE);
    H5Tenum_insert(btype, "FALSE", &f);
    H5Tenum_insert(btype, "TRUE", &t);
    H5Tset_size(stype, H5T_VARIABLE);
    struct { const char *name; hid_t type, space; const void *data; } ds[] = {
        {"i16", H5T_NATIVE_INT16, s2, i16}, {"cplx", ctype, s0, cplx},
        {"flags", btype, s1, bools}, {"str", stype, s0, &str}};
    for (int i = 0; i < 4; i++) {
        hid_t d = H5Dcreate2(file, ds[i].name, ds[i].type, ds[i].space, H5P_DEFAULT, H5P_DEFAULT,
                             H5P_DEFAULT);
        H5Dwrite(d, ds[i].type, H5S_ALL, H5S_ALL, H5P_DEFAULT, ds[i].data);
        H5Dclose(d);
    }
    H5Gclose(H5Gcreate2(file, "a-group", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Tclose(stype);
    H5Tclose(btype);
    H5Tclose(ctype);
    H5Sclose(s0);
    H5Sclose(s1);
    H5Sclose(s2);
    H5Fclose(file);
}

static void test_foreign_datasets(void)
{
    char path[4200];
    rayc__spill *sp = NULL;
    rayc__spill_stats st;
    rayc_dtype dt;
    int ndim;
    int64_t shape[RAYC_MAX_NDIM];
    size_t nb;
    int16_t i16[4];
    double cplx[2];
    unsigned char flags[2];
    snprintf(path, sizeof path, "%s/spill-rank7.h5", tmpdir);
    write_foreign_file(path);
    CHECK_RC(rayc__spill_open(&sp, tmpdir, 7, RAYC__SPILL_REUSE, ERR), RAYC__SPILL_OK);
    rayc__spill_get_stats(sp, &st);
    CU_ASSERT_EQUAL(st.objects, 4); /* the group is not an object */
    CHECK_RC(rayc__spill_info(sp, "i16", &dt, &ndim, shape, &nb, ERR), RAYC__SPILL_OK);
    CU_ASSERT(dt == RAYC_I16 && ndim == 2 && shape[0] == 2 && shape[1] == 2 && nb == 8);
    CHECK_RC(rayc__spill_read(sp, "i16", i16, sizeof i16, ERR), RAYC__SPILL_OK);
    CU_ASSERT(i16[0] == 1 && i16[1] == -2 && i16[2] == 3 && i16[3] == -4);
    CHECK_RC(rayc__spill_info(sp, "cplx", &dt, &ndim, shape, &nb, ERR), RAYC__SPILL_OK);
    CU_ASSERT(dt == RAYC_C128 && ndim == 0 && nb == 16);
    CHECK_RC(rayc__spill_read(sp, "cplx", cplx, sizeof cplx, ERR), RAYC__SPILL_OK);
    CU_ASSERT(cplx[0] == 1.5 && cplx[1] == -0.5);
    CHECK_RC(rayc__spill_info(sp, "flags", &dt, &ndim, shape, &nb, ERR), RAYC__SPILL_OK);
    CU_ASSERT(dt == RAYC_BOOL && ndim == 1 && shape[0] == 2 && nb == 2);
    CHECK_RC(rayc__spill_read(sp, "flags", flags, sizeof flags, ERR), RAYC__SPILL_OK);
    CU_ASSERT(flags[0] == 1 && flags[1] == 0);
    CHECK_RC(rayc__spill_info(sp, "str", &dt, &ndim, shape, &nb, ERR), RAYC__SPILL_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, "cannot represent"));
    CHECK_RC(rayc__spill_read(sp, "a-group", flags, 1, ERR), RAYC__SPILL_EIO);
    CHECK_RC(rayc__spill_delete(sp, "i16", ERR), RAYC__SPILL_OK);
    CHECK_RC(rayc__spill_close(sp, 0, ERR), RAYC__SPILL_OK);
}

/* ---- h5dump ---------------------------------------------------------------------------- */

/* The h5dump output of path (malloc'ed), or NULL when it cannot run or fails. */
static char *run_h5dump(const char *path)
{
    const char *h5dump = getenv("H5DUMP");
    char cmd[4500];
    size_t len = 0, cap = 1 << 16;
    char *out = malloc(cap);
    snprintf(cmd, sizeof cmd, "'%s' '%s' 2>&1", h5dump && *h5dump ? h5dump : "h5dump", path);
    FILE *p = popen(cmd, "r");
    if (!p || !out) {
        free(out);
        return NULL;
    }
    size_t n;
    while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 2) {
            char *bigger = realloc(out, cap *= 2);
            if (!bigger)
                break;
            out = bigger;
        }
    }
    out[len] = '\0';
    int status = pclose(p);
    if (status != 0) {
        fprintf(stderr, "\n  %s exited with %d:\n%s\n", cmd, status, out);
        free(out);
        return NULL;
    }
    return out;
}

/* The part of an h5dump output that belongs to dataset name ("" when absent; static). */
static const char *dump_section(const char *dump, const char *name)
{
    static char sect[8192];
    char head[300];
    snprintf(head, sizeof head, "DATASET \"%s\"", name);
    const char *p = strstr(dump, head);
    sect[0] = '\0';
    if (p) {
        const char *end = strstr(p + 1, "DATASET \"");
        size_t n = end ? (size_t)(end - p) : strlen(p);
        snprintf(sect, sizeof sect, "%.*s", (int)n, p);
    }
    return sect;
}

static void expect_in(const char *sect, const char *what)
{
    if (!strstr(sect, what))
        fprintf(stderr, "\n  h5dump section lacks <%s>:\n%s\n", what, sect);
    CU_ASSERT_PTR_NOT_NULL(strstr(sect, what));
}

static void test_h5dump_shows_datasets(void)
{
    rayc__spill *sp = open_fresh(2);
    int64_t grid[6] = {0, 1, 2, 3, 4, 5}, s23[2] = {2, 3}, s4[1] = {4}, s5[1] = {5};
    double c[2] = {1.5, -2};
    unsigned char mask[4] = {1, 0, 0, 1};
    char path[4200];
    CHECK_RC(rayc__spill_write(sp, "obj-r2-s1-i0", RAYC_I64, 2, s23, grid, 48, "make_grid",
                               ERR), 0);
    CHECK_RC(rayc__spill_write(sp, "obj-r2-s2-i0", RAYC_C128, 0, NULL, c, 16, "put", ERR), 0);
    CHECK_RC(rayc__spill_write(sp, "obj-r2-s3-i0", RAYC_BOOL, 1, s4, mask, 4, "mask", ERR), 0);
    CHECK_RC(rayc__spill_write(sp, "obj-r2-s4-i0", RAYC_BYTES, 1, s5, "hello", 5, "greet", ERR),
             0);
    snprintf(path, sizeof path, "%s", rayc__spill_path(sp));
    CHECK_RC(rayc__spill_close(sp, 1, ERR), RAYC__SPILL_OK);
    char *dump = run_h5dump(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dump);

    const char *s = dump_section(dump, "obj-r2-s1-i0");
    expect_in(s, "DATATYPE  H5T_STD_I64LE");
    expect_in(s, "DATASPACE  SIMPLE { ( 2, 3 ) / ( 2, 3 ) }");
    expect_in(s, "(1,0): 3, 4, 5");
    expect_in(s, "ATTRIBUTE \"object_id\"");
    expect_in(s, "(0): \"obj-r2-s1-i0\"");
    expect_in(s, "ATTRIBUTE \"producer\"");
    expect_in(s, "(0): \"make_grid\"");
    expect_in(s, "ATTRIBUTE \"rayc_dtype\"");
    expect_in(s, "(0): \"i64\"");
    s = dump_section(dump, "obj-r2-s2-i0");
    expect_in(s, "H5T_IEEE_F64LE \"r\";");
    expect_in(s, "H5T_IEEE_F64LE \"i\";");
    expect_in(s, "DATASPACE  SCALAR");
    expect_in(s, "(0): \"c128\"");
    s = dump_section(dump, "obj-r2-s3-i0");
    expect_in(s, "H5T_ENUM");
    expect_in(s, "(0): TRUE, FALSE, FALSE, TRUE");
    s = dump_section(dump, "obj-r2-s4-i0");
    expect_in(s, "DATATYPE  H5T_STD_U8LE");
    expect_in(s, "(0): 104, 101, 108, 108, 111");
    expect_in(s, "(0): \"bytes\"");
    free(dump);
}

int main(void)
{
    static const unit_test tests[] = {
        {"round trip of every dtype, n-d and 0-d", test_every_dtype},
        {"8-d, 1 MiB and empty shapes", test_shapes_and_empty},
        {"bad arguments", test_bad_arguments},
        {"missing object", test_missing_object},
        {"delete and space reuse", test_delete_and_space},
        {"reopen a kept file", test_reopen},
        {"unwritable directory", test_unwritable_dir},
        {"file creation fails after open", test_create_fails_later},
        {"disk full (file size limit)", test_disk_full},
        {"failed metadata flush recovers, clean exit", test_failed_flush_recovers},
        {"damaged file", test_damaged_file},
        {"errors are silent", test_errors_are_silent},
        {"four threads on one handle", test_threads},
        {"datasets written by another tool", test_foreign_datasets},
        {"h5dump shows types, shapes, attributes", test_h5dump_shows_datasets},
    };
    return UNIT_RUN_EACH("spill_hdf5", tests, setup_dir, teardown_dir);
}
