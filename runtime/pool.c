/* pool.c — max, average and global average pooling, forward and backward,
 * NCHW.
 *
 * Every (sample, channel) plane is independent, so the kernels are threaded
 * over runs of planes whose bounds depend on the sizes only; a backward
 * pass with overlapping windows adds into dx in the same order within a
 * plane whatever the thread count, so results are bitwise reproducible.
 * Max pooling keeps no index buffer: the backward pass finds the argmax
 * again from x with the forward pass's comparison, so both agree on ties
 * (the first maximum in row-major window order wins, as in PyTorch).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netrt.h"
#include "pool_internal.h"
#include "util.h"

/* Input elements per task: enough to amortise waking a worker. */
#define POOL_TASK_ELEMENTS 16384

typedef struct pool_task {
    const rt_pool2d *p;
    int64_t planes, planes_per_task;
    const float *x, *y, *dy;
    float *out;
    bool relu; /* maxpool backward: x is a ReLU's output; route through it too */
} pool_task;

/* The (image, channel) planes [q0, q1) that task `task` owns. */
static void task_planes(const pool_task *t, int64_t task, int64_t *q0, int64_t *q1)
{
    *q0 = task * t->planes_per_task;
    *q1 = *q0 + t->planes_per_task < t->planes ? *q0 + t->planes_per_task : t->planes;
}

void rt_maxpool_check(const rt_pool2d *p, const char *who)
{
    int64_t ho = p->stride > 0 ? (p->h + 2 * p->pad - p->size) / p->stride + 1 : 0;
    int64_t wo = p->stride > 0 ? (p->w + 2 * p->pad - p->size) / p->stride + 1 : 0;
    if (p->size < 1 || p->stride < 1 || p->pad < 0 || 2 * p->pad > p->size || ho != p->ho ||
        wo != p->wo || ho < 1 || wo < 1) {
        fprintf(stderr,
                "%s:%d: netrt: %s: bad shape c=%lld h=%lld w=%lld size=%lld stride=%lld pad=%lld "
                "out=%lldx%lld (expected %lldx%lld)\n",
                __FILE__, __LINE__, who, (long long)p->c, (long long)p->h, (long long)p->w,
                (long long)p->size, (long long)p->stride, (long long)p->pad, (long long)p->ho,
                (long long)p->wo, (long long)ho, (long long)wo);
        abort();
    }
}

static void run_planes(const rt_pool2d *p, int64_t batch, pool_task *t, rt_task_fn fn)
{
    t->p = p;
    t->planes = batch * p->c;
    t->planes_per_task = rt_items_per_task(POOL_TASK_ELEMENTS, p->h * p->w);
    rt_run_tasks(ceil_div(t->planes, t->planes_per_task), fn, t);
}

/* The window of output (oy, ox), clipped to the image: rows [y0, y1),
 * columns [x0, x1). */
static void window(const rt_pool2d *p, int64_t oy, int64_t ox, int64_t *y0, int64_t *y1,
                   int64_t *x0, int64_t *x1)
{
    int64_t ys = oy * p->stride - p->pad, xs = ox * p->stride - p->pad;
    *y0 = ys < 0 ? 0 : ys;
    *x0 = xs < 0 ? 0 : xs;
    *y1 = ys + p->size > p->h ? p->h : ys + p->size;
    *x1 = xs + p->size > p->w ? p->w : xs + p->size;
}

/* Index in the plane of the first maximum of the window; the window always
 * holds a pixel because pad <= size/2. */
static int64_t window_argmax(const rt_pool2d *p, const float *plane, int64_t oy, int64_t ox)
{
    int64_t y0, y1, x0, x1;
    window(p, oy, ox, &y0, &y1, &x0, &x1);
    int64_t best = y0 * p->w + x0;
    float max = plane[best];
    for (int64_t iy = y0; iy < y1; iy++)
        for (int64_t ix = x0; ix < x1; ix++) {
            float v = plane[iy * p->w + ix];
            if (v > max) {
                max = v;
                best = iy * p->w + ix;
            }
        }
    return best;
}

void rt_maxpool_plane_rows(const rt_pool2d *p, const float *plane, int64_t oy0, int64_t oy1, float *y)
{
    if (p->size == 2 && p->stride == 2 && p->pad == 0 && rt_isa_current() == RT_ISA_AVX512) {
        rt_pool_avx512_max2x2_rows(plane, p->w, p->wo, oy0, oy1, y);
        return;
    }
    if (p->size == 2 && p->stride == 2 && p->pad == 0) {
        /* 2x2/2, the usual case: no clipping, so a plain loop gcc vectorizes. */
        for (int64_t oy = oy0; oy < oy1; oy++) {
            const float *r0 = plane + 2 * oy * p->w, *r1 = r0 + p->w;
            for (int64_t ox = 0; ox < p->wo; ox++) {
                float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
                float m = b > a ? b : a;
                m = c > m ? c : m;
                y[oy * p->wo + ox] = d > m ? d : m;
            }
        }
        return;
    }
    for (int64_t oy = oy0; oy < oy1; oy++)
        for (int64_t ox = 0; ox < p->wo; ox++)
            y[oy * p->wo + ox] = plane[window_argmax(p, plane, oy, ox)];
}

// x (B,C,H,W) -> y (B,C,Ho,Wo)
static void maxpool_forward_task(void *ctx, int64_t task)
{
    const pool_task *t = ctx;
    const rt_pool2d *p = t->p;
    int64_t q0, q1;
    task_planes(t, task, &q0, &q1);
    for (int64_t q = q0; q < q1; q++)
        rt_maxpool_plane_rows(p, t->x + q * p->h * p->w, 0, p->ho, t->out + q * p->ho * p->wo);
}

void rt_maxpool_forward(const rt_pool2d *p, int64_t batch, const float *x, float *y)
{
    rt_maxpool_check(p, "rt_maxpool_forward");
    pool_task t = { .x = x, .out = y };
    run_planes(p, batch, &t, maxpool_forward_task);
}

/* Zeroes the odd last column and row of a 2x2/2 backward plane, which no
 * window covers. */
static void clear_outside_windows(const rt_pool2d *p, float *dx)
{
    for (int64_t iy = 0; iy < 2 * p->ho; iy++)
        for (int64_t ix = 2 * p->wo; ix < p->w; ix++)
            dx[iy * p->w + ix] = 0.0f;
    if (2 * p->ho < p->h)
        memset(dx + 2 * p->ho * p->w, 0, (size_t)((p->h - 2 * p->ho) * p->w) * sizeof *dx);
}

// x (B,C,H,W), dy (B,C,Ho,Wo) -> dx (B,C,H,W)
static void maxpool_backward_task(void *ctx, int64_t task)
{
    const pool_task *t = ctx;
    const rt_pool2d *p = t->p;
    int64_t q0, q1;
    task_planes(t, task, &q0, &q1);
    bool fast = p->size == 2 && p->stride == 2 && p->pad == 0;
    bool avx512 = fast && rt_isa_current() == RT_ISA_AVX512;
    for (int64_t q = q0; q < q1; q++) {
        const float *plane = t->x + q * p->h * p->w;
        const float *dy = t->dy + q * p->ho * p->wo;
        float *dx = t->out + q * p->h * p->w;
        if (avx512) {
            rt_pool_avx512_max2x2_backward(plane, p->w, p->wo, p->ho, dy, t->relu, dx);
            clear_outside_windows(p, dx);
            continue;
        }
        if (fast) {
            /* 2x2/2: disjoint windows, the same comparisons in the same
             * order as the forward pass's fast path. The generic search
             * was 3% of a LeNet training step (perf). Every window writes
             * its four pixels, so only the odd row and column outside all
             * windows are cleared; storing through a pointer after a
             * memset of the plane was 5% of a LeNet training step. */
            for (int64_t oy = 0; oy < p->ho; oy++) {
                const float *r0 = plane + 2 * oy * p->w, *r1 = r0 + p->w;
                float *d0 = dx + 2 * oy * p->w, *d1 = d0 + p->w;
                for (int64_t ox = 0; ox < p->wo; ox++) {
                    float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
                    float g = dy[oy * p->wo + ox];
                    int at = 0;
                    float m = a;
                    if (b > m)
                        m = b, at = 1;
                    if (c > m)
                        m = c, at = 2;
                    if (d > m)
                        m = d, at = 3;
                    if (t->relu && !(m > 0.0f))
                        g = 0.0f;
                    d0[2 * ox] = at == 0 ? g : 0.0f;
                    d0[2 * ox + 1] = at == 1 ? g : 0.0f;
                    d1[2 * ox] = at == 2 ? g : 0.0f;
                    d1[2 * ox + 1] = at == 3 ? g : 0.0f;
                }
            }
            clear_outside_windows(p, dx);
            continue;
        }
        memset(dx, 0, (size_t)(p->h * p->w) * sizeof *dx);
        for (int64_t oy = 0; oy < p->ho; oy++)
            for (int64_t ox = 0; ox < p->wo; ox++) {
                int64_t at = window_argmax(p, plane, oy, ox);
                if (!t->relu || plane[at] > 0.0f)
                    dx[at] += dy[oy * p->wo + ox];
            }
    }
}

void rt_maxpool_backward(const rt_pool2d *p, int64_t batch, const float *x, const float *y,
                         const float *dy, float *dx)
{
    (void)y; /* the argmax is recomputed from x, so ties resolve as in the forward pass */
    rt_maxpool_check(p, "rt_maxpool_backward");
    pool_task t = { .x = x, .dy = dy, .out = dx };
    run_planes(p, batch, &t, maxpool_backward_task);
}

void rt_maxpool_relu_backward(const rt_pool2d *p, int64_t batch, const float *x, const float *dy,
                              float *dx)
{
    rt_maxpool_check(p, "rt_maxpool_relu_backward");
    pool_task t = { .x = x, .dy = dy, .out = dx, .relu = true };
    run_planes(p, batch, &t, maxpool_backward_task);
}

/* Average pooling over the task's planes, forward (x (B,C,H,W) -> y
 * (B,C,Ho,Wo)) or backward (dy (B,C,Ho,Wo) -> dx (B,C,H,W)): the same
 * walk over the windows, one a sum and the other a scatter, so a reader
 * checks one against the other here. `backward` is a constant in each
 * instance. With floor rounding no window reaches past the padding, so
 * the divisor is always size*size (count_include_pad). */
static inline __attribute__((always_inline)) void avgpool_planes(const pool_task *t, int64_t task, bool backward)
{
    const rt_pool2d *p = t->p;
    int64_t q0, q1;
    task_planes(t, task, &q0, &q1);
    float inv = 1.0f / (float)(p->size * p->size);
    for (int64_t q = q0; q < q1; q++) {
        const float *plane = backward ? NULL : t->x + q * p->h * p->w;
        const float *dy = backward ? t->dy + q * p->ho * p->wo : NULL;
        float *out = t->out + q * (backward ? p->h * p->w : p->ho * p->wo);
        if (backward)
            memset(out, 0, (size_t)(p->h * p->w) * sizeof *out);
        for (int64_t oy = 0; oy < p->ho; oy++)
            for (int64_t ox = 0; ox < p->wo; ox++) {
                int64_t y0, y1, x0, x1;
                window(p, oy, ox, &y0, &y1, &x0, &x1);
                float g = backward ? dy[oy * p->wo + ox] * inv : 0.0f, sum = 0.0f;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++)
                        if (backward)
                            out[iy * p->w + ix] += g;
                        else
                            sum += plane[iy * p->w + ix];
                if (!backward)
                    out[oy * p->wo + ox] = sum * inv;
            }
    }
}

static void avgpool_forward_task(void *ctx, int64_t task)
{
    avgpool_planes(ctx, task, false);
}

static void avgpool_backward_task(void *ctx, int64_t task)
{
    avgpool_planes(ctx, task, true);
}

void rt_avgpool_forward(const rt_pool2d *p, int64_t batch, const float *x, float *y)
{
    rt_maxpool_check(p, "rt_avgpool_forward");
    pool_task t = { .x = x, .out = y };
    run_planes(p, batch, &t, avgpool_forward_task);
}

void rt_avgpool_backward(const rt_pool2d *p, int64_t batch, const float *dy, float *dx)
{
    rt_maxpool_check(p, "rt_avgpool_backward");
    pool_task t = { .dy = dy, .out = dx };
    run_planes(p, batch, &t, avgpool_backward_task);
}

/* ------------------------------------------------- global average pool */

typedef struct global_task {
    int64_t planes, hw, per_task;
    const float *in;
    float *out;
} global_task;

// x (B*C, HW) -> y (B*C); the sum in double, so a large plane loses nothing
static void global_forward_task(void *ctx, int64_t task)
{
    const global_task *t = ctx;
    int64_t q1 = (task + 1) * t->per_task < t->planes ? (task + 1) * t->per_task : t->planes;
    for (int64_t q = task * t->per_task; q < q1; q++) {
        const float *x = t->in + q * t->hw;
        double sum = 0.0;
        for (int64_t i = 0; i < t->hw; i++)
            sum += x[i];
        t->out[q] = (float)(sum / (double)t->hw);
    }
}

// dy (B*C) -> dx (B*C, HW)
static void global_backward_task(void *ctx, int64_t task)
{
    const global_task *t = ctx;
    int64_t q1 = (task + 1) * t->per_task < t->planes ? (task + 1) * t->per_task : t->planes;
    for (int64_t q = task * t->per_task; q < q1; q++) {
        float g = t->in[q] / (float)t->hw;
        float *dx = t->out + q * t->hw;
        for (int64_t i = 0; i < t->hw; i++)
            dx[i] = g;
    }
}

static void run_global(global_task *t, rt_task_fn fn)
{
    t->per_task = t->hw > 0 ? POOL_TASK_ELEMENTS / t->hw : 1;
    if (t->per_task < 1)
        t->per_task = 1;
    int64_t ntasks = (t->planes + t->per_task - 1) / t->per_task;
    if (ntasks == 1)
        fn(t, 0);
    else if (ntasks > 1)
        rt_parallel_for(ntasks, fn, t);
}

void rt_global_avgpool_forward(int64_t batch, int64_t c, int64_t hw, const float *x, float *y)
{
    global_task t = { .planes = batch * c, .hw = hw, .in = x, .out = y };
    run_global(&t, global_forward_task);
}

void rt_global_avgpool_backward(int64_t batch, int64_t c, int64_t hw, const float *dy,
                                float *dx)
{
    global_task t = { .planes = batch * c, .hw = hw, .in = dy, .out = dx };
    run_global(&t, global_backward_task);
}
