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


/* d[j][t] = row[offsets[t] + j] for j < size, t < n (planes TCP apart): one patch row of n tiles. */
static inline void gather_portable(const float *row, const long *offsets, long n, long size, float *d) {
    for (long j = 0; j < size; j++)
        for (long t = 0; t < n; t++) d[j * TCP + t] = row[offsets[t] + j];
}

/* out[offsets[t] + j] = y[j][t] for j < m, t < n: one output row of n tiles. */
static inline void scatter_portable(const float *y, long m, long n, float *out, const long *offsets) {
    for (long j = 0; j < m; j++)
        for (long t = 0; t < n; t++) out[offsets[t] + j] = y[j * TCP + t];
}

#define INPUT_BODY(ALPHA, S, GATHER)                                                                \
    float *restrict d = scratch;                                                                     \
    float *restrict tmp = scratch + AMAX * AMAX * TCP;                                               \
    for (long t0 = 0; t0 < tiles; t0 += TC) {                                                        \
        long n = tiles - t0 < TC ? tiles - t0 : TC;                                                  \
        for (long i = 0; i < S; i++) GATHER(base + i * row_stride, offsets + t0, n, S, d + i * AMAX * TCP); \
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

#define OUTPUT_BODY(ALPHA, SCATTER)                                                                 \
    float *restrict q = scratch;                                                                     \
    float *restrict y = scratch + AMAX * AMAX * TCP;                                                 \
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
        /* columns: Y[i][j][t] = Σ_η Aᵀ[i][η] q[η][j][t], then written to the tiles' places */       \
        for (long i = 0; i < m; i++) {                                                               \
            for (long j = 0; j < m; j++) {                                                           \
                const float *restrict c = at + i * ALPHA;                                            \
                const float *restrict s = q + j * TCP;                                               \
                float *restrict o = y + j * TCP;                                                     \
                for (long t = 0; t < n; t++) {                                                       \
                    float acc = 0;                                                                   \
                    for (long eta = 0; eta < ALPHA; eta++) acc += c[eta] * s[eta * AMAX * TCP + t];  \
                    o[t] = acc;                                                                      \
                }                                                                                    \
            }                                                                                        \
            SCATTER(y, m, n, out + i * row_stride, out_offsets + t0);                                \
        }                                                                                            \
    }

#define KERNELS(SUFFIX, ATTR)                                                                       \
    ATTR static void input8x8_##SUFFIX(const float *base, const long *offsets, long tiles, long row_stride, \
                                        const float *lt, float *v, long v_plane, float *scratch) {     \
        INPUT_BODY(8, 8, gather_##SUFFIX)                                                            \
    }                                                                                                \
    ATTR static void input8x4_##SUFFIX(const float *base, const long *offsets, long tiles, long row_stride, \
                                        const float *lt, float *v, long v_plane, float *scratch) {     \
        INPUT_BODY(8, 4, gather_##SUFFIX)                                                            \
    }                                                                                                \
    ATTR static void output8_##SUFFIX(const float *mo, long m_plane, long tiles, long m, const float *at, \
                                       float *out, const long *out_offsets, long row_stride,           \
                                       float *scratch) {                                             \
        OUTPUT_BODY(8, scatter_##SUFFIX)                                                             \
    }                                                                                                \
    ATTR static void input_##SUFFIX(const float *base, const long *offsets, long tiles, long row_stride,  \
                                     long alpha, long size, const float *lt, float *v, long v_plane,   \
                                     float *scratch) {                                               \
        if (alpha == 8 && size == 8) { input8x8_##SUFFIX(base, offsets, tiles, row_stride, lt, v, v_plane, scratch); return; } \
        if (alpha == 8 && size == 4) { input8x4_##SUFFIX(base, offsets, tiles, row_stride, lt, v, v_plane, scratch); return; } \
        INPUT_BODY(alpha, size, gather_portable)                                                     \
    }                                                                                                \
    ATTR static void output_##SUFFIX(const float *mo, long m_plane, long tiles, long m, long alpha,      \
                                      const float *at, float *out, const long *out_offsets,            \
                                      long row_stride, float *scratch) {                             \
        if (alpha == 8) { output8_##SUFFIX(mo, m_plane, tiles, m, at, out, out_offsets, row_stride, scratch); return; } \
        OUTPUT_BODY(alpha, scatter_portable)                                                         \
    }

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define HAVE_X86_DISPATCH 1
#include <immintrin.h>

/* Eight 4×4-spaced tiles as vectors: from 32 floats src[4k + c] (tile k, column c < 4) to
 * out[c] = (tile 0 … 7 of column c). In-lane 4×4 transposes leave the tiles as 0 2 4 6 | 1 3 5 7;
 * one lane permutation puts them in order. */
__attribute__((target("avx2,fma")))
static inline void load_transposed(const float *src, __m256 out[4]) {
    __m256 q0 = _mm256_loadu_ps(src), q1 = _mm256_loadu_ps(src + 8);
    __m256 q2 = _mm256_loadu_ps(src + 16), q3 = _mm256_loadu_ps(src + 24);
    __m256 a0 = _mm256_unpacklo_ps(q0, q1), a1 = _mm256_unpackhi_ps(q0, q1);
    __m256 a2 = _mm256_unpacklo_ps(q2, q3), a3 = _mm256_unpackhi_ps(q2, q3);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    out[0] = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(a0, a2, _MM_SHUFFLE(1, 0, 1, 0)), order);
    out[1] = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(a0, a2, _MM_SHUFFLE(3, 2, 3, 2)), order);
    out[2] = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(a1, a3, _MM_SHUFFLE(1, 0, 1, 0)), order);
    out[3] = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(a1, a3, _MM_SHUFFLE(3, 2, 3, 2)), order);
}

/* The inverse: columns c0…c3 of eight tiles (in order) to 32 floats dst[4k + c]. */
__attribute__((target("avx2,fma")))
static inline void store_transposed(float *dst, __m256 c0, __m256 c1, __m256 c2, __m256 c3) {
    const __m256i order = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    __m256 b0 = _mm256_permutevar8x32_ps(c0, order), b1 = _mm256_permutevar8x32_ps(c1, order);
    __m256 b2 = _mm256_permutevar8x32_ps(c2, order), b3 = _mm256_permutevar8x32_ps(c3, order);
    __m256 a0 = _mm256_unpacklo_ps(b0, b1), a1 = _mm256_unpackhi_ps(b0, b1);
    __m256 a2 = _mm256_unpacklo_ps(b2, b3), a3 = _mm256_unpackhi_ps(b2, b3);
    _mm256_storeu_ps(dst, _mm256_shuffle_ps(a0, a2, _MM_SHUFFLE(1, 0, 1, 0)));
    _mm256_storeu_ps(dst + 8, _mm256_shuffle_ps(a0, a2, _MM_SHUFFLE(3, 2, 3, 2)));
    _mm256_storeu_ps(dst + 16, _mm256_shuffle_ps(a1, a3, _MM_SHUFFLE(1, 0, 1, 0)));
    _mm256_storeu_ps(dst + 24, _mm256_shuffle_ps(a1, a3, _MM_SHUFFLE(3, 2, 3, 2)));
}

/* Eight consecutive tiles of one row, 4 apart (F(4×4, ·)): offsets rise by 4 each, as the last minus
 * the first being 28 proves (steps are ≥ 4 within a row and far larger across rows). */
static inline int run_of_eight(const long *offsets) { return offsets[7] - offsets[0] == 28; }

__attribute__((target("avx2,fma")))
static inline void gather_avx2(const float *row, const long *offsets, long n, long size, float *d) {
    long t = 0;
    if (size == 8 || size == 4) {
        for (; t + 8 <= n; t += 8) {
            if (!run_of_eight(offsets + t)) { gather_portable(row, offsets + t, 8, size, d + t); continue; }
            __m256 c[4];
            load_transposed(row + offsets[t], c);
            for (int j = 0; j < 4; j++) _mm256_storeu_ps(d + j * TCP + t, c[j]);
            if (size == 8) {
                load_transposed(row + offsets[t] + 4, c);
                for (int j = 0; j < 4; j++) _mm256_storeu_ps(d + (4 + j) * TCP + t, c[j]);
            }
        }
    }
    if (t < n) gather_portable(row, offsets + t, n - t, size, d + t);
}

__attribute__((target("avx2,fma")))
static inline void scatter_avx2(const float *y, long m, long n, float *out, const long *offsets) {
    long t = 0;
    if (m == 4) {
        for (; t + 8 <= n; t += 8) {
            if (!run_of_eight(offsets + t)) { scatter_portable(y + t, m, 8, out, offsets + t); continue; }
            store_transposed(out + offsets[t], _mm256_loadu_ps(y + t), _mm256_loadu_ps(y + TCP + t),
                             _mm256_loadu_ps(y + 2 * TCP + t), _mm256_loadu_ps(y + 3 * TCP + t));
        }
    }
    if (t < n) scatter_portable(y + t, m, n - t, out, offsets + t);
}
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
