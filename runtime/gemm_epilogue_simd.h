/* gemm_epilogue_simd.h — the GEMM epilogue in SIMD vectors: bias, the
 * value before the activation, and the activation, on a tile of C that
 * holds its final alpha*AB + beta*C (contract in gemm_internal.h). One
 * body for two instruction sets: gemm_avx512.c and gemm_avx2.c include it
 * once after simd_avx512.h or simd_avx2.h. It was the portable (libm, one
 * element at a time) epilogue, and GELU that way cost more than the
 * tile's multiply.
 *
 * Its functions are its own, not kernels_simd.h's: a degree-6 exp and a
 * Taylor/exp tanh, measured and kept for the fused forward pass, whose
 * results the tests hold to the reference with a tolerance. Both paths run
 * the same float operations in the same order (2^n by v_scale2), so they
 * give the same bits wherever the result is normal.
 */
#include <stdint.h>

#include "gemm_internal.h"

/* e^x to about 2 ulp: x = n ln2 + r with |r| <= ln2/2, a degree-6 Taylor
 * polynomial for e^r (truncation below 1.2e-7 relative), and v_scale2 for
 * the 2^n, which also gives inf and 0 at the ends. The clamp keeps
 * x - n ln2 finite; NaN passes through min/max as their second operand. */
static inline VEC ep_exp(VEC x)
{
    x = v_min(v_set1(100.0f), v_max(v_set1(-110.0f), x));
    VEC n = v_round(v_mul(x, v_set1(1.44269504088896341f)));
    VEC r = v_fnmadd(n, v_set1(0.693145751953125f), x);
    r = v_fnmadd(n, v_set1(1.42860682030941723e-6f), r);
    VEC p = v_set1(1.0f / 720);
    p = v_fmadd(p, r, v_set1(1.0f / 120));
    p = v_fmadd(p, r, v_set1(1.0f / 24));
    p = v_fmadd(p, r, v_set1(1.0f / 6));
    p = v_fmadd(p, r, v_set1(0.5f));
    p = v_fmadd(p, r, v_set1(1.0f));
    p = v_fmadd(p, r, v_set1(1.0f));
    return v_scale2(p, n);
}

/* 1 / (1 + e^-x) */
static inline VEC ep_sigmoid(VEC x)
{
    VEC one = v_set1(1.0f);
    return v_div(one, v_add(one, ep_exp(v_sub(v_zero(), x))));
}

/* Below |x| = 0.55 the odd Taylor series to x^13 (next term < 2e-7 of
 * the result); above, 1 - 2 / (e^2|x| + 1), whose cancellation is harmless
 * once tanh is past 0.5. */
static inline VEC ep_tanh(VEC x)
{
    VEC ax = v_abs(x);
    VEC x2 = v_mul(x, x);
    VEC p = v_set1(21844.0f / 6081075);
    p = v_fmadd(p, x2, v_set1(-1382.0f / 155925));
    p = v_fmadd(p, x2, v_set1(62.0f / 2835));
    p = v_fmadd(p, x2, v_set1(-17.0f / 315));
    p = v_fmadd(p, x2, v_set1(2.0f / 15));
    p = v_fmadd(p, x2, v_set1(-1.0f / 3));
    VEC small = v_fmadd(v_mul(p, x2), x, x);
    VEC e = ep_exp(v_add(ax, ax));
    VEC one = v_set1(1.0f);
    VEC big = v_sub(one, v_div(v_set1(2.0f), v_add(e, one)));
    big = v_or_sign(big, x); /* big >= 0 */
    return v_blend(v_lt(ax, v_set1(0.55f)), big, small);
}

static inline VEC ep_activate(rt_act act, VEC slope, VEC v)
{
    switch (act) {
    case RT_ACT_NONE: return v;
    case RT_ACT_RELU: /* v < 0 ? 0 : v, so NaN passes as in PyTorch */
        return v_blend(v_lt0(v), v, v_zero());
    case RT_ACT_LEAKY_RELU:
        return v_blend(v_lt0(v), v, v_mul(v, slope));
    case RT_ACT_GELU: {
        /* 0.5 v (1 + tanh u) = v * sigmoid(2u): no cancellation for
         * negative v, where 1 + tanh u would lose every digit. */
        VEC v3 = v_mul(v_mul(v, v), v);
        VEC u = v_fmadd(v_set1(0.044715f), v3, v);
        VEC two_u = v_mul(u, v_set1(2.0f * 0.7978845608028654f));
        return v_mul(v, ep_sigmoid(two_u));
    }
    case RT_ACT_TANH: return ep_tanh(v);
    case RT_ACT_SIGMOID: return ep_sigmoid(v);
    case RT_ACT_SILU: return v_mul(v, ep_sigmoid(v));
    }
    return v;
}

void SIMD_EXPORT(gemm_epilogue)(float *c, int64_t ldc, int mr, int nr, const float *bias,
                                float *preact, rt_act act, float act_alpha)
{
    VEC slope = v_set1(act_alpha);
    for (int i = 0; i < mr; i++) {
        float *ci = c + (int64_t)i * ldc;
        for (int j = 0; j < nr; j += LANES) {
            int64_t n = nr - j < LANES ? nr - j : LANES;
            VEC v = load_block(ci + j, n);
            if (bias)
                v = v_add(v, load_block(bias + j, n));
            if (preact)
                store_block(preact + (int64_t)i * ldc + j, n, v);
            store_block(ci + j, n, ep_activate(act, slope, v));
        }
    }
}
