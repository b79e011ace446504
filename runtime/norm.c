/* norm.c — batch normalisation, training and inference forward, backward.
 *
 * Every channel's statistics come from one task, in a fixed order (samples,
 * then pixels), with the sums in double: a channel of a 64-sample batch of
 * 56x56 maps adds 200k floats, where a float sum would lose 5 or more bits.
 * Tasks take runs of channels whose bounds depend on the sizes only, so the
 * results are the same bits for any thread count. The mean and variance are
 * two passes (mean first, then the squared deviations), not E[x^2] - E[x]^2,
 * which cancels when the mean is large against the spread.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "netrt.h"
#include "util.h"

/* Elements per task, to amortise waking a worker. */
#define NORM_TASK_ELEMENTS 16384

typedef struct norm_task {
    int64_t batch, c, hw, per_task;
    const float *x, *dy, *gamma, *beta, *mean_in, *var_in, *save_mean, *save_invstd;
    float *running_mean, *running_var, *out_mean, *out_invstd, *y, *dx, *dgamma, *dbeta;
    float momentum, eps;
    bool accumulate;
} norm_task;

static void run_channels(norm_task *t, rt_task_fn fn)
{
    t->per_task = rt_items_per_task(NORM_TASK_ELEMENTS, t->batch * t->hw);
    rt_run_tasks(ceil_div(t->c, t->per_task), fn, t);
}

static int64_t last_channel(const norm_task *t, int64_t task)
{
    int64_t c1 = (task + 1) * t->per_task;
    return c1 < t->c ? c1 : t->c;
}

/* y = gamma * (x - mean) * invstd + beta over one channel, as scale and shift. */
static void normalize_channel(const norm_task *t, int64_t ch, float mean, float invstd)
{
    float g = t->gamma ? t->gamma[ch] : 1.0f, b = t->beta ? t->beta[ch] : 0.0f;
    float scale = g * invstd, shift = b - mean * scale;
    for (int64_t n = 0; n < t->batch; n++) {
        const float *x = t->x + (n * t->c + ch) * t->hw;
        float *y = t->y + (n * t->c + ch) * t->hw;
        for (int64_t i = 0; i < t->hw; i++)
            y[i] = x[i] * scale + shift;
    }
}

// x (B,C,HW), gamma, beta, running_*, save_* (C), y (B,C,HW)
static void train_task(void *ctx, int64_t task)
{
    const norm_task *t = ctx;
    double count = (double)(t->batch * t->hw);
    for (int64_t ch = task * t->per_task; ch < last_channel(t, task); ch++) {
        double sum = 0.0;
        for (int64_t n = 0; n < t->batch; n++) {
            const float *x = t->x + (n * t->c + ch) * t->hw;
            for (int64_t i = 0; i < t->hw; i++)
                sum += x[i];
        }
        double mean = sum / count, sq = 0.0;
        for (int64_t n = 0; n < t->batch; n++) {
            const float *x = t->x + (n * t->c + ch) * t->hw;
            for (int64_t i = 0; i < t->hw; i++) {
                double d = x[i] - mean;
                sq += d * d;
            }
        }
        double var = sq / count;
        /* PyTorch's running variance is unbiased; one value has none, so
         * the biased one (0) is used rather than a division by zero. */
        double unbiased = count > 1 ? sq / (count - 1) : var;
        double invstd = 1.0 / sqrt(var + (double)t->eps);
        if (t->out_mean)
            t->out_mean[ch] = (float)mean;
        if (t->out_invstd)
            t->out_invstd[ch] = (float)invstd;
        if (t->running_mean)
            t->running_mean[ch] = (float)((1.0 - t->momentum) * t->running_mean[ch] +
                                          t->momentum * mean);
        if (t->running_var)
            t->running_var[ch] = (float)((1.0 - t->momentum) * t->running_var[ch] +
                                         t->momentum * unbiased);
        normalize_channel(t, ch, (float)mean, (float)invstd);
    }
}

void rt_batchnorm_forward_train(int64_t batch, int64_t c, int64_t hw, const float *x,
                                const float *gamma, const float *beta, float *running_mean,
                                float *running_var, float momentum, float eps,
                                float *save_mean, float *save_invstd, float *y)
{
    norm_task t = { .batch = batch, .c = c, .hw = hw, .x = x, .gamma = gamma, .beta = beta,
                    .running_mean = running_mean, .running_var = running_var,
                    .momentum = momentum, .eps = eps, .out_mean = save_mean,
                    .out_invstd = save_invstd, .y = y };
    run_channels(&t, train_task);
}

static void eval_task(void *ctx, int64_t task)
{
    const norm_task *t = ctx;
    for (int64_t ch = task * t->per_task; ch < last_channel(t, task); ch++) {
        float invstd = (float)(1.0 / sqrt((double)t->var_in[ch] + (double)t->eps));
        normalize_channel(t, ch, t->mean_in[ch], invstd);
    }
}

void rt_batchnorm_forward_eval(int64_t batch, int64_t c, int64_t hw, const float *x,
                               const float *gamma, const float *beta,
                               const float *running_mean, const float *running_var, float eps,
                               float *y)
{
    norm_task t = { .batch = batch, .c = c, .hw = hw, .x = x, .gamma = gamma, .beta = beta,
                    .mean_in = running_mean, .var_in = running_var, .eps = eps, .y = y };
    run_channels(&t, eval_task);
}

/* A frozen batchnorm's dx: the scale normalize_channel applies in eval
 * mode (gamma * invstd, the same float), and no shift. */
static void frozen_backward_task(void *ctx, int64_t task)
{
    const norm_task *t = ctx;
    for (int64_t ch = task * t->per_task; ch < last_channel(t, task); ch++) {
        float invstd = (float)(1.0 / sqrt((double)t->var_in[ch] + (double)t->eps));
        normalize_channel(t, ch, 0.0f, invstd);
    }
}

void rt_batchnorm_backward_frozen(int64_t batch, int64_t c, int64_t hw, const float *dy,
                                  const float *gamma, const float *running_var, float eps,
                                  float *dx)
{
    norm_task t = { .batch = batch, .c = c, .hw = hw, .x = dy, .gamma = gamma, .beta = NULL,
                    .var_in = running_var, .eps = eps, .y = dx };
    run_channels(&t, frozen_backward_task);
}

/* With xhat = (x - mean) * invstd and N = batch*hw:
 *   dbeta = sum dy,  dgamma = sum dy * xhat,
 *   dx = gamma * invstd / N * (N dy - dbeta - xhat dgamma). */
static void backward_task(void *ctx, int64_t task)
{
    const norm_task *t = ctx;
    double count = (double)(t->batch * t->hw);
    for (int64_t ch = task * t->per_task; ch < last_channel(t, task); ch++) {
        float mean = t->save_mean[ch], invstd = t->save_invstd[ch];
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int64_t n = 0; n < t->batch; n++) {
            const float *x = t->x + (n * t->c + ch) * t->hw;
            const float *dy = t->dy + (n * t->c + ch) * t->hw;
            for (int64_t i = 0; i < t->hw; i++) {
                sum_dy += dy[i];
                sum_dy_xhat += (double)dy[i] * ((double)(x[i] - mean) * invstd);
            }
        }
        float g = t->gamma ? t->gamma[ch] : 1.0f;
        float k = (float)(g * invstd);
        float mean_dy = (float)(sum_dy / count), mean_dy_xhat = (float)(sum_dy_xhat / count);
        for (int64_t n = 0; n < t->batch; n++) {
            const float *x = t->x + (n * t->c + ch) * t->hw;
            const float *dy = t->dy + (n * t->c + ch) * t->hw;
            float *dx = t->dx + (n * t->c + ch) * t->hw;
            for (int64_t i = 0; i < t->hw; i++) {
                float xhat = (x[i] - mean) * invstd;
                dx[i] = k * (dy[i] - mean_dy - xhat * mean_dy_xhat);
            }
        }
        if (t->dgamma)
            t->dgamma[ch] = t->accumulate ? t->dgamma[ch] + (float)sum_dy_xhat
                                          : (float)sum_dy_xhat;
        if (t->dbeta)
            t->dbeta[ch] = t->accumulate ? t->dbeta[ch] + (float)sum_dy : (float)sum_dy;
    }
}

void rt_batchnorm_backward(int64_t batch, int64_t c, int64_t hw, const float *x,
                           const float *dy, const float *gamma, const float *save_mean,
                           const float *save_invstd, float *dx, float *dgamma, float *dbeta,
                           bool accumulate)
{
    norm_task t = { .batch = batch, .c = c, .hw = hw, .x = x, .dy = dy, .gamma = gamma,
                    .save_mean = save_mean, .save_invstd = save_invstd, .dx = dx,
                    .dgamma = dgamma, .dbeta = dbeta, .accumulate = accumulate };
    run_channels(&t, backward_task);
}
