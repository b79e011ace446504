/* conv_avx2.c — the AVX2 + FMA register tile of conv_forward.c's direct
 * (batch-1) forward pass, as conv_avx512.c's rt_conv_avx512_direct_tile
 * (read the comment there): 6 filters by 16 output pixels, the pixels
 * being 2 output rows of 8 columns, one ymm each, so the input rows load
 * straight from x with no insert. 12 accumulators of the 16 ymm registers
 * (the AVX2 GEMM's 6 x 16 tile); per tap: 2 loads of x, 6 broadcasts of w
 * read where it lies, 12 FMAs. The K slices, FMA chains, bias, ReLU and
 * pool comparisons are forward_packed's and pool.c's, so the bits are
 * those of the batched AVX2 path.
 * Compiled with -mavx2 -mfma; conv_forward.c calls it only when
 * rt_isa_current() is RT_ISA_AVX2.
 *
 * Why not one body with conv_avx512.c's tile (duplicates pairs their slice
 * loops): the blocking differs, not only the width. That tile is 12
 * filters x 4 rows in 2 rows per zmm (256-bit half loads, 24
 * accumulators); this one 6 filters x 2 rows, one row per ymm (12
 * accumulators), each sized to its register file, as the GEMM tiles are
 * (gemm_avx2.c). A shared body would need the tile's shape, the loads and
 * the pooling walk as parameters, which is the whole function.
 */
#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

#include "conv_internal.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
static inline __attribute__((always_inline)) void
direct_tile(const rt_conv_direct *g, int64_t f0, const int rows, int64_t oy0, int64_t ox0)
{
    const int64_t kk = g->k, w = g->w;
    const float *xt = g->x + oy0 * w + ox0, *wf = g->wt + f0 * kk;
    __m256 acc[6][2];
    /* the sum of the slices before the current one */
    float partial[6][2][8] __attribute__((aligned(32)));
    for (int64_t k0 = 0; k0 < kk; k0 += g->kc_step) {
        int64_t k1 = k0 + g->kc_step < kk ? k0 + g->kc_step : kk;
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++)
            acc[i][0] = acc[i][1] = _mm256_setzero_ps();
        for (int64_t k = k0; k < k1; k++) {
            const float *xk = xt + g->taps[k];
            __m256 b0 = _mm256_loadu_ps(xk), b1 = _mm256_loadu_ps(xk + w);
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++)
                if (i < rows) {
                    __m256 a = _mm256_broadcast_ss(wf + i * kk + k);
                    acc[i][0] = _mm256_fmadd_ps(a, b0, acc[i][0]);
                    acc[i][1] = _mm256_fmadd_ps(a, b1, acc[i][1]);
                }
        }
        if (k0 > 0)
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++)
                for (int h = 0; h < 2; h++)
                    if (i < rows)
                        acc[i][h] = _mm256_add_ps(_mm256_load_ps(partial[i][h]), acc[i][h]);
        if (k1 < kk)
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++)
                for (int h = 0; h < 2; h++)
                    if (i < rows)
                        _mm256_store_ps(partial[i][h], acc[i][h]);
    }
    const __m256 zero = _mm256_setzero_ps();
    const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 0, 0, 0, 0);
    const __m256i odd = _mm256_setr_epi32(1, 3, 5, 7, 0, 0, 0, 0);
    const int64_t pwo = g->wo / 2, pplane = g->p / 4;
    /* unrolled: with a loop over i indexing acc, gcc kept acc in memory
     * and stored all 12 accumulators on every k (perf annotate), and the
     * tile ran at half the speed of the GEMM kernel */
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++) {
        if (i >= rows)
            break;
        int64_t f = f0 + i;
        __m256 v[2] = { acc[i][0], acc[i][1] };
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            if (g->bias || g->relu)
                v[h] = _mm256_add_ps(v[h], _mm256_set1_ps(g->bias ? g->bias[f] : 0.0f));
            if (g->relu)
                v[h] = _mm256_max_ps(zero, v[h]);
            if (g->y)
                _mm256_storeu_ps(g->y + f * g->p + (oy0 + h) * g->wo + ox0, v[h]);
        }
        if (!g->pooled)
            continue;
        /* a b / c d of 4 windows in the low lanes; pool.c's order */
        __m256 a = _mm256_permutevar8x32_ps(v[0], even), b = _mm256_permutevar8x32_ps(v[0], odd);
        __m256 c = _mm256_permutevar8x32_ps(v[1], even), d = _mm256_permutevar8x32_ps(v[1], odd);
        __m256 m = _mm256_blendv_ps(a, b, _mm256_cmp_ps(b, a, _CMP_GT_OQ));
        m = _mm256_blendv_ps(m, c, _mm256_cmp_ps(c, m, _CMP_GT_OQ));
        m = _mm256_blendv_ps(m, d, _mm256_cmp_ps(d, m, _CMP_GT_OQ));
        _mm_storeu_ps(g->pooled + f * pplane + oy0 / 2 * pwo + ox0 / 2, _mm256_castps256_ps128(m));
    }
}
#pragma GCC diagnostic pop

void rt_conv_avx2_direct_tile(const rt_conv_direct *g, int64_t f0, int rows, int64_t oy0,
                              int64_t ox0, int pairs)
{
    (void)pairs; /* one pair of rows per tile */
    switch (rows) {
    case 1: direct_tile(g, f0, 1, oy0, ox0); return;
    case 2: direct_tile(g, f0, 2, oy0, ox0); return;
    case 3: direct_tile(g, f0, 3, oy0, ox0); return;
    case 4: direct_tile(g, f0, 4, oy0, ox0); return;
    case 5: direct_tile(g, f0, 5, oy0, ox0); return;
    default: direct_tile(g, f0, 6, oy0, ox0); return;
    }
}
