/* conv_avx512.c — the AVX-512 kernel of conv_backward.c's filter gradient.
 *
 * The filter gradient is C (M,N) += A (M,L) B (N,L)^T, with both operands
 * running along the reduction L (dy rows and im2col rows, pixels
 * contiguous). rt_sgemm must transpose both while packing; for LeNet's
 * conv1 (M=32, N=25, L=4608) packing and its zero padding took 45% of the
 * time and the layer ran at 23 GFLOP/s. Here each output is a dot product
 * kept in a vector of 16 partial sums: a 4x6 block of outputs holds 24
 * accumulators and reads 10 vectors per 24 FMAs, so it is FMA-bound
 * straight from L1/L2, with no packing at all. The 16 lanes are added in a
 * fixed order at the end, so results do not depend on the thread count.
 */
#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

#include "conv_internal.h"


enum { MB = 4, NB = 6 };

/* One MB x NB block; rows past m or n repeat the last row and their results
 * are dropped. */
static void block(int64_t mr, int64_t nr, int64_t l, const float *a, int64_t lda, const float *b,
                  int64_t ldb, float *c, int64_t ldc, bool accumulate)
{
    const float *ar[MB], *br[NB];
    for (int i = 0; i < MB; i++)
        ar[i] = a + (i < mr ? i : mr - 1) * lda;
    for (int j = 0; j < NB; j++)
        br[j] = b + (j < nr ? j : nr - 1) * ldb;
    __m512 acc[MB][NB];
#pragma GCC unroll 8
    for (int i = 0; i < MB; i++)
#pragma GCC unroll 8
        for (int j = 0; j < NB; j++)
            acc[i][j] = _mm512_setzero_ps();
    int64_t t = 0;
    for (; t + 16 <= l; t += 16) {
        __m512 bv[NB];
#pragma GCC unroll 8
        for (int j = 0; j < NB; j++)
            bv[j] = _mm512_loadu_ps(br[j] + t);
#pragma GCC unroll 8
        for (int i = 0; i < MB; i++) {
            __m512 av = _mm512_loadu_ps(ar[i] + t);
#pragma GCC unroll 8
            for (int j = 0; j < NB; j++)
                acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
        }
    }
    if (t < l) {
        __mmask16 mask = (__mmask16)((1u << (l - t)) - 1);
        __m512 bv[NB];
#pragma GCC unroll 8
        for (int j = 0; j < NB; j++)
            bv[j] = _mm512_maskz_loadu_ps(mask, br[j] + t);
#pragma GCC unroll 8
        for (int i = 0; i < MB; i++) {
            __m512 av = _mm512_maskz_loadu_ps(mask, ar[i] + t);
#pragma GCC unroll 8
            for (int j = 0; j < NB; j++)
                acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
        }
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) {
            float v = _mm512_reduce_add_ps(acc[i][j]);
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + v : v;
        }
}

// a (M,L) lda, b (N,L) ldb, c (M,N) ldc
void rt_conv_avx512_dot_nt(int64_t m, int64_t n, int64_t l, const float *a, int64_t lda,
                           const float *b, int64_t ldb, float *c, int64_t ldc, bool accumulate)
{
    for (int64_t i = 0; i < m; i += MB)
        for (int64_t j = 0; j < n; j += NB)
            block(m - i < MB ? m - i : MB, n - j < NB ? n - j : NB, l, a + i * lda, lda,
                  b + j * ldb, ldb, c + i * ldc + j, ldc, accumulate);
}

/* im2col of a stride-1 layer (conv_im2col.c's rt_conv_im2col_rows for that case): every
 * tap (ch, ky, kx) of the ns samples' output rows [ya, yb) is a run of
 * input rows, wo floats each shifted by kx*dilation - pad_left, copied
 * with one masked load and store per 16; the mask zeroes the columns in
 * the padding, and rows in the padding are stored as zeros. The generic
 * loop, built for baseline x86-64, spent more on each short row than on
 * its copy: im2col was 15% of LeNet's batch-1 prediction and 29% of a
 * ResNet training step (perf). col row k = (ch*kh + ky)*kw + kx holds
 * sample s's pixels at s*p, p = (yb-ya)*wo. */
/* A row of wo floats whose columns are all inside the input: whole
 * vectors, then the masked tail. */
static inline void copy_row(const float *in, int64_t wo, __mmask16 tail, float *out)
{
    int64_t j = 0;
    for (; j + 16 <= wo; j += 16)
        _mm512_storeu_ps(out + j, _mm512_loadu_ps(in + j));
    if (tail)
        _mm512_mask_storeu_ps(out + j, tail, _mm512_maskz_loadu_ps(tail, in + j));
}

/* The layer reads no padding for output rows [ya, yb): every tap's rows
 * are whole input rows, copied with no bounds at all. Giving these layers
 * the padded loop's per-row and per-vector masks made LeNet's batch-1
 * prediction 97 -> 116 us on one thread (im2col 7% -> 18% of it; a
 * whole-row test per row inside that loop still left 104 us). */
static void im2col_unpadded(const rt_conv_s1 *g, int64_t ns, const float *x, int64_t sample_stride,
                            int64_t ya, int64_t yb, float *col)
{
    const int64_t rows = yb - ya, wo = g->wo, ld = ns * rows * wo;
    const __mmask16 tail = rt_conv_lanes(0, wo % 16);
    for (int64_t ch = 0; ch < g->cg; ch++)
        for (int64_t ky = 0; ky < g->kh; ky++)
            for (int64_t kx = 0; kx < g->kw; kx++, col += ld) {
                float *out = col;
                for (int64_t s = 0; s < ns; s++) {
                    const float *in = x + s * sample_stride + (ch * g->h + ya + ky * g->dilation) * g->w +
                                      kx * g->dilation;
                    for (int64_t r = 0; r < rows; r++, in += g->w, out += wo)
                        copy_row(in, wo, tail, out);
                }
            }
}

void rt_conv_avx512_im2col_s1(const rt_conv_s1 *g, int64_t ns, const float *x, int64_t sample_stride,
                              int64_t ya, int64_t yb, float *col)
{
    if (g->pad_top == 0 && g->pad_left == 0 && yb - 1 + (g->kh - 1) * g->dilation < g->h &&
        g->wo - 1 + (g->kw - 1) * g->dilation < g->w) {
        im2col_unpadded(g, ns, x, sample_stride, ya, yb, col);
        return;
    }
    const int64_t rows = yb - ya, wo = g->wo, p = rows * wo, ld = ns * p;
    const __m512 zero = _mm512_setzero_ps();
    for (int64_t ch = 0; ch < g->cg; ch++)
        for (int64_t ky = 0; ky < g->kh; ky++)
            for (int64_t kx = 0; kx < g->kw; kx++, col += ld) {
                int64_t dy = ky * g->dilation - g->pad_top, dx = kx * g->dilation - g->pad_left;
                /* output columns whose input column ox + dx is inside the row */
                int64_t ox_lo = dx < 0 ? -dx : 0, ox_hi = g->w - dx < wo ? g->w - dx : wo;
                float *out = col;
                for (int64_t s = 0; s < ns; s++) {
                    const float *plane = x + s * sample_stride + ch * g->h * g->w;
                    for (int64_t oy = ya; oy < yb; oy++, out += wo) {
                        int64_t iy = oy + dy;
                        bool inside = iy >= 0 && iy < g->h;
                        const float *in = plane + iy * g->w + dx;
                        for (int64_t j = 0; j < wo; j += 16) {
                            __mmask16 store = rt_conv_lanes(0, wo - j);
                            __mmask16 load = inside ? (__mmask16)(store & rt_conv_lanes(ox_lo - j, ox_hi - j)) : 0;
                            _mm512_mask_storeu_ps(out + j, store,
                                                  load ? _mm512_maskz_loadu_ps(load, in + j) : zero);
                        }
                    }
                }
            }
}
