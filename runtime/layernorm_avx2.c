/* layernorm_avx2.c — layernorm_simd.h on AVX2: a block of 16 floats is
 * two vectors, and the sixteen double lanes four __m256d, acc[0] holding
 * lanes 0-3 up to acc[3] holding 12-15, fed from the two 8-float halves.
 * These ln_* adapters are the per-ISA layer layernorm_simd.h is written
 * against (layernorm_avx512.c's hold two __m512d); duplicates pairs them
 * because both are four-line loops over their accumulators, but the
 * lane-to-accumulator mapping is what differs and the body is shared. */
#include "kernels_internal.h"

#include "simd_avx2.h"

static inline __m256d low_pd(__m256 v) { return _mm256_cvtps_pd(_mm256_castps256_ps128(v)); }
static inline __m256d high_pd(__m256 v) { return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)); }

typedef struct ln_acc {
    __m256d v[4];
} ln_acc;

static inline void ln_zero(ln_acc *acc)
{
    for (int k = 0; k < 4; k++)
        acc->v[k] = _mm256_setzero_pd();
}

static inline void ln_spill(const ln_acc *acc, double lane[RT_LN_LANES])
{
    for (int k = 0; k < 4; k++)
        _mm256_storeu_pd(lane + 4 * k, acc->v[k]);
}

static inline void ln_add_floats(ln_acc *acc, const __m256 v[2])
{
    acc->v[0] = _mm256_add_pd(acc->v[0], low_pd(v[0]));
    acc->v[1] = _mm256_add_pd(acc->v[1], high_pd(v[0]));
    acc->v[2] = _mm256_add_pd(acc->v[2], low_pd(v[1]));
    acc->v[3] = _mm256_add_pd(acc->v[3], high_pd(v[1]));
}

/* the product of two floats is exact in double */
static inline void ln_add_products(ln_acc *acc, const __m256 a[2], const __m256 b[2])
{
    acc->v[0] = _mm256_add_pd(acc->v[0], _mm256_mul_pd(low_pd(a[0]), low_pd(b[0])));
    acc->v[1] = _mm256_add_pd(acc->v[1], _mm256_mul_pd(high_pd(a[0]), high_pd(b[0])));
    acc->v[2] = _mm256_add_pd(acc->v[2], _mm256_mul_pd(low_pd(a[1]), low_pd(b[1])));
    acc->v[3] = _mm256_add_pd(acc->v[3], _mm256_mul_pd(high_pd(a[1]), high_pd(b[1])));
}

static inline void ln_add_to_doubles(double *p, __m256 a, const __m256 *b)
{
    __m256d lo = low_pd(a), hi = high_pd(a);
    if (b) {
        lo = _mm256_mul_pd(lo, low_pd(*b));
        hi = _mm256_mul_pd(hi, high_pd(*b));
    }
    _mm256_storeu_pd(p, _mm256_add_pd(_mm256_loadu_pd(p), lo));
    _mm256_storeu_pd(p + 4, _mm256_add_pd(_mm256_loadu_pd(p + 4), hi));
}

#include "layernorm_simd.h"
