/* gemm_avx2.c — the AVX2 + FMA GEMM micro-kernel (6 x 16). Compiled with
 * -mavx2 -mfma; gemm.c calls it only when rt_isa_current() is RT_ISA_AVX2.
 *
 * 12 ymm accumulators cover the 2 FMA pipes x 4-cycle latency of Zen and
 * Haswell-class cores with room to spare; per k: 2 B loads + 6 broadcasts
 * for 12 FMAs.
 *
 * Like gemm_avx512.c's it reads A in place: along its rows (direct_at,
 * in gemm_region and the small path) and as A^T (direct_ab, only in the
 * small path of attention's products; gemm_region keeps A^T packed on
 * AVX2, gemm.c's direct_a says why), and has the swapped forward's
 * transpose. Full tiles are stored with plain loads and stores: Zen
 * microcodes vmaskmovps. What each step gained on a Zen 3 (AVX2 only):
 * docs/performance-history.md, session 9.
 *
 * The micro-kernel stays this file's own, deliberately, and so does
 * gemm_avx512.c's: the two tiles are sized to their register files (12 of
 * 16 ymm here, 27 of 32 zmm there), their accumulators are named registers
 * that gcc must keep out of memory; a shared body at two widths would be
 * macros of macros for no shared line. The epilogue on C's tiles is
 * kernels_simd.h's (compiled with the activation kernels' scheduling
 * flags, which these micro-kernels must not get); the transposes' store
 * tail is shared with gemm_avx512.c (gemm_epilogue_simd.h).
 */
#include <immintrin.h>

#include "gemm_internal.h"

#define KERNEL_MR RT_GEMM_MR_AVX2
#define KERNEL_NR RT_GEMM_NR_AVX2

/* Row i's two accumulators, c<i>0 and c<i>1; rows at or past `rows` (a
 * constant in each instance) compile to nothing. */
#define ACC_ROW(i) __m256 c##i##0 = _mm256_setzero_ps(), c##i##1 = _mm256_setzero_ps()
#define ROW_FMA(i)                                                     \
    do {                                                               \
        if (i < rows) {                                                \
            __m256 ai = _mm256_broadcast_ss(a + (i) * a_row);          \
            c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);                \
            c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1);                \
        }                                                              \
    } while (0)

/* Same arithmetic for full and partial tiles (see gemm_internal.h). A
 * full tile's rows go through plain loads and stores: vmaskmovps to memory
 * is microcoded on Zen (18 uops for a ymm store in AMD's tables), and
 * twelve of them per tile cost more than a K = 128 tile's FMAs can hide. */
#define ROW_STORE_WITH(i, LOAD, STORE)                                          \
    do {                                                                        \
        if (i < rows) {                                                         \
            float *ci = c + (int64_t)(i) * ldc;                                 \
            if (beta == 0.0f) {                                                 \
                STORE(ci, m0, _mm256_mul_ps(c##i##0, valpha));                  \
                STORE(ci + 8, m1, _mm256_mul_ps(c##i##1, valpha));              \
            } else {                                                            \
                __m256 o0 = _mm256_mul_ps(vbeta, LOAD(ci, m0));                 \
                __m256 o1 = _mm256_mul_ps(vbeta, LOAD(ci + 8, m1));             \
                STORE(ci, m0, _mm256_fmadd_ps(c##i##0, valpha, o0));            \
                STORE(ci + 8, m1, _mm256_fmadd_ps(c##i##1, valpha, o1));        \
            }                                                                   \
        }                                                                       \
    } while (0)
#define LOAD_FULL(p, m) _mm256_loadu_ps(p)
#define STORE_FULL(p, m, v) _mm256_storeu_ps((p), (v))
#define ROWS_STORE(LOAD, STORE)                                                                       \
    do {                                                                                              \
        ROW_STORE_WITH(0, LOAD, STORE); ROW_STORE_WITH(1, LOAD, STORE); ROW_STORE_WITH(2, LOAD, STORE); \
        ROW_STORE_WITH(3, LOAD, STORE); ROW_STORE_WITH(4, LOAD, STORE); ROW_STORE_WITH(5, LOAD, STORE); \
    } while (0)

/* Row i's A value for step k is a[i * a_row + k * a_stride]: a_row 1 and
 * a_stride MR for a packed micro-panel, (1, lda) for A^T read in place,
 * (lda, 1) for A's rows read in place along K (six streams). b_stride: NR
 * for a packed micro-panel, ldb for op(B) read in place; rows: the tile's
 * mr, one instance per value (see kernel_12x32 in gemm_avx512.c for
 * both). */
static inline __attribute__((always_inline)) void
kernel_6x16(int64_t kc, const float *a, int64_t a_row, int64_t a_stride, const float *b, int64_t b_stride,
            float *c, int64_t ldc, const int rows, int nr, float alpha, float beta)
{
    ACC_ROW(0); ACC_ROW(1); ACC_ROW(2); ACC_ROW(3); ACC_ROW(4); ACC_ROW(5);

    for (int i = 0; i < rows; i++)
        _mm_prefetch((const char *)(c + (int64_t)i * ldc), _MM_HINT_T0);

#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(b);
        __m256 b1 = _mm256_loadu_ps(b + 8);
        ROW_FMA(0); ROW_FMA(1); ROW_FMA(2); ROW_FMA(3); ROW_FMA(4); ROW_FMA(5);
        a += a_stride;
        b += b_stride;
    }

    __m256 valpha = _mm256_set1_ps(alpha), vbeta = _mm256_set1_ps(beta);
    if (nr == KERNEL_NR) {
        ROWS_STORE(LOAD_FULL, STORE_FULL);
        return;
    }
    /* Lane j of a mask is on when its sign bit is set. */
    __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), lane);
    __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8), lane);
    ROWS_STORE(_mm256_maskload_ps, _mm256_maskstore_ps);
}

#define KERNEL_FOR_ROWS(arow, astride, stride)                                                       \
    switch (mr) {                                                                                     \
    case 1: kernel_6x16(kc, a, arow, astride, b, stride, c, ldc, 1, nr, alpha, beta); return;          \
    case 2: kernel_6x16(kc, a, arow, astride, b, stride, c, ldc, 2, nr, alpha, beta); return;          \
    case 3: kernel_6x16(kc, a, arow, astride, b, stride, c, ldc, 3, nr, alpha, beta); return;          \
    case 4: kernel_6x16(kc, a, arow, astride, b, stride, c, ldc, 4, nr, alpha, beta); return;          \
    case 5: kernel_6x16(kc, a, arow, astride, b, stride, c, ldc, 5, nr, alpha, beta); return;          \
    }                                                                                                 \
    kernel_6x16(kc, a, arow, astride, b, stride, c, ldc, KERNEL_MR, nr, alpha, beta)

void rt_gemm_kernel_avx2(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                         int mr, int nr, float alpha, float beta)
{
    KERNEL_FOR_ROWS(1, KERNEL_MR, KERNEL_NR);
}

void rt_gemm_kernel_avx2_direct(int64_t kc, const float *a, const float *b, int64_t ldb, float *c,
                                int64_t ldc, int mr, int nr, float alpha, float beta)
{
    KERNEL_FOR_ROWS(1, KERNEL_MR, ldb);
}

void rt_gemm_kernel_avx2_direct_ab(int64_t kc, const float *a, int64_t lda, const float *b, int64_t ldb,
                                   float *c, int64_t ldc, int mr, int nr, float alpha, float beta)
{
    KERNEL_FOR_ROWS(1, lda, ldb);
}

void rt_gemm_kernel_avx2_direct_at(int64_t kc, const float *a, int64_t lda, const float *b, int64_t ldb,
                                   float *c, int64_t ldc, int mr, int nr, float alpha, float beta)
{
    KERNEL_FOR_ROWS(lda, 1, ldb);
}

/* Transposes 8 rows x 8 columns: row r of `in` becomes column r of the 8
 * output vectors. */
static inline void transpose8(__m256 r[8])
{
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* The scalar version of this loop was a fifth of the run time of
 * C(128x512) = X(128x784) W (perf annotate: one movss per element, stride
 * 4*width). Eight rows at a time through 8x8 register transposes writes
 * whole vectors instead. */
void rt_gemm_pack_transposed_avx2(const float *src, int64_t ld, int rows, int64_t kc, int width,
                                  float *dst)
{
    int r0 = 0;
    for (; r0 + 8 <= rows; r0 += 8) {
        const float *s = src + r0 * ld;
        int64_t k = 0;
        for (; k + 8 <= kc; k += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++)
                r[i] = _mm256_loadu_ps(s + i * ld + k);
            transpose8(r);
            for (int t = 0; t < 8; t++)
                _mm256_storeu_ps(dst + (k + t) * width + r0, r[t]);
        }
        for (; k < kc; k++)
            for (int i = 0; i < 8; i++)
                dst[k * width + r0 + i] = s[i * ld + k];
    }
    for (; r0 + 4 <= rows; r0 += 4) {
        const float *s = src + r0 * ld;
        int64_t k = 0;
        for (; k + 4 <= kc; k += 4) {
            __m128 a = _mm_loadu_ps(s + k), b = _mm_loadu_ps(s + ld + k);
            __m128 c = _mm_loadu_ps(s + 2 * ld + k), d = _mm_loadu_ps(s + 3 * ld + k);
            _MM_TRANSPOSE4_PS(a, b, c, d);
            _mm_storeu_ps(dst + k * width + r0, a);
            _mm_storeu_ps(dst + (k + 1) * width + r0, b);
            _mm_storeu_ps(dst + (k + 2) * width + r0, c);
            _mm_storeu_ps(dst + (k + 3) * width + r0, d);
        }
        for (; k < kc; k++)
            for (int i = 0; i < 4; i++)
                dst[k * width + r0 + i] = s[i * ld + k];
    }
    for (; r0 < rows; r0++)
        for (int64_t k = 0; k < kc; k++)
            dst[k * width + r0] = src[r0 * ld + k];
    for (int64_t k = 0; k < kc; k++)
        for (int i = rows; i < width; i++)
            dst[k * width + i] = 0.0f;
}

/* ------------------------------------------- the transposes' store tail */

#include "simd_avx2.h"

#include "gemm_epilogue_simd.h"

/* ------------------------------------------------------------ transpose */

/* dst[j * ldd + i] = src[i * lds + j] for i < rows, j < cols (both at
 * most 8), then the epilogue on each transposed row while it is in a
 * register: the AVX2 twin of gemm_avx512.c's transpose_16 (why: there),
 * the same arithmetic as kernels_simd.h's tile epilogue (through
 * gemm_epilogue_simd.h's store_transposed), so the same bits. */
static void transpose_8(const float *src, int64_t lds, int rows, int cols, float *dst, int64_t ldd,
                        const rt_gemm_transpose_ep *ep, const float *bias, float *preact)
{
    __m256i cmask = tail_mask(cols), none = _mm256_setzero_si256();
    __m256 r[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        r[i] = _mm256_maskload_ps(i < rows ? src + i * lds : src, i < rows ? cmask : none);
    transpose8(r);
    store_transposed(r, rows, cols, dst, ldd, ep, bias, preact);
}

void rt_gemm_transpose_avx2(const float *src, int64_t lds, int64_t rows, int64_t cols, float *dst,
                            int64_t ldd, const rt_gemm_transpose_ep *ep)
{
    transpose_blocks(transpose_8, src, lds, rows, cols, dst, ldd, ep);
}

/* ------------------------------------------------------- short products */

/* C (M,N) = A B^T for M <= RT_GEMM_SHORT_M rows, columns [n0, n1): the
 * AVX2 twin of gemm_avx512.c's short product with B transposed (why B is
 * read one row after another: there). 8-float block i of K goes to
 * acc[i & 1]; the two are summed and reduced by a fixed tree, so each
 * output's arithmetic does not depend on M, the columns or the thread. */
static inline __m256i short_mask(int64_t n)
{
    return _mm256_setr_epi32(n > 0 ? -1 : 0, n > 1 ? -1 : 0, n > 2 ? -1 : 0, n > 3 ? -1 : 0, n > 4 ? -1 : 0,
                             n > 5 ? -1 : 0, n > 6 ? -1 : 0, n > 7 ? -1 : 0);
}

static inline float short_hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

static inline __attribute__((always_inline)) void
short_dot_rows(const int M, int64_t K, float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
               float beta, float *C, int64_t ldc, int64_t n0, int64_t n1)
{
    int64_t pairs = K / 16, rest = K - 16 * pairs;
    __m256i m0 = short_mask(rest), m1 = short_mask(rest - 8);
    for (int64_t n = n0; n < n1; n++) {
        const float *b = B + n * ldb;
        __m256 acc0[RT_GEMM_SHORT_M], acc1[RT_GEMM_SHORT_M];
        for (int m = 0; m < M; m++)
            acc0[m] = acc1[m] = _mm256_setzero_ps();
        for (int64_t p = 0; p < pairs; p++) {
            __m256 b0 = _mm256_loadu_ps(b + 16 * p), b1 = _mm256_loadu_ps(b + 16 * p + 8);
            for (int m = 0; m < M; m++) {
                acc0[m] = _mm256_fmadd_ps(_mm256_loadu_ps(A + m * lda + 16 * p), b0, acc0[m]);
                acc1[m] = _mm256_fmadd_ps(_mm256_loadu_ps(A + m * lda + 16 * p + 8), b1, acc1[m]);
            }
        }
        if (rest) {
            int64_t k = 16 * pairs;
            __m256 b0 = _mm256_maskload_ps(b + k, m0);
            __m256 b1 = rest > 8 ? _mm256_maskload_ps(b + k + 8, m1) : _mm256_setzero_ps();
            for (int m = 0; m < M; m++) {
                acc0[m] = _mm256_fmadd_ps(_mm256_maskload_ps(A + m * lda + k, m0), b0, acc0[m]);
                if (rest > 8)
                    acc1[m] = _mm256_fmadd_ps(_mm256_maskload_ps(A + m * lda + k + 8, m1), b1, acc1[m]);
            }
        }
        for (int m = 0; m < M; m++) {
            float s = alpha * short_hsum(_mm256_add_ps(acc0[m], acc1[m]));
            float *c = C + m * ldc + n;
            *c = beta == 0.0f ? s : s + beta * *c;
        }
    }
}

void rt_gemm_short_avx2(int64_t M, int64_t K, float alpha, const float *A, int64_t lda, const float *B,
                        int64_t ldb, float beta, float *C, int64_t ldc, int64_t n0, int64_t n1)
{
    switch (M) {
    case 1: short_dot_rows(1, K, alpha, A, lda, B, ldb, beta, C, ldc, n0, n1); return;
    case 2: short_dot_rows(2, K, alpha, A, lda, B, ldb, beta, C, ldc, n0, n1); return;
    case 3: short_dot_rows(3, K, alpha, A, lda, B, ldb, beta, C, ldc, n0, n1); return;
    default: short_dot_rows(4, K, alpha, A, lda, B, ldb, beta, C, ldc, n0, n1); return;
    }
}
