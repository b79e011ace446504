/* gemm_avx512.c — the AVX-512 GEMM micro-kernel (12 x 32; why it is not
 * shared with AVX2's: gemm_avx2.c), the swapped forward's transpose (its
 * store tail: gemm_epilogue_simd.h) and the short products. The epilogue
 * on C's tiles is kernels_simd.h's.
 * Compiled with -mavx512f/bw/dq/vl -mfma; gemm.c calls it only when
 * rt_isa_current() is RT_ISA_AVX512.
 *
 * On Zen 4 a zmm FMA occupies both 256-bit FMA pipes, so the peak is one
 * zmm FMA per cycle and the 4-cycle latency needs at least 4 independent
 * chains; the 24 accumulators are there to cut loads per FMA instead
 * (per k: 2 B loads + 12 broadcasts for 24 FMAs, well under the 2-3
 * loads/cycle the core sustains).
 *
 * Where it stands (session 6, Zen 5, one thread, CPU time so load does
 * not count): gpt.net's thirteen dense shapes (M = 2048 rows, K = 128 to
 * 2048; forward, data and weight gradients) all ran at 199-216 GFLOP/s
 * against 220-226 for bare zmm FMA chains, so the kernel is within ~6% of
 * the peak there and gpt.net's remaining one-thread time is outside it
 * (perf of 40 training steps: these kernels 74% of the step, the heads'
 * small products about 4% of that; packing 5%, GELU forward and backward
 * 5%, softmax 2%, layernorm 2%, bias sums 1%). Reading B in place for
 * the weight gradient (direct_ab with ldb, no packing) was 1-3% faster on
 * its own but 2-9% slower inside the training step (three paired runs):
 * the activations it strides through are not in cache there.
 */
#include <immintrin.h>

#include "gemm_internal.h"

#define KERNEL_MR RT_GEMM_MR_AVX512
#define KERNEL_NR RT_GEMM_NR_AVX512

/* Row i of the tile: two accumulators, named registers c<i>0, c<i>1.
 * Rows at or past `rows` (a constant in each instance) compile to
 * nothing. */
#define ACC_ROW(i) __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = _mm512_setzero_ps()
#define ROW_FMA(i)                                                             \
    do {                                                                       \
        if (i < rows) {                                                        \
            __m512 ai = _mm512_set1_ps(a[(i) * a_row]);                                \
            c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);                        \
            c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1);                        \
        }                                                                      \
    } while (0)

/* Stores row i through the masks; the same arithmetic for full and partial
 * tiles, so tile edges never change a result. */
#define ROW_STORE(i)                                                           \
    do {                                                                       \
        if (i < rows) {                                                        \
            float *ci = c + (int64_t)(i) * ldc;                                \
            if (beta == 0.0f) {                                                \
                _mm512_mask_storeu_ps(ci, m0, _mm512_mul_ps(c##i##0, valpha)); \
                _mm512_mask_storeu_ps(ci + 16, m1, _mm512_mul_ps(c##i##1, valpha)); \
            } else {                                                           \
                __m512 o0 = _mm512_mul_ps(vbeta, _mm512_maskz_loadu_ps(m0, ci)); \
                __m512 o1 = _mm512_mul_ps(vbeta, _mm512_maskz_loadu_ps(m1, ci + 16)); \
                _mm512_mask_storeu_ps(ci, m0, _mm512_fmadd_ps(c##i##0, valpha, o0)); \
                _mm512_mask_storeu_ps(ci + 16, m1, _mm512_fmadd_ps(c##i##1, valpha, o1)); \
            }                                                                  \
        }                                                                      \
    } while (0)

/* b_stride is the distance between the B rows of consecutive k: NR for a
 * packed micro-panel, ldb when the kernel reads op(B) where it lies (see
 * rt_gemm_kernel_avx512_direct). `rows` is the tile's mr, instantiated for
 * each value: a short edge panel (M = 10, the output layer's weight
 * gradient; the last 8 rows of M = 128) then costs its own rows and not
 * twelve; at M = 10 the padded tile capped the kernel at 10/12 of peak.
 * Every element still goes through the same FMA chain, so results do not
 * change with the instance. */
static inline __attribute__((always_inline)) void
kernel_12x32(int64_t kc, const float *a, int64_t a_row, int64_t a_stride, const float *b, int64_t b_stride, float *c,
             int64_t ldc, const int rows, int nr, float alpha, float beta)
{
    ACC_ROW(0); ACC_ROW(1); ACC_ROW(2); ACC_ROW(3); ACC_ROW(4); ACC_ROW(5);
    ACC_ROW(6); ACC_ROW(7); ACC_ROW(8); ACC_ROW(9); ACC_ROW(10); ACC_ROW(11);

    /* The C tile is written once at the end; fetching its lines now hides
     * the miss behind the k loop. */
    for (int i = 0; i < rows; i++) {
        _mm_prefetch((const char *)(c + (int64_t)i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + (int64_t)i * ldc + 16), _MM_HINT_T0);
    }

#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(b);
        __m512 b1 = _mm512_loadu_ps(b + 16);
        ROW_FMA(0); ROW_FMA(1); ROW_FMA(2); ROW_FMA(3);
        ROW_FMA(4); ROW_FMA(5); ROW_FMA(6); ROW_FMA(7);
        ROW_FMA(8); ROW_FMA(9); ROW_FMA(10); ROW_FMA(11);
        a += a_stride;
        b += b_stride;
    }

    __m512 valpha = _mm512_set1_ps(alpha), vbeta = _mm512_set1_ps(beta);
    __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
    ROW_STORE(0); ROW_STORE(1); ROW_STORE(2); ROW_STORE(3);
    ROW_STORE(4); ROW_STORE(5); ROW_STORE(6); ROW_STORE(7);
    ROW_STORE(8); ROW_STORE(9); ROW_STORE(10); ROW_STORE(11);
}

#define KERNEL_FOR_ROWS(arow, astride, stride)                                               \
    switch (mr) {                                                               \
    case 1: kernel_12x32(kc, a, arow, astride, b, stride, c, ldc, 1, nr, alpha, beta); return;   \
    case 2: kernel_12x32(kc, a, arow, astride, b, stride, c, ldc, 2, nr, alpha, beta); return;   \
    case 3: kernel_12x32(kc, a, arow, astride, b, stride, c, ldc, 3, nr, alpha, beta); return;   \
    case 4: kernel_12x32(kc, a, arow, astride, b, stride, c, ldc, 4, nr, alpha, beta); return;   \
    case 5: kernel_12x32(kc, a, arow, astride, b, stride, c, ldc, 5, nr, alpha, beta); return;   \
    case 6: kernel_12x32(kc, a, arow, astride, b, stride, c, ldc, 6, nr, alpha, beta); return;   \
    case 7: kernel_12x32(kc, a, arow, astride, b, stride, c, ldc, 7, nr, alpha, beta); return;   \
    case 8: kernel_12x32(kc, a, arow, astride, b, stride, c, ldc, 8, nr, alpha, beta); return;   \
    case 9: kernel_12x32(kc, a, arow, astride, b, stride, c, ldc, 9, nr, alpha, beta); return;   \
    case 10: kernel_12x32(kc, a, arow, astride, b, stride, c, ldc, 10, nr, alpha, beta); return; \
    case 11: kernel_12x32(kc, a, arow, astride, b, stride, c, ldc, 11, nr, alpha, beta); return; \
    }                                                                           \
    kernel_12x32(kc, a, arow, astride, b, stride, c, ldc, KERNEL_MR, nr, alpha, beta)

void rt_gemm_kernel_avx512(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                           int mr, int nr, float alpha, float beta)
{
    KERNEL_FOR_ROWS(1, KERNEL_MR, KERNEL_NR);
}

void rt_gemm_kernel_avx512_direct(int64_t kc, const float *a, const float *b, int64_t ldb,
                                  float *c, int64_t ldc, int mr, int nr, float alpha, float beta)
{
    KERNEL_FOR_ROWS(1, KERNEL_MR, ldb);
}

void rt_gemm_kernel_avx512_direct_ab(int64_t kc, const float *a, int64_t lda, const float *b,
                                     int64_t ldb, float *c, int64_t ldc, int mr, int nr,
                                     float alpha, float beta)
{
    KERNEL_FOR_ROWS(1, lda, ldb);
}

void rt_gemm_kernel_avx512_direct_at(int64_t kc, const float *a, int64_t lda, const float *b,
                                     int64_t ldb, float *c, int64_t ldc, int mr, int nr,
                                     float alpha, float beta)
{
    KERNEL_FOR_ROWS(lda, 1, ldb);
}

/* ------------------------------------------- the transposes' store tail */

#include "simd_avx512.h"

#include "gemm_epilogue_simd.h"

/* ------------------------------------------------------- short products */

/* C (M,N) for M <= RT_GEMM_SHORT_M rows, A not transposed, columns [n0, n1):
 * inference on a few samples. Packing B would read and write all of B for
 * a product that reads it once (mlp.net at batch 1: 126 us, the
 * arithmetic about 15), so B is read where it lies.
 *
 * B transposed (a dense layer's weight, stored [out][in]): C[m,n] is the
 * dot product of A's row m and B's row n, and B's rows are read one after
 * another, so the whole of B is one sequential stream. That is what Zen 4's
 * prefetchers follow best: on mlp.net's three layers at batch 1 (2.1 MB of
 * weights, streamed from L3 each call; a bare read of 2.1 MB takes 21.5 us
 * on this VM), one row at a time took 22-23 us, 8 to 24 rows interleaved
 * (R streams) 29-33 us and the earlier 4-row version, whose accumulators
 * lived in an array indexed by a run-time M, 52 us (perf: all of it in
 * this function). Each row's dot product runs in two accumulators (16-float
 * block i of K goes to acc[i & 1]; the out-of-order core overlaps the
 * chains of consecutive rows), summed and reduced by a fixed tree:
 * every output's arithmetic is the same whatever M, the column range or
 * the thread, so results are deterministic.
 *
 * It runs at the L3-to-core bandwidth (session 6, one thread, Zen 5 VM,
 * 1 MB L2): the first layer (784 x 512, 1.5 MB) takes 16.1 us from L3,
 * 3.3 us from L2; the three layers 22.3 us against 21.3 us for a bare
 * read of the same bytes in the same order. None of these beat it, in
 * paired runs: two to four rows interleaved (26-28, 38, 38 us for the
 * whole forward against 25), a software prefetch of B 256 to 2048 floats
 * ahead, one or two lines per 32 floats (layer 1 16-19 us against 16-18),
 * prefetchnta on most of layer 1 so the rest stays in L2 (no gain: the
 * hint does not keep lines out of L2 here), and reversing the 64-column
 * chunks' order on every other call so the last-read rows are read first
 * (layer 1 alone: 16.2 -> 13.1 us; the whole forward: no change, since
 * layer 2's 0.5 MB evicts what layer 1 left in L2). */
static inline __attribute__((always_inline)) void
short_dot_rows(const int M, int64_t K, float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
               float beta, float *C, int64_t ldc, int64_t n0, int64_t n1)
{
    int64_t pairs = K / 32, rest = K - 32 * pairs;
    __mmask16 m0 = rest >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << rest) - 1u);
    __mmask16 m1 = rest > 16 ? (__mmask16)((1u << (rest - 16)) - 1u) : 0;
    for (int64_t n = n0; n < n1; n++) {
        const float *b = B + n * ldb;
        __m512 acc0[RT_GEMM_SHORT_M], acc1[RT_GEMM_SHORT_M];
        for (int m = 0; m < M; m++)
            acc0[m] = acc1[m] = _mm512_setzero_ps();
        for (int64_t p = 0; p < pairs; p++) {
            __m512 b0 = _mm512_loadu_ps(b + 32 * p), b1 = _mm512_loadu_ps(b + 32 * p + 16);
            for (int m = 0; m < M; m++) {
                acc0[m] = _mm512_fmadd_ps(_mm512_loadu_ps(A + m * lda + 32 * p), b0, acc0[m]);
                acc1[m] = _mm512_fmadd_ps(_mm512_loadu_ps(A + m * lda + 32 * p + 16), b1, acc1[m]);
            }
        }
        if (rest) {
            int64_t k = 32 * pairs;
            __m512 b0 = _mm512_maskz_loadu_ps(m0, b + k), b1 = _mm512_maskz_loadu_ps(m1, b + k + 16);
            for (int m = 0; m < M; m++) {
                acc0[m] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m0, A + m * lda + k), b0, acc0[m]);
                if (m1)
                    acc1[m] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, A + m * lda + k + 16), b1, acc1[m]);
            }
        }
        for (int m = 0; m < M; m++) {
            float s = alpha * _mm512_reduce_add_ps(_mm512_add_ps(acc0[m], acc1[m]));
            float *c = C + m * ldc + n;
            *c = beta == 0.0f ? s : s + beta * *c;
        }
    }
}

void rt_gemm_short_avx512(bool trans_b, int64_t M, int64_t K, float alpha, const float *A, int64_t lda,
                          const float *B, int64_t ldb, float beta, float *C, int64_t ldc, int64_t n0, int64_t n1)
{
    if (trans_b) {
        /* M a constant in each instance, so the accumulators are registers */
        switch (M) {
        case 1: short_dot_rows(1, K, alpha, A, lda, B, ldb, beta, C, ldc, n0, n1); return;
        case 2: short_dot_rows(2, K, alpha, A, lda, B, ldb, beta, C, ldc, n0, n1); return;
        case 3: short_dot_rows(3, K, alpha, A, lda, B, ldb, beta, C, ldc, n0, n1); return;
        default: short_dot_rows(4, K, alpha, A, lda, B, ldb, beta, C, ldc, n0, n1); return;
        }
    }
    /* C row m = sum over k of A[m,k] B row k, 64 columns at a time */
    for (int64_t n = n0; n < n1; n += 64) {
        int64_t width = n1 - n < 64 ? n1 - n : 64;
        __mmask16 mask[4];
        for (int v = 0; v < 4; v++) {
            int64_t left = width - 16 * v;
            mask[v] = left >= 16 ? (__mmask16)0xffff : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1u);
        }
        __m512 acc[RT_GEMM_SHORT_M][4];
        for (int64_t m = 0; m < M; m++)
            for (int v = 0; v < 4; v++)
                acc[m][v] = _mm512_setzero_ps();
        for (int64_t k = 0; k < K; k++) {
            __m512 b[4];
            for (int v = 0; v < 4; v++)
                b[v] = _mm512_maskz_loadu_ps(mask[v], B + k * ldb + n + 16 * v);
            for (int64_t m = 0; m < M; m++) {
                __m512 a = _mm512_set1_ps(A[m * lda + k]);
                for (int v = 0; v < 4; v++)
                    acc[m][v] = _mm512_fmadd_ps(a, b[v], acc[m][v]);
            }
        }
        __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
        for (int64_t m = 0; m < M; m++)
            for (int v = 0; v < 4; v++) {
                float *c = C + m * ldc + n + 16 * v;
                __m512 r = _mm512_mul_ps(va, acc[m][v]);
                if (beta != 0.0f)
                    r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask[v], c), r);
                _mm512_mask_storeu_ps(c, mask[v], r);
            }
    }
}

/* ------------------------------------------------------------ transpose */

/* dst[j * ldd + i] = src[i * lds + j] for i < rows, j < cols (both at
 * most 16), then the epilogue (ep may be NULL; bias and preact already
 * point at the block's column 0 / row 0) on each transposed row while it
 * is in a register: one 16 x 16 block (unpack, then 128-bit lane
 * shuffles). The swapped dense forward's y^T -> y: element by element it
 * was 3.7% of gan.net's training time (perf, one thread), and the
 * epilogue as a second pass over y another 2%. The epilogue is the tile
 * epilogue's arithmetic (kernels_simd.h: bias added, preact kept, the
 * activation), so the bits are the same. */
static void transpose_16(const float *src, int64_t lds, int rows, int cols, float *dst, int64_t ldd,
                         const rt_gemm_transpose_ep *ep, const float *bias, float *preact)
{
    __mmask16 cmask = (__mmask16)((1u << cols) - 1u);
    __m512 r[16], t[16];
    /* Unrolled so the 32 vectors live in registers: as loops gcc -O2 kept
     * them on the stack. */
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        r[i] = _mm512_maskz_loadu_ps(i < rows ? cmask : 0, i < rows ? src + i * lds : src);
#pragma GCC unroll 8
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
#pragma GCC unroll 2
    for (int h = 0; h < 16; h += 8)
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
            t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xDD);
        }
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
    }
    store_transposed(r, rows, cols, dst, ldd, ep, bias, preact);
}

void rt_gemm_transpose_avx512(const float *src, int64_t lds, int64_t rows, int64_t cols, float *dst,
                              int64_t ldd, const rt_gemm_transpose_ep *ep)
{
    transpose_blocks(transpose_16, src, lds, rows, cols, dst, ldd, ep);
}
