/* gemm_avx2.c — the AVX2 + FMA GEMM micro-kernel (6 x 16). Compiled with
 * -mavx2 -mfma; gemm.c calls it only when rt_isa_current() is RT_ISA_AVX2.
 *
 * 12 ymm accumulators cover the 2 FMA pipes x 4-cycle latency of Zen and
 * Haswell-class cores with room to spare; per k: 2 B loads + 6 broadcasts
 * for 12 FMAs.
 */
#include <immintrin.h>

#include "gemm_internal.h"

#define KERNEL_MR RT_GEMM_MR_AVX2
#define KERNEL_NR RT_GEMM_NR_AVX2

#define ROW_FMA(i)                                                     \
    do {                                                               \
        __m256 ai = _mm256_broadcast_ss(a + i);                        \
        c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);                    \
        c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1);                    \
    } while (0)

/* Same arithmetic for full and partial tiles (see gemm_internal.h). */
#define ROW_STORE(i)                                                            \
    do {                                                                        \
        if (i < mr) {                                                           \
            float *ci = c + (int64_t)(i) * ldc;                                 \
            if (beta == 0.0f) {                                                 \
                _mm256_maskstore_ps(ci, m0, _mm256_mul_ps(c##i##0, valpha));    \
                _mm256_maskstore_ps(ci + 8, m1, _mm256_mul_ps(c##i##1, valpha)); \
            } else {                                                            \
                __m256 o0 = _mm256_mul_ps(vbeta, _mm256_maskload_ps(ci, m0));   \
                __m256 o1 = _mm256_mul_ps(vbeta, _mm256_maskload_ps(ci + 8, m1)); \
                _mm256_maskstore_ps(ci, m0, _mm256_fmadd_ps(c##i##0, valpha, o0)); \
                _mm256_maskstore_ps(ci + 8, m1, _mm256_fmadd_ps(c##i##1, valpha, o1)); \
            }                                                                   \
        }                                                                       \
    } while (0)

void rt_gemm_kernel_avx2(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                         int mr, int nr, float alpha, float beta)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();

    for (int i = 0; i < mr; i++)
        _mm_prefetch((const char *)(c + (int64_t)i * ldc), _MM_HINT_T0);

#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(b);
        __m256 b1 = _mm256_load_ps(b + 8);
        ROW_FMA(0); ROW_FMA(1); ROW_FMA(2); ROW_FMA(3); ROW_FMA(4); ROW_FMA(5);
        a += KERNEL_MR;
        b += KERNEL_NR;
    }

    /* Lane j of a mask is on when its sign bit is set. */
    __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), lane);
    __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8), lane);
    __m256 valpha = _mm256_set1_ps(alpha), vbeta = _mm256_set1_ps(beta);
    ROW_STORE(0); ROW_STORE(1); ROW_STORE(2); ROW_STORE(3); ROW_STORE(4); ROW_STORE(5);
}
