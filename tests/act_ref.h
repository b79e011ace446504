/* act_ref.h — the tests' own reference for every activation of netrt.h's
 * RT_ACT_LIST, in double precision and written from the definitions (not
 * from runtime/activations.h), with the forward tolerance each float
 * kernel is held to; test_rt_kernels.c and test_rt_gemm.c share it. A row
 * added to RT_ACT_LIST without its case here fails to compile (-Wswitch),
 * and the tests that iterate over the list then check it on every path. */
#ifndef ACT_REF_H
#define ACT_REF_H

#include <math.h>

#include "netrt.h"

/* How many rows RT_ACT_LIST has; RT_ACT_NONE is 0, the others follow. */
#define ACT_REF_ONE(E, name) +1
enum { NACTS = 0 RT_ACT_LIST(ACT_REF_ONE) };
#undef ACT_REF_ONE

/* The row's lower-case name, "none", "relu", ... */
#define ACT_REF_NAME(E, name) #name,
static const char *const act_names[] = { RT_ACT_LIST(ACT_REF_NAME) };
#undef ACT_REF_NAME

/* Where some activation's derivative jumps (relu, leaky_relu: 0;
 * hardswish: -3 and 3): finite differences keep away from them. */
static const float act_kinks[] = { 0.0f, -3.0f, 3.0f };

static inline double ref_sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

static inline double ref_act(rt_act act, double alpha, double x)
{
    switch (act) {
    case RT_ACT_NONE:
        return x;
    case RT_ACT_RELU:
        return x > 0 ? x : 0;
    case RT_ACT_LEAKY_RELU:
        return x > 0 ? x : alpha * x;
    case RT_ACT_GELU:
        return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case RT_ACT_TANH:
        return tanh(x);
    case RT_ACT_SIGMOID:
        return ref_sigmoid(x);
    case RT_ACT_SILU:
        return x * ref_sigmoid(x);
    case RT_ACT_HARDSWISH:
        return x * fmin(fmax(x + 3, 0), 6) / 6;
    }
    return NAN;
}

/* Forward tolerances, |y - ref| <= atol + rtol |ref|: relu, leaky_relu and
 * none are exact; tanh and sigmoid 1e-6 relative (the polynomial paths
 * measure about 2e-7, see test_act_accuracy_sweep); gelu is evaluated as
 * x * sigmoid(2u) with u = sqrt(2/pi)(x + 0.044715 x^3) formed in float,
 * whose rounding (relative 2^-23 of |u| <= 35 here) moves sigmoid's tail
 * by up to |2u| * 2^-23 relative, hence 5e-6 relative plus 1e-7 absolute. */
static inline void act_tolerance(rt_act act, double *atol, double *rtol)
{
    switch (act) {
    case RT_ACT_NONE:
    case RT_ACT_RELU:
    case RT_ACT_LEAKY_RELU:
        *atol = 0, *rtol = 0;
        return;
    case RT_ACT_GELU:
        *atol = 1e-7, *rtol = 5e-6;
        return;
    case RT_ACT_TANH:
    case RT_ACT_SIGMOID:
        *atol = 1e-30, *rtol = 1e-6;
        return;
    case RT_ACT_SILU: /* sigmoid's error, then one product */
        *atol = 1e-30, *rtol = 2e-6;
        return;
    case RT_ACT_HARDSWISH: /* two float roundings (x t, then / 6) */
        *atol = 1e-30, *rtol = 2.4e-7;
        return;
    }
}

#endif
