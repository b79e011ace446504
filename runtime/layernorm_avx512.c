/* layernorm_avx512.c — the AVX-512 path of layer normalisation, one row at
 * a time (layernorm.c threads over rows and dispatches here when
 * rt_isa_current() says RT_ISA_AVX512).
 *
 * The sixteen double lanes of kernels_internal.h are two __m512d: `lo`
 * holds lanes 0-7, `hi` lanes 8-15, so element j of each 16-float vector
 * lands in lane j % 16 as in the portable loops. Elements after the last
 * full vector continue the same lanes in scalar code, and the float
 * arithmetic is written as separate multiplies and adds (no FMA): the
 * results are the portable path's bits.
 */
#include <immintrin.h>
#include <math.h>

#include "kernels_internal.h"

/* lanes += (double)v */
static inline void add_floats(__m512 v, __m512d *lo, __m512d *hi)
{
    *lo = _mm512_add_pd(*lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    *hi = _mm512_add_pd(*hi, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
}

static inline __m512d low_pd(__m512 v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
static inline __m512d high_pd(__m512 v) { return _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)); }

/* lanes += (double)a * (double)b: the product of two floats is exact in double */
static inline void add_products(__m512 a, __m512 b, __m512d *lo, __m512d *hi)
{
    *lo = _mm512_add_pd(*lo, _mm512_mul_pd(low_pd(a), low_pd(b)));
    *hi = _mm512_add_pd(*hi, _mm512_mul_pd(high_pd(a), high_pd(b)));
}

static inline void spill(__m512d lo, __m512d hi, double lane[RT_LN_LANES])
{
    _mm512_storeu_pd(lane, lo);
    _mm512_storeu_pd(lane + 8, hi);
}

// x, gamma, beta, y (d)
void rt_avx512_layernorm_row(int64_t d, const float *x, const float *gamma, const float *beta,
                             float eps, float *y, float *mean_out, float *rstd_out)
{
    int64_t full = d / 16 * 16, j;
    double lane[RT_LN_LANES];
    __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
    for (j = 0; j < full; j += 16)
        add_floats(_mm512_loadu_ps(x + j), &lo, &hi);
    spill(lo, hi, lane);
    for (; j < d; j++)
        lane[j - full] += (double)x[j];
    float mean = (float)(rt_ln_lane_total(lane) / (double)d);
    __m512 vm = _mm512_set1_ps(mean);

    lo = hi = _mm512_setzero_pd();
    for (j = 0; j < full; j += 16) {
        __m512 e = _mm512_sub_ps(_mm512_loadu_ps(x + j), vm);
        add_products(e, e, &lo, &hi);
    }
    spill(lo, hi, lane);
    for (; j < d; j++) {
        double e = (double)(x[j] - mean);
        lane[j - full] += e * e;
    }
    float rstd = (float)(1.0 / sqrt(rt_ln_lane_total(lane) / (double)d + (double)eps));
    __m512 vr = _mm512_set1_ps(rstd);

    for (j = 0; j < full; j += 16) {
        __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + j), vm), vr),
                                 _mm512_loadu_ps(gamma + j));
        _mm512_storeu_ps(y + j, _mm512_add_ps(v, _mm512_loadu_ps(beta + j)));
    }
    for (; j < d; j++)
        y[j] = (x[j] - mean) * rstd * gamma[j] + beta[j];
    *mean_out = mean;
    *rstd_out = rstd;
}

// x, dy, gamma, dx (d); pg, pb (d) or NULL
void rt_avx512_layernorm_row_backward(int64_t d, const float *x, const float *dy,
                                      const float *gamma, float mean, float rstd, float *dx,
                                      double *pg, double *pb)
{
    int64_t full = d / 16 * 16, j;
    __m512 vm = _mm512_set1_ps(mean), vr = _mm512_set1_ps(rstd);
    __m512d g_lo = _mm512_setzero_pd(), g_hi = _mm512_setzero_pd();
    __m512d gx_lo = _mm512_setzero_pd(), gx_hi = _mm512_setzero_pd();
    for (j = 0; j < full; j += 16) {
        __m512 xhat = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + j), vm), vr);
        __m512 dyv = _mm512_loadu_ps(dy + j);
        __m512 g = _mm512_mul_ps(dyv, _mm512_loadu_ps(gamma + j));
        add_floats(g, &g_lo, &g_hi);
        add_products(g, xhat, &gx_lo, &gx_hi);
        if (pg) {
            __m512d dlo = low_pd(dyv), dhi = high_pd(dyv);
            _mm512_storeu_pd(pg + j, _mm512_add_pd(_mm512_loadu_pd(pg + j), _mm512_mul_pd(dlo, low_pd(xhat))));
            _mm512_storeu_pd(pg + j + 8,
                             _mm512_add_pd(_mm512_loadu_pd(pg + j + 8), _mm512_mul_pd(dhi, high_pd(xhat))));
            _mm512_storeu_pd(pb + j, _mm512_add_pd(_mm512_loadu_pd(pb + j), dlo));
            _mm512_storeu_pd(pb + j + 8, _mm512_add_pd(_mm512_loadu_pd(pb + j + 8), dhi));
        }
    }
    double sg[RT_LN_LANES], sgx[RT_LN_LANES];
    spill(g_lo, g_hi, sg);
    spill(gx_lo, gx_hi, sgx);
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
    __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);
    for (j = 0; j < full; j += 16) {
        __m512 xhat = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + j), vm), vr);
        __m512 g = _mm512_mul_ps(_mm512_loadu_ps(dy + j), _mm512_loadu_ps(gamma + j));
        __m512 v = _mm512_sub_ps(_mm512_sub_ps(g, va), _mm512_mul_ps(xhat, vb));
        _mm512_storeu_ps(dx + j, _mm512_mul_ps(vr, v));
    }
    for (; j < d; j++) {
        float xhat = (x[j] - mean) * rstd, g = dy[j] * gamma[j];
        dx[j] = rstd * ((g - a) - xhat * b);
    }
}
