#!/usr/bin/env bash
# Stop a private Slurm started by slurm/start-local-cluster.sh and remove its state directory.
#
# Usage: slurm/stop-local-cluster.sh [--keep] [DIR]
#   DIR     the state directory (default: $RAYC_SLURM_DIR, else the directory of $SLURM_CONF)
#   --keep  keep the directory (logs, job state) instead of removing it; also RAYC_SLURM_KEEP=1
#
# Only processes started for DIR are ended: the daemons recorded in DIR/run and, should jobs
# survive the scancel done first, the slurmstepd processes holding files of DIR open and the
# processes below them. Running it again, or on a directory that is gone, does nothing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=local-cluster-lib.sh source-path=SCRIPTDIR
. "$here/local-cluster-lib.sh"

# usage STATUS: print the comment at the top of this file and exit with STATUS.
usage() {
    sed -n '2,/^[^#]/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    exit "$1"
}

# cancel_jobs: scancel everything queued or running, and wait a little for the steps to end.
cancel_jobs() {
    local jobs deadline
    export SLURM_CONF=$dir/slurm.conf
    jobs=$(timeout 15 squeue -h -o %i 2>/dev/null) || return 0
    [[ -n $jobs ]] || return 0
    lc_log "cancelling jobs: ${jobs//$'\n'/ }"
    # shellcheck disable=SC2086 # one job id per word
    timeout 15 scancel $jobs 2>/dev/null || true
    deadline=$((SECONDS + 15))
    while [[ -n $(timeout 5 squeue -h -o %i 2>/dev/null || true) ]] && ((SECONDS < deadline)); do
        sleep 0.5
    done
}

# stop_daemon NAME: end the recorded daemon NAME of $dir, if it is still running.
stop_daemon() {
    local name=$1 pid
    pid=$(lc_pid_of "$name" "$dir")
    [[ -n $pid ]] || return 0
    lc_log "stopping $name (pid $pid)"
    lc_kill_and_wait 15 "$pid" || status=1
}

main() {
    local keep=${RAYC_SLURM_KEEP:-0} name steps leftovers
    dir=
    while [[ $# -gt 0 ]]; do
        case $1 in
        --keep) keep=1 ;;
        -h | --help) usage 0 ;;
        -*) usage 2 ;;
        *) [[ -z $dir ]] || usage 2; dir=$1 ;;
        esac
        shift
    done
    if [[ -z $dir ]]; then
        dir=${RAYC_SLURM_DIR:-}
        [[ -n $dir || -z ${SLURM_CONF:-} ]] || dir=$(dirname "$SLURM_CONF")
    fi
    [[ -n $dir ]] || lc_die "no state directory given (argument, RAYC_SLURM_DIR or SLURM_CONF)"
    if [[ ! -d $dir ]]; then
        lc_log "$dir does not exist; nothing to stop"
        return 0
    fi
    dir=$(cd "$dir" && pwd -P)
    if [[ -z $(ls -A "$dir") ]]; then
        lc_log "$dir is empty; nothing to stop"
        return 0
    fi
    [[ -e $dir/$LC_MARKER ]] || lc_die "$dir was not made by start-local-cluster.sh; not touching it"

    status=0
    [[ -z $(lc_pid_of slurmctld "$dir") || -z $(lc_pid_of slurmd "$dir") ]] || cancel_jobs
    for name in slurmd slurmctld; do
        stop_daemon "$name"
    done
    # Job steps that survived (slurmctld was gone, or cancelling timed out): end the slurmstepd
    # processes of this cluster and the job processes below them. slurmstepd ignores SIGTERM.
    steps=$(lc_step_pids "$dir")
    if [[ -n $steps ]]; then
        # shellcheck disable=SC2086 # one pid per word
        leftovers=$steps$'\n'$(lc_descendants $steps)
        lc_log "stopping leftover job steps and their processes: ${leftovers//$'\n'/ }"
        # shellcheck disable=SC2086 # one pid per word
        lc_kill_and_wait 3 $leftovers || status=1
    fi
    stop_daemon munged
    rm -f "$dir"/run/*.pid

    if [[ $keep == 1 ]]; then
        lc_log "stopped; kept $dir"
    else
        rm -rf "$dir"
        lc_log "stopped; removed $dir"
    fi
    return "$status"
}

main "$@"
