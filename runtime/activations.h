/* activations.h — every activation, in one place. For each row
 * X(ENUM, name) of netrt.h's RT_ACT_LIST this file holds four formulas
 * named after it:
 *   act_<name>(x, alpha)              one float: the portable activation
 *                                     kernel and the portable GEMM epilogue
 *   dact_<name>(x, y, dy, alpha)      dy times its derivative, one float, from
 *                                     the input x or the output y
 *   fwd_<name>(VEC x, alpha)          the same in SIMD vectors: the vector
 *   bwd_<name>(VEC x, VEC y, VEC dy, alpha)  kernels (kernels_simd.h) and the
 *                                     vector GEMM epilogue (kernels_simd.h, gemm_epilogue_simd.h)
 * and every switch over rt_act is generated from the list (rt_act_scalar,
 * rt_act_vec, and the kernels' loops), so adding an
 * activation is a row in netrt.h and its four formulas here. The kernels
 * and the GEMM epilogue of one instruction set compute an activation by
 * the same function, so an activation fused into a dense or conv layer
 * gives the bits of the same activation on its own (tests/test_jit.c
 * holds them equal on every path the machine runs).
 *
 * The vector formulas (under `#ifdef VEC`) are seen by files that include
 * simd_avx512.h or simd_avx2.h first; they use the vector exp, tanh and
 * sigmoid of activations_simd.h. Accuracy: see kernels_simd.h. */
#ifndef ACTIVATIONS_H
#define ACTIVATIONS_H

#include <math.h>

#include "netrt.h"

/* gelu's tanh approximation: 0.5 x (1 + tanh(GELU_K (x + GELU_C x^3))). */
#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_C 0.044715f

/* Stable logistic: exp of a non-positive number never overflows, and for
 * x < 0 the result keeps full relative precision instead of 1 - (1 - s). */
static inline float sigmoid_scalar(float x)
{
    float t = expf(-fabsf(x));
    return x >= 0.0f ? 1.0f / (1.0f + t) : t / (1.0f + t);
}

/* gelu(x) = x * sigmoid(2u), since 0.5 (1 + tanh u) = sigmoid(2u); this form
 * does not cancel for large negative x where 1 + tanh(u) would. */
static inline float gelu_inner_scalar(float x)
{
    return 2.0f * GELU_K * (x + GELU_C * x * x * x);
}

/* dy (s + x s (1 - s) dv), s = sigmoid(v), with 1 - s taken as s(-v) so it
 * keeps its precision where s is near 1 (gelu: v = 2u, silu: v = x). */
static inline float dsigmoid_product_scalar(float x, float v, float dv, float dy)
{
    float t = expf(-fabsf(v));
    float s_pos = 1.0f / (1.0f + t), s_neg = t / (1.0f + t);
    float s = v >= 0.0f ? s_pos : s_neg;
    float one_minus_s = v >= 0.0f ? s_neg : s_pos;
    return dy * (s + x * s * one_minus_s * dv);
}

/* ------------------------------------------------- one float at a time */

/* ReLU's derivative at 0 is 0 and leaky ReLU's is alpha, as in PyTorch.
 * tanh and sigmoid use the output y, as PyTorch does; the others x. */

static inline float act_none(float x, float alpha) { (void)alpha; return x; }
static inline float dact_none(float x, float y, float dy, float alpha) { (void)x, (void)y, (void)alpha; return dy; }

/* relu keeps NaN and -0 (max(0, x) with x second, as the SIMD paths' maxps) */
static inline float act_relu(float x, float alpha) { (void)alpha; return 0.0f > x ? 0.0f : x; }
static inline float dact_relu(float x, float y, float dy, float alpha)
{
    (void)y, (void)alpha;
    return x > 0.0f ? dy : 0.0f;
}

static inline float act_leaky_relu(float x, float alpha) { return x > 0.0f ? x : alpha * x; }
static inline float dact_leaky_relu(float x, float y, float dy, float alpha)
{
    (void)y;
    return x > 0.0f ? dy : alpha * dy;
}

static inline float act_gelu(float x, float alpha) { (void)alpha; return x * sigmoid_scalar(gelu_inner_scalar(x)); }
static inline float dact_gelu(float x, float y, float dy, float alpha)
{
    (void)y, (void)alpha;
    float dv = 2.0f * GELU_K * (1.0f + 3.0f * GELU_C * x * x);
    return dsigmoid_product_scalar(x, gelu_inner_scalar(x), dv, dy);
}

static inline float act_tanh(float x, float alpha) { (void)alpha; return tanhf(x); }
static inline float dact_tanh(float x, float y, float dy, float alpha)
{
    (void)x, (void)alpha;
    return dy * (1.0f - y * y);
}

static inline float act_sigmoid(float x, float alpha) { (void)alpha; return sigmoid_scalar(x); }
static inline float dact_sigmoid(float x, float y, float dy, float alpha)
{
    (void)x, (void)alpha;
    return dy * y * (1.0f - y);
}

static inline float act_silu(float x, float alpha) { (void)alpha; return x * sigmoid_scalar(x); }
/* d/dx [x s(x)] = s + x s (1 - s) */
static inline float dact_silu(float x, float y, float dy, float alpha)
{
    (void)y, (void)alpha;
    float t = expf(-fabsf(x));
    float s_pos = 1.0f / (1.0f + t), s_neg = t / (1.0f + t);
    float s = x >= 0.0f ? s_pos : s_neg, one_minus_s = x >= 0.0f ? s_neg : s_pos;
    return dy * (s + x * s * one_minus_s);
}

/* x * min(max(x + 3, 0), 6) / 6, as PyTorch's hardswish; the derivative
 * is 0 below -3, 1 above 3 and x / 3 + 1/2 between (PyTorch's choice at
 * the kinks). x + 3 < 0 and x - 3 > 0 are exact tests of x < -3, x > 3.
 * NaN passes through, as relu's max(0, x) with x second. */
static inline float act_hardswish(float x, float alpha)
{
    (void)alpha;
    float t = x + 3.0f;
    t = 0.0f > t ? 0.0f : t;
    t = 6.0f < t ? 6.0f : t;
    return x * t / 6.0f;
}
static inline float dact_hardswish(float x, float y, float dy, float alpha)
{
    (void)y, (void)alpha;
    return x + 3.0f < 0.0f ? 0.0f : x - 3.0f > 0.0f ? dy : dy * (x / 3.0f + 0.5f);
}

/* The one switch over rt_act, as a function T fn(act, alpha, x) whose
 * cases CASE(E, name) return the activation of x: rt_act_scalar below,
 * rt_act_vec for vectors. */
#define RT_ACT_DISPATCH(T, fn, CASE)                   \
    static inline T fn(rt_act act, float alpha, T x)   \
    {                                                  \
        switch (act) { RT_ACT_LIST(CASE) }             \
        return x;                                      \
    }

/* One activation of x. */
#define RT_ACT_CASE_SCALAR(E, name) case RT_ACT_##E: return act_##name(x, alpha);
RT_ACT_DISPATCH(float, rt_act_scalar, RT_ACT_CASE_SCALAR)

#endif

/* ------------------------------------------------------ SIMD vectors */

#if defined(VEC) && !defined(ACTIVATIONS_VEC_H)
#define ACTIVATIONS_VEC_H

#include "activations_simd.h"

static inline VEC fwd_none(VEC x, float alpha) { (void)alpha; return x; }
static inline VEC bwd_none(VEC x, VEC y, VEC dy, float alpha) { (void)x, (void)y, (void)alpha; return dy; }

static inline VEC fwd_relu(VEC x, float alpha)
{
    (void)alpha;
    return v_max(v_zero(), x);
}

static inline VEC bwd_relu(VEC x, VEC y, VEC dy, float alpha)
{
    (void)y, (void)alpha;
    return v_and_mask(v_gt0(x), dy);
}

static inline VEC fwd_leaky_relu(VEC x, float alpha)
{
    return v_blend(v_gt0(x), v_mul(x, v_set1(alpha)), x);
}

static inline VEC bwd_leaky_relu(VEC x, VEC y, VEC dy, float alpha)
{
    (void)y;
    return v_blend(v_gt0(x), v_mul(dy, v_set1(alpha)), dy);
}

static inline VEC fwd_gelu(VEC x, float alpha)
{
    (void)alpha;
    return v_mul(x, v_sigmoid(gelu_inner(x), NULL));
}

/* s + x s (1 - s) v'(x), v = gelu_inner(x) */
static inline VEC bwd_gelu(VEC x, VEC y, VEC dy, float alpha)
{
    (void)y, (void)alpha;
    VEC one_minus;
    VEC s = v_sigmoid(gelu_inner(x), &one_minus);
    VEC x2 = v_mul(x, x);
    VEC dv = v_fmadd(x2, v_set1(2.0f * GELU_K * 3.0f * GELU_C), v_set1(2.0f * GELU_K));
    VEC g = v_mul(v_mul(x, s), v_mul(one_minus, dv));
    return v_mul(dy, v_add(s, g));
}

static inline VEC fwd_tanh(VEC x, float alpha)
{
    (void)alpha;
    return v_tanh(x);
}

static inline VEC bwd_tanh(VEC x, VEC y, VEC dy, float alpha)
{
    (void)x, (void)alpha;
    return v_mul(dy, v_fnmadd(y, y, v_set1(1.0f)));
}

static inline VEC fwd_sigmoid(VEC x, float alpha)
{
    (void)alpha;
    return v_sigmoid(x, NULL);
}

static inline VEC bwd_sigmoid(VEC x, VEC y, VEC dy, float alpha)
{
    (void)x, (void)alpha;
    return v_mul(v_mul(dy, y), v_sub(v_set1(1.0f), y));
}

static inline VEC fwd_silu(VEC x, float alpha)
{
    (void)alpha;
    return v_mul(x, v_sigmoid(x, NULL));
}

/* s + x s (1 - s), from x */
static inline VEC bwd_silu(VEC x, VEC y, VEC dy, float alpha)
{
    (void)y, (void)alpha;
    VEC one_minus;
    VEC s = v_sigmoid(x, &one_minus);
    return v_mul(dy, v_add(s, v_mul(v_mul(x, s), one_minus)));
}

static inline VEC fwd_hardswish(VEC x, float alpha)
{
    (void)alpha;
    VEC t = v_max(v_zero(), v_add(x, v_set1(3.0f)));
    t = v_min(v_set1(6.0f), t);
    return v_div(v_mul(x, t), v_set1(6.0f));
}

static inline VEC bwd_hardswish(VEC x, VEC y, VEC dy, float alpha)
{
    (void)y, (void)alpha;
    VEC mid = v_mul(dy, v_add(v_div(x, v_set1(3.0f)), v_set1(0.5f)));
    VEC r = v_blend(v_gt0(v_sub(x, v_set1(3.0f))), mid, dy);
    return v_blend(v_lt0(v_add(x, v_set1(3.0f))), r, v_zero());
}

/* One activation of a vector. */
#define RT_ACT_CASE_VEC(E, name) case RT_ACT_##E: return fwd_##name(x, alpha);
RT_ACT_DISPATCH(VEC, rt_act_vec, RT_ACT_CASE_VEC)

#endif
