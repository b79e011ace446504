/* conv.c — 2-D convolution, forward and both backward passes, NCHW.
 *
 * Algorithms, per layer shape (K = C/g * kh * kw, P = ho * wo):
 *  - forward, AVX-512/AVX2: im2col per sample (in L2-sized blocks of
 *    output pixels) and rt_sgemm's micro-kernel run directly on it, with w
 *    packed once per call (forward_packed). rt_sgemm packed w again for
 *    every sample and copied im2col into its B panels: LeNet conv2 went
 *    from 78 to 87 GFLOP/s on one thread (batch 64).
 *  - forward, AVX-512, filters a multiple of 32 and K >= 64: pixels are
 *    the micro-tile's rows and filters its columns (forward_transposed),
 *    so a pixel count like LeNet conv2's 100 wastes no 32-wide tile.
 *  - data gradient, AVX-512: the micro-kernel on w and dy in place
 *    (data_direct), then col2im; filter gradient with a short reduction,
 *    AVX-512: dw^T = col dy^T with col read in place (filter_direct).
 *  - forward, portable; data gradient: im2col + rt_sgemm
 *      y (Fg,P) = w (Fg,K) col (K,P);  dcol (K,P) = w^T (K,Fg) dy (Fg,P),
 *    then col2im adds dcol into dx. Several samples share one GEMM when P
 *    is small (COLUMNS_PER_GEMM).
 *  - 1x1 stride-1 unpadded layers are plain GEMMs on x itself, no im2col
 *    (ResNet 1x1 256->64 at 56x56: 92 GFLOP/s data gradient, 80 forward).
 *  - filter gradient: dw (Fg,K) += dy (Fg,L) col^T (L,K) with L the pixels
 *    of a chunk of samples; by dot products (conv_avx512.c) when L is long,
 *    else rt_sgemm (DOT_MIN_DEPTH).
 *  - depthwise layers (one input channel per group): direct loops, no GEMM;
 *    on AVX-512 and AVX2, masked-vector correlations in depthwise_simd.h
 *    (MobileNet's 128x28x28 3x3, one thread, AVX-512: 8 / 10 / 6 ->
 *    57 / 66 / 74 GFLOP/s forward / data / filter).
 *
 * Measured with bench_rt_conv on this 2-core Zen 4 (one thread, batch 64,
 * GFLOP/s forward / data / filter): LeNet conv1 55 / 62 / 47, conv2
 * 87 / 83 / 74; ResNet 3x3 layers 80-94 / 85-99 / 86-93; with two threads
 * the batch splits over samples and each figure nearly doubles. The LeNet
 * convolution + pooling training step (batch 64, two threads) took 10.6 ms
 * (6060 samples/s) before the packed forward.
 *
 * Threading and determinism: the batch is cut into chunks of samples whose
 * bounds depend on the shape and batch only; forward and backward-data
 * chunks write disjoint outputs; backward-filter chunks each write a
 * partial dw that is summed in chunk order. A batch smaller than the pool
 * (prediction) splits each sample's output pixels instead; every output
 * goes through the same FMA chain however the pixels are split. A GEMM
 * inside a task runs on that task's thread (nested rt_parallel_for is
 * serial); a layer with a single chunk runs inline, so its GEMMs use the
 * whole pool, and rt_sgemm is bitwise the same for any thread count. So
 * every result is the same bits for any thread count (test_rt_conv).
 *
 * Memory: the im2col, gather and packed-w buffers are per thread, grown on
 * demand and kept until the thread exits; the partial filter gradients
 * belong to the calling thread. Nothing is allocated once the sizes have
 * been seen.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_internal.h"
#include "gemm_internal.h"
#include "netrt.h"
#include "pool_internal.h"
#include "util.h"

/* Target of samples*P, the N of a batched rt_sgemm (portable forward, data
 * gradient). On LeNet conv2 (F=64, K=800, P=64, one thread) 64, 128, 256,
 * 512 and 1024 columns were within the noise of this shared machine
 * (forward 69-71 GFLOP/s with rt_sgemm); 256 keeps the GEMM's N a few
 * tiles wide. FILTER_COLUMNS is the same for the filter gradient, where
 * the columns are the GEMM's depth: deeper is better, up to the buffer cap. */
#ifndef COLUMNS_PER_GEMM
#define COLUMNS_PER_GEMM 256
#endif
#ifndef FILTER_COLUMNS
#define FILTER_COLUMNS 4096
#endif
/* Cap of one im2col buffer (floats) when deciding how many samples share
 * a GEMM: 1 MiB, the L2 of one core. */
#define COLUMN_BUFFER_FLOATS (256 * 1024)
/* Target of samples*P for data_direct (AVX-512 data gradient). */
#define DATA_COLUMNS 512
/* Chunks of the batch for the filter gradient: each holds a partial dw, so
 * more chunks cost memory and a longer final sum; 8 keeps 2..8 threads
 * busy. */
#define FILTER_CHUNKS 8
/* Output columns per unit when one sample is split over threads: the
 * AVX-512 GEMM tile's width, and more than the 16 below which rt_sgemm
 * changes path (which would change the bits). */
#define PART_COLUMNS 32
/* Multiply-adds per sample below which a small batch is not split over
 * threads. With per-row im2col bounds, LeNet conv1 (0.46 M) took 16 us on
 * one thread and 21 on two; with whole-row parts (im2col_rows), splitting
 * it takes the valid LeNet's batch-1 prediction on two threads from 75.0
 * to 73.8 us (median of 3000 calls, quiet machine). */
#ifndef SPLIT_MIN_MACS
#define SPLIT_MIN_MACS (1 << 18)
#endif
/* Shortest reduction (samples x pixels) for which the filter gradient uses
 * the dot-product kernel of conv_avx512.c rather than rt_sgemm: each output
 * ends with a horizontal sum of 16 lanes, which a short reduction does not
 * amortise. Measured (one thread, AVX-512): LeNet conv1, L = 8 x 576:
 * 23 GFLOP/s with rt_sgemm, 96 with dot products; LeNet conv2, L = 5 x 64:
 * 65 with rt_sgemm, 57 with dot products. */
#define DOT_MIN_DEPTH 1024
/* Elements per task when summing the partial filter gradients. */
#define REDUCE_CHUNK 16384
/* Shortest depth K for RT_CONV_PIXEL_ROWS (why: at forward_transposed). */
#define TRANSPOSED_MIN_DEPTH 64


/* ------------------------------------------------------------ scratch */

/* This thread's buffers (util.h): im2col columns, and gathered dy or
 * output tiles; n floats each. */
static float *scratch_col(int64_t n)
{
    return rt_thread_scratch(RT_SCRATCH_CONV_COL, (size_t)n * sizeof(float));
}

static float *scratch_gather(int64_t n)
{
    return rt_thread_scratch(RT_SCRATCH_CONV_GATHER, (size_t)n * sizeof(float));
}

/* ------------------------------------------------------------- shapes */

typedef struct conv_dims {
    int64_t cg, fg;  /* channels and filters per group */
    int64_t k;       /* cg * kh * kw: GEMM depth of the forward pass */
    int64_t p, hw;   /* output and input pixels per channel */
    bool pointwise;  /* 1x1, stride 1, no padding: the input is the column matrix */
    bool depthwise;  /* one input channel per group, several groups: direct loops */
    bool pixel_rows; /* AVX-512 forward with pixels as the GEMM's rows */
    int64_t per_gemm; /* samples whose columns share one GEMM */
    int64_t per_filter_gemm; /* ... in the filter gradient, where they make its depth */
} conv_dims;

static bool is_pointwise(const rt_conv2d *cv)
{
    return cv->kh == 1 && cv->kw == 1 && cv->stride == 1 && cv->pad_top == 0 && cv->pad_left == 0 &&
           cv->pad_bottom == 0 && cv->pad_right == 0;
}

static bool is_depthwise(const rt_conv2d *cv)
{
    return cv->groups > 1 && cv->c == cv->groups;
}

/* The algorithm is a function of the layer's shape alone, so the compiler
 * calls this when it lowers a layer and writes the answer into the code:
 *  - one input channel per group (depthwise, groups > 1): direct loops.
 *    Each output reads kh*kw inputs, too little work for a GEMM's packing.
 *  - 1x1, stride 1, unpadded (pointwise): x is already the column matrix;
 *    a GEMM on it in place (ResNet 1x1 256->64 at 56x56: 92 GFLOP/s data
 *    gradient, 80 forward).
 *  - filters per group a multiple of 32 and K >= TRANSPOSED_MIN_DEPTH:
 *    output pixels as the GEMM's rows, so a pixel count like LeNet conv2's
 *    100 wastes no 32-wide tile (72-74 -> 83-88 GFLOP/s); see
 *    forward_transposed.
 *  - otherwise im2col + GEMM with the filters as rows, which fits any
 *    shape; a short K (LeNet conv1, K = 25) stays here because the
 *    transposed store would cost as much as the product.
 * Only the forward pass differs between GEMM and PIXEL_ROWS; both give the
 * same bits. */
rt_conv_algo rt_conv2d_choose(const rt_conv2d *cv)
{
    if (is_depthwise(cv))
        return RT_CONV_DEPTHWISE;
    if (is_pointwise(cv))
        return RT_CONV_POINTWISE;
    int64_t fg = cv->groups > 0 ? cv->f / cv->groups : 0;
    int64_t k = cv->groups > 0 ? cv->c / cv->groups * cv->kh * cv->kw : 0;
    if (fg % RT_GEMM_NR_AVX512 == 0 && k >= TRANSPOSED_MIN_DEPTH)
        return RT_CONV_PIXEL_ROWS;
    return RT_CONV_GEMM;
}

const char *rt_conv_algo_name(rt_conv_algo algo)
{
    switch (algo) {
    case RT_CONV_AUTO: return "auto";
    case RT_CONV_GEMM: return "im2col+gemm";
    case RT_CONV_PIXEL_ROWS: return "im2col+gemm, pixel rows";
    case RT_CONV_POINTWISE: return "pointwise gemm";
    case RT_CONV_DEPTHWISE: return "depthwise direct";
    }
    return "unknown";
}

static bool algo_admits(const rt_conv2d *cv, rt_conv_algo algo)
{
    switch (algo) {
    case RT_CONV_GEMM: return true;
    case RT_CONV_PIXEL_ROWS: return rt_conv2d_choose(cv) == RT_CONV_PIXEL_ROWS;
    case RT_CONV_POINTWISE: return is_pointwise(cv);
    case RT_CONV_DEPTHWISE: return is_depthwise(cv);
    case RT_CONV_AUTO: break;
    }
    return false;
}

static conv_dims check_dims(const rt_conv2d *cv, const char *who)
{
    int64_t eh = cv->dilation * (cv->kh - 1) + 1, ew = cv->dilation * (cv->kw - 1) + 1;
    int64_t ho = cv->stride > 0 ? (cv->h + cv->pad_top + cv->pad_bottom - eh) / cv->stride + 1 : 0;
    int64_t wo = cv->stride > 0 ? (cv->w + cv->pad_left + cv->pad_right - ew) / cv->stride + 1 : 0;
    if (cv->groups < 1 || cv->c % cv->groups || cv->f % cv->groups || cv->stride < 1 ||
        cv->dilation < 1 || cv->kh < 1 || cv->kw < 1 || ho != cv->ho || wo != cv->wo ||
        ho < 1 || wo < 1 || cv->pad_top < 0 || cv->pad_left < 0 || cv->pad_bottom < 0 ||
        cv->pad_right < 0) {
        fprintf(stderr,
                "%s:%d: netrt: %s: bad shape c=%lld h=%lld w=%lld f=%lld k=%lldx%lld stride=%lld "
                "dilation=%lld groups=%lld pads=%lld,%lld,%lld,%lld out=%lldx%lld (expected %lldx%lld)\n",
                __FILE__, __LINE__, who, (long long)cv->c, (long long)cv->h, (long long)cv->w,
                (long long)cv->f, (long long)cv->kh, (long long)cv->kw, (long long)cv->stride,
                (long long)cv->dilation, (long long)cv->groups, (long long)cv->pad_top,
                (long long)cv->pad_left, (long long)cv->pad_bottom, (long long)cv->pad_right,
                (long long)cv->ho, (long long)cv->wo, (long long)ho, (long long)wo);
        abort();
    }
    conv_dims d;
    d.cg = cv->c / cv->groups;
    d.fg = cv->f / cv->groups;
    d.k = d.cg * cv->kh * cv->kw;
    d.p = cv->ho * cv->wo;
    d.hw = cv->h * cv->w;
    rt_conv_algo algo = cv->algo ? (rt_conv_algo)cv->algo : rt_conv2d_choose(cv);
    if (!algo_admits(cv, algo)) {
        fprintf(stderr, "%s:%d: netrt: %s: algorithm %lld (%s) does not fit this layer's shape\n",
                __FILE__, __LINE__, who, (long long)cv->algo, rt_conv_algo_name(algo));
        abort();
    }
    d.pointwise = algo == RT_CONV_POINTWISE;
    d.depthwise = algo == RT_CONV_DEPTHWISE;
    d.pixel_rows = algo == RT_CONV_PIXEL_ROWS;
    int64_t n = max_i64(1, COLUMNS_PER_GEMM / d.p);
    n = min_i64(n, max_i64(1, COLUMN_BUFFER_FLOATS / (d.k * d.p)));
    d.per_gemm = n;
    n = max_i64(1, FILTER_COLUMNS / d.p);
    d.per_filter_gemm = min_i64(n, max_i64(1, COLUMN_BUFFER_FLOATS / (d.k * d.p)));
    return d;
}

/* ------------------------------------------------------ im2col, col2im */

/* The output columns [ox0, ox1) whose input column ox*stride - pad + off
 * lies inside [0, w). */
static void valid_range(int64_t wo, int64_t w, int64_t stride, int64_t start, int64_t *ox0,
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

/* One group of ns samples: x points at channel 0 of the group in sample 0
 * (samples sample_stride floats apart); col (K, ns*P), row k = (c,ky,kx),
 * column s*P + oy*wo + ox. Pixels in the padding are 0. The valid output
 * rows and columns of each kernel tap are worked out once per row of col,
 * so the inner loop is a plain copy: with the bounds tested per output row
 * im2col took 28% of LeNet conv2's forward pass (8-pixel rows). */
static void im2col_rows(const rt_conv2d *cv, const conv_dims *d, int64_t ns, const float *x,
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
            valid_range(cv->ho, cv->h, st, ky * cv->dilation - cv->pad_top, &oy0, &oy1);
            oy0 = min_i64(max_i64(oy0, ya), yb);
            oy1 = max_i64(oy0, min_i64(oy1, yb));
            for (int64_t kx = 0; kx < cv->kw; kx++) {
                float *row = col + ((ch * cv->kh + ky) * cv->kw + kx) * ld - ya * wo;
                int64_t xstart = kx * cv->dilation - cv->pad_left;
                int64_t ox0, ox1;
                valid_range(wo, cv->w, st, xstart, &ox0, &ox1);
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
                            float *o = out + oy * wo;
                            for (int64_t ox = 0; ox < ox0; ox++)
                                o[ox] = 0.0f;
                            if (st == 1)
                                copy_floats(in + ox0, ox1 - ox0, o + ox0);
                            else
                                for (int64_t ox = ox0; ox < ox1; ox++)
                                    o[ox] = in[ox * st];
                            for (int64_t ox = ox1; ox < wo; ox++)
                                o[ox] = 0.0f;
                        }
                    }
                    if (oy1 < yb)
                        memset(out + oy1 * wo, 0, (size_t)((yb - oy1) * wo) * sizeof *out);
                }
            }
        }
}

/* Every output row: col (K, ns*P). */
static void im2col(const rt_conv2d *cv, const conv_dims *d, int64_t ns, const float *x,
                   int64_t sample_stride, float *col)
{
    im2col_rows(cv, d, ns, x, sample_stride, 0, cv->ho, col);
}

/* im2col of one sample's output pixels [p0, p1) only: col (K, p1-p0).
 * For splitting one sample's forward pass over threads. Whole output rows
 * go to im2col_rows: these per-row bounds took 16% of LeNet's batch-1
 * prediction on two threads (perf). */
static void im2col_range(const rt_conv2d *cv, const conv_dims *d, const float *x, int64_t p0,
                         int64_t p1, float *col)
{
    const int64_t ld = p1 - p0, st = cv->stride, wo = cv->wo;
    if (p0 % wo == 0 && p1 % wo == 0) {
        im2col_rows(cv, d, 1, x, 0, p0 / wo, p1 / wo, col);
        return;
    }
    for (int64_t ch = 0; ch < d->cg; ch++)
        for (int64_t ky = 0; ky < cv->kh; ky++)
            for (int64_t kx = 0; kx < cv->kw; kx++) {
                float *row = col + ((ch * cv->kh + ky) * cv->kw + kx) * ld - p0;
                int64_t xstart = kx * cv->dilation - cv->pad_left;
                int64_t ox0, ox1;
                valid_range(wo, cv->w, st, xstart, &ox0, &ox1);
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
static void col2im(const rt_conv2d *cv, const conv_dims *d, int64_t ns, const float *col,
                   float *dx, int64_t sample_stride)
{
    const int64_t ld = ns * d->p, st = cv->stride, wo = cv->wo;
    for (int64_t ch = 0; ch < d->cg; ch++)
        for (int64_t ky = 0; ky < cv->kh; ky++) {
            int64_t oy0, oy1;
            valid_range(cv->ho, cv->h, st, ky * cv->dilation - cv->pad_top, &oy0, &oy1);
            for (int64_t kx = 0; kx < cv->kw; kx++) {
                const float *row = col + ((ch * cv->kh + ky) * cv->kw + kx) * ld;
                int64_t xstart = kx * cv->dilation - cv->pad_left;
                int64_t ox0, ox1;
                valid_range(wo, cv->w, st, xstart, &ox0, &ox1);
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
static void gather_samples(int64_t rows, int64_t p, int64_t ns, const float *src,
                           int64_t sample_stride, float *dst)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t s = 0; s < ns; s++)
            memcpy(dst + r * ns * p + s * p, src + s * sample_stride + r * p,
                   (size_t)p * sizeof *dst);
}

/* The inverse of gather_samples. */
static void scatter_samples(int64_t rows, int64_t p, int64_t ns, const float *src, float *dst,
                            int64_t sample_stride)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t s = 0; s < ns; s++)
            memcpy(dst + s * sample_stride + r * p, src + r * ns * p + s * p,
                   (size_t)p * sizeof *dst);
}

/* ------------------------------------------------------------ forward */

/* out[i] = in[i] + b; out may be in. Loaded 8 at a time into a temporary
 * before storing, so gcc -O2 vectorizes it (SLP) even when the two alias:
 * the plain loop stayed scalar and took 40% of LeNet conv1's forward
 * (perf annotate: one movss per element). */
static inline void add_bias(const float *in, float b, int64_t n, float *out)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float v[8];
        for (int j = 0; j < 8; j++)
            v[j] = in[i + j] + b;
        for (int j = 0; j < 8; j++)
            out[i + j] = v[j];
    }
    for (; i < n; i++)
        out[i] = in[i] + b;
}

typedef struct forward_task {
    const rt_conv2d *cv;
    conv_dims d;
    int64_t batch;
    const float *x, *w, *bias;
    rt_act act;
    float alpha;
    float *preact, *y;
    rt_isa isa;    /* depthwise layers: which instruction set */
    int64_t parts; /* forward_part: column ranges per sample */
    /* forward_packed: the SIMD micro-kernel and w packed for it */
    int mr, nr;
    rt_gemm_kernel_direct_fn kernel;
    int64_t kc_step, mpanels;
    const float *wpack;
    /* rt_conv2d_forward_maxpool: the pool, its output, and the task that
     * computes the rows pooled_task pools */
    const rt_pool2d *pool;
    float *pooled;
    rt_task_fn inner;
} forward_task;

// x (B,C,H,W), w (F,C/g,KH,KW), bias (F), y and preact (B,F,Ho,Wo)
static void forward_chunk(void *ctx, int64_t chunk)
{
    const forward_task *t = ctx;
    const rt_conv2d *cv = t->cv;
    const conv_dims *d = &t->d;
    int64_t s0 = chunk * d->per_gemm, ns = min_i64(d->per_gemm, t->batch - s0);
    int64_t xs = cv->c * d->hw, ys = cv->f * d->p;
    for (int64_t g = 0; g < cv->groups; g++) {
        const float *x = t->x + s0 * xs + g * d->cg * d->hw;
        const float *w = t->w + g * d->fg * d->k;
        float *y = t->y + s0 * ys + g * d->fg * d->p;
        if (d->pointwise) {
            for (int64_t s = 0; s < ns; s++)
                rt_sgemm(false, false, (int)d->fg, (int)d->p, (int)d->k, 1.0f, w, (int)d->k,
                         x + s * xs, (int)d->p, 0.0f, y + s * ys, (int)d->p);
            continue;
        }
        float *col = scratch_col(d->k * ns * d->p);
        im2col(cv, d, ns, x, xs, col);
        if (ns == 1) {
            rt_sgemm(false, false, (int)d->fg, (int)d->p, (int)d->k, 1.0f, w, (int)d->k, col,
                     (int)d->p, 0.0f, y, (int)d->p);
        } else {
            float *tmp = scratch_gather(d->fg * ns * d->p);
            rt_sgemm(false, false, (int)d->fg, (int)(ns * d->p), (int)d->k, 1.0f, w, (int)d->k,
                     col, (int)(ns * d->p), 0.0f, tmp, (int)(ns * d->p));
            scatter_samples(d->fg, d->p, ns, tmp, y, ys);
        }
    }
    /* Bias and activation while the outputs are still in cache. */
    if (!t->bias && t->act == RT_ACT_NONE && !t->preact)
        return;
    float *y = t->y + s0 * ys;
    float *pre = t->preact ? t->preact + s0 * ys : y;
    if (t->bias || pre != y)
        for (int64_t s = 0; s < ns; s++)
            for (int64_t f = 0; f < cv->f; f++)
                add_bias(y + s * ys + f * d->p, t->bias ? t->bias[f] : 0.0f, d->p,
                         pre + s * ys + f * d->p);
    if (t->act != RT_ACT_NONE || pre != y)
        rt_act_forward(t->act, t->alpha, ns * ys, pre, y);
}

/* Task `index` of a split forward: sample b, output pixels [p0, p1) in
 * whole units (below), so the bounds depend on the shape alone. */
static void part_columns(const forward_task *t, int64_t index, int64_t *b, int64_t *p0, int64_t *p1)
{
    /* Units are whole output rows (im2col copies whole rows fast), and with
     * a fused pool whole rows of pooling windows, so no window straddles two
     * tasks; at least PART_COLUMNS wide. */
    int64_t band = t->cv->wo * (t->pool ? t->pool->size : 1);
    int64_t unit = band * ((PART_COLUMNS + band - 1) / band);
    int64_t part = index % t->parts, units = (t->d.p + unit - 1) / unit;
    *b = index / t->parts;
    *p0 = part * units / t->parts * unit;
    *p1 = min_i64(t->d.p, (part + 1) * units / t->parts * unit);
}

/* forward_t_task's output rows [y0, y1) of part `part`: whole pooling
 * windows when a pool is fused. */
static void part_rows(const forward_task *t, int64_t part, int64_t *y0, int64_t *y1)
{
    int64_t band = t->pool ? t->pool->size : 1, units = t->cv->ho / band;
    *y0 = part * units / t->parts * band;
    *y1 = part == t->parts - 1 ? t->cv->ho : (part + 1) * units / t->parts * band;
}

/* One sample's output pixels [p0, p1) for every filter: how a batch too
 * small to keep the pool busy (batch-1 prediction) is split. LeNet conv2
 * at batch 1: 85 us on one thread, 65 us on two this way; im2col split by
 * channels followed by one rt_sgemm threaded over the pool took 71 us.
 * Both repeat the packing of w per thread, on a GEMM too small (N = 64)
 * to hide it; packing w once per call would need a GEMM driver of our own
 * (implicit GEMM), not written yet. Each output
 * goes through the same GEMM arithmetic as in forward_chunk (the parts are
 * wider than 16 columns, so rt_sgemm takes the same path), so the results
 * do not depend on the split. */
static void forward_part(void *ctx, int64_t index)
{
    const forward_task *t = ctx;
    const rt_conv2d *cv = t->cv;
    const conv_dims *d = &t->d;
    int64_t b, p0, p1;
    part_columns(t, index, &b, &p0, &p1);
    int64_t n = p1 - p0, xs = cv->c * d->hw, ys = cv->f * d->p;
    for (int64_t g = 0; g < cv->groups; g++) {
        const float *x = t->x + b * xs + g * d->cg * d->hw;
        const float *w = t->w + g * d->fg * d->k;
        float *y = t->y + b * ys + g * d->fg * d->p + p0;
        const float *col = x + p0;
        int64_t ldcol = d->p;
        if (!d->pointwise) {
            float *c = scratch_col(d->k * n);
            im2col_range(cv, d, x, p0, p1, c);
            col = c;
            ldcol = n;
        }
        rt_sgemm(false, false, (int)d->fg, (int)n, (int)d->k, 1.0f, w, (int)d->k, col,
                 (int)ldcol, 0.0f, y, (int)d->p);
    }
    if (!t->bias && t->act == RT_ACT_NONE && !t->preact)
        return;
    for (int64_t f = 0; f < cv->f; f++) {
        float *y = t->y + b * ys + f * d->p + p0;
        float *pre = t->preact ? t->preact + b * ys + f * d->p + p0 : y;
        if (t->bias || pre != y)
            add_bias(y, t->bias ? t->bias[f] : 0.0f, n, pre);
        if (t->act != RT_ACT_NONE || pre != y)
            rt_act_forward(t->act, t->alpha, n, pre, y);
    }
}

/* ------------------------------------------- forward with a max-pool */

static void forward_t_task(void *ctx, int64_t index);

/* The samples [s0, s1) and output rows [r0, r1) that forward task `index`
 * computes. */
static void task_span(const forward_task *t, int64_t index, int64_t *s0, int64_t *s1, int64_t *r0,
                      int64_t *r1)
{
    if (t->inner == forward_chunk) {
        *s0 = index * t->d.per_gemm;
        *s1 = min_i64(t->batch, *s0 + t->d.per_gemm);
        *r0 = 0;
        *r1 = t->cv->ho;
        return;
    }
    *s0 = index / t->parts;
    *s1 = *s0 + 1;
    if (t->inner == forward_t_task) {
        part_rows(t, index % t->parts, r0, r1);
        return;
    }
    int64_t b, p0, p1;
    part_columns(t, index, &b, &p0, &p1);
    *r0 = (p0 + t->cv->wo - 1) / t->cv->wo;
    *r1 = p1 == t->d.p ? t->cv->ho : p1 / t->cv->wo;
}

/* Runs forward task `index`, then max-pools the rows it has just written,
 * while they are still in cache: the pooling windows inside them, which
 * part_columns and part_rows make all of the task's windows. */
static void pooled_task(void *ctx, int64_t index)
{
    const forward_task *t = ctx;
    t->inner(ctx, index);
    const rt_pool2d *pl = t->pool;
    int64_t s0, s1, r0, r1;
    task_span(t, index, &s0, &s1, &r0, &r1);
    int64_t oy0 = (r0 + pl->size - 1) / pl->size, oy1 = min_i64(pl->ho, r1 / pl->size);
    for (int64_t s = s0; s < s1; s++)
        for (int64_t f = 0; f < t->cv->f; f++) {
            int64_t plane = s * t->cv->f + f;
            rt_maxpool_plane_rows(pl, t->y + plane * t->d.p, oy0, oy1, t->pooled + plane * pl->ho * pl->wo);
        }
}

static void run_forward(forward_task *t, int64_t ntasks, rt_task_fn fn)
{
    if (!t->pool) {
        rt_run_tasks(ntasks, fn, t);
        return;
    }
    t->inner = fn;
    rt_run_tasks(ntasks, pooled_task, t);
}

/* ------------------------------------------------ forward, packed w */

/* The SIMD paths run the forward pass on rt_sgemm's micro-kernels
 * directly: w is packed into MR-row micro-panels once per call (rt_sgemm
 * packed it again for every sample's GEMM: 64 x 800 floats for LeNet
 * conv2's 64 x 64 outputs), and the kernel reads the im2col matrix in
 * place (rt_gemm_kernel_*_direct), so nothing else is copied. K is cut into
 * slices as rt_sgemm cuts it, deepest 384, so a w micro-panel stays in L1.
 * One task per sample, or per range of one sample's output pixels when the
 * batch is smaller than the pool; every output goes through the same FMA
 * chain however the work is split, so results do not depend on the thread
 * count. Measured on LeNet conv2, one thread: batch 64 forward 78 -> 87
 * GFLOP/s; batch 1, 85 us on one thread, 65 -> 55 us on two. */
#define PACK_KC_MAX 384
/* Output columns (samples x pixels) up to which the AVX-512 forward pass
 * reads w in place (rt_gemm_kernel_avx512_direct_at, 12 filter rows as 12
 * streams) instead of packing it: packing reads and writes all of w, which
 * a short product does not amortise. LeNet conv2 at batch 1 (valid, 64
 * pixels): the pack was 7.5% of the whole prediction (perf). Same FMA
 * chain per output, so the same bits as the packed and transposed paths. */
#define INPLACE_MAX_COLUMNS 128
/* Floats of one im2col block (512 KiB, rt_sgemm's B block). */
#define BLOCK_FLOATS (128 * 1024)

/* w (F,K) -> per group, per K slice, per micro-panel of MR filters:
 * kc x MR, k-major, zero rows past the group's filters. Task `panel` packs
 * micro-panel panel % mpanels of group panel / mpanels, every slice. */
static void pack_weights_task(void *ctx, int64_t panel)
{
    const forward_task *t = ctx;
    const conv_dims *d = &t->d;
    int64_t g = panel / t->mpanels, i = panel % t->mpanels;
    int64_t f0 = i * t->mr;
    int rows = (int)min_i64(t->mr, d->fg - f0);
    float *dst = (float *)t->wpack + g * t->mpanels * t->mr * d->k;
    for (int64_t k0 = 0; k0 < d->k; k0 += t->kc_step) {
        int64_t kc = min_i64(t->kc_step, d->k - k0);
        rt_gemm_pack_transposed_avx2(t->w + (g * d->fg + f0) * d->k + k0, d->k, rows, kc, t->mr,
                                     dst + t->mpanels * k0 * t->mr + i * kc * t->mr);
    }
}

static void forward_packed_task(void *ctx, int64_t index)
{
    const forward_task *t = ctx;
    const rt_conv2d *cv = t->cv;
    const conv_dims *d = &t->d;
    int64_t b, p0, p1;
    part_columns(t, index, &b, &p0, &p1);
    int64_t n = p1 - p0, xs = cv->c * d->hw, ys = cv->f * d->p;
    /* Output columns per im2col block: the block stays in L2 while every
     * w panel sweeps it. Whole output rows, as the parts are. */
    int64_t block = max_i64(1, BLOCK_FLOATS / d->k / cv->wo) * cv->wo;
    /* The kernel loads whole NR-wide rows: the last panel reads past the
     * matrix into a zeroed pad. */
    float *col = scratch_col(d->k * min_i64(block, n) + t->nr);
    const float *wg = t->wpack;
    for (int64_t g = 0; g < cv->groups; g++, wg += t->mpanels * t->mr * d->k) {
        const float *x = t->x + b * xs + g * d->cg * d->hw;
        for (int64_t q0 = p0; q0 < p1; q0 += block) {
            int64_t q1 = min_i64(p1, q0 + block), m = q1 - q0;
            float *y = t->y + b * ys + g * d->fg * d->p + q0;
            if (m == d->p)
                im2col(cv, d, 1, x, xs, col);
            else
                im2col_range(cv, d, x, q0, q1, col);
            memset(col + d->k * m, 0, (size_t)t->nr * sizeof *col);
            for (int64_t j0 = 0; j0 < m; j0 += t->nr) {
                int nr = (int)min_i64(t->nr, m - j0);
                const float *wslice = wg;
                for (int64_t k0 = 0; k0 < d->k; k0 += t->kc_step) {
                    int64_t kc = min_i64(t->kc_step, d->k - k0);
                    float beta = k0 == 0 ? 0.0f : 1.0f;
                    for (int64_t i = 0; i < t->mpanels; i++) {
                        int mr = (int)min_i64(t->mr, d->fg - i * t->mr);
                        float *yt = y + i * t->mr * d->p + j0;
                        if (t->wpack)
                            t->kernel(kc, wslice + i * kc * t->mr, col + k0 * m + j0, m, yt, d->p, mr,
                                      nr, 1.0f, beta);
                        else
                            rt_gemm_kernel_avx512_direct_at(kc, t->w + (g * d->fg + i * t->mr) * d->k + k0,
                                                            d->k, col + k0 * m + j0, m, yt, d->p, mr, nr,
                                                            1.0f, beta);
                    }
                    wslice += t->mpanels * kc * t->mr;
                }
            }
        }
    }
    if (!t->bias && t->act == RT_ACT_NONE && !t->preact)
        return;
    for (int64_t f = 0; f < cv->f; f++) {
        float *y = t->y + b * ys + f * d->p + p0;
        float *pre = t->preact ? t->preact + b * ys + f * d->p + p0 : y;
        if (t->bias || pre != y)
            add_bias(y, t->bias ? t->bias[f] : 0.0f, n, pre);
        if (t->act != RT_ACT_NONE || pre != y)
            rt_act_forward(t->act, t->alpha, n, pre, y);
    }
}

static void forward_packed(forward_task *t, rt_isa isa, int64_t batch)
{
    const conv_dims *d = &t->d;
    t->mr = isa == RT_ISA_AVX512 ? RT_GEMM_MR_AVX512 : RT_GEMM_MR_AVX2;
    t->nr = isa == RT_ISA_AVX512 ? RT_GEMM_NR_AVX512 : RT_GEMM_NR_AVX2;
    t->kernel = isa == RT_ISA_AVX512 ? rt_gemm_kernel_avx512_direct : rt_gemm_kernel_avx2_direct;
    int64_t slices = (d->k + PACK_KC_MAX - 1) / PACK_KC_MAX;
    t->kc_step = (d->k + slices - 1) / slices;
    t->mpanels = (d->fg + t->mr - 1) / t->mr;
    int threads = rt_threads_count();
    int64_t units = d->p / PART_COLUMNS;
    t->parts = 1;
    if (batch < threads && units >= 2 && d->fg * d->k * d->p >= SPLIT_MIN_MACS)
        t->parts = min_i64(threads, units);
    if (isa == RT_ISA_AVX512 && batch * d->p <= INPLACE_MAX_COLUMNS) {
        /* few columns: the micro-kernel reads w where it lies */
        t->wpack = NULL;
        run_forward(t, batch * t->parts, forward_packed_task);
        return;
    }
    size_t need = (size_t)(t->cv->groups * t->mpanels * t->mr * d->k);
    t->wpack = rt_thread_scratch(RT_SCRATCH_CONV_WPACK, need * sizeof(float));
    /* Packing w is a tenth of a batch-1 forward pass: shared out when the
     * sample is, inline otherwise. */
    int64_t panels = t->cv->groups * t->mpanels;
    if (t->parts > 1)
        rt_run_tasks(panels, pack_weights_task, t);
    else
        for (int64_t i = 0; i < panels; i++)
            pack_weights_task(t, i);
    run_forward(t, batch * t->parts, forward_packed_task);
}

/* ------------------------------------- forward, pixels as GEMM rows */

/* The AVX-512 forward pass of layers whose filters fill whole 32-wide
 * tiles (fg % 32 == 0) and whose depth amortises a transposed store
 * (K >= TRANSPOSED_MIN_DEPTH) computes y^T (P,Fg) = col^T (P,K) w^T (K,Fg):
 * pixels are the rows of the micro-tile and filters its columns. LeNet
 * conv2 has P = 100 pixels: as GEMM columns they took four 32-wide tiles,
 * 28% of the FMAs on padding, and as rows they take eight 12-row tiles and
 * one of 4 rows that costs its own rows only. The kernel broadcasts its A
 * values, so it reads them from im2col in place (rt_gemm_kernel_avx512_
 * direct_ab); w is packed once per call into 32-filter micro-panels. The
 * product lands in a per-thread (P,Fg) tile that is transposed into y with
 * the bias and the activation. Every output goes through the FMA chain of
 * forward_packed (same K slices, alpha, beta), so the bits are the same.
 * LeNet conv2 (32x14x14 -> 64x10x10, batch 64, one thread, im2col
 * included): 72-74 -> 83-88 GFLOP/s. Not below K = 64: the transposed
 * store costs as much as the product there (LeNet conv1, K = 25:
 * 57 -> 33 GFLOP/s). TRANSPOSED_MIN_DEPTH is defined with the other limits. */

/* Task `panel`: micro-panel panel % mpanels of group panel / mpanels,
 * every K slice: kc x NR, k-major, at wpack + group * Fg*K + panel*NR*K +
 * k0*NR. */
static void pack_weights_t_task(void *ctx, int64_t panel)
{
    const forward_task *t = ctx;
    const conv_dims *d = &t->d;
    int64_t g = panel / t->mpanels, j = panel % t->mpanels;
    const float *src = t->w + (g * d->fg + j * t->nr) * d->k;
    float *dst = (float *)t->wpack + g * d->fg * d->k + j * t->nr * d->k;
    for (int64_t k0 = 0; k0 < d->k; k0 += t->kc_step) {
        int64_t kc = min_i64(t->kc_step, d->k - k0);
        rt_gemm_pack_transposed_avx2(src + k0, d->k, t->nr, kc, t->nr, dst + k0 * t->nr);
    }
}

static void forward_t_task(void *ctx, int64_t index)
{
    const forward_task *t = ctx;
    const rt_conv2d *cv = t->cv;
    const conv_dims *d = &t->d;
    const int64_t mr = RT_GEMM_MR_AVX512, wo = cv->wo;
    int64_t b = index / t->parts, part = index % t->parts;
    /* Parts and blocks are whole output rows, so im2col copies whole rows
     * (im2col_range's per-row bounds took 16% of a batch-1 forward pass on
     * two threads); a tile may start anywhere, the arithmetic of each
     * output does not depend on it. */
    int64_t y0, y1;
    part_rows(t, part, &y0, &y1);
    int64_t xs = cv->c * d->hw, ys = cv->f * d->p;
    /* Output rows per im2col block, so the block stays in L2. */
    int64_t block = max_i64(1, BLOCK_FLOATS / d->k / wo);
    int64_t m_max = min_i64(block, y1 - y0) * wo;
    float *col = scratch_col(d->k * m_max);
    float *tile = scratch_gather(m_max * d->fg);
    for (int64_t g = 0; g < cv->groups; g++) {
        const float *x = t->x + b * xs + g * d->cg * d->hw;
        const float *wg = t->wpack + g * d->fg * d->k;
        for (int64_t ya = y0; ya < y1; ya += block) {
            int64_t yb = min_i64(y1, ya + block), q0 = ya * wo, m = (yb - ya) * wo;
            im2col_rows(cv, d, 1, x, xs, ya, yb, col);
            for (int64_t i0 = 0; i0 < m; i0 += mr) {
                int rows = (int)min_i64(mr, m - i0);
                for (int64_t k0 = 0; k0 < d->k; k0 += t->kc_step) {
                    int64_t kc = min_i64(t->kc_step, d->k - k0);
                    float beta = k0 == 0 ? 0.0f : 1.0f;
                    for (int64_t j0 = 0; j0 < d->fg; j0 += t->nr)
                        rt_gemm_kernel_avx512_direct_ab(kc, col + k0 * m + i0, m,
                                                        wg + j0 * d->k + k0 * t->nr, t->nr,
                                                        tile + i0 * d->fg + j0, d->fg, rows,
                                                        (int)t->nr, 1.0f, beta);
                }
            }
            /* tile (m,Fg) -> y (Fg, pixels q0..q1) with bias, preact, act */
            for (int64_t f = 0; f < d->fg; f++) {
                int64_t ff = g * d->fg + f;
                float *y = t->y + b * ys + ff * d->p + q0;
                float *pre = t->preact ? t->preact + b * ys + ff * d->p + q0 : y;
                float bias = t->bias ? t->bias[ff] : 0.0f;
                for (int64_t i = 0; i < m; i++)
                    pre[i] = tile[i * d->fg + f] + bias;
                if (t->act != RT_ACT_NONE || pre != y)
                    rt_act_forward(t->act, t->alpha, m, pre, y);
            }
        }
    }
}

static void forward_transposed(forward_task *t, int64_t batch)
{
    const conv_dims *d = &t->d;
    t->nr = RT_GEMM_NR_AVX512;
    int64_t slices = (d->k + PACK_KC_MAX - 1) / PACK_KC_MAX;
    t->kc_step = (d->k + slices - 1) / slices;
    t->mpanels = d->fg / t->nr;
    size_t need = (size_t)(t->cv->f * d->k);
    t->wpack = rt_thread_scratch(RT_SCRATCH_CONV_WPACK, need * sizeof(float));
    int threads = rt_threads_count();
    t->parts = 1;
    int64_t bands = t->pool ? t->cv->ho / t->pool->size : t->cv->ho;
    if (batch < threads && bands >= 2 && d->fg * d->k * d->p >= SPLIT_MIN_MACS)
        t->parts = min_i64(threads, bands);
    int64_t panels = t->cv->groups * t->mpanels;
    if (t->parts > 1)
        rt_run_tasks(panels, pack_weights_t_task, t);
    else
        for (int64_t i = 0; i < panels; i++)
            pack_weights_t_task(t, i);
    run_forward(t, batch * t->parts, forward_t_task);
}

/* Depthwise layers, below. */
static int64_t planes_per_task(const conv_dims *d);
static void depthwise_forward_task(void *ctx, int64_t task);
static void depthwise_data_task(void *ctx, int64_t task);

static void conv_forward(forward_task t)
{
    const rt_conv2d *cv = t.cv;
    int64_t batch = t.batch;
    if (t.d.depthwise) {
        t.isa = rt_isa_current();
        int64_t per = planes_per_task(&t.d);
        rt_run_tasks((batch * cv->f + per - 1) / per, depthwise_forward_task, &t);
        if (t.pool)
            rt_maxpool_forward(t.pool, batch, t.y, t.pooled);
        return;
    }
    rt_isa isa = rt_isa_current();
    if (isa == RT_ISA_AVX512 && t.d.pixel_rows && batch * t.d.p > INPLACE_MAX_COLUMNS) {
        forward_transposed(&t, batch);
        return;
    }
    if (isa != RT_ISA_PORTABLE && !t.d.pointwise) {
        forward_packed(&t, isa, batch);
        return;
    }
    int64_t chunks = (batch + t.d.per_gemm - 1) / t.d.per_gemm;
    int threads = rt_threads_count();
    int64_t units = t.d.p / PART_COLUMNS;
    if (chunks < threads && units >= 2 && t.d.fg * t.d.k * t.d.p >= SPLIT_MIN_MACS) {
        t.parts = min_i64(threads, units);
        run_forward(&t, batch * t.parts, forward_part);
        return;
    }
    run_forward(&t, chunks, forward_chunk);
}

void rt_conv2d_forward(const rt_conv2d *cv, int64_t batch, const float *x, const float *w,
                       const float *bias, rt_act act, float alpha, float *preact, float *y)
{
    conv_forward((forward_task){ .cv = cv, .d = check_dims(cv, "rt_conv2d_forward"), .batch = batch,
                                 .x = x, .w = w, .bias = bias, .act = act, .alpha = alpha,
                                 .preact = preact, .y = y });
}

void rt_conv2d_forward_maxpool(const rt_conv2d *cv, const rt_pool2d *pool, int64_t batch,
                               const float *x, const float *w, const float *bias, rt_act act,
                               float alpha, float *preact, float *y, float *pooled)
{
    rt_maxpool_check(pool, "rt_conv2d_forward_maxpool");
    if (pool->c != cv->f || pool->h != cv->ho || pool->w != cv->wo || pool->pad != 0 ||
        pool->stride != pool->size) {
        fprintf(stderr,
                "%s:%d: netrt: rt_conv2d_forward_maxpool: the pool (c=%lld h=%lld w=%lld size=%lld "
                "stride=%lld pad=%lld) must cover the conv's %lldx%lldx%lld output with disjoint, "
                "unpadded windows\n",
                __FILE__, __LINE__, (long long)pool->c, (long long)pool->h, (long long)pool->w,
                (long long)pool->size, (long long)pool->stride, (long long)pool->pad,
                (long long)cv->f, (long long)cv->ho, (long long)cv->wo);
        abort();
    }
    conv_forward((forward_task){ .cv = cv, .d = check_dims(cv, "rt_conv2d_forward_maxpool"),
                                 .batch = batch, .x = x, .w = w, .bias = bias, .act = act,
                                 .alpha = alpha, .preact = preact, .y = y, .pool = pool,
                                 .pooled = pooled });
}

/* ------------------------------------------------------ backward data */

typedef struct data_task {
    const rt_conv2d *cv;
    conv_dims d;
    int64_t batch;
    rt_isa isa;
    const float *dy, *w;
    float *dx;
} data_task;

/* dcol (K, ns*P) = w^T (K,Fg) dy (Fg, ns*P), returned in this thread's
 * column scratch, on the AVX-512
 * micro-kernel with neither operand packed: the kernel broadcasts its A
 * values, w^T's column panel is w's rows read in place (lda = K), and dy,
 * gathered with a zero pad, is read in place as B. rt_sgemm packed w^T for
 * every group of samples and copied dy into panels (measurements at
 * rt_conv2d_backward_data). Each output is the same FMA chain over
 * the filters as in rt_sgemm (slices of at most 384, alpha 1). */
static float *data_direct(const conv_dims *d, int64_t ns, const float *dy, int64_t ys,
                          const float *w)
{
    const int64_t mr = RT_GEMM_MR_AVX512, nr = RT_GEMM_NR_AVX512, n = ns * d->p;
    float *dyg = scratch_gather(d->fg * n + nr);
    gather_samples(d->fg, d->p, ns, dy, ys, dyg);
    memset(dyg + d->fg * n, 0, (size_t)nr * sizeof *dyg); /* the last tile reads past */
    float *col = scratch_col(d->k * n);
    int64_t slices = (d->fg + PACK_KC_MAX - 1) / PACK_KC_MAX;
    int64_t kc_step = (d->fg + slices - 1) / slices;
    for (int64_t j0 = 0; j0 < n; j0 += nr) {
        int cols = (int)min_i64(nr, n - j0);
        for (int64_t f0 = 0; f0 < d->fg; f0 += kc_step) {
            int64_t kc = min_i64(kc_step, d->fg - f0);
            float beta = f0 == 0 ? 0.0f : 1.0f;
            for (int64_t i0 = 0; i0 < d->k; i0 += mr)
                rt_gemm_kernel_avx512_direct_ab(kc, w + f0 * d->k + i0, d->k,
                                                dyg + f0 * n + j0, n, col + i0 * n + j0, n,
                                                (int)min_i64(mr, d->k - i0), cols, 1.0f, beta);
        }
    }
    return col;
}

// dy (B,F,Ho,Wo), w (F,C/g,KH,KW), dx (B,C,H,W)
static void data_chunk(void *ctx, int64_t chunk)
{
    const data_task *t = ctx;
    const rt_conv2d *cv = t->cv;
    const conv_dims *d = &t->d;
    int64_t s0 = chunk * d->per_gemm, ns = min_i64(d->per_gemm, t->batch - s0);
    int64_t xs = cv->c * d->hw, ys = cv->f * d->p;
    if (!d->pointwise)
        memset(t->dx + s0 * xs, 0, (size_t)(ns * xs) * sizeof(float));
    for (int64_t g = 0; g < cv->groups; g++) {
        const float *dy = t->dy + s0 * ys + g * d->fg * d->p;
        const float *w = t->w + g * d->fg * d->k;
        float *dx = t->dx + s0 * xs + g * d->cg * d->hw;
        if (d->pointwise) {
            /* dx (Cg,HW) = w^T (Cg,Fg) dy (Fg,P), P = HW */
            for (int64_t s = 0; s < ns; s++)
                rt_sgemm(true, false, (int)d->cg, (int)d->p, (int)d->fg, 1.0f, w, (int)d->k,
                         dy + s * ys, (int)d->p, 0.0f, dx + s * xs, (int)d->p);
            continue;
        }
        if (t->isa == RT_ISA_AVX512) {
            col2im(cv, d, ns, data_direct(d, ns, dy, ys, w), dx, xs);
            continue;
        }
        const float *dyg = dy;
        if (ns > 1) {
            float *tmp = scratch_gather(d->fg * ns * d->p);
            gather_samples(d->fg, d->p, ns, dy, ys, tmp);
            dyg = tmp;
        }
        float *col = scratch_col(d->k * ns * d->p);
        rt_sgemm(true, false, (int)d->k, (int)(ns * d->p), (int)d->fg, 1.0f, w, (int)d->k, dyg,
                 (int)(ns * d->p), 0.0f, col, (int)(ns * d->p));
        col2im(cv, d, ns, col, dx, xs);
    }
}

void rt_conv2d_backward_data(const rt_conv2d *cv, int64_t batch, const float *dy,
                             const float *w, float *dx)
{
    data_task t = { .cv = cv, .d = check_dims(cv, "rt_conv2d_backward_data"), .batch = batch,
                    .isa = rt_isa_current(), .dy = dy, .w = w, .dx = dx };
    if (t.isa == RT_ISA_AVX512 && !t.d.pointwise && !t.d.depthwise) {
        /* data_direct: wider GEMMs (no packing to amortise, fewer columns
         * lost to the last 32-wide tile), a power of two of samples so
         * power-of-two batches split evenly over the pool. LeNet conv2
         * (P = 100, batch 64, one thread) with 1, 2, 4, 8, 16 samples:
         * 57-70, 79, 84-85, 84-88, 84-86 GFLOP/s (rt_sgemm, 2: 70-73). */
        int64_t ns = 1;
        while (2 * ns * t.d.p <= DATA_COLUMNS && 2 * ns * t.d.k * t.d.p <= 2 * COLUMN_BUFFER_FLOATS)
            ns *= 2;
        t.d.per_gemm = ns;
    }
    if (t.d.depthwise) {
        int64_t per = max_i64(1, 16384 / max_i64(1, t.d.hw));
        rt_run_tasks((batch * cv->c + per - 1) / per, depthwise_data_task, &t);
        return;
    }
    rt_run_tasks((batch + t.d.per_gemm - 1) / t.d.per_gemm, data_chunk, &t);
}

/* ---------------------------------------------------- backward filter */

typedef struct filter_task {
    const rt_conv2d *cv;
    conv_dims d;
    int64_t batch, chunks;
    rt_isa isa;
    const float *x, *dy;
    float *partial;     /* chunks x (F*K), or dw itself when direct */
    double *partial_db; /* chunks x F, or NULL */
    float *dw, *db;
    bool accumulate;
    bool transposed;    /* filter_direct: partials are dw^T per group */
    int64_t n;          /* F*K: elements of dw */
} filter_task;

/* dw^T (K,Fg) (+)= col (K,L) dy^T (L,Fg) on the AVX-512 micro-kernel with
 * both operands in place: the kernel broadcasts from 12 im2col rows
 * (rt_gemm_kernel_avx512_direct_at) and reads dy^T's rows as B. rt_sgemm
 * had to pack col^T, transposing the largest operand. dwt is this chunk's
 * partial gradient, kept transposed until filter_reduce. LeNet conv2
 * (batch 64, one thread): 78-79 -> 82-83 GFLOP/s; 1, 2, 4 or 8 samples
 * per chunk instead of 3 were within the noise. */
static void filter_direct(const conv_dims *d, int64_t l, const float *dyt, const float *col,
                          float *dwt, bool accumulate)
{
    const int64_t mr = RT_GEMM_MR_AVX512, nr = RT_GEMM_NR_AVX512;
    const int64_t ld = (d->fg + 31) / 32 * 32;
    int64_t slices = (l + PACK_KC_MAX - 1) / PACK_KC_MAX;
    int64_t kc_step = (l + slices - 1) / slices;
    for (int64_t i0 = 0; i0 < d->k; i0 += mr) {
        int rows = (int)min_i64(mr, d->k - i0);
        for (int64_t l0 = 0; l0 < l; l0 += kc_step) {
            int64_t kc = min_i64(kc_step, l - l0);
            float beta = accumulate || l0 > 0 ? 1.0f : 0.0f;
            for (int64_t j0 = 0; j0 < d->fg; j0 += nr)
                rt_gemm_kernel_avx512_direct_at(kc, col + i0 * l + l0, l, dyt + l0 * ld + j0, ld,
                                                dwt + i0 * d->fg + j0, d->fg, rows,
                                                (int)min_i64(nr, d->fg - j0), 1.0f, beta);
        }
    }
}

/* Sum of a row of n floats. One double accumulator was a chain of
 * dependent adds that took a third of LeNet conv1's filter gradient
 * (perf); 16 float lanes, added in double at the end, vectorize and keep
 * 24 bits per lane over rows of up to a few thousand pixels. */
static double row_sum(const float *row, int64_t n)
{
    enum { LANES = 16 };
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++)
            acc[j] += row[i + j];
    double sum = 0.0;
    for (; i < n; i++)
        sum += row[i];
    for (int j = 0; j < LANES; j++)
        sum += acc[j];
    return sum;
}

// x (B,C,H,W), dy (B,F,Ho,Wo), partial (F,C/g,KH,KW) of this chunk
static void filter_chunk(void *ctx, int64_t chunk)
{
    const filter_task *t = ctx;
    const rt_conv2d *cv = t->cv;
    const conv_dims *d = &t->d;
    int64_t b0 = chunk * t->batch / t->chunks, b1 = (chunk + 1) * t->batch / t->chunks;
    int64_t xs = cv->c * d->hw, ys = cv->f * d->p;
    float *dw = t->partial + chunk * t->n;
    for (int64_t s0 = b0; s0 < b1; s0 += d->per_filter_gemm) {
        int64_t ns = min_i64(d->per_filter_gemm, b1 - s0);
        float beta = s0 == b0 ? 0.0f : 1.0f;
        for (int64_t g = 0; g < cv->groups; g++) {
            const float *x = t->x + s0 * xs + g * d->cg * d->hw;
            const float *dy = t->dy + s0 * ys + g * d->fg * d->p;
            float *dwg = dw + g * d->fg * d->k;
            const float *col = x, *dyg = dy;
            if (!d->pointwise || ns > 1) {
                float *c = scratch_col(d->k * ns * d->p);
                im2col(cv, d, ns, x, xs, c);
                col = c;
            }
            if (ns > 1 && !t->transposed) {
                float *tmp = scratch_gather(d->fg * ns * d->p);
                gather_samples(d->fg, d->p, ns, dy, ys, tmp);
                dyg = tmp;
            }
            if (t->transposed) {
                /* dy^T (ns*P, Fg) for filter_direct's B, columns padded to 32 */
                int64_t l = ns * d->p, ld = (d->fg + 31) / 32 * 32;
                float *tmp = scratch_gather(l * ld);
                for (int64_t s = 0; s < ns; s++)
                    for (int64_t p = 0; p < d->p; p++) {
                        float *row = tmp + (s * d->p + p) * ld;
                        for (int64_t f = 0; f < d->fg; f++)
                            row[f] = dy[s * ys + f * d->p + p];
                        for (int64_t f = d->fg; f < ld; f++)
                            row[f] = 0.0f;
                    }
                dyg = tmp;
            }
            /* dw (Fg,K) (+)= dy (Fg, ns*P) col^T (ns*P, K) */
            if (t->transposed) {
                filter_direct(d, ns * d->p, dyg, col, dwg, s0 != b0);
                continue;
            }
            if (t->isa == RT_ISA_AVX512 && ns * d->p >= DOT_MIN_DEPTH)
                rt_conv_avx512_dot_nt(d->fg, d->k, ns * d->p, dyg, ns * d->p, col, ns * d->p,
                                      dwg, d->k, s0 != b0);
            else
                rt_sgemm(false, true, (int)d->fg, (int)d->k, (int)(ns * d->p), 1.0f, dyg,
                     (int)(ns * d->p), col, (int)(ns * d->p), beta, dwg, (int)d->k);
        }
    }
    if (t->partial_db) {
        double *db = t->partial_db + chunk * cv->f;
        for (int64_t f = 0; f < cv->f; f++) {
            double sum = 0.0;
            for (int64_t b = b0; b < b1; b++)
                sum += row_sum(t->dy + b * ys + f * d->p, d->p);
            db[f] = sum;
        }
    }
}

/* dw[i] (+)= sum over chunks of partial[chunk][i], in chunk order. */
static void filter_reduce(void *ctx, int64_t part)
{
    const filter_task *t = ctx;
    int64_t i0 = part * REDUCE_CHUNK, i1 = min_i64(t->n, i0 + REDUCE_CHUNK);
    const conv_dims *d = &t->d;
    /* transposed: i = (g*Fg + f)*K + k reads g*Fg*K + k*Fg + f */
    int64_t f = i0 / d->k % d->fg, k = i0 % d->k, base = i0 / (d->fg * d->k) * d->fg * d->k;
    for (int64_t i = i0; i < i1; i++) {
        int64_t src = i;
        if (t->transposed) {
            src = base + k * d->fg + f;
            if (++k == d->k) {
                k = 0;
                if (++f == d->fg)
                    f = 0, base += d->fg * d->k;
            }
        }
        float sum = t->partial[src];
        for (int64_t c = 1; c < t->chunks; c++)
            sum += t->partial[c * t->n + src];
        t->dw[i] = t->accumulate ? t->dw[i] + sum : sum;
    }
}

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
        valid_range((cv)->ho, (cv)->h, (cv)->stride, (ky) * (cv)->dilation - (cv)->pad_top, \
                    &oy0_, &oy1_);                                                        \
        valid_range((cv)->wo, (cv)->w, (cv)->stride, xstart, &ox0, &ox1);                 \
        for (int64_t oy = oy0_; oy < oy1_; oy++) {                                        \
            int64_t iy = oy * (cv)->stride + (ky) * (cv)->dilation - (cv)->pad_top;       \
            body;                                                                         \
        }                                                                                 \
    } while (0)

/* Planes (sample, filter) per task, by size only. */
static int64_t planes_per_task(const conv_dims *d)
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
static void depthwise_forward_task(void *ctx, int64_t task)
{
    const forward_task *t = ctx;
    const rt_conv2d *cv = t->cv;
    const conv_dims *d = &t->d;
    int64_t per = planes_per_task(d), q0 = task * per;
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
static void depthwise_data_task(void *ctx, int64_t task)
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
static void depthwise_filter_task(void *ctx, int64_t f)
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
            sum += row_sum(t->dy + (b * cv->f + f) * d->p, d->p);
        t->db[f] = t->accumulate ? t->db[f] + (float)sum : (float)sum;
    }
}

void rt_conv2d_backward_filter(const rt_conv2d *cv, int64_t batch, const float *x,
                               const float *dy, float *dw, float *db, bool accumulate)
{
    conv_dims d = check_dims(cv, "rt_conv2d_backward_filter");
    int64_t n = cv->f * d.k;
    if (batch <= 0) {
        if (!accumulate) {
            memset(dw, 0, (size_t)n * sizeof *dw);
            if (db)
                memset(db, 0, (size_t)cv->f * sizeof *db);
        }
        return;
    }
    filter_task t = { .cv = cv, .d = d, .batch = batch, .isa = rt_isa_current(), .x = x, .dy = dy, .dw = dw, .db = db,
                      .accumulate = accumulate, .n = n };
    if (d.depthwise) {
        rt_run_tasks(cv->f, depthwise_filter_task, &t);
        return;
    }
    /* Chunks depend on the batch alone; each has at least one sample. */
    t.chunks = min_i64(batch, FILTER_CHUNKS);
    /* filter_direct where the dot-product kernel does not take over */
    t.transposed = t.isa == RT_ISA_AVX512 && d.per_filter_gemm * d.p < DOT_MIN_DEPTH;
    bool direct = t.chunks == 1 && !accumulate && !t.transposed;
    if (direct) {
        t.partial = dw;
    } else {
        t.partial = rt_thread_scratch(RT_SCRATCH_CONV_PARTIAL, (size_t)(t.chunks * n) * sizeof(float));
    }
    if (db) {
        t.partial_db = rt_thread_scratch(RT_SCRATCH_CONV_PARTIAL_DB, (size_t)(t.chunks * cv->f) * sizeof(double));
    }
    /* The tasks reuse this thread's scratch for im2col, not the partials. */
    rt_run_tasks(t.chunks, filter_chunk, &t);
    if (!direct)
        rt_run_tasks((n + REDUCE_CHUNK - 1) / REDUCE_CHUNK, filter_reduce, &t);
    if (db)
        for (int64_t f = 0; f < cv->f; f++) {
            double sum = 0.0;
            for (int64_t c = 0; c < t.chunks; c++)
                sum += t.partial_db[c * cv->f + f];
            db[f] = accumulate ? db[f] + (float)sum : (float)sum;
        }
}
