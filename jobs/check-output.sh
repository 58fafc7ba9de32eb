#!/bin/sh
# check-output.sh: did a job pass, judging by its output?
#
#     jobs/check-output.sh JOB OUTPUT_FILE
#
# JOB is one of matmul_sum, fib, pi, quicksort, patterns, batch_inference, expensive, walltime.
# OUTPUT_FILE is what the job printed: a Slurm output file (sbatch jobs/JOB.sbatch) or the
# captured output of ./jobs/JOB, mpirun or srun (stdout and stderr together are best).
#
# Passes (exit 0) when the file holds the job's expected lines, no line reports a failure
# ("<name>: FAILED"), and, when the file comes from the .sbatch script, its verdict line says
# OK. A walltime job stopped by a signal must also show that the driver noticed the stop and
# that rayc printed its summary. Otherwise prints what is wrong and exits 1; exits 2 on bad
# usage.
set -u

if [ $# -ne 2 ]; then
    echo "usage: $0 JOB OUTPUT_FILE" >&2
    exit 2
fi
job=$1
out=$2

# The lines each job prints when it passed, one extended regular expression per line.
case $job in
matmul_sum)
    expect='^matmul_sum: OK total=' ;;
fib)
    expect='^fib: OK$' ;;
pi)
    expect='^pi: estimate=[^ ]+ error=[^ ]+ tasks=[0-9]+ samples=[0-9]+ time=' ;;
quicksort)
    expect='^quicksort: OK ' ;;
patterns)
    expect='^patterns: OK$' ;;
batch_inference)
    expect='^batch_inference: OK ' ;;
expensive)
    expect='^expensive: OK$
^slow_square: OK$' ;;
walltime)
    expect='^walltime: OK ' ;;
*)
    echo "check-output: unknown job '$job'" >&2
    exit 2 ;;
esac

if [ ! -r "$out" ]; then
    echo "check-output: $job: cannot read $out"
    exit 1
fi

fail() {
    echo "check-output: $job: FAILED: $*"
    exit 1
}

# One pattern per line; no globbing of the patterns themselves.
set -f
old_ifs=$IFS
IFS='
'
for pattern in $expect; do
    grep -Eq -- "$pattern" "$out" || fail "no line matching '$pattern' in $out"
done
IFS=$old_ifs
set +f

# A stop by a signal: the driver saw it, and rayc_shutdown printed the job summary.
if [ "$job" = walltime ] && grep -q '^walltime: OK stopped by signal' "$out"; then
    grep -Eq '^walltime: stop requested by signal [0-9]+ ' "$out" ||
        fail "stopped, but no line saying the driver noticed the stop (rayc_stop_requested)"
    grep -Eq '^walltime: stop callback: signal [0-9]+$' "$out" ||
        fail "stopped, but the stop callback (rayc_on_stop) did not run"
    grep -Eq '^rayc summary: [0-9]+ tasks: .*\(stopped by a signal\)$' "$out" ||
        fail "stopped, but no 'rayc summary: ... (stopped by a signal)' line"
    grep -q '^rayc summary: busy per rank:' "$out" ||
        fail "stopped, but no 'rayc summary: busy per rank:' line"
fi

if grep -Eq '^[A-Za-z_.]+: FAILED' "$out"; then
    fail "$(grep -E '^[A-Za-z_.]+: FAILED' "$out" | head -n 1)"
fi
if grep -q "^$job\.sbatch: " "$out" && ! grep -q "^$job\.sbatch: OK" "$out"; then
    fail "the batch script did not report OK"
fi

echo "check-output: $job: OK"
exit 0
