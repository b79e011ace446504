/* gemm_epilogue_simd.h — the GEMM epilogue in SIMD vectors: bias, the
 * value before the activation, and the activation, on a tile of C that
 * holds its final alpha*AB + beta*C (contract in gemm_internal.h). One
 * body for two instruction sets: gemm_avx512.c and gemm_avx2.c include it
 * once after simd_avx512.h or simd_avx2.h. It was the portable (libm, one
 * element at a time) epilogue, and GELU that way cost more than the
 * tile's multiply.
 *
 * The activations are the activation kernels' (activations.h's rt_act_vec):
 * fusing one into the GEMM changes no bit, so a fused and an unfused graph
 * of the same model agree exactly.
 */
#include <stdint.h>

#include "gemm_internal.h"

#include "activations.h"

void SIMD_EXPORT(gemm_epilogue)(float *c, int64_t ldc, int mr, int nr, const float *bias,
                                float *preact, rt_act act, float act_alpha)
{
    for (int i = 0; i < mr; i++) {
        float *ci = c + (int64_t)i * ldc;
        for (int j = 0; j < nr; j += LANES) {
            int64_t n = nr - j < LANES ? nr - j : LANES;
            VEC v = load_block(ci + j, n);
            if (bias)
                v = v_add(v, load_block(bias + j, n));
            if (preact)
                store_block(preact + (int64_t)i * ldc + j, n, v);
            store_block(ci + j, n, rt_act_vec(act, act_alpha, v));
        }
    }
}
