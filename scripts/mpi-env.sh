# mpi-env.sh: Open MPI settings rayc is tested with (sourced by test and job scripts).
# Shared memory (vader) and TCP for two-sided traffic, the ob1 PML, and no UCX/libfabric paths:
# this is what Debian's openmpi-mca-params.conf sets, named here so that nothing depends on it.
export OMPI_MCA_pml=ob1
export OMPI_MCA_btl=self,vader,tcp
export OMPI_MCA_osc=^ucx,pt2pt
export OMPI_MCA_mtl=^ofi
export OMPI_MCA_btl_base_warn_component_unused=0
# Root is allowed in containers and CI machines; harmless otherwise.
export OMPI_ALLOW_RUN_AS_ROOT=1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
