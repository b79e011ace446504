/* pool_internal.h — what pool.c shares with conv.c's fused convolution +
 * max-pool (rt_conv2d_forward_maxpool). Not installed; not part of the
 * contract.
 */
#ifndef POOL_INTERNAL_H
#define POOL_INTERNAL_H

#include <stdint.h>

#include "netrt.h"

/* Aborts with a message naming `who` unless p is a consistent pool. */
void rt_maxpool_check(const rt_pool2d *p, const char *who);

/* Output rows [oy0, oy1) of one (sample, channel) plane: y (Ho,Wo) holds
 * the max over each window of plane (H,W), with rt_maxpool_forward's
 * comparisons in its order, so fused and separate pooling agree bitwise. */
void rt_maxpool_plane_rows(const rt_pool2d *p, const float *plane, int64_t oy0, int64_t oy1, float *y);

#endif
