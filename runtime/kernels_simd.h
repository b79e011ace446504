/* kernels_simd.h — the activation and optimizer kernels in SIMD vectors,
 * one body for two instruction sets: kernels_avx512.c and kernels_avx2.c
 * each define the vector operations below and include this file once
 * (depthwise_simd.h is organised the same way). kernels.c and optim.c
 * dispatch on rt_isa_current(), which cpu.c resolves once.
 *
 * exp and tanh are polynomial (see v_exp and v_tanh). Measured on every
 * float of each range against the double-precision result of libm:
 *   exp      [-87.3, 88.7]  <= 0.98 ulp   (relative 8.3e-8)
 *   tanh     [-10, 10]      <= 2.5 ulp    (relative 1.8e-7)
 *   sigmoid  [-87, 20]      <= 2.9 ulp    (relative 2.0e-7)
 *   gelu     [-3, 10]       <= 14 ulp     (relative 9.2e-7)
 * gelu below -3 loses relative precision in proportion to |2u|, because
 * u = sqrt(2/pi)(x + 0.044715 x^3) is rounded to float before exp(-2u)
 * (relative 1.3e-5 at x = -10, where gelu is 1e-37); its absolute error
 * stays below 4e-9 everywhere. Both instruction sets run the same float
 * operations in the same order, and only 2^n is formed differently
 * (v_scale2), so they give the same bits wherever the result is normal.
 * tests/test_rt_kernels.c pins relative 1e-6 for tanh and sigmoid on
 * sampled sweeps.
 *
 * A tail shorter than LANES goes through the same vector code as the full
 * vectors (v_load_n / v_store_n: masked loads and stores, 0 in the lanes
 * past the end), so every element sees the same arithmetic.
 *
 * What stays in the instruction-set files: softmax_row (AVX-512 keeps 16
 * double lanes, AVX2 4, summed in different orders) and dropout (AVX2 has
 * no 64-bit multiply and builds the generator from 32-bit products).
 */

/* What the including file defines, for its instruction set (simd_avx512.h
 * or simd_avx2.h, with load_block and store_block from simd_common.h):
 *   VEC, VMASK, LANES      float vector, lane mask, lanes a vector
 *   SIMD_EXPORT(name)      the exported name (rt_avx512_##name, ...)
 *   v_set1(f), v_zero(), v_loadu(p), v_storeu(p, v)
 *   v_load_n(p, n), v_store_n(p, n, v)  the first n < LANES lanes; loads
 *                          give 0 in the others, stores leave memory there
 *   v_add, v_sub, v_mul, v_div, v_min(a, b), v_max(a, b) (b on NaN), v_sqrt
 *   v_fmadd(a, b, c) = a*b + c, v_fnmadd(a, b, c) = c - a*b (one rounding)
 *   v_abs(x), v_or_sign(t, x) (t with x's sign bit or'ed in)
 *   v_round(x)             to the nearest integer, ties to even
 *   v_scale2(p, n)         p * 2^n for integral n in [-150, 128]
 *   v_pow2(n)              2^n for integral n in [-29, 0]
 *   v_gt0(x), v_lt0(x)     lanes with x > 0, x < 0 (ordered)
 *   v_blend(m, a, b)       b in the lanes of m, a elsewhere
 *   v_and_mask(m, v)       v in the lanes of m, +0 elsewhere
 *   VECD, DLANES, vd_loadu, vd_storeu, vd_add, vd_mul, vd_widen(p)  double vectors
 *                          (vd_widen: DLANES floats at p widened)
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "gemm_internal.h"
#include "kernels_internal.h"

#include "activations.h"

/* Four vectors an iteration, so gcc's early scheduler (SIMDFLAGS in the
 * Makefile) can interleave their chains: GELU forward 10.2 to 5.4 ns a
 * vector, backward 10.6 to 6.3 (Zen 3; see the GEMM epilogue below). */
#define FORWARD_LOOP(op)                                                   \
    do {                                                                   \
        int64_t i = 0;                                                     \
        for (; i + 4 * LANES <= n; i += 4 * LANES) {                       \
            VEC r_[4];                                                     \
            _Pragma("GCC unroll 4") for (int g_ = 0; g_ < 4; g_++)         \
                r_[g_] = op(v_loadu(x + i + g_ * LANES), alpha);           \
            _Pragma("GCC unroll 4") for (int g_ = 0; g_ < 4; g_++)         \
                v_storeu(y + i + g_ * LANES, r_[g_]);                      \
        }                                                                  \
        for (; i + LANES <= n; i += LANES)                                 \
            v_storeu(y + i, op(v_loadu(x + i), alpha));                    \
        if (i < n)                                                         \
            v_store_n(y + i, n - i, op(v_load_n(x + i, n - i), alpha));    \
    } while (0)

// x (n), y (n)
void SIMD_EXPORT(act_forward)(rt_act act, float alpha, int64_t n, const float *x, float *y)
{
    switch (act) {
#define RT_ACT_CASE(E, name) case RT_ACT_##E: FORWARD_LOOP(fwd_##name); break;
    RT_ACT_LIST(RT_ACT_CASE)
#undef RT_ACT_CASE
    }
}

// a, b, dst (n); dst may be a or b
void SIMD_EXPORT(add)(int64_t n, const float *a, const float *b, float *dst)
{
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        v_storeu(dst + i, v_add(v_loadu(a + i), v_loadu(b + i)));
    if (i < n)
        v_store_n(dst + i, n - i, v_add(v_load_n(a + i, n - i), v_load_n(b + i, n - i)));
}

#define BACKWARD_LOOP(op)                                                                  \
    do {                                                                                   \
        int64_t i = 0;                                                                     \
        for (; i + 4 * LANES <= n; i += 4 * LANES) {                                       \
            VEC r_[4];                                                                     \
            _Pragma("GCC unroll 4") for (int g_ = 0; g_ < 4; g_++)                         \
                r_[g_] = op(v_loadu(x + i + g_ * LANES), v_loadu(y + i + g_ * LANES),      \
                            v_loadu(dy + i + g_ * LANES), alpha);                          \
            _Pragma("GCC unroll 4") for (int g_ = 0; g_ < 4; g_++)                         \
                v_storeu(dx + i + g_ * LANES, r_[g_]);                                     \
        }                                                                                  \
        for (; i + LANES <= n; i += LANES)                                                 \
            v_storeu(dx + i, op(v_loadu(x + i), v_loadu(y + i), v_loadu(dy + i), alpha));  \
        if (i < n) {                                                                       \
            int64_t k = n - i;                                                             \
            v_store_n(dx + i, k,                                                           \
                      op(v_load_n(x + i, k), v_load_n(y + i, k), v_load_n(dy + i, k), alpha)); \
        }                                                                                  \
    } while (0)

// x, y, dy, dx (n)
void SIMD_EXPORT(act_backward)(rt_act act, float alpha, int64_t n, const float *x,
                               const float *y, const float *dy, float *dx)
{
    switch (act) {
#define RT_ACT_CASE(E, name) case RT_ACT_##E: BACKWARD_LOOP(bwd_##name); break;
    RT_ACT_LIST(RT_ACT_CASE)
#undef RT_ACT_CASE
    }
}

/* ---------------------------------------------------------- optimizers */

/* The optimizer updates mirror optim.c's portable loops operation for
 * operation (no FMA), so every path gives the same bits. Each block is
 * k <= LANES elements; the loops run full blocks, then the tail. */

typedef struct sgd_consts {
    VEC lr, wd, mu;
    bool with_momentum, first_step, nesterov;
} sgd_consts;

static inline void sgd_block(const sgd_consts *c, int64_t k, float *p, const float *g, float *buf)
{
    VEC pi = load_block(p, k);
    VEC grad = v_add(load_block(g, k), v_mul(c->wd, pi));
    VEC d = grad;
    if (c->with_momentum) {
        VEC b = c->first_step ? grad : v_add(v_mul(c->mu, load_block(buf, k)), grad);
        store_block(buf, k, b);
        d = c->nesterov ? v_add(grad, v_mul(c->mu, b)) : b;
    }
    store_block(p, k, v_sub(pi, v_mul(c->lr, d)));
}

// p, g, buf (n)
void SIMD_EXPORT(sgd)(const rt_update *u, int64_t n, float *p, const float *g, float *buf)
{
    const sgd_consts c = { .lr = v_set1(u->lr), .wd = v_set1(u->weight_decay),
                           .mu = v_set1(u->momentum), .with_momentum = u->momentum != 0.0f,
                           .first_step = u->first_step, .nesterov = u->nesterov };
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        sgd_block(&c, LANES, p + i, g + i, c.with_momentum ? buf + i : NULL);
    if (i < n)
        sgd_block(&c, n - i, p + i, g + i, c.with_momentum ? buf + i : NULL);
}

typedef struct adam_consts {
    VEC wd, keep, b1c, b2, b2c, step, bc2, eps;
} adam_consts;

static inline void adam_block(const adam_consts *c, int64_t k, float *p, const float *g, float *m,
                              float *v)
{
    VEC pi = load_block(p, k), mi = load_block(m, k), vi = load_block(v, k);
    VEC grad = v_add(load_block(g, k), v_mul(c->wd, pi));
    VEC decayed = v_mul(pi, c->keep);
    mi = v_add(mi, v_mul(c->b1c, v_sub(grad, mi)));
    vi = v_add(v_mul(c->b2, vi), v_mul(v_mul(c->b2c, grad), grad));
    store_block(m, k, mi);
    store_block(v, k, vi);
    VEC denom = v_add(v_div(v_sqrt(vi), c->bc2), c->eps);
    VEC upd = v_mul(c->step, v_div(mi, denom));
    store_block(p, k, v_sub(decayed, upd));
}

// p, g, m, v (n)
void SIMD_EXPORT(adam)(const rt_update *u, int64_t n, float *p, const float *g, float *m, float *v)
{
    const adam_consts c = {
        .wd = v_set1(u->weight_decay), .keep = v_set1(u->keep),
        .b1c = v_set1(u->one_minus_beta1), .b2 = v_set1(u->beta2),
        .b2c = v_set1(u->one_minus_beta2), .step = v_set1(u->step_size),
        .bc2 = v_set1(u->bc2_sqrt), .eps = v_set1(u->eps),
    };
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        adam_block(&c, LANES, p + i, g + i, m + i, v + i);
    if (i < n)
        adam_block(&c, n - i, p + i, g + i, m + i, v + i);
}

typedef struct rmsprop_consts {
    VEC lr, wd, a, ac, eps, mu;
    bool with_momentum;
} rmsprop_consts;

static inline void rmsprop_block(const rmsprop_consts *c, int64_t k, float *p, const float *g,
                                 float *sq, float *buf)
{
    VEC pi = load_block(p, k);
    VEC grad = v_add(load_block(g, k), v_mul(c->wd, pi));
    VEC s = v_add(v_mul(c->a, load_block(sq, k)), v_mul(v_mul(c->ac, grad), grad));
    store_block(sq, k, s);
    VEC d = v_div(grad, v_add(v_sqrt(s), c->eps));
    if (c->with_momentum) {
        d = v_add(v_mul(c->mu, load_block(buf, k)), d);
        store_block(buf, k, d);
    }
    store_block(p, k, v_sub(pi, v_mul(c->lr, d)));
}

// p, g, sq, buf (n)
void SIMD_EXPORT(rmsprop)(const rt_update *u, int64_t n, float *p, const float *g, float *sq, float *buf)
{
    const rmsprop_consts c = { .lr = v_set1(u->lr), .wd = v_set1(u->weight_decay),
                               .a = v_set1(u->alpha), .ac = v_set1(u->one_minus_alpha),
                               .eps = v_set1(u->eps), .mu = v_set1(u->momentum),
                               .with_momentum = u->momentum > 0.0f };
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        rmsprop_block(&c, LANES, p + i, g + i, sq + i, c.with_momentum ? buf + i : NULL);
    if (i < n)
        rmsprop_block(&c, n - i, p + i, g + i, sq + i, c.with_momentum ? buf + i : NULL);
}

/* ------------------------------------------------------------ lstm cell */

/* rt_lstm_cell_forward (kernels.c) on k <= LANES units. */
static inline void lstm_forward_block(int64_t k, int64_t H, float *a, const float *prev, float *cell, float *tc,
                                      float *h)
{
    VEC i = fwd_sigmoid(load_block(a, k), 0.0f), f = fwd_sigmoid(load_block(a + H, k), 0.0f);
    VEC g = fwd_tanh(load_block(a + 2 * H, k), 0.0f), o = fwd_sigmoid(load_block(a + 3 * H, k), 0.0f);
    store_block(a, k, i);
    store_block(a + H, k, f);
    store_block(a + 2 * H, k, g);
    store_block(a + 3 * H, k, o);
    VEC c = prev ? v_add(v_mul(f, load_block(prev, k)), v_mul(i, g)) : v_mul(i, g);
    store_block(cell, k, c);
    VEC t = fwd_tanh(c, 0.0f);
    if (tc)
        store_block(tc, k, t);
    store_block(h, k, v_mul(t, o));
}

void SIMD_EXPORT(lstm_cell_forward)(int64_t H, float *a, const float *prev, float *cell, float *tc, float *h)
{
    int64_t j = 0;
    for (; j + LANES <= H; j += LANES)
        lstm_forward_block(LANES, H, a + j, prev ? prev + j : NULL, cell + j, tc ? tc + j : NULL, h + j);
    if (j < H)
        lstm_forward_block(H - j, H, a + j, prev ? prev + j : NULL, cell + j, tc ? tc + j : NULL, h + j);
}

/* The portable loop of rt_lstm_cell_backward (kernels.c) on k <= LANES
 * units, operation for operation. */
static inline void lstm_backward_block(int64_t k, int64_t H, const float *a, const float *tc, const float *prev,
                                       const float *dh, const float *dy, float *dc, float *d)
{
    const VEC one = v_set1(1.0f);
    VEC i = load_block(a, k), f = load_block(a + H, k), g = load_block(a + 2 * H, k);
    VEC o = load_block(a + 3 * H, k), t = load_block(tc, k);
    VEC gh = dy ? v_add(load_block(dh, k), load_block(dy, k)) : load_block(dh, k);
    VEC dcell = v_add(load_block(dc, k), v_mul(v_mul(gh, o), v_sub(one, v_mul(t, t))));
    VEC df = prev ? v_mul(dcell, load_block(prev, k)) : v_zero();
    store_block(dc, k, v_mul(dcell, f));
    store_block(d, k, v_mul(v_mul(v_mul(dcell, g), i), v_sub(one, i)));
    store_block(d + H, k, v_mul(v_mul(df, f), v_sub(one, f)));
    store_block(d + 2 * H, k, v_mul(v_mul(dcell, i), v_sub(one, v_mul(g, g))));
    store_block(d + 3 * H, k, v_mul(v_mul(v_mul(gh, t), o), v_sub(one, o)));
}

void SIMD_EXPORT(lstm_cell_backward)(int64_t H, const float *a, const float *tc, const float *prev,
                                     const float *dh, const float *dy, float *dc, float *d)
{
    int64_t j = 0;
    for (; j + LANES <= H; j += LANES)
        lstm_backward_block(LANES, H, a + j, tc + j, prev ? prev + j : NULL, dh + j, dy ? dy + j : NULL,
                            dc + j, d + j);
    if (j < H)
        lstm_backward_block(H - j, H, a + j, tc + j, prev ? prev + j : NULL, dh + j, dy ? dy + j : NULL,
                            dc + j, d + j);
}

/* ------------------------------------------------------------- sum_rows */

/* 4 * DLANES columns (four double accumulators) down all M rows, then
 * DLANES, then the last columns one at a time; each column in row order,
 * so every path gives the portable loop's bits. */
void SIMD_EXPORT(sum_rows)(int64_t M, int64_t ld, int64_t width, const float *dy, double *acc)
{
    int64_t j = 0;
    for (; j + 4 * DLANES <= width; j += 4 * DLANES) {
        VECD a0 = vd_loadu(acc + j), a1 = vd_loadu(acc + j + DLANES);
        VECD a2 = vd_loadu(acc + j + 2 * DLANES), a3 = vd_loadu(acc + j + 3 * DLANES);
        for (int64_t m = 0; m < M; m++) {
            const float *r = dy + m * ld + j;
            a0 = vd_add(a0, vd_widen(r));
            a1 = vd_add(a1, vd_widen(r + DLANES));
            a2 = vd_add(a2, vd_widen(r + 2 * DLANES));
            a3 = vd_add(a3, vd_widen(r + 3 * DLANES));
        }
        vd_storeu(acc + j, a0);
        vd_storeu(acc + j + DLANES, a1);
        vd_storeu(acc + j + 2 * DLANES, a2);
        vd_storeu(acc + j + 3 * DLANES, a3);
    }
    for (; j + DLANES <= width; j += DLANES) {
        VECD a = vd_loadu(acc + j);
        for (int64_t m = 0; m < M; m++)
            a = vd_add(a, vd_widen(dy + m * ld + j));
        vd_storeu(acc + j, a);
    }
    for (; j < width; j++)
        for (int64_t m = 0; m < M; m++)
            acc[j] += dy[m * ld + j];
}

/* ------------------------------------------------ softmax gradient row */

/* g[j] = p[j] * (g[j] - sum_k p[k] g[k]) for j < n, 0 for n <= j < width:
 * attention's backward through a softmax row (attention.c). The products
 * are exact in double and summed in two double vectors, then their lanes
 * and the last n mod (2 DLANES) products in a fixed order. The scalar loop
 * was a fifth of the attention heads' backward time (perf, gpt.net's
 * shape, one thread). */
void SIMD_EXPORT(softmax_grad_row)(int64_t n, int64_t width, const float *p, float *g)
{
    double dot = 0.0;
    int64_t j = 0;
    if (n >= 2 * DLANES) {
        VECD a0 = vd_mul(vd_widen(p), vd_widen(g)), a1 = vd_mul(vd_widen(p + DLANES), vd_widen(g + DLANES));
        for (j = 2 * DLANES; j + 2 * DLANES <= n; j += 2 * DLANES) {
            a0 = vd_add(a0, vd_mul(vd_widen(p + j), vd_widen(g + j)));
            a1 = vd_add(a1, vd_mul(vd_widen(p + j + DLANES), vd_widen(g + j + DLANES)));
        }
        double lanes[DLANES];
        vd_storeu(lanes, vd_add(a0, a1));
        for (int l = 0; l < DLANES; l++)
            dot += lanes[l];
    }
    for (; j < n; j++)
        dot += (double)p[j] * g[j];
    VEC d = v_set1((float)dot);
    for (j = 0; j + LANES <= n; j += LANES)
        v_storeu(g + j, v_mul(v_loadu(p + j), v_sub(v_loadu(g + j), d)));
    if (j < n)
        v_store_n(g + j, n - j, v_mul(v_load_n(p + j, n - j), v_sub(v_load_n(g + j, n - j), d)));
    if (width > n)
        memset(g + n, 0, sizeof(float) * (size_t)(width - n));
}

/* ------------------------------------------------------- GEMM epilogue */

/* Bias, the value before the activation, and the activation, on a tile of
 * C that holds its final alpha*AB + beta*C (contract in gemm_internal.h):
 * gemm_region calls it on each tile while the tile is in L1. Here, not in
 * gemm_avx2.c / gemm_avx512.c, because it wants SIMDFLAGS (Makefile) and
 * the micro-kernels do not: with gcc's early scheduling they ran at 41
 * GFLOP/s instead of 90 (AVX2, Zen 3). It was the portable (libm, one
 * element at a time) epilogue once, and GELU that way cost more than the
 * tile's multiply. */

/* Rows [i0, i0 + rows) of the vector columns at c (rows * cols <= 4,
 * constants where this is inlined), b[j] the bias of column j: the
 * vectors go through each step together, so their activations' long
 * dependency chains (an exp, a divide) overlap. One vector at a time,
 * GELU and its bias took 11.3-12.3 ns a vector (Zen 3), bound by the
 * chain's latency (the FP scheduler holds about two vectors' operations);
 * four at a time, with the pre-allocation scheduler on (Makefile,
 * SIMDFLAGS), 6.5-7.9 ns. Four rows of one vector and then two of one (a
 * 6-row tile) gained only 8.1 against 8.7 ns: the pair at the end
 * overlaps too little. HAS_BIAS and HAS_PREACT are constants too, so
 * their branches go. */
static inline __attribute__((always_inline)) void
epilogue_group(float *c, int64_t ldc, int i0, int rows, int cols, const VEC *b, float *preact, bool has_bias,
               bool has_preact, VEC (*fwd)(VEC, float), float alpha)
{
    VEC v[4];
    int64_t off[4];
#pragma GCC unroll 4
    for (int k = 0; k < rows * cols; k++) {
        off[k] = (int64_t)(i0 + k / cols) * ldc + (k % cols) * LANES;
        v[k] = v_loadu(c + off[k]);
        if (has_bias)
            v[k] = v_add(v[k], b[k % cols]);
        if (has_preact)
            v_storeu(preact + off[k], v[k]);
    }
#pragma GCC unroll 4
    for (int k = 0; k < rows * cols; k++)
        v_storeu(c + off[k], fwd(v[k], alpha));
}

/* The tile's whole vectors through the instance, four at a time: two
 * rows of both vectors of a full tile (NR is two vectors on both
 * instruction sets); four vectors along a single row (the short and
 * narrow products' rows, batch-1 inference among them); else four rows
 * of one vector. The tail, if any, goes through the generic loop below
 * (an instance for tails too doubled the code). */
static inline __attribute__((always_inline)) void
epilogue_tile(float *c, int64_t ldc, int mr, int nr, const float *bias, float *preact, bool has_bias,
              bool has_preact, VEC (*fwd)(VEC, float), float alpha)
{
    VEC b[4] = { v_zero(), v_zero(), v_zero(), v_zero() };
    int i = 0;
    int64_t j = 0;
    if (nr == 2 * LANES) {
        if (has_bias)
            b[0] = v_loadu(bias), b[1] = v_loadu(bias + LANES);
        for (; i + 2 <= mr; i += 2)
            epilogue_group(c, ldc, i, 2, 2, b, preact, has_bias, has_preact, fwd, alpha);
        if (i < mr)
            epilogue_group(c, ldc, i, 1, 2, b, preact, has_bias, has_preact, fwd, alpha);
        return;
    }
    if (mr == 1) {
        for (; j + 4 * LANES <= nr; j += 4 * LANES) {
            if (has_bias)
                for (int k = 0; k < 4; k++)
                    b[k] = v_loadu(bias + j + k * LANES);
            epilogue_group(c + j, ldc, 0, 1, 4, b, has_preact ? preact + j : preact, has_bias, has_preact, fwd,
                           alpha);
        }
    }
    for (; j + LANES <= nr; j += LANES) {
        if (has_bias)
            b[0] = v_loadu(bias + j);
        float *cj = c + j, *pj = has_preact ? preact + j : preact;
        for (i = 0; i + 4 <= mr; i += 4)
            epilogue_group(cj, ldc, i, 4, 1, b, pj, has_bias, has_preact, fwd, alpha);
        for (; i < mr; i++)
            epilogue_group(cj, ldc, i, 1, 1, b, pj, has_bias, has_preact, fwd, alpha);
    }
}

static void epilogue_tail(float *c, int64_t ldc, int mr, int64_t j, int64_t n, const float *bias,
                          float *preact, rt_act act, float act_alpha)
{
    for (int i = 0; i < mr; i++) {
        float *ci = c + (int64_t)i * ldc + j;
        VEC v = load_block(ci, n);
        if (bias)
            v = v_add(v, load_block(bias + j, n));
        if (preact)
            store_block(preact + (int64_t)i * ldc + j, n, v);
        store_block(ci, n, rt_act_vec(act, act_alpha, v));
    }
}

/* One instance per activation and per presence of bias and preact: the
 * generic loop, which tested bias and preact and switched on the
 * activation for every vector, cost 12% of a K = 128 product with a bias
 * alone (C(2048x384) = X W^T + b, gpt.net's attention projection: 85
 * GFLOP/s against 96 without the bias; perf: the tests and the indirect
 * jump, not the loads). Each element sees the same operations in the same
 * order as before, so the bits are unchanged. */
#define EPILOGUE_CASE(E, name)                                                                          \
    case RT_ACT_##E:                                                                                    \
        if (bias && preact)                                                                             \
            epilogue_tile(c, ldc, mr, nr, bias, preact, true, true, fwd_##name, act_alpha);             \
        else if (bias)                                                                                  \
            epilogue_tile(c, ldc, mr, nr, bias, preact, true, false, fwd_##name, act_alpha);            \
        else if (preact)                                                                                \
            epilogue_tile(c, ldc, mr, nr, bias, preact, false, true, fwd_##name, act_alpha);            \
        else                                                                                            \
            epilogue_tile(c, ldc, mr, nr, bias, preact, false, false, fwd_##name, act_alpha);           \
        break;

void SIMD_EXPORT(gemm_epilogue)(float *c, int64_t ldc, int mr, int nr, const float *bias,
                                float *preact, rt_act act, float act_alpha)
{
    switch (act) { RT_ACT_LIST(EPILOGUE_CASE) }
    int64_t j = nr / LANES * LANES;
    if (j < nr)
        epilogue_tail(c, ldc, mr, j, nr - j, bias, preact, act, act_alpha);
}

#undef EPILOGUE_CASE
