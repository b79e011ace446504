/* gemm_epilogue_simd.h — the swapped forward's transposes' store tail in
 * SIMD vectors: a transposed block stored through bias, the value before
 * the activation, and the activation. One body for two instruction sets:
 * gemm_avx512.c and gemm_avx2.c include it once after simd_avx512.h or
 * simd_avx2.h. The epilogue on a tile of C in place (gemm_region's) is
 * kernels_simd.h's, compiled with the activation kernels' scheduling
 * flags, which the GEMM micro-kernels must not get.
 *
 * The activations are the activation kernels' (activations.h's rt_act_vec):
 * fusing one into the GEMM changes no bit, so a fused and an unfused graph
 * of the same model agree exactly.
 */
#include <stdint.h>

#include "gemm_internal.h"

#include "activations.h"

/* The transpose's tail (rt_gemm_transpose_avx512 and _avx2): a LANES x
 * LANES block transposed into r, its first cols vectors (rows floats each)
 * stored at dst + j ldd, through ep's bias, preact and activation when
 * there is one (bias and preact already offset to the block). */
static inline void store_transposed(const VEC *r, int rows, int cols, float *dst, int64_t ldd,
                                    const rt_gemm_transpose_ep *ep, const float *bias, float *preact)
{
    if (!ep) {
#pragma GCC unroll 16
        for (int j = 0; j < LANES; j++)
            if (j < cols)
                store_block(dst + j * ldd, rows, r[j]);
        return;
    }
    VEC b = bias ? load_block(bias, rows) : v_zero();
    for (int j = 0; j < cols; j++) {
        VEC v = bias ? v_add(r[j], b) : r[j];
        if (preact)
            store_block(preact + j * ldd, rows, v);
        store_block(dst + j * ldd, rows, rt_act_vec(ep->act, ep->act_alpha, v));
    }
}

/* src (rows x cols) to dst (cols x rows) in LANES x LANES blocks by tile,
 * the instruction set's block transpose. */
typedef void (*transpose_tile_fn)(const float *src, int64_t lds, int rows, int cols, float *dst, int64_t ldd,
                                  const rt_gemm_transpose_ep *ep, const float *bias, float *preact);
static inline void transpose_blocks(transpose_tile_fn tile, const float *src, int64_t lds, int64_t rows,
                                    int64_t cols, float *dst, int64_t ldd, const rt_gemm_transpose_ep *ep)
{
    for (int64_t j = 0; j < cols; j += LANES)
        for (int64_t i = 0; i < rows; i += LANES)
            tile(src + i * lds + j, lds, rows - i < LANES ? (int)(rows - i) : LANES,
                 cols - j < LANES ? (int)(cols - j) : LANES, dst + j * ldd + i, ldd, ep,
                 ep && ep->bias ? ep->bias + i : NULL, ep && ep->preact ? ep->preact + j * ldd + i : NULL);
}
