/* kernels_avx512.c — the AVX-512 path of the elementwise, softmax and
 * dropout kernels (kernels.c dispatches here when rt_isa_current() says
 * RT_ISA_AVX512). Tails use masked loads and stores, so every element goes
 * through the same vector code.
 *
 * exp and tanh are polynomial (see exp16 and tanh16). Measured on every
 * float of each range against the double-precision result of libm:
 *   exp      [-87.3, 88.7]  <= 0.98 ulp   (relative 8.3e-8)
 *   tanh     [-10, 10]      <= 2.5 ulp    (relative 1.8e-7)
 *   sigmoid  [-87, 20]      <= 2.9 ulp    (relative 2.0e-7)
 *   gelu     [-3, 10]       <= 14 ulp     (relative 9.2e-7)
 * gelu below -3 loses relative precision in proportion to |2u|, because
 * u = sqrt(2/pi)(x + 0.044715 x^3) is rounded to float before exp(-2u)
 * (relative 1.3e-5 at x = -10, where gelu is 1e-37); its absolute error
 * stays below 4e-9 everywhere. The AVX2 path gives the same bits for
 * normal results. tests/test_rt_kernels.c pins relative 1e-6 for tanh and
 * sigmoid on sampled sweeps.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels_internal.h"

/* log(2) split so n * LN2_HI is exact enough under FMA and LN2_LO mops up
 * the rest (Cody & Waite). */
#include "activations_avx512.h"

#define FORWARD_LOOP(op)                                                          \
    do {                                                                          \
        int64_t i = 0;                                                            \
        for (; i + 16 <= n; i += 16)                                              \
            _mm512_storeu_ps(y + i, op(_mm512_loadu_ps(x + i), alpha));           \
        if (i < n) {                                                              \
            __mmask16 m = tail_mask(n - i);                                       \
            _mm512_mask_storeu_ps(y + i, m, op(_mm512_maskz_loadu_ps(m, x + i), alpha)); \
        }                                                                         \
    } while (0)

// x (n), y (n)
void rt_avx512_act_forward(rt_act act, float alpha, int64_t n, const float *x, float *y)
{
    switch (act) {
    case RT_ACT_NONE:
        if (x != y)
            memmove(y, x, (size_t)n * sizeof *y);
        break;
    case RT_ACT_RELU:
        FORWARD_LOOP(fwd_relu);
        break;
    case RT_ACT_LEAKY_RELU:
        FORWARD_LOOP(fwd_leaky);
        break;
    case RT_ACT_GELU:
        FORWARD_LOOP(fwd_gelu);
        break;
    case RT_ACT_TANH:
        FORWARD_LOOP(fwd_tanh);
        break;
    case RT_ACT_SIGMOID:
        FORWARD_LOOP(fwd_sigmoid);
        break;
    case RT_ACT_SILU:
        FORWARD_LOOP(fwd_silu);
        break;
    }
}

static inline __m512 bwd_relu(__m512 x, __m512 y, __m512 dy, float alpha)
{
    (void)y, (void)alpha;
    __mmask16 pos = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ);
    return _mm512_maskz_mov_ps(pos, dy);
}

static inline __m512 bwd_leaky(__m512 x, __m512 y, __m512 dy, float alpha)
{
    (void)y;
    __mmask16 pos = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ);
    return _mm512_mask_blend_ps(pos, _mm512_mul_ps(dy, _mm512_set1_ps(alpha)), dy);
}

/* s + x s (1 - s) v'(x), v = gelu_inner16(x) */
static inline __m512 bwd_gelu(__m512 x, __m512 y, __m512 dy, float alpha)
{
    (void)y, (void)alpha;
    __m512 one_minus;
    __m512 s = sigmoid16(gelu_inner16(x), &one_minus);
    __m512 x2 = _mm512_mul_ps(x, x);
    __m512 dv = _mm512_fmadd_ps(x2, _mm512_set1_ps(2.0f * GELU_K * 3.0f * GELU_C),
                                _mm512_set1_ps(2.0f * GELU_K));
    __m512 g = _mm512_mul_ps(_mm512_mul_ps(x, s), _mm512_mul_ps(one_minus, dv));
    return _mm512_mul_ps(dy, _mm512_add_ps(s, g));
}

static inline __m512 bwd_tanh(__m512 x, __m512 y, __m512 dy, float alpha)
{
    (void)x, (void)alpha;
    return _mm512_mul_ps(dy, _mm512_fnmadd_ps(y, y, _mm512_set1_ps(1.0f)));
}

static inline __m512 bwd_sigmoid(__m512 x, __m512 y, __m512 dy, float alpha)
{
    (void)x, (void)alpha;
    return _mm512_mul_ps(_mm512_mul_ps(dy, y), _mm512_sub_ps(_mm512_set1_ps(1.0f), y));
}

/* s + x s (1 - s), from x */
static inline __m512 bwd_silu(__m512 x, __m512 y, __m512 dy, float alpha)
{
    (void)y, (void)alpha;
    __m512 one_minus;
    __m512 s = sigmoid16(x, &one_minus);
    return _mm512_mul_ps(dy, _mm512_add_ps(s, _mm512_mul_ps(_mm512_mul_ps(x, s), one_minus)));
}

#define BACKWARD_LOOP(op)                                                         \
    do {                                                                          \
        int64_t i = 0;                                                            \
        for (; i + 16 <= n; i += 16)                                              \
            _mm512_storeu_ps(dx + i, op(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), \
                                        _mm512_loadu_ps(dy + i), alpha));         \
        if (i < n) {                                                              \
            __mmask16 m = tail_mask(n - i);                                       \
            __m512 v = op(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i), \
                          _mm512_maskz_loadu_ps(m, dy + i), alpha);               \
            _mm512_mask_storeu_ps(dx + i, m, v);                                  \
        }                                                                         \
    } while (0)

// x, y, dy, dx (n)
void rt_avx512_act_backward(rt_act act, float alpha, int64_t n, const float *x,
                            const float *y, const float *dy, float *dx)
{
    switch (act) {
    case RT_ACT_NONE:
        if (dy != dx)
            memmove(dx, dy, (size_t)n * sizeof *dx);
        break;
    case RT_ACT_RELU:
        BACKWARD_LOOP(bwd_relu);
        break;
    case RT_ACT_LEAKY_RELU:
        BACKWARD_LOOP(bwd_leaky);
        break;
    case RT_ACT_GELU:
        BACKWARD_LOOP(bwd_gelu);
        break;
    case RT_ACT_TANH:
        BACKWARD_LOOP(bwd_tanh);
        break;
    case RT_ACT_SIGMOID:
        BACKWARD_LOOP(bwd_sigmoid);
        break;
    case RT_ACT_SILU:
        BACKWARD_LOOP(bwd_silu);
        break;
    }
}

/* x (cols) -> y (cols); returns max + log(sum exp(x - max)), sum in double. */
double rt_avx512_softmax_row(int64_t cols, const float *x, float *y)
{
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    int64_t j = 0;
    for (; j + 16 <= cols; j += 16)
        vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(x + j));
    if (j < cols)
        vmax = _mm512_max_ps(vmax, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY),
                                                         tail_mask(cols - j), x + j));
    float max = _mm512_reduce_max_ps(vmax);
    __m512 vm = _mm512_set1_ps(max);

    __m512d sum_lo = _mm512_setzero_pd(), sum_hi = _mm512_setzero_pd();
    for (j = 0; j + 16 <= cols; j += 16) {
        __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + j), vm));
        _mm512_storeu_ps(y + j, e);
        sum_lo = _mm512_add_pd(sum_lo, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        sum_hi = _mm512_add_pd(sum_hi, _mm512_cvtps_pd(_mm256_castpd_ps(
                                           _mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    if (j < cols) {
        __mmask16 m = tail_mask(cols - j);
        __m512 e = _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), vm)));
        _mm512_mask_storeu_ps(y + j, m, e);
        sum_lo = _mm512_add_pd(sum_lo, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        sum_hi = _mm512_add_pd(sum_hi, _mm512_cvtps_pd(_mm256_castpd_ps(
                                           _mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    double sum = _mm512_reduce_add_pd(_mm512_add_pd(sum_lo, sum_hi));

    __m512 inv = _mm512_set1_ps((float)(1.0 / sum));
    for (j = 0; j + 16 <= cols; j += 16)
        _mm512_storeu_ps(y + j, _mm512_mul_ps(_mm512_loadu_ps(y + j), inv));
    if (j < cols) {
        __mmask16 m = tail_mask(cols - j);
        _mm512_mask_storeu_ps(y + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, y + j), inv));
    }
    return (double)max + log(sum);
}

/* Which of 8 Weyl points z keep their element: the top 24 bits of
 * SplitMix64's mix of z, compared with the threshold. */
static inline __mmask8 keep8(__m512i z, __m512i threshold)
{
    z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 30));
    z = _mm512_mullo_epi64(z, _mm512_set1_epi64((int64_t)RT_RNG_MUL1));
    z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 27));
    z = _mm512_mullo_epi64(z, _mm512_set1_epi64((int64_t)RT_RNG_MUL2));
    z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
    return _mm512_cmpge_epu64_mask(_mm512_srli_epi64(z, 40), threshold);
}

// in [begin,end) -> out [begin,end)
void rt_avx512_dropout(int64_t begin, int64_t end, uint64_t key, uint32_t threshold,
                       float scale, const float *in, float *out)
{
    const __m512i lane = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i step8 = _mm512_set1_epi64((int64_t)(8 * RT_RNG_WEYL));
    const __m512i thr = _mm512_set1_epi64(threshold);
    const __m512 vscale = _mm512_set1_ps(scale);
    /* Lane l of z holds key + (i + l) * WEYL, advanced by 8 * WEYL per 8 elements. */
    __m512i z = _mm512_add_epi64(_mm512_set1_epi64((int64_t)(key + (uint64_t)begin * RT_RNG_WEYL)),
                                 _mm512_mullo_epi64(lane, _mm512_set1_epi64((int64_t)RT_RNG_WEYL)));
    int64_t i = begin;
    for (; i + 16 <= end; i += 16) {
        __m512i z_hi = _mm512_add_epi64(z, step8);
        __mmask16 keep = (__mmask16)(keep8(z, thr) | ((unsigned)keep8(z_hi, thr) << 8));
        _mm512_storeu_ps(out + i, _mm512_maskz_mul_ps(keep, _mm512_loadu_ps(in + i), vscale));
        z = _mm512_add_epi64(z_hi, step8);
    }
    if (i < end) {
        __mmask16 m = tail_mask(end - i);
        __m512i z_hi = _mm512_add_epi64(z, step8);
        __mmask16 keep = (__mmask16)(keep8(z, thr) | ((unsigned)keep8(z_hi, thr) << 8));
        _mm512_mask_storeu_ps(out + i, m,
                              _mm512_maskz_mul_ps(keep & m, _mm512_maskz_loadu_ps(m, in + i), vscale));
    }
}

/* ---------------------------------------------------------- optimizers */

/* The optimizer updates mirror optim.c's portable loops operation for
 * operation (no FMA), so every path gives the same bits. Tails are masked. */

static inline __mmask16 block_mask(int64_t remaining)
{
    return remaining >= 16 ? (__mmask16)0xffff : tail_mask(remaining);
}

// p, g, buf (n)
void rt_avx512_sgd(const rt_update *u, int64_t n, float *p, const float *g, float *buf)
{
    const __m512 lr = _mm512_set1_ps(u->lr), wd = _mm512_set1_ps(u->weight_decay);
    const __m512 mu = _mm512_set1_ps(u->momentum);
    const bool with_momentum = u->momentum != 0.0f;
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = block_mask(n - i);
        __m512 pi = _mm512_maskz_loadu_ps(m, p + i);
        __m512 grad = _mm512_add_ps(_mm512_maskz_loadu_ps(m, g + i), _mm512_mul_ps(wd, pi));
        __m512 d = grad;
        if (with_momentum) {
            __m512 b = u->first_step
                           ? grad
                           : _mm512_add_ps(_mm512_mul_ps(mu, _mm512_maskz_loadu_ps(m, buf + i)), grad);
            _mm512_mask_storeu_ps(buf + i, m, b);
            d = u->nesterov ? _mm512_add_ps(grad, _mm512_mul_ps(mu, b)) : b;
        }
        _mm512_mask_storeu_ps(p + i, m, _mm512_sub_ps(pi, _mm512_mul_ps(lr, d)));
    }
}

// p, g, m, v (n)
void rt_avx512_adam(const rt_update *u, int64_t n, float *p, const float *g, float *m, float *v)
{
    const __m512 wd = _mm512_set1_ps(u->weight_decay), keep = _mm512_set1_ps(u->keep);
    const __m512 b1c = _mm512_set1_ps(u->one_minus_beta1), b2 = _mm512_set1_ps(u->beta2);
    const __m512 b2c = _mm512_set1_ps(u->one_minus_beta2), step = _mm512_set1_ps(u->step_size);
    const __m512 bc2 = _mm512_set1_ps(u->bc2_sqrt), eps = _mm512_set1_ps(u->eps);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = block_mask(n - i);
        __m512 pi = _mm512_maskz_loadu_ps(k, p + i);
        __m512 mi = _mm512_maskz_loadu_ps(k, m + i), vi = _mm512_maskz_loadu_ps(k, v + i);
        __m512 grad = _mm512_add_ps(_mm512_maskz_loadu_ps(k, g + i), _mm512_mul_ps(wd, pi));
        __m512 decayed = _mm512_mul_ps(pi, keep);
        mi = _mm512_add_ps(mi, _mm512_mul_ps(b1c, _mm512_sub_ps(grad, mi)));
        vi = _mm512_add_ps(_mm512_mul_ps(b2, vi), _mm512_mul_ps(_mm512_mul_ps(b2c, grad), grad));
        _mm512_mask_storeu_ps(m + i, k, mi);
        _mm512_mask_storeu_ps(v + i, k, vi);
        __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vi), bc2), eps);
        __m512 upd = _mm512_mul_ps(step, _mm512_div_ps(mi, denom));
        _mm512_mask_storeu_ps(p + i, k, _mm512_sub_ps(decayed, upd));
    }
}

// p, g, sq, buf (n)
void rt_avx512_rmsprop(const rt_update *u, int64_t n, float *p, const float *g, float *sq, float *buf)
{
    const __m512 lr = _mm512_set1_ps(u->lr), wd = _mm512_set1_ps(u->weight_decay);
    const __m512 a = _mm512_set1_ps(u->alpha), ac = _mm512_set1_ps(u->one_minus_alpha);
    const __m512 eps = _mm512_set1_ps(u->eps), mu = _mm512_set1_ps(u->momentum);
    const bool with_momentum = u->momentum > 0.0f;
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = block_mask(n - i);
        __m512 pi = _mm512_maskz_loadu_ps(k, p + i);
        __m512 grad = _mm512_add_ps(_mm512_maskz_loadu_ps(k, g + i), _mm512_mul_ps(wd, pi));
        __m512 s = _mm512_add_ps(_mm512_mul_ps(a, _mm512_maskz_loadu_ps(k, sq + i)),
                                 _mm512_mul_ps(_mm512_mul_ps(ac, grad), grad));
        _mm512_mask_storeu_ps(sq + i, k, s);
        __m512 d = _mm512_div_ps(grad, _mm512_add_ps(_mm512_sqrt_ps(s), eps));
        if (with_momentum) {
            d = _mm512_add_ps(_mm512_mul_ps(mu, _mm512_maskz_loadu_ps(k, buf + i)), d);
            _mm512_mask_storeu_ps(buf + i, k, d);
        }
        _mm512_mask_storeu_ps(p + i, k, _mm512_sub_ps(pi, _mm512_mul_ps(lr, d)));
    }
}
