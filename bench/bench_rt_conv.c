/* bench_rt_conv.c — GFLOP/s of rt_conv2d_forward, _backward_data and
 * _backward_filter on LeNet's and ResNet-like layer shapes, with 1 and 2
 * threads on the best ISA path, as a percentage of the FP32 peak of the
 * cores used; then LeNet's convolution + pooling part as a training step
 * (batch 64) and as a batch-1 prediction.
 *
 * Each figure is the median of 7 samples after 30 ms of warm-up; a sample
 * repeats the call until it lasts at least 5 ms. Operands are allocated
 * once per shape. The machine is shared: a figure far below its
 * neighbours usually means another process took a core.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchutil.h"
#include "netrt.h"

/* FP32 FMA peak of one core (Zen 4, ~3.6 GHz, 32 FLOP/cycle). */

typedef struct layer {
    const char *name;
    int64_t batch, c, h, w, f, k, stride, pad, groups;
} layer;

static const layer layers[] = {
    {"lenet conv1 1x28x28 5x5x32", 64, 1, 28, 28, 32, 5, 1, 0, 1},
    {"lenet conv2 32x12x12 5x5x64", 64, 32, 12, 12, 64, 5, 1, 0, 1},
    /* examples/lenet.net: conv1 keeps 28x28 ("same"), so conv2 sees 14x14
     * and has 100 output pixels, not a whole number of 32-wide tiles */
    {"lenet.net conv1 1x28x28 5x5x32 same", 64, 1, 28, 28, 32, 5, 1, 2, 1},
    {"lenet.net conv2 32x14x14 5x5x64", 64, 32, 14, 14, 64, 5, 1, 0, 1},
    {"resnet 64x56x56 3x3x64", 4, 64, 56, 56, 64, 3, 1, 1, 1},
    {"resnet 64x56x56 3x3x128 /2", 4, 64, 56, 56, 128, 3, 2, 1, 1},
    {"resnet 128x28x28 3x3x128", 8, 128, 28, 28, 128, 3, 1, 1, 1},
    {"resnet 256x14x14 3x3x256", 16, 256, 14, 14, 256, 3, 1, 1, 1},
    {"resnet 256x56x56 1x1x64", 4, 256, 56, 56, 64, 1, 1, 0, 1},
    {"resnet 64x56x56 1x1x256", 4, 64, 56, 56, 256, 1, 1, 0, 1},
    {"mobilenet dw 128x28x28 3x3", 8, 128, 28, 28, 128, 3, 1, 1, 128},
    /* examples/resnet.net's stages: few filters, so the im2col matrix is
     * read by only 16-64 filters' worth of FMAs */
    {"resnet.net 16x28x28 3x3x16", 32, 16, 28, 28, 16, 3, 1, 1, 1},
    {"resnet.net 32x14x14 3x3x32", 32, 32, 14, 14, 32, 3, 1, 1, 1},
    {"resnet.net 64x7x7 3x3x64", 32, 64, 7, 7, 64, 3, 1, 1, 1},
    /* the rest of MobileNet's depthwise shapes: stride 2, 14- and 7-wide
     * rows (one partial 16-lane vector each), and a 5x5 kernel as in
     * MobileNetV3 */
    {"mobilenet dw 128x56x56 3x3 /2", 8, 128, 56, 56, 128, 3, 2, 1, 128},
    {"mobilenet dw 512x14x14 3x3", 8, 512, 14, 14, 512, 3, 1, 1, 512},
    {"mobilenet dw 1024x7x7 3x3", 8, 1024, 7, 7, 1024, 3, 1, 1, 1024},
    {"mobilenetv3 dw 240x14x14 5x5", 8, 240, 14, 14, 240, 5, 1, 2, 240},
};

typedef struct conv_ctx {
    rt_conv2d cv;
    int64_t batch;
    float *x, *w, *b, *y, *pre, *dy, *dx, *dw, *db;
} conv_ctx;

static void run_forward(void *ctx)
{
    conv_ctx *c = ctx;
    rt_conv2d_forward(&c->cv, c->batch, c->x, c->w, c->b, RT_ACT_RELU, 0.0f, c->pre, c->y);
}

static void run_data(void *ctx)
{
    conv_ctx *c = ctx;
    rt_conv2d_backward_data(&c->cv, c->batch, c->dy, c->w, c->dx);
}

static void run_filter(void *ctx)
{
    conv_ctx *c = ctx;
    rt_conv2d_backward_filter(&c->cv, c->batch, c->x, c->dy, c->dw, c->db, false);
}

static rt_conv2d conv_of(const layer *l)
{
    rt_conv2d cv = { .c = l->c, .h = l->h, .w = l->w, .f = l->f, .kh = l->k, .kw = l->k,
                     .stride = l->stride, .dilation = 1, .groups = l->groups,
                     .pad_top = l->pad, .pad_left = l->pad, .pad_bottom = l->pad,
                     .pad_right = l->pad };
    cv.ho = (l->h + 2 * l->pad - l->k) / l->stride + 1;
    cv.wo = (l->w + 2 * l->pad - l->k) / l->stride + 1;
    return cv;
}

static void alloc_ctx(conv_ctx *c, const rt_conv2d *cv, int64_t batch)
{
    c->cv = *cv;
    c->batch = batch;
    int64_t nx = batch * cv->c * cv->h * cv->w, ny = batch * cv->f * cv->ho * cv->wo;
    int64_t nw = cv->f * cv->c / cv->groups * cv->kh * cv->kw;
    c->x = bench_floats(nx, 1, 1.0f), c->dx = bench_floats(nx, 2, 1.0f);
    c->w = bench_floats(nw, 3, 1.0f), c->dw = bench_floats(nw, 4, 1.0f);
    c->b = bench_floats(cv->f, 5, 1.0f), c->db = bench_floats(cv->f, 6, 1.0f);
    c->y = bench_floats(ny, 7, 1.0f), c->pre = bench_floats(ny, 8, 1.0f), c->dy = bench_floats(ny, 9, 1.0f);
}

static void free_ctx(conv_ctx *c)
{
    free(c->x), free(c->dx), free(c->w), free(c->dw), free(c->b), free(c->db);
    free(c->y), free(c->pre), free(c->dy);
}

/* The rows whose names contain `only` (every row if NULL). */
static void layer_table(const char *only)
{
    printf("%-30s %5s  %-8s %9s %9s %9s   %s\n", "layer", "batch", "threads", "fwd", "data",
           "filter", "GFLOP/s (% of peak of the cores used)");
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        const layer *l = &layers[i];
        if (only && !strstr(l->name, only))
            continue;
        conv_ctx c;
        rt_conv2d cv = conv_of(l);
        alloc_ctx(&c, &cv, l->batch);
        double flops = 2.0 * (double)l->batch * (double)cv.f * (double)(cv.ho * cv.wo) *
                       (double)(cv.c / cv.groups * cv.kh * cv.kw);
        for (int threads = 1; threads <= 2; threads++) {
            rt_threads_init(threads);
            double peak = PEAK_GFLOPS_PER_CORE * threads;
            double g[3] = { flops / time_it(run_forward, &c) * 1e-9,
                            flops / time_it(run_data, &c) * 1e-9,
                            flops / time_it(run_filter, &c) * 1e-9 };
            printf("%-30s %5lld  %-8d %5.1f %2.0f%% %5.1f %2.0f%% %5.1f %2.0f%%\n", l->name,
                   (long long)l->batch, threads, g[0], 100 * g[0] / peak, g[1],
                   100 * g[1] / peak, g[2], 100 * g[2] / peak);
        }
        free_ctx(&c);
    }
}

/* LeNet's convolutional part: conv1 -> relu -> pool -> conv2 -> relu -> pool.
 * A training step runs both forwards, conv2's data gradient, both filter
 * gradients and the pooling backward passes (the input needs no gradient). */
typedef struct lenet {
    int64_t batch;
    conv_ctx c1, c2;
    rt_pool2d p1, p2;
    float *p1y, *p2y, *dp2, *dc2y, *dp1, *dc1y;
} lenet;

static void lenet_forward(lenet *n)
{
    rt_conv2d_forward(&n->c1.cv, n->batch, n->c1.x, n->c1.w, n->c1.b, RT_ACT_RELU, 0.0f, NULL,
                      n->c1.y);
    rt_maxpool_forward(&n->p1, n->batch, n->c1.y, n->c2.x);
    rt_conv2d_forward(&n->c2.cv, n->batch, n->c2.x, n->c2.w, n->c2.b, RT_ACT_RELU, 0.0f, NULL,
                      n->c2.y);
    rt_maxpool_forward(&n->p2, n->batch, n->c2.y, n->p2y);
}

static void lenet_predict(void *ctx)
{
    lenet_forward(ctx);
}

static void lenet_train(void *ctx)
{
    lenet *n = ctx;
    lenet_forward(n);
    rt_maxpool_backward(&n->p2, n->batch, n->c2.y, n->p2y, n->dp2, n->c2.dy);
    rt_act_backward(RT_ACT_RELU, 0.0f, n->batch * 64 * 64, n->c2.y, n->c2.y, n->c2.dy, n->c2.dy);
    rt_conv2d_backward_filter(&n->c2.cv, n->batch, n->c2.x, n->c2.dy, n->c2.dw, n->c2.db, false);
    rt_conv2d_backward_data(&n->c2.cv, n->batch, n->c2.dy, n->c2.w, n->dp1);
    rt_maxpool_backward(&n->p1, n->batch, n->c1.y, n->c2.x, n->dp1, n->c1.dy);
    rt_act_backward(RT_ACT_RELU, 0.0f, n->batch * 32 * 24 * 24, n->c1.y, n->c1.y, n->c1.dy,
                    n->c1.dy);
    rt_conv2d_backward_filter(&n->c1.cv, n->batch, n->c1.x, n->c1.dy, n->c1.dw, n->c1.db, false);
}

static void lenet_table(void)
{
    printf("\nLeNet convolution + pooling part (conv5x5 32, pool, conv5x5 64, pool)\n");
    for (int bi = 0; bi < 2; bi++) {
        lenet n = { .batch = bi == 0 ? 1 : 64 };
        rt_conv2d cv1 = conv_of(&layers[0]), cv2 = conv_of(&layers[1]);
        alloc_ctx(&n.c1, &cv1, n.batch);
        alloc_ctx(&n.c2, &cv2, n.batch);
        n.p1 = (rt_pool2d){ .c = 32, .h = 24, .w = 24, .size = 2, .stride = 2, .ho = 12, .wo = 12 };
        n.p2 = (rt_pool2d){ .c = 64, .h = 8, .w = 8, .size = 2, .stride = 2, .ho = 4, .wo = 4 };
        n.p2y = bench_floats(n.batch * 64 * 16, 10, 1.0f);
        n.dp2 = bench_floats(n.batch * 64 * 16, 11, 1.0f);
        n.dp1 = bench_floats(n.batch * 32 * 144, 12, 1.0f);
        for (int threads = 1; threads <= 2; threads++) {
            rt_threads_init(threads);
            double fwd = time_it(lenet_predict, &n);
            printf("  batch %2lld, %d thread%s: forward %8.1f us (%7.0f samples/s)", (long long)n.batch,
                   threads, threads > 1 ? "s" : " ", fwd * 1e6, (double)n.batch / fwd);
            if (n.batch > 1) {
                double step = time_it(lenet_train, &n);
                printf("   train step %7.1f us (%6.0f samples/s)", step * 1e6,
                       (double)n.batch / step);
            }
            printf("\n");
        }
        free_ctx(&n.c1), free_ctx(&n.c2);
        free(n.p2y), free(n.dp2), free(n.dp1);
    }
}

/* bench_rt_conv [WORD]: with WORD, only the layer rows whose names contain
 * it (say "dw"), and the LeNet part only if WORD is "lenet". */
int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    printf("rt_conv2d on the %s path; peak %.0f GFLOP/s per core\n\n", rt_isa_name(rt_isa_current()),
           PEAK_GFLOPS_PER_CORE);
    layer_table(only);
    if (!only || strcmp(only, "lenet") == 0)
        lenet_table();
    rt_threads_shutdown();
    return 0;
}
