/* test_rt_conv.c — rt_conv2d_forward / backward_data / backward_filter.
 *
 * References are naive direct convolutions in double written here (no
 * im2col, no GEMM), so they share nothing with the kernels. Tolerances are
 * relative to the sum of |terms| of each output (the float GEMM's rounding
 * grows with it): |got - ref| <= 1e-5 * sum|terms| + 1e-6. Backward
 * kernels are checked three ways: against the double adjoint reference,
 * against central finite differences of the double forward reference, and
 * by the adjoint identity sum(dy * conv(x)) == sum(conv^T(dy) * x).
 * Every case runs on every ISA path of this CPU, for batch 1 and 3, and the
 * threaded cases must give the same bits on 1 and 2 threads.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "netrt.h"
#include "testutil.h"




static double *alloc_doubles(int64_t n)
{
    double *p = calloc((size_t)(n > 0 ? n : 1), sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* c, h, w, f, kh, kw, stride, dilation, groups, pad top/left/bottom/right */
typedef struct conv_case {
    const char *name;
    int64_t c, h, w, f, kh, kw, stride, dilation, groups, pt, pl, pb, pr;
} conv_case;

static const conv_case cases[] = {
    { "5x5 valid (lenet conv1)", 1, 12, 12, 4, 5, 5, 1, 1, 1, 0, 0, 0, 0 },
    { "3x3 pad 1 on 7x5", 3, 7, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1 },
    { "3x3 stride 2", 3, 7, 5, 6, 3, 3, 2, 1, 1, 0, 0, 0, 0 },
    { "3x3 stride 3 pad 1", 2, 7, 5, 4, 3, 3, 3, 1, 1, 1, 1, 1, 1 },
    /* TensorFlow "same", stride 2 on 8x6: the odd padding row/column goes
     * to the bottom/right. */
    { "3x3 stride 2 same asymmetric", 4, 8, 6, 5, 3, 3, 2, 1, 1, 0, 0, 1, 1 },
    { "2x2 same asymmetric", 2, 7, 5, 3, 2, 2, 1, 1, 1, 0, 0, 1, 1 },
    { "3x3 dilation 2 pad 2", 4, 7, 5, 6, 3, 3, 1, 2, 1, 2, 2, 2, 2 },
    { "3x3 groups 2 pad 1", 4, 7, 5, 6, 3, 3, 1, 1, 2, 1, 1, 1, 1 },
    { "3x3 depthwise pad 1", 4, 7, 5, 4, 3, 3, 1, 1, 4, 1, 1, 1, 1 },
    { "5x5 depthwise x2 pad 2 stride 2", 3, 7, 5, 6, 5, 5, 2, 1, 3, 2, 2, 2, 2 },
    /* The SIMD depthwise planes take 16 (AVX-512) or 8 (AVX2) output
     * columns at a time with masks at both edges and 4 output rows at a
     * time: rows wider than 16 and not a multiple of 8, row counts that
     * leave 1-3 rows over; 3x3 and 5x5 have unrolled instances of their
     * own, also for a channel multiplier of 2. */
    { "3x3 depthwise 37 wide, 23 rows", 3, 23, 37, 3, 3, 3, 1, 1, 3, 1, 1, 1, 1 },
    { "3x3 depthwise valid, 18 wide", 2, 6, 18, 2, 3, 3, 1, 1, 2, 0, 0, 0, 0 },
    { "3x3 depthwise x2 pad 1, 19 wide", 2, 6, 19, 4, 3, 3, 1, 1, 2, 1, 1, 1, 1 },
    { "5x5 depthwise pad 2, 21 wide", 2, 10, 21, 2, 5, 5, 1, 1, 2, 2, 2, 2, 2 },
    /* stride 2: odd width (row by row phase split), even width (the plane
     * as one row), "same" padding only at the bottom and right, a channel
     * multiplier of 2 */
    { "3x3 depthwise stride 2 same asymmetric, 33 wide", 2, 10, 33, 2, 3, 3, 2, 1, 2, 0, 0, 1, 1 },
    { "3x3 depthwise stride 2 pad 1, 34 wide", 2, 9, 34, 2, 3, 3, 2, 1, 2, 1, 1, 1, 1 },
    { "3x3 depthwise x2 stride 2, 18 wide", 2, 7, 18, 4, 3, 3, 2, 1, 2, 1, 1, 1, 1 },
    { "3x3 depthwise x2 dilation 2 pad 2", 2, 11, 21, 4, 3, 3, 1, 2, 2, 2, 2, 2, 2 },
    { "5x5 depthwise dilation 2 stride 2 asymmetric", 2, 13, 19, 2, 5, 5, 2, 2, 2, 3, 1, 4, 2 },
    { "7x7 depthwise pad 3, 20 wide", 2, 9, 20, 2, 7, 7, 1, 1, 2, 3, 3, 3, 3 },
    { "3x3 depthwise stride 3", 2, 10, 23, 2, 3, 3, 3, 1, 2, 1, 1, 1, 1 },
    { "3x3 depthwise on a 2x1 input", 2, 2, 1, 2, 3, 3, 1, 1, 2, 1, 1, 1, 1 },
    /* a kernel narrower than the stride: dx columns no tap reaches */
    { "1x1 depthwise stride 2", 3, 7, 9, 3, 1, 1, 2, 1, 3, 0, 0, 0, 0 },
    { "2x4 depthwise stride 2 dilation 3", 2, 9, 26, 4, 2, 4, 2, 3, 2, 1, 2, 0, 1 },
    /* wider or more strided than the AVX-512 path takes: conv_depthwise.c's
     * loops on every path */
    { "1x33 depthwise", 2, 3, 40, 2, 1, 33, 1, 1, 2, 0, 0, 0, 0 },
    { "3x3 depthwise stride 9", 2, 20, 21, 2, 3, 3, 9, 1, 2, 0, 0, 0, 0 },
    { "1x1 pointwise", 5, 7, 5, 3, 1, 1, 1, 1, 1, 0, 0, 0, 0 },
    { "1x1 pointwise groups 5", 5, 7, 5, 10, 1, 1, 1, 1, 5, 0, 0, 0, 0 },
    { "1x1 stride 2", 5, 7, 5, 3, 1, 1, 2, 1, 1, 0, 0, 0, 0 },
    { "5x5 pad 2 on 7x5", 3, 7, 5, 4, 5, 5, 1, 1, 1, 2, 2, 2, 2 },
    { "3x5 kernel, dilation 2, groups 2, stride 2", 6, 9, 11, 4, 3, 5, 2, 2, 2, 1, 3, 2, 1 },
    { "kernel larger than padded input rows", 2, 3, 9, 2, 3, 3, 1, 1, 1, 0, 1, 0, 1 },
    /* stride 1, unpadded, output rows of whole 8-column blocks: on AVX-512
     * batch 1 and 3 run as conv_forward.c's direct register tiles; 6 output
     * rows leave a tile of 2 rows, 20 filters make panels of 10; dilation 2
     * with K = 432 takes two K slices */
    { "5x5 valid, 16 wide, 20 filters (direct tiles)", 3, 10, 20, 20, 5, 5, 1, 1, 1, 0, 0, 0, 0 },
    { "3x3 dilation 2, K 432 (direct tiles)", 48, 10, 12, 13, 3, 3, 1, 2, 1, 0, 0, 0, 0 },
    /* K x P = 576 x 400 floats: the forward pass takes its im2col in blocks */
    { "3x3 pad 1, several im2col blocks", 64, 20, 20, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1 },
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

static rt_conv2d make_conv(const conv_case *k)
{
    rt_conv2d cv = { .c = k->c, .h = k->h, .w = k->w, .f = k->f, .kh = k->kh, .kw = k->kw,
                     .stride = k->stride, .dilation = k->dilation, .groups = k->groups,
                     .pad_top = k->pt, .pad_left = k->pl, .pad_bottom = k->pb,
                     .pad_right = k->pr };
    cv.ho = (k->h + k->pt + k->pb - k->dilation * (k->kh - 1) - 1) / k->stride + 1;
    cv.wo = (k->w + k->pl + k->pr - k->dilation * (k->kw - 1) - 1) / k->stride + 1;
    return cv;
}

typedef struct sizes {
    int64_t x, w, y;
} sizes;

static sizes sizes_of(const rt_conv2d *cv, int64_t batch)
{
    return (sizes){ batch * cv->c * cv->h * cv->w, cv->f * (cv->c / cv->groups) * cv->kh * cv->kw,
                    batch * cv->f * cv->ho * cv->wo };
}

/* Visits every (output, input, weight) index triple of the convolution:
 * the one loop nest every reference below is written from. */
#define FOR_EACH_TAP(cv, batch, yi, xi, wi, body)                                              \
    do {                                                                                       \
        int64_t cg_ = (cv)->c / (cv)->groups, fg_ = (cv)->f / (cv)->groups;                    \
        for (int64_t b_ = 0; b_ < (batch); b_++)                                               \
            for (int64_t f_ = 0; f_ < (cv)->f; f_++)                                           \
                for (int64_t oy_ = 0; oy_ < (cv)->ho; oy_++)                                   \
                    for (int64_t ox_ = 0; ox_ < (cv)->wo; ox_++) {                             \
                        int64_t yi = ((b_ * (cv)->f + f_) * (cv)->ho + oy_) * (cv)->wo + ox_;   \
                        int64_t g_ = f_ / fg_;                                                 \
                        for (int64_t c_ = 0; c_ < cg_; c_++)                                   \
                            for (int64_t ky_ = 0; ky_ < (cv)->kh; ky_++)                       \
                                for (int64_t kx_ = 0; kx_ < (cv)->kw; kx_++) {                 \
                                    int64_t iy_ = oy_ * (cv)->stride + ky_ * (cv)->dilation -  \
                                                  (cv)->pad_top;                               \
                                    int64_t ix_ = ox_ * (cv)->stride + kx_ * (cv)->dilation -  \
                                                  (cv)->pad_left;                              \
                                    if (iy_ < 0 || iy_ >= (cv)->h || ix_ < 0 || ix_ >= (cv)->w) \
                                        continue;                                              \
                                    int64_t xi = ((b_ * (cv)->c + g_ * cg_ + c_) * (cv)->h +   \
                                                  iy_) * (cv)->w + ix_;                        \
                                    int64_t wi = ((f_ * cg_ + c_) * (cv)->kh + ky_) * (cv)->kw + \
                                                 kx_;                                          \
                                    body;                                                      \
                                }                                                              \
                    }                                                                          \
    } while (0)

/* y (B,F,Ho,Wo) = conv(x, w) + bias in double; mag gets sum |terms|. */
static void ref_forward(const rt_conv2d *cv, int64_t batch, const double *x, const double *w,
                        const double *bias, double *y, double *mag)
{
    int64_t p = cv->ho * cv->wo, ny = batch * cv->f * p;
    for (int64_t i = 0; i < ny; i++) {
        double b = bias ? bias[(i / p) % cv->f] : 0.0;
        y[i] = b;
        if (mag)
            mag[i] = fabs(b);
    }
    FOR_EACH_TAP(cv, batch, yi, xi, wi, {
        y[yi] += x[xi] * w[wi];
        if (mag)
            mag[yi] += fabs(x[xi] * w[wi]);
    });
}

static void ref_backward_data(const rt_conv2d *cv, int64_t batch, const double *dy,
                              const double *w, double *dx, double *mag)
{
    FOR_EACH_TAP(cv, batch, yi, xi, wi, {
        dx[xi] += dy[yi] * w[wi];
        mag[xi] += fabs(dy[yi] * w[wi]);
    });
}

static void ref_backward_filter(const rt_conv2d *cv, int64_t batch, const double *x,
                                const double *dy, double *dw, double *mag)
{
    FOR_EACH_TAP(cv, batch, yi, xi, wi, {
        dw[wi] += dy[yi] * x[xi];
        mag[wi] += fabs(dy[yi] * x[xi]);
    });
}

static double *to_double(const float *x, int64_t n)
{
    double *d = alloc_doubles(n);
    for (int64_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

static bool close_to(double got, double ref, double mag)
{
    return fabs(got - ref) <= 1e-5 * mag + 1e-6;
}

static double ref_act(rt_act act, double x)
{
    switch (act) {
    case RT_ACT_RELU: return x > 0 ? x : 0;
    case RT_ACT_TANH: return tanh(x);
    default: return x;
    }
}

/* ---------------------------------------------------------------- forward */

START_TEST(test_forward)
{
    /* the last: ReLU with no pre-activation (AVX-512 depthwise applies it
     * as it stores) */
    static const rt_act acts[] = { RT_ACT_NONE, RT_ACT_RELU, RT_ACT_TANH, RT_ACT_RELU };
    FOR_EACH_ISA(isa) {
        for (int ci = 0; ci < NCASES; ci++)
            for (int64_t batch = 1; batch <= 3; batch += 2) {
                rt_conv2d cv = make_conv(&cases[ci]);
                sizes n = sizes_of(&cv, batch);
                float *x = alloc_floats(n.x), *w = alloc_floats(n.w), *bias = alloc_floats(cv.f);
                float *y = alloc_floats(n.y), *pre = alloc_floats(n.y);
                test_fill(x, n.x, (uint32_t)(ci + 1));
                test_fill(w, n.w, (uint32_t)(ci + 101));
                test_fill(bias, cv.f, (uint32_t)(ci + 201));
                double *xd = to_double(x, n.x), *wd = to_double(w, n.w), *bd = to_double(bias, cv.f);
                double *ref = alloc_doubles(n.y), *mag = alloc_doubles(n.y);
                for (int a = 0; a < 4; a++) {
                    bool with_bias = a != 1;
                    bool with_pre = a == 1 || a == 2;
                    ref_forward(&cv, batch, xd, wd, with_bias ? bd : NULL, ref, mag);
                    /* every output must be written: no stale values pass */
                    for (int64_t i = 0; i < n.y; i++)
                        y[i] = pre[i] = NAN;
                    rt_conv2d_forward(&cv, batch, x, w, with_bias ? bias : NULL, acts[a], 0.0f,
                                      with_pre ? pre : NULL, y);
                    for (int64_t i = 0; i < n.y; i++) {
                        if (with_pre)
                            CHECK_MSG(close_to(pre[i], ref[i], mag[i]),
                                      "%s isa %d batch %lld preact[%lld]: %.9g want %.9g",
                                      cases[ci].name, isa, (long long)batch, (long long)i,
                                      (double)pre[i], ref[i]);
                        double want = ref_act(acts[a], ref[i]);
                        CHECK_MSG(close_to(y[i], want, mag[i] + 1e-6 * fabs(want)),
                                  "%s isa %d batch %lld act %d y[%lld]: %.9g want %.9g",
                                  cases[ci].name, isa, (long long)batch, a, (long long)i,
                                  (double)y[i], want);
                    }
                }
                free(x), free(w), free(bias), free(y), free(pre);
                free(xd), free(wd), free(bd), free(ref), free(mag);
            }
    }
}
END_TEST

/* LeNet's layers at batch 16: several samples share a GEMM, several
 * chunks; conv1's filter gradient reduces over 2 x 576 pixels per chunk,
 * long enough for the AVX-512 dot-product kernel. */
START_TEST(test_lenet_shapes)
{
    static const conv_case lenet[] = {
        { "lenet conv1", 1, 28, 28, 32, 5, 5, 1, 1, 1, 0, 0, 0, 0 },
        { "lenet conv2", 32, 12, 12, 64, 5, 5, 1, 1, 1, 0, 0, 0, 0 },
        /* lenet.net's conv2: 100 output pixels, not a whole number of
         * 32-wide tiles; on AVX-512 the pixels are the GEMM's rows */
        { "lenet.net conv2", 32, 14, 14, 64, 5, 5, 1, 1, 1, 0, 0, 0, 0 },
        /* two groups of 32 filters, K = 144: the same path per group */
        { "grouped 2x32 filters", 32, 9, 9, 64, 3, 3, 1, 1, 2, 1, 1, 1, 1 },
        /* short reduction, 24 filters per group: on AVX-512 the filter
         * gradient runs as dw^T = col dy^T with dy^T padded to 32 columns */
        { "grouped 2x24 filters, 2x2 out", 64, 6, 6, 48, 5, 5, 1, 1, 2, 0, 0, 0, 0 },
        /* the two shapes with algorithms of their own */
        { "depthwise 3x3, 32 channels", 32, 9, 9, 32, 3, 3, 1, 1, 32, 1, 1, 1, 1 },
        { "pointwise 32 -> 64", 32, 9, 9, 64, 1, 1, 1, 1, 1, 0, 0, 0, 0 },
    };
    const int64_t batch = 16;
    FOR_EACH_ISA(isa) {
        for (int run = 0; run < 2 * (int)(sizeof lenet / sizeof lenet[0]); run++) {
            /* each shape with the algorithm the compiler would choose, then
             * with im2col + GEMM, which every shape admits */
            int ci = run / 2;
            rt_conv2d cv = make_conv(&lenet[ci]);
            cv.algo = run % 2 ? RT_CONV_GEMM : rt_conv2d_choose(&cv);
            sizes n = sizes_of(&cv, batch);
            float *x = alloc_floats(n.x), *w = alloc_floats(n.w), *y = alloc_floats(n.y);
            float *dy = alloc_floats(n.y), *dx = alloc_floats(n.x), *dw = alloc_floats(n.w);
            test_fill(x, n.x, 7);
            test_fill(w, n.w, 8);
            test_fill(dy, n.y, 9);
            double *xd = to_double(x, n.x), *wd = to_double(w, n.w), *dyd = to_double(dy, n.y);
            double *ref = alloc_doubles(n.y), *mag = alloc_doubles(n.y);
            double *rdx = alloc_doubles(n.x), *mdx = alloc_doubles(n.x);
            double *rdw = alloc_doubles(n.w), *mdw = alloc_doubles(n.w);
            ref_forward(&cv, batch, xd, wd, NULL, ref, mag);
            ref_backward_data(&cv, batch, dyd, wd, rdx, mdx);
            ref_backward_filter(&cv, batch, xd, dyd, rdw, mdw);
            rt_conv2d_forward(&cv, batch, x, w, NULL, RT_ACT_NONE, 0.0f, NULL, y);
            rt_conv2d_backward_data(&cv, batch, dy, w, dx);
            rt_conv2d_backward_filter(&cv, batch, x, dy, dw, NULL, false);
            for (int64_t i = 0; i < n.y; i++)
                CHECK_MSG(close_to(y[i], ref[i], mag[i]), "%s (%s) isa %d y[%lld]: %.9g want %.9g",
                          lenet[ci].name, rt_conv_algo_name(cv.algo), isa, (long long)i, (double)y[i], ref[i]);
            for (int64_t i = 0; i < n.x; i++)
                CHECK_MSG(close_to(dx[i], rdx[i], mdx[i]), "%s (%s) isa %d dx[%lld]: %.9g want %.9g",
                          lenet[ci].name, rt_conv_algo_name(cv.algo), isa, (long long)i, (double)dx[i], rdx[i]);
            for (int64_t i = 0; i < n.w; i++)
                CHECK_MSG(close_to(dw[i], rdw[i], mdw[i]), "%s (%s) isa %d dw[%lld]: %.9g want %.9g",
                          lenet[ci].name, rt_conv_algo_name(cv.algo), isa, (long long)i, (double)dw[i], rdw[i]);
            free(x), free(w), free(y), free(dy), free(dx), free(dw);
            free(xd), free(wd), free(dyd), free(ref), free(mag), free(rdx), free(mdx), free(rdw),
                free(mdw);
        }
    }
}
END_TEST

/* --------------------------------------------------------------- backward */

START_TEST(test_backward)
{
    FOR_EACH_ISA(isa) {
        for (int ci = 0; ci < NCASES; ci++)
            for (int64_t batch = 1; batch <= 3; batch += 2) {
                rt_conv2d cv = make_conv(&cases[ci]);
                sizes n = sizes_of(&cv, batch);
                float *x = alloc_floats(n.x), *w = alloc_floats(n.w), *dy = alloc_floats(n.y);
                float *dx = alloc_floats(n.x), *dw = alloc_floats(n.w), *db = alloc_floats(cv.f);
                float *y = alloc_floats(n.y);
                test_fill(x, n.x, (uint32_t)(ci + 11));
                test_fill(w, n.w, (uint32_t)(ci + 111));
                test_fill(dy, n.y, (uint32_t)(ci + 211));
                /* dx is overwritten, never added to. */
                for (int64_t i = 0; i < n.x; i++)
                    dx[i] = 1e6f;
                rt_conv2d_backward_data(&cv, batch, dy, w, dx);
                rt_conv2d_backward_filter(&cv, batch, x, dy, dw, db, false);
                double *xd = to_double(x, n.x), *wd = to_double(w, n.w), *dyd = to_double(dy, n.y);
                double *rdx = alloc_doubles(n.x), *mdx = alloc_doubles(n.x);
                double *rdw = alloc_doubles(n.w), *mdw = alloc_doubles(n.w);
                ref_backward_data(&cv, batch, dyd, wd, rdx, mdx);
                ref_backward_filter(&cv, batch, xd, dyd, rdw, mdw);
                for (int64_t i = 0; i < n.x; i++)
                    CHECK_MSG(close_to(dx[i], rdx[i], mdx[i]),
                              "%s isa %d batch %lld dx[%lld]: %.9g want %.9g", cases[ci].name,
                              isa, (long long)batch, (long long)i, (double)dx[i], rdx[i]);
                for (int64_t i = 0; i < n.w; i++)
                    CHECK_MSG(close_to(dw[i], rdw[i], mdw[i]),
                              "%s isa %d batch %lld dw[%lld]: %.9g want %.9g", cases[ci].name,
                              isa, (long long)batch, (long long)i, (double)dw[i], rdw[i]);
                int64_t p = cv.ho * cv.wo;
                for (int64_t f = 0; f < cv.f; f++) {
                    double sum = 0, mag = 0;
                    for (int64_t b = 0; b < batch; b++)
                        for (int64_t i = 0; i < p; i++) {
                            sum += dy[(b * cv.f + f) * p + i];
                            mag += fabs(dy[(b * cv.f + f) * p + i]);
                        }
                    CHECK_MSG(close_to(db[f], sum, mag), "%s db[%lld]: %.9g want %.9g",
                              cases[ci].name, (long long)f, (double)db[f], sum);
                }

                /* The adjoint identity on the kernels' own outputs:
                 * sum(dy * conv(x)) == sum(conv^T(dy) * x) == sum(dw * w). */
                rt_conv2d_forward(&cv, batch, x, w, NULL, RT_ACT_NONE, 0.0f, NULL, y);
                double lhs = 0, rhs = 0, rhs_w = 0, mag = 0;
                for (int64_t i = 0; i < n.y; i++)
                    lhs += (double)dy[i] * y[i];
                for (int64_t i = 0; i < n.x; i++) {
                    rhs += (double)dx[i] * x[i];
                    mag += fabs((double)mdx[i] * x[i]);
                }
                for (int64_t i = 0; i < n.w; i++)
                    rhs_w += (double)dw[i] * w[i];
                CHECK_MSG(fabs(lhs - rhs) <= 1e-5 * mag + 1e-5, "%s adjoint: %.12g vs %.12g",
                          cases[ci].name, lhs, rhs);
                CHECK_MSG(fabs(lhs - rhs_w) <= 1e-5 * mag + 1e-5, "%s adjoint w: %.12g vs %.12g",
                          cases[ci].name, lhs, rhs_w);

                free(x), free(w), free(dy), free(dx), free(dw), free(db), free(y);
                free(xd), free(wd), free(dyd), free(rdx), free(mdx), free(rdw), free(mdw);
            }
    }
}
END_TEST

/* L(x, w, b) = sum(dy * conv(x, w) + b), in double. */
static double ref_loss(const rt_conv2d *cv, int64_t batch, const double *x, const double *w,
                       const double *bias, const double *dy, double *scratch)
{
    ref_forward(cv, batch, x, w, bias, scratch, NULL);
    int64_t n = batch * cv->f * cv->ho * cv->wo;
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += dy[i] * scratch[i];
    return sum;
}

/* Central differences of the double reference at a spread of elements of
 * x, w and bias against the kernels' gradients. */
START_TEST(test_backward_finite_differences)
{
    const double h = 1e-3;
    const int64_t batch = 2;
    for (int ci = 0; ci < NCASES; ci++) {
        rt_conv2d cv = make_conv(&cases[ci]);
        sizes n = sizes_of(&cv, batch);
        /* Each difference is a whole reference forward pass: the large
         * case would take most of the suite's time under ASAN, and its
         * gradients are held to the exact adjoint in test_backward. */
        if (n.w * cv.ho * cv.wo > 1000000)
            continue;
        float *x = alloc_floats(n.x), *w = alloc_floats(n.w), *dy = alloc_floats(n.y);
        float *dx = alloc_floats(n.x), *dw = alloc_floats(n.w), *db = alloc_floats(cv.f);
        test_fill(x, n.x, (uint32_t)(ci + 21));
        test_fill(w, n.w, (uint32_t)(ci + 121));
        test_fill(dy, n.y, (uint32_t)(ci + 221));
        rt_conv2d_backward_data(&cv, batch, dy, w, dx);
        rt_conv2d_backward_filter(&cv, batch, x, dy, dw, db, false);
        double *xd = to_double(x, n.x), *wd = to_double(w, n.w), *dyd = to_double(dy, n.y);
        double *bd = alloc_doubles(cv.f), *scratch = alloc_doubles(n.y);
        for (int64_t i = 0; i < n.x; i += 1 + n.x / 23) {
            double keep = xd[i];
            xd[i] = keep + h;
            double up = ref_loss(&cv, batch, xd, wd, bd, dyd, scratch);
            xd[i] = keep - h;
            double down = ref_loss(&cv, batch, xd, wd, bd, dyd, scratch);
            xd[i] = keep;
            double fd = (up - down) / (2 * h);
            CHECK_MSG(fabs(dx[i] - fd) <= 1e-4 * (1 + fabs(fd)), "%s dx[%lld]: %.9g fd %.9g",
                      cases[ci].name, (long long)i, (double)dx[i], fd);
        }
        for (int64_t i = 0; i < n.w; i += 1 + n.w / 23) {
            double keep = wd[i];
            wd[i] = keep + h;
            double up = ref_loss(&cv, batch, xd, wd, bd, dyd, scratch);
            wd[i] = keep - h;
            double down = ref_loss(&cv, batch, xd, wd, bd, dyd, scratch);
            wd[i] = keep;
            double fd = (up - down) / (2 * h);
            CHECK_MSG(fabs(dw[i] - fd) <= 1e-4 * (1 + fabs(fd)), "%s dw[%lld]: %.9g fd %.9g",
                      cases[ci].name, (long long)i, (double)dw[i], fd);
        }
        for (int64_t f = 0; f < cv.f; f++) {
            bd[f] = h;
            double up = ref_loss(&cv, batch, xd, wd, bd, dyd, scratch);
            bd[f] = -h;
            double down = ref_loss(&cv, batch, xd, wd, bd, dyd, scratch);
            bd[f] = 0;
            double fd = (up - down) / (2 * h);
            CHECK_MSG(fabs(db[f] - fd) <= 1e-4 * (1 + fabs(fd)), "%s db[%lld]: %.9g fd %.9g",
                      cases[ci].name, (long long)f, (double)db[f], fd);
        }
        free(x), free(w), free(dy), free(dx), free(dw), free(db);
        free(xd), free(wd), free(dyd), free(bd), free(scratch);
    }
}
END_TEST

START_TEST(test_filter_accumulate)
{
    rt_conv2d cv = make_conv(&cases[1]);
    const int64_t batch = 3;
    sizes n = sizes_of(&cv, batch);
    float *x = alloc_floats(n.x), *dy = alloc_floats(n.y);
    float *dw = alloc_floats(n.w), *dw2 = alloc_floats(n.w), *db = alloc_floats(cv.f),
          *db2 = alloc_floats(cv.f);
    test_fill(x, n.x, 31);
    test_fill(dy, n.y, 32);
    rt_conv2d_backward_filter(&cv, batch, x, dy, dw, db, false);
    for (int64_t i = 0; i < n.w; i++)
        dw2[i] = 0.5f;
    for (int64_t i = 0; i < cv.f; i++)
        db2[i] = -0.25f;
    rt_conv2d_backward_filter(&cv, batch, x, dy, dw2, db2, true);
    for (int64_t i = 0; i < n.w; i++)
        CHECK_MSG(fabsf(dw2[i] - (dw[i] + 0.5f)) <= 1e-6f * (1 + fabsf(dw[i])), "dw[%lld]",
                  (long long)i);
    for (int64_t i = 0; i < cv.f; i++)
        CHECK_MSG(fabsf(db2[i] - (db[i] - 0.25f)) <= 1e-6f * (1 + fabsf(db[i])), "db[%lld]",
                  (long long)i);
    /* db may be NULL */
    rt_conv2d_backward_filter(&cv, batch, x, dy, dw2, NULL, false);
    CHECK(memcmp(dw, dw2, (size_t)n.w * sizeof *dw) == 0);
    free(x), free(dy), free(dw), free(dw2), free(db), free(db2);
}
END_TEST

/* 1 and 2 threads: the same bits, on batches that make several chunks
 * (batch 20) and on one sample (the GEMM itself is threaded). */
START_TEST(test_threads_identical)
{
    static const conv_case big[] = {
        { "lenet conv2", 32, 12, 12, 64, 5, 5, 1, 1, 1, 0, 0, 0, 0 },
        { "resnet 3x3", 16, 14, 14, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1 },
        { "1x1", 32, 8, 8, 48, 1, 1, 1, 1, 1, 0, 0, 0, 0 },
        { "grouped strided", 8, 15, 13, 8, 3, 3, 2, 1, 4, 1, 1, 1, 1 },
        { "lenet conv1", 1, 28, 28, 32, 5, 5, 1, 1, 1, 0, 0, 0, 0 },
        { "depthwise x2 strided", 16, 14, 14, 32, 3, 3, 2, 1, 16, 1, 1, 1, 1 },
        { "depthwise 3x3, 37 wide", 24, 21, 37, 24, 3, 3, 1, 1, 24, 1, 1, 1, 1 },
        { "depthwise 5x5 x2 stride 2 asymmetric", 8, 19, 30, 16, 5, 5, 2, 1, 8, 1, 2, 2, 1 },
        { "depthwise 3x3 dilation 2", 12, 16, 20, 12, 3, 3, 1, 2, 12, 2, 2, 2, 2 },
        /* big enough that batch 1 is split over threads by output pixels */
        { "3x3 padded, split", 32, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1 },
        { "5x5 stride 2 asymmetric, split", 16, 31, 29, 64, 5, 5, 2, 1, 1, 1, 2, 2, 1 },
        { "lenet.net conv2, split", 32, 14, 14, 64, 5, 5, 1, 1, 1, 0, 0, 0, 0 },
    };
    static const int64_t batches[] = { 1, 20 };
    FOR_EACH_ISA(isa) {
        for (int ci = 0; ci < (int)(sizeof big / sizeof big[0]); ci++)
            for (int bi = 0; bi < 2; bi++) {
                int64_t batch = batches[bi];
                rt_conv2d cv = make_conv(&big[ci]);
                sizes n = sizes_of(&cv, batch);
                float *x = alloc_floats(n.x), *w = alloc_floats(n.w), *bias = alloc_floats(cv.f);
                float *dy = alloc_floats(n.y);
                float *y[2], *pre[2], *dx[2], *dw[2], *db[2];
                for (int t = 0; t < 2; t++) {
                    y[t] = alloc_floats(n.y), pre[t] = alloc_floats(n.y);
                    dx[t] = alloc_floats(n.x), dw[t] = alloc_floats(n.w), db[t] = alloc_floats(cv.f);
                }
                test_fill(x, n.x, 41);
                test_fill(w, n.w, 42);
                test_fill(bias, cv.f, 43);
                test_fill(dy, n.y, 44);
                for (int t = 0; t < 2; t++) {
                    rt_threads_init(t + 1);
                    rt_conv2d_forward(&cv, batch, x, w, bias, RT_ACT_RELU, 0.0f, pre[t], y[t]);
                    rt_conv2d_backward_data(&cv, batch, dy, w, dx[t]);
                    rt_conv2d_backward_filter(&cv, batch, x, dy, dw[t], db[t], false);
                }
                CHECK_MSG(memcmp(y[0], y[1], (size_t)n.y * sizeof(float)) == 0, "%s y", big[ci].name);
                CHECK_MSG(memcmp(pre[0], pre[1], (size_t)n.y * sizeof(float)) == 0, "%s pre", big[ci].name);
                CHECK_MSG(memcmp(dx[0], dx[1], (size_t)n.x * sizeof(float)) == 0, "%s dx", big[ci].name);
                CHECK_MSG(memcmp(dw[0], dw[1], (size_t)n.w * sizeof(float)) == 0, "%s dw", big[ci].name);
                CHECK_MSG(memcmp(db[0], db[1], (size_t)cv.f * sizeof(float)) == 0, "%s db", big[ci].name);
                free(x), free(w), free(bias), free(dy);
                for (int t = 0; t < 2; t++)
                    free(y[t]), free(pre[t]), free(dx[t]), free(dw[t]), free(db[t]);
            }
    }
    rt_threads_init(0);
}
END_TEST

/* The fused convolution + max-pool gives the bits of rt_conv2d_forward
 * followed by rt_maxpool_forward, on every path, for one and two threads,
 * with y and without (y NULL):
 * batch 1 splits a sample over the threads (the parts must keep pooling
 * windows whole), batch 5 runs samples whole. */
START_TEST(test_forward_maxpool)
{
    static const struct {
        conv_case k;
        int64_t size;
    } fused[] = {
        { { "lenet conv1 valid, pool 2", 1, 28, 28, 32, 5, 5, 1, 1, 1, 0, 0, 0, 0 }, 2 },
        { { "lenet conv2 valid, pool 2", 32, 12, 12, 64, 5, 5, 1, 1, 1, 0, 0, 0, 0 }, 2 },
        { { "lenet.net conv2, pool 2", 32, 14, 14, 64, 5, 5, 1, 1, 1, 0, 0, 0, 0 }, 2 },
        /* 15x13 output: the last row and column are outside every window */
        { { "odd output, pool 2", 8, 17, 15, 16, 3, 3, 1, 1, 1, 0, 0, 0, 0 }, 2 },
        { { "3x3 same, pool 3", 16, 18, 18, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1 }, 3 },
        { { "pointwise, pool 2", 32, 16, 16, 64, 1, 1, 1, 1, 1, 0, 0, 0, 0 }, 2 },
        { { "depthwise, pool 2", 16, 16, 16, 16, 3, 3, 1, 1, 16, 1, 1, 1, 1 }, 2 },
        /* AVX-512 direct tiles: 6 output rows (the last tile 2 rows), 20
         * filters; 3 K slices, 13 filters, 16 output columns */
        { { "direct, 6x8 output, 20 filters, pool 2", 3, 10, 12, 20, 5, 5, 1, 1, 1, 0, 0, 0, 0 }, 2 },
        { { "direct, K 800, 13 filters, pool 2", 32, 12, 20, 13, 5, 5, 1, 1, 1, 0, 0, 0, 0 }, 2 },
    };
    static const int64_t batches[] = { 1, 5 };
    FOR_EACH_ISA(isa) {
        for (int ci = 0; ci < (int)(sizeof fused / sizeof fused[0]); ci++)
            for (int bi = 0; bi < 2; bi++)
                for (int threads = 1; threads <= 2; threads++) {
                    int64_t batch = batches[bi];
                    rt_threads_init(threads);
                    rt_conv2d cv = make_conv(&fused[ci].k);
                    cv.algo = rt_conv2d_choose(&cv);
                    int64_t size = fused[ci].size;
                    rt_pool2d pl = { .c = cv.f, .h = cv.ho, .w = cv.wo, .size = size, .stride = size,
                                     .pad = 0, .ho = cv.ho / size, .wo = cv.wo / size };
                    sizes n = sizes_of(&cv, batch);
                    int64_t np = batch * pl.c * pl.ho * pl.wo;
                    float *x = alloc_floats(n.x), *w = alloc_floats(n.w), *bias = alloc_floats(cv.f);
                    float *y[2] = { alloc_floats(n.y), alloc_floats(n.y) };
                    float *pooled[2] = { alloc_floats(np), alloc_floats(np) };
                    test_fill(x, n.x, 51);
                    test_fill(w, n.w, 52);
                    test_fill(bias, cv.f, 53);
                    for (int64_t i = 0; i < np; i++)
                        pooled[1][i] = NAN;
                    rt_conv2d_forward(&cv, batch, x, w, bias, RT_ACT_RELU, 0.0f, NULL, y[0]);
                    rt_maxpool_forward(&pl, batch, y[0], pooled[0]);
                    rt_conv2d_forward_maxpool(&cv, &pl, batch, x, w, bias, RT_ACT_RELU, 0.0f, NULL, y[1],
                                              pooled[1]);
                    CHECK_MSG(memcmp(y[0], y[1], (size_t)n.y * sizeof(float)) == 0,
                              "%s isa %d batch %lld threads %d: y differs", fused[ci].k.name, isa,
                              (long long)batch, threads);
                    CHECK_MSG(memcmp(pooled[0], pooled[1], (size_t)np * sizeof(float)) == 0,
                              "%s isa %d batch %lld threads %d: pooled differs", fused[ci].k.name, isa,
                              (long long)batch, threads);
                    /* y NULL (inference wants the pool alone): the same pool */
                    for (int64_t i = 0; i < np; i++)
                        pooled[1][i] = NAN;
                    rt_conv2d_forward_maxpool(&cv, &pl, batch, x, w, bias, RT_ACT_RELU, 0.0f, NULL, NULL,
                                              pooled[1]);
                    CHECK_MSG(memcmp(pooled[0], pooled[1], (size_t)np * sizeof(float)) == 0,
                              "%s isa %d batch %lld threads %d: pooled differs without y", fused[ci].k.name,
                              isa, (long long)batch, threads);
                    free(x), free(w), free(bias);
                    for (int t = 0; t < 2; t++)
                        free(y[t]), free(pooled[t]);
                }
    }
    rt_threads_init(0);
}
END_TEST

/* A sample's output does not depend on the batch around it: at batch 1
 * the AVX-512 forward pass runs direct register tiles (no im2col, bias,
 * ReLU and pool in registers) or reads w in place, at batch 20 it packs w
 * (and LeNet conv2 takes pixels as the GEMM's rows); the FMA chain and the
 * epilogue of each output are the same, so are the bits, with the fused
 * 2x2 pool too. Bias or none, ReLU or none. */
START_TEST(test_forward_batch_independent)
{
    static const conv_case shapes[] = {
        { "lenet conv2 valid", 32, 12, 12, 64, 5, 5, 1, 1, 1, 0, 0, 0, 0 },
        { "lenet conv1 valid", 1, 28, 28, 32, 5, 5, 1, 1, 1, 0, 0, 0, 0 },
        { "3x3 pad 1, 24 filters", 8, 10, 10, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1 },
        { "5x5 valid, 6x16 output, 20 filters", 3, 10, 20, 20, 5, 5, 1, 1, 1, 0, 0, 0, 0 },
    };
    const int64_t batch = 20;
    FOR_EACH_ISA(isa) {
        for (int ci = 0; ci < (int)(sizeof shapes / sizeof shapes[0]); ci++)
            for (int variant = 0; variant < 3; variant++) {
                rt_conv2d cv = make_conv(&shapes[ci]);
                cv.algo = rt_conv2d_choose(&cv);
                rt_act act = variant == 2 ? RT_ACT_NONE : RT_ACT_RELU;
                bool with_bias = variant != 1;
                bool pooled = cv.ho % 2 == 0 && cv.wo % 2 == 0;
                rt_pool2d pl = { .c = cv.f, .h = cv.ho, .w = cv.wo, .size = 2, .stride = 2, .pad = 0,
                                 .ho = cv.ho / 2, .wo = cv.wo / 2 };
                sizes n = sizes_of(&cv, batch);
                int64_t ys = n.y / batch, ps = ys / 4;
                float *x = alloc_floats(n.x), *w = alloc_floats(n.w), *bias = alloc_floats(cv.f);
                float *all = alloc_floats(n.y), *one = alloc_floats(ys);
                float *pall = alloc_floats(n.y / 4), *pone = alloc_floats(ps);
                test_fill(x, n.x, 61);
                test_fill(w, n.w, 62);
                test_fill(bias, cv.f, 63);
                const float *b_or_null = with_bias ? bias : NULL;
                if (pooled)
                    rt_conv2d_forward_maxpool(&cv, &pl, batch, x, w, b_or_null, act, 0.0f, NULL, all, pall);
                else
                    rt_conv2d_forward(&cv, batch, x, w, b_or_null, act, 0.0f, NULL, all);
                for (int64_t b = 0; b < batch; b++) {
                    const float *xb = x + b * (n.x / batch);
                    if (pooled)
                        rt_conv2d_forward_maxpool(&cv, &pl, 1, xb, w, b_or_null, act, 0.0f, NULL, one, pone);
                    else
                        rt_conv2d_forward(&cv, 1, xb, w, b_or_null, act, 0.0f, NULL, one);
                    CHECK_MSG(memcmp(one, all + b * ys, (size_t)ys * sizeof *one) == 0,
                              "%s isa %d variant %d: sample %lld alone differs from inside the batch",
                              shapes[ci].name, isa, variant, (long long)b);
                    CHECK_MSG(!pooled || memcmp(pone, pall + b * ps, (size_t)ps * sizeof *pone) == 0,
                              "%s isa %d variant %d: sample %lld's pool alone differs from inside the batch",
                              shapes[ci].name, isa, variant, (long long)b);
                }
                free(x), free(w), free(bias), free(all), free(one), free(pall), free(pone);
            }
    }
}
END_TEST

/* A pool with overlapping windows cannot ride in the conv's tasks. */
START_TEST(test_forward_maxpool_overlapping_aborts)
{
    rt_conv2d cv = make_conv(&cases[0]);
    rt_pool2d pl = { .c = cv.f, .h = cv.ho, .w = cv.wo, .size = 3, .stride = 2, .pad = 0,
                     .ho = (cv.ho - 3) / 2 + 1, .wo = (cv.wo - 3) / 2 + 1 };
    float x[144] = {0}, w[100] = {0}, y[256] = {0}, p[64] = {0};
    rt_conv2d_forward_maxpool(&cv, &pl, 1, x, w, NULL, RT_ACT_NONE, 0.0f, NULL, y, p);
}
END_TEST

START_TEST(test_bad_output_size_aborts)
{
    rt_conv2d cv = make_conv(&cases[0]);
    cv.ho += 1;
    float x[1] = {0}, w[1] = {0}, y[1] = {0};
    rt_conv2d_forward(&cv, 1, x, w, NULL, RT_ACT_NONE, 0.0f, NULL, y);
}
END_TEST

/* A 5x5 layer told to run as a pointwise GEMM: the kernel refuses. */
START_TEST(test_wrong_algorithm_aborts)
{
    rt_conv2d cv = make_conv(&cases[0]);
    cv.algo = RT_CONV_POINTWISE;
    float x[144] = {0}, w[100] = {0}, y[256] = {0};
    rt_conv2d_forward(&cv, 1, x, w, NULL, RT_ACT_NONE, 0.0f, NULL, y);
}
END_TEST

static Suite *conv_suite(void)
{
    Suite *s = suite_create("rt_conv");
    TCase *tc = test_case("conv");
    tcase_add_test(tc, test_forward);
    tcase_add_test(tc, test_lenet_shapes);
    tcase_add_test(tc, test_backward);
    tcase_add_test(tc, test_backward_finite_differences);
    tcase_add_test(tc, test_filter_accumulate);
    tcase_add_test(tc, test_threads_identical);
    tcase_add_test_raise_signal(tc, test_bad_output_size_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, test_wrong_algorithm_aborts, SIGABRT);
    tcase_add_test(tc, test_forward_maxpool);
    tcase_add_test(tc, test_forward_batch_independent);
    tcase_add_test_raise_signal(tc, test_forward_maxpool_overlapping_aborts, SIGABRT);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(conv_suite)
