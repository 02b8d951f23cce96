#ifndef LDCT_WINOGRAD_H
#define LDCT_WINOGRAD_H

/* Winograd F(m×m, r×r) tile transforms for ConvNet (alpha = m + r − 1 ≤ 8). Plain C so that the
 * loops over tiles vectorise: an AVX2+FMA build of each kernel is chosen at run time when the CPU
 * has them, a portable build otherwise (ldct_winograd_isa says which). All matrices row-major. */

/* Scratch floats the kernels need (pass a buffer of at least this size). */
long ldct_winograd_scratch_floats(void);

/* Two-sided transform Z = L d Lᵀ of the tiles of one channel (L: alpha × size).
 * Forward input: d is an alpha × alpha input patch and L = Bᵀ; weight gradient: d is an m × m
 * tile of the output gradient and L = G of F(r, m).
 * base:    zero-padded rows; tile t's size × size patch starts at base + offsets[t], its rows
 *          row_stride apart.
 * v:       V[(η·alpha + ξ)·v_plane + t] = Z_t[η][ξ] for t < tiles. */
void ldct_winograd_input(const float *base, const long *offsets, long tiles, long row_stride, long alpha, long size,
                         const float *lt, float *v, long v_plane, float *scratch);

/* Output transform of the tiles of one output channel.
 * mo:   M[(η·alpha + ξ)·m_plane + t], t < tiles.
 * out:  out[out_offsets[t] + i·row_stride + j] = (Aᵀ M_t A)[i][j] for i, j < m.
 * at:   Aᵀ (m × alpha). */
void ldct_winograd_output(const float *mo, long m_plane, long tiles, long m, long alpha, const float *at,
                          float *out, const long *out_offsets, long row_stride, float *scratch);

/* "avx2+fma" or "portable": the build the kernels run on this CPU. */
const char *ldct_winograd_isa(void);

#endif
