/* bench_rt_attention.c — rt_attention_forward (training: probabilities
 * kept; inference: none) and rt_attention_backward on examples/gpt.net's
 * layer shape and a few around it, with 1 and 2 threads on the best ISA
 * path. GFLOP/s count the cost model of docs/language.md (the backward as
 * twice the forward) and, for causal layers, the full products, so a
 * causal layer's figure includes the work its blocks skip. The last column
 * is the two projections alone (rt_sgemm_ex forward), the part of the
 * forward that is one large GEMM, for comparison.
 *
 * Each figure is the median of 7 samples after 30 ms of warm-up; a sample
 * repeats the call until it lasts at least 5 ms. The machine is shared: a
 * figure far below its neighbours usually means another process took a
 * core.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchutil.h"
#include "netrt.h"

/* FP32 FMA peak of one core (Zen 4, ~3.6 GHz, 32 FLOP/cycle). */

typedef struct shape {
    const char *name;
    int64_t batch, t, d, heads, causal;
} shape;

static const shape shapes[] = {
    { "gpt.net block (causal)", 16, 128, 128, 4, 1 },
    { "gpt.net block, not causal", 16, 128, 128, 4, 0 },
    { "T=256 D=256 8 heads causal", 8, 256, 256, 8, 1 },
    { "T=64 D=64 2 heads causal", 64, 64, 64, 2, 1 },
    { "T=19 D=32 1 head", 64, 19, 32, 1, 0 },
};

typedef struct layer {
    rt_attention a;
    int64_t batch;
    float *x, *wq, *bq, *wo, *bo, *qkv, *ctx, *probs, *y, *dy, *work, *dx, *dwq, *dbq, *dwo, *dbo;
} layer;

static void run_train_forward(void *arg)
{
    layer *l = arg;
    rt_attention_forward(&l->a, l->batch, l->x, l->wq, l->bq, l->wo, l->bo, l->qkv, l->ctx, l->probs, l->y);
}

static void run_infer_forward(void *arg)
{
    layer *l = arg;
    rt_attention_forward(&l->a, l->batch, l->x, l->wq, l->bq, l->wo, l->bo, l->qkv, l->ctx, NULL, l->y);
}

static void run_backward(void *arg)
{
    layer *l = arg;
    rt_attention_backward(&l->a, l->batch, l->x, l->wq, l->wo, l->qkv, l->ctx, l->probs, l->dy, l->work, l->dx,
                          l->dwq, l->dbq, l->dwo, l->dbo, false);
}

static void run_projections(void *arg)
{
    layer *l = arg;
    int rows = (int)(l->batch * l->a.t), d = (int)l->a.d;
    rt_epilogue ep = { .bias = l->bq };
    rt_sgemm_ex(false, true, rows, 3 * d, d, 1.0f, l->x, d, l->wq, d, 0.0f, l->qkv, 3 * d, &ep);
    ep.bias = l->bo;
    rt_sgemm_ex(false, true, rows, d, d, 1.0f, l->ctx, d, l->wo, d, 0.0f, l->y, d, &ep);
}

static layer make_layer(const shape *s)
{
    layer l = { .a = { .t = s->t, .d = s->d, .heads = s->heads, .causal = s->causal }, .batch = s->batch };
    int64_t n = s->batch * s->t * s->d, d = s->d;
    float w = 2.0f / (float)d;
    l.x = bench_floats(n, 1, 2.0f), l.dy = bench_floats(n, 2, 2.0f), l.dx = bench_floats(n, 3, 1.0f);
    l.wq = bench_floats(3 * d * d, 4, w), l.bq = bench_floats(3 * d, 5, 0.1f);
    l.wo = bench_floats(d * d, 6, w), l.bo = bench_floats(d, 7, 0.1f);
    l.dwq = bench_floats(3 * d * d, 8, 1.0f), l.dbq = bench_floats(3 * d, 9, 1.0f);
    l.dwo = bench_floats(d * d, 10, 1.0f), l.dbo = bench_floats(d, 11, 1.0f);
    l.qkv = bench_floats(3 * n, 12, 1.0f), l.ctx = bench_floats(n, 13, 1.0f);
    l.y = bench_floats(n, 14, 1.0f), l.work = bench_floats(4 * n, 15, 1.0f);
    l.probs = bench_floats(s->batch * s->heads * s->t * s->t, 16, 1.0f);
    return l;
}

static void free_layer(layer *l)
{
    float *all[] = { l->x, l->wq, l->bq, l->wo, l->bo, l->qkv, l->ctx, l->probs, l->y, l->dy, l->work, l->dx,
                     l->dwq, l->dbq, l->dwo, l->dbo };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}

int main(int argc, char **argv)
{
    printf("rt_attention on the %s path; peak %.0f GFLOP/s per core\n\n", rt_isa_name(rt_isa_current()),
           PEAK_GFLOPS_PER_CORE);
    printf("%-28s %5s %-7s %15s %15s %15s %15s   %s\n", "layer", "batch", "threads", "train fwd", "infer fwd",
           "backward", "projections", "GFLOP/s, ms per call");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *s = &shapes[i];
        if (argc > 1 && !strstr(s->name, argv[1]))
            continue;
        layer l = make_layer(s);
        double t = (double)s->t, d = (double)s->d, rows = (double)s->batch * t;
        double proj = rows * (2 * d * 3 * d + 3 * d + 2 * d * d + d);
        double fwd = proj + (double)s->batch * (4 * t * t * d + 5 * (double)s->heads * t * t);
        for (int threads = 1; threads <= 2; threads++) {
            rt_threads_init(threads);
            double tf = time_it(run_train_forward, &l), ti = time_it(run_infer_forward, &l);
            double tb = time_it(run_backward, &l), tp = time_it(run_projections, &l);
            printf("%-28s %5lld %-7d %6.1f %6.3fms %6.1f %6.3fms %6.1f %6.3fms %6.1f %6.3fms\n", s->name,
                   (long long)s->batch, threads, fwd / tf * 1e-9, tf * 1e3, fwd / ti * 1e-9, ti * 1e3,
                   2 * fwd / tb * 1e-9, tb * 1e3, proj / tp * 1e-9, tp * 1e3);
        }
        free_layer(&l);
    }
    rt_threads_shutdown();
    return 0;
}
