/* layernorm.c — layer normalisation over the last axis: the portable path,
 * the dispatch to layernorm_avx2.c and layernorm_avx512.c, and threading.
 *
 * Rows are independent in the forward pass and in dx, so any split of the
 * rows gives the same bits. dgamma and dbeta sum over every row of the
 * batch: rows are cut into chunks whose bounds depend on (rows, d) alone;
 * each chunk adds its rows, in order, into its own double partials (the
 * calling thread's scratch), and the partials are added in chunk order.
 * So the parameter gradients too are the same bits for 1 thread or 64.
 *
 * Each row's sums follow the lane order kernels_internal.h spells out
 * (RT_LN_LANES double lanes, then a fixed pairwise tree), which the vector
 * paths keep, so every instruction-set path gives the same bits as this
 * one.
 */
#include <math.h>
#include <string.h>

#include "kernels_internal.h"
#include "util.h"

/* Elements per task: enough to amortise a worker's wake-up. */
enum { LN_TASK_ELEMENTS = 1 << 14 };
/* dgamma/dbeta chunks: at most this many, each at least LN_TASK_ELEMENTS. */
enum { LN_MAX_CHUNKS = 64 };

// x, gamma, beta, y (d)
static void row_portable(int64_t d, const float *x, const float *gamma, const float *beta, float eps,
                         float *y, float *mean_out, float *rstd_out)
{
    double lane[RT_LN_LANES] = { 0 };
    for (int64_t j0 = 0; j0 < d; j0 += RT_LN_LANES)
        for (int64_t k = 0; k < RT_LN_LANES && j0 + k < d; k++)
            lane[k] += (double)x[j0 + k];
    float mean = (float)(rt_ln_lane_total(lane) / (double)d);
    memset(lane, 0, sizeof lane);
    for (int64_t j0 = 0; j0 < d; j0 += RT_LN_LANES)
        for (int64_t k = 0; k < RT_LN_LANES && j0 + k < d; k++) {
            double e = (double)(x[j0 + k] - mean);
            lane[k] += e * e;
        }
    float rstd = (float)(1.0 / sqrt(rt_ln_lane_total(lane) / (double)d + (double)eps));
    for (int64_t j = 0; j < d; j++)
        y[j] = (x[j] - mean) * rstd * gamma[j] + beta[j];
    *mean_out = mean;
    *rstd_out = rstd;
}

// x, dy, gamma, dx (d); pg, pb (d) or NULL
static void row_backward_portable(int64_t d, const float *x, const float *dy, const float *gamma,
                                  float mean, float rstd, float *dx, double *pg, double *pb)
{
    double sg[RT_LN_LANES] = { 0 }, sgx[RT_LN_LANES] = { 0 };
    for (int64_t j0 = 0; j0 < d; j0 += RT_LN_LANES)
        for (int64_t k = 0; k < RT_LN_LANES && j0 + k < d; k++) {
            int64_t j = j0 + k;
            float xhat = (x[j] - mean) * rstd, g = dy[j] * gamma[j];
            sg[k] += (double)g;
            sgx[k] += (double)g * (double)xhat;
            if (pg) {
                pg[j] += (double)dy[j] * (double)xhat;
                pb[j] += (double)dy[j];
            }
        }
    float a = (float)(rt_ln_lane_total(sg) / (double)d), b = (float)(rt_ln_lane_total(sgx) / (double)d);
    for (int64_t j = 0; j < d; j++) {
        float xhat = (x[j] - mean) * rstd, g = dy[j] * gamma[j];
        dx[j] = rstd * ((g - a) - xhat * b);
    }
}

typedef struct ln_task {
    rt_isa isa;
    int64_t rows, d, per_task;
    const float *x, *dy, *gamma, *beta, *mean_in, *rstd_in;
    float eps;
    float *y, *mean_out, *rstd_out, *dx;
    double *partial; /* backward: per chunk, pg (d) then pb (d); NULL without dgamma/dbeta */
} ln_task;

static void forward_task(void *ctx, int64_t task)
{
    const ln_task *t = ctx;
    int64_t r1 = min_i64((task + 1) * t->per_task, t->rows);
    for (int64_t r = task * t->per_task; r < r1; r++) {
        const float *x = t->x + r * t->d;
        float *y = t->y + r * t->d, mean, rstd;
        switch (t->isa) {
        case RT_ISA_AVX512:
            rt_avx512_layernorm_row(t->d, x, t->gamma, t->beta, t->eps, y, &mean, &rstd);
            break;
        case RT_ISA_AVX2:
            rt_avx2_layernorm_row(t->d, x, t->gamma, t->beta, t->eps, y, &mean, &rstd);
            break;
        case RT_ISA_PORTABLE:
            row_portable(t->d, x, t->gamma, t->beta, t->eps, y, &mean, &rstd);
            break;
        }
        if (t->mean_out) {
            t->mean_out[r] = mean;
            t->rstd_out[r] = rstd;
        }
    }
}

// x (rows,d), gamma, beta (d), mean, rstd (rows) or NULL, y (rows,d)
void rt_layernorm_forward(int64_t rows, int64_t d, const float *x, const float *gamma,
                          const float *beta, float eps, float *mean, float *rstd, float *y)
{
    if (rows <= 0 || d <= 0)
        return;
    bool stats = mean && rstd;
    ln_task t = { .isa = rt_isa_current(), .rows = rows, .d = d, .x = x, .gamma = gamma, .beta = beta,
                  .eps = eps, .y = y, .mean_out = stats ? mean : NULL, .rstd_out = stats ? rstd : NULL };
    t.per_task = d >= LN_TASK_ELEMENTS ? 1 : LN_TASK_ELEMENTS / d;
    rt_run_tasks(ceil_div(rows, t.per_task), forward_task, &t);
}

/* One chunk of rows: dx for each, and its partial dgamma/dbeta. */
static void backward_task(void *ctx, int64_t chunk)
{
    const ln_task *t = ctx;
    int64_t r1 = min_i64((chunk + 1) * t->per_task, t->rows);
    double *pg = NULL, *pb = NULL;
    if (t->partial) {
        pg = t->partial + chunk * 2 * t->d;
        pb = pg + t->d;
        memset(pg, 0, (size_t)(2 * t->d) * sizeof *pg);
    }
    for (int64_t r = chunk * t->per_task; r < r1; r++) {
        const float *x = t->x + r * t->d, *dy = t->dy + r * t->d;
        float *dx = t->dx + r * t->d;
        switch (t->isa) {
        case RT_ISA_AVX512:
            rt_avx512_layernorm_row_backward(t->d, x, dy, t->gamma, t->mean_in[r], t->rstd_in[r], dx, pg, pb);
            break;
        case RT_ISA_AVX2:
            rt_avx2_layernorm_row_backward(t->d, x, dy, t->gamma, t->mean_in[r], t->rstd_in[r], dx, pg, pb);
            break;
        case RT_ISA_PORTABLE:
            row_backward_portable(t->d, x, dy, t->gamma, t->mean_in[r], t->rstd_in[r], dx, pg, pb);
            break;
        }
    }
}

// x, dy (rows,d), gamma (d), mean, rstd (rows), dx (rows,d), dgamma, dbeta (d) or NULL
void rt_layernorm_backward(int64_t rows, int64_t d, const float *x, const float *dy,
                           const float *gamma, const float *mean, const float *rstd, float *dx,
                           float *dgamma, float *dbeta, bool accumulate)
{
    if (d <= 0)
        return;
    if (rows < 0)
        rows = 0;
    /* chunks from the sizes alone: about LN_TASK_ELEMENTS each, at most
     * LN_MAX_CHUNKS, never empty */
    int64_t chunks = min_i64(min_i64(ceil_div(rows * d, LN_TASK_ELEMENTS), LN_MAX_CHUNKS), rows);
    if (chunks < 1)
        chunks = 1;
    ln_task t = { .isa = rt_isa_current(), .rows = rows, .d = d, .x = x, .dy = dy, .gamma = gamma,
                  .mean_in = mean, .rstd_in = rstd, .dx = dx };
    t.per_task = rows > 0 ? ceil_div(rows, chunks) : 1;
    chunks = rows > 0 ? ceil_div(rows, t.per_task) : 1;
    bool params = dgamma || dbeta;
    if (params)
        t.partial = rt_thread_scratch(RT_SCRATCH_LAYERNORM, (size_t)(chunks * 2 * d) * sizeof(double));
    rt_run_tasks(rows > 0 ? chunks : 0, backward_task, &t);
    if (!params)
        return;
    for (int64_t j = 0; j < d; j++) {
        double g = 0.0, b = 0.0;
        for (int64_t c = 0; c < chunks && rows > 0; c++) {
            g += t.partial[c * 2 * d + j];
            b += t.partial[c * 2 * d + d + j];
        }
        if (dgamma)
            dgamma[j] = accumulate ? dgamma[j] + (float)g : (float)g;
        if (dbeta)
            dbeta[j] = accumulate ? dbeta[j] + (float)b : (float)b;
    }
}
