/* test_rt_norm.c — batch and layer normalisation.
 *
 * Batchnorm: training forward against a double reference (batch mean,
 * biased variance, running statistics moved by momentum with the unbiased
 * variance, as PyTorch's BatchNorm2d); evaluation uses the running
 * statistics and ignores the batch's; the backward pass against central
 * finite differences (step 1e-3) of the double reference of the training
 * forward, through the batch statistics; 1 vs 2 threads bitwise.
 *
 * Layernorm: forward and saved statistics against a double reference
 * (PyTorch's LayerNorm: biased variance, eps inside the square root) on
 * widths below, at and across the vector widths, with a large mean; the
 * backward pass against central finite differences of that reference;
 * every instruction-set path bitwise equal to the portable one; 1 vs 2
 * threads bitwise, with enough rows for several dgamma/dbeta chunks;
 * accumulate, NULL parameter gradients and NULL statistics.
 */
#include <string.h>

#include "netrt.h"
#include "testutil.h"



/* batch, c, hw */
static const int64_t shapes[][3] = { { 4, 3, 25 }, { 7, 5, 1 }, { 2, 2, 9 }, { 1, 3, 6 } };
#define NSHAPES (int)(sizeof shapes / sizeof shapes[0])

/* Training-mode forward in double; returns sum(y * r) for a loss with
 * fixed random weights r, and fills y, mean and biased var if given. */
static double ref_train(int64_t batch, int64_t c, int64_t hw, const double *x,
                        const double *gamma, const double *beta, double eps, const double *r,
                        double *y, double *mean_out, double *var_out)
{
    double loss = 0;
    for (int64_t ch = 0; ch < c; ch++) {
        double mean = 0, var = 0, n = (double)(batch * hw);
        for (int64_t b = 0; b < batch; b++)
            for (int64_t i = 0; i < hw; i++)
                mean += x[(b * c + ch) * hw + i];
        mean /= n;
        for (int64_t b = 0; b < batch; b++)
            for (int64_t i = 0; i < hw; i++) {
                double d = x[(b * c + ch) * hw + i] - mean;
                var += d * d;
            }
        var /= n;
        if (mean_out)
            mean_out[ch] = mean, var_out[ch] = var;
        for (int64_t b = 0; b < batch; b++)
            for (int64_t i = 0; i < hw; i++) {
                int64_t k = (b * c + ch) * hw + i;
                double v = gamma[ch] * (x[k] - mean) / sqrt(var + eps) + beta[ch];
                if (y)
                    y[k] = v;
                if (r)
                    loss += v * r[k];
            }
    }
    return loss;
}

START_TEST(test_train_forward_and_running_stats)
{
    const float eps = 1e-5f, momentum = 0.1f;
    for (int si = 0; si < NSHAPES; si++) {
        int64_t batch = shapes[si][0], c = shapes[si][1], hw = shapes[si][2], n = batch * c * hw;
        float *x = alloc_floats(n), *y = alloc_floats(n), *gamma = alloc_floats(c),
              *beta = alloc_floats(c), *rm = alloc_floats(c), *rv = alloc_floats(c),
              *sm = alloc_floats(c), *si_ = alloc_floats(c);
        test_fill(x, n, (uint32_t)si + 1);
        for (int64_t i = 0; i < n; i++)
            x[i] = 3.0f + 2.0f * x[i]; /* a mean far from 0 */
        test_fill(gamma, c, 2);
        test_fill(beta, c, 3);
        for (int64_t ch = 0; ch < c; ch++)
            rm[ch] = 0.5f, rv[ch] = 2.0f;
        rt_batchnorm_forward_train(batch, c, hw, x, gamma, beta, rm, rv, momentum, eps, sm, si_, y);
        double *xd = malloc((size_t)n * sizeof *xd), *yd = malloc((size_t)n * sizeof *yd);
        double gd[8], bd[8], mean[8], var[8];
        for (int64_t i = 0; i < n; i++)
            xd[i] = x[i];
        for (int64_t ch = 0; ch < c; ch++)
            gd[ch] = gamma[ch], bd[ch] = beta[ch];
        ref_train(batch, c, hw, xd, gd, bd, eps, NULL, yd, mean, var);
        for (int64_t i = 0; i < n; i++)
            CHECK_MSG(test_close(y[i], yd[i], 2e-6, 2e-6), "shape %d y[%lld] %g want %g", si,
                      (long long)i, (double)y[i], yd[i]);
        double cnt = (double)(batch * hw);
        for (int64_t ch = 0; ch < c; ch++) {
            CHECK(test_close(sm[ch], mean[ch], 1e-7, 1e-6));
            CHECK(test_close(si_[ch], 1 / sqrt(var[ch] + eps), 1e-7, 1e-6));
            CHECK(test_close(rm[ch], 0.9 * 0.5 + 0.1 * mean[ch], 1e-7, 1e-6));
            double unbiased = cnt > 1 ? var[ch] * cnt / (cnt - 1) : var[ch];
            CHECK_MSG(test_close(rv[ch], 0.9 * 2.0 + 0.1 * unbiased, 1e-7, 1e-6),
                      "running var %g want %g", (double)rv[ch], 0.9 * 2.0 + 0.1 * unbiased);
        }
        free(x), free(y), free(gamma), free(beta), free(rm), free(rv), free(sm), free(si_);
        free(xd), free(yd);
    }
}
END_TEST

START_TEST(test_eval_uses_running_stats)
{
    const int64_t batch = 3, c = 2, hw = 4, n = batch * c * hw;
    float x[24], y[24], y2[24];
    float gamma[2] = { 1.5f, -0.5f }, beta[2] = { 0.25f, 1.0f };
    float rm[2] = { 0.3f, -1.0f }, rv[2] = { 4.0f, 0.25f };
    test_fill(x, n, 5);
    rt_batchnorm_forward_eval(batch, c, hw, x, gamma, beta, rm, rv, 1e-5f, y);
    for (int64_t b = 0; b < batch; b++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t i = 0; i < hw; i++) {
                int64_t k = (b * c + ch) * hw + i;
                double want = gamma[ch] * (x[k] - rm[ch]) / sqrt(rv[ch] + 1e-5) + beta[ch];
                CHECK(test_close(y[k], want, 1e-6, 1e-6));
            }
    /* One sample alone gives the same outputs: no batch statistics. */
    rt_batchnorm_forward_eval(1, c, hw, x + c * hw, gamma, beta, rm, rv, 1e-5f, y2);
    CHECK(memcmp(y + c * hw, y2, (size_t)(c * hw) * sizeof(float)) == 0);
    /* Eval leaves the running statistics alone (they are const); training
     * normalises with the batch's and so differs. */
    float rm2[2] = { 0.3f, -1.0f }, rv2[2] = { 4.0f, 0.25f }, sm[2], si[2];
    rt_batchnorm_forward_train(batch, c, hw, x, gamma, beta, rm2, rv2, 0.1f, 1e-5f, sm, si, y2);
    CHECK(memcmp(y, y2, (size_t)n * sizeof(float)) != 0);
    CHECK(rm2[0] != 0.3f && rv2[0] != 4.0f);
}
END_TEST

START_TEST(test_backward_finite_differences)
{
    const float eps = 1e-5f;
    const double h = 1e-3;
    for (int si = 0; si < NSHAPES; si++) {
        int64_t batch = shapes[si][0], c = shapes[si][1], hw = shapes[si][2], n = batch * c * hw;
        if (batch * hw < 2)
            continue;
        float *x = alloc_floats(n), *dy = alloc_floats(n), *y = alloc_floats(n),
              *dx = alloc_floats(n), *gamma = alloc_floats(c), *beta = alloc_floats(c),
              *sm = alloc_floats(c), *sinv = alloc_floats(c), *dg = alloc_floats(c),
              *dbt = alloc_floats(c);
        test_fill(x, n, (uint32_t)si + 7);
        test_fill(dy, n, (uint32_t)si + 8);
        test_fill(gamma, c, 9);
        test_fill(beta, c, 10);
        rt_batchnorm_forward_train(batch, c, hw, x, gamma, beta, NULL, NULL, 0.1f, eps, sm, sinv, y);
        rt_batchnorm_backward(batch, c, hw, x, dy, gamma, sm, sinv, dx, dg, dbt, false);
        double *xd = malloc((size_t)n * sizeof *xd), *r = malloc((size_t)n * sizeof *r);
        double gd[8], bd[8];
        for (int64_t i = 0; i < n; i++)
            xd[i] = x[i], r[i] = dy[i];
        for (int64_t ch = 0; ch < c; ch++)
            gd[ch] = gamma[ch], bd[ch] = beta[ch];
        for (int64_t i = 0; i < n; i++) {
            double keep = xd[i];
            xd[i] = keep + h;
            double up = ref_train(batch, c, hw, xd, gd, bd, eps, r, NULL, NULL, NULL);
            xd[i] = keep - h;
            double down = ref_train(batch, c, hw, xd, gd, bd, eps, r, NULL, NULL, NULL);
            xd[i] = keep;
            double fd = (up - down) / (2 * h);
            CHECK_MSG(test_close(dx[i], fd, 2e-4, 2e-3), "shape %d dx[%lld] %g fd %g", si,
                      (long long)i, (double)dx[i], fd);
        }
        for (int64_t ch = 0; ch < c; ch++) {
            double keep = gd[ch];
            gd[ch] = keep + h;
            double up = ref_train(batch, c, hw, xd, gd, bd, eps, r, NULL, NULL, NULL);
            gd[ch] = keep - h;
            double down = ref_train(batch, c, hw, xd, gd, bd, eps, r, NULL, NULL, NULL);
            gd[ch] = keep;
            CHECK(test_close(dg[ch], (up - down) / (2 * h), 1e-4, 1e-4));
            keep = bd[ch];
            bd[ch] = keep + h;
            up = ref_train(batch, c, hw, xd, gd, bd, eps, r, NULL, NULL, NULL);
            bd[ch] = keep - h;
            down = ref_train(batch, c, hw, xd, gd, bd, eps, r, NULL, NULL, NULL);
            bd[ch] = keep;
            CHECK(test_close(dbt[ch], (up - down) / (2 * h), 1e-4, 1e-4));
        }
        /* accumulate adds to dgamma/dbeta */
        float dg2[8], db2[8];
        for (int64_t ch = 0; ch < c; ch++)
            dg2[ch] = 1.0f, db2[ch] = -1.0f;
        rt_batchnorm_backward(batch, c, hw, x, dy, gamma, sm, sinv, dx, dg2, db2, true);
        for (int64_t ch = 0; ch < c; ch++) {
            CHECK(test_close(dg2[ch], dg[ch] + 1.0, 1e-6, 1e-6));
            CHECK(test_close(db2[ch], dbt[ch] - 1.0, 1e-6, 1e-6));
        }
        free(x), free(dy), free(y), free(dx), free(gamma), free(beta), free(sm), free(sinv);
        free(dg), free(dbt), free(xd), free(r);
    }
}
END_TEST

START_TEST(test_threads_identical)
{
    const int64_t batch = 64, c = 16, hw = 144, n = batch * c * hw;
    float *x = alloc_floats(n), *dy = alloc_floats(n), *gamma = alloc_floats(c),
          *beta = alloc_floats(c);
    test_fill(x, n, 1);
    test_fill(dy, n, 2);
    test_fill(gamma, c, 3);
    test_fill(beta, c, 4);
    float *y[2], *dx[2], rm[2][16], rv[2][16], sm[2][16], si[2][16], dg[2][16], db[2][16];
    for (int t = 0; t < 2; t++) {
        y[t] = alloc_floats(n), dx[t] = alloc_floats(n);
        for (int ch = 0; ch < c; ch++)
            rm[t][ch] = 0, rv[t][ch] = 1;
        rt_threads_init(t + 1);
        rt_batchnorm_forward_train(batch, c, hw, x, gamma, beta, rm[t], rv[t], 0.1f, 1e-5f,
                                   sm[t], si[t], y[t]);
        rt_batchnorm_backward(batch, c, hw, x, dy, gamma, sm[t], si[t], dx[t], dg[t], db[t], false);
    }
    CHECK(memcmp(y[0], y[1], (size_t)n * sizeof(float)) == 0);
    CHECK(memcmp(dx[0], dx[1], (size_t)n * sizeof(float)) == 0);
    CHECK(memcmp(rm[0], rm[1], sizeof rm[0]) == 0 && memcmp(rv[0], rv[1], sizeof rv[0]) == 0);
    CHECK(memcmp(dg[0], dg[1], sizeof dg[0]) == 0 && memcmp(db[0], db[1], sizeof db[0]) == 0);
    for (int t = 0; t < 2; t++)
        free(y[t]), free(dx[t]);
    free(x), free(dy), free(gamma), free(beta);
    rt_threads_init(0);
}
END_TEST

/* ---------------------------------------------------------- layernorm */

/* rows, d: one value; under, at and across 8 and 16; the GPT's 128; wide */
static const int64_t ln_shapes[][2] = { { 3, 1 }, { 4, 5 }, { 3, 8 }, { 5, 16 }, { 4, 37 }, { 6, 128 },
                                        { 2, 1000 } };
#define LN_NSHAPES (int)(sizeof ln_shapes / sizeof ln_shapes[0])

/* Rows of x in double; returns sum(y * r) when r is given, and fills y,
 * mean and rstd if given. */
static double ref_layernorm(int64_t rows, int64_t d, const double *x, const double *gamma, const double *beta,
                            double eps, const double *r, double *y, double *mean_out, double *rstd_out)
{
    double loss = 0;
    for (int64_t i = 0; i < rows; i++) {
        const double *xr = x + i * d;
        double mean = 0, var = 0;
        for (int64_t j = 0; j < d; j++)
            mean += xr[j];
        mean /= (double)d;
        for (int64_t j = 0; j < d; j++)
            var += (xr[j] - mean) * (xr[j] - mean);
        var /= (double)d;
        double rstd = 1 / sqrt(var + eps);
        if (mean_out)
            mean_out[i] = mean, rstd_out[i] = rstd;
        for (int64_t j = 0; j < d; j++) {
            double v = (xr[j] - mean) * rstd * gamma[j] + beta[j];
            if (y)
                y[i * d + j] = v;
            if (r)
                loss += v * r[i * d + j];
        }
    }
    return loss;
}

static double *to_double(const float *x, int64_t n)
{
    double *d = malloc((size_t)(n > 0 ? n : 1) * sizeof *d);
    ck_assert_ptr_nonnull(d);
    for (int64_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

START_TEST(test_layernorm_forward)
{
    const float eps = 1e-5f;
    FOR_EACH_ISA(isa) {
        for (int si = 0; si < LN_NSHAPES; si++) {
            int64_t rows = ln_shapes[si][0], d = ln_shapes[si][1], n = rows * d;
            float *x = alloc_floats(n), *y = alloc_floats(n), *y2 = alloc_floats(n), *gamma = alloc_floats(d),
                  *beta = alloc_floats(d), *mean = alloc_floats(rows), *rstd = alloc_floats(rows);
            test_fill(x, n, (uint32_t)si + 1);
            for (int64_t i = 0; i < n; i++)
                x[i] = 100.0f + 3.0f * x[i] + (float)(i / d); /* a mean far from 0, a different one per row */
            test_fill(gamma, d, 2);
            test_fill(beta, d, 3);
            rt_layernorm_forward(rows, d, x, gamma, beta, eps, mean, rstd, y);
            double *xd = to_double(x, n), *gd = to_double(gamma, d), *bd = to_double(beta, d);
            double *yd = malloc((size_t)n * sizeof *yd), *md = malloc((size_t)rows * sizeof *md),
                   *rd = malloc((size_t)rows * sizeof *rd);
            ref_layernorm(rows, d, xd, gd, bd, eps, NULL, yd, md, rd);
            for (int64_t i = 0; i < n; i++)
                CHECK_MSG(test_close(y[i], yd[i], 1e-5, 1e-5), "%s rows %lld d %lld: y[%lld] %.9g want %.9g",
                          rt_isa_name((rt_isa)isa), (long long)rows, (long long)d, (long long)i, (double)y[i], yd[i]);
            for (int64_t r = 0; r < rows; r++) {
                CHECK_MSG(test_close(mean[r], md[r], 0, 1e-7), "mean %g want %g", (double)mean[r], md[r]);
                CHECK_MSG(test_close(rstd[r], rd[r], 0, 2e-6), "d %lld rstd %g want %g", (long long)d,
                          (double)rstd[r], rd[r]);
            }
            /* inference passes no statistics and gets the same y */
            rt_layernorm_forward(rows, d, x, gamma, beta, eps, NULL, NULL, y2);
            CHECK(memcmp(y, y2, (size_t)n * sizeof *y) == 0);
            free(x), free(y), free(y2), free(gamma), free(beta), free(mean), free(rstd);
            free(xd), free(gd), free(bd), free(yd), free(md), free(rd);
        }
    }
}
END_TEST

/* One value per row has no spread: y = beta, rstd = 1/sqrt(eps); eps is
 * what the caller says. */
START_TEST(test_layernorm_constant_rows)
{
    FOR_EACH_ISA(isa) {
        float x[40], y[40], gamma[20], beta[20], mean[2], rstd[2];
        for (int i = 0; i < 40; i++)
            x[i] = i < 20 ? 2.5f : -7.0f;
        test_fill(gamma, 20, 4);
        test_fill(beta, 20, 5);
        rt_layernorm_forward(2, 20, x, gamma, beta, 0.25f, mean, rstd, y);
        for (int i = 0; i < 40; i++)
            CHECK_MSG(y[i] == beta[i % 20], "%s y[%d] %g want %g", rt_isa_name((rt_isa)isa), i, (double)y[i],
                      (double)beta[i % 20]);
        CHECK(mean[0] == 2.5f && mean[1] == -7.0f && rstd[0] == 2.0f && rstd[1] == 2.0f);
    }
}
END_TEST

START_TEST(test_layernorm_backward_finite_differences)
{
    const float eps = 1e-3f;
    const double h = 1e-3;
    FOR_EACH_ISA(isa) {
        for (int si = 0; si < LN_NSHAPES; si++) {
            int64_t rows = ln_shapes[si][0], d = ln_shapes[si][1], n = rows * d;
            if (d < 2 || n > 1000)
                continue;
            float *x = alloc_floats(n), *dy = alloc_floats(n), *y = alloc_floats(n), *dx = alloc_floats(n),
                  *gamma = alloc_floats(d), *beta = alloc_floats(d), *mean = alloc_floats(rows),
                  *rstd = alloc_floats(rows), *dg = alloc_floats(d), *db = alloc_floats(d);
            test_fill(x, n, (uint32_t)si + 7);
            test_fill(dy, n, (uint32_t)si + 8);
            test_fill(gamma, d, 9);
            test_fill(beta, d, 10);
            rt_layernorm_forward(rows, d, x, gamma, beta, eps, mean, rstd, y);
            rt_layernorm_backward(rows, d, x, dy, gamma, mean, rstd, dx, dg, db, false);
            double *xd = to_double(x, n), *r = to_double(dy, n), *gd = to_double(gamma, d), *bd = to_double(beta, d);
            for (int64_t i = 0; i < n; i++) {
                double keep = xd[i];
                xd[i] = keep + h;
                double up = ref_layernorm(rows, d, xd, gd, bd, eps, r, NULL, NULL, NULL);
                xd[i] = keep - h;
                double down = ref_layernorm(rows, d, xd, gd, bd, eps, r, NULL, NULL, NULL);
                xd[i] = keep;
                double fd = (up - down) / (2 * h);
                CHECK_MSG(test_close(dx[i], fd, 2e-4, 2e-3), "%s rows %lld d %lld: dx[%lld] %g fd %g",
                          rt_isa_name((rt_isa)isa), (long long)rows, (long long)d, (long long)i, (double)dx[i], fd);
            }
            for (int64_t j = 0; j < d; j++) {
                double keep = gd[j];
                gd[j] = keep + h;
                double up = ref_layernorm(rows, d, xd, gd, bd, eps, r, NULL, NULL, NULL);
                gd[j] = keep - h;
                double down = ref_layernorm(rows, d, xd, gd, bd, eps, r, NULL, NULL, NULL);
                gd[j] = keep;
                CHECK_MSG(test_close(dg[j], (up - down) / (2 * h), 1e-4, 1e-4), "dgamma[%lld] %g fd %g",
                          (long long)j, (double)dg[j], (up - down) / (2 * h));
                keep = bd[j];
                bd[j] = keep + h;
                up = ref_layernorm(rows, d, xd, gd, bd, eps, r, NULL, NULL, NULL);
                bd[j] = keep - h;
                down = ref_layernorm(rows, d, xd, gd, bd, eps, r, NULL, NULL, NULL);
                bd[j] = keep;
                CHECK(test_close(db[j], (up - down) / (2 * h), 1e-4, 1e-4));
            }
            /* accumulate adds; NULL parameter gradients leave dx alone */
            float *dg2 = alloc_floats(d), *db2 = alloc_floats(d), *dx2 = alloc_floats(n);
            for (int64_t j = 0; j < d; j++)
                dg2[j] = 1.0f, db2[j] = -1.0f;
            rt_layernorm_backward(rows, d, x, dy, gamma, mean, rstd, dx2, dg2, db2, true);
            for (int64_t j = 0; j < d; j++) {
                CHECK(dg2[j] == dg[j] + 1.0f);
                CHECK(db2[j] == db[j] - 1.0f);
            }
            rt_layernorm_backward(rows, d, x, dy, gamma, mean, rstd, dx2, NULL, NULL, false);
            CHECK(memcmp(dx, dx2, (size_t)n * sizeof *dx) == 0);
            free(x), free(dy), free(y), free(dx), free(gamma), free(beta), free(mean), free(rstd), free(dg), free(db);
            free(xd), free(r), free(gd), free(bd), free(dg2), free(db2), free(dx2);
        }
    }
}
END_TEST

/* Every result of the AVX2 and AVX-512 paths has the portable path's bits,
 * and so has a run on 1 thread against 2; 700 rows of 96 make several
 * dgamma/dbeta chunks. */
START_TEST(test_layernorm_paths_and_threads_identical)
{
    static const int64_t cases[][2] = { { 700, 96 }, { 33, 37 }, { 9, 300 }, { 1, 16 } };
    for (int si = 0; si < 4; si++) {
        int64_t rows = cases[si][0], d = cases[si][1], n = rows * d;
        float *x = alloc_floats(n), *dy = alloc_floats(n), *gamma = alloc_floats(d), *beta = alloc_floats(d);
        test_fill(x, n, 11);
        test_fill(dy, n, 12);
        test_fill(gamma, d, 13);
        test_fill(beta, d, 14);
        float *want[5] = { NULL }, *got[5];
        int64_t sizes[5] = { n, 2 * rows, n, d, d };
        for (int run = 0; run < 2 * 3; run++) {
            int isa = run / 2, threads = run % 2 + 1;
            if (isa > (int)rt_cpu_best_isa())
                break;
            ck_assert(rt_isa_set((rt_isa)isa));
            rt_threads_init(threads);
            for (int k = 0; k < 5; k++)
                got[k] = alloc_floats(sizes[k]);
            rt_layernorm_forward(rows, d, x, gamma, beta, 1e-5f, got[1], got[1] + rows, got[0]);
            rt_layernorm_backward(rows, d, x, dy, gamma, got[1], got[1] + rows, got[2], got[3], got[4], false);
            for (int k = 0; k < 5; k++) {
                if (!want[k]) {
                    want[k] = got[k];
                    continue;
                }
                CHECK_MSG(memcmp(want[k], got[k], (size_t)sizes[k] * sizeof(float)) == 0,
                          "rows %lld d %lld: result %d on %s with %d threads differs from portable on 1",
                          (long long)rows, (long long)d, k, rt_isa_name((rt_isa)isa), threads);
                free(got[k]);
            }
        }
        for (int k = 0; k < 5; k++)
            free(want[k]);
        free(x), free(dy), free(gamma), free(beta);
    }
    rt_isa_set(rt_cpu_best_isa());
    rt_threads_init(0);
}
END_TEST

static Suite *norm_suite(void)
{
    Suite *s = suite_create("rt_norm");
    TCase *tc = test_case("batchnorm");
    tcase_add_test(tc, test_train_forward_and_running_stats);
    tcase_add_test(tc, test_eval_uses_running_stats);
    tcase_add_test(tc, test_backward_finite_differences);
    tcase_add_test(tc, test_threads_identical);
    suite_add_tcase(s, tc);
    tc = test_case("layernorm");
    tcase_add_test(tc, test_layernorm_forward);
    tcase_add_test(tc, test_layernorm_constant_rows);
    tcase_add_test(tc, test_layernorm_backward_finite_differences);
    tcase_add_test(tc, test_layernorm_paths_and_threads_identical);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(norm_suite)
