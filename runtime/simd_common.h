/* simd_common.h — what the shared SIMD bodies build from the vector
 * operations of simd_avx512.h or simd_avx2.h (which include it). */
#ifndef SIMD_COMMON_H
#define SIMD_COMMON_H

/* n <= LANES floats at p: a whole vector when n is LANES (a constant in
 * the main loops, so the test folds away), else the first n lanes with 0
 * in the others. */
static inline VEC load_block(const float *p, int64_t n)
{
    return n == LANES ? v_loadu(p) : v_load_n(p, n);
}

static inline void store_block(float *p, int64_t n, VEC v)
{
    if (n == LANES)
        v_storeu(p, v);
    else
        v_store_n(p, n, v);
}

#endif
