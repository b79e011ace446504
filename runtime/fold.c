/* fold.c — a batchnorm folded into the layer before it, for inference.
 * The scale and shift are worked out in double: the folded weights are
 * rounded once, so inference through them matches conv-then-batchnorm to
 * float rounding. */
#include "netrt.h"

#include <math.h>

/* w (f,k), b (f) -> w_out (f,k), b_out (f) */
void rt_batchnorm_fold(int64_t f, int64_t k, const float *w, const float *b, const float *gamma,
                       const float *beta, const float *mean, const float *var, float eps, float *w_out,
                       float *b_out)
{
    for (int64_t o = 0; o < f; o++) {
        double s = (double)gamma[o] / sqrt((double)var[o] + (double)eps);
        for (int64_t i = 0; i < k; i++)
            w_out[o * k + i] = (float)((double)w[o * k + i] * s);
        b_out[o] = (float)(((b ? (double)b[o] : 0.0) - (double)mean[o]) * s + (double)beta[o]);
    }
}
