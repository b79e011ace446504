/* kernels_internal.h — private to libnetrt: what the portable kernels
 * (kernels.c, rng.c) share with their instruction-set variants
 * (kernels_avx2.c, kernels_avx512.c). Not installed, not for generated code.
 *
 * The SIMD entry points below are only called after kernels.c has checked
 * rt_isa_current(); each works on one contiguous chunk, so the threading and
 * the chunking (which decide the results' bits) stay in kernels.c.
 */
#ifndef KERNELS_INTERNAL_H
#define KERNELS_INTERNAL_H

#include "netrt.h"

/* ------------------------------------------------------------- random */

/* The counter-based generator is SplitMix64's output function applied to a
 * Weyl sequence whose start is a hash of the seed:
 *   rt_rand_u64(seed, c) = rt_rng_mix(rt_rng_key(seed) + c * RT_RNG_WEYL)
 * The SIMD dropout kernels rebuild the same bits lane by lane. */
#define RT_RNG_WEYL 0x9e3779b97f4a7c15ull
#define RT_RNG_MUL1 0xbf58476d1ce4e5b9ull
#define RT_RNG_MUL2 0x94d049bb133111ebull

static inline uint64_t rt_rng_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * RT_RNG_MUL1;
    z = (z ^ (z >> 27)) * RT_RNG_MUL2;
    return z ^ (z >> 31);
}

uint64_t rt_rng_key(uint64_t seed);

/* ---------------------------------------------------- SIMD entry points */

/* y (n) = act(x) */
void rt_avx512_act_forward(rt_act act, float alpha, int64_t n, const float *x, float *y);
void rt_avx2_act_forward(rt_act act, float alpha, int64_t n, const float *x, float *y);
/* dx (n) = dy * act'(x); dx may alias dy */
void rt_avx512_act_backward(rt_act act, float alpha, int64_t n, const float *x,
                            const float *y, const float *dy, float *dx);
void rt_avx2_act_backward(rt_act act, float alpha, int64_t n, const float *x,
                          const float *y, const float *dy, float *dx);

/* One row: x (cols) -> y (cols) = softmax(x). Returns log(sum(exp(x))),
 * computed as max + log(sum exp(x - max)) with the sum in double. */
double rt_avx512_softmax_row(int64_t cols, const float *x, float *y);
double rt_avx2_softmax_row(int64_t cols, const float *x, float *y);

/* out[i] = keep(i) ? in[i] * scale : 0 for i in [begin, end), where keep(i)
 * tests the top 24 bits of rt_rng_mix(key + i * RT_RNG_WEYL) against
 * threshold; in and out point at element 0 of the whole call. */
void rt_avx512_dropout(int64_t begin, int64_t end, uint64_t key, uint32_t threshold,
                       float scale, const float *in, float *out);
void rt_avx2_dropout(int64_t begin, int64_t end, uint64_t key, uint32_t threshold,
                     float scale, const float *in, float *out);

#endif
