/* activations_avx2.h — the activations in __m256 lanes, the AVX2 + FMA kernels'
 * arithmetic, shared by rt_act_forward/backward (kernels_avx2.c) and the
 * GEMM epilogue (gemm_avx2.c), so an activation fused into a dense or conv
 * layer gives the bits of the same activation run on its own. Include
 * only from files compiled for AVX2 + FMA. */
#ifndef ACTIVATIONS_AVX2_H
#define ACTIVATIONS_AVX2_H

#include <immintrin.h>
#include <stdint.h>

#include "netrt.h"

#define LOG2E 1.44269502162933349609375f
#define LN2_HI 0.693147182464599609375f
#define LN2_LO -1.904654323148236e-09f

#define GELU_K 0.7978845608028654f
#define GELU_C 0.044715f

static inline __m256 reduce_ln2(__m256 x, __m256 *n)
{
    *n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(LOG2E)),
                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(*n, _mm256_set1_ps(LN2_HI), x);
    return _mm256_fnmadd_ps(*n, _mm256_set1_ps(LN2_LO), r);
}

/* (exp(r) - 1 - r) / r^2, Taylor to r^8 (see kernels_avx512.c). */
static inline __m256 expm1_tail(__m256 r)
{
    __m256 p = _mm256_set1_ps(2.4801587642286904e-05f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.9841270113829523e-04f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3888889225199819e-03f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3333337679505350e-03f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1666667908430100e-02f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666667163372040e-01f));
    return _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
}

/* 2^n for integral n in [-126, 127], from the exponent field. */
static inline __m256 pow2i(__m256i n)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23));
}

/* exp(x) = 2^n exp(r). n lies in [-150, 128] after the clamp, outside one
 * exponent field's range, so 2^n is applied as 2^(n/2) * 2^(n - n/2): the
 * overflow then gives inf and the underflow a correctly rounded subnormal.
 * NaN passes through the clamps (x is the second operand). */
static inline __m256 exp8(__m256 x)
{
    x = _mm256_min_ps(_mm256_set1_ps(89.0f), x);
    x = _mm256_max_ps(_mm256_set1_ps(-104.0f), x);
    __m256 n;
    __m256 r = reduce_ln2(x, &n);
    __m256 p = _mm256_fmadd_ps(expm1_tail(r), _mm256_mul_ps(r, r), r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1);
    __m256i n2 = _mm256_sub_epi32(ni, n1);
    return _mm256_mul_ps(_mm256_mul_ps(p, pow2i(n1)), pow2i(n2));
}

/* tanh|x| = -expm1(-2|x|) / (2 + expm1(-2|x|)), expm1 formed as
 * fma(2^n, q, 2^n - 1) (see kernels_avx512.c); |x| clamped to 10, where the
 * float result is already 1, keeps n in [-29, 0]. */
static inline __m256 tanh8(__m256 x)
{
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    __m256 a = _mm256_andnot_ps(sign_bit, x);
    a = _mm256_min_ps(_mm256_set1_ps(10.0f), a);
    __m256 y = _mm256_mul_ps(a, _mm256_set1_ps(-2.0f));
    __m256 n;
    __m256 r = reduce_ln2(y, &n);
    __m256 q = _mm256_fmadd_ps(expm1_tail(r), _mm256_mul_ps(r, r), r);
    __m256 scale = pow2i(_mm256_cvtps_epi32(n));
    __m256 em = _mm256_fmadd_ps(scale, q, _mm256_sub_ps(scale, _mm256_set1_ps(1.0f)));
    __m256 t = _mm256_div_ps(_mm256_sub_ps(_mm256_setzero_ps(), em),
                             _mm256_add_ps(_mm256_set1_ps(2.0f), em));
    return _mm256_or_ps(t, _mm256_and_ps(sign_bit, x));
}

/* 1/(1+t) for x >= 0, t/(1+t) for x < 0, t = exp(-|x|). */
static inline __m256 sigmoid8(__m256 x, __m256 *one_minus)
{
    __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    __m256 t = exp8(_mm256_sub_ps(_mm256_setzero_ps(), a));
    __m256 inv = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), t));
    __m256 small = _mm256_mul_ps(t, inv);
    __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    if (one_minus)
        *one_minus = _mm256_blendv_ps(small, inv, neg);
    return _mm256_blendv_ps(inv, small, neg);
}

static inline __m256 gelu_inner8(__m256 x)
{
    __m256 x2 = _mm256_mul_ps(x, x);
    __m256 k = _mm256_fmadd_ps(x2, _mm256_set1_ps(2.0f * GELU_K * GELU_C),
                               _mm256_set1_ps(2.0f * GELU_K));
    return _mm256_mul_ps(x, k);
}

static inline __m256 fwd_relu(__m256 x, float alpha)
{
    (void)alpha;
    return _mm256_max_ps(_mm256_setzero_ps(), x);
}

static inline __m256 fwd_leaky(__m256 x, float alpha)
{
    __m256 pos = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ);
    return _mm256_blendv_ps(_mm256_mul_ps(x, _mm256_set1_ps(alpha)), x, pos);
}

static inline __m256 fwd_gelu(__m256 x, float alpha)
{
    (void)alpha;
    return _mm256_mul_ps(x, sigmoid8(gelu_inner8(x), NULL));
}

static inline __m256 fwd_tanh(__m256 x, float alpha)
{
    (void)alpha;
    return tanh8(x);
}

static inline __m256 fwd_sigmoid(__m256 x, float alpha)
{
    (void)alpha;
    return sigmoid8(x, NULL);
}

static inline __m256 fwd_silu(__m256 x, float alpha)
{
    (void)alpha;
    return _mm256_mul_ps(x, sigmoid8(x, NULL));
}

#endif
