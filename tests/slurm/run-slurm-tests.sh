#!/usr/bin/env bash
# Runs MPI and rayc jobs through a private single-node Slurm: the MPI stack (srun --mpi=pmix,
# mpirun, two jobs at once, MCA settings), every seed job's jobs/*.sbatch judged by
# jobs/check-output.sh, rayc under srun and mpirun, two rayc jobs at once, PMIx identity and
# --cpus-per-task in rayc_nodes(), and walltime: SIGUSR1 from scancel, from --signal and
# forwarded by the batch shell (srun and mpirun) stops a rayc job cleanly.
#
# Usage: tests/slurm/run-slurm-tests.sh [--no-builtin] [CASE...]
#   CASE          the name of a test_* function of this script, or the path of an .sbatch file.
#                 An .sbatch file passes when its job completes with exit code 0 and its output
#                 matches every regex given in lines "# rayc-expect: REGEX" of the file. Its job
#                 runs in the file's directory (or $RAYC_SLURM_JOB_CHDIR) and sees
#                 RAYC_SLURM_TEST_WORK (a scratch directory) and MPI_HELLO (the built test program).
#   --no-builtin  run only the cases given, not the built-in ones.
# Needs root, Slurm and munge (apt-get install slurm-wlm munge), Open MPI with mpicc, and the
# rayc job programs built (make): they are taken from $RAYC_JOBS_BIN, default the source tree's
# jobs/ (scripts/test.sh passes build/jobs).
# Settings: RAYC_JOBS_BIN, RAYC_SLURM_JOB_TIMEOUT (seconds per job, default 120),
# RAYC_SLURM_KEEP=1 (keep the cluster and work directories for inspection), and those of
# slurm/start-local-cluster.sh. Jobs run with RAYC_STORE_BYTES=256M unless it is set: rayc's
# default object store (30% of a rank's memory share, at most 2 GiB, committed at init) costs
# 4 ranks on this 24 GiB machine 7 GiB and ~5 s at start; test_rayc_srun and test_rayc_mpirun
# run with the default.
# The last line printed is "N passed, N failed"; the exit status is nonzero unless all passed.
#
# To add a case: write a function test_NAME that returns 0 on success (submit_and_check does the
# usual "sbatch, wait, check state and output"), and add NAME to builtin_cases.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
job_timeout=${RAYC_SLURM_JOB_TIMEOUT:-120}
jobs_src=$repo/jobs
seed_jobs=(pi matmul_sum fib quicksort patterns batch_inference expensive)
builtin_cases=(test_srun_pmix test_mpirun_in_allocation test_two_jobs_at_once test_mca_settings
    test_job_pi test_job_matmul_sum test_job_fib test_job_quicksort test_job_patterns
    test_job_batch_inference test_job_expensive
    test_rayc_srun test_rayc_mpirun test_two_rayc_jobs_at_once test_pmix_identity
    test_cpus_per_task test_walltime_scancel test_walltime_signal_option
    test_walltime_batch_forward test_walltime_mpirun_forward test_microbenchmark)
passed=0
failed=0

log() {
    printf '[slurm-tests] %s\n' "$*"
}

# Jobs submitted from here must not inherit the settings of an enclosing allocation.
unset_slurm_environment() {
    local name
    for name in $(compgen -e); do
        case $name in
        SLURM_* | SBATCH_* | SRUN_* | SALLOC_*) unset "$name" ;;
        esac
    done
}

# ---------------------------------------------------------------------------------------------
# Helpers for cases. Each prints why it failed and returns nonzero. Cases run with errexit on
# (see run_case), so a failing helper ends its case.

# mpi_env: the Open MPI settings every job runs with, as lines for a job script.
mpi_env() {
    cat <<'EOF'
# Open MPI settings rayc is tested with. The distribution's openmpi-mca-params.conf is ignored
# (mca_base_param_files) so that these lines alone decide: without them Open MPI 4.1 picks the
# libfabric path (pml cm), which is 40 times slower on one node.
export OMPI_MCA_mca_base_param_files=/dev/null
export OMPI_MCA_pml=ob1
export OMPI_MCA_btl=self,vader,tcp
export OMPI_MCA_osc=^ucx,pt2pt
export OMPI_MCA_mtl=^ofi
EOF
}

# write_job NAME: write the job script $work/NAME.sbatch from stdin, after a shebang.
write_job() {
    {
        printf '#!/bin/bash\n'
        cat
    } >"$work/$1.sbatch"
    printf '%s\n' "$work/$1.sbatch"
}

# submit FILE [SBATCH-OPTION...] [-- SCRIPT-ARG...]: submit a job, print its id.
submit() {
    local file=$1 chdir id options=()
    shift
    while [[ $# -gt 0 && $1 != -- ]]; do
        options+=("$1")
        shift
    done
    [[ $# -eq 0 ]] || shift
    chdir=${RAYC_SLURM_JOB_CHDIR:-$(dirname "$file")}
    id=$(timeout 30 sbatch --parsable --chdir="$chdir" \
        --output="$work/out/%x-%j.out" "${options[@]}" "$file" "$@") || {
        log "sbatch $file failed"
        return 1
    }
    id=${id%%;*}
    [[ $id =~ ^[0-9]+$ ]] || {
        log "sbatch $file printed '$id', not a job id"
        return 1
    }
    printf '%s\n' "$id"
}

# job_field ID FIELD: print FIELD (JobState, ExitCode, StdOut, ...) of job ID.
job_field() {
    timeout 15 scontrol -o show job "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# wait_job ID: wait up to $job_timeout seconds for job ID to end; cancel it on timeout.
wait_job() {
    local id=$1 deadline=$((SECONDS + job_timeout)) state
    while :; do
        state=$(job_field "$id" JobState) || state=UNKNOWN
        case $state in
        PENDING | CONFIGURING | RUNNING | COMPLETING | SUSPENDED | UNKNOWN) ;;
        *) return 0 ;;
        esac
        if ((SECONDS >= deadline)); then
            log "job $id still $state after ${job_timeout}s; cancelling it"
            show_job "$id"
            timeout 15 scancel "$id" || true
            return 1
        fi
        sleep 0.25
    done
}

# show_job ID: print what helps to see why job ID failed.
show_job() {
    local id=$1 out
    log "---- job $id: $(timeout 15 scontrol -o show job "$id" 2>&1 |
        grep -oE '(JobState|Reason|ExitCode|StdOut)=[^ ]*' | tr '\n' ' ')"
    out=$(job_field "$id" StdOut) || true
    if [[ -n $out && -r $out ]]; then
        log "---- output of job $id ($out), last 40 lines:"
        tail -n 40 "$out"
    fi
    log "---- slurmd log, last 10 lines:"
    tail -n 10 "$cluster/log/slurmd.log" || true
}

# check_job ID [REGEX...]: job ID completed with exit code 0:0 and its output matches each REGEX.
check_job() {
    local id=$1 state code out regex
    shift
    state=$(job_field "$id" JobState)
    code=$(job_field "$id" ExitCode)
    out=$(job_field "$id" StdOut)
    if [[ $state != COMPLETED || $code != 0:0 ]]; then
        log "job $id ended $state with exit code $code"
        show_job "$id"
        return 1
    fi
    for regex in "$@"; do
        if ! grep -Eq -- "$regex" "$out"; then
            log "output of job $id does not match: $regex"
            show_job "$id"
            return 1
        fi
    done
}

# submit_and_check FILE [REGEX...]: submit FILE, wait for its job and check it (see check_job).
submit_and_check() {
    local file=$1 id
    shift
    id=$(submit "$file")
    log "submitted $(basename "$file") as job $id"
    wait_job "$id"
    check_job "$id" "$@"
}

# check_hello ID NRANKS: the output of job ID has one mpi_hello line for each of NRANKS ranks,
# all with the job's id, MPI_THREAD_MULTIPLE and a correct one-sided get.
check_hello() {
    local id=$1 n=$2 out rank lines
    out=$(job_field "$id" StdOut)
    lines=$(grep -c '^hello ' "$out" || true)
    if [[ $lines -ne $n ]]; then
        log "job $id printed $lines hello lines, expected $n"
        show_job "$id"
        return 1
    fi
    for ((rank = 0; rank < n; rank++)); do
        if ! grep -Eq "^hello rank=$rank size=$n host=[^ ]+ jobid=$id thread=multiple get=$(((rank + 1) % n))\$" "$out"; then
            log "job $id: no correct hello line for rank $rank of $n"
            show_job "$id"
            return 1
        fi
    done
}

# ---------------------------------------------------------------------------------------------
# Built-in cases.

# srun --mpi=pmix starts 4 ranks of an MPI_THREAD_MULTIPLE program on the 2-core machine.
test_srun_pmix() {
    local file id
    file=$(write_job srun_pmix <<EOF
#SBATCH --job-name=srun_pmix --ntasks=4 --time=2
$(mpi_env)
srun --mpi=pmix "$work/mpi_hello"
EOF
)
    id=$(submit "$file")
    wait_job "$id"
    check_job "$id"
    check_hello "$id" 4
}

# mpirun inside the allocation takes its slots from Slurm and starts 4 ranks.
test_mpirun_in_allocation() {
    local file id
    file=$(write_job mpirun <<EOF
#SBATCH --job-name=mpirun --ntasks=4 --time=2
$(mpi_env)
if [ "\$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
mpirun "$work/mpi_hello"
EOF
)
    id=$(submit "$file")
    wait_job "$id"
    check_job "$id"
    check_hello "$id" 4
}

# Two 4-task jobs run at the same time (each waits until both have started) and stay apart:
# different ids, separate outputs, each output naming only its own job.
test_two_jobs_at_once() {
    local file a b id other
    mkdir -p "$work/pair"
    file=$(write_job pair <<EOF
#SBATCH --job-name=pair --ntasks=4 --time=2
$(mpi_env)
touch "$work/pair/\$SLURM_JOB_ID"
for i in \$(seq 1 300); do
    [ "\$(ls "$work/pair" | wc -l)" -ge 2 ] && break
    sleep 0.1
done
echo "running together: \$(ls "$work/pair" | tr '\n' ' ')"
[ "\$(ls "$work/pair" | wc -l)" -ge 2 ] || { echo "the other job did not start within 30 s"; exit 1; }
srun --mpi=pmix "$work/mpi_hello"
EOF
)
    a=$(submit "$file")
    b=$(submit "$file")
    log "submitted jobs $a and $b"
    if [[ $a == "$b" ]]; then
        log "both submissions got job id $a"
        return 1
    fi
    wait_job "$a"
    wait_job "$b"
    for id in "$a" "$b"; do
        other=$a
        [[ $id != "$a" ]] || other=$b
        check_job "$id" '^running together: '
        check_hello "$id" 4
        if grep -q "jobid=$other " "$(job_field "$id" StdOut)"; then
            log "output of job $id holds lines of job $other"
            return 1
        fi
    done
    if [[ $(job_field "$a" StdOut) == "$(job_field "$b" StdOut)" ]]; then
        log "jobs $a and $b wrote the same output file"
        return 1
    fi
}

# The MCA settings of mpi_env are the ones in effect: pml ob1 and the vader BTL between ranks.
test_mca_settings() {
    local file
    file=$(write_job mca <<EOF
#SBATCH --job-name=mca --ntasks=2 --time=2
$(mpi_env)
export OMPI_MCA_pml_base_verbose=10 OMPI_MCA_btl_base_verbose=100
srun --mpi=pmix "$work/mpi_hello"
EOF
)
    submit_and_check "$file" 'select: component ob1 selected' 'Using vader btl for send' \
        '^hello rank=1 size=2 .* thread=multiple get=0$'
}

# ---------------------------------------------------------------------------------------------
# Helpers for the rayc cases.

# job_out ID: the output file of job ID.
job_out() {
    job_field "$1" StdOut
}

# check_output JOB ID: jobs/check-output.sh JOB accepts the output of job ID.
check_output() {
    local verdict
    if ! verdict=$("$jobs_src/check-output.sh" "$1" "$(job_out "$2")" 2>&1); then
        log "$verdict"
        show_job "$2"
        return 1
    fi
    log "job $2: $verdict"
}

# wait_for_output ID REGEX: wait until the output of job ID matches REGEX; fail if the job
# ends first or $job_timeout seconds pass.
wait_for_output() {
    local id=$1 regex=$2 deadline=$((SECONDS + job_timeout)) out state
    while :; do
        out=$(job_out "$id") || out=
        if [[ -n $out && -r $out ]] && grep -Eq -- "$regex" "$out"; then
            return 0
        fi
        state=$(job_field "$id" JobState) || state=UNKNOWN
        case $state in
        PENDING | CONFIGURING | RUNNING | UNKNOWN) ;;
        *)
            log "job $id ended ($state) before its output matched: $regex"
            show_job "$id"
            return 1
            ;;
        esac
        if ((SECONDS >= deadline)); then
            log "output of job $id did not match within ${job_timeout}s: $regex"
            show_job "$id"
            timeout 15 scancel "$id" || true
            return 1
        fi
        sleep 0.25
    done
}

# count_lines ID REGEX: print how many lines of the output of job ID match REGEX.
count_lines() {
    grep -Ec -- "$2" "$(job_out "$1")" || true
}

# check_nodes ID NRANKS CPUS [MIB]: the walltime program of job ID printed one rayc_nodes()
# line per rank: ranks 0..NRANKS-1 on this host (the Slurm node), one node id (0), local ranks
# 0..NRANKS-1 (one each), CPUS CPUs and as many worker threads, and MIB MiB of memory (any
# amount when not given) for every rank.
check_nodes() {
    local id=$1 n=$2 cpus=$3 mib=${4:-[0-9]+} out host rank lines line
    out=$(job_out "$id")
    host=$(hostname -s)
    lines=$(count_lines "$id" '^walltime: node ')
    if [[ $lines -ne $n ]]; then
        log "job $id printed $lines rayc_nodes lines, expected $n"
        show_job "$id"
        return 1
    fi
    for ((rank = 0; rank < n; rank++)); do
        # One node, ranks placed in order: local rank r is rank r.
        line="^walltime: node rank=$rank host=$host node_id=0 local_rank=$rank"
        line+=" workers=$cpus cpus=$cpus memory=${mib}MiB\$"
        if ! grep -Eq "$line" "$out"; then
            log "job $id: rank $rank is not on host $host, node 0, local rank $rank," \
                "$cpus CPUs, ${mib} MiB:"
            grep '^walltime: node ' "$out" >&2
            return 1
        fi
    done
}

# walltime_stop_checks ID SIGNUM: job ID ran the walltime program, was stopped by signal SIGNUM
# while tasks ran, and ended cleanly: the driver noticed (rayc_stop_requested and the
# callback), running tasks finished, queued ones were cancelled, the rayc summary says so for
# every rank, and the job completed with exit code 0 and an OK verdict.
walltime_stop_checks() {
    local id=$1 sig=$2
    check_job "$id" \
        "^walltime: stop callback: signal $sig\$" \
        "^walltime: stop requested by signal $sig \\(SIG[A-Z0-9]+\\) after [0-9.]+ s\$" \
        "^walltime: OK stopped by signal $sig: [1-9][0-9]* tasks done, [1-9][0-9]* cancelled, [0-9]+ not submitted, [0-9.]+ s\$" \
        "^rayc summary: [0-9]+ tasks: [1-9][0-9]* finished, 0 failed, [1-9][0-9]* cancelled, [0-9]+ retries; .* on 4 ranks, .*\\(stopped by a signal\\)\$" \
        '^rayc summary: busy per rank: 0:[0-9.]+s 1:[0-9.]+s 2:[0-9.]+s 3:[0-9.]+s$'
    check_output walltime "$id"
}

# ---------------------------------------------------------------------------------------------
# The seed jobs: jobs/<job>.sbatch as users submit it (4 ranks, srun --mpi=pmix inside, default
# program options), its output judged by jobs/check-output.sh.

# seed_job JOB: submit jobs/JOB.sbatch, wait, check state, ranks, launcher and output.
seed_job() {
    local job=$1 id
    id=$(submit "$jobs_src/$job.sbatch")
    log "submitted $job.sbatch as job $id"
    wait_job "$id"
    check_job "$id" "^$job\\.sbatch: job $id, 4 ranks on " "^$job\\.sbatch: srun --mpi=pmix "
    check_output "$job" "$id"
}

# The benchmark as users submit it (jobs/microbenchmark.sbatch, 2 ranks), quick sizes; the
# make-check build of rayc-perf is a plain executable (no libtool wrapper to relink).
test_microbenchmark() {
    local id
    export RAYC_PERF_BIN=${RAYC_PERF_BIN:-$jobs_bin/../bench/rayc-perf-smoke}
    id=$(submit "$jobs_src/microbenchmark.sbatch" -- --quick)
    log "submitted microbenchmark.sbatch as job $id"
    wait_job "$id"
    check_job "$id" '^microbenchmark\.sbatch: OK$' '^single_client_tasks_async +[0-9,.]+ tasks/s' \
        '^get_64mib_cross_rank +[0-9.]+ GB/s'
}

test_job_pi() { seed_job pi; }
test_job_matmul_sum() { seed_job matmul_sum; }
test_job_fib() { seed_job fib; }
test_job_quicksort() { seed_job quicksort; }
test_job_patterns() { seed_job patterns; }
test_job_batch_inference() { seed_job batch_inference; }
test_job_expensive() { seed_job expensive; }

# ---------------------------------------------------------------------------------------------
# rayc inside an allocation.

# srun --mpi=pmix starts a 4-rank rayc job (pi) that uses every rank, with rayc's defaults.
test_rayc_srun() {
    local file id
    file=$(write_job rayc_srun <<EOF
#SBATCH --job-name=rayc_srun --ntasks=4 --time=2
$(mpi_env)
unset RAYC_STORE_BYTES # the default object store size
srun --mpi=pmix "$jobs_bin/pi" -t 40 -s 1000000
EOF
)
    id=$(submit "$file")
    wait_job "$id"
    check_job "$id" '^pi: 40 tasks x 1000000 samples on 4 ranks, 4 worker slots$'
    check_output pi "$id"
}

# mpirun inside the allocation takes its 4 slots from Slurm and starts a 4-rank rayc job, with
# rayc's defaults.
test_rayc_mpirun() {
    local file id
    file=$(write_job rayc_mpirun <<EOF
#SBATCH --job-name=rayc_mpirun --ntasks=4 --time=2
$(mpi_env)
unset RAYC_STORE_BYTES # the default object store size
if [ "\$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
mpirun "$jobs_bin/pi" -t 40 -s 1000000
EOF
)
    id=$(submit "$file")
    wait_job "$id"
    check_job "$id" '^pi: 40 tasks x 1000000 samples on 4 ranks, 4 worker slots$'
    check_output pi "$id"
}

# Two rayc jobs (jobs/pi.sbatch with different seeds) run at the same time on the node, with
# one TMPDIR between them as on a real node: both pass, each output is its own (own job id,
# own seed's estimate), their runs overlap, each had its own job directory
# $TMPDIR/rayc-<job id> while it ran, and nothing is left in the shared TMPDIR after them.
test_two_rayc_jobs_at_once() {
    local file a b id other start_a end_a start_b end_b left
    mkdir -p "$work/pi-pair" "$work/pi-pair-tmp"
    file=$(write_job pi_pair <<EOF
#SBATCH --job-name=pi_pair --ntasks=4 --time=2
export TMPDIR="$work/pi-pair-tmp"
touch "$work/pi-pair/\$SLURM_JOB_ID"
for i in \$(seq 1 300); do
    [ "\$(ls "$work/pi-pair" | wc -l)" -ge 2 ] && break
    sleep 0.1
done
[ "\$(ls "$work/pi-pair" | wc -l)" -ge 2 ] || { echo "the other job did not start within 30 s"; exit 1; }
echo "pair: start \$(date +%s.%N)"
bash "$jobs_src/pi.sbatch" "\$@" &
pid=\$!
# rayc makes its job directory \$TMPDIR/rayc-<job id>.<step id> (srun step) at init and
# removes it at shutdown.
seen=no
while kill -0 \$pid 2>/dev/null; do
    ls -d "\$TMPDIR/rayc-\$SLURM_JOB_ID".* >/dev/null 2>&1 && seen=yes
    sleep 0.05
done
wait \$pid
rc=\$?
echo "pair: end \$(date +%s.%N)"
echo "pair: job directory \$TMPDIR/rayc-\$SLURM_JOB_ID seen: \$seen"
exit \$rc
EOF
)
    a=$(submit "$file" -- -r 1)
    b=$(submit "$file" -- -r 2)
    log "submitted jobs $a (seed 1) and $b (seed 2)"
    [[ $a != "$b" ]] || { log "both submissions got job id $a"; return 1; }
    wait_job "$a"
    wait_job "$b"
    for id in "$a" "$b"; do
        other=$a
        [[ $id != "$a" ]] || other=$b
        check_job "$id" "^pi\\.sbatch: job $id, 4 ranks on " "^pi\\.sbatch: srun --mpi=pmix .* -r [12]\$" \
            "^pair: job directory $work/pi-pair-tmp/rayc-$id seen: yes\$"
        check_output pi "$id"
        if grep -q "job $other," "$(job_out "$id")"; then
            log "output of job $id holds lines of job $other"
            return 1
        fi
    done
    if [[ $(job_out "$a") == "$(job_out "$b")" ]]; then
        log "jobs $a and $b wrote one output file"
        return 1
    fi
    # Different seeds, different estimates: each output holds its own job's result.
    if [[ $(grep '^pi: estimate=' "$(job_out "$a")") == \
        "$(grep '^pi: estimate=' "$(job_out "$b")")" ]]; then
        log "jobs $a and $b (seeds 1 and 2) printed the same estimate"
        return 1
    fi
    start_a=$(sed -n 's/^pair: start //p' "$(job_out "$a")")
    end_a=$(sed -n 's/^pair: end //p' "$(job_out "$a")")
    start_b=$(sed -n 's/^pair: start //p' "$(job_out "$b")")
    end_b=$(sed -n 's/^pair: end //p' "$(job_out "$b")")
    if ! awk -v sa="$start_a" -v ea="$end_a" -v sb="$start_b" -v eb="$end_b" \
        'BEGIN { exit !(sa < eb && sb < ea) }'; then
        log "the pi runs did not overlap: $start_a-$end_a and $start_b-$end_b"
        return 1
    fi
    log "pi runs overlapped: $start_a-$end_a and $start_b-$end_b"
    left=$(find "$work/pi-pair-tmp" -mindepth 1 -maxdepth 1 -printf '%f ')
    [[ -z $left ]] || { log "left in the shared TMPDIR: $left"; return 1; }
}

# Under srun --mpi=pmix every rank is a PMIx client (PMIX_RANK set, which is when rayc reads
# its identity from PMIx), and rayc_nodes() shows 4 ranks on this one node: node id 0, local
# ranks 0..3, host the Slurm node, 1 CPU each (4 ranks share the machine's 2 cores).
test_pmix_identity() {
    local file id rank
    file=$(write_job identity <<EOF
#SBATCH --job-name=identity --ntasks=4 --time=2
$(mpi_env)
srun --mpi=pmix sh -c 'echo "pmix: rank=\$SLURM_PROCID PMIX_RANK=\${PMIX_RANK:-unset}"'
srun --mpi=pmix "$jobs_bin/walltime" -n 4 -d 0
EOF
)
    id=$(submit "$file")
    wait_job "$id"
    check_job "$id" '^walltime: OK all 4 tasks done '
    for ((rank = 0; rank < 4; rank++)); do
        if ! grep -q "^pmix: rank=$rank PMIX_RANK=$rank\$" "$(job_out "$id")"; then
            log "job $id: rank $rank was not started as PMIx rank $rank"
            show_job "$id"
            return 1
        fi
    done
    [[ $(count_lines "$id" '^pmix: ') -eq 4 ]] || { log "job $id: not 4 pmix lines"; return 1; }
    check_nodes "$id" 4 1
}

# --cpus-per-task=2 gives each of 2 ranks 2 CPUs and 2 worker threads (SLURM_CPUS_PER_TASK;
# from the affinity masks alone, with no binding here, each would get 1 of the 2 cores), and
# --mem-per-cpu=500M gives each rank 2 x 500 MiB (SLURM_MEM_PER_CPU x CPUs).
test_cpus_per_task() {
    local file id
    file=$(write_job cpus_per_task <<EOF
#SBATCH --job-name=cpus_per_task --ntasks=2 --cpus-per-task=2 --mem-per-cpu=500M --time=2
$(mpi_env)
srun --mpi=pmix "$jobs_bin/walltime" -n 8 -d 0
EOF
)
    id=$(submit "$file")
    wait_job "$id"
    check_job "$id" '^walltime: started 8 tasks of 0 s on 2 ranks, 4 worker slots$' \
        '^walltime: OK all 8 tasks done '
    check_nodes "$id" 2 2 1000
}

# ---------------------------------------------------------------------------------------------
# Walltime: a stop signal on every rank ends a rayc job cleanly. The walltime program runs
# 40 tasks of 2 s on 4 slots (20 s); the signal comes about 1 s after it started.

# wait_started ID: wait until job ID's walltime program has submitted its tasks, then 1 s more
# so that tasks run when the signal comes.
wait_started() {
    wait_for_output "$1" '^walltime: started '
    sleep 1
}

# jobs/walltime.sbatch as users submit it; scancel --signal=USR1 signals every step (all ranks,
# as "#SBATCH --signal=USR1@60" does), not the batch shell.
test_walltime_scancel() {
    local id
    id=$(submit "$jobs_src/walltime.sbatch" -- -n 40 -d 2)
    log "submitted walltime.sbatch as job $id"
    wait_started "$id"
    timeout 15 scancel --signal=USR1 "$id"
    log "sent SIGUSR1 to the steps of job $id"
    wait_job "$id"
    walltime_stop_checks "$id" 10
}

# The --signal option itself, as in jobs/walltime.sbatch but with a 1-minute limit and SIGUSR1
# 20 s before the end. slurmctld checks time limits every 30 s or so and sends the signal at
# the first check that finds at most sig_time + 30 s left: here 10-40 s into the job (measured:
# 13 s), after rayc_init has installed its handler. The job has 160 tasks of 2 s on 4 slots
# (80 s), more than the limit, so only the signal can end it in time.
test_walltime_signal_option() {
    local id
    id=$(submit "$jobs_src/walltime.sbatch" --time=1 --signal=USR1@20 -- -n 160 -d 2)
    log "submitted walltime.sbatch --time=1 --signal=USR1@20 as job $id (takes 10-45 s)"
    wait_job "$id"
    walltime_stop_checks "$id" 10
}

# "--signal=B:USR1@60" signals only the batch shell, which must pass the signal on: srun runs in
# the background, the shell traps USR1 and forwards it to srun, which forwards it to every rank.
# This is the script shown in docs/hpc.md (its pid variable named for either launcher here);
# scancel --batch sends what B: would.
test_walltime_batch_forward() {
    walltime_forward walltime_forward srun 'srun --mpi=pmix'
}

# Under mpirun the ranks are not Slurm tasks (mpirun starts them through its own daemons), so
# the signal must go to mpirun, which forwards SIGUSR1 to every rank: the same batch-shell
# forwarding as above, with mpirun in place of srun.
test_walltime_mpirun_forward() {
    walltime_forward walltime_mpirun mpirun mpirun \
        'if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi'
}

# walltime_forward NAME LAUNCHER COMMAND [PRELUDE]: a batch job NAME whose shell runs the
# walltime program with COMMAND in the background, traps USR1 and forwards it to the launcher
# (srun or mpirun, which passes it to every rank); scancel --batch sends what B: would.
walltime_forward() {
    local name=$1 launcher=$2 cmd=$3 prelude=${4:-} file id
    file=$(write_job "$name" <<EOF
#SBATCH --job-name=$name --ntasks=4 --time=2 --signal=B:USR1@60
$(mpi_env)
$prelude
$cmd "$jobs_bin/walltime" "\$@" &
launcher_pid=\$!
trap 'kill -USR1 "\$launcher_pid"' USR1
wait "\$launcher_pid"
rc=\$?
while kill -0 "\$launcher_pid" 2>/dev/null; do
    wait "\$launcher_pid"
    rc=\$?
done
echo "$launcher exit status \$rc"
exit "\$rc"
EOF
)
    id=$(submit "$file" -- -n 40 -d 2)
    wait_started "$id"
    timeout 15 scancel --batch --signal=USR1 "$id"
    log "sent SIGUSR1 to the batch shell of job $id"
    wait_job "$id"
    walltime_stop_checks "$id" 10
    check_job "$id" "^$launcher exit status 0\$"
}

# run_sbatch_file FILE: the case for an .sbatch file given on the command line.
run_sbatch_file() {
    local file=$1 regexes=()
    mapfile -t regexes < <(sed -n 's/^# rayc-expect: //p' "$file")
    submit_and_check "$file" "${regexes[@]}"
}

# ---------------------------------------------------------------------------------------------
# Runner.

# run_case NAME COMMAND...: run COMMAND in a subshell with errexit, count the result and set
# case_ok to 1 or 0. Never call it as a condition (if, &&, ||): that would turn errexit off
# inside the case.
run_case() {
    local name=$1 t0=$SECONDS rc
    shift
    log "== $name"
    # In the background, so that a signal reaches the trap at once (see interrupted).
    (
        set -e
        "$@"
    ) &
    case_pid=$!
    set +e
    wait "$case_pid"
    rc=$?
    set -e
    case_pid=
    if [[ $rc -eq 0 ]]; then
        passed=$((passed + 1))
        case_ok=1
        log "PASS $name ($((SECONDS - t0))s)"
    else
        failed=$((failed + 1))
        case_ok=0
        log "FAIL $name ($((SECONDS - t0))s)"
    fi
}

start_cluster() {
    RAYC_SLURM_DIR=$cluster "$repo/slurm/start-local-cluster.sh" >/dev/null
}

build_programs() {
    mpicc -O2 -Wall -Wextra -Werror -o "$work/mpi_hello" "$here/mpi_hello.c"
}

# find_job_programs: the rayc job programs must be built; the .sbatch scripts find them
# through RAYC_JOBS_BIN.
find_job_programs() {
    local prog missing=()
    for prog in "${seed_jobs[@]}" walltime; do
        [[ -x $jobs_bin/$prog ]] || missing+=("$prog")
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        log "not built in $jobs_bin: ${missing[*]} (run make, or set RAYC_JOBS_BIN)"
        return 1
    fi
    log "job programs from $jobs_bin"
}

# usage_error MESSAGE: a bad command line still ends with the summary line.
usage_error() {
    log "$1"
    printf '0 passed, 1 failed\n'
    exit 2
}

cleanup() {
    local keep=${RAYC_SLURM_KEEP:-0}
    if [[ $keep == 1 ]]; then
        "$repo/slurm/stop-local-cluster.sh" --keep "$cluster" || true
        log "kept $top"
    else
        "$repo/slurm/stop-local-cluster.sh" "$cluster" || true
        rm -rf "$top"
    fi
}

# interrupted: on SIGINT/SIGTERM, count the case under way as failed, clean up, summarize.
interrupted() {
    trap - EXIT INT TERM
    log "interrupted"
    [[ -z ${case_pid:-} ]] || kill -TERM "$case_pid" 2>/dev/null || true
    cleanup
    printf '%d passed, %d failed\n' "$passed" "$((failed + 1))"
    exit 130
}

main() {
    local cases=() arg t0=$SECONDS case_name
    local builtin=1
    for arg in "$@"; do
        [[ $arg != --no-builtin ]] || builtin=0
    done
    [[ $builtin == 0 ]] || cases+=("${builtin_cases[@]}")
    for arg in "$@"; do
        case $arg in
        --no-builtin) ;;
        *.sbatch)
            [[ -r $arg ]] || usage_error "no such job file: $arg"
            cases+=("$(cd "$(dirname "$arg")" && pwd)/$(basename "$arg")")
            ;;
        -*) usage_error "unknown option: $arg" ;;
        *)
            [[ $arg == test_* && $(type -t "$arg") == function ]] ||
                usage_error "no such case: $arg (cases: ${builtin_cases[*]})"
            cases+=("$arg")
            ;;
        esac
    done

    [[ ${#cases[@]} -gt 0 ]] || usage_error "nothing to run"

    unset_slurm_environment
    top=$(mktemp -d "${TMPDIR:-/tmp}/rayc-slurm-tests.XXXXXX")
    chmod 0755 "$top" # munged wants every directory above its socket open to all
    cluster=$top/cluster
    work=$top/work
    mkdir -p "$work/out"
    export RAYC_SLURM_TEST_WORK=$work MPI_HELLO=$work/mpi_hello
    jobs_bin=${RAYC_JOBS_BIN:-$repo/jobs}
    jobs_bin=$(cd "$jobs_bin" 2>/dev/null && pwd || printf '%s\n' "$jobs_bin") # absolute if it exists
    export RAYC_JOBS_BIN=$jobs_bin
    export RAYC_STORE_BYTES=${RAYC_STORE_BYTES:-256M}
    trap cleanup EXIT
    trap interrupted INT TERM

    run_case start-cluster start_cluster
    if [[ $case_ok == 1 ]]; then
        run_case build build_programs
    fi
    if [[ $case_ok == 1 ]]; then
        # Not a gate: without the programs the MPI cases still run and the rayc cases fail.
        run_case job-programs find_job_programs
        export SLURM_CONF=$cluster/slurm.conf
        for case_name in "${cases[@]}"; do
            if [[ $case_name == *.sbatch ]]; then
                run_case "$case_name" run_sbatch_file "$case_name"
            else
                run_case "$case_name" "$case_name"
            fi
        done
    else
        log "setup failed; not running: ${cases[*]}"
        failed=$((failed + ${#cases[@]}))
    fi
    trap - EXIT
    cleanup
    log "total $((SECONDS - t0))s"
    printf '%d passed, %d failed\n' "$passed" "$failed"
    [[ $failed -eq 0 ]]
}

main "$@"
