#!/bin/sh
# run-mpi.sh NP CASE: run the multi-rank test program named by CASE (tests/mpi/t_x.npN ->
# tests/mpi/t_x) under mpirun with NP ranks, oversubscribed, under a timeout. The MCA settings
# are the ones rayc is tested with (see docs/hpc.md); they do not rely on the distribution's
# openmpi-mca-params.conf.
np=$1
case_file=$2
prog=${case_file%.np*}
[ -x "$prog" ] || { echo "run-mpi: $prog not built" >&2; exit 99; }
. "$(dirname "$0")/../../scripts/mpi-env.sh"
limit=${RAYC_TEST_TIMEOUT:-240}
exec timeout -k 10 "$limit" mpirun -n "$np" --oversubscribe --bind-to none "$prog"
