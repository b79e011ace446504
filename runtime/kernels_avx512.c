/* kernels_avx512.c — kernels_simd.h on AVX-512 (kernels.c and optim.c
 * dispatch here when rt_isa_current() says RT_ISA_AVX512), with the
 * vector operations of simd_avx512.h. Softmax rows and dropout are this
 * file's own (see kernels_simd.h).
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels_internal.h"

#include "simd_avx512.h"

#include "kernels_simd.h"

/* ------------------------------------------------------- softmax, dropout */

/* Adds e's low and high eight floats, in double, to sum[0] and sum[1]. */
static inline void add_halves_pd(__m512d sum[2], __m512 e)
{
    sum[0] = _mm512_add_pd(sum[0], _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    sum[1] = _mm512_add_pd(sum[1], _mm512_cvtps_pd(_mm256_castpd_ps(
                                       _mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
}

/* x (cols) -> y (cols); returns the max and sum exp(x - max), sum in double. */
rt_softmax_sums rt_avx512_softmax_row(int64_t cols, const float *x, float *y)
{
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    int64_t j = 0;
    for (; j + 16 <= cols; j += 16)
        vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(x + j));
    if (j < cols)
        vmax = _mm512_max_ps(vmax, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY),
                                                         tail_mask(cols - j), x + j));
    float max = _mm512_reduce_max_ps(vmax);
    __m512 vm = _mm512_set1_ps(max);

    /* Four vectors' exps at a time, so their chains overlap (see
     * kernels_simd.h's GEMM epilogue), summed in the same order as one at
     * a time. */
    __m512d sum[2] = { _mm512_setzero_pd(), _mm512_setzero_pd() };
    for (j = 0; j + 64 <= cols; j += 64) {
        __m512 e[4];
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++)
            e[k] = v_exp(_mm512_sub_ps(_mm512_loadu_ps(x + j + 16 * k), vm));
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            _mm512_storeu_ps(y + j + 16 * k, e[k]);
            add_halves_pd(sum, e[k]);
        }
    }
    for (; j + 16 <= cols; j += 16) {
        __m512 e = v_exp(_mm512_sub_ps(_mm512_loadu_ps(x + j), vm));
        _mm512_storeu_ps(y + j, e);
        add_halves_pd(sum, e);
    }
    if (j < cols) {
        __mmask16 m = tail_mask(cols - j);
        __m512 e = _mm512_maskz_mov_ps(m, v_exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), vm)));
        _mm512_mask_storeu_ps(y + j, m, e);
        add_halves_pd(sum, e);
    }
    double total = _mm512_reduce_add_pd(_mm512_add_pd(sum[0], sum[1]));

    __m512 inv = _mm512_set1_ps((float)(1.0 / total));
    for (j = 0; j + 16 <= cols; j += 16)
        _mm512_storeu_ps(y + j, _mm512_mul_ps(_mm512_loadu_ps(y + j), inv));
    if (j < cols) {
        __mmask16 m = tail_mask(cols - j);
        _mm512_mask_storeu_ps(y + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, y + j), inv));
    }
    return (rt_softmax_sums){ max, total };
}

/* Which of 8 Weyl points z keep their element: the top 24 bits of
 * SplitMix64's mix of z, compared with the threshold. */
static inline __mmask8 keep8(__m512i z, __m512i threshold)
{
    z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 30));
    z = _mm512_mullo_epi64(z, _mm512_set1_epi64((int64_t)RT_RNG_MUL1));
    z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 27));
    z = _mm512_mullo_epi64(z, _mm512_set1_epi64((int64_t)RT_RNG_MUL2));
    z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
    return _mm512_cmpge_epu64_mask(_mm512_srli_epi64(z, 40), threshold);
}

// in [begin,end) -> out [begin,end)
void rt_avx512_dropout(int64_t begin, int64_t end, uint64_t key, uint32_t threshold,
                       float scale, const float *in, float *out)
{
    const __m512i lane = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i step8 = _mm512_set1_epi64((int64_t)(8 * RT_RNG_WEYL));
    const __m512i thr = _mm512_set1_epi64(threshold);
    const __m512 vscale = _mm512_set1_ps(scale);
    /* Lane l of z holds key + (i + l) * WEYL, advanced by 8 * WEYL per 8 elements. */
    __m512i z = _mm512_add_epi64(_mm512_set1_epi64((int64_t)(key + (uint64_t)begin * RT_RNG_WEYL)),
                                 _mm512_mullo_epi64(lane, _mm512_set1_epi64((int64_t)RT_RNG_WEYL)));
    int64_t i = begin;
    for (; i + 16 <= end; i += 16) {
        __m512i z_hi = _mm512_add_epi64(z, step8);
        __mmask16 keep = (__mmask16)(keep8(z, thr) | ((unsigned)keep8(z_hi, thr) << 8));
        _mm512_storeu_ps(out + i, _mm512_maskz_mul_ps(keep, _mm512_loadu_ps(in + i), vscale));
        z = _mm512_add_epi64(z_hi, step8);
    }
    if (i < end) {
        __mmask16 m = tail_mask(end - i);
        __m512i z_hi = _mm512_add_epi64(z, step8);
        __mmask16 keep = (__mmask16)(keep8(z, thr) | ((unsigned)keep8(z_hi, thr) << 8));
        _mm512_mask_storeu_ps(out + i, m,
                              _mm512_maskz_mul_ps(keep & m, _mm512_maskz_loadu_ps(m, in + i), vscale));
    }
}
