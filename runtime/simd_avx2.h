/* simd_avx2.h — the vector operations of the shared SIMD bodies
 * (kernels_simd.h, layernorm_simd.h, gemm_epilogue_simd.h) on AVX2 + FMA:
 * 8 lanes, masks as vectors of all-ones lanes, tails by vmaskmovps (a
 * masked lane is never read or written). AVX2 has no scalef: 2^n is built
 * in the exponent field, in two halves where n leaves one field's range,
 * which gives AVX-512's bits wherever the result is normal. Included by
 * the *_avx2.c files, compiled with -mavx2 -mfma.
 */
#ifndef SIMD_AVX2_H
#define SIMD_AVX2_H

#include <immintrin.h>
#include <stdint.h>

#define VEC __m256
#define VMASK __m256
#define LANES 8
#define SIMD_EXPORT(name) rt_avx2_##name
/* double vectors, for sums kept in double */
#define VECD __m256d
#define DLANES 4
#define vd_loadu(p) _mm256_loadu_pd(p)
#define vd_storeu(p, v) _mm256_storeu_pd((p), (v))
#define vd_add(a, b) _mm256_add_pd((a), (b))
#define vd_mul(a, b) _mm256_mul_pd((a), (b))
#define vd_widen(p) _mm256_cvtps_pd(_mm_loadu_ps(p)) /* DLANES floats at p */

/* lanes [0, n), n <= 8, as a load/store mask */
static inline __m256i tail_mask(int64_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#define v_set1(f) _mm256_set1_ps(f)
#define v_zero() _mm256_setzero_ps()
#define v_loadu(p) _mm256_loadu_ps(p)
#define v_storeu(p, v) _mm256_storeu_ps((p), (v))
#define v_load_n(p, n) _mm256_maskload_ps((p), tail_mask(n))
#define v_store_n(p, n, v) _mm256_maskstore_ps((p), tail_mask(n), (v))
#define v_add(a, b) _mm256_add_ps((a), (b))
#define v_sub(a, b) _mm256_sub_ps((a), (b))
#define v_mul(a, b) _mm256_mul_ps((a), (b))
#define v_div(a, b) _mm256_div_ps((a), (b))
#define v_min(a, b) _mm256_min_ps((a), (b))
#define v_max(a, b) _mm256_max_ps((a), (b))
#define v_sqrt(a) _mm256_sqrt_ps(a)
#define v_fmadd(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define v_fnmadd(a, b, c) _mm256_fnmadd_ps((a), (b), (c))
#define v_abs(x) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), (x))
#define v_or_sign(t, x) _mm256_or_ps((t), _mm256_and_ps(_mm256_set1_ps(-0.0f), (x)))
#define v_round(x) _mm256_round_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define v_lt(a, b) _mm256_cmp_ps((a), (b), _CMP_LT_OQ)
#define v_gt0(x) _mm256_cmp_ps((x), _mm256_setzero_ps(), _CMP_GT_OQ)
#define v_lt0(x) _mm256_cmp_ps((x), _mm256_setzero_ps(), _CMP_LT_OQ)
#define v_blend(m, a, b) _mm256_blendv_ps((a), (b), (m))
#define v_and_mask(m, v) _mm256_and_ps((m), (v))

/* 2^n for integral n in [-126, 127], from the exponent field. */
static inline __m256 pow2i(__m256i n)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23));
}

/* 2^n for integral n in [-126, 127] */
static inline __m256 v_pow2(__m256 n)
{
    return pow2i(_mm256_cvtps_epi32(n));
}

/* p * 2^n for integral n in [-252, 254]: as p * 2^(n/2) * 2^(n - n/2), each
 * half a normal float, so an overflow gives inf and an underflow a
 * correctly rounded subnormal (NaN p gives NaN, whatever n is). */
static inline __m256 v_scale2(__m256 p, __m256 n)
{
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1);
    __m256i n2 = _mm256_sub_epi32(ni, n1);
    return _mm256_mul_ps(_mm256_mul_ps(p, pow2i(n1)), pow2i(n2));
}

#include "simd_common.h"

#endif
