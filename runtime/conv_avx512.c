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

/* ------------------------------------------------ direct forward tile */

/* The batch-1 forward pass without im2col (conv_forward.c's
 * forward_direct): a 12 x 32 register tile of 12 filters by 32 output
 * pixels, the pixels being 4 output rows of 8 columns, 2 rows per vector.
 * Per tap k: the 4 row segments of 8 input floats it multiplies, loaded
 * from x where they lie (two 256-bit halves per vector, so no im2col
 * matrix is ever written), 12 filter values broadcast from w where it
 * lies (12 streams K apart, as rt_gemm_kernel_avx512_direct_at), 24 FMAs.
 * K is cut into the slices forward_packed and forward_transposed use, each
 * slice's chain starting from zero and added to the sum of the earlier
 * ones, so every output has the bits of those paths (and of any thread
 * count). Then, while the tile is in registers: bias (0 when there is none
 * and a ReLU follows, as bias_act_columns adds it), ReLU as max(0, v)
 * (= activations.h's 0 > v ? 0 : v, -0 and NaN included), the stores to y,
 * and the 2x2 max-pool with pool.c's comparisons (b > a, then c, then d
 * against the running maximum). */
/* gcc cannot see that `partial` is stored by a slice before the next one
 * loads it, nor that the loop over slices runs at least once. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
static inline __attribute__((always_inline)) void
direct_tile(const rt_conv_direct *g, int64_t f0, const int rows, int64_t oy0, int64_t ox0,
            const int pairs)
{
    const int64_t kk = g->k, w = g->w;
    const float *xt = g->x + oy0 * w + ox0, *wf = g->wt + f0 * kk;
    __m512 acc[12][2];
    /* the sum of the slices before the current one, per filter and pair */
    float partial[12][2][16] __attribute__((aligned(64)));
    for (int64_t k0 = 0; k0 < kk; k0 += g->kc_step) {
        int64_t k1 = k0 + g->kc_step < kk ? k0 + g->kc_step : kk;
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            acc[i][0] = acc[i][1] = _mm512_setzero_ps();
        for (int64_t k = k0; k < k1; k++) {
            const float *xk = xt + g->taps[k];
            __m512 b0 = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(xk)),
                                           _mm256_loadu_ps(xk + w), 1);
            __m512 b1 = b0;
            if (pairs > 1)
                b1 = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(xk + 2 * w)),
                                        _mm256_loadu_ps(xk + 3 * w), 1);
#pragma GCC unroll 12
            for (int i = 0; i < 12; i++)
                if (i < rows) {
                    __m512 a = _mm512_set1_ps(wf[i * kk + k]);
                    acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
                    if (pairs > 1)
                        acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
                }
        }
        if (k0 > 0)
#pragma GCC unroll 12
            for (int i = 0; i < 12; i++)
                for (int h = 0; h < pairs; h++)
                    if (i < rows)
                        acc[i][h] = _mm512_add_ps(_mm512_load_ps(partial[i][h]), acc[i][h]);
        if (k1 < kk)
#pragma GCC unroll 12
            for (int i = 0; i < 12; i++)
                for (int h = 0; h < pairs; h++)
                    if (i < rows)
                        _mm512_store_ps(partial[i][h], acc[i][h]);
    }
    const __m512 zero = _mm512_setzero_ps();
    const __m512i ia = _mm512_setr_epi32(0, 2, 4, 6, 16, 18, 20, 22, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i ib = _mm512_setr_epi32(1, 3, 5, 7, 17, 19, 21, 23, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i ic = _mm512_setr_epi32(8, 10, 12, 14, 24, 26, 28, 30, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i id = _mm512_setr_epi32(9, 11, 13, 15, 25, 27, 29, 31, 0, 0, 0, 0, 0, 0, 0, 0);
    const int64_t pwo = g->wo / 2, pplane = g->p / 4;
    for (int i = 0; i < rows; i++) {
        int64_t f = f0 + i;
        __m512 v[2] = { acc[i][0], acc[i][1] };
        for (int h = 0; h < pairs; h++) {
            if (g->bias || g->relu)
                v[h] = _mm512_add_ps(v[h], _mm512_set1_ps(g->bias ? g->bias[f] : 0.0f));
            if (g->relu)
                v[h] = _mm512_max_ps(zero, v[h]);
            if (!g->y)
                continue;
            float *y = g->y + f * g->p + (oy0 + 2 * h) * g->wo + ox0;
            _mm256_storeu_ps(y, _mm512_castps512_ps256(v[h]));
            _mm256_storeu_ps(y + g->wo, _mm512_extractf32x8_ps(v[h], 1));
        }
        if (!g->pooled)
            continue;
        __m512 hi = pairs > 1 ? v[1] : v[0];
        __m512 a = _mm512_permutex2var_ps(v[0], ia, hi), b = _mm512_permutex2var_ps(v[0], ib, hi);
        __m512 c = _mm512_permutex2var_ps(v[0], ic, hi), d = _mm512_permutex2var_ps(v[0], id, hi);
        __m512 m = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(b, a, _CMP_GT_OQ), a, b);
        m = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(c, m, _CMP_GT_OQ), m, c);
        m = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(d, m, _CMP_GT_OQ), m, d);
        float *out = g->pooled + f * pplane + oy0 / 2 * pwo + ox0 / 2;
        _mm_storeu_ps(out, _mm512_castps512_ps128(m));
        if (pairs > 1)
            _mm_storeu_ps(out + pwo, _mm512_extractf32x4_ps(m, 1));
    }
}

#pragma GCC diagnostic pop

#define DIRECT_FOR_ROWS(pairs)                                                                  \
    switch (rows) {                                                                             \
    case 1: direct_tile(g, f0, 1, oy0, ox0, pairs); return;                                     \
    case 2: direct_tile(g, f0, 2, oy0, ox0, pairs); return;                                     \
    case 3: direct_tile(g, f0, 3, oy0, ox0, pairs); return;                                     \
    case 4: direct_tile(g, f0, 4, oy0, ox0, pairs); return;                                     \
    case 5: direct_tile(g, f0, 5, oy0, ox0, pairs); return;                                     \
    case 6: direct_tile(g, f0, 6, oy0, ox0, pairs); return;                                     \
    case 7: direct_tile(g, f0, 7, oy0, ox0, pairs); return;                                     \
    case 8: direct_tile(g, f0, 8, oy0, ox0, pairs); return;                                     \
    case 9: direct_tile(g, f0, 9, oy0, ox0, pairs); return;                                     \
    case 10: direct_tile(g, f0, 10, oy0, ox0, pairs); return;                                   \
    case 11: direct_tile(g, f0, 11, oy0, ox0, pairs); return;                                   \
    default: direct_tile(g, f0, 12, oy0, ox0, pairs); return;                                   \
    }

void rt_conv_avx512_direct_tile(const rt_conv_direct *g, int64_t f0, int rows, int64_t oy0,
                                int64_t ox0, int pairs)
{
    if (pairs > 1)
        DIRECT_FOR_ROWS(2)
    DIRECT_FOR_ROWS(1)
}
