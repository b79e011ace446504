/* simd_avx512.h — the vector operations of the shared SIMD bodies
 * (kernels_simd.h, layernorm_simd.h, gemm_epilogue_simd.h) on AVX-512:
 * 16 lanes, masks in k registers, tails by masked loads and stores, 2^n by
 * scalef. Included by the *_avx512.c files, compiled with AVX-512 flags.
 * simd_avx2.h defines the same names for AVX2; each body documents the
 * subset it uses and what each must compute, so both paths give the same
 * bits.
 */
#ifndef SIMD_AVX512_H
#define SIMD_AVX512_H

#include <immintrin.h>
#include <stdint.h>

#define VEC __m512
#define VMASK __mmask16
#define LANES 16
#define SIMD_EXPORT(name) rt_avx512_##name
/* double vectors, for sums kept in double */
#define VECD __m512d
#define DLANES 8
#define vd_loadu(p) _mm512_loadu_pd(p)
#define vd_storeu(p, v) _mm512_storeu_pd((p), (v))
#define vd_add(a, b) _mm512_add_pd((a), (b))
#define vd_mul(a, b) _mm512_mul_pd((a), (b))
#define vd_widen(p) _mm512_cvtps_pd(_mm256_loadu_ps(p)) /* DLANES floats at p */

/* lanes [0, n), n <= 16 */
static inline __mmask16 tail_mask(int64_t n)
{
    return (__mmask16)((1u << n) - 1u);
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
#define v_scale2(p, n) _mm512_scalef_ps((p), (n))
#define v_pow2(n) _mm512_scalef_ps(_mm512_set1_ps(1.0f), (n))
#define v_lt(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_LT_OQ)
#define v_gt0(x) _mm512_cmp_ps_mask((x), _mm512_setzero_ps(), _CMP_GT_OQ)
#define v_lt0(x) _mm512_cmp_ps_mask((x), _mm512_setzero_ps(), _CMP_LT_OQ)
#define v_blend(m, a, b) _mm512_mask_blend_ps((m), (a), (b))
#define v_and_mask(m, v) _mm512_maskz_mov_ps((m), (v))

static inline __m512 v_or_sign(__m512 t, __m512 x)
{
    __m512i sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(t), sign));
}

#include "simd_common.h"

#endif
