#!/bin/sh
# run-mpi.sh CASE: run a multi-rank test case. CASE is tests/mpi/t_x-npN.mpi: the program
# tests/mpi/t_x on N ranks under mpirun, oversubscribed, unbound, under a timeout. The MCA
# settings are the ones rayc is tested with (scripts/mpi-env.sh; see docs/hpc.md).
# tests/mpi/t_x-nowin-npN.mpi runs it with osc/pt2pt, which refuses MPI_THREAD_MULTIPLE, so
# no MPI window can be made and every object moves two-sided.
case_file=$1
base=${case_file%.mpi}
prog=${base%-np*}
nowin=
case $prog in *-nowin) prog=${prog%-nowin}; nowin=1 ;; esac
np=${base##*-np}
[ -x "$prog" ] || { echo "run-mpi: $prog not built" >&2; exit 99; }
case $np in '' | *[!0-9]*) echo "run-mpi: bad case name $case_file" >&2; exit 99 ;; esac
. "$(dirname "$0")/../../scripts/mpi-env.sh"
[ -n "$nowin" ] && export OMPI_MCA_osc=pt2pt
limit=${RAYC_TEST_TIMEOUT:-300}
# Tests run with modest stores so that several can run side by side (a test that needs a
# particular size sets it itself).
export RAYC_STORE_BYTES=${RAYC_STORE_BYTES:-256M}
exec timeout -k 10 "$limit" mpirun -n "$np" --bind-to none "$prog"
