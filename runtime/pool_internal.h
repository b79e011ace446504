/* pool_internal.h — what pool.c shares with conv.c's fused convolution +
 * max-pool (rt_conv2d_forward_maxpool). Not installed; not part of the
 * contract.
 */
#ifndef POOL_INTERNAL_H
#define POOL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "netrt.h"

/* Aborts with a message naming `who` unless p is a consistent pool. */
void rt_maxpool_check(const rt_pool2d *p, const char *who);

/* Output rows [oy0, oy1) of one (sample, channel) plane: y (Ho,Wo) holds
 * the max over each window of plane (H,W), with rt_maxpool_forward's
 * comparisons in its order, so fused and separate pooling agree bitwise. */
void rt_maxpool_plane_rows(const rt_pool2d *p, const float *plane, int64_t oy0, int64_t oy1, float *y);

/* pool_avx512.c: the 2x2/2 max pool's forward rows [oy0, oy1) and whole
 * backward pass of one plane (w wide; wo x ho windows), with
 * rt_maxpool_plane_rows's and the scalar backward's comparisons. The
 * backward pass writes each window's four pixels, and not the odd last
 * row and column. */
void rt_pool_avx512_max2x2_rows(const float *plane, int64_t w, int64_t wo, int64_t oy0, int64_t oy1,
                                float *y);
void rt_pool_avx512_max2x2_backward(const float *plane, int64_t w, int64_t wo, int64_t ho,
                                    const float *dy, bool relu, float *dx);

#endif
