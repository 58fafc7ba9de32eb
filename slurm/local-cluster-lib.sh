# shellcheck shell=bash
# Functions shared by start-local-cluster.sh and stop-local-cluster.sh (sourced, not run).
#
# A state directory belongs to these scripts when it holds the marker file below. The daemons
# they start are recorded in <dir>/run/<name>.pid and have <dir> in their command line, so that
# stopping can tell them apart from any other munged or Slurm on the machine.

# shellcheck disable=SC2034 # used by the scripts that source this file
LC_MARKER=.rayc-local-slurm

lc_log() {
    printf 'local-slurm: %s\n' "$*" >&2
}

lc_die() {
    lc_log "error: $*"
    exit 1
}

# lc_pid_of NAME DIR: print the pid recorded for daemon NAME if that process is still alive and
# is the one started for DIR; print nothing otherwise.
# <dir>/run/NAME.pid is written by the start script, NAME.daemon.pid by the daemon itself.
lc_pid_of() {
    local name=$1 dir=$2 file pid cmdline argv0
    for file in "$dir/run/$name.pid" "$dir/run/$name.daemon.pid"; do
        [[ -r $file ]] || continue
        read -r pid <"$file" || true
        [[ $pid =~ ^[0-9]+$ ]] || continue
        cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || continue
        argv0=${cmdline%% *}
        if [[ ${argv0##*/} == "$name" && $cmdline == *" "*"$dir/"* ]] && ! lc_is_zombie "$pid"; then
            printf '%s\n' "$pid"
            return 0
        fi
    done
}

# lc_step_pids DIR: print the pids of the slurmstepd processes of the cluster in DIR, known by
# the file of DIR they hold open (slurmd.log). slurmstepd outlives slurmd by design.
lc_step_pids() {
    local dir=$1 fd_dir pid fd
    for fd_dir in /proc/[0-9]*/fd; do
        pid=${fd_dir#/proc/}
        pid=${pid%/fd}
        [[ $(cat "/proc/$pid/comm" 2>/dev/null) == slurmstepd ]] || continue
        for fd in "$fd_dir"/*; do
            if [[ $(readlink "$fd" 2>/dev/null) == "$dir/"* ]]; then
                printf '%s\n' "$pid"
                break
            fi
        done
    done
}

# lc_descendants PID...: print the pids of all descendants of the given processes.
lc_descendants() {
    local stat pid ppid rest queue=("$@") parent
    declare -A children=()
    for stat in /proc/[0-9]*/stat; do
        rest=$(cat "$stat" 2>/dev/null) || continue
        pid=${rest%% *}
        rest=${rest##*) }
        read -r _ ppid _ <<<"$rest"
        children[$ppid]+=" $pid"
    done
    while [[ ${#queue[@]} -gt 0 ]]; do
        parent=${queue[0]}
        queue=("${queue[@]:1}")
        for pid in ${children[$parent]:-}; do
            printf '%s\n' "$pid"
            queue+=("$pid")
        done
    done
}

# lc_kill_and_wait SECONDS PID...: send SIGTERM, wait up to SECONDS for the processes to end,
# then SIGKILL the survivors. Returns 0 once all are gone.
lc_kill_and_wait() {
    local seconds=$1 pid alive deadline
    shift
    [[ $# -gt 0 ]] || return 0
    kill -TERM "$@" 2>/dev/null || true
    deadline=$((SECONDS + seconds))
    while :; do
        alive=()
        for pid in "$@"; do
            if kill -0 "$pid" 2>/dev/null && ! lc_is_zombie "$pid"; then
                alive+=("$pid")
            fi
        done
        [[ ${#alive[@]} -eq 0 ]] && return 0
        ((SECONDS < deadline)) || break
        sleep 0.2
    done
    lc_log "still alive after ${seconds}s, sending SIGKILL: ${alive[*]}"
    kill -KILL "${alive[@]}" 2>/dev/null || true
    sleep 0.5
    for pid in "${alive[@]}"; do
        if kill -0 "$pid" 2>/dev/null && ! lc_is_zombie "$pid"; then
            lc_log "process $pid survived SIGKILL"
            return 1
        fi
    done
    return 0
}

lc_is_zombie() {
    local state
    state=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) || return 1
    [[ $state == Z ]]
}
