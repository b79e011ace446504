/* pool_avx512.c — 2x2/2 max pooling, forward and backward, 16 windows at a
 * time (pool.c's fast path, on AVX-512).
 *
 * The scalar backward pass finds each window's argmax with three
 * data-dependent branches, which mispredict on real activations about half
 * the time: LeNet's max-pool backward was 9.5% of a training step on one
 * thread (perf), more than its memory traffic explains. Here the two input
 * rows of 16 windows are split into their even and odd columns (a b / c d),
 * the same comparisons as pool.c's (b > a, then c, then d against the
 * running maximum; the first maximum wins ties, NaN never wins) become
 * masks, and the gradient is routed by selection, so the bits are pool.c's.
 */
#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

#include "pool_internal.h"

/* The 2*n floats of row r starting at window ox, as even (first) and odd
 * (second) columns of n <= 16 windows; lanes past n are 0. */
static inline void load_pairs(const float *r, int64_t n, __m512 *even, __m512 *odd)
{
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    int64_t f = 2 * n;
    __mmask16 mlo = f >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << f) - 1);
    __mmask16 mhi = f >= 32 ? (__mmask16)0xFFFF : f > 16 ? (__mmask16)((1u << (f - 16)) - 1) : 0;
    __m512 lo = _mm512_maskz_loadu_ps(mlo, r), hi = _mm512_maskz_loadu_ps(mhi, r + 16);
    *even = _mm512_permutex2var_ps(lo, ie, hi);
    *odd = _mm512_permutex2var_ps(lo, io, hi);
}

/* The inverse: interleaves even and odd into the 2*n floats at r. */
static inline void store_pairs(float *r, int64_t n, __m512 even, __m512 odd)
{
    const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ih = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    int64_t f = 2 * n;
    __mmask16 mlo = f >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << f) - 1);
    __mmask16 mhi = f >= 32 ? (__mmask16)0xFFFF : f > 16 ? (__mmask16)((1u << (f - 16)) - 1) : 0;
    _mm512_mask_storeu_ps(r, mlo, _mm512_permutex2var_ps(even, il, odd));
    _mm512_mask_storeu_ps(r + 16, mhi, _mm512_permutex2var_ps(even, ih, odd));
}

/* The window maxima of n windows and which of a, b, c, d won each. */
typedef struct window_max {
    __m512 max;
    __mmask16 b, c, d; /* b, c or d is the first maximum */
} window_max;

static inline window_max max_of(const float *r0, const float *r1, int64_t n)
{
    __m512 a, b, c, d;
    load_pairs(r0, n, &a, &b);
    load_pairs(r1, n, &c, &d);
    window_max w;
    __mmask16 gb = _mm512_cmp_ps_mask(b, a, _CMP_GT_OQ);
    __m512 m = _mm512_mask_blend_ps(gb, a, b);
    __mmask16 gc = _mm512_cmp_ps_mask(c, m, _CMP_GT_OQ);
    m = _mm512_mask_blend_ps(gc, m, c);
    __mmask16 gd = _mm512_cmp_ps_mask(d, m, _CMP_GT_OQ);
    w.max = _mm512_mask_blend_ps(gd, m, d);
    w.d = gd;
    w.c = (__mmask16)(gc & ~gd);
    w.b = (__mmask16)(gb & ~gc & ~gd);
    return w;
}

void rt_pool_avx512_max2x2_rows(const float *plane, int64_t w, int64_t wo, int64_t oy0, int64_t oy1,
                                float *y)
{
    for (int64_t oy = oy0; oy < oy1; oy++) {
        const float *r0 = plane + 2 * oy * w, *r1 = r0 + w;
        for (int64_t ox = 0; ox < wo; ox += 16) {
            int64_t n = wo - ox < 16 ? wo - ox : 16;
            window_max m = max_of(r0 + 2 * ox, r1 + 2 * ox, n);
            __mmask16 mn = n == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
            _mm512_mask_storeu_ps(y + oy * wo + ox, mn, m.max);
        }
    }
}

void rt_pool_avx512_max2x2_backward(const float *plane, int64_t w, int64_t wo, int64_t ho,
                                    const float *dy, bool relu, float *dx)
{
    const __m512 zero = _mm512_setzero_ps();
    for (int64_t oy = 0; oy < ho; oy++) {
        const float *r0 = plane + 2 * oy * w, *r1 = r0 + w;
        float *d0 = dx + 2 * oy * w, *d1 = d0 + w;
        for (int64_t ox = 0; ox < wo; ox += 16) {
            int64_t n = wo - ox < 16 ? wo - ox : 16;
            window_max m = max_of(r0 + 2 * ox, r1 + 2 * ox, n);
            __mmask16 mn = n == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
            __m512 g = _mm512_maskz_loadu_ps(mn, dy + oy * wo + ox);
            if (relu)
                g = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(m.max, zero, _CMP_GT_OQ), g);
            __mmask16 a = (__mmask16)~(m.b | m.c | m.d);
            store_pairs(d0 + 2 * ox, n, _mm512_maskz_mov_ps(a, g), _mm512_maskz_mov_ps(m.b, g));
            store_pairs(d1 + 2 * ox, n, _mm512_maskz_mov_ps(m.c, g), _mm512_maskz_mov_ps(m.d, g));
        }
    }
}
