/* activations.h — the portable activations, one float at a time: the
 * definition rt_act_forward's portable path (kernels.c) and the portable
 * GEMM epilogue (gemm.c) both compute, so an activation fused into a
 * dense or conv layer gives the bits of the same activation on its own.
 * The SIMD paths have theirs in activations_avx2.h and activations_avx512.h. */
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
static inline float gelu_inner(float x)
{
    return 2.0f * GELU_K * (x + GELU_C * x * x * x);
}

/* One activation of x: relu keeps NaN and -0 (max(0, x) with x second,
 * as the SIMD paths' maxps). */
static inline float rt_act_scalar(rt_act act, float alpha, float x)
{
    switch (act) {
    case RT_ACT_NONE: return x;
    case RT_ACT_RELU: return 0.0f > x ? 0.0f : x;
    case RT_ACT_LEAKY_RELU: return x > 0.0f ? x : alpha * x;
    case RT_ACT_GELU: return x * sigmoid_scalar(gelu_inner(x));
    case RT_ACT_TANH: return tanhf(x);
    case RT_ACT_SIGMOID: return sigmoid_scalar(x);
    case RT_ACT_SILU: return x * sigmoid_scalar(x);
    }
    return x;
}

#endif
