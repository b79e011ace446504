/* gemm_internal.h — what gemm.c shares with the per-ISA micro-kernel files
 * (gemm_avx512.c, gemm_avx2.c). Not installed; not part of the contract.
 */
#ifndef GEMM_INTERNAL_H
#define GEMM_INTERNAL_H

#include <stdint.h>

#include "netrt.h"

/* Micro-tile sizes per path. The AVX-512 tile is BLIS's skx sgemm tile
 * mirrored for row-major C: 12 rows of two zmm (24 accumulators, 2 B
 * registers, 1 broadcast: 27 of 32 registers). AVX2 is the classic 6x16
 * (12 of 16 ymm). The portable tile keeps 8 accumulators in SSE registers. */
#define RT_GEMM_MR_AVX512 12
#define RT_GEMM_NR_AVX512 32
#define RT_GEMM_MR_AVX2 6
#define RT_GEMM_NR_AVX2 16
#define RT_GEMM_MR_PORTABLE 4
#define RT_GEMM_NR_PORTABLE 8
#define RT_GEMM_MR_MAX 12
#define RT_GEMM_NR_MAX 32

/* One micro-tile: with acc[i][j] = sum_{k<kc} a[k*MR + i] * b[k*NR + j]
 * (a and b packed, zero-padded to MR and NR), writes the top-left mr x nr
 * corner of the tile at c (row stride ldc):
 *     c[i][j] = alpha * acc[i][j] + beta * c[i][j]   (beta != 0)
 *     c[i][j] = alpha * acc[i][j]                    (beta == 0: c is not read)
 * Every element goes through the same arithmetic whatever mr and nr are,
 * so results do not depend on where tile edges fall. */
typedef void (*rt_gemm_kernel_fn)(int64_t kc, const float *a, const float *b, float *c,
                                  int64_t ldc, int mr, int nr, float alpha, float beta);

void rt_gemm_kernel_avx512(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                           int mr, int nr, float alpha, float beta);
void rt_gemm_kernel_avx2(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                         int mr, int nr, float alpha, float beta);

/* The same product with b not packed: row k of the NR-wide panel starts at
 * b + k * ldb (op(B) = B in place, all NR columns inside the matrix).
 * Bitwise the same results as the packed kernel. */
typedef void (*rt_gemm_kernel_direct_fn)(int64_t kc, const float *a, const float *b, int64_t ldb,
                                         float *c, int64_t ldc, int mr, int nr, float alpha,
                                         float beta);

void rt_gemm_kernel_avx512_direct(int64_t kc, const float *a, const float *b, int64_t ldb,
                                  float *c, int64_t ldc, int mr, int nr, float alpha, float beta);
void rt_gemm_kernel_avx2_direct(int64_t kc, const float *a, const float *b, int64_t ldb, float *c,
                                int64_t ldc, int mr, int nr, float alpha, float beta);

/* Neither operand packed: the tile's MR values of A for step k are
 * a[k * lda + i] (i < mr, all MR inside the matrix), its B row is
 * b + k * ldb. The A values are broadcast one at a time, so reading them in
 * place costs what reading a packed panel costs; conv_forward.c runs its forward
 * pass with A = im2col (pixels along a row) and B = w transposed. Bitwise
 * the same results as the packed kernel. */
typedef void (*rt_gemm_kernel_direct_a_fn)(int64_t kc, const float *a, int64_t lda, const float *b,
                                           int64_t ldb, float *c, int64_t ldc, int mr, int nr,
                                           float alpha, float beta);
void rt_gemm_kernel_avx512_direct_ab(int64_t kc, const float *a, int64_t lda, const float *b,
                                     int64_t ldb, float *c, int64_t ldc, int mr, int nr,
                                     float alpha, float beta);
void rt_gemm_kernel_avx2_direct_ab(int64_t kc, const float *a, int64_t lda, const float *b, int64_t ldb,
                                   float *c, int64_t ldc, int mr, int nr, float alpha, float beta);

/* The same with A's rows running along K: the tile's A value (i, k) is
 * a[i * lda + k], read as MR streams (conv_backward.c's filter gradient, A = the
 * im2col matrix; gemm.c's products with A not transposed). */
void rt_gemm_kernel_avx512_direct_at(int64_t kc, const float *a, int64_t lda, const float *b,
                                     int64_t ldb, float *c, int64_t ldc, int mr, int nr,
                                     float alpha, float beta);
void rt_gemm_kernel_avx2_direct_at(int64_t kc, const float *a, int64_t lda, const float *b, int64_t ldb,
                                   float *c, int64_t ldc, int mr, int nr, float alpha, float beta);

/* dst[k * width + r] = src[r * ld + k] for r < rows, k < kc, and zero for
 * rows <= r < width: how a micro-panel is packed from rows that run along
 * K (A not transposed, B transposed). Needs AVX2 (any AVX-512 CPU has it). */
void rt_gemm_pack_transposed_avx2(const float *src, int64_t ld, int rows, int64_t kc, int width,
                                  float *dst);

/* The epilogue on an mr x nr tile of C that holds its final
 * alpha*AB + beta*C: adds bias[n0 + j], stores preact, applies the
 * activation (see rt_epilogue). preact and bias already point at the tile's
 * row 0 / column 0. Vectorized per path because GELU and friends cost more
 * than the tile's multiply when done with libm one element at a time. */
typedef void (*rt_gemm_epilogue_fn)(float *c, int64_t ldc, int mr, int nr, const float *bias,
                                    float *preact, rt_act act, float act_alpha);

/* kernels_simd.h, in kernels_avx512.c and kernels_avx2.c */
void rt_avx512_gemm_epilogue(float *c, int64_t ldc, int mr, int nr, const float *bias,
                             float *preact, rt_act act, float act_alpha);
void rt_avx2_gemm_epilogue(float *c, int64_t ldc, int mr, int nr, const float *bias,
                           float *preact, rt_act act, float act_alpha);

/* C (M,N) for M <= RT_GEMM_SHORT_M, A not transposed, columns [n0, n1),
 * reading B in place (gemm_avx512.c); no epilogue. */
#define RT_GEMM_SHORT_M 4
void rt_gemm_short_avx512(bool trans_b, int64_t M, int64_t K, float alpha, const float *A, int64_t lda,
                          const float *B, int64_t ldb, float beta, float *C, int64_t ldc, int64_t n0, int64_t n1);
/* The same with B transposed only (gemm_avx2.c; gemm.c has the portable
 * one): a dense layer's forward at batch 1 to 4. */
void rt_gemm_short_avx2(int64_t M, int64_t K, float alpha, const float *A, int64_t lda, const float *B,
                        int64_t ldb, float beta, float *C, int64_t ldc, int64_t n0, int64_t n1);

/* dst[j * ldd + i] = src[i * lds + j] for i < rows, j < cols:
 * the swapped dense products' transposes. With ep, the epilogue on dst
 * as rt_epilogue describes it (bias[i], preact laid out as dst, the
 * activation), bitwise gemm_epilogue_simd.h's. */
typedef struct rt_gemm_transpose_ep {
    const float *bias;
    float *preact;
    rt_act act;
    float act_alpha;
} rt_gemm_transpose_ep;
typedef void (*rt_gemm_transpose_fn)(const float *src, int64_t lds, int64_t rows, int64_t cols, float *dst,
                                     int64_t ldd, const rt_gemm_transpose_ep *ep);
void rt_gemm_transpose_avx512(const float *src, int64_t lds, int64_t rows, int64_t cols, float *dst,
                              int64_t ldd, const rt_gemm_transpose_ep *ep);
/* The same in 8 x 8 blocks (gemm_avx2.c). */
void rt_gemm_transpose_avx2(const float *src, int64_t lds, int64_t rows, int64_t cols, float *dst,
                            int64_t ldd, const rt_gemm_transpose_ep *ep);

#endif
