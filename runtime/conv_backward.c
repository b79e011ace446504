/* conv_backward.c — the data and filter gradients of the GEMM
 * convolutions (algorithms and measurements: conv.c's overview). The data
 * gradient is a GEMM into the column matrix then col2im; the filter
 * gradient sums per-chunk partials in chunk order, so its bits do not
 * depend on the thread count. Depthwise layers go to conv_depthwise.c.
 */
#include <string.h>

#include "conv_internal.h"

/* ------------------------------------------------------ backward data */


/* dcol (K, ns*P) = w^T (K,Fg) dy (Fg, ns*P), returned in this thread's
 * column scratch, on the AVX-512
 * micro-kernel with neither operand packed: the kernel broadcasts its A
 * values, w^T's column panel is w's rows read in place (lda = K), and dy,
 * gathered with a zero pad, is read in place as B. rt_sgemm packed w^T for
 * every group of samples and copied dy into panels (measurements at
 * rt_conv2d_backward_data). Each output is the same FMA chain over
 * the filters as in rt_sgemm (slices of at most 384, alpha 1). */
static float *data_direct(const conv_dims *d, int64_t ns, const float *dy, int64_t ys,
                          const float *w)
{
    const int64_t mr = RT_GEMM_MR_AVX512, nr = RT_GEMM_NR_AVX512, n = ns * d->p;
    float *dyg = scratch_gather(d->fg * n + nr);
    rt_conv_gather_samples(d->fg, d->p, ns, dy, ys, dyg);
    memset(dyg + d->fg * n, 0, (size_t)nr * sizeof *dyg); /* the last tile reads past */
    float *col = scratch_col(d->k * n);
    int64_t slices = (d->fg + PACK_KC_MAX - 1) / PACK_KC_MAX;
    int64_t kc_step = (d->fg + slices - 1) / slices;
    for (int64_t j0 = 0; j0 < n; j0 += nr) {
        int cols = (int)min_i64(nr, n - j0);
        for (int64_t f0 = 0; f0 < d->fg; f0 += kc_step) {
            int64_t kc = min_i64(kc_step, d->fg - f0);
            float beta = f0 == 0 ? 0.0f : 1.0f;
            for (int64_t i0 = 0; i0 < d->k; i0 += mr)
                rt_gemm_kernel_avx512_direct_ab(kc, w + f0 * d->k + i0, d->k,
                                                dyg + f0 * n + j0, n, col + i0 * n + j0, n,
                                                (int)min_i64(mr, d->k - i0), cols, 1.0f, beta);
        }
    }
    return col;
}

// dy (B,F,Ho,Wo), w (F,C/g,KH,KW), dx (B,C,H,W)
static void data_chunk(void *ctx, int64_t chunk)
{
    const data_task *t = ctx;
    const rt_conv2d *cv = t->cv;
    const conv_dims *d = &t->d;
    int64_t ns, s0 = conv_chunk_samples(d, chunk, t->batch, &ns);
    if (d->pointwise) {
        conv_pointwise_chunk(d, cv->groups, s0, ns, true, t->w, t->dy, t->dx);
        return;
    }
    memset(t->dx + s0 * d->xs, 0, (size_t)(ns * d->xs) * sizeof(float));
    for (int64_t g = 0; g < cv->groups; g++) {
        const float *dy = t->dy + s0 * d->ys + g * d->fg * d->p;
        const float *w = t->w + g * d->fg * d->k;
        float *dx = t->dx + s0 * d->xs + g * d->cg * d->hw;
        if (t->isa == RT_ISA_AVX512) {
            rt_conv_col2im(cv, d, ns, data_direct(d, ns, dy, d->ys, w), dx, d->xs);
            continue;
        }
        const float *dyg = dy;
        if (ns > 1) {
            float *tmp = scratch_gather(d->fg * ns * d->p);
            rt_conv_gather_samples(d->fg, d->p, ns, dy, d->ys, tmp);
            dyg = tmp;
        }
        float *col = scratch_col(d->k * ns * d->p);
        rt_sgemm(true, false, (int)d->k, (int)(ns * d->p), (int)d->fg, 1.0f, w, (int)d->k, dyg,
                 (int)(ns * d->p), 0.0f, col, (int)(ns * d->p));
        rt_conv_col2im(cv, d, ns, col, dx, d->xs);
    }
}

void rt_conv2d_backward_data(const rt_conv2d *cv, int64_t batch, const float *dy,
                             const float *w, float *dx)
{
    data_task t = { .cv = cv, .d = rt_conv_check_dims(cv, "rt_conv2d_backward_data"), .batch = batch,
                    .isa = rt_isa_current(), .dy = dy, .w = w, .dx = dx };
    if (t.isa == RT_ISA_AVX512 && !t.d.pointwise && !t.d.depthwise) {
        /* data_direct: wider GEMMs (no packing to amortise, fewer columns
         * lost to the last 32-wide tile), a power of two of samples so
         * power-of-two batches split evenly over the pool. LeNet conv2
         * (P = 100, batch 64, one thread) with 1, 2, 4, 8, 16 samples:
         * 57-70, 79, 84-85, 84-88, 84-86 GFLOP/s (rt_sgemm, 2: 70-73). */
        int64_t ns = 1;
        while (2 * ns * t.d.p <= DATA_COLUMNS && 2 * ns * t.d.k * t.d.p <= 2 * COLUMN_BUFFER_FLOATS)
            ns *= 2;
        t.d.per_gemm = ns;
    }
    if (t.d.depthwise) {
        int64_t per = max_i64(1, 16384 / max_i64(1, t.d.hw));
        rt_run_tasks((batch * cv->c + per - 1) / per, rt_conv_depthwise_data_task, &t);
        return;
    }
    if (t.d.pointwise) {
        /* Each group's w_g^T (Cg, Fg) once for all the samples' products,
         * which then read it in place along its rows. Read in place down
         * w_g's columns (A transposed, once per sample) the data gradient
         * of resnet 256x56x56 1x1x64 (bench_rt_conv) ran at 0.965 of
         * 504e0d2's on one thread (10 alternating pairs, 0.90-1.02),
         * which packed it per product; transposed here: 1.001
         * (0.97-1.02), two threads 0.989. Same sums in the same order. */
        float *wt = rt_thread_scratch(RT_SCRATCH_CONV_WPACK, (size_t)(cv->f * t.d.cg) * sizeof(float));
        for (int64_t g = 0; g < cv->groups; g++)
            for (int64_t f = 0; f < t.d.fg; f++)
                for (int64_t c = 0; c < t.d.cg; c++)
                    wt[g * t.d.fg * t.d.cg + c * t.d.fg + f] = w[(g * t.d.fg + f) * t.d.k + c];
        t.w = wt;
    }
    rt_run_tasks((batch + t.d.per_gemm - 1) / t.d.per_gemm, data_chunk, &t);
}

/* ---------------------------------------------------- backward filter */


/* dw^T (K,Fg) (+)= col (K,L) dy^T (L,Fg) on the AVX-512 micro-kernel with
 * both operands in place: the kernel broadcasts from 12 im2col rows
 * (rt_gemm_kernel_avx512_direct_at) and reads dy^T's rows as B. rt_sgemm
 * had to pack col^T, transposing the largest operand. dwt is this chunk's
 * partial gradient, kept transposed until filter_reduce. LeNet conv2
 * (batch 64, one thread): 78-79 -> 82-83 GFLOP/s; 1, 2, 4 or 8 samples
 * per chunk instead of 3 were within the noise. */
static void filter_direct(const conv_dims *d, int64_t l, const float *dyt, const float *col,
                          float *dwt, bool accumulate)
{
    const int64_t mr = RT_GEMM_MR_AVX512, nr = RT_GEMM_NR_AVX512;
    const int64_t ld = (d->fg + 31) / 32 * 32;
    int64_t slices = (l + PACK_KC_MAX - 1) / PACK_KC_MAX;
    int64_t kc_step = (l + slices - 1) / slices;
    for (int64_t i0 = 0; i0 < d->k; i0 += mr) {
        int rows = (int)min_i64(mr, d->k - i0);
        for (int64_t l0 = 0; l0 < l; l0 += kc_step) {
            int64_t kc = min_i64(kc_step, l - l0);
            float beta = accumulate || l0 > 0 ? 1.0f : 0.0f;
            for (int64_t j0 = 0; j0 < d->fg; j0 += nr)
                rt_gemm_kernel_avx512_direct_at(kc, col + i0 * l + l0, l, dyt + l0 * ld + j0, ld,
                                                dwt + i0 * d->fg + j0, d->fg, rows,
                                                (int)min_i64(nr, d->fg - j0), 1.0f, beta);
        }
    }
}

/* Sum of a row of n floats. One double accumulator was a chain of
 * dependent adds that took a third of LeNet conv1's filter gradient
 * (perf); 16 float lanes, added in double at the end, vectorize and keep
 * 24 bits per lane over rows of up to a few thousand pixels. */
double rt_conv_row_sum(const float *row, int64_t n)
{
    enum { LANES = 16 };
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++)
            acc[j] += row[i + j];
    double sum = 0.0;
    for (; i < n; i++)
        sum += row[i];
    for (int j = 0; j < LANES; j++)
        sum += acc[j];
    return sum;
}

// x (B,C,H,W), dy (B,F,Ho,Wo), partial (F,C/g,KH,KW) of this chunk
static void filter_chunk(void *ctx, int64_t chunk)
{
    const filter_task *t = ctx;
    const rt_conv2d *cv = t->cv;
    const conv_dims *d = &t->d;
    int64_t b0 = chunk * t->batch / t->chunks, b1 = (chunk + 1) * t->batch / t->chunks;
    float *dw = t->partial + chunk * t->n;
    for (int64_t s0 = b0; s0 < b1; s0 += d->per_filter_gemm) {
        int64_t ns = min_i64(d->per_filter_gemm, b1 - s0);
        float beta = s0 == b0 ? 0.0f : 1.0f;
        for (int64_t g = 0; g < cv->groups; g++) {
            const float *x = t->x + s0 * d->xs + g * d->cg * d->hw;
            const float *dy = t->dy + s0 * d->ys + g * d->fg * d->p;
            float *dwg = dw + g * d->fg * d->k;
            const float *col = x, *dyg = dy;
            if (!d->pointwise || ns > 1) {
                float *c = scratch_col(d->k * ns * d->p);
                rt_conv_im2col(cv, d, ns, x, d->xs, c);
                col = c;
            }
            if (ns > 1 && !t->transposed) {
                float *tmp = scratch_gather(d->fg * ns * d->p);
                rt_conv_gather_samples(d->fg, d->p, ns, dy, d->ys, tmp);
                dyg = tmp;
            }
            if (t->transposed) {
                /* dy^T (ns*P, Fg) for filter_direct's B, columns padded to 32 */
                int64_t l = ns * d->p, ld = (d->fg + 31) / 32 * 32;
                float *tmp = scratch_gather(l * ld);
                for (int64_t s = 0; s < ns; s++)
                    for (int64_t p = 0; p < d->p; p++) {
                        float *row = tmp + (s * d->p + p) * ld;
                        for (int64_t f = 0; f < d->fg; f++)
                            row[f] = dy[s * d->ys + f * d->p + p];
                        for (int64_t f = d->fg; f < ld; f++)
                            row[f] = 0.0f;
                    }
                dyg = tmp;
            }
            /* dw (Fg,K) (+)= dy (Fg, ns*P) col^T (ns*P, K) */
            if (t->transposed) {
                filter_direct(d, ns * d->p, dyg, col, dwg, s0 != b0);
                continue;
            }
            if (t->isa == RT_ISA_AVX512 && ns * d->p >= DOT_MIN_DEPTH)
                rt_conv_avx512_dot_nt(d->fg, d->k, ns * d->p, dyg, ns * d->p, col, ns * d->p,
                                      dwg, d->k, s0 != b0);
            else
                rt_sgemm(false, true, (int)d->fg, (int)d->k, (int)(ns * d->p), 1.0f, dyg,
                     (int)(ns * d->p), col, (int)(ns * d->p), beta, dwg, (int)d->k);
        }
    }
    if (t->partial_db) {
        double *db = t->partial_db + chunk * cv->f;
        for (int64_t f = 0; f < cv->f; f++) {
            double sum = 0.0;
            for (int64_t b = b0; b < b1; b++)
                sum += rt_conv_row_sum(t->dy + b * d->ys + f * d->p, d->p);
            db[f] = sum;
        }
    }
}

/* dw[i] (+)= sum over chunks of partial[chunk][i], in chunk order. */
static void filter_reduce(void *ctx, int64_t part)
{
    const filter_task *t = ctx;
    int64_t i0 = part * REDUCE_CHUNK, i1 = min_i64(t->n, i0 + REDUCE_CHUNK);
    const conv_dims *d = &t->d;
    /* transposed: i = (g*Fg + f)*K + k reads g*Fg*K + k*Fg + f */
    int64_t f = i0 / d->k % d->fg, k = i0 % d->k, base = i0 / (d->fg * d->k) * d->fg * d->k;
    for (int64_t i = i0; i < i1; i++) {
        int64_t src = i;
        if (t->transposed) {
            src = base + k * d->fg + f;
            if (++k == d->k) {
                k = 0;
                if (++f == d->fg)
                    f = 0, base += d->fg * d->k;
            }
        }
        float sum = t->partial[src];
        for (int64_t c = 1; c < t->chunks; c++)
            sum += t->partial[c * t->n + src];
        t->dw[i] = t->accumulate ? t->dw[i] + sum : sum;
    }
}

void rt_conv2d_backward_filter(const rt_conv2d *cv, int64_t batch, const float *x,
                               const float *dy, float *dw, float *db, bool accumulate)
{
    conv_dims d = rt_conv_check_dims(cv, "rt_conv2d_backward_filter");
    int64_t n = cv->f * d.k;
    if (batch <= 0) {
        if (!accumulate) {
            memset(dw, 0, (size_t)n * sizeof *dw);
            if (db)
                memset(db, 0, (size_t)cv->f * sizeof *db);
        }
        return;
    }
    filter_task t = { .cv = cv, .d = d, .batch = batch, .isa = rt_isa_current(), .x = x, .dy = dy, .dw = dw, .db = db,
                      .accumulate = accumulate, .n = n };
    if (d.depthwise) {
        rt_run_tasks(cv->f, rt_conv_depthwise_filter_task, &t);
        return;
    }
    /* Chunks depend on the batch alone; each has at least one sample. */
    t.chunks = min_i64(batch, FILTER_CHUNKS);
    /* filter_direct where the dot-product kernel does not take over */
    t.transposed = t.isa == RT_ISA_AVX512 && d.per_filter_gemm * d.p < DOT_MIN_DEPTH;
    bool direct = t.chunks == 1 && !accumulate && !t.transposed;
    if (direct) {
        t.partial = dw;
    } else {
        t.partial = rt_thread_scratch(RT_SCRATCH_CONV_PARTIAL, (size_t)(t.chunks * n) * sizeof(float));
    }
    if (db) {
        t.partial_db = rt_thread_scratch(RT_SCRATCH_CONV_PARTIAL_DB, (size_t)(t.chunks * cv->f) * sizeof(double));
    }
    /* The tasks reuse this thread's scratch for im2col, not the partials. */
    rt_run_tasks(t.chunks, filter_chunk, &t);
    if (!direct)
        rt_run_tasks((n + REDUCE_CHUNK - 1) / REDUCE_CHUNK, filter_reduce, &t);
    if (db)
        for (int64_t f = 0; f < cv->f; f++) {
            double sum = 0.0;
            for (int64_t c = 0; c < t.chunks; c++)
                sum += t.partial_db[c * cv->f + f];
            db[f] = accumulate ? db[f] + (float)sum : (float)sum;
        }
}
