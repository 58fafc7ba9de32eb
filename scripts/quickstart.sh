#!/usr/bin/env bash
# quickstart.sh: install what rayc needs, build it, and run the flagship job (Monte Carlo pi)
# on 4 MPI ranks. Run as root on a fresh Debian 12 machine.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
"$here/setup.sh"
# shellcheck source=scripts/mpi-env.sh
. "$here/mpi-env.sh"
cd "$here/../build"
echo "quickstart: mpirun -n 4 build/jobs/pi"
mpirun -n 4 --oversubscribe jobs/pi
