/* Winograd tile transforms (see include/ldct_winograd.h). Tiles are processed in chunks of TC:
 * each chunk's patches are first gathered into a tile-minor layout d[i][j][t], so that every
 * arithmetic loop runs over t with unit stride and vectorises, and each output vector is summed
 * in registers over the whole row/column of the matrix (no store/reload between terms). The
 * transforms are separable: rows, then columns. alpha = 8 (F(4×4, 5×5), RED-CNN's) is compiled
 * with the size known, so the sums unroll; other sizes take the same code with alpha at run time.
 * Planes of the scratch are TCP = TC + 8 floats apart, so that they do not alias modulo 4 KiB. */
#include "ldct_winograd.h"

#define TC 64
#define TCP (TC + 8)
#define AMAX 8

long ldct_winograd_scratch_floats(void) { return 2L * AMAX * AMAX * TCP + 64; }

#define INPUT_BODY(ALPHA, S)                                                                        \
    float *restrict d = scratch;                                                                     \
    float *restrict tmp = scratch + AMAX * AMAX * TCP;                                               \
    for (long t0 = 0; t0 < tiles; t0 += TC) {                                                        \
        long n = tiles - t0 < TC ? tiles - t0 : TC;                                                  \
        for (long i = 0; i < S; i++)                                                                 \
            for (long j = 0; j < S; j++) {                                                           \
                const float *restrict s = base + i * row_stride + j;                                 \
                const long *restrict off = offsets + t0;                                             \
                float *restrict o = d + (i * AMAX + j) * TCP;                                        \
                for (long t = 0; t < n; t++) o[t] = s[off[t]];                                       \
            }                                                                                        \
        /* rows: tmp[i][ξ][t] = Σ_j L[ξ][j] d[i][j][t] */                                            \
        for (long i = 0; i < S; i++)                                                                 \
            for (long xi = 0; xi < ALPHA; xi++) {                                                    \
                const float *restrict c = lt + xi * S;                                               \
                const float *restrict s = d + i * AMAX * TCP;                                        \
                float *restrict o = tmp + (i * AMAX + xi) * TCP;                                     \
                for (long t = 0; t < n; t++) {                                                       \
                    float acc = 0;                                                                   \
                    for (long j = 0; j < S; j++) acc += c[j] * s[j * TCP + t];                       \
                    o[t] = acc;                                                                      \
                }                                                                                    \
            }                                                                                        \
        /* columns: V[η][ξ][t] = Σ_i L[η][i] tmp[i][ξ][t] */                                         \
        for (long eta = 0; eta < ALPHA; eta++)                                                       \
            for (long xi = 0; xi < ALPHA; xi++) {                                                    \
                const float *restrict c = lt + eta * S;                                              \
                const float *restrict s = tmp + xi * TCP;                                            \
                float *restrict o = v + (eta * ALPHA + xi) * v_plane + t0;                           \
                for (long t = 0; t < n; t++) {                                                       \
                    float acc = 0;                                                                   \
                    for (long i = 0; i < S; i++) acc += c[i] * s[i * AMAX * TCP + t];                \
                    o[t] = acc;                                                                      \
                }                                                                                    \
            }                                                                                        \
    }

#define OUTPUT_BODY(ALPHA)                                                                          \
    float *restrict q = scratch;                                                                     \
    for (long t0 = 0; t0 < tiles; t0 += TC) {                                                        \
        long n = tiles - t0 < TC ? tiles - t0 : TC;                                                  \
        /* rows: q[η][j][t] = Σ_ξ Aᵀ[j][ξ] M[η][ξ][t] */                                             \
        for (long eta = 0; eta < ALPHA; eta++)                                                       \
            for (long j = 0; j < m; j++) {                                                           \
                const float *restrict c = at + j * ALPHA;                                            \
                const float *restrict s = mo + eta * ALPHA * m_plane + t0;                           \
                float *restrict o = q + (eta * AMAX + j) * TCP;                                      \
                for (long t = 0; t < n; t++) {                                                       \
                    float acc = 0;                                                                   \
                    for (long xi = 0; xi < ALPHA; xi++) acc += c[xi] * s[xi * m_plane + t];          \
                    o[t] = acc;                                                                      \
                }                                                                                    \
            }                                                                                        \
        /* columns: Y[i][j][t] = Σ_η Aᵀ[i][η] q[η][j][t], written to the tile's place */              \
        for (long i = 0; i < m; i++)                                                                 \
            for (long j = 0; j < m; j++) {                                                           \
                const float *restrict c = at + i * ALPHA;                                            \
                const float *restrict s = q + j * TCP;                                               \
                float *restrict o = out + i * row_stride + j;                                        \
                const long *restrict off = out_offsets + t0;                                         \
                for (long t = 0; t < n; t++) {                                                       \
                    float acc = 0;                                                                   \
                    for (long eta = 0; eta < ALPHA; eta++) acc += c[eta] * s[eta * AMAX * TCP + t];  \
                    o[off[t]] = acc;                                                                 \
                }                                                                                    \
            }                                                                                        \
    }

#define KERNELS(SUFFIX, ATTR)                                                                       \
    ATTR static void input8x8_##SUFFIX(const float *base, const long *offsets, long tiles, long row_stride, \
                                        const float *lt, float *v, long v_plane, float *scratch) {     \
        INPUT_BODY(8, 8)                                                                             \
    }                                                                                                \
    ATTR static void input8x4_##SUFFIX(const float *base, const long *offsets, long tiles, long row_stride, \
                                        const float *lt, float *v, long v_plane, float *scratch) {     \
        INPUT_BODY(8, 4)                                                                             \
    }                                                                                                \
    ATTR static void output8_##SUFFIX(const float *mo, long m_plane, long tiles, long m, const float *at, \
                                       float *out, const long *out_offsets, long row_stride,           \
                                       float *scratch) {                                             \
        OUTPUT_BODY(8)                                                                               \
    }                                                                                                \
    ATTR static void input_##SUFFIX(const float *base, const long *offsets, long tiles, long row_stride,  \
                                     long alpha, long size, const float *lt, float *v, long v_plane,   \
                                     float *scratch) {                                               \
        if (alpha == 8 && size == 8) { input8x8_##SUFFIX(base, offsets, tiles, row_stride, lt, v, v_plane, scratch); return; } \
        if (alpha == 8 && size == 4) { input8x4_##SUFFIX(base, offsets, tiles, row_stride, lt, v, v_plane, scratch); return; } \
        INPUT_BODY(alpha, size)                                                                      \
    }                                                                                                \
    ATTR static void output_##SUFFIX(const float *mo, long m_plane, long tiles, long m, long alpha,      \
                                      const float *at, float *out, const long *out_offsets,            \
                                      long row_stride, float *scratch) {                             \
        if (alpha == 8) { output8_##SUFFIX(mo, m_plane, tiles, m, at, out, out_offsets, row_stride, scratch); return; } \
        OUTPUT_BODY(alpha)                                                                           \
    }

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define HAVE_X86_DISPATCH 1
KERNELS(avx2, __attribute__((target("avx2,fma"))))
static int use_avx2(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
}
#endif

KERNELS(portable, )

void ldct_winograd_input(const float *base, const long *offsets, long tiles, long row_stride, long alpha, long size,
                         const float *lt, float *v, long v_plane, float *scratch) {
#ifdef HAVE_X86_DISPATCH
    if (use_avx2()) { input_avx2(base, offsets, tiles, row_stride, alpha, size, lt, v, v_plane, scratch); return; }
#endif
    input_portable(base, offsets, tiles, row_stride, alpha, size, lt, v, v_plane, scratch);
}

void ldct_winograd_output(const float *mo, long m_plane, long tiles, long m, long alpha, const float *at,
                          float *out, const long *out_offsets, long row_stride, float *scratch) {
#ifdef HAVE_X86_DISPATCH
    if (use_avx2()) { output_avx2(mo, m_plane, tiles, m, alpha, at, out, out_offsets, row_stride, scratch); return; }
#endif
    output_portable(mo, m_plane, tiles, m, alpha, at, out, out_offsets, row_stride, scratch);
}

const char *ldct_winograd_isa(void) {
#ifdef HAVE_X86_DISPATCH
    if (use_avx2()) return "avx2+fma";
#endif
    return "portable";
}
