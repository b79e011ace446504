/* kernels_avx2.c — kernels_simd.h on AVX2 + FMA (kernels.c and optim.c
 * dispatch here when rt_isa_current() says RT_ISA_AVX2), with the vector
 * operations of simd_avx2.h. Softmax rows and dropout are this file's own
 * (see kernels_simd.h).
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels_internal.h"

#include "simd_avx2.h"

#include "kernels_simd.h"

/* ------------------------------------------------------- softmax, dropout */

static inline float hmax8(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

static inline __m256d add_halves_pd(__m256d sum, __m256 e)
{
    sum = _mm256_add_pd(sum, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    return _mm256_add_pd(sum, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
}

/* x (cols) -> y (cols); returns the max and sum exp(x - max), sum in double.
 * The tail vector is padded with -inf, whose exp is 0. */
rt_softmax_sums rt_avx2_softmax_row(int64_t cols, const float *x, float *y)
{
    int64_t full = cols & ~(int64_t)7, rest = cols - full;
    float tail[8];
    for (int k = 0; k < 8; k++)
        tail[k] = k < rest ? x[full + k] : -INFINITY;

    __m256 vmax = _mm256_loadu_ps(tail);
    for (int64_t j = 0; j < full; j += 8)
        vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + j));
    float max = hmax8(vmax);
    __m256 vm = _mm256_set1_ps(max);

    /* Four vectors' exps at a time, so their chains overlap (see
     * kernels_simd.h's GEMM epilogue), summed in the same order as one at
     * a time. */
    __m256d sum4 = _mm256_setzero_pd();
    int64_t j = 0;
    for (; j + 32 <= full; j += 32) {
        __m256 e[4];
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++)
            e[k] = v_exp(_mm256_sub_ps(_mm256_loadu_ps(x + j + 8 * k), vm));
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            _mm256_storeu_ps(y + j + 8 * k, e[k]);
            sum4 = add_halves_pd(sum4, e[k]);
        }
    }
    for (; j < full; j += 8) {
        __m256 e = v_exp(_mm256_sub_ps(_mm256_loadu_ps(x + j), vm));
        _mm256_storeu_ps(y + j, e);
        sum4 = add_halves_pd(sum4, e);
    }
    __m256 e_tail = v_exp(_mm256_sub_ps(_mm256_loadu_ps(tail), vm));
    sum4 = add_halves_pd(sum4, e_tail);
    double lanes[4];
    _mm256_storeu_pd(lanes, sum4);
    double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);

    __m256 inv = _mm256_set1_ps((float)(1.0 / sum));
    for (j = 0; j < full; j += 8)
        _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_loadu_ps(y + j), inv));
    _mm256_storeu_ps(tail, _mm256_mul_ps(e_tail, inv));
    memcpy(y + full, tail, (size_t)rest * sizeof(float));
    return (rt_softmax_sums){ max, sum };
}

/* Low 64 bits of a * c per lane, from three 32x32 -> 64 products (AVX2 has
 * no 64-bit multiply). */
static inline __m256i mul64(__m256i a, uint64_t c)
{
    const __m256i c_lo = _mm256_set1_epi64x((int64_t)(c & 0xffffffffu));
    const __m256i c_hi = _mm256_set1_epi64x((int64_t)(c >> 32));
    __m256i lo = _mm256_mul_epu32(a, c_lo);
    __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), c_lo),
                                     _mm256_mul_epu32(a, c_hi));
    return _mm256_add_epi64(lo, _mm256_slli_epi64(cross, 32));
}

/* Top 24 bits of SplitMix64's mix of each of 4 Weyl points. */
static inline __m256i top24(__m256i z)
{
    z = _mm256_xor_si256(z, _mm256_srli_epi64(z, 30));
    z = mul64(z, RT_RNG_MUL1);
    z = _mm256_xor_si256(z, _mm256_srli_epi64(z, 27));
    z = mul64(z, RT_RNG_MUL2);
    z = _mm256_xor_si256(z, _mm256_srli_epi64(z, 31));
    return _mm256_srli_epi64(z, 40);
}

/* Keep mask (all ones per kept float) of 8 elements whose Weyl points are
 * z_lo (elements 0-3) and z_hi (4-7). */
static inline __m256 keep8(__m256i z_lo, __m256i z_hi, __m256i thr_minus_1)
{
    /* Gather the low 32-bit halves: [lo0 lo1 hi0 hi1 | lo2 lo3 hi2 hi3],
     * then put the 64-bit pairs back in element order. */
    __m256 packed = _mm256_shuffle_ps(_mm256_castsi256_ps(top24(z_lo)),
                                      _mm256_castsi256_ps(top24(z_hi)), _MM_SHUFFLE(2, 0, 2, 0));
    __m256i k = _mm256_permute4x64_epi64(_mm256_castps_si256(packed), _MM_SHUFFLE(3, 1, 2, 0));
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(k, thr_minus_1));
}

// in [begin,end) -> out [begin,end)
void rt_avx2_dropout(int64_t begin, int64_t end, uint64_t key, uint32_t threshold,
                     float scale, const float *in, float *out)
{
    /* k and threshold are below 2^24 + 1, so a signed compare is exact. */
    const __m256i thr = _mm256_set1_epi32((int32_t)threshold - 1);
    const __m256i step4 = _mm256_set1_epi64x((int64_t)(4 * RT_RNG_WEYL));
    const __m256 vscale = _mm256_set1_ps(scale);
    uint64_t base = key + (uint64_t)begin * RT_RNG_WEYL;
    __m256i z = _mm256_set_epi64x((int64_t)(base + 3 * RT_RNG_WEYL), (int64_t)(base + 2 * RT_RNG_WEYL),
                                  (int64_t)(base + RT_RNG_WEYL), (int64_t)base);
    int64_t i = begin;
    for (; i + 8 <= end; i += 8) {
        __m256i z_hi = _mm256_add_epi64(z, step4);
        __m256 keep = keep8(z, z_hi, thr);
        _mm256_storeu_ps(out + i, _mm256_and_ps(keep, _mm256_mul_ps(_mm256_loadu_ps(in + i), vscale)));
        z = _mm256_add_epi64(z_hi, step4);
    }
    if (i < end) {
        float buf[8] = { 0 };
        size_t bytes = (size_t)(end - i) * sizeof(float);
        memcpy(buf, in + i, bytes);
        __m256 keep = keep8(z, _mm256_add_epi64(z, step4), thr);
        _mm256_storeu_ps(buf, _mm256_and_ps(keep, _mm256_mul_ps(_mm256_loadu_ps(buf), vscale)));
        memcpy(out + i, buf, bytes);
    }
}
