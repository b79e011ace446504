/* conv_internal.h — what conv.c shares with its AVX-512 kernels
 * (conv_avx512.c). Not installed; not part of the contract.
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

/* c (M,N) (+)= a (M,L) b (N,L)^T as dot products (the filter gradient). */
void rt_conv_avx512_dot_nt(int64_t m, int64_t n, int64_t l, const float *a, int64_t lda,
                           const float *b, int64_t ldb, float *c, int64_t ldc, bool accumulate);

/* im2col of output rows [ya, yb) of ns samples for a stride-1 layer
 * (conv.c's im2col_rows). */
void rt_conv_avx512_im2col_s1(const rt_conv_s1 *g, int64_t ns, const float *x, int64_t sample_stride,
                              int64_t ya, int64_t yb, float *col);

#endif
