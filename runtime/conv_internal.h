/* conv_internal.h — what conv.c shares with its AVX-512 kernels
 * (conv_avx512.c, depthwise_avx512.c). Not installed; not part of the
 * contract.
 */
#ifndef CONV_INTERNAL_H
#define CONV_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

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

/* im2col of output rows [ya, yb) of ns samples for a stride-1 layer
 * (conv.c's im2col_rows). */
void rt_conv_avx512_im2col_s1(const rt_conv_s1 *g, int64_t ns, const float *x, int64_t sample_stride,
                              int64_t ya, int64_t yb, float *col);

/* A depthwise layer for depthwise_simd.h (depthwise_avx512.c,
 * depthwise_avx2.c): c input channels of h x w, f = c * multiplier
 * filters of kh x kw, output channels of ho x wo. */
typedef struct rt_conv_dw {
    int64_t c, f, h, w, ho, wo, kh, kw, stride, dilation, pad_top, pad_left;
} rt_conv_dw;

/* The widest kernel and the largest stride the SIMD depthwise paths take
 * (they keep per-column and per-phase tables of these sizes); conv.c's
 * loops take the rest. */
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
int64_t rt_conv_avx512_dw_scratch(const rt_conv_dw *g);
void rt_conv_avx512_dw_forward(const rt_conv_dw *g, int64_t q0, int64_t q1, const float *x,
                               const float *w, const float *bias, bool relu, float *pre, float *y,
                               float *scratch);
void rt_conv_avx512_dw_data(const rt_conv_dw *g, int64_t q0, int64_t q1, const float *dy,
                            const float *w, float *dx, float *scratch);
void rt_conv_avx512_dw_filter(const rt_conv_dw *g, int64_t filter, int64_t batch, const float *x,
                              const float *dy, double *sums, float *scratch);

int64_t rt_conv_avx2_dw_scratch(const rt_conv_dw *g);
void rt_conv_avx2_dw_forward(const rt_conv_dw *g, int64_t q0, int64_t q1, const float *x,
                             const float *w, const float *bias, bool relu, float *pre, float *y,
                             float *scratch);
void rt_conv_avx2_dw_data(const rt_conv_dw *g, int64_t q0, int64_t q1, const float *dy,
                          const float *w, float *dx, float *scratch);
void rt_conv_avx2_dw_filter(const rt_conv_dw *g, int64_t filter, int64_t batch, const float *x,
                            const float *dy, double *sums, float *scratch);

#endif
