#!/usr/bin/env bash
# Start a private single-node Slurm (munged, slurmctld, slurmd) on this machine, as root.
#
# Usage: slurm/start-local-cluster.sh            (or: eval "$(slurm/start-local-cluster.sh)")
#
# Config, state, spool, logs, pid files and the munge key and socket all live in one directory:
# $RAYC_SLURM_DIR if set (it must be empty or absent), else a new mktemp -d directory. Nothing
# under /etc, /var or /run is read or written, and a system munged or Slurm is left alone.
# On success stdout carries only the export lines to use the cluster (also written to
# <dir>/env.sh); progress and errors go to stderr. Stop with slurm/stop-local-cluster.sh.
#
# Settings (environment):
#   RAYC_SLURM_DIR       state directory                     (default: mktemp -d)
#   RAYC_SLURM_CPUS      CPUs declared for the node          (default: 8)
#   RAYC_SLURM_MEMORY_MB memory declared for the node, MiB   (default: MemTotal)
#   RAYC_SLURM_PORT      slurmctld port; slurmd uses +1      (default: first free of 6817, ...)
#   RAYC_SLURM_TIMEOUT   seconds to wait for the node idle   (default: 60)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=local-cluster-lib.sh source-path=SCRIPTDIR
. "$here/local-cluster-lib.sh"

cpus=${RAYC_SLURM_CPUS:-8}
timeout_s=${RAYC_SLURM_TIMEOUT:-60}

check_prerequisites() {
    local cmd missing=()
    [[ $(id -u) -eq 0 ]] || lc_die "must run as root (the daemons run as root)"
    for cmd in munged munge unmunge slurmctld slurmd sinfo setsid flock timeout; do
        command -v "$cmd" >/dev/null || missing+=("$cmd")
    done
    [[ ${#missing[@]} -eq 0 ]] ||
        lc_die "missing ${missing[*]}; install them with: apt-get install slurm-wlm munge"
    # Slurm's mpi/pmix plugin loads the unversioned libpmix.so, which only libpmix-dev ships.
    if ! ldconfig -p 2>/dev/null | grep -q 'libpmix\.so '; then
        lc_log "warning: libpmix.so not found; srun --mpi=pmix will fail (apt-get install libpmix-dev)"
    fi
    [[ $cpus =~ ^[1-9][0-9]*$ ]] || lc_die "RAYC_SLURM_CPUS must be a positive integer"
    [[ $timeout_s =~ ^[1-9][0-9]*$ ]] || lc_die "RAYC_SLURM_TIMEOUT must be a positive integer"
}

# make_state_dir: create (or adopt an empty) state directory and its layout; sets $dir.
make_state_dir() {
    local made=0
    if [[ -n ${RAYC_SLURM_DIR:-} ]]; then
        [[ -e $RAYC_SLURM_DIR ]] || made=1
        mkdir -p "$RAYC_SLURM_DIR"
        dir=$(cd "$RAYC_SLURM_DIR" && pwd -P)
        [[ -z $(ls -A "$dir") ]] ||
            lc_die "$dir is not empty; stop the cluster using it (slurm/stop-local-cluster.sh $dir) or choose another RAYC_SLURM_DIR"
    else
        dir=$(mktemp -d "${TMPDIR:-/tmp}/rayc-slurm.XXXXXX")
        made=1
        dir=$(cd "$dir" && pwd -P)
    fi
    ((made == 0)) || chmod 0755 "$dir"
    if ! usable_state_dir "$dir"; then
        ((made == 0)) || rmdir "$dir"
        exit 1
    fi
    : >"$dir/$LC_MARKER"
    mkdir -p "$dir"/{state,spool,tmp,log,run,munge}
    chmod 0700 "$dir/state" "$dir/spool"
    chmod 1777 "$dir/tmp"
}

# usable_state_dir DIR: slurm.conf cannot quote, so the path must be plain; and munged refuses a
# socket below a directory that not everybody may enter.
usable_state_dir() {
    local path=$1
    if [[ ! $path =~ ^/[A-Za-z0-9._/-]+$ ]]; then
        lc_log "error: state directory '$path' has characters slurm.conf cannot hold"
        return 1
    fi
    while [[ -n $path ]]; do
        if ! (($(stat -c 8#%a "$path") & 1)); then
            lc_log "error: munged needs execute permission for all on $path (chmod o+x $path), or choose another RAYC_SLURM_DIR"
            return 1
        fi
        path=${path%/*}
    done
}

# pick_node_name: NodeName must be what slurmd and Open MPI see as this host (hostname -s). It
# need not resolve: every daemon is reached at 127.0.0.1 through NodeAddr. Sets $node.
pick_node_name() {
    node=$(hostname -s 2>/dev/null || true)
    [[ $node =~ ^[A-Za-z0-9][A-Za-z0-9-]*$ ]] ||
        lc_die "hostname -s gives '$node', which cannot be a Slurm node name; set a plain host name"
    if ! getent hosts "$node" >/dev/null; then
        lc_log "note: host name '$node' does not resolve; the node is reached at 127.0.0.1 anyway"
    fi
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# pick_ports: slurmctld port P and slurmd port P+1, both free; sets $ctld_port, $slurmd_port.
pick_ports() {
    local candidates try
    if [[ -n ${RAYC_SLURM_PORT:-} ]]; then
        candidates=("$RAYC_SLURM_PORT")
    else
        candidates=(6817)
        for try in 1 2 3 4 5 6 7 8 9 10; do
            candidates+=($((20000 + (RANDOM % 20000) * 2 + try % 2)))
        done
    fi
    for ctld_port in "${candidates[@]}"; do
        slurmd_port=$((ctld_port + 1))
        if ! port_in_use "$ctld_port" && ! port_in_use "$slurmd_port"; then
            return 0
        fi
    done
    lc_die "no free port pair among: ${candidates[*]} (set RAYC_SLURM_PORT)"
}

node_memory_mb() {
    if [[ -n ${RAYC_SLURM_MEMORY_MB:-} ]]; then
        printf '%s\n' "$RAYC_SLURM_MEMORY_MB"
    else
        awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo
    fi
}

write_config() {
    sed -e "s|@DIR@|$dir|g" \
        -e "s|@NODE@|$node|g" \
        -e "s|@ADDR@|127.0.0.1|g" \
        -e "s|@CTLD_PORT@|$ctld_port|g" \
        -e "s|@SLURMD_PORT@|$slurmd_port|g" \
        -e "s|@MUNGE_SOCKET@|$dir/munge/munge.socket|g" \
        -e "s|@CPUS@|$cpus|g" \
        -e "s|@MEMORY_MB@|$(node_memory_mb)|g" \
        "$here/slurm.conf.in" >"$dir/slurm.conf"
    if grep -v '^#' "$dir/slurm.conf" | grep '@[A-Z_]*@' >&2; then
        fail "unreplaced placeholders in $dir/slurm.conf"
    fi
    : >"$dir/plugstack.conf"
}

# launch NAME COMMAND...: run a daemon in the foreground of its own session, detached from our
# stdin/stdout and from the start lock, and record its pid.
launch() {
    local name=$1
    shift
    setsid "$@" </dev/null >>"$dir/log/$name.out" 2>&1 {lock_fd}<&- &
    printf '%s\n' "$!" >"$dir/run/$name.pid"
}

# alive NAME: the daemon NAME launched by this script is still running.
alive() {
    local pid
    read -r pid <"$dir/run/$1.pid"
    kill -0 "$pid" 2>/dev/null && ! lc_is_zombie "$pid"
}

# wait_until SECONDS WHAT COMMAND...: poll COMMAND until it succeeds, while the daemons live.
wait_until() {
    local seconds=$1 what=$2 deadline name
    shift 2
    deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        for name in "${started[@]}"; do
            alive "$name" || fail "$name exited while waiting for $what"
        done
        ((SECONDS < deadline)) || fail "timed out after ${seconds}s waiting for $what"
        sleep 0.25
    done
}

# fail MESSAGE: show the logs, stop whatever was started (keeping the logs), and exit.
fail() {
    local log
    lc_log "error: $1"
    for log in "$dir"/log/*; do
        [[ -s $log ]] || continue
        lc_log "---- last lines of $log"
        tail -n 15 "$log" >&2
    done
    "$here/stop-local-cluster.sh" --keep "$dir" || true
    lc_log "logs kept in $dir (remove it with: slurm/stop-local-cluster.sh $dir)"
    exit 1
}

start_munged() {
    local socket=$dir/munge/munge.socket
    (umask 077 && head -c 1024 /dev/urandom >"$dir/munge/munge.key")
    launch munged munged --foreground \
        --key-file="$dir/munge/munge.key" --socket="$socket" \
        --pid-file="$dir/run/munged.daemon.pid" --log-file="$dir/log/munged.log" \
        --seed-file="$dir/munge/munged.seed"
    started+=(munged)
    wait_until 15 "munged" test -S "$socket"
    wait_until 15 "a munge credential round trip" \
        bash -c "timeout 5 munge -n -S '$socket' | timeout 5 unmunge -S '$socket'"
}

node_state() {
    timeout 10 sinfo -h -N -n "$node" -o %T 2>/dev/null
}

node_is_idle() {
    [[ $(node_state) == idle ]]
}

main() {
    local t0=$SECONDS
    if [[ $# -gt 0 ]]; then
        sed -n '2,/^[^#]/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
        [[ $1 == -h || $1 == --help ]] && exit 0
        exit 2
    fi
    started=()
    check_prerequisites
    pick_node_name
    # Starts from this checkout take turns until their daemons listen, so that two started at
    # once do not pick the same free ports.
    exec {lock_fd}<"$here"
    flock -w 120 "$lock_fd" || lc_die "another start-local-cluster.sh held the lock for 120 s"
    pick_ports
    make_state_dir
    write_config
    export SLURM_CONF=$dir/slurm.conf
    lc_log "state directory $dir (node $node, $cpus CPUs, ports $ctld_port/$slurmd_port)"

    start_munged
    launch slurmctld slurmctld -D -f "$SLURM_CONF"
    started+=(slurmctld)
    launch slurmd slurmd -D -f "$SLURM_CONF" -N "$node"
    started+=(slurmd)
    wait_until "$timeout_s" "node $node to be idle in sinfo" node_is_idle

    cat >"$dir/env.sh" <<EOF
export SLURM_CONF=$dir/slurm.conf
export RAYC_SLURM_DIR=$dir
EOF
    exec {lock_fd}<&-
    lc_log "node $node idle after $((SECONDS - t0))s; to use it: . $dir/env.sh"
    cat "$dir/env.sh"
}

main "$@"
