/* depthwise_avx2.c — depthwise_simd.h on AVX2 + FMA: 8 lanes, masks as
 * vectors of all-ones lanes. vmaskmovps loads never touch a masked lane
 * either, but there is no masked FMA: a padded tap adds w*0. Masked
 * stores (vmaskmovps, slow on AMD) only where a block is partial. */
#include <immintrin.h>

#include "conv_internal.h"

#define VEC __m256
#define VMASK __m256i
#define LANES 8
#define DW_EXPORT(name) rt_conv_avx2_dw_##name

static inline __m256i v_lanes(int64_t lo, int64_t hi)
{
    lo = lo < 0 ? 0 : lo > 8 ? 8 : lo;
    hi = hi < 0 ? 0 : hi > 8 ? 8 : hi;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_and_si256(_mm256_cmpgt_epi32(lane, _mm256_set1_epi32((int)lo - 1)),
                            _mm256_cmpgt_epi32(_mm256_set1_epi32((int)hi), lane));
}

static inline __m256i v_and(__m256i a, __m256i b)
{
    return _mm256_and_si256(a, b);
}

/* The template's masks at stores are prefixes (lanes [0, n)): the
 * partial ones go out a float at a time, as vmaskmovps stores are slow on
 * AMD. */
static inline void v_store(float *p, __m256i m, __m256 v)
{
    int bits = _mm256_movemask_ps(_mm256_castsi256_ps(m));
    if (bits == 0xff) {
        _mm256_storeu_ps(p, v);
        return;
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, v);
    for (int i = 0; i < 8 && (bits >> i & 1); i++)
        p[i] = lanes[i];
}

#define v_loadz(m, p) _mm256_maskload_ps((p), (m))
#define v_loadu(p) _mm256_loadu_ps(p)
#define v_storeu(p, v) _mm256_storeu_ps((p), (v))
#define v_fma(w, x, acc, m) ((void)(m), _mm256_fmadd_ps((w), (x), (acc)))
#define v_set1(f) _mm256_set1_ps(f)
#define v_zero() _mm256_setzero_ps()
#define v_add(a, b) _mm256_add_ps((a), (b))
#define v_relu(x) _mm256_max_ps(_mm256_setzero_ps(), (x))

/* even: a0 a2 a4 a6 b0 b2 b4 b6, odd: a1 a3 ... b7 */
static inline void v_deinterleave(__m256 a, __m256 b, __m256 *even, __m256 *odd)
{
    __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)); /* a0 a2 b0 b2 | a4 a6 b4 b6 */
    __m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
}

/* lo: e0 o0 e1 o1 e2 o2 e3 o3, hi: e4 o4 ... e7 o7 */
static inline void v_interleave(__m256 even, __m256 odd, __m256 *lo, __m256 *hi)
{
    __m256 a = _mm256_unpacklo_ps(even, odd); /* e0 o0 e1 o1 | e4 o4 e5 o5 */
    __m256 b = _mm256_unpackhi_ps(even, odd); /* e2 o2 e3 o3 | e6 o6 e7 o7 */
    *lo = _mm256_permute2f128_ps(a, b, 0x20);
    *hi = _mm256_permute2f128_ps(a, b, 0x31);
}

static inline void v_add_to_doubles(__m256 v, double *d)
{
    __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
    _mm256_storeu_pd(d, _mm256_add_pd(_mm256_loadu_pd(d), lo));
    _mm256_storeu_pd(d + 4, _mm256_add_pd(_mm256_loadu_pd(d + 4), hi));
}

#include "depthwise_simd.h"
