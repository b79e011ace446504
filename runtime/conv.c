/* conv.c — 2-D convolution, NCHW: the layer's shape checks and the choice
 * of algorithm; the passes are in conv_forward.c, conv_backward.c (data
 * and filter gradients), conv_depthwise.c and conv_im2col.c (the column
 * matrix both GEMM passes read or write), with what they share in
 * conv_internal.h. The overview below covers all of them.
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

#include "conv_internal.h"

/* ------------------------------------------------------------- shapes */


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
    static const char *const names[] = { RT_CONV_ALGO_LIST(RT_ENUM_TEXT) };
    return rt_enum_name(names, RT_COUNT(names), (int)algo);
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

conv_dims rt_conv_check_dims(const rt_conv2d *cv, const char *who)
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
    d.xs = cv->c * d.hw;
    d.ys = cv->f * d.p;
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
