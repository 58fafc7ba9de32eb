#!/usr/bin/env bash
# Runs MPI jobs through a private single-node Slurm: srun --mpi=pmix, mpirun, two jobs at once.
#
# Usage: tests/slurm/run-slurm-tests.sh [--no-builtin] [CASE...]
#   CASE          the name of a test_* function of this script, or the path of an .sbatch file.
#                 An .sbatch file passes when its job completes with exit code 0 and its output
#                 matches every regex given in lines "# rayc-expect: REGEX" of the file. Its job
#                 runs in the file's directory (or $RAYC_SLURM_JOB_CHDIR) and sees
#                 RAYC_SLURM_TEST_WORK (a scratch directory) and MPI_HELLO (the built test program).
#   --no-builtin  run only the cases given, not the built-in ones.
# Needs root, Slurm and munge (apt-get install slurm-wlm munge) and Open MPI with mpicc.
# Settings: RAYC_SLURM_JOB_TIMEOUT (seconds per job, default 120), RAYC_SLURM_KEEP=1 (keep the
# cluster and work directories for inspection), and those of slurm/start-local-cluster.sh.
# The last line printed is "N passed, N failed"; the exit status is nonzero unless all passed.
#
# To add a case: write a function test_NAME that returns 0 on success (submit_and_check does the
# usual "sbatch, wait, check state and output"), and add NAME to builtin_cases.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
job_timeout=${RAYC_SLURM_JOB_TIMEOUT:-120}
builtin_cases=(test_srun_pmix test_mpirun_in_allocation test_two_jobs_at_once test_mca_settings)
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

# submit FILE [SBATCH-OPTION...]: submit a job, print its id.
submit() {
    local file=$1 chdir id
    shift
    chdir=${RAYC_SLURM_JOB_CHDIR:-$(dirname "$file")}
    id=$(timeout 30 sbatch --parsable --chdir="$chdir" \
        --output="$work/out/%x-%j.out" "$@" "$file") || {
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
    trap cleanup EXIT
    trap interrupted INT TERM

    run_case start-cluster start_cluster
    if [[ $case_ok == 1 ]]; then
        run_case build build_programs
    fi
    if [[ $case_ok == 1 ]]; then
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
