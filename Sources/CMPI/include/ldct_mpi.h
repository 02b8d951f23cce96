// The few MPI calls data-parallel training needs, reached through dlopen so that `ldct` builds and
// runs without MPI installed: libmpi is opened only when a run is started by mpirun. Open MPI's
// ABI (libmpi.so.40: MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM are addresses of predefined objects).
#ifndef LDCT_MPI_H
#define LDCT_MPI_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Opens libmpi and calls MPI_Init. Returns 0 and sets rank and size, or -1 with a reason in
/// `error` (NUL-terminated, at most `error_size` bytes).
int ldct_mpi_init(int *rank, int *size, char *error, size_t error_size);
/// In-place sum over all ranks: MPI_Reduce to rank 0, then MPI_Bcast, so every rank holds the same
/// bits. 0 on success.
int ldct_mpi_allreduce_sum_float(float *buffer, long count);
int ldct_mpi_allreduce_sum_double(double *buffer, long count);
/// MPI_Bcast of bytes from rank `root`. 0 on success.
int ldct_mpi_broadcast(void *buffer, long bytes, int root);
int ldct_mpi_barrier(void);
/// MPI_Abort of the whole job (a rank that fails must not leave the others waiting).
void ldct_mpi_abort(int code);
int ldct_mpi_finalize(void);

#ifdef __cplusplus
}
#endif
#endif
