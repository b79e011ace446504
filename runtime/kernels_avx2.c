/* kernels_avx2.c — the AVX2 + FMA path of the elementwise, softmax and
 * dropout kernels (kernels.c dispatches here when rt_isa_current() says
 * RT_ISA_AVX2). AVX2 has no masked loads for every case we need, so a tail
 * shorter than 8 is copied into a padded stack vector, run through the same
 * vector code, and copied back: every element sees the same arithmetic.
 *
 * exp and tanh are the same polynomials as the AVX-512 path (exp <= 1 ulp,
 * tanh <= 2.5 ulp, sigmoid <= 2.9 ulp; see kernels_avx512.c); only the 2^n
 * scaling differs, built from exponent bits in two halves because AVX2 has
 * no scalef, which gives the same bits wherever the result is normal.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels_internal.h"

#include "activations_avx2.h"

#define FORWARD_LOOP(op)                                                   \
    do {                                                                   \
        int64_t i = 0;                                                     \
        for (; i + 8 <= n; i += 8)                                         \
            _mm256_storeu_ps(y + i, op(_mm256_loadu_ps(x + i), alpha));    \
        if (i < n) {                                                       \
            float buf[8] = { 0 };                                          \
            size_t bytes = (size_t)(n - i) * sizeof(float);                \
            memcpy(buf, x + i, bytes);                                     \
            _mm256_storeu_ps(buf, op(_mm256_loadu_ps(buf), alpha));        \
            memcpy(y + i, buf, bytes);                                     \
        }                                                                  \
    } while (0)

// x (n), y (n)
void rt_avx2_act_forward(rt_act act, float alpha, int64_t n, const float *x, float *y)
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

static inline __m256 bwd_relu(__m256 x, __m256 y, __m256 dy, float alpha)
{
    (void)y, (void)alpha;
    return _mm256_and_ps(_mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ), dy);
}

static inline __m256 bwd_leaky(__m256 x, __m256 y, __m256 dy, float alpha)
{
    (void)y;
    __m256 pos = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ);
    return _mm256_blendv_ps(_mm256_mul_ps(dy, _mm256_set1_ps(alpha)), dy, pos);
}

/* s + x s (1 - s) v'(x), v = gelu_inner8(x) */
static inline __m256 bwd_gelu(__m256 x, __m256 y, __m256 dy, float alpha)
{
    (void)y, (void)alpha;
    __m256 one_minus;
    __m256 s = sigmoid8(gelu_inner8(x), &one_minus);
    __m256 x2 = _mm256_mul_ps(x, x);
    __m256 dv = _mm256_fmadd_ps(x2, _mm256_set1_ps(2.0f * GELU_K * 3.0f * GELU_C),
                                _mm256_set1_ps(2.0f * GELU_K));
    __m256 g = _mm256_mul_ps(_mm256_mul_ps(x, s), _mm256_mul_ps(one_minus, dv));
    return _mm256_mul_ps(dy, _mm256_add_ps(s, g));
}

static inline __m256 bwd_tanh(__m256 x, __m256 y, __m256 dy, float alpha)
{
    (void)x, (void)alpha;
    return _mm256_mul_ps(dy, _mm256_fnmadd_ps(y, y, _mm256_set1_ps(1.0f)));
}

static inline __m256 bwd_sigmoid(__m256 x, __m256 y, __m256 dy, float alpha)
{
    (void)x, (void)alpha;
    return _mm256_mul_ps(_mm256_mul_ps(dy, y), _mm256_sub_ps(_mm256_set1_ps(1.0f), y));
}

/* s + x s (1 - s), from x */
static inline __m256 bwd_silu(__m256 x, __m256 y, __m256 dy, float alpha)
{
    (void)y, (void)alpha;
    __m256 one_minus;
    __m256 s = sigmoid8(x, &one_minus);
    return _mm256_mul_ps(dy, _mm256_add_ps(s, _mm256_mul_ps(_mm256_mul_ps(x, s), one_minus)));
}

#define BACKWARD_LOOP(op)                                                          \
    do {                                                                           \
        int64_t i = 0;                                                             \
        for (; i + 8 <= n; i += 8)                                                 \
            _mm256_storeu_ps(dx + i, op(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), \
                                        _mm256_loadu_ps(dy + i), alpha));          \
        if (i < n) {                                                               \
            float bx[8] = { 0 }, by[8] = { 0 }, bdy[8] = { 0 };                    \
            size_t bytes = (size_t)(n - i) * sizeof(float);                        \
            memcpy(bx, x + i, bytes);                                              \
            memcpy(by, y + i, bytes);                                              \
            memcpy(bdy, dy + i, bytes);                                            \
            _mm256_storeu_ps(bdy, op(_mm256_loadu_ps(bx), _mm256_loadu_ps(by),     \
                                     _mm256_loadu_ps(bdy), alpha));                \
            memcpy(dx + i, bdy, bytes);                                            \
        }                                                                          \
    } while (0)

// x, y, dy, dx (n)
void rt_avx2_act_backward(rt_act act, float alpha, int64_t n, const float *x,
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

static inline float hmax8(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

static inline __m256d add_halves_pd(__m256d sum, __m256 e)
{
    sum = _mm256_add_pd(sum, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    return _mm256_add_pd(sum, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
}

/* x (cols) -> y (cols); returns max + log(sum exp(x - max)), sum in double.
 * The tail vector is padded with -inf, whose exp is 0. */
double rt_avx2_softmax_row(int64_t cols, const float *x, float *y)
{
    int64_t full = cols & ~(int64_t)7, rest = cols - full;
    float tail[8];
    for (int k = 0; k < 8; k++)
        tail[k] = k < rest ? x[full + k] : -INFINITY;

    __m256 vmax = _mm256_loadu_ps(tail);
    for (int64_t j = 0; j < full; j += 8)
        vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + j));
    float max = hmax8(vmax);
    __m256 vm = _mm256_set1_ps(max);

    __m256d sum4 = _mm256_setzero_pd();
    for (int64_t j = 0; j < full; j += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), vm));
        _mm256_storeu_ps(y + j, e);
        sum4 = add_halves_pd(sum4, e);
    }
    __m256 e_tail = exp8(_mm256_sub_ps(_mm256_loadu_ps(tail), vm));
    sum4 = add_halves_pd(sum4, e_tail);
    double lanes[4];
    _mm256_storeu_pd(lanes, sum4);
    double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);

    __m256 inv = _mm256_set1_ps((float)(1.0 / sum));
    for (int64_t j = 0; j < full; j += 8)
        _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_loadu_ps(y + j), inv));
    _mm256_storeu_ps(tail, _mm256_mul_ps(e_tail, inv));
    memcpy(y + full, tail, (size_t)rest * sizeof(float));
    return (double)max + log(sum);
}

/* Low 64 bits of a * c per lane, from three 32x32 -> 64 products (AVX2 has
 * no 64-bit multiply). */
static inline __m256i mul64(__m256i a, uint64_t c)
{
    const __m256i c_lo = _mm256_set1_epi64x((int64_t)(c & 0xffffffffu));
    const __m256i c_hi = _mm256_set1_epi64x((int64_t)(c >> 32));
    __m256i lo = _mm256_mul_epu32(a, c_lo);
    __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), c_lo),
                                     _mm256_mul_epu32(a, c_hi));
    return _mm256_add_epi64(lo, _mm256_slli_epi64(cross, 32));
}

/* Top 24 bits of SplitMix64's mix of each of 4 Weyl points. */
static inline __m256i top24(__m256i z)
{
    z = _mm256_xor_si256(z, _mm256_srli_epi64(z, 30));
    z = mul64(z, RT_RNG_MUL1);
    z = _mm256_xor_si256(z, _mm256_srli_epi64(z, 27));
    z = mul64(z, RT_RNG_MUL2);
    z = _mm256_xor_si256(z, _mm256_srli_epi64(z, 31));
    return _mm256_srli_epi64(z, 40);
}

/* Keep mask (all ones per kept float) of 8 elements whose Weyl points are
 * z_lo (elements 0-3) and z_hi (4-7). */
static inline __m256 keep8(__m256i z_lo, __m256i z_hi, __m256i thr_minus_1)
{
    /* Gather the low 32-bit halves: [lo0 lo1 hi0 hi1 | lo2 lo3 hi2 hi3],
     * then put the 64-bit pairs back in element order. */
    __m256 packed = _mm256_shuffle_ps(_mm256_castsi256_ps(top24(z_lo)),
                                      _mm256_castsi256_ps(top24(z_hi)), _MM_SHUFFLE(2, 0, 2, 0));
    __m256i k = _mm256_permute4x64_epi64(_mm256_castps_si256(packed), _MM_SHUFFLE(3, 1, 2, 0));
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(k, thr_minus_1));
}

// in [begin,end) -> out [begin,end)
void rt_avx2_dropout(int64_t begin, int64_t end, uint64_t key, uint32_t threshold,
                     float scale, const float *in, float *out)
{
    /* k and threshold are below 2^24 + 1, so a signed compare is exact. */
    const __m256i thr = _mm256_set1_epi32((int32_t)threshold - 1);
    const __m256i step4 = _mm256_set1_epi64x((int64_t)(4 * RT_RNG_WEYL));
    const __m256 vscale = _mm256_set1_ps(scale);
    uint64_t base = key + (uint64_t)begin * RT_RNG_WEYL;
    __m256i z = _mm256_set_epi64x((int64_t)(base + 3 * RT_RNG_WEYL), (int64_t)(base + 2 * RT_RNG_WEYL),
                                  (int64_t)(base + RT_RNG_WEYL), (int64_t)base);
    int64_t i = begin;
    for (; i + 8 <= end; i += 8) {
        __m256i z_hi = _mm256_add_epi64(z, step4);
        __m256 keep = keep8(z, z_hi, thr);
        _mm256_storeu_ps(out + i, _mm256_and_ps(keep, _mm256_mul_ps(_mm256_loadu_ps(in + i), vscale)));
        z = _mm256_add_epi64(z_hi, step4);
    }
    if (i < end) {
        float buf[8] = { 0 };
        size_t bytes = (size_t)(end - i) * sizeof(float);
        memcpy(buf, in + i, bytes);
        __m256 keep = keep8(z, _mm256_add_epi64(z, step4), thr);
        _mm256_storeu_ps(buf, _mm256_and_ps(keep, _mm256_mul_ps(_mm256_loadu_ps(buf), vscale)));
        memcpy(out + i, buf, bytes);
    }
}

/* ---------------------------------------------------------- optimizers */

/* The optimizer updates mirror optim.c's portable loops operation for
 * operation (no FMA), so every path gives the same bits. Each update is
 * written for 8 elements at pointers that hold 8; the tail runs the same
 * code on padded stack copies. */

typedef struct sgd_consts {
    __m256 lr, wd, mu;
    bool with_momentum, first_step, nesterov;
} sgd_consts;

static inline void sgd8(const sgd_consts *c, float *p, const float *g, float *buf)
{
    __m256 pi = _mm256_loadu_ps(p);
    __m256 grad = _mm256_add_ps(_mm256_loadu_ps(g), _mm256_mul_ps(c->wd, pi));
    __m256 d = grad;
    if (c->with_momentum) {
        __m256 b = c->first_step ? grad
                                 : _mm256_add_ps(_mm256_mul_ps(c->mu, _mm256_loadu_ps(buf)), grad);
        _mm256_storeu_ps(buf, b);
        d = c->nesterov ? _mm256_add_ps(grad, _mm256_mul_ps(c->mu, b)) : b;
    }
    _mm256_storeu_ps(p, _mm256_sub_ps(pi, _mm256_mul_ps(c->lr, d)));
}

// p, g, buf (n)
void rt_avx2_sgd(const rt_update *u, int64_t n, float *p, const float *g, float *buf)
{
    const sgd_consts c = { .lr = _mm256_set1_ps(u->lr), .wd = _mm256_set1_ps(u->weight_decay),
                           .mu = _mm256_set1_ps(u->momentum), .with_momentum = u->momentum != 0.0f,
                           .first_step = u->first_step, .nesterov = u->nesterov };
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        sgd8(&c, p + i, g + i, c.with_momentum ? buf + i : NULL);
    if (i < n) {
        float bp[8] = { 0 }, bg[8] = { 0 }, bb[8] = { 0 };
        size_t bytes = (size_t)(n - i) * sizeof(float);
        memcpy(bp, p + i, bytes);
        memcpy(bg, g + i, bytes);
        if (c.with_momentum)
            memcpy(bb, buf + i, bytes);
        sgd8(&c, bp, bg, bb);
        memcpy(p + i, bp, bytes);
        if (c.with_momentum)
            memcpy(buf + i, bb, bytes);
    }
}

typedef struct adam_consts {
    __m256 wd, keep, b1c, b2, b2c, step, bc2, eps;
} adam_consts;

static inline void adam8(const adam_consts *c, float *p, const float *g, float *m, float *v)
{
    __m256 pi = _mm256_loadu_ps(p), mi = _mm256_loadu_ps(m), vi = _mm256_loadu_ps(v);
    __m256 grad = _mm256_add_ps(_mm256_loadu_ps(g), _mm256_mul_ps(c->wd, pi));
    __m256 decayed = _mm256_mul_ps(pi, c->keep);
    mi = _mm256_add_ps(mi, _mm256_mul_ps(c->b1c, _mm256_sub_ps(grad, mi)));
    vi = _mm256_add_ps(_mm256_mul_ps(c->b2, vi), _mm256_mul_ps(_mm256_mul_ps(c->b2c, grad), grad));
    _mm256_storeu_ps(m, mi);
    _mm256_storeu_ps(v, vi);
    __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), c->bc2), c->eps);
    __m256 upd = _mm256_mul_ps(c->step, _mm256_div_ps(mi, denom));
    _mm256_storeu_ps(p, _mm256_sub_ps(decayed, upd));
}

// p, g, m, v (n)
void rt_avx2_adam(const rt_update *u, int64_t n, float *p, const float *g, float *m, float *v)
{
    const adam_consts c = {
        .wd = _mm256_set1_ps(u->weight_decay), .keep = _mm256_set1_ps(u->keep),
        .b1c = _mm256_set1_ps(u->one_minus_beta1), .b2 = _mm256_set1_ps(u->beta2),
        .b2c = _mm256_set1_ps(u->one_minus_beta2), .step = _mm256_set1_ps(u->step_size),
        .bc2 = _mm256_set1_ps(u->bc2_sqrt), .eps = _mm256_set1_ps(u->eps),
    };
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        adam8(&c, p + i, g + i, m + i, v + i);
    if (i < n) {
        float bp[8] = { 0 }, bg[8] = { 0 }, bm[8] = { 0 }, bv[8] = { 0 };
        size_t bytes = (size_t)(n - i) * sizeof(float);
        memcpy(bp, p + i, bytes);
        memcpy(bg, g + i, bytes);
        memcpy(bm, m + i, bytes);
        memcpy(bv, v + i, bytes);
        adam8(&c, bp, bg, bm, bv);
        memcpy(p + i, bp, bytes);
        memcpy(m + i, bm, bytes);
        memcpy(v + i, bv, bytes);
    }
}

typedef struct rmsprop_consts {
    __m256 lr, wd, a, ac, eps, mu;
    bool with_momentum;
} rmsprop_consts;

static inline void rmsprop8(const rmsprop_consts *c, float *p, const float *g, float *sq, float *buf)
{
    __m256 pi = _mm256_loadu_ps(p);
    __m256 grad = _mm256_add_ps(_mm256_loadu_ps(g), _mm256_mul_ps(c->wd, pi));
    __m256 s = _mm256_add_ps(_mm256_mul_ps(c->a, _mm256_loadu_ps(sq)),
                             _mm256_mul_ps(_mm256_mul_ps(c->ac, grad), grad));
    _mm256_storeu_ps(sq, s);
    __m256 d = _mm256_div_ps(grad, _mm256_add_ps(_mm256_sqrt_ps(s), c->eps));
    if (c->with_momentum) {
        d = _mm256_add_ps(_mm256_mul_ps(c->mu, _mm256_loadu_ps(buf)), d);
        _mm256_storeu_ps(buf, d);
    }
    _mm256_storeu_ps(p, _mm256_sub_ps(pi, _mm256_mul_ps(c->lr, d)));
}

// p, g, sq, buf (n)
void rt_avx2_rmsprop(const rt_update *u, int64_t n, float *p, const float *g, float *sq, float *buf)
{
    const rmsprop_consts c = { .lr = _mm256_set1_ps(u->lr), .wd = _mm256_set1_ps(u->weight_decay),
                               .a = _mm256_set1_ps(u->alpha), .ac = _mm256_set1_ps(u->one_minus_alpha),
                               .eps = _mm256_set1_ps(u->eps), .mu = _mm256_set1_ps(u->momentum),
                               .with_momentum = u->momentum > 0.0f };
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        rmsprop8(&c, p + i, g + i, sq + i, c.with_momentum ? buf + i : NULL);
    if (i < n) {
        float bp[8] = { 0 }, bg[8] = { 0 }, bs[8] = { 0 }, bb[8] = { 0 };
        size_t bytes = (size_t)(n - i) * sizeof(float);
        memcpy(bp, p + i, bytes);
        memcpy(bg, g + i, bytes);
        memcpy(bs, sq + i, bytes);
        if (c.with_momentum)
            memcpy(bb, buf + i, bytes);
        rmsprop8(&c, bp, bg, bs, bb);
        memcpy(p + i, bp, bytes);
        memcpy(sq + i, bs, bytes);
        if (c.with_momentum)
            memcpy(buf + i, bb, bytes);
    }
}
