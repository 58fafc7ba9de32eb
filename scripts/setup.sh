#!/usr/bin/env bash
# setup.sh: install every Debian 12 package rayc needs (idempotent; run as root), then build.
#   scripts/setup.sh            install packages and build in build/ (out of the source tree)
#   scripts/setup.sh --deps     install packages only
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

packages=(
    # build
    build-essential autoconf automake libtool pkg-config
    # MPI (compiler wrapper, mpirun), HDF5 (spill files, h5dump), PMIx, CUnit
    libopenmpi-dev openmpi-bin libhdf5-dev hdf5-tools libpmix-dev libcunit1-dev
    # a private Slurm for the batch tests (slurmctld, slurmd, srun's PMIx plugin, munge)
    slurm-wlm slurm-wlm-basic-plugins slurm-client munge
    # tools the test scripts use
    procps psmisc
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup.sh: packages missing (${missing[*]}); run as root or install them" >&2
        exit 1
    fi
    echo "setup.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q "${missing[@]}" # with recommends, as tested
fi
[ "${1:-}" = "--deps" ] && exit 0

cd "$repo"
# A tree configured in place (./configure run here) blocks out-of-tree builds: clean it.
if [ -f config.status ]; then make distclean >/dev/null 2>&1 || rm -f config.status; fi
[ -x configure ] && [ configure -nt configure.ac ] && [ configure -nt Makefile.am ] || autoreconf -fi
mkdir -p build
cd build
[ -f Makefile ] && [ Makefile -nt ../configure ] || ../configure --quiet
make -j"$(nproc)"
