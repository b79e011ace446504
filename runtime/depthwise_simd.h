/* depthwise_simd.h — depthwise convolution in SIMD vectors (conv_depthwise.c's
 * depthwise path): forward, data gradient, filter gradient, over ranges
 * of planes. One body for two instruction sets: depthwise_avx512.c and
 * depthwise_avx2.c each define the vector operations below and include
 * this file once.
 *
 * Every pass is a correlation of a source plane with a small kernel,
 * computed LANES output columns at a time (16 on AVX-512, 8 on AVX2) with
 * a vector per output row:
 *  - forward: y = bias + x * w at the layer's stride, with the ReLU (if
 *    any) applied on the way out;
 *  - data gradient: dx = the sum over the channel's filters of dy * w
 *    rotated by 180 degrees; at stride s, each of dx's s x s phases is a
 *    stride-1 correlation with a sub-kernel (data_strided);
 *  - filter gradient: dw[ky][kx] is the dot product of dy with the x
 *    pixels under tap (ky, kx), in LANES float lanes per tap.
 * A kernel column is a shifted masked load of the source row: the mask
 * drops the columns in the padding (a masked lane is never read, so rows
 * need no margin, and "same" padding may differ on each side) and, on
 * AVX-512, keeps those lanes out of the FMA, so a padded tap adds nothing,
 * as in the reference; on AVX2 it adds w*0 (the same sum but for the sign
 * of a zero or an infinite weight). A tile of TILE_ROWS output rows loads
 * each source row it needs once per kernel column and feeds it to every
 * output row that uses it: a 3x3 tile of 4 rows makes 18 loads for 36
 * FMAs, in 4 independent chains, with the kernel in registers. At stride s the source's columns
 * are first split into s phase planes (columns p, p + s, ...), so every
 * load is contiguous. 3x3 and 5x5 at strides 1 and 2 (and the sub-kernels
 * of a 3x3 stride-2 data gradient) are unrolled instances; any other
 * shape takes a generic one with the same loops at run time.
 *
 * What the profile taught: gcc kept a kernel array indexed in loops in
 * memory until the loop that filled it was unrolled too (28x28 forward,
 * in L2: 27 -> 51 GFLOP/s); the filter gradient's accumulators lived on
 * the stack as long as the function that sums them was not inlined (with
 * the masks hoisted out of the row loop in the same step, 128x28x28:
 * 17 -> 50), and the 5x5 one's 26 stayed there until the loop that sums
 * them was unrolled fully (31 -> 80); a stride-2 plane split row by row
 * spent more on masks and bounds than on its loads (see split_phases).
 * A stride-2 layer reads four times the input per output: bench_rt_conv's,
 * 12.8 MB of input, runs at the speed of memory (about 20 GB/s on one
 * core here), and a prefetch of the next plane did not help. R = 6 or 8
 * rows per tile were within the noise of 4 or slower.
 *
 * bench_rt_conv, batch 8, GFLOP/s forward / data / filter, before (the
 * loops in conv.c) and after, on this shared 2-core Zen 4 (the best of
 * two to four runs each; single runs vary by 20-30% with the other
 * tenant's load):
 *                               before              AVX-512         AVX2
 *   128x28x28 3x3, 1 thread    7.9 / 10.0 / 6.2  ->  57 / 66 / 74   28 / 36 / 47
 *                  2 threads  15.4 / 19.6 / 12.9 -> 108 / 128 / 134  54 / 68 / 88
 *   128x56x56 3x3 /2, 1        4.3 / 3.2 / 2.1   ->  15 / 14 / 21   13 / 9 / 11
 *                     2        8.4 / 6.2 / 4.2   ->  38 / 27 / 45   30 / 19 / 32
 *   512x14x14 3x3, 1           5.7 / 6.8 / 3.5   ->  50 / 57 / 56   18 / 25 / 36
 *   1024x7x7 3x3, 1            3.8 / 3.9 / 1.9   ->  25 / 24 / 23   11 / 15 / 23
 *   240x14x14 5x5, 1           7.0 / 7.5 / 4.0   ->  78 / 77 / 81   31 / 37 / 35
 * A 7-wide row fills 7 of 16 lanes, and a 7x7 plane is two tiles, so
 * those layers stay far from the others. AVX2 has 16 vector registers for
 * the kernel, the accumulators and the masks, and spills some.
 *
 * Each output's FMA chain is fixed by the shape: kernel rows in order
 * (rotated for the data gradient), kernel columns in order, whichever tile
 * or instance computes it; the filter gradient's float lanes go into
 * double after groups of samples that depend on the shape alone.
 * conv_depthwise.c splits the work by whole planes (the filter gradient by
 * filters), so the bits do not depend on the thread count.
 */

/* What the including file defines, for its instruction set:
 *   VEC, VMASK, LANES      the vector and lane-mask types, lanes a vector
 *   v_lanes(lo, hi)        the mask of lanes [lo, hi), clipped to the vector
 *   v_loadz(m, p)          the lanes of m from p, 0 elsewhere (never read)
 *   v_loadu(p), v_storeu(p, v), v_store(p, m, v) (the lanes of m only)
 *   v_fma(w, x, acc, m)    acc + w*x in the lanes of m, acc elsewhere (or
 *                          acc + w*x everywhere, where x is 0 outside m)
 *   v_set1(f), v_zero(), v_add(a, b), v_relu(x) (0 > x ? 0 : x)
 *   v_and(m, n)            the lanes in both masks
 *   v_deinterleave(a, b, &even, &odd), v_interleave(even, odd, &lo, &hi)
 *                          the even and odd elements of a then b, and back
 *   v_add_to_doubles(v, d) d[i] += v[i] in double, i < LANES
 *   DW_EXPORT(name)        the exported name of forward, data, filter, scratch
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "conv_internal.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* Output rows per tile (why 4: in the file comment). */
enum { TILE_ROWS = 4 };

/* Source planes seen from the output: output row o under kernel row ky
 * reads source row o*stride + ky*dilation - top; under kernel column kx,
 * output column o reads element off[kx] + o of that row, when
 * lo[kx] <= o < hi[kx] (elsewhere the tap is in the padding). */
typedef struct dw_view {
    const float *src;
    int64_t rows, ld, plane; /* rows, row pitch, floats from one source plane to the next */
    int64_t top;
    int64_t out_rows, out_cols;
    int64_t kh, kw, stride, dilation;
    int64_t off[RT_CONV_DW_MAX_KW], lo[RT_CONV_DW_MAX_KW], hi[RT_CONV_DW_MAX_KW];
} dw_view;

/* What the output columns c0 .. c0 + LANES - 1 need of a view: per
 * kernel column the source element of column c0 in row 0 of plane 0, and
 * the lanes whose source column exists (and whose output column does:
 * `exists`). */
typedef struct dw_block {
    int64_t c0;
    VMASK exists;
    const float *col[RT_CONV_DW_MAX_KW];
    VMASK m[RT_CONV_DW_MAX_KW];
} dw_block;

static int64_t round16(int64_t n)
{
    return (n + 15) / 16 * 16;
}

/* The view of source planes of rows x cols floats read at column stride
 * cs: when cs > 1 they are phase planes (split_phases) of ld floats a row,
 * phase p at src + p*rows*ld; left is the padding before source column 0. */
static void view_init(dw_view *v, const float *src, int64_t rows, int64_t cols, int64_t cs,
                      int64_t ld, int64_t plane, int64_t top, int64_t left, int64_t out_rows,
                      int64_t out_cols, int64_t kh, int64_t kw, int64_t stride, int64_t dilation)
{
    v->src = src, v->rows = rows, v->ld = ld, v->plane = plane, v->top = top;
    v->out_rows = out_rows, v->out_cols = out_cols;
    v->kh = kh, v->kw = kw, v->stride = stride, v->dilation = dilation;
    for (int64_t kx = 0; kx < kw; kx++) {
        int64_t c = kx * dilation - left; /* source column of output column 0 */
        int64_t phase = 0, shift = c, width = cols;
        if (cs > 1) { /* the divisions took 7% of a 28x28 plane's forward pass */
            phase = (c % cs + cs) % cs;
            shift = (c - phase) / cs;
            width = (cols - phase + cs - 1) / cs;
        }
        v->off[kx] = phase * rows * ld + shift;
        v->lo[kx] = -shift;
        v->hi[kx] = width - shift;
    }
}

ALWAYS_INLINE void block_init(const dw_view *v, const int KW, int64_t c0, dw_block *b)
{
    b->c0 = c0;
    b->exists = v_lanes(0, v->out_cols - c0);
#pragma GCC unroll 8
    for (int kx = 0; kx < KW; kx++) {
        b->col[kx] = v->src + v->off[kx] + c0;
        b->m[kx] = v_and(v_lanes(v->lo[kx] - c0, v->hi[kx] - c0), b->exists);
    }
}

/* out (cs planes of rows x ld): plane p row r holds columns p, p + cs, ...
 * of in's row r (rows x cols). Stride 2 by v_deinterleave, 2*LANES
 * columns at a time: when cols is even, the phase planes are those of the
 * whole plane taken as one row, so the loop runs over the plane without
 * per-row masks and bounds. Row by row, 1024 planes of 56x56 (in L3) took
 * 300-590 us on AVX-512, as one row 170 us. */
static void split_phases(const float *in, int64_t rows, int64_t cols, int64_t cs, int64_t ld,
                         float *out)
{
    if (cs == 2) {
        int64_t n = cols, lines = rows;
        if (cols % 2 == 0)
            n = rows * cols, lines = 1;
        for (int64_t r = 0; r < lines; r++) {
            const float *row = in + r * cols;
            float *e = out + r * ld, *o = out + rows * ld + r * ld;
            int64_t c = 0;
            VEC even, odd;
            for (; c + 2 * LANES <= n; c += 2 * LANES) {
                v_deinterleave(v_loadu(row + c), v_loadu(row + c + LANES), &even, &odd);
                v_storeu(e + c / 2, even);
                v_storeu(o + c / 2, odd);
            }
            if (c < n) {
                v_deinterleave(v_loadz(v_lanes(0, n - c), row + c),
                               v_loadz(v_lanes(0, n - c - LANES), row + c + LANES), &even, &odd);
                v_store(e + c / 2, v_lanes(0, (n + 1) / 2 - c / 2), even);
                v_store(o + c / 2, v_lanes(0, n / 2 - c / 2), odd);
            }
        }
        return;
    }
    for (int64_t p = 0; p < cs; p++)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t m = 0; m * cs + p < cols; m++)
                out[(p * rows + r) * ld + m] = in[r * cols + m * cs + p];
}

/* ---------------------------------------------------- forward and data */

/* The weight of plane p, tap (ky, kx): from wv, the one plane's kernel
 * broadcast once per call, or broadcast from w (KH*KW floats a plane). */
#define WEIGHT(p, ky, kx) \
    (wv ? wv[(ky) * KW + (kx)] : v_set1(w[((p) * KH + (ky)) * KW + (kx)]))

/* The tile walk that loads each source row once (REUSE, R > 1), for the
 * forward (and data) tile and the filter tile alike. Source row
 * o0*S + i - top serves output row o0 + r under kernel row (i - r*S) / D;
 * for each output row, i ascending is ky ascending, the order of the
 * direct walks, so both directions sum in the same order either way.
 * FILTER is a constant at each call, so its test folds away:
 *   forward (plane p at offset base):  acc[r] += w(p, ky, kx) * x
 *   filter (dy's rows g):               acc[ky*KW + kx] += g[r] * x */
ALWAYS_INLINE void reuse_walk(const dw_view *v, const dw_block *b, int64_t base, const bool FILTER,
                              const float *w, const VEC *wv, int64_t p, const VEC *g, const int KH,
                              const int KW, const int S, const int D, const int R, int64_t o0,
                              VEC *acc)
{
    const int64_t ld = v->ld, rows = v->rows, top = v->top;
    const int span = (R - 1) * S + (KH - 1) * D + 1;
#pragma GCC unroll 16
    for (int i = 0; i < span; i++) {
        int64_t sr = o0 * S + i - top;
        if (sr < 0 || sr >= rows)
            continue;
#pragma GCC unroll 8
        for (int kx = 0; kx < KW; kx++) {
            VEC x = v_loadz(b->m[kx], b->col[kx] + base + sr * ld);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                int t = i - r * S;
                if (t < 0 || t % D != 0 || t / D >= KH)
                    continue;
                if (FILTER)
                    acc[t / D * KW + kx] = v_fma(g[r], x, acc[t / D * KW + kx], b->m[kx]);
                else
                    acc[r] = v_fma(WEIGHT(p, t / D, kx), x, acc[r], b->m[kx]);
            }
        }
    }
}

/* acc[r] += the taps of source planes [0, planes) for output row o0 + r,
 * r < R, in block b. KH, KW, S (stride), D (dilation) and R are constants
 * in the tuned instances (REUSE), so the loops unroll and the test of
 * which (output row, kernel row) pairs a source row serves folds away.
 * The generic instance (runtime KH, ...) walks the taps and loads each
 * output row's source rows itself. */
ALWAYS_INLINE void correlate_tile(const dw_view *v, const dw_block *b, int64_t planes,
                                  const float *w, const VEC *wv, const int KH, const int KW,
                                  const int S, const int D, const bool REUSE, const int R,
                                  int64_t o0, VEC *acc)
{
    const int64_t ld = v->ld, rows = v->rows, top = v->top;
    for (int64_t p = 0; p < planes; p++) {
        const int64_t base = p * v->plane;
        if (!REUSE || R == 1) {
#pragma GCC unroll 8
            for (int ky = 0; ky < KH; ky++)
#pragma GCC unroll 8
                for (int kx = 0; kx < KW; kx++) {
                    VEC wk = WEIGHT(p, ky, kx);
#pragma GCC unroll 8
                    for (int r = 0; r < R; r++) {
                        int64_t sr = (o0 + r) * S + ky * D - top;
                        if (sr < 0 || sr >= rows)
                            continue;
                        VEC x = v_loadz(b->m[kx], b->col[kx] + base + sr * ld);
                        acc[r] = v_fma(wk, x, acc[r], b->m[kx]);
                    }
                }
            continue;
        }
        reuse_walk(v, b, base, false, w, wv, p, NULL, KH, KW, S, D, R, o0, acc);
    }
}

/* Output rows [o0, o0 + R) of block b: pre (if not NULL) gets the sums,
 * out the sums or, with relu, 0 > sum ? 0 : sum (max with 0 first: a NaN
 * sum stays NaN, as in rt_act_forward). */
ALWAYS_INLINE void correlate_rows(const dw_view *v, const dw_block *b, int64_t planes,
                                  const float *w, const VEC *wv, const int KH, const int KW,
                                  const int S, const int D, const bool REUSE, const int R,
                                  int64_t o0, float init, bool relu, float *pre, float *out)
{
    VEC acc[TILE_ROWS];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
        acc[r] = v_set1(init);
    correlate_tile(v, b, planes, w, wv, KH, KW, S, D, REUSE, R, o0, acc);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        int64_t at = (o0 + r) * v->out_cols + b->c0;
        if (pre)
            v_store(pre + at, b->exists, acc[r]);
        v_store(out + at, b->exists,
                              relu ? v_relu(acc[r]) : acc[r]);
    }
}

/* The whole output, a column block at a time (its masks stay in
 * registers), in tiles of TILE_ROWS rows and one of the rows left. */
ALWAYS_INLINE void correlate_plane(const dw_view *restrict v, int64_t planes,
                                   const float *restrict w, const VEC *wv, const int KH,
                                   const int KW, const int S, const int D, const bool REUSE,
                                   float init, bool relu, float *restrict pre,
                                   float *restrict out)
{
    for (int64_t c0 = 0; c0 < v->out_cols; c0 += LANES) {
        dw_block b;
        block_init(v, KW, c0, &b);
        int64_t o0 = 0;
        for (; o0 + TILE_ROWS <= v->out_rows; o0 += TILE_ROWS)
            correlate_rows(v, &b, planes, w, wv, KH, KW, S, D, REUSE, TILE_ROWS, o0, init, relu,
                           pre, out);
#define REST(R) correlate_rows(v, &b, planes, w, wv, KH, KW, S, D, REUSE, R, o0, init, relu, pre, out)
        switch (v->out_rows - o0) {
        case 3: REST(3); break;
        case 2: REST(2); break;
        case 1: REST(1); break;
        }
#undef REST
    }
}

/* The tuned instances (KH x KW undilated at stride S), with one plane's
 * kernel in registers, or several planes' (the data gradient of a channel
 * multiplier > 1) read as they come. */
ALWAYS_INLINE void correlate_tuned(const dw_view *v, int64_t planes, const float *w,
                                   const int KH, const int KW, const int S, float init, bool relu,
                                   float *pre, float *out)
{
    if (planes == 1) {
        VEC wv[25];
#pragma GCC unroll 32
        for (int i = 0; i < KH * KW; i++)
            wv[i] = v_set1(w[i]);
        correlate_plane(v, 1, w, wv, KH, KW, S, 1, true, init, relu, pre, out);
    } else {
        correlate_plane(v, planes, w, NULL, KH, KW, S, 1, true, init, relu, pre, out);
    }
}

typedef void correlate_fn(const dw_view *v, int64_t planes, const float *w, float init, bool relu,
                          float *pre, float *out);

#define CORRELATE_TUNED(name, KH, KW, S)                                                      \
    static void name(const dw_view *v, int64_t planes, const float *w, float init, bool relu, \
                     float *pre, float *out)                                                  \
    {                                                                                         \
        correlate_tuned(v, planes, w, KH, KW, S, init, relu, pre, out);                       \
    }
/* MobileNet's and EfficientNet's kernels at both strides; the 2x2, 2x1,
 * 1x2 and 1x1 ones are the sub-kernels of a 3x3 stride-2 data gradient */
CORRELATE_TUNED(correlate_3x3, 3, 3, 1)
CORRELATE_TUNED(correlate_3x3_stride2, 3, 3, 2)
CORRELATE_TUNED(correlate_5x5, 5, 5, 1)
CORRELATE_TUNED(correlate_5x5_stride2, 5, 5, 2)
CORRELATE_TUNED(correlate_2x2, 2, 2, 1)
CORRELATE_TUNED(correlate_2x1, 2, 1, 1)
CORRELATE_TUNED(correlate_1x2, 1, 2, 1)
CORRELATE_TUNED(correlate_1x1, 1, 1, 1)

static void correlate_generic(const dw_view *v, int64_t planes, const float *w, float init,
                              bool relu, float *pre, float *out)
{
    correlate_plane(v, planes, w, NULL, (int)v->kh, (int)v->kw, (int)v->stride,
                    (int)v->dilation, false, init, relu, pre, out);
}

/* The shapes with an instance of their own, and which of `n` a layer's is
 * (-1: none, the generic loop). Correlation has the first eight, the
 * filter gradient the first four. */
static const struct {
    int64_t kh, kw, stride;
} tuned_shapes[] = {
    { 3, 3, 1 }, { 3, 3, 2 }, { 5, 5, 1 }, { 5, 5, 2 }, { 2, 2, 1 }, { 2, 1, 1 }, { 1, 2, 1 }, { 1, 1, 1 },
};

static int tuned_index(const dw_view *v, int n)
{
    if (v->dilation == 1)
        for (int i = 0; i < n; i++)
            if (tuned_shapes[i].kh == v->kh && tuned_shapes[i].kw == v->kw && tuned_shapes[i].stride == v->stride)
                return i;
    return -1;
}

static correlate_fn *correlate_choose(const dw_view *v)
{
    static correlate_fn *const tuned[] = {
        correlate_3x3, correlate_3x3_stride2, correlate_5x5, correlate_5x5_stride2,
        correlate_2x2, correlate_2x1, correlate_1x2, correlate_1x1,
    };
    int i = tuned_index(v, (int)(sizeof tuned / sizeof tuned[0]));
    return i >= 0 ? tuned[i] : correlate_generic;
}

static void correlate(const dw_view *v, int64_t planes, const float *w, float init, bool relu,
                      float *pre, float *out)
{
    correlate_choose(v)(v, planes, w, init, relu, pre, out);
}

/* ------------------------------------------------------ filter gradient */

/* acc[ky*KW + kx] += dy * x under tap (ky, kx) and acc[KH*KW] += dy, for
 * output rows o0 + r, r < R, in block b. */
ALWAYS_INLINE void filter_tile(const dw_view *v, const dw_block *b, const float *dy,
                               const int KH, const int KW, const int S, const int D,
                               const bool REUSE, const int R, int64_t o0, VEC *acc)
{
    const int64_t ld = v->ld, rows = v->rows, top = v->top;
    VEC g[TILE_ROWS];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        g[r] = v_loadz(b->exists, dy + (o0 + r) * v->out_cols + b->c0);
        acc[KH * KW] = v_add(acc[KH * KW], g[r]);
    }
    if (!REUSE || R == 1) {
#pragma GCC unroll 8
        for (int ky = 0; ky < KH; ky++)
#pragma GCC unroll 8
            for (int kx = 0; kx < KW; kx++) {
                VEC a = acc[ky * KW + kx];
#pragma GCC unroll 8
                for (int r = 0; r < R; r++) {
                    int64_t sr = (o0 + r) * S + ky * D - top;
                    if (sr < 0 || sr >= rows)
                        continue;
                    VEC x = v_loadz(b->m[kx], b->col[kx] + sr * ld);
                    a = v_fma(g[r], x, a, b->m[kx]);
                }
                acc[ky * KW + kx] = a;
            }
        return;
    }
    reuse_walk(v, b, 0, true, NULL, NULL, 0, g, KH, KW, S, D, R, o0, acc);
}

ALWAYS_INLINE void filter_plane(const dw_view *restrict v, const float *restrict dy, const int KH,
                                const int KW, const int S, const int D, const bool REUSE,
                                VEC *acc)
{
    for (int64_t c0 = 0; c0 < v->out_cols; c0 += LANES) {
        dw_block b;
        block_init(v, KW, c0, &b);
        int64_t o0 = 0;
        for (; o0 + TILE_ROWS <= v->out_rows; o0 += TILE_ROWS)
            filter_tile(v, &b, dy, KH, KW, S, D, REUSE, TILE_ROWS, o0, acc);
        switch (v->out_rows - o0) {
        case 3: filter_tile(v, &b, dy, KH, KW, S, D, REUSE, 3, o0, acc); break;
        case 2: filter_tile(v, &b, dy, KH, KW, S, D, REUSE, 2, o0, acc); break;
        case 1: filter_tile(v, &b, dy, KH, KW, S, D, REUSE, 1, o0, acc); break;
        }
    }
}

/* sums[RT_CONV_DW_SUM_LANES*i ..] += acc[i]'s lanes, in double. Inlined, so that the tuned
 * instances' accumulators stay in registers. */
ALWAYS_INLINE void flush(const VEC *acc, int64_t n, double *sums)
{
#pragma GCC unroll 32
    for (int64_t i = 0; i < n; i++)
        v_add_to_doubles(acc[i], sums + RT_CONV_DW_SUM_LANES * i);
}

/* Terms each float lane of the filter gradient takes before it is added
 * into the double sums. A flush per plane cost as much as a small plane's
 * products: batch 8, one thread, 512x14x14: 41-46 -> 55-56 GFLOP/s,
 * 1024x7x7: 16-17 -> 22, 128x28x28 unchanged (69-74). */
enum { FLUSH_TERMS = 256 };

static void x_plane(const rt_conv_dw *g, dw_view *v, const float *x, float *scratch);

/* Filter `filter` over samples [0, batch) into sums: acc (KH*KW + 1
 * vectors) runs over FLUSH_TERMS-term groups of samples, which depend on
 * the shape alone. */
ALWAYS_INLINE void filter_samples(const rt_conv_dw *g, dw_view *v, int64_t filter, int64_t batch,
                                  const float *x, const float *dy, double *sums, float *scratch,
                                  VEC *acc, const int KH, const int KW, const int S,
                                  const int D, const bool REUSE)
{
    const int64_t fg = g->f / g->c, p = g->ho * g->wo, hw = g->h * g->w, n = KH * KW + 1;
    int64_t per = FLUSH_TERMS / (g->ho * ((g->wo + LANES - 1) / LANES));
    per = per < 1 ? 1 : per;
    for (int64_t s0 = 0; s0 < batch; s0 += per) {
#pragma GCC unroll 32
        for (int64_t i = 0; i < n; i++)
            acc[i] = v_zero();
        for (int64_t s = s0; s < batch && s < s0 + per; s++) {
            x_plane(g, v, x + (s * g->c + filter / fg) * hw, scratch);
            filter_plane(v, dy + (s * g->f + filter) * p, KH, KW, S, D, REUSE, acc);
        }
        flush(acc, n, sums);
    }
}

typedef void filter_fn(const rt_conv_dw *g, dw_view *v, int64_t filter, int64_t batch,
                       const float *x, const float *dy, double *sums, float *scratch,
                       VEC *acc);

/* The tuned instances keep their accumulators in registers (acc, for the
 * generic one's in scratch, is unused). */
#define FILTER_TUNED(name, KH, KW, S)                                                          \
    static void name(const rt_conv_dw *g, dw_view *v, int64_t filter, int64_t batch,          \
                     const float *x, const float *dy, double *sums, float *scratch,            \
                     VEC *acc)                                                              \
    {                                                                                          \
        VEC in_registers[KH * KW + 1];                                                      \
        (void)acc;                                                                             \
        filter_samples(g, v, filter, batch, x, dy, sums, scratch, in_registers, KH, KW, S, 1, \
                       true);                                                                  \
    }
FILTER_TUNED(filter_3x3, 3, 3, 1)
FILTER_TUNED(filter_3x3_stride2, 3, 3, 2)
FILTER_TUNED(filter_5x5, 5, 5, 1)
FILTER_TUNED(filter_5x5_stride2, 5, 5, 2)

static void filter_generic(const rt_conv_dw *g, dw_view *v, int64_t filter, int64_t batch,
                           const float *x, const float *dy, double *sums, float *scratch,
                           VEC *acc)
{
    filter_samples(g, v, filter, batch, x, dy, sums, scratch, acc, (int)v->kh, (int)v->kw,
                   (int)v->stride, (int)v->dilation, false);
}

static filter_fn *filter_choose(const dw_view *v)
{
    static filter_fn *const tuned[] = { filter_3x3, filter_3x3_stride2, filter_5x5, filter_5x5_stride2 };
    int i = tuned_index(v, (int)(sizeof tuned / sizeof tuned[0]));
    return i >= 0 ? tuned[i] : filter_generic;
}

/* ---------------------------------------------------------- entry points */

/* Scratch layout: the phase planes of x (forward, filter) or of dx (data),
 * then the data gradient's kernels, then the generic filter gradient's
 * accumulators. */
static int64_t source_floats(const rt_conv_dw *g)
{
    int64_t s = g->stride;
    if (s == 1)
        return 0;
    int64_t x_phases = s * g->h * ((g->w + s - 1) / s);
    int64_t dx_phases = s * ((g->h + s - 1) / s) * ((g->w + s - 1) / s);
    return round16(x_phases > dx_phases ? x_phases : dx_phases);
}

int64_t DW_EXPORT(scratch)(const rt_conv_dw *g)
{
    int64_t taps = g->kh * g->kw;
    return source_floats(g) + round16(g->f / g->c * taps) + 16 * (taps + 1);
}

/* The view of x's planes at the layer's stride; its source is set per
 * plane by x_plane. */
static void x_view(const rt_conv_dw *g, dw_view *v)
{
    int64_t s = g->stride;
    view_init(v, NULL, g->h, g->w, s, s > 1 ? (g->w + s - 1) / s : g->w, 0, g->pad_top,
              g->pad_left, g->ho, g->wo, g->kh, g->kw, s, g->dilation);
}

/* Points v at input plane x (split into phase planes in scratch first at
 * stride > 1). */
static void x_plane(const rt_conv_dw *g, dw_view *v, const float *x, float *scratch)
{
    if (g->stride == 1) {
        v->src = x;
        return;
    }
    split_phases(x, g->h, g->w, g->stride, v->ld, scratch);
    v->src = scratch;
}

// x (B,C,H,W), w (F,1,KH,KW), bias (F), pre and y (B,F,Ho,Wo)
void DW_EXPORT(forward)(const rt_conv_dw *g, int64_t q0, int64_t q1, const float *x,
                               const float *w, const float *bias, bool relu, float *pre, float *y,
                               float *scratch)
{
    const int64_t fg = g->f / g->c, taps = g->kh * g->kw, p = g->ho * g->wo;
    dw_view v;
    x_view(g, &v);
    correlate_fn *fn = correlate_choose(&v);
    for (int64_t q = q0; q < q1; q++) {
        int64_t b = q / g->f, f = q % g->f;
        x_plane(g, &v, x + (b * g->c + f / fg) * g->h * g->w, scratch);
        fn(&v, 1, w + f * taps, bias ? bias[f] : 0.0f, relu, pre ? pre + q * p : NULL, y + q * p);
    }
}

static int64_t gcd(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b, b = t;
    }
    return a;
}

/* The kernel taps k (rows or columns) that reach output phase `phase` of
 * a stride-s layer's data gradient, those with (phase + pad - k*dilation)
 * a multiple of s: the first, and how many (every s/gcd(s, dilation)-th
 * after it). */
static void phase_taps(int64_t phase, int64_t pad, int64_t k, int64_t s, int64_t dilation,
                       int64_t *first, int64_t *count)
{
    int64_t t = 0;
    while (t < k && ((phase + pad - t * dilation) % s + s) % s != 0)
        t++;
    *first = t;
    *count = t < k ? (k - 1 - t) / (s / gcd(s, dilation)) + 1 : 0;
}

/* dx's rows phase, phase + s, ... (rows of them) from its s column phase
 * planes (phase b: (w - b + s - 1) / s columns a row, at planes +
 * b*pitch). Stride 2 by v_interleave, 2*LANES columns at a time. */
static void merge_phases(const float *planes, int64_t pitch, int64_t rows, int64_t w, int64_t s,
                         int64_t phase, float *dx)
{
    if (s == 2) {
        int64_t even_cols = (w + 1) / 2, odd_cols = w / 2;
        for (int64_t i = 0; i < rows; i++) {
            const float *e = planes + i * even_cols, *o = planes + pitch + i * odd_cols;
            float *out = dx + (i * 2 + phase) * w;
            int64_t j = 0;
            VEC lo, hi;
            for (; j + LANES <= odd_cols; j += LANES) {
                v_interleave(v_loadu(e + j), v_loadu(o + j), &lo, &hi);
                v_storeu(out + 2 * j, lo);
                v_storeu(out + 2 * j + LANES, hi);
            }
            if (j < even_cols) {
                v_interleave(v_loadz(v_lanes(0, even_cols - j), e + j),
                             v_loadz(v_lanes(0, odd_cols - j), o + j), &lo, &hi);
                v_store(out + 2 * j, v_lanes(0, w - 2 * j), lo);
                v_store(out + 2 * j + LANES, v_lanes(0, w - 2 * j - LANES), hi);
            }
        }
        return;
    }
    for (int64_t b = 0; b < s; b++) {
        int64_t cols = (w - b + s - 1) / s;
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++)
                dx[(i * s + phase) * w + j * s + b] = planes[b * pitch + i * cols + j];
    }
}

/* The data gradient of a strided layer, one phase of dx at a time: the
 * pixels (s*i + a, s*j + b) take dy through the taps k with
 * (a + pad_top - ky*dilation) and (b + pad_left - kx*dilation) multiples
 * of s, at dy row i + (a + pad_top - ky*dilation)/s (and so on for the
 * columns), which is a stride-1 correlation of dy with that sub-kernel,
 * rotated, at dilation dilation/gcd(s, dilation). A 3x3 kernel at stride
 * 2 splits into 2x2, 2x1, 1x2 and 1x1 sub-kernels: a quarter of the FMAs
 * of a correlation with dy spread out by zeros. */
static void data_strided(const rt_conv_dw *g, int64_t q0, int64_t q1, const float *dy,
                         const float *w, float *dx, float *scratch)
{
    const int64_t s = g->stride, d = g->dilation, sd = d / gcd(s, d), step = s / gcd(s, d);
    const int64_t fg = g->f / g->c, taps = g->kh * g->kw, p = g->ho * g->wo;
    const int64_t pitch = ((g->h + s - 1) / s) * ((g->w + s - 1) / s);
    float *planes = scratch, *sub = scratch + source_floats(g);
    int64_t ky0[RT_CONV_DW_MAX_STRIDE], nky[RT_CONV_DW_MAX_STRIDE];
    int64_t kx0[RT_CONV_DW_MAX_STRIDE], nkx[RT_CONV_DW_MAX_STRIDE];
    for (int64_t a = 0; a < s; a++) {
        phase_taps(a, g->pad_top, g->kh, s, d, &ky0[a], &nky[a]);
        phase_taps(a, g->pad_left, g->kw, s, d, &kx0[a], &nkx[a]);
    }
    for (int64_t q = q0; q < q1; q++) {
        int64_t n = q / g->c, ch = q % g->c;
        const float *dyq = dy + (n * g->f + ch * fg) * p, *wq = w + ch * fg * taps;
        float *dxq = dx + q * g->h * g->w;
        for (int64_t a = 0; a < s && a < g->h; a++) {
            int64_t rows = (g->h - a + s - 1) / s;
            for (int64_t b = 0; b < s && b < g->w; b++) {
                int64_t cols = (g->w - b + s - 1) / s, kh = nky[a], kw = nkx[b];
                float *out = planes + b * pitch;
                if (kh == 0 || kw == 0) {
                    memset(out, 0, (size_t)(rows * cols) * sizeof *out);
                    continue;
                }
                /* the sub-kernel rotated: tap (j, i) is kernel tap
                 * (first + (count-1-j)*step) in each direction */
                for (int64_t f = 0; f < fg; f++)
                    for (int64_t j = 0; j < kh; j++)
                        for (int64_t i = 0; i < kw; i++)
                            sub[(f * kh + j) * kw + i] =
                                wq[f * taps + (ky0[a] + (kh - 1 - j) * step) * g->kw + kx0[b] +
                                   (kw - 1 - i) * step];
                int64_t top = (kh - 1) * sd - (a + g->pad_top - ky0[a] * d) / s;
                int64_t left = (kw - 1) * sd - (b + g->pad_left - kx0[b] * d) / s;
                dw_view v;
                view_init(&v, dyq, g->ho, g->wo, 1, g->wo, p, top, left, rows, cols, kh, kw, 1,
                          sd);
                correlate(&v, fg, sub, 0.0f, false, NULL, out);
            }
            merge_phases(planes, pitch, rows, g->w, s, a, dxq);
        }
    }
}

// dy (B,F,Ho,Wo), w (F,1,KH,KW), dx (B,C,H,W)
void DW_EXPORT(data)(const rt_conv_dw *g, int64_t q0, int64_t q1, const float *dy,
                            const float *w, float *dx, float *scratch)
{
    if (g->stride > 1) {
        data_strided(g, q0, q1, dy, w, dx, scratch);
        return;
    }
    const int64_t fg = g->f / g->c, taps = g->kh * g->kw, p = g->ho * g->wo;
    /* dx[iy] takes dy row iy + pad_top - ky*dilation: with the kernel
     * rotated by 180 degrees, row iy + ky'*dilation - ((kh-1)*dilation -
     * pad_top) */
    dw_view v;
    view_init(&v, NULL, g->ho, g->wo, 1, g->wo, p, (g->kh - 1) * g->dilation - g->pad_top,
              (g->kw - 1) * g->dilation - g->pad_left, g->h, g->w, g->kh, g->kw, 1, g->dilation);
    correlate_fn *fn = correlate_choose(&v);
    float *rotated = scratch;
    for (int64_t q = q0; q < q1; q++) {
        int64_t n = q / g->c, ch = q % g->c;
        const float *wq = w + ch * fg * taps;
        /* tap t of the rotated kernel is tap taps - 1 - t */
        for (int64_t f = 0; f < fg; f++)
            for (int64_t t = 0; t < taps; t++)
                rotated[f * taps + t] = wq[f * taps + taps - 1 - t];
        v.src = dy + (n * g->f + ch * fg) * p;
        fn(&v, fg, rotated, 0.0f, false, NULL, dx + q * g->h * g->w);
    }
}

// x (B,C,H,W), dy (B,F,Ho,Wo), sums (KH*KW + 1, RT_CONV_DW_SUM_LANES)
void DW_EXPORT(filter)(const rt_conv_dw *g, int64_t filter, int64_t batch, const float *x,
                              const float *dy, double *sums, float *scratch)
{
    dw_view v;
    x_view(g, &v);
    VEC *acc = (VEC *)(scratch + source_floats(g) + round16(g->f / g->c * g->kh * g->kw));
    filter_choose(&v)(g, &v, filter, batch, x, dy, sums, scratch, acc);
}
