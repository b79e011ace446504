/* activations_avx512.h — the activations in __m512 lanes, the AVX-512 kernels'
 * arithmetic, shared by rt_act_forward/backward (kernels_avx512.c) and the
 * GEMM epilogue (gemm_avx512.c), so an activation fused into a dense or conv
 * layer gives the bits of the same activation run on its own. Include
 * only from files compiled for AVX-512. */
#ifndef ACTIVATIONS_AVX512_H
#define ACTIVATIONS_AVX512_H

#include <immintrin.h>
#include <stdint.h>

#include "netrt.h"

#define LOG2E 1.44269502162933349609375f
#define LN2_HI 0.693147182464599609375f
#define LN2_LO -1.904654323148236e-09f

#define GELU_K 0.7978845608028654f
#define GELU_C 0.044715f

static inline __mmask16 tail_mask(int64_t remaining)
{
    return (__mmask16)((1u << remaining) - 1u);
}

/* Reduces x = n ln2 + r with |r| <= ln2/2 (and a little more when the
 * product rounds); returns r and n. */
static inline __m512 reduce_ln2(__m512 x, __m512 *n)
{
    *n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(LOG2E)),
                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(*n, _mm512_set1_ps(LN2_HI), x);
    return _mm512_fnmadd_ps(*n, _mm512_set1_ps(LN2_LO), r);
}

/* exp(r) - 1 - r for |r| <= 0.35, divided by r^2: Taylor to r^8, whose
 * truncation error (|r|^9/9! < 2e-10) is far below float's rounding. */
static inline __m512 expm1_tail(__m512 r)
{
    __m512 p = _mm512_set1_ps(2.4801587642286904e-05f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.9841270113829523e-04f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3888889225199819e-03f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3333337679505350e-03f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1666667908430100e-02f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666667163372040e-01f));
    return _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
}

/* exp(x) = 2^n exp(r). scalef applies 2^n without building an exponent
 * field, so results that overflow give inf and results below FLT_MIN
 * become correctly rounded subnormals. The clamp keeps n an integer that
 * scalef takes exactly; NaN passes through (minps/maxps return their second
 * operand on NaN, and x is second). */
static inline __m512 exp16(__m512 x)
{
    x = _mm512_min_ps(_mm512_set1_ps(89.0f), x);
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);
    __m512 n;
    __m512 r = reduce_ln2(x, &n);
    __m512 r2 = _mm512_mul_ps(r, r);
    __m512 p = _mm512_fmadd_ps(expm1_tail(r), r2, r);
    p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* tanh|x| = -expm1(-2|x|) / (2 + expm1(-2|x|)). expm1(y) = 2^n (1 + q) - 1
 * is formed as fma(2^n, q, 2^n - 1) with q = expm1(r), so near 0 (n = 0) it
 * is q itself and keeps full relative precision where 1 - exp(-2|x|) would
 * cancel. Beyond |x| = 9.1 the float result is 1, so |x| is clamped to 10. */
static inline __m512 tanh16(__m512 x)
{
    __m512 a = _mm512_abs_ps(x);
    a = _mm512_min_ps(_mm512_set1_ps(10.0f), a);
    __m512 y = _mm512_mul_ps(a, _mm512_set1_ps(-2.0f));
    __m512 n;
    __m512 r = reduce_ln2(y, &n);
    __m512 q = _mm512_fmadd_ps(expm1_tail(r), _mm512_mul_ps(r, r), r);
    __m512 scale = _mm512_scalef_ps(_mm512_set1_ps(1.0f), n);
    __m512 em = _mm512_fmadd_ps(scale, q, _mm512_sub_ps(scale, _mm512_set1_ps(1.0f)));
    __m512 t = _mm512_div_ps(_mm512_sub_ps(_mm512_setzero_ps(), em),
                             _mm512_add_ps(_mm512_set1_ps(2.0f), em));
    /* copy x's sign onto t (t >= 0) */
    __m512i sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(t), sign));
}

/* 1/(1+t) for x >= 0 and t/(1+t) for x < 0, t = exp(-|x|) in (0, 1]: no
 * overflow and full relative precision in the small tail. */
static inline __m512 sigmoid16(__m512 x, __m512 *one_minus)
{
    __m512 t = exp16(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(x)));
    __m512 inv = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), t));
    __m512 small = _mm512_mul_ps(t, inv);
    __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    if (one_minus)
        *one_minus = _mm512_mask_blend_ps(neg, small, inv);
    return _mm512_mask_blend_ps(neg, inv, small);
}

/* 2 sqrt(2/pi) (x + 0.044715 x^3): gelu(x) = x * sigmoid of this. */
static inline __m512 gelu_inner16(__m512 x)
{
    __m512 x2 = _mm512_mul_ps(x, x);
    __m512 k = _mm512_fmadd_ps(x2, _mm512_set1_ps(2.0f * GELU_K * GELU_C),
                               _mm512_set1_ps(2.0f * GELU_K));
    return _mm512_mul_ps(x, k);
}

static inline __m512 fwd_relu(__m512 x, float alpha)
{
    (void)alpha;
    return _mm512_max_ps(_mm512_setzero_ps(), x);
}

static inline __m512 fwd_leaky(__m512 x, float alpha)
{
    __mmask16 pos = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ);
    return _mm512_mask_blend_ps(pos, _mm512_mul_ps(x, _mm512_set1_ps(alpha)), x);
}

static inline __m512 fwd_gelu(__m512 x, float alpha)
{
    (void)alpha;
    return _mm512_mul_ps(x, sigmoid16(gelu_inner16(x), NULL));
}

static inline __m512 fwd_tanh(__m512 x, float alpha)
{
    (void)alpha;
    return tanh16(x);
}

static inline __m512 fwd_sigmoid(__m512 x, float alpha)
{
    (void)alpha;
    return sigmoid16(x, NULL);
}

static inline __m512 fwd_silu(__m512 x, float alpha)
{
    (void)alpha;
    return _mm512_mul_ps(x, sigmoid16(x, NULL));
}

#endif
