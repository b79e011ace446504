/* depthwise_avx512.c — depthwise_simd.h on AVX-512: 16 lanes, masks in
 * k registers, so a masked lane is skipped by the FMA as by the load. */
#include <immintrin.h>

#include "conv_internal.h"

#define VEC __m512
#define VMASK __mmask16
#define LANES 16
#define DW_EXPORT(name) rt_conv_avx512_dw_##name

static inline __mmask16 v_lanes(int64_t lo, int64_t hi)
{
    return rt_conv_lanes(lo, hi);
}

static inline __mmask16 v_and(__mmask16 a, __mmask16 b)
{
    return (__mmask16)(a & b);
}

#define v_loadz(m, p) _mm512_maskz_loadu_ps((m), (p))
#define v_loadu(p) _mm512_loadu_ps(p)
#define v_store(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))
#define v_storeu(p, v) _mm512_storeu_ps((p), (v))
#define v_fma(w, x, acc, m) _mm512_mask3_fmadd_ps((w), (x), (acc), (m))
#define v_set1(f) _mm512_set1_ps(f)
#define v_zero() _mm512_setzero_ps()
#define v_add(a, b) _mm512_add_ps((a), (b))
#define v_relu(x) _mm512_max_ps(_mm512_setzero_ps(), (x))

static inline void v_deinterleave(__m512 a, __m512 b, __m512 *even, __m512 *odd)
{
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    *even = _mm512_permutex2var_ps(a, ie, b);
    *odd = _mm512_permutex2var_ps(a, io, b);
}

static inline void v_interleave(__m512 even, __m512 odd, __m512 *lo, __m512 *hi)
{
    const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ih = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    *lo = _mm512_permutex2var_ps(even, il, odd);
    *hi = _mm512_permutex2var_ps(even, ih, odd);
}

static inline void v_add_to_doubles(__m512 v, double *d)
{
    __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    __m512d hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
    _mm512_storeu_pd(d, _mm512_add_pd(_mm512_loadu_pd(d), lo));
    _mm512_storeu_pd(d + 8, _mm512_add_pd(_mm512_loadu_pd(d + 8), hi));
}

#include "depthwise_simd.h"
