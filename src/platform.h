/* platform.h: what this process may use and where it runs: CPUs, GPUs, memory, host identity,
 * job id, and the per-job temporary directory. Reads the affinity mask, the environment (Slurm,
 * CUDA, RAYC_*), /proc and PMIx; no MPI here (the caller passes what MPI told it).
 *
 * Called once per rank by rayc_init before worker threads start; not thread-safe itself. */
#ifndef RAYC_PLATFORM_H
#define RAYC_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#define RAYC__MAX_GPUS 64
#define RAYC__HOST_MAX 64

typedef struct rayc__platform {
    char host[RAYC__HOST_MAX];
    char job_id[64];           /* SLURM_JOB_ID, else PMIx namespace, else "pid<pid of rank 0>" set
                                  by the caller */
    int affinity_cpus;         /* CPUs in this process's affinity mask (>= 1) */
    int slurm_cpus_per_task;   /* SLURM_CPUS_PER_TASK, 0 when unset */
    int ngpus;                 /* GPU ids usable by this process */
    int gpu_ids[RAYC__MAX_GPUS];
    double mem_bytes;          /* memory this rank may use (see rayc__platform_detect) */
    int have_pmix;             /* 1 when identity came from PMIx */
    int pmix_local_rank;       /* from PMIx when have_pmix, else -1 */
    int pmix_node_id;          /* from PMIx when have_pmix, else -1 */
} rayc__platform;

/* Fill p for this process. local_size is the number of ranks sharing this host (from MPI).
 * CPUs: popcount of sched_getaffinity. GPUs: CUDA_VISIBLE_DEVICES, else SLURM_STEP_GPUS /
 * SLURM_JOB_GPUS / GPU_DEVICE_ORDINAL (comma lists, "NoDevFiles" or empty means none).
 * Memory: SLURM_MEM_PER_CPU * cpus (SLURM_CPUS_PER_TASK, else affinity_cpus) or
 * SLURM_MEM_PER_NODE / local_size (Slurm's MiB units unless suffixed),
 * else MemTotal from /proc/meminfo (or the cgroup memory limit if lower: v2 memory.max, v1
 * memory.limit_in_bytes, lowest from this process's cgroup up) / local_size.
 * PMIx identity is read only when PMIX_RANK is in the environment (launched by srun --mpi=pmix
 * or an mpirun that exports it); failures there fall back silently. Returns 0 or -1 with err.
 * Call after MPI_Init: this does its own PMIx_Init/PMIx_Finalize, and PMIx (4.2) cannot be
 * initialized again in a process after its last PMIx_Finalize, so called before MPI_Init it
 * makes Open MPI's MPI_Init fail. With MPI holding PMIx, the pair is only a reference count. */
int rayc__platform_detect(rayc__platform *p, int local_size, char *err, size_t errlen);

/* This rank's share of CPUs among the ranks on its host. masks[i] is the affinity mask of local
 * rank i as a bit array over CPU ids (nbits wide, bit j%64 of masks[i][j/64]); a CPU shared by k
 * ranks counts 1/k for each. Returns max(1, round(share)). Used so that N unbound ranks on C
 * cores get max(1, C/N) workers each and bound ranks get their own cores. */
int rayc__cpu_share(const uint64_t *const *masks, int nlocal, int nbits, int me);

/* This process's affinity mask into mask (nwords 64-bit words, bits beyond the CPUs zero).
 * Returns the number of CPUs set, or -1. */
int rayc__affinity_mask(uint64_t *mask, int nwords);

/* Parse a GPU id list ("0,1,3") into ids; returns the count (ids past max are dropped) or 0 for
 * NULL/empty/"NoDevFiles"/bad (non-digits, signs, blanks, empty items, duplicates, overflow). */
int rayc__parse_gpu_list(const char *s, int *ids, int max);

/* Parse a size with optional suffix K/M/G/T (powers of 1024; Slurm style "4000M", "2G", or a
 * plain byte count). Returns 0 and *out, or -1 when it does not parse. */
int rayc__parse_size(const char *s, double *out);

/* Make and return in out the per-job directory for temporary and spill files:
 * "<base>/rayc-<job_id>", base being the first non-empty of $RAYC_SPILL_DIR, $SLURM_TMPDIR,
 * $TMPDIR, else /tmp. The base must exist (no parents are created). The job directory is
 * created with mode 0700 if missing; if it exists it must be a directory (not a symlink) owned
 * by us, and is chmod'ed to 0700. job_id must be non-empty printable text without '/' or
 * blanks. Returns 0, or -1 with err (out untouched). */
int rayc__job_dir(const char *job_id, char *out, size_t outlen, char *err, size_t errlen);

#endif /* RAYC_PLATFORM_H */
