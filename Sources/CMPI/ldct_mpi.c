#include "ldct_mpi.h"
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

// Open MPI handles are pointers to predefined objects exported by libmpi; everything is looked up
// by name, so no mpi.h is needed to build.
typedef void *Handle;
static void *lib;
static Handle comm_world, type_float, type_double, type_byte, op_sum;
static int (*p_init)(int *, char ***);
static int (*p_rank)(Handle, int *);
static int (*p_size)(Handle, int *);
static int (*p_reduce)(const void *, void *, int, Handle, Handle, int, Handle);
static int (*p_bcast)(void *, int, Handle, int, Handle);
static int (*p_barrier)(Handle);
static int (*p_abort)(Handle, int);
static int (*p_finalize)(void);
#define IN_PLACE ((void *)1)  // Open MPI: MPI_IN_PLACE is (void *) 1

static int fail(char *error, size_t size, const char *what, const char *detail) {
    snprintf(error, size, "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
    return -1;
}

int ldct_mpi_init(int *rank, int *size, char *error, size_t error_size) {
    const char *names[] = {"libmpi.so.40", "libmpi.so", NULL};
    for (int i = 0; names[i] && !lib; i++) lib = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
    if (!lib) return fail(error, error_size, "cannot open Open MPI's libmpi.so.40 (install openmpi-bin)", dlerror());
#define SYM(var, name) do { *(void **)(&var) = dlsym(lib, name); if (!var) return fail(error, error_size, "libmpi lacks " name, NULL); } while (0)
    SYM(p_init, "MPI_Init");
    SYM(p_rank, "MPI_Comm_rank");
    SYM(p_size, "MPI_Comm_size");
    SYM(p_reduce, "MPI_Reduce");
    SYM(p_bcast, "MPI_Bcast");
    SYM(p_barrier, "MPI_Barrier");
    SYM(p_abort, "MPI_Abort");
    SYM(p_finalize, "MPI_Finalize");
    SYM(comm_world, "ompi_mpi_comm_world");
    SYM(type_float, "ompi_mpi_float");
    SYM(type_double, "ompi_mpi_double");
    SYM(type_byte, "ompi_mpi_byte");
    SYM(op_sum, "ompi_mpi_op_sum");
#undef SYM
    if (p_init(NULL, NULL) != 0) return fail(error, error_size, "MPI_Init failed", NULL);
    if (p_rank(comm_world, rank) != 0 || p_size(comm_world, size) != 0) return fail(error, error_size, "MPI_Comm_rank/size failed", NULL);
    return 0;
}

// Sum to rank 0, then broadcast: every rank gets rank 0's bits (an all-reduce may round
// differently on different ranks for more than two). Counts above INT_MAX go in pieces.
static int rank0;
static int sum_then_broadcast(void *buffer, long count, Handle type, long element) {
    int me = 0;
    if (p_rank(comm_world, &me) != 0) return -1;
    for (long at = 0; at < count; at += 1 << 28) {
        long n = count - at < (1 << 28) ? count - at : (1 << 28);
        char *part = (char *)buffer + at * element;
        if (p_reduce(me == rank0 ? IN_PLACE : part, me == rank0 ? part : NULL, (int)n, type, op_sum, rank0, comm_world) != 0) return -1;
        if (p_bcast(part, (int)n, type, rank0, comm_world) != 0) return -1;
    }
    return 0;
}

int ldct_mpi_allreduce_sum_float(float *buffer, long count) { return sum_then_broadcast(buffer, count, type_float, sizeof(float)); }
int ldct_mpi_allreduce_sum_double(double *buffer, long count) { return sum_then_broadcast(buffer, count, type_double, sizeof(double)); }

int ldct_mpi_broadcast(void *buffer, long bytes, int root) {
    for (long at = 0; at < bytes; at += 1 << 30) {
        long n = bytes - at < (1 << 30) ? bytes - at : (1 << 30);
        if (p_bcast((char *)buffer + at, (int)n, type_byte, root, comm_world) != 0) return -1;
    }
    return 0;
}

int ldct_mpi_barrier(void) { return p_barrier(comm_world); }
void ldct_mpi_abort(int code) { if (p_abort) p_abort(comm_world, code); }
int ldct_mpi_finalize(void) { return p_finalize ? p_finalize() : 0; }
