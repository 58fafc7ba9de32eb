#!/usr/bin/env bash
# test.sh: the whole test suite, as CI runs it (.ci/run calls exactly this).
#   1. install packages (scripts/setup.sh --deps)
#   2. plain build (-Wall -Wextra -Werror), make check: unit tests and multi-rank tests at
#      1, 2, 4 and 8 ranks
#   3. AddressSanitizer + UBSan build in build-san/, make check
#   4. the Slurm tests: a private slurmctld/slurmd, sbatch of the seed jobs, srun --mpi=pmix
# Prints "N passed, N failed" last and exits nonzero on any failure.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"
"$here/setup.sh" --deps

stages_passed=0
stages_failed=0
stage() {
    local name=$1
    shift
    echo "=== test.sh: $name"
    local t0=$SECONDS
    if "$@"; then
        stages_passed=$((stages_passed + 1))
        echo "=== test.sh: $name passed ($((SECONDS - t0)) s)"
    else
        stages_failed=$((stages_failed + 1))
        echo "=== test.sh: $name FAILED ($((SECONDS - t0)) s)"
    fi
}

plain() {
    if [ -f config.status ]; then make distclean >/dev/null 2>&1 || rm -f config.status; fi
    autoreconf -fi
    mkdir -p build && cd build
    ../configure --quiet
    make -j"$(nproc)"
    make -j"$(nproc)" check || { cat test-suite.log; return 1; }
}

sanitized() {
    mkdir -p build-san && cd build-san
    ../configure --quiet --enable-sanitizers
    make -j"$(nproc)"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0 \
        make -j"$(nproc)" check || { cat test-suite.log; return 1; }
}

slurm() {
    RAYC_JOBS_BIN="$repo/build/jobs" tests/slurm/run-slurm-tests.sh
}

stage "plain build and make check" bash -c "$(declare -f plain); plain"
stage "sanitizer build and make check" bash -c "$(declare -f sanitized); sanitized"
stage "Slurm tests" bash -c "$(declare -f slurm); repo='$repo'; slurm"
echo "stages: $stages_passed passed, $stages_failed failed"
# The suites above print their own counts; this is the overall verdict.
[ "$stages_failed" -eq 0 ]
