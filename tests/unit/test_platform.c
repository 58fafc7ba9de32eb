/* test_platform.c covers platform.c without MPI: parse helpers, CPU shares, affinity, detection.
 * In detail: size and GPU-list parsing against garbage, rayc__cpu_share over fake masks, the
 * affinity mask (also bound to one CPU), env-driven detection (Slurm ids, GPUs, memory, the PMIx
 * fallback, and PMIx itself when started by a PMIx launcher) and the job directory. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* sched_getaffinity, CPU_ALLOC; the build also passes -D_GNU_SOURCE */
#endif
#include "platform.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <limits.h>
#include <pmix.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIB (1024.0 * 1024.0)

extern char **environ;

static int g_started_under_pmix; /* PMIX_RANK was in the environment we were started with */

/* Unset every variable platform.c reads, so each test starts from a known environment. */
static void clear_env(void)
{
    static const char *const vars[] = {
        "SLURM_JOB_ID",       "SLURM_CPUS_PER_TASK", "SLURM_MEM_PER_CPU", "SLURM_MEM_PER_NODE",
        "SLURM_STEP_GPUS",    "SLURM_JOB_GPUS",      "GPU_DEVICE_ORDINAL", "CUDA_VISIBLE_DEVICES",
        "RAYC_SPILL_DIR",     "SLURM_TMPDIR",        "TMPDIR"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    /* All PMIX_* variables, so that PMIx cannot find a server from a launcher around us. */
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; *e != NULL; e++) {
            if (strncmp(*e, "PMIX_", 5) != 0)
                continue;
            char name[256];
            size_t n = strcspn(*e, "=");
            if (n >= sizeof name)
                continue;
            memcpy(name, *e, n);
            name[n] = '\0';
            unsetenv(name); /* changes environ: rescan */
            again = 1;
            break;
        }
    }
}

static rayc__platform detect_ok(int local_size)
{
    rayc__platform p;
    char err[256] = "";
    CU_ASSERT_EQUAL(rayc__platform_detect(&p, local_size, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(err, "");
    return p;
}

/* ---- rayc__parse_size ---- */

static void test_parse_size_good(void)
{
    double v = -1.0;
    CU_ASSERT(rayc__parse_size("0", &v) == 0 && v == 0.0);
    CU_ASSERT(rayc__parse_size("4096", &v) == 0 && v == 4096.0);
    CU_ASSERT(rayc__parse_size("1k", &v) == 0 && v == 1024.0);
    CU_ASSERT(rayc__parse_size("4000M", &v) == 0 && v == 4000.0 * MIB);
    CU_ASSERT(rayc__parse_size("2G", &v) == 0 && v == 2.0 * 1024.0 * MIB);
    CU_ASSERT(rayc__parse_size("3T", &v) == 0 && v == 3.0 * MIB * MIB);
    CU_ASSERT(rayc__parse_size("18446744073709551615", &v) == 0 && v > 1.8e19);
}

static void test_parse_size_garbage(void)
{
    static const char *const bad[] = {"",    "-1",  "+1", " 1",  "1 ",  "12x", "1KK", "1K ",
                                      "K",   "1.5G", "1e3", "0x10", "1KB", "1P",
                                      "18446744073709551616", "99999999999999999999999G"};
    double v = 123.0;
    CU_ASSERT_EQUAL(rayc__parse_size(NULL, &v), -1);
    CU_ASSERT_EQUAL(rayc__parse_size("1", NULL), -1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = rayc__parse_size(bad[i], &v);
        if (rc != -1)
            printf("\n  parse_size accepted \"%s\"\n", bad[i]);
        CU_ASSERT_EQUAL(rc, -1);
    }
}

/* ---- rayc__parse_gpu_list ---- */

static void test_gpu_list_good(void)
{
    int ids[4] = {-1, -1, -1, -1};
    CU_ASSERT_EQUAL(rayc__parse_gpu_list("0", ids, 4), 1);
    CU_ASSERT_EQUAL(ids[0], 0);
    CU_ASSERT_EQUAL(rayc__parse_gpu_list("0,1,3", ids, 4), 3);
    CU_ASSERT(ids[0] == 0 && ids[1] == 1 && ids[2] == 3);
    CU_ASSERT_EQUAL(rayc__parse_gpu_list("7,2", ids, 4), 2);
    CU_ASSERT(ids[0] == 7 && ids[1] == 2);
    int two[2] = {-1, -1};
    CU_ASSERT_EQUAL(rayc__parse_gpu_list("4,5,6", two, 2), 2); /* past max: dropped */
    CU_ASSERT(two[0] == 4 && two[1] == 5);
}

static void test_gpu_list_garbage(void)
{
    static const char *const bad[] = {"",     "NoDevFiles", "a",    "-1",  "+1", "0,",
                                      ",0",   "0,,1",       "0 ,1", " 0",  "0 ", "1,1",
                                      "0,1x", "99999999999", "GPU-6f3c2b1a", "0;1"};
    int ids[8];
    CU_ASSERT_EQUAL(rayc__parse_gpu_list(NULL, ids, 8), 0);
    CU_ASSERT_EQUAL(rayc__parse_gpu_list("0", NULL, 8), 0);
    CU_ASSERT_EQUAL(rayc__parse_gpu_list("0", ids, 0), 0);
    CU_ASSERT_EQUAL(rayc__parse_gpu_list("0", ids, -3), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int n = rayc__parse_gpu_list(bad[i], ids, 8);
        if (n != 0)
            printf("\n  parse_gpu_list accepted \"%s\"\n", bad[i]);
        CU_ASSERT_EQUAL(n, 0);
    }
}

/* ---- rayc__cpu_share over fake masks ---- */

/* Mask of CPUs lo..hi (inclusive) in a 2-word (128-bit) array. */
static void fill_mask(uint64_t m[2], int lo, int hi)
{
    m[0] = m[1] = 0;
    for (int c = lo; c <= hi; c++)
        m[c / 64] |= UINT64_C(1) << (c % 64);
}

/* share[i] for every local rank i of n, all with nbits 128. */
static void shares(uint64_t m[][2], int n, int *out)
{
    const uint64_t *ptrs[16];
    for (int i = 0; i < n; i++)
        ptrs[i] = m[i];
    for (int i = 0; i < n; i++)
        out[i] = rayc__cpu_share(ptrs, n, 128, i);
}

static void test_cpu_share_documented_cases(void)
{
    uint64_t m[8][2];
    int s[8];
    for (int i = 0; i < 8; i++) /* 8 ranks sharing 2 CPUs: 0.25 each, at least 1 */
        fill_mask(m[i], 0, 1);
    shares(m, 8, s);
    for (int i = 0; i < 8; i++)
        CU_ASSERT_EQUAL(s[i], 1);

    fill_mask(m[0], 0, 0); /* 2 ranks bound to one core each */
    fill_mask(m[1], 1, 1);
    shares(m, 2, s);
    CU_ASSERT(s[0] == 1 && s[1] == 1);

    fill_mask(m[0], 0, 3); /* 1 rank with 4 CPUs */
    shares(m, 1, s);
    CU_ASSERT_EQUAL(s[0], 4);

    fill_mask(m[0], 0, 3); /* 2 ranks sharing 4 */
    fill_mask(m[1], 0, 3);
    shares(m, 2, s);
    CU_ASSERT(s[0] == 2 && s[1] == 2);

    fill_mask(m[0], 64, 127); /* 2 ranks sharing 64 CPUs in the second word */
    fill_mask(m[1], 64, 127);
    shares(m, 2, s);
    CU_ASSERT(s[0] == 32 && s[1] == 32);
}

static void test_cpu_share_mixed_and_rounding(void)
{
    uint64_t m[3][2];
    int s[3];
    fill_mask(m[0], 0, 0); /* one bound rank, two sharing 4 others */
    fill_mask(m[1], 1, 4);
    fill_mask(m[2], 1, 4);
    shares(m, 3, s);
    CU_ASSERT(s[0] == 1 && s[1] == 2 && s[2] == 2);

    fill_mask(m[0], 0, 3); /* overlap: 1 + 1 + 1/2 + 1/2 = 3 and 1/2 + 1/2 = 1 */
    fill_mask(m[1], 2, 3);
    shares(m, 2, s);
    CU_ASSERT(s[0] == 3 && s[1] == 1);

    for (int i = 0; i < 3; i++) /* 3 ranks on 2 CPUs: 0.67 rounds to 1 */
        fill_mask(m[i], 0, 1);
    shares(m, 3, s);
    CU_ASSERT(s[0] == 1 && s[1] == 1 && s[2] == 1);

    fill_mask(m[0], 0, 2); /* 2 ranks on 3 CPUs: 1.5 rounds up to 2 */
    fill_mask(m[1], 0, 2);
    shares(m, 2, s);
    CU_ASSERT(s[0] == 2 && s[1] == 2);

    fill_mask(m[0], 0, 4); /* 3 ranks on 5 CPUs: 1.67 rounds to 2 */
    fill_mask(m[1], 0, 4);
    fill_mask(m[2], 0, 4);
    shares(m, 3, s);
    CU_ASSERT(s[0] == 2 && s[1] == 2 && s[2] == 2);
}

static void test_cpu_share_bad_args(void)
{
    uint64_t m[2] = {0xf, 0};
    const uint64_t *ptrs[2] = {m, NULL};
    CU_ASSERT_EQUAL(rayc__cpu_share(ptrs, 2, 128, 0), 4); /* a NULL mask is an empty one */
    CU_ASSERT_EQUAL(rayc__cpu_share(ptrs, 2, 128, 1), 1);
    CU_ASSERT_EQUAL(rayc__cpu_share(NULL, 2, 128, 0), 1);
    CU_ASSERT_EQUAL(rayc__cpu_share(ptrs, 0, 128, 0), 1);
    CU_ASSERT_EQUAL(rayc__cpu_share(ptrs, 2, 0, 0), 1);
    CU_ASSERT_EQUAL(rayc__cpu_share(ptrs, 2, 128, 2), 1);
    CU_ASSERT_EQUAL(rayc__cpu_share(ptrs, 2, 128, -1), 1);
    CU_ASSERT_EQUAL(rayc__cpu_share(ptrs, 2, 2, 0), 2); /* only bits below nbits count */
}

/* ---- rayc__affinity_mask and affinity_cpus ---- */

static void test_affinity_mask(void)
{
    cpu_set_t set;
    CU_ASSERT_FATAL(sched_getaffinity(0, sizeof set, &set) == 0);
    uint64_t mask[CPU_SETSIZE / 64];
    memset(mask, 0xff, sizeof mask);
    int n = rayc__affinity_mask(mask, CPU_SETSIZE / 64);
    CU_ASSERT_EQUAL(n, CPU_COUNT(&set));
    for (int c = 0; c < CPU_SETSIZE; c++)
        CU_ASSERT_EQUAL(((mask[c / 64] >> (c % 64)) & 1u) != 0, CPU_ISSET(c, &set) != 0);
    CU_ASSERT_EQUAL(rayc__affinity_mask(NULL, 4), -1);
    CU_ASSERT_EQUAL(rayc__affinity_mask(mask, 0), -1);
}

/* Bind to the first allowed CPU, check mask and detect see exactly it, restore. */
static void test_affinity_bound(void)
{
    cpu_set_t saved, one;
    CU_ASSERT_FATAL(sched_getaffinity(0, sizeof saved, &saved) == 0);
    int first = 0;
    while (first < CPU_SETSIZE && !CPU_ISSET(first, &saved))
        first++;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    CU_ASSERT_FATAL(sched_setaffinity(0, sizeof one, &one) == 0);
    uint64_t mask[CPU_SETSIZE / 64];
    CU_ASSERT_EQUAL(rayc__affinity_mask(mask, CPU_SETSIZE / 64), 1);
    CU_ASSERT(mask[first / 64] == UINT64_C(1) << (first % 64));
    clear_env();
    rayc__platform p = detect_ok(1);
    CU_ASSERT_EQUAL(p.affinity_cpus, 1);
    CU_ASSERT_FATAL(sched_setaffinity(0, sizeof saved, &saved) == 0);
    p = detect_ok(1);
    CU_ASSERT_EQUAL(p.affinity_cpus, CPU_COUNT(&saved));
}

/* ---- rayc__platform_detect driven by the environment ---- */

static void test_detect_bad_args(void)
{
    rayc__platform p;
    char err[128] = "";
    CU_ASSERT_EQUAL(rayc__platform_detect(NULL, 1, err, sizeof err), -1);
    CU_ASSERT(err[0] != '\0');
    err[0] = '\0';
    CU_ASSERT_EQUAL(rayc__platform_detect(&p, 0, err, sizeof err), -1);
    CU_ASSERT(err[0] != '\0');
    CU_ASSERT_EQUAL(rayc__platform_detect(&p, -2, NULL, 0), -1); /* no err buffer: no crash */
}

static double meminfo_bytes(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    unsigned long long kib = 0;
    char line[256];
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "MemTotal: %llu kB", &kib) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return (double)kib * 1024.0;
}

static void test_detect_defaults(void)
{
    clear_env();
    rayc__platform p = detect_ok(1);
    char host[RAYC__HOST_MAX] = "";
    gethostname(host, sizeof host - 1);
    CU_ASSERT_STRING_EQUAL(p.host, host);
    CU_ASSERT_STRING_EQUAL(p.job_id, "");
    CU_ASSERT(p.affinity_cpus >= 1);
    CU_ASSERT_EQUAL(p.slurm_cpus_per_task, 0);
    CU_ASSERT_EQUAL(p.ngpus, 0);
    CU_ASSERT_EQUAL(p.have_pmix, 0);
    CU_ASSERT_EQUAL(p.pmix_local_rank, -1);
    CU_ASSERT_EQUAL(p.pmix_node_id, -1);
    CU_ASSERT(p.mem_bytes > 0.0);
    CU_ASSERT(p.mem_bytes <= meminfo_bytes());
    rayc__platform q = detect_ok(4); /* memory is split among the ranks on the host */
    CU_ASSERT_DOUBLE_EQUAL(q.mem_bytes * 4.0, p.mem_bytes, 1.0);
}

static void test_detect_slurm_ids(void)
{
    clear_env();
    setenv("SLURM_JOB_ID", "4242", 1);
    setenv("SLURM_CPUS_PER_TASK", "3", 1);
    rayc__platform p = detect_ok(1);
    CU_ASSERT_STRING_EQUAL(p.job_id, "4242");
    CU_ASSERT_EQUAL(p.slurm_cpus_per_task, 3);
    static const char *const bad[] = {"3x", "-2", "", " 3", "99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("SLURM_CPUS_PER_TASK", bad[i], 1);
        p = detect_ok(1);
        CU_ASSERT_EQUAL(p.slurm_cpus_per_task, 0);
    }
    setenv("SLURM_JOB_ID", "", 1); /* empty is unset */
    p = detect_ok(1);
    CU_ASSERT_STRING_EQUAL(p.job_id, "");
}

/* ngpus and the first ids after detect with the current environment. */
static int detect_gpus(int *id0, int *id1)
{
    rayc__platform p = detect_ok(1);
    *id0 = p.ngpus > 0 ? p.gpu_ids[0] : -1;
    *id1 = p.ngpus > 1 ? p.gpu_ids[1] : -1;
    return p.ngpus;
}

static void test_detect_gpus(void)
{
    int a, b;
    clear_env();
    setenv("CUDA_VISIBLE_DEVICES", "1,3", 1);
    setenv("SLURM_STEP_GPUS", "0", 1);
    CU_ASSERT(detect_gpus(&a, &b) == 2 && a == 1 && b == 3);
    setenv("CUDA_VISIBLE_DEVICES", "", 1); /* set but empty hides every GPU */
    CU_ASSERT_EQUAL(detect_gpus(&a, &b), 0);
    setenv("CUDA_VISIBLE_DEVICES", "NoDevFiles", 1);
    CU_ASSERT_EQUAL(detect_gpus(&a, &b), 0);
    unsetenv("CUDA_VISIBLE_DEVICES");
    CU_ASSERT(detect_gpus(&a, &b) == 1 && a == 0);
    unsetenv("SLURM_STEP_GPUS");
    setenv("SLURM_JOB_GPUS", "5,6", 1);
    CU_ASSERT(detect_gpus(&a, &b) == 2 && a == 5 && b == 6);
    unsetenv("SLURM_JOB_GPUS");
    setenv("GPU_DEVICE_ORDINAL", "2", 1);
    CU_ASSERT(detect_gpus(&a, &b) == 1 && a == 2);
    setenv("GPU_DEVICE_ORDINAL", "2,x", 1);
    CU_ASSERT_EQUAL(detect_gpus(&a, &b), 0);
}

static void test_detect_slurm_memory(void)
{
    clear_env();
    setenv("SLURM_MEM_PER_NODE", "4000", 1); /* MiB */
    rayc__platform p = detect_ok(2);
    CU_ASSERT_DOUBLE_EQUAL(p.mem_bytes, 2000.0 * MIB, 1.0);
    setenv("SLURM_MEM_PER_NODE", "8G", 1);
    p = detect_ok(4);
    CU_ASSERT_DOUBLE_EQUAL(p.mem_bytes, 2.0 * 1024.0 * MIB, 1.0);

    setenv("SLURM_MEM_PER_CPU", "1000", 1); /* wins over per node */
    setenv("SLURM_CPUS_PER_TASK", "3", 1);
    p = detect_ok(4);
    CU_ASSERT_DOUBLE_EQUAL(p.mem_bytes, 3000.0 * MIB, 1.0);
    unsetenv("SLURM_CPUS_PER_TASK"); /* then the affinity mask counts the CPUs */
    p = detect_ok(4);
    CU_ASSERT_DOUBLE_EQUAL(p.mem_bytes, 1000.0 * MIB * p.affinity_cpus, 1.0);

    setenv("SLURM_MEM_PER_CPU", "lots", 1); /* garbage: next source */
    p = detect_ok(4);
    CU_ASSERT_DOUBLE_EQUAL(p.mem_bytes, 2.0 * 1024.0 * MIB, 1.0);
    setenv("SLURM_MEM_PER_NODE", "-5", 1);
    p = detect_ok(1);
    CU_ASSERT(p.mem_bytes > 0.0 && p.mem_bytes <= meminfo_bytes());
}

/* PMIX_RANK set but no server to talk to: PMIx_Init fails and detect falls back. */
static void test_detect_pmix_fallback(void)
{
    clear_env();
    setenv("PMIX_RANK", "0", 1);
    setenv("SLURM_JOB_ID", "77", 1);
    rayc__platform p = detect_ok(1);
    CU_ASSERT_EQUAL(p.have_pmix, 0);
    CU_ASSERT_EQUAL(p.pmix_local_rank, -1);
    CU_ASSERT_EQUAL(p.pmix_node_id, -1);
    CU_ASSERT_STRING_EQUAL(p.job_id, "77");
    CU_ASSERT(p.host[0] != '\0');
    CU_ASSERT_EQUAL(PMIx_Initialized(), 0); /* the singleton reference was given back */
    unsetenv("PMIX_RANK");
}

/* Only registered when started by a PMIx launcher (mpirun, srun --mpi=pmix). Holds a PMIx
 * reference the way MPI does in rayc: PMIx 4.2 cannot be initialized again in a process after
 * its last PMIx_Finalize, so without it the second detect would get have_pmix = 0. */
static void test_detect_pmix_live(void)
{
    pmix_proc_t me;
    CU_ASSERT_FATAL(PMIx_Init(&me, NULL, 0) == PMIX_SUCCESS);
    unsetenv("SLURM_JOB_ID"); /* srun sets it; here the job id must come from PMIx */
    rayc__platform p = detect_ok(1);
    CU_ASSERT_EQUAL(PMIx_Initialized(), 1); /* detect gave back only its own reference */
    CU_ASSERT_EQUAL(p.have_pmix, 1);
    CU_ASSERT(p.pmix_local_rank >= 0);
    const char *lrank = getenv("OMPI_COMM_WORLD_LOCAL_RANK"); /* what the launcher says */
    if (lrank == NULL)
        lrank = getenv("SLURM_LOCALID");
    if (lrank != NULL)
        CU_ASSERT_EQUAL(p.pmix_local_rank, atoi(lrank));
    CU_ASSERT(p.pmix_node_id >= 0);
    CU_ASSERT(p.host[0] != '\0');
    CU_ASSERT(p.job_id[0] != '\0');
    const char *ns = getenv("PMIX_NAMESPACE");
    if (ns != NULL)
        CU_ASSERT_STRING_EQUAL(p.job_id, ns);
    printf("\n  pmix: local rank %d node %d host %s job %s\n", p.pmix_local_rank, p.pmix_node_id,
           p.host, p.job_id);
    setenv("SLURM_JOB_ID", "31337", 1); /* Slurm's id wins over the namespace */
    p = detect_ok(1);
    CU_ASSERT_EQUAL(p.have_pmix, 1);
    CU_ASSERT_STRING_EQUAL(p.job_id, "31337");
    unsetenv("SLURM_JOB_ID");
    PMIx_Finalize(NULL, 0);
    CU_ASSERT_EQUAL(PMIx_Initialized(), 0); /* so detect's pairs were balanced */
}

/* ---- rayc__job_dir ---- */

static char g_base[64];

static int mode_of(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

static void test_job_dir_create(void)
{
    clear_env();
    setenv("RAYC_SPILL_DIR", g_base, 1);
    setenv("SLURM_TMPDIR", "/nonexistent-rayc-test", 1); /* neither may be consulted */
    setenv("TMPDIR", "/nonexistent-rayc-test", 1);
    char out[512], err[256] = "", want[512];
    snprintf(want, sizeof want, "%s/rayc-77", g_base);
    mode_t old = umask(0277); /* a hostile umask must not weaken or break the dir */
    CU_ASSERT_EQUAL(rayc__job_dir("77", out, sizeof out, err, sizeof err), 0);
    umask(old);
    CU_ASSERT_STRING_EQUAL(out, want);
    CU_ASSERT_EQUAL(mode_of(want), 0700);
    CU_ASSERT_STRING_EQUAL(err, "");
    CU_ASSERT_EQUAL(chmod(want, 0755), 0); /* existing: tightened back to 0700 */
    CU_ASSERT_EQUAL(rayc__job_dir("77", out, sizeof out, err, sizeof err), 0);
    CU_ASSERT_EQUAL(mode_of(want), 0700);
    CU_ASSERT_EQUAL(rmdir(want), 0);
}

static void test_job_dir_base_order(void)
{
    char out[512], want[512];
    clear_env();
    setenv("RAYC_SPILL_DIR", "", 1); /* empty counts as unset */
    setenv("SLURM_TMPDIR", g_base, 1);
    setenv("TMPDIR", "/nonexistent-rayc-test", 1);
    snprintf(want, sizeof want, "%s/rayc-s1", g_base);
    CU_ASSERT_EQUAL(rayc__job_dir("s1", out, sizeof out, NULL, 0), 0);
    CU_ASSERT_STRING_EQUAL(out, want);
    CU_ASSERT_EQUAL(rmdir(want), 0);

    unsetenv("SLURM_TMPDIR");
    setenv("TMPDIR", g_base, 1);
    snprintf(want, sizeof want, "%s/rayc-t1", g_base);
    CU_ASSERT_EQUAL(rayc__job_dir("t1", out, sizeof out, NULL, 0), 0);
    CU_ASSERT_STRING_EQUAL(out, want);
    CU_ASSERT_EQUAL(rmdir(want), 0);

    unsetenv("TMPDIR"); /* nothing set: /tmp */
    char id[64];
    snprintf(id, sizeof id, "unit%ld", (long)getpid());
    snprintf(want, sizeof want, "/tmp/rayc-%s", id);
    CU_ASSERT_EQUAL(rayc__job_dir(id, out, sizeof out, NULL, 0), 0);
    CU_ASSERT_STRING_EQUAL(out, want);
    CU_ASSERT_EQUAL(rmdir(want), 0);
}

/* job_dir must fail, leave out alone and say something in err containing needle. */
static void expect_job_dir_error(const char *id, const char *needle)
{
    char out[512] = "untouched", err[256] = "";
    CU_ASSERT_EQUAL(rayc__job_dir(id, out, sizeof out, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(out, "untouched");
    if (strstr(err, needle) == NULL)
        printf("\n  job_dir(%s): err \"%s\" lacks \"%s\"\n", id ? id : "NULL", err, needle);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, needle));
}

static void test_job_dir_errors(void)
{
    char path[512], other[512];
    clear_env();
    snprintf(path, sizeof path, "%s/missing", g_base);
    setenv("RAYC_SPILL_DIR", path, 1); /* nonexistent base: not created */
    expect_job_dir_error("1", "No such file or directory");
    CU_ASSERT_EQUAL(mode_of(path), -1);

    snprintf(path, sizeof path, "%s/afile", g_base); /* base is a file */
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fclose(f);
    setenv("RAYC_SPILL_DIR", path, 1);
    expect_job_dir_error("1", "not a directory");
    unlink(path);

    setenv("RAYC_SPILL_DIR", g_base, 1);
    snprintf(path, sizeof path, "%s/rayc-88", g_base); /* a file where the dir should be */
    f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fclose(f);
    expect_job_dir_error("88", "not a directory");
    unlink(path);

    snprintf(other, sizeof other, "%s/target", g_base); /* a symlink to a directory */
    snprintf(path, sizeof path, "%s/rayc-99", g_base);
    CU_ASSERT_EQUAL(mkdir(other, 0700), 0);
    CU_ASSERT_EQUAL(symlink(other, path), 0);
    expect_job_dir_error("99", "not a directory");
    unlink(path);
    rmdir(other);

    expect_job_dir_error(NULL, "bad job id");
    expect_job_dir_error("", "bad job id");
    expect_job_dir_error("a/b", "bad job id");
    expect_job_dir_error("a b", "bad job id");
    expect_job_dir_error("a\nb", "bad job id");
}

static void test_job_dir_small_buffer_and_owner(void)
{
    char out[8] = "keep", err[256] = "", path[512];
    clear_env();
    setenv("RAYC_SPILL_DIR", g_base, 1);
    CU_ASSERT_EQUAL(rayc__job_dir("55", out, sizeof out, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(out, "keep");
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "too long"));
    CU_ASSERT_EQUAL(rayc__job_dir("55", NULL, 64, NULL, 0), -1);

    if (geteuid() != 0) {
        printf("\n  not root: the foreign-owner case is not exercised\n");
        return;
    }
    snprintf(path, sizeof path, "%s/rayc-66", g_base); /* someone else's directory */
    CU_ASSERT_EQUAL(mkdir(path, 0700), 0);
    CU_ASSERT_EQUAL(chown(path, 12345, 12345), 0);
    expect_job_dir_error("66", "owned by uid 12345");
    rmdir(path);
}

static const struct {
    const char *name;
    void (*fn)(void);
} g_tests[] = {
    {"parse_size good", test_parse_size_good},
    {"parse_size garbage", test_parse_size_garbage},
    {"gpu_list good", test_gpu_list_good},
    {"gpu_list garbage", test_gpu_list_garbage},
    {"cpu_share documented cases", test_cpu_share_documented_cases},
    {"cpu_share mixed and rounding", test_cpu_share_mixed_and_rounding},
    {"cpu_share bad args", test_cpu_share_bad_args},
    {"affinity_mask", test_affinity_mask},
    {"affinity bound to one cpu", test_affinity_bound},
    {"detect bad args", test_detect_bad_args},
    {"detect defaults", test_detect_defaults},
    {"detect slurm ids", test_detect_slurm_ids},
    {"detect gpus", test_detect_gpus},
    {"detect slurm memory", test_detect_slurm_memory},
    {"detect pmix fallback", test_detect_pmix_fallback},
    {"job_dir create", test_job_dir_create},
    {"job_dir base order", test_job_dir_base_order},
    {"job_dir errors", test_job_dir_errors},
    {"job_dir small buffer and owner", test_job_dir_small_buffer_and_owner},
};

int main(void)
{
    g_started_under_pmix = getenv("PMIX_RANK") != NULL;
    snprintf(g_base, sizeof g_base, "/tmp/rayc-test-platform-XXXXXX");
    if (mkdtemp(g_base) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("platform", NULL, NULL);
    int ok = s != NULL;
    /* The live PMIx test goes first, before clear_env() removes the launcher's variables. */
    if (ok && g_started_under_pmix)
        ok = CU_add_test(s, "detect pmix live", test_detect_pmix_live) != NULL;
    else
        printf("not started by a PMIx launcher: 'detect pmix live' not registered\n");
    for (size_t i = 0; ok && i < sizeof g_tests / sizeof g_tests[0]; i++)
        ok = CU_add_test(s, g_tests[i].name, g_tests[i].fn) != NULL;
    if (!ok) {
        CU_cleanup_registry();
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned run = CU_get_number_of_tests_run();
    unsigned failed = CU_get_number_of_tests_failed() + CU_get_number_of_failures();
    CU_cleanup_registry();
    rmdir(g_base);
    return (run == 0 || failed != 0) ? 1 : 0;
}
