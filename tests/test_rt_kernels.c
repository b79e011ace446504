/* test_rt_kernels.c — elementwise, softmax, loss, copy and dropout kernels, the
 * counter-based RNG and parameter initialisation of libnetrt.
 *
 * Forward kernels are compared with double-precision references written
 * here; backward kernels with central finite differences (step 1e-3) of
 * those double references, so the tolerances measure the float kernel and
 * not the noise of differencing float values. Every kernel runs on every
 * ISA path this CPU supports, at sizes that leave SIMD tails (1, 7, 17,
 * 1000, 4099) and, where it matters, at sizes that are split over threads.
 */
#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "act_ref.h"
#include "kernels_internal.h"
#include "netrt.h"
#include "testutil.h"

static const int64_t sizes[] = { 1, 7, 17, 1000, 4099 };
#define NSIZES (int)(sizeof sizes / sizeof sizes[0])

/* Larger than the kernels' per-task chunk (32768), so the pool splits it. */
#define THREADED_N 100003

#define FD_STEP 1e-3

/* Check's ck_assert writes to a pipe even when it passes, which costs
 * seconds over a million-element loop; these only call it on failure. */



/* ------------------------------------------------------------ references */

/* ref_act, act_tolerance, act_names and NACTS: act_ref.h. Every row of
 * RT_ACT_LIST, in enum order. */
#define all_acts(a) ((rt_act)(a))

/* Inputs in [-5, 5) kept at least 0.01 from every kink (act_ref.h's
 * act_kinks: 0 for relu and leaky_relu, +-3 for hardswish), so a finite
 * difference never straddles one. */
static void fill_away_from_kink(float *x, int64_t n, uint32_t seed)
{
    test_fill(x, n, seed);
    for (int64_t i = 0; i < n; i++) {
        x[i] *= 5.0f;
        for (size_t k = 0; k < sizeof act_kinks / sizeof act_kinks[0]; k++) {
            float d = x[i] - act_kinks[k];
            if (fabsf(d) < 0.01f)
                x[i] = act_kinks[k] + (d < 0 ? -0.01f + d : 0.01f + d);
        }
    }
}

/* ----------------------------------------------------------- activations */

START_TEST(test_act_forward)
{
    const float alpha = 0.1f;
    FOR_EACH_ISA(isa) {
        for (int s = 0; s < NSIZES; s++) {
            int64_t n = sizes[s];
            float *x = alloc_floats(n), *y = alloc_floats(n);
            for (int a = 0; a < NACTS; a++) {
                rt_act act = all_acts(a);
                test_fill(x, n, (uint32_t)(17 * s + a + 1));
                for (int64_t i = 0; i < n; i++)
                    x[i] *= 6.0f;
                rt_act_forward(act, alpha, n, x, y);
                double atol = 0, rtol = 0;
                act_tolerance(act, &atol, &rtol);
                for (int64_t i = 0; i < n; i++) {
                    double ref = ref_act(act, alpha, x[i]);
                    /* the exact kinds are compared after rounding to float */
                    if (atol == 0 && rtol == 0)
                        ref = (float)ref;
                    CHECK_MSG(test_close(y[i], ref, atol, rtol),
                                  "%s %s n=%lld x[%lld]=%.9g: got %.9g, want %.9g",
                                  rt_isa_name((rt_isa)isa), act_names[a], (long long)n,
                                  (long long)i, x[i], y[i], ref);
                }
            }
            free(x);
            free(y);
        }
    }
}
END_TEST

/* At the kink: relu'(0) = 0 and leaky_relu'(0) = alpha, as PyTorch; and
 * relu passes NaN through, as torch.relu does. */
START_TEST(test_act_kinks_and_nan)
{
    FOR_EACH_ISA(isa) {
        float x[17], y[17], dy[17], dx[17];
        for (int i = 0; i < 17; i++)
            x[i] = 0.0f, dy[i] = 1.0f;
        rt_act_forward(RT_ACT_RELU, 0, 17, x, y);
        rt_act_backward(RT_ACT_RELU, 0, 17, x, y, dy, dx);
        for (int i = 0; i < 17; i++)
            CHECK(y[i] == 0.0f && dx[i] == 0.0f);
        rt_act_forward(RT_ACT_LEAKY_RELU, 0.25f, 17, x, y);
        rt_act_backward(RT_ACT_LEAKY_RELU, 0.25f, 17, x, y, dy, dx);
        for (int i = 0; i < 17; i++)
            CHECK(y[i] == 0.0f && dx[i] == 0.25f);
        x[16] = NAN;
        rt_act_forward(RT_ACT_RELU, 0, 17, x, y);
        CHECK_MSG(isnan(y[16]), "%s: relu(NaN) = %g", rt_isa_name((rt_isa)isa), y[16]);
        for (int a = 3; a < NACTS; a++) {
            rt_act_forward(all_acts(a), 0, 17, x, y);
            CHECK_MSG(isnan(y[16]), "%s: %s(NaN) = %g", rt_isa_name((rt_isa)isa),
                          act_names[a], y[16]);
        }
    }
}
END_TEST

/* Saturation: large |x| must give the limits, not NaN or garbage. */
START_TEST(test_act_extremes)
{
    static const float xs[] = { -1e30f, -200.0f, -88.0f, -20.0f, 20.0f, 88.0f, 200.0f, 1e30f,
                                INFINITY, -INFINITY, 1e-30f, -1e-30f, 0.0f };
    const int n = (int)(sizeof xs / sizeof xs[0]);
    FOR_EACH_ISA(isa) {
        float y[16];
        rt_act_forward(RT_ACT_TANH, 0, n, xs, y);
        for (int i = 0; i < n; i++)
            CHECK_MSG(y[i] == tanh(xs[i]) || test_close(y[i], tanh(xs[i]), 1e-37, 1e-6),
                          "%s tanh(%g) = %g",
                          rt_isa_name((rt_isa)isa), xs[i], y[i]);
        rt_act_forward(RT_ACT_SIGMOID, 0, n, xs, y);
        for (int i = 0; i < n; i++) {
            double ref = ref_sigmoid(xs[i]);
            /* below FLT_MIN the result is a subnormal: absolute check */
            CHECK_MSG(y[i] == ref || test_close(y[i], ref, 1e-44, 1e-6),
                          "%s sigmoid(%g) = %g, want %g",
                          rt_isa_name((rt_isa)isa), xs[i], y[i], ref);
        }
        /* gelu(-inf) is -inf * 0, NaN, in PyTorch too: skip it */
        rt_act_forward(RT_ACT_GELU, 0, n, xs, y);
        for (int i = 0; i < n; i++) {
            if (xs[i] == -INFINITY)
                continue;
            double ref = xs[i] > 0 ? xs[i] : (xs[i] < -10 ? -0.0 : ref_act(RT_ACT_GELU, 0, xs[i]));
            CHECK_MSG(y[i] == ref || test_close(y[i], ref, 1e-6, 1e-6),
                          "%s gelu(%g) = %g, want %g", rt_isa_name((rt_isa)isa), xs[i], y[i], ref);
        }
    }
}
END_TEST

/* The accuracy of the polynomial exp and tanh behind sigmoid and tanh,
 * swept over 2^21 evenly spaced points (and their float roundings) of the
 * ranges where the result is a normal float: relative error against libm's
 * double result at most 1e-6 on every path; the measured maxima are
 * printed (about 1.6e-7 for tanh and 2.0e-7 for sigmoid; an exhaustive
 * sweep of every float is quoted in runtime/kernels_simd.h). */
START_TEST(test_act_accuracy_sweep)
{
    const int64_t n = 1 << 21;
    float *x = alloc_floats(n), *y = alloc_floats(n);
    struct { rt_act act; double lo, hi; } sweeps[] = {
        { RT_ACT_TANH, -10.0, 10.0 },
        { RT_ACT_TANH, -0.5, 0.5 },
        { RT_ACT_SIGMOID, -87.0, 30.0 },
        { RT_ACT_SIGMOID, -2.0, 2.0 },
    };
    FOR_EACH_ISA(isa) {
        for (size_t k = 0; k < sizeof sweeps / sizeof sweeps[0]; k++) {
            for (int64_t i = 0; i < n; i++)
                x[i] = (float)(sweeps[k].lo + (sweeps[k].hi - sweeps[k].lo) * (double)i / (double)n);
            rt_act_forward(sweeps[k].act, 0, n, x, y);
            double worst = 0;
            float worst_x = 0;
            for (int64_t i = 0; i < n; i++) {
                double ref = ref_act(sweeps[k].act, 0, x[i]);
                double err = ref == 0 ? fabs(y[i]) : fabs(y[i] - ref) / fabs(ref);
                if (err > worst)
                    worst = err, worst_x = x[i];
            }
            fprintf(stderr, "accuracy %-8s %-7s [%g, %g]: max relative error %.2e at x = %.9g\n",
                    rt_isa_name((rt_isa)isa), act_names[sweeps[k].act], sweeps[k].lo,
                    sweeps[k].hi, worst, worst_x);
            CHECK_MSG(worst <= 1e-6, "%s %s: relative error %.3g at x = %.9g",
                          rt_isa_name((rt_isa)isa), act_names[sweeps[k].act], worst, worst_x);
        }
    }
    free(x);
    free(y);
}
END_TEST

/* dx against dy * d/dx ref_act by central differences in double. The float
 * kernel's own error dominates: tanh and sigmoid's 1 - y^2 and y(1 - y)
 * carry y's rounding (|dy| 2^-22 absolute), gelu's several products about
 * 1e-6 relative; differencing adds h^2/6 |f'''| <= 4e-7. Tolerance
 * 2e-6 absolute + 1e-5 relative. dx aliasing dy is exercised too. */
START_TEST(test_act_backward)
{
    const float alpha = 0.1f;
    FOR_EACH_ISA(isa) {
        for (int s = 0; s < NSIZES; s++) {
            int64_t n = sizes[s];
            float *x = alloc_floats(n), *y = alloc_floats(n), *dy = alloc_floats(n);
            float *dx = alloc_floats(n);
            for (int a = 0; a < NACTS; a++) {
                rt_act act = all_acts(a);
                fill_away_from_kink(x, n, (uint32_t)(31 * s + a + 7));
                test_fill(dy, n, (uint32_t)(31 * s + a + 1000));
                rt_act_forward(act, alpha, n, x, y);
                rt_act_backward(act, alpha, n, x, y, dy, dx);
                for (int64_t i = 0; i < n; i++) {
                    double h = FD_STEP;
                    double fd = (ref_act(act, alpha, x[i] + h) - ref_act(act, alpha, x[i] - h)) / (2 * h);
                    double want = dy[i] * fd;
                    CHECK_MSG(test_close(dx[i], want, 2e-6, 1e-5),
                                  "%s %s n=%lld x=%.9g dy=%g: dx %.9g, finite difference %.9g",
                                  rt_isa_name((rt_isa)isa), act_names[a], (long long)n, x[i],
                                  dy[i], dx[i], want);
                }
                /* in place: dx aliases dy */
                float *copy = alloc_floats(n);
                memcpy(copy, dy, (size_t)n * sizeof *dy);
                rt_act_backward(act, alpha, n, x, y, copy, copy);
                CHECK(memcmp(copy, dx, (size_t)n * sizeof *dx) == 0);
                free(copy);
            }
            free(x);
            free(y);
            free(dy);
            free(dx);
        }
    }
}
END_TEST

/* Threading splits the array into fixed chunks, so 1 and 2 threads agree
 * bit for bit, and the pool's chunks agree with small calls on each part. */
START_TEST(test_act_threads_identical)
{
    const int64_t n = THREADED_N;
    float *x = alloc_floats(n), *y1 = alloc_floats(n), *y2 = alloc_floats(n);
    float *dy = alloc_floats(n), *dx1 = alloc_floats(n), *dx2 = alloc_floats(n);
    test_fill(x, n, 5);
    test_fill(dy, n, 6);
    FOR_EACH_ISA(isa) {
        for (int a = 0; a < NACTS; a++) {
            rt_threads_init(1);
            rt_act_forward(all_acts(a), 0.1f, n, x, y1);
            rt_act_backward(all_acts(a), 0.1f, n, x, y1, dy, dx1);
            rt_threads_init(2);
            rt_act_forward(all_acts(a), 0.1f, n, x, y2);
            rt_act_backward(all_acts(a), 0.1f, n, x, y2, dy, dx2);
            CHECK(memcmp(y1, y2, (size_t)n * sizeof *y1) == 0);
            CHECK(memcmp(dx1, dx2, (size_t)n * sizeof *dx1) == 0);
        }
    }
    free(x), free(y1), free(y2), free(dy), free(dx1), free(dx2);
}
END_TEST

/* --------------------------------------------------------------- softmax */

/* y (cols) = softmax(x) in double */
static void ref_softmax(int64_t cols, const double *x, double *y)
{
    double max = x[0], sum = 0;
    for (int64_t j = 1; j < cols; j++)
        max = x[j] > max ? x[j] : max;
    for (int64_t j = 0; j < cols; j++)
        sum += y[j] = exp(x[j] - max);
    for (int64_t j = 0; j < cols; j++)
        y[j] /= sum;
}

/* log(sum exp(x)) in double */
static double ref_logsumexp(int64_t cols, const double *x)
{
    double max = x[0], sum = 0;
    for (int64_t j = 1; j < cols; j++)
        max = x[j] > max ? x[j] : max;
    for (int64_t j = 0; j < cols; j++)
        sum += exp(x[j] - max);
    return max + log(sum);
}

/* Logits in [-8, 8) with a large offset on some rows: softmax must not care. */
static void fill_logits(float *x, int64_t rows, int64_t cols, uint32_t seed)
{
    test_fill(x, rows * cols, seed);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < cols; j++)
            x[r * cols + j] = x[r * cols + j] * 8.0f + (r % 2 ? 80.0f : 0.0f);
}

/* Probabilities: 1e-6 relative (the float exp and one rounding of 1/sum)
 * plus 1e-12 absolute for entries that are tiny. */
START_TEST(test_softmax_forward)
{
    const int64_t rows = 3;
    FOR_EACH_ISA(isa) {
        for (int s = 0; s < NSIZES; s++) {
            int64_t cols = sizes[s];
            float *x = alloc_floats(rows * cols), *y = alloc_floats(rows * cols);
            double *xd = malloc((size_t)cols * sizeof *xd), *yd = malloc((size_t)cols * sizeof *yd);
            fill_logits(x, rows, cols, (uint32_t)(s + 40));
            rt_softmax_forward(rows, cols, x, y);
            for (int64_t r = 0; r < rows; r++) {
                for (int64_t j = 0; j < cols; j++)
                    xd[j] = x[r * cols + j];
                ref_softmax(cols, xd, yd);
                for (int64_t j = 0; j < cols; j++)
                    CHECK_MSG(test_close(y[r * cols + j], yd[j], 1e-12, 1e-6),
                                  "%s cols=%lld y[%lld][%lld] = %.9g, want %.9g",
                                  rt_isa_name((rt_isa)isa), (long long)cols, (long long)r,
                                  (long long)j, y[r * cols + j], yd[j]);
            }
            free(x), free(y), free(xd), free(yd);
        }
    }
}
END_TEST

/* dx against finite differences of L(x) = sum_j dy_j softmax(x)_j in double,
 * on up to 40 entries per row. The kernel forms y (dy - <dy, y>) in float
 * from float y: 1e-6 relative to the largest term |y| (|dy| + |<dy,y>|),
 * plus differencing (1e-9 here); tolerance 2e-7 absolute + 1e-5 relative. */
START_TEST(test_softmax_backward)
{
    const int64_t rows = 2;
    FOR_EACH_ISA(isa) {
        for (int s = 0; s < NSIZES; s++) {
            int64_t cols = sizes[s], n = rows * cols;
            float *x = alloc_floats(n), *y = alloc_floats(n), *dy = alloc_floats(n);
            float *dx = alloc_floats(n);
            double *xd = malloc((size_t)cols * sizeof *xd), *yd = malloc((size_t)cols * sizeof *yd);
            test_fill(x, n, (uint32_t)(s + 50));
            for (int64_t i = 0; i < n; i++)
                x[i] *= 3.0f;
            test_fill(dy, n, (uint32_t)(s + 60));
            rt_softmax_forward(rows, cols, x, y);
            rt_softmax_backward(rows, cols, y, dy, dx);
            int64_t stride = cols > 40 ? cols / 40 : 1;
            for (int64_t r = 0; r < rows; r++) {
                for (int64_t i = 0; i < cols; i += stride) {
                    double loss[2];
                    for (int side = 0; side < 2; side++) {
                        for (int64_t j = 0; j < cols; j++)
                            xd[j] = x[r * cols + j];
                        xd[i] += side ? -FD_STEP : FD_STEP;
                        ref_softmax(cols, xd, yd);
                        loss[side] = 0;
                        for (int64_t j = 0; j < cols; j++)
                            loss[side] += dy[r * cols + j] * yd[j];
                    }
                    double fd = (loss[0] - loss[1]) / (2 * FD_STEP);
                    CHECK_MSG(test_close(dx[r * cols + i], fd, 2e-7, 1e-5),
                                  "%s cols=%lld dx[%lld][%lld] = %.9g, finite difference %.9g",
                                  rt_isa_name((rt_isa)isa), (long long)cols, (long long)r,
                                  (long long)i, dx[r * cols + i], fd);
                }
            }
            /* in place */
            rt_softmax_backward(rows, cols, y, dy, dy);
            CHECK(memcmp(dy, dx, (size_t)n * sizeof *dx) == 0);
            free(x), free(y), free(dy), free(dx), free(xd), free(yd);
        }
    }
}
END_TEST

/* The fused kernel's probs are softmax's, bit for bit on the same path, and
 * its loss is sum -log p[label]: 1e-6 relative of the double reference
 * sum (logsumexp - x[label]), and within 1e-5 relative of sum -log(probs)
 * (the float probs' own rounding). */
START_TEST(test_softmax_xent_forward)
{
    FOR_EACH_ISA(isa) {
        for (int s = 0; s < NSIZES; s++) {
            int64_t rows = 5, cols = sizes[s], n = rows * cols;
            float *x = alloc_floats(n), *p = alloc_floats(n), *y = alloc_floats(n);
            double *xd = malloc((size_t)cols * sizeof *xd);
            int32_t labels[5];
            for (int64_t r = 0; r < rows; r++)
                labels[r] = (int32_t)((r * 7919) % cols);
            fill_logits(x, rows, cols, (uint32_t)(s + 70));
            double loss = rt_softmax_xent_forward(rows, cols, x, labels, p);
            rt_softmax_forward(rows, cols, x, y);
            CHECK(memcmp(p, y, (size_t)n * sizeof *p) == 0);
            double ref = 0, from_probs = 0;
            for (int64_t r = 0; r < rows; r++) {
                for (int64_t j = 0; j < cols; j++)
                    xd[j] = x[r * cols + j];
                ref += ref_logsumexp(cols, xd) - xd[labels[r]];
                from_probs += -log((double)p[r * cols + labels[r]]);
            }
            CHECK_MSG(test_close(loss, ref, 1e-9, 1e-6), "%s cols=%lld: loss %.12g, want %.12g",
                          rt_isa_name((rt_isa)isa), (long long)cols, loss, ref);
            /* in place: probs over the logits */
            float *inplace = alloc_floats(n);
            memcpy(inplace, x, (size_t)n * sizeof *x);
            double loss_inplace = rt_softmax_xent_forward(rows, cols, inplace, labels, inplace);
            CHECK(memcmp(&loss, &loss_inplace, sizeof loss) == 0);
            CHECK(memcmp(inplace, p, (size_t)n * sizeof *p) == 0);
            free(inplace);
            CHECK_MSG(test_close(loss, from_probs, 1e-6, 1e-5),
                          "%s cols=%lld: loss %.12g, -log probs %.12g",
                          rt_isa_name((rt_isa)isa), (long long)cols, loss, from_probs);
            free(x), free(p), free(y), free(xd);
        }
    }
}
END_TEST

/* Large batches are split over threads: the same bits for 1 and 2, forward
 * (loss and probs) and backward. */
START_TEST(test_softmax_xent_threads_identical)
{
    const int64_t rows = 300, cols = 1000, n = rows * cols;
    float *x = alloc_floats(n), *p1 = alloc_floats(n), *p2 = alloc_floats(n);
    float *d1 = alloc_floats(n), *d2 = alloc_floats(n);
    int32_t *labels = malloc((size_t)rows * sizeof *labels);
    for (int64_t r = 0; r < rows; r++)
        labels[r] = (int32_t)(r % cols);
    fill_logits(x, rows, cols, 3);
    FOR_EACH_ISA(isa) {
        rt_threads_init(1);
        double l1 = rt_softmax_xent_forward(rows, cols, x, labels, p1);
        rt_softmax_backward(rows, cols, p1, x, d1);
        rt_threads_init(2);
        double l2 = rt_softmax_xent_forward(rows, cols, x, labels, p2);
        rt_softmax_backward(rows, cols, p2, x, d2);
        CHECK(memcmp(&l1, &l2, sizeof l1) == 0);
        CHECK(memcmp(p1, p2, (size_t)n * sizeof *p1) == 0);
        CHECK(memcmp(d1, d2, (size_t)n * sizeof *d1) == 0);
        rt_threads_init(1);
        rt_softmax_xent_backward(rows, cols, p1, labels, 0.5f, d1);
        rt_threads_init(2);
        rt_softmax_xent_backward(rows, cols, p2, labels, 0.5f, d2);
        CHECK(memcmp(d1, d2, (size_t)n * sizeof *d1) == 0);
    }
    free(x), free(p1), free(p2), free(d1), free(d2), free(labels);
}
END_TEST

/* dlogits against finite differences of the double loss
 * scale * sum_r (logsumexp(x_r) - x_r[label]); tolerance as for softmax. */
START_TEST(test_softmax_xent_backward)
{
    const int64_t rows = 2;
    const float scale = 0.5f;
    FOR_EACH_ISA(isa) {
        for (int s = 0; s < NSIZES; s++) {
            int64_t cols = sizes[s], n = rows * cols;
            float *x = alloc_floats(n), *p = alloc_floats(n), *d = alloc_floats(n);
            double *xd = malloc((size_t)cols * sizeof *xd);
            int32_t labels[2] = { 0, (int32_t)(cols - 1) };
            test_fill(x, n, (uint32_t)(s + 80));
            for (int64_t i = 0; i < n; i++)
                x[i] *= 3.0f;
            rt_softmax_xent_forward(rows, cols, x, labels, p);
            rt_softmax_xent_backward(rows, cols, p, labels, scale, d);
            int64_t stride = cols > 40 ? cols / 40 : 1;
            for (int64_t r = 0; r < rows; r++) {
                for (int64_t i = 0; i < cols; i += stride) {
                    double loss[2];
                    for (int side = 0; side < 2; side++) {
                        for (int64_t j = 0; j < cols; j++)
                            xd[j] = x[r * cols + j];
                        xd[i] += side ? -FD_STEP : FD_STEP;
                        loss[side] = scale * (ref_logsumexp(cols, xd) - xd[labels[r]]);
                    }
                    double fd = (loss[0] - loss[1]) / (2 * FD_STEP);
                    CHECK_MSG(test_close(d[r * cols + i], fd, 2e-7, 1e-5),
                                  "%s cols=%lld d[%lld][%lld] = %.9g, finite difference %.9g",
                                  rt_isa_name((rt_isa)isa), (long long)cols, (long long)r,
                                  (long long)i, d[r * cols + i], fd);
                }
            }
            /* dlogits may alias probs */
            rt_softmax_xent_backward(rows, cols, p, labels, scale, p);
            CHECK(memcmp(p, d, (size_t)n * sizeof *d) == 0);
            free(x), free(p), free(d), free(xd);
        }
    }
}
END_TEST

START_TEST(test_softmax_xent_bad_label_aborts)
{
    float x[3] = { 0, 1, 2 }, p[3];
    int32_t label = 3;
    rt_softmax_xent_forward(1, 3, x, &label, p);
}
END_TEST

START_TEST(test_count_correct)
{
    /* row 0: argmax 2; row 1: tie between 0 and 3 goes to 0; row 2: argmax 1 */
    const float scores[] = { 0.1f, 0.2f, 0.9f, 0.0f,
                             5.0f, 1.0f, 2.0f, 5.0f,
                             -3.0f, -1.0f, -2.0f, -4.0f };
    const int32_t labels[] = { 2, 3, 1 };
    ck_assert_int_eq(rt_count_correct(3, 4, scores, labels), 2);
    const int32_t labels0[] = { 2, 0, 1 };
    ck_assert_int_eq(rt_count_correct(3, 4, scores, labels0), 3);
    const int32_t one_class[] = { 0 };
    ck_assert_int_eq(rt_count_correct(1, 1, scores, one_class), 1);
}
END_TEST

/* ---------------------------------------------------------------- losses */

/* mse: the sum in double against a double reference (1e-12 relative: same
 * terms, different order); backward is exactly scale * 2 * (p - t) in float
 * and is also checked against finite differences (1e-6 relative). */
START_TEST(test_mse)
{
    for (int s = 0; s < NSIZES; s++) {
        int64_t n = sizes[s];
        float *p = alloc_floats(n), *t = alloc_floats(n), *d = alloc_floats(n);
        test_fill(p, n, (uint32_t)(s + 90));
        test_fill(t, n, (uint32_t)(s + 91));
        double ref = 0;
        for (int64_t i = 0; i < n; i++)
            ref += ((double)p[i] - t[i]) * ((double)p[i] - t[i]);
        CHECK(test_close(rt_mse_forward(n, p, t), ref, 1e-15, 1e-12));
        rt_mse_backward(n, p, t, 0.25f, d);
        for (int64_t i = 0; i < n; i++) {
            double a = (double)p[i] + FD_STEP - t[i], b = (double)p[i] - FD_STEP - t[i];
            double fd = 0.25 * (a * a - b * b) / (2 * FD_STEP);
            CHECK_MSG(test_close(d[i], fd, 1e-7, 1e-6), "mse d[%lld] = %g, want %g",
                          (long long)i, d[i], fd);
        }
        free(p), free(t), free(d);
    }
    /* a large sum is threaded; its bits do not depend on the thread count */
    int64_t n = 2 * THREADED_N;
    float *p = alloc_floats(n), *t = alloc_floats(n);
    test_fill(p, n, 1);
    test_fill(t, n, 2);
    rt_threads_init(1);
    double one = rt_mse_forward(n, p, t);
    rt_threads_init(2);
    double two = rt_mse_forward(n, p, t);
    CHECK(memcmp(&one, &two, sizeof one) == 0);
    free(p), free(t);
}
END_TEST

static double ref_bce(double z, double t)
{
    /* -(t log s(z) + (1-t) log s(-z)) with log s(z) = -log(1 + exp(-z)),
     * in double; exp does not overflow for the |z| <= 30 used here */
    return t * log1p(exp(-z)) + (1 - t) * log1p(exp(z));
}

/* bce: against -[t log s(z) + (1-t) log s(-z)] in double (1e-9 relative;
 * logits up to |30|); backward against finite differences of that
 * (1e-7 absolute + 1e-6 relative: sigmoid in float). */
START_TEST(test_bce)
{
    for (int s = 0; s < NSIZES; s++) {
        int64_t n = sizes[s];
        float *z = alloc_floats(n), *t = alloc_floats(n), *d = alloc_floats(n);
        test_fill(z, n, (uint32_t)(s + 100));
        test_fill(t, n, (uint32_t)(s + 101));
        for (int64_t i = 0; i < n; i++) {
            z[i] *= i % 5 == 0 ? 30.0f : 4.0f;
            t[i] = i % 3 == 0 ? (t[i] > 0 ? 1.0f : 0.0f) : 0.5f * (t[i] + 1.0f);
        }
        double ref = 0;
        for (int64_t i = 0; i < n; i++)
            ref += ref_bce(z[i], t[i]);
        double got = rt_bce_forward(n, z, t);
        CHECK_MSG(test_close(got, ref, 1e-12, 1e-9), "bce n=%lld: %.15g, want %.15g",
                      (long long)n, got, ref);
        rt_bce_backward(n, z, t, 2.0f, d);
        for (int64_t i = 0; i < n; i++) {
            double fd = 2.0 * (ref_bce(z[i] + FD_STEP, t[i]) - ref_bce(z[i] - FD_STEP, t[i])) / (2 * FD_STEP);
            CHECK_MSG(test_close(d[i], fd, 1e-7, 1e-6), "bce d[%lld] = %.9g, want %.9g (z=%g t=%g)",
                          (long long)i, d[i], fd, z[i], t[i]);
        }
        free(z), free(t), free(d);
    }
    /* stable where the textbook form is not: z = +-1000 */
    float z[2] = { 1000.0f, -1000.0f }, t[2] = { 0.0f, 1.0f }, d[2];
    CHECK(test_close(rt_bce_forward(2, z, t), 2000.0, 0, 1e-12));
    rt_bce_backward(2, z, t, 1.0f, d);
    CHECK(d[0] == 1.0f && d[1] == -1.0f);
}
END_TEST

START_TEST(test_sum_rows)
{
    static const int64_t shapes[][2] = { { 1, 1 }, { 7, 17 }, { 128, 1000 }, { 3, 4099 }, { 1000, 7 } };
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        int64_t M = shapes[k][0], N = shapes[k][1];
        float *dy = alloc_floats(M * N), *db = alloc_floats(N);
        test_fill(dy, M * N, (uint32_t)k);
        rt_sum_rows(M, N, dy, db, false);
        for (int64_t j = 0; j < N; j++) {
            double ref = 0;
            for (int64_t m = 0; m < M; m++)
                ref += dy[m * N + j];
            /* sums in double, one rounding to float */
            CHECK(test_close(db[j], ref, 1e-12, 1.2e-7));
        }
        for (int64_t j = 0; j < N; j++)
            db[j] = 10.0f;
        rt_sum_rows(M, N, dy, db, true);
        for (int64_t j = 0; j < N; j++) {
            double ref = 10.0;
            for (int64_t m = 0; m < M; m++)
                ref += dy[m * N + j];
            CHECK(test_close(db[j], ref, 1e-12, 1.2e-7));
        }
        /* every path adds each column in row order: the portable bits,
         * from 0 and from a start (the first row of dy) */
        float *other = alloc_floats(N);
        for (int isa = RT_ISA_AVX2; isa <= (int)rt_cpu_best_isa(); isa++)
            for (int acc = 0; acc < 2; acc++) {
                memcpy(db, dy, (size_t)N * sizeof(float));
                memcpy(other, dy, (size_t)N * sizeof(float));
                CHECK(rt_isa_set(RT_ISA_PORTABLE));
                rt_sum_rows(M, N, dy, db, acc);
                CHECK(rt_isa_set((rt_isa)isa));
                rt_sum_rows(M, N, dy, other, acc);
                CHECK(memcmp(db, other, (size_t)N * sizeof(float)) == 0);
            }
        rt_isa_set(rt_cpu_best_isa());
        free(other);
        free(dy), free(db);
    }
}
END_TEST

/* rt_add: the float sums of the loop netc generated before it (a[i] +
 * b[i], or b[i % period]), bit for bit, on every path and thread count,
 * across chunk boundaries (32768 elements) and periods that do not divide
 * them, and in place. */
START_TEST(test_add)
{
    static const int64_t cases[][2] = { { 1, 0 }, { 17, 0 }, { 100003, 0 }, { 16384 * 5, 16384 }, { 100003, 7 },
                                        { 70001, 70001 }, { 3, 1 } };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int64_t n = cases[k][0], period = cases[k][1];
        float *a = alloc_floats(n), *b = alloc_floats(period ? period : n), *want = alloc_floats(n);
        float *got = alloc_floats(n), *inplace = alloc_floats(n);
        test_fill(a, n, (uint32_t)k);
        test_fill(b, period ? period : n, (uint32_t)k + 100);
        for (int64_t i = 0; i < n; i++)
            want[i] = a[i] + b[period ? i % period : i];
        for (int isa = RT_ISA_PORTABLE; isa <= (int)rt_cpu_best_isa(); isa++)
            for (int threads = 1; threads <= 2; threads++) {
                CHECK(rt_isa_set((rt_isa)isa));
                rt_threads_init(threads);
                rt_add(n, a, b, period, got);
                CHECK(memcmp(got, want, (size_t)n * sizeof(float)) == 0);
                memcpy(inplace, a, (size_t)n * sizeof(float));
                rt_add(n, inplace, b, period, inplace);
                CHECK(memcmp(inplace, want, (size_t)n * sizeof(float)) == 0);
            }
        rt_isa_set(rt_cpu_best_isa());
        rt_threads_init(0);
        free(a), free(b), free(want), free(got), free(inplace);
    }
}
END_TEST

/* The LSTM cell's backward: the portable loop against the formulas in
 * double (relative 1e-5 of each term's magnitude: a few float roundings
 * of values below 4), and every SIMD path against the portable loop bit
 * for bit, at H with and without a vector tail, with and without c_{t-1}
 * (t = 0) and dy (a step whose output gets no gradient). */
START_TEST(test_lstm_cell_backward)
{
    static const int64_t units[] = { 1, 7, 16, 37, 256 };
    for (size_t k = 0; k < sizeof units / sizeof units[0]; k++) {
        int64_t H = units[k];
        float *a = alloc_floats(4 * H), *tc = alloc_floats(H), *prev = alloc_floats(H), *dh = alloc_floats(H);
        float *dy = alloc_floats(H), *dc0 = alloc_floats(H), *dc = alloc_floats(H), *d = alloc_floats(4 * H);
        float *dc_p = alloc_floats(H), *d_p = alloc_floats(4 * H);
        test_fill(a, 4 * H, 21);
        for (int64_t j = 0; j < 4 * H; j++) /* gates in (0, 1), g in (-1, 1) */
            a[j] = j >= 2 * H && j < 3 * H ? a[j] : 0.5f + 0.45f * a[j];
        test_fill(tc, H, 22);
        test_fill(prev, H, 23);
        test_fill(dh, H, 24);
        test_fill(dy, H, 25);
        test_fill(dc0, H, 26);
        for (int variant = 0; variant < 4; variant++) {
            const float *pv = variant & 1 ? prev : NULL, *yv = variant & 2 ? dy : NULL;
            memcpy(dc_p, dc0, (size_t)H * sizeof(float));
            rt_lstm_cell_backward(RT_ISA_PORTABLE, H, a, tc, pv, dh, yv, dc_p, d_p);
            for (int64_t j = 0; j < H; j++) {
                double i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j], t = tc[j];
                double gh = dh[j] + (yv ? yv[j] : 0.0);
                double dcell = dc0[j] + gh * o * (1 - t * t);
                double df = pv ? dcell * pv[j] : 0.0;
                double want[5] = { dcell * f, dcell * g * i * (1 - i), df * f * (1 - f),
                                   dcell * i * (1 - g * g), gh * t * o * (1 - o) };
                const float got[5] = { dc_p[j], d_p[j], d_p[H + j], d_p[2 * H + j], d_p[3 * H + j] };
                for (int q = 0; q < 5; q++)
                    CHECK(fabs(got[q] - want[q]) <= 1e-5 * (4.0 + fabs(want[q])));
            }
            for (int isa = RT_ISA_AVX2; isa <= (int)rt_cpu_best_isa(); isa++) {
                memcpy(dc, dc0, (size_t)H * sizeof(float));
                rt_lstm_cell_backward((rt_isa)isa, H, a, tc, pv, dh, yv, dc, d);
                CHECK(memcmp(dc, dc_p, (size_t)H * sizeof(float)) == 0);
                CHECK(memcmp(d, d_p, (size_t)(4 * H) * sizeof(float)) == 0);
            }
        }
        free(a), free(tc), free(prev), free(dh), free(dy), free(dc0), free(dc), free(d), free(dc_p), free(d_p);
    }
}
END_TEST

/* The LSTM cell's forward on every path: bit for bit the passes it
 * replaced on that path (rt_act_forward over the gates and c_t, the
 * products unfused), and against the formulas in double (relative 1e-5);
 * at H with and without a vector tail, at t = 0 (no c_{t-1}), with c_{t-1}
 * in its own row (training) and in the cell row itself (inference), with
 * and without tanh(c_t) kept. */
START_TEST(test_lstm_cell_forward)
{
    static const int64_t units[] = { 1, 7, 16, 37, 256 };
    for (size_t k = 0; k < sizeof units / sizeof units[0]; k++) {
        int64_t H = units[k];
        float *pre = alloc_floats(4 * H), *prev = alloc_floats(H), *a = alloc_floats(4 * H), *want_a = alloc_floats(4 * H);
        float *cell = alloc_floats(H), *tc = alloc_floats(H), *h = alloc_floats(H);
        float *want_c = alloc_floats(H), *want_t = alloc_floats(H), *want_h = alloc_floats(H);
        test_fill(pre, 4 * H, 31);
        for (int64_t j = 0; j < 4 * H; j++)
            pre[j] *= 4.0f;
        test_fill(prev, H, 32);
        FOR_EACH_ISA(isa)
            for (int variant = 0; variant < 3; variant++) { /* t = 0, own row, in place */
                /* the passes the kernel replaced, on this path */
                memcpy(want_a, pre, (size_t)(4 * H) * sizeof(float));
                rt_act_forward(RT_ACT_SIGMOID, 0.0f, 2 * H, want_a, want_a);
                rt_act_forward(RT_ACT_TANH, 0.0f, H, want_a + 2 * H, want_a + 2 * H);
                rt_act_forward(RT_ACT_SIGMOID, 0.0f, H, want_a + 3 * H, want_a + 3 * H);
                for (int64_t j = 0; j < H; j++)
                    want_c[j] = variant ? want_a[H + j] * prev[j] + want_a[j] * want_a[2 * H + j]
                                        : want_a[j] * want_a[2 * H + j];
                rt_act_forward(RT_ACT_TANH, 0.0f, H, want_c, want_t);
                for (int64_t j = 0; j < H; j++)
                    want_h[j] = want_t[j] * want_a[3 * H + j];
                memcpy(a, pre, (size_t)(4 * H) * sizeof(float));
                memcpy(cell, prev, (size_t)H * sizeof(float));
                const float *pv = variant == 0 ? NULL : variant == 1 ? prev : cell;
                rt_lstm_cell_forward((rt_isa)isa, H, a, pv, cell, variant == 2 ? NULL : tc, h);
                CHECK(memcmp(a, want_a, (size_t)(4 * H) * sizeof(float)) == 0);
                CHECK(memcmp(cell, want_c, (size_t)H * sizeof(float)) == 0);
                CHECK(memcmp(h, want_h, (size_t)H * sizeof(float)) == 0);
                if (variant != 2)
                    CHECK(memcmp(tc, want_t, (size_t)H * sizeof(float)) == 0);
                for (int64_t j = 0; j < H; j++) {
                    double i = 1 / (1 + exp(-(double)pre[j])), f = 1 / (1 + exp(-(double)pre[H + j]));
                    double g = tanh((double)pre[2 * H + j]), o = 1 / (1 + exp(-(double)pre[3 * H + j]));
                    double c = (variant ? f * prev[j] : 0.0) + i * g, hw = o * tanh(c);
                    CHECK(fabs(cell[j] - c) <= 1e-5 * (1.0 + fabs(c)) && fabs(h[j] - hw) <= 1e-5 * (1.0 + fabs(hw)));
                }
            }
        rt_isa_set(rt_cpu_best_isa());
        free(pre), free(prev), free(a), free(want_a), free(cell), free(tc), free(h), free(want_c), free(want_t), free(want_h);
    }
}
END_TEST

/* ---------------------------------------------------------------- copies */

#define COPY_GUARD -7.5f

/* Three blocks of widths w[0..3) concatenated along the columns of y
 * (rows, total) with rt_copy_rows and split back, against index
 * arithmetic. A guard float after each buffer must survive. Sizes cover
 * one element, narrow and wide rows, and enough rows to use several tasks. */
START_TEST(test_copy_rows_concat)
{
    static const int64_t shapes[][4] = {
        { 1, 1, 1, 1 }, { 3, 5, 1, 7 }, { 1000, 17, 4, 9 }, { 20000, 3, 16, 2 }, { 2, 40000, 1, 3 },
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t rows = shapes[s][0], total = 0, start[3];
        float *x[3], *back[3];
        for (int k = 0; k < 3; k++) {
            int64_t w = shapes[s][1 + k];
            start[k] = total;
            total += w;
            x[k] = alloc_floats(rows * w);
            back[k] = alloc_floats(rows * w + 1);
            test_fill(x[k], rows * w, (uint32_t)(10 * s + k));
            back[k][rows * w] = COPY_GUARD;
        }
        float *y = alloc_floats(rows * total + 1);
        y[rows * total] = COPY_GUARD;
        for (int k = 0; k < 3; k++)
            rt_copy_rows(rows, shapes[s][1 + k], x[k], shapes[s][1 + k], y + start[k], total);
        for (int k = 0; k < 3; k++) {
            int64_t w = shapes[s][1 + k];
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = 0; c < w; c++)
                    CHECK_MSG(y[r * total + start[k] + c] == x[k][r * w + c], "shape %zu: y[%lld][%lld] is not x%d[%lld][%lld]",
                              s, (long long)r, (long long)(start[k] + c), k, (long long)r, (long long)c);
            rt_copy_rows(rows, w, y + start[k], total, back[k], w);
            CHECK_MSG(memcmp(back[k], x[k], sizeof(float) * (size_t)(rows * w)) == 0, "shape %zu: split %d differs", s, k);
            CHECK(back[k][rows * w] == COPY_GUARD);
        }
        CHECK(y[rows * total] == COPY_GUARD);
        for (int k = 0; k < 3; k++)
            free(x[k]), free(back[k]);
        free(y);
    }
}
END_TEST

/* Strided on both sides: a (rows, cols) block from inside one matrix into
 * the middle of another leaves every other float of the target alone;
 * zero rows or columns write nothing. */
START_TEST(test_copy_rows_strided)
{
    enum { ROWS = 7, COLS = 3, SRC_LD = 10, DST_LD = 5, AT = 2 };
    float src[ROWS * SRC_LD], dst[ROWS * DST_LD];
    test_fill(src, ROWS * SRC_LD, 3);
    for (int i = 0; i < ROWS * DST_LD; i++)
        dst[i] = COPY_GUARD;
    rt_copy_rows(ROWS, COLS, src + 4, SRC_LD, dst + AT, DST_LD);
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < DST_LD; c++) {
            bool inside = c >= AT && c < AT + COLS;
            CHECK_MSG(dst[r * DST_LD + c] == (inside ? src[r * SRC_LD + 4 + c - AT] : COPY_GUARD), "dst[%d][%d] = %g", r, c,
                      (double)dst[r * DST_LD + c]);
        }
    rt_copy_rows(0, COLS, src, SRC_LD, dst, DST_LD);
    rt_copy_rows(ROWS, 0, src, SRC_LD, dst, DST_LD);
    CHECK(dst[0] == COPY_GUARD && dst[DST_LD] == COPY_GUARD);
}
END_TEST

/* int32 token ids go through bit for bit, even those whose bits would be
 * a float NaN (a float load and store may quiet a signalling NaN). */
START_TEST(test_copy_rows_int32)
{
    const int32_t ids[2][3] = { { 0, -1, 0x7f800001 }, { 0x7fc00000, INT32_MIN, 12345 } };
    int32_t joined[2][6] = { { 0 } };
    rt_copy_rows(2, 3, ids, 3, &joined[0][3], 6);
    rt_copy_rows(2, 3, ids, 3, &joined[0][0], 6);
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 6; c++)
            CHECK(joined[r][c] == ids[r][c % 3]);
}
END_TEST

/* --------------------------------------------------------------- dropout */

/* Every ISA keeps exactly the elements with rt_rand_uniform(seed, i) >=
 * rate and scales them by (float)(1 / (1 - rate)); the dropped fraction over
 * 1e6 elements is within 0.003 of rate (6.5 standard deviations at 0.3). */
START_TEST(test_dropout_forward)
{
    const int64_t n = 1000000;
    const float rate = 0.3f;
    const uint64_t seed = 1234;
    const float scale = (float)(1.0 / (1.0 - (double)rate));
    float *x = alloc_floats(n), *y = alloc_floats(n), *first = alloc_floats(n);
    test_fill(x, n, 9);
    for (int64_t i = 0; i < n; i++)
        if (x[i] == 0.0f)
            x[i] = 0.5f;
    FOR_EACH_ISA(isa) {
        for (int s = 0; s < NSIZES; s++) {
            int64_t m = sizes[s];
            rt_dropout_forward(m, rate, seed, x, y);
            for (int64_t i = 0; i < m; i++) {
                bool keep = rt_rand_uniform(seed, (uint64_t)i) >= rate;
                CHECK_MSG(y[i] == (keep ? x[i] * scale : 0.0f), "%s n=%lld: y[%lld] = %g",
                              rt_isa_name((rt_isa)isa), (long long)m, (long long)i, y[i]);
            }
        }
        rt_dropout_forward(n, rate, seed, x, y);
        int64_t dropped = 0;
        for (int64_t i = 0; i < n; i++) {
            bool keep = rt_rand_uniform(seed, (uint64_t)i) >= rate;
            CHECK(y[i] == (keep ? x[i] * scale : 0.0f));
            dropped += y[i] == 0.0f;
        }
        double fraction = (double)dropped / (double)n;
        CHECK_MSG(fabs(fraction - rate) < 0.003, "dropped fraction %g", fraction);
        /* all paths give the same bits */
        if (isa == RT_ISA_PORTABLE)
            memcpy(first, y, (size_t)n * sizeof *y);
        else
            CHECK(memcmp(first, y, (size_t)n * sizeof *y) == 0);
    }
    free(x), free(y), free(first);
}
END_TEST

START_TEST(test_dropout_deterministic_and_threads)
{
    const int64_t n = THREADED_N;
    float *x = alloc_floats(n), *a = alloc_floats(n), *b = alloc_floats(n);
    test_fill(x, n, 11);
    FOR_EACH_ISA(isa) {
        rt_threads_init(1);
        rt_dropout_forward(n, 0.5f, 77, x, a);
        rt_threads_init(2);
        rt_dropout_forward(n, 0.5f, 77, x, b);
        CHECK(memcmp(a, b, (size_t)n * sizeof *a) == 0);
        rt_dropout_forward(n, 0.5f, 77, x, b);
        CHECK(memcmp(a, b, (size_t)n * sizeof *a) == 0);
        /* another seed, another mask */
        rt_dropout_forward(n, 0.5f, 78, x, b);
        int64_t differ = 0;
        for (int64_t i = 0; i < n; i++)
            differ += (a[i] == 0.0f) != (b[i] == 0.0f);
        CHECK_MSG(differ > n / 3, "seeds 77 and 78 differ in %lld places", (long long)differ);
        /* in place */
        memcpy(b, x, (size_t)n * sizeof *x);
        rt_dropout_forward(n, 0.5f, 77, b, b);
        CHECK(memcmp(a, b, (size_t)n * sizeof *a) == 0);
    }
    free(x), free(a), free(b);
}
END_TEST

/* The keep test is u >= rate, exactly: with rate set to element i's own u
 * (k / 2^24, exact in float) element i is kept, and with the next float
 * up it is dropped; an off-by-one in any path's integer threshold shows. */
START_TEST(test_dropout_threshold_edge)
{
    const uint64_t seed = 99;
    const int64_t n = 17;
    float x[17], y[17];
    for (int i = 0; i < n; i++)
        x[i] = 1.0f;
    FOR_EACH_ISA(isa) {
        for (int64_t i = 0; i < n; i++) {
            uint64_t k = rt_rand_u64(seed, (uint64_t)i) >> 40;
            if (k == 0 || k + 1 >= (1u << 24))
                continue;
            float rate = (float)k * 0x1p-24f;
            rt_dropout_forward(n, rate, seed, x, y);
            CHECK_MSG(y[i] != 0.0f, "%s: element %lld with u == rate dropped",
                      rt_isa_name((rt_isa)isa), (long long)i);
            rate = (float)(k + 1) * 0x1p-24f;
            rt_dropout_forward(n, rate, seed, x, y);
            CHECK_MSG(y[i] == 0.0f, "%s: element %lld with u < rate kept",
                      rt_isa_name((rt_isa)isa), (long long)i);
        }
    }
}
END_TEST

/* backward applies the forward's mask and scale to dy. */
START_TEST(test_dropout_backward)
{
    const float rate = 0.2f, scale = (float)(1.0 / (1.0 - 0.2f));
    FOR_EACH_ISA(isa) {
        for (int s = 0; s < NSIZES; s++) {
            int64_t n = sizes[s];
            float *x = alloc_floats(n), *y = alloc_floats(n), *dy = alloc_floats(n);
            float *dx = alloc_floats(n);
            for (int64_t i = 0; i < n; i++)
                x[i] = 1.0f;
            test_fill(dy, n, (uint32_t)s);
            rt_dropout_forward(n, rate, 5, x, y);
            rt_dropout_backward(n, rate, 5, dy, dx);
            for (int64_t i = 0; i < n; i++)
                CHECK(dx[i] == (y[i] != 0.0f ? dy[i] * scale : 0.0f));
            free(x), free(y), free(dy), free(dx);
        }
    }
    /* rate 0 is the identity, rate 1 drops everything */
    float x[7] = { 1, 2, 3, 4, 5, 6, 7 }, y[7];
    rt_dropout_forward(7, 0.0f, 1, x, y);
    CHECK(memcmp(x, y, sizeof x) == 0);
    rt_dropout_forward(7, 1.0f, 1, x, y);
    for (int i = 0; i < 7; i++)
        CHECK(y[i] == 0.0f);
}
END_TEST

/* ------------------------------------------------------------------- rng */

/* Over 1e6 draws: mean within 0.0015 of 1/2 (5 sigma: sigma = 2.9e-4) and
 * variance within 4e-4 of 1/12 (5 sigma: sigma = 7.5e-5); all in [0, 1). */
START_TEST(test_rand_uniform)
{
    const int64_t n = 1000000;
    double sum = 0, sum2 = 0;
    for (int64_t i = 0; i < n; i++) {
        float u = rt_rand_uniform(42, (uint64_t)i);
        CHECK(u >= 0.0f && u < 1.0f);
        sum += u;
        sum2 += (double)u * u;
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    CHECK_MSG(fabs(mean - 0.5) < 0.0015, "uniform mean %g", mean);
    CHECK_MSG(fabs(var - 1.0 / 12) < 4e-4, "uniform variance %g", var);
}
END_TEST

/* Over 1e6 draws: mean within 0.005 of 0 (5 sigma), variance within 0.007
 * of 1 (5 sigma: sigma = sqrt(2/n)), and the fraction beyond 1.96 within
 * 0.0011 of 0.05 (5 sigma), which a wrong shape would miss. */
START_TEST(test_rand_normal)
{
    const int64_t n = 1000000;
    double sum = 0, sum2 = 0;
    int64_t tail = 0;
    for (int64_t i = 0; i < n; i++) {
        double z = rt_rand_normal(7, (uint64_t)i);
        CHECK(isfinite(z));
        sum += z;
        sum2 += z * z;
        tail += fabs(z) > 1.959964;
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    CHECK_MSG(fabs(mean) < 0.005, "normal mean %g", mean);
    CHECK_MSG(fabs(var - 1.0) < 0.007, "normal variance %g", var);
    CHECK_MSG(fabs((double)tail / n - 0.05) < 0.0011, "normal tail fraction %g", (double)tail / n);
}
END_TEST

/* A pure function of (seed, counter): any order, same values; different
 * seeds give uncorrelated streams; every output bit is balanced. */
START_TEST(test_rand_purity)
{
    enum { N = 100000 };
    static uint64_t forward[N];
    for (int i = 0; i < N; i++)
        forward[i] = rt_rand_u64(3, (uint64_t)i);
    for (int i = N - 1; i >= 0; i--)
        CHECK(rt_rand_u64(3, (uint64_t)i) == forward[i]);
    CHECK(rt_rand_normal(3, 10) == rt_rand_normal(3, 10));
    CHECK(rt_rand_uniform(3, 10) == (float)(forward[10] >> 40) * 0x1p-24f);

    int64_t bits[64] = { 0 };
    double corr = 0;
    for (int i = 0; i < N; i++) {
        for (int b = 0; b < 64; b++)
            bits[b] += (forward[i] >> b) & 1;
        corr += (rt_rand_uniform(3, (uint64_t)i) - 0.5) * (rt_rand_uniform(4, (uint64_t)i) - 0.5);
    }
    /* each bit set in half the draws within 5 sigma (sigma = 158) */
    for (int b = 0; b < 64; b++)
        CHECK_MSG(llabs(bits[b] - N / 2) < 800, "bit %d set %lld times", b, (long long)bits[b]);
    /* E[(u-1/2)(v-1/2)] = 0 with sigma 1/12/sqrt(N) = 2.6e-4 */
    CHECK_MSG(fabs(corr / N) < 1.3e-3, "seeds 3 and 4 correlate: %g", corr / N);
    CHECK(rt_rand_u64(0, 0) != 0);
}
END_TEST

/* ------------------------------------------------------------------ init */

static void moments(int64_t n, const float *w, double *mean, double *var)
{
    double sum = 0, sum2 = 0;
    for (int64_t i = 0; i < n; i++)
        sum += w[i], sum2 += (double)w[i] * w[i];
    *mean = sum / n;
    *var = sum2 / n - *mean * *mean;
}

/* He normal over 1e6 weights: variance 2/fan_in within 1.5% (5 sigma of a
 * sample variance is 5 sqrt(2/n) = 0.7%), mean within 5 sigma of 0.
 * NORMAL_002: std 0.02 likewise. Glorot: every |w| <= sqrt(6/(in+out)),
 * the extremes within 1% of the bound, variance bound^2/3 within 1.5%. */
START_TEST(test_init)
{
    const int64_t n = 1000000;
    float *w = alloc_floats(n), *again = alloc_floats(n);
    double mean, var;

    rt_init_tensor(RT_INIT_HE_NORMAL, 256, 128, 1, n, w);
    moments(n, w, &mean, &var);
    CHECK_MSG(fabs(var / (2.0 / 256) - 1) < 0.015, "he variance %g", var);
    CHECK_MSG(fabs(mean) < 5 * sqrt(2.0 / 256 / n), "he mean %g", mean);

    rt_init_tensor(RT_INIT_NORMAL_002, 1, 1, 2, n, w);
    moments(n, w, &mean, &var);
    CHECK_MSG(fabs(sqrt(var) / 0.02 - 1) < 0.0075, "normal_002 std %g", sqrt(var));

    const int64_t fan_in = 300, fan_out = 100;
    double bound = sqrt(6.0 / (fan_in + fan_out));
    rt_init_tensor(RT_INIT_GLOROT_UNIFORM, fan_in, fan_out, 3, n, w);
    float lo = w[0], hi = w[0];
    for (int64_t i = 0; i < n; i++) {
        CHECK(fabs(w[i]) <= bound * (1 + 1e-7));
        lo = w[i] < lo ? w[i] : lo;
        hi = w[i] > hi ? w[i] : hi;
    }
    CHECK(lo < -0.99 * bound && hi > 0.99 * bound);
    moments(n, w, &mean, &var);
    CHECK_MSG(fabs(var / (bound * bound / 3) - 1) < 0.015, "glorot variance %g", var);

    rt_init_tensor(RT_INIT_ZEROS, 1, 1, 0, 17, w);
    for (int i = 0; i < 17; i++)
        CHECK(w[i] == 0.0f);
    rt_init_tensor(RT_INIT_ONES, 1, 1, 0, 17, w);
    for (int i = 0; i < 17; i++)
        CHECK(w[i] == 1.0f);

    /* deterministic given the seed, for any thread count; seeds differ */
    rt_threads_init(1);
    rt_init_tensor(RT_INIT_HE_NORMAL, 64, 64, 9, n, w);
    rt_threads_init(2);
    rt_init_tensor(RT_INIT_HE_NORMAL, 64, 64, 9, n, again);
    CHECK(memcmp(w, again, (size_t)n * sizeof *w) == 0);
    rt_init_tensor(RT_INIT_HE_NORMAL, 64, 64, 10, n, again);
    CHECK(memcmp(w, again, (size_t)n * sizeof *w) != 0);
    free(w), free(again);
}
END_TEST

static Suite *kernels_suite(void)
{
    Suite *s = suite_create("rt_kernels");
    TCase *tc = test_case("activations");
    tcase_add_test(tc, test_act_forward);
    tcase_add_test(tc, test_act_kinks_and_nan);
    tcase_add_test(tc, test_act_extremes);
    tcase_add_test(tc, test_act_accuracy_sweep);
    tcase_add_test(tc, test_act_backward);
    tcase_add_test(tc, test_act_threads_identical);
    suite_add_tcase(s, tc);

    tc = test_case("softmax");
    tcase_add_test(tc, test_softmax_forward);
    tcase_add_test(tc, test_softmax_backward);
    tcase_add_test(tc, test_softmax_xent_forward);
    tcase_add_test(tc, test_softmax_xent_threads_identical);
    tcase_add_test(tc, test_softmax_xent_backward);
    tcase_add_test_raise_signal(tc, test_softmax_xent_bad_label_aborts, SIGABRT);
    tcase_add_test(tc, test_count_correct);
    suite_add_tcase(s, tc);

    tc = test_case("losses");
    tcase_add_test(tc, test_mse);
    tcase_add_test(tc, test_bce);
    tcase_add_test(tc, test_sum_rows);
    tcase_add_test(tc, test_add);
    tcase_add_test(tc, test_lstm_cell_backward);
    tcase_add_test(tc, test_lstm_cell_forward);
    suite_add_tcase(s, tc);

    tc = test_case("copies");
    tcase_add_test(tc, test_copy_rows_concat);
    tcase_add_test(tc, test_copy_rows_strided);
    tcase_add_test(tc, test_copy_rows_int32);
    suite_add_tcase(s, tc);

    tc = test_case("dropout");
    tcase_add_test(tc, test_dropout_forward);
    tcase_add_test(tc, test_dropout_deterministic_and_threads);
    tcase_add_test(tc, test_dropout_threshold_edge);
    tcase_add_test(tc, test_dropout_backward);
    suite_add_tcase(s, tc);

    tc = test_case("rng");
    tcase_add_test(tc, test_rand_uniform);
    tcase_add_test(tc, test_rand_normal);
    tcase_add_test(tc, test_rand_purity);
    tcase_add_test(tc, test_init);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(kernels_suite)
