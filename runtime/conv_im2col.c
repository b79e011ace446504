/* conv_im2col.c — the column matrix of the GEMM convolutions: im2col
 * (x -> col, for the forward pass and the filter gradient), col2im (dcol
 * added into dx, for the data gradient), and moving a group of samples'
 * outputs between one GEMM's columns and the batch layout. Pixels in the
 * padding are written as zeros (im2col) or skipped (col2im) by per-row
 * bounds (rt_conv_valid_range), not tested per element.
 */
#include <string.h>

#include "conv_internal.h"

/* ------------------------------------------------------ im2col, col2im */

/* The output columns [ox0, ox1) whose input column ox*stride - pad + off
 * lies inside [0, w). */
void rt_conv_valid_range(int64_t wo, int64_t w, int64_t stride, int64_t start, int64_t *ox0,
                         int64_t *ox1)
{
    /* ix = ox*stride + start; need 0 <= ix < w */
    int64_t lo = start >= 0 ? 0 : (-start + stride - 1) / stride;
    int64_t hi = w - start <= 0 ? 0 : (w - start + stride - 1) / stride;
    *ox0 = min_i64(lo, wo);
    *ox1 = max_i64(*ox0, min_i64(hi, wo));
}

/* out[0..n) = in[0..n), 8 at a time through a temporary so gcc -O2
 * vectorizes it: LeNet conv2's rows are 8 floats, and a libc memcpy call
 * per row took 15% of its forward pass (perf). */
static inline void copy_floats(const float *in, int64_t n, float *out)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float v[8];
        for (int j = 0; j < 8; j++)
            v[j] = in[i + j];
        for (int j = 0; j < 8; j++)
            out[i + j] = v[j];
    }
    for (; i < n; i++)
        out[i] = in[i];
}

/* One row of col over output columns [a, b): zeros up to c0, then
 * in[ox * st] for ox in [c0, c1) (the valid ones), zeros to b. */
static inline void copy_row_padded(const float *in, int64_t st, float *o, int64_t a, int64_t c0, int64_t c1,
                                   int64_t b)
{
    for (int64_t ox = a; ox < c0; ox++)
        o[ox] = 0.0f;
    if (st == 1)
        copy_floats(in + c0, c1 - c0, o + c0);
    else
        for (int64_t ox = c0; ox < c1; ox++)
            o[ox] = in[ox * st];
    for (int64_t ox = c1; ox < b; ox++)
        o[ox] = 0.0f;
}

/* One group of ns samples: x points at channel 0 of the group in sample 0
 * (samples sample_stride floats apart); col (K, ns*P), row k = (c,ky,kx),
 * column s*P + oy*wo + ox. Pixels in the padding are 0. The valid output
 * rows and columns of each kernel tap are worked out once per row of col,
 * so the inner loop is a plain copy: with the bounds tested per output row
 * im2col took 28% of LeNet conv2's forward pass (8-pixel rows). */
void rt_conv_im2col_rows(const rt_conv2d *cv, const conv_dims *d, int64_t ns, const float *x,
                         int64_t sample_stride, int64_t ya, int64_t yb, float *col)
{
    if (cv->stride == 1 && rt_isa_current() == RT_ISA_AVX512) {
        rt_conv_s1 g = { .cg = d->cg, .h = cv->h, .w = cv->w, .kh = cv->kh, .kw = cv->kw,
                         .dilation = cv->dilation, .pad_top = cv->pad_top, .pad_left = cv->pad_left,
                         .wo = cv->wo };
        rt_conv_avx512_im2col_s1(&g, ns, x, sample_stride, ya, yb, col);
        return;
    }
    const int64_t p = (yb - ya) * cv->wo, ld = ns * p, st = cv->stride, wo = cv->wo;
    for (int64_t ch = 0; ch < d->cg; ch++)
        for (int64_t ky = 0; ky < cv->kh; ky++) {
            int64_t oy0, oy1;
            rt_conv_valid_range(cv->ho, cv->h, st, ky * cv->dilation - cv->pad_top, &oy0, &oy1);
            oy0 = min_i64(max_i64(oy0, ya), yb);
            oy1 = max_i64(oy0, min_i64(oy1, yb));
            for (int64_t kx = 0; kx < cv->kw; kx++) {
                float *row = col + ((ch * cv->kh + ky) * cv->kw + kx) * ld - ya * wo;
                int64_t xstart = kx * cv->dilation - cv->pad_left;
                int64_t ox0, ox1;
                rt_conv_valid_range(wo, cv->w, st, xstart, &ox0, &ox1);
                for (int64_t s = 0; s < ns; s++) {
                    float *out = row + s * p;
                    if (oy0 > ya)
                        memset(out + ya * wo, 0, (size_t)((oy0 - ya) * wo) * sizeof *out);
                    const float *in = x + s * sample_stride + ch * d->hw +
                                      (oy0 * st + ky * cv->dilation - cv->pad_top) * cv->w +
                                      xstart;
                    if (st == 1 && ox0 == 0 && ox1 == wo) {
                        for (int64_t oy = oy0; oy < oy1; oy++, in += cv->w)
                            copy_floats(in, wo, out + oy * wo);
                    } else {
                        for (int64_t oy = oy0; oy < oy1; oy++, in += st * cv->w) {
                            copy_row_padded(in, st, out + oy * wo, 0, ox0, ox1, wo);
                        }
                    }
                    if (oy1 < yb)
                        memset(out + oy1 * wo, 0, (size_t)((yb - oy1) * wo) * sizeof *out);
                }
            }
        }
}

/* Every output row: col (K, ns*P). */
void rt_conv_im2col(const rt_conv2d *cv, const conv_dims *d, int64_t ns, const float *x,
                    int64_t sample_stride, float *col)
{
    rt_conv_im2col_rows(cv, d, ns, x, sample_stride, 0, cv->ho, col);
}

/* im2col of one sample's output pixels [p0, p1) only: col (K, p1-p0).
 * For splitting one sample's forward pass over threads. Whole output rows
 * go to im2col_rows: these per-row bounds took 16% of LeNet's batch-1
 * prediction on two threads (perf). */
void rt_conv_im2col_range(const rt_conv2d *cv, const conv_dims *d, const float *x, int64_t p0,
                          int64_t p1, float *col)
{
    const int64_t ld = p1 - p0, st = cv->stride, wo = cv->wo;
    if (p0 % wo == 0 && p1 % wo == 0) {
        rt_conv_im2col_rows(cv, d, 1, x, 0, p0 / wo, p1 / wo, col);
        return;
    }
    for (int64_t ch = 0; ch < d->cg; ch++)
        for (int64_t ky = 0; ky < cv->kh; ky++)
            for (int64_t kx = 0; kx < cv->kw; kx++) {
                float *row = col + ((ch * cv->kh + ky) * cv->kw + kx) * ld - p0;
                int64_t xstart = kx * cv->dilation - cv->pad_left;
                int64_t ox0, ox1;
                rt_conv_valid_range(wo, cv->w, st, xstart, &ox0, &ox1);
                for (int64_t oy = p0 / wo; oy * wo < p1; oy++) {
                    int64_t a = max_i64(p0 - oy * wo, 0), b = min_i64(p1 - oy * wo, wo);
                    float *o = row + oy * wo;
                    int64_t iy = oy * st + ky * cv->dilation - cv->pad_top;
                    if (iy < 0 || iy >= cv->h) {
                        for (int64_t ox = a; ox < b; ox++)
                            o[ox] = 0.0f;
                        continue;
                    }
                    const float *in = x + ch * d->hw + iy * cv->w + xstart;
                    int64_t c0 = min_i64(max_i64(a, ox0), b), c1 = max_i64(c0, min_i64(b, ox1));
                    copy_row_padded(in, st, o, a, c0, c1, b);
                }
            }
}

/* out[0..n) += in[0..n), vectorized like copy_floats. */
static inline void add_floats(const float *in, int64_t n, float *out)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float v[8];
        for (int j = 0; j < 8; j++)
            v[j] = out[i + j] + in[i + j];
        for (int j = 0; j < 8; j++)
            out[i + j] = v[j];
    }
    for (; i < n; i++)
        out[i] += in[i];
}

/* The adjoint of im2col: adds col (K, ns*P) into dx (laid out as x in
 * im2col), dropping what falls into the padding. Bounds are hoisted as in
 * im2col: the per-row version with a scalar add took 35% of LeNet conv2's
 * data gradient. */
void rt_conv_col2im(const rt_conv2d *cv, const conv_dims *d, int64_t ns, const float *col,
                    float *dx, int64_t sample_stride)
{
    const int64_t ld = ns * d->p, st = cv->stride, wo = cv->wo;
    for (int64_t ch = 0; ch < d->cg; ch++)
        for (int64_t ky = 0; ky < cv->kh; ky++) {
            int64_t oy0, oy1;
            rt_conv_valid_range(cv->ho, cv->h, st, ky * cv->dilation - cv->pad_top, &oy0, &oy1);
            for (int64_t kx = 0; kx < cv->kw; kx++) {
                const float *row = col + ((ch * cv->kh + ky) * cv->kw + kx) * ld;
                int64_t xstart = kx * cv->dilation - cv->pad_left;
                int64_t ox0, ox1;
                rt_conv_valid_range(wo, cv->w, st, xstart, &ox0, &ox1);
                for (int64_t s = 0; s < ns; s++) {
                    float *out = dx + s * sample_stride + ch * d->hw +
                                 (oy0 * st + ky * cv->dilation - cv->pad_top) * cv->w + xstart;
                    const float *in = row + s * d->p;
                    for (int64_t oy = oy0; oy < oy1; oy++, out += st * cv->w) {
                        const float *i = in + oy * wo;
                        if (st == 1)
                            add_floats(i + ox0, ox1 - ox0, out + ox0);
                        else
                            for (int64_t ox = ox0; ox < ox1; ox++)
                                out[ox * st] += i[ox];
                    }
                }
            }
        }
}

/* dst (rows, ns*P) <- src rows of ns samples, sample s at src + s*stride. */
void rt_conv_gather_samples(int64_t rows, int64_t p, int64_t ns, const float *src,
                            int64_t sample_stride, float *dst)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t s = 0; s < ns; s++)
            memcpy(dst + r * ns * p + s * p, src + s * sample_stride + r * p,
                   (size_t)p * sizeof *dst);
}

/* The inverse of gather_samples. */
void rt_conv_scatter_samples(int64_t rows, int64_t p, int64_t ns, const float *src, float *dst,
                             int64_t sample_stride)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t s = 0; s < ns; s++)
            memcpy(dst + s * sample_stride + r * p, src + r * ns * p + s * p,
                   (size_t)p * sizeof *dst);
}
