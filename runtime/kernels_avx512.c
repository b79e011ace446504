/* kernels_avx512.c — kernels_simd.h on AVX-512 (kernels.c and optim.c
 * dispatch here when rt_isa_current() says RT_ISA_AVX512): 16 lanes, masks
 * in k registers, tails by masked loads and stores, 2^n by scalef. Softmax
 * rows and dropout are this file's own (see kernels_simd.h).
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels_internal.h"

#define VEC __m512
#define VMASK __mmask16
#define LANES 16
#define SIMD_EXPORT(name) rt_avx512_##name

static inline __mmask16 tail_mask(int64_t remaining)
{
    return (__mmask16)((1u << remaining) - 1u);
}

#define v_set1(f) _mm512_set1_ps(f)
#define v_zero() _mm512_setzero_ps()
#define v_loadu(p) _mm512_loadu_ps(p)
#define v_storeu(p, v) _mm512_storeu_ps((p), (v))
#define v_load_n(p, n) _mm512_maskz_loadu_ps(tail_mask(n), (p))
#define v_store_n(p, n, v) _mm512_mask_storeu_ps((p), tail_mask(n), (v))
#define v_add(a, b) _mm512_add_ps((a), (b))
#define v_sub(a, b) _mm512_sub_ps((a), (b))
#define v_mul(a, b) _mm512_mul_ps((a), (b))
#define v_div(a, b) _mm512_div_ps((a), (b))
#define v_min(a, b) _mm512_min_ps((a), (b))
#define v_max(a, b) _mm512_max_ps((a), (b))
#define v_sqrt(a) _mm512_sqrt_ps(a)
#define v_fmadd(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define v_fnmadd(a, b, c) _mm512_fnmadd_ps((a), (b), (c))
#define v_abs(x) _mm512_abs_ps(x)
#define v_round(x) _mm512_roundscale_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
/* scalef applies 2^n without building an exponent field */
#define v_scale2(p, n) _mm512_scalef_ps((p), (n))
#define v_pow2(n) _mm512_scalef_ps(_mm512_set1_ps(1.0f), (n))
#define v_gt0(x) _mm512_cmp_ps_mask((x), _mm512_setzero_ps(), _CMP_GT_OQ)
#define v_lt0(x) _mm512_cmp_ps_mask((x), _mm512_setzero_ps(), _CMP_LT_OQ)
#define v_blend(m, a, b) _mm512_mask_blend_ps((m), (a), (b))
#define v_and_mask(m, v) _mm512_maskz_mov_ps((m), (v))

static inline __m512 v_or_sign(__m512 t, __m512 x)
{
    __m512i sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(t), sign));
}

#include "kernels_simd.h"

/* ------------------------------------------------------- softmax, dropout */

/* x (cols) -> y (cols); returns max + log(sum exp(x - max)), sum in double. */
double rt_avx512_softmax_row(int64_t cols, const float *x, float *y)
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

    __m512d sum_lo = _mm512_setzero_pd(), sum_hi = _mm512_setzero_pd();
    for (j = 0; j + 16 <= cols; j += 16) {
        __m512 e = v_exp(_mm512_sub_ps(_mm512_loadu_ps(x + j), vm));
        _mm512_storeu_ps(y + j, e);
        sum_lo = _mm512_add_pd(sum_lo, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        sum_hi = _mm512_add_pd(sum_hi, _mm512_cvtps_pd(_mm256_castpd_ps(
                                           _mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    if (j < cols) {
        __mmask16 m = tail_mask(cols - j);
        __m512 e = _mm512_maskz_mov_ps(m, v_exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), vm)));
        _mm512_mask_storeu_ps(y + j, m, e);
        sum_lo = _mm512_add_pd(sum_lo, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        sum_hi = _mm512_add_pd(sum_hi, _mm512_cvtps_pd(_mm256_castpd_ps(
                                           _mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    double sum = _mm512_reduce_add_pd(_mm512_add_pd(sum_lo, sum_hi));

    __m512 inv = _mm512_set1_ps((float)(1.0 / sum));
    for (j = 0; j + 16 <= cols; j += 16)
        _mm512_storeu_ps(y + j, _mm512_mul_ps(_mm512_loadu_ps(y + j), inv));
    if (j < cols) {
        __mmask16 m = tail_mask(cols - j);
        _mm512_mask_storeu_ps(y + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, y + j), inv));
    }
    return (double)max + log(sum);
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
