/* conv_depthwise.c — depthwise convolution (one input channel per
 * group), forward and both gradients: the SIMD planes of depthwise_simd.h
 * on AVX-512 and AVX2, direct loops on the portable path.
 */
#include <string.h>

#include "conv_internal.h"

/* ------------------------------------------------------------ depthwise */

/* Depthwise layers (one input channel per group, MobileNet's 3x3) are
 * direct loops: lowered to GEMMs they are one GEMM per channel with M = the
 * channel multiplier (1 or 2) and K = 9, and ran at 1-7 GFLOP/s (see
 * bench_rt_conv). On AVX-512 and AVX2 the planes go to depthwise_simd.h
 * (the algorithm and its measurements are there); the portable path takes
 * each kernel tap as a scaled row add over the valid output columns, which
 * gcc vectorizes for SSE2. Tasks are whole planes on every path. */

/* out[i] += a * in[i * stride] for i < n. */
static inline void axpy_strided(float a, const float *in, int64_t stride, int64_t n, float *out)
{
    if (stride != 1) {
        for (int64_t i = 0; i < n; i++)
            out[i] += a * in[i * stride];
        return;
    }
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float v[8];
        for (int j = 0; j < 8; j++)
            v[j] = out[i + j] + a * in[i + j];
        for (int j = 0; j < 8; j++)
            out[i + j] = v[j];
    }
    for (; i < n; i++)
        out[i] += a * in[i];
}

/* sum of a[i] * b[i * stride] for i < n, in 8 float lanes. */
static double dot_strided(const float *a, const float *b, int64_t stride, int64_t n)
{
    float acc[8] = {0};
    int64_t i = 0;
    if (stride == 1)
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; j++)
                acc[j] += a[i + j] * b[i + j];
    double sum = 0.0;
    for (; i < n; i++)
        sum += (double)a[i] * b[i * stride];
    for (int j = 0; j < 8; j++)
        sum += acc[j];
    return sum;
}

/* Calls body(oy, iy, ox0, ox1, xstart) for every output row oy whose input
 * row iy exists under kernel tap (ky, kx). */
#define FOR_EACH_TAP_ROW(cv, ky, kx, body)                                                \
    do {                                                                                  \
        int64_t oy0_, oy1_, ox0, ox1;                                                     \
        int64_t xstart = (kx) * (cv)->dilation - (cv)->pad_left;                          \
        rt_conv_valid_range((cv)->ho, (cv)->h, (cv)->stride, (ky) * (cv)->dilation - (cv)->pad_top, \
                    &oy0_, &oy1_);                                                        \
        rt_conv_valid_range((cv)->wo, (cv)->w, (cv)->stride, xstart, &ox0, &ox1);                 \
        for (int64_t oy = oy0_; oy < oy1_; oy++) {                                        \
            int64_t iy = oy * (cv)->stride + (ky) * (cv)->dilation - (cv)->pad_top;       \
            body;                                                                         \
        }                                                                                 \
    } while (0)

/* Planes (sample, filter) per task, by size only. */
int64_t rt_conv_planes_per_task(const conv_dims *d)
{
    return max_i64(1, 16384 / max_i64(1, d->p));
}

/* depthwise_simd.h on one instruction set. */
typedef struct depthwise_simd {
    int64_t (*scratch)(const rt_conv_dw *g);
    void (*forward)(const rt_conv_dw *g, int64_t q0, int64_t q1, const float *x, const float *w,
                    const float *bias, bool relu, float *pre, float *y, float *scratch);
    void (*data)(const rt_conv_dw *g, int64_t q0, int64_t q1, const float *dy, const float *w,
                 float *dx, float *scratch);
    void (*filter)(const rt_conv_dw *g, int64_t filter, int64_t batch, const float *x,
                   const float *dy, double *sums, float *scratch);
} depthwise_simd;

/* The SIMD planes for this layer on this path, or NULL for the loops. */
static const depthwise_simd *depthwise_kernels(const rt_conv2d *cv, rt_isa isa)
{
    static const depthwise_simd avx512 = { rt_conv_avx512_dw_scratch, rt_conv_avx512_dw_forward,
                                           rt_conv_avx512_dw_data, rt_conv_avx512_dw_filter };
    static const depthwise_simd avx2 = { rt_conv_avx2_dw_scratch, rt_conv_avx2_dw_forward,
                                         rt_conv_avx2_dw_data, rt_conv_avx2_dw_filter };
    if (cv->kw > RT_CONV_DW_MAX_KW || cv->stride > RT_CONV_DW_MAX_STRIDE)
        return NULL;
    switch (isa) {
    case RT_ISA_AVX512: return &avx512;
    case RT_ISA_AVX2: return &avx2;
    case RT_ISA_PORTABLE: break;
    }
    return NULL;
}

static rt_conv_dw depthwise_layer(const rt_conv2d *cv)
{
    return (rt_conv_dw){ .c = cv->c, .f = cv->f, .h = cv->h, .w = cv->w, .ho = cv->ho,
                         .wo = cv->wo, .kh = cv->kh, .kw = cv->kw, .stride = cv->stride,
                         .dilation = cv->dilation, .pad_top = cv->pad_top,
                         .pad_left = cv->pad_left };
}

/* This thread's scratch for depthwise_simd.h. */
static float *depthwise_scratch(const depthwise_simd *k, const rt_conv_dw *g)
{
    return scratch_col(k->scratch(g));
}

// x (B,C,H,W), w (F,1,KH,KW), y (B,F,Ho,Wo): planes [q0, q1) of (b, f)
void rt_conv_depthwise_forward_task(void *ctx, int64_t task)
{
    const forward_task *t = ctx;
    const rt_conv2d *cv = t->cv;
    const conv_dims *d = &t->d;
    int64_t per = rt_conv_planes_per_task(d), q0 = task * per;
    int64_t q1 = min_i64(t->batch * cv->f, q0 + per);
    const depthwise_simd *k = depthwise_kernels(cv, t->isa);
    if (k) {
        rt_conv_dw g = depthwise_layer(cv);
        float *scratch = depthwise_scratch(k, &g);
        float *pre = t->preact ? t->preact : t->y;
        if (t->act == RT_ACT_NONE || t->act == RT_ACT_RELU) {
            /* the ReLU on the way out: rt_act_forward re-read the planes
             * (10% of the forward pass) */
            k->forward(&g, q0, q1, t->x, t->w, t->bias, t->act == RT_ACT_RELU,
                       pre != t->y ? pre : NULL, t->y, scratch);
            return;
        }
        k->forward(&g, q0, q1, t->x, t->w, t->bias, false, NULL, pre, scratch);
        rt_act_forward(t->act, t->alpha, (q1 - q0) * d->p, pre + q0 * d->p, t->y + q0 * d->p);
        return;
    }
    for (int64_t q = q0; q < q1; q++) {
        int64_t b = q / cv->f, f = q % cv->f;
        const float *x = t->x + (b * cv->c + f / d->fg) * d->hw;
        const float *w = t->w + f * cv->kh * cv->kw;
        float *y = t->y + q * d->p;
        float *pre = t->preact ? t->preact + q * d->p : y;
        float bias = t->bias ? t->bias[f] : 0.0f;
        for (int64_t i = 0; i < d->p; i++)
            pre[i] = bias;
        for (int64_t ky = 0; ky < cv->kh; ky++)
            for (int64_t kx = 0; kx < cv->kw; kx++) {
                float wv = w[ky * cv->kw + kx];
                FOR_EACH_TAP_ROW(cv, ky, kx,
                                 axpy_strided(wv, x + iy * cv->w + xstart + ox0 * cv->stride,
                                              cv->stride, ox1 - ox0, pre + oy * cv->wo + ox0));
            }
        if (t->act != RT_ACT_NONE || pre != y)
            rt_act_forward(t->act, t->alpha, d->p, pre, y);
    }
}

// dy (B,F,Ho,Wo), w (F,1,KH,KW), dx (B,C,H,W): planes [q0, q1) of (b, c)
void rt_conv_depthwise_data_task(void *ctx, int64_t task)
{
    const data_task *t = ctx;
    const rt_conv2d *cv = t->cv;
    const conv_dims *d = &t->d;
    int64_t per = max_i64(1, 16384 / max_i64(1, d->hw)), q0 = task * per;
    int64_t q1 = min_i64(t->batch * cv->c, q0 + per);
    const depthwise_simd *k = depthwise_kernels(cv, t->isa);
    if (k) {
        rt_conv_dw g = depthwise_layer(cv);
        k->data(&g, q0, q1, t->dy, t->w, t->dx, depthwise_scratch(k, &g));
        return;
    }
    for (int64_t q = q0; q < q1; q++) {
        int64_t b = q / cv->c, g = q % cv->c;
        float *dx = t->dx + q * d->hw;
        memset(dx, 0, (size_t)d->hw * sizeof *dx);
        for (int64_t f = g * d->fg; f < (g + 1) * d->fg; f++) {
            const float *dy = t->dy + (b * cv->f + f) * d->p;
            const float *w = t->w + f * cv->kh * cv->kw;
            for (int64_t ky = 0; ky < cv->kh; ky++)
                for (int64_t kx = 0; kx < cv->kw; kx++) {
                    float wv = w[ky * cv->kw + kx];
                    FOR_EACH_TAP_ROW(cv, ky, kx, {
                        float *o = dx + iy * cv->w + xstart;
                        const float *g_row = dy + oy * cv->wo;
                        if (cv->stride == 1)
                            axpy_strided(wv, g_row + ox0, 1, ox1 - ox0, o + ox0);
                        else
                            for (int64_t ox = ox0; ox < ox1; ox++)
                                o[ox * cv->stride] += wv * g_row[ox];
                    });
                }
        }
    }
}

/* sum of the RT_CONV_DW_SUM_LANES lanes at lanes, in order. */
static double lane_sum(const double *lanes)
{
    double sum = 0.0;
    for (int i = 0; i < RT_CONV_DW_SUM_LANES; i++)
        sum += lanes[i];
    return sum;
}

/* One task per filter, over the whole batch: no partial sums to merge. */
// x (B,C,H,W), dy (B,F,Ho,Wo), dw (F,1,KH,KW), db (F)
void rt_conv_depthwise_filter_task(void *ctx, int64_t f)
{
    const filter_task *t = ctx;
    const rt_conv2d *cv = t->cv;
    const conv_dims *d = &t->d;
    int64_t g = f / d->fg;
    const depthwise_simd *k = depthwise_kernels(cv, t->isa);
    if (k) {
        /* per tap a row of double lanes: depthwise_simd.h adds its float
         * lanes into them after each group of samples */
        const int64_t lanes = RT_CONV_DW_SUM_LANES, taps = cv->kh * cv->kw;
        rt_conv_dw layer = depthwise_layer(cv);
        float *scratch = depthwise_scratch(k, &layer);
        double *sums = rt_thread_scratch(RT_SCRATCH_CONV_PARTIAL_DB,
                                         (size_t)(lanes * (taps + 1)) * sizeof(double));
        memset(sums, 0, (size_t)(lanes * (taps + 1)) * sizeof *sums);
        k->filter(&layer, f, t->batch, t->x, t->dy, sums, scratch);
        float *dw = t->dw + f * taps;
        for (int64_t i = 0; i < taps; i++) {
            float sum = (float)lane_sum(sums + lanes * i);
            dw[i] = t->accumulate ? dw[i] + sum : sum;
        }
        if (t->db) {
            float sum = (float)lane_sum(sums + lanes * taps);
            t->db[f] = t->accumulate ? t->db[f] + sum : sum;
        }
        return;
    }
    for (int64_t ky = 0; ky < cv->kh; ky++)
        for (int64_t kx = 0; kx < cv->kw; kx++) {
            double sum = 0.0;
            for (int64_t b = 0; b < t->batch; b++) {
                const float *x = t->x + (b * cv->c + g) * d->hw;
                const float *dy = t->dy + (b * cv->f + f) * d->p;
                FOR_EACH_TAP_ROW(cv, ky, kx,
                                 sum += dot_strided(dy + oy * cv->wo + ox0,
                                                    x + iy * cv->w + xstart + ox0 * cv->stride,
                                                    cv->stride, ox1 - ox0));
            }
            float *dw = t->dw + f * cv->kh * cv->kw + ky * cv->kw + kx;
            *dw = t->accumulate ? *dw + (float)sum : (float)sum;
        }
    if (t->db) {
        double sum = 0.0;
        for (int64_t b = 0; b < t->batch; b++)
            sum += rt_conv_row_sum(t->dy + (b * cv->f + f) * d->p, d->p);
        t->db[f] = t->accumulate ? t->db[f] + (float)sum : (float)sum;
    }
}
