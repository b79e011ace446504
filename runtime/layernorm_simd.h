/* layernorm_simd.h — layer normalisation in SIMD vectors, one row at a
 * time (layernorm.c threads over rows and dispatches on rt_isa_current()).
 * One body for two instruction sets: layernorm_avx512.c and
 * layernorm_avx2.c each define the operations below and include this file
 * once (depthwise_simd.h is organised the same way).
 *
 * The sixteen double lanes of kernels_internal.h (RT_LN_LANES) are fed a
 * block of 16 floats at a time, BLOCK vectors of LANES floats, so element
 * j lands in lane j % 16 as in the portable loops. Elements after the last
 * full block continue the same lanes in scalar code, and the float
 * arithmetic is written as separate multiplies and adds (no FMA): every
 * path gives the portable path's bits. The elementwise passes (y, dx) run
 * whole vectors of LANES, then scalars.
 */

/* What the including file defines, for its instruction set (the vector
 * operations from simd_avx512.h or simd_avx2.h):
 *   VEC, LANES             the float vector and its lanes (16 / LANES = BLOCK)
 *   SIMD_EXPORT(name)      the exported name (rt_avx512_##name, ...)
 *   v_set1, v_loadu, v_storeu, v_add, v_sub, v_mul
 *   ln_acc                 16 double lanes in registers, with
 *     ln_zero(acc), ln_spill(acc, lane[16]),
 *     ln_add_floats(acc, v[BLOCK])         lane k += (double)element k
 *     ln_add_products(acc, a[BLOCK], b[BLOCK])  lane k += (double)a_k * (double)b_k
 *   ln_add_to_doubles(p, a, b)  p[k] += (double)a[k] * (double)b[k], k < LANES
 *                          (+= a[k] when b is NULL)
 */
#include <math.h>

#include "kernels_internal.h"

#define BLOCK (RT_LN_LANES / LANES)

// x, gamma, beta, y (d)
void SIMD_EXPORT(layernorm_row)(int64_t d, const float *x, const float *gamma, const float *beta,
                                float eps, float *y, float *mean_out, float *rstd_out)
{
    int64_t full = d / RT_LN_LANES * RT_LN_LANES, j;
    double lane[RT_LN_LANES];
    ln_acc acc;
    ln_zero(&acc);
    for (j = 0; j < full; j += RT_LN_LANES) {
        VEC v[BLOCK];
        for (int h = 0; h < BLOCK; h++)
            v[h] = v_loadu(x + j + LANES * h);
        ln_add_floats(&acc, v);
    }
    ln_spill(&acc, lane);
    for (; j < d; j++)
        lane[j - full] += (double)x[j];
    float mean = (float)(rt_ln_lane_total(lane) / (double)d);
    VEC vm = v_set1(mean);

    ln_zero(&acc);
    for (j = 0; j < full; j += RT_LN_LANES) {
        VEC e[BLOCK];
        for (int h = 0; h < BLOCK; h++)
            e[h] = v_sub(v_loadu(x + j + LANES * h), vm);
        ln_add_products(&acc, e, e);
    }
    ln_spill(&acc, lane);
    for (; j < d; j++) {
        double e = (double)(x[j] - mean);
        lane[j - full] += e * e;
    }
    float rstd = (float)(1.0 / sqrt(rt_ln_lane_total(lane) / (double)d + (double)eps));
    VEC vr = v_set1(rstd);

    int64_t whole = d / LANES * LANES;
    for (j = 0; j < whole; j += LANES) {
        VEC v = v_mul(v_mul(v_sub(v_loadu(x + j), vm), vr), v_loadu(gamma + j));
        v_storeu(y + j, v_add(v, v_loadu(beta + j)));
    }
    for (; j < d; j++)
        y[j] = (x[j] - mean) * rstd * gamma[j] + beta[j];
    *mean_out = mean;
    *rstd_out = rstd;
}

// x, dy, gamma, dx (d); pg, pb (d) or NULL
void SIMD_EXPORT(layernorm_row_backward)(int64_t d, const float *x, const float *dy,
                                         const float *gamma, float mean, float rstd, float *dx,
                                         double *pg, double *pb)
{
    int64_t full = d / RT_LN_LANES * RT_LN_LANES, j;
    VEC vm = v_set1(mean), vr = v_set1(rstd);
    ln_acc sg_acc, sgx_acc;
    ln_zero(&sg_acc);
    ln_zero(&sgx_acc);
    for (j = 0; j < full; j += RT_LN_LANES) {
        VEC xhat[BLOCK], dyv[BLOCK], g[BLOCK];
        for (int h = 0; h < BLOCK; h++) {
            xhat[h] = v_mul(v_sub(v_loadu(x + j + LANES * h), vm), vr);
            dyv[h] = v_loadu(dy + j + LANES * h);
            g[h] = v_mul(dyv[h], v_loadu(gamma + j + LANES * h));
        }
        ln_add_floats(&sg_acc, g);
        ln_add_products(&sgx_acc, g, xhat);
        if (pg)
            for (int h = 0; h < BLOCK; h++) {
                ln_add_to_doubles(pg + j + LANES * h, dyv[h], &xhat[h]);
                ln_add_to_doubles(pb + j + LANES * h, dyv[h], NULL);
            }
    }
    double sg[RT_LN_LANES], sgx[RT_LN_LANES];
    ln_spill(&sg_acc, sg);
    ln_spill(&sgx_acc, sgx);
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
    VEC va = v_set1(a), vb = v_set1(b);
    int64_t whole = d / LANES * LANES;
    for (j = 0; j < whole; j += LANES) {
        VEC xhat = v_mul(v_sub(v_loadu(x + j), vm), vr);
        VEC g = v_mul(v_loadu(dy + j), v_loadu(gamma + j));
        VEC v = v_sub(v_sub(g, va), v_mul(xhat, vb));
        v_storeu(dx + j, v_mul(vr, v));
    }
    for (; j < d; j++) {
        float xhat = (x[j] - mean) * rstd, g = dy[j] * gamma[j];
        dx[j] = rstd * ((g - a) - xhat * b);
    }
}
