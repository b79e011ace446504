/* generate.c — one position at a time: the kernels of a model's step
 * function (netc's incremental forward, compiler/step.c), which generation
 * calls once per token instead of recomputing the whole window.
 *
 *  - rnn, lstm and gru carry their state (h, and lstm's c) from one call to
 *    the next: O(1) work per token, the two projections of one step;
 *  - attention keeps a cache of every earlier position's keys and values:
 *    the new token's query attends to them, O(t) work at position t;
 *  - learned positions add the row of the token's position.
 *
 * The arithmetic is the full-window kernels' (recurrent.c, attention.c)
 * restricted to one step, in the same order, so the logits of step t equal
 * those of the full forward at position t to rounding (the GEMMs see other
 * shapes and may block their sums differently; tests hold them within
 * 1e-5). Nothing here allocates.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_internal.h"

static int64_t gates_of(int64_t cell)
{
    return cell == RT_CELL_LSTM ? 4 : cell == RT_CELL_GRU ? 3 : 1;
}

static void bad_layer(const char *who, const char *what)
{
    fprintf(stderr, "%s: netrt: %s: %s\n", __FILE__, who, what);
    abort();
}

/* ------------------------------------------------------------ recurrent */

int64_t rt_recurrent_carry_floats(const rt_recurrent *r)
{
    return r->cell == RT_CELL_LSTM ? 2 * r->units : r->units;
}

int64_t rt_recurrent_step_work_floats(const rt_recurrent *r)
{
    int64_t gh = gates_of(r->cell) * r->units;
    return r->cell == RT_CELL_GRU ? 2 * gh : gh;
}

// x (B,D), carry (B,H) h then (B,H) c for lstm, work (B,GH) gates [+ (B,GH) W_hh h for gru] -> y (B,H)
void rt_recurrent_step(const rt_recurrent *r, int64_t batch, int64_t t, const float *x, const float *w_ih,
                       const float *w_hh, const float *bias, float *carry, float *work, float *y)
{
    if (r->cell < RT_CELL_RNN || r->cell > RT_CELL_GRU || r->inputs < 1 || r->units < 1 || t < 0)
        bad_layer("rt_recurrent_step", "not a recurrent layer");
    if (batch < 1)
        return;
    int B = (int)batch, D = (int)r->inputs, H = (int)r->units, GH = (int)(gates_of(r->cell) * r->units);
    float *gates = work, *recur = work + (int64_t)B * GH;
    float *hprev = carry, *cell = carry + (int64_t)B * H;
    rt_epilogue with_bias = { .bias = bias };
    rt_sgemm_ex(false, true, B, GH, D, 1.0f, x, D, w_ih, D, 0.0f, gates, GH, &with_bias);
    if (t > 0 && r->cell != RT_CELL_GRU) {
        rt_epilogue tanh_ep = { .act = RT_ACT_TANH };
        rt_sgemm_ex(false, true, B, GH, H, 1.0f, hprev, H, w_hh, H, 1.0f, gates, GH,
                    r->cell == RT_CELL_RNN ? &tanh_ep : NULL);
    } else if (t > 0) {
        rt_sgemm(false, true, B, GH, H, 1.0f, hprev, H, w_hh, H, 0.0f, recur, GH);
    }
    for (int64_t b = 0; b < batch; b++) {
        float *a = gates + b * GH, *h = y + b * H, *hp = hprev + b * H;
        switch ((rt_cell)r->cell) {
        case RT_CELL_RNN:
            if (t == 0)
                rt_act_forward(RT_ACT_TANH, 0.0f, H, a, a);
            memcpy(h, a, sizeof(float) * (size_t)H);
            break;
        case RT_CELL_LSTM: { /* recurrent.c's cell: the same bits as a window's forward */
            float *c = cell + b * H;
            rt_lstm_cell_forward(rt_isa_current(), H, a, t == 0 ? NULL : c, c, NULL, h);
            break;
        }
        case RT_CELL_GRU: {
            float *n = a + 2 * H;
            const float *rec = t > 0 ? recur + b * GH : NULL;
            if (rec)
                for (int64_t j = 0; j < 2 * H; j++)
                    a[j] += rec[j];
            rt_act_forward(RT_ACT_SIGMOID, 0.0f, 2 * H, a, a);
            const float *rg = a, *z = a + H;
            if (rec)
                for (int64_t j = 0; j < H; j++)
                    n[j] += rg[j] * rec[2 * H + j];
            rt_act_forward(RT_ACT_TANH, 0.0f, H, n, n);
            for (int64_t j = 0; j < H; j++) {
                float keep = t > 0 ? z[j] * hp[j] : 0.0f;
                h[j] = (1.0f - z[j]) * n[j] + keep;
            }
            break;
        }
        }
    }
    memcpy(hprev, y, sizeof(float) * (size_t)B * (size_t)H);
}

/* ------------------------------------------------------------ attention */

int64_t rt_attention_cache_floats(const rt_attention *a)
{
    return 2 * a->t * a->d;
}

int64_t rt_attention_step_work_floats(const rt_attention *a)
{
    return 4 * a->d + a->t;
}

/* The new position's query against keys [0, t] of one sample's cache
 * (T, 2D): k_j at row j, v_j D floats after it. As the full forward does
 * it per head, two products: scores (1, t+1) = scale q K^T, softmax, then
 * ctx (1, Dh) = P V, here with one query row (rt_sgemm's short path). */
static void attend(const rt_attention *a, int64_t t, float scale, const float *q, const float *cache, float *p,
                   float *ctx, rt_isa isa)
{
    int D = (int)a->d, dh = (int)(a->d / a->heads), keys = (int)t + 1;
    for (int h = 0; h < (int)a->heads; h++) {
        rt_sgemm(false, true, 1, keys, dh, scale, q + h * dh, dh, cache + h * dh, 2 * D, 0.0f, p, keys);
        rt_softmax_row(isa, keys, p, p);
        rt_sgemm(false, false, 1, dh, keys, 1.0f, p, keys, cache + D + h * dh, 2 * D, 0.0f, ctx + h * dh, dh);
    }
}

// x (B,D), cache (B,T,2D), work (B,4D+T) -> y (B,D)
void rt_attention_step(const rt_attention *a, int64_t batch, int64_t t, const float *x, const float *w_qkv,
                       const float *b_qkv, const float *w_out, const float *b_out, float *cache, float *work,
                       float *y)
{
    if (a->t < 1 || a->d < 1 || a->heads < 1 || a->d % a->heads || !a->causal)
        bad_layer("rt_attention_step", "not a causal attention layer");
    if (t < 0 || t >= a->t)
        bad_layer("rt_attention_step", "position outside the context");
    if (batch < 1)
        return;
    int B = (int)batch, D = (int)a->d;
    float *qkv = work, *ctx = work + (int64_t)B * 3 * D, *p = ctx + (int64_t)B * D;
    float scale = (float)(1.0 / sqrt((double)(a->d / a->heads)));
    rt_epilogue ep = { .bias = b_qkv };
    rt_sgemm_ex(false, true, B, 3 * D, D, 1.0f, x, D, w_qkv, D, 0.0f, qkv, 3 * D, &ep);
    rt_isa isa = rt_isa_current();
    for (int64_t b = 0; b < batch; b++) {
        float *c = cache + b * a->t * 2 * D;
        memcpy(c + t * 2 * D, qkv + b * 3 * D + D, sizeof(float) * 2 * (size_t)D);
        attend(a, t, scale, qkv + b * 3 * D, c, p, ctx + b * D, isa);
    }
    ep.bias = b_out;
    rt_sgemm_ex(false, true, B, D, D, 1.0f, ctx, D, w_out, D, 0.0f, y, D, &ep);
}

/* ------------------------------------------------------------ positions */

// x (B,D), table (T,D) -> y (B,D) = x + table[t]
void rt_position_step(int64_t batch, int64_t d, int64_t t, const float *x, const float *table, float *y)
{
    const float *row = table + t * d;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t j = 0; j < d; j++)
            y[b * d + j] = x[b * d + j] + row[j];
}

/* ------------------------------------------------------------- sampling */

static int compare_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

int32_t rt_sample_logits(int64_t vocab, const float *logits, float temperature, int64_t top_k, uint64_t seed,
                         uint64_t counter, float *work)
{
    int64_t best = 0;
    for (int64_t v = 1; v < vocab; v++)
        if (logits[v] > logits[best])
            best = v;
    if (!(temperature > 1e-6f))
        return (int32_t)best;
    float threshold = -INFINITY;
    if (top_k > 0 && top_k < vocab) {
        memcpy(work, logits, sizeof(float) * (size_t)vocab);
        qsort(work, (size_t)vocab, sizeof *work, compare_desc);
        threshold = work[top_k - 1];
    }
    double total = 0.0, max = logits[best];
    for (int64_t v = 0; v < vocab; v++)
        total += logits[v] >= threshold ? exp(((double)logits[v] - max) / temperature) : 0.0;
    double u = (double)rt_rand_uniform(seed, counter) * total, sum = 0.0;
    int64_t last = best;
    for (int64_t v = 0; v < vocab; v++) {
        if (logits[v] < threshold)
            continue;
        sum += exp(((double)logits[v] - max) / temperature);
        last = v;
        if (u < sum)
            return (int32_t)v;
    }
    return (int32_t)last; /* u within rounding of the total */
}
