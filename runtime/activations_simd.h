/* activations_simd.h — the vector exp, tanh and sigmoid that the
 * activations' vector formulas (activations.h, which includes this file
 * after simd_avx512.h or simd_avx2.h) and the softmax rows use. Accuracy:
 * see kernels_simd.h. */
#ifndef ACTIVATIONS_SIMD_H
#define ACTIVATIONS_SIMD_H

/* log(2) split so n * LN2_HI is exact enough under FMA and LN2_LO mops up
 * the rest (Cody & Waite). */
#define LOG2E 1.44269502162933349609375f
#define LN2_HI 0.693147182464599609375f
#define LN2_LO -1.904654323148236e-09f

/* Reduces x = n ln2 + r with |r| <= ln2/2 (and a little more when the
 * product rounds); returns r and n. */
static inline VEC reduce_ln2(VEC x, VEC *n)
{
    *n = v_round(v_mul(x, v_set1(LOG2E)));
    VEC r = v_fnmadd(*n, v_set1(LN2_HI), x);
    return v_fnmadd(*n, v_set1(LN2_LO), r);
}

/* exp(r) - 1 - r for |r| <= 0.35, divided by r^2: Taylor to r^8, whose
 * truncation error (|r|^9/9! < 2e-10) is far below float's rounding. */
static inline VEC expm1_tail(VEC r)
{
    VEC p = v_set1(2.4801587642286904e-05f);
    p = v_fmadd(p, r, v_set1(1.9841270113829523e-04f));
    p = v_fmadd(p, r, v_set1(1.3888889225199819e-03f));
    p = v_fmadd(p, r, v_set1(8.3333337679505350e-03f));
    p = v_fmadd(p, r, v_set1(4.1666667908430100e-02f));
    p = v_fmadd(p, r, v_set1(1.6666667163372040e-01f));
    return v_fmadd(p, r, v_set1(0.5f));
}

/* exp(x) = 2^n exp(r); v_scale2 gives inf on overflow and correctly
 * rounded subnormals below FLT_MIN. The clamp keeps n in v_scale2's range;
 * NaN passes through (min and max return their second operand on NaN, and
 * x is second). */
static inline VEC v_exp(VEC x)
{
    x = v_min(v_set1(89.0f), x);
    x = v_max(v_set1(-104.0f), x);
    VEC n;
    VEC r = reduce_ln2(x, &n);
    VEC p = v_fmadd(expm1_tail(r), v_mul(r, r), r);
    p = v_add(p, v_set1(1.0f));
    return v_scale2(p, n);
}

/* tanh|x| = -expm1(-2|x|) / (2 + expm1(-2|x|)). expm1(y) = 2^n (1 + q) - 1
 * is formed as fma(2^n, q, 2^n - 1) with q = expm1(r), so near 0 (n = 0) it
 * is q itself and keeps full relative precision where 1 - exp(-2|x|) would
 * cancel. Beyond |x| = 9.1 the float result is 1, so |x| is clamped to 10,
 * which keeps n in [-29, 0]. */
static inline VEC v_tanh(VEC x)
{
    VEC a = v_min(v_set1(10.0f), v_abs(x));
    VEC y = v_mul(a, v_set1(-2.0f));
    VEC n;
    VEC r = reduce_ln2(y, &n);
    VEC q = v_fmadd(expm1_tail(r), v_mul(r, r), r);
    VEC scale = v_pow2(n);
    VEC em = v_fmadd(scale, q, v_sub(scale, v_set1(1.0f)));
    VEC t = v_div(v_sub(v_zero(), em), v_add(v_set1(2.0f), em));
    return v_or_sign(t, x); /* t >= 0 */
}

/* 1/(1+t) for x >= 0 and t/(1+t) for x < 0, t = exp(-|x|) in (0, 1]: no
 * overflow and full relative precision in the small tail. */
static inline VEC v_sigmoid(VEC x, VEC *one_minus)
{
    VEC t = v_exp(v_sub(v_zero(), v_abs(x)));
    VEC inv = v_div(v_set1(1.0f), v_add(v_set1(1.0f), t));
    VEC small = v_mul(t, inv);
    VMASK neg = v_lt0(x);
    if (one_minus)
        *one_minus = v_blend(neg, small, inv);
    return v_blend(neg, inv, small);
}

/* 2 sqrt(2/pi) (x + 0.044715 x^3): gelu(x) = x * sigmoid of this. */
static inline VEC gelu_inner(VEC x)
{
    VEC x2 = v_mul(x, x);
    VEC k = v_fmadd(x2, v_set1(2.0f * GELU_K * GELU_C), v_set1(2.0f * GELU_K));
    return v_mul(x, k);
}

#endif
