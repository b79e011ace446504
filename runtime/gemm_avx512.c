/* gemm_avx512.c — the AVX-512 GEMM micro-kernel (12 x 32) and epilogue.
 * Compiled with -mavx512f/bw/dq/vl -mfma; gemm.c calls it only when
 * rt_isa_current() is RT_ISA_AVX512.
 *
 * On Zen 4 a zmm FMA occupies both 256-bit FMA pipes, so the peak is one
 * zmm FMA per cycle and the 4-cycle latency needs at least 4 independent
 * chains; the 24 accumulators are there to cut loads per FMA instead
 * (per k: 2 B loads + 12 broadcasts for 24 FMAs, well under the 2-3
 * loads/cycle the core sustains).
 */
#include <immintrin.h>

#include "gemm_internal.h"

#define KERNEL_MR RT_GEMM_MR_AVX512
#define KERNEL_NR RT_GEMM_NR_AVX512

/* Row i of the tile: two accumulators. */
#define ROW_FMA(i)                                                             \
    do {                                                                       \
        __m512 ai = _mm512_set1_ps(a[i]);                                      \
        c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);                            \
        c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1);                            \
    } while (0)

/* Stores row i through the masks; the same arithmetic for full and partial
 * tiles, so tile edges never change a result. */
#define ROW_STORE(i)                                                           \
    do {                                                                       \
        if (i < mr) {                                                          \
            float *ci = c + (int64_t)(i) * ldc;                                \
            if (beta == 0.0f) {                                                \
                _mm512_mask_storeu_ps(ci, m0, _mm512_mul_ps(c##i##0, valpha)); \
                _mm512_mask_storeu_ps(ci + 16, m1, _mm512_mul_ps(c##i##1, valpha)); \
            } else {                                                           \
                __m512 o0 = _mm512_mul_ps(vbeta, _mm512_maskz_loadu_ps(m0, ci)); \
                __m512 o1 = _mm512_mul_ps(vbeta, _mm512_maskz_loadu_ps(m1, ci + 16)); \
                _mm512_mask_storeu_ps(ci, m0, _mm512_fmadd_ps(c##i##0, valpha, o0)); \
                _mm512_mask_storeu_ps(ci + 16, m1, _mm512_fmadd_ps(c##i##1, valpha, o1)); \
            }                                                                  \
        }                                                                      \
    } while (0)

void rt_gemm_kernel_avx512(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                           int mr, int nr, float alpha, float beta)
{
    __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps();
    __m512 c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
    __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps();
    __m512 c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
    __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps();
    __m512 c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
    __m512 c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps();
    __m512 c70 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps();
    __m512 c80 = _mm512_setzero_ps(), c81 = _mm512_setzero_ps();
    __m512 c90 = _mm512_setzero_ps(), c91 = _mm512_setzero_ps();
    __m512 c100 = _mm512_setzero_ps(), c101 = _mm512_setzero_ps();
    __m512 c110 = _mm512_setzero_ps(), c111 = _mm512_setzero_ps();

    /* The C tile is written once at the end; fetching its lines now hides
     * the miss behind the k loop. */
    for (int i = 0; i < mr; i++) {
        _mm_prefetch((const char *)(c + (int64_t)i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + (int64_t)i * ldc + 16), _MM_HINT_T0);
    }

#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(b);
        __m512 b1 = _mm512_load_ps(b + 16);
        ROW_FMA(0); ROW_FMA(1); ROW_FMA(2); ROW_FMA(3);
        ROW_FMA(4); ROW_FMA(5); ROW_FMA(6); ROW_FMA(7);
        ROW_FMA(8); ROW_FMA(9); ROW_FMA(10); ROW_FMA(11);
        a += KERNEL_MR;
        b += KERNEL_NR;
    }

    __m512 valpha = _mm512_set1_ps(alpha), vbeta = _mm512_set1_ps(beta);
    __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
    ROW_STORE(0); ROW_STORE(1); ROW_STORE(2); ROW_STORE(3);
    ROW_STORE(4); ROW_STORE(5); ROW_STORE(6); ROW_STORE(7);
    ROW_STORE(8); ROW_STORE(9); ROW_STORE(10); ROW_STORE(11);
}
