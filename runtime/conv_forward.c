/* conv_forward.c — the forward pass of the GEMM convolutions (the
 * algorithms and their measurements are in conv.c's overview): im2col +
 * rt_sgemm (portable, pointwise), the micro-kernel on packed w (AVX2,
 * AVX-512), pixels as the GEMM's rows (AVX-512), samples split into pixel
 * ranges when the batch is smaller than the pool, and the max-pool fused
 * behind any of them. Depthwise layers go to conv_depthwise.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_internal.h"
#include "pool_internal.h"

/* ------------------------------------------------------------ forward */

/* out[i] = in[i] + b; out may be in. Loaded 8 at a time into a temporary
 * before storing, so gcc -O2 vectorizes it (SLP) even when the two alias:
 * the plain loop stayed scalar and took 40% of LeNet conv1's forward
 * (perf annotate: one movss per element). */
static inline void add_bias(const float *in, float b, int64_t n, float *out)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float v[8];
        for (int j = 0; j < 8; j++)
            v[j] = in[i + j] + b;
        for (int j = 0; j < 8; j++)
            out[i + j] = v[j];
    }
    for (; i < n; i++)
        out[i] = in[i] + b;
}


/* Bias and activation on output pixels [p0, p0 + n) of sample b, every
 * filter, while a task's outputs are still in cache. */
/* y[i] = relu(y[i] + b), 8 at a time through a temporary as add_bias. */
static inline void bias_relu(float *y, float b, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float v[8];
        for (int j = 0; j < 8; j++) {
            float s = y[i + j] + b;
            v[j] = 0.0f > s ? 0.0f : s;
        }
        for (int j = 0; j < 8; j++)
            y[i + j] = v[j];
    }
    for (; i < n; i++) {
        float s = y[i] + b;
        y[i] = 0.0f > s ? 0.0f : s;
    }
}

static void bias_act_columns(const forward_task *t, int64_t b, int64_t p0, int64_t n)
{
    if (!t->bias && t->act == RT_ACT_NONE && !t->preact)
        return;
    int64_t ys = t->cv->f * t->d.p;
    if (t->act == RT_ACT_RELU && !t->preact) {
        /* Bias and ReLU in one pass, in place: as separate passes (the
         * second a task dispatch per filter) they were 7% of LeNet's
         * batch-1 forward on two threads (perf). 0 > v ? 0 : v is the
         * ReLU of activations.h, and the vector max of the SIMD paths
         * (max(0, v) returns v for -0 and NaN too), so the bits do not
         * change. */
        for (int64_t f = 0; f < t->cv->f; f++)
            bias_relu(t->y + b * ys + f * t->d.p + p0, t->bias ? t->bias[f] : 0.0f, n);
        return;
    }
    for (int64_t f = 0; f < t->cv->f; f++) {
        float *y = t->y + b * ys + f * t->d.p + p0;
        float *pre = t->preact ? t->preact + b * ys + f * t->d.p + p0 : y;
        if (t->bias || pre != y)
            add_bias(y, t->bias ? t->bias[f] : 0.0f, n, pre);
        if (t->act != RT_ACT_NONE || pre != y)
            rt_act_forward(t->act, t->alpha, n, pre, y);
    }
}

// x (B,C,H,W), w (F,C/g,KH,KW), bias (F), y and preact (B,F,Ho,Wo)
static void forward_chunk(void *ctx, int64_t chunk)
{
    const forward_task *t = ctx;
    const rt_conv2d *cv = t->cv;
    const conv_dims *d = &t->d;
    int64_t ns, s0 = conv_chunk_samples(d, chunk, t->batch, &ns);
    if (d->pointwise)
        conv_pointwise_chunk(d, cv->groups, s0, ns, false, t->w, t->x, t->y);
    else
        for (int64_t g = 0; g < cv->groups; g++) {
            const float *x = t->x + s0 * d->xs + g * d->cg * d->hw;
            const float *w = t->w + g * d->fg * d->k;
            float *y = t->y + s0 * d->ys + g * d->fg * d->p;
            float *col = scratch_col(d->k * ns * d->p);
            rt_conv_im2col(cv, d, ns, x, d->xs, col);
            if (ns == 1) {
                rt_sgemm(false, false, (int)d->fg, (int)d->p, (int)d->k, 1.0f, w, (int)d->k, col,
                         (int)d->p, 0.0f, y, (int)d->p);
            } else {
                float *tmp = scratch_gather(d->fg * ns * d->p);
                rt_sgemm(false, false, (int)d->fg, (int)(ns * d->p), (int)d->k, 1.0f, w, (int)d->k,
                         col, (int)(ns * d->p), 0.0f, tmp, (int)(ns * d->p));
                rt_conv_scatter_samples(d->fg, d->p, ns, tmp, y, d->ys);
            }
        }
    /* Bias and activation while the outputs are still in cache. */
    if (!t->bias && t->act == RT_ACT_NONE && !t->preact)
        return;
    float *y = t->y + s0 * d->ys;
    float *pre = t->preact ? t->preact + s0 * d->ys : y;
    if (t->bias || pre != y)
        for (int64_t s = 0; s < ns; s++)
            for (int64_t f = 0; f < cv->f; f++)
                add_bias(y + s * d->ys + f * d->p, t->bias ? t->bias[f] : 0.0f, d->p,
                         pre + s * d->ys + f * d->p);
    if (t->act != RT_ACT_NONE || pre != y)
        rt_act_forward(t->act, t->alpha, ns * d->ys, pre, y);
}

/* Task `index` of a split forward: sample b, output pixels [p0, p1) (their
 * count returned) in whole units (below), so the bounds depend on the
 * shape alone. */
static int64_t part_columns(const forward_task *t, int64_t index, int64_t *b, int64_t *p0, int64_t *p1)
{
    /* Units are whole output rows (im2col copies whole rows fast), and with
     * a fused pool whole rows of pooling windows, so no window straddles two
     * tasks; at least PART_COLUMNS wide. */
    int64_t band = t->cv->wo * (t->pool ? t->pool->size : 1);
    int64_t unit = band * ((PART_COLUMNS + band - 1) / band);
    int64_t part = index % t->parts, units = (t->d.p + unit - 1) / unit;
    *b = index / t->parts;
    *p0 = part * units / t->parts * unit;
    *p1 = min_i64(t->d.p, (part + 1) * units / t->parts * unit);
    return *p1 - *p0;
}

/* forward_t_task's output rows [y0, y1) of part `part`: whole pooling
 * windows when a pool is fused. */
static void part_rows(const forward_task *t, int64_t part, int64_t *y0, int64_t *y1)
{
    int64_t band = t->pool ? t->pool->size : 1, units = t->cv->ho / band;
    *y0 = part * units / t->parts * band;
    *y1 = part == t->parts - 1 ? t->cv->ho : (part + 1) * units / t->parts * band;
}

/* One sample's output pixels [p0, p1) for every filter: how a batch too
 * small to keep the pool busy (batch-1 prediction) is split. LeNet conv2
 * at batch 1: 85 us on one thread, 65 us on two this way; im2col split by
 * channels followed by one rt_sgemm threaded over the pool took 71 us.
 * Both repeat the packing of w per thread, on a GEMM too small (N = 64)
 * to hide it; packing w once per call would need a GEMM driver of our own
 * (implicit GEMM), not written yet. Each output
 * goes through the same GEMM arithmetic as in forward_chunk (the parts are
 * wider than 16 columns, so rt_sgemm takes the same path), so the results
 * do not depend on the split. */
static void forward_part(void *ctx, int64_t index)
{
    const forward_task *t = ctx;
    const rt_conv2d *cv = t->cv;
    const conv_dims *d = &t->d;
    int64_t b, p0, p1, n = part_columns(t, index, &b, &p0, &p1);
    for (int64_t g = 0; g < cv->groups; g++) {
        const float *x = t->x + b * d->xs + g * d->cg * d->hw;
        const float *w = t->w + g * d->fg * d->k;
        float *y = t->y + b * d->ys + g * d->fg * d->p + p0;
        const float *col = x + p0;
        int64_t ldcol = d->p;
        if (!d->pointwise) {
            float *c = scratch_col(d->k * n);
            rt_conv_im2col_range(cv, d, x, p0, p1, c);
            col = c;
            ldcol = n;
        }
        rt_sgemm(false, false, (int)d->fg, (int)n, (int)d->k, 1.0f, w, (int)d->k, col,
                 (int)ldcol, 0.0f, y, (int)d->p);
    }
    bias_act_columns(t, b, p0, n);
}

/* ------------------------------------------- forward with a max-pool */

static void forward_t_task(void *ctx, int64_t index);

/* The samples [s0, s1) and output rows [r0, r1) that forward task `index`
 * computes. */
static void task_span(const forward_task *t, int64_t index, int64_t *s0, int64_t *s1, int64_t *r0,
                      int64_t *r1)
{
    if (t->inner == forward_chunk) {
        *s0 = index * t->d.per_gemm;
        *s1 = min_i64(t->batch, *s0 + t->d.per_gemm);
        *r0 = 0;
        *r1 = t->cv->ho;
        return;
    }
    *s0 = index / t->parts;
    *s1 = *s0 + 1;
    if (t->inner == forward_t_task) {
        part_rows(t, index % t->parts, r0, r1);
        return;
    }
    int64_t b, p0, p1;
    part_columns(t, index, &b, &p0, &p1);
    *r0 = (p0 + t->cv->wo - 1) / t->cv->wo;
    *r1 = p1 == t->d.p ? t->cv->ho : p1 / t->cv->wo;
}

/* Runs forward task `index`, then max-pools the rows it has just written,
 * while they are still in cache: the pooling windows inside them, which
 * part_columns and part_rows make all of the task's windows. */
static void pooled_task(void *ctx, int64_t index)
{
    const forward_task *t = ctx;
    t->inner(ctx, index);
    const rt_pool2d *pl = t->pool;
    int64_t s0, s1, r0, r1;
    task_span(t, index, &s0, &s1, &r0, &r1);
    int64_t oy0 = (r0 + pl->size - 1) / pl->size, oy1 = min_i64(pl->ho, r1 / pl->size);
    for (int64_t s = s0; s < s1; s++)
        for (int64_t f = 0; f < t->cv->f; f++) {
            int64_t plane = s * t->cv->f + f;
            rt_maxpool_plane_rows(pl, t->y + plane * t->d.p, oy0, oy1, t->pooled + plane * pl->ho * pl->wo);
        }
}

static void run_forward(forward_task *t, int64_t ntasks, rt_task_fn fn)
{
    if (!t->pool) {
        rt_run_tasks(ntasks, fn, t);
        return;
    }
    t->inner = fn;
    rt_run_tasks(ntasks, pooled_task, t);
}

/* ------------------------------------------------ forward, packed w */

/* The SIMD paths run the forward pass on rt_sgemm's micro-kernels
 * directly: w is packed into MR-row micro-panels once per call (rt_sgemm
 * packed it again for every sample's GEMM: 64 x 800 floats for LeNet
 * conv2's 64 x 64 outputs), and the kernel reads the im2col matrix in
 * place (rt_gemm_kernel_*_direct), so nothing else is copied. K is cut into
 * slices as rt_sgemm cuts it, deepest 384, so a w micro-panel stays in L1.
 * One task per sample, or per range of one sample's output pixels when the
 * batch is smaller than the pool; every output goes through the same FMA
 * chain however the work is split, so results do not depend on the thread
 * count. Measured on LeNet conv2, one thread: batch 64 forward 78 -> 87
 * GFLOP/s; batch 1, 85 us on one thread, 65 -> 55 us on two. */
/* Output columns (samples x pixels) up to which the AVX-512 forward pass
 * reads w in place (rt_gemm_kernel_avx512_direct_at, 12 filter rows as 12
 * streams) instead of packing it: packing reads and writes all of w, which
 * a short product does not amortise. LeNet conv2 at batch 1 (valid, 64
 * pixels): the pack was 7.5% of the whole prediction (perf). Same FMA
 * chain per output, so the same bits as the packed and transposed paths. */
#define INPLACE_MAX_COLUMNS 128
/* Floats of one im2col block (512 KiB, rt_sgemm's B block). */
#define BLOCK_FLOATS (128 * 1024)

/* w (F,K) -> per group, per K slice, per micro-panel of MR filters:
 * kc x MR, k-major, zero rows past the group's filters. Task `panel` packs
 * micro-panel panel % mpanels of group panel / mpanels, every slice. */
static void pack_weights_task(void *ctx, int64_t panel)
{
    const forward_task *t = ctx;
    const conv_dims *d = &t->d;
    int64_t g = panel / t->mpanels, i = panel % t->mpanels;
    int64_t f0 = i * t->mr;
    int rows = (int)min_i64(t->mr, d->fg - f0);
    float *dst = (float *)t->wpack + g * t->mpanels * t->mr * d->k;
    for (int64_t k0 = 0; k0 < d->k; k0 += t->kc_step) {
        int64_t kc = min_i64(t->kc_step, d->k - k0);
        rt_gemm_pack_transposed_avx2(t->w + (g * d->fg + f0) * d->k + k0, d->k, rows, kc, t->mr,
                                     dst + t->mpanels * k0 * t->mr + i * kc * t->mr);
    }
}

/* Packs every group's w panels with `pack` (one task a panel). Packing w
 * is a tenth of a batch-1 forward pass: shared out when the sample is,
 * inline otherwise. */
static void pack_panels(forward_task *t, rt_task_fn pack)
{
    int64_t panels = t->cv->groups * t->mpanels;
    if (t->parts > 1)
        rt_run_tasks(panels, pack, t);
    else
        for (int64_t i = 0; i < panels; i++)
            pack(t, i);
}

static void forward_packed_task(void *ctx, int64_t index)
{
    const forward_task *t = ctx;
    const rt_conv2d *cv = t->cv;
    const conv_dims *d = &t->d;
    int64_t b, p0, p1, n = part_columns(t, index, &b, &p0, &p1);
    /* Output columns per im2col block: the block stays in L2 while every
     * w panel sweeps it. Whole output rows, as the parts are. */
    int64_t block = max_i64(1, BLOCK_FLOATS / d->k / cv->wo) * cv->wo;
    /* The kernel loads whole NR-wide rows: the last panel reads past the
     * matrix into a zeroed pad. */
    float *col = scratch_col(d->k * min_i64(block, n) + t->nr);
    const float *wg = t->wpack;
    for (int64_t g = 0; g < cv->groups; g++, wg += t->mpanels * t->mr * d->k) {
        const float *x = t->x + b * d->xs + g * d->cg * d->hw;
        for (int64_t q0 = p0; q0 < p1; q0 += block) {
            int64_t q1 = min_i64(p1, q0 + block), m = q1 - q0;
            float *y = t->y + b * d->ys + g * d->fg * d->p + q0;
            if (m == d->p)
                rt_conv_im2col(cv, d, 1, x, d->xs, col);
            else
                rt_conv_im2col_range(cv, d, x, q0, q1, col);
            memset(col + d->k * m, 0, (size_t)t->nr * sizeof *col);
            for (int64_t j0 = 0; j0 < m; j0 += t->nr) {
                int nr = (int)min_i64(t->nr, m - j0);
                const float *wslice = wg;
                for (int64_t k0 = 0; k0 < d->k; k0 += t->kc_step) {
                    int64_t kc = min_i64(t->kc_step, d->k - k0);
                    float beta = k0 == 0 ? 0.0f : 1.0f;
                    for (int64_t i = 0; i < t->mpanels; i++) {
                        int mr = (int)min_i64(t->mr, d->fg - i * t->mr);
                        float *yt = y + i * t->mr * d->p + j0;
                        if (t->wpack)
                            t->kernel(kc, wslice + i * kc * t->mr, col + k0 * m + j0, m, yt, d->p, mr,
                                      nr, 1.0f, beta);
                        else
                            rt_gemm_kernel_avx512_direct_at(kc, t->w + (g * d->fg + i * t->mr) * d->k + k0,
                                                            d->k, col + k0 * m + j0, m, yt, d->p, mr, nr,
                                                            1.0f, beta);
                    }
                    wslice += t->mpanels * kc * t->mr;
                }
            }
        }
    }
    bias_act_columns(t, b, p0, n);
}

static void forward_packed(forward_task *t, rt_isa isa, int64_t batch)
{
    const conv_dims *d = &t->d;
    t->mr = isa == RT_ISA_AVX512 ? RT_GEMM_MR_AVX512 : RT_GEMM_MR_AVX2;
    t->nr = isa == RT_ISA_AVX512 ? RT_GEMM_NR_AVX512 : RT_GEMM_NR_AVX2;
    t->kernel = isa == RT_ISA_AVX512 ? rt_gemm_kernel_avx512_direct : rt_gemm_kernel_avx2_direct;
    int64_t slices = (d->k + PACK_KC_MAX - 1) / PACK_KC_MAX;
    t->kc_step = (d->k + slices - 1) / slices;
    t->mpanels = (d->fg + t->mr - 1) / t->mr;
    int threads = rt_threads_count();
    int64_t units = d->p / PART_COLUMNS;
    t->parts = 1;
    if (batch < threads && units >= 2 && d->fg * d->k * d->p >= SPLIT_MIN_MACS)
        t->parts = min_i64(threads, units);
    if (isa == RT_ISA_AVX512 && batch * d->p <= INPLACE_MAX_COLUMNS) {
        /* few columns: the micro-kernel reads w where it lies */
        t->wpack = NULL;
        run_forward(t, batch * t->parts, forward_packed_task);
        return;
    }
    size_t need = (size_t)(t->cv->groups * t->mpanels * t->mr * d->k);
    t->wpack = rt_thread_scratch(RT_SCRATCH_CONV_WPACK, need * sizeof(float));
    pack_panels(t, pack_weights_task);
    run_forward(t, batch * t->parts, forward_packed_task);
}

/* ------------------------------------- forward, pixels as GEMM rows */

/* The AVX-512 forward pass of layers whose filters fill whole 32-wide
 * tiles (fg % 32 == 0) and whose depth amortises a transposed store
 * (K >= TRANSPOSED_MIN_DEPTH) computes y^T (P,Fg) = col^T (P,K) w^T (K,Fg):
 * pixels are the rows of the micro-tile and filters its columns. LeNet
 * conv2 has P = 100 pixels: as GEMM columns they took four 32-wide tiles,
 * 28% of the FMAs on padding, and as rows they take eight 12-row tiles and
 * one of 4 rows that costs its own rows only. The kernel broadcasts its A
 * values, so it reads them from im2col in place (rt_gemm_kernel_avx512_
 * direct_ab); w is packed once per call into 32-filter micro-panels. The
 * product lands in a per-thread (P,Fg) tile that is transposed into y with
 * the bias and the activation. Every output goes through the FMA chain of
 * forward_packed (same K slices, alpha, beta), so the bits are the same.
 * LeNet conv2 (32x14x14 -> 64x10x10, batch 64, one thread, im2col
 * included): 72-74 -> 83-88 GFLOP/s. Not below K = 64: the transposed
 * store costs as much as the product there (LeNet conv1, K = 25:
 * 57 -> 33 GFLOP/s). TRANSPOSED_MIN_DEPTH is defined with the other limits. */

/* Task `panel`: micro-panel panel % mpanels of group panel / mpanels,
 * every K slice: kc x NR, k-major, at wpack + group * Fg*K + panel*NR*K +
 * k0*NR. */
static void pack_weights_t_task(void *ctx, int64_t panel)
{
    const forward_task *t = ctx;
    const conv_dims *d = &t->d;
    int64_t g = panel / t->mpanels, j = panel % t->mpanels;
    const float *src = t->w + (g * d->fg + j * t->nr) * d->k;
    float *dst = (float *)t->wpack + g * d->fg * d->k + j * t->nr * d->k;
    for (int64_t k0 = 0; k0 < d->k; k0 += t->kc_step) {
        int64_t kc = min_i64(t->kc_step, d->k - k0);
        rt_gemm_pack_transposed_avx2(src + k0, d->k, t->nr, kc, t->nr, dst + k0 * t->nr);
    }
}

static void forward_t_task(void *ctx, int64_t index)
{
    const forward_task *t = ctx;
    const rt_conv2d *cv = t->cv;
    const conv_dims *d = &t->d;
    const int64_t mr = RT_GEMM_MR_AVX512, wo = cv->wo;
    int64_t b = index / t->parts, part = index % t->parts;
    /* Parts and blocks are whole output rows, so im2col copies whole rows
     * (im2col_range's per-row bounds took 16% of a batch-1 forward pass on
     * two threads); a tile may start anywhere, the arithmetic of each
     * output does not depend on it. */
    int64_t y0, y1;
    part_rows(t, part, &y0, &y1);
    /* Output rows per im2col block, so the block stays in L2. */
    int64_t block = max_i64(1, BLOCK_FLOATS / d->k / wo);
    int64_t m_max = min_i64(block, y1 - y0) * wo;
    float *col = scratch_col(d->k * m_max);
    float *tile = scratch_gather(m_max * d->fg);
    for (int64_t g = 0; g < cv->groups; g++) {
        const float *x = t->x + b * d->xs + g * d->cg * d->hw;
        const float *wg = t->wpack + g * d->fg * d->k;
        for (int64_t ya = y0; ya < y1; ya += block) {
            int64_t yb = min_i64(y1, ya + block), q0 = ya * wo, m = (yb - ya) * wo;
            rt_conv_im2col_rows(cv, d, 1, x, d->xs, ya, yb, col);
            for (int64_t i0 = 0; i0 < m; i0 += mr) {
                int rows = (int)min_i64(mr, m - i0);
                for (int64_t k0 = 0; k0 < d->k; k0 += t->kc_step) {
                    int64_t kc = min_i64(t->kc_step, d->k - k0);
                    float beta = k0 == 0 ? 0.0f : 1.0f;
                    for (int64_t j0 = 0; j0 < d->fg; j0 += t->nr)
                        rt_gemm_kernel_avx512_direct_ab(kc, col + k0 * m + i0, m,
                                                        wg + j0 * d->k + k0 * t->nr, t->nr,
                                                        tile + i0 * d->fg + j0, d->fg, rows,
                                                        (int)t->nr, 1.0f, beta);
                }
            }
            /* tile (m,Fg) -> y (Fg, pixels q0..q1) with bias, preact, act */
            for (int64_t f = 0; f < d->fg; f++) {
                int64_t ff = g * d->fg + f;
                float *y = t->y + b * d->ys + ff * d->p + q0;
                float *pre = t->preact ? t->preact + b * d->ys + ff * d->p + q0 : y;
                float bias = t->bias ? t->bias[ff] : 0.0f;
                for (int64_t i = 0; i < m; i++)
                    pre[i] = tile[i * d->fg + f] + bias;
                if (t->act != RT_ACT_NONE || pre != y)
                    rt_act_forward(t->act, t->alpha, m, pre, y);
            }
        }
    }
}

static void forward_transposed(forward_task *t, int64_t batch)
{
    const conv_dims *d = &t->d;
    t->nr = RT_GEMM_NR_AVX512;
    int64_t slices = (d->k + PACK_KC_MAX - 1) / PACK_KC_MAX;
    t->kc_step = (d->k + slices - 1) / slices;
    t->mpanels = d->fg / t->nr;
    size_t need = (size_t)(t->cv->f * d->k);
    t->wpack = rt_thread_scratch(RT_SCRATCH_CONV_WPACK, need * sizeof(float));
    int threads = rt_threads_count();
    t->parts = 1;
    int64_t bands = t->pool ? t->cv->ho / t->pool->size : t->cv->ho;
    if (batch < threads && bands >= 2 && d->fg * d->k * d->p >= SPLIT_MIN_MACS)
        t->parts = min_i64(threads, bands);
    pack_panels(t, pack_weights_t_task);
    run_forward(t, batch * t->parts, forward_t_task);
}

/* ------------------------------------------ forward, direct (SIMD) */

/* A sample too small to fill the pool with im2col blocks (batch-1
 * prediction) runs as register tiles (rt_conv_avx512_direct_tile, 12
 * filters x 4 output rows of 8; rt_conv_avx2_direct_tile, 6 filters x 2
 * rows of 8), which read x and w where they lie: no im2col (17% of
 * LeNet's batch-1 prediction on one thread, perf), no packing, and the
 * bias, ReLU and max-pool applied in registers (separate passes over y:
 * bias_act_columns 5%, the pool 5%). Same FMA chains and epilogue
 * arithmetic as forward_packed, so the same bits. LeNet batch-1 on
 * AVX-512, paired runs: 56 -> 45 us on one thread, 37 -> 25 on two. For
 * stride-1, unpadded, ungrouped layers whose output rows are whole
 * 8-column blocks and whose row count is even, with no pool or a 2x2/2
 * one. Up to DIRECT_MAX_COLUMNS output pixels per call: LeNet conv2 at
 * batch 2, 4, 8 and 16 (one thread, alternating runs) took 60, 125, 247
 * and 514 us this way against 78-85, 170-176, 350 and 699 through the
 * transposed path. Larger batches (training) keep the packed paths, whose
 * speed the training step was tuned and measured on; whether the tiles
 * pay there too is not measured yet. */
#define DIRECT_MAX_COLUMNS 1024
/* Output columns per pixel tile (a 256-bit vector's worth). */
#define DIRECT_COLS 8

static bool direct_fits(const forward_task *t, rt_isa isa)
{
    const rt_conv2d *cv = t->cv;
    if (isa == RT_ISA_PORTABLE || t->d.depthwise || t->preact || cv->groups != 1 || cv->stride != 1)
        return false;
    if (t->act != RT_ACT_NONE && t->act != RT_ACT_RELU)
        return false;
    if (cv->pad_top || cv->pad_left || cv->pad_bottom || cv->pad_right)
        return false;
    if (cv->wo % DIRECT_COLS || cv->ho % 2 || t->batch * t->d.p > DIRECT_MAX_COLUMNS)
        return false;
    if (t->pool && (t->pool->size != 2 || t->pool->ho * 2 != cv->ho || t->pool->wo * 2 != cv->wo))
        return false;
    return t->d.k <= INT32_MAX && cv->c * t->d.hw <= INT32_MAX;
}

/* Task `index`: sample index / (fparts * parts), filter range and pixel
 * tile range by the rest. Filters go in panels of at most t->mr, as even
 * as they can be (LeNet conv2's 64 = 11+11+11+11+10+10 keeps 20 or more
 * accumulators in every AVX-512 panel; 12+12+12+12+12+4 left the last
 * panel on 8 FMA chains, too few to hide the latency); each panel sweeps
 * the task's pixel tiles while its filters stay in L1. */
static void forward_direct_task(void *ctx, int64_t index)
{
    const forward_task *t = ctx;
    const rt_conv2d *cv = t->cv;
    const conv_dims *d = &t->d;
    int64_t per = t->fparts * t->parts, b = index / per, fp = index % per / t->parts,
            pp = index % t->parts;
    int64_t f_lo = fp * d->fg / t->fparts, f_hi = (fp + 1) * d->fg / t->fparts;
    int64_t bands = (cv->ho + t->tile_rows - 1) / t->tile_rows, octs = cv->wo / DIRECT_COLS;
    int64_t tiles = bands * octs, t_lo = pp * tiles / t->parts, t_hi = (pp + 1) * tiles / t->parts;
    int64_t kc_slices = (d->k + PACK_KC_MAX - 1) / PACK_KC_MAX;
    rt_conv_direct g = { .k = d->k, .kc_step = (d->k + kc_slices - 1) / kc_slices, .taps = t->taps,
                         .x = t->x + b * d->xs, .w = cv->w, .wt = t->w, .bias = t->bias,
                         .relu = t->act == RT_ACT_RELU, .y = t->y ? t->y + b * d->ys : NULL,
                         .p = d->p, .wo = cv->wo,
                         .pooled = t->pool ? t->pooled + b * cv->f * (d->p / 4) : NULL };
    int64_t n = f_hi - f_lo, panels = (n + t->mr - 1) / t->mr;
    for (int64_t i = 0, f = f_lo; i < panels; i++) {
        int rows = (int)(n / panels + (i < n % panels));
        for (int64_t tile = t_lo; tile < t_hi; tile++) {
            int64_t oy0 = tile / octs * t->tile_rows, ox0 = tile % octs * DIRECT_COLS;
            int pairs = (int)min_i64(t->tile_rows, cv->ho - oy0) / 2;
            t->tile(&g, f, rows, oy0, ox0, pairs);
        }
        f += rows;
    }
}

static void forward_direct(forward_task *t, rt_isa isa)
{
    const rt_conv2d *cv = t->cv;
    const conv_dims *d = &t->d;
    t->tile = isa == RT_ISA_AVX512 ? rt_conv_avx512_direct_tile : rt_conv_avx2_direct_tile;
    t->mr = isa == RT_ISA_AVX512 ? 12 : 6;
    t->tile_rows = isa == RT_ISA_AVX512 ? 4 : 2;
    int32_t *taps = rt_thread_scratch(RT_SCRATCH_CONV_WPACK, (size_t)d->k * sizeof *taps);
    for (int64_t ch = 0, k = 0; ch < cv->c; ch++)
        for (int64_t ky = 0; ky < cv->kh; ky++)
            for (int64_t kx = 0; kx < cv->kw; kx++, k++)
                taps[k] = (int32_t)((ch * cv->h + ky * cv->dilation) * cv->w + kx * cv->dilation);
    t->taps = taps;
    /* One sample over several threads: by filters when it has fewer pixel
     * tiles than threads (LeNet conv2 on AVX-512: one tile column of 8x8
     * pixels; each thread then reads half of w), by pixel tiles otherwise. */
    int threads = rt_threads_count();
    int64_t tiles = (cv->ho + t->tile_rows - 1) / t->tile_rows * (cv->wo / DIRECT_COLS);
    t->parts = t->fparts = 1;
    if (t->batch < threads && d->fg * d->k * d->p >= SPLIT_MIN_MACS) {
        if (tiles >= threads)
            t->parts = threads;
        else
            t->fparts = min_i64(threads, (d->fg + 7) / 8);
    }
    rt_run_tasks(t->batch * t->fparts * t->parts, forward_direct_task, t);
}

static void conv_forward(forward_task t)
{
    const rt_conv2d *cv = t.cv;
    int64_t batch = t.batch;
    if (t.d.depthwise) {
        if (!t.y)
            t.y = rt_thread_scratch(RT_SCRATCH_CONV_Y, (size_t)(batch * cv->f * t.d.p) * sizeof(float));
        t.isa = rt_isa_current();
        int64_t per = rt_conv_planes_per_task(&t.d);
        rt_run_tasks((batch * cv->f + per - 1) / per, rt_conv_depthwise_forward_task, &t);
        if (t.pool)
            rt_maxpool_forward(t.pool, batch, t.y, t.pooled);
        return;
    }
    rt_isa isa = rt_isa_current();
    if (direct_fits(&t, isa)) {
        forward_direct(&t, isa);
        return;
    }
    if (!t.y) /* pooled only: the other paths pool from y */
        t.y = rt_thread_scratch(RT_SCRATCH_CONV_Y, (size_t)(batch * cv->f * t.d.p) * sizeof(float));
    if (isa == RT_ISA_AVX512 && t.d.pixel_rows && batch * t.d.p > INPLACE_MAX_COLUMNS) {
        forward_transposed(&t, batch);
        return;
    }
    if (isa != RT_ISA_PORTABLE && !t.d.pointwise) {
        forward_packed(&t, isa, batch);
        return;
    }
    int64_t chunks = (batch + t.d.per_gemm - 1) / t.d.per_gemm;
    int threads = rt_threads_count();
    int64_t units = t.d.p / PART_COLUMNS;
    if (chunks < threads && units >= 2 && t.d.fg * t.d.k * t.d.p >= SPLIT_MIN_MACS) {
        t.parts = min_i64(threads, units);
        run_forward(&t, batch * t.parts, forward_part);
        return;
    }
    run_forward(&t, chunks, forward_chunk);
}

void rt_conv2d_forward(const rt_conv2d *cv, int64_t batch, const float *x, const float *w,
                       const float *bias, rt_act act, float alpha, float *preact, float *y)
{
    conv_forward((forward_task){ .cv = cv, .d = rt_conv_check_dims(cv, "rt_conv2d_forward"), .batch = batch,
                                 .x = x, .w = w, .bias = bias, .act = act, .alpha = alpha,
                                 .preact = preact, .y = y });
}

void rt_conv2d_forward_maxpool(const rt_conv2d *cv, const rt_pool2d *pool, int64_t batch,
                               const float *x, const float *w, const float *bias, rt_act act,
                               float alpha, float *preact, float *y, float *pooled)
{
    rt_maxpool_check(pool, "rt_conv2d_forward_maxpool");
    if (pool->c != cv->f || pool->h != cv->ho || pool->w != cv->wo || pool->pad != 0 ||
        pool->stride != pool->size) {
        fprintf(stderr,
                "%s:%d: netrt: rt_conv2d_forward_maxpool: the pool (c=%lld h=%lld w=%lld size=%lld "
                "stride=%lld pad=%lld) must cover the conv's %lldx%lldx%lld output with disjoint, "
                "unpadded windows\n",
                __FILE__, __LINE__, (long long)pool->c, (long long)pool->h, (long long)pool->w,
                (long long)pool->size, (long long)pool->stride, (long long)pool->pad,
                (long long)cv->f, (long long)cv->ho, (long long)cv->wo);
        abort();
    }
    conv_forward((forward_task){ .cv = cv, .d = rt_conv_check_dims(cv, "rt_conv2d_forward_maxpool"),
                                 .batch = batch, .x = x, .w = w, .bias = bias, .act = act,
                                 .alpha = alpha, .preact = preact, .y = y, .pool = pool,
                                 .pooled = pooled });
}
