/* platform.c: what this process may use and where it runs (see platform.h).
 *
 * Everything here runs once, on the calling thread, before rayc starts its own threads. Sources:
 *   - the kernel: sched_getaffinity for CPUs, /proc/meminfo and the cgroup limit for memory;
 *   - the launcher's environment: SLURM_*, CUDA_VISIBLE_DEVICES and friends, RAYC_SPILL_DIR;
 *   - PMIx, only when PMIX_RANK says a PMIx server launched us. Open MPI may already have
 *     initialized PMIx in this process; the client library counts PMIx_Init/PMIx_Finalize pairs,
 *     so our own pair around the reads leaves MPI's connection alone. Any PMIx failure leaves
 *     have_pmix = 0 and the non-PMIx values in place: PMIx only refines identity.
 * Environment values are parsed strictly; a value that does not parse counts as unset.
 *
 * The job directory is opened with O_NOFOLLOW and checked and chmod'ed through the descriptor,
 * so a symlink or a directory someone else planted under a shared /tmp is refused, not used. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* sched_getaffinity, CPU_ALLOC; the build also passes -D_GNU_SOURCE */
#endif
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pmix.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define MIB (1024.0 * 1024.0)
#define AFFINITY_MAX_CPUS (1 << 20) /* give up growing the cpu set beyond this */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Copy src into dst[dstlen], truncating; dst is always terminated. */
static void copy_str(char *dst, size_t dstlen, const char *src)
{
    size_t n = strlen(src);
    if (n >= dstlen)
        n = dstlen - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Value of environment variable name, or NULL when unset or empty. */
static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return (v != NULL && v[0] != '\0') ? v : NULL;
}

/* Parse the decimal unsigned integer at the start of s (no sign, no blanks). Returns 0 when it
 * fills all of s, 1 when something follows the digits (*out set either way), -1 when s does not
 * start with a digit or the number overflows. */
static int parse_ull(const char *s, unsigned long long *out)
{
    if (s == NULL || s[0] < '0' || s[0] > '9') /* also rejects sign and leading blanks */
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s)
        return -1;
    *out = v;
    return *end == '\0' ? 0 : 1; /* 1: digits followed by something else */
}

/* Positive int from the environment, or 0 when unset or not a plain number in range. */
static int env_pos_int(const char *name)
{
    unsigned long long v;
    if (parse_ull(env_nonempty(name), &v) != 0 || v > INT_MAX)
        return 0;
    return (int)v;
}

/* Multiplier for a size suffix letter (K, M, G, T in either case), or 0 for anything else. */
static double size_suffix(char c)
{
    switch (c) {
    case 'K': case 'k': return 1024.0;
    case 'M': case 'm': return MIB;
    case 'G': case 'g': return MIB * 1024.0;
    case 'T': case 't': return MIB * MIB;
    default: return 0.0;
    }
}

int rayc__parse_size(const char *s, double *out)
{
    unsigned long long v;
    if (out == NULL)
        return -1;
    int rc = parse_ull(s, &v);
    if (rc < 0)
        return -1;
    double mult = 1.0;
    if (rc == 1) { /* digits then exactly one suffix letter */
        const char *suffix = s + strspn(s, "0123456789");
        mult = size_suffix(suffix[0]);
        if (mult == 0.0 || suffix[1] != '\0')
            return -1;
    }
    *out = (double)v * mult;
    return 0;
}

/* Slurm memory values are MiB unless they carry a suffix. Returns 0 and *out bytes, or -1. */
static int parse_slurm_mem(const char *s, double *out)
{
    unsigned long long v;
    if (parse_ull(s, &v) == 0) {
        *out = (double)v * MIB;
        return 0;
    }
    return rayc__parse_size(s, out);
}

int rayc__parse_gpu_list(const char *s, int *ids, int max)
{
    if (s == NULL || ids == NULL || max <= 0 || strcmp(s, "NoDevFiles") == 0)
        return 0;
    int n = 0;
    const char *p = s;
    for (;;) {
        if (*p < '0' || *p > '9')
            return 0;
        char *end = NULL;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno != 0 || v > INT_MAX || (*end != ',' && *end != '\0'))
            return 0;
        for (int i = 0; i < n; i++)
            if (ids[i] == (int)v)
                return 0; /* a duplicate means the list is not what we think it is */
        if (n < max) /* ids beyond max are dropped; the list itself is fine */
            ids[n++] = (int)v;
        if (*end == '\0')
            return n;
        p = end + 1;
    }
}

/* The affinity mask of this process in a CPU_ALLOC'ed set grown until the kernel accepts it.
 * Returns the set (caller CPU_FREEs) with *setsize and *ncpus filled, or NULL. */
static cpu_set_t *get_affinity(size_t *setsize, int *ncpus)
{
    for (int n = 1024; n <= AFFINITY_MAX_CPUS; n *= 2) {
        cpu_set_t *set = CPU_ALLOC(n);
        if (set == NULL)
            return NULL;
        size_t size = CPU_ALLOC_SIZE(n);
        CPU_ZERO_S(size, set);
        if (sched_getaffinity(0, size, set) == 0) {
            *setsize = size;
            *ncpus = n;
            return set;
        }
        CPU_FREE(set);
        if (errno != EINVAL) /* EINVAL: our set is smaller than the kernel's */
            return NULL;
    }
    return NULL;
}

int rayc__affinity_mask(uint64_t *mask, int nwords)
{
    if (mask == NULL || nwords <= 0)
        return -1;
    size_t size;
    int ncpus;
    cpu_set_t *set = get_affinity(&size, &ncpus);
    if (set == NULL)
        return -1;
    memset(mask, 0, (size_t)nwords * sizeof mask[0]);
    int count = 0;
    for (int cpu = 0; cpu < ncpus; cpu++) {
        if (!CPU_ISSET_S(cpu, size, set))
            continue;
        if (cpu / 64 >= nwords) { /* the caller's mask is too narrow to say where we run */
            count = -1;
            break;
        }
        mask[cpu / 64] |= UINT64_C(1) << (cpu % 64);
        count++;
    }
    CPU_FREE(set);
    return count;
}

static int mask_bit(const uint64_t *mask, int bit)
{
    return mask != NULL && ((mask[bit / 64] >> (bit % 64)) & 1u);
}

int rayc__cpu_share(const uint64_t *const *masks, int nlocal, int nbits, int me)
{
    if (masks == NULL || nlocal <= 0 || nbits <= 0 || me < 0 || me >= nlocal)
        return 1;
    double share = 0.0;
    for (int cpu = 0; cpu < nbits; cpu++) {
        if (!mask_bit(masks[me], cpu))
            continue;
        int sharers = 0;
        for (int i = 0; i < nlocal; i++)
            sharers += mask_bit(masks[i], cpu);
        share += 1.0 / sharers; /* sharers >= 1: we are one of them */
    }
    int rounded = (int)(share + 0.5);
    return rounded < 1 ? 1 : rounded;
}

/* GPU ids from the first of the variables that is set. CUDA_VISIBLE_DEVICES set but empty
 * hides every GPU, so it counts as set; the Slurm variables must be non-empty. */
static void detect_gpus(rayc__platform *p)
{
    static const char *const slurm_vars[] = {"SLURM_STEP_GPUS", "SLURM_JOB_GPUS",
                                             "GPU_DEVICE_ORDINAL"};
    const char *list = getenv("CUDA_VISIBLE_DEVICES");
    for (size_t i = 0; list == NULL && i < sizeof slurm_vars / sizeof slurm_vars[0]; i++)
        list = env_nonempty(slurm_vars[i]);
    p->ngpus = rayc__parse_gpu_list(list, p->gpu_ids, RAYC__MAX_GPUS);
}

/* MemTotal from /proc/meminfo in bytes, or 0. */
static double meminfo_total(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (f == NULL)
        return 0.0;
    char line[256];
    double bytes = 0.0;
    unsigned long long kib;
    while (fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "MemTotal: %llu kB", &kib) == 1) {
            bytes = (double)kib * 1024.0;
            break;
        }
    }
    fclose(f);
    return bytes;
}

/* A cgroup limit file ("max" or a byte count) in bytes, or 0 when absent or unlimited. */
static double read_limit_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0.0;
    char buf[64] = "";
    char *ok = fgets(buf, sizeof buf, f);
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    unsigned long long v;
    if (ok == NULL || parse_ull(buf, &v) != 0 || v == 0 || v >= (1ULL << 62)) /* v1: ~2^63 */
        return 0.0;
    return (double)v;
}

/* Lowest limit in file `leaf` of cgroup directory root+path and its ancestors; 0 if none. */
static double lowest_limit_up(const char *root, const char *path, const char *leaf)
{
    char dir[PATH_MAX];
    double lowest = 0.0;
    if (snprintf(dir, sizeof dir, "%s%s", root, path) >= (int)sizeof dir)
        return 0.0;
    size_t rootlen = strlen(root);
    for (;;) {
        char file[PATH_MAX + 32];
        snprintf(file, sizeof file, "%s/%s", dir, leaf);
        double lim = read_limit_file(file);
        if (lim > 0.0 && (lowest == 0.0 || lim < lowest))
            lowest = lim;
        char *slash = strrchr(dir, '/');
        if (slash == NULL || (size_t)(slash - dir) < rootlen)
            return lowest;
        *slash = '\0';
    }
}

/* The memory limit of this process's cgroup (v2 memory.max, else v1 memory.limit_in_bytes),
 * the lowest along the path from /proc/self/cgroup up to the root; 0 when unlimited. */
static double cgroup_mem_limit(void)
{
    double v2 = 0.0, v1 = 0.0;
    FILE *f = fopen("/proc/self/cgroup", "r");
    char line[PATH_MAX + 64];
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *ctrl = strchr(line, ':');
        char *path = ctrl != NULL ? strchr(ctrl + 1, ':') : NULL;
        if (path == NULL || path[1] != '/')
            continue;
        *path++ = '\0';
        if (strncmp(line, "0:", 2) == 0 && ctrl[1] == '\0')
            v2 = lowest_limit_up("/sys/fs/cgroup", path, "memory.max");
        else if (strstr(ctrl + 1, "memory") != NULL)
            v1 = lowest_limit_up("/sys/fs/cgroup/memory", path, "memory.limit_in_bytes");
    }
    if (f != NULL)
        fclose(f);
    if (v2 == 0.0) /* a container's own root, when /proc/self/cgroup is not usable */
        v2 = read_limit_file("/sys/fs/cgroup/memory.max");
    if (v1 > 0.0 && (v2 == 0.0 || v1 < v2))
        return v1;
    return v2;
}

/* Memory this rank may use, as documented in platform.h. Returns 0 or -1 with err. */
static int detect_memory(rayc__platform *p, int local_size, char *err, size_t errlen)
{
    double bytes = 0.0;
    int cpus = p->slurm_cpus_per_task > 0 ? p->slurm_cpus_per_task : p->affinity_cpus;
    if (parse_slurm_mem(env_nonempty("SLURM_MEM_PER_CPU"), &bytes) == 0 && bytes > 0.0) {
        p->mem_bytes = bytes * cpus;
        return 0;
    }
    if (parse_slurm_mem(env_nonempty("SLURM_MEM_PER_NODE"), &bytes) == 0 && bytes > 0.0) {
        p->mem_bytes = bytes / local_size;
        return 0;
    }
    double total = meminfo_total();
    if (total <= 0.0) {
        long pages = sysconf(_SC_PHYS_PAGES), pagesize = sysconf(_SC_PAGESIZE);
        if (pages <= 0 || pagesize <= 0) {
            set_err(err, errlen, "cannot find the memory size (/proc/meminfo, sysconf)");
            return -1;
        }
        total = (double)pages * (double)pagesize;
    }
    double limit = cgroup_mem_limit();
    if (limit > 0.0 && limit < total)
        total = limit;
    p->mem_bytes = total / local_size;
    return 0;
}

/* An integer PMIx value of any width as long; -1 when it is not an integer. */
static long pmix_int(const pmix_value_t *v)
{
    switch (v->type) {
    case PMIX_UINT16: return v->data.uint16;
    case PMIX_UINT32: return (long)v->data.uint32;
    case PMIX_UINT64: return v->data.uint64 > LONG_MAX ? -1 : (long)v->data.uint64;
    case PMIX_UINT: return v->data.uint > INT_MAX ? -1 : (long)v->data.uint;
    case PMIX_INT: return v->data.integer;
    case PMIX_INT16: return v->data.int16;
    case PMIX_INT32: return v->data.int32;
    default: return -1;
    }
}

/* Read key for proc me as a non-negative int (< INT_MAX); -1 on any failure. */
static int pmix_get_int(const pmix_proc_t *me, const char *key)
{
    pmix_value_t *v = NULL;
    if (PMIx_Get(me, key, NULL, 0, &v) != PMIX_SUCCESS || v == NULL)
        return -1;
    long n = pmix_int(v);
    PMIX_VALUE_RELEASE(v);
    return (n >= 0 && n < INT_MAX) ? (int)n : -1;
}

/* Identity from PMIx: local rank, node id, host name and namespace, all or nothing. */
static void detect_pmix(rayc__platform *p)
{
    if (getenv("PMIX_RANK") == NULL)
        return;
    pmix_proc_t me;
    memset(&me, 0, sizeof me);
    if (PMIx_Init(&me, NULL, 0) != PMIX_SUCCESS) {
        /* PMIx 4 without a server fails with PMIX_ERR_UNREACH yet stays initialized as a
         * singleton, holding a reference we must give back. */
        if (PMIx_Initialized())
            PMIx_Finalize(NULL, 0);
        return;
    }
    int lrank = pmix_get_int(&me, PMIX_LOCAL_RANK);
    int node = pmix_get_int(&me, PMIX_NODEID);
    pmix_value_t *host = NULL;
    pmix_status_t rc = PMIx_Get(&me, PMIX_HOSTNAME, NULL, 0, &host);
    if (lrank >= 0 && node >= 0 && rc == PMIX_SUCCESS && host != NULL &&
        host->type == PMIX_STRING && host->data.string != NULL && host->data.string[0] != '\0' &&
        me.nspace[0] != '\0') {
        p->have_pmix = 1;
        p->pmix_local_rank = lrank;
        p->pmix_node_id = node;
        copy_str(p->host, sizeof p->host, host->data.string);
        if (p->job_id[0] == '\0') /* SLURM_JOB_ID wins */
            copy_str(p->job_id, sizeof p->job_id, me.nspace);
    }
    if (host != NULL)
        PMIX_VALUE_RELEASE(host);
    PMIx_Finalize(NULL, 0);
}

int rayc__platform_detect(rayc__platform *p, int local_size, char *err, size_t errlen)
{
    if (p == NULL || local_size < 1) {
        set_err(err, errlen, "platform_detect: %s", p == NULL ? "p is NULL" : "local_size < 1");
        return -1;
    }
    memset(p, 0, sizeof *p);
    p->pmix_local_rank = -1;
    p->pmix_node_id = -1;
    if (gethostname(p->host, sizeof p->host) != 0)
        copy_str(p->host, sizeof p->host, "unknown");
    p->host[sizeof p->host - 1] = '\0'; /* gethostname need not terminate a truncated name */

    size_t setsize;
    int ncpus;
    cpu_set_t *set = get_affinity(&setsize, &ncpus);
    p->affinity_cpus = set != NULL ? CPU_COUNT_S(setsize, set) : 1;
    if (p->affinity_cpus < 1)
        p->affinity_cpus = 1;
    CPU_FREE(set);

    p->slurm_cpus_per_task = env_pos_int("SLURM_CPUS_PER_TASK");
    const char *jobid = env_nonempty("SLURM_JOB_ID");
    if (jobid != NULL)
        copy_str(p->job_id, sizeof p->job_id, jobid);
    detect_gpus(p);
    detect_pmix(p);
    return detect_memory(p, local_size, err, errlen);
}

/* The base directory for job directories: the first set of the documented variables. */
static const char *job_dir_base(void)
{
    static const char *const vars[] = {"RAYC_SPILL_DIR", "SLURM_TMPDIR", "TMPDIR"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = env_nonempty(vars[i]);
        if (v != NULL)
            return v;
    }
    return "/tmp";
}

/* 1 when id is usable as part of a file name: non-empty, printable, no '/' or blanks. */
static int job_id_ok(const char *id)
{
    if (id == NULL || id[0] == '\0')
        return 0;
    for (const unsigned char *c = (const unsigned char *)id; *c != '\0'; c++)
        if (*c <= ' ' || *c >= 0x7f || *c == '/')
            return 0;
    return 1;
}

/* Make path a directory owned by us with mode 0700, creating it if missing. */
static int make_private_dir(const char *path, char *err, size_t errlen)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        set_err(err, errlen, "job dir %s: mkdir: %s", path, strerror(errno));
        return -1;
    }
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        set_err(err, errlen, "job dir %s: %s", path,
                errno == ENOTDIR || errno == ELOOP ? "exists and is not a directory"
                                                   : strerror(errno));
        return -1;
    }
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) != 0)
        set_err(err, errlen, "job dir %s: stat: %s", path, strerror(errno));
    else if (st.st_uid != geteuid())
        set_err(err, errlen, "job dir %s: owned by uid %ld, not us", path, (long)st.st_uid);
    else if ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700) != 0) /* also undoes umask */
        set_err(err, errlen, "job dir %s: chmod: %s", path, strerror(errno));
    else
        rc = 0;
    close(fd);
    return rc;
}

int rayc__job_dir(const char *job_id, char *out, size_t outlen, char *err, size_t errlen)
{
    if (!job_id_ok(job_id) || out == NULL || outlen == 0) {
        set_err(err, errlen, "job_dir: %s", out == NULL || outlen == 0 ? "no output buffer"
                                                                        : "bad job id");
        return -1;
    }
    const char *base = job_dir_base();
    struct stat st;
    if (stat(base, &st) != 0) {
        set_err(err, errlen, "job dir base %s: %s", base, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        set_err(err, errlen, "job dir base %s: not a directory", base);
        return -1;
    }
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/rayc-%s", base, job_id);
    if (n < 0 || (size_t)n >= sizeof path || (size_t)n >= outlen) {
        set_err(err, errlen, "job dir %s/rayc-%s: path too long", base, job_id);
        return -1;
    }
    if (make_private_dir(path, err, errlen) != 0)
        return -1;
    memcpy(out, path, (size_t)n + 1);
    return 0;
}
