/* test_rt_pool.c — max, average and global average pooling.
 *
 * Forward passes against direct references written here (max pooling is
 * exact; averages within 1e-6 relative); backward passes against the
 * references' adjoints and the tie rule (the first maximum in row-major
 * window order gets the gradient, as in PyTorch); max pooling on every
 * instruction-set path (2x2/2 has an AVX-512 kernel); 1 vs 2 threads bitwise.
 */
#include <float.h>
#include <string.h>

#include "netrt.h"
#include "testutil.h"



/* c, h, w, size, stride, pad */
static const int64_t pool_cases[][6] = {
    { 3, 8, 8, 2, 2, 0 },  /* the usual 2x2/2 */
    { 2, 7, 5, 2, 2, 0 },  /* odd sizes: last row/column dropped */
    { 2, 7, 5, 3, 2, 1 },  /* overlapping, padded */
    { 1, 9, 6, 3, 1, 1 },  /* stride 1 */
    { 2, 5, 7, 3, 3, 0 },
    { 1, 4, 4, 4, 1, 2 },  /* pad = size/2 */
    { 2, 8, 40, 2, 2, 0 }, /* 2x2/2, 20 windows a row: 16 + a masked 4 on AVX-512 */
    { 1, 9, 35, 2, 2, 0 }, /* 17 windows a row, odd last row and column */
};
#define NPOOL (int)(sizeof pool_cases / sizeof pool_cases[0])

static rt_pool2d make_pool(int i)
{
    const int64_t *k = pool_cases[i];
    rt_pool2d p = { .c = k[0], .h = k[1], .w = k[2], .size = k[3], .stride = k[4], .pad = k[5] };
    p.ho = (p.h + 2 * p.pad - p.size) / p.stride + 1;
    p.wo = (p.w + 2 * p.pad - p.size) / p.stride + 1;
    return p;
}

/* Reference: index of the first max of window (b*c planes flattened) or
 * the average with padding counted as zeros. */
static int64_t ref_argmax(const rt_pool2d *p, const float *plane, int64_t oy, int64_t ox)
{
    int64_t best = -1;
    float max = -FLT_MAX;
    for (int64_t ky = 0; ky < p->size; ky++)
        for (int64_t kx = 0; kx < p->size; kx++) {
            int64_t iy = oy * p->stride - p->pad + ky, ix = ox * p->stride - p->pad + kx;
            if (iy < 0 || iy >= p->h || ix < 0 || ix >= p->w)
                continue;
            if (best < 0 || plane[iy * p->w + ix] > max) {
                max = plane[iy * p->w + ix];
                best = iy * p->w + ix;
            }
        }
    return best;
}

static double ref_avg(const rt_pool2d *p, const float *plane, int64_t oy, int64_t ox)
{
    double sum = 0;
    for (int64_t ky = 0; ky < p->size; ky++)
        for (int64_t kx = 0; kx < p->size; kx++) {
            int64_t iy = oy * p->stride - p->pad + ky, ix = ox * p->stride - p->pad + kx;
            if (iy >= 0 && iy < p->h && ix >= 0 && ix < p->w)
                sum += plane[iy * p->w + ix];
        }
    return sum / (double)(p->size * p->size);
}

/* Coarse values (multiples of 0.25 in [-1, 1]) so windows hold ties. */
static void fill_with_ties(float *x, int64_t n, uint32_t seed)
{
    test_fill(x, n, seed);
    for (int64_t i = 0; i < n; i++)
        x[i] = roundf(x[i] * 4.0f) / 4.0f;
}

START_TEST(test_maxpool)
{
    const int64_t batch = 3;
    FOR_EACH_ISA(isa) {
        for (int ci = 0; ci < NPOOL; ci++) {
            rt_pool2d p = make_pool(ci);
            int64_t hw = p.h * p.w, ohw = p.ho * p.wo, planes = batch * p.c;
            float *x = alloc_floats(planes * hw), *y = alloc_floats(planes * ohw);
            float *dy = alloc_floats(planes * ohw), *dx = alloc_floats(planes * hw);
            double *ref_dx = calloc((size_t)(planes * hw), sizeof *ref_dx);
            fill_with_ties(x, planes * hw, (uint32_t)ci + 1);
            test_fill(dy, planes * ohw, (uint32_t)ci + 50);
            for (int64_t i = 0; i < planes * hw; i++)
                dx[i] = 1e6f; /* overwritten */
            rt_maxpool_forward(&p, batch, x, y);
            rt_maxpool_backward(&p, batch, x, y, dy, dx);
            for (int64_t q = 0; q < planes; q++)
                for (int64_t oy = 0; oy < p.ho; oy++)
                    for (int64_t ox = 0; ox < p.wo; ox++) {
                        int64_t a = ref_argmax(&p, x + q * hw, oy, ox);
                        CHECK_MSG(y[q * ohw + oy * p.wo + ox] == x[q * hw + a], "isa %d case %d y", isa, ci);
                        ref_dx[q * hw + a] += dy[q * ohw + oy * p.wo + ox];
                    }
            for (int64_t i = 0; i < planes * hw; i++)
                CHECK_MSG(test_close(dx[i], ref_dx[i], 1e-6, 1e-6), "isa %d case %d dx[%lld]: %g want %g",
                          isa, ci, (long long)i, (double)dx[i], ref_dx[i]);
            free(x), free(y), free(dy), free(dx), free(ref_dx);
        }
    }
}
END_TEST

/* The max-pool gradient through the ReLU that produced x, in one call:
 * the bits of rt_maxpool_backward followed by rt_act_backward(RELU), on
 * every pool shape, with ties and values at and below zero (x = relu(...)
 * holds many exact zeros, whole windows of them). */
START_TEST(test_maxpool_relu_backward)
{
    const int64_t batch = 3;
    FOR_EACH_ISA(isa) {
        for (int ci = 0; ci < NPOOL; ci++) {
            rt_pool2d p = make_pool(ci);
            int64_t hw = p.h * p.w, ohw = p.ho * p.wo, planes = batch * p.c;
            float *x = alloc_floats(planes * hw), *dy = alloc_floats(planes * ohw);
            float *want = alloc_floats(planes * hw), *got = alloc_floats(planes * hw);
            fill_with_ties(x, planes * hw, (uint32_t)ci + 7);
            for (int64_t i = 0; i < planes * hw; i++)
                x[i] = x[i] > 0.0f ? x[i] : 0.0f;
            test_fill(dy, planes * ohw, (uint32_t)ci + 70);
            for (int64_t i = 0; i < planes * hw; i++)
                got[i] = NAN; /* overwritten */
            rt_maxpool_backward(&p, batch, x, NULL, dy, want);
            rt_act_backward(RT_ACT_RELU, 0.0f, planes * hw, x, x, want, want);
            rt_maxpool_relu_backward(&p, batch, x, dy, got);
            CHECK_MSG(memcmp(want, got, (size_t)(planes * hw) * sizeof *got) == 0, "isa %d case %d", isa, ci);
            /* and against the reference: the window's gradient where its first
             * maximum is positive */
            for (int64_t q = 0; q < planes; q++)
                for (int64_t oy = 0; oy < p.ho; oy++)
                    for (int64_t ox = 0; ox < p.wo; ox++) {
                        int64_t a = ref_argmax(&p, x + q * hw, oy, ox);
                        if (x[q * hw + a] > 0.0f)
                            want[q * hw + a] -= dy[q * ohw + oy * p.wo + ox];
                    }
            for (int64_t i = 0; i < planes * hw; i++)
                CHECK_MSG(fabsf(want[i]) <= 1e-6f, "isa %d case %d dx[%lld] off by %g", isa, ci, (long long)i,
                          (double)want[i]);
            free(x), free(dy), free(want), free(got);
        }
    }
}
END_TEST

/* All-equal windows: the gradient goes to the top-left element only. */
START_TEST(test_maxpool_ties_first_wins)
{
    FOR_EACH_ISA(isa) {
        rt_pool2d p = { .c = 1, .h = 4, .w = 4, .size = 2, .stride = 2, .ho = 2, .wo = 2 };
        float x[16], y[4], dy[4] = { 1, 2, 3, 4 }, dx[16];
        for (int i = 0; i < 16; i++)
            x[i] = 0.5f;
        rt_maxpool_forward(&p, 1, x, y);
        rt_maxpool_backward(&p, 1, x, y, dy, dx);
        static const float want[16] = { 1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0 };
        for (int i = 0; i < 16; i++)
            ck_assert_float_eq(dx[i], want[i]);
        /* Same through the general (3x3/1 padded) path. */
        rt_pool2d q = { .c = 1, .h = 4, .w = 4, .size = 3, .stride = 1, .pad = 1, .ho = 4, .wo = 4 };
        float y2[16], dy2[16], dx2[16];
        for (int i = 0; i < 16; i++)
            dy2[i] = 1.0f;
        rt_maxpool_forward(&q, 1, x, y2);
        rt_maxpool_backward(&q, 1, x, y2, dy2, dx2);
        /* window of (oy,ox) starts at (max(oy-1,0), max(ox-1,0)) */
        float want2[16] = { 0 };
        for (int oy = 0; oy < 4; oy++)
            for (int ox = 0; ox < 4; ox++)
                want2[(oy > 0 ? oy - 1 : 0) * 4 + (ox > 0 ? ox - 1 : 0)] += 1.0f;
        for (int i = 0; i < 16; i++)
            ck_assert_float_eq(dx2[i], want2[i]);
    }
}
END_TEST

START_TEST(test_avgpool)
{
    const int64_t batch = 2;
    for (int ci = 0; ci < NPOOL; ci++) {
        rt_pool2d p = make_pool(ci);
        int64_t hw = p.h * p.w, ohw = p.ho * p.wo, planes = batch * p.c;
        float *x = alloc_floats(planes * hw), *y = alloc_floats(planes * ohw);
        float *dy = alloc_floats(planes * ohw), *dx = alloc_floats(planes * hw);
        test_fill(x, planes * hw, (uint32_t)ci + 3);
        test_fill(dy, planes * ohw, (uint32_t)ci + 60);
        rt_avgpool_forward(&p, batch, x, y);
        for (int64_t i = 0; i < planes * hw; i++)
            dx[i] = 1e6f;
        rt_avgpool_backward(&p, batch, dy, dx);
        double lhs = 0, rhs = 0;
        for (int64_t q = 0; q < planes; q++)
            for (int64_t oy = 0; oy < p.ho; oy++)
                for (int64_t ox = 0; ox < p.wo; ox++) {
                    double ref = ref_avg(&p, x + q * hw, oy, ox);
                    float got = y[q * ohw + oy * p.wo + ox];
                    CHECK_MSG(test_close(got, ref, 1e-6, 1e-6), "case %d y: %g want %g", ci,
                              (double)got, ref);
                    lhs += ref * dy[q * ohw + oy * p.wo + ox];
                }
        /* The backward pass is the forward's adjoint. */
        for (int64_t i = 0; i < planes * hw; i++)
            rhs += (double)dx[i] * x[i];
        CHECK_MSG(test_close(lhs, rhs, 1e-5, 1e-5), "case %d adjoint %g vs %g", ci, lhs, rhs);
        free(x), free(y), free(dy), free(dx);
    }
}
END_TEST

START_TEST(test_global_avgpool)
{
    const int64_t batch = 3, c = 5, hw = 49;
    float *x = alloc_floats(batch * c * hw), *y = alloc_floats(batch * c);
    float *dy = alloc_floats(batch * c), *dx = alloc_floats(batch * c * hw);
    test_fill(x, batch * c * hw, 9);
    test_fill(dy, batch * c, 10);
    rt_global_avgpool_forward(batch, c, hw, x, y);
    rt_global_avgpool_backward(batch, c, hw, dy, dx);
    for (int64_t q = 0; q < batch * c; q++) {
        double sum = 0;
        for (int64_t i = 0; i < hw; i++) {
            sum += x[q * hw + i];
            CHECK(test_close(dx[q * hw + i], dy[q] / (double)hw, 1e-7, 1e-6));
        }
        CHECK(test_close(y[q], sum / (double)hw, 1e-7, 1e-6));
    }
    free(x), free(y), free(dy), free(dx);
}
END_TEST

START_TEST(test_threads_identical)
{
    const int64_t batch = 64;
    rt_pool2d p = { .c = 32, .h = 24, .w = 24, .size = 3, .stride = 2, .pad = 1, .ho = 12, .wo = 12 };
    int64_t nx = batch * p.c * p.h * p.w, ny = batch * p.c * p.ho * p.wo;
    float *x = alloc_floats(nx), *dy = alloc_floats(ny);
    float *y[2], *dx[2], *ya[2], *dxa[2];
    fill_with_ties(x, nx, 1);
    test_fill(dy, ny, 2);
    for (int t = 0; t < 2; t++) {
        y[t] = alloc_floats(ny), dx[t] = alloc_floats(nx);
        ya[t] = alloc_floats(ny), dxa[t] = alloc_floats(nx);
        rt_threads_init(t + 1);
        rt_maxpool_forward(&p, batch, x, y[t]);
        rt_maxpool_backward(&p, batch, x, y[t], dy, dx[t]);
        rt_avgpool_forward(&p, batch, x, ya[t]);
        rt_avgpool_backward(&p, batch, dy, dxa[t]);
    }
    CHECK(memcmp(y[0], y[1], (size_t)ny * sizeof(float)) == 0);
    CHECK(memcmp(dx[0], dx[1], (size_t)nx * sizeof(float)) == 0);
    CHECK(memcmp(ya[0], ya[1], (size_t)ny * sizeof(float)) == 0);
    CHECK(memcmp(dxa[0], dxa[1], (size_t)nx * sizeof(float)) == 0);
    for (int t = 0; t < 2; t++)
        free(y[t]), free(dx[t]), free(ya[t]), free(dxa[t]);
    free(x), free(dy);
    rt_threads_init(0);
}
END_TEST

static Suite *pool_suite(void)
{
    Suite *s = suite_create("rt_pool");
    TCase *tc = test_case("pool");
    tcase_add_test(tc, test_maxpool);
    tcase_add_test(tc, test_maxpool_ties_first_wins);
    tcase_add_test(tc, test_maxpool_relu_backward);
    tcase_add_test(tc, test_avgpool);
    tcase_add_test(tc, test_global_avgpool);
    tcase_add_test(tc, test_threads_identical);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(pool_suite)
