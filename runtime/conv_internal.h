/* conv_internal.h — what the convolution files share: conv.c,
 * conv_im2col.c, conv_forward.c, conv_backward.c, conv_depthwise.c, and
 * their SIMD kernels (conv_avx512.c, depthwise_avx512.c, depthwise_avx2.c).
 * Not installed; not part of the contract.
 */
#ifndef CONV_INTERNAL_H
#define CONV_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "gemm_internal.h"
#include "netrt.h"
#include "util.h"

/* The geometry rt_conv_avx512_im2col_s1 needs: one group's cg channels of
 * an h x w input, a kh x kw kernel at stride 1, wo output columns. */
typedef struct rt_conv_s1 {
    int64_t cg, h, w, kh, kw, dilation, pad_top, pad_left, wo;
} rt_conv_s1;

/* The bit mask of lanes [lo, hi) of 16, clipped to [0, 16): the mask
 * type of AVX-512's masked loads and stores. */
static inline uint16_t rt_conv_lanes(int64_t lo, int64_t hi)
{
    lo = lo < 0 ? 0 : lo;
    hi = hi > 16 ? 16 : hi;
    if (hi <= lo)
        return 0;
    return (uint16_t)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

/* c (M,N) (+)= a (M,L) b (N,L)^T as dot products (the filter gradient). */
void rt_conv_avx512_dot_nt(int64_t m, int64_t n, int64_t l, const float *a, int64_t lda,
                           const float *b, int64_t ldb, float *c, int64_t ldc, bool accumulate);

/* What rt_conv_avx512_direct_tile reads and writes: one sample of a
 * stride-1, unpadded, ungrouped layer whose output rows are whole 8-column
 * blocks (wo % 8 == 0, ho even), optionally max-pooled 2x2/2. */
typedef struct rt_conv_direct {
    int64_t k, kc_step;  /* depth; K slice length (as forward_packed cuts K) */
    const int32_t *taps; /* x offset of tap k: (ch*h + ky*dilation)*w + kx*dilation */
    const float *x;      /* the sample's input (C,H,W) */
    int64_t w;           /* input row length */
    const float *wt;     /* filters (F,K), read where they lie */
    const float *bias;   /* (F) or NULL */
    bool relu;
    float *y;            /* the sample's output (F,Ho,Wo), or NULL: not stored (pooled only) */
    int64_t p, wo;       /* output pixels per filter, output row length */
    float *pooled;       /* (F,Ho/2,Wo/2), or NULL: no pool */
} rt_conv_direct;

/* Filters [f0, f0 + rows) (rows <= 12) of output rows oy0 .. oy0 + 2*pairs
 * (pairs 1 or 2, oy0 even) and columns ox0 .. ox0 + 8: the product, bias,
 * ReLU and pool of one register tile (conv_forward.c's forward_direct). */
void rt_conv_avx512_direct_tile(const rt_conv_direct *g, int64_t f0, int rows, int64_t oy0,
                                int64_t ox0, int pairs);
/* The same on AVX2 (conv_avx2.c): rows <= 6 filters, output rows oy0 and
 * oy0 + 1 (pairs must be 1). */
void rt_conv_avx2_direct_tile(const rt_conv_direct *g, int64_t f0, int rows, int64_t oy0,
                              int64_t ox0, int pairs);
typedef void (*rt_conv_direct_tile_fn)(const rt_conv_direct *g, int64_t f0, int rows, int64_t oy0,
                                       int64_t ox0, int pairs);

/* im2col of output rows [ya, yb) of ns samples for a stride-1 layer
 * (conv_im2col.c's rt_conv_im2col_rows). */
void rt_conv_avx512_im2col_s1(const rt_conv_s1 *g, int64_t ns, const float *x, int64_t sample_stride,
                              int64_t ya, int64_t yb, float *col);

/* A depthwise layer for depthwise_simd.h (depthwise_avx512.c,
 * depthwise_avx2.c): c input channels of h x w, f = c * multiplier
 * filters of kh x kw, output channels of ho x wo. */
typedef struct rt_conv_dw {
    int64_t c, f, h, w, ho, wo, kh, kw, stride, dilation, pad_top, pad_left;
} rt_conv_dw;

/* The widest kernel and the largest stride the SIMD depthwise paths take
 * (they keep per-column and per-phase tables of these sizes);
 * conv_depthwise.c's loops take the rest. */
#define RT_CONV_DW_MAX_KW 32
#define RT_CONV_DW_MAX_STRIDE 8
/* Doubles per tap in the filter gradient's sums: a lane of the widest
 * vector each (AVX2 fills the first 8). */
#define RT_CONV_DW_SUM_LANES 16

/* The same four functions for each instruction set (ISA: avx512, avx2):
 *
 * rt_conv_ISA_dw_scratch: floats of scratch (64-byte aligned) that each
 * of the three others needs.
 *
 * rt_conv_ISA_dw_forward: output planes [q0, q1) of (sample, filter):
 * y = bias + the correlation of the filter's input channel with its
 * kernel, then 0 > y ? 0 : y if relu; pre (if not NULL) gets y before the
 * ReLU. bias may be NULL.
 *   x (B,C,H,W), w (F,1,KH,KW), bias (F), pre and y (B,F,Ho,Wo)
 *
 * rt_conv_ISA_dw_data: input-gradient planes [q0, q1) of (sample,
 * channel): the sum over the channel's filters of dy through the
 * transposed convolution.
 *   dy (B,F,Ho,Wo), w (F,1,KH,KW), dx (B,C,H,W)
 *
 * rt_conv_ISA_dw_filter: filter `filter` over samples [0, batch): sums
 * ((KH*KW + 1) x RT_CONV_DW_SUM_LANES) += the products of dy with x under
 * each tap, then dy itself (the bias gradient), lane by lane.
 *   x (B,C,H,W), dy (B,F,Ho,Wo)
 */
#define RT_CONV_DW_DECLARE(isa)                                                                   \
    int64_t rt_conv_##isa##_dw_scratch(const rt_conv_dw *g);                                      \
    void rt_conv_##isa##_dw_forward(const rt_conv_dw *g, int64_t q0, int64_t q1, const float *x,  \
                                    const float *w, const float *bias, bool relu, float *pre,     \
                                    float *y, float *scratch);                                    \
    void rt_conv_##isa##_dw_data(const rt_conv_dw *g, int64_t q0, int64_t q1, const float *dy,    \
                                 const float *w, float *dx, float *scratch);                      \
    void rt_conv_##isa##_dw_filter(const rt_conv_dw *g, int64_t filter, int64_t batch,            \
                                   const float *x, const float *dy, double *sums, float *scratch)
RT_CONV_DW_DECLARE(avx512);
RT_CONV_DW_DECLARE(avx2);

/* ------------------------------------------------ the passes' tuning */

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
/* Deepest K slice of the micro-kernel passes, as rt_sgemm cuts K, so a w
 * micro-panel stays in L1 (conv_forward.c, conv_backward.c). */
#define PACK_KC_MAX 384

/* ----------------------------------------------- shapes, tasks, scratch */

typedef struct conv_dims {
    int64_t cg, fg;  /* channels and filters per group */
    int64_t k;       /* cg * kh * kw: GEMM depth of the forward pass */
    int64_t p, hw;   /* output and input pixels per channel */
    int64_t xs, ys;  /* floats per sample of x (C*H*W) and of y (F*Ho*Wo) */
    bool pointwise;  /* 1x1, stride 1, no padding: the input is the column matrix */
    bool depthwise;  /* one input channel per group, several groups: direct loops */
    bool pixel_rows; /* AVX-512 forward with pixels as the GEMM's rows */
    int64_t per_gemm; /* samples whose columns share one GEMM */
    int64_t per_filter_gemm; /* ... in the filter gradient, where they make its depth */
} conv_dims;

/* The layer's dimensions after checking it (aborts with a message naming
 * `who` on a malformed layer or an algorithm the shape does not admit). */
conv_dims rt_conv_check_dims(const rt_conv2d *cv, const char *who);

/* What a forward, data-gradient or filter-gradient task reads: the GEMM
 * paths' (conv_forward.c, conv_backward.c) and the depthwise ones'. */
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
    /* forward_direct: the taps' x offsets, and each sample's split into
     * fparts filter ranges times parts ranges of pixel tiles */
    const int32_t *taps;
    int64_t fparts;
    rt_conv_direct_tile_fn tile; /* and its filters (mr) and output rows per tile */
    int64_t tile_rows;
    /* rt_conv2d_forward_maxpool: the pool, its output, and the task that
     * computes the rows pooled_task pools */
    const rt_pool2d *pool;
    float *pooled;
    rt_task_fn inner;
} forward_task;

typedef struct data_task {
    const rt_conv2d *cv;
    conv_dims d;
    int64_t batch;
    rt_isa isa;
    const float *dy, *w;
    float *dx;
} data_task;

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

/* Chunk `chunk` of a batch split into GEMMs of per_gemm samples: its first
 * sample, and its count in *ns. */
static inline int64_t conv_chunk_samples(const conv_dims *d, int64_t chunk, int64_t batch, int64_t *ns)
{
    int64_t s0 = chunk * d->per_gemm;
    *ns = min_i64(d->per_gemm, batch - s0);
    return s0;
}

/* A pointwise layer's products for the ns samples from s0, per sample and
 * group (P = HW: stride 1, no padding). Forward (data false):
 * y (Fg, P) = w_g (Fg, Cg) x (Cg, P); data gradient: dx (Cg, P) =
 * w_g^T (Cg, Fg) dy (Fg, P), w then holding each group's w_g^T (Cg, Fg),
 * transposed once per call (rt_conv2d_backward_data). in is x or dy, out
 * y or dx, whole batches. */
static inline void conv_pointwise_chunk(const conv_dims *d, int64_t groups, int64_t s0, int64_t ns, bool data,
                                        const float *w, const float *in, float *out)
{
    int64_t x_group = d->cg * d->hw, y_group = d->fg * d->p;
    int64_t in_stride = data ? d->ys : d->xs, in_group = data ? y_group : x_group;
    int64_t out_stride = data ? d->xs : d->ys, out_group = data ? x_group : y_group;
    int64_t m = data ? d->cg : d->fg, k = data ? d->fg : d->k;
    for (int64_t g = 0; g < groups; g++)
        for (int64_t s = s0; s < s0 + ns; s++)
            rt_sgemm(false, false, (int)m, (int)d->p, (int)k, 1.0f, w + g * d->fg * d->k, (int)k,
                     in + s * in_stride + g * in_group, (int)d->p, 0.0f, out + s * out_stride + g * out_group,
                     (int)d->p);
}

/* This thread's buffers (util.h): im2col columns, and gathered dy or
 * output tiles; n floats each. */
static inline float *scratch_col(int64_t n)
{
    return rt_thread_scratch(RT_SCRATCH_CONV_COL, (size_t)n * sizeof(float));
}

static inline float *scratch_gather(int64_t n)
{
    return rt_thread_scratch(RT_SCRATCH_CONV_GATHER, (size_t)n * sizeof(float));
}

/* ------------------------------------------------- conv_im2col.c */

/* Output positions [*ox0, *ox1) of wo whose input start + o * stride lies
 * in [0, w). */
void rt_conv_valid_range(int64_t wo, int64_t w, int64_t stride, int64_t start, int64_t *ox0,
                         int64_t *ox1);
/* col (K, ns*P) from ns samples of x (sample_stride apart): the whole
 * matrix, output rows [ya, yb) of it, or one sample's pixels [p0, p1)
 * (ldcol p1 - p0). */
void rt_conv_im2col(const rt_conv2d *cv, const conv_dims *d, int64_t ns, const float *x,
                    int64_t sample_stride, float *col);
void rt_conv_im2col_rows(const rt_conv2d *cv, const conv_dims *d, int64_t ns, const float *x,
                         int64_t sample_stride, int64_t ya, int64_t yb, float *col);
void rt_conv_im2col_range(const rt_conv2d *cv, const conv_dims *d, const float *x, int64_t p0,
                          int64_t p1, float *col);
/* dx (ns samples, sample_stride apart) += col2im(col (K, ns*P)) */
void rt_conv_col2im(const rt_conv2d *cv, const conv_dims *d, int64_t ns, const float *col,
                    float *dx, int64_t sample_stride);
/* rows x (ns*P) <-> ns samples of rows x P, sample_stride apart */
void rt_conv_gather_samples(int64_t rows, int64_t p, int64_t ns, const float *src,
                            int64_t sample_stride, float *dst);
void rt_conv_scatter_samples(int64_t rows, int64_t p, int64_t ns, const float *src, float *dst,
                             int64_t sample_stride);

/* ---------------------------------------- conv_backward.c, conv_depthwise.c */

/* sum of row[0..n) in 16 float lanes, then double (the bias gradient) */
double rt_conv_row_sum(const float *row, int64_t n);
/* Planes (sample, filter) per depthwise forward task, by size only. */
int64_t rt_conv_planes_per_task(const conv_dims *d);
/* Depthwise tasks: ctx is a forward_task, data_task or filter_task. */
void rt_conv_depthwise_forward_task(void *ctx, int64_t task);
void rt_conv_depthwise_data_task(void *ctx, int64_t task);
void rt_conv_depthwise_filter_task(void *ctx, int64_t f);

#endif
