/* layernorm_avx512.c — layernorm_simd.h on AVX-512: a block of 16 floats
 * is one vector, and the sixteen double lanes two __m512d (`lo` lanes 0-7,
 * `hi` 8-15). */
#include "kernels_internal.h"

#include "simd_avx512.h"

static inline __m512d low_pd(__m512 v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
static inline __m512d high_pd(__m512 v) { return _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)); }

typedef struct ln_acc {
    __m512d lo, hi;
} ln_acc;

static inline void ln_zero(ln_acc *acc)
{
    acc->lo = acc->hi = _mm512_setzero_pd();
}

static inline void ln_spill(const ln_acc *acc, double lane[RT_LN_LANES])
{
    _mm512_storeu_pd(lane, acc->lo);
    _mm512_storeu_pd(lane + 8, acc->hi);
}

static inline void ln_add_floats(ln_acc *acc, const __m512 v[1])
{
    acc->lo = _mm512_add_pd(acc->lo, low_pd(v[0]));
    acc->hi = _mm512_add_pd(acc->hi, high_pd(v[0]));
}

/* the product of two floats is exact in double */
static inline void ln_add_products(ln_acc *acc, const __m512 a[1], const __m512 b[1])
{
    acc->lo = _mm512_add_pd(acc->lo, _mm512_mul_pd(low_pd(a[0]), low_pd(b[0])));
    acc->hi = _mm512_add_pd(acc->hi, _mm512_mul_pd(high_pd(a[0]), high_pd(b[0])));
}

static inline void ln_add_to_doubles(double *p, __m512 a, const __m512 *b)
{
    __m512d lo = low_pd(a), hi = high_pd(a);
    if (b) {
        lo = _mm512_mul_pd(lo, low_pd(*b));
        hi = _mm512_mul_pd(hi, high_pd(*b));
    }
    _mm512_storeu_pd(p, _mm512_add_pd(_mm512_loadu_pd(p), lo));
    _mm512_storeu_pd(p + 8, _mm512_add_pd(_mm512_loadu_pd(p + 8), hi));
}

#include "layernorm_simd.h"
