/* layernorm_avx2.c — the AVX2 path of layer normalisation, one row at a
 * time (layernorm.c threads over rows and dispatches here when
 * rt_isa_current() says RT_ISA_AVX2).
 *
 * The sixteen double lanes of kernels_internal.h are four __m256d, lane[0]
 * holding lanes 0-3 up to lane[3] holding 12-15, fed from the two 8-float
 * halves of each block of 16, so element j lands in lane j % 16 as in the
 * portable loops. Elements after the last full block continue the same
 * lanes in scalar code, and the float arithmetic is written as separate
 * multiplies and adds (no FMA): the results are the portable path's bits.
 */
#include <immintrin.h>
#include <math.h>

#include "kernels_internal.h"

static inline __m256d low_pd(__m256 v) { return _mm256_cvtps_pd(_mm256_castps256_ps128(v)); }
static inline __m256d high_pd(__m256 v) { return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)); }

/* lanes += (double)v for the block (v0, v1) of 16 */
static inline void add_floats(__m256 v0, __m256 v1, __m256d acc[4])
{
    acc[0] = _mm256_add_pd(acc[0], low_pd(v0));
    acc[1] = _mm256_add_pd(acc[1], high_pd(v0));
    acc[2] = _mm256_add_pd(acc[2], low_pd(v1));
    acc[3] = _mm256_add_pd(acc[3], high_pd(v1));
}

/* lanes += (double)a * (double)b for the blocks (a0, a1) and (b0, b1) */
static inline void add_products(__m256 a0, __m256 a1, __m256 b0, __m256 b1, __m256d acc[4])
{
    acc[0] = _mm256_add_pd(acc[0], _mm256_mul_pd(low_pd(a0), low_pd(b0)));
    acc[1] = _mm256_add_pd(acc[1], _mm256_mul_pd(high_pd(a0), high_pd(b0)));
    acc[2] = _mm256_add_pd(acc[2], _mm256_mul_pd(low_pd(a1), low_pd(b1)));
    acc[3] = _mm256_add_pd(acc[3], _mm256_mul_pd(high_pd(a1), high_pd(b1)));
}

static inline void zero(__m256d acc[4])
{
    for (int k = 0; k < 4; k++)
        acc[k] = _mm256_setzero_pd();
}

static inline void spill(const __m256d acc[4], double lane[RT_LN_LANES])
{
    for (int k = 0; k < 4; k++)
        _mm256_storeu_pd(lane + 4 * k, acc[k]);
}

/* p[k] += (double)a[k] * (double)b[k] (or += a[k] when b is NULL) for the 8 floats of a */
static inline void add_to_doubles(double *p, __m256 a, const __m256 *b)
{
    __m256d lo = low_pd(a), hi = high_pd(a);
    if (b) {
        lo = _mm256_mul_pd(lo, low_pd(*b));
        hi = _mm256_mul_pd(hi, high_pd(*b));
    }
    _mm256_storeu_pd(p, _mm256_add_pd(_mm256_loadu_pd(p), lo));
    _mm256_storeu_pd(p + 4, _mm256_add_pd(_mm256_loadu_pd(p + 4), hi));
}

// x, gamma, beta, y (d)
void rt_avx2_layernorm_row(int64_t d, const float *x, const float *gamma, const float *beta,
                           float eps, float *y, float *mean_out, float *rstd_out)
{
    int64_t full = d / 16 * 16, j;
    double lane[RT_LN_LANES];
    __m256d acc[4];
    zero(acc);
    for (j = 0; j < full; j += 16)
        add_floats(_mm256_loadu_ps(x + j), _mm256_loadu_ps(x + j + 8), acc);
    spill(acc, lane);
    for (; j < d; j++)
        lane[j - full] += (double)x[j];
    float mean = (float)(rt_ln_lane_total(lane) / (double)d);
    __m256 vm = _mm256_set1_ps(mean);

    zero(acc);
    for (j = 0; j < full; j += 16) {
        __m256 e0 = _mm256_sub_ps(_mm256_loadu_ps(x + j), vm);
        __m256 e1 = _mm256_sub_ps(_mm256_loadu_ps(x + j + 8), vm);
        add_products(e0, e1, e0, e1, acc);
    }
    spill(acc, lane);
    for (; j < d; j++) {
        double e = (double)(x[j] - mean);
        lane[j - full] += e * e;
    }
    float rstd = (float)(1.0 / sqrt(rt_ln_lane_total(lane) / (double)d + (double)eps));
    __m256 vr = _mm256_set1_ps(rstd);

    int64_t full8 = d / 8 * 8;
    for (j = 0; j < full8; j += 8) {
        __m256 v = _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), vm), vr),
                                 _mm256_loadu_ps(gamma + j));
        _mm256_storeu_ps(y + j, _mm256_add_ps(v, _mm256_loadu_ps(beta + j)));
    }
    for (; j < d; j++)
        y[j] = (x[j] - mean) * rstd * gamma[j] + beta[j];
    *mean_out = mean;
    *rstd_out = rstd;
}

// x, dy, gamma, dx (d); pg, pb (d) or NULL
void rt_avx2_layernorm_row_backward(int64_t d, const float *x, const float *dy,
                                    const float *gamma, float mean, float rstd, float *dx,
                                    double *pg, double *pb)
{
    int64_t full = d / 16 * 16, j;
    __m256 vm = _mm256_set1_ps(mean), vr = _mm256_set1_ps(rstd);
    __m256d sg_acc[4], sgx_acc[4];
    zero(sg_acc);
    zero(sgx_acc);
    for (j = 0; j < full; j += 16) {
        __m256 xhat[2], dyv[2], g[2];
        for (int h = 0; h < 2; h++) {
            xhat[h] = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j + 8 * h), vm), vr);
            dyv[h] = _mm256_loadu_ps(dy + j + 8 * h);
            g[h] = _mm256_mul_ps(dyv[h], _mm256_loadu_ps(gamma + j + 8 * h));
        }
        add_floats(g[0], g[1], sg_acc);
        add_products(g[0], g[1], xhat[0], xhat[1], sgx_acc);
        if (pg)
            for (int h = 0; h < 2; h++) {
                add_to_doubles(pg + j + 8 * h, dyv[h], &xhat[h]);
                add_to_doubles(pb + j + 8 * h, dyv[h], NULL);
            }
    }
    double sg[RT_LN_LANES], sgx[RT_LN_LANES];
    spill(sg_acc, sg);
    spill(sgx_acc, sgx);
    for (; j < d; j++) {
        float xhat = (x[j] - mean) * rstd, g = dy[j] * gamma[j];
        sg[j - full] += (double)g;
        sgx[j - full] += (double)g * (double)xhat;
        if (pg) {
            pg[j] += (double)dy[j] * (double)xhat;
            pb[j] += (double)dy[j];
        }
    }
    float a = (float)(rt_ln_lane_total(sg) / (double)d), b = (float)(rt_ln_lane_total(sgx) / (double)d);
    __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
    int64_t full8 = d / 8 * 8;
    for (j = 0; j < full8; j += 8) {
        __m256 xhat = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), vm), vr);
        __m256 g = _mm256_mul_ps(_mm256_loadu_ps(dy + j), _mm256_loadu_ps(gamma + j));
        __m256 v = _mm256_sub_ps(_mm256_sub_ps(g, va), _mm256_mul_ps(xhat, vb));
        _mm256_storeu_ps(dx + j, _mm256_mul_ps(vr, v));
    }
    for (; j < d; j++) {
        float xhat = (x[j] - mean) * rstd, g = dy[j] * gamma[j];
        dx[j] = rstd * ((g - a) - xhat * b);
    }
}
